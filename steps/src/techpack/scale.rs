//! From pixels to millimetres across views. A reference size scales only the photos that
//! show its axis (front/back: width x height; side: depth x height; top: width x depth); a
//! photo scaled by one axis tells the other axis it shows, which can scale the next photo
//! ("width 400 mm given" scales the front, whose height then scales the side, whose
//! horizontal extent is the depth). Only a value a person gave is `given`; everything
//! computed from it is `estimated_from_photo`, less sure the further it travelled.

use std::collections::HashMap;

use super::pom_library::{Axis, PomSet, SilhouetteRule};
use super::{PointOfMeasure, References, Source, View, ViewAnalysis};

/// How sure a value read off a photo scaled by a given size is: the outline is exact to a
/// pixel or two, but lens perspective and how the product sits are not.
const SAME_VIEW_CONFIDENCE: f64 = 0.8;
/// How sure a value is whose scale came through another photo's derived length.
const CROSS_VIEW_CONFIDENCE: f64 = 0.65;

/// The product axes a photo of `view` shows: (left to right, top to bottom).
pub fn axes_of(view: View) -> Option<(Axis, Axis)> {
    match view {
        View::Front | View::Back => Some((Axis::Width, Axis::Height)),
        View::Side => Some((Axis::Depth, Axis::Height)),
        View::Top => Some((Axis::Width, Axis::Depth)),
        View::Detail => None,
    }
}

/// A length known for an axis, and how.
#[derive(Debug, Clone)]
struct Known {
    mm: f64,
    given: bool,
    /// How sure a scale taken from this length is.
    confidence: f64,
    /// "given" or "derived from the front view".
    how: String,
}

/// One view's scale once solved.
#[derive(Debug, Clone)]
struct Solved {
    mm_per_px: f64,
    confidence: f64,
}

fn reference_lengths(references: &References) -> HashMap<Axis, Known> {
    let mut known = HashMap::new();
    for (axis, value) in [
        (Axis::Width, references.width_mm),
        (Axis::Height, references.height_mm),
        (Axis::Depth, references.depth_mm),
    ] {
        if let Some(mm) = value.filter(|v| v.is_finite() && *v > 0.0) {
            known.insert(
                axis,
                Known {
                    mm,
                    given: true,
                    confidence: SAME_VIEW_CONFIDENCE,
                    how: "given".into(),
                },
            );
        }
    }
    known
}

fn extent_px(view: &ViewAnalysis, horizontal: bool) -> Option<f64> {
    let px = if horizontal {
        view.scale.horizontal_px
    } else {
        view.scale.vertical_px
    };
    px.filter(|v| v.is_finite() && *v > 0.0)
}

/// Solves each view's scale from `references`, fills in `scale` on every view and converts
/// its pixel POMs to millimetres. Views no reference reaches keep their pixel values.
pub fn apply(views: &mut [ViewAnalysis], references: &References, set: &PomSet) {
    let mut known = reference_lengths(references);
    let mut solved: Vec<Option<Solved>> = vec![None; views.len()];
    loop {
        let mut progress = false;
        for (i, view) in views.iter_mut().enumerate() {
            if solved[i].is_some() {
                continue;
            }
            let Some((across, down)) = axes_of(view.view) else {
                continue;
            };
            // A given length first, then the surest derived one.
            let candidate = [(across, true), (down, false)]
                .into_iter()
                .filter_map(|(axis, horizontal)| {
                    let length = known.get(&axis)?;
                    Some((
                        axis,
                        horizontal,
                        length.clone(),
                        extent_px(view, horizontal)?,
                    ))
                })
                .max_by(|a, b| {
                    (a.2.given, a.2.confidence)
                        .partial_cmp(&(b.2.given, b.2.confidence))
                        .unwrap_or(std::cmp::Ordering::Equal)
                });
            let Some((axis, horizontal, length, px)) = candidate else {
                continue;
            };
            let mm_per_px = length.mm / px;
            view.scale.mm_per_px = Some(mm_per_px);
            view.scale.basis = Some(format!(
                "{} {} mm {}, over {px:.0} px",
                axis.as_str(),
                round1(length.mm),
                length.how
            ));
            solved[i] = Some(Solved {
                mm_per_px,
                confidence: length.confidence,
            });
            progress = true;
            let (other, other_horizontal) = if horizontal {
                (down, false)
            } else {
                (across, true)
            };
            if !known.contains_key(&other)
                && let Some(other_px) = extent_px(view, other_horizontal)
            {
                known.insert(
                    other,
                    Known {
                        mm: other_px * mm_per_px,
                        given: false,
                        confidence: if length.given {
                            CROSS_VIEW_CONFIDENCE
                        } else {
                            // Each hop through a derived length loses a little more.
                            (length.confidence - 0.1).max(0.3)
                        },
                        how: format!("derived from the {} view", view.view.as_str()),
                    },
                );
            }
        }
        if !progress {
            break;
        }
    }
    let given = reference_lengths(references);
    for (view, solved) in views.iter_mut().zip(&solved) {
        let Some(solved) = solved else { continue };
        for pom in &mut view.dimensions {
            convert(pom, solved, set, &given, view.view);
        }
    }
}

fn convert(
    pom: &mut PointOfMeasure,
    solved: &Solved,
    set: &PomSet,
    given: &HashMap<Axis, Known>,
    view: View,
) {
    if pom.unit != "px" {
        return;
    }
    let Some(px) = pom.value else { return };
    let spec = set.spec(&pom.code);
    pom.unit = "mm".into();
    pom.tolerance = spec.map(|s| s.tolerance_mm).or(pom.tolerance);
    // The extent along a given axis, in a view that shows that axis, is the given length.
    if let Some(SilhouetteRule::Extent(axis)) = spec.and_then(|s| s.silhouette)
        && let Some(length) = given.get(&axis)
        && axes_of(view).is_some_and(|(a, b)| a == axis || b == axis)
    {
        pom.value = Some(length.mm);
        pom.source = Source::Given;
        pom.confidence = 1.0;
        return;
    }
    pom.value = Some(round1(px * solved.mm_per_px));
    pom.source = Source::EstimatedFromPhoto;
    pom.confidence = solved.confidence;
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// The tech pack's POM list: the set's points in its order, each with the best value the
/// views measured in mm (a given one first, then the surest), or none, to be measured on
/// the sample. A view's POM that is still in pixels never reaches this list. POMs a model
/// named that the set does not hold follow, once per code.
pub fn assemble(set: &PomSet, views: &[ViewAnalysis]) -> Vec<PointOfMeasure> {
    let measured: Vec<&PointOfMeasure> = views
        .iter()
        .flat_map(|v| &v.dimensions)
        .filter(|p| p.value.is_some() && p.unit != "px")
        .collect();
    let best = |code: &str| {
        measured
            .iter()
            .filter(|p| p.code == code)
            .max_by(|a, b| {
                (a.source == Source::Given, a.confidence)
                    .partial_cmp(&(b.source == Source::Given, b.confidence))
                    .unwrap_or(std::cmp::Ordering::Equal)
            })
            .copied()
    };
    let mut points: Vec<PointOfMeasure> = set
        .points_of_measure
        .iter()
        .map(|spec| match best(&spec.code) {
            Some(found) => PointOfMeasure {
                name: spec.name.clone(),
                how_to_measure: spec.how_to_measure.clone(),
                criticality: spec.criticality,
                tolerance: found.tolerance.or(Some(spec.tolerance_mm)),
                ..found.clone()
            },
            None => spec.unmeasured(),
        })
        .collect();
    for pom in &measured {
        if !points.iter().any(|p| p.code == pom.code) {
            let best = best(&pom.code).unwrap_or(*pom);
            points.push(best.clone());
        }
    }
    points
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::techpack::pom_library::choose;
    use crate::techpack::{Criticality, ViewScale};

    fn view(view: View, px: (f64, f64), poms: &[(&str, f64)]) -> ViewAnalysis {
        ViewAnalysis {
            view,
            summary: String::new(),
            materials: vec![],
            colors: vec![],
            dimensions: poms
                .iter()
                .map(|(code, value)| PointOfMeasure {
                    code: code.to_string(),
                    name: code.to_string(),
                    how_to_measure: String::new(),
                    value: Some(*value),
                    unit: "px".into(),
                    tolerance: None,
                    criticality: Criticality::Major,
                    source: Source::EstimatedFromPhoto,
                    confidence: 0.5,
                    measured_at: None,
                })
                .collect(),
            construction: vec![],
            design_elements: vec![],
            regions: vec![],
            bill_of_materials: vec![],
            labels_and_packaging: vec![],
            category_specific: vec![],
            scale: ViewScale {
                horizontal_px: Some(px.0),
                vertical_px: Some(px.1),
                ..ViewScale::default()
            },
            confidence: 0.3,
        }
    }

    fn bags() -> &'static PomSet {
        choose(Some("bags"), None).0
    }

    fn pom<'a>(views: &'a [ViewAnalysis], v: View, code: &str) -> &'a PointOfMeasure {
        views
            .iter()
            .find(|x| x.view == v)
            .and_then(|x| x.dimensions.iter().find(|p| p.code == code))
            .unwrap()
    }

    /// The case: `width_mm` with a front and a side photo. The side's horizontal
    /// extent is the gusset, not the width.
    #[test]
    fn a_width_scales_the_front_and_reaches_the_side_through_the_height() {
        // Front at 1.5 px/mm (400 x 300 mm), side at 2 px/mm (120 x 300 mm).
        let mut views = vec![
            view(View::Front, (600.0, 450.0), &[("W", 600.0), ("H", 450.0)]),
            view(View::Side, (240.0, 600.0), &[("D", 240.0), ("H", 600.0)]),
        ];
        let refs = References {
            width_mm: Some(400.0),
            ..References::default()
        };
        apply(&mut views, &refs, bags());
        let w = pom(&views, View::Front, "W");
        assert_eq!(
            (w.value, w.source, w.confidence),
            (Some(400.0), Source::Given, 1.0)
        );
        let h = pom(&views, View::Front, "H");
        assert_eq!(
            (h.value, h.source),
            (Some(300.0), Source::EstimatedFromPhoto)
        );
        assert!(h.confidence < 1.0 && h.confidence > 0.0);
        let d = pom(&views, View::Side, "D");
        assert_eq!(
            (d.value, d.source),
            (Some(120.0), Source::EstimatedFromPhoto)
        );
        assert!(
            d.confidence < h.confidence,
            "a second-hand scale is less sure"
        );
        assert_eq!(d.unit, "mm");
        assert_eq!(d.tolerance, Some(3.0), "the set's default tolerance");
        assert_eq!(
            views[1].scale.basis.as_deref(),
            Some("height 300 mm derived from the front view, over 600 px")
        );
    }

    #[test]
    fn a_size_only_scales_views_that_show_its_axis() {
        let mut views = vec![view(
            View::Side,
            (240.0, 600.0),
            &[("D", 240.0), ("H", 600.0)],
        )];
        let refs = References {
            width_mm: Some(400.0),
            ..References::default()
        };
        apply(&mut views, &refs, bags());
        assert_eq!(views[0].scale.mm_per_px, None);
        assert_eq!(pom(&views, View::Side, "D").unit, "px");
        let points = assemble(bags(), &views);
        assert!(
            points.iter().all(|p| p.value.is_none() && p.unit == "mm"),
            "pixels never reach the tech pack's POM list: {points:?}"
        );
    }

    #[test]
    fn two_given_axes_each_stay_given() {
        let mut views = vec![
            view(View::Front, (600.0, 450.0), &[("W", 600.0), ("H", 450.0)]),
            view(View::Side, (240.0, 600.0), &[("D", 240.0), ("H", 600.0)]),
        ];
        let refs = References {
            width_mm: Some(400.0),
            depth_mm: Some(120.0),
            height_mm: None,
        };
        apply(&mut views, &refs, bags());
        assert_eq!(pom(&views, View::Side, "D").source, Source::Given);
        assert_eq!(pom(&views, View::Side, "D").value, Some(120.0));
        // The side's scale came from the given depth, not the derived height.
        assert!(
            views[1]
                .scale
                .basis
                .as_deref()
                .unwrap()
                .starts_with("depth 120 mm given")
        );
        let points = assemble(bags(), &views);
        let codes: Vec<(&str, Option<f64>)> =
            points.iter().map(|p| (p.code.as_str(), p.value)).collect();
        assert_eq!(
            &codes[..3],
            [("W", Some(400.0)), ("H", Some(300.0)), ("D", Some(120.0))]
        );
        assert!(codes[3..].iter().all(|(_, v)| v.is_none()), "{codes:?}");
    }
}
