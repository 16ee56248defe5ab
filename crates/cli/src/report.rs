//! `netsim report`: one self-contained HTML page about one run of a scenario.

use std::path::PathBuf;
use std::process::ExitCode;

use netsim_engine::NullSink;
use netsim_view::html::{Body, Page, Section};
use netsim_view::states::{StateSink, StateTimeline};
use netsim_view::{ConnSelector, Interest, LadderSink, TraceFilter};

/// Segments the report's ladder draws at most.
const LADDER_SEGMENTS: usize = 400;

/// Write an HTML report of one run.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    target: crate::Target,
    /// The folder to write index.html into (made if missing).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// Draw the ladder of this connection (number, or endpoint[#incarnation]) instead of
    /// the one with the most to remark on.
    #[arg(long, value_name = "CONN")]
    conn: Option<ConnSelector>,
}

pub fn report(args: Args) -> Result<ExitCode, String> {
    let file = args.target.file();
    let (scenario, seed) = args.target.load()?;
    std::fs::create_dir_all(&args.out)
        .map_err(|e| format!("{}: cannot make the folder: {e}", args.out.display()))?;
    let index = args.out.join("index.html");
    crate::check_writable(&index)?;
    let failed_run = |e| format!("{}: {e}", file.display());
    let replay = args.target.replay_args(seed);

    // Runs are exact replays: a first pass finds the connection to draw, the second draws it.
    let (conn, why) = match args.conn {
        Some(conn) => (Some(conn), format!("{conn}, as asked")),
        None => {
            let interest = scenario
                .run(seed, Interest::default())
                .map_err(failed_run)?
                .1;
            match interest.best() {
                Some((n, remarks)) => (
                    Some(ConnSelector::Number(n)),
                    format!("connection {n}, the one with the most to remark on: {remarks}"),
                ),
                None => (None, "the run has no connection".into()),
            }
        }
    };
    let mut filter = TraceFilter::default();
    filter.conn = conn;
    let sink = LadderSink {
        ladder: Some(crate::new_ladder(&scenario, seed, filter, LADDER_SEGMENTS).for_picture()),
        inner: StateSink::new(NullSink, Some(StateTimeline::new())),
    };
    let (report, sink) = scenario.run(seed, sink).map_err(failed_run)?;
    let ladder = sink.ladder.expect("made above");
    if let Some(conn) = ladder.filter().conn_not_found() {
        return Err(crate::conn_not_in_run(conn));
    }
    let (_, timeline) = sink.inner.finish(report.outcome.end);
    let timeline = timeline.expect("made above");

    let summary = netsim_scenario::summary(&scenario, seed, &report);
    let sockets = netsim_scenario::socket_table(&report.hosts, None).join("\n");
    let mut sections = vec![Section {
        title: "Summary and checks".into(),
        caption: String::new(),
        body: Body::Text(summary),
    }];
    sections.push(Section {
        title: "Ladder".into(),
        caption: format!(
            "{why}. Time runs down, one row per event; crosses are drops. \
             Any other connection: netsim report {replay} --conn N --out DIR"
        ),
        body: Body::Svg(ladder.svg()),
    });
    sections.push(Section {
        title: "Sockets per state".into(),
        caption: format!(
            "Per host, the most sockets in each TCP state at once in each {} of virtual time, \
             and the connections established and the attempts that failed per second. \
             The same as CSV: netsim run {replay} --states FILE.csv",
            timeline.width(),
        ),
        body: Body::Svg(timeline.plot(&format!(
            "{}: sockets per state, connections per second",
            crate::run_title(&scenario, seed)
        ))),
    });
    sections.push(Section {
        title: "Sockets open at the end".into(),
        caption: "As ss -tan -o lists them.".into(),
        body: Body::Text(sockets),
    });
    let page = Page {
        title: scenario.file.name.clone(),
        description: scenario.file.description.clone(),
        subtitle: format!(
            "seed {seed} · {} · netsim run {replay}",
            crate::sweep::version(),
        ),
        passed: report.passed(),
        cut_short: report.verdict() == netsim_scenario::Verdict::PassSoFar,
        sections,
    };
    crate::write_atomic(&index, &page.html())?;
    out!("wrote {} ({why})\n", index.display());
    Ok(crate::exit_for(report.passed()))
}
