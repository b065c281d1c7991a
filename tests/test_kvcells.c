/*
 * test_kvcells.c - the sliding-window KV cache's cells follow llama.cpp's
 * placement: for two contexts and micro-batch sizes that wrap the ring, the
 * state before every micro-batch equals the one llama.cpp printed
 * (tests/data/kvcells-llama.txt).
 */
#include <stdlib.h>
#include <string.h>

#include "model/kvcells.h"
#include "test.h"

static bool same_state(ql_test_ctx *t, const ql_kv_cells *c, char *line, int n_ctx, int step) {
    char *save = NULL, *tok = strtok_r(line, " ", &save);
    if (!tok || strcmp(tok, "head") != 0) return false;
    tok = strtok_r(NULL, " ", &save);
    CHECK_MSG(tok && atoll(tok) == c->head, "c=%d step %d: head %lld, llama.cpp %s", n_ctx, step,
              (long long)c->head, tok ? tok : "?");
    int64_t i = 0;
    for (tok = strtok_r(NULL, " ", &save); tok && i < c->size;
         tok = strtok_r(NULL, " ", &save), i++) {
        const int32_t want = strcmp(tok, ".") == 0 ? -1 : atoi(tok);
        if (c->pos[i] != want) {
            CHECK_MSG(0, "c=%d step %d: cell %lld holds %d, llama.cpp's %d", n_ctx, step,
                      (long long)i, c->pos[i], want);
            return false;
        }
    }
    CHECK_MSG(i == c->size && !tok, "c=%d step %d: %lld cells listed, the cache has %lld", n_ctx,
              step, (long long)i, (long long)c->size);
    return true;
}

QL_TEST(kvcells_follow_llama_cpp_placement) {
    char *text = (char *)ql_test_read_file("tests/data/kvcells-llama.txt", NULL);
    REQUIRE(text != NULL);
    char *save = NULL;
    int cases = 0, steps = 0;
    ql_kv_cells c = {0};
    int n_ctx = 0, ub = 0, p0 = 0, step = 0;
    int32_t cells[4096];
    ql_error err;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        int swa;
        if (line[0] == '#') continue;
        if (sscanf(line, "case %d %d %d", &n_ctx, &ub, &swa) == 3) {
            if (c.pos) ql_kv_cells_free(&c);
            REQUIRE(ql_kv_cells_init(&c, ql_kv_cells_size_swa(n_ctx, swa, ub), swa, &err) == QL_OK);
            p0 = step = 0;
            cases++;
            continue;
        }
        REQUIRE_MSG(c.pos && p0 < n_ctx, "a state past the end of case c=%d", n_ctx);
        if (!same_state(t, &c, line, n_ctx, step)) break;
        const int n = n_ctx - p0 < ub ? n_ctx - p0 : ub;
        REQUIRE(ql_kv_cells_place(&c, p0, n, cells));
        for (int i = 1; i < n; i++) CHECK(cells[i] != cells[i - 1]);
        p0 += n;
        step++;
        steps++;
    }
    if (c.pos) ql_kv_cells_free(&c);
    CHECK_EQ_INT(cases, 2);
    CHECK_EQ_INT(steps, 6 + 11);
    free(text);
}

/* llama.cpp's sizes: the context padded to 256; the window plus a micro-batch, padded */
QL_TEST(kvcells_sizes) {
    CHECK_EQ_INT(ql_kv_cells_size_full(512), 512);
    CHECK_EQ_INT(ql_kv_cells_size_full(514), 768);
    CHECK_EQ_INT(ql_kv_cells_size_swa(2048, 512, 512), 1024);
    CHECK_EQ_INT(ql_kv_cells_size_swa(1300, 512, 128), 768);
    CHECK_EQ_INT(ql_kv_cells_size_swa(600, 512, 512), 768); /* capped by the padded context */
    CHECK_EQ_INT(ql_kv_cells_size_swa(128, 32, 128), 256);
}
