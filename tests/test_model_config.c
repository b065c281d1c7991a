/*
 * test_model_config.c - integer keys outside the tokenizer's ids are not
 * narrowed into them.
 */
#include <stdlib.h>

#include "gguf_bytes.h"
#include "gguf/gguf.h"
#include "model/model.h"
#include "test.h"

/* A vocabulary-only GGUF: SentencePiece, three tokens, BOS id as given (a u64 key). */
static void vocab_with_bos(tb_buf *b, uint64_t bos) {
    tb_header(b, 3, 0, 3);
    tb_kv_str(b, "tokenizer.ggml.model", "llama");
    tb_str(b, "tokenizer.ggml.tokens");
    tb_u32(b, 9); /* array */
    tb_u32(b, 8); /* of strings */
    tb_u64(b, 3);
    tb_str(b, "<unk>");
    tb_str(b, "<s>");
    tb_str(b, "</s>");
    tb_str(b, "tokenizer.ggml.bos_token_id");
    tb_u32(b, 10); /* u64 */
    tb_u64(b, bos);
    tb_pad(b, 32);
}

QL_TEST(model_bos_id_beyond_int32_is_not_narrowed) {
    const struct {
        uint64_t stored;
        int32_t want;
    } cases[] = {{2, 2}, {(1ull << 32) + 2, 1}, {3, 1}, {UINT64_MAX, 1}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        tb_buf b = {0};
        vocab_with_bos(&b, cases[i].stored);
        gguf_file *f;
        ql_error err;
        REQUIRE_MSG(gguf_open_memory(b.p, b.len, "vocab.gguf", &f, &err) == QL_OK, "%s", err.msg);
        bool add_bos = false;
        int32_t bos = -7;
        ql_model_bos(f, &add_bos, &bos);
        /* an id outside the vocabulary keeps SentencePiece's default, as the tokenizer does */
        CHECK_MSG(add_bos && bos == cases[i].want, "stored %llu: add_bos %d, id %d, expected %d",
                  (unsigned long long)cases[i].stored, add_bos, bos, cases[i].want);
        gguf_close(f);
        tb_free(&b);
    }
}
