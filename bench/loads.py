"""The loads, each run from the client namespace pinned to CPU0 against the
server app, returning a dict of figures. A load that cannot run raises
BenchError; numbers never fail the benchmark."""

import json
import re

from harness import BenchError, Topology as T, ns_argv, run

CLIENT_CPU = 0


def client(argv, timeout):
    return run(ns_argv(T.CLIENT, CLIENT_CPU, argv), timeout=timeout)


_UNIT = {"us": 1.0, "ms": 1e3, "s": 1e6}


def _us(text):
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    return float(m.group(1)) * _UNIT[m.group(2)] if m else None


def wrk(url, conns, secs, headers=()):
    argv = ["wrk", "-t1", f"-c{conns}", f"-d{secs}s", "--latency", "--timeout", "10s"]
    for h in headers:
        argv += ["-H", h]
    out = client(argv + [url], timeout=secs + 30).stdout
    m = re.search(r"(\d+) requests in ([\d.]+)(\w+)", out)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not m or not rps or int(m.group(1)) == 0:
        raise BenchError(f"wrk {url} made no requests:\n{out}")
    r = {"requests": int(m.group(1)), "rps": float(rps.group(1))}
    for q in ("50", "90", "99"):
        lm = re.search(rf"^\s+{q}%\s+(\S+)", out, re.M)
        if lm:
            r[f"p{q}_us"] = _us(lm.group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    r["errors"] = (int(bad.group(1)) if bad else 0) + (
        sum(int(x) for x in sock.groups()) if sock else 0
    )
    tr = re.search(r"Transfer/sec:\s+([\d.]+)(\w+)", out)
    if tr:
        scale = {"B": 1e-6, "KB": 1e-3, "MB": 1.0, "GB": 1e3}.get(tr.group(2), 0)
        r["mb_per_s"] = float(tr.group(1)) * scale
    return r


def h2load(url, clients, streams, secs):
    out = client(
        ["h2load", f"-c{clients}", f"-m{streams}", f"-D{secs}", "--warm-up-time=200ms", url],
        timeout=secs + 30,
    ).stdout
    m = re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", out)
    done = re.search(
        r"requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, (\d+) errored",
        out,
    )
    if not m or not done or int(done.group(1)) == 0:
        raise BenchError(f"h2load {url} made no requests:\n{out}")
    return {
        "rps": float(m.group(1)),
        "requests": int(done.group(1)),
        "errors": int(done.group(2)) + int(done.group(3)),
    }


def iperf(streams, secs):
    p = run(
        ns_argv(
            T.CLIENT,
            CLIENT_CPU,
            ["iperf3", "-c", T.SERVER_IP, "-p", "5201", "-t", str(secs), "-P", str(streams), "-J"],
        ),
        timeout=secs + 30,
        check=False,
    )
    try:
        j = json.loads(p.stdout)
        bps = j["end"]["sum_received"]["bits_per_second"]
    except (ValueError, KeyError) as e:
        raise BenchError(
            f"iperf3 -P {streams} gave no result ({e}):\n{p.stdout[-1500:]}\n{p.stderr[-500:]}"
        ) from e
    return {"gbit_per_s": bps / 1e9}


def tool(bin_dir, args, secs):
    out = client([f"{bin_dir}/weft-bench"] + args, timeout=secs + 60).stdout
    try:
        return json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise BenchError(f"weft-bench {' '.join(args)} printed no result:\n{out}") from None


def rate(bin_dir, arrivals, secs, rps=1000, http2=False, ip=T.SERVER_IP):
    port = 81 if http2 else 80
    args = [
        "rate",
        f"{ip}:{port}",
        "--rate",
        str(rps),
        "--seconds",
        str(secs),
        "--arrivals",
        arrivals,
    ]
    r = tool(bin_dir, args + (["--http2"] if http2 else []), secs)
    if r["requests"] == 0:
        raise BenchError(f"rate {arrivals}: no request succeeded: {r}")
    return r


def grpc(bin_dir, secs):
    r = tool(
        bin_dir,
        ["grpc-load", f"{T.SERVER_IP}:50051", "--concurrency", "32", "--seconds", str(secs)],
        secs,
    )
    if r["requests"] == 0:
        raise BenchError(f"gRPC load: no call succeeded: {r}")
    return r
