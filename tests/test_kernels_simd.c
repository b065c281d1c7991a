/*
 * test_kernels_simd.c - the SIMD dot products and the tiled matrix product
 * of quantized weights against the scalar reference dots of src/quant, and
 * the forward pass's independence from the thread count.
 *
 * Tolerance. Both the scalar reference and the SIMD dot compute the integer
 * part exactly (per block or sub-block); they differ only in how the scaled
 * integer sums are combined in float. Write the exact result as a sum of
 * float terms t (each a product of an exact integer with one or two scales,
 * e.g. isum * dx * dy, or dmin * dy * sum(m * bsum)). Each implementation
 * rounds every term at most 3 times and adds the terms along chains of at
 * most L additions (scalar: one per block; SIMD: one per step in a lane plus
 * a 4-level lane reduction), so each is within (L + 3) * u * A of the exact
 * value, where u = 2^-24 and A = sum |t|, and the two differ by at most
 *     tol = 2 * (n / 32 + 8) * 2^-24 * A
 * (n / 32 + 5 >= L + 3 for every format: blocks are >= 32 elements). A is
 * bounded from the decoded operands: A <= sum_i (|a_i| + |b_i|) * |y_i| *
 * (1 + 2^-10), where x_i = a_i - b_i splits each dequantized weight into its
 * scale part a_i and its min part b_i (b = 0 for formats without a min;
 * the 2^-10 covers q8_1's f16 block sum s standing in for d * sum(y)). A
 * real mistake (a wrong nibble, scale or min) moves the result by the size
 * of single terms, far above this bound, which is about n * 2^-23 relative.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/fp16.h"
#include "core/threadpool.h"
#include "kernels/kernels.h"
#include "kernels/matmul.h"
#include "kernels/qgemm.h"
#include "model/context.h"
#include "quant/blocks.h"
#include "quant/quant.h"
#include "test.h"

static const ql_type quant_types[] = {
    QL_TYPE_Q4_0,   QL_TYPE_Q4_1,   QL_TYPE_Q5_0,  QL_TYPE_Q5_1, QL_TYPE_Q8_0,
    QL_TYPE_Q2_K,   QL_TYPE_Q3_K,   QL_TYPE_Q4_K,  QL_TYPE_Q5_K, QL_TYPE_Q6_K,
    QL_TYPE_IQ4_NL, QL_TYPE_IQ4_XS, QL_TYPE_MXFP4,
};
enum { N_TYPES = sizeof quant_types / sizeof quant_types[0] };

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;

static uint64_t rng_u64(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static double rng_uniform(void) {
    return ((rng_u64() >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

static double rng_normal(void) {
    return sqrt(-2.0 * log(rng_uniform())) * cos(6.283185307179586 * rng_uniform());
}

enum { N_DISTS = 7 };
static const char *dist_names[N_DISTS] = {"normal",  "outliers", "uniform", "tiny",
                                          "shifted", "large",    "zeros"};

static void fill(float *v, int64_t n, int dist) {
    for (int64_t i = 0; i < n; i++) {
        switch (dist) {
        case 0:
            v[i] = (float)rng_normal();
            break;
        case 1:
            v[i] = (float)(rng_normal() * (i % 37 == 0 ? 30.0 : 1.0));
            break;
        case 2:
            v[i] = (float)(2.0 * rng_uniform() - 1.0);
            break;
        case 3:
            v[i] = (float)(rng_normal() * 1e-3);
            break;
        case 4:
            v[i] = (float)(rng_normal() + 3.0);
            break; /* all one sign: mins matter */
        case 5:
            v[i] = (float)(rng_normal() * 1e3);
            break;
        default:
            v[i] = 0.0f;
            break;
        }
    }
}

/* The byte offsets of a format's min (f16) and of its scale d (f16), or -1 where it has no min. */
static void min_fields(ql_type t, int *d_off, int *min_off) {
    *d_off = *min_off = -1;
    switch (t) {
    case QL_TYPE_Q4_1:
    case QL_TYPE_Q5_1:
    case QL_TYPE_Q4_K:
    case QL_TYPE_Q5_K:
        *d_off = 0, *min_off = 2;
        break;
    case QL_TYPE_Q2_K:
        *d_off = 80, *min_off = 82;
        break;
    default:
        break;
    }
}

/*
 * A of the header comment: sum_i (|a_i| + |b_i|) |y_i|, with a and b decoded
 * by zeroing the min or the scale of every block and dequantizing.
 */
static double term_bound(ql_type t, const void *qx, const float *yd, int64_t n) {
    const ql_type_traits *tr = ql_type_traits_get((int)t);
    const size_t bytes = ql_row_size(t, n);
    float *a = malloc((size_t)n * sizeof(float)), *b = malloc((size_t)n * sizeof(float));
    unsigned char *copy = malloc(bytes);
    int d_off, min_off;
    min_fields(t, &d_off, &min_off);
    if (min_off < 0) {
        tr->to_float(qx, a, n);
        for (int64_t i = 0; i < n; i++) b[i] = 0.0f;
    } else {
        const int64_t nb = n / tr->block_size;
        memcpy(copy, qx, bytes);
        for (int64_t k = 0; k < nb; k++) memset(copy + k * tr->type_size + min_off, 0, 2);
        tr->to_float(copy, a, n);
        memcpy(copy, qx, bytes);
        for (int64_t k = 0; k < nb; k++) memset(copy + k * tr->type_size + d_off, 0, 2);
        tr->to_float(copy, b, n);
    }
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) s += (fabs(a[i]) + fabs(b[i])) * fabs(yd[i]);
    free(a), free(b), free(copy);
    return s * (1.0 + 0x1p-10);
}

static double tolerance(int64_t n, double A) {
    return 2.0 * ((double)n / 32.0 + 8.0) * 0x1p-24 * A;
}

/* Every quantized type has a SIMD dot in a SIMD build, none in a scalar one. */
QL_TEST(kernels_simd_coverage) {
    const bool simd = ql_qgemm_get(QL_TYPE_Q4_0) != NULL;
    for (int k = 0; k < N_TYPES; k++) {
        const ql_type ty = quant_types[k];
        const ql_qgemm *g = ql_qgemm_get(ty);
        CHECK_MSG((ql_qdot_get(ty) != NULL) == simd, "%s: SIMD dot %s", ql_type_name((int)ty),
                  simd ? "missing" : "unexpected");
        CHECK_MSG((g != NULL) == simd, "%s: tiled kernel %s", ql_type_name((int)ty),
                  simd ? "missing" : "unexpected");
        if (!g) continue;
        CHECK_EQ_INT(g->act_type, ql_type_traits_get((int)ty)->vec_dot_type);
        CHECK(g->rows >= 1 && g->rows <= QL_QTILE_MAX_ROWS);
        CHECK(g->w_step % 64 == 0 && g->a_step % 64 == 0);
        const ql_matmul_kernel *mk = ql_kernel_get(ty);
        REQUIRE(mk);
        /* matmul tiles a type only where the table's dot is the tile's own (qgemm.h) */
        printf("%-7s %s, table dot: %s\n", ql_type_name((int)ty), g->impl,
               mk->dot == ql_qdot_get(ty) ? "tiled kernel's" : "another (per-element path)");
    }
    if (!simd) SKIP("this build has no SIMD quantized kernels");
}

/* Lengths: one block, odd block counts (a half-empty last step), several super-blocks. */
static int64_t test_lengths(ql_type t, int64_t *out) {
    const int64_t bs = ql_type_traits_get((int)t)->block_size;
    int k = 0;
    if (bs == 32) {
        const int64_t blocks[] = {1, 2, 3, 7, 18, 48, 137};
        for (size_t i = 0; i < sizeof blocks / sizeof blocks[0]; i++) out[k++] = 32 * blocks[i];
    } else {
        const int64_t blocks[] = {1, 2, 3, 6, 17};
        for (size_t i = 0; i < sizeof blocks / sizeof blocks[0]; i++) out[k++] = 256 * blocks[i];
    }
    return k;
}

static void check_dot_type(ql_test_ctx *t, ql_type type, ql_vec_dot_fn simd, double *worst) {
    const ql_type_traits *tx = ql_type_traits_get((int)type);
    const ql_type_traits *ty = ql_type_traits_get((int)tx->vec_dot_type);
    int64_t lengths[8];
    const int64_t n_len = test_lengths(type, lengths);
    for (int64_t li = 0; li < n_len; li++) {
        const int64_t n = lengths[li];
        float *x = malloc((size_t)n * sizeof(float)), *y = malloc((size_t)n * sizeof(float));
        float *yd = malloc((size_t)n * sizeof(float));
        void *qx = malloc(ql_row_size(type, n)), *qy = malloc(ql_row_size(tx->vec_dot_type, n));
        for (int dx = 0; dx < N_DISTS; dx++) {
            for (int dy = 0; dy < N_DISTS; dy++) {
                if (dx != dy && dx != 0 && dy != 0) continue; /* every pairing with normal */
                fill(x, n, dx);
                fill(y, n, dy);
                tx->from_float_ref(x, qx, n);
                ty->from_float(y, qy, n);
                ty->to_float(qy, yd, n);
                float ref = 0.0f, got = 0.0f;
                tx->vec_dot(n, &ref, qx, qy);
                simd(n, &got, qx, qy);
                const double tol = tolerance(n, term_bound(type, qx, yd, n));
                const double diff = fabs((double)got - (double)ref);
                CHECK_MSG(diff <= tol,
                          "%s n=%lld x %s, y %s: SIMD %.9g, scalar %.9g (|diff| %.3g > %.3g)",
                          tx->name, (long long)n, dist_names[dx], dist_names[dy], got, ref, diff,
                          tol);
                if (tol > 0 && diff / tol > *worst) *worst = diff / tol;
            }
        }
        free(x), free(y), free(yd), free(qx), free(qy);
    }
}

QL_TEST(kernels_simd_dots_vs_scalar) {
    if (!ql_qgemm_get(QL_TYPE_Q4_0)) SKIP("this build has no SIMD quantized kernels");
    for (int k = 0; k < N_TYPES; k++) {
        double worst = 0.0;
        check_dot_type(t, quant_types[k], ql_qdot_get(quant_types[k]), &worst);
        printf("%-7s worst |simd - scalar| / tol = %.3f\n", ql_type_name((int)quant_types[k]),
               worst);
    }
}

/*
 * Raw blocks: every code value, including q8_0's -128 (which no quantizer
 * writes but a file may hold), q8_0 activations at +-127, random k-quant
 * scale bytes. Scales are set to sane f16 values so the sums stay finite.
 */
QL_TEST(kernels_simd_dots_raw_blocks) {
    if (!ql_qgemm_get(QL_TYPE_Q4_0)) SKIP("this build has no SIMD quantized kernels");
    for (int k = 0; k < N_TYPES; k++) {
        const ql_type type = quant_types[k];
        const ql_type_traits *tx = ql_type_traits_get((int)type);
        const ql_type_traits *ty = ql_type_traits_get((int)tx->vec_dot_type);
        const int64_t n = tx->block_size == 32 ? 32 * 45 : 256 * 5;
        const size_t xb = ql_row_size(type, n), yb = ql_row_size(tx->vec_dot_type, n);
        unsigned char *qx = malloc(xb), *qy = malloc(yb);
        float *y = malloc((size_t)n * sizeof(float)), *yd = malloc((size_t)n * sizeof(float));
        for (int rep = 0; rep < 20; rep++) {
            for (size_t i = 0; i < xb; i++) qx[i] = (unsigned char)rng_u64();
            /* scales: small positive or negative f16 values */
            const int64_t nb = n / tx->block_size;
            for (int64_t b = 0; b < nb; b++) {
                unsigned char *blk = qx + b * tx->type_size;
                const ql_fp16 d1 = ql_fp32_to_fp16((float)(rng_normal() * 0.01));
                const ql_fp16 d2 = ql_fp32_to_fp16((float)(rng_normal() * 0.01));
                switch (type) {
                case QL_TYPE_MXFP4:
                    blk[0] = (unsigned char)(118 + rng_u64() % 16);
                    break;
                case QL_TYPE_Q2_K:
                    memcpy(blk + 80, &d1, 2), memcpy(blk + 82, &d2, 2);
                    break;
                case QL_TYPE_Q3_K:
                    memcpy(blk + 108, &d1, 2);
                    break;
                case QL_TYPE_Q6_K:
                    memcpy(blk + 208, &d1, 2);
                    break;
                case QL_TYPE_Q4_1:
                case QL_TYPE_Q5_1:
                case QL_TYPE_Q4_K:
                case QL_TYPE_Q5_K:
                    memcpy(blk + 2, &d2, 2); /* fall through */
                default:
                    memcpy(blk, &d1, 2);
                    break;
                }
            }
            fill(y, n, rep % 2 ? 5 : 0);
            ty->from_float(y, qy, n);
            ty->to_float(qy, yd, n);
            float ref = 0.0f, got = 0.0f;
            tx->vec_dot(n, &ref, qx, qy);
            ql_qdot_get(type)(n, &got, qx, qy);
            const double tol = tolerance(n, term_bound(type, qx, yd, n));
            CHECK_MSG(fabs((double)got - ref) <= tol,
                      "%s raw blocks rep %d: SIMD %.9g, scalar %.9g (tol %.3g)", tx->name, rep, got,
                      ref, tol);
        }
        free(qx), free(qy), free(y), free(yd);
    }
}

/*
 * Where the tiled kernel claims ggml's order (q4_0, q4_1, q5_0, q5_1, q8_0,
 * iq4_nl: ql_qdot_ggml_order), its dot gives the bits of the portable form
 * of that order in kernels.c, for even and odd block counts (iq4_nl adds an
 * odd last block separately) and rows that end in a partial step.
 */
QL_TEST(kernels_ggml_order_dots) {
    if (!ql_qgemm_get(QL_TYPE_Q4_0)) SKIP("this build has no SIMD quantized kernels");
    int checked = 0;
    for (int k = 0; k < N_TYPES; k++) {
        const ql_type type = quant_types[k];
        if (!ql_qdot_ggml_order(type)) continue;
        const ql_vec_dot_fn port = ql_kernel_portable_dot(type);
        REQUIRE_MSG(port, "%s: no portable form of ggml's order", ql_type_name((int)type));
        const ql_type_traits *tx = ql_type_traits_get((int)type);
        const ql_type_traits *ty = ql_type_traits_get((int)tx->vec_dot_type);
        int bad = 0;
        for (int64_t blocks = 1; blocks <= 41; blocks += (blocks < 10 ? 1 : 5)) {
            const int64_t n = 32 * blocks;
            float *x = malloc((size_t)n * sizeof(float)), *y = malloc((size_t)n * sizeof(float));
            void *qx = malloc(ql_row_size(type, n)), *qy = malloc(ql_row_size(tx->vec_dot_type, n));
            for (int dist = 0; dist < N_DISTS - 1; dist++) {
                fill(x, n, dist);
                fill(y, n, (dist + 1) % (N_DISTS - 1));
                tx->from_float_ref(x, qx, n);
                ty->from_float(y, qy, n);
                float want, got;
                port(n, &want, qx, qy);
                ql_qdot_get(type)(n, &got, qx, qy);
                if (memcmp(&want, &got, sizeof got) != 0 && bad++ < 3)
                    CHECK_MSG(0, "%s n=%lld %s: SIMD %.9g, ggml order %.9g", tx->name, (long long)n,
                              dist_names[dist], got, want);
            }
            free(x), free(y), free(qx), free(qy);
        }
        CHECK_EQ_INT(bad, 0);
        checked++;
    }
    CHECK_EQ_INT(checked, 6);
}

/*
 * Activation preparation: the fused quantize-and-pack gives the bytes of
 * the run-time quantizer followed by the packer, for ordinary blocks and
 * for the ones it hands to the scalar quantizer (zeros, values below 1e-30,
 * NaN, Inf), over rows with a partial last step.
 */
QL_TEST(kernels_fused_activation_quantizer) {
    if (!ql_qgemm_get(QL_TYPE_Q4_0)) SKIP("this build has no SIMD quantized kernels");
    /* their activation types: q8_0, q8_1, q8_K */
    const ql_type weight_types[] = {QL_TYPE_Q4_0, QL_TYPE_Q4_1, QL_TYPE_Q4_K};
    for (size_t k = 0; k < sizeof weight_types / sizeof weight_types[0]; k++) {
        const ql_qgemm *g = ql_qgemm_get(weight_types[k]);
        const ql_type_traits *ta = ql_type_traits_get((int)g->act_type);
        /* 37 blocks: 10 legacy steps, the last group of steps cut short */
        const int64_t n = g->step == 256 ? 256 * 7 : 32 * 37;
        const int64_t ns = ql_qgemm_steps(g, n);
        float *x = malloc((size_t)n * sizeof(float));
        void *q = malloc(ql_row_size(g->act_type, n));
        unsigned char *want = aligned_alloc(64, (size_t)ns * g->a_step);
        unsigned char *got = aligned_alloc(64, (size_t)ns * g->a_step);
        int bad = 0;
        for (int rep = 0; rep < 60; rep++) {
            fill(x, n, rep % (N_DISTS - 1));
            /* special blocks: zeros, tiny, a NaN, an Inf, ties of magnitude with both signs */
            const int64_t bs = ta->block_size, nb = n / bs;
            const int64_t b = (int64_t)(rng_u64() % (uint64_t)nb);
            switch (rep % 6) {
            case 0:
                for (int64_t i = 0; i < bs; i++) x[b * bs + i] = 0.0f;
                break;
            case 1:
                for (int64_t i = 0; i < bs; i++) x[b * bs + i] *= 1e-32f;
                break;
            case 2:
                x[b * bs + (int64_t)(rng_u64() % (uint64_t)bs)] = NAN;
                break;
            case 3:
                x[b * bs + (int64_t)(rng_u64() % (uint64_t)bs)] = -INFINITY;
                break;
            case 4:
                x[b * bs + 3] = 7.0f, x[b * bs + 1] = -7.0f;
                break;
            default:
                break;
            }
            memset(want, 0xa5, (size_t)ns * g->a_step);
            memset(got, 0xa5, (size_t)ns * g->a_step);
            ta->from_float(x, q, n);
            g->pack_a(q, 0, ns, n, want);
            /* in two calls, as the matmul hands out segments */
            const int64_t half = ns / 2;
            g->quant_a(x, 0, half, n, got);
            g->quant_a(x, half, ns - half, n, got + (size_t)half * g->a_step);
            if (memcmp(want, got, (size_t)ns * g->a_step) != 0 && bad++ < 3)
                CHECK_MSG(0,
                          "%s activations, rep %d: fused quantize-and-pack differs from "
                          "%s + pack",
                          ta->name, rep, ta->name);
        }
        CHECK_EQ_INT(bad, 0);
        free(x), free(q), free(want), free(got);
    }
}

/*
 * The matrix product against a naive loop: bit for bit the kernel table's
 * dot of each element (for a tiled type, the tile shape, the chunking of
 * long rows and the thread split change nothing), and within tolerance of
 * the scalar dot. Shapes cover
 * partial tiles on both sides, more activation rows than one block of the
 * driver (64) and rows long enough to be packed in several chunks.
 */
QL_TEST(kernels_tiled_matmul) {
    if (!ql_qgemm_get(QL_TYPE_Q4_0)) SKIP("this build has no SIMD quantized kernels");
    ql_error err;
    ql_pool *pools[3];
    for (int p = 0; p < 3; p++)
        REQUIRE_MSG(ql_pool_create(p + 1, &pools[p], &err) == QL_OK, "%s", err.msg);
    /*
     * blocks of 32 / of 256 per row: 137 and 24 are longer than one panel chunk; 37
     * rows fill several panels of row groups and end in a short group
     */
    const struct {
        int64_t blocks32, blocks256, n_out, n_rows;
    } shapes[] = {{1, 1, 1, 1},     {3, 3, 5, 3},    {2, 2, 4, 4},    {9, 9, 13, 70},
                  {17, 17, 6, 133}, {137, 24, 9, 5}, {43, 11, 37, 71}};
    for (int k = 0; k < N_TYPES; k++) {
        const ql_type type = quant_types[k];
        const ql_type_traits *tx = ql_type_traits_get((int)type);
        const ql_type_traits *ty = ql_type_traits_get((int)tx->vec_dot_type);
        for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
            const int64_t n_in =
                tx->block_size == 32 ? 32 * shapes[si].blocks32 : 256 * shapes[si].blocks256;
            const int64_t n_out = shapes[si].n_out, n_rows = shapes[si].n_rows;
            float *w = malloc((size_t)(n_in * n_out) * sizeof(float));
            float *x = malloc((size_t)(n_in * n_rows) * sizeof(float));
            const size_t wrow = ql_row_size(type, n_in), yrow = ql_row_size(tx->vec_dot_type, n_in);
            unsigned char *qw = malloc(wrow * (size_t)n_out);
            unsigned char *qa = malloc(yrow * (size_t)n_rows);
            float *yd = malloc((size_t)n_in * sizeof(float));
            fill(w, n_in * n_out, (int)(si % 5));
            fill(x, n_in * n_rows, 0);
            for (int64_t o = 0; o < n_out; o++)
                tx->from_float_ref(w + o * n_in, qw + o * wrow, n_in);
            for (int64_t r = 0; r < n_rows; r++) ty->from_float(x + r * n_in, qa + r * yrow, n_in);
            const ql_matrix m = {qw, type, n_in, n_out, wrow, false};
            /* a scratch off any 64-byte boundary, as a plain malloc may give */
            char *scratch_buf = malloc(ql_matmul_scratch_size(type, n_in, n_rows, 3) + 8);
            void *scratch = scratch_buf + 8;
            float *out = malloc((size_t)(n_out * n_rows) * sizeof(float));
            int bad_bits = 0, bad_tol = 0;
            /* each thread count with llama.cpp's default (repacked weights) and --no-repack */
            for (int p = 0; p < 6; p++) {
                ql_kernel_profile prof = ql_kernel_profile_default();
                prof.repack = p < 3;
                memset(out, 0xff, (size_t)(n_out * n_rows) * sizeof(float));
                ql_matmul(pools[p % 3], &prof, &m, x, n_in, n_rows, out, n_out, scratch);
                for (int64_t r = 0; r < n_rows; r++) {
                    ty->to_float(qa + r * yrow, yd, n_in);
                    const ql_vec_dot_fn spec = ql_matmul_spec_dot(&prof, &m, n_rows, r);
                    for (int64_t o = 0; o < n_out; o++) {
                        float simd = 0.0f, ref = 0.0f;
                        spec(n_in, &simd, qw + o * wrow, qa + r * yrow);
                        tx->vec_dot(n_in, &ref, qw + o * wrow, qa + r * yrow);
                        const float got = out[r * n_out + o];
                        if (memcmp(&got, &simd, sizeof got) != 0 && bad_bits++ < 3)
                            CHECK_MSG(0,
                                      "%s %lldx%lld by %lld rows, %d threads, repack %d: "
                                      "[%lld][%lld] product %.9g, its order's statement %.9g",
                                      tx->name, (long long)n_out, (long long)n_in,
                                      (long long)n_rows, p % 3 + 1, prof.repack, (long long)r,
                                      (long long)o, got, simd);
                        const double tol =
                            tolerance(n_in, term_bound(type, qw + o * wrow, yd, n_in));
                        if (fabs((double)got - ref) > tol && bad_tol++ < 3)
                            CHECK_MSG(0, "%s [%lld][%lld]: product %.9g, scalar %.9g (tol %.3g)",
                                      tx->name, (long long)r, (long long)o, got, ref, tol);
                    }
                }
            }
            CHECK_EQ_INT(bad_bits, 0);
            CHECK_EQ_INT(bad_tol, 0);
            free(w), free(x), free(qw), free(qa), free(yd), free(scratch_buf), free(out);
        }
    }
    for (int p = 0; p < 3; p++) ql_pool_free(pools[p]);
}

/* ---- forward pass: bit-identical logits for 1, 2 and 3 threads ---- */

typedef struct {
    float *logits;
    int64_t n_vocab;
} capture;

static bool capture_rows(void *user, const ql_logits_block *b) {
    capture *c = user;
    memcpy(c->logits + b->first_pos * b->n_vocab, b->logits,
           (size_t)(b->n_rows * b->n_vocab) * sizeof(float));
    return true;
}

static void forward_threads(ql_test_ctx *t, const ql_model *m, int64_t T, int64_t ubatch,
                            const char *what) {
    int32_t *tok = malloc((size_t)T * sizeof(int32_t));
    for (int64_t i = 0; i < T; i++) tok[i] = (int32_t)((i * 7919 + 13) % m->cfg.n_vocab);
    const int64_t V = m->cfg.n_vocab;
    float *first = NULL;
    for (int threads = 1; threads <= 3; threads++) {
        ql_context_params cp = ql_context_default_params();
        cp.n_ctx = T;
        cp.n_ubatch = ubatch;
        cp.n_threads = threads;
        ql_context *ctx;
        ql_error err;
        REQUIRE_MSG(ql_context_create(m, &cp, &ctx, &err) == QL_OK, "%s", err.msg);
        capture cap = {malloc((size_t)(T * V) * sizeof(float)), V};
        REQUIRE_MSG(ql_forward(ctx, tok, T, 0, 0, capture_rows, &cap, &err) == QL_OK, "%s",
                    err.msg);
        ql_context_free(ctx);
        if (!first) {
            first = cap.logits;
            continue;
        }
        int64_t differ = 0;
        for (int64_t i = 0; i < T * V; i++)
            if (memcmp(&first[i], &cap.logits[i], sizeof(float)) != 0) differ++;
        CHECK_MSG(differ == 0, "%s: %lld of %lld logits differ between 1 and %d threads", what,
                  (long long)differ, (long long)(T * V), threads);
        free(cap.logits);
    }
    printf("%s: %lld tokens, logits identical for 1, 2 and 3 threads\n", what, (long long)T);
    free(first);
    free(tok);
}

/* Requantizes a matrix to type t (ggml's reference quantizer); returns the new buffer. */
static void *requantize(ql_matrix *mat, ql_type t) {
    const ql_type_traits *src = ql_type_traits_get((int)mat->type);
    const ql_type_traits *dst = ql_type_traits_get((int)t);
    const size_t row = ql_row_size(t, mat->n_in);
    unsigned char *buf = malloc(row * (size_t)mat->n_out);
    float *f = malloc((size_t)mat->n_in * sizeof(float));
    for (int64_t o = 0; o < mat->n_out; o++) {
        src->to_float((const unsigned char *)mat->data + (size_t)o * mat->row_bytes, f, mat->n_in);
        dst->from_float_ref(f, buf + (size_t)o * row, mat->n_in);
    }
    free(f);
    mat->data = buf;
    mat->type = t;
    mat->row_bytes = row;
    return buf;
}

/*
 * The synthetic models' matrices requantized to every quantized type in
 * turn, so one forward pass runs each tiled kernel (rows of 256 and 512).
 */
QL_TEST(kernels_forward_threads_synth) {
    const char *archs[] = {"llama", "gemma3"};
    for (size_t a = 0; a < sizeof archs / sizeof archs[0]; a++) {
        ql_error err;
        ql_model *m;
        REQUIRE_MSG(ql_model_load(ql_test_synth_model(archs[a]), &m, &err) == QL_OK, "%s", err.msg);
        void *bufs[256];
        int nbuf = 0, next = 0;
        for (int64_t l = 0; l < m->cfg.n_layer; l++) {
            ql_layer *L = &m->layers[l];
            ql_matrix *mats[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_up, &L->w_down};
            for (size_t i = 0; i < sizeof mats / sizeof mats[0]; i++)
                bufs[nbuf++] = requantize(mats[i], quant_types[next++ % N_TYPES]);
        }
        if (m->output.data != m->tok_embd.data)
            bufs[nbuf++] = requantize(&m->output, QL_TYPE_Q6_K);
        else
            bufs[nbuf++] = requantize(&m->output, QL_TYPE_Q8_0);
        forward_threads(t, m, 40, 24, archs[a]);
        for (int i = 0; i < nbuf; i++) free(bufs[i]);
        ql_model_free(m);
    }
}

/* An expert tensor requantized as one matrix of n_out x n_expert rows. */
static void *requantize_experts(ql_experts *x, ql_type t) {
    ql_matrix all = x->m;
    all.n_out *= x->n_expert;
    void *buf = requantize(&all, t);
    x->m.data = buf;
    x->m.type = t;
    x->m.row_bytes = all.row_bytes;
    x->stride = all.row_bytes * (size_t)x->m.n_out;
    return buf;
}

/*
 * The hybrids: DeltaNet and gated attention layers, routed and shared experts, their matrices
 * requantized to every type in turn (experts among them, so MUL_MAT_ID's paths run: repacked
 * one-row forms, tiled k-quants from 8 routed rows, per-row dots). Micro-batches of 24 tokens
 * make the recurrent state cross forward steps.
 */
QL_TEST(kernels_forward_threads_hybrid) {
    const char *archs[] = {"qwen35", "qwen35moe"};
    for (size_t a = 0; a < sizeof archs / sizeof archs[0]; a++) {
        ql_error err;
        ql_model *m;
        REQUIRE_MSG(ql_model_load(ql_test_synth_model(archs[a]), &m, &err) == QL_OK, "%s", err.msg);
        void *bufs[512];
        int nbuf = 0, next = (int)a;
        for (int64_t l = 0; l < m->cfg.n_layer; l++) {
            ql_layer *L = &m->layers[l];
            ql_matrix *mats[] = {&L->wq,         &L->wk,       &L->wv,        &L->wo,
                                 &L->w_gate,     &L->w_up,     &L->w_down,    &L->ssm_qkv,
                                 &L->ssm_z,      &L->ssm_out,  &L->ssm_alpha, &L->ssm_beta,
                                 &L->shexp_gate, &L->shexp_up, &L->shexp_down};
            for (size_t i = 0; i < sizeof mats / sizeof mats[0]; i++)
                if (mats[i]->data)
                    bufs[nbuf++] = requantize(mats[i], quant_types[next++ % N_TYPES]);
            ql_experts *exps[] = {&L->gate_exps, &L->up_exps, &L->down_exps};
            for (size_t i = 0; i < 3; i++)
                if (exps[i]->m.data)
                    bufs[nbuf++] = requantize_experts(exps[i], quant_types[next++ % N_TYPES]);
        }
        forward_threads(t, m, 40, 24, archs[a]);
        for (int i = 0; i < nbuf; i++) free(bufs[i]);
        ql_model_free(m);
    }
}

QL_TEST(kernels_forward_threads_smollm2) {
    const char *path = "models/SmolLM2-135M-Instruct.Q4_1.gguf";
    FILE *f = fopen(path, "rb");
    if (!f) SKIP("%s not present (make models)", path);
    fclose(f);
    ql_error err;
    ql_model *m;
    REQUIRE_MSG(ql_model_load(path, &m, &err) == QL_OK, "%s", err.msg);
    forward_threads(t, m, 24, 16, "SmolLM2-135M Q4_1");
    ql_model_free(m);
}
