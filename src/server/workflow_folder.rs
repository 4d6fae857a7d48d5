//! The workflows folder, watched: an edited YAML file takes effect for new runs without a
//! restart; an invalid edit is rejected with its validation messages and the previous
//! version stays live. Running runs keep the version they started with (the engine pins it).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use serde::Serialize;
use techpack_engine::{StepRegistry, Workflow};

/// What `GET /api/workflows` shows of a workflow file: no server paths (the file by its
/// name in the folder; the operator's log has the full path).
#[derive(Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowStatus {
    pub name: String,
    pub file: String,
    pub version: Option<String>,
    pub sha256: Option<String>,
    /// The validation messages of the file as it is on disk, if it does not validate.
    pub errors: Option<String>,
    pub steps: usize,
}

struct Entry {
    live: Option<Arc<Workflow>>,
    status: WorkflowStatus,
    modified: Option<SystemTime>,
}

pub struct WorkflowFolder {
    dir: PathBuf,
    registry: StepRegistry,
    /// By file path.
    files: RwLock<BTreeMap<PathBuf, Entry>>,
}

impl WorkflowFolder {
    pub fn open(dir: &Path, registry: StepRegistry) -> Arc<WorkflowFolder> {
        let folder = Arc::new(WorkflowFolder {
            dir: dir.to_path_buf(),
            registry,
            files: RwLock::new(BTreeMap::new()),
        });
        folder.refresh();
        folder
    }

    /// Re-reads files that changed since the last look.
    pub fn refresh(&self) {
        let Ok(listing) = std::fs::read_dir(&self.dir) else {
            tracing::warn!(dir = %self.dir.display(), "cannot read the workflows folder");
            return;
        };
        let mut seen = Vec::new();
        for entry in listing.flatten() {
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "yaml" && e != "yml") {
                continue;
            }
            seen.push(path.clone());
            let modified = entry.metadata().and_then(|m| m.modified()).ok();
            let unchanged = self
                .files
                .read()
                .expect("workflows lock")
                .get(&path)
                .is_some_and(|e| e.modified == modified && modified.is_some());
            if unchanged {
                continue;
            }
            // Messages name the file as it is known in the folder, never by its server path.
            let file = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let parsed = std::fs::read_to_string(&path)
                .map_err(|e| format!("{file}: cannot read the file ({})", e.kind()))
                .and_then(|text| {
                    Workflow::parse(&text, &file, &self.registry).map_err(|d| d.to_string())
                });
            let mut files = self.files.write().expect("workflows lock");
            let previous = files.remove(&path);
            let entry = match parsed {
                Ok(workflow) => {
                    tracing::info!(workflow = %workflow.name, path = %path.display(), sha256 = %workflow.sha256, "workflow loaded");
                    Entry {
                        status: WorkflowStatus {
                            name: workflow.name.clone(),
                            file,
                            version: Some(workflow.version.clone()),
                            sha256: Some(workflow.sha256.clone()),
                            errors: None,
                            steps: workflow.steps.len(),
                        },
                        live: Some(Arc::new(workflow)),
                        modified,
                    }
                }
                Err(errors) => {
                    tracing::warn!(path = %path.display(), %errors, "workflow edit rejected; the previous version stays live");
                    let live = previous.and_then(|p| p.live);
                    Entry {
                        status: WorkflowStatus {
                            name: live.as_ref().map(|w| w.name.clone()).unwrap_or_default(),
                            file,
                            version: live.as_ref().map(|w| w.version.clone()),
                            sha256: live.as_ref().map(|w| w.sha256.clone()),
                            errors: Some(errors),
                            steps: live.as_ref().map(|w| w.steps.len()).unwrap_or(0),
                        },
                        live,
                        modified,
                    }
                }
            };
            files.insert(path, entry);
        }
        self.files
            .write()
            .expect("workflows lock")
            .retain(|path, _| seen.contains(path));
    }

    /// Refreshes every second until the process ends.
    pub fn watch(self: Arc<Self>) {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                let folder = self.clone();
                let _ = tokio::task::spawn_blocking(move || folder.refresh()).await;
            }
        });
    }

    /// The live version of the workflow called `name`.
    pub fn get(&self, name: &str) -> Option<Arc<Workflow>> {
        self.files
            .read()
            .expect("workflows lock")
            .values()
            .find_map(|e| e.live.clone().filter(|w| w.name == name))
    }

    pub fn statuses(&self) -> Vec<WorkflowStatus> {
        self.files
            .read()
            .expect("workflows lock")
            .values()
            .map(|e| e.status.clone())
            .collect()
    }
}

/// Why an edited workflow could not be written into the folder.
#[derive(Debug, thiserror::Error)]
pub enum SaveError {
    #[error(
        "`{0}` cannot be a file name: a workflow saved from the console is named with letters, digits, `-` and `_`"
    )]
    BadName(String),
    #[error("cannot write the workflow file: {0}")]
    Write(std::io::Error),
}

impl WorkflowFolder {
    /// Writes `source` (already validated as the workflow `name`) over the file that holds
    /// `name`, or into a new `{name}.yaml`, then reloads the folder. The file is replaced
    /// whole (written beside it, then renamed), so the watcher never reads half of it.
    /// Returns the file's name in the folder.
    pub fn save(&self, name: &str, source: &str) -> Result<String, SaveError> {
        let path = self.file_of(name).map_or_else(
            || {
                let plain = !name.is_empty()
                    && name.len() <= 64
                    && name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
                if plain {
                    Ok(self.dir.join(format!("{name}.yaml")))
                } else {
                    Err(SaveError::BadName(name.to_string()))
                }
            },
            Ok,
        )?;
        let file = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let temporary = self.dir.join(format!(".{file}.saving"));
        std::fs::write(&temporary, source).map_err(SaveError::Write)?;
        std::fs::rename(&temporary, &path).map_err(|e| {
            let _ = std::fs::remove_file(&temporary);
            SaveError::Write(e)
        })?;
        tracing::info!(workflow = %name, path = %path.display(), "workflow saved from the console");
        // A save within the same second as the last read must not look unchanged.
        self.files.write().expect("workflows lock").remove(&path);
        self.refresh();
        Ok(file)
    }

    /// The file holding the workflow called `name` (live or not).
    fn file_of(&self, name: &str) -> Option<PathBuf> {
        self.files
            .read()
            .expect("workflows lock")
            .iter()
            .find(|(_, entry)| {
                entry.status.name == name || entry.live.as_ref().is_some_and(|w| w.name == name)
            })
            .map(|(path, _)| path.clone())
    }
}
