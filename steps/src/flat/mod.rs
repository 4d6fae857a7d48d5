//! Technical flats with their callouts: which callouts a view gets, where each goes, and the
//! flat drawn as SVG (the PDF draws the same layout, `export::pdf`).
//!
//! # Layout
//! - `callouts`: the callouts of one view's flat, chosen from the tech pack as data, and
//!   where a traced drawing sits on its photo ([`DrawingFrame`]).
//! - `layout`: the geometry both renderers use: canvas, dimension lines, numbered labels
//!   and their leader lines ([`FlatLayout`]).
//! - `svg`: the flat as SVG.

mod callouts;
pub mod layout;
mod svg;

pub use callouts::{CloseUpSpot, DrawingFrame, callouts_for_view, drawing_frame};
pub use layout::{FlatLayout, lay_out};
pub use svg::render_svg;
