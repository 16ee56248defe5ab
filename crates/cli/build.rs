//! Stamps the binary with what a sweep report must name so that a seed replays exactly only
//! with the same model:
//! - `NETSIM_COMMIT`: the git commit the binary is built from. A build outside a git checkout
//!   (a container image, a source tarball) can give it in the environment variable of the same
//!   name (`NETSIM_COMMIT=$(git rev-parse --short=12 HEAD) cargo build --release`); with
//!   neither it is "unknown".
//! - `NETSIM_SOURCE`: a fingerprint of what the model is built from (every crate's `src/**.rs`
//!   and `Cargo.toml`, and the workspace's `Cargo.lock`: paths and contents, FNV-1a 64), which
//!   tells two builds apart even without git: the same sources give the same fingerprint on
//!   every machine, whatever else lies in the checkout.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=NETSIM_COMMIT");
    let given = std::env::var("NETSIM_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty());
    let commit = given.unwrap_or_else(git_commit);
    println!("cargo:rustc-env=NETSIM_COMMIT={commit}");
    println!("cargo:rerun-if-changed=../../.git/HEAD");
    println!("cargo:rerun-if-changed=../../.git/index");

    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = vec![crates.join("../Cargo.lock")];
    walk(&crates, &mut files);
    files.retain(|f| {
        let in_src = f.strip_prefix(&crates).is_ok_and(|r| {
            r.components()
                .nth(1)
                .is_some_and(|c| c.as_os_str() == "src")
        });
        f.ends_with("Cargo.lock")
            || f.file_name().is_some_and(|n| n == "Cargo.toml")
            || (in_src && f.extension().is_some_and(|e| e == "rs"))
    });
    files.sort();
    let mut hash = Fnv::default();
    for file in &files {
        let relative = file.strip_prefix(&crates).unwrap_or(file);
        hash.write(relative.to_string_lossy().as_bytes());
        hash.write(&std::fs::read(file).unwrap_or_default());
    }
    println!("cargo:rustc-env=NETSIM_SOURCE={:016x}", hash.0);
    println!("cargo:rerun-if-changed=..");
    println!("cargo:rerun-if-changed=../../Cargo.lock");
}

/// The commit of the checkout, `+changes` when tracked files differ from it.
fn git_commit() -> String {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
    };
    let Some(head) = git(&["rev-parse", "--short=12", "HEAD"]) else {
        return "unknown".into();
    };
    let commit = String::from_utf8_lossy(&head.stdout).trim().to_string();
    let dirty = git(&["status", "--porcelain", "--untracked-files=no"])
        .is_some_and(|o| !o.stdout.is_empty());
    if dirty {
        format!("{commit}+changes")
    } else {
        commit
    }
}

/// Every file under `dir`, skipping hidden entries and build output.
fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || name == "target" {
            continue;
        }
        if path.is_dir() {
            walk(&path, files);
        } else {
            files.push(path);
        }
    }
}

/// FNV-1a, 64 bits, with each input's length mixed in so that boundaries count.
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes
            .iter()
            .copied()
            .chain((bytes.len() as u64).to_le_bytes())
        {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}
