#!/usr/bin/env python3
"""policy_bench.py - msgs/s of sluice with the default policy (rdns + helo + dnsbl + spf +
rules/default.rules, warm cache) against the plain proxy and the direct path.

    direct:  smtp-source (127.0.0.1) ─────────────────────────────► smtp-sink 127.0.0.1:20025
    plain:   smtp-source (192.0.2.10) ─► sluice 192.0.2.10:20026 ─► smtp-sink   (no filters)
    policy:  smtp-source (192.0.2.10) ─► sluice 192.0.2.10:20027 ─► smtp-sink   (the default policy)
                                           ├─ UDP ─► dnsmasq 127.0.0.1:20054 (PTR, A, SPF TXT)
                                           │            └─ UDP ─► rbldnsd 127.0.0.1:20053 (zen/dbl)
                                           └─ spf thread pool (libspf2) ─► dnsmasq

The clients come from 192.0.2.10 (TEST-NET-1, added to lo inside the namespace), not from
127.0.0.1, because libspf2 passes loopback clients without any DNS work: with 192.0.2.10 the
SPF record of the sender domain is really fetched and evaluated. 192.0.2.10 has a PTR
(bench-client.bench.test) whose A record points back (FCrDNS pass), bench.test's SPF record
allows it, and neither DNS list lists it or the sender domain, so mail flows and every check
runs on every session.

Same discipline as bench/smtp_bench.py (whose helpers it imports; it does not modify it):
private network namespace (unshare -n), verify against a counting sink, warm-up, timed
repetitions in a rotating order, runs disturbed by other processes repeated, medians and
ranges, only our own children stopped (Popen handles). See bench/POLICY-RESULTS.md.
"""
import argparse
import json
import os
import re
import shutil
import signal
import smtplib
import socket
import statistics
import subprocess
import sys
import threading
import time
import resource

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import smtp_bench as sb  # noqa: E402  (helpers only: /proc readers, sink, process handling)

CLIENT_IP = "192.0.2.10"          # the load's source address (on lo, inside the namespace)
LO = "127.0.0.1"
PTR_NAME = "bench-client.bench.test"
SENDER = "sender@bench.test"      # what smtp-source sends: -f sender@bench.test
SPF_OK = "v=spf1 ip4:192.0.2.10 -all"
SPF_FAIL_DOMAIN = "spf-fail.bench.test"
SPF_FAIL = "v=spf1 ip4:192.0.2.99 -all"
LISTED_SENDER = "x@listed.bench.test"   # on dbl.bench.test (weight 1: below the threshold)
LISTED_IP = "127.0.0.2"                 # on zen.bench.test (weight 3: refused by the rules)
TARGETS = ("direct", "plain", "policy")
RBLDNSD = "/usr/sbin/rbldnsd"
DNSMASQ = "/usr/sbin/dnsmasq"
ZONE_TTL = 3600                   # TTL and SOA minimum (negative TTL) of the lists: warm cache
LOCAL_TTL = 3600                  # dnsmasq's own records (PTR, A, TXT)


def log(msg):
    sb.log(msg)


def die(msg):
    sb.die(msg)


# ------------------------------------------------------------------ namespace

def enter_netns(argv):
    """Re-exec this script under `unshare -n` with lo up and 192.0.2.10/32 on lo."""
    if os.environ.get("SLUICE_POLICY_BENCH_NETNS") != "1":
        if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("ip"):
            die("need root, unshare and ip to create a private network namespace")
        os.execvp("unshare", ["unshare", "-n", "--", "env", "SLUICE_POLICY_BENCH_NETNS=1", "sh", "-c",
                              f'ip link set lo up && ip addr add {CLIENT_IP}/32 dev lo || exit 1; exec "$@"',
                              "sh", sys.executable, os.path.abspath(__file__), *argv])
    with open("/proc/self/net/dev") as f:
        ifs = {line.split(":")[0].strip() for line in f.readlines()[2:]}
    if ifs != {"lo"}:
        die(f"not in a private network namespace (interfaces: {sorted(ifs)})")
    addrs = subprocess.run(["ip", "-4", "-o", "addr", "show", "dev", "lo"], capture_output=True,
                           text=True, timeout=10).stdout
    if f"{CLIENT_IP}/32" not in addrs:
        die(f"{CLIENT_IP} is not on lo: {addrs!r}")


# ------------------------------------------------------------------ SMTP helpers (host-aware)

def smtp_banner(host, port, timeout):
    deadline = time.monotonic() + timeout
    with socket.create_connection((host, port), timeout=timeout) as s:
        buf = b""
        while b"\n" not in buf and time.monotonic() < deadline:
            d = s.recv(4096)
            if not d:
                break
            buf += d
        ok = buf.startswith(b"220")
        try:
            s.sendall(b"QUIT\r\n")
            s.recv(4096)
        except OSError:
            pass
        return ok


def wait_smtp(host, port, timeout, proc):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            if smtp_banner(host, port, 2.0):
                return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


def port_free(host, port):
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex((host, port)) != 0


def run_source(a, host, port, msgs, sess, logpath, timeout):
    """smtp-source as in smtp_bench.run_source, to host:port. Wall time, CPU (rusage), rc, output."""
    cmd = ["smtp-source", "-m", str(msgs), "-s", str(sess), "-l", str(a.size),
           "-M", "bench.test", "-f", SENDER, "-t", "rcpt@bench.test", f"{host}:{port}"]
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(logpath, "wb") as lf:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=lf, stderr=subprocess.STDOUT)
        timed_out = threading.Event()

        def on_timeout():
            if p.returncode is None:
                timed_out.set()
                p.kill()
        timer = threading.Timer(timeout, on_timeout)
        timer.start()
        rc = p.wait()
        wall = time.perf_counter() - t0
        timer.cancel()
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(logpath, errors="replace") as f:
        out = f.read()
    return {"wall": wall, "rc": rc, "timed_out": timed_out.is_set(), "output": out,
            "src_cpu": (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)}


# ------------------------------------------------------------------ sluice

def policy_conf(a):
    rules = os.path.abspath(a.rules)
    return ["dns {", f"  servers {LO}:{a.dnsmasq_port}", "  timeout 500ms", "  tries 2",
            "  cache_size 10000", "  ttl_min 0s", "  ttl_max 1d", "}",
            "rdns { }",
            "helo { }",
            "dnsbl {", "  list zen.bench.test*3", "  list dbl.bench.test { on sender }", "  threshold 3",
            "  verdict off", "}",
            "spf { }",
            f"include {rules}"]


def write_conf(a, name, port, extra, decision_log):
    path = os.path.join(a.out, f"{name}.conf")
    with open(path, "w") as f:
        f.write(f"# written by bench/policy_bench.py\n"
                f"hostname bench.sluice.test\n"
                f"listen {CLIENT_IP}:{port}\n"
                f"backend {LO}:{a.sink_port}\n"
                f"xclient {a.xclient}\n"
                f"backend_reuse {a.backend_reuse}\n"
                f"log_level {a.log_level}\n"
                f"decision_log {decision_log or 'off'}\n"
                f"workers {a.workers}\n"
                f"limit sessions 20000\n"
                f"limit sessions_per_ip 20000\n")
        for line in extra:
            f.write(line + "\n")
    return path


def start_sluice(a, name, port, extra=(), decision_log=None):
    conf = write_conf(a, name, port, extra, decision_log)
    chk = subprocess.run([a.sluice, "-c", conf, "-t"], capture_output=True, text=True, timeout=30)
    if chk.returncode != 0:
        die(f"sluice -t rejected {conf}: {chk.stderr.strip()}")
    logpath = os.path.join(a.out, f"{name}.log")
    p = sb.start([a.sluice, "-c", conf], logpath)
    if not wait_smtp(CLIENT_IP, port, 30, p):
        die(f"sluice did not answer 220 on {CLIENT_IP}:{port} (see {logpath})")
    return p


# ------------------------------------------------------------------ DNS: rbldnsd and dnsmasq

def dns_ask(port, name, qtype=1, timeout=1.0):
    """One UDP query to 127.0.0.1:port -> (rcode, [answer types], negative TTL from an SOA or None)."""
    qid = int.from_bytes(os.urandom(2), "big")
    q = qid.to_bytes(2, "big") + b"\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
    q += b"".join(bytes([len(x)]) + x.encode() for x in name.split(".")) + b"\x00" \
        + qtype.to_bytes(2, "big") + b"\x00\x01"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        try:
            s.sendto(q, (LO, port))
            m = s.recv(4096)
        except OSError:
            return None
    if len(m) < 12 or m[:2] != q[:2]:
        return None

    def skip(off):
        while m[off]:
            if m[off] & 0xC0 == 0xC0:
                return off + 2
            off += 1 + m[off]
        return off + 1
    rcode, an, ns = m[3] & 0xF, int.from_bytes(m[6:8], "big"), int.from_bytes(m[8:10], "big")
    off = skip(12) + 4
    types, neg = [], None
    for i in range(an + ns):
        off = skip(off)
        rtype, ttl, rdlen = (int.from_bytes(m[off:off + 2], "big"), int.from_bytes(m[off + 4:off + 8], "big"),
                             int.from_bytes(m[off + 8:off + 10], "big"))
        off += 10
        if i < an:
            types.append(rtype)
        elif rtype == 6:
            neg = min(ttl, int.from_bytes(m[off + rdlen - 4:off + rdlen], "big"))
        off += rdlen
    return rcode, types, neg


class Rbl(sb.Rbldnsd):
    """rbldnsd with the two lists of the policy (warm: TTL and SOA minimum 3600 s).
    stats() (SIGUSR1 counters) comes from smtp_bench.Rbldnsd."""

    def __init__(self, a):
        self.a, self.proc = a, None
        self.dir = os.path.join(a.out, "rbldnsd")
        self.log = os.path.join(a.out, "rbldnsd.log")
        os.makedirs(self.dir, exist_ok=True)
        os.chmod(a.out, 0o755)
        os.chmod(self.dir, 0o755)
        head = [f"$SOA {ZONE_TTL} ns.bench.test hostmaster.bench.test 1 600 300 86400 {ZONE_TTL}",
                f"$TTL {ZONE_TTL}"]
        # 192.0.2.10 (the load) is NOT listed; 192.0.2.99 and 127.0.0.2 are
        zen = head + [":127.0.0.2:Listed on the bench list, see https://zen.bench.test/q?ip=$",
                      "127.0.0.2", "127.0.0.3", "192.0.2.99", "198.51.100.7"]
        dbl = head + [":127.0.1.2:Domain $ is listed", "listed.bench.test", ".spam.bench.test"]
        self.zones = {"zen.bench.test": ("ip4set", "zen.bench.test.ip4set"),
                      "dbl.bench.test": ("dnset", "dbl.bench.test.dnset")}
        for text, (_z, (_t, fn)) in zip((zen, dbl), self.zones.items()):
            with open(os.path.join(self.dir, fn), "w") as f:
                f.write("\n".join(text) + "\n")
            os.chmod(os.path.join(self.dir, fn), 0o644)

    def start(self):
        cmd = [RBLDNSD, "-n", "-c", "0", "-b", f"{LO}/{self.a.rbl_port}", "-w", self.dir]
        cmd += [f"{z}:{t}:{fn}" for z, (t, fn) in self.zones.items()]
        self.proc = sb.start(cmd, self.log)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and self.proc.poll() is None:
            if dns_ask(self.a.rbl_port, "zen.bench.test", 1, 0.3) is not None:
                break
            time.sleep(0.1)
        else:
            die(f"rbldnsd did not answer on {LO}:{self.a.rbl_port} (see {self.log})")
        with open(self.log, errors="replace") as f:
            if re.search(r"^rbldnsd: file ", f.read(), re.M):
                die(f"rbldnsd rejected zone data (see {self.log})")
        return self


class Dnsmasq:
    """dnsmasq on 127.0.0.1:--dnsmasq-port: the one resolver sluice (and its spf pool) asks.
    Answers PTR/A/TXT of bench.test itself (TTL 3600), forwards the two lists to rbldnsd,
    refuses everything else (no upstream). Cache off: every query it gets is counted.
    query_log: --log-queries=extra (verification only; it costs dnsmasq CPU per query).
    Counters: SIGUSR1 prints 'queries forwarded N, queries answered locally M' (cumulative)."""
    COUNTS = re.compile(r"queries forwarded (\d+), queries answered locally (\d+)")

    def __init__(self, a, tag, query_log):
        self.a, self.proc, self.query_log = a, None, query_log
        self.log = os.path.join(a.out, f"dnsmasq-{tag}.log")

    def cmd(self):
        a = self.a
        c = [DNSMASQ, "-k", f"--port={a.dnsmasq_port}", f"--listen-address={LO}", "--bind-interfaces",
             "--no-resolv", "--no-hosts", "--no-poll", "--cache-size=0", "--conf-file=/dev/null", "--pid-file=",
             f"--log-facility={self.log}", f"--local-ttl={LOCAL_TTL}",
             "--local=/bench.test/", "--local=/in-addr.arpa/",
             f"--server=/zen.bench.test/{LO}#{a.rbl_port}", f"--server=/dbl.bench.test/{LO}#{a.rbl_port}",
             f"--ptr-record=10.2.0.192.in-addr.arpa,{PTR_NAME}",
             f"--host-record={PTR_NAME},{CLIENT_IP}",
             f"--txt-record=bench.test,{SPF_OK}",
             f"--txt-record={SPF_FAIL_DOMAIN},{SPF_FAIL}"]
        if self.query_log:
            c.append("--log-queries=extra")
        return c

    def start(self):
        open(self.log, "a").close()
        os.chmod(self.log, 0o666)
        self.proc = sb.start(self.cmd(), os.path.join(self.a.out, "dnsmasq-stderr.log"))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and self.proc.poll() is None:
            if dns_ask(self.a.dnsmasq_port, "bench.test", 16, 0.3) is not None:
                break
            time.sleep(0.1)
        else:
            die(f"dnsmasq did not answer on {LO}:{self.a.dnsmasq_port} (see {self.log})")
        return self

    def check(self):
        """Every answer the bench traffic needs, as designed, through dnsmasq."""
        p, t = self.a.dnsmasq_port, ZONE_TTL
        want = [("10.2.0.192.in-addr.arpa", 12, (0, [12], None)),       # PTR -> bench-client.bench.test
                (PTR_NAME, 1, (0, [1], None)),                          # A -> 192.0.2.10 (FCrDNS)
                ("bench.test", 16, (0, [16], None)),                    # SPF record of the sender domain
                (SPF_FAIL_DOMAIN, 16, (0, [16], None)),
                ("10.2.0.192.zen.bench.test", 1, (3, [], t)),           # not listed, negative TTL 3600
                ("bench.test.dbl.bench.test", 1, (3, [], t)),
                ("2.0.0.127.zen.bench.test", 1, (0, [1], None)),        # listed
                ("listed.bench.test.dbl.bench.test", 1, (0, [1], None)),
                ("example.com", 1, (5, [], None))]                      # REFUSED: nothing leaves
        for name, qt, exp in want:
            got = dns_ask(p, name, qt, 2.0)
            if got != exp:
                die(f"dnsmasq answers {name} type {qt}: (rcode, answer types, negative TTL) {got}, expected {exp}")

    def stats(self):
        """(forwarded, answered locally) since dnsmasq started."""
        def last():
            with open(self.log, errors="replace") as f:
                m = self.COUNTS.findall(f.read())
            return m
        n0 = len(last())
        self.proc.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            m = last()
            if len(m) > n0:
                return int(m[-1][0]), int(m[-1][1])
            time.sleep(0.02)
        die(f"dnsmasq printed no statistics after SIGUSR1 (see {self.log})")

    def queries(self, start_off=0):
        """From a query log: Counter of (type, kind) of the queries from sluice, and forwards."""
        kinds = {}
        fwd = 0
        with open(self.log, errors="replace") as f:
            f.seek(start_off)
            for line in f:
                m = re.search(r"query\[(\w+)\] (\S+) from 127\.0\.0\.1", line)
                if m:
                    qt, name = m.groups()
                    k = (qt, classify(name))
                    kinds[k] = kinds.get(k, 0) + 1
                elif re.search(r" forwarded \S+ to 127\.0\.0\.1#", line):
                    fwd += 1
        return kinds, fwd


def classify(name):
    name = name.lower().rstrip(".")
    if name.endswith(".in-addr.arpa"):
        return "PTR of client" if name == "10.2.0.192.in-addr.arpa" else name
    if name.endswith(".zen.bench.test"):
        return "zen: client ip" if name == "10.2.0.192.zen.bench.test" else name
    if name.endswith(".dbl.bench.test"):
        return "dbl: sender domain" if name == "bench.test.dbl.bench.test" else name
    if name == PTR_NAME:
        return "A of PTR name (FCrDNS)"
    if name == "bench.test":
        return "sender domain (SPF)"
    return name


def thread_stats(pid):
    """{tid: (cpu seconds, context switches voluntary + involuntary)} of every thread of pid."""
    out = {}
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/stat", "rb") as f:
                data = f.read().decode("latin-1")
            fl = data[data.rfind(")") + 2:].split()
            cs = 0
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                        cs += int(line.split()[1])
            out[int(tid)] = ((int(fl[11]) + int(fl[12])) / sb.CLK, cs)
        except (OSError, ValueError, IndexError):
            continue
    return out


# ------------------------------------------------------------------ sanity sessions

def smtp_try(port, sender, source=None):
    """EHLO, MAIL, RCPT, (DATA if RCPT was accepted) -> (MAIL code, RCPT code, RCPT text)."""
    with smtplib.SMTP(CLIENT_IP, port, local_hostname="sanity.bench.test", timeout=15,
                      source_address=(source, 0) if source else None) as s:
        s.ehlo()
        mc, _ = s.mail(sender)
        rc, rt = s.rcpt("rcpt@bench.test")
        if rc == 250:
            s.data(b"Subject: sanity\r\n\r\nsanity\r\n")
        try:
            s.quit()
        except smtplib.SMTPException:
            pass
    return mc, rc, rt.decode(errors="replace")


def sanity(ports):
    """The policy path is live: SPF fail refused (550 5.7.23); a zen-listed client (127.0.0.2) with a
    dbl-listed sender refused 554 naming both lists (both lists asked, rules decide); a dbl-listed
    sender alone (score 1 < 3) accepted; plain accepts the SPF-fail sender."""
    res, bad = {}, []
    mc, rc, rt = smtp_try(ports["policy"], f"x@{SPF_FAIL_DOMAIN}")
    res["spf-fail sender from 192.0.2.10 (policy)"] = f"MAIL {mc}, RCPT {rc} {rt[:90]}"
    if mc != 250 or rc != 550 or not rt.startswith("5.7.23"):
        bad.append("SPF fail was not refused 550 5.7.23")
    mc, rc, rt = smtp_try(ports["plain"], f"x@{SPF_FAIL_DOMAIN}")
    res["spf-fail sender from 192.0.2.10 (plain)"] = f"MAIL {mc}, RCPT {rc}"
    if mc != 250 or rc != 250:
        bad.append("plain refused the SPF-fail sender")
    mc, rc, rt = smtp_try(ports["policy"], LISTED_SENDER, source=LISTED_IP)
    res[f"client {LISTED_IP} (zen-listed) with sender {LISTED_SENDER} (dbl-listed), policy"] = \
        f"MAIL {mc}, RCPT {rc} {rt[:100]}"
    if rc != 554 or "zen.bench.test" not in rt or "dbl.bench.test" not in rt:
        bad.append("zen-listed client with dbl-listed sender not refused 554 naming both lists")
    mc, rc, rt = smtp_try(ports["policy"], LISTED_SENDER)
    res[f"sender {LISTED_SENDER} (dbl-listed, weight 1 < threshold 3, policy)"] = f"MAIL {mc}, RCPT {rc}"
    if mc != 250 or rc != 250:
        bad.append("dbl-listed sender (below threshold) refused")
    return res, bad


def decisions(path):
    """Decision records: list of dicts (one JSON object a line)."""
    recs = []
    try:
        with open(path, errors="replace") as f:
            for line in f:
                line = line.strip()
                if line:
                    try:
                        recs.append(json.loads(line))
                    except ValueError:
                        recs.append({"event": "(unparsable)", "raw": line[:200]})
    except OSError:
        pass
    return recs


def describe_decisions(recs):
    c = {}
    for r in recs:
        k = (r.get("event"), r.get("why"), r.get("client"), r.get("from"), r.get("ptr"))
        c[k] = c.get(k, 0) + 1
    return [f"{n} x event={e} why={w} client={cl} from={fr} ptr={p}" for (e, w, cl, fr, p), n in sorted(
        c.items(), key=lambda kv: -kv[1])]


# ------------------------------------------------------------------ the benchmark

def order(rep):
    k = (rep - 1) % len(TARGETS)
    o = list(TARGETS[k:] + TARGETS[:k])
    return o[::-1] if rep % 2 == 0 else o


def perf_profile(a, sl, port, tag):
    """perf record -g on one sluice during an untimed load; the top of perf report to a file."""
    data = os.path.join(a.out, f"perf-{tag}.data")
    rep = os.path.join(a.out, f"perf-{tag}.txt")
    pr = subprocess.Popen(["perf", "record", "-F", "999", "-g", "-o", data, "-p", str(sl.pid), "--",
                           "sleep", str(a.perf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sb.STARTED.append(pr)
    time.sleep(0.3)
    r = run_source(a, CLIENT_IP, port, a.msgs, a.sessions, os.path.join(a.out, f"perf-source-{tag}.log"),
                   a.run_timeout)
    try:
        pr.wait(timeout=a.perf + 30)
    except subprocess.TimeoutExpired:
        pass
    sb.stop(pr)
    with open(rep, "w") as f:
        for args in (["--sort", "dso"], ["--sort", "dso,sym"]):
            out = subprocess.run(["perf", "report", "-i", data, "--stdio", "--no-children", "-g", "none",
                                  "--percent-limit", "0.5"] + args,
                                 capture_output=True, text=True, timeout=120).stdout
            f.write(out + "\n")
    log(f"perf {tag}: {a.msgs / r['wall']:.0f} msg/s during the profile; report in {rep}")
    return rep


def strace_count(a, sl, port, tag):
    """strace -c -f on one sluice during an untimed --verify-message load: system calls per message."""
    path = os.path.join(a.out, f"strace-{tag}.txt")
    st = subprocess.Popen(["strace", "-c", "-f", "-o", path, "-p", str(sl.pid)], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
    sb.STARTED.append(st)
    time.sleep(1.0)
    run_source(a, CLIENT_IP, port, a.verify, min(a.sessions, a.verify),
               os.path.join(a.out, f"strace-source-{tag}.log"), a.run_timeout)
    time.sleep(0.5)
    st.send_signal(signal.SIGINT)  # strace detaches and writes its table
    try:
        st.wait(timeout=20)
    except subprocess.TimeoutExpired:
        pass
    sb.stop(st)
    calls, total = {}, 0
    try:
        with open(path) as f:
            for line in f:
                fl = line.split()
                if len(fl) >= 5 and fl[0][0].isdigit() and fl[-1] != "total":
                    n = int(fl[3])
                    calls[fl[-1]] = n
                elif fl and fl[-1] == "total":
                    total = int(fl[2]) if len(fl) >= 3 else 0
    except (OSError, ValueError):
        pass
    top = sorted(calls.items(), key=lambda kv: -kv[1])[:14]
    return (f"{sum(calls.values()) / a.verify:.1f} syscalls/msg: "
            + ", ".join(f"{k} {v / a.verify:.2f}" for k, v in top) + f" ({path})")


def main_bench(a):
    ports = {"direct": a.sink_port, "plain": a.listen_port, "policy": a.listen_port + 1}
    hosts = {"direct": LO, "plain": CLIENT_IP, "policy": CLIENT_IP}
    for t in TARGETS:
        if not port_free(hosts[t], ports[t]):
            die(f"port {hosts[t]}:{ports[t]} already in use")
    maxconn = max(1024, a.sessions * 2 + 256)
    meta = [f"date: {time.strftime('%Y-%m-%dT%H:%M:%S%z')}",
            f"host: {' '.join(os.uname()[0:3:2])} {os.uname().machine}, {os.cpu_count()} CPUs",
            f"sluice: {a.sluice} ({subprocess.run([a.sluice, '-V'], capture_output=True, text=True).stdout.strip()})",
            f"git: {subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], capture_output=True, text=True, cwd=ROOT).stdout.strip()}",
            f"postfix {sb.pkg_version('postfix')}, rbldnsd {sb.pkg_version('rbldnsd')}, "
            f"dnsmasq {sb.pkg_version('dnsmasq-base')}, libspf2 {sb.pkg_version('libspf2-2')}",
            f"params: -m {a.msgs} -s {a.sessions} -l {a.size} -n {a.reps} verify {a.verify} warmup {a.warmup} "
            f"cooldown {a.cooldown}s settle {a.settle}s; log_level {a.log_level}, workers {a.workers}, "
            f"xclient {a.xclient}, backend_reuse {a.backend_reuse}",
            "network: private namespace (unshare -n), lo only: 127.0.0.1 and 192.0.2.10/32",
            f"command: {' '.join(sys.argv)}"]
    with open(os.path.join(a.out, "meta.txt"), "w") as f:
        f.write("\n".join(meta) + "\n")

    rbl = Rbl(a).start()
    dq = Dnsmasq(a, "verify", query_log=True).start()
    dq.check()
    sink, sinklog = sb.start_sink(a, True, maxconn, "verify")
    # verification runs the policy sluice with a decision log (every policy.* record, observe ones
    # too, and a conn.close + msg.accept record per session); the timed runs use the same config
    # with decision_log off, like plain (a decision log costs two JSON writes per message)
    declog = os.path.join(a.out, "decisions-policy-verify.jsonl")
    sl = {"plain": start_sluice(a, "sluice-plain", ports["plain"]),
          "policy": start_sluice(a, "sluice-policy-verify", ports["policy"], policy_conf(a), declog)}

    # 1. verify: every path delivers exactly --verify messages; the policy path's DNS, logged
    verified, vq = {}, {}
    for tgt in TARGETS:
        before = sb.sink_count(sinklog)
        with open(dq.log, errors="replace") as f:
            off = f.seek(0, 2)
        d0 = dq.stats()
        r = run_source(a, hosts[tgt], ports[tgt], a.verify, min(a.sessions, a.verify),
                       os.path.join(a.out, f"verify-{tgt}.log"), a.run_timeout)
        got = 0
        for _ in range(50):
            got = sb.sink_count(sinklog) - before
            if got >= a.verify:
                break
            time.sleep(0.2)
        if r["rc"] != 0 or got != a.verify or r["output"].strip():
            die(f"verification via {tgt}: smtp-source rc={r['rc']}, sink counted {got} of {a.verify}; "
                f"source output: {r['output'][-500:]!r}")
        time.sleep(0.5)
        d1 = dq.stats()
        kinds, fwd = dq.queries(off)
        vq[tgt] = {"queries": sum(d1) - sum(d0), "forwarded": d1[0] - d0[0], "kinds": kinds, "fwd_logged": fwd}
        if tgt != "policy" and vq[tgt]["queries"]:
            die(f"verification via {tgt}: {vq[tgt]['queries']} DNS queries, expected none")
        if tgt == "policy" and vq[tgt]["queries"] < a.verify:
            die(f"verification via policy: only {vq[tgt]['queries']} DNS queries for {a.verify} messages "
                f"(is SPF evaluated?) {kinds}")
        verified[tgt] = f"{got}/{a.verify} at the counting sink"
        log(f"verified: {a.verify} messages via {tgt} reached the counting sink; DNS queries at dnsmasq "
            f"{vq[tgt]['queries']} ({vq[tgt]['forwarded']} forwarded to rbldnsd)")
    san0, bad = sanity(ports)
    if bad:
        die("sanity: " + "; ".join(bad) + f" {san0}")
    log("sanity sessions passed: " + "; ".join(f"{k}: {v}" for k, v in san0.items()))
    sb.stop(sl["policy"])
    recs = decisions(declog)
    bench_pol = [r for r in recs if r.get("client") == CLIENT_IP and r.get("from") == SENDER
                 and str(r.get("event", "")).startswith("policy.")]
    accepted = sum(1 for r in recs if r.get("event") == "msg.accept" and r.get("from") == SENDER
                   and r.get("client") == CLIENT_IP)
    if bench_pol or accepted != a.verify:
        die(f"decision log of the verification: {len(bench_pol)} policy records for the bench traffic, "
            f"{accepted} msg.accept of {a.verify}: " + "; ".join(describe_decisions(recs)[:10]))
    verified["policy"] += (f"; decision log: {accepted} msg.accept from {SENDER}, 0 policy.* records for them "
                           f"({len(recs)} records in all)")
    sl["policy"] = start_sluice(a, "sluice-policy", ports["policy"], policy_conf(a), None)
    # the threads before any SPF check: main and workers; the spf pool's threads start at the first check
    core_tids = set(thread_stats(sl["policy"].pid))
    sb.stop(sink)
    # the timed runs use a dnsmasq without the query log (same port, same records): logging costs CPU
    time.sleep(0.5)
    sb.stop(dq.proc)
    dns = Dnsmasq(a, "timed", query_log=False).start()
    dns.check()
    sink, _ = sb.start_sink(a, False, maxconn, "timed")

    # 2. warm up (fills the policy sluice's per-worker caches)
    for tgt in TARGETS:
        r = run_source(a, hosts[tgt], ports[tgt], a.warmup, a.sessions, os.path.join(a.out, f"warmup-{tgt}.log"),
                       a.run_timeout)
        if r["rc"] != 0 or r["output"].strip():
            die(f"warmup via {tgt} failed rc={r['rc']}: {r['output'][-500:]!r}")
    time.sleep(a.cooldown)
    rss_warm = {t: sb.status_kb(p.pid, "VmRSS") for t, p in sl.items()}
    log(f"warmup done ({a.warmup} msgs per target)")

    # 3. timed repetitions
    rows, counted, rep, budget = [], 0, 0, a.retries * len(TARGETS)

    def all_alive():
        return all(sb.alive(p.pid) for p in sl.values()) and sb.alive(rbl.proc.pid) and sb.alive(dns.proc.pid)

    def snap():
        return ({t: sb.cpu_s(p.pid) for t, p in sl.items()}, sb.cpu_s(sink.pid), sb.rchar(sink.pid),
                sb.tcp_active_opens(), sb.host_busy(), sb.cpu_s(rbl.proc.pid), sb.cpu_s(dns.proc.pid),
                sb.udp_counters(), {t: thread_stats(p.pid) for t, p in sl.items()})

    def one_run(rep, tgt, attempt):
        time.sleep(a.cooldown)
        busy0 = sb.wait_quiet(a.quiet_max, a.quiet_wait)
        r0, d0 = rbl.stats(), dns.stats()
        pre = snap()
        tag = f"{rep}-{tgt}" + (f"-{attempt}" if attempt else "")
        r = run_source(a, hosts[tgt], ports[tgt], a.msgs, a.sessions, os.path.join(a.out, f"source-{tag}.log"),
                       a.run_timeout)
        time.sleep(a.settle)
        post = snap()
        r1, d1 = rbl.stats(), dns.stats()
        sl_cpu = {t: post[0][t] - pre[0][t] for t in sl}
        sk_cpu, rbl_cpu, dns_cpu = post[1] - pre[1], post[5] - pre[5], post[6] - pre[6]
        status = "ok"
        if r["timed_out"]:
            status = "timeout"
        elif r["rc"] != 0:
            status = f"rc{r['rc']}"
        elif r["output"].strip():
            status = "srcmsg"
        elif post[2] - pre[2] < a.msgs * a.size:
            status = "short"
        elif not all_alive():
            status = "died"
        host_cpu = (post[4][0] - pre[4][0]) / sb.CLK
        ours = r["src_cpu"] + sk_cpu + sum(sl_cpu.values()) + rbl_cpu + dns_cpu
        own = sl_cpu.get(tgt)
        n = a.msgs
        dq_n = (d1[0] + d1[1]) - (d0[0] + d0[1])
        th = {}
        if own is not None:
            t0s, t1s = pre[8][tgt], post[8][tgt]
            both = [tid for tid in t1s if tid in t0s]
            th["ctxsw"] = sum(t1s[i][1] - t0s[i][1] for i in both)
            th["pool"] = sum(t1s[i][0] - t0s[i][0] for i in both if tgt == "policy" and i not in core_tids)
        row = {"rep": rep, "target": tgt, "attempt": attempt, "status": status, "msgs": n,
               "wall_s": round(r["wall"], 3), "msgs_per_s": round(n / r["wall"], 1),
               "src_cpu_s": round(r["src_cpu"], 2), "sink_cpu_s": round(sk_cpu, 2),
               "sluice_cpu_s": round(own, 2) if own is not None else "",
               "src_us_per_msg": round(r["src_cpu"] / n * 1e6, 1),
               "sink_us_per_msg": round(sk_cpu / n * 1e6, 1),
               "sluice_us_per_msg": round(own / n * 1e6, 1) if own is not None else "",
               "sluice_per_src_cpu": round(own / r["src_cpu"], 3) if own is not None and r["src_cpu"] > 0 else "",
               "sluice_spf_pool_us_per_msg": round(th["pool"] / n * 1e6, 1) if tgt == "policy" else "",
               "sluice_ctxsw_per_msg": round(th["ctxsw"] / n, 2) if own is not None else "",
               "dnsmasq_us_per_msg": round(dns_cpu / n * 1e6, 1),
               "rbldnsd_us_per_msg": round(rbl_cpu / n * 1e6, 1),
               "dns_queries": dq_n, "dns_q_per_msg": round(dq_n / n, 4),
               "dns_forwarded": d1[0] - d0[0], "rbldnsd_queries": r1["*"] - r0["*"],
               "udp_out_per_msg": round((post[7][0] - pre[7][0]) / n, 4),
               "udp_errors": post[7][1] - pre[7][1],
               "sink_bytes_per_msg": round((post[2] - pre[2]) / n),
               "tcp_opens_per_msg": round((post[3] - pre[3]) / n, 2),
               "foreign_cpu_s": round(host_cpu - ours, 2), "busy_before": round(busy0, 2)}
        row["noisy"] = int(row["foreign_cpu_s"] > a.noise_max * (r["wall"] + a.settle))
        row["counted"] = 0
        log(f"rep {rep} {tgt}: {status} {row['msgs_per_s']} msg/s wall {row['wall_s']}s"
            + (f" sluice {row['sluice_us_per_msg']} us/msg" if own is not None else "")
            + f" dns {row['dns_q_per_msg']} q/msg ({row['dns_forwarded']} fwd) dnsmasq {row['dnsmasq_us_per_msg']}"
            f" us/msg foreign {row['foreign_cpu_s']} s")
        if status != "ok":
            log(f"  smtp-source output: {r['output'][-800:]!r}")
        return row

    while counted < a.reps and all_alive():
        rep += 1
        for tgt in order(rep):
            for attempt in range(3):
                row = one_run(rep, tgt, attempt)
                rows.append(row)
                if not row["noisy"] or attempt == 2 or budget == 0 or not all_alive():
                    break
                budget -= 1
                log(f"rep {rep} {tgt} disturbed by another process (foreign CPU); repeating this run")
            row["counted"] = 1
            if not all_alive():
                log("a sluice, rbldnsd or dnsmasq is gone; stopping the timed runs")
                break
        counted += 1
    # 4. policy events of the bench traffic in the timed sluice's log (policy.reject/tempfail are notice)
    ev_timed = op_policy_events(os.path.join(a.out, "sluice-policy.log"))
    san1, bad1 = sanity(ports) if all_alive() else ({}, ["skipped: a process died"])
    perf = {}
    if a.strace and all_alive():
        for t in ("plain", "policy"):
            perf[f"strace {t}"] = strace_count(a, sl[t], ports[t], t)
    if a.perf > 0 and all_alive():
        for t in ("plain", "policy"):
            perf[t] = perf_profile(a, sl[t], ports[t], t)
    mem = {t: (sb.status_kb(p.pid, "VmRSS"), sb.status_kb(p.pid, "VmHWM"), sb.status_kb(p.pid, "Threads"))
           for t, p in sl.items()}
    rcs = {t: sb.stop(p) for t, p in sl.items()}
    sb.stop(sink)
    sb.stop(dns.proc)
    sb.stop(rbl.proc)
    with open(os.path.join(a.out, "results.tsv"), "w") as f:
        f.write("\t".join(rows[0].keys()) + "\n" if rows else "")
        for row in rows:
            f.write("\t".join(str(v) for v in row.values()) + "\n")
    return summary(a, meta, rows, rss_warm, mem, rcs, verified, vq, san0, san1, bad1, ev_timed,
                   decisions(declog), perf)


def op_policy_events(path):
    """policy.* lines of an operational log -> {(event, client, from): count}."""
    c = {}
    try:
        with open(path, errors="replace") as f:
            for line in f:
                m = re.search(r"ev=(policy\.\S+)", line)
                if m:
                    cl = re.search(r" client=(\S+)", line)
                    fr = re.search(r" from=(\S+)", line)
                    k = (m.group(1), cl.group(1) if cl else "", fr.group(1) if fr else "")
                    c[k] = c.get(k, 0) + 1
    except OSError:
        pass
    return c


def summary(a, meta, rows, rss_warm, mem, rcs, verified, vq, san0, san1, bad1, ev_timed, recs_verify, perf):
    out = [f"== sluice policy run: -m {a.msgs} -s {a.sessions} -l {a.size} -n {a.reps}, one session per message, "
           f"log_level {a.log_level}, workers {a.workers}, xclient {a.xclient}, backend_reuse {a.backend_reuse}",
           meta[1], meta[4],
           "plain: no filters.  policy: dns { servers dnsmasq; cache 10000 }, rdns { }, helo { }, "
           "dnsbl { list zen.bench.test*3; list dbl.bench.test { on sender }; threshold 3; verdict off }, spf { }, "
           f"include {os.path.abspath(a.rules)}; clients from {CLIENT_IP} (PTR {PTR_NAME}, FCrDNS pass, "
           "SPF pass, not listed); zones and local records TTL 3600 s (warm cache)",
           f"{'target':<7} {'ok':>5}  {'msgs/s median [min-max]':<24} {'ratio vs direct':<22} "
           f"{'sluice us/msg':<20} {'DNS q/msg':<22} {'dnsmasq us/msg':<16} {'rbldnsd us/msg':<15} "
           f"{'sink us/msg':<17} {'foreign cpu s':<16}"]
    cnt = [r for r in rows if r["counted"]]
    by = {t: [r for r in cnt if r["target"] == t and r["status"] == "ok"] for t in TARGETS}
    per = {rep: {r["target"]: r for r in cnt if r["rep"] == rep and r["status"] == "ok"}
           for rep in sorted({r["rep"] for r in cnt})}
    fmt = sb.fmt

    def paired(f, need):
        return [f(d) for d in per.values() if all(t in d for t in need)]
    for t in TARGETS:
        ok = by[t]
        n = len([r for r in cnt if r["target"] == t])
        col = lambda k: [r[k] for r in ok if r[k] != ""]  # noqa: E731
        ratio = paired(lambda d: d[t]["msgs_per_s"] / d["direct"]["msgs_per_s"], ("direct", t))
        out.append(f"{t:<7} {len(ok):>2}/{n:<2}  {fmt(col('msgs_per_s')):<24} "
                   f"{fmt(ratio, '{:.3f}') if t != 'direct' else '-':<22} "
                   f"{fmt(col('sluice_us_per_msg'), '{:.1f}') if t != 'direct' else '-':<20} "
                   f"{fmt(col('dns_q_per_msg'), '{:.3f}'):<22} {fmt(col('dnsmasq_us_per_msg'), '{:.1f}'):<16} "
                   f"{fmt(col('rbldnsd_us_per_msg'), '{:.1f}'):<15} {fmt(col('sink_us_per_msg'), '{:.1f}'):<17} "
                   f"{fmt(col('foreign_cpu_s'), '{:.2f}'):<16}")
    ovh = paired(lambda d: (d["plain"]["msgs_per_s"] / d["policy"]["msgs_per_s"] - 1) * 100, ("plain", "policy"))
    dcpu = paired(lambda d: d["policy"]["sluice_us_per_msg"] - d["plain"]["sluice_us_per_msg"], ("plain", "policy"))
    rcpu = paired(lambda d: d["policy"]["sluice_us_per_msg"] / d["plain"]["sluice_us_per_msg"], ("plain", "policy"))
    nrel = paired(lambda d: (d["policy"]["sluice_per_src_cpu"] / d["plain"]["sluice_per_src_cpu"] - 1) * 100,
                  ("plain", "policy"))
    out.append(f"overhead policy vs plain (msgs/s_plain / msgs/s_policy - 1, per repetition): {fmt(ovh, '{:+.1f}')} %")
    out.append(f"sluice CPU per message, policy vs plain (per repetition): +{fmt(dcpu, '{:.1f}')} us, "
               f"{fmt(rcpu, '{:.2f}')} x")
    norm = {t: [r["sluice_per_src_cpu"] for r in by[t] if r["sluice_per_src_cpu"] != ""] for t in ("plain", "policy")}
    out.append("sluice CPU / smtp-source CPU of the same run: "
               + ", ".join(f"{t} {fmt(v, '{:.3f}')}" for t, v in norm.items())
               + f"; policy vs plain per repetition {fmt(nrel, '{:+.1f}')} %")
    pool = [r["sluice_spf_pool_us_per_msg"] for r in by["policy"] if r["sluice_spf_pool_us_per_msg"] != ""]
    wadd = paired(lambda d: d["policy"]["sluice_us_per_msg"] - d["policy"]["sluice_spf_pool_us_per_msg"]
                  - d["plain"]["sluice_us_per_msg"], ("plain", "policy"))
    out.append(f"where sluice's added CPU goes (per-thread /proc/PID/task): spf pool threads {fmt(pool, '{:.1f}')} us/msg; "
               f"main + worker threads +{fmt(wadd, '{:.1f}')} us/msg over plain's")
    cs = {t: [r["sluice_ctxsw_per_msg"] for r in by[t] if r["sluice_ctxsw_per_msg"] != ""] for t in ("plain", "policy")}
    out.append("sluice context switches per message (all threads, voluntary + involuntary): "
               + ", ".join(f"{t} {fmt(v, '{:.2f}')}" for t, v in cs.items()))
    tot = paired(lambda d: d["policy"]["sluice_us_per_msg"] + d["policy"]["dnsmasq_us_per_msg"]
                 + d["policy"]["rbldnsd_us_per_msg"] - d["plain"]["sluice_us_per_msg"], ("plain", "policy"))
    out.append(f"CPU added per message by the policy incl. the DNS servers (sluice + dnsmasq + rbldnsd): "
               f"+{fmt(tot, '{:.1f}')} us")
    ok = by["policy"]
    out.append(f"DNS, policy runs: {fmt([r['dns_q_per_msg'] for r in ok], '{:.3f}')} queries/msg at dnsmasq, "
               f"{fmt([r['dns_forwarded'] for r in ok], '{:.0f}')} forwarded to rbldnsd per run "
               f"(rbldnsd counted {fmt([r['rbldnsd_queries'] for r in ok], '{:.0f}')}), UDP datagrams out/msg "
               f"{fmt([r['udp_out_per_msg'] for r in ok], '{:.3f}')} (query + reply), UDP errors "
               f"{sum(r['udp_errors'] for r in ok)}")
    v = vq.get("policy", {})
    out.append(f"DNS during verification via policy ({a.verify} msgs, cache cold at the start, query log on): "
               f"{v.get('queries', '?')} queries, {v.get('forwarded', '?')} forwarded; by kind: "
               + ", ".join(f"{qt} {k}: {n}" for (qt, k), n in sorted(v.get("kinds", {}).items(),
                                                                      key=lambda kv: -kv[1])))
    for t in TARGETS:
        out.append(f"verified {t}: {verified.get(t, '?')}")
    out.append("sanity after verify: " + "; ".join(f"{k}: {v}" for k, v in san0.items()))
    out.append("sanity at the end:   " + ("; ".join(f"{k}: {v}" for k, v in san1.items()) or "-")
               + (f"   FAILED: {bad1}" if bad1 else ""))
    out.append(f"decision log of the verification sluice ({len(recs_verify)} records):")
    out += ["  " + x for x in describe_decisions(recs_verify)]
    bench = sum(n for (e, cl, fr), n in ev_timed.items() if cl == CLIENT_IP and fr == SENDER)
    out.append(f"policy events in the timed sluice's log during warm-up and timed runs (notice: policy.reject, "
               f"policy.tempfail): "
               + (", ".join(f"{n} x {e} client={cl} from={fr}" for (e, cl, fr), n in sorted(ev_timed.items()))
                  or "none")
               + f"; of the bench traffic (client {CLIENT_IP}, sender {SENDER}): {bench}"
               + ("   WARNING: the bench traffic was refused" if bench else ""))
    for t in ("plain", "policy"):
        rss, hwm, thr = mem[t]
        ev = sb.sluice_events(a, f"sluice-{t}")
        out.append(f"sluice-{t}: RSS after warmup {rss_warm[t] / 1024:.1f} MiB, at end {rss / 1024:.1f} MiB, "
                   f"peak {hwm / 1024:.1f} MiB, threads {thr}, exit {rcs[t]}; log events: "
                   + (", ".join(f"{k}={n}" for k, n in sorted(ev.items())) or "none"))
    ev = sb.sluice_events(a, "sluice-policy-verify")
    out.append("sluice-policy-verify (the verification's policy sluice, with the decision log): log events: "
               + (", ".join(f"{k}={n}" for k, n in sorted(ev.items())) or "none"))
    for t, p in perf.items():
        if t.startswith("strace"):
            out.append(f"{t} (strace -c -f, {a.verify} messages, untimed): {p}")
        else:
            out.append(f"perf profile of sluice-{t} under an untimed {a.msgs}-message load: {p}")
    dropped = [f"{r['target']}#{r['rep']}" for r in rows if not r["counted"]]
    if dropped:
        out.append(f"runs repeated because another process competed (not in the figures): {', '.join(dropped)}")
    noisy = [f"{r['target']}#{r['rep']}({r['foreign_cpu_s'] / (r['wall_s'] + a.settle):.2f} core)"
             for r in cnt if r["noisy"]]
    if noisy:
        out.append(f"WARNING: foreign CPU > {a.noise_max} core in counted runs " + ", ".join(noisy)
                   + " (retries exhausted): figures are disturbed; repeat on a quiet host")
    src = [r["src_cpu_s"] for t in ("plain", "policy") for r in by[t]]
    if len(src) > 1 and max(src) > 1.2 * min(src):
        out.append(f"note: smtp-source CPU of the proxied runs spans {min(src):.2f}-{max(src):.2f} s for the same "
                   f"work: the CPUs ran at different speeds")
    bad = [f"{r['target']}#{r['rep']}({r['status']})" for r in rows if r["status"] != "ok"]
    if bad:
        out.append("FAILED RUNS: " + ", ".join(bad) + " (see source-REP-TARGET.log, sluice-*.log)")
    out.append("(ratio and overhead are per repetition, then median [min-max]; us/msg = CPU microseconds per message "
               "from /proc/PID/stat, all threads;\n foreign = host busy CPU - source - sink - sluices - dnsmasq - "
               "rbldnsd; DNS q/msg = queries dnsmasq received (SIGUSR1 counters) / messages)")
    return out


def main():
    ap = argparse.ArgumentParser(description="sluice default-policy benchmark (see bench/POLICY-RESULTS.md)")
    ap.add_argument("-m", dest="msgs", type=int, default=20000, help="messages per timed run")
    ap.add_argument("-s", dest="sessions", type=int, default=20, help="concurrent sessions")
    ap.add_argument("-l", dest="size", type=int, default=2048, help="message body bytes")
    ap.add_argument("-n", dest="reps", type=int, default=7, help="repetitions (direct, plain, policy each)")
    ap.add_argument("--verify", type=int, default=1000)
    ap.add_argument("--warmup", type=int, default=2000)
    ap.add_argument("--cooldown", type=float, default=2.0)
    ap.add_argument("--settle", type=float, default=1.0)
    ap.add_argument("--quiet-max", type=float, default=0.3)
    ap.add_argument("--quiet-wait", type=float, default=60.0)
    ap.add_argument("--noise-max", type=float, default=0.25)
    ap.add_argument("--retries", type=int, default=2, help="repeated runs allowed, per target")
    ap.add_argument("--run-timeout", type=float, default=600.0)
    ap.add_argument("--sluice", default=None, help="binary (default build-bench/proxy/sluice)")
    ap.add_argument("--rules", default=os.path.join(ROOT, "rules", "default.rules"))
    ap.add_argument("--log-level", default="notice")
    ap.add_argument("--workers", default="auto")
    ap.add_argument("--xclient", choices=["on", "off"], default="on")
    ap.add_argument("--backend-reuse", choices=["on", "off"], default=None,
                    help="default: as sluice, on with --xclient on")
    ap.add_argument("--sink-port", type=int, default=20025)
    ap.add_argument("--listen-port", type=int, default=20026, help="plain sluice; policy uses the next port")
    ap.add_argument("--rbl-port", type=int, default=20053)
    ap.add_argument("--dnsmasq-port", type=int, default=20054)
    ap.add_argument("--perf", type=float, default=0, help="seconds of perf record per sluice after the runs (0: off)")
    ap.add_argument("--strace", action="store_true", help="count sluice's system calls per message after the runs")
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    if a.backend_reuse is None:
        a.backend_reuse = a.xclient  # sluice's own default
    if not (1 <= a.msgs <= 10_000_000 and 1 <= a.sessions <= 5000 and 1 <= a.reps <= 50 and a.size >= 0
            and 1 <= a.verify <= 100000 and a.warmup >= 0 and 0 <= a.perf <= 60
            and len({a.sink_port, a.listen_port, a.listen_port + 1, a.rbl_port, a.dnsmasq_port}) == 5):
        die("argument out of range")
    enter_netns(sys.argv[1:])
    if a.sluice is None:
        a.sluice = os.path.join(ROOT, "build-bench/proxy/sluice")
    a.sluice = os.path.abspath(a.sluice)
    if not os.access(a.sluice, os.X_OK):
        die(f"no sluice binary at {a.sluice!r}")
    for t in ("smtp-source", "smtp-sink", RBLDNSD, DNSMASQ) + (("perf",) if a.perf else ()) + (("strace",) if a.strace else ()):
        if not shutil.which(t):
            die(f"missing {t} (apt-get install postfix rbldnsd dnsmasq-base; do not start their daemons)")
    sb.raise_nofile()
    a.out = os.path.abspath(a.out or os.path.join(HERE, "results", f"policy-{time.strftime('%Y%m%d-%H%M%S')}"))
    os.makedirs(a.out, exist_ok=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(130))
    log(f"results in {a.out}")
    t0 = time.monotonic()
    try:
        out = main_bench(a)
    finally:
        sb.cleanup()
    out.append(f"(whole run {time.monotonic() - t0:.0f} s)")
    text = "\n".join(out) + "\n"
    with open(os.path.join(a.out, "summary.txt"), "w") as f:
        f.write(text)
    print(text, end="")


if __name__ == "__main__":
    main()
