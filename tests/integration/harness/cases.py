"""harness/cases.py: the unittest base class for tests that run sluice in
front of a FakeBackend (test_faults, test_client_input, test_limits)."""

import time
import unittest

from .client import ConnectionClosed, RawClient
from .fakebackend import FakeBackend
from .sluice import Sluice

HOST = "mx.sluice.test"


class SluiceCase(unittest.TestCase):
    """Starts a FakeBackend and a sluice in front of it; both are stopped
    by the cleanups. tearDown checks that sluice is still alive and that no
    sanitizer complained."""

    TIMEOUTS = {"command": "1s", "idle": "3s", "data": "3s"}

    def setUp(self):
        self._sluices = []

    def start_sluice(self, backend, **sl_kw):
        sl_kw.setdefault("timeouts", dict(self.TIMEOUTS))
        sl = Sluice(backend=backend, hostname=HOST, **sl_kw).start()
        self.addCleanup(sl.__exit__, None, None, None)
        self._sluices.append(sl)
        return sl

    def start(self, script=None, fb_kw=None, **sl_kw):
        fb = FakeBackend(script=script, **(fb_kw or {})).start()
        self.addCleanup(fb.stop)
        sl = self.start_sluice(fb, **sl_kw)
        fb.clear()
        return fb, sl

    def client(self, sl, source="127.0.0.5", timeout=5):
        c = RawClient(sl.port, source=source, timeout=timeout)
        self.addCleanup(c.close)
        return c

    def session(self, sl, source="127.0.0.5", helo="client.test"):
        c = self.client(sl, source)
        c.banner()
        c.ehlo(helo)
        return c

    def tearDown(self):
        for sl in self._sluices:
            self.assertTrue(sl.running(), "sluice died:\n" + "\n".join(sl.log_lines[-30:]))
            self.assertEqual(sl.sanitizer_report(), [])

    def assert_closed(self, c, timeout=5):
        self.assertTrue(c.wait_closed(timeout), "sluice did not close the client connection")

    def read_until_closed(self, c, timeout=5):
        """All complete replies until the peer closes."""
        out = []
        deadline = time.monotonic() + timeout
        while True:
            try:
                out.append(c.read_reply(timeout=max(0.01, deadline - time.monotonic())))
            except ConnectionClosed:
                return out
