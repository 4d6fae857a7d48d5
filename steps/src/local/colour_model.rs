//! A small Gaussian mixture over CIE Lab colours: how likely a colour is under what one
//! region of a photo (the product, or its background) is made of. The scene segmentation
//! fits one to each region and asks which explains a pixel better.

use super::lab::Lab;

/// Lloyd iterations when fitting; the mixture is refitted on every pass of the segmentation,
/// so a few are enough.
const LLOYD_ITERATIONS: usize = 6;
/// Smallest per-channel variance of a component (Lab units squared): a perfectly flat region
/// would otherwise get a zero-width component that no other shade of it fits.
const MIN_VARIANCE: f32 = 25.0;

/// One colour of the mixture.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Component {
    mean: Lab,
    /// Per channel (the component is isotropic in Lab).
    variance: f32,
    /// `ln(weight) - 1.5 ln(2π variance)`: the constant part of its log density.
    log_scale: f32,
}

/// A mixture of up to `k` isotropic Gaussians in Lab.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ColourModel {
    components: Vec<Component>,
}

impl ColourModel {
    /// Fits up to `k` components to weighted colour samples by weighted k-means (each
    /// cluster becomes a component with its share as weight). Deterministic: seeding takes
    /// the heaviest sample first, then the sample with the largest weight times squared
    /// distance to the chosen ones. `None` when the samples weigh nothing.
    pub fn fit(samples: &[(Lab, f32)], k: usize) -> Option<ColourModel> {
        let total: f32 = samples.iter().map(|(_, w)| w).sum();
        if total <= 0.0 || k == 0 {
            return None;
        }
        let mut centres = seed(samples, k);
        let mut assignment = vec![0usize; samples.len()];
        for _ in 0..LLOYD_ITERATIONS {
            for (slot, (lab, _)) in assignment.iter_mut().zip(samples) {
                *slot = nearest(lab, &centres);
            }
            let mut sums = vec![(0.0f32, 0.0f32, 0.0f32, 0.0f32); centres.len()];
            for ((lab, weight), &cluster) in samples.iter().zip(&assignment) {
                let sum = &mut sums[cluster];
                sum.0 += weight;
                sum.1 += weight * lab.l;
                sum.2 += weight * lab.a;
                sum.3 += weight * lab.b;
            }
            for (centre, (weight, l, a, b)) in centres.iter_mut().zip(&sums) {
                if *weight > 0.0 {
                    *centre = Lab {
                        l: l / weight,
                        a: a / weight,
                        b: b / weight,
                    };
                }
            }
        }
        let mut spread = vec![(0.0f32, 0.0f32); centres.len()];
        for ((lab, weight), &cluster) in samples.iter().zip(&assignment) {
            spread[cluster].0 += weight;
            spread[cluster].1 += weight * lab.distance_squared(&centres[cluster]);
        }
        let components = centres
            .iter()
            .zip(&spread)
            .filter(|(_, (weight, _))| *weight > 0.0)
            .map(|(mean, (weight, squared))| {
                let variance = (squared / weight / 3.0).max(MIN_VARIANCE);
                Component {
                    mean: *mean,
                    variance,
                    log_scale: (weight / total).ln()
                        - 1.5 * (2.0 * std::f32::consts::PI * variance).ln(),
                }
            })
            .collect();
        Some(ColourModel { components })
    }

    /// Negative log density of `lab` under the mixture: low for colours the region is made
    /// of, high for colours foreign to it.
    pub fn cost(&self, lab: &Lab) -> f32 {
        let logs = self
            .components
            .iter()
            .map(|c| c.log_scale - lab.distance_squared(&c.mean) / (2.0 * c.variance));
        let max = logs.clone().fold(f32::NEG_INFINITY, f32::max);
        if !max.is_finite() {
            return f32::MAX;
        }
        let sum: f32 = logs.map(|l| (l - max).exp()).sum();
        -(max + sum.ln())
    }
}

fn seed(samples: &[(Lab, f32)], k: usize) -> Vec<Lab> {
    let heaviest = samples
        .iter()
        .enumerate()
        .fold(
            (0, f32::MIN),
            |best, (i, (_, w))| {
                if *w > best.1 { (i, *w) } else { best }
            },
        )
        .0;
    let mut centres = vec![samples[heaviest].0];
    while centres.len() < k {
        let (index, score) = samples
            .iter()
            .map(|(lab, weight)| {
                let near = centres
                    .iter()
                    .map(|c| c.distance_squared(lab))
                    .fold(f32::INFINITY, f32::min);
                weight * near
            })
            .enumerate()
            .fold(
                (0, 0.0f32),
                |best, (i, score)| {
                    if score > best.1 { (i, score) } else { best }
                },
            );
        if score <= 0.0 {
            break;
        }
        centres.push(samples[index].0);
    }
    centres
}

fn nearest(lab: &Lab, centres: &[Lab]) -> usize {
    let mut best = (0, f32::INFINITY);
    for (i, centre) in centres.iter().enumerate() {
        let d = centre.distance_squared(lab);
        if d < best.1 {
            best = (i, d);
        }
    }
    best.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_colour_is_cheaper_under_the_model_made_of_it() {
        let navy = Lab::from_rgb([30, 45, 90]);
        let wood = Lab::from_rgb([150, 100, 60]);
        let dark_wood = Lab::from_rgb([110, 70, 40]);
        let product = ColourModel::fit(&[(navy, 10.0)], 5).unwrap();
        let table = ColourModel::fit(&[(wood, 6.0), (dark_wood, 4.0)], 5).unwrap();
        assert!(product.cost(&navy) < table.cost(&navy));
        assert!(table.cost(&wood) < product.cost(&wood));
        assert!(table.cost(&dark_wood) < product.cost(&dark_wood));
        assert!(ColourModel::fit(&[(navy, 0.0)], 3).is_none());
    }
}
