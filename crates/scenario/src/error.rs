//! Errors in scenario files, always with `file:line:column`, and the [`Locator`] that finds
//! the line and column of a problem found after parsing (an unknown host name, say).

use std::fmt;

/// A problem with a scenario file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ScenarioError {
    /// The file as given on the command line.
    pub path: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub col: usize,
    /// What is wrong and what was expected.
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.path, self.line, self.col, self.message
        )
    }
}

/// Finds where things are in the source text, for errors found after parsing. It looks for
/// the section key (`links:`), then the n-th item in it (`Link(`), then the offending text
/// within that item; if the text is not found it points at the item, then at the key.
#[derive(Clone, Copy)]
pub(crate) struct Locator<'a> {
    pub(crate) path: &'a str,
    pub(crate) src: &'a str,
}

/// The item constructors that can appear in each list of a scenario.
fn markers(section: &str) -> &'static [&'static str] {
    match section {
        "hosts" => &["Host("],
        "links" => &["Link("],
        "faults" => &["Fault("],
        "randomize" => &["Link("],
        "expect" => &[
            "Path(",
            "Error(",
            "Received(",
            "Count(",
            "Peak(",
            "AtEnd(",
            "Established(",
            "Violation(",
            "Sent(",
        ],
        "events" => &[
            "PartitionOneWay(",
            "Partition(",
            "HealOneWay(",
            "Heal(",
            "Crash(",
            "Restart(",
            "Inject(",
        ],
        _ => &[],
    }
}

impl Locator<'_> {
    fn error_at(&self, offset: usize, message: String) -> ScenarioError {
        let before = &self.src[..offset.min(self.src.len())];
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        ScenarioError {
            path: self.path.to_string(),
            line,
            col,
            message,
        }
    }

    /// Byte offset of `key:` (a key followed by optional spaces and a colon).
    fn key_offset(&self, key: &str) -> Option<usize> {
        let mut from = 0;
        while let Some(found) = self.src[from..].find(key) {
            let start = from + found;
            let rest = self.src[start + key.len()..].trim_start();
            let boundary = start == 0
                || !self.src[..start]
                    .chars()
                    .next_back()
                    .is_some_and(|c| c.is_alphanumeric() || c == '_');
            if boundary && rest.starts_with(':') {
                return Some(start);
            }
            from = start + key.len();
        }
        None
    }

    /// An error at the key `section:`, or at the start of the file if it is absent.
    pub(crate) fn key(&self, section: &str, message: impl Into<String>) -> ScenarioError {
        self.error_at(self.key_offset(section).unwrap_or(0), message.into())
    }

    /// An error at `needle` inside item `index` of list `section`.
    pub(crate) fn item(
        &self,
        section: &str,
        index: usize,
        needle: &str,
        message: String,
    ) -> ScenarioError {
        let Some(section_at) = self.key_offset(section) else {
            return self.error_at(0, message);
        };
        let next_item = |from: usize| {
            markers(section)
                .iter()
                .filter_map(|m| self.src[from..].find(m).map(|o| from + o))
                .min()
        };
        let mut item_at = None;
        let mut from = section_at;
        for _ in 0..=index {
            match next_item(from) {
                Some(at) => {
                    item_at = Some(at);
                    from = at + 1;
                }
                None => {
                    item_at = None;
                    break;
                }
            }
        }
        let Some(item_at) = item_at else {
            return self.error_at(section_at, message);
        };
        let item_end = next_item(item_at + 1).unwrap_or(self.src.len());
        let found = (!needle.is_empty())
            .then(|| self.src[item_at..item_end].find(needle))
            .flatten()
            .map_or(item_at, |o| item_at + o);
        self.error_at(found, message)
    }
}
