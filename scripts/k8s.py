"""The Kubernetes manifests of deploy/k8s, read as data: the documents of each file, the
containers' commands with `$(VAR)` filled in the way the kubelet expands them, their pod
sysctls, and the Prometheus scrape configuration. make cluster runs what these say, so that the
manifests are what it tests; scripts/test_k8s.py validates them against the Kubernetes schemas."""

import os
import re

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
K8S = os.path.join(ROOT, "deploy", "k8s")
FILES = ["run-config.yaml", "server.yaml", "client-job.yaml", "prometheus.yaml"]


def documents(name):
    with open(os.path.join(K8S, name)) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def find(name, kind):
    """The one document of `kind` in deploy/k8s/`name`."""
    found = [d for d in documents(name) if d.get("kind") == kind]
    if len(found) != 1:
        raise ValueError(f"{name}: expected one {kind}, found {len(found)}")
    return found[0]


def pod_spec(workload):
    return workload["spec"]["template"]["spec"]


def container(workload):
    return pod_spec(workload)["containers"][0]


def expand(arg, env):
    """`$(VAR)` replaced by env[VAR], `$$` by `$`, as Kubernetes expands command and args;
    a reference to an unknown variable stays as it is (as the kubelet leaves it)."""
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
                  lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), m.group(0)), arg)


def argv(workload, env):
    c = container(workload)
    return [expand(a, env) for a in c.get("command", []) + c.get("args", [])]


def sysctls(workload):
    """{name: value} of the pod's securityContext.sysctls."""
    ctx = pod_spec(workload).get("securityContext") or {}
    return {s["name"]: s["value"] for s in ctx.get("sysctls", [])}


def flag(args, name):
    """The value after `name` in an argv list, or None."""
    for i, a in enumerate(args[:-1]):
        if a == name:
            return args[i + 1]
    return None


def replace_flag(args, name, value):
    out = list(args)
    for i, a in enumerate(out[:-1]):
        if a == name:
            out[i + 1] = str(value)
            return out
    raise ValueError(f"{name} is not in {' '.join(args)}")


def prometheus_config():
    """The prometheus.yml inside prometheus.yaml's ConfigMap, as data."""
    cm = find("prometheus.yaml", "ConfigMap")
    return yaml.safe_load(cm["data"]["prometheus.yml"])


def static_prometheus_config(targets):
    """prometheus_config() with Kubernetes discovery replaced by fixed targets, for a run
    without an API server (make cluster): `targets` maps a job name to [(address, labels)].
    The jobs, intervals and timeouts stay the manifest's; the relabelling that picks annotated
    pods goes with the discovery it reads."""
    cfg = prometheus_config()
    for job in cfg["scrape_configs"]:
        job.pop("kubernetes_sd_configs", None)
        job.pop("relabel_configs", None)
        job["static_configs"] = [{"targets": [a], "labels": dict(labels)}
                                 for a, labels in targets.get(job["job_name"], [])]
    return cfg
