//! Finds the product in a photo that has no plain backdrop (a cup on a wooden table, a bag on
//! a patterned floor): an iterative colour-model segmentation in the manner of GrabCut.
//!
//! 1. A colour model of the border strip says what the surroundings look like; pixels inside
//!    the strip that it explains poorly start as product (their largest blobs). The border is
//!    only a first guess: border pixels in the product's colours become product as the models
//!    settle.
//! 2. Repeatedly: fit a colour model ([`ColourModel`], a small Gaussian mixture in Lab) to
//!    the product pixels and one to the rest, and relabel every pixel by which model explains
//!    its colour better, plus a weak centre prior (products are framed near the middle) and a
//!    smoothness term that makes neighbours agree unless an edge lies between them.
//!
//! The smoothing is iterated conditional modes (ICM) over a 4-connected Potts model with
//! contrast-sensitive weights, not a graph cut: no well-kept Rust crate offers a max-flow
//! solver, and started from step 1's labels, ICM settles close to what a cut would give on
//! product photos. Finally the result is judged: where the product cannot be told from its
//! surroundings the caller is told why ([`Unresolved`]) rather than handed a guess.

use image::RgbImage;

use super::colour_model::ColourModel;
use super::foreground::{Cleaned, SCENE_SPECK_FRACTION_OF_LARGEST, clean_mask};
use super::lab::Lab;

/// Thickness of the border strip the first background model is fitted to, as a fraction of
/// the shorter side.
const BORDER_FRACTION: f32 = 0.06;
/// Share of the border strip the first background model must explain: the rest of the
/// border (the product, where it touches the frame, or rare texture) may start as product.
const BORDER_EXPLAINED: f32 = 0.97;
/// Gaussians in the product's colour model: a product rarely shows more distinct colours.
const COMPONENTS: usize = 5;
/// Gaussians in the surroundings' model: more, since a gradient or a room spreads over many
/// colours and a gap between components would let the product's model claim what falls in it.
const SURROUNDING_COMPONENTS: usize = 10;
/// Refit-and-relabel passes.
const PASSES: usize = 5;
/// ICM sweeps per pass (forwards, then backwards).
const SWEEPS: usize = 2;
/// Cost (in nats) of two neighbours disagreeing across no edge; an edge lowers it.
const SMOOTHNESS: f32 = 2.0;
/// The centre prior: the product's prior probability at the centre of the frame and at its
/// corners, varying linearly with the distance in between.
const PRIOR_AT_CENTRE: f32 = 0.65;
const PRIOR_AT_CORNER: f32 = 0.3;
/// A pixel whose two colour costs differ by less than this (nats) fits both models.
const AMBIGUOUS_MARGIN: f32 = 2.0;
/// Above this share of ambiguous pixels the product's colours are the background's.
const MAX_AMBIGUOUS_SHARE: f32 = 0.45;
/// Above this share of the outermost pixel ring marked product, the "product" is the scene.
const MAX_BORDER_SHARE: f32 = 0.5;
/// Smallest share of the frame a product covers to count as found.
const MIN_COVERAGE: f32 = 0.005;
/// The outline must follow an edge: the mean colour step across it must be at least this
/// many times the mean step between any two neighbours of the photo.
const MIN_OUTLINE_CONTRAST: f32 = 1.6;

/// Bits kept per channel when colours are binned: colour costs are computed once per bin.
const BIN_BITS: u32 = 5;

/// Why the product could not be told from its surroundings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unresolved {
    /// The product's colours are the background's.
    NotSeparable,
    /// What stands out runs along most of the photo's border: the scene, not a product.
    FillsFrame,
    /// The outline found does not follow an edge in the photo.
    NoOutline,
    /// Nothing stands out from the surroundings.
    NothingStandsOut,
}

impl Unresolved {
    pub fn reason(self) -> &'static str {
        match self {
            Unresolved::NotSeparable => {
                "the product's colours cannot be told from the background's"
            }
            Unresolved::FillsFrame => "what stands out runs along most of the photo's border",
            Unresolved::NoOutline => "the outline found does not follow an edge in the photo",
            Unresolved::NothingStandsOut => "nothing stands out from the background",
        }
    }
}

/// The two colour models a scene was segmented with, kept to classify the pixels of a
/// larger copy of the photo along the outline.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SceneModel {
    product: ColourModel,
    background: ColourModel,
}

impl SceneModel {
    /// Whether the product's model explains `rgb` better than the background's.
    pub fn is_product(&self, rgb: [u8; 3]) -> bool {
        let lab = Lab::from_rgb(rgb);
        self.product.cost(&lab) < self.background.cost(&lab)
    }
}

/// A segmented scene: the cleaned product mask and the models behind it.
#[derive(Debug, Clone)]
pub(crate) struct Scene {
    pub cleaned: Cleaned,
    pub model: SceneModel,
}

/// Segments `image` (a working-size copy: the cost is a few passes over every pixel).
pub(crate) fn segment(image: &RgbImage) -> Result<Scene, Unresolved> {
    let (width, height) = image.dimensions();
    let (w, h) = (width as usize, height as usize);
    if w < 3 || h < 3 {
        return Err(Unresolved::NothingStandsOut);
    }
    let pixels = Pixels::new(image);
    let weights = Smoothness::new(&pixels.labs, w, h);
    let prior = centre_prior(w, h);

    let border = border_strip(w, h);
    let mut labels = first_guess(&pixels, &border);
    // Models are fitted to the product's blobs only: scattered pixels of the surroundings
    // that the first guess or a pass took for product would teach the product's model the
    // table's colours.
    labels = clean_mask(labels, width, height, SCENE_SPECK_FRACTION_OF_LARGEST).mask;
    let mut model = None;
    let mut costs = vec![(0.0f32, 0.0f32); pixels.bins.len()];
    for _ in 0..PASSES {
        let Some(fitted) = fit(&pixels, &labels) else {
            break;
        };
        for (cost, bin) in costs.iter_mut().zip(&pixels.bins) {
            *cost = (
                fitted.product.cost(&bin.lab),
                fitted.background.cost(&bin.lab),
            );
        }
        model = Some(fitted);
        let unary: Vec<(f32, f32)> = pixels
            .bin_of
            .iter()
            .zip(&prior)
            .map(|(&bin, &(fg, bg))| {
                let (product, background) = costs[bin as usize];
                (product + fg, background + bg)
            })
            .collect();
        let changed = icm(&mut labels, &unary, &weights, w, h);
        labels = clean_mask(labels, width, height, SCENE_SPECK_FRACTION_OF_LARGEST).mask;
        if changed == 0 {
            break;
        }
    }
    let model = model.ok_or(Unresolved::NothingStandsOut)?;

    let ambiguous = pixels
        .bin_of
        .iter()
        .filter(|&&bin| {
            let (product, background) = costs[bin as usize];
            (product - background).abs() < AMBIGUOUS_MARGIN
        })
        .count();
    let labels = opened(&labels, w, h);
    let cleaned = clean_mask(labels, width, height, SCENE_SPECK_FRACTION_OF_LARGEST);
    judge(
        &cleaned,
        &pixels.labs,
        ambiguous as f32 / (w * h) as f32,
        w,
        h,
    )?;
    Ok(Scene { cleaned, model })
}

/// A colour bin: the mean Lab colour of the pixels in it.
struct Bin {
    lab: Lab,
}

/// Every pixel's Lab colour and bin.
struct Pixels {
    labs: Vec<Lab>,
    bin_of: Vec<u32>,
    bins: Vec<Bin>,
}

impl Pixels {
    fn new(image: &RgbImage) -> Pixels {
        let shift = 8 - BIN_BITS;
        let mut slot = vec![u32::MAX; 1 << (3 * BIN_BITS)];
        let mut sums: Vec<([u32; 3], u32)> = Vec::new();
        let mut labs = Vec::with_capacity(image.pixels().len());
        let mut bin_of = Vec::with_capacity(image.pixels().len());
        for pixel in image.pixels() {
            let [r, g, b] = pixel.0;
            labs.push(Lab::from_rgb(pixel.0));
            let key = (usize::from(r >> shift) << (2 * BIN_BITS))
                | (usize::from(g >> shift) << BIN_BITS)
                | usize::from(b >> shift);
            if slot[key] == u32::MAX {
                slot[key] = sums.len() as u32;
                sums.push(([0; 3], 0));
            }
            let index = slot[key];
            let (sum, count) = &mut sums[index as usize];
            sum[0] += u32::from(r);
            sum[1] += u32::from(g);
            sum[2] += u32::from(b);
            *count += 1;
            bin_of.push(index);
        }
        let bins = sums
            .iter()
            .map(|(sum, count)| Bin {
                lab: Lab::from_rgb_f32(sum.map(|s| s as f32 / *count as f32)),
            })
            .collect();
        Pixels { labs, bin_of, bins }
    }
}

/// Flags of the pixels in the border strip.
fn border_strip(w: usize, h: usize) -> Vec<bool> {
    let strip = ((w.min(h) as f32 * BORDER_FRACTION).round() as usize).max(1);
    (0..w * h)
        .map(|i| {
            let (x, y) = (i % w, i / w);
            x < strip || y < strip || x + strip >= w || y + strip >= h
        })
        .collect()
}

/// Step 1: a model of the border strip, and as product every pixel it explains worse than
/// it explains [`BORDER_EXPLAINED`] of the strip.
fn first_guess(pixels: &Pixels, border: &[bool]) -> Vec<bool> {
    let samples = weighted_bins(pixels, |i| border[i]);
    let Some(surroundings) = ColourModel::fit(&samples, SURROUNDING_COMPONENTS) else {
        return vec![false; border.len()];
    };
    let bin_costs: Vec<f32> = pixels
        .bins
        .iter()
        .map(|bin| surroundings.cost(&bin.lab))
        .collect();
    let mut border_costs: Vec<f32> = pixels
        .bin_of
        .iter()
        .zip(border)
        .filter(|(_, on_border)| **on_border)
        .map(|(&bin, _)| bin_costs[bin as usize])
        .collect();
    border_costs.sort_by(f32::total_cmp);
    let at = ((border_costs.len() as f32 * BORDER_EXPLAINED) as usize).min(border_costs.len() - 1);
    let threshold = border_costs[at];
    pixels
        .bin_of
        .iter()
        .zip(border)
        .map(|(&bin, &on_border)| !on_border && bin_costs[bin as usize] > threshold)
        .collect()
}

/// The pixels `pick` selects, as (bin colour, pixel count) samples.
fn weighted_bins(pixels: &Pixels, pick: impl Fn(usize) -> bool) -> Vec<(Lab, f32)> {
    let mut counts = vec![0u32; pixels.bins.len()];
    for (i, &bin) in pixels.bin_of.iter().enumerate() {
        if pick(i) {
            counts[bin as usize] += 1;
        }
    }
    pixels
        .bins
        .iter()
        .zip(&counts)
        .filter(|(_, count)| **count > 0)
        .map(|(bin, &count)| (bin.lab, count as f32))
        .collect()
}

fn fit(pixels: &Pixels, labels: &[bool]) -> Option<SceneModel> {
    let product = ColourModel::fit(&weighted_bins(pixels, |i| labels[i]), COMPONENTS)?;
    let background = ColourModel::fit(
        &weighted_bins(pixels, |i| !labels[i]),
        SURROUNDING_COMPONENTS,
    )?;
    Some(SceneModel {
        product,
        background,
    })
}

/// Per pixel, the prior's cost of being product and of being background.
fn centre_prior(w: usize, h: usize) -> Vec<(f32, f32)> {
    let (cx, cy) = (w as f32 / 2.0, h as f32 / 2.0);
    (0..w * h)
        .map(|i| {
            let dx = ((i % w) as f32 + 0.5 - cx) / cx;
            let dy = ((i / w) as f32 + 0.5 - cy) / cy;
            let r = ((dx * dx + dy * dy) / 2.0).sqrt().min(1.0);
            let p = PRIOR_AT_CENTRE + (PRIOR_AT_CORNER - PRIOR_AT_CENTRE) * r;
            (-p.ln(), -(1.0 - p).ln())
        })
        .collect()
}

/// The cost of a label change between each pixel and its right and lower neighbours: high
/// across flat colour, low across an edge.
struct Smoothness {
    right: Vec<f32>,
    down: Vec<f32>,
}

impl Smoothness {
    fn new(labs: &[Lab], w: usize, h: usize) -> Smoothness {
        let mut right = vec![0.0; w * h];
        let mut down = vec![0.0; w * h];
        let (mut total, mut pairs) = (0.0f64, 0u64);
        for y in 0..h {
            for x in 0..w {
                let i = y * w + x;
                if x + 1 < w {
                    right[i] = labs[i].distance_squared(&labs[i + 1]);
                    total += f64::from(right[i]);
                    pairs += 1;
                }
                if y + 1 < h {
                    down[i] = labs[i].distance_squared(&labs[i + w]);
                    total += f64::from(down[i]);
                    pairs += 1;
                }
            }
        }
        let mean = (total / pairs.max(1) as f64) as f32;
        let beta = if mean > 0.0 { 1.0 / (2.0 * mean) } else { 0.0 };
        for step in right.iter_mut().chain(down.iter_mut()) {
            *step = SMOOTHNESS * (-beta * *step).exp();
        }
        Smoothness { right, down }
    }
}

/// ICM sweeps: each pixel takes the label with the lower cost given its neighbours' labels.
/// Returns how many labels changed.
fn icm(
    labels: &mut [bool],
    unary: &[(f32, f32)],
    weights: &Smoothness,
    w: usize,
    h: usize,
) -> usize {
    let mut changed = 0;
    for sweep in 0..SWEEPS {
        let mut this_sweep = 0;
        // Alternate sweeps run backwards, so a label is not dragged along the scan order
        // through colours both models explain about equally.
        for step in 0..w * h {
            let i = if sweep % 2 == 0 {
                step
            } else {
                w * h - 1 - step
            };
            let (x, y) = (i % w, i / w);
            let (mut product, mut background) = unary[i];
            let mut pull = |neighbour: usize, weight: f32| {
                if labels[neighbour] {
                    background += weight;
                } else {
                    product += weight;
                }
            };
            if x > 0 {
                pull(i - 1, weights.right[i - 1]);
            }
            if x + 1 < w {
                pull(i + 1, weights.right[i]);
            }
            if y > 0 {
                pull(i - w, weights.down[i - w]);
            }
            if y + 1 < h {
                pull(i + w, weights.down[i]);
            }
            let label = product < background;
            if label != labels[i] {
                labels[i] = label;
                this_sweep += 1;
            }
        }
        changed += this_sweep;
        if this_sweep == 0 {
            break;
        }
    }
    changed
}

/// The mask eroded then dilated by one pixel (3 x 3): strands one or two pixels thick that
/// run out from the product along a smooth background go, the product's shape stays.
fn opened(mask: &[bool], w: usize, h: usize) -> Vec<bool> {
    let pass = |source: &[bool], keep_if_all: bool| -> Vec<bool> {
        (0..w * h)
            .map(|i| {
                let (x, y) = (i % w, i / w);
                let mut all = true;
                let mut any = false;
                for ny in y.saturating_sub(1)..=(y + 1).min(h - 1) {
                    for nx in x.saturating_sub(1)..=(x + 1).min(w - 1) {
                        let v = source[ny * w + nx];
                        all &= v;
                        any |= v;
                    }
                }
                if keep_if_all { all } else { any }
            })
            .collect()
    };
    let eroded = pass(mask, true);
    pass(&eroded, false)
}

/// Whether the segmentation can be trusted: enough product, not the whole scene, colours
/// that tell product from background, and an outline that follows an edge.
fn judge(
    cleaned: &Cleaned,
    labs: &[Lab],
    ambiguous_share: f32,
    w: usize,
    h: usize,
) -> Result<(), Unresolved> {
    let mask = &cleaned.mask;
    if (cleaned.pixel_count as f32) < MIN_COVERAGE * (w * h) as f32 {
        return Err(Unresolved::NothingStandsOut);
    }
    let ring: Vec<usize> = (0..w)
        .flat_map(|x| [x, (h - 1) * w + x])
        .chain((1..h - 1).flat_map(|y| [y * w, y * w + w - 1]))
        .collect();
    let on_ring = ring.iter().filter(|&&i| mask[i]).count();
    if on_ring as f32 > MAX_BORDER_SHARE * ring.len() as f32 {
        return Err(Unresolved::FillsFrame);
    }
    if ambiguous_share > MAX_AMBIGUOUS_SHARE {
        return Err(Unresolved::NotSeparable);
    }
    let (mut across, mut pairs) = (0.0f64, 0u64);
    let (mut all, mut all_pairs) = (0.0f64, 0u64);
    for y in 0..h {
        for x in 0..w {
            let i = y * w + x;
            for (next, ok) in [(i + 1, x + 1 < w), (i + w, y + 1 < h)] {
                if !ok {
                    continue;
                }
                let step = f64::from(labs[i].delta_e(&labs[next]));
                all += step;
                all_pairs += 1;
                if mask[i] != mask[next] {
                    across += step;
                    pairs += 1;
                }
            }
        }
    }
    let mean_across = across / pairs.max(1) as f64;
    let mean_all = all / all_pairs.max(1) as f64;
    if mean_across < f64::from(MIN_OUTLINE_CONTRAST) * mean_all {
        return Err(Unresolved::NoOutline);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use image::Rgb;

    use super::*;
    use crate::local::foreground::{Foreground, Segmentation};

    /// A deterministic value in 0..1 for a pixel, for texture.
    fn noise(x: u32, y: u32, seed: u32) -> f32 {
        let mut v = x
            .wrapping_mul(374_761_393)
            .wrapping_add(y.wrapping_mul(668_265_263))
            .wrapping_add(seed.wrapping_mul(2_246_822_519));
        v = (v ^ (v >> 13)).wrapping_mul(1_274_126_177);
        (v ^ (v >> 16)) as f32 / u32::MAX as f32
    }

    fn mix(a: [f32; 3], b: [f32; 3], t: f32) -> Rgb<u8> {
        Rgb([0, 1, 2].map(|c| (a[c] + (b[c] - a[c]) * t).round().clamp(0.0, 255.0) as u8))
    }

    /// Wood: wavy light and dark grain along x, with fine noise.
    fn wood(x: u32, y: u32) -> Rgb<u8> {
        let (xf, yf) = (x as f32, y as f32);
        let grain = ((yf / 9.0 + (xf / 57.0).sin() * 2.5).sin() * 0.5 + 0.5).powf(1.5);
        let t = (grain + 0.25 * noise(x, y, 1)).min(1.0);
        mix([168.0, 118.0, 72.0], [112.0, 72.0, 40.0], t)
    }

    /// A soft gradient, the way a wall falls off from a window.
    fn gradient(x: u32, y: u32) -> Rgb<u8> {
        let t = y as f32 / 600.0 + 0.15 * (x as f32 / 800.0);
        mix([205.0, 212.0, 224.0], [105.0, 118.0, 140.0], t)
    }

    /// A carpet: two greens in blotches with speckle.
    fn textured(x: u32, y: u32) -> Rgb<u8> {
        let blotch = (x / 6 + y / 5).is_multiple_of(3) as u8 as f32;
        let t = (0.6 * blotch + 0.4 * noise(x, y, 7)).min(1.0);
        mix([70.0, 120.0, 60.0], [35.0, 80.0, 40.0], t)
    }

    /// The tote's front, centred in an 800x600 photo: a trapezoid 360 px wide at the top,
    /// 320 at the base and 300 high, navy with a mustard band. Returns the truth mask too.
    fn tote_on(background: fn(u32, u32) -> Rgb<u8>) -> (RgbImage, Vec<bool>) {
        let (w, h) = (800u32, 600u32);
        let mut truth = vec![false; (w * h) as usize];
        let image = RgbImage::from_fn(w, h, |x, y| {
            let from_top = y as f32 + 0.5 - 150.0;
            if (0.0..300.0).contains(&from_top) {
                let half = 180.0 - 20.0 * from_top / 300.0;
                if (x as f32 + 0.5 - 400.0).abs() < half {
                    truth[(y * w + x) as usize] = true;
                    let band = (190.0..230.0).contains(&from_top);
                    let shade = 1.0 - 0.1 * noise(x, y, 3);
                    let base = if band {
                        [215.0, 165.0, 35.0]
                    } else {
                        [34.0, 48.0, 96.0]
                    };
                    return mix([0.0; 3], base, shade);
                }
            }
            background(x, y)
        });
        (image, truth)
    }

    fn iou(mask: &[bool], truth: &[bool]) -> f32 {
        let both = mask.iter().zip(truth).filter(|(a, b)| **a && **b).count();
        let either = mask.iter().zip(truth).filter(|(a, b)| **a || **b).count();
        both as f32 / either.max(1) as f32
    }

    #[test]
    fn the_product_is_found_on_wood_on_a_gradient_and_on_a_textured_floor() {
        for (name, background) in [
            ("wood", wood as fn(u32, u32) -> Rgb<u8>),
            ("gradient", gradient),
            ("textured", textured),
        ] {
            let (image, truth) = tote_on(background);
            let foreground = Foreground::detect(&image);
            assert!(
                foreground.is_resolved(),
                "{name}: {:?}",
                foreground.segmentation
            );
            let overlap = iou(&foreground.mask, &truth);
            assert!(overlap >= 0.85, "{name}: IoU {overlap}");
            let found = foreground.bbox.unwrap();
            let (width, height) = (f64::from(found.w), f64::from(found.h));
            assert!((width - 360.0).abs() / 360.0 <= 0.03, "{name}: {found}");
            assert!((height - 300.0).abs() / 300.0 <= 0.03, "{name}: {found}");
        }
    }

    #[test]
    fn a_product_made_of_its_surroundings_is_not_guessed() {
        // A wooden box on the same wooden table: nothing tells the two apart.
        let (w, h) = (640u32, 480u32);
        let image = RgbImage::from_fn(w, h, |x, y| {
            let inside = (200..440).contains(&x) && (140..340).contains(&y);
            if inside {
                wood(x + 37, y + 11)
            } else {
                wood(x, y)
            }
        });
        let foreground = Foreground::detect(&image);
        assert!(
            matches!(foreground.segmentation, Segmentation::Unresolved(_)),
            "{:?} {:?}",
            foreground.segmentation,
            foreground.bbox
        );
        assert_eq!(foreground.coverage(), 1.0);
    }
}
