//! A step's log lines: what a step says while an attempt runs (`ctx.log.info(..)`). Each
//! attempt's lines are kept in the store when it ends ([`crate::StateStore::put_attempt_log`])
//! and copied to the process's log (`tracing`, with the run, step and attempt).
//!
//! Bounded per attempt: the last [`MAX_LINES`] lines within [`MAX_BYTES`] bytes of text,
//! each line cut at [`MAX_LINE_BYTES`]; older lines are dropped and counted, so a chatty step
//! costs the store a fixed amount.

use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::store::now_ms;

/// At most this many lines are kept of an attempt (the last ones).
pub const MAX_LINES: usize = 200;
/// At most this many bytes of text are kept of an attempt (the last ones).
pub const MAX_BYTES: usize = 64 * 1024;
/// A longer line is cut here (at a character boundary).
pub const MAX_LINE_BYTES: usize = 2048;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Info,
    Warn,
    Error,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogLine {
    /// Unix milliseconds.
    pub at: u64,
    pub level: LogLevel,
    pub text: String,
}

/// One attempt's kept lines, as the store holds them.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AttemptLog {
    /// The attempt's number ([`crate::NodeRecord::attempt`]).
    pub attempt: u32,
    /// Oldest first.
    pub lines: Vec<LogLine>,
    /// How many older lines were dropped to stay within the bounds.
    #[serde(default)]
    pub dropped: u64,
}

impl AttemptLog {
    pub fn new(attempt: u32) -> AttemptLog {
        AttemptLog {
            attempt,
            ..AttemptLog::default()
        }
    }

    /// Appends a line (cut at [`MAX_LINE_BYTES`]), dropping the oldest past the bounds.
    pub fn push(&mut self, level: LogLevel, text: &str, at: u64) {
        let mut end = text.len().min(MAX_LINE_BYTES);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        self.lines.push(LogLine {
            at,
            level,
            text: text[..end].to_string(),
        });
        let mut bytes: usize = self.lines.iter().map(|l| l.text.len()).sum();
        let mut first = 0;
        while self.lines.len() - first > MAX_LINES || bytes > MAX_BYTES {
            bytes -= self.lines[first].text.len();
            first += 1;
        }
        if first > 0 {
            self.lines.drain(..first);
            self.dropped += first as u64;
        }
    }
}

/// What a step logs through: cheap to clone, so work the step spawns can log too.
#[derive(Debug, Clone)]
pub struct StepLog {
    run_id: Arc<str>,
    step_id: Arc<str>,
    kept: Arc<Mutex<AttemptLog>>,
}

impl StepLog {
    pub fn new(run_id: &str, step_id: &str, attempt: u32) -> StepLog {
        StepLog {
            run_id: run_id.into(),
            step_id: step_id.into(),
            kept: Arc::new(Mutex::new(AttemptLog::new(attempt))),
        }
    }

    pub fn info(&self, text: impl AsRef<str>) {
        self.line(LogLevel::Info, text.as_ref());
    }

    pub fn warn(&self, text: impl AsRef<str>) {
        self.line(LogLevel::Warn, text.as_ref());
    }

    pub fn error(&self, text: impl AsRef<str>) {
        self.line(LogLevel::Error, text.as_ref());
    }

    fn line(&self, level: LogLevel, text: &str) {
        let (run_id, step_id) = (&*self.run_id, &*self.step_id);
        let attempt = self.kept.lock().unwrap_or_else(|e| e.into_inner()).attempt;
        match level {
            LogLevel::Info => {
                tracing::info!(target: "techpack::step", run_id, step_id, attempt, "{text}")
            }
            LogLevel::Warn => {
                tracing::warn!(target: "techpack::step", run_id, step_id, attempt, "{text}")
            }
            LogLevel::Error => {
                tracing::error!(target: "techpack::step", run_id, step_id, attempt, "{text}")
            }
        }
        self.keep(level, text);
    }

    /// Keeps a line with the attempt without writing it to the process's log (for callers
    /// that wrote it there themselves, with fields of their own: the plugin host).
    pub fn keep(&self, level: LogLevel, text: &str) {
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        kept.push(level, text, now_ms());
    }

    /// What was kept so far.
    pub fn snapshot(&self) -> AttemptLog {
        self.kept.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_attempt_keeps_its_last_lines_within_the_bounds() {
        let mut log = AttemptLog::new(1);
        for i in 0..MAX_LINES + 5 {
            log.push(LogLevel::Info, &format!("line {i}"), 0);
        }
        assert_eq!(log.lines.len(), MAX_LINES);
        assert_eq!(log.dropped, 5);
        assert_eq!(log.lines[0].text, "line 5");

        let mut log = AttemptLog::new(1);
        let long = "é".repeat(MAX_LINE_BYTES);
        for _ in 0..40 {
            log.push(LogLevel::Warn, &long, 0);
        }
        assert!(log.lines.iter().all(|l| l.text.len() <= MAX_LINE_BYTES));
        assert!(log.lines.iter().map(|l| l.text.len()).sum::<usize>() <= MAX_BYTES);
        assert_eq!(log.dropped as usize + log.lines.len(), 40);
    }
}
