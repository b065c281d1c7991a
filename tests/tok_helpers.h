/*
 * tok_helpers.h - what the tokenizer tests share: loading a golden vocabulary,
 * reading llama.cpp's tokenizer test cases, and writing small GGUF files that
 * hold nothing but tokenizer metadata.
 */
#ifndef QL_TESTS_TOK_HELPERS_H
#define QL_TESTS_TOK_HELPERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gguf/gguf.h"
#include "test.h"
#include "tokenizer/tokenizer.h"

typedef struct {
    gguf_file *file;
    tok_vocab *vocab;
} tt_vocab;

/* Opens golden/tokenizer/ggml-vocab-NAME.gguf; records a failure and returns
 * false if that fails. */
bool tt_load_golden(ql_test_ctx *t, const char *name, tt_vocab *out);
bool tt_load_path(ql_test_ctx *t, const char *path, tt_vocab *out);
void tt_unload(tt_vocab *v);

/* The test strings of golden/tokenizer/ggml-vocab-NAME.gguf.inp, split as
 * llama.cpp's test-tokenizer-0 splits them. */
typedef struct {
    char *raw;
    int n;
    const char *text[256];
    size_t len[256];
} tt_cases;

bool tt_read_cases(ql_test_ctx *t, const char *name, tt_cases *out);
void tt_free_cases(tt_cases *c);

/* Encodes and returns the ids (malloc'd) or NULL after recording a failure. */
int32_t *tt_encode(ql_test_ctx *t, const tok_vocab *v, const char *text, size_t len,
                   bool add_special, bool parse_special, size_t *n);
/* True when ids[0..n) equals the n_want ids in want. */
bool tt_same_ids(const int32_t *ids, size_t n, const int32_t *want, size_t n_want);
/* "1 2 3" into buf, for messages. */
const char *tt_ids_str(const int32_t *ids, size_t n);

/* ---- a minimal GGUF writer (key/values only, no tensors) ---- */

typedef struct {
    unsigned char *buf;
    size_t len, cap;
    uint64_t n_kv;
} tt_gguf;

void tt_gguf_init(tt_gguf *g);
void tt_gguf_str(tt_gguf *g, const char *key, const char *value);
void tt_gguf_u32(tt_gguf *g, const char *key, uint32_t value);
void tt_gguf_bool(tt_gguf *g, const char *key, bool value);
void tt_gguf_str_array(tt_gguf *g, const char *key, const char *const *values, int n);
void tt_gguf_i32_array(tt_gguf *g, const char *key, const int32_t *values, int n);
void tt_gguf_f32_array(tt_gguf *g, const char *key, const float *values, int n);
/* Writes the file and frees the builder; false on I/O failure. */
bool tt_gguf_write(tt_gguf *g, const char *path);

#endif
