//! Merging per-view analyses into one tech pack.

use std::collections::BTreeMap;

use super::{
    BomLine, Colorway, ConstructionDetail, LabelItem, Meta, NamedValue, PointOfMeasure, TechPack,
    ViewAnalysis,
};

/// Combines the analyses of several photos: lists are joined, and where two views describe
/// the same thing (same BOM placement, POM name, construction operation, attribute name) the
/// more confident description is kept.
pub fn merge_views(meta: Meta, mut views: Vec<ViewAnalysis>) -> TechPack {
    views.sort_by_key(|v| v.view);
    let mut bom: BTreeMap<String, BomLine> = BTreeMap::new();
    let mut poms: BTreeMap<String, PointOfMeasure> = BTreeMap::new();
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
        for pom in &view.dimensions {
            keep_best(&mut poms, pom.name.to_lowercase(), pom.clone(), |p| {
                p.confidence
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
            if !colors
                .iter()
                .any(|c: &super::Color| c.hex == color.hex && c.name == color.name)
            {
                colors.push(color.clone());
            }
        }
    }
    let mut bill_of_materials: Vec<BomLine> = bom.into_values().collect();
    for (i, line) in bill_of_materials.iter_mut().enumerate() {
        line.id = format!("BOM-{}", i + 1);
    }
    let mut points_of_measure: Vec<PointOfMeasure> = poms.into_values().collect();
    for (i, pom) in points_of_measure.iter_mut().enumerate() {
        if pom.code.trim().is_empty() {
            pom.code = pom_code(i);
        }
    }
    points_of_measure.sort_by(|a, b| (a.code.len(), &a.code).cmp(&(b.code.len(), &b.code)));
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

/// POM codes A, B, … Z, AA, AB …
pub fn pom_code(index: usize) -> String {
    let letters = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    if index < 26 {
        (letters[index] as char).to_string()
    } else {
        format!(
            "{}{}",
            letters[(index / 26 - 1) % 26] as char,
            letters[index % 26] as char
        )
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
