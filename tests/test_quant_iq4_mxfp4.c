/*
 * test_quant_iq4_mxfp4.c - hand-worked blocks for the choices in iq4_nl and
 * mxfp4 that the golden bytes alone do not explain: why iq4_nl has a
 * run-time quantizer of its own, how mxfp4 picks its shared exponent, and
 * that the E8M0 scale decodes its subnormal end exactly.
 */
#include <math.h>
#include <string.h>

#include "quant/blocks.h"
#include "quant/quant.h"
#include "test.h"

/*
 * A block of 32 x 0.75. The reference (ggml's file quantizer) first maps
 * 0.75 to the top level +113: scale 0.75/113. Its search then tries the
 * scales that map 0.75 to -127 + k; those fit the block exactly as well,
 * and only a strictly better fit replaces the first, so d = fp16(0.75/113)
 * = 0x1ecc with every code 15. ggml's run-time quantizer (what its KV cache
 * uses) does not search: it maps 0.75 to -127 directly, d = fp16(-0.75/127)
 * = 0x9e0c with every code 0. Both decode to 0.75 within f16 rounding.
 */
QL_TEST(quant_iq4_nl_runtime_skips_scale_search) {
    float x[QL_QK4_NL];
    for (int j = 0; j < QL_QK4_NL; j++) x[j] = 0.75f;
    const ql_type_traits *tr = ql_type_traits_get(QL_TYPE_IQ4_NL);
    block_iq4_nl ref, runtime;
    tr->from_float_ref(x, &ref, QL_QK4_NL);
    tr->from_float(x, &runtime, QL_QK4_NL);
    CHECK_EQ_INT(ref.d, 0x1ecc);
    CHECK_EQ_INT(runtime.d, 0x9e0c);
    for (int j = 0; j < QL_QK4_NL / 2; j++) {
        CHECK_EQ_INT(ref.qs[j], 0xff);
        CHECK_EQ_INT(runtime.qs[j], 0x00);
    }
    float back[QL_QK4_NL];
    tr->to_float(&runtime, back, QL_QK4_NL);
    CHECK_NEAR(back[0], 0.75, 0.75 * 0x1p-11);
    tr->to_float(&ref, back, QL_QK4_NL);
    CHECK_NEAR(back[0], 0.75, 0.75 * 0x1p-11);
}

/*
 * The shared exponent is floor(log2f(amax)) - 2 + 127. Just below a power
 * of two log2f rounds to the integer: log2(0x1.fffffep2) = 3 - 8.6e-8, and
 * the floats next to 3 are 2.4e-7 apart, so log2f gives 3 and the block is
 * scaled as if amax were 8 (e = 128; frexpf would say 127). Below 4 the
 * spacing is 1.2e-7, log2f(0x1.fffffep1) = 0x1.fffffep0, and e = 126.
 */
QL_TEST(quant_mxfp4_exponent_follows_log2f) {
    const struct {
        float amax;
        int e;
    } cases[] = {{0x1.fffffep2f, 128}, {8.0f, 128},           {0x1.fffffep1f, 126},
                 {1.0f, 125},          {0x1.fffffep-1f, 124}, {0x1p-20f, 105}};
    const ql_type_traits *tr = ql_type_traits_get(QL_TYPE_MXFP4);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        float x[QL_QK_MXFP4] = {cases[i].amax};
        block_mxfp4 q;
        tr->from_float_ref(x, &q, QL_QK_MXFP4);
        CHECK_MSG(q.e == cases[i].e, "amax %a: exponent %d, expected %d", (double)cases[i].amax,
                  q.e, cases[i].e);
    }
    /* with e = 128 the levels are 0, 0.5, ..., 6 times 2: 0x1.fffffep2 comes back as 8 */
    float x[QL_QK_MXFP4] = {0x1.fffffep2f}, back[QL_QK_MXFP4];
    block_mxfp4 q;
    tr->from_float_ref(x, &q, QL_QK_MXFP4);
    tr->to_float(&q, back, QL_QK_MXFP4);
    CHECK(back[0] == 8.0f);
    CHECK(back[1] == 0.0f);
}

/* Code 1 is the level 0.5, so it decodes to 2^(e - 128): subnormal for e = 0 and 1. */
QL_TEST(quant_mxfp4_e8m0_scale_decodes_exactly) {
    const ql_type_traits *tr = ql_type_traits_get(QL_TYPE_MXFP4);
    const int exponents[] = {0, 1, 2, 127, 128, 254};
    for (size_t i = 0; i < sizeof exponents / sizeof exponents[0]; i++) {
        block_mxfp4 q;
        q.e = (uint8_t)exponents[i];
        memset(q.qs, 0, sizeof q.qs);
        q.qs[0] = 0x91; /* element 0: code 1 (+0.5), element 16: code 9 (-0.5) */
        float back[QL_QK_MXFP4];
        tr->to_float(&q, back, QL_QK_MXFP4);
        const float want = ldexpf(1.0f, exponents[i] - 128);
        CHECK_MSG(back[0] == want && back[16] == -want, "e %d: %a and %a, expected +-%a",
                  exponents[i], (double)back[0], (double)back[16], (double)want);
    }
}
