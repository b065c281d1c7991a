/*
 * quantize_rules.h - which type each tensor gets when a model is quantized
 * to a llama.cpp file type (Q4_K_M, Q3_K_S, ...), following llama-quantize's
 * rules without an importance matrix.
 *
 * A file type is a recipe, not one type: Q4_K_M stores most matrices as
 * q4_K but gives the output matrix q6_K and the attention-V and FFN-down
 * matrices of some layers q6_K, chosen by layer position. Which tensors are
 * quantized at all (no norms, no 1-D tensors, ...), the per-category
 * upgrades, the grouped-query-attention and mixture-of-experts adjustments,
 * the fallbacks for rows that are not whole blocks and the user's overrides
 * (--tensor-type, --output-tensor-type, --token-embedding-type, --pure)
 * are all decided here, from names, shapes and a few hyperparameters. Some
 * rules count tensors of a category as they go, so the tensors must be
 * presented in the order llama.cpp visits them (ql_quant_tensor_order).
 *
 * Nothing here touches tensor data or files.
 */
#ifndef QL_LAB_QUANTIZE_RULES_H
#define QL_LAB_QUANTIZE_RULES_H

#include <stdbool.h>
#include <stdint.h>

#include "../core/regex.h"
#include "../core/status.h"
#include "../quant/quant.h"

/* llama.cpp's llama_ftype values: what general.file_type holds. */
typedef enum {
    QL_FTYPE_ALL_F32 = 0,
    QL_FTYPE_MOSTLY_F16 = 1,
    QL_FTYPE_MOSTLY_Q4_0 = 2,
    QL_FTYPE_MOSTLY_Q4_1 = 3,
    QL_FTYPE_MOSTLY_Q8_0 = 7,
    QL_FTYPE_MOSTLY_Q5_0 = 8,
    QL_FTYPE_MOSTLY_Q5_1 = 9,
    QL_FTYPE_MOSTLY_Q2_K = 10,
    QL_FTYPE_MOSTLY_Q3_K_S = 11,
    QL_FTYPE_MOSTLY_Q3_K_M = 12,
    QL_FTYPE_MOSTLY_Q3_K_L = 13,
    QL_FTYPE_MOSTLY_Q4_K_S = 14,
    QL_FTYPE_MOSTLY_Q4_K_M = 15,
    QL_FTYPE_MOSTLY_Q5_K_S = 16,
    QL_FTYPE_MOSTLY_Q5_K_M = 17,
    QL_FTYPE_MOSTLY_Q6_K = 18,
    QL_FTYPE_MOSTLY_IQ4_NL = 25,
    QL_FTYPE_MOSTLY_IQ4_XS = 30,
    QL_FTYPE_MOSTLY_BF16 = 32,
} ql_ftype;

typedef struct {
    const char *name; /* llama-quantize's name: "Q4_K_M" */
    ql_ftype ftype;
    ql_type default_type; /* the type of tensors no rule singles out */
} ql_ftype_info;

/* The file types qlens produces, in llama-quantize's listing order. */
const ql_ftype_info *ql_ftype_list(int *n);
/*
 * Looks a file type up as llama-quantize does: by name, case-insensitive,
 * including its aliases Q3_K, Q4_K and Q5_K (for the _M types), or by its
 * llama_ftype number. NULL when qlens does not produce it.
 */
const ql_ftype_info *ql_ftype_find(const char *name);
/* The accepted names, comma-separated, for messages. */
const char *ql_ftype_names(void);
/* True for a name llama-quantize knows but qlens cannot produce (IQ2_XXS, Q2_K_S, ...). */
bool ql_ftype_is_known_unsupported(const char *name);

/* The hyperparameters the rules read. */
typedef struct {
    char arch[32];     /* general.architecture */
    int64_t n_layer;   /* {arch}.block_count */
    int64_t n_head;    /* of layer 0 */
    int64_t n_head_kv; /* of layer 0 */
    int64_t n_expert;  /* {arch}.expert_count; 0 for a dense model */
} ql_quant_model_info;

/* A --tensor-type REGEX=TYPE rule: the first whose regex matches a name wins. */
typedef struct {
    const ql_regex *regex;
    ql_type type;
} ql_tensor_type_rule;

typedef struct {
    ql_ftype ftype;
    int output_tensor_type;   /* a ql_type for output.weight, or -1: the rules choose */
    int token_embedding_type; /* a ql_type for token_embd.weight, or -1 */
    bool pure;                /* no per-category mixture: every matrix gets the default type */
    bool leave_output_tensor; /* keep output.weight as it is */
    const ql_tensor_type_rule *tensor_type_rules;
    int n_tensor_type_rules;
} ql_quant_options;

/* Options as llama-quantize defaults them, for ftype. */
ql_quant_options ql_quant_default_options(ql_ftype ftype);

typedef struct {
    const char *name;
    int64_t ne[4]; /* ne[0] is the row length; unused dims are 1 */
    ql_type type;  /* the type it has in the input */
} ql_quant_tensor;

typedef struct {
    ql_type type;     /* the type to write */
    bool quantizable; /* false: the tensor is copied as it is (norms, 1-D, ...) */
    bool by_rule;     /* a --tensor-type rule chose the type */
    bool fell_back;   /* the row length forced a different type than the rules chose */
    ql_type wanted;   /* what the rules chose before the fallback */
} ql_quant_choice;

/*
 * llama.cpp's tensor order: tensors outside blocks first, then by block
 * number ("blk.N."), then by name (bytewise). Returns <0, 0 or >0.
 */
int ql_quant_tensor_order(const char *a, const char *b);

/*
 * Decides the type of each of n tensors, which must be in ql_quant_tensor_order.
 * Fails when a type cannot hold a tensor's rows (an override whose block size
 * does not divide the row length and that has no fallback) or when a
 * mixture-of-experts tensor's name carries no valid block number.
 */
ql_status ql_quant_choose_types(const ql_quant_model_info *model, const ql_quant_options *opts,
                                const ql_quant_tensor *tensors, int64_t n, ql_quant_choice *choices,
                                ql_error *err);

#endif
