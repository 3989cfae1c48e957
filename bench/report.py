"""Medians with ranges over rounds, ratios between modes, the targets of
issue #14, as markdown and JSON."""

import datetime
import os
import platform
import statistics

# (key, label, unit, higher is better). Keys are <load>.<figure>; per-proxy
# figures have a _client / _server suffix and appear once per side.
ROWS = [
    ("h1_max.rps", "HTTP/1.1 keep-alive max, 16 conns (wrk)", "req/s", True),
    ("h1_max.p50_us", "  … p50 latency", "µs", False),
    ("h1_max.p99_us", "  … p99 latency", "µs", False),
    ("h1_pingpong.rps", "HTTP/1.1 ping-pong, 1 conn (wrk)", "req/s", True),
    ("h1_pingpong.p50_us", "  … p50 latency", "µs", False),
    ("rate_desync.p50_us", "1000 req/s de-synchronised: p50", "µs", False),
    ("rate_desync.p90_us", "  … p90", "µs", False),
    ("rate_desync.p99_us", "  … p99", "µs", False),
    ("rate_desync.p999_us", "  … p99.9", "µs", False),
    ("rate_burst.p50_us", "1000 req/s in 10 ms bursts: p50", "µs", False),
    ("rate_burst.p90_us", "  … p90", "µs", False),
    ("rate_burst.p99_us", "  … p99", "µs", False),
    ("rate_burst.p999_us", "  … p99.9", "µs", False),
    ("h2_max.rps", "HTTP/2 multiplexed max, 4 conns × 32 streams (h2load)", "req/s", True),
    ("h2_rate.p50_us", "HTTP/2 at 1000 req/s de-synchronised, 1 conn: p50", "µs", False),
    ("h2_rate.p99_us", "  … p99", "µs", False),
    ("h2_rate.p999_us", "  … p99.9", "µs", False),
    ("grpc.rps", "gRPC unary, 1 conn × 32 in flight", "req/s", True),
    ("grpc.p99_us", "  … p99 latency", "µs", False),
    ("tcp_1.gbit_per_s", "TCP bulk, 1 stream (iperf3)", "Gbit/s", True),
    ("tcp_4.gbit_per_s", "TCP bulk, 4 streams (iperf3)", "Gbit/s", True),
    ("churn.rps", "connection churn, 16 conns, Connection: close (wrk)", "conn/s", True),
    ("body_1m.mb_per_s", "1 MB bodies, 4 conns (wrk)", "MB/s", True),
]
PER_PROXY = [
    ("ready_s", "start to ready", "s", False),
    ("h1_max.cpu_us_per_req", "CPU per request, HTTP/1.1 max", "µs", False),
    ("h2_max.cpu_us_per_req", "CPU per request, HTTP/2 max", "µs", False),
    ("grpc.cpu_us_per_req", "CPU per request, gRPC", "µs", False),
    ("rss_idle_mib", "RSS idle", "MiB", False),
    (
        "anon_idle_mib",
        "  … of it private (RssAnon: not the shared executable's pages)",
        "MiB",
        False,
    ),
    ("h1_max.rss_load_mib", "RSS under HTTP/1.1 max", "MiB", False),
    ("rss_peak_mib", "RSS peak (VmHWM, whole run incl. idle conns)", "MiB", False),
    ("idle.kib_per_conn", "memory per idle keep-alive connection", "KiB", False),
]


def meta(rounds, secs, idle, modes, elapsed):
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "rounds": rounds,
        "seconds_per_load": secs,
        "idle_connections": idle,
        "modes": modes,
        "elapsed_s": round(elapsed),
        "kernel": platform.release(),
        "cpus": os.cpu_count(),
    }


def fmt(v):
    if v is None:
        return "–"
    a = abs(v)
    if a >= 100:
        return f"{v:,.0f}"
    if a >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def collect(rounds, modes, key):
    """{mode: [value per round]} for key, skipping rounds without it."""
    out = {}
    for m in modes:
        vals = [
            r["figures"][key]
            for r in rounds
            if r["mode"] == m and r["figures"].get(key) is not None
        ]
        if vals:
            out[m] = vals
    return out


def cell(vals):
    if not vals:
        return "–"
    med = statistics.median(vals)
    if len(vals) == 1:
        return fmt(med)
    return f"{fmt(med)} ({fmt(min(vals))}–{fmt(max(vals))})"


def ratio(a, b):
    if not a or not b:
        return "–"
    mb = statistics.median(b)
    return f"{statistics.median(a) / mb:.2f}×" if mb else "–"


def render(meta, rounds, modes, per_request=None):
    lines = [
        f"# weft data-plane benchmark, {meta['date']}",
        "",
        f"`make bench`: {meta['rounds']} round(s), {meta['seconds_per_load']} s per load, "
        "modes interleaved; client side on CPU0, server side on CPU1, one veth; "
        f"{meta['cpus']} CPUs, kernel {meta['kernel']}. "
        "Cells: median (min–max over rounds).",
        "",
        "| load | unit | " + " | ".join(modes) + " | " + " | ".join(_ratio_heads(modes)) + " |",
        "|---|---|" + "---|" * (len(modes) + len(_ratio_heads(modes))),
    ]
    summary = {}
    for key, label, unit, _ in ROWS:
        v = collect(rounds, modes, key)
        summary[key] = {m: _stats(x) for m, x in v.items()}
        lines.append(
            f"| {label} | {unit} | "
            + " | ".join(cell(v.get(m)) for m in modes)
            + " | "
            + " | ".join(ratio(v.get(a), v.get(b)) for a, b in _ratio_pairs(modes))
            + " |"
        )
    proxies = [m for m in modes if m != "direct"]
    lines += [
        "",
        "Per proxy (client slot / server slot):",
        "",
        "| figure | unit | " + " | ".join(proxies) + " |",
        "|---|---|" + "---|" * len(proxies),
    ]
    for key, label, unit, _ in PER_PROXY:
        row = []
        for m in proxies:
            c = collect(rounds, [m], f"{key}_client").get(m)
            s = collect(rounds, [m], f"{key}_server").get(m)
            summary[f"{key}_client"] = {
                **summary.get(f"{key}_client", {}),
                **({m: _stats(c)} if c else {}),
            }
            summary[f"{key}_server"] = {
                **summary.get(f"{key}_server", {}),
                **({m: _stats(s)} if s else {}),
            }
            row.append(f"{cell(c)} / {cell(s)}")
        lines.append(f"| {label} | {unit} | " + " | ".join(row) + " |")
    lines += [""] + _counts(meta, per_request or {}, proxies)
    loads = collect(rounds, modes, "loadavg_1m")
    if loads:
        lines += [
            "1-minute load average while each mode ran "
            "(2 CPUs; the benchmark itself accounts for about 2): "
            + ", ".join(f"{m} {cell(v)}" for m, v in loads.items())
            + ".",
            "",
        ]
    lines += _routing(rounds, modes)
    lines += _targets(rounds, modes)
    errors = {k: v for k, v in _errors(rounds).items() if v}
    if errors:
        lines += [
            "",
            "Failed requests during loads (counted, not fatal): "
            + ", ".join(f"{k}: {v}" for k, v in sorted(errors.items())),
            "",
        ]
    return "\n".join(lines) + "\n", {
        "meta": meta,
        "summary": summary,
        "rounds": rounds,
        "counts": per_request or {},
    }


def _kilo(v):
    return "–" if v is None else f"{v / 1000:,.1f}k"


def _plain(v):
    return "–" if v is None else f"{v:.2f}"


# (figure, what it counts, how a cell is written)
COUNTED = [
    ("ir", "Instructions (callgrind's Ir, user space)", _kilo),
    ("syscalls", "System calls (perf stat, raw_syscalls:sys_enter)", _plain),
    ("cswitch", "Context switches (perf stat, context-switches)", _plain),
]


def _counts(meta, per_request, proxies):
    """Counts per unit of each counted load, per proxy and side, with
    weft's total (both sides) against each reference proxy's."""
    from counts import COUNT_LOADS

    modes = [m for m in proxies if m in per_request]
    if not modes:
        return ["Counts per request: not measured (BENCH_COUNT_REQUESTS=0).", ""]
    refs = [b for b in ("haproxy", "splice") if b in modes and "weft" in modes]
    lines = [
        f"Counts per request ({meta.get('count_requests')} requests per load after an "
        "unmeasured tenth; client slot / server slot). Counts, not times: they barely "
        "move with the machine's load, so they show a change's effect where timings swing.",
        "",
    ]
    for figure, what, show in COUNTED:
        lines += [
            f"{what} per unit:",
            "",
            "| load | per | " + " | ".join(modes) + "".join(f" | weft/{b}" for b in refs) + " |",
            "|---|---|" + "---|" * (len(modes) + len(refs)),
        ]
        for key, label, unit in COUNT_LOADS:
            k = f"{key}.{figure}"
            row = [
                f"{show(per_request[m].get(f'{k}_per_unit_client'))} / "
                f"{show(per_request[m].get(f'{k}_per_unit_server'))}"
                for m in modes
            ]
            if all(cell == "– / –" for cell in row):
                continue
            for b in refs:
                w, r = _sides(per_request["weft"], k), _sides(per_request[b], k)
                row.append(f"{w / r:.2f}×" if w and r else "–")
            lines.append(f"| {label} | {unit} | " + " | ".join(row) + " |")
        lines.append("")
    return lines


def _sides(count, key):
    c = count.get(f"{key}_per_unit_client")
    s = count.get(f"{key}_per_unit_server")
    return None if c is None or s is None else c + s


def _stats(vals):
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals), "values": vals}


def _ratio_pairs(modes):
    pairs = [(m, "direct") for m in modes if m != "direct" and "direct" in modes]
    for base in ("splice", "haproxy"):
        if base in modes and "weft" in modes:
            pairs.append(("weft", base))
    if "weft" in modes and "weft-routed" in modes:
        pairs.append(("weft-routed", "weft"))
    return pairs


# The HTTP/1.1 loads on port 80, the one the routed mode's HTTPRoute covers.
ROUTED_LOADS = [
    ("h1_max", "HTTP/1.1 max"),
    ("h1_pingpong", "HTTP/1.1 ping-pong"),
    ("rate_desync", "1000 req/s de-synchronised"),
    ("churn", "connection churn"),
]


def _routing(rounds, modes):
    """What a Gateway API route costs the client's proxy: CPU per request
    through a routed Service (`weft-routed`) against the same request to
    the pod (`weft`), both measured in this run."""
    if "weft" not in modes or "weft-routed" not in modes:
        return []
    lines = [
        "Routing cost: the client proxy's CPU per request, plain (`weft`) and",
        "through an HTTPRoute of three rules and a header filter (`weft-routed`):",
        "",
        "| load | weft µs | weft-routed µs | routed/plain |",
        "|---|---|---|---|",
    ]
    for key, label in ROUTED_LOADS:
        plain = _med(rounds, "weft", f"{key}.cpu_us_per_req_client")
        routed = _med(rounds, "weft-routed", f"{key}.cpu_us_per_req_client")
        if plain is None or routed is None:
            continue
        lines.append(f"| {label} | {plain:.1f} | {routed:.1f} | {routed / plain:.2f} |")
    return lines + [""]


def _ratio_heads(modes):
    return [f"{a}/{b}" for a, b in _ratio_pairs(modes)]


def _errors(rounds):
    out = {}
    for r in rounds:
        for k, v in r["figures"].items():
            if k.endswith(".errors"):
                out[f"{r['mode']} {k[:-7]}"] = out.get(f"{r['mode']} {k[:-7]}", 0) + v
    return out


def _med(rounds, mode, key):
    v = collect(rounds, [mode], key).get(mode)
    return statistics.median(v) if v else None


def _targets(rounds, modes):
    """Issue #29's targets for weft against HAProxy, both measured in this
    run (medians)."""
    if "weft" not in modes:
        return []

    def med(mode, k):
        return _med(rounds, mode, k) if mode in modes else None

    rows = []

    def add(what, goal, shown, ok):
        verdict = "–" if ok is None else ("met" if ok else "not met")
        rows.append(f"| {what} | {goal} | {shown} | {verdict} |")

    def sides(mode, k):
        return [med(mode, f"{k}_{side}") for side in ("client", "server")]

    for key, what, factor in (
        ("h1_max.cpu_us_per_req", "CPU per HTTP/1.1 request (max load)", 1),
        ("h2_max.cpu_us_per_req", "CPU per HTTP/2 request (max load)", 2),
        ("grpc.cpu_us_per_req", "CPU per gRPC call", 2),
    ):
        w, h = sides("weft", key), sides("haproxy", key)
        known = None not in w + h
        goal = "≤ haproxy" if factor == 1 else f"≤ {factor}× haproxy"
        shown = f"{fmt(w[0])} / {fmt(w[1])} µs vs {fmt(h[0])} / {fmt(h[1])} µs" if known else "–"
        ok = all(a <= factor * b for a, b in zip(w, h, strict=True)) if known else None
        add(f"{what}, client / server slot", goal, shown, ok)
    for load, label in (("rate_desync", "de-synchronised"), ("rate_burst", "in bursts")):
        for q in ("p50", "p99"):
            k = f"{load}.{q}_us"
            d, w, h = med("direct", k), med("weft", k), med("haproxy", k)
            known = None not in (d, w, h)
            shown = f"+{fmt(w - d)} µs vs +{fmt(h - d)} µs" if known else "–"
            add(
                f"added {q} over direct, 1000 req/s {label}",
                "≤ haproxy's",
                shown,
                (w - d <= h - d) if known else None,
            )
    w, h = med("weft", "grpc.p99_us"), med("haproxy", "grpc.p99_us")
    known = None not in (w, h)
    add(
        "gRPC p99",
        "≤ 2× haproxy",
        f"{fmt(w)} µs vs {fmt(h)} µs" if known else "–",
        (w <= 2 * h) if known else None,
    )
    w, h = med("weft", "tcp_1.gbit_per_s"), med("haproxy", "tcp_1.gbit_per_s")
    known = None not in (w, h)
    add(
        "TCP bulk, 1 stream",
        "≥ haproxy",
        f"{fmt(w)} vs {fmt(h)} Gbit/s" if known else "–",
        (w >= h) if known else None,
    )
    idle = [x for x in sides("weft", "rss_idle_mib") if x is not None]
    anon = [x for x in sides("weft", "anon_idle_mib") if x is not None]
    add(
        "RSS idle (larger proxy)",
        "< 8 MiB",
        (f"{fmt(max(idle))} MiB" + (f", {fmt(max(anon))} MiB of it private" if anon else ""))
        if idle
        else "–",
        (max(idle) < 8) if idle else None,
    )
    churn = med("weft", "churn.rps")
    add(
        "connection churn",
        "≥ 10k conn/s",
        f"{fmt(churn)} conn/s" if churn is not None else "–",
        (churn >= 10000) if churn is not None else None,
    )
    return [
        "Targets (issue #29) for `weft` against `haproxy`, from the medians above:",
        "",
        "| target | goal | weft vs haproxy | |",
        "|---|---|---|---|",
    ] + rows
