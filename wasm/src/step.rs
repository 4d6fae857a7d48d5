//! The `wasm/<name>` step kind: `build` checks `with` against the manifest's input schema,
//! `run` calls the plugin with `with`, the run's inputs and the attempt's context, in the
//! share of call slots of the user the run belongs to.

use std::sync::Arc;

use serde_json::{Map, Value};
use techpack_engine::{Step, StepContext, StepError, StepKind, StepOutput};

use crate::loader::LoadedPlugin;
use crate::runtime::{CallContext, Runtime};

pub struct WasmStepKind {
    pub(crate) runtime: Arc<Runtime>,
    pub(crate) plugin: Arc<LoadedPlugin>,
}

struct WasmStep {
    runtime: Arc<Runtime>,
    plugin: Arc<LoadedPlugin>,
    with: Value,
}

impl StepKind for WasmStepKind {
    fn description(&self) -> &str {
        &self.plugin.manifest.description
    }

    fn build(&self, config: &Value) -> Result<Arc<dyn Step>, String> {
        // A missing `with:` is `{}`, as for the built-in kinds.
        let with = if config.is_null() {
            Value::Object(Map::new())
        } else {
            config.clone()
        };
        if let Some(schema) = &self.plugin.manifest.input {
            schema.check(&with, "with")?;
        }
        Ok(Arc::new(WasmStep {
            runtime: self.runtime.clone(),
            plugin: self.plugin.clone(),
            with,
        }))
    }
}

#[async_trait::async_trait]
impl Step for WasmStep {
    async fn run(&self, ctx: StepContext) -> Result<StepOutput, StepError> {
        let context = CallContext {
            run_id: ctx.run_id,
            step_id: ctx.step_id,
            attempt: ctx.attempt,
            idempotency_key: ctx.idempotency_key,
            owner: ctx.owner,
            log: Some(ctx.log),
        };
        self.runtime
            .call(&self.plugin, &self.with, &ctx.inputs, &context)
            .await
            .map(StepOutput::new)
            .map_err(StepError::from)
    }
}
