//! Model providers behind traits: OpenAI-compatible vision, Gemini image generation, and the
//! offline `local` provider.
//!
//! The HTTP clients speak the providers' wire formats (`openai`, `gemini`), are configured
//! alike (`endpoint`) and share one retry policy (`retry`); `types` holds what every provider
//! exchanges; `choice` says which provider answers a step (run defaults, a step's selection,
//! [`RemoteProviders`]).

pub mod choice;
pub mod endpoint;
pub mod error;
pub mod gemini;
pub mod imaging;
pub mod local;
pub mod openai;
pub mod prompts;
pub mod remote;
pub mod retry;
pub mod types;
pub mod vision;

pub use choice::{ImageChoice, ProviderDefaults, ProviderSelection, RemoteProviders, VisionChoice};
pub use error::ProviderError;
pub use imaging::{ImageAnswer, ImageProvider, ImageTask};
pub use local::LocalProvider;
pub use types::{InlineImage, Usage};
pub use vision::{VisionAnswer, VisionProvider, VisionTask};
