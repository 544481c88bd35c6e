//! Reading images to inspect. Images must already have the model's size: rescaling would
//! change the apparent size of a defect, so a different size is an error naming the file.
//! Colour is converted to the model's channels (grey ↔ RGB) since that loses nothing the model
//! could use.

use std::path::Path;

use super::model::InspectError;

/// Largest width or height accepted, checked from the header before any pixel is decoded.
pub const MAX_SIDE: u32 = 16_384;
/// Largest decoder allocation (a decompression bomb is refused, not decoded).
pub const MAX_DECODE_BYTES: u64 = 512 << 20;

/// Decodes an image file, refusing empty files, unknown formats, absurd dimensions and oversized
/// allocations with an error that names the file.
pub fn decode_image(path: &Path) -> Result<image::DynamicImage, InspectError> {
    let fail = |message: String| InspectError::Read {
        path: path.to_path_buf(),
        message,
    };
    let bytes = std::fs::metadata(path)
        .map_err(|e| fail(e.to_string()))?
        .len();
    if bytes == 0 {
        return Err(fail("the file is empty".into()));
    }
    let mut reader = image::ImageReader::open(path)
        .map_err(|e| fail(e.to_string()))?
        .with_guessed_format()
        .map_err(|e| fail(e.to_string()))?;
    if reader.format().is_none() {
        return Err(fail("not a PNG or JPEG image".into()));
    }
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    reader.decode().map_err(|e| fail(e.to_string()))
}

/// The image at `path` as `channels · size²` values in `[0, 1]`, channel-major.
pub fn read_image(path: &Path, size: usize, channels: usize) -> Result<Vec<f32>, InspectError> {
    let image = decode_image(path)?;
    if image.width() as usize != size || image.height() as usize != size {
        return Err(InspectError::Size {
            path: path.to_path_buf(),
            found: format!("{}x{}", image.width(), image.height()),
            expected: format!("{size}x{size}"),
        });
    }
    let to_f32 = |v: &u8| f32::from(*v) / 255.0;
    Ok(if channels == 1 {
        image.to_luma8().as_raw().iter().map(to_f32).collect()
    } else {
        let rgb = image.to_rgb8();
        (0..3)
            .flat_map(|c| rgb.as_raw().iter().skip(c).step_by(3).map(to_f32))
            .collect()
    })
}

/// PNG and JPEG files of `dir`, sorted by name.
pub fn images_in(dir: &Path) -> Result<Vec<std::path::PathBuf>, InspectError> {
    let entries = std::fs::read_dir(dir).map_err(|e| InspectError::Read {
        path: dir.to_path_buf(),
        message: e.to_string(),
    })?;
    let mut paths: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.extension().is_some_and(|e| {
                    let e = e.to_ascii_lowercase();
                    e == "png" || e == "jpg" || e == "jpeg"
                })
        })
        .collect();
    paths.sort();
    Ok(paths)
}
