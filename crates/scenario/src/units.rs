//! Values with units as scenario files write them: durations (`"1.5ms"`), bandwidths
//! (`"10Mbit"`), probabilities (`0.05`), TCP flags (`"F."`). Each refuses a bad value while the
//! file is being read, so the error carries the line and column of that value.

use std::fmt;

use netsim_core::{SimDuration, TcpFlags};
use netsim_engine::Probability;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

/// A duration written as a string with a unit: `"250us"`, `"1.5ms"`, `"60s"`, `"4min"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Dur(pub SimDuration);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Dur;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration string such as \"1.5ms\", \"60s\" or \"4min\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Dur, E> {
                v.parse().map(Dur).map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

/// Written back as it reads: `"1.5ms"` (exact, in the largest unit that keeps it whole or
/// short).
impl Serialize for Dur {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

/// A probability: a number from 0 to 1.
#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct Prob(pub Probability);

impl<'de> Deserialize<'de> for Prob {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let p = f64::deserialize(d)?;
        Probability::new(p).map(Prob).ok_or_else(|| {
            de::Error::custom(format!(
                "probability {p} is outside 0..=1 (expected e.g. 0.05)"
            ))
        })
    }
}

/// Written as the shortest decimal that reads back to the same number.
impl Serialize for Prob {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.0.get())
    }
}

/// A bandwidth in bits per second, written `"1Gbit"`, `"10Mbit"`, `"512kbit"`, `"9600bit"`
/// (`bps`, `kbps`, `Mbps`, `Gbps` also accepted).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Bandwidth(pub u64);

/// Parses a bandwidth string into bits per second.
pub fn parse_bandwidth(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let scale: u64 = match unit.trim() {
        "bit" | "bps" => 1,
        "kbit" | "kbps" => 1_000,
        "Mbit" | "Mbps" => 1_000_000,
        "Gbit" | "Gbps" => 1_000_000_000,
        _ => {
            return Err(format!(
                "expected a bandwidth such as \"10Mbit\" (units bit, kbit, Mbit, Gbit), found \"{text}\""
            ));
        }
    };
    // Exact decimal arithmetic: "4.1Mbit" is 4 100 000 bit/s (a float would make it
    // 4 099 999.999…).
    let not_a_number = || format!("expected a number before the unit in \"{text}\"");
    let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && frac.is_empty() || frac.contains('.') {
        return Err(not_a_number());
    }
    let too_big = || format!("bandwidth \"{text}\" is above the limit of 2^64 - 1 bit/s");
    let digits = |d: &str| -> Result<u64, String> {
        if d.is_empty() {
            return Ok(0);
        }
        d.parse::<u64>().map_err(|_| too_big())
    };
    let mut bps = digits(whole)?.checked_mul(scale).ok_or_else(too_big)?;
    // Each fractional digit is worth a tenth of the one before; the scale is a power of 10.
    let mut place = scale;
    for c in frac.chars() {
        place /= 10;
        let d = u64::from(c.to_digit(10).ok_or_else(not_a_number)?);
        if place == 0 {
            if d != 0 {
                return Err(format!(
                    "bandwidth \"{text}\" must be a whole number of bits per second"
                ));
            }
            continue;
        }
        bps = bps.checked_add(d * place).ok_or_else(too_big)?;
    }
    if bps == 0 {
        return Err(format!(
            "bandwidth \"{text}\" must be at least 1 bit/s (leave it out for no limit)"
        ));
    }
    Ok(bps)
}

impl<'de> Deserialize<'de> for Bandwidth {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        parse_bandwidth(&text)
            .map(Bandwidth)
            .map_err(de::Error::custom)
    }
}

/// Written in bits per second, exactly: `"10000000bit"`.
impl Serialize for Bandwidth {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("{}bit", self.0))
    }
}

/// TCP flags in tcpdump letters: `"S"`, `"S."`, `"F."`, `"R"`, `"."`, `"none"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Flags(pub TcpFlags);

impl<'de> Deserialize<'de> for Flags {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        TcpFlags::parse(&text).map(Flags).ok_or_else(|| {
            de::Error::custom(format!(
                "expected TCP flags in tcpdump letters (F S R P . U E W, e.g. \"S.\" or \"F.\"), found \"{text}\""
            ))
        })
    }
}

/// Written in tcpdump letters, as read.
impl Serialize for Flags {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bandwidths_parse_with_units() {
        assert_eq!(parse_bandwidth("10Mbit"), Ok(10_000_000));
        assert_eq!(parse_bandwidth("1.5Gbps"), Ok(1_500_000_000));
        assert_eq!(parse_bandwidth("9600bit"), Ok(9600));
        assert!(parse_bandwidth("10").is_err());
        assert!(parse_bandwidth("0Mbit").is_err());
        assert!(parse_bandwidth("0.5bit").is_err());
        assert!(parse_bandwidth("fast").is_err());
        // Decimals are exact, to the last bit.
        assert_eq!(parse_bandwidth("4.1Mbit"), Ok(4_100_000));
        assert_eq!(parse_bandwidth("0.001kbit"), Ok(1));
        assert_eq!(parse_bandwidth("2.000bit"), Ok(2));
        assert_eq!(parse_bandwidth("1.000000001Gbit"), Ok(1_000_000_001));
        assert_eq!(parse_bandwidth(".5kbit"), Ok(500));
        assert_eq!(parse_bandwidth("18446744073bit"), Ok(18_446_744_073));
        assert_eq!(parse_bandwidth("18446744073709551615bit"), Ok(u64::MAX));
        for bad in [
            "0.0001kbit",
            "1.2.3Mbit",
            ".Mbit",
            "18446744073709551616bit",
            "18446744074Gbit",
            "0bit",
        ] {
            let e = parse_bandwidth(bad).unwrap_err();
            assert!(e.contains(bad), "{bad}: {e}");
        }
    }
}
