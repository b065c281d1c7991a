/*
 * test_plan.c - the planner's arithmetic against bytes computed by hand for
 * SmolLM2-135M (30 layers, 3 KV heads of 64) and Gemma 3 270M (18 layers, 1
 * KV head of 256, sliding window 512 on 15 of 18 layers), read from the real
 * GGUF files in models/ (scripts/fetch-models.sh); and `qlens plan`, which
 * shows every term of its totals and offers no context past the trained one.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gguf/gguf.h"
#include "lab/plan.h"
#include "lab/plan_csv.h"
#include "model/context.h"
#include "test.h"

static const ql_plan_cache f16_cache = {QL_TYPE_F16, QL_TYPE_F16, 512};
static const ql_plan_cache q8_cache = {QL_TYPE_Q8_0, QL_TYPE_Q8_0, 512};
static const ql_plan_cache q4_cache = {QL_TYPE_Q4_0, QL_TYPE_Q4_0, 512};

static bool load_config(ql_test_ctx *t, const char *path, ql_model_config *c) {
    ql_error err;
    gguf_file *f;
    if (gguf_open(path, &f, &err) != QL_OK) {
        ql_test_failf(t, __FILE__, __LINE__, "%s (run scripts/fetch-models.sh)", err.msg);
        return false;
    }
    bool ok = ql_model_read_config(f, c, &err) == QL_OK;
    if (!ok) ql_test_failf(t, __FILE__, __LINE__, "%s", err.msg);
    gguf_close(f);
    return ok;
}

QL_TEST(plan_smollm2_kv_bytes) {
    ql_model_config c;
    REQUIRE(load_config(t, "models/SmolLM2-135M-Instruct.Q4_1.gguf", &c));
    CHECK_EQ_INT(c.n_layer, 30);
    CHECK_EQ_INT(c.n_head_kv, 3);
    CHECK_EQ_INT(c.head_dim_k, 64);
    /* f16: 64 values x 2 bytes = 128 per row; K + V over 3 heads = 768 per cell */
    CHECK_EQ_INT(ql_plan_kv_bytes_per_cell(&c, QL_TYPE_F16, QL_TYPE_F16), 768);
    /* q8_0: 2 blocks x 34 = 68; q5_1: 2 x 24 = 48; q4_0: 2 x 18 = 36 */
    CHECK_EQ_INT(ql_plan_kv_bytes_per_cell(&c, QL_TYPE_Q8_0, QL_TYPE_Q8_0), 3 * (68 + 68));
    CHECK_EQ_INT(ql_plan_kv_bytes_per_cell(&c, QL_TYPE_Q8_0, QL_TYPE_Q5_1), 3 * (68 + 48));
    CHECK_EQ_INT(ql_plan_kv_bytes_per_cell(&c, QL_TYPE_Q4_0, QL_TYPE_Q4_0), 3 * (36 + 36));
    /* no sliding window: every layer holds every position: 30 x 768 = 23040 per token */
    CHECK_EQ_INT(ql_plan_kv_bytes(&c, &f16_cache, 2048), 2048ull * 23040);
    CHECK_EQ_INT(ql_plan_kv_bytes(&c, &f16_cache, 8192), 188743680ull);
    CHECK_EQ_INT(ql_plan_kv_bytes(&c, &q8_cache, 8192), 8192ull * 30 * 408);
    CHECK_EQ_INT(ql_plan_kv_bytes(&c, &q4_cache, 100000), 100000ull * 30 * 216);
    CHECK_EQ_INT(ql_plan_recurrent_bytes(&c), 0);
}

QL_TEST(plan_gemma3_sliding_window) {
    ql_model_config c;
    REQUIRE(load_config(t, "models/gemma-3-270m-Q4_K_M.gguf", &c));
    CHECK_EQ_INT(c.n_layer, 18);
    CHECK_EQ_INT(c.n_head_kv, 1);
    CHECK_EQ_INT(c.head_dim_k, 256);
    CHECK_EQ_INT(c.n_swa, 512);
    /* f16: 256 x 2 = 512 bytes per row, K + V = 1024 per cell */
    CHECK_EQ_INT(ql_plan_kv_bytes_per_cell(&c, QL_TYPE_F16, QL_TYPE_F16), 1024);
    /* q8_0: 8 blocks x 34 = 272 per row */
    CHECK_EQ_INT(ql_plan_kv_bytes_per_cell(&c, QL_TYPE_Q8_0, QL_TYPE_Q8_0), 544);
    /* a sliding layer keeps llama.cpp's ring, pad256(min(pad256(ctx), 512 + n_ubatch)), where
     * that is smaller than the context; at 300 tokens it is 512, so every layer holds 300 cells */
    CHECK_EQ_INT(ql_plan_kv_bytes(&c, &f16_cache, 300), 18ull * 300 * 1024);
    /* at 100000: 3 global layers hold 100000 cells, 15 sliding ones pad256(512 + 512) = 1024 */
    CHECK_EQ_INT(ql_plan_kv_bytes(&c, &f16_cache, 100000),
                 3ull * 100000 * 1024 + 15ull * 1024 * 1024);
    const ql_plan_cache mixed = {QL_TYPE_Q8_0, QL_TYPE_Q4_0, 512};
    CHECK_EQ_INT(ql_plan_kv_bytes(&c, &mixed, 32768),
                 (3ull * 32768 + 15ull * 1024) * (272 + 8 * 18));
    /* a micro-batch of 64: the ring is pad256(512 + 64) = 768 cells */
    const ql_plan_cache small_ub = {QL_TYPE_F16, QL_TYPE_F16, 64};
    CHECK_EQ_INT(ql_plan_kv_bytes(&c, &small_ub, 100000),
                 3ull * 100000 * 1024 + 15ull * 768 * 1024);
}

QL_TEST(plan_max_context_is_the_largest_that_fits) {
    ql_model_config c;
    REQUIRE(load_config(t, "models/SmolLM2-135M-Instruct.Q4_1.gguf", &c));
    const ql_plan_cache cache = {QL_TYPE_F16, QL_TYPE_F16, 512};
    const uint64_t weights = 96576768; /* the file's tensor bytes */
    const uint64_t compute = ql_plan_compute_bytes(&c, 512);
    /* budget for exactly 10000 tokens of f16 cache (23040 bytes each) */
    const uint64_t budget = weights + compute + 10000ull * 23040;
    CHECK_EQ_INT(ql_plan_max_ctx(&c, weights, &cache, budget, 1 << 20), 10000);
    CHECK_EQ_INT(ql_plan_max_ctx(&c, weights, &cache, budget - 1, 1 << 20), 9999);
    CHECK_EQ_INT(ql_plan_max_ctx(&c, weights, &cache, budget, 8192), 8192);
    CHECK_EQ_INT(ql_plan_max_ctx(&c, weights, &cache, weights, 1 << 20), 0);
    /* compute: 512 x (49152 + 4 x 576 + 2 x 1536 + 576 + 192 + 192) floats */
    CHECK_EQ_INT(compute, 4ull * 512 * (49152 + 2304 + 3072 + 576 + 192 + 192));
}

QL_TEST(plan_hybrid_counts_attention_layers_and_the_recurrent_state) {
    ql_model_config c;
    REQUIRE(load_config(t, "build/synth/synth-qwen35.gguf", &c));
    CHECK_EQ_INT(c.n_layer, 8);
    /* two attention layers (3, 7), each 2 KV heads of 256: f16 2 x (512 + 512) = 2048 B a cell */
    CHECK_EQ_INT(ql_plan_kv_bytes(&c, &f16_cache, 4096), 2ull * 4096 * 2048);
    /* q4_0: 256 values are 8 blocks of 18 B; 2 heads x (144 + 144) = 576 B a cell */
    CHECK_EQ_INT(ql_plan_kv_bytes(&c, &q4_cache, 4096), 2ull * 4096 * 576);
    /* six DeltaNet layers, each a conv window of 3 inputs of 2 x 2 x 128 + 4 x 128 = 1024 channels
     * and 4 value heads of 128 x 128, all f32 */
    CHECK_EQ_INT(ql_plan_recurrent_bytes(&c), 6ull * (3 * 1024 * 4 + 4 * 128 * 128 * 4));
    /* the total adds it once, whatever the context */
    const uint64_t w = 1000, work = ql_plan_compute_bytes(&c, 512);
    CHECK_EQ_INT(ql_plan_total_bytes(&c, w, &f16_cache, 4096),
                 w + 2ull * 4096 * 2048 + 1646592 + work);
}

/* The context allocates what the planner counts: same layer description, same bytes. */
QL_TEST(plan_and_context_agree_on_every_layer) {
    static const struct {
        const char *path;
        int64_t n_ctx, n_ubatch;
    } cases[] = {
        {"build/synth/synth-qwen35.gguf", 300, 512},
        {"build/synth/synth-qwen35moe.gguf", 128, 64},
        {"build/synth/synth-gemma3-270m.gguf", 2048, 512}, /* sliding layers in their ring */
        {"build/synth/synth-gemma3-270m.gguf", 700, 128},
        {"build/synth/synth-llama.gguf", 256, 512},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ql_model *m;
        ql_error err;
        REQUIRE_MSG(ql_model_load(cases[i].path, &m, &err) == QL_OK, "%s", err.msg);
        ql_context_params p = ql_context_default_params();
        p.n_ctx = cases[i].n_ctx;
        p.n_ubatch = cases[i].n_ubatch;
        p.type_k = QL_TYPE_Q8_0;
        p.type_v = QL_TYPE_Q4_0;
        p.n_threads = 1;
        ql_context *ctx;
        REQUIRE_MSG(ql_context_create(m, &p, &ctx, &err) == QL_OK, "%s", err.msg);
        const ql_plan_cache pc = {p.type_k, p.type_v, p.n_ubatch};
        CHECK_EQ_INT(ql_context_kv_bytes(ctx), ql_plan_kv_bytes(&m->cfg, &pc, p.n_ctx));
        CHECK_EQ_INT(ql_context_recurrent_bytes(ctx), ql_plan_recurrent_bytes(&m->cfg));
        ql_context_free(ctx);
        ql_model_free(m);
    }
}

/* The row of `qlens plan` output for a K/V pair: "| name | k | v | ..." */
static const char *plan_row(const char *out, const char *kv) {
    char needle[64];
    snprintf(needle, sizeof needle, " | %s |", kv);
    return strstr(out, needle);
}

QL_TEST(plan_cli_shows_every_term_of_the_total) {
    char *out, *err;
    REQUIRE(ql_test_run_qlens("plan -m models/SmolLM2-135M-Instruct.Q4_1.gguf --budget 1GiB --ctx "
                              "4096 --cache f16/f16,q8_0/q4_0",
                              &out, &err) == 0);
    /* by hand: weights 96576768 B; KV f16 4096 x 30 layers x 768 B; working buffers 4 B x 512 x
       (49152 + 4 x 576 + 2 x 1536 + 576 + 192 + 192) */
    const double mib = 1024.0 * 1024.0;
    const double weights = 96576768 / mib, kv = 4096.0 * 30 * 768 / mib,
                 work = 4.0 * 512 * (49152 + 2304 + 3072 + 576 + 192 + 192) / mib;
    const char *row = plan_row(out, "f16 | f16");
    REQUIRE_MSG(row, "%s", out);
    double w, k, c, total;
    REQUIRE_MSG(sscanf(row, " | f16 | f16 | %lf MiB | %lf MiB | %lf MiB | %lf MiB |", &w, &k, &c,
                       &total) == 4,
                "%s", row);
    CHECK_NEAR(w, weights, 0.005);
    CHECK_NEAR(k, kv, 0.005);
    CHECK_NEAR(c, work, 0.005);
    CHECK_NEAR(total, weights + kv + work, 0.005);
    /* q8_0 K (68 B per head row) and q4_0 V (36 B), 3 heads, 30 layers */
    row = plan_row(out, "q8_0 | q4_0");
    REQUIRE(row);
    REQUIRE(sscanf(row, " | q8_0 | q4_0 | %lf MiB | %lf MiB | %lf MiB | %lf MiB |", &w, &k, &c,
                   &total) == 4);
    CHECK_NEAR(k, 4096.0 * 30 * 3 * (68 + 36) / mib, 0.005);
    CHECK_NEAR(total, w + k + c, 0.011);
    CHECK_MSG(strstr(out, "total = weights + KV cache at 4096 tokens + working buffers") != NULL,
              "%s", out);
    /* 1 GiB holds more than the trained 8192 tokens: the trained context is the limit */
    CHECK_MSG(strstr(row, "| yes | 8192 (the trained context") != NULL, "%s", row);
    free(out), free(err);
}

QL_TEST(plan_cli_marks_contexts_past_the_trained_length) {
    char *out, *err;
    REQUIRE(ql_test_run_qlens("plan -m models/SmolLM2-135M-Instruct.Q4_1.gguf --budget 64GiB --ctx "
                              "10000 --cache f16/f16,q4_0/q4_0",
                              &out, &err) == 0);
    /* memory is plenty, but SmolLM2 was trained on 8192 tokens */
    CHECK_MSG(strstr(out, "| yes |") == NULL, "offered as fitting:\n%s", out);
    int marked = 0;
    for (const char *p = out; (p = strstr(p, "| no: past the trained context |")); p++) marked++;
    CHECK_EQ_INT(marked, 2);
    CHECK_MSG(strstr(out, "10000 tokens is past the model's trained context (8192)") != NULL, "%s",
              out);
    free(out), free(err);
}

/* ---- plan --sweep: results.csv and the models it names ---- */

static ql_status parse(const char *csv, ql_plan_entry **rows, int64_t *n, ql_error *err) {
    return ql_plan_parse_csv(csv, strlen(csv), "results.csv", rows, n, err);
}

QL_TEST(plan_csv_reads_what_rfc4180_allows) {
    /* columns in another order, extra columns, quoted commas, quotes and a line break, CRLF */
    const char *csv = "kld_unc,cache_type_v,extra,weights,kld,cache_type_k,weights_path\r\n"
                      "0.5,q8_0,x,\"Q4, \"\"K\"\"\",0.25,f16,\"dir/a,b.gguf\"\r\n"
                      "0.125,q4_0,,\"two\nlines\",1e-3,q5_1,plain.gguf\n";
    ql_plan_entry *rows;
    int64_t n;
    ql_error err;
    REQUIRE_MSG(parse(csv, &rows, &n, &err) == QL_OK, "%s", err.msg);
    REQUIRE(n == 2);
    CHECK_MSG(strcmp(rows[0].weights, "Q4, \"K\"") == 0, "'%s'", rows[0].weights);
    CHECK_MSG(strcmp(rows[0].path, "dir/a,b.gguf") == 0, "'%s'", rows[0].path);
    CHECK(rows[0].k == QL_TYPE_F16 && rows[0].v == QL_TYPE_Q8_0);
    CHECK(rows[0].kld == 0.25 && rows[0].kld_unc == 0.5);
    CHECK_MSG(strcmp(rows[1].weights, "two\nlines") == 0, "'%s'", rows[1].weights);
    CHECK(strcmp(rows[1].path, "plain.gguf") == 0);
    CHECK(rows[1].k == QL_TYPE_Q5_1 && rows[1].v == QL_TYPE_Q4_0);
    CHECK(rows[1].kld == 1e-3 && rows[1].kld_unc == 0.125);
    free(rows);
}

QL_TEST(plan_csv_refuses_what_is_not_a_result) {
    const char *head = "weights,weights_path,cache_type_k,cache_type_v,kld,kld_unc\n";
    char long_path[1200];
    memset(long_path, 'p', sizeof long_path - 1);
    long_path[sizeof long_path - 1] = '\0';
    const struct {
        const char *rows, *needle;
    } cases[] = {
        {"Q4_0,a.gguf,f16,q9_9,0.1,0.01\n", "line 2 is malformed"},
        {"Q4_0,a.gguf,f16,f16,nan,0.01\n", "line 2 is malformed"},
        {"Q4_0,a.gguf,f16,f16,0.1,inf\n", "line 2 is malformed"},
        {"Q4_0,a.gguf,f16,f16,0.1x,0.01\n", "line 2 is malformed"},
        {"Q4_0,,f16,f16,0.1,0.01\n", "line 2 is malformed"},
        {"Q4_0,a.gguf,f16,f16,0.1,0.01\n\"x\ny\",a.gguf,f16\n", "line 3 has 3 fields"},
        {"Q4_0,a.gguf,f16,f16,0.1,0.01\n\nQ4_0,a.gguf,f16,f16,0.1,0.01\n", "line 3 has 1 fields"},
        {"", "no configurations"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char csv[512];
        snprintf(csv, sizeof csv, "%s%s", head, cases[i].rows);
        ql_plan_entry *rows = NULL;
        int64_t n;
        ql_error err = {0};
        CHECK_MSG(parse(csv, &rows, &n, &err) == QL_ERR_FORMAT && strstr(err.msg, cases[i].needle),
                  "case %zu: '%s'", i, err.msg);
        CHECK(rows == NULL);
    }
    ql_plan_entry *rows = NULL;
    int64_t n;
    ql_error err = {0};
    CHECK(parse("", &rows, &n, &err) == QL_ERR_FORMAT && strstr(err.msg, "empty"));
    CHECK(parse("a,b\n1,2\n", &rows, &n, &err) == QL_ERR_FORMAT &&
          strstr(err.msg, "not a qlens sweep results file"));
    char *big = malloc(2000);
    REQUIRE(big);
    snprintf(big, 2000, "%sQ4_0,%s,f16,f16,0.1,0.01\n", head, long_path);
    CHECK(parse(big, &rows, &n, &err) == QL_ERR_FORMAT && strstr(err.msg, "line 2 is malformed"));
    free(big);
}

/*
 * A sweep's table has a handful of weight files and many rows each: each
 * file is read once however many rows name it (the planner used to open
 * the model again for every row: 3.5 ms a row, 70 s for 20,000).
 */
QL_TEST(plan_reads_each_model_once) {
    const char *a = ql_test_synth_model("llama"), *b = ql_test_synth_model("gemma3");
    if (access(a, R_OK) != 0 || access(b, R_OK) != 0) SKIP("synthetic models not built");
    enum { N = 20000 };
    const char **paths = malloc(N * sizeof *paths);
    ql_plan_model *models = malloc(N * sizeof *models);
    REQUIRE(paths && models);
    /* copies of the names, so that equal paths are found by their text */
    char pa[512], pb[512];
    snprintf(pa, sizeof pa, "%s", a);
    snprintf(pb, sizeof pb, "%s", b);
    for (int i = 0; i < N; i++) paths[i] = i % 3 ? pa : pb;
    int64_t opened = -1;
    ql_error err;
    REQUIRE_MSG(ql_plan_read_models(paths, N, models, &opened, &err) == QL_OK, "%s", err.msg);
    CHECK_EQ_INT(opened, 2);
    gguf_file *f;
    ql_model_config want[2];
    uint64_t want_bytes[2] = {0, 0};
    for (int m = 0; m < 2; m++) {
        REQUIRE(gguf_open(m ? b : a, &f, &err) == QL_OK);
        REQUIRE(ql_model_read_config(f, &want[m], &err) == QL_OK);
        for (int64_t i = 0; i < gguf_n_tensors(f); i++)
            want_bytes[m] += gguf_tensor_at(f, i)->n_bytes;
        gguf_close(f);
    }
    int wrong = 0;
    for (int i = 0; i < N; i++) {
        const int m = i % 3 ? 0 : 1;
        wrong += memcmp(&models[i].cfg, &want[m], sizeof want[m]) != 0 ||
                 models[i].weight_bytes != want_bytes[m];
    }
    CHECK_EQ_INT(wrong, 0);
    /* a missing file is an error naming it */
    paths[7] = "no/such/model.gguf";
    CHECK(ql_plan_read_models(paths, N, models, &opened, &err) == QL_ERR_IO &&
          strstr(err.msg, "no/such/model.gguf"));
    free(paths);
    free(models);
}

/* The whole command on a results.csv of 20,000 rows: every row listed, one recommendation. */
QL_TEST(plan_sweep_with_20000_rows) {
    const char *a = ql_test_synth_model("llama");
    if (access(a, R_OK) != 0) SKIP("synthetic models not built");
    const char *dir = ql_test_tmpdir(t);
    char path[1024];
    snprintf(path, sizeof path, "%s/results.csv", dir);
    FILE *f = fopen(path, "w");
    REQUIRE(f);
    fprintf(f, "rank,weights,weights_path,cache_type_k,cache_type_v,kld,kld_unc\n");
    static const char *const caches[] = {"f16", "q8_0", "q5_1", "q4_0"};
    for (int i = 0; i < 20000; i++)
        fprintf(f, "%d,\"W%d\",\"%s\",%s,%s,%.6f,0.0001\n", i + 1, i % 7, a, caches[i % 4],
                caches[i / 4 % 4], 0.5 + 0.001 * (i % 997));
    /* the best, in the middle of the file */
    fprintf(f, "20001,best,%s,q8_0,q8_0,0.0125,0.0001\n", a);
    fclose(f);
    char args[2048], *out, *err;
    snprintf(args, sizeof args, "plan --sweep %s --budget 8GiB --ctx 4096", dir);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    const int rc = ql_test_run_qlens(args, &out, &err);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("plan --sweep on 20001 rows: %.2f s\n",
           (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec));
    CHECK_MSG(rc == 0, "exit %d: %s", rc, err);
    int rows = 0;
    for (const char *p = out; (p = strstr(p, "\n| W")); p++) rows++;
    CHECK_EQ_INT(rows, 20000);
    CHECK_MSG(strstr(out, "Recommended: best with a q8_0/q8_0 cache: KLD 0.012500"), "%.300s", out);
    free(out), free(err);
}
