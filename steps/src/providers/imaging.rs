//! Image providers: make the pictures of a tech pack (close-ups, technical flats, regenerated
//! views) from source photos.

use super::{InlineImage, ProviderError, Usage};
use crate::techpack::View;

/// A picture to make. `source` images are passed alongside.
#[derive(Debug, Clone)]
pub enum ImageTask<'a> {
    /// A close-up of one detail; `region` is `[x, y, w, h]` in the first source image.
    CloseUp {
        detail: &'a str,
        region: Option<[u32; 4]>,
        description: &'a str,
    },
    /// A black-and-white technical flat of one view.
    Sketch { view: View, description: &'a str },
    /// A new photo of one view.
    Regenerate {
        view: View,
        prompt: Option<&'a str>,
        description: &'a str,
    },
}

impl ImageTask<'_> {
    pub fn operation(&self) -> &'static str {
        match self {
            ImageTask::CloseUp { .. } => "generate-close-up",
            ImageTask::Sketch { .. } => "generate-sketch",
            ImageTask::Regenerate { .. } => "regenerate-view",
        }
    }
}

/// A made picture.
#[derive(Debug, Clone)]
pub struct ImageAnswer {
    pub bytes: Vec<u8>,
    pub mime: String,
    pub width: u32,
    pub height: u32,
    pub usage: Usage,
    pub model: String,
}

#[async_trait::async_trait]
pub trait ImageProvider: Send + Sync {
    /// `local`, `gemini`.
    fn name(&self) -> &'static str;
    fn model(&self) -> &str;
    async fn generate(
        &self,
        task: &ImageTask<'_>,
        source: &[InlineImage],
    ) -> Result<ImageAnswer, ProviderError>;
}
