//! A flat as SVG: the drawing (its PNG embedded) on a white canvas with the dimension lines
//! and numbered callouts of its [`FlatLayout`].

use std::fmt::Write;

use base64::Engine;

use super::layout::{Align, FlatLayout, Label, Point, TextLine, lay_out};
use crate::techpack::Callout;

/// Callouts and their leaders.
const CALLOUT_COLOUR: &str = "#c8102e";
/// Dimension lines, extension lines and their values.
const DIMENSION_COLOUR: &str = "#0b4f9c";

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The SVG of a `width` x `height` drawing (its PNG bytes) with `callouts`. It has no size
/// of its own, only a view box, so a browser shows it whole in whatever window it has.
pub fn render_svg(png: &[u8], width: u32, height: u32, callouts: &[Callout]) -> String {
    let layout = lay_out((width, height), callouts);
    let data = base64::engine::general_purpose::STANDARD.encode(png);
    let mut svg = String::new();
    let (w, h) = (layout.width, layout.height);
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w:.1} {h:.1}" font-family="Helvetica, Arial, 'Liberation Sans', sans-serif" font-size="{:.1}">"#,
        layout.font
    );
    let _ = writeln!(
        svg,
        r#"  <rect width="{w:.1}" height="{h:.1}" fill="white"/>"#
    );
    let d = layout.drawing;
    let _ = writeln!(
        svg,
        r#"  <image class="drawing" href="data:image/png;base64,{data}" x="{:.1}" y="{:.1}" width="{:.1}" height="{:.1}"/>"#,
        d.x, d.y, d.w, d.h
    );
    dimensions(&mut svg, &layout);
    let _ = writeln!(
        svg,
        r#"  <g class="callouts" stroke="{CALLOUT_COLOUR}" stroke-width="{:.2}">"#,
        layout.stroke
    );
    for label in &layout.labels {
        callout(&mut svg, &layout, label);
    }
    svg.push_str("  </g>\n</svg>\n");
    svg
}

fn dimensions(svg: &mut String, layout: &FlatLayout) {
    let _ = writeln!(
        svg,
        r#"  <g class="dimensions" stroke="{DIMENSION_COLOUR}" fill="{DIMENSION_COLOUR}" stroke-width="{:.2}">"#,
        layout.stroke
    );
    for dimension in &layout.dimensions {
        let pom = dimension.pom_ref.as_deref().map(escape).unwrap_or_default();
        let _ = writeln!(svg, r#"    <g class="dimension" data-pom="{pom}">"#);
        for extension in &dimension.extensions {
            line(svg, "extension", extension.from, extension.to, Some(0.6));
        }
        line(
            svg,
            "dimension-line",
            dimension.line.from,
            dimension.line.to,
            None,
        );
        for [tip, a, b] in &dimension.arrows {
            let _ = writeln!(
                svg,
                r#"      <polygon points="{:.1},{:.1} {:.1},{:.1} {:.1},{:.1}" stroke="none"/>"#,
                tip.x, tip.y, a.x, a.y, b.x, b.y
            );
        }
        text(svg, &dimension.text, DIMENSION_COLOUR, true);
        svg.push_str("    </g>\n");
    }
    svg.push_str("  </g>\n");
}

fn callout(svg: &mut String, layout: &FlatLayout, label: &Label) {
    let _ = writeln!(
        svg,
        r#"    <g class="callout" data-number="{}" data-kind="{}">"#,
        label.number,
        label.kind.as_str()
    );
    if let Some(leader) = label.leader {
        line(svg, "leader", leader.from, leader.to, None);
        let _ = writeln!(
            svg,
            r#"      <circle class="spot" cx="{:.1}" cy="{:.1}" r="{:.1}" fill="{CALLOUT_COLOUR}" stroke="white" stroke-width="{:.2}"/>"#,
            leader.to.x,
            leader.to.y,
            layout.font * 0.22,
            layout.stroke * 0.6
        );
    }
    let _ = writeln!(
        svg,
        r#"      <circle class="badge" cx="{:.1}" cy="{:.1}" r="{:.1}" fill="{CALLOUT_COLOUR}" stroke="none"/>"#,
        label.badge.x, label.badge.y, layout.badge_radius
    );
    let number = label.number_text(layout.font);
    let _ = writeln!(
        svg,
        r#"      <text class="number" x="{:.1}" y="{:.1}" font-size="{:.1}" font-weight="bold" text-anchor="middle" fill="white" stroke="none">{}</text>"#,
        number.at.x, number.at.y, number.size, number.text
    );
    for line in &label.lines {
        text(svg, line, "#1a1a1a", false);
    }
    svg.push_str("    </g>\n");
}

fn line(svg: &mut String, class: &str, from: Point, to: Point, width: Option<f64>) {
    let width = width
        .map(|w| format!(r#" stroke-width="{w:.2}""#))
        .unwrap_or_default();
    let _ = writeln!(
        svg,
        r#"      <line class="{class}" x1="{:.1}" y1="{:.1}" x2="{:.1}" y2="{:.1}"{width}/>"#,
        from.x, from.y, to.x, to.y
    );
}

/// One line of text, on a white halo so it reads over any line that passes under it.
fn text(svg: &mut String, line: &TextLine, colour: &str, halo: bool) {
    let anchor = match line.align {
        Align::Start => "start",
        Align::Middle => "middle",
        Align::End => "end",
    };
    let (x, y) = (line.at.x, line.at.y);
    let turn = if line.upwards {
        format!(r#" transform="rotate(-90 {x:.1} {y:.1})""#)
    } else {
        String::new()
    };
    let weight = if line.bold {
        r#" font-weight="bold""#
    } else {
        ""
    };
    let halo = if halo {
        format!(
            r#" stroke="white" stroke-width="{:.1}" paint-order="stroke""#,
            line.size / 5.0
        )
    } else {
        r#" stroke="none""#.to_string()
    };
    let _ = writeln!(
        svg,
        r#"      <text x="{x:.1}" y="{y:.1}" font-size="{:.1}" text-anchor="{anchor}" fill="{colour}"{weight}{halo}{turn}>{}</text>"#,
        line.size,
        escape(&line.text)
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::techpack::{CalloutKind, View};

    #[test]
    fn every_callout_is_drawn_once_and_its_text_escaped() {
        let base = Callout {
            view: View::Front,
            kind: CalloutKind::Note,
            x: 0.0,
            y: 0.0,
            text: "BOM-1 <body> & lid".into(),
            bom_ref: Some("BOM-1".into()),
            pom_ref: None,
            line: None,
        };
        let callouts = vec![
            Callout {
                kind: CalloutKind::Measurement,
                text: "A width: 120 mm".into(),
                bom_ref: None,
                pom_ref: Some("A".into()),
                line: Some([0.1, 0.9, 0.9, 0.9]),
                ..base.clone()
            },
            Callout {
                kind: CalloutKind::Colour,
                x: 0.3,
                y: 0.4,
                text: "colour navy #263350".into(),
                bom_ref: None,
                ..base.clone()
            },
            base,
        ];
        let svg = render_svg(b"png", 400, 300, &callouts);
        assert!(
            svg.contains(">BOM-1 &lt;body&gt; &amp; lid</text>"),
            "{svg}"
        );
        assert!(svg.contains(">A width: 120 mm</text>"));
        assert!(svg.contains(">colour navy #263350</text>"));
        assert_eq!(svg.matches(r#"<g class="callout""#).count(), 2);
        assert_eq!(
            svg.matches(r#"<line class="leader""#).count(),
            1,
            "a note has none"
        );
        assert_eq!(svg.matches(r#"<g class="dimension""#).count(), 1);
        assert!(svg.contains("data:image/png;base64,cG5n"));
    }
}
