/*
 * json_check.h - a strict JSON parser for tests (RFC 8259: no trailing
 * commas, no leading zeros, no raw control characters in strings, valid
 * escapes and surrogate pairs, valid UTF-8, one value per document). It
 * shares no code with src/core/json.c, so it can judge that writer's output.
 */
#ifndef QL_TESTS_JSON_CHECK_H
#define QL_TESTS_JSON_CHECK_H

#include <stdbool.h>
#include <stddef.h>

typedef enum { JC_NULL, JC_BOOL, JC_NUMBER, JC_STRING, JC_ARRAY, JC_OBJECT } jc_kind;

typedef struct jc_node jc_node;
struct jc_node {
    jc_kind kind;
    bool boolean;
    double number;
    char *str; /* decoded UTF-8, NUL-terminated (may hold NULs: see len) */
    size_t len;
    char **keys; /* objects: key i, decoded */
    jc_node **items;
    size_t n;
};

/* NULL on any syntax error; why (if non-NULL) gets the reason and byte offset. */
jc_node *jc_parse(const char *text, size_t len, char *why, size_t why_size);
void jc_free(jc_node *n);

/* Member of an object (NULL if absent or not an object). */
const jc_node *jc_get(const jc_node *obj, const char *key);
/* Element i of an array (NULL if out of range or not an array). */
const jc_node *jc_at(const jc_node *arr, size_t i);
/* Shorthands: a number member (NaN if absent), a string member (NULL if absent). */
double jc_num(const jc_node *obj, const char *key);
const char *jc_str(const jc_node *obj, const char *key);

#endif
