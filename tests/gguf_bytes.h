/*
 * gguf_bytes.h - GGUF files built byte by byte in tests, independent of
 * src/gguf: the expected bytes of a writer test and the broken files of the
 * bad-input tests come from here, so neither the reader nor the writer is
 * checked against itself.
 */
#ifndef QL_TESTS_GGUF_BYTES_H
#define QL_TESTS_GGUF_BYTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    unsigned char *p;
    size_t len, cap;
} tb_buf;

void tb_free(tb_buf *b);
void tb_raw(tb_buf *b, const void *p, size_t n);
void tb_u8(tb_buf *b, uint8_t v);
void tb_u16(tb_buf *b, uint16_t v);
void tb_u32(tb_buf *b, uint32_t v);
void tb_u64(tb_buf *b, uint64_t v);
void tb_f32(tb_buf *b, float v);
void tb_f64(tb_buf *b, double v);
void tb_str_n(tb_buf *b, const char *s, size_t n); /* u64 length + bytes */
void tb_str(tb_buf *b, const char *s);
void tb_zeros(tb_buf *b, size_t n);
void tb_pad(tb_buf *b, size_t alignment); /* zeros up to a multiple of alignment */

/* Overwrites little-endian values already in the buffer. */
void tb_put_u32_at(tb_buf *b, size_t at, uint32_t v);
void tb_put_u64_at(tb_buf *b, size_t at, uint64_t v);

/* "GGUF", version, n_tensors, n_kv. */
void tb_header(tb_buf *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv);
void tb_kv_u32(tb_buf *b, const char *key, uint32_t v);
void tb_kv_str(tb_buf *b, const char *key, const char *v);
/* Tensor info; returns the offset of its first dimension in the buffer. */
size_t tb_tensor_info(tb_buf *b, const char *name, uint32_t n_dims, const uint64_t *ne,
                      uint32_t type, uint64_t offset);

/*
 * A small valid model and where its fields are, for breaking it:
 * keys general.architecture = "llama", general.alignment = 32,
 * llama.block_count = 1, tokenizer.ggml.tokens = ["a", "bc", "def"];
 * tensors "a" f32 [8] at 0, "b" q4_0 [64, 2] at 32, "c" f16 [4, 4] at 128.
 */
typedef struct {
    tb_buf b;
    size_t n_tensors_at; /* the u64 tensor count */
    size_t first_key_at; /* the u64 length of the first key */
    size_t kv_type_at;   /* the u32 value type of llama.block_count */
    size_t str_value_at; /* inside the value of general.architecture */
    size_t infos_at;     /* the first tensor info */
    size_t ne_at[3];     /* each tensor's first dimension */
    size_t type_at[3];   /* each tensor's u32 type */
    size_t offset_at[3]; /* each tensor's u64 offset */
    size_t data_at;      /* the data section */
} tb_model;

void tb_small_model(tb_model *m);

#endif
