//! Products and their images: create, show, upload a view's photo, list revisions.

use std::borrow::Cow;

use axum::Json;
use axum::extract::{Multipart, Path, State};
use axum::http::header::CONTENT_LENGTH;
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use techpack_steps::storage::{Product, RevisionOrigin};
use techpack_steps::techpack::View;

use super::Body;
use crate::server::AppState;
use crate::server::auth::Caller;
use crate::server::error::{ApiError, ErrorCode};
use crate::server::views::{
    CloseUpImageView, ProductView, RevisionView, SketchImageView, UploadView, ViewName,
};

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewProduct {
    /// 1 to 200 characters.
    #[schema(min_length = 1, max_length = 200)]
    name: String,
    description: Option<String>,
}

/// Create a product
#[utoipa::path(post, path = "/api/products", tag = "products", request_body = NewProduct,
    responses((status = 201, description = "the product", body = ProductView)))]
pub async fn create(
    State(state): State<AppState>,
    Caller(user): Caller,
    Body(body): Body<NewProduct>,
) -> Result<(StatusCode, Json<ProductView>), ApiError> {
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
    Ok((StatusCode::CREATED, Json(ProductView::from(product))))
}

/// The caller's product, or 404 (also for another user's product: ids do not leak).
pub fn owned(state: &AppState, user: &str, id: &str) -> Result<Product, ApiError> {
    match state.services.catalog.product(id) {
        Ok(product) if product.owner.as_deref() == Some(user) => Ok(product),
        Ok(_) => Err(ApiError::not_found("product", id)),
        Err(e) => Err(e.into()),
    }
}

/// A product with its photos, and the flats and close-ups made for it, oldest first, each
/// image by its hash (`/api/products/{id}/images/{sha256}`).
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProductDetail {
    #[serde(flatten)]
    product: ProductView,
    revisions: Vec<RevisionView>,
    sketches: Vec<SketchImageView>,
    close_ups: Vec<CloseUpImageView>,
}

/// A product with its image revisions
#[utoipa::path(get, path = "/api/products/{id}", tag = "products",
    params(("id" = String, Path, description = "the product's id")),
    responses(
        (status = 200, description = "the product", body = ProductDetail),
        (status = 404, description = "no such product of the caller's (`not_found`)")))]
pub async fn show(
    State(state): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<String>,
) -> Result<Json<ProductDetail>, ApiError> {
    let product = owned(&state, &user.name, &id)?;
    let catalog = &state.services.catalog;
    Ok(Json(ProductDetail {
        product: product.into(),
        revisions: catalog
            .revisions(&id)?
            .iter()
            .map(RevisionView::from)
            .collect(),
        sketches: catalog
            .sketches(&id)?
            .iter()
            .map(SketchImageView::from)
            .collect(),
        close_ups: catalog
            .close_ups(&id)?
            .iter()
            .map(CloseUpImageView::from)
            .collect(),
    }))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct Revisions {
    revisions: Vec<RevisionView>,
}

/// A product's image revisions
#[utoipa::path(get, path = "/api/products/{id}/revisions", tag = "products",
    params(("id" = String, Path, description = "the product's id")),
    responses(
        (status = 200, description = "every revision of every view, oldest first", body = Revisions),
        (status = 404, description = "no such product of the caller's (`not_found`)")))]
pub async fn revisions(
    State(state): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<String>,
) -> Result<Json<Revisions>, ApiError> {
    owned(&state, &user.name, &id)?;
    let revisions = state.services.catalog.revisions(&id)?;
    Ok(Json(Revisions {
        revisions: revisions.iter().map(RevisionView::from).collect(),
    }))
}

/// The upload form of `POST /api/products/{id}/images`.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // read field by field from the multipart stream, never as a whole
pub struct UploadForm {
    /// A PNG or JPEG photo.
    #[schema(value_type = String, format = Binary)]
    image: Vec<u8>,
    view: ViewName,
}

/// Upload a photo of one view (multipart: file `image`, text `view`)
///
/// The body's declared length is taken from the memory budget before any of it is read, so
/// concurrent uploads queue instead of piling up in memory (503 `busy` with `Retry-After`
/// when the queue does not move within `--memory-wait`). Metadata that does not render is
/// stripped before the photo is stored; decoding it to check it takes its pixels' weight.
#[utoipa::path(post, path = "/api/products/{id}/images", tag = "products",
    params(("id" = String, Path, description = "the product's id")),
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses(
        (status = 201, description = "the new revision of that view, now its current one", body = UploadView),
        (status = 400, description = "not a PNG or JPEG, too large in pixels or metadata, or an unknown view (`invalid_input`)"),
        (status = 404, description = "no such product of the caller's (`not_found`)"),
        (status = 503, description = "the memory budget stayed full (`busy`, with `Retry-After`)")))]
pub async fn upload_image(
    State(state): State<AppState>,
    Caller(user): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    mut form: Multipart,
) -> Result<(StatusCode, Json<UploadView>), ApiError> {
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
    Ok((StatusCode::CREATED, Json(UploadView::from(&revision))))
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

#[derive(Serialize, utoipa::ToSchema)]
pub struct Products {
    products: Vec<ProductView>,
}

/// The caller's products, newest first
#[utoipa::path(get, path = "/api/products", tag = "products",
    responses((status = 200, description = "the caller's products", body = Products)))]
pub async fn list(
    State(state): State<AppState>,
    Caller(user): Caller,
) -> Result<Json<Products>, ApiError> {
    let mut products = state.services.catalog.products_of(&user.name)?;
    products.sort_by_key(|p| std::cmp::Reverse(p.created_at));
    Ok(Json(Products {
        products: products.into_iter().map(ProductView::from).collect(),
    }))
}

/// One of the product's images (photo, close-up, flat) by sha256
///
/// An uploaded photo or a revision of it, a close-up, a flat, for pages to show. Any other
/// hash is a 404, so an id never opens another product's images.
#[utoipa::path(get, path = "/api/products/{id}/images/{sha256}", tag = "products",
    params(("id" = String, Path, description = "the product's id"),
        ("sha256" = String, Path, description = "the image's hash, as its record names it")),
    responses(
        (status = 200, description = "the image", content(("image/png"), ("image/jpeg"))),
        (status = 404, description = "no such product of the caller's, or no such image of it (`not_found`)")))]
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
