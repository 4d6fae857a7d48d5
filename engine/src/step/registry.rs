//! The registry of step kinds, keyed by the `uses:` string.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{StepKind, builtin};

/// Maps `uses:` strings (`core/echo`, `techpack/detect-category`, `wasm/grade-sizes`) to kinds.
#[derive(Clone, Default)]
pub struct StepRegistry {
    kinds: BTreeMap<String, Arc<dyn StepKind>>,
    /// Kinds that exist but could not be loaded (e.g. a WASM plugin that fails to compile),
    /// with the reason, so validation can say why instead of "unknown".
    unavailable: BTreeMap<String, String>,
}

impl StepRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// A registry holding the built-in `core/*` kinds.
    pub fn with_builtins() -> Self {
        let mut registry = Self::new();
        builtin::register(&mut registry);
        registry
    }

    /// Adds (or replaces) a kind.
    pub fn register(&mut self, uses: impl Into<String>, kind: impl StepKind) {
        let uses = uses.into();
        self.unavailable.remove(&uses);
        self.kinds.insert(uses, Arc::new(kind));
    }

    /// Records that `uses` exists but cannot be used, and why; workflows naming it fail
    /// validation with that reason.
    pub fn register_unavailable(&mut self, uses: impl Into<String>, reason: impl Into<String>) {
        let uses = uses.into();
        self.kinds.remove(&uses);
        self.unavailable.insert(uses, reason.into());
    }

    /// Why `uses` cannot be used, if it was registered as unavailable.
    pub fn unavailable_reason(&self, uses: &str) -> Option<&str> {
        self.unavailable.get(uses).map(String::as_str)
    }

    pub fn get(&self, uses: &str) -> Option<&Arc<dyn StepKind>> {
        self.kinds.get(uses)
    }

    /// Every registered kind, sorted by name.
    pub fn kinds(&self) -> impl Iterator<Item = (&str, &Arc<dyn StepKind>)> {
        self.kinds.iter().map(|(k, v)| (k.as_str(), v))
    }
}
