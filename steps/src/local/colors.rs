//! The product's dominant colours: deterministic k-means in CIE Lab over the product
//! pixels of a downsampled photo, with the backdrop left out, each colour named.

use image::RgbImage;
use serde::{Deserialize, Serialize};

use super::color_names::nearest_color_name;
use super::colour_zones::deepest_points;
use super::downsample::downsample_to;
use super::foreground::Foreground;
use super::lab::Lab;

/// Longest side colours are counted on; 256 px keeps k-means fast while any colour big
/// enough to matter on a tech pack still covers many pixels.
const WORKING_MAX_SIDE: u32 = 256;
/// Lloyd iterations cap; clusters over a few thousand histogram bins settle well before.
const MAX_ITERATIONS: usize = 32;
/// Bits kept per channel when pixels are binned; 5 bits merges JPEG noise but keeps
/// colours an eye tells apart in separate bins.
const BIN_BITS: u32 = 5;
/// Largest per-channel difference to a neighbour for a pixel to count as settled colour
/// rather than a blend across a boundary.
const SETTLED_CHANNEL_GAP: u8 = 12;
/// Below this fraction of settled product pixels the product is one busy print and
/// colours are learnt from every pixel.
const MIN_SETTLED_SHARE: f64 = 0.3;

/// How many colours to look for and which to report.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ColorOptions {
    /// Most colours reported (and clusters searched for).
    pub max_colors: usize,
    /// Colours covering less of the product than this fraction are left out as noise,
    /// edge blends or highlights.
    pub min_share: f32,
    /// Clusters closer than this are one colour to a reader and are merged; the distance
    /// is CIE76 with lightness counted half, so shading does not split a colour.
    pub merge_delta_e: f32,
}

impl Default for ColorOptions {
    fn default() -> Self {
        Self {
            max_colors: 6,
            min_share: 0.02,
            merge_delta_e: 12.0,
        }
    }
}

/// One colour of the product.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DominantColor {
    /// `#RRGGBB`, upper case.
    pub hex: String,
    pub rgb: [u8; 3],
    /// Fraction of the product's pixels in this colour, 0..=1.
    pub share: f32,
    /// Nearest textile colour name, for the tech pack's colour column.
    pub name: String,
    /// A point deep inside the thickest patch of this colour, as (x, y) in the pixels of the
    /// picture the colours were read from: where a flat's callout about it points.
    pub at: [f32; 2],
}

/// The dominant colours of the product in `image`, most common first.
///
/// Only product pixels count: the backdrop or the surroundings the segmentation found are
/// left out. A photo that is all backdrop is reported as its one flat colour, and a photo
/// whose product cannot be told from its surroundings uses every pixel.
pub fn dominant_colors(image: &RgbImage, options: &ColorOptions) -> Vec<DominantColor> {
    let working = downsample_to(image, WORKING_MAX_SIDE);
    let foreground = Foreground::detect(&working);
    dominant_colors_of_mask(&working, &foreground.mask, options)
        .into_iter()
        .map(|colour| colour.scaled_to(working.dimensions(), image.dimensions()))
        .collect()
}

/// The dominant colours of every pixel of `image`, for a picture that is all product (a
/// close-up), where telling product from surroundings would only cost time.
pub fn dominant_colors_of_every_pixel(
    image: &RgbImage,
    options: &ColorOptions,
) -> Vec<DominantColor> {
    let working = downsample_to(image, WORKING_MAX_SIDE);
    dominant_colors_of_mask(&working, &vec![true; working.pixels().len()], options)
        .into_iter()
        .map(|colour| colour.scaled_to(working.dimensions(), image.dimensions()))
        .collect()
}

/// The dominant colours of the pixels `foreground` (a segmentation of `image` at any size)
/// marks as product.
pub(crate) fn dominant_colors_of_product(
    image: &RgbImage,
    foreground: &Foreground,
    options: &ColorOptions,
) -> Vec<DominantColor> {
    let working = downsample_to(image, WORKING_MAX_SIDE);
    let mask = foreground.mask_at(working.width(), working.height());
    dominant_colors_of_mask(&working, &mask, options)
        .into_iter()
        .map(|colour| colour.scaled_to(working.dimensions(), image.dimensions()))
        .collect()
}

impl DominantColor {
    /// The same colour with its point moved from a `from`-sized copy of a picture to the
    /// `to`-sized original.
    fn scaled_to(mut self, from: (u32, u32), to: (u32, u32)) -> DominantColor {
        let scale = |v: f32, from: u32, to: u32| v * to as f32 / from.max(1) as f32;
        self.at = [
            scale(self.at[0], from.0, to.0),
            scale(self.at[1], from.1, to.1),
        ];
        self
    }
}

/// Colours of the pixels `mask` marks in `image` (one flag per pixel); every pixel when the
/// mask marks none. Each colour's point is in `image`'s pixels.
pub(crate) fn dominant_colors_of_mask(
    image: &RgbImage,
    mask: &[bool],
    options: &ColorOptions,
) -> Vec<DominantColor> {
    let use_every_pixel = !mask.iter().any(|&product| product);
    let in_product = |index: usize| use_every_pixel || mask[index];
    let product_pixels = || {
        image
            .pixels()
            .enumerate()
            .filter(move |(index, _)| in_product(*index))
    };
    let all_bins = histogram(product_pixels().map(|(_, pixel)| pixel.0));
    let total: u64 = all_bins.iter().map(|bin| bin.count).sum();
    if total == 0 {
        return Vec::new();
    }

    // Colours are learnt from settled pixels only: pixels on a boundary are blends of two
    // colours (more so after downsampling) and would otherwise surface as muddy extra
    // colours. Busy prints have few settled pixels; then every pixel is used.
    let settled = settled_pixels(image);
    let settled_bins = histogram(
        product_pixels()
            .filter(|(index, _)| settled[*index])
            .map(|(_, pixel)| pixel.0),
    );
    let settled_total: u64 = settled_bins.iter().map(|bin| bin.count).sum();
    let learning_bins = if settled_total as f64 >= MIN_SETTLED_SHARE * total as f64 {
        &settled_bins
    } else {
        &all_bins
    };
    let clusters = merge_close(
        kmeans(learning_bins, options.max_colors),
        options.merge_delta_e,
    );

    // Shares count every product pixel, blends included, against its nearest colour.
    let centers: Vec<Lab> = clusters.iter().map(Cluster::lab).collect();
    let mut counts = vec![0u64; clusters.len()];
    for bin in &all_bins {
        if !centers.is_empty() {
            counts[nearest_center(&bin.lab, &centers)] += bin.count;
        }
    }

    let mut colors: Vec<DominantColor> = clusters
        .iter()
        .zip(&counts)
        .map(|(cluster, &count)| {
            let rgb = cluster.mean_rgb();
            DominantColor {
                hex: to_hex(rgb),
                rgb,
                share: count as f32 / total as f32,
                name: nearest_color_name(rgb).to_string(),
                at: [0.0, 0.0],
            }
        })
        .filter(|color| color.share >= options.min_share)
        .collect();
    colors.sort_by(|a, b| b.share.total_cmp(&a.share).then_with(|| a.rgb.cmp(&b.rgb)));
    let mut colors = one_per_name(colors);
    colors.truncate(options.max_colors.max(1));
    locate(image, &in_product, &clusters, &mut colors);
    colors
}

/// Sets each colour's point: every product pixel belongs to the colour of its nearest
/// cluster (clusters merged under one name, or left out as too small, count as theirs), and
/// the point is the one deepest inside that colour's pixels.
fn locate(
    image: &RgbImage,
    in_product: &dyn Fn(usize) -> bool,
    clusters: &[Cluster],
    colors: &mut [DominantColor],
) {
    let centers: Vec<Lab> = clusters.iter().map(Cluster::lab).collect();
    let colour_of_cluster: Vec<Option<usize>> = clusters
        .iter()
        .map(|cluster| {
            let name = nearest_color_name(cluster.mean_rgb());
            colors.iter().position(|c| c.name == name)
        })
        .collect();
    let zones: Vec<Option<usize>> = image
        .pixels()
        .enumerate()
        .map(|(index, pixel)| {
            if !in_product(index) || centers.is_empty() {
                return None;
            }
            colour_of_cluster[nearest_center(&Lab::from_rgb(pixel.0), &centers)]
        })
        .collect();
    let (width, height) = (image.width() as usize, image.height() as usize);
    let points = deepest_points(&zones, width, height, colors.len());
    for (colour, point) in colors.iter_mut().zip(points) {
        if let Some((x, y)) = point {
            colour.at = [x as f32 + 0.5, y as f32 + 0.5];
        }
    }
}

/// Two clusters that are both "navy" are one colour on a tech pack: the later (smaller) one
/// adds its share to the first, whose shade is kept.
fn one_per_name(colors: Vec<DominantColor>) -> Vec<DominantColor> {
    let mut named: Vec<DominantColor> = Vec::with_capacity(colors.len());
    for color in colors {
        match named.iter_mut().find(|c| c.name == color.name) {
            Some(first) => first.share += color.share,
            None => named.push(color),
        }
    }
    named
}

/// Marks pixels whose four neighbours all have nearly the same colour.
fn settled_pixels(image: &RgbImage) -> Vec<bool> {
    let (width, height) = image.dimensions();
    let close = |a: [u8; 3], b: [u8; 3]| (0..3).all(|c| a[c].abs_diff(b[c]) <= SETTLED_CHANNEL_GAP);
    let mut settled = Vec::with_capacity(image.pixels().len());
    for y in 0..height {
        for x in 0..width {
            let here = image.get_pixel(x, y).0;
            let neighbours = [
                (x.wrapping_sub(1), y),
                (x + 1, y),
                (x, y.wrapping_sub(1)),
                (x, y + 1),
            ];
            settled.push(neighbours.iter().all(|&(nx, ny)| {
                nx >= width || ny >= height || close(here, image.get_pixel(nx, ny).0)
            }));
        }
    }
    settled
}

/// `#RRGGBB` for an sRGB colour.
pub(crate) fn to_hex(rgb: [u8; 3]) -> String {
    format!("#{:02X}{:02X}{:02X}", rgb[0], rgb[1], rgb[2])
}

/// Pixels that fell into one quantised colour; the exact sums keep the reported colour
/// true to the photo rather than to the bin centre.
#[derive(Debug, Clone, Copy)]
struct Bin {
    count: u64,
    sum: [u64; 3],
    lab: Lab,
}

/// Bins pixels by their top [`BIN_BITS`] bits per channel, in a fixed bin order so the
/// clustering that follows sees the same input every run.
fn histogram(pixels: impl Iterator<Item = [u8; 3]>) -> Vec<Bin> {
    let shift = 8 - BIN_BITS;
    let mut counts = vec![(0u64, [0u64; 3]); 1 << (3 * BIN_BITS)];
    for [r, g, b] in pixels {
        let index = (usize::from(r >> shift) << (2 * BIN_BITS))
            | (usize::from(g >> shift) << BIN_BITS)
            | usize::from(b >> shift);
        let (count, sum) = &mut counts[index];
        *count += 1;
        sum[0] += u64::from(r);
        sum[1] += u64::from(g);
        sum[2] += u64::from(b);
    }
    counts
        .into_iter()
        .filter(|(count, _)| *count > 0)
        .map(|(count, sum)| Bin {
            count,
            sum,
            lab: Lab::from_rgb_f32(sum.map(|s| s as f32 / count as f32)),
        })
        .collect()
}

/// A group of bins that reads as one colour.
#[derive(Debug, Clone, Copy)]
struct Cluster {
    count: u64,
    sum: [u64; 3],
}

impl Cluster {
    fn mean_rgb(&self) -> [u8; 3] {
        let count = self.count.max(1);
        self.sum.map(|s| ((s + count / 2) / count).min(255) as u8)
    }

    fn lab(&self) -> Lab {
        let count = self.count.max(1) as f32;
        Lab::from_rgb_f32(self.sum.map(|s| s as f32 / count))
    }
}

/// Weighted k-means over the bins. Seeding is k-means++ made deterministic: each next
/// centre is the bin with the largest weight times squared distance to the nearest chosen
/// centre, which finds large, distinct colours first and ignores lone outliers.
fn kmeans(bins: &[Bin], max_clusters: usize) -> Vec<Cluster> {
    let k = max_clusters.clamp(1, 16).min(bins.len());
    if k == 0 {
        return Vec::new();
    }
    let mut centers = seed_centers(bins, k);
    let mut assignment = vec![usize::MAX; bins.len()];
    for _ in 0..MAX_ITERATIONS {
        let mut changed = false;
        for (bin, assigned) in bins.iter().zip(assignment.iter_mut()) {
            let nearest = nearest_center(&bin.lab, &centers);
            if *assigned != nearest {
                *assigned = nearest;
                changed = true;
            }
        }
        if !changed {
            break;
        }
        centers = centers
            .iter()
            .enumerate()
            .map(|(index, old)| weighted_mean(bins, &assignment, index).unwrap_or(*old))
            .collect();
    }

    let mut clusters = vec![
        Cluster {
            count: 0,
            sum: [0; 3],
        };
        centers.len()
    ];
    for (bin, &cluster) in bins.iter().zip(&assignment) {
        let target = &mut clusters[cluster];
        target.count += bin.count;
        for channel in 0..3 {
            target.sum[channel] += bin.sum[channel];
        }
    }
    clusters.retain(|cluster| cluster.count > 0);
    clusters
}

fn seed_centers(bins: &[Bin], k: usize) -> Vec<Lab> {
    let heaviest = bins
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.count.cmp(&b.1.count).then(b.0.cmp(&a.0)))
        .map_or(0, |(index, _)| index);
    let mut centers = vec![bins[heaviest].lab];
    while centers.len() < k {
        let next = bins
            .iter()
            .map(|bin| {
                let nearest = centers
                    .iter()
                    .map(|center| center.distance_squared(&bin.lab))
                    .fold(f32::INFINITY, f32::min);
                bin.count as f32 * nearest
            })
            .enumerate()
            // On equal scores the earlier bin wins, keeping the choice reproducible.
            .fold((0, 0.0f32), |best, (index, score)| {
                if score > best.1 { (index, score) } else { best }
            });
        if next.1 <= 0.0 {
            break;
        }
        centers.push(bins[next.0].lab);
    }
    centers
}

fn nearest_center(lab: &Lab, centers: &[Lab]) -> usize {
    let mut best = (0, f32::INFINITY);
    for (index, center) in centers.iter().enumerate() {
        let distance = center.distance_squared(lab);
        if distance < best.1 {
            best = (index, distance);
        }
    }
    best.0
}

fn weighted_mean(bins: &[Bin], assignment: &[usize], cluster: usize) -> Option<Lab> {
    let (mut weight, mut l, mut a, mut b) = (0.0f64, 0.0f64, 0.0f64, 0.0f64);
    for (bin, _) in bins
        .iter()
        .zip(assignment)
        .filter(|(_, assigned)| **assigned == cluster)
    {
        let w = bin.count as f64;
        weight += w;
        l += w * f64::from(bin.lab.l);
        a += w * f64::from(bin.lab.a);
        b += w * f64::from(bin.lab.b);
    }
    (weight > 0.0).then(|| Lab {
        l: (l / weight) as f32,
        a: (a / weight) as f32,
        b: (b / weight) as f32,
    })
}

/// Colour difference with lightness counted half, as in the CMC 2:1 formula the textile
/// trade uses: the same fabric in light and in shade is one colour, while a change of hue
/// or saturation is a different one.
fn shading_tolerant_distance(a: &Lab, b: &Lab) -> f32 {
    let dl = (a.l - b.l) / 2.0;
    let da = a.a - b.a;
    let db = a.b - b.b;
    (dl * dl + da * da + db * db).sqrt()
}

/// Repeatedly merges the closest pair of clusters while they are within `max_delta_e`
/// by [`shading_tolerant_distance`].
fn merge_close(mut clusters: Vec<Cluster>, max_delta_e: f32) -> Vec<Cluster> {
    loop {
        let labs: Vec<Lab> = clusters.iter().map(Cluster::lab).collect();
        let mut closest: Option<(usize, usize, f32)> = None;
        for i in 0..labs.len() {
            for j in i + 1..labs.len() {
                let distance = shading_tolerant_distance(&labs[i], &labs[j]);
                if distance < max_delta_e && closest.is_none_or(|(_, _, best)| distance < best) {
                    closest = Some((i, j, distance));
                }
            }
        }
        let Some((keep, absorb, _)) = closest else {
            return clusters;
        };
        let absorbed = clusters.remove(absorb);
        let target = &mut clusters[keep];
        target.count += absorbed.count;
        for channel in 0..3 {
            target.sum[channel] += absorbed.sum[channel];
        }
    }
}

#[cfg(test)]
mod tests {
    use image::Rgb;

    use super::*;

    const NAVY: [u8; 3] = [0x22, 0x2C, 0x48];
    const MUSTARD: [u8; 3] = [0xDE, 0xA8, 0x0C];
    const BACKDROP: [u8; 3] = [0xF6, 0xF6, 0xF3];

    /// A 240x160 photo: a navy block three times the size of a mustard block, on white.
    fn two_color_product() -> RgbImage {
        let mut image = RgbImage::from_pixel(240, 160, Rgb(BACKDROP));
        for y in 30..130 {
            for x in 40..200 {
                let color = if x < 160 { NAVY } else { MUSTARD };
                image.put_pixel(x, y, Rgb(color));
            }
        }
        image
    }

    fn channel_gap(a: [u8; 3], b: [u8; 3]) -> u8 {
        (0..3).map(|c| a[c].abs_diff(b[c])).max().unwrap_or(0)
    }

    #[test]
    fn both_colours_are_found_with_their_hex_and_names() {
        let colors = dominant_colors(&two_color_product(), &ColorOptions::default());
        assert_eq!(colors.len(), 2, "{colors:?}");
        let (navy, mustard) = (&colors[0], &colors[1]);
        assert!(channel_gap(navy.rgb, NAVY) <= 3, "{navy:?}");
        assert!(channel_gap(mustard.rgb, MUSTARD) <= 3, "{mustard:?}");
        assert_eq!(navy.name, "navy");
        assert_eq!(mustard.name, "mustard");
        assert_eq!(navy.hex, to_hex(navy.rgb));
        assert!(navy.hex.starts_with('#') && navy.hex.len() == 7);
        assert!((navy.share - 0.75).abs() < 0.05, "{navy:?}");
        assert!((mustard.share - 0.25).abs() < 0.05, "{mustard:?}");
    }

    #[test]
    fn each_colour_points_inside_its_own_block() {
        let image = two_color_product();
        let colors = dominant_colors(&image, &ColorOptions::default());
        for colour in &colors {
            let [x, y] = colour.at;
            let pixel = image.get_pixel(x as u32, y as u32).0;
            assert!(
                channel_gap(pixel, colour.rgb) <= 3,
                "{colour:?} at {pixel:?}"
            );
        }
        // The navy block spans x 40..160: its deepest point is well inside, not on an edge.
        let [x, y] = colors[0].at;
        assert!(
            (70.0..130.0).contains(&x) && (60.0..100.0).contains(&y),
            "{x},{y}"
        );
    }

    #[test]
    fn the_backdrop_is_not_a_product_colour() {
        let colors = dominant_colors(&two_color_product(), &ColorOptions::default());
        assert!(
            colors
                .iter()
                .all(|color| channel_gap(color.rgb, BACKDROP) > 30),
            "{colors:?}"
        );
    }

    #[test]
    fn a_blank_photo_reports_its_one_colour() {
        let image = RgbImage::from_pixel(50, 50, Rgb([0x80, 0x80, 0x80]));
        let colors = dominant_colors(&image, &ColorOptions::default());
        assert_eq!(colors.len(), 1);
        assert_eq!(colors[0].hex, "#808080");
        assert_eq!(colors[0].name, "grey");
        assert_eq!(colors[0].share, 1.0);
        assert!(dominant_colors(&RgbImage::new(0, 0), &ColorOptions::default()).is_empty());
    }

    #[test]
    fn two_shades_with_one_name_are_one_colour() {
        let shades = vec![
            DominantColor {
                hex: "#222C48".into(),
                rgb: [0x22, 0x2C, 0x48],
                share: 0.6,
                name: "navy".into(),
                at: [0.0, 0.0],
            },
            DominantColor {
                hex: "#DEA80C".into(),
                rgb: [0xDE, 0xA8, 0x0C],
                share: 0.3,
                name: "mustard".into(),
                at: [0.0, 0.0],
            },
            DominantColor {
                hex: "#1E2844".into(),
                rgb: [0x1E, 0x28, 0x44],
                share: 0.1,
                name: "navy".into(),
                at: [0.0, 0.0],
            },
        ];
        let merged = one_per_name(shades);
        let names: Vec<&str> = merged.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["navy", "mustard"]);
        assert!((merged[0].share - 0.7).abs() < 1e-6);
        assert_eq!(merged[0].hex, "#222C48");
    }

    #[test]
    fn max_colors_caps_the_list() {
        let options = ColorOptions {
            max_colors: 1,
            ..ColorOptions::default()
        };
        let colors = dominant_colors(&two_color_product(), &options);
        assert_eq!(colors.len(), 1);
    }

    #[test]
    fn the_same_photo_gives_the_same_colours() {
        let image = crate::local::draw_sample_product(400, 320);
        let options = ColorOptions::default();
        assert_eq!(
            dominant_colors(&image, &options),
            dominant_colors(&image, &options)
        );
    }

    #[test]
    fn the_sample_product_has_at_least_three_colours() {
        let image = crate::local::draw_sample_product(512, 512);
        let colors = dominant_colors(&image, &ColorOptions::default());
        assert!(colors.len() >= 3, "{colors:?}");
        let total: f32 = colors.iter().map(|color| color.share).sum();
        assert!(total <= 1.0 + 1e-4);
    }
}
