//! The sensor's inventory and conversation buckets on every backend: merge
//! rules of observed devices (names and protocols unioned, seen times
//! widened, newest attributes kept, an address-only row folded into the
//! MAC row that claims its address, an address moving between devices),
//! additive buckets (also under concurrent flushes from two store handles,
//! as two processes would write), filters, refusals, and that none of it
//! reaches the audit log.

mod common;

use std::net::IpAddr;

use futures::future::join_all;
use time::{Duration, OffsetDateTime};

use common::*;
use sekimori_store::{
    AssetRepo, AuditRepo, ConversationBucket, ConversationFilter, InventoryFilter, InventoryRepo,
    InventoryWrite, ObservedAsset, StoreError,
};
use sekimori_test_support::{each_backend, test_epoch};

fn at(min: i64) -> OffsetDateTime {
    test_epoch() + Duration::minutes(min)
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A DICOM modality with a MAC, as the sensor reports it.
fn modality(first: i64, last: i64) -> ObservedAsset {
    ObservedAsset {
        key: "mac:00:1b:21:0a:bc:de".into(),
        mac: Some("00:1b:21:0a:bc:de".into()),
        ips: vec![ip("10.20.5.31")],
        names: vec!["CT_SCANNER_01".into()],
        vendor: Some("Intel Corporate".into()),
        product: None,
        version: None,
        mac_vendor: Some("Intel Corporate".into()),
        protocols_as_client: vec!["dicom".into()],
        protocols_as_server: vec![],
        protocols_link: vec![],
        role: Some("modality-or-workstation".into()),
        role_basis: Some("DICOM SCU: opens DICOM associations".into()),
        local: true,
        first_seen: at(first),
        last_seen: at(last),
    }
}

/// A device known by its address only.
fn by_ip(addr: &str, first: i64, last: i64) -> ObservedAsset {
    ObservedAsset {
        key: format!("ip:{addr}"),
        mac: None,
        ips: vec![ip(addr)],
        names: vec![],
        vendor: None,
        product: None,
        version: None,
        mac_vendor: None,
        protocols_as_client: vec![],
        protocols_as_server: vec![],
        protocols_link: vec![],
        role: None,
        role_basis: None,
        local: true,
        first_seen: at(first),
        last_seen: at(last),
    }
}

fn bucket(client: &str, server: &str, service: &str, min: i64, n: u64) -> ConversationBucket {
    ConversationBucket {
        client: client.into(),
        server: server.into(),
        service: service.into(),
        start: at(min),
        packets_out: n,
        packets_in: 2 * n,
        bytes_out: 100 * n,
        bytes_in: 1000 * n,
        flows: 1,
    }
}

#[tokio::test]
async fn observed_assets_merge_over_reports() {
    for t in each_backend().await {
        let s = &t.store;
        let b = t.backend();
        let audit_before = s.audit_head().await.unwrap().map(|h| h.seq);

        let w = s.upsert_observed(&[modality(0, 5)]).await.unwrap();
        assert_eq!(w, InventoryWrite { created: 1, updated: 0, merged: 0 }, "{b:?}");
        // A later report: a new name, the server side of another protocol,
        // an earlier first sighting, a product, and no role (kept).
        let mut later = modality(-10, 20);
        later.names = vec!["CT01.radiology.local".into(), "CT_SCANNER_01".into()];
        later.protocols_as_server = vec!["ssh".into()];
        later.product = Some("Somatom".into());
        later.role = None;
        later.role_basis = None;
        later.vendor = None;
        let w = s.upsert_observed(&[later.clone()]).await.unwrap();
        assert_eq!(w, InventoryWrite { created: 0, updated: 1, merged: 0 }, "{b:?}");
        // An older report that says less: seen times do not shrink.
        s.upsert_observed(&[modality(3, 4)]).await.unwrap();

        let all = s.list_observed(&InventoryFilter::default()).await.unwrap();
        assert_eq!(all.len(), 1, "{b:?}: {all:?}");
        let a = &all[0];
        assert_eq!(a.key, "mac:00:1b:21:0a:bc:de");
        assert_eq!(a.mac.as_deref(), Some("00:1b:21:0a:bc:de"));
        assert_eq!(a.ip, Some(ip("10.20.5.31")));
        assert_eq!(a.names, vec!["CT01.radiology.local", "CT_SCANNER_01"], "{b:?}");
        assert_eq!(a.protocols, vec!["dicom", "ssh"]);
        assert_eq!(a.protocols_as_client, vec!["dicom"]);
        assert_eq!(a.protocols_as_server, vec!["ssh"]);
        assert_eq!(a.first_seen, at(-10), "{b:?}");
        assert_eq!(a.last_seen, at(20), "{b:?}");
        assert_eq!(a.vendor.as_deref(), Some("Intel Corporate"), "{b:?}: null keeps the old");
        assert_eq!(a.product.as_deref(), Some("Somatom"));
        assert_eq!(a.role.as_deref(), Some("modality-or-workstation"));
        assert_eq!(a.role_basis.as_deref(), Some("DICOM SCU: opens DICOM associations"));
        assert!(a.local);
        assert!(a.registered.is_empty());
        assert_eq!(s.observed(a.id).await.unwrap(), *a, "{b:?}");

        // Idempotent: the same report again leaves the same inventory.
        s.upsert_observed(&[later]).await.unwrap();
        let again = s.observed(a.id).await.unwrap();
        assert_eq!(
            (&again.names, &again.protocols, again.first_seen, again.last_seen),
            (&a.names, &a.protocols, a.first_seen, a.last_seen),
            "{b:?}"
        );

        // A registered asset with the same address is linked.
        let mut spec = asset_spec("ct-1");
        spec.addresses = vec![ip("10.20.5.31")];
        let reg = s.create_asset(&admin_ctx(), &spec).await.unwrap();
        assert_eq!(s.observed(a.id).await.unwrap().registered, vec![reg.id], "{b:?}");

        // Sensor writes are not audited.
        let audit_after = s.audit_head().await.unwrap().map(|h| h.seq);
        assert_eq!(audit_after, audit_before.map(|s| s + 1).or(Some(1)), "{b:?}: only the asset");
    }
}

#[tokio::test]
async fn an_address_only_row_joins_the_mac_that_claims_its_address() {
    for t in each_backend().await {
        let s = &t.store;
        let b = t.backend();
        // First seen by address only (no ARP yet), with a name and traffic.
        let mut early = by_ip("10.20.5.31", -30, -20);
        early.names = vec!["ct01".into()];
        early.protocols_as_client = vec!["dns".into()];
        s.upsert_observed(&[early, by_ip("10.20.1.10", -30, -20)]).await.unwrap();
        s.add_conversations(&[
            bucket("ip:10.20.5.31", "ip:10.20.1.10", "dicom", -30, 1),
            bucket("ip:10.20.1.10", "ip:10.20.5.31", "tcp/22", -30, 1),
        ])
        .await
        .unwrap();
        // Then its MAC is learnt: the address row folds into the MAC row.
        let w = s.upsert_observed(&[modality(0, 5)]).await.unwrap();
        assert_eq!(w, InventoryWrite { created: 1, updated: 0, merged: 1 }, "{b:?}");
        let all = s.list_observed(&InventoryFilter::default()).await.unwrap();
        let keys: Vec<&str> = all.iter().map(|a| a.key.as_str()).collect();
        assert_eq!(keys, vec!["mac:00:1b:21:0a:bc:de", "ip:10.20.1.10"], "{b:?}");
        let m = &all[0];
        assert_eq!(m.names, vec!["CT_SCANNER_01", "ct01"], "{b:?}");
        assert_eq!(m.protocols, vec!["dicom", "dns"]);
        assert_eq!(m.first_seen, at(-30), "{b:?}");
        assert_eq!(m.last_seen, at(5));
        // Its conversations moved with it, both as client and as server.
        let conv = s
            .conversations(&ConversationFilter { asset: Some(m.id), ..Default::default() })
            .await
            .unwrap();
        let pairs: Vec<(&str, &str, &str)> = conv
            .iter()
            .map(|c| (c.client.as_str(), c.server.as_str(), c.service.as_str()))
            .collect();
        assert_eq!(
            pairs,
            vec![
                ("ip:10.20.1.10", "mac:00:1b:21:0a:bc:de", "tcp/22"),
                ("mac:00:1b:21:0a:bc:de", "ip:10.20.1.10", "dicom"),
            ],
            "{b:?}"
        );
        assert!(conv.iter().all(|c| c.client_asset.is_some() && c.server_asset.is_some()));
        // A later address-only report of that address joins the MAC row.
        let w = s.upsert_observed(&[by_ip("10.20.5.31", 40, 41)]).await.unwrap();
        assert_eq!(w, InventoryWrite { created: 0, updated: 1, merged: 0 }, "{b:?}");
        assert_eq!(s.observed(m.id).await.unwrap().last_seen, at(41));
        // So does a conversation naming it by address.
        s.add_conversations(&[bucket("ip:10.20.5.31", "ip:10.20.1.10", "dicom", -30, 1)])
            .await
            .unwrap();
        let conv = s
            .conversations(&ConversationFilter { asset: Some(m.id), ..Default::default() })
            .await
            .unwrap();
        let dicom = conv.iter().find(|c| c.service == "dicom").unwrap();
        assert_eq!((dicom.client.as_str(), dicom.packets_out), ("mac:00:1b:21:0a:bc:de", 2));

        // DHCP hands the address to another device: it moves; the first
        // keeps its history.
        let mut other = modality(50, 60);
        other.key = "mac:00:1b:21:0a:bc:df".into();
        other.mac = Some("00:1b:21:0a:bc:df".into());
        other.names = vec!["US_ROOM_2".into()];
        s.upsert_observed(&[other]).await.unwrap();
        let first = s.observed(m.id).await.unwrap();
        assert!(first.ips.is_empty(), "{b:?}: {first:?}");
        assert_eq!(first.names, vec!["CT_SCANNER_01", "ct01"]);
        let found = s
            .list_observed(&InventoryFilter { q: Some("10.20.5.31".into()), ..Default::default() })
            .await
            .unwrap();
        assert_eq!(found.len(), 1, "{b:?}");
        assert_eq!(found[0].names, vec!["US_ROOM_2"]);
    }
}

#[tokio::test]
async fn list_filters_and_limits() {
    for t in each_backend().await {
        let s = &t.store;
        let b = t.backend();
        let mut pacs = by_ip("10.20.1.10", 0, 50);
        pacs.names = vec!["PACS_MAIN".into()];
        pacs.protocols_as_server = vec!["dicom".into()];
        pacs.role = Some("pacs-or-modality".into());
        pacs.role_basis = Some("DICOM SCP: accepts DICOM associations".into());
        pacs.vendor = Some("Acme 100%_Imaging".into());
        let web = {
            let mut w = by_ip("192.0.2.80", 0, 40);
            w.protocols_as_server = vec!["tls".into()];
            w.role = Some("web-server".into());
            w.local = false;
            w
        };
        s.upsert_observed(&[modality(0, 30), pacs, web]).await.unwrap();
        let keys = |v: Vec<sekimori_store::InventoryAsset>| -> Vec<String> {
            v.into_iter().map(|a| a.key).collect()
        };
        let list = |f: InventoryFilter| async move { keys(s.list_observed(&f).await.unwrap()) };
        assert_eq!(
            list(InventoryFilter::default()).await,
            vec!["ip:10.20.1.10", "ip:192.0.2.80", "mac:00:1b:21:0a:bc:de"],
            "{b:?}: most recently seen first"
        );
        let q = |q: &str| InventoryFilter { q: Some(q.into()), ..Default::default() };
        assert_eq!(list(q("pacs_")).await, vec!["ip:10.20.1.10"], "{b:?}: names, any case");
        assert_eq!(list(q("ct_scanner")).await, vec!["mac:00:1b:21:0a:bc:de"]);
        assert_eq!(list(q("00:1B:21")).await, vec!["mac:00:1b:21:0a:bc:de"], "{b:?}: the key");
        assert_eq!(list(q("192.0.2")).await, vec!["ip:192.0.2.80"], "{b:?}: an address");
        assert_eq!(list(q("100%_")).await, vec!["ip:10.20.1.10"], "{b:?}: wildcards literal");
        assert!(list(q("1%0")).await.is_empty(), "{b:?}: % is no wildcard");
        assert_eq!(list(q("INTEL")).await, vec!["mac:00:1b:21:0a:bc:de"], "{b:?}: vendor");
        let role = InventoryFilter { role: Some("web-server".into()), ..Default::default() };
        assert_eq!(list(role).await, vec!["ip:192.0.2.80"]);
        let app = InventoryFilter { app: Some("dicom".into()), ..Default::default() };
        assert_eq!(list(app).await, vec!["ip:10.20.1.10", "mac:00:1b:21:0a:bc:de"], "{b:?}");
        let both = InventoryFilter {
            app: Some("dicom".into()),
            role: Some("pacs-or-modality".into()),
            ..Default::default()
        };
        assert_eq!(list(both).await, vec!["ip:10.20.1.10"]);
        let one = InventoryFilter { limit: 1, ..Default::default() };
        assert_eq!(list(one).await, vec!["ip:10.20.1.10"]);

        let missing = s.observed(sekimori_store::ObservedAssetId::new()).await.unwrap_err();
        assert!(matches!(missing, StoreError::NotFound { .. }), "{b:?}: {missing:?}");
    }
}

#[tokio::test]
async fn conversation_buckets_add_up() {
    for t in each_backend().await {
        let s = &t.store;
        let b = t.backend();
        s.upsert_observed(&[modality(0, 5), by_ip("10.20.1.10", 0, 5)]).await.unwrap();
        let (ct, pacs) = ("mac:00:1b:21:0a:bc:de", "ip:10.20.1.10");
        // One batch with the same bucket twice, and a second batch.
        let n = s
            .add_conversations(&[
                bucket(ct, pacs, "dicom", 1, 3),
                bucket(ct, pacs, "dicom", 1, 4),
                bucket(ct, pacs, "dicom", 2, 1),
                bucket(ct, "ip:224.0.0.251", "udp/5353", 2, 1),
            ])
            .await
            .unwrap();
        assert_eq!(n, 3, "{b:?}: duplicates merged before writing");
        s.add_conversations(&[bucket(ct, pacs, "dicom", 1, 10)]).await.unwrap();

        let all = s.conversations(&ConversationFilter::default()).await.unwrap();
        assert_eq!(all.len(), 3, "{b:?}: {all:?}");
        // Newest first, then by client, server, service.
        assert_eq!(
            all.iter().map(|c| (c.start, c.server.as_str())).collect::<Vec<_>>(),
            vec![(at(2), pacs), (at(2), "ip:224.0.0.251"), (at(1), pacs)]
        );
        let one = &all[2];
        assert_eq!(
            (one.packets_out, one.packets_in, one.bytes_out, one.bytes_in, one.flows),
            (17, 34, 1700, 17000, 3),
            "{b:?}"
        );
        assert!(one.client_asset.is_some() && one.server_asset.is_some());
        assert_eq!(all[1].server_asset, None, "{b:?}: a multicast group is no asset");

        let since = ConversationFilter { since: Some(at(2)), ..Default::default() };
        assert_eq!(s.conversations(&since).await.unwrap().len(), 2);
        let until = ConversationFilter { until: Some(at(2)), ..Default::default() };
        assert_eq!(s.conversations(&until).await.unwrap().len(), 1);
        let limit = ConversationFilter { limit: 1, ..Default::default() };
        assert_eq!(s.conversations(&limit).await.unwrap().len(), 1);
        let pacs_id = s
            .list_observed(&InventoryFilter { q: Some("10.20.1.10".into()), ..Default::default() })
            .await
            .unwrap()[0]
            .id;
        let of_pacs = ConversationFilter { asset: Some(pacs_id), ..Default::default() };
        assert_eq!(s.conversations(&of_pacs).await.unwrap().len(), 2, "{b:?}");
        let unknown = ConversationFilter {
            asset: Some(sekimori_store::ObservedAssetId::new()),
            ..Default::default()
        };
        assert!(matches!(
            s.conversations(&unknown).await.unwrap_err(),
            StoreError::NotFound { .. }
        ));

        assert_eq!(s.purge_conversations(at(2)).await.unwrap(), 1, "{b:?}");
        assert_eq!(s.conversations(&ConversationFilter::default()).await.unwrap().len(), 2);
    }
}

/// Two flushes at once from two store handles (two processes) into the same
/// buckets and the same device: nothing is lost.
#[tokio::test]
async fn concurrent_flushes_lose_nothing() {
    for t in each_backend().await {
        let b = t.backend();
        let other = t.open_another().await;
        let (ct, pacs) = ("mac:00:1b:21:0a:bc:de", "ip:10.20.1.10");
        let mut jobs = Vec::new();
        for i in 0..8u64 {
            let s = if i % 2 == 0 { t.store.clone() } else { other.clone() };
            jobs.push(tokio::spawn(async move {
                let mut m = modality(0, 5);
                m.names = vec![format!("name-{i}")];
                s.upsert_observed(&[m, by_ip("10.20.1.10", 0, 5)]).await.unwrap();
                let batch: Vec<_> =
                    (0..3).map(|min| bucket(ct, pacs, "dicom", min, i + 1)).collect();
                s.add_conversations(&batch).await.unwrap();
            }));
        }
        for j in join_all(jobs).await {
            j.unwrap();
        }
        let all = t.store.conversations(&ConversationFilter::default()).await.unwrap();
        assert_eq!(all.len(), 3, "{b:?}");
        for c in &all {
            // 1 + 2 + … + 8 packets out, 8 flows.
            assert_eq!((c.packets_out, c.flows), (36, 8), "{b:?}: {c:?}");
        }
        let assets = t.store.list_observed(&InventoryFilter::default()).await.unwrap();
        assert_eq!(assets.len(), 2, "{b:?}: one row per device");
        let ct_row = assets.iter().find(|a| a.key == ct).unwrap();
        assert_eq!(ct_row.names.len(), 8, "{b:?}: {:?}", ct_row.names);
        other.close().await;
    }
}

#[tokio::test]
async fn malformed_reports_are_refused_whole() {
    for t in each_backend().await {
        let s = &t.store;
        let b = t.backend();
        let bad: Vec<(ObservedAsset, &str)> = vec![
            (
                {
                    let mut a = modality(0, 1);
                    a.key = "host:ct".into();
                    a
                },
                "key",
            ),
            (
                {
                    let mut a = modality(0, 1);
                    a.mac = Some("00:1B:21:0A:BC:DE".into());
                    a
                },
                "mac",
            ),
            (
                {
                    let mut a = modality(0, 1);
                    a.mac = None;
                    a
                },
                "mac",
            ),
            (
                {
                    let mut a = by_ip("10.0.0.1", 0, 1);
                    a.ips = vec![ip("10.0.0.2")];
                    a
                },
                "ips",
            ),
            (
                {
                    let mut a = modality(0, 1);
                    a.names = vec!["a\u{0}b".into()];
                    a
                },
                "names",
            ),
            (
                {
                    let mut a = modality(0, 1);
                    a.names = vec!["x".repeat(256)];
                    a
                },
                "names",
            ),
            (
                {
                    let mut a = modality(0, 1);
                    a.protocols_as_client = vec!["DICOM".into()];
                    a
                },
                "protocols",
            ),
            (modality(5, 1), "first_seen"),
        ];
        for (a, field) in bad {
            // A good report before the bad one is not written either.
            let e = s.upsert_observed(&[by_ip("10.9.9.9", 0, 1), a]).await.unwrap_err();
            match e {
                StoreError::Invalid(v) => assert_eq!(v.field, field, "{b:?}"),
                e => panic!("{b:?}: {e:?}"),
            }
        }
        assert!(s.list_observed(&InventoryFilter::default()).await.unwrap().is_empty());
        let mut odd = bucket("mac:00:1b:21:0a:bc:de", "ip:10.20.1.10", "dicom", 0, 1);
        odd.start += Duration::seconds(1);
        assert!(matches!(s.add_conversations(&[odd]).await, Err(StoreError::Invalid(_))));
        let bad_service = bucket("mac:00:1b:21:0a:bc:de", "ip:10.20.1.10", "DROP TABLE", 0, 1);
        assert!(matches!(s.add_conversations(&[bad_service]).await, Err(StoreError::Invalid(_))));
        assert!(s.conversations(&ConversationFilter::default()).await.unwrap().is_empty());
    }
}
