//! Copying textures back to the CPU. wgpu requires every row of a texture-to-buffer copy to
//! start at a multiple of 256 bytes, so rows are padded on the GPU side and the padding is
//! stripped here. Several textures can be copied in one submission and mapped together.

use super::RenderError;

/// The padded row length wgpu requires for a copy of `width` pixels of `bytes_per_pixel`.
pub fn padded_bytes_per_row(width: u32, bytes_per_pixel: u32) -> u32 {
    let unpadded = width * bytes_per_pixel;
    let align = wgpu::COPY_BYTES_PER_ROW_ALIGNMENT;
    unpadded.div_ceil(align) * align
}

/// Removes the row padding from a mapped copy.
pub fn strip_padding(
    data: &[u8],
    row_bytes: usize,
    padded_row_bytes: usize,
    rows: usize,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(row_bytes * rows);
    for row in data.chunks(padded_row_bytes).take(rows) {
        out.extend_from_slice(&row[..row_bytes]);
    }
    out
}

/// A texture copy recorded into an encoder, to be read after the submission.
pub struct PendingReadback {
    buffer: wgpu::Buffer,
    width: u32,
    /// Rows of all copied layers together.
    rows: u32,
    bytes_per_pixel: u32,
}

impl PendingReadback {
    /// Records a copy of mip 0 of the first `layers` array layers of `texture`; the layers come
    /// back one after the other.
    pub fn record(
        device: &wgpu::Device,
        encoder: &mut wgpu::CommandEncoder,
        texture: &wgpu::Texture,
        layers: u32,
    ) -> Self {
        let (width, height) = (texture.width(), texture.height());
        let layers = layers.clamp(1, texture.depth_or_array_layers());
        let bytes_per_pixel = texture.format().block_copy_size(None).unwrap_or(4);
        let padded = padded_bytes_per_row(width, bytes_per_pixel);
        let buffer = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: u64::from(padded) * u64::from(height) * u64::from(layers),
            usage: wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::MAP_READ,
            mapped_at_creation: false,
        });
        encoder.copy_texture_to_buffer(
            wgpu::TexelCopyTextureInfo {
                texture,
                mip_level: 0,
                origin: wgpu::Origin3d::ZERO,
                aspect: wgpu::TextureAspect::All,
            },
            wgpu::TexelCopyBufferInfo {
                buffer: &buffer,
                layout: wgpu::TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: Some(padded),
                    rows_per_image: Some(height),
                },
            },
            wgpu::Extent3d {
                width,
                height,
                depth_or_array_layers: layers,
            },
        );
        Self {
            buffer,
            width,
            rows: height * layers,
            bytes_per_pixel,
        }
    }
}

/// Maps every pending copy (after the encoder that recorded them was submitted), waits once
/// for all of them, and returns each texture's tightly packed bytes, in order.
pub fn read_all(
    device: &wgpu::Device,
    pending: Vec<PendingReadback>,
) -> Result<Vec<Vec<u8>>, RenderError> {
    let (tx, rx) = std::sync::mpsc::channel();
    for (i, p) in pending.iter().enumerate() {
        let tx = tx.clone();
        p.buffer.map_async(wgpu::MapMode::Read, .., move |r| {
            let _ = tx.send((i, r));
        });
    }
    drop(tx);
    device
        .poll(wgpu::PollType::wait_indefinitely())
        .map_err(|e| RenderError::Readback(e.to_string()))?;
    for _ in 0..pending.len() {
        let (i, result) = rx
            .recv()
            .map_err(|_| RenderError::Readback("a buffer map never completed".into()))?;
        result.map_err(|e| RenderError::Readback(format!("mapping copy {i}: {e}")))?;
    }
    let mut out = Vec::with_capacity(pending.len());
    for p in pending {
        let data = p
            .buffer
            .slice(..)
            .get_mapped_range()
            .map_err(|e| RenderError::Readback(format!("reading mapped copy: {e}")))?;
        let row = (p.width * p.bytes_per_pixel) as usize;
        let padded = padded_bytes_per_row(p.width, p.bytes_per_pixel) as usize;
        out.push(strip_padding(&data, row, padded, p.rows as usize));
        drop(data);
        p.buffer.unmap();
    }
    Ok(out)
}
