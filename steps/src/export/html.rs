//! The tech pack as one self-contained HTML page (images inlined), readable in any browser
//! and printable for the factory floor.

use std::collections::HashMap;
use std::fmt::Write;

use base64::Engine;

use super::Bundle;
use crate::techpack::{Color, Estimate, Part, Quantity, Source, TechPack};

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

fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn source_badge(source: Source, confidence: f64) -> String {
    let (class, label) = match source {
        Source::EstimatedFromPhoto => ("est", "estimated"),
        Source::Given => ("given", "given"),
        Source::Measured => ("measured", "measured"),
        Source::Unknown => ("unknown", "unknown"),
    };
    format!(
        r#"<span class="badge {class}" title="confidence {confidence:.2}">{label} · {confidence:.2}</span>"#
    )
}

fn estimate(e: &Estimate) -> String {
    format!(
        "{} {}",
        esc(e.value.as_deref().unwrap_or("—")),
        source_badge(e.source, e.confidence)
    )
}

fn quantity(q: &Quantity) -> String {
    match q.value {
        Some(v) => format!(
            "{v} {} {}",
            esc(q.unit.as_deref().unwrap_or("")),
            source_badge(q.source, q.confidence)
        ),
        None => format!("— {}", source_badge(q.source, q.confidence)),
    }
}

fn swatch(c: &Color) -> String {
    let hex = c.hex.clone().unwrap_or_else(|| "#ffffff".into());
    let refs: Vec<String> = [
        c.pantone.as_ref().map(|p| format!("Pantone {p}")),
        c.ral.as_ref().map(|r| format!("RAL {r}")),
    ]
    .into_iter()
    .flatten()
    .collect();
    format!(
        r#"<span class="swatch" style="background:{}"></span>{} <code>{}</code> {} {}"#,
        esc(&hex),
        esc(&c.name),
        esc(&hex),
        esc(&refs.join(", ")),
        source_badge(c.source, c.confidence)
    )
}

fn table(out: &mut String, title: &str, headers: &[&str], rows: Vec<Vec<String>>) {
    let _ = writeln!(out, "<section><h2>{}</h2>", esc(title));
    if rows.is_empty() {
        let _ = writeln!(out, r#"<p class="empty">Nothing recorded.</p></section>"#);
        return;
    }
    out.push_str("<table><thead><tr>");
    for h in headers {
        let _ = write!(out, "<th>{}</th>", esc(h));
    }
    out.push_str("</tr></thead><tbody>\n");
    for row in rows {
        out.push_str("<tr>");
        for cell in row {
            let _ = write!(out, "<td>{cell}</td>");
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table></section>\n");
}

fn opt(value: &Option<String>) -> String {
    esc(value.as_deref().unwrap_or("—"))
}

/// The graded size chart: a row per point of measure, a column per size.
fn size_chart(out: &mut String, chart: &serde_json::Value) {
    let sizes: Vec<&str> = chart["sizes"]
        .as_array()
        .map(|s| s.iter().filter_map(|v| v.as_str()).collect())
        .unwrap_or_default();
    let base = chart["base_size"].as_str().unwrap_or("");
    let mut headers = vec!["Code".to_string(), "Point of measure".to_string()];
    headers.extend(sizes.iter().map(|s| {
        if *s == base {
            format!("{s} (base)")
        } else {
            s.to_string()
        }
    }));
    headers.push("Tolerance".into());
    let rows = chart["points_of_measure"]
        .as_array()
        .map(|poms| {
            poms.iter()
                .map(|pom| {
                    let unit = pom["unit"].as_str().unwrap_or("");
                    let mut row = vec![
                        esc(pom["code"].as_str().unwrap_or("")),
                        esc(pom["name"].as_str().unwrap_or("")),
                    ];
                    row.extend(sizes.iter().map(|size| match &pom["values"][size] {
                        serde_json::Value::Null => "—".to_string(),
                        value => format!("{value} {}", esc(unit)),
                    }));
                    row.push(format!("± {} {}", pom["tolerance"], esc(unit)));
                    row
                })
                .collect()
        })
        .unwrap_or_default();
    let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
    table(out, "Graded size chart", &headers, rows);
}

/// In place of a part the run could not make: its heading and why.
fn not_produced(out: &mut String, tp: &TechPack, part: Part) {
    for missing in tp.not_produced.iter().filter(|m| m.part == part) {
        let _ = writeln!(
            out,
            r#"<section class="not-produced" id="not-produced-{}"><h2>{}</h2><p class="empty">not produced: {}</p></section>"#,
            part.as_str(),
            part.title(),
            esc(&missing.reason)
        );
    }
}

/// The page; `svgs` are the sketches' overlays, in the order of `bundle.sketches`.
pub fn render(bundle: &Bundle, images: &Images, svgs: &[String]) -> String {
    let tp = bundle.tech_pack;
    let meta = &tp.meta;
    let mut out = String::new();
    let title = format!("Tech pack — {}", meta.product_name);
    let _ = writeln!(
        out,
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{}</title><meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{{font-family:Helvetica,Arial,sans-serif;margin:2rem auto;max-width:1100px;color:#222;padding:0 1rem}}
h1{{margin-bottom:.2rem}} h2{{border-bottom:2px solid #222;padding-bottom:.2rem;margin-top:2rem}}
table{{border-collapse:collapse;width:100%;font-size:.9rem}} th,td{{border:1px solid #ccc;padding:.35rem .5rem;text-align:left;vertical-align:top}} th{{background:#f3f3f3}}
.meta td:first-child{{font-weight:bold;width:12rem}} .grid{{display:grid;grid-template-columns:repeat(auto-fill,minmax(220px,1fr));gap:1rem}}
figure{{margin:0;border:1px solid #ddd;padding:.5rem}} figure img{{width:100%;height:auto;display:block}} figcaption{{font-size:.85rem;margin-top:.4rem}}
.sketch svg{{width:100%;height:auto;border:1px solid #ddd}} .swatch{{display:inline-block;width:1rem;height:1rem;border:1px solid #999;vertical-align:middle;margin-right:.3rem}}
.badge{{font-size:.7rem;padding:.05rem .35rem;border-radius:.6rem;margin-left:.3rem;white-space:nowrap}} .est{{background:#fff3cd}} .given{{background:#d1e7dd}} .measured{{background:#cfe2ff}} .unknown{{background:#eee;color:#777}}
.empty{{color:#777;font-style:italic}} @media print{{section{{break-inside:avoid}}}}
</style></head><body>"#,
        esc(&title)
    );
    let _ = writeln!(out, "<h1>{}</h1>", esc(&title));
    let _ = writeln!(
        out,
        r#"<p>Values are marked <span class="badge given">given</span> <span class="badge measured">measured</span> <span class="badge est">estimated</span> from a photo or <span class="badge unknown">unknown</span>, with a confidence from 0 to 1.</p>"#
    );
    let _ = writeln!(out, r#"<section><h2>Product</h2><table class="meta">"#);
    let _ = writeln!(
        out,
        "<tr><td>Product</td><td>{}</td></tr>",
        esc(&meta.product_name)
    );
    let _ = writeln!(
        out,
        "<tr><td>Style</td><td>{}</td></tr>",
        opt(&meta.style_id)
    );
    let _ = writeln!(
        out,
        "<tr><td>Category</td><td>{}</td></tr>",
        estimate(&meta.category)
    );
    let _ = writeln!(
        out,
        "<tr><td>Subcategory</td><td>{}</td></tr>",
        estimate(&meta.subcategory)
    );
    let _ = writeln!(
        out,
        "<tr><td>Units</td><td>{}</td></tr></table></section>",
        esc(&meta.units)
    );

    out.push_str("<section><h2>Source photos</h2><div class=\"grid\">\n");
    for photo in bundle.photos {
        let _ = writeln!(
            out,
            r#"<figure><img src="{}" alt="{} view"><figcaption>{} — version {}, {}×{} px<br><code>{}</code></figcaption></figure>"#,
            images.url(&photo.image_hash),
            photo.view.as_str(),
            photo.view.as_str(),
            photo.version,
            photo.width,
            photo.height,
            &photo.image_hash[..16.min(photo.image_hash.len())]
        );
    }
    out.push_str("</div></section>\n");

    not_produced(&mut out, tp, Part::Sketches);
    if !bundle.sketches.is_empty() {
        out.push_str("<section><h2>Technical sketches</h2><div class=\"grid\">\n");
        for (sketch, svg) in bundle.sketches.iter().zip(svgs) {
            let svg = svg.trim_start_matches(|c| c != '<');
            let _ = writeln!(
                out,
                r#"<figure class="sketch">{svg}<figcaption>{} view</figcaption></figure>"#,
                sketch.view.as_str()
            );
        }
        out.push_str("</div></section>\n");
    }

    let colors: Vec<Vec<String>> = tp
        .colorways
        .iter()
        .flat_map(|cw| {
            cw.colors
                .iter()
                .map(move |c| vec![esc(&cw.name), swatch(c)])
        })
        .collect();
    table(&mut out, "Colourways", &["Colourway", "Colour"], colors);
    table(
        &mut out,
        "Bill of materials",
        &[
            "Line",
            "Placement",
            "Material",
            "Composition",
            "Weight / thickness",
            "Finish",
            "Colour",
            "Consumption",
        ],
        tp.bill_of_materials
            .iter()
            .map(|l| {
                vec![
                    esc(&l.id),
                    esc(&l.placement),
                    estimate(&l.material),
                    estimate(&l.composition),
                    quantity(&l.weight_or_thickness),
                    estimate(&l.finish),
                    swatch(&l.color),
                    quantity(&l.consumption),
                ]
            })
            .collect(),
    );
    table(
        &mut out,
        "Points of measure",
        &[
            "Code",
            "Name",
            "How to measure",
            "Value",
            "Tolerance",
            "Criticality",
            "Source",
        ],
        tp.points_of_measure
            .iter()
            .map(|p| {
                vec![
                    esc(&p.code),
                    esc(&p.name),
                    esc(&p.how_to_measure),
                    p.value
                        .map(|v| format!("{v} {}", esc(&p.unit)))
                        .unwrap_or_else(|| super::tables::MEASURE_ON_SAMPLE.into()),
                    p.tolerance
                        .map(|t| format!("± {t} {}", esc(&p.unit)))
                        .unwrap_or_else(|| "—".into()),
                    format!("{:?}", p.criticality).to_lowercase(),
                    source_badge(p.source, p.confidence),
                ]
            })
            .collect(),
    );
    table(
        &mut out,
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
        tp.construction
            .iter()
            .map(|c| {
                vec![
                    esc(&c.operation),
                    esc(&c.location),
                    opt(&c.seam_type),
                    opt(&c.stitch_class_iso4915),
                    c.stitches_per_inch
                        .map(|s| s.to_string())
                        .unwrap_or_else(|| "—".into()),
                    opt(&c.joinery_or_fastening),
                    source_badge(c.source, c.confidence),
                ]
            })
            .collect(),
    );
    table(
        &mut out,
        "Labels and packaging",
        &["Kind", "Placement", "Content", "Source"],
        tp.labels_and_packaging
            .iter()
            .map(|l| {
                vec![
                    esc(&l.kind),
                    esc(&l.placement),
                    esc(&l.content),
                    source_badge(l.source, l.confidence),
                ]
            })
            .collect(),
    );
    table(
        &mut out,
        "Category-specific",
        &["Attribute", "Value", "Source"],
        tp.category_specific
            .iter()
            .map(|v| {
                vec![
                    esc(&v.name),
                    format!("{} {}", esc(&v.value), opt(&v.unit).replace('—', "")),
                    source_badge(v.source, v.confidence),
                ]
            })
            .collect(),
    );
    table(
        &mut out,
        "Views",
        &["View", "Summary", "Design elements", "Confidence"],
        tp.views
            .iter()
            .map(|v| {
                vec![
                    esc(v.view.as_str()),
                    esc(&v.summary),
                    esc(&v.design_elements.join("; ")),
                    format!("{:.2}", v.confidence),
                ]
            })
            .collect(),
    );

    not_produced(&mut out, tp, Part::SizeChart);
    if let Some(chart) = bundle.size_chart {
        size_chart(&mut out, chart);
    }

    not_produced(&mut out, tp, Part::CloseUps);
    if !bundle.close_ups.is_empty() {
        out.push_str("<section><h2>Close-ups</h2><div class=\"grid\">\n");
        for close_up in bundle.close_ups {
            let _ = writeln!(
                out,
                r#"<figure><img src="{}" alt="{}"><figcaption><b>{}</b><br>{}</figcaption></figure>"#,
                images.url(&close_up.image_hash),
                esc(&close_up.detail),
                esc(&close_up.detail),
                esc(&close_up.analysis.notes)
            );
        }
        out.push_str("</div></section>\n");
    }
    out.push_str("</body></html>\n");
    out
}
