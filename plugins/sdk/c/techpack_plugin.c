/* techpack plugin SDK for C: the ABI exports, arena, JSON reader/writer. See the header. */
#include "techpack_plugin.h"

#define TP_EXPORT(name) __attribute__((export_name(name), used))
#define TP_IMPORT(name) __attribute__((import_module("techpack"), import_name(name)))

/* ---- ABI ---------------------------------------------------------------------------- */

TP_IMPORT("log") void techpack_log(int level, const char *message, tp_size length);

TP_EXPORT("techpack_abi_version") int techpack_abi_version(void) { return TP_ABI_VERSION; }

TP_EXPORT("techpack_alloc") void *techpack_alloc(tp_size size) { return tp_alloc(size); }

static unsigned long long packed(const char *data, tp_size length) {
    return ((unsigned long long)(tp_size)data << 32) | (unsigned long long)length;
}

static unsigned long long fail(const char *message) {
    tp_buf envelope = {0};
    tp_buf_str(&envelope, "{\"error\":");
    tp_buf_json_string(&envelope, message, tp_strlen(message));
    tp_buf_str(&envelope, "}");
    if (envelope.failed) {
        /* Out of memory even for the message: a static reply still works. */
        static const char oom[] = "{\"error\":\"plugin ran out of memory\"}";
        return packed(oom, sizeof oom - 1);
    }
    return packed(envelope.data, envelope.length);
}

TP_EXPORT("techpack_run") unsigned long long techpack_run(const char *input, tp_size length) {
    const char *error = 0;
    tp_json *parsed = tp_json_parse(input, length, &error);
    if (!parsed) {
        return fail(tp_concat("input is not valid JSON: ", error, 0));
    }
    tp_buf value = {0};
    if (!tp_plugin_run(parsed, &value, &error)) {
        return fail(error ? error : "plugin failed without a message");
    }
    tp_buf envelope = {0};
    tp_buf_str(&envelope, "{\"output\":");
    tp_buf_raw(&envelope, value.data, value.length);
    tp_buf_str(&envelope, "}");
    if (value.failed || envelope.failed) {
        return fail("plugin ran out of memory while writing its output");
    }
    return packed(envelope.data, envelope.length);
}

void tp_log(int level, const char *message) { techpack_log(level, message, tp_strlen(message)); }

/* ---- memory ------------------------------------------------------------------------- */

extern unsigned char __heap_base;
static tp_size heap_next = 0;

#define PAGE_SIZE 65536u

void *tp_alloc(tp_size size) {
    if (heap_next == 0) {
        heap_next = (tp_size)&__heap_base;
    }
    tp_size start = (heap_next + 7u) & ~(tp_size)7u;
    if (size > 0xFFFFFFFFu - start) {
        return 0;
    }
    tp_size end = start + size;
    tp_size have = __builtin_wasm_memory_size(0) * PAGE_SIZE;
    if (end > have) {
        tp_size pages = (end - have + PAGE_SIZE - 1) / PAGE_SIZE;
        if (__builtin_wasm_memory_grow(0, pages) == (tp_size)-1) {
            return 0;
        }
    }
    heap_next = end;
    return (void *)start;
}

tp_size tp_strlen(const char *s) {
    tp_size n = 0;
    while (s[n]) {
        n++;
    }
    return n;
}

tp_bool tp_streq(const char *a, tp_size alen, const char *b, tp_size blen) {
    if (alen != blen) {
        return 0;
    }
    for (tp_size i = 0; i < alen; i++) {
        if (a[i] != b[i]) {
            return 0;
        }
    }
    return 1;
}

const char *tp_concat(const char *first, ...) {
    tp_buf buf = {0};
    __builtin_va_list parts;
    __builtin_va_start(parts, first);
    for (const char *part = first; part; part = __builtin_va_arg(parts, const char *)) {
        tp_buf_str(&buf, part);
    }
    __builtin_va_end(parts);
    tp_buf_raw(&buf, "", 1);
    return buf.failed ? "" : buf.data;
}

const char *tp_number_text(double value) {
    tp_buf buf = {0};
    tp_buf_number(&buf, value);
    tp_buf_raw(&buf, "", 1);
    return buf.failed ? "?" : buf.data;
}

/* ---- JSON reader -------------------------------------------------------------------- */

/* Nesting deeper than this is refused, so hostile input cannot overflow the stack. */
#define MAX_DEPTH 64

typedef struct {
    const char *at;
    const char *end;
    const char *error;
} reader;

static tp_json *parse_value(reader *r, int depth);

static void skip_space(reader *r) {
    while (r->at < r->end && (*r->at == ' ' || *r->at == '\t' || *r->at == '\n' || *r->at == '\r')) {
        r->at++;
    }
}

static tp_json *new_value(reader *r, tp_json_type type) {
    tp_json *v = tp_alloc(sizeof(tp_json));
    if (!v) {
        r->error = "out of memory";
        return 0;
    }
    __builtin_memset(v, 0, sizeof *v);
    v->type = type;
    return v;
}

static tp_bool literal(reader *r, const char *word) {
    tp_size n = tp_strlen(word);
    if ((tp_size)(r->end - r->at) < n || !tp_streq(r->at, n, word, n)) {
        r->error = "unexpected character";
        return 0;
    }
    r->at += n;
    return 1;
}

static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static long read_hex4(reader *r) {
    if (r->end - r->at < 4) {
        return -1;
    }
    long code = 0;
    for (int i = 0; i < 4; i++) {
        int d = hex_digit(r->at[i]);
        if (d < 0) {
            return -1;
        }
        code = code * 16 + d;
    }
    r->at += 4;
    return code;
}

static void put_utf8(tp_buf *buf, unsigned long code) {
    char bytes[4];
    tp_size n;
    if (code < 0x80) {
        bytes[0] = (char)code;
        n = 1;
    } else if (code < 0x800) {
        bytes[0] = (char)(0xC0 | (code >> 6));
        bytes[1] = (char)(0x80 | (code & 0x3F));
        n = 2;
    } else if (code < 0x10000) {
        bytes[0] = (char)(0xE0 | (code >> 12));
        bytes[1] = (char)(0x80 | ((code >> 6) & 0x3F));
        bytes[2] = (char)(0x80 | (code & 0x3F));
        n = 3;
    } else {
        bytes[0] = (char)(0xF0 | (code >> 18));
        bytes[1] = (char)(0x80 | ((code >> 12) & 0x3F));
        bytes[2] = (char)(0x80 | ((code >> 6) & 0x3F));
        bytes[3] = (char)(0x80 | (code & 0x3F));
        n = 4;
    }
    tp_buf_raw(buf, bytes, n);
}

/* Reads a string after its opening quote into a new NUL-terminated buffer. */
static tp_bool parse_string(reader *r, const char **text, tp_size *length) {
    tp_buf buf = {0};
    while (r->at < r->end && *r->at != '"') {
        char c = *r->at++;
        if ((unsigned char)c < 0x20) {
            r->error = "control character in string";
            return 0;
        }
        if (c != '\\') {
            tp_buf_raw(&buf, &c, 1);
            continue;
        }
        if (r->at >= r->end) {
            break;
        }
        char e = *r->at++;
        char out;
        switch (e) {
        case '"': out = '"'; break;
        case '\\': out = '\\'; break;
        case '/': out = '/'; break;
        case 'b': out = '\b'; break;
        case 'f': out = '\f'; break;
        case 'n': out = '\n'; break;
        case 'r': out = '\r'; break;
        case 't': out = '\t'; break;
        case 'u': {
            long code = read_hex4(r);
            if (code < 0) {
                r->error = "bad \\u escape";
                return 0;
            }
            if (code >= 0xD800 && code <= 0xDBFF && r->end - r->at >= 6 && r->at[0] == '\\' &&
                r->at[1] == 'u') {
                r->at += 2;
                long low = read_hex4(r);
                if (low < 0xDC00 || low > 0xDFFF) {
                    r->error = "bad surrogate pair";
                    return 0;
                }
                code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
            }
            put_utf8(&buf, (unsigned long)code);
            continue;
        }
        default:
            r->error = "bad escape in string";
            return 0;
        }
        tp_buf_raw(&buf, &out, 1);
    }
    if (r->at >= r->end) {
        r->error = "unterminated string";
        return 0;
    }
    r->at++; /* closing quote */
    *length = buf.length;
    tp_buf_raw(&buf, "", 1);
    if (buf.failed) {
        r->error = "out of memory";
        return 0;
    }
    *text = buf.data;
    return 1;
}

static const double powers_of_ten[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                       1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                       1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* Exact for up to 15 significant digits (an integer mantissa divided by a power of ten is
 * correctly rounded); enough for measurements. */
static tp_json *parse_number(reader *r) {
    tp_bool negative = 0;
    if (*r->at == '-') {
        negative = 1;
        r->at++;
    }
    double mantissa = 0;
    int digits = 0;
    int scale = 0;
    while (r->at < r->end && *r->at >= '0' && *r->at <= '9') {
        mantissa = mantissa * 10 + (*r->at++ - '0');
        digits++;
    }
    if (r->at < r->end && *r->at == '.') {
        r->at++;
        while (r->at < r->end && *r->at >= '0' && *r->at <= '9') {
            mantissa = mantissa * 10 + (*r->at++ - '0');
            scale--;
            digits++;
        }
    }
    if (digits == 0) {
        r->error = "bad number";
        return 0;
    }
    if (r->at < r->end && (*r->at == 'e' || *r->at == 'E')) {
        r->at++;
        int sign = 1;
        if (r->at < r->end && (*r->at == '+' || *r->at == '-')) {
            sign = *r->at++ == '-' ? -1 : 1;
        }
        int exponent = 0;
        while (r->at < r->end && *r->at >= '0' && *r->at <= '9') {
            if (exponent < 10000) {
                exponent = exponent * 10 + (*r->at - '0');
            }
            r->at++;
        }
        scale += sign * exponent;
    }
    double value = mantissa;
    while (scale > 0) {
        int step = scale > 22 ? 22 : scale;
        value *= powers_of_ten[step];
        scale -= step;
    }
    while (scale < 0) {
        int step = -scale > 22 ? 22 : -scale;
        value /= powers_of_ten[step];
        scale += step;
    }
    tp_json *v = new_value(r, TP_NUMBER);
    if (v) {
        v->number = negative ? -value : value;
    }
    return v;
}

static tp_json *parse_container(reader *r, int depth, tp_bool object) {
    tp_json *container = new_value(r, object ? TP_OBJECT : TP_ARRAY);
    if (!container) {
        return 0;
    }
    char close = object ? '}' : ']';
    tp_json **tail = &container->child;
    skip_space(r);
    if (r->at < r->end && *r->at == close) {
        r->at++;
        return container;
    }
    for (;;) {
        const char *key = 0;
        tp_size key_length = 0;
        if (object) {
            skip_space(r);
            if (r->at >= r->end || *r->at != '"') {
                r->error = "expected a string key";
                return 0;
            }
            r->at++;
            if (!parse_string(r, &key, &key_length)) {
                return 0;
            }
            skip_space(r);
            if (r->at >= r->end || *r->at != ':') {
                r->error = "expected `:`";
                return 0;
            }
            r->at++;
        }
        tp_json *item = parse_value(r, depth + 1);
        if (!item) {
            return 0;
        }
        item->key = key;
        item->key_length = key_length;
        *tail = item;
        tail = &item->next;
        container->count++;
        skip_space(r);
        if (r->at < r->end && *r->at == ',') {
            r->at++;
            continue;
        }
        if (r->at < r->end && *r->at == close) {
            r->at++;
            return container;
        }
        r->error = object ? "expected `,` or `}`" : "expected `,` or `]`";
        return 0;
    }
}

static tp_json *parse_value(reader *r, int depth) {
    if (depth > MAX_DEPTH) {
        r->error = "nested too deeply";
        return 0;
    }
    skip_space(r);
    if (r->at >= r->end) {
        r->error = "unexpected end of input";
        return 0;
    }
    switch (*r->at) {
    case '{':
        r->at++;
        return parse_container(r, depth, 1);
    case '[':
        r->at++;
        return parse_container(r, depth, 0);
    case '"': {
        r->at++;
        tp_json *v = new_value(r, TP_STRING);
        if (v && !parse_string(r, &v->string, &v->length)) {
            return 0;
        }
        return v;
    }
    case 't': {
        tp_json *v = literal(r, "true") ? new_value(r, TP_BOOL) : 0;
        if (v) {
            v->boolean = 1;
        }
        return v;
    }
    case 'f':
        return literal(r, "false") ? new_value(r, TP_BOOL) : 0;
    case 'n':
        return literal(r, "null") ? new_value(r, TP_NULL) : 0;
    default:
        if (*r->at == '-' || (*r->at >= '0' && *r->at <= '9')) {
            return parse_number(r);
        }
        r->error = "unexpected character";
        return 0;
    }
}

tp_json *tp_json_parse(const char *text, tp_size length, const char **error) {
    reader r = {text, text + length, 0};
    tp_json *value = parse_value(&r, 0);
    if (value) {
        skip_space(&r);
        if (r.at != r.end) {
            value = 0;
            r.error = "trailing characters after the value";
        }
    }
    if (!value) {
        *error = r.error ? r.error : "invalid JSON";
    }
    return value;
}

const tp_json *tp_json_get(const tp_json *object, const char *key) {
    if (!object || object->type != TP_OBJECT) {
        return 0;
    }
    tp_size n = tp_strlen(key);
    for (const tp_json *m = object->child; m; m = m->next) {
        if (tp_streq(m->key, m->key_length, key, n)) {
            return m;
        }
    }
    return 0;
}

/* ---- JSON writer -------------------------------------------------------------------- */

void tp_buf_raw(tp_buf *buf, const char *text, tp_size length) {
    if (buf->failed) {
        return;
    }
    if (buf->length + length > buf->capacity) {
        tp_size capacity = buf->capacity ? buf->capacity : 64;
        while (capacity < buf->length + length) {
            capacity *= 2;
        }
        char *data = tp_alloc(capacity);
        if (!data) {
            buf->failed = 1;
            return;
        }
        if (buf->length) {
            __builtin_memcpy(data, buf->data, buf->length);
        }
        buf->data = data;
        buf->capacity = capacity;
    }
    if (length) {
        __builtin_memcpy(buf->data + buf->length, text, length);
    }
    buf->length += length;
}

void tp_buf_str(tp_buf *buf, const char *text) { tp_buf_raw(buf, text, tp_strlen(text)); }

void tp_buf_json_string(tp_buf *buf, const char *text, tp_size length) {
    static const char hex[] = "0123456789abcdef";
    tp_buf_raw(buf, "\"", 1);
    for (tp_size i = 0; i < length; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == '"' || c == '\\') {
            char escaped[2] = {'\\', (char)c};
            tp_buf_raw(buf, escaped, 2);
        } else if (c < 0x20) {
            char escaped[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            tp_buf_raw(buf, escaped, 6);
        } else {
            tp_buf_raw(buf, (const char *)&c, 1);
        }
    }
    tp_buf_raw(buf, "\"", 1);
}

void tp_buf_number(tp_buf *buf, double value) {
    /* NaN, infinities and numbers too large to print exactly this way. */
    if (value != value || value > 1e15 || value < -1e15) {
        tp_buf_str(buf, "null");
        return;
    }
    if (value < 0) {
        /* -0.0000001 rounds to 0: no sign then. */
        if (-value >= 0.0000005) {
            tp_buf_raw(buf, "-", 1);
        }
        value = -value;
    }
    unsigned long long scaled = (unsigned long long)__builtin_floor(value * 1e6 + 0.5);
    unsigned long long whole = scaled / 1000000u;
    unsigned long long fraction = scaled % 1000000u;
    char digits[32];
    int n = 0;
    do {
        digits[n++] = (char)('0' + whole % 10);
        whole /= 10;
    } while (whole);
    while (n) {
        tp_buf_raw(buf, &digits[--n], 1);
    }
    if (fraction) {
        char decimals[7] = {'.'};
        for (int i = 6; i >= 1; i--) {
            decimals[i] = (char)('0' + fraction % 10);
            fraction /= 10;
        }
        int end = 7;
        while (decimals[end - 1] == '0') {
            end--;
        }
        tp_buf_raw(buf, decimals, (tp_size)end);
    }
}

void tp_buf_json(tp_buf *buf, const tp_json *value) {
    switch (value->type) {
    case TP_NULL:
        tp_buf_str(buf, "null");
        break;
    case TP_BOOL:
        tp_buf_str(buf, value->boolean ? "true" : "false");
        break;
    case TP_NUMBER:
        tp_buf_number(buf, value->number);
        break;
    case TP_STRING:
        tp_buf_json_string(buf, value->string, value->length);
        break;
    case TP_ARRAY:
    case TP_OBJECT: {
        tp_bool object = value->type == TP_OBJECT;
        tp_buf_raw(buf, object ? "{" : "[", 1);
        for (const tp_json *item = value->child; item; item = item->next) {
            if (item != value->child) {
                tp_buf_raw(buf, ",", 1);
            }
            if (object) {
                tp_buf_json_string(buf, item->key, item->key_length);
                tp_buf_raw(buf, ":", 1);
            }
            tp_buf_json(buf, item);
        }
        tp_buf_raw(buf, object ? "}" : "]", 1);
        break;
    }
    }
}
