/*
 * test_cli_info.c - `qlens info`, run as a program.
 *
 * Expected facts about the synthetic models are computed here from the shapes
 * documented in ../shared/golden/README.md and synth_gguf.py (n_embd 256,
 * 4 heads of 64, 2 KV heads, n_ff 512, 4 layers or 6 for gemma3, F16
 * matrices and F32 norms and biases, tied output), not read back from the
 * files. Broken files are assembled by hand (gguf_bytes.c); each must give
 * exactly one "qlens: error: " line naming the file and the problem, exit
 * status 1 and no output. Run with QLENS_BIN=build/san/qlens for the
 * sanitizers.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "gguf/gguf.h"
#include "gguf_bytes.h"
#include "json_check.h"
#include "test.h"

/* -------------------------------------------------------------- helpers */

/* The rest of the line that starts with label, trimmed; "" when there is none. */
static const char *field(const char *out, const char *label) {
    static char buf[4][512];
    static int next;
    char *b = buf[next++ % 4];
    b[0] = '\0';
    size_t n = strlen(label);
    for (const char *line = out; line && *line;
         line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        if (strncmp(line, label, n) != 0) continue;
        const char *v = line + n;
        while (*v == ' ') v++;
        size_t len = strcspn(v, "\n");
        if (len >= sizeof buf[0]) len = sizeof buf[0] - 1;
        memcpy(b, v, len);
        b[len] = '\0';
        return b;
    }
    return b;
}

static int count_lines(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

typedef struct {
    const char *arch;
    int n_layer;
    bool biases, qk_norm, post_norms;
    uint64_t n_vocab;
    const char *tok_model, *tok_pre;
} synth_spec;

/* From synth_gguf.py's ARCHS table and the vocabularies the Makefile pairs them with. */
static const synth_spec synth_specs[] = {
    {"llama", 4, false, false, false, 50257, "gpt2", "gpt-2"},
    {"qwen2", 4, true, false, false, 50257, "gpt2", "gpt-2"},
    {"qwen3", 4, false, true, false, 50257, "gpt2", "gpt-2"},
    {"gemma3", 6, false, true, true, 32000, "llama", "default"},
};

enum { N_EMBD = 256, N_HEAD = 4, N_HEAD_KV = 2, HEAD_DIM = 64, N_FF = 512 };

typedef struct {
    uint64_t f16_tensors, f16_params, f32_tensors, f32_params;
    uint64_t tensors, params, bytes;
} synth_facts;

static synth_facts expected_facts(const synth_spec *s) {
    synth_facts e = {0};
    const uint64_t q = N_HEAD * HEAD_DIM, kv = N_HEAD_KV * HEAD_DIM, L = (uint64_t)s->n_layer;
    e.f16_tensors = 1 + 7 * L; /* token_embd + q k v o gate up down */
    e.f16_params = N_EMBD * s->n_vocab +
                   L * (N_EMBD * q + 2 * N_EMBD * kv + q * N_EMBD + 3 * (uint64_t)N_EMBD * N_FF);
    e.f32_tensors =
        1 + L * (2 + (s->biases ? 3 : 0) + (s->qk_norm ? 2 : 0) + (s->post_norms ? 2 : 0));
    e.f32_params =
        N_EMBD + L * (2 * N_EMBD + (s->biases ? q + 2 * kv : 0) + (s->qk_norm ? 2 * HEAD_DIM : 0) +
                      (s->post_norms ? 2 * N_EMBD : 0));
    e.tensors = e.f16_tensors + e.f32_tensors;
    e.params = e.f16_params + e.f32_params;
    e.bytes = 2 * e.f16_params + 4 * e.f32_params;
    return e;
}

/* "  f16   <tensors> <params> <bytes>" in the types table. */
static bool type_row(const char *out, const char *type, uint64_t *tensors, uint64_t *params,
                     uint64_t *bytes) {
    char label[32];
    snprintf(label, sizeof label, "  %s ", type);
    const char *v = field(out, label);
    unsigned long long a, b, c;
    if (sscanf(v, "%llu %llu %llu", &a, &b, &c) != 3) return false;
    *tensors = a, *params = b, *bytes = c;
    return true;
}

static bool synth_present(const char *arch) {
    struct stat sb;
    return stat(ql_test_synth_model(arch), &sb) == 0;
}

/* ----------------------------------------------------- synthetic models */

QL_TEST(cli_info_synth_models_text) {
    for (size_t i = 0; i < sizeof synth_specs / sizeof synth_specs[0]; i++) {
        const synth_spec *s = &synth_specs[i];
        if (!synth_present(s->arch))
            SKIP("%s is missing: run 'make synth'", ql_test_synth_model(s->arch));
        synth_facts e = expected_facts(s);
        char args[512], *out, *err;
        snprintf(args, sizeof args, "info '%s'", ql_test_synth_model(s->arch));
        int rc = ql_test_run_qlens(args, &out, &err);
        CHECK_MSG(rc == 0 && err[0] == '\0', "%s: exit %d, stderr %s", s->arch, rc, err);
        char num[32];
#define EXPECT(label, want)                                                                        \
    CHECK_MSG(strcmp(field(out, label), want) == 0, "%s: '%s' is '%s', expected '%s'", s->arch,    \
              label, field(out, label), want)
        EXPECT("architecture:", s->arch);
        snprintf(num, sizeof num, "synth-%s", s->arch);
        EXPECT("name:", num);
        EXPECT("gguf version:", "3");
        EXPECT("alignment:", "32");
        EXPECT("  context_length:", "4096");
        EXPECT("  embedding_length:", "256");
        snprintf(num, sizeof num, "%d", s->n_layer);
        EXPECT("  block_count:", num);
        EXPECT("  feed_forward_length:", "512");
        EXPECT("  attention.head_count:", "4");
        EXPECT("  attention.head_count_kv:", "2");
        EXPECT("  attention.key_length:", "64");
        EXPECT("  attention.value_length:", "64");
        EXPECT("  attention.layer_norm_rms_epsilon:", "1e-06");
        EXPECT("  rope.freq_base:", strcmp(s->arch, "gemma3") == 0 ? "1000000" : "10000");
        if (strcmp(s->arch, "gemma3") == 0) {
            EXPECT("  attention.sliding_window:", "32");
            EXPECT("  rope.freq_base_swa:", "10000");
        } else {
            CHECK(!strstr(out, "sliding_window"));
        }
        EXPECT("tokenizer:", s->tok_model);
        EXPECT("pre-tokenizer:", s->tok_pre);
        snprintf(num, sizeof num, "%llu tokens", (unsigned long long)s->n_vocab);
        EXPECT("vocabulary:", num);
        EXPECT("file type:", "(not set)");
        snprintf(num, sizeof num, "%llu", (unsigned long long)e.tensors);
        EXPECT("tensors:", num);
        snprintf(num, sizeof num, "%llu", (unsigned long long)e.params);
        EXPECT("parameters:", num);
        CHECK_MSG(strtoull(field(out, "tensor bytes:"), NULL, 10) == e.bytes,
                  "%s: bytes %s, expected %llu", s->arch, field(out, "tensor bytes:"),
                  (unsigned long long)e.bytes);
        CHECK_NEAR(strtod(field(out, "bits per weight:"), NULL),
                   8.0 * (double)e.bytes / (double)e.params, 5e-5);
#undef EXPECT
        uint64_t n, p, b;
        CHECK_MSG(type_row(out, "f16", &n, &p, &b) && n == e.f16_tensors && p == e.f16_params &&
                      b == 2 * e.f16_params,
                  "%s: f16 row '%s'", s->arch, field(out, "  f16 "));
        CHECK_MSG(type_row(out, "f32", &n, &p, &b) && n == e.f32_tensors && p == e.f32_params &&
                      b == 4 * e.f32_params,
                  "%s: f32 row '%s'", s->arch, field(out, "  f32 "));
        CHECK(!strstr(out, "token_embd")); /* no tensor list without --tensors */
        free(out);
        free(err);
    }
}

QL_TEST(cli_info_synth_models_json) {
    for (size_t i = 0; i < sizeof synth_specs / sizeof synth_specs[0]; i++) {
        const synth_spec *s = &synth_specs[i];
        if (!synth_present(s->arch))
            SKIP("%s is missing: run 'make synth'", ql_test_synth_model(s->arch));
        synth_facts e = expected_facts(s);
        char args[512], *out, *err, why[160];
        snprintf(args, sizeof args, "info --json '%s'", ql_test_synth_model(s->arch));
        int rc = ql_test_run_qlens(args, &out, &err);
        CHECK_MSG(rc == 0 && err[0] == '\0', "%s: exit %d, stderr %s", s->arch, rc, err);
        jc_node *j = jc_parse(out, strlen(out), why, sizeof why);
        CHECK_MSG(j != NULL, "%s: invalid JSON: %s", s->arch, why);
        if (!j) {
            free(out);
            free(err);
            continue;
        }
        CHECK(strcmp(jc_str(j, "architecture") ? jc_str(j, "architecture") : "", s->arch) == 0);
        CHECK(jc_num(j, "gguf_version") == 3 && jc_num(j, "alignment") == 32);
        const jc_node *hp = jc_get(j, "hparams");
        CHECK(jc_num(hp, "embedding_length") == N_EMBD);
        CHECK(jc_num(hp, "block_count") == s->n_layer);
        CHECK(jc_num(hp, "feed_forward_length") == N_FF);
        CHECK(jc_num(hp, "attention.head_count") == N_HEAD);
        CHECK(jc_num(hp, "attention.head_count_kv") == N_HEAD_KV);
        CHECK(jc_num(hp, "attention.key_length") == HEAD_DIM);
        CHECK((float)jc_num(hp, "attention.layer_norm_rms_epsilon") == 1e-6f);
        if (strcmp(s->arch, "gemma3") == 0)
            CHECK(jc_num(hp, "attention.sliding_window") == 32 &&
                  jc_num(hp, "rope.freq_base_swa") == 10000);
        const jc_node *tok = jc_get(j, "tokenizer");
        CHECK(jc_num(tok, "vocab_size") == (double)s->n_vocab);
        CHECK(jc_str(tok, "model") && strcmp(jc_str(tok, "model"), s->tok_model) == 0);
        CHECK(jc_get(j, "file_type") && jc_get(j, "file_type")->kind == JC_NULL);
        CHECK(jc_num(j, "n_tensors") == (double)e.tensors);
        CHECK(jc_num(j, "n_params") == (double)e.params);
        CHECK(jc_num(j, "tensor_bytes") == (double)e.bytes);
        CHECK_NEAR(jc_num(j, "bits_per_weight"), 8.0 * (double)e.bytes / (double)e.params, 1e-12);
        const jc_node *types = jc_get(j, "types");
        CHECK(types && types->n == 2);
        CHECK(jc_num(jc_at(types, 1), "params") == (double)e.f16_params &&
              strcmp(jc_str(jc_at(types, 1), "type"), "f16") == 0);
        /* the tensor list: every shape consistent with its type, offsets in llama.cpp's layout */
        const jc_node *tensors = jc_get(j, "tensors");
        REQUIRE(tensors && tensors->n == e.tensors);
        double expect_offset = 0, sum_bytes = 0;
        for (size_t k = 0; k < tensors->n; k++) {
            const jc_node *x = jc_at(tensors, k);
            const jc_node *dims = jc_get(x, "dims");
            double n_el = 1;
            for (size_t d = 0; dims && d < dims->n; d++) n_el *= jc_at(dims, d)->number;
            bool f16 = strcmp(jc_str(x, "type"), "f16") == 0;
            CHECK(jc_num(x, "params") == n_el);
            CHECK(jc_num(x, "bytes") == n_el * (f16 ? 2 : 4));
            CHECK(dims && dims->n == (f16 ? 2u : 1u)); /* matrices F16, vectors F32 */
            CHECK_MSG(jc_num(x, "offset") == expect_offset, "%s: tensor %zu offset %g, expected %g",
                      s->arch, k, jc_num(x, "offset"), expect_offset);
            expect_offset = ceil((jc_num(x, "offset") + jc_num(x, "bytes")) / 32) * 32;
            sum_bytes += jc_num(x, "bytes");
        }
        CHECK(sum_bytes == (double)e.bytes);
        const jc_node *first = jc_at(tensors, 0);
        CHECK(strcmp(jc_str(first, "name"), "token_embd.weight") == 0);
        CHECK(jc_at(jc_get(first, "dims"), 0)->number == N_EMBD &&
              jc_at(jc_get(first, "dims"), 1)->number == (double)s->n_vocab);
        jc_free(j);
        free(out);
        free(err);
    }
}

QL_TEST(cli_info_tensor_list) {
    if (!synth_present("qwen2")) SKIP("run 'make synth'");
    char args[512], *out, *err;
    snprintf(args, sizeof args, "info --tensors '%s'", ql_test_synth_model("qwen2"));
    int rc = ql_test_run_qlens(args, &out, &err);
    CHECK_MSG(rc == 0, "exit %d: %s", rc, err);
    synth_facts e = expected_facts(&synth_specs[1]);
    /* one row per tensor: "  #  name  type  dims  bytes  offset" */
    uint64_t rows = 0;
    for (const char *line = out; line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        long long idx;
        char name[128], type[16];
        if (sscanf(line, "%lld %127s %15s", &idx, name, type) == 3 && idx == (long long)rows)
            rows++;
    }
    CHECK_MSG(rows == e.tensors, "%llu rows, expected %llu", (unsigned long long)rows,
              (unsigned long long)e.tensors);
    const char *row = strstr(out, " blk.1.attn_k.bias ");
    REQUIRE(row);
    char type[16];
    long long ne0, bytes, offset;
    CHECK(sscanf(row, " blk.1.attn_k.bias %15s %lld %lld %lld", type, &ne0, &bytes, &offset) == 4 &&
          strcmp(type, "f32") == 0 && ne0 == 128 && bytes == 512 && offset % 32 == 0);
    row = strstr(out, " token_embd.weight ");
    long long ne1;
    CHECK(row &&
          sscanf(row, " token_embd.weight %15s %lld x %lld %lld %lld", type, &ne0, &ne1, &bytes,
                 &offset) == 5 &&
          strcmp(type, "f16") == 0 && ne0 == 256 && ne1 == 50257 && bytes == 2 * 256 * 50257 &&
          offset == 0);
    free(out);
    free(err);
}

QL_TEST(cli_info_tokenizer_file) {
    char args[512], *out, *err;
    snprintf(args, sizeof args, "info '%s'",
             ql_test_shared_path("golden/tokenizer/ggml-vocab-deepseek-coder.gguf"));
    int rc = ql_test_run_qlens(args, &out, &err);
    CHECK_MSG(rc == 0, "exit %d: %s", rc, err);
    CHECK(strcmp(field(out, "vocabulary:"), "32256 tokens") == 0);
    CHECK(strcmp(field(out, "pre-tokenizer:"), "deepseek-coder") == 0);
    CHECK(strcmp(field(out, "  rope.scaling.type:"), "linear") == 0);
    CHECK(strcmp(field(out, "tensors:"), "0") == 0);
    CHECK(strcmp(field(out, "bits per weight:"), "(no parameters)") == 0);
    CHECK_MSG(strcmp(field(out, "file type:"), "1 (MOSTLY_F16)") == 0, "'%s'",
              field(out, "file type:"));
    free(out);
    free(err);
}

/* ------------------------------------------------- a file of our writer */

static const char *write_quantized_model(ql_test_ctx *t, const char *dir) {
    static char path[1024];
    snprintf(path, sizeof path, "%s/quantized.gguf", dir);
    static uint8_t q4k[4 * 144], q6k[2 * 210];
    static float norm[256];
    for (size_t i = 0; i < sizeof q4k; i++) q4k[i] = (uint8_t)i;
    for (size_t i = 0; i < sizeof q6k; i++) q6k[i] = (uint8_t)(i * 3);
    gguf_writer *w;
    ql_error err;
    if (gguf_writer_create(&w, &err) != QL_OK) return NULL;
    const uint32_t ff[2] = {512, 1024};
    const char *tokens[3] = {"<s>", "a", "b"};
    const int64_t ne_k[2] = {256, 4}, ne_6[2] = {256, 2}, ne_n[1] = {256};
    bool ok =
        gguf_writer_set_str(w, "general.architecture", "llama", &err) == QL_OK &&
        gguf_writer_set_str(w, "general.name", "written", &err) == QL_OK &&
        gguf_writer_set_u32(w, "llama.context_length", 2048, &err) == QL_OK &&
        gguf_writer_set_u32(w, "llama.embedding_length", 256, &err) == QL_OK &&
        gguf_writer_set_u32(w, "llama.block_count", 2, &err) == QL_OK &&
        gguf_writer_set_arr(w, "llama.feed_forward_length", GGUF_TYPE_UINT32, ff, 2, &err) ==
            QL_OK &&
        gguf_writer_set_f32(w, "llama.rope.freq_base", 500000.0f, &err) == QL_OK &&
        gguf_writer_set_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f, &err) == QL_OK &&
        gguf_writer_set_f32(w, "llama.final_logit_softcapping", 30.0f, &err) == QL_OK &&
        gguf_writer_set_str(w, "tokenizer.ggml.model", "llama", &err) == QL_OK &&
        gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", tokens, 3, &err) == QL_OK &&
        gguf_writer_set_u32(w, "general.file_type", 15, &err) == QL_OK &&
        gguf_writer_add_tensor(w, "blk.0.ffn_up.weight", QL_TYPE_Q4_K, 2, ne_k, q4k, &err) ==
            QL_OK &&
        gguf_writer_add_tensor(w, "blk.0.ffn_down.weight", QL_TYPE_Q6_K, 2, ne_6, q6k, &err) ==
            QL_OK &&
        gguf_writer_add_tensor(w, "output_norm.weight", QL_TYPE_F32, 1, ne_n, norm, &err) ==
            QL_OK &&
        gguf_writer_write_file(w, path, &err) == QL_OK;
    CHECK_MSG(ok, "%s", err.msg);
    gguf_writer_free(w);
    return ok ? path : NULL;
}

QL_TEST(cli_info_file_written_by_our_writer) {
    const char *path = write_quantized_model(t, ql_test_tmpdir(t));
    REQUIRE(path);
    char args[1200], *out, *err;
    snprintf(args, sizeof args, "info '%s'", path);
    int rc = ql_test_run_qlens(args, &out, &err);
    CHECK_MSG(rc == 0, "exit %d: %s", rc, err);
    CHECK(strcmp(field(out, "file type:"), "15 (MOSTLY_Q4_K_M)") == 0);
    CHECK(strcmp(field(out, "  feed_forward_length:"), "[512, 1024]") == 0);
    CHECK(strcmp(field(out, "  rope.freq_base:"), "500000") == 0);
    CHECK(strcmp(field(out, "  attention.layer_norm_rms_epsilon:"), "1e-05") == 0);
    CHECK(strcmp(field(out, "  final_logit_softcapping:"), "30") == 0);
    CHECK(strcmp(field(out, "vocabulary:"), "3 tokens") == 0);
    CHECK(strcmp(field(out, "parameters:"), "1792") == 0); /* 1024 + 512 + 256 */
    /* q4_K: 144 bytes per 256 weights, q6_K: 210, f32: 4 per weight */
    uint64_t n, p, b;
    CHECK(type_row(out, "q4_K", &n, &p, &b) && n == 1 && p == 1024 && b == 4 * 144);
    CHECK(type_row(out, "q6_K", &n, &p, &b) && n == 1 && p == 512 && b == 2 * 210);
    CHECK(type_row(out, "f32", &n, &p, &b) && n == 1 && p == 256 && b == 1024);
    CHECK_NEAR(strtod(field(out, "bits per weight:"), NULL), 8.0 * (576 + 420 + 1024) / 1792.0,
               5e-5);
    free(out);
    free(err);

    snprintf(args, sizeof args, "info --json '%s'", path);
    rc = ql_test_run_qlens(args, &out, &err);
    CHECK_MSG(rc == 0, "exit %d: %s", rc, err);
    char why[160];
    jc_node *j = jc_parse(out, strlen(out), why, sizeof why);
    REQUIRE_MSG(j, "invalid JSON: %s", why);
    const jc_node *ff = jc_get(jc_get(j, "hparams"), "feed_forward_length");
    CHECK(ff && ff->kind == JC_ARRAY && ff->n == 2 && jc_at(ff, 1)->number == 1024);
    CHECK((float)jc_num(jc_get(j, "hparams"), "attention.layer_norm_rms_epsilon") == 1e-5f);
    CHECK(jc_num(jc_get(j, "file_type"), "id") == 15 &&
          strcmp(jc_str(jc_get(j, "file_type"), "name"), "MOSTLY_Q4_K_M") == 0);
    const jc_node *tensors = jc_get(j, "tensors");
    CHECK(tensors && tensors->n == 3 && jc_num(jc_at(tensors, 1), "offset") == 576 &&
          jc_num(jc_at(tensors, 2), "offset") == 1024);
    jc_free(j);
    free(out);
    free(err);
}

/* Names and strings holding quotes, backslashes, control bytes and invalid UTF-8. */
QL_TEST(cli_info_escapes_hostile_names) {
    const char *dir = ql_test_tmpdir(t);
    char path[1024];
    snprintf(path, sizeof path, "%s/hostile.gguf", dir);
    const char *weird = "we\"ird\\name\n\x01\x1b[2J\xff";
    gguf_writer *w;
    ql_error e;
    REQUIRE(gguf_writer_create(&w, &e) == QL_OK);
    const int64_t ne[1] = {4};
    float data[4] = {0};
    bool ok = gguf_writer_set_str(w, "general.architecture", "llama", &e) == QL_OK &&
              gguf_writer_set_str(w, "general.name", "na\tme\xc3\xa9", &e) == QL_OK &&
              gguf_writer_set_str(w, "llama.weird\nkey", "v\x1b[31m", &e) == QL_OK &&
              gguf_writer_add_tensor(w, weird, QL_TYPE_F32, 1, ne, data, &e) == QL_OK &&
              gguf_writer_write_file(w, path, &e) == QL_OK;
    gguf_writer_free(w);
    REQUIRE_MSG(ok, "%s", e.msg);

    char args[1200], *out, *err;
    snprintf(args, sizeof args, "info --json '%s'", path);
    CHECK(ql_test_run_qlens(args, &out, &err) == 0);
    char why[160];
    jc_node *j = jc_parse(out, strlen(out), why, sizeof why);
    REQUIRE_MSG(j, "invalid JSON (%s): %s", why, out);
    const char *name = jc_str(jc_at(jc_get(j, "tensors"), 0), "name");
    CHECK_MSG(name && strcmp(name, "we\"ird\\name\n\x01\x1b[2J\xef\xbf\xbd") == 0, "name '%s'",
              name ? name : "(none)");
    CHECK(strcmp(jc_str(j, "name"), "na\tme\xc3\xa9") == 0);
    CHECK(jc_str(jc_get(j, "hparams"), "weird\nkey") &&
          strcmp(jc_str(jc_get(j, "hparams"), "weird\nkey"), "v\x1b[31m") == 0);
    jc_free(j);
    free(out);
    free(err);

    snprintf(args, sizeof args, "info --tensors '%s'", path);
    CHECK(ql_test_run_qlens(args, &out, &err) == 0);
    for (const char *c = out; *c; c++)
        CHECK_MSG((unsigned char)*c >= 0x20 || *c == '\n',
                  "raw control byte 0x%02x in the text output", (unsigned char)*c);
    CHECK(strstr(out, "we\"ird\\x5cname\\x0a\\x01\\x1b[2J\\xff"));
    CHECK(strstr(out, "  weird\\x0akey:") && strstr(out, "v\\x1b[31m"));
    CHECK(strcmp(field(out, "name:"), "na\\x09me\xc3\xa9") == 0);
    free(out);
    free(err);
}

/* ---------------------------------------------------------- bad input */

/* Runs `qlens info PATH`: exit 1, no output, one error line naming the file and the problem. */
static void expect_info_error(ql_test_ctx *t, const char *what, const char *path,
                              const char *problem) {
    char args[1200], *out, *err;
    snprintf(args, sizeof args, "info '%s'", path);
    int rc = ql_test_run_qlens(args, &out, &err);
    CHECK_MSG(rc == 1, "%s: exit status %d, expected 1", what, rc);
    CHECK_MSG(out[0] == '\0', "%s: printed '%s' on stdout", what, out);
    CHECK_MSG(strncmp(err, "qlens: error: ", 14) == 0 && count_lines(err) == 1 &&
                  err[strlen(err) - 1] == '\n',
              "%s: stderr is not one error line: '%s'", what, err);
    CHECK_MSG(strstr(err, path), "%s: the message does not name %s: '%s'", what, path, err);
    CHECK_MSG(strstr(err, problem), "%s: the message lacks '%s': '%s'", what, problem, err);
    free(out);
    free(err);
}

static const char *write_variant(ql_test_ctx *t, const char *dir, const char *name, const void *p,
                                 size_t n) {
    static char bufs[2][1024];
    static int next;
    char *path = bufs[next++ % 2];
    snprintf(path, sizeof bufs[0], "%s/%s", dir, name);
    CHECK_MSG(ql_test_write_file(path, p, n), "cannot write %s", path);
    return path;
}

QL_TEST(cli_info_bad_input) {
    const char *dir = ql_test_tmpdir(t);
    char missing[1024];
    snprintf(missing, sizeof missing, "%s/missing.gguf", dir);
    expect_info_error(t, "missing file", missing, "cannot open: No such file");
    expect_info_error(t, "directory", dir, "is a directory");
    expect_info_error(t, "empty file", write_variant(t, dir, "empty.gguf", "", 0), "empty file");
    expect_info_error(t, "device", "/dev/null", "not a regular file");

    tb_model m;
    tb_small_model(&m);
    const struct {
        const char *what;
        size_t cut;
        const char *problem;
    } cuts[] = {
        {"cut inside the header", 10, "truncated"},
        {"cut inside a key-value", m.str_value_at, "truncated"},
        {"cut inside the tensor infos", m.infos_at + 5, "truncated"},
        {"cut inside the data", m.data_at + 40, "past the end"},
        {"cut before the last byte", m.b.len - 1, "past the end"},
    };
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, "cut%zu.gguf", i);
        expect_info_error(t, cuts[i].what, write_variant(t, dir, name, m.b.p, cuts[i].cut),
                          cuts[i].problem);
    }

    const struct {
        const char *what;
        size_t at;
        int bits;
        uint64_t value;
        const char *problem;
    } patches[] = {
        {"2^40 tensors", m.n_tensors_at, 64, UINT64_C(1) << 40, "tensor count 1099511627776"},
        {"absurd string length", m.first_key_at, 64, UINT64_C(1) << 62, "string length"},
        {"tensor past the end", m.offset_at[2], 64, 4096, "past the end"},
        {"overlapping tensors", m.offset_at[1], 64, 0, "overlap"},
        {"unknown type id", m.type_at[0], 32, 1000, "unknown type id 1000"},
        {"wrong magic", 0, 32, 0x46554747u ^ 0x20u, "not a GGUF file"},
        {"unsupported version", 4, 32, 4, "version 4 is not supported"},
        {"version 1", 4, 32, 1, "version 1 is not supported"},
        {"misaligned offset", m.offset_at[2], 64, 136, "not a multiple of the alignment 32"},
        {"dims overflow", m.ne_at[1] + 8, 64, UINT64_C(1) << 60, "element count overflows"},
        {"row not a multiple of the block size", m.ne_at[1], 64, 40,
         "not a multiple of q4_0's block size 32"},
        {"unknown value type", m.kv_type_at, 32, 99, "unknown value type 99"},
    };
    for (size_t i = 0; i < sizeof patches / sizeof patches[0]; i++) {
        tb_buf b = {0};
        tb_raw(&b, m.b.p, m.b.len);
        if (patches[i].bits == 32)
            tb_put_u32_at(&b, patches[i].at, (uint32_t)patches[i].value);
        else
            tb_put_u64_at(&b, patches[i].at, patches[i].value);
        char name[64];
        snprintf(name, sizeof name, "patch%zu.gguf", i);
        expect_info_error(t, patches[i].what, write_variant(t, dir, name, b.p, b.len),
                          patches[i].problem);
        tb_free(&b);
    }
    tb_free(&m.b);

    tb_buf b = {0};
    tb_header(&b, 3, 0, 2);
    tb_kv_u32(&b, "llama.block_count", 1);
    tb_kv_u32(&b, "llama.block_count", 2);
    expect_info_error(t, "duplicate keys", write_variant(t, dir, "dupkey.gguf", b.p, b.len),
                      "duplicate key 'llama.block_count'");
    tb_free(&b);

    const uint64_t ne8[1] = {8};
    tb_header(&b, 3, 2, 0);
    tb_tensor_info(&b, "evil\nname", 1, ne8, 0, 0);
    tb_tensor_info(&b, "evil\nname", 1, ne8, 0, 32);
    tb_pad(&b, 32);
    tb_zeros(&b, 64);
    expect_info_error(t, "duplicate tensor names with a newline",
                      write_variant(t, dir, "duptensor.gguf", b.p, b.len),
                      "duplicate tensor name 'evil\\x0aname'");
    tb_free(&b);
}

QL_TEST(cli_info_usage_errors) {
    char *out, *err;
    CHECK(ql_test_run_qlens("info", &out, &err) == 2);
    CHECK(strncmp(err, "qlens: error: ", 14) == 0 && count_lines(err) == 1);
    free(out), free(err);
    CHECK(ql_test_run_qlens("info a.gguf b.gguf", &out, &err) == 2);
    CHECK(strncmp(err, "qlens: error: ", 14) == 0 && count_lines(err) == 1);
    free(out), free(err);
    CHECK(ql_test_run_qlens("info --bogus a.gguf", &out, &err) == 2);
    CHECK(strstr(err, "unknown option '--bogus'") && count_lines(err) == 1);
    free(out), free(err);
    CHECK(ql_test_run_qlens("info --help", &out, &err) == 0);
    CHECK(strstr(out, "usage: qlens info") && strstr(out, "--tensors") && strstr(out, "--json"));
    free(out), free(err);
}

/* A report that cannot be written is a failure, not a silent success. */
QL_TEST(cli_info_write_error) {
    struct stat sb;
    if (stat("/dev/full", &sb) != 0) SKIP("no /dev/full");
    const char *dir = ql_test_tmpdir(t);
    char err_path[1024], cmd[4096];
    snprintf(err_path, sizeof err_path, "%s/stderr.txt", dir);
    const char *model = ql_test_shared_path("golden/tokenizer/ggml-vocab-gpt-2.gguf");
    for (int json = 0; json < 2; json++) {
        snprintf(cmd, sizeof cmd, "%s info %s '%s' >/dev/full 2>'%s'", ql_test_qlens_bin(),
                 json ? "--json --tensors" : "--tensors", model, err_path);
        int status = system(cmd);
        CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 1, "exit status %d", status);
        char *e = (char *)ql_test_read_file(err_path, NULL);
        CHECK_MSG(e && strncmp(e, "qlens: error: ", 14) == 0 && count_lines(e) == 1, "stderr: %s",
                  e ? e : "(none)");
        free(e);
    }
}
