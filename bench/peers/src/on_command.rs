//! The workload through the command, as a user runs it: `netsim run FILE --quiet` on the
//! bundled `scenarios/bench_short_connections.ron` with its count set to N. This is netsim end
//! to end: the process, parsing and compiling the scenario, the script interpreter, the
//! observer, the byte-stream oracle and the trace hash. The command's exit code says whether
//! every expectation held (N connections established, 64 N bytes received each way), which is
//! what counts the connections as completed.
//!
//! The binary is (re)built first with `cargo build --release -p netsim` in the workspace, so it
//! is never stale; the time of that build is not counted.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::Outcome;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Builds the `netsim` binary of the workspace once per process.
fn binary() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
                .args(["build", "--release", "-q", "-p", "netsim"])
                .current_dir(workspace())
                .status()
                .expect("cargo runs");
            assert!(status.success(), "cargo build --release -p netsim failed");
            workspace().join("target/release/netsim")
        })
        .clone()
}

/// The bundled scenario with `n` connections (and its counts and end scaled to match).
fn scenario(n: u64) -> PathBuf {
    let text = std::fs::read_to_string(workspace().join("scenarios/bench_short_connections.ron"))
        .expect("the bundled scenario");
    let bytes = 64 * n;
    let scaled = text
        .replace("count: 100000", &format!("count: {n}"))
        .replace("exactly: 100000", &format!("exactly: {n}"))
        .replace("exactly: 6400000", &format!("exactly: {bytes}"))
        // 4.6 simulated ms a connection, then 60 s of TIME_WAIT, with room to spare.
        .replace("end: \"1000s\"", &format!("end: \"{}s\"", n / 100 + 120));
    assert!(
        n == 100_000 || scaled != text,
        "the bundled scenario no longer has the counts this benchmark scales"
    );
    let path = std::env::temp_dir().join(format!("netsim-bench-peers-{n}.ron"));
    std::fs::write(&path, scaled).expect("a temporary file");
    path
}

/// Runs `netsim run` on `n` sequential short connections and reports what was done.
pub fn run(n: u64) -> Outcome {
    let (binary, file) = (binary(), scenario(n));
    let start = Instant::now();
    let out = Command::new(&binary)
        .args(["run", "--quiet"])
        .arg(&file)
        .output()
        .expect("netsim runs");
    let wall = start.elapsed();
    let passed = out.status.success();
    if !passed {
        eprintln!(
            "netsim run {} failed:\n{}{}",
            file.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let done = if passed { n } else { 0 };
    Outcome {
        completed: done,
        served: done,
        wall,
        detail: "the whole command: process, scenario, script, observer, oracle, trace hash".into(),
    }
}
