//! The grid cache: the grid as built (coarse level, brick index, bricks) in one flat
//! little-endian file, keyed by the mesh's content and the import settings, read in one go and
//! checked in full before use.

use std::path::Path;

use glam::DVec3;
use sha2::{Digest, Sha256};

use super::grid::{BRICK, DistanceGrid};
use super::{CACHE_FORMAT, CACHE_MAGIC, MAX_GRID_SAMPLES, REFINE};
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

/// Bytes of the fixed header that follows the magic, the format and the key: origin and cell
/// (4 × f64), fine and coarse samples per axis (6 × u64), bricks (u64).
const HEADER_BYTES: usize = 4 * 8 + 6 * 8 + 8;

/// Writes the grid as one flat little-endian file, in the order [`read_cache`] reads it: the
/// magic, the format, the key, the header, the coarse values and parts, the brick index, the
/// bricks' values and parts, and the SHA-256 of all that.
pub(crate) fn write_cache(file: &Path, key: &[u8; 32], grid: &DistanceGrid) -> Result<(), String> {
    let bricks = grid.brick_parts.len() / (BRICK * BRICK * BRICK);
    let mut out = Vec::with_capacity(
        CACHE_MAGIC.len()
            + 4
            + 32
            + HEADER_BYTES
            + 5 * (grid.coarse.len() + grid.bricks.len())
            + 4 * grid.brick_of.len()
            + 32,
    );
    out.extend_from_slice(CACHE_MAGIC);
    out.extend_from_slice(&CACHE_FORMAT.to_le_bytes());
    out.extend_from_slice(key);
    for x in grid.origin.to_array() {
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.extend_from_slice(&grid.cell.to_le_bytes());
    for n in grid.dims.iter().chain(&grid.coarse_dims).chain([&bricks]) {
        out.extend_from_slice(&(*n as u64).to_le_bytes());
    }
    for v in &grid.coarse {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&grid.coarse_parts);
    for b in &grid.brick_of {
        out.extend_from_slice(&b.to_le_bytes());
    }
    for v in &grid.bricks {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&grid.brick_parts);
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

/// Reads a cache file in one go and checks everything before trusting any of it: its
/// SHA-256, its format and key, that every size fits the grid's layout and the limits, that
/// every brick index points at a brick and every value is finite.
pub(crate) fn read_cache(file: &Path, key: &[u8; 32]) -> Result<DistanceGrid, CacheMiss> {
    let bytes = match read_bounded(file, FileKind::GridCache) {
        Ok(b) => b,
        Err(ReadError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            return Err(CacheMiss::Absent);
        }
        Err(e) => return Err(CacheMiss::Invalid(e.reason())),
    };
    let invalid = |why: &str| CacheMiss::Invalid(why.to_string());
    if bytes.len() < CACHE_MAGIC.len() + 4 + 32 + HEADER_BYTES + 32 {
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
    let origin = DVec3::new(r.f64()?, r.f64()?, r.f64()?);
    let cell = r.f64()?;
    let mut sizes = [0usize; 7];
    for n in &mut sizes {
        *n = usize::try_from(r.u64()?).map_err(|_| invalid("bad header"))?;
    }
    let dims = [sizes[0], sizes[1], sizes[2]];
    let coarse_dims = [sizes[3], sizes[4], sizes[5]];
    let bricks = sizes[6];
    let product = |d: [usize; 3]| {
        d.iter()
            .try_fold(1usize, |a, n| a.checked_mul(*n))
            .filter(|n| *n <= MAX_GRID_SAMPLES)
    };
    let per_brick = BRICK * BRICK * BRICK;
    let fits = origin.is_finite()
        && cell.is_finite()
        && cell > 0.0
        && (0..3).all(|a| coarse_dims[a] >= 2 && dims[a] == (coarse_dims[a] - 1) * REFINE + 1)
        && product(dims).is_some();
    let (Some(coarse_count), Some(fine_count)) = (
        product(coarse_dims).filter(|_| fits),
        bricks
            .checked_mul(per_brick)
            .filter(|n| *n <= MAX_GRID_SAMPLES),
    ) else {
        return Err(invalid("bad header"));
    };
    let cells = coarse_dims.map(|n| n - 1).iter().product::<usize>();
    let coarse = r.f32s(coarse_count)?;
    let coarse_parts = r.take(coarse_count)?.to_vec();
    let brick_of = r.u32s(cells)?;
    let brick_values = r.f32s(fine_count)?;
    let brick_parts = r.take(fine_count)?.to_vec();
    if r.at != body.len() {
        return Err(invalid("trailing bytes"));
    }
    if brick_of.iter().any(|b| *b as usize > bricks) {
        return Err(invalid("a brick index out of range"));
    }
    if coarse.iter().chain(&brick_values).any(|v| !v.is_finite()) {
        return Err(invalid("values out of range"));
    }
    Ok(DistanceGrid {
        origin,
        cell,
        dims,
        coarse_dims,
        coarse,
        coarse_parts,
        brick_of,
        bricks: brick_values,
        brick_parts,
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

    fn array<const N: usize>(&mut self) -> Result<[u8; N], CacheMiss> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn u32(&mut self) -> Result<u32, CacheMiss> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, CacheMiss> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    fn f64(&mut self) -> Result<f64, CacheMiss> {
        Ok(f64::from_le_bytes(self.array()?))
    }

    /// `n` four-byte words, checked to be there before anything is allocated.
    fn words(&mut self, n: usize) -> Result<&'a [u8], CacheMiss> {
        let len = n
            .checked_mul(4)
            .ok_or_else(|| CacheMiss::Invalid("truncated".into()))?;
        self.take(len)
    }

    fn f32s(&mut self, n: usize) -> Result<Vec<f32>, CacheMiss> {
        Ok(self
            .words(n)?
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    }

    fn u32s(&mut self, n: usize) -> Result<Vec<u32>, CacheMiss> {
        Ok(self
            .words(n)?
            .chunks_exact(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    }
}
