// Command testapp is the demo's application and the e2e suites' test
// application (e2e/cluster/build makes it the image weft/testapp:e2e).
//
//	testapp serve [ADDR]   HTTP server (default :8080, or $PORT) answering
//	                       "hello from <pod name>" on every path (then
//	                       "client: <id>" when weft-client-id is set), /healthz "ok".
//	                       With $ANSWER_STATUS (say 500) those answers carry that
//	                       status instead of 200; /healthz stays "ok".
//	testapp get URL        client: GET URL with retries, print the body, exit
//	                       non-zero on failure (for pod-to-pod checks).
//	testapp load URL COUNT [RATE]
//	                       client: COUNT GETs paced at RATE/s, no retries; prints
//	                       "ok N", "failed N", "from <pod> N" per answering pod.
//	testapp stop-load      end the load running as this container's first process.
//	testapp smi            the SMI conformance suite's app (smi.go), on $PORT (9091).
//	testapp request METHOD URL [BODY [COUNT]]
//	                       client: COUNT requests (1) in a row, no retries; prints the
//	                       last "status N" and body.
//	testapp sleep          idle forever (handy for `kubectl exec`).
//	testapp web [ADDR]     the demo's front end (default :8080): each request
//	                       calls $API_URL, $GRPC_ADDR and $TCP_ADDR and reports.
//	testapp grpc [ADDR]    the demo's gRPC service: gRPC health (default :9090).
//	testapp tcp [ADDR]     the demo's TCP service: line echo (default :7000).
package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func podName() string {
	if n := os.Getenv("POD_NAME"); n != "" {
		return n
	}
	h, _ := os.Hostname()
	return h
}

func serve(addr string) {
	name := podName()
	// A release that is up and Ready but broken: the Flagger suite's canary
	// that its success-rate check must roll back.
	status := http.StatusOK
	if s := os.Getenv("ANSWER_STATUS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 200 || n > 599 {
			fmt.Fprintf(os.Stderr, "testapp: ANSWER_STATUS=%q is not an HTTP status\n", s)
			os.Exit(2)
		}
		status = n
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	// /status/503 answers 503: failures on demand, for the metrics suite.
	mux.HandleFunc("/status/", func(w http.ResponseWriter, r *http.Request) {
		code, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/status/"))
		if err != nil || code < 200 || code > 599 {
			http.Error(w, "usage: /status/<200-599>", http.StatusBadRequest)
			return
		}
		w.WriteHeader(code)
		fmt.Fprintf(w, "status %d from %s\n", code, name)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(status)
		fmt.Fprintf(w, "hello from %s\n", name)
		// The caller's verified identity, as the server's proxy passes it on.
		if id := r.Header.Get("weft-client-id"); id != "" {
			fmt.Fprintf(w, "client: %s\n", id)
		}
	})
	fmt.Fprintf(os.Stderr, "testapp: %s serving on %s\n", name, addr)
	if err := http.ListenAndServe(addr, mux); err != nil {
		fmt.Fprintln(os.Stderr, "testapp:", err)
		os.Exit(1)
	}
}

func get(url string) {
	c := &http.Client{Timeout: 5 * time.Second}
	var last error
	for i := 0; i < 10; i++ {
		resp, err := c.Get(url)
		if err == nil {
			b, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if rerr == nil && resp.StatusCode == 200 {
				os.Stdout.Write(b)
				return
			}
			// The body says why (a mesh denial names its reason there).
			last = fmt.Errorf("status %d, read error %v: %s", resp.StatusCode, rerr, strings.TrimSpace(string(b)))
		} else {
			last = err
		}
		time.Sleep(time.Second)
	}
	fmt.Fprintf(os.Stderr, "testapp get %s: %v\n", url, last)
	os.Exit(1)
}

func main() {
	args := os.Args[1:]
	if len(args) == 0 {
		args = []string{"serve"}
	}
	switch args[0] {
	case "serve":
		addr := ":8080"
		if p := os.Getenv("PORT"); p != "" {
			addr = ":" + p
		}
		if len(args) > 1 {
			addr = args[1]
		}
		serve(addr)
	case "get":
		if len(args) != 2 {
			fmt.Fprintln(os.Stderr, "usage: testapp get URL")
			os.Exit(2)
		}
		get(args[1])
	case "load":
		loadArgs(args)
	case "stop-load":
		// The load runs as the container's first process.
		if err := syscall.Kill(1, syscall.SIGUSR1); err != nil {
			fmt.Fprintln(os.Stderr, "testapp stop-load:", err)
			os.Exit(1)
		}
	case "web":
		serveWeb(argOr(args, ":8080"))
	case "grpc":
		serveGRPC(argOr(args, ":9090"))
	case "tcp":
		serveTCP(argOr(args, ":7000"))
	case "smi":
		port := "9091"
		if p := os.Getenv("PORT"); p != "" {
			port = p
		}
		serveSMI(":" + port)
	case "request":
		if len(args) < 3 || len(args) > 5 {
			fmt.Fprintln(os.Stderr, "usage: testapp request METHOD URL [BODY [COUNT]]")
			os.Exit(2)
		}
		count := 1
		if len(args) == 5 {
			n, err := strconv.Atoi(args[4])
			if err != nil || n < 1 {
				fmt.Fprintln(os.Stderr, "testapp request: COUNT must be a positive integer")
				os.Exit(2)
			}
			count = n
		}
		request(args[1], args[2], argOr(args[2:], ""), count)
	case "sleep":
		// Wait for a signal (a bare `select {}` would be reported as a deadlock).
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
		<-sig
	default:
		fmt.Fprintln(os.Stderr, "usage: testapp serve [ADDR] | get URL | load URL COUNT [RATE] | stop-load | smi | request METHOD URL [BODY [COUNT]] | sleep | web [ADDR] | grpc [ADDR] | tcp [ADDR]")
		os.Exit(2)
	}
}

func argOr(args []string, def string) string {
	if len(args) > 1 {
		return args[1]
	}
	return def
}
