//! The points-of-measure library: one set per category family, read from the YAML files in
//! `steps/pom/` (embedded in the binary), and the choice of set for a category.

use std::sync::OnceLock;

use serde::Deserialize;

use super::{Criticality, PointOfMeasure, PomSetChoice, Source};

/// The files of `steps/pom/`, generic last: it is the fallback, matched by no alias.
const FILES: &[(&str, &str)] = &[
    (
        "apparel-tops.yaml",
        include_str!("../../pom/apparel-tops.yaml"),
    ),
    (
        "apparel-bottoms.yaml",
        include_str!("../../pom/apparel-bottoms.yaml"),
    ),
    ("bags.yaml", include_str!("../../pom/bags.yaml")),
    ("footwear.yaml", include_str!("../../pom/footwear.yaml")),
    ("furniture.yaml", include_str!("../../pom/furniture.yaml")),
    ("hard-goods.yaml", include_str!("../../pom/hard-goods.yaml")),
    ("generic.yaml", include_str!("../../pom/generic.yaml")),
];

/// A product axis: width left to right seen from the front, height bottom to top, depth
/// front to back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Axis {
    Width,
    Height,
    Depth,
}

impl Axis {
    pub fn as_str(self) -> &'static str {
        match self {
            Axis::Width => "width",
            Axis::Height => "height",
            Axis::Depth => "depth",
        }
    }
}

/// How the offline provider measures a POM from a product's outline (`steps/pom/README.md`).
/// Written `{ extent: width }` or `{ span: { axis: width, at: 0.97 } }`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(try_from = "RuleFields")]
pub enum SilhouetteRule {
    /// The outline's full extent along an axis.
    Extent(Axis),
    /// The outline's horizontal extent in the row at `at` of its height from the top, in a
    /// view whose horizontal axis is `axis`.
    Span { axis: Axis, at: f64 },
}

/// A rule as the YAML writes it: exactly one of its fields.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFields {
    extent: Option<Axis>,
    span: Option<SpanFields>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SpanFields {
    axis: Axis,
    at: f64,
}

impl TryFrom<RuleFields> for SilhouetteRule {
    type Error = String;

    fn try_from(fields: RuleFields) -> Result<Self, String> {
        match (fields.extent, fields.span) {
            (Some(axis), None) => Ok(SilhouetteRule::Extent(axis)),
            (None, Some(SpanFields { axis, at })) if (0.0..=1.0).contains(&at) => {
                Ok(SilhouetteRule::Span { axis, at })
            }
            (None, Some(span)) => Err(format!("`span.at` must be 0..1, got {}", span.at)),
            _ => Err("a silhouette rule is one of `extent` or `span`".into()),
        }
    }
}

/// One point of measure as the library defines it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PomSpec {
    pub code: String,
    pub name: String,
    pub how_to_measure: String,
    /// Default ± tolerance, in mm.
    pub tolerance_mm: f64,
    pub criticality: Criticality,
    /// `None`: the outline cannot tell; measure on the sample.
    #[serde(default)]
    pub silhouette: Option<SilhouetteRule>,
}

impl PomSpec {
    /// The POM as a tech pack lists it before anything is measured: no value, to be
    /// measured on the sample.
    pub fn unmeasured(&self) -> PointOfMeasure {
        PointOfMeasure {
            code: self.code.clone(),
            name: self.name.clone(),
            how_to_measure: self.how_to_measure.clone(),
            value: None,
            unit: "mm".into(),
            tolerance: Some(self.tolerance_mm),
            criticality: self.criticality,
            source: Source::Unknown,
            confidence: 0.0,
            measured_at: None,
        }
    }
}

/// The POM set of one category family.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PomSet {
    pub name: String,
    /// Category words that select this set (whole words, any case).
    pub aliases: Vec<String>,
    pub points_of_measure: Vec<PomSpec>,
}

impl PomSet {
    pub fn spec(&self, code: &str) -> Option<&PomSpec> {
        self.points_of_measure.iter().find(|p| p.code == code)
    }
}

/// Every set, parsed once. A file that does not parse is a build defect, caught by the
/// tests below; the message names the file.
pub fn library() -> &'static [PomSet] {
    static LIBRARY: OnceLock<Vec<PomSet>> = OnceLock::new();
    LIBRARY.get_or_init(|| {
        FILES
            .iter()
            .map(|(file, text)| {
                serde_yaml::from_str(text)
                    .unwrap_or_else(|e| panic!("steps/pom/{file} is not a POM set: {e}"))
            })
            .collect()
    })
}

fn generic() -> &'static PomSet {
    library().last().expect("the library holds generic.yaml")
}

fn words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// Where the last whole-word occurrence of `phrase` in `text` ends (one past its last word).
fn phrase_end(text: &[String], phrase: &[String]) -> Option<usize> {
    if phrase.is_empty() || phrase.len() > text.len() {
        return None;
    }
    text.windows(phrase.len())
        .rposition(|window| window == phrase)
        .map(|start| start + phrase.len())
}

/// The set named in `text`. In "dress shoes" or "shoe bag" the last word names the thing, so
/// the match that ends last wins; the files' order breaks ties.
fn named_in(text: &str) -> Option<&'static PomSet> {
    let text_words = words(text);
    let mut best: Option<(usize, &PomSet)> = None;
    for set in library() {
        let end = std::iter::once(&set.name)
            .chain(&set.aliases)
            .filter_map(|alias| phrase_end(&text_words, &words(alias)))
            .max();
        if let Some(end) = end
            && best.is_none_or(|(best_end, _)| end > best_end)
        {
            best = Some((end, set));
        }
    }
    best.map(|(_, set)| set)
}

/// The set for a product of `category` (and `subcategory`), and why it was chosen.
pub fn choose(
    category: Option<&str>,
    subcategory: Option<&str>,
) -> (&'static PomSet, PomSetChoice) {
    let given: Vec<&str> = [category, subcategory]
        .into_iter()
        .flatten()
        .filter(|c| !c.trim().is_empty())
        .collect();
    for text in &given {
        if let Some(set) = named_in(text) {
            return (
                set,
                PomSetChoice {
                    name: set.name.clone(),
                    reason: format!("category `{text}` selects the {} set", set.name),
                },
            );
        }
    }
    let reason = match given.first() {
        Some(category) => format!(
            "category `{category}` matches no points-of-measure set: the generic set is used"
        ),
        None => "no category is known: the generic set is used".to_string(),
    };
    let set = generic();
    (
        set,
        PomSetChoice {
            name: set.name.clone(),
            reason,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_parses_and_every_set_has_unique_codes_and_sane_tolerances() {
        let names: Vec<&str> = library().iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "apparel tops",
                "apparel bottoms",
                "bags",
                "footwear",
                "furniture",
                "hard goods",
                "generic"
            ]
        );
        for set in library() {
            let mut codes: Vec<&str> = set
                .points_of_measure
                .iter()
                .map(|p| p.code.as_str())
                .collect();
            codes.sort();
            codes.dedup();
            assert_eq!(
                codes.len(),
                set.points_of_measure.len(),
                "{}: duplicate codes",
                set.name
            );
            for pom in &set.points_of_measure {
                assert!(
                    pom.tolerance_mm > 0.0 && !pom.how_to_measure.is_empty(),
                    "{}",
                    pom.code
                );
                if let Some(SilhouetteRule::Span { at, .. }) = pom.silhouette {
                    assert!((0.0..=1.0).contains(&at), "{}: `at` {at}", pom.code);
                }
            }
        }
    }

    #[test]
    fn the_category_selects_the_set_by_whole_words() {
        let pick = |c: &str| choose(Some(c), None).0.name.as_str();
        assert_eq!(pick("bags"), "bags");
        assert_eq!(pick("Tote Bag"), "bags");
        assert_eq!(pick("crew-neck T-shirt"), "apparel tops");
        assert_eq!(pick("jeans"), "apparel bottoms");
        assert_eq!(pick("running sneakers"), "footwear");
        assert_eq!(pick("dining chair"), "furniture");
        assert_eq!(pick("coffee mug"), "hard goods");
        assert_eq!(pick("dress shoes"), "footwear");
        assert_eq!(pick("shoe bag"), "bags");
        // "bag" inside another word is not a bag.
        assert_eq!(pick("cabbage"), "generic");
        let (set, choice) = choose(Some("accessories"), Some("backpack"));
        assert_eq!(
            set.name, "bags",
            "the subcategory decides when the category does not"
        );
        assert!(choice.reason.contains("backpack"), "{}", choice.reason);
    }

    #[test]
    fn an_unknown_category_gets_the_generic_set_and_says_so() {
        let (set, choice) = choose(Some("spaceship"), None);
        assert_eq!(set.name, "generic");
        assert_eq!(
            choice.reason,
            "category `spaceship` matches no points-of-measure set: the generic set is used"
        );
        let (set, choice) = choose(None, None);
        assert_eq!(set.name, "generic");
        assert!(choice.reason.contains("no category is known"));
    }
}
