//! Network namespaces, bridges and veth pairs for live labs, made with `ip`
//! (iproute2) and removed again when the [`Netlab`] is dropped.
//!
//! Every namespace is named `PREFIX-host`, where the prefix carries the
//! process ID (`sklab1234`): two labs never collide, and a lab whose
//! process died is recognised and cleaned up by the next one
//! ([`Netlab::remove_stale`]). Nothing is ever added to the namespace the
//! lab itself runs in: each veth pair is created with its two ends already
//! inside their namespaces.

use std::path::Path;
use std::process::{Command, Output};

use thiserror::Error;

/// The start of every lab namespace name.
pub const PREFIX: &str = "sklab";

/// Why the network could not be built.
#[derive(Debug, Error)]
pub enum NetlabError {
    #[error("cannot run `{command}`: {source} (is iproute2 installed?)")]
    Spawn { command: String, source: std::io::Error },
    #[error("`{command}` failed: {stderr}")]
    Failed { command: String, stderr: String },
}

/// The namespaces of one lab; deleted on drop.
#[derive(Debug)]
pub struct Netlab {
    prefix: String,
    namespaces: Vec<String>,
}

impl Netlab {
    /// An empty lab whose namespaces will be named after this process.
    pub fn new() -> Netlab {
        Netlab { prefix: format!("{PREFIX}{}", std::process::id()), namespaces: Vec::new() }
    }

    /// The full name of the namespace `host`.
    pub fn ns(&self, host: &str) -> String {
        format!("{}-{host}", self.prefix)
    }

    /// Deletes the namespaces of earlier labs whose process is gone (a lab
    /// killed before it could clean up); returns how many.
    pub fn remove_stale() -> usize {
        let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else { return 0 };
        let mut removed = 0;
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            let name = line.split_whitespace().next().unwrap_or("");
            let Some(rest) = name.strip_prefix(PREFIX) else { continue };
            let Some((pid, _)) = rest.split_once('-') else { continue };
            if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            if !Path::new("/proc").join(pid).exists()
                && Command::new("ip").args(["netns", "delete", name]).status().is_ok()
            {
                removed += 1;
            }
        }
        removed
    }

    /// Adds namespace `host` with its loopback up; returns its full name.
    pub fn add(&mut self, host: &str) -> Result<String, NetlabError> {
        let name = self.ns(host);
        run(Command::new("ip").args(["netns", "add", &name]))?;
        self.namespaces.push(name.clone());
        self.ip(host, &["link", "set", "lo", "up"])?;
        Ok(name)
    }

    /// Runs `ip -n NS ARGS…` in namespace `host`.
    pub fn ip(&self, host: &str, args: &[&str]) -> Result<(), NetlabError> {
        run(Command::new("ip").arg("-n").arg(self.ns(host)).args(args)).map(|_| ())
    }

    /// A bridge `name` in `host` that floods every frame to every port, as
    /// a hub or a switch's SPAN port does, so that a sensor on any port
    /// sees all traffic of the segment.
    pub fn hub(&self, host: &str, name: &str) -> Result<(), NetlabError> {
        self.ip(host, &["link", "add", name, "type", "bridge", "ageing_time", "0"])?;
        self.ip(host, &["link", "set", name, "up"])
    }

    /// Connects `host` (interface `ifname`) to `bridge` in `switch`
    /// (port `port`, at most 15 characters) with a veth pair; both ends up.
    pub fn plug(
        &self,
        host: &str,
        ifname: &str,
        switch: &str,
        bridge: &str,
        port: &str,
    ) -> Result<(), NetlabError> {
        let host_ns = self.ns(host);
        self.ip(
            switch,
            &["link", "add", port, "type", "veth", "peer", "name", ifname, "netns", &host_ns],
        )?;
        self.ip(switch, &["link", "set", port, "master", bridge])?;
        self.ip(switch, &["link", "set", port, "up"])?;
        self.ip(host, &["link", "set", ifname, "up"])
    }

    /// Adds address `cidr` (e.g. `10.66.0.10/24`) to `ifname` in `host`.
    pub fn address(&self, host: &str, ifname: &str, cidr: &str) -> Result<(), NetlabError> {
        self.ip(host, &["addr", "add", cidr, "dev", ifname])
    }

    /// The default route of `host`.
    pub fn default_route(&self, host: &str, via: &str) -> Result<(), NetlabError> {
        self.ip(host, &["route", "add", "default", "via", via])
    }

    /// Turns IPv4 forwarding on in `host` (a router).
    pub fn forward(&self, host: &str) -> Result<(), NetlabError> {
        run(self.exec(host, "sh").args(["-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"]))
            .map(|_| ())
    }

    /// `program` to be run inside `host` (`ip netns exec`).
    pub fn exec(&self, host: &str, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec"]).arg(self.ns(host)).arg(program);
        c
    }

    /// The namespaces made so far.
    pub fn namespaces(&self) -> &[String] {
        &self.namespaces
    }
}

impl Default for Netlab {
    fn default() -> Self {
        Netlab::new()
    }
}

impl Drop for Netlab {
    fn drop(&mut self) {
        for n in self.namespaces.iter().rev() {
            let _ = Command::new("ip").args(["netns", "delete", n]).output();
        }
    }
}

fn run(cmd: &mut Command) -> Result<Output, NetlabError> {
    let command = format!(
        "{} {}",
        cmd.get_program().to_string_lossy(),
        cmd.get_args().map(|a| a.to_string_lossy()).collect::<Vec<_>>().join(" ")
    );
    let out =
        cmd.output().map_err(|source| NetlabError::Spawn { command: command.clone(), source })?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(NetlabError::Failed {
            command,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }
}
