//! `make cluster` at a small size: two client hosts and a server in network namespaces run the
//! commands of deploy/k8s, and a real Prometheus adds them up. Skipped visibly where namespaces
//! or Prometheus are missing (`make setup` installs Prometheus).

use std::process::Command;

use serde_json::Value;

use crate::util::{bin, exclusive, repo, skip};

const SKIPPED: i32 = 77;

#[test]
fn a_small_cluster_adds_up_in_prometheus() {
    let _g = exclusive();
    let bin_dir = bin("c10m-server").parent().expect("bin dir").to_path_buf();
    let out_dir = std::env::temp_dir().join(format!("c10m-cluster-test-{}", std::process::id()));
    let out = Command::new("python3")
        .arg(repo().join("scripts").join("cluster.py"))
        .env("C10M_BIN", &bin_dir)
        .env("CLUSTER_HOSTS", "2")
        .env("CLUSTER_CONNS", "3000")
        .env("CLUSTER_HOLD", "5")
        .env("CLUSTER_OUT", &out_dir)
        .output()
        .expect("python3 runs scripts/cluster.py");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.code() == Some(SKIPPED) {
        skip(&format!("make cluster: {}", stdout.trim()));
        return;
    }
    let summary = std::fs::read_to_string(out_dir.join("summary.json")).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&out_dir);
    assert!(
        out.status.success(),
        "make cluster failed (exit {:?})\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status.code()
    );
    let r: Value = serde_json::from_str(&summary).expect("summary.json");
    assert_eq!(r["prometheus"]["client_connections"], 3000.0, "{summary}");
    assert_eq!(r["prometheus"]["server_connections"], 3000.0, "{summary}");
    assert_eq!(r["server_accepted"], 3000, "{summary}");
    let shards = r["shards"].as_array().expect("shards");
    assert_eq!(shards.len(), 2);
    for s in shards {
        assert_eq!(s["established"], 1500, "{summary}");
        assert_eq!(s["pings_sent"], s["pings_ok"], "{summary}");
    }
    let leftovers = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip netns");
    assert!(
        !String::from_utf8_lossy(&leftovers.stdout).contains("-cl-"),
        "namespaces left behind"
    );
}
