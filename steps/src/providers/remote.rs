//! The HTTP providers behind the vision and image traits: OpenAI-compatible chat completions
//! for analysis, Gemini for images. Built on demand, so offline runs never touch them.

use std::sync::Arc;

use super::gemini::{GeminiClient, GeminiConfig, GenerateImageRequest};
use super::imaging::{ImageAnswer, ImageProvider, ImageTask};
use super::openai::{ChatJsonRequest, OpenAiClient, OpenAiConfig};
use super::prompts::{SYSTEM, image_prompt, vision_prompt};
use super::vision::{VisionAnswer, VisionProvider, VisionTask};
use super::{ImageChoice, RemoteProviders, VisionChoice};
use super::{InlineImage, ProviderError};
use crate::local::{self, DecodeLimits};

/// Builds HTTP providers from endpoint settings; a step's `model` replaces the default.
pub struct HttpProviders {
    /// Made when a run first asks for a remote provider: building its TLS configuration
    /// (the root certificates) is work a run of local steps should not pay for at start-up.
    http: std::sync::OnceLock<reqwest::Client>,
    limits: DecodeLimits,
    openai: OpenAiConfig,
    gemini: GeminiConfig,
}

impl HttpProviders {
    /// Settings from the environment (`OPENAI_*`, `GEMINI_*`).
    pub fn from_env(limits: DecodeLimits) -> Self {
        Self::new(
            limits,
            OpenAiConfig::from_env(&super::openai::SERVICE, None),
            GeminiConfig::from_env(&super::gemini::SERVICE, None),
        )
    }

    pub fn new(limits: DecodeLimits, openai: OpenAiConfig, gemini: GeminiConfig) -> Self {
        HttpProviders {
            http: std::sync::OnceLock::new(),
            limits,
            openai,
            gemini,
        }
    }
}

impl HttpProviders {
    fn http(&self) -> &reqwest::Client {
        self.http.get_or_init(reqwest::Client::new)
    }
}

impl RemoteProviders for HttpProviders {
    fn vision(
        &self,
        choice: VisionChoice,
        model: Option<&str>,
    ) -> Result<Arc<dyn VisionProvider>, ProviderError> {
        match choice {
            VisionChoice::Openai => {
                let mut config = self.openai.clone();
                if let Some(model) = model {
                    config.model = model.to_string();
                }
                let client = OpenAiClient::new(config, self.http().clone());
                Ok(Arc::new(OpenAiVision { client }))
            }
            VisionChoice::Local => Err(ProviderError::Local(
                "the local provider is not an HTTP provider".into(),
            )),
        }
    }

    fn imaging(
        &self,
        choice: ImageChoice,
        model: Option<&str>,
    ) -> Result<Arc<dyn ImageProvider>, ProviderError> {
        match choice {
            ImageChoice::Gemini => {
                let mut config = self.gemini.clone();
                if let Some(model) = model {
                    config.model = model.to_string();
                }
                let client = GeminiClient::new(config, self.http().clone());
                Ok(Arc::new(GeminiImaging {
                    client,
                    limits: self.limits,
                }))
            }
            ImageChoice::Local => Err(ProviderError::Local(
                "the local provider is not an HTTP provider".into(),
            )),
        }
    }
}

pub struct OpenAiVision {
    client: OpenAiClient,
}

#[async_trait::async_trait]
impl VisionProvider for OpenAiVision {
    fn name(&self) -> &'static str {
        "openai"
    }

    fn model(&self) -> &str {
        self.client.model()
    }

    async fn ask(
        &self,
        task: &VisionTask<'_>,
        images: &[InlineImage],
    ) -> Result<VisionAnswer, ProviderError> {
        let (name, mut schema) = task.schema();
        // Documentation keys of the published schema are not part of what the model follows.
        if let Some(object) = schema.as_object_mut() {
            object.remove("$schema");
            object.remove("title");
        }
        let request = ChatJsonRequest {
            system: SYSTEM.to_string(),
            user_text: vision_prompt(task),
            images: images.to_vec(),
            schema_name: name.to_string(),
            schema,
            max_tokens: Some(8192),
        };
        let response = self.client.chat_json(&request).await?;
        Ok(VisionAnswer {
            value: response.value,
            usage: response.usage,
            model: response.model,
        })
    }
}

pub struct GeminiImaging {
    client: GeminiClient,
    limits: DecodeLimits,
}

#[async_trait::async_trait]
impl ImageProvider for GeminiImaging {
    fn name(&self) -> &'static str {
        "gemini"
    }

    fn model(&self) -> &str {
        self.client.model()
    }

    async fn generate(
        &self,
        task: &ImageTask<'_>,
        source: &[InlineImage],
    ) -> Result<ImageAnswer, ProviderError> {
        let mut images = source.to_vec();
        if let (
            ImageTask::CloseUp {
                region: Some(region),
                ..
            },
            Some(first),
        ) = (task, source.first())
        {
            images.push(crop_region(first, *region, self.limits).await?);
        }
        let request = GenerateImageRequest {
            prompt: image_prompt(task),
            images,
        };
        let made = self.client.generate_image(&request).await?;
        // What comes back is checked like an upload: a real image within the decode limits.
        let limits = self.limits;
        let bytes = made.bytes;
        let (bytes, width, height) = tokio::task::spawn_blocking(move || {
            let decoded =
                local::decode(&bytes, &limits).map_err(|e| ProviderError::BadResponse {
                    provider: "gemini",
                    message: format!("the image it sent is unusable: {e}"),
                })?;
            Ok::<_, ProviderError>((bytes, decoded.width(), decoded.height()))
        })
        .await
        .map_err(|e| ProviderError::Local(e.to_string()))??;
        Ok(ImageAnswer {
            bytes,
            mime: made.mime,
            width,
            height,
            usage: made.usage,
            model: made.model,
        })
    }
}

/// The `[x, y, w, h]` area of an image, as PNG, to show a model which part is meant.
async fn crop_region(
    image: &InlineImage,
    region: [u32; 4],
    limits: DecodeLimits,
) -> Result<InlineImage, ProviderError> {
    let bytes = image.bytes.clone();
    tokio::task::spawn_blocking(move || {
        let decoded =
            local::decode(&bytes, &limits).map_err(|e| ProviderError::Local(e.to_string()))?;
        let [x, y, w, h] = region;
        if x.saturating_add(w) > decoded.width()
            || y.saturating_add(h) > decoded.height()
            || w == 0
            || h == 0
        {
            return Err(ProviderError::Local(format!(
                "region {region:?} is outside the photo"
            )));
        }
        let crop = image::imageops::crop_imm(&decoded, x, y, w, h).to_image();
        let png = local::encode_png(&crop).map_err(|e| ProviderError::Local(e.to_string()))?;
        Ok(InlineImage {
            mime: "image/png".into(),
            bytes: png.into(),
        })
    })
    .await
    .map_err(|e| ProviderError::Local(e.to_string()))?
}
