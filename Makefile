# weft's developer and CI recipes. `.ci/run` calls these same targets.
#
# Builds share one target directory outside the clone so that clones, CI runs
# and sessions reuse each other's work.
export CARGO_TARGET_DIR ?= $(HOME)/.cache/weft/target
CARGO ?= cargo

.PHONY: help setup build test test-unit fmt fmt-check clippy deny deps-check gen crdgen gen-check lint ci fuzz gateway-build \
        lint-scripts lint-python lint-go \
        cluster-build cluster-up cluster-down cluster-status images images-previous flagger-build e2e demo \
        bench-controller bench-identity bench-injector bench bench-smoke bench-build bench-control-plane proxy-build

help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

setup: ## install Debian packages and tools (idempotent)
	scripts/setup

build: ## build every crate and binary
	$(CARGO) build --workspace --all-targets

test: setup ## run every crate's tests (not the cluster suites: see `make e2e`)
	$(CARGO) test --workspace --exclude weft-e2e
	$(CARGO) test -p weft-e2e --lib
	cd e2e/gateway && go test -trimpath ./echo/

fmt: ## format the code
	$(CARGO) fmt --all
	$(CARGO) fmt --manifest-path fuzz/Cargo.toml

fmt-check: ## fail on unformatted code
	$(CARGO) fmt --all -- --check
	$(CARGO) fmt --manifest-path fuzz/Cargo.toml -- --check

clippy: ## lint, warnings are errors
	$(CARGO) clippy --workspace --all-targets -- -D warnings

deny: ## licenses, banned crates (one crypto provider), sources
	$(CARGO) deny --all-features check bans licenses sources

deps-check: ## the proxy must not depend on kube, k8s-openapi, weft-k8s-api or axum
	@bad=$$($(CARGO) tree -p weft-proxy -e normal --prefix none --no-dedupe \
		| awk '{print $$1}' | grep -xE 'kube|kube-[a-z]+|k8s-openapi|weft-k8s-api|axum' | sort -u); \
	if [ -n "$$bad" ]; then echo "weft-proxy depends on: $$bad" >&2; exit 1; fi; \
	echo "weft-proxy's dependency tree is free of kube, k8s-openapi, weft-k8s-api and axum"

gen: ## regenerate checked-in code (protobufs; needs protoc)
	$(CARGO) run -q -p weft-api-gen

crdgen: ## regenerate charts/weft/crds from the SMI types
	$(CARGO) run -q -p weft-k8s-api --bin crdgen

gen-check: ## fail when checked-in generated code is stale
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	$(CARGO) run -q -p weft-api-gen -- "$$tmp" >/dev/null && \
	if diff -ru api/core/src/gen "$$tmp"; then echo "generated code is up to date"; \
	else echo "generated code is stale: run 'make gen' and commit" >&2; exit 1; fi

cluster-build: ## build the e2e cluster's binaries from upstream Go modules (cached)
	e2e/cluster/build

cluster-up: ## start the single-node e2e cluster (builds what is missing)
	e2e/cluster/up

cluster-down: ## stop the e2e cluster and remove its network state
	e2e/cluster/down

cluster-status: ## show each e2e cluster component
	e2e/cluster/status

WEFT_IMAGE_STAGE ?= $(CARGO_TARGET_DIR)/image-stage

# One image per component: images/<c>.Dockerfile, a line in images/weft.list.
# WEFT_IMAGES hold one binary each (scripts/stage-image); the proxy image also
# holds iptables with file capabilities (scripts/stage-proxy-image).
WEFT_IMAGES := injector identity controller

# The proxy as it ships, in its own profile (Cargo.toml [profile.proxy]):
# whole-program LTO, glibc linked in (static-pie: no shared libraries to map,
# and still loaded at a random address) and packed relative relocations.
# Every proxy on a node maps this file; docs/benchmarks.md "The proxy's
# build" gives what each part saves. `cargo rustc` passes these flags to the
# proxy's final link only: as RUSTFLAGS they would also reach proc macros,
# which cannot be static.
PROXY_BIN := $(CARGO_TARGET_DIR)/proxy/weft-proxy
PROXY_LINK_FLAGS := -C target-feature=+crt-static -C link-arg=-Wl,-z,pack-relative-relocs \
  -C link-arg=-Wl,--icf=all -C link-arg=-Wl,-z,keep-text-section-prefix

proxy-build: ## build the sidecar as it ships (static-pie, whole-program LTO) into $$CARGO_TARGET_DIR/proxy/
	$(CARGO) rustc --profile proxy -p weft-proxy --bin weft-proxy -- $(PROXY_LINK_FLAGS)

images: proxy-build ## build weft's images (and the cluster's) as OCI archives and import them into containerd
	$(CARGO) build --release $(foreach c,$(WEFT_IMAGES),-p weft-$(c))
	for c in $(WEFT_IMAGES); do \
	  scripts/stage-image $(WEFT_IMAGE_STAGE)/$$c $(CARGO_TARGET_DIR)/release/weft-$$c || exit 1; \
	done
	scripts/stage-proxy-image $(WEFT_IMAGE_STAGE)/proxy $(PROXY_BIN)
	# The suites' test app changes with them; a cluster already up would keep the old one.
	e2e/cluster/build --only testapp
	WEFT_IMAGE_STAGE=$(WEFT_IMAGE_STAGE) WEFT_CLUSTER_IMAGE_LISTS=images/weft.list e2e/cluster/images

images-previous: cluster-up ## rebuild the previous release's chart and images (weft/<component>:previous) for the upgrade suite
	e2e/previous/build

flagger-build: ## build Flagger and Prometheus from their Go modules for the Flagger suite (cached by version)
	e2e/flagger/build

gateway-build: ## build the Gateway API mesh conformance suite and its echo image from their Go modules (cached by version)
	e2e/gateway/build

gateway-conformance: cluster-up images gateway-build ## the Gateway API mesh conformance suite (also in make e2e) against weft, report under the target dir (see e2e/gateway/README.md)
	eval "$$(e2e/cluster/env)" && kubectl apply --server-side -f charts/weft/crds/ && \
	  helm upgrade --install weft charts/weft -n weft-system --create-namespace --reset-values --wait && \
	  e2e/gateway/run $(CARGO_TARGET_DIR)/gateway/mesh-report.yaml

e2e: cluster-up images images-previous flagger-build gateway-build ## run the end-to-end suites against the e2e cluster
	$(CARGO) build -p weft-injector
	eval "$$(e2e/cluster/env)" && $(CARGO) test -p weft-e2e --tests -- --test-threads=2

demo: setup cluster-up images ## bring up the e2e cluster, install weft with the Helm chart, deploy the demo app and its SMI policy (see README)
	eval "$$(e2e/cluster/env)" && kubectl apply --server-side -f charts/weft/crds/
	@echo "==> helm upgrade --install weft (namespace weft-system)"
	eval "$$(e2e/cluster/env)" && helm upgrade --install weft charts/weft -n weft-system --create-namespace
	@echo "==> waiting for the control plane (at most 120 s)"
	eval "$$(e2e/cluster/env)" && for d in weft-identity weft-controller weft-injector; do \
	  kubectl -n weft-system rollout status deploy/$$d --timeout=120s || exit 1; done
	eval "$$(e2e/cluster/env)" && demo/up

bench-identity: ## benchmark: certificates/s and Certify p99, with and without TokenReview (the latter needs the e2e cluster's env)
	$(CARGO) run -q --release -p weft-bench --example identity -- 5 8

bench-controller: cluster-up ## benchmark: the controller process with 10k pods, 1k services, 2k TrafficTargets, 1000 streams on the e2e cluster (~5 min)
	$(CARGO) build --release -p weft-identity -p weft-controller
	eval "$$(e2e/cluster/env)" && $(CARGO) run -q --release -p weft-bench --example controller_scale -- \
	  --bin-dir $(CARGO_TARGET_DIR)/release $(BENCH_CONTROLLER_ARGS)

bench-control-plane: cluster-up ## benchmark the whole control plane in one command (~7 min): injector, identity with TokenReview on the e2e cluster, controller at scale
	$(MAKE) bench-injector
	eval "$$(e2e/cluster/env)" && $(MAKE) bench-identity
	$(MAKE) bench-controller

bench-injector: ## benchmark: AdmissionReviews/s and p99 over HTTPS vs a fixed-answer baseline (loopback, ~10 s)
	$(CARGO) run -q --release -p weft-bench --example injector -- 5 8

# The data-plane benchmark (bench/, docs/benchmarks.md): release proxies and
# tools, the control-plane fixture in the dev profile (it reuses the test
# builds; its speed is not measured). Three builds, so each keeps its own
# feature set and stays cached for the other targets.
bench-build: proxy-build
	$(CARGO) build --release -p weft-bench
	$(CARGO) build -p weft-proxy --example bench_control_plane

# `timeout` only guards against a hang: it sends SIGTERM, and the run cleans
# up its namespaces and processes.
bench: bench-build ## data-plane benchmark (root, ~20 min): direct, splice, haproxy, weft in network namespaces; table in $$CARGO_TARGET_DIR/bench/
	timeout 3600 python3 bench/run.py

bench-smoke: bench-build ## one short round of `make bench` and its counts (CI): fails only if a mode or load cannot run
	BENCH_ROUNDS=1 BENCH_SECONDS=1 BENCH_IDLE_CONNECTIONS=500 BENCH_COUNT_REQUESTS=100 \
	  BENCH_OUT=$(CARGO_TARGET_DIR)/bench/smoke timeout 600 python3 bench/run.py

# cargo-fuzz targets (fuzz/README.md): one per parser that reads untrusted
# input, each run for FUZZ_SECONDS; the growing corpus and any crash input
# stay under ~/.cache/weft/fuzz, the build in ~/.cache/weft/fuzz-target.
FUZZ_SECONDS ?= 60

fuzz: setup ## run every fuzz target for FUZZ_SECONDS each (default 60; CI 30); fails on any crash
	scripts/fuzz $(FUZZ_SECONDS)

# The code that is not Rust. shellcheck comes from Debian, ruff from
# scripts/setup (pinned, in a venv under WEFT_TOOLS), Go is a prerequisite of
# the e2e cluster (e2e/cluster/README.md).
WEFT_TOOLS ?= $(HOME)/.cache/weft/tools
RUFF ?= $(WEFT_TOOLS)/ruff/bin/ruff

# Every shell script, found by its first line (a sh/bash shebang, or the
# `# shellcheck shell=` of a sourced file); .shellcheckrc makes shellcheck
# follow what they source.
lint-scripts: ## shellcheck every shell script
	@files=$$(git ls-files --cached --others --exclude-standard | while read -r f; do \
	  [ -f "$$f" ] && IFS= read -r first < "$$f" || continue; \
	  case "$$first " in '#!'*[/\ ]sh\ *|'#!'*[/\ ]bash\ *|'# shellcheck shell='*) echo "$$f" ;; esac; \
	done); \
	shellcheck $$files && echo "shellcheck: $$(echo $$files | wc -w) scripts clean"

lint-python: ## ruff check and ruff format --check (ruff.toml)
	@[ -x $(RUFF) ] || { echo "$(RUFF) is missing: run make setup" >&2; exit 1; }
	$(RUFF) check
	$(RUFF) format --check

# go vet with -trimpath, like e2e/cluster/build, so both share Go's build cache:
# on a fresh machine the first vet compiles Kubernetes (~15 min on 2 cores) and
# the cluster build after it only links weft-kube (16 s); warm, it takes
# seconds. demo/app is vetted as it is built, without cgo.
lint-go: ## gofmt and go vet on the Go code (e2e/cluster, e2e/gateway, demo/app)
	@bad=$$(gofmt -l e2e/cluster e2e/gateway demo/app); \
	if [ -n "$$bad" ]; then echo "gofmt would change: $$bad (run gofmt -w)" >&2; exit 1; fi
	cd e2e/cluster && go vet -trimpath ./...
	cd demo/app && CGO_ENABLED=0 go vet -trimpath ./...
	cd e2e/gateway && go vet -trimpath ./...

lint: fmt-check clippy deny deps-check gen-check lint-scripts lint-python lint-go ## every static check CI runs

ci: ## what CI runs (see .ci/run)
	bash .ci/run
