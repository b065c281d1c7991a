/*
 * json.h - a streaming JSON writer for every command's --json output.
 *
 * Output is always valid JSON (RFC 8259) whatever the caller hands it:
 * strings are escaped (quote, backslash, control characters) and invalid
 * UTF-8 is replaced by U+FFFD, so names and metadata taken from a file can be
 * written as they are; non-finite numbers become null; numbers are printed
 * in the shortest form that reads back to the same value. Misuse (a value
 * where a key is due, unbalanced ends, nesting deeper than QL_JSON_MAX_DEPTH)
 * is recorded and reported by ql_json_finish rather than asserted.
 *
 *   ql_json j;
 *   ql_json_init(&j, stdout, true);
 *   ql_json_object_begin(&j);
 *   ql_json_key(&j, "n"); ql_json_int(&j, 3);
 *   ql_json_object_end(&j);
 *   if (!ql_json_finish(&j)) ...   // prints the final newline
 */
#ifndef QL_CORE_JSON_H
#define QL_CORE_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define QL_JSON_MAX_DEPTH 64

typedef struct {
    FILE *out;
    bool pretty;
    bool misused;
    bool after_key;
    bool done_top;
    int depth;
    /* per open container: object or array, has it an element yet, is it on one line */
    bool is_object[QL_JSON_MAX_DEPTH];
    bool has_items[QL_JSON_MAX_DEPTH];
    bool one_line[QL_JSON_MAX_DEPTH];
} ql_json;

/* pretty: two-space indentation, one member per line; otherwise no whitespace at all. */
void ql_json_init(ql_json *j, FILE *out, bool pretty);

void ql_json_object_begin(ql_json *j);
void ql_json_object_end(ql_json *j);
void ql_json_array_begin(ql_json *j);
/* An array kept on one line even when pretty (short lists of numbers such as dims). */
void ql_json_array_begin_inline(ql_json *j);
void ql_json_array_end(ql_json *j);

void ql_json_key(ql_json *j, const char *key);
void ql_json_key_n(ql_json *j, const char *key, size_t len);

void ql_json_str(ql_json *j, const char *s); /* NULL writes null */
void ql_json_str_n(ql_json *j, const char *s, size_t len);
void ql_json_int(ql_json *j, int64_t v);
void ql_json_uint(ql_json *j, uint64_t v);
void ql_json_double(ql_json *j, double v);
/* A float printed with the fewest digits that read back to the same float (1e-06, not 9.99e-07). */
void ql_json_float(ql_json *j, float v);
void ql_json_bool(ql_json *j, bool v);
void ql_json_null(ql_json *j);

/* Ends the document with a newline; false if it was misused or the stream has an error. */
bool ql_json_finish(ql_json *j);

/* The escaped, quoted form of s (len bytes) on out, as ql_json_str_n writes it. */
void ql_json_write_string(FILE *out, const char *s, size_t len);

/*
 * Length of the valid UTF-8 sequence that starts s (n > 0 bytes available),
 * or 0 when none does (stray continuation byte, overlong form, surrogate,
 * past U+10FFFF, cut short). For text output that escapes what it cannot show.
 */
size_t ql_utf8_sequence_length(const char *s, size_t n);

/*
 * Shortest decimal text that reads back as exactly v ("%.Ng" for the least N),
 * for text output that should agree with the JSON. Non-finite: "nan", "inf",
 * "-inf". Returns buf.
 */
char *ql_format_double(double v, char *buf, size_t size);
char *ql_format_float(float v, char *buf, size_t size);

#endif
