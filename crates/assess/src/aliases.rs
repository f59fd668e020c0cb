//! One identity for each vendor and product, whatever the source calls it.
//!
//! Advisories drift (`Pulse Secure` → `Ivanti`, `ICS` → `Connect Secure`),
//! ledgers write `FortiGate` for a box whose advisories say `FortiOS`, and
//! CPEs write `connect_secure`. The curated table `data/aliases.toml` (read
//! its header for the format) maps every spelling to one [`ProductKey`];
//! names not in the table still compare by their normalised form, so the table
//! is needed only where spellings differ.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;

use crate::InputError;
use crate::version::Scheme;

const BUNDLED: &str = include_str!("../data/aliases.toml");

/// What a product is, for priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProductClass {
    /// A device on a remote-access path: VPN, SSL-VPN, remote gateway.
    RemoteAccess,
}

/// A vendor and product identity: the table's IDs, or the normalised
/// names when the table does not know them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ProductKey {
    /// Vendor identity (`ivanti`).
    pub vendor: String,
    /// Product identity (`connect_secure`).
    pub product: String,
}

/// What the table says of a known product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductInfo {
    /// How its versions are written.
    pub scheme: Option<Scheme>,
    /// Its class, when it has one.
    pub class: Option<ProductClass>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    vendor: Vec<VendorEntry>,
    #[serde(default)]
    product: Vec<ProductEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct VendorEntry {
    id: String,
    #[serde(default)]
    names: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProductEntry {
    vendor: String,
    id: String,
    #[serde(default)]
    names: Vec<String>,
    scheme: Option<Scheme>,
    class: Option<ProductClass>,
}

/// The alias table.
#[derive(Debug, Clone, Default)]
pub struct Aliases {
    /// Normalised vendor name → vendor ID.
    vendors: HashMap<String, String>,
    /// (vendor ID, normalised product name) → product ID.
    products: HashMap<(String, String), String>,
    /// Product identities → what the table says of them.
    info: HashMap<ProductKey, ProductInfo>,
    /// Fingerprint of the texts the table was made from, in order.
    fingerprint: u64,
}

impl Aliases {
    /// The table shipped with sekimori.
    pub fn bundled() -> Self {
        let mut aliases = Aliases::default();
        // The bundled table is tested (`bundled_table_loads`); an error here is a
        // build defect, and an empty table only loses aliasing, never findings.
        let _ = aliases.add_toml(Path::new("data/aliases.toml"), BUNDLED);
        aliases
    }

    /// Add the entries of a site's own table (same format); later entries win.
    pub fn add_file(&mut self, path: &Path) -> Result<(), InputError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| InputError::new(path, "", format!("cannot read: {e}")))?;
        self.add_toml(path, &text)
    }

    fn add_toml(&mut self, path: &Path, text: &str) -> Result<(), InputError> {
        let file: File = toml::from_str(text).map_err(|e| {
            let location = e.span().map(|s| format!("byte {}", s.start)).unwrap_or_default();
            InputError::new(path, location, e.message().to_owned())
        })?;
        self.fingerprint = fnv1a(self.fingerprint, text.as_bytes());
        for v in file.vendor {
            let id = normalise_vendor(&v.id);
            for name in v.names.iter().chain(std::iter::once(&v.id)) {
                self.vendors.insert(normalise_vendor(name), id.clone());
            }
        }
        for p in file.product {
            let vendor = self.vendor_id(&p.vendor);
            let id = p.id.to_lowercase();
            for name in p.names.iter().chain(std::iter::once(&p.id)) {
                self.products.insert((vendor.clone(), normalise(name)), id.clone());
            }
            self.info.insert(
                ProductKey { vendor, product: id },
                ProductInfo { scheme: p.scheme, class: p.class },
            );
        }
        Ok(())
    }

    /// The vendor identity of `name`: the table's ID, else its normalised form.
    pub fn vendor_id(&self, name: &str) -> String {
        let n = normalise_vendor(name);
        self.vendors.get(&n).cloned().unwrap_or(n)
    }

    /// The product identity of `product` by `vendor`, and whether the table
    /// knows it. A product name that starts with its vendor's name
    /// (`Cisco IOS XE Software`) is also tried without it.
    pub fn product_key(&self, vendor: &str, product: &str) -> (ProductKey, bool) {
        let vendor_id = self.vendor_id(vendor);
        let p = normalise(product);
        if let Some(id) = self.products.get(&(vendor_id.clone(), p.clone())) {
            return (ProductKey { vendor: vendor_id, product: id.clone() }, true);
        }
        let v = normalise(vendor);
        if !v.is_empty()
            && let Some(rest) = p.strip_prefix(&v).filter(|r| !r.is_empty())
            && let Some(id) = self.products.get(&(vendor_id.clone(), rest.to_owned()))
        {
            return (ProductKey { vendor: vendor_id, product: id.clone() }, true);
        }
        (ProductKey { vendor: vendor_id, product: p }, false)
    }

    /// A fingerprint of the table's content (the texts it was made from):
    /// product identities made with tables of equal fingerprints are equal.
    /// Stored with the identities an advisory record is filed under.
    pub fn fingerprint(&self) -> String {
        format!("aliases-v1-{:016x}", self.fingerprint)
    }

    /// What the table says of a product identity.
    pub fn info(&self, key: &ProductKey) -> Option<&ProductInfo> {
        self.info.get(key)
    }
}

/// FNV-1a (64-bit) over `bytes`, continuing from `state` (0: a fresh
/// start). A change detector for the table, not a security measure.
fn fnv1a(state: u64, bytes: &[u8]) -> u64 {
    let mut h = if state == 0 { 0xcbf2_9ce4_8422_2325 } else { state };
    for b in bytes.iter().chain(b"\0") {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Lower case; trademark signs (and their common mojibake) removed; only
/// letters and digits kept.
pub fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    if text.is_ascii() {
        out.extend(
            text.bytes()
                .filter(u8::is_ascii_alphanumeric)
                .map(|b| char::from(b.to_ascii_lowercase())),
        );
        return out;
    }
    let cleaned = if text.contains(['â', 'Â']) {
        std::borrow::Cow::Owned(text.replace("â„¢", "").replace("Â®", "").replace("Â©", ""))
    } else {
        std::borrow::Cow::Borrowed(text)
    };
    out.extend(
        cleaned
            .chars()
            .filter(|c| c.is_alphanumeric() && !matches!(c, '™' | '®' | '©'))
            .flat_map(char::to_lowercase),
    );
    out
}

/// [`normalise`], after removing corporate suffixes (`Inc.`, `Co.`, `Ltd.`,
/// `Corporation`, `GmbH`, `株式会社` …) and a trailing `(…)`.
pub fn normalise_vendor(text: &str) -> String {
    const SUFFIXES: &[&str] = &[
        "incorporated",
        "corporation",
        "company",
        "limited",
        "corp",
        "inc",
        "ltd",
        "llc",
        "gmbh",
        "co",
        "ag",
        "kk",
        "plc",
    ];
    let mut t = text.replace("株式会社", " ").replace("（株）", " ").replace("(株)", " ");
    loop {
        let trimmed = t.trim_end_matches([' ', '.', ',', '&']).to_owned();
        let lower = trimmed.to_ascii_lowercase();
        let cut = SUFFIXES.iter().find_map(|s| {
            lower.strip_suffix(s).filter(|rest| rest.ends_with([' ', ',', '.']) || rest.is_empty())
        });
        match cut {
            Some(rest) if !rest.trim().is_empty() => {
                t = trimmed.get(..rest.len()).unwrap_or_default().to_owned()
            }
            _ => {
                t = trimmed;
                break;
            }
        }
    }
    normalise(&t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_table_loads() {
        let mut a = Aliases::default();
        a.add_toml(Path::new("data/aliases.toml"), BUNDLED).expect("bundled aliases parse");
        assert!(a.products.len() > 40);
    }

    #[test]
    fn fingerprint_follows_the_content() {
        let bundled = Aliases::bundled();
        assert_eq!(bundled.fingerprint(), Aliases::bundled().fingerprint());
        let mut site = Aliases::bundled();
        site.add_toml(
            Path::new("site.toml"),
            "[[vendor]]\nid = \"acme\"\nnames = [\"Acme Corp\"]\n",
        )
        .unwrap();
        assert_ne!(site.fingerprint(), bundled.fingerprint());
        assert_ne!(Aliases::default().fingerprint(), bundled.fingerprint());
    }

    #[test]
    fn drifting_names_meet() {
        let a = Aliases::bundled();
        let ics = a.product_key("Ivanti", "ICS");
        assert_eq!(
            ics,
            (ProductKey { vendor: "ivanti".into(), product: "connect_secure".into() }, true)
        );
        assert_eq!(a.product_key("Pulse Secure", "Pulse Connect Secure"), ics);
        assert_eq!(a.product_key("ivanti", "connect_secure"), ics);
        assert_eq!(a.product_key("Fortinet, Inc.", "FortiGate").0.product, "fortios");
        assert_eq!(a.product_key("Cisco", "Cisco IOS XE Software").0.product, "ios_xe");
        assert_eq!(
            a.product_key("Becton Dickinson & Co", "BD Alarisâ„¢ Systems Manager").0.product,
            "alaris_systems_manager"
        );
        let unknown = a.product_key("ACME Medical Co., Ltd.", "Infusion Pump X-1");
        assert_eq!(
            unknown,
            (ProductKey { vendor: "acmemedical".into(), product: "infusionpumpx1".into() }, false)
        );
        assert_eq!(a.vendor_id("株式会社 フォーティネット"), "fortinet");
    }
}
