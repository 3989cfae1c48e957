package main

import (
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

// runEtcd starts a single-member etcd from go.etcd.io/etcd/server/v3/embed.
// Only the flags the e2e cluster needs are offered.
func runEtcd() int {
	fs := flag.NewFlagSet("etcd", flag.ExitOnError)
	name := fs.String("name", "default", "member name")
	dataDir := fs.String("data-dir", "default.etcd", "data directory")
	clientURLs := fs.String("listen-client-urls", "http://127.0.0.1:2379", "comma-separated client URLs to listen on")
	advClientURLs := fs.String("advertise-client-urls", "", "comma-separated client URLs to advertise (default: listen-client-urls)")
	peerURLs := fs.String("listen-peer-urls", "http://127.0.0.1:2380", "comma-separated peer URLs to listen on")
	metricsURLs := fs.String("listen-metrics-urls", "", "comma-separated URLs for /metrics and /health")
	quota := fs.Int64("quota-backend-bytes", 2<<30, "backend size quota")
	logLevel := fs.String("log-level", "info", "log level (debug, info, warn, error)")
	fs.Parse(os.Args[1:])

	parse := func(s string) []url.URL {
		var out []url.URL
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p == "" {
				continue
			}
			u, err := url.Parse(p)
			if err != nil {
				fmt.Fprintf(os.Stderr, "etcd: bad URL %q: %v\n", p, err)
				os.Exit(2)
			}
			out = append(out, *u)
		}
		return out
	}
	cfg := embed.NewConfig()
	cfg.Name = *name
	cfg.Dir = *dataDir
	cfg.ListenClientUrls = parse(*clientURLs)
	if *advClientURLs == "" {
		*advClientURLs = *clientURLs
	}
	cfg.AdvertiseClientUrls = parse(*advClientURLs)
	cfg.ListenPeerUrls = parse(*peerURLs)
	cfg.AdvertisePeerUrls = cfg.ListenPeerUrls
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	if *metricsURLs != "" {
		cfg.ListenMetricsUrls = parse(*metricsURLs)
	}
	cfg.QuotaBackendBytes = *quota
	cfg.LogLevel = *logLevel
	cfg.Logger = "zap"
	cfg.LogOutputs = []string{"stderr"}

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "etcd: start: %v\n", err)
		return 1
	}
	defer e.Close()
	select {
	case <-e.Server.ReadyNotify():
		fmt.Fprintf(os.Stderr, "etcd: ready, serving clients on %s\n", *clientURLs)
	case <-time.After(60 * time.Second):
		e.Server.Stop()
		fmt.Fprintln(os.Stderr, "etcd: not ready after 60s")
		return 1
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	select {
	case s := <-sig:
		fmt.Fprintf(os.Stderr, "etcd: %v, stopping\n", s)
		return 0
	case err := <-e.Err():
		fmt.Fprintf(os.Stderr, "etcd: %v\n", err)
		return 1
	}
}
