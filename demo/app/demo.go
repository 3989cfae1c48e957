package main

// The demo application's services (see demo/README.md): a web front end that
// calls an HTTP API, a gRPC service and a TCP service, and reports what each
// call returned, refusals and their reasons included.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// serveGRPC runs the standard gRPC health service, reporting SERVING.
func serveGRPC(addr string) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testapp grpc:", err)
		os.Exit(1)
	}
	s := grpc.NewServer()
	healthpb.RegisterHealthServer(s, health.NewServer())
	fmt.Fprintf(os.Stderr, "testapp: %s serving gRPC health on %s\n", podName(), addr)
	if err := s.Serve(l); err != nil {
		fmt.Fprintln(os.Stderr, "testapp grpc:", err)
		os.Exit(1)
	}
}

// serveTCP answers each line with "echo from <pod>: <line>".
func serveTCP(addr string) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testapp tcp:", err)
		os.Exit(1)
	}
	name := podName()
	fmt.Fprintf(os.Stderr, "testapp: %s serving TCP echo on %s\n", name, addr)
	for {
		c, err := l.Accept()
		if err != nil {
			continue
		}
		go func(c net.Conn) {
			defer c.Close()
			r := bufio.NewScanner(c)
			for r.Scan() {
				fmt.Fprintf(c, "echo from %s: %s\n", name, r.Text())
			}
		}(c)
	}
}

// serveWeb answers every request with a report of one call to each backend.
func serveWeb(addr string) {
	api := env("API_URL", "http://api")
	grpcAddr := env("GRPC_ADDR", "grpc:9090")
	tcpAddr := env("TCP_ADDR", "tcp:7000")
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "web %s calling its backends as ServiceAccount web:\n", podName())
		for _, path := range []string{"/items", "/admin"} {
			fmt.Fprintf(w, "  HTTP GET %s%s -> %s\n", api, path, httpCall(api+path))
		}
		split := map[string]int{}
		for i := 0; i < 20; i++ {
			split[version(httpCall(api+"/items"))]++
		}
		fmt.Fprintf(w, "  20 x GET %s/items went to: %v\n", api, split)
		fmt.Fprintf(w, "  gRPC health %s -> %s\n", grpcAddr, grpcCall(grpcAddr))
		fmt.Fprintf(w, "  TCP %s -> %s\n", tcpAddr, tcpCall(tcpAddr))
	})
	fmt.Fprintf(os.Stderr, "testapp: %s serving the demo front end on %s\n", podName(), addr)
	if err := http.ListenAndServe(addr, mux); err != nil {
		fmt.Fprintln(os.Stderr, "testapp web:", err)
		os.Exit(1)
	}
}

func httpCall(url string) string {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return "error: " + err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	out := fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(b)))
	if reason := resp.Header.Get("weft-deny-reason"); reason != "" {
		out += " [weft-deny-reason: " + reason + "]"
	}
	return out
}

// version is the answering pod's Deployment ("api-v1" from "hello from
// api-v1-7c9f-x2x").
func version(answer string) string {
	for _, w := range strings.Fields(answer) {
		if strings.HasPrefix(w, "api-") {
			parts := strings.Split(w, "-")
			if len(parts) >= 2 {
				return parts[0] + "-" + parts[1]
			}
		}
	}
	return answer
}

func grpcCall(addr string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return "error: " + err.Error()
	}
	defer conn.Close()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		return "error: " + err.Error()
	}
	return resp.GetStatus().String()
}

func tcpCall(addr string) string {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return "error: " + err.Error()
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintln(c, "ping")
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "error: " + err.Error() + " (connection closed: refused by policy?)"
	}
	return strings.TrimSpace(line)
}
