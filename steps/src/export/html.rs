//! The tech pack as one self-contained HTML page (images inlined), readable in any browser
//! and printable for the factory floor. The page is `templates/techpack.html` (minijinja,
//! compiled into the binary), rendered with HTML auto-escaping: every value from the tech
//! pack is text, whatever it holds; only the sketches' SVG, which we draw, goes in as markup.

use std::collections::HashMap;
use std::sync::LazyLock;

use base64::Engine;
use minijinja::Environment;
use serde::Serialize;

use super::Bundle;
use super::tables::{self, UNKNOWN};
use crate::techpack::{Color, Estimate, Part, Quantity, Source, TechPack};

const TEMPLATE: &str = "techpack.html";

/// The environment holding the page's template, parsed once. The `.html` name turns on
/// minijinja's HTML auto-escaping.
static TEMPLATES: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.add_template(TEMPLATE, include_str!("templates/techpack.html"))
        .expect("templates/techpack.html parses");
    env
});

/// Images by hash, as `data:` URLs.
#[derive(Default)]
pub struct Images(HashMap<String, String>);

impl Images {
    pub fn insert(&mut self, hash: &str, mime: &str, bytes: Vec<u8>) {
        let data = base64::engine::general_purpose::STANDARD.encode(bytes);
        self.0
            .insert(hash.to_string(), format!("data:{mime};base64,{data}"));
    }

    fn url(&self, hash: &str) -> &str {
        self.0.get(hash).map(String::as_str).unwrap_or("")
    }
}

/// A section of the page, in page order.
#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum Section<'a> {
    Table {
        title: &'a str,
        /// `meta` for the product's label/value table.
        class: Option<&'static str>,
        header: Vec<String>,
        rows: Vec<Vec<Cell>>,
    },
    Photos {
        photos: Vec<Photo<'a>>,
    },
    Sketches {
        sketches: Vec<Sketch<'a>>,
    },
    CloseUps {
        close_ups: Vec<CloseUp<'a>>,
    },
    NotProduced {
        part: &'static str,
        title: &'static str,
        reason: &'a str,
    },
}

/// One table cell: text, with an optional colour swatch, code, note and source badge.
#[derive(Serialize, Default)]
struct Cell {
    text: String,
    /// A `#RRGGBB` colour (anything else is never put in the page's CSS).
    swatch: Option<String>,
    code: Option<String>,
    note: Option<String>,
    badge: Option<Badge>,
}

#[derive(Serialize)]
struct Badge {
    class: &'static str,
    label: &'static str,
    confidence: String,
}

#[derive(Serialize)]
struct Photo<'a> {
    url: &'a str,
    view: &'static str,
    version: u32,
    width: u32,
    height: u32,
    hash: &'a str,
}

#[derive(Serialize)]
struct Sketch<'a> {
    svg: &'a str,
    view: &'static str,
}

/// The page's print rules, matching the PDF's: paper, the running header's texts (as CSS
/// strings) and how large a flat prints.
#[derive(Serialize)]
struct Print {
    /// The `@page` size, e.g. `A4 landscape`.
    size: &'static str,
    /// The running header's left and right texts, as quoted CSS strings.
    header_left: String,
    header_right: String,
    /// The flat's box on its page, in mm.
    flat_width_mm: f64,
    flat_height_mm: f64,
}

/// Height of a flat printed on its own page, in mm: the page's height less its margins,
/// the section heading and the caption, on A4 and letter alike. A flat's text is sized to
/// print at 8 pt in a box no larger than this (`flat::layout::PRINT_BOX_PT`).
const FLAT_HEIGHT_MM: f64 = 150.0;

impl Print {
    fn of(bundle: &Bundle) -> Print {
        let meta = &bundle.tech_pack.meta;
        let edition = bundle.edition;
        let style = meta.style_id.as_deref().unwrap_or(UNKNOWN);
        let season = meta.season.as_deref().unwrap_or(UNKNOWN);
        Print {
            header_left: css_string(&format!(
                "{} · Style {style} · Season {season}",
                meta.product_name
            )),
            header_right: css_string(&format!("Version {} · {}", edition.version, edition.date)),
            ..Print::of_paper(edition.paper)
        }
    }

    /// The page size and the flat's box on `paper`, without header texts.
    fn of_paper(paper: super::pdf::Paper) -> Print {
        let (size, page_width_mm) = match paper {
            super::pdf::Paper::A4 => ("A4 landscape", 297.0),
            super::pdf::Paper::Letter => ("letter landscape", 279.4),
        };
        Print {
            size,
            header_left: String::new(),
            header_right: String::new(),
            // The page's side margins are 12 mm each.
            flat_width_mm: page_width_mm - 24.0,
            flat_height_mm: FLAT_HEIGHT_MM,
        }
    }
}

/// `text` as a double-quoted CSS string: anything but letters, digits, spaces and plain
/// punctuation is a hex escape, so no text can end the string or the style sheet.
fn css_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        if c.is_ascii_alphanumeric() || " -_.,:;()/#+".contains(c) {
            out.push(c);
        } else {
            out.push_str(&format!("\\{:x} ", u32::from(c)));
        }
    }
    out.push('"');
    out
}

#[derive(Serialize)]
struct CloseUp<'a> {
    url: &'a str,
    detail: &'a str,
    notes: &'a str,
}

impl Cell {
    fn text(text: impl Into<String>) -> Cell {
        Cell {
            text: text.into(),
            ..Cell::default()
        }
    }

    fn with_badge(mut self, source: Source, confidence: f64) -> Cell {
        let (class, label) = match source {
            Source::EstimatedFromPhoto => ("est", "estimated"),
            Source::Given => ("given", "given"),
            Source::Measured => ("measured", "measured"),
            Source::Unknown => ("unknown", "unknown"),
        };
        self.badge = Some(Badge {
            class,
            label,
            confidence: format!("{confidence:.2}"),
        });
        self
    }

    fn badge(source: Source, confidence: f64) -> Cell {
        Cell::text("").with_badge(source, confidence)
    }

    fn estimate(e: &Estimate) -> Cell {
        Cell::text(e.value.as_deref().unwrap_or(UNKNOWN)).with_badge(e.source, e.confidence)
    }

    fn quantity(q: &Quantity) -> Cell {
        Cell::text(tables::quantity(q)).with_badge(q.source, q.confidence)
    }

    fn color(c: &Color) -> Cell {
        let hex = c.hex.as_deref().filter(|hex| is_hex_color(hex));
        let refs: Vec<String> = [
            c.pantone.as_ref().map(|p| format!("Pantone {p}")),
            c.ral.as_ref().map(|r| format!("RAL {r}")),
        ]
        .into_iter()
        .flatten()
        .collect();
        Cell {
            text: c.name.clone(),
            swatch: Some(hex.unwrap_or("#ffffff").to_string()),
            code: c.hex.clone(),
            note: (!refs.is_empty()).then(|| refs.join(", ")),
            badge: None,
        }
        .with_badge(c.source, c.confidence)
    }

    fn optional(value: &Option<String>) -> Cell {
        Cell::text(value.as_deref().unwrap_or(UNKNOWN))
    }
}

/// `#RRGGBB`: the only colour text that reaches the page's CSS.
fn is_hex_color(text: &str) -> bool {
    text.len() == 7 && text.starts_with('#') && text[1..].chars().all(|c| c.is_ascii_hexdigit())
}

fn table<'a>(title: &'a str, header: &[&str], rows: Vec<Vec<Cell>>) -> Section<'a> {
    Section::Table {
        title,
        class: None,
        header: header.iter().map(|h| h.to_string()).collect(),
        rows,
    }
}

/// A table of the factory files, as plain text cells.
fn text_table<'a>(table: tables::Table) -> Section<'a> {
    Section::Table {
        title: table.title,
        class: None,
        header: table.header,
        rows: table
            .rows
            .into_iter()
            .map(|row| row.into_iter().map(Cell::text).collect())
            .collect(),
    }
}

/// In place of a part the run could not make: its heading and why.
fn not_produced<'a>(tp: &'a TechPack, part: Part, sections: &mut Vec<Section<'a>>) {
    for missing in tp.not_produced.iter().filter(|m| m.part == part) {
        sections.push(Section::NotProduced {
            part: part.as_str(),
            title: part.title(),
            reason: &missing.reason,
        });
    }
}

fn product(tp: &TechPack) -> Section<'_> {
    let meta = &tp.meta;
    let row = |label: &str, value: Cell| vec![Cell::text(label), value];
    Section::Table {
        title: "Product",
        class: Some("meta"),
        header: Vec::new(),
        rows: vec![
            row("Product", Cell::text(&meta.product_name)),
            row("Style", Cell::optional(&meta.style_id)),
            row("Category", Cell::estimate(&meta.category)),
            row("Subcategory", Cell::estimate(&meta.subcategory)),
            row("Units", Cell::text(&meta.units)),
        ],
    }
}

/// The tech pack's own sections, from colourways to views.
fn tech_pack_tables(tp: &TechPack) -> Vec<Section<'_>> {
    let colors = tp
        .colorways
        .iter()
        .flat_map(|cw| {
            cw.colors
                .iter()
                .map(move |c| vec![Cell::text(&cw.name), Cell::color(c)])
        })
        .collect();
    let bill_of_materials = tp
        .bill_of_materials
        .iter()
        .map(|l| {
            vec![
                Cell::text(&l.id),
                Cell::text(&l.placement),
                Cell::estimate(&l.material),
                Cell::estimate(&l.composition),
                Cell::quantity(&l.weight_or_thickness),
                Cell::estimate(&l.finish),
                Cell::color(&l.color),
                Cell::quantity(&l.consumption),
            ]
        })
        .collect();
    // The factory files' table, its source and confidence as one badge.
    let poms = tables::points_of_measure(tp);
    let figures = poms.header.len() - tables::POM_PROVENANCE_COLUMNS;
    let mut pom_header: Vec<&str> = poms.header[..figures].iter().map(String::as_str).collect();
    pom_header.push("Source");
    let points_of_measure = poms
        .rows
        .iter()
        .zip(&tp.points_of_measure)
        .map(|(row, p)| {
            let mut cells: Vec<Cell> = row[..figures].iter().map(Cell::text).collect();
            cells.push(Cell::badge(p.source, p.confidence));
            cells
        })
        .collect();
    let revisions = tables::revisions(tp);
    let construction = tp
        .construction
        .iter()
        .map(|c| {
            vec![
                Cell::text(&c.operation),
                Cell::text(&c.location),
                Cell::optional(&c.seam_type),
                Cell::optional(&c.stitch_class_iso4915),
                Cell::text(
                    c.stitches_per_inch
                        .map_or_else(|| UNKNOWN.into(), tables::number),
                ),
                Cell::optional(&c.joinery_or_fastening),
                Cell::badge(c.source, c.confidence),
            ]
        })
        .collect();
    let labels = tp
        .labels_and_packaging
        .iter()
        .map(|l| {
            vec![
                Cell::text(&l.kind),
                Cell::text(&l.placement),
                Cell::text(&l.content),
                Cell::badge(l.source, l.confidence),
            ]
        })
        .collect();
    let category_specific = tp
        .category_specific
        .iter()
        .map(|v| {
            let value = format!("{} {}", v.value, v.unit.as_deref().unwrap_or(""));
            vec![
                Cell::text(&v.name),
                Cell::text(value.trim_end()),
                Cell::badge(v.source, v.confidence),
            ]
        })
        .collect();
    let views = tp
        .views
        .iter()
        .map(|v| {
            vec![
                Cell::text(v.view.as_str()),
                Cell::text(&v.summary),
                Cell::text(v.design_elements.join("; ")),
                Cell::text(format!("{:.2}", v.confidence)),
            ]
        })
        .collect();
    vec![
        table("Colourways", &["Colourway", "Colour"], colors),
        table(
            "Bill of materials",
            &[&["Line"], &tables::BOM_COLUMNS[..]].concat(),
            bill_of_materials,
        ),
        table("Points of measure", &pom_header, points_of_measure),
        table(
            "Construction",
            &[
                "Operation",
                "Location",
                "Seam",
                "ISO 4915 stitch",
                "SPI",
                "Joinery / fastening",
                "Source",
            ],
            construction,
        ),
        table(
            "Labels and packaging",
            &["Kind", "Placement", "Content", "Source"],
            labels,
        ),
        table(
            "Category-specific",
            &["Attribute", "Value", "Source"],
            category_specific,
        ),
        table(
            "Views",
            &["View", "Summary", "Design elements", "Confidence"],
            views,
        ),
        text_table(revisions),
    ]
}

/// The graded size chart: the factory files' table, each size's value with its unit.
fn size_chart(chart: &crate::techpack::SizeChart) -> Section<'static> {
    text_table(tables::size_chart_with_units(chart))
}

/// The page; `svgs` are the sketches' overlays, in the order of `bundle.sketches`.
pub fn render(bundle: &Bundle, images: &Images, svgs: &[String]) -> String {
    let tp = bundle.tech_pack;
    let print = Print::of(bundle);
    let mut sections = vec![product(tp)];
    sections.push(Section::Photos {
        photos: bundle
            .photos
            .iter()
            .map(|photo| Photo {
                url: images.url(&photo.image_hash),
                view: photo.view.as_str(),
                version: photo.version,
                width: photo.width,
                height: photo.height,
                hash: &photo.image_hash[..16.min(photo.image_hash.len())],
            })
            .collect(),
    });
    not_produced(tp, Part::Sketches, &mut sections);
    if !bundle.sketches.is_empty() {
        sections.push(Section::Sketches {
            sketches: bundle
                .sketches
                .iter()
                .zip(svgs)
                .map(|(sketch, svg)| Sketch {
                    svg: svg.trim_start_matches(|c| c != '<'),
                    view: sketch.view.as_str(),
                })
                .collect(),
        });
    }
    sections.extend(tech_pack_tables(tp));
    not_produced(tp, Part::SizeChart, &mut sections);
    if let Some(chart) = &bundle.tech_pack.size_chart {
        sections.push(size_chart(chart));
    }
    not_produced(tp, Part::CloseUps, &mut sections);
    if !bundle.close_ups.is_empty() {
        sections.push(Section::CloseUps {
            close_ups: bundle
                .close_ups
                .iter()
                .map(|close_up| CloseUp {
                    url: images.url(&close_up.image_hash),
                    detail: &close_up.detail,
                    notes: &close_up.analysis.notes,
                })
                .collect(),
        });
    }
    let title = format!("Tech pack — {}", tp.meta.product_name);
    let mut page = TEMPLATES
        .get_template(TEMPLATE)
        .and_then(|template| {
            template.render(minijinja::context! {
                title => title,
                sections => sections,
                print => print,
                version => bundle.edition.version,
                date => bundle.edition.date,
            })
        })
        .expect("the page's template renders any tech pack");
    page.push('\n');
    page
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::export::Edition;
    use crate::storage::CloseUpRecord;
    use crate::techpack::CloseUpAnalysis;

    const HOSTILE: &str = r#"<script>alert("x")</script> & 'quoted'"#;

    /// A tech pack whose every free-text field a person or a model fills holds `HOSTILE`.
    fn hostile_tech_pack() -> TechPack {
        let estimate = json!({ "value": HOSTILE, "source": "given", "confidence": 1.0 });
        let color = json!({ "name": HOSTILE, "hex": format!("#fff\" onload=\"{HOSTILE}"),
            "pantone": HOSTILE, "ral": null, "source": "given", "confidence": 1.0 });
        serde_json::from_value(json!({
            "meta": { "style_id": HOSTILE, "product_name": HOSTILE, "category": estimate,
                "subcategory": estimate, "units": "metric", "source_photos": [] },
            "views": [],
            "bill_of_materials": [{ "id": HOSTILE, "placement": HOSTILE, "material": estimate,
                "composition": estimate, "finish": estimate, "color": color,
                "weight_or_thickness": { "value": 340, "unit": HOSTILE, "source": "given", "confidence": 1.0 },
                "consumption": { "value": null, "unit": null, "source": "unknown", "confidence": 0.0 } }],
            "points_of_measure": [{ "code": HOSTILE, "name": HOSTILE, "how_to_measure": HOSTILE,
                "value": 400, "unit": "mm", "tolerance": 5, "criticality": "major",
                "source": "measured", "confidence": 0.9 }],
            "construction": [],
            "colorways": [{ "name": HOSTILE, "colors": [color] }],
            "labels_and_packaging": [{ "kind": HOSTILE, "placement": HOSTILE, "content": HOSTILE,
                "source": "given", "confidence": 1.0 }],
            "callouts": [],
            "category_specific": [{ "name": HOSTILE, "value": HOSTILE, "unit": null,
                "source": "given", "confidence": 1.0 }],
            "not_produced": [{ "part": "sketches", "reason": HOSTILE }]
        }))
        .unwrap()
    }

    fn page(
        tp: &TechPack,
        close_ups: &[CloseUpRecord],
        chart: Option<&serde_json::Value>,
    ) -> String {
        let tp = &TechPack {
            size_chart: chart.map(|c| {
                let plugin: crate::techpack::PluginChart =
                    serde_json::from_value(c.clone()).expect("a chart");
                crate::techpack::SizeChart::graded(plugin, &tp.points_of_measure)
            }),
            ..tp.clone()
        };
        let edition = Edition {
            version: "1".into(),
            date: "2026-01-01".into(),
            paper: Default::default(),
        };
        let bundle = Bundle {
            tech_pack: tp,
            photos: &[],
            close_ups,
            sketches: &[],
            edition: &edition,
        };
        render(&bundle, &Images::default(), &[])
    }

    #[test]
    fn a_hostile_string_in_any_field_comes_out_as_text() {
        let tp = hostile_tech_pack();
        let close_up = CloseUpRecord {
            id: "c1".into(),
            product_id: "p".into(),
            analysis_id: "a".into(),
            detail: HOSTILE.into(),
            image_hash: "h".into(),
            source_revision_id: "r".into(),
            crop: None,
            analysis: CloseUpAnalysis {
                detail: HOSTILE.into(),
                materials: vec![],
                construction: vec![],
                notes: HOSTILE.into(),
                confidence: 1.0,
            },
            provider: "local".into(),
            model: "m".into(),
            created_at: 0,
        };
        let chart = json!({ "sizes": [HOSTILE], "base_size": HOSTILE, "unit": "mm",
            "points_of_measure": [{ "code": HOSTILE, "name": HOSTILE, "tolerance": 1,
                "values": { HOSTILE: 400 } }] });
        let html = page(&tp, &[close_up], Some(&chart));
        assert!(!html.contains("<script>"), "{html}");
        assert!(
            !html.contains("onload=\""),
            "an attribute broke out: {html}"
        );
        let escaped =
            "&lt;script&gt;alert(&quot;x&quot;)&lt;&#x2f;script&gt; &amp; &#x27;quoted&#x27;";
        // Title, product, BOM, POM, colourway, label, category-specific, the not-produced
        // reason, the size chart and the close-up (alt text, caption, notes) all show it.
        assert!(
            html.matches(escaped).count() >= 20,
            "{} escaped copies in {html}",
            html.matches(escaped).count()
        );
        assert!(
            html.contains(r#"<span class="swatch" style="background:#ffffff">"#),
            "a colour that is not #RRGGBB never reaches the CSS"
        );
    }

    #[test]
    fn the_page_keeps_its_sections_and_shared_number_formats() {
        let tp = hostile_tech_pack();
        let chart = json!({ "sizes": ["S", "M"], "base_size": "M", "unit": "mm",
            "points_of_measure": [{ "code": "A", "name": "width", "tolerance": 1,
                "values": { "S": 380, "M": 400.5 } }] });
        let html = page(&tp, &[], Some(&chart));
        for expected in [
            "<h2>Product</h2>",
            "<h2>Source photos</h2>",
            r#"<section class="not-produced" id="not-produced-sketches"><h2>Technical sketches</h2><p class="empty">not produced: "#,
            "<h2>Colourways</h2>",
            "<h2>Bill of materials</h2>",
            "<h2>Points of measure</h2>",
            "<td>400</td><td>mm</td><td>5</td><td>major</td>",
            "<h2>Construction</h2>\n<p class=\"empty\">Nothing recorded.</p></section>",
            "<h2>Labels and packaging</h2>",
            "<h2>Category-specific</h2>",
            "<h2>Views</h2>",
            "<h2>Graded size chart</h2>",
            "<th>M (base)</th>",
            "<td>400.5 mm</td>",
            r#"340 &lt;script&gt;"#,
            r#"<span class="badge measured" title="confidence 0.90">measured · 0.90</span>"#,
        ] {
            assert!(html.contains(expected), "missing {expected:?} in {html}");
        }
        assert!(
            !html.contains("<h2>Close-ups</h2>"),
            "no close-ups, no section"
        );
    }

    #[test]
    fn the_print_rules_follow_the_pdf() {
        let tp = hostile_tech_pack();
        let edition = Edition {
            version: "3".into(),
            date: "2026-01-01".into(),
            paper: crate::export::pdf::Paper::Letter,
        };
        let bundle = Bundle {
            tech_pack: &tp,
            photos: &[],
            close_ups: &[],
            sketches: &[],
            edition: &edition,
        };
        let html = render(&bundle, &Images::default(), &[]);
        assert_eq!(
            html.matches("</style>").count(),
            1,
            "no text ends the style sheet"
        );
        let style = &html[..html.find("</style>").unwrap()];
        for expected in [
            "@page{size:letter landscape;",
            r#"@top-right{content:"Version 3 \b7  2026-01-01""#,
            r#"@bottom-center{content:"page " counter(page) " of " counter(pages)"#,
            ".sketches,.sketches+section,.sketch+.sketch{break-before:page}",
            "tr,figure{break-inside:avoid}",
            // On screen too a flat is full width, not a thumbnail in the photos' grid.
            ".sketches .grid{grid-template-columns:1fr}",
        ] {
            assert!(style.contains(expected), "missing {expected:?} in {style}");
        }
        // The hostile style id and product name stay inside their CSS string.
        assert!(
            !style.contains("<script") && !style.contains(r#""x""#),
            "{style}"
        );
        assert!(html.contains("<p class=\"edition\">Version 3 · 2026-01-01</p>"));
    }

    #[test]
    fn a_flat_prints_no_smaller_than_its_layout_assumes() {
        // The layout sizes a flat's text to print at 8 pt in its print box; the page
        // prints flats in a box at least that large on either paper.
        const MM_PER_PT: f64 = 25.4 / 72.0;
        let (width_pt, height_pt) = crate::flat::layout::PRINT_BOX_PT;
        for paper in [
            super::super::pdf::Paper::A4,
            super::super::pdf::Paper::Letter,
        ] {
            let print = Print::of_paper(paper);
            assert!(print.flat_width_mm / MM_PER_PT >= width_pt, "{paper:?}");
            assert!(
                print.flat_height_mm / MM_PER_PT >= height_pt - 0.5,
                "{paper:?}"
            );
        }
    }
}
