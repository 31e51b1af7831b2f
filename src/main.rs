//! The command line: parse, call the library, print one line and exit 2 on error.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

// The pipeline allocates many small owned strings (header fields, decoded tokens); mimalloc
// halves what the system allocator costs there.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Where a file report goes: standard output's descriptor itself where it can be had. Through
/// `Stdout` every write is searched for a line end (it is line-buffered), which costs a scan
/// of the whole JSON document; the report flushes what it streams itself. With it, a second
/// handle on the same descriptor for the report to copy its spools to in the kernel
/// (`report::Options::direct`).
type ReportOutput<'a> = (Box<dyn Write + 'a>, Option<std::sync::Arc<std::fs::File>>);

fn report_output(stdout: &std::io::Stdout) -> ReportOutput<'_> {
    #[cfg(unix)]
    {
        use std::os::fd::AsFd as _;
        if let Ok(fd) = stdout.as_fd().try_clone_to_owned() {
            let file = std::fs::File::from(fd);
            let direct = file.try_clone().ok().map(std::sync::Arc::new);
            return (Box::new(file), direct);
        }
    }
    (Box::new(stdout.lock()), None)
}

/// mimalloc asks for transparent huge pages on its arenas. One thread gains about 2 % from them
/// (fewer TLB misses), but each thread's heap then takes whole 2 MiB pages: with flow shards,
/// about 12 MB more a shard (peak RSS on the 1 GB benchmark capture with `--threads 3`, 50 MB
/// with them and 26 MB without; with 4, 57 to 73 MB against 32 MB) for no measured gain.
/// Pages already faulted in stay as they are; little has been by now.
fn fewer_huge_pages() {
    #[cfg(target_os = "linux")]
    {
        // Best effort: without it the report is the same, only larger in memory.
        let _ = nix::sys::prctl::set_thp_disable(true);
    }
}

/// Shows why HTTP authentication fails, from the packets.
#[derive(Debug, Parser)]
#[command(name = "authscope", version, about)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Analyse capture files, or a live capture (`-i`), and print a report.
    Report {
        /// pcap or pcapng files; several are merged in time order.
        #[arg(required_unless_present = "interface", conflicts_with = "interface")]
        files: Vec<PathBuf>,
        /// Capture live from this interface instead of reading files (needs the `live`
        /// feature): each handshake is printed when it completes, the summary at the end.
        #[arg(short = 'i', long, value_name = "IFACE")]
        interface: Option<String>,
        #[command(flatten)]
        capture: CaptureArgs,
        /// Output format.
        #[arg(long, value_enum, default_value_t = FormatArg::Text)]
        format: FormatArg,
        /// Show passwords, hashes and tokens instead of redacting them.
        #[arg(long)]
        reveal_secrets: bool,
        /// JSON: which HTTP exchanges to list (all are counted): those with authentication
        /// headers or a 401/407, every one, or none.
        #[arg(long, value_enum, default_value_t = ExchangesArg::Auth)]
        exchanges: ExchangesArg,
        /// Threads for reading files (default: the cores available). With N of 2 or more,
        /// N-1 threads each read the files and reassemble and frame their share of the
        /// connections (a connection stays on one), while one merges, joins, judges and
        /// writes the report; the report is the same byte for byte, unless one of them hits
        /// its share of a cap (the caps are divided among them: a warning then says so).
        #[arg(long, value_name = "N")]
        threads: Option<usize>,
        /// Exit with status 1 when a finding of this severity or worse exists.
        #[arg(long, value_enum)]
        fail_on: Option<SeverityArg>,
        /// Text: a block for every handshake (by default, past 100 handshakes only those
        /// with a problem are shown).
        #[arg(long)]
        all_handshakes: bool,
        #[command(flatten)]
        limits: LimitArgs,
        /// Rounds ending without success (a refused credential, a cut connection) that make an `auth-loop`.
        #[arg(long, default_value_t = 3, value_name = "N")]
        loop_rounds: u32,
        /// A credential answered later than this is `slow-auth` (milliseconds).
        #[arg(long, default_value_t = 2000, value_name = "MS")]
        slow_ms: u64,
    },
    /// List the interfaces live capture can use, with their addresses and flags.
    Interfaces,
    /// Watch a live capture in the terminal UI: handshakes appear as they happen (`q` stops
    /// the capture; `--write` keeps the packets). `report -i` prints a report instead.
    Live {
        /// The interface to capture on.
        #[arg(short = 'i', long, value_name = "IFACE")]
        interface: String,
        #[command(flatten)]
        capture: CaptureArgs,
        /// Show passwords, hashes and tokens instead of redacting them.
        #[arg(long)]
        reveal_secrets: bool,
        /// Rounds ending without success (a refused credential, a cut connection) that make an `auth-loop`.
        #[arg(long, default_value_t = 3, value_name = "N")]
        loop_rounds: u32,
        /// A credential answered later than this is `slow-auth` (milliseconds).
        #[arg(long, default_value_t = 2000, value_name = "MS")]
        slow_ms: u64,
    },
    /// Open capture files in the terminal UI: handshakes, their timelines and decoded legs.
    Open {
        /// pcap or pcapng files; several are merged in time order.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Show passwords, hashes and tokens instead of redacting them.
        #[arg(long)]
        reveal_secrets: bool,
        #[command(flatten)]
        limits: LimitArgs,
        /// Rounds ending without success (a refused credential, a cut connection) that make an `auth-loop`.
        #[arg(long, default_value_t = 3, value_name = "N")]
        loop_rounds: u32,
        /// A credential answered later than this is `slow-auth` (milliseconds).
        #[arg(long, default_value_t = 2000, value_name = "MS")]
        slow_ms: u64,
    },
    /// Export handshakes: JSON, NDJSON, CSV, Mermaid, a self-contained HTML page, or a pcapng
    /// slice of their connections with each leg named in a packet comment.
    Export {
        /// pcap or pcapng files; several are merged in time order.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Output format (by default, from the extension of `-o`).
        #[arg(long, value_enum)]
        format: Option<ExportFormatArg>,
        /// The file to write; `-` writes to standard output.
        #[arg(short, long, value_name = "OUT")]
        output: PathBuf,
        /// Export this handshake (by its id, as the report and the UI show it); repeatable.
        /// Without it, every handshake the filter keeps.
        #[arg(long = "handshake", value_name = "ID")]
        handshakes: Vec<u64>,
        /// Keep the handshakes this filter matches (the UI's language: `user:alice
        /// code:loop -scheme:basic host:intranet outcome:failed ...`).
        #[arg(long, value_name = "EXPR")]
        filter: Option<String>,
        /// Show passwords, hashes and tokens instead of redacting them.
        #[arg(long)]
        reveal_secrets: bool,
        #[command(flatten)]
        limits: LimitArgs,
        /// Rounds ending without success (a refused credential, a cut connection) that make an `auth-loop`.
        #[arg(long, default_value_t = 3, value_name = "N")]
        loop_rounds: u32,
        /// A credential answered later than this is `slow-auth` (milliseconds).
        #[arg(long, default_value_t = 2000, value_name = "MS")]
        slow_ms: u64,
    },
    /// Decode authentication header values pasted from developer tools or a log.
    ///
    /// Takes `NTLM TlRMTVNT...`, `Negotiate YII...`, `Authorization: Negotiate ...`,
    /// `WWW-Authenticate: ...` with several challenges, or a bare base64 token. Exit status 1
    /// when a value or a token in it could not be decoded (it is still printed).
    Decode {
        /// Header values; `-` reads stdin, one value per line.
        #[arg(required = true, value_name = "VALUE")]
        values: Vec<String>,
        /// Output format: an indented tree, or one JSON object per value (JSON Lines).
        #[arg(long, value_enum, default_value_t = FormatArg::Text)]
        format: FormatArg,
        /// Show passwords, hashes and tokens instead of redacting them.
        #[arg(long)]
        reveal_secrets: bool,
    },
}

/// `--limit`, of every command that analyses.
#[derive(Debug, clap::Args)]
struct LimitArgs {
    /// Change a resource cap, NAME=N (repeatable): connections, reorder-bytes-per-conn,
    /// reorder-bytes, idle-seconds, closed-seconds, join-seconds, head-bytes,
    /// pending-requests, interim-responses, http-bytes, handshakes, handshakes-per-client,
    /// legs. docs/hostile-input.md lists the defaults; the report counts every cap that was hit.
    #[arg(long = "limit", value_name = "NAME=N")]
    limits: Vec<String>,
}

/// Options of a live capture.
#[derive(Debug, clap::Args)]
struct CaptureArgs {
    /// BPF capture filter, replacing the default `tcp` (for example `tcp port 80`).
    #[arg(short = 'f', long, value_name = "BPF", requires = "interface")]
    filter: Option<String>,
    /// Stop after this many seconds.
    #[arg(long, value_name = "S", requires = "interface")]
    duration: Option<f64>,
    /// Stop after this many packets.
    #[arg(long, value_name = "N", requires = "interface")]
    count: Option<u64>,
    /// Save the captured packets to this file (pcapng), to open again later.
    #[arg(long, value_name = "FILE", requires = "interface")]
    write: Option<PathBuf>,
    /// When started as root: the user to become once the interface is open (as tcpdump -Z);
    /// by default the one who ran sudo, or nobody; `root` stays root, without capabilities.
    #[arg(long, value_name = "NAME", requires = "interface")]
    user: Option<String>,
    /// Leave the interface out of promiscuous mode.
    #[arg(long, requires = "interface")]
    no_promiscuous: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ExchangesArg {
    Auth,
    All,
    None,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum SeverityArg {
    Error,
    Warning,
    Info,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum ExportFormatArg {
    Json,
    Ndjson,
    Csv,
    Mermaid,
    Html,
    Pcapng,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum FormatArg {
    Text,
    Json,
    Ndjson,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(args) {
        Ok(code) => code,
        Err(e) => {
            // A closed pipe (`| head`) is the reader's choice, not a failure.
            if let Some(io) = e.downcast_ref::<std::io::Error>() {
                if io.kind() == std::io::ErrorKind::BrokenPipe {
                    return ExitCode::SUCCESS;
                }
            }
            if let Some(authscope::report::ReportError::Write(io)) =
                e.downcast_ref::<authscope::report::ReportError>()
            {
                if io.kind() == std::io::ErrorKind::BrokenPipe {
                    return ExitCode::SUCCESS;
                }
            }
            let _ = writeln!(
                std::io::stderr(),
                "authscope: {}",
                authscope::shown::shown(&one_line(&e))
            );
            ExitCode::from(2)
        }
    }
}

/// The error and its causes on one line, each cause once: most of our errors already quote
/// their cause in their own message, which `{:#}` would repeat.
fn one_line(e: &anyhow::Error) -> String {
    let mut msg = e.to_string();
    for cause in e.chain().skip(1) {
        let c = cause.to_string();
        if !msg.contains(&c) {
            msg.push_str(": ");
            msg.push_str(&c);
        }
    }
    msg
}

/// The pipeline's options with the caps of `--limit` applied.
fn config_with(limits: &LimitArgs) -> anyhow::Result<authscope::pipeline::Config> {
    let mut config = authscope::pipeline::Config::default();
    for l in &limits.limits {
        config.set_limit(l)?;
    }
    Ok(config)
}

fn run(args: Args) -> anyhow::Result<ExitCode> {
    use std::io::IsTerminal;
    match args.command {
        Command::Report {
            files,
            interface,
            capture,
            format,
            reveal_secrets,
            exchanges,
            threads,
            fail_on,
            all_handshakes,
            limits,
            loop_rounds,
            slow_ms,
        } => {
            let mut config = config_with(&limits)?;
            config.diagnose.loop_rounds = loop_rounds;
            config.diagnose.slow_ms = slow_ms;
            let stdout = std::io::stdout();
            let color = stdout.is_terminal() && std::env::var_os("NO_COLOR").is_none();
            let mut opts = authscope::report::Options {
                format: match format {
                    FormatArg::Text => authscope::report::Format::Text,
                    FormatArg::Json => authscope::report::Format::Json,
                    FormatArg::Ndjson => authscope::report::Format::Ndjson,
                },
                reveal_secrets,
                config,
                color,
                all_handshakes,
                exchanges: match exchanges {
                    ExchangesArg::Auth => authscope::report::ExchangeFilter::Auth,
                    ExchangesArg::All => authscope::report::ExchangeFilter::All,
                    ExchangesArg::None => authscope::report::ExchangeFilter::None,
                },
                stream_handshakes: interface.is_some(),
                selection: None,
                threads: threads.unwrap_or_else(|| {
                    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
                }),
                direct: None,
            };
            let summary = match interface {
                Some(iface) => live::report(&iface, capture, &opts)?,
                None => {
                    if authscope::report::flow_shards(&files, opts.threads) > 1 {
                        fewer_huge_pages();
                    }
                    let (to, direct) = report_output(&stdout);
                    opts.direct = direct;
                    let mut out = std::io::BufWriter::with_capacity(1 << 16, to);
                    authscope::report::run(&files, &opts, &mut out)?
                }
            };
            let threshold = fail_on.map(|f| match f {
                SeverityArg::Error => authscope::diagnose::Severity::Error,
                SeverityArg::Warning => authscope::diagnose::Severity::Warning,
                SeverityArg::Info => authscope::diagnose::Severity::Info,
            });
            Ok(match (threshold, summary.worst) {
                (Some(t), Some(w)) if w >= t => ExitCode::from(1),
                _ => ExitCode::SUCCESS,
            })
        }
        Command::Interfaces => {
            live::interfaces()?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Live {
            interface,
            capture,
            reveal_secrets,
            loop_rounds,
            slow_ms,
        } => {
            let mut config = authscope::pipeline::Config::default();
            config.diagnose.loop_rounds = loop_rounds;
            config.diagnose.slow_ms = slow_ms;
            let opts = authscope::ui::Options {
                reveal_secrets,
                config,
            };
            let ended = live::ui(&interface, capture, &opts)?;
            Ok(ExitCode::from(ended.status()))
        }
        Command::Open {
            files,
            reveal_secrets,
            limits,
            loop_rounds,
            slow_ms,
        } => {
            let mut config = config_with(&limits)?;
            config.diagnose.loop_rounds = loop_rounds;
            config.diagnose.slow_ms = slow_ms;
            let opts = authscope::ui::Options {
                reveal_secrets,
                config,
            };
            let ended = authscope::ui::run(&files, &opts)?;
            Ok(ExitCode::from(ended.status()))
        }
        Command::Decode {
            values,
            format,
            reveal_secrets,
        } => decode(&values, format, reveal_secrets),
        Command::Export {
            files,
            format,
            output,
            handshakes,
            filter,
            reveal_secrets,
            limits,
            loop_rounds,
            slow_ms,
        } => {
            use authscope::export::Format;
            let format = match format {
                Some(f) => match f {
                    ExportFormatArg::Json => Format::Json,
                    ExportFormatArg::Ndjson => Format::Ndjson,
                    ExportFormatArg::Csv => Format::Csv,
                    ExportFormatArg::Mermaid => Format::Mermaid,
                    ExportFormatArg::Html => Format::Html,
                    ExportFormatArg::Pcapng => Format::Pcapng,
                },
                None => Format::from_path(&output).ok_or_else(|| {
                    anyhow::anyhow!(
                        "{}: no format: give --format json|ndjson|csv|mermaid|html|pcapng",
                        output.display()
                    )
                })?,
            };
            let mut config = config_with(&limits)?;
            config.diagnose.loop_rounds = loop_rounds;
            config.diagnose.slow_ms = slow_ms;
            let opts = authscope::export::Options {
                format,
                reveal_secrets,
                config,
                selection: authscope::export::Selection::new(handshakes, filter.as_deref()),
            };
            let summary = authscope::export::to_path(&files, &opts, &output)?;
            let mut err = std::io::stderr().lock();
            for n in &summary.notes {
                writeln!(err, "authscope: note: {}", authscope::shown::shown(n))?;
            }
            if output.as_os_str() != "-" {
                let packets = if format == Format::Pcapng {
                    format!(", {} packets", summary.packets)
                } else {
                    String::new()
                };
                writeln!(
                    err,
                    "authscope: wrote {} ({} of {} handshakes{packets})",
                    output.display(),
                    summary.selected,
                    summary.handshakes
                )?;
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

#[cfg(feature = "live")]
mod live {
    use std::io::Write;

    use authscope::capture::live::LiveConfig;
    use authscope::report::{Options, Summary};

    use super::CaptureArgs;

    pub fn report(interface: &str, args: CaptureArgs, opts: &Options) -> anyhow::Result<Summary> {
        let config = config(interface, args)?;
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
        let mut notes = std::io::stderr();
        Ok(authscope::report::live::run(
            config, opts, &mut out, &mut notes,
        )?)
    }

    pub fn ui(
        interface: &str,
        args: CaptureArgs,
        opts: &authscope::ui::Options,
    ) -> anyhow::Result<authscope::ui::Ended> {
        Ok(authscope::ui::run_live(config(interface, args)?, opts)?)
    }

    fn config(interface: &str, args: CaptureArgs) -> anyhow::Result<LiveConfig> {
        let duration = match args.duration {
            Some(s) => Some(
                std::time::Duration::try_from_secs_f64(s)
                    .map_err(|_| anyhow::anyhow!("--duration {s}: not a number of seconds"))?,
            ),
            None => None,
        };
        Ok(LiveConfig {
            filter: args.filter,
            count: args.count,
            duration,
            write: args.write,
            user: args.user,
            promiscuous: !args.no_promiscuous,
            ..LiveConfig::new(interface)
        })
    }

    pub fn interfaces() -> anyhow::Result<()> {
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::new(stdout.lock());
        for i in authscope::capture::live::interfaces()? {
            let desc = i
                .description
                .as_deref()
                .map(|d| format!(" ({d})"))
                .unwrap_or_default();
            let flags = if i.flags.is_empty() {
                String::new()
            } else {
                format!("  {}", i.flags.join(" "))
            };
            writeln!(out, "{}{desc}{flags}", i.name)?;
            for a in &i.addresses {
                writeln!(out, "    {a}")?;
            }
        }
        out.flush()?;
        Ok(())
    }
}

/// Without the `live` feature, the live commands say how to get them.
#[cfg(not(feature = "live"))]
mod live {
    use authscope::report::{Options, Summary};

    use super::CaptureArgs;

    fn unavailable() -> anyhow::Error {
        anyhow::anyhow!(
            "live capture is not in this build: rebuild with `cargo build --release --features \
             live` (needs libpcap: libpcap-dev on Debian/Ubuntu, libpcap-devel on Fedora)"
        )
    }

    pub fn report(
        _interface: &str,
        _args: CaptureArgs,
        _opts: &Options,
    ) -> anyhow::Result<Summary> {
        Err(unavailable())
    }

    pub fn interfaces() -> anyhow::Result<()> {
        Err(unavailable())
    }

    pub fn ui(
        _interface: &str,
        _args: CaptureArgs,
        _opts: &authscope::ui::Options,
    ) -> anyhow::Result<authscope::ui::Ended> {
        Err(unavailable())
    }
}

/// `authscope decode`: each value (or each non-empty stdin line for `-`) decoded and printed.
fn decode(values: &[String], format: FormatArg, reveal_secrets: bool) -> anyhow::Result<ExitCode> {
    use anyhow::Context as _;
    use authscope::auth::{RevealSecrets as _, Token};
    use std::io::BufRead as _;
    let mut inputs = Vec::new();
    for v in values {
        if v == "-" {
            for line in std::io::stdin().lock().lines() {
                let line = line.context("reading stdin")?;
                if !line.trim().is_empty() {
                    inputs.push(line);
                }
            }
        } else {
            inputs.push(v.clone());
        }
    }
    if inputs.is_empty() {
        anyhow::bail!("no value to decode");
    }
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut all_read = true;
    for (i, text) in inputs.iter().enumerate() {
        let mut h = authscope::auth::decode_pasted(text);
        all_read &= h.error.is_none()
            && !h
                .items
                .iter()
                .any(|d| matches!(d.token, Token::Malformed(_)));
        if reveal_secrets {
            h.reveal_secrets();
        }
        match format {
            FormatArg::Text => {
                if i > 0 {
                    writeln!(out)?;
                }
                out.write_all(authscope::auth::tree::render(&h).as_bytes())?;
                if let Some(line) = jwt_expiry_now(&h) {
                    writeln!(out, "{line}")?;
                }
            }
            // One JSON object per value: JSON and NDJSON are the same here.
            FormatArg::Json | FormatArg::Ndjson => {
                serde_json::to_writer(&mut out, &h)?;
                writeln!(out)?;
            }
        }
    }
    out.flush()?;
    Ok(if all_read {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// For `decode`: whether a JWT's `exp` has passed now (RFC 7519 4.1.4).
fn jwt_expiry_now(h: &authscope::auth::AuthHeader) -> Option<String> {
    use authscope::auth::Token;
    let exp = h.items.iter().find_map(|i| match &i.token {
        Token::Bearer(b) => b.jwt.as_ref().and_then(|j| j.exp),
        _ => None,
    })?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_secs()).ok())?;
    let span = authscope::auth::util::span(now.saturating_sub(exp));
    Some(if exp <= now {
        format!("JWT expired {span} ago (exp has passed)")
    } else {
        format!("JWT valid for {span} more (exp not reached)")
    })
}
