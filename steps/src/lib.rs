//! The tech-pack steps (`techpack/*`): category detection, base-view analysis, close-ups,
//! technical sketches, edit and regenerate.
//!
//! # Layout
//! - `register`: adds every `techpack/*` kind to a registry (the kinds arrive with the
//!   tech-pack steps issue; until then the registry gains nothing here).
//! - `work_budget`: [`work_budget::MemoryBudget`], the one bound on memory held by image
//!   work (upload bodies, decoded pixels), shared fairly between users.

pub mod export;
pub mod kinds;
pub mod providers;
pub mod services;
pub mod sketch_overlay;
pub mod storage;
pub mod techpack;
pub mod work_budget;

pub mod local;

use techpack_engine::StepRegistry;

/// Adds the tech-pack step kinds to `registry`.
pub fn register(registry: &mut StepRegistry) {
    kinds::register(registry);
}
