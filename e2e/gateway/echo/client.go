package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	pb "sigs.k8s.io/gateway-api/conformance/echo-basic/grpcechoserver"
)

const clientHelp = `usage: client URL [flags]
  URL                      http://, https://, grpc://, grpcs:// or tcp://HOST[:PORT][/PATH]
  --count=N, -c N          send N requests (default 1), at most 20 at a time
  --timeout=D              deadline for the whole batch (default 5s)
  --method=M, -X M         HTTP method (default GET)
  --header=K:V, -H K:V     request header (repeatable); Host:NAME sets the
                           authority (gRPC metadata for grpc://)
  --http2                  http:// over HTTP/2 with prior knowledge (h2c)
  --follow-redirects       follow HTTP redirects (default: report the 3xx)
  --insecure-skip-verify, -k   do not verify TLS certificates
Prints one block per request, in order, each followed by a blank line
(format.go). Exits 1 if any request failed (no answer, or a gRPC error);
an HTTP error status is an answer, printed as StatusCode=.`

var clientFlags = []flagSpec{
	{names: []string{"count", "c"}}, {names: []string{"timeout"}}, {names: []string{"method", "X"}},
	{names: []string{"header", "H"}},
	{names: []string{"http2"}, kind: boolFlag}, {names: []string{"follow-redirects"}, kind: boolFlag},
	{names: []string{"insecure-skip-verify", "k"}, kind: boolFlag},
	{names: []string{"help", "h"}, kind: boolFlag},
}

// maxConcurrency bounds the requests in flight, as the upstream client does.
const maxConcurrency = 20

type clientConfig struct {
	URL             *url.URL
	Count           int
	Timeout         time.Duration
	Method          string
	Headers         http.Header // without Host
	Authority       string      // from -H Host:..., else empty
	Given           http.Header // every -H as given, for the output
	HTTP2           bool
	FollowRedirects bool
	Insecure        bool
}

func parseClientConfig(args []string) (*clientConfig, error) {
	p, err := parseArgs(args, clientFlags)
	if err != nil {
		return nil, err
	}
	if p.has("help") {
		return nil, flagHelp
	}
	if len(p.unknown) > 0 {
		return nil, fmt.Errorf("unknown flags %q", p.unknown)
	}
	if len(p.positional) != 1 {
		return nil, fmt.Errorf("want exactly one URL, got %q", p.positional)
	}
	c := &clientConfig{Method: p.last("method", "GET"), Headers: http.Header{}, Given: http.Header{},
		HTTP2: p.last("http2", "false") == "true", FollowRedirects: p.last("follow-redirects", "false") == "true",
		Insecure: p.last("insecure-skip-verify", "false") == "true"}
	if c.URL, err = url.Parse(p.positional[0]); err != nil {
		return nil, fmt.Errorf("URL: %w", err)
	}
	switch c.URL.Scheme {
	case "http", "https", "grpc", "grpcs", "tcp":
	default:
		return nil, fmt.Errorf("URL %q: scheme must be http, https, grpc, grpcs or tcp", p.positional[0])
	}
	if c.URL.Host == "" {
		return nil, fmt.Errorf("URL %q has no host", p.positional[0])
	}
	if c.Count, err = strconv.Atoi(p.last("count", "1")); err != nil || c.Count < 1 {
		return nil, fmt.Errorf("--count must be a positive number, got %q", p.last("count", ""))
	}
	if c.Timeout, err = time.ParseDuration(p.last("timeout", "5s")); err != nil || c.Timeout <= 0 {
		return nil, fmt.Errorf("--timeout must be a positive duration such as 5s, got %q", p.last("timeout", ""))
	}
	for _, h := range p.values["header"] {
		k, v, ok := strings.Cut(h, ":")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("header %q: want NAME:VALUE", h)
		}
		v = strings.TrimSpace(v)
		c.Given.Add(k, v)
		if strings.EqualFold(k, "host") {
			c.Authority = v
		} else {
			c.Headers.Add(k, v)
		}
	}
	return c, nil
}

func runClient(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseClientConfig(args)
	if errors.Is(err, flagHelp) {
		fmt.Fprintln(stdout, clientHelp)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "client: %v\n%s\n", err, clientHelp)
		return 2
	}
	results, errs := send(cfg)
	var out strings.Builder
	for i, r := range results {
		if errs[i] == nil {
			out.WriteString(r.block(i))
		}
	}
	_, _ = io.WriteString(stdout, out.String())
	failed, first := 0, error(nil)
	for _, e := range errs {
		if e != nil {
			if first == nil {
				first = e
			}
			failed++
		}
	}
	if failed > 0 {
		fmt.Fprintf(stderr, "client: %d/%d requests had errors; first error: %v\n", failed, cfg.Count, first)
		return 1
	}
	return 0
}

// send makes cfg.Count requests within cfg.Timeout, at most maxConcurrency
// at a time, over one shared HTTP transport (keep-alive) or one gRPC
// connection, and returns the results and errors by request index.
func send(cfg *clientConfig) ([]result, []error) {
	ctx, cancel := context.WithTimeout(context.Background(), cfg.Timeout)
	defer cancel()
	results, errs := make([]result, cfg.Count), make([]error, cfg.Count)
	var do func(context.Context) (result, error)
	switch cfg.URL.Scheme {
	case "http", "https":
		c := newHTTPClient(cfg)
		defer c.CloseIdleConnections()
		do = func(ctx context.Context) (result, error) { return doHTTP(ctx, c, cfg) }
	case "grpc", "grpcs":
		conn, err := newGRPCConn(cfg)
		if err != nil {
			for i := range errs {
				errs[i] = err
			}
			return results, errs
		}
		defer func() { _ = conn.Close() }()
		client := pb.NewGrpcEchoClient(conn)
		do = func(ctx context.Context) (result, error) { return doGRPC(ctx, client, cfg) }
	case "tcp":
		do = func(ctx context.Context) (result, error) { return doTCP(ctx, cfg) }
	}
	sem := make(chan struct{}, maxConcurrency)
	var wg sync.WaitGroup
	for i := range cfg.Count {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			r, err := do(ctx)
			r.URL, r.RequestHeaders = cfg.URL.String(), cfg.Given
			results[i], errs[i] = r, err
		})
	}
	wg.Wait()
	return results, errs
}

func newHTTPClient(cfg *clientConfig) *http.Client {
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: cfg.Timeout, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConnsPerHost: maxConcurrency,
		DisableCompression:  true,
		TLSClientConfig:     &tls.Config{InsecureSkipVerify: cfg.Insecure}, //nolint:gosec // opt-in test flag
		ForceAttemptHTTP2:   cfg.URL.Scheme == "https",
	}
	if cfg.HTTP2 && cfg.URL.Scheme == "http" {
		tr.Protocols = new(http.Protocols)
		tr.Protocols.SetUnencryptedHTTP2(true)
	}
	c := &http.Client{Transport: tr}
	if !cfg.FollowRedirects {
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	}
	return c
}

func doHTTP(ctx context.Context, c *http.Client, cfg *clientConfig) (result, error) {
	req, err := http.NewRequestWithContext(ctx, cfg.Method, cfg.URL.String(), nil)
	if err != nil {
		return result{}, err
	}
	for k, vs := range cfg.Headers {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if cfg.Authority != "" {
		req.Host = cfg.Authority
	}
	resp, err := c.Do(req)
	if err != nil {
		return result{}, err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return result{}, fmt.Errorf("reading the body of a %d answer: %w", resp.StatusCode, err)
	}
	return result{StatusCode: resp.StatusCode, ResponseHeaders: resp.Header, Body: string(body)}, nil
}

func newGRPCConn(cfg *clientConfig) (*grpc.ClientConn, error) {
	host := cfg.URL.Host
	if cfg.URL.Port() == "" {
		return nil, fmt.Errorf("URL %s: a gRPC URL needs a port", cfg.URL)
	}
	creds := insecure.NewCredentials()
	if cfg.URL.Scheme == "grpcs" {
		creds = credentials.NewTLS(&tls.Config{InsecureSkipVerify: cfg.Insecure}) //nolint:gosec // opt-in test flag
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(creds)}
	if cfg.Authority != "" {
		opts = append(opts, grpc.WithAuthority(cfg.Authority))
	}
	// passthrough: the system resolver (resolv.conf search path) finds "echo".
	return grpc.NewClient("passthrough:///"+host, opts...)
}

func doGRPC(ctx context.Context, c pb.GrpcEchoClient, cfg *clientConfig) (result, error) {
	md := metadata.MD{}
	for k, vs := range cfg.Headers {
		md.Append(strings.ToLower(k), vs...)
	}
	var hdr metadata.MD
	resp, err := c.Echo(metadata.NewOutgoingContext(ctx, md), &pb.EchoRequest{}, grpc.Header(&hdr))
	if err != nil {
		return result{}, err
	}
	a := resp.GetAssertions()
	f := serverFacts{Port: a.GetContext().GetServiceName(), Host: a.GetAuthority(), URL: a.GetFullyQualifiedMethod(),
		Method: "POST", Proto: "GRPC", Hostname: a.GetContext().GetPod(), Headers: http.Header{}}
	for _, h := range a.GetHeaders() {
		f.Headers[h.GetKey()] = append(f.Headers[h.GetKey()], h.GetValue())
	}
	rh := http.Header{}
	for k, vs := range hdr {
		rh[k] = vs
	}
	// gRPC OK is reported as 200, as the suite expects (it maps an
	// expected gRPC status 0 to 200).
	return result{StatusCode: http.StatusOK, ResponseHeaders: rh, Body: f.body()}, nil
}

func doTCP(ctx context.Context, cfg *clientConfig) (result, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", cfg.URL.Host)
	if err != nil {
		return result{}, err
	}
	defer func() { _ = conn.Close() }()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	if _, err := io.WriteString(conn, "Echo=hello\n"); err != nil {
		return result{}, err
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
	body, err := io.ReadAll(io.LimitReader(conn, 1<<20))
	if err != nil {
		return result{}, err
	}
	if !strings.HasPrefix(string(body), "Echo=hello\n") {
		return result{}, fmt.Errorf("TCP echo: got %q", body)
	}
	return result{StatusCode: http.StatusOK, Body: string(body)}, nil
}
