//! The flat a factory reads, from the offline pipeline on the bundled sample, checked the way
//! a person looks at it: every callout's text beside the drawing, none on another, each
//! leader ending on the colour or close-up it names, the measurements drawn as dimension
//! lines in millimetres, and the same in the PDF as searchable text.

mod common;

use common::cli::{json, ok, techpack};
use serde_json::Value;
use techpack_steps::helvetica::{self, Face};
use techpack_steps::local::{PixelBox, SketchOptions, traced_region};

const SAMPLE: &str = "workflows/samples/sample-product.png";

/// An SVG element's attribute.
fn attr(tag: &str, name: &str) -> Option<String> {
    let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    let end = start + tag[start..].find('"')?;
    Some(tag[start..end].to_string())
}

fn number(tag: &str, name: &str) -> f64 {
    attr(tag, name)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {tag}"))
}

#[derive(Debug, Clone, Copy)]
struct Box2 {
    x: f64,
    y: f64,
    w: f64,
    h: f64,
}

impl Box2 {
    fn overlaps(&self, o: &Box2) -> bool {
        self.x < o.x + o.w && o.x < self.x + self.w && self.y < o.y + o.h && o.y < self.y + self.h
    }

    fn contains(&self, x: f64, y: f64) -> bool {
        (self.x..=self.x + self.w).contains(&x) && (self.y..=self.y + self.h).contains(&y)
    }
}

/// A `<text>` as it renders: its words and the box they cover, from its position, size,
/// anchor and turn, with Helvetica's widths (the face the SVG names first).
#[derive(Debug)]
struct Text {
    words: String,
    bounds: Box2,
    size: f64,
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
}

fn texts(svg: &str) -> Vec<Text> {
    svg.split("<text")
        .skip(1)
        .map(|rest| {
            let tag = &rest[..rest.find('>').unwrap()];
            let words = unescape(&rest[tag.len() + 1..rest.find("</text>").unwrap()]);
            let (x, y, size) = (number(tag, "x"), number(tag, "y"), number(tag, "font-size"));
            let face = if tag.contains(r#"font-weight="bold""#) {
                Face::Bold
            } else {
                Face::Regular
            };
            let length = f64::from(helvetica::width(&words, face, size as f32));
            let start = match attr(tag, "text-anchor").as_deref() {
                Some("middle") => -length / 2.0,
                Some("end") => -length,
                _ => 0.0,
            };
            let bounds = if tag.contains("rotate(-90") {
                Box2 {
                    x: x - 0.8 * size,
                    y: y - start - length,
                    w: size,
                    h: length,
                }
            } else {
                Box2 {
                    x: x + start,
                    y: y - 0.8 * size,
                    w: length,
                    h: size,
                }
            };
            Text {
                words,
                bounds,
                size,
            }
        })
        .collect()
}

/// The SVG's groups of one class (`callout`, `dimension`): each group's opening tag and body.
fn groups<'a>(svg: &'a str, class: &str) -> Vec<(&'a str, &'a str)> {
    svg.split(&format!(r#"<g class="{class}""#))
        .skip(1)
        .map(|rest| {
            let tag_end = rest.find('>').unwrap();
            (&rest[..tag_end], &rest[tag_end..rest.find("</g>").unwrap()])
        })
        .collect()
}

fn hex_rgb(hex: &str) -> [f64; 3] {
    let channel = |i: usize| f64::from(u8::from_str_radix(&hex[1 + 2 * i..3 + 2 * i], 16).unwrap());
    [channel(0), channel(1), channel(2)]
}

#[test]
fn the_flat_reads_as_a_technical_drawing_in_the_svg_and_the_pdf() {
    let dir = tempfile::tempdir().unwrap();
    let (data, out) = (dir.path().join("data"), dir.path().join("out"));
    ok(&techpack(
        &data,
        &[
            "run",
            "workflows/tech-pack-v2.yaml",
            "--image",
            SAMPLE,
            "--out",
            out.to_str().unwrap(),
            "-q",
            "-i",
            "width_mm=380",
            "-i",
            "category=tote bag",
        ],
    ));
    let svg = std::fs::read_to_string(out.join("sketches/front.svg")).unwrap();
    let root = &svg[..svg.find('>').unwrap()];
    let view_box: Vec<f64> = attr(root, "viewBox")
        .unwrap()
        .split(' ')
        .map(|v| v.parse().unwrap())
        .collect();
    let (width, height) = (view_box[2], view_box[3]);
    let image = &svg[svg.find("<image").unwrap()..];
    let drawing = Box2 {
        x: number(image, "x"),
        y: number(image, "y"),
        w: number(image, "width"),
        h: number(image, "height"),
    };

    // Text beside the drawing, none on another, large enough to read in print.
    let all = texts(&svg);
    let callouts = groups(&svg, "callout");
    let dimensions = groups(&svg, "dimension");
    assert!(callouts.len() >= 8, "{} callouts", callouts.len());
    let mut boxes: Vec<(String, Box2)> = Vec::new();
    for (_, body) in callouts.iter().chain(&dimensions) {
        // A callout's number sits in its circle; its words are what is compared.
        let words: Vec<Text> = texts(&format!("<g{body}"))
            .into_iter()
            .filter(|t| t.words.parse::<usize>().is_err())
            .collect();
        let mut own: Option<Box2> = None;
        for t in &words {
            own = Some(match own {
                None => t.bounds,
                Some(b) => {
                    let (x, y) = (b.x.min(t.bounds.x), b.y.min(t.bounds.y));
                    Box2 {
                        x,
                        y,
                        w: (b.x + b.w).max(t.bounds.x + t.bounds.w) - x,
                        h: (b.y + b.h).max(t.bounds.y + t.bounds.h) - y,
                    }
                }
            });
        }
        let words: Vec<&str> = words.iter().map(|t| t.words.as_str()).collect();
        boxes.push((words.join(" "), own.unwrap()));
    }
    for (i, (words, bounds)) in boxes.iter().enumerate() {
        assert!(!bounds.overlaps(&drawing), "`{words}` lies on the drawing");
        for (other, other_bounds) in &boxes[i + 1..] {
            assert!(
                !bounds.overlaps(other_bounds),
                "`{words}` and `{other}` overlap"
            );
        }
    }
    let print_scale = (720.0 / width).min(425.0 / height);
    for t in all.iter().filter(|t| t.words.parse::<usize>().is_err()) {
        assert!(t.size >= 0.016 * height, "`{}` is {} high", t.words, t.size);
        assert!(
            t.size * print_scale >= 8.0,
            "`{}` prints under 8 pt",
            t.words
        );
    }

    // Measurements: dimension lines in mm, not px, now that the width is known.
    let dimension_words: Vec<&str> = boxes[callouts.len()..]
        .iter()
        .map(|(w, _)| w.as_str())
        .collect();
    assert!(
        dimension_words.contains(&"W overall width: 380 mm"),
        "{dimension_words:?}"
    );
    assert!(dimension_words.iter().all(|w| w.ends_with(" mm")));

    // Each leader ends on what it names: a colour on a pixel of that colour, a close-up
    // inside the piece it was cut from.
    let pack = json(&out.join("techpack.json"));
    let front = &pack["views"][0];
    let colours: Vec<(String, [f64; 3])> = front["colors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_string(),
                hex_rgb(c["hex"].as_str().unwrap()),
            )
        })
        .collect();
    let photo = image::open(SAMPLE).unwrap().to_rgb8();
    let product = front["scale"]["product_box"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as u32)
        .collect::<Vec<_>>();
    let frame = traced_region(
        PixelBox {
            x: product[0],
            y: product[1],
            w: product[2],
            h: product[3],
        },
        photo.dimensions(),
        &SketchOptions::default(),
    );
    // A spot on the drawing as a place on the photo.
    let on_photo = |x: f64, y: f64| {
        (
            f64::from(frame.x) + (x - drawing.x) * f64::from(frame.w) / drawing.w,
            f64::from(frame.y) + (y - drawing.y) * f64::from(frame.h) / drawing.h,
        )
    };
    let run = json(&out.join("run.json"));
    let mut shots: Vec<&Value> = run["outputs"]["close_ups"]["close_ups"]
        .as_array()
        .unwrap()
        .iter()
        .collect();
    shots.sort_by_key(|s| s["detail"].as_str().unwrap().to_string());
    let (mut colours_seen, mut close_ups_seen) = (0, 0);
    for (tag, body) in &callouts {
        let leader = &body[body.find(r#"<line class="leader""#).unwrap()..];
        let (x, y) = (number(leader, "x2"), number(leader, "y2"));
        assert!(drawing.contains(x, y), "a leader ends off the drawing");
        let (px, py) = on_photo(x, y);
        let words = texts(&format!("<g{body}"))
            .into_iter()
            .map(|t| t.words)
            .filter(|w| w.parse::<usize>().is_err())
            .collect::<Vec<_>>()
            .join(" ");
        match attr(tag, "data-kind").as_deref() {
            Some("colour") => {
                let pixel = photo.get_pixel(px as u32, py as u32).0.map(f64::from);
                let distance =
                    |rgb: &[f64; 3]| (0..3).map(|c| (rgb[c] - pixel[c]).powi(2)).sum::<f64>();
                let nearest = colours
                    .iter()
                    .min_by(|a, b| distance(&a.1).total_cmp(&distance(&b.1)))
                    .unwrap();
                assert!(
                    words.contains(&format!("colour {} ", nearest.0)),
                    "`{words}` points at a {} pixel {pixel:?}",
                    nearest.0
                );
                colours_seen += 1;
            }
            Some("close_up") => {
                let n: usize = words["close-up ".len()..words.find(':').unwrap()]
                    .parse()
                    .unwrap();
                let crop: Vec<f64> = shots[n - 1]["crop"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_f64().unwrap())
                    .collect();
                let cut = Box2 {
                    x: crop[0],
                    y: crop[1],
                    w: crop[2],
                    h: crop[3],
                };
                assert!(
                    cut.contains(px, py),
                    "`{words}` points outside its cut {cut:?}"
                );
                close_ups_seen += 1;
            }
            other => panic!("a leader on a {other:?} callout"),
        }
    }
    assert_eq!(colours_seen, colours.len(), "one callout per colour");
    assert_eq!(close_ups_seen, shots.len(), "one callout per close-up");

    // The PDF's flat page: the same dimension lines, as text a reader can search.
    let pdf = std::fs::read(out.join("techpack.pdf")).unwrap();
    for words in &dimension_words {
        assert!(
            pdf.windows(words.len()).any(|w| w == words.as_bytes()),
            "the PDF lacks `{words}`"
        );
    }
}
