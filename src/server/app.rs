//! The router: every endpoint and the console's pages, with the request body limit and
//! timeout, then the middleware that answers every error in the API's JSON shape, and
//! outermost the security headers.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::map_response;
use axum::routing::{get, post};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;

use super::AppState;
use super::console;
use super::error::json_errors;
use super::routes::{admin, exports, me, products, run_list, runs, system, tech_pack, workflows};

pub fn app(state: AppState) -> Router {
    let api = Router::new()
        .route("/api/products", post(products::create).get(products::list))
        .route("/api/products/{id}/images/{sha256}", get(products::image))
        .route("/api/products/{id}", get(products::show))
        .route("/api/products/{id}/images", post(products::upload_image))
        .route("/api/products/{id}/revisions", get(products::revisions))
        .route("/api/products/{id}/tech-pack", get(exports::json))
        .route("/api/products/{id}/tech-pack.html", get(exports::html))
        .route(
            "/api/products/{id}/tech-pack/{file}",
            get(exports::factory_file),
        )
        .route(
            "/api/tech-pack-v2/category/detect",
            post(tech_pack::detect_category),
        )
        .route(
            "/api/tech-pack-v2/base-views/analyze",
            post(tech_pack::analyze_base_views),
        )
        .route(
            "/api/tech-pack-v2/close-ups/generate",
            post(tech_pack::generate_close_ups),
        )
        .route(
            "/api/tech-pack-v2/sketches/generate",
            post(tech_pack::generate_sketches),
        )
        .route("/api/tech-pack-v2/edit", post(tech_pack::edit))
        .route("/api/tech-pack-v2/regenerate", post(tech_pack::regenerate))
        .route("/api/workflows", get(runs::list_workflows))
        .route("/api/workflows/validate", post(workflows::validate))
        .route(
            "/api/workflows/{name}",
            get(workflows::show).put(workflows::save),
        )
        .route("/api/runs", get(run_list::list))
        .route("/api/runs/{id}/workflow", get(workflows::of_run))
        .route(
            "/api/session",
            post(console::session::sign_in)
                .get(console::session::show)
                .delete(console::session::sign_out),
        )
        .route("/api/workflows/{name}/runs", post(runs::trigger))
        .route("/api/runs/{id}", get(runs::show))
        .route("/api/runs/{id}/events", get(runs::events))
        .route("/api/runs/{id}/cancel", post(runs::cancel))
        .route("/api/runs/{id}/resume", post(runs::resume))
        .route("/api/runs/{id}/retry", post(runs::retry))
        .route("/api/runs/{id}/replay", post(runs::replay))
        .route("/api/me/credits", get(me::credits))
        .route("/api/me/webhook-secret", post(me::rotate_webhook_secret))
        .route("/api/logs", get(me::logs))
        .route("/api/admin/users", post(admin::create_user))
        .route("/api/admin/users/{name}/credits", post(admin::grant))
        .route("/api/openapi.json", get(system::openapi))
        .route("/healthz", get(system::healthz))
        .route("/metrics", get(system::metrics))
        .merge(console::routes());
    api.layer(DefaultBodyLimit::max(state.max_body))
        // A declared Content-Length over the limit is refused before any of the body is read.
        .layer(RequestBodyLimitLayer::new(state.max_body))
        .layer(TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            state.request_timeout,
        ))
        .fallback(system::not_found)
        .with_state(state)
        // Outermost, so that it sees what every layer and axum itself answer.
        .layer(map_response(json_errors))
        .layer(map_response(console::headers::security_headers))
}
