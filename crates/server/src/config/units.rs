//! Human-friendly durations and sizes in the configuration.

use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A duration written as `30s`, `15m`, `24h`, `7d` (or a number of seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HumanDuration(pub Duration);

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let secs = self.0.as_secs();
        let text = match secs {
            0 => format!("{}ms", self.0.as_millis()),
            s if s % 86_400 == 0 => format!("{}d", s / 86_400),
            s if s % 3600 == 0 => format!("{}h", s / 3600),
            s if s % 60 == 0 => format!("{}m", s / 60),
            s => format!("{s}s"),
        };
        s.serialize_str(&text)
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Secs(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Secs(s) => Ok(HumanDuration(Duration::from_secs(s))),
            Raw::Text(t) => {
                if let Some(ms) = t
                    .strip_suffix("ms")
                    .and_then(|n| n.trim().parse::<u64>().ok())
                {
                    return Ok(HumanDuration(Duration::from_millis(ms)));
                }
                switchyard_core::duration::parse(&t)
                    .map(HumanDuration)
                    .map_err(serde::de::Error::custom)
            }
        }
    }
}

/// A size in bytes, written as a number or with a unit: `512KiB`, `1MiB`, `10MB`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(pub usize);

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let n = self.0;
        let text = if n >= 1 << 20 && n.is_multiple_of(1 << 20) {
            format!("{}MiB", n >> 20)
        } else if n >= 1 << 10 && n.is_multiple_of(1 << 10) {
            format!("{}KiB", n >> 10)
        } else {
            n.to_string()
        };
        s.serialize_str(&text)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Bytes(usize),
            Text(String),
        }
        let text = match Raw::deserialize(d)? {
            Raw::Bytes(n) => return Ok(ByteSize(n)),
            Raw::Text(t) => t,
        };
        let t = text.trim();
        let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let multiplier: usize = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1,
            "kib" => 1 << 10,
            "mib" => 1 << 20,
            "gib" => 1 << 30,
            "kb" => 1000,
            "mb" => 1_000_000,
            "gb" => 1_000_000_000,
            _ => usize::MAX,
        };
        num.parse::<usize>()
            .ok()
            .filter(|_| multiplier != usize::MAX)
            .and_then(|n| n.checked_mul(multiplier))
            .map(ByteSize)
            .ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "invalid size {text:?}: expected a number of bytes or a number with KiB, MiB, GiB, KB, MB or GB"
                ))
            })
    }
}
