/*
 * hashmap.c - the two open-addressing tables behind every tokenizer lookup:
 * token text -> id, and 64-bit pair keys -> two ints (BPE merge ranks, the
 * SentencePiece character-pair set). Both are filled once by tok_load and
 * only read afterwards, so lookups need no locking.
 */
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"

/* Power of two with load factor <= 1/2. */
static uint64_t table_size_for(size_t n) {
    uint64_t size = 16;
    while (size < 2 * (uint64_t)n) size *= 2;
    return size;
}

bool tok_strmap_init(tok_strmap *m, size_t n, const char *arena, const uint32_t *off,
                     const uint32_t *len) {
    uint64_t size = table_size_for(n);
    m->slots = calloc(size, sizeof *m->slots);
    m->mask = size - 1;
    m->arena = arena;
    m->off = off;
    m->len = len;
    return m->slots != NULL;
}

void tok_strmap_free(tok_strmap *m) {
    free(m->slots);
    m->slots = NULL;
}

/* A slot packs the upper 32 hash bits with id + 1 (0 means empty). */
static inline uint64_t slot_pack(uint64_t hash, int32_t id) {
    return (hash & 0xFFFFFFFF00000000ull) | (uint32_t)(id + 1);
}

static inline int32_t slot_id(uint64_t slot) {
    return (int32_t)(uint32_t)(slot & 0xFFFFFFFFu) - 1;
}

int32_t tok_strmap_find(const tok_strmap *m, const void *s, size_t n) {
    uint64_t h = tok_hash_bytes(s, n);
    for (uint64_t i = h & m->mask;; i = (i + 1) & m->mask) {
        uint64_t slot = m->slots[i];
        if (!slot) return -1;
        if ((slot ^ h) >> 32) continue;
        int32_t id = slot_id(slot);
        if (m->len[id] == n && memcmp(m->arena + m->off[id], s, n) == 0) return id;
    }
}

int32_t tok_strmap_add(tok_strmap *m, int32_t id) {
    const char *s = m->arena + m->off[id];
    size_t n = m->len[id];
    uint64_t h = tok_hash_bytes(s, n);
    for (uint64_t i = h & m->mask;; i = (i + 1) & m->mask) {
        uint64_t slot = m->slots[i];
        if (!slot) {
            m->slots[i] = slot_pack(h, id);
            return -1;
        }
        if ((slot ^ h) >> 32) continue;
        int32_t other = slot_id(slot);
        if (m->len[other] == n && memcmp(m->arena + m->off[other], s, n) == 0) return other;
    }
}

bool tok_pairmap_init(tok_pairmap *m, size_t expected) {
    uint64_t size = table_size_for(expected);
    m->slots = malloc(size * sizeof *m->slots);
    m->mask = size - 1;
    m->count = 0;
    if (!m->slots) return false;
    for (uint64_t i = 0; i < size; i++) m->slots[i].key = TOK_PAIRMAP_EMPTY;
    return true;
}

void tok_pairmap_free(tok_pairmap *m) {
    free(m->slots);
    m->slots = NULL;
}

static bool pairmap_grow(tok_pairmap *m) {
    tok_pairmap bigger;
    if (!tok_pairmap_init(&bigger, (size_t)(m->mask + 1))) return false;
    for (uint64_t i = 0; i <= m->mask; i++)
        if (m->slots[i].key != TOK_PAIRMAP_EMPTY)
            tok_pairmap_add(&bigger, m->slots[i].key, m->slots[i].a, m->slots[i].b);
    free(m->slots);
    *m = bigger;
    return true;
}

bool tok_pairmap_add(tok_pairmap *m, uint64_t key, int32_t a, int32_t b) {
    if (2 * (m->count + 1) > m->mask + 1 && !pairmap_grow(m)) return false;
    for (uint64_t i = tok_mix64(key) & m->mask;; i = (i + 1) & m->mask) {
        if (m->slots[i].key == key) return true;
        if (m->slots[i].key == TOK_PAIRMAP_EMPTY) {
            m->slots[i].key = key;
            m->slots[i].a = a;
            m->slots[i].b = b;
            m->count++;
            return true;
        }
    }
}

const tok_pairslot *tok_pairmap_find(const tok_pairmap *m, uint64_t key) {
    for (uint64_t i = tok_mix64(key) & m->mask;; i = (i + 1) & m->mask) {
        if (m->slots[i].key == key) return &m->slots[i];
        if (m->slots[i].key == TOK_PAIRMAP_EMPTY) return NULL;
    }
}
