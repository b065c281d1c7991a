/*
 * tok_internal.h - what the tokenizer's source files share: the vocabulary
 * layout, the hash tables behind every lookup, and the growable output.
 */
#ifndef QL_TOKENIZER_TOK_INTERNAL_H
#define QL_TOKENIZER_TOK_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pretok.h"
#include "tokenizer.h"

/* ---- hashing ---- */

static inline uint64_t tok_mix64(uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

static inline uint64_t tok_hash_bytes(const void *data, size_t n) {
    const uint8_t *p = data;
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (uint64_t)n;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
        p += 8;
        n -= 8;
    }
    if (n) {
        uint64_t w = 0;
        memcpy(&w, p, n);
        h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
    }
    return tok_mix64(h);
}

/* Strings (an arena with offsets and lengths) indexed by content. A slot holds
 * the upper hash bits and id + 1, so most misses never touch the arena. */
typedef struct {
    const char *arena;
    const uint32_t *off, *len;
    uint64_t *slots;
    uint64_t mask;
} tok_strmap;

/* Sizes the table for n strings; false when out of memory. */
bool tok_strmap_init(tok_strmap *m, size_t n, const char *arena, const uint32_t *off,
                     const uint32_t *len);
void tok_strmap_free(tok_strmap *m);
/* Adds string id; returns the id already holding the same text, or -1. */
int32_t tok_strmap_add(tok_strmap *m, int32_t id);
int32_t tok_strmap_find(const tok_strmap *m, const void *s, size_t n);

/* 64-bit keys mapping to two int32 values; used for merge pairs and for the
 * set of character pairs that occur inside tokens. */
typedef struct {
    uint64_t key;
    int32_t a, b;
} tok_pairslot;

typedef struct {
    tok_pairslot *slots;
    uint64_t mask;
    size_t count;
} tok_pairmap;

#define TOK_PAIRMAP_EMPTY UINT64_MAX

bool tok_pairmap_init(tok_pairmap *m, size_t expected);
void tok_pairmap_free(tok_pairmap *m);
/* Inserts key -> (a, b) unless key is present (the first insertion wins). */
bool tok_pairmap_add(tok_pairmap *m, uint64_t key, int32_t a, int32_t b);
const tok_pairslot *tok_pairmap_find(const tok_pairmap *m, uint64_t key);

/* ---- the vocabulary ---- */

struct tok_vocab {
    tok_model model;
    const pretok_config *pretok; /* BPE only */
    char pre_name[64];
    int32_t n_tokens;

    /* Token text as in the GGUF ("[EMPTY_<id>]" for an empty one, as llama.cpp). */
    char *text_arena;
    uint32_t *text_off, *text_len;
    float *scores;
    unsigned *attr;
    tok_strmap token_by_text;

    /* token_to_piece with special = true, computed once. */
    char *piece_arena;
    uint32_t *piece_off, *piece_len;

    int32_t bos, eos, unk;
    bool add_bos, add_eos, add_space_prefix, clean_spaces, ignore_merges;

    /* Control, user-defined and unknown tokens, longest text first: the order
     * in which they are cut out of the text. */
    int32_t *specials;
    int32_t n_specials;

    /* SentencePiece: the token for each byte value (byte fallback), and the
     * character pairs that occur inside some token. Text is merged in
     * segments split where two neighbouring characters form no such pair: no
     * merge can cross there, so each segment merges independently. */
    int32_t spm_byte_token[256];
    tok_pairmap spm_inner_pairs;

    /* Byte-level BPE works on interned symbols: every text a merge can
     * produce (the 256 byte characters and the result of each merge rule). */
    int32_t bpe_byte_symbol[256];       /* symbol of each byte's character */
    int32_t bpe_single_byte_token[256]; /* token whose text is that one byte */
    int32_t n_bpe_symbols;
    char *bpe_symbol_arena;
    uint32_t *bpe_symbol_off, *bpe_symbol_len;
    int32_t *bpe_symbol_token; /* token with the symbol's text, or -1 */
    tok_pairmap bpe_merges;    /* (left, right) -> (rank, merged symbol) */
};

/* ---- encoding internals ---- */

/* Growable token output. */
typedef struct {
    int32_t *ids;
    size_t n, cap;
    bool out_of_memory;
} tok_out;

static inline void tok_out_push(tok_out *o, int32_t id) {
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 256;
        int32_t *p = realloc(o->ids, cap * sizeof *p);
        if (!p) {
            o->out_of_memory = true;
            return;
        }
        o->ids = p;
        o->cap = cap;
    }
    o->ids[o->n++] = id;
}

/* Scratch memory reused across the words and segments of one encode call. */
typedef struct {
    uint8_t *bytes, *aux; /* a word's bytes; its byte-level spelling */
    size_t bytes_cap, aux_cap;
    int32_t *sym, *prev, *next;
    uint32_t *len, *off;
    size_t sym_cap;
    void *heap;
    size_t heap_n, heap_cap;
    bool out_of_memory;
} tok_scratch;

bool tok_scratch_bytes(tok_scratch *s, size_t n);
bool tok_scratch_aux(tok_scratch *s, size_t n);
bool tok_scratch_symbols(tok_scratch *s, size_t n);
void tok_scratch_free(tok_scratch *s);

/* Appends the tokens of one SentencePiece fragment (already escaped: spaces
 * written as U+2581). */
void tok_spm_encode(const tok_vocab *v, const uint8_t *text, size_t len, tok_scratch *s,
                    tok_out *o);
/* Appends the tokens of one byte-level BPE fragment (raw text). */
void tok_bpe_encode(const tok_vocab *v, const uint8_t *text, size_t len, tok_scratch *s,
                    tok_out *o);

/* Vocabulary tables the encoders need, built by tok_load. */
ql_status tok_spm_prepare(tok_vocab *v, ql_error *err);
ql_status tok_bpe_prepare(tok_vocab *v, const gguf_value *merges, ql_error *err);

#endif
