"""Processes and network namespaces for make bench: everything started is
recorded and stopped by its own pid on exit, namespaces are deleted, and
every command is bounded in time."""

import os
import signal
import subprocess
import time

NS_PREFIX = "wbench-"


class BenchError(Exception):
    """Something cannot run: the benchmark fails and says why."""


def run(argv, timeout=60, check=True, **kw):
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)
    except subprocess.TimeoutExpired:
        raise BenchError(f"{' '.join(argv)} did not finish within {timeout}s") from None
    except FileNotFoundError as e:
        raise BenchError(f"{argv[0]} is missing ({e}); run `make setup`") from e
    if check and p.returncode != 0:
        raise BenchError(
            f"{' '.join(argv)} failed (exit {p.returncode}):\n"
            f"{p.stdout[-2000:]}\n{p.stderr[-2000:]}"
        )
    return p


def ns_argv(ns, cpu, argv):
    """argv inside namespace ns, pinned to cpu (None: not pinned). Both
    `ip netns exec` and `taskset` exec, so the pid is the program's."""
    pre = ["ip", "netns", "exec", ns]
    if cpu is not None:
        pre += ["taskset", "-c", str(cpu)]
    return pre + list(argv)


class Procs:
    """Long-running processes, stopped by pid in reverse start order."""

    def __init__(self):
        self.procs = []

    def start(self, name, argv, log, env=None, stdin=subprocess.DEVNULL):
        f = open(log, "w")
        p = subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT, stdin=stdin, env=env)
        self.procs.append((name, p))
        return p

    def stop(self, p, grace=5.0):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(grace)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        self.procs = [(n, q) for n, q in self.procs if q is not p]

    def interrupt(self, p, grace=30.0):
        """SIGINT, so p writes what it gathered (perf), then stop as usual
        if it has not exited within `grace`."""
        p.send_signal(signal.SIGINT)
        try:
            p.wait(grace)
        except subprocess.TimeoutExpired:
            pass
        self.stop(p)

    def stop_all(self):
        for _, p in reversed(list(self.procs)):
            self.stop(p)


def ns_pids(ns):
    p = run(["ip", "netns", "pids", ns], check=False)
    return [int(x) for x in p.stdout.split()]


def delete_namespaces():
    """Deletes this benchmark's namespaces (left by an earlier, killed run
    too), stopping whatever still runs in them: only processes inside our
    own namespaces, each by pid."""
    lines = run(["ip", "netns", "list"]).stdout.splitlines()
    names = [line.split()[0] for line in lines if line.strip()]
    for ns in names:
        if not ns.startswith(NS_PREFIX):
            continue
        for sig in (signal.SIGTERM, signal.SIGKILL):
            pids = ns_pids(ns)
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            if pids:
                time.sleep(0.5)
        run(["ip", "netns", "del", ns], check=False)


class Topology:
    """client <-veth-> server, and a control-plane namespace linked to each
    by its own veth (its traffic never shares the measured link).

        client 198.18.200.1/30  <->  server 198.18.200.2/30
        client 198.18.200.5/30  <->  cp     198.18.200.6/30
        server 198.18.200.9/30  <->  cp     198.18.200.10/30
    """

    NET = "198.18.200.0/24"
    CLIENT = NS_PREFIX + "client"
    SERVER = NS_PREFIX + "server"
    CP = NS_PREFIX + "cp"
    CLIENT_IP, SERVER_IP = "198.18.200.1", "198.18.200.2"
    # The cluster IP of the Service `server` (the routed mode's target):
    # only a weft client proxy knows it, from discovery.
    SERVICE_IP = "198.18.200.100"
    CP_FROM_CLIENT, CP_FROM_SERVER = "198.18.200.6", "198.18.200.10"

    def up(self):
        """The control-plane namespace, for the whole run."""
        delete_namespaces()
        self._ns(self.CP)

    def pods_up(self):
        """Fresh client and server namespaces, for one mode's round: a
        namespace where nat rules were ever loaded keeps connection tracking
        on every packet, which would slow `direct` after a proxy mode."""
        for ns in (self.CLIENT, self.SERVER):
            self._ns(ns)
            # Churn leaves thousands of TIME_WAIT sockets that the idle load
            # after it would otherwise run out of source ports against.
            run(
                [
                    "ip",
                    "netns",
                    "exec",
                    ns,
                    "sysctl",
                    "-q",
                    "-w",
                    "net.ipv4.ip_local_port_range=1024 65535",
                    "net.ipv4.tcp_tw_reuse=1",
                ]
            )
        self._link(self.CLIENT, "eth0", self.CLIENT_IP, self.SERVER, "eth0", self.SERVER_IP)
        # A route to the Service IP, so the client's connect reaches the
        # redirect rules (the packets never leave: the proxy takes them).
        run(["ip", "-n", self.CLIENT, "route", "add", f"{self.SERVICE_IP}/32", "dev", "eth0"])
        self._link(self.CLIENT, "cp0", "198.18.200.5", self.CP, "c0", self.CP_FROM_CLIENT)
        self._link(self.SERVER, "cp0", "198.18.200.9", self.CP, "s0", self.CP_FROM_SERVER)

    def pods_down(self):
        """Deletes the client and server namespaces (their veths go too).
        Their processes must already be stopped. The veths are deleted
        first, explicitly: the kernel tears a namespace down in the
        background, and the control plane's ends would linger into the next
        round's pods_up."""
        for ns, dev in ((self.CP, "c0"), (self.CP, "s0"), (self.CLIENT, "eth0")):
            run(["ip", "-n", ns, "link", "del", dev], check=False)
        for ns in (self.CLIENT, self.SERVER):
            run(["ip", "netns", "del", ns], check=False)

    def _ns(self, ns):
        run(["ip", "netns", "add", ns])
        run(["ip", "-n", ns, "link", "set", "lo", "up"])

    def _link(self, a, a_dev, a_ip, b, b_dev, b_ip):
        run(
            [
                "ip",
                "link",
                "add",
                "wbtmp-a",
                "netns",
                a,
                "type",
                "veth",
                "peer",
                "name",
                "wbtmp-b",
                "netns",
                b,
            ]
        )
        for ns, old, dev, ip in ((a, "wbtmp-a", a_dev, a_ip), (b, "wbtmp-b", b_dev, b_ip)):
            run(["ip", "-n", ns, "link", "set", old, "name", dev])
            run(["ip", "-n", ns, "addr", "add", f"{ip}/30", "dev", dev])
            run(["ip", "-n", ns, "link", "set", dev, "up"])

    def down(self):
        delete_namespaces()


def proc_cpu_seconds(pid):
    """utime + stime of pid, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # After the command: state is field 3; utime and stime are fields 14, 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_anon_kib(pid):
    """RssAnon of pid in KiB: its private memory, without the pages of its
    executable and libraries that every process running them shares."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    return 0


def proc_mem_kib(pid):
    """(VmRSS, VmHWM) of pid in KiB."""
    rss = hwm = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    return rss, hwm
