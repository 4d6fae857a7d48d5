//! Provider calls as the steps make them: on behalf of the run's owner (the memory budget
//! shares work by user) and written to the AI operation log with tokens, latency and outcome.

use std::time::Instant;

use techpack_engine::store::now_ms;
use techpack_engine::{StepContext, StepError};

use super::TechpackServices;
use super::failure::provider_error;
use crate::providers::{
    ImageAnswer, ImageProvider, ImageTask, InlineImage, ProviderError, VisionAnswer,
    VisionProvider, VisionTask,
};
use crate::storage::AiOperation;
use crate::work_budget::on_behalf_of;

impl TechpackServices {
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
