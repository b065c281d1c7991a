/*
 * refstore.c - reading and writing reference files (see refstore.h and
 * docs/reference-format.md). All multi-byte fields are little-endian and
 * serialised byte by byte, so the format does not depend on struct layout.
 */
#include "refstore.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../core/crc32.h"
#include "../core/outfile.h"
#include "../quant/quant.h"
#include "kld.h"

#define LLAMA_MAGIC "_logits_"
enum { LLAMA_HEADER = 20, ALIGN = 64 };

/* header field offsets (qlens format) */
enum {
    H_VERSION = 8,
    H_HEADER_SIZE = 12,
    H_N_CTX = 16,
    H_N_CHUNKS = 20,
    H_N_SCORED = 24,
    H_FLAGS = 28,
    H_BOS = 32,
    H_OUT_TYPE = 36,
    H_N_VOCAB = 40,
    H_N_EMBD = 48,
    H_SOFTCAP = 56,
    H_FINGERPRINT = 64,
    H_MODEL_BYTES = 72,
    H_TOKENS_OFF = 80,
    H_TOKENS_BYTES = 88,
    H_MATRIX_OFF = 96,
    H_MATRIX_BYTES = 104,
    H_HIDDEN_OFF = 112,
    H_CHUNK_BYTES = 120,
    H_CRCS_OFF = 128,
    H_TOKENS_CRC = 136,
    H_MATRIX_CRC = 140,
    H_CRCS_CRC = 144,
    H_ARCH = 176,
    H_NAME = 208,
    H_CONFIG = 336,
    H_N_UBATCH = 592,
    H_KERNELS = 596, /* bit 0: repacked, 1: f16 dots in half precision, 2: output never repacked */
    H_HEADER_CRC = QL_REF_HEADER_SIZE - 4,
};

static void put32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static void put64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint32_t get32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t get64(const uint8_t *p) {
    return (uint64_t)get32(p + 4) << 32 | get32(p);
}

static uint64_t align_up(uint64_t v) {
    return (v + ALIGN - 1) / ALIGN * ALIGN;
}

/*
 * a * b, or UINT64_MAX when that overflows. The sizes a header implies are
 * products of fields the file controls; a product that wrapped could equal
 * a crafted file's real size and point every section outside it, so an
 * overflow saturates and then fails the exact-size check.
 */
static uint64_t mul_sat(uint64_t a, uint64_t b) {
    return a != 0 && b > UINT64_MAX / a ? UINT64_MAX : a * b;
}
static uint64_t add_sat(uint64_t a, uint64_t b) {
    return b > UINT64_MAX - a ? UINT64_MAX : a + b;
}

static void put_text(uint8_t *p, const char *s, size_t field) {
    size_t n = strnlen(s, field - 1);
    memcpy(p, s, n);
    memset(p + n, 0, field - n);
}

static void get_text(char *dst, const uint8_t *p, size_t field) {
    memcpy(dst, p, field);
    dst[field - 1] = '\0';
}

/* The layout a header implies; both writer and reader derive it the same way. */
typedef struct {
    uint64_t tokens_off, tokens_bytes, matrix_off, matrix_bytes, hidden_off, chunk_bytes, crcs_off,
        total;
} layout;

static layout layout_of(int64_t n_ctx, int64_t n_chunks, int64_t n_scored, int64_t n_embd,
                        uint64_t matrix_bytes) {
    layout l;
    l.tokens_off = QL_REF_HEADER_SIZE;
    l.tokens_bytes = (uint64_t)n_ctx * (uint64_t)n_chunks * 4;
    l.matrix_off = align_up(l.tokens_off + l.tokens_bytes);
    l.matrix_bytes = matrix_bytes;
    l.hidden_off = align_up(l.matrix_off + l.matrix_bytes);
    l.chunk_bytes = (uint64_t)n_scored * (uint64_t)n_embd * 4;
    l.crcs_off = add_sat(l.hidden_off, mul_sat(l.chunk_bytes, (uint64_t)n_chunks));
    l.total = add_sat(l.crcs_off, 4 * (uint64_t)n_chunks);
    return l;
}

/* ------------------------------------------------------------------ writer */

struct ql_ref_writer {
    ql_ref_format fmt;
    ql_ref_info info;
    ql_outfile *out;
    int64_t n_scored, rows_total, rows_done;
    int64_t row_in_chunk;
    uint32_t chunk_crc;
    uint32_t *chunk_crcs;
    uint8_t header[QL_REF_HEADER_SIZE];
    layout lay;
    uint16_t *llama_row;
    int64_t llama_row_len;
};

static ql_status write_zeros(ql_outfile *o, uint64_t n, ql_error *err) {
    static const uint8_t zeros[ALIGN];
    while (n > 0) {
        size_t k = n < ALIGN ? (size_t)n : ALIGN;
        ql_status st = ql_outfile_write(o, zeros, k, err);
        if (st) return st;
        n -= k;
    }
    return QL_OK;
}

ql_status ql_ref_writer_open(const char *path, ql_ref_format fmt, const ql_ref_info *info,
                             const int32_t *tokens, const ql_matrix *output, ql_ref_writer **out,
                             ql_error *err) {
    *out = NULL;
    if (info->n_ctx < 4 || info->n_ctx > INT32_MAX || info->n_chunks < 1 ||
        info->n_chunks > INT32_MAX || info->n_vocab < 1 || info->n_vocab > INT32_MAX)
        return ql_fail(err, QL_ERR_ARG, "%s: invalid reference dimensions", path);
    if (fmt == QL_REF_QLENS &&
        (!output || output->n_out != info->n_vocab || output->n_in != info->n_embd))
        return ql_fail(err, QL_ERR_ARG, "%s: output matrix does not match the reference", path);
    ql_ref_writer *w = calloc(1, sizeof *w);
    if (!w) return ql_fail(err, QL_ERR_NOMEM, "out of memory");
    w->fmt = fmt;
    w->info = *info;
    w->n_scored = info->n_ctx - 1 - info->n_ctx / 2;
    w->rows_total = w->n_scored * info->n_chunks;
    const size_t n_tokens = (size_t)(info->n_ctx * info->n_chunks);
    ql_status st = ql_outfile_open(path, &w->out, err);
    if (st) {
        free(w);
        return st;
    }
    if (fmt == QL_REF_LLAMA) {
        w->llama_row_len = ql_kld_llama_row_len(info->n_vocab);
        w->llama_row = malloc((size_t)w->llama_row_len * sizeof *w->llama_row);
        uint8_t h[LLAMA_HEADER];
        memcpy(h, LLAMA_MAGIC, 8);
        put32(h + 8, (uint32_t)info->n_ctx);
        put32(h + 12, (uint32_t)info->n_vocab);
        put32(h + 16, (uint32_t)info->n_chunks);
        if (!w->llama_row) st = ql_fail(err, QL_ERR_NOMEM, "out of memory");
        if (!st) st = ql_outfile_write(w->out, h, sizeof h, err);
        if (!st) st = ql_outfile_write(w->out, tokens, n_tokens * 4, err);
    } else {
        w->chunk_crcs = calloc((size_t)info->n_chunks, sizeof *w->chunk_crcs);
        if (!w->chunk_crcs) st = ql_fail(err, QL_ERR_NOMEM, "out of memory");
        const uint64_t matrix_bytes = (uint64_t)output->row_bytes * (uint64_t)output->n_out;
        w->lay = layout_of(info->n_ctx, info->n_chunks, w->n_scored, info->n_embd, matrix_bytes);
        uint8_t *h = w->header;
        memcpy(h, QL_REF_MAGIC, 8);
        put32(h + H_VERSION, QL_REF_VERSION);
        put32(h + H_HEADER_SIZE, QL_REF_HEADER_SIZE);
        put32(h + H_N_CTX, (uint32_t)info->n_ctx);
        put32(h + H_N_CHUNKS, (uint32_t)info->n_chunks);
        put32(h + H_N_SCORED, (uint32_t)w->n_scored);
        put32(h + H_FLAGS, info->replace_bos ? 1u : 0u);
        put32(h + H_BOS, (uint32_t)info->bos_id);
        put32(h + H_OUT_TYPE, (uint32_t)output->type);
        put64(h + H_N_VOCAB, (uint64_t)info->n_vocab);
        put64(h + H_N_EMBD, (uint64_t)info->n_embd);
        uint32_t softcap_bits;
        memcpy(&softcap_bits, &info->final_softcap, 4);
        put32(h + H_SOFTCAP, softcap_bits);
        put64(h + H_FINGERPRINT, info->vocab_fingerprint);
        put64(h + H_MODEL_BYTES, info->model_bytes);
        put64(h + H_TOKENS_OFF, w->lay.tokens_off);
        put64(h + H_TOKENS_BYTES, w->lay.tokens_bytes);
        put64(h + H_MATRIX_OFF, w->lay.matrix_off);
        put64(h + H_MATRIX_BYTES, w->lay.matrix_bytes);
        put64(h + H_HIDDEN_OFF, w->lay.hidden_off);
        put64(h + H_CHUNK_BYTES, w->lay.chunk_bytes);
        put64(h + H_CRCS_OFF, w->lay.crcs_off);
        put32(h + H_TOKENS_CRC, ql_crc32(0, tokens, n_tokens * 4));
        put32(h + H_MATRIX_CRC, ql_crc32(0, output->data, (size_t)matrix_bytes));
        put_text(h + H_ARCH, info->arch, 32);
        put_text(h + H_NAME, info->model_name, 128);
        put_text(h + H_CONFIG, info->config, 256);
        put32(h + H_N_UBATCH, (uint32_t)info->n_ubatch);
        put32(h + H_KERNELS, (info->repacked ? 1u : 0u) | (info->f16_dot_half ? 2u : 0u) |
                                 (output->never_repacked ? 4u : 0u));
        /* the header is final only at finish (chunk CRCs); write it now as a placeholder */
        if (!st) st = ql_outfile_write(w->out, h, QL_REF_HEADER_SIZE, err);
        if (!st) st = ql_outfile_write(w->out, tokens, n_tokens * 4, err);
        if (!st)
            st = write_zeros(w->out, w->lay.matrix_off - (w->lay.tokens_off + w->lay.tokens_bytes),
                             err);
        if (!st) st = ql_outfile_write(w->out, output->data, (size_t)matrix_bytes, err);
        if (!st)
            st = write_zeros(w->out, w->lay.hidden_off - (w->lay.matrix_off + matrix_bytes), err);
    }
    if (st) {
        ql_ref_writer_free(w);
        return st;
    }
    *out = w;
    return QL_OK;
}

ql_status ql_ref_writer_add(ql_ref_writer *w, const float *hidden, const float *logits,
                            int64_t n_rows, ql_error *err) {
    if (w->rows_done + n_rows > w->rows_total)
        return ql_fail(err, QL_ERR_INTERNAL, "more scored rows than the reference declares");
    for (int64_t r = 0; r < n_rows; r++) {
        ql_status st;
        if (w->fmt == QL_REF_LLAMA) {
            ql_kld_encode_llama_row(logits + r * w->info.n_vocab, w->info.n_vocab, w->llama_row);
            st = ql_outfile_write(w->out, w->llama_row, (size_t)w->llama_row_len * 2, err);
        } else {
            const float *h = hidden + r * w->info.n_embd;
            const size_t n = (size_t)w->info.n_embd * sizeof(float);
            w->chunk_crc = ql_crc32(w->chunk_crc, h, n);
            st = ql_outfile_write(w->out, h, n, err);
        }
        if (st) return st;
        w->rows_done++;
        if (++w->row_in_chunk == w->n_scored) {
            if (w->chunk_crcs) w->chunk_crcs[(w->rows_done - 1) / w->n_scored] = w->chunk_crc;
            w->chunk_crc = 0;
            w->row_in_chunk = 0;
        }
    }
    return QL_OK;
}

ql_status ql_ref_writer_finish(ql_ref_writer *w, ql_error *err) {
    if (w->rows_done != w->rows_total)
        return ql_fail(err, QL_ERR_INTERNAL, "reference incomplete: %lld of %lld rows written",
                       (long long)w->rows_done, (long long)w->rows_total);
    ql_status st = QL_OK;
    if (w->fmt == QL_REF_QLENS) {
        const size_t n = (size_t)w->info.n_chunks * 4;
        uint8_t *table = malloc(n);
        if (!table) return ql_fail(err, QL_ERR_NOMEM, "out of memory");
        for (int64_t c = 0; c < w->info.n_chunks; c++) put32(table + 4 * c, w->chunk_crcs[c]);
        st = ql_outfile_write(w->out, table, n, err);
        put32(w->header + H_CRCS_CRC, ql_crc32(0, table, n));
        free(table);
        put32(w->header + H_HEADER_CRC, ql_crc32(0, w->header, H_HEADER_CRC));
        if (!st) st = ql_outfile_pwrite(w->out, w->header, QL_REF_HEADER_SIZE, 0, err);
    }
    if (st) return st;
    st = ql_outfile_commit(w->out, err);
    w->out = NULL;
    return st;
}

void ql_ref_writer_free(ql_ref_writer *w) {
    if (!w) return;
    ql_outfile_abort(w->out);
    free(w->chunk_crcs);
    free(w->llama_row);
    free(w);
}

/* ------------------------------------------------------------------ reader */

struct ql_ref_file {
    ql_ref_format fmt;
    ql_ref_info info;
    const uint8_t *base;
    uint64_t size;
    int64_t n_scored;
    const int32_t *tokens;
    ql_matrix output;
    uint64_t hidden_off, chunk_bytes;
    int64_t llama_row_len;
    uint64_t rows_off;
    int32_t *tokens_copy; /* aligned copy when the mapping's offset is not 4-aligned */
    bool mapped;          /* base is an mmap (else a malloc'd copy, see ql_ref_open_memory) */
    bool held;            /* an input no output may replace while it is open */
    uint64_t dev, ino;
};

static ql_status bad(const char *path, ql_error *err, const char *fmt, const char *what) {
    return ql_fail(err, QL_ERR_FORMAT, fmt, path, what);
}

static ql_status check_tokens(const ql_ref_file *f, const char *path, ql_error *err) {
    const int64_t n = f->info.n_ctx * f->info.n_chunks;
    for (int64_t i = 0; i < n; i++)
        if (f->tokens[i] < 0 || f->tokens[i] >= f->info.n_vocab)
            return ql_fail(err, QL_ERR_FORMAT,
                           "%s: token %lld is %d, outside the vocabulary of %lld", path,
                           (long long)i, f->tokens[i], (long long)f->info.n_vocab);
    return QL_OK;
}

static ql_status parse_llama(ql_ref_file *f, const char *path, ql_error *err) {
    if (f->size < LLAMA_HEADER)
        return bad(path, err, "%s: truncated llama.cpp logits file (%s)", "header");
    const uint32_t n_ctx = get32(f->base + 8);
    const int32_t n_vocab = (int32_t)get32(f->base + 12), n_chunk = (int32_t)get32(f->base + 16);
    if (n_ctx < 4 || n_ctx > (1u << 24) || n_vocab < 1 || n_chunk < 1)
        return ql_fail(err, QL_ERR_FORMAT,
                       "%s: implausible header (n_ctx %u, n_vocab %d, n_chunk %d)", path, n_ctx,
                       n_vocab, n_chunk);
    f->info.n_ctx = n_ctx;
    f->info.n_vocab = n_vocab;
    f->info.n_chunks = n_chunk;
    f->n_scored = (int64_t)n_ctx - 1 - n_ctx / 2;
    f->llama_row_len = ql_kld_llama_row_len(n_vocab);
    const uint64_t tokens_bytes = (uint64_t)n_ctx * (uint64_t)n_chunk * 4; /* < 2^57 */
    const uint64_t rows_bytes =
        mul_sat(mul_sat((uint64_t)n_chunk, (uint64_t)f->n_scored), (uint64_t)f->llama_row_len * 2);
    const uint64_t expect = add_sat(LLAMA_HEADER + tokens_bytes, rows_bytes);
    if (expect == UINT64_MAX)
        return ql_fail(err, QL_ERR_FORMAT,
                       "%s: implausible header (n_ctx %u, n_vocab %d, n_chunk %d need more than "
                       "2^64 bytes)",
                       path, n_ctx, n_vocab, n_chunk);
    if (f->size != expect)
        return ql_fail(err, QL_ERR_FORMAT,
                       "%s: %s: %llu bytes, but its header (n_ctx %u, n_vocab %d, %d chunks) needs "
                       "%llu",
                       path, f->size < expect ? "truncated" : "trailing data",
                       (unsigned long long)f->size, n_ctx, n_vocab, n_chunk,
                       (unsigned long long)expect);
    f->tokens_copy = malloc((size_t)tokens_bytes);
    if (!f->tokens_copy) return ql_fail(err, QL_ERR_NOMEM, "out of memory");
    memcpy(f->tokens_copy, f->base + LLAMA_HEADER, (size_t)tokens_bytes);
    f->tokens = f->tokens_copy;
    f->rows_off = LLAMA_HEADER + tokens_bytes;
    return check_tokens(f, path, err);
}

static ql_status parse_qlens(ql_ref_file *f, const char *path, ql_error *err) {
    const uint8_t *h = f->base;
    if (f->size < QL_REF_HEADER_SIZE)
        return bad(path, err, "%s: truncated reference file (%s)", "header");
    if (get32(h + H_HEADER_CRC) != ql_crc32(0, h, H_HEADER_CRC))
        return bad(path, err, "%s: corrupted reference file (%s checksum mismatch)", "header");
    const uint32_t version = get32(h + H_VERSION);
    if (version < 1 || version > QL_REF_VERSION || get32(h + H_HEADER_SIZE) != QL_REF_HEADER_SIZE)
        return ql_fail(err, QL_ERR_UNSUPPORTED,
                       "%s: reference format version %u is not supported (this qlens reads "
                       "versions 1 to %d)",
                       path, version, QL_REF_VERSION);
    ql_ref_info *in = &f->info;
    in->n_ctx = get32(h + H_N_CTX);
    in->n_chunks = get32(h + H_N_CHUNKS);
    f->n_scored = get32(h + H_N_SCORED);
    in->replace_bos = get32(h + H_FLAGS) & 1u;
    in->bos_id = (int32_t)get32(h + H_BOS);
    const uint32_t out_type = get32(h + H_OUT_TYPE);
    in->n_vocab = (int64_t)get64(h + H_N_VOCAB);
    in->n_embd = (int64_t)get64(h + H_N_EMBD);
    const uint32_t softcap_bits = get32(h + H_SOFTCAP);
    memcpy(&in->final_softcap, &softcap_bits, 4);
    in->vocab_fingerprint = get64(h + H_FINGERPRINT);
    in->model_bytes = get64(h + H_MODEL_BYTES);
    get_text(in->arch, h + H_ARCH, 32);
    get_text(in->model_name, h + H_NAME, 128);
    get_text(in->config, h + H_CONFIG, 256);
    const uint32_t kernels = version >= 2 ? get32(h + H_KERNELS) : 1u;
    in->n_ubatch = version >= 2 ? get32(h + H_N_UBATCH) : 512;
    in->repacked = kernels & 1u;
    in->f16_dot_half = kernels & 2u;
    in->output_never_repacked = kernels & 4u;
    const ql_type_traits *tt = ql_type_traits_get((int)out_type);
    if (in->n_ctx < 4 || in->n_ctx > (1 << 24) || in->n_chunks < 1 || in->n_chunks > (1 << 24) ||
        f->n_scored != in->n_ctx - 1 - in->n_ctx / 2 || in->n_vocab < 1 ||
        in->n_vocab > (1 << 26) || in->n_embd < 1 || in->n_embd > (1 << 20) || !tt ||
        !ql_type_is_computable((int)out_type) || in->n_embd % tt->block_size != 0)
        return bad(path, err, "%s: corrupted reference file (%s out of range)", "dimensions");
    const uint64_t matrix_bytes =
        ql_row_size((ql_type)out_type, in->n_embd) * (uint64_t)in->n_vocab;
    const layout l = layout_of(in->n_ctx, in->n_chunks, f->n_scored, in->n_embd, matrix_bytes);
    if (l.total == UINT64_MAX)
        return bad(path, err, "%s: corrupted reference file (%s out of range)", "dimensions");
    if (get64(h + H_TOKENS_OFF) != l.tokens_off || get64(h + H_TOKENS_BYTES) != l.tokens_bytes ||
        get64(h + H_MATRIX_OFF) != l.matrix_off || get64(h + H_MATRIX_BYTES) != l.matrix_bytes ||
        get64(h + H_HIDDEN_OFF) != l.hidden_off || get64(h + H_CHUNK_BYTES) != l.chunk_bytes ||
        get64(h + H_CRCS_OFF) != l.crcs_off)
        return bad(path, err, "%s: corrupted reference file (%s inconsistent)", "section table");
    if (f->size != l.total)
        return ql_fail(err, QL_ERR_FORMAT, "%s: %s: %llu bytes, expected %llu", path,
                       f->size < l.total ? "truncated reference file"
                                         : "trailing data after the reference",
                       (unsigned long long)f->size, (unsigned long long)l.total);
    if (ql_crc32(0, f->base + l.tokens_off, (size_t)l.tokens_bytes) != get32(h + H_TOKENS_CRC))
        return bad(path, err, "%s: corrupted reference file (%s checksum mismatch)", "tokens");
    if (ql_crc32(0, f->base + l.matrix_off, (size_t)l.matrix_bytes) != get32(h + H_MATRIX_CRC))
        return bad(path, err, "%s: corrupted reference file (%s checksum mismatch)",
                   "output matrix");
    const uint8_t *crcs = f->base + l.crcs_off;
    if (ql_crc32(0, crcs, (size_t)in->n_chunks * 4) != get32(h + H_CRCS_CRC))
        return bad(path, err, "%s: corrupted reference file (%s checksum mismatch)", "chunk table");
    for (int64_t c = 0; c < in->n_chunks; c++) {
        const uint8_t *chunk = f->base + l.hidden_off + (uint64_t)c * l.chunk_bytes;
        if (ql_crc32(0, chunk, (size_t)l.chunk_bytes) != get32(crcs + 4 * c))
            return ql_fail(err, QL_ERR_FORMAT,
                           "%s: corrupted reference file (chunk %lld checksum mismatch)", path,
                           (long long)c + 1);
    }
    f->tokens = (const int32_t *)(f->base + l.tokens_off); /* 1024-aligned in a page-aligned map */
    f->output = (ql_matrix){.data = f->base + l.matrix_off,
                            .type = (ql_type)out_type,
                            .n_in = in->n_embd,
                            .n_out = in->n_vocab,
                            .row_bytes = ql_row_size((ql_type)out_type, in->n_embd),
                            .never_repacked = in->output_never_repacked};
    f->hidden_off = l.hidden_off;
    f->chunk_bytes = l.chunk_bytes;
    return check_tokens(f, path, err);
}

/* Detects the format of f->base / f->size and parses it; closes f on failure. */
static ql_status parse_any(ql_ref_file *f, const char *path, ql_ref_file **out, ql_error *err) {
    ql_status st;
    if (f->size < 8) {
        st = ql_fail(err, QL_ERR_FORMAT, "%s: %s", path,
                     f->size == 0 ? "empty file, not a reference file"
                                  : "too short to be a reference file");
    } else if (memcmp(f->base, QL_REF_MAGIC, 8) == 0) {
        f->fmt = QL_REF_QLENS;
        st = parse_qlens(f, path, err);
    } else if (memcmp(f->base, LLAMA_MAGIC, 8) == 0) {
        f->fmt = QL_REF_LLAMA;
        st = parse_llama(f, path, err);
    } else {
        st =
            ql_fail(err, QL_ERR_FORMAT,
                    "%s: not a reference file (neither qlens's %s nor llama.cpp's _logits_ format)",
                    path, QL_REF_MAGIC);
    }
    if (st) {
        ql_ref_close(f);
        return st;
    }
    *out = f;
    return QL_OK;
}

ql_status ql_ref_open(const char *path, ql_ref_file **out, ql_error *err) {
    *out = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return ql_fail(err, QL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return ql_fail(err, QL_ERR_IO, "%s: not a regular file", path);
    }
    ql_ref_file *f = calloc(1, sizeof *f);
    if (!f) {
        close(fd);
        return ql_fail(err, QL_ERR_NOMEM, "out of memory");
    }
    f->size = (uint64_t)sb.st_size;
    if (f->size > 0) {
        void *map = mmap(NULL, f->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            const int e = errno;
            close(fd);
            free(f);
            return ql_fail(err, QL_ERR_IO, "%s: cannot map: %s", path, strerror(e));
        }
        f->base = map;
        f->mapped = true;
    }
    close(fd);
    f->dev = (uint64_t)sb.st_dev;
    f->ino = (uint64_t)sb.st_ino;
    ql_status st = parse_any(f, path, out, err);
    if (!st) {
        f->held = true;
        ql_input_hold(f->dev, f->ino);
    }
    return st;
}

ql_status ql_ref_open_memory(const void *data, size_t size, const char *name, ql_ref_file **out,
                             ql_error *err) {
    *out = NULL;
    if (!name) name = "<memory>";
    ql_ref_file *f = calloc(1, sizeof *f);
    /* a private copy: malloc's alignment holds the int32 tokens and float rows whatever the
     * caller's buffer, and the result does not depend on the buffer outliving it */
    uint8_t *copy = f ? malloc(size ? size : 1) : NULL;
    if (!copy) {
        free(f);
        return ql_fail(err, QL_ERR_NOMEM, "out of memory");
    }
    if (size) memcpy(copy, data, size);
    f->base = copy;
    f->size = size;
    return parse_any(f, name, out, err);
}

void ql_ref_close(ql_ref_file *f) {
    if (!f) return;
    if (f->held) ql_input_release(f->dev, f->ino);
    if (f->mapped)
        munmap((void *)f->base, f->size);
    else
        free((void *)f->base);
    free(f->tokens_copy);
    free(f);
}

ql_ref_format ql_ref_format_of(const ql_ref_file *f) {
    return f->fmt;
}
const ql_ref_info *ql_ref_info_of(const ql_ref_file *f) {
    return &f->info;
}
const int32_t *ql_ref_tokens(const ql_ref_file *f) {
    return f->tokens;
}
int64_t ql_ref_scored_per_chunk(const ql_ref_file *f) {
    return f->n_scored;
}
const ql_matrix *ql_ref_output(const ql_ref_file *f) {
    return f->fmt == QL_REF_QLENS ? &f->output : NULL;
}

const float *ql_ref_hidden(const ql_ref_file *f, int64_t chunk) {
    if (f->fmt != QL_REF_QLENS || chunk < 0 || chunk >= f->info.n_chunks) return NULL;
    return (const float *)(f->base + f->hidden_off + (uint64_t)chunk * f->chunk_bytes);
}

const uint16_t *ql_ref_llama_rows(const ql_ref_file *f, int64_t chunk) {
    if (f->fmt != QL_REF_LLAMA || chunk < 0 || chunk >= f->info.n_chunks) return NULL;
    /* rows start at 20 + 4 n: 2-aligned, which uint16 reads need */
    return (const uint16_t *)(f->base + f->rows_off +
                              (uint64_t)chunk * (uint64_t)f->n_scored * (uint64_t)f->llama_row_len *
                                  2);
}

double ql_ref_bytes_per_token(const ql_ref_file *f) {
    if (f->fmt == QL_REF_LLAMA) return (double)f->llama_row_len * 2.0;
    return (double)f->info.n_embd * 4.0;
}

uint64_t ql_ref_file_bytes(const ql_ref_file *f) {
    return f->size;
}

uint64_t ql_ref_fixed_bytes(const ql_ref_file *f) {
    const double per_token = ql_ref_bytes_per_token(f) * (double)(f->n_scored * f->info.n_chunks);
    return f->size - (uint64_t)per_token;
}
