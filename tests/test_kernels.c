/*
 * test_kernels.c - the ggml-order kernels of src/kernels.
 *
 * Each kernel is checked two ways. Its SIMD form must give the same bits as
 * its portable form (the portable form performs ggml's float operations one
 * lane at a time and is the specification). And it must agree with a plain
 * double-precision reference within a bound derived from its operations;
 * with u = 2^-24 (f32) or 2^-11 (f16 arithmetic) the unit roundoff:
 *
 *   - a sum evaluated as chains of c roundings (FMA chains per lane plus the
 *     levels of a reduction tree) errs by at most c * u * sum|terms| to
 *     first order; we allow twice that;
 *   - ggml's vector exp errs by about 1.45 ulp + 0.5 ulp (its own
 *     statement; counted in ulps of the result's binade we see up to 2.2);
 *     we allow 3 ulp;
 *   - a chain of k further correctly rounded operations adds k ulp.
 *
 * A forward pass must also give bit-identical logits for any thread count
 * (every value is computed by one thread in a fixed order; 1 and 2 threads
 * are compared, on the tiled and the per-key attention paths), and an f32 cache
 * must give the f16 cache's logits (llama.cpp casts it to f16).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/fp16.h"
#include "kernels/attention.h"
#include "kernels/kernels.h"
#include "kernels/ops.h"
#include "kernels/vecmath.h"
#include "model/context.h"
#include "quant/quant.h"
#include "test.h"

static const double U32 = 0x1p-24, U16 = 0x1p-11;

static uint64_t rng = 0x2545F4914F6CDD1Dull;

static double uniform(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return ((rng >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

static double normal(void) {
    return sqrt(-2.0 * log(uniform())) * cos(6.283185307179586 * uniform());
}

/* values of several scales, with some outliers, like activations and weights */
static void fill(float *v, int64_t n, double scale) {
    for (int64_t i = 0; i < n; i++) v[i] = (float)(normal() * scale * (i % 29 == 0 ? 8.0 : 1.0));
}

static bool same_bits(float a, float b) {
    return memcmp(&a, &b, sizeof a) == 0;
}

/* ---- dots of KV-cache rows with quantized queries ---- */

QL_TEST(kernels_kv_dots) {
    const ql_type types[] = {QL_TYPE_Q4_0, QL_TYPE_Q4_1,   QL_TYPE_Q5_0, QL_TYPE_Q5_1,
                             QL_TYPE_Q8_0, QL_TYPE_IQ4_NL, QL_TYPE_BF16};
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        const ql_type type = types[ti];
        const ql_type_traits *tx = ql_type_traits_get((int)type);
        const ql_type_traits *ty = ql_type_traits_get((int)tx->vec_dot_type);
        const ql_vec_dot_fn fast = ql_kernel_kv_dot(type), port = ql_kernel_portable_dot(type);
        REQUIRE_MSG(fast && port, "%s: no KV dot", tx->name);
        int bad_bits = 0;
        for (int it = 0; it < 400; it++) {
            const int64_t n = 32 * (1 + it % 9); /* odd block counts reach the scalar tails */
            float x[288], y[288], xd[288], yd[288];
            uint8_t qx[288 * 2], qy[288 * 2];
            fill(x, n, pow(10.0, uniform() * 4 - 2));
            fill(y, n, 1.0);
            tx->from_float(x, qx, n);
            ty->from_float(y, qy, n);
            tx->to_float(qx, xd, n);
            ty->to_float(qy, yd, n);
            float a = NAN, b = NAN;
            fast(n, &a, qx, qy);
            port(n, &b, qx, qy);
            if (!same_bits(a, b)) bad_bits++;
            double exact = 0, abs_sum = 0, min_term = 0;
            for (int64_t i = 0; i < n; i++) {
                exact += (double)xd[i] * yd[i];
                abs_sum += fabs((double)xd[i] * yd[i]);
            }
            if (tx->vec_dot_type == QL_TYPE_Q8_1) /* the partner's block sum is stored in f16 */
                for (int64_t blk = 0; blk < n; blk += 32) {
                    double mx = 0, sy = 0;
                    for (int64_t i = blk; i < blk + 32; i++) mx = fmax(mx, fabs(x[i])), sy += yd[i];
                    min_term += mx * fabs(sy) * 0x1p-10;
                }
            /* eight lanes of n/32 FMAs (or pairs of adds) and a 3-level tree */
            const double tol = 2.0 * 2.0 * ((double)n / 32.0 + 4.0) * U32 * abs_sum + min_term;
            CHECK_MSG(fabs(a - exact) <= tol,
                      "%s n=%lld: dot %.9g, double %.9g, |diff| %.3g > %.3g", tx->name,
                      (long long)n, a, exact, fabs(a - exact), tol);
        }
        CHECK_MSG(bad_bits == 0, "%s: %d SIMD dots differ from the portable form", tx->name,
                  bad_bits);
    }
}

/* ---- float dots in tinyBLAS and vec_dot order ---- */

QL_TEST(kernels_float_dots) {
    const struct {
        ql_float_dot_kind kind;
        const char *name;
        bool half_arith; /* accumulates in f16 */
        bool f16_partner;
    } kinds[] = {
        {QL_FDOT_F16_TINYBLAS, "f16 tinyBLAS", false, false},
        {QL_FDOT_F16_VEC, "f16 vec_dot", true, false},
        {QL_FDOT_F16_F16, "f16 x f16 vec_dot", true, true},
        {QL_FDOT_F32_TINYBLAS, "f32 tinyBLAS", false, false},
    };
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
        const ql_vec_dot_fn fast = ql_kernel_float_dot(kinds[k].kind, false);
        const ql_vec_dot_fn port = ql_kernel_float_dot(kinds[k].kind, true);
        int bad_bits = 0;
        for (int it = 0; it < 300; it++) {
            const int64_t n = 16 * (1 + it % 24); /* tails past whole steps of 64 and 128 */
            float x[384], y[384];
            ql_fp16 xh[384], yh[384];
            fill(x, n, 0.1);
            fill(y, n, 1.0);
            const bool f32_weights = kinds[k].kind == QL_FDOT_F32_TINYBLAS;
            for (int64_t i = 0; i < n; i++) {
                xh[i] = ql_fp32_to_fp16(x[i]);
                if (!f32_weights) x[i] = ql_fp16_to_fp32(xh[i]);
                y[i] = ql_round_fp16(y[i]); /* what activations for f16 weights hold */
                yh[i] = ql_fp32_to_fp16(y[i]);
            }
            const void *wx = f32_weights ? (const void *)x : (const void *)xh;
            const void *wy = kinds[k].f16_partner ? (const void *)yh : (const void *)y;
            float a = NAN, b = NAN;
            fast(n, &a, wx, wy);
            port(n, &b, wx, wy);
            if (!same_bits(a, b)) bad_bits++;
            double exact = 0, abs_sum = 0;
            for (int64_t i = 0; i < n; i++) {
                exact += (double)x[i] * y[i];
                abs_sum += fabs((double)x[i] * y[i]);
            }
            /* tinyBLAS: chains of n/16 FMAs and a 4-level tree, in f32;
             * vec_dot: chains of n/128 f16 FMAs, 2 fold and 5 tree levels in
             * f16, and a tail of products rounded in f32 */
            const double tol = kinds[k].half_arith ? 2.0 * ((double)n / 128.0 + 8.0) * U16 * abs_sum
                                                   : 2.0 * ((double)n / 16.0 + 4.0) * U32 * abs_sum;
            CHECK_MSG(fabs(a - exact) <= tol,
                      "%s n=%lld: dot %.9g, double %.9g, |diff| %.3g > %.3g", kinds[k].name,
                      (long long)n, a, exact, fabs(a - exact), tol);
        }
        CHECK_MSG(bad_bits == 0, "%s: %d SIMD dots differ from the portable form", kinds[k].name,
                  bad_bits);
    }
}

/* the register-blocked tiles give their single dot's bits */
QL_TEST(kernels_tiles_match_dots) {
    const ql_matmul_kernel *k = ql_kernel_get(QL_TYPE_F16);
    REQUIRE(k != NULL);
    const int64_t n = 256, n_w = 16, n_x = 5;
    ql_fp16 *w = malloc((size_t)(n_w * n) * sizeof(ql_fp16));
    float *x = malloc((size_t)(n_x * n) * sizeof(float)), y[16 * 5], ref;
    for (int64_t i = 0; i < n_w * n; i++) w[i] = ql_fp32_to_fp16((float)(normal() * 0.06));
    for (int64_t i = 0; i < n_x * n; i++) x[i] = ql_round_fp16((float)normal());
    const ql_tile_fn tiles[2] = {k->tile, k->tile_single};
    const ql_vec_dot_fn dots[2] = {k->dot, k->dot_single};
    const int shapes[2][2] = {{k->tile_w, k->tile_x}, {k->tile_single_w, k->tile_single_x}};
    int checked = 0;
    for (int ti = 0; ti < 2; ti++) {
        if (!tiles[ti]) continue;
        for (int nw = 1; nw <= shapes[ti][0] && nw <= n_w; nw += (nw < 4 ? 1 : 5)) {
            const int nx = shapes[ti][1] < n_x ? shapes[ti][1] : n_x;
            tiles[ti](n, w, (size_t)n * sizeof(ql_fp16), nw, x, n, nx, y, n_w);
            for (int c = 0; c < nx; c++)
                for (int o = 0; o < nw; o++) {
                    dots[ti](n, &ref, w + o * n, x + c * n);
                    CHECK_MSG(same_bits(y[c * n_w + o], ref),
                              "tile %d (%d x %d): element (%d,%d) %.9g, dot %.9g", ti, nw, nx, c, o,
                              y[c * n_w + o], ref);
                    checked++;
                }
        }
    }
    if (!checked) printf("(no tiles in this build)\n");
    free(w);
    free(x);
}

/* ---- half-precision arithmetic ---- */

/* the f16 value nearest to x (ties to even), computed from the exact value */
static double round_f16_exact(double x) {
    if (x == 0 || !isfinite(x)) return x;
    int e;
    frexp(fabs(x), &e);
    int ulp_e = e - 11 < -24 ? -24 : e - 11;
    const double q = fabs(x) / ldexp(1.0, ulp_e), fl = floor(q), r = q - fl;
    double m = (r > 0.5 || (r == 0.5 && fmod(fl, 2.0) == 1.0)) ? fl + 1 : fl;
    m *= ldexp(1.0, ulp_e);
    return copysign(m > 65504.0 ? INFINITY : m, x);
}

QL_TEST(kernels_half_arithmetic) {
    int bad = 0;
    for (int it = 0; it < 200000; it++) {
        const double sa = pow(2.0, uniform() * 30 - 20), sc = pow(2.0, uniform() * 30 - 20);
        const float a = ql_round_fp16((float)(normal() * sa)), b = ql_round_fp16((float)normal());
        const float c = ql_round_fp16((float)(normal() * sc));
        /* f16 x f16 is exact in double, and the sums below too */
        const double fma_ref = round_f16_exact((double)a * b + c);
        const double add_ref = round_f16_exact((double)a + c);
        const double mul_ref = round_f16_exact((double)a * b);
        if (ql_h_fma(a, b, c) != (float)fma_ref || ql_h_add(a, c) != (float)add_ref ||
            ql_h_mul(a, b) != (float)mul_ref) {
            if (bad < 5)
                printf("a %a b %a c %a: fma %a (%a) add %a (%a) mul %a (%a)\n", a, b, c,
                       ql_h_fma(a, b, c), fma_ref, ql_h_add(a, c), add_ref, ql_h_mul(a, b),
                       mul_ref);
            bad++;
        }
    }
    CHECK_MSG(bad == 0, "%d half-precision results are not the correctly rounded ones", bad);
}

/* ---- exp, SiLU, softmax sums ---- */

/*
 * ql_expf_row against the C library's expf, bit for bit, on every 251st float
 * bit pattern (all signs, exponents, NaN and Inf included), odd row lengths so
 * the tails are covered. On glibc with FMA the vector form must be the one in
 * use: that is where the attention's speed comes from.
 */
QL_TEST(kernels_expf_row_is_libm_expf) {
#if defined(__GLIBC__) && defined(__FMA__) && (defined(__AVX2__) || defined(__AVX512F__))
    CHECK_MSG(ql_expf_row_is_vector(), "glibc with FMA, yet the vector expf disagrees with it");
#endif
    enum { ROW = 1021 };
    float x[ROW], y[ROW];
    int64_t bad = 0, n = 0;
    uint64_t u = 7;
    while (u < (1ull << 32)) {
        int len = 0;
        for (; len < ROW && u < (1ull << 32); len++, u += 251) x[len] = ql_bits_f32((uint32_t)u);
        ql_expf_row(x, y, len);
        for (int i = 0; i < len; i++, n++) {
            const float want = expf(x[i]);
            if (isnan(want) ? !isnan(y[i]) : ql_f32_bits(want) != ql_f32_bits(y[i])) {
                if (bad++ < 5) printf("expf(%a): libm %a, ql_expf_row %a\n", x[i], want, y[i]);
            }
        }
    }
    CHECK_MSG(bad == 0, "%lld of %lld values differ from libm's expf", (long long)bad,
              (long long)n);
}

QL_TEST(kernels_vexpf) {
    int bad_bits = 0;
    for (int it = 0; it < 20000; it++) {
        float x[16], y[16];
        for (int l = 0; l < 16; l++) x[l] = (float)(uniform() * 200.0 - 110.0);
        ql_vexpf16(y, x);
        for (int l = 0; l < 16; l++) {
            const float s = ql_vexpf(x[l]);
            if (!same_bits(s, y[l])) bad_bits++;
            const double ref = exp((double)x[l]);
            if (x[l] < -104.0f) {
                CHECK_MSG(y[l] == 0.0f, "exp(%g) = %g, expected 0", x[l], y[l]);
            } else if (x[l] > 89.0f) {
                CHECK_MSG(isinf(y[l]), "exp(%g) = %g, expected inf", x[l], y[l]);
            } else if (x[l] > -87.0f && x[l] < 88.0f) {
                /* 3 ulp of the result's binade */
                const double ulp = ldexp(1.0, ilogb(ref) - 23);
                CHECK_MSG(fabs(y[l] - ref) <= 3.0 * ulp, "exp(%.9g) = %.9g, double %.9g (%.2f ulp)",
                          x[l], y[l], ref, fabs(y[l] - ref) / ulp);
            }
        }
    }
    CHECK_MSG(bad_bits == 0, "%d SIMD exp lanes differ from the portable form", bad_bits);
}

/* The DeltaNet's SiLU and f32 dots: SIMD forms bit-identical to the portable statements, and
 * both close to double precision. */
QL_TEST(kernels_silu_and_f32_vec_dot) {
    float x[519], y[519], y2[519], w[519];
    for (int it = 0; it < 50; it++) {
        const int64_t n = 1 + (it * 37) % 519; /* groups of 16, of 64, and tails */
        fill(x, n, 4.0);
        fill(w, n, 1.0);
        ql_silu_row(y, x, n);
        ql_silu_row_portable(y2, x, n);
        CHECK_MSG(memcmp(y, y2, (size_t)n * sizeof *y) == 0, "SIMD SiLU differs (n = %lld)",
                  (long long)n);
        for (int64_t i = 0; i < n; i++) {
            const double ref = x[i] / (1.0 + exp(-(double)x[i]));
            CHECK_MSG(fabs(y[i] - ref) <= 9.0 * U32 * fabs(ref) + 1e-37, "silu(%.9g) = %.9g", x[i],
                      y[i]);
        }
        const float d = ql_dot_f32_vec(x, w, n), d2 = ql_dot_f32_vec_portable(x, w, n);
        CHECK_MSG(memcmp(&d, &d2, sizeof d) == 0, "SIMD f32 dot %.9g, portable %.9g (n = %lld)", d,
                  d2, (long long)n);
        double ref = 0, mag = 0;
        for (int64_t i = 0; i < n; i++)
            ref += (double)x[i] * w[i], mag += fabs((double)x[i] * w[i]);
        CHECK_MSG(fabs(d - ref) <= (double)n * U32 * mag, "f32 dot %.9g, double %.9g", d, ref);
    }
}

/* One token of the gated delta rule: the SIMD form is the portable statement bit for bit, and
 * both are the rule itself (checked in double on a fresh state). */
QL_TEST(kernels_delta_rule_token) {
    for (int64_t s = 64; s <= 192; s += 64) {
        float *m1 = malloc((size_t)(s * s) * sizeof(float)),
              *m2 = malloc((size_t)(s * s) * sizeof(float));
        double *md = malloc((size_t)(s * s) * sizeof(double));
        float q[192], k[192], v[192], o1[192], o2[192], scratch[192];
        fill(m1, s * s, 0.5);
        memcpy(m2, m1, (size_t)(s * s) * sizeof(float));
        for (int64_t i = 0; i < s * s; i++) md[i] = m1[i];
        for (int step = 0; step < 5; step++) {
            fill(q, s, 1.0);
            fill(k, s, 1.0);
            fill(v, s, 2.0);
            const float beta = 0.3f + 0.1f * (float)step, decay = 0.9f;
            ql_delta_rule_token(m1, s, q, k, v, beta, decay, 0.125f, o1, scratch);
            ql_delta_rule_token_portable(m2, s, q, k, v, beta, decay, 0.125f, o2, scratch);
            CHECK_MSG(memcmp(m1, m2, (size_t)(s * s) * sizeof(float)) == 0 &&
                          memcmp(o1, o2, (size_t)s * sizeof(float)) == 0,
                      "s = %lld step %d: SIMD and portable delta rule differ", (long long)s, step);
            /* S <- decay S; d = beta (v - S^T k); S += k d^T; o = S^T q / 8 (m[r][i] = S[i][r]) */
            double d[192];
            for (int64_t r = 0; r < s; r++) {
                double dot = 0;
                for (int64_t i = 0; i < s; i++) dot += (md[r * s + i] *= decay) * k[i];
                d[r] = beta * (v[r] - dot);
            }
            for (int64_t r = 0; r < s; r++) {
                double dot = 0, mag = 0;
                for (int64_t i = 0; i < s; i++) {
                    md[r * s + i] += k[i] * d[r];
                    dot += md[r * s + i] * q[i];
                    mag += fabs(md[r * s + i] * q[i]);
                }
                CHECK_MSG(fabs(o1[r] - 0.125 * dot) <= 1e-4 * (mag + 1.0),
                          "s = %lld step %d row %lld: %.9g, double %.9g", (long long)s, step,
                          (long long)r, o1[r], 0.125 * dot);
            }
        }
        free(m1), free(m2), free(md);
    }
}

QL_TEST(kernels_swiglu_and_exp_sum) {
    const int64_t n = 512 + 7; /* a tail past the 16-lane groups */
    float g[519], g2[519], u[519];
    for (int it = 0; it < 50; it++) {
        fill(g, n, 3.0);
        fill(u, n, 1.0);
        memcpy(g2, g, sizeof g);
        double ref[519];
        for (int64_t i = 0; i < n; i++) ref[i] = g[i] / (1.0 + exp(-(double)g[i])) * u[i];
        ql_swiglu_row(g, u, n);
        ql_swiglu_row_portable(g2, u, n);
        CHECK_MSG(memcmp(g, g2, sizeof g) == 0, "SIMD SiLU differs from the portable form");
        for (int64_t i = 0; i < n; i++) {
            /* exp 3 ulp (6u), then add, divide, multiply: within 9u relative */
            const double tol = 9.0 * U32 * fabs(ref[i]) + 1e-37;
            CHECK_MSG(fabs(g[i] - ref[i]) <= tol, "silu*u %lld: %.9g, double %.9g", (long long)i,
                      g[i], ref[i]);
        }
        float s[64], p[64];
        fill(s, 64, 4.0);
        float mx = s[0];
        for (int i = 1; i < 64; i++) mx = s[i] > mx ? s[i] : mx;
        const double sum = ql_exp_sum(p, s, 64, mx);
        double ref_sum = 0;
        for (int i = 0; i < 64; i++) {
            const double e = exp((double)(s[i] - mx)); /* the kernel subtracts in f32, as ggml */
            ref_sum += e;
            /* 3 ulp, and f32's subnormal spacing below 2^-126 */
            const double ulp = e >= 0x1p-126 ? ldexp(1.0, ilogb(e) - 23) : 0x1p-149;
            CHECK_MSG(fabs(p[i] - e) <= 3.0 * ulp, "softmax exp %d: %.9g, double %.9g", i, p[i], e);
        }
        /* elements within 6u, then 16-lane trees of 4 levels in f32 */
        CHECK_MSG(fabs(sum - ref_sum) <= 12.0 * U32 * ref_sum, "softmax sum %.12g, double %.12g",
                  sum, ref_sum);
    }
}

/* ---- rotation and rope ---- */

QL_TEST(kernels_hadamard_and_rope) {
    const int blocks[] = {64, 128, 256};
    for (int bi = 0; bi < 3; bi++) {
        const int b = blocks[bi];
        float x[512], y[512];
        fill(x, 2 * b, 1.0);
        memcpy(y, x, sizeof(float) * 2 * (size_t)b);
        ql_hadamard_dense(y, 2 * b, b);
        for (int blk = 0; blk < 2; blk++) {
            double abs_sum = 0;
            for (int j = 0; j < b; j++) abs_sum += fabs(x[blk * b + j]);
            for (int i = 0; i < b; i++) {
                double ref = 0;
                for (int j = 0; j < b; j++)
                    ref +=
                        (__builtin_popcount((unsigned)(i & j)) & 1 ? -1.0 : 1.0) * x[blk * b + j];
                ref /= sqrt((double)b);
                /* 16 lanes of b/16 FMAs, a 4-level tree, and the rounded scale */
                const double tol = 2.0 * ((double)b / 16.0 + 5.0) * U32 * abs_sum / sqrt((double)b);
                CHECK_MSG(fabs(y[blk * b + i] - ref) <= tol, "H%d row %d: %.9g, double %.9g", b, i,
                          y[blk * b + i], ref);
            }
        }
        ql_hadamard_dense(y, 2 * b, b); /* H H = I */
        for (int i = 0; i < 2 * b; i++)
            CHECK_MSG(fabs(y[i] - x[i]) <= 1e-5 * (1.0 + fabs(x[i])), "H%d twice: %.9g vs %.9g", b,
                      y[i], x[i]);
    }
    float cs[128], v[128], r[128];
    for (int pos = 0; pos < 300; pos += 37) {
        ql_rope_cache(cs, pos, 128, 10000.0f, 1.0f, NULL);
        for (int neox = 0; neox < 2; neox++) {
            fill(v, 128, 2.0);
            memcpy(r, v, sizeof v);
            ql_rope_apply(r, cs, 128, neox);
            for (int i = 0; i < 64; i++) {
                const int a = neox ? i : 2 * i, bb = neox ? i + 64 : 2 * i + 1;
                const double c = cs[2 * i], s = cs[2 * i + 1];
                const double ra = v[a] * c - v[bb] * s, rb = v[a] * s + v[bb] * c;
                /* one product rounded, then the fused one: 2u of the terms */
                const double tol_a = 2.0 * U32 * (fabs(v[a] * c) + fabs(v[bb] * s)) + 1e-38;
                const double tol_b = 2.0 * U32 * (fabs(v[a] * s) + fabs(v[bb] * c)) + 1e-38;
                CHECK_MSG(fabs(r[a] - ra) <= tol_a && fabs(r[bb] - rb) <= tol_b,
                          "rope pos %d pair %d: (%.9g, %.9g) vs (%.9g, %.9g)", pos, i, r[a], r[bb],
                          ra, rb);
            }
        }
    }
}

/* ---- attention, both paths, against a double-precision softmax ---- */

static void attention_case(ql_test_ctx *t, ql_type type, int64_t n_tokens, int64_t window) {
    const int64_t n_head = 4, n_kv = 2, dk = 64, group = n_head / n_kv;
    const ql_type_traits *tr = ql_type_traits_get((int)type);
    const size_t row = ql_row_size(type, dk);
    uint8_t *kc = malloc((size_t)(n_tokens * n_kv) * row),
            *vc = malloc((size_t)(n_tokens * n_kv) * row);
    float *q = malloc(sizeof(float) * (size_t)(n_tokens * n_head * dk));
    float *out = malloc(sizeof(float) * (size_t)(n_tokens * n_head * dk));
    float *kd = malloc(sizeof(float) * (size_t)(n_tokens * n_kv * dk));
    float *vd = malloc(sizeof(float) * (size_t)(n_tokens * n_kv * dk));
    float tmp[64];
    for (int64_t r = 0; r < n_tokens * n_kv; r++) {
        fill(tmp, dk, 1.0);
        tr->from_float(tmp, kc + (size_t)r * row, dk);
        tr->to_float(kc + (size_t)r * row, kd + r * dk, dk);
        fill(tmp, dk, 1.0);
        tr->from_float(tmp, vc + (size_t)r * row, dk);
        tr->to_float(vc + (size_t)r * row, vd + r * dk, dk);
    }
    fill(q, n_tokens * n_head * dk, 0.5);
    ql_attn_params p = {.n_head = n_head,
                        .n_head_kv = n_kv,
                        .head_dim_k = dk,
                        .head_dim_v = dk,
                        .type_k = type,
                        .type_v = type,
                        .k = kc,
                        .v = vc,
                        .k_row_bytes = row,
                        .v_row_bytes = row,
                        .scale = 0.125f,
                        .window = window};
    ql_pool *pool;
    ql_error err;
    ql_attn_scratch *scr;
    REQUIRE(ql_pool_create(2, &pool, &err) == QL_OK);
    REQUIRE(ql_attn_scratch_create(&p, 2, &scr, &err) == QL_OK);
    ql_attention(pool, &p, q, n_tokens, 0, out, scr);
    const bool tiled = (type == QL_TYPE_F16) && n_tokens >= 64;
    const ql_type qt = tr->is_quantized ? tr->vec_dot_type : type;
    const ql_type_traits *tq = ql_type_traits_get((int)qt);
    double worst = 0;
    for (int64_t tk = 0; tk < n_tokens; tk++) {
        for (int64_t h = 0; h < n_head; h++) {
            const int64_t g = h / group;
            /* the query as the kernel's dot sees it */
            float qv[64];
            uint8_t qq[256];
            memcpy(qv, q + (tk * n_head + h) * dk, sizeof qv);
            if (!tiled) {
                tq->from_float(qv, qq, dk);
                tq->to_float(qq, qv, dk);
            }
            double s[512], m = -INFINITY, sum = 0, max_err = 0, max_v = 0;
            for (int64_t j = 0; j <= tk; j++) {
                s[j] = -INFINITY;
                if (window && tk - j >= window) continue;
                const float *kr = kd + (j * n_kv + g) * dk;
                double d = 0, a = 0, min_term = 0;
                for (int64_t i = 0; i < dk; i++) {
                    d += (double)qv[i] * kr[i];
                    a += fabs((double)qv[i] * kr[i]);
                }
                /* q8_1 partners carry the block sum d * sum(q) rounded to f16 */
                if (!tiled && qt == QL_TYPE_Q8_1)
                    for (int64_t b0 = 0; b0 < dk; b0 += 32) {
                        double mk = 0, sq = 0;
                        for (int64_t i = b0; i < b0 + 32; i++)
                            mk = fmax(mk, fabs(kr[i])), sq += qv[i];
                        min_term += mk * fabs(sq) * 0x1p-10;
                    }
                s[j] = 0.125 * d;
                /* a score errs by up to (dk + 8) u of its terms' sum (chains
                 * and block scales), plus the block-sum term */
                max_err = fmax(max_err, 0.125 * ((dk + 8) * U32 * a + min_term));
                m = fmax(m, s[j]);
            }
            for (int64_t j = 0; j <= tk; j++) sum += (s[j] = exp(s[j] - m));
            for (int64_t j = 0; j <= tk; j++)
                for (int64_t i = 0; i < dk; i++)
                    if (s[j] > 0) max_v = fmax(max_v, fabs(vd[(j * n_kv + g) * dk + i]));
            /* a weight exp(s - m) / S errs by twice the largest score error
             * (s and m), exp's 3 ulp and S's rounding; the weighted sum of up to
             * n_tokens keys adds n_tokens roundings of f32, or of f16 when V is
             * summed in f16 on the per-key path */
            const double u_acc = (!tiled && type == QL_TYPE_F16) ? U16 : U32;
            const double tol =
                max_v * (4.0 * max_err + 16.0 * U32 + 2.0 * (double)(tk + 1) * u_acc);
            for (int64_t i = 0; i < dk; i++) {
                double ref = 0;
                for (int64_t j = 0; j <= tk; j++) ref += s[j] * vd[(j * n_kv + g) * dk + i];
                ref /= sum;
                const double got = out[(tk * n_head + h) * dk + i], diff = fabs(got - ref);
                worst = fmax(worst, diff / tol);
                if (diff > tol) {
                    CHECK_MSG(false,
                              "%s n=%lld window %lld token %lld head %lld dim %lld: %.9g vs %.9g "
                              "(tol %.3g)",
                              tr->name, (long long)n_tokens, (long long)window, (long long)tk,
                              (long long)h, (long long)i, got, ref, tol);
                    goto done;
                }
            }
        }
    }
done:
    printf("attention %-5s %s path, %3lld tokens, window %2lld: worst |diff|/tol %.3f\n", tr->name,
           tiled ? "tiled  " : "per-key", (long long)n_tokens, (long long)window, worst);
    ql_attn_scratch_free(scr);
    ql_pool_free(pool);
    free(kc), free(vc), free(q), free(out), free(kd), free(vd);
}

QL_TEST(kernels_attention_paths) {
    attention_case(t, QL_TYPE_F16, 130, 0); /* tiled, a partial last tile */
    attention_case(t, QL_TYPE_F16, 96, 20); /* tiled, sliding window */
    attention_case(t, QL_TYPE_F16, 40, 0);  /* per key, f16 accumulators */
    attention_case(t, QL_TYPE_Q4_0, 100, 0);
    attention_case(t, QL_TYPE_Q8_0, 70, 24);
    attention_case(t, QL_TYPE_Q5_1, 50, 0);
}

/*
 * Batched key scores (q8_0 and q4_0 K) against one ggml dot call per key:
 * the attention outputs are identical bit for bit, over partial tiles,
 * causal and windowed masks and heads of 64 and 128.
 */
QL_TEST(kernels_attention_batched_scores) {
    const ql_type types[] = {QL_TYPE_Q8_0, QL_TYPE_Q4_0};
    const struct {
        int64_t n_tokens, window, dk;
    } cases[] = {{100, 0, 64}, {70, 24, 64}, {9, 0, 128}, {150, 0, 128}};
    ql_pool *pool;
    ql_error err;
    REQUIRE(ql_pool_create(2, &pool, &err) == QL_OK);
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++) {
        const ql_type_traits *tr = ql_type_traits_get((int)types[ti]);
        for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
            const int64_t n = cases[ci].n_tokens, dk = cases[ci].dk, n_head = 6, n_kv = 2;
            const size_t row = ql_row_size(types[ti], dk);
            uint8_t *kc = malloc((size_t)(n * n_kv) * row), *vc = malloc((size_t)(n * n_kv) * row);
            float *q = malloc(sizeof(float) * (size_t)(n * n_head * dk));
            float *out[2] = {malloc(sizeof(float) * (size_t)(n * n_head * dk)),
                             malloc(sizeof(float) * (size_t)(n * n_head * dk))};
            float tmp[128];
            for (int64_t r = 0; r < n * n_kv; r++) {
                fill(tmp, dk, 1.0 + 0.01 * (double)r);
                tr->from_float(tmp, kc + (size_t)r * row, dk);
                fill(tmp, dk, 2.0 + 0.01 * (double)r);
                tr->from_float(tmp, vc + (size_t)r * row, dk);
            }
            fill(q, n * n_head * dk, 3.0);
            const ql_attn_params p = {.n_head = n_head,
                                      .n_head_kv = n_kv,
                                      .head_dim_k = dk,
                                      .head_dim_v = dk,
                                      .type_k = types[ti],
                                      .type_v = types[ti],
                                      .k = kc,
                                      .v = vc,
                                      .k_row_bytes = row,
                                      .v_row_bytes = row,
                                      .scale = 1.0f / sqrtf((float)dk),
                                      .window = cases[ci].window};
            ql_attn_scratch *scr;
            REQUIRE(ql_attn_scratch_create(&p, 2, &scr, &err) == QL_OK);
            for (int batched = 0; batched < 2; batched++) {
                ql_attention_set_batched_scores(batched);
                ql_attention(pool, &p, q, n, 0, out[batched], scr);
            }
            ql_attention_set_batched_scores(true);
            CHECK_MSG(memcmp(out[0], out[1], sizeof(float) * (size_t)(n * n_head * dk)) == 0,
                      "%s, %lld tokens, window %lld, head %lld: batched scores change the output",
                      tr->name, (long long)n, (long long)cases[ci].window, (long long)dk);
            ql_attn_scratch_free(scr);
            free(kc), free(vc), free(q), free(out[0]), free(out[1]);
        }
    }
    ql_pool_free(pool);
}

/*
 * Every K type with every V type, on the per-key path's fast kernels
 * (batched scores, K tiles converted once, register accumulation in f32 or
 * f16) against its key-by-key, element-by-element reference: identical bits,
 * for heads of 64 (f16 V in its f32 form) and 128 (with half precision, its
 * f16 form), a partial tile, a window, GQA groups of 3 and 2, and a ring
 * of cells visited out of position order.
 */
QL_TEST(kernels_attention_kv_pairs) {
    const ql_type types[] = {QL_TYPE_F32,  QL_TYPE_F16,  QL_TYPE_BF16, QL_TYPE_Q8_0,  QL_TYPE_Q5_1,
                             QL_TYPE_Q5_0, QL_TYPE_Q4_1, QL_TYPE_Q4_0, QL_TYPE_IQ4_NL};
    enum { NT = sizeof types / sizeof types[0] };
    const struct {
        int64_t n_tokens, window, dk, n_head, n_kv;
        bool half, ring;
    } cases[] = {{70, 0, 64, 6, 2, false, false},
                 {90, 24, 128, 4, 2, true, false},
                 {40, 0, 128, 4, 2, false, true}};
    ql_pool *pool;
    ql_error err;
    REQUIRE(ql_pool_create(2, &pool, &err) == QL_OK);
    int checked = 0;
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const int64_t n = cases[ci].n_tokens, dk = cases[ci].dk, n_head = cases[ci].n_head,
                      n_kv = cases[ci].n_kv;
        int32_t *cell_pos = NULL;
        if (cases[ci].ring) { /* cell c holds position (c + 7) mod n */
            cell_pos = malloc(sizeof(int32_t) * (size_t)n);
            for (int64_t c = 0; c < n; c++) cell_pos[c] = (int32_t)((c + 7) % n);
        }
        float *q = malloc(sizeof(float) * (size_t)(n * n_head * dk));
        float *out[2] = {malloc(sizeof(float) * (size_t)(n * n_head * dk)),
                         malloc(sizeof(float) * (size_t)(n * n_head * dk))};
        fill(q, n * n_head * dk, 3.0);
        for (int ki = 0; ki < NT; ki++) {
            for (int vi = 0; vi < NT; vi++) {
                const ql_type tk = types[ki], tv = types[vi];
                const size_t krow = ql_row_size(tk, dk), vrow = ql_row_size(tv, dk);
                uint8_t *kc = malloc((size_t)(n * n_kv) * krow),
                        *vc = malloc((size_t)(n * n_kv) * vrow);
                float tmp[128];
                for (int64_t r = 0; r < n * n_kv; r++) {
                    fill(tmp, dk, 1.0 + 0.01 * (double)r);
                    ql_type_traits_get((int)tk)->from_float(tmp, kc + (size_t)r * krow, dk);
                    fill(tmp, dk, 2.0 + 0.01 * (double)r);
                    ql_type_traits_get((int)tv)->from_float(tmp, vc + (size_t)r * vrow, dk);
                }
                const ql_attn_params p = {.n_head = n_head,
                                          .n_head_kv = n_kv,
                                          .head_dim_k = dk,
                                          .head_dim_v = dk,
                                          .type_k = tk,
                                          .type_v = tv,
                                          .k = kc,
                                          .v = vc,
                                          .cell_pos = cell_pos,
                                          .n_kv = cell_pos ? n : 0,
                                          .k_row_bytes = krow,
                                          .v_row_bytes = vrow,
                                          .scale = 1.0f / sqrtf((float)dk),
                                          .window = cases[ci].window,
                                          .f16_half = cases[ci].half};
                ql_attn_scratch *scr;
                REQUIRE(ql_attn_scratch_create(&p, 2, &scr, &err) == QL_OK);
                for (int fast = 0; fast < 2; fast++) {
                    ql_attention_set_fast_kernels(fast);
                    ql_attention(pool, &p, q, n, 0, out[fast], scr);
                }
                ql_attention_set_fast_kernels(true);
                CHECK_MSG(memcmp(out[0], out[1], sizeof(float) * (size_t)(n * n_head * dk)) == 0,
                          "K %s, V %s, %lld tokens, head %lld: the fast kernels change the output",
                          ql_type_traits_get((int)tk)->name, ql_type_traits_get((int)tv)->name,
                          (long long)n, (long long)dk);
                checked++;
                ql_attn_scratch_free(scr);
                free(kc), free(vc);
            }
        }
        free(q), free(out[0]), free(out[1]), free(cell_pos);
    }
    CHECK(checked == 3 * NT * NT);
    ql_pool_free(pool);
}

/* ---- the forward pass: thread counts and f32 caches ---- */

enum { SCORED = 12 }; /* logits of the last rows only: earlier rows reach them through attention */

static bool grab(void *user, const ql_logits_block *b) {
    float *dst = user;
    memcpy(dst + (b->first_pos - (72 - SCORED)) * b->n_vocab, b->logits,
           (size_t)(b->n_rows * b->n_vocab) * sizeof(float));
    return true;
}

static float *run_forward(ql_test_ctx *t, const ql_model *m, ql_type kv, int64_t n_ubatch,
                          int threads, const int32_t *tok) {
    ql_context_params cp = ql_context_default_params();
    cp.n_ctx = 72;
    cp.n_ubatch = n_ubatch;
    cp.type_k = cp.type_v = kv;
    cp.n_threads = threads;
    ql_context *ctx;
    ql_error err;
    if (ql_context_create(m, &cp, &ctx, &err) != QL_OK) {
        CHECK_MSG(false, "%s", err.msg);
        return NULL;
    }
    float *logits = calloc((size_t)(SCORED * m->cfg.n_vocab), sizeof(float));
    CHECK(ql_forward(ctx, tok, 72, 0, 72 - SCORED, grab, logits, &err) == QL_OK);
    ql_context_free(ctx);
    return logits;
}

QL_TEST(kernels_forward_thread_invariance) {
    const char *archs[] = {"llama", "qwen2", "qwen3", "gemma3"};
    for (int a = 0; a < 4; a++) {
        ql_model *m;
        ql_error err;
        REQUIRE_MSG(ql_model_load(ql_test_synth_model(archs[a]), &m, &err) == QL_OK, "%s", err.msg);
        int32_t tok[72];
        for (int i = 0; i < 72; i++) tok[i] = (int32_t)((i * 7919 + 31) % m->cfg.n_vocab);
        const size_t bytes = (size_t)(SCORED * m->cfg.n_vocab) * sizeof(float);
        const struct {
            ql_type kv;
            int64_t ubatch; /* 72: the tiled path; 20: the per-key path */
        } cases[] = {{QL_TYPE_F16, 72}, {QL_TYPE_F16, 20}, {QL_TYPE_Q4_0, 72}, {QL_TYPE_Q8_0, 20}};
        for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
            float *one = run_forward(t, m, cases[c].kv, cases[c].ubatch, 1, tok);
            float *two = run_forward(t, m, cases[c].kv, cases[c].ubatch, 2, tok);
            if (one && two)
                CHECK_MSG(memcmp(one, two, bytes) == 0, "%s %s ubatch %lld: 1 and 2 threads differ",
                          archs[a], ql_type_name((int)cases[c].kv), (long long)cases[c].ubatch);
            if (cases[c].kv == QL_TYPE_F16) {
                float *f32 = run_forward(t, m, QL_TYPE_F32, cases[c].ubatch, 1, tok);
                if (f32 && one)
                    CHECK_MSG(memcmp(f32, one, bytes) == 0,
                              "%s ubatch %lld: an f32 cache differs from f16", archs[a],
                              (long long)cases[c].ubatch);
                free(f32);
            }
            free(one), free(two);
        }
        ql_model_free(m);
    }
}
