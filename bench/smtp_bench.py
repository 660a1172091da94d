#!/usr/bin/env python3
"""smtp_bench.py - throughput, CPU and memory benchmark for sluice (python3 stdlib only).

  run   verify (counting sink), warm up, then paired A/B timed runs:
        direct  smtp-source -> smtp-sink
        proxy   smtp-source -> sluice -> smtp-sink
  idle  N idle client sessions held open through sluice: RSS per session, idle CPU

Everything runs in a private network namespace (unshare -n, only lo, 127.0.0.1),
so nothing can reach another host (no DNS).  Every wait and loop is bounded; only
processes started here are stopped, by PID (Popen handles).  See bench/README.md.
"""
import argparse
import os
import re
import resource
import selectors
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
HOST = "127.0.0.1"
CLK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
STARTED = []  # Popen objects of long-running children (sink, sluice)


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def die(msg):
    log("FATAL: " + msg)
    sys.exit(1)


# ------------------------------------------------------------------ namespace, limits

def enter_netns(argv):
    """Re-exec under `unshare -n` (only lo, brought up); check we are really there."""
    if os.environ.get("SLUICE_BENCH_NETNS") != "1":
        if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("ip"):
            die("need root, unshare and ip to create a private network namespace")
        os.execvp("unshare", ["unshare", "-n", "--", "env", "SLUICE_BENCH_NETNS=1", "sh", "-c",
                              'ip link set lo up || exit 1; exec "$@"', "sh",
                              sys.executable, os.path.abspath(__file__), *argv])
    with open("/proc/self/net/dev") as f:
        ifs = {line.split(":")[0].strip() for line in f.readlines()[2:]}
    if ifs != {"lo"}:
        die(f"not in a private network namespace (interfaces: {sorted(ifs)})")


def raise_nofile(want=65536):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    for s, h in ((want, max(hard, want)), (min(want, hard), hard)):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (s, h))
            break
        except (ValueError, OSError):
            continue
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# ------------------------------------------------------------------ /proc

def pstat(pid):
    """(state, cpu seconds utime+stime, rss KiB) of one process, or None."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read().decode("latin-1")
    except OSError:
        return None
    fl = data[data.rfind(")") + 2:].split()
    return fl[0], (int(fl[11]) + int(fl[12])) / CLK, int(fl[21]) * PAGE_KB


def cpu_s(pid):
    s = pstat(pid)
    return s[1] if s else 0.0


def alive(pid):
    s = pstat(pid)
    return s is not None and s[0] not in ("Z", "X")


def status_kb(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_median(pid, n=3, gap=0.3):
    vals = []
    for i in range(n):
        vals.append(status_kb(pid, "VmRSS"))
        if i + 1 < n:
            time.sleep(gap)
    return statistics.median(vals)


def nfds(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


def rchar(pid):
    try:
        with open(f"/proc/{pid}/io") as f:
            for line in f:
                if line.startswith("rchar:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tcp_active_opens():
    with open("/proc/net/snmp") as f:
        lines = f.read().splitlines()
    for i in range(0, len(lines) - 1, 2):
        if lines[i].startswith("Tcp:"):
            return int(dict(zip(lines[i].split(), lines[i + 1].split()))["ActiveOpens"])
    return 0


def host_busy():
    """(busy jiffies, total jiffies) host-wide; /proc/stat is not namespaced."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    return v[0] + v[1] + v[2] + v[5] + v[6], sum(v)


def wait_quiet(max_busy, max_wait):
    """Bounded wait until the rest of the host leaves the CPUs alone."""
    t0 = time.monotonic()
    while True:
        a = host_busy()
        time.sleep(1)
        b = host_busy()
        busy = (b[0] - a[0]) / max(1, b[1] - a[1]) * (os.cpu_count() or 1)
        if busy <= max_busy:
            return busy
        if time.monotonic() - t0 >= max_wait:
            log(f"warning: host still busy ({busy:.2f} CPUs) after {max_wait}s; running anyway")
            return busy


# ------------------------------------------------------------------ processes

def start(cmd, logpath):
    with open(logpath, "ab") as lf:
        p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=lf, stderr=subprocess.STDOUT)
    STARTED.append(p)
    return p


def stop(p, grace=10.0):
    """SIGTERM one child we started (Popen: never a recycled PID), SIGKILL after grace."""
    if p is None:
        return None
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            log(f"pid {p.pid} ignored SIGTERM for {grace}s: SIGKILL")
            p.kill()
            p.wait(timeout=5)
    if p in STARTED:
        STARTED.remove(p)
    return p.returncode


def cleanup():
    for p in list(STARTED):
        stop(p, grace=5)


def smtp_banner(port, timeout):
    """Connect, read a 220 banner, QUIT. True if the banner was 220."""
    deadline = time.monotonic() + timeout
    with socket.create_connection((HOST, port), timeout=timeout) as s:
        buf = b""
        while b"\n" not in buf and time.monotonic() < deadline:
            d = s.recv(4096)
            if not d:
                break
            buf += d
        if not buf.startswith(b"220"):
            return False
        try:
            s.sendall(b"QUIT\r\n")
            s.recv(4096)
        except OSError:
            pass
        return True


def wait_smtp(port, timeout, proc):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            if smtp_banner(port, 2.0):
                return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


def port_free(port):
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex((HOST, port)) != 0


def start_sink(a, counting, maxconn, tag):
    cmd = ["smtp-sink", "-h", "sink.bench.test", "-m", str(maxconn), "-t", "100"]
    if os.geteuid() == 0:
        cmd += ["-u", "nobody"]
    if counting:
        cmd.append("-c")
    logpath = os.path.join(a.out, f"sink-{tag}.log")
    p = start(cmd + [f"{HOST}:{a.sink_port}", "4096"], logpath)
    if not wait_smtp(a.sink_port, 30, p):
        die(f"smtp-sink did not answer 220 on port {a.sink_port} (see {logpath})")
    return p, logpath


def sink_count(logpath):
    """Last mesg=N printed by a counting smtp-sink (lines end in CR)."""
    with open(logpath, "rb") as f:
        m = re.findall(rb"mesg=(\d+)", f.read())
    return int(m[-1]) if m else 0


def write_conf(a):
    path = os.path.join(a.out, "sluice.conf")
    with open(path, "w") as f:
        f.write(f"# written by bench/smtp_bench.py\n"
                f"hostname bench.sluice.test\n"
                f"listen {HOST}:{a.listen_port}\n"
                f"backend {HOST}:{a.sink_port}\n"
                f"xclient {a.xclient}\n"
                f"backend_reuse {a.backend_reuse}\n"
                f"log_level {a.log_level}\n"
                f"decision_log off\n"
                f"workers {a.workers}\n"
                f"limit sessions 20000\n"
                f"limit sessions_per_ip 20000\n")
    return path


def start_sluice(a):
    conf = write_conf(a)
    chk = subprocess.run([a.sluice, "-c", conf, "-t"], capture_output=True, text=True, timeout=30)
    if chk.returncode != 0:
        die(f"sluice -t rejected {conf}: {chk.stderr.strip()}")
    logpath = os.path.join(a.out, "sluice.log")
    p = start([a.sluice, "-c", conf], logpath)
    if not wait_smtp(a.listen_port, 30, p):
        die(f"sluice did not answer 220 on port {a.listen_port} (see {logpath})")
    return p


def sluice_events(a):
    """ev=NAME counts in sluice.log (what sluice logged at the configured level)."""
    counts = {}
    try:
        with open(os.path.join(a.out, "sluice.log"), errors="replace") as f:
            for line in f:
                m = re.search(r"ev=(\S+)", line)
                k = m.group(1) if m else "(other)"
                counts[k] = counts.get(k, 0) + 1
    except OSError:
        pass
    return counts


def run_source(a, port, msgs, sess, logpath, timeout):
    """Run smtp-source; wall time (perf_counter), its CPU (rusage), rc, timed_out, output."""
    cmd = ["smtp-source", "-m", str(msgs), "-s", str(sess), "-l", str(a.size),
           "-M", "bench.test", "-f", "sender@bench.test", "-t", "rcpt@bench.test",
           f"{HOST}:{port}"]
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
        rc = p.wait()  # blocking waitpid: exact wall time
        wall = time.perf_counter() - t0
        timer.cancel()
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(logpath, errors="replace") as f:
        out = f.read()
    return {"wall": wall, "rc": rc, "timed_out": timed_out.is_set(), "output": out,
            "src_cpu": (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)}


def fmt(vals, f="{:.0f}"):
    vals = [v for v in vals if v is not None]
    if not vals:
        return "n/a"
    m = f.format(statistics.median(vals))
    return m if len(vals) == 1 else f"{m} [{f.format(min(vals))}-{f.format(max(vals))}]"


def write_meta(a, extra):
    def cmd_out(cmd):
        try:
            return subprocess.run(cmd, capture_output=True, text=True, timeout=10,
                                  cwd=ROOT).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return "?"
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    lines = [f"date: {time.strftime('%Y-%m-%dT%H:%M:%S%z')}",
             f"host: {' '.join(os.uname()[0:3:2])} {os.uname().machine}, {os.cpu_count()} CPUs, {model}",
             f"postfix (smtp-source/smtp-sink): {cmd_out(['dpkg-query', '-W', '-f=${Version}', 'postfix'])}",
             f"sluice: {a.sluice} ({cmd_out([a.sluice, '-V'])}), "
             f"git {cmd_out(['git', 'rev-parse', '--short', 'HEAD'])}"
             f"{' +uncommitted changes' if cmd_out(['git', 'status', '--porcelain', '--', 'proxy', 'filters', 'rules']) else ''}",
             f"sluice config: log_level {a.log_level}, workers {a.workers}, xclient {a.xclient}, backend_reuse {a.backend_reuse}, decision_log off",
             "network: private namespace (unshare -n), loopback 127.0.0.1 only",
             f"RLIMIT_NOFILE: {resource.getrlimit(resource.RLIMIT_NOFILE)[0]}",
             f"loadavg at start: {open('/proc/loadavg').read().split()[:3]}",
             f"command: {' '.join(sys.argv)}"] + extra
    with open(os.path.join(a.out, "meta.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    return lines


# ------------------------------------------------------------------ run mode

def mode_run(a):
    meta = write_meta(a, [f"run: -m {a.msgs} -s {a.sessions} -l {a.size} -n {a.reps} "
                          f"verify {a.verify} warmup {a.warmup} cooldown {a.cooldown}s settle {a.settle}s"])
    maxconn = max(1024, a.sessions * 2 + 256)
    # 1. verify: N messages via each path must reach a counting sink, exactly
    sink, sinklog = start_sink(a, True, maxconn, "verify")
    sl = start_sluice(a)
    for tgt, port in (("direct", a.sink_port), ("proxy", a.listen_port)):
        before = sink_count(sinklog)
        r = run_source(a, port, a.verify, min(a.sessions, a.verify),
                       os.path.join(a.out, f"verify-{tgt}.log"), a.run_timeout)
        got = 0
        for _ in range(50):  # up to 10 s for the counter to settle
            got = sink_count(sinklog) - before
            if got >= a.verify:
                break
            time.sleep(0.2)
        if r["rc"] != 0 or got != a.verify:
            die(f"verification via {tgt}: smtp-source rc={r['rc']}, sink counted {got} of "
                f"{a.verify}; source output: {r['output'][-500:]!r}")
        log(f"verified: {a.verify} messages via {tgt} reached the counting sink")
    stop(sink)  # -c costs the sink CPU: time against a silent sink on the same port
    sink, _ = start_sink(a, False, maxconn, "timed")
    # 2. warm up
    for tgt, port in (("direct", a.sink_port), ("proxy", a.listen_port)):
        r = run_source(a, port, a.warmup, a.sessions, os.path.join(a.out, f"warmup-{tgt}.log"),
                       a.run_timeout)
        if r["rc"] != 0:
            die(f"warmup via {tgt} failed rc={r['rc']}: {r['output'][-500:]!r}")
    time.sleep(a.cooldown)
    rss_warm = status_kb(sl.pid, "VmRSS")
    log(f"warmup done ({a.warmup} msgs per target); sluice RSS {rss_warm} KiB")
    # 3. timed A/B pairs, order alternating; a pair during which another process took more than
    #    --noise-max cores is kept in results.tsv but repeated (at most --retries extra pairs)
    rows, counted, rep, retried = [], 0, 0, 0
    while counted < a.reps and alive(sl.pid):  # at most reps + retries pairs
        rep += 1
        pair = []
        for tgt in (("direct", "proxy") if rep % 2 else ("proxy", "direct")):
            time.sleep(a.cooldown)
            busy0 = wait_quiet(a.quiet_max, a.quiet_wait)
            port = a.sink_port if tgt == "direct" else a.listen_port
            pre = (cpu_s(sl.pid), cpu_s(sink.pid), rchar(sink.pid), tcp_active_opens(), host_busy())
            r = run_source(a, port, a.msgs, a.sessions,
                           os.path.join(a.out, f"source-{rep}-{tgt}.log"), a.run_timeout)
            time.sleep(a.settle)  # let sluice and the sink finish their tail work
            post = (cpu_s(sl.pid), cpu_s(sink.pid), rchar(sink.pid), tcp_active_opens(), host_busy())
            sl_cpu, sk_cpu = post[0] - pre[0], post[1] - pre[1]
            status = "ok"
            if r["timed_out"]:
                status = "timeout"
            elif r["rc"] != 0:
                status = f"rc{r['rc']}"
            elif r["output"].strip():
                status = "srcmsg"  # smtp-source printed warnings (rejects, drops)
            elif post[2] - pre[2] < a.msgs * a.size:
                status = "short"
            elif not alive(sl.pid):
                status = "sluicedied"
            host_cpu = (post[4][0] - pre[4][0]) / CLK
            ours = r["src_cpu"] + sk_cpu + (sl_cpu if tgt == "proxy" else 0)
            row = {"rep": rep, "target": tgt, "status": status, "msgs": a.msgs,
                   "wall_s": round(r["wall"], 3), "msgs_per_s": round(a.msgs / r["wall"], 1),
                   "src_cpu_s": round(r["src_cpu"], 2), "sink_cpu_s": round(sk_cpu, 2),
                   "sluice_cpu_s": round(sl_cpu, 2) if tgt == "proxy" else "",
                   "sink_us_per_msg": round(sk_cpu / a.msgs * 1e6, 1),
                   "sluice_us_per_msg": round(sl_cpu / a.msgs * 1e6, 1) if tgt == "proxy" else "",
                   "sink_bytes_per_msg": round((post[2] - pre[2]) / a.msgs),
                   "tcp_opens_per_msg": round((post[3] - pre[3]) / a.msgs, 2),
                   "foreign_cpu_s": round(host_cpu - ours, 2), "busy_before": round(busy0, 2)}
            row["noisy"] = int(row["foreign_cpu_s"] > a.noise_max * (r["wall"] + a.settle))
            row["counted"] = 0
            rows.append(row)
            pair.append(row)
            log(f"rep {rep} {tgt}: {status} {row['msgs_per_s']} msg/s wall {row['wall_s']}s "
                f"sink {row['sink_us_per_msg']} us/msg"
                + (f" sluice {row['sluice_us_per_msg']} us/msg" if tgt == "proxy" else ""))
            if status != "ok":
                log(f"  smtp-source output: {r['output'][-800:]!r}")
            if not alive(sl.pid):
                log("sluice is gone; stopping the timed runs")
                break
        if any(r["noisy"] for r in pair) and retried < a.retries:
            retried += 1
            log(f"pair {rep} disturbed by another process (foreign CPU); repeating it")
            continue
        for r in pair:
            r["counted"] = 1
        counted += 1
    # 4. peaks, stop, summary
    hwm, rss_end, threads = status_kb(sl.pid, "VmHWM"), status_kb(sl.pid, "VmRSS"), status_kb(sl.pid, "Threads")
    sl_rc = stop(sl)
    stop(sink)
    with open(os.path.join(a.out, "results.tsv"), "w") as f:
        f.write("\t".join(rows[0].keys()) + "\n" if rows else "")
        for row in rows:
            f.write("\t".join(str(v) for v in row.values()) + "\n")
    out = [f"== sluice run: -m {a.msgs} -s {a.sessions} -l {a.size} -n {a.reps}, one session per "
           f"message, log_level {a.log_level}, workers {a.workers}, xclient {a.xclient}, backend_reuse {a.backend_reuse}", meta[1]]
    out.append(f"{'target':<7} {'ok':>5}  {'msgs/s median [min-max]':<24} {'sink us/msg':<20} "
               f"{'sluice us/msg':<20} {'src cpu s':<17} {'foreign cpu s':<17} {'tcp/msg':<7}")
    by = {t: [r for r in rows if r["target"] == t and r["counted"]] for t in ("direct", "proxy")}
    for t, rs in by.items():
        ok = [r for r in rs if r["status"] == "ok"]
        col = lambda k: [r[k] for r in ok if r[k] != ""]  # noqa: E731
        out.append(f"{t:<7} {len(ok):>2}/{len(rs):<2}  {fmt(col('msgs_per_s')):<24} "
                   f"{fmt(col('sink_us_per_msg'), '{:.1f}'):<20} "
                   f"{fmt(col('sluice_us_per_msg'), '{:.1f}') if t == 'proxy' else '-':<20} "
                   f"{fmt(col('src_cpu_s'), '{:.2f}'):<17} {fmt(col('foreign_cpu_s'), '{:.2f}'):<17} "
                   f"{fmt(col('tcp_opens_per_msg'), '{:.2f}'):<7}")
    ratios, cpu_ratios = [], []
    for rep in sorted({r["rep"] for r in rows if r["counted"]}):
        d = {r["target"]: r for r in rows if r["rep"] == rep and r["status"] == "ok"}
        if len(d) == 2:
            ratios.append(d["proxy"]["msgs_per_s"] / d["direct"]["msgs_per_s"])
        if "proxy" in d and d["proxy"]["sink_us_per_msg"] > 0:
            cpu_ratios.append(d["proxy"]["sluice_us_per_msg"] / d["proxy"]["sink_us_per_msg"])
    out.append(f"throughput ratio proxy/direct per A/B pair: {fmt(ratios, '{:.3f}')} (n={len(ratios)})"
               f"   target >= 0.6 (aim 0.7): "
               f"{'PASS' if ratios and statistics.median(ratios) >= 0.6 else 'FAIL'}")
    out.append(f"CPU per message sluice/smtp-sink (same proxy run): {fmt(cpu_ratios, '{:.2f}')}"
               f"   target <= 1.5: "
               f"{'PASS' if cpu_ratios and statistics.median(cpu_ratios) <= 1.5 else 'FAIL'}")
    out.append(f"sluice memory: RSS after warmup {rss_warm / 1024:.1f} MiB, at end {rss_end / 1024:.1f} MiB, "
               f"peak (VmHWM) {hwm / 1024:.1f} MiB, threads {threads}; exit status {sl_rc}")
    ev = sluice_events(a)
    out.append("sluice log events: " + ", ".join(f"{k}={v}" for k, v in sorted(ev.items())))
    dropped = sorted({r["rep"] for r in rows if not r["counted"]})
    if dropped:
        out.append(f"pairs repeated because another process competed (not in the figures above): "
                   f"{dropped}")
    noisy = [f"{r['target']}#{r['rep']}({r['foreign_cpu_s'] / (r['wall_s'] + a.settle):.2f} core)"
             for r in rows if r["noisy"] and r["counted"]]
    if noisy:
        out.append(f"WARNING: foreign CPU > {a.noise_max} core in counted runs " + ", ".join(noisy)
                   + " (retries exhausted): figures are disturbed; repeat on a quiet host")
    for t, rs in by.items():  # smtp-source does the same work in every run of a target
        src = [r["src_cpu_s"] for r in rs if r["status"] == "ok"]
        if len(src) > 1 and max(src) > 1.2 * min(src):
            out.append(f"note: smtp-source CPU of the {t} runs spans {min(src):.2f}-{max(src):.2f} s: "
                       f"the CPUs ran at different speeds (contention that foreign CPU does not show)")
    bad = [f"{r['target']}#{r['rep']}({r['status']})" for r in rows if r["status"] != "ok"]
    if bad:
        out.append("FAILED RUNS: " + ", ".join(bad) + " (see source-REP-TARGET.log, sluice.log)")
    out.append("(us/msg = CPU microseconds per message from /proc/PID/stat utime+stime deltas;\n"
               " foreign = host busy CPU - source - sink - sluice: loopback softirq and other tenants)")
    return out


# ------------------------------------------------------------------ idle mode

def open_idle(port, n, batch, deadline):
    """Open n connections in batches; each batch waits (bounded) for its 220 banners."""
    sel = selectors.DefaultSelector()
    socks, banners, failed = [], 0, 0
    while len(socks) + failed < n and time.monotonic() < deadline:
        pending = {}
        for _ in range(min(batch, n - len(socks) - failed)):
            s = socket.socket()
            s.setblocking(False)
            if s.connect_ex((HOST, port)) not in (0, 115):  # EINPROGRESS
                failed += 1
                s.close()
                continue
            pending[s] = b""
            sel.register(s, selectors.EVENT_READ)
            socks.append(s)
        t_b = min(deadline, time.monotonic() + 10.0)
        while pending and time.monotonic() < t_b:
            for key, _ in sel.select(timeout=0.5):
                s = key.fileobj
                try:
                    d = s.recv(4096)
                except OSError:
                    d = b""
                if d and b"\n" not in pending[s] + d:
                    pending[s] += d
                    continue
                sel.unregister(s)
                if (pending.pop(s) + d).startswith(b"220"):
                    banners += 1
                else:
                    failed += 1
        for s in pending:
            sel.unregister(s)
            failed += 1
    return socks, banners, failed


def mode_idle(a):
    meta = write_meta(a, [f"idle: -c {a.conns} --hold {a.hold}s --batch {a.batch}"])
    out = [f"== sluice idle sessions, log_level {a.log_level}, workers {a.workers}, xclient {a.xclient}",
           meta[1]]
    hdr = (f"{'sessions':>8} {'banners':>7} {'fail':>4} {'open s':>6} {'RSS base KiB':>12} "
           f"{'RSS open KiB':>12} {'KiB/session':>11} {'RSS closed KiB':>14} {'fds open':>8} "
           f"{'CPU s idle(0)':>13} {'CPU s idle(N)':>13} {'sink KiB/sess':>13}")
    out.append(hdr)
    verdict = []
    for n in a.conns:
        sink, _ = start_sink(a, False, n + 512, f"idle-{n}")
        sl = start_sluice(a)
        r = run_source(a, a.listen_port, 50, 5, os.path.join(a.out, f"idle-warmup-{n}.log"), 60)
        if r["rc"] != 0:
            die(f"idle warmup through sluice failed: {r['output'][-500:]!r}")
        time.sleep(1)
        c0 = cpu_s(sl.pid)
        time.sleep(a.hold)
        cpu_empty = cpu_s(sl.pid) - c0
        base, sink_base = rss_median(sl.pid), rss_median(sink.pid)
        log(f"opening {n} idle sessions (batches of {a.batch})")
        t0 = time.monotonic()
        socks, banners, failed = open_idle(a.listen_port, n, a.batch, t0 + 300)
        t_open = time.monotonic() - t0
        time.sleep(2)
        c0 = cpu_s(sl.pid)
        time.sleep(a.hold)
        cpu_open = cpu_s(sl.pid) - c0
        opened, sink_open, fds = rss_median(sl.pid), rss_median(sink.pid), nfds(sl.pid)
        for s in socks:
            s.close()
        time.sleep(2)
        closed = rss_median(sl.pid)
        after = run_source(a, a.listen_port, 20, 5, os.path.join(a.out, f"idle-after-{n}.log"), 60)
        per = (opened - base) / max(1, banners)
        out.append(f"{n:>8} {banners:>7} {failed:>4} {t_open:>6.1f} {base:>12.0f} {opened:>12.0f} "
                   f"{per:>11.2f} {closed:>14.0f} {fds:>8} {cpu_empty:>13.2f} {cpu_open:>13.2f} "
                   f"{(sink_open - sink_base) / max(1, banners):>13.2f}")
        verdict.append(f"{n} sessions: {per:.2f} KiB/session (target <= 8: "
                       f"{'PASS' if per <= 8 and banners == n else 'FAIL'}), idle CPU "
                       f"{cpu_open / a.hold * 100:.1f} % of a core with sessions open, "
                       f"{cpu_empty / a.hold * 100:.1f} % without; mail after close: "
                       f"{'ok' if after['rc'] == 0 and not after['output'].strip() else 'FAILED'}")
        sl_rc = stop(sl)
        stop(sink)
        verdict.append(f"  sluice exit status {sl_rc}")
    out += verdict
    ev = sluice_events(a)
    out.append("sluice log events: " + ", ".join(f"{k}={v}" for k, v in sorted(ev.items())))
    out.append(f"(RSS from /proc/PID/status VmRSS, median of 3; KiB/session = (open - base) / banners;\n"
               f" idle(0) = sluice CPU over {a.hold}s with no sessions, idle(N) = with N sessions open;\n"
               f" kernel socket buffers are not in RSS)")
    return out


# ------------------------------------------------------------------ main

def main():
    ap = argparse.ArgumentParser(description="sluice benchmark (see bench/README.md)")
    ap.add_argument("mode", choices=["run", "idle"])
    ap.add_argument("-m", dest="msgs", type=int, default=20000, help="messages per timed run")
    ap.add_argument("-s", dest="sessions", type=int, default=20, help="concurrent sessions")
    ap.add_argument("-l", dest="size", type=int, default=2048, help="message body bytes")
    ap.add_argument("-n", dest="reps", type=int, default=3, help="A/B repetitions")
    ap.add_argument("-c", dest="conns", default="5000", help="idle sessions, comma list")
    ap.add_argument("--verify", type=int, default=1000, help="messages checked via counting sink")
    ap.add_argument("--warmup", type=int, default=2000, help="untimed messages per target")
    ap.add_argument("--cooldown", type=float, default=2.0)
    ap.add_argument("--settle", type=float, default=1.0, help="pause before reading CPU after a run")
    ap.add_argument("--quiet-max", type=float, default=0.3, help="host busy CPUs allowed before a run")
    ap.add_argument("--quiet-wait", type=float, default=60.0, help="max wait for a quiet host")
    ap.add_argument("--noise-max", type=float, default=0.25,
                    help="foreign CPU (cores) above which a pair is repeated")
    ap.add_argument("--retries", type=int, default=4, help="max extra pairs for disturbed ones")
    ap.add_argument("--hold", type=float, default=5.0, help="idle: seconds to hold sessions")
    ap.add_argument("--batch", type=int, default=200, help="idle: connections per batch")
    ap.add_argument("--run-timeout", type=float, default=600.0)
    ap.add_argument("--sluice", default=None, help="binary (default build-bench/proxy/sluice)")
    ap.add_argument("--log-level", default="notice")
    ap.add_argument("--workers", default="auto")
    ap.add_argument("--xclient", choices=["on", "off"], default="on")
    ap.add_argument("--backend-reuse", choices=["on", "off"], default="off",
                    help="sluice keeps clean backend connections for later sessions")
    ap.add_argument("--sink-port", type=int, default=20025)
    ap.add_argument("--listen-port", type=int, default=20026)
    ap.add_argument("--out", default=None, help="results dir (default bench/results/MODE-TIME)")
    a = ap.parse_args()
    a.conns = [int(x) for x in a.conns.split(",")]
    if not (1 <= a.msgs <= 10_000_000 and 1 <= a.sessions <= 5000 and 1 <= a.reps <= 50
            and a.size >= 0 and 1 <= a.verify <= 100000 and a.warmup >= 0
            and all(1 <= c <= 19000 for c in a.conns) and 1 <= a.batch <= 1000
            and 0 < a.hold <= 600 and a.sink_port != a.listen_port):
        die("argument out of range")
    enter_netns(sys.argv[1:])
    if a.sluice is None:
        a.sluice = next((p for p in (os.path.join(ROOT, "build-bench/proxy/sluice"),
                                     os.path.join(ROOT, "build/proxy/sluice")) if os.access(p, os.X_OK)),
                        "")
    a.sluice = os.path.abspath(a.sluice)
    if not os.access(a.sluice, os.X_OK):
        die(f"no sluice binary at {a.sluice!r}")
    for t in ("smtp-source", "smtp-sink"):
        if not shutil.which(t):
            die(f"missing {t} (apt-get install postfix; do not start the postfix daemon)")
    nofile = raise_nofile()
    if a.mode == "idle" and nofile < 2 * max(a.conns) + 256:
        die(f"RLIMIT_NOFILE {nofile} too low for {max(a.conns)} idle sessions")
    a.out = os.path.abspath(a.out or os.path.join(HERE, "results",
                                                  f"{a.mode}-{time.strftime('%Y%m%d-%H%M%S')}"))
    os.makedirs(a.out, exist_ok=True)
    for p in (a.sink_port, a.listen_port):
        if not port_free(p):
            die(f"port {p} already in use")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(130))
    log(f"results in {a.out}")
    try:
        out = mode_run(a) if a.mode == "run" else mode_idle(a)
    finally:
        cleanup()
    text = "\n".join(out) + "\n"
    with open(os.path.join(a.out, "summary.txt"), "w") as f:
        f.write(text)
    print(text, end="")


if __name__ == "__main__":
    main()
