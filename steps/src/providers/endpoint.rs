//! Where an HTTP provider is and how it is called: one configuration shape for OpenAI and
//! Gemini, read from the environment by one function with each service's names and defaults.

use std::time::Duration;

use super::retry::{ApiKey, RetryPolicy};

/// A provider service's environment names and defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Service {
    /// The provider name in errors and logs (`openai`).
    pub name: &'static str,
    /// The variable holding the API key (`OPENAI_API_KEY`).
    pub key_env: &'static str,
    /// The variable that points the client at another server (`OPENAI_BASE_URL`).
    pub base_url_env: &'static str,
    pub default_base_url: &'static str,
    pub default_model: &'static str,
    pub default_timeout: Duration,
}

/// One provider endpoint: its server, key, model, per-attempt timeout and retry policy.
#[derive(Debug, Clone)]
pub struct EndpointConfig {
    /// The service's URL prefix (`https://api.openai.com/v1`); another value means another
    /// server that speaks the same API.
    pub base_url: String,
    /// `None` when the environment holds no key; whether that is allowed is the client's call.
    pub api_key: Option<ApiKey>,
    pub model: String,
    /// Per attempt: connecting, sending, and reading the whole answer.
    pub timeout: Duration,
    pub retry: RetryPolicy,
}

impl EndpointConfig {
    /// `service`'s key and base URL from the environment, and `model` or the service's default.
    pub fn from_env(service: &Service, model: Option<String>) -> EndpointConfig {
        Self::from_lookup(service, model, |name| std::env::var(name).ok())
    }

    /// [`EndpointConfig::from_env`] over any lookup: blank values count as unset.
    pub fn from_lookup(
        service: &Service,
        model: Option<String>,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> EndpointConfig {
        let base_url = lookup(service.base_url_env)
            .map(|url| url.trim().to_string())
            .filter(|url| !url.is_empty())
            .unwrap_or_else(|| service.default_base_url.to_string());
        EndpointConfig {
            base_url,
            api_key: ApiKey::from_env_value(lookup(service.key_env)),
            model: model.unwrap_or_else(|| service.default_model.to_string()),
            timeout: service.default_timeout,
            retry: RetryPolicy::default(),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::providers::{gemini, openai};

    /// An environment of `pairs`, for `from_lookup`.
    pub(crate) fn lookup(
        pairs: &'static [(&'static str, &'static str)],
    ) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(key, _)| *key == name)
                .map(|(_, value)| value.to_string())
        }
    }

    #[test]
    fn each_service_reads_its_own_names_with_its_defaults() {
        let config = EndpointConfig::from_lookup(&openai::SERVICE, None, lookup(&[]));
        assert_eq!(config.base_url, "https://api.openai.com/v1");
        assert_eq!(config.model, "gpt-4o");
        assert!(config.api_key.is_none());

        let config = EndpointConfig::from_lookup(
            &openai::SERVICE,
            Some("llava".into()),
            lookup(&[
                ("OPENAI_BASE_URL", " http://localhost:11434/v1 "),
                ("OPENAI_API_KEY", "sk-env"),
                ("GEMINI_API_KEY", "not-this-one"),
            ]),
        );
        assert_eq!(config.base_url, "http://localhost:11434/v1");
        assert_eq!(config.model, "llava");
        assert_eq!(config.api_key.as_ref().map(ApiKey::expose), Some("sk-env"));
        assert!(!format!("{config:?}").contains("sk-env"));

        let config = EndpointConfig::from_lookup(
            &gemini::SERVICE,
            None,
            lookup(&[("GEMINI_BASE_URL", "  "), ("GEMINI_API_KEY", " AIza-key ")]),
        );
        assert_eq!(config.base_url, "https://generativelanguage.googleapis.com");
        assert_eq!(config.model, "gemini-2.5-flash-image");
        assert_eq!(
            config.api_key.as_ref().map(ApiKey::expose),
            Some("AIza-key")
        );
    }
}
