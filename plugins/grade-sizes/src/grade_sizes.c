/*
 * grade-sizes: turns a tech pack's points of measure (POMs) for the base size, plus
 * grading rules (the increment per size step, per POM), into the graded size chart
 * with tolerances.
 *
 * `with`:
 *   base_size: "M"                               the size the POM values are for
 *   sizes: ["XS", "S", "M", "L", "XL", "XXL"]    smallest to largest; holds base_size
 *   points_of_measure:                           [{code, name?, base, tolerance?, unit?}];
 *                                                `value` is read when `base` is absent, so
 *                                                a tech pack's POM list works as it is; a
 *                                                POM whose value is null is skipped
 *   grade_rules: {A: 2, B: [1, 1, 1.5, 1.5, 2]}  per POM code: one increment for every
 *                                                step, or one per step (sizes - 1 of
 *                                                them: XS->S, S->M, ...)
 *   default_grade: 1                             optional: the rule for POMs not in
 *                                                grade_rules (else those are an error)
 *   unit: "cm"                                   optional, copied to the output
 *   precision: 0.1                               optional rounding step (0.125 for 1/8")
 * output:
 *   {unit, base_size, sizes, points_of_measure: [{code, name, unit?, tolerance,
 *    values: {XS: 48, ...}, min: {...}, max: {...}}], skipped: [{code, name, reason}]}
 */
#include "techpack_plugin.h"

#define MAX_SIZES 64

typedef struct {
    const char *name;
    tp_size length;
} size_name;

static double round_to(double value, double step) {
    double n = value / step;
    n = n >= 0 ? __builtin_floor(n + 0.5) : -__builtin_floor(-n + 0.5);
    return n * step;
}

static tp_bool is_string(const tp_json *v) { return v && v->type == TP_STRING; }
static tp_bool is_number(const tp_json *v) { return v && v->type == TP_NUMBER; }

/* The increment from size `step` to size `step + 1` under `rule`. */
static tp_bool increment(const tp_json *rule, tp_size step, double *out) {
    if (rule->type == TP_NUMBER) {
        *out = rule->number;
        return 1;
    }
    const tp_json *item = rule->child;
    for (tp_size i = 0; i < step && item; i++) {
        item = item->next;
    }
    if (!is_number(item)) {
        return 0;
    }
    *out = item->number;
    return 1;
}

static void write_sizes_object(tp_buf *out, const size_name *sizes, const double *values, tp_size count) {
    tp_buf_str(out, "{");
    for (tp_size i = 0; i < count; i++) {
        if (i) {
            tp_buf_str(out, ",");
        }
        tp_buf_json_string(out, sizes[i].name, sizes[i].length);
        tp_buf_str(out, ":");
        tp_buf_number(out, values[i]);
    }
    tp_buf_str(out, "}");
}

int tp_plugin_run(const tp_json *input, tp_buf *out, const char **error) {
    const tp_json *with = tp_json_get(input, "with");
    const tp_json *base_size = tp_json_get(with, "base_size");
    const tp_json *sizes_json = tp_json_get(with, "sizes");
    const tp_json *poms = tp_json_get(with, "points_of_measure");
    const tp_json *rules = tp_json_get(with, "grade_rules");
    const tp_json *unit = tp_json_get(with, "unit");
    const tp_json *precision_json = tp_json_get(with, "precision");
    const tp_json *default_grade = tp_json_get(with, "default_grade");

    if (!is_string(base_size)) {
        *error = "`with.base_size` must be a string such as \"M\"";
        return 0;
    }
    if (!sizes_json || sizes_json->type != TP_ARRAY || sizes_json->count == 0) {
        *error = "`with.sizes` must be a non-empty list of size names, smallest first";
        return 0;
    }
    if (sizes_json->count > MAX_SIZES) {
        *error = "`with.sizes` holds more than 64 sizes";
        return 0;
    }
    if (!poms || poms->type != TP_ARRAY) {
        *error = "`with.points_of_measure` must be a list of {code, name, base, tolerance}";
        return 0;
    }
    if (default_grade && default_grade->type == TP_NULL) {
        default_grade = 0;
    }
    if (default_grade && default_grade->type != TP_NUMBER && default_grade->type != TP_ARRAY) {
        *error = "`with.default_grade` must be an increment or a list of them";
        return 0;
    }
    if (rules && rules->type == TP_NULL) {
        rules = 0;
    }
    if (rules ? rules->type != TP_OBJECT : !default_grade) {
        *error = "`with.grade_rules` must map each POM code to an increment or a list of them";
        return 0;
    }
    if (unit && unit->type == TP_NULL) {
        unit = 0;
    }
    if (unit && !is_string(unit)) {
        *error = "`with.unit` must be a string";
        return 0;
    }
    double precision = 0.1;
    if (precision_json) {
        if (!is_number(precision_json) || !(precision_json->number > 0)) {
            *error = "`with.precision` must be a number above 0";
            return 0;
        }
        precision = precision_json->number;
    }

    size_name sizes[MAX_SIZES];
    tp_size count = 0;
    tp_size base = MAX_SIZES;
    for (const tp_json *s = sizes_json->child; s; s = s->next) {
        if (!is_string(s)) {
            *error = "`with.sizes` must hold only strings";
            return 0;
        }
        for (tp_size i = 0; i < count; i++) {
            if (tp_streq(sizes[i].name, sizes[i].length, s->string, s->length)) {
                *error = tp_concat("size `", s->string, "` appears twice in `with.sizes`", 0);
                return 0;
            }
        }
        if (tp_streq(s->string, s->length, base_size->string, base_size->length)) {
            base = count;
        }
        sizes[count].name = s->string;
        sizes[count].length = s->length;
        count++;
    }
    if (base == MAX_SIZES) {
        *error = tp_concat("base size `", base_size->string, "` is not one of `with.sizes`", 0);
        return 0;
    }

    tp_buf_str(out, "{\"unit\":");
    if (unit) {
        tp_buf_json_string(out, unit->string, unit->length);
    } else {
        tp_buf_str(out, "\"cm\"");
    }
    tp_buf_str(out, ",\"base_size\":");
    tp_buf_json_string(out, base_size->string, base_size->length);
    tp_buf_str(out, ",\"sizes\":");
    tp_buf_json(out, sizes_json);
    tp_buf_str(out, ",\"points_of_measure\":[");

    tp_buf skipped = {0};
    tp_size graded = 0;
    for (const tp_json *pom = poms->child; pom; pom = pom->next) {
        const tp_json *code = tp_json_get(pom, "code");
        const tp_json *name = tp_json_get(pom, "name");
        const tp_json *unit_json = tp_json_get(pom, "unit");
        const tp_json *value = tp_json_get(pom, "base");
        const tp_json *tolerance_json = tp_json_get(pom, "tolerance");
        if (!value) {
            value = tp_json_get(pom, "value");
        }
        if (!is_string(code)) {
            *error = "every point of measure needs a string `code`";
            return 0;
        }
        if (name && name->type == TP_NULL) {
            name = 0;
        }
        if (name && !is_string(name)) {
            *error = tp_concat("POM `", code->string, "`: `name` must be a string", 0);
            return 0;
        }
        if (unit_json && !is_string(unit_json)) {
            unit_json = 0;
        }
        if (value && value->type == TP_NULL) {
            /* Measured nothing (e.g. not visible in the photos): nothing to grade. */
            tp_buf_str(&skipped, skipped.length ? ",{\"code\":" : "{\"code\":");
            tp_buf_json_string(&skipped, code->string, code->length);
            tp_buf_str(&skipped, ",\"name\":");
            tp_buf_json_string(&skipped, name ? name->string : code->string, name ? name->length : code->length);
            tp_buf_str(&skipped, ",\"reason\":\"no base measurement\"}");
            continue;
        }
        if (!is_number(value) || !(value->number > 0)) {
            *error = tp_concat("POM `", code->string, "`: `base` must be a number above 0", 0);
            return 0;
        }
        if (tolerance_json && tolerance_json->type == TP_NULL) {
            tolerance_json = 0;
        }
        double tolerance = 0;
        if (tolerance_json) {
            if (!is_number(tolerance_json) || tolerance_json->number < 0) {
                *error = tp_concat("POM `", code->string, "`: `tolerance` must be a number, 0 or more", 0);
                return 0;
            }
            tolerance = tolerance_json->number;
        }
        const tp_json *rule = tp_json_get(rules, code->string);
        if (!rule) {
            rule = default_grade;
        }
        if (!rule) {
            *error = tp_concat("no grade rule for POM `", code->string,
                               "` in `with.grade_rules` (or set `with.default_grade`)", 0);
            return 0;
        }
        if (rule->type == TP_ARRAY ? rule->count != count - 1 : rule->type != TP_NUMBER) {
            *error = tp_concat("grade rule for POM `", code->string, "` must be a number or a list of ",
                               tp_number_text((double)(count - 1)), " numbers (one per size step)", 0);
            return 0;
        }

        double values[MAX_SIZES], low[MAX_SIZES], high[MAX_SIZES];
        values[base] = value->number;
        for (tp_size i = base + 1; i < count; i++) {
            double step;
            if (!increment(rule, i - 1, &step)) {
                *error = tp_concat("grade rule for POM `", code->string, "` holds a non-number", 0);
                return 0;
            }
            values[i] = values[i - 1] + step;
        }
        for (tp_size i = base; i-- > 0;) {
            double step;
            if (!increment(rule, i, &step)) {
                *error = tp_concat("grade rule for POM `", code->string, "` holds a non-number", 0);
                return 0;
            }
            values[i] = values[i + 1] - step;
        }
        for (tp_size i = 0; i < count; i++) {
            values[i] = round_to(values[i], precision);
            if (!(values[i] > 0)) {
                *error = tp_concat("POM `", code->string, "` grades to ", tp_number_text(values[i]),
                                   " at size `", sizes[i].name, "`: check its grade rule", 0);
                return 0;
            }
            low[i] = round_to(values[i] - tolerance, precision);
            high[i] = round_to(values[i] + tolerance, precision);
        }

        if (graded++) {
            tp_buf_str(out, ",");
        }
        tp_buf_str(out, "{\"code\":");
        tp_buf_json_string(out, code->string, code->length);
        tp_buf_str(out, ",\"name\":");
        if (name) {
            tp_buf_json_string(out, name->string, name->length);
        } else {
            tp_buf_json_string(out, code->string, code->length);
        }
        if (unit_json) {
            tp_buf_str(out, ",\"unit\":");
            tp_buf_json_string(out, unit_json->string, unit_json->length);
        }
        tp_buf_str(out, ",\"tolerance\":");
        tp_buf_number(out, tolerance);
        tp_buf_str(out, ",\"values\":");
        write_sizes_object(out, sizes, values, count);
        tp_buf_str(out, ",\"min\":");
        write_sizes_object(out, sizes, low, count);
        tp_buf_str(out, ",\"max\":");
        write_sizes_object(out, sizes, high, count);
        tp_buf_str(out, "}");
    }
    tp_buf_str(out, "],\"skipped\":[");
    tp_buf_raw(out, skipped.data, skipped.length);
    tp_buf_str(out, "]}");
    if (skipped.failed) {
        *error = "out of memory";
        return 0;
    }

    tp_log(TP_LOG_INFO, tp_concat("graded ", tp_number_text((double)graded), " points of measure over ",
                                  tp_number_text((double)count), " sizes", 0));
    return 1;
}
