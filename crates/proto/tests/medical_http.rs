//! HTTP in ndpi_http_user_agent.pcapng: the first request's User-Agent
//! arrives in its second segment (frames 3 and 4: 1388 + 275 bytes).

mod support;

use sekimori_proto::http::probe_stream;
use sekimori_proto::identify::Ctx;
use sekimori_proto::{App, Fact, FactKey, Subject, Verdict};

const UA: &str = "Mozilla/5.0 (Linux; Android 6.0.1; SM-T805 Build/MMB29K; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/61.0.3163.98 Safari/537.36";

#[test]
fn user_agent_split_across_two_segments() {
    let segs: Vec<_> = support::segments("ndpi_http_user_agent.pcapng")
        .into_iter()
        .filter(|s| s.is_tcp() && !s.payload.is_empty())
        .collect();
    let ctx = Ctx { client_port: 21359, server_port: 80 };
    let first = &segs[0].payload;
    assert_eq!(first.len(), 1388);
    let host =
        Fact::new(Subject::Server, FactKey::HttpHost, "va.origin.startappservice.com").unwrap();
    let ua = Fact::new(Subject::Client, FactKey::HttpUserAgent, UA).unwrap();
    // First segment: a request, Host maybe, no User-Agent yet, more to come.
    match probe_stream(&ctx, first, b"") {
        Verdict::Yes { app: App::Http, facts, more: true } => assert!(!facts.contains(&ua)),
        v => panic!("{v:?}"),
    }
    let mut both = first.clone();
    both.extend_from_slice(&segs[1].payload);
    match probe_stream(&ctx, &both, b"") {
        Verdict::Yes { app: App::Http, facts, more: true } => {
            assert_eq!(facts, vec![host.clone(), ua.clone()])
        }
        v => panic!("{v:?}"),
    }
    // With the response (no Server header in this capture) the heads are done.
    let resp = &segs[2].payload;
    assert!(resp.starts_with(b"HTTP/1.1 200"));
    assert_eq!(
        probe_stream(&ctx, &both, resp),
        Verdict::Yes { app: App::Http, facts: vec![host, ua], more: false }
    );
    // Every prefix of the two segments: NeedMore, then a request.
    let line_end = both.iter().position(|c| *c == b'\n').unwrap();
    for n in 0..both.len() {
        match probe_stream(&ctx, &both[..n], b"") {
            Verdict::NeedMore => assert!(n <= line_end, "prefix {n}"),
            Verdict::Yes { app: App::Http, .. } => assert!(n > line_end, "prefix {n}"),
            v => panic!("prefix {n}: {v:?}"),
        }
    }
}
