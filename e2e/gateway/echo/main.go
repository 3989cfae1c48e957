// Command echo is weft's stand-in for the Gateway API conformance suite's
// "echo-advanced" image (registry.k8s.io/gateway-api/echo-advanced, which
// upstream re-tags from Istio's test app). It is written for weft and holds
// only what the suite's mesh tests (MESH-HTTP, MESH-GRPC) use:
//
//	server  the pod's entrypoint: HTTP (and HTTPS) on each --port, gRPC over
//	        h2c on each --grpc, a TCP echo on each --tcp
//	client  what the suite execs inside the pod ("client URL [flags]"): sends
//	        --count requests and prints one block per request with the fields
//	        the suite parses (StatusCode=, Hostname=, RequestHeader=,
//	        ResponseHeader=; see format.go)
//
// One binary serves both: it looks at the name it was run as (the image has
// /usr/local/bin/server and a client symlink to it), or at its first argument
// ("echo server ...", "echo client ...").
package main

import (
	"fmt"
	"os"
	"path/filepath"
)

func main() {
	os.Exit(run(os.Args))
}

func run(argv []string) int {
	name := filepath.Base(argv[0])
	args := argv[1:]
	if name != "server" && name != "client" {
		if len(args) == 0 {
			fmt.Fprintln(os.Stderr, usage)
			return 2
		}
		name, args = args[0], args[1:]
	}
	switch name {
	case "server":
		return runServer(args, os.Stdout, os.Stderr)
	case "client":
		return runClient(args, os.Stdout, os.Stderr)
	case "-h", "--help", "help":
		fmt.Println(usage)
		return 0
	default:
		fmt.Fprintf(os.Stderr, "echo: unknown command %q\n%s\n", name, usage)
		return 2
	}
}

const usage = `usage: server [--port=N]... [--grpc=N]... [--tcp=N]... [--tls=N]... [--crt=FILE --key=FILE] [--version=V]
       client URL [--count=N] [--timeout=5s] [--method=GET] [-H K:V]... [--http2] [--follow-redirects] [--insecure-skip-verify]
  (or: echo server ..., echo client ...; run either with --help for details)`
