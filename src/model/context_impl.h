/*
 * context_impl.h - the inside of a ql_context, shared by the files of the
 * forward pass: context.c (allocation, attention, dense FFN, the pass
 * itself), deltanet.c (Gated DeltaNet mixers) and moe.c (MoE FFNs).
 */
#ifndef QL_MODEL_CONTEXT_IMPL_H
#define QL_MODEL_CONTEXT_IMPL_H

#include "context.h"
#include "kvcells.h"
#include "layers.h"

#include "../kernels/attention.h"

struct ql_context {
    const ql_model *m;
    ql_context_params p;
    ql_kernel_profile prof;
    ql_pool *pool;

    /* per-layer state, sized from layers.h: an attention layer's K and V cells (a full layer's
     * cell p holds position p; sliding-window layers share a ring of llama.cpp's size where it
     * is smaller than the context, its cells placed as llama.cpp places them, kvcells.h), a
     * DeltaNet layer's conv window and delta-rule states */
    ql_layer_desc *desc;
    uint8_t **k_cache, **v_cache;
    float **conv_state; /* [conv channels][d_conv - 1], oldest input first */
    float **ssm_state;  /* [value head][j][i] = S[i][j]: row j is column j of the head's state */
    int64_t next_pos;   /* the position recurrent state continues from */
    size_t k_row_bytes, v_row_bytes;
    bool swa_ring;
    ql_kv_cells swa_cells;
    int32_t *ub_cells; /* [ub] the cell of each token of the micro-batch in the ring */
    bool rot_k, rot_v;
    int rot_k_block, rot_v_block;
    void (*hadamard)(float *x, int64_t n, int block);

    /* activations of one micro-batch */
    float *x;      /* [ub][n_embd] residual stream */
    float *cur;    /* [ub][n_embd] normalised input of a block */
    float *qg;     /* [ub][2 n_head dk] query and gate projection (attn_output_gate) */
    float *q;      /* [ub][n_head * dk] */
    float *q_gate; /* [ub][n_head * dv] per-head output gates (attn_output_gate) */
    float *k;      /* [ub][n_head_kv * dk] */
    float *v;      /* [ub][n_head_kv * dv] */
    float *attn;   /* [ub][n_head * dv] */
    float *proj;   /* [ub][n_embd] output of a mixer or an FFN */
    float *gate;   /* [ub][max FFN width] */
    float *up;     /* [ub][max FFN width] */
    float *rope;   /* [ub][n_rot] cos/sin pairs */
    float *logits; /* [logits_block][n_vocab] */

    /* Gated DeltaNet */
    float *dn_qkv;  /* [ub][conv channels] projection, then (conv, silu, l2 norm) q, k, v */
    float *dn_conv; /* [ub][conv channels] */
    float *dn_z;    /* [ub][d_inner] output gate */
    float *dn_beta; /* [ub][value heads] */
    float *dn_g;    /* [ub][value heads] log decay */
    float *dn_out;  /* [ub][d_inner] */

    /* mixture of experts */
    float *router;     /* [ub][n_expert] logits, then probabilities */
    int32_t *chosen;   /* [ub][n_expert_used] experts, best first */
    float *weight;     /* [ub][n_expert_used] their normalised weights */
    int32_t *routed;   /* [ub] the (token, slot) pairs routed to one expert */
    float *exp_in;     /* [ub][n_embd] their inputs */
    float *exp_out;    /* [ub][n_embd] their outputs */
    float *slot_out;   /* [ub][n_expert_used][n_embd] each slot's weighted expert output */
    float *shexp_gate; /* [ub] the shared expert's gate logit */

    void *mm_scratch;
    ql_attn_scratch *attn_scratch;
};

/* The per-token steps of a layer, split over the pool by tokens (each token's bits alike). */
typedef struct {
    ql_context *ctx;
    const ql_layer *L;
    int64_t l, n, pos0;
    const ql_vec *norm; /* norm_rows: the norm's weight; residual_rows: the post-norm's */
} ql_layer_job;

void ql_layer_job_range(const ql_layer_job *j, int ith, int nth, int64_t *t0, int64_t *t1);
/* cur = RMS norm of x with weight j->norm (pool callback) */
void ql_norm_rows(void *arg, int ith, int nth);
/* proj through the post-norm j->norm where the model has one, then x += proj (pool callback) */
void ql_residual_rows(void *arg, int ith, int nth);

/* x += the Gated DeltaNet mixer of layer l over the n tokens of the micro-batch. */
void ql_deltanet_block(ql_context *ctx, int64_t l, int64_t n);
/* x += the MoE FFN of layer l. */
void ql_moe_block(ql_context *ctx, int64_t l, int64_t n);

#endif
