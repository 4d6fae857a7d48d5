//! What the tech-pack steps share at run time (put into the engine's `Resources` by the
//! wiring): the catalog, the providers, and the calls to them with logging.

use std::sync::Arc;
use std::time::Instant;

use serde::Deserialize;
use techpack_engine::store::now_ms;
use techpack_engine::{StepContext, StepError};

use crate::local::DecodeLimits;
use crate::providers::{
    ImageAnswer, ImageProvider, ImageTask, InlineImage, LocalProvider, ProviderError, VisionAnswer,
    VisionProvider, VisionTask,
};
use crate::storage::{AiOperation, Catalog, StorageError};
use crate::work_budget::{Busy, MemoryBudget, on_behalf_of};

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

pub struct TechpackServices {
    pub catalog: Catalog,
    pub defaults: ProviderDefaults,
    pub limits: DecodeLimits,
    pub local: Arc<LocalProvider>,
    pub remote: Option<Arc<dyn RemoteProviders>>,
    /// Bounds the memory all image work holds at once; the local provider shares it.
    pub budget: Arc<MemoryBudget>,
}

/// A provider choice made in a step's `with:`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ProviderSelection {
    pub provider: Option<VisionChoice>,
    pub model: Option<String>,
    pub image_provider: Option<ImageChoice>,
    pub image_model: Option<String>,
}

pub fn storage_error(error: StorageError) -> StepError {
    match error {
        StorageError::ProductNotFound(_)
        | StorageError::RevisionNotFound { .. }
        | StorageError::PhotoNotFound(_)
        | StorageError::AnalysisNotFound(_) => {
            StepError::permanent(error.to_string()).with_code("not_found")
        }
        StorageError::BlobMissing(_) | StorageError::Corrupt(_) => {
            StepError::permanent(error.to_string())
        }
        // Names a server path: for the operator's log, not for the run's user.
        StorageError::Io { .. } => {
            tracing::error!(error = %error, "storage I/O failed");
            StepError::retryable("the server could not read or write its storage (logged)")
        }
        other => StepError::retryable(other.to_string()),
    }
}

pub fn provider_error(error: ProviderError) -> StepError {
    if let ProviderError::Busy(busy) = error {
        return busy_error(&busy);
    }
    if let ProviderError::NoProduct { .. } = error {
        return invalid_input(error.to_string());
    }
    let transient = error.is_transient();
    let step_error = if transient {
        StepError::retryable(error.to_string())
    } else {
        StepError::permanent(error.to_string())
    };
    step_error.with_code("provider")
}

/// The memory budget stayed full: worth retrying later, and answered as 503 `busy`.
pub fn busy_error(busy: &Busy) -> StepError {
    StepError::retryable(busy.to_string()).with_code("busy")
}

pub fn invalid_input(message: impl Into<String>) -> StepError {
    StepError::permanent(message).with_code("invalid_input")
}

impl TechpackServices {
    pub fn from_context(ctx: &StepContext) -> Result<Arc<TechpackServices>, StepError> {
        ctx.resources.get::<TechpackServices>().ok_or_else(|| {
            StepError::permanent("tech-pack services are not configured in this engine")
        })
    }

    pub fn vision(
        &self,
        selection: &ProviderSelection,
    ) -> Result<Arc<dyn VisionProvider>, StepError> {
        match selection.provider.unwrap_or(self.defaults.vision) {
            VisionChoice::Local => Ok(self.local.clone()),
            choice => self
                .remote
                .as_ref()
                .ok_or_else(|| {
                    StepError::permanent("HTTP providers are not available in this build")
                })?
                .vision(choice, selection.model.as_deref())
                .map_err(provider_error),
        }
    }

    pub fn imaging(
        &self,
        selection: &ProviderSelection,
    ) -> Result<Arc<dyn ImageProvider>, StepError> {
        match selection.image_provider.unwrap_or(self.defaults.image) {
            ImageChoice::Local => Ok(self.local.clone()),
            choice => self
                .remote
                .as_ref()
                .ok_or_else(|| {
                    StepError::permanent("HTTP providers are not available in this build")
                })?
                .imaging(choice, selection.image_model.as_deref())
                .map_err(provider_error),
        }
    }

    /// Runs one provider call and writes it to the AI operation log: tokens, latency, outcome.
    async fn logged<T>(
        &self,
        ctx: &StepContext,
        call: LoggedCall<'_>,
        work: impl std::future::Future<Output = Result<T, ProviderError>>,
        describe: impl Fn(&T) -> (crate::providers::Usage, String, String),
    ) -> Result<T, StepError> {
        let started = Instant::now();
        // Providers are not handed the context; the budget still shares their work by user.
        let result = on_behalf_of(ctx.owner.clone(), work).await;
        let (usage, output_summary, model, error) = match &result {
            Ok(answer) => {
                let (usage, summary, model) = describe(answer);
                (usage, summary, model, None)
            }
            Err(e) => (
                Default::default(),
                String::new(),
                call.model.to_string(),
                Some(e.to_string()),
            ),
        };
        let operation = AiOperation {
            id: String::new(),
            operation: call.operation.into(),
            provider: call.provider.into(),
            model,
            kind: call.kind.into(),
            user: ctx.owner.clone(),
            run_id: Some(ctx.run_id.clone()),
            step_id: Some(ctx.step_id.clone()),
            input_summary: call.input_summary,
            output_summary,
            usage,
            latency_ms: started.elapsed().as_millis() as u64,
            status: if error.is_none() { "ok" } else { "error" }.into(),
            error,
            at: now_ms(),
        };
        if let Err(e) = self.catalog.ai_log.append(operation) {
            tracing::warn!(error = %e, "cannot write the AI operation log");
        }
        result.map_err(provider_error)
    }

    /// Asks a vision provider, logging the call.
    pub async fn ask(
        &self,
        ctx: &StepContext,
        provider: &dyn VisionProvider,
        task: &VisionTask<'_>,
        images: &[InlineImage],
        input_summary: String,
    ) -> Result<VisionAnswer, StepError> {
        let call = LoggedCall {
            operation: task.operation(),
            provider: provider.name(),
            model: provider.model(),
            kind: "vision",
            input_summary,
        };
        self.logged(ctx, call, provider.ask(task, images), |a| {
            (a.usage, summarize_json(&a.value), a.model.clone())
        })
        .await
    }

    /// Asks an image provider, logging the call.
    pub async fn draw(
        &self,
        ctx: &StepContext,
        provider: &dyn ImageProvider,
        task: &ImageTask<'_>,
        source: &[InlineImage],
        input_summary: String,
    ) -> Result<ImageAnswer, StepError> {
        let call = LoggedCall {
            operation: task.operation(),
            provider: provider.name(),
            model: provider.model(),
            kind: "image",
            input_summary,
        };
        self.logged(ctx, call, provider.generate(task, source), |a| {
            let summary = format!(
                "{} {}×{} px, {} bytes",
                a.mime,
                a.width,
                a.height,
                a.bytes.len()
            );
            (a.usage, summary, a.model.clone())
        })
        .await
    }
}

/// What the AI operation log says about a call before it is made.
struct LoggedCall<'a> {
    operation: &'a str,
    provider: &'a str,
    model: &'a str,
    /// `vision` or `image`.
    kind: &'a str,
    input_summary: String,
}

/// A short description of a JSON answer for the log (keys and sizes, not content).
fn summarize_json(value: &serde_json::Value) -> String {
    let text = value.to_string();
    match value {
        serde_json::Value::Object(map) => {
            let keys: Vec<&str> = map.keys().map(String::as_str).take(8).collect();
            format!("object {{{}}}, {} bytes", keys.join(", "), text.len())
        }
        _ => format!("{} bytes", text.len()),
    }
}

/// Describes images for the log without their bytes.
pub fn describe_images(images: &[(String, &InlineImage, &str)]) -> String {
    images
        .iter()
        .map(|(label, image, hash)| {
            format!(
                "{label}: {} {} bytes sha256:{}",
                image.mime,
                image.bytes.len(),
                &hash[..hash.len().min(12)]
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}
