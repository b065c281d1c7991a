/*
 * kvcells.h - which cell of a KV cache each token's K and V go to, as
 * llama.cpp's llama_kv_cache places them for one sequence (find_slot and
 * apply_ubatch), so that attention sees the keys in llama.cpp's order.
 *
 * Attention visits a cache's cells in order, and ggml's online softmax
 * rounds differently for another order of the same keys. A full-attention
 * cache holds position p in cell p. A sliding-window cache (gemma3's local
 * layers) holds only its window plus a micro-batch - llama.cpp sizes it
 * ggml_pad(min(n_ctx, n_swa + n_ubatch), 256) - and reuses the cells of
 * positions that left every query's window: past that size, cells no
 * longer follow positions.
 */
#ifndef QL_MODEL_KVCELLS_H
#define QL_MODEL_KVCELLS_H

#include <stdbool.h>
#include <stdint.h>

#include "../core/status.h"

typedef struct {
    int64_t size;  /* cells */
    int64_t n_swa; /* > 0: a sliding-window cache (cells of positions out of the window reusable) */
    int32_t *pos;  /* per cell, -1 when empty */
    int64_t head, used, used_max_p1;
    int64_t pos_min, pos_max; /* of the occupied cells; -1 when none */
} ql_kv_cells;

/* llama.cpp's cell counts for a context of n_ctx tokens per sequence. */
int64_t ql_kv_cells_size_full(int64_t n_ctx);
int64_t ql_kv_cells_size_swa(int64_t n_ctx, int64_t n_swa, int64_t n_ubatch);

ql_status ql_kv_cells_init(ql_kv_cells *c, int64_t size, int64_t n_swa, ql_error *err);
void ql_kv_cells_free(ql_kv_cells *c);
/* A new sequence: every cell empty, the head at 0. */
void ql_kv_cells_clear(ql_kv_cells *c);

/*
 * Places the n tokens at positions p0 .. p0 + n - 1 (following the cached
 * ones); cells[i] gets token i's cell. False if they do not fit.
 */
bool ql_kv_cells_place(ql_kv_cells *c, int64_t p0, int64_t n, int32_t *cells);

/* The cells attention scans after the last placement (llama.cpp's n_kv, padded to 256). */
int64_t ql_kv_cells_n_kv(const ql_kv_cells *c);

#endif
