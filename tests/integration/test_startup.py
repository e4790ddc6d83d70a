"""Start-up: one relay per listen address whatever the thread count."""
import unittest

from harness import HOST, RelayTestCase, child_env, get, relay_bin, to_toml


class SecondInstanceTest(RelayTestCase):
    START_RELAY = False

    def check_second_refused(self, threads):
        first = self.make_relay({"server": {"threads": threads}}, name="first-%d" % threads).start()
        type(self).relay = first
        second = self.make_relay({"server": {"threads": threads}}, name="second-%d" % threads, port=first.port)
        try:
            second.config_path.write_text(to_toml(second.config))
            second.spawn([relay_bin(), "--config", str(second.config_path)], env=child_env())
            code = second.wait(5.0)
            self.assertIsNotNone(code, "a second relay with threads = %d started on the used port %d" %
                                 (threads, first.port))
            self.assertNotEqual(code, 0)
            err = second.stderr_path.read_text()
            self.assertIn("%s:%d" % (HOST, first.port), err, "the error names the address")
            self.assertIn("in use", err)
            # The first one is untouched and still takes every connection.
            for i in range(4):
                self.assertEqual(get(first.port, "/second/%d?size=10" % i).status, 200)
        finally:
            second.stop()
            first.stop()

    def test_second_instance_fails_with_one_thread(self):
        self.check_second_refused(1)

    def test_second_instance_fails_with_two_threads(self):
        self.check_second_refused(2)

    def test_second_instance_fails_with_one_thread_per_core(self):
        self.check_second_refused(0)

if __name__ == "__main__":
    unittest.main()
