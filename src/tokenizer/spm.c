/*
 * spm.c - SentencePiece BPE as llama.cpp runs it: split the (escaped) text
 * into characters, repeatedly merge the neighbouring pair whose concatenation
 * is the token with the highest score (leftmost on ties), then emit each
 * symbol's token, or its bytes as <0xNN> tokens when it is not one.
 *
 * Merges only ever join two symbols whose concatenation is a token, so no
 * merge can cross a point where the two neighbouring characters never occur
 * side by side inside any token. The text is cut at such points and each
 * segment merged on its own: the same result as merging the whole text (the
 * order of merges within a segment is unchanged), with small heaps and memory
 * bounded by the longest segment.
 */
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"
#include "unicode.h"

/* A character as SentencePiece splits text: length from its first byte. It is
 * "clean" when it is a complete, well-formed sequence; only then can a token
 * containing it be recognised by its bytes at a known offset. */
static size_t char_len_at(const uint8_t *s, size_t n, size_t pos, bool *clean) {
    uint8_t b0 = s[pos];
    size_t want = tok_utf8_lead_len(b0);
    size_t len = want <= n - pos ? want : n - pos;
    bool ok = len == want && !(b0 >= 0x80 && b0 <= 0xBF);
    for (size_t i = 1; ok && i < len; i++) ok = (s[pos + i] & 0xC0) == 0x80;
    *clean = ok;
    return len;
}

static uint32_t pack_char(const uint8_t *s, size_t len) {
    uint32_t v = 0;
    for (size_t i = 0; i < len; i++) v |= (uint32_t)s[i] << (8 * i);
    return v;
}

static uint64_t pair_key(uint32_t left, uint32_t right) {
    return (uint64_t)left << 32 | right;
}

ql_status tok_spm_prepare(tok_vocab *v, ql_error *err) {
    static const char hex[] = "0123456789ABCDEF";
    for (int b = 0; b < 256; b++) {
        char name[7] = {'<', '0', 'x', hex[b >> 4], hex[b & 15], '>', 0};
        int32_t id = tok_strmap_find(&v->token_by_text, name, 6);
        if (id < 0) {
            char raw = (char)b;
            id = tok_strmap_find(&v->token_by_text, &raw, 1);
        }
        v->spm_byte_token[b] = id;
    }

    size_t total = 0;
    for (int32_t i = 0; i < v->n_tokens; i++) total += v->text_len[i];
    if (!tok_pairmap_init(&v->spm_inner_pairs, total))
        return ql_fail(err, QL_ERR_NOMEM, "out of memory");
    /* Every pair of clean characters inside a token, at every byte offset:
     * a token that is not itself valid UTF-8 may hold a character pair at an
     * offset its own character split would never produce. */
    for (int32_t i = 0; i < v->n_tokens; i++) {
        const uint8_t *t = (const uint8_t *)v->text_arena + v->text_off[i];
        size_t n = v->text_len[i];
        for (size_t k = 0; k < n; k++) {
            bool clean_a, clean_b;
            size_t la = char_len_at(t, n, k, &clean_a);
            if (!clean_a || k + la >= n) continue;
            size_t lb = char_len_at(t, n, k + la, &clean_b);
            if (!clean_b) continue;
            if (!tok_pairmap_add(&v->spm_inner_pairs,
                                 pair_key(pack_char(t + k, la), pack_char(t + k + la, lb)), 0, 0))
                return ql_fail(err, QL_ERR_NOMEM, "out of memory");
        }
    }
    return QL_OK;
}

/* A candidate merge: higher score first, then the leftmost. */
typedef struct {
    float score;
    int32_t left, right, token;
    uint32_t size;
} spm_bigram;

static inline bool spm_before(const spm_bigram *a, const spm_bigram *b) {
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

static void heap_push(tok_scratch *s, spm_bigram x) {
    if (s->heap_n == s->heap_cap) {
        size_t cap = s->heap_cap ? s->heap_cap * 2 : 64;
        void *p = realloc(s->heap, cap * sizeof(spm_bigram));
        if (!p) {
            s->out_of_memory = true;
            return;
        }
        s->heap = p;
        s->heap_cap = cap;
    }
    spm_bigram *h = s->heap;
    size_t i = s->heap_n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!spm_before(&x, &h[parent])) break;
        h[i] = h[parent];
        i = parent;
    }
    h[i] = x;
}

static spm_bigram heap_pop(tok_scratch *s) {
    spm_bigram *h = s->heap;
    spm_bigram top = h[0], last = h[--s->heap_n];
    size_t i = 0, n = s->heap_n;
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= n) break;
        if (child + 1 < n && spm_before(&h[child + 1], &h[child])) child++;
        if (!spm_before(&h[child], &last)) break;
        h[i] = h[child];
        i = child;
    }
    if (n) h[i] = last;
    return top;
}

static void try_bigram(const tok_vocab *v, const uint8_t *text, tok_scratch *s, int32_t left,
                       int32_t right) {
    if (left < 0 || right < 0) return;
    uint32_t size = s->len[left] + s->len[right];
    int32_t token = tok_strmap_find(&v->token_by_text, text + s->off[left], size);
    if (token < 0) return;
    spm_bigram b = {v->scores[token], left, right, token, size};
    heap_push(s, b);
}

static void emit_symbol(const tok_vocab *v, const uint8_t *text, const tok_scratch *s, int32_t i,
                        tok_out *o) {
    int32_t token = s->sym[i];
    if (token < 0) token = tok_strmap_find(&v->token_by_text, text + s->off[i], s->len[i]);
    if (token >= 0) {
        tok_out_push(o, token);
        return;
    }
    /* Byte fallback. A byte with no token at all (llama.cpp aborts there)
     * becomes the unknown token, or is dropped without one. */
    for (uint32_t k = 0; k < s->len[i]; k++) {
        int32_t b = v->spm_byte_token[text[s->off[i] + k]];
        if (b < 0) b = v->unk;
        if (b >= 0) tok_out_push(o, b);
    }
}

/* Merges the characters of text[start, end) and emits their tokens. */
static void merge_segment(const tok_vocab *v, const uint8_t *text, size_t start, size_t end,
                          tok_scratch *s, tok_out *o) {
    size_t n = 0;
    for (size_t pos = start; pos < end; n++) {
        bool clean;
        pos += char_len_at(text, end, pos, &clean);
    }
    if (!tok_scratch_symbols(s, n)) return;
    size_t pos = start;
    for (size_t i = 0; i < n; i++) {
        bool clean;
        size_t len = char_len_at(text, end, pos, &clean);
        s->off[i] = (uint32_t)(pos - start);
        s->len[i] = (uint32_t)len;
        s->sym[i] = -1;
        s->prev[i] = (int32_t)i - 1;
        s->next[i] = i + 1 < n ? (int32_t)i + 1 : -1;
        pos += len;
    }
    const uint8_t *seg = text + start;
    s->heap_n = 0;
    for (size_t i = 1; i < n; i++) try_bigram(v, seg, s, (int32_t)i - 1, (int32_t)i);

    while (s->heap_n > 0 && !s->out_of_memory) {
        spm_bigram b = heap_pop(s);
        /* Stale when either side has merged since it was queued. */
        if (s->len[b.left] == 0 || s->len[b.right] == 0 ||
            s->len[b.left] + s->len[b.right] != b.size)
            continue;
        s->len[b.left] += s->len[b.right];
        s->len[b.right] = 0;
        s->sym[b.left] = b.token;
        s->next[b.left] = s->next[b.right];
        if (s->next[b.right] >= 0) s->prev[s->next[b.right]] = b.left;
        try_bigram(v, seg, s, s->prev[b.left], b.left);
        try_bigram(v, seg, s, b.left, s->next[b.left]);
    }
    for (int32_t i = 0; i != -1; i = s->next[i]) emit_symbol(v, seg, s, i, o);
}

void tok_spm_encode(const tok_vocab *v, const uint8_t *text, size_t len, tok_scratch *s,
                    tok_out *o) {
    size_t seg_start = 0, pos = 0;
    bool prev_clean = false;
    uint32_t prev_packed = 0;
    while (pos < len && !s->out_of_memory && !o->out_of_memory) {
        bool clean;
        size_t clen = char_len_at(text, len, pos, &clean);
        uint32_t packed = clean ? pack_char(text + pos, clen) : 0;
        if (pos > seg_start && prev_clean && clean &&
            !tok_pairmap_find(&v->spm_inner_pairs, pair_key(prev_packed, packed))) {
            merge_segment(v, text, seg_start, pos, s, o);
            seg_start = pos;
        }
        prev_clean = clean;
        prev_packed = packed;
        pos += clen;
    }
    if (seg_start < len && !s->out_of_memory) merge_segment(v, text, seg_start, len, s, o);
}
