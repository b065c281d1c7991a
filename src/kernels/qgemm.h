/*
 * qgemm.h - tiled products of quantized weights with quantized activations,
 * the fast path of matmul.c for every quantized weight type (implemented in
 * dot_x86.c; absent from builds without AVX2).
 *
 * Both operands are repacked into "steps" (64 elements for the 32-element
 * block formats, 256 for the k-quants and iq4_xs) laid out for aligned SIMD
 * loads: weights one row at a time into a small panel, activations once per
 * product after the usual run-time quantizer (so they hold exactly the
 * integers ggml's activations hold). A tile function then computes a block
 * of rows x c dot products, each with its own accumulator, over ns steps.
 *
 * Every output element goes through the same sequence of float operations
 * whatever the tile shape, the split of k into chunks (accumulators spilled
 * between chunks are stored and reloaded exactly) or the thread that runs
 * it; the 1 x 1 tile is the SIMD dot product itself. So the tiled product
 * equals the SIMD dot bit for bit, and results do not depend on the thread
 * count.
 */
#ifndef QL_KERNELS_QGEMM_H
#define QL_KERNELS_QGEMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../quant/quant.h"

/* Packs steps [s0, s0 + ns) of a row of n elements (in the row's own block format). */
typedef void (*ql_qpack_fn)(const void *row, int64_t s0, int64_t ns, int64_t n, void *dst);

/* Quantizes and packs steps [s0, s0 + ns) of an f32 row of n elements. */
typedef void (*ql_qquant_fn)(const float *x, int64_t s0, int64_t ns, int64_t n, void *dst);

/* Tile modes: continue from spilled accumulators / spill them instead of finishing. */
enum { QL_QTILE_LOAD = 1, QL_QTILE_STORE = 2 };

/* Most weight rows and activation rows a tile takes; most floats it spills. */
enum { QL_QTILE_MAX_ROWS = 4, QL_QTILE_MAX_COLS = 4 };
enum { QL_QTILE_MAX_SPILL = (QL_QTILE_MAX_ROWS * QL_QTILE_MAX_COLS + 1) * 16 };

/*
 * ns steps of rows x c dot products: w[r] points at row r's packed steps,
 * a[i] at activation row i's. Unless mode has QL_QTILE_STORE, the sums go to
 * res[r * QL_QTILE_MAX_COLS + i]; spill holds spill_floats floats.
 */
typedef void (*ql_qtile_fn)(int64_t ns, const uint8_t *const *w, const uint8_t *const *a,
                            float *spill, int mode, float *res);

typedef struct {
    ql_type act_type;      /* the weight type's vec_dot_type */
    int64_t step;          /* elements per step */
    size_t w_step, a_step; /* bytes of a packed weight / activation step (multiples of 64) */
    int rows;              /* weight rows per tile (<= QL_QTILE_MAX_ROWS) */
    size_t spill_floats;   /* scratch floats a tile of rows x QL_QTILE_MAX_COLS spills */
    ql_qpack_fn pack_w;    /* weight row (the weight type) -> steps */
    ql_qpack_fn pack_a;    /* activation row (act_type) -> steps */
    ql_qquant_fn quant_a;  /* f32 row -> steps: act_type's from_float, then pack_a, same bytes */
    ql_qtile_fn tile[QL_QTILE_MAX_COLS]; /* tile[c - 1]: rows x c */
    const char *impl;                    /* "avx512-vnni" or "avx2" */
} ql_qgemm;

/* NULL where this build has no tiled kernel for the type. */
const ql_qgemm *ql_qgemm_get(ql_type weight_type);

/* The SIMD dot product of a type (the 1 x 1 tile), or NULL. */
ql_vec_dot_fn ql_qdot_get(ql_type weight_type);

/*
 * Whether that dot (and so every tile) repeats the operations of ggml's
 * x86 dot of the type, giving its bits in every build; otherwise it only
 * agrees with the scalar reference to float rounding.
 */
bool ql_qdot_ggml_order(ql_type weight_type);

/* Steps of a row of n elements. */
static inline int64_t ql_qgemm_steps(const ql_qgemm *g, int64_t n) {
    return (n + g->step - 1) / g->step;
}

#endif
