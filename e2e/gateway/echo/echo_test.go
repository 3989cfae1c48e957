package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	// The suite's own parser: the output must read the same way in there.
	upstream "sigs.k8s.io/gateway-api/conformance/utils/echo"
)

// blocks splits client output as the suite's RequestBatch does
// (utils/echo/parse.go parseMultipleResponses, unexported upstream).
func blocks(out string) []upstream.Response {
	var rs []upstream.Response
	for s := range strings.SplitSeq(out, "\n\n") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if r := upstream.ParseResponse(s); r.Hostname != "" || r.Code != "" {
			rs = append(rs, r)
		}
	}
	return rs
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}

// writeCert writes a throwaway self-signed key pair, as the image build does.
func writeCert(t *testing.T) (crt, key string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "echo"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"echo"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kd, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	crt, key = filepath.Join(dir, "cert.crt"), filepath.Join(dir, "cert.key")
	if err := os.WriteFile(crt, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd}), 0o600); err != nil {
		t.Fatal(err)
	}
	return crt, key
}

type ports struct{ http, https, grpc, tcp int }

// startEcho runs the server with the mesh manifests' flags (on free loopback
// ports) and waits until it is ready.
func startEcho(t *testing.T) (ports, string) {
	t.Helper()
	p := ports{freePort(t), freePort(t), freePort(t), freePort(t)}
	crt, key := writeCert(t)
	var logs bytes.Buffer
	cfg, err := parseServerConfig([]string{
		fmt.Sprintf("--tcp=%d", p.tcp), fmt.Sprintf("--port=%d", p.http), fmt.Sprintf("--grpc=%d", p.grpc),
		fmt.Sprintf("--port=%d", p.https), fmt.Sprintf("--tls=%d", p.https), "--crt=" + crt, "--key=" + key,
		"--bind=127.0.0.1", "--version=v1", "--unknown-flag=x",
	}, &logs)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "ignoring unknown flag --unknown-flag=x") {
		t.Errorf("unknown flag not reported: %q", logs.String())
	}
	s, err := startServer(cfg, log.New(io.Discard, "", 0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	deadline := time.Now().Add(10 * time.Second)
	for !s.ready.Load() {
		if time.Now().After(deadline) {
			t.Fatal("server not ready after 10 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return p, cfg.Hostname
}

func client(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errOut bytes.Buffer
	rc := runClient(args, &out, &errOut)
	return out.String(), errOut.String(), rc
}

func TestHTTPRequestAsTheSuiteSendsIt(t *testing.T) {
	p, hostname := startEcho(t)
	// makeRequestWithCount: client URL --method=GET -H K:V ... (map order)
	out, stderr, rc := client(t, fmt.Sprintf("http://127.0.0.1:%d/path?animal=whale", p.http), "--method=GET",
		"-H", "X-Header-Add:some-other-value", "-H", "Host:echo-v1", "-H", "x-header-add:add-appends-values",
		"-H", "Version:one")
	if rc != 0 {
		t.Fatalf("exit %d, stderr %q", rc, stderr)
	}
	if !strings.HasSuffix(out, "\n\n") || strings.Count(out, "\n\n") != 1 {
		t.Errorf("want one block ending in a blank line, got %q", out)
	}
	r := upstream.ParseResponse(out)
	if r.Code != "200" || r.Hostname != hostname {
		t.Errorf("code %q hostname %q (want 200, %q); output:\n%s", r.Code, r.Hostname, hostname, out)
	}
	if r.Host != "echo-v1" || r.URL != "/path?animal=whale" || r.Method != "GET" || r.Version != "v1" {
		t.Errorf("server facts: host %q url %q method %q version %q", r.Host, r.URL, r.Method, r.Version)
	}
	// compareRequest joins the values with "," and compares names lowercased.
	if got := strings.Join(r.RequestHeaders.Values("X-Header-Add"), ","); got != "some-other-value,add-appends-values" {
		t.Errorf("X-Header-Add = %q", got)
	}
	if got := r.RequestHeaders.Get("Version"); got != "one" {
		t.Errorf("Version = %q", got)
	}
	if got := r.ResponseHeaders.Get("Content-Type"); got != "text/plain; charset=utf-8" {
		t.Errorf("ResponseHeader Content-Type = %q", got)
	}
	// The client's StatusCode= line comes before the body.
	if i, j := strings.Index(out, "] StatusCode="), strings.Index(out, " body] "); i < 0 || j < 0 || i > j {
		t.Errorf("StatusCode line not before the body:\n%s", out)
	}
}

func TestBatchGivesExactlyCountBlocks(t *testing.T) {
	p, hostname := startEcho(t)
	for _, url := range []string{fmt.Sprintf("http://127.0.0.1:%d/", p.http), fmt.Sprintf("grpc://127.0.0.1:%d", p.grpc)} {
		t.Run(url[:4], func(t *testing.T) {
			start := time.Now()
			out, stderr, rc := client(t, url, "--count=500")
			if rc != 0 {
				t.Fatalf("exit %d, stderr %q", rc, stderr)
			}
			rs := blocks(out)
			if len(rs) != 500 {
				t.Fatalf("%d blocks, want 500", len(rs))
			}
			for i, r := range rs {
				if r.Code != "200" || r.Hostname != hostname {
					t.Fatalf("block %d: code %q hostname %q", i, r.Code, r.Hostname)
				}
			}
			for i := range 500 {
				if !strings.Contains(out, fmt.Sprintf("\n[%d] StatusCode=200\n", i)) {
					t.Fatalf("no StatusCode line for request %d", i)
				}
			}
			t.Logf("500 requests in %v", time.Since(start))
		})
	}
}

func TestGRPCAsTheSuiteSendsIt(t *testing.T) {
	p, hostname := startEcho(t)
	// MeshGRPCRouteWeight: client grpc://echo:7070 (no path, no --method).
	out, stderr, rc := client(t, fmt.Sprintf("grpc://127.0.0.1:%d", p.grpc), "-H", "Host:echo", "-H", "X-Foo:bar")
	if rc != 0 {
		t.Fatalf("exit %d, stderr %q", rc, stderr)
	}
	r := upstream.ParseResponse(out)
	if r.Code != "200" || r.Hostname != hostname || r.Host != "echo" || r.Protocol != "GRPC" {
		t.Errorf("code %q hostname %q host %q proto %q:\n%s", r.Code, r.Hostname, r.Host, r.Protocol, out)
	}
	if r.URL != "/gateway_api_conformance.echo_basic.grpcecho.GrpcEcho/Echo" {
		t.Errorf("URL (method) = %q", r.URL)
	}
	if got := r.RequestHeaders.Get("x-foo"); got != "bar" {
		t.Errorf("x-foo = %q", got)
	}
	if got := r.ResponseHeaders.Get("x-echo-hostname"); got != hostname {
		t.Errorf("response header x-echo-hostname = %q", got)
	}
}

func TestHTTPSAndTCP(t *testing.T) {
	p, hostname := startEcho(t)
	out, stderr, rc := client(t, fmt.Sprintf("https://127.0.0.1:%d/", p.https), "-k")
	if r := upstream.ParseResponse(out); rc != 0 || r.Code != "200" || r.Hostname != hostname {
		t.Errorf("https: exit %d stderr %q output %q", rc, stderr, out)
	}
	out, stderr, rc = client(t, fmt.Sprintf("http://127.0.0.1:%d/", p.http), "--http2")
	if r := upstream.ParseResponse(out); rc != 0 || r.Protocol != "HTTP/2.0" || r.Hostname != hostname {
		t.Errorf("h2c: exit %d stderr %q output %q", rc, stderr, out)
	}
	if rc, _ := exitOf(t, fmt.Sprintf("https://127.0.0.1:%d/", p.https)); rc != 1 {
		t.Errorf("https without -k against a self-signed certificate: exit %d, want 1", rc)
	}
	out, stderr, rc = client(t, fmt.Sprintf("tcp://127.0.0.1:%d", p.tcp), "--count=3")
	if rs := blocks(out); rc != 0 || len(rs) != 3 || rs[0].Hostname != hostname {
		t.Errorf("tcp: exit %d stderr %q output %q", rc, stderr, out)
	}
}

func exitOf(t *testing.T, args ...string) (int, string) {
	_, stderr, rc := client(t, args...)
	return rc, stderr
}

func TestStatusAndResponseHeadersFromAProxy(t *testing.T) {
	// Stands in for the sidecar answering a redirect, a 404 or with added
	// response headers: the client reports, and does not follow.
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/redirect":
			w.Header().Set("Location", "http://example.org/")
			w.WriteHeader(http.StatusFound)
		case "/header":
			w.Header().Add("X-Header-Set", "set")
			fmt.Fprint(w, "line one\n\n\nline two\r\n")
		default:
			http.NotFound(w, r)
		}
	}))
	defer ts.Close()
	cases := []struct{ path, code string }{{"/redirect", "302"}, {"/header", "200"}, {"/nothing", "404"}}
	for _, c := range cases {
		out, stderr, rc := client(t, ts.URL+c.path, "--method=GET", "--count=3")
		if rc != 0 {
			t.Fatalf("%s: exit %d, stderr %q", c.path, rc, stderr)
		}
		rs := blocks(out)
		if len(rs) != 3 {
			t.Fatalf("%s: %d blocks, want 3:\n%s", c.path, len(rs), out)
		}
		for _, r := range rs {
			if r.Code != c.code || r.Hostname != "" {
				t.Errorf("%s: code %q hostname %q", c.path, r.Code, r.Hostname)
			}
		}
		if c.path == "/header" {
			if got := rs[0].ResponseHeaders.Get("X-Header-Set"); got != "set" {
				t.Errorf("X-Header-Set = %q", got)
			}
			if !strings.Contains(out, "[0 body] line one\n[0 body] line two\n") {
				t.Errorf("body lines: %q", out)
			}
		}
		if c.path == "/redirect" && rs[0].ResponseHeaders.Get("Location") != "http://example.org/" {
			t.Errorf("Location = %q", rs[0].ResponseHeaders.Get("Location"))
		}
	}
}

func TestFailures(t *testing.T) {
	port := freePort(t) // closed again: nothing listens
	for _, url := range []string{fmt.Sprintf("http://127.0.0.1:%d/", port), fmt.Sprintf("grpc://127.0.0.1:%d", port)} {
		out, stderr, rc := client(t, url, "--count=2", "--timeout=2s")
		if rc != 1 || out != "" || !strings.Contains(stderr, "2/2 requests had errors") {
			t.Errorf("%s: exit %d, stdout %q, stderr %q", url, rc, out, stderr)
		}
	}
	for _, args := range [][]string{
		{"http://echo/", "--bogus"}, {"http://echo/", "--count=0"}, {"ftp://echo/"}, {"--count=1"},
		{"http://echo/", "-H", "novalue"}, {"grpc://echo"}, {"http://echo/", "--timeout=soon"},
	} {
		if rc, _ := exitOf(t, args...); rc == 0 {
			t.Errorf("client %q: exit 0, want an error", args)
		}
	}
	var logs bytes.Buffer
	if _, err := parseServerConfig([]string{"--port=8443", "--tls=8443"}, &logs); err == nil {
		t.Error("server --tls without --crt/--key: no error")
	}
	cfg, err := parseServerConfig([]string{"--port=0", "--tls=0", "--crt=/nonexistent.crt", "--key=/nonexistent.key"}, &logs)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := startServer(cfg, log.New(io.Discard, "", 0)); err == nil {
		t.Error("server with an unreadable key pair started")
	}
}

func TestFlagsAndDefaults(t *testing.T) {
	var logs bytes.Buffer
	// The consumer namespace's pod has no args: the upstream defaults apply.
	cfg, err := parseServerConfig(nil, &logs)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprintf("%v %v %v %d", cfg.HTTP, cfg.GRPC, cfg.TCP, len(cfg.TLS)) != "[8080] [7070] [9090] 0" {
		t.Errorf("defaults: http %v grpc %v tcp %v tls %v", cfg.HTTP, cfg.GRPC, cfg.TCP, cfg.TLS)
	}
	// The mesh manifests' args.
	cfg, err = parseServerConfig(strings.Fields("--tcp=9090 --port=8080 --grpc=7070 --port=8443 --tls=8443 --crt=/cert.crt --key=/cert.key"), &logs)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprintf("%v %v %v %v %s %s", cfg.HTTP, cfg.GRPC, cfg.TCP, cfg.TLS, cfg.Cert, cfg.Key) != "[8080 8443] [7070] [9090] map[8443:true] /cert.crt /cert.key" {
		t.Errorf("manifest args: %+v", cfg)
	}
	c, err := parseClientConfig([]string{"-c", "7", "http://echo:8080/x", "--timeout", "2s", "-H", "Host: echo-v2", "--http2"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Count != 7 || c.Timeout != 2*time.Second || c.Authority != "echo-v2" || !c.HTTP2 || c.URL.Host != "echo:8080" || c.Method != "GET" {
		t.Errorf("client config: %+v", c)
	}
	if rc := run([]string{"/usr/local/bin/client", "--help"}); rc != 0 {
		t.Errorf("client --help via argv[0]: exit %d", rc)
	}
	if rc := run([]string{"echo", "nonsense"}); rc != 2 {
		t.Errorf("unknown command: exit %d", rc)
	}
}
