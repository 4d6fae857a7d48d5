//! The registry of step kinds, keyed by the `uses:` string.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{StepKind, builtin};

/// Maps `uses:` strings (`core/echo`, `techpack/detect-category`, `wasm/grade-sizes`) to kinds.
#[derive(Clone, Default)]
pub struct StepRegistry {
    kinds: BTreeMap<String, Arc<dyn StepKind>>,
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
        self.kinds.insert(uses.into(), Arc::new(kind));
    }

    pub fn get(&self, uses: &str) -> Option<&Arc<dyn StepKind>> {
        self.kinds.get(uses)
    }

    /// Every registered kind, sorted by name.
    pub fn kinds(&self) -> impl Iterator<Item = (&str, &Arc<dyn StepKind>)> {
        self.kinds.iter().map(|(k, v)| (k.as_str(), v))
    }
}
