//! The command line's grammar (clap): the commands, and the argument groups they share,
//! declared once and flattened where they apply.

use std::path::PathBuf;

use authscope::export::Format as ExportFormat;
use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Parser, Subcommand, ValueEnum};

/// Shows why HTTP authentication fails, from the packets.
#[derive(Debug, Parser)]
#[command(name = "authscope", version, about)]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Analyse capture files, or a live capture (`-i`), and print a report.
    Report {
        /// pcap or pcapng files (gzip, zstd or xz compressed too), directories of them (the
        /// files in name order), or `-` for standard input; each file is its own capture
        /// unless `--merge`. With none, and
        /// `--server-log` or `--events`, the report lists what the server's records say alone.
        #[arg(
            required_unless_present_any = ["interface", "server_logs", "events"],
            conflicts_with = "interface"
        )]
        files: Vec<PathBuf>,
        #[command(flatten)]
        reading: FileArgs,
        /// Capture live from this interface instead of reading files (needs the `live`
        /// feature): each handshake is printed when it completes, the summary at the end.
        #[arg(short = 'i', long, value_name = "IFACE")]
        interface: Option<String>,
        #[command(flatten)]
        capture: CaptureArgs,
        /// Output format: text, the JSON document, NDJSON lines, Elastic Common Schema
        /// documents a line each (`ecs`: a handshake's and one per finding, for
        /// Elasticsearch, OpenSearch or ClickHouse), or Zeek `ntlm.log` and `kerberos.log`
        /// records as Zeek's JSON writer gives them (`zeek`; docs/formats.md).
        #[arg(long, value_enum, default_value_t = ReportFormatArg::Text)]
        format: ReportFormatArg,
        #[command(flatten)]
        analysis: AnalysisArgs,
        /// JSON: which HTTP exchanges to list (all are counted): those with authentication
        /// headers or a 401/407, every one, or none.
        #[arg(long, value_enum, default_value_t = ExchangesArg::Auth)]
        exchanges: ExchangesArg,
        /// Exit with status 1 when a finding of this severity or worse exists.
        #[arg(long, value_enum)]
        fail_on: Option<SeverityArg>,
        /// Text: a block for every handshake (by default, past 100 handshakes only those
        /// with a problem are shown).
        #[arg(long)]
        all_handshakes: bool,
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
        /// A TLS key log (NSS format) that decrypts the HTTPS connections captured; repeatable.
        /// It is followed as it grows (a browser's SSLKEYLOGFILE), and read once it is created
        /// if it does not exist yet.
        #[arg(long = "keylog", value_name = "FILE")]
        key_logs: Vec<std::path::PathBuf>,
        #[command(flatten)]
        analysis: AnalysisArgs,
    },
    /// Open capture files in the terminal UI: handshakes, their timelines and decoded legs.
    Open {
        /// pcap or pcapng files (gzip, zstd or xz compressed too), directories of them, or `-`
        /// for standard input; each file is its own capture unless `--merge`.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[command(flatten)]
        reading: FileArgs,
        #[command(flatten)]
        analysis: AnalysisArgs,
    },
    /// Export handshakes: JSON, NDJSON, CSV, Mermaid, a self-contained HTML page, or a pcapng
    /// slice of their connections with each leg named in a packet comment.
    Export {
        /// pcap or pcapng files (gzip, zstd or xz compressed too), directories of them, or `-`
        /// for standard input; each file is its own capture unless `--merge`.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[command(flatten)]
        reading: FileArgs,
        /// Output format (by default, from the extension of `-o`).
        #[arg(long, value_parser = export_format())]
        format: Option<ExportFormat>,
        /// The file to write; `-` writes to standard output.
        #[arg(short, long, value_name = "OUT")]
        output: PathBuf,
        /// Export this handshake (by its id, as the report and the UI show it); repeatable.
        /// Without it, every handshake `--where` keeps. An id not in the input is an error.
        #[arg(long = "handshake", value_name = "ID")]
        handshakes: Vec<u64>,
        /// Keep the handshakes this expression matches (the UI's filter language: `user:alice
        /// code:loop -scheme:basic host:intranet outcome:failed ...`).
        #[arg(long = "where", value_name = "EXPR")]
        filter: Option<String>,
        #[command(flatten)]
        analysis: AnalysisArgs,
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
    /// Print the completion script of a shell, to install where the shell reads them
    /// (`authscope completions bash > /etc/bash_completion.d/authscope`).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Write the manual pages (authscope.1, and authscope-COMMAND.1 for each command) into a
    /// folder (`sudo authscope man /usr/local/share/man/man1`).
    Man {
        /// The folder to write the pages into.
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
}

/// How every command that reads files reads them.
#[derive(Debug, clap::Args)]
pub struct FileArgs {
    /// Read the files as one capture, their packets in time order and numbered over all (the
    /// parts of a rotated capture, as `mergecap` joins them). Without it each file is a
    /// capture of its own: nothing joins across files and frames keep their file's numbers.
    #[arg(long)]
    pub merge: bool,
    /// Threads that analyse the files (default: 2, one reading and reassembling, one
    /// joining, judging and writing; 1 on a one-core machine). With N of 3 or more, N-1
    /// threads each read the files and reassemble and frame their share of the connections
    /// (a connection stays on one). The output is the same byte for byte whatever N, unless
    /// a thread hits its share of a cap (the caps are divided among them: a warning says so).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// A TLS key log (NSS format, as SSLKEYLOGFILE writes it: Chrome, Edge, Firefox, curl,
    /// Python) that decrypts the HTTPS connections of the files; repeatable. Keys in the
    /// files' pcapng Decryption Secrets Blocks are used too. With `-i`, the key log is
    /// followed as it grows, and read once it is created if it does not exist yet.
    #[arg(long = "keylog", value_name = "FILE")]
    pub key_logs: Vec<PathBuf>,
    /// The web server's IIS log (W3C extended, `u_ex*.log`) or http.sys error log
    /// (`httperr*.log`); repeatable. Each line is joined to the leg it explains (client
    /// address, port, method, URI, status and time, with the clock offset estimated), and
    /// its status, substatus and win32 status explain the refusals.
    #[arg(long = "server-log", value_name = "FILE")]
    pub server_logs: Vec<PathBuf>,
    /// Windows events: an EVTX file (the Security log of the web server or of a domain
    /// controller, a Kerberos or NTLM operational log), or the XML `wevtutil qe /f:xml`
    /// prints; repeatable. 4624, 4625, 4648, 4776, 4768, 4769 and 4771 are joined to the
    /// handshakes by address, port, user and time.
    #[arg(long = "events", value_name = "FILE")]
    pub events: Vec<PathBuf>,
}

impl FileArgs {
    /// `--server-log` and `--events`.
    pub fn server_logs(&self) -> authscope::capture::serverlog::ServerLogPaths {
        authscope::capture::serverlog::ServerLogPaths {
            logs: self.server_logs.clone(),
            events: self.events.clone(),
        }
    }

    pub fn plan(&self) -> authscope::pipeline::Plan {
        match self.threads {
            Some(n) => authscope::pipeline::Plan::threads(n),
            None => authscope::pipeline::Plan::default(),
        }
    }
}

/// What every command that analyses captures takes: how to judge, what to reveal, the caps.
#[derive(Debug, clap::Args)]
pub struct AnalysisArgs {
    /// Show passwords, hashes and tokens instead of redacting them.
    #[arg(long)]
    pub reveal_secrets: bool,
    /// Rounds ending without success (a refused credential, a cut connection) that make an `auth-loop`.
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub loop_rounds: u32,
    /// A credential answered later than this is `slow-auth` (milliseconds).
    #[arg(long, default_value_t = 2000, value_name = "MS")]
    pub slow_ms: u64,
    #[command(flatten)]
    pub limits: LimitArgs,
}

impl AnalysisArgs {
    /// The pipeline's options these arguments set.
    pub fn config(&self) -> anyhow::Result<authscope::pipeline::Config> {
        let mut config = authscope::pipeline::Config::default();
        for l in &self.limits.limits {
            config.set_limit(l)?;
        }
        config.diagnose.loop_rounds = self.loop_rounds;
        config.diagnose.slow_ms = self.slow_ms;
        Ok(config)
    }
}

/// `--limit`, of every command that analyses.
#[derive(Debug, clap::Args)]
pub struct LimitArgs {
    /// Change a resource cap, NAME=N (repeatable): connections, reorder-bytes-per-conn,
    /// reorder-bytes, idle-seconds, closed-seconds, join-seconds, head-bytes,
    /// pending-requests, interim-responses, http-bytes, tls-bytes, handshakes,
    /// handshakes-per-client, legs, handshake-bytes, clock-window-seconds. docs/hardening.md lists the defaults; the report counts every cap that was hit.
    #[arg(long = "limit", value_name = "NAME=N")]
    pub limits: Vec<String>,
}

/// Options of a live capture.
#[derive(Debug, clap::Args)]
pub struct CaptureArgs {
    /// BPF capture filter, replacing the default `tcp` (for example `tcp port 80`).
    #[arg(short = 'f', long = "bpf", value_name = "BPF", requires = "interface")]
    pub filter: Option<String>,
    /// Stop after this many seconds.
    #[arg(long, value_name = "S", requires = "interface")]
    pub duration: Option<f64>,
    /// Stop after this many packets.
    #[arg(long, value_name = "N", requires = "interface")]
    pub count: Option<u64>,
    /// Save the captured packets to this file (pcapng), to open again later.
    #[arg(long, value_name = "FILE", requires = "interface")]
    pub write: Option<PathBuf>,
    /// When started as root: the user to become once the interface is open (as tcpdump -Z);
    /// by default the one who ran sudo, or nobody; `root` stays root, without capabilities.
    #[arg(long, value_name = "NAME", requires = "interface")]
    pub user: Option<String>,
    /// Leave the interface out of promiscuous mode.
    #[arg(long, requires = "interface")]
    pub no_promiscuous: bool,
}

impl CaptureArgs {
    /// The first live capture option given, by its name: clap's `requires` does not hold
    /// for a group flattened into a command where the interface is optional.
    pub fn given(&self) -> Option<&'static str> {
        [
            (self.filter.is_some(), "--bpf"),
            (self.duration.is_some(), "--duration"),
            (self.count.is_some(), "--count"),
            (self.write.is_some(), "--write"),
            (self.user.is_some(), "--user"),
            (self.no_promiscuous, "--no-promiscuous"),
        ]
        .into_iter()
        .find_map(|(given, name)| given.then_some(name))
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ExchangesArg {
    Auth,
    All,
    None,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum SeverityArg {
    Error,
    Warning,
    Info,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ReportFormatArg {
    Text,
    Json,
    Ndjson,
    Ecs,
    Zeek,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum FormatArg {
    Text,
    Json,
    Ndjson,
}

/// `export --format` takes the names the export formats go by, so the list is kept in one
/// place.
fn export_format() -> impl TypedValueParser<Value = ExportFormat> {
    PossibleValuesParser::new(ExportFormat::ALL.map(|(_, name)| name))
        .try_map(|name| ExportFormat::from_name(&name).ok_or("not an export format"))
}
