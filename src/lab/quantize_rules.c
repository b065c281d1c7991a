/*
 * quantize_rules.c - llama-quantize's per-tensor type choice (no importance
 * matrix), for the file types qlens produces.
 *
 * The decision has the same layers as llama.cpp's: a predicate says whether
 * a tensor is quantized at all; user overrides come next; then the file
 * type's mixture rules by tensor category and layer position; last, a
 * fallback when the chosen type's block size does not divide the row
 * length. Rules for file types qlens refuses (the IQ1/IQ2/IQ3 families,
 * Q2_K_S, MXFP4_MOE, ternary types) are left out: they can never be
 * reached, because ql_ftype_find does not return those types.
 */
#include "quantize_rules.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/* File types                                                                */
/* ------------------------------------------------------------------------ */

static const ql_ftype_info ftypes[] = {
    {"Q4_0", QL_FTYPE_MOSTLY_Q4_0, QL_TYPE_Q4_0},
    {"Q4_1", QL_FTYPE_MOSTLY_Q4_1, QL_TYPE_Q4_1},
    {"Q5_0", QL_FTYPE_MOSTLY_Q5_0, QL_TYPE_Q5_0},
    {"Q5_1", QL_FTYPE_MOSTLY_Q5_1, QL_TYPE_Q5_1},
    {"Q2_K", QL_FTYPE_MOSTLY_Q2_K, QL_TYPE_Q2_K},
    {"Q3_K_S", QL_FTYPE_MOSTLY_Q3_K_S, QL_TYPE_Q3_K},
    {"Q3_K_M", QL_FTYPE_MOSTLY_Q3_K_M, QL_TYPE_Q3_K},
    {"Q3_K_L", QL_FTYPE_MOSTLY_Q3_K_L, QL_TYPE_Q3_K},
    {"IQ4_NL", QL_FTYPE_MOSTLY_IQ4_NL, QL_TYPE_IQ4_NL},
    {"IQ4_XS", QL_FTYPE_MOSTLY_IQ4_XS, QL_TYPE_IQ4_XS},
    {"Q4_K_S", QL_FTYPE_MOSTLY_Q4_K_S, QL_TYPE_Q4_K},
    {"Q4_K_M", QL_FTYPE_MOSTLY_Q4_K_M, QL_TYPE_Q4_K},
    {"Q5_K_S", QL_FTYPE_MOSTLY_Q5_K_S, QL_TYPE_Q5_K},
    {"Q5_K_M", QL_FTYPE_MOSTLY_Q5_K_M, QL_TYPE_Q5_K},
    {"Q6_K", QL_FTYPE_MOSTLY_Q6_K, QL_TYPE_Q6_K},
    {"Q8_0", QL_FTYPE_MOSTLY_Q8_0, QL_TYPE_Q8_0},
    {"F16", QL_FTYPE_MOSTLY_F16, QL_TYPE_F16},
    {"BF16", QL_FTYPE_MOSTLY_BF16, QL_TYPE_BF16},
    {"F32", QL_FTYPE_ALL_F32, QL_TYPE_F32},
};
enum { N_FTYPES = sizeof ftypes / sizeof ftypes[0] };

/* llama-quantize's short names for the _M mixtures. */
static const struct {
    const char *alias;
    ql_ftype ftype;
} ftype_aliases[] = {
    {"Q3_K", QL_FTYPE_MOSTLY_Q3_K_M},
    {"Q4_K", QL_FTYPE_MOSTLY_Q4_K_M},
    {"Q5_K", QL_FTYPE_MOSTLY_Q5_K_M},
};

/* Names llama-quantize accepts that need types or an importance matrix qlens lacks. */
static const char *const unsupported_ftype_names[] = {
    "Q1_0",  "Q2_0",  "MXFP4_MOE", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ2_M",  "IQ1_S", "IQ1_M",
    "TQ1_0", "TQ2_0", "Q2_K_S",    "IQ3_XXS", "IQ3_S",  "IQ3_M", "IQ3_XS", "COPY",
};

const ql_ftype_info *ql_ftype_list(int *n) {
    *n = N_FTYPES;
    return ftypes;
}

static bool equals_ignoring_case(const char *a, const char *b) {
    for (; *a && *b; a++, b++)
        if (tolower((unsigned char)*a) != tolower((unsigned char)*b)) return false;
    return *a == *b;
}

static const ql_ftype_info *find_by_ftype(ql_ftype ftype) {
    for (int i = 0; i < N_FTYPES; i++)
        if (ftypes[i].ftype == ftype) return &ftypes[i];
    return NULL;
}

const ql_ftype_info *ql_ftype_find(const char *name) {
    for (int i = 0; i < N_FTYPES; i++)
        if (equals_ignoring_case(ftypes[i].name, name)) return &ftypes[i];
    for (size_t i = 0; i < sizeof ftype_aliases / sizeof *ftype_aliases; i++)
        if (equals_ignoring_case(ftype_aliases[i].alias, name))
            return find_by_ftype(ftype_aliases[i].ftype);
    /* a llama_ftype number, as llama-quantize also accepts */
    if (*name >= '0' && *name <= '9' && strlen(name) <= 4) {
        char *end;
        long v = strtol(name, &end, 10);
        if (*end == 0) return find_by_ftype((ql_ftype)v);
    }
    return NULL;
}

const char *ql_ftype_names(void) {
    static char names[512];
    if (!names[0]) {
        size_t used = 0;
        for (int i = 0; i < N_FTYPES; i++)
            used += (size_t)snprintf(names + used, sizeof names - used, "%s%s", i ? ", " : "",
                                     ftypes[i].name);
    }
    return names;
}

bool ql_ftype_is_known_unsupported(const char *name) {
    for (size_t i = 0; i < sizeof unsupported_ftype_names / sizeof *unsupported_ftype_names; i++)
        if (equals_ignoring_case(unsupported_ftype_names[i], name)) return true;
    return false;
}

ql_quant_options ql_quant_default_options(ql_ftype ftype) {
    return (ql_quant_options){
        .ftype = ftype,
        .output_tensor_type = -1,
        .token_embedding_type = -1,
    };
}

/* ------------------------------------------------------------------------ */
/* Tensor order and categories                                              */
/* ------------------------------------------------------------------------ */

/*
 * The block number as llama.cpp reads it, sscanf(name, "blk.%d.", ...):
 * -1 when the name does not start with "blk." followed by a number.
 */
static int block_number(const char *name) {
    int layer = -1;
    if (sscanf(name, "blk.%d.", &layer) != 1) return -1;
    return layer;
}

int ql_quant_tensor_order(const char *a, const char *b) {
    int la = block_number(a), lb = block_number(b);
    if (la != lb) return la < lb ? -1 : 1;
    return strcmp(a, b);
}

/* Broad roles, by name, the way llama.cpp groups tensors for its rules. */
typedef enum {
    CAT_TOKEN_EMBD,
    CAT_ATTN_Q,
    CAT_ATTN_V,
    CAT_ATTN_K,
    CAT_ATTN_QKV,
    CAT_ATTN_KV_B,
    CAT_ATTN_OUTPUT,
    CAT_FFN_UP,
    CAT_FFN_GATE,
    CAT_FFN_DOWN,
    CAT_OUTPUT,
    CAT_OTHER,
} tensor_category;

static tensor_category category_of(const char *name) {
    if (strcmp(name, "output.weight") == 0) return CAT_OUTPUT;
    if (strcmp(name, "token_embd.weight") == 0 || strcmp(name, "per_layer_token_embd.weight") == 0)
        return CAT_TOKEN_EMBD;
    if (strstr(name, "attn_qkv.weight")) return CAT_ATTN_QKV;
    if (strstr(name, "attn_kv_b.weight")) return CAT_ATTN_KV_B;
    if (strstr(name, "attn_v.weight")) return CAT_ATTN_V;
    if (strstr(name, "attn_k.weight")) return CAT_ATTN_K;
    if (strstr(name, "attn_q.weight")) return CAT_ATTN_Q;
    if (strstr(name, "attn_output.weight")) return CAT_ATTN_OUTPUT;
    /* no ".weight" here: these also catch ffn_up_exps, ffn_down_shexp, ... */
    if (strstr(name, "ffn_up")) return CAT_FFN_UP;
    if (strstr(name, "ffn_gate")) return CAT_FFN_GATE;
    if (strstr(name, "ffn_down")) return CAT_FFN_DOWN;
    return CAT_OTHER;
}

/* The value projections, fused or not: the tensors most sensitive to quantization. */
static bool is_attn_v_like(tensor_category c) {
    return c == CAT_ATTN_V || c == CAT_ATTN_QKV || c == CAT_ATTN_KV_B;
}

/* ggml_n_dims: trailing dimensions of size 1 do not count. */
static int effective_dims(const int64_t ne[4]) {
    for (int i = 3; i >= 1; i--)
        if (ne[i] > 1) return i + 1;
    return 1;
}

/*
 * Whether llama-quantize quantizes a tensor at all: only matrices (2-D or
 * 3-D expert stacks) whose name ends in "weight", and among those not the
 * norms, the expert router, positional and token-type embeddings, and a list
 * of small tensors of other architectures that are kept exact.
 */
static bool allows_quantization(const char *name, const int64_t ne[4],
                                const ql_quant_options *opts) {
    if (effective_dims(ne) < 2) return false;
    size_t len = strlen(name);
    /*
     * llama.cpp tests name.rfind("weight") == name.size() - 6 in size_t
     * arithmetic: for a 5-byte name both sides wrap to SIZE_MAX and the test
     * passes. Kept, so that such a name is treated as llama-quantize treats it.
     */
    bool ends_in_weight;
    if (len >= 6) {
        const char *last = NULL;
        for (const char *p = strstr(name, "weight"); p; p = strstr(p + 1, "weight")) last = p;
        ends_in_weight = last == name + len - 6;
    } else {
        ends_in_weight = len == 5;
    }
    if (!ends_in_weight) return false;
    if (strstr(name, "_norm.weight")) return false;
    if (opts->leave_output_tensor && strcmp(name, "output.weight") == 0) return false;
    static const char *const kept_exact[] = {
        "ffn_gate_inp.weight",
        "ffn_gate_tid2eid.weight",
        "altup",
        "laurel",
        "per_layer_model_proj",
        "ssm_conv1d",
        "shortconv.conv.weight",
        "indexer.k_proj.weight",
        "indexer.q_proj.weight",
        "time_mix_first.weight",
        "time_mix_w0.weight",
        "time_mix_w1.weight",
        "time_mix_w2.weight",
        "time_mix_v0.weight",
        "time_mix_v1.weight",
        "time_mix_v2.weight",
        "time_mix_a0.weight",
        "time_mix_a1.weight",
        "time_mix_a2.weight",
        "time_mix_g1.weight",
        "time_mix_g2.weight",
        "time_mix_decay_w1.weight",
        "time_mix_decay_w2.weight",
        "time_mix_lerp_fused.weight",
        "attn_rel_b.weight",
        ".position_embd",
        "sam.pos_embd",
        "sam.neck.",
        "sam.net_",
        ".rel_pos",
        ".patch_embd",
        ".patch_merger",
        "a.rvq.codebook",
        "mm.a.code_embd",
    };
    for (size_t i = 0; i < sizeof kept_exact / sizeof *kept_exact; i++)
        if (strstr(name, kept_exact[i])) return false;
    /* BERT-style absolute positions and token types are whole names, not substrings */
    if (strcmp(name, "position_embd.weight") == 0 || strcmp(name, "token_types.weight") == 0)
        return false;
    return true;
}

/* ------------------------------------------------------------------------ */
/* The mixture rules                                                         */
/* ------------------------------------------------------------------------ */

typedef struct {
    const ql_quant_model_info *model;
    const ql_quant_options *opts;
    bool is_falcon;
    bool is_70b; /* llama.cpp's LLM_TYPE_70B: 8 query heads share each V head */
    int64_t n_gqa;
    int64_t n_attention_wv, i_attention_wv;
    int64_t n_ffn_down, i_ffn_down;
    int64_t n_ffn_gate, i_ffn_gate;
    int64_t n_ffn_up, i_ffn_up;
    bool has_tied_embeddings; /* no output.weight: token_embd is also the output matrix */
} rules_state;

/* llama.cpp's model size class for the archs where it is "70B" (the only one the rules read). */
static bool model_is_70b(const ql_quant_model_info *m) {
    if (m->n_layer != 80) return false;
    if (strcmp(m->arch, "llama") == 0) return m->n_expert != 8 && m->n_head != m->n_head_kv;
    return strcmp(m->arch, "qwen2") == 0 || strcmp(m->arch, "deci") == 0 ||
           strcmp(m->arch, "olmoe") == 0;
}

/* More bits for the first and last eighth of the layers and every third one between. */
static bool use_more_bits(int64_t i_layer, int64_t n_layers) {
    return i_layer < n_layers / 8 || i_layer >= 7 * n_layers / 8 ||
           (i_layer - n_layers / 8) % 3 == 2;
}

/*
 * The layer a per-layer rule applies to: the running count of tensors of the
 * category, except in mixture-of-experts models, where expert tensors of a
 * layer need not be adjacent and the number is read from the name.
 */
static ql_status layer_of(const rules_state *st, int64_t counter, int64_t n_layer, const char *name,
                          int64_t *i_layer, ql_error *err) {
    int64_t n_expert = st->model->n_expert > 1 ? st->model->n_expert : 1;
    *i_layer = counter;
    if (n_expert > 1) {
        int layer;
        if (sscanf(name, "blk.%d.", &layer) != 1)
            return ql_fail(err, QL_ERR_FORMAT,
                           "cannot determine the layer of tensor %s (expected blk.N.)", name);
        if (layer < 0 || layer >= n_layer)
            return ql_fail(err, QL_ERR_FORMAT, "tensor %s: layer %d is outside [0, %lld)", name,
                           layer, (long long)n_layer);
        *i_layer = layer;
    }
    return QL_OK;
}

/* The mixture's choice for one quantizable tensor; new_type enters as the default type. */
static ql_status mixture_type(rules_state *st, const ql_quant_tensor *t, tensor_category cat,
                              ql_type *new_type, ql_error *err) {
    const ql_ftype ftype = st->opts->ftype;
    const int64_t n_expert = st->model->n_expert;
    ql_type type = *new_type;
    int64_t i_layer;

    if (cat == CAT_OUTPUT || (st->has_tied_embeddings && cat == CAT_TOKEN_EMBD)) {
        /* The output matrix decides the next token directly: at least q6_K. A tied
         * embedding is that matrix too, and follows --output-tensor-type. */
        if (st->opts->output_tensor_type >= 0) {
            type = (ql_type)st->opts->output_tensor_type;
        } else if (st->is_falcon || t->ne[0] % ql_type_traits_get((int)type)->block_size != 0) {
            type = QL_TYPE_Q8_0;
        } else if (type != QL_TYPE_Q8_0) {
            type = QL_TYPE_Q6_K;
        }
    } else if (cat == CAT_TOKEN_EMBD) {
        /* an untied embedding is a lookup table: the default type suits it */
    } else if (is_attn_v_like(cat)) {
        if (ftype == QL_FTYPE_MOSTLY_Q2_K) {
            type = st->n_gqa >= 4 ? QL_TYPE_Q4_K : QL_TYPE_Q3_K;
        } else if (ftype == QL_FTYPE_MOSTLY_Q3_K_M) {
            type = st->i_attention_wv < 2 ? QL_TYPE_Q5_K : QL_TYPE_Q4_K;
        } else if (ftype == QL_FTYPE_MOSTLY_Q3_K_L) {
            type = QL_TYPE_Q5_K;
        } else if ((ftype == QL_FTYPE_MOSTLY_IQ4_NL || ftype == QL_FTYPE_MOSTLY_IQ4_XS) &&
                   st->n_gqa >= 4) {
            type = QL_TYPE_Q5_K;
        } else if ((ftype == QL_FTYPE_MOSTLY_Q4_K_M || ftype == QL_FTYPE_MOSTLY_Q5_K_M) &&
                   use_more_bits(st->i_attention_wv, st->n_attention_wv)) {
            type = QL_TYPE_Q6_K;
        } else if (ftype == QL_FTYPE_MOSTLY_Q4_K_S && st->i_attention_wv < 4) {
            type = QL_TYPE_Q5_K;
        }
        /* With GQA of 8 the V matrix is 8x smaller than Q: more bits cost little. */
        if (st->is_70b && (type == QL_TYPE_Q3_K || type == QL_TYPE_Q4_K)) type = QL_TYPE_Q5_K;
        if (n_expert == 8) type = QL_TYPE_Q8_0;
        st->i_attention_wv++;
    } else if (cat == CAT_ATTN_K) {
        if (n_expert == 8) type = QL_TYPE_Q8_0;
    } else if (cat == CAT_ATTN_Q) {
        /* only the IQ3 file types, which qlens does not produce, change Q */
    } else if (cat == CAT_FFN_DOWN) {
        if (layer_of(st, st->i_ffn_down, st->n_ffn_down, t->name, &i_layer, err)) return err->code;
        const int64_t n_layer = st->n_ffn_down;
        if (ftype == QL_FTYPE_MOSTLY_Q2_K) {
            type = QL_TYPE_Q3_K;
        } else if (ftype == QL_FTYPE_MOSTLY_Q3_K_M) {
            type = i_layer < n_layer / 16                              ? QL_TYPE_Q5_K
                   : !st->is_falcon || use_more_bits(i_layer, n_layer) ? QL_TYPE_Q4_K
                                                                       : QL_TYPE_Q3_K;
        } else if (ftype == QL_FTYPE_MOSTLY_Q3_K_L) {
            type = st->is_falcon ? QL_TYPE_Q4_K : QL_TYPE_Q5_K;
        } else if (ftype == QL_FTYPE_MOSTLY_Q4_K_M) {
            if (st->is_falcon)
                type = i_layer < n_layer / 16            ? QL_TYPE_Q6_K
                       : use_more_bits(i_layer, n_layer) ? QL_TYPE_Q5_K
                                                         : QL_TYPE_Q4_K;
            else if (use_more_bits(i_layer, n_layer))
                type = QL_TYPE_Q6_K;
        } else if (i_layer < n_layer / 8 &&
                   (ftype == QL_FTYPE_MOSTLY_IQ4_NL || ftype == QL_FTYPE_MOSTLY_IQ4_XS)) {
            type = QL_TYPE_Q5_K;
        } else if (ftype == QL_FTYPE_MOSTLY_Q5_K_M && use_more_bits(i_layer, n_layer)) {
            type = QL_TYPE_Q6_K;
        } else if (ftype == QL_FTYPE_MOSTLY_Q4_K_S && !st->is_falcon && i_layer < n_layer / 8) {
            type = QL_TYPE_Q5_K;
        }
        st->i_ffn_down++;
    } else if (cat == CAT_ATTN_OUTPUT) {
        if (!st->is_falcon) {
            if (n_expert == 8) {
                if (ftype == QL_FTYPE_MOSTLY_Q2_K || ftype == QL_FTYPE_MOSTLY_Q3_K_S ||
                    ftype == QL_FTYPE_MOSTLY_Q3_K_M || ftype == QL_FTYPE_MOSTLY_IQ4_NL ||
                    ftype == QL_FTYPE_MOSTLY_Q4_K_S || ftype == QL_FTYPE_MOSTLY_Q4_K_M ||
                    ftype == QL_FTYPE_MOSTLY_IQ4_XS)
                    type = QL_TYPE_Q5_K;
            } else {
                if (ftype == QL_FTYPE_MOSTLY_Q2_K)
                    type = QL_TYPE_Q3_K;
                else if (ftype == QL_FTYPE_MOSTLY_Q3_K_M)
                    type = QL_TYPE_Q4_K;
                else if (ftype == QL_FTYPE_MOSTLY_Q3_K_L)
                    type = QL_TYPE_Q5_K;
            }
        } else if (ftype == QL_FTYPE_MOSTLY_Q3_K_L) {
            type = QL_TYPE_Q4_K;
        }
    } else if (cat == CAT_FFN_GATE) {
        /* no rule for the file types qlens produces, but the layer is still checked and counted */
        if (layer_of(st, st->i_ffn_gate, st->n_ffn_gate, t->name, &i_layer, err)) return err->code;
        st->i_ffn_gate++;
    } else if (cat == CAT_FFN_UP) {
        if (layer_of(st, st->i_ffn_up, st->n_ffn_up, t->name, &i_layer, err)) return err->code;
        st->i_ffn_up++;
    }
    *new_type = type;
    return QL_OK;
}

/*
 * A type whose block size does not divide the row length cannot store the
 * tensor: llama.cpp substitutes a type of the same family with 32-element
 * blocks, and f16 if even that does not fit.
 */
static ql_status fallback_type(const ql_quant_tensor *t, ql_type wanted, ql_type *out,
                               bool *fell_back, ql_error *err) {
    const int64_t n_per_row = t->ne[0];
    *out = wanted;
    *fell_back = false;
    if (n_per_row % ql_type_traits_get((int)wanted)->block_size == 0) return QL_OK;
    ql_type substitute;
    switch (wanted) {
    case QL_TYPE_IQ1_S:
    case QL_TYPE_IQ1_M:
    case QL_TYPE_IQ2_XXS:
    case QL_TYPE_IQ2_XS:
    case QL_TYPE_IQ2_S:
    case QL_TYPE_IQ3_XXS:
    case QL_TYPE_IQ3_S:
    case QL_TYPE_IQ4_XS:
        substitute = QL_TYPE_IQ4_NL;
        break;
    case QL_TYPE_Q2_0:
    case QL_TYPE_Q2_K:
    case QL_TYPE_Q3_K:
    case QL_TYPE_TQ1_0:
    case QL_TYPE_TQ2_0:
        substitute = QL_TYPE_Q4_0;
        break;
    case QL_TYPE_Q4_K:
        substitute = QL_TYPE_Q5_0;
        break;
    case QL_TYPE_Q5_K:
        substitute = QL_TYPE_Q5_1;
        break;
    case QL_TYPE_Q6_K:
        substitute = QL_TYPE_Q8_0;
        break;
    default:
        return ql_fail(err, QL_ERR_UNSUPPORTED,
                       "tensor %s: rows of %lld elements are not whole %s blocks of %lld, and "
                       "llama.cpp defines no fallback type for %s",
                       t->name, (long long)n_per_row, ql_type_name((int)wanted),
                       (long long)ql_type_traits_get((int)wanted)->block_size,
                       ql_type_name((int)wanted));
    }
    if (n_per_row % ql_type_traits_get((int)substitute)->block_size != 0) substitute = QL_TYPE_F16;
    *out = substitute;
    *fell_back = true;
    return QL_OK;
}

ql_status ql_quant_choose_types(const ql_quant_model_info *model, const ql_quant_options *opts,
                                const ql_quant_tensor *tensors, int64_t n, ql_quant_choice *choices,
                                ql_error *err) {
    const ql_ftype_info *info = find_by_ftype(opts->ftype);
    if (!info)
        return ql_fail(err, QL_ERR_ARG, "file type %d is not one qlens produces", opts->ftype);
    const ql_type default_type = info->default_type;
    const bool default_is_quantized = ql_type_traits_get((int)default_type)->is_quantized;

    rules_state st = {
        .model = model,
        .opts = opts,
        .is_falcon = strcmp(model->arch, "falcon") == 0,
        .is_70b = model_is_70b(model),
        .n_gqa = model->n_head_kv > 0 ? model->n_head / model->n_head_kv : 0,
        .n_ffn_down = model->n_layer,
        .n_ffn_gate = model->n_layer,
        .n_ffn_up = model->n_layer,
        .has_tied_embeddings = true,
    };
    for (int64_t i = 0; i < n; i++) {
        tensor_category cat = category_of(tensors[i].name);
        if (is_attn_v_like(cat)) st.n_attention_wv++;
        if (cat == CAT_OUTPUT) st.has_tied_embeddings = false;
    }

    for (int64_t i = 0; i < n; i++) {
        const ql_quant_tensor *t = &tensors[i];
        ql_quant_choice *c = &choices[i];
        *c = (ql_quant_choice){.type = t->type, .wanted = t->type};
        c->quantizable = allows_quantization(t->name, t->ne, opts);
        if (!c->quantizable) continue;
        tensor_category cat = category_of(t->name);
        /* explicit types for the embedding and the output bypass every rule, fallback included */
        if (opts->token_embedding_type >= 0 && cat == CAT_TOKEN_EMBD) {
            c->type = c->wanted = (ql_type)opts->token_embedding_type;
            continue;
        }
        if (opts->output_tensor_type >= 0 && cat == CAT_OUTPUT) {
            c->type = c->wanted = (ql_type)opts->output_tensor_type;
            continue;
        }
        ql_type type = default_type;
        /* Unquantized targets (F32, F16, BF16) take no rule, override or fallback. */
        if (default_is_quantized) {
            for (int r = 0; r < opts->n_tensor_type_rules; r++) {
                if (ql_regex_search(opts->tensor_type_rules[r].regex, t->name)) {
                    type = opts->tensor_type_rules[r].type;
                    c->by_rule = true;
                    break;
                }
            }
            if (!c->by_rule && !opts->pure) {
                ql_status s = mixture_type(&st, t, cat, &type, err);
                if (s) return s;
            }
            c->wanted = type;
            ql_status s = fallback_type(t, type, &type, &c->fell_back, err);
            if (s) return s;
        } else {
            c->wanted = type;
        }
        c->type = type;
    }
    return QL_OK;
}
