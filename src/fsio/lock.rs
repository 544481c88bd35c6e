//! One writer per folder: a render's output folder, a training run and an evaluation's report
//! folder are each held by an exclusive lock while they are written, so a second process
//! writing into the same folder is refused at once instead of mixing its files with the first's.
//!
//! The lock is `flock(2)` on `DIR/.unseen.lock` (through `std::fs::File::try_lock`): the kernel
//! drops it when the holding process ends, however it ends, so a killed process never leaves a
//! folder locked. The holder writes its process id and what it is doing into the file, which is
//! what a refused process reports. The file is removed when the lock is released; a process
//! that locked a file another process has just removed tries again on the new one, so two
//! holders can never each hold a lock on a different file of the same name.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::{FileKind, read_text};

/// The lock file inside a locked folder.
pub const LOCK_FILE: &str = ".unseen.lock";

/// Why a folder could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "{dir} is being written by another unseen process ({holder}): wait for it to finish, \
         stop it, or choose another folder"
    )]
    Held { dir: PathBuf, holder: String },
    #[error("cannot lock {dir}: {source}")]
    Io {
        dir: PathBuf,
        source: std::io::Error,
    },
}

/// An exclusive hold on a folder, released when dropped (or when the process ends).
#[derive(Debug)]
pub struct FolderLock {
    file: fs::File,
    path: PathBuf,
}

/// Tries before giving up when the lock file keeps being replaced under us.
const ATTEMPTS: usize = 8;

impl FolderLock {
    /// Locks the existing folder `dir` for `purpose` (e.g. `render`), or says who holds it.
    pub fn acquire(dir: &Path, purpose: &str) -> Result<Self, LockError> {
        let path = dir.join(LOCK_FILE);
        let io = |source| LockError::Io {
            dir: dir.to_path_buf(),
            source,
        };
        for _ in 0..ATTEMPTS {
            let file = fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .map_err(io)?;
            match file.try_lock() {
                Ok(()) => {}
                Err(fs::TryLockError::WouldBlock) => {
                    return Err(LockError::Held {
                        dir: dir.to_path_buf(),
                        holder: holder(&path),
                    });
                }
                Err(fs::TryLockError::Error(e)) => return Err(io(e)),
            }
            // The holder before us may have removed the file between our open and our lock:
            // then we hold a lock on a file nobody else can find, and must take the new one.
            if !same_file(&file, &path) {
                continue;
            }
            let mut lock = Self { file, path };
            lock.write_holder(purpose).map_err(io)?;
            return Ok(lock);
        }
        Err(io(std::io::Error::other(
            "the lock file kept being replaced by other processes",
        )))
    }

    fn write_holder(&mut self, purpose: &str) -> std::io::Result<()> {
        self.file.set_len(0)?;
        writeln!(self.file, "{} unseen {purpose}", std::process::id())?;
        self.file.flush()
    }
}

impl Drop for FolderLock {
    fn drop(&mut self) {
        // Removed while still held, so whoever opens the name next creates a new file; the
        // lock itself goes with the file handle right after.
        let _ = fs::remove_file(&self.path);
    }
}

/// Whether the open `file` is still the one at `path`.
fn same_file(file: &fs::File, path: &Path) -> bool {
    let (Ok(open), Ok(named)) = (file.metadata(), fs::metadata(path)) else {
        return false;
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        open.dev() == named.dev() && open.ino() == named.ino()
    }
    #[cfg(not(unix))]
    {
        let _ = (open, named);
        true
    }
}

/// Who holds the lock at `path`, as its file says: `process 1234, unseen render`.
fn holder(path: &Path) -> String {
    let text = read_text(path, FileKind::Lock).unwrap_or_default();
    let mut words = text.split_whitespace();
    match (words.next().and_then(|pid| pid.parse::<u32>().ok()), words) {
        (Some(pid), rest) => {
            let what: Vec<&str> = rest.collect();
            if what.is_empty() {
                format!("process {pid}")
            } else {
                format!("process {pid}, {}", what.join(" "))
            }
        }
        // The holder has the lock and has not written its id yet.
        (None, _) => "a process that has not yet written its id".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_with_the_first_one_named() {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = FolderLock::acquire(dir.path(), "render").expect("first lock");
        let text = fs::read_to_string(dir.path().join(LOCK_FILE)).expect("lock file");
        assert_eq!(text, format!("{} unseen render\n", std::process::id()));
        // A second open file description conflicts even within one process.
        let err = FolderLock::acquire(dir.path(), "train")
            .expect_err("held")
            .to_string();
        assert!(
            err.contains(&dir.path().display().to_string())
                && err.contains(&format!("process {}, unseen render", std::process::id())),
            "{err}"
        );
        drop(first);
        assert!(
            !dir.path().join(LOCK_FILE).exists(),
            "released, the file goes"
        );
        let again = FolderLock::acquire(dir.path(), "train").expect("free again");
        drop(again);
    }

    #[test]
    fn a_lock_file_left_behind_does_not_hold_the_folder() {
        let dir = tempfile::tempdir().expect("tempdir");
        // What a killed process leaves: the file, with no lock on it.
        fs::write(dir.path().join(LOCK_FILE), "4000000 unseen render\n").expect("write");
        let lock = FolderLock::acquire(dir.path(), "render").expect("stale file is taken over");
        let text = fs::read_to_string(dir.path().join(LOCK_FILE)).expect("lock file");
        assert!(text.starts_with(&std::process::id().to_string()), "{text}");
        drop(lock);
    }
}
