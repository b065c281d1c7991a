/*
 * perplexity.c - the public API in a few lines: perplexity of a model on a
 * text file, then the KL divergence of the same model with a q4_0 KV cache
 * against its own f16-cache predictions.
 *
 *   cc examples/perplexity.c $(pkg-config --cflags --libs qlens) -o ppl
 *   ./ppl MODEL.gguf TEXT [N_CTX] [CHUNKS]
 */
#include <qlens.h>
#include <stdio.h>
#include <stdlib.h>

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
    if (argc < 3) {
        fprintf(stderr, "usage: %s MODEL.gguf TEXT [N_CTX] [CHUNKS]\n", argv[0]);
        return 2;
    }
    qlens_error err;
    qlens_model *m;
    if (qlens_model_open(argv[1], &m, &err)) {
        fprintf(stderr, "error: %s\n", err.msg);
        return 1;
    }
    size_t len;
    char *text = read_all(argv[2], &len);
    int32_t *ids = NULL;
    size_t n = 0;
    if (!text || qlens_tokenize(m, text, len, 1, &ids, &n, &err)) {
        fprintf(stderr, "error: %s\n", text ? err.msg : "cannot read the text");
        return 1;
    }
    qlens_eval_params p;
    qlens_eval_params_default(&p);
    if (argc > 3) p.n_ctx = atoll(argv[3]);
    if (argc > 4) p.n_chunks = atoll(argv[4]);
    qlens_ppl ppl;
    if (qlens_perplexity(m, &p, ids, n, "example.qlref", &ppl, &err)) {
        fprintf(stderr, "error: %s\n", err.msg);
        return 1;
    }
    printf("PPL = %.4f +/- %.5f over %lld tokens\n", ppl.ppl, ppl.ppl_unc, (long long)ppl.n_scored);
    p.cache_type_k = p.cache_type_v = "q4_0";
    qlens_kld kld;
    if (qlens_kld_against_file(m, &p, "example.qlref", &kld, &err)) {
        fprintf(stderr, "error: %s\n", err.msg);
        return 1;
    }
    printf("q4_0 cache: KLD = %.6f +/- %.6f, same top %.2f%%\n", kld.kld, kld.kld_unc,
           100 * kld.same_top);
    qlens_free(ids);
    free(text);
    qlens_model_close(m);
    remove("example.qlref");
    return 0;
}
