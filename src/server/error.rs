//! API errors: a status and `{ "error": { "code", "message" } }` a user can read. Details go
//! to the log, never secrets, server paths or stack traces to the client.
//!
//! Every code the API answers is an [`ErrorCode`]; `docs/error-codes.md` and the OpenAPI
//! document's `Error` schema are generated from it. Errors made by layers and by axum itself
//! (body limit, timeout, wrong method, extractor rejections) are put into the same shape by
//! [`json_errors`], the router's outermost middleware.

use axum::Json;
use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use techpack_engine::Diagnostics;
use techpack_engine::EngineError;
use techpack_engine::credits::CreditError;

/// Declares a list of codes users see: an enum whose variants each have their text, one
/// more property (`$extra`: the API code's status), what it means and what to do. The API's
/// [`ErrorCode`] is declared with it; the handlers, the middleware, the OpenAPI document and
/// `docs/error-codes.md` all read it.
macro_rules! code_list {
    (
        $(#[$doc:meta])* $name:ident, $(#[$extra_doc:meta])* $extra:ident: $extra_ty:ty;
        $($variant:ident => $code:literal, $value:expr, $meaning:literal, $remedy:literal;)+
    ) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name {
            $($variant,)+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $code,)+
                }
            }

            $(#[$extra_doc])*
            pub fn $extra(self) -> $extra_ty {
                match self {
                    $($name::$variant => $value,)+
                }
            }

            /// One sentence a user can read.
            pub fn meaning(self) -> &'static str {
                match self {
                    $($name::$variant => $meaning,)+
                }
            }

            /// What the caller can do about it.
            pub fn remedy(self) -> &'static str {
                match self {
                    $($name::$variant => $remedy,)+
                }
            }
        }
    };
}

code_list! {
    /// The stable `error.code` of an API error; its meaning is also the message of errors
    /// made by layers.
    ErrorCode,
    /// The status this code is answered with.
    status: StatusCode;
    InvalidInput => "invalid_input", StatusCode::BAD_REQUEST,
        "the request is not valid: its body, query or path does not fit the endpoint",
        "fix what the message names; `/api/openapi.json` describes every body";
    Unauthorized => "unauthorized", StatusCode::UNAUTHORIZED,
        "the bearer token is missing or not valid",
        "send `Authorization: Bearer <token>` with a token from `techpack users create` or `POST /api/admin/users`";
    CrossOrigin => "cross_origin", StatusCode::FORBIDDEN,
        "a request signed in by the console's session cookie changes something but did not come from this server's pages (`Origin`)",
        "use the console's own pages, or send `Authorization: Bearer <token>` from a program";
    InsufficientCredits => "insufficient_credits", StatusCode::PAYMENT_REQUIRED,
        "the balance does not cover what this costs; nothing was charged",
        "ask the operator for credits (`techpack users grant`), then retry";
    NotFound => "not_found", StatusCode::NOT_FOUND,
        "no such endpoint, or no such product, revision, analysis, run, workflow or user (another user's ids count as unknown)",
        "check the id or the path";
    MethodNotAllowed => "method_not_allowed", StatusCode::METHOD_NOT_ALLOWED,
        "the endpoint does not answer this HTTP method",
        "use a method the `Allow` header lists";
    Timeout => "timeout", StatusCode::REQUEST_TIMEOUT,
        "the request took longer than the server allows (`--request-timeout`)",
        "retry; a paid step that was started still settles its credits";
    Conflict => "conflict", StatusCode::CONFLICT,
        "the run is not in a state that allows this",
        "read the run (`GET /api/runs/{id}`) and act on its status";
    RunFinished => "run_finished", StatusCode::CONFLICT,
        "the run has already finished",
        "start a new run";
    RunActive => "run_active", StatusCode::CONFLICT,
        "the run is running in this server",
        "wait for it or cancel it";
    RunUnfinished => "run_unfinished", StatusCode::CONFLICT,
        "the run has not finished, so there is nothing to retry or replay yet",
        "wait for it to finish, or resume or cancel it";
    NothingToRetry => "nothing_to_retry", StatusCode::CONFLICT,
        "the run succeeded: no step failed or was cancelled",
        "replay it from a step (`POST /api/runs/{id}/replay`) to run steps again";
    InvalidWorkflow => "invalid_workflow", StatusCode::BAD_REQUEST,
        "the workflow does not validate, so it was not saved",
        "fix the problems the message lists (each with its TP code and line:column); `POST /api/workflows/validate` checks without saving";
    CallbackRefused => "callback_refused", StatusCode::BAD_REQUEST,
        "the run's callback URL is not one this server calls: not https, a host the operator did not allow, an internal address, or not a valid URL",
        "use an https URL on a host the operator allowed (`techpack serve --callback-allow`); the message says which rule refused it";
    WebhookSecretMissing => "webhook_secret_missing", StatusCode::BAD_REQUEST,
        "a run with a callback needs a webhook secret to sign it, and you have none",
        "create one with `POST /api/me/webhook-secret`, keep it, and start the run again";
    UnknownStep => "unknown_step", StatusCode::BAD_REQUEST,
        "the workflow has no step with this id",
        "use one of the steps the message lists";
    IdempotencyKeyReused => "idempotency_key_reused", StatusCode::CONFLICT,
        "this `Idempotency-Key` was used with a different body",
        "use a new key for a new request";
    UserExists => "user_exists", StatusCode::CONFLICT,
        "a user with this name exists",
        "choose another name";
    OperationReused => "operation_reused", StatusCode::CONFLICT,
        "this `operationId` was used for a different grant",
        "use a new `operationId` for a new grant";
    TooLarge => "too_large", StatusCode::PAYLOAD_TOO_LARGE,
        "the request body is larger than the server allows (`--max-body-mib`)",
        "send a smaller body (a smaller photo)";
    Internal => "internal", StatusCode::INTERNAL_SERVER_ERROR,
        "something went wrong on our side; it has been logged",
        "retry later; tell the operator if it persists";
    StepFailed => "step_failed", StatusCode::INTERNAL_SERVER_ERROR,
        "the step failed; its credits were refunded",
        "retry later; the message says why it failed";
    Busy => "busy", StatusCode::SERVICE_UNAVAILABLE,
        "the server's memory budget for image work stayed full for `--memory-wait`; nothing was stored or charged",
        "retry after the seconds in `Retry-After`";
    Cancelled => "cancelled", StatusCode::SERVICE_UNAVAILABLE,
        "the step was cancelled (the server is shutting down); its credits were refunded",
        "retry in a moment";
}

impl ErrorCode {
    /// The code for a status answered by a layer or by axum: the code of that status, or
    /// `invalid_input` / `internal` for a status no code has.
    pub fn for_status(status: StatusCode) -> ErrorCode {
        // Several codes share 409 and 500; the general one comes first in `ALL`.
        ErrorCode::ALL
            .iter()
            .copied()
            .find(|code| code.status() == status)
            .unwrap_or(if status.is_server_error() {
                ErrorCode::Internal
            } else {
                ErrorCode::InvalidInput
            })
    }
}

impl serde::Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// In the OpenAPI document: a string, one of [`ErrorCode::ALL`].
impl utoipa::PartialSchema for ErrorCode {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(ErrorCode::ALL.iter().map(|code| code.as_str())))
            .description(Some(
                "the stable code programs match on (see `docs/error-codes.md`)",
            ))
            .into()
    }
}

impl utoipa::ToSchema for ErrorCode {}

/// What every error answers, whatever its status: `{"error": {"code", "message"}}`.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    #[schema(inline)]
    error: ErrorDetail,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
struct ErrorDetail {
    #[schema(inline)]
    code: ErrorCode,
    /// One sentence a user can read; never a server path or a secret.
    message: String,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub message: String,
    /// Seconds the client should wait before trying again (`Retry-After`), for 503s.
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 503 `busy`: the memory budget for image work stayed full; retry after `busy`'s delay.
    pub fn busy(busy: &techpack_steps::work_budget::Busy) -> Self {
        ApiError {
            retry_after: Some(busy.retry_after_secs),
            ..Self::of(ErrorCode::Busy, busy.to_string())
        }
    }

    /// An error answered with its code's own status.
    pub fn of(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::new(code.status(), code, message)
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::of(ErrorCode::InvalidInput, message)
    }

    pub fn not_found(what: &str, id: &str) -> Self {
        Self::of(ErrorCode::NotFound, format!("no {what} with id `{id}`"))
    }

    /// A 404 whose message says more than "no such id".
    pub fn not_found_because(message: impl Into<String>) -> Self {
        Self::of(ErrorCode::NotFound, message)
    }

    pub fn unauthorized() -> Self {
        let code = ErrorCode::Unauthorized;
        Self::of(code, code.remedy())
    }

    pub fn internal(error: impl std::fmt::Display) -> Self {
        tracing::error!(%error, "internal error");
        let code = ErrorCode::Internal;
        Self::of(code, code.meaning())
    }
}

fn json_body(code: ErrorCode, message: &str) -> Json<ErrorBody> {
    Json(ErrorBody {
        error: ErrorDetail {
            code,
            message: message.to_string(),
        },
    })
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::warn!(status = %self.status, code = self.code.as_str(), message = %self.message, "request failed");
        }
        let mut response = (self.status, json_body(self.code, &self.message)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, seconds.into());
        }
        response
    }
}

/// Validation messages without the workflow file's path (a server path): `line:column:` only.
pub fn public_diagnostics(diagnostics: &Diagnostics) -> String {
    let lines: Vec<String> = diagnostics
        .0
        .iter()
        .map(|d| {
            let mut line = String::new();
            if let Some(location) = &d.location {
                line.push_str(&format!("{}:{}: ", location.line, location.column));
            }
            line.push_str(&format!("error[{}]: ", d.code.as_str()));
            if let Some(step) = &d.step {
                line.push_str(&format!("step `{step}`: "));
            }
            line.push_str(&d.message);
            line
        })
        .collect();
    lines.join("\n")
}

impl From<EngineError> for ApiError {
    fn from(error: EngineError) -> Self {
        match error {
            EngineError::Invalid(diagnostics) => {
                ApiError::bad_request(public_diagnostics(&diagnostics))
            }
            EngineError::RunNotFound(id) => ApiError::not_found("run", &id),
            EngineError::RunFinished { .. }
            | EngineError::RunActive(_)
            | EngineError::RunQueued(_) => ApiError::of(ErrorCode::Conflict, error.to_string()),
            e if matches!(
                CreditError::of(&e),
                Some(CreditError::InsufficientCredits { .. })
            ) =>
            {
                ApiError::of(ErrorCode::InsufficientCredits, e.to_string())
            }
            // The store's failure, whatever its kind, is ours: the log gets the whole of it
            // (it may name a database host or a data path), the caller a generic 500.
            EngineError::Store(_) | EngineError::StepPanicked(_) => ApiError::internal(error),
            other => ApiError::internal(other),
        }
    }
}

impl From<techpack_steps::storage::StorageError> for ApiError {
    fn from(error: techpack_steps::storage::StorageError) -> Self {
        use techpack_steps::storage::StorageError as E;
        match error {
            E::ProductNotFound(_)
            | E::RevisionNotFound { .. }
            | E::PhotoNotFound(_)
            | E::AnalysisNotFound(_) => ApiError::of(ErrorCode::NotFound, error.to_string()),
            other => ApiError::internal(other),
        }
    }
}

/// The outermost middleware: any error response that is not JSON yet (the body limit's 413,
/// the timeout's 408, a wrong method's 405, an extractor's rejection) becomes
/// `{"error":{"code","message"}}` with a code for its status. Its headers (`Allow`) are kept;
/// its body, written by a layer, is replaced by the code's own sentence.
pub async fn json_errors(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || is_json(&response) {
        return response;
    }
    let code = ErrorCode::for_status(status);
    if status.is_server_error() {
        tracing::warn!(%status, code = code.as_str(), "request failed in a layer");
    }
    let (mut parts, _) = response.into_parts();
    let body =
        serde_json::to_vec(&json_body(code, code.meaning()).0).expect("an error body serializes");
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, Body::from(body))
}

fn is_json(response: &Response) -> bool {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use techpack_engine::store::StoreError;

    #[test]
    fn a_credit_refusal_is_answered_by_its_type_not_its_text() {
        let short = CreditError::InsufficientCredits {
            step: "a".into(),
            user: "ann".into(),
            needed: 3,
            available: 1,
        };
        let error = ApiError::from(EngineError::from(short));
        assert_eq!(error.code, ErrorCode::InsufficientCredits);
        assert_eq!(error.status, StatusCode::PAYMENT_REQUIRED);
        assert_eq!(
            error.message,
            "insufficient credits: step `a` needs 3, ann has 1 available"
        );
        let charged = CreditError::AlreadyCharged {
            step: "a".into(),
            reservation: "r".into(),
        };
        assert_eq!(
            ApiError::from(EngineError::from(charged)).code,
            ErrorCode::Internal
        );
    }

    #[test]
    fn a_store_failure_is_a_generic_500_that_names_nothing_of_the_store() {
        let failure = std::io::Error::other("/srv/techpack/state: no space left on device");
        let error = ApiError::from(EngineError::from(StoreError::unavailable(failure)));
        assert_eq!(error.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(error.code, ErrorCode::Internal);
        assert!(!error.message.contains("/srv"), "{}", error.message);
        let conflict = StoreError::Conflict("could not serialize access".into());
        assert_eq!(
            ApiError::from(EngineError::from(conflict)).code,
            ErrorCode::Internal
        );
    }

    #[test]
    fn codes_are_unique_and_statuses_are_errors() {
        let mut seen = std::collections::HashSet::new();
        for code in ErrorCode::ALL {
            assert!(seen.insert(code.as_str()), "{} twice", code.as_str());
            assert!(code.status().is_client_error() || code.status().is_server_error());
        }
        assert_eq!(
            ErrorCode::for_status(StatusCode::CONFLICT),
            ErrorCode::Conflict
        );
        assert_eq!(
            ErrorCode::for_status(StatusCode::INTERNAL_SERVER_ERROR),
            ErrorCode::Internal
        );
    }
}
