//! `techpack.pdf`, made by the binary itself with `pdf-writer` (no browser, no office suite):
//! A4 landscape by default, a cover with the main flat and the style facts, one flat per page
//! with numbered callouts and leader lines, then the points of measure, the graded chart, the
//! BOM, construction, colourways with swatches, labels and packaging, the revision table and
//! the close-ups. Every page carries a header (style, season, version, date) and "page x of
//! y". Text is real text in the standard Helvetica faces, so it can be searched and copied.

mod picture;
mod text;

use pdf_writer::types::Predictor;
use pdf_writer::{Content, Filter, Finish, Name, Pdf, Rect, Ref, Str, TextStr};
use serde::{Deserialize, Serialize};

use super::tables::{self, Table};
use crate::flat::{
    self,
    layout::{Align, Point, Segment, TextLine},
};
use crate::techpack::{Callout, Part, TechPack, View};
use picture::Channels;
pub use picture::Picture;
use text::Face;

/// The paper the PDF is laid out for, landscape.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Paper {
    #[default]
    A4,
    Letter,
}

impl Paper {
    /// Width and height in points, landscape.
    fn size(self) -> (f32, f32) {
        match self {
            Paper::A4 => (841.89, 595.28),
            Paper::Letter => (792.0, 612.0),
        }
    }
}

/// A technical flat and the callouts drawn on it.
pub struct Flat<'a> {
    pub view: View,
    pub drawing: Picture,
    /// The drawing's size as stored, which its layout is made for: `drawing` may be a
    /// smaller copy, and the layout must match the SVG's.
    pub size: (u32, u32),
    pub callouts: &'a [Callout],
}

/// A close-up shot and what it shows.
pub struct CloseUp {
    pub caption: String,
    pub image: Picture,
}

/// Everything the PDF shows.
pub struct Document<'a> {
    pub tech_pack: &'a TechPack,
    pub flats: Vec<Flat<'a>>,
    /// Shown on the cover when there is no flat.
    pub cover_photo: Option<Picture>,
    pub close_ups: Vec<CloseUp>,
    /// The tech pack's revision, e.g. "3" after two edits.
    pub version: String,
    /// The day the tech pack last changed, `YYYY-MM-DD`.
    pub date: String,
    pub paper: Paper,
}

const MARGIN: f32 = 36.0;
/// Below the header rule.
const HEADER_SPACE: f32 = 52.0;
/// Above the footer.
const FOOTER_SPACE: f32 = 40.0;
const BODY: f32 = 9.0;
/// Callouts, as on the SVG (`#c8102e`).
const RED: (f32, f32, f32) = (0.784, 0.063, 0.18);
/// Dimensions, as on the SVG (`#0b4f9c`).
const BLUE: (f32, f32, f32) = (0.043, 0.31, 0.612);

struct Page {
    content: Content,
    images: Vec<(String, Ref)>,
}

struct Writer {
    pdf: Pdf,
    next_id: i32,
    pages: Vec<Page>,
    width: f32,
    height: f32,
    /// Where the next block starts, from the bottom of the page.
    cursor: f32,
    image_count: usize,
}

const CATALOG: Ref = Ref::new(1);
const PAGE_TREE: Ref = Ref::new(2);
const REGULAR: Ref = Ref::new(3);
const BOLD: Ref = Ref::new(4);
const INFO: Ref = Ref::new(5);

impl Writer {
    fn new(paper: Paper) -> Writer {
        let (width, height) = paper.size();
        Writer {
            pdf: Pdf::new(),
            next_id: 6,
            pages: Vec::new(),
            width,
            height,
            cursor: 0.0,
            image_count: 0,
        }
    }

    fn alloc(&mut self) -> Ref {
        let id = Ref::new(self.next_id);
        self.next_id += 1;
        id
    }

    fn top(&self) -> f32 {
        self.height - HEADER_SPACE
    }

    fn inner_width(&self) -> f32 {
        self.width - 2.0 * MARGIN
    }

    fn new_page(&mut self) {
        self.pages.push(Page {
            content: Content::new(),
            images: Vec::new(),
        });
        self.cursor = self.top();
    }

    fn content(&mut self) -> &mut Content {
        &mut self.pages.last_mut().expect("a page is open").content
    }

    fn text(&mut self, x: f32, y: f32, face: Face, size: f32, text: &str) {
        let bytes = text::win_ansi(text);
        let content = self.content();
        content.begin_text();
        content.set_font(Name(text::resource(face)), size);
        content.next_line(x, y);
        content.show(Str(&bytes));
        content.end_text();
    }

    /// Room for `needed` points below the cursor, or a new page.
    fn ensure(&mut self, needed: f32) {
        if self.pages.is_empty() || self.cursor - needed < FOOTER_SPACE {
            self.new_page();
        }
    }

    fn heading(&mut self, title: &str) {
        self.ensure(60.0);
        let y = self.cursor - 16.0;
        self.text(MARGIN, y, Face::Bold, 14.0, title);
        self.cursor = y - 12.0;
    }

    fn paragraph(&mut self, text: &str, size: f32) {
        let lines = text::wrap(text, Face::Regular, size, self.inner_width());
        for line in lines {
            self.ensure(size * 1.4);
            let y = self.cursor - size;
            self.text(MARGIN, y, Face::Regular, size, &line);
            self.cursor = y - size * 0.4;
        }
    }

    /// Writes `picture` once as an XObject; returns its id.
    fn image(&mut self, picture: &Picture) -> Ref {
        let id = self.alloc();
        let mut xobject = self.pdf.image_xobject(id, picture.zlib());
        xobject.filter(Filter::FlateDecode);
        if picture.png_filtered() {
            xobject
                .decode_parms()
                .predictor(Predictor::PngOptimum)
                .colors(picture.channels().count())
                .bits_per_component(8)
                .columns(picture.width() as i32);
        }
        xobject.width(picture.width() as i32);
        xobject.height(picture.height() as i32);
        match picture.channels() {
            Channels::Grey => xobject.color_space().device_gray(),
            Channels::Rgb => xobject.color_space().device_rgb(),
        };
        xobject.bits_per_component(8);
        xobject.finish();
        id
    }

    /// Draws the image `id` of `size` px, fitted into the box (x, y from the bottom, w, h),
    /// centred; returns where it landed.
    fn place(
        &mut self,
        id: Ref,
        size: (u32, u32),
        bx: (f32, f32, f32, f32),
    ) -> (f32, f32, f32, f32) {
        let (x, y, w, h) = bx;
        let (iw, ih) = (size.0.max(1) as f32, size.1.max(1) as f32);
        let scale = (w / iw).min(h / ih);
        let (dw, dh) = (iw * scale, ih * scale);
        let (dx, dy) = (x + (w - dw) / 2.0, y + (h - dh) / 2.0);
        self.place_at(id, (dx, dy, dw, dh));
        (dx, dy, dw, dh)
    }

    /// Draws the image `id` into the box (x, y from the bottom, w, h) as it is.
    fn place_at(&mut self, id: Ref, bx: (f32, f32, f32, f32)) {
        let (x, y, w, h) = bx;
        self.image_count += 1;
        let name = format!("Im{}", self.image_count);
        let page = self.pages.last_mut().expect("a page is open");
        page.images.push((name.clone(), id));
        page.content.save_state();
        page.content.transform([w, 0.0, 0.0, h, x, y]);
        page.content.x_object(Name(name.as_bytes()));
        page.content.restore_state();
    }

    fn rule(&mut self, x0: f32, y0: f32, x1: f32, y1: f32, grey: f32, width: f32) {
        let content = self.content();
        content.set_stroke_gray(grey);
        content.set_line_width(width);
        content.move_to(x0, y0);
        content.line_to(x1, y1);
        content.stroke();
    }

    fn fill_rect(&mut self, x: f32, y: f32, w: f32, h: f32, rgb: (f32, f32, f32)) {
        let content = self.content();
        content.set_fill_rgb(rgb.0, rgb.1, rgb.2);
        content.rect(x, y, w, h);
        content.fill_nonzero();
        content.set_fill_gray(0.0);
    }

    /// A table across the page, its header repeated on every page it runs onto.
    fn table(&mut self, table: &Table) {
        self.heading(table.title);
        if table.rows.is_empty() {
            self.paragraph(
                "None known yet: a designer adds them in the spec sheet (-i spec=FILE.yaml) or with the edit workflow.",
                BODY,
            );
            self.cursor -= 8.0;
            return;
        }
        let widths = column_widths(table, self.inner_width());
        let header_height = self.row_height(&table.header, &widths, Face::Bold);
        self.ensure(header_height + 20.0);
        self.table_row(&table.header, &widths, Face::Bold, Some(0.88));
        for (i, row) in table.rows.iter().enumerate() {
            let height = self.row_height(row, &widths, Face::Regular);
            if self.cursor - height < FOOTER_SPACE {
                self.new_page();
                self.table_row(&table.header, &widths, Face::Bold, Some(0.88));
            }
            let shade = (i % 2 == 1).then_some(0.96);
            self.table_row(row, &widths, Face::Regular, shade);
        }
        self.cursor -= 14.0;
    }

    fn row_height(&self, row: &[String], widths: &[f32], face: Face) -> f32 {
        let lines = row
            .iter()
            .zip(widths)
            .map(|(cell, w)| text::wrap(cell, face, BODY, w - 6.0).len())
            .max()
            .unwrap_or(1);
        lines as f32 * (BODY * 1.2) + 5.0
    }

    fn table_row(&mut self, row: &[String], widths: &[f32], face: Face, shade: Option<f32>) {
        let height = self.row_height(row, widths, face);
        let top = self.cursor;
        if let Some(grey) = shade {
            let width = self.inner_width();
            let content = self.content();
            content.set_fill_gray(grey);
            content.rect(MARGIN, top - height, width, height);
            content.fill_nonzero();
            content.set_fill_gray(0.0);
        }
        let mut x = MARGIN;
        for (cell, w) in row.iter().zip(widths) {
            for (n, line) in text::wrap(cell, face, BODY, w - 6.0).iter().enumerate() {
                let y = top - 3.0 - BODY - n as f32 * BODY * 1.2;
                self.text(x + 3.0, y, face, BODY, line);
            }
            x += w;
        }
        self.cursor = top - height;
    }

    /// Draws every page's header and footer, then writes the document.
    fn finish(mut self, header_left: &str, header_right: &str, title: &str) -> Vec<u8> {
        let count = self.pages.len();
        let (width, height) = (self.width, self.height);
        let pages = std::mem::take(&mut self.pages);
        let mut page_ids = Vec::new();
        for (i, mut page) in pages.into_iter().enumerate() {
            let footer = format!("page {} of {count}", i + 1);
            {
                let content = &mut page.content;
                draw_text(
                    content,
                    MARGIN,
                    height - 30.0,
                    Face::Bold,
                    10.0,
                    header_left,
                );
                let right_width = text::width(header_right, Face::Regular, 10.0);
                draw_text(
                    content,
                    width - MARGIN - right_width,
                    height - 30.0,
                    Face::Regular,
                    10.0,
                    header_right,
                );
                content.set_stroke_gray(0.3);
                content.set_line_width(0.8);
                content.move_to(MARGIN, height - 38.0);
                content.line_to(width - MARGIN, height - 38.0);
                content.stroke();
                let footer_width = text::width(&footer, Face::Regular, 9.0);
                draw_text(
                    content,
                    (width - footer_width) / 2.0,
                    20.0,
                    Face::Regular,
                    9.0,
                    &footer,
                );
            }
            let page_id = self.alloc();
            let content_id = self.alloc();
            page_ids.push(page_id);
            let mut pdf_page = self.pdf.page(page_id);
            pdf_page.media_box(Rect::new(0.0, 0.0, width, height));
            pdf_page.parent(PAGE_TREE);
            pdf_page.contents(content_id);
            let mut resources = pdf_page.resources();
            resources
                .fonts()
                .pair(Name(text::resource(Face::Regular)), REGULAR)
                .pair(Name(text::resource(Face::Bold)), BOLD);
            let mut xobjects = resources.x_objects();
            for (name, id) in &page.images {
                xobjects.pair(Name(name.as_bytes()), *id);
            }
            xobjects.finish();
            resources.finish();
            pdf_page.finish();
            let data = page.content.finish();
            self.pdf.stream(content_id, &data);
        }
        self.pdf.catalog(CATALOG).pages(PAGE_TREE);
        self.pdf
            .pages(PAGE_TREE)
            .kids(page_ids.iter().copied())
            .count(count as i32);
        for (id, face) in [(REGULAR, "Helvetica"), (BOLD, "Helvetica-Bold")] {
            self.pdf
                .type1_font(id)
                .base_font(Name(face.as_bytes()))
                .encoding_predefined(Name(b"WinAnsiEncoding"));
        }
        self.pdf
            .document_info(INFO)
            .title(TextStr(title))
            .creator(TextStr("techpack"));
        self.pdf.finish()
    }
}

fn draw_text(content: &mut Content, x: f32, y: f32, face: Face, size: f32, text: &str) {
    let bytes = text::win_ansi(text);
    content.begin_text();
    content.set_font(Name(text::resource(face)), size);
    content.next_line(x, y);
    content.show(Str(&bytes));
    content.end_text();
}

/// Column widths that fit `total`: each column's natural width (its widest cell, within
/// bounds), scaled to the page.
fn column_widths(table: &Table, total: f32) -> Vec<f32> {
    let natural: Vec<f32> = (0..table.header.len())
        .map(|col| {
            let head = text::width(&table.header[col], Face::Bold, BODY);
            let widest = table
                .rows
                .iter()
                .filter_map(|r| r.get(col))
                .map(|c| text::width(c, Face::Regular, BODY))
                .fold(head, f32::max);
            (widest + 8.0).clamp(36.0, 260.0)
        })
        .collect();
    let sum: f32 = natural.iter().sum();
    natural.iter().map(|w| w * total / sum).collect()
}

fn rgb_of(hex: Option<&str>) -> Option<(f32, f32, f32)> {
    let hex = hex?.strip_prefix('#')?;
    if hex.len() != 6 {
        return None;
    }
    let channel = |i: usize| {
        u8::from_str_radix(&hex[i..i + 2], 16)
            .ok()
            .map(|v| f32::from(v) / 255.0)
    };
    Some((channel(0)?, channel(2)?, channel(4)?))
}

fn cover(w: &mut Writer, doc: &Document, flat_image: Option<(Ref, (u32, u32))>) {
    let tp = doc.tech_pack;
    let meta = &tp.meta;
    w.new_page();
    let y = w.cursor - 30.0;
    w.text(MARGIN, y, Face::Bold, 24.0, &meta.product_name);
    w.text(MARGIN, y - 22.0, Face::Regular, 12.0, "Technical package");
    let or_dash = |v: &Option<String>| v.clone().unwrap_or_else(|| tables::UNKNOWN.into());
    let references = [
        ("width", meta.references.width_mm),
        ("height", meta.references.height_mm),
        ("depth", meta.references.depth_mm),
    ]
    .iter()
    .filter_map(|(axis, v)| v.map(|mm| format!("{axis} {} mm", tables::number(mm))))
    .collect::<Vec<_>>();
    let facts = [
        ("Style", or_dash(&meta.style_id)),
        ("Season", or_dash(&meta.season)),
        ("Brand", or_dash(&meta.brand)),
        ("Category", or_dash(&meta.category.value)),
        ("Points of measure", format!("{} set", meta.pom_set.name)),
        (
            "Reference sizes",
            if references.is_empty() {
                "none given (no values in mm)".into()
            } else {
                references.join(", ")
            },
        ),
        ("Version", doc.version.clone()),
        ("Date", doc.date.clone()),
        (
            "Photos",
            meta.source_photos
                .iter()
                .map(|p| p.view.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        ),
    ];
    let mut line_y = y - 60.0;
    let column = w.inner_width() * 0.38;
    for (label, value) in facts {
        w.text(MARGIN, line_y, Face::Bold, 11.0, label);
        for (n, line) in text::wrap(&value, Face::Regular, 11.0, column - 110.0)
            .iter()
            .enumerate()
        {
            w.text(
                MARGIN + 110.0,
                line_y - n as f32 * 13.0,
                Face::Regular,
                11.0,
                line,
            );
        }
        line_y -= 20.0;
    }
    let reason = &meta.pom_set.reason;
    for (n, line) in text::wrap(reason, Face::Regular, 9.0, column)
        .iter()
        .enumerate()
    {
        w.text(
            MARGIN,
            line_y - 6.0 - n as f32 * 11.0,
            Face::Regular,
            9.0,
            line,
        );
    }
    if let Some((id, size)) = flat_image {
        let x = MARGIN + column + 20.0;
        let bx = (
            x,
            FOOTER_SPACE,
            w.width - MARGIN - x,
            w.top() - FOOTER_SPACE - 10.0,
        );
        w.place(id, size, bx);
    }
}

/// One flat on its own page, as large as the page allows: the drawing with its dimension
/// lines and numbered callouts, laid out by [`flat::lay_out`] exactly as the SVG is.
fn flat_page(w: &mut Writer, flat: &Flat, id: Ref) {
    w.new_page();
    let title = format!("{} view — technical flat", capitalise(flat.view.as_str()));
    w.heading(&title);
    let layout = flat::lay_out(flat.size, flat.callouts);
    let (box_w, box_h) = (w.inner_width(), w.cursor - FOOTER_SPACE);
    let scale = (box_w / layout.width as f32).min(box_h / layout.height as f32);
    let page = OnPage {
        left: MARGIN + (box_w - layout.width as f32 * scale) / 2.0,
        top: w.cursor,
        scale,
    };
    let d = layout.drawing;
    let (x, y) = page.point(Point {
        x: d.x,
        y: d.bottom(),
    });
    w.place_at(id, (x, y, d.w as f32 * scale, d.h as f32 * scale));
    let stroke = layout.stroke as f32 * scale;
    for dimension in &layout.dimensions {
        let content = w.content();
        content.set_stroke_rgb(BLUE.0, BLUE.1, BLUE.2);
        content.set_fill_rgb(BLUE.0, BLUE.1, BLUE.2);
        content.set_line_width(stroke * 0.6);
        for extension in &dimension.extensions {
            page.segment(content, extension);
        }
        content.set_line_width(stroke);
        page.segment(content, &dimension.line);
        for arrow in &dimension.arrows {
            page.polygon(content, arrow);
            content.fill_nonzero();
        }
        page.text(content, &dimension.text, BLUE);
    }
    for label in &layout.labels {
        let content = w.content();
        content.set_stroke_rgb(RED.0, RED.1, RED.2);
        content.set_fill_rgb(RED.0, RED.1, RED.2);
        content.set_line_width(stroke);
        if let Some(leader) = &label.leader {
            page.segment(content, leader);
            page.circle(content, leader.to, layout.font * 0.22);
            content.fill_nonzero();
        }
        page.circle(content, label.badge, layout.badge_radius);
        content.fill_nonzero();
        let number = label.number_text(layout.font);
        page.text(content, &number, (1.0, 1.0, 1.0));
        for line in &label.lines {
            page.text(content, line, (0.1, 0.1, 0.1));
        }
    }
    w.content().set_fill_gray(0.0);
}

/// A flat's canvas on the page: `scale` points per canvas unit, its top-left corner at
/// (`left`, `top`) (PDF space, y up).
struct OnPage {
    left: f32,
    top: f32,
    scale: f32,
}

impl OnPage {
    fn point(&self, p: Point) -> (f32, f32) {
        (
            self.left + p.x as f32 * self.scale,
            self.top - p.y as f32 * self.scale,
        )
    }

    fn segment(&self, content: &mut Content, segment: &Segment) {
        let ((x1, y1), (x2, y2)) = (self.point(segment.from), self.point(segment.to));
        content.move_to(x1, y1);
        content.line_to(x2, y2);
        content.stroke();
    }

    fn polygon(&self, content: &mut Content, points: &[Point]) {
        for (i, p) in points.iter().enumerate() {
            let (x, y) = self.point(*p);
            if i == 0 {
                content.move_to(x, y);
            } else {
                content.line_to(x, y);
            }
        }
        content.close_path();
    }

    /// A circle's path (four Bézier quarters), to be filled.
    fn circle(&self, content: &mut Content, centre: Point, radius: f64) {
        const K: f32 = 0.552_284_8;
        let (cx, cy) = self.point(centre);
        let r = radius as f32 * self.scale;
        content.move_to(cx + r, cy);
        content.cubic_to(cx + r, cy + K * r, cx + K * r, cy + r, cx, cy + r);
        content.cubic_to(cx - K * r, cy + r, cx - r, cy + K * r, cx - r, cy);
        content.cubic_to(cx - r, cy - K * r, cx - K * r, cy - r, cx, cy - r);
        content.cubic_to(cx + K * r, cy - r, cx + r, cy - K * r, cx + r, cy);
        content.close_path();
    }

    /// A line of text as real text, aligned and turned as the layout says.
    fn text(&self, content: &mut Content, line: &TextLine, rgb: (f32, f32, f32)) {
        let face = if line.bold { Face::Bold } else { Face::Regular };
        let size = line.size as f32 * self.scale;
        let width = text::width(&line.text, face, size);
        let shift = match line.align {
            Align::Start => 0.0,
            Align::Middle => width / 2.0,
            Align::End => width,
        };
        let (x, y) = self.point(line.at);
        // Turned upwards, the text runs up the page from its start.
        let matrix = if line.upwards {
            [0.0, 1.0, -1.0, 0.0, x, y - shift]
        } else {
            [1.0, 0.0, 0.0, 1.0, x - shift, y]
        };
        content.set_fill_rgb(rgb.0, rgb.1, rgb.2);
        content.begin_text();
        content.set_font(Name(text::resource(face)), size);
        content.set_text_matrix(matrix);
        content.show(Str(&text::win_ansi(&line.text)));
        content.end_text();
    }
}

fn capitalise(word: &str) -> String {
    let mut chars = word.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().collect::<String>() + chars.as_str())
        .unwrap_or_default()
}

fn colourways(w: &mut Writer, tp: &TechPack) {
    w.heading("Colourways");
    if tp.colorways.is_empty() {
        w.paragraph("None known yet.", BODY);
        return;
    }
    for way in &tp.colorways {
        w.ensure(34.0);
        let y = w.cursor - 12.0;
        w.text(MARGIN, y, Face::Bold, 10.0, &way.name);
        w.cursor = y - 6.0;
        for color in &way.colors {
            w.ensure(22.0);
            let top = w.cursor;
            match rgb_of(color.hex.as_deref()) {
                Some(rgb) => w.fill_rect(MARGIN, top - 16.0, 28.0, 14.0, rgb),
                None => w.rule(MARGIN, top - 16.0, MARGIN + 28.0, top - 2.0, 0.5, 0.5),
            }
            let line = format!(
                "{} ({})",
                tables::color(color),
                tables::source(color.source)
            );
            w.text(MARGIN + 36.0, top - 12.0, Face::Regular, 10.0, &line);
            w.cursor = top - 20.0;
        }
    }
    w.cursor -= 10.0;
}

fn close_up_pages(w: &mut Writer, close_ups: &[CloseUp], ids: &[Ref]) {
    const PER_ROW: usize = 4;
    let cell = w.inner_width() / PER_ROW as f32;
    for (i, (shot, id)) in close_ups.iter().zip(ids).enumerate() {
        if i % (PER_ROW * 2) == 0 {
            w.new_page();
            w.heading("Close-ups");
        }
        let (col, row) = (i % PER_ROW, (i / PER_ROW) % 2);
        let side = cell - 14.0;
        let top = w.top() - 36.0 - row as f32 * (side + 44.0);
        let x = MARGIN + col as f32 * cell;
        w.place(*id, shot.image.dimensions(), (x, top - side, side, side));
        for (n, line) in text::wrap(&shot.caption, Face::Regular, 8.0, side)
            .iter()
            .take(3)
            .enumerate()
        {
            w.text(
                x,
                top - side - 11.0 - n as f32 * 10.0,
                Face::Regular,
                8.0,
                line,
            );
        }
    }
}

/// A part the run could not make, under the heading it would have had, with why: the PDF
/// says what is missing rather than leaving it out silently (as the page does).
fn not_produced(w: &mut Writer, tp: &TechPack, part: Part, title: &str) {
    for missing in tp.not_produced.iter().filter(|m| m.part == part) {
        w.heading(title);
        w.paragraph(&format!("Not produced: {}", missing.reason), BODY);
        w.cursor -= 8.0;
    }
}

/// The PDF's bytes.
pub fn render(doc: &Document) -> Vec<u8> {
    let tp = doc.tech_pack;
    let meta = &tp.meta;
    let mut w = Writer::new(doc.paper);
    let flat_ids: Vec<Ref> = doc.flats.iter().map(|f| w.image(&f.drawing)).collect();
    let main_flat = doc
        .flats
        .iter()
        .zip(&flat_ids)
        .find(|(f, _)| f.view == View::Front)
        .or_else(|| doc.flats.iter().zip(&flat_ids).next())
        .map(|(f, id)| (*id, f.drawing.dimensions()));
    let cover_image = main_flat.or_else(|| {
        doc.cover_photo
            .as_ref()
            .map(|photo| (w.image(photo), photo.dimensions()))
    });
    cover(&mut w, doc, cover_image);
    for (flat, id) in doc.flats.iter().zip(&flat_ids) {
        flat_page(&mut w, flat, *id);
    }
    w.new_page();
    not_produced(&mut w, tp, Part::Sketches, "Technical flats");
    w.table(&tables::points_of_measure(tp));
    if let Some(chart) = &tp.size_chart {
        w.table(&tables::size_chart(chart));
    }
    not_produced(&mut w, tp, Part::SizeChart, "Graded size chart");
    w.table(&tables::bill_of_materials(tp));
    w.table(&tables::construction(tp));
    colourways(&mut w, tp);
    w.table(&tables::labels_and_packaging(tp));
    w.table(&tables::revisions(tp));
    let close_up_ids: Vec<Ref> = doc.close_ups.iter().map(|c| w.image(&c.image)).collect();
    close_up_pages(&mut w, &doc.close_ups, &close_up_ids);
    not_produced(&mut w, tp, Part::CloseUps, "Close-ups");

    let style = meta.style_id.as_deref().unwrap_or(tables::UNKNOWN);
    let season = meta.season.as_deref().unwrap_or(tables::UNKNOWN);
    let left = format!("{} · Style {style} · Season {season}", meta.product_name);
    let right = format!("Version {} · {}", doc.version, doc.date);
    let title = format!("Tech pack — {}", meta.product_name);
    w.finish(&left, &right, &title)
}
