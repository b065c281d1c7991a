/*
 * bpe.c - byte-level BPE as llama.cpp runs it. The pre-tokenizer cuts the
 * text into words; each word's UTF-8 bytes are written in GPT-2's byte
 * alphabet and split into one symbol per byte; the neighbouring pair with the
 * lowest merge rank (leftmost on ties) is merged until no pair has a rank;
 * each symbol then becomes its token.
 *
 * Symbols are interned at load time (every text a merge can produce has an
 * id), so finding a pair's rank is one integer hash lookup instead of
 * building and hashing strings.
 */
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"
#include "unicode.h"

static uint64_t pair_key(int32_t left, int32_t right) {
    return (uint64_t)(uint32_t)left << 32 | (uint32_t)right;
}

typedef struct {
    char *arena;
    size_t used, cap;
    uint32_t *off, *len;
    int32_t n, cap_ids;
} symbol_table;

static int32_t intern(symbol_table *t, tok_strmap *map, const char *a, size_t na, const char *b,
                      size_t nb) {
    size_t n = na + nb;
    if (t->used + n > t->cap) {
        size_t cap = t->cap ? t->cap : 4096;
        while (cap < t->used + n) cap *= 2;
        char *p = realloc(t->arena, cap);
        if (!p) return -2;
        t->arena = p;
        t->cap = cap;
        map->arena = p;
    }
    if (t->n == t->cap_ids) return -2; /* sized up front; cannot happen */
    memcpy(t->arena + t->used, a, na);
    memcpy(t->arena + t->used + na, b, nb);
    t->off[t->n] = (uint32_t)t->used;
    t->len[t->n] = (uint32_t)n;
    int32_t existing = tok_strmap_add(map, t->n);
    if (existing >= 0) return existing;
    t->used += n;
    return t->n++;
}

ql_status tok_bpe_prepare(tok_vocab *v, const gguf_value *merges, ql_error *err) {
    uint64_t n_merges = merges->arr.n;
    if (n_merges > INT32_MAX / 2)
        return ql_fail(err, QL_ERR_FORMAT, "tokenizer.ggml.merges has too many entries");
    int32_t cap = 256 + (int32_t)n_merges;
    symbol_table t = {0};
    t.off = calloc((size_t)cap, sizeof *t.off);
    t.len = calloc((size_t)cap, sizeof *t.len);
    t.cap_ids = cap;
    int32_t *merge_result = malloc((size_t)(n_merges ? n_merges : 1) * sizeof *merge_result);
    tok_strmap map;
    if (!t.off || !t.len || !merge_result ||
        !tok_strmap_init(&map, (size_t)cap, NULL, t.off, t.len)) {
        free(t.off);
        free(t.len);
        free(merge_result);
        return ql_fail(err, QL_ERR_NOMEM, "out of memory");
    }
    ql_status st = QL_OK;

    /* The 256 byte characters first: symbol b is byte b. */
    for (int b = 0; b < 256 && !st; b++) {
        uint8_t u[4];
        size_t n = tok_utf8_encode(tok_byte_to_codepoint((uint8_t)b), u);
        int32_t id = intern(&t, &map, (const char *)u, n, "", 0);
        if (id < 0) st = ql_fail(err, QL_ERR_NOMEM, "out of memory");
        v->bpe_byte_symbol[b] = id;
    }
    /* Each rule "left right" (split at the first space after the first byte,
     * as llama.cpp splits it) can produce left+right. */
    for (uint64_t i = 0; i < n_merges && !st; i++) {
        gguf_str m = merges->arr.items[i].str;
        const char *space = m.len > 1 ? memchr(m.ptr + 1, ' ', m.len - 1) : NULL;
        merge_result[i] = -1;
        if (!space) continue;
        size_t nl = (size_t)(space - m.ptr);
        int32_t id = intern(&t, &map, m.ptr, nl, space + 1, m.len - nl - 1);
        if (id < 0) st = ql_fail(err, QL_ERR_NOMEM, "out of memory");
        merge_result[i] = id;
    }
    /* A rule applies to a pair of symbols; one whose sides can never be
     * symbols can never apply. The first rule for a pair sets its rank. */
    if (!st && !tok_pairmap_init(&v->bpe_merges, (size_t)n_merges))
        st = ql_fail(err, QL_ERR_NOMEM, "out of memory");
    for (uint64_t i = 0; i < n_merges && !st; i++) {
        if (merge_result[i] < 0) continue;
        gguf_str m = merges->arr.items[i].str;
        const char *space = memchr(m.ptr + 1, ' ', m.len - 1);
        size_t nl = (size_t)(space - m.ptr);
        int32_t left = tok_strmap_find(&map, m.ptr, nl);
        int32_t right = tok_strmap_find(&map, space + 1, m.len - nl - 1);
        if (left < 0 || right < 0) continue;
        if (!tok_pairmap_add(&v->bpe_merges, pair_key(left, right), (int32_t)i, merge_result[i]))
            st = ql_fail(err, QL_ERR_NOMEM, "out of memory");
    }

    if (!st) {
        v->n_bpe_symbols = t.n;
        v->bpe_symbol_token = malloc((size_t)t.n * sizeof *v->bpe_symbol_token);
        if (!v->bpe_symbol_token) st = ql_fail(err, QL_ERR_NOMEM, "out of memory");
    }
    for (int32_t i = 0; i < t.n && !st; i++)
        v->bpe_symbol_token[i] = tok_strmap_find(&v->token_by_text, t.arena + t.off[i], t.len[i]);
    for (int b = 0; b < 256; b++) {
        char raw = (char)b;
        v->bpe_single_byte_token[b] = tok_strmap_find(&v->token_by_text, &raw, 1);
    }

    v->bpe_symbol_arena = t.arena;
    v->bpe_symbol_off = t.off;
    v->bpe_symbol_len = t.len;
    tok_strmap_free(&map);
    free(merge_result);
    return st;
}

/* ---- encoding ---- */

typedef struct {
    int32_t rank, left, right, merged;
    uint32_t size;
} bpe_bigram;

static inline bool bpe_before(const bpe_bigram *a, const bpe_bigram *b) {
    return a->rank < b->rank || (a->rank == b->rank && a->left < b->left);
}

static void heap_push(tok_scratch *s, bpe_bigram x) {
    if (s->heap_n == s->heap_cap) {
        size_t cap = s->heap_cap ? s->heap_cap * 2 : 64;
        void *p = realloc(s->heap, cap * sizeof(bpe_bigram));
        if (!p) {
            s->out_of_memory = true;
            return;
        }
        s->heap = p;
        s->heap_cap = cap;
    }
    bpe_bigram *h = s->heap;
    size_t i = s->heap_n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!bpe_before(&x, &h[parent])) break;
        h[i] = h[parent];
        i = parent;
    }
    h[i] = x;
}

static bpe_bigram heap_pop(tok_scratch *s) {
    bpe_bigram *h = s->heap;
    bpe_bigram top = h[0], last = h[--s->heap_n];
    size_t i = 0, n = s->heap_n;
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= n) break;
        if (child + 1 < n && bpe_before(&h[child + 1], &h[child])) child++;
        if (!bpe_before(&h[child], &last)) break;
        h[i] = h[child];
        i = child;
    }
    if (n) h[i] = last;
    return top;
}

static void try_bigram(const tok_vocab *v, tok_scratch *s, int32_t left, int32_t right) {
    if (left < 0 || right < 0) return;
    const tok_pairslot *rule =
        tok_pairmap_find(&v->bpe_merges, pair_key(s->sym[left], s->sym[right]));
    if (!rule) return;
    bpe_bigram b = {rule->a, left, right, rule->b, s->len[left] + s->len[right]};
    heap_push(s, b);
}

static void emit_symbol(const tok_vocab *v, int32_t symbol, tok_out *o) {
    int32_t token = v->bpe_symbol_token[symbol];
    if (token >= 0) {
        tok_out_push(o, token);
        return;
    }
    /* Not a token: llama.cpp looks up each byte of the symbol's (byte-level)
     * text as a one-byte token and drops the bytes that are none. */
    const uint8_t *text = (const uint8_t *)v->bpe_symbol_arena + v->bpe_symbol_off[symbol];
    for (uint32_t k = 0; k < v->bpe_symbol_len[symbol]; k++) {
        int32_t b = v->bpe_single_byte_token[text[k]];
        if (b >= 0) tok_out_push(o, b);
    }
}

/* Merges one word of n bytes (its canonical UTF-8). */
static void encode_word(const tok_vocab *v, const uint8_t *word, size_t n, tok_scratch *s,
                        tok_out *o) {
    if (v->ignore_merges) {
        /* A word that is a token as a whole is taken as it is. */
        size_t bl = 0;
        if (!tok_scratch_aux(s, 2 * n)) return;
        uint8_t *enc = s->aux;
        for (size_t i = 0; i < n; i++) {
            int32_t sym = v->bpe_byte_symbol[word[i]];
            memcpy(enc + bl, v->bpe_symbol_arena + v->bpe_symbol_off[sym], v->bpe_symbol_len[sym]);
            bl += v->bpe_symbol_len[sym];
        }
        int32_t token = tok_strmap_find(&v->token_by_text, enc, bl);
        if (token >= 0) {
            tok_out_push(o, token);
            return;
        }
    }
    if (!tok_scratch_symbols(s, n)) return;
    for (size_t i = 0; i < n; i++) {
        s->sym[i] = v->bpe_byte_symbol[word[i]];
        s->len[i] = 1;
        s->prev[i] = (int32_t)i - 1;
        s->next[i] = i + 1 < n ? (int32_t)i + 1 : -1;
    }
    s->heap_n = 0;
    for (size_t i = 1; i < n; i++) try_bigram(v, s, (int32_t)i - 1, (int32_t)i);
    while (s->heap_n > 0 && !s->out_of_memory) {
        bpe_bigram b = heap_pop(s);
        if (s->len[b.left] == 0 || s->len[b.right] == 0 ||
            s->len[b.left] + s->len[b.right] != b.size)
            continue;
        s->sym[b.left] = b.merged;
        s->len[b.left] += s->len[b.right];
        s->len[b.right] = 0;
        s->next[b.left] = s->next[b.right];
        if (s->next[b.right] >= 0) s->prev[s->next[b.right]] = b.left;
        try_bigram(v, s, s->prev[b.left], b.left);
        try_bigram(v, s, b.left, s->next[b.left]);
    }
    for (int32_t i = 0; i != -1; i = s->next[i]) emit_symbol(v, s->sym[i], o);
}

typedef struct {
    const tok_vocab *v;
    const uint8_t *text;
    size_t len;
    tok_scratch *s;
    tok_out *o;
} word_ctx;

/* A word arrives as a byte range of the original text; BPE runs on the UTF-8
 * re-encoding of its code points, so malformed bytes (decoded as U+FFFD) and
 * overlong forms come out as llama.cpp writes them. */
static bool on_word(void *user, size_t start, size_t end) {
    word_ctx *w = user;
    size_t n = end - start;
    if (!tok_scratch_bytes(w->s, 4 * n)) return false;
    uint8_t *buf = w->s->bytes;
    size_t out = 0;
    for (size_t pos = start; pos < end;) {
        if (w->text[pos] < 0x80) {
            buf[out++] = w->text[pos++];
            continue;
        }
        size_t next;
        uint32_t cp = tok_utf8_decode(w->text, w->len, pos, &next);
        out += tok_utf8_encode(cp, buf + out);
        pos = next;
    }
    encode_word(w->v, buf, out, w->s, w->o);
    return !w->s->out_of_memory && !w->o->out_of_memory;
}

void tok_bpe_encode(const tok_vocab *v, const uint8_t *text, size_t len, tok_scratch *s,
                    tok_out *o) {
    word_ctx w = {v, text, len, s, o};
    pretokenize(v->pretok->family, text, len, on_word, &w);
}
