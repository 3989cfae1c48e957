package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"

	pb "sigs.k8s.io/gateway-api/conformance/echo-basic/grpcechoserver"
)

const serverHelp = `usage: server [flags]
  --port=N      serve HTTP on port N (repeatable; default 8080); HTTP/1.1 and
                HTTP/2 (h2c prior knowledge, or ALPN h2 on TLS ports)
  --grpc=N      serve gRPC on port N (repeatable; default 7070), service
                gateway_api_conformance.echo_basic.grpcecho.GrpcEcho
  --tcp=N       TCP echo on port N (repeatable; default 9090)
  --tls=N       port N (one of the above) uses TLS (repeatable)
  --crt=FILE --key=FILE   the TLS key pair (PEM); needed with --tls
  --version=V   reported as ServiceVersion=V
  --bind=ADDR   listen address (default: all addresses)
Until every HTTP port has answered a request the server sent itself over
the loopback (at most 10 s), HTTP answers 503. Other flags are logged and
ignored.`

var serverFlags = []flagSpec{
	{names: []string{"port"}}, {names: []string{"grpc"}}, {names: []string{"tcp"}},
	{names: []string{"tls"}}, {names: []string{"crt"}}, {names: []string{"key"}},
	{names: []string{"version"}}, {names: []string{"bind"}},
	{names: []string{"help", "h"}, kind: boolFlag},
}

type serverConfig struct {
	HTTP, GRPC, TCP []int
	TLS             map[int]bool
	Cert, Key       string
	Version         string
	Bind            string
	Hostname        string
	ReadyTimeout    time.Duration
}

func parseServerConfig(args []string, stderr io.Writer) (*serverConfig, error) {
	p, err := parseArgs(args, serverFlags)
	if err != nil {
		return nil, err
	}
	if p.has("help") {
		return nil, flagHelp
	}
	if len(p.positional) > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", p.positional)
	}
	for _, u := range p.unknown {
		fmt.Fprintf(stderr, "server: ignoring unknown flag %s\n", u)
	}
	ports := func(name string, def int) ([]int, error) {
		vals, ok := p.values[name]
		if !ok {
			return []int{def}, nil
		}
		var out []int
		for _, v := range vals {
			for s := range strings.SplitSeq(v, ",") {
				n, err := strconv.Atoi(strings.TrimSpace(s))
				if err != nil || n < 0 || n > 65535 {
					return nil, fmt.Errorf("--%s: bad port %q", name, s)
				}
				if !slices.Contains(out, n) {
					out = append(out, n)
				}
			}
		}
		return out, nil
	}
	c := &serverConfig{TLS: map[int]bool{}, Cert: p.last("crt", ""), Key: p.last("key", ""),
		Version: p.last("version", ""), Bind: p.last("bind", ""), ReadyTimeout: 10 * time.Second}
	if c.HTTP, err = ports("port", 8080); err != nil {
		return nil, err
	}
	if c.GRPC, err = ports("grpc", 7070); err != nil {
		return nil, err
	}
	if c.TCP, err = ports("tcp", 9090); err != nil {
		return nil, err
	}
	if p.has("tls") {
		tlsPorts, err := ports("tls", 0)
		if err != nil {
			return nil, err
		}
		for _, n := range tlsPorts {
			c.TLS[n] = true
		}
	}
	if len(c.TLS) > 0 && (c.Cert == "" || c.Key == "") {
		return nil, errors.New("--tls needs --crt and --key")
	}
	if c.Hostname, err = os.Hostname(); err != nil {
		return nil, fmt.Errorf("hostname: %w", err)
	}
	return c, nil
}

var flagHelp = errors.New("help requested")

func runServer(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseServerConfig(args, stderr)
	if errors.Is(err, flagHelp) {
		fmt.Fprintln(stdout, serverHelp)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "server: %v\n%s\n", err, serverHelp)
		return 2
	}
	logger := log.New(stderr, "server: ", log.LstdFlags|log.Lmicroseconds)
	srv, err := startServer(cfg, logger)
	if err != nil {
		logger.Print(err)
		return 1
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	select {
	case s := <-sig:
		logger.Printf("%v: shutting down", s)
	case err := <-srv.failed:
		logger.Printf("listener failed: %v", err)
		srv.Close()
		return 1
	}
	srv.Close()
	return 0
}

// echoServer is a running server. Addrs maps "http:8080" (the configured
// port; 0 for tests) to the bound address.
type echoServer struct {
	cfg     *serverConfig
	log     *log.Logger
	ready   atomic.Bool
	Addrs   map[string]string
	failed  chan error
	closers []func()
}

func startServer(cfg *serverConfig, logger *log.Logger) (*echoServer, error) {
	s := &echoServer{cfg: cfg, log: logger, Addrs: map[string]string{}, failed: make(chan error, 8)}
	var tlsCfg *tls.Config
	if len(cfg.TLS) > 0 {
		pair, err := tls.LoadX509KeyPair(cfg.Cert, cfg.Key)
		if err != nil {
			return nil, fmt.Errorf("TLS key pair %s, %s: %w", cfg.Cert, cfg.Key, err)
		}
		tlsCfg = &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	}
	listen := func(kind string, port int) (net.Listener, error) {
		l, err := net.Listen("tcp", net.JoinHostPort(cfg.Bind, strconv.Itoa(port)))
		if err != nil {
			return nil, fmt.Errorf("%s port %d: %w", kind, port, err)
		}
		s.Addrs[fmt.Sprintf("%s:%d", kind, port)] = l.Addr().String()
		return l, nil
	}
	var probes []func() error
	for _, port := range cfg.HTTP {
		l, err := listen("http", port)
		if err != nil {
			s.Close()
			return nil, err
		}
		hs := &http.Server{Handler: s.httpHandler(l.Addr().(*net.TCPAddr).Port), ReadHeaderTimeout: 30 * time.Second,
			ErrorLog: logger}
		hs.Protocols = new(http.Protocols)
		hs.Protocols.SetHTTP1(true)
		scheme, serve := "http", hs.Serve
		if cfg.TLS[port] {
			scheme = "https"
			hs.TLSConfig = tlsCfg.Clone()
			hs.Protocols.SetHTTP2(true)
			serve = func(l net.Listener) error { return hs.ServeTLS(l, "", "") }
		} else {
			hs.Protocols.SetUnencryptedHTTP2(true)
		}
		go func() {
			if err := serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.failed <- err
			}
		}()
		s.closers = append(s.closers, func() { _ = hs.Close() })
		s.log.Printf("%s on %s", strings.ToUpper(scheme), l.Addr())
		probes = append(probes, s.selfProbe(scheme, l.Addr().(*net.TCPAddr).Port))
	}
	for _, port := range cfg.GRPC {
		l, err := listen("grpc", port)
		if err != nil {
			s.Close()
			return nil, err
		}
		var opts []grpc.ServerOption
		if cfg.TLS[port] {
			opts = append(opts, grpc.Creds(credentials.NewTLS(tlsCfg.Clone())))
		}
		gs := grpc.NewServer(opts...)
		pb.RegisterGrpcEchoServer(gs, &grpcEcho{s: s, port: strconv.Itoa(l.Addr().(*net.TCPAddr).Port)})
		go func() {
			if err := gs.Serve(l); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
				s.failed <- err
			}
		}()
		s.closers = append(s.closers, gs.Stop)
		s.log.Printf("gRPC%s on %s", map[bool]string{true: " (TLS)"}[cfg.TLS[port]], l.Addr())
	}
	for _, port := range cfg.TCP {
		l, err := listen("tcp", port)
		if err != nil {
			s.Close()
			return nil, err
		}
		if cfg.TLS[port] {
			l = tls.NewListener(l, tlsCfg.Clone())
		}
		go s.serveTCP(l)
		s.closers = append(s.closers, func() { _ = l.Close() })
		s.log.Printf("TCP echo on %s", l.Addr())
	}
	go func() {
		var wg sync.WaitGroup
		for _, probe := range probes {
			wg.Go(func() {
				if err := probe(); err != nil {
					s.log.Printf("readiness self-check: %v (serving anyway)", err)
				}
			})
		}
		wg.Wait()
		s.ready.Store(true)
		s.log.Printf("ready")
	}()
	return s, nil
}

func (s *echoServer) Close() {
	for _, c := range s.closers {
		c()
	}
	s.closers = nil
}

// selfProbe returns a check that requests the port over the loopback until
// it gets any HTTP answer (503 while not ready), every 500 ms for at most
// ReadyTimeout. Like the upstream image, the server turns ready after the
// checks, whether they passed or not; a failure is logged (a sidecar that
// redirects the pod's own loopback traffic shows up here).
func (s *echoServer) selfProbe(scheme string, port int) func() error {
	return func() error {
		c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // its own self-signed test certificate
		}}
		defer c.CloseIdleConnections()
		url := fmt.Sprintf("%s://127.0.0.1:%d/", scheme, port)
		deadline := time.Now().Add(s.cfg.ReadyTimeout)
		for {
			resp, err := c.Get(url)
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				return nil
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s: %w", url, err)
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
}

func (s *echoServer) httpHandler(port int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20))
		if !s.ready.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		ip, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			ip = r.RemoteAddr
		}
		f := serverFacts{Version: s.cfg.Version, Port: strconv.Itoa(port), Host: r.Host, URL: r.RequestURI,
			Method: r.Method, Proto: r.Proto, IP: ip, Hostname: s.cfg.Hostname, Headers: r.Header}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, f.body())
	})
}

// grpcEcho answers every method of the conformance suite's own GrpcEcho
// service (published Go types in sigs.k8s.io/gateway-api/conformance).
type grpcEcho struct {
	pb.UnimplementedGrpcEchoServer
	s    *echoServer
	port string
}

func (g *grpcEcho) Echo(ctx context.Context, _ *pb.EchoRequest) (*pb.EchoResponse, error) {
	return g.answer(ctx)
}

func (g *grpcEcho) EchoTwo(ctx context.Context, _ *pb.EchoRequest) (*pb.EchoResponse, error) {
	return g.answer(ctx)
}

func (g *grpcEcho) answer(ctx context.Context) (*pb.EchoResponse, error) {
	a := &pb.Assertions{Context: &pb.Context{Pod: g.s.cfg.Hostname, ServiceName: g.port,
		Namespace: os.Getenv("NAMESPACE")}}
	a.FullyQualifiedMethod, _ = grpc.Method(ctx)
	md, _ := metadata.FromIncomingContext(ctx)
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range md {
			if !yield(k) {
				return
			}
		}
	}) {
		if k == ":authority" {
			a.Authority = md[k][0]
			continue
		}
		for _, v := range md[k] {
			a.Headers = append(a.Headers, &pb.Header{Key: k, Value: v})
		}
	}
	_ = grpc.SetHeader(ctx, metadata.Pairs("x-echo-hostname", g.s.cfg.Hostname))
	return &pb.EchoResponse{Assertions: a, Request: &pb.EchoRequest{}}, nil
}

// serveTCP echoes what it reads; when the peer half-closes, it appends
// "ServicePort=N" and "Hostname=H" lines and closes.
func (s *echoServer) serveTCP(l net.Listener) {
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	for {
		c, err := l.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				s.failed <- err
			}
			return
		}
		go func() {
			defer func() { _ = c.Close() }()
			_ = c.SetDeadline(time.Now().Add(5 * time.Minute))
			w := bufio.NewWriter(c)
			buf := make([]byte, 32<<10)
			for {
				n, err := c.Read(buf)
				if n > 0 {
					_, _ = w.Write(buf[:n])
					_ = w.Flush()
				}
				if err != nil {
					break
				}
			}
			fmt.Fprintf(w, "ServicePort=%s\nHostname=%s\n", port, s.cfg.Hostname)
			_ = w.Flush()
		}()
	}
}
