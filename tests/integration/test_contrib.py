"""contrib/: the Grafana dashboard and the Prometheus rules name only
metrics a real relay exports (a relay on Redis storage, so the lock and
Redis families are there, after some traffic), and promtool accepts the
rules file and the scrape itself."""
import json
import re
import shutil
import subprocess
import unittest

from harness import REPO_ROOT, RedisRelayCase

DASHBOARD = REPO_ROOT / "contrib" / "grafana" / "relay.json"
RULES = REPO_ROOT / "contrib" / "prometheus" / "relay-rules.yml"
METRIC = re.compile(r"\b((?:relay|process)_[a-z0-9_]+)")


def families(scrape):
    return {line.split()[2] for line in scrape.splitlines() if line.startswith("# TYPE ")}


def family_of(name):
    """The metric family a series name belongs to (histogram series carry a suffix)."""
    return re.sub(r"_(bucket|count|sum)$", "", name)


class ContribTest(RedisRelayCase):
    def scrape(self):
        for _ in range(2):
            self.get("/contrib/x?cc=max-age%3D60")
        return self.relay.metrics()

    def test_every_metric_the_dashboard_and_the_rules_use_is_exported(self):
        exported = families(self.scrape())
        dashboard = json.loads(DASHBOARD.read_text())
        exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
        exprs += [v["definition"] for v in dashboard["templating"]["list"] if "definition" in v]
        self.assertGreater(len(exprs), 10)
        used = {family_of(m) for e in exprs for m in METRIC.findall(e)}
        used |= {family_of(m) for m in METRIC.findall(RULES.read_text())}
        self.assertGreater(len(used), 10)
        self.assertEqual(sorted(used - exported), [], "named in contrib/ but not in a real /metrics scrape")

    @unittest.skipUnless(shutil.which("promtool"), "promtool is not installed (apt-get install prometheus)")
    def test_promtool_accepts_the_rules_and_the_scrape(self):
        rules = subprocess.run(["promtool", "check", "rules", str(RULES)], capture_output=True, text=True)
        self.assertEqual(rules.returncode, 0, rules.stdout + rules.stderr)
        metrics = subprocess.run(["promtool", "check", "metrics"], input=self.scrape(), capture_output=True,
                                 text=True)
        self.assertEqual(metrics.returncode, 0, metrics.stdout + metrics.stderr)
