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

#include "lab/plan.h"
#include "test.h"

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
    CHECK_EQ_INT(ql_plan_kv_bytes(&c, QL_TYPE_F16, QL_TYPE_F16, 2048), 2048ull * 23040);
    CHECK_EQ_INT(ql_plan_kv_bytes(&c, QL_TYPE_F16, QL_TYPE_F16, 8192), 188743680ull);
    CHECK_EQ_INT(ql_plan_kv_bytes(&c, QL_TYPE_Q8_0, QL_TYPE_Q8_0, 8192), 8192ull * 30 * 408);
    CHECK_EQ_INT(ql_plan_kv_bytes(&c, QL_TYPE_Q4_0, QL_TYPE_Q4_0, 100000), 100000ull * 30 * 216);
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
    /* below the window every layer holds ctx cells: 18 x 300 x 1024 */
    CHECK_EQ_INT(ql_plan_kv_bytes(&c, QL_TYPE_F16, QL_TYPE_F16, 300), 18ull * 300 * 1024);
    /* at 100000: 3 global layers hold 100000 cells, 15 sliding ones 512 */
    CHECK_EQ_INT(ql_plan_kv_bytes(&c, QL_TYPE_F16, QL_TYPE_F16, 100000),
                 3ull * 100000 * 1024 + 15ull * 512 * 1024);
    CHECK_EQ_INT(ql_plan_kv_bytes(&c, QL_TYPE_Q8_0, QL_TYPE_Q4_0, 32768),
                 (3ull * 32768 + 15ull * 512) * (272 + 8 * 18));
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
