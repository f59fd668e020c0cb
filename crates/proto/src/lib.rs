//! Sans-I/O parsers for the passive sensor.
//!
//! Every parser here takes bytes and returns a typed answer; none reads a
//! socket or a file, none allocates more than its input justifies, and none
//! panics on any input (`indexing_slicing`, `unwrap_used` and friends are
//! denied below). A parser that needs more bytes says so with
//! [`Verdict::NeedMore`] (stream probes) or [`Incomplete`] (message parsers),
//! and is tested on every prefix of a captured message.
//!
//! The sensor (`sekimori-sensor`) owns flows and buffering; it hands the first
//! bytes of each direction of a flow to [`identify`], which asks each protocol
//! module whether the bytes are its protocol and which identity facts they
//! carry. Facts describe the client, the server, or a MAC address; the sensor
//! turns them into inventory.
//!
//! **No patient data, ever**: HL7 and DICOM modules read envelope metadata
//! only (MSH-3..12, AE titles, SOP classes); no type here has a field that
//! could hold a patient's name or an observation.
#![deny(
    clippy::indexing_slicing,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::unreachable
)]

pub mod facts;
pub mod identify;
pub mod reader;

// Link layer to transport: the sensor's hot path.
pub mod packet;

// Medical and infrastructure protocols.
pub mod bacnet;
pub mod cdp;
pub mod dhcp;
pub mod dicom;
pub mod dns;
pub mod hl7;
pub mod http;
pub mod lldp;
pub mod netflow;
pub mod snmp;
pub mod ssdp;
pub mod syslog;

// Encrypted, remote-access and VPN protocols.
pub mod anydesk;
pub mod ike;
pub mod openvpn;
pub mod rdp;
pub mod smb;
pub mod ssh;
pub mod teamviewer;
pub mod tls;
pub mod vnc;
pub mod wireguard;

pub use facts::{App, Fact, FactKey, Subject, Verdict};
pub use reader::{Incomplete, Reader};
