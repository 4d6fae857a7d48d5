//! The registry of step kinds, keyed by the `uses:` string.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use super::{StepKind, builtin};

/// Makes a kind registered with [`StepRegistry::register_deferred`], or says why it cannot.
pub type LoadKind = Box<dyn Fn() -> Result<Arc<dyn StepKind>, String> + Send + Sync>;

/// A kind made the first time it is asked for, then kept.
struct Deferred {
    load: LoadKind,
    loaded: OnceLock<Result<Arc<dyn StepKind>, String>>,
}

impl Deferred {
    fn get(&self) -> &Result<Arc<dyn StepKind>, String> {
        self.loaded.get_or_init(|| (self.load)())
    }
}

/// Maps `uses:` strings (`core/echo`, `techpack/detect-category`, `wasm/grade-sizes`) to kinds.
#[derive(Clone, Default)]
pub struct StepRegistry {
    kinds: BTreeMap<String, Arc<dyn StepKind>>,
    /// Kinds that exist but could not be loaded (e.g. a WASM plugin that fails to compile),
    /// with the reason, so validation can say why instead of "unknown".
    unavailable: BTreeMap<String, String>,
    /// Kinds made when a workflow first names one (WASM plugins: compiling them all at
    /// start-up made every command pay for plugins its workflow does not use). Shared by
    /// clones, so each is made once.
    deferred: BTreeMap<String, Arc<Deferred>>,
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
        self.deferred.remove(&uses);
        self.kinds.insert(uses, Arc::new(kind));
    }

    /// Adds (or replaces) a kind made by `load` the first time it is asked for ([`get`],
    /// so when a workflow naming it is loaded); if `load` fails, the kind is unavailable
    /// with its reason.
    ///
    /// [`get`]: StepRegistry::get
    pub fn register_deferred(
        &mut self,
        uses: impl Into<String>,
        load: impl Fn() -> Result<Arc<dyn StepKind>, String> + Send + Sync + 'static,
    ) {
        let uses = uses.into();
        self.unavailable.remove(&uses);
        self.kinds.remove(&uses);
        self.deferred.insert(
            uses,
            Arc::new(Deferred {
                load: Box::new(load),
                loaded: OnceLock::new(),
            }),
        );
    }

    /// Records that `uses` exists but cannot be used, and why; workflows naming it fail
    /// validation with that reason.
    pub fn register_unavailable(&mut self, uses: impl Into<String>, reason: impl Into<String>) {
        let uses = uses.into();
        self.kinds.remove(&uses);
        self.deferred.remove(&uses);
        self.unavailable.insert(uses, reason.into());
    }

    /// Why `uses` cannot be used, if it was registered as unavailable or its deferred
    /// loading failed (which this makes it try).
    pub fn unavailable_reason(&self, uses: &str) -> Option<&str> {
        match self.deferred.get(uses) {
            Some(deferred) => deferred.get().as_ref().err().map(String::as_str),
            None => self.unavailable.get(uses).map(String::as_str),
        }
    }

    /// The kind `uses` names; a deferred kind is made now if it was not yet.
    pub fn get(&self, uses: &str) -> Option<&Arc<dyn StepKind>> {
        match self.kinds.get(uses) {
            Some(kind) => Some(kind),
            None => self.deferred.get(uses)?.get().as_ref().ok(),
        }
    }

    /// Every registered kind that is made, sorted by name (deferred ones that no workflow
    /// asked for yet are left out: see [`StepRegistry::names`]).
    pub fn kinds(&self) -> impl Iterator<Item = (&str, &Arc<dyn StepKind>)> {
        self.kinds.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The name of every kind a workflow may use, made or deferred, sorted.
    pub fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .kinds
            .keys()
            .chain(self.deferred.keys())
            .map(String::as_str)
            .collect();
        names.sort_unstable();
        names
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[test]
    fn a_deferred_kind_is_made_once_and_only_when_asked_for() {
        let made = Arc::new(AtomicUsize::new(0));
        let mut registry = StepRegistry::with_builtins();
        let counter = made.clone();
        registry.register_deferred("wasm/grade", move || {
            counter.fetch_add(1, Ordering::SeqCst);
            Ok(Arc::new(builtin::echo::Echo) as Arc<dyn StepKind>)
        });
        registry.register_deferred("wasm/broken", || Err("does not compile".to_string()));
        assert!(registry.names().contains(&"wasm/grade"));
        assert!(registry.get("core/echo").is_some());
        assert_eq!(made.load(Ordering::SeqCst), 0, "made before anyone asked");

        let clone = registry.clone();
        assert!(registry.get("wasm/grade").is_some());
        assert!(clone.get("wasm/grade").is_some());
        assert_eq!(registry.unavailable_reason("wasm/grade"), None);
        assert_eq!(made.load(Ordering::SeqCst), 1, "made once, clones share it");

        assert!(registry.get("wasm/broken").is_none());
        assert_eq!(
            registry.unavailable_reason("wasm/broken"),
            Some("does not compile")
        );
    }
}
