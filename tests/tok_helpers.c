/*
 * tok_helpers.c - shared helpers of the tokenizer tests (see tok_helpers.h).
 */
#include "tok_helpers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool tt_load_path(ql_test_ctx *t, const char *path, tt_vocab *out) {
    ql_error err;
    out->file = NULL;
    out->vocab = NULL;
    if (gguf_open(path, &out->file, &err)) {
        ql_test_failf(t, __FILE__, __LINE__, "gguf_open %s: %s", path, err.msg);
        return false;
    }
    if (tok_load(out->file, &out->vocab, &err)) {
        ql_test_failf(t, __FILE__, __LINE__, "tok_load %s: %s", path, err.msg);
        gguf_close(out->file);
        out->file = NULL;
        return false;
    }
    return true;
}

bool tt_load_golden(ql_test_ctx *t, const char *name, tt_vocab *out) {
    char rel[256];
    snprintf(rel, sizeof rel, "golden/tokenizer/ggml-vocab-%s.gguf", name);
    return tt_load_path(t, ql_test_shared_path(rel), out);
}

void tt_unload(tt_vocab *v) {
    tok_free(v->vocab);
    gguf_close(v->file);
    v->vocab = NULL;
    v->file = NULL;
}

bool tt_read_cases(ql_test_ctx *t, const char *name, tt_cases *out) {
    char rel[256];
    snprintf(rel, sizeof rel, "golden/tokenizer/ggml-vocab-%s.gguf.inp", name);
    size_t n = 0;
    out->raw = (char *)ql_test_read_file(ql_test_shared_path(rel), &n);
    out->n = 0;
    if (!out->raw) {
        ql_test_failf(t, __FILE__, __LINE__, "cannot read %s", rel);
        return false;
    }
    /* Cases are separated by "\n__ggml_vocab_test__\n"; text after the last
     * separator would be one more case (the files end with a separator). */
    static const char sep[] = "\n__ggml_vocab_test__\n";
    const size_t sep_len = sizeof sep - 1;
    size_t pos = 0;
    while (pos < n && out->n < 256) {
        char *hit = memmem(out->raw + pos, n - pos, sep, sep_len);
        size_t end = hit ? (size_t)(hit - out->raw) : n;
        out->text[out->n] = out->raw + pos;
        out->len[out->n] = end - pos;
        out->n++;
        if (!hit) break;
        pos = end + sep_len;
    }
    return true;
}

void tt_free_cases(tt_cases *c) {
    free(c->raw);
    c->raw = NULL;
}

int32_t *tt_encode(ql_test_ctx *t, const tok_vocab *v, const char *text, size_t len,
                   bool add_special, bool parse_special, size_t *n) {
    int32_t *ids;
    ql_error err;
    if (tok_encode(v, text, len, add_special, parse_special, &ids, n, &err)) {
        ql_test_failf(t, __FILE__, __LINE__, "tok_encode: %s", err.msg);
        return NULL;
    }
    /* An empty result may come back as NULL; hand out something freeable. */
    if (!ids) ids = malloc(sizeof *ids);
    return ids;
}

bool tt_same_ids(const int32_t *ids, size_t n, const int32_t *want, size_t n_want) {
    return n == n_want && (n == 0 || memcmp(ids, want, n * sizeof *ids) == 0);
}

const char *tt_ids_str(const int32_t *ids, size_t n) {
    static char bufs[4][512];
    static int next;
    char *b = bufs[next++ % 4];
    size_t used = 0;
    b[0] = 0;
    for (size_t i = 0; i < n && used + 16 < sizeof bufs[0]; i++)
        used += (size_t)snprintf(b + used, sizeof bufs[0] - used, "%s%d", i ? " " : "", ids[i]);
    return b;
}

/* ---- GGUF writer ---- */

enum { T_UINT32 = 4, T_INT32 = 5, T_FLOAT32 = 6, T_BOOL = 7, T_STRING = 8, T_ARRAY = 9 };

static void put(tt_gguf *g, const void *p, size_t n) {
    if (g->len + n > g->cap) {
        size_t cap = g->cap ? g->cap : 4096;
        while (cap < g->len + n) cap *= 2;
        unsigned char *b = realloc(g->buf, cap);
        if (!b) abort();
        g->buf = b;
        g->cap = cap;
    }
    memcpy(g->buf + g->len, p, n);
    g->len += n;
}

static void put_u32(tt_gguf *g, uint32_t v) {
    put(g, &v, 4);
}

static void put_u64(tt_gguf *g, uint64_t v) {
    put(g, &v, 8);
}

static void put_string(tt_gguf *g, const char *s) {
    put_u64(g, strlen(s));
    put(g, s, strlen(s));
}

static void put_key(tt_gguf *g, const char *key, uint32_t type) {
    put_string(g, key);
    put_u32(g, type);
    g->n_kv++;
}

void tt_gguf_init(tt_gguf *g) {
    memset(g, 0, sizeof *g);
}

void tt_gguf_str(tt_gguf *g, const char *key, const char *value) {
    put_key(g, key, T_STRING);
    put_string(g, value);
}

void tt_gguf_u32(tt_gguf *g, const char *key, uint32_t value) {
    put_key(g, key, T_UINT32);
    put_u32(g, value);
}

void tt_gguf_bool(tt_gguf *g, const char *key, bool value) {
    put_key(g, key, T_BOOL);
    unsigned char b = value;
    put(g, &b, 1);
}

void tt_gguf_str_array(tt_gguf *g, const char *key, const char *const *values, int n) {
    put_key(g, key, T_ARRAY);
    put_u32(g, T_STRING);
    put_u64(g, (uint64_t)n);
    for (int i = 0; i < n; i++) put_string(g, values[i]);
}

void tt_gguf_i32_array(tt_gguf *g, const char *key, const int32_t *values, int n) {
    put_key(g, key, T_ARRAY);
    put_u32(g, T_INT32);
    put_u64(g, (uint64_t)n);
    put(g, values, 4 * (size_t)n);
}

void tt_gguf_f32_array(tt_gguf *g, const char *key, const float *values, int n) {
    put_key(g, key, T_ARRAY);
    put_u32(g, T_FLOAT32);
    put_u64(g, (uint64_t)n);
    put(g, values, 4 * (size_t)n);
}

bool tt_gguf_write(tt_gguf *g, const char *path) {
    unsigned char header[24];
    uint32_t magic = GGUF_MAGIC, version = 3;
    uint64_t n_tensors = 0;
    memcpy(header, &magic, 4);
    memcpy(header + 4, &version, 4);
    memcpy(header + 8, &n_tensors, 8);
    memcpy(header + 16, &g->n_kv, 8);
    FILE *f = fopen(path, "wb");
    bool ok = f && fwrite(header, 1, sizeof header, f) == sizeof header &&
              fwrite(g->buf, 1, g->len, f) == g->len;
    /* Pad the data section start to the default alignment. */
    size_t pad = (GGUF_DEFAULT_ALIGNMENT - (sizeof header + g->len) % GGUF_DEFAULT_ALIGNMENT) %
                 GGUF_DEFAULT_ALIGNMENT;
    static const unsigned char zeros[GGUF_DEFAULT_ALIGNMENT];
    if (ok && pad) ok = fwrite(zeros, 1, pad, f) == pad;
    if (f && fclose(f) != 0) ok = false;
    free(g->buf);
    memset(g, 0, sizeof *g);
    return ok;
}
