//! The engines `--engine` knows: the lookup by name, and `--list-engines`.

use std::process::ExitCode;

use c10m_report::output::record::typed;
use c10m_report::output::stdout_line;

use super::{socket, tun, Backend, Engine};
use crate::config::{Caps, EngineChoice, Options, Part, Sources};
use crate::error::Error;
use crate::plan::Plan;

/// Every engine, the default first.
pub(crate) const ENGINES: &[&dyn Backend] = &[&socket::Socket, &tun::Tun];

pub(crate) fn find(name: &str) -> Option<&'static dyn Backend> {
    ENGINES.iter().copied().find(|b| b.name() == name)
}

/// `name`'s engine as the run's options keep it.
pub(crate) fn choice(name: &str) -> Option<EngineChoice> {
    find(name).map(|b| EngineChoice {
        name: b.name(),
        caps: b.caps(),
    })
}

/// The names, for `--engine`'s help and its error.
pub(crate) fn names() -> Vec<&'static str> {
    ENGINES.iter().map(|b| b.name()).collect()
}

/// The engine `opts` chose, for process `part` of `plan`.
pub(crate) fn build(opts: &Options, plan: &Plan, part: Part) -> Result<Box<dyn Engine>, Error> {
    let backend = find(opts.engine.name)
        .ok_or_else(|| Error::Plan(format!("--engine {}: no such engine", opts.engine.name)))?;
    log::debug!(
        "engine {} for process {} of {}",
        backend.name(),
        part.index,
        part.of
    );
    backend.build(opts, plan, part)
}

/// One engine as `--list-engines --json` shows it.
#[derive(serde::Serialize)]
struct Listed {
    name: &'static str,
    #[serde(flatten)]
    caps: Caps,
}

/// `--list-engines`: every engine and what it can do, as text or one JSON object.
pub(crate) fn list(json: bool) -> ExitCode {
    let listed: Vec<Listed> = ENGINES
        .iter()
        .map(|b| Listed {
            name: b.name(),
            caps: b.caps(),
        })
        .collect();
    if json {
        #[derive(serde::Serialize)]
        struct Engines<'a> {
            engines: &'a [Listed],
        }
        stdout_line(&typed("engines", &Engines { engines: &listed }));
        return ExitCode::SUCCESS;
    }
    for l in &listed {
        stdout_line(&describe(l.name, &l.caps));
    }
    ExitCode::SUCCESS
}

fn describe(name: &str, c: &Caps) -> String {
    let yes = |b: bool, s: &str| if b { s.to_string() } else { format!("no {s}") };
    let sources = match c.sources {
        Sources::Kernel => "sources: the kernel picks ports from ip_local_port_range".to_string(),
        Sources::Own { ports, v4, v6 } => format!(
            "sources: its own addresses in {}{}, {ports} ports each",
            v4.range,
            v6.map_or(String::new(), |r| format!(" or {}", r.range))
        ),
    };
    [
        format!("{name}: {}", c.about),
        format!(
            "  {}; {}",
            if c.kernel_socket {
                "a kernel socket and a descriptor per connection"
            } else {
                "no socket or descriptor per connection on this side"
            },
            sources
        ),
        format!(
            "  modes: hold{}; {}; {}; {}; {}",
            if c.requests { ", churn, keepalive" } else { "" },
            yes(c.half_open, "--handshake none"),
            yes(c.ipv6, "IPv6"),
            yes(c.loopback_targets, "loopback targets"),
            c.max_in_flight
                .map_or("no bound of its own on pings in flight".into(), |m| {
                    format!("at most {m} pings in flight per process")
                })
        ),
        format!(
            "  needs {}",
            if c.net_admin {
                "CAP_NET_ADMIN (root, or a network namespace of your own)"
            } else {
                "no privilege"
            }
        ),
    ]
    .join("\n")
}
