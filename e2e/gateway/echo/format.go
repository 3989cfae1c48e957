package main

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// The text contract with the conformance suite
// (sigs.k8s.io/gateway-api/conformance/utils/echo, parse.go ParseResponse).
// The suite finds each field with an unanchored regexp, first match wins:
//
//	StatusCode=(.*)       status the client saw (gRPC OK is printed as 200)
//	Hostname=(.*)         the answering pod's hostname (= pod name)
//	RequestHeader=(.*)    one line per request header value the server got, K:V
//	ResponseHeader=(.*)   one line per response header value the client got, K:V
//
// The client prints one block per request, in request order, each ending in
// a blank line; with --count=N the suite splits the output on "\n\n" and
// needs exactly N blocks that carry StatusCode= or Hostname=. So a block has
// no empty line inside, and the client's own StatusCode= line comes before
// the body (which a redirect or an error page may fill with anything).
//
// Client block for request i:
//
//	[i] Url=http://echo/path
//	[i] Header=K:V              request headers given with -H (sorted)
//	[i] StatusCode=200
//	[i] ResponseHeader=K:V      (sorted by name, one line per value)
//	[i body] <line>             each non-empty line of the response body
//
// Server body (HTTP; gRPC answers carry the same facts in its EchoResponse,
// which the client prints in the same form):
//
//	ServiceVersion=v1
//	ServicePort=8080
//	Host=<authority>
//	URL=<request URI>
//	Method=GET
//	Proto=HTTP/1.1
//	IP=<peer address>
//	RequestHeader=K:V           (sorted by name, values in the order received)
//	Hostname=<os.Hostname()>

// serverFacts is what a server reports about one request it answered.
type serverFacts struct {
	Version, Port, Host, URL, Method, Proto, IP, Hostname string
	Headers                                               http.Header
}

func (f serverFacts) body() string {
	var b strings.Builder
	fmt.Fprintf(&b, "ServiceVersion=%s\n", f.Version)
	fmt.Fprintf(&b, "ServicePort=%s\n", f.Port)
	fmt.Fprintf(&b, "Host=%s\n", f.Host)
	fmt.Fprintf(&b, "URL=%s\n", f.URL)
	fmt.Fprintf(&b, "Method=%s\n", f.Method)
	fmt.Fprintf(&b, "Proto=%s\n", f.Proto)
	fmt.Fprintf(&b, "IP=%s\n", f.IP)
	writeHeaderLines(&b, "", "RequestHeader", f.Headers)
	fmt.Fprintf(&b, "Hostname=%s\n", f.Hostname)
	return b.String()
}

// writeHeaderLines writes "<prefix>FIELD=K:V\n" for every value of h, names
// sorted, values in their order. Line breaks inside a value would end the
// line (and could forge a field), so they are replaced by spaces.
func writeHeaderLines(b *strings.Builder, prefix, field string, h http.Header) {
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range h {
			if !yield(k) {
				return
			}
		}
	}) {
		for _, v := range h[k] {
			fmt.Fprintf(b, "%s%s=%s:%s\n", prefix, field, k, oneLine(v))
		}
	}
}

func oneLine(s string) string { return strings.NewReplacer("\r", " ", "\n", " ").Replace(s) }

// result is what the client learned from one request.
type result struct {
	URL             string
	RequestHeaders  http.Header // as given with -H
	StatusCode      int
	ResponseHeaders http.Header
	Body            string
}

// block formats one request's output, ending in a blank line.
func (r result) block(i int) string {
	var b strings.Builder
	p := fmt.Sprintf("[%d] ", i)
	fmt.Fprintf(&b, "%sUrl=%s\n", p, r.URL)
	writeHeaderLines(&b, p, "Header", r.RequestHeaders)
	fmt.Fprintf(&b, "%sStatusCode=%d\n", p, r.StatusCode)
	writeHeaderLines(&b, p, "ResponseHeader", r.ResponseHeaders)
	for l := range strings.SplitSeq(r.Body, "\n") {
		l = strings.TrimRight(l, "\r")
		if strings.TrimSpace(l) != "" {
			fmt.Fprintf(&b, "[%d body] %s\n", i, l)
		}
	}
	b.WriteString("\n")
	return b.String()
}
