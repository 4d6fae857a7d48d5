//! The size run a tech pack is graded in, kept with the tech pack so that a re-export after
//! an edit grades the edited points of measure again (`workflows/export.yaml`), with the
//! same `wasm/grade-sizes` plugin the pipeline uses.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// How much a measurement changes from one size to the next.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum Increment {
    /// The same at every step.
    Each(f64),
    /// One per step, from the smallest size up.
    PerStep(Vec<f64>),
}

/// A point of measure's own increment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GradeRule {
    /// The POM code it applies to.
    pub code: String,
    pub increment: Increment,
}

/// The size run and the rules a size chart is graded by, as given to the run that made the
/// tech pack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Grading {
    /// The sizes, smallest first.
    pub sizes: Vec<String>,
    /// The size the photographed sample is.
    pub base_size: String,
    /// Increments of the points of measure that have their own.
    pub rules: Vec<GradeRule>,
    /// The increment of every other point of measure, or null.
    pub default_grade: Option<Increment>,
}

/// A run's grading inputs as a workflow passes them (each null when not given).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GradingInputs {
    #[serde(default)]
    pub sizes: Option<Vec<String>>,
    #[serde(default)]
    pub base_size: Option<String>,
    #[serde(default)]
    pub grade_rules: Option<BTreeMap<String, Increment>>,
    #[serde(default)]
    pub default_grade: Option<Increment>,
}

impl GradingInputs {
    /// The grading to keep, when a size run and its base size were given.
    pub fn grading(&self) -> Option<Grading> {
        let sizes = self.sizes.clone().filter(|s| !s.is_empty())?;
        Some(Grading {
            sizes,
            base_size: self.base_size.clone()?,
            rules: self
                .grade_rules
                .iter()
                .flatten()
                .map(|(code, increment)| GradeRule {
                    code: code.clone(),
                    increment: increment.clone(),
                })
                .collect(),
            default_grade: self.default_grade.clone(),
        })
    }
}

impl Grading {
    /// The `with:` fields `wasm/grade-sizes` takes, but for the points of measure.
    pub fn plugin_fields(&self) -> Value {
        let rules: serde_json::Map<String, Value> = self
            .rules
            .iter()
            .map(|r| (r.code.clone(), json!(r.increment)))
            .collect();
        json!({
            "base_size": self.base_size,
            "sizes": self.sizes,
            "grade_rules": if rules.is_empty() { Value::Null } else { Value::Object(rules) },
            "default_grade": self.default_grade,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_workflow_inputs_come_back_as_the_plugin_takes_them() {
        let inputs: GradingInputs = serde_json::from_value(json!({
            "sizes": ["S", "M", "L"],
            "base_size": "M",
            "grade_rules": { "W": 20, "H": [10, 15] },
            "default_grade": null
        }))
        .unwrap();
        let grading = inputs.grading().unwrap();
        assert_eq!(
            grading.plugin_fields(),
            json!({
                "base_size": "M",
                "sizes": ["S", "M", "L"],
                "grade_rules": { "H": [10.0, 15.0], "W": 20.0 },
                "default_grade": null
            })
        );
        let kept: Grading =
            serde_json::from_value(serde_json::to_value(&grading).unwrap()).unwrap();
        assert_eq!(kept, grading, "it survives the tech pack's JSON");
    }

    #[test]
    fn no_size_run_is_no_grading() {
        let none: GradingInputs = serde_json::from_value(json!({
            "sizes": null, "base_size": "M", "grade_rules": null, "default_grade": 20
        }))
        .unwrap();
        assert_eq!(none.grading(), None);
    }
}
