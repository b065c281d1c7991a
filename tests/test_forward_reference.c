/*
 * test_forward_reference.c - the engine against a naive forward pass.
 *
 * The reference below dequantizes every weight to double, runs plain loops
 * with no KV cache and a full attention matrix, and computes in double.
 * It reproduces only the roundings that are part of what the engine is
 * specified to compute (ggml's semantics): matmul inputs rounded to f16 for
 * f16 weights, K and V rounded to the cache type (an f32 cache to f16, as
 * llama.cpp casts it for flash attention). The micro-batches here have fewer
 * than 64 tokens, which puts ggml's flash attention on its per-key path: the
 * query is rounded to f16 for an f16 cache and V is accumulated in f16 (the
 * running sum rounded after every key); the reference does the same in
 * double. What remains between the two is the engine's f32 arithmetic.
 *
 * Tolerance: a dot product of length n accumulated in f32 carries a relative
 * error of at most about n * 2^-24 (n <= 512 here: 3e-5); a layer chains
 * about six such products and the residual stream adds them, so L layers
 * give at most ~6 L * 3e-5 relative error (7e-4 for 4 layers, 1.1e-3 for 6).
 * An f32 difference can also flip an f16 rounding of a matmul input, which
 * changes that input by one f16 ulp (2^-11 relative). Measured: with one
 * token and up to two layers the two agree to 1e-7 relative (pure f32
 * arithmetic, no flip); flips then appear with the number of rounded inputs
 * and reach 6e-4..1.4e-3 relative for 48 tokens through 4-6 layers (the f16
 * running sum of V rounds more values, so it flips more). We require
 *     max |logit_engine - logit_ref| <= 2e-3 * max |logit_ref|
 * for every architecture and cache type, which also fails loudly for any
 * real mistake (a wrong rope pair, mask, scale or norm moves logits by
 * tens of percent).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/fp16.h"
#include "model/context.h"
#include "model_builder.h"
#include "test.h"

typedef struct {
    double *w;
    int64_t n_in, n_out;
} dmat;

static dmat dequant(const ql_matrix *m) {
    dmat d = {malloc((size_t)(m->n_in * m->n_out) * sizeof(double)), m->n_in, m->n_out};
    float *row = malloc((size_t)m->n_in * sizeof(float));
    const ql_type_traits *tr = ql_type_traits_get((int)m->type);
    for (int64_t o = 0; o < m->n_out; o++) {
        tr->to_float((const uint8_t *)m->data + (size_t)o * m->row_bytes, row, m->n_in);
        for (int64_t i = 0; i < m->n_in; i++) d.w[o * m->n_in + i] = row[i];
    }
    free(row);
    return d;
}

static double round_to(ql_type t, double x) {
    if (t == QL_TYPE_F16 || t == QL_TYPE_F32) return ql_round_fp16((float)x);
    if (t == QL_TYPE_BF16) return ql_bf16_to_fp32(ql_fp32_to_bf16((float)x));
    return x;
}

/* y[o] = sum_i W[o][i] * round(x[i]) */
static void dmatvec(const dmat *m, ql_type wtype, const double *x, double *y) {
    double *xr = malloc((size_t)m->n_in * sizeof(double));
    for (int64_t i = 0; i < m->n_in; i++)
        xr[i] = wtype == QL_TYPE_F32 ? x[i] : round_to(wtype, x[i]);
    for (int64_t o = 0; o < m->n_out; o++) {
        double s = 0;
        for (int64_t i = 0; i < m->n_in; i++) s += m->w[o * m->n_in + i] * xr[i];
        y[o] = s;
    }
    free(xr);
}

static void drms(double *x, int64_t n, const float *w, double eps) {
    double ss = 0;
    for (int64_t i = 0; i < n; i++) ss += x[i] * x[i];
    double sc = 1.0 / sqrt(ss / n + eps);
    for (int64_t i = 0; i < n; i++) x[i] = x[i] * sc * (w ? w[i] : 1.0);
}

static void drope(double *x, int64_t pos, int n_rot, double base, double fscale, bool neox) {
    for (int i = 0; i < n_rot / 2; i++) {
        double th = fscale * pos * pow(base, -2.0 * i / n_rot);
        int a = neox ? i : 2 * i, b = neox ? i + n_rot / 2 : 2 * i + 1;
        double x0 = x[a], x1 = x[b];
        x[a] = x0 * cos(th) - x1 * sin(th);
        x[b] = x0 * sin(th) + x1 * cos(th);
    }
}

static void dhadamard(double *x, int64_t n, int block) {
    for (int64_t b0 = 0; b0 < n; b0 += block) {
        double *tmp = malloc((size_t)block * sizeof(double));
        for (int i = 0; i < block; i++) {
            double s = 0;
            for (int j = 0; j < block; j++)
                s += (__builtin_popcount((unsigned)(i & j)) & 1 ? -1 : 1) * x[b0 + j];
            tmp[i] = s / sqrt((double)block);
        }
        memcpy(x + b0, tmp, (size_t)block * sizeof(double));
        free(tmp);
    }
}

static double gelu(double x) {
    return 0.5 * x * (1 + tanh(sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
}

/*
 * logits[T - t_from][n_vocab] for tokens[0..T) at positions 0..T-1, the
 * rows of positions t_from..T-1 (t_from > 0 needs a one-layer model: earlier
 * positions then only feed K and V). exact_softmax weighs V in double in one
 * pass instead of replaying the per-key path's f16 running sum - the order
 * that matches the tiled path, which accumulates in f32.
 */
static void reference_forward(const ql_model *m, const int32_t *tok, int64_t T, int64_t t_from,
                              ql_type kv_k, ql_type kv_v, bool rot_k, bool rot_v,
                              bool exact_softmax, double *logits) {
    const ql_model_config *c = &m->cfg;
    const int64_t E = c->n_embd, dk = c->head_dim_k, dv = c->head_dim_v;
    const int64_t H = c->n_head, HK = c->n_head_kv, F = c->n_ff;
    double *x = calloc((size_t)(T * E), sizeof(double));
    float *row = malloc((size_t)E * sizeof(float));
    const ql_type_traits *te = ql_type_traits_get((int)m->tok_embd.type);
    for (int64_t t = 0; t < T; t++) {
        te->to_float((const uint8_t *)m->tok_embd.data + (size_t)tok[t] * m->tok_embd.row_bytes,
                     row, E);
        for (int64_t i = 0; i < E; i++) x[t * E + i] = row[i] * (double)c->embd_scale;
    }
    double *h = malloc((size_t)E * sizeof(double)),
           *q = malloc((size_t)(T * H * dk) * sizeof(double));
    double *k = malloc((size_t)(T * HK * dk) * sizeof(double)),
           *v = malloc((size_t)(T * HK * dv) * sizeof(double));
    double *att = malloc((size_t)(H * dv) * sizeof(double)),
           *o = malloc((size_t)E * sizeof(double));
    double *g = malloc((size_t)F * sizeof(double)), *u = malloc((size_t)F * sizeof(double));
    double *sc = malloc((size_t)T * sizeof(double));
    for (int64_t l = 0; l < c->n_layer; l++) {
        const ql_layer *L = &m->layers[l];
        dmat wq = dequant(&L->wq), wk = dequant(&L->wk), wv = dequant(&L->wv), wo = dequant(&L->wo);
        dmat wg = dequant(&L->w_gate), wu = dequant(&L->w_up), wd = dequant(&L->w_down);
        for (int64_t t = 0; t < T; t++) {
            memcpy(h, x + t * E, (size_t)E * sizeof(double));
            drms(h, E, L->attn_norm.data, c->rms_eps);
            dmatvec(&wq, L->wq.type, h, q + t * H * dk);
            dmatvec(&wk, L->wk.type, h, k + t * HK * dk);
            dmatvec(&wv, L->wv.type, h, v + t * HK * dv);
            for (int64_t i = 0; L->bq.n && i < H * dk; i++) q[t * H * dk + i] += L->bq.data[i];
            for (int64_t i = 0; L->bk.n && i < HK * dk; i++) k[t * HK * dk + i] += L->bk.data[i];
            for (int64_t i = 0; L->bv.n && i < HK * dv; i++) v[t * HK * dv + i] += L->bv.data[i];
            for (int64_t hh = 0; hh < H; hh++) {
                double *qh = q + (t * H + hh) * dk;
                if (L->q_norm.n) drms(qh, dk, L->q_norm.data, c->rms_eps);
                drope(qh, t, c->n_rot, L->rope_base, L->rope_freq_scale, c->rope_neox);
                for (int64_t i = 0; i < dk; i++) qh[i] *= c->q_scale;
                if (rot_k) dhadamard(qh, dk, (int)(dk & -dk));
                /* the per-key path converts the query to f16 for an f16 cache */
                if (kv_k == QL_TYPE_F16 || kv_k == QL_TYPE_F32)
                    for (int64_t i = 0; i < dk; i++) qh[i] = round_to(kv_k, qh[i]);
            }
            for (int64_t hh = 0; hh < HK; hh++) {
                double *kh = k + (t * HK + hh) * dk, *vh = v + (t * HK + hh) * dv;
                if (L->k_norm.n) drms(kh, dk, L->k_norm.data, c->rms_eps);
                drope(kh, t, c->n_rot, L->rope_base, L->rope_freq_scale, c->rope_neox);
                if (rot_k) dhadamard(kh, dk, (int)(dk & -dk));
                if (rot_v) dhadamard(vh, dv, 64);
                for (int64_t i = 0; i < dk; i++) kh[i] = round_to(kv_k, kh[i]);
                for (int64_t i = 0; i < dv; i++) vh[i] = round_to(kv_v, vh[i]);
            }
        }
        for (int64_t t = l == c->n_layer - 1 ? t_from : 0; t < T; t++) {
            for (int64_t hh = 0; hh < H; hh++) {
                const int64_t kvh = hh / (H / HK);
                const double *qh = q + (t * H + hh) * dk;
                double mx = -INFINITY;
                for (int64_t s = 0; s <= t; s++) {
                    const bool visible = !L->is_swa || t - s < c->n_swa;
                    double d = 0;
                    for (int64_t i = 0; i < dk; i++) d += qh[i] * k[(s * HK + kvh) * dk + i];
                    sc[s] = visible ? d * c->kq_scale : -INFINITY;
                    if (sc[s] > mx) mx = sc[s];
                }
                double *a = att + hh * dv;
                if (!exact_softmax && (kv_v == QL_TYPE_F16 || kv_v == QL_TYPE_F32)) {
                    /* per key, in order; the running sum of V is an f16 vector */
                    double run_max = -INFINITY, sum = 0;
                    for (int64_t i = 0; i < dv; i++) a[i] = 0;
                    for (int64_t s = 0; s <= t; s++) {
                        if (sc[s] == -INFINITY) continue;
                        double ms = 1, vs = 1;
                        if (sc[s] > run_max) {
                            ms = exp(run_max - sc[s]);
                            run_max = sc[s];
                            for (int64_t i = 0; i < dv; i++) a[i] = round_to(kv_v, a[i] * ms);
                        } else {
                            vs = exp(sc[s] - run_max);
                        }
                        for (int64_t i = 0; i < dv; i++)
                            a[i] = round_to(kv_v, a[i] + v[(s * HK + kvh) * dv + i] * vs);
                        sum = sum * ms + vs;
                    }
                    for (int64_t i = 0; i < dv; i++) a[i] /= sum;
                } else {
                    double sum = 0;
                    for (int64_t s = 0; s <= t; s++) sum += (sc[s] = exp(sc[s] - mx));
                    for (int64_t i = 0; i < dv; i++) {
                        double acc = 0;
                        for (int64_t s = 0; s <= t; s++) acc += sc[s] * v[(s * HK + kvh) * dv + i];
                        a[i] = acc / sum;
                    }
                }
                if (rot_v) dhadamard(a, dv, 64);
            }
            dmatvec(&wo, L->wo.type, att, o);
            if (L->post_attn_norm.n) drms(o, E, L->post_attn_norm.data, c->rms_eps);
            for (int64_t i = 0; i < E; i++) x[t * E + i] += o[i];
            memcpy(h, x + t * E, (size_t)E * sizeof(double));
            drms(h, E, L->ffn_norm.data, c->rms_eps);
            dmatvec(&wg, L->w_gate.type, h, g);
            dmatvec(&wu, L->w_up.type, h, u);
            for (int64_t i = 0; i < F; i++)
                g[i] = (c->gelu_ffn ? gelu(g[i]) : g[i] / (1 + exp(-g[i]))) * u[i];
            dmatvec(&wd, L->w_down.type, g, o);
            if (L->post_ffn_norm.n) drms(o, E, L->post_ffn_norm.data, c->rms_eps);
            for (int64_t i = 0; i < E; i++) x[t * E + i] += o[i];
        }
        free(wq.w), free(wk.w), free(wv.w), free(wo.w), free(wg.w), free(wu.w), free(wd.w);
    }
    dmat out = dequant(&m->output);
    for (int64_t t = t_from; t < T; t++) {
        memcpy(h, x + t * E, (size_t)E * sizeof(double));
        drms(h, E, m->output_norm.data, c->rms_eps);
        dmatvec(&out, m->output.type, h, logits + (t - t_from) * c->n_vocab);
    }
    free(out.w), free(x), free(row), free(h), free(q), free(k), free(v), free(att), free(o);
    free(g), free(u), free(sc);
}

typedef struct {
    float *logits;
    int64_t n_vocab;
} capture;

static bool capture_rows(void *user, const ql_logits_block *b) {
    capture *c = user;
    memcpy(c->logits + b->first_pos * b->n_vocab, b->logits,
           (size_t)(b->n_rows * b->n_vocab) * sizeof(float));
    return true;
}

static void compare(ql_test_ctx *t, const char *arch, ql_type kv, ql_rotate_mode rot) {
    ql_error err;
    ql_model *m;
    REQUIRE_MSG(ql_model_load(ql_test_synth_model(arch), &m, &err) == QL_OK, "%s", err.msg);
    const int64_t T = 48; /* longer than gemma3's 32-token window */
    int32_t tok[48];
    for (int i = 0; i < T; i++) tok[i] = (int32_t)((i * 7919 + 13) % m->cfg.n_vocab);
    ql_context_params cp = ql_context_default_params();
    cp.n_ctx = T;
    cp.n_ubatch = 20; /* several micro-batches: the cache must carry over */
    cp.type_k = cp.type_v = kv;
    cp.rotate = rot;
    cp.n_threads = 2;
    ql_context *ctx;
    REQUIRE_MSG(ql_context_create(m, &cp, &ctx, &err) == QL_OK, "%s", err.msg);
    const int64_t V = m->cfg.n_vocab;
    capture cap = {malloc((size_t)(T * V) * sizeof(float)), V};
    REQUIRE_MSG(ql_forward(ctx, tok, T, 0, 0, capture_rows, &cap, &err) == QL_OK, "%s", err.msg);
    double *ref = malloc((size_t)(T * V) * sizeof(double));
    reference_forward(m, tok, T, 0, kv, kv, ql_context_rotates_k(ctx), ql_context_rotates_v(ctx),
                      false, ref);
    double max_ref = 0, max_diff = 0;
    for (int64_t i = 0; i < T * V; i++) {
        max_ref = fmax(max_ref, fabs(ref[i]));
        max_diff = fmax(max_diff, fabs(ref[i] - cap.logits[i]));
    }
    printf("%-6s cache %-4s rotate %-4s: max|logit| %.3f, max|diff| %.3g (%.2e relative)\n", arch,
           ql_type_name((int)kv), rot == QL_ROTATE_ON ? "on" : "auto", max_ref, max_diff,
           max_diff / max_ref);
    CHECK_MSG(max_diff <= 2e-3 * max_ref, "%s %s: logits differ by %.3g (max |logit| %.3f)", arch,
              ql_type_name((int)kv), max_diff, max_ref);
    free(ref);
    free(cap.logits);
    ql_context_free(ctx);
    ql_model_free(m);
}

static void compare_arch(ql_test_ctx *t, const char *arch) {
    compare(t, arch, QL_TYPE_F32, QL_ROTATE_AUTO);
    compare(t, arch, QL_TYPE_F16, QL_ROTATE_AUTO);
    compare(t, arch, QL_TYPE_F16, QL_ROTATE_ON);
}

QL_TEST(forward_reference_llama) {
    compare_arch(t, "llama");
}
QL_TEST(forward_reference_qwen2) {
    compare_arch(t, "qwen2");
}
QL_TEST(forward_reference_qwen3) {
    compare_arch(t, "qwen3");
}
QL_TEST(forward_reference_gemma3) {
    compare_arch(t, "gemma3");
}

typedef struct {
    float *logits; /* rows from first */
    int64_t n_vocab, first;
} capture_tail;

static bool capture_tail_rows(void *user, const ql_logits_block *b) {
    capture_tail *c = user;
    memcpy(c->logits + (b->first_pos - c->first) * b->n_vocab, b->logits,
           (size_t)(b->n_rows * b->n_vocab) * sizeof(float));
    return true;
}

/*
 * One chunk of 32768 positions through the engine (64 micro-batches, the
 * tiled attention over an f16 cache, 64-bit offsets into it), and the
 * last positions' logits against the reference, which attends over all
 * 32768 keys in double. A one-layer model keeps the reference cheap: only
 * K and V are needed for the earlier positions.
 */
QL_TEST(forward_reference_long_context) {
    const char *dir = ql_test_tmpdir(t);
    char path[1024];
    snprintf(path, sizeof path, "%s/long.gguf", dir);
    const ql_test_model_shape shape = {
        "llama", 64,  1, 1,
        64,      128, 1, ql_test_shared_path("golden/tokenizer/ggml-vocab-gpt-2.gguf"),
        0};
    REQUIRE(ql_test_build_model(path, &shape));
    ql_error err;
    ql_model *m;
    REQUIRE_MSG(ql_model_load(path, &m, &err) == QL_OK, "%s", err.msg);
    enum { T = 32768, TAIL = 3 };
    int32_t *tok = malloc(T * sizeof *tok);
    uint64_t r = 12345;
    for (int i = 0; i < T; i++) {
        r = r * 6364136223846793005ull + 1442695040888963407ull;
        tok[i] = (int32_t)((r >> 33) % (uint64_t)m->cfg.n_vocab);
    }
    ql_context_params cp = ql_context_default_params();
    cp.n_ctx = T;
    cp.n_threads = 2;
    ql_context *ctx;
    REQUIRE_MSG(ql_context_create(m, &cp, &ctx, &err) == QL_OK, "%s", err.msg);
    const int64_t V = m->cfg.n_vocab;
    capture_tail cap = {malloc((size_t)(TAIL * V) * sizeof(float)), V, T - TAIL};
    REQUIRE_MSG(ql_forward(ctx, tok, T, 0, T - TAIL, capture_tail_rows, &cap, &err) == QL_OK, "%s",
                err.msg);
    double *ref = malloc((size_t)(TAIL * V) * sizeof(double));
    reference_forward(m, tok, T, T - TAIL, QL_TYPE_F16, QL_TYPE_F16, false, false, true, ref);
    double max_ref = 0, max_diff = 0;
    for (int64_t i = 0; i < TAIL * V; i++) {
        max_ref = fmax(max_ref, fabs(ref[i]));
        max_diff = fmax(max_diff, fabs(ref[i] - cap.logits[i]));
    }
    printf("-c %d, last %d positions: max|logit| %.3f, max|diff| %.3g (%.2e relative)\n", T, TAIL,
           max_ref, max_diff, max_diff / max_ref);
    CHECK_MSG(max_diff <= 2e-3 * max_ref, "logits differ by %.3g (max |logit| %.3f)", max_diff,
              max_ref);
    free(ref), free(cap.logits), free(tok);
    ql_context_free(ctx);
    ql_model_free(m);
}
