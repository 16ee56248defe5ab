//! `netsim test`: a folder of scenarios as regression tests, around the netsim-suite library.

use std::path::PathBuf;
use std::process::ExitCode;

use netsim_suite::{Options, Outcome, Verdict};

/// Run scenarios as regression tests: check each one's expectations and oracles and compare
/// its trace with its stored snapshot.
///
/// Example: netsim test incidents/ --jobs 2
#[derive(clap::Args)]
pub struct Args {
    /// Scenario folders (their *.ron files) or files (default: scenarios).
    paths: Vec<PathBuf>,
    /// Where the snapshots are (default: a snapshots/ folder beside each scenario file).
    #[arg(long, value_name = "DIR")]
    snapshots: Option<PathBuf>,
    /// Store each new or changed run as the snapshot (after reading the diffs).
    #[arg(long)]
    accept: bool,
    /// Threads, at least 1 (default: every core).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    jobs: Option<u32>,
}

pub fn test(args: Args) -> Result<ExitCode, String> {
    let paths = if args.paths.is_empty() {
        vec![PathBuf::from("scenarios")]
    } else {
        args.paths
    };
    let cases = netsim_suite::collect(&paths, args.snapshots.as_deref())?;
    let jobs = args.jobs.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        |j| j as usize,
    );
    let options = Options::from_env(args.accept, jobs);
    let outcomes = netsim_suite::run(&cases, &options, |o| out!("{}", describe(o)))?;
    let count = |v: Verdict| outcomes.iter().filter(|o| o.verdict == v).count();
    let mut parts = vec![format!("{} passed", count(Verdict::Passed))];
    for v in [
        Verdict::KnownFailure,
        Verdict::Accepted,
        Verdict::New,
        Verdict::Changed,
        Verdict::Failed,
        Verdict::Error,
    ] {
        let n = count(v);
        let plural = if n == 1 { "" } else { "s" };
        match v {
            _ if n == 0 => {}
            Verdict::KnownFailure => parts.push(format!("{n} known failure{plural}")),
            Verdict::Error => parts.push(format!("{n} error{plural}")),
            _ => parts.push(format!("{n} {}", v.label().to_lowercase())),
        }
    }
    out!(
        "\n{} scenario{}: {}\n",
        outcomes.len(),
        if outcomes.len() == 1 { "" } else { "s" },
        parts.join(", ")
    );
    if outcomes.iter().any(|o| o.pending.is_some()) {
        let shown: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        let mut again = format!("netsim test {}", shown.join(" "));
        if let Some(dir) = &args.snapshots {
            again.push_str(&format!(" --snapshots {}", dir.display()));
        }
        out!(
            "snapshots waiting for review (NAME.snap.new beside NAME.snap): read the diffs, then \
             accept them all with `{again} --accept`, or one by one with `cargo insta review` \
             (it finds them inside a Cargo package's folder)\n"
        );
    }
    if options.ci && count(Verdict::New) > 0 {
        out!("CI is set: a scenario without a snapshot fails\n");
    }
    Ok(crate::exit_for(
        !outcomes.iter().any(|o| o.verdict.fails(&options)),
    ))
}

/// One case as the report shows it: its verdict and file, then what explains it.
fn describe(o: &Outcome) -> String {
    let mut text = format!("{:<14} {}", o.verdict.label(), o.case.scenario.display());
    match o.verdict {
        Verdict::Accepted => text.push_str(&format!(
            " -> {}{}",
            o.case.snapshot.display(),
            if o.checks_passed == Some(false) {
                " (its checks fail: the snapshot records the failure)"
            } else {
                ""
            }
        )),
        Verdict::New => text.push_str(" (no snapshot yet)"),
        Verdict::KnownFailure => {
            text.push_str(" (its checks fail, as its snapshot records)");
        }
        _ => {}
    }
    text.push('\n');
    if let Some(e) = &o.error {
        text.push_str(&format!("  {e}\n"));
    }
    if o.checks_passed == Some(false) && o.verdict != Verdict::KnownFailure {
        for line in o
            .summary
            .lines()
            .filter(|l| l.starts_with("  FAIL") || l.starts_with("result:") || l.starts_with("== "))
        {
            text.push_str(&format!("  {line}\n"));
        }
    }
    if let (Some(diff), false) = (&o.diff, o.verdict == Verdict::Accepted) {
        for line in diff.lines() {
            text.push_str(&format!("  {line}\n"));
        }
    }
    if let Some(p) = &o.pending {
        text.push_str(&format!("  the run's snapshot: {}\n", p.display()));
    }
    text
}
