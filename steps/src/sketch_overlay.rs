//! Callouts on technical flats: chosen from the tech pack as data, drawn as an SVG overlay.

use std::fmt::Write;

use base64::Engine;

use crate::techpack::{Callout, MeasuredAt, TechPack, View};

fn format_value(value: f64, unit: &str) -> String {
    if value.fract() == 0.0 {
        format!("{value:.0} {unit}")
    } else {
        format!("{value:.1} {unit}")
    }
}

/// The part of a photo a drawing covers, in photo pixels: a traced flat covers the
/// product's box plus a margin, so a place measured on the photo has a place on the flat.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DrawingFrame {
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
}

impl DrawingFrame {
    /// `measured` in 0..1 of the drawing, when it was taken on `view` and lies on it.
    fn line_of(&self, measured: &MeasuredAt, view: View) -> Option<[f64; 4]> {
        if measured.view != view || self.w <= 0.0 || self.h <= 0.0 {
            return None;
        }
        let line = [
            (measured.x1 - self.x) / self.w,
            (measured.y1 - self.y) / self.h,
            (measured.x2 - self.x) / self.w,
            (measured.y2 - self.y) / self.h,
        ];
        line.iter()
            .all(|v| v.is_finite() && (-0.01..=1.01).contains(v))
            .then(|| line.map(|v| v.clamp(0.0, 1.0)))
    }
}

/// The callouts for one view: its measurements as dimension lines (where they were measured
/// when the drawing traces the photo, `frame`; otherwise along the edges), then materials and
/// colours down the left edge, each linked to its BOM line or POM.
pub fn callouts_for_view(
    tech_pack: &TechPack,
    view: View,
    frame: Option<DrawingFrame>,
) -> Vec<Callout> {
    let mut callouts = Vec::new();
    let analysis = tech_pack.views.iter().find(|v| v.view == view);
    let poms = analysis
        .map(|a| a.dimensions.as_slice())
        .unwrap_or_default();
    for pom in poms {
        let Some(value) = pom.value else { continue };
        let text = format!(
            "{} {}: {}",
            pom.code,
            pom.name,
            format_value(value, &pom.unit)
        );
        let line = frame
            .zip(pom.measured_at.as_ref())
            .and_then(|(frame, measured)| frame.line_of(measured, view));
        let lower = pom.name.to_lowercase();
        let (x, y) = if let Some([x1, y1, x2, y2]) = line {
            ((x1 + x2) / 2.0, (y1 + y2) / 2.0)
        } else if lower.contains("width") {
            (0.5, 0.96)
        } else if lower.contains("height") {
            (0.96, 0.5)
        } else {
            (0.5, 0.04 + 0.05 * callouts.len() as f64)
        };
        callouts.push(Callout {
            view,
            x,
            y,
            text,
            bom_ref: None,
            pom_ref: Some(pom.code.clone()),
            line,
        });
    }
    let mut row = 0.0;
    for line in &tech_pack.bill_of_materials {
        let material = line
            .material
            .value
            .clone()
            .unwrap_or_else(|| "material unknown".into());
        callouts.push(Callout {
            view,
            x: 0.03,
            y: 0.1 + row,
            text: format!(
                "{} {}: {material}, {}",
                line.id, line.placement, line.color.name
            ),
            bom_ref: Some(line.id.clone()),
            pom_ref: None,
            line: None,
        });
        row += 0.07;
    }
    if let Some(analysis) = analysis {
        for color in analysis.colors.iter().take(4) {
            let hex = color.hex.clone().unwrap_or_default();
            callouts.push(Callout {
                view,
                x: 0.03,
                y: 0.1 + row,
                text: format!("colour {} {hex}", color.name),
                bom_ref: None,
                pom_ref: None,
                line: None,
            });
            row += 0.07;
        }
    }
    callouts
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// An SVG of the drawing (embedded PNG) with dimension lines and labelled callouts.
pub fn render_svg(png: &[u8], width: u32, height: u32, callouts: &[Callout]) -> String {
    let (w, h) = (f64::from(width), f64::from(height));
    let font = (h.min(w) / 32.0).clamp(10.0, 28.0);
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" height="{height}" font-family="Helvetica, Arial, sans-serif" font-size="{font:.0}">"#
    );
    let data = base64::engine::general_purpose::STANDARD.encode(png);
    let _ = writeln!(
        svg,
        r#"  <image href="data:image/png;base64,{data}" x="0" y="0" width="{width}" height="{height}"/>"#
    );
    let _ = writeln!(
        svg,
        r##"  <g stroke="#d0021b" fill="#d0021b" stroke-width="{:.1}">"##,
        (font / 8.0).max(1.0)
    );
    for callout in callouts {
        let (x, y) = (callout.x * w, callout.y * h);
        let text = escape(&callout.text);
        if let Some(line) = callout.line {
            measured_line(&mut svg, callout, line, (w, h), font);
        } else if callout.pom_ref.is_some() && callout.y > 0.9 {
            // Width: a dimension line across the bottom.
            let _ = writeln!(
                svg,
                r#"    <line x1="{:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}"/>"#,
                w * 0.08,
                w * 0.92
            );
            let _ = writeln!(
                svg,
                r#"    <text x="{x:.1}" y="{:.1}" text-anchor="middle" stroke="none">{text}</text>"#,
                y - font * 0.4
            );
        } else if callout.pom_ref.is_some() && callout.x > 0.9 {
            // Height: a dimension line down the right side.
            let _ = writeln!(
                svg,
                r#"    <line x1="{x:.1}" y1="{:.1}" x2="{x:.1}" y2="{:.1}"/>"#,
                h * 0.08,
                h * 0.92
            );
            let _ = writeln!(
                svg,
                r#"    <text x="{:.1}" y="{y:.1}" text-anchor="middle" stroke="none" transform="rotate(-90 {:.1} {y:.1})">{text}</text>"#,
                x - font * 0.4,
                x - font * 0.4
            );
        } else {
            let _ = writeln!(
                svg,
                r#"    <circle cx="{x:.1}" cy="{y:.1}" r="{:.1}"/>"#,
                font / 4.0
            );
            let _ = writeln!(
                svg,
                r#"    <text x="{:.1}" y="{:.1}" stroke="none">{text}</text>"#,
                x + font * 0.5,
                y + font * 0.35
            );
        }
    }
    svg.push_str("  </g>\n</svg>\n");
    svg
}

/// A dimension line where the measurement was taken: the line with a tick across each end
/// and its code and value beside its middle, on a white halo so it reads over the drawing.
fn measured_line(svg: &mut String, callout: &Callout, line: [f64; 4], size: (f64, f64), font: f64) {
    let (w, h) = size;
    let (x1, y1, x2, y2) = (line[0] * w, line[1] * h, line[2] * w, line[3] * h);
    let length = ((x2 - x1).powi(2) + (y2 - y1).powi(2)).sqrt().max(1.0);
    // Unit vector across the line, for the end ticks and the label's offset.
    let (nx, ny) = (-(y2 - y1) / length, (x2 - x1) / length);
    let tick = font * 0.5;
    let _ = writeln!(
        svg,
        r#"    <line x1="{x1:.1}" y1="{y1:.1}" x2="{x2:.1}" y2="{y2:.1}"/>"#
    );
    for (x, y) in [(x1, y1), (x2, y2)] {
        let _ = writeln!(
            svg,
            r#"    <line x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}"/>"#,
            x - nx * tick,
            y - ny * tick,
            x + nx * tick,
            y + ny * tick
        );
    }
    let value = callout.text.rsplit(": ").next().unwrap_or_default();
    let label = match &callout.pom_ref {
        Some(code) => escape(&format!("{code} {value}")),
        None => escape(&callout.text),
    };
    let vertical = (y2 - y1).abs() > (x2 - x1).abs();
    let (mx, my) = ((x1 + x2) / 2.0, (y1 + y2) / 2.0);
    let (lx, ly, rotate) = if vertical {
        let lx = mx - font * 0.5;
        (
            lx,
            my,
            format!(r#" transform="rotate(-90 {lx:.1} {my:.1})""#),
        )
    } else {
        (mx, my - font * 0.5, String::new())
    };
    let _ = writeln!(
        svg,
        r#"    <text x="{lx:.1}" y="{ly:.1}" text-anchor="middle" font-weight="bold" stroke="white" stroke-width="{:.1}" paint-order="stroke"{rotate}>{label}</text>"#,
        font / 4.0
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callout_text_is_escaped_and_every_callout_is_drawn() {
        let callouts = vec![
            Callout {
                view: View::Front,
                x: 0.5,
                y: 0.96,
                text: "A width: 120 mm".into(),
                bom_ref: None,
                pom_ref: Some("A".into()),
                line: None,
            },
            Callout {
                view: View::Front,
                x: 0.03,
                y: 0.1,
                text: "BOM-1 <body> & lid".into(),
                bom_ref: Some("BOM-1".into()),
                pom_ref: None,
                line: None,
            },
        ];
        let svg = render_svg(b"png", 400, 300, &callouts);
        assert!(svg.contains("BOM-1 &lt;body&gt; &amp; lid"));
        assert!(svg.contains("A width: 120 mm"));
        assert_eq!(svg.matches("<text").count(), 2);
        assert!(svg.contains("data:image/png;base64,cG5n"));
    }

    #[test]
    fn a_measured_point_is_drawn_where_it_was_measured() {
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
        let line = frame.line_of(&measured, View::Front).unwrap();
        assert_eq!(line, [0.1, 0.5, 0.9, 0.5]);
        assert_eq!(frame.line_of(&measured, View::Side), None, "another view's");
        let callout = Callout {
            view: View::Front,
            x: 0.5,
            y: 0.5,
            text: "WB base width: 347.2 mm".into(),
            bom_ref: None,
            pom_ref: Some("WB".into()),
            line: Some(line),
        };
        let svg = render_svg(b"png", 1000, 800, &[callout]);
        // The line runs across the drawing at half its height, not along its bottom edge.
        assert!(
            svg.contains(r#"<line x1="100.0" y1="400.0" x2="900.0" y2="400.0"/>"#),
            "{svg}"
        );
        assert!(svg.contains(">WB 347.2 mm</text>"), "{svg}");
    }
}
