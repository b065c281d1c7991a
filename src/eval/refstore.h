/*
 * refstore.h - files that hold a reference (base) model's predictions for
 * later KL-divergence runs: qlens's exact compact format and llama.cpp's
 * "_logits_" format, behind one reader.
 *
 * qlens format (docs/reference-format.md): instead of a lossy copy of every
 * scored token's n_vocab log-probabilities, it stores the reference model's
 * output matrix once and, per scored token, the final normalised hidden
 * state that matrix multiplies (n_embd floats). Recomputing logits from them
 * with the same kernel gives the exact f32 logits the reference produced -
 * bit for bit - in n_embd * 4 bytes per token instead of llama.cpp's
 * ~2 * n_vocab. Every section is CRC-32 checked when the file is opened, so
 * a damaged file is rejected before anything is reported.
 *
 * llama.cpp format: "_logits_", u32 n_ctx, i32 n_vocab, i32 n_chunk, the
 * tokens, then per chunk and scored position a row of uint16 log-probs
 * (see kld.h). No checksum; sizes are validated exactly.
 */
#ifndef QL_EVAL_REFSTORE_H
#define QL_EVAL_REFSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/status.h"
#include "../kernels/matmul.h"

typedef enum { QL_REF_QLENS = 0, QL_REF_LLAMA = 1 } ql_ref_format;

#define QL_REF_MAGIC       "QLENSREF"
#define QL_REF_VERSION     2
#define QL_REF_HEADER_SIZE 1024

typedef struct {
    int64_t n_ctx, n_chunks, n_vocab;
    bool replace_bos; /* chunk's first token replaced by bos_id before evaluation */
    int32_t bos_id;
    /* qlens format only */
    int64_t n_embd;
    float final_softcap;
    uint64_t vocab_fingerprint; /* ql_model_vocab_fingerprint of the reference model */
    char arch[32];
    char model_name[128];
    char config[256]; /* how the reference was run, e.g. "weights=F16 ctk=f16 ctv=f16 rot=auto" */
    uint64_t model_bytes;
    /* how its output product ran (version 2; version 1 files read as 512, repacked, f32 dots):
     * the micro-batch decides which rows ggml multiplied together, the others the kernels */
    int64_t n_ubatch;
    bool repacked, f16_dot_half, output_never_repacked;
} ql_ref_info;

/* ---- writing ---- */

typedef struct ql_ref_writer ql_ref_writer;

/*
 * Starts a reference file at path (written to a temporary file beside it and
 * renamed by ql_ref_writer_finish). tokens: n_ctx * n_chunks ids as
 * evaluated before any BOS replacement. output: the reference's output matrix
 * (qlens format only; NULL for llama's).
 */
ql_status ql_ref_writer_open(const char *path, ql_ref_format fmt, const ql_ref_info *info,
                             const int32_t *tokens, const ql_matrix *output, ql_ref_writer **out,
                             ql_error *err);

/*
 * Appends the next n_rows scored tokens in evaluation order: their hidden
 * states (n_rows x n_embd, qlens format) and their logits (n_rows x n_vocab,
 * llama format). Each format reads only what it needs.
 */
ql_status ql_ref_writer_add(ql_ref_writer *w, const float *hidden, const float *logits,
                            int64_t n_rows, ql_error *err);

/* Checks that every chunk was written, makes the file durable and renames it into place. */
ql_status ql_ref_writer_finish(ql_ref_writer *w, ql_error *err);
/* Removes the temporary file (safe after a failed finish; no-op after success). */
void ql_ref_writer_free(ql_ref_writer *w);

/* ---- reading ---- */

typedef struct ql_ref_file ql_ref_file;

/* Detects the format, validates sizes, ranges and (qlens format) every checksum. */
ql_status ql_ref_open(const char *path, ql_ref_file **out, ql_error *err);
/*
 * The same over a caller's buffer (fuzzing, tests): the bytes are copied, so
 * the buffer may be freed afterwards and need not be aligned. name stands
 * for the path in messages; NULL means "<memory>".
 */
ql_status ql_ref_open_memory(const void *data, size_t size, const char *name, ql_ref_file **out,
                             ql_error *err);
void ql_ref_close(ql_ref_file *f);

ql_ref_format ql_ref_format_of(const ql_ref_file *f);
const ql_ref_info *ql_ref_info_of(const ql_ref_file *f);
const int32_t *ql_ref_tokens(const ql_ref_file *f);
int64_t ql_ref_scored_per_chunk(const ql_ref_file *f);

/* qlens format: the output matrix and a chunk's hidden rows (n_scored x n_embd). */
const ql_matrix *ql_ref_output(const ql_ref_file *f);
const float *ql_ref_hidden(const ql_ref_file *f, int64_t chunk);

/* llama format: a chunk's rows (n_scored x ql_kld_llama_row_len(n_vocab) uint16). */
const uint16_t *ql_ref_llama_rows(const ql_ref_file *f, int64_t chunk);

/*
 * What the file spends: bytes per scored token (qlens: the hidden state;
 * llama.cpp: its uint16 row), and bytes spent once whatever the number of
 * tokens (headers, the token list and, in qlens's format, the output matrix).
 */
double ql_ref_bytes_per_token(const ql_ref_file *f);
uint64_t ql_ref_fixed_bytes(const ql_ref_file *f);
uint64_t ql_ref_file_bytes(const ql_ref_file *f);

#endif
