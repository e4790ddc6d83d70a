"""The README as a newcomer reads it: the quick start is on its first screen,
and every command in its ```sh blocks is run by an integration test (named
below, and checked to exist) or by scripts/test.sh itself. A command added to
the README without either fails here."""
import importlib
import re
import unittest

from harness import REPO_ROOT

FIRST_SCREEN = 40  # lines

# README command -> the test that runs it ("module.Class.test").
TESTED = {
    "scripts/run.sh":
        "test_quickstart.QuickStartTest."
        "test_without_an_origin_the_printed_curls_show_miss_then_hit_and_ctrl_c_stops_both",
    "curl -i http://127.0.0.1:8080/":
        "test_quickstart.QuickStartTest."
        "test_without_an_origin_the_printed_curls_show_miss_then_hit_and_ctrl_c_stops_both",
    "RELAY_UPSTREAM_URL=http://127.0.0.1:3000 scripts/run.sh":
        "test_quickstart.QuickStartTest.test_with_relay_upstream_url_it_fronts_that_origin_and_no_demo",
    "relay --config relay.toml":
        "test_print_config.PrintConfigTest.test_sources_of_file_and_environment_and_the_round_trip",
    "relay --check-config relay.toml":
        "test_print_config.PrintConfigTest.test_sources_of_file_and_environment_and_the_round_trip",
    "relay --print-config --config relay.toml":
        "test_print_config.PrintConfigTest.test_sources_of_file_and_environment_and_the_round_trip",
    "relay --version": "test_ops.CliTest.test_version",
    "relay --help": "test_print_config.HelpTest.test_help_fits_one_screen_and_says_where_to_look",
    "curl -s http://127.0.0.1:9091/healthz":
        "test_admin.AdminApiTest.test_healthz_is_json_with_each_loops_lag",
    "curl -s http://127.0.0.1:9091/readyz": "test_admin.AdminApiTest.test_readyz_is_200_when_ready",
    "curl -s http://127.0.0.1:9091/metrics":
        "test_admin.AdminApiTest.test_metrics_are_on_the_admin_listener_and_not_the_public_one",
    'curl -s -H "Authorization: Bearer $(cat /etc/relay/admin.token)" http://127.0.0.1:9091/readyz':
        "test_admin.AdminTokenFileTest.test_the_token_can_come_from_a_file",
    """curl -s -X POST -d '{"url": "http://www.example.com/a"}' http://127.0.0.1:9091/purge""":
        "test_purge.PurgeByUrlTest.test_url_purge_removes_the_entry_and_says_so",
    """curl -s -X POST -d '{"tag": "product-42", "soft": true}' http://127.0.0.1:9091/purge""":
        "test_purge.PurgeTokenAndCliTest.test_cli_prefix_tag_all_and_soft",
    "relay purge --config /etc/relay/relay.toml http://www.example.com/a":
        "test_purge.PurgeTokenAndCliTest.test_cli_purges_a_url_and_prints_the_count",
    "relay purge --config /etc/relay/relay.toml --prefix http://www.example.com/static/":
        "test_purge.PurgeTokenAndCliTest.test_cli_prefix_tag_all_and_soft",
    "relay purge --config /etc/relay/relay.toml --soft --tag product-42":
        "test_purge.PurgeTokenAndCliTest.test_cli_prefix_tag_all_and_soft",
    "relay purge --config /etc/relay/relay.toml --all":
        "test_purge.PurgeTokenAndCliTest.test_cli_prefix_tag_all_and_soft",
    'kill -HUP "$(pidof relay)"': "test_reload.ReloadTest.test_a_header_strip_change_applies_after_sighup",
    "curl -s -X POST http://127.0.0.1:9091/reload": "test_reload.ReloadTest.test_a_rule_ttl_applies_after_post_reload",
    "relay --config examples/apt-mirror.toml":
        "test_mirror_profiles.AptMirrorTest.test_a_second_update_makes_no_origin_request",
    "relay --config examples/nix-cache.toml": "test_mirror_profiles.NixCacheTest.test_substituter_sequence",
    "meson install -C build": "test_systemd.InstallTest.test_binary_config_and_unit_in_their_places",
    "dpkg-buildpackage -us -uc -b": "test_package.PackageTest.test_1_the_deb_is_built_and_lintian_reports_no_error",
    "dpkg -i ../relay_0.1.0_amd64.deb": "test_package.PackageTest.test_2_it_installs_files_where_debian_puts_them",
}
# Commands scripts/test.sh (which .ci/run executes) runs as written.
TEST_SCRIPTS = ("scripts/test.sh", ".ci/run")


def readme():
    return (REPO_ROOT / "README.md").read_text()


def sh_commands(text):
    """Every command line of the ```sh blocks, comments removed, in order."""
    out, inside = [], False
    for line in text.splitlines():
        if line.startswith("```"):
            inside = line.strip() == "```sh" if not inside else False
            continue
        if inside:
            command = re.sub(r"\s+#.*$", "", line).strip()
            if command and not command.startswith("#"):
                out.append(command)
    return out


class ReadmeTest(unittest.TestCase):
    def test_the_quick_start_is_on_the_first_screen(self):
        first = "\n".join(readme().splitlines()[:FIRST_SCREEN])
        for needle in ("## Quick start", "scripts/run.sh", "curl -i http://127.0.0.1:8080/",
                       "X-Cache: MISS", "X-Cache: HIT", "Age"):
            self.assertIn(needle, first, "%r not in the README's first %d lines" % (needle, FIRST_SCREEN))

    def test_every_command_is_exercised(self):
        commands = sh_commands(readme())
        self.assertIn("scripts/run.sh", commands)
        scripts = "\n".join((REPO_ROOT / p).read_text() for p in TEST_SCRIPTS)
        for command in commands:
            with self.subTest(command=command):
                if command in TESTED:
                    module, cls, test = TESTED[command].split(".")
                    self.assertTrue(hasattr(getattr(importlib.import_module(module), cls), test),
                                    "%s names a missing test" % TESTED[command])
                else:
                    self.assertIn(command, scripts,
                                  "README command %r is run by no test and not by %s: add a test to "
                                  "TESTED in %s" % (command, " or ".join(TEST_SCRIPTS), __file__))

    def test_the_rfc_detail_lives_in_docs_caching_md(self):
        self.assertTrue((REPO_ROOT / "docs" / "caching.md").is_file())
        self.assertIn("docs/caching.md", readme())
        self.assertIn("## Security model", readme())


if __name__ == "__main__":
    unittest.main()
