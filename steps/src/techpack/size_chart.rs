//! The graded size chart a tech pack carries: what `wasm/grade-sizes` made from its points
//! of measure, kept in the tech pack so every export (a folder, or a download over HTTP)
//! shows the same chart, and dropped as stale when the points of measure change after it
//! was graded (the export workflow grades them again).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::PointOfMeasure;

/// A size chart graded from the base size's points of measure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SizeChart {
    /// The unit of every value unless a row names its own.
    pub unit: String,
    /// The size the photographed sample is: its values are the points of measure's.
    pub base_size: String,
    /// The sizes, smallest first.
    pub sizes: Vec<String>,
    /// A row per graded point of measure.
    pub points_of_measure: Vec<GradedPom>,
    /// The points of measure that could not be graded, and why.
    pub skipped: Vec<SkippedPom>,
    /// The points of measure as they were when the chart was graded: it is current while
    /// they are unchanged.
    pub graded_from: Vec<BaseMeasurement>,
}

/// A point of measure's base-size value and tolerance, as graded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct BaseMeasurement {
    pub code: String,
    pub value: Option<f64>,
    pub unit: String,
    pub tolerance: Option<f64>,
}

impl BaseMeasurement {
    fn of(pom: &PointOfMeasure) -> BaseMeasurement {
        BaseMeasurement {
            code: pom.code.clone(),
            value: pom.value,
            unit: pom.unit.clone(),
            tolerance: pom.tolerance,
        }
    }
}

/// One point of measure across the size run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GradedPom {
    pub code: String,
    pub name: String,
    /// The row's unit, or null for the chart's.
    pub unit: Option<String>,
    /// ± around each value.
    pub tolerance: f64,
    /// The value in each size, in the chart's size order.
    pub grades: Vec<Grade>,
}

/// A point of measure in one size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Grade {
    pub size: String,
    pub value: f64,
    /// The value minus the tolerance.
    pub min: f64,
    /// The value plus the tolerance.
    pub max: f64,
}

/// A point of measure left out of the chart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SkippedPom {
    pub code: String,
    pub name: String,
    pub reason: String,
}

/// The chart as `wasm/grade-sizes` writes it: per row, a value (and a min and max) keyed by
/// size.
#[derive(Debug, Clone, Deserialize)]
pub struct PluginChart {
    unit: String,
    base_size: String,
    sizes: Vec<String>,
    points_of_measure: Vec<PluginRow>,
    #[serde(default)]
    skipped: Vec<SkippedPom>,
}

#[derive(Debug, Clone, Deserialize)]
struct PluginRow {
    code: String,
    name: String,
    #[serde(default)]
    unit: Option<String>,
    tolerance: f64,
    values: BTreeMap<String, f64>,
    #[serde(default)]
    min: BTreeMap<String, f64>,
    #[serde(default)]
    max: BTreeMap<String, f64>,
}

impl SizeChart {
    /// The plugin's chart, graded from `poms`.
    pub fn graded(chart: PluginChart, poms: &[PointOfMeasure]) -> SizeChart {
        let points_of_measure = chart
            .points_of_measure
            .into_iter()
            .map(|row| GradedPom {
                grades: chart
                    .sizes
                    .iter()
                    .filter_map(|size| {
                        let value = *row.values.get(size)?;
                        Some(Grade {
                            size: size.clone(),
                            value,
                            min: row.min.get(size).copied().unwrap_or(value - row.tolerance),
                            max: row.max.get(size).copied().unwrap_or(value + row.tolerance),
                        })
                    })
                    .collect(),
                code: row.code,
                name: row.name,
                unit: row.unit,
                tolerance: row.tolerance,
            })
            .collect();
        SizeChart {
            unit: chart.unit,
            base_size: chart.base_size,
            sizes: chart.sizes,
            points_of_measure,
            skipped: chart.skipped,
            graded_from: poms.iter().map(BaseMeasurement::of).collect(),
        }
    }

    /// Whether the chart was graded from these points of measure (their codes, base values,
    /// units and tolerances, in order).
    pub fn graded_from(&self, poms: &[PointOfMeasure]) -> bool {
        self.graded_from.len() == poms.len()
            && self
                .graded_from
                .iter()
                .zip(poms)
                .all(|(then, now)| *then == BaseMeasurement::of(now))
    }
}

impl GradedPom {
    /// The value in `size`, if the row has one.
    pub fn value(&self, size: &str) -> Option<f64> {
        self.grades.iter().find(|g| g.size == size).map(|g| g.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::techpack::{Criticality, Source};
    use serde_json::json;

    fn pom(code: &str, value: Option<f64>, tolerance: Option<f64>) -> PointOfMeasure {
        PointOfMeasure {
            code: code.into(),
            name: code.into(),
            how_to_measure: String::new(),
            value,
            unit: "mm".into(),
            tolerance,
            criticality: Criticality::Major,
            source: Source::Given,
            confidence: 1.0,
            measured_at: None,
        }
    }

    fn poms() -> Vec<PointOfMeasure> {
        vec![pom("B1", Some(400.0), Some(5.0)), pom("B5", None, None)]
    }

    /// The plugin's output, as `wasm/grade-sizes` writes it, graded from [`poms`].
    fn chart() -> SizeChart {
        let plugin: PluginChart = serde_json::from_value(json!({
            "unit": "mm", "base_size": "M", "sizes": ["S", "M", "L"],
            "points_of_measure": [{
                "code": "B1", "name": "Width", "tolerance": 5,
                "values": {"S": 390, "M": 400, "L": 410},
                "min": {"S": 385, "M": 395, "L": 405},
                "max": {"S": 395, "M": 405, "L": 415}
            }],
            "skipped": [{"code": "B5", "name": "Handle drop", "reason": "no base measurement"}]
        }))
        .expect("the plugin's shape");
        SizeChart::graded(plugin, &poms())
    }

    #[test]
    fn the_plugins_maps_become_rows_in_size_order() {
        let chart = chart();
        let width = &chart.points_of_measure[0];
        let sizes: Vec<(&str, f64, f64, f64)> = width
            .grades
            .iter()
            .map(|g| (g.size.as_str(), g.value, g.min, g.max))
            .collect();
        assert_eq!(
            sizes,
            [
                ("S", 390.0, 385.0, 395.0),
                ("M", 400.0, 395.0, 405.0),
                ("L", 410.0, 405.0, 415.0)
            ]
        );
        assert_eq!(chart.skipped[0].reason, "no base measurement");
    }

    #[test]
    fn a_chart_is_current_while_its_poms_are_unchanged() {
        assert!(chart().graded_from(&poms()));
    }

    #[test]
    fn an_edited_value_tolerance_or_new_pom_makes_it_stale() {
        let chart = chart();
        let changed = |change: &dyn Fn(&mut Vec<PointOfMeasure>)| {
            let mut poms = poms();
            change(&mut poms);
            chart.graded_from(&poms)
        };
        assert!(!changed(&|p| p[0].value = Some(400.4)), "a value");
        assert!(!changed(&|p| p[0].tolerance = Some(8.0)), "a tolerance");
        assert!(
            !changed(&|p| p[1].value = Some(120.0)),
            "a value measured later"
        );
        assert!(!changed(&|p| p[0].unit = "cm".into()), "a unit");
        assert!(
            !changed(&|p| p.push(pom("B2", Some(300.0), None))),
            "a row added"
        );
        assert!(!changed(&|p| drop(p.remove(1))), "a row removed");
        assert!(
            changed(&|p| p[0].name = "Width at base".into()),
            "a name is not a measurement"
        );
    }
}
