//! MAC address vendor lookup: the IEEE MA-L (24-bit OUI) registry, bundled
//! as a sorted text table (`data/oui.tsv`, generated from Debian's
//! `ieee-data` by `data/gen_oui.py`; see `data/README.md`) and searched by
//! binary search over an index built once.

use std::sync::OnceLock;

static TABLE: &str = include_str!("../data/oui.tsv");

/// (prefix, organisation) pairs in prefix order.
fn index() -> &'static [(u32, &'static str)] {
    static INDEX: OnceLock<Vec<(u32, &'static str)>> = OnceLock::new();
    INDEX.get_or_init(|| {
        let mut v: Vec<(u32, &'static str)> = TABLE
            .lines()
            .filter_map(|line| {
                let (hex, name) = line.split_once('\t')?;
                Some((u32::from_str_radix(hex, 16).ok()?, name))
            })
            .collect();
        // The file is generated sorted; sort anyway so a hand edit cannot
        // break the search.
        v.sort_unstable_by_key(|e| e.0);
        v
    })
}

/// The organisation registered for the MAC's OUI, if any (not for MA-M
/// and MA-S blocks, whose 24-bit parent is the IEEE itself). Locally
/// administered addresses (bit 1 of the first byte: randomised phone MACs,
/// virtual interfaces) and group addresses have none.
pub fn vendor(mac: [u8; 6]) -> Option<&'static str> {
    if mac[0] & 0x03 != 0 {
        return None;
    }
    let prefix = u32::from(mac[0]) << 16 | u32::from(mac[1]) << 8 | u32::from(mac[2]);
    let idx = index();
    let i = idx.binary_search_by_key(&prefix, |e| e.0).ok()?;
    // Blocks sold in 28- and 36-bit parts name the registry itself here.
    idx.get(i).map(|e| e.1).filter(|n| *n != "IEEE Registration Authority")
}

/// Number of prefixes in the bundled table.
pub fn len() -> usize {
    index().len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_prefixes() {
        // Values from /usr/share/ieee-data/oui.csv (ieee-data 20220827.1).
        assert_eq!(vendor([0x00, 0x00, 0x0c, 1, 2, 3]), Some("Cisco Systems"));
        assert_eq!(vendor([0x00, 0x0c, 0x29, 0xaa, 0xbb, 0xcc]), Some("VMware"));
        assert_eq!(vendor([0x00, 0x1b, 0x21, 0, 0, 1]), Some("Intel Corporate"));
        // The first and last entries of the table are found too.
        let first = index().first().map(|e| e.0);
        assert_eq!(first, Some(0x000000));
        assert_eq!(vendor([0, 0, 0, 0, 0, 1]), Some("XEROX"));
        assert!(len() > 30_000, "{}", len());
    }

    #[test]
    fn unregistered_local_and_group_addresses_have_no_vendor() {
        assert_eq!(vendor([0x02, 0x42, 0xac, 0x11, 0, 2]), None); // locally administered (Docker)
        assert_eq!(vendor([0x01, 0x00, 0x5e, 0, 0, 0xfb]), None); // IPv4 multicast
        assert_eq!(vendor([0xff; 6]), None);
    }

    #[test]
    fn table_is_sorted_and_unique() {
        let mut prev = None;
        for line in TABLE.lines() {
            let (hex, name) = line.split_once('\t').unwrap_or(("", ""));
            assert_eq!(hex.len(), 6, "{line}");
            assert!(!name.is_empty() && name.len() <= 40, "{line}");
            let p = u32::from_str_radix(hex, 16).unwrap_or(u32::MAX);
            assert!(prev < Some(p), "{line}");
            prev = Some(p);
        }
    }
}
