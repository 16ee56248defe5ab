//! Virtual time: [`SimTime`] (an instant since the start of a run) and [`SimDuration`], both
//! integer nanoseconds. Nothing here reads a clock; time only moves when the engine moves it.

use std::fmt;
use std::ops::{Add, AddAssign, Div, Mul, Sub};
use std::str::FromStr;

const NS_PER_US: u64 = 1_000;
const NS_PER_MS: u64 = 1_000_000;
const NS_PER_S: u64 = 1_000_000_000;
const NS_PER_MIN: u64 = 60 * NS_PER_S;
const NS_PER_H: u64 = 60 * NS_PER_MIN;

/// A span of virtual time in nanoseconds.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SimDuration(u64);

/// An instant of virtual time: nanoseconds since the run started.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SimTime(u64);

impl SimDuration {
    /// No time at all.
    pub const ZERO: SimDuration = SimDuration(0);
    /// The longest representable span (about 584 years).
    pub const MAX: SimDuration = SimDuration(u64::MAX);

    /// A span of `ns` nanoseconds.
    pub const fn from_nanos(ns: u64) -> Self {
        SimDuration(ns)
    }
    /// A span of `us` microseconds (saturating, as every constructor here).
    pub const fn from_micros(us: u64) -> Self {
        SimDuration(us.saturating_mul(NS_PER_US))
    }
    /// A span of `ms` milliseconds.
    pub const fn from_millis(ms: u64) -> Self {
        SimDuration(ms.saturating_mul(NS_PER_MS))
    }
    /// A span of `s` seconds.
    pub const fn from_secs(s: u64) -> Self {
        SimDuration(s.saturating_mul(NS_PER_S))
    }
    /// A span of `min` minutes.
    pub const fn from_mins(min: u64) -> Self {
        SimDuration(min.saturating_mul(NS_PER_MIN))
    }
    /// The span in nanoseconds.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }
    /// The span in whole milliseconds, rounded down.
    pub const fn as_millis(self) -> u64 {
        self.0 / NS_PER_MS
    }
    /// The span in seconds as a float, for reports only (never for decisions).
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / NS_PER_S as f64
    }
    /// `self + other`, clamped at [`SimDuration::MAX`].
    pub const fn saturating_add(self, other: SimDuration) -> SimDuration {
        SimDuration(self.0.saturating_add(other.0))
    }
    /// `self - other`, clamped at zero.
    pub const fn saturating_sub(self, other: SimDuration) -> SimDuration {
        SimDuration(self.0.saturating_sub(other.0))
    }
    /// `self * factor`, clamped at [`SimDuration::MAX`].
    pub const fn saturating_mul(self, factor: u64) -> SimDuration {
        SimDuration(self.0.saturating_mul(factor))
    }
    /// True for the zero span.
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }
}

impl SimTime {
    /// The start of every run.
    pub const ZERO: SimTime = SimTime(0);
    /// The last representable instant.
    pub const MAX: SimTime = SimTime(u64::MAX);

    /// The instant `ns` nanoseconds after the start.
    pub const fn from_nanos(ns: u64) -> Self {
        SimTime(ns)
    }
    /// The instant `d` after the start.
    pub const fn after(d: SimDuration) -> Self {
        SimTime(d.0)
    }
    /// Nanoseconds since the start.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }
    /// The span since the start of the run.
    pub const fn since_start(self) -> SimDuration {
        SimDuration(self.0)
    }
    /// The span from `earlier` to `self`, or zero if `earlier` is later.
    pub const fn saturating_since(self, earlier: SimTime) -> SimDuration {
        SimDuration(self.0.saturating_sub(earlier.0))
    }
    /// `self + d`, clamped at [`SimTime::MAX`].
    pub const fn saturating_add(self, d: SimDuration) -> SimTime {
        SimTime(self.0.saturating_add(d.0))
    }
}

// Time saturates: a sum or product past the last representable value (about 584 years) is
// that value. A run always ends before it, so a deadline that saturated is one that never
// comes; scenario values are bounded at check time, but their sums (a script's sleeps, a
// backed-off timer, delays added by several faults) need not be, and must not panic.

impl Add<SimDuration> for SimDuration {
    type Output = SimDuration;
    /// Saturating at [`SimDuration::MAX`].
    fn add(self, rhs: SimDuration) -> SimDuration {
        self.saturating_add(rhs)
    }
}

impl AddAssign<SimDuration> for SimDuration {
    fn add_assign(&mut self, rhs: SimDuration) {
        *self = *self + rhs;
    }
}

impl Sub<SimDuration> for SimDuration {
    type Output = SimDuration;
    fn sub(self, rhs: SimDuration) -> SimDuration {
        SimDuration(self.0.checked_sub(rhs.0).expect("SimDuration underflow"))
    }
}

impl Mul<u64> for SimDuration {
    type Output = SimDuration;
    /// Saturating at [`SimDuration::MAX`].
    fn mul(self, rhs: u64) -> SimDuration {
        self.saturating_mul(rhs)
    }
}

impl Div<u64> for SimDuration {
    type Output = SimDuration;
    /// Division rounding down.
    fn div(self, rhs: u64) -> SimDuration {
        SimDuration(self.0 / rhs)
    }
}

impl Add<SimDuration> for SimTime {
    type Output = SimTime;
    /// Saturating at [`SimTime::MAX`].
    fn add(self, rhs: SimDuration) -> SimTime {
        self.saturating_add(rhs)
    }
}

impl AddAssign<SimDuration> for SimTime {
    fn add_assign(&mut self, rhs: SimDuration) {
        *self = *self + rhs;
    }
}

impl Sub<SimTime> for SimTime {
    type Output = SimDuration;
    fn sub(self, rhs: SimTime) -> SimDuration {
        SimDuration(self.0.checked_sub(rhs.0).expect("SimTime went backwards"))
    }
}

/// Prints the span in the largest unit that keeps it short and exact:
/// `0s`, `250ns`, `12.5us`, `1.5ms`, `60s`, `90s`, `4min`, `2h`.
///
/// Whole minutes print as minutes from two minutes up, so the familiar `60s` (Linux
/// TIME_WAIT) stays in seconds while `4min` (2×MSL of RFC 793) reads as the RFC says it.
impl fmt::Display for SimDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ns = self.0;
        if ns == 0 {
            return f.write_str("0s");
        }
        if ns % NS_PER_H == 0 && ns >= 2 * NS_PER_H {
            return write!(f, "{}h", ns / NS_PER_H);
        }
        if ns % NS_PER_MIN == 0 && ns >= 2 * NS_PER_MIN {
            return write!(f, "{}min", ns / NS_PER_MIN);
        }
        let (unit, per) = if ns >= NS_PER_S {
            ("s", NS_PER_S)
        } else if ns >= NS_PER_MS {
            ("ms", NS_PER_MS)
        } else if ns >= NS_PER_US {
            ("us", NS_PER_US)
        } else {
            ("ns", 1)
        };
        write_decimal(f, ns / per, ns % per, per)?;
        f.write_str(unit)
    }
}

impl fmt::Debug for SimDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Writes `whole.frac` where `frac` is in units of `1/per`, without trailing zeros.
fn write_decimal(f: &mut fmt::Formatter<'_>, whole: u64, frac: u64, per: u64) -> fmt::Result {
    write!(f, "{whole}")?;
    if frac == 0 {
        return Ok(());
    }
    let width = per.ilog10() as usize;
    let digits = format!("{frac:0width$}");
    write!(f, ".{}", digits.trim_end_matches('0'))
}

/// Prints the instant as seconds since the start with microsecond digits (`61.002000s`), or
/// nanosecond digits when the instant is not a whole microsecond, so no two distinct instants
/// print the same.
impl fmt::Display for SimTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0 / NS_PER_S;
        let ns = self.0 % NS_PER_S;
        if ns % NS_PER_US == 0 {
            write!(f, "{s}.{:06}s", ns / NS_PER_US)
        } else {
            write!(f, "{s}.{ns:09}s")
        }
    }
}

impl fmt::Debug for SimTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Why a duration string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseDurationError {
    /// The text has no number in front.
    #[error("expected a duration such as `1.5ms`, `60s` or `4min`, found `{0}`")]
    Malformed(String),
    /// The unit after the number is not one we know.
    #[error("unknown time unit `{unit}` in `{text}` (expected ns, us, ms, s, min or h)")]
    UnknownUnit {
        /// The whole text.
        text: String,
        /// The unit found.
        unit: String,
    },
    /// The value is finer than a nanosecond.
    #[error("`{0}` is not a whole number of nanoseconds")]
    TooPrecise(String),
    /// The value does not fit in 64 bits of nanoseconds.
    #[error("`{0}` is too long (the limit is about 584 years)")]
    Overflow(String),
}

/// Parses `250ns`, `12us` (or `12µs`), `1.5ms`, `60s`, `4min`, `2h`. The decimal part is read
/// exactly (no floating point), so `0.1s` is exactly 100 000 000 ns.
impl FromStr for SimDuration {
    type Err = ParseDurationError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let trimmed = text.trim();
        let split = trimmed
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(trimmed.len());
        let (number, unit) = trimmed.split_at(split);
        if number.is_empty() || number.starts_with('.') || number.ends_with('.') {
            return Err(ParseDurationError::Malformed(text.to_string()));
        }
        let per = match unit.trim() {
            "ns" => 1,
            "us" | "µs" => NS_PER_US,
            "ms" => NS_PER_MS,
            "s" => NS_PER_S,
            "min" | "m" => NS_PER_MIN,
            "h" => NS_PER_H,
            "" => return Err(ParseDurationError::Malformed(text.to_string())),
            other => {
                return Err(ParseDurationError::UnknownUnit {
                    text: text.to_string(),
                    unit: other.to_string(),
                });
            }
        };
        let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
        if frac.contains('.') {
            return Err(ParseDurationError::Malformed(text.to_string()));
        }
        let overflow = || ParseDurationError::Overflow(text.to_string());
        let whole: u64 = whole.parse().map_err(|_| overflow())?;
        let mut ns = whole.checked_mul(per).ok_or_else(overflow)?;
        let mut scale = per;
        for digit in frac.bytes() {
            let d = u64::from(digit - b'0');
            if scale % 10 != 0 {
                if d != 0 {
                    return Err(ParseDurationError::TooPrecise(text.to_string()));
                }
                continue;
            }
            scale /= 10;
            ns = ns.checked_add(d * scale).ok_or_else(overflow)?;
        }
        Ok(SimDuration(ns))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sums and products of time saturate at the last instant instead of overflowing.
    #[test]
    fn time_arithmetic_saturates() {
        let big = SimDuration::from_nanos(u64::MAX - 5);
        assert_eq!(big + SimDuration::from_nanos(10), SimDuration::MAX);
        assert_eq!(SimDuration::from_secs(3) * u64::MAX, SimDuration::MAX);
        let mut t = SimTime::from_nanos(u64::MAX - 1);
        t += SimDuration::from_secs(1);
        assert_eq!(t, SimTime::MAX);
        assert_eq!(SimDuration::from_mins(u64::MAX), SimDuration::MAX);
        assert_eq!(SimDuration::from_millis(u64::MAX / 1000), SimDuration::MAX);
        assert_eq!(
            SimDuration::from_secs(2) + SimDuration::from_secs(3),
            SimDuration::from_secs(5)
        );
    }

    #[test]
    fn durations_print_in_short_exact_units() {
        let cases = [
            (SimDuration::ZERO, "0s"),
            (SimDuration::from_nanos(250), "250ns"),
            (SimDuration::from_nanos(12_500), "12.5us"),
            (SimDuration::from_micros(1_500), "1.5ms"),
            (SimDuration::from_millis(200), "200ms"),
            (SimDuration::from_secs(1), "1s"),
            (SimDuration::from_secs(60), "60s"),
            (SimDuration::from_secs(90), "90s"),
            (SimDuration::from_mins(4), "4min"),
            (SimDuration::from_mins(120), "2h"),
            (SimDuration::from_nanos(NS_PER_S + 1), "1.000000001s"),
        ];
        for (d, text) in cases {
            assert_eq!(d.to_string(), text);
            assert_eq!(text.parse::<SimDuration>(), Ok(d), "round trip of {text}");
        }
    }

    #[test]
    fn durations_parse_exactly() {
        assert_eq!("0.1s".parse(), Ok(SimDuration::from_millis(100)));
        assert_eq!("1.5ms".parse(), Ok(SimDuration::from_micros(1_500)));
        assert_eq!("2m".parse(), Ok(SimDuration::from_mins(2)));
        assert_eq!("12µs".parse(), Ok(SimDuration::from_micros(12)));
        assert_eq!("1.0ns".parse(), Ok(SimDuration::from_nanos(1)));
        assert_eq!(
            "0.10ns".parse::<SimDuration>(),
            Err(ParseDurationError::TooPrecise("0.10ns".into()))
        );
    }

    #[test]
    fn bad_durations_are_refused_with_a_reason() {
        for bad in ["", "s", "1", "-1s", "1.s", ".5s", "1.2.3s", "5 parsecs"] {
            assert!(bad.parse::<SimDuration>().is_err(), "{bad:?} was accepted");
        }
        assert!(matches!(
            "1.5ns".parse::<SimDuration>(),
            Err(ParseDurationError::TooPrecise(_))
        ));
        assert!(matches!(
            "99999999999h".parse::<SimDuration>(),
            Err(ParseDurationError::Overflow(_))
        ));
        assert!(matches!(
            "3 weeks".parse::<SimDuration>(),
            Err(ParseDurationError::UnknownUnit { .. })
        ));
    }

    #[test]
    fn instants_print_as_seconds_with_microseconds() {
        let t = SimTime::after(SimDuration::from_micros(61_002_000));
        assert_eq!(t.to_string(), "61.002000s");
        assert_eq!(
            SimTime::from_nanos(1_000_000_007).to_string(),
            "1.000000007s"
        );
        assert_eq!(SimTime::ZERO.to_string(), "0.000000s");
    }
}
