//! JSON Schemas of the tech pack, valid for OpenAI strict structured outputs: every object
//! lists all its properties as required, allows no others, and says "may be unknown" with
//! `null` rather than by leaving a property out. Published under `steps/schema/`.

use serde_json::{Map, Value, json};

/// Bumped whenever a schema or a prompt changes, so cached analyses made with the old shape
/// are not reused.
pub const SCHEMA_VERSION: &str = "techpack-3";

fn object(properties: &[(&str, Value)]) -> Value {
    let mut props = Map::new();
    for (name, schema) in properties {
        props.insert(name.to_string(), schema.clone());
    }
    let required: Vec<&str> = properties.iter().map(|(name, _)| *name).collect();
    json!({ "type": "object", "properties": props, "required": required, "additionalProperties": false })
}

fn string(description: &str) -> Value {
    json!({ "type": "string", "description": description })
}

fn nullable(kind: &str, description: &str) -> Value {
    json!({ "type": [kind, "null"], "description": description })
}

fn number(description: &str) -> Value {
    json!({ "type": "number", "description": description })
}

fn array(items: Value) -> Value {
    json!({ "type": "array", "items": items })
}

fn reference(name: &str) -> Value {
    json!({ "$ref": format!("#/$defs/{name}") })
}

fn confidence() -> Value {
    number("how sure, from 0 (a guess) to 1 (certain)")
}

fn definitions() -> Map<String, Value> {
    let mut defs = Map::new();
    let mut add = |name: &str, schema: Value| {
        defs.insert(name.to_string(), schema);
    };
    add(
        "source",
        json!({
            "type": "string",
            "enum": ["estimated_from_photo", "given", "measured", "unknown"],
            "description": "where the value comes from: estimated from a photo, given by a person, measured, or unknown"
        }),
    );
    add(
        "estimate",
        object(&[
            (
                "value",
                nullable("string", "the value, or null when it cannot be known"),
            ),
            ("source", reference("source")),
            ("confidence", confidence()),
        ]),
    );
    add(
        "quantity",
        object(&[
            (
                "value",
                nullable("number", "the number, or null when it cannot be known"),
            ),
            (
                "unit",
                nullable("string", "unit such as mm, cm, g, gsm, ml, px"),
            ),
            ("source", reference("source")),
            ("confidence", confidence()),
        ]),
    );
    add(
        "color",
        object(&[
            ("name", string("common color name")),
            ("hex", nullable("string", "#RRGGBB")),
            ("pantone", nullable("string", "Pantone reference if known")),
            ("ral", nullable("string", "RAL reference if known")),
            ("source", reference("source")),
            ("confidence", confidence()),
        ]),
    );
    add(
        "view",
        json!({ "type": "string", "enum": ["front", "back", "side", "top", "detail"] }),
    );
    add(
        "point_of_measure",
        object(&[
            ("code", string("POM code, e.g. A, B, H1")),
            ("name", string("what is measured, e.g. body height")),
            ("how_to_measure", string("where the tape starts and ends")),
            (
                "value",
                nullable("number", "the measurement, or null if unknown"),
            ),
            ("unit", string("mm, cm, in or px")),
            (
                "tolerance",
                nullable("number", "plus/minus tolerance in the same unit"),
            ),
            (
                "criticality",
                json!({ "type": "string", "enum": ["critical", "major", "minor"] }),
            ),
            ("source", reference("source")),
            ("confidence", confidence()),
        ]),
    );
    add(
        "construction_detail",
        object(&[
            ("operation", string("e.g. attach handle, topstitch hem")),
            ("location", string("where on the product")),
            (
                "seam_type",
                nullable("string", "seam type, e.g. plain seam, French seam"),
            ),
            (
                "stitch_class_iso4915",
                nullable("string", "ISO 4915 stitch class, e.g. 301, 401, 504"),
            ),
            ("stitches_per_inch", nullable("number", "stitch density")),
            (
                "joinery_or_fastening",
                nullable(
                    "string",
                    "hard goods: joinery or fastening (screws, rivets, adhesive, welding)",
                ),
            ),
            ("source", reference("source")),
            ("confidence", confidence()),
        ]),
    );
    add(
        "bom_line",
        object(&[
            ("id", string("stable line id, e.g. BOM-1")),
            ("placement", string("where the material is used")),
            ("material", reference("estimate")),
            ("composition", reference("estimate")),
            ("weight_or_thickness", reference("quantity")),
            ("finish", reference("estimate")),
            ("color", reference("color")),
            ("consumption", reference("quantity")),
        ]),
    );
    add(
        "label_item",
        object(&[
            (
                "kind",
                string("care label, brand label, hang tag, polybag, box …"),
            ),
            ("placement", string("where it goes")),
            ("content", string("what it says or holds")),
            ("source", reference("source")),
            ("confidence", confidence()),
        ]),
    );
    add(
        "named_value",
        object(&[
            (
                "name",
                string("a category-specific attribute, e.g. capacity, heel height"),
            ),
            ("value", string("its value")),
            ("unit", nullable("string", "its unit, if any")),
            ("source", reference("source")),
            ("confidence", confidence()),
        ]),
    );
    add(
        "view_analysis",
        object(&[
            ("view", reference("view")),
            (
                "summary",
                string("one or two sentences on what the photo shows"),
            ),
            ("materials", array(reference("estimate"))),
            ("colors", array(reference("color"))),
            ("dimensions", array(reference("point_of_measure"))),
            ("construction", array(reference("construction_detail"))),
            ("design_elements", array(string("a visible design element"))),
            ("bill_of_materials", array(reference("bom_line"))),
            ("labels_and_packaging", array(reference("label_item"))),
            ("category_specific", array(reference("named_value"))),
            ("scale", reference("view_scale")),
            ("confidence", confidence()),
        ]),
    );
    add(
        "view_scale",
        object(&[
            (
                "horizontal_px",
                nullable(
                    "number",
                    "the product's extent left to right in the photo, in pixels, or null",
                ),
            ),
            (
                "vertical_px",
                nullable(
                    "number",
                    "the product's extent top to bottom in the photo, in pixels, or null",
                ),
            ),
            (
                "mm_per_px",
                nullable(
                    "number",
                    "millimetres per photo pixel, or null when no reference size is known",
                ),
            ),
            (
                "basis",
                nullable("string", "where the scale comes from, or null"),
            ),
        ]),
    );
    defs
}

fn with_definitions(mut schema: Value, title: &str, used: &[&str]) -> Value {
    let all = definitions();
    let mut defs = Map::new();
    for name in used {
        defs.insert(name.to_string(), all[*name].clone());
    }
    let object = schema.as_object_mut().expect("schemas are objects");
    object.insert(
        "$schema".into(),
        json!("https://json-schema.org/draft/2020-12/schema"),
    );
    object.insert("title".into(), json!(title));
    object.insert("$defs".into(), Value::Object(defs));
    schema
}

const VIEW_DEFS: &[&str] = &[
    "source",
    "estimate",
    "quantity",
    "color",
    "view",
    "point_of_measure",
    "construction_detail",
    "bom_line",
    "label_item",
    "named_value",
    "view_scale",
];

/// The answer to "analyze this photo of one view".
pub fn view_analysis_schema() -> Value {
    let mut schema = definitions()["view_analysis"].clone();
    schema = with_definitions(schema, "techpack view analysis", VIEW_DEFS);
    schema
}

/// The view-analysis answer for a product whose POM set is `set`: POM codes are the set's
/// (a model may still answer a POM outside the set under a code of its own making, which
/// strict mode cannot express, so the codes are listed and the prompt asks for them).
pub fn view_analysis_schema_for(set: &super::pom_library::PomSet) -> Value {
    let mut schema = view_analysis_schema();
    let codes: Vec<&str> = set
        .points_of_measure
        .iter()
        .map(|p| p.code.as_str())
        .collect();
    schema["$defs"]["point_of_measure"]["properties"]["code"]["description"] = json!(format!(
        "POM code from the {} set: one of {}",
        set.name,
        codes.join(", ")
    ));
    schema
}

/// The whole tech pack (`techpack.json`).
pub fn tech_pack_schema() -> Value {
    let schema = object(&[
        (
            "meta",
            object(&[
                (
                    "style_id",
                    nullable("string", "the brand's style number, if given"),
                ),
                ("product_name", string("product name")),
                (
                    "season",
                    nullable("string", "the season, e.g. SS26, if given"),
                ),
                ("brand", nullable("string", "the brand, if given")),
                ("category", reference("estimate")),
                ("subcategory", reference("estimate")),
                (
                    "units",
                    json!({ "type": "string", "enum": ["metric", "imperial"] }),
                ),
                (
                    "source_photos",
                    array(object(&[
                        ("view", reference("view")),
                        ("revision_id", string("image revision id")),
                        ("sha256", string("sha256 of the image bytes")),
                        ("width", json!({ "type": "integer" })),
                        ("height", json!({ "type": "integer" })),
                    ])),
                ),
                (
                    "references",
                    object(&[
                        (
                            "width_mm",
                            nullable("number", "the product's real width, if given"),
                        ),
                        (
                            "height_mm",
                            nullable("number", "the product's real height, if given"),
                        ),
                        (
                            "depth_mm",
                            nullable("number", "the product's real depth, if given"),
                        ),
                    ]),
                ),
                (
                    "pom_set",
                    object(&[
                        (
                            "name",
                            string("the points-of-measure set used, e.g. bags, generic"),
                        ),
                        ("reason", string("why that set")),
                    ]),
                ),
            ]),
        ),
        ("views", array(reference("view_analysis"))),
        ("bill_of_materials", array(reference("bom_line"))),
        ("points_of_measure", array(reference("point_of_measure"))),
        ("construction", array(reference("construction_detail"))),
        (
            "colorways",
            array(object(&[
                ("name", string("colorway name")),
                ("colors", array(reference("color"))),
            ])),
        ),
        ("labels_and_packaging", array(reference("label_item"))),
        (
            "callouts",
            array(object(&[
                ("view", reference("view")),
                ("x", number("0..1 from the left of the drawing")),
                ("y", number("0..1 from the top of the drawing")),
                ("text", string("the callout text")),
                (
                    "bom_ref",
                    nullable("string", "linked bill-of-materials line id"),
                ),
                (
                    "pom_ref",
                    nullable("string", "linked point-of-measure code"),
                ),
            ])),
        ),
        ("category_specific", array(reference("named_value"))),
        (
            "not_produced",
            array(object(&[
                (
                    "part",
                    json!({
                        "type": "string",
                        "enum": ["close_ups", "sketches", "size_chart"],
                        "description": "the part of the tech pack the run could not make"
                    }),
                ),
                ("reason", string("why it was not produced")),
            ])),
        ),
    ]);
    let mut used = VIEW_DEFS.to_vec();
    used.push("view_analysis");
    with_definitions(schema, "techpack tech pack", &used)
}

/// The answer to "what kind of product is this".
pub fn category_schema() -> Value {
    let schema = object(&[
        ("category", reference("estimate")),
        ("subcategory", reference("estimate")),
        ("reasoning", string("what in the photos decided it")),
    ]);
    with_definitions(schema, "techpack category", &["source", "estimate"])
}

/// The answer to "analyze this close-up shot".
pub fn close_up_schema() -> Value {
    let schema = object(&[
        ("detail", string("which detail the shot shows")),
        ("materials", array(reference("estimate"))),
        ("construction", array(reference("construction_detail"))),
        (
            "notes",
            string("what a factory should know about this detail"),
        ),
        ("confidence", confidence()),
    ]);
    with_definitions(
        schema,
        "techpack close-up analysis",
        &["source", "estimate", "construction_detail"],
    )
}

/// The answer to "apply this instruction to this field": the field's new value as JSON text
/// (strict mode cannot express "any JSON value", so it travels as a string).
pub fn edit_schema() -> Value {
    let schema = object(&[
        (
            "new_value_json",
            string("the field's new value, as JSON text of the same shape as the old value"),
        ),
        ("explanation", string("what was changed and why")),
    ]);
    with_definitions(schema, "techpack field edit", &[])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// OpenAI strict mode: every object requires all its properties and allows no others.
    fn assert_strict(schema: &Value, path: &str) {
        match schema {
            Value::Object(map) => {
                if map.get("type") == Some(&json!("object")) {
                    let props = map["properties"].as_object().unwrap();
                    let required: Vec<&str> = map["required"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|v| v.as_str().unwrap())
                        .collect();
                    let mut names: Vec<&str> = props.keys().map(String::as_str).collect();
                    names.sort();
                    let mut required_sorted = required.clone();
                    required_sorted.sort();
                    assert_eq!(
                        names, required_sorted,
                        "{path}: every property must be required"
                    );
                    assert_eq!(map["additionalProperties"], json!(false), "{path}");
                }
                for (key, value) in map {
                    assert_strict(value, &format!("{path}/{key}"));
                }
            }
            Value::Array(items) => items.iter().for_each(|v| assert_strict(v, path)),
            _ => {}
        }
    }

    #[test]
    fn every_schema_fits_strict_structured_outputs() {
        for schema in [
            tech_pack_schema(),
            view_analysis_schema(),
            category_schema(),
            close_up_schema(),
            edit_schema(),
        ] {
            assert_strict(&schema, "#");
        }
    }

    #[test]
    fn the_published_schema_files_are_current() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schema");
        for (file, schema) in [
            ("techpack.schema.json", tech_pack_schema()),
            ("view-analysis.schema.json", view_analysis_schema()),
        ] {
            let text = serde_json::to_string_pretty(&schema).unwrap() + "\n";
            let path = dir.join(file);
            if std::env::var_os("TECHPACK_BLESS").is_some() {
                std::fs::write(&path, &text).unwrap();
            }
            assert_eq!(
                std::fs::read_to_string(&path).unwrap_or_default(),
                text,
                "{file} is stale: run with TECHPACK_BLESS=1"
            );
        }
    }
}
