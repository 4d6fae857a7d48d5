//! A product's tech pack for download: the JSON document, the self-contained HTML page and
//! the factory files (PDF, XLSX, CSV), made from the store. This is where an HTTP run's
//! results go (never to a server folder).

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use techpack_steps::export::StoredTechPack;
use techpack_steps::export::pdf::Paper;
use techpack_steps::techpack::{Part, View};

use super::Params;
use super::products::owned;
use crate::server::AppState;
use crate::server::auth::Caller;
use crate::server::error::ApiError;

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct Which {
    /// An analysis of the product; the newest one when left out.
    analysis: Option<String>,
}

/// `?analysis=&paper=`, for what can be printed.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct Printed {
    /// An analysis of the product; the newest one when left out.
    analysis: Option<String>,
    /// The paper, landscape: `a4` (the default) or `letter`. The PDF is laid out for it and
    /// the page prints on it; the other files are the same on any paper.
    #[param(value_type = Option<String>)]
    paper: Option<Paper>,
}

/// The product's tech pack as it is stored: the chosen (or newest) analysis, with the
/// callouts of its sketches.
fn load(
    state: &AppState,
    user: &str,
    id: &str,
    analysis: Option<String>,
) -> Result<StoredTechPack, ApiError> {
    let product = owned(state, user, id)?;
    let catalog = &state.services.catalog;
    let analysis = match analysis {
        Some(analysis_id) => catalog.analysis(&analysis_id)?,
        None => catalog.analyses_of(&product.id)?.pop().ok_or_else(|| {
            ApiError::not_found_because(format!(
                "product `{id}` has no tech pack yet: run tech-pack-v2 on its photos first"
            ))
        })?,
    };
    Ok(StoredTechPack::load(catalog, &product.id, &analysis)?)
}

fn download(content_type: &str, name: String, body: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        body,
    )
        .into_response()
}

/// The product's tech pack (`techpack.json`; `?analysis=ID`, else the newest)
#[utoipa::path(get, path = "/api/products/{id}/tech-pack", tag = "tech pack",
    params(("id" = String, Path, description = "the product's id"), Which),
    responses(
        (status = 200, description = "the tech-pack document, valid against `steps/schema/techpack.schema.json`", body = Object),
        (status = 404, description = "no such product of the caller's, no such analysis, or no tech pack yet (`not_found`)")))]
pub async fn json(
    State(state): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<String>,
    Params(which): Params<Which>,
) -> Result<Response, ApiError> {
    let stored = tokio::task::spawn_blocking(move || load(&state, &user.name, &id, which.analysis))
        .await
        .map_err(ApiError::internal)??;
    let body = serde_json::to_vec_pretty(&stored.tech_pack).map_err(ApiError::internal)?;
    Ok(download("application/json", "techpack.json".into(), body))
}

/// The product's tech pack as a printable page, images inlined (`?analysis=ID&paper=`)
#[utoipa::path(get, path = "/api/products/{id}/tech-pack.html", tag = "tech pack",
    params(("id" = String, Path, description = "the product's id"), Printed),
    responses(
        (status = 200, description = "the self-contained page", body = String, content_type = "text/html; charset=utf-8"),
        (status = 400, description = "an unknown parameter, or a paper other than `a4` or `letter` (`invalid_input`)"),
        (status = 404, description = "no such product of the caller's, no such analysis, or no tech pack yet (`not_found`)")))]
pub async fn html(
    State(state): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<String>,
    Params(printed): Params<Printed>,
) -> Result<Response, ApiError> {
    let page = tokio::task::spawn_blocking(move || {
        let mut stored = load(&state, &user.name, &id, printed.analysis)?;
        stored.edition.paper = printed.paper.unwrap_or_default();
        Ok::<_, ApiError>(stored.html(&state.services.catalog)?)
    })
    .await
    .map_err(ApiError::internal)??;
    Ok(download(
        "text/html; charset=utf-8",
        "index.html".into(),
        page.into_bytes(),
    ))
}

/// The factory files `GET /api/products/{id}/tech-pack/{file}` serves, with their types.
const FACTORY_FILES: &[(&str, &str)] = &[
    ("techpack.pdf", "application/pdf"),
    (
        "techpack.xlsx",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ),
    ("bom.csv", "text/csv; charset=utf-8"),
    ("points-of-measure.csv", "text/csv; charset=utf-8"),
    ("size-chart.csv", "text/csv; charset=utf-8"),
];

/// A factory file of the product's tech pack
///
/// `techpack.pdf`, `techpack.xlsx`, `bom.csv`, `points-of-measure.csv` or `size-chart.csv`
/// (`?analysis=ID`, else the newest analysis; `?paper=letter` for a US-letter PDF, A4
/// landscape by default).
#[utoipa::path(get, path = "/api/products/{id}/tech-pack/{file}", tag = "tech pack",
    params(("id" = String, Path, description = "the product's id"),
        ("file" = String, Path, description = "`techpack.pdf`, `techpack.xlsx`, `bom.csv`, `points-of-measure.csv` or `size-chart.csv`"),
        Printed),
    responses(
        (status = 200, description = "the file", content(
            ("application/pdf"),
            ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
            ("text/csv; charset=utf-8"))),
        (status = 400, description = "an unknown parameter, or a paper other than `a4` or `letter` (`invalid_input`)"),
        (status = 404, description = "no such product of the caller's, analysis or file (`not_found`)")))]
pub async fn factory_file(
    State(state): State<AppState>,
    Caller(user): Caller,
    Path((id, file)): Path<(String, String)>,
    Params(printed): Params<Printed>,
) -> Result<Response, ApiError> {
    let Some(&(name, content_type)) = FACTORY_FILES.iter().find(|(name, _)| *name == file) else {
        let names: Vec<&str> = FACTORY_FILES.iter().map(|(name, _)| *name).collect();
        return Err(ApiError::not_found_because(format!(
            "no tech-pack file `{file}`: the files are {}",
            names.join(", ")
        )));
    };
    let body = tokio::task::spawn_blocking(move || {
        let mut stored = load(&state, &user.name, &id, printed.analysis)?;
        stored.edition.paper = printed.paper.unwrap_or_default();
        let file = stored.factory_file(&state.services.catalog, name)?;
        file.ok_or_else(|| ApiError::not_found_because(no_size_chart(&stored)))
    })
    .await
    .map_err(ApiError::internal)??;
    Ok(download(content_type, name.to_string(), body))
}

/// A flat of the product's tech pack as a drawing
///
/// `front.svg`, `back.svg`, `side.svg` …: the flat with its dimension lines and numbered
/// callouts, as an export's `sketches/VIEW.svg` (`?analysis=ID`, else the newest analysis).
/// Shown inline (the console's flats); its image is inlined and it runs no script.
#[utoipa::path(get, path = "/api/products/{id}/tech-pack/flats/{file}", tag = "tech pack",
    params(("id" = String, Path, description = "the product's id"),
        ("file" = String, Path, description = "the view's flat, e.g. `front.svg`"),
        Which),
    responses(
        (status = 200, description = "the drawing", body = String, content_type = "image/svg+xml"),
        (status = 404, description = "no such product of the caller's, analysis, view, or no flat of that view (`not_found`)")))]
pub async fn flat(
    State(state): State<AppState>,
    Caller(user): Caller,
    Path((id, file)): Path<(String, String)>,
    Params(which): Params<Which>,
) -> Result<Response, ApiError> {
    let no_flat = || {
        ApiError::not_found_because(format!(
            "no flat `{file}`: a flat is VIEW.svg for a view the tech pack's sketches drew (e.g. front.svg)"
        ))
    };
    let Some(view) = file.strip_suffix(".svg").and_then(View::parse) else {
        return Err(no_flat());
    };
    let svg = tokio::task::spawn_blocking(move || {
        let stored = load(&state, &user.name, &id, which.analysis)?;
        Ok::<_, ApiError>(stored.flat_svg(&state.services.catalog, view)?)
    })
    .await
    .map_err(ApiError::internal)??
    .ok_or_else(no_flat)?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            // Opened on its own, the drawing still can do nothing but draw.
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; img-src data:; style-src 'unsafe-inline'",
            ),
        ],
        svg,
    )
        .into_response())
}

/// Why a tech pack has no `size-chart.csv`.
fn no_size_chart(stored: &StoredTechPack) -> String {
    let tp = &stored.tech_pack;
    let reason = tp
        .not_produced
        .iter()
        .find(|n| n.part == Part::SizeChart)
        .map(|n| n.reason.clone())
        .unwrap_or_else(|| match tp.meta.grading {
            Some(_) => {
                "it has a size run but was not graded: run the export workflow on the product"
                    .into()
            }
            None => "it was made without a size run: run tech-pack-v2 with `sizes` and `base_size`"
                .into(),
        });
    format!("this tech pack has no graded size chart: {reason}")
}
