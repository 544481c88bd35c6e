//! The one colouring of anomaly maps: a dark-to-bright palette blended over the image, used by
//! the workbench's heatmap and by the overlays `unseen inspect --out` writes, so both show the
//! same map the same way.

/// How strongly the heat covers the image where the map is at full scale, unless a viewer sets
/// another opacity.
pub const DEFAULT_OPACITY: f32 = 0.75;

/// A perceptually ordered dark-to-bright palette (black, purple, red, orange, yellow) for
/// anomaly maps; `t` in `[0, 1]` (clamped; NaN shows as full heat).
pub fn heat_colour(t: f32) -> [f32; 3] {
    const STOPS: [[f32; 3]; 5] = [
        [0.0, 0.0, 0.02],
        [0.35, 0.05, 0.45],
        [0.8, 0.15, 0.25],
        [0.98, 0.55, 0.05],
        [1.0, 1.0, 0.6],
    ];
    let t = if t.is_finite() {
        t.clamp(0.0, 1.0)
    } else {
        1.0
    };
    let x = t * (STOPS.len() - 1) as f32;
    let i = (x.floor() as usize).min(STOPS.len() - 2);
    let f = x - i as f32;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    [
        a[0] + (b[0] - a[0]) * f,
        a[1] + (b[1] - a[1]) * f,
        a[2] + (b[2] - a[2]) * f,
    ]
}

/// The map value shown at full heat: twice the calibrated pixel threshold (where regions are
/// cut), or without a usable threshold the map's own maximum.
pub fn heat_scale(map: &[f32], pixel_threshold: f32) -> f32 {
    if pixel_threshold.is_finite() && pixel_threshold > 0.0 {
        2.0 * pixel_threshold
    } else {
        map.iter().copied().fold(1e-6, f32::max)
    }
}

/// The image (`channels · size²` values in `[0, 1]`, channel-major) with the anomaly map blended
/// over it, as interleaved 8-bit RGB: `scale` maps to full heat, `opacity` is the heat's weight
/// where the map is at full scale (it falls off as the square root of the map below that).
pub fn heat_overlay(
    image: &[f32],
    map: &[f32],
    size: usize,
    channels: usize,
    scale: f32,
    opacity: f32,
) -> Vec<u8> {
    let pixels = size * size;
    let mut rgb = Vec::with_capacity(pixels * 3);
    let scale = if scale.is_finite() && scale > 0.0 {
        scale
    } else {
        1.0
    };
    for p in 0..pixels {
        let grey = |c: usize| {
            image
                .get((if channels == 3 { c } else { 0 }) * pixels + p)
                .copied()
                .unwrap_or(0.0)
        };
        let t = map.get(p).copied().unwrap_or(0.0) / scale;
        let heat = heat_colour(t);
        let w = opacity * t.clamp(0.0, 1.0).sqrt();
        for (c, h) in heat.iter().enumerate() {
            let v = (1.0 - w) * grey(c) + w * h;
            rgb.push((v.clamp(0.0, 1.0) * 255.0).round() as u8);
        }
    }
    rgb
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn palette_runs_dark_to_bright_and_clamps() {
        let lum = |c: [f32; 3]| c[0] + c[1] + c[2];
        let mut last = -1.0;
        for i in 0..=20 {
            let l = lum(heat_colour(i as f32 / 20.0));
            assert!(l > last, "palette must brighten monotonically");
            last = l;
        }
        assert_eq!(heat_colour(-3.0), heat_colour(0.0));
        assert_eq!(heat_colour(7.0), heat_colour(1.0));
        assert_eq!(heat_colour(f32::NAN), heat_colour(1.0));
    }

    #[test]
    fn overlay_keeps_the_image_where_the_map_is_zero() {
        let image = vec![0.5; 4];
        let overlay = heat_overlay(&image, &[0.0; 4], 2, 1, 1.0, 0.8);
        assert!(overlay.chunks(3).all(|p| p[0] == 128 && p[1] == 128));
        let hot = heat_overlay(&image, &[1.0; 4], 2, 1, 1.0, 0.8);
        assert!(hot.chunks(3).all(|p| p[0] > 200));
    }

    #[test]
    fn full_heat_is_twice_the_pixel_threshold_or_the_map_maximum() {
        assert_eq!(heat_scale(&[0.1, 0.9], 0.2), 0.4);
        assert_eq!(heat_scale(&[0.1, 0.9], f32::INFINITY), 0.9);
        assert_eq!(heat_scale(&[0.0, 0.0], 0.0), 1e-6);
    }
}
