//! The flow collector socket on loopback: datagrams arrive with the
//! exporter's address and the injected clock's time.

use std::net::UdpSocket;
use std::time::Duration;

use sekimori_capture::Timestamp;
use sekimori_capture::collector::Collector;

fn fixed_clock() -> Timestamp {
    Timestamp(1_700_000_000_000_000_000)
}

#[test]
fn receives_datagrams_with_exporter_and_time() {
    let mut c = Collector::bind("127.0.0.1:0".parse().unwrap(), Duration::from_secs(5))
        .unwrap()
        .with_clock(fixed_clock);
    let exporter = UdpSocket::bind("127.0.0.1:0").unwrap();
    // A NetFlow v5 header's first bytes; any bytes are passed on as they are.
    exporter.send_to(&[0, 5, 0, 1, 0xde, 0xad], c.local_addr()).unwrap();
    exporter.send_to(&[0; 1400], c.local_addr()).unwrap();
    let d = c.recv().unwrap().unwrap();
    assert_eq!(d.exporter, exporter.local_addr().unwrap());
    assert_eq!(d.bytes, &[0, 5, 0, 1, 0xde, 0xad]);
    assert_eq!(d.received, fixed_clock());
    assert_eq!(c.recv().unwrap().unwrap().bytes.len(), 1400);
    assert_eq!(c.received(), 2);
}

#[test]
fn a_quiet_socket_times_out_with_none() {
    let mut c = Collector::bind("127.0.0.1:0".parse().unwrap(), Duration::from_millis(20)).unwrap();
    assert!(c.recv().unwrap().is_none());
}
