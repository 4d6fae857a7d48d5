//! Merging per-view analyses into one tech pack.

use std::collections::BTreeMap;

use super::{
    BomLine, Colorway, ConstructionDetail, LabelItem, Meta, NamedValue, TechPack, ViewAnalysis,
    pom_library, scale,
};

/// Combines the analyses of several photos: each view is scaled by the reference sizes in
/// `meta` ([`super::scale`]), the points of measure follow the category's set
/// ([`super::pom_library`]), other lists are joined, and where two views describe the same
/// thing (same BOM placement, construction operation, attribute name) the more confident
/// description is kept.
pub fn merge_views(mut meta: Meta, mut views: Vec<ViewAnalysis>) -> TechPack {
    views.sort_by_key(|v| v.view);
    let (set, choice) = pom_library::choose(
        meta.category.value.as_deref(),
        meta.subcategory.value.as_deref(),
    );
    meta.pom_set = choice;
    scale::apply(&mut views, &meta.references, set);
    let mut bom: BTreeMap<String, BomLine> = BTreeMap::new();
    let mut construction: BTreeMap<(String, String), ConstructionDetail> = BTreeMap::new();
    let mut labels: BTreeMap<(String, String), LabelItem> = BTreeMap::new();
    let mut specific: BTreeMap<String, NamedValue> = BTreeMap::new();
    let mut colors = Vec::new();
    for view in &views {
        for line in &view.bill_of_materials {
            keep_best(&mut bom, line.placement.to_lowercase(), line.clone(), |l| {
                l.material.confidence
            });
        }
        for detail in &view.construction {
            keep_best(
                &mut construction,
                (
                    detail.operation.to_lowercase(),
                    detail.location.to_lowercase(),
                ),
                detail.clone(),
                |d| d.confidence,
            );
        }
        for label in &view.labels_and_packaging {
            keep_best(
                &mut labels,
                (label.kind.to_lowercase(), label.placement.to_lowercase()),
                label.clone(),
                |l| l.confidence,
            );
        }
        for value in &view.category_specific {
            keep_best(
                &mut specific,
                value.name.to_lowercase(),
                value.clone(),
                |v| v.confidence,
            );
        }
        for color in &view.colors {
            // One entry per colour name: the same navy seen in two photos is one colour.
            if !colors.iter().any(|c: &super::Color| c.name == color.name) {
                colors.push(color.clone());
            }
        }
    }
    let mut bill_of_materials: Vec<BomLine> = bom.into_values().collect();
    for (i, line) in bill_of_materials.iter_mut().enumerate() {
        line.id = format!("BOM-{}", i + 1);
    }
    let points_of_measure = scale::assemble(set, &views);
    TechPack {
        meta,
        views,
        bill_of_materials,
        points_of_measure,
        construction: construction.into_values().collect(),
        colorways: if colors.is_empty() {
            Vec::new()
        } else {
            vec![Colorway {
                name: "as photographed".into(),
                colors,
            }]
        },
        labels_and_packaging: labels.into_values().collect(),
        callouts: Vec::new(),
        category_specific: specific.into_values().collect(),
        not_produced: Vec::new(),
        revisions: Vec::new(),
        size_chart: None,
    }
}

/// Merges `current` again over `views` after one of them changed (a regenerated photo):
/// what the views made is made again from the new views, while what a designer added or
/// changed since (spec-sheet rows, edits) stays where it was, and a row a designer removed
/// stays removed. A row is the views' when it is exactly a row that merging the old views
/// gives (BOM line ids aside); any other row is the designer's.
pub fn remerge_views(current: TechPack, views: Vec<ViewAnalysis>) -> TechPack {
    let before = merge_views(current.meta.clone(), current.views.clone());
    let mut after = merge_views(current.meta.clone(), views);
    let lower = |text: &str| text.to_lowercase();
    after.bill_of_materials = keep_designer_rows(
        &current.bill_of_materials,
        &before.bill_of_materials,
        after.bill_of_materials,
        |l| lower(&l.placement),
        |a, b| {
            BomLine {
                id: b.id.clone(),
                ..a.clone()
            } == *b
        },
    );
    for (i, line) in after.bill_of_materials.iter_mut().enumerate() {
        line.id = format!("BOM-{}", i + 1);
    }
    after.points_of_measure = keep_designer_rows(
        &current.points_of_measure,
        &before.points_of_measure,
        after.points_of_measure,
        |p| p.code.clone(),
        PartialEq::eq,
    );
    after.construction = keep_designer_rows(
        &current.construction,
        &before.construction,
        after.construction,
        |d| (lower(&d.operation), lower(&d.location)),
        PartialEq::eq,
    );
    after.labels_and_packaging = keep_designer_rows(
        &current.labels_and_packaging,
        &before.labels_and_packaging,
        after.labels_and_packaging,
        |l| (lower(&l.kind), lower(&l.placement)),
        PartialEq::eq,
    );
    after.colorways = keep_designer_rows(
        &current.colorways,
        &before.colorways,
        after.colorways,
        |c| c.name.clone(),
        PartialEq::eq,
    );
    after.category_specific = keep_designer_rows(
        &current.category_specific,
        &before.category_specific,
        after.category_specific,
        |v| lower(&v.name),
        PartialEq::eq,
    );
    after.callouts = current.callouts;
    after.not_produced = current.not_produced;
    after.revisions = current.revisions;
    // Kept while it matches the POMs; the export drops it as stale when they changed.
    after.size_chart = current.size_chart;
    after
}

/// One list after a re-merge, in `current`'s order: each of the views' rows (one in
/// `before`) gives way to the new views' row of the same key, the designer's rows stay, and
/// the new views' other rows follow, unless a designer removed or replaced that key.
fn keep_designer_rows<T: Clone, K: PartialEq>(
    current: &[T],
    before: &[T],
    mut after: Vec<T>,
    key: impl Fn(&T) -> K,
    same: impl Fn(&T, &T) -> bool,
) -> Vec<T> {
    let made_by_views = |row: &T| before.iter().any(|b| same(b, row));
    let gone: Vec<K> = before
        .iter()
        .filter(|b| !current.iter().any(|c| same(b, c)))
        .map(&key)
        .collect();
    let mut rows = Vec::new();
    for row in current {
        if !made_by_views(row) {
            rows.push(row.clone());
        } else if let Some(i) = after.iter().position(|a| key(a) == key(row)) {
            rows.push(after.remove(i));
        }
    }
    for row in after {
        let k = key(&row);
        if !gone.contains(&k) && !rows.iter().any(|r| key(r) == k) {
            rows.push(row);
        }
    }
    rows
}

fn keep_best<K: Ord, T>(map: &mut BTreeMap<K, T>, key: K, item: T, confidence: impl Fn(&T) -> f64) {
    match map.get(&key) {
        Some(existing) if confidence(existing) >= confidence(&item) => {}
        _ => {
            map.insert(key, item);
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::techpack::spec;

    /// A view that sees one BOM line (`placement`: `material`) and one construction row.
    fn view(view: &str, placement: &str, material: &str) -> ViewAnalysis {
        let estimate =
            |v: &str| json!({ "value": v, "source": "estimated_from_photo", "confidence": 0.6 });
        let unknown =
            json!({ "value": null, "unit": null, "source": "unknown", "confidence": 0.0 });
        serde_json::from_value(json!({
            "view": view, "summary": "", "materials": [], "colors": [], "dimensions": [],
            "construction": [{ "operation": format!("seam on {view}"), "location": placement,
                "seam_type": null, "stitch_class_iso4915": null, "stitches_per_inch": null,
                "joinery_or_fastening": null, "source": "estimated_from_photo", "confidence": 0.5 }],
            "design_elements": [],
            "bill_of_materials": [{ "id": "", "placement": placement, "material": estimate(material),
                "composition": estimate("cotton"), "weight_or_thickness": unknown,
                "finish": estimate("none"), "consumption": unknown,
                "color": { "name": "navy", "hex": null, "pantone": null, "ral": null,
                    "source": "estimated_from_photo", "confidence": 0.5 } }],
            "labels_and_packaging": [], "category_specific": [], "confidence": 0.6
        }))
        .unwrap()
    }

    fn meta() -> Meta {
        serde_json::from_value(json!({
            "style_id": null, "product_name": "tote",
            "category": { "value": "tote bag", "source": "given", "confidence": 1.0 },
            "subcategory": { "value": null, "source": "unknown", "confidence": 0.0 },
            "units": "metric", "source_photos": []
        }))
        .unwrap()
    }

    fn materials(pack: &TechPack) -> Vec<(String, String)> {
        pack.bill_of_materials
            .iter()
            .map(|l| {
                (
                    l.placement.clone(),
                    l.material.value.clone().unwrap_or_default(),
                )
            })
            .collect()
    }

    #[test]
    fn a_remerge_makes_the_views_rows_again_and_keeps_the_designers() {
        let mut pack = merge_views(
            meta(),
            vec![
                view("front", "body", "canvas"),
                view("side", "gusset", "canvas"),
            ],
        );
        let sheet = spec::parse(&json!({
            "bill_of_materials": [{ "placement": "handle", "material": "leather" }],
            "construction": [{ "operation": "bartack", "location": "handle ends" }],
            "labels_and_packaging": [{ "kind": "care label", "placement": "side seam", "content": "30 °C" }],
            "points_of_measure": [{ "code": "HD", "value": 230 }]
        }))
        .unwrap();
        spec::apply(&mut pack, &sheet);
        // An edit on one of the views' rows makes it the designer's.
        let gusset = pack
            .bill_of_materials
            .iter_mut()
            .find(|l| l.placement == "gusset")
            .unwrap();
        gusset.finish.value = Some("waxed".into());
        let before = pack.clone();

        // The front view is regenerated: it now sees nylon.
        let views = vec![before.views[1].clone(), view("front", "body", "nylon")];
        let after = remerge_views(before.clone(), views);

        assert_eq!(
            materials(&after),
            [
                ("body".to_string(), "nylon".to_string()),
                ("gusset".to_string(), "canvas".to_string()),
                ("handle".to_string(), "leather".to_string()),
            ],
            "the regenerated view's row is new, the edited row and the sheet's row stay, in order"
        );
        let ids: Vec<&str> = after
            .bill_of_materials
            .iter()
            .map(|l| l.id.as_str())
            .collect();
        assert_eq!(ids, ["BOM-1", "BOM-2", "BOM-3"]);
        assert_eq!(
            after.bill_of_materials[1].finish.value.as_deref(),
            Some("waxed")
        );
        for kept in [&before.construction[2], &before.construction[0]] {
            assert!(after.construction.contains(kept), "{kept:?} lost");
        }
        assert!(after.construction.iter().any(|c| c.operation == "bartack"));
        assert_eq!(after.labels_and_packaging, before.labels_and_packaging);
        let handle_drop = after
            .points_of_measure
            .iter()
            .find(|p| p.code == "HD")
            .unwrap();
        assert_eq!(
            (handle_drop.value, handle_drop.source),
            (Some(230.0), crate::techpack::Source::Given)
        );
        // The plain merge the regenerate step used to do loses all of it.
        let plain = merge_views(after.meta.clone(), after.views.clone());
        assert!(!materials(&plain).iter().any(|(p, _)| p == "handle"));
    }

    #[test]
    fn a_row_a_designer_removed_stays_removed() {
        let mut pack = merge_views(
            meta(),
            vec![
                view("front", "body", "canvas"),
                view("side", "gusset", "canvas"),
            ],
        );
        pack.bill_of_materials.retain(|l| l.placement != "gusset");
        let views = vec![view("front", "body", "nylon"), pack.views[1].clone()];
        let after = remerge_views(pack, views);
        assert_eq!(
            materials(&after),
            [("body".to_string(), "nylon".to_string())]
        );
    }
}
