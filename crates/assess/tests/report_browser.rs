//! The report and checklist pages in a real browser: headless Chromium,
//! driven over chromedriver's W3C WebDriver API, opens each page from a
//! file, and the browser log must hold no SEVERE entry; the title and the
//! summary counts are read back from the rendered page.
//!
//! chromedriver speaks plain HTTP on localhost, so a few lines of
//! `std::net` are the client — no async runtime or HTTP crate is added for
//! one test. Without chromedriver the test is skipped with a note, unless
//! `CI` is set, where it fails.

#![allow(clippy::print_stderr, reason = "a skipped browser test says so")]

mod report_support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use report_support::{GENERATED_AT, evidence, report};
use sekimori_assess::checklist;
use sekimori_assess::report::{Lang, html};
use serde_json::{Value, json};

/// One HTTP/1.1 request with `Connection: close`; returns the JSON body.
fn http(port: u16, method: &str, path: &str, body: Option<&Value>) -> std::io::Result<Value> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    let body = body.map(Value::to_string).unwrap_or_default();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\
         Content-Type: application/json; charset=utf-8\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    // chromedriver may keep the connection open: read the head, then
    // exactly Content-Length bytes (or chunks up to the last one).
    let mut raw = Vec::new();
    let mut buf = [0u8; 8192];
    let split = loop {
        if let Some(p) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break p;
        }
        let n = s.read(&mut buf)?;
        if n == 0 {
            return Err(std::io::Error::other("connection closed before the head ended"));
        }
        raw.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&raw[..split]).to_ascii_lowercase();
    let mut payload = raw[split + 4..].to_vec();
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok());
    let chunked = head.contains("transfer-encoding: chunked");
    loop {
        let done = match length {
            Some(len) => payload.len() >= len,
            None if chunked => payload.ends_with(b"0\r\n\r\n"),
            None => false,
        };
        if done {
            break;
        }
        let n = s.read(&mut buf)?;
        if n == 0 {
            break;
        }
        payload.extend_from_slice(&buf[..n]);
    }
    if chunked {
        payload = dechunk(&payload);
    }
    serde_json::from_slice(&payload).map_err(std::io::Error::other)
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = b.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&b[..eol]).unwrap().split(';').next().unwrap().trim();
        let n = usize::from_str_radix(size, 16).unwrap();
        if n == 0 {
            break;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + n]);
        b = &b[eol + 2 + n + 2..];
    }
    out
}

struct Driver {
    child: Child,
    port: u16,
    session: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = http(self.port, "DELETE", &format!("/session/{}", self.session), None);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn which(name: &str) -> Option<String> {
    let out = Command::new("sh").arg("-c").arg(format!("command -v {name}")).output().ok()?;
    let p = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (!p.is_empty()).then_some(p)
}

fn chromium() -> &'static str {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .unwrap_or("/usr/bin/chromium")
}

impl Driver {
    fn start(profile: &std::path::Path) -> Option<Driver> {
        let Some(path) = which("chromedriver") else {
            assert!(std::env::var_os("CI").is_none(), "CI must install chromium-driver");
            eprintln!("note: chromedriver not installed; browser test skipped");
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut child = Command::new(path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // chromedriver says on stdout when it listens; wait for that line
        // (bounded by its own start-up), then keep draining the pipe.
        let (tx, rx) = std::sync::mpsc::channel();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.contains("started successfully")
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(());
                }
            }
        });
        let mut d = Driver { child, port, session: String::new() };
        rx.recv_timeout(Duration::from_secs(20)).expect("chromedriver did not start");
        assert!(http(port, "GET", "/status", None).is_ok(), "chromedriver /status");
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            &format!("--user-data-dir={}", profile.display()),
        ];
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": { "binary": chromium(), "args": args },
            "goog:loggingPrefs": { "browser": "ALL" }
        }}});
        let r = http(port, "POST", "/session", Some(&caps)).unwrap();
        d.session = r["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {r}"))
            .to_owned();
        Some(d)
    }

    fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let p = format!("/session/{}{}", self.session, path);
        let v = http(self.port, method, &p, body.as_ref()).unwrap();
        v["value"].clone()
    }

    fn goto(&self, url: &str) {
        let v = self.cmd("POST", "/url", Some(json!({"url": url})));
        assert!(v.is_null(), "navigation failed: {v}");
    }

    fn title(&self) -> String {
        self.cmd("GET", "/title", None).as_str().unwrap_or("").to_owned()
    }

    fn text(&self, css: &str) -> String {
        let v = self.cmd("POST", "/element", Some(json!({"using": "css selector", "value": css})));
        let id = v
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no element {css}: {v}"))
            .to_owned();
        self.cmd("GET", &format!("/element/{id}/text"), None).as_str().unwrap_or("").to_owned()
    }

    /// Browser log entries since the last call.
    fn log(&self) -> Vec<Value> {
        let v = self.cmd("POST", "/se/log", Some(json!({"type": "browser"})));
        // An error object here would make "no SEVERE entry" vacuous.
        v.as_array().cloned().unwrap_or_else(|| panic!("browser log unavailable: {v}"))
    }

    fn assert_clean_log(&self, page: &str) {
        let severe: Vec<_> =
            self.log().into_iter().filter(|e| e["level"].as_str() == Some("SEVERE")).collect();
        assert!(severe.is_empty(), "{page}: console errors: {severe:#?}");
    }
}

#[test]
fn report_and_checklist_pages_render_without_console_errors() {
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("profile");
    let Some(d) = Driver::start(&profile) else { return };

    // The report, Japanese first.
    let r = report(Lang::Ja);
    let page = dir.path().join("report.html");
    std::fs::write(&page, html::render(&r)).unwrap();
    d.goto(&format!("file://{}", page.display()));
    d.assert_clean_log("report");
    assert_eq!(d.title(), html::title(&r));
    assert_eq!(d.text("#count-assets"), "42");
    assert_eq!(d.text("#count-affected"), "3");
    assert_eq!(d.text("#count-kev"), "3");
    assert_eq!(d.text("#count-ransomware"), "2");
    let summary = d.text("#summary");
    assert!(summary.contains("概要") && summary.contains("Summary"), "{summary}");
    assert!(summary.contains("「vpn-gw-1」"), "{summary}");
    let first = d.text("#actions li");
    assert!(first.contains("CVE-2024-21762") && first.contains("7.0.14"), "{first}");

    // A hostile asset name stays text.
    let mut hostile = report(Lang::En);
    hostile.findings[0].asset = "<script>alert(1)</script>".into();
    let page = dir.path().join("hostile.html");
    std::fs::write(&page, html::render(&hostile)).unwrap();
    d.goto(&format!("file://{}", page.display()));
    d.assert_clean_log("hostile report");
    assert!(d.text("#actions li").contains("<script>alert(1)</script>"));
    assert_eq!(d.text("#summary h2"), "Summary 概要");

    // The log check is live: a page with a missing image logs SEVERE.
    let page = dir.path().join("broken.html");
    std::fs::write(&page, "<!DOCTYPE html><title>x</title><img src=\"missing.png\">").unwrap();
    d.goto(&format!("file://{}", page.display()));
    assert!(
        d.log().iter().any(|e| e["level"].as_str() == Some("SEVERE")),
        "a missing image should have logged an error"
    );

    // The checklist.
    let answers = checklist::answer(&checklist::builtin(), &evidence());
    let page = dir.path().join("checklist.html");
    std::fs::write(&page, checklist::to_html(&answers, GENERATED_AT, Lang::Ja)).unwrap();
    d.goto(&format!("file://{}", page.display()));
    d.assert_clean_log("checklist");
    assert_eq!(d.title(), checklist::TITLE);
    let c = checklist::counts(&answers);
    assert_eq!(d.text("#count-yes"), c.yes.to_string());
    assert_eq!(d.text("#count-no"), c.no.to_string());
    assert_eq!(d.text("#count-review"), c.review.to_string());
    assert!(d.text("#r6-2-1").contains("いいえ"));
}
