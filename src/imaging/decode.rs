//! Decoding image files under limits: every image read from disk (training renders, images to
//! inspect, masks, part maps) goes through [`decode_image`], which refuses empty files,
//! non-images, absurd dimensions and decompression bombs with an error naming the file.
//!
//! [`read_image`] also checks the size: images must already have the model's size, since
//! rescaling would change the apparent size of a defect. Colour is converted to the model's
//! channels (grey ↔ RGB) since that loses nothing the model could use.

use std::path::{Path, PathBuf};

use crate::fsio::{FileKind, read_bounded};

/// Why an image file cannot be used. Every variant names the file.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    #[error("cannot read {path}: {message}")]
    Read { path: PathBuf, message: String },
    #[error(
        "{path} is {found}, but the model takes {expected} images; resize or crop it to the \
         training size first (inspection never rescales, which would change the defect's scale)"
    )]
    Size {
        path: PathBuf,
        found: String,
        expected: String,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// Largest width or height accepted, checked from the header before any pixel is decoded.
pub const MAX_SIDE: u32 = 16_384;
/// Largest decoder allocation (a decompression bomb is refused, not decoded); also the
/// largest image file read ([`FileKind::Image`]).
pub const MAX_DECODE_BYTES: u64 = FileKind::Image.limit();

/// Decodes an image file, refusing what is not a regular file, empty files, unknown formats,
/// absurd dimensions and oversized allocations with an error that names the file.
pub fn decode_image(path: &Path) -> Result<image::DynamicImage, ImageError> {
    let fail = |message: String| ImageError::Read {
        path: path.to_path_buf(),
        message,
    };
    let bytes = read_bounded(path, FileKind::Image).map_err(|e| fail(e.reason()))?;
    decode_bytes(bytes).map_err(fail)
}

/// Decodes an in-memory PNG or JPEG under the same limits as [`decode_image`]; the error is
/// the reason alone, for the caller to put beside the file's name.
pub fn decode_bytes(bytes: Vec<u8>) -> Result<image::DynamicImage, String> {
    if bytes.is_empty() {
        return Err("the file is empty".into());
    }
    // Judge the contents, not the name: a text file called .png is not a PNG.
    let mut reader = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| e.to_string())?;
    if !matches!(
        reader.format(),
        Some(image::ImageFormat::Png | image::ImageFormat::Jpeg)
    ) {
        return Err("not a PNG or JPEG image".into());
    }
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    reader.decode().map_err(|e| e.to_string())
}

/// The image at `path` as `channels · size²` values in `[0, 1]`, channel-major.
pub fn read_image(path: &Path, size: usize, channels: usize) -> Result<Vec<f32>, ImageError> {
    image_values(&decode_image(path)?, path, size, channels)
}

/// A decoded image (read from `path`, named in errors) as `channels · size²` values in
/// `[0, 1]`, channel-major: it must be `size` pixels square and opaque.
///
/// An alpha channel is dropped when every pixel is opaque. A pixel that is not is an error: a
/// camera gives none, and compositing it onto some background would make up the pixels the
/// verdict is about (a fully transparent image would otherwise pass as a black one).
pub fn image_values(
    image: &image::DynamicImage,
    path: &Path,
    size: usize,
    channels: usize,
) -> Result<Vec<f32>, ImageError> {
    if image.width() as usize != size || image.height() as usize != size {
        return Err(ImageError::Size {
            path: path.to_path_buf(),
            found: format!("{}x{}", image.width(), image.height()),
            expected: format!("{size}x{size}"),
        });
    }
    check_opaque(image, path)?;
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

/// Refuses an image with a pixel that is not fully opaque, saying how many there are.
fn check_opaque(image: &image::DynamicImage, path: &Path) -> Result<(), ImageError> {
    if !image.color().has_alpha() {
        return Ok(());
    }
    let rgba = image.to_rgba16();
    let total = rgba.pixels().len();
    let see_through = rgba.pixels().filter(|p| p.0[3] != u16::MAX).count();
    if see_through == 0 {
        return Ok(());
    }
    let what = if see_through == total {
        "is fully transparent".to_string()
    } else {
        format!("has {see_through} of {total} pixels not fully opaque")
    };
    Err(ImageError::Invalid {
        path: path.to_path_buf(),
        message: format!(
            "the image {what}; a camera image has no transparency, so it cannot be judged \
             (flatten it onto the background it was taken against first)"
        ),
    })
}

/// A defect mask (any grey level above half counts), 0/1 per pixel; its size must be `size`.
pub fn read_mask(path: &Path, size: usize) -> Result<Vec<u8>, ImageError> {
    mask_values(&decode_image(path)?, path, size)
}

/// A decoded defect mask (read from `path`, named in errors) as 0/1 per pixel.
pub fn mask_values(
    mask: &image::DynamicImage,
    path: &Path,
    size: usize,
) -> Result<Vec<u8>, ImageError> {
    let mask = mask.to_luma8();
    if mask.width() as usize != size || mask.height() as usize != size {
        return Err(ImageError::Invalid {
            path: path.to_path_buf(),
            message: format!(
                "mask is {}x{}, the images are {size}x{size}",
                mask.width(),
                mask.height()
            ),
        });
    }
    Ok(mask.as_raw().iter().map(|&v| u8::from(v > 127)).collect())
}

/// A PNG whose header claims `width × height` (its IHDR checksum fixed up): how tests and the
/// fuzzer forge decompression bombs. Bytes that are not a PNG come back unchanged.
pub fn with_png_size(png: &[u8], width: u32, height: u32) -> Vec<u8> {
    let mut out = png.to_vec();
    if out.len() < 33 || &out[12..16] != b"IHDR" {
        return out;
    }
    out[16..20].copy_from_slice(&width.to_be_bytes());
    out[20..24].copy_from_slice(&height.to_be_bytes());
    // CRC-32 (ISO 3309) over the chunk type and data.
    let mut crc = 0xFFFF_FFFFu32;
    for &b in &out[12..29] {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    out[29..33].copy_from_slice(&(!crc).to_be_bytes());
    out
}

/// What a folder of images holds: the entries to inspect and those left out, with why.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageListing {
    /// Entries named `*.png`, `*.jpg` or `*.jpeg` that are not folders, sorted by name. One
    /// that cannot be read (a FIFO, a broken link) stays here, so that it is reported as an
    /// image that could not be inspected.
    pub images: Vec<PathBuf>,
    /// Every other entry and why it is not inspected, sorted by name.
    pub skipped: Vec<(PathBuf, &'static str)>,
}

/// The entries of `dir`, split into images and the rest (folders are not searched).
pub fn list_images(dir: &Path) -> Result<ImageListing, ImageError> {
    let fail = |e: std::io::Error| ImageError::Read {
        path: dir.to_path_buf(),
        message: e.to_string(),
    };
    let mut listing = ImageListing::default();
    for entry in std::fs::read_dir(dir).map_err(fail)? {
        let path = entry.map_err(fail)?.path();
        let image_name = path.extension().is_some_and(|e| {
            let e = e.to_ascii_lowercase();
            e == "png" || e == "jpg" || e == "jpeg"
        });
        if path.is_dir() {
            listing
                .skipped
                .push((path, "a folder (folders are not searched)"));
        } else if image_name {
            listing.images.push(path);
        } else {
            listing
                .skipped
                .push((path, "not named as a PNG or JPEG image"));
        }
    }
    listing.images.sort();
    listing.skipped.sort();
    Ok(listing)
}

/// The images of `dir` ([`list_images`] without what it skips).
pub fn images_in(dir: &Path) -> Result<Vec<PathBuf>, ImageError> {
    list_images(dir).map(|listing| listing.images)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(image: &image::DynamicImage) -> Vec<u8> {
        let mut bytes = Vec::new();
        image
            .write_to(
                &mut std::io::Cursor::new(&mut bytes),
                image::ImageFormat::Png,
            )
            .unwrap();
        bytes
    }

    fn error_of(dir: &Path, name: &str, bytes: &[u8]) -> String {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        let err = read_image(&path, 8, 1).unwrap_err().to_string();
        assert!(err.contains(name), "the error must name the file: {err}");
        err
    }

    #[test]
    fn bad_files_are_refused_with_the_file_named() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        assert!(error_of(d, "empty.png", b"").contains("empty"));
        assert!(error_of(d, "text.png", b"this is not an image at all").contains("not a PNG"));
        let good = png(&image::DynamicImage::new_luma8(8, 8));
        error_of(d, "truncated.png", &good[..good.len() / 2]);
        // A valid header claiming 100 000 × 100 000 pixels: refused before any allocation.
        let bomb = with_png_size(&good[..33], 100_000, 100_000);
        let err = error_of(d, "bomb.png", &bomb);
        assert!(err.to_lowercase().contains("limit"), "{err}");
        let big = png(&image::DynamicImage::new_luma8(9, 8));
        let err = error_of(d, "wrong-size.png", &big);
        assert!(err.contains("9x8") && err.contains("8x8"), "{err}");
        let missing = d.join("missing.png");
        assert!(
            read_image(&missing, 8, 1)
                .unwrap_err()
                .to_string()
                .contains("missing.png")
        );
    }

    #[test]
    fn transparent_pixels_are_refused_and_opaque_alpha_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clear.png");
        std::fs::write(&path, png(&image::DynamicImage::new_rgba8(8, 8))).unwrap();
        let err = read_image(&path, 8, 1).unwrap_err().to_string();
        assert!(
            err.contains("clear.png") && err.contains("fully transparent"),
            "{err}"
        );
        let mut half = image::RgbaImage::from_pixel(8, 8, image::Rgba([9, 9, 9, 255]));
        half.put_pixel(3, 3, image::Rgba([9, 9, 9, 128]));
        std::fs::write(&path, png(&image::DynamicImage::ImageRgba8(half))).unwrap();
        let err = read_image(&path, 8, 3).unwrap_err().to_string();
        assert!(err.contains("1 of 64 pixels"), "{err}");
        let grey_alpha = image::GrayAlphaImage::from_pixel(8, 8, image::LumaA([200, 255]));
        std::fs::write(&path, png(&image::DynamicImage::ImageLumaA8(grey_alpha))).unwrap();
        assert_eq!(read_image(&path, 8, 1).unwrap()[0], 200.0 / 255.0);
    }

    #[test]
    fn a_listing_keeps_unreadable_images_and_names_what_it_skips() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("x.png")).unwrap();
        std::fs::write(dir.path().join("notes.txt"), "hello").unwrap();
        std::fs::write(dir.path().join("b.PNG"), "not really").unwrap();
        let listing = list_images(dir.path()).unwrap();
        assert_eq!(listing.images, vec![dir.path().join("b.PNG")]);
        let skipped: Vec<_> = listing.skipped.iter().map(|(p, _)| p.clone()).collect();
        assert_eq!(
            skipped,
            vec![dir.path().join("notes.txt"), dir.path().join("x.png")]
        );
    }

    #[test]
    fn sixteen_bit_rgba_and_jpeg_images_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let mut wide = image::ImageBuffer::<image::Luma<u16>, _>::new(8, 8);
        wide.put_pixel(1, 0, image::Luma([65535]));
        let path = dir.path().join("wide.png");
        std::fs::write(&path, png(&image::DynamicImage::ImageLuma16(wide))).unwrap();
        let values = read_image(&path, 8, 1).unwrap();
        assert_eq!(values.len(), 64);
        assert_eq!((values[0], values[1]), (0.0, 1.0));

        let mut rgba = image::RgbaImage::from_pixel(8, 8, image::Rgba([0, 0, 0, 255]));
        rgba.put_pixel(0, 0, image::Rgba([255, 0, 0, 255]));
        let path = dir.path().join("rgba.png");
        std::fs::write(&path, png(&image::DynamicImage::ImageRgba8(rgba))).unwrap();
        let rgb = read_image(&path, 8, 3).unwrap();
        assert_eq!((rgb[0], rgb[64], rgb[128]), (1.0, 0.0, 0.0));

        let path = dir.path().join("grey.jpg");
        image::DynamicImage::new_luma8(8, 8).save(&path).unwrap();
        assert_eq!(read_image(&path, 8, 1).unwrap().len(), 64);
    }
}
