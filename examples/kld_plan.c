/*
 * kld_plan.c - the rest of the public API: KL divergence of a model against
 * its reference run in lockstep (no reference file), with a progress line
 * that Ctrl-C turns into a clean cancel, the KLD percentiles, and what the
 * planner says about memory at a context and within a budget.
 *
 *   cc examples/kld_plan.c $(pkg-config --cflags --libs qlens) -o kld_plan
 *   ./kld_plan REF.gguf MODEL.gguf TEXT [N_CTX] [CHUNKS] [BUDGET_MIB] [CTX]
 */
#include <qlens.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig) {
    (void)sig;
    interrupted = 1;
}

/* Called after each chunk; a nonzero return stops the evaluation. */
static int progress(void *user, int64_t done, int64_t total) {
    fprintf(stderr, "\r%s: chunk %lld/%lld", (const char *)user, (long long)done, (long long)total);
    if (done == total) fputc('\n', stderr);
    return interrupted;
}

static char *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    rewind(f);
    char *buf = n >= 0 ? malloc((size_t)n) : NULL;
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s REF.gguf MODEL.gguf TEXT [N_CTX] [CHUNKS] [BUDGET_MIB] [CTX]\n",
                argv[0]);
        return 2;
    }
    qlens_error err;
    qlens_model *ref = NULL, *m = NULL;
    if (qlens_model_open(argv[1], &ref, &err) || qlens_model_open(argv[2], &m, &err)) {
        fprintf(stderr, "error: %s\n", err.msg);
        qlens_model_close(ref);
        return 1;
    }
    size_t len, n = 0;
    char *text = read_all(argv[3], &len);
    int32_t *ids = NULL;
    if (!text || qlens_tokenize(ref, text, len, 1, &ids, &n, &err)) {
        fprintf(stderr, "error: %s\n", text ? err.msg : "cannot read the text");
        return 1;
    }
    free(text);

    qlens_eval_params p;
    qlens_eval_params_default(&p);
    if (argc > 4) p.n_ctx = atoll(argv[4]);
    p.n_chunks = argc > 5 ? atoll(argv[5]) : 4;
    p.cache_type_k = p.cache_type_v = "q8_0"; /* the model under test; the reference keeps f16 */
    p.progress = progress;
    p.progress_user = "kld";
    signal(SIGINT, on_sigint);
    qlens_kld k;
    qlens_status st = qlens_kld_lockstep(ref, NULL, m, &p, ids, n, &k, &err);
    int rc = 0;
    if (st == QLENS_ERR_CANCELLED) {
        fprintf(stderr, "\ncancelled\n");
        rc = 130;
    } else if (st) {
        fprintf(stderr, "error: %s\n", err.msg);
        rc = 1;
    } else {
        printf(
            "KLD %.6f +/- %.6f over %lld tokens; 99.9%% %.6f, 99%% %.6f, median %.6f, max %.6f\n",
            k.kld, k.kld_unc, (long long)k.n_scored, k.kld_p999, k.kld_p99, k.kld_median,
            k.kld_max);
        printf("PPL ratio %.4f +/- %.4f, same top %.2f%%\n", k.ppl_ratio, k.ppl_ratio_unc,
               100 * k.same_top);
    }

    /* the planner: every term at a context, and the longest context within a budget */
    const uint64_t budget = (uint64_t)(argc > 6 ? atof(argv[6]) : 512) * 1024 * 1024;
    const int64_t ctx = argc > 7 ? atoll(argv[7]) : 4096;
    const char *caches[][2] = {{"f16", "f16"}, {"q8_0", "q8_0"}, {"q4_0", "q4_0"}};
    for (int i = 0; i < 3 && rc != 1; i++) {
        qlens_memory mem;
        int64_t max_ctx;
        int trained;
        if (qlens_plan_memory(m, caches[i][0], caches[i][1], ctx, 0, &mem, &err) ||
            qlens_plan_max_ctx(m, caches[i][0], caches[i][1], budget, 0, &max_ctx, &trained,
                               &err)) {
            fprintf(stderr, "error: %s\n", err.msg);
            rc = 1;
            break;
        }
        printf("%s/%s at %lld tokens: weights %.1f + KV %.1f + buffers %.1f = %.1f MiB; within "
               "%.0f MiB up to %lld tokens%s\n",
               caches[i][0], caches[i][1], (long long)ctx, mem.weight_bytes / 1048576.0,
               mem.kv_bytes / 1048576.0, mem.work_bytes / 1048576.0, mem.total_bytes / 1048576.0,
               budget / 1048576.0, (long long)max_ctx, trained ? " (the trained context)" : "");
    }
    qlens_free(ids);
    qlens_model_close(m);
    qlens_model_close(ref);
    return rc;
}
