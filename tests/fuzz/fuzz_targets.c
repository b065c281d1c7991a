/*
 * fuzz_targets.c - the fuzz targets (see fuzz_targets.h).
 *
 * Inputs whose correct form carries checksums (qlens reference files, sweep
 * journals) would almost never get past the checksum by mutation alone, so
 * those targets read a first byte of options, one of which recomputes every
 * checksum before parsing: the fuzzer then reaches the checks behind them,
 * which are what a deliberately crafted file would attack.
 *
 * The tokenizer targets need real vocabularies; they load the golden
 * vocabulary GGUFs (QLENS_SHARED, else ../shared) once per process and fuzz
 * only the text.
 */
#include "fuzz_targets.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/core/crc32.h"
#include "../../src/core/regex.h"
#include "../../src/eval/kld.h"
#include "../../src/eval/refstore.h"
#include "../../src/gguf/gguf.h"
#include "../../src/lab/journal.h"
#include "../../src/lab/plan_csv.h"
#include "../../src/model/context.h"
#include "../../src/model/model.h"
#include "../../src/quant/quant.h"
#include "../../src/tokenizer/pretok.h"
#include "../../src/tokenizer/tokenizer.h"

/* A broken promise: say which, then crash so that the fuzzer keeps the input. */
#define FUZZ_ASSERT(cond)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz: %s:%d: promise broken: %s\n", __FILE__, __LINE__, #cond);       \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* An error message is one non-empty line (the CLI prints it as it is). */
static void check_error(const ql_error *err) {
    FUZZ_ASSERT(err->code != QL_OK);
    FUZZ_ASSERT(err->msg[0] != '\0');
    FUZZ_ASSERT(strchr(err->msg, '\n') == NULL);
}

static bool inside(const void *p, uint64_t n, const uint8_t *base, size_t size) {
    const uint8_t *q = p;
    return n == 0 || (q >= base && n <= size && (size_t)(q - base) <= size - n);
}

/* ------------------------------------------------------------------ gguf */

static volatile uint64_t sink; /* keeps reads from being optimised away */

static void walk_value(const gguf_value *v, const uint8_t *base, size_t size, int depth) {
    FUZZ_ASSERT(depth <= GGUF_MAX_ARRAY_DEPTH + 1);
    if (v->type == GGUF_TYPE_STRING) {
        FUZZ_ASSERT(inside(v->str.ptr, v->str.len, base, size));
        if (v->str.len) sink += (uint8_t)v->str.ptr[v->str.len - 1];
    } else if (v->type == GGUF_TYPE_ARRAY) {
        const uint64_t n = v->arr.n < 64 ? v->arr.n : 64;
        for (uint64_t i = 0; i < n; i++) {
            gguf_value e;
            FUZZ_ASSERT(gguf_arr_get(v, i, &e));
            int64_t iv;
            double dv;
            if (gguf_arr_get_i64(v, i, &iv)) sink += (uint64_t)iv;
            if (gguf_arr_get_f64(v, i, &dv)) sink += dv == dv;
            walk_value(&e, base, size, depth + 1);
        }
        gguf_value past;
        FUZZ_ASSERT(!gguf_arr_get(v, v->arr.n, &past));
    } else {
        uint64_t u;
        int64_t i;
        double d;
        if (gguf_value_as_u64(v, &u)) sink += u;
        if (gguf_value_as_i64(v, &i)) sink += (uint64_t)i;
        if (gguf_value_as_f64(v, &d)) sink += d == d;
    }
}

static bool on_logits(void *user, const ql_logits_block *b) {
    (void)user;
    FUZZ_ASSERT(b->n_rows > 0 && b->n_vocab > 0);
    sink += b->logits[b->n_rows * b->n_vocab - 1] == 0;
    sink += b->hidden[b->n_rows * b->n_embd - 1] == 0;
    return true;
}

static bool run_tiny_forward(const ql_model *m) {
    ql_context_params p = ql_context_default_params();
    p.n_ctx = 8;
    p.n_ubatch = 4;
    p.n_threads = 1;
    ql_context *c;
    ql_error err;
    if (ql_context_create(m, &p, &c, &err) != QL_OK) {
        check_error(&err);
        return false;
    }
    int32_t tokens[4];
    for (int i = 0; i < 4; i++) tokens[i] = (int32_t)(i % m->cfg.n_vocab);
    if (ql_forward(c, tokens, 4, 0, 2, on_logits, NULL, &err) != QL_OK) check_error(&err);
    ql_context_free(c);
    return true;
}

int ql_fuzz_gguf(const uint8_t *data, size_t size) {
    gguf_file *f;
    ql_error err;
    if (gguf_open_memory(data, size, "fuzz.gguf", &f, &err) != QL_OK) {
        check_error(&err);
        return 0;
    }
    FUZZ_ASSERT(gguf_data_offset(f) <= size);
    FUZZ_ASSERT(gguf_alignment(f) > 0);
    for (int64_t i = 0; i < gguf_n_kv(f); i++) {
        const gguf_kv *kv = gguf_kv_at(f, i);
        FUZZ_ASSERT(inside(kv->key.ptr, kv->key.len, data, size));
        FUZZ_ASSERT(inside(kv->raw, kv->raw_size, data, size));
        walk_value(&kv->value, data, size, 0);
    }
    for (int64_t i = 0; i < gguf_n_tensors(f); i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        FUZZ_ASSERT(inside(t->name.ptr, t->name.len, data, size));
        FUZZ_ASSERT(inside(t->data, t->n_bytes, data, size));
        FUZZ_ASSERT(t->n_dims >= 1 && t->n_dims <= GGUF_MAX_DIMS);
        FUZZ_ASSERT(gguf_tensor_nelements(t) >= 0);
        FUZZ_ASSERT(ql_type_traits_get((int)t->type) != NULL);
        if (t->n_bytes) sink += ((const uint8_t *)t->data)[t->n_bytes - 1];
        char name[GGUF_MAX_NAME + 1];
        gguf_str_copy(t->name, name, sizeof name);
        if (strlen(name) == t->name.len) {
            const gguf_tensor *found = gguf_find_tensor(f, name);
            FUZZ_ASSERT(found && gguf_str_eq(found->name, name));
        }
    }
    FUZZ_ASSERT(gguf_kv_at(f, gguf_n_kv(f)) == NULL || gguf_n_kv(f) < 0);

    /* what `qlens tokenize -m FILE` does with it */
    tok_vocab *v;
    if (tok_load(f, &v, &err) == QL_OK) {
        static const char text[] = "Hello world, 123 <s> \xe2\x96\x81x\xff\n\tend";
        int32_t *ids;
        size_t n;
        for (int special = 0; special < 2; special++) {
            if (tok_encode(v, text, sizeof text - 1, special, special, &ids, &n, &err) != QL_OK) {
                check_error(&err);
                continue;
            }
            for (size_t k = 0; k < n; k++) FUZZ_ASSERT(ids[k] >= 0 && ids[k] < tok_n_vocab(v));
            char *out;
            size_t len;
            if (tok_decode(v, ids, n, TOK_DECODE_SPECIAL, &out, &len, &err) == QL_OK)
                free(out);
            else
                check_error(&err);
            free(ids);
        }
        for (int32_t id = 0; id < tok_n_vocab(v) && id < 64; id++) {
            size_t len;
            FUZZ_ASSERT(tok_token_to_piece(v, id, true, &len) != NULL);
        }
        tok_free(v);
    } else {
        check_error(&err);
    }

    /* what `qlens perplexity -m FILE` does with it: bind the weights, run four tokens */
    ql_model *m;
    if (ql_model_from_gguf(f, &m, &err) == QL_OK) {
        run_tiny_forward(m);
        ql_model_free(m); /* closes f */
    } else {
        check_error(&err);
        gguf_close(f);
    }
    return 0;
}

/* ------------------------------------------------------------- tokenizers */

typedef struct {
    const char *file;
    tok_vocab *vocab;
    bool tried;
} vocab_slot;

static vocab_slot bpe_vocabs[] = {
    {"ggml-vocab-gpt-2.gguf", NULL, false},
    {"ggml-vocab-deepseek-coder.gguf", NULL, false},
    {"ggml-vocab-falcon.gguf", NULL, false},
    {"ggml-vocab-starcoder.gguf", NULL, false},
};
static vocab_slot spm_vocabs[] = {
    {"ggml-vocab-llama-spm.gguf", NULL, false},
    {"ggml-vocab-phi-3.gguf", NULL, false},
};

/* Loads a golden vocabulary once; a missing one is fatal (the target cannot run). */
static tok_vocab *vocab_of(vocab_slot *s) {
    if (s->tried) return s->vocab;
    s->tried = true;
    const char *shared = getenv("QLENS_SHARED");
    char path[1024];
    snprintf(path, sizeof path, "%s/golden/tokenizer/%s", shared && *shared ? shared : "../shared",
             s->file);
    gguf_file *f;
    ql_error err;
    if (gguf_open(path, &f, &err) != QL_OK || tok_load(f, &s->vocab, &err) != QL_OK) {
        fprintf(stderr, "fuzz: cannot load %s: %s (set QLENS_SHARED)\n", path, err.msg);
        abort();
    }
    gguf_close(f);
    return s->vocab;
}

/*
 * Byte 0 chooses: bits 0-1 the vocabulary, bit 2 add_special, bit 3
 * parse_special, bits 4-6 the decode flags. The rest is the text.
 */
static int fuzz_tokenizer(vocab_slot *slots, int n_slots, const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const unsigned opt = data[0];
    tok_vocab *v = vocab_of(&slots[(opt & 3) % (unsigned)n_slots]);
    const bool add_special = opt & 4, parse_special = opt & 8;
    const unsigned decode_flags = (opt >> 4) & 7;
    const char *text = (const char *)data + 1;
    const size_t len = size - 1;
    int32_t *ids;
    size_t n;
    ql_error err;
    if (tok_encode(v, text, len, add_special, parse_special, &ids, &n, &err) != QL_OK) {
        check_error(&err);
        return 0;
    }
    FUZZ_ASSERT(n == 0 || ids != NULL);
    for (size_t i = 0; i < n; i++) {
        FUZZ_ASSERT(ids[i] >= 0 && ids[i] < tok_n_vocab(v));
        size_t plen;
        FUZZ_ASSERT(tok_token_to_piece(v, ids[i], true, &plen) != NULL);
    }
    /* At most three tokens per byte, plus BOS, EOS and SentencePiece's leading space:
     * SentencePiece writes a space as U+2581 (three bytes) before it cuts the text into
     * characters, so a space caught inside a malformed UTF-8 sequence comes back as three
     * byte tokens, as in llama.cpp. Byte-level BPE gives at most one per byte (and none
     * for a byte its vocabulary lacks). */
    FUZZ_ASSERT(n <= 3 * len + 3);
    char *out;
    size_t out_len;
    if (tok_decode(v, ids, n, decode_flags, &out, &out_len, &err) == QL_OK) {
        FUZZ_ASSERT(out != NULL && out[out_len] == '\0');
        free(out);
    } else {
        check_error(&err);
    }
    free(ids);
    return 0;
}

int ql_fuzz_tok_bpe(const uint8_t *data, size_t size) {
    return fuzz_tokenizer(bpe_vocabs, (int)(sizeof bpe_vocabs / sizeof bpe_vocabs[0]), data, size);
}

int ql_fuzz_tok_spm(const uint8_t *data, size_t size) {
    return fuzz_tokenizer(spm_vocabs, (int)(sizeof spm_vocabs / sizeof spm_vocabs[0]), data, size);
}

/* ---------------------------------------------------------- pre-tokenizers */

typedef struct {
    size_t next, len, words;
} tiling;

static bool on_word(void *user, size_t start, size_t end) {
    tiling *t = user;
    FUZZ_ASSERT(start == t->next); /* words follow each other without gaps ... */
    FUZZ_ASSERT(end > start);      /* ... are not empty ... */
    FUZZ_ASSERT(end <= t->len);    /* ... and stay inside the text */
    t->next = end;
    t->words++;
    return true;
}

static bool stop_after_one(void *user, size_t start, size_t end) {
    (void)start, (void)end;
    ((tiling *)user)->words++;
    return false;
}

/* Byte 0 picks a tokenizer.ggml.pre name (every supported one); the rest is the text. */
int ql_fuzz_pretok(const uint8_t *data, size_t size) {
    static const char *names[128];
    static int n_names = -1;
    if (n_names < 0) {
        static char list[4096];
        snprintf(list, sizeof list, "%s", pretok_names());
        n_names = 0;
        for (char *tok = strtok(list, ", "); tok && n_names < 128; tok = strtok(NULL, ", "))
            names[n_names++] = tok;
        FUZZ_ASSERT(n_names > 0);
    }
    if (size < 1) return 0;
    const pretok_config *cfg = pretok_find(names[data[0] % n_names]);
    FUZZ_ASSERT(cfg && cfg->family);
    tiling t = {.next = 0, .len = size - 1};
    FUZZ_ASSERT(pretokenize(cfg->family, data + 1, size - 1, on_word, &t));
    FUZZ_ASSERT(t.next == t.len); /* the words cover the whole text */
    tiling once = {0};
    const bool finished = pretokenize(cfg->family, data + 1, size - 1, stop_after_one, &once);
    FUZZ_ASSERT(once.words == (size > 1 ? 1u : 0u) && finished == (size == 1));
    return 0;
}

/* ---------------------------------------------------------- reference files */

static uint32_t rd32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t rd64(const uint8_t *p) {
    return (uint64_t)rd32(p + 4) << 32 | rd32(p);
}
static void wr32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* CRC of [off, off+n) if it lies inside the buffer, written at where; else nothing. */
static void fix_crc(uint8_t *b, size_t size, uint64_t off, uint64_t n, size_t where) {
    if (off <= size && n <= size - off) wr32(b + where, ql_crc32(0, b + off, (size_t)n));
}

/*
 * Recomputes what docs/reference-format.md checksums, wherever the header's
 * own section table points (in bounds): tokens, output matrix, each chunk,
 * the chunk table, and last the header.
 */
static void fix_qlens_crcs(uint8_t *b, size_t size) {
    if (size < QL_REF_HEADER_SIZE || memcmp(b, QL_REF_MAGIC, 8) != 0) return;
    const uint64_t n_chunks = rd32(b + 20);
    fix_crc(b, size, rd64(b + 80), rd64(b + 88), 136);
    fix_crc(b, size, rd64(b + 96), rd64(b + 104), 140);
    const uint64_t hidden = rd64(b + 112), chunk = rd64(b + 120), crcs = rd64(b + 128);
    if (crcs <= size && n_chunks <= (size - crcs) / 4) {
        for (uint64_t c = 0; c < n_chunks; c++)
            if (chunk == 0 || c <= (size - hidden) / chunk)
                fix_crc(b, size, hidden + c * chunk, chunk, (size_t)(crcs + 4 * c));
        fix_crc(b, size, crcs, 4 * n_chunks, 144);
    }
    wr32(b + QL_REF_HEADER_SIZE - 4, ql_crc32(0, b, QL_REF_HEADER_SIZE - 4));
}

/* Walks an accepted reference the way `perplexity --kl-divergence` reads it. */
static void walk_ref(const ql_ref_file *r) {
    const ql_ref_info *in = ql_ref_info_of(r);
    FUZZ_ASSERT(in->n_ctx >= 4 && in->n_chunks >= 1 && in->n_vocab >= 1);
    const int64_t n_scored = ql_ref_scored_per_chunk(r);
    FUZZ_ASSERT(n_scored == in->n_ctx - 1 - in->n_ctx / 2);
    const int32_t *tokens = ql_ref_tokens(r);
    for (int64_t i = 0; i < in->n_ctx * in->n_chunks; i++)
        FUZZ_ASSERT(tokens[i] >= 0 && tokens[i] < in->n_vocab);
    FUZZ_ASSERT(ql_ref_fixed_bytes(r) <= ql_ref_file_bytes(r));
    if (ql_ref_format_of(r) == QL_REF_QLENS) {
        const ql_matrix *m = ql_ref_output(r);
        FUZZ_ASSERT(m && m->n_in == in->n_embd && m->n_out == in->n_vocab);
        const ql_type_traits *tt = ql_type_traits_get((int)m->type);
        FUZZ_ASSERT(tt && tt->to_float);
        float *row = malloc((size_t)m->n_in * sizeof *row);
        FUZZ_ASSERT(row);
        for (int64_t o = 0; o < m->n_out && o < 16; o++)
            tt->to_float((const uint8_t *)m->data + (size_t)o * m->row_bytes, row, m->n_in);
        free(row);
        for (int64_t c = 0; c < in->n_chunks; c++) {
            const float *h = ql_ref_hidden(r, c);
            FUZZ_ASSERT(h);
            sink += h[n_scored * in->n_embd - 1] == 0;
        }
        FUZZ_ASSERT(ql_ref_hidden(r, in->n_chunks) == NULL && ql_ref_llama_rows(r, 0) == NULL);
    } else {
        /* score every stored row against flat logits, as a KLD run would */
        float *q = calloc((size_t)in->n_vocab, sizeof *q);
        FUZZ_ASSERT(q);
        const int64_t row_len = ql_kld_llama_row_len(in->n_vocab);
        for (int64_t c = 0; c < in->n_chunks; c++) {
            const uint16_t *rows = ql_ref_llama_rows(r, c);
            FUZZ_ASSERT(rows);
            for (int64_t i = 0; i < n_scored; i++) {
                const int32_t target = tokens[c * in->n_ctx + in->n_ctx - n_scored + i];
                ql_kld_token tk;
                ql_kld_token_llama(q, rows + i * row_len, in->n_vocab, target, &tk);
                sink += tk.same_top;
            }
        }
        free(q);
        FUZZ_ASSERT(ql_ref_llama_rows(r, in->n_chunks) == NULL && ql_ref_output(r) == NULL);
    }
}

static int fuzz_ref(const uint8_t *data, size_t size, bool fix_crcs) {
    ql_ref_file *r;
    ql_error err;
    ql_status st;
    if (fix_crcs) {
        uint8_t *copy = malloc(size ? size : 1);
        FUZZ_ASSERT(copy);
        memcpy(copy, data, size);
        fix_qlens_crcs(copy, size);
        st = ql_ref_open_memory(copy, size, "fuzz.qlref", &r, &err);
        free(copy); /* the reader keeps its own copy */
    } else {
        st = ql_ref_open_memory(data, size, "fuzz.qlref", &r, &err);
    }
    if (st != QL_OK) {
        check_error(&err);
        return 0;
    }
    walk_ref(r);
    ql_ref_close(r);
    return 0;
}

/* Byte 0 bit 0: recompute the checksums first. The rest is the file. */
int ql_fuzz_refstore(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    return fuzz_ref(data + 1, size - 1, data[0] & 1);
}

/* llama.cpp's format has no checksum: the whole input is the file. */
int ql_fuzz_kld_llama(const uint8_t *data, size_t size) {
    return fuzz_ref(data, size, false);
}

/* ---------------------------------------------------------------- journal */

#define FUZZ_IDENTITY "sweep 0123456789abcdef"

/*
 * Byte 0 bit 0: give every line of nine or more bytes a valid CRC (its first
 * eight bytes become the hex CRC of the text after the ninth). The rest is
 * the journal.
 */
int ql_fuzz_journal(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    char *text = malloc(size);
    FUZZ_ASSERT(text);
    const size_t len = size - 1;
    memcpy(text, data + 1, len);
    if (data[0] & 1) {
        size_t pos = 0;
        while (pos < len) {
            char *nl = memchr(text + pos, '\n', len - pos);
            const size_t line = nl ? (size_t)(nl - (text + pos)) : len - pos;
            if (line >= 9) {
                char hex[9];
                snprintf(hex, sizeof hex, "%08x", ql_crc32(0, text + pos + 9, line - 9));
                memcpy(text + pos, hex, 8);
                text[pos + 8] = ' ';
            }
            pos += line + 1;
        }
    }
    ql_journal *j;
    ql_error err;
    if (ql_journal_parse(text, len, FUZZ_IDENTITY, &j, &err) == QL_OK) {
        FUZZ_ASSERT(ql_journal_steps(j) >= 0 && (size_t)ql_journal_steps(j) <= len / 10);
        FUZZ_ASSERT(!ql_journal_has(j, "\n"));
        ql_error add_err;
        FUZZ_ASSERT(ql_journal_add(j, "step", &add_err) !=
                    QL_OK); /* parsed journals are read-only */
        ql_journal_close(j);
    } else {
        check_error(&err);
    }
    free(text);
    return 0;
}

/* ------------------------------------------------------------------ regex */

/*
 * The --tensor-type matcher, which compiles whatever the user typed. The
 * input is the pattern, then (after a NUL) texts separated by NULs; without
 * a NUL the texts are tensor names. Promises: a refused pattern gets one
 * line of error; a compiled one answers every text the same way twice, the
 * same as the pattern wrapped in a non-capturing group, and as strstr for a
 * pattern of plain characters.
 */
int ql_fuzz_regex(const uint8_t *data, size_t size) {
    char *buf = malloc(size + 1);
    FUZZ_ASSERT(buf);
    memcpy(buf, data, size);
    buf[size] = '\0';
    const char *pattern = buf;
    const size_t pattern_len = strlen(pattern);
    static const char *const names[] = {"blk.0.attn_v.weight", "token_embd.weight", "output.weight",
                                        "blk.17.ffn_down.weight", ""};
    const char *texts[9];
    int n_texts = 0;
    if (pattern_len == size) {
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) texts[n_texts++] = names[i];
    } else {
        for (size_t at = pattern_len + 1; at <= size && n_texts < 9; at += strlen(buf + at) + 1)
            texts[n_texts++] = buf + at;
    }
    ql_regex *re;
    ql_error err;
    if (ql_regex_compile(pattern, &re, &err) != QL_OK) {
        check_error(&err);
        free(buf);
        return 0;
    }
    FUZZ_ASSERT(strcmp(ql_regex_pattern(re), pattern) == 0);
    char *wrapped = malloc(pattern_len + 8);
    FUZZ_ASSERT(wrapped);
    snprintf(wrapped, pattern_len + 8, "(?:%s)", pattern);
    ql_regex *re2 = NULL;
    if (ql_regex_compile(wrapped, &re2, &err) != QL_OK) check_error(&err);
    bool plain = pattern_len > 0;
    for (size_t i = 0; i < pattern_len; i++) {
        const char c = pattern[i];
        plain &= (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    }
    for (int i = 0; i < n_texts; i++) {
        const bool found = ql_regex_search(re, texts[i]);
        FUZZ_ASSERT(ql_regex_search(re, texts[i]) == found);
        if (re2) FUZZ_ASSERT(ql_regex_search(re2, texts[i]) == found);
        if (plain) FUZZ_ASSERT(found == (strstr(texts[i], pattern) != NULL));
    }
    ql_regex_free(re2);
    ql_regex_free(re);
    free(wrapped);
    free(buf);
    return 0;
}

/* --------------------------------------------------------------- plan_csv */

/*
 * A sweep's results.csv as `qlens plan --sweep` reads it. Promises: either
 * an error of one line or rows whose strings are terminated within their
 * fields, whose cache types are KV-cache types and whose KLD is finite.
 */
int ql_fuzz_plan_csv(const uint8_t *data, size_t size) {
    ql_plan_entry *rows;
    int64_t n;
    ql_error err;
    if (ql_plan_parse_csv((const char *)data, size, "results.csv", &rows, &n, &err) != QL_OK) {
        check_error(&err);
        return 0;
    }
    FUZZ_ASSERT(n >= 1 && (size_t)n <= size);
    for (int64_t i = 0; i < n; i++) {
        const ql_plan_entry *r = &rows[i];
        FUZZ_ASSERT(memchr(r->weights, '\0', sizeof r->weights));
        FUZZ_ASSERT(memchr(r->path, '\0', sizeof r->path) && r->path[0]);
        FUZZ_ASSERT(ql_kv_cache_type_ok(r->k) && ql_kv_cache_type_ok(r->v));
        FUZZ_ASSERT(isfinite(r->kld) && isfinite(r->kld_unc));
        sink += (uint64_t)strlen(r->weights) + strlen(r->path);
    }
    free(rows);
    return 0;
}

/* ---------------------------------------------------------------- table */

const ql_fuzz_target ql_fuzz_targets[] = {
    {"gguf", ql_fuzz_gguf},       {"tok_bpe", ql_fuzz_tok_bpe},   {"tok_spm", ql_fuzz_tok_spm},
    {"pretok", ql_fuzz_pretok},   {"refstore", ql_fuzz_refstore}, {"kld_llama", ql_fuzz_kld_llama},
    {"journal", ql_fuzz_journal}, {"regex", ql_fuzz_regex},       {"plan_csv", ql_fuzz_plan_csv},
};
const int ql_fuzz_n_targets = (int)(sizeof ql_fuzz_targets / sizeof ql_fuzz_targets[0]);

const ql_fuzz_target *ql_fuzz_find(const char *name) {
    for (int i = 0; i < ql_fuzz_n_targets; i++)
        if (strcmp(ql_fuzz_targets[i].name, name) == 0) return &ql_fuzz_targets[i];
    return NULL;
}
