"""Counts per request, from short loads of a fixed size: figures that do
not depend on what else the machine is doing, so a change's gain shows
even on a busy 2-core machine (docs/benchmarks.md#counts-per-request).

- Instructions: each proxy runs under valgrind's callgrind. Callgrind
  starts with its instrumentation off (the proxies start at near their
  normal speed); the harness switches it on once a slot is ready, and
  around each load zeroes the counters and reads them (`callgrind_control`,
  over valgrind's gdbserver pipes in /tmp). They are guest instructions
  (valgrind's `Ir`): the proxy's own code and its libraries, not the
  kernel's work for its system calls.
- System calls and context switches: the proxies run normally and `perf
  stat` counts the `raw_syscalls:sys_enter` tracepoint and the
  `context-switches` software event of each (both work without a hardware
  counter). The kernel's share of a proxy's CPU follows these.

Each load runs once unmeasured first (a tenth of its size), so one-time
costs (discovery, the first mesh connection, lazy set-up) stay out; see
MARGINAL for the keep-alive loads."""

import os
import re
import shutil
import time

import loads
from harness import BenchError, Topology as T, run

# (key, label, unit of the count). A load's size is BENCH_COUNT_REQUESTS
# requests (bytes and connections scaled from it, see _load).
COUNT_LOADS = [
    ("h1", "HTTP/1.1 keep-alive, one request at a time (h2load --h1 -c1)", "request"),
    ("h1_c16", "HTTP/1.1 keep-alive, 16 conns (h2load --h1 -c16)", "request"),
    ("h2", "HTTP/2, 1 conn × 8 streams (h2load -m8)", "request"),
    ("grpc", "gRPC unary, 1 conn × 8 in flight", "call"),
    ("churn", "new connection per request, Connection: close", "connection"),
    ("tcp", "TCP bulk, 1 stream (iperf3 -n)", "MiB"),
]

# How long a slot may take to become ready under valgrind.
READY_LIMIT = 120


# valgrind's gdbserver names its pipes after LOGNAME and HOST (`???` when
# unset); callgrind_control must see the same two.
VGDB_ENV = ["LOGNAME=weft-bench", "HOST=bench"]


# callgrind counts each iteration of `rep movsb` and `rep stosb` as an
# instruction, and glibc's memcpy and memset switch to them above a size
# threshold: a 64 KiB copy would count ~30x what its vector loop counts and
# costs. With the thresholds out of reach, every copy counts its loop.
NO_REP_STRINGS = (
    "GLIBC_TUNABLES=glibc.cpu.x86_rep_movsb_threshold=1099511627776:"
    "glibc.cpu.x86_rep_stosb_threshold=1099511627776"
)


def valgrind_argv(out_dir, mode, side):
    return [
        "env",
        *VGDB_ENV,
        NO_REP_STRINGS,
        shutil.which("valgrind") or "valgrind",
        "-q",
        "--tool=callgrind",
        "--instr-atstart=no",
        f"--callgrind-out-file={out_dir}/{mode}-{side}.%p.callgrind",
    ]


def control(uid, pid, *args):
    """callgrind_control as the proxy's own user: vgdb wakes a proxy blocked
    in a system call with ptrace, which valgrind answers only from its
    own user."""
    setpriv = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]
    return run([*setpriv, "env", *VGDB_ENV, "callgrind_control", *args, str(pid)], timeout=60)


def read_ir(uid, pid):
    """The guest instructions pid has run since its counters were zeroed,
    summed over its threads."""
    out = control(uid, pid, "-e", "Ir").stdout
    counts = [int(m.group(1).replace(",", "")) for m in re.finditer(r"Th\s+\d+\s+([\d,]+)", out)]
    if not counts:
        raise BenchError(f"callgrind_control -e Ir {pid} printed no count:\n{out}")
    return sum(counts)


def _h2load(argv, n):
    out = loads.client(["h2load", "-n", str(n), *argv], timeout=600).stdout
    done = re.search(r"requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded", out)
    if not done or int(done.group(1)) != n:
        raise BenchError(f"h2load {' '.join(argv)}: not every request succeeded:\n{out}")
    return n


def _load(key, n, bin_dir, ip):
    """Runs load `key` of size n; returns how many units it carried."""
    if key == "h1":
        return _h2load(["--h1", "-c1", "-m1", f"http://{ip}/1k"], n)
    if key == "h1_c16":
        return _h2load(["--h1", "-c16", "-m1", f"http://{ip}/1k"], max(n, 16))
    if key == "h2":
        return _h2load(["-c1", "-m8", f"http://{T.SERVER_IP}:81/1k"], n)
    if key == "grpc":
        r = loads.tool(
            bin_dir,
            [
                "grpc-load",
                f"{T.SERVER_IP}:50051",
                "--concurrency",
                "8",
                "--requests",
                str(n),
                "--seconds",
                "600",
            ],
            600,
        )
        if r["requests"] != n:
            raise BenchError(f"gRPC load: {r['requests']} of {n} calls succeeded: {r}")
        return n
    if key == "churn":
        conns = max(n // 5, 10)
        r = loads.tool(
            bin_dir,
            ["churn", f"{ip}:80", "--count", str(conns), "--seconds", "600"],
            600,
        )
        if r["requests"] != conns:
            raise BenchError(f"churn: {r['requests']} of {conns} connections completed: {r}")
        return conns
    if key == "tcp":
        mib = max(n // 16, 4)
        p = run(
            loads.ns_argv(
                T.CLIENT,
                loads.CLIENT_CPU,
                ["iperf3", "-c", T.SERVER_IP, "-p", "5201", "-n", f"{mib}M", "-J"],
            ),
            timeout=600,
            check=False,
        )
        if p.returncode != 0:
            raise BenchError(f"iperf3 -n {mib}M failed:\n{p.stdout[-1500:]}\n{p.stderr[-500:]}")
        return mib
    raise BenchError(f"unknown counted load {key!r}")


class Callgrind:
    """Instructions, from proxies started under `valgrind_argv`, running
    as `uid`."""

    def __init__(self, uid):
        self.uid = uid

    def begin(self, pids):
        for pid in pids.values():
            control(self.uid, pid, "-i", "on")

    def start(self, pids):
        for pid in pids.values():
            control(self.uid, pid, "-z")

    def stop(self, pids):
        return {side: {"ir": read_ir(self.uid, pid)} for side, pid in pids.items()}


class PerfStat:
    """System calls and context switches, from `perf stat` attached to
    each proxy for the length of a load."""

    EVENTS = {"raw_syscalls:sys_enter": "syscalls", "context-switches": "cswitch"}

    def __init__(self, procs, log_dir):
        self.procs, self.log_dir, self.running = procs, log_dir, []

    def begin(self, pids):
        pass

    def start(self, pids):
        self.running = []
        for side, pid in pids.items():
            out = os.path.join(self.log_dir, f"perf-stat-{side}.csv")
            argv = ["perf", "stat", "-x,", "-o", out, "-p", str(pid)]
            for e in self.EVENTS:
                argv += ["-e", e]
            p = self.procs.start(f"perf stat {side}", argv, out + ".log")
            self.running.append((side, p, out))
        time.sleep(0.3)  # attached before the load starts

    def stop(self, pids):
        got = {}
        for side, p, out in self.running:
            self.procs.interrupt(p)
            got[side] = {}
            with open(out) as f:
                for line in f:
                    cells = line.strip().split(",")
                    if len(cells) > 2 and cells[2] in self.EVENTS and cells[0].isdigit():
                        got[side][self.EVENTS[cells[2]]] = int(cells[0])
            if set(got[side]) != set(self.EVENTS.values()):
                raise BenchError(f"perf stat -p {pids[side]} counted nothing:\n{open(out).read()}")
        return got


# Loads whose connections live for the whole load: each is counted twice,
# at n and at 2n requests, and the difference is divided by n, so what
# opening the load's connections costs (a TLS handshake per connection for
# HAProxy, ~4M instructions) cancels out and the figure is the cost of a
# request on an open connection. Churn and bulk TCP keep it: it is theirs.
MARGINAL = {"h1", "h1_c16", "h2", "grpc"}


def count(pids, bin_dir, ip, n, selected, counter):
    """{f"{key}.{figure}_per_unit_{side}": count} for each counted load in
    `selected`, with the slots whose pids are `pids` already ready."""
    counter.begin(pids)
    out = {}

    def measured(key, size):
        counter.start(pids)
        units = _load(key, size, bin_dir, ip)
        return units, counter.stop(pids)

    for key, _, _ in COUNT_LOADS:
        if key not in selected:
            continue
        _load(key, max(n // 10, 1), bin_dir, ip)
        units, got = measured(key, n)
        if key in MARGINAL:
            units2, got2 = measured(key, 2 * n)
            units = units2 - units
            got = {
                side: {f: got2[side][f] - v for f, v in figures.items()}
                for side, figures in got.items()
            }
        for side, figures in got.items():
            for figure, v in figures.items():
                out[f"{key}.{figure}_per_unit_{side}"] = v / units
    return out


def out_dir(work):
    """Where callgrind may write (the proxies run as the slot's UID): its
    files are written at exit and are not read here."""
    d = os.path.join(work, "callgrind")
    os.makedirs(d, exist_ok=True)
    os.chmod(d, 0o777)
    return d
