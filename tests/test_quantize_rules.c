/*
 * test_quantize_rules.c - the per-tensor type rules on cases whose answer
 * follows from llama.cpp's documented rules, worked out by hand here:
 *
 * - use_more_bits(i, n): i < n/8, or i >= 7n/8, or (i - n/8) % 3 == 2. For 32
 *   layers that is layers 0-3, 28-31 and 6, 9, ..., 27: Q4_K_M gives those
 *   layers' attn_v and ffn_down q6_K, the rest q4_K.
 * - the output matrix (or a token embedding tied to it) gets q6_K unless the
 *   file type is Q8_0, and q8_0 when its rows are not whole q6_K blocks.
 * - rows that are not whole 256-element blocks fall back: q4_K -> q5_0,
 *   q5_K -> q5_1, q6_K -> q8_0, q2_K/q3_K -> q4_0, iq4_xs -> iq4_nl; to f16
 *   when not even 32-element blocks fit.
 * The golden test (test_quantize_golden.c) checks the same rules end to end
 * on llama.cpp's own output; these cases cover what the small synthetic
 * models cannot: many layers, GQA >= 4, 70B, experts, odd row lengths, and
 * the override options.
 */
#include <stdlib.h>
#include <string.h>

#include "lab/quantize_rules.h"
#include "test.h"

enum { MAX_TENSORS = 1024 };

typedef struct {
    char names[MAX_TENSORS][64];
    ql_quant_tensor tensors[MAX_TENSORS];
    ql_quant_choice choices[MAX_TENSORS];
    int n;
} model_tensors;

static void add_tensor(model_tensors *m, const char *name, int64_t ne0, int64_t ne1, int64_t ne2) {
    int i = m->n++;
    snprintf(m->names[i], sizeof m->names[i], "%s", name);
    m->tensors[i] = (ql_quant_tensor){m->names[i], {ne0, ne1, ne2, 1}, QL_TYPE_F16};
    if (ne1 == 1 && ne2 == 1) m->tensors[i].type = QL_TYPE_F32;
}

static int compare_tensors(const void *a, const void *b) {
    return ql_quant_tensor_order(((const ql_quant_tensor *)a)->name,
                                 ((const ql_quant_tensor *)b)->name);
}

/* A llama-shaped model (n_embd e, n_ff f, kv width kv) in llama.cpp's tensor order. */
static void make_llama(model_tensors *m, int n_layer, int64_t e, int64_t kv, int64_t f, bool tied) {
    m->n = 0;
    add_tensor(m, "token_embd.weight", e, 32000, 1);
    add_tensor(m, "output_norm.weight", e, 1, 1);
    if (!tied) add_tensor(m, "output.weight", e, 32000, 1);
    char name[64];
    for (int l = 0; l < n_layer; l++) {
        static const char *const parts[] = {"attn_norm", "attn_q",      "attn_k",
                                            "attn_v",    "attn_output", "ffn_norm",
                                            "ffn_gate",  "ffn_up",      "ffn_down"};
        for (size_t p = 0; p < sizeof parts / sizeof *parts; p++) {
            snprintf(name, sizeof name, "blk.%d.%s.weight", l, parts[p]);
            int64_t ne0 = e, ne1 = e;
            if (strstr(parts[p], "norm"))
                ne1 = 1;
            else if (!strcmp(parts[p], "attn_k") || !strcmp(parts[p], "attn_v"))
                ne1 = kv;
            else if (!strcmp(parts[p], "ffn_gate") || !strcmp(parts[p], "ffn_up"))
                ne1 = f;
            else if (!strcmp(parts[p], "ffn_down"))
                ne0 = f;
            add_tensor(m, name, ne0, ne1, 1);
        }
    }
    qsort(m->tensors, (size_t)m->n, sizeof *m->tensors, compare_tensors);
}

static ql_quant_model_info llama_info(int n_layer, int n_head, int n_head_kv) {
    ql_quant_model_info info = {.n_layer = n_layer, .n_head = n_head, .n_head_kv = n_head_kv};
    strcpy(info.arch, "llama");
    return info;
}

static ql_status choose(model_tensors *m, const ql_quant_model_info *info,
                        const ql_quant_options *opts, ql_error *err) {
    return ql_quant_choose_types(info, opts, m->tensors, m->n, m->choices, err);
}

static ql_type type_of(const model_tensors *m, const char *name) {
    for (int i = 0; i < m->n; i++)
        if (strcmp(m->tensors[i].name, name) == 0) return m->choices[i].type;
    return (ql_type)-1;
}

static ql_type layer_type(const model_tensors *m, int layer, const char *part) {
    char name[64];
    snprintf(name, sizeof name, "blk.%d.%s.weight", layer, part);
    return type_of(m, name);
}

#define CHECK_TYPE(m, name, expected)                                                              \
    CHECK_MSG(type_of(m, name) == (expected), "%s: %s, expected %s", name,                         \
              ql_type_name((int)type_of(m, name)), ql_type_name((int)(expected)))
#define CHECK_LAYER(m, layer, part, expected)                                                      \
    CHECK_MSG(layer_type(m, layer, part) == (expected), "blk.%d.%s: %s, expected %s", layer, part, \
              ql_type_name((int)layer_type(m, layer, part)), ql_type_name((int)(expected)))

static model_tensors *new_model(void) {
    return calloc(1, sizeof(model_tensors));
}

QL_TEST(quantize_rules_tensor_order_is_llama_cpp_weight_order) {
    /* outside blocks first, then block number as a number, then name bytewise */
    static const char *const sorted[] = {
        "output.weight",       "output_norm.weight",  "token_embd.weight",   "blk.0.attn_k.weight",
        "blk.0.ffn_up.weight", "blk.2.attn_q.weight", "blk.10.attn_q.weight"};
    int n = (int)(sizeof sorted / sizeof *sorted);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++) {
            int c = ql_quant_tensor_order(sorted[i], sorted[j]);
            CHECK_MSG(i < j   ? c < 0
                      : i > j ? c > 0
                              : c == 0,
                      "order(%s, %s) = %d", sorted[i], sorted[j], c);
        }
}

QL_TEST(quantize_rules_file_type_names) {
    CHECK(ql_ftype_find("Q4_K_M")->ftype == QL_FTYPE_MOSTLY_Q4_K_M);
    CHECK(ql_ftype_find("q4_k_m")->ftype == QL_FTYPE_MOSTLY_Q4_K_M);
    CHECK(ql_ftype_find("q4_k")->ftype == QL_FTYPE_MOSTLY_Q4_K_M);
    CHECK(ql_ftype_find("Q3_K")->ftype == QL_FTYPE_MOSTLY_Q3_K_M);
    CHECK(ql_ftype_find("Q5_K")->ftype == QL_FTYPE_MOSTLY_Q5_K_M);
    CHECK(ql_ftype_find("15")->ftype == QL_FTYPE_MOSTLY_Q4_K_M);
    CHECK(ql_ftype_find("bf16")->default_type == QL_TYPE_BF16);
    CHECK(ql_ftype_find("F32")->ftype == QL_FTYPE_ALL_F32);
    CHECK(ql_ftype_find("IQ4_XS")->ftype == 30);
    CHECK(ql_ftype_find("Q7_K") == NULL);
    CHECK(ql_ftype_find("15x") == NULL);
    CHECK(ql_ftype_find("IQ2_XXS") == NULL);
    CHECK(ql_ftype_is_known_unsupported("iq2_xxs"));
    CHECK(!ql_ftype_is_known_unsupported("Q7_K"));
    /* every listed name finds itself, and its llama_ftype numbers are llama.h's */
    int n;
    const ql_ftype_info *list = ql_ftype_list(&n);
    CHECK_EQ_INT(n, 19);
    for (int i = 0; i < n; i++) CHECK(ql_ftype_find(list[i].name) == &list[i]);
    CHECK_EQ_INT(ql_ftype_find("Q8_0")->ftype, 7);
    CHECK_EQ_INT(ql_ftype_find("Q5_0")->ftype, 8);
    CHECK_EQ_INT(ql_ftype_find("Q6_K")->ftype, 18);
    CHECK_EQ_INT(ql_ftype_find("BF16")->ftype, 32);
}

QL_TEST(quantize_rules_q4_k_m_uses_more_bits_by_layer_position) {
    model_tensors *m = new_model();
    make_llama(m, 32, 4096, 1024, 14336, false);
    ql_quant_model_info info = llama_info(32, 32, 8);
    ql_quant_options opts = ql_quant_default_options(QL_FTYPE_MOSTLY_Q4_K_M);
    REQUIRE(choose(m, &info, &opts, NULL) == QL_OK);
    int upgraded = 0;
    for (int l = 0; l < 32; l++) {
        bool more = l < 4 || l >= 28 || (l - 4) % 3 == 2;
        ql_type want = more ? QL_TYPE_Q6_K : QL_TYPE_Q4_K;
        CHECK_LAYER(m, l, "attn_v", want);
        CHECK_LAYER(m, l, "ffn_down", want);
        CHECK_LAYER(m, l, "attn_q", QL_TYPE_Q4_K);
        CHECK_LAYER(m, l, "attn_k", QL_TYPE_Q4_K);
        CHECK_LAYER(m, l, "attn_output", QL_TYPE_Q4_K);
        CHECK_LAYER(m, l, "ffn_up", QL_TYPE_Q4_K);
        CHECK_LAYER(m, l, "attn_norm", QL_TYPE_F32);
        upgraded += more;
    }
    CHECK_EQ_INT(upgraded, 16);
    CHECK_TYPE(m, "output.weight", QL_TYPE_Q6_K);
    CHECK_TYPE(m, "token_embd.weight", QL_TYPE_Q4_K); /* untied: a lookup table */
    CHECK_TYPE(m, "output_norm.weight", QL_TYPE_F32);

    /* Q5_K_M: the same layers, q6_K over q5_K */
    opts = ql_quant_default_options(QL_FTYPE_MOSTLY_Q5_K_M);
    REQUIRE(choose(m, &info, &opts, NULL) == QL_OK);
    CHECK_LAYER(m, 6, "ffn_down", QL_TYPE_Q6_K);
    CHECK_LAYER(m, 7, "ffn_down", QL_TYPE_Q5_K);
    CHECK_LAYER(m, 27, "attn_v", QL_TYPE_Q6_K);
    free(m);
}

QL_TEST(quantize_rules_q3_and_q2_mixtures) {
    model_tensors *m = new_model();
    make_llama(m, 32, 4096, 1024, 14336, true);
    ql_quant_model_info gqa4 = llama_info(32, 32, 8), gqa1 = llama_info(32, 32, 32);

    /* Q3_K_M: first two attn_v q5_K then q4_K; ffn_down q5_K below n/16 = 2, else q4_K */
    ql_quant_options opts = ql_quant_default_options(QL_FTYPE_MOSTLY_Q3_K_M);
    REQUIRE(choose(m, &gqa4, &opts, NULL) == QL_OK);
    for (int l = 0; l < 32; l++) {
        CHECK_LAYER(m, l, "attn_v", l < 2 ? QL_TYPE_Q5_K : QL_TYPE_Q4_K);
        CHECK_LAYER(m, l, "ffn_down", l < 2 ? QL_TYPE_Q5_K : QL_TYPE_Q4_K);
        CHECK_LAYER(m, l, "attn_output", QL_TYPE_Q4_K);
        CHECK_LAYER(m, l, "attn_q", QL_TYPE_Q3_K);
    }
    CHECK_TYPE(m, "token_embd.weight", QL_TYPE_Q6_K); /* tied: it is the output matrix */

    /* Q3_K_L: attn_v, ffn_down and attn_output all q5_K */
    opts = ql_quant_default_options(QL_FTYPE_MOSTLY_Q3_K_L);
    REQUIRE(choose(m, &gqa4, &opts, NULL) == QL_OK);
    CHECK_LAYER(m, 17, "attn_v", QL_TYPE_Q5_K);
    CHECK_LAYER(m, 17, "ffn_down", QL_TYPE_Q5_K);
    CHECK_LAYER(m, 17, "attn_output", QL_TYPE_Q5_K);
    CHECK_LAYER(m, 17, "ffn_gate", QL_TYPE_Q3_K);

    /* Q3_K_S: no mixture inside the blocks */
    opts = ql_quant_default_options(QL_FTYPE_MOSTLY_Q3_K_S);
    REQUIRE(choose(m, &gqa4, &opts, NULL) == QL_OK);
    CHECK_LAYER(m, 0, "attn_v", QL_TYPE_Q3_K);
    CHECK_LAYER(m, 0, "ffn_down", QL_TYPE_Q3_K);
    CHECK_LAYER(m, 0, "attn_output", QL_TYPE_Q3_K);

    /* Q2_K: attn_v q4_K with GQA >= 4, q3_K without; ffn_down and attn_output q3_K */
    opts = ql_quant_default_options(QL_FTYPE_MOSTLY_Q2_K);
    REQUIRE(choose(m, &gqa4, &opts, NULL) == QL_OK);
    CHECK_LAYER(m, 5, "attn_v", QL_TYPE_Q4_K);
    CHECK_LAYER(m, 5, "ffn_down", QL_TYPE_Q3_K);
    CHECK_LAYER(m, 5, "attn_output", QL_TYPE_Q3_K);
    CHECK_LAYER(m, 5, "attn_k", QL_TYPE_Q2_K);
    REQUIRE(choose(m, &gqa1, &opts, NULL) == QL_OK);
    CHECK_LAYER(m, 5, "attn_v", QL_TYPE_Q3_K);
    free(m);
}

QL_TEST(quantize_rules_q4_k_s_and_iq4_mixtures) {
    model_tensors *m = new_model();
    make_llama(m, 32, 4096, 1024, 14336, false);
    ql_quant_model_info gqa4 = llama_info(32, 32, 8), gqa2 = llama_info(32, 32, 16);

    /* Q4_K_S: the first four attn_v and the first n/8 = 4 ffn_down get q5_K */
    ql_quant_options opts = ql_quant_default_options(QL_FTYPE_MOSTLY_Q4_K_S);
    REQUIRE(choose(m, &gqa4, &opts, NULL) == QL_OK);
    for (int l = 0; l < 32; l++) {
        CHECK_LAYER(m, l, "attn_v", l < 4 ? QL_TYPE_Q5_K : QL_TYPE_Q4_K);
        CHECK_LAYER(m, l, "ffn_down", l < 4 ? QL_TYPE_Q5_K : QL_TYPE_Q4_K);
    }

    /* IQ4_NL / IQ4_XS: attn_v q5_K only with GQA >= 4; first n/8 ffn_down q5_K */
    for (int k = 0; k < 2; k++) {
        ql_ftype ft = k ? QL_FTYPE_MOSTLY_IQ4_XS : QL_FTYPE_MOSTLY_IQ4_NL;
        ql_type base = k ? QL_TYPE_IQ4_XS : QL_TYPE_IQ4_NL;
        opts = ql_quant_default_options(ft);
        REQUIRE(choose(m, &gqa4, &opts, NULL) == QL_OK);
        CHECK_LAYER(m, 20, "attn_v", QL_TYPE_Q5_K);
        CHECK_LAYER(m, 3, "ffn_down", QL_TYPE_Q5_K);
        CHECK_LAYER(m, 4, "ffn_down", base);
        CHECK_LAYER(m, 4, "attn_q", base);
        CHECK_TYPE(m, "output.weight", QL_TYPE_Q6_K);
        REQUIRE(choose(m, &gqa2, &opts, NULL) == QL_OK);
        CHECK_LAYER(m, 20, "attn_v", base);
    }

    /* Q8_0 keeps the output in q8_0; the legacy types give it q6_K */
    opts = ql_quant_default_options(QL_FTYPE_MOSTLY_Q8_0);
    REQUIRE(choose(m, &gqa4, &opts, NULL) == QL_OK);
    CHECK_TYPE(m, "output.weight", QL_TYPE_Q8_0);
    CHECK_LAYER(m, 0, "attn_v", QL_TYPE_Q8_0);
    opts = ql_quant_default_options(QL_FTYPE_MOSTLY_Q4_0);
    REQUIRE(choose(m, &gqa4, &opts, NULL) == QL_OK);
    CHECK_TYPE(m, "output.weight", QL_TYPE_Q6_K);
    CHECK_LAYER(m, 0, "attn_v", QL_TYPE_Q4_0);
    CHECK_LAYER(m, 0, "ffn_down", QL_TYPE_Q4_0);
    free(m);
}

QL_TEST(quantize_rules_70b_and_expert_models) {
    model_tensors *m = new_model();
    make_llama(m, 80, 1024, 128, 2048, false);

    /* a llama with 80 layers and GQA is llama.cpp's "70B": q3_K/q4_K attn_v become q5_K */
    ql_quant_model_info big = llama_info(80, 64, 8);
    ql_quant_options opts = ql_quant_default_options(QL_FTYPE_MOSTLY_Q4_K_M);
    REQUIRE(choose(m, &big, &opts, NULL) == QL_OK);
    /* use_more_bits(i, 80): i < 10, i >= 70, or i = 12, 15, ..., 69 */
    CHECK_LAYER(m, 11, "attn_v", QL_TYPE_Q5_K); /* q4_K, raised by the 70B rule */
    CHECK_LAYER(m, 12, "attn_v", QL_TYPE_Q6_K);
    CHECK_LAYER(m, 11, "ffn_down", QL_TYPE_Q4_K); /* the 70B rule is for attn_v only */
    CHECK_LAYER(m, 12, "ffn_down", QL_TYPE_Q6_K);
    opts = ql_quant_default_options(QL_FTYPE_MOSTLY_Q3_K_S);
    REQUIRE(choose(m, &big, &opts, NULL) == QL_OK);
    CHECK_LAYER(m, 40, "attn_v", QL_TYPE_Q5_K);
    /* without GQA, 80 layers is the 65B: no upgrade */
    ql_quant_model_info mha = llama_info(80, 64, 64);
    REQUIRE(choose(m, &mha, &opts, NULL) == QL_OK);
    CHECK_LAYER(m, 40, "attn_v", QL_TYPE_Q3_K);

    /* eight experts: attn_v and attn_k q8_0, attn_output q5_K for Q4_K_M */
    make_llama(m, 8, 1024, 256, 2048, false);
    ql_quant_model_info moe = llama_info(8, 32, 8);
    moe.n_expert = 8;
    opts = ql_quant_default_options(QL_FTYPE_MOSTLY_Q4_K_M);
    REQUIRE(choose(m, &moe, &opts, NULL) == QL_OK);
    CHECK_LAYER(m, 3, "attn_v", QL_TYPE_Q8_0);
    CHECK_LAYER(m, 3, "attn_k", QL_TYPE_Q8_0);
    CHECK_LAYER(m, 3, "attn_output", QL_TYPE_Q5_K);
    free(m);

    /* expert tensors take their layer from the name, and a name without one is an error */
    model_tensors *e = new_model();
    add_tensor(e, "blk.0.ffn_down_exps.weight", 512, 256, 8);
    add_tensor(e, "blk.7.ffn_down_exps.weight", 512, 256, 8);
    add_tensor(e, "blk.1.ffn_down_exps.weight", 512, 256, 8);
    qsort(e->tensors, (size_t)e->n, sizeof *e->tensors, compare_tensors);
    ql_quant_model_info info = llama_info(8, 8, 8);
    info.n_expert = 4;
    REQUIRE(choose(e, &info, &opts, NULL) == QL_OK);
    /* use_more_bits(i, 8): layers 0, 3, 6, 7 */
    CHECK_TYPE(e, "blk.0.ffn_down_exps.weight", QL_TYPE_Q6_K);
    CHECK_TYPE(e, "blk.1.ffn_down_exps.weight", QL_TYPE_Q4_K);
    CHECK_TYPE(e, "blk.7.ffn_down_exps.weight", QL_TYPE_Q6_K);
    add_tensor(e, "ffn_down_shared.weight", 512, 256, 1);
    ql_error err;
    CHECK(choose(e, &info, &opts, &err) == QL_ERR_FORMAT);
    CHECK_MSG(strstr(err.msg, "ffn_down_shared.weight") != NULL, "message: %s", err.msg);
    info.n_layer = 4; /* blk.7 is then outside the model */
    e->n--;
    CHECK(choose(e, &info, &opts, &err) == QL_ERR_FORMAT);
    free(e);
}

QL_TEST(quantize_rules_fallbacks_for_rows_that_are_not_whole_blocks) {
    model_tensors *m = new_model();
    /* 4544 = 17.75 x 256 = 142 x 32; 100 is not even a multiple of 32 */
    make_llama(m, 4, 4544, 4544, 18176, false);
    add_tensor(m, "blk.0.odd.weight", 100, 64, 1);
    qsort(m->tensors, (size_t)m->n, sizeof *m->tensors, compare_tensors);
    ql_quant_model_info info = llama_info(4, 71, 71);

    static const struct {
        ql_ftype ftype;
        ql_type body, odd;
    } cases[] = {
        {QL_FTYPE_MOSTLY_Q4_K_S, QL_TYPE_Q5_0, QL_TYPE_F16},
        {QL_FTYPE_MOSTLY_Q5_K_S, QL_TYPE_Q5_1, QL_TYPE_F16},
        {QL_FTYPE_MOSTLY_Q6_K, QL_TYPE_Q8_0, QL_TYPE_F16},
        {QL_FTYPE_MOSTLY_Q3_K_S, QL_TYPE_Q4_0, QL_TYPE_F16},
        {QL_FTYPE_MOSTLY_IQ4_XS, QL_TYPE_IQ4_NL, QL_TYPE_F16},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        ql_quant_options opts = ql_quant_default_options(cases[i].ftype);
        REQUIRE(choose(m, &info, &opts, NULL) == QL_OK);
        CHECK_LAYER(m, 1, "attn_q", cases[i].body);
        CHECK_TYPE(m, "blk.0.odd.weight", cases[i].odd);
        /* the output matrix goes to q8_0 when its rows are not whole blocks */
        CHECK_TYPE(m, "output.weight", QL_TYPE_Q8_0);
        for (int k = 0; k < m->n; k++)
            if (!strcmp(m->tensors[k].name, "blk.1.attn_q.weight")) {
                CHECK(m->choices[k].fell_back);
                CHECK(m->choices[k].wanted != m->choices[k].type);
            }
    }
    /* a type with 32-element blocks and rows of 100: llama.cpp defines no fallback */
    ql_quant_options opts = ql_quant_default_options(QL_FTYPE_MOSTLY_Q4_0);
    ql_error err;
    CHECK(choose(m, &info, &opts, &err) == QL_ERR_UNSUPPORTED);
    CHECK_MSG(strstr(err.msg, "blk.0.odd.weight") && strstr(err.msg, "q4_0"), "message: %s",
              err.msg);
    free(m);
}

QL_TEST(quantize_rules_which_tensors_are_quantized) {
    model_tensors *m = new_model();
    add_tensor(m, "blk.0.attn_norm.weight", 256, 1, 1);     /* 1-D */
    add_tensor(m, "blk.0.flat.weight", 256, 1, 1);          /* 1-D */
    add_tensor(m, "blk.0.column.weight", 256, 1, 1);        /* [256, 1]: counts as 1-D */
    add_tensor(m, "blk.0.attn_q.bias", 256, 256, 1);        /* not a weight */
    add_tensor(m, "blk.0.attn_q_norm.weight", 256, 256, 1); /* a norm, even 2-D */
    add_tensor(m, "blk.0.ffn_gate_inp.weight", 256, 8, 1);  /* expert router */
    add_tensor(m, "position_embd.weight", 256, 256, 1);
    add_tensor(m, "blk.0.attn_q.weight", 256, 256, 1);
    add_tensor(m, "blk.0.ffn_up_exps.weight", 256, 512, 4); /* a 3-D expert stack */
    add_tensor(m, "abcde", 256, 256, 1); /* 5 bytes: llama.cpp's size_t wrap-around passes it */
    add_tensor(m, "abcd", 256, 256, 1);  /* 4 bytes: it does not */
    add_tensor(m, "weights", 256, 256, 1);
    qsort(m->tensors, (size_t)m->n, sizeof *m->tensors, compare_tensors);
    ql_quant_model_info info = llama_info(1, 4, 4);
    ql_quant_options opts = ql_quant_default_options(QL_FTYPE_MOSTLY_Q8_0);
    REQUIRE(choose(m, &info, &opts, NULL) == QL_OK);
    static const struct {
        const char *name;
        bool quantized;
    } expect[] = {
        {"blk.0.attn_norm.weight", false},
        {"blk.0.flat.weight", false},
        {"blk.0.column.weight", false},
        {"blk.0.attn_q.bias", false},
        {"blk.0.attn_q_norm.weight", false},
        {"blk.0.ffn_gate_inp.weight", false},
        {"position_embd.weight", false},
        {"blk.0.attn_q.weight", true},
        {"blk.0.ffn_up_exps.weight", true},
        {"abcde", true},
        {"abcd", false},
        {"weights", false},
    };
    for (size_t i = 0; i < sizeof expect / sizeof *expect; i++) {
        for (int k = 0; k < m->n; k++) {
            if (strcmp(m->tensors[k].name, expect[i].name) != 0) continue;
            CHECK_MSG(m->choices[k].quantizable == expect[i].quantized, "%s: quantizable %d",
                      expect[i].name, m->choices[k].quantizable);
            ql_type want = expect[i].quantized ? QL_TYPE_Q8_0 : m->tensors[k].type;
            CHECK_TYPE(m, expect[i].name, want);
        }
    }
    free(m);
}

QL_TEST(quantize_rules_overrides_pure_and_unquantized_targets) {
    model_tensors *m = new_model();
    make_llama(m, 4, 256, 128, 512, true);
    ql_quant_model_info info = llama_info(4, 4, 2);

    /* --tensor-type: the first matching rule wins, and the rule's tensor skips the mixture */
    ql_regex *v0, *ffn, *all_v;
    REQUIRE(ql_regex_compile("blk\\.0\\.attn_v", &v0, NULL) == QL_OK);
    REQUIRE(ql_regex_compile("ffn_(up|gate)", &ffn, NULL) == QL_OK);
    REQUIRE(ql_regex_compile("attn_v", &all_v, NULL) == QL_OK);
    ql_tensor_type_rule rules[] = {{v0, QL_TYPE_Q8_0}, {ffn, QL_TYPE_Q5_0}, {all_v, QL_TYPE_Q4_0}};
    ql_quant_options opts = ql_quant_default_options(QL_FTYPE_MOSTLY_Q3_K_M);
    opts.tensor_type_rules = rules;
    opts.n_tensor_type_rules = 2;
    REQUIRE(choose(m, &info, &opts, NULL) == QL_OK);
    CHECK_LAYER(m, 0, "attn_v", QL_TYPE_Q8_0);
    CHECK_LAYER(m, 2, "ffn_up", QL_TYPE_Q5_0);
    CHECK_LAYER(m, 2, "ffn_gate", QL_TYPE_Q5_0);
    /*
     * Q3_K_M gives the first two attn_v it *rules on* q5_K: blk.0's was taken by
     * the override and not counted, so blk.1 and blk.2 get q5_K, blk.3 q4_K.
     */
    CHECK_LAYER(m, 1, "attn_v", QL_TYPE_Q5_K);
    CHECK_LAYER(m, 2, "attn_v", QL_TYPE_Q5_K);
    CHECK_LAYER(m, 3, "attn_v", QL_TYPE_Q4_K);
    opts.n_tensor_type_rules = 3;
    REQUIRE(choose(m, &info, &opts, NULL) == QL_OK);
    CHECK_LAYER(m, 0, "attn_v", QL_TYPE_Q8_0); /* the earlier rule still wins */
    CHECK_LAYER(m, 3, "attn_v", QL_TYPE_Q4_0);
    for (int k = 0; k < m->n; k++)
        if (!strcmp(m->tensors[k].name, "blk.3.attn_v.weight")) CHECK(m->choices[k].by_rule);

    /* --output-tensor-type also types a tied embedding; --token-embedding-type wins over it */
    opts = ql_quant_default_options(QL_FTYPE_MOSTLY_Q4_K_M);
    opts.output_tensor_type = QL_TYPE_Q8_0;
    REQUIRE(choose(m, &info, &opts, NULL) == QL_OK);
    CHECK_TYPE(m, "token_embd.weight", QL_TYPE_Q8_0);
    opts.token_embedding_type = QL_TYPE_Q4_0;
    REQUIRE(choose(m, &info, &opts, NULL) == QL_OK);
    CHECK_TYPE(m, "token_embd.weight", QL_TYPE_Q4_0);

    /* --pure: every matrix the default type, the embedding too */
    opts = ql_quant_default_options(QL_FTYPE_MOSTLY_Q4_K_M);
    opts.pure = true;
    REQUIRE(choose(m, &info, &opts, NULL) == QL_OK);
    CHECK_TYPE(m, "token_embd.weight", QL_TYPE_Q4_K);
    CHECK_LAYER(m, 3, "attn_v", QL_TYPE_Q4_K);
    CHECK_LAYER(m, 3, "attn_norm", QL_TYPE_F32);

    /* F16 / BF16 / F32 targets: matrices converted, norms kept, --tensor-type ignored */
    ql_ftype plain[] = {QL_FTYPE_MOSTLY_F16, QL_FTYPE_MOSTLY_BF16, QL_FTYPE_ALL_F32};
    ql_type plain_type[] = {QL_TYPE_F16, QL_TYPE_BF16, QL_TYPE_F32};
    for (int i = 0; i < 3; i++) {
        opts = ql_quant_default_options(plain[i]);
        opts.tensor_type_rules = rules;
        opts.n_tensor_type_rules = 3;
        REQUIRE(choose(m, &info, &opts, NULL) == QL_OK);
        CHECK_TYPE(m, "token_embd.weight", plain_type[i]);
        CHECK_LAYER(m, 0, "attn_v", plain_type[i]);
        CHECK_LAYER(m, 0, "ffn_down", plain_type[i]);
        CHECK_LAYER(m, 0, "ffn_norm", QL_TYPE_F32);
    }

    /* --leave-output-tensor keeps output.weight as it is */
    make_llama(m, 4, 256, 128, 512, false);
    opts = ql_quant_default_options(QL_FTYPE_MOSTLY_Q4_K_M);
    opts.leave_output_tensor = true;
    REQUIRE(choose(m, &info, &opts, NULL) == QL_OK);
    CHECK_TYPE(m, "output.weight", QL_TYPE_F16);
    ql_regex_free(v0);
    ql_regex_free(ffn);
    ql_regex_free(all_v);
    free(m);
}
