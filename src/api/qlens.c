/*
 * qlens.c - the public API (include/qlens.h): thin wrappers over the modules,
 * translating their types and errors. The only file that includes both the
 * public header and the internal ones.
 */
#include "../../include/qlens.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/cpu.h"
#include "../engine/llama_engine.h"
#include "../eval/kldrun.h"
#include "../lab/plan.h"
#include "../lab/quantize.h"
#include "../model/context.h"
#include "../tokenizer/tokenizer.h"

_Static_assert((int)QLENS_ERR_INTERNAL == (int)QL_ERR_INTERNAL, "status codes agree");
/* QLENS_ERR_CANCELLED has no internal counterpart: the API sets it (see finish) */
_Static_assert(sizeof(((qlens_error *)0)->msg) == QL_ERROR_MSG_MAX, "message sizes agree");

struct qlens_model {
    ql_model *m;
    tok_vocab *vocab;
};

const char *qlens_version(void) {
    return QLENS_VERSION_STRING;
}
void qlens_free(void *p) {
    free(p);
}

static qlens_status out_err(ql_status st, const ql_error *in, qlens_error *err) {
    if (err) {
        err->code = (qlens_status)st;
        memcpy(err->msg, in->msg, sizeof err->msg);
    }
    return (qlens_status)st;
}

/* A required argument that is NULL: refused before any work. */
static qlens_status missing(const char *function, const char *argument, qlens_error *err) {
    ql_error e = {0};
    return out_err(ql_fail(&e, QL_ERR_ARG, "%s: %s is NULL", function, argument), &e, err);
}

qlens_status qlens_model_open(const char *path, qlens_model **out, qlens_error *err) {
    if (!out) return missing("qlens_model_open", "out", err);
    *out = NULL;
    if (!path) return missing("qlens_model_open", "path", err);
    ql_error e = {0};
    /* a library built for this machine's SIMD must not run on a CPU without it */
    const char *lacking = ql_cpu_missing_feature();
    if (lacking)
        return out_err(ql_fail(&e, QL_ERR_UNSUPPORTED,
                               "this libqlens was built for the CPU extension %s, which this "
                               "processor lacks",
                               lacking),
                       &e, err);
    qlens_model *h = calloc(1, sizeof *h);
    if (!h) return out_err(ql_fail(&e, QL_ERR_NOMEM, "out of memory"), &e, err);
    ql_status st = ql_model_load(path, &h->m, &e);
    if (!st) st = tok_load(h->m->file, &h->vocab, &e);
    if (st) {
        qlens_model_close(h);
        return out_err(st, &e, err);
    }
    *out = h;
    return QLENS_OK;
}

void qlens_model_close(qlens_model *h) {
    if (!h) return;
    tok_free(h->vocab);
    ql_model_free(h->m);
    free(h);
}

void qlens_model_get_info(const qlens_model *h, qlens_model_info *info) {
    if (!h || !info) return;
    const ql_model_config *c = &h->m->cfg;
    memset(info, 0, sizeof *info);
    memcpy(info->arch, c->arch, sizeof info->arch);
    info->n_vocab = c->n_vocab;
    info->n_embd = c->n_embd;
    info->n_layer = c->n_layer;
    info->n_head = c->n_head;
    info->n_head_kv = c->n_head_kv;
    info->head_dim = c->head_dim_k;
    info->n_ctx_train = c->n_ctx_train;
    info->weight_bytes = h->m->weight_bytes;
}

qlens_status qlens_tokenize(qlens_model *h, const char *text, size_t len, int add_special,
                            int32_t **ids, size_t *n_ids, qlens_error *err) {
    if (!h) return missing("qlens_tokenize", "m", err);
    if (!ids) return missing("qlens_tokenize", "ids", err);
    if (!n_ids) return missing("qlens_tokenize", "n_ids", err);
    if (!text && len > 0) return missing("qlens_tokenize", "text", err);
    ql_error e = {0};
    ql_status st =
        tok_encode(h->vocab, text ? text : "", len, add_special != 0, false, ids, n_ids, &e);
    return st ? out_err(st, &e, err) : QLENS_OK;
}

void qlens_eval_params_default(qlens_eval_params *p) {
    if (!p) return;
    memset(p, 0, sizeof *p);
    p->n_ctx = 512;
    p->n_ubatch = 512;
    p->cache_type_k = "f16";
    p->cache_type_v = "f16";
    p->kv_rotate = "auto";
    p->kv_hadamard = "fwht";
}

/* The caller's parameters, or the defaults for NULL. */
static qlens_eval_params params_or_default(const qlens_eval_params *p) {
    qlens_eval_params d;
    qlens_eval_params_default(&d);
    return p ? *p : d;
}

static ql_status context_params(const qlens_eval_params *p, int64_t n_ctx, ql_context_params *out,
                                ql_error *e) {
    ql_context_params cp = ql_context_default_params();
    cp.n_ctx = n_ctx;
    if (p->n_ubatch > 0) cp.n_ubatch = p->n_ubatch;
    if (p->n_threads > 0) cp.n_threads = p->n_threads;
    const int k = ql_type_from_name(p->cache_type_k ? p->cache_type_k : "f16");
    const int v = ql_type_from_name(p->cache_type_v ? p->cache_type_v : "f16");
    if (k < 0 || v < 0)
        return ql_fail(e, QL_ERR_ARG, "unknown cache type (valid: %s)", ql_kv_cache_type_names());
    cp.type_k = (ql_type)k;
    cp.type_v = (ql_type)v;
    const char *rot = p->kv_rotate ? p->kv_rotate : "auto";
    if (!ql_rotate_mode_from_name(rot, &cp.rotate))
        return ql_fail(e, QL_ERR_ARG, "kv_rotate '%s' is not auto, on or off", rot);
    const char *had = p->kv_hadamard ? p->kv_hadamard : "fwht";
    if (!ql_hadamard_mode_from_name(had, &cp.hadamard))
        return ql_fail(e, QL_ERR_ARG, "kv_hadamard '%s' is not fwht or dense", had);
    *out = cp;
    return QL_OK;
}

static ql_status make_context(qlens_model *h, const qlens_eval_params *p, int64_t n_ctx,
                              ql_context **ctx, ql_error *e) {
    ql_context_params cp;
    ql_status st = context_params(p, n_ctx, &cp, e);
    return st ? st : ql_context_create(h->m, &cp, ctx, e);
}

/* The caller's progress callback behind the evaluators' per-chunk hooks. */
typedef struct {
    const qlens_eval_params *p;
    bool cancelled;
} progress_relay;

static bool relay(progress_relay *r, int64_t chunk, int64_t n_chunks) {
    if (!r->p->progress) return true;
    if (r->p->progress(r->p->progress_user, chunk + 1, n_chunks) != 0) r->cancelled = true;
    return !r->cancelled;
}

static bool relay_ppl(void *user, const ql_ppl_running *running) {
    return relay(user, running->chunk, running->n_chunks);
}

static bool relay_kld(void *user, int64_t chunk, int64_t n_chunks, const ql_kld_chunk_row *row) {
    (void)row;
    return relay(user, chunk, n_chunks);
}

/* A stop the callback asked for is QLENS_ERR_CANCELLED, not the evaluators' generic failure. */
static qlens_status finish(ql_status st, const ql_error *e, const progress_relay *r,
                           qlens_error *err) {
    if (st && r->cancelled) {
        if (err) {
            err->code = QLENS_ERR_CANCELLED;
            snprintf(err->msg, sizeof err->msg, "cancelled by the progress callback");
        }
        return QLENS_ERR_CANCELLED;
    }
    return st ? out_err(st, e, err) : QLENS_OK;
}

/* the caller's copy of a perplexity result (out may be NULL); frees the result */
static void ppl_out(ql_ppl_result *res, qlens_ppl *out) {
    if (out) {
        out->ppl = res->ppl;
        out->ppl_unc = res->ppl_unc;
        out->n_chunks = res->n_chunks;
        out->n_scored = res->n_scored;
    }
    ql_ppl_result_free(res);
}

qlens_status qlens_perplexity(qlens_model *h, const qlens_eval_params *params,
                              const int32_t *tokens, size_t n_tokens, const char *save_reference,
                              qlens_ppl *out, qlens_error *err) {
    if (!h) return missing("qlens_perplexity", "m", err);
    if (!tokens) return missing("qlens_perplexity", "tokens", err);
    const qlens_eval_params p = params_or_default(params);
    ql_error e = {0};
    ql_context *ctx = NULL;
    progress_relay r = {.p = &p};
    ql_status st = make_context(h, &p, p.n_ctx, &ctx, &e);
    ql_eval_params ep = {.n_ctx = p.n_ctx,
                         .n_chunks = p.n_chunks,
                         .replace_bos = tok_add_bos(h->vocab),
                         .bos_id = tok_bos(h->vocab)};
    ql_ppl_result res = {0};
    if (!st)
        st = save_reference
                 ? ql_kld_save_base(ctx, h->m->file, tokens, (int64_t)n_tokens, &ep, save_reference,
                                    QL_REF_QLENS, "", relay_ppl, &r, &res, &e)
                 : ql_perplexity(ctx, tokens, (int64_t)n_tokens, &ep, relay_ppl, &r, NULL, NULL,
                                 &res, &e);
    if (!st) ppl_out(&res, out);
    ql_context_free(ctx);
    return finish(st, &e, &r, err);
}

qlens_status qlens_perplexity_llama(qlens_model *h, const qlens_eval_params *params,
                                    const qlens_llama_options *llama, const int32_t *tokens,
                                    size_t n_tokens, qlens_ppl *out, qlens_error *err) {
    if (!h) return missing("qlens_perplexity_llama", "m", err);
    if (!tokens) return missing("qlens_perplexity_llama", "tokens", err);
    const qlens_eval_params p = params_or_default(params);
    const qlens_llama_options lo = llama ? *llama : (qlens_llama_options){0};
    ql_error e = {0};
    progress_relay r = {.p = &p};
    ql_context_params cp;
    ql_context *ctx = NULL;
    ql_llama *l = NULL;
    ql_status st = context_params(&p, p.n_ctx, &cp, &e);
    if (!st && (cp.rotate == QL_ROTATE_ON || cp.hadamard != QL_HADAMARD_FWHT))
        st = ql_fail(&e, QL_ERR_UNSUPPORTED,
                     "llama.cpp's engine takes kv_rotate auto or off, and kv_hadamard fwht");
    /* qlens's context bounds the rows per block that the scoring code is sized for */
    if (!st) st = ql_context_create(h->m, &cp, &ctx, &e);
    if (!st) {
        const ql_llama_params lp = {.lib_path = lo.lib_path,
                                    .model_path = gguf_path(h->m->file),
                                    .n_gpu_layers = lo.n_gpu_layers == 0    ? -1
                                                    : lo.n_gpu_layers == -2 ? 0
                                                                            : lo.n_gpu_layers,
                                    .no_mmap = lo.no_mmap != 0,
                                    .no_repack = lo.no_repack != 0,
                                    .n_ctx = p.n_ctx,
                                    .n_batch = lo.n_batch > 0 ? lo.n_batch : 2048,
                                    .n_ubatch = cp.n_ubatch,
                                    .n_threads = cp.n_threads,
                                    .type_k = (int)cp.type_k,
                                    .type_v = (int)cp.type_v,
                                    .flash_attn = lo.flash_attn == 0  ? -1
                                                  : lo.flash_attn > 0 ? 1
                                                                      : 0,
                                    .rotate_off = cp.rotate == QL_ROTATE_OFF};
        st = ql_llama_open(&lp, &l, &e);
    }
    ql_eval_engine engine;
    ql_ppl_result res = {0};
    if (!st) {
        ql_llama_engine(l, &engine);
        const ql_eval_params ep = {.n_ctx = p.n_ctx,
                                   .n_chunks = p.n_chunks,
                                   .replace_bos = ql_llama_add_bos(l),
                                   .bos_id = ql_llama_bos(l),
                                   .engine = &engine};
        st =
            ql_perplexity(ctx, tokens, (int64_t)n_tokens, &ep, relay_ppl, &r, NULL, NULL, &res, &e);
    }
    if (!st) ppl_out(&res, out);
    ql_llama_close(l);
    ql_context_free(ctx);
    return finish(st, &e, &r, err);
}

static void kld_out(const ql_kld_stats *s, qlens_kld *out) {
    *out = (qlens_kld){.kld = s->kld.value,
                       .kld_unc = s->kld.unc,
                       .ppl_q = s->ppl_q.value,
                       .ppl_base = s->ppl_base.value,
                       .ln_ratio = s->ln_ratio.value,
                       .ln_ratio_unc = s->ln_ratio.unc,
                       .same_top = s->same_top.value,
                       .same_top_unc = s->same_top.unc,
                       .rms_dp = s->rms_dp.value,
                       .n_scored = s->count,
                       .ppl_q_unc = s->ppl_q.unc,
                       .ppl_base_unc = s->ppl_base.unc,
                       .ppl_ratio = s->ratio.value,
                       .ppl_ratio_unc = s->ratio.unc,
                       /* ql_kld_pct_names' order: max, 99.9 ... 0.1, min */
                       .kld_max = s->kld_pct[0],
                       .kld_p999 = s->kld_pct[1],
                       .kld_p99 = s->kld_pct[2],
                       .kld_p95 = s->kld_pct[3],
                       .kld_p90 = s->kld_pct[4],
                       .kld_median = s->kld_pct[5],
                       .kld_p10 = s->kld_pct[6],
                       .kld_p05 = s->kld_pct[7],
                       .kld_p01 = s->kld_pct[8],
                       .kld_p001 = s->kld_pct[9],
                       .kld_min = s->kld_pct[10]};
}

qlens_status qlens_kld_against_file(qlens_model *h, const qlens_eval_params *params,
                                    const char *reference, qlens_kld *out, qlens_error *err) {
    if (!h) return missing("qlens_kld_against_file", "m", err);
    if (!reference) return missing("qlens_kld_against_file", "reference", err);
    if (!out) return missing("qlens_kld_against_file", "out", err);
    const qlens_eval_params p = params_or_default(params);
    ql_error e = {0};
    ql_ref_file *ref = NULL;
    ql_context *ctx = NULL;
    ql_kld_acc acc = {0};
    ql_kld_stats s;
    progress_relay r = {.p = &p};
    ql_status st = ql_ref_open(reference, &ref, &e);
    if (!st) st = make_context(h, &p, ql_ref_info_of(ref)->n_ctx, &ctx, &e);
    if (!st) st = ql_kld_acc_init(&acc, 1024, &e);
    if (!st) st = ql_kld_run_file(ctx, h->m->file, ref, p.n_chunks, relay_kld, &r, &acc, &e);
    if (!st) st = ql_kld_stats_from(&acc, &s, &e);
    if (!st) kld_out(&s, out);
    ql_kld_acc_free(&acc);
    ql_context_free(ctx);
    ql_ref_close(ref);
    return finish(st, &e, &r, err);
}

qlens_status qlens_kld_lockstep(qlens_model *ref, const qlens_eval_params *ref_params,
                                qlens_model *h, const qlens_eval_params *params,
                                const int32_t *tokens, size_t n_tokens, qlens_kld *out,
                                qlens_error *err) {
    if (!ref) return missing("qlens_kld_lockstep", "ref", err);
    if (!h) return missing("qlens_kld_lockstep", "m", err);
    if (!tokens) return missing("qlens_kld_lockstep", "tokens", err);
    if (!out) return missing("qlens_kld_lockstep", "out", err);
    const qlens_eval_params p = params_or_default(params);
    /* the protocol is shared; only the reference's cache and rotation are its own */
    qlens_eval_params rp = p;
    const qlens_eval_params ref_own = params_or_default(ref_params);
    rp.cache_type_k = ref_own.cache_type_k;
    rp.cache_type_v = ref_own.cache_type_v;
    rp.kv_rotate = ref_own.kv_rotate;
    rp.kv_hadamard = ref_own.kv_hadamard;
    ql_error e = {0};
    ql_context *ref_ctx = NULL, *ctx = NULL;
    ql_kld_acc acc = {0};
    ql_kld_stats s;
    progress_relay r = {.p = &p};
    const ql_eval_params ep = {.n_ctx = p.n_ctx,
                               .n_chunks = p.n_chunks,
                               .replace_bos = tok_add_bos(ref->vocab),
                               .bos_id = tok_bos(ref->vocab)};
    ql_status st = make_context(ref, &rp, p.n_ctx, &ref_ctx, &e);
    if (!st) st = make_context(h, &p, p.n_ctx, &ctx, &e);
    if (!st) st = ql_kld_acc_init(&acc, 1024, &e);
    if (!st)
        st = ql_kld_run_lockstep(ref_ctx, ctx, tokens, (int64_t)n_tokens, &ep, relay_kld, &r, &acc,
                                 &e);
    if (!st) st = ql_kld_stats_from(&acc, &s, &e);
    if (!st) kld_out(&s, out);
    ql_kld_acc_free(&acc);
    ql_context_free(ctx);
    ql_context_free(ref_ctx);
    return finish(st, &e, &r, err);
}

qlens_status qlens_quantize(const char *in, const char *out, const char *file_type, int n_threads,
                            int allow_requantize, qlens_error *err) {
    if (!in) return missing("qlens_quantize", "in", err);
    if (!out) return missing("qlens_quantize", "out", err);
    ql_error e = {0};
    const ql_ftype_info *ft = file_type ? ql_ftype_find(file_type) : NULL;
    if (!ft)
        return out_err(ql_fail(&e, QL_ERR_ARG, "unknown file type '%s' (valid: %s)",
                               file_type ? file_type : "", ql_ftype_names()),
                       &e, err);
    ql_quantize_params qp = {.rules = ql_quant_default_options(ft->ftype),
                             .n_threads = n_threads > 0 ? n_threads : ql_cpu_count(),
                             .allow_requantize = allow_requantize != 0};
    ql_status st = ql_quantize_model(in, out, &qp, NULL, &e);
    return st ? out_err(st, &e, err) : QLENS_OK;
}

/* The K and V types of a cache, as the planner takes them. */
static ql_status cache_types(const char *k_name, const char *v_name, ql_type *k, ql_type *v,
                             ql_error *e) {
    const int kt = k_name ? ql_type_from_name(k_name) : -1,
              vt = v_name ? ql_type_from_name(v_name) : -1;
    if (kt < 0 || vt < 0 || !ql_kv_cache_type_ok((ql_type)kt) || !ql_kv_cache_type_ok((ql_type)vt))
        return ql_fail(e, QL_ERR_ARG, "unknown cache type '%s' (valid: %s)",
                       kt < 0 || !ql_kv_cache_type_ok((ql_type)kt) ? (k_name ? k_name : "(null)")
                                                                   : (v_name ? v_name : "(null)"),
                       ql_kv_cache_type_names());
    *k = (ql_type)kt;
    *v = (ql_type)vt;
    return QL_OK;
}

uint64_t qlens_kv_cache_bytes(const qlens_model *h, const char *cache_type_k,
                              const char *cache_type_v, int64_t n_ctx) {
    ql_type k, v;
    ql_error e;
    if (!h || n_ctx < 0 || cache_types(cache_type_k, cache_type_v, &k, &v, &e)) return 0;
    const ql_plan_cache pc = {k, v, 512};
    return ql_plan_kv_bytes(&h->m->cfg, &pc, n_ctx);
}

qlens_status qlens_plan_memory(const qlens_model *h, const char *cache_type_k,
                               const char *cache_type_v, int64_t n_ctx, int64_t n_ubatch,
                               qlens_memory *out, qlens_error *err) {
    if (!h) return missing("qlens_plan_memory", "m", err);
    if (!out) return missing("qlens_plan_memory", "out", err);
    ql_error e = {0};
    ql_type k, v;
    ql_status st = cache_types(cache_type_k, cache_type_v, &k, &v, &e);
    if (!st && n_ctx < 1) st = ql_fail(&e, QL_ERR_ARG, "n_ctx %lld is below 1", (long long)n_ctx);
    if (st) return out_err(st, &e, err);
    const ql_plan_cache pc = {k, v, n_ubatch > 0 ? n_ubatch : 512};
    const ql_model_config *c = &h->m->cfg;
    out->weight_bytes = h->m->weight_bytes;
    out->kv_bytes = ql_plan_kv_bytes(c, &pc, n_ctx);
    out->recurrent_bytes = ql_plan_recurrent_bytes(c);
    out->work_bytes = ql_plan_compute_bytes(c, n_ctx < pc.n_ubatch ? n_ctx : pc.n_ubatch);
    out->total_bytes = ql_plan_total_bytes(c, out->weight_bytes, &pc, n_ctx);
    out->n_ctx_train = c->n_ctx_train;
    return QLENS_OK;
}

qlens_status qlens_plan_max_ctx(const qlens_model *h, const char *cache_type_k,
                                const char *cache_type_v, uint64_t budget_bytes, int64_t n_ubatch,
                                int64_t *max_ctx, int *within_trained, qlens_error *err) {
    if (!h) return missing("qlens_plan_max_ctx", "m", err);
    if (!max_ctx) return missing("qlens_plan_max_ctx", "max_ctx", err);
    ql_error e = {0};
    ql_type k, v;
    ql_status st = cache_types(cache_type_k, cache_type_v, &k, &v, &e);
    if (st) return out_err(st, &e, err);
    const ql_plan_cache pc = {k, v, n_ubatch > 0 ? n_ubatch : 512};
    const ql_model_config *c = &h->m->cfg;
    const int64_t by_memory =
        ql_plan_max_ctx(c, h->m->weight_bytes, &pc, budget_bytes, (int64_t)1 << 32);
    const int64_t trained = c->n_ctx_train > 0 ? c->n_ctx_train : by_memory;
    *max_ctx = by_memory < trained ? by_memory : trained;
    if (within_trained) *within_trained = by_memory > trained;
    return QLENS_OK;
}
