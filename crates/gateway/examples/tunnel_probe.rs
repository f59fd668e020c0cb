//! Load and latency probe for `bench/tunnel.sh`: the same client drives a
//! direct connection, `ssh -L` and a sekimori tunnel, so the figures compare.
//!
//! ```text
//! tunnel_probe echo-server ADDR           # echo server; prints "ready"
//! tunnel_probe pingpong ADDR N            # N 64-byte round trips on one connection
//! tunnel_probe open ADDR N                # N x (connect, 1-byte echo, close)
//! tunnel_probe idle ADDR N                # open N connections, echo once, hold until stdin closes
//! ```
//! Results are one JSON line on stdout (microseconds).

#![allow(clippy::print_stdout, clippy::print_stderr, reason = "a benchmark tool prints")]
#![allow(clippy::unwrap_used, reason = "a benchmark tool fails loudly")]

use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn percentiles(mut v: Vec<u128>) -> (u128, u128, u128) {
    v.sort_unstable();
    let at = |q: f64| v[((v.len() as f64 - 1.0) * q).round() as usize];
    (at(0.5), at(0.99), at(0.999))
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let cmd = args.get(1).map(String::as_str).unwrap_or("");
    let addr = args.get(2).cloned().unwrap_or_default();
    let n: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(1000);
    match cmd {
        "echo-server" => {
            let l = TcpListener::bind(&addr).await.unwrap();
            println!("ready {}", l.local_addr().unwrap());
            loop {
                let (mut s, _) = l.accept().await.unwrap();
                let _ = s.set_nodelay(true);
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        match s.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(k) => {
                                if s.write_all(&buf[..k]).await.is_err() {
                                    return;
                                }
                            }
                        }
                    }
                });
            }
        }
        "pingpong" => {
            let mut s = TcpStream::connect(&addr).await.unwrap();
            s.set_nodelay(true).unwrap();
            let msg = [0x42u8; 64];
            let mut back = [0u8; 64];
            for _ in 0..200 {
                s.write_all(&msg).await.unwrap();
                s.read_exact(&mut back).await.unwrap();
            }
            let mut lat = Vec::with_capacity(n);
            for _ in 0..n {
                let t = Instant::now();
                s.write_all(&msg).await.unwrap();
                s.read_exact(&mut back).await.unwrap();
                lat.push(t.elapsed().as_micros());
            }
            let (p50, p99, p999) = percentiles(lat);
            println!(
                "{{\"mode\":\"pingpong\",\"n\":{n},\"p50_us\":{p50},\"p99_us\":{p99},\"p999_us\":{p999}}}"
            );
        }
        "open" => {
            let mut lat = Vec::with_capacity(n);
            let mut first = 0;
            for i in 0..n {
                let t = Instant::now();
                let mut s = TcpStream::connect(&addr).await.unwrap();
                s.set_nodelay(true).unwrap();
                s.write_all(b"x").await.unwrap();
                let mut b = [0u8; 1];
                s.read_exact(&mut b).await.unwrap();
                let us = t.elapsed().as_micros();
                if i == 0 {
                    first = us;
                }
                lat.push(us);
                drop(s);
            }
            let (p50, p99, p999) = percentiles(lat);
            println!(
                "{{\"mode\":\"open\",\"n\":{n},\"first_us\":{first},\"p50_us\":{p50},\"p99_us\":{p99},\"p999_us\":{p999}}}"
            );
        }
        "idle" => {
            let mut held = Vec::with_capacity(n);
            let t = Instant::now();
            for _ in 0..n {
                let mut s = TcpStream::connect(&addr).await.unwrap();
                s.write_all(b"x").await.unwrap();
                let mut b = [0u8; 1];
                s.read_exact(&mut b).await.unwrap();
                held.push(s);
            }
            println!(
                "{{\"mode\":\"idle\",\"held\":{},\"open_secs\":{:.1}}}",
                held.len(),
                t.elapsed().as_secs_f64()
            );
            // Hold until told to stop (stdin closes).
            let _ = tokio::task::spawn_blocking(|| {
                use std::io::Read;
                let mut sink = Vec::new();
                let _ = std::io::stdin().read_to_end(&mut sink);
            })
            .await;
            // Prove they are all still alive.
            let mut alive = 0;
            for s in &mut held {
                if s.write_all(b"y").await.is_ok() {
                    let mut b = [0u8; 1];
                    if s.read_exact(&mut b).await.is_ok() {
                        alive += 1;
                    }
                }
            }
            println!("{{\"mode\":\"idle-end\",\"alive\":{alive}}}");
        }
        _ => {
            eprintln!("usage: tunnel_probe echo-server|pingpong|open|idle ADDR [N]");
            std::process::exit(2);
        }
    }
}
