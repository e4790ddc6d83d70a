"""Structured lifetimes at the edges: exit status after a clean drain or a
cut one, signals that arrive while relay is already shutting down, the
request context on diagnostic lines, rate-limited storage warnings."""
import signal
import threading
import time

from harness import RawConn, RelayTestCase, expected_body, free_port, get, port_open, wait_until
from test_storage_redis import SITE, RedisRelayTestCase


class SlowClient:
    """One request in a thread; the response or the error it met."""

    def __init__(self, port, target, timeout=15):
        self.result = {}
        self.thread = threading.Thread(target=self._run, args=(port, target, timeout))
        self.thread.start()

    def _run(self, port, target, timeout):
        try:
            with RawConn(port, timeout=timeout) as c:
                c.request("GET", target)
                self.result["resp"] = c.read_response()
        except Exception as e:  # noqa: BLE001 - the test reads it
            self.result["error"] = e

    def join(self):
        self.thread.join(20)


class LifetimeTest(RelayTestCase):
    START_RELAY = False

    def start_with_grace(self, grace):
        relay = type(self).relay = self.make_relay({"server": {"shutdown_grace": grace}}).start()
        return relay

    def test_clean_drain_exits_zero(self):
        relay = self.start_with_grace("5s")
        client = SlowClient(relay.port, "/lt/clean?delay=1.5&size=50000")
        try:
            wait_until(lambda: self.origin.count("/lt/clean") == 1, 3, what="request at origin")
            relay.signal(signal.SIGTERM)
            client.join()
            self.assertNotIn("error", client.result)
            self.assertEqual(client.result["resp"].body, expected_body("/lt/clean", 50000))
            self.assertEqual(relay.wait(6.0), 0, "exit status after a clean drain")
        finally:
            client.join()

    def test_grace_cutting_a_request_exits_one(self):
        relay = self.start_with_grace("500ms")
        client = SlowClient(relay.port, "/lt/cut?delay=8&size=1000")
        try:
            wait_until(lambda: self.origin.count("/lt/cut") == 1, 3, what="request at origin")
            sent = time.monotonic()
            relay.signal(signal.SIGTERM)
            code = relay.wait(5.0)
            self.assertEqual(code, 1, "exit status when the grace cut a request\n" + relay.logs())
            self.assertLess(time.monotonic() - sent, 4.0, "cut soon after the grace")
            self.assertIn("shutdown grace elapsed", relay.stderr_path.read_text())
        finally:
            client.join()

    def test_second_signal_during_drain_does_not_kill(self):
        relay = self.start_with_grace("5s")
        client = SlowClient(relay.port, "/lt/twice?delay=1.5&size=1000")
        try:
            wait_until(lambda: self.origin.count("/lt/twice") == 1, 3, what="request at origin")
            relay.signal(signal.SIGTERM)
            wait_until(lambda: not port_open(relay.port), 1.5, what="listener to close")
            relay.signal(signal.SIGTERM)
            relay.signal(signal.SIGINT)
            time.sleep(0.2)
            self.assertTrue(relay.alive(), "a second signal must not kill relay during the drain")
            client.join()
            self.assertNotIn("error", client.result)
            self.assertEqual(client.result["resp"].status, 200)
            self.assertEqual(relay.wait(6.0), 0, "exit status after the drain")
            self.assertIn("already shutting down", relay.stderr_path.read_text())
        finally:
            client.join()


class DiagnosticContextTest(RelayTestCase):
    START_RELAY = False

    def test_diagnostic_line_names_the_request(self):
        # Nothing listens on the upstream port: the 502 comes with a warning.
        relay = type(self).relay = self.make_relay(upstream="http://127.0.0.1:%d" % free_port()).start()
        r = get(relay.port, "/lt/diag", headers={"X-Request-ID": "lt-diag-7"})
        self.assertEqual(r.status, 502)
        log = relay.stderr_path.read_text(errors="replace")
        lines = [line for line in log.splitlines() if "origin request failed" in line]
        self.assertEqual(len(lines), 1, log)
        self.assertIn("id lt-diag-7", lines[0])
        self.assertIn("client 127.0.0.1", lines[0])


class StorageWarningRateTest(RedisRelayTestCase):
    def storage_warnings(self):
        log = self.relay.stderr_path.read_text(errors="replace")
        return [line for line in log.splitlines() if " warn " in line and "storage" in line]

    def test_dead_redis_warns_once_then_summarises(self):
        self.assertEqual(get(self.relay.port, "/lt/warm?size=10", headers=SITE).status, 200)
        self.redis.kill()
        before = len(self.storage_warnings())
        requests = 40
        for i in range(requests):
            r = get(self.relay.port, "/lt/dead%d?size=10&cc=max-age%%3D600" % i, headers=SITE)
            self.assertEqual(r.status, 200)
        during = self.storage_warnings()[before:]
        self.assertGreaterEqual(len(during), 1, "the first failure is logged")
        self.assertLessEqual(len(during), 3, "one line per error kind, not one per request:\n" + "\n".join(during))
        time.sleep(10.5)  # the warning interval
        self.assertEqual(get(self.relay.port, "/lt/after?size=10&cc=max-age%3D600", headers=SITE).status, 200)
        summaries = [line for line in self.storage_warnings()[before:] if "more like this in the last" in line]
        self.assertTrue(summaries, "\n".join(self.storage_warnings()))
