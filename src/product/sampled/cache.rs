//! The grid cache: the exact samples, keyed by the mesh's content and the import settings,
//! checked in full before use.

use std::path::Path;

use glam::DVec3;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::build::{Exact, LevelSamples};
use super::{CACHE_FORMAT, CACHE_MAGIC, MAX_GRID_SAMPLES};
use crate::fsio::{FileKind, ReadError, read_bounded};
use crate::product::PartTable;
use crate::product::import::{ImportSpec, SourceFiles};

pub(crate) fn cache_key(
    sources: &SourceFiles,
    import: &ImportSpec,
    pinned: &PartTable,
) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(CACHE_MAGIC);
    h.update(CACHE_FORMAT.to_le_bytes());
    h.update((sources.bytes.len() as u64).to_le_bytes());
    h.update(&sources.bytes);
    for (name, bytes) in &sources.referenced {
        h.update((name.len() as u64).to_le_bytes());
        h.update(name.as_bytes());
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    }
    let settings = serde_json::json!({ "import": import, "parts": pinned });
    h.update(settings.to_string().as_bytes());
    h.finalize().into()
}

/// The small, structured part of a cache file.
#[derive(Serialize, Deserialize)]
struct CacheHeader {
    origin: [f64; 3],
    cell: f64,
    fine_dims: [usize; 3],
    /// Exact samples per level, coarsest first.
    counts: Vec<usize>,
}

pub(crate) fn write_cache(file: &Path, key: &[u8; 32], exact: &Exact) -> Result<(), String> {
    let header = CacheHeader {
        origin: exact.origin.to_array(),
        cell: exact.cell,
        fine_dims: exact.fine_dims,
        counts: exact.levels.iter().map(|l| l.index.len()).collect(),
    };
    let header = serde_json::to_vec(&header).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    out.extend_from_slice(CACHE_MAGIC);
    out.extend_from_slice(&CACHE_FORMAT.to_le_bytes());
    out.extend_from_slice(key);
    out.extend_from_slice(&(header.len() as u64).to_le_bytes());
    out.extend_from_slice(&header);
    for level in &exact.levels {
        for i in &level.index {
            out.extend_from_slice(&i.to_le_bytes());
        }
        for v in &level.values {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&level.parts);
    }
    let digest = Sha256::digest(&out);
    out.extend_from_slice(&digest);
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    crate::fsio::write_atomic(file, &out).map_err(|e| format!("{}: {e}", file.display()))
}

pub(crate) enum CacheMiss {
    Absent,
    Invalid(String),
}

/// Reads a cache file, checking everything before trusting any of it (whether its samples
/// are the ones the grid needs is checked as it is assembled).
pub(crate) fn read_cache(file: &Path, key: &[u8; 32]) -> Result<Exact, CacheMiss> {
    let bytes = match read_bounded(file, FileKind::GridCache) {
        Ok(b) => b,
        Err(ReadError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            return Err(CacheMiss::Absent);
        }
        Err(e) => return Err(CacheMiss::Invalid(e.reason())),
    };
    let invalid = |why: &str| CacheMiss::Invalid(why.to_string());
    if bytes.len() < CACHE_MAGIC.len() + 4 + 32 + 8 + 32 {
        return Err(invalid("too short"));
    }
    let (body, digest) = bytes.split_at(bytes.len() - 32);
    if Sha256::digest(body).as_slice() != digest {
        return Err(invalid("its checksum does not match"));
    }
    let mut r = Reader { bytes: body, at: 0 };
    if r.take(CACHE_MAGIC.len())? != CACHE_MAGIC {
        return Err(invalid("not a grid cache"));
    }
    if r.u32()? != CACHE_FORMAT {
        return Err(invalid("another format version"));
    }
    if r.take(32)? != key {
        return Err(invalid("made from another mesh or settings"));
    }
    let header_len = usize::try_from(r.u64()?).map_err(|_| invalid("bad header"))?;
    let header: CacheHeader =
        serde_json::from_slice(r.take(header_len)?).map_err(|_| invalid("bad header"))?;
    let total = header
        .fine_dims
        .iter()
        .try_fold(1usize, |a, d| a.checked_mul(*d))
        .filter(|n| *n <= MAX_GRID_SAMPLES);
    let valid = total.is_some()
        && header.cell.is_finite()
        && header.cell > 0.0
        && header.origin.iter().all(|x| x.is_finite())
        && header.counts.len() <= 8
        && header.counts.iter().all(|n| *n <= MAX_GRID_SAMPLES);
    if !valid {
        return Err(invalid("bad header"));
    }
    let mut levels = Vec::new();
    for &count in &header.counts {
        let index: Vec<u32> = r
            .take(4 * count)?
            .chunks_exact(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        let values = r.f32s(count)?;
        let parts = r.take(count)?.to_vec();
        if values.iter().any(|v| !v.is_finite()) {
            return Err(invalid("values out of range"));
        }
        levels.push(LevelSamples {
            index,
            values,
            parts,
        });
    }
    if r.at != body.len() {
        return Err(invalid("trailing bytes"));
    }
    Ok(Exact {
        origin: DVec3::from(header.origin),
        cell: header.cell,
        fine_dims: header.fine_dims,
        levels,
    })
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], CacheMiss> {
        let end = self
            .at
            .checked_add(n)
            .filter(|e| *e <= self.bytes.len())
            .ok_or_else(|| CacheMiss::Invalid("truncated".into()))?;
        let out = &self.bytes[self.at..end];
        self.at = end;
        Ok(out)
    }

    fn u32(&mut self) -> Result<u32, CacheMiss> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self) -> Result<u64, CacheMiss> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    fn f32s(&mut self, n: usize) -> Result<Vec<f32>, CacheMiss> {
        let len = n
            .checked_mul(4)
            .ok_or_else(|| CacheMiss::Invalid("truncated".into()))?;
        Ok(self
            .take(len)?
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    }
}
