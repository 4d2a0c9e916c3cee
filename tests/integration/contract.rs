//! The README's output contract, field for field: the tables under "Output contract (for
//! scripts)" name every field of every JSON line; these tests run both binaries through every
//! kind of line and compare the field sets, then parse each line back into the binaries' own
//! typed records (`c10m_server::output`, `c10m_client::output`).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::Value;

use c10m_sys::process::{self, SIGKILL};

use crate::util::{self, children_of, json_lines, wait_until, Proc, ServerGuard};

/// One row of a contract table: its section, `type` and "when" cell, and its fields.
#[derive(Debug, Clone)]
struct Row {
    section: &'static str,
    kind: String,
    when: String,
    fields: BTreeSet<String>,
}

/// The backticked names of a fields cell, leaving out what parentheses explain.
fn names(cell: &str) -> BTreeSet<String> {
    let mut top = String::new();
    let mut depth = 0;
    for c in cell.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            _ if depth == 0 => top.push(c),
            _ => {}
        }
    }
    top.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// The contract tables of README.md. The churn/keepalive `start` line is described in prose:
/// "A `start` line (`mode`, ...)".
fn contract(readme: &str) -> Vec<Row> {
    let start = readme
        .find("## Output contract")
        .expect("README has an Output contract section");
    let body = &readme[start..];
    let body = &body[..body[3..].find("\n## ").map_or(body.len(), |i| i + 3)];
    let mut rows = Vec::new();
    let mut section = "";
    for line in body.lines() {
        if line.starts_with("**Server stdout") {
            section = "server";
        } else if line.starts_with("**Client stdout with `--mode") {
            section = "requests";
        } else if line.starts_with("**Client stdout") {
            section = "client";
        } else if line.starts_with("**") {
            section = "";
        }
        if let Some(i) = line.find("A `start` line (") {
            let rest = &line[i + "A `start` line (".len()..];
            let mut cell = rest.to_string();
            // The parenthesis may close on the next line of the paragraph.
            if let Some(next) = body[body.find(line).unwrap() + line.len()..].lines().nth(1) {
                cell.push_str(next);
            }
            let cell = &cell[..cell.find(')').unwrap_or(cell.len())];
            rows.push(Row {
                section,
                kind: "start".into(),
                when: "first".into(),
                fields: names(cell),
            });
        }
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if section.is_empty() || cells.len() < 5 || !cells[1].starts_with('`') {
            continue;
        }
        rows.push(Row {
            section,
            kind: cells[1].trim_matches('`').to_string(),
            when: cells[2].to_string(),
            fields: names(cells[3]),
        });
    }
    rows
}

fn readme_rows() -> Vec<Row> {
    let text = std::fs::read_to_string(util::repo().join("README.md")).expect("read README.md");
    let rows = contract(&text);
    assert!(
        rows.len() >= 12,
        "found only {} contract rows: {rows:?}",
        rows.len()
    );
    rows
}

/// What a section printed: each line's `type` with its field set.
fn printed(lines: &[Value]) -> Vec<(String, BTreeSet<String>)> {
    lines
        .iter()
        .filter_map(|v| {
            let o = v.as_object()?;
            let kind = o.get("type")?.as_str()?.to_string();
            Some((kind, o.keys().filter(|k| *k != "type").cloned().collect()))
        })
        .collect()
}

/// Every printed line matches a README row of its section and type; `seen` collects the rows.
fn check_section(rows: &[Row], section: &str, lines: &[Value], seen: &mut BTreeSet<String>) {
    for (kind, fields) in printed(lines) {
        let candidates: Vec<&Row> = rows
            .iter()
            .filter(|r| r.section == section && r.kind == kind)
            .collect();
        assert!(
            !candidates.is_empty(),
            "{section} prints `{kind}` lines, which the README's contract does not list"
        );
        let Some(row) = candidates.iter().find(|r| r.fields == fields) else {
            let documented: Vec<_> = candidates.iter().map(|r| &r.fields).collect();
            panic!(
                "{section} `{kind}` prints fields {fields:?}; the README documents {documented:?}"
            );
        };
        seen.insert(format!("{section} {kind} {}", row.when));
    }
}

/// Parses every line of `kind` into `T`, the binary's own record.
fn typed<T: DeserializeOwned>(lines: &[Value], kind: &str) -> Vec<T> {
    util::of_type(lines, kind)
        .into_iter()
        .map(|v| {
            serde_json::from_value(v.clone()).unwrap_or_else(|e| {
                panic!("`{kind}` line does not parse into its record: {e}: {v}")
            })
        })
        .collect()
}

fn finish(server: ServerGuard) -> Vec<Value> {
    let run = server.terminate();
    assert_eq!(run.code(), Some(0), "server exit:\n{}", run.stderr);
    run.json()
}

fn client_run(args: &[&str]) -> Vec<Value> {
    let run = Proc::spawn(
        "c10m-client",
        &args.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
    )
    .wait(Duration::from_secs(60));
    json_lines(&run.stdout)
}

#[test]
fn every_json_line_matches_the_readme_field_for_field() {
    let _g = util::shared();
    let rows = readme_rows();
    let mut seen = BTreeSet::new();

    // One process: start, ticks, the 1,000 milestone, summary; the client's hold and churn.
    let server = ServerGuard::start(&[]);
    let target = server.addr_string();
    let hold = client_run(&[
        "--target",
        &target,
        "--json",
        "-n",
        "1000",
        "--hold",
        "1",
        "--message-rate",
        "1000,2000",
        "--step",
        "0.5",
    ]);
    let churn = client_run(&[
        "--target",
        &target,
        "--json",
        "--mode",
        "churn",
        "--rate",
        "200",
        "--duration",
        "1.5",
        "-n",
        "100",
    ]);
    let srv = finish(server);
    // A port nothing listens on: a `failure` line.
    let refused = client_run(&[
        "--target",
        "127.0.0.1:1",
        "--json",
        "-n",
        "3",
        "--hold",
        "0.1",
    ]);
    check_section(&rows, "server", &srv, &mut seen);
    check_section(&rows, "client", &hold, &mut seen);
    check_section(&rows, "client", &refused, &mut seen);
    check_section(&rows, "requests", &churn, &mut seen);

    // Workers: their start line, spread ticks, and a worker's death.
    let workers = ServerGuard::start(&["--workers", "2"]);
    let victim = *children_of(workers.pid())
        .first()
        .expect("the server has worker children");
    process::signal(victim as i32, SIGKILL).expect("kill a worker");
    assert!(
        wait_until(Duration::from_secs(10), || !util::of_type(
            &workers.json(),
            "worker_exit"
        )
        .is_empty()),
        "no worker_exit after SIGKILL to a worker"
    );
    let wk = finish(workers);
    check_section(&rows, "server", &wk, &mut seen);

    // Every README row was printed by one of the runs.
    let unseen: Vec<String> = rows
        .iter()
        .map(|r| format!("{} {} {}", r.section, r.kind, r.when))
        .filter(|k| !seen.contains(k))
        .collect();
    assert!(unseen.is_empty(), "README rows no run printed: {unseen:?}");

    // The lines parse back into the binaries' records, and the counts agree on both ends.
    use c10m_client::output as co;
    use c10m_server::output as so;
    let [summary]: [so::Summary; 1] = typed(&srv, "summary").try_into().expect("one summary");
    assert_eq!(
        typed::<so::Tick>(&srv, "tick").len(),
        util::of_type(&srv, "tick").len()
    );
    assert_eq!(typed::<so::Milestone>(&srv, "milestone")[0].conns, 1000);
    let [_start]: [so::Start; 1] = typed(&srv, "start").try_into().expect("one start");
    let [_ws]: [so::StartWorkers; 1] = typed(&wk, "start").try_into().expect("one start");
    let exits: Vec<so::WorkerExit> = typed(&wk, "worker_exit");
    assert_eq!(exits[0].pid, victim as i32);
    let [hs]: [co::Summary; 1] = typed(&hold, "summary").try_into().expect("one summary");
    let _: Vec<co::PlanLine> = typed(&hold, "plan");
    let _: Vec<co::Tick> = typed(&hold, "tick");
    let steps: Vec<co::Step> = typed(&hold, "step");
    assert_eq!(steps.len(), 2, "one step line per rate");
    assert_eq!(steps[1].offered_per_s, 2000);
    let [cs]: [co::RequestsSummary; 1] = typed(&churn, "summary").try_into().expect("one");
    let _: Vec<co::RequestsStart> = typed(&churn, "start");
    let _: Vec<co::RequestsTick> = typed(&churn, "tick");
    let failures: Vec<co::Failure> = typed(&refused, "failure");
    assert_eq!(failures[0].errno, "ECONNREFUSED");
    assert_eq!(hs.established, 1000);
    assert_eq!(summary.accepted, 1000 + cs.opened);
}

/// The README's rows for the dashboard's JSON: `| `/api/state` | what | fields |`.
fn dashboard_rows() -> BTreeMap<String, BTreeSet<String>> {
    let text = std::fs::read_to_string(util::repo().join("README.md")).expect("read README.md");
    text.lines()
        .filter(|l| l.starts_with("| `/api/"))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let path = cells[1].trim_matches('`');
            (
                path.split('?').next().unwrap_or(path).to_string(),
                names(cells[3]),
            )
        })
        .collect()
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

/// Each record the page keeps parses into the binary's own record, as its `--json` line does.
fn records_parse(records: &Value, server: bool) -> usize {
    use c10m_client::output as co;
    use c10m_server::output as so;
    let records = records.as_array().expect("records is an array");
    for r in records {
        let one = std::slice::from_ref(r);
        let parsed = match (server, r["type"].as_str().unwrap_or("")) {
            (true, "start") if r.get("workers").is_some() => {
                typed::<so::StartWorkers>(one, "start").len()
            }
            (true, "start") => typed::<so::Start>(one, "start").len(),
            (true, "worker_exit") => typed::<so::WorkerExit>(one, "worker_exit").len(),
            (true, "summary") => typed::<so::Summary>(one, "summary").len(),
            (false, "plan") => typed::<co::PlanLine>(one, "plan").len(),
            (false, "start") => typed::<co::RequestsStart>(one, "start").len(),
            (false, "failure") => typed::<co::Failure>(one, "failure").len(),
            (false, "summary") if r.get("mode").is_some() => {
                typed::<co::RequestsSummary>(one, "summary").len()
            }
            (false, "summary") => typed::<co::Summary>(one, "summary").len(),
            (_, other) => panic!("the page keeps a `{other}` record: {r}"),
        };
        assert_eq!(parsed, 1);
    }
    records.len()
}

#[test]
fn the_json_the_dashboard_reads_parses_back_into_the_records() {
    use crate::dashboard::{get, report_data};
    use c10m_report::dashboard::Panels;
    let _g = util::shared();
    let documented = dashboard_rows();
    let dir = std::env::temp_dir().join(format!("c10m-contract-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (srv_report, cli_report) = (dir.join("server.html"), dir.join("client.html"));
    let server = ServerGuard::start(&[
        "--workers",
        "2",
        "--dashboard",
        "127.0.0.1:0",
        "--report",
        srv_report.to_str().unwrap(),
    ]);
    let page: std::net::SocketAddr = server
        .stderr_text()
        .lines()
        .find_map(|l| l.split_once("dashboard at http://"))
        .and_then(|(_, a)| a.trim().trim_end_matches('/').parse().ok())
        .expect("the server names its dashboard");
    let target = server.addr_string();
    let hold = client_run(&[
        "--target",
        &target,
        "--json",
        "-n",
        "600",
        "--processes",
        "2",
        "--hold",
        "1",
        "--report",
        cli_report.to_str().unwrap(),
    ]);
    assert!(
        wait_until(Duration::from_secs(5), || {
            let (_, body) = get(page, "/api/state");
            serde_json::from_str::<Value>(&body).is_ok_and(|s| s["rows"].as_u64() > Some(2))
        }),
        "the server's page has no rows"
    );
    let (status, body) = get(page, "/api/state");
    assert_eq!(status, 200);
    let state: Value = serde_json::from_str(&body).expect("/api/state is JSON");
    assert_eq!(keys(&state), documented["/api/state"], "{state}");
    let _: Panels = serde_json::from_value(state["panels"].clone()).expect("panels parse");
    let (_, body) = get(page, "/api/series?gen=-1&from=0");
    let series: Value = serde_json::from_str(&body).expect("/api/series is JSON");
    assert_eq!(keys(&series), documented["/api/series"], "{series}");
    let width = state["series"].as_array().unwrap().len() + 1;
    let rows = series["rows"].as_array().unwrap();
    assert!(rows.len() >= 2);
    assert!(rows.iter().all(|r| r.as_array().unwrap().len() == width));
    records_parse(&state["records"], true);
    let srv = finish(server);
    // Each report holds the state and the rows as the page read them, the summary included,
    // the very one --json printed.
    for (path, lines, server) in [(&srv_report, &srv, true), (&cli_report, &hold, false)] {
        let data = report_data(path);
        assert_eq!(keys(&data["state"]), documented["/api/state"]);
        assert_eq!(data["state"]["ended"], true);
        assert!(records_parse(&data["state"]["records"], server) >= 2);
        let _: Panels = serde_json::from_value(data["state"]["panels"].clone()).unwrap();
        let summary = util::of_type(data["state"]["records"].as_array().unwrap(), "summary");
        assert_eq!(
            summary,
            util::of_type(lines, "summary"),
            "{}",
            path.display()
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_contract_parser_reads_tables_and_prose() {
    let readme = "## Output contract (for scripts)\n\n**Server stdout.** x\n\n| type | when | fields |\n|---|---|---|\n| `tick` | each | `a`, `b` (`x`, `y`), `c` |\n\n**Client stdout with `--mode churn --json`.** A `start` line (`m`,\n`n`), then:\n\n## Next\n| `z` | no | `q` |\n";
    let rows = contract(readme);
    let got: BTreeMap<String, BTreeSet<String>> = rows
        .iter()
        .map(|r| (format!("{} {}", r.section, r.kind), r.fields.clone()))
        .collect();
    let want = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(got["server tick"], want(&["a", "b", "c"]));
    assert_eq!(got["requests start"], want(&["m", "n"]));
    assert_eq!(rows.len(), 2);
}
