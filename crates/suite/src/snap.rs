//! Snapshot files in insta's format (`.snap`, and `.snap.new` for one waiting for review), so
//! that `cargo insta review` reads what `netsim test` writes and the other way round:
//!
//! ```text
//! ---
//! source: netsim test
//! description: netsim run scenarios/lost_final_ack.ron
//! ---
//! <contents>
//! ```
//!
//! Contents compare as insta compares them: line endings normalised and trailing blanks at
//! the end ignored.

use std::path::{Path, PathBuf};

/// The contents of the snapshot file at `path`; `None` when there is no such file.
pub fn read(path: &Path) -> Result<Option<String>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    contents(&text)
        .map(|c| Some(c.to_string()))
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// The contents of a snapshot file's text: what follows its `---` header.
pub fn contents(text: &str) -> Result<&str, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text.split_inclusive('\n');
    let opening = lines.next().unwrap_or("");
    if opening.trim_end() != "---" {
        return Err("not a snapshot: line 1 should be `---`, the start of its header".into());
    }
    let mut at = opening.len();
    for (i, line) in lines.enumerate() {
        at += line.len();
        if line.trim_end() == "---" {
            return Ok(&text[at..]);
        }
        if !line.contains(':') && !line.trim().is_empty() {
            return Err(format!(
                "not a snapshot: line {} of the header is not `key: value`",
                i + 2
            ));
        }
    }
    Err("not a snapshot: its header has no closing `---`".into())
}

/// Snapshot contents as they compare: `\r\n` read as `\n`, trailing blanks dropped.
pub fn normalize(contents: &str) -> String {
    contents.replace("\r\n", "\n").trim_end().to_string()
}

/// The text of a snapshot file: insta's header with `source` (what wrote it) and
/// `description`, then `contents` and a final newline.
pub fn render(source: &str, description: &str, contents: &str) -> String {
    format!(
        "---\nsource: {}\ndescription: {}\n---\n{}\n",
        yaml_scalar(source),
        yaml_scalar(description),
        normalize(contents)
    )
}

/// Where a snapshot waiting for review goes: `NAME.snap.new` beside `NAME.snap`.
pub fn pending_path(snapshot: &Path) -> PathBuf {
    let mut name = snapshot.as_os_str().to_owned();
    name.push(".new");
    PathBuf::from(name)
}

/// `s` as a YAML scalar: bare when YAML would read it back unchanged, double-quoted otherwise.
fn yaml_scalar(s: &str) -> String {
    let plain = !s.is_empty()
        && s.trim() == s
        && !s.starts_with(|c: char| "-?:,[]{}#&*!|>'\"%@`".contains(c))
        && !s.contains(": ")
        && !s.contains(" #")
        && !s.ends_with(':')
        && !s.chars().any(char::is_control);
    if plain {
        return s.to_string();
    }
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rendered_file_reads_back_to_its_contents() {
        let text = render("netsim test", "netsim run x.ron", "line 1\nline 2\n\n");
        assert_eq!(
            text,
            "---\nsource: netsim test\ndescription: netsim run x.ron\n---\nline 1\nline 2\n"
        );
        assert_eq!(contents(&text).unwrap(), "line 1\nline 2\n");
    }

    #[test]
    fn contents_compare_as_insta_compares_them() {
        assert_eq!(normalize("a\r\nb  \n\n"), "a\nb");
        assert_ne!(normalize("a\nb"), normalize("a\n b"));
        assert_ne!(normalize(" a"), normalize("a"), "leading blanks count");
    }

    #[test]
    fn a_catalogue_snapshot_written_by_insta_reads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../scenarios/snapshots/abortive_close.snap");
        let contents = read(&path).unwrap().expect("the catalogue has it");
        assert!(contents.starts_with("   0.000000s    client 10.0.0.1:32768 CLOSED -> SYN_SENT"));
        assert!(contents.contains("== abortive-close (seed"));
    }

    #[test]
    fn what_is_not_a_snapshot_is_named() {
        assert!(
            contents("hello\n")
                .unwrap_err()
                .contains("line 1 should be `---`")
        );
        assert!(
            contents("---\nsource: x\n")
                .unwrap_err()
                .contains("no closing `---`")
        );
        assert!(
            contents("---\nsource x\n---\n")
                .unwrap_err()
                .contains("line 2")
        );
        assert_eq!(read(Path::new("/nonexistent/x.snap")).unwrap(), None);
    }

    #[test]
    fn header_values_yaml_would_misread_are_quoted() {
        assert_eq!(yaml_scalar("netsim run a/b.ron"), "netsim run a/b.ron");
        assert_eq!(yaml_scalar("a: b"), "\"a: b\"");
        assert_eq!(yaml_scalar("-x"), "\"-x\"");
        assert_eq!(yaml_scalar("say \"hi\"\\"), "say \"hi\"\\");
        assert_eq!(yaml_scalar("#x \"q\""), "\"#x \\\"q\\\"\"");
        assert_eq!(yaml_scalar("a\nb"), "\"a\\nb\"");
        assert_eq!(
            pending_path(Path::new("s/x.snap")),
            Path::new("s/x.snap.new")
        );
    }
}
