/*
 * kldrun.c - saving references and scoring against them (see kldrun.h).
 *
 * The scorer receives the model under test's logits block by block. For a
 * base given by hidden states (qlens reference file, lockstep) it recomputes
 * the base logits of the same rows with the base's output matrix - one
 * matrix product per block, through the same kernel that produced them, so
 * they are the reference's logits bit for bit. Per-token statistics are
 * computed in parallel and accumulated in token order, so results do not
 * depend on the thread count.
 */
#include "kldrun.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../kernels/finite.h"
#include "../kernels/matmul.h"

/* ---- saving ---- */

/*
 * A consumer that stops an evaluation keeps its reason in its own ql_error:
 * the evaluation then fails with a generic "stopped" into the caller's, which
 * the consumer's reason (a full disk, say) replaces afterwards.
 */
typedef struct {
    ql_ref_writer *w;
    ql_error own_err;
    ql_status st;
} save_tap;

static bool write_rows(void *user, int64_t chunk, const ql_logits_block *b,
                       const int32_t *targets) {
    (void)chunk, (void)targets;
    save_tap *s = user;
    s->st = ql_ref_writer_add(s->w, b->hidden, b->logits, b->n_rows, &s->own_err);
    return s->st == QL_OK;
}

ql_status ql_kld_save_base(ql_context *ctx, const gguf_file *model_file, const int32_t *tokens,
                           int64_t n_tokens, const ql_eval_params *ep, const char *path,
                           ql_ref_format fmt, const char *config, ql_ppl_progress_fn progress,
                           void *user, ql_ppl_result *ppl, ql_error *err) {
    /* qlens's format keeps the final hidden states, which only qlens's engine hands out */
    if (ep->engine && fmt == QL_REF_QLENS)
        return ql_fail(err, QL_ERR_UNSUPPORTED,
                       "%s: a qlens reference holds hidden states, which the %s engine does not "
                       "give; write llama.cpp's format (--kld-base-format llama)",
                       path, ep->engine->name);
    ql_status st = ql_eval_check_tokens(n_tokens, ep->n_ctx, err);
    if (st) return st;
    int64_t n_chunks = ql_eval_max_chunks(n_tokens, ep->n_ctx);
    if (ep->n_chunks > 0 && ep->n_chunks < n_chunks) n_chunks = ep->n_chunks;
    const ql_model *m = ql_context_model(ctx);
    ql_ref_info info = {
        .n_ctx = ep->n_ctx,
        .n_chunks = n_chunks,
        .n_vocab = m->cfg.n_vocab,
        .replace_bos = ep->replace_bos,
        .bos_id = ep->bos_id,
        .n_embd = m->cfg.n_embd,
        .final_softcap = m->cfg.final_softcap,
        .vocab_fingerprint = ql_model_vocab_fingerprint(model_file),
        .model_bytes = gguf_file_size(model_file),
        .n_ubatch = ql_context_ubatch(ctx),
        .repacked = ql_context_profile(ctx)->repack,
        .f16_dot_half = ql_context_profile(ctx)->f16_dot_half,
    };
    snprintf(info.arch, sizeof info.arch, "%s", m->cfg.arch);
    gguf_str name;
    if (gguf_get_str(model_file, "general.name", &name))
        gguf_str_copy(name, info.model_name, sizeof info.model_name);
    snprintf(info.config, sizeof info.config, "%s", config ? config : "");
    ql_ref_writer *w;
    st = ql_ref_writer_open(path, fmt, &info, tokens, &m->output, &w, err);
    if (st) return st;
    save_tap tap = {.w = w};
    ql_eval_params ep2 = *ep;
    ep2.n_chunks = n_chunks;
    st = ql_perplexity(ctx, tokens, n_tokens, &ep2, progress, user, write_rows, &tap, ppl, err);
    if (tap.st) {
        st = tap.st;
        if (err) *err = tap.own_err;
    }
    if (!st) st = ql_ref_writer_finish(w, err);
    ql_ref_writer_free(w);
    return st;
}

ql_status ql_kld_check_compatible(const ql_ref_file *ref, const gguf_file *model_file,
                                  const ql_model_config *cfg, ql_error *err) {
    const ql_ref_info *in = ql_ref_info_of(ref);
    if (in->n_vocab != cfg->n_vocab)
        return ql_fail(err, QL_ERR_MISMATCH,
                       "the reference has a vocabulary of %lld tokens, this model %lld: they "
                       "cannot be compared",
                       (long long)in->n_vocab, (long long)cfg->n_vocab);
    if (ql_ref_format_of(ref) == QL_REF_QLENS && in->vocab_fingerprint != 0) {
        const uint64_t fp = ql_model_vocab_fingerprint(model_file);
        if (fp != 0 && fp != in->vocab_fingerprint)
            return ql_fail(err, QL_ERR_MISMATCH,
                           "the reference was made with a different vocabulary (same size, other "
                           "tokens): they cannot be compared");
    }
    return QL_OK;
}

/* ---- scoring ---- */

typedef struct {
    ql_pool *pool;
    ql_kld_acc *acc;
    ql_error own_err; /* why score_block stopped the evaluation (see save_tap) */
    ql_status st;
    int64_t first_pos; /* n_ctx / 2 */
    int64_t n_vocab;
    /* base given by hidden states */
    const ql_matrix *out_matrix;
    ql_kernel_profile ref_prof; /* the kernels the reference ran with */
    int64_t ref_ubatch, n_ctx;  /* its micro-batch: which rows ggml multiplied together */
    float softcap;
    const float *hidden; /* current chunk: n_scored x n_embd */
    float *base_logits;  /* logits_block x n_vocab */
    void *mm_scratch;
    /* base given by llama.cpp rows */
    const uint16_t *llama_rows; /* current chunk */
    int64_t llama_row_len;
    /* per block */
    const ql_logits_block *block;
    const int32_t *targets;
    ql_kld_token *results; /* logits_block */
    float *row_scratch;    /* n_threads x n_vocab */
} scorer;

static void score_rows_parallel(void *arg, int ith, int nth) {
    scorer *s = arg;
    const ql_logits_block *b = s->block;
    long long r0, r1;
    ql_split_range(b->n_rows, ith, nth, &r0, &r1);
    for (long long r = r0; r < r1; r++) {
        const float *q = b->logits + r * s->n_vocab;
        const int64_t i = b->first_pos + r - s->first_pos; /* scored index in the chunk */
        if (s->llama_rows)
            ql_kld_token_llama(q, s->llama_rows + i * s->llama_row_len, s->n_vocab, s->targets[r],
                               &s->results[r]);
        else
            ql_kld_token_exact(q, s->base_logits + r * s->n_vocab, s->n_vocab, s->targets[r],
                               s->row_scratch + (size_t)ith * (size_t)s->n_vocab, &s->results[r]);
    }
}

static bool token_is_finite(const ql_kld_token *t) {
    return isfinite(t->kld) && isfinite(t->nll) && isfinite(t->nll_base) && isfinite(t->p_diff);
}

static bool score_block(void *user, int64_t chunk, const ql_logits_block *b,
                        const int32_t *targets) {
    scorer *s = user;
    if (!s->llama_rows) {
        /* the reference's output product ran per micro-batch over the rows from the first scored
         * one to the micro-batch's end; each row is recomputed as a row of that product */
        const int64_t n_embd = s->out_matrix->n_in;
        for (int64_t p = b->first_pos; p < b->first_pos + b->n_rows;) {
            const int64_t u0 = p / s->ref_ubatch * s->ref_ubatch;
            const int64_t u1 = u0 + s->ref_ubatch < s->n_ctx ? u0 + s->ref_ubatch : s->n_ctx;
            const int64_t batch0 = u0 > s->first_pos ? u0 : s->first_pos;
            const int64_t end = b->first_pos + b->n_rows < u1 ? b->first_pos + b->n_rows : u1;
            ql_matmul_part(s->pool, &s->ref_prof, s->out_matrix,
                           s->hidden + (p - s->first_pos) * n_embd, n_embd, end - p, u1 - batch0,
                           p - batch0, s->base_logits + (p - b->first_pos) * s->n_vocab, s->n_vocab,
                           s->mm_scratch);
            p = end;
        }
        if (s->softcap > 0.0f)
            for (int64_t i = 0; i < b->n_rows * s->n_vocab; i++)
                s->base_logits[i] = s->softcap * tanhf(s->base_logits[i] / s->softcap);
        /* a reference file's hidden states are data: they may not be numbers */
        int64_t col;
        const int64_t r =
            ql_first_nonfinite_row(s->pool, s->base_logits, b->n_rows, s->n_vocab, &col);
        if (r >= 0) {
            s->st = ql_fail(&s->own_err, QL_ERR_FORMAT,
                            "chunk %lld: token position %lld: %s in the reference's logits (from "
                            "its final hidden state)",
                            (long long)chunk + 1, (long long)(b->first_pos + r),
                            ql_nonfinite_name(s->base_logits[r * s->n_vocab + col]));
            return false;
        }
    }
    s->block = b;
    s->targets = targets;
    ql_pool_run(s->pool, score_rows_parallel, s);
    for (int64_t r = 0; r < b->n_rows; r++) {
        if (!token_is_finite(&s->results[r])) {
            s->st = ql_fail(&s->own_err, QL_ERR_FORMAT,
                            "chunk %lld: token position %lld: the KL divergence or a probability "
                            "is not finite (the reference's stored probabilities are not numbers)",
                            (long long)chunk + 1, (long long)(b->first_pos + r));
            return false;
        }
        s->st = ql_kld_acc_add(s->acc, &s->results[r], (int32_t)(b->first_pos + r), &s->own_err);
        if (s->st) return false;
    }
    return true;
}

static ql_status scorer_init(scorer *s, ql_context *cand, const ql_matrix *out_matrix,
                             ql_kld_acc *acc, ql_error *err) {
    memset(s, 0, sizeof *s);
    const int64_t rows = ql_context_logits_block(cand);
    s->pool = ql_context_pool(cand);
    s->acc = acc;
    s->n_vocab = ql_context_model(cand)->cfg.n_vocab;
    s->results = malloc((size_t)rows * sizeof *s->results);
    s->row_scratch = malloc((size_t)ql_pool_size(s->pool) * (size_t)s->n_vocab * sizeof(float));
    if (!s->results || !s->row_scratch) return ql_fail(err, QL_ERR_NOMEM, "out of memory");
    if (out_matrix) {
        s->out_matrix = out_matrix;
        s->base_logits = malloc((size_t)(rows * s->n_vocab) * sizeof(float));
        s->mm_scratch = malloc(ql_matmul_scratch_size(out_matrix->type, out_matrix->n_in, rows,
                                                      ql_pool_size(s->pool)) +
                               64);
        if (!s->base_logits || !s->mm_scratch) return ql_fail(err, QL_ERR_NOMEM, "out of memory");
    }
    return QL_OK;
}

static void scorer_free(scorer *s) {
    free(s->results);
    free(s->row_scratch);
    free(s->base_logits);
    free(s->mm_scratch);
}

static ql_status after_chunk(ql_kld_acc *acc, int64_t chunk, int64_t n_chunks,
                             ql_kld_chunk_fn on_chunk, void *user, ql_error *err) {
    if (!on_chunk) return QL_OK;
    ql_kld_chunk_row row;
    ql_kld_chunk_row_from(acc, &row);
    if (!on_chunk(user, chunk, n_chunks, &row))
        return ql_fail(err, QL_ERR_INTERNAL, "evaluation stopped");
    return QL_OK;
}

ql_status ql_kld_run_file(ql_context *ctx, const gguf_file *model_file, const ql_ref_file *ref,
                          int64_t n_chunks, ql_kld_chunk_fn on_chunk, void *user, ql_kld_acc *acc,
                          ql_error *err) {
    return ql_kld_run_file_engine(ctx, NULL, model_file, ref, n_chunks, on_chunk, user, acc, err);
}

ql_status ql_kld_run_file_engine(ql_context *ctx, const ql_eval_engine *engine,
                                 const gguf_file *model_file, const ql_ref_file *ref,
                                 int64_t n_chunks, ql_kld_chunk_fn on_chunk, void *user,
                                 ql_kld_acc *acc, ql_error *err) {
    const ql_model *m = ql_context_model(ctx);
    ql_status st = ql_kld_check_compatible(ref, model_file, &m->cfg, err);
    if (st) return st;
    const ql_ref_info *in = ql_ref_info_of(ref);
    if (n_chunks <= 0 || n_chunks > in->n_chunks) n_chunks = in->n_chunks;
    ql_eval_params ep = {.n_ctx = in->n_ctx, .n_chunks = n_chunks, .engine = engine};
    if (ql_ref_format_of(ref) == QL_REF_QLENS) {
        ep.replace_bos = in->replace_bos;
        ep.bos_id = in->bos_id;
    } else {
        /* llama.cpp's file does not record it; the model under test's vocabulary decides */
        ql_model_bos(model_file, &ep.replace_bos, &ep.bos_id);
    }
    scorer s;
    if ((st = scorer_init(&s, ctx, ql_ref_output(ref), acc, err))) {
        scorer_free(&s);
        return st;
    }
    s.first_pos = in->n_ctx / 2;
    s.n_ctx = in->n_ctx;
    s.ref_ubatch = in->n_ubatch;
    s.ref_prof = ql_kernel_profile_default();
    s.ref_prof.repack = in->repacked;
    s.ref_prof.f16_dot_half = in->f16_dot_half;
    s.softcap = in->final_softcap;
    if (ql_ref_format_of(ref) == QL_REF_LLAMA) s.llama_row_len = ql_kld_llama_row_len(in->n_vocab);
    const int32_t *tokens = ql_ref_tokens(ref);
    for (int64_t k = 0; k < n_chunks && !st; k++) {
        s.hidden = ql_ref_hidden(ref, k);
        s.llama_rows = ql_ref_llama_rows(ref, k);
        st = ql_eval_chunk(ctx, tokens + k * in->n_ctx, k, &ep, score_block, &s, err);
        if (s.st) {
            st = s.st;
            if (err) *err = s.own_err;
        }
        if (!st) st = after_chunk(acc, k, n_chunks, on_chunk, user, err);
    }
    scorer_free(&s);
    return st;
}

typedef struct {
    float *hidden; /* n_scored x n_embd */
    int64_t first_pos, n_embd;
} hidden_capture;

static bool capture_hidden(void *user, int64_t chunk, const ql_logits_block *b,
                           const int32_t *targets) {
    (void)chunk, (void)targets;
    hidden_capture *h = user;
    memcpy(h->hidden + (b->first_pos - h->first_pos) * h->n_embd, b->hidden,
           (size_t)(b->n_rows * h->n_embd) * sizeof(float));
    return true;
}

ql_status ql_kld_check_models(const ql_model *rm, const ql_model *cm, ql_error *err) {
    if (rm->cfg.n_vocab != cm->cfg.n_vocab)
        return ql_fail(err, QL_ERR_MISMATCH,
                       "the reference model has a vocabulary of %lld tokens, the model under test "
                       "%lld: they cannot be compared",
                       (long long)rm->cfg.n_vocab, (long long)cm->cfg.n_vocab);
    const uint64_t fr = ql_model_vocab_fingerprint(rm->file),
                   fc = ql_model_vocab_fingerprint(cm->file);
    if (fr && fc && fr != fc)
        return ql_fail(err, QL_ERR_MISMATCH,
                       "the two models have different vocabularies: they cannot be compared");
    return QL_OK;
}

ql_status ql_kld_run_lockstep(ql_context *ref_ctx, ql_context *cand, const int32_t *tokens,
                              int64_t n_tokens, const ql_eval_params *ep, ql_kld_chunk_fn on_chunk,
                              void *user, ql_kld_acc *acc, ql_error *err) {
    const ql_model *rm = ql_context_model(ref_ctx), *cm = ql_context_model(cand);
    ql_status st = ql_kld_check_models(rm, cm, err);
    if (st) return st;
    st = ql_eval_check_tokens(n_tokens, ep->n_ctx, err);
    if (st) return st;
    int64_t n_chunks = ql_eval_max_chunks(n_tokens, ep->n_ctx);
    if (ep->n_chunks > 0 && ep->n_chunks < n_chunks) n_chunks = ep->n_chunks;
    const int64_t n_scored = ql_eval_scored_per_chunk(ep->n_ctx);
    hidden_capture cap = {.first_pos = ep->n_ctx / 2, .n_embd = rm->cfg.n_embd};
    cap.hidden = malloc((size_t)(n_scored * rm->cfg.n_embd) * sizeof(float));
    scorer s;
    st = scorer_init(&s, cand, &rm->output, acc, err);
    if (!st && !cap.hidden) st = ql_fail(err, QL_ERR_NOMEM, "out of memory");
    s.first_pos = ep->n_ctx / 2;
    s.n_ctx = ep->n_ctx;
    s.ref_ubatch = ql_context_ubatch(ref_ctx);
    s.ref_prof = *ql_context_profile(ref_ctx);
    s.softcap = rm->cfg.final_softcap;
    s.hidden = cap.hidden;
    /* the reference's hidden states come from qlens's engine; ep->engine runs the model under
       test */
    ql_eval_params ref_ep = *ep;
    ref_ep.engine = NULL;
    for (int64_t k = 0; k < n_chunks && !st; k++) {
        st = ql_eval_chunk(ref_ctx, tokens + k * ep->n_ctx, k, &ref_ep, capture_hidden, &cap, err);
        if (!st) st = ql_eval_chunk(cand, tokens + k * ep->n_ctx, k, ep, score_block, &s, err);
        if (s.st) {
            st = s.st;
            if (err) *err = s.own_err;
        }
        if (!st) st = after_chunk(acc, k, n_chunks, on_chunk, user, err);
    }
    scorer_free(&s);
    free(cap.hidden);
    return st;
}
