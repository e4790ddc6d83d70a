"""relay --print-config and --help from the command line: sources of a file plus
environment overrides, the round trip through --config, masked secrets, and
a relay started from the printed file."""
import re
import unittest

from harness import (Process, RelayTestCase, child_env, free_port, get, port_open, relay_bin,
                     run_relay_cli, wait_stored, wait_until)

CONFIG = """\
[server]
listen = "127.0.0.1:{port}"
shutdown_grace = "5s"

[upstream]
url = "{origin}"

[cache]
default_ttl = "10s"
max_object_size = "2MiB"

[[cache.rules]]
path = "/static/*"
ttl = "7d"
"""


def parse(text):
    """{"table.key": (value as printed, source)} for every `key = value  # source`
    line; a rule's keys are "cache.rules[N].key" (N from 1)."""
    out, table, rules = {}, None, 0
    for line in text.splitlines():
        header = re.match(r"^(\[\[?)([^\]]+)\]", line)
        if header:
            if header.group(1) == "[[":
                rules += 1
                table = "%s[%d]" % (header.group(2), rules)
            else:
                table = header.group(2)
            continue
        m = re.match(r"^(\w+) = (.*?)\s+# (.*)$", line)
        if m:
            out["%s.%s" % (table, m.group(1))] = (m.group(2), m.group(3))
    return out


def values(text):
    return {k: v for k, (v, _) in parse(text).items()}


def sources(text):
    return {k: s for k, (_, s) in parse(text).items()}


class PrintConfigTest(RelayTestCase):
    START_RELAY = False

    def write(self, name, text):
        path = self.workdir / name
        path.write_text(text)
        return path

    def test_sources_of_file_and_environment_and_the_round_trip(self):
        port = free_port()
        path = self.write("relay.toml", CONFIG.format(port=port, origin=self.origin.url))
        env = {"RELAY_CACHE_DEFAULT_TTL": "90s", "RELAY_SERVER_THREADS": "2",
               "RELAY_CACHE_KEY_IGNORE_PARAMS": "utm_*,ref"}
        p = run_relay_cli(["--print-config", "--config", str(path)], env=env)
        self.assertEqual(p.returncode, 0, p.stderr)
        text = p.stdout
        src = sources(text)
        self.assertEqual(src["server.listen"], "%s:2" % path)
        self.assertEqual(src["upstream.url"], "%s:6" % path)
        self.assertEqual(src["cache.max_object_size"], "%s:10" % path)
        self.assertEqual(src["cache.default_ttl"], "env RELAY_CACHE_DEFAULT_TTL")
        self.assertEqual(src["server.threads"], "env RELAY_SERVER_THREADS")
        self.assertEqual(src["cache.key.ignore_params"], "env RELAY_CACHE_KEY_IGNORE_PARAMS")
        self.assertEqual(src["server.idle_timeout"], "default")
        self.assertEqual(src["cache.rules[1].ttl"], "%s:14" % path)
        self.assertEqual(src["cache.rules[1].bypass"], "default")
        self.assertIn("[[cache.rules]]  # %s:12, rule 1" % path, text)
        first = values(text)
        self.assertEqual(first["cache.default_ttl"], '"90s"')
        self.assertEqual(first["cache.max_object_size"], '"2MiB"')
        self.assertEqual(first["cache.key.ignore_params"], '["utm_*", "ref"]')
        self.assertEqual(first["server.threads"], "2")

        # Loaded back without the environment: the same values, now all from the file.
        printed = self.write("printed.toml", text)
        again = run_relay_cli(["--print-config", "--config", str(printed)])
        self.assertEqual(again.returncode, 0, again.stderr)
        self.assertEqual(values(again.stdout), first)
        self.assertTrue(all(s.startswith("%s:" % printed) for s in sources(again.stdout).values()),
                        sources(again.stdout))
        check = run_relay_cli(["--check-config", str(printed)])
        self.assertEqual(check.returncode, 0, check.stderr)

        # And relay runs from it: the rule's ttl stores a response the origin
        # gives no freshness.
        relay = type(self).relay = Process("relay-printed", self.workdir)
        relay.spawn([relay_bin(), "--config", str(printed)], env=child_env())
        wait_until(lambda: port_open(port), 10, what="relay from the printed config")
        self.assertEqual(get(port, "/static/a.css?size=10").header("X-Cache"), "MISS")
        # The entry is committed just after the last byte went out.
        wait_stored(port, "/static/a.css?size=10")
        hit = get(port, "/static/a.css?size=10")
        self.assertEqual(hit.header("X-Cache"), "HIT")
        ttl = re.search(r"ttl=(\d+)", hit.header("Cache-Status") or "")
        self.assertIsNotNone(ttl, hit.header("Cache-Status"))
        self.assertGreater(int(ttl.group(1)), 7 * 86400 - 60, "the rule's 7d, not default_ttl's 90s")
        self.assertEqual(relay.stop(), 0)

    def test_without_a_file_defaults_and_environment(self):
        p = run_relay_cli(["--print-config"], env={"RELAY_UPSTREAM_URL": "http://127.0.0.1:3000"})
        self.assertEqual(p.returncode, 0, p.stderr)
        src = sources(p.stdout)
        self.assertEqual(src["upstream.url"], "env RELAY_UPSTREAM_URL")
        self.assertEqual(values(p.stdout)["upstream.url"], '"http://127.0.0.1:3000"')
        self.assertEqual(set(src.values()) - {"default", "env RELAY_UPSTREAM_URL"}, set())

    def test_the_redis_password_is_masked(self):
        path = self.write("secret.toml", '[storage.redis]\nurl = "redis://:filesecret@127.0.0.1:6379/0"\n')
        p = run_relay_cli(["--print-config", "--config", str(path)],
                          env={"RELAY_UPSTREAM_URL": "http://deploy:envsecret@127.0.0.1:3000"})
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertNotIn("filesecret", p.stdout + p.stderr)
        self.assertNotIn("envsecret", p.stdout + p.stderr)
        self.assertEqual(values(p.stdout)["storage.redis.url"], '"redis://:***@127.0.0.1:6379/0"')
        self.assertEqual(values(p.stdout)["upstream.url"], '"http://deploy:***@127.0.0.1:3000"')
        self.assertIn("# Secrets are printed as ***", p.stdout)

    def test_an_invalid_configuration_prints_nothing_and_fails(self):
        path = self.write("bad.toml", "[server]\nlistn = 1\n")
        p = run_relay_cli(["--print-config", "--config", str(path)])
        self.assertEqual(p.returncode, 1)
        self.assertEqual(p.stdout, "")
        self.assertIn("%s:2: server.listn: unknown key" % path, p.stderr)


class HelpTest(unittest.TestCase):
    def test_help_fits_one_screen_and_says_where_to_look(self):
        p = run_relay_cli(["--help"])
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = p.stdout.splitlines()
        self.assertLessEqual(len(lines), 24, p.stdout)
        self.assertLessEqual(max(len(l) for l in lines), 80, p.stdout)
        for word in ("Usage:", "--config", "--check-config", "--print-config", "--version",
                     "RELAY_", "relay.example.toml", "docs/caching.md", "README.md"):
            self.assertIn(word, p.stdout)

    def test_check_and_print_together_is_a_usage_error(self):
        p = run_relay_cli(["--check-config", "x.toml", "--print-config"])
        self.assertEqual(p.returncode, 2)
        self.assertIn("exclude each other", p.stderr)


if __name__ == "__main__":
    unittest.main()
