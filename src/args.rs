//! Arguments the CLI's commands and `techpack serve` share: where state lives ([`DataDir`])
//! and the run-wide provider choice ([`ProviderArgs`]).

use std::path::PathBuf;

/// Where state lives; every command that touches runs takes it.
#[derive(clap::Args, Clone)]
pub struct DataDir {
    /// Folder of the state store [default: ./.techpack]; with --database-url, only this
    /// worker's local caches (compiled plugins)
    #[arg(long, env = "TECHPACK_DATA_DIR", global = true)]
    data_dir: Option<PathBuf>,
    /// Keep everything in this PostgreSQL database (postgres://user@host:port/db) instead of
    /// the data directory, shared by every worker given the same URL
    #[arg(
        long,
        env = "TECHPACK_DATABASE_URL",
        global = true,
        hide_env_values = true
    )]
    database_url: Option<String>,
}

impl DataDir {
    /// The data directory `path`, on sled (as `--data-dir PATH`).
    pub fn at(path: PathBuf) -> DataDir {
        DataDir {
            data_dir: Some(path),
            database_url: None,
        }
    }

    /// The PostgreSQL database given, if any.
    pub fn database_url(&self) -> Option<&str> {
        self.database_url.as_deref().filter(|url| !url.is_empty())
    }

    /// The data directory given, or `.techpack` in the current directory.
    pub fn path(&self) -> PathBuf {
        self.data_dir
            .clone()
            .unwrap_or_else(|| PathBuf::from(".techpack"))
    }
}

/// Run-wide provider choice; a step's own `with: { provider: … }` wins.
#[derive(clap::Args, Clone)]
pub struct ProviderArgs {
    /// Who analyzes photos: `local` (offline, default) or `openai` (OPENAI_API_KEY, OPENAI_BASE_URL)
    #[arg(long, env = "TECHPACK_VISION_PROVIDER", default_value = "local")]
    vision_provider: techpack_steps::providers::VisionChoice,
    /// Who draws images: `local` (offline, default) or `gemini` (GEMINI_API_KEY, GEMINI_BASE_URL)
    #[arg(long, env = "TECHPACK_IMAGE_PROVIDER", default_value = "local")]
    image_provider: techpack_steps::providers::ImageChoice,
}

impl ProviderArgs {
    pub fn defaults(&self) -> techpack_steps::providers::ProviderDefaults {
        techpack_steps::providers::ProviderDefaults {
            vision: self.vision_provider,
            image: self.image_provider,
        }
    }
}
