/*
 * test_quant_legacy.c - the legacy formats beyond the golden bytes.
 *
 * q8_0 and q8_1 have two quantizers: ggml's reference (d = amax/127,
 * multiplier 1/d, roundf: ties away from zero) and the one ggml's x86 CPU
 * backend runs on activations (multiplier 127/amax, ties to even). The
 * hand-worked blocks below show where they part: a value exactly on a half
 * step, and a value whose product with the multiplier lands on either side
 * of a half step depending on how the multiplier was rounded. The expected
 * bytes were worked out by hand (and agree with ggml's own output).
 *
 * The round-trip test checks the promise of every uniform format: a value
 * comes back within half a quantization step, plus what storing the scale
 * (and minimum) as f16 costs.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "quant/blocks.h"
#include "quant/quant.h"
#include "test.h"

static void quantize_ref(ql_type type, const float *x, void *dst, int64_t n) {
    ql_type_traits_get((int)type)->from_float_ref(x, dst, n);
}

static void quantize_runtime(ql_type type, const float *x, void *dst, int64_t n) {
    ql_type_traits_get((int)type)->from_float(x, dst, n);
}

/*
 * amax = 127 makes d = 1 and both multipliers exactly 1, so every product
 * is the value itself: 2.5, -0.5, 0.5, -2.5 and 126.5 are exact ties.
 */
static const float tie_block[QL_QK8_0] = {127.0f, 2.5f, -0.5f, 3.5f,  1.5f,
                                          -2.5f,  0.5f, -1.5f, 126.5f};
static const int8_t tie_codes_ref[9] = {127, 3, -1, 4, 2, -3, 1, -2, 127};    /* away from zero */
static const int8_t tie_codes_runtime[9] = {127, 2, 0, 4, 2, -2, 0, -2, 126}; /* to even */

QL_TEST(quant_q8_0_runtime_rounds_ties_to_even) {
    block_q8_0 ref, runtime;
    quantize_ref(QL_TYPE_Q8_0, tie_block, &ref, QL_QK8_0);
    quantize_runtime(QL_TYPE_Q8_0, tie_block, &runtime, QL_QK8_0);
    CHECK_EQ_INT(ref.d, 0x3c00); /* 1.0 */
    CHECK_EQ_INT(runtime.d, 0x3c00);
    for (int j = 0; j < QL_QK8_0; j++) {
        const int want_ref = j < 9 ? tie_codes_ref[j] : 0;
        const int want_runtime = j < 9 ? tie_codes_runtime[j] : 0;
        CHECK_MSG(ref.qs[j] == want_ref, "reference code %d of %g: %d, expected %d", j,
                  tie_block[j], ref.qs[j], want_ref);
        CHECK_MSG(runtime.qs[j] == want_runtime, "run-time code %d of %g: %d, expected %d", j,
                  tie_block[j], runtime.qs[j], want_runtime);
    }
}

QL_TEST(quant_q8_1_runtime_sum_follows_its_own_codes) {
    block_q8_1 ref, runtime;
    quantize_ref(QL_TYPE_Q8_1, tie_block, &ref, QL_QK8_1);
    quantize_runtime(QL_TYPE_Q8_1, tie_block, &runtime, QL_QK8_1);
    for (int j = 0; j < 9; j++) {
        CHECK_EQ_INT(ref.qs[j], tie_codes_ref[j]);
        CHECK_EQ_INT(runtime.qs[j], tie_codes_runtime[j]);
    }
    /* s = d * sum(codes) with d = 1: 258 and 257, both exact in f16 (1.0078125 * 2^8 = 0x5c08) */
    CHECK_EQ_INT(ref.s, 0x5c08);
    CHECK_EQ_INT(runtime.s, 0x5c04);
}

/*
 * amax = 0.082f and v = 0.041f = amax/2 exactly, so v * 127/amax is 63.5
 * in exact arithmetic. The reference's multiplier 1/(0.082f/127) rounds to
 * 0x1.8331f4p+10, the run-time's 127/0.082f to 0x1.8331f2p+10, one ulp
 * less; v times them rounds to 63.5000038 and 63.4999962, so the codes are
 * 64 and 63 - no tie involved. d = fp16(0.082f/127) = 0x114a for both; q8_1's
 * s = fp16(d * 191) = 0x2fe5 against fp16(d * 190) = 0x2fda.
 */
QL_TEST(quant_q8_runtime_multiplier_is_127_over_amax) {
    const float amax = 0.082f, half = 0.041f;
    REQUIRE(half * 2.0f == amax);
    CHECK(1.0f / (amax / 127.0f) == 0x1.8331f4p+10f);
    CHECK(127.0f / amax == 0x1.8331f2p+10f);

    float x[QL_QK8_0] = {amax, half};
    block_q8_0 ref0, run0;
    quantize_ref(QL_TYPE_Q8_0, x, &ref0, QL_QK8_0);
    quantize_runtime(QL_TYPE_Q8_0, x, &run0, QL_QK8_0);
    CHECK_EQ_INT(ref0.d, 0x114a);
    CHECK_EQ_INT(run0.d, 0x114a);
    CHECK_EQ_INT(ref0.qs[0], 127);
    CHECK_EQ_INT(run0.qs[0], 127);
    CHECK_EQ_INT(ref0.qs[1], 64);
    CHECK_EQ_INT(run0.qs[1], 63);

    block_q8_1 ref1, run1;
    quantize_ref(QL_TYPE_Q8_1, x, &ref1, QL_QK8_1);
    quantize_runtime(QL_TYPE_Q8_1, x, &run1, QL_QK8_1);
    CHECK_EQ_INT(ref1.qs[1], 64);
    CHECK_EQ_INT(run1.qs[1], 63);
    CHECK_EQ_INT(ref1.s, 0x2fe5);
    CHECK_EQ_INT(run1.s, 0x2fda);
}

QL_TEST(quant_q8_zero_block_is_all_zero) {
    const float zeros[QL_QK8_1] = {0};
    block_q8_1 ref, runtime;
    quantize_ref(QL_TYPE_Q8_1, zeros, &ref, QL_QK8_1);
    quantize_runtime(QL_TYPE_Q8_1, zeros, &runtime, QL_QK8_1);
    const block_q8_1 zero = {0};
    CHECK(memcmp(&ref, &zero, sizeof zero) == 0);
    CHECK(memcmp(&runtime, &zero, sizeof zero) == 0);
}

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;

static double rng_uniform(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return ((rng_state >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

static double rng_normal(void) {
    return sqrt(-2.0 * log(rng_uniform())) * cos(6.283185307179586 * rng_uniform());
}

/* Scales chosen so every f16 scale stays normal (its rounding is then relative). */
static void fill(float *x, int n, int dist) {
    for (int i = 0; i < n; i++) {
        switch (dist) {
        case 0:
            x[i] = (float)rng_normal();
            break;
        case 1:
            x[i] = (float)(2.0 * rng_uniform() - 1.0);
            break;
        case 2:
            x[i] = (float)rng_uniform();
            break;
        case 3:
            x[i] = (float)(rng_normal() * (i % 37 == 0 ? 20.0 : 1.0));
            break;
        case 4:
            x[i] = (float)(-3.0 * rng_uniform());
            break;
        case 5:
            x[i] = 0.75f;
            break;
        case 6:
            x[i] = 0.0f;
            break;
        default:
            x[i] = (float)(rng_normal() * 300.0);
            break;
        }
    }
}

/*
 * Away from half steps the two q8 quantizers agree. Over many blocks a code
 * may differ by one at most, and only where the exact x * 127 / amax lies
 * within float rounding of a half step: each quantizer rounds three times
 * (scale, multiplier, product), at most 3 * 2^-24 relative plus half an ulp
 * of 127.5, about 2.7e-5 in all. The scales always agree. Two kinds of
 * blocks are planted so differences do occur: exact ties (amax = 127 * 2^e
 * makes both multipliers 2^-e exactly, and every value is (k + 0.5) * 2^e),
 * and a value of amax/2, exactly 63.5 steps, which the two multipliers
 * round to either side.
 */
static void plant_half_steps(float *xb, int b) {
    if (b % 3 == 0) {
        const float step = ldexpf(1.0f, (int)(rng_uniform() * 7.0) - 3);
        xb[0] = 127.0f * step;
        for (int j = 1; j < QL_QK8_0; j++)
            xb[j] = ((float)(int)(rng_uniform() * 254.0) - 127.0f + 0.5f) * step;
    } else if (b % 3 == 1) {
        float amax = 0.0f;
        for (int j = 0; j < QL_QK8_0; j++) amax = fmaxf(amax, fabsf(xb[j]));
        xb[1] = amax * 0.5f;
    }
}

QL_TEST(quant_q8_runtime_differs_from_reference_only_at_half_steps) {
    enum { N = 32 * 4096 };
    float *x = malloc(N * sizeof(float));
    block_q8_0 *ref = malloc(N / QL_QK8_0 * sizeof(block_q8_0));
    block_q8_0 *run = malloc(N / QL_QK8_0 * sizeof(block_q8_0));
    REQUIRE(x && ref && run);
    int differing[3] = {0}; /* by kind of block: exact ties, amax/2 planted, unplanted */
    for (int dist = 0; dist < 8; dist++) {
        fill(x, N, dist);
        for (int b = 0; b < N / QL_QK8_0; b++) plant_half_steps(x + b * QL_QK8_0, b);
        quantize_ref(QL_TYPE_Q8_0, x, ref, N);
        quantize_runtime(QL_TYPE_Q8_0, x, run, N);
        for (int b = 0; b < N / QL_QK8_0; b++) {
            const float *xb = x + b * QL_QK8_0;
            double amax = 0.0;
            for (int j = 0; j < QL_QK8_0; j++) amax = fmax(amax, fabs(xb[j]));
            CHECK_MSG(ref[b].d == run[b].d, "dist %d block %d: scales 0x%04x and 0x%04x", dist, b,
                      ref[b].d, run[b].d);
            for (int j = 0; j < QL_QK8_0; j++) {
                if (ref[b].qs[j] == run[b].qs[j]) continue;
                const double exact = amax > 0.0 ? xb[j] * 127.0 / amax : 0.0;
                const double from_half = fabs(exact - (floor(exact) + 0.5));
                differing[b % 3]++;
                CHECK_MSG(abs(ref[b].qs[j] - run[b].qs[j]) == 1 && from_half < 2.7e-5,
                          "dist %d block %d elem %d: x*127/amax = %.9g, codes %d (reference) "
                          "and %d (run-time)",
                          dist, b, j, exact, ref[b].qs[j], run[b].qs[j]);
            }
        }
    }
    /* without both planted kinds of difference this test would show nothing */
    CHECK_MSG(differing[0] > 0 && differing[1] > 0,
              "codes differ at %d exact ties, %d planted amax/2, %d elsewhere", differing[0],
              differing[1], differing[2]);
    free(x), free(ref), free(run);
}

/*
 * |x - dequant(quant(x))| for one uniform format. q is the code value
 * (after removing the offset), qmax its largest magnitude, qtop the largest
 * positive code of a symmetric format. Per element the bound is
 *     |d| * (max(0.5, t - qtop) + qmax * 2^-11 + 1e-4)  [+ |m| * 2^-11]
 * where t = x / d in exact arithmetic: half a step from rounding (more only
 * where the symmetric formats clamp the value opposite the extreme to
 * qtop), qmax * 2^-11 * |d| from rounding d to f16 (half an ulp of a normal
 * f16 is at most 2^-11 of it), the same for the minimum m of the _1
 * formats, and 1e-4 of a step for float rounding inside the quantizer.
 */
typedef enum {
    SCALE_FROM_SIGNED_MAX, /* q4_0, q5_0: d = max / -divisor, max the value of largest magnitude */
    SCALE_FROM_AMAX,       /* q8_0, q8_1: d = |max| / divisor */
    SCALE_FROM_RANGE,      /* q4_1, q5_1: d = (max - min) / divisor, x = d * q + m */
} scale_kind;

typedef struct {
    ql_type type;
    bool runtime;
    scale_kind scale;
    double divisor;
    int qmax, qtop;
} round_trip_case;

static void check_round_trip(ql_test_ctx *t, const round_trip_case *c) {
    const ql_type_traits *tr = ql_type_traits_get((int)c->type);
    enum { N = 32 * 512 };
    float x[N], y[N];
    void *q = malloc(ql_row_size(c->type, N));
    REQUIRE(q);
    double worst = 0.0; /* largest error as a fraction of its bound */
    for (int dist = 0; dist < 8; dist++) {
        fill(x, N, dist);
        (c->runtime ? tr->from_float : tr->from_float_ref)(x, q, N);
        tr->to_float(q, y, N);
        for (int b = 0; b < N / 32; b++) {
            const float *xb = x + 32 * b, *yb = y + 32 * b;
            double min = xb[0], max = xb[0], extreme = 0.0;
            for (int j = 0; j < 32; j++) {
                min = fmin(min, xb[j]), max = fmax(max, xb[j]);
                if (fabs(xb[j]) > fabs(extreme)) extreme = xb[j];
            }
            const bool has_min = c->scale == SCALE_FROM_RANGE;
            const double d = has_min                       ? (max - min) / c->divisor
                             : c->scale == SCALE_FROM_AMAX ? fabs(extreme) / c->divisor
                                                           : extreme / -c->divisor;
            const double m = has_min ? fabs(min) : 0.0;
            for (int j = 0; j < 32; j++) {
                const double tq = d != 0.0 ? (has_min ? xb[j] - min : xb[j]) / d : 0.0;
                const double steps = has_min ? 0.5 : fmax(0.5, tq - c->qtop);
                const double bound =
                    fabs(d) * (steps + c->qmax * 0x1p-11 + 1e-4) + m * 0x1p-11 + 0x1p-24;
                const double err = fabs((double)xb[j] - yb[j]);
                if (err / bound > worst) worst = err / bound;
                CHECK_MSG(err <= bound,
                          "%s%s dist %d block %d elem %d: x %.9g came back %.9g, "
                          "|error| %.3g > bound %.3g (step %.3g)",
                          tr->name, c->runtime ? " (run-time)" : "", dist, b, j, xb[j], yb[j], err,
                          bound, fabs(d));
            }
        }
    }
    /* the bound must not be vacuous: real data comes close to half a step */
    CHECK_MSG(worst > 0.8, "%s: largest error only %.2f of the bound", tr->name, worst);
    free(q);
}

QL_TEST(quant_legacy_round_trip_within_half_step) {
    const round_trip_case cases[] = {
        {QL_TYPE_Q4_0, false, SCALE_FROM_SIGNED_MAX, 8.0, 8, 7},
        {QL_TYPE_Q5_0, false, SCALE_FROM_SIGNED_MAX, 16.0, 16, 15},
        {QL_TYPE_Q4_1, false, SCALE_FROM_RANGE, 15.0, 15, 15},
        {QL_TYPE_Q5_1, false, SCALE_FROM_RANGE, 31.0, 31, 31},
        {QL_TYPE_Q8_0, false, SCALE_FROM_AMAX, 127.0, 127, 127},
        {QL_TYPE_Q8_0, true, SCALE_FROM_AMAX, 127.0, 127, 127},
        {QL_TYPE_Q8_1, false, SCALE_FROM_AMAX, 127.0, 127, 127},
        {QL_TYPE_Q8_1, true, SCALE_FROM_AMAX, 127.0, 127, 127},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) check_round_trip(t, &cases[i]);
}
