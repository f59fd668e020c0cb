//! The simulated hospital: its servers, modalities, HL7 senders,
//! workstations, the vendor VPN box, and the internet services they talk
//! to. Addresses are in 10.20.0.0/16; internet hosts are in the
//! documentation ranges (198.51.100.0/24, 203.0.113.0/24). MAC prefixes are
//! real vendors' OUIs, so the sensor names vendors as it would on a real
//! network.

use crate::rng::Rng;

/// What a host is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Router,
    /// DNS and DHCP server (a domain controller).
    Dc,
    Pacs,
    /// The HL7 interface engine that receives the feeds.
    HisEngine,
    FileServer,
    TermServer,
    AppServer,
    /// The vendor's site-to-site VPN box (a FortiGate).
    VpnBox,
    /// An imaging modality (index into [`MODALITIES`]).
    Modality(usize),
    /// An HL7 feed (index into [`HL7_FEEDS`]).
    Hl7Sender(usize),
    Workstation {
        admin: bool,
    },
    /// An internet service (index into [`INTERNET`]).
    Internet(usize),
}

/// One host.
#[derive(Clone, Debug)]
pub struct Host {
    pub ip: [u8; 4],
    /// Its MAC; for internet hosts, the router's (the next hop).
    pub mac: [u8; 6],
    pub name: String,
    pub role: Role,
    pub ttl: u8,
    pub vendor_class: &'static str,
    /// DICOM AE title (modalities and the PACS).
    pub ae: String,
    ip_id: u16,
    next_port: u16,
}

impl Host {
    /// The next IPv4 identification of this host.
    pub fn ip_id(&mut self) -> u16 {
        self.ip_id = self.ip_id.wrapping_add(1);
        self.ip_id
    }

    /// The next ephemeral port (49152–65535, cycling).
    pub fn port(&mut self) -> u16 {
        self.next_port = if self.next_port == u16::MAX { 49_152 } else { self.next_port + 1 };
        self.next_port
    }

    /// Whether DHCP configures it.
    pub fn dhcp(&self) -> bool {
        matches!(self.role, Role::Workstation { .. } | Role::Modality(_) | Role::Hl7Sender(_))
    }
}

/// An imaging modality type.
#[derive(Clone, Copy, Debug)]
pub struct Modality {
    pub code: &'static str,
    pub ae_prefix: &'static str,
    pub host_prefix: &'static str,
    pub sop_class: &'static str,
    /// Bytes of pixel data per image, and images per study.
    pub image_bytes: (u64, u64),
    pub images: (u64, u64),
    pub oui: [u8; 3],
    pub impl_version: &'static str,
}

/// Modality types, assigned in turn.
pub const MODALITIES: &[Modality] = &[
    Modality {
        code: "CT",
        ae_prefix: "CT_SCANNER_",
        host_prefix: "ct-scanner-",
        sop_class: "1.2.840.10008.5.1.4.1.1.2",
        image_bytes: (524_288, 524_288),
        images: (20, 120),
        oui: [0x00, 0x0e, 0x8c],
        impl_version: "SYNTH_CT_VA40",
    },
    Modality {
        code: "US",
        ae_prefix: "US_ER_",
        host_prefix: "us-er-",
        sop_class: "1.2.840.10008.5.1.4.1.1.6.1",
        image_bytes: (200_000, 800_000),
        images: (5, 40),
        oui: [0x44, 0x4b, 0x5d],
        impl_version: "SYNTH_US_3.2",
    },
    Modality {
        code: "MR",
        ae_prefix: "MR_3T_",
        host_prefix: "mr-3t-",
        sop_class: "1.2.840.10008.5.1.4.1.1.4",
        image_bytes: (131_072, 131_072),
        images: (30, 150),
        oui: [0x00, 0x0e, 0x8c],
        impl_version: "SYNTH_MR_XA20",
    },
    Modality {
        code: "DX",
        ae_prefix: "DX_WARD_",
        host_prefix: "dx-ward-",
        sop_class: "1.2.840.10008.5.1.4.1.1.1.1",
        image_bytes: (4_000_000, 12_000_000),
        images: (1, 3),
        oui: [0x08, 0x00, 0x37],
        impl_version: "SYNTH_DX_5.1",
    },
    Modality {
        code: "NM",
        ae_prefix: "NM_CAMERA_",
        host_prefix: "nm-camera-",
        sop_class: "1.2.840.10008.5.1.4.1.1.20",
        image_bytes: (65_536, 262_144),
        images: (10, 60),
        oui: [0x44, 0x4b, 0x5d],
        impl_version: "SYNTH_NM_2.0",
    },
];

/// An HL7 feed: sending application and facility, message type, MAC OUI.
#[derive(Clone, Copy, Debug)]
pub struct Hl7Feed {
    pub app: &'static str,
    pub facility: &'static str,
    pub kind: &'static str,
    pub host_prefix: &'static str,
    pub oui: [u8; 3],
}

/// HL7 feeds, assigned in turn.
pub const HL7_FEEDS: &[Hl7Feed] = &[
    Hl7Feed {
        app: "MONITOR_GW",
        facility: "ICU3",
        kind: "ORU^R01^ORU_R01",
        host_prefix: "monitor-gw-",
        oui: [0x00, 0x09, 0x5c],
    },
    Hl7Feed {
        app: "LAB_SYS",
        facility: "LAB",
        kind: "ORU^R01^ORU_R01",
        host_prefix: "lab-sys-",
        oui: [0x00, 0x14, 0x22],
    },
    Hl7Feed {
        app: "NURSECALL",
        facility: "WARD5",
        kind: "ORU^R01^ORU_R01",
        host_prefix: "nursecall-",
        oui: [0x00, 0xa0, 0x9a],
    },
    Hl7Feed {
        app: "ADT_FEED",
        facility: "REGISTRATION",
        kind: "ADT^A01^ADT_A01",
        host_prefix: "adt-feed-",
        oui: [0x00, 0x0f, 0x14],
    },
];

/// The HL7 engine's application and facility.
pub const HL7_ENGINE: (&str, &str) = ("HIS_ENGINE", "HOSP");
/// The PACS's AE title.
pub const PACS_AE: &str = "PACS_MAIN";
/// The internal DNS domain.
pub const DOMAIN: &str = "hosp.example";

/// An internet service: TLS server name and address.
#[derive(Clone, Copy, Debug)]
pub struct Service {
    pub name: &'static str,
    pub ip: [u8; 4],
}

/// Internet services the hospital talks to (the last is the vendor's VPN
/// concentrator, a FortiGate).
pub const INTERNET: &[Service] = &[
    Service { name: "www.microsoft.com", ip: [198, 51, 100, 10] },
    Service { name: "login.microsoftonline.com", ip: [198, 51, 100, 11] },
    Service { name: "outlook.office365.com", ip: [198, 51, 100, 12] },
    Service { name: "teams.microsoft.com", ip: [198, 51, 100, 13] },
    Service { name: "download.windowsupdate.com", ip: [198, 51, 100, 14] },
    Service { name: "update.googleapis.com", ip: [198, 51, 100, 20] },
    Service { name: "www.google.com", ip: [198, 51, 100, 21] },
    Service { name: "ocsp.digicert.com", ip: [198, 51, 100, 30] },
    Service { name: "cdn.jsdelivr.net", ip: [198, 51, 100, 40] },
    Service { name: "pubmed.ncbi.nlm.nih.gov", ip: [198, 51, 100, 50] },
    Service { name: "api.imaging-vendor.example", ip: [203, 0, 113, 40] },
    Service { name: "vpn.imaging-vendor.example", ip: [203, 0, 113, 50] },
];

/// Index in [`INTERNET`] of the vendor's VPN concentrator.
pub const VENDOR_VPN: usize = 11;
/// Index in [`INTERNET`] of the modality vendor's cloud API.
pub const VENDOR_API: usize = 10;

/// The hospital's hosts, by role.
#[derive(Debug)]
pub struct Hospital {
    pub hosts: Vec<Host>,
    pub router: usize,
    pub dc: usize,
    pub pacs: usize,
    pub his: usize,
    pub fs: usize,
    pub ts: usize,
    pub app: usize,
    pub vpn: usize,
    pub modalities: Vec<usize>,
    pub hl7: Vec<usize>,
    pub workstations: Vec<usize>,
    pub admins: Vec<usize>,
    /// Index of `INTERNET[0]`'s host; the others follow.
    pub internet: usize,
}

fn mac(oui: [u8; 3], rng: &mut Rng) -> [u8; 6] {
    let r = rng.next_u32().to_be_bytes();
    [oui[0], oui[1], oui[2], r[1], r[2], r[3]]
}

impl Hospital {
    /// A hospital of about `n` hosts (at least the 8 servers, 2
    /// modalities, 2 HL7 feeds and 2 workstations).
    pub fn new(n: u32, rng: &mut Rng) -> Hospital {
        let mut hosts = Vec::new();
        let mut add = |ip: [u8; 4], mac: [u8; 6], name: String, role: Role, vc: &'static str| {
            let ttl = match role {
                Role::Workstation { .. } | Role::Dc | Role::FileServer | Role::TermServer => 128,
                Role::Internet(_) => 52,
                _ => 64,
            };
            hosts.push(Host {
                ip,
                mac,
                name,
                role,
                ttl,
                vendor_class: vc,
                ae: String::new(),
                ip_id: (ip[3] as u16) << 8,
                next_port: 49_152 + (ip[3] as u16) * 53,
            });
            hosts.len() - 1
        };
        let cisco = [0x00, 0x00, 0x0c];
        let dell = [0x00, 0x14, 0x22];
        let router_mac = mac(cisco, rng);
        let router = add([10, 20, 0, 1], router_mac, "core-rtr".into(), Role::Router, "");
        let dc = add([10, 20, 1, 2], mac(dell, rng), "dc01".into(), Role::Dc, "");
        let pacs = add([10, 20, 1, 10], mac(dell, rng), "pacs01".into(), Role::Pacs, "");
        let his = add([10, 20, 1, 20], mac(dell, rng), "his-engine".into(), Role::HisEngine, "");
        let fs = add([10, 20, 1, 30], mac(dell, rng), "fs01".into(), Role::FileServer, "");
        let ts = add([10, 20, 1, 40], mac(dell, rng), "ts01".into(), Role::TermServer, "");
        let app = add([10, 20, 1, 50], mac(dell, rng), "ehr-app01".into(), Role::AppServer, "");
        let vpn = add(
            [10, 20, 0, 254],
            mac([0x00, 0x09, 0x0f], rng),
            "fgt-vendor".into(),
            Role::VpnBox,
            "",
        );
        let n = n.max(14) as usize;
        let n_mod = (n / 20).max(2);
        let n_hl7 = (n / 50).max(2);
        let n_ws = n.saturating_sub(8 + n_mod + n_hl7).max(2);
        let mut modalities = Vec::new();
        for i in 0..n_mod {
            let m = MODALITIES[i % MODALITIES.len()];
            let k = i / MODALITIES.len() + 1;
            let ip = [10, 20, 5, (10 + i % 240) as u8];
            let ip = [ip[0], ip[1], ip[2] + (i / 240) as u8, ip[3]];
            let name = format!("{}{k:02}", m.host_prefix);
            let idx = add(
                ip,
                mac(m.oui, rng),
                name,
                Role::Modality(i % MODALITIES.len()),
                "udhcp 1.36.1",
            );
            modalities.push(idx);
        }
        let mut hl7 = Vec::new();
        for i in 0..n_hl7 {
            let f = HL7_FEEDS[i % HL7_FEEDS.len()];
            let k = i / HL7_FEEDS.len() + 1;
            let ip = [10, 20, 7 + (i / 240) as u8, (10 + i % 240) as u8];
            let name = format!("{}{k:02}", f.host_prefix);
            let vc = "dhcpcd-9.4.1:Linux-6.1.0:x86_64:GenuineIntel";
            hl7.push(add(ip, mac(f.oui, rng), name, Role::Hl7Sender(i % HL7_FEEDS.len()), vc));
        }
        let mut workstations = Vec::new();
        let mut admins = Vec::new();
        let ouis = [[0x00, 0x14, 0x22], [0xf8, 0xbc, 0x12], [0x10, 0xc5, 0x95], [0x00, 0x01, 0xe6]];
        for i in 0..n_ws {
            let admin = i % 20 == 7;
            let ip = [10, 20, 10 + (i / 250) as u8, (2 + i % 250) as u8];
            let name = format!("ws-{:04}", i + 1);
            let oui = ouis[i % ouis.len()];
            let idx = add(ip, mac(oui, rng), name, Role::Workstation { admin }, "MSFT 5.0");
            workstations.push(idx);
            if admin {
                admins.push(idx);
            }
        }
        if admins.is_empty() {
            admins.extend(workstations.first().copied());
        }
        let mut internet = usize::MAX;
        for (i, s) in INTERNET.iter().enumerate() {
            let idx = add(s.ip, router_mac, s.name.into(), Role::Internet(i), "");
            internet = internet.min(idx);
        }
        for &m in &modalities {
            if let Role::Modality(t) = hosts[m].role {
                let k = modalities
                    .iter()
                    .take_while(|&&x| x != m)
                    .filter(|&&x| hosts[x].role == Role::Modality(t))
                    .count()
                    + 1;
                hosts[m].ae = format!("{}{k:02}", MODALITIES[t].ae_prefix);
            }
        }
        hosts[pacs].ae = PACS_AE.into();
        for (i, h) in hosts.iter_mut().enumerate() {
            if matches!(h.role, Role::Internet(_)) {
                h.ttl = 50 + (i % 8) as u8;
            }
        }
        Hospital {
            hosts,
            router,
            dc,
            pacs,
            his,
            fs,
            ts,
            app,
            vpn,
            modalities,
            hl7,
            workstations,
            admins,
            internet,
        }
    }
}
