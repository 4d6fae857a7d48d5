//! `techpack plugins check DIR`: load one plugin as the engine would, then run the
//! manifest's example and compare it with `example.expect`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::PluginError;
use crate::host::{PluginHost, check_context};
use crate::manifest::Limits;

/// What a successful check found.
#[derive(Debug)]
pub struct CheckReport {
    pub name: String,
    pub version: String,
    pub description: String,
    pub module_path: PathBuf,
    pub module_sha256: String,
    pub module_bytes: u64,
    pub from_cache: bool,
    pub load_time: Duration,
    pub limits: Limits,
    /// `None` when the manifest has no example.
    pub example: Option<ExampleReport>,
}

#[derive(Debug)]
pub struct ExampleReport {
    pub output: Value,
    /// True when the manifest gave `expect` (and the output equals it).
    pub checked: bool,
    pub duration: Duration,
}

impl PluginHost {
    /// Loads the plugin in `dir` (compile, ABI and manifest checks, probe) and runs its
    /// example; any failure is the error, a mismatch with `example.expect` included.
    pub async fn check_plugin(&self, dir: &Path) -> Result<CheckReport, PluginError> {
        let plugin = self.load(dir)?;
        let example = match &plugin.manifest.example {
            None => None,
            Some(example) => {
                let with = if example.with.is_null() {
                    Value::Object(Default::default())
                } else {
                    example.with.clone()
                };
                let started = Instant::now();
                let output = self
                    .call(&plugin, &with, &example.inputs, &check_context())
                    .await?;
                let duration = started.elapsed();
                if let Some(expected) = &example.expect
                    && expected != &output
                {
                    return Err(PluginError::ExampleMismatch {
                        name: plugin.name().to_string(),
                        expected: expected.to_string(),
                        actual: output.to_string(),
                    });
                }
                Some(ExampleReport {
                    checked: example.expect.is_some(),
                    output,
                    duration,
                })
            }
        };
        Ok(CheckReport {
            name: plugin.manifest.name.clone(),
            version: plugin.manifest.version.clone(),
            description: plugin.manifest.description.clone(),
            module_path: plugin.module_path.clone(),
            module_sha256: plugin.module_sha256.clone(),
            module_bytes: plugin.module_bytes,
            from_cache: plugin.from_cache,
            load_time: plugin.load_time,
            limits: plugin.manifest.limits().clone(),
            example,
        })
    }
}
