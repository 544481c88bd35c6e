//! Mapping a photo of another size or colour to the model's input, by a rule the user names
//! and every report records ([`MapInput`]). Without a rule ([`MapInput::Fail`]) an image of
//! another size is an error naming the file and both sizes, as before: a photo is never
//! rescaled silently, since scaling changes how large a defect looks.
//!
//! Colour becomes grey by luminance (Rec. 709: 0.2126 R + 0.7152 G + 0.0722 B) when the model
//! is grey. Then the whole image is scaled (`resize`), or the product's bounding box found on
//! a dark background is cropped, padded to a square with a margin and scaled (`bbox`), or a
//! fixed region of interest is cropped and scaled (`roi=X,Y,W,H`). Masks follow the crop of
//! their image, so pixel metrics compare like with like.

use std::path::Path;

use image::{DynamicImage, ImageBuffer, Luma, imageops};

use super::decode::{ImageError, check_opaque, image_values};

/// Margin around the product's bounding box, as a fraction of its longer side, each side.
pub const BBOX_MARGIN: f32 = 0.1;
/// Smallest side, in pixels, of an image that a rule maps.
pub const MIN_SIDE: u32 = 4;
/// Rec. 709 luminance weights of red, green and blue.
pub const LUMA: [f32; 3] = [0.2126, 0.7152, 0.0722];

/// How an image of another size or colour is brought to the model's input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MapInput {
    /// Refuse an image that is not the model's size (colour still becomes grey or RGB as the
    /// model needs, as it always has).
    #[default]
    Fail,
    /// Scale the whole image to the model's size.
    Resize,
    /// Crop the product's bounding box on a dark background (Otsu's threshold, the largest
    /// bright component), padded to a square with [`BBOX_MARGIN`], then scale.
    Bbox,
    /// Crop this region (pixels, from the top left corner), then scale.
    Roi {
        x: u32,
        y: u32,
        width: u32,
        height: u32,
    },
}

impl std::str::FromStr for MapInput {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        match s.to_ascii_lowercase().as_str() {
            "fail" => return Ok(Self::Fail),
            "resize" => return Ok(Self::Resize),
            "bbox" => return Ok(Self::Bbox),
            _ => {}
        }
        let Some(rest) = s.strip_prefix("roi=") else {
            return Err(format!(
                "`{s}` is not a mapping rule: fail, resize, bbox or roi=X,Y,W,H"
            ));
        };
        let numbers: Vec<u32> = rest
            .split(',')
            .map(|v| v.trim().parse::<u32>())
            .collect::<Result<_, _>>()
            .map_err(|_| format!("`{s}`: a region is roi=X,Y,W,H in whole pixels"))?;
        match numbers[..] {
            [x, y, width, height] if width >= MIN_SIDE && height >= MIN_SIDE => Ok(Self::Roi {
                x,
                y,
                width,
                height,
            }),
            [_, _, _, _] => Err(format!(
                "`{s}`: a region must be at least {MIN_SIDE} pixels wide and high"
            )),
            _ => Err(format!("`{s}`: a region is roi=X,Y,W,H (four numbers)")),
        }
    }
}

impl std::fmt::Display for MapInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Fail => f.write_str("fail"),
            Self::Resize => f.write_str("resize"),
            Self::Bbox => f.write_str("bbox"),
            Self::Roi {
                x,
                y,
                width,
                height,
            } => write!(f, "roi={x},{y},{width},{height}"),
        }
    }
}

impl MapInput {
    /// The rule in words, for reports.
    pub fn describe(&self) -> String {
        match self {
            Self::Fail => "none: images must have the model's size".to_string(),
            Self::Resize => "resize: the whole image scaled to the model's size".to_string(),
            Self::Bbox => format!(
                "bbox: the product's bounding box on the dark background (Otsu), padded to a \
                 square with a {:.0} % margin, scaled to the model's size",
                100.0 * BBOX_MARGIN
            ),
            Self::Roi { .. } => format!("{self}: this region cropped, scaled to the model's size"),
        }
    }
}

/// The square (or, for `resize` and `roi`, rectangular) region of the source image a rule
/// takes; it may reach past the image's edges, where the background level fills it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Crop {
    pub x: i64,
    pub y: i64,
    pub width: u32,
    pub height: u32,
    /// What fills the region past the image's edges, per channel of the source planes.
    fill: [f32; 3],
}

/// One image's values for the model under `rule`, and the crop it took (`None` when the image
/// already had the model's size and nothing was cropped or scaled).
pub fn map_image(
    image: &DynamicImage,
    path: &Path,
    size: usize,
    channels: usize,
    rule: MapInput,
) -> Result<(Vec<f32>, Option<Crop>), ImageError> {
    let (w, h) = (image.width(), image.height());
    let fits = w as usize == size && h as usize == size;
    if fits || rule == MapInput::Fail {
        return image_values(image, path, size, channels).map(|v| (v, None));
    }
    let invalid = |message: String| ImageError::Invalid {
        path: path.to_path_buf(),
        message,
    };
    if w < MIN_SIDE || h < MIN_SIDE {
        return Err(invalid(format!(
            "the image is {w}x{h}; mapping it to the model's {size}x{size} needs at least \
             {MIN_SIDE} pixels a side"
        )));
    }
    check_opaque(image, path)?;
    let planes = planes_of(image, channels);
    let grey = if channels == 1 {
        planes[0].clone()
    } else {
        luminance(image)
    };
    let crop = match rule {
        MapInput::Fail => unreachable!("handled above"),
        MapInput::Resize => Crop {
            x: 0,
            y: 0,
            width: w,
            height: h,
            fill: [0.0; 3],
        },
        MapInput::Roi {
            x,
            y,
            width,
            height,
        } => {
            if u64::from(x) + u64::from(width) > u64::from(w)
                || u64::from(y) + u64::from(height) > u64::from(h)
            {
                return Err(invalid(format!(
                    "the region {rule} does not fit in the image, which is {w}x{h}"
                )));
            }
            Crop {
                x: i64::from(x),
                y: i64::from(y),
                width,
                height,
                fill: [0.0; 3],
            }
        }
        MapInput::Bbox => bbox_crop(&grey, &planes, w, h).map_err(invalid)?,
    };
    let values = planes
        .iter()
        .enumerate()
        .flat_map(|(c, plane)| scale(&cut(plane, w, h, &crop, crop.fill[c]), &crop, size))
        .collect();
    Ok((values, Some(crop)))
}

/// A defect mask (0/1 per pixel) cut and scaled as its image was (`crop`), or checked to have
/// the model's size when its image was not mapped.
pub fn map_mask(
    mask: &DynamicImage,
    path: &Path,
    size: usize,
    crop: Option<&Crop>,
    image_size: (u32, u32),
) -> Result<Vec<u8>, ImageError> {
    let Some(crop) = crop else {
        return super::decode::mask_values(mask, path, size);
    };
    let (w, h) = (mask.width(), mask.height());
    if (w, h) != image_size {
        return Err(ImageError::Invalid {
            path: path.to_path_buf(),
            message: format!(
                "mask is {w}x{h}, its image is {}x{}",
                image_size.0, image_size.1
            ),
        });
    }
    let plane: Vec<f32> = mask
        .to_luma8()
        .as_raw()
        .iter()
        .map(|&v| f32::from(u8::from(v > 127)))
        .collect();
    let scaled = scale(&cut(&plane, w, h, crop, 0.0), crop, size);
    Ok(scaled.iter().map(|&v| u8::from(v >= 0.5)).collect())
}

/// The image's channel planes in `[0, 1]`, as many as the model takes.
fn planes_of(image: &DynamicImage, channels: usize) -> Vec<Vec<f32>> {
    if channels == 1 {
        return vec![luminance(image)];
    }
    let rgb = image.to_rgb32f();
    (0..3)
        .map(|c| rgb.as_raw().iter().skip(c).step_by(3).copied().collect())
        .collect()
}

/// Rec. 709 luminance of every pixel, in `[0, 1]`.
pub fn luminance(image: &DynamicImage) -> Vec<f32> {
    if !image.color().has_color() {
        return image.to_luma32f().into_raw();
    }
    image
        .to_rgb32f()
        .pixels()
        .map(|p| LUMA[0] * p.0[0] + LUMA[1] * p.0[1] + LUMA[2] * p.0[2])
        .collect()
}

/// Otsu's threshold of values in `[0, 1]` (256 bins): the level that best splits them into
/// two classes; `None` when every value is the same.
pub fn otsu_threshold(values: &[f32]) -> Option<f32> {
    let mut histogram = [0u64; 256];
    for v in values {
        histogram[(v.clamp(0.0, 1.0) * 255.0).round() as usize] += 1;
    }
    let total = values.len() as f64;
    let sum: f64 = histogram
        .iter()
        .enumerate()
        .map(|(i, &n)| i as f64 * n as f64)
        .sum();
    let (mut below, mut below_sum) = (0.0, 0.0);
    let mut best: Option<(f64, usize)> = None;
    for (i, &n) in histogram.iter().enumerate().take(255) {
        below += n as f64;
        below_sum += i as f64 * n as f64;
        let above = total - below;
        if below == 0.0 || above == 0.0 {
            continue;
        }
        let mean_below = below_sum / below;
        let mean_above = (sum - below_sum) / above;
        let between = below * above * (mean_below - mean_above).powi(2);
        if between > 0.0 && best.is_none_or(|(b, _)| between > b) {
            best = Some((between, i));
        }
    }
    // Values in bins up to the best one are background.
    best.map(|(_, i)| (i as f32 + 0.5) / 255.0)
}

/// The product's bounding box on a dark background, padded to a square with a margin.
fn bbox_crop(grey: &[f32], planes: &[Vec<f32>], w: u32, h: u32) -> Result<Crop, String> {
    let threshold = otsu_threshold(grey).ok_or_else(|| {
        "every pixel has the same level, so no product stands out from the background \
         (use --map-input resize or roi=X,Y,W,H)"
            .to_string()
    })?;
    let bright: Vec<bool> = grey.iter().map(|&v| v > threshold).collect();
    let [x0, y0, x1, y1] = largest_component(&bright, w as usize, h as usize).ok_or_else(|| {
        "no pixel stands above the background level (use --map-input resize or roi=X,Y,W,H)"
            .to_string()
    })?;
    let longer = (x1 - x0 + 1).max(y1 - y0 + 1) as i64;
    let side = (longer + 2 * (longer as f32 * BBOX_MARGIN).round() as i64).max(i64::from(MIN_SIDE));
    // Centre the square on the box (twice the centre, to stay in whole pixels).
    let x = (x0 + x1 + 1) as i64 - side;
    let y = (y0 + y1 + 1) as i64 - side;
    let mut fill = [0.0; 3];
    for (c, plane) in planes.iter().enumerate() {
        let background: Vec<f32> = plane
            .iter()
            .zip(&bright)
            .filter(|(_, b)| !**b)
            .map(|(v, _)| *v)
            .collect();
        fill[c] = background.iter().sum::<f32>() / background.len().max(1) as f32;
    }
    Ok(Crop {
        x: x.div_euclid(2),
        y: y.div_euclid(2),
        width: side as u32,
        height: side as u32,
        fill,
    })
}

/// The bounding box `[x0, y0, x1, y1]` (inclusive) of the largest 4-connected set of `true`
/// pixels: specks of noise above the threshold do not widen it.
fn largest_component(bright: &[bool], w: usize, h: usize) -> Option<[usize; 4]> {
    let mut seen = vec![false; bright.len()];
    let mut best: Option<(usize, [usize; 4])> = None;
    let mut stack = Vec::new();
    for start in 0..bright.len() {
        if !bright[start] || seen[start] {
            continue;
        }
        seen[start] = true;
        stack.push(start);
        let (mut count, mut bbox) = (0, [usize::MAX, usize::MAX, 0, 0]);
        while let Some(i) = stack.pop() {
            let (x, y) = (i % w, i / w);
            count += 1;
            bbox = [
                bbox[0].min(x),
                bbox[1].min(y),
                bbox[2].max(x),
                bbox[3].max(y),
            ];
            let mut visit = |j: usize| {
                if bright[j] && !seen[j] {
                    seen[j] = true;
                    stack.push(j);
                }
            };
            if x > 0 {
                visit(i - 1);
            }
            if x + 1 < w {
                visit(i + 1);
            }
            if y > 0 {
                visit(i - w);
            }
            if y + 1 < h {
                visit(i + w);
            }
        }
        if best.is_none_or(|(n, _)| count > n) {
            best = Some((count, bbox));
        }
    }
    best.map(|(_, bbox)| bbox)
}

/// The crop's pixels of a `w × h` plane, `fill` past the plane's edges.
fn cut(plane: &[f32], w: u32, h: u32, crop: &Crop, fill: f32) -> Vec<f32> {
    let mut out = Vec::with_capacity(crop.width as usize * crop.height as usize);
    for row in 0..i64::from(crop.height) {
        for col in 0..i64::from(crop.width) {
            let (x, y) = (crop.x + col, crop.y + row);
            let inside = (0..i64::from(w)).contains(&x) && (0..i64::from(h)).contains(&y);
            out.push(if inside {
                plane[(y * i64::from(w) + x) as usize]
            } else {
                fill
            });
        }
    }
    out
}

/// A cut plane scaled to `size × size` (a triangle filter, widened when shrinking so every
/// source pixel counts).
fn scale(plane: &[f32], crop: &Crop, size: usize) -> Vec<f32> {
    let buffer: ImageBuffer<Luma<f32>, Vec<f32>> =
        ImageBuffer::from_raw(crop.width, crop.height, plane.to_vec())
            .expect("a cut plane has the crop's size");
    let side = size as u32;
    imageops::resize(&buffer, side, side, imageops::FilterType::Triangle)
        .into_raw()
        .into_iter()
        .map(|v| v.clamp(0.0, 1.0))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `w × h` grey image: a bright disc of `radius` at (`cx`, `cy`) on a dark background.
    fn disc(w: u32, h: u32, cx: f32, cy: f32, radius: f32) -> DynamicImage {
        DynamicImage::ImageLuma8(ImageBuffer::from_fn(w, h, |x, y| {
            let d = ((x as f32 + 0.5 - cx).powi(2) + (y as f32 + 0.5 - cy).powi(2)).sqrt();
            Luma([if d <= radius { 220 } else { 12 }])
        }))
    }

    /// The centre of mass of the values above half the maximum.
    fn centroid(values: &[f32], size: usize) -> (f32, f32) {
        let (mut sx, mut sy, mut n) = (0.0, 0.0, 0.0);
        for (i, &v) in values.iter().enumerate() {
            if v > 0.5 {
                sx += (i % size) as f32 + 0.5;
                sy += (i / size) as f32 + 0.5;
                n += 1.0;
            }
        }
        (sx / n, sy / n)
    }

    #[test]
    fn rules_parse_and_print_back() {
        for text in ["fail", "resize", "bbox", "roi=3,4,50,60"] {
            assert_eq!(text.parse::<MapInput>().unwrap().to_string(), text);
        }
        assert_eq!(
            "roi=1,2,30,40".parse::<MapInput>(),
            Ok(MapInput::Roi {
                x: 1,
                y: 2,
                width: 30,
                height: 40
            })
        );
        for bad in [
            "",
            "crop",
            "roi=1,2,3",
            "roi=1,2,0,40",
            "roi=a,b,c,d",
            "roi=-1,0,9,9",
        ] {
            assert!(bad.parse::<MapInput>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_bounding_box_centres_an_off_centre_product() {
        let image = disc(200, 120, 150.0, 40.0, 20.0);
        let path = Path::new("disc.png");
        let (values, crop) = map_image(&image, path, 32, 1, MapInput::Bbox).unwrap();
        assert_eq!(values.len(), 32 * 32);
        let crop = crop.unwrap();
        // The disc is 40 pixels across: the square is 40 · 1.2 = 48 wide around it.
        assert_eq!((crop.width, crop.height), (48, 48));
        assert_eq!((crop.x, crop.y), (126, 16));
        let (cx, cy) = centroid(&values, 32);
        assert!(
            (cx - 16.0).abs() < 0.5 && (cy - 16.0).abs() < 0.5,
            "{cx} {cy}"
        );
        // The disc fills the square but the margin: its diameter is 32 / 1.2 pixels.
        let area = values.iter().filter(|&&v| v > 0.5).count() as f32;
        let expected = std::f32::consts::PI * (16.0 / 1.2f32).powi(2);
        assert!((area / expected - 1.0).abs() < 0.1, "{area} vs {expected}");
        // The background stays dark.
        assert!(values[0] < 0.1);
    }

    #[test]
    fn a_box_past_the_edge_is_filled_with_the_background() {
        let image = disc(64, 64, 10.0, 32.0, 9.0);
        let (values, crop) =
            map_image(&image, Path::new("edge.png"), 16, 1, MapInput::Bbox).unwrap();
        assert!(crop.unwrap().x < 0);
        assert!((values[0] - 12.0 / 255.0).abs() < 1e-3, "{}", values[0]);
    }

    #[test]
    fn a_region_of_interest_is_cropped_then_scaled() {
        let image = disc(100, 100, 70.0, 30.0, 10.0);
        let rule = "roi=50,10,40,40".parse().unwrap();
        let (values, _) = map_image(&image, Path::new("roi.png"), 20, 1, rule).unwrap();
        let (cx, cy) = centroid(&values, 20);
        assert!(
            (cx - 10.0).abs() < 0.5 && (cy - 10.0).abs() < 0.5,
            "{cx} {cy}"
        );
        let outside = "roi=80,10,40,40".parse().unwrap();
        let err = map_image(&image, Path::new("roi.png"), 20, 1, outside)
            .unwrap_err()
            .to_string();
        assert!(err.contains("roi.png") && err.contains("100x100"), "{err}");
    }

    #[test]
    fn colour_becomes_grey_by_luminance() {
        let rgb = image::RgbImage::from_pixel(8, 8, image::Rgb([255, 0, 0]));
        let image = DynamicImage::ImageRgb8(rgb);
        let (values, _) = map_image(&image, Path::new("red.png"), 4, 1, MapInput::Resize).unwrap();
        assert_eq!(values.len(), 16);
        assert!(
            values.iter().all(|v| (v - LUMA[0]).abs() < 1e-3),
            "{values:?}"
        );
        let (rgb, _) = map_image(&image, Path::new("red.png"), 4, 3, MapInput::Resize).unwrap();
        assert!((rgb[0] - 1.0).abs() < 1e-4 && rgb[16].abs() < 1e-4 && rgb[32].abs() < 1e-4);
    }

    #[test]
    fn tiny_flat_and_empty_images_get_clear_errors() {
        let path = Path::new("tiny.png");
        for rule in [MapInput::Resize, MapInput::Bbox] {
            let one = DynamicImage::new_luma8(1, 1);
            let err = map_image(&one, path, 8, 1, rule).unwrap_err().to_string();
            assert!(err.contains("tiny.png") && err.contains("1x1"), "{err}");
            let empty = DynamicImage::new_luma8(0, 0);
            let err = map_image(&empty, path, 8, 1, rule).unwrap_err().to_string();
            assert!(err.contains("tiny.png") && err.contains("0x0"), "{err}");
        }
        let flat = DynamicImage::new_luma8(20, 20);
        let err = map_image(&flat, Path::new("flat.png"), 8, 1, MapInput::Bbox)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("flat.png") && err.contains("same level"),
            "{err}"
        );
        // Without a rule, another size is refused naming both sizes.
        let err = map_image(&flat, Path::new("flat.png"), 8, 1, MapInput::Fail)
            .unwrap_err()
            .to_string();
        assert!(err.contains("20x20") && err.contains("8x8"), "{err}");
    }

    #[test]
    fn a_mask_follows_its_image_crop() {
        let image = disc(100, 60, 70.0, 30.0, 15.0);
        let (_, crop) = map_image(&image, Path::new("a.png"), 16, 1, MapInput::Bbox).unwrap();
        let mask = disc(100, 60, 70.0, 30.0, 15.0);
        let values = map_mask(&mask, Path::new("a_mask.png"), 16, crop.as_ref(), (100, 60));
        let values = values.unwrap();
        let (cx, cy) = centroid(
            &values.iter().map(|&v| f32::from(v)).collect::<Vec<_>>(),
            16,
        );
        assert!(
            (cx - 8.0).abs() < 0.6 && (cy - 8.0).abs() < 0.6,
            "{cx} {cy}"
        );
        let err = map_mask(&mask, Path::new("a_mask.png"), 16, crop.as_ref(), (90, 60))
            .unwrap_err()
            .to_string();
        assert!(err.contains("a_mask.png") && err.contains("90x60"), "{err}");
    }
}
