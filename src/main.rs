//! The command line: parse, call the library, print one line and exit 2 on error.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser as _;

mod cli;
use cli::{Args, CaptureArgs, Command, ExchangesArg, FormatArg, ReportFormatArg, SeverityArg};

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

fn run(args: Args) -> anyhow::Result<ExitCode> {
    use std::io::IsTerminal;
    match args.command {
        Command::Report {
            files,
            reading,
            interface,
            capture,
            format,
            analysis,
            exchanges,
            fail_on,
            all_handshakes,
        } => {
            if interface.is_none() {
                if let Some(flag) = capture.given() {
                    anyhow::bail!("{flag} is for a live capture: give -i IFACE, or leave it out");
                }
            }
            let config = analysis.config()?;
            let stdout = std::io::stdout();
            let color = stdout.is_terminal() && std::env::var_os("NO_COLOR").is_none();
            let width = stdout
                .is_terminal()
                .then(crossterm::terminal::size)
                .and_then(Result::ok)
                .map(|(columns, _)| usize::from(columns));
            let mut opts = authscope::report::Options {
                format: match format {
                    ReportFormatArg::Text => authscope::report::Format::Text,
                    ReportFormatArg::Json => authscope::report::Format::Json,
                    ReportFormatArg::Ndjson => authscope::report::Format::Ndjson,
                    ReportFormatArg::Ecs => authscope::report::Format::Ecs,
                    ReportFormatArg::Zeek => authscope::report::Format::Zeek,
                },
                reveal_secrets: analysis.reveal_secrets,
                config,
                color,
                width,
                all_handshakes,
                exchanges: match exchanges {
                    ExchangesArg::Auth => authscope::report::ExchangeFilter::Auth,
                    ExchangesArg::All => authscope::report::ExchangeFilter::All,
                    ExchangesArg::None => authscope::report::ExchangeFilter::None,
                },
                stream_handshakes: interface.is_some(),
                selection: None,
                plan: reading.plan(),
                key_logs: reading.key_logs.clone(),
                server_logs: reading.server_logs(),
                direct: None,
                merge: reading.merge,
            };
            let summary = match interface {
                Some(_) if !opts.server_logs.is_empty() => anyhow::bail!(
                    "--server-log and --events are read with capture files, not with -i"
                ),
                Some(iface) => live::report(&iface, capture, &opts)?,
                None => {
                    if opts.plan.threads > 2 {
                        fewer_huge_pages();
                    }
                    let (to, direct) = report_output(&stdout);
                    opts.direct = direct;
                    let mut out = std::io::BufWriter::with_capacity(1 << 16, to);
                    let summary = authscope::report::run(&files, &opts, &mut out)?;
                    drop(out);
                    let mut err = std::io::stderr().lock();
                    for w in &summary.warnings {
                        writeln!(err, "authscope: warning: {}", authscope::shown::shown(w))?;
                    }
                    summary
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
            key_logs,
            analysis,
        } => {
            let opts = authscope::ui::Options {
                reveal_secrets: analysis.reveal_secrets,
                config: analysis.config()?,
                merge: false,
                // A live capture has one reader.
                plan: authscope::pipeline::Plan::threads(1),
                key_logs,
                server_logs: Default::default(),
            };
            let ended = live::ui(&interface, capture, &opts)?;
            Ok(ExitCode::from(ended.status()))
        }
        Command::Open {
            files,
            reading,
            analysis,
        } => {
            let opts = authscope::ui::Options {
                reveal_secrets: analysis.reveal_secrets,
                config: analysis.config()?,
                merge: reading.merge,
                plan: reading.plan(),
                key_logs: reading.key_logs.clone(),
                server_logs: reading.server_logs(),
            };
            if opts.plan.threads > 2 {
                fewer_huge_pages();
            }
            let ended = authscope::ui::run(&files, &opts)?;
            Ok(ExitCode::from(ended.status()))
        }
        Command::Decode {
            values,
            format,
            reveal_secrets,
        } => decode(&values, format, reveal_secrets),
        Command::Completions { shell } => {
            let mut cmd = <Args as clap::CommandFactory>::command();
            // Into memory first: clap_complete panics when its writer fails (`| head`).
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut cmd, "authscope", &mut script);
            std::io::stdout().write_all(&script)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Man { dir } => {
            let cmd = <Args as clap::CommandFactory>::command();
            let written = man_pages(&cmd, &dir)?;
            for path in written {
                writeln!(std::io::stderr(), "authscope: wrote {}", path.display())?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Export {
            files,
            reading,
            format,
            output,
            handshakes,
            filter,
            analysis,
        } => {
            use authscope::export::Format;
            let format = match format {
                Some(f) => f,
                None => Format::from_path(&output).ok_or_else(|| {
                    anyhow::anyhow!(
                        "{}: no format: give --format json|ndjson|csv|mermaid|html|pcapng",
                        output.display()
                    )
                })?,
            };
            let opts = authscope::export::Options {
                format,
                reveal_secrets: analysis.reveal_secrets,
                config: analysis.config()?,
                selection: authscope::export::Selection::new(handshakes, filter.as_deref()),
                merge: reading.merge,
                plan: reading.plan(),
                key_logs: reading.key_logs.clone(),
                server_logs: reading.server_logs(),
            };
            if opts.plan.threads > 2 {
                fewer_huge_pages();
            }
            // The pcapng slice reads its input three times: standard input is kept in a
            // temporary file for it.
            let (files, _spooled) = if format == Format::Pcapng {
                spool_stdin(files)?
            } else {
                (files, None)
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
    let mut shown_one = false;
    for (i, text) in inputs.iter().enumerate() {
        let mut h = authscope::auth::decode_pasted(text);
        if let Some(why) = unreadable(text, &h) {
            // Nothing was decoded: one line says why, and no tree pretends otherwise.
            out.flush()?;
            writeln!(
                std::io::stderr(),
                "authscope: decode: value {}: {}",
                i.saturating_add(1),
                authscope::shown::shown(&why)
            )?;
            all_read = false;
            continue;
        }
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
                if shown_one {
                    writeln!(out)?;
                }
                shown_one = true;
                out.write_all(authscope::present::tree::render(&h).as_bytes())?;
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

/// `files` with standard input (`-`) copied to a temporary file, for a face that reads its
/// input more than once; the file goes when the returned path is dropped.
fn spool_stdin(
    files: Vec<std::path::PathBuf>,
) -> anyhow::Result<(Vec<std::path::PathBuf>, Option<tempfile::TempPath>)> {
    use anyhow::Context as _;
    if !files.iter().any(|f| f.as_os_str() == "-") {
        return Ok((files, None));
    }
    let mut tmp = tempfile::NamedTempFile::new().context("a temporary file for standard input")?;
    std::io::copy(&mut std::io::stdin().lock(), &mut tmp).context("reading standard input")?;
    let path = tmp.into_temp_path();
    let files = files
        .into_iter()
        .map(|f| {
            if f.as_os_str() == "-" {
                path.to_path_buf()
            } else {
                f
            }
        })
        .collect();
    Ok((files, Some(path)))
}

/// `authscope man DIR`: the page of the command and one per subcommand (`authscope-report.1`),
/// as git and cargo install theirs.
fn man_pages(
    cmd: &clap::Command,
    dir: &std::path::Path,
) -> anyhow::Result<Vec<std::path::PathBuf>> {
    use anyhow::Context as _;
    let mut written = Vec::new();
    let mut pages = vec![("authscope".to_owned(), cmd.clone())];
    for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
        let name = format!("authscope-{}", sub.get_name());
        let page = sub
            .clone()
            .display_name(name.clone())
            .bin_name(name.replace('-', " "));
        pages.push((name, page));
    }
    for (name, page) in pages {
        let path = dir.join(format!("{name}.1"));
        let mut file = std::fs::File::create(&path)
            .with_context(|| format!("{}: cannot write", path.display()))?;
        clap_mangen::Man::new(page)
            .render(&mut file)
            .with_context(|| format!("{}: cannot write", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

/// For `decode`: why a value gave nothing to decode (empty, no scheme, a scheme whose
/// credentials are neither a token nor parameters); `None` when something was read.
fn unreadable(text: &str, h: &authscope::auth::AuthHeader) -> Option<String> {
    let clipped = authscope::present::clip_with(text.trim(), 60, "...");
    if text.trim().is_empty() {
        return Some("an empty value (give a header value such as `NTLM TlRMTVNTUAAB...`)".into());
    }
    if let Some(e) = &h.error {
        return Some(format!("`{clipped}`: {e}"));
    }
    let bad = h.anomalies.iter().find(|a| a.code == "header.bad_params")?;
    let nothing = h
        .items
        .iter()
        .all(|d| matches!(d.token, authscope::auth::Token::Bare));
    nothing.then(|| format!("`{clipped}`: {}", bad.detail))
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
