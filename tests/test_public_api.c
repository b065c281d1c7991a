/*
 * test_public_api.c - include/qlens.h as a user sees it: only the public
 * header, numbers against llama.cpp's golden ones; and the installed
 * library (make install into a temporary prefix) linked into the example
 * program through its pkg-config file.
 */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "qlens.h"
#include "test.h"

QL_TEST(public_api_perplexity_and_kld) {
    qlens_error err;
    qlens_model *m;
    REQUIRE_MSG(qlens_model_open(ql_test_synth_model("llama"), &m, &err) == QLENS_OK, "%s",
                err.msg);
    qlens_model_info info;
    qlens_model_get_info(m, &info);
    CHECK(strcmp(info.arch, "llama") == 0);
    CHECK_EQ_INT(info.n_vocab, 50257);
    CHECK_EQ_INT(info.n_layer, 4);
    /* f16 K and V, 2 KV heads of 64, 4 layers, 1000 positions */
    CHECK_EQ_INT(qlens_kv_cache_bytes(m, "f16", "f16", 1000), 4ull * 1000 * 2 * 2 * 64 * 2);
    CHECK_EQ_INT(qlens_kv_cache_bytes(m, "bogus", "f16", 1000), 0);

    size_t len;
    char path[1024];
    snprintf(path, sizeof path, "%s/data/wikitext-2-raw/wiki.test.raw", ql_test_shared_dir());
    char *text = (char *)ql_test_read_file(path, &len);
    REQUIRE(text);
    int32_t *ids;
    size_t n;
    REQUIRE(qlens_tokenize(m, text, len, 1, &ids, &n, &err) == QLENS_OK);
    free(text);
    qlens_eval_params p;
    qlens_eval_params_default(&p);
    p.n_ctx = 128;
    p.n_chunks = 8;
    char ref[512];
    snprintf(ref, sizeof ref, "%s/api.qlref", ql_test_tmpdir(t));
    qlens_ppl ppl;
    REQUIRE_MSG(qlens_perplexity(m, &p, ids, n, ref, &ppl, &err) == QLENS_OK, "%s", err.msg);
    /* llama.cpp: 192748.6765 (golden/synth/ppl.tsv) */
    CHECK_MSG(fabs(log(ppl.ppl / 192748.6765)) <= 1e-3, "PPL %.4f", ppl.ppl);
    CHECK_EQ_INT(ppl.n_scored, 8 * 63);
    p.cache_type_k = p.cache_type_v = "q8_0";
    p.kv_hadamard = "dense"; /* as the llama.cpp that made the golden data rotated */
    qlens_kld kld;
    REQUIRE_MSG(qlens_kld_against_file(m, &p, ref, &kld, &err) == QLENS_OK, "%s", err.msg);
    /* llama.cpp: 0.000529 +/- 0.000012 (golden/synth/kld.tsv, q8_0/q8_0, rotation auto) */
    CHECK_MSG(fabs(kld.kld - 0.000529) <= 2 * 0.000012 + 5e-7, "KLD %.6f", kld.kld);
    CHECK_NEAR(kld.ppl_base, ppl.ppl, 1e-6 * ppl.ppl);
    p.cache_type_k = "nonsense";
    CHECK(qlens_kld_against_file(m, &p, ref, &kld, &err) == QLENS_ERR_ARG);
    CHECK(strstr(err.msg, "q8_0") != NULL);
    qlens_free(ids);
    qlens_model_close(m);
    CHECK(qlens_model_open("does/not/exist.gguf", &m, &err) == QLENS_ERR_IO);
    CHECK(m == NULL);
}

QL_TEST(public_api_installed_library_links) {
    const char *dir = ql_test_tmpdir(t);
    char cmd[10000];
    /* the plain build, whatever build runs the tests: `make test SANITIZE=1` passes SANITIZE=1
     * down through MAKEFLAGS, and a sanitized library needs the sanitizer runtimes to link */
    snprintf(cmd, sizeof cmd,
             "make -s install SANITIZE= PORTABLE= PREFIX=$(pwd)/%s/prefix >/dev/null 2>&1", dir);
    REQUIRE_MSG(system(cmd) == 0, "make install failed");
    /* flags from the installed .pc file, as pkg-config would give them */
    snprintf(cmd, sizeof cmd,
             "P=%s/prefix; pc=$P/lib/pkgconfig/qlens.pc; "
             "cflags=$(sed -n 's/^Cflags: //p' $pc | sed \"s|\\${includedir}|$P/include|\"); "
             "libs=$(sed -n 's/^Libs: //p' $pc | sed \"s|\\${libdir}|$P/lib|\"); "
             "cc -std=c11 -Wall -Werror examples/perplexity.c $cflags $libs -o %s/example",
             dir, dir);
    REQUIRE_MSG(system(cmd) == 0, "the example does not build against the installed library");
    char model[4096], shared[4096];
    REQUIRE(realpath(ql_test_synth_model("qwen2"), model) &&
            realpath(ql_test_shared_dir(), shared));
    snprintf(cmd, sizeof cmd, "cd %s && ./example %s %s/data/wikitext-2-raw/wiki.test.raw 128 2",
             dir, model, shared);
    FILE *p = popen(cmd, "r");
    REQUIRE(p);
    char buf[512] = {0};
    size_t got = fread(buf, 1, sizeof buf - 1, p);
    buf[got] = '\0';
    CHECK_EQ_INT(pclose(p), 0);
    CHECK_MSG(strstr(buf, "PPL = ") && strstr(buf, "KLD = "), "example output: %s", buf);
}
