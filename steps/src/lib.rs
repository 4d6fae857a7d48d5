//! The tech-pack steps (`techpack/*`): category detection, base-view analysis, close-ups,
//! technical sketches, edit and regenerate.
//!
//! # Layout
//! - [`kinds`]: the `techpack/*` step kinds, one file each, [`TechpackServices`] (what they
//!   share at run time), their failure codes (`failure`) and logged provider calls
//!   (`ai_calls`); [`register`] adds them to a registry.
//! - [`providers`]: the vision and image providers (OpenAI, Gemini, the offline `local` one)
//!   and which one answers a step (`choice`).
//! - [`local`]: the offline image processing behind the `local` provider.
//! - [`techpack`]: the tech pack's types and its published JSON Schemas.
//! - [`storage`]: the catalog (products, revisions, analyses, images, the AI operation log)
//!   on sled or PostgreSQL.
//! - [`export`]: a finished tech pack written to a folder (JSON, HTML, CSV, XLSX, PDF).
//! - [`flat`]: technical flats' callouts, their layout (shared by the SVG and the PDF) and
//!   the SVG.
//! - [`helvetica`]: Helvetica's widths and line breaking, shared by the PDF and the flats.
//! - [`work_budget`]: [`work_budget::MemoryBudget`], the one bound on memory held by image
//!   work (upload bodies, decoded pixels), shared fairly between users.

pub mod export;
pub mod flat;
pub mod helvetica;
pub mod kinds;
pub mod local;
pub mod providers;
pub mod storage;
pub mod techpack;
pub mod work_budget;

pub use kinds::TechpackServices;

use techpack_engine::StepRegistry;

/// Adds the tech-pack step kinds to `registry`.
pub fn register(registry: &mut StepRegistry) {
    kinds::register(registry);
}
