//! What providers exchange: images going in, token usage coming back.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// An image sent inline to a model (a `data:` URL for OpenAI, `inlineData` for Gemini).
#[derive(Debug, Clone)]
pub struct InlineImage {
    /// `image/png` or `image/jpeg`.
    pub mime: String,
    pub bytes: Arc<[u8]>,
}

/// Tokens a call consumed, as the provider reported them (zero for the local provider).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub total_tokens: u64,
}

impl std::ops::AddAssign for Usage {
    fn add_assign(&mut self, other: Usage) {
        self.prompt_tokens += other.prompt_tokens;
        self.completion_tokens += other.completion_tokens;
        self.total_tokens += other.total_tokens;
    }
}
