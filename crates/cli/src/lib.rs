//! c10m-cli: what both binaries' command lines share: duration and size parsers, address
//! ranges ([`addr`]), logging, and the exit codes (0 ok, 1 a run-time failure, 2 bad usage).
//!
//! Exit status 2 means "bad usage" on both binaries, whether clap rejected a flag or the
//! validation after it did; `--help` and `--version` exit 0.
//!
//! Both binaries also take a hidden `--generate KIND` ([`Generate`]): it prints the man page or a
//! shell's completion script, rendered from the same clap definition they parse with, and exits
//! 0. `make install` and `make deb` install what it prints.

pub mod addr;

use std::ffi::OsString;
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Arg, ArgMatches, Command, FromArgMatches};

/// `s` as seconds within `lo..=hi`.
pub fn secs_in(s: &str, lo: f64, hi: f64) -> Result<Duration, String> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("'{s}' is not a number of seconds"))?;
    if !(lo..=hi).contains(&v) {
        return Err(format!("{v} s is outside {lo}..={hi}"));
    }
    Ok(Duration::from_secs_f64(v))
}

/// A duration of a run: 0.001 s to a day.
pub fn parse_secs(s: &str) -> Result<Duration, String> {
    secs_in(s, 0.001, 86_400.0)
}

/// [`parse_secs`], or `0` (meaning "until a signal" or "never").
pub fn parse_secs_or_zero(s: &str) -> Result<Duration, String> {
    if s.trim() == "0" {
        return Ok(Duration::ZERO);
    }
    parse_secs(s)
}

/// An interval between live lines: 0.05 s to an hour.
pub fn parse_interval(s: &str) -> Result<Duration, String> {
    secs_in(s, 0.05, 3600.0)
}

/// [`parse_interval`], or `0`.
pub fn parse_interval_or_zero(s: &str) -> Result<Duration, String> {
    if s.trim() == "0" {
        return Ok(Duration::ZERO);
    }
    parse_interval(s)
}

/// What `--generate KIND` prints on stdout: the man page, or a shell's completion script.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Generate {
    /// The man page (roff; read it with `man -l FILE`).
    Man,
    /// bash completion, for `share/bash-completion/completions/PROG`.
    CompleteBash,
    /// zsh completion, for `share/zsh/site-functions/_PROG`.
    CompleteZsh,
    /// fish completion, for `share/fish/vendor_completions.d/PROG.fish`.
    CompleteFish,
}

/// The id (and long name) of the hidden flag.
const GENERATE: &str = "generate";

/// Parses the command line with clap, then validates it with `validate`: the config, or the exit
/// code to return at once (after printing help, the version, what was wrong, or what
/// `--generate KIND` asked for).
pub fn config<P, C, E>(prog: &str, validate: impl FnOnce(P) -> Result<C, E>) -> Result<C, ExitCode>
where
    P: clap::Parser,
    E: std::fmt::Display,
{
    config_from(
        prog,
        std::env::args_os(),
        validate,
        &mut std::io::stdout().lock(),
        |e| {
            let _ = e.print();
        },
    )
}

/// [`config`] on `args` (the program's name first), writing what `--generate` renders to `out`
/// and clap's help, version and usage errors with `print`.
fn config_from<P, C, E, I, T>(
    prog: &str,
    args: I,
    validate: impl FnOnce(P) -> Result<C, E>,
    out: &mut dyn Write,
    print: impl Fn(&clap::Error),
) -> Result<C, ExitCode>
where
    P: clap::Parser,
    E: std::fmt::Display,
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let mut cmd = with_generate(P::command());
    let usage = |e: clap::Error| {
        print(&e);
        if e.use_stderr() {
            ExitCode::from(2)
        } else {
            ExitCode::SUCCESS
        }
    };
    let mut matches = cmd.try_get_matches_from_mut(args).map_err(usage)?;
    if let Some(kind) = matches.get_one::<Generate>(GENERATE).copied() {
        // From P's own command, without the hidden flag: clap_complete would offer it.
        return Err(match generate(P::command(), prog, kind, out) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fatal(&e),
        });
    }
    let parsed = parse::<P>(&mut cmd, &mut matches).map_err(usage)?;
    validate(parsed).map_err(|msg| {
        log::error!("{msg}");
        ExitCode::from(2)
    })
}

/// `cmd` with the hidden `--generate KIND`: not in --help, and alone on the command line (so it
/// needs none of the flags a run may require).
fn with_generate(cmd: Command) -> Command {
    cmd.arg(
        Arg::new(GENERATE)
            .long(GENERATE)
            .value_name("KIND")
            .value_parser(clap::value_parser!(Generate))
            .help("Print the man page or a shell's completion script on stdout, and exit")
            .hide(true)
            .exclusive(true),
    )
}

/// `P` from the matches, as `P::try_parse` would: its errors carry the command's usage.
fn parse<P: FromArgMatches>(cmd: &mut Command, matches: &mut ArgMatches) -> Result<P, clap::Error> {
    P::from_arg_matches_mut(matches).map_err(|e| e.format(cmd))
}

/// Renders `kind` for the command `cmd`, named `prog`, to `out`.
fn generate(cmd: Command, prog: &str, kind: Generate, out: &mut dyn Write) -> std::io::Result<()> {
    let mut cmd = cmd.display_name(prog).bin_name(prog);
    let shell = match kind {
        Generate::Man => None,
        Generate::CompleteBash => Some(clap_complete::Shell::Bash),
        Generate::CompleteZsh => Some(clap_complete::Shell::Zsh),
        Generate::CompleteFish => Some(clap_complete::Shell::Fish),
    };
    let text = match shell {
        None => man(cmd, prog)?,
        Some(shell) => {
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut cmd, prog, &mut buf);
            buf
        }
    };
    out.write_all(&text)?;
    out.flush()
}

/// The man page of `cmd`: clap_mangen's, with two changes so it reads like one. The NAME line
/// drops the about text's leading "PROG: " (man already prints the name before it), and the
/// text after the options (`after_help`: the examples and the exit status) keeps its lines
/// as they are in --help (no-fill) instead of being refilled into one paragraph.
fn man(mut cmd: Command, prog: &str) -> std::io::Result<Vec<u8>> {
    use clap_mangen::roff::{roman, Roff};
    let prefix = format!("{prog}: ");
    if let Some(about) = cmd
        .get_about()
        .and_then(|s| s.to_string().strip_prefix(&prefix).map(str::to_owned))
    {
        cmd = cmd.about(about);
    }
    if let Some(long) = cmd
        .get_long_about()
        .and_then(|s| s.to_string().strip_prefix(&prefix).map(str::to_owned))
    {
        cmd = cmd.long_about(long);
    }
    let after = cmd
        .get_after_long_help()
        .or_else(|| cmd.get_after_help())
        .map(|s| s.to_string());
    let cmd = cmd.after_help(None).after_long_help(None);
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd).render(&mut page)?;
    let Some(after) = after else {
        return Ok(page);
    };
    let mut extra = Roff::new();
    extra.control("SH", ["EXTRA"]).control("nf", []);
    for line in after.lines() {
        extra.text([roman(line)]);
    }
    extra.control("fi", []);
    let extra = extra.to_roff().into_bytes();
    // Where clap_mangen puts its EXTRA section: before VERSION (and AUTHORS), else at the end.
    let at = [&b"\n.SH VERSION"[..], b"\n.SH AUTHORS"]
        .iter()
        .find_map(|h| page.windows(h.len()).position(|w| w == *h))
        .map_or(page.len(), |i| i + 1);
    page.splice(at..at, extra);
    Ok(page)
}

/// A run-time failure: said on stderr, exit status 1.
pub fn fatal(e: &dyn std::fmt::Display) -> ExitCode {
    log::error!("{e}");
    ExitCode::from(1)
}

/// A flag that cannot be served as given (an address in use or of another machine), found
/// before the run began: said on stderr, exit status 2, as bad usage.
pub fn usage_error(e: &dyn std::fmt::Display) -> ExitCode {
    log::error!("{e}");
    ExitCode::from(2)
}

/// Sets up `log` for binary `prog`: warnings and errors by default, more with `RUST_LOG`
/// (`RUST_LOG=debug`, or `RUST_LOG=c10m_client::hold=trace` for one module). Warnings and errors
/// read `PROG: warning: ...` and `PROG: error: ...`; other levels name their module.
pub fn init_logging(prog: &'static str) {
    use std::io::Write;
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn"))
        .format(move |buf, r| match r.level() {
            log::Level::Error => writeln!(buf, "{prog}: error: {}", r.args()),
            log::Level::Warn => writeln!(buf, "{prog}: warning: {}", r.args()),
            level => writeln!(
                buf,
                "{prog}: {}: [{}] {}",
                level.as_str().to_lowercase(),
                r.target(),
                r.args()
            ),
        })
        .init();
}

/// A size in bytes: `1073741824`, or with a suffix `K`, `M`, `G`, `T` (powers of 1024, with or
/// without `iB`/`B`): `512M`, `1GiB`.
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let bad =
        || format!("'{s}' is not a size: BYTES, or a number with K, M, G or T (powers of 1024)");
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(digits);
    let n: u64 = num.parse().map_err(|_| bad())?;
    let shift = match unit.trim().trim_end_matches("iB").trim_end_matches('B') {
        "" => 0,
        "K" | "k" => 10,
        "M" | "m" => 20,
        "G" | "g" => 30,
        "T" | "t" => 40,
        _ => return Err(bad()),
    };
    n.checked_mul(1 << shift).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser};

    /// demo: a test command line, with a required flag as a run may have.
    #[derive(Parser, Debug, PartialEq)]
    #[command(
        name = "demo",
        version,
        after_help = "Examples:\n  demo --count 3    three\n  demo --count 30   thirty"
    )]
    struct Demo {
        /// How many.
        #[arg(long, value_name = "N")]
        count: u32,
        /// Say more.
        #[arg(long)]
        loud: bool,
    }

    fn at_most_ten(d: Demo) -> Result<Demo, String> {
        if d.count > 10 {
            return Err(format!("{} is more than 10", d.count));
        }
        Ok(d)
    }

    /// What `config` returns for `args` (after the program's name), and what it printed.
    fn run(args: &[&str]) -> (Result<Demo, ExitCode>, String) {
        let mut out = Vec::new();
        let argv = std::iter::once("demo").chain(args.iter().copied());
        let r = config_from("demo", argv, at_most_ten, &mut out, |_| {});
        (r, String::from_utf8(out).unwrap())
    }

    fn generated(kind: &str) -> String {
        let (r, out) = run(&["--generate", kind]);
        assert_eq!(r.unwrap_err(), ExitCode::SUCCESS, "--generate {kind}");
        assert!(!out.is_empty(), "--generate {kind} printed nothing");
        out
    }

    #[test]
    fn parses_and_validates_as_before() {
        assert_eq!(
            run(&["--count", "3", "--loud"]).0.unwrap(),
            Demo {
                count: 3,
                loud: true
            }
        );
        // The validation's error, clap's own, and a missing required flag: bad usage, 2.
        assert_eq!(run(&["--count", "11"]).0.unwrap_err(), ExitCode::from(2));
        assert_eq!(run(&["--count", "x"]).0.unwrap_err(), ExitCode::from(2));
        assert_eq!(run(&[]).0.unwrap_err(), ExitCode::from(2));
        assert_eq!(run(&["--version"]).0.unwrap_err(), ExitCode::SUCCESS);
    }

    #[test]
    fn generate_is_hidden_alone_and_checked() {
        let mut cmd = with_generate(Demo::command());
        cmd.build();
        assert!(!cmd.render_help().to_string().contains("generate"));
        // Alone: the required --count is not needed, and nothing else may come with it.
        assert_eq!(
            run(&["--generate", "man", "--count", "3"]).0.unwrap_err(),
            ExitCode::from(2)
        );
        assert_eq!(
            run(&["--generate", "roff"]).0.unwrap_err(),
            ExitCode::from(2)
        );
        assert_eq!(run(&["--generate"]).0.unwrap_err(), ExitCode::from(2));
    }

    #[test]
    fn man_page() {
        let man = generated("man");
        assert!(man.contains(".TH demo 1"), "{man}");
        assert!(
            man.contains(".SH NAME\ndemo \\- a test command line"),
            "{man}"
        );
        assert!(man.contains("\\-\\-count"), "{man}");
        assert!(!man.contains("generate"), "{man}");
        // The after_help text keeps its lines, before VERSION.
        let extra = man.find(".SH EXTRA\n.nf\nExamples:\n  demo \\-\\-count 3    three\n");
        let version = man.find(".SH VERSION");
        assert!(extra.is_some() && extra < version, "{man}");
    }

    #[test]
    fn man_page_drops_the_programs_name_from_about() {
        let mut out = Vec::new();
        let cmd = Command::new("prog")
            .about("prog: does a thing")
            .version("1");
        generate(cmd, "prog", Generate::Man, &mut out).unwrap();
        let man = String::from_utf8(out).unwrap();
        assert!(man.contains(".SH NAME\nprog \\- does a thing\n"), "{man}");
        assert!(!man.contains(".SH EXTRA"), "{man}");
    }

    #[test]
    fn completions() {
        let bash = generated("complete-bash");
        assert!(
            bash.contains("complete -F _demo") && bash.contains("--count"),
            "{bash}"
        );
        let zsh = generated("complete-zsh");
        assert!(
            zsh.starts_with("#compdef demo") && zsh.contains("--count"),
            "{zsh}"
        );
        let fish = generated("complete-fish");
        assert!(
            fish.contains("complete -c demo") && fish.contains("-l count"),
            "{fish}"
        );
        for script in [bash, zsh, fish] {
            assert!(!script.contains("generate"), "{script}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_secs("1.5"), Ok(Duration::from_millis(1500)));
        assert!(parse_secs("0").is_err());
        assert_eq!(parse_secs_or_zero("0"), Ok(Duration::ZERO));
        assert!(parse_secs("-1").unwrap_err().contains("outside"));
        assert!(parse_secs("soon").unwrap_err().contains("not a number"));
        assert!(parse_interval("0.01").is_err());
        assert_eq!(parse_interval_or_zero("0"), Ok(Duration::ZERO));
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("0"), Ok(0));
        assert_eq!(parse_bytes("4096"), Ok(4096));
        assert_eq!(parse_bytes("512M"), Ok(512 << 20));
        assert_eq!(parse_bytes("1GiB"), Ok(1 << 30));
        assert_eq!(parse_bytes("2G"), Ok(2 << 30));
        assert!(parse_bytes("1.5G").is_err());
        assert!(parse_bytes("lots").is_err());
        assert!(parse_bytes("99999999999T").is_err());
    }
}
