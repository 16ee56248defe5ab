//! Files written whole or not at all.

use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The temporary files of the [`AtomicFile`]s not yet committed or dropped, for
/// [`remove_unfinished`].
static UNFINISHED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Whether the process has begun putting its outputs in place (see [`placing_outputs`]).
static PLACING: Mutex<bool> = Mutex::new(false);

/// Removes the temporary file of every [`AtomicFile`] still being written: for a process
/// about to exit on a signal, which runs no destructors. The files they would replace are
/// left as they were.
pub fn remove_unfinished() {
    let mut unfinished = UNFINISHED.lock().unwrap_or_else(|e| e.into_inner());
    for tmp in unfinished.drain(..) {
        let _ = std::fs::remove_file(tmp);
    }
}

/// Marks the start of a command's last step, putting its outputs in place: from here on
/// [`abandon_outputs`] does nothing, so an interrupt cannot leave some outputs new and the
/// others old or missing; the command finishes.
pub fn placing_outputs() {
    *PLACING.lock().unwrap_or_else(|e| e.into_inner()) = true;
}

/// For a signal: unless the outputs are being put in place, removes the unfinished files,
/// says so and ends the process with `code`, holding the lock so that no output is placed
/// meanwhile. Returns only if the outputs are being placed.
pub fn abandon_outputs(code: i32, message: &str) {
    let placing = PLACING.lock().unwrap_or_else(|e| e.into_inner());
    if *placing {
        return;
    }
    remove_unfinished();
    eprintln!("{message}");
    std::process::exit(code);
}

/// Takes `tmp` off the list of unfinished files.
fn finished(tmp: &Path) {
    let mut unfinished = UNFINISHED.lock().unwrap_or_else(|e| e.into_inner());
    unfinished.retain(|p| p != tmp);
}

/// Writes `text` to `path` atomically (see [`AtomicFile`]).
pub fn write_atomic(path: &Path, text: &str) -> Result<(), String> {
    let mut file = AtomicFile::create(path)?;
    file.write_all(text.as_bytes())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    file.commit()
}

/// A file written whole or not at all: the bytes go to a temporary file in the same directory,
/// renamed over the path by [`AtomicFile::commit`], so a reader never sees half a file and an
/// interrupted run leaves the old one whole. Dropped without a commit, it leaves nothing.
pub struct AtomicFile {
    path: PathBuf,
    tmp: PathBuf,
    out: BufWriter<std::fs::File>,
    committed: bool,
}

impl AtomicFile {
    /// Starts the file at `path` (its directory must exist).
    pub fn create(path: &Path) -> Result<AtomicFile, String> {
        let tmp = hidden_sibling(path, "tmp")?;
        let file = std::fs::File::create(&tmp).map_err(|e| format!("{}: {e}", path.display()))?;
        (UNFINISHED.lock().unwrap_or_else(|e| e.into_inner())).push(tmp.clone());
        Ok(AtomicFile {
            path: path.to_path_buf(),
            tmp,
            out: BufWriter::new(file),
            committed: false,
        })
    }

    /// Flushes, syncs and renames the file into place.
    pub fn commit(mut self) -> Result<(), String> {
        let done = self
            .out
            .flush()
            .and_then(|()| self.out.get_ref().sync_all())
            .and_then(|()| std::fs::rename(&self.tmp, &self.path));
        done.map_err(|e| format!("{}: {e}", self.path.display()))?;
        self.committed = true;
        finished(&self.tmp);
        Ok(())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.out.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_file(&self.tmp);
            finished(&self.tmp);
        }
    }
}

/// Checks, before any work, that a file can be written at `path` (its directory exists and
/// takes new files, and `path` is not a directory), so a long run does not find out only at
/// its end.
pub fn check_writable(path: &Path) -> Result<(), String> {
    if path.is_dir() {
        return Err(format!(
            "{}: cannot write here: it is a directory (give a file name)",
            path.display()
        ));
    }
    let probe = hidden_sibling(path, "probe")?;
    std::fs::File::create(&probe)
        .and_then(|_| std::fs::remove_file(&probe))
        .map_err(|e| format!("{}: cannot write here: {e}", path.display()))
}

/// `.NAME.PID.SUFFIX` beside `path`: a scratch file of this process in the same directory
/// (so a rename onto `path` stays within one file system).
fn hidden_sibling(path: &Path, suffix: &str) -> Result<PathBuf, String> {
    let name = path
        .file_name()
        .ok_or_else(|| format!("{}: not a file name", path.display()))?;
    Ok(path.with_file_name(format!(
        ".{}.{}.{suffix}",
        name.to_string_lossy(),
        std::process::id()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file being written is listed as unfinished until it is committed or dropped;
    /// `remove_unfinished` removes what is listed and leaves the file it would replace.
    #[test]
    fn unfinished_files_are_listed_until_committed_or_dropped() {
        let dir = std::env::temp_dir().join(format!("netsim-atomic-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let listed = |p: &Path| UNFINISHED.lock().unwrap().iter().any(|t| t.starts_with(p));
        let done = dir.join("done.txt");
        let mut file = AtomicFile::create(&done).unwrap();
        file.write_all(b"whole").unwrap();
        assert!(listed(&dir));
        file.commit().unwrap();
        assert!(!listed(&dir), "committed");
        drop(AtomicFile::create(&dir.join("dropped.txt")).unwrap());
        assert!(!listed(&dir), "dropped");
        std::fs::write(dir.join("old.txt"), "old").unwrap();
        let cut = AtomicFile::create(&dir.join("old.txt")).unwrap();
        remove_unfinished();
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["done.txt", "old.txt"]);
        assert_eq!(std::fs::read_to_string(dir.join("old.txt")).unwrap(), "old");
        drop(cut);
        // Once the outputs are being placed, a signal's abandon returns (it would end the
        // test process otherwise).
        placing_outputs();
        abandon_outputs(130, "not printed");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
