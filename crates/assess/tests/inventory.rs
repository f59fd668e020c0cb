//! Inventory inputs: each format from a fixture, field by field, and the
//! robustness promises (hostile bytes give errors, never panics).

use std::path::{Path, PathBuf};

use sekimori_assess::inventory::{
    self, Inventory, InventoryItem, MAX_FILE_BYTES, read_bytes, read_path,
};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/inventory").join(name)
}

fn read(name: &str) -> (PathBuf, Inventory) {
    let p = fixture(name);
    let inv = read_path(&p).unwrap_or_else(|e| panic!("{name}: {e}"));
    (p, inv)
}

fn item<'a>(inv: &'a Inventory, id: &str) -> &'a InventoryItem {
    inv.items
        .iter()
        .find(|i| i.id == id)
        .unwrap_or_else(|| panic!("no item {id} in {:#?}", inv.items))
}

fn s(v: &str) -> Option<String> {
    Some(v.to_owned())
}

fn locations(inv: &Inventory) -> Vec<&str> {
    inv.errors.iter().map(|e| e.location.as_str()).collect()
}

/// The Japanese ledger, whatever its encoding.
fn check_japanese_ledger(name: &str) {
    let (p, inv) = read(name);
    let src = format!("ledger:{}", p.display());
    assert_eq!(inv.items.len(), 3, "{:#?}", inv.items);

    let pacs = item(&inv, "A-0001");
    assert_eq!(
        pacs,
        &InventoryItem {
            id: "A-0001".into(),
            name: "PACSサーバ".into(),
            vendor: s("富士フイルム"),
            product: s("SYNAPSE-5"),
            model: s("SYNAPSE-5"),
            version: s("5.7.200"),
            ips: vec!["10.20.1.10".into(), "10.20.1.11".into()],
            mac: s("00:1b:21:0a:bc:de"),
            location: s("サーバ室"),
            department: s("放射線科"),
            internet_facing: Some(false),
            remote_access: Some(true),
            mfa: Some(false),
            ports: vec![104, 443],
            source: src.clone(),
            ..InventoryItem::default()
        }
    );

    let us = item(&inv, "A-0002");
    assert_eq!(us.name, "超音波診断装置");
    assert_eq!(us.vendor.as_deref(), Some("キヤノンメディカル"));
    assert_eq!(us.product, None);
    assert_eq!(us.model, None);
    assert_eq!(
        (us.internet_facing, us.remote_access, us.mfa),
        (Some(false), Some(true), Some(true))
    );
    assert!(us.ports.is_empty() && us.mac.is_none());

    // A bad bool cell keeps the row and names line and column.
    let vpn = item(&inv, "A-0003");
    assert_eq!(vpn.ips, ["10.0.0.1", "203.0.113.5"]);
    assert_eq!(vpn.mac.as_deref(), Some("00:1b:21:0a:bc:df"));
    assert_eq!((vpn.internet_facing, vpn.remote_access, vpn.mfa), (Some(true), Some(true), None));
    assert_eq!(vpn.ports, [443]);

    // A short row (line 6; line 3 is the empty row, skipped) is an error.
    assert_eq!(locations(&inv), ["line 5, column 多要素認証", "line 6"], "{:#?}", inv.errors);
    assert!(inv.errors[0].message.contains("たぶん"));
    assert!(inv.errors[1].message.contains("3 fields"));
    assert!(inv.errors.iter().all(|e| e.file == p));
    // A-0004's row is short: not kept.
    assert!(inv.items.iter().all(|i| i.id != "A-0004"));
}

#[test]
fn ledger_japanese_utf8_with_bom() {
    check_japanese_ledger("ledger_ja_utf8_bom.csv");
}

#[test]
fn ledger_japanese_shift_jis() {
    check_japanese_ledger("ledger_ja_sjis.csv");
}

#[test]
fn ledger_shift_jis_and_utf8_agree() {
    let (_, a) = read("ledger_ja_utf8_bom.csv");
    let (_, b) = read("ledger_ja_sjis.csv");
    let strip = |inv: Inventory| {
        inv.items
            .into_iter()
            .map(|i| InventoryItem { source: String::new(), ..i })
            .collect::<Vec<_>>()
    };
    assert_eq!(strip(a), strip(b));
}

#[test]
fn ledger_english_headers() {
    let (p, inv) = read("ledger_en.csv");
    let vpn = item(&inv, "IT-17");
    assert_eq!(
        vpn,
        &InventoryItem {
            id: "IT-17".into(),
            name: "VPN gateway".into(),
            vendor: s("Fortinet"),
            product: s("FortiOS"),
            model: s("FortiGate-60F"),
            version: s("7.2.5"),
            cpe: s("cpe:2.3:o:fortinet:fortios:7.2.5:*:*:*:*:*:*:*"),
            ips: vec!["10.0.0.1".into()],
            mac: s("00:09:0f:aa:bb:cc"),
            location: s("Server room"),
            department: s("IT"),
            role: s("vpn_gateway"),
            internet_facing: Some(true),
            remote_access: Some(true),
            mfa: Some(false),
            ports: vec![443, 10443],
            source: format!("ledger:{}", p.display()),
            ..InventoryItem::default()
        }
    );
    // No name: the product names it.
    let win = item(&inv, "IT-18");
    assert_eq!(win.name, "Windows Server");
    assert_eq!(
        (win.internet_facing, win.remote_access, win.mfa),
        (Some(false), Some(false), Some(true))
    );
    assert_eq!(win.ports, [3389]);
    // Bad IP, MAC and port cells: the row is kept, the cells left out.
    let nc = item(&inv, "IT-19");
    assert_eq!(nc.product.as_deref(), Some("NFX-2"));
    assert!(nc.ips.is_empty() && nc.mac.is_none() && nc.ports.is_empty());
    assert_eq!(nc.role.as_deref(), Some("nurse_call"));

    assert_eq!(inv.items.len(), 3, "{:#?}", inv.items);
    assert_eq!(
        locations(&inv),
        [
            "line 4, column IP address",
            "line 4, column MAC",
            "line 4, column Ports",
            "line 5",
            "line 7",
        ],
        "{:#?}",
        inv.errors
    );
    assert!(inv.errors[4].message.contains("no name, product or model"));
}

#[test]
fn ledger_tab_separated_with_alternative_headers() {
    let (_, inv) = read("ledger_tab.tsv");
    assert!(inv.errors.is_empty(), "{:#?}", inv.errors);
    assert_eq!(inv.items.len(), 2);
    let lis = item(&inv, "L-1");
    assert_eq!(lis.name, "検体検査システム");
    assert_eq!(lis.vendor.as_deref(), Some("シスメックス"));
    assert_eq!(lis.product.as_deref(), Some("LIS"));
    assert_eq!(lis.model.as_deref(), Some("XN-3100"));
    assert_eq!(lis.version.as_deref(), Some("2.4"));
    assert_eq!(lis.location.as_deref(), Some("検査室"));
    assert_eq!(lis.department.as_deref(), Some("臨床検査科"));
    assert_eq!(lis.ips, ["10.30.0.5"]);
    assert_eq!(lis.mac.as_deref(), Some("00:1b:21:00:00:01"));
    assert_eq!(lis.role.as_deref(), Some("lab"));
    // No asset number: ID from the line; model stands in for the product.
    let pump = item(&inv, "ledger:3");
    assert_eq!(pump.name, "輸液ポンプ");
    assert_eq!(pump.product.as_deref(), Some("TE-171"));
    assert_eq!(pump.role.as_deref(), Some("infusion_pump"));
}

#[test]
fn ledger_without_name_column_is_refused_with_headers() {
    let e = read_path(&fixture("ledger_noname.csv")).unwrap_err();
    assert!(e.message.contains("hostname, ip, owner"), "{e}");
    assert!(e.message.contains("機器名") && e.message.contains("product"), "{e}");
    assert_eq!(e.location, "line 1");
}

#[test]
fn ledger_field_over_cap_is_a_row_error() {
    let big = "x".repeat(inventory::MAX_FIELD_BYTES + 1);
    let text = format!("name,version\nok,1\n{big},2\nalso ok,3\n");
    let inv = read_bytes(Path::new("big.csv"), text.as_bytes()).unwrap();
    assert_eq!(inv.items.iter().map(|i| i.name.as_str()).collect::<Vec<_>>(), ["ok", "also ok"]);
    assert_eq!(locations(&inv), ["line 3, column name"]);
    assert!(inv.errors[0].message.contains("limit"));
}

#[test]
fn ledger_quoted_newline_counts_lines() {
    let text = "name,location\n\"PACS\",\"Server room\nrack 3\"\n\"Modality\",\"CT room\"\nbad,row,extra\n";
    let inv = read_bytes(Path::new("q.csv"), text.as_bytes()).unwrap();
    assert_eq!(inv.items.len(), 2);
    assert_eq!(inv.items[0].location.as_deref(), Some("Server room\nrack 3"));
    assert_eq!(inv.items[1].id, "ledger:4");
    assert_eq!(locations(&inv), ["line 5"]);
}

/// The PACS server SBOM, whatever the CycloneDX version.
fn check_cyclonedx(name: &str) -> Inventory {
    let (p, inv) = read(name);
    let src = format!("cyclonedx:{}", p.display());
    let dev = item(&inv, "pacs-server");
    assert_eq!(
        dev,
        &InventoryItem {
            id: "pacs-server".into(),
            name: "EI-PACS Server".into(),
            vendor: s("Example Imaging KK"),
            product: s("EI-PACS Server"),
            version: s("8.2.1"),
            component_type: s("device"),
            source: src.clone(),
            ..InventoryItem::default()
        }
    );
    let os = item(&inv, "os-windows");
    assert_eq!(os.name, "Windows Server 2019");
    assert_eq!(os.vendor.as_deref(), Some("Microsoft Corporation"));
    assert_eq!(os.version.as_deref(), Some("10.0.17763.5329"));
    assert_eq!(os.component_type.as_deref(), Some("operating-system"));
    assert_eq!(
        os.cpe.as_deref(),
        Some("cpe:2.3:o:microsoft:windows_server_2019:10.0.17763.5329:*:*:*:*:*:*:*")
    );
    assert_eq!(os.parent.as_deref(), Some("pacs-server"));
    let ssh = item(&inv, "pkg:generic/openssh@9.6p1");
    assert_eq!(
        ssh,
        &InventoryItem {
            id: "pkg:generic/openssh@9.6p1".into(),
            name: "OpenSSH".into(),
            vendor: s("OpenBSD"),
            product: s("OpenSSH"),
            version: s("9.6p1"),
            cpe: s("cpe:2.3:a:openbsd:openssh:9.6:p1:*:*:*:*:*:*"),
            purl: s("pkg:generic/openssh@9.6p1"),
            parent: s("pacs-server"),
            component_type: s("application"),
            source: src.clone(),
            ..InventoryItem::default()
        }
    );
    // Nested: parent is still the device.
    let ssl = item(&inv, "openssl");
    assert_eq!((ssl.name.as_str(), ssl.version.as_deref()), ("OpenSSL", Some("3.0.7")));
    assert_eq!(ssl.vendor.as_deref(), Some("OpenSSL Project"));
    assert_eq!(ssl.parent.as_deref(), Some("pacs-server"));
    assert_eq!(ssl.component_type.as_deref(), Some("library"));
    // No bom-ref: the JSON path is the ID.
    let log4j = item(&inv, "$.components[2]");
    assert_eq!(log4j.product.as_deref(), Some("log4j-core"));
    assert_eq!(log4j.version.as_deref(), Some("2.17.1"));
    inv
}

#[test]
fn cyclonedx_1_4() {
    let inv = check_cyclonedx("cyclonedx_1.4.json");
    assert_eq!(inv.items.len(), 5);
    assert!(inv.errors.is_empty(), "{:#?}", inv.errors);
    // group is the vendor only when nothing else is.
    assert_eq!(item(&inv, "$.components[2]").vendor.as_deref(), Some("org.apache.logging.log4j"));
}

#[test]
fn cyclonedx_1_5_bad_records_are_errors_with_paths() {
    let inv = check_cyclonedx("cyclonedx_1.5.json");
    // zlib kept without its (numeric) version; the nameless one skipped.
    let zlib = item(&inv, "$.components[3]");
    assert_eq!((zlib.name.as_str(), zlib.version.as_deref()), ("zlib", None));
    assert_eq!(inv.items.len(), 6);
    assert_eq!(locations(&inv), ["$.components[3].version", "$.components[4].name"]);
    assert!(inv.errors[0].message.contains("expected a string, found a number"));
}

#[test]
fn cyclonedx_1_6_manufacturer_and_authors() {
    let inv = check_cyclonedx("cyclonedx_1.6.json");
    assert!(inv.errors.is_empty(), "{:#?}", inv.errors);
    assert_eq!(item(&inv, "$.components[2]").vendor.as_deref(), Some("Apache Software Foundation"));
}

#[test]
fn cyclonedx_versions() {
    let doc = |v: &str| {
        format!(
            r#"{{"bomFormat":"CycloneDX","specVersion":"{v}","components":[{{"name":"a","version":"1"}}]}}"#
        )
    };
    for ok in ["1.2", "1.3"] {
        let inv = read_bytes(Path::new("x.json"), doc(ok).as_bytes()).unwrap();
        assert_eq!(inv.items.len(), 1);
        assert!(inv.errors.is_empty());
        assert_eq!(inv.items[0].parent, None);
    }
    for bad in ["2.0", "3", "banana"] {
        let e = read_bytes(Path::new("x.json"), doc(bad).as_bytes()).unwrap_err();
        assert_eq!(e.location, "$.specVersion");
        assert!(e.message.contains("1.2-1.6"), "{e}");
    }
}

#[test]
fn spdx_2_3_modality_firmware() {
    let (p, inv) = read("spdx_2.3.json");
    let src = format!("spdx:{}", p.display());
    assert_eq!(inv.items.len(), 4);
    let ct = item(&inv, "SPDXRef-CT");
    assert_eq!(
        ct,
        &InventoryItem {
            id: "SPDXRef-CT".into(),
            name: "ExampleCT 128".into(),
            vendor: s("Example Medical"),
            product: s("ExampleCT 128"),
            version: s("VB20A"),
            component_type: s("device"),
            source: src.clone(),
            ..InventoryItem::default()
        }
    );
    let fw = item(&inv, "SPDXRef-FW");
    assert_eq!(fw.version.as_deref(), Some("4.1.0"));
    assert_eq!(fw.vendor.as_deref(), Some("Example Medical"));
    assert_eq!(fw.component_type.as_deref(), Some("firmware"));
    assert_eq!(fw.parent.as_deref(), Some("SPDXRef-CT"));
    let bb = item(&inv, "SPDXRef-Busybox");
    assert_eq!(
        bb,
        &InventoryItem {
            id: "SPDXRef-Busybox".into(),
            name: "busybox".into(),
            vendor: s("Erik Andersen"),
            product: s("busybox"),
            version: s("1.36.1"),
            cpe: s("cpe:2.3:a:busybox:busybox:1.36.1:*:*:*:*:*:*:*"),
            purl: s("pkg:generic/busybox@1.36.1"),
            parent: s("SPDXRef-CT"),
            source: src,
            ..InventoryItem::default()
        }
    );
    // versionInfo of the wrong type: kept, version dropped, error with path.
    let linux = item(&inv, "SPDXRef-Kernel");
    assert_eq!(linux.version, None);
    assert_eq!(linux.component_type.as_deref(), Some("operating-system"));
    assert_eq!(locations(&inv), ["$.packages[3].versionInfo"]);
}

#[test]
fn spdx_document_describes_and_other_versions() {
    let doc = r#"{"spdxVersion":"SPDX-2.2","documentDescribes":["SPDXRef-B"],
        "packages":[{"SPDXID":"SPDXRef-A","name":"a"},{"SPDXID":"SPDXRef-B","name":"b"},{"SPDXID":"SPDXRef-C"}]}"#;
    let inv = read_bytes(Path::new("s.json"), doc.as_bytes()).unwrap();
    assert_eq!(item(&inv, "SPDXRef-A").parent.as_deref(), Some("SPDXRef-B"));
    assert_eq!(item(&inv, "SPDXRef-B").parent, None);
    assert_eq!(locations(&inv), ["$.packages[2].name"]);
    let e = read_bytes(Path::new("s.json"), br#"{"spdxVersion":"SPDX-3.0","packages":[]}"#)
        .unwrap_err();
    assert_eq!(e.location, "$.spdxVersion");
}

#[test]
fn mds2_csv() {
    let (p, inv) = read("mds2.csv");
    assert_eq!(
        inv.items,
        [InventoryItem {
            id: "mds2:MDS2-MVR".into(),
            name: "Medical Video Recorder (with touchscreen)".into(),
            vendor: s("MediCapture Inc."),
            product: s("MVR435"),
            model: s("MVR435"),
            version: s("2.1.9"),
            remote_access: Some(true),
            mfa: Some(false),
            ports: vec![104, 443, 3333, 3334],
            source: format!("mds2:{}", p.display()),
            ..InventoryItem::default()
        }]
    );
    // Row errors come first, then answer errors.
    assert_eq!(locations(&inv), ["line 13", "line 12, column answer"], "{:#?}", inv.errors);
    assert!(inv.errors[1].message.contains("RMOT-3") && inv.errors[1].message.contains("perhaps"));
}

#[test]
fn mds2_json() {
    let (p, inv) = read("mds2.json");
    assert_eq!(
        inv.items,
        [InventoryItem {
            id: "mds2:MDS2-IM3-2023".into(),
            name: "Infusion pump with wireless drug library updates".into(),
            // device.* wins over DOC-1.
            vendor: s("Example Medical"),
            product: s("InfuseMate 3"),
            model: s("InfuseMate 3"),
            version: s("3.4.1"),
            // RMOT-1 No but RMOT-2 Yes.
            remote_access: Some(true),
            mfa: Some(false),
            ports: vec![443, 8443],
            source: format!("mds2:{}", p.display()),
            ..InventoryItem::default()
        }]
    );
    assert_eq!(locations(&inv), [r#"$.answers["CONN-2"]"#]);
}

#[test]
fn mds2_without_identity_is_refused() {
    let e = read_bytes(Path::new("m.json"), br#"{"answers":{"RMOT-1":"Yes"}}"#).unwrap_err();
    assert!(e.message.contains("DOC-1"), "{e}");
    let inv =
        read_bytes(Path::new("m.json"), br#"{"answers":{"DOC-1":"X","RMOT-1":"No","PAUT-8":7}}"#)
            .unwrap();
    assert_eq!(inv.items[0].remote_access, Some(false));
    assert_eq!(locations(&inv), [r#"$.answers["PAUT-8"]"#]);
}

#[test]
fn sensor_output() {
    let (p, inv) = read("sensor.json");
    assert_eq!(
        inv.items[0],
        InventoryItem {
            id: "mac:00:1b:21:0a:bc:de".into(),
            name: "PACS01".into(),
            vendor: s("Example Imaging"),
            product: s("EI-PACS"),
            version: s("8.2.1"),
            ips: vec!["10.20.1.10".into()],
            mac: s("00:1b:21:0a:bc:de"),
            role: s("pacs"),
            source: format!("sensor:{}", p.display()),
            ..InventoryItem::default()
        }
    );
    let client = item(&inv, "ip:10.20.1.50");
    assert_eq!(client.name, "10.20.1.50");
    assert_eq!(
        (client.vendor.as_deref(), client.mac.as_deref(), client.role.as_deref()),
        (None, None, None)
    );
    let us = item(&inv, "ip:10.20.1.60");
    assert_eq!((us.name.as_str(), us.vendor.as_deref()), ("US-3", None));
    assert_eq!(inv.items.len(), 3);
    assert_eq!(locations(&inv), ["$.assets[2].vendor", "$.assets[3]"]);
}

#[test]
fn sensor_bare_array() {
    let (_, inv) = read("sensor_array.json");
    assert_eq!(inv.items.len(), 2);
    assert!(inv.errors.is_empty());
    assert_eq!(inv.items[0].role.as_deref(), Some("pacs"));
}

#[test]
fn sensor_output_of_the_real_serializer_shape() {
    // The field names of sekimori-sensor's Asset, as serialised.
    let doc = r#"{"flows":[],"assets":[{"id":"ip:10.0.0.9","ip":"10.0.0.9","ips":["10.0.0.9","fe80::1"],
        "mac":null,"names":[],"vendor":null,"product":null,"version":null,"mac_vendor":null,
        "protocols":[],"protocols_as_client":[],"protocols_as_server":[],"first_seen":null,
        "last_seen":null,"role":null,"role_basis":null,"local":true,"facts":[]}],"alerts":[]}"#;
    let inv = read_bytes(Path::new("a.json"), doc.as_bytes()).unwrap();
    assert_eq!(inv.items[0].ips, ["10.0.0.9", "fe80::1"]);
    assert!(inv.errors.is_empty());
}

#[test]
fn unknown_format_lists_accepted_formats() {
    for bytes in [&b"{\"hello\":1}"[..], b"\x00\x01\x02\xff\xfe\xfd binary", b"42", b"   "] {
        let e = read_bytes(Path::new("u"), bytes).unwrap_err();
        assert!(e.message.contains("CycloneDX") && e.message.contains("SPDX"), "{e}");
        assert!(e.message.contains("MDS2") && e.message.contains("ledger"), "{e}");
        assert_eq!(e.file, Path::new("u"));
    }
}

#[test]
fn malformed_json_names_line() {
    let e =
        read_bytes(Path::new("m.json"), b"{\n\"bomFormat\": \"CycloneDX\",\n oops}").unwrap_err();
    assert_eq!(e.location, "line 3, column 2");
    assert!(e.message.contains("malformed JSON"));
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let e = read_bytes(Path::new("deep.json"), deep.as_bytes()).unwrap_err();
    assert!(e.message.contains("recursion limit"), "{e}");
    // Deep but legal nesting of CycloneDX components is read.
    let mut comp = r#"{"name":"leaf"}"#.to_owned();
    for i in 0..40 {
        comp = format!(r#"{{"name":"c{i}","components":[{comp}]}}"#);
    }
    let doc = format!(r#"{{"bomFormat":"CycloneDX","specVersion":"1.5","components":[{comp}]}}"#);
    let inv = read_bytes(Path::new("d.json"), doc.as_bytes()).unwrap();
    assert_eq!(inv.items.len(), 41);
}

#[test]
fn wrong_json_types_everywhere() {
    let docs: &[&[u8]] = &[
        br#"{"bomFormat":"CycloneDX","specVersion":"1.6","metadata":[],"components":{"a":1}}"#,
        br#"{"bomFormat":"CycloneDX","specVersion":1.6}"#,
        br#"{"bomFormat":7}"#,
        br#"{"bomFormat":"CycloneDX","specVersion":"1.6","components":[null,1,"x",[],{"name":{}},{"name":"ok","supplier":"Acme","bom-ref":5}]}"#,
        br#"{"spdxVersion":"SPDX-2.3","packages":[{"name":"p","externalRefs":"x","supplier":1}],"relationships":{"a":1},"documentDescribes":[1]}"#,
        br#"{"spdxVersion":2}"#,
        br#"{"answers":[]}"#,
        br#"{"answers":{"DOC-1":["x"]},"device":{"model":3,"ports":[-1,70000,"x"]}}"#,
        br#"{"assets":{"a":1}}"#,
        br#"[1,null,{"names":"x","ips":[1],"mac":"nope"}]"#,
    ];
    for d in docs {
        // Must not panic; either outcome is fine, errors must be located.
        match read_bytes(Path::new("t.json"), d) {
            Ok(inv) => assert!(inv.errors.iter().all(|e| e.location.starts_with('$'))),
            Err(e) => assert!(!e.message.is_empty()),
        }
    }
    let inv = read_bytes(Path::new("t.json"), docs[3]).unwrap();
    assert_eq!(inv.items.len(), 1);
    assert_eq!(
        locations(&inv),
        [
            "$.components[0]",
            "$.components[1]",
            "$.components[2]",
            "$.components[3]",
            "$.components[4].name",
            "$.components[5].bom-ref",
            "$.components[5].supplier",
        ]
    );
}

#[test]
fn file_size_cap() {
    let big = vec![b' '; MAX_FILE_BYTES as usize + 1];
    let e = read_bytes(Path::new("big.csv"), &big).unwrap_err();
    assert!(
        e.message.contains(&format!("{}", MAX_FILE_BYTES + 1)) && e.message.contains("64 MiB"),
        "{e}"
    );

    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("huge.csv");
    let f = std::fs::File::create(&p).unwrap();
    f.set_len(MAX_FILE_BYTES + 10).unwrap();
    let e = read_path(&p).unwrap_err();
    assert_eq!(e.file, p);
    assert!(e.message.contains("64 MiB"), "{e}");

    let e = read_path(&dir.path().join("missing.csv")).unwrap_err();
    assert!(e.message.contains("cannot open"));
}

#[test]
fn invalid_text_encoding_is_refused() {
    // Bytes that are neither UTF-8 nor Shift_JIS.
    let e = read_bytes(Path::new("x.csv"), b"name,ver\n\x80\xa0\xfd,1\n").unwrap_err();
    assert!(e.message.contains("Shift_JIS"), "{e}");
}

#[test]
fn utf16_excel_unicode_text() {
    let text = "機器名\tバージョン\r\n心電計\t1.0\r\n";
    let mut bytes = vec![0xFF, 0xFE];
    for u in text.encode_utf16() {
        bytes.extend(u.to_le_bytes());
    }
    let inv = read_bytes(Path::new("u16.txt"), &bytes).unwrap();
    assert_eq!(inv.items[0].name, "心電計");
    assert_eq!(inv.items[0].version.as_deref(), Some("1.0"));
}

mod hostile {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = read_bytes(Path::new("fuzz"), &bytes);
        }

        #[test]
        fn arbitrary_ledger_rows_never_panic(rows in proptest::collection::vec("[a-zA-Z0-9,\"\t ;:/.はい×-]{0,40}", 0..20)) {
            let text = format!("機器名,IP,MAC,ポート,MFA\n{}", rows.join("\n"));
            let inv = read_bytes(Path::new("fuzz.csv"), text.as_bytes()).unwrap();
            prop_assert!(inv.errors.iter().all(|e| e.location.starts_with("line ")));
        }
    }
}
