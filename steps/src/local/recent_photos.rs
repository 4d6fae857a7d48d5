//! Photos decoded lately. One run asks many things of one photo: its view analysis, its
//! flat, and a close-up of each of up to eight details; each request carries the photo's
//! bytes. Decoding a 1024 × 1024 PNG and finding the product in it are most of what a
//! close-up or a flat costs, so the last few photos are kept decoded, with the segmentation
//! measurements and flats are read from and the locator thumbnail every close-up shows.
//!
//! A photo is found again by its bytes (compared whole, never by a hash that could
//! collide) and the limits it was decoded within, so a caller with stricter limits never
//! gets a photo those limits would refuse. What is kept is bounded (by default
//! [`MAX_PHOTOS`] and [`MAX_PIXELS`]); a photo larger than that is decoded for its caller
//! alone.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use image::RgbImage;

use super::LocalError;
use super::decode::{DecodeLimits, decode};
use super::foreground::Foreground;
use super::locator::locator_thumbnail;
use super::silhouette::segment_for_measuring;

/// Pictures kept at most: a tech pack's views (front, back, side, top) and the close-ups
/// being made of them, which are analysed right after they are drawn.
pub const MAX_PHOTOS: usize = 16;
/// Pixels kept at most over all photos (about 3 bytes of colour and 1 of mask each): four
/// 1024 × 1024 photos or one 4096 × 4096, 64 MB at the very most.
pub const MAX_PIXELS: u64 = 16 * 1024 * 1024;

/// A decoded photo and what is worked out of it once, on first use.
#[derive(Debug)]
pub struct DecodedPhoto {
    pixels: RgbImage,
    segmentation: OnceLock<Foreground>,
    locator: OnceLock<RgbImage>,
}

impl DecodedPhoto {
    fn new(pixels: RgbImage) -> Self {
        Self {
            pixels,
            segmentation: OnceLock::new(),
            locator: OnceLock::new(),
        }
    }

    /// The photo's pixels, upright and without transparency.
    pub fn pixels(&self) -> &RgbImage {
        &self.pixels
    }

    /// Which pixels are product, as the view analysis and the flat both read it.
    pub(crate) fn segmentation(&self) -> &Foreground {
        self.segmentation
            .get_or_init(|| segment_for_measuring(&self.pixels))
    }

    /// The photo shrunk for a close-up's locator, before the cut is outlined on it.
    pub(crate) fn locator_thumbnail(&self) -> &RgbImage {
        self.locator.get_or_init(|| locator_thumbnail(&self.pixels))
    }
}

/// One kept photo: the bytes and limits it was decoded from, and the result once decoded.
/// Requests for a photo being decoded wait for that decoding rather than repeat it.
struct Slot {
    bytes: Arc<[u8]>,
    limits: DecodeLimits,
    photo: Mutex<Option<Arc<DecodedPhoto>>>,
    /// The photo's pixels once decoded; 0 before.
    pixels: AtomicU64,
}

impl Slot {
    fn holds(&self, bytes: &Arc<[u8]>, limits: &DecodeLimits) -> bool {
        self.limits == *limits && (Arc::ptr_eq(&self.bytes, bytes) || *self.bytes == **bytes)
    }

    fn pixels(&self) -> u64 {
        self.pixels.load(Ordering::Acquire)
    }
}

/// The photos decoded last, most recent first.
pub struct RecentPhotos {
    slots: Mutex<VecDeque<Arc<Slot>>>,
    max_photos: usize,
    max_pixels: u64,
}

impl std::fmt::Debug for RecentPhotos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecentPhotos")
            .field("kept", &self.len())
            .field("max_photos", &self.max_photos)
            .field("max_pixels", &self.max_pixels)
            .finish()
    }
}

impl Default for RecentPhotos {
    fn default() -> Self {
        Self::keeping(MAX_PHOTOS, MAX_PIXELS)
    }
}

impl RecentPhotos {
    /// Keeps at most `max_photos` photos of at most `max_pixels` pixels in all.
    pub fn keeping(max_photos: usize, max_pixels: u64) -> Self {
        Self {
            slots: Mutex::new(VecDeque::new()),
            max_photos,
            max_pixels,
        }
    }

    /// The photo `bytes` decoded within `limits`: kept from an earlier request, or decoded
    /// now and kept when it fits.
    ///
    /// # Errors
    /// Whatever [`decode`] reports; a photo that fails to decode is not kept.
    pub fn decoded(
        &self,
        bytes: &Arc<[u8]>,
        limits: &DecodeLimits,
    ) -> Result<Arc<DecodedPhoto>, LocalError> {
        let slot = self.slot_for(bytes, limits);
        let mut photo = slot.photo.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(photo) = photo.as_ref() {
            return Ok(Arc::clone(photo));
        }
        let decoded = match decode(bytes, limits) {
            Ok(pixels) => {
                let size = u64::from(pixels.width()) * u64::from(pixels.height());
                slot.pixels.store(size.max(1), Ordering::Release);
                Arc::new(DecodedPhoto::new(pixels))
            }
            Err(error) => {
                drop(photo);
                self.forget(&slot);
                return Err(error);
            }
        };
        *photo = Some(Arc::clone(&decoded));
        drop(photo);
        self.trim();
        Ok(decoded)
    }

    /// Keeps `pixels` as what `bytes` decode to within `limits`: for a picture this process
    /// has just drawn and encoded (a close-up), which is asked about next.
    /// `bytes` must be the lossless encoding of `pixels` (a PNG made by
    /// [`super::encode_png`]), so that decoding them would give `pixels` again.
    pub fn remember(&self, bytes: &Arc<[u8]>, limits: &DecodeLimits, pixels: RgbImage) {
        let slot = self.slot_for(bytes, limits);
        let mut photo = slot.photo.lock().unwrap_or_else(PoisonError::into_inner);
        if photo.is_none() {
            let size = u64::from(pixels.width()) * u64::from(pixels.height());
            slot.pixels.store(size.max(1), Ordering::Release);
            *photo = Some(Arc::new(DecodedPhoto::new(pixels)));
        }
        drop(photo);
        self.trim();
    }

    /// The slot for `bytes`, moved to the front; a new empty one when none holds them.
    fn slot_for(&self, bytes: &Arc<[u8]>, limits: &DecodeLimits) -> Arc<Slot> {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(index) = slots.iter().position(|slot| slot.holds(bytes, limits)) {
            let slot = slots.remove(index).expect("the index was just found");
            slots.push_front(Arc::clone(&slot));
            return slot;
        }
        let slot = Arc::new(Slot {
            bytes: Arc::clone(bytes),
            limits: *limits,
            photo: Mutex::new(None),
            pixels: AtomicU64::new(0),
        });
        slots.push_front(Arc::clone(&slot));
        slot
    }

    fn forget(&self, gone: &Arc<Slot>) {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        slots.retain(|slot| !Arc::ptr_eq(slot, gone));
    }

    /// Drops the least recent photos beyond the number or pixels kept. A photo still being
    /// decoded stays: its caller is waiting for it.
    fn trim(&self) {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        let mut kept = 0usize;
        let mut pixels = 0u64;
        slots.retain(|slot| {
            let size = slot.pixels();
            if size == 0 {
                return true;
            }
            let keep = kept < self.max_photos && pixels + size <= self.max_pixels;
            if keep {
                kept += 1;
                pixels += size;
            }
            keep
        });
    }

    /// How many photos are kept decoded now.
    pub fn len(&self) -> usize {
        self.slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|slot| slot.pixels() > 0)
            .count()
    }

    /// Whether no photo is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use image::Rgb;

    use super::*;
    use crate::local::{draw_sample_product, encode_png};

    fn png(width: u32, height: u32) -> Arc<[u8]> {
        encode_png(&draw_sample_product(width, height))
            .unwrap()
            .into()
    }

    #[test]
    fn the_same_bytes_give_the_same_decoded_photo() {
        let recent = RecentPhotos::default();
        let limits = DecodeLimits::default();
        let bytes = png(120, 100);
        let first = recent.decoded(&bytes, &limits).unwrap();
        // A copy of the bytes (another upload of the same file) finds it too.
        let copy: Arc<[u8]> = bytes.to_vec().into();
        let again = recent.decoded(&copy, &limits).unwrap();
        assert!(Arc::ptr_eq(&first, &again));
        assert_eq!(first.pixels().dimensions(), (120, 100));
        assert_eq!(recent.len(), 1);
    }

    #[test]
    fn a_remembered_picture_is_found_by_its_encoding() {
        let recent = RecentPhotos::default();
        let limits = DecodeLimits::default();
        let pixels = draw_sample_product(90, 70);
        let bytes: Arc<[u8]> = encode_png(&pixels).unwrap().into();
        recent.remember(&bytes, &limits, pixels.clone());
        let copy: Arc<[u8]> = bytes.to_vec().into();
        let found = recent.decoded(&copy, &limits).unwrap();
        assert_eq!(found.pixels(), &pixels);
        assert_eq!(
            found.pixels(),
            &crate::local::decode(&bytes, &limits).unwrap()
        );
    }

    #[test]
    fn stricter_limits_are_checked_again() {
        let recent = RecentPhotos::default();
        let bytes = png(120, 100);
        recent.decoded(&bytes, &DecodeLimits::default()).unwrap();
        let strict = DecodeLimits {
            max_side_px: 64,
            ..DecodeLimits::default()
        };
        assert!(matches!(
            recent.decoded(&bytes, &strict),
            Err(LocalError::TooLarge { .. })
        ));
        assert_eq!(recent.len(), 1, "the refused decoding is not kept");
    }

    #[test]
    fn only_the_most_recent_photos_are_kept() {
        let recent = RecentPhotos::default();
        let limits = DecodeLimits::default();
        let photos: Vec<Arc<[u8]>> = (0..MAX_PHOTOS as u32 + 2)
            .map(|i| png(60 + i, 50))
            .collect();
        for bytes in &photos {
            recent.decoded(bytes, &limits).unwrap();
        }
        assert_eq!(recent.len(), MAX_PHOTOS);
        // The newest is kept; the oldest was dropped and decodes afresh.
        let newest = recent.decoded(photos.last().unwrap(), &limits).unwrap();
        let again = recent.decoded(photos.last().unwrap(), &limits).unwrap();
        assert!(Arc::ptr_eq(&newest, &again));
        assert_eq!(recent.len(), MAX_PHOTOS);
    }

    #[test]
    fn a_photo_larger_than_the_budget_is_not_kept() {
        let recent = RecentPhotos::keeping(MAX_PHOTOS, 100 * 100);
        let limits = DecodeLimits::default();
        let small = png(100, 100);
        recent.decoded(&small, &limits).unwrap();
        let big: Arc<[u8]> = encode_png(&RgbImage::from_pixel(101, 100, Rgb([200, 10, 10])))
            .unwrap()
            .into();
        let photo = recent.decoded(&big, &limits).unwrap();
        assert_eq!(photo.pixels().width(), 101);
        assert_eq!(
            recent.len(),
            1,
            "the small photo stays, the big one is not kept"
        );
        let kept = recent.decoded(&small, &limits).unwrap();
        assert!(Arc::ptr_eq(
            &kept,
            &recent.decoded(&small, &limits).unwrap()
        ));
    }

    #[test]
    fn bytes_that_are_not_an_image_are_an_error_and_not_kept() {
        let recent = RecentPhotos::default();
        let junk: Arc<[u8]> = b"not an image at all".to_vec().into();
        assert!(recent.decoded(&junk, &DecodeLimits::default()).is_err());
        assert!(recent.is_empty());
    }
}
