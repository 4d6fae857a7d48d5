//! Which provider answers a step: the choices, the run-wide defaults, a step's own selection,
//! and the trait that builds the HTTP providers chosen (kept out of the offline path).

use std::sync::Arc;

use serde::Deserialize;

use super::{ImageProvider, ProviderError, VisionProvider};

/// Which vision provider answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum VisionChoice {
    #[default]
    Local,
    Openai,
}

/// Which image provider draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ImageChoice {
    #[default]
    Local,
    Gemini,
}

impl std::str::FromStr for VisionChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "local" => Ok(VisionChoice::Local),
            "openai" => Ok(VisionChoice::Openai),
            other => Err(format!("unknown vision provider `{other}` (local, openai)")),
        }
    }
}

impl std::str::FromStr for ImageChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "local" => Ok(ImageChoice::Local),
            "gemini" => Ok(ImageChoice::Gemini),
            other => Err(format!("unknown image provider `{other}` (local, gemini)")),
        }
    }
}

/// Run-wide provider defaults (`--vision-provider`, `--image-provider`, or the
/// `TECHPACK_VISION_PROVIDER` / `TECHPACK_IMAGE_PROVIDER` environment); a step's own
/// `with: { provider: … }` wins over them.
#[derive(Debug, Clone, Default)]
pub struct ProviderDefaults {
    pub vision: VisionChoice,
    pub image: ImageChoice,
}

/// A provider choice made in a step's `with:`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ProviderSelection {
    pub provider: Option<VisionChoice>,
    pub model: Option<String>,
    pub image_provider: Option<ImageChoice>,
    pub image_model: Option<String>,
}

/// Builds the HTTP providers on demand (kept out of the offline path entirely).
pub trait RemoteProviders: Send + Sync {
    fn vision(
        &self,
        choice: VisionChoice,
        model: Option<&str>,
    ) -> Result<Arc<dyn VisionProvider>, ProviderError>;
    fn imaging(
        &self,
        choice: ImageChoice,
        model: Option<&str>,
    ) -> Result<Arc<dyn ImageProvider>, ProviderError>;
}
