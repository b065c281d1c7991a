/*
 * traits.c - the type-traits table: one row per ggml type id. Adding a block
 * format is adding a row here plus its family file. Rows without function
 * pointers describe formats qlens can size (so `qlens info` reads any GGUF)
 * but not compute with.
 */
#include "quant.h"
#include "quant_impl.h"

#include <ctype.h>
#include <string.h>

static const ql_type_traits traits[QL_TYPE_COUNT] = {
    [QL_TYPE_F32] = {.name = "f32",
                     .block_size = 1,
                     .type_size = 4,
                     .to_float = ql_dequantize_row_f32,
                     .from_float_ref = ql_quantize_row_f32_ref,
                     .from_float = ql_quantize_row_f32_ref,
                     .vec_dot = ql_vec_dot_f32_f32,
                     .vec_dot_type = QL_TYPE_F32},
    [QL_TYPE_F16] = {.name = "f16",
                     .block_size = 1,
                     .type_size = 2,
                     .to_float = ql_dequantize_row_f16,
                     .from_float_ref = ql_quantize_row_f16_ref,
                     .from_float = ql_quantize_row_f16_ref,
                     .vec_dot = ql_vec_dot_f16_f16,
                     .vec_dot_type = QL_TYPE_F16},
    [QL_TYPE_BF16] = {.name = "bf16",
                      .block_size = 1,
                      .type_size = 2,
                      .to_float = ql_dequantize_row_bf16,
                      .from_float_ref = ql_quantize_row_bf16_ref,
                      .from_float = ql_quantize_row_bf16_ref,
                      .vec_dot = ql_vec_dot_bf16_bf16,
                      .vec_dot_type = QL_TYPE_BF16},
    [QL_TYPE_Q4_0] = {.name = "q4_0",
                      .block_size = 32,
                      .type_size = 18,
                      .is_quantized = true,
                      .to_float = ql_dequantize_row_q4_0,
                      .from_float_ref = ql_quantize_row_q4_0_ref,
                      .from_float = ql_quantize_row_q4_0_ref,
                      .vec_dot = ql_vec_dot_q4_0_q8_0,
                      .vec_dot_type = QL_TYPE_Q8_0},
    [QL_TYPE_Q4_1] = {.name = "q4_1",
                      .block_size = 32,
                      .type_size = 20,
                      .is_quantized = true,
                      .to_float = ql_dequantize_row_q4_1,
                      .from_float_ref = ql_quantize_row_q4_1_ref,
                      .from_float = ql_quantize_row_q4_1_ref,
                      .vec_dot = ql_vec_dot_q4_1_q8_1,
                      .vec_dot_type = QL_TYPE_Q8_1},
    [QL_TYPE_Q5_0] = {.name = "q5_0",
                      .block_size = 32,
                      .type_size = 22,
                      .is_quantized = true,
                      .to_float = ql_dequantize_row_q5_0,
                      .from_float_ref = ql_quantize_row_q5_0_ref,
                      .from_float = ql_quantize_row_q5_0_ref,
                      .vec_dot = ql_vec_dot_q5_0_q8_0,
                      .vec_dot_type = QL_TYPE_Q8_0},
    [QL_TYPE_Q5_1] = {.name = "q5_1",
                      .block_size = 32,
                      .type_size = 24,
                      .is_quantized = true,
                      .to_float = ql_dequantize_row_q5_1,
                      .from_float_ref = ql_quantize_row_q5_1_ref,
                      .from_float = ql_quantize_row_q5_1_ref,
                      .vec_dot = ql_vec_dot_q5_1_q8_1,
                      .vec_dot_type = QL_TYPE_Q8_1},
    [QL_TYPE_Q8_0] = {.name = "q8_0",
                      .block_size = 32,
                      .type_size = 34,
                      .is_quantized = true,
                      .to_float = ql_dequantize_row_q8_0,
                      .from_float_ref = ql_quantize_row_q8_0_ref,
                      .from_float = ql_quantize_row_q8_0,
                      .vec_dot = ql_vec_dot_q8_0_q8_0,
                      .vec_dot_type = QL_TYPE_Q8_0},
    [QL_TYPE_Q8_1] = {.name = "q8_1",
                      .block_size = 32,
                      .type_size = 36,
                      .is_quantized = true,
                      .to_float = ql_dequantize_row_q8_1,
                      .from_float_ref = ql_quantize_row_q8_1_ref,
                      .from_float = ql_quantize_row_q8_1,
                      .vec_dot = ql_vec_dot_q8_1_q8_1,
                      .vec_dot_type = QL_TYPE_Q8_1},
    [QL_TYPE_Q2_K] = {.name = "q2_K",
                      .block_size = 256,
                      .type_size = 84,
                      .is_quantized = true,
                      .to_float = ql_dequantize_row_q2_K,
                      .from_float_ref = ql_quantize_row_q2_K_ref,
                      .from_float = ql_quantize_row_q2_K_ref,
                      .vec_dot = ql_vec_dot_q2_K_q8_K,
                      .vec_dot_type = QL_TYPE_Q8_K},
    [QL_TYPE_Q3_K] = {.name = "q3_K",
                      .block_size = 256,
                      .type_size = 110,
                      .is_quantized = true,
                      .to_float = ql_dequantize_row_q3_K,
                      .from_float_ref = ql_quantize_row_q3_K_ref,
                      .from_float = ql_quantize_row_q3_K_ref,
                      .vec_dot = ql_vec_dot_q3_K_q8_K,
                      .vec_dot_type = QL_TYPE_Q8_K},
    [QL_TYPE_Q4_K] = {.name = "q4_K",
                      .block_size = 256,
                      .type_size = 144,
                      .is_quantized = true,
                      .to_float = ql_dequantize_row_q4_K,
                      .from_float_ref = ql_quantize_row_q4_K_ref,
                      .from_float = ql_quantize_row_q4_K_ref,
                      .vec_dot = ql_vec_dot_q4_K_q8_K,
                      .vec_dot_type = QL_TYPE_Q8_K},
    [QL_TYPE_Q5_K] = {.name = "q5_K",
                      .block_size = 256,
                      .type_size = 176,
                      .is_quantized = true,
                      .to_float = ql_dequantize_row_q5_K,
                      .from_float_ref = ql_quantize_row_q5_K_ref,
                      .from_float = ql_quantize_row_q5_K_ref,
                      .vec_dot = ql_vec_dot_q5_K_q8_K,
                      .vec_dot_type = QL_TYPE_Q8_K},
    [QL_TYPE_Q6_K] = {.name = "q6_K",
                      .block_size = 256,
                      .type_size = 210,
                      .is_quantized = true,
                      .to_float = ql_dequantize_row_q6_K,
                      .from_float_ref = ql_quantize_row_q6_K_ref,
                      .from_float = ql_quantize_row_q6_K_ref,
                      .vec_dot = ql_vec_dot_q6_K_q8_K,
                      .vec_dot_type = QL_TYPE_Q8_K},
    [QL_TYPE_Q8_K] = {.name = "q8_K",
                      .block_size = 256,
                      .type_size = 292,
                      .is_quantized = true,
                      .to_float = ql_dequantize_row_q8_K,
                      .from_float_ref = ql_quantize_row_q8_K_ref,
                      .from_float = ql_quantize_row_q8_K_ref,
                      .vec_dot = ql_vec_dot_q8_K_q8_K,
                      .vec_dot_type = QL_TYPE_Q8_K},
    [QL_TYPE_IQ4_NL] = {.name = "iq4_nl",
                        .block_size = 32,
                        .type_size = 18,
                        .is_quantized = true,
                        .to_float = ql_dequantize_row_iq4_nl,
                        .from_float_ref = ql_quantize_row_iq4_nl_ref,
                        .from_float = ql_quantize_row_iq4_nl,
                        .vec_dot = ql_vec_dot_iq4_nl_q8_0,
                        .vec_dot_type = QL_TYPE_Q8_0},
    [QL_TYPE_IQ4_XS] = {.name = "iq4_xs",
                        .block_size = 256,
                        .type_size = 136,
                        .is_quantized = true,
                        .to_float = ql_dequantize_row_iq4_xs,
                        .from_float_ref = ql_quantize_row_iq4_xs_ref,
                        .from_float = ql_quantize_row_iq4_xs_ref,
                        .vec_dot = ql_vec_dot_iq4_xs_q8_K,
                        .vec_dot_type = QL_TYPE_Q8_K},
    [QL_TYPE_MXFP4] = {.name = "mxfp4",
                       .block_size = 32,
                       .type_size = 17,
                       .is_quantized = true,
                       .to_float = ql_dequantize_row_mxfp4,
                       .from_float_ref = ql_quantize_row_mxfp4_ref,
                       .from_float = ql_quantize_row_mxfp4_ref,
                       .vec_dot = ql_vec_dot_mxfp4_q8_0,
                       .vec_dot_type = QL_TYPE_Q8_0},

    /* Known to ggml, sized here, not computed with. */
    [QL_TYPE_IQ2_XXS] = {.name = "iq2_xxs",
                         .block_size = 256,
                         .type_size = 66,
                         .is_quantized = true},
    [QL_TYPE_IQ2_XS] = {.name = "iq2_xs", .block_size = 256, .type_size = 74, .is_quantized = true},
    [QL_TYPE_IQ3_XXS] = {.name = "iq3_xxs",
                         .block_size = 256,
                         .type_size = 98,
                         .is_quantized = true},
    [QL_TYPE_IQ1_S] = {.name = "iq1_s", .block_size = 256, .type_size = 50, .is_quantized = true},
    [QL_TYPE_IQ3_S] = {.name = "iq3_s", .block_size = 256, .type_size = 110, .is_quantized = true},
    [QL_TYPE_IQ2_S] = {.name = "iq2_s", .block_size = 256, .type_size = 82, .is_quantized = true},
    [QL_TYPE_I8] = {.name = "i8", .block_size = 1, .type_size = 1},
    [QL_TYPE_I16] = {.name = "i16", .block_size = 1, .type_size = 2},
    [QL_TYPE_I32] = {.name = "i32", .block_size = 1, .type_size = 4},
    [QL_TYPE_I64] = {.name = "i64", .block_size = 1, .type_size = 8},
    [QL_TYPE_F64] = {.name = "f64", .block_size = 1, .type_size = 8},
    [QL_TYPE_IQ1_M] = {.name = "iq1_m", .block_size = 256, .type_size = 56, .is_quantized = true},
    [QL_TYPE_TQ1_0] = {.name = "tq1_0", .block_size = 256, .type_size = 54, .is_quantized = true},
    [QL_TYPE_TQ2_0] = {.name = "tq2_0", .block_size = 256, .type_size = 66, .is_quantized = true},
    [QL_TYPE_NVFP4] = {.name = "nvfp4", .block_size = 64, .type_size = 36, .is_quantized = true},
    [QL_TYPE_Q1_0] = {.name = "q1_0", .block_size = 128, .type_size = 18, .is_quantized = true},
    [QL_TYPE_Q2_0] = {.name = "q2_0", .block_size = 64, .type_size = 18, .is_quantized = true},
};

const ql_type_traits *ql_type_traits_get(int id) {
    if (id < 0 || id >= QL_TYPE_COUNT || traits[id].block_size == 0) return NULL;
    return &traits[id];
}

bool ql_type_is_known(int id) {
    return ql_type_traits_get(id) != NULL;
}

bool ql_type_is_computable(int id) {
    const ql_type_traits *t = ql_type_traits_get(id);
    return t && t->to_float && t->from_float_ref && t->vec_dot;
}

const char *ql_type_name(int id) {
    const ql_type_traits *t = ql_type_traits_get(id);
    return t ? t->name : "unknown";
}

int ql_type_from_name(const char *name) {
    for (int id = 0; id < QL_TYPE_COUNT; id++) {
        if (traits[id].block_size == 0) continue;
        const char *a = traits[id].name, *b = name;
        while (*a && *b && tolower((unsigned char)*a) == tolower((unsigned char)*b)) a++, b++;
        if (*a == '\0' && *b == '\0') return id;
    }
    return -1;
}

size_t ql_row_size(ql_type type, int64_t n) {
    const ql_type_traits *t = ql_type_traits_get((int)type);
    return t ? (size_t)(n / t->block_size) * t->type_size : 0;
}
