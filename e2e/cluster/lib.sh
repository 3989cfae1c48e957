# shellcheck shell=bash
# shellcheck disable=SC2034  # settings used by the scripts that source this file
# Shared settings and helpers for the e2e cluster scripts (sourced, not run).
#
# Every setting can be overridden from the environment; defaults are below.

E2E_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$E2E_DIR/versions.env"

# --- locations ---------------------------------------------------------------
WEFT_CACHE="${WEFT_CACHE:-$HOME/.cache/weft}"
WEFT_CLUSTER_BIN="${WEFT_CLUSTER_BIN:-$WEFT_CACHE/cluster/bin}"
WEFT_CLUSTER_IMAGES="${WEFT_CLUSTER_IMAGES:-$WEFT_CACHE/cluster/images}"
WEFT_CLUSTER_STATE="${WEFT_CLUSTER_STATE:-$HOME/.local/state/weft-e2e}"
STATE="$WEFT_CLUSTER_STATE"
PKI="$STATE/pki"
LOGS="$STATE/logs"
RUN="$STATE/run"
CONF="$STATE/config"
KUBECONFIG_ADMIN="$STATE/admin.kubeconfig"
CTRD_SOCK="$STATE/containerd/containerd.sock"

# --- address plan (all on devices `up` creates) ------------------------------
NODE_NAME="${WEFT_CLUSTER_NODE_NAME:-weft-e2e-node}"
NODE_DEV="weft0"                # dummy (or port-less bridge) device holding the node IP
NODE_IP="198.18.0.1"            # apiserver, kubelet, CoreDNS, NodePorts
BRIDGE_DEV="weftbr0"            # CNI bridge for pods
POD_CIDR="198.18.128.0/20"
POD_GW="198.18.128.1"
POD_IP_REGEX='198\.18\.(12[89]|13[0-9]|14[0-3])\.'   # matches addresses in POD_CIDR
SERVICE_CIDR="198.19.0.0/20"
KUBERNETES_SVC_IP="198.19.0.1"
DNS_SVC_IP="198.19.0.10"
CLUSTER_DOMAIN="cluster.local"
APISERVER_PORT=6443
ETCD_CLIENT_URL="http://127.0.0.1:12379"
ETCD_PEER_URL="http://127.0.0.1:12380"
ETCD_METRICS_URL="http://127.0.0.1:12381"
COREDNS_HEALTH="127.0.0.1:18080"
COREDNS_READY="127.0.0.1:18181"
# Upstream for names outside the cluster; empty = CoreDNS answers cluster names only.
UPSTREAM_DNS="${WEFT_CLUSTER_UPSTREAM_DNS:-}"

# --- images --------------------------------------------------------------------
PAUSE_IMAGE="docker.io/weft/pause:e2e"
TESTAPP_IMAGE="docker.io/weft/testapp:e2e"

# The order in which `up` starts components and `down` stops them (reversed).
COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler containerd kubelet kube-proxy coredns)

KUBE="$WEFT_CLUSTER_BIN/weft-kube"
export PATH="$WEFT_CLUSTER_BIN:$PATH"

# --- output helpers --------------------------------------------------------------
if [[ -t 1 ]]; then _B=$'\e[1m'; _R=$'\e[31m'; _G=$'\e[32m'; _N=$'\e[0m'; else _B=; _R=; _G=; _N=; fi
log()  { printf '%s\n' "$*"; }
info() { printf '    %s\n' "$*"; }
warn() { printf '%swarning:%s %s\n' "$_R" "$_N" "$*" >&2; }
die()  { printf '%serror:%s %s\n' "$_R" "$_N" "$*" >&2; exit 1; }
now()  { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.1fs", b-a}'; }

# step "description" command... : run a step, print its duration, fail loudly.
step() {
  local desc="$1"; shift
  local t0; t0=$(now)
  printf '%s==> %s%s\n' "$_B" "$desc" "$_N"
  # Run in a subshell outside any condition so that `set -e` applies inside functions.
  local rc=0
  set +e
  (set -e; "$@")
  rc=$?
  set -e
  if ((rc == 0)); then
    printf '%s<== %s ok (%s)%s\n' "$_G" "$desc" "$(elapsed "$t0")" "$_N"
  else
    printf '%s<== %s FAILED after %s (exit %d)%s\n' "$_R" "$desc" "$(elapsed "$t0")" "$rc" "$_N" >&2
    exit "$rc"
  fi
}

need_root() { [[ $(id -u) -eq 0 ]] || die "$(basename "$0") must run as root (it creates devices, netns and iptables rules)"; }

# write_file PATH: write stdin to PATH only if the content differs (running components
# such as kube-proxy exit when their config file is touched).
write_file() {
  local tmp; tmp=$(mktemp "$1.XXXXXX")
  cat >"$tmp"
  if cmp -s "$tmp" "$1"; then rm -f "$tmp"; else mv -f "$tmp" "$1"; fi
}

# --- processes ----------------------------------------------------------------------
pidfile() { echo "$RUN/$1.pid"; }

# pid_of NAME: print the recorded pid if that process is still alive and is ours.
pid_of() {
  local f pid; f=$(pidfile "$1")
  [[ -f "$f" ]] || return 1
  pid=$(<"$f")
  [[ -n "$pid" && -d /proc/$pid ]] || return 1
  # Guard against pid reuse: the command line must mention the component.
  [[ "$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" == *"$1"* ]] || return 1
  echo "$pid"
}

# start_daemon NAME CMD... : start CMD in its own session, logging to $LOGS/NAME.log.
start_daemon() {
  local name="$1"; shift
  mkdir -p "$LOGS" "$RUN"
  printf '\n===== %s starting %s =====\n' "$(date -Is)" "$name" >>"$LOGS/$name.log"
  setsid "$@" >>"$LOGS/$name.log" 2>&1 </dev/null &
  local pid=$! i
  echo "$pid" >"$(pidfile "$name")"
  # Until the forked shell execs, /proc/PID/cmdline is this script's, and
  # pid_of's reuse guard would report the daemon dead (seen once in CI, on
  # coredns). Wait out that window, bounded, so the callers' checks are sound.
  for ((i = 0; i < 100; i++)); do
    pid_of "$name" >/dev/null && break
    [[ -d /proc/$pid ]] || break
    sleep 0.02
  done
  info "$name started, pid $pid, log $LOGS/$name.log"
}

# stop_daemon NAME [TIMEOUT]: SIGTERM the recorded pid, SIGKILL after TIMEOUT seconds.
stop_daemon() {
  local name="$1" timeout="${2:-15}" pid i
  if pid=$(pid_of "$name"); then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < timeout * 5; i++)); do [[ -d /proc/$pid ]] || break; sleep 0.2; done
    if [[ -d /proc/$pid ]]; then kill -KILL "$pid" 2>/dev/null || true; sleep 0.2; fi
    info "$name stopped (pid $pid)"
  fi
  rm -f "$(pidfile "$name")"
}

# wait_healthy NAME TIMEOUT CHECK...: poll CHECK until it succeeds; on timeout (or if
# the process died) print the last 40 lines of the component's log and fail.
wait_healthy() {
  local name="$1" timeout="$2"; shift 2
  local deadline=$((SECONDS + timeout))
  while ((SECONDS < deadline)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    if [[ -f "$(pidfile "$name")" ]] && ! pid_of "$name" >/dev/null; then
      printf '%s%s exited; last 40 lines of %s:%s\n' "$_R" "$name" "$LOGS/$name.log" "$_N" >&2
      tail -n 40 "$LOGS/$name.log" >&2 || true
      return 1
    fi
    sleep 0.5
  done
  printf '%s%s not healthy after %ss; last 40 lines of %s:%s\n' "$_R" "$name" "$timeout" "$LOGS/$name.log" "$_N" >&2
  tail -n 40 "$LOGS/$name.log" >&2 || true
  return 1
}

# --- health checks -------------------------------------------------------------------
kubectl_admin() { "$KUBE" kubectl --kubeconfig "$KUBECONFIG_ADMIN" "$@"; }
health_etcd() { [[ "$(curl -fsS --max-time 2 "$ETCD_METRICS_URL/health")" == *'"health":"true"'* ]]; }
health_kube-apiserver() {
  [[ "$(curl -fsS --max-time 3 --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" \
    "https://$NODE_IP:$APISERVER_PORT/readyz")" == ok ]]
}
health_kube-controller-manager() { [[ "$(curl -fsSk --max-time 2 https://127.0.0.1:10257/healthz)" == ok ]]; }
health_kube-scheduler() { [[ "$(curl -fsSk --max-time 2 https://127.0.0.1:10259/healthz)" == ok ]]; }
health_containerd() { ctr --address "$CTRD_SOCK" version >/dev/null 2>&1; }
health_kubelet() { [[ "$(curl -fsS --max-time 2 http://127.0.0.1:10248/healthz)" == ok ]]; }
health_kube-proxy() { curl -fsS --max-time 2 http://127.0.0.1:10256/healthz >/dev/null; }
health_coredns() { [[ "$(curl -fsS --max-time 2 "http://$COREDNS_READY/ready")" == OK* ]]; }

# --- containerd (shared by `up` and `images`) ------------------------------------
write_containerd_config() {
  mkdir -p "$CONF" "$STATE/containerd" "$STATE/cni/net.d"
  write_file "$CONF/containerd.toml" <<EOF
# Generated by e2e/cluster (containerd 1.6, config version 2).
version = 2
root = "$STATE/containerd/root"
state = "$STATE/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp"]

[grpc]
  address = "$CTRD_SOCK"

[ttrpc]
  address = "$CTRD_SOCK.ttrpc"

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "$STATE/containerd/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  disable_apparmor = true
  # Clamp pods' oom_score_adj to containerd's own: without CAP_SYS_RESOURCE (missing on
  # some sandboxed VMs) runc cannot lower it (-998 for sandboxes) and every pod fails.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$STATE/containerd/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$STATE/cni/net.d"
    max_conf_num = 1
EOF
}

ensure_containerd() {
  command -v containerd >/dev/null || die "containerd not installed (apt-get install containerd runc containernetworking-plugins; see scripts/debian-packages.txt)"
  if pid_of containerd >/dev/null && health_containerd; then
    info "containerd already running (pid $(pid_of containerd))"
    return 0
  fi
  write_containerd_config
  start_daemon containerd containerd --config "$CONF/containerd.toml" --log-level info
  wait_healthy containerd 60 health_containerd
}
ctr_k8s() { ctr --address "$CTRD_SOCK" -n k8s.io "$@"; }
