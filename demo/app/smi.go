package main

// The app of the community SMI conformance suite, re-implemented from what
// its hooks rely on (its image cannot be pulled here): each instance, named
// by $SERVICE_NAME, records who called it and how the calls it was asked
// to make ended, and reports the record as JSON.
//
//	POST /call     body {"url", "method", "headers", "body"}: make that
//	               request, adding header ServiceName: <own name>; an
//	               answer in [200, 400) is recorded as succeeded, any other
//	               as failed; no answer at all (a transport error) records
//	               nothing and answers 500.
//	/echo          answers with the request it received.
//	GET /metrics   the record; DELETE /metrics empties it.
//
// /call and /echo record the caller's ServiceName header ("Unidentified"
// when absent) in ReqReceived; /metrics is not recorded.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"os"
	"sync"
)

type smiCall struct {
	URL     string
	Method  string
	Headers map[string]string
}

type smiRecord struct {
	ReqReceived   []string
	RespSucceeded []smiCall
	RespFailed    []smiCall
}

type smiApp struct {
	name   string
	client *http.Client
	mu     sync.Mutex
	rec    smiRecord
}

func serveSMI(addr string) {
	name := os.Getenv("SERVICE_NAME")
	if name == "" {
		name = "Default"
	}
	// No timeout and connection reuse, like the suite's app: a split must
	// be applied per request, not per connection.
	app := &smiApp{name: name, client: &http.Client{}}
	app.reset()
	mux := http.NewServeMux()
	mux.HandleFunc("/call", app.received(app.call))
	mux.HandleFunc("/echo", app.received(echo))
	mux.HandleFunc("/metrics", app.metrics)
	fmt.Fprintf(os.Stderr, "testapp: SMI conformance app %s serving on %s\n", name, addr)
	if err := http.ListenAndServe(addr, mux); err != nil {
		fmt.Fprintln(os.Stderr, "testapp:", err)
		os.Exit(1)
	}
}

func (a *smiApp) reset() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.rec = smiRecord{ReqReceived: []string{}, RespSucceeded: []smiCall{}, RespFailed: []smiCall{}}
}

func (a *smiApp) received(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		from := r.Header.Get("ServiceName")
		if from == "" {
			from = "Unidentified"
		}
		a.mu.Lock()
		a.rec.ReqReceived = append(a.rec.ReqReceived, from)
		a.mu.Unlock()
		next(w, r)
	}
}

func echo(w http.ResponseWriter, r *http.Request) {
	dump, err := httputil.DumpRequest(r, true)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Write(dump)
}

func (a *smiApp) call(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		return
	}
	body, _ := io.ReadAll(r.Body)
	if len(body) == 0 {
		return
	}
	var req struct {
		URL     string            `json:"url"`
		Method  string            `json:"method"`
		Headers map[string]string `json:"headers"`
		Body    string            `json:"body"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		http.Error(w, "body: "+err.Error(), http.StatusBadRequest)
		return
	}
	var out io.Reader
	switch req.Method {
	case http.MethodPost, http.MethodPatch, http.MethodPut:
		out = bytes.NewBufferString(req.Body)
	}
	outReq, err := http.NewRequest(req.Method, req.URL, out)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	for k, v := range req.Headers {
		outReq.Header.Set(k, v)
	}
	outReq.Header.Set("ServiceName", a.name)
	resp, err := a.client.Do(outReq)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	defer resp.Body.Close()
	made := smiCall{URL: req.URL, Method: req.Method, Headers: req.Headers}
	a.mu.Lock()
	if resp.StatusCode >= 200 && resp.StatusCode < 400 {
		a.rec.RespSucceeded = append(a.rec.RespSucceeded, made)
	} else {
		a.rec.RespFailed = append(a.rec.RespFailed, made)
	}
	a.mu.Unlock()
	io.Copy(w, resp.Body)
}

func (a *smiApp) metrics(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		a.mu.Lock()
		defer a.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(a.rec)
	case http.MethodDelete:
		a.reset()
	default:
		w.WriteHeader(http.StatusBadRequest)
	}
}

// request makes a request `count` times in a row, never retried, stopping
// at the first that gets no answer, and prints the last status line and
// body: the e2e suites' harness, run inside a pod with kubectl exec.
func request(method, url, body string, count int) {
	var status int
	var answer []byte
	for i := 0; i < count; i++ {
		req, err := http.NewRequest(method, url, bytes.NewBufferString(body))
		if err != nil {
			fmt.Fprintln(os.Stderr, "testapp request:", err)
			os.Exit(2)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			fmt.Fprintf(os.Stderr, "testapp request %d of %d: %v\n", i+1, count, err)
			os.Exit(1)
		}
		answer, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		status = resp.StatusCode
	}
	fmt.Printf("status %d\n%s", status, answer)
}
