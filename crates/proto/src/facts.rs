//! What a protocol probe answers: which application protocol the bytes are,
//! and the identity facts they carry.

use std::fmt;

/// An application protocol the sensor can name. `as_str` is the stable name
/// used in `analyze` output, the store and policy files.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum App {
    Dicom,
    Hl7,
    Dhcp,
    Dns,
    Mdns,
    Nbns,
    NetbiosDgm,
    Llmnr,
    Lldp,
    Cdp,
    Ssdp,
    Http,
    Snmp,
    Syslog,
    Bacnet,
    NetflowV5,
    NetflowV9,
    Ipfix,
    Tls,
    Dtls,
    Ssh,
    Smb,
    Rdp,
    Ike,
    Esp,
    OpenVpn,
    WireGuard,
    AnyConnect,
    FortiSslVpn,
    TeamViewer,
    AnyDesk,
    Vnc,
}

impl App {
    /// Every variant, for tables and tests.
    pub const ALL: &'static [App] = &[
        App::Dicom,
        App::Hl7,
        App::Dhcp,
        App::Dns,
        App::Mdns,
        App::Nbns,
        App::NetbiosDgm,
        App::Llmnr,
        App::Lldp,
        App::Cdp,
        App::Ssdp,
        App::Http,
        App::Snmp,
        App::Syslog,
        App::Bacnet,
        App::NetflowV5,
        App::NetflowV9,
        App::Ipfix,
        App::Tls,
        App::Dtls,
        App::Ssh,
        App::Smb,
        App::Rdp,
        App::Ike,
        App::Esp,
        App::OpenVpn,
        App::WireGuard,
        App::AnyConnect,
        App::FortiSslVpn,
        App::TeamViewer,
        App::AnyDesk,
        App::Vnc,
    ];

    /// The stable lower-case name (`"dicom"`, `"hl7"`, `"openvpn"`, …).
    pub const fn as_str(self) -> &'static str {
        match self {
            App::Dicom => "dicom",
            App::Hl7 => "hl7",
            App::Dhcp => "dhcp",
            App::Dns => "dns",
            App::Mdns => "mdns",
            App::Nbns => "nbns",
            App::NetbiosDgm => "netbios-dgm",
            App::Llmnr => "llmnr",
            App::Lldp => "lldp",
            App::Cdp => "cdp",
            App::Ssdp => "ssdp",
            App::Http => "http",
            App::Snmp => "snmp",
            App::Syslog => "syslog",
            App::Bacnet => "bacnet",
            App::NetflowV5 => "netflow-v5",
            App::NetflowV9 => "netflow-v9",
            App::Ipfix => "ipfix",
            App::Tls => "tls",
            App::Dtls => "dtls",
            App::Ssh => "ssh",
            App::Smb => "smb",
            App::Rdp => "rdp",
            App::Ike => "ike",
            App::Esp => "esp",
            App::OpenVpn => "openvpn",
            App::WireGuard => "wireguard",
            App::AnyConnect => "anyconnect",
            App::FortiSslVpn => "forti-sslvpn",
            App::TeamViewer => "teamviewer",
            App::AnyDesk => "anydesk",
            App::Vnc => "vnc",
        }
    }

    /// Parses a stable name back (policy files, the store).
    pub fn from_name(name: &str) -> Option<App> {
        App::ALL.iter().copied().find(|a| a.as_str() == name)
    }

    /// Remote access or VPN: a path into the network that can bypass the
    /// access broker (policy issue's "unmanaged remote access").
    pub const fn is_remote_access(self) -> bool {
        matches!(
            self,
            App::Ike
                | App::Esp
                | App::OpenVpn
                | App::WireGuard
                | App::AnyConnect
                | App::FortiSslVpn
                | App::TeamViewer
                | App::AnyDesk
                | App::Vnc
                | App::Rdp
        )
    }
}

impl fmt::Display for App {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for App {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Whom a fact describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Subject {
    /// The host that opened the flow (TCP SYN sender; UDP first sender).
    Client,
    /// The host that answered.
    Server,
    /// A host named by its MAC address (DHCP `chaddr`, LLDP chassis ID),
    /// whatever addresses the frame carried.
    Mac([u8; 6]),
    /// A host named by an address inside the payload (a DNS answer's A/AAAA
    /// record, a DHCP `yiaddr`).
    Ip(std::net::IpAddr),
}

/// The kind of an identity fact. `as_str` is its stable key in `analyze`
/// output ("dicom.calling_ae", "tls.sni", …).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum FactKey {
    // Names of the subject host. The sensor collects all of these into an
    // asset's `names`.
    /// A host name the host gave itself (DHCP option 12, syslog HOSTNAME,
    /// SMB/NTLM workstation, RDP client name).
    Hostname,
    /// A DNS name that resolves to the subject (DNS/mDNS/LLMNR answer).
    DnsName,
    /// A NetBIOS name (NBNS registration, browser announcement).
    NetbiosName,
    /// A NetBIOS workgroup or Windows domain.
    Domain,
    /// DICOM Application Entity title.
    DicomAeTitle,
    /// LLDP system name / CDP device ID.
    SystemName,

    // What the subject is.
    /// Maker, where the payload says it (LLDP/CDP description, SSDP server,
    /// certificate O=, IKE vendor ID).
    Vendor,
    /// Product or model.
    Product,
    /// Software or firmware version.
    Version,
    /// Serial number (a FortiGate's certificate CN).
    Serial,
    /// A free-text platform or system description (LLDP system
    /// description, CDP platform, SNMP sysDescr, SSDP SERVER).
    Description,
    /// A software banner as sent (SSH identification string, HTTP
    /// Server/User-Agent, VNC version).
    Software,
    /// The operating system's version number as the host reports it
    /// (NTLM's version structure: `6.0.6001` is Windows major 6, minor 0,
    /// build 6001).
    OsVersion,
    /// A User-Agent outside HTTP (SSDP M-SEARCH `USER-AGENT`): the
    /// software that sent it, as it describes itself.
    UserAgent,

    // Protocol envelope facts.
    DicomCallingAe,
    DicomCalledAe,
    DicomImplClassUid,
    DicomImplVersion,
    DicomSopClass,
    Hl7SendingApp,
    Hl7SendingFacility,
    Hl7ReceivingApp,
    Hl7ReceivingFacility,
    Hl7MessageType,
    Hl7Version,
    DhcpVendorClass,
    DhcpParamList,
    DhcpClientId,
    /// The address a DHCP client asked for (option 50, or `ciaddr`): a
    /// wish, not a binding.
    DhcpRequestedIp,
    /// The address a DHCP server assigned (`yiaddr` of a DHCPACK), about
    /// the client's MAC: the inventory binds the two.
    DhcpAssignedIp,
    /// The DHCP server identifier (option 54) in a client's REQUEST or a
    /// server's reply, about the client's MAC: the server it leases from.
    DhcpServerId,
    DnsQuery,
    /// A DNS-SD service instance the host announces (mDNS PTR/SRV:
    /// `Lab Printer._ipp._tcp.local`): a service, not a host name.
    DnsSdInstance,
    TlsSni,
    TlsAlpn,
    TlsVersion,
    Ja4,
    Ja4s,
    CertSubject,
    CertIssuer,
    /// The leaf certificate's subject common name (a FortiGate's serial,
    /// a server's host name).
    CertCommonName,
    SshClient,
    SshServer,
    Hassh,
    HasshServer,
    HttpHost,
    HttpUserAgent,
    HttpServer,
    SmbDialect,
    NtlmHost,
    NtlmDomain,
    NtlmUser,
    RdpCookie,
    RdpClientName,
    RdpClientBuild,
    SnmpVersion,
    SyslogApp,
    BacnetVendorId,
    BacnetDeviceInstance,
    IkeVendorId,
    IkeVersion,
    /// The IKE exchange type of the first message (`Identity Protection
    /// (Main Mode)`, `Aggressive`, `IKE_SA_INIT`).
    IkeExchange,
    OpenVpnOpcode,
    VncVersion,
    SsdpLocation,
    FlowExporter,
}

impl FactKey {
    /// The stable dotted key.
    pub const fn as_str(self) -> &'static str {
        match self {
            FactKey::Hostname => "hostname",
            FactKey::DnsName => "dns_name",
            FactKey::NetbiosName => "netbios_name",
            FactKey::Domain => "domain",
            FactKey::DicomAeTitle => "dicom.ae_title",
            FactKey::SystemName => "system_name",
            FactKey::Vendor => "vendor",
            FactKey::Product => "product",
            FactKey::Version => "version",
            FactKey::Serial => "serial",
            FactKey::Description => "description",
            FactKey::Software => "software",
            FactKey::OsVersion => "os_version",
            FactKey::UserAgent => "user_agent",
            FactKey::DicomCallingAe => "dicom.calling_ae",
            FactKey::DicomCalledAe => "dicom.called_ae",
            FactKey::DicomImplClassUid => "dicom.implementation_class_uid",
            FactKey::DicomImplVersion => "dicom.implementation_version",
            FactKey::DicomSopClass => "dicom.sop_class",
            FactKey::Hl7SendingApp => "hl7.sending_application",
            FactKey::Hl7SendingFacility => "hl7.sending_facility",
            FactKey::Hl7ReceivingApp => "hl7.receiving_application",
            FactKey::Hl7ReceivingFacility => "hl7.receiving_facility",
            FactKey::Hl7MessageType => "hl7.message_type",
            FactKey::Hl7Version => "hl7.version",
            FactKey::DhcpVendorClass => "dhcp.vendor_class",
            FactKey::DhcpParamList => "dhcp.parameter_list",
            FactKey::DhcpClientId => "dhcp.client_id",
            FactKey::DhcpRequestedIp => "dhcp.requested_ip",
            FactKey::DhcpAssignedIp => "dhcp.assigned_ip",
            FactKey::DhcpServerId => "dhcp.server_id",
            FactKey::DnsQuery => "dns.query",
            FactKey::DnsSdInstance => "dns_sd.instance",
            FactKey::TlsSni => "tls.sni",
            FactKey::TlsAlpn => "tls.alpn",
            FactKey::TlsVersion => "tls.version",
            FactKey::Ja4 => "tls.ja4",
            FactKey::Ja4s => "tls.ja4s",
            FactKey::CertSubject => "tls.cert_subject",
            FactKey::CertIssuer => "tls.cert_issuer",
            FactKey::CertCommonName => "tls.cert_cn",
            FactKey::SshClient => "ssh.client",
            FactKey::SshServer => "ssh.server",
            FactKey::Hassh => "ssh.hassh",
            FactKey::HasshServer => "ssh.hassh_server",
            FactKey::HttpHost => "http.host",
            FactKey::HttpUserAgent => "http.user_agent",
            FactKey::HttpServer => "http.server",
            FactKey::SmbDialect => "smb.dialect",
            FactKey::NtlmHost => "ntlm.host",
            FactKey::NtlmDomain => "ntlm.domain",
            FactKey::NtlmUser => "ntlm.user",
            FactKey::RdpCookie => "rdp.cookie",
            FactKey::RdpClientName => "rdp.client_name",
            FactKey::RdpClientBuild => "rdp.client_build",
            FactKey::SnmpVersion => "snmp.version",
            FactKey::SyslogApp => "syslog.app",
            FactKey::BacnetVendorId => "bacnet.vendor_id",
            FactKey::BacnetDeviceInstance => "bacnet.device_instance",
            FactKey::IkeVendorId => "ike.vendor_id",
            FactKey::IkeVersion => "ike.version",
            FactKey::IkeExchange => "ike.exchange",
            FactKey::OpenVpnOpcode => "openvpn.opcode",
            FactKey::VncVersion => "vnc.version",
            FactKey::SsdpLocation => "ssdp.location",
            FactKey::FlowExporter => "flow.exporter",
        }
    }

    /// Facts whose value is a name of the subject host (collected into an
    /// asset's `names`).
    pub const fn is_name(self) -> bool {
        matches!(
            self,
            FactKey::Hostname
                | FactKey::DnsName
                | FactKey::NetbiosName
                | FactKey::DicomAeTitle
                | FactKey::SystemName
        )
    }
}

impl fmt::Display for FactKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for FactKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// One identity fact: `subject`'s `key` is `value`. Values are printable
/// text, trimmed, at most [`Fact::MAX_VALUE`] bytes (longer input is cut at
/// a character boundary), control characters replaced.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Fact {
    pub subject: Subject,
    pub key: FactKey,
    pub value: String,
}

impl Fact {
    /// The longest value kept, in bytes.
    pub const MAX_VALUE: usize = 256;

    /// A fact from text, cleaned as described on [`Fact`]. `None` when
    /// nothing printable is left.
    pub fn new(subject: Subject, key: FactKey, value: &str) -> Option<Fact> {
        let mut out = String::with_capacity(value.len().min(Fact::MAX_VALUE));
        for c in value.trim().chars() {
            let c = if c.is_control() { ' ' } else { c };
            if out.len() + c.len_utf8() > Fact::MAX_VALUE {
                break;
            }
            out.push(c);
        }
        let trimmed = out.trim_end();
        if trimmed.is_empty() {
            return None;
        }
        out.truncate(trimmed.len());
        Some(Fact { subject, key, value: out })
    }

    /// A fact from bytes that should be text (lossy UTF-8, then as [`Fact::new`]).
    pub fn from_bytes(subject: Subject, key: FactKey, value: &[u8]) -> Option<Fact> {
        Fact::new(subject, key, &String::from_utf8_lossy(value))
    }
}

/// A probe's answer for the bytes it was given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// These bytes are not this protocol (a definite no: stop asking).
    No,
    /// Cannot tell yet; ask again with more bytes.
    NeedMore,
    /// It is this protocol. `facts` are what the bytes so far carry;
    /// `more` says whether more bytes could add facts (the sensor keeps
    /// feeding until `more` is false or its per-flow cap is reached).
    Yes { app: App, facts: Vec<Fact>, more: bool },
}

impl Verdict {
    /// `Yes` with no facts and nothing more to learn.
    pub fn bare(app: App) -> Verdict {
        Verdict::Yes { app, facts: Vec::new(), more: false }
    }
}
