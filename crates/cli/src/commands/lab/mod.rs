//! `sekimori lab synth --hosts N --duration D -o FILE.pcap [--seed S]
//! [--size-mb M]`: a synthetic hospital capture (see `sekimori_lab`);
//! `sekimori lab incident`: the incident replayed live ([`incident`]), with
//! its parts played by `sekimori lab actor …` ([`actor`]).

mod actor;
mod incident;

use std::process::ExitCode;
use std::time::Instant;

use sekimori_types::Lang;

use crate::args::{LabCmd, SynthArgs};

pub fn lab(cmd: &LabCmd, lang: Lang) -> ExitCode {
    match cmd {
        LabCmd::Synth(a) => synth(a, lang),
        LabCmd::Incident(a) => incident::incident(a, lang),
        LabCmd::Actor(c) => actor::actor(c, lang),
    }
}

fn synth(a: &SynthArgs, lang: Lang) -> ExitCode {
    let duration = match sekimori_lab::parse_duration(&a.duration) {
        Ok(d) => d,
        Err(e) => {
            crate::output::error(lang, &anyhow::Error::from(e));
            return ExitCode::from(2);
        }
    };
    let cfg = sekimori_lab::Config {
        hosts: a.hosts,
        duration,
        seed: a.seed,
        max_bytes: a.size_mb.map(|m| m.saturating_mul(1_000_000)),
        ..sekimori_lab::Config::default()
    };
    let started = Instant::now();
    match sekimori_lab::write_file(&a.output, &cfg) {
        Ok(s) => {
            let secs = started.elapsed().as_secs_f64();
            let span = s.last_ns.saturating_sub(s.first_ns) as f64 / 1e9;
            let file = a.output.display();
            let (pk, mb, n) = (s.packets, s.bytes as f64 / 1e6, s.sessions);
            eprintln!(
                "{}",
                match lang {
                    Lang::Ja => format!(
                        "{file}: {pk} パケット、{mb:.1} MB、セッション {n}、模擬時間 {span:.1} 秒（{secs:.1} 秒で書き出し）"
                    ),
                    Lang::En => format!(
                        "{file}: {pk} packets, {mb:.1} MB, {n} sessions over {span:.1} s of traffic (written in {secs:.1} s)"
                    ),
                }
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            crate::output::error(lang, &anyhow::Error::from(e));
            ExitCode::from(2)
        }
    }
}
