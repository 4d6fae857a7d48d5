//! [`TechpackServices`]: what the tech-pack steps share at run time (the wiring puts it into
//! the engine's `Resources`): the catalog, the providers, the decode limits and the memory
//! budget, and the choice of provider for a step.

use std::sync::Arc;

use techpack_engine::{StepContext, StepError};

use super::failure::provider_error;
use crate::local::DecodeLimits;
use crate::providers::{
    ImageChoice, ImageProvider, LocalProvider, ProviderDefaults, ProviderSelection,
    RemoteProviders, VisionChoice, VisionProvider,
};
use crate::storage::Catalog;
use crate::work_budget::MemoryBudget;

pub struct TechpackServices {
    pub catalog: Catalog,
    pub defaults: ProviderDefaults,
    pub limits: DecodeLimits,
    pub local: Arc<LocalProvider>,
    pub remote: Option<Arc<dyn RemoteProviders>>,
    /// Bounds the memory all image work holds at once; the local provider shares it.
    pub budget: Arc<MemoryBudget>,
}

impl TechpackServices {
    pub fn from_context(ctx: &StepContext) -> Result<Arc<TechpackServices>, StepError> {
        ctx.resources.get::<TechpackServices>().ok_or_else(|| {
            StepError::permanent("tech-pack services are not configured in this engine")
        })
    }

    /// The vision provider a step selected, or the run's default.
    pub fn vision(
        &self,
        selection: &ProviderSelection,
    ) -> Result<Arc<dyn VisionProvider>, StepError> {
        match selection.provider.unwrap_or(self.defaults.vision) {
            VisionChoice::Local => Ok(self.local.clone()),
            choice => self
                .remote()?
                .vision(choice, selection.model.as_deref())
                .map_err(provider_error),
        }
    }

    /// The image provider a step selected, or the run's default.
    pub fn imaging(
        &self,
        selection: &ProviderSelection,
    ) -> Result<Arc<dyn ImageProvider>, StepError> {
        match selection.image_provider.unwrap_or(self.defaults.image) {
            ImageChoice::Local => Ok(self.local.clone()),
            choice => self
                .remote()?
                .imaging(choice, selection.image_model.as_deref())
                .map_err(provider_error),
        }
    }

    /// The HTTP providers, when this build has them.
    fn remote(&self) -> Result<&dyn RemoteProviders, StepError> {
        self.remote
            .as_deref()
            .ok_or_else(|| StepError::permanent("HTTP providers are not available in this build"))
    }
}
