/*
 * test_quant_golden.c - every block format against ggml's own bytes.
 *
 * ../shared/golden/quant/<type>.qgv holds 48 rows of 512 inputs, the bytes
 * ggml's reference quantizer made of them and the floats its to_float made
 * of those bytes. Our quantizer must produce the same bytes and our
 * dequantizer the same floats, bit for bit (compared as bit patterns, so
 * NaN and -0.0 count).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "quant/quant.h"
#include "test.h"

typedef struct {
    uint32_t type, n_rows, n_per_row, row_bytes;
    const float *input;
    const uint8_t *quantized;
    const float *dequantized;
    unsigned char *buf;
} qgv_file;

static bool qgv_load(ql_test_ctx *t, const char *name, qgv_file *q) {
    char rel[128];
    snprintf(rel, sizeof rel, "golden/quant/%s.qgv", name);
    size_t size;
    q->buf = ql_test_read_file(ql_test_shared_path(rel), &size);
    if (!q->buf) {
        ql_test_failf(t, __FILE__, __LINE__, "cannot read %s", ql_test_shared_path(rel));
        return false;
    }
    uint32_t h[6];
    if (size < sizeof h) return false;
    memcpy(h, q->buf, sizeof h);
    if (h[0] != 0x56474c51u || h[1] != 1) {
        ql_test_failf(t, __FILE__, __LINE__, "%s: bad qgv header", name);
        return false;
    }
    q->type = h[2], q->n_rows = h[3], q->n_per_row = h[4], q->row_bytes = h[5];
    size_t n = (size_t)q->n_rows * q->n_per_row;
    size_t need = sizeof h + n * 4 + (size_t)q->n_rows * q->row_bytes + n * 4;
    if (size != need) {
        ql_test_failf(t, __FILE__, __LINE__, "%s: size %zu, expected %zu", name, size, need);
        return false;
    }
    q->input = (const float *)(q->buf + sizeof h);
    q->quantized = q->buf + sizeof h + n * 4;
    q->dequantized = (const float *)(q->quantized + (size_t)q->n_rows * q->row_bytes);
    return true;
}

static void check_golden(ql_test_ctx *t, const char *name) {
    qgv_file q;
    if (!qgv_load(t, name, &q)) {
        free(q.buf);
        return;
    }
    const ql_type_traits *tr = ql_type_traits_get((int)q.type);
    CHECK_MSG(tr != NULL, "%s: type id %u unknown", name, q.type);
    if (!tr) goto done;
    CHECK_MSG(strcmp(tr->name, name) == 0, "type id %u is named %s, file is %s", q.type, tr->name,
              name);
    CHECK_EQ_INT(ql_row_size((ql_type)q.type, q.n_per_row), q.row_bytes);
    CHECK_MSG(tr->from_float_ref && tr->to_float, "%s: no quantizer/dequantizer", name);
    if (!tr->from_float_ref || !tr->to_float) goto done;

    uint8_t *bytes = malloc(q.row_bytes);
    float *floats = malloc(q.n_per_row * sizeof(float));
    int bad_rows_q = 0, bad_rows_dq = 0;
    for (uint32_t r = 0; r < q.n_rows; r++) {
        tr->from_float_ref(q.input + (size_t)r * q.n_per_row, bytes, q.n_per_row);
        const uint8_t *want = q.quantized + (size_t)r * q.row_bytes;
        if (memcmp(bytes, want, q.row_bytes) != 0) {
            uint32_t at = 0;
            while (bytes[at] == want[at]) at++;
            if (bad_rows_q++ < 4)
                ql_test_failf(t, __FILE__, __LINE__,
                              "%s row %u (distribution %u): quantized byte %u is 0x%02x, ggml "
                              "has 0x%02x",
                              name, r, r % 12, at, bytes[at], want[at]);
        }
        tr->to_float(want, floats, q.n_per_row);
        const float *wantf = q.dequantized + (size_t)r * q.n_per_row;
        if (memcmp(floats, wantf, q.n_per_row * sizeof(float)) != 0) {
            uint32_t at = 0;
            while (memcmp(&floats[at], &wantf[at], 4) == 0) at++;
            if (bad_rows_dq++ < 4)
                ql_test_failf(t, __FILE__, __LINE__,
                              "%s row %u: dequantized value %u is %.9g, ggml has %.9g", name, r, at,
                              floats[at], wantf[at]);
        }
    }
    CHECK_MSG(bad_rows_q == 0, "%s: %d of %u rows quantize differently", name, bad_rows_q,
              q.n_rows);
    CHECK_MSG(bad_rows_dq == 0, "%s: %d of %u rows dequantize differently", name, bad_rows_dq,
              q.n_rows);
    free(bytes);
    free(floats);
done:
    free(q.buf);
}

QL_TEST(quant_golden_f16) {
    check_golden(t, "f16");
}
QL_TEST(quant_golden_bf16) {
    check_golden(t, "bf16");
}
QL_TEST(quant_golden_q4_0) {
    check_golden(t, "q4_0");
}
QL_TEST(quant_golden_q4_1) {
    check_golden(t, "q4_1");
}
QL_TEST(quant_golden_q5_0) {
    check_golden(t, "q5_0");
}
QL_TEST(quant_golden_q5_1) {
    check_golden(t, "q5_1");
}
QL_TEST(quant_golden_q8_0) {
    check_golden(t, "q8_0");
}
QL_TEST(quant_golden_q2_K) {
    check_golden(t, "q2_K");
}
QL_TEST(quant_golden_q3_K) {
    check_golden(t, "q3_K");
}
QL_TEST(quant_golden_q4_K) {
    check_golden(t, "q4_K");
}
QL_TEST(quant_golden_q5_K) {
    check_golden(t, "q5_K");
}
QL_TEST(quant_golden_q6_K) {
    check_golden(t, "q6_K");
}
QL_TEST(quant_golden_iq4_nl) {
    check_golden(t, "iq4_nl");
}
QL_TEST(quant_golden_iq4_xs) {
    check_golden(t, "iq4_xs");
}
QL_TEST(quant_golden_mxfp4) {
    check_golden(t, "mxfp4");
}
