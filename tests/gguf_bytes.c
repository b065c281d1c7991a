/*
 * gguf_bytes.c - hand-built GGUF bytes for tests (see gguf_bytes.h). Plain
 * little-endian encoding straight from the GGUF specification.
 */
#include "gguf_bytes.h"

#include <stdlib.h>
#include <string.h>

void tb_free(tb_buf *b) {
    free(b->p);
    memset(b, 0, sizeof *b);
}

void tb_raw(tb_buf *b, const void *p, size_t n) {
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n) cap *= 2;
        unsigned char *q = realloc(b->p, cap);
        if (!q) abort(); /* a test helper: running out of memory is not a case under test */
        b->p = q;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->len, p, n);
    b->len += n;
}

static void le(tb_buf *b, uint64_t v, int n) {
    unsigned char tmp[8];
    for (int i = 0; i < n; i++) tmp[i] = (unsigned char)(v >> (8 * i));
    tb_raw(b, tmp, (size_t)n);
}

void tb_u8(tb_buf *b, uint8_t v) {
    le(b, v, 1);
}
void tb_u16(tb_buf *b, uint16_t v) {
    le(b, v, 2);
}
void tb_u32(tb_buf *b, uint32_t v) {
    le(b, v, 4);
}
void tb_u64(tb_buf *b, uint64_t v) {
    le(b, v, 8);
}

void tb_f32(tb_buf *b, float v) {
    uint32_t bits;
    memcpy(&bits, &v, 4);
    tb_u32(b, bits);
}

void tb_f64(tb_buf *b, double v) {
    uint64_t bits;
    memcpy(&bits, &v, 8);
    tb_u64(b, bits);
}

void tb_str_n(tb_buf *b, const char *s, size_t n) {
    tb_u64(b, n);
    tb_raw(b, s, n);
}

void tb_str(tb_buf *b, const char *s) {
    tb_str_n(b, s, strlen(s));
}

void tb_zeros(tb_buf *b, size_t n) {
    static const unsigned char z[64];
    while (n) {
        size_t k = n < sizeof z ? n : sizeof z;
        tb_raw(b, z, k);
        n -= k;
    }
}

void tb_pad(tb_buf *b, size_t alignment) {
    tb_zeros(b, (alignment - b->len % alignment) % alignment);
}

void tb_put_u32_at(tb_buf *b, size_t at, uint32_t v) {
    for (int i = 0; i < 4; i++) b->p[at + (size_t)i] = (unsigned char)(v >> (8 * i));
}

void tb_put_u64_at(tb_buf *b, size_t at, uint64_t v) {
    for (int i = 0; i < 8; i++) b->p[at + (size_t)i] = (unsigned char)(v >> (8 * i));
}

void tb_header(tb_buf *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    tb_raw(b, "GGUF", 4);
    tb_u32(b, version);
    tb_u64(b, n_tensors);
    tb_u64(b, n_kv);
}

void tb_kv_u32(tb_buf *b, const char *key, uint32_t v) {
    tb_str(b, key);
    tb_u32(b, 4); /* UINT32 */
    tb_u32(b, v);
}

void tb_kv_str(tb_buf *b, const char *key, const char *v) {
    tb_str(b, key);
    tb_u32(b, 8); /* STRING */
    tb_str(b, v);
}

size_t tb_tensor_info(tb_buf *b, const char *name, uint32_t n_dims, const uint64_t *ne,
                      uint32_t type, uint64_t offset) {
    tb_str(b, name);
    tb_u32(b, n_dims);
    size_t ne_at = b->len;
    for (uint32_t d = 0; d < n_dims; d++) tb_u64(b, ne[d]);
    tb_u32(b, type);
    tb_u64(b, offset);
    return ne_at;
}

void tb_small_model(tb_model *m) {
    memset(m, 0, sizeof *m);
    tb_buf *b = &m->b;
    tb_header(b, 3, 3, 4);
    m->n_tensors_at = 8;
    m->first_key_at = b->len;
    tb_str(b, "general.architecture");
    tb_u32(b, 8);
    m->str_value_at = b->len + 8 + 2;
    tb_str(b, "llama");
    tb_kv_u32(b, "general.alignment", 32);
    size_t kv3 = b->len;
    tb_kv_u32(b, "llama.block_count", 1);
    m->kv_type_at = kv3 + 8 + strlen("llama.block_count");
    tb_str(b, "tokenizer.ggml.tokens");
    tb_u32(b, 9);
    tb_u32(b, 8);
    tb_u64(b, 3);
    tb_str(b, "a");
    tb_str(b, "bc");
    tb_str(b, "def");

    m->infos_at = b->len;
    static const struct {
        const char *name;
        uint32_t n_dims;
        uint64_t ne[2];
        uint32_t type;
        uint64_t offset;
    } t[3] = {
        {"a", 1, {8, 1}, 0, 0},   /* f32: 32 bytes */
        {"b", 2, {64, 2}, 2, 32}, /* q4_0: 2 blocks of 18 bytes per row: 72 bytes */
        {"c", 2, {4, 4}, 1, 128}, /* f16: 32 bytes, at the next multiple of 32 after 104 */
    };
    for (int i = 0; i < 3; i++) {
        m->ne_at[i] = tb_tensor_info(b, t[i].name, t[i].n_dims, t[i].ne, t[i].type, t[i].offset);
        m->type_at[i] = m->ne_at[i] + 8 * t[i].n_dims;
        m->offset_at[i] = m->type_at[i] + 4;
    }
    tb_pad(b, 32);
    m->data_at = b->len;
    for (int i = 0; i < 32; i++) tb_u8(b, (uint8_t)(i + 1));
    for (int i = 0; i < 72; i++) tb_u8(b, (uint8_t)(100 + i));
    tb_zeros(b, 24);
    for (int i = 0; i < 32; i++) tb_u8(b, (uint8_t)(200 + i));
}
