//! Products and their images: create, show, upload a view's photo, list revisions.

use std::borrow::Cow;

use axum::Json;
use axum::extract::{Multipart, Path, State};
use axum::http::header::CONTENT_LENGTH;
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use techpack_steps::storage::{Product, RevisionOrigin};
use techpack_steps::techpack::View;

use super::Body;
use crate::server::AppState;
use crate::server::auth::Caller;
use crate::server::error::{ApiError, ErrorCode};
use crate::server::views;

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewProduct {
    name: String,
    description: Option<String>,
}

pub async fn create(
    State(state): State<AppState>,
    Caller(user): Caller,
    Body(body): Body<NewProduct>,
) -> Result<(StatusCode, Json<Product>), ApiError> {
    let name = body.name.trim();
    if name.is_empty() || name.len() > 200 {
        return Err(ApiError::bad_request("`name` must be 1 to 200 characters"));
    }
    let product = state
        .services
        .catalog
        .create_product(name, body.description, Some(user.name))?;
    // A 201 means the product survives a crash.
    state.engine.durable().await?;
    Ok((StatusCode::CREATED, Json(product)))
}

/// The caller's product, or 404 (also for another user's product: ids do not leak).
pub fn owned(state: &AppState, user: &str, id: &str) -> Result<Product, ApiError> {
    match state.services.catalog.product(id) {
        Ok(product) if product.owner.as_deref() == Some(user) => Ok(product),
        Ok(_) => Err(ApiError::not_found("product", id)),
        Err(e) => Err(e.into()),
    }
}

pub async fn show(
    State(state): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let product = owned(&state, &user.name, &id)?;
    let revisions = state.services.catalog.revisions(&id)?;
    let mut body = serde_json::to_value(product).map_err(ApiError::internal)?;
    body["revisions"] = revisions.iter().map(views::revision).collect();
    // The flats and close-ups made for it, oldest first, each image by its hash
    // (`/api/products/{id}/images/{sha256}`).
    body["sketches"] = state
        .services
        .catalog
        .sketches(&id)?
        .iter()
        .map(|s| json!({ "id": s.id, "analysisId": s.analysis_id, "view": s.view, "imageHash": s.image_hash,
            "width": s.width, "height": s.height, "createdAt": s.created_at }))
        .collect();
    body["closeUps"] = state
        .services
        .catalog
        .close_ups(&id)?
        .iter()
        .map(|c| json!({ "id": c.id, "analysisId": c.analysis_id, "detail": c.detail, "imageHash": c.image_hash,
            "createdAt": c.created_at }))
        .collect();
    Ok(Json(body))
}

pub async fn revisions(
    State(state): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    owned(&state, &user.name, &id)?;
    let revisions: Vec<Value> = state
        .services
        .catalog
        .revisions(&id)?
        .iter()
        .map(views::revision)
        .collect();
    Ok(Json(json!({ "revisions": revisions })))
}

/// `multipart/form-data` with a file field `image` and a text field `view`.
///
/// The body's declared length is taken from the memory budget before any of it is read, so
/// concurrent uploads queue instead of piling up in memory (503 `busy` with `Retry-After`
/// when the queue does not move within `--memory-wait`). Metadata that does not render is
/// stripped before the photo is stored; decoding it to check it takes its pixels' weight.
pub async fn upload_image(
    State(state): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    mut form: Multipart,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    owned(&state, &user.name, &id)?;
    let budget = &state.services.budget;
    // Without a length (chunked), the body may be as large as the limit allows.
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
        .unwrap_or(state.max_body)
        .min(state.max_body);
    let body_permit = budget
        .acquire(Some(&user.name), declared as u64)
        .await
        .map_err(|busy| ApiError::busy(&busy))?;
    let (image, view) = read_form(&mut form, declared).await?;
    let view = View::parse(view.trim()).ok_or_else(|| {
        ApiError::bad_request(format!(
            "unknown view `{view}` (front, back, side, top, detail)"
        ))
    })?;
    let limits = state.services.limits;
    let bytes = tokio::task::spawn_blocking(move || {
        // A file with nothing to strip is kept as received, not copied.
        let stripped = match techpack_steps::local::strip_metadata(&image, &limits)? {
            Cow::Borrowed(_) => None,
            Cow::Owned(stripped) => Some(stripped),
        };
        Ok::<_, techpack_steps::local::LocalError>(stripped.unwrap_or(image))
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(|e| ApiError::bad_request(e.to_string()))?;
    // The received body is gone; what is left is the (small) photo and its pixels.
    drop(body_permit);
    let pixel_permit = budget
        .acquire_for_image(Some(&user.name), &bytes, &limits)
        .await
        .map_err(|busy| ApiError::busy(&busy))?;
    let (bytes, width, height) = tokio::task::spawn_blocking(move || {
        let checked = techpack_steps::local::decode(&bytes, &limits)
            .map(|d| (d.width(), d.height()))
            .map(|(w, h)| (bytes, w, h));
        drop(pixel_permit);
        checked
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(|e| ApiError::bad_request(e.to_string()))?;
    let catalog = &state.services.catalog;
    let hash = catalog.blobs.put(&bytes)?;
    let mime = if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        "image/jpeg"
    } else {
        "image/png"
    };
    let revision = catalog.add_revision(
        &id,
        view,
        &hash,
        mime,
        width,
        height,
        RevisionOrigin::Upload,
    )?;
    state.engine.durable().await?;
    let body = serde_json::json!({
        "revisionId": revision.id,
        "imageHash": revision.image_hash,
        "version": revision.version,
        "view": revision.view,
        "isCurrent": revision.is_current,
        "width": revision.width,
        "height": revision.height,
        "productId": revision.product_id,
    });
    Ok((StatusCode::CREATED, Json(body)))
}

/// The `image` file and the `view` text of an upload form. The file is read chunk by chunk
/// into one buffer of the declared size, so it is held once, as the budget counted it.
async fn read_form(form: &mut Multipart, declared: usize) -> Result<(Vec<u8>, String), ApiError> {
    let (mut image, mut view) = (None, None);
    // Over the body limit is 413 (nothing is stored); anything else wrong with the form, 400.
    let form_error = |e: axum::extract::multipart::MultipartError| {
        let code = ErrorCode::for_status(e.status());
        ApiError::new(e.status(), code, format!("bad upload: {}", e.body_text()))
    };
    while let Some(mut field) = form.next_field().await.map_err(form_error)? {
        match field.name() {
            Some("image") if image.is_some() => {
                return Err(ApiError::bad_request(
                    "the form has more than one `image` field",
                ));
            }
            Some("image") => {
                let mut bytes = Vec::with_capacity(declared);
                while let Some(chunk) = field.chunk().await.map_err(form_error)? {
                    bytes.extend_from_slice(&chunk);
                }
                image = Some(bytes);
            }
            Some("view") => view = Some(field.text().await.map_err(form_error)?),
            _ => {}
        }
    }
    let image =
        image.ok_or_else(|| ApiError::bad_request("the form needs a file field `image`"))?;
    let view = view.ok_or_else(|| {
        ApiError::bad_request("the form needs a text field `view` (front, back, side, top, detail)")
    })?;
    Ok((image, view))
}

/// `GET /api/products`: the caller's products, newest first.
pub async fn list(
    State(state): State<AppState>,
    Caller(user): Caller,
) -> Result<Json<Value>, ApiError> {
    let mut products = state.services.catalog.products_of(&user.name)?;
    products.sort_by_key(|p| std::cmp::Reverse(p.created_at));
    Ok(Json(json!({ "products": products })))
}

/// `GET /api/products/{id}/images/{sha256}`: one of the product's images (an uploaded photo
/// or a revision of it, a close-up, a flat), for pages to show. Any other hash is a 404, so
/// an id never opens another product's images.
pub async fn image(
    State(state): State<AppState>,
    Caller(user): Caller,
    Path((id, hash)): Path<(String, String)>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    owned(&state, &user.name, &id)?;
    let bytes = tokio::task::spawn_blocking(move || {
        let catalog = &state.services.catalog;
        let known = catalog.revisions(&id)?.iter().any(|r| r.image_hash == hash)
            || catalog.close_ups(&id)?.iter().any(|c| c.image_hash == hash)
            || catalog.sketches(&id)?.iter().any(|s| s.image_hash == hash);
        if !known {
            return Err(ApiError::not_found("image", &hash));
        }
        catalog.blobs.get(&hash).map_err(ApiError::from)
    })
    .await
    .map_err(ApiError::internal)??;
    let content_type = if bytes.starts_with(b"\x89PNG") {
        "image/png"
    } else if bytes.starts_with(&[0xff, 0xd8]) {
        "image/jpeg"
    } else {
        "application/octet-stream"
    };
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, content_type),
            // Named by its content: it never changes.
            (
                axum::http::header::CACHE_CONTROL,
                "private, max-age=31536000, immutable",
            ),
        ],
        bytes,
    )
        .into_response())
}
