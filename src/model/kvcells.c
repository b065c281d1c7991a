/*
 * kvcells.c - llama.cpp's cell placement for one sequence (see kvcells.h).
 */
#include "kvcells.h"

#include <stdlib.h>

static int64_t pad256(int64_t n) {
    return (n + 255) / 256 * 256;
}

int64_t ql_kv_cells_size_full(int64_t n_ctx) {
    /* llama_context: n_ctx_seq padded to 256 */
    return pad256(n_ctx);
}

int64_t ql_kv_cells_size_swa(int64_t n_ctx, int64_t n_swa, int64_t n_ubatch) {
    /* llama_kv_cache_iswa: the window of one sequence plus a micro-batch, padded */
    const int64_t full = ql_kv_cells_size_full(n_ctx);
    return pad256(n_swa + n_ubatch < full ? n_swa + n_ubatch : full);
}

ql_status ql_kv_cells_init(ql_kv_cells *c, int64_t size, int64_t n_swa, ql_error *err) {
    c->size = size;
    c->n_swa = n_swa;
    c->pos = malloc((size_t)size * sizeof *c->pos);
    if (!c->pos)
        return ql_fail(err, QL_ERR_NOMEM, "out of memory for %lld KV cells", (long long)size);
    ql_kv_cells_clear(c);
    return QL_OK;
}

void ql_kv_cells_free(ql_kv_cells *c) {
    free(c->pos);
    c->pos = NULL;
}

void ql_kv_cells_clear(ql_kv_cells *c) {
    for (int64_t i = 0; i < c->size; i++) c->pos[i] = -1;
    c->head = c->used = c->used_max_p1 = 0;
    c->pos_min = c->pos_max = -1;
}

static void recount(ql_kv_cells *c) {
    c->used = 0;
    c->used_max_p1 = 0;
    c->pos_min = c->pos_max = -1;
    for (int64_t i = 0; i < c->size; i++) {
        const int32_t p = c->pos[i];
        if (p < 0) continue;
        c->used++;
        c->used_max_p1 = i + 1;
        if (c->pos_min < 0 || p < c->pos_min) c->pos_min = p;
        if (p > c->pos_max) c->pos_max = p;
    }
}

/*
 * find_slot (tokens one by one, not necessarily contiguous): from the head,
 * or from 0 when enough cells are free before it, wrapping, take every
 * cell that is empty or - in a sliding-window cache - holds a position that
 * the sequence's next token no longer sees; then apply_ubatch: write the
 * positions, drop every cached position up to the highest one overwritten
 * (a sequence's cached positions stay contiguous), and move the head past
 * the last cell used.
 */
bool ql_kv_cells_place(ql_kv_cells *c, int64_t p0, int64_t n, int32_t *cells) {
    if (n > c->size) return false;
    int64_t head = c->head;
    if (head > c->used + 2 * n) head = 0;
    int64_t found = 0, tested = 0;
    while (found < n) {
        if (head + 1 > c->size) {
            tested += c->size - head;
            head = 0;
            continue;
        }
        const int64_t idx = head++;
        tested++;
        const int32_t p = c->pos[idx];
        const bool usable = p < 0 || (c->n_swa > 0 && (c->pos_max + 1) - p >= c->n_swa);
        if (usable) cells[found++] = (int32_t)idx;
        if (found < n && tested >= c->size) return false;
    }
    int64_t max_removed = -1;
    for (int64_t i = 0; i < n; i++) {
        const int32_t old = c->pos[cells[i]];
        if (old > max_removed) max_removed = old;
        c->pos[cells[i]] = (int32_t)(p0 + i);
    }
    /* the new positions all follow the cached ones, so this drops exactly the older ones */
    if (max_removed >= 0)
        for (int64_t i = 0; i < c->size; i++)
            if (c->pos[i] >= 0 && c->pos[i] <= max_removed) c->pos[i] = -1;
    c->head = cells[n - 1] + 1;
    recount(c);
    return true;
}

int64_t ql_kv_cells_n_kv(const ql_kv_cells *c) {
    const int64_t padded = pad256(c->used_max_p1);
    const int64_t n = padded > 256 ? padded : 256;
    return n < c->size ? n : c->size;
}
