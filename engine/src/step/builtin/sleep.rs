//! `core/sleep`: waits `ms` milliseconds; with `log: PATH` it appends `start`/`end` lines
//! naming its idempotency key, a visible side effect for crash and resume checks. The log
//! is a server path, so in a user's run it must lie under an allowed folder. Its step log
//! (`ctx.log`) says how long it sleeps and when it wakes.

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use crate::step::{Step, StepContext, StepError, StepKind, StepOutput, parse_config};

pub struct Sleep;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Config {
    ms: u64,
    log: Option<String>,
}

struct SleepStep(Config);

impl StepKind for Sleep {
    fn description(&self) -> &str {
        "waits `with.ms` milliseconds; `with.log` appends start/end lines to a file"
    }

    fn build(&self, config: &Value) -> Result<Arc<dyn Step>, String> {
        Ok(Arc::new(SleepStep(parse_config(config)?)))
    }
}

impl SleepStep {
    async fn log(&self, event: &str, ctx: &StepContext) -> Result<(), StepError> {
        let Some(path) = &self.0.log else {
            return Ok(());
        };
        let path = ctx.files.writable(std::path::Path::new(path), "`log`")?;
        let line = format!("{event} {} attempt={}\n", ctx.idempotency_key, ctx.attempt);
        tokio::task::spawn_blocking(move || {
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)?;
            file.write_all(line.as_bytes())?;
            file.sync_data()
        })
        .await
        .map_err(|e| StepError::retryable(e.to_string()))?
        .map_err(|e| StepError::retryable(format!("cannot append to the `log` file: {e}")))
    }
}

#[async_trait::async_trait]
impl Step for SleepStep {
    async fn run(&self, ctx: StepContext) -> Result<StepOutput, StepError> {
        self.log("start", &ctx).await?;
        ctx.log.info(format!("sleeping {} ms", self.0.ms));
        tokio::time::sleep(Duration::from_millis(self.0.ms)).await;
        self.log("end", &ctx).await?;
        ctx.log.info("awake");
        Ok(json!({ "slept_ms": self.0.ms }).into())
    }
}
