//! The policy file as written: serde structs with spans, before any
//! checking. Every table refuses unknown keys (a misspelt `critcal = true`
//! must not silently leave a zone default-allow).

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, SeqAccess, Visitor};
use toml::Spanned;

pub(crate) type S<T> = Spanned<T>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPolicy {
    pub hospital: Option<S<RawHospital>>,
    #[serde(default)]
    pub zone: Vec<S<RawZone>>,
    #[serde(default)]
    pub rule: Vec<S<RawRule>>,
    pub detections: Option<RawDetections>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHospital {
    pub name: Option<S<String>>,
    #[serde(default)]
    pub ranges: Vec<S<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum RawAction {
    Allow,
    Deny,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum RawKind {
    Gateway,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawZone {
    pub name: S<String>,
    pub description: Option<S<String>>,
    pub description_ja: Option<S<String>>,
    #[serde(default)]
    pub critical: bool,
    pub default: Option<S<RawAction>>,
    pub internal: Option<S<RawAction>>,
    pub kind: Option<S<RawKind>>,
    #[serde(default)]
    pub ranges: Vec<S<String>>,
    #[serde(default)]
    pub assets: Vec<S<String>>,
    #[serde(default)]
    pub roles: Vec<S<String>>,
    #[serde(default)]
    pub tags: Vec<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRule {
    pub name: Option<S<String>>,
    pub comment: Option<S<String>>,
    pub from: S<ZoneList>,
    pub to: S<ZoneList>,
    #[serde(default)]
    pub protocols: Vec<S<String>>,
    #[serde(default)]
    pub ports: Vec<S<PortValue>>,
    pub action: Option<S<RawAction>>,
}

/// `from = "office"` or `from = ["office", "ehr"]`.
#[derive(Debug)]
pub(crate) struct ZoneList(pub Vec<String>);

impl<'de> Deserialize<'de> for ZoneList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ZoneList;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a zone name or a list of zone names")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ZoneList, E> {
                Ok(ZoneList(vec![v.to_owned()]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ZoneList, A::Error> {
                let mut out = Vec::new();
                while let Some(s) = seq.next_element::<String>()? {
                    if out.len() >= crate::MAX_ZONES + 3 {
                        return Err(de::Error::custom("too many zone names"));
                    }
                    out.push(s);
                }
                Ok(ZoneList(out))
            }
        }
        d.deserialize_any(V)
    }
}

/// `104` or `"104/tcp"` or `"5000-5010/udp"`: kept as written, checked later.
#[derive(Debug)]
pub(crate) enum PortValue {
    Number(i64),
    Text(String),
}

impl<'de> Deserialize<'de> for PortValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = PortValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a port number or a string such as \"2575/tcp\" or \"5000-5010/udp\"")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<PortValue, E> {
                Ok(PortValue::Number(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<PortValue, E> {
                Ok(PortValue::Number(i64::try_from(v).unwrap_or(i64::MAX)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<PortValue, E> {
                Ok(PortValue::Text(v.to_owned()))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDetections {
    pub segmentation: Option<RawToggle>,
    pub exfiltration: Option<RawExfiltration>,
    pub lateral_movement: Option<RawLateral>,
    pub remote_access: Option<RawRemoteAccess>,
    pub new_activity: Option<RawNewActivity>,
    #[serde(default)]
    pub silence: Vec<S<RawSilence>>,
    pub indicators: Option<RawIndicators>,
    pub severity: Option<BTreeMap<String, S<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawToggle {
    pub enabled: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawExfiltration {
    pub enabled: Option<bool>,
    pub threshold: Option<S<String>>,
    pub window: Option<S<String>>,
    pub baseline_factor: Option<S<f64>>,
    pub min_baseline: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLateral {
    pub enabled: Option<bool>,
    pub fan_out: Option<S<i64>>,
    pub window: Option<S<String>>,
    pub protocols: Option<Vec<S<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRemoteAccess {
    pub enabled: Option<bool>,
    pub allowed_from: Option<S<ZoneList>>,
    pub allowed_to: Option<S<ZoneList>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawNewActivity {
    pub device: Option<bool>,
    pub talker: Option<bool>,
    pub protocol: Option<bool>,
    pub learning: Option<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSilence {
    pub name: Option<S<String>>,
    pub asset: Option<S<String>>,
    pub address: Option<S<String>>,
    pub zone: Option<S<String>>,
    pub window: Option<S<String>>,
    #[serde(default)]
    pub protocols: Vec<S<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawIndicators {
    pub enabled: Option<bool>,
    #[serde(default)]
    pub files: Vec<S<String>>,
}
