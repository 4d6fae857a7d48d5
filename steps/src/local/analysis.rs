//! One call per view for the engine: decode the upload, measure the product and find its
//! colours, returning everything a tech pack's view page needs from the local provider.

use image::RgbImage;
use serde::{Deserialize, Serialize};

use super::LocalError;
use super::colors::{ColorOptions, DominantColor, dominant_colors_of_product};
use super::decode::{DecodeLimits, decode};
use super::foreground::Foreground;
use super::measure::{ImageFacts, facts_from_foreground};
use super::recent_photos::DecodedPhoto;
use super::silhouette::{Silhouette, segment_for_measuring};

/// Facts and colours of one product photo.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageAnalysis {
    pub facts: ImageFacts,
    /// Most common first; see [`dominant_colors`].
    pub colors: Vec<DominantColor>,
}

/// Decodes `bytes` within `limits` and analyses the photo with default colour options.
///
/// # Errors
/// Whatever [`decode`] reports for bytes that are not a usable PNG or JPEG.
pub fn analyze_image(bytes: &[u8], limits: &DecodeLimits) -> Result<ImageAnalysis, LocalError> {
    let image = decode(bytes, limits)?;
    Ok(analyze_rgb(&image))
}

/// Analyses an already decoded photo.
pub fn analyze_rgb(image: &RgbImage) -> ImageAnalysis {
    let reading = read_product(image, &ColorOptions::default());
    ImageAnalysis {
        facts: reading.facts,
        colors: reading.colors,
    }
}

/// Everything one segmentation of a product photo tells: its facts, its outline (when a
/// product was found) and the colours of its product pixels.
#[derive(Debug, Clone)]
pub struct ProductReading {
    pub facts: ImageFacts,
    pub silhouette: Option<Silhouette>,
    /// Most common first; see [`super::dominant_colors`].
    pub colors: Vec<DominantColor>,
}

/// Segments `image` once and reads facts, outline and colours from that segmentation.
pub fn read_product(image: &RgbImage, options: &ColorOptions) -> ProductReading {
    read_segmented(image, &segment_for_measuring(image), options)
}

/// [`read_product`] of a decoded photo, whose segmentation is kept for its flat.
pub fn read_photo(photo: &DecodedPhoto, options: &ColorOptions) -> ProductReading {
    read_segmented(photo.pixels(), photo.segmentation(), options)
}

fn read_segmented(
    image: &RgbImage,
    foreground: &Foreground,
    options: &ColorOptions,
) -> ProductReading {
    ProductReading {
        facts: facts_from_foreground(image.dimensions(), foreground),
        silhouette: Silhouette::from_foreground(image.dimensions(), foreground),
        colors: dominant_colors_of_product(image, foreground, options),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::local::{
        CropOptions, SketchOptions, detail_crops, draw_sample_product, encode_png, line_art,
    };

    #[test]
    fn analysing_the_sample_png_finds_the_bag_and_its_colours() {
        let png = encode_png(&draw_sample_product(480, 400)).unwrap();
        let analysis = analyze_image(&png, &DecodeLimits::default()).unwrap();
        let facts = &analysis.facts;
        assert_eq!((facts.width, facts.height), (480, 400));
        let bag = facts.foreground_bbox.expect("the bag stands out");
        // The bag spans about 0.64 of the shorter side and sits centred.
        assert!((240 - 130..240 - 120).contains(&bag.x), "{bag}");
        assert!((250..262).contains(&bag.w), "{bag}");
        assert_eq!(facts.background_hex.as_deref(), Some("#ECEAE5"));
        let names: Vec<&str> = analysis.colors.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names.first(), Some(&"navy"), "{names:?}");
        assert!(names.contains(&"mustard"), "{names:?}");
        assert_eq!(
            analysis,
            analyze_image(&png, &DecodeLimits::default()).unwrap()
        );
    }

    #[test]
    fn the_analysis_serialises_to_json_for_the_tech_pack() {
        let analysis = analyze_rgb(&draw_sample_product(200, 200));
        let json = serde_json::to_value(&analysis).unwrap();
        assert!(json["facts"]["foreground_bbox"]["w"].as_u64().unwrap() > 100);
        assert!(json["colors"][0]["hex"].as_str().unwrap().starts_with('#'));
        let back: ImageAnalysis = serde_json::from_value(json).unwrap();
        assert_eq!(back, analysis);
    }

    #[test]
    fn a_non_image_upload_is_refused() {
        let error =
            analyze_image(b"{\"not\": \"an image\"}", &DecodeLimits::default()).unwrap_err();
        assert!(matches!(error, LocalError::NotAnImage { .. }), "{error:?}");
    }

    /// Timing guard for release builds:
    /// `cargo test -p techpack-steps --release -- --ignored full_pipeline`.
    #[test]
    #[ignore = "timing is only meaningful in release mode"]
    fn full_pipeline_on_a_megapixel_photo_is_fast() {
        let png = encode_png(&draw_sample_product(1024, 1024)).unwrap();
        let start = Instant::now();
        let image = decode(&png, &DecodeLimits::default()).unwrap();
        let decoded = start.elapsed();
        let analysis = analyze_rgb(&image);
        let analysed = start.elapsed();
        let sketch = line_art(&image, &SketchOptions::default());
        let sketched = start.elapsed();
        let crops = detail_crops(&image, &CropOptions::default());
        let total = start.elapsed();
        eprintln!(
            "decode {decoded:?}, analyse {:?}, line art {:?}, crops {:?}, total {total:?}",
            analysed - decoded,
            sketched - analysed,
            total - sketched
        );
        assert!(!analysis.colors.is_empty() && sketch.width() > 0 && !crops.is_empty());
        assert!(total.as_millis() < 1000, "took {total:?}");
    }
}
