//! Where everything on a flat goes, computed once for the SVG and the PDF so the two cannot
//! disagree: the canvas (the drawing with margins around it), the dimension lines offset
//! outside the drawing with extension lines back to where each measurement was taken, and
//! the numbered callouts stacked in columns beside the drawing with a leader line to the
//! spot each describes. Callouts about no one place are numbered notes below.
//!
//! Everything is in the drawing's own units (its pixels), y down, with text measured in
//! Helvetica ([`crate::helvetica`]).

use crate::helvetica::{self, Face};
use crate::techpack::{Callout, CalloutKind};

/// The smallest box a flat is printed in, in points: the HTML page's (150 mm tall, a
/// letter page's width less its margins); the PDF's flat pages are larger.
pub const PRINT_BOX_PT: (f64, f64) = (720.0, 425.0);
/// The smallest text a flat printed in [`PRINT_BOX_PT`] shows.
pub const MIN_PRINT_PT: f64 = 8.0;

// Sizes in ems of the layout's font.
const BADGE_RADIUS: f64 = 0.8;
/// Between a badge and its text.
const BADGE_GAP: f64 = 0.45;
/// A label's text wraps at this width.
const LABEL_TEXT_WIDTH: f64 = 13.0;
const LINE_HEIGHT: f64 = 1.2;
/// Between two labels of a column, top to bottom.
const LABEL_GAP: f64 = 0.6;
/// Between the drawing (with its dimension lines) and a column of labels: room for leader
/// lines to turn towards their spots.
const COLUMN_GAP: f64 = 2.5;
/// From the drawing's edge to its first dimension line, then between dimension lines.
const DIMENSION_FIRST: f64 = 1.2;
const DIMENSION_STEP: f64 = 2.4;
/// An extension line starts this far from the measured point and runs this far past the
/// dimension line, as on a technical drawing.
const EXTENSION_GAP: f64 = 0.3;
const EXTENSION_OVERSHOOT: f64 = 0.5;
const ARROW_LENGTH: f64 = 0.7;
const ARROW_HALF_WIDTH: f64 = 0.22;
/// Between a dimension line and its text.
const TEXT_GAP: f64 = 0.3;
/// Helvetica's extent above and below the baseline.
const ASCENT: f64 = 0.78;
const DESCENT: f64 = 0.22;
/// White space around everything.
const PAD: f64 = 1.0;
/// The first guess at the font, as a share of the drawing's longer side.
const FIRST_FONT_SHARE: f64 = 0.016;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub x: f64,
    pub y: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Segment {
    pub from: Point,
    pub to: Point,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rect {
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
}

impl Rect {
    pub fn right(&self) -> f64 {
        self.x + self.w
    }

    pub fn bottom(&self) -> f64 {
        self.y + self.h
    }

    /// Whether the two share any area (touching edges do not count).
    pub fn overlaps(&self, other: &Rect) -> bool {
        self.x < other.right()
            && other.x < self.right()
            && self.y < other.bottom()
            && other.y < self.bottom()
    }

    pub fn contains(&self, p: Point) -> bool {
        (self.x..=self.right()).contains(&p.x) && (self.y..=self.bottom()).contains(&p.y)
    }

    fn edges(&self) -> [Segment; 4] {
        let corner = |x, y| Point { x, y };
        let (a, b) = (corner(self.x, self.y), corner(self.right(), self.y));
        let (c, d) = (
            corner(self.right(), self.bottom()),
            corner(self.x, self.bottom()),
        );
        [(a, b), (b, c), (c, d), (d, a)].map(|(from, to)| Segment { from, to })
    }
}

impl Segment {
    /// Whether the two cross at a point inside both (sharing an end does not count).
    pub fn crosses(&self, other: &Segment) -> bool {
        let side =
            |a: Point, b: Point, p: Point| (b.x - a.x) * (p.y - a.y) - (b.y - a.y) * (p.x - a.x);
        let d1 = side(self.from, self.to, other.from);
        let d2 = side(self.from, self.to, other.to);
        let d3 = side(other.from, other.to, self.from);
        let d4 = side(other.from, other.to, self.to);
        d1 * d2 < 0.0 && d3 * d4 < 0.0
    }

    /// Whether any part of the segment lies in `rect`.
    pub fn touches(&self, rect: &Rect) -> bool {
        rect.contains(self.from)
            || rect.contains(self.to)
            || rect.edges().iter().any(|edge| self.crosses(edge))
    }
}

/// How a line of text sits on its point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Start,
    Middle,
    End,
}

/// One line of text: `at` is on its baseline, at its start, middle or end (`align`).
#[derive(Debug, Clone, PartialEq)]
pub struct TextLine {
    pub text: String,
    pub at: Point,
    pub align: Align,
    pub size: f64,
    pub bold: bool,
    /// Turned a quarter anticlockwise about `at`, reading upwards (a vertical dimension's).
    pub upwards: bool,
}

/// A numbered callout.
#[derive(Debug, Clone, PartialEq)]
pub struct Label {
    pub number: usize,
    pub kind: CalloutKind,
    /// The middle of the numbered circle.
    pub badge: Point,
    pub lines: Vec<TextLine>,
    /// The circle and the text together.
    pub bounds: Rect,
    /// From the circle's rim to the spot described; none for a note.
    pub leader: Option<Segment>,
}

impl Label {
    /// The number written in the circle, centred on it, for a flat laid out with `font`.
    pub fn number_text(&self, font: f64) -> TextLine {
        TextLine {
            text: self.number.to_string(),
            at: Point {
                x: self.badge.x,
                y: self.badge.y + font * 0.32,
            },
            align: Align::Middle,
            size: font * 0.9,
            bold: true,
            upwards: false,
        }
    }
}

/// A point of measure drawn as on a technical drawing.
#[derive(Debug, Clone, PartialEq)]
pub struct Dimension {
    pub pom_ref: Option<String>,
    /// Where it was measured, on the drawing.
    pub measured: Segment,
    /// The dimension line, outside the drawing, as long as the measurement.
    pub line: Segment,
    /// From each end of the measurement to just past the dimension line.
    pub extensions: [Segment; 2],
    /// An arrowhead at each end of the dimension line, tip first.
    pub arrows: [[Point; 3]; 2],
    pub text: TextLine,
    pub text_bounds: Rect,
}

/// Everything on one flat, in canvas units.
#[derive(Debug, Clone, PartialEq)]
pub struct FlatLayout {
    pub width: f64,
    pub height: f64,
    /// The text size of labels and dimensions.
    pub font: f64,
    pub badge_radius: f64,
    /// Line width of leaders and dimension lines.
    pub stroke: f64,
    /// Where the drawing goes, at its own size.
    pub drawing: Rect,
    pub dimensions: Vec<Dimension>,
    pub labels: Vec<Label>,
}

impl FlatLayout {
    /// Points per canvas unit when the flat fills [`PRINT_BOX_PT`].
    pub fn print_scale(&self) -> f64 {
        (PRINT_BOX_PT.0 / self.width).min(PRINT_BOX_PT.1 / self.height)
    }
}

/// The layout of a `size` drawing with `callouts`, its font large enough to print at
/// [`MIN_PRINT_PT`] in [`PRINT_BOX_PT`]: the margins grow with the font, so the font is
/// found by a few rounds of "lay out, see how small it prints, enlarge".
pub fn lay_out(size: (u32, u32), callouts: &[Callout]) -> FlatLayout {
    let (w, h) = (f64::from(size.0.max(1)), f64::from(size.1.max(1)));
    let mut font = (w.max(h) * FIRST_FONT_SHARE).max(4.0);
    let mut layout = with_font(w, h, callouts, font);
    for _ in 0..12 {
        let needed = MIN_PRINT_PT / layout.print_scale();
        if needed <= font {
            break;
        }
        font = needed * 1.01;
        layout = with_font(w, h, callouts, font);
    }
    layout
}

/// Which side of the drawing something goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Top,
    Bottom,
    Left,
    Right,
}

/// A dimension before it is placed: its measured ends on the drawing (canvas units from the
/// drawing's corner), the side it goes on and its place in that side's stack.
struct PlannedDimension<'a> {
    callout: &'a Callout,
    ends: (Point, Point),
    side: Side,
    row: usize,
}

fn plan_dimensions<'a>(w: f64, h: f64, callouts: &[&'a Callout]) -> Vec<PlannedDimension<'a>> {
    let mut planned: Vec<PlannedDimension> = callouts
        .iter()
        .filter_map(|c| {
            let [x1, y1, x2, y2] = c.line?;
            let (a, b) = (
                Point {
                    x: x1 * w,
                    y: y1 * h,
                },
                Point {
                    x: x2 * w,
                    y: y2 * h,
                },
            );
            let horizontal = (b.x - a.x).abs() >= (b.y - a.y).abs();
            let side = match horizontal {
                true if (a.y + b.y) / 2.0 < h / 2.0 => Side::Top,
                true => Side::Bottom,
                false if (a.x + b.x) / 2.0 < w / 2.0 => Side::Left,
                false => Side::Right,
            };
            // Ends in reading order: left to right, top to bottom.
            let ends = if (horizontal && a.x > b.x) || (!horizontal && a.y > b.y) {
                (b, a)
            } else {
                (a, b)
            };
            Some(PlannedDimension {
                callout: c,
                ends,
                side,
                row: 0,
            })
        })
        .collect();
    // The shortest nearest the drawing, so extension lines do not cross dimension lines.
    for side in [Side::Top, Side::Bottom, Side::Left, Side::Right] {
        let mut on_side: Vec<&mut PlannedDimension> =
            planned.iter_mut().filter(|d| d.side == side).collect();
        on_side.sort_by(|a, b| length(a.ends).total_cmp(&length(b.ends)));
        for (row, d) in on_side.into_iter().enumerate() {
            d.row = row;
        }
    }
    planned
}

fn length((a, b): (Point, Point)) -> f64 {
    (b.x - a.x).hypot(b.y - a.y)
}

/// How far past the drawing's edge a side's dimension lines and their text reach.
fn band(planned: &[PlannedDimension], side: Side, font: f64) -> f64 {
    let rows = planned.iter().filter(|d| d.side == side).count();
    if rows == 0 {
        return 0.0;
    }
    (DIMENSION_FIRST + (rows - 1) as f64 * DIMENSION_STEP + TEXT_GAP + ASCENT + DESCENT) * font
}

/// A label before it is placed.
struct PlannedLabel<'a> {
    callout: &'a Callout,
    lines: Vec<String>,
    text_width: f64,
    height: f64,
    /// The spot, in canvas units (once the drawing is placed).
    anchor: Point,
    top: f64,
}

fn text_height(lines: usize, font: f64) -> f64 {
    let text =
        BADGE_RADIUS + (ASCENT - DESCENT) / 2.0 + (lines.max(1) - 1) as f64 * LINE_HEIGHT + DESCENT;
    text.max(2.0 * BADGE_RADIUS) * font
}

fn plan_label<'a>(callout: &'a Callout, font: f64, wrap_at: f64) -> PlannedLabel<'a> {
    let lines = helvetica::wrap(&callout.text, Face::Regular, font as f32, wrap_at as f32);
    let text_width = lines
        .iter()
        .map(|l| f64::from(helvetica::width(l, Face::Regular, font as f32)))
        .fold(0.0, f64::max);
    PlannedLabel {
        callout,
        height: text_height(lines.len(), font),
        lines,
        text_width,
        anchor: Point { x: 0.0, y: 0.0 },
        top: 0.0,
    }
}

fn stack_height(labels: &[PlannedLabel], font: f64) -> f64 {
    let gaps = labels.len().saturating_sub(1) as f64 * LABEL_GAP * font;
    labels.iter().map(|l| l.height).sum::<f64>() + gaps
}

/// Splits the labels between the left and right columns: each on the side nearer its spot;
/// while a side holds more than `room`, its label nearest the middle moves to the other
/// side if that one has room for it.
fn choose_sides<'a>(
    labels: Vec<PlannedLabel<'a>>,
    middle: f64,
    room: f64,
    font: f64,
) -> (Vec<PlannedLabel<'a>>, Vec<PlannedLabel<'a>>) {
    let (mut left, mut right): (Vec<_>, Vec<_>) =
        labels.into_iter().partition(|l| l.anchor.x < middle);
    loop {
        let (from, to) = if stack_height(&left, font) > room {
            (&mut left, &mut right)
        } else if stack_height(&right, font) > room {
            (&mut right, &mut left)
        } else {
            break;
        };
        let Some(nearest) = (0..from.len()).min_by(|&a, &b| {
            (from[a].anchor.x - middle)
                .abs()
                .total_cmp(&(from[b].anchor.x - middle).abs())
        }) else {
            break;
        };
        let extra = from[nearest].height + LABEL_GAP * font;
        if stack_height(to, font) + extra > room {
            break;
        }
        to.push(from.remove(nearest));
    }
    (left, right)
}

/// Stacks a column's labels in `order` within `top..bottom`: each as near its spot's height
/// as the ones above and below allow, never closer than the gap.
fn stack(labels: &mut [PlannedLabel], order: &[usize], top: f64, bottom: f64, font: f64) {
    let gap = LABEL_GAP * font;
    let mut floor = top;
    for &i in order {
        let ideal = labels[i].anchor.y - BADGE_RADIUS * font;
        labels[i].top = ideal.max(floor);
        floor = labels[i].top + labels[i].height + gap;
    }
    let mut ceiling = bottom;
    for &i in order.iter().rev() {
        let latest = ceiling - labels[i].height;
        labels[i].top = labels[i].top.min(latest);
        ceiling = labels[i].top - gap;
    }
}

/// The leader of a label whose badge is at `badge`: from the circle's rim to its spot.
fn leader(badge: Point, anchor: Point, radius: f64) -> Segment {
    let (dx, dy) = (anchor.x - badge.x, anchor.y - badge.y);
    let distance = dx.hypot(dy).max(f64::EPSILON);
    Segment {
        from: Point {
            x: badge.x + dx / distance * radius,
            y: badge.y + dy / distance * radius,
        },
        to: anchor,
    }
}

/// A column: where its badges sit (x) and on which side of them its text goes.
#[derive(Clone, Copy)]
struct Column {
    badge_x: f64,
    /// Text to the left of the badge (the left column), else to the right.
    text_before: bool,
}

impl Column {
    fn badge(&self, label: &PlannedLabel, font: f64) -> Point {
        Point {
            x: self.badge_x,
            y: label.top + BADGE_RADIUS * font,
        }
    }

    /// Orders a column's labels top to bottom by their spots' height, stacks them, then
    /// swaps neighbours whose leaders cross while that helps.
    fn arrange(&self, labels: &mut [PlannedLabel], top: f64, bottom: f64, font: f64) -> Vec<usize> {
        let mut order: Vec<usize> = (0..labels.len()).collect();
        order.sort_by(|&a, &b| labels[a].anchor.y.total_cmp(&labels[b].anchor.y));
        stack(labels, &order, top, bottom, font);
        let radius = BADGE_RADIUS * font;
        for _ in 0..labels.len() * labels.len() {
            let leaders: Vec<Segment> = order
                .iter()
                .map(|&i| leader(self.badge(&labels[i], font), labels[i].anchor, radius))
                .collect();
            let Some(k) = (1..order.len()).find(|&k| leaders[k - 1].crosses(&leaders[k])) else {
                break;
            };
            order.swap(k - 1, k);
            stack(labels, &order, top, bottom, font);
        }
        order
    }

    fn label(&self, planned: &PlannedLabel, number: usize, font: f64) -> Label {
        let radius = BADGE_RADIUS * font;
        let badge = self.badge(planned, font);
        let (text_x, align) = if self.text_before {
            (badge.x - radius - BADGE_GAP * font, Align::End)
        } else {
            (badge.x + radius + BADGE_GAP * font, Align::Start)
        };
        let lines = text_lines(
            &planned.lines,
            Point {
                x: text_x,
                y: badge.y,
            },
            align,
            font,
        );
        let (left, right) = if self.text_before {
            (text_x - planned.text_width, badge.x + radius)
        } else {
            (badge.x - radius, text_x + planned.text_width)
        };
        Label {
            number,
            kind: planned.callout.kind,
            badge,
            lines,
            bounds: Rect {
                x: left,
                y: planned.top,
                w: right - left,
                h: planned.height,
            },
            leader: Some(leader(badge, planned.anchor, radius)),
        }
    }
}

/// A label's lines, the first centred on `first.y` (its badge's middle).
fn text_lines(lines: &[String], first: Point, align: Align, font: f64) -> Vec<TextLine> {
    let baseline = first.y + (ASCENT - DESCENT) / 2.0 * font;
    lines
        .iter()
        .enumerate()
        .map(|(k, text)| TextLine {
            text: text.clone(),
            at: Point {
                x: first.x,
                y: baseline + k as f64 * LINE_HEIGHT * font,
            },
            align,
            size: font,
            bold: false,
            upwards: false,
        })
        .collect()
}

/// The layout of a `w` x `h` drawing at one font size.
fn with_font(w: f64, h: f64, callouts: &[Callout], font: f64) -> FlatLayout {
    let (dimensions, rest): (Vec<&Callout>, Vec<&Callout>) =
        callouts.iter().partition(|c| c.line.is_some());
    let (pointing, notes): (Vec<&Callout>, Vec<&Callout>) = rest.into_iter().partition(|c| {
        matches!(
            c.kind,
            CalloutKind::Colour | CalloutKind::Part | CalloutKind::CloseUp
        )
    });
    let planned = plan_dimensions(w, h, &dimensions);
    let [top_band, bottom_band, left_band, right_band] =
        [Side::Top, Side::Bottom, Side::Left, Side::Right].map(|s| band(&planned, s, font));

    // Columns: first which side each label goes, from spots relative to the drawing.
    let pad = PAD * font;
    let labels: Vec<PlannedLabel> = pointing
        .iter()
        .map(|c| {
            let mut label = plan_label(c, font, LABEL_TEXT_WIDTH * font);
            label.anchor = Point {
                x: c.x.clamp(0.0, 1.0) * w,
                y: c.y.clamp(0.0, 1.0) * h,
            };
            label
        })
        .collect();
    let core = top_band + h + bottom_band;
    let (mut left, mut right) = choose_sides(labels, w / 2.0, core, font);
    let core = core
        .max(stack_height(&left, font))
        .max(stack_height(&right, font));

    // Across: left column, its gap, left dimensions, drawing, right dimensions, gap, right
    // column.
    let column_width = |labels: &[PlannedLabel]| {
        let widest = labels.iter().map(|l| l.text_width).fold(0.0, f64::max);
        if labels.is_empty() {
            (0.0, 0.0)
        } else {
            (
                widest + (2.0 * BADGE_RADIUS + BADGE_GAP) * font,
                COLUMN_GAP * font,
            )
        }
    };
    let ((left_width, left_gap), (right_width, right_gap)) =
        (column_width(&left), column_width(&right));
    let drawing = Rect {
        x: pad + left_width + left_gap + left_band,
        y: pad + top_band,
        w,
        h,
    };
    let right_start = drawing.right() + right_band + right_gap;
    let width = right_start + right_width + pad;
    for label in left.iter_mut().chain(right.iter_mut()) {
        label.anchor.x += drawing.x;
        label.anchor.y += drawing.y;
    }
    let left_column = Column {
        badge_x: pad + left_width - BADGE_RADIUS * font,
        text_before: true,
    };
    let right_column = Column {
        badge_x: right_start + BADGE_RADIUS * font,
        text_before: false,
    };
    let (column_top, column_bottom) = (pad, pad + core);
    let left_order = left_column.arrange(&mut left, column_top, column_bottom, font);
    let right_order = right_column.arrange(&mut right, column_top, column_bottom, font);
    let mut placed = Vec::new();
    for (column, labels, order) in [
        (left_column, &left, &left_order),
        (right_column, &right, &right_order),
    ] {
        for &i in order {
            placed.push(column.label(&labels[i], placed.len() + 1, font));
        }
    }

    let (notes, notes_bottom) = place_notes(&notes, placed.len() + 1, column_bottom, width, font);
    let height = notes_bottom.unwrap_or(column_bottom) + pad;
    placed.extend(notes);

    let leaders: Vec<Segment> = placed.iter().filter_map(|l| l.leader).collect();
    let dimensions = planned
        .iter()
        .map(|d| place_dimension(d, &drawing, font, &leaders))
        .collect();
    FlatLayout {
        width,
        height,
        font,
        badge_radius: BADGE_RADIUS * font,
        stroke: (font / 12.0).max(0.5),
        drawing,
        dimensions,
        labels: placed,
    }
}

/// Notes (callouts about no one place), numbered on from `first`, in one column under
/// `above` across a `width` canvas; with the bottom of the last, if any.
fn place_notes(
    notes: &[&Callout],
    first: usize,
    above: f64,
    width: f64,
    font: f64,
) -> (Vec<Label>, Option<f64>) {
    let column = Column {
        badge_x: (PAD + BADGE_RADIUS) * font,
        text_before: false,
    };
    let wrap_at =
        (width - (2.0 * PAD + 2.0 * BADGE_RADIUS + BADGE_GAP) * font).max(LABEL_TEXT_WIDTH * font);
    let mut top = above + font;
    let mut bottom = None;
    let labels = notes
        .iter()
        .enumerate()
        .map(|(i, callout)| {
            let mut note = plan_label(callout, font, wrap_at);
            note.top = top;
            bottom = Some(top + note.height);
            top += note.height + LABEL_GAP * font;
            Label {
                leader: None,
                ..column.label(&note, first + i, font)
            }
        })
        .collect();
    (labels, bottom)
}

/// A planned dimension's lines and text, the text slid along its line off any leader.
fn place_dimension(
    planned: &PlannedDimension,
    drawing: &Rect,
    font: f64,
    leaders: &[Segment],
) -> Dimension {
    let (measured, line, extensions) = dimension_lines(planned, drawing, font);
    let (text, text_bounds) = dimension_text(planned, &line, drawing, font, leaders);
    Dimension {
        pom_ref: planned.callout.pom_ref.clone(),
        measured,
        line,
        extensions,
        arrows: arrows(&line, font),
        text,
        text_bounds,
    }
}

/// Where it was measured, its dimension line and its two extension lines, on the canvas.
fn dimension_lines(
    planned: &PlannedDimension,
    drawing: &Rect,
    font: f64,
) -> (Segment, Segment, [Segment; 2]) {
    let offset = (DIMENSION_FIRST + planned.row as f64 * DIMENSION_STEP) * font;
    let on_canvas = |p: Point| Point {
        x: p.x + drawing.x,
        y: p.y + drawing.y,
    };
    let (a, b) = (on_canvas(planned.ends.0), on_canvas(planned.ends.1));
    let (gap, over) = (EXTENSION_GAP * font, EXTENSION_OVERSHOOT * font);
    let point = |x, y| Point { x, y };
    let (line, extensions) = match planned.side {
        Side::Top | Side::Bottom => {
            let (y, toward) = if planned.side == Side::Bottom {
                (drawing.bottom() + offset, 1.0)
            } else {
                (drawing.y - offset, -1.0)
            };
            let extension = |p: Point| Segment {
                from: point(p.x, p.y + toward * gap),
                to: point(p.x, y + toward * over),
            };
            let line = Segment {
                from: point(a.x, y),
                to: point(b.x, y),
            };
            (line, [extension(a), extension(b)])
        }
        Side::Left | Side::Right => {
            let (x, toward) = if planned.side == Side::Right {
                (drawing.right() + offset, 1.0)
            } else {
                (drawing.x - offset, -1.0)
            };
            let extension = |p: Point| Segment {
                from: point(p.x + toward * gap, p.y),
                to: point(x + toward * over, p.y),
            };
            let line = Segment {
                from: point(x, a.y),
                to: point(x, b.y),
            };
            (line, [extension(a), extension(b)])
        }
    };
    (Segment { from: a, to: b }, line, extensions)
}

/// A dimension's text on the outer side of its `line`: at the line's middle, or as near it
/// as keeps it clear of every leader; always within the drawing's span on that side.
fn dimension_text(
    planned: &PlannedDimension,
    line: &Segment,
    drawing: &Rect,
    font: f64,
    leaders: &[Segment],
) -> (TextLine, Rect) {
    let text = &planned.callout.text;
    let text_width = f64::from(helvetica::width(text, Face::Bold, font as f32));
    let half = text_width / 2.0;
    let horizontal = matches!(planned.side, Side::Top | Side::Bottom);
    let (start, end, low, high) = if horizontal {
        (line.from.x, line.to.x, drawing.x, drawing.right())
    } else {
        (line.from.y, line.to.y, drawing.y, drawing.bottom())
    };
    let candidates = [0.5, 0.4, 0.6, 0.3, 0.7, 0.2, 0.8, 0.1, 0.9].map(|t| {
        // Off the line's middle only while the text still lies along the line.
        let centre = if (end - start).abs() > text_width {
            (start + (end - start) * t).clamp(start.min(end) + half, start.max(end) - half)
        } else {
            (start + end) / 2.0
        };
        if high - low <= text_width {
            (low + high) / 2.0
        } else {
            centre.clamp(low + half, high - half)
        }
    });
    let box_at = |centre: f64| -> (TextLine, Rect) {
        let (at, bounds) = match planned.side {
            Side::Bottom | Side::Top => {
                let baseline = if planned.side == Side::Bottom {
                    line.from.y + (TEXT_GAP + ASCENT) * font
                } else {
                    line.from.y - (TEXT_GAP + DESCENT) * font
                };
                let bounds = Rect {
                    x: centre - half,
                    y: baseline - ASCENT * font,
                    w: text_width,
                    h: (ASCENT + DESCENT) * font,
                };
                (
                    Point {
                        x: centre,
                        y: baseline,
                    },
                    bounds,
                )
            }
            Side::Left | Side::Right => {
                // Turned to read upwards, the glyphs rise to the left of the baseline.
                let baseline = if planned.side == Side::Right {
                    line.from.x + (TEXT_GAP + ASCENT) * font
                } else {
                    line.from.x - (TEXT_GAP + DESCENT) * font
                };
                let bounds = Rect {
                    x: baseline - ASCENT * font,
                    y: centre - half,
                    w: (ASCENT + DESCENT) * font,
                    h: text_width,
                };
                (
                    Point {
                        x: baseline,
                        y: centre,
                    },
                    bounds,
                )
            }
        };
        let line = TextLine {
            text: text.clone(),
            at,
            align: Align::Middle,
            size: font,
            bold: true,
            upwards: !horizontal,
        };
        (line, bounds)
    };
    candidates
        .iter()
        .map(|&c| box_at(c))
        .find(|(_, bounds)| !leaders.iter().any(|l| l.touches(bounds)))
        .unwrap_or_else(|| box_at(candidates[0]))
}

/// An arrowhead at each end of `line`, pointing outwards.
fn arrows(line: &Segment, font: f64) -> [[Point; 3]; 2] {
    let (dx, dy) = (line.to.x - line.from.x, line.to.y - line.from.y);
    let length = dx.hypot(dy).max(f64::EPSILON);
    let (ux, uy) = (dx / length, dy / length);
    let (nx, ny) = (-uy, ux);
    let head = |tip: Point, inward: f64| {
        let base = Point {
            x: tip.x + inward * ux * ARROW_LENGTH * font,
            y: tip.y + inward * uy * ARROW_LENGTH * font,
        };
        let wing = ARROW_HALF_WIDTH * font;
        [
            tip,
            Point {
                x: base.x + nx * wing,
                y: base.y + ny * wing,
            },
            Point {
                x: base.x - nx * wing,
                y: base.y - ny * wing,
            },
        ]
    };
    [head(line.from, 1.0), head(line.to, -1.0)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::techpack::View;

    fn pointing(kind: CalloutKind, x: f64, y: f64, text: &str) -> Callout {
        Callout {
            view: View::Front,
            kind,
            x,
            y,
            text: text.into(),
            bom_ref: None,
            pom_ref: None,
            line: None,
        }
    }

    fn measured(code: &str, line: [f64; 4]) -> Callout {
        Callout {
            kind: CalloutKind::Measurement,
            pom_ref: Some(code.into()),
            line: Some(line),
            ..pointing(
                CalloutKind::Measurement,
                0.5,
                0.5,
                &format!("{code} some length: 380 mm"),
            )
        }
    }

    /// A bag-like set: colours, close-ups bunched in the middle, three measurements and a
    /// BOM note.
    fn bag() -> Vec<Callout> {
        let mut callouts = vec![
            measured("W", [0.06, 0.95, 0.94, 0.95]),
            measured("WB", [0.07, 0.93, 0.93, 0.93]),
            measured("H", [0.5, 0.05, 0.5, 0.95]),
        ];
        for (i, (x, y)) in [
            (0.5, 0.07),
            (0.2, 0.5),
            (0.1, 0.68),
            (0.6, 0.49),
            (0.4, 0.4),
            (0.6, 0.4),
            (0.4, 0.55),
            (0.6, 0.55),
            (0.5, 0.68),
            (0.9, 0.68),
            (0.15, 0.68),
        ]
        .into_iter()
        .enumerate()
        {
            callouts.push(pointing(
                CalloutKind::CloseUp,
                x,
                y,
                &format!("close-up {i}: centre: navy and mustard and ivory"),
            ));
        }
        callouts.push(pointing(
            CalloutKind::Note,
            0.0,
            0.0,
            "BOM-1 body: cotton canvas, navy",
        ));
        callouts
    }

    fn text_boxes(layout: &FlatLayout) -> Vec<Rect> {
        layout
            .labels
            .iter()
            .map(|l| l.bounds)
            .chain(layout.dimensions.iter().map(|d| d.text_bounds))
            .collect()
    }

    #[test]
    fn every_label_sits_outside_the_drawing_and_no_two_overlap() {
        for size in [(742, 950), (1600, 600), (300, 1200)] {
            let layout = lay_out(size, &bag());
            let boxes = text_boxes(&layout);
            assert_eq!(boxes.len(), 12 + 3);
            for (i, a) in boxes.iter().enumerate() {
                assert!(
                    !a.overlaps(&layout.drawing),
                    "{size:?}: {a:?} on the drawing"
                );
                assert!(
                    a.x >= 0.0
                        && a.y >= 0.0
                        && a.right() <= layout.width
                        && a.bottom() <= layout.height,
                    "{size:?}: {a:?} off the canvas"
                );
                for b in &boxes[i + 1..] {
                    assert!(!a.overlaps(b), "{size:?}: {a:?} and {b:?} overlap");
                }
            }
        }
    }

    #[test]
    fn each_leader_runs_from_its_badge_to_its_spot() {
        let callouts = bag();
        let layout = lay_out((742, 950), &callouts);
        let d = layout.drawing;
        for label in &layout.labels {
            let callout = callouts
                .iter()
                .find(|c| {
                    label
                        .lines
                        .first()
                        .is_some_and(|l| c.text.starts_with(&l.text))
                })
                .unwrap();
            let Some(leader) = label.leader else {
                assert_eq!(callout.kind, CalloutKind::Note, "only notes have no leader");
                continue;
            };
            let spot = Point {
                x: d.x + callout.x * d.w,
                y: d.y + callout.y * d.h,
            };
            assert!((leader.to.x - spot.x).abs() < 1e-6 && (leader.to.y - spot.y).abs() < 1e-6);
            let from_badge = (leader.from.x - label.badge.x).hypot(leader.from.y - label.badge.y);
            assert!((from_badge - layout.badge_radius).abs() < 1e-6);
        }
        assert!(
            layout.labels.iter().any(|l| l.leader.is_none()),
            "the BOM note"
        );
    }

    fn crossings(layout: &FlatLayout) -> usize {
        let leaders: Vec<(f64, Segment)> = layout
            .labels
            .iter()
            .filter_map(|l| Some((l.badge.x, l.leader?)))
            .collect();
        let mut count = 0;
        for (i, (side_a, a)) in leaders.iter().enumerate() {
            for (side_b, b) in &leaders[i + 1..] {
                count += usize::from(side_a == side_b && a.crosses(b));
            }
        }
        count
    }

    #[test]
    fn leaders_on_one_side_do_not_cross() {
        assert_eq!(crossings(&lay_out((742, 950), &bag())), 0);
        // Spots bunched at one height, alternately near the right column and far from it:
        // stacked in the order of their heights alone, leaders would cross.
        let bunched: Vec<Callout> = (0..8)
            .map(|i| {
                let x = if i % 2 == 0 { 0.97 } else { 0.55 };
                let y = 0.3 + 0.002 * f64::from(i);
                pointing(
                    CalloutKind::Part,
                    x,
                    y,
                    &format!("part {i} with a name long enough to wrap twice over"),
                )
            })
            .collect();
        assert_eq!(crossings(&lay_out((742, 950), &bunched)), 0);
    }

    #[test]
    fn a_full_side_spills_over_to_the_other() {
        // Thirty spots on the left half of a short, wide drawing: one column cannot hold them.
        let callouts: Vec<Callout> = (0..30)
            .map(|i| {
                pointing(
                    CalloutKind::Part,
                    0.05 + 0.01 * f64::from(i % 10),
                    f64::from(i) / 30.0,
                    &format!("part {i}"),
                )
            })
            .collect();
        let layout = lay_out((1200, 300), &callouts);
        let middle = layout.drawing.x + layout.drawing.w / 2.0;
        let on_right = layout.labels.iter().filter(|l| l.badge.x > middle).count();
        assert!(on_right > 0 && on_right < 30, "{on_right} on the right");
        let boxes = text_boxes(&layout);
        for (i, a) in boxes.iter().enumerate() {
            assert!(!a.overlaps(&layout.drawing));
            for b in &boxes[i + 1..] {
                assert!(!a.overlaps(b), "{a:?} and {b:?} overlap");
            }
        }
    }

    #[test]
    fn text_prints_at_8_pt_or_more_whatever_the_drawing() {
        for size in [(120, 90), (742, 950), (2048, 2048), (4000, 900)] {
            let layout = lay_out(size, &bag());
            let printed = layout.font * layout.print_scale();
            assert!(printed >= MIN_PRINT_PT - 1e-6, "{size:?}: {printed} pt");
            assert!(
                printed < MIN_PRINT_PT * 1.6,
                "{size:?}: {printed} pt is needlessly large"
            );
        }
    }

    #[test]
    fn dimension_lines_sit_outside_with_extension_lines_to_where_they_were_measured() {
        let layout = lay_out(
            (800, 1000),
            &[
                measured("W", [0.1, 0.9, 0.9, 0.9]),
                measured("OP", [0.2, 0.1, 0.8, 0.1]),
                measured("H", [0.5, 0.05, 0.5, 0.95]),
                measured("HD", [0.1, 0.3, 0.1, 0.6]),
            ],
        );
        let d = layout.drawing;
        let by = |code: &str| {
            layout
                .dimensions
                .iter()
                .find(|x| x.pom_ref.as_deref() == Some(code))
                .unwrap()
        };
        let (w, op, h, hd) = (by("W"), by("OP"), by("H"), by("HD"));
        assert!(w.line.from.y > d.bottom(), "a width low down goes below");
        assert!(op.line.from.y < d.y, "one near the top goes above");
        assert!(h.line.from.x > d.right(), "a height goes to the right");
        assert!(hd.line.from.x < d.x, "one near the left edge goes left");
        // The line keeps the measurement's length and place along it.
        assert!((w.line.from.x - (d.x + 80.0)).abs() < 1e-6);
        assert!((w.line.to.x - (d.x + 720.0)).abs() < 1e-6);
        // Each extension line starts beside a measured end and reaches past the line.
        for dim in [w, op, h, hd] {
            for (extension, end) in dim
                .extensions
                .iter()
                .zip([dim.measured.from, dim.measured.to])
            {
                let near = (extension.from.x - end.x).hypot(extension.from.y - end.y);
                assert!(near <= layout.font, "{extension:?} starts far from {end:?}");
            }
            assert!(
                !dim.text_bounds.overlaps(&d),
                "{:?} text on the drawing",
                dim.pom_ref
            );
            assert!(dim.text.text.contains("380 mm"));
        }
        assert!(h.text.upwards && !w.text.upwards);
    }
}
