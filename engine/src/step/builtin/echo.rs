//! `core/echo`: outputs its `value`.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

use crate::step::{Step, StepContext, StepError, StepKind, StepOutput, parse_config};

pub struct Echo;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    #[serde(default)]
    value: Value,
}

struct EchoStep(Value);

impl StepKind for Echo {
    fn description(&self) -> &str {
        "outputs `with.value` unchanged"
    }

    fn build(&self, config: &Value) -> Result<Arc<dyn Step>, String> {
        let config: Config = parse_config(config)?;
        Ok(Arc::new(EchoStep(config.value)))
    }
}

#[async_trait::async_trait]
impl Step for EchoStep {
    async fn run(&self, _ctx: StepContext) -> Result<StepOutput, StepError> {
        Ok(StepOutput::new(self.0.clone()))
    }
}
