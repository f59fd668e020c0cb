//! HL7 v2.5 over MLLP in gen_hl7_mllp_adt_oru.pcap: two connections from
//! 10.20.7.44 to the EHR interface engine at 10.20.1.20:2575. Values as the
//! MSH segments in the capture carry them (tshark -V).

mod support;

use sekimori_proto::hl7::{parse_msh, probe_stream};
use sekimori_proto::identify::Ctx;
use sekimori_proto::{App, Fact, FactKey, Subject, Verdict};

const CAP: &str = "gen_hl7_mllp_adt_oru.pcap";

fn facts(list: &[(Subject, FactKey, &str)]) -> Vec<Fact> {
    list.iter().map(|(s, k, v)| Fact::new(*s, *k, v).unwrap()).collect()
}

#[test]
fn monitor_gateway_connection() {
    let (c, s) = support::tcp_conversation(CAP, 33361, 2575);
    let ctx = Ctx { client_port: 33361, server_port: 2575 };
    use FactKey::*;
    use Subject::{Client, Server};
    assert_eq!(
        probe_stream(&ctx, &c, &s),
        Verdict::Yes {
            app: App::Hl7,
            facts: facts(&[
                (Client, Hl7SendingApp, "MONITOR_GW"),
                (Client, Hl7SendingFacility, "ICU3"),
                (Server, Hl7ReceivingApp, "EHR_ADT"),
                (Server, Hl7ReceivingFacility, "GENHOSP"),
                (Client, Hl7MessageType, "ADT^A01"),
                (Client, Hl7Version, "2.5"),
                (Client, Hl7MessageType, "ORU^R01"),
                // The ACKs name the engine as their sender.
                (Server, Hl7SendingApp, "EHR_ADT"),
                (Server, Hl7SendingFacility, "GENHOSP"),
                (Client, Hl7ReceivingApp, "MONITOR_GW"),
                (Client, Hl7ReceivingFacility, "ICU3"),
                (Server, Hl7MessageType, "ACK"),
                (Server, Hl7Version, "2.5"),
            ]),
            more: true,
        }
    );
    // Nothing from PID/OBX: every value is one of the envelope's.
    let Verdict::Yes { facts, .. } = probe_stream(&ctx, &c, &s) else { panic!() };
    let allowed = ["MONITOR_GW", "ICU3", "EHR_ADT", "GENHOSP", "ADT^A01", "ORU^R01", "ACK", "2.5"];
    assert!(facts.iter().all(|f| allowed.contains(&f.value.as_str())));
}

#[test]
fn nurse_call_connection() {
    let (c, s) = support::tcp_conversation(CAP, 35033, 2575);
    let h = parse_msh(&c[1..]).unwrap();
    assert_eq!(h.sending_application.as_deref(), Some("NURSECALL"));
    assert_eq!(h.sending_facility.as_deref(), Some("WARD5"));
    assert_eq!(h.message_type.as_deref(), Some("ORU^R01"));
    let ack = parse_msh(&s[1..]).unwrap();
    assert_eq!(ack.sending_application.as_deref(), Some("EHR_ADT"));
    assert_eq!(ack.receiving_facility.as_deref(), Some("WARD5"));
    assert_eq!(ack.message_type.as_deref(), Some("ACK"));
}

#[test]
fn every_prefix_of_the_first_message() {
    let (c, _) = support::tcp_conversation(CAP, 33361, 2575);
    let msh_end = c.iter().position(|b| *b == b'\r').unwrap();
    let ctx = Ctx { client_port: 33361, server_port: 2575 };
    for n in 0..c.len() {
        match probe_stream(&ctx, &c[..n], b"") {
            Verdict::NeedMore => assert!(n <= msh_end, "prefix {n}"),
            Verdict::Yes { app: App::Hl7, facts, .. } => {
                assert!(n > msh_end, "prefix {n}");
                assert!(facts.iter().any(|f| f.value == "MONITOR_GW"));
            }
            v => panic!("prefix {n}: {v:?}"),
        }
    }
}
