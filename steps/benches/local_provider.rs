//! The local provider's time per image for each step, on a 1024×1024 photo
//! (`cargo bench -p techpack-steps --bench local_provider`). Each round starts with a new
//! provider, so nothing is kept decoded from the round before: a step's time includes
//! decoding its photo once, as the first step of a run to ask about a photo does.

use std::time::{Duration, Instant};

use std::sync::Arc;

use techpack_steps::local::{self, DecodeLimits, RecentPhotos};
use techpack_steps::providers::local::plan_detail_regions;
use techpack_steps::providers::{
    ImageProvider, ImageTask, InlineImage, LocalProvider, VisionProvider, VisionTask,
};
use techpack_steps::techpack::View;

const ROUNDS: usize = 9;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let png = local::encode_png(&local::draw_sample_product(1024, 1024)).unwrap();
    let bytes: Arc<[u8]> = png.clone().into();
    let image = InlineImage {
        mime: "image/png".into(),
        bytes: bytes.clone(),
    };
    let fresh = LocalProvider::default;
    let limits = DecodeLimits::default();

    let time = |label: &str, work: &dyn Fn()| {
        work();
        let samples = (0..ROUNDS)
            .map(|_| {
                let start = Instant::now();
                work();
                start.elapsed()
            })
            .collect();
        println!("{label:44} {:>8.1} ms", median(samples).as_secs_f64() * 1e3);
    };

    println!("local provider, 1024×1024 PNG, median of {ROUNDS}:");
    time("decode (PNG, limits checked)", &|| {
        local::decode(&png, &limits).unwrap();
    });
    time("detect-category (per image)", &|| {
        runtime
            .block_on(fresh().ask(&VisionTask::DetectCategory, std::slice::from_ref(&image)))
            .unwrap();
    });
    time("analyze-base-views (one view)", &|| {
        let task = VisionTask::AnalyzeView {
            view: View::Front,
            category: None,
            subcategory: None,
            references: Default::default(),
        };
        runtime
            .block_on(fresh().ask(&task, std::slice::from_ref(&image)))
            .unwrap();
    });
    time("generate-close-ups: plan 8 regions", &|| {
        plan_detail_regions(&RecentPhotos::default(), &bytes, &limits, 8).unwrap();
    });
    let regions = plan_detail_regions(&RecentPhotos::default(), &bytes, &limits, 8).unwrap();
    time("generate-close-ups: 8 shots + analysis", &|| {
        let provider = fresh();
        runtime.block_on(async {
            for crop in &regions {
                let task = ImageTask::CloseUp {
                    detail: "d",
                    region: Some([crop.x, crop.y, crop.w, crop.h]),
                    description: "",
                };
                let shot = provider
                    .generate(&task, std::slice::from_ref(&image))
                    .await
                    .unwrap();
                let shot = InlineImage {
                    mime: shot.mime,
                    bytes: shot.bytes.into(),
                };
                let task = VisionTask::AnalyzeCloseUp {
                    detail: "d",
                    category: None,
                };
                provider
                    .ask(&task, std::slice::from_ref(&shot))
                    .await
                    .unwrap();
            }
        });
    });
    time("generate-sketches (one view: line art + PNG)", &|| {
        let task = ImageTask::Sketch {
            view: View::Front,
            description: "",
        };
        runtime
            .block_on(fresh().generate(&task, std::slice::from_ref(&image)))
            .unwrap();
    });
    time("regenerate (clean-up + PNG)", &|| {
        let task = ImageTask::Regenerate {
            view: View::Front,
            prompt: None,
            description: "",
        };
        runtime
            .block_on(fresh().generate(&task, std::slice::from_ref(&image)))
            .unwrap();
    });
}
