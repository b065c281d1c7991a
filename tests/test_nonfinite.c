/*
 * test_nonfinite.c - models whose numbers stop being numbers. A NaN or an
 * infinity anywhere between the token embeddings and the probabilities
 * must end the command with one error line that names the chunk, the token
 * position and the first stage that produced it; no result is printed as
 * if it were one (PPL = nan, "Same top p 100%") and no output or temporary
 * file is left. Weights that hold NaN where qlens reads them at load time
 * (norms) are refused at load.
 *
 * The models are the synthetic ones with single values overwritten
 * (tests/gguf_edit.c).
 */
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/crc32.h"
#include "eval/refstore.h"
#include "gguf_edit.h"
#include "test.h"

static const char *wiki(void) {
    return ql_test_shared_path("data/wikitext-2-raw/wiki.test.raw");
}

static bool exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

static int count_lines(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

static bool dir_has_temporary(const char *dir) {
    DIR *d = opendir(dir);
    bool any = false;
    struct dirent *e;
    while (d && (e = readdir(d)))
        if (strstr(e->d_name, ".tmp-")) any = true;
    if (d) closedir(d);
    return any;
}

/*
 * Runs qlens ARGS and checks that it failed with exit status 1 and one error
 * line, the last on stderr, holding every needle; stdout must not claim a
 * result. Where absent is not NULL, the error must not name it either (a layer
 * before the culprit, which was finite).
 */
static void expect_stopped_naming_not(ql_test_ctx *t, const char *args, const char *const *needles,
                                      int n_needles, const char *absent) {
    char *out = NULL, *err = NULL;
    const int rc = ql_test_run_qlens(args, &out, &err);
    CHECK_MSG(rc == 1, "'%s': exit status %d, expected 1 (stderr: %s)", args, rc, err);
    const char *e = strstr(err, "qlens: error: ");
    CHECK_MSG(e && strstr(e + 1, "qlens: error: ") == NULL && count_lines(e) == 1,
              "'%s': not one error line at the end: %s", args, err);
    for (int i = 0; e && i < n_needles; i++)
        CHECK_MSG(strstr(e, needles[i]) != NULL, "'%s': the error lacks '%s': %s", args, needles[i],
                  e);
    CHECK_MSG(!strstr(out, "Final estimate") && !strstr(out, "Same top p:") &&
                  !strstr(out, "nan") && !strstr(out, "inf"),
              "'%s': stdout shows a result: %s", args, out);
    if (absent)
        CHECK_MSG(!strstr(err, absent), "'%s': the error names '%s': %s", args, absent, err);
    free(out), free(err);
}

static void expect_stopped(ql_test_ctx *t, const char *args, const char *const *needles,
                           int n_needles) {
    expect_stopped_naming_not(t, args, needles, n_needles, NULL);
}

/* gemma3 adds BOS (id 1) to every chunk: a NaN in its embedding row reaches every chunk. */
QL_TEST(nonfinite_bos_embedding_stops_every_command) {
    const char *gemma = ql_test_synth_model("gemma3");
    if (!exists(gemma)) SKIP("synthetic models not built (make synth)");
    const char *dir = ql_test_tmpdir(t);
    char d[1024], model[1100], ref[1100], good_ref[1100], json[1100], args[4096];
    snprintf(d, sizeof d, "%s", dir);
    snprintf(model, sizeof model, "%s/nan-bos.gguf", d);
    snprintf(ref, sizeof ref, "%s/ref.qlref", d);
    snprintf(good_ref, sizeof good_ref, "%s/good.qlref", d);
    snprintf(json, sizeof json, "%s/out.json", d);
    const ql_test_tensor_edit nan_bos = {"token_embd.weight", 1 * 256 + 7, NAN};
    REQUIRE(ql_test_gguf_edit(gemma, model, NULL, 0, &nan_bos, 1));

    const char *const where[] = {"chunk 1", "token position 0", "NaN", "token embedding"};
    snprintf(args, sizeof args, "perplexity -m %s -f %s -c 64 --chunks 2 --json %s", model, wiki(),
             json);
    expect_stopped(t, args, where, 4);
    CHECK_MSG(!exists(json), "%s was written", json);

    /* saving a reference: no reference and no temporary file */
    snprintf(args, sizeof args, "perplexity -m %s -f %s -c 64 --chunks 2 --kl-divergence-base %s",
             model, wiki(), ref);
    expect_stopped(t, args, where, 4);
    CHECK_MSG(!exists(ref), "%s was written", ref);
    CHECK_MSG(!dir_has_temporary(d), "a temporary file was left in %s", d);
    snprintf(args, sizeof args,
             "perplexity -m %s -f %s -c 64 --chunks 2 --kl-divergence-base %s "
             "--kld-base-format llama",
             model, wiki(), ref);
    expect_stopped(t, args, where, 4);
    CHECK_MSG(!exists(ref) && !dir_has_temporary(d), "llama.cpp format: output left in %s", d);

    /* scoring against a good reference: the model under test is named */
    snprintf(args, sizeof args, "perplexity -m %s -f %s -c 64 --chunks 2 --kl-divergence-base %s",
             gemma, wiki(), good_ref);
    REQUIRE(ql_test_run_qlens(args, NULL, NULL) == 0);
    const char *const in_model[] = {"nan-bos.gguf", "chunk 1", "token position 0",
                                    "token embedding"};
    snprintf(args, sizeof args, "perplexity -m %s --kl-divergence-base %s --kl-divergence", model,
             good_ref);
    expect_stopped(t, args, in_model, 4);
    snprintf(args, sizeof args, "kld --ref %s -m %s -f %s -c 64 --chunks 2", gemma, model, wiki());
    expect_stopped(t, args, in_model, 4);
    /* and as the reference of a lockstep run */
    snprintf(args, sizeof args, "kld --ref %s -m %s -f %s -c 64 --chunks 2", model, gemma, wiki());
    expect_stopped(t, args, in_model, 4);
}

/*
 * f16 weights at 65504 in layer 1's K projection make K values far beyond
 * f16's range: the f16 cache holds infinities, attention turns them into
 * NaN, and layer 1 is where the residual stream stops being finite.
 */
QL_TEST(nonfinite_overflow_in_a_layer_is_traced_to_that_layer) {
    const char *llama = ql_test_synth_model("llama");
    if (!exists(llama)) SKIP("synthetic models not built (make synth)");
    const char *dir = ql_test_tmpdir(t);
    char model[1100], args[4096];
    snprintf(model, sizeof model, "%s/big-k.gguf", dir);
    ql_test_tensor_edit big[256];
    for (int i = 0; i < 256; i++) big[i] = (ql_test_tensor_edit){"blk.1.attn_k.weight", i, 65504};
    REQUIRE(ql_test_gguf_edit(llama, model, NULL, 0, big, 256));
    const char *const where[] = {"big-k.gguf", "chunk 1", "token position", "layer 1"};
    snprintf(args, sizeof args, "perplexity -m %s -f %s -c 64 --chunks 1", model, wiki());
    /* the layers before it were finite: the message does not blame them */
    expect_stopped_naming_not(t, args, where, 4, "layer 0");
}

/*
 * A Gated DeltaNet layer that overflows: layer 1's gated-norm weights at 65504 and two rows of
 * its output gate z pushed to +-65504 make the input of ssm_out exceed f16's range, so the
 * product (its activations rounded to f16, as ggml does) is no longer finite. The error names
 * the layer and its kind; the layers before it were finite.
 */
QL_TEST(nonfinite_deltanet_layer_is_named) {
    const char *qwen35 = ql_test_synth_model("qwen35");
    if (!exists(qwen35)) SKIP("synthetic models not built (make synth)");
    const char *dir = ql_test_tmpdir(t);
    char model[1100], args[4096];
    snprintf(model, sizeof model, "%s/big-gate.gguf", dir);
    ql_test_tensor_edit e[128 + 512];
    int n = 0;
    for (int i = 0; i < 128; i++) e[n++] = (ql_test_tensor_edit){"blk.1.ssm_norm.weight", i, 65504};
    for (int i = 0; i < 512; i++)
        e[n++] = (ql_test_tensor_edit){"blk.1.attn_gate.weight", i, i < 256 ? 65504 : -65504};
    REQUIRE(ql_test_gguf_edit(qwen35, model, NULL, 0, e, n));
    const char *const where[] = {"big-gate.gguf", "chunk 1", "token position",
                                 "layer 1 (gated deltanet"};
    snprintf(args, sizeof args, "perplexity -m %s -f %s -c 64 --chunks 2 -ctk q4_0 -ctv q4_0",
             model, wiki());
    expect_stopped_naming_not(t, args, where, 4, "layer 0");
}

/* A NaN in an MoE router: no expert ranking of NaN, and the layer is named (not a crash). */
QL_TEST(nonfinite_moe_router_is_named) {
    const char *moe = ql_test_synth_model("qwen35moe");
    if (!exists(moe)) SKIP("synthetic models not built (make synth)");
    const char *dir = ql_test_tmpdir(t);
    char model[1100], args[4096];
    snprintf(model, sizeof model, "%s/nan-router.gguf", dir);
    const ql_test_tensor_edit nan_router = {"blk.2.ffn_gate_inp.weight", 5, NAN};
    REQUIRE(ql_test_gguf_edit(moe, model, NULL, 0, &nan_router, 1));
    const char *const where[] = {"chunk 1", "token position 0", "NaN", "layer 2 (attention, moe"};
    snprintf(args, sizeof args, "perplexity -m %s -f %s -c 64 --chunks 1", model, wiki());
    expect_stopped(t, args, where, 4);
}

/* A NaN only in the output matrix (tied to the embeddings) shows in the logits alone. */
QL_TEST(nonfinite_logits_are_traced_to_the_output_head) {
    const char *llama = ql_test_synth_model("llama");
    if (!exists(llama)) SKIP("synthetic models not built (make synth)");
    const char *dir = ql_test_tmpdir(t);
    char model[1100], args[4096];
    snprintf(model, sizeof model, "%s/nan-logit.gguf", dir);
    /* token 50000 does not occur in the first chunks of the text: only its logit is NaN */
    const ql_test_tensor_edit nan_row = {"token_embd.weight", 50000ll * 256 + 3, INFINITY};
    REQUIRE(ql_test_gguf_edit(llama, model, NULL, 0, &nan_row, 1));
    const char *const where[] = {"chunk 1", "token position 32", "logits"};
    snprintf(args, sizeof args, "perplexity -m %s -f %s -c 64 --chunks 1", model, wiki());
    expect_stopped(t, args, where, 3);
}

/* Norm weights are read at load time: a NaN there is refused before any work. */
QL_TEST(nonfinite_norm_weights_are_refused_at_load) {
    const char *gemma = ql_test_synth_model("gemma3");
    if (!exists(gemma)) SKIP("synthetic models not built (make synth)");
    const char *dir = ql_test_tmpdir(t);
    char model[1100], args[4096];
    snprintf(model, sizeof model, "%s/nan-norm.gguf", dir);
    const ql_test_tensor_edit nan_norm = {"output_norm.weight", 17, NAN};
    REQUIRE(ql_test_gguf_edit(gemma, model, NULL, 0, &nan_norm, 1));
    const char *const where[] = {"nan-norm.gguf", "output_norm.weight", "NaN"};
    snprintf(args, sizeof args, "perplexity -m %s -f %s -c 64 --chunks 1", model, wiki());
    expect_stopped(t, args, where, 3);
    snprintf(model, sizeof model, "%s/inf-norm.gguf", dir);
    const ql_test_tensor_edit inf_norm = {"blk.3.post_ffw_norm.weight", 0, -INFINITY};
    REQUIRE(ql_test_gguf_edit(gemma, model, NULL, 0, &inf_norm, 1));
    const char *const where2[] = {"inf-norm.gguf", "blk.3.post_ffw_norm.weight", "-inf"};
    snprintf(args, sizeof args, "perplexity -m %s -f %s -c 64 --chunks 1", model, wiki());
    expect_stopped(t, args, where2, 3);
}

static uint64_t rd64(const unsigned char *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static void wr32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

/*
 * A reference file is data: one whose stored hidden state is NaN - with
 * every checksum right, as a crafted file would have them - gives base
 * logits that are not numbers. Scoring against it stops, naming the chunk
 * and position, instead of printing KLD nan and "Same top p" as a result.
 */
QL_TEST(nonfinite_reference_hidden_state_stops_scoring) {
    const char *llama = ql_test_synth_model("llama");
    if (!exists(llama)) SKIP("synthetic models not built (make synth)");
    const char *dir = ql_test_tmpdir(t);
    char ref[1100], args[4096];
    snprintf(ref, sizeof ref, "%s/ref.qlref", dir);
    snprintf(args, sizeof args, "perplexity -m %s -f %s -c 64 --chunks 2 --kl-divergence-base %s",
             llama, wiki(), ref);
    REQUIRE(ql_test_run_qlens(args, NULL, NULL) == 0);
    size_t size;
    unsigned char *b = ql_test_read_file(ref, &size);
    REQUIRE(b && size > QL_REF_HEADER_SIZE && memcmp(b, QL_REF_MAGIC, 8) == 0);
    /* chunk 2 (index 1), scored row 5, element 9 of its hidden state (docs/reference-format.md) */
    const uint64_t hidden = rd64(b + 112), chunk_bytes = rd64(b + 120), table = rd64(b + 128);
    const float nan = NAN;
    const uint64_t at = hidden + chunk_bytes + (5 * 256 + 9) * 4;
    REQUIRE(at + 4 <= size && table + 8 <= size);
    memcpy(b + at, &nan, 4);
    wr32(b + table + 4, ql_crc32(0, b + hidden + chunk_bytes, (size_t)chunk_bytes));
    wr32(b + 144, ql_crc32(0, b + table, 8));
    wr32(b + QL_REF_HEADER_SIZE - 4, ql_crc32(0, b, QL_REF_HEADER_SIZE - 4));
    REQUIRE(ql_test_write_file(ref, b, size));
    free(b);
    /* 64-token chunks score positions 32..62: row 5 is position 37 */
    const char *const where[] = {"chunk 2", "token position 37", "NaN", "reference"};
    snprintf(args, sizeof args, "perplexity -m %s --kl-divergence-base %s --kl-divergence", llama,
             ref);
    expect_stopped(t, args, where, 4);
}
