/*
 * recommend.h - the answer to the sweep's question, shared by `qlens plan
 * --sweep` and the sweep's report: for a memory budget and a context, the
 * lowest-KLD configuration that fits, what it costs against the sweep's best,
 * and which others cannot be told apart from it on the evaluated tokens.
 *
 * A context beyond the model's trained length fits no configuration: the
 * model was never trained to use it, so memory alone does not make it work.
 */
#ifndef QL_LAB_RECOMMEND_H
#define QL_LAB_RECOMMEND_H

#include <stdbool.h>
#include <stdint.h>

#include "../eval/kld.h"

typedef struct {
    double kld;           /* mean KL divergence */
    uint64_t total_bytes; /* memory at the context asked for */
} ql_rec_candidate;

typedef struct {
    int pick;            /* lowest KLD among those that fit; -1 when none does */
    int best;            /* lowest KLD of all */
    int smallest;        /* least memory of all */
    bool beyond_trained; /* the context is past the trained length: nothing fits */
    bool no_budget;      /* budget 0: every configuration fits the memory */
} ql_recommendation;

/* Whether candidate i fits: within the budget (0: none) and the trained context. */
bool ql_rec_fits(const ql_rec_candidate *c, uint64_t budget, int64_t ctx, int64_t ctx_train);

void ql_recommend(const ql_rec_candidate *c, int n, uint64_t budget, int64_t ctx, int64_t ctx_train,
                  ql_recommendation *out);

/* A paired comparison of two runs on the same tokens: mean of b - a per token. */
typedef struct {
    bool valid;   /* same tokens, at least two of them */
    double d_kld; /* mean of the per-token KLD differences */
    double se;    /* its standard error */
    double sigma; /* d_kld / se (infinite when se is 0 and d_kld is not) */
} ql_paired;

ql_paired ql_paired_kld(const ql_kld_acc *a, const ql_kld_acc *b);

/* Closer than this many standard errors: the two cannot be told apart. */
#define QL_REC_INDISTINCT_SIGMA 2.0

#endif
