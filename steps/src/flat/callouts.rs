//! Which callouts a view's flat gets, chosen from the tech pack as data: its measurements as
//! dimension lines where they were taken, its colours and located parts at the spot they
//! describe, where each close-up was cut, and its BOM lines as notes.

use crate::techpack::{
    Callout, CalloutKind, MeasuredAt, PointOfMeasure, RegionKind, TechPack, View,
};

/// The part of a photo a drawing covers, in photo pixels: a traced flat covers the
/// product's box plus a margin, so a place measured on the photo has a place on the flat.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DrawingFrame {
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
}

/// How far outside the drawing (as a fraction of it) a place may lie and still be drawn at
/// its edge: rounding puts a measured outline a pixel or so outside the traced box.
const EDGE_SLACK: f64 = 0.01;

impl DrawingFrame {
    /// `(x, y)` in photo pixels as 0..1 of the drawing, when it lies on it.
    fn point_of(&self, x: f64, y: f64) -> Option<(f64, f64)> {
        if self.w <= 0.0 || self.h <= 0.0 {
            return None;
        }
        let (u, v) = ((x - self.x) / self.w, (y - self.y) / self.h);
        let on = |t: f64| t.is_finite() && (-EDGE_SLACK..=1.0 + EDGE_SLACK).contains(&t);
        (on(u) && on(v)).then(|| (u.clamp(0.0, 1.0), v.clamp(0.0, 1.0)))
    }

    /// `measured` in 0..1 of the drawing, when it was taken on `view` and lies on it.
    fn line_of(&self, measured: &MeasuredAt, view: View) -> Option<[f64; 4]> {
        if measured.view != view {
            return None;
        }
        let (x1, y1) = self.point_of(measured.x1, measured.y1)?;
        let (x2, y2) = self.point_of(measured.x2, measured.y2)?;
        Some([x1, y1, x2, y2])
    }
}

/// What part of the `view` photo a flat traced from it covers (`traced`: drawn by the
/// offline provider, which traces the photo; a generative model's drawing is not the
/// photo's geometry); `None` when it is not traced or the analysis does not know the
/// product's box.
pub fn drawing_frame(tech_pack: &TechPack, view: View, traced: bool) -> Option<DrawingFrame> {
    if !traced {
        return None;
    }
    let photo = tech_pack
        .meta
        .source_photos
        .iter()
        .find(|p| p.view == view)?;
    let [x, y, w, h] = tech_pack
        .views
        .iter()
        .find(|v| v.view == view)?
        .scale
        .product_box?;
    let region = crate::local::traced_region(
        crate::local::PixelBox { x, y, w, h },
        (photo.width, photo.height),
        &crate::local::SketchOptions::default(),
    );
    Some(DrawingFrame {
        x: f64::from(region.x),
        y: f64::from(region.y),
        w: f64::from(region.w),
        h: f64::from(region.h),
    })
}

/// A close-up as a flat points at it.
#[derive(Debug, Clone, Copy)]
pub struct CloseUpSpot<'a> {
    /// Its number in the export (`close-ups/03.png` is 3).
    pub number: usize,
    /// What it shows.
    pub detail: &'a str,
    /// The photo it was cut from, and where: `[x, y, width, height]` in that photo's pixels.
    pub view: View,
    pub crop: [u32; 4],
}

fn format_value(value: f64, unit: &str) -> String {
    if value.fract() == 0.0 {
        format!("{value:.0} {unit}")
    } else {
        format!("{value:.1} {unit}")
    }
}

/// The value a measurement shows: the tech pack's own (in mm once scaled, or as a person
/// edited it), else the photo's pixels; `None` when neither is known.
fn shown_value(tech_pack: &TechPack, pom: &PointOfMeasure) -> Option<String> {
    let listed = tech_pack
        .points_of_measure
        .iter()
        .find(|p| p.code == pom.code && p.unit != "px")
        .and_then(|p| Some(format_value(p.value?, &p.unit)));
    listed.or_else(|| Some(format_value(pom.value?, &pom.unit)))
}

/// The callouts of one view's flat. `frame` places what was located on the photo (measured
/// lines, colour zones, parts, close-ups) on the drawing; without one (a generative
/// drawing), width and height run along the drawing's edges and the rest become notes.
pub fn callouts_for_view(
    tech_pack: &TechPack,
    view: View,
    frame: Option<DrawingFrame>,
    close_ups: &[CloseUpSpot],
) -> Vec<Callout> {
    let note = |text: String| Callout {
        view,
        kind: CalloutKind::Note,
        x: 0.0,
        y: 0.0,
        text,
        bom_ref: None,
        pom_ref: None,
        line: None,
    };
    let mut callouts = Vec::new();
    let analysis = tech_pack.views.iter().find(|v| v.view == view);
    let poms = analysis
        .map(|a| a.dimensions.as_slice())
        .unwrap_or_default();
    for pom in poms {
        let Some(value) = shown_value(tech_pack, pom) else {
            continue;
        };
        let text = format!("{} {}: {value}", pom.code, pom.name);
        let measured = frame
            .zip(pom.measured_at.as_ref())
            .and_then(|(frame, measured)| frame.line_of(measured, view));
        let lower = pom.name.to_lowercase();
        let line = measured.or_else(|| {
            if frame.is_some() {
                None
            } else if lower.contains("width") {
                Some([0.0, 1.0, 1.0, 1.0])
            } else if lower.contains("height") {
                Some([1.0, 0.0, 1.0, 1.0])
            } else {
                None
            }
        });
        let callout = match line {
            Some([x1, y1, x2, y2]) => Callout {
                view,
                kind: CalloutKind::Measurement,
                x: (x1 + x2) / 2.0,
                y: (y1 + y2) / 2.0,
                text,
                bom_ref: None,
                pom_ref: Some(pom.code.clone()),
                line,
            },
            None => Callout {
                pom_ref: Some(pom.code.clone()),
                ..note(text)
            },
        };
        callouts.push(callout);
    }
    if let Some(analysis) = analysis {
        for color in &analysis.colors {
            let hex = color.hex.clone().unwrap_or_default();
            let text = format!("colour {} {hex}", color.name)
                .trim_end()
                .to_string();
            let spot = analysis
                .regions
                .iter()
                .filter(|r| r.kind == RegionKind::ColourZone && r.name == color.name)
                .find_map(|r| frame?.point_of(r.x, r.y));
            callouts.push(match spot {
                Some((x, y)) => Callout {
                    kind: CalloutKind::Colour,
                    x,
                    y,
                    ..note(text)
                },
                None => note(text),
            });
        }
        for region in analysis
            .regions
            .iter()
            .filter(|r| r.kind != RegionKind::ColourZone)
        {
            let text = format!("{}: {}", region.kind.words(), region.name);
            callouts.push(match frame.and_then(|f| f.point_of(region.x, region.y)) {
                Some((x, y)) => Callout {
                    kind: CalloutKind::Part,
                    x,
                    y,
                    ..note(text)
                },
                None => note(text),
            });
        }
    }
    for shot in close_ups.iter().filter(|c| c.view == view) {
        let [x, y, w, h] = shot.crop.map(f64::from);
        let middle = frame.and_then(|f| f.point_of(x + w / 2.0, y + h / 2.0));
        // "front — centre: navy" is "centre: navy" on the front's own flat.
        let prefix = format!("{} — ", view.as_str());
        let detail = shot.detail.strip_prefix(&prefix).unwrap_or(shot.detail);
        let text = format!("close-up {}: {detail}", shot.number);
        callouts.push(match middle {
            Some((x, y)) => Callout {
                kind: CalloutKind::CloseUp,
                x,
                y,
                ..note(text)
            },
            None => note(text),
        });
    }
    for line in &tech_pack.bill_of_materials {
        let material = line
            .material
            .value
            .clone()
            .unwrap_or_else(|| "material unknown".into());
        callouts.push(Callout {
            bom_ref: Some(line.id.clone()),
            ..note(format!(
                "{} {}: {material}, {}",
                line.id, line.placement, line.color.name
            ))
        });
    }
    callouts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_measured_line_is_placed_on_the_drawing_where_it_was_taken() {
        let measured = MeasuredAt {
            view: View::Front,
            x1: 150.0,
            y1: 300.0,
            x2: 550.0,
            y2: 300.0,
        };
        // The drawing traces the photo from (100, 100), 500 x 400 px.
        let frame = DrawingFrame {
            x: 100.0,
            y: 100.0,
            w: 500.0,
            h: 400.0,
        };
        assert_eq!(
            frame.line_of(&measured, View::Front),
            Some([0.1, 0.5, 0.9, 0.5])
        );
        assert_eq!(frame.line_of(&measured, View::Side), None, "another view's");
        assert_eq!(frame.point_of(50.0, 300.0), None, "left of the drawing");
    }
}
