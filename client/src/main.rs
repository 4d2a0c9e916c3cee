//! c10m-client: open N concurrent TCP connections, hold them, and name every failure.

use std::process::ExitCode;

fn main() -> ExitCode {
    c10m_cli::init_logging("c10m-client");
    match c10m_cli::config("c10m-client", c10m_client::cli::Cli::into_config) {
        Ok(config) => c10m_client::run(config),
        Err(code) => code,
    }
}
