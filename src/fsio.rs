//! Files: reading that cannot run away ([`read_bounded`]: regular files only, a size limit per
//! [`FileKind`]), output that never leaves a half-written file behind, the content hash that
//! ties a checkpoint to its dataset and a render journal to its recipe, and the lock that makes
//! one process the only writer of a folder ([`lock`]).
//!
//! Every file the program reads goes through [`read_bounded`] (or [`read_text`]): a FIFO, a
//! device such as `/dev/zero` or a folder given where a file is expected is refused before
//! anything is read, and so is a file larger than its kind may be. The error names the file,
//! its kind and the limit.

pub mod lock;

use std::fmt;
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

pub use lock::{FolderLock, LOCK_FILE, LockError};

/// What a file is read as, and so how large it may be ([`FileKind::limit`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileKind {
    /// A dataset recipe (TOML).
    Recipe,
    /// A product description (TOML).
    Product,
    /// Training settings (TOML).
    TrainConfig,
    /// A dataset's `manifest.json`.
    Manifest,
    /// A run's `calibration.json`.
    Calibration,
    /// The small files that describe a checkpoint: `meta.json`, `config.json`, `latest.json`.
    CheckpointMeta,
    /// A checkpoint's weights, optimiser state or map.
    Checkpoint,
    /// A triangle mesh (STL, OBJ, glTF).
    Mesh,
    /// An imported product's cached distance grid (`.unseen-cache/*.sdfgrid`).
    GridCache,
    /// A PNG or JPEG image.
    Image,
    /// A render's journal of finished samples.
    Journal,
    /// A run's `losses.csv`.
    LossLog,
    /// An evaluation's `report.json`.
    Report,
    /// A folder's lock file (the holder's process id).
    Lock,
}

impl FileKind {
    /// The largest file of this kind that is read. Each is far above what the program writes
    /// (a manifest of the largest recipe allowed, a checkpoint of the largest model) and far
    /// below what would exhaust memory.
    pub const fn limit(self) -> u64 {
        const KIB: u64 = 1 << 10;
        const MIB: u64 = 1 << 20;
        const GIB: u64 = 1 << 30;
        match self {
            Self::Recipe | Self::Product | Self::TrainConfig => MIB,
            Self::Manifest => GIB,
            Self::Calibration => 64 * MIB,
            Self::CheckpointMeta => 16 * MIB,
            Self::Checkpoint => 4 * GIB,
            Self::Mesh => 256 * MIB,
            Self::GridCache => 8 * GIB,
            Self::Image => 512 * MIB,
            Self::Journal | Self::LossLog | Self::Report => 256 * MIB,
            Self::Lock => 4 * KIB,
        }
    }

    /// What the file is called in messages.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Recipe => "recipe",
            Self::Product => "product file",
            Self::TrainConfig => "training config",
            Self::Manifest => "manifest",
            Self::Calibration => "calibration",
            Self::CheckpointMeta | Self::Checkpoint => "checkpoint file",
            Self::Mesh => "mesh",
            Self::GridCache => "grid cache",
            Self::Image => "image",
            Self::Journal => "render journal",
            Self::LossLog => "loss log",
            Self::Report => "report",
            Self::Lock => "lock file",
        }
    }
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a file could not be read. Every variant names the file and what it was read as.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read {kind} {path}: {source}")]
    Io {
        kind: FileKind,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot read {kind} {path}: it is {found}, not a regular file")]
    NotAFile {
        kind: FileKind,
        path: PathBuf,
        found: &'static str,
    },
    #[error(
        "cannot read {kind} {path}: it is {} ({size} bytes), more than the {} a {kind} may be",
        human_bytes(*size),
        human_bytes(*limit)
    )]
    TooLarge {
        kind: FileKind,
        path: PathBuf,
        size: u64,
        limit: u64,
    },
    #[error("cannot read {kind} {path}: it is not UTF-8 text")]
    NotText { kind: FileKind, path: PathBuf },
}

impl ReadError {
    /// The file the error is about.
    pub fn path(&self) -> &Path {
        match self {
            Self::Io { path, .. }
            | Self::NotAFile { path, .. }
            | Self::TooLarge { path, .. }
            | Self::NotText { path, .. } => path,
        }
    }

    /// The error without the file's name, for callers whose own message names it.
    pub fn reason(&self) -> String {
        match self {
            Self::Io { source, .. } => source.to_string(),
            Self::NotAFile { found, .. } => format!("it is {found}, not a regular file"),
            Self::TooLarge {
                kind, size, limit, ..
            } => format!(
                "it is {} ({size} bytes), more than the {} a {kind} may be",
                human_bytes(*size),
                human_bytes(*limit)
            ),
            Self::NotText { .. } => "it is not UTF-8 text".into(),
        }
    }
}

/// `1.5 GiB`, `64 MiB`, `512 bytes`.
fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} bytes");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if value.fract() == 0.0 {
        format!("{value:.0} {}", UNITS[unit])
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// What a path that is not a regular file is, for messages.
fn describe(file_type: fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if file_type.is_char_device() {
            return "a character device";
        }
        if file_type.is_block_device() {
            return "a block device";
        }
        if file_type.is_socket() {
            return "a socket";
        }
    }
    if file_type.is_dir() {
        "a folder"
    } else {
        "not a regular file"
    }
}

/// Reads the whole of `path`, a regular file of at most `kind.limit()` bytes.
///
/// The path (symbolic links followed) must be a regular file; anything else is refused before
/// it is opened. It is opened non-blocking, so a FIFO swapped in after that check cannot hang
/// the open, and checked again once open. At most one byte past the limit is ever read, so a
/// file that grows while it is read is refused too.
pub fn read_bounded(path: &Path, kind: FileKind) -> Result<Vec<u8>, ReadError> {
    let io = |source| ReadError::Io {
        kind,
        path: path.to_path_buf(),
        source,
    };
    let limit = kind.limit();
    let check = |metadata: &fs::Metadata| {
        if !metadata.is_file() {
            return Err(ReadError::NotAFile {
                kind,
                path: path.to_path_buf(),
                found: describe(metadata.file_type()),
            });
        }
        if metadata.len() > limit {
            return Err(ReadError::TooLarge {
                kind,
                path: path.to_path_buf(),
                size: metadata.len(),
                limit,
            });
        }
        Ok(())
    };
    check(&fs::metadata(path).map_err(io)?)?;
    let mut options = fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NONBLOCK);
    }
    let file = options.open(path).map_err(io)?;
    let metadata = file.metadata().map_err(io)?;
    check(&metadata)?;
    // Files under /proc report a size of 0 and still have contents: the limit, not the
    // reported size, is what bounds the read.
    let mut bytes = Vec::with_capacity(metadata.len() as usize);
    file.take(limit + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::TooLarge {
            kind,
            path: path.to_path_buf(),
            size: bytes.len() as u64,
            limit,
        });
    }
    Ok(bytes)
}

/// [`read_bounded`] for text files.
pub fn read_text(path: &Path, kind: FileKind) -> Result<String, ReadError> {
    String::from_utf8(read_bounded(path, kind)?).map_err(|_| ReadError::NotText {
        kind,
        path: path.to_path_buf(),
    })
}

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename, so a
/// reader (or a later run after a crash) sees either the old file or the complete new one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = temp_path(path);
    let result = (|| {
        let mut file = fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_data()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// The temporary name used while `path` is being written: hidden, in the same folder (so the
/// rename stays on one file system), and ending in `.tmp` so stale ones are easy to recognise.
pub fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.{}.tmp", std::process::id()))
}

/// Hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_replaces_content_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("a.txt");
        write_atomic(&path, b"first").expect("write");
        write_atomic(&path, b"second").expect("rewrite");
        assert_eq!(fs::read(&path).expect("read"), b"second");
        let names: Vec<_> = fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names.len(), 1, "left behind: {names:?}");
    }

    #[test]
    fn sha256_of_a_known_input() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn only_regular_files_within_the_limit_are_read() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("recipe.toml");
        fs::write(&path, "name = 1").expect("write");
        assert_eq!(
            read_text(&path, FileKind::Recipe).expect("read"),
            "name = 1"
        );

        let too_large = vec![b'#'; FileKind::Recipe.limit() as usize + 1];
        fs::write(&path, &too_large).expect("write");
        let err = read_bounded(&path, FileKind::Recipe)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("recipe.toml") && err.contains("1 MiB") && err.contains("recipe"),
            "{err}"
        );

        let err = read_bounded(dir.path(), FileKind::Product)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("a folder") && err.contains("product file"),
            "{err}"
        );

        let err = read_bounded(Path::new("/dev/zero"), FileKind::TrainConfig)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("/dev/zero") && err.contains("character device"),
            "{err}"
        );

        fs::write(&path, [0xff, 0xfe]).expect("write");
        let err = read_text(&path, FileKind::Recipe).unwrap_err().to_string();
        assert!(err.contains("UTF-8"), "{err}");
    }

    #[test]
    fn a_fifo_is_refused_without_waiting_for_a_writer() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fifo = dir.path().join("recipe.toml");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo runs");
        assert!(made.success());
        // Were the FIFO opened for reading, this would block until a writer came: none does.
        let err = read_bounded(&fifo, FileKind::Recipe)
            .unwrap_err()
            .to_string();
        assert!(err.contains("FIFO") && err.contains("recipe.toml"), "{err}");
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(human_bytes(512), "512 bytes");
        assert_eq!(human_bytes(1 << 20), "1 MiB");
        assert_eq!(human_bytes(3 << 29), "1.5 GiB");
    }

    #[test]
    fn atomic_write_into_missing_folder_fails_cleanly() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("missing").join("a.txt");
        assert!(write_atomic(&path, b"x").is_err());
    }
}
