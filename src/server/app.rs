//! The router: every endpoint and the console's pages, with the request body limit and
//! timeout, then the middleware that answers every error in the API's JSON shape, and
//! outermost the security headers.
//!
//! The API's endpoints are registered once, through `utoipa-axum`'s [`OpenApiRouter`]: each
//! handler's `#[utoipa::path]` gives both the route axum serves and the operation of
//! `/api/openapi.json`, so the document cannot list a route that is not served or miss one
//! that is (a test reads the router to make sure nothing is added around it).

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::map_response;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::timeout::TimeoutLayer;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;
use super::console;
use super::error::json_errors;
use super::routes::{
    admin, analyses, exports, me, node_logs, products, run_list, runs, system, tech_pack, workflows,
};

/// Every API endpoint, each with its OpenAPI operation.
pub(crate) fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(super::openapi::base())
        .routes(routes!(products::create, products::list))
        .routes(routes!(products::show))
        .routes(routes!(products::image))
        .routes(routes!(products::upload_image))
        .routes(routes!(products::revisions))
        .routes(routes!(analyses::list))
        .routes(routes!(exports::json))
        .routes(routes!(exports::html))
        .routes(routes!(exports::factory_file))
        .routes(routes!(exports::flat))
        .routes(routes!(tech_pack::detect_category))
        .routes(routes!(tech_pack::analyze_base_views))
        .routes(routes!(tech_pack::generate_close_ups))
        .routes(routes!(tech_pack::generate_sketches))
        .routes(routes!(tech_pack::edit))
        .routes(routes!(tech_pack::regenerate))
        .routes(routes!(runs::list_workflows))
        .routes(routes!(workflows::validate))
        .routes(routes!(workflows::show, workflows::save))
        .routes(routes!(run_list::list))
        .routes(routes!(workflows::of_run))
        .routes(routes!(
            console::session::sign_in,
            console::session::show,
            console::session::sign_out
        ))
        .routes(routes!(runs::trigger))
        .routes(routes!(runs::show))
        .routes(routes!(runs::events))
        .routes(routes!(node_logs::logs))
        .routes(routes!(runs::cancel))
        .routes(routes!(runs::resume))
        .routes(routes!(runs::retry))
        .routes(routes!(runs::replay))
        .routes(routes!(me::credits))
        .routes(routes!(me::rotate_webhook_secret))
        .routes(routes!(me::logs))
        .routes(routes!(admin::create_user, admin::list_users))
        .routes(routes!(admin::grant))
        .routes(routes!(system::openapi))
        .routes(routes!(system::healthz))
        .routes(routes!(system::metrics))
}

/// Every route the server answers (the API and the console's pages), before layers and
/// state.
pub(crate) fn routes() -> Router<AppState> {
    let (api, _document) = api_routes().split_for_parts();
    api.merge(console::routes())
}

pub fn app(state: AppState) -> Router {
    routes()
        .layer(DefaultBodyLimit::max(state.max_body))
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// The paths a router serves. axum lists them nowhere but in its `Debug` output
    /// (`paths: {RouteId(0): "/api/products", …}`), which is read here so that the check
    /// below is about the router itself, not about a list kept beside it.
    fn served_paths(router: &Router<AppState>) -> BTreeSet<String> {
        format!("{router:?}")
            .split("RouteId(")
            .filter_map(|part| part.split_once("): \"")?.1.split('"').next())
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn every_route_served_is_in_the_openapi_document_and_back() {
        let pages = served_paths(&console::routes());
        let served: BTreeSet<String> = served_paths(&routes())
            .into_iter()
            .filter(|path| !pages.contains(path))
            .collect();
        assert!(
            served.contains("/api/products") && served.contains("/api/runs/{id}/events"),
            "the router's paths were not read: {served:?}"
        );
        let document = api_routes().into_openapi();
        let documented: BTreeSet<String> = document.paths.paths.keys().cloned().collect();
        assert_eq!(
            served, documented,
            "a route is served without an OpenAPI operation, or the other way round"
        );
    }
}
