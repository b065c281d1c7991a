/*
 * runstore.c - see runstore.h. Layout (little-endian): "QLENSRUN", u32
 * version 1, u32 n_ctx, u32 n_chunks, u32 reserved, u64 count, then arrays
 * of count values: f64 kld, f64 nll, f64 nll_base, f32 p_diff, i32
 * position, u8 same_top; then u32 CRC-32 of everything before it.
 */
#include "runstore.h"

#include <stdlib.h>
#include <string.h>

#include "../core/crc32.h"
#include "../core/outfile.h"
#include "../eval/eval.h"

#define RUN_MAGIC "QLENSRUN"
enum { HEADER = 32 };

static size_t payload_size(uint64_t n) {
    return (size_t)n * (8 + 8 + 8 + 4 + 4 + 1);
}

ql_status ql_runstore_write(const char *path, const ql_kld_acc *acc, int64_t n_ctx,
                            int64_t n_chunks, ql_error *err) {
    const uint64_t n = (uint64_t)acc->count;
    const size_t size = HEADER + payload_size(n);
    uint8_t *buf = malloc(size + 4);
    if (!buf) return ql_fail(err, QL_ERR_NOMEM, "out of memory");
    memset(buf, 0, HEADER);
    memcpy(buf, RUN_MAGIC, 8);
    const uint32_t head[4] = {1, (uint32_t)n_ctx, (uint32_t)n_chunks, 0};
    memcpy(buf + 8, head, sizeof head);
    memcpy(buf + 24, &n, 8);
    uint8_t *p = buf + HEADER;
    for (uint64_t i = 0; i < n; i++, p += 8) memcpy(p, &acc->tokens[i].kld, 8);
    for (uint64_t i = 0; i < n; i++, p += 8) memcpy(p, &acc->tokens[i].nll, 8);
    for (uint64_t i = 0; i < n; i++, p += 8) memcpy(p, &acc->tokens[i].nll_base, 8);
    for (uint64_t i = 0; i < n; i++, p += 4) memcpy(p, &acc->tokens[i].p_diff, 4);
    for (uint64_t i = 0; i < n; i++, p += 4) memcpy(p, &acc->positions[i], 4);
    for (uint64_t i = 0; i < n; i++) *p++ = acc->tokens[i].same_top;
    const uint32_t crc = ql_crc32(0, buf, size);
    memcpy(buf + size, &crc, 4);
    ql_outfile *of;
    ql_status st = ql_outfile_open(path, &of, err);
    if (!st) st = ql_outfile_write(of, buf, size + 4, err);
    if (!st)
        st = ql_outfile_commit(of, err);
    else
        ql_outfile_abort(of);
    free(buf);
    return st;
}

ql_status ql_runstore_read(const char *path, ql_kld_acc *acc, int64_t *n_ctx, int64_t *n_chunks,
                           ql_error *err) {
    size_t size = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return ql_fail(err, QL_ERR_IO, "%s: cannot open", path);
    uint8_t *buf = NULL;
    ql_status st = QL_OK;
    if (fseek(f, 0, SEEK_END) != 0) st = ql_fail(err, QL_ERR_IO, "%s: cannot read", path);
    long len = st ? -1 : ftell(f);
    if (len < HEADER + 4) st = ql_fail(err, QL_ERR_FORMAT, "%s: truncated run file", path);
    if (!st) {
        size = (size_t)len;
        buf = malloc(size);
        rewind(f);
        if (!buf || fread(buf, 1, size, f) != size)
            st = ql_fail(err, QL_ERR_IO, "%s: cannot read", path);
    }
    fclose(f);
    uint64_t n = 0;
    uint32_t head[4] = {0};
    if (!st) {
        memcpy(head, buf + 8, sizeof head);
        memcpy(&n, buf + 24, 8);
        uint32_t crc;
        memcpy(&crc, buf + size - 4, 4);
        if (memcmp(buf, RUN_MAGIC, 8) != 0 || head[0] != 1)
            st = ql_fail(err, QL_ERR_FORMAT, "%s: not a qlens run file", path);
        else if (n > (uint64_t)1 << 40 || size != HEADER + payload_size(n) + 4)
            st = ql_fail(err, QL_ERR_FORMAT, "%s: truncated run file", path);
        else if (ql_crc32(0, buf, size - 4) != crc)
            st = ql_fail(err, QL_ERR_FORMAT, "%s: corrupted run file (checksum mismatch)", path);
        else if (head[1] < 4 || head[2] < 1 ||
                 n != (uint64_t)head[2] * (uint64_t)ql_eval_scored_per_chunk(head[1]))
            st = ql_fail(err, QL_ERR_FORMAT, "%s: inconsistent run file", path);
    }
    if (!st) st = ql_kld_acc_init(acc, (int64_t)n, err);
    if (st) {
        free(buf);
        return st;
    }
    const uint8_t *p = buf + HEADER;
    const uint8_t *kld = p, *nll = p + 8 * n, *nllb = p + 16 * n, *pd = p + 24 * n,
                  *pos = p + 28 * n, *top = p + 32 * n;
    for (uint64_t i = 0; i < n && !st; i++) {
        ql_kld_token t;
        int32_t position;
        memcpy(&t.kld, kld + 8 * i, 8);
        memcpy(&t.nll, nll + 8 * i, 8);
        memcpy(&t.nll_base, nllb + 8 * i, 8);
        memcpy(&t.p_diff, pd + 4 * i, 4);
        memcpy(&position, pos + 4 * i, 4);
        t.same_top = top[i] != 0;
        st = ql_kld_acc_add(acc, &t, position, err);
    }
    free(buf);
    if (st) {
        ql_kld_acc_free(acc);
        return st;
    }
    *n_ctx = head[1];
    *n_chunks = head[2];
    return QL_OK;
}
