/*
 * json.c - the JSON writer. Strings are validated as UTF-8 byte by byte
 * (overlong forms, surrogates and code points past U+10FFFF are invalid) and
 * each byte that does not start a valid sequence becomes U+FFFD, so any bytes
 * a GGUF file holds come out as well-formed JSON text.
 */
#include "json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void ql_json_init(ql_json *j, FILE *out, bool pretty) {
    memset(j, 0, sizeof *j);
    j->out = out;
    j->pretty = pretty;
}

static void newline_indent(ql_json *j) {
    fputc('\n', j->out);
    for (int i = 0; i < j->depth; i++) fputs("  ", j->out);
}

/* Everything that must precede a value or a key: separator, layout, misuse checks. */
static void before_value(ql_json *j, bool is_key) {
    if (j->depth == 0) {
        if (j->done_top || is_key) j->misused = true;
        j->done_top = true;
        return;
    }
    int d = j->depth - 1;
    if (j->is_object[d]) {
        if (is_key == j->after_key) j->misused = true; /* key where a value is due, or vice versa */
        if (!is_key) {
            j->after_key = false;
            return; /* a member's value follows its key on the same line */
        }
    } else if (is_key) {
        j->misused = true;
    }
    bool first = !j->has_items[d];
    if (!first) fputc(',', j->out);
    j->has_items[d] = true;
    if (!j->pretty) return;
    if (!j->one_line[d])
        newline_indent(j);
    else if (!first)
        fputc(' ', j->out);
}

static void container_begin(ql_json *j, bool object, bool one_line) {
    before_value(j, false);
    if (j->depth >= QL_JSON_MAX_DEPTH) {
        j->misused = true;
        return;
    }
    bool parent_one_line = j->depth > 0 && j->one_line[j->depth - 1];
    fputc(object ? '{' : '[', j->out);
    j->is_object[j->depth] = object;
    j->has_items[j->depth] = false;
    j->one_line[j->depth] = one_line || parent_one_line;
    j->depth++;
    j->after_key = false;
}

static void container_end(ql_json *j, bool object) {
    if (j->depth == 0) {
        j->misused = true;
        return;
    }
    if (j->is_object[j->depth - 1] != object || j->after_key) j->misused = true;
    j->depth--;
    if (j->pretty && j->has_items[j->depth] && !j->one_line[j->depth]) newline_indent(j);
    fputc(j->is_object[j->depth] ? '}' : ']', j->out);
    j->after_key = false;
}

void ql_json_object_begin(ql_json *j) {
    container_begin(j, true, false);
}
void ql_json_object_end(ql_json *j) {
    container_end(j, true);
}
void ql_json_array_begin(ql_json *j) {
    container_begin(j, false, false);
}
void ql_json_array_begin_inline(ql_json *j) {
    container_begin(j, false, true);
}
void ql_json_array_end(ql_json *j) {
    container_end(j, false);
}

static void scalar_prefix(ql_json *j) {
    before_value(j, false);
}

size_t ql_utf8_sequence_length(const char *str, size_t n) {
    const unsigned char *s = (const unsigned char *)str;
    unsigned char c = s[0];
    if (c < 0x80) return 1;
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0; /* no overlong forms */
        else if (c == 0xED)
            hi = 0x9F; /* no UTF-16 surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90; /* no overlong forms */
        else if (c == 0xF4)
            hi = 0x8F; /* nothing past U+10FFFF */
    } else
        return 0;
    if (n < len || s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < len; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    return len;
}

void ql_json_write_string(FILE *out, const char *str, size_t len) {
    const unsigned char *s = (const unsigned char *)str;
    fputc('"', out);
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        switch (c) {
        case '"':
            fputs("\\\"", out);
            i++;
            continue;
        case '\\':
            fputs("\\\\", out);
            i++;
            continue;
        case '\b':
            fputs("\\b", out);
            i++;
            continue;
        case '\f':
            fputs("\\f", out);
            i++;
            continue;
        case '\n':
            fputs("\\n", out);
            i++;
            continue;
        case '\r':
            fputs("\\r", out);
            i++;
            continue;
        case '\t':
            fputs("\\t", out);
            i++;
            continue;
        default:
            break;
        }
        if (c < 0x20 || c == 0x7f) {
            fprintf(out, "\\u%04x", c);
            i++;
            continue;
        }
        size_t n = ql_utf8_sequence_length(str + i, len - i);
        if (n == 0) {
            fputs("\xEF\xBF\xBD", out); /* U+FFFD REPLACEMENT CHARACTER */
            i++;
            continue;
        }
        fwrite(s + i, 1, n, out);
        i += n;
    }
    fputc('"', out);
}

void ql_json_key_n(ql_json *j, const char *key, size_t len) {
    before_value(j, true);
    ql_json_write_string(j->out, key ? key : "", key ? len : 0);
    fputs(j->pretty ? ": " : ":", j->out);
    j->after_key = true;
}

void ql_json_key(ql_json *j, const char *key) {
    ql_json_key_n(j, key, key ? strlen(key) : 0);
}

void ql_json_str_n(ql_json *j, const char *s, size_t len) {
    scalar_prefix(j);
    if (!s && len) {
        fputs("null", j->out);
        return;
    }
    ql_json_write_string(j->out, s ? s : "", len);
}

void ql_json_str(ql_json *j, const char *s) {
    if (!s) {
        ql_json_null(j);
        return;
    }
    ql_json_str_n(j, s, strlen(s));
}

void ql_json_int(ql_json *j, int64_t v) {
    scalar_prefix(j);
    fprintf(j->out, "%lld", (long long)v);
}

void ql_json_uint(ql_json *j, uint64_t v) {
    scalar_prefix(j);
    fprintf(j->out, "%llu", (unsigned long long)v);
}

/* Integers read better in full (10000, not 1e+04) up to where doubles stop being exact. */
static bool whole_number(double v) {
    return fabs(v) < 1e15 && v == floor(v);
}

char *ql_format_double(double v, char *buf, size_t size) {
    if (isnan(v)) {
        snprintf(buf, size, "nan");
        return buf;
    }
    if (isinf(v)) {
        snprintf(buf, size, v < 0 ? "-inf" : "inf");
        return buf;
    }
    if (whole_number(v)) {
        snprintf(buf, size, "%.0f", v);
        return buf;
    }
    for (int digits = 1; digits <= 17; digits++) {
        snprintf(buf, size, "%.*g", digits, v);
        if (strtod(buf, NULL) == v) break;
    }
    return buf;
}

char *ql_format_float(float v, char *buf, size_t size) {
    if (!isfinite(v) || whole_number(v)) return ql_format_double(v, buf, size);
    for (int digits = 1; digits <= 9; digits++) {
        snprintf(buf, size, "%.*g", digits, (double)v);
        if (strtof(buf, NULL) == v) break;
    }
    return buf;
}

void ql_json_double(ql_json *j, double v) {
    if (!isfinite(v)) {
        ql_json_null(j);
        return;
    }
    char buf[40];
    scalar_prefix(j);
    fputs(ql_format_double(v, buf, sizeof buf), j->out);
}

void ql_json_float(ql_json *j, float v) {
    if (!isfinite(v)) {
        ql_json_null(j);
        return;
    }
    char buf[40];
    scalar_prefix(j);
    fputs(ql_format_float(v, buf, sizeof buf), j->out);
}

void ql_json_bool(ql_json *j, bool v) {
    scalar_prefix(j);
    fputs(v ? "true" : "false", j->out);
}

void ql_json_null(ql_json *j) {
    scalar_prefix(j);
    fputs("null", j->out);
}

bool ql_json_finish(ql_json *j) {
    if (j->depth != 0 || !j->done_top || j->after_key) j->misused = true;
    fputc('\n', j->out);
    return !j->misused && !ferror(j->out);
}
