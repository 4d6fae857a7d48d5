//! Draws a product photo in code: a navy canvas tote with leather handles, a mustard
//! band, stitching, rivets and a woven label on a studio backdrop. The README shows it and
//! the tests use it, so neither depends on a photo file or a download.

use image::{Rgb, RgbImage};

const BACKDROP: [f32; 3] = [236.0, 234.0, 229.0];
/// Just darker than the backdrop: a soft floor shadow reads as backdrop, not as product.
const SHADOW: [f32; 3] = [229.0, 227.0, 221.0];
const CANVAS: [f32; 3] = [43.0, 58.0, 92.0];
const CANVAS_EDGE: [f32; 3] = [18.0, 24.0, 40.0];
const LEATHER: [f32; 3] = [181.0, 137.0, 90.0];
const LEATHER_EDGE: [f32; 3] = [112.0, 80.0, 48.0];
const BAND: [f32; 3] = [217.0, 162.0, 27.0];
const THREAD: [f32; 3] = [241.0, 230.0, 200.0];
const LABEL: [f32; 3] = [244.0, 239.0, 226.0];
const LABEL_BORDER: [f32; 3] = [179.0, 38.0, 46.0];
const PRINT: [f32; 3] = [58.0, 58.0, 58.0];
const BRASS: [f32; 3] = [201.0, 164.0, 58.0];
const BRASS_EDGE: [f32; 3] = [110.0, 86.0, 28.0];

// Geometry in units of the image's shorter side, origin at the centre, y pointing down.
const BODY_TOP: f32 = -0.10;
const BODY_BOTTOM: f32 = 0.40;
const BODY_TOP_HALF_WIDTH: f32 = 0.27;
const BODY_BOTTOM_HALF_WIDTH: f32 = 0.32;
const BODY_OUTLINE: f32 = 0.010;
const HANDLE_HALF_SPAN: f32 = 0.15;
const HANDLE_RISE: f32 = 0.32;
const STRAP_HALF_WIDTH: f32 = 0.0225;
const STRAP_EDGE: f32 = 0.006;
const TAB_BOTTOM: f32 = BODY_TOP + 0.08;
const RIVET_Y: f32 = BODY_TOP + 0.055;
const RIVET_RADIUS: f32 = 0.018;
const BAND_TOP: f32 = 0.16;
const BAND_BOTTOM: f32 = 0.24;
const HEM_STITCH_Y: f32 = BODY_TOP + 0.03;
const STITCH_INSET: f32 = 0.014;
const DASH_PERIOD: f32 = 0.04;
const LABEL_LEFT: f32 = -0.09;
const LABEL_RIGHT: f32 = 0.09;
const LABEL_TOP: f32 = 0.0;
const LABEL_BOTTOM: f32 = 0.10;
const LABEL_BORDER_WIDTH: f32 = 0.008;
/// The label's printed lines: centre height and right end of each bar.
const LABEL_LINES: [(f32, f32); 3] = [(0.027, 0.06), (0.052, 0.035), (0.077, 0.05)];

/// Draws the sample tote bag photo at `width` x `height`, centred and scaled to the
/// shorter side. The same size always gives the same pixels.
pub fn draw_sample_product(width: u32, height: u32) -> RgbImage {
    let side = width.min(height);
    if side == 0 {
        return RgbImage::new(width, height);
    }
    let unit = side as f32;
    let pixel = 1.0 / unit;
    RgbImage::from_fn(width, height, |x, y| {
        let point = Point {
            u: (x as f32 + 0.5 - width as f32 / 2.0) / unit,
            v: (y as f32 + 0.5 - height as f32 / 2.0) / unit,
            pixel,
            weave: (x + 2 * y) % 5 == 0,
        };
        Rgb(to_bytes(paint(&point)))
    })
}

/// One pixel centre in drawing units.
struct Point {
    u: f32,
    v: f32,
    /// Size of one pixel in drawing units, so hairlines never vanish on small images.
    pixel: f32,
    /// Whether the canvas weave catches the light here.
    weave: bool,
}

/// The colour at `point`, painting back to front.
fn paint(point: &Point) -> [f32; 3] {
    let mut color = backdrop(point);
    if let Some(handle) = handle(point) {
        color = handle;
    }
    if let Some(body) = body(point) {
        color = body;
    }
    if let Some(tab) = strap_tab(point) {
        color = tab;
    }
    if let Some(rivet) = rivet(point) {
        color = rivet;
    }
    color
}

fn backdrop(point: &Point) -> [f32; 3] {
    let (du, dv) = (point.u / 0.36, (point.v - 0.41) / 0.04);
    if du * du + dv * dv <= 1.0 {
        SHADOW
    } else {
        BACKDROP
    }
}

/// The arched handle above the bag, a strap of even width along a half ellipse.
fn handle(point: &Point) -> Option<[f32; 3]> {
    if point.v > BODY_TOP {
        return None;
    }
    let (rx, ry) = (HANDLE_HALF_SPAN, HANDLE_RISE);
    let dv = point.v - BODY_TOP;
    let level = (point.u / rx).powi(2) + (dv / ry).powi(2) - 1.0;
    let slope = 2.0 * ((point.u / (rx * rx)).powi(2) + (dv / (ry * ry)).powi(2)).sqrt();
    // First-order distance to the ellipse, good enough for a strap this thin.
    let distance = (level / slope.max(f32::EPSILON)).abs();
    if distance > STRAP_HALF_WIDTH {
        return None;
    }
    if distance > STRAP_HALF_WIDTH - STRAP_EDGE.max(point.pixel) {
        return Some(LEATHER_EDGE);
    }
    let rounding = 1.0 - 0.25 * (distance / STRAP_HALF_WIDTH).powi(2);
    Some(shade(LEATHER, rounding))
}

/// The bag: shaded canvas, band, stitching, label and outline.
fn body(point: &Point) -> Option<[f32; 3]> {
    let (u, v) = (point.u, point.v);
    if !(BODY_TOP..=BODY_BOTTOM).contains(&v) {
        return None;
    }
    let depth = (v - BODY_TOP) / (BODY_BOTTOM - BODY_TOP);
    let half_width = BODY_TOP_HALF_WIDTH + depth * (BODY_BOTTOM_HALF_WIDTH - BODY_TOP_HALF_WIDTH);
    if u.abs() > half_width {
        return None;
    }
    let to_edge = (v - BODY_TOP)
        .min(BODY_BOTTOM - v)
        .min(half_width - u.abs());
    if to_edge < BODY_OUTLINE.max(point.pixel) {
        return Some(CANVAS_EDGE);
    }
    let thread = (0.003f32).max(0.6 * point.pixel);
    let dashed = ((u + 1.0) / DASH_PERIOD).fract() < 0.6;
    let on_stitch_line = |line: f32| (v - line).abs() <= thread;
    if dashed
        && u.abs() < half_width - STITCH_INSET
        && (on_stitch_line(HEM_STITCH_Y)
            || on_stitch_line(BAND_TOP + STITCH_INSET)
            || on_stitch_line(BAND_BOTTOM - STITCH_INSET))
    {
        return Some(THREAD);
    }
    if let Some(label) = label(point) {
        return Some(label);
    }
    // Light falls from the front: the sides and the bottom of the bag turn away from it.
    let across = u / half_width;
    let lighting = 1.0 - 0.28 * across * across - 0.08 * depth;
    if (BAND_TOP..=BAND_BOTTOM).contains(&v) {
        return Some(shade(BAND, lighting));
    }
    let weave = if point.weave { 1.07 } else { 1.0 };
    Some(shade(CANVAS, lighting * weave))
}

/// The woven label sewn on the front: cream with a red border and three printed lines.
fn label(point: &Point) -> Option<[f32; 3]> {
    let (u, v) = (point.u, point.v);
    if !(LABEL_LEFT..=LABEL_RIGHT).contains(&u) || !(LABEL_TOP..=LABEL_BOTTOM).contains(&v) {
        return None;
    }
    let to_edge = (u - LABEL_LEFT)
        .min(LABEL_RIGHT - u)
        .min(v - LABEL_TOP)
        .min(LABEL_BOTTOM - v);
    if to_edge < LABEL_BORDER_WIDTH.max(point.pixel) {
        return Some(LABEL_BORDER);
    }
    let bar_half_height = (0.006f32).max(0.6 * point.pixel);
    let printed = LABEL_LINES
        .iter()
        .any(|&(centre, right)| (v - centre).abs() <= bar_half_height && u >= -0.06 && u <= right);
    Some(if printed { PRINT } else { LABEL })
}

/// Where a handle end is sewn onto the front of the bag.
fn strap_tab(point: &Point) -> Option<[f32; 3]> {
    if !(BODY_TOP - 0.005..=TAB_BOTTOM).contains(&point.v) {
        return None;
    }
    let across = (point.u.abs() - HANDLE_HALF_SPAN).abs();
    if across > STRAP_HALF_WIDTH {
        return None;
    }
    let to_edge = (STRAP_HALF_WIDTH - across).min(TAB_BOTTOM - point.v);
    if to_edge < STRAP_EDGE.max(point.pixel) {
        return Some(LEATHER_EDGE);
    }
    Some(LEATHER)
}

/// Brass rivets fixing each handle end.
fn rivet(point: &Point) -> Option<[f32; 3]> {
    let du = point.u.abs() - HANDLE_HALF_SPAN;
    let dv = point.v - RIVET_Y;
    let distance = (du * du + dv * dv).sqrt();
    if distance > RIVET_RADIUS {
        return None;
    }
    if distance > RIVET_RADIUS - (0.005f32).max(point.pixel) {
        return Some(BRASS_EDGE);
    }
    // A highlight up and to the left makes the rivet read as domed.
    let highlight = 1.0
        + 0.25
            * (1.0 - ((du + 0.006).powi(2) + (dv + 0.006).powi(2)).sqrt() / RIVET_RADIUS).max(0.0);
    Some(shade(BRASS, highlight))
}

fn shade(color: [f32; 3], factor: f32) -> [f32; 3] {
    color.map(|channel| channel * factor)
}

fn to_bytes(color: [f32; 3]) -> [u8; 3] {
    color.map(|channel| channel.round().clamp(0.0, 255.0) as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_drawing_is_deterministic_and_sized_as_asked() {
        let first = draw_sample_product(320, 240);
        assert_eq!(first.dimensions(), (320, 240));
        assert_eq!(first, draw_sample_product(320, 240));
        assert_eq!(draw_sample_product(0, 10).dimensions(), (0, 10));
    }

    #[test]
    fn the_bag_sits_on_a_plain_backdrop_with_its_parts_in_place() {
        let image = draw_sample_product(400, 400);
        let at = |u: f32, v: f32| {
            let x = ((u + 0.5) * 400.0) as u32;
            let y = ((v + 0.5) * 400.0) as u32;
            image.get_pixel(x, y).0
        };
        assert_eq!(at(-0.48, -0.48), to_bytes(BACKDROP));
        // Canvas is dark blue, the band yellow, the label cream, the handle tan.
        let canvas = at(0.15, 0.32);
        assert!(canvas[2] > canvas[0] && canvas[2] < 110, "{canvas:?}");
        let band = at(0.0, 0.20);
        assert!(band[0] > 180 && band[2] < 60, "{band:?}");
        let label = at(0.07, 0.04);
        assert!(label.iter().all(|&c| c > 200), "{label:?}");
        let handle_top = at(0.0, BODY_TOP - HANDLE_RISE);
        assert!(handle_top[0] > handle_top[2] + 40, "{handle_top:?}");
    }
}
