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
    }
}

fn keep_best<K: Ord, T>(map: &mut BTreeMap<K, T>, key: K, item: T, confidence: impl Fn(&T) -> f64) {
    match map.get(&key) {
        Some(existing) if confidence(existing) >= confidence(&item) => {}
        _ => {
            map.insert(key, item);
        }
    }
}
