//! Command-line arguments, parsed raw here and validated into domain types
//! by each command. Every prompt has a flag, environment variable or file.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(name = "sekimori", version, about = "sekimori (関守): the checkpoint for hospital networks", long_about = None)]
pub struct Cli {
    /// Data directory (keys, certificate, config, SQLite store).
    #[arg(long, global = true, env = "SEKIMORI_DATA_DIR", default_value = "sekimori-data")]
    pub data_dir: PathBuf,
    /// Database URL (`sqlite://…` or `postgres://…`); overrides config.toml.
    #[arg(long, global = true, env = "SEKIMORI_DATABASE_URL", hide_env_values = true)]
    pub database: Option<String>,
    /// Language of messages: `ja` or `en` (default: from LANG).
    #[arg(long, global = true, value_enum, env = "SEKIMORI_LANG")]
    pub lang: Option<LangArg>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LangArg {
    Ja,
    En,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the data directory, keys, certificate and store, and print a set-up code.
    Init(InitArgs),
    /// Run the gateway: web console and JSON API over HTTPS.
    Serve(ServeArgs),
    /// Manage user accounts.
    #[command(subcommand)]
    User(UserCmd),
    /// Manage registered assets (devices).
    #[command(subcommand)]
    Asset(AssetCmd),
    /// Manage zones.
    #[command(subcommand)]
    Zone(ZoneCmd),
    /// Alerts the detections raised: list, show, acknowledge, close.
    #[command(subcommand)]
    Alert(AlertCmd),
    /// Verify or export the tamper-evident audit log.
    #[command(subcommand)]
    Audit(AuditCmd),
    /// Log in to a sekimori server (password + authenticator code) and get a
    /// short-lived tunnel credential bound to a key made on this machine.
    Login(LoginArgs),
    /// End the saved login on the server and forget it here.
    Logout(JsonFlag),
    /// Access requests: ask for, approve, deny, cancel, revoke.
    #[command(subcommand)]
    Request(RequestCmd),
    /// Tunnelled connections: list, kill, export a recording as pcap.
    #[command(subcommand)]
    Session(SessionCmd),
    /// Open a local port that carries each connection to the device of an
    /// approved request, through the gateway.
    Connect(ConnectArgs),
    /// Analyse capture files offline: flows, identified protocols, devices.
    Analyze(AnalyzeArgs),
    /// Run the passive sensor continuously (an interface, flow collectors) and feed
    /// the inventory and communication map of the store.
    Sensor(SensorArgs),
    /// Test tools: synthetic hospital traffic.
    #[command(subcommand)]
    Lab(LabCmd),
    /// Advisory feeds from files (KEV, CVE JSON 5, NVD, CSAF, OSV, EPSS):
    /// import into the store, show what is there.
    #[command(subcommand)]
    Feeds(FeedsCmd),
    /// Match the inventory against the advisories: findings in priority order,
    /// each with why it matched.
    Assess(AssessArgs),
    /// The Ministry of Health (MHLW) hospital cybersecurity checklist, answered
    /// from sekimori's evidence where it has some; the rest left for people.
    Checklist(ChecklistArgs),
    /// The network policy file (zones, rules, detections, indicators): check
    /// one, print the sample.
    #[command(subcommand)]
    Policy(PolicyCmd),
}

#[derive(Debug, Subcommand)]
pub enum PolicyCmd {
    /// Check a policy file and the indicator files it names: a summary when
    /// it is valid; every problem as FILE:LINE:COL: key: message (exit 2)
    /// when not.
    Check(PolicyCheckArgs),
    /// Print the sample hospital policy, a starting point to edit.
    Sample,
}

#[derive(Debug, Args)]
pub struct PolicyCheckArgs {
    /// The policy file (TOML).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Print the result as one JSON object.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ChecklistArgs {
    /// The hospital's asset ledger (CSV) and other inventory files, compared
    /// with the devices the sensor observed (repeatable).
    #[arg(long = "inventory", value_name = "FILE")]
    pub inventory: Vec<PathBuf>,
    /// Advisory files or directories for the patch items (repeatable).
    /// Without it, the feeds imported into the store are used.
    #[arg(long = "feeds", value_name = "PATH")]
    pub feeds: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "json")]
    pub format: ChecklistFormat,
    /// Write the answers here instead of standard output.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ChecklistFormat {
    Json,
    Html,
}

#[derive(Debug, Subcommand)]
pub enum FeedsCmd {
    /// Import advisory files, directories (walked) and zip archives (such as
    /// the cvelistV5 release). Re-importing is harmless: unchanged records are
    /// counted, not duplicated. A bad record is reported and skipped.
    Import(FeedsImportArgs),
    /// How many records of each kind the store holds.
    Status(JsonFlag),
}

#[derive(Debug, Args)]
pub struct FeedsImportArgs {
    /// Files, directories or zip archives.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Print the result as one JSON object (no progress bar).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct AssessArgs {
    /// Inventory files: the asset ledger (CSV), CycloneDX or SPDX SBOMs, MDS2
    /// answers, or `sekimori analyze --format json` output (repeatable).
    /// Without it, the store's observed devices are assessed.
    #[arg(long = "inventory", value_name = "FILE")]
    pub inventory: Vec<PathBuf>,
    /// Advisory files or directories read directly (repeatable). Without it,
    /// the feeds imported into the store are used.
    #[arg(long = "feeds", value_name = "PATH")]
    pub feeds: Vec<PathBuf>,
    /// Also assess the store's observed devices when --inventory is given.
    #[arg(long)]
    pub observed: bool,
    /// Output format.
    #[arg(long, value_enum, default_value = "json")]
    pub format: AssessFormat,
    /// Write the report here instead of standard output.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Exit with 1 when a finding (affected or possibly affected) is at least this.
    #[arg(long, value_enum)]
    pub fail_on: Option<FailOn>,
    /// Also list assets checked and found not affected by version.
    #[arg(long)]
    pub all: bool,
    /// A site alias table (same format as the bundled data/aliases.toml),
    /// added to the bundled one.
    #[arg(long, value_name = "FILE")]
    pub aliases: Option<PathBuf>,
    /// Print timings as one JSON line on stderr: reading the inventory and
    /// the feeds, indexing, matching; counts of assets, records, findings.
    #[arg(long)]
    pub stats: bool,
    /// Benchmark reference: read every stored record and find candidates
    /// by scanning every advisory entry instead of the index (same
    /// findings, slower).
    #[arg(long, hide = true)]
    pub linear_scan: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AssessFormat {
    Json,
    Csv,
    Html,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    /// Any finding in CISA's KEV catalogue.
    KnownExploited,
    /// Critical severity (CVSS 9.0+) or known-exploited.
    Critical,
    /// High severity (CVSS 7.0+) or worse, or known-exploited.
    High,
}

#[derive(Debug, Subcommand)]
pub enum LabCmd {
    /// Write a synthetic hospital capture (pcap): DHCP, DNS, DICOM, HL7/MLLP,
    /// TLS, SMB2, SSH, RDP, IKEv2/ESP; deterministic by seed.
    Synth(SynthArgs),
    /// Replay the February 2026 incident's kill chain with real traffic in
    /// network namespaces that it builds and removes (needs root and
    /// iproute2): a timeline of what happened and what sekimori did, exit 1
    /// if any stage was missed, and a capture for `sekimori analyze`.
    Incident(IncidentArgs),
    /// One part played inside a lab namespace (used by `lab incident`).
    #[command(subcommand, hide = true)]
    Actor(ActorCmd),
}

#[derive(Debug, Args)]
pub struct IncidentArgs {
    /// Where to write the capture of the hospital segment (pcap).
    #[arg(long, value_name = "FILE", default_value = "sekimori-incident.pcap")]
    pub capture: PathBuf,
    /// Keep the lab's data directory (store, audit log, policy, logs) here
    /// instead of a temporary directory that is removed at the end.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Print the timeline as JSON.
    #[arg(long)]
    pub json: bool,
}

/// The parts of the incident lab; each prints one JSON line when done
/// (servers print `{"ready":true}` first and stop when standard input
/// closes).
#[derive(Debug, Subcommand)]
pub enum ActorCmd {
    /// TCP and UDP services: discard, echo, HL7 acknowledgements, SMB2
    /// negotiation, IKE and OpenVPN responders.
    Serve(ActorServeArgs),
    /// An HL7 feed: one message every `--every-ms` over one MLLP connection.
    Hl7 {
        #[arg(long)]
        to: std::net::SocketAddr,
        #[arg(long, default_value_t = 500)]
        every_ms: u64,
    },
    /// SMB2 negotiation with each address on port 445, one after another.
    Fanout {
        #[arg(long = "to", required = true)]
        to: Vec<std::net::IpAddr>,
    },
    /// A TLS ClientHello, then `--bytes` bytes to `--to`.
    Exfil {
        #[arg(long)]
        to: std::net::SocketAddr,
        #[arg(long)]
        bytes: u64,
    },
    /// IKEv2 (Fortinet vendor ID) to port 500 and OpenVPN to 1194 of `--to`.
    Vpn {
        #[arg(long)]
        to: std::net::IpAddr,
    },
    /// Password guessing on one account, then spraying over many names.
    Spray(ActorSprayArgs),
    /// One message through a local port and its echo back.
    Echo {
        #[arg(long)]
        to: std::net::SocketAddr,
    },
    /// A modified client: asks the gateway to carry a connection on a port
    /// the grant does not have (the saved login of SEKIMORI_CLIENT_DIR).
    Tamper {
        #[arg(long)]
        request: String,
        #[arg(long)]
        port: u16,
    },
    /// A syslog receiver (RFC 6587 octet counting over TCP): prints each
    /// message as `{"syslog": "…"}`.
    Syslog {
        #[arg(long)]
        port: u16,
    },
    /// Writes every frame seen on `--interface` to `--write` (pcap).
    Capture {
        #[arg(long)]
        interface: String,
        #[arg(long)]
        write: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct ActorServeArgs {
    /// Accept and discard.
    #[arg(long = "tcp")]
    pub tcp: Vec<u16>,
    /// Accept and echo.
    #[arg(long = "echo")]
    pub echo: Vec<u16>,
    /// HL7 over MLLP: acknowledge every message.
    #[arg(long = "hl7")]
    pub hl7: Vec<u16>,
    /// SMB2: answer NEGOTIATE (port 445).
    #[arg(long)]
    pub smb: bool,
    /// IKE on udp/500 and OpenVPN on udp/1194: answer the first packets.
    #[arg(long)]
    pub vpn: bool,
}

#[derive(Debug, Args)]
pub struct ActorSprayArgs {
    /// The gateway, HOST:PORT.
    #[arg(long)]
    pub server: String,
    /// The account guessed at first.
    #[arg(long)]
    pub guess: String,
    /// The names sprayed afterwards.
    #[arg(long = "spray", required = true)]
    pub spray: Vec<String>,
    /// Passwords tried (each guess takes the next one).
    #[arg(long = "password", required = true)]
    pub passwords: Vec<String>,
    /// How many guesses on `--guess`.
    #[arg(long, default_value_t = 6)]
    pub guesses: u32,
}

#[derive(Debug, Args)]
pub struct SynthArgs {
    /// About how many hosts the hospital has (at least 14).
    #[arg(long, default_value_t = 100)]
    pub hosts: u32,
    /// Simulated time span: 90s, 10m, 2h, 1d.
    #[arg(long, default_value = "10m")]
    pub duration: String,
    /// The pcap file to write.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: PathBuf,
    /// Seed of every random choice (same seed, same file).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Stop once the file reaches this many MB (10^6 bytes), simulating
    /// past --duration if needed.
    #[arg(long)]
    pub size_mb: Option<u64>,
}

#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// Capture files (pcap, pcapng) or Zeek conn.log files, analysed as one
    /// capture in the order given (packets are not re-sorted by time across
    /// files).
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Output: json (flows, assets, alerts) or table (for people).
    #[arg(long, value_enum, default_value = "json")]
    pub format: AnalyzeFormat,
    /// Most flows tracked at once; beyond it the least recently seen flow
    /// is written out early (counted as evicted).
    #[arg(long, default_value_t = 500_000)]
    pub max_flows: usize,
    /// Count flows only: do not look at payloads to identify protocols.
    #[arg(long)]
    pub no_identify: bool,
    /// Write the devices and conversations to the store (the data directory's, or
    /// --database) instead of printing flows; prints what was stored.
    #[arg(long)]
    pub store: bool,
    /// Threads: N workers, each reading its share of the capture files and
    /// analysing its share of the flows. The output is the same whatever
    /// the number.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Print the counters as one JSON line on stderr: packets, bytes, flows,
    /// peak flows, bytes per tracked flow, elapsed time, MB/s.
    #[arg(long)]
    pub stats: bool,
    /// Evaluate this policy file (zones, rules, detections) and print its
    /// alerts (`sekimori policy sample` prints one). Analyses on one thread.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Exit 1 when an alert at or above this severity was raised.
    #[arg(long, value_enum, requires = "policy")]
    pub fail_on: Option<SeverityArg>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SeverityArg {
    Low,
    Medium,
    High,
    Critical,
}

impl SeverityArg {
    pub fn severity(self) -> sekimori_types::AlertSeverity {
        match self {
            SeverityArg::Low => sekimori_types::AlertSeverity::Low,
            SeverityArg::Medium => sekimori_types::AlertSeverity::Medium,
            SeverityArg::High => sekimori_types::AlertSeverity::High,
            SeverityArg::Critical => sekimori_types::AlertSeverity::Critical,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AnalyzeFormat {
    Json,
    Table,
}

#[derive(Debug, Args)]
pub struct SensorArgs {
    /// Interface to capture from (a SPAN port or TAP); overrides `[sensor]` in config.toml.
    #[arg(long)]
    pub interface: Option<String>,
    /// BPF filter for the capture (tcpdump syntax).
    #[arg(long)]
    pub filter: Option<String>,
    /// Receive NetFlow v5/v9 and IPFIX exports on this UDP ADDR:PORT (repeatable).
    #[arg(long = "collector", value_name = "ADDR:PORT")]
    pub collectors: Vec<SocketAddr>,
    /// Seconds between writes to the store (default 10).
    #[arg(long)]
    pub flush_secs: Option<u64>,
    /// Most flows tracked at once (default 500000).
    #[arg(long)]
    pub max_flows: Option<usize>,
    /// The policy file (zones, rules, detections): alerts within seconds,
    /// stored and forwarded to the `[forward]` destinations.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct JsonFlag {
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The gateway, HOST:PORT.
    #[arg(long, env = "SEKIMORI_SERVER")]
    pub server: String,
    /// User name (default: the saved one).
    #[arg(long)]
    pub user: Option<String>,
    /// Read the password from this file (first line).
    #[arg(long)]
    pub password_file: Option<PathBuf>,
    /// Read the password from standard input (first line).
    #[arg(long)]
    pub password_stdin: bool,
    /// The current code of the authenticator app (else asked for).
    #[arg(long)]
    pub totp_code: Option<String>,
    /// The server certificate's SHA-256 fingerprint as printed by `sekimori serve`
    /// (else trusted on first use and pinned).
    #[arg(long)]
    pub server_fingerprint: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum RequestCmd {
    /// Ask for access to one device.
    Create(RequestCreateArgs),
    /// List requests (yours; staff see all).
    List(RequestListArgs),
    /// Show one request.
    Show(RequestIdArgs),
    /// Approve a request (asks for an authenticator code: step-up).
    Approve(RequestApproveArgs),
    /// Deny a pending request.
    Deny(RequestNoteArgs),
    /// Withdraw your own request.
    Cancel(RequestIdArgs),
    /// Withdraw an approved grant; its live connections close at once.
    Revoke(RequestNoteArgs),
}

#[derive(Debug, Args)]
pub struct RequestCreateArgs {
    /// The device: its name or ID.
    #[arg(long)]
    pub asset: String,
    /// A registered maintenance port of the device (repeatable).
    #[arg(long = "port", required = true)]
    pub ports: Vec<u16>,
    /// Why, with the ticket reference.
    #[arg(long)]
    pub reason: String,
    /// Start time (RFC 3339) or `now` (default: when approved).
    #[arg(long)]
    pub start: Option<String>,
    /// Length of the window: minutes, or with a unit (`90m`, `2h`).
    #[arg(long)]
    pub duration: String,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RequestListArgs {
    /// Only these states (pending, approved, denied, cancelled, revoked, expired).
    #[arg(long)]
    pub state: Option<String>,
    /// Only your own (staff).
    #[arg(long)]
    pub mine: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RequestIdArgs {
    pub id: String,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RequestApproveArgs {
    pub id: String,
    /// The current authenticator code (else asked for).
    #[arg(long)]
    pub totp_code: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct RequestNoteArgs {
    pub id: String,
    /// A note for the record.
    #[arg(long)]
    pub note: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum SessionCmd {
    /// List tunnelled connections (newest first).
    List(SessionListArgs),
    /// Close a live tunnelled connection at once.
    Kill(SessionIdArgs),
    /// Write a recorded connection as a pcap file (Wireshark, tshark).
    Export(SessionExportArgs),
}

#[derive(Debug, Args)]
pub struct SessionListArgs {
    /// Only live connections.
    #[arg(long)]
    pub live: bool,
    /// Only those of this request.
    #[arg(long)]
    pub request: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SessionIdArgs {
    pub id: String,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct SessionExportArgs {
    pub id: String,
    /// The pcap file to write.
    #[arg(long)]
    pub pcap: PathBuf,
}

#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// The approved access request.
    pub request: String,
    /// Local address to listen on (default: a free port on 127.0.0.1).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// Which granted port (needed when the grant has several).
    #[arg(long)]
    pub port: Option<u16>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address and port to listen on; overrides config.toml.
    #[arg(long, env = "SEKIMORI_LISTEN")]
    pub listen: Option<SocketAddr>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RoleArg {
    Admin,
    Approver,
    Auditor,
    Vendor,
}

#[derive(Debug, Subcommand)]
pub enum UserCmd {
    /// Add a user. They enrol their authenticator app at first login.
    Add(UserAddArgs),
    /// List users.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Lock an account and end its sessions.
    Lock(UserTarget),
    /// Unlock an account (also clears its failed-login count).
    Unlock(UserTarget),
    /// Remove the user's authenticator and recovery codes; they enrol again at next login.
    ResetMfa(UserTarget),
}

#[derive(Debug, Args)]
pub struct UserAddArgs {
    #[arg(long)]
    pub username: String,
    #[arg(long, value_enum)]
    pub role: RoleArg,
    /// Display name (defaults to the user name).
    #[arg(long)]
    pub display_name: Option<String>,
    /// Maintenance company (required for vendors).
    #[arg(long)]
    pub company: Option<String>,
    /// Hospital department (staff).
    #[arg(long)]
    pub department: Option<String>,
    /// Read the initial password from this file (first line).
    #[arg(long, conflicts_with = "password_stdin")]
    pub password_file: Option<PathBuf>,
    /// Read the initial password from standard input (first line).
    #[arg(long)]
    pub password_stdin: bool,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct UserTarget {
    pub username: String,
    /// Why (recorded in the audit log).
    #[arg(long)]
    pub reason: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum AssetCmd {
    /// Register a device.
    Add(AssetAddArgs),
    /// List registered devices.
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct AssetAddArgs {
    #[arg(long)]
    pub name: String,
    /// An IP address of the device (repeatable).
    #[arg(long = "address")]
    pub addresses: Vec<String>,
    /// Zone name (must exist).
    #[arg(long)]
    pub zone: Option<String>,
    #[arg(long)]
    pub owner_department: Option<String>,
    #[arg(long)]
    pub vendor_company: Option<String>,
    /// low, medium, high or life_critical.
    #[arg(long, default_value = "medium")]
    pub criticality: String,
    /// A maintenance port as PORT/PROTOCOL, e.g. 22/ssh (repeatable).
    #[arg(long = "port")]
    pub ports: Vec<String>,
    /// Longest access grant on this device, in minutes.
    #[arg(long, default_value_t = 240)]
    pub max_session_minutes: u32,
    /// Do not record tunnelled byte streams to this device (recorded by default).
    #[arg(long)]
    pub no_recording: bool,
    /// Access requests need two different approvers.
    #[arg(long)]
    pub two_approvers: bool,
    /// Department whose approvers decide requests (default: the owner department).
    #[arg(long)]
    pub approver_department: Option<String>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum ZoneCmd {
    /// Create a zone.
    Add {
        #[arg(long)]
        name: String,
        #[arg(long)]
        description: Option<String>,
        /// Critical zones are default-deny.
        #[arg(long)]
        critical: bool,
        #[arg(long)]
        json: bool,
    },
    /// List zones.
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum AlertCmd {
    /// List alerts, most recently changed first.
    List {
        /// Only alerts in this state: open, acknowledged, closed.
        #[arg(long)]
        state: Option<String>,
        /// Only alerts of this kind (exfiltration, silence, …).
        #[arg(long)]
        kind: Option<String>,
        /// Only alerts at least this severe: low, medium, high, critical.
        #[arg(long)]
        severity: Option<String>,
        /// At most this many (1–1000).
        #[arg(long, default_value_t = 100)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
    /// Show one alert with its evidence.
    Show {
        /// The alert's ID.
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Acknowledge an open alert ("we are on it"), with a comment.
    Ack {
        id: String,
        /// Why (required; recorded in the audit log).
        #[arg(long)]
        comment: String,
        #[arg(long)]
        json: bool,
    },
    /// Close an alert (resolved or a false positive), with a comment.
    Close {
        id: String,
        /// Why (required; recorded in the audit log).
        #[arg(long)]
        comment: String,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ExportFormat {
    Jsonl,
}

#[derive(Debug, Subcommand)]
pub enum AuditCmd {
    /// Prove the audit chain intact; exit code 1 and the first bad record if not.
    Verify {
        /// Verify an exported JSONL file instead of the store.
        #[arg(long)]
        file: Option<PathBuf>,
        /// The instance public key (hex) to verify an exported file against.
        #[arg(long, requires = "file")]
        public_key: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Export the audit log with its checkpoints (for a SIEM or an archive).
    Export {
        #[arg(long, value_enum, default_value = "jsonl")]
        format: ExportFormat,
        /// Write here instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Print the instance public key that signs audit checkpoints.
    PublicKey,
}
