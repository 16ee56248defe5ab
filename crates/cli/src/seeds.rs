//! Seeds from the environment, for loops over many seeds inside `cargo test`, in the manner of
//! madsim: `NETSIM_SEED=N` replays one seed, `NETSIM_SEEDS=A..B` (or `A..=B`) sweeps a range,
//! and a failing seed prints the line that replays it with the netsim version.

use std::ops::Range;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

/// The netsim version a replay needs: the release, the commit and the fingerprint of the
/// sources it was built from.
pub fn version() -> String {
    format!(
        "netsim {} (commit {}, source {})",
        env!("CARGO_PKG_VERSION"),
        env!("NETSIM_COMMIT"),
        env!("NETSIM_SOURCE")
    )
}

/// A seed range written `A..B` (B excluded) or `A..=B`, as `--seeds` and `NETSIM_SEEDS` take
/// it.
pub fn parse_seed_range(text: &str) -> Result<(u64, u64), String> {
    let bad = || format!("expected a seed range such as 0..1000 or 1..=500, found `{text}`");
    let (a, b, inclusive) = if let Some((a, b)) = text.split_once("..=") {
        (a, b, true)
    } else if let Some((a, b)) = text.split_once("..") {
        (a, b, false)
    } else {
        return Err(bad());
    };
    let a: u64 = a.trim().parse().map_err(|_| bad())?;
    let b: u64 = b.trim().parse().map_err(|_| bad())?;
    let end = if inclusive {
        b.checked_add(1).ok_or_else(bad)?
    } else {
        b
    };
    if end <= a {
        return Err(format!("the seed range {text} is empty"));
    }
    Ok((a, end))
}

/// The seeds a test should run: `NETSIM_SEED=N` alone if set, else the range `NETSIM_SEEDS`
/// names, else `default`. A malformed variable is a panic that says which and why (a test
/// must not fall back to other seeds than the ones asked for).
pub fn seeds(default: Range<u64>) -> Range<u64> {
    seeds_from(
        std::env::var("NETSIM_SEED").ok().as_deref(),
        std::env::var("NETSIM_SEEDS").ok().as_deref(),
        default,
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

fn seeds_from(
    one: Option<&str>,
    range: Option<&str>,
    default: Range<u64>,
) -> Result<Range<u64>, String> {
    if let Some(text) = one {
        let seed: u64 = text
            .trim()
            .parse()
            .map_err(|_| format!("NETSIM_SEED: expected a seed such as 7, found `{text}`"))?;
        return Ok(seed..seed + 1);
    }
    if let Some(text) = range {
        let (a, b) = parse_seed_range(text).map_err(|e| format!("NETSIM_SEEDS: {e}"))?;
        return Ok(a..b);
    }
    Ok(default)
}

/// The line that replays `seed` in the test running now (the thread `cargo test` names after
/// it), with the netsim version.
pub fn replay_line(seed: u64) -> String {
    let thread = std::thread::current();
    let command = match thread.name() {
        Some(test) if test != "main" => format!("NETSIM_SEED={seed} cargo test {test} -- --exact"),
        _ => format!("NETSIM_SEED={seed}"),
    };
    format!("replay: {command}   ({})", version())
}

/// Runs `check` for every seed of [`seeds`]`(default)`, in order. The first seed that fails
/// (an `Err` or a panic) ends the loop with a panic naming the seed and its replay line.
///
/// ```
/// use netsim::{Builder, Link, SimDuration, check_seeds};
///
/// check_seeds(0..3, |seed| {
///     let outcome = Builder::new("lossy")
///         .seed(seed)
///         .end(SimDuration::from_secs(30))
///         .script_host("client", "10.0.0.1", r#"[Connect(to: "server", port: 80), Send(1000), Close]"#)
///         .script_host("server", "10.0.0.2", "[Serve(port: 80, steps: [Recv(1000), RecvEof, Close])]")
///         .link("client", "server", Link::new().latency(SimDuration::from_millis(5)).loss(0.1))
///         .build()
///         .map_err(|e| e.to_string())?
///         .run()
///         .map_err(|e| e.to_string())?;
///     if outcome.passed() { Ok(()) } else { Err(outcome.summary().to_string()) }
/// });
/// ```
pub fn check_seeds(default: Range<u64>, mut check: impl FnMut(u64) -> Result<(), String>) {
    for seed in seeds(default) {
        match catch_unwind(AssertUnwindSafe(|| check(seed))) {
            Ok(Ok(())) => {}
            Ok(Err(why)) => panic!("seed {seed} failed:\n{why}\n{}", replay_line(seed)),
            Err(panic) => {
                eprintln!(
                    "seed {seed} failed (the panic above)\n{}",
                    replay_line(seed)
                );
                resume_unwind(panic);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_picks_the_seeds() {
        assert_eq!(seeds_from(None, None, 0..10), Ok(0..10));
        assert_eq!(
            seeds_from(Some("7"), Some("0..5"), 0..10),
            Ok(7..8),
            "one seed wins"
        );
        assert_eq!(seeds_from(None, Some("3..=5"), 0..10), Ok(3..6));
        assert_eq!(seeds_from(None, Some("100..200"), 0..10), Ok(100..200));
        let bad = seeds_from(Some("x"), None, 0..10).unwrap_err();
        assert!(bad.contains("NETSIM_SEED") && bad.contains("`x`"), "{bad}");
        let bad = seeds_from(None, Some("5..5"), 0..10).unwrap_err();
        assert!(
            bad.contains("NETSIM_SEEDS") && bad.contains("empty"),
            "{bad}"
        );
    }

    #[test]
    fn a_replay_line_names_the_test_the_seed_and_the_version() {
        let line = replay_line(42);
        assert!(
            line.starts_with("replay: NETSIM_SEED=42 cargo test "),
            "{line}"
        );
        assert!(line.contains("a_replay_line_names_the_test") && line.contains("-- --exact"));
        assert!(
            line.contains(&format!("netsim {}", env!("CARGO_PKG_VERSION"))),
            "{line}"
        );
    }

    #[test]
    fn a_failing_seed_ends_the_loop_with_its_replay_line() {
        let mut ran = Vec::new();
        let result = catch_unwind(AssertUnwindSafe(|| {
            check_seeds(10..20, |seed| {
                ran.push(seed);
                if seed == 13 {
                    Err("it broke".into())
                } else {
                    Ok(())
                }
            })
        }));
        let message = *result.unwrap_err().downcast::<String>().unwrap();
        assert_eq!(ran, vec![10, 11, 12, 13]);
        assert!(
            message.contains("seed 13 failed:\nit broke\nreplay: NETSIM_SEED=13"),
            "{message}"
        );
    }
}
