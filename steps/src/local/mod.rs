//! The `local` vision provider: classical, offline image processing that turns a product
//! photo into facts, colours, line art and close-up crops without a network or an API key.
//!
//! Everything here is deterministic: the same bytes give the same output on every run, so
//! tech packs built from it can be cached, diffed and tested. Work that would be slow on a
//! full-resolution photo runs on a downsampled copy and is mapped back to the original pixels.
//!
//! # Layout
//! - `decode`: checks and decodes untrusted PNG/JPEG bytes within [`DecodeLimits`], and
//!   tells from the header alone what decoding will cost ([`decode_cost`]).
//! - `metadata`: drops text chunks, comments and padding that do not render
//!   ([`strip_metadata`]).
//! - `encode`: writes an image back out as PNG bytes.
//! - `downsample`: shrinks photos to the working size each analysis needs.
//! - `pixel_box`: [`PixelBox`], the rectangle type every other module reports in.
//! - `lab`: sRGB to CIE Lab conversion, so colour distances match what people see.
//! - `backdrop`: the plain studio backdrop, read from the border.
//! - `colour_model`: a small Gaussian mixture over Lab colours.
//! - `scene`: finds the product without a plain backdrop (iterated colour models).
//! - `foreground`: which pixels are product, by the backdrop or the scene model, at a
//!   working size and scaled back to the photo.
//! - `measure`: [`ImageFacts`] (size, product box, coverage) and conversion to millimetres.
//! - `color_names`: the table of garment and textile colour names and nearest-name lookup.
//! - `colors`: dominant colours of the product by deterministic k-means.
//! - `colour_zones`: where each colour lies, as the point deepest inside its thickest patch.
//! - `edges`: Gaussian blur, Sobel gradients and Canny edge detection on a grey plane.
//! - `silhouette`: the product's outline row by row, for points of measure.
//! - `sketch`: technical-flat line art (black lines on white) from a photo.
//! - `crops`: picks the most detailed windows of the product for close-up views.
//! - `locator`: sets beside a close-up a thumbnail of its photo with the cut outlined.
//! - `resample`: resizing (close-up enlargements, working copies) with `fast_image_resize`.
//! - `recent_photos`: the last few photos decoded, with their segmentation and locator
//!   thumbnail, so the requests one run makes of a photo decode it once.
//! - `analysis`: [`analyze_image`], facts and colours of one view from its bytes.
//! - `sample`: draws a small product photo in code, for the README and for tests.

mod analysis;
mod backdrop;
mod color_names;
mod colors;
mod colour_model;
mod colour_zones;
mod crops;
mod decode;
mod downsample;
mod edges;
mod encode;
mod foreground;
mod lab;
mod locator;
mod measure;
mod metadata;
mod pixel_box;
mod recent_photos;
mod resample;
mod sample;
mod scene;
mod silhouette;
mod sketch;

pub use analysis::{
    ImageAnalysis, ProductReading, analyze_image, analyze_rgb, read_photo, read_product,
};
pub use color_names::nearest_color_name;
pub use colors::{ColorOptions, DominantColor, dominant_colors, dominant_colors_of_every_pixel};
pub use crops::{
    CropOptions, DetailCrop, Fingerprint, MIN_CLOSE_UP_SIDE_PX, cut_detail, detail_crops,
};
pub use decode::{DecodeLimits, decode, decode_cost};
pub use encode::encode_png;
pub use locator::{LOCATOR_SIDE, locator_thumbnail, with_locator, without_locator};
pub use measure::{ImageFacts, PhysicalSize, SegmentationKind, image_facts};
pub use metadata::{MAX_METADATA_BYTES, strip_metadata};
pub use pixel_box::PixelBox;
pub use recent_photos::{DecodedPhoto, RecentPhotos};
pub use sample::draw_sample_product;
pub use silhouette::{Silhouette, Span, facts_and_silhouette};
pub use sketch::{SketchOptions, line_art, line_art_of, traced_region};

/// Everything that can go wrong in the local provider. Each variant carries the offending
/// values so a message shown to a user says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// The bytes are not a PNG or JPEG; `found` says what they look like instead.
    #[error("not a PNG or JPEG image: the data looks like {found}")]
    NotAnImage { found: String },

    /// A side of the image is larger than the limit allows.
    #[error("the image is {width}x{height} px; at most {max} px per side is allowed")]
    TooLarge { width: u32, height: u32, max: u32 },

    /// The decoded pixels would need more memory than the limit allows.
    #[error(
        "decoding the {width}x{height} px image needs {needed} bytes of memory; \
         at most {max} bytes are allowed"
    )]
    TooMuchMemory {
        width: u32,
        height: u32,
        needed: u64,
        max: u64,
    },

    /// The encoded file is larger than the limit allows.
    #[error("the image file is {len} bytes; at most {max} bytes are allowed")]
    TooManyBytes { len: usize, max: usize },

    /// The file carries more metadata that renders (colour profiles, EXIF) than allowed.
    #[error("the image carries {len} bytes of metadata; at most {max} bytes are allowed")]
    TooMuchMetadata { len: usize, max: usize },

    /// The file is far larger than its picture can explain: data hidden after the image.
    #[error(
        "the image file is {len} bytes for a {width}x{height} px picture; at most {max} bytes \
         are allowed for that size (remove data that is not part of the picture)"
    )]
    LargerThanItsPixels {
        len: usize,
        width: u32,
        height: u32,
        max: u64,
    },

    /// The file claims to be a PNG or JPEG but its data is broken or unsupported.
    #[error("could not decode the image: {0}")]
    Decode(String),

    /// Writing an image back out failed.
    #[error("could not encode the image: {0}")]
    Encode(String),

    /// A scale reference that cannot turn pixels into millimetres.
    #[error(
        "cannot scale by a reference of {reference_size_mm} mm over {reference_px} px; \
         both must be positive and finite"
    )]
    InvalidReference {
        reference_px: f64,
        reference_size_mm: f64,
    },

    /// A crop rectangle that does not lie inside the image it should be cut from.
    #[error("the crop {crop} does not lie inside the {width}x{height} px image")]
    CropOutsideImage {
        crop: PixelBox,
        width: u32,
        height: u32,
    },
}
