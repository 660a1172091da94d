#!/usr/bin/env python3
"""The daemon as an operator drives it: `sluice -t`, `-V`, SIGHUP reload
(new sessions get the new file, running sessions keep theirs, a broken file
is refused and the old one stays), SIGTERM drain (no new clients, open
sessions finish, the rest get 421 at the deadline)."""

import os
import socket
import subprocess
import time
import unittest

from harness import runner
from harness.client import RawClient, make_message
from harness.fakebackend import FakeBackend
from harness.sluice import Sluice, check_config, default_binary


class ConfigCheckTest(unittest.TestCase):
    def setUp(self):
        runner.require_sluice()

    def test_good_config(self):
        status, out = check_config("listen 127.0.0.1:2525\nbackend 127.0.0.1:10025\n")
        self.assertEqual(status, 0, out)
        self.assertIn("configuration OK", out)

    def test_shipped_example_config_is_valid(self):
        """etc/sluice.conf, as installed and as the Quick start runs it."""
        conf = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "etc", "sluice.conf")
        p = subprocess.run([default_binary(), "-t", "-c", conf], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=10)
        self.assertEqual(p.returncode, 0, p.stdout)
        self.assertIn("configuration OK", p.stdout)

    def test_every_error_with_file_line_column(self):
        text = ("listen 127.0.0.1:2525\n"
                "backend 127.0.0.1:10025\n"
                "limit recipients 0\n"          # 3:18
                "  frobnicate yes\n"            # 4:3
                "timeout data 5x\n"             # 5:14
                "xclient maybe\n"               # 6:9
                "listen 10.0.0.1:99999\n")      # 7:8
        status, out = check_config(text)
        self.assertNotEqual(status, 0)
        lines = [l for l in out.splitlines() if ": " in l and not l.startswith("sluice:")]
        locs = [":".join(l.split(":")[1:3]) for l in lines]
        self.assertEqual(locs, ["3:18", "4:3", "5:14", "6:9", "7:8"], out)
        self.assertIn("unknown statement 'frobnicate'", out)

    def test_syntax_error_position(self):
        status, out = check_config('listen 127.0.0.1:2525\nbackend 127.0.0.1:1\nbanner "unterminated\n')
        self.assertNotEqual(status, 0)
        self.assertRegex(out, r":3:8: unterminated string")

    def test_missing_file(self):
        p = subprocess.run([default_binary(), "-t", "-c", "/nonexistent/sluice.conf"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=10)
        self.assertEqual(p.returncode, 1)
        self.assertIn("/nonexistent/sluice.conf", p.stdout)

    def test_version(self):
        p = subprocess.run([default_binary(), "-V"], stdout=subprocess.PIPE, text=True, timeout=10)
        self.assertEqual(p.returncode, 0)
        self.assertRegex(p.stdout, r"^sluice \d+\.\d+\.\d+")


class PrivilegeDropTest(unittest.TestCase):
    def test_runs_as_configured_user(self):
        runner.require_root()
        runner.require_sluice()
        import pwd
        nobody = pwd.getpwnam("nobody")
        with FakeBackend() as fb, Sluice(backend=fb, extra=["user nobody"]) as sl:
            with open("/proc/%d/status" % sl.pid) as f:
                uids = [l.split()[1:] for l in f if l.startswith(("Uid:", "Gid:"))]
            self.assertEqual(uids[0], [str(nobody.pw_uid)] * 4, uids)   # real, effective, saved, fs
            self.assertEqual(uids[1], [str(nobody.pw_gid)] * 4, uids)
            mid, msg = make_message()
            with RawClient(sl.port) as c:
                c.banner()
                c.ehlo()
                c.send_message("a@client.test", ["b@example.test"], msg)
                c.quit()
            # the decision log was opened before the drop and is still written
            self.assertEqual(sl.wait_decision(event="msg.accept")["msgid"], mid)


class WorkersTest(unittest.TestCase):
    def test_workers_auto_is_one_event_loop_per_core(self):
        runner.require_sluice()
        with FakeBackend() as fb, Sluice(backend=fb, extra=["workers auto"]) as sl:
            start = sl.wait_event("daemon.start", start=0)
            self.assertEqual(int(start["workers"]), os.cpu_count(), start["line"])
            names = []
            for t in os.listdir("/proc/%d/task" % sl.pid):
                with open("/proc/%d/task/%s/comm" % (sl.pid, t)) as f:
                    names.append(f.read().strip())
            self.assertEqual(len(names), os.cpu_count() + 1, names)    # the workers and the main thread
        with FakeBackend() as fb, Sluice(backend=fb, extra=["workers 3"]) as sl:
            self.assertEqual(sl.wait_event("daemon.start", start=0)["workers"], "3")
            self.assertEqual(len(os.listdir("/proc/%d/task" % sl.pid)), 4)


class ListenerTest(unittest.TestCase):
    def test_ipv4_and_ipv6_listeners_and_xclient_ipv6(self):
        runner.require_sluice()
        from harness.sluice import free_port
        port6 = free_port()
        with FakeBackend() as fb, Sluice(backend=fb, extra=["listen [::1]:%d" % port6]) as sl:
            fb.clear()
            s = socket.create_connection(("::1", port6), timeout=5)
            try:
                f = s.makefile("rb")
                self.assertTrue(f.readline().startswith(b"220 "))
                s.sendall(b"EHLO v6.client.test\r\n")
                while not f.readline().startswith(b"250 "):
                    pass
                s.sendall(b"QUIT\r\n")
                self.assertTrue(f.readline().startswith(b"221 "))
            finally:
                s.close()
            fb.wait_connections(1)
            fb.connections[0].wait_verb("EHLO", count=1)
            x = fb.connections[0].xclient[0]
            self.assertEqual(x["ADDR"], "IPV6:::1")
            self.assertEqual(x["HELO"], "v6.client.test")
            with RawClient(sl.port) as c:      # the IPv4 listener still works
                c.banner()
                c.quit()

    def test_out_of_descriptors_pauses_accepting_and_recovers(self):
        # EMFILE at accept: a log line, no busy loop on the listener, and
        # clients are served again once descriptors are free
        runner.require_sluice()

        def cpu_s(pid):
            with open("/proc/%d/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

        with FakeBackend() as fb, Sluice(backend=fb, workers=1) as sl:
            # room for exactly five more sessions (a client and a backend
            # descriptor each): the sixth client finds accept4 out of descriptors
            base = len(os.listdir("/proc/%d/fd" % sl.pid))
            subprocess.run(["prlimit", "--pid", str(sl.pid), "--nofile=%d:%d" % (base + 10, base + 10)],
                           check=True, timeout=10)
            held = []
            try:
                for _ in range(8):
                    held.append(socket.create_connection(("127.0.0.1", sl.port), timeout=5))
                sl.wait_log(r"ev=daemon\.error what=accept error=.*pause_ms=", timeout=10)
                before = cpu_s(sl.pid)
                time.sleep(1.0)
                self.assertLess(cpu_s(sl.pid) - before, 0.3, "sluice spins while out of descriptors")
            finally:
                for s in held:
                    s.close()
            deadline = time.monotonic() + 10
            while True:
                try:
                    with RawClient(sl.port, source="127.0.0.76") as c:
                        c.banner()
                        c.quit()
                    break
                except Exception:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
            self.assertTrue(sl.running)

    def test_session_ids_differ_across_restarts(self):
        runner.require_sluice()
        sids = set()
        for _ in range(2):
            with FakeBackend() as fb, Sluice(backend=fb) as sl:
                with RawClient(sl.port, source="127.0.0.75") as c:
                    c.banner()
                    c.quit()
                sids.add(sl.wait_event("conn.close", client="127.0.0.75")["sid"])
        self.assertEqual(len(sids), 2)


class ReloadTest(unittest.TestCase):
    def setUp(self):
        runner.require_sluice()

    def test_reload_new_sessions_new_config_old_sessions_keep(self):
        with FakeBackend() as fb, Sluice(backend=fb, hostname="old.sluice.test",
                                         limits={"recipients": 1}) as sl:
            old = RawClient(sl.port)
            self.assertIn("old.sluice.test", old.banner().text)
            ev = sl.reload(hostname="new.sluice.test", limits={"recipients": 3})
            self.assertEqual(ev["ev"], "daemon.reload", ev)
            with RawClient(sl.port) as new:
                self.assertIn("new.sluice.test", new.banner().text)
                new.ehlo()
                new.cmd("MAIL FROM:<a@client.test>", expect=250)
                for i in range(3):
                    new.cmd("RCPT TO:<r%d@example.test>" % i, expect=250)
                new.quit()
            # the session that was open keeps the snapshot it started with
            r = old.ehlo()
            self.assertEqual(r.lines[0], "old.sluice.test")
            old.cmd("MAIL FROM:<a@client.test>", expect=250)
            old.cmd("RCPT TO:<r0@example.test>", expect=250)
            r = old.cmd("RCPT TO:<r1@example.test>")
            self.assertEqual((r.code, r.enhanced), (452, "4.5.3"), r)
            old.quit()

    def test_broken_reload_keeps_old(self):
        with FakeBackend() as fb, Sluice(backend=fb, hostname="kept.sluice.test") as sl:
            ev = sl.reload(extra=["this is not a statement"])
            self.assertEqual(ev["ev"], "daemon.reload_failed", ev)
            sl.wait_log(r"ev=daemon.reload_failed error=.*:\d+:\d+: unknown statement 'this'")
            with RawClient(sl.port) as c:
                self.assertIn("kept.sluice.test", c.banner().text)
                c.quit()
            self.assertIsNone(sl.proc.poll())


class DrainTest(unittest.TestCase):
    def setUp(self):
        runner.require_sluice()

    def test_sigterm_lets_open_sessions_finish(self):
        with FakeBackend() as fb:
            sl = Sluice(backend=fb, timeouts={"shutdown": "20s"}).start()
            try:
                c = RawClient(sl.port)
                c.banner()
                c.ehlo()
                c.cmd("MAIL FROM:<a@client.test>", expect=250)
                c.cmd("RCPT TO:<b@example.test>", expect=250)
                sl.proc.terminate()
                sl.wait_event("daemon.drain")
                # the listener is gone: new clients are not accepted
                deadline = time.monotonic() + 5
                refused = False
                while time.monotonic() < deadline and not refused:
                    try:
                        s = socket.create_connection(("127.0.0.1", sl.port), timeout=1)
                        s.close()
                        time.sleep(0.1)
                    except OSError:
                        refused = True
                self.assertTrue(refused, "sluice still accepts connections while draining")
                # the open session completes its message
                mid, msg = make_message()
                c.cmd("DATA", expect=354)
                c.send(msg + b".\r\n")
                self.assertEqual(c.read_reply().code, 250)
                c.quit()
                sl.proc.wait(10)
                self.assertEqual(sl.proc.returncode, 0)
                self.assertEqual(len(fb.all_messages()), 1)
            finally:
                sl.stop()

    def test_sigterm_deadline_sends_421(self):
        with FakeBackend() as fb:
            sl = Sluice(backend=fb, timeouts={"shutdown": "1s"}).start()
            try:
                c = RawClient(sl.port)
                c.banner()
                c.ehlo()
                sl.proc.terminate()
                r = c.read_reply(timeout=10)
                self.assertEqual((r.code, r.enhanced), (421, "4.3.2"), r)
                self.assertTrue(c.wait_closed(5))
                sl.proc.wait(10)
                self.assertEqual(sl.proc.returncode, 0)
                self.assertEqual(sl.sanitizer_report(), [])
            finally:
                sl.stop()


if __name__ == "__main__":
    runner.main()
