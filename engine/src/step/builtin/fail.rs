//! `core/fail`: fails its first `times` attempts (every attempt if `times` is absent),
//! logging the attempt and, when it fails, its message (`ctx.log`).

use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::step::{Step, StepContext, StepError, StepKind, StepOutput, parse_config};

pub struct Fail;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    times: Option<u32>,
    #[serde(default = "default_message")]
    message: String,
}

fn default_message() -> String {
    "failed on purpose (core/fail)".to_string()
}

struct FailStep(Config);

impl StepKind for Fail {
    fn description(&self) -> &str {
        "fails its first `with.times` attempts (all if unset), then outputs the attempt count"
    }

    fn build(&self, config: &Value) -> Result<Arc<dyn Step>, String> {
        Ok(Arc::new(FailStep(parse_config(config)?)))
    }
}

#[async_trait::async_trait]
impl Step for FailStep {
    async fn run(&self, ctx: StepContext) -> Result<StepOutput, StepError> {
        ctx.log.info(format!("attempt {}", ctx.attempt));
        match self.0.times {
            Some(times) if ctx.attempt > times => Ok(json!({ "attempts": ctx.attempt }).into()),
            _ => {
                ctx.log.error(&self.0.message);
                Err(StepError::retryable(format!(
                    "{} (attempt {})",
                    self.0.message, ctx.attempt
                )))
            }
        }
    }
}
