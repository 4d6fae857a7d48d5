//! Callouts on technical flats: chosen from the tech pack as data, drawn as an SVG overlay.

use std::fmt::Write;

use base64::Engine;

use crate::techpack::{Callout, TechPack, View};

fn format_value(value: f64, unit: &str) -> String {
    if value.fract() == 0.0 {
        format!("{value:.0} {unit}")
    } else {
        format!("{value:.1} {unit}")
    }
}

/// The callouts for one view: its overall measurements as dimension lines, then materials and
/// colours down the left edge, each linked to its BOM line or POM.
pub fn callouts_for_view(tech_pack: &TechPack, view: View) -> Vec<Callout> {
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
        let lower = pom.name.to_lowercase();
        let (x, y) = if lower.contains("width") {
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
        if callout.pom_ref.is_some() && callout.y > 0.9 {
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
            },
            Callout {
                view: View::Front,
                x: 0.03,
                y: 0.1,
                text: "BOM-1 <body> & lid".into(),
                bom_ref: Some("BOM-1".into()),
                pom_ref: None,
            },
        ];
        let svg = render_svg(b"png", 400, 300, &callouts);
        assert!(svg.contains("BOM-1 &lt;body&gt; &amp; lid"));
        assert!(svg.contains("A width: 120 mm"));
        assert_eq!(svg.matches("<text").count(), 2);
        assert!(svg.contains("data:image/png;base64,cG5n"));
    }
}
