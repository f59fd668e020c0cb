//! `sekimori lab incident`: the February 2026 incident's kill chain, played
//! with real traffic against real sekimori processes in network namespaces
//! (`sekimori_lab::incident` draws the network).
//!
//! The lab builds the network, a data directory with users, devices and a
//! policy, then starts `sekimori serve` (the gateway, in its own namespace
//! with a leg on each side), `sekimori sensor` on the hospital segment's
//! SPAN port, a capture beside it, and the hosts' services. Then six stages:
//!
//! 1. password guessing and spraying against the gateway;
//! 2. a stolen password without the TOTP code; a vendor with a grant for the
//!    CT scanner trying to reach the nurse-call server through the broker;
//! 3. SMB fan-out from the nurse-call server to the ward PCs;
//! 4. exfiltration from the nurse-call server to the internet;
//! 5. the nurse-call server falling silent;
//! 6. a forgotten VPN box talking IKE and OpenVPN to the internet.
//!
//! Each stage is judged from what sekimori recorded — alerts in the store,
//! the audit log, the clients' answers — with the time after the stage
//! began. The capture is replayed with `sekimori analyze --policy` at the
//! end. Exit 0 when every stage was caught, 1 when one was missed, 2 when
//! the lab could not be built.

#![allow(
    clippy::disallowed_methods,
    reason = "the lab plays real traffic between real processes on the wall clock"
)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitCode, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;

use sekimori_lab::incident as net;
use sekimori_lab::netns::Netlab;
use sekimori_store::{AlertFilter, AlertRepo, AuditRepo, CredentialRepo, UserRepo};
use sekimori_types::{Alert, AlertKind, Lang};

use crate::args::IncidentArgs;

/// The gateway's port on both of its legs.
const GATEWAY_PORT: u16 = 8443;
/// The CT scanner's maintenance port (registered with the broker).
const MODALITY_PORT: u16 = 2222;
/// The nurse-call server's maintenance port (registered, never granted).
const NURSE_CALL_PORT: u16 = 22;
/// Bytes sent out in the exfiltration stage (the lab policy's threshold is
/// 32 MB a minute).
const EXFIL_BYTES: u64 = 48_000_000;
/// An alert must follow the traffic within this many seconds.
const ALERT_DEADLINE: f64 = 5.0;
/// The silence window in the lab policy, seconds.
const SILENCE_WINDOW: f64 = 5.0;

const VENDOR_USER: &str = "vendor-acme";
const APPROVER_USER: &str = "ce-approver";
const ADMIN_USER: &str = "it-admin";
const MODALITY_ASSET: &str = "ct-scanner-01";
const NURSE_CALL_ASSET: &str = "nursecall-srv-01";

/// The SIEM's syslog port.
const SIEM_PORT: u16 = 6514;

/// The lab's config.toml: throttling reached in a few seconds, alerts
/// forwarded to the SIEM (both `serve` and `sensor` read it).
const CONFIG: &str = r#"# sekimori lab incident
[[forward.destinations]]
name = "siem"
kind = "syslog"
transport = "tcp"
address = "10.66.0.60:6514"

[authn.throttle]
account_free_failures = 3
account_lock_after = 5
base_delay_secs = 1
max_delay_secs = 2
source_free_failures = 10
source_block_after = 14
source_window_secs = 900
source_block_secs = 900
"#;

pub fn incident(a: &IncidentArgs, lang: Lang) -> ExitCode {
    match run(a, lang) {
        Ok(report) => {
            if a.json {
                println!("{}", serde_json::to_string_pretty(&report).unwrap_or_default());
            }
            if report.ok { ExitCode::SUCCESS } else { ExitCode::from(1) }
        }
        Err(e) => {
            crate::output::error(lang, &e);
            ExitCode::from(2)
        }
    }
}

/// The lab's outcome (`--json`).
#[derive(Debug, Serialize)]
struct Report {
    ok: bool,
    started_at: String,
    capture: PathBuf,
    data_dir: Option<PathBuf>,
    stages: Vec<Stage>,
}

#[derive(Debug, Serialize)]
struct Stage {
    number: u8,
    title: String,
    ok: bool,
    events: Vec<Event>,
}

/// One line of the timeline: seconds after the stage began, who, what.
#[derive(Debug, Serialize)]
struct Event {
    at: f64,
    who: &'static str,
    what: String,
}

struct StageLog {
    number: u8,
    title: String,
    began: OffsetDateTime,
    events: Vec<Event>,
    ok: bool,
    lang: Lang,
    quiet: bool,
}

impl StageLog {
    fn new(number: u8, lang: Lang, quiet: bool, ja: &str, en: &str) -> StageLog {
        let title = lang.pick(ja, en).to_owned();
        if !quiet {
            let label = lang.pick("段階", "stage");
            println!("\n{label} {number}  {title}");
        }
        StageLog {
            number,
            title,
            began: OffsetDateTime::now_utc(),
            events: Vec::new(),
            ok: true,
            lang,
            quiet,
        }
    }

    fn secs_since(&self, t: OffsetDateTime) -> f64 {
        ((t - self.began).as_seconds_f64() * 10.0).round() / 10.0
    }

    fn at(&mut self, t: OffsetDateTime, who: &'static str, what: String) {
        let at = self.secs_since(t);
        self.events.push(Event { at, who, what });
    }

    fn now(&mut self, who: &'static str, what: String) {
        self.at(OffsetDateTime::now_utc(), who, what);
    }

    /// A check: logged as missed when it fails.
    fn check(&mut self, ok: bool, ja: &str, en: &str) {
        if !ok {
            self.ok = false;
            let what =
                format!("{} {}", self.lang.pick("見逃し:", "MISSED:"), self.lang.pick(ja, en));
            self.now("lab", what);
        }
    }

    fn finish(mut self) -> Stage {
        // In time order: what the audit log and the alerts say happened
        // is read after the actions that caused it.
        self.events.sort_by(|a, b| a.at.total_cmp(&b.at));
        if !self.quiet {
            for e in &self.events {
                println!(
                    "  {:>+6.1}s  {} {}",
                    e.at,
                    padded(who_label(self.lang, e.who), 10),
                    e.what
                );
            }
            let verdict = match (self.ok, self.lang) {
                (true, Lang::Ja) => "検知・阻止できました",
                (true, Lang::En) => "caught",
                (false, Lang::Ja) => "見逃しがあります",
                (false, Lang::En) => "MISSED",
            };
            println!("  => {verdict}");
        }
        Stage { number: self.number, title: self.title, ok: self.ok, events: self.events }
    }
}

/// `s` padded with spaces to `width` terminal columns (CJK characters take
/// two).
fn padded(s: &str, width: usize) -> String {
    let cols: usize = s.chars().map(|c| if c.is_ascii() { 1 } else { 2 }).sum();
    format!("{s}{}", " ".repeat(width.saturating_sub(cols)))
}

fn who_label(lang: Lang, who: &str) -> &'static str {
    match (who, lang) {
        ("attacker", Lang::Ja) => "攻撃者",
        ("attacker", Lang::En) => "attacker",
        ("vendor", Lang::Ja) => "保守業者",
        ("vendor", Lang::En) => "vendor",
        ("staff", Lang::Ja) => "病院職員",
        ("staff", Lang::En) => "staff",
        ("sekimori", _) => "sekimori",
        (_, Lang::Ja) => "ラボ",
        (_, Lang::En) => "lab",
    }
}

/// A process the lab started; killed if still running when dropped.
struct Proc {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
}

impl Proc {
    fn spawn(mut cmd: Command, name: &str, logs: &Path) -> Result<Proc> {
        let log = std::fs::File::create(logs.join(format!("{name}.log")))?;
        cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(log);
        let mut child = cmd.spawn().with_context(|| format!("starting {name}"))?;
        let stdout = child.stdout.take().ok_or_else(|| anyhow!("{name}: no stdout"))?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take();
        Ok(Proc { name: name.to_owned(), child, stdin, lines: rx })
    }

    /// Its output lines from now on, for a reader of the caller's.
    fn take_lines(&mut self) -> Receiver<String> {
        std::mem::replace(&mut self.lines, std::sync::mpsc::channel().1)
    }

    /// The first line for which `f` gives a value, within `within`.
    fn wait_for<T>(&self, within: Duration, mut f: impl FnMut(&str) -> Option<T>) -> Result<T> {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(v) = f(line.trim()) {
                        return Ok(v);
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    bail!("{} did not become ready within {} s", self.name, within.as_secs())
                }
                Err(RecvTimeoutError::Disconnected) => {
                    bail!("{} stopped (see its log in the lab directory)", self.name)
                }
            }
        }
    }

    fn ready(&self) -> Result<()> {
        self.wait_for(Duration::from_secs(30), |l| {
            (l == "ready" || l.contains("\"ready\":true")).then_some(())
        })
    }

    /// Closes its standard input (actors stop), then waits for its last
    /// line.
    fn finish(mut self, within: Duration) -> Option<Value> {
        drop(self.stdin.take());
        let mut last = None;
        let deadline = Instant::now() + within;
        while let Ok(line) =
            self.lines.recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            last = serde_json::from_str(&line).ok();
        }
        last
    }

    /// SIGTERM (servers flush and exit), then SIGKILL after `grace`.
    fn terminate(mut self, grace: Duration) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Everything the stages need.
struct Lab {
    lang: Lang,
    quiet: bool,
    exe: PathBuf,
    net: Netlab,
    clients: PathBuf,
    policy: PathBuf,
    rt: tokio::runtime::Runtime,
    store: sekimori_store::Store,
    fingerprint: String,
    vendor_secret: sekimori_authn::totp::TotpSecret,
    approver_secret: sekimori_authn::totp::TotpSecret,
    vendor_password: String,
    approver_password: String,
    /// What the SIEM received: when, and the syslog message.
    siem: Arc<Mutex<Vec<(OffsetDateTime, String)>>>,
}

impl Lab {
    /// When the SIEM received alert `id` (within `within`).
    fn forwarded(&self, id: sekimori_types::AlertId, within: Duration) -> Option<OffsetDateTime> {
        let needle = format!("id=\"{id}\"");
        let deadline = Instant::now() + within;
        loop {
            let got = self
                .siem
                .lock()
                .ok()
                .and_then(|v| v.iter().find(|(_, m)| m.contains(&needle)).map(|(t, _)| *t));
            if got.is_some() || Instant::now() >= deadline {
                return got;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn server(&self) -> String {
        format!("{}:{GATEWAY_PORT}", net::GATEWAY_WAN)
    }

    /// This binary inside namespace `ns`, as a user of client directory
    /// `client` (its saved login).
    fn sekimori_in(&self, ns: &str, client: &str) -> Command {
        let mut c = self.net.exec(ns, &self.exe);
        c.env("SEKIMORI_CLIENT_DIR", self.clients.join(client))
            .env("SEKIMORI_LANG", self.lang.to_string())
            .env_remove("SEKIMORI_DATA_DIR")
            .env_remove("SEKIMORI_DATABASE_URL")
            .env_remove("SEKIMORI_PASSWORD");
        c
    }

    fn actor(&self, ns: &str, args: &[&str]) -> Command {
        self.actor_as(ns, "none", args)
    }

    fn actor_as(&self, ns: &str, client: &str, args: &[&str]) -> Command {
        let mut c = self.sekimori_in(ns, client);
        c.args(["lab", "actor"]).args(args);
        c
    }

    /// Runs a one-shot actor; its JSON line.
    fn play(&self, ns: &str, args: &[&str]) -> Result<Value> {
        self.play_as(ns, "none", args)
    }

    /// [`Lab::play`] as the user of client directory `client`.
    fn play_as(&self, ns: &str, client: &str, args: &[&str]) -> Result<Value> {
        let out = self.actor_as(ns, client, args).stdin(Stdio::null()).output()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let v: Value =
            text.lines().rev().find_map(|l| serde_json::from_str(l).ok()).ok_or_else(|| {
                anyhow!("lab actor {args:?}: {}", String::from_utf8_lossy(&out.stderr))
            })?;
        if let Some(e) = v["error"].as_str() {
            bail!("lab actor {}: {e}", args.first().unwrap_or(&""));
        }
        Ok(v)
    }

    /// Runs a `sekimori` client command; (exit code, stdout JSON, output).
    fn client(&self, ns: &str, client: &str, args: &[&str]) -> Result<(i32, Value, String)> {
        let out = self.sekimori_in(ns, client).args(args).stdin(Stdio::null()).output()?;
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let v = serde_json::from_str(&stdout).unwrap_or(Value::Null);
        let all = format!("{stdout}{}", String::from_utf8_lossy(&out.stderr));
        Ok((out.status.code().unwrap_or(-1), v, all.trim().to_owned()))
    }

    fn login(
        &self,
        ns: &str,
        client: &str,
        user: &str,
        password: &str,
        code: &str,
    ) -> Result<(i32, String)> {
        let pw = self.clients.join(format!("{client}.password"));
        std::fs::write(&pw, password)?;
        let pw = pw.to_string_lossy().into_owned();
        let (code, _, out) = self.client(
            ns,
            client,
            &[
                "login",
                "--server",
                &self.server(),
                "--user",
                user,
                "--password-file",
                &pw,
                "--totp-code",
                code,
                "--server-fingerprint",
                &self.fingerprint,
                "--json",
            ],
        )?;
        Ok((code, out))
    }

    /// The vendor asks for `asset:port` for 30 minutes.
    fn request(&self, asset: &str, port: u16, reason: &str) -> Result<(i32, Value, String)> {
        let port = port.to_string();
        self.client(
            net::VENDOR_NS,
            "vendor",
            &[
                "request",
                "create",
                "--asset",
                asset,
                "--port",
                &port,
                "--reason",
                reason,
                "--duration",
                "30m",
                "--json",
            ],
        )
    }

    fn alerts(&self) -> Vec<Alert> {
        let filter = AlertFilter { limit: 1000, ..AlertFilter::default() };
        self.rt.block_on(self.store.list_alerts(&filter)).unwrap_or_default()
    }

    /// Waits up to `within` for an alert of `kind` created after `since`
    /// that `f` accepts.
    fn wait_alert(
        &self,
        kind: AlertKind,
        since: OffsetDateTime,
        within: Duration,
        f: impl Fn(&Alert) -> bool,
    ) -> Option<Alert> {
        let deadline = Instant::now() + within;
        loop {
            let mut found: Vec<Alert> = self
                .alerts()
                .into_iter()
                .filter(|a| a.kind == kind && a.created_at >= since && f(a))
                .collect();
            found.sort_by_key(|a| a.created_at);
            if let Some(a) = found.into_iter().next() {
                return Some(a);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Audit events (`event.type`, the event, its time) recorded after
    /// `since`.
    fn audit_since(&self, since: OffsetDateTime) -> Vec<(String, Value, OffsetDateTime)> {
        let mut out = Vec::new();
        let mut from = 1u64;
        let since_us = (since.unix_timestamp_nanos() / 1000) as i64;
        loop {
            let Ok(page) = self.rt.block_on(self.store.audit_records(from, 500)) else { break };
            let Some(last) = page.last().map(|r| r.seq) else { break };
            for r in page.into_iter().filter(|r| r.ts_micros >= since_us) {
                let v: Value = serde_json::from_str(&r.body).unwrap_or(Value::Null);
                let kind = v["event"]["type"].as_str().unwrap_or("").to_owned();
                let at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(r.ts_micros) * 1000)
                    .unwrap_or(since);
                out.push((kind, v["event"].clone(), at));
            }
            from = last + 1;
        }
        out
    }

    fn code(&self, secret: &sekimori_authn::totp::TotpSecret) -> String {
        sekimori_authn::totp::code_at(secret, OffsetDateTime::now_utc())
            .map(|c| c.to_string())
            .unwrap_or_default()
    }
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

fn random_password() -> Result<String> {
    let mut b = [0u8; 18];
    aws_lc_rs::rand::fill(&mut b).map_err(|_| anyhow!("no randomness"))?;
    Ok(format!("Lab-{}-x9", hex::encode(b)))
}

fn run(a: &IncidentArgs, lang: Lang) -> Result<Report> {
    if !is_root() {
        bail!(
            "{}",
            lang.pick(
                "sekimori lab incident はネットワーク名前空間を作るため root 権限が必要です（sudo で実行してください）",
                "sekimori lab incident builds network namespaces and needs root (run it with sudo)"
            )
        );
    }
    let quiet = a.json;
    let started_at = OffsetDateTime::now_utc();
    // The work directory: kept where the user said, else temporary.
    let (work, _tmp) = match &a.dir {
        Some(d) => {
            std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
            (d.canonicalize()?, None)
        }
        None => {
            let t = std::env::temp_dir().join(format!("sekimori-lab-{}", std::process::id()));
            std::fs::create_dir_all(&t)?;
            (t.clone(), Some(RemoveOnDrop(t)))
        }
    };
    let capture = std::path::absolute(&a.capture)?;
    let data = work.join("data");
    let logs = work.join("logs");
    let clients = work.join("clients");
    for d in [&data, &logs, &clients] {
        std::fs::create_dir_all(d)?;
    }
    // The policy beside the capture, so the replay command printed at the
    // end works after the lab directory is gone.
    let policy = capture.with_extension("policy.toml");
    std::fs::write(&policy, net::POLICY)?;
    std::fs::write(data.join("config.toml"), CONFIG)?;
    let exe = std::env::current_exe().context("finding this program")?;

    if !quiet {
        println!(
            "{}",
            lang.pick(
                "sekimori ラボ：2026年2月の病院ランサムウェア事案の再現",
                "sekimori lab: the February 2026 hospital ransomware incident, replayed"
            )
        );
    }
    let stale = Netlab::remove_stale();
    let mut netlab = Netlab::new();
    net::build(&mut netlab).context("building the lab network")?;
    if !quiet {
        println!(
            "  {} {} ({}: {stale})",
            lang.pick("ネットワーク名前空間", "network namespaces"),
            netlab.namespaces().len(),
            lang.pick("前回の残骸を削除", "stale ones removed"),
        );
    }

    // Accounts and devices, as an administrator would register them.
    let vendor_password = random_password()?;
    let approver_password = random_password()?;
    let admin_password = random_password()?;
    for (user, role, org, pw) in [
        (ADMIN_USER, "admin", ["--department", "情報システム課 / IT"], &admin_password),
        (APPROVER_USER, "approver", ["--department", "Clinical Engineering"], &approver_password),
        (VENDOR_USER, "vendor", ["--company", "Acme Medical"], &vendor_password),
    ] {
        let mut c = Command::new(&exe);
        c.arg("--data-dir").arg(&data).env("SEKIMORI_LANG", "en").env("SEKIMORI_PASSWORD", pw);
        c.env_remove("SEKIMORI_DATABASE_URL");
        c.args(["user", "add", "--username", user, "--role", role]).args(org);
        c.args(["--password-stdin"]).stdin(Stdio::piped()).stdout(Stdio::null());
        c.stderr(Stdio::piped());
        let mut child = c.spawn()?;
        if let Some(mut i) = child.stdin.take() {
            writeln!(i, "{pw}")?;
        }
        let out = child.wait_with_output()?;
        if !out.status.success() {
            bail!("user add {user}: {}", String::from_utf8_lossy(&out.stderr));
        }
    }
    for (name, addr, company, port) in [
        (MODALITY_ASSET, net::MODALITY, "Acme Medical", format!("{MODALITY_PORT}/ssh")),
        (NURSE_CALL_ASSET, net::NURSE_CALL, "Kowa Nurse Systems", format!("{NURSE_CALL_PORT}/ssh")),
    ] {
        let out = Command::new(&exe)
            .arg("--data-dir")
            .arg(&data)
            .env("SEKIMORI_LANG", "en")
            .env_remove("SEKIMORI_DATABASE_URL")
            .args(["asset", "add", "--name", name, "--address", addr])
            .args(["--owner-department", "Clinical Engineering", "--vendor-company", company])
            .args(["--max-session-minutes", "60", "--port", &port])
            .stdin(Stdio::null())
            .output()?;
        if !out.status.success() {
            bail!("asset add {name}: {}", String::from_utf8_lossy(&out.stderr));
        }
    }

    // The vendor's and the approver's authenticator apps: enrolled in the
    // store directly (the lab plays their phones).
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let (inst, _) = rt.block_on(super::super::open_at(&data, None))?;
    let store = inst.store;
    let mut secrets = Vec::new();
    for user in [VENDOR_USER, APPROVER_USER] {
        let name = sekimori_types::Username::parse(user).map_err(|e| anyhow!("{e}"))?;
        let u = rt
            .block_on(store.user_by_username(&name))?
            .ok_or_else(|| anyhow!("{user} not found"))?;
        let secret = sekimori_authn::totp::TotpSecret::generate().map_err(|e| anyhow!("{e}"))?;
        let step = sekimori_authn::totp::step_at(OffsetDateTime::now_utc()) - 2;
        rt.block_on(store.enrol_totp(
            &sekimori_store::AuditCtx::system(),
            u.id,
            secret.as_bytes(),
            step,
            &[],
        ))?;
        secrets.push(secret);
    }
    let approver_secret = secrets.pop().ok_or_else(|| anyhow!("no secret"))?;
    let vendor_secret = secrets.pop().ok_or_else(|| anyhow!("no secret"))?;

    // The SIEM, first, so that nothing forwarded waits for it.
    let mut siem_cmd = netlab.exec(net::SIEM_NS, &exe);
    siem_cmd.env_remove("SEKIMORI_DATA_DIR").args([
        "lab",
        "actor",
        "syslog",
        "--port",
        &SIEM_PORT.to_string(),
    ]);
    let mut siem_proc = Proc::spawn(siem_cmd, "siem", &logs)?;
    siem_proc.ready()?;
    let siem = Arc::new(Mutex::new(Vec::new()));
    {
        let (lines, siem) = (siem_proc.take_lines(), siem.clone());
        std::thread::spawn(move || {
            for line in lines {
                let v: Value = serde_json::from_str(&line).unwrap_or(Value::Null);
                if let (Some(m), Ok(mut got)) = (v["syslog"].as_str(), siem.lock()) {
                    got.push((OffsetDateTime::now_utc(), m.to_owned()));
                }
            }
        });
    }

    // The gateway.
    let mut serve_cmd = netlab.exec(net::GATEWAY, &exe);
    serve_cmd
        .arg("--data-dir")
        .arg(&data)
        .env("SEKIMORI_LANG", "en")
        .env_remove("SEKIMORI_DATABASE_URL")
        .args(["serve", "--listen", &format!("0.0.0.0:{GATEWAY_PORT}")]);
    let serve = Proc::spawn(serve_cmd, "serve", &logs)?;
    let fingerprint = serve.wait_for(Duration::from_secs(60), |l| {
        l.strip_prefix("certificate fingerprint: ").map(str::to_owned)
    })?;
    serve.ready()?;

    let lab = Lab {
        lang,
        quiet,
        exe: exe.clone(),
        net: netlab,
        clients,
        policy: policy.clone(),
        rt,
        store,
        fingerprint,
        vendor_secret,
        approver_secret,
        vendor_password,
        approver_password,
        siem,
    };

    // The capture and the sensor on the SPAN port.
    let cap = Proc::spawn(
        lab.actor(
            net::SENSOR,
            &["capture", "--interface", "eth0", "--write", &capture.to_string_lossy()],
        ),
        "capture",
        &logs,
    )?;
    cap.ready()?;
    let mut sensor_cmd = lab.net.exec(net::SENSOR, &exe);
    sensor_cmd
        .arg("--data-dir")
        .arg(&data)
        .env("SEKIMORI_LANG", "en")
        .env_remove("SEKIMORI_DATABASE_URL")
        .args(["sensor", "--interface", "eth0", "--policy"])
        .arg(&lab.policy);
    let sensor = Proc::spawn(sensor_cmd, "sensor", &logs)?;
    sensor.ready()?;

    // The hosts' services and the nurse-call server's usual HL7 traffic.
    let mut services = Vec::new();
    for (ns, args) in [
        (net::STATION_NS, vec!["serve", "--hl7", "2575", "--smb"]),
        (net::PACS_NS, vec!["serve", "--tcp", "104"]),
        (net::MODALITY_NS, vec!["serve", "--echo", "2222", "--tcp", "104"]),
        (net::INTERNET_NS, vec!["serve", "--tcp", "443", "--vpn"]),
    ] {
        let p = Proc::spawn(lab.actor(ns, &args), &format!("{ns}-services"), &logs)?;
        p.ready()?;
        services.push(p);
    }
    let station = format!("{}:2575", net::STATION);
    let heartbeat = Proc::spawn(
        lab.actor(net::NURSE, &["hl7", "--to", &station, "--every-ms", "500"]),
        "nurse-call-hl7",
        &logs,
    )?;
    heartbeat.ready()?;
    // Let the sensor learn the nurse-call server's usual traffic.
    std::thread::sleep(Duration::from_secs(2));
    if !quiet {
        println!(
            "  {}",
            lang.pick(
                "ゲートウェイ・センサー・各機器が起動し、ナースコールサーバーが HL7 を送信中",
                "gateway, sensor and hosts up; the nurse-call server is sending HL7"
            )
        );
    }

    let mut stages = vec![
        stage_spraying(&lab),
        stage_broker(&lab, &logs),
        stage_lateral(&lab),
        stage_exfiltration(&lab),
    ];
    stages.push(stage_silence(&lab, heartbeat));
    stages.push(stage_vpn(&lab));

    // Wind down: the capture first (so it holds everything), then the rest.
    let captured = cap.finish(Duration::from_secs(10));
    sensor.terminate(Duration::from_secs(10));
    serve.terminate(Duration::from_secs(10));
    for s in services {
        let _ = s.finish(Duration::from_secs(2));
    }
    let _ = siem_proc.finish(Duration::from_secs(2));
    stages.push(stage_replay(&lab, &capture, captured));

    let ok = stages.iter().all(|s| s.ok);
    if !quiet {
        println!();
        println!(
            "{}",
            match (ok, lang) {
                (true, Lang::Ja) => "すべての段階で検知・阻止できました。",
                (true, Lang::En) => "Every stage was caught.",
                (false, Lang::Ja) => "見逃した段階があります（上の「見逃し」を参照）。",
                (false, Lang::En) => "A stage was missed (see MISSED above).",
            }
        );
        println!("  {}: {}", lang.pick("キャプチャ", "capture"), capture.display());
        println!(
            "  {}: sekimori analyze {} --policy {}",
            lang.pick("再生", "replay"),
            capture.display(),
            lab.policy.display()
        );
        if let Some(d) = &a.dir {
            println!("  {}: {}", lang.pick("データ", "data"), d.display());
        }
    }
    let Lab { store, rt, .. } = lab;
    rt.block_on(store.close());
    Ok(Report {
        ok,
        started_at: sekimori_types::rfc3339(started_at),
        capture,
        data_dir: a.dir.clone(),
        stages,
    })
}

struct RemoveOnDrop(PathBuf);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Logs the alerts raised since the stage began that it has not logged
/// yet (e.g. the segmentation violation beside an exfiltration).
fn other_alerts(lab: &Lab, s: &mut StageLog, logged: &[sekimori_types::AlertId]) {
    let mut others: Vec<Alert> = lab
        .alerts()
        .into_iter()
        .filter(|a| a.created_at >= s.began && !logged.contains(&a.id))
        .collect();
    others.sort_by_key(|a| a.created_at);
    for a in &others {
        s.at(a.created_at, "sekimori", alert_line(lab.lang, a));
    }
}

fn alert_line(lang: Lang, a: &Alert) -> String {
    let summary = lang.pick(&a.summary_ja, &a.summary);
    format!("{} [{}] {summary}", lang.pick("警告", "alert"), a.kind.as_str())
}

// ---------------------------------------------------------------- stages

fn stage_spraying(lab: &Lab) -> Stage {
    let mut s = StageLog::new(
        1,
        lab.lang,
        lab.quiet,
        "ゲートウェイへのパスワードスプレー・総当たり",
        "password spraying and guessing against the gateway",
    );
    let server = lab.server();
    let mut args = vec!["spray", "--server", &server, "--guess", ADMIN_USER, "--guesses", "6"];
    for u in ["admin", "administrator", "root", "nurse", "guest", "test", "vendor", "user"] {
        args.extend(["--spray", u]);
    }
    for p in ["Password1", "Hospital2026!", "Welcome123", "Summer2026"] {
        args.extend(["--password", p]);
    }
    s.now(
        "attacker",
        match lab.lang {
            Lang::Ja => format!(
                "{} から {ADMIN_USER} のパスワードを推測し、続いて 8 個のアカウント名にスプレー",
                net::INTERNET
            ),
            Lang::En => format!(
                "from {}: guesses {ADMIN_USER}'s password, then sprays 8 account names",
                net::INTERNET
            ),
        },
    );
    let v = match lab.play(net::INTERNET_NS, &args) {
        Ok(v) => v,
        Err(e) => {
            s.check(
                false,
                &format!("攻撃を実行できません: {e:#}"),
                &format!("could not run the attack: {e:#}"),
            );
            return s.finish();
        }
    };
    let n = |k: &str| v[k].as_u64().unwrap_or(0);
    s.now(
        "attacker",
        match lab.lang {
            Lang::Ja => format!(
                "{} 回試行、待機要求 {} 回、遮断応答 {} 回、ログイン成功 {} 回",
                n("attempts"),
                n("throttled_waits"),
                n("blocked_answers"),
                n("admitted")
            ),
            Lang::En => format!(
                "{} attempts, {} throttled, {} blocked answers, {} admitted",
                n("attempts"),
                n("throttled_waits"),
                n("blocked_answers"),
                n("admitted")
            ),
        },
    );
    for (kind, ev, at) in lab.audit_since(s.began) {
        match kind.as_str() {
            "account_locked" => s.at(
                at,
                "sekimori",
                format!(
                    "{} {}",
                    lab.lang.pick("アカウントをロック:", "account locked:"),
                    ev["username"].as_str().unwrap_or("?")
                ),
            ),
            "source_blocked" => s.at(
                at,
                "sekimori",
                format!(
                    "{} {} ({} {})",
                    lab.lang.pick("送信元を遮断:", "source blocked:"),
                    ev["source"].as_str().unwrap_or("?"),
                    ev["failures"],
                    lab.lang.pick("回失敗", "failures")
                ),
            ),
            _ => {}
        }
    }
    let by_source =
        lab.wait_alert(AlertKind::AuthenticationAttack, s.began, Duration::from_secs(5), |a| {
            a.evidence.assets.iter().any(|x| x.ip.to_string() == net::INTERNET)
        });
    let alerts: Vec<Alert> = lab
        .alerts()
        .into_iter()
        .filter(|a| a.kind == AlertKind::AuthenticationAttack && a.created_at >= s.began)
        .collect();
    for a in &alerts {
        s.at(a.created_at, "sekimori", alert_line(lab.lang, a));
    }
    let locked = sekimori_types::Username::parse(ADMIN_USER).ok().is_some_and(|name| {
        lab.rt
            .block_on(lab.store.user_by_username(&name))
            .ok()
            .flatten()
            .is_some_and(|u| u.status == sekimori_types::UserStatus::Locked)
    });
    s.check(n("admitted") == 0, "攻撃者がログインできました", "the attacker was admitted");
    s.check(n("throttled_waits") > 0, "試行が遅延されませんでした", "no attempt was throttled");
    s.check(
        locked,
        "推測されたアカウントがロックされませんでした",
        "the guessed account was not locked",
    );
    s.check(n("blocked_answers") > 0, "送信元が遮断されませんでした", "the source was not blocked");
    s.check(by_source.is_some(), "攻撃の警告がありません", "no alert about the attack");
    if let Some(a) = &by_source {
        judge_forwarded(lab, &mut s, a);
    }
    s.finish()
}

fn stage_broker(lab: &Lab, logs: &Path) -> Stage {
    let mut s = StageLog::new(
        2,
        lab.lang,
        lab.quiet,
        "盗まれたパスワードと、保守業者によるナースコールサーバーへの接続の試み",
        "a stolen password without the TOTP; a vendor trying to reach the nurse-call server",
    );
    if let Err(e) = broker_steps(lab, &mut s, logs) {
        s.check(false, &format!("実行できません: {e:#}"), &format!("could not run: {e:#}"));
    }
    s.finish()
}

fn broker_steps(lab: &Lab, s: &mut StageLog, logs: &Path) -> Result<()> {
    let ja = lab.lang == Lang::Ja;
    // (a) Someone with the vendor's password but not their phone.
    let real = lab.code(&lab.vendor_secret);
    let wrong = wrong_code(&real);
    s.now(
        "attacker",
        if ja {
            format!(
                "{} から {VENDOR_USER} の盗んだパスワードでログイン（認証コードは推測）",
                net::THIEF
            )
        } else {
            format!(
                "from {}: logs in as {VENDOR_USER} with the stolen password, guessing the code",
                net::THIEF
            )
        },
    );
    let (code, out) =
        lab.login(net::THIEF_NS, "thief", VENDOR_USER, &lab.vendor_password, &wrong)?;
    let first = out.lines().last().unwrap_or("").to_owned();
    s.now("sekimori", format!("{} {first}", lab.lang.pick("拒否:", "refused:")));
    s.check(code != 0, "認証コードなしでログインできました", "logged in without the TOTP code");

    // (b) The vendor, properly: log in, ask, get approved, connect.
    let (code, out) = lab.login(
        net::VENDOR_NS,
        "vendor",
        VENDOR_USER,
        &lab.vendor_password,
        &lab.code(&lab.vendor_secret),
    )?;
    if code != 0 {
        bail!("the vendor's login failed: {out}");
    }
    let port = MODALITY_PORT.to_string();
    let (code, v, out) =
        lab.request(MODALITY_ASSET, MODALITY_PORT, "INC-2026-0213 CT firmware update")?;
    if code != 0 {
        bail!("request create: {out}");
    }
    let grant = v["id"].as_str().unwrap_or("").to_owned();
    let (code, out) = lab.login(
        net::CE_NS,
        "approver",
        APPROVER_USER,
        &lab.approver_password,
        &lab.code(&lab.approver_secret),
    )?;
    if code != 0 {
        bail!("the approver's login failed: {out}");
    }
    let (code, _, out) =
        lab.client(net::CE_NS, "approver", &["request", "approve", &grant, "--json"])?;
    if code != 0 {
        bail!("request approve: {out}");
    }
    s.now(
        "staff",
        if ja {
            format!("{APPROVER_USER} が {MODALITY_ASSET}:{MODALITY_PORT} への保守申請を承認（MFA 済み）")
        } else {
            format!("{APPROVER_USER} approves maintenance on {MODALITY_ASSET}:{MODALITY_PORT} (with MFA)")
        },
    );
    let mut connect = lab.sekimori_in(net::VENDOR_NS, "vendor");
    connect.args(["connect", &grant, "--port", &port, "--json"]);
    let tunnel = Proc::spawn(connect, "vendor-connect", logs)?;
    let listen = tunnel.wait_for(Duration::from_secs(20), |l| {
        serde_json::from_str::<Value>(l).ok().and_then(|v| v["listen"].as_str().map(str::to_owned))
    })?;
    let echoed = lab.play(net::VENDOR_NS, &["echo", "--to", &listen])?;
    let worked = echoed["echoed"] == true;
    s.now(
        "vendor",
        if ja {
            format!(
                "承認済みトンネルで CT 装置の保守ポートに接続: {}",
                if worked { "成功" } else { "失敗" }
            )
        } else {
            format!(
                "reaches the CT scanner's maintenance port through the tunnel: {}",
                if worked { "works" } else { "FAILED" }
            )
        },
    );
    s.check(
        worked,
        "承認済みの保守接続が使えません",
        "the approved maintenance connection does not work",
    );

    // (c) The same vendor goes for the nurse-call server.
    let began_refusals = OffsetDateTime::now_utc();
    let nc_port = NURSE_CALL_PORT.to_string();
    let (code, v, out) = lab.request(NURSE_CALL_ASSET, NURSE_CALL_PORT, "just looking")?;
    if code == 0 {
        let other = v["id"].as_str().unwrap_or("").to_owned();
        let (code, _, out) = lab.client(
            net::VENDOR_NS,
            "vendor",
            &["connect", &other, "--port", &nc_port, "--json"],
        )?;
        s.now(
            "vendor",
            if ja {
                format!("承認のない {NURSE_CALL_ASSET} への申請で接続を試行")
            } else {
                format!("tries to connect with an unapproved request for {NURSE_CALL_ASSET}")
            },
        );
        let last = out.lines().last().unwrap_or("").to_owned();
        s.now("sekimori", format!("{} {last}", lab.lang.pick("拒否:", "refused:")));
        s.check(code != 0, "承認のない接続が通りました", "an unapproved connection went through");
    } else {
        let last = out.lines().last().unwrap_or("").to_owned();
        s.now(
            "sekimori",
            format!(
                "{} {last}",
                lab.lang.pick(
                    "申請できません（他社の機器は一覧にも出ません）:",
                    "cannot even ask (other companies' devices are not listed to this vendor):"
                )
            ),
        );
    }
    // (d) A modified client: the CT grant, the nurse-call server's port.
    s.now(
        "vendor",
        if ja {
            format!("改造クライアントで CT の許可を使いポート {NURSE_CALL_PORT} を要求")
        } else {
            format!("a modified client asks for port {NURSE_CALL_PORT} on the CT scanner's grant")
        },
    );
    let t = lab.play_as(
        net::VENDOR_NS,
        "vendor",
        &["tamper", "--request", &grant, "--port", &nc_port],
    )?;
    let refused = t["refused"] == true;
    s.now(
        "sekimori",
        format!("{} {}", lab.lang.pick("拒否:", "refused:"), t["reason"].as_str().unwrap_or("-")),
    );
    s.check(
        refused,
        "許可にないポートへの接続が通りました",
        "a port outside the grant was carried",
    );
    drop(tunnel);

    let audited: Vec<(String, Value, OffsetDateTime)> = lab
        .audit_since(s.began)
        .into_iter()
        .filter(|(k, _, _)| k == "tunnel_refused" || k == "login_failed")
        .collect();
    for (kind, ev, at) in &audited {
        let what = match kind.as_str() {
            "login_failed" => format!(
                "{} login_failed {} ({})",
                lab.lang.pick("監査記録:", "audited:"),
                ev["username"].as_str().unwrap_or("?"),
                ev["reason"].as_str().unwrap_or("?")
            ),
            _ => format!(
                "{} tunnel_refused ({})",
                lab.lang.pick("監査記録:", "audited:"),
                ev["reason"].as_str().unwrap_or("?")
            ),
        };
        s.at(*at, "sekimori", what);
    }
    s.check(
        audited.iter().any(|(k, ev, _)| k == "login_failed" && ev["source"] == net::THIEF),
        "盗まれたパスワードでの失敗が監査記録にありません",
        "the stolen-password attempt is not in the audit log",
    );
    s.check(
        audited.iter().any(|(k, _, at)| k == "tunnel_refused" && *at >= began_refusals),
        "ナースコールサーバーへの試行が監査記録にありません",
        "the attempts on the nurse-call server are not in the audit log",
    );
    Ok(())
}

/// A six-digit code that is none of the three the server accepts now.
fn wrong_code(real: &str) -> String {
    let n: u32 = real.parse().unwrap_or(0);
    format!("{:06}", (n + 500_000) % 1_000_000)
}

fn stage_lateral(lab: &Lab) -> Stage {
    let mut s = StageLog::new(
        3,
        lab.lang,
        lab.quiet,
        "別経路での横展開（ナースコールサーバーから病棟 PC への SMB）",
        "lateral movement by another path (SMB fan-out from the nurse-call server)",
    );
    let targets: Vec<String> = net::WARD_PCS.map(net::ward_pc).collect();
    let mut args = vec!["fanout"];
    for t in &targets {
        args.extend(["--to", t.as_str()]);
    }
    s.now(
        "attacker",
        if lab.lang == Lang::Ja {
            format!("{} から病棟 PC {} 台へ SMB 接続", net::NURSE_CALL, targets.len())
        } else {
            format!("{} opens SMB to {} ward PCs", net::NURSE_CALL, targets.len())
        },
    );
    match lab.play(net::NURSE, &args) {
        Ok(v) => s.now("attacker", format!("SMB2 NEGOTIATE {}/{}", v["negotiated"], v["targets"])),
        Err(e) => s.check(false, &format!("{e:#}"), &format!("{e:#}")),
    }
    let alert = lab.wait_alert(AlertKind::LateralMovement, s.began, Duration::from_secs(10), |a| {
        a.evidence.assets.iter().any(|x| x.ip.to_string() == net::NURSE_CALL)
    });
    judge_alert(lab, &mut s, alert.as_ref(), ALERT_DEADLINE);
    other_alerts(lab, &mut s, &alert.iter().map(|a| a.id).collect::<Vec<_>>());
    s.finish()
}

/// Logs the alert (or its absence), whether it came in time, and when the
/// SIEM had it.
fn judge_alert(lab: &Lab, s: &mut StageLog, alert: Option<&Alert>, deadline: f64) {
    match alert {
        Some(a) => {
            s.at(a.created_at, "sekimori", alert_line(lab.lang, a));
            let after = s.secs_since(a.created_at);
            s.check(
                after <= deadline,
                &format!("警告が遅れました（{after:.1} 秒、期限 {deadline:.0} 秒）"),
                &format!("the alert came late ({after:.1} s; deadline {deadline:.0} s)"),
            );
            judge_forwarded(lab, s, a);
        }
        None => s.check(false, "警告がありません", "no alert"),
    }
}

/// The alert reached the SIEM (syslog over TCP) within five seconds.
fn judge_forwarded(lab: &Lab, s: &mut StageLog, a: &Alert) {
    match lab.forwarded(a.id, Duration::from_secs(5)) {
        Some(t) => s.at(
            t,
            "sekimori",
            match lab.lang {
                Lang::Ja => format!("SIEM（{}）へ syslog で転送: {}", net::SIEM, a.kind.as_str()),
                Lang::En => format!(
                    "forwarded to the SIEM ({}) over syslog: {}",
                    net::SIEM,
                    a.kind.as_str()
                ),
            },
        ),
        None => s.check(false, "警告が SIEM に届きません", "the alert did not reach the SIEM"),
    }
}

fn stage_exfiltration(lab: &Lab) -> Stage {
    let mut s = StageLog::new(
        4,
        lab.lang,
        lab.quiet,
        "ナースコールサーバーからインターネットへの持ち出し",
        "exfiltration from the nurse-call server to the internet",
    );
    let to = format!("{}:443", net::INTERNET);
    s.now(
        "attacker",
        if lab.lang == Lang::Ja {
            format!("{} から {to} へ {} MB を送信", net::NURSE_CALL, EXFIL_BYTES / 1_000_000)
        } else {
            format!("{} sends {} MB to {to}", net::NURSE_CALL, EXFIL_BYTES / 1_000_000)
        },
    );
    match lab.play(net::NURSE, &["exfil", "--to", &to, "--bytes", &EXFIL_BYTES.to_string()]) {
        Ok(v) => s.now(
            "attacker",
            if lab.lang == Lang::Ja {
                format!("送信完了（{:.2} 秒）", v["seconds"].as_f64().unwrap_or(0.0))
            } else {
                format!("sent in {:.2} s", v["seconds"].as_f64().unwrap_or(0.0))
            },
        ),
        Err(e) => s.check(false, &format!("{e:#}"), &format!("{e:#}")),
    }
    let alert = lab.wait_alert(AlertKind::Exfiltration, s.began, Duration::from_secs(15), |a| {
        a.evidence.assets.iter().any(|x| x.ip.to_string() == net::NURSE_CALL)
    });
    judge_alert(lab, &mut s, alert.as_ref(), ALERT_DEADLINE);
    if let Some(a) = &alert {
        let text = serde_json::to_string(&a.evidence).unwrap_or_default();
        s.check(
            text.contains(net::INTERNET),
            "警告に送信先がありません",
            "the alert does not name the destination",
        );
        s.check(
            a.evidence.bytes.is_some_and(|b| b > 0),
            "警告にバイト数がありません",
            "the alert has no byte count",
        );
    }
    other_alerts(lab, &mut s, &alert.iter().map(|a| a.id).collect::<Vec<_>>());
    s.finish()
}

fn stage_silence(lab: &Lab, heartbeat: Proc) -> Stage {
    let mut s = StageLog::new(
        5,
        lab.lang,
        lab.quiet,
        "ナースコールサーバーの停止（通信の途絶）",
        "the nurse-call server goes silent",
    );
    let sent = heartbeat.finish(Duration::from_secs(5));
    s.now(
        "lab",
        if lab.lang == Lang::Ja {
            format!(
                "ナースコールサーバーが HL7 の送信を停止（それまで {} 件）",
                sent.as_ref().map_or(Value::Null, |v| v["messages"].clone())
            )
        } else {
            format!(
                "the nurse-call server stops sending HL7 (after {} messages)",
                sent.as_ref().map_or(Value::Null, |v| v["messages"].clone())
            )
        },
    );
    let alert = lab.wait_alert(
        AlertKind::Silence,
        s.began,
        Duration::from_secs_f64(SILENCE_WINDOW + 10.0),
        |_| true,
    );
    // Within the window, counted from the last message (at most one
    // message interval before the stop) plus one detection tick.
    judge_alert(lab, &mut s, alert.as_ref(), SILENCE_WINDOW + 2.0);
    other_alerts(lab, &mut s, &alert.iter().map(|a| a.id).collect::<Vec<_>>());
    s.finish()
}

fn stage_vpn(lab: &Lab) -> Stage {
    let mut s = StageLog::new(
        6,
        lab.lang,
        lab.quiet,
        "未登録の VPN 装置がインターネットと IKE・OpenVPN で通信",
        "an unregistered VPN box talking IKE and OpenVPN to the internet",
    );
    s.now(
        "attacker",
        if lab.lang == Lang::Ja {
            format!("{} から {} へ IKEv2（Fortinet）と OpenVPN", net::VPN_BOX, net::INTERNET)
        } else {
            format!("{} speaks IKEv2 (Fortinet) and OpenVPN to {}", net::VPN_BOX, net::INTERNET)
        },
    );
    match lab.play(net::VPN_BOX_NS, &["vpn", "--to", net::INTERNET]) {
        Ok(v) => s.now(
            "attacker",
            format!("IKE {}/3, OpenVPN {}/3", v["ike_answers"], v["openvpn_answers"]),
        ),
        Err(e) => s.check(false, &format!("{e:#}"), &format!("{e:#}")),
    }
    let alert =
        lab.wait_alert(AlertKind::UnmanagedRemoteAccess, s.began, Duration::from_secs(10), |a| {
            a.evidence.assets.iter().any(|x| x.ip.to_string() == net::VPN_BOX)
        });
    judge_alert(lab, &mut s, alert.as_ref(), ALERT_DEADLINE);
    other_alerts(lab, &mut s, &alert.iter().map(|a| a.id).collect::<Vec<_>>());
    s.finish()
}

/// The capture, replayed offline with the same policy.
fn stage_replay(lab: &Lab, capture: &Path, captured: Option<Value>) -> Stage {
    let mut s = StageLog::new(
        7,
        lab.lang,
        lab.quiet,
        "記録したキャプチャを sekimori analyze で再生",
        "the capture of the run, replayed with sekimori analyze",
    );
    let packets = captured.as_ref().map_or(Value::Null, |v| v["packets"].clone());
    s.now(
        "lab",
        format!(
            "{}: {} ({packets} {})",
            lab.lang.pick("キャプチャ", "capture"),
            capture.display(),
            lab.lang.pick("パケット", "packets")
        ),
    );
    let out = Command::new(&lab.exe)
        .arg("analyze")
        .arg(capture)
        .arg("--policy")
        .arg(&lab.policy)
        .args(["--format", "json"])
        .env("SEKIMORI_LANG", "en")
        .stdin(Stdio::null())
        .output();
    let v: Value = match out {
        Ok(o) => serde_json::from_slice(&o.stdout).unwrap_or(Value::Null),
        Err(e) => {
            s.check(false, &format!("{e}"), &format!("{e}"));
            return s.finish();
        }
    };
    let mut kinds: Vec<String> = v["alerts"]
        .as_array()
        .map(|a| a.iter().filter_map(|x| x["kind"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    kinds.sort();
    kinds.dedup();
    s.now(
        "sekimori",
        format!(
            "{} {}: {}",
            v["alerts"].as_array().map_or(0, Vec::len),
            lab.lang.pick("件の警告", "alerts"),
            kinds.join(", ")
        ),
    );
    for k in ["exfiltration", "lateral_movement", "unmanaged_remote_access"] {
        s.check(
            kinds.iter().any(|x| x == k),
            &format!("再生で {k} がありません"),
            &format!("the replay has no {k}"),
        );
    }
    s.finish()
}
