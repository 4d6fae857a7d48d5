//! Live progress of one run: a bar on a terminal, one line per transition otherwise.

use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use techpack_engine::Engine;
use tokio::sync::broadcast::error::RecvError;

pub struct Progress {
    task: tokio::task::JoinHandle<()>,
    stop: tokio::sync::oneshot::Sender<()>,
}

impl Progress {
    pub fn start(engine: &Engine, run_id: &str, steps: usize) -> Progress {
        let mut events = engine.subscribe();
        let run_id = run_id.to_string();
        let (stop, mut stopped) = tokio::sync::oneshot::channel();
        let terminal = std::io::stderr().is_terminal();
        let task = tokio::spawn(async move {
            let bar = if terminal {
                let bar = ProgressBar::new(steps as u64);
                bar.set_style(
                    ProgressStyle::with_template(
                        "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {wide_msg}",
                    )
                    .expect("valid template"),
                );
                bar.enable_steady_tick(Duration::from_millis(120));
                bar
            } else {
                ProgressBar::hidden()
            };
            let mut running = BTreeSet::new();
            loop {
                let event = tokio::select! {
                    event = events.recv() => event,
                    _ = &mut stopped => break,
                };
                let event = match event {
                    Ok(event) => event,
                    Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => break,
                };
                if event.run_id != run_id {
                    continue;
                }
                let Some(step) = event.step_id.clone() else {
                    continue;
                };
                match event.status.as_str() {
                    "running" | "retrying" => {
                        running.insert(step.clone());
                    }
                    _ => {
                        running.remove(&step);
                        bar.inc(1);
                    }
                }
                if !terminal && event.status != "running" {
                    let message = event
                        .message
                        .as_deref()
                        .map(|m| format!(": {m}"))
                        .unwrap_or_default();
                    eprintln!(
                        "  {step} {} (attempt {}){message}",
                        event.status, event.attempt
                    );
                }
                let names: Vec<&str> = running.iter().map(String::as_str).collect();
                bar.set_message(if names.is_empty() {
                    String::new()
                } else {
                    format!("running: {}", names.join(", "))
                });
            }
            bar.finish_and_clear();
        });
        Progress { task, stop }
    }

    pub async fn finish(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}
