//! `--check`'s two outputs: the aligned table with its verdict line, and one JSON object.

use std::process::ExitCode;

use serde::Serialize;

use super::row::{first_binding, Row};
use c10m_report::fmt::thousands;
use c10m_report::output::stdout_line;

/// The table: aligned columns limit | value | allows | binds | fix, each row followed by its note.
pub fn table_lines(rows: &[Row]) -> Vec<String> {
    let header = ["limit", "value", "allows", "binds"];
    let cells: Vec<[String; 4]> = rows
        .iter()
        .map(|r| {
            [
                r.name.to_string(),
                r.value.clone(),
                r.allows_text(),
                if r.binds { "YES" } else { "no" }.to_string(),
            ]
        })
        .collect();
    let mut w = header.map(|h| h.chars().count());
    for c in &cells {
        for (i, s) in c.iter().enumerate() {
            w[i] = w[i].max(s.chars().count());
        }
    }
    let line = |c: [&str; 4], fix: &str| {
        format!(
            "{:<w0$}  {:<w1$}  {:>w2$}  {:<w3$}  {fix}",
            c[0],
            c[1],
            c[2],
            c[3],
            w0 = w[0],
            w1 = w[1],
            w2 = w[2],
            w3 = w[3]
        )
    };
    let mut out = vec![line(header, "fix")];
    for (r, c) in rows.iter().zip(&cells) {
        out.push(line([&c[0], &c[1], &c[2], &c[3]], &r.fix));
        out.push(format!("{:w0$}  {}", "", r.note, w0 = w[0]));
    }
    out
}

/// The last line: the first binding limit and what to do, or that nothing binds.
pub fn verdict_line(rows: &[Row], connections: u64) -> String {
    match first_binding(rows) {
        Some(r) => format!(
            "first binding limit: {} (allows {} of {}) — do: {}",
            r.name,
            r.allows_text(),
            r.needs_text(),
            r.fix
        ),
        None => format!(
            "nothing binds for {} connections on this machine",
            thousands(connections)
        ),
    }
}

/// `--check --json`: `{"type":"check","role":..,"connections":..,"binds":..,"rows":[..],
/// "first_binding":row|null,"asked":{..}}`, `asked` being what the binary was asked.
#[derive(Debug, Serialize)]
pub struct CheckJson<'a, A: Serialize> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub role: &'a str,
    pub connections: u64,
    pub binds: bool,
    pub rows: &'a [Row],
    pub first_binding: Option<&'a Row>,
    pub asked: &'a A,
}

impl<'a, A: Serialize> CheckJson<'a, A> {
    pub fn new(role: &'a str, connections: u64, rows: &'a [Row], asked: &'a A) -> Self {
        let first = first_binding(rows);
        CheckJson {
            kind: "check",
            role,
            connections,
            binds: first.is_some(),
            rows,
            first_binding: first,
            asked,
        }
    }
}

/// The whole `--check` output: with `json_out`, one [`CheckJson`] object; else a title, the
/// table and the verdict line.
pub fn render(
    json_out: bool,
    role: &str,
    title: &str,
    asked: &impl Serialize,
    rows: &[Row],
    connections: u64,
) -> String {
    if json_out {
        let j = CheckJson::new(role, connections, rows, asked);
        return serde_json::to_string(&j).expect("check JSON has string keys only");
    }
    let mut lines = vec![title.to_string()];
    lines.extend(table_lines(rows));
    lines.push(verdict_line(rows, connections));
    lines.join("\n")
}

/// Prints the whole `--check` output ([`render`]) and says how it ended: exit 0 when nothing
/// binds for `connections`, 1 when a limit does.
pub fn print(
    json_out: bool,
    role: &str,
    title: &str,
    asked: &impl Serialize,
    rows: &[Row],
    connections: u64,
) -> ExitCode {
    stdout_line(&render(json_out, role, title, asked, rows, connections));
    if first_binding(rows).is_some() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{facts, server};
    use crate::{server_rows, Procs};

    #[test]
    fn table_and_json() {
        let rows = server_rows(&facts(), &server(1_000_000, Procs::Count(1)));
        let lines = table_lines(&rows);
        assert!(lines[0].starts_with("limit"));
        assert_eq!(lines.len(), 1 + 2 * rows.len());
        // The fix column starts at the same place on every row.
        let col = lines[0].find("fix").unwrap();
        assert!(lines[1][col..].starts_with("--workers 56"), "{}", lines[1]);
        let j = render(true, "server", "", &serde_json::json!({}), &rows, 1_000_000);
        assert!(
            j.starts_with(r#"{"type":"check","role":"server","connections":1000000,"binds":true"#),
            "{j}"
        );
        assert!(
            j.contains(r#""first_binding":{"key":"fds_per_process""#),
            "{j}"
        );
    }
}
