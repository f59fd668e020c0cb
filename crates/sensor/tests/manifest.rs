//! The acceptance test over the shared captures: for every row of
//! `testdata/pcaps/MANIFEST.md`, the protocol it names is identified and
//! the identity fields its "what it shows" column lists are extracted —
//! on flows (`app`, `facts`) and on assets (`names`, `vendor`, `product`,
//! `version`, `role`, facts, protocols). Expected values are written out
//! here, each cross-checked with tshark on the same file.
//!
//! Every miss of every capture is collected, then reported at once.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use sekimori_sensor::{Analysis, Asset, Options, analyze_file};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/pcaps")
}

/// What a capture must show.
#[derive(Clone, Copy, Debug)]
enum Want {
    /// Some flow is identified as this app.
    App(&'static str),
    /// Some flow identified as `app` carries the fact `key` = `value`.
    Fact(&'static str, &'static str, &'static str),
    /// The asset with this IP (or MAC, `aa:bb:…`) has `field` = `value`.
    Asset(&'static str, Field, &'static str),
    /// This many flows were imported from flow records in the capture
    /// (NetFlow/IPFIX export packets decoded).
    Imported(u64),
}

#[derive(Clone, Copy, Debug)]
enum Field {
    Name,
    Vendor,
    Product,
    Version,
    Role,
    Protocol,
    /// A fact in the asset's facts, by key.
    Fact(&'static str),
}

use Field::*;
use Want::{App as app, Asset as asset, Fact as fact, Imported as imported};

/// The table: every capture of the manifest, with what it must show.
const CASES: &[(&str, &[Want])] = &[
    (
        // tshark: isakmp.exchangetype 2 (main) then 32 (quick);
        // isakmp.vid_string on frame 2 lists "Fortigate (Fortinet)".
        "arkime_ikev1.pcap",
        &[
            app("ike"),
            app("esp"),
            fact("ike", "ike.version", "IKEv1"),
            fact("ike", "ike.exchange", "Identity Protection (Main Mode)"),
            fact("ike", "ike.vendor_id", "Fortigate (Fortinet)"),
            fact("ike", "ike.vendor_id", "Cisco Fragmentation"),
            fact("ike", "ike.vendor_id", "RFC 3706 DPD (Dead Peer Detection)"),
            asset("2003:51:6012::4", Vendor, "Fortinet"),
            asset("2003:51:6012::4", Role, "vpn-gateway"),
            asset("2003:51:6012::2", Role, "remote-access-client"),
        ],
    ),
    (
        // tshark: nbns.name MDJR98<00>, WORKGROUP<00>; browser.server MDJR98.
        "arkime_nbns.pcap",
        &[
            app("nbns"),
            app("netbios-dgm"),
            fact("netbios-dgm", "netbios_name", "MDJR98"),
            asset("192.168.239.129", Name, "MDJR98"),
            asset("192.168.239.129", Fact("domain"), "WORKGROUP"),
        ],
    ),
    (
        // tshark: DISCOVER/OFFER/REQUEST/ACK, dhcp.ip.your 192.168.0.10,
        // dhcp.option.dhcp_server_id 192.168.0.1, option 55 1,3,6,42.
        "arkime_wireshark_dhcp.pcap",
        &[
            app("dhcp"),
            asset("00:0b:82:01:fc:42", Fact("dhcp.assigned_ip"), "192.168.0.10"),
            asset("192.168.0.10", Fact("dhcp.parameter_list"), "1,3,6,42"),
            asset("192.168.0.10", Fact("dhcp.client_id"), "01:00:0b:82:01:fc:42"),
            asset("192.168.0.10", Fact("dhcp.server_id"), "192.168.0.1"),
            asset("192.168.0.1", Role, "dhcp-server"),
        ],
    ),
    (
        // tshark: lldp.tlv.system.name Summit300-48, system description
        // "Summit300-48 - Version 7.4e.1 (Build 5) …" from 00:01:30:f9:ad:a0.
        "arkime_wireshark_lldp.pcap",
        &[
            asset("00:01:30:f9:ad:a0", Protocol, "lldp"),
            asset("00:01:30:f9:ad:a0", Name, "Summit300-48"),
            asset("00:01:30:f9:ad:a0", Vendor, "Extreme Networks"),
            asset("00:01:30:f9:ad:a0", Product, "Summit300-48"),
            asset("00:01:30:f9:ad:a0", Version, "7.4e.1"),
            asset("00:01:30:f9:ad:a0", Role, "network-device"),
            // The HP ProCurve's LLDP names its chassis MAC.
            asset("00:13:21:57:ca:40", Name, "ProCurve Switch 2600-8-PWR"),
        ],
    ),
    (
        // tshark: dicom.assoc.item.calling_ae / called_ae, dicom.info.version.
        "gen_dicom_echo_store_find.pcap",
        &[
            app("dicom"),
            fact("dicom", "dicom.calling_ae", "CT_SCANNER_01"),
            fact("dicom", "dicom.called_ae", "PACS_MAIN"),
            fact("dicom", "dicom.implementation_version", "PYNETDICOM_304"),
            fact("dicom", "dicom.sop_class", "CT Image Storage (1.2.840.10008.5.1.4.1.1.2)"),
            asset("10.20.5.31", Name, "CT_SCANNER_01"),
            asset("10.20.5.31", Role, "modality-or-workstation"),
            asset("10.20.1.10", Name, "PACS_MAIN"),
            asset("10.20.1.10", Role, "pacs-or-modality"),
            asset("10.20.1.10", Fact("dicom.implementation_version"), "PYNETDICOM_304"),
        ],
    ),
    (
        // tshark: hl7.msh.sending_app / sending_facility / message type.
        "gen_hl7_mllp_adt_oru.pcap",
        &[
            app("hl7"),
            fact("hl7", "hl7.sending_application", "MONITOR_GW"),
            fact("hl7", "hl7.sending_facility", "ICU3"),
            fact("hl7", "hl7.sending_application", "NURSECALL"),
            fact("hl7", "hl7.sending_facility", "WARD5"),
            fact("hl7", "hl7.message_type", "ADT^A01"),
            fact("hl7", "hl7.message_type", "ORU^R01"),
            fact("hl7", "hl7.version", "2.5"),
            asset("10.20.7.44", Fact("hl7.sending_application"), "MONITOR_GW"),
            asset("10.20.7.44", Fact("hl7.sending_application"), "NURSECALL"),
            asset("10.20.7.44", Fact("hl7.sending_facility"), "WARD5"),
            asset("10.20.7.44", Role, "hl7-interface"),
            asset("10.20.7.44", Protocol, "hl7"),
            asset("10.20.1.20", Fact("hl7.sending_application"), "EHR_ADT"),
            asset("10.20.1.20", Role, "hl7-interface"),
        ],
    ),
    (
        // tshark -d udp.port==4739,cflow: IPFIX, observation domain 0,
        // 32 data records over the two packets.
        "gen_ipfix_softflowd_export.pcap",
        &[
            app("ipfix"),
            fact("ipfix", "flow.exporter", "ipfix domain 0"),
            asset("10.20.0.5", Protocol, "ipfix"),
            imported(32),
        ],
    ),
    (
        // tshark: DTLS 1.0 pre-standard (0x0100) on udp/443 to
        // 8.37.102.91 alongside TLS on tcp/443; mDNS/SSDP/NBNS chatter.
        "ndpi_anyconnect_vpn.pcap",
        &[
            app("anyconnect"),
            app("tls"),
            app("dns"),
            app("mdns"),
            app("ssdp"),
            app("nbns"),
            app("http"),
            fact("anyconnect", "tls.version", "DTLS 0x0100 (Cisco pre-standard)"),
            // The TCP control channel to the same head-end is AnyConnect too.
            fact(
                "anyconnect",
                "tls.cert_subject",
                "C=US, ST=California, L=Carlsbad, O=Viasat Inc., CN=*.pandion.viasat.com",
            ),
            fact("anyconnect", "tls.cert_cn", "lp-rkerur-osx"),
            asset("8.37.102.91", Role, "vpn-gateway"),
            asset("8.37.102.91", Name, "vco.pandion.viasat.com"),
            asset("10.0.0.227", Role, "remote-access-client"),
            asset("10.0.0.227", Name, "LP-RKERUR-OSX"),
            asset("10.0.0.227", Name, "nDPI.local"),
            asset("10.0.0.227", Product, "MacBookPro11,1"),
            asset("10.0.0.227", Vendor, "Apple"),
            asset(
                "10.0.0.227",
                Fact("dns_sd.instance"),
                "LP-RKERUR-OSX (9)._companion-link._tcp.local",
            ),
            asset("10.0.0.227", Fact("user_agent"), "Google Chrome/77.0.3865.90 Mac OS X"),
            asset("10.0.0.151", Product, "Roku"),
            asset("10.0.0.151", Version, "9.1.0"),
            asset("10.0.0.149", Name, "79d88e83-725c-b71b-bad0-5862d5b22386.local"),
        ],
    ),
    (
        // tshark: bacapp I-Am from 204.172.177.255, device instance
        // 4194303, vendor identifier 260.
        "ndpi_bacnet.pcap",
        &[
            app("bacnet"),
            fact("bacnet", "bacnet.device_instance", "4194303"),
            fact("bacnet", "bacnet.vendor_id", "260 (BACnet Stack at SourceForge)"),
            asset("90.147.69.219", Role, "building-automation"),
        ],
    ),
    (
        // tshark: x509sat CN=FWF60E4Q16012050, OU=FortiGate, O=Fortinet.
        "ndpi_forticlient.pcap",
        &[
            app("forti-sslvpn"),
            fact("forti-sslvpn", "tls.cert_cn", "FWF60E4Q16012050"),
            fact("forti-sslvpn", "serial", "FWF60E4Q16012050"),
            fact("forti-sslvpn", "tls.sni", "82.81.46.13"),
            asset("82.81.46.13", Vendor, "Fortinet"),
            asset("82.81.46.13", Product, "FortiGate"),
            asset("82.81.46.13", Fact("serial"), "FWF60E4Q16012050"),
            asset("82.81.46.13", Role, "vpn-gateway"),
            asset("192.168.1.178", Role, "remote-access-client"),
        ],
    ),
    (
        // tshark: http.user_agent (reassembled over two segments), http.host.
        "ndpi_http_user_agent.pcapng",
        &[
            app("http"),
            fact("http", "http.host", "va.origin.startappservice.com"),
            fact(
                "http",
                "http.user_agent",
                "Mozilla/5.0 (Linux; Android 6.0.1; SM-T805 Build/MMB29K; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/61.0.3163.98 Safari/537.36",
            ),
            asset("66.152.103.45", Role, "web-server"),
        ],
    ),
    (
        // tshark: isakmp.exchangetype 34 (IKE_SA_INIT), 35, 37; udpencap.
        "ndpi_ipsec_isakmp_esp.pcap",
        &[
            app("ike"),
            fact("ike", "ike.version", "IKEv2"),
            fact("ike", "ike.exchange", "IKE_SA_INIT"),
            asset("109.237.187.193", Role, "vpn-gateway"),
            asset("192.168.2.100", Role, "remote-access-client"),
        ],
    ),
    (
        // tshark -d udp.port==2057,cflow: NetFlow v9, source id 1.
        "ndpi_netflowv9.pcap",
        &[
            app("netflow-v9"),
            fact("netflow-v9", "flow.exporter", "netflow-v9 source 1"),
            asset("192.168.2.134", Role, "flow-exporter"),
            asset("192.168.2.222", Role, "flow-collector"),
        ],
    ),
    (
        // tshark: openvpn.opcode P_CONTROL_HARD_RESET_CLIENT_V2 over UDP
        // 1194 and TCP 1194/443.
        "ndpi_openvpn.pcap",
        &[
            app("openvpn"),
            fact("openvpn", "openvpn.opcode", "P_CONTROL_HARD_RESET_CLIENT_V2"),
            asset("10.251.71.30", Role, "vpn-gateway"),
            asset("46.101.231.218", Role, "vpn-gateway"),
            asset("10.181.235.122", Role, "remote-access-client"),
        ],
    ),
    (
        // tshark: ssdp USER-AGENT in the M-SEARCH.
        "ndpi_ssdp_m_search_ua.pcap",
        &[
            app("ssdp"),
            fact("ssdp", "user_agent", "Google Chrome/99.0.4844.74 Mac OS X"),
            asset("192.168.242.50", Fact("user_agent"), "Google Chrome/99.0.4844.74 Mac OS X"),
        ],
    ),
    (
        // tshark: syslog.hostname; a FortiGate's devname/devid.
        "ndpi_syslog.pcap",
        &[
            app("syslog"),
            fact("syslog", "hostname", "nb6"),
            fact("syslog", "hostname", "pfSense.localdomain"),
            asset("10.251.23.139", Name, "nb6"),
            asset("10.94.232.21", Name, "NDC3CLNDMVA22"),
            asset("10.11.105.154", Name, "ATMFLJQABIL-UT-83"),
            asset("10.11.105.154", Vendor, "Fortinet"),
            asset("10.11.105.154", Fact("serial"), "FGT61ETK19009449"),
            asset("10.94.150.21", Role, "syslog-collector"),
        ],
    ),
    (
        // nDPI: TeamViewer on tcp/5938 and udp.
        "ndpi_teamviewer.pcap",
        &[
            app("teamviewer"),
            asset("10.0.2.15", Role, "remote-access-client"),
            asset("162.250.2.170", Protocol, "teamviewer"),
        ],
    ),
    (
        // tshark: vnc.server_proto_ver / client_proto_ver 004.001.
        "ndpi_vnc.pcap",
        &[
            app("vnc"),
            fact("vnc", "vnc.version", "004.001"),
            asset("192.168.2.110", Role, "managed-host"),
            asset("192.168.2.110", Product, "VNC"),
        ],
    ),
    (
        // tshark: wg.type 1/2 (handshake initiation/response), 4 (data).
        "ndpi_wireguard.pcap",
        &[
            app("wireguard"),
            asset("139.162.192.157", Role, "vpn-gateway"),
            asset("10.9.0.2", Role, "vpn-gateway"),
            asset("192.168.0.14", Role, "remote-access-client"),
        ],
    ),
    (
        // tshark: dhcp.option.vendor_class_id "MSFT 5.0", hostname
        // NicksMacBook, option 55.
        "sv_dhcp_option60_vendor_class.pcap",
        &[
            app("dhcp"),
            asset("28:cf:da:dc:8d:76", Name, "NicksMacBook"),
            asset("28:cf:da:dc:8d:76", Fact("dhcp.vendor_class"), "MSFT 5.0"),
            asset(
                "28:cf:da:dc:8d:76",
                Fact("dhcp.parameter_list"),
                "1,15,3,6,44,46,47,31,33,121,249,43",
            ),
            asset("28:cf:da:dc:8d:76", Fact("dhcp.requested_ip"), "192.168.1.111"),
            asset("28:cf:da:dc:8d:76", Vendor, "Apple"),
        ],
    ),
    (
        // suricata-verify's ja4-tls test expects this JA4 (its README).
        "sv_ja4_tls.pcap",
        &[
            app("tls"),
            fact("tls", "tls.ja4", "t12i1810s1_27d4652c4487_06a4338d0495"),
            fact("tls", "tls.alpn", "spdy/3.1"),
            fact("tls", "tls.cert_cn", "SELKS"),
            asset("192.168.56.101", Vendor, "Stamus"),
            asset("192.168.56.101", Role, "web-server"),
        ],
    ),
    (
        // tshark: cdp.deviceid R1, cdp.platform "cisco 1601", IOS 11.2(12)P.
        "zeek_cdp_v1.pcap",
        &[
            asset("00:e0:1e:d5:d5:15", Protocol, "cdp"),
            asset("00:e0:1e:d5:d5:15", Name, "R1"),
            asset("00:e0:1e:d5:d5:15", Product, "cisco 1601"),
            asset("00:e0:1e:d5:d5:15", Vendor, "Cisco"),
            asset("00:e0:1e:d5:d5:15", Version, "11.2(12)P"),
            asset("00:e0:1e:d5:d5:15", Role, "network-device"),
        ],
    ),
    (
        // tshark: hostname btest.is.cool; ACK (frame 6) yiaddr 128.2.6.189
        // from server id 128.2.6.152; the DISCOVER asked for 192.168.211.194.
        "zeek_dhcp.pcap",
        &[
            app("dhcp"),
            asset("90:b1:1c:99:49:29", Name, "btest.is.cool"),
            asset("128.2.6.189", Name, "btest.is.cool"),
            asset("128.2.6.189", Fact("dhcp.assigned_ip"), "128.2.6.189"),
            asset("128.2.6.189", Fact("dhcp.server_id"), "128.2.6.152"),
            asset("128.2.6.152", Role, "dhcp-server"),
        ],
    ),
    (
        // tshark: mdns answers johanna-QEMU-Virtual-Machine.local.
        "zeek_mdns.pcap",
        &[
            app("mdns"),
            fact("mdns", "dns_name", "johanna-QEMU-Virtual-Machine.local"),
            asset("10.0.2.7", Name, "johanna-QEMU-Virtual-Machine.local"),
        ],
    ),
    (
        // tshark: rdp.rt_cookie "Cookie: mstshash=FTBCO\A70",
        // t124 clientName FROG-POND, clientBuild 6000.
        "zeek_rdp_proprietary_encryption.pcap",
        &[
            app("rdp"),
            fact("rdp", "rdp.cookie", "FTBCO\\A70"),
            fact("rdp", "rdp.client_name", "FROG-POND"),
            fact("rdp", "rdp.client_build", "6000"),
            asset("172.21.128.16", Name, "FROG-POND"),
            asset("10.226.24.52", Role, "managed-host"),
        ],
    ),
    (
        // tshark: smb2.dialect 0x0202; ntlmssp.auth.hostname SERVER01,
        // domain CONTOSO, user Administrator; challenge target info
        // SERVER002 / SERVER002.contoso.com; version 6.0 build 6001.
        "zeek_smb2.pcap",
        &[
            app("smb"),
            fact("smb", "smb.dialect", "SMB 2.0.2"),
            fact("smb", "ntlm.host", "SERVER01"),
            fact("smb", "ntlm.domain", "CONTOSO"),
            fact("smb", "ntlm.user", "Administrator"),
            asset("10.0.0.11", Name, "SERVER01"),
            asset("10.0.0.12", Name, "SERVER002"),
            asset("10.0.0.12", Name, "SERVER002.contoso.com"),
            asset("10.0.0.12", Fact("os_version"), "6.0.6001"),
            asset("10.0.0.12", Fact("domain"), "CONTOSO"),
            asset("10.0.0.12", Role, "file-server"),
        ],
    ),
    (
        // tshark: ssh.kex.hassh ae8bd7dd…, ssh.kex.hasshserver 3ccd1778…;
        // ssh.protocol SSH-1.5-OpenSSH_6.6 on port 2222.
        "zeek_ssh1_ssh2_fingerprints.pcap",
        &[
            app("ssh"),
            fact("ssh", "ssh.client", "SSH-2.0-OpenSSH_8.2p1 Ubuntu-4ubuntu0.1"),
            fact("ssh", "ssh.hassh", "ae8bd7dd09970555aa4c6ed22adbbf56"),
            fact("ssh", "ssh.hassh_server", "3ccd1778a76049721c71ad7d2bf62bbc"),
            fact("ssh", "ssh.server", "SSH-1.5-OpenSSH_6.6"),
            asset("127.0.0.1", Product, "OpenSSH"),
            asset("127.0.0.1", Role, "managed-host"),
        ],
    ),
    (
        // tshark: SNI ssl.gstatic.com, extensions 0,65281,10,11,35,13172
        // (NPN, no ALPN); certificate CN=*.gstatic.com, O=Google Inc.
        "zeek_tls_conn_with_extensions.pcap",
        &[
            app("tls"),
            fact("tls", "tls.sni", "ssl.gstatic.com"),
            fact("tls", "tls.version", "TLS 1.0"),
            fact("tls", "tls.ja4", "t10d360600_b06c425f59b5_eb0e26099a3f"),
            fact("tls", "tls.cert_cn", "*.gstatic.com"),
            asset("74.125.224.79", Vendor, "Google Inc"),
            asset("74.125.224.79", Role, "web-server"),
        ],
    ),
];

/// The capture file names in the manifest's table.
fn manifest_files() -> BTreeSet<String> {
    let text = std::fs::read_to_string(dir().join("MANIFEST.md")).unwrap_or_default();
    text.lines()
        .filter_map(|l| l.strip_prefix("| "))
        .filter_map(|l| l.split(" |").next())
        .filter(|f| f.ends_with(".pcap") || f.ends_with(".pcapng"))
        .map(str::to_owned)
        .collect()
}

fn find_asset<'a>(a: &'a Analysis, who: &str) -> Option<&'a Asset> {
    match who.parse::<IpAddr>() {
        Ok(ip) => a.assets.iter().find(|x| x.ips.contains(&ip)),
        Err(_) => a.assets.iter().find(|x| x.mac.is_some_and(|m| m.to_string() == who)),
    }
}

/// Why `want` does not hold in `a`, if it does not.
fn miss(a: &Analysis, want: &Want) -> Option<String> {
    match *want {
        Want::App(name) => (!a.flows.iter().any(|f| f.app.is_some_and(|x| x.as_str() == name)))
            .then(|| format!("no flow identified as {name}")),
        Want::Fact(name, key, value) => {
            let flows: Vec<_> =
                a.flows.iter().filter(|f| f.app.is_some_and(|x| x.as_str() == name)).collect();
            let found = flows
                .iter()
                .any(|f| f.facts.iter().any(|x| x.key.as_str() == key && x.value == value));
            (!found).then(|| {
                let seen: BTreeSet<&str> = flows
                    .iter()
                    .flat_map(|f| f.facts.iter())
                    .filter(|x| x.key.as_str() == key)
                    .map(|x| x.value.as_str())
                    .collect();
                format!("no {name} flow with {key} = {value:?} (seen: {seen:?})")
            })
        }
        Want::Asset(who, field, value) => {
            let Some(x) = find_asset(a, who) else {
                return Some(format!("no asset {who}"));
            };
            let values: Vec<String> = match field {
                Field::Name => x.names.clone(),
                Field::Vendor => x.vendor.clone().into_iter().collect(),
                Field::Product => x.product.clone().into_iter().collect(),
                Field::Version => x.version.clone().into_iter().collect(),
                Field::Role => x.role.map(str::to_owned).into_iter().collect(),
                Field::Protocol => x.protocols.iter().map(|p| p.as_str().to_owned()).collect(),
                Field::Fact(key) => x
                    .facts
                    .iter()
                    .filter(|kv| kv.key.as_str() == key)
                    .map(|kv| kv.value.clone())
                    .collect(),
            };
            (!values.iter().any(|v| v == value))
                .then(|| format!("asset {who}: {field:?} is {values:?}, want {value:?}"))
        }
        Want::Imported(n) => (a.stats.imported_flows != n)
            .then(|| format!("{} flows imported, want {n}", a.stats.imported_flows)),
    }
}

#[test]
fn the_table_covers_every_capture_of_the_manifest() {
    let listed = manifest_files();
    assert_eq!(listed.len(), 28, "{listed:?}");
    let tested: BTreeSet<String> = CASES.iter().map(|(f, _)| (*f).to_owned()).collect();
    assert_eq!(tested, listed);
    for f in &listed {
        assert!(dir().join(f).is_file(), "{f} is in the manifest but not in testdata/pcaps");
    }
}

#[test]
fn every_capture_shows_what_the_manifest_says() {
    let mut misses = Vec::new();
    for (file, wants) in CASES {
        let a = match analyze_file(dir().join(file), &Options::default()) {
            Ok(a) => a,
            Err(e) => {
                misses.push(format!("{file}: {e}"));
                continue;
            }
        };
        for w in *wants {
            if let Some(m) = miss(&a, w) {
                misses.push(format!("{file}: {m}"));
            }
        }
    }
    assert!(misses.is_empty(), "{} misses:\n{}", misses.len(), misses.join("\n"));
}

/// A check that cannot pass must fail: the table is not vacuous.
#[test]
fn a_wrong_expectation_is_reported() {
    let a = analyze_file(dir().join("zeek_cdp_v1.pcap"), &Options::default())
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(miss(&a, &asset("00:e0:1e:d5:d5:15", Name, "R2")).is_some());
    assert!(miss(&a, &asset("00:e0:1e:d5:d5:15", Name, "R1")).is_none());
    assert!(miss(&a, &app("cdp")).is_some(), "CDP is a frame, not a flow");
    assert!(miss(&a, &imported(1)).is_some());
}
