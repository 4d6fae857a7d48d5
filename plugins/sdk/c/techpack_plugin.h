/*
 * techpack plugin SDK for C: the ABI (see plugins/README.md), an arena allocator, a small
 * JSON reader and writer, and logging. No libc needed: build with
 *   clang --target=wasm32 -O2 -nostdlib -mbulk-memory -fvisibility=hidden \
 *         -Wl,--no-entry ... techpack_plugin.c your_plugin.c
 *
 * A plugin implements one function, `tp_plugin_run`; the SDK exports the ABI around it
 * (`techpack_abi_version`, `techpack_alloc`, `techpack_run`) and wraps the result in the
 * `{"output": ...}` / `{"error": ...}` envelope the host expects.
 *
 * Memory is never freed: the host gives every call a fresh instance and drops it after.
 */
#ifndef TECHPACK_PLUGIN_H
#define TECHPACK_PLUGIN_H

typedef __SIZE_TYPE__ tp_size;
typedef _Bool tp_bool;

#define TP_ABI_VERSION 1

/* ---- logging: lines go to the run's log on the host ---------------------------------- */

enum { TP_LOG_ERROR = 0, TP_LOG_WARN = 1, TP_LOG_INFO = 2, TP_LOG_DEBUG = 3 };

/* Logs a NUL-terminated message. */
void tp_log(int level, const char *message);

/* ---- memory ------------------------------------------------------------------------- */

/* Bump allocation from the instance's linear memory (8-byte aligned); 0 when memory
 * cannot grow (the manifest's memory limit). */
void *tp_alloc(tp_size size);

tp_size tp_strlen(const char *s);
tp_bool tp_streq(const char *a, tp_size alen, const char *b, tp_size blen);

/* ---- JSON values (parsed from the host's input) ------------------------------------- */

typedef enum {
    TP_NULL,
    TP_BOOL,
    TP_NUMBER,
    TP_STRING,
    TP_ARRAY,
    TP_OBJECT
} tp_json_type;

typedef struct tp_json {
    tp_json_type type;
    tp_bool boolean;
    double number;
    /* TP_STRING: the decoded UTF-8 text (NUL-terminated too). */
    const char *string;
    tp_size length;
    /* TP_OBJECT members: their key. */
    const char *key;
    tp_size key_length;
    /* TP_ARRAY / TP_OBJECT: first element or member; each links to the next. */
    struct tp_json *child;
    struct tp_json *next;
    /* TP_ARRAY / TP_OBJECT: number of elements or members. */
    tp_size count;
} tp_json;

/* Parses `length` bytes; on failure returns 0 and points *error at a message. */
tp_json *tp_json_parse(const char *text, tp_size length, const char **error);

/* The member `key` of an object, or 0 (also when `object` is not an object). */
const tp_json *tp_json_get(const tp_json *object, const char *key);

/* ---- JSON output -------------------------------------------------------------------- */

typedef struct tp_buf {
    char *data;
    tp_size length;
    tp_size capacity;
    /* Set when an allocation failed; the content is then incomplete. */
    tp_bool failed;
} tp_buf;

void tp_buf_raw(tp_buf *buf, const char *text, tp_size length);
void tp_buf_str(tp_buf *buf, const char *text); /* raw, NUL-terminated */
void tp_buf_json_string(tp_buf *buf, const char *text, tp_size length);
/* A number with at most 6 decimals, trailing zeros dropped; NaN and infinities as null. */
void tp_buf_number(tp_buf *buf, double value);
/* Copies a parsed value back out as JSON. */
void tp_buf_json(tp_buf *buf, const tp_json *value);

/* ---- the plugin's entry point ------------------------------------------------------- */

/*
 * Called once per step attempt with the parsed input
 * `{"with": ..., "inputs": ..., "context": {...}}`.
 * On success: write the output value (one JSON value) to `out` and return 1.
 * On failure: return 0 and point *error at a message (NUL-terminated) for the run's log.
 */
int tp_plugin_run(const tp_json *input, tp_buf *out, const char **error);

/* Joins NUL-terminated strings into a new one, up to a terminating 0:
 * tp_concat("no grade rule for POM `", code, "`", 0). Returns "" if memory runs out. */
const char *tp_concat(const char *first, ...);

/* A number as text (see tp_buf_number), for messages. */
const char *tp_number_text(double value);

#endif
