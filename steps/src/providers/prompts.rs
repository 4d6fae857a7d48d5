//! What the HTTP models are asked, per task. The local provider needs no prompts.

use super::imaging::ImageTask;
use super::vision::VisionTask;
use crate::techpack::pom_library::{self, Axis};
use crate::techpack::{References, View, scale};

pub const SYSTEM: &str = "You are a senior technical designer preparing factory tech packs for any kind of \
product (apparel, footwear, bags, accessories, home goods, furniture, electronics, packaging). You read \
product photos precisely and never invent: for every value say where it comes from (`estimated_from_photo` \
when read off a photo, `unknown` with a null value and confidence 0 when the photos cannot show it) and how \
sure you are, from 0 to 1. Use metric units. Answer only with JSON that follows the given schema.";

fn reference_text(view: View, references: &References) -> String {
    let shown: Vec<String> = scale::axes_of(view)
        .map(|(a, b)| vec![a, b])
        .unwrap_or_default()
        .into_iter()
        .filter_map(|axis| {
            let mm = match axis {
                Axis::Width => references.width_mm,
                Axis::Height => references.height_mm,
                Axis::Depth => references.depth_mm,
            }?;
            Some(format!("{} {mm} mm", axis.as_str()))
        })
        .collect();
    if shown.is_empty() {
        "No reference size reaches this view: give measurements in mm only where a standard part makes the scale \
         clear (mark them `estimated_from_photo` with a modest confidence), otherwise null."
            .to_string()
    } else {
        format!(
            "The product's real size along the axes this view shows is {} (given by a person). Convert \
             measurements to mm with it; mark a value equal to a given size `given` and every value computed from \
             it `estimated_from_photo` with your confidence.",
            shown.join(" and ")
        )
    }
}

/// The category's points of measure, one a line, for the model to measure by code.
fn pom_list(category: Option<&str>, subcategory: Option<&str>) -> String {
    let (set, _) = pom_library::choose(category, subcategory);
    let lines: Vec<String> = set
        .points_of_measure
        .iter()
        .map(|p| {
            format!(
                "- {} {}: {} (tolerance ±{} mm)",
                p.code, p.name, p.how_to_measure, p.tolerance_mm
            )
        })
        .collect();
    format!(
        "Points of measure: use the {} set below, by code; give a value only where this photo shows it, null \
         otherwise (it will be measured on the sample).\n{}",
        set.name,
        lines.join("\n")
    )
}

/// The user message for a vision task.
pub fn vision_prompt(task: &VisionTask<'_>) -> String {
    match task {
        VisionTask::DetectCategory => "What product is shown in these photos? Give its category (e.g. bags, apparel, \
            footwear, home goods, furniture, electronics, toys) and subcategory (e.g. tote bag, crew-neck t-shirt, \
            coffee mug), with your confidence, and say briefly what in the photos decided it."
            .to_string(),
        VisionTask::AnalyzeView { view, category, subcategory, references } => format!(
            "This photo shows the {} view of a {}. Analyze it for a tech pack: materials, colours (name, hex, \
             Pantone/RAL only if certain), points of measure (code, how to measure, value, tolerance, criticality), \
             construction (operation, location, seam type, ISO 4915 stitch class, stitches per inch; joinery or \
             fastening for hard goods), visible design elements, bill-of-materials lines (placement, material, \
             composition, weight or thickness, finish, colour, consumption), labels and packaging, and \
             category-specific attributes as named entries. {}\n{}",
            view.as_str(),
            category.unwrap_or("product whose category is not known yet"),
            reference_text(*view, references),
            pom_list(*category, *subcategory)
        ),
        VisionTask::AnalyzeCloseUp { detail, category } => format!(
            "This is a close-up of the {detail} of a {}. Describe the materials and construction it shows (seams, \
             stitch class and density, edge finish, hardware, joinery) and what a factory must know to reproduce it.",
            category.unwrap_or("product")
        ),
        VisionTask::EditField { path, current, instruction } => format!(
            "A tech pack field at `{path}` currently holds this JSON value:\n{current}\nApply this instruction: \
             {instruction}\nAnswer the field's new value as JSON text of exactly the same shape (same keys and \
             types), and explain the change in one sentence. If a value now comes from the instruction, mark it \
             `given` with confidence 1."
        ),
    }
}

/// The prompt for an image task.
pub fn image_prompt(task: &ImageTask<'_>) -> String {
    match task {
        ImageTask::CloseUp {
            detail,
            description,
            region,
        } => format!(
            "Make a photorealistic macro close-up photo of the {detail} of this {description}. Keep the materials, \
             colours, stitching and hardware exactly as in the reference photo{}; soft even studio light, neutral \
             background, the detail filling the frame.",
            if region.is_some() {
                " (the second image is the area to show)"
            } else {
                ""
            }
        ),
        ImageTask::Sketch { view, description } => format!(
            "Draw a technical flat sketch of the {} view of this {description}, in the style of a factory tech pack: \
             clean uniform black outlines on a pure white background, orthographic, no shading, no colour, no text, \
             no people; show seams, stitching lines, panels, hardware and construction details.",
            view.as_str()
        ),
        ImageTask::Regenerate {
            view,
            prompt,
            description,
        } => format!(
            "Make a clean, professional e-commerce photo of the {} view of this {description} on a plain light-grey \
             studio background, true to the reference photo's shape, materials and colours.{}",
            view.as_str(),
            prompt.map(|p| format!(" Change: {p}")).unwrap_or_default()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_view_is_told_only_the_sizes_of_the_axes_it_shows_and_the_category_s_poms() {
        let references = References {
            width_mm: Some(400.0),
            height_mm: None,
            depth_mm: Some(120.0),
        };
        let ask = |view| {
            vision_prompt(&VisionTask::AnalyzeView {
                view,
                category: Some("tote bag"),
                subcategory: None,
                references,
            })
        };
        let side = ask(View::Side);
        assert!(
            side.contains("depth 120 mm") && !side.contains("width 400"),
            "{side}"
        );
        let front = ask(View::Front);
        assert!(
            front.contains("width 400 mm") && !front.contains("depth 120"),
            "{front}"
        );
        assert!(
            front.contains("use the bags set") && front.contains("- HD handle drop"),
            "{front}"
        );
    }
}
