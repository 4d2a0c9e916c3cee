"""deploy/k8s checked offline: every document against the Kubernetes schemas
(kubernetes-validate, strict: no unknown fields), the values that must agree across files, and
the embedded Prometheus configuration with promtool."""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

try:
    import kubernetes_validate
    import yaml
    import k8s
except ImportError as e:  # setup.sh installs both; say so if it could not
    kubernetes_validate = None
    MISSING = str(e)


@unittest.skipIf(kubernetes_validate is None, "SKIPPED: kubernetes-validate/PyYAML missing (make setup)")
class Manifests(unittest.TestCase):
    def test_every_document_is_valid_kubernetes(self):
        n = 0
        for name in k8s.FILES:
            for doc in k8s.documents(name):
                with self.subTest(file=name, kind=doc.get("kind")):
                    kubernetes_validate.validate(doc, "1.30.0", strict=True)
                    n += 1
        self.assertGreaterEqual(n, 9)

    def test_the_job_is_indexed_and_its_shards_agree(self):
        job = k8s.find("client-job.yaml", "Job")
        spec = job["spec"]
        self.assertEqual(spec["completionMode"], "Indexed")
        args = k8s.argv(job, {"START_AT": "1"})
        shards = k8s.flag(args, "--shard")
        self.assertTrue(shards.startswith("auto/"), shards)
        n = int(shards.split("/")[1])
        self.assertEqual((spec["completions"], spec["parallelism"]), (n, n))
        self.assertEqual(k8s.flag(args, "--start-at"), "1", "START_AT is expanded from the env")
        self.assertIn("net.ipv4.ip_local_port_range", k8s.sysctls(job))

    def test_metrics_ports_agree(self):
        for name, kind in [("server.yaml", "Deployment"), ("client-job.yaml", "Job")]:
            w = k8s.find(name, kind)
            port = k8s.flag(k8s.argv(w, {}), "--metrics").rsplit(":", 1)[1]
            ann = w["spec"]["template"]["metadata"]["annotations"]
            self.assertEqual(ann["prometheus.io/port"], port, name)
            ports = [p["containerPort"] for p in k8s.container(w)["ports"]]
            self.assertIn(int(port), ports, name)

    def test_the_job_targets_the_service(self):
        svc = k8s.find("server.yaml", "Service")
        job = k8s.find("client-job.yaml", "Job")
        host, port = k8s.flag(k8s.argv(job, {}), "--target").rsplit(":", 1)
        self.assertEqual(host, svc["metadata"]["name"])
        self.assertIn(int(port), [p["port"] for p in svc["spec"]["ports"]])

    def test_expansion_is_the_kubelets(self):
        self.assertEqual(k8s.expand("$(A)-$$(A)-$(B)", {"A": "1"}), "1-$(A)-$(B)")

    @unittest.skipIf(shutil.which("promtool") is None, "SKIPPED: promtool missing (make setup installs prometheus)")
    def test_the_scrape_configuration_is_valid_prometheus(self):
        # Debian's Prometheus is built without Kubernetes discovery: the configuration is checked
        # as make cluster runs it, with fixed targets in its place.
        cfg = k8s.static_prometheus_config({
            "c10m-server": [("198.18.0.1:9100", {})],
            "c10m-client": [("198.18.1.1:9101", {"shard": "0"})],
        })
        self.assertEqual({j["job_name"] for j in cfg["scrape_configs"]}, {"c10m-server", "c10m-client"})
        with tempfile.NamedTemporaryFile("w", suffix=".yml") as f:
            f.write(yaml.safe_dump(cfg))
            f.flush()
            r = subprocess.run(["promtool", "check", "config", f.name], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)


if __name__ == "__main__":
    unittest.main()
