package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// load sends `count` GETs to url, one after another, paced at `rate` per
// second (0: as fast as the answers come), and reports what came back: the
// tests read the summary from the pod's log. It never retries: a failed
// request is what the resilience tests count. Each answer's first line
// ("hello from <pod>") is tallied, so split tests see where requests went.
// SIGUSR1 (`testapp stop-load` in the same container) ends it early, with
// the summary of what was sent: tests whose steps take an unknown time.
func load(url string, count int, rate float64) {
	c := &http.Client{Timeout: 5 * time.Second}
	var gap time.Duration
	if rate > 0 {
		gap = time.Duration(float64(time.Second) / rate)
	}
	byAnswer := map[string]int{}
	failures := map[string]int{}
	ok := 0
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGUSR1)
	start := time.Now()
	sent := 0
send:
	for ; sent < count; sent++ {
		select {
		case <-stop:
			break send
		default:
		}
		if gap > 0 {
			// Paced from the start, so a slow answer does not shift the rest.
			if d := time.Until(start.Add(time.Duration(sent) * gap)); d > 0 {
				time.Sleep(d)
			}
		}
		resp, err := c.Get(url)
		if err != nil {
			failures[shorten(err.Error())]++
			continue
		}
		b, rerr := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch {
		case rerr != nil:
			failures["body: "+shorten(rerr.Error())]++
		case resp.StatusCode != 200:
			failures[fmt.Sprintf("status %d: %s", resp.StatusCode, shorten(string(b)))]++
		default:
			ok++
			first, _, _ := strings.Cut(string(b), "\n")
			byAnswer[strings.TrimPrefix(first, "hello from ")]++
		}
	}
	fmt.Printf("load %s: %d requests in %v\n", url, sent, time.Since(start).Round(time.Millisecond))
	fmt.Printf("ok %d\n", ok)
	fmt.Printf("failed %d\n", sent-ok)
	for _, k := range sortedKeys(byAnswer) {
		fmt.Printf("from %s %d\n", k, byAnswer[k])
	}
	for _, k := range sortedKeys(failures) {
		fmt.Printf("error %d× %s\n", failures[k], k)
	}
}

// requestID is what makes each denial's body unique; tallies drop it.
var requestID = regexp.MustCompile(` ?\(request id [0-9a-f]+\)`)

func shorten(s string) string {
	s = requestID.ReplaceAllString(strings.Join(strings.Fields(s), " "), "")
	if len(s) > 160 {
		return s[:160] + "…"
	}
	return s
}

func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func loadArgs(args []string) {
	if len(args) < 3 || len(args) > 4 {
		fmt.Fprintln(os.Stderr, "usage: testapp load URL COUNT [RATE]")
		os.Exit(2)
	}
	count, err := strconv.Atoi(args[2])
	if err != nil || count <= 0 {
		fmt.Fprintln(os.Stderr, "testapp load: COUNT must be a positive integer")
		os.Exit(2)
	}
	rate := 0.0
	if len(args) == 4 {
		if rate, err = strconv.ParseFloat(args[3], 64); err != nil || rate < 0 {
			fmt.Fprintln(os.Stderr, "testapp load: RATE must be a number of requests per second")
			os.Exit(2)
		}
	}
	load(args[1], count, rate)
}
