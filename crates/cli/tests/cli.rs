//! The `netsim` command as a user runs it: exit codes, errors with locations, the summary,
//! determinism checking, JSON output, list and check.

use std::path::PathBuf;
use std::process::{Command, Output};

fn netsim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_netsim"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("netsim runs")
}

fn scenario(name: &str) -> String {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "..", "..", "scenarios", name]
        .iter()
        .collect();
    path.to_string_lossy().into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The names of the files in `dir` (hidden ones too), sorted.
fn file_names(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// A scratch directory of one test (`netsim-TAG-PID` in the temporary directory), made
/// empty, and removed with everything in it when the test ends, passing or failing.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("netsim-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl std::ops::Deref for Scratch {
    type Target = std::path::Path;
    fn deref(&self) -> &std::path::Path {
        &self.0
    }
}

impl AsRef<std::path::Path> for Scratch {
    fn as_ref(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Writes `text` to the file `name` in `dir` and returns its path.
fn temp_scenario(dir: &Scratch, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn a_passing_run_prints_trace_summary_and_stats_and_exits_0() {
    let o = netsim(&["run", &scenario("lost_final_ack.ron")]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("client 10.0.0.1:32768 FIN_WAIT_2 -> TIME_WAIT"),
        "{out}"
    );
    assert!(out.contains("retransmit FIN"));
    assert!(out.contains("result:   PASS"));
    let last = out.lines().last().unwrap();
    assert!(
        last.starts_with("stats:") && last.contains("events/s"),
        "{last}"
    );
}

#[test]
fn quiet_prints_only_the_summary() {
    let o = netsim(&["run", &scenario("lost_final_ack.ron"), "--quiet"]);
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    assert!(out.starts_with("== lost-final-ack (seed 1) =="), "{out}");
    assert!(!out.contains(" > 10.0.0.1"));
}

#[test]
fn a_failed_expectation_exits_1_and_names_it() {
    let text = std::fs::read_to_string(scenario("lost_final_ack.ron"))
        .unwrap()
        .replace(
            "counter: FinRetransmits, exactly: 1",
            "counter: FinRetransmits, exactly: 2",
        );
    let scratch = Scratch::new("failed-expectation");
    let path = temp_scenario(&scratch, "failing.ron", &text);
    let o = netsim(&["run", &path, "--quiet"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains("FAIL server FinRetransmits = 2 (found 1)"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn bad_input_exits_2_with_file_line_and_column() {
    let text = std::fs::read_to_string(scenario("lost_final_ack.ron"))
        .unwrap()
        .replace("latency: \"1ms\"", "latency: \"1ms\", loss: 1.5");
    let scratch = Scratch::new("bad-input");
    let path = temp_scenario(&scratch, "bad.ron", &text);
    let o = netsim(&["run", &path]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains("bad.ron:") && err.contains("outside 0..=1"),
        "{err}"
    );
    let o = netsim(&["check", &path]);
    assert_eq!(o.status.code(), Some(2));
    let o = netsim(&["run", "/nonexistent.ron"]);
    assert_eq!(o.status.code(), Some(2));
    let o = netsim(&["frobnicate"]);
    assert_eq!(o.status.code(), Some(2), "usage errors exit 2 too");
}

/// Every way a user can get the input wrong ends the same way: exit 2, one clear message that
/// says where (file:line:column, the option, the path), nothing on stdout, no panic and no
/// backtrace even with RUST_BACKTRACE set.
#[test]
fn every_user_facing_error_exits_2_with_one_clear_message() {
    let lost = scenario("lost_final_ack.ron");
    let scratch = Scratch::new("user-errors");
    let garbage = temp_scenario(&scratch, "garbage.ron", "not ron");
    let empty = temp_scenario(&scratch, "empty.ron", "");
    let binary = temp_scenario(&scratch, "binary.ron", "\u{0}");
    std::fs::write(&binary, [0xff, 0xfe]).unwrap();
    let not_json = temp_scenario(&scratch, "not-json.json", "nope");
    let not_report = temp_scenario(&scratch, "not-report.json", "{\"x\": 1}");
    let dir = scenario("");
    let report_dir = scratch.join("report").to_string_lossy().into_owned();
    // (arguments, what the message must say; "error:" marks clap's usage errors)
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["run", "/nonexistent.ron"],
            "netsim: /nonexistent.ron:1:1: cannot read the file: No such file",
        ),
        (
            vec!["run", &garbage],
            ":1:1: Expected struct `Scenario` but found `not`",
        ),
        (
            vec!["run", &empty],
            ":1:1: Expected opening `(` for struct `Scenario`",
        ),
        (
            vec!["run", &binary],
            "cannot read the file: stream did not contain valid UTF-8",
        ),
        (vec!["run", &dir], "cannot read the file: Is a directory"),
        (
            vec!["run", &lost, "--until", "soon"],
            "error: invalid value 'soon' for '--until <UNTIL>': expected a duration",
        ),
        (
            vec!["run", &lost, "--seed", "-1"],
            "error: unexpected argument '-1'",
        ),
        (
            vec!["run", &lost, "--host", "nobody"],
            "netsim: --host nobody: no such host (the scenario has client, server)",
        ),
        (
            vec!["run", &lost, "--state", "WAITING"],
            "netsim: --state WAITING: no such state (CLOSED, LISTEN,",
        ),
        (
            vec!["run", &lost, "--conn", "10.0.0.1"],
            "error: invalid value '10.0.0.1' for '--conn <CONN>': `10.0.0.1` is not a connection",
        ),
        (
            vec!["run", &lost, "--from", "2s", "--to", "1s"],
            "netsim: --from 2s is after --to 1s",
        ),
        (
            vec!["run", &lost, "--conn", "999"],
            "netsim: --conn: connection 999 is not in this run",
        ),
        (
            vec!["run", &lost, "--conn", "10.0.0.9:1#2", "--ladder", "-"],
            "netsim: --conn: 10.0.0.9:1#2 is not in this run",
        ),
        (
            vec!["report", &lost, "--conn", "999", "--out", &report_dir],
            "netsim: --conn: connection 999 is not in this run",
        ),
        (
            vec!["run", &lost, "--conn", "10.0.0.1:32768#0"],
            "`10.0.0.1:32768#0`: incarnations are numbered from 1",
        ),
        (
            vec!["run", &lost, "--ladder", "-", "--format", "json"],
            "netsim: --ladder - prints a text diagram in place of the trace",
        ),
        (
            vec!["run", &lost, "--states", &dir],
            "cannot write here: it is a directory (give a file name)",
        ),
        (
            vec!["run"],
            "error: the following required arguments were not provided",
        ),
        (
            vec!["check", &lost, &garbage],
            "netsim: 1 of 2 files have errors",
        ),
        (
            vec!["sweep", &lost, "--seeds", "5..5"],
            "the seed range 5..5 is empty",
        ),
        (
            vec!["sweep", &lost, "--seeds", "0..=18446744073709551615"],
            "expected a seed range",
        ),
        (
            vec!["sweep", &lost, "--seeds", "a..b"],
            "expected a seed range such as 0..1000",
        ),
        (
            vec!["sweep", &lost, "--seeds", "0..10", "--shard", "3/2"],
            "expected a shard K/N with 1 <= K <= N",
        ),
        (
            vec!["sweep", &lost, "--seeds", "0..10", "--jobs", "0"],
            "0 is not in 1..=",
        ),
        (
            vec!["sweep", &lost, "--seeds", "0..10", "--stop-after", "x"],
            "invalid value 'x' for '--stop-after",
        ),
        (
            vec![
                "sweep",
                &lost,
                "--seeds",
                "0..10",
                "--json",
                "/nonexistent-dir/r.json",
            ],
            "netsim: /nonexistent-dir/r.json: cannot write here",
        ),
        (
            vec!["merge"],
            "error: the following required arguments were not provided",
        ),
        (
            vec!["merge", "/nonexistent.json"],
            "netsim: /nonexistent.json: No such file",
        ),
        (
            vec!["merge", &not_json],
            "not-json.json: not a sweep report: expected ident at line 1 column 2",
        ),
        (
            vec!["merge", &not_report],
            "not-report.json: not a sweep report: missing field `scenario`",
        ),
        (
            vec!["list", "/nonexistent"],
            "netsim: /nonexistent: No such file",
        ),
        (
            vec!["kernel", &lost, "--until", "1000s"],
            "is longer than the 2min the kernel side may run",
        ),
        (
            vec!["frobnicate"],
            "error: unrecognized subcommand 'frobnicate'",
        ),
    ];
    for (args, says) in cases {
        let o = Command::new(env!("CARGO_BIN_EXE_netsim"))
            .args(&args)
            .env("RUST_BACKTRACE", "1")
            .output()
            .unwrap();
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(
            !err.contains("panicked") && !err.contains("backtrace"),
            "{args:?}: {err}"
        );
        let first = err.lines().next().unwrap_or_default();
        if first.starts_with("error: ") {
            // clap: the error, then where to find help.
            assert!(
                err.trim_end()
                    .ends_with("For more information, try '--help'."),
                "{err}"
            );
        } else if args[0] == "check" {
            // One line per bad file, then the count.
            assert_eq!(err.lines().count(), 2, "{err}");
            assert!(
                err.lines().next().unwrap().contains("garbage.ron:1:1: "),
                "{err}"
            );
        } else {
            assert!(
                first.starts_with("netsim: ") && err.lines().count() == 1,
                "{args:?}: {err}"
            );
            assert!(o.stdout.is_empty(), "{args:?}: {}", stdout(&o));
        }
    }
    // Two reports of different scenario files do not merge.
    let dir = Scratch::new("errors");
    let (a, b) = (dir.join("a.json"), dir.join("b.json"));
    for (file, json, seeds) in [
        (&lost, &a, "0..5"),
        (&scenario("simultaneous_close.ron"), &b, "5..10"),
    ] {
        let o = netsim(&[
            "sweep",
            file,
            "--seeds",
            seeds,
            "--quiet",
            "--json",
            json.to_str().unwrap(),
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    }
    let o = netsim(&["merge", a.to_str().unwrap(), b.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o)
            .starts_with("netsim: reports of different scenario files: lost-final-ack (content "),
        "{}",
        stderr(&o)
    );
}

/// tshark shows every payload as plain data: netsim's test pattern is not the protocol a port
/// suggests (HTTP on 80), and Wireshark's guesses by port would call it malformed.
const TSHARK_PAYLOAD_AS_DATA: &str = "tcp.port==1-65535,data";

/// Whether tshark can be run; CI must have it (`.ci/run` installs it), elsewhere a test skips
/// its tshark half with a note.
fn tshark_present() -> bool {
    if Command::new("tshark").arg("--version").output().is_ok() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI must have tshark (apt-get install tshark)"
    );
    eprintln!("tshark is not installed: its half of this test is skipped");
    false
}

/// The records of a classic pcap file, counted by walking their headers; the walk must end
/// exactly at the end of the file (no record cut short).
fn pcap_frames(path: &std::path::Path) -> usize {
    let bytes = std::fs::read(path).unwrap();
    let (mut at, mut n) = (24, 0);
    while at < bytes.len() {
        at += 16 + u32::from_le_bytes(bytes[at + 8..at + 12].try_into().unwrap()) as usize;
        n += 1;
    }
    assert_eq!(at, bytes.len(), "{}", path.display());
    n
}

/// tshark's count of the frames of `file` that match `filter`, with checksum validation on.
fn tshark_count(file: &std::path::Path, filter: &str) -> usize {
    let o = Command::new("tshark")
        .args(["-r", file.to_str().unwrap(), "-Y", filter])
        .args([
            "-o",
            "ip.check_checksum:TRUE",
            "-o",
            "tcp.check_checksum:TRUE",
        ])
        .args(["-d", TSHARK_PAYLOAD_AS_DATA])
        .output()
        .expect("tshark runs");
    assert!(o.status.success(), "{}", stderr(&o));
    stdout(&o).lines().count()
}

/// `--pcap` writes what Wireshark reads: tshark finds no malformed frame and no bad checksum,
/// one frame per packet sent (and per packet delivered, in the second file), and its TCP
/// analysis flags as many retransmissions as the trace shows. CI installs tshark; elsewhere
/// the tshark half is skipped with a note (`apt-get install tshark`).
#[test]
fn pcap_output_is_read_by_tshark_with_the_retransmissions_the_trace_shows() {
    let dir = Scratch::new("pcap");
    let sent = dir.join("lossy.pcap");
    let delivered = dir.join("lossy.delivered.pcap");
    let file = scenario("bulk_transfer_lossy.ron");
    let o = netsim(&["run", &file, "--pcap", sent.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let trace = stdout(&o);
    // A packet line reads `TIME HOST > SEGMENT` (sent) or `TIME HOST < SEGMENT` (delivered).
    let arrow = |a: &str| {
        trace
            .lines()
            .filter(|l| l.split_whitespace().nth(2) == Some(a))
            .count()
    };
    let (sends, deliveries) = (arrow(">"), arrow("<"));
    let retransmits = trace.lines().filter(|l| l.contains(" retransmit ")).count();
    assert!(retransmits > 50, "{retransmits}");
    // Both files exist and hold whole records (the pcap layout itself is unit-tested).
    assert_eq!(pcap_frames(&sent), sends);
    assert_eq!(pcap_frames(&delivered), deliveries);
    assert!(deliveries < sends, "the lossy link dropped some");

    if !tshark_present() {
        return;
    }
    for capture in [&sent, &delivered] {
        assert_eq!(tshark_count(capture, ""), pcap_frames(capture));
        assert_eq!(
            tshark_count(capture, "_ws.malformed || _ws.expert.severity >= error"),
            0,
            "{}",
            capture.display()
        );
    }
    // At the sender, tshark calls a resent segment a retransmission (fast or spurious too),
    // or out of order when it follows its original within an RTT.
    let flagged = tshark_count(
        &sent,
        "tcp.analysis.retransmission || tcp.analysis.fast_retransmission \
         || tcp.analysis.spurious_retransmission || tcp.analysis.out_of_order",
    );
    assert_eq!(flagged, retransmits);
    assert!(tshark_count(&sent, "tcp.analysis.duplicate_ack") > 0);
    assert!(tshark_count(&delivered, "tcp.analysis.out_of_order") > 0);
}

/// Every catalogue scenario's two captures hold one frame per packet sent and per packet
/// delivered (as the summary counts them), and tshark reads each with no malformed frame, no
/// error and no bad IPv4 or TCP checksum. The two largest runs are cut (`--until`) to keep the
/// test short: the overload at 10 s (15 000 packets), the 100 000-connection bench at 1 s.
#[test]
fn every_catalogue_scenario_writes_captures_tshark_reads_clean() {
    let dir = Scratch::new("pcap-catalogue");
    let mut files: Vec<PathBuf> = std::fs::read_dir(scenario(""))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "ron"))
        .collect();
    files.sort();
    assert!(files.len() >= 30, "{files:?}");
    let mut captures = Vec::new();
    for file in &files {
        let name = file.file_stem().unwrap().to_str().unwrap();
        let sent = dir.join(format!("{name}.pcap"));
        let mut args = vec!["run", file.to_str().unwrap(), "--quiet"];
        args.extend_from_slice(match name {
            "server_time_wait_overload" => &["--until", "10s"][..],
            "bench_short_connections" => &["--until", "1s"],
            _ => &[],
        });
        args.extend_from_slice(&["--pcap", sent.to_str().unwrap()]);
        let o = netsim(&args);
        assert!(
            matches!(o.status.code(), Some(0 | 1)),
            "{name}: {}",
            stderr(&o)
        );
        let summary = stdout(&o);
        let packets = summary
            .lines()
            .find_map(|l| l.strip_prefix("packets:"))
            .unwrap_or_else(|| panic!("{name}: {summary}"));
        let counts: Vec<usize> = packets
            .split(',')
            .map(|c| c.split_whitespace().next().unwrap().parse().unwrap())
            .collect();
        let delivered = dir.join(format!("{name}.delivered.pcap"));
        assert_eq!(pcap_frames(&sent), counts[0], "{name}: frames sent");
        assert_eq!(
            pcap_frames(&delivered),
            counts[2],
            "{name}: frames delivered"
        );
        captures.extend([sent, delivered]);
    }
    if !tshark_present() {
        return;
    }
    // Two threads: each capture is one tshark process, most of it start-up.
    let bad: Vec<String> = std::thread::scope(|s| {
        let halves = captures.chunks(captures.len().div_ceil(2));
        let workers: Vec<_> = halves
            .map(|half| {
                s.spawn(move || {
                    half.iter()
                        .filter_map(|c| {
                            let filter = "_ws.malformed || _ws.expert.severity >= error \
                                || ip.checksum.status == 0 || tcp.checksum.status == 0";
                            let n = tshark_count(c, filter);
                            (n > 0).then(|| format!("{}: {n} bad frames", c.display()))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    assert!(bad.is_empty(), "{bad:#?}");
}

/// A run interrupted by SIGINT or SIGTERM exits 130 and leaves neither its output files nor
/// their temporary files behind (files from before stay as they were).
#[test]
fn an_interrupted_run_leaves_no_output_and_no_temporary_file() {
    let bench = scenario("bench_short_connections.ron");
    for signal in ["-INT", "-TERM"] {
        let dir = Scratch::new(&format!("interrupt{signal}"));
        let old = dir.join("old.csv");
        std::fs::write(&old, "before").unwrap();
        let pcap = dir.join("run.pcap");
        let child = Command::new(env!("CARGO_BIN_EXE_netsim"))
            .args(["run", &bench, "--quiet", "--pcap", pcap.to_str().unwrap()])
            .args(["--states", old.to_str().unwrap()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // 100 000 connections take seconds: the signal comes while the capture is written.
        std::thread::sleep(std::time::Duration::from_millis(400));
        let sent = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        let o = child.wait_with_output().unwrap();
        assert_eq!(o.status.code(), Some(130), "{signal}: {}", stderr(&o));
        assert!(stderr(&o).contains("interrupted: the run's output files were not written"));
        assert_eq!(file_names(&dir), ["old.csv"], "{signal}");
        assert_eq!(std::fs::read_to_string(&old).unwrap(), "before");
    }
}

/// `--states` and `--plot` write the sockets per state over time: the CSV's TIME_WAIT column
/// peaks, for every host, at the TIME_WAIT peak the summary reports (`TIME_WAIT 0 (peak N)`,
/// or `TIME_WAIT N` when the peak is the end), and the SVG is a whole picture with its axis
/// labels. A path that cannot be written is refused before the run; nothing else is left
/// beside the files.
#[test]
fn states_csv_and_plot_show_the_time_wait_peak_the_summary_reports() {
    let dir = Scratch::new("states");
    let (csv, svg) = (dir.join("states.csv"), dir.join("states.svg"));
    let file = scenario("server_time_wait_overload.ron");
    let o = netsim(&["run", &file, "--quiet", "--plot", "/nonexistent/dir/x.svg"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("/nonexistent/dir/x.svg: cannot write here"));
    assert_eq!(stdout(&o), "", "no work was done");

    let o = netsim(&[
        "run",
        &file,
        "--quiet",
        "--states",
        csv.to_str().unwrap(),
        "--plot",
        svg.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let summary = stdout(&o);
    // Host lines read `NAME: STATE N (peak M), STATE N, ...; errors ...; received N bytes`.
    let mut expected = Vec::new();
    for line in summary.lines().filter(|l| l.ends_with(" bytes")) {
        let (host, rest) = line.split_once(": ").unwrap();
        let states = rest.split(';').next().unwrap();
        let peak = states.split(", ").find_map(|s| {
            let s = s.strip_prefix("TIME_WAIT ")?;
            let peak = s
                .split_once("(peak ")
                .map_or(s, |(_, p)| p.trim_end_matches(')'));
            Some(peak.trim().parse::<u64>().unwrap())
        });
        expected.push((host.to_string(), peak.unwrap_or(0)));
    }
    assert_eq!(
        expected,
        [("clients".to_string(), 0), ("server".to_string(), 199)],
        "{summary}"
    );
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert_eq!(header[..2], ["time_s", "host"]);
    assert_eq!(
        header[header.len() - 2..],
        ["established_per_s", "failed_per_s"]
    );
    let column = header.iter().position(|h| *h == "TIME_WAIT").unwrap();
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert!(rows.iter().all(|r| r.len() == header.len()));
    for (host, peak) in &expected {
        let most = rows
            .iter()
            .filter(|r| r[1] == host)
            .map(|r| r[column].parse::<u64>().unwrap())
            .max();
        assert_eq!(most, Some(*peak), "{host}");
    }
    let picture = std::fs::read_to_string(&svg).unwrap();
    assert!(picture.starts_with("<svg"));
    assert!(picture.trim_end().ends_with("</svg>"));
    for label in [
        "virtual time (s)",
        ">sockets<",
        ">connections / s<",
        "TIME_WAIT (peak 199)",
        "server: connections established per second",
    ] {
        assert!(picture.contains(label), "{label} missing");
    }
    assert_eq!(file_names(&dir), ["states.csv", "states.svg"]);
}

/// The sockets left open at the end, as `ss -tan -o` prints them: in the summary (the first
/// 20 of each host), alone with `--sockets` (all of them), and in the JSON summary, which also
/// carries the drop reasons and the fault counts the text summary shows.
#[test]
fn the_sockets_left_open_are_listed_as_ss_lists_them() {
    let leak = scenario("close_wait_leak.ron");
    let o = netsim(&["run", &leak, "--sockets"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let table = stdout(&o);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    assert!(lines[0].starts_with("Host    State       Recv-Q  Send-Q  Local Address:Port"));
    assert!(
        lines[2].starts_with("server  CLOSE-WAIT       0       0  10.0.0.2:80         10.0.0.1:"),
        "{table}"
    );
    let summary = stdout(&netsim(&["run", &leak, "--quiet"]));
    assert!(summary.contains("sockets:  2 open at the end, as ss -tan -o lists them:\n"));
    assert!(summary.contains(&format!("  {}\n", lines[2])), "{summary}");
    // A TIME_WAIT pile-up: 20 rows per host (6 603 clients, 946 server), the rest counted.
    let pile = scenario("server_time_wait_overload.ron");
    let summary = stdout(&netsim(&["run", &pile, "--until", "70s", "--quiet"]));
    assert!(
        summary.contains("sockets:  7549 open at the end"),
        "{summary}"
    );
    assert!(
        summary.contains("  clients: 6583 more sockets (netsim run --sockets lists them all)\n  server: 926 more sockets"),
        "{summary}"
    );
    let all = stdout(&netsim(&["run", &pile, "--until", "70s", "--sockets"]));
    assert_eq!(all.lines().count(), 7550);
    assert!(
        all.contains("  TIME-WAIT       0       0  10.0.0.2:80         10.0.0.1:"),
        "{all}"
    );
    assert!(all.contains("timer:(timewait,50sec,0)"));

    let o = netsim(&["run", &scenario("lost_final_ack.ron"), "--format", "json"]);
    let last = stdout(&o).lines().last().unwrap().to_string();
    let doc: serde_json::Value = serde_json::from_str(&last).unwrap();
    assert_eq!(doc["drops"]["fault 1"], 1);
    assert_eq!(doc["faults"][0]["fired"], 1);
    let server = &doc["hosts"][1]["sockets"][0];
    assert_eq!(
        (server["state"].as_str(), server["send_q"].as_u64()),
        (Some("LISTEN"), Some(128))
    );
    assert_eq!(doc["hosts"][0]["unfinished_tasks"], 0);
}

/// The JSON summary carries everything the text summary shows: each line of the text summary
/// is read back and compared with the JSON summary of the same run, and a line the reader does
/// not know fails the test. The runs cover copies and drops, a fault's counts, errors and
/// keep-alive probes, sockets with running timers, a run cut short (checks not reached, 20
/// table rows per host) and a failing run.
#[test]
fn the_json_summary_carries_everything_the_text_summary_shows() {
    let runs: [(&str, &[&str]); 5] = [
        ("bulk_transfer_lossy.ron", &[]),
        ("lost_final_ack.ron", &[]),
        ("keepalive_peer_vanished.ron", &[]),
        ("server_time_wait_overload.ron", &["--until", "70s"]),
        ("sweep_stale_data.ron", &["--seed", "0"]),
    ];
    let mut results = Vec::new();
    for (name, extra) in runs {
        let file = scenario(name);
        let mut args = vec!["run", file.as_str(), "--quiet"];
        args.extend_from_slice(extra);
        let text = stdout(&netsim(&args));
        args.extend_from_slice(&["--format", "json"]);
        let json = stdout(&netsim(&args));
        let doc: serde_json::Value = serde_json::from_str(json.lines().last().unwrap()).unwrap();
        let kinds = text_summary_matches_json(&text, &doc);
        // Every kind of line a summary can have appears at least once over these runs.
        results.push((doc["result"].as_str().unwrap().to_string(), kinds));
    }
    let seen: std::collections::BTreeSet<&str> = results
        .iter()
        .flat_map(|(_, k)| k.iter().copied())
        .collect();
    for kind in [
        "title",
        "end",
        "packets",
        "drops",
        "fault",
        "host",
        "errors",
        "retransmits",
        "keep-alive",
        "sockets",
        "row",
        "more",
        "check",
        "result",
        "trace",
    ] {
        assert!(seen.contains(kind), "no run showed a {kind} line");
    }
    let verdicts: Vec<&str> = results.iter().map(|(r, _)| r.as_str()).collect();
    assert_eq!(verdicts, ["pass", "pass", "pass", "pass so far", "fail"]);
}

/// Compares each line of a text summary with the JSON summary; returns the kinds of line met.
fn text_summary_matches_json(text: &str, doc: &serde_json::Value) -> Vec<&'static str> {
    use serde_json::Value;
    let ints = |s: &str| -> Vec<u64> {
        s.split(|c: char| !c.is_ascii_digit())
            .filter(|w| !w.is_empty())
            .map(|w| w.parse().unwrap())
            .collect()
    };
    let u = |v: &Value| v.as_u64().unwrap_or(0);
    let host = |name: &str| -> &Value {
        doc["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["name"] == name)
            .unwrap_or_else(|| panic!("no host {name} in the JSON"))
    };
    let (mut kinds, mut checks, mut rows) = (Vec::new(), 0, std::collections::BTreeMap::new());
    let start = text.find("== ").expect("a summary");
    for line in text[start..].lines() {
        let field = |prefix: &str| line.strip_prefix(prefix).map(str::trim);
        let kind = if let Some(t) = field("==") {
            let title = format!(
                "{} (seed {}) ==",
                doc["scenario"].as_str().unwrap(),
                doc["seed"]
            );
            assert_eq!(t, title);
            "title"
        } else if let Some(rest) = field("end:") {
            let (time, why) = rest.split_once(' ').unwrap();
            let (s, frac) = time.trim_end_matches('s').split_once('.').unwrap();
            let ns = s.parse::<u64>().unwrap() * 1_000_000_000
                + format!("{frac:0<9}").parse::<u64>().unwrap();
            assert_eq!(ns, u(&doc["end_ns"]), "{line}");
            assert_eq!(why, format!("({})", doc["stop"].as_str().unwrap()));
            "end"
        } else if let Some(rest) = field("packets:") {
            let json: Vec<u64> = [
                "segments_sent",
                "copies",
                "delivered",
                "dropped",
                "in_flight",
            ]
            .iter()
            .map(|k| u(&doc[*k]))
            .collect();
            assert_eq!(ints(rest), json, "{line}");
            "packets"
        } else if let Some(rest) = field("drops:") {
            let drops = doc["drops"].as_object().unwrap();
            let pairs: Vec<&str> = rest.split(", ").collect();
            assert_eq!(pairs.len(), drops.len(), "{line}");
            for pair in pairs {
                let (reason, n) = pair.rsplit_once(": ").unwrap();
                assert_eq!(u(&drops[reason]), n.parse::<u64>().unwrap(), "{line}");
            }
            "drops"
        } else if line.starts_with("fault ") {
            let n = ints(line);
            let fault = &doc["faults"][n[0] as usize - 1];
            assert_eq!(n[1..], [u(&fault["matched"]), u(&fault["fired"])], "{line}");
            "fault"
        } else if let Some(rest) = field("sockets:") {
            let open: usize = doc["hosts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| h["sockets"].as_array().unwrap().len())
                .sum();
            let said = if rest.starts_with("none") {
                0
            } else {
                ints(rest)[0] as usize
            };
            assert_eq!(said, open, "{line}");
            "sockets"
        } else if line.starts_with("  Host ") {
            "table header"
        } else if let Some(rest) = line
            .strip_prefix("  ")
            .filter(|r| r.contains(" more sockets"))
        {
            let (name, more) = rest.split_once(": ").unwrap();
            let sockets = host(name)["sockets"].as_array().unwrap().len();
            assert_eq!(rows[name] + ints(more)[0] as usize, sockets, "{line}");
            "more"
        } else if line == "checks:" {
            "checks"
        } else if let Some(rest) = line
            .strip_prefix("  ")
            .filter(|_| kinds.contains(&"checks"))
        {
            let (mark, check) = rest.split_at(5);
            let json = &doc["checks"][checks];
            assert_eq!(check, json["check"].as_str().unwrap());
            let (passed, reached) = (json["passed"] == true, json["reached"] == true);
            let want = match (reached, passed) {
                (false, _) => "--   ",
                (true, true) => "ok   ",
                (true, false) => "FAIL ",
            };
            assert_eq!(mark, want, "{line}");
            checks += 1;
            "check"
        } else if let Some(row) = line.strip_prefix("  ") {
            let cells: Vec<&str> = row.split_whitespace().collect();
            let shown = rows.entry(cells[0].to_string()).or_insert(0);
            let json = &host(cells[0])["sockets"][*shown];
            *shown += 1;
            let state = match cells[1] {
                "ESTAB" => "ESTABLISHED".to_string(),
                "SYN-RECV" => "SYN_RECEIVED".to_string(),
                s => s.replace('-', "_"),
            };
            assert_eq!(state, json["state"].as_str().unwrap(), "{line}");
            assert_eq!(ints(cells[2])[0], u(&json["recv_q"]), "{line}");
            assert_eq!(ints(cells[3])[0], u(&json["send_q"]), "{line}");
            assert_eq!(cells[4], json["local"].as_str().unwrap(), "{line}");
            assert_eq!(cells[5], json["peer"].as_str().unwrap_or("*:*"), "{line}");
            let timer = &json["timer"];
            match cells.get(6) {
                None => assert!(timer.is_null(), "{line}"),
                Some(t) => {
                    let ms = u(&timer["left_ns"]) / 1_000_000;
                    let left = match ms {
                        0..1_000 => format!("{ms}ms"),
                        1_000..60_000 => format!("{}sec", ms / 1_000),
                        _ => format!("{}min{}sec", ms / 60_000, ms / 1_000 % 60),
                    };
                    let kind = timer["kind"].as_str().unwrap();
                    let want = format!("timer:({kind},{left},{})", timer["retries"]);
                    assert_eq!(*t, want, "{line}");
                }
            }
            "row"
        } else if let Some(rest) = field("result:") {
            let (failed, open) = (u(&doc["checks_failed"]), u(&doc["checks_not_reached"]));
            assert_eq!(
                rest.starts_with("PASS so far"),
                doc["result"] == "pass so far"
            );
            assert_eq!(rest == "PASS", doc["result"] == "pass");
            assert_eq!(rest.starts_with("FAIL"), doc["result"] == "fail");
            assert_eq!(doc["passed"] == true, failed == 0);
            let counted = ints(rest);
            match doc["result"].as_str().unwrap() {
                "pass so far" => assert_eq!(counted[0], open, "{line}"),
                "fail" => assert_eq!(counted[0], failed, "{line}"),
                _ => assert!(counted.is_empty()),
            }
            "result"
        } else if let Some(rest) = field("trace:") {
            let hash = rest.rsplit(' ').next().unwrap();
            assert_eq!(hash, doc["trace_hash"].as_str().unwrap());
            assert_eq!(ints(rest)[0], u(&doc["trace_records"]));
            "trace"
        } else if let Some(rest) = field("stats:") {
            // `N events, M segments sent, simulated T, wall W, R events/s`: the wall clock's
            // figures are the JSON's wall_seconds, not compared (two runs).
            let n = ints(rest);
            assert_eq!(
                n[..2],
                [u(&doc["events"]), u(&doc["segments_sent"])],
                "{line}"
            );
            assert!(doc["wall_seconds"].as_f64().is_some());
            "stats"
        } else {
            let (name, parts) = line.split_once(": ").unwrap_or_else(|| panic!("{line}?"));
            let h = host(name);
            let (at_end, peaks) = (
                h["at_end"].as_object().unwrap(),
                h["peaks"].as_object().unwrap(),
            );
            let count = |m: &serde_json::Map<String, Value>, k: &str| m.get(k).map_or(0, u);
            // Parts are split at "; " outside parentheses (the retransmits part has one inside).
            let mut depth = 0;
            let mut parts = parts.split(|c| {
                depth += i32::from(c == '(') - i32::from(c == ')');
                c == ';' && depth == 0
            });
            let states = parts.next().unwrap();
            let mut named = 0;
            if states != "no sockets" {
                for s in states.split(", ") {
                    let (state, counts) = s.split_once(' ').unwrap();
                    let n = ints(counts);
                    let peak = n.get(1).copied().unwrap_or(n[0]);
                    assert_eq!(
                        (count(at_end, state), count(peaks, state)),
                        (n[0], peak),
                        "{line}"
                    );
                    named += 1;
                }
            }
            let keys: std::collections::BTreeSet<&String> =
                at_end.keys().chain(peaks.keys()).collect();
            assert_eq!(keys.len(), named, "{line}: states the text leaves out");
            let (mut errors, mut retransmits, mut probes, mut eofs) = (0, false, false, false);
            for part in parts.map(str::trim) {
                if let Some(list) = part.strip_prefix("errors ") {
                    let words: Vec<&str> = list.split(' ').collect();
                    for pair in words.chunks(2) {
                        let n = pair[1].strip_prefix('x').unwrap().parse::<u64>().unwrap();
                        assert_eq!(u(&h["errors"][pair[0]]), n, "{line}");
                        errors += 1;
                    }
                    kinds.push("errors");
                } else if part.starts_with("early EOF") {
                    assert_eq!(ints(part)[0], u(&h["early_eofs"]), "{line}");
                    eofs = true;
                } else if part.starts_with("retransmits ") {
                    let keys = [
                        "retransmits",
                        "fin_retransmits",
                        "timeouts",
                        "recoveries",
                        "sack_recoveries",
                        "loss_probes",
                    ];
                    let json: Vec<u64> = keys.iter().map(|k| u(&h[*k])).collect();
                    assert_eq!(ints(part), json, "{line}");
                    retransmits = true;
                    kinds.push("retransmits");
                } else if part.starts_with("keep-alive probes ") {
                    assert_eq!(ints(part)[0], u(&h["keepalive_probes"]), "{line}");
                    probes = true;
                    kinds.push("keep-alive");
                } else if part.starts_with("received ") {
                    assert_eq!(h["scripted"], true);
                    assert_eq!(ints(part)[0], u(&h["bytes_received"]), "{line}");
                } else {
                    assert_eq!(part, "runs an application of its own");
                    assert_eq!(h["scripted"], false);
                }
            }
            assert_eq!(errors, h["errors"].as_object().unwrap().len(), "{line}");
            assert_eq!(retransmits, u(&h["retransmits"]) > 0, "{line}");
            assert_eq!(probes, u(&h["keepalive_probes"]) > 0, "{line}");
            assert_eq!(eofs, u(&h["early_eofs"]) > 0, "{line}");
            "host"
        };
        kinds.push(kind);
    }
    assert_eq!(checks, doc["checks"].as_array().unwrap().len());
    let hosts = kinds.iter().filter(|k| **k == "host").count();
    assert_eq!(hosts, doc["hosts"].as_array().unwrap().len());
    kinds
}

#[test]
fn verify_determinism_compares_two_runs() {
    let o = netsim(&[
        "run",
        &scenario("bulk_transfer_lossy.ron"),
        "--verify-determinism",
    ]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).starts_with("deterministic: 2 runs of bulk-transfer-lossy with seed 1"));
}

#[test]
fn seed_changes_a_lossy_run_and_until_cuts_it_short() {
    let hash = |args: &[&str]| {
        let o = netsim(args);
        let out = stdout(&o);
        out.lines()
            .find(|l| l.starts_with("trace:"))
            .unwrap()
            .to_string()
    };
    let file = scenario("bulk_transfer_lossy.ron");
    let one = hash(&["run", &file, "--quiet", "--seed", "1"]);
    let two = hash(&["run", &file, "--quiet", "--seed", "2"]);
    assert_ne!(one, two);
    let o = netsim(&[
        "run",
        &scenario("handshake_and_client_close.ron"),
        "--quiet",
        "--until",
        "10ms",
    ]);
    assert!(
        stdout(&o).contains("end:      0.010000s (end time reached)"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn json_format_gives_one_object_per_line_and_a_summary() {
    let o = netsim(&[
        "run",
        &scenario("syn_to_closed_port.ron"),
        "--format",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    for l in &lines {
        assert!(l.starts_with('{') && l.ends_with('}'), "{l}");
    }
    assert!(
        lines
            .iter()
            .any(|l| l.contains("\"kind\":\"sent\"") && l.contains("\"flags\":\"R.\""))
    );
    let last = lines.last().unwrap();
    assert!(
        last.contains("\"kind\":\"summary\"") && last.contains("\"passed\":true"),
        "{last}"
    );
    // Network changes: what changed and the hosts it touched.
    let o = netsim(&[
        "run",
        &scenario("server_crash_restart.ron"),
        "--format",
        "json",
    ]);
    let network: Vec<String> = stdout(&o)
        .lines()
        .filter(|l| l.contains("\"kind\":\"network\""))
        .map(str::to_string)
        .collect();
    assert_eq!(
        network,
        [
            r#"{"change":"crash","hosts":["server"],"kind":"network","time":"0.100000s","time_ns":100000000}"#,
            r#"{"change":"restart","hosts":["server"],"kind":"network","time":"2.000000s","time_ns":2000000000}"#,
        ]
    );
}

#[test]
fn list_names_every_scenario_with_its_description() {
    let o = netsim(&["list", &scenario("")]);
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    assert!(out.lines().count() >= 20, "{out}");
    assert!(out.contains("lost_final_ack.ron") && out.contains("LAST_ACK retransmits the FIN"));
}

#[test]
fn sweep_reports_failing_seeds_with_replay_commands_and_exits_1() {
    let file = scenario("sweep_stale_data.ron");
    let dir = Scratch::new("sweep-plot");
    let plot = dir.join("sweep.svg");
    let o = netsim(&[
        "sweep",
        &file,
        "--seeds",
        "0..300",
        "--jobs",
        "2",
        "--quiet",
        "--plot",
        plot.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("runs: 300, passed:"), "{out}");
    assert!(out.contains("oracle: StaleData"));
    assert!(out.contains(&format!("replay: netsim run {file} --seed ")));
    assert!(out.contains("netsim 0.1.0 (commit "));
    // --plot draws the failure kinds and the connections left open as bar charts.
    let picture = std::fs::read_to_string(&plot).unwrap();
    assert!(picture.starts_with("<svg") && picture.trim_end().ends_with("</svg>"));
    for text in [
        "failing runs by kind",
        ">oracle: StaleData<",
        ">runs<",
        "connections open at the end",
        ">sockets<",
    ] {
        assert!(picture.contains(text), "{text} missing");
    }
    let clean = netsim(&[
        "sweep",
        &scenario("lost_final_ack.ron"),
        "--seeds",
        "0..=99",
        "--quiet",
    ]);
    assert_eq!(clean.status.code(), Some(0));
    assert!(stdout(&clean).contains("runs: 100, passed: 100, failed: 0"));
}

#[test]
fn an_interrupted_sweep_writes_a_partial_report_and_exits_130() {
    use std::io::BufRead;
    for signal in ["-INT", "-TERM"] {
        let json = std::env::temp_dir().join(format!(
            "netsim-partial-{}{signal}.json",
            std::process::id()
        ));
        let file = scenario("bulk_transfer_lossy.ron");
        let mut child = Command::new(env!("CARGO_BIN_EXE_netsim"))
            .args(["sweep", &file, "--seeds", "0..1000000", "--jobs", "2"])
            .args(["--json", json.to_str().unwrap()])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // The header comes first, before any seed has run.
        let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut header = String::new();
        out.read_line(&mut header).unwrap();
        assert!(
            header.starts_with("sweep of bulk-transfer-lossy (")
                && header.contains("seeds 0..1000000, netsim 0.1.0 (commit "),
            "{header}"
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
        let killed = Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(130), "{signal}: {rest}");
        let report: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        let done = report["done"][1].as_u64().unwrap();
        assert_eq!(report["interrupted"], true);
        assert_eq!(report["runs"].as_u64(), Some(done));
        assert!(done < 1_000_000, "{done}");
        assert!(
            rest.starts_with(&format!(
                "INTERRUPTED: partial report of seeds 0..{done}; resume with --seeds {done}..1000000\n"
            )),
            "{rest}"
        );
        let _ = std::fs::remove_file(json);
    }
}

#[test]
fn shard_reports_merge_into_the_whole_sweep() {
    let file = scenario("sweep_stale_data.ron");
    let dir = Scratch::new("merge");
    let whole = dir.join("whole.json");
    netsim(&[
        "sweep",
        &file,
        "--seeds",
        "0..200",
        "--quiet",
        "--json",
        &whole.to_string_lossy(),
    ]);
    let mut shards = Vec::new();
    for k in 1..=2 {
        let path = dir
            .join(format!("shard-{k}.json"))
            .to_string_lossy()
            .into_owned();
        let shard = format!("{k}/2");
        netsim(&[
            "sweep", &file, "--seeds", "0..200", "--shard", &shard, "--quiet", "--json", &path,
        ]);
        shards.push(path);
    }
    let merged = dir.join("merged.json");
    let mut args = vec!["merge"];
    args.extend(shards.iter().map(String::as_str));
    let merged_arg = merged.to_string_lossy().into_owned();
    args.extend(["--json", &merged_arg]);
    let o = netsim(&args);
    assert_eq!(
        o.status.code(),
        Some(1),
        "the range has failing seeds: {}",
        stderr(&o)
    );
    let strip = |p: &std::path::Path| {
        let mut v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap();
        v.as_object_mut().unwrap().remove("timing");
        v
    };
    assert_eq!(strip(&merged), strip(&whole));
    let o = netsim(&["sweep", &file, "--seeds", "5..5"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("empty"));
    let o = netsim(&["sweep", &file, "--seeds", "0..10", "--shard", "3/2"]);
    assert_eq!(o.status.code(), Some(2));
}

// `netsim kernel` runs on this machine's kernel: these need root, iproute2 and /dev/net/tun
// (CI has them; .ci/run refuses to start without them).

#[test]
fn kernel_compares_a_story_with_the_real_kernel_and_finds_it_the_same() {
    // The kernel side runs in real time, driven by this (debug) build: a slow moment can
    // delay one of its segments past the comparison's tolerance. Up to three attempts, as the
    // kernel crate's story tests allow.
    let attempt = || {
        netsim(&[
            "kernel",
            &scenario("handshake_and_client_close.ron"),
            "--until",
            "1s",
        ])
    };
    let mut o = attempt();
    for _ in 0..2 {
        if o.status.code() == Some(0) {
            break;
        }
        o = attempt();
    }
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{out}{}", stderr(&o));
    assert!(out.contains("connection 1: same (11 segments)"), "{out}");
    assert!(out.contains("result:   SAME"), "{out}");
    let json = std::env::temp_dir().join(format!("netsim-kernel-{}.json", std::process::id()));
    let o = netsim(&[
        "kernel",
        &scenario("syn_to_closed_port.ron"),
        "--until",
        "1s",
        "--json",
        json.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(doc["result"], "same");
    assert_eq!(doc["connections"][0]["segments"], 2);
    assert_eq!(doc["hosts"][0]["errors_kernel"][0], "ECONNREFUSED");
    let _ = std::fs::remove_file(json);
}

#[test]
fn kernel_comparison_fails_for_the_rfc_profile_and_names_the_first_difference() {
    // The rfc profile's delayed ACK (RFC 1122) holds the ACK of the request that Linux sends
    // at once: the comparison must see it.
    // A `Sent` expectation the model meets (no bare ACK from the server in the first 100 ms)
    // is checked on the kernel too, and fails there.
    let text = std::fs::read_to_string(scenario("handshake_and_client_close.ron"))
        .unwrap()
        .replace("    seed: 1,", "    seed: 1,\n    tcp: (profile: \"rfc\"),")
        .replacen(
            "    expect: [",
            "    expect: [\n        Sent(host: \"server\", flags: \".\", payload: false, between: (\"0s\", \"0.1s\"), exactly: 0),",
            1,
        );
    let scratch = Scratch::new("kernel-rfc");
    let file = temp_scenario(&scratch, "rfc_handshake.ron", &text);
    let o = netsim(&["kernel", &file, "--until", "1s"]);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(1), "{out}{}", stderr(&o));
    assert!(
        out.contains("connection 1: DIFFERS at segment 5: segment"),
        "{out}"
    );
    // The model's server replies at once; the kernel's first sends a quick ACK.
    assert!(
        out.lines().any(|l| l.starts_with('!')
            && l.contains("server [.] seq 1 ack 101 len 100")
            && l.contains("| server [.] seq 1 ack 101 len 0")),
        "{out}"
    );
    assert!(out.contains("rto_min 1s (Linux: 200ms)"), "{out}");
    assert!(
        out.contains(
            "expect server sends [.] without data in [0.000000s, 0.100000s] = 0: model ok (found 0), kernel FAIL"
        ),
        "{out}"
    );
}

#[test]
fn kernel_refuses_what_the_kernel_cannot_reproduce_with_exit_2() {
    let o = netsim(&[
        "kernel",
        &scenario("server_crash_restart.ron"),
        "--until",
        "1s",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("crashes"), "{}", stderr(&o));
    let o = netsim(&[
        "kernel",
        &scenario("lost_final_ack.ron"),
        "--until",
        "10min",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("real time"), "{}", stderr(&o));
}

/// A reader that stops early (`netsim run … | head`) is no error: no message, and the exit
/// status of a writer killed by SIGPIPE (141), not the bad-input code.
#[test]
fn a_reader_that_closes_the_pipe_ends_the_run_quietly() {
    use std::io::Read;
    use std::process::Stdio;
    for args in [
        vec!["run", "scenarios/bulk_transfer_lossy.ron"],
        vec!["list", "scenarios"],
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_netsim"))
            .args(&args)
            .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = [0u8; 16];
        child
            .stdout
            .as_mut()
            .unwrap()
            .read_exact(&mut first)
            .unwrap();
        drop(child.stdout.take()); // the reader goes away
        let out = child.wait_with_output().unwrap();
        // A list this short may be written before the pipe closes: then it exits 0.
        let code = out.status.code();
        assert!(code == Some(141) || code == Some(0), "{args:?}: {code:?}");
        assert_eq!(stderr(&out), "", "{args:?}");
        if args[0] == "run" {
            assert_eq!(code, Some(141), "a long trace meets the closed pipe");
        }
    }
}

#[test]
fn jobs_must_be_at_least_one() {
    let o = netsim(&[
        "sweep",
        &scenario("lost_final_ack.ron"),
        "--seeds",
        "0..10",
        "--jobs",
        "0",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("'--jobs <JOBS>': 0 is not in 1.."),
        "{}",
        stderr(&o)
    );
}

/// An output path that cannot be written is refused before any work (exit 2, the path named);
/// a report is written whole, with no temporary file left beside it.
#[test]
fn output_paths_are_checked_first_and_written_whole() {
    let o = netsim(&[
        "sweep",
        &scenario("lost_final_ack.ron"),
        "--seeds",
        "0..100000000",
        "--json",
        "/nonexistent/dir/report.json",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("/nonexistent/dir/report.json: cannot write here"),
        "{}",
        stderr(&o)
    );
    assert_eq!(stdout(&o), "", "no work was done");
    let dir = Scratch::new("cli-out");
    let path = dir.join("report.json");
    let o = netsim(&[
        "sweep",
        &scenario("lost_final_ack.ron"),
        "--seeds",
        "0..50",
        "--quiet",
        "--json",
        path.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.trim_end().ends_with('}'), "a whole JSON document");
    assert_eq!(
        file_names(&dir),
        ["report.json"],
        "nothing else left in the directory"
    );
}

/// Every scenario path the README, scenarios/README.md, the docs and each command's `--help`
/// name exists, and the README's "replay one failing seed" example does fail.
#[test]
fn documented_paths_exist_and_the_readme_example_fails_as_it_says() {
    let root: PathBuf = [env!("CARGO_MANIFEST_DIR"), "..", ".."].iter().collect();
    let mut texts: Vec<(String, String)> = Vec::new();
    let mut docs = vec![root.join("README.md"), root.join("scenarios/README.md")];
    for entry in std::fs::read_dir(root.join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            docs.push(path);
        }
    }
    for doc in docs {
        let text = std::fs::read_to_string(&doc).unwrap();
        texts.push((doc.display().to_string(), text));
    }
    for cmd in ["run", "check", "sweep", "merge", "kernel", "list"] {
        texts.push((
            format!("netsim {cmd} --help"),
            stdout(&netsim(&[cmd, "--help"])),
        ));
    }
    let mut named = 0;
    for (source, text) in &texts {
        for (i, _) in text.match_indices("scenarios/") {
            let tail = &text[i..];
            let end = tail
                .find(|c: char| !(c.is_ascii_alphanumeric() || "_/.-".contains(c)))
                .unwrap_or(tail.len());
            let path = tail[..end].trim_end_matches('.');
            // A placeholder in capitals (`scenarios/NAME.ron`) names no file.
            if !path.ends_with(".ron") || path.contains("NAME") {
                continue;
            }
            named += 1;
            assert!(
                root.join(path).is_file(),
                "{source} names {path}, which does not exist"
            );
        }
    }
    assert!(named > 20, "the texts name scenarios ({named} found)");
    let replay = netsim(&[
        "run",
        &scenario("sweep_stale_data.ron"),
        "--seed",
        "0",
        "--quiet",
    ]);
    assert_eq!(
        replay.status.code(),
        Some(1),
        "the README's failing seed fails"
    );
}

/// The trace lines of a run's text output (before the summary).
fn trace_lines(out: &str) -> Vec<String> {
    out.lines()
        .take_while(|l| !l.starts_with("== "))
        .map(str::to_string)
        .collect()
}

/// Every filter keeps a subsequence of the whole trace, printed the same way (relative
/// numbers and incarnations come from every record, shown or not), and only what it asks for:
/// a host's own lines and the network's lines about its packets; one incarnation of a reused
/// 4-tuple; the lines of sockets in TIME_WAIT; a window of time. JSON keeps the same records.
#[test]
fn trace_filters_keep_what_they_ask_for_and_print_it_as_the_whole_trace_does() {
    let file = scenario("new_syn_in_time_wait.ron");
    let whole = trace_lines(&stdout(&netsim(&["run", &file])));
    let filtered = |extra: &[&str]| {
        let mut args = vec!["run", file.as_str()];
        args.extend_from_slice(extra);
        let o = netsim(&args);
        assert_eq!(o.status.code(), Some(0), "{extra:?}: {}", stderr(&o));
        trace_lines(&stdout(&o))
    };
    let is_subsequence = |part: &[String]| {
        let mut rest = whole.iter();
        part.iter().all(|l| rest.any(|w| w == l))
    };

    let second = filtered(&["--conn", "10.0.0.1:40000#2"]);
    assert!(second.len() > 10 && is_subsequence(&second), "{second:#?}");
    assert!(second.iter().all(|l| l.contains(" #2")), "{second:#?}");
    assert_eq!(
        second,
        filtered(&["--conn", "2"]),
        "number and endpoint#2 agree"
    );
    let first = filtered(&["--conn", "1"]);
    assert!(first.iter().all(|l| !l.contains(" #2")), "{first:#?}");
    assert!(
        first
            .iter()
            .any(|l| l.contains("new SYN takes over TIME_WAIT"))
    );
    assert_eq!(
        first.len() + second.len(),
        whole
            .iter()
            .filter(|l| l.contains("10.0.0.1:40000"))
            .count(),
        "every line of the 4-tuple is in one of its two incarnations"
    );

    let client = filtered(&["--host", "client"]);
    assert!(is_subsequence(&client));
    assert!(
        client.iter().all(|l| l[16..].starts_with("client ")),
        "{client:#?}"
    );
    assert_eq!(
        client.len(),
        whole
            .iter()
            .filter(|l| l[16..].starts_with("client "))
            .count()
    );

    let time_wait = filtered(&["--state", "time_wait"]);
    assert!(is_subsequence(&time_wait) && !time_wait.is_empty());
    assert!(
        time_wait[0].contains("FIN_WAIT_2 -> TIME_WAIT"),
        "{time_wait:#?}"
    );
    assert!(time_wait.iter().any(|l| l.contains("TIME_WAIT -> CLOSED")));
    assert!(
        time_wait.iter().all(|l| !l.contains("SYN_SENT")),
        "{time_wait:#?}"
    );

    let window = filtered(&["--from", "1.005s", "--to", "1.006s"]);
    assert!(!window.is_empty() && is_subsequence(&window));
    // Every line's time lies in [1.005 s, 1.006 s] (both ends kept).
    let seconds = |l: &str| -> f64 {
        let first = l.split_whitespace().next().unwrap();
        first.trim_end_matches('s').parse().unwrap()
    };
    assert!(
        window.iter().all(|l| (1.005..=1.006).contains(&seconds(l))),
        "{window:#?}"
    );

    let json = netsim(&["run", &file, "--format", "json", "--conn", "2"]);
    let records: Vec<serde_json::Value> = stdout(&json)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .filter(|v: &serde_json::Value| v["kind"] != "summary")
        .collect();
    assert_eq!(records.len(), second.len());
    assert!(
        records
            .iter()
            .all(|v| v["conn"]["number"] == 2 && v["conn"]["incarnation"] == 2)
    );
}

/// A trace line of a segment sent (`client > ...`).
fn is_sent(line: &str) -> bool {
    line[16..].split_whitespace().nth(1) == Some(">")
}

/// The text ladder of a run: the lines before the summary.
fn ladder_lines(args: &[&str]) -> Vec<String> {
    let o = netsim(args);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    trace_lines(&stdout(&o))
}

/// The ladder draws one arrow per segment sent, each with its fate (delivered after how long,
/// or dropped and why), and each host's states beside its line in the order it went through
/// them; a window keeps the segments sent in it, and draws those sent before it where they
/// arrive (marked with their send time). Read against the trace of the same run.
#[test]
fn the_ladder_draws_every_segment_with_its_fate_and_each_state_beside_its_line() {
    let file = scenario("lost_final_ack.ron");
    let ladder = ladder_lines(&["run", &file, "--ladder", "-"]);
    let arrows: Vec<&String> = ladder
        .iter()
        .filter(|l| l.contains("-|") || l.contains("|-") || l.contains("|<"))
        .collect();
    let trace = trace_lines(&stdout(&netsim(&["run", &file])));
    let sent = trace.iter().filter(|l| is_sent(l)).count();
    assert_eq!(arrows.len(), sent, "{ladder:#?}");
    let dropped: Vec<&&String> = arrows.iter().filter(|l| l.contains("X")).collect();
    assert_eq!(dropped.len(), 1);
    assert!(
        dropped[0].contains("[.] seq 102 ack 102") && dropped[0].ends_with("dropped (fault 1)")
    );
    assert!(
        arrows
            .iter()
            .any(|l| l.contains("[F.] seq 101 ack 102") && l.contains("retransmit #1"))
    );
    // The client's states, left of its line, in order.
    let client: Vec<&str> = ladder
        .iter()
        .filter_map(|l| {
            let (left, _) = l.split_once('|')?;
            left.get(14..).map(str::trim).filter(|s| !s.is_empty())
        })
        .collect();
    assert_eq!(
        client,
        [
            "SYN_SENT",
            "ESTABLISHED",
            "FIN_WAIT_1",
            "FIN_WAIT_2",
            "TIME_WAIT",
            "CLOSED"
        ]
    );
    insta::assert_snapshot!("ladder_lost_final_ack", ladder.join("\n"));

    // A window: what was sent in it, and what arrives in it from before.
    let bulk = scenario("bulk_transfer_lossy.ron");
    let window = ["--from", "1s", "--to", "1.05s"];
    let mut args = vec!["run", bulk.as_str(), "--ladder", "-"];
    args.extend(window);
    let ladder = ladder_lines(&args);
    let mut args = vec!["run", bulk.as_str()];
    args.extend(window);
    let sent = trace_lines(&stdout(&netsim(&args)))
        .iter()
        .filter(|l| is_sent(l))
        .count();
    let arrows: Vec<&String> = ladder
        .iter()
        .filter(|l| l.contains("-|") || l.contains("|-") || l.contains("|<"))
        .collect();
    let (earlier, in_window): (Vec<&String>, Vec<&String>) =
        arrows.iter().partition(|l| l.contains(", sent 0."));
    assert!(sent > 20, "{sent}");
    assert_eq!(in_window.len(), sent, "{ladder:#?}");
    // Segments in flight at 1 s arrive within the first round trip of the window.
    assert!(!earlier.is_empty(), "{ladder:#?}");
    for l in &earlier {
        let sent_at: f64 = l.rsplit(", sent ").next().unwrap()[..8].parse().unwrap();
        assert!((0.9..1.0).contains(&sent_at), "{l}");
    }
}

/// What a filter or a window would hide from the ladder is still told: the state a side is in
/// when its connection is first drawn, a retransmission announced by a record the filter
/// leaves out, the segments a host receives under `--host`, a host's crash and restart, a
/// keep-alive probe, the offset of an injected SYN, the key of many connections, and an SVG
/// of a capped ladder that renderers accept.
#[test]
fn the_ladder_tells_what_its_filters_and_windows_would_otherwise_hide() {
    let arrows = |ladder: &[String]| -> Vec<String> {
        let arrow = |l: &&String| l.contains("-|") || l.contains("|-") || l.contains("|<");
        ladder.iter().filter(arrow).cloned().collect()
    };
    let lost = scenario("lost_final_ack.ron");
    // A window from 3 ms: both sides' states first, then what arrives from before it.
    let window = ladder_lines(&[
        "run", &lost, "--from", "3ms", "--to", "10ms", "--ladder", "-",
    ]);
    assert!(window[3].contains("| in ESTABLISHED"), "{window:#?}");
    assert!(window[4].ends_with("| in SYN_RECEIVED"), "{window:#?}");
    assert!(window[5].ends_with("+1ms, sent 0.002000s"), "{window:#?}");
    // The heading names the left lane's end first, whichever way the first arrow goes.
    let late = ladder_lines(&[
        "run", &lost, "--from", "5.5ms", "--to", "10ms", "--ladder", "-",
    ]);
    assert_eq!(
        late[1], "connection 1: 10.0.0.1:32768 <-> 10.0.0.2:80",
        "{late:#?}"
    );
    assert!(
        late[5].contains("|<--"),
        "the first arrow goes right to left: {late:#?}"
    );
    // --state TIME_WAIT leaves out the server's "retransmit FIN" record; its FIN is still one.
    let tw = ladder_lines(&["run", &lost, "--state", "TIME_WAIT", "--ladder", "-"]);
    let fin = arrows(&tw);
    assert!(
        fin.iter()
            .any(|l| l.contains("[F.] seq 101 ack 102") && l.ends_with("retransmit #1")),
        "{tw:#?}"
    );
    // --host server: what the server sends and receives, the dropped final ACK too.
    let server = arrows(&ladder_lines(&[
        "run", &lost, "--host", "server", "--ladder", "-",
    ]));
    assert_eq!(
        server.len(),
        12,
        "every segment of the run has the server at an end"
    );
    assert!(
        server
            .iter()
            .any(|l| l.contains("[.] seq 102 ack 102") && l.contains("dropped (fault 1)"))
    );
    // A crash and a restart beside the server's line; segments lost to it say when.
    let crash = ladder_lines(&[
        "run",
        &scenario("server_crash_restart.ron"),
        "--ladder",
        "-",
    ]);
    let note = |text: &str| crash.iter().filter(|l| l.ends_with(text)).count();
    assert_eq!(note("server: == crash server"), 1, "{crash:#?}");
    assert_eq!(note("server: == restart server"), 1);
    assert!(crash.iter().any(|l| l.contains("dropped (host down) +")));
    // Keep-alive probes are marked as probes; a partition is written beside the line.
    let vanished = scenario("keepalive_peer_vanished.ron");
    let ka = ladder_lines(&["run", &vanished, "--ladder", "-"]);
    let probes = arrows(&ka)
        .iter()
        .filter(|l| l.ends_with(", keep-alive probe"))
        .count();
    assert_eq!(probes, 3, "{ka:#?}");
    assert!(
        ka.iter()
            .any(|l| l.ends_with("client: == partition client <-> server"))
    );
    // An injected SYN inside the window reads its offset from the connection's ISN.
    let syn = ladder_lines(&["run", &scenario("syn_in_established.ron"), "--ladder", "-"]);
    assert!(
        syn.iter()
            .any(|l| l.contains("[S] seq 11 win 0") && l.ends_with("injected"))
    );
    // A new incarnation's side is not said to be in the state of the old socket its SYN
    // hit (the TIME_WAIT of #1 is drawn as #1's).
    let reuse = ladder_lines(&[
        "run",
        &scenario("new_syn_in_time_wait.ron"),
        "--ladder",
        "-",
    ]);
    assert!(
        !reuse.iter().any(|l| l.contains(" in TIME_WAIT")),
        "{reuse:#?}"
    );
    assert!(
        reuse.iter().any(|l| l.ends_with("| #1 TIME_WAIT")),
        "{reuse:#?}"
    );
    // Times of 14 characters (150.154193031s) widen the time column: every lane stays put.
    let safe = ladder_lines(&[
        "run",
        &scenario("sweep_stale_data_safe.ron"),
        "--ladder",
        "-",
    ]);
    let lanes: std::collections::BTreeSet<usize> =
        safe.iter().skip(3).filter_map(|l| l.find('|')).collect();
    assert_eq!(lanes.len(), 1, "{safe:#?}");
    let long = |l: &&String| l.split('s').next().is_some_and(|t| t.trim().len() == 13);
    assert!(
        safe.iter().any(|l| long(&l)),
        "some times take 14 characters"
    );
    // Twelve connections: labelled cN, and a key below says what each is.
    let many = ladder_lines(&[
        "run",
        &scenario("port_exhaustion_tw_reuse.ron"),
        "--ladder",
        "-",
    ]);
    assert!(
        many[1].starts_with("12 connections drawn, labelled cN"),
        "{many:#?}"
    );
    assert!(many.contains(&"c11: 10.0.0.1:50000 <-> 10.0.0.2:80 #2".to_string()));
    assert!(
        many.iter().any(|l| l.contains("c11 SYN_SENT")),
        "states say whose they are"
    );
    // A capped picture stays within what librsvg renders (32 767 pixels).
    let dir = Scratch::new("ladder-cap");
    let path = dir.join("bulk.svg");
    let bulk = scenario("bulk_transfer_lossy.ron");
    let o = netsim(&["run", &bulk, "--quiet", "--ladder", path.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let svg = std::fs::read_to_string(&path).unwrap();
    let height: f64 = svg
        .split("height=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(height < 32_767.0, "{height}");
    let stopped = svg.split("stopped after ").nth(1).unwrap();
    let numbers: Vec<u64> = stopped
        .split(|c: char| !c.is_ascii_digit())
        .filter(|w| !w.is_empty())
        .take(2)
        .map(|w| w.parse().unwrap())
        .collect();
    assert_eq!(
        numbers[0] + numbers[1],
        1507,
        "drawn and left out are all the segments sent"
    );
}

/// The SVG ladder is the same picture every time (a snapshot) and draws what the trace shows:
/// one arrowhead per delivered segment, one red cross per drop, a state label per change.
#[test]
fn the_svg_ladder_has_an_arrowhead_per_delivery_and_a_cross_per_drop() {
    let dir = Scratch::new("ladder");
    let path = dir.join("ladder.svg");
    let file = scenario("delayed_duplicate_stale_data.ron");
    let o = netsim(&["run", &file, "--quiet", "--ladder", path.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let svg = std::fs::read_to_string(&path).unwrap();
    assert!(
        svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\"") && svg.ends_with("</svg>\n")
    );
    let trace = trace_lines(&stdout(&netsim(&["run", &file])));
    let delivered = trace
        .iter()
        .filter(|l| l[16..].split_whitespace().nth(1) == Some("<"))
        .count();
    // The legend has no arrowheads; every <polygon> is one.
    assert_eq!(svg.matches("<polygon").count(), delivered);
    assert!(
        svg.contains("#1 [P.] 1:5 ack 1 (held)"),
        "the held segment of #1"
    );
    assert!(svg.contains("stale data read at byte 0 of #2: the bytes of #1"));
    // Listeners belong to no connection and are not drawn.
    let states = trace
        .iter()
        .filter(|l| l.contains(" -> ") && !l.contains("peer 0.0.0.0:0"))
        .count();
    assert_eq!(
        svg.matches("<rect x=").count() - 1,
        states,
        "one marker per state change, plus the background"
    );
    insta::assert_snapshot!("ladder_delayed_duplicate_stale_data_svg", svg);
}

/// `netsim report` writes one page that needs nothing else: the description, the verdict, the
/// summary with its checks, the ladder of the connection with the most to remark on (in a
/// two-connection run, the one whose segment was held back and read as stale data), the
/// sockets left open. A failing run still gets its page, and exits 1 as run does.
#[test]
fn the_report_is_one_page_with_summary_ladder_and_sockets_that_fetches_nothing() {
    let dir = Scratch::new("report");
    let out = dir.join("nested");
    let file = scenario("delayed_duplicate_stale_data.ron");
    let o = netsim(&["run", &file, "--quiet"]);
    let summary = stdout(&o);
    let o = netsim(&["report", &file, "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stdout(&o).contains("connection 2, the one with the most to remark on: 1 oracle violation"),
        "{}",
        stdout(&o)
    );
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.ends_with("</html>\n"));
    assert!(html.contains("verdict pass\">PASS"));
    // The summary as run prints it (HTML-escaped), checks and socket table included.
    let first_check = summary.lines().find(|l| l.starts_with("  ok ")).unwrap();
    assert!(
        html.contains(&first_check.replace('>', "&gt;")),
        "{first_check}"
    );
    assert!(html.contains("server  LISTEN"));
    assert!(html.contains("stale data read at byte 0 of #2: the bytes of #1"));
    // The ladder of connection 2 draws the segment of #1 that carried the stale bytes, where
    // it arrives, with its send time.
    assert!(
        html.contains("#1 [P.] 1:5 ack 1 (sent 0.002000s) (lands in #2)"),
        "{html}"
    );
    assert_eq!(
        html.matches("<svg xmlns").count(),
        2,
        "the ladder and the state plot"
    );
    assert!(html.contains("server: sockets per state"));
    for fetch in ["src=", "href=\"http", "<script", "@import", "url("] {
        assert!(!html.contains(fetch), "the page fetches something: {fetch}");
    }
    // Files left behind: only the page.
    assert_eq!(file_names(&out), ["index.html"]);

    let failing = std::fs::read_to_string(scenario("lost_final_ack.ron"))
        .unwrap()
        .replace(
            "counter: FinRetransmits, exactly: 1",
            "counter: FinRetransmits, exactly: 2",
        );
    let path = temp_scenario(&dir, "failing-report.ron", &failing);
    let o = netsim(&["report", &path, "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(html.contains("verdict fail\">FAIL"));
    assert!(html.contains("FAIL server FinRetransmits = 2 (found 1)"));

    // A run cut short passes only so far; every command the page gives replays this run,
    // its seed and its cut included, with a path a shell reads as one word.
    let spaced = temp_scenario(&dir, "a b.ron", &std::fs::read_to_string(&file).unwrap());
    let args = ["report", &spaced, "--seed", "3", "--until", "1s"];
    let o = netsim(&[&args[..], &["--out", out.to_str().unwrap()]].concat());
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let html = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(html.contains("verdict sofar\">PASS SO FAR (cut short)"));
    // (HTML writes the quotes as &#39;.)
    let quoted = format!("&#39;{spaced}&#39; --seed 3 --until 1s");
    for command in ["netsim run", "netsim report"] {
        let commands = html.matches(&format!("{command} {quoted}")).count();
        assert!(commands >= 1, "{command}: {html}");
        assert_eq!(
            commands,
            html.matches(command).count(),
            "every {command} replays"
        );
    }
}

/// `netsim test` with `CI` set to `ci` (or unset) and `INSTA_UPDATE` unset, whatever the
/// environment of the test run.
fn netsim_test(args: &[&str], ci: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_netsim"));
    command
        .arg("test")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("INSTA_UPDATE");
    match ci {
        Some(v) => command.env("CI", v),
        None => command.env_remove("CI"),
    };
    command.output().expect("netsim runs")
}

/// Copies catalogue scenarios into `dir`.
fn copy_scenarios(dir: &Scratch, names: &[&str]) {
    for name in names {
        std::fs::copy(scenario(name), dir.join(name)).unwrap();
    }
}

#[test]
fn test_takes_a_folder_from_new_to_accepted_to_changed_and_back() {
    let dir = Scratch::new("test-folder");
    copy_scenarios(&dir, &["lost_final_ack.ron", "abortive_close.ron"]);
    let d = dir.to_string_lossy().into_owned();
    let snaps = dir.join("snapshots");
    let pending = snaps.join("lost_final_ack.snap.new");

    // New: pending snapshots written in insta's format; not a failure outside CI.
    let o = netsim_test(&[&d], None);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("NEW") && out.contains("2 scenarios: 0 passed, 2 new"),
        "{out}"
    );
    assert!(out.contains("--accept"), "{out}");
    let text = std::fs::read_to_string(&pending).unwrap();
    assert!(
        text.starts_with("---\nsource: netsim test\ndescription: netsim run "),
        "{text}"
    );
    assert!(text.contains("\n---\n   0.000000s    client 10.0.0.1:32768 CLOSED -> SYN_SENT"));
    assert!(
        text.contains("== lost-final-ack (seed"),
        "the summary is part of it"
    );

    // Under CI a missing snapshot fails, and nothing is written.
    std::fs::remove_dir_all(&snaps).unwrap();
    let o = netsim_test(&[&d], Some("true"));
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stdout(&o).contains("CI is set"), "{}", stdout(&o));
    assert!(!snaps.exists(), "CI wrote snapshots");

    // Accepted, then passing; CI=false is not CI.
    let o = netsim_test(&[&d, "--accept"], None);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stdout(&o).contains("2 accepted"), "{}", stdout(&o));
    assert!(snaps.join("lost_final_ack.snap").exists() && !pending.exists());
    let o = netsim_test(&[&d, "--jobs", "1"], Some("false"));
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("2 scenarios: 2 passed"),
        "{}",
        stdout(&o)
    );

    // A change: exit 1, a unified diff, the run's snapshot pending beside the old.
    let file = dir.join("lost_final_ack.ron");
    let original = std::fs::read_to_string(&file).unwrap();
    assert!(original.contains("latency: \"1ms\""));
    std::fs::write(
        &file,
        original.replace("latency: \"1ms\"", "latency: \"2ms\""),
    )
    .unwrap();
    let o = netsim_test(&[&d], None);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let out = stdout(&o);
    assert!(
        out.contains("CHANGED        ") && out.contains("1 passed, 1 changed"),
        "{out}"
    );
    assert!(
        out.contains("+++ this run") && out.contains("@@ -1,"),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.starts_with("  -   0.001000s    server <"))
            && out
                .lines()
                .any(|l| l.starts_with("  +   0.002000s    server <")),
        "the diff shows the arrival a millisecond later: {out}"
    );
    assert!(pending.exists());

    // Put back, it matches again and the stale pending snapshot goes.
    std::fs::write(&file, &original).unwrap();
    let o = netsim_test(&[&d], None);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(!pending.exists(), "a stale .snap.new is left behind");
}

#[test]
fn test_reports_every_bad_file_and_failing_run_and_goes_on() {
    let dir = Scratch::new("test-bad");
    copy_scenarios(&dir, &["abortive_close.ron"]);
    let d = dir.to_string_lossy().into_owned();
    assert_eq!(netsim_test(&[&d, "--accept"], None).status.code(), Some(0));
    temp_scenario(
        &dir,
        "broken.ron",
        "Scenario(\n    name: \"x\",\n    seed: oops,\n)\n",
    );
    let failing = std::fs::read_to_string(scenario("abortive_close.ron"))
        .unwrap()
        .replace("exactly: 1)", "exactly: 2)");
    temp_scenario(&dir, "failing.ron", &failing);
    let o = netsim_test(&[&d], None);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    let out = stdout(&o);
    assert!(
        out.contains("ERROR          ") && out.contains("broken.ron:3:"),
        "{out}"
    );
    assert!(
        out.contains("FAILED         ") && out.contains("  FAIL "),
        "{out}"
    );
    assert!(out.contains("result:   FAIL"), "{out}");
    assert!(
        out.contains("ok             ") && out.contains("abortive_close.ron"),
        "{out}"
    );
    assert!(
        out.contains("3 scenarios: 1 passed, 1 failed, 1 error"),
        "{out}"
    );
}

#[test]
fn test_refuses_what_it_cannot_run_with_exit_2() {
    let dir = Scratch::new("test-usage");
    let d = dir.to_string_lossy().into_owned();
    let o = netsim_test(&[&d], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("no scenario files (*.ron)"),
        "{}",
        stderr(&o)
    );
    let o = netsim_test(&["/nonexistent/dir"], None);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("/nonexistent/dir"), "{}", stderr(&o));
    // Two files of one name in different folders cannot share one snapshot folder.
    std::fs::create_dir_all(dir.join("a")).unwrap();
    std::fs::create_dir_all(dir.join("b")).unwrap();
    for sub in ["a", "b"] {
        std::fs::copy(scenario("abortive_close.ron"), dir.join(sub).join("x.ron")).unwrap();
    }
    let (a, b) = (dir.join("a"), dir.join("b"));
    let shared = dir.join("snaps");
    let o = netsim_test(
        &[
            &a.to_string_lossy(),
            &b.to_string_lossy(),
            "--snapshots",
            &shared.to_string_lossy(),
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(
        stderr(&o).contains("would share the snapshot"),
        "{}",
        stderr(&o)
    );
    let o = netsim_test(&[&d, "--jobs", "0"], None);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn a_swept_failure_becomes_a_file_that_fails_alike_and_a_regression_test() {
    let dir = Scratch::new("emit");
    let out_dir = dir.join("regressions");
    let o = netsim(&[
        "sweep",
        &scenario("sweep_stale_data.ron"),
        "--seeds",
        "0..40",
        "--shrink",
        "--emit",
        &out_dir.to_string_lossy(),
        "--emit-first",
        "2",
        "--quiet",
    ]);
    assert_eq!(o.status.code(), Some(1), "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("regression files, each replaying its failure exactly"),
        "{out}"
    );
    let mut files: Vec<PathBuf> = std::fs::read_dir(&out_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 2, "{files:?}");
    for file in &files {
        let f = file.to_string_lossy().into_owned();
        let name = file.file_stem().unwrap().to_string_lossy().into_owned();
        let seed: u64 = name.rsplit("seed").next().unwrap().parse().unwrap();
        let text = std::fs::read_to_string(file).unwrap();
        assert!(
            text.starts_with("// A regression test from a sweep: seed "),
            "{text}"
        );
        assert!(!text.contains("randomize"), "{text}");
        assert_eq!(netsim(&["check", &f]).status.code(), Some(0));
        // The file fails the way the seed failed in the sweep: the same failed checks.
        let pinned = netsim(&["run", &f, "--quiet"]);
        let swept = netsim(&[
            "run",
            &scenario("sweep_stale_data.ron"),
            "--seed",
            &seed.to_string(),
            "--quiet",
        ]);
        assert_eq!(pinned.status.code(), Some(1));
        let fails = |o: &Output| -> Vec<String> {
            stdout(o)
                .lines()
                .filter(|l| l.starts_with("  FAIL"))
                .map(str::to_string)
                .collect()
        };
        assert!(!fails(&pinned).is_empty(), "{}", stdout(&pinned));
        // Shrinking may leave fewer faults, so the counts may differ; the checks that fail
        // are the same ones.
        let names = |v: Vec<String>| -> Vec<String> {
            v.into_iter()
                .map(|l| l.split(" (found").next().unwrap().to_string())
                .collect()
        };
        assert_eq!(names(fails(&pinned)), names(fails(&swept)), "seed {seed}");
    }
    let d = out_dir.to_string_lossy().into_owned();
    let o = netsim_test(&[&d, "--accept"], None);
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(
        stdout(&o).contains("the snapshot records the failure"),
        "{}",
        stdout(&o)
    );
    let o = netsim_test(&[&d], Some("true"));
    assert_eq!(o.status.code(), Some(0), "{}", stdout(&o));
    assert!(stdout(&o).contains("2 known failures"), "{}", stdout(&o));
}
