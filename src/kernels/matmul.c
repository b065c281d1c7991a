/*
 * matmul.c - batched matrix products on the thread pool.
 *
 * Two phases, each split across threads: (1) prepare every activation row
 * for the weight type; (2) compute the dot products, split by blocks of
 * weight rows so each thread streams its part of W while the prepared
 * activations stay in cache.
 *
 * Quantized weights take the tiled path of qgemm.h where the build has one
 * and the kernel table's dot is its 1 x 1 tile (so both agree bit for bit):
 * activations are quantized by the run-time quantizer and repacked (phase 1
 * split into row segments, so even one row uses every thread); then, for
 * each block of activation rows, each thread packs a panel of a few groups
 * of weight rows (up to PANEL_BYTES; longer rows go in chunks of steps) and
 * runs tiles of rows x QL_QTILE_MAX_COLS dot products over it, every group
 * against one tile of activations before the next tile (so the activations,
 * the larger operand per step, are read from L1 once per group). A weight
 * block is unpacked once for a whole block of activation rows, and every
 * load in a tile serves several products. Float weights, and builds without
 * the tiled kernels, use one dot product per output element.
 *
 * Either way each output element is computed by exactly one thread in an
 * order that depends on nothing but the operands (see qgemm.h), so the
 * result does not depend on the number of threads.
 */
#include "matmul.h"

#include <string.h>

#include "kernels.h"
#include "kgemm.h"
#include "korder.h"
#include "qgemm.h"

enum { ROW_TILE = 16, COL_TILE = 64 };

/*
 * Tiled path: a block of activation rows is as many as fit in ACT_BLOCK_BYTES
 * (they are reread for every weight panel, so they should stay in L2), at
 * least NC_MIN and at most NC_MAX, or NC_MAX_SPILLED where rows are split
 * into chunks (that sizes the spill area); a weight panel holds PANEL_BYTES
 * (it is reread for every tile, so it should stay in L1) in up to
 * PANEL_GROUPS groups of rows, fewer where a group would get less than
 * PANEL_MIN_STEPS steps; activations are prepared in items of PREP_SEG
 * elements.
 */
enum { ACT_BLOCK_BYTES = 512 * 1024, NC_MIN = 16, NC_MAX = 256, NC_MAX_SPILLED = 64 };
enum { PANEL_BYTES = 24 * 1024, PANEL_GROUPS = 4, PANEL_MIN_STEPS = 4, PREP_SEG = 2048 };

/*
 * The tiled kernel of a type, used only where the kernel table's dot is that
 * kernel's own 1 x 1 tile: a table that prefers another dot (a different
 * accumulation order) keeps the per-element path and its results.
 */
static const ql_qgemm *tiled_kernel(ql_type type) {
    const ql_qgemm *g = ql_qgemm_get(type);
    const ql_matmul_kernel *k = ql_kernel_get(type);
    return g && k && k->dot == ql_qdot_get(type) ? g : NULL;
}

size_t ql_matmul_scratch_size(ql_type type, int64_t n_in, int64_t n_rows, int n_threads) {
    const ql_matmul_kernel *k = ql_kernel_get(type);
    if (!k) return 0;
    size_t need = ql_kernel_act_row_size(k, n_in) * (size_t)n_rows;
    const ql_qgemm *g = tiled_kernel(type);
    /* + 64: packed activations start at the first 64-byte boundary of the scratch */
    if (g) {
        const size_t s = (size_t)ql_qgemm_steps(g, n_in) * g->a_step * (size_t)n_rows + 64;
        if (s > need) need = s;
    }
    if (ql_kg_available(type)) {
        const size_t s = ql_kg_act_bytes(type, n_in) * (size_t)n_rows +
                         ql_kg_panel_bytes(type, n_in) * (size_t)(n_threads > 0 ? n_threads : 1) +
                         64;
        if (s > need) need = s;
    }
    return need;
}

typedef struct {
    const ql_matrix *w;
    const ql_matmul_kernel *k;
    ql_vec_dot_fn dot;
    ql_tile_fn tile;
    int tile_w, tile_x;
    const ql_qgemm *g;
    const float *x;
    int64_t x_stride, n_rows;
    float *y;
    int64_t y_stride;
    char *act;
    size_t act_row;
    int64_t n_steps; /* tiled path: steps per row */
    int64_t o_begin, o_end;
    /* 16-row kernels (kgemm.h): rows [0, kg_split) in kg_order, the rest in kg_tail */
    bool kg, kg_scalar; /* kg_scalar: the same orders one element at a time (no 16-row kernels) */
    ql_kg_order kg_order, kg_tail;
    int64_t kg_split;
    char *panels; /* one panel per thread */
} matmul_job;

/* ---- one dot product per output element ---- */

static void prepare_rows(void *arg, int ith, int nth) {
    matmul_job *j = arg;
    long long r0, r1;
    ql_split_range(j->n_rows, ith, nth, &r0, &r1);
    for (long long r = r0; r < r1; r++)
        j->k->convert(j->x + r * j->x_stride, j->act + (size_t)r * j->act_row, j->w->n_in);
}

static void dot_rows(void *arg, int ith, int nth) {
    matmul_job *j = arg;
    /* split weight rows in whole tiles so thread boundaries do not depend on tile size */
    long long n_tiles = (j->o_end - j->o_begin + ROW_TILE - 1) / ROW_TILE, t0, t1;
    ql_split_range(n_tiles, ith, nth, &t0, &t1);
    const int64_t o_lo = j->o_begin + t0 * ROW_TILE;
    int64_t o_hi = j->o_begin + t1 * ROW_TILE;
    if (o_hi > j->o_end) o_hi = j->o_end;
    const char *wdata = j->w->data;
    for (int64_t c0 = 0; c0 < j->n_rows; c0 += COL_TILE) {
        const int64_t c1 = c0 + COL_TILE < j->n_rows ? c0 + COL_TILE : j->n_rows;
        for (int64_t o0 = o_lo; o0 < o_hi; o0 += ROW_TILE) {
            const int64_t o1 = o0 + ROW_TILE < o_hi ? o0 + ROW_TILE : o_hi;
            if (j->tile) {
                /* register-blocked: same bits as the single dot, fewer stalls */
                const int64_t xs = (int64_t)(j->act_row / sizeof(float));
                for (int64_t c = c0; c < c1; c += j->tile_x) {
                    const int nx = (int)(c + j->tile_x <= c1 ? j->tile_x : c1 - c);
                    for (int64_t o = o0; o < o1; o += j->tile_w) {
                        const int nw = (int)(o + j->tile_w <= o1 ? j->tile_w : o1 - o);
                        j->tile(j->w->n_in, wdata + (size_t)o * j->w->row_bytes, j->w->row_bytes,
                                nw, (const float *)(j->act + (size_t)c * j->act_row), xs, nx,
                                j->y + c * j->y_stride + o, j->y_stride);
                    }
                }
                continue;
            }
            for (int64_t c = c0; c < c1; c++) {
                const char *a = j->act + (size_t)c * j->act_row;
                float *yrow = j->y + c * j->y_stride;
                for (int64_t o = o0; o < o1; o++)
                    j->dot(j->w->n_in, &yrow[o], wdata + (size_t)o * j->w->row_bytes, a);
            }
        }
    }
}

/* ---- tiled quantized path ---- */

static void qgemm_prepare(void *arg, int ith, int nth) {
    matmul_job *j = arg;
    const ql_qgemm *g = j->g;
    const int64_t n = j->w->n_in, n_seg = (n + PREP_SEG - 1) / PREP_SEG;
    long long i0, i1;
    ql_split_range(j->n_rows * n_seg, ith, nth, &i0, &i1);
    for (long long i = i0; i < i1; i++) {
        const int64_t r = i / n_seg, e0 = (i % n_seg) * PREP_SEG;
        const int64_t len = n - e0 < PREP_SEG ? n - e0 : PREP_SEG;
        g->quant_a(j->x + r * j->x_stride, e0 / g->step, ql_qgemm_steps(g, len), n,
                   j->act + (size_t)r * j->act_row + (size_t)(e0 / g->step) * g->a_step);
    }
}

static void qgemm_rows(void *arg, int ith, int nth) {
    matmul_job *j = arg;
    const ql_qgemm *g = j->g;
    const int R = g->rows;
    const int64_t ns = j->n_steps, n_in = j->w->n_in;
    long long g0, g1;
    ql_split_range((j->o_end - j->o_begin + R - 1) / R, ith, nth, &g0, &g1);
    /* row groups per panel: as many as leave PANEL_MIN_STEPS steps each, at most PANEL_GROUPS */
    int n_groups = (int)(PANEL_BYTES / ((int64_t)R * (int64_t)g->w_step * PANEL_MIN_STEPS));
    if (n_groups < 1) n_groups = 1;
    if (n_groups > PANEL_GROUPS) n_groups = PANEL_GROUPS;
    int64_t kc_max = PANEL_BYTES / ((int64_t)n_groups * R * (int64_t)g->w_step);
    if (kc_max < 1) kc_max = 1;

    int64_t nc_block = (int64_t)(ACT_BLOCK_BYTES / j->act_row);
    nc_block -= nc_block % QL_QTILE_MAX_COLS;
    if (nc_block < NC_MIN) nc_block = NC_MIN;
    /* spilled accumulators: one set per tile of the block and row group */
    const int64_t nc_max = ns > kc_max ? NC_MAX_SPILLED : NC_MAX;
    if (nc_block > nc_max) nc_block = nc_max;

    _Alignas(64) unsigned char panel[PANEL_BYTES];
    _Alignas(
        64) float spill[NC_MAX_SPILLED / QL_QTILE_MAX_COLS * PANEL_GROUPS * QL_QTILE_MAX_SPILL];
    float res[QL_QTILE_MAX_ROWS * QL_QTILE_MAX_COLS];
    const char *wdata = j->w->data;

    for (int64_t c0 = 0; c0 < j->n_rows; c0 += nc_block) {
        const int64_t c1 = c0 + nc_block < j->n_rows ? c0 + nc_block : j->n_rows;
        for (long long gb = g0; gb < g1; gb += n_groups) {
            const int ng = g1 - gb < n_groups ? (int)(g1 - gb) : n_groups;
            for (int64_t k0 = 0; k0 < ns; k0 += kc_max) {
                const int64_t kc = ns - k0 < kc_max ? ns - k0 : kc_max;
                const size_t row_bytes = (size_t)kc * g->w_step;
                const unsigned char *wp[PANEL_GROUPS][QL_QTILE_MAX_ROWS];
                int nr[PANEL_GROUPS];
                for (int gi = 0; gi < ng; gi++) {
                    const int64_t o = j->o_begin + (gb + gi) * R;
                    nr[gi] = j->o_end - o < R ? (int)(j->o_end - o) : R;
                    for (int r = 0; r < R; r++) {
                        /* a short last group repeats its last row; those sums are dropped */
                        unsigned char *dst = panel + (size_t)(gi * R + r) * row_bytes;
                        if (r < nr[gi])
                            g->pack_w(wdata + (size_t)(o + r) * j->w->row_bytes, k0, kc, n_in, dst);
                        wp[gi][r] =
                            panel + (size_t)(gi * R + (r < nr[gi] ? r : nr[gi] - 1)) * row_bytes;
                    }
                }
                const int mode = (k0 > 0 ? QL_QTILE_LOAD : 0) | (k0 + kc < ns ? QL_QTILE_STORE : 0);
                for (int64_t c = c0; c < c1; c += QL_QTILE_MAX_COLS) {
                    const int nc = c1 - c < QL_QTILE_MAX_COLS ? (int)(c1 - c) : QL_QTILE_MAX_COLS;
                    const unsigned char *ap[QL_QTILE_MAX_COLS];
                    for (int i = 0; i < nc; i++)
                        ap[i] = (const unsigned char *)j->act + (size_t)(c + i) * j->act_row +
                                (size_t)k0 * g->a_step;
                    /* the activation tile stays in L1 across the panel's row groups */
                    for (int gi = 0; gi < ng; gi++) {
                        float *sp = spill + ((size_t)((c - c0) / QL_QTILE_MAX_COLS) * PANEL_GROUPS +
                                             (size_t)gi) *
                                                g->spill_floats;
                        g->tile[nc - 1](kc, wp[gi], ap, sp, mode, res);
                        if (mode & QL_QTILE_STORE) continue;
                        const int64_t o = j->o_begin + (gb + gi) * R;
                        for (int i = 0; i < nc; i++)
                            for (int r = 0; r < nr[gi]; r++)
                                j->y[(c + i) * j->y_stride + o + r] =
                                    res[r * QL_QTILE_MAX_COLS + i];
                    }
                }
            }
        }
    }
}

/* ---- 16-row kernels (kgemm.h) ---- */

static void kg_prepare(void *arg, int ith, int nth) {
    matmul_job *j = arg;
    long long r0, r1;
    ql_split_range(j->n_rows, ith, nth, &r0, &r1);
    for (long long r = r0; r < r1; r++)
        ql_kg_prepare(j->w->type, j->x + r * j->x_stride, j->w->n_in,
                      j->act + (size_t)r * j->act_row);
}

static void kg_rows(void *arg, int ith, int nth) {
    matmul_job *j = arg;
    const ql_matrix *w = j->w;
    long long g0, g1;
    ql_split_range((j->o_end - j->o_begin + QL_KG_ROWS - 1) / QL_KG_ROWS, ith, nth, &g0, &g1);
    char *panel = j->panels + (size_t)ith * ql_kg_panel_bytes(w->type, w->n_in);
    for (long long gi = g0; gi < g1; gi++) {
        const int64_t o = j->o_begin + gi * QL_KG_ROWS;
        const int nr = j->o_end - o < QL_KG_ROWS ? (int)(j->o_end - o) : QL_KG_ROWS;
        ql_kg_pack(w->type, (const char *)w->data + (size_t)o * w->row_bytes, w->row_bytes, nr,
                   w->n_in, panel);
        if (j->kg_split > 0)
            ql_kg_run(w->type, j->kg_order, panel, w->n_in, j->act, j->act_row, (int)j->kg_split,
                      j->y + o, j->y_stride, nr);
        if (j->kg_split < j->n_rows)
            ql_kg_run(w->type, j->kg_tail, panel, w->n_in,
                      j->act + (size_t)j->kg_split * j->act_row, j->act_row,
                      (int)(j->n_rows - j->kg_split), j->y + j->kg_split * j->y_stride + o,
                      j->y_stride, nr);
    }
}

static const ql_kernel_profile *profile_or_default(const ql_kernel_profile *prof,
                                                   ql_kernel_profile *def);

/* ---- which of llama.cpp's paths a product takes ---- */

/* Whether llama.cpp's CPU backend repacks a weight matrix of this type (its default). */
static bool repacked(const ql_kernel_profile *prof, const ql_matrix *w) {
    if (!prof->repack || w->never_repacked || w->n_out % 8 != 0) return false;
    switch (w->type) {
    case QL_TYPE_Q4_0:
    case QL_TYPE_IQ4_NL:
    case QL_TYPE_Q4_K:
        return true;
#if defined(__AVX512F__)
    case QL_TYPE_Q2_K:
        return true;
#endif
    default:
        return false;
    }
}

static bool is_kquant(ql_type t) {
    return t == QL_TYPE_Q2_K || t == QL_TYPE_Q3_K || t == QL_TYPE_Q4_K || t == QL_TYPE_Q5_K ||
           t == QL_TYPE_Q6_K || t == QL_TYPE_IQ4_XS;
}

/* The scalar statement of an order (korder.h), for builds without the 16-row kernels. */
static ql_vec_dot_fn korder_dot(ql_type t, ql_kg_order order) {
    switch (order) {
    case QL_KG_GEMM:
        return t == QL_TYPE_Q4_K ? ql_korder_q4_K_gemm : ql_korder_q2_K_gemm;
    case QL_KG_GEMV:
        return t == QL_TYPE_Q4_K ? ql_korder_q4_K_gemv : ql_korder_q2_K_gemv;
    case QL_KG_BLOCKS:
        return t == QL_TYPE_Q4_0 ? ql_korder_q4_0_repack : ql_korder_iq4_nl_repack;
    case QL_KG_TILED:
        break;
    }
    switch (t) {
    case QL_TYPE_Q2_K:
        return ql_korder_q2_K_tiled;
    case QL_TYPE_Q3_K:
        return ql_korder_q3_K_tiled;
    case QL_TYPE_Q4_K:
        return ql_korder_q4_K_tiled;
    case QL_TYPE_Q5_K:
        return ql_korder_q5_K_tiled;
    case QL_TYPE_Q6_K:
        return ql_korder_q6_K_tiled;
    default:
        return ql_korder_iq4_xs_tiled;
    }
}

static ql_vec_dot_fn korder_vec(ql_type t) {
    switch (t) {
    case QL_TYPE_Q2_K:
        return ql_korder_q2_K_vec;
    case QL_TYPE_Q3_K:
        return ql_korder_q3_K_vec;
    case QL_TYPE_Q4_K:
        return ql_korder_q4_K_vec;
    case QL_TYPE_Q5_K:
        return ql_korder_q5_K_vec;
    case QL_TYPE_Q6_K:
        return ql_korder_q6_K_vec;
    default:
        return ql_korder_iq4_xs_vec;
    }
}

/*
 * The job for rows batch_row0 .. batch_row0 + n_rows of a product of
 * batch_rows rows, as ggml would compute it on this CPU:
 *   - repacked weights (q4_0, iq4_nl: a multiply-add per block, any batch;
 *     q4_K, q2_K: the 8x8 tiles, rows in groups of four, the last n % 4
 *     rows and batches of at most 3 through the one-row form);
 *   - other k-quants: the tiled kernel from 8 rows on, else vec_dot;
 *   - everything else: tinyBLAS or vec_dot as before (kernels.h).
 */
static matmul_job make_job(const ql_kernel_profile *prof, const ql_matrix *w, const float *x,
                           int64_t x_stride, int64_t n_rows, int64_t batch_rows, int64_t batch_row0,
                           float *y, int64_t y_stride, void *scratch, int n_threads,
                           int64_t o_begin, int64_t o_end, bool expert) {
    const ql_matmul_kernel *k = ql_kernel_get(w->type);
    /* MUL_MAT_ID never hands a product to tinyBLAS */
    const bool batched = !expert && ql_kernel_batched(k, w->n_out, w->n_in, batch_rows);
    const bool half = prof->f16_dot_half;
    matmul_job job = {
        .w = w,
        .k = k,
        .dot = batched ? k->dot
               : half  ? k->dot_single_half
                       : k->dot_single,
        .tile = batched ? k->tile
                : half  ? k->tile_single_half
                        : k->tile_single,
        .tile_w = batched ? k->tile_w
                  : half  ? k->tile_single_half_w
                          : k->tile_single_w,
        .tile_x = batched ? k->tile_x
                  : half  ? k->tile_single_half_x
                          : k->tile_single_x,
        .g = tiled_kernel(w->type),
        .x = x,
        .x_stride = x_stride,
        .n_rows = n_rows,
        .y = y,
        .y_stride = y_stride,
        .act = scratch,
        .o_begin = o_begin,
        .o_end = o_end,
    };
    const bool repack = repacked(prof, w);
    bool kg = false;
    ql_kg_order order = QL_KG_TILED, tail = QL_KG_TILED;
    int64_t split = n_rows;
    if (repack && (w->type == QL_TYPE_Q4_0 || w->type == QL_TYPE_IQ4_NL)) {
        kg = true;
        order = tail = QL_KG_BLOCKS;
    } else if (repack) {
        kg = true;
        order = QL_KG_GEMM;
        tail = QL_KG_GEMV;
        /* the repacked MUL_MAT_ID takes every routed row through the one-row form */
        const int64_t gemm_rows = !expert && batch_rows > 3 ? batch_rows - batch_rows % 4 : 0;
        split = gemm_rows - batch_row0;
        split = split < 0 ? 0 : split > n_rows ? n_rows : split;
    } else if (is_kquant(w->type)) {
        if (batch_rows >= 8)
            kg = true;
        else
            job.dot = korder_vec(w->type);
        job.g = NULL;
        job.tile = NULL;
    }
    if (kg && ql_kg_available(w->type)) {
        job.kg = true;
        job.kg_order = order;
        job.kg_tail = tail;
        job.kg_split = split;
        job.g = NULL;
        job.act = (char *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
        job.act_row = ql_kg_act_bytes(w->type, w->n_in);
        job.panels = job.act + (size_t)n_rows * job.act_row;
        (void)n_threads;
        return job;
    }
    if (kg) {
        /* no 16-row kernels in this build: the same order one element at a time */
        job.g = NULL;
        job.tile = NULL;
        job.dot = korder_dot(w->type, order);
        job.kg_scalar = true;
        job.kg_order = order;
        job.kg_tail = tail;
        job.kg_split = split;
    }
    if (job.g) {
        job.act = (char *)(((uintptr_t)scratch + 63) & ~(uintptr_t)63);
        job.n_steps = ql_qgemm_steps(job.g, w->n_in);
        job.act_row = (size_t)job.n_steps * job.g->a_step;
    } else {
        job.act_row = ql_kernel_act_row_size(k, w->n_in);
    }
    return job;
}

ql_vec_dot_fn ql_matmul_spec_dot(const ql_kernel_profile *prof, const ql_matrix *w,
                                 int64_t batch_rows, int64_t row) {
    ql_kernel_profile def;
    if (!prof) prof = profile_or_default(NULL, &def);
    matmul_job j =
        make_job(prof, w, NULL, 0, 1, batch_rows, row, NULL, 0, NULL, 1, 0, w->n_out, false);
    if (j.kg || j.kg_scalar) return korder_dot(w->type, j.kg_split > 0 ? j.kg_order : j.kg_tail);
    return j.dot;
}

static void run_job(ql_pool *pool, matmul_job *job) {
    if (job->kg) {
        ql_pool_run(pool, kg_prepare, job);
        ql_pool_run(pool, kg_rows, job);
        return;
    }
    if (job->g) {
        ql_pool_run(pool, qgemm_prepare, job);
        ql_pool_run(pool, qgemm_rows, job);
        return;
    }
    ql_pool_run(pool, prepare_rows, job);
    if (job->kg_scalar && job->kg_split < job->n_rows && job->kg_tail != job->kg_order) {
        /* the scalar form of a split order: the tail rows are a product of their own */
        matmul_job tail = *job;
        tail.dot = korder_dot(job->w->type, job->kg_tail);
        tail.x += job->kg_split * job->x_stride;
        tail.y += job->kg_split * job->y_stride;
        tail.act += (size_t)job->kg_split * job->act_row;
        tail.n_rows = job->n_rows - job->kg_split;
        job->n_rows = job->kg_split;
        ql_pool_run(pool, dot_rows, job);
        ql_pool_run(pool, dot_rows, &tail);
        return;
    }
    ql_pool_run(pool, dot_rows, job);
}

static const ql_kernel_profile *profile_or_default(const ql_kernel_profile *prof,
                                                   ql_kernel_profile *def) {
    if (prof) return prof;
    *def = ql_kernel_profile_default();
    return def;
}

static void run_matmul(ql_pool *pool, const ql_kernel_profile *prof, const ql_matrix *w,
                       const float *x, int64_t x_stride, int64_t n_rows, int64_t batch_rows,
                       int64_t batch_row0, float *y, int64_t y_stride, void *scratch, bool expert) {
    ql_kernel_profile def;
    prof = profile_or_default(prof, &def);
    matmul_job job = make_job(prof, w, x, x_stride, n_rows, batch_rows, batch_row0, y, y_stride,
                              scratch, ql_pool_size(pool), 0, w->n_out, expert);
    run_job(pool, &job);
}

/*
 * Several products of one activation matrix: one preparation, then
 * every thread takes its share of each product's rows in one pool run.
 */
typedef struct {
    matmul_job job[QL_MATMUL_MULTI_MAX];
    int n;
} multi_job;

static void qgemm_rows_multi(void *arg, int ith, int nth) {
    multi_job *mj = arg;
    for (int i = 0; i < mj->n; i++) qgemm_rows(&mj->job[i], ith, nth);
}

static void kg_rows_multi(void *arg, int ith, int nth) {
    multi_job *mj = arg;
    for (int i = 0; i < mj->n; i++) kg_rows(&mj->job[i], ith, nth);
}

void ql_matmul_multi(ql_pool *pool, const ql_kernel_profile *prof, int n_mats,
                     const ql_matrix *const *w, const float *x, int64_t x_stride, int64_t n_rows,
                     float *const *y, const int64_t *y_stride, void *scratch) {
    ql_kernel_profile def;
    prof = profile_or_default(prof, &def);
    multi_job mj = {.n = n_mats};
    bool shared = n_mats <= QL_MATMUL_MULTI_MAX;
    for (int i = 0; i < n_mats && shared; i++) {
        mj.job[i] = make_job(prof, w[i], x, x_stride, n_rows, n_rows, 0, y[i], y_stride[i], scratch,
                             ql_pool_size(pool), 0, w[i]->n_out, false);
        /* one preparation serves all when they are the same kind of product */
        shared = (mj.job[i].g || mj.job[i].kg) && w[i]->type == w[0]->type &&
                 w[i]->n_in == w[0]->n_in && mj.job[i].kg == mj.job[0].kg;
    }
    if (!shared) {
        for (int i = 0; i < n_mats; i++)
            ql_matmul(pool, prof, w[i], x, x_stride, n_rows, y[i], y_stride[i], scratch);
        return;
    }
    if (mj.job[0].kg) {
        ql_pool_run(pool, kg_prepare, &mj.job[0]);
        ql_pool_run(pool, kg_rows_multi, &mj);
        return;
    }
    ql_pool_run(pool, qgemm_prepare, &mj.job[0]);
    ql_pool_run(pool, qgemm_rows_multi, &mj);
}

void ql_matmul_part(ql_pool *pool, const ql_kernel_profile *prof, const ql_matrix *w,
                    const float *x, int64_t x_stride, int64_t n_rows, int64_t batch_rows,
                    int64_t batch_row0, float *y, int64_t y_stride, void *scratch) {
    run_matmul(pool, prof, w, x, x_stride, n_rows, batch_rows, batch_row0, y, y_stride, scratch,
               false);
}

void ql_matmul(ql_pool *pool, const ql_kernel_profile *prof, const ql_matrix *w, const float *x,
               int64_t x_stride, int64_t n_rows, float *y, int64_t y_stride, void *scratch) {
    run_matmul(pool, prof, w, x, x_stride, n_rows, n_rows, 0, y, y_stride, scratch, false);
}

void ql_matmul_expert(ql_pool *pool, const ql_kernel_profile *prof, const ql_matrix *w,
                      const float *x, int64_t x_stride, int64_t n_rows, float *y, int64_t y_stride,
                      void *scratch) {
    run_matmul(pool, prof, w, x, x_stride, n_rows, n_rows, 0, y, y_stride, scratch, true);
}

ql_vec_dot_fn ql_matmul_expert_spec_dot(const ql_kernel_profile *prof, const ql_matrix *w,
                                        int64_t n_rows) {
    ql_kernel_profile def;
    if (!prof) prof = profile_or_default(NULL, &def);
    matmul_job j = make_job(prof, w, NULL, 0, 1, n_rows, 0, NULL, 0, NULL, 1, 0, w->n_out, true);
    if (j.kg || j.kg_scalar) return korder_dot(w->type, j.kg_split > 0 ? j.kg_order : j.kg_tail);
    return j.dot;
}
