"""Hot reload and signal hygiene against the real binary: SIGHUP and
POST /reload apply a changed file (rules, stripped headers) to new requests
while cached objects, open connections and a download in flight carry on;
an invalid file or a change to a restart-only key keeps the old
configuration, answers a problem naming the key and is counted in
relay_config_reloads_total; SIGUSR1 reopens the access log after logrotate
renamed it; stray signals (SIGUSR2, SIGALRM, ...) do not kill relay."""
import json
import re
import signal
import threading
import time

from harness import RawConn, RelayTestCase, merge, to_toml, wait_until

SLOW = "/reload/slow?size=1500000&drip=0.05&drip_size=50000"  # ~30 pieces, ~1.5 s


class ReloadTest(RelayTestCase):
    """A relay per test: each one rewrites its configuration."""
    START_RELAY = False

    def setUp(self):
        self.relay = self.make_relay(self.initial_config(), name=self.id().rsplit(".", 1)[1]).start()
        self.addCleanup(self.relay.stop)
        self.origin.reset()

    def initial_config(self):
        return {"cache": {"strip_request_headers": ["X-Secret"]}}

    # -- helpers -------------------------------------------------------------
    def rewrite(self, overrides=None, text=None):
        """A new relay.toml: the running file's settings merged with overrides, or raw text."""
        if text is None:
            self.relay.config = merge(self.relay.config, overrides or {})
            text = to_toml(self.relay.config)
        self.relay.config_path.write_text(text)

    def reloads_logged(self):
        return len(re.findall(r"configuration reloaded \(generation", self.relay.stderr_path.read_text()))

    def sighup(self):
        """SIGHUP, then wait for the reload's outcome in the log."""
        log = self.relay.stderr_path
        before = log.read_text().count("SIGHUP: reloading the configuration")
        self.relay.signal(signal.SIGHUP)

        def ended():
            # The outcome must follow this signal's start line: outcomes of earlier
            # POST /reload calls are in the same log and must not count.
            text = log.read_text()
            if text.count("SIGHUP: reloading the configuration") <= before:
                return False
            after_start = text.rsplit("SIGHUP: reloading the configuration", 1)[1]
            return re.search(r"configuration reloaded \(generation|config reload failed|reload refused",
                             after_start) is not None
        wait_until(ended, 5, what="the SIGHUP reload to finish")

    def post_reload(self):
        r = self.relay.admin("POST", "/reload")
        return r, json.loads(r.body.decode())

    def echoed(self, target, headers):
        r = self.get(target, headers=headers)
        self.assertEqual(r.status, 200, r)
        return {name.lower() for name, _ in json.loads(r.body.decode())["headers"]}

    def reload_counts(self):
        text = self.relay.metrics()
        counts = {}
        for result in ("success", "failure", "refused"):
            m = re.search(r'relay_config_reloads_total\{result="%s"\} (\d+)' % result, text)
            counts[result] = int(m.group(1)) if m else None
        return counts

    # -- applied changes -------------------------------------------------------
    def test_a_header_strip_change_applies_after_sighup(self):
        self.assertNotIn("x-secret", self.echoed("/echo/before", {"X-Secret": "1", "X-Other": "2"}))
        self.rewrite({"cache": {"strip_request_headers": ["X-Other"]}})
        self.sighup()
        after = self.echoed("/echo/after", {"X-Secret": "1", "X-Other": "2"})
        self.assertIn("x-secret", after)
        self.assertNotIn("x-other", after)
        self.assertIn("SIGHUP: reloading the configuration", self.relay.stderr_path.read_text())

    def test_a_rule_ttl_applies_after_post_reload(self):
        # No freshness from the origin and none configured: never stored.
        for _ in range(2):
            self.assertEqual(self.get("/ttl/a").status, 200)
        self.assertEqual(self.origin.count("/ttl/a"), 2)
        self.rewrite({"cache": {"rules": [{"path": "/ttl/*", "ttl": "1h"}]}})
        r, body = self.post_reload()
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.header("Content-Type"), "application/json")
        self.assertEqual(body["result"], "success")
        self.assertEqual(body["generation"], 2)
        self.assertXCache(self.get("/ttl/b"), "MISS")
        self.assertXCache(self.get("/ttl/b"), "HIT")
        self.assertEqual(self.origin.count("/ttl/b"), 1)

    def test_cached_objects_and_open_connections_survive_a_reload(self):
        target = "/reload/keep?cc=max-age%3D600&size=5000"
        conn = RawConn(self.relay.port)
        conn.request("GET", target)
        first = conn.read_response()
        self.assertXCache(first, "MISS")
        self.rewrite({"cache": {"status_name": "relay-b"}})
        self.sighup()
        conn.request("GET", target)  # the same keep-alive connection
        again = conn.read_response()
        self.assertEqual(again.status, 200)
        self.assertXCache(again, "HIT")
        self.assertBody(again, "/reload/keep", 5000)
        # A new request takes the new configuration: its Cache-Status names relay-b.
        fresh = self.get(target)
        self.assertXCache(fresh, "HIT")
        self.assertTrue(fresh.header("Cache-Status").startswith("relay-b"), fresh.header("Cache-Status"))
        self.assertEqual(self.origin.count("/reload/keep"), 1)
        conn.close()

    def test_a_download_in_flight_during_sighup_completes_intact(self):
        result = {}

        def download():
            conn = RawConn(self.relay.port, timeout=20)
            conn.request("GET", SLOW)
            result["resp"] = conn.read_response()
            conn.close()
        t = threading.Thread(target=download)
        t.start()
        wait_until(lambda: self.origin.count("/reload/slow") == 1, 5, what="the download to start")
        time.sleep(0.2)
        self.rewrite({"upstream": {"idle_timeout": "20s"}, "cache": {"strip_request_headers": []}})
        self.sighup()
        self.assertTrue(t.is_alive(), "the download ended before the reload: make it slower")
        t.join(20)
        self.assertFalse(t.is_alive())
        resp = result["resp"]
        self.assertEqual(resp.status, 200)
        self.assertBody(resp, "/reload/slow", 1500000)
        self.assertEqual(self.reloads_logged(), 1)

    # -- refused changes ---------------------------------------------------------
    def test_an_invalid_file_keeps_the_old_configuration(self):
        self.rewrite(text=to_toml(merge(self.relay.config, {"cache": {"bogus_key": 1}})))
        r = self.relay.admin("POST", "/reload")
        self.assertEqual(r.status, 422, r)
        self.assertEqual(r.header("Content-Type"), "application/problem+json")
        detail = json.loads(r.body.decode())["detail"]
        self.assertIn("config reload failed", detail)
        self.assertIn("relay.toml:", detail)
        self.assertIn("bogus_key", detail)
        # A bad value, through SIGHUP: logged, and still serving with the old rules.
        self.rewrite(text=to_toml(merge(self.relay.config, {"upstream": {"connect_timeout": "soon"}})))
        self.sighup()
        self.assertTrue(self.relay.alive())
        log = self.relay.stderr_path.read_text()
        self.assertRegex(log, r"config reload failed: .*upstream\.connect_timeout")
        self.assertNotIn("x-secret", self.echoed("/echo/still", {"X-Secret": "1"}))
        self.assertEqual(self.reload_counts(), {"success": 0, "failure": 2, "refused": 0})

    def test_a_restart_only_change_is_refused_naming_the_key(self):
        self.rewrite({"storage": {"backend": "disk"}, "cache": {"strip_request_headers": ["X-Other"]}})
        r = self.relay.admin("POST", "/reload")
        self.assertEqual(r.status, 409, r)
        self.assertEqual(r.header("Content-Type"), "application/problem+json")
        self.assertIn("reload refused: storage.backend changed (needs a restart)", json.loads(r.body.decode())["detail"])
        # Nothing of the file applied: X-Secret is still stripped.
        self.assertNotIn("x-secret", self.echoed("/echo/refused", {"X-Secret": "1"}))

        self.relay.config["storage"] = {}
        self.rewrite({"server": {"threads": 3}})  # not RELAY_IT_THREADS's 2 either
        self.sighup()
        self.assertIn("reload refused: server.threads changed (needs a restart)", self.relay.stderr_path.read_text())
        self.assertEqual(self.reload_counts(), {"success": 0, "failure": 0, "refused": 2})

    def test_reloads_are_counted_by_result(self):
        self.assertEqual(self.reload_counts(), {"success": 0, "failure": 0, "refused": 0})
        self.sighup()  # unchanged file: a success
        self.rewrite({"server": {"threads": 3}})
        self.assertEqual(self.relay.admin("POST", "/reload").status, 409)
        self.rewrite(text="[server\n")
        self.assertEqual(self.relay.admin("POST", "/reload").status, 422)
        self.assertEqual(self.reload_counts(), {"success": 1, "failure": 1, "refused": 1})


class AccessLogReopenTest(RelayTestCase):
    """SIGUSR1 after logrotate's rename: the next lines go to a new file at the
    configured path, the renamed file keeps the earlier ones."""

    @classmethod
    def relay_config(cls):
        cls.log_path = cls.workdir / "access.log"
        return {"log": {"access_log": str(cls.log_path)}}

    def test_sigusr1_reopens_the_access_log_at_its_path(self):
        self.assertEqual(self.get("/rotate/before").status, 200)
        wait_until(lambda: "/rotate/before" in self.log_path.read_text(), 5, what="the first line")
        rotated = self.workdir / "access.log.1"
        self.log_path.rename(rotated)
        self.assertEqual(self.get("/rotate/between").status, 200)  # still into the renamed file
        # The line is written once the response is done, which may be after the
        # client has it: wait for it, or SIGUSR1 could overtake it.
        wait_until(lambda: "/rotate/between" in rotated.read_text(), 5, what="the line before the reopen")
        self.relay.signal(signal.SIGUSR1)
        wait_until(lambda: "SIGUSR1: access log reopened" in self.relay.stderr_path.read_text(), 5,
                   what="the reopen")
        self.assertEqual(self.get("/rotate/after").status, 200)
        wait_until(lambda: self.log_path.exists() and "/rotate/after" in self.log_path.read_text(), 5,
                   what="a line in the new file")
        old = rotated.read_text()
        self.assertIn("/rotate/before", old)
        self.assertIn("/rotate/between", old)
        self.assertNotIn("/rotate/after", old)
        self.assertNotIn("/rotate/before", self.log_path.read_text())


class StraySignalTest(RelayTestCase):
    def test_stray_signals_and_sighup_do_not_kill_relay(self):
        for sig in (signal.SIGUSR2, signal.SIGHUP, signal.SIGALRM, signal.SIGPIPE, signal.SIGQUIT,
                    signal.SIGUSR1, signal.SIGVTALRM, signal.SIGIO, signal.SIGXFSZ):
            self.relay.signal(sig)
            time.sleep(0.05)
            self.assertTrue(self.relay.alive(), "relay died of %s" % sig.name)
            self.assertEqual(self.get("/stray/%s" % sig.name).status, 200)
        wait_until(lambda: "SIGUSR2: ignored" in self.relay.stderr_path.read_text(), 5, what="SIGUSR2 logged")
        # SIGTERM still drains and exits cleanly.
        self.relay.signal(signal.SIGTERM)
        self.assertEqual(self.relay.wait(10), 0)
