//! DICOM association in gen_dicom_echo_store_find.pcap (pynetdicom
//! CT_SCANNER_01 → PACS_MAIN on tcp/11112). Values as tshark shows them.

mod support;

use sekimori_proto::dicom::{AssociateKind, parse_associate, probe_stream};
use sekimori_proto::identify::Ctx;
use sekimori_proto::{App, Fact, FactKey, Subject, Verdict};

const CAP: &str = "gen_dicom_echo_store_find.pcap";
const CT: &str = "CT Image Storage (1.2.840.10008.5.1.4.1.1.2)";
const VERIFY: &str = "Verification (1.2.840.10008.1.1)";
const FIND: &str =
    "Study Root Query/Retrieve Information Model - FIND (1.2.840.10008.5.1.4.1.2.2.1)";
const IMPL_UID: &str = "1.2.826.0.1.3680043.9.3811.3.0.4";

fn ctx() -> Ctx {
    Ctx { client_port: 40000, server_port: 11112 }
}

fn facts(list: &[(Subject, FactKey, &str)]) -> Vec<Fact> {
    list.iter().map(|(s, k, v)| Fact::new(*s, *k, v).unwrap()).collect()
}

#[test]
fn request_and_accept_parse() {
    let (c, s) = support::first_stream_to(CAP, 11112);
    let rq = parse_associate(&c).unwrap().unwrap();
    assert_eq!(rq.kind, AssociateKind::Request);
    assert_eq!((rq.calling_ae.as_str(), rq.called_ae.as_str()), ("CT_SCANNER_01", "PACS_MAIN"));
    assert_eq!(rq.max_pdu_length, Some(16382));
    assert_eq!(rq.implementation_class_uid.as_deref(), Some(IMPL_UID));
    assert_eq!(rq.implementation_version.as_deref(), Some("PYNETDICOM_304"));
    let ids: Vec<(u8, Option<&str>)> =
        rq.presentation_contexts.iter().map(|p| (p.id, p.abstract_syntax.as_deref())).collect();
    assert_eq!(
        ids,
        vec![
            (1, Some("1.2.840.10008.1.1")),
            (3, Some("1.2.840.10008.5.1.4.1.1.2")),
            (5, Some("1.2.840.10008.5.1.4.1.2.2.1")),
        ]
    );
    assert_eq!(rq.presentation_contexts[0].transfer_syntaxes.len(), 4);

    let ac = parse_associate(&s).unwrap().unwrap();
    assert_eq!(ac.kind, AssociateKind::Accept);
    assert_eq!(ac.max_pdu_length, Some(16384));
    let results: Vec<(u8, Option<u8>)> =
        ac.presentation_contexts.iter().map(|p| (p.id, p.result)).collect();
    assert_eq!(results, vec![(1, Some(0)), (3, Some(0)), (5, Some(0))]);
    assert_eq!(ac.presentation_contexts[1].transfer_syntaxes, vec!["1.2.840.10008.1.2.1"]);
}

#[test]
fn probe_names_both_ends() {
    let (c, s) = support::first_stream_to(CAP, 11112);
    let rq_len = 6 + 473;
    let ac_len = 6 + 248;
    let v = probe_stream(&ctx(), &c[..rq_len], &s[..ac_len]);
    use FactKey::*;
    use Subject::{Client, Server};
    assert_eq!(
        v,
        Verdict::Yes {
            app: App::Dicom,
            facts: facts(&[
                (Client, DicomCallingAe, "CT_SCANNER_01"),
                (Client, DicomAeTitle, "CT_SCANNER_01"),
                (Server, DicomCalledAe, "PACS_MAIN"),
                (Server, DicomAeTitle, "PACS_MAIN"),
                (Client, DicomImplClassUid, IMPL_UID),
                (Client, DicomImplVersion, "PYNETDICOM_304"),
                (Client, DicomSopClass, VERIFY),
                (Client, DicomSopClass, CT),
                (Client, DicomSopClass, FIND),
                (Server, DicomImplClassUid, IMPL_UID),
                (Server, DicomImplVersion, "PYNETDICOM_304"),
                (Server, DicomSopClass, VERIFY),
                (Server, DicomSopClass, CT),
                (Server, DicomSopClass, FIND),
            ]),
            more: false,
        }
    );
    // The whole conversation (P-DATA included) gives the same answer: the
    // datasets are never read.
    assert_eq!(probe_stream(&ctx(), &c, &s), v);
}

#[test]
fn every_prefix_of_the_captured_request_and_accept() {
    let (c, s) = support::first_stream_to(CAP, 11112);
    let rq = &c[..6 + 473];
    let ac = &s[..6 + 248];
    for n in 0..rq.len() {
        assert!(parse_associate(&rq[..n]).is_err(), "prefix {n}");
        match probe_stream(&ctx(), &rq[..n], b"") {
            Verdict::NeedMore => assert!(n < 74 + 4 + 21, "prefix {n}"),
            Verdict::Yes { app: App::Dicom, facts, more: true } => {
                assert!(facts.iter().any(|f| f.value == "CT_SCANNER_01"), "prefix {n}")
            }
            v => panic!("prefix {n}: {v:?}"),
        }
    }
    for n in 0..ac.len() {
        assert!(parse_associate(&ac[..n]).is_err(), "prefix {n}");
        let Verdict::Yes { facts, more, .. } = probe_stream(&ctx(), rq, &ac[..n]) else { panic!() };
        assert!(more, "prefix {n}");
        assert!(
            !facts
                .iter()
                .any(|f| f.subject == Subject::Server && f.key == FactKey::DicomImplVersion)
        );
    }
}
