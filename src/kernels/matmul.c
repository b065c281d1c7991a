/*
 * matmul.c - batched matrix products on the thread pool.
 *
 * Two phases, each split across threads: (1) prepare every activation row
 * for the weight type (split by rows); (2) compute dot products, split by
 * blocks of weight rows so each thread streams its part of W once while the
 * prepared activations stay in cache. Tiles of ROW_TILE weight rows by
 * COL_TILE activation rows keep both operands hot.
 */
#include "matmul.h"

#include "kernels.h"

enum { ROW_TILE = 16, COL_TILE = 64 };

size_t ql_matmul_scratch_size(ql_type type, int64_t n_in, int64_t n_rows) {
    const ql_matmul_kernel *k = ql_kernel_get(type);
    if (!k) return 0;
    return ql_kernel_act_row_size(k, n_in) * (size_t)n_rows;
}

typedef struct {
    const ql_matrix *w;
    const ql_matmul_kernel *k;
    ql_vec_dot_fn dot;
    ql_tile_fn tile;
    int tile_w, tile_x;
    const float *x;
    int64_t x_stride, n_rows;
    float *y;
    int64_t y_stride;
    char *act;
    size_t act_row;
    int64_t o_begin, o_end;
} matmul_job;

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

static void run_matmul(ql_pool *pool, const ql_matrix *w, const float *x, int64_t x_stride,
                       int64_t n_rows, int64_t batch_rows, float *y, int64_t y_stride,
                       void *scratch, int64_t o_begin, int64_t o_end) {
    const ql_matmul_kernel *k = ql_kernel_get(w->type);
    const bool batched = ql_kernel_batched(k, w->n_out, w->n_in, batch_rows);
    matmul_job job = {
        .w = w,
        .k = k,
        .dot = batched ? k->dot : k->dot_single,
        .tile = batched ? k->tile : k->tile_single,
        .tile_w = batched ? k->tile_w : k->tile_single_w,
        .tile_x = batched ? k->tile_x : k->tile_single_x,
        .x = x,
        .x_stride = x_stride,
        .n_rows = n_rows,
        .y = y,
        .y_stride = y_stride,
        .act = scratch,
        .act_row = ql_kernel_act_row_size(k, w->n_in),
        .o_begin = o_begin,
        .o_end = o_end,
    };
    ql_pool_run(pool, prepare_rows, &job);
    ql_pool_run(pool, dot_rows, &job);
}

void ql_matmul_cols(ql_pool *pool, const ql_matrix *w, const float *x, int64_t x_stride,
                    int64_t n_rows, float *y, int64_t y_stride, void *scratch, int64_t o_begin,
                    int64_t o_end) {
    run_matmul(pool, w, x, x_stride, n_rows, n_rows, y, y_stride, scratch, o_begin, o_end);
}

void ql_matmul_part(ql_pool *pool, const ql_matrix *w, const float *x, int64_t x_stride,
                    int64_t n_rows, int64_t batch_rows, float *y, int64_t y_stride, void *scratch) {
    run_matmul(pool, w, x, x_stride, n_rows, batch_rows, y, y_stride, scratch, 0, w->n_out);
}

void ql_matmul(ql_pool *pool, const ql_matrix *w, const float *x, int64_t x_stride, int64_t n_rows,
               float *y, int64_t y_stride, void *scratch) {
    run_matmul(pool, w, x, x_stride, n_rows, n_rows, y, y_stride, scratch, 0, w->n_out);
}
