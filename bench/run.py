#!/usr/bin/env python3
"""make bench: the data plane against the physical limit (docs/benchmarks.md).

Modes run interleaved (round 1: every mode, round 2: every mode, ...), each
mode starting its slots fresh. Figures are medians over rounds with ranges.
Fails only when something cannot run; never on a number."""

import atexit
import contextlib
import functools
import json
import os
import resource
import shutil
import signal
import sys
import tempfile
import threading
import time

import counts
import loads
import report
from harness import (
    BenchError,
    Procs,
    Topology as T,
    ns_argv,
    proc_anon_kib,
    proc_cpu_seconds,
    proc_mem_kib,
    run,
)

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER_CPU = 1
APP_PORTS = "80,81,5201,50051"
PROXY_UID = 2102
IDS = {
    "client": "spiffe://cluster.local/ns/bench/sa/client",
    "server": "spiffe://cluster.local/ns/bench/sa/server",
}


# Every load, in the order run; BENCH_LOADS picks some.
LOADS = [
    "h1_max",
    "h1_pingpong",
    "rate_desync",
    "rate_burst",
    "h2_max",
    "h2_rate",
    "grpc",
    "tcp_1",
    "tcp_4",
    "churn",
    "body_1m",
    "idle",
]


def env_int(name, default):
    v = os.environ.get(name, "")
    try:
        return int(v) if v else default
    except ValueError:
        raise BenchError(f"{name}={v!r}: expected a whole number") from None


class Bench:
    def __init__(self):
        self.rounds = env_int("BENCH_ROUNDS", 3)
        self.secs = env_int("BENCH_SECONDS", 5)
        self.idle_conns = env_int("BENCH_IDLE_CONNECTIONS", 10000)
        self.modes = os.environ.get("BENCH_MODES", "direct splice haproxy weft weft-routed").split()
        self.loads = os.environ.get("BENCH_LOADS", " ".join(LOADS)).split()
        # Counts per request (counts.py): requests per counted load, 0 for
        # none (a profiled or ad-hoc run).
        self.count_n = env_int("BENCH_COUNT_REQUESTS", 1000)
        counted = [k for k, _, _ in counts.COUNT_LOADS]
        self.count_loads = os.environ.get("BENCH_COUNT_LOADS", " ".join(counted)).split()
        for name in self.count_loads:
            if name not in counted:
                raise BenchError(
                    f"BENCH_COUNT_LOADS: unknown load {name!r}; the counted loads are "
                    + " ".join(counted)
                )
        if self.count_n and not shutil.which("callgrind_control"):
            raise BenchError("instruction counts need valgrind (Debian package valgrind)")
        if self.count_n and not shutil.which("perf"):
            raise BenchError("system-call counts need perf (Debian package linux-perf)")
        for name in self.loads:
            if name not in LOADS:
                raise BenchError(
                    f"BENCH_LOADS: unknown load {name!r}; the loads are {' '.join(LOADS)}"
                )
        self.target = os.environ.get("CARGO_TARGET_DIR") or os.path.expanduser(
            "~/.cache/weft/target"
        )
        # perf record of every proxy under every load, for finding where a
        # proxy spends its CPU (cpu-clock: these machines have no PMU).
        self.profile = os.environ.get("BENCH_PROFILE", "")
        if self.profile and not shutil.which("perf"):
            raise BenchError("BENCH_PROFILE needs perf (Debian package linux-perf)")
        # A profiled run is slowed by perf: its table goes beside the
        # profiles, never over the last full run's.
        self.out_dir = (
            os.environ.get("BENCH_OUT") or self.profile or os.path.join(self.target, "bench")
        )
        for m in self.modes:
            if m != "direct" and not os.access(f"{HERE}/slots/{m}", os.X_OK):
                raise BenchError(f"mode {m!r}: no executable slot script bench/slots/{m}")
        self.procs = Procs()
        self.topo = T()
        # A directory the proxy UID can read: binaries, certificates, configs.
        self.work = tempfile.mkdtemp(prefix="weft-bench-")
        os.chmod(self.work, 0o755)
        self.bin = os.path.join(self.work, "bin")
        os.mkdir(self.bin, 0o755)

    # --- setup -----------------------------------------------------------
    def setup(self):
        # The proxy as it ships (`make proxy-build`), the tools in release.
        for profile, b in (("proxy", "weft-proxy"), ("release", "weft-bench")):
            src = os.path.join(self.target, profile, b)
            if not os.path.exists(src):
                raise BenchError(f"{src} is missing: `make bench-build` builds it")
            shutil.copy(src, self.bin)
        fixture = os.path.join(self.target, "debug", "examples", "bench_control_plane")
        if not os.path.exists(fixture):
            raise BenchError(
                f"{fixture} is missing: cargo build -p weft-proxy --example bench_control_plane"
            )
        # Idle connections need descriptors in every process on their path;
        # a copying proxy holds two per connection. The hard limit is what
        # this machine allows (raising it needs CAP_SYS_RESOURCE).
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if hard == resource.RLIM_INFINITY:
            hard = 1 << 20
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        cap = (hard - 1000) // 2
        if self.idle_conns > cap:
            print(
                f"idle connections: {cap} instead of {self.idle_conns} (descriptor limit {hard}; "
                "a copying proxy needs two per connection)",
                file=sys.stderr,
            )
            self.idle_conns = cap
        self.topo.up()
        self.certs()
        self.cp_dir = os.path.join(self.work, "cp")
        os.mkdir(self.cp_dir, 0o755)
        pods = [f"client-0,client,{T.CLIENT_IP}", f"server-0,server,{T.SERVER_IP},{APP_PORTS}"]
        argv = [fixture, "--dir", self.cp_dir, "--network", T.NET, "--routed-service", T.SERVICE_IP]
        for p in pods:
            argv += ["--pod", p]
        cp = self.procs.start("control plane", ns_argv(T.CP, None, argv), self.log("control-plane"))
        self.wait(
            lambda: "ready" in open(self.log("control-plane")).read(),
            30,
            "control-plane fixture",
            cp,
        )
        for f in os.listdir(self.cp_dir):
            os.chmod(os.path.join(self.cp_dir, f), 0o644)
        self.app_files()

    def log(self, name):
        return os.path.join(self.work, f"{name}.log")

    def certs(self):
        """The haproxy slot's PEM files: a CA and one certificate per side
        with its SPIFFE id as URI SAN (bench-only keys)."""
        d = os.path.join(self.work, "certs")
        os.mkdir(d, 0o755)
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
        run(
            [
                "openssl",
                "req",
                "-x509",
                *ec,
                "-keyout",
                f"{d}/ca.key",
                "-out",
                f"{d}/ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=weft bench CA",
            ]
        )
        for side, sid in IDS.items():
            run(
                [
                    "openssl",
                    "req",
                    *ec,
                    "-keyout",
                    f"{d}/{side}.key",
                    "-out",
                    f"{d}/{side}.csr",
                    "-subj",
                    f"/CN={side}",
                ]
            )
            ext = f"{d}/{side}.ext"
            with open(ext, "w") as f:
                f.write(f"subjectAltName=URI:{sid}\nextendedKeyUsage=serverAuth,clientAuth\n")
            run(
                [
                    "openssl",
                    "x509",
                    "-req",
                    "-in",
                    f"{d}/{side}.csr",
                    "-CA",
                    f"{d}/ca.pem",
                    "-CAkey",
                    f"{d}/ca.key",
                    "-CAcreateserial",
                    "-days",
                    "2",
                    "-extfile",
                    ext,
                    "-out",
                    f"{d}/{side}.pem",
                ]
            )
        for f in os.listdir(d):
            os.chmod(os.path.join(d, f), 0o644)
        self.cert_dir = d

    def app_files(self):
        """The server apps' files: 1 KB and 1 MB bodies, nginx's config."""
        www = os.path.join(self.work, "www")
        os.mkdir(www, 0o755)
        with open(f"{www}/1k", "wb") as f:
            f.write(b"x" * 1024)
        with open(f"{www}/1m", "wb") as f:
            f.write(b"x" * (1 << 20))
        self.nginx_conf = os.path.join(self.work, "nginx.conf")
        with open(f"{HERE}/nginx.conf.in") as f:
            text = (
                f.read()
                .replace("@IP@", T.SERVER_IP)
                .replace("@WWW@", www)
                .replace("@WORK@", self.work)
            )
        with open(self.nginx_conf, "w") as f:
            f.write(text)

    def apps(self):
        """Starts the server apps, pinned to CPU1: nginx (HTTP/1.1 on 80, h2c
        on 81), iperf3, the gRPC echo server. Returns their processes."""

        def srv(argv):
            return ns_argv(T.SERVER, SERVER_CPU, argv)

        nginx = self.procs.start(
            "nginx",
            srv(["nginx", "-p", self.work, "-c", self.nginx_conf, "-e", "stderr"]),
            self.log("nginx"),
        )
        procs = [
            nginx,
            self.procs.start(
                "iperf3", srv(["iperf3", "-s", "-B", T.SERVER_IP, "-p", "5201"]), self.log("iperf3")
            ),
            self.procs.start(
                "grpc",
                srv([f"{self.bin}/weft-bench", "grpc-server", f"{T.SERVER_IP}:50051"]),
                self.log("grpc"),
            ),
        ]
        for port in (80, 81, 5201, 50051):
            self.wait(
                functools.partial(self.tcp_open, T.SERVER, T.SERVER_IP, port),
                10,
                f"server app on port {port}",
                nginx,
            )
        return procs

    def wait(self, ok, limit, what, proc=None):
        t0 = time.monotonic()
        while time.monotonic() - t0 < limit:
            if ok():
                return time.monotonic() - t0
            if proc is not None and proc.poll() is not None:
                raise BenchError(f"{what}: exited with {proc.returncode} before it was ready")
            time.sleep(0.01)
        raise BenchError(f"{what}: not ready within {limit}s")

    @staticmethod
    def tcp_open(ns, ip, port):
        p = run(
            ["ip", "netns", "exec", ns, "bash", "-c", f"exec 3<>/dev/tcp/{ip}/{port}"],
            check=False,
            timeout=5,
        )
        return p.returncode == 0

    @staticmethod
    def http_ok(ns, url):
        p = run(
            [
                "ip",
                "netns",
                "exec",
                ns,
                "curl",
                "-s",
                "-o",
                "/dev/null",
                "-m",
                "1",
                "-w",
                "%{http_code}",
                url,
            ],
            check=False,
            timeout=5,
        )
        return p.stdout.strip() == "200"

    # --- slots -----------------------------------------------------------
    def rules(self):
        """Sidecar rules from the real `weft-proxy init` on both sides."""
        for ns in (T.CLIENT, T.SERVER):
            run(["ip", "netns", "exec", ns, f"{self.bin}/weft-proxy", "init"])

    def slot_env(self, side):
        peer = "server" if side == "client" else "client"
        e = dict(os.environ)
        e.update(
            {
                "SLOT_SIDE": side,
                "SLOT_POD_IP": T.CLIENT_IP if side == "client" else T.SERVER_IP,
                "SLOT_PEER_IP": T.SERVER_IP if side == "client" else T.CLIENT_IP,
                "SLOT_APP_PORTS": APP_PORTS,
                "SLOT_OUTBOUND_PORT": "4140",
                "SLOT_INBOUND_PORT": "4143",
                "SLOT_ADMIN_PORT": "4191",
                "SLOT_UID": str(PROXY_UID),
                "SLOT_GID": str(PROXY_UID),
                "SLOT_ID": IDS[side],
                "SLOT_PEER_ID": IDS[peer],
                "SLOT_CERT": f"{self.cert_dir}/{side}.pem",
                "SLOT_KEY": f"{self.cert_dir}/{side}.key",
                "SLOT_CA": f"{self.cert_dir}/ca.pem",
                "SLOT_WORKDIR": self.work,
                "SLOT_BIN_DIR": self.bin,
                "WEFT_BENCH_CP_ADDR": T.CP_FROM_CLIENT if side == "client" else T.CP_FROM_SERVER,
                "WEFT_BENCH_CP_DIR": self.cp_dir,
            }
        )
        return e

    def start_slots(self, mode, rnd, wrap=None):
        """Starts both slots; returns {side: (proc, seconds to ready)}.
        `wrap(side)`, when given, is the command each slot runs its proxy
        under (SLOT_WRAP)."""
        script = f"{HERE}/slots/{mode}"
        probe = run([script, "probe"], env=self.slot_env("client")).stdout.strip()
        slots = {}
        for side, ns, cpu, ip in (
            ("server", T.SERVER, SERVER_CPU, T.SERVER_IP),
            ("client", T.CLIENT, loads.CLIENT_CPU, T.CLIENT_IP),
        ):
            t0 = time.monotonic()
            env = self.slot_env(side)
            if wrap:
                env["SLOT_WRAP"] = " ".join(wrap(side))
            p = self.procs.start(
                f"{mode} {side}",
                ns_argv(ns, cpu, [script, side]),
                self.log(f"{mode}-{side}-{rnd}"),
                env=env,
            )
            if probe.startswith("http:"):
                port, path = probe[5:].split("/", 1)
                ok = functools.partial(self.http_ok, ns, f"http://{ip}:{port}/{path}")
            else:
                port = 4140 if side == "client" else 4143
                lip = "127.0.0.1" if side == "client" else ip
                ok = functools.partial(self.tcp_open, ns, lip, port)
            limit = counts.READY_LIMIT if wrap else 30
            self.wait(ok, limit, f"{mode} {side} slot (log {self.log(f'{mode}-{side}-{rnd}')})", p)
            slots[side] = (p, time.monotonic() - t0)
        return slots

    # --- one mode, one round ------------------------------------------------
    @contextlib.contextmanager
    def pods(self):
        """Fresh client and server namespaces with the server apps running,
        torn down on leaving."""
        self.topo.pods_up()
        apps = self.apps()
        try:
            yield
        finally:
            for p in apps:
                self.procs.stop(p)
            self.topo.pods_down()

    def measure(self, mode, rnd):
        with self.pods():
            return self.measure_in(mode, rnd)

    def measure_in(self, mode, rnd):
        slots = {}
        if mode != "direct":
            self.rules()
            slots = self.start_slots(mode, rnd)
        pids = {side: p.pid for side, (p, _) in slots.items()}
        r = {}
        for side, (_, ready) in slots.items():
            r[f"ready_s_{side}"] = ready
        time.sleep(0.3)
        for side, pid in pids.items():
            r[f"rss_idle_mib_{side}"] = proc_mem_kib(pid)[0] / 1024
            r[f"anon_idle_mib_{side}"] = proc_anon_kib(pid) / 1024
        # The routed mode sends the HTTP/1.1 loads through the Service
        # (port 80 carries the fixture's HTTPRoute); the rest go to the pod.
        ip = T.SERVICE_IP if mode == "weft-routed" else T.SERVER_IP
        s, url = self.secs, f"http://{T.SERVER_IP}"
        routed = f"http://{ip}"

        def proxied(name, fn):
            """Runs a load, recording the proxies' CPU and largest RSS."""
            if name not in self.loads:
                return
            perfs = self.perf_start(mode, rnd, name, pids)
            cpu0 = {side: proc_cpu_seconds(pid) for side, pid in pids.items()}
            peak = {side: 0 for side in pids}
            stop = threading.Event()

            def sample():
                while not stop.wait(0.2):
                    for side, pid in pids.items():
                        peak[side] = max(peak[side], proc_mem_kib(pid)[0])

            t = threading.Thread(target=sample)
            t.start()
            try:
                res = fn()
            except BenchError as e:
                raise BenchError(f"mode {mode}, load {name}: {e}") from e
            finally:
                stop.set()
                t.join()
                self.perf_stop(perfs)
            for side, (p, _) in slots.items():
                if p.poll() is not None:
                    log = self.log(f"{mode}-{side}-{rnd}")
                    raise BenchError(
                        f"mode {mode}: the {side} slot exited ({p.returncode}) during load {name}; "
                        f"its log:\n{open(log).read()[-2000:]}"
                    )
            for side, pid in pids.items():
                cpu = proc_cpu_seconds(pid) - cpu0[side]
                if res.get("requests"):
                    res[f"cpu_us_per_req_{side}"] = cpu / res["requests"] * 1e6
                res[f"rss_load_mib_{side}"] = peak[side] / 1024
            for k, v in res.items():
                r[f"{name}.{k}"] = v
            time.sleep(0.3)

        proxied("h1_max", lambda: loads.wrk(f"{routed}/1k", 16, s))
        proxied("h1_pingpong", lambda: loads.wrk(f"{routed}/1k", 1, s))
        proxied("rate_desync", lambda: loads.rate(self.bin, "desync", s, ip=ip))
        proxied("rate_burst", lambda: loads.rate(self.bin, "burst", s, ip=ip))
        proxied("h2_max", lambda: loads.h2load(f"{url}:81/1k", 4, 32, s))
        proxied("h2_rate", lambda: loads.rate(self.bin, "desync", s, http2=True))
        proxied("grpc", lambda: loads.grpc(self.bin, s))
        proxied("tcp_1", lambda: loads.iperf(1, s))
        proxied("tcp_4", lambda: loads.iperf(4, s))
        proxied("churn", lambda: loads.wrk(f"{routed}/1k", 16, s, headers=["Connection: close"]))
        proxied("body_1m", lambda: loads.wrk(f"{url}/1m", 4, s))
        if "idle" in self.loads:
            self.idle(mode, rnd, pids, r)
        for side, pid in pids.items():
            r[f"rss_peak_mib_{side}"] = proc_mem_kib(pid)[1] / 1024
        for p, _ in slots.values():
            self.procs.stop(p)
            if p.returncode not in (0, -signal.SIGTERM, 128 + signal.SIGTERM):
                print(f"  note: {mode} slot exited with {p.returncode}", file=sys.stderr)
        return r

    def perf_start(self, mode, rnd, load, pids):
        if not self.profile:
            return []
        os.makedirs(self.profile, exist_ok=True)
        out = []
        for side, pid in pids.items():
            data = os.path.join(self.profile, f"{mode}-{load}-{side}-{rnd}.data")
            argv = [
                "perf",
                "record",
                "-q",
                "-e",
                "cpu-clock",
                "-F",
                "999",
                "-g",
                "-p",
                str(pid),
                "-o",
                data,
            ]
            out.append(
                (
                    self.procs.start(
                        f"perf-{side}", argv, self.log(f"perf-{mode}-{load}-{side}-{rnd}")
                    ),
                    data,
                )
            )
        time.sleep(0.2)  # attached before the load starts
        return out

    def perf_stop(self, perfs):
        for p, data in perfs:
            self.procs.interrupt(p)
            print(f"   profile: perf report -i {data}", flush=True)

    def idle(self, mode, rnd, pids, r):
        """Holds idle keep-alive connections and reads each proxy's RSS."""
        before = {side: proc_mem_kib(pid)[0] for side, pid in pids.items()}
        log = self.log(f"idle-{mode}-{rnd}")
        argv = ns_argv(
            T.CLIENT,
            loads.CLIENT_CPU,
            [
                f"{self.bin}/weft-bench",
                "idle",
                f"{T.SERVER_IP}:80",
                "--count",
                str(self.idle_conns),
                "--hold",
                "120",
            ],
        )
        p = self.procs.start("idle", argv, log)
        try:
            what = f"mode {mode}: {self.idle_conns} idle connections"
            try:
                self.wait(lambda: "ready" in open(log).read(), 110, what, p)
            except BenchError as e:
                raise BenchError(f"{e}; its output:\n{open(log).read()[-1500:]}") from e
            time.sleep(1.0)
            held = int(open(log).read().split("ready", 1)[1].split()[0])
            if held == 0:
                raise BenchError(
                    f"mode {mode}: no idle connection could be opened:\n{open(log).read()[-1500:]}"
                )
            r["idle.connections"] = held
            for side, pid in pids.items():
                grown = proc_mem_kib(pid)[0] - before[side]
                r[f"idle.kib_per_conn_{side}"] = grown / max(held, 1)
                r[f"idle.rss_mib_{side}"] = proc_mem_kib(pid)[0] / 1024
        finally:
            self.procs.stop(p, grace=15)

    def count_per_request(self):
        """Each proxy mode twice more on fixed loads (counts.py): once as
        it is, under `perf stat`, once under callgrind.
        {mode: {f"{load}.{figure}_per_unit_{side}": count}}."""
        if not self.count_n:
            return {}
        cg_dir = counts.out_dir(self.work)
        out = {}
        for mode in self.modes:
            if mode == "direct":
                continue
            for how in ("perf stat", "callgrind"):
                print(f"== counts: {mode} ({how})", flush=True)
                t = time.monotonic()
                if how == "callgrind":
                    counter = counts.Callgrind(PROXY_UID)
                    wrap = functools.partial(counts.valgrind_argv, cg_dir, mode)
                else:
                    counter, wrap = counts.PerfStat(self.procs, self.work), None
                got = self.count_mode(mode, how.replace(" ", "-"), counter, wrap)
                out.setdefault(mode, {}).update(got)
                print(f"   {time.monotonic() - t:.0f}s", flush=True)
        return out

    def count_mode(self, mode, tag, counter, wrap):
        with self.pods():
            self.rules()
            slots = self.start_slots(mode, tag, wrap=wrap)
            pids = {side: p.pid for side, (p, _) in slots.items()}
            ip = T.SERVICE_IP if mode == "weft-routed" else T.SERVER_IP
            try:
                return counts.count(pids, self.bin, ip, self.count_n, self.count_loads, counter)
            except BenchError as e:
                raise BenchError(f"mode {mode}, counts under {tag}: {e}") from e
            finally:
                for p, _ in slots.values():
                    self.procs.stop(p, grace=30)

    # --- everything ------------------------------------------------------------
    def main(self):
        t0 = time.monotonic()
        self.setup()
        rounds = []
        for rnd in range(1, self.rounds + 1):
            for mode in self.modes:
                print(f"== round {rnd}/{self.rounds}: {mode}", flush=True)
                t = time.monotonic()
                load0 = os.getloadavg()[0]
                figures = self.measure(mode, rnd)
                # The machine is shared: the 1-minute load average beside each
                # mode's figures shows when something else competed for the CPUs.
                figures["loadavg_1m"] = max(load0, os.getloadavg()[0])
                rounds.append({"round": rnd, "mode": mode, "figures": figures})
                print(f"   {time.monotonic() - t:.0f}s", flush=True)
        per_request = self.count_per_request()
        meta = report.meta(
            self.rounds, self.secs, self.idle_conns, self.modes, time.monotonic() - t0
        )
        meta["count_requests"] = self.count_n
        md, js = report.render(meta, rounds, self.modes, per_request)
        os.makedirs(self.out_dir, exist_ok=True)
        with open(os.path.join(self.out_dir, "data-plane.md"), "w") as f:
            f.write(md)
        with open(os.path.join(self.out_dir, "data-plane.json"), "w") as f:
            json.dump(js, f, indent=1)
        print(md)
        print(
            f"written: {self.out_dir}/data-plane.md and data-plane.json "
            f"({time.monotonic() - t0:.0f}s)"
        )

    def cleanup(self):
        self.procs.stop_all()
        self.topo.down()
        if os.environ.get("BENCH_KEEP_WORKDIR"):
            print(f"work dir kept: {self.work}", file=sys.stderr)
        else:
            shutil.rmtree(self.work, ignore_errors=True)


LOCK_PATH = "/run/lock/weft-bench.lock"


def hold_lock():
    """One run at a time: runs share the wbench-* namespace names, so a
    second one would tear down the first one's network mid-measurement."""
    import fcntl

    os.makedirs(os.path.dirname(LOCK_PATH), exist_ok=True)
    f = open(LOCK_PATH, "a+")
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.seek(0)
        holder = f.read().strip() or "unknown"
        sys.exit(
            f"make bench cannot run: another run holds {LOCK_PATH} (pid {holder}); "
            "wait for it to finish"
        )
    f.seek(0)
    f.truncate()
    f.write(str(os.getpid()))
    f.flush()
    return f


def main():
    if os.geteuid() != 0:
        sys.exit("make bench creates network namespaces and must run as root")
    lock = hold_lock()  # noqa: F841 (held until exit)
    # SIGTERM/SIGINT unwind through the cleanup below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        b = Bench()
    except BenchError as e:
        sys.exit(f"make bench cannot run: {e}")
    atexit.register(b.cleanup)
    try:
        b.main()
    except BenchError as e:
        sys.exit(f"make bench cannot run: {e}")


if __name__ == "__main__":
    main()
