"""DnsLab: a private DNS world on 127.0.0.1 for DNSBL / reverse-DNS tests.

    zones = {
        "zen.test": ("ip4set", ":127.0.0.2:Listed, see https://zen.test/q?ip=$\\n127.0.0.2\\n"),
        "v6.test":  ("ip6tset", ":127.0.0.3:IPv6 $ listed\\n2001:db8:1:2\\n0:0:0:0\\n"),
        "dbl.test": ("dnset", ":127.0.1.2:Domain $ listed\\nspam.test\\n.wild.test\\n"),
    }
    with DnsLab(zones, ptr={"127.0.0.5": "mail.good.test"},
                hosts={"mail.good.test": ["127.0.0.5"]}) as lab:
        lab.server                      # "127.0.0.1:P": dnsmasq, the resolver clients use
        lab.query(dnsbl_name("127.0.0.2", "zen.test"))      # ("NOERROR", ["127.0.0.2"])
        lab.query("5.0.0.127.in-addr.arpa", "PTR")           # ("NOERROR", ["mail.good.test"])
        lab.silent_server()             # "127.0.0.1:Q": a UDP socket that never answers

Two processes, both from Debian packages (scripts/deps.sh installs them):

  rbldnsd (/usr/sbin/rbldnsd, package rbldnsd) serves the zones, UDP only,
      on lab.rbl_server. Dataset syntax: rbldnsd(8). rbldnsd drops to the
      user 'rbldns' when started as root, so the temp dir is 0755 and the
      data files 0644.
  dnsmasq (/usr/sbin/dnsmasq, package dnsmasq-base: no system service) is
      the one resolver on lab.server (UDP and TCP). It forwards the zones to
      rbldnsd (--server=/zone/127.0.0.1#PORT), answers PTR (ptr=) and A/AAAA
      (hosts=) records itself, answers names under `local_domains` itself
      (NXDOMAIN, or NODATA for other types of a known name) and REFUSES
      everything else: it has no upstream server at all (--no-resolv, no
      default --server, --no-hosts, --conf-file=/dev/null), so nothing is
      ever forwarded beyond 127.0.0.1. Its cache is off (--cache-size=0), so
      clients see rbldnsd's TTLs unchanged; every query is logged
      (lab.queries(), lab.forwarded()).

Behaviour worth knowing (rbldnsd 1.0~20210120, dnsmasq 2.90, Debian 12):
  * rbldnsd TTL: `$TTL n` in the data, else -t (ttl=), else 35m (2100 s).
    Without a `$SOA` line NXDOMAIN answers carry no SOA (a resolver cannot
    derive a negative TTL) and SOA/NS queries for the zone apex are REFUSED;
    an A query for the apex itself is NOERROR with no records.
  * TXT `$` is the listed key: the queried IP for ip4set/ip6tset ("::1",
    "2001:db8:1:2::5", compressed), but for dnset the *entry* (a query for
    a.b.wild.test against `.wild.test` gives "wild.test"). `$$` is a dollar.
  * A line starting with ':' is always the default A:TXT line, so "::1"
    cannot be written as an entry; ip6tset takes /64s only, as exactly four
    16-bit words ("2001:db8:1:2", "0:0:0:0" lists ::/64, i.e. ::1).
    Queries must use all 32 nibbles (dnsbl_name() does). Bad lines are only
    warnings to rbldnsd: DnsLab turns them into a RuntimeError (strict=True).
  * dnsmasq local records (ptr=, hosts=) have TTL local_ttl (dnsmasq's own
    default would be 0). A `hosts` entry also creates the PTR for the
    name's first address unless `ptr` names that address itself (an
    explicit ptr wins). Local NXDOMAIN/NODATA answers carry no SOA.
  * An unknown name outside local_domains and the zones: REFUSED at once
    (dnsmasq logs "config error is REFUSED"), never forwarded.
  * rbldnsd has no TCP: a TCP query for a zone name through dnsmasq fails.
"""

import ipaddress
import os
import random
import re
import signal
import socket
import struct
import subprocess
import time

from .util import (free_port, wait_until, make_tempdir, remove_tree, register_cleanup,
                   unregister_cleanup)

__all__ = ["DnsLab", "DnsReply", "dns_query", "dnsbl_name", "ptr_name", "RBLDNSD", "DNSMASQ"]

RBLDNSD = "/usr/sbin/rbldnsd"
DNSMASQ = "/usr/sbin/dnsmasq"

QTYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "MX": 15, "TXT": 16, "AAAA": 28,
          "SRV": 33, "ANY": 255}
QTYPE_NAMES = {v: k for k, v in QTYPES.items()}
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}


# ------------------------------------------------------------------ names
def ptr_name(ip):
    """'127.0.0.5' -> '5.0.0.127.in-addr.arpa'; '::1' -> '1.0.0...ip6.arpa'."""
    return ipaddress.ip_address(ip).reverse_pointer


def dnsbl_name(ip_or_domain, zone):
    """The DNSBL query name: reversed octets / 32 reversed nibbles for an IP
    ('127.0.0.2' -> '2.0.0.127.zen.test'), the name itself for a domain
    (RHSBL: 'spam.test' -> 'spam.test.dbl.test')."""
    try:
        rp = ipaddress.ip_address(ip_or_domain).reverse_pointer
    except ValueError:
        return "%s.%s" % (ip_or_domain.rstrip("."), zone)
    return "%s.%s" % (rp.rsplit(".", 2)[0], zone)


def _split_server(server):
    """'127.0.0.1:53' / '[::1]:53' -> (host, port); loopback only."""
    m = re.match(r"^\[([^\]]+)\]:(\d+)$", server) or re.match(r"^([^:]+):(\d+)$", server)
    if not m:
        raise ValueError("server must be 'IP:PORT', not %r" % (server,))
    host, port = m.group(1), int(m.group(2))
    if not ipaddress.ip_address(host).is_loopback:
        raise ValueError("DnsLab only talks to loopback servers, not %r" % (server,))
    return host, port


# ------------------------------------------------------------------ wire format
class DnsReply:
    """A parsed reply. rcode: 'NOERROR', 'NXDOMAIN', 'REFUSED', 'SERVFAIL', ...
    or 'TIMEOUT' (no reply). answers/authority/additional: lists of
    (name, type, ttl, value) with type a name like 'A' (or 'TYPE99') and
    value a string as in DnsLab.query()."""

    def __init__(self, rcode, aa=False, tc=False, answers=(), authority=(), additional=(),
                 elapsed=0.0):
        self.rcode, self.aa, self.tc = rcode, aa, tc
        self.answers, self.authority, self.additional = list(answers), list(authority), list(additional)
        self.elapsed = elapsed

    def values(self, rtype=None):
        return [v for (_n, t, _ttl, v) in self.answers if rtype is None or t == rtype]

    def ttls(self, rtype=None):
        return [ttl for (_n, t, ttl, _v) in self.answers if rtype is None or t == rtype]

    def __repr__(self):
        return "DnsReply(%s%s, %r, authority=%r)" % (self.rcode, " aa" if self.aa else "", self.answers,
                                                      self.authority)


def _encode_name(name):
    out = b""
    for label in name.rstrip(".").split("."):
        if not label:
            raise ValueError("empty label in %r" % (name,))
        b = label.encode("ascii")
        if len(b) > 63:
            raise ValueError("label too long in %r" % (name,))
        out += bytes([len(b)]) + b
    return out + b"\0"


def _read_name(msg, off):
    labels, end, hops = [], None, 0
    while True:
        n = msg[off]
        if n & 0xC0 == 0xC0:
            hops += 1
            if hops > 64:
                raise ValueError("compression loop")
            if end is None:
                end = off + 2
            off = ((n & 0x3F) << 8) | msg[off + 1]
            continue
        off += 1
        if n == 0:
            break
        labels.append(msg[off:off + n].decode("latin-1"))
        off += n
    return ".".join(labels), (end if end is not None else off)


def _rdata_str(msg, rtype, off, rdlen):
    rd = msg[off:off + rdlen]
    if rtype == 1 and rdlen == 4:
        return socket.inet_ntop(socket.AF_INET, rd)
    if rtype == 28 and rdlen == 16:
        return socket.inet_ntop(socket.AF_INET6, rd)
    if rtype in (2, 5, 12):
        return _read_name(msg, off)[0]
    if rtype == 15:
        return "%d %s" % (struct.unpack(">H", rd[:2])[0], _read_name(msg, off + 2)[0])
    if rtype == 16:                       # character-strings joined without separator
        parts, i = [], 0
        while i < len(rd):
            parts.append(rd[i + 1:i + 1 + rd[i]].decode("utf-8", "replace"))
            i += 1 + rd[i]
        return "".join(parts)
    if rtype == 6:
        mname, o = _read_name(msg, off)
        rname, o = _read_name(msg, o)
        return " ".join([mname, rname] + [str(x) for x in struct.unpack(">5I", msg[o:o + 20])])
    return "\\# %d %s" % (rdlen, rd.hex())


def _build_query(qid, name, qtype, edns):
    flags = 0x0100                        # RD
    pkt = struct.pack(">HHHHHH", qid, flags, 1, 0, 0, 1 if edns else 0)
    pkt += _encode_name(name) + struct.pack(">HH", qtype, 1)
    if edns:
        pkt += b"\0" + struct.pack(">HHIH", 41, 1232, 0, 0)
    return pkt


def _parse_reply(msg, qid, name, qtype):
    """DnsReply, or None if msg is not the reply to this question."""
    if len(msg) < 12:
        return None
    rid, flags, qd, an, ns, ar = struct.unpack(">HHHHHH", msg[:12])
    if rid != qid or not flags & 0x8000:
        return None
    off = 12
    for _ in range(qd):
        qn, off = _read_name(msg, off)
        qt = struct.unpack(">H", msg[off:off + 2])[0]
        off += 4
        if qn.lower() != name.rstrip(".").lower() or qt != qtype:
            return None
    sections = []
    for count in (an, ns, ar):
        recs = []
        for _ in range(count):
            rn, off = _read_name(msg, off)
            rtype, _cls, ttl, rdlen = struct.unpack(">HHIH", msg[off:off + 10])
            off += 10
            if rtype != 41:               # OPT
                recs.append((rn, QTYPE_NAMES.get(rtype, "TYPE%d" % rtype), ttl,
                             _rdata_str(msg, rtype, off, rdlen)))
            off += rdlen
        sections.append(recs)
    return DnsReply(RCODES.get(flags & 0xF, "RCODE%d" % (flags & 0xF)), aa=bool(flags & 0x400),
                    tc=bool(flags & 0x200), answers=sections[0], authority=sections[1],
                    additional=sections[2])


def dns_query(server, name, qtype="A", timeout=2.0, tcp=False, edns=False):
    """One raw DNS query to a loopback server 'IP:PORT' -> DnsReply (rcode
    'TIMEOUT' when nothing came back within `timeout`). UDP, retried over
    TCP when the reply is truncated (or tcp=True). No resolver library, no
    retries, no search list."""
    host, port = _split_server(server)
    qt = QTYPES[qtype.upper()] if isinstance(qtype, str) else int(qtype)
    qid = random.randint(0, 0xFFFF)
    pkt = _build_query(qid, name, qt, edns)
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    t0 = time.monotonic()
    deadline = t0 + timeout
    if not tcp:
        with socket.socket(fam, socket.SOCK_DGRAM) as s:
            s.connect((host, port))
            s.send(pkt)
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    return DnsReply("TIMEOUT", elapsed=time.monotonic() - t0)
                s.settimeout(left)
                try:
                    msg = s.recv(65535)
                except socket.timeout:
                    return DnsReply("TIMEOUT", elapsed=time.monotonic() - t0)
                except ConnectionRefusedError:     # ICMP port unreachable: nobody listens
                    return DnsReply("TIMEOUT", elapsed=time.monotonic() - t0)
                r = _parse_reply(msg, qid, name, qt)
                if r is not None:
                    break
            if not r.tc:
                r.elapsed = time.monotonic() - t0
                return r
    with socket.socket(fam, socket.SOCK_STREAM) as s:
        s.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            s.connect((host, port))
            s.sendall(struct.pack(">H", len(pkt)) + pkt)
            buf = b""
            while len(buf) < 2 or len(buf) < 2 + struct.unpack(">H", buf[:2])[0]:
                chunk = s.recv(65535)
                if not chunk:
                    return DnsReply("TIMEOUT", elapsed=time.monotonic() - t0)
                buf += chunk
        except (socket.timeout, ConnectionError):
            return DnsReply("TIMEOUT", elapsed=time.monotonic() - t0)
    r = _parse_reply(buf[2:], qid, name, qt) or DnsReply("FORMERR")
    r.elapsed = time.monotonic() - t0
    return r


# ------------------------------------------------------------------ the lab
def _udp_free(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def _free_dns_port():
    """A port free for both TCP (free_port's check) and UDP on 127.0.0.1."""
    for _ in range(50):
        p = free_port()
        if _udp_free(p):
            return p
    raise RuntimeError("no free UDP+TCP port on 127.0.0.1")


class DnsLab:
    """rbldnsd + dnsmasq on 127.0.0.1 (see the module docstring).

    zones          {zone: (dataset_type, text)} or {zone: [(type, text), ...]}
                   (several datasets form one zone, e.g. an ip4set plus a
                   generic with $SOA/$NS). text: str or list of lines, in
                   rbldnsd(8) syntax. dataset_type: ip4set, ip4tset,
                   ip4trie, ip6tset, ip6trie, dnset, generic, combined, acl.
    ptr            {ip or '...arpa' name: 'target' or ['t1', 't2']}
    hosts          {name: 'ip' or ['ip', ...]} -> A/AAAA (--host-record,
                   one option per address; the first also makes a PTR)
    local_domains  domains dnsmasq answers alone: a name under them without
                   a record is NXDOMAIN, another type of a known name is
                   NODATA. Names outside these and the zones are REFUSED.
    ttl            rbldnsd -t value (None: `$TTL` in the data or 2100 s)
    local_ttl      TTL of dnsmasq's own records (ptr, hosts)
    strict         a data line rbldnsd warns about raises RuntimeError
    rbldnsd_args / dnsmasq_args   extra command line arguments
    start_timeout  seconds for both servers to answer

    Properties: server ('127.0.0.1:P', dnsmasq), port, rbl_server, rbl_port,
    dir. Methods: start(), stop(), query(), lookup(), silent_server(),
    update_zone(), queries(), forwarded(), mark(), dnsmasq_log(),
    rbldnsd_log().
    """

    def __init__(self, zones=None, ptr=None, hosts=None,
                 local_domains=("test", "in-addr.arpa", "ip6.arpa"),
                 ttl=None, local_ttl=300, strict=True, rbldnsd_args=(), dnsmasq_args=(),
                 rbldnsd_bin=RBLDNSD, dnsmasq_bin=DNSMASQ, start_timeout=10):
        self.zones = {}
        for zone, spec in (zones or {}).items():
            if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], str):
                spec = [spec]
            self.zones[zone.strip(".").lower()] = [(t, txt) for (t, txt) in spec]
        self.ptr = {}
        for key, target in (ptr or {}).items():
            self.ptr[key] = [target] if isinstance(target, str) else list(target)
        self.hosts = {}
        for name, ips in (hosts or {}).items():
            self.hosts[name] = [ips] if isinstance(ips, str) else list(ips)
        self.local_domains = [d.strip(".") for d in local_domains]
        self.ttl = ttl
        self.local_ttl = local_ttl
        self.strict = strict
        self.rbldnsd_args = list(rbldnsd_args)
        self.dnsmasq_args = list(dnsmasq_args)
        self.rbldnsd_bin = rbldnsd_bin
        self.dnsmasq_bin = dnsmasq_bin
        self.start_timeout = start_timeout

        self.dir = None
        self.port = None          # dnsmasq
        self.rbl_port = None      # rbldnsd
        self.rbldnsd = None       # Popen
        self.dnsmasq = None
        self._files = {}          # zone -> [(type, filename)]
        self._silent = []
        self._logs = []
        self._cleanup_token = None
        self._ready_mark = 0

    # ------------------------------------------------------------ addresses
    @property
    def server(self):
        """'127.0.0.1:P': dnsmasq, the resolver to configure in sluice."""
        return "127.0.0.1:%d" % self.port

    @property
    def rbl_server(self):
        """'127.0.0.1:P': rbldnsd itself (UDP only, only the zones)."""
        return "127.0.0.1:%d" % self.rbl_port

    # ------------------------------------------------------------ lifecycle
    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    def start(self):
        for b, pkg in ((self.rbldnsd_bin, "rbldnsd"), (self.dnsmasq_bin, "dnsmasq-base")):
            if not os.access(b, os.X_OK):
                raise RuntimeError("DnsLab: %s is missing: install the Debian package %s "
                                   "(scripts/deps.sh)" % (b, pkg))
        if self.dir is not None:
            raise RuntimeError("DnsLab already started")
        self._cleanup_token = register_cleanup(self.stop)
        try:
            self.dir = make_tempdir("sluice-dnslab-", 0o755)
            self._write_zones()
            for attempt in range(3):          # a port taken meanwhile: try others
                if self._start_rbldnsd(last=(attempt == 2)):
                    break
            for attempt in range(3):
                if self._start_dnsmasq(last=(attempt == 2)):
                    break
            self._ready_mark = self.mark()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self):
        """Stop both servers (SIGTERM, then SIGKILL), close silent servers,
        remove the temp dir. Safe to call twice."""
        for attr in ("dnsmasq", "rbldnsd"):
            p = getattr(self, attr)
            if p is not None:
                _terminate(p)
        for s in self._silent:
            s.close()
        self._silent = []
        for f in self._logs:
            f.close()
        self._logs = []
        if self._cleanup_token is not None:
            unregister_cleanup(self._cleanup_token)
            self._cleanup_token = None
        d, self.dir = self.dir, None
        remove_tree(d)

    def _write_zones(self):
        if not self.zones:
            raise ValueError("DnsLab needs at least one zone")
        for zone, datasets in self.zones.items():
            files = []
            for i, (dtype, text) in enumerate(datasets):
                if not isinstance(text, str):
                    text = "\n".join(text)
                fn = "%s.%d.%s" % (re.sub(r"[^A-Za-z0-9.-]", "_", zone), i, dtype)
                self._write(fn, text)
                files.append((dtype, fn))
            self._files[zone] = files

    def _write(self, fn, text):
        path = os.path.join(self.dir, fn)
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text if text.endswith("\n") else text + "\n")
        os.chmod(tmp, 0o644)
        old = os.stat(path).st_mtime if os.path.exists(path) else 0
        os.rename(tmp, path)
        # rbldnsd reloads a file only when its mtime (seconds) changed
        t = max(time.time(), int(old) + 1)
        os.utime(path, (t, t))
        return path

    def _open_log(self, name):
        f = open(os.path.join(self.dir, name), "ab")
        self._logs.append(f)
        return f

    def _rbldnsd_cmd(self):
        cmd = [self.rbldnsd_bin, "-n", "-b", "127.0.0.1/%d" % self.rbl_port, "-w", self.dir]
        if self.ttl is not None:
            cmd += ["-t", str(self.ttl)]
        cmd += self.rbldnsd_args
        for zone, files in self._files.items():
            for dtype, fn in files:
                cmd.append("%s:%s:%s" % (zone, dtype, fn))
        return cmd

    def _start_rbldnsd(self, last):
        self.rbl_port = _free_dns_port()
        log = self._open_log("rbldnsd.log")
        start = log.tell()
        self.rbldnsd = subprocess.Popen(self._rbldnsd_cmd(), stdin=subprocess.DEVNULL, stdout=log,
                                        stderr=log)
        probe_zone = next(iter(self._files))

        def ready():
            if self.rbldnsd.poll() is not None:
                return "exited"
            r = dns_query(self.rbl_server, probe_zone, "A", timeout=0.2)
            return r.rcode != "TIMEOUT"

        res = wait_until(ready, self.start_timeout, 0.05, "rbldnsd on %s" % self.rbl_server)
        text = self.rbldnsd_log()[start:]
        if res == "exited":
            self.rbldnsd.wait()
            self.rbldnsd = None
            if "Address already in use" in text and not last:
                return False
            raise RuntimeError("DnsLab: rbldnsd exited at start:\n%s" % text[-2000:])
        if self.strict:
            self._check_rbldnsd_warnings(text)
        return True

    def _check_rbldnsd_warnings(self, text):
        bad = re.findall(r"^rbldnsd: file .*$", text, re.M)
        if bad:
            raise RuntimeError("DnsLab: rbldnsd rejected data lines (strict=True):\n  %s\nfiles:\n%s"
                               % ("\n  ".join(bad), self._describe_files()))

    def _describe_files(self):
        out = []
        for zone, files in self._files.items():
            for dtype, fn in files:
                out.append("  %s (%s %s)" % (fn, zone, dtype))
        return "\n".join(out)

    def _dnsmasq_cmd(self):
        cmd = [self.dnsmasq_bin, "-k", "--port=%d" % self.port, "--listen-address=127.0.0.1",
               "--bind-interfaces", "--no-resolv", "--no-hosts", "--no-poll", "--cache-size=0",
               "--conf-file=/dev/null", "--pid-file=", "--log-queries=extra", "--log-facility=-",
               "--local-ttl=%d" % self.local_ttl]
        for d in self.local_domains:
            cmd.append("--local=/%s/" % d)
        for zone in self._files:
            cmd.append("--server=/%s/127.0.0.1#%d" % (zone, self.rbl_port))
        for key, targets in self.ptr.items():
            name = key if key.rstrip(".").endswith(".arpa") else ptr_name(key)
            for t in targets:
                cmd.append("--ptr-record=%s,%s" % (name.rstrip("."), t.rstrip(".")))
        for name, ips in self.hosts.items():
            for ip in ips:
                ipaddress.ip_address(ip)          # ValueError early, not a dnsmasq exit
                cmd.append("--host-record=%s,%s" % (name.rstrip("."), ip))
        return cmd + self.dnsmasq_args

    def _start_dnsmasq(self, last):
        self.port = _free_dns_port()
        log = self._open_log("dnsmasq.log")
        start = log.tell()
        self.dnsmasq = subprocess.Popen(self._dnsmasq_cmd(), stdin=subprocess.DEVNULL, stdout=log,
                                        stderr=log)
        zones = list(self._files)

        def ready():
            if self.dnsmasq.poll() is not None:
                return "exited"
            # every zone must come back from rbldnsd through dnsmasq
            for z in zones:
                r = dns_query(self.server, z, "A", timeout=0.3)
                if r.rcode == "TIMEOUT":
                    return False
                if r.rcode not in ("NOERROR", "NXDOMAIN"):
                    raise RuntimeError("DnsLab: dnsmasq answers %s for zone %s (not forwarded?):\n%s"
                                       % (r.rcode, z, self.dnsmasq_log()[start:][-2000:]))
            return True

        res = wait_until(ready, self.start_timeout, 0.05, "dnsmasq on %s" % self.server)
        if res == "exited":
            self.dnsmasq.wait()
            self.dnsmasq = None
            text = self.dnsmasq_log()[start:]
            if "Address already in use" in text and not last:
                return False
            raise RuntimeError("DnsLab: dnsmasq exited at start:\n%s" % text[-2000:])
        return True

    # ------------------------------------------------------------ queries
    def lookup(self, name, qtype="A", server=None, timeout=2.0, tcp=False, edns=False):
        """-> DnsReply (rcode, aa, answers [(name, type, ttl, value)], ...)."""
        return dns_query(server or self.server, name, qtype, timeout=timeout, tcp=tcp, edns=edns)

    def query(self, name, qtype="A", server=None, timeout=2.0):
        """-> (rcode, [answer values as strings]). rcode 'NOERROR',
        'NXDOMAIN', 'REFUSED', 'SERVFAIL', ... or 'TIMEOUT'. Values: A/AAAA
        address, PTR/CNAME/NS name without the final dot, TXT the strings
        concatenated, MX 'pref host', SOA 'mname rname serial refresh retry
        expire minimum'. server: default lab.server (dnsmasq)."""
        r = self.lookup(name, qtype, server=server, timeout=timeout)
        return r.rcode, r.values()

    def silent_server(self):
        """Bind a UDP socket on 127.0.0.1 that never answers; '127.0.0.1:P'.
        Closed by stop()."""
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        self._silent.append(s)
        return "127.0.0.1:%d" % s.getsockname()[1]

    def update_zone(self, zone, spec, timeout=10):
        """Replace a zone's data (same form as in zones=, same number of
        datasets and types) and make rbldnsd reload it (SIGHUP), waiting
        until it has."""
        if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], str):
            spec = [spec]
        zone = zone.strip(".").lower()
        files = self._files[zone]
        if [t for t, _ in spec] != [t for t, _ in files]:
            raise ValueError("update_zone: dataset types must stay %r" % [t for t, _ in files])
        before = self.rbldnsd_log().count("zones reloaded")
        for (dtype, text), (_t, fn) in zip(spec, files):
            self._write(fn, text if isinstance(text, str) else "\n".join(text))
        self.zones[zone] = list(spec)
        self.rbldnsd.send_signal(signal.SIGHUP)
        wait_until(lambda: self.rbldnsd_log().count("zones reloaded") > before, timeout, 0.05,
                   "rbldnsd reload of %s" % zone)
        if self.strict:
            log = self.rbldnsd_log()
            self._check_rbldnsd_warnings(log[_nth_index(log, "zones reloaded", before):])

    # ------------------------------------------------------------ logs
    def _read(self, name):
        if self.dir is None:
            return ""
        try:
            with open(os.path.join(self.dir, name), "rb") as f:
                return f.read().decode("utf-8", "replace")
        except FileNotFoundError:
            return ""

    def dnsmasq_log(self, start=0):
        return self._read("dnsmasq.log")[start:]

    def rbldnsd_log(self):
        return self._read("rbldnsd.log")

    def mark(self):
        """Position in the dnsmasq log, for queries(start=)/forwarded(start=)."""
        return len(self._read("dnsmasq.log"))

    def queries(self, start=None):
        """[(qtype, name, client)] dnsmasq received since `start` (default:
        after the readiness probes). Lines may lag the reply by a moment."""
        text = self.dnsmasq_log(self._ready_mark if start is None else start)
        return re.findall(r"query\[(\w+)\] (\S+) from (\S+)", text)

    def forwarded(self, start=None):
        """[(name, 'IP#PORT')] dnsmasq sent upstream since `start`."""
        text = self.dnsmasq_log(self._ready_mark if start is None else start)
        return re.findall(r"forwarded (\S+) to (\S+)", text)


def _nth_index(text, needle, n):
    i = -1
    for _ in range(n):
        i = text.find(needle, i + 1)
    return max(i, 0)


def _terminate(p, timeout=5):
    if p.poll() is None:
        try:
            p.send_signal(signal.SIGTERM)
        except OSError:
            pass
        try:
            p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)
