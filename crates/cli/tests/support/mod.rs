//! Runs the real `sekimori` binary for end-to-end tests: a fresh data
//! directory, a free loopback port, the printed banner parsed, and an HTTPS
//! client that trusts exactly the server's generated certificate.
#![allow(dead_code, clippy::unwrap_used, clippy::print_stderr)]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub const BIN: &str = env!("CARGO_BIN_EXE_sekimori");

/// A strong password that passes the policy, for tests.
pub const ADMIN_PASSWORD: &str = "correct-Horse-battery-staple-17";

/// Which store a test runs on.
#[derive(Debug, Clone)]
pub enum Backend {
    Sqlite,
    Postgres(String),
}

impl Backend {
    /// SQLite always; PostgreSQL when `SEKIMORI_TEST_POSTGRES_URL` is set
    /// (a fresh database per call). Under `CI`, a missing PostgreSQL fails.
    pub async fn all() -> Vec<Backend> {
        let mut v = vec![Backend::Sqlite];
        match std::env::var("SEKIMORI_TEST_POSTGRES_URL") {
            Ok(base) if !base.is_empty() => v.push(Backend::Postgres(
                sekimori_test_support::fresh_postgres_database(&base).await.unwrap(),
            )),
            _ => {
                assert!(std::env::var_os("CI").is_none(), "CI must set SEKIMORI_TEST_POSTGRES_URL");
                eprintln!("note: SEKIMORI_TEST_POSTGRES_URL unset; PostgreSQL half skipped");
            }
        }
        v
    }

    pub fn name(&self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }
}

/// Test-speed settings: Argon2id parameters far below production (flagged
/// as such) and a throttle that tests can reach quickly.
pub const FAST_CONFIG: &str = r#"
[authn.password]
m_cost_kib = 64
t_cost = 1
p_cost = 1
insecure_test_only_weak_params = true

[authn.throttle]
account_free_failures = 5
account_lock_after = 6
base_delay_secs = 1
max_delay_secs = 1
source_free_failures = 1000
source_block_after = 1001
"#;

pub struct Server {
    child: Option<Child>,
    pub data_dir: PathBuf,
    pub backend: Backend,
    pub addr: String,
    pub base: String,
    pub setup_code: Option<String>,
    pub fingerprint: String,
    logs: Arc<Mutex<String>>,
    stdout: Arc<Mutex<String>>,
}

impl Server {
    /// Writes `config` into a new data directory under `root` and starts.
    pub fn start_new(root: &Path, backend: Backend, config: &str) -> Server {
        let data_dir = root.join("data");
        std::fs::create_dir_all(&data_dir).unwrap();
        std::fs::write(data_dir.join("config.toml"), config).unwrap();
        Server::start(&data_dir, backend, &[])
    }

    /// Starts `sekimori serve` on an existing data directory.
    pub fn start(data_dir: &Path, backend: Backend, env: &[(&str, &str)]) -> Server {
        let mut cmd = Command::new(BIN);
        cmd.arg("--data-dir").arg(data_dir).args(["serve", "--listen", "127.0.0.1:0"]);
        cmd.env_remove("SEKIMORI_DATABASE_URL").env("SEKIMORI_LANG", "en");
        if let Backend::Postgres(url) = &backend {
            cmd.env("SEKIMORI_DATABASE_URL", url);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).stdin(Stdio::null());
        let mut child = cmd.spawn().unwrap();
        let logs = Arc::new(Mutex::new(String::new()));
        let mut err = child.stderr.take().unwrap();
        let l2 = logs.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                l2.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let out = child.stdout.take().unwrap();
        let stdout = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let s2 = stdout.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { break };
                s2.lock().unwrap().push_str(&line);
                s2.lock().unwrap().push('\n');
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        let (mut addr, mut code, mut fp) = (None, None, None);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match rx.recv_timeout(left) {
                Ok(l) => l,
                Err(_) => panic!("server did not become ready; stderr:\n{}", logs.lock().unwrap()),
            };
            let t = line.trim();
            if let Some(v) = t.strip_prefix("listening on: ") {
                addr = Some(v.to_owned());
            } else if let Some(v) = t.strip_prefix("one-time set-up code: ") {
                code = Some(v.to_owned());
            } else if let Some(v) = t.strip_prefix("certificate fingerprint: ") {
                fp = Some(v.to_owned());
            } else if t == "ready" {
                break;
            }
        }
        let addr = addr.unwrap();
        Server {
            child: Some(child),
            data_dir: data_dir.to_owned(),
            backend,
            base: format!("https://{}", addr.replace("127.0.0.1", "localhost")),
            addr,
            setup_code: code,
            fingerprint: fp.unwrap(),
            logs,
            stdout,
        }
    }

    pub fn cert_pem(&self) -> Vec<u8> {
        std::fs::read(self.data_dir.join("tls/cert.pem")).unwrap()
    }

    /// An HTTPS client that trusts only this server's certificate.
    pub fn client(&self) -> reqwest::Client {
        let cert = reqwest::Certificate::from_pem(&self.cert_pem()).unwrap();
        reqwest::Client::builder()
            .tls_certs_only([cert])
            .resolve("localhost", self.addr.parse().unwrap())
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Everything the server wrote to stderr so far.
    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().clone()
    }

    pub fn stdout(&self) -> String {
        self.stdout.lock().unwrap().clone()
    }

    /// SIGKILL: no chance to flush anything.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait for a clean exit.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill").args(["-TERM", &c.id().to_string()]).status();
            let deadline = Instant::now() + Duration::from_secs(30);
            #[allow(
                clippy::disallowed_methods,
                reason = "polling a child process we do not control"
            )]
            while Instant::now() < deadline {
                if let Ok(Some(_)) = c.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Runs a `sekimori` CLI command on this server's data directory and store.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        cli(&self.data_dir, &self.backend, args, None)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("--- server stderr ---\n{}\n--- end ---", self.logs());
        }
        self.kill();
    }
}

/// Runs the CLI against a data directory and backend, with optional stdin.
pub fn cli(
    data_dir: &Path,
    backend: &Backend,
    args: &[&str],
    stdin: Option<&str>,
) -> std::process::Output {
    let mut cmd = Command::new(BIN);
    cmd.arg("--data-dir").arg(data_dir).args(args);
    cmd.env_remove("SEKIMORI_DATABASE_URL").env("SEKIMORI_LANG", "en");
    if let Backend::Postgres(url) = backend {
        cmd.env("SEKIMORI_DATABASE_URL", url);
    }
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    if stdin.is_some() {
        cmd.stdin(Stdio::piped());
    } else {
        cmd.stdin(Stdio::null());
    }
    let mut child = cmd.spawn().unwrap();
    if let Some(s) = stdin {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
    }
    child.wait_with_output().unwrap()
}

/// The current TOTP code for a base32 secret, `offset` steps from now: an
/// authenticator app written independently of the server's code (RFC 4226
/// dynamic truncation over HMAC-SHA-1).
pub fn totp_code(secret_b32: &str, offset: i64) -> String {
    use aws_lc_rs::hmac;
    let secret = sekimori_authn::totp::TotpSecret::from_base32(secret_b32).unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
        as i64;
    let counter = (now / 30 + offset) as u64;
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret.as_bytes());
    let mac = hmac::sign(&key, &counter.to_be_bytes());
    let d = mac.as_ref();
    let o = (d[19] & 0x0f) as usize;
    let bin = (u32::from(d[o]) & 0x7f) << 24
        | u32::from(d[o + 1]) << 16
        | u32::from(d[o + 2]) << 8
        | u32::from(d[o + 3]);
    format!("{:06}", bin % 1_000_000)
}

/// Waits (on the wall clock: this is a real TOTP app's clock) until at least
/// `margin` seconds remain in the current 30-second step, so a test's codes
/// do not straddle a step boundary.
pub fn settle_totp_step(margin: u64) {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let left = 30 - now % 30;
    if left < margin {
        #[allow(
            clippy::disallowed_methods,
            reason = "a real authenticator app follows the wall clock"
        )]
        std::thread::sleep(Duration::from_secs(left + 1));
    }
}

/// A logged-in user: the session token and the TOTP secret.
#[derive(Debug, Clone)]
pub struct LoggedIn {
    pub token: String,
    pub totp_secret: String,
    pub recovery_codes: Vec<String>,
    pub body: Value,
}

pub async fn post(
    c: &reqwest::Client,
    url: &str,
    body: Value,
    token: Option<&str>,
) -> (u16, Value) {
    let mut rb = c.post(url).json(&body);
    if let Some(t) = token {
        rb = rb.bearer_auth(t);
    }
    let r = rb.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// Like [`post`], but waits out `429 too_many_attempts` as a well-behaved
/// client would (honouring `retry_after`, at most a few times).
pub async fn post_patiently(c: &reqwest::Client, url: &str, body: Value) -> (u16, Value) {
    for _ in 0..5 {
        let (st, v) = post(c, url, body.clone(), None).await;
        if st != 429 {
            return (st, v);
        }
        let secs = v["retry_after"].as_u64().unwrap_or(1);
        tokio::time::sleep(Duration::from_secs(secs)).await;
    }
    panic!("still throttled after five waits: {url}");
}

pub async fn get(c: &reqwest::Client, url: &str, token: Option<&str>) -> (u16, Value) {
    let mut rb = c.get(url);
    if let Some(t) = token {
        rb = rb.bearer_auth(t);
    }
    let r = rb.send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// Creates the first admin with the set-up code and logs in, enrolling TOTP.
pub async fn setup_admin(s: &Server, c: &reqwest::Client) -> LoggedIn {
    let code = s.setup_code.clone().expect("a set-up code on first start");
    let (st, body) = post(
        c,
        &s.url("/api/v1/setup"),
        json!({"setup_code": code, "username": "admin", "display_name": "IT Admin", "password": ADMIN_PASSWORD}),
        None,
    )
    .await;
    assert_eq!(st, 201, "{body}");
    first_login(s, c, "admin", ADMIN_PASSWORD).await
}

/// Password → enrolment → session, for an account without TOTP yet.
pub async fn first_login(s: &Server, c: &reqwest::Client, user: &str, password: &str) -> LoggedIn {
    let (st, body) =
        post(c, &s.url("/api/v1/login"), json!({"username": user, "password": password}), None)
            .await;
    assert_eq!(st, 200, "{body}");
    assert_eq!(body["status"], "mfa_enrolment_required", "{body}");
    let secret = body["secret"].as_str().unwrap().to_owned();
    assert!(body["otpauth_uri"].as_str().unwrap().starts_with("otpauth://totp/"));
    settle_totp_step(5);
    let (st, body2) = post(
        c,
        &s.url("/api/v1/login/enrol"),
        json!({"challenge": body["challenge"], "code": totp_code(&secret, 0)}),
        None,
    )
    .await;
    assert_eq!(st, 200, "{body2}");
    LoggedIn {
        token: body2["token"].as_str().unwrap().to_owned(),
        totp_secret: secret,
        recovery_codes: body2["recovery_codes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect(),
        body: body2,
    }
}
