//! The access broker end to end, as a vendor and a hospital run it: real
//! `sekimori serve`, `sekimori login/request/connect/session`, a real OpenSSH
//! server as the "medical device", real `ssh`, real `curl` against a real
//! HTTP server, and `tshark` reading the exported recording. Loopback only.
//!
//! The targets count the connections they accept, so every refusal is also
//! checked to have reached nothing.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::*;

/// A TCP server on loopback that counts the connections it accepts.
struct Target {
    port: u16,
    accepted: Arc<AtomicUsize>,
}

#[derive(Clone, Copy)]
enum Behaviour {
    /// Echoes everything back.
    Echo,
    /// Sends bytes as fast as it can, forever.
    Bulk,
}

fn target(behaviour: Behaviour) -> Target {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let a = accepted.clone();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            a.fetch_add(1, Ordering::SeqCst);
            std::thread::spawn(move || match behaviour {
                Behaviour::Echo => {
                    let mut buf = [0u8; 65536];
                    while let Ok(n) = s.read(&mut buf) {
                        if n == 0 || s.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                }
                Behaviour::Bulk => {
                    let buf = vec![0x5au8; 256 * 1024];
                    while s.write_all(&buf).is_ok() {}
                }
            });
        }
    });
    Target { port, accepted }
}

/// A child process killed when dropped.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        #[allow(clippy::disallowed_methods, reason = "polling a child process's port")]
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn whoami() -> String {
    let out = Command::new("id").arg("-un").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A real OpenSSH server on a loopback port, accepting one client key.
fn sshd(dir: &Path) -> (Proc, u16, PathBuf) {
    let sshd = ["/usr/sbin/sshd", "/usr/bin/sshd"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("sshd is installed (apt-get install openssh-server; .ci/run does)");
    std::fs::create_dir_all("/run/sshd").ok();
    let host_key = dir.join("host_ed25519");
    let client_key = dir.join("client_ed25519");
    for k in [&host_key, &client_key] {
        let st = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(k)
            .status()
            .unwrap();
        assert!(st.success());
    }
    let auth = dir.join("authorized_keys");
    std::fs::copy(client_key.with_extension("pub"), &auth).unwrap();
    let port = free_port();
    let cfg = dir.join("sshd_config");
    std::fs::write(
        &cfg,
        format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nAuthorizedKeysFile {}\n\
             PidFile {}\nStrictModes no\nUsePAM no\nPasswordAuthentication no\n\
             KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n\
             PubkeyAuthentication yes\nLogLevel ERROR\n",
            host_key.display(),
            auth.display(),
            dir.join("sshd.pid").display()
        ),
    )
    .unwrap();
    let child = Command::new(sshd)
        .args(["-D", "-e", "-f"])
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for_port(port);
    (Proc(child), port, client_key)
}

/// A real HTTP server (Python's) serving one page.
fn http_server(dir: &Path) -> (Proc, u16) {
    let root = dir.join("www");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("index.html"), "<h1>infusion pump 7 status page</h1>\n").unwrap();
    let port = free_port();
    let child = Command::new("python3")
        .args(["-m", "http.server", "--bind", "127.0.0.1", &port.to_string(), "--directory"])
        .arg(&root)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 for the HTTP target");
    wait_for_port(port);
    (Proc(child), port)
}

/// A running `sekimori connect`: the process, its local address, its stderr.
type Connected = (Proc, String, Arc<std::sync::Mutex<String>>);

/// The `sekimori` CLI as one client machine (its own config directory).
struct Client {
    dir: PathBuf,
}

impl Client {
    fn new(root: &Path, name: &str) -> Client {
        Client { dir: root.join(format!("client-{name}")) }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args)
            .env("SEKIMORI_CLIENT_DIR", &self.dir)
            .env("SEKIMORI_LANG", "en")
            .env_remove("SEKIMORI_PASSWORD")
            .stdin(Stdio::null());
        cmd
    }

    /// Runs to completion: (exit code, stdout as JSON or Null, all output).
    fn run(&self, args: &[&str]) -> (i32, Value, String) {
        let out = self.command(args).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        let v = serde_json::from_str(&stdout).unwrap_or(Value::Null);
        (
            out.status.code().unwrap_or(-1),
            v,
            format!("{stdout}{}", String::from_utf8_lossy(&out.stderr)),
        )
    }

    fn login(&self, s: &Server, user: &str, password: &str, code: &str) -> (i32, Value, String) {
        let pw = self.dir.with_extension("password");
        std::fs::write(&pw, password).unwrap();
        self.run(&[
            "login",
            "--server",
            &s.addr,
            "--user",
            user,
            "--password-file",
            pw.to_str().unwrap(),
            "--totp-code",
            code,
            "--server-fingerprint",
            &s.fingerprint,
            "--json",
        ])
    }

    /// Starts `sekimori connect`; returns it and its local address once it
    /// listens, or the exit code and output if it stopped instead.
    fn connect(&self, request: &str, port: u16) -> Result<Connected, (i32, String)> {
        let mut child = self
            .command(&["connect", request, "--port", &port.to_string(), "--json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = Arc::new(std::sync::Mutex::new(String::new()));
        let mut err = child.stderr.take().unwrap();
        let e2 = stderr.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = err.read(&mut buf) {
                if n == 0 {
                    break;
                }
                e2.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        if line.trim().is_empty() {
            let code = child.wait().unwrap().code().unwrap_or(-1);
            // Let the reader thread collect the message.
            let deadline = Instant::now() + Duration::from_secs(5);
            while stderr.lock().unwrap().is_empty() && Instant::now() < deadline {
                std::thread::yield_now();
            }
            return Err((code, stderr.lock().unwrap().clone()));
        }
        let v: Value = serde_json::from_str(&line).unwrap();
        Ok((Proc(child), v["listen"].as_str().unwrap().to_owned(), stderr))
    }
}

async fn post_empty(c: &reqwest::Client, url: &str, token: &str) -> (u16, Value) {
    let r = c.post(url).bearer_auth(token).send().await.unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

fn add_user(s: &Server, name: &str, role: &str, org: (&str, &str)) {
    let out = cli(
        &s.data_dir,
        &s.backend,
        &["user", "add", "--username", name, "--role", role, org.0, org.1, "--password-stdin"],
        Some(&format!("{PASSWORD}\n")),
    );
    assert!(
        out.status.success() || String::from_utf8_lossy(&out.stderr).contains("exists"),
        "{out:?}"
    );
}

const PASSWORD: &str = "Sakura-saku-2026-kikai-hoshu";

/// Reads from `s` until it closes; returns the bytes read.
fn drain(mut s: TcpStream) -> u64 {
    let mut buf = vec![0u8; 256 * 1024];
    let mut total = 0u64;
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return total,
            Ok(n) => total += n as u64,
        }
    }
}

fn audit_kinds(v: &Value) -> Vec<(String, Value)> {
    v["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["event"]["type"].as_str().unwrap_or("").to_owned(), r["event"].clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vendor_reaches_one_device_through_an_approved_recorded_tunnel() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let s = Server::start_new(root, Backend::Sqlite, FAST_CONFIG);
    let c = s.client();
    let admin = setup_admin(&s, &c).await;

    // The "devices".
    let (_sshd, ssh_port, ssh_key) = sshd(root);
    let (_http, http_port) = http_server(root);
    let echo = target(Behaviour::Echo);
    let bulk = target(Behaviour::Bulk);
    let unregistered = target(Behaviour::Echo);

    add_user(&s, "vendor1", "vendor", ("--company", "Acme Medical"));
    add_user(&s, "vendor2", "vendor", ("--company", "Acme Medical"));
    add_user(&s, "ce1", "approver", ("--department", "Clinical Engineering"));
    let ports: Vec<String> =
        [(ssh_port, "ssh"), (http_port, "http"), (echo.port, "echo"), (bulk.port, "bulk")]
            .iter()
            .map(|(p, n)| format!("{p}/{n}"))
            .collect();
    let mut args = vec![
        "asset",
        "add",
        "--name",
        "nurse-call-1",
        "--address",
        "127.0.0.1",
        "--owner-department",
        "Clinical Engineering",
        "--vendor-company",
        "Acme Medical",
        "--max-session-minutes",
        "120",
        "--json",
    ];
    for p in &ports {
        args.push("--port");
        args.push(p);
    }
    let out = s.cli(&args);
    assert!(out.status.success(), "{out:?}");

    let v1 = first_login(&s, &c, "vendor1", PASSWORD).await;
    let v2 = first_login(&s, &c, "vendor2", PASSWORD).await;
    let ce = first_login(&s, &c, "ce1", PASSWORD).await;

    // A wrong pinned fingerprint stops before anything is sent.
    let mallory = Client::new(root, "mallory");
    let bad_fp = format!("SHA256:{}", vec!["00"; 32].join(":"));
    let (code, _, out) = mallory.run(&[
        "login",
        "--server",
        &s.addr,
        "--user",
        "vendor1",
        "--totp-code",
        "000000",
        "--server-fingerprint",
        &bad_fp,
    ]);
    assert_ne!(code, 0);
    assert!(out.contains("does not match the pinned one"), "{out}");

    // The vendor logs in from their machine: key generated there, 0600.
    let vendor = Client::new(root, "vendor1");
    let (code, v, out) = vendor.login(&s, "vendor1", PASSWORD, &totp_code(&v1.totp_secret, 1));
    assert_eq!(code, 0, "{out}");
    assert!(v["expires_at"].is_string(), "{v}");
    {
        use std::os::unix::fs::PermissionsExt;
        for f in ["client.key", "profile.json", "known_servers.json"] {
            let mode = std::fs::metadata(vendor.dir.join(f)).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{f}");
        }
    }

    // The request: ports named, not addresses.
    let (code, v, out) = vendor.run(&[
        "request",
        "create",
        "--asset",
        "nurse-call-1",
        "--port",
        &ssh_port.to_string(),
        "--port",
        &http_port.to_string(),
        "--port",
        &echo.port.to_string(),
        "--port",
        &bulk.port.to_string(),
        "--reason",
        "INC-4711 nurse-call firmware update",
        "--duration",
        "60m",
        "--json",
    ]);
    assert_eq!(code, 0, "{out}");
    let req = v["id"].as_str().unwrap().to_owned();
    assert_eq!(v["status"], "pending");

    // Default deny: nothing before approval.
    let err = vendor.connect(&req, echo.port).map(|_| ()).unwrap_err();
    assert_ne!(err.0, 0);
    assert!(err.1.contains("not been approved"), "{}", err.1);
    // A port the grant does not have never leaves the client.
    let err = vendor.connect(&req, unregistered.port).map(|_| ()).unwrap_err();
    assert!(
        err.1.contains("not been approved") || err.1.contains("not in this grant"),
        "{}",
        err.1
    );

    // A vendor cannot approve anything, their own request least of all.
    let (code, _, out) = vendor.run(&["request", "approve", &req, "--totp-code", "000000"]);
    assert_eq!(code, 1, "{out}");
    // The approver of the owning department approves (fresh MFA from login).
    let (st, v) =
        post_empty(&c, &s.url(&format!("/api/v1/requests/{req}/approve")), &ce.token).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["request"]["status"], "active", "{v}");

    // Real OpenSSH through the tunnel.
    let (_ssh_tunnel, ssh_local, _) = vendor.connect(&req, ssh_port).unwrap();
    let local_port = ssh_local.rsplit_once(':').unwrap().1.to_owned();
    let out = Command::new("ssh")
        .args(["-p", &local_port, "-i"])
        .arg(&ssh_key)
        .args([
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=20",
        ])
        .arg(format!("{}@127.0.0.1", whoami()))
        .arg("echo tunnel-ok-$((6*7))")
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("tunnel-ok-42"),
        "ssh: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Real curl through a tunnel to a real HTTP server.
    let (_web_tunnel, web_local, _) = vendor.connect(&req, http_port).unwrap();
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "20"])
        .arg(format!("http://{web_local}/"))
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("infusion pump 7 status page"),
        "{out:?}"
    );

    // Someone else's grant answers as if it did not exist; so does a made-up one.
    let other = Client::new(root, "vendor2");
    let (code, _, out) = other.login(&s, "vendor2", PASSWORD, &totp_code(&v2.totp_secret, 1));
    assert_eq!(code, 0, "{out}");
    let before = echo.accepted.load(Ordering::SeqCst);
    let err = other.connect(&req, echo.port).map(|_| ()).unwrap_err();
    assert!(err.1.contains("no access request with this ID"), "{}", err.1);
    let err =
        vendor.connect("0190a5e2-0000-7000-8000-000000000000", echo.port).map(|_| ()).unwrap_err();
    assert!(err.1.contains("no access request with this ID"), "{}", err.1);

    // A denied request.
    let (_, v, _) = vendor.run(&[
        "request",
        "create",
        "--asset",
        "nurse-call-1",
        "--port",
        &echo.port.to_string(),
        "--reason",
        "second try",
        "--duration",
        "30",
        "--json",
    ]);
    let denied = v["id"].as_str().unwrap().to_owned();
    let (st, _) =
        post_empty(&c, &s.url(&format!("/api/v1/requests/{denied}/deny")), &ce.token).await;
    assert_eq!(st, 200);
    let err = vendor.connect(&denied, echo.port).map(|_| ()).unwrap_err();
    assert!(err.1.contains("was denied"), "{}", err.1);
    assert_eq!(echo.accepted.load(Ordering::SeqCst), before, "refusals reached the device");

    // Live sessions: listed with live byte counts, and killed at once.
    let (_echo_tunnel, echo_local, _) = vendor.connect(&req, echo.port).unwrap();
    let mut sock = TcpStream::connect(&echo_local).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    sock.write_all(b"ping through the gateway").unwrap();
    let mut got = [0u8; 24];
    sock.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"ping through the gateway");
    assert_eq!(echo.accepted.load(Ordering::SeqCst), before + 1);
    let staff = Client::new(root, "admin");
    let (code, _, out) =
        staff.login(&s, "admin", ADMIN_PASSWORD, &totp_code(&admin.totp_secret, 1));
    assert_eq!(code, 0, "{out}");
    let (code, v, out) = staff.run(&["session", "list", "--live", "--json"]);
    assert_eq!(code, 0, "{out}");
    let live = v
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["port"] == echo.port)
        .expect("echo session live")
        .clone();
    assert_eq!(live["username"], "vendor1");
    assert_eq!(live["company"], "Acme Medical");
    assert_eq!(live["bytes_up"], 24);
    let t0 = Instant::now();
    let (code, _, out) = staff.run(&["session", "kill", live["id"].as_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(drain(sock), 0, "the killed connection closes");
    assert!(t0.elapsed() < Duration::from_secs(3), "kill took {:?}", t0.elapsed());

    // Revocation under load: a bulk transfer is cut within a second.
    let (_bulk_tunnel, bulk_local, _) = vendor.connect(&req, bulk.port).unwrap();
    let mut sock = TcpStream::connect(&bulk_local).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = vec![0u8; 1 << 20];
    let mut seen = 0usize;
    while seen < 64 << 20 {
        let n = sock.read(&mut buf).unwrap();
        assert!(n > 0);
        seen += n;
    }
    let (revoked_at, reader) = {
        let reader = std::thread::spawn(move || {
            let more = drain(sock);
            (Instant::now(), more)
        });
        let (st, v) =
            post_empty(&c, &s.url(&format!("/api/v1/requests/{req}/revoke")), &ce.token).await;
        assert_eq!(st, 200, "{v}");
        (Instant::now(), reader)
    };
    let (closed_at, _) = reader.join().unwrap();
    let cut = closed_at.saturating_duration_since(revoked_at);
    assert!(cut < Duration::from_secs(1), "bulk transfer still ran {cut:?} after revoke");

    // The SSH session's recording, exported as pcap and read by tshark.
    // The records of cut connections are written just after the cut:
    // wait (bounded) until no session of this test is live any more.
    let deadline = Instant::now() + Duration::from_secs(15);
    let sessions = loop {
        let (_, v, _) = staff.run(&["session", "list", "--json"]);
        let sessions = v.as_array().unwrap().clone();
        let open = sessions.iter().any(|x| x["ended_at"].is_null());
        if !open {
            break sessions;
        }
        assert!(Instant::now() < deadline, "sessions still open: {sessions:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let ssh_session =
        sessions.iter().find(|x| x["port"] == ssh_port).expect("ssh session recorded");
    assert_eq!(ssh_session["close_reason"], "client", "{ssh_session}");
    assert!(ssh_session["bytes_up"].as_u64().unwrap() > 0);
    let bulk_session = sessions.iter().find(|x| x["port"] == bulk.port).unwrap();
    assert_eq!(bulk_session["close_reason"], "revoked", "{bulk_session}");
    let killed = sessions.iter().find(|x| x["port"] == echo.port).unwrap();
    assert_eq!(killed["close_reason"], "killed", "{killed}");
    let sha = ssh_session["recording"]["sha256"].as_str().expect("recording hash").to_owned();
    let pcap = root.join("ssh.pcap");
    let (code, _, out) = staff.run(&[
        "session",
        "export",
        ssh_session["id"].as_str().unwrap(),
        "--pcap",
        pcap.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}");
    let out = Command::new("tshark")
        .arg("-r")
        .arg(&pcap)
        .args(["-q", "-z", "follow,tcp,ascii,0"])
        .output()
        .expect("tshark is installed (.ci/run installs it)");
    let follow = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(follow.contains("SSH-2.0-OpenSSH"), "{follow}");

    // The audit chain holds every step, with the recording's hash.
    let (st, v) = get(&c, &s.url("/api/v1/audit?limit=1000"), Some(&admin.token)).await;
    assert_eq!(st, 200);
    let events = audit_kinds(&v);
    let has = |kind: &str, pred: &dyn Fn(&Value) -> bool| {
        events.iter().any(|(k, e)| k == kind && pred(e))
    };
    for reason in ["grant_pending", "no_grant", "grant_denied"] {
        assert!(has("tunnel_refused", &|e| e["reason"] == reason), "no refusal {reason} audited");
    }
    assert!(has("access_requested", &|_| true));
    assert!(has("access_approved", &|e| e["request"] == req.as_str()));
    assert!(has("access_denied", &|e| e["request"] == denied.as_str()));
    assert!(has("access_revoked", &|e| e["request"] == req.as_str()));
    assert!(has("tunnel_killed", &|_| true));
    assert!(has("tunnel_closed", &|e| e["recording_sha256"] == sha.as_str()));
    assert!(has("tunnel_credential_issued", &|_| true));
    let out = s.cli(&["audit", "verify"]);
    assert!(out.status.success(), "{out:?}");

    // A locked user's live connection closes, and nothing new opens.
    let (_, v, _) = vendor.run(&[
        "request",
        "create",
        "--asset",
        "nurse-call-1",
        "--port",
        &echo.port.to_string(),
        "--reason",
        "third",
        "--duration",
        "30",
        "--json",
    ]);
    let third = v["id"].as_str().unwrap().to_owned();
    let (st, _) =
        post_empty(&c, &s.url(&format!("/api/v1/requests/{third}/approve")), &ce.token).await;
    assert_eq!(st, 200);
    let (_t, local, _) = vendor.connect(&third, echo.port).unwrap();
    let mut sock = TcpStream::connect(&local).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    sock.write_all(b"x").unwrap();
    sock.read_exact(&mut [0u8; 1]).unwrap();
    let vendor_id = v1.body["user"]["id"].as_str().unwrap().to_owned();
    let t0 = Instant::now();
    let (st, v) =
        post_empty(&c, &s.url(&format!("/api/v1/users/{vendor_id}/lock")), &admin.token).await;
    assert_eq!(st, 200, "{v}");
    assert_eq!(drain(sock), 0);
    assert!(t0.elapsed() < Duration::from_secs(1), "lock took {:?} to close", t0.elapsed());
    let accepted = echo.accepted.load(Ordering::SeqCst);
    let err = vendor.connect(&third, echo.port).map(|_| ()).unwrap_err();
    assert!(err.1.contains("session has ended") || err.1.contains("locked"), "{}", err.1);
    assert_eq!(echo.accepted.load(Ordering::SeqCst), accepted);
}
