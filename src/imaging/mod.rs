//! Pixels shared by every stage: decoding image files under limits, the Gaussian blur (the
//! camera's blur in rendered datasets and the smoothing of anomaly maps), and the one colouring
//! of anomaly maps that the workbench and `unseen inspect`'s overlays both show.

pub mod blur;
pub mod decode;
pub mod heat;

pub use blur::gaussian_blur;
pub use decode::{
    ImageError, ImageListing, MAX_DECODE_BYTES, MAX_SIDE, decode_bytes, decode_image, image_values,
    images_in, list_images, mask_values, read_image, read_mask,
};
pub use heat::{DEFAULT_OPACITY, heat_colour, heat_overlay, heat_scale};
