"""The manual pages: relay(8) (man/relay.8, written by hand) and relay.toml(5)
(built next to the relay binary by man/gen_config_man from the config
schema). Both render without a single groff warning, relay.toml(5) names
every key relay --print-config prints and every [[cache.rules]] key, and
relay(8) names every option and signal of relay --help."""
import os
import re
import shutil
import subprocess
import unittest
from pathlib import Path

from harness import REPO_ROOT, relay_bin, run_relay_cli

HAND_WRITTEN = REPO_ROOT / "man" / "relay.8"
RULE_ROWS = REPO_ROOT / "src" / "config" / "fields.cpp"
# Plain text: no SGR, bold or underline, so lines can be matched as written.
GROFF = ["groff", "-ww", "-man", "-Tutf8", "-P-cbou"]


def generated_page():
    """relay.toml.5 in the build directory of the relay under test."""
    return Path(relay_bin()).resolve().parent / "man" / "relay.toml.5"


def render(page):
    """(text, stderr) of groff with every warning on."""
    p = subprocess.run(GROFF + [str(page)], capture_output=True, text=True, timeout=60,
                       stdin=subprocess.DEVNULL)
    assert p.returncode == 0, "groff exited %d: %s" % (p.returncode, p.stderr)
    return p.stdout, p.stderr


def printed_keys(text):
    """Every `table.key` of relay --print-config's output (comments skipped)."""
    keys, table = [], None
    for line in text.splitlines():
        header = re.match(r"^\[([\w.]+)\]", line)
        if header:
            table = header.group(1)
            continue
        m = re.match(r"^(\w+) = ", line)
        if m and table:
            keys.append("%s.%s" % (table, m.group(1)))
    return keys


def rule_keys():
    """The keys of kRuleFields, the rows the loader reads a rule with."""
    source = RULE_ROWS.read_text()
    rows = source[source.index("kRuleFields[]"):]
    rows = rows[:rows.index("};")]
    return re.findall(r'row<K::\w+,\s*&R::\w+>\(\s*"(\w+)"\s*\)', rows)


def tags(lines):
    """The words .TP tags (seven columns in) begin with: where the page names a key."""
    return {m.group(1) for m in (re.match(r"^ {7}(\S+)", line) for line in lines) if m}


def subsection(text, title):
    """The lines of one .SS subsection of a rendered page."""
    lines = text.splitlines()
    start = lines.index("   " + title)
    end = next((i for i in range(start + 1, len(lines)) if re.match(r"^ {0,3}\S", lines[i])), len(lines))
    return lines[start + 1:end]


@unittest.skipUnless(shutil.which("groff"), "groff is not installed (apt-get install groff-base)")
class ManPagesTest(unittest.TestCase):
    def setUp(self):
        self.assertTrue(generated_page().exists(),
                        "%s is missing: ninja -C %s builds it (man/meson.build)"
                        % (generated_page(), Path(relay_bin()).resolve().parent))

    def test_both_pages_render_without_a_warning(self):
        for page in (HAND_WRITTEN, generated_page()):
            with self.subTest(page=page.name):
                text, stderr = render(page)
                self.assertEqual(stderr, "")
                self.assertIn("NAME", text)

    @unittest.skipUnless(shutil.which("man"), "man is not installed (apt-get install man-db)")
    def test_man_l_shows_both_pages_without_a_warning(self):
        env = dict(os.environ, MANPAGER="cat", MANWIDTH="80", LC_ALL="C.UTF-8")
        for page in (HAND_WRITTEN, generated_page()):
            with self.subTest(page=page.name):
                p = subprocess.run(["man", "--warnings", "-l", str(page)], capture_output=True, text=True,
                                   timeout=60, env=env, stdin=subprocess.DEVNULL)
                self.assertEqual((p.returncode, p.stderr), (0, ""))
                self.assertIn("SEE ALSO", p.stdout)

    def test_relay_toml_5_names_every_key_relay_prints(self):
        p = run_relay_cli(["--print-config"])
        self.assertEqual(p.returncode, 0, p.stderr)
        keys = printed_keys(p.stdout)
        self.assertGreater(len(keys), 100, "too few keys parsed from --print-config:\n" + p.stdout)
        self.assertIn("server.tls.certificates", keys)
        text, _ = render(generated_page())
        named = tags(text.splitlines())
        self.assertEqual([k for k in keys if k not in named], [])

    def test_relay_toml_5_names_every_rule_key(self):
        keys = rule_keys()
        self.assertTrue({"path", "ttl", "bypass"} <= set(keys), "kRuleFields not found in %s" % RULE_ROWS)
        text, _ = render(generated_page())
        named = tags(subsection(text, "[[cache.rules]]"))
        self.assertEqual([k for k in keys if k not in named], [])

    def test_relay_8_names_every_option_and_signal_of_help(self):
        p = run_relay_cli(["--help"])
        self.assertEqual(p.returncode, 0, p.stderr)
        words = set(re.findall(r"(?<![\w-])--?[A-Za-z][\w-]*", p.stdout)) | set(re.findall(r"\bSIG[A-Z0-9]+", p.stdout))
        self.assertTrue({"--config", "-t", "SIGHUP"} <= words, p.stdout)
        text, _ = render(HAND_WRITTEN)
        self.assertEqual(sorted(w for w in words if not re.search(r"(?<![\w-])%s(?![\w-])" % re.escape(w), text)), [])


if __name__ == "__main__":
    unittest.main()
