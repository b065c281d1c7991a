/*
 * test_weights_info.c - what the sweep says about a weights file: bits per
 * weight as `qlens info` computes them, and the matrices that fell back to
 * another type, against what `qlens quantize` itself reported when it made
 * the file.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lab/weights_info.h"
#include "model_builder.h"
#include "test.h"

QL_TEST(weights_info_counts_the_fallbacks_quantize_made) {
    const char *dir = ql_test_tmpdir(t);
    char f32[1024], q[1024], args[4096], *out, *err;
    snprintf(f32, sizeof f32, "%s/rows96.gguf", dir);
    snprintf(q, sizeof q, "%s/rows96-q4_k_m.gguf", dir);
    /* rows of 96: not whole 256-value blocks, so q4_K and q6_K must fall back */
    ql_test_model_shape shape = {
        "llama", 96,  3, 3,
        32,      256, 2, ql_test_shared_path("golden/tokenizer/ggml-vocab-llama-spm.gguf"),
        0};
    REQUIRE(ql_test_build_model(f32, &shape));
    snprintf(args, sizeof args, "quantize %s %s Q4_K_M -t 2", f32, q);
    REQUIRE_MSG(ql_test_run_qlens(args, &out, &err) == 0, "%s", err);
    /* what quantize said: one "(rows of 96 do not fit TYPE)" per tensor that fell back */
    int fell_back = 0, to_q5_0 = 0;
    for (const char *p = out; (p = strstr(p, "(rows of 96 do not fit")); p++) {
        fell_back++;
        const char *line = p;
        while (line > out && line[-1] != '\n') line--;
        to_q5_0 += strstr(line, "-> q5_0") != NULL && strstr(line, "-> q5_0") < p;
    }
    long long summary_fallbacks = -1, summary_tensors = -1;
    const char *sum = strstr(out, " tensors needed a fallback type");
    if (sum) {
        while (sum > out && sum[-1] != '\n') sum--;
        sscanf(sum, "%lld of %lld", &summary_fallbacks, &summary_tensors);
    }
    CHECK_MSG(fell_back > 0 && summary_fallbacks == fell_back, "%d lines, summary %lld:\n%s",
              fell_back, summary_fallbacks, out);
    free(out), free(err);

    ql_error e;
    gguf_file *f;
    REQUIRE(gguf_open(q, &f, &e) == QL_OK);
    ql_weights_info wi;
    REQUIRE_MSG(ql_weights_info_read(f, &wi, &e) == QL_OK, "%s", e.msg);
    gguf_close(f);
    CHECK(wi.rules_known);
    CHECK_EQ_INT(wi.n_fell_back, fell_back);
    CHECK_EQ_INT(wi.row_length, 96);
    /* q4_K -> q5_0 is the commonest fallback: most matrices are q4_K in Q4_K_M */
    CHECK_MSG(wi.wanted == QL_TYPE_Q4_K && wi.fallback == QL_TYPE_Q5_0 && to_q5_0 * 2 > fell_back,
              "%s -> %s, %d of %d to q5_0", ql_type_name((int)wi.wanted),
              ql_type_name((int)wi.fallback), to_q5_0, fell_back);
    /* bits per weight and the largest type by parameters, as `qlens info` reports them */
    snprintf(args, sizeof args, "info %s", q);
    REQUIRE(ql_test_run_qlens(args, &out, &err) == 0);
    const char *bpw = strstr(out, "bits per weight: ");
    REQUIRE(bpw);
    CHECK_NEAR(wi.bits_per_weight, strtod(bpw + 17, NULL), 5e-4);
    long long best = -1;
    char best_type[16] = "";
    const char *types = strstr(out, "types:");
    REQUIRE(types);
    for (const char *line = strchr(types, '\n'); line && line[1]; line = strchr(line + 1, '\n')) {
        char name[16];
        long long tensors, params;
        if (sscanf(line + 1, " %15s %lld %lld", name, &tensors, &params) != 3) continue;
        if (params > best) best = params, snprintf(best_type, sizeof best_type, "%s", name);
    }
    CHECK_MSG(strcmp(best_type, ql_type_name((int)wi.dominant)) == 0, "info says %s, %s", best_type,
              ql_type_name((int)wi.dominant));
    free(out), free(err);

    /* an F32 file has nothing to fall back: every matrix keeps its type */
    REQUIRE(gguf_open(f32, &f, &e) == QL_OK);
    REQUIRE(ql_weights_info_read(f, &wi, &e) == QL_OK);
    gguf_close(f);
    CHECK_EQ_INT(wi.n_fell_back, 0);
    CHECK_NEAR(wi.bits_per_weight, 32.0, 1e-9);
}
