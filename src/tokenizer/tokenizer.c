/*
 * tokenizer.c - encode and decode: cutting special tokens out of the text,
 * handing the rest to SentencePiece or byte-level BPE, adding BOS/EOS, and
 * turning ids back into text.
 */
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"

/* ---- scratch memory ---- */

static bool grow_bytes(uint8_t **p, size_t *cap, size_t n) {
    if (n <= *cap) return true;
    size_t c = *cap ? *cap : 256;
    while (c < n) c *= 2;
    uint8_t *q = realloc(*p, c);
    if (!q) return false;
    *p = q;
    *cap = c;
    return true;
}

bool tok_scratch_bytes(tok_scratch *s, size_t n) {
    if (!grow_bytes(&s->bytes, &s->bytes_cap, n)) s->out_of_memory = true;
    return !s->out_of_memory;
}

bool tok_scratch_aux(tok_scratch *s, size_t n) {
    if (!grow_bytes(&s->aux, &s->aux_cap, n)) s->out_of_memory = true;
    return !s->out_of_memory;
}

bool tok_scratch_symbols(tok_scratch *s, size_t n) {
    if (n <= s->sym_cap) return !s->out_of_memory;
    if (n > INT32_MAX) {
        s->out_of_memory = true;
        return false;
    }
    size_t c = s->sym_cap ? s->sym_cap : 64;
    while (c < n) c *= 2;
    int32_t *sym = realloc(s->sym, c * sizeof *sym);
    if (sym) s->sym = sym;
    int32_t *prev = realloc(s->prev, c * sizeof *prev);
    if (prev) s->prev = prev;
    int32_t *next = realloc(s->next, c * sizeof *next);
    if (next) s->next = next;
    uint32_t *len = realloc(s->len, c * sizeof *len);
    if (len) s->len = len;
    uint32_t *off = realloc(s->off, c * sizeof *off);
    if (off) s->off = off;
    if (!sym || !prev || !next || !len || !off) {
        s->out_of_memory = true;
        return false;
    }
    s->sym_cap = c;
    return !s->out_of_memory;
}

void tok_scratch_free(tok_scratch *s) {
    free(s->bytes);
    free(s->aux);
    free(s->sym);
    free(s->prev);
    free(s->next);
    free(s->len);
    free(s->off);
    free(s->heap);
    memset(s, 0, sizeof *s);
}

/* ---- cutting special tokens out of the text ---- */

/* The text as a list of pieces: raw text still to tokenize, or a token. */
typedef struct {
    int32_t token; /* -1 for raw text */
    int32_t next;  /* index of the following piece, -1 at the end */
    size_t off, len;
} fragment;

typedef struct {
    fragment *f;
    int32_t n, cap;
} fragment_list;

static int32_t fragment_new(fragment_list *l, int32_t token, size_t off, size_t len) {
    if (l->n == l->cap) {
        int32_t cap = l->cap ? l->cap * 2 : 16;
        if (cap < l->cap) return -1;
        fragment *p = realloc(l->f, (size_t)cap * sizeof *p);
        if (!p) return -1;
        l->f = p;
        l->cap = cap;
    }
    l->f[l->n] = (fragment){token, -1, off, len};
    return l->n++;
}

/* What C's isspace() accepts in the C locale. */
static bool is_c_space(uint8_t c) {
    return c == ' ' || (c >= '\t' && c <= '\r');
}

/*
 * Each special token in turn (longest first) is searched for in the raw
 * pieces left by the ones before it, left to right; every occurrence becomes
 * a token piece between the raw text before and after it. Tokens marked
 * lstrip/rstrip also eat the white space on that side. With parse_special
 * false only user-defined tokens are searched for.
 */
/* Which byte pairs occur in the text: a special token with a pair that does
 * not cannot occur either, and its search over the whole text is skipped. */
typedef struct {
    uint64_t bits[65536 / 64];
} byte_pair_set;

static void byte_pairs_of(const uint8_t *text, size_t len, byte_pair_set *set) {
    memset(set, 0, sizeof *set);
    for (size_t i = 0; i + 1 < len; i++) {
        unsigned pair = (unsigned)text[i] << 8 | text[i + 1];
        set->bits[pair >> 6] |= 1ull << (pair & 63);
    }
}

static bool may_occur(const byte_pair_set *set, const uint8_t *s, size_t n) {
    for (size_t i = 0; i + 1 < n; i++) {
        unsigned pair = (unsigned)s[i] << 8 | s[i + 1];
        if (!(set->bits[pair >> 6] & (1ull << (pair & 63)))) return false;
    }
    return true;
}

static bool partition(const tok_vocab *v, const uint8_t *text, size_t len, bool parse_special,
                      fragment_list *l) {
    if (len == 0) return true;
    if (fragment_new(l, -1, 0, len) < 0) return false;
    /* Worth it once searching would read the text many times over. */
    byte_pair_set *pairs = NULL;
    if (len >= 4096 && v->n_specials >= 8 && (pairs = malloc(sizeof *pairs)))
        byte_pairs_of(text, len, pairs);
    for (int32_t k = 0; k < v->n_specials; k++) {
        int32_t id = v->specials[k];
        unsigned attr = v->attr[id];
        if (!parse_special && (attr & (TOK_ATTR_CONTROL | TOK_ATTR_UNKNOWN))) continue;
        const uint8_t *tt = (const uint8_t *)v->text_arena + v->text_off[id];
        size_t tl = v->text_len[id];
        if (pairs && !may_occur(pairs, tt, tl)) continue;
        for (int32_t node = 0; node != -1; node = l->f[node].next) {
            if (l->f[node].token >= 0) continue;
            for (;;) {
                size_t off = l->f[node].off, flen = l->f[node].len;
                const uint8_t *hit = memmem(text + off, flen, tt, tl);
                if (!hit) break;
                size_t m = (size_t)(hit - text);
                size_t left_len = m - off;
                if (attr & TOK_ATTR_LSTRIP)
                    while (left_len > 0 && is_c_space(text[off + left_len - 1])) left_len--;
                size_t right_off = m + tl, right_len = off + flen - right_off;
                if (attr & TOK_ATTR_RSTRIP)
                    while (right_len > 0 && is_c_space(text[right_off])) {
                        right_off++;
                        right_len--;
                    }
                int32_t after = l->f[node].next, token_node;
                if (left_len > 0) {
                    token_node = fragment_new(l, id, 0, 0);
                    if (token_node < 0) goto out_of_memory;
                    l->f[node].len = left_len;
                    l->f[node].next = token_node;
                } else {
                    token_node = node;
                    l->f[node].token = id;
                }
                l->f[token_node].next = after;
                node = token_node;
                if (right_len == 0) break;
                int32_t right = fragment_new(l, -1, right_off, right_len);
                if (right < 0) goto out_of_memory;
                l->f[token_node].next = right;
                l->f[right].next = after;
                node = right;
            }
        }
    }
    free(pairs);
    return true;
out_of_memory:
    free(pairs);
    return false;
}

/* ---- encode ---- */

/* SentencePiece sees spaces as U+2581, and a space in front when the text
 * starts the input or follows a special token (if the vocabulary adds one). */
static void encode_spm_fragment(const tok_vocab *v, const uint8_t *text, size_t len, bool prefix,
                                tok_scratch *s, tok_out *o) {
    size_t spaces = prefix;
    for (size_t i = 0; i < len; i++) spaces += text[i] == ' ';
    size_t n = len + prefix + 2 * spaces;
    if (!tok_scratch_aux(s, n)) return;
    uint8_t *p = s->aux;
    if (prefix) {
        memcpy(p, "\xE2\x96\x81", 3);
        p += 3;
    }
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') {
            memcpy(p, "\xE2\x96\x81", 3);
            p += 3;
        } else {
            *p++ = text[i];
        }
    }
    /* The escaped text lives in aux; the SentencePiece merger only uses the
     * symbol arrays and the heap, never aux. */
    tok_spm_encode(v, s->aux, n, s, o);
}

ql_status tok_encode(const tok_vocab *v, const char *text, size_t len, bool add_special,
                     bool parse_special, int32_t **ids, size_t *n_ids, ql_error *err) {
    *ids = NULL;
    *n_ids = 0;
    if (!v || (!text && len)) return ql_fail(err, QL_ERR_ARG, "tok_encode: no vocabulary or text");
    const uint8_t *t = (const uint8_t *)text;
    fragment_list frags = {0};
    tok_scratch s = {0};
    tok_out o = {0};
    bool ok = partition(v, t, len, parse_special, &frags);

    if (ok && add_special && v->add_bos) tok_out_push(&o, v->bos);
    bool prev_special = true;
    for (int32_t i = frags.n ? 0 : -1; ok && i != -1; i = frags.f[i].next) {
        const fragment *fr = &frags.f[i];
        if (fr->token >= 0) {
            tok_out_push(&o, fr->token);
            prev_special = true;
        } else if (v->model == TOK_MODEL_SPM) {
            encode_spm_fragment(v, t + fr->off, fr->len, v->add_space_prefix && prev_special, &s,
                                &o);
            prev_special = false;
        } else {
            tok_bpe_encode(v, t + fr->off, fr->len, &s, &o);
        }
        ok = !s.out_of_memory && !o.out_of_memory;
    }
    if (ok && add_special && v->add_eos) tok_out_push(&o, v->eos);
    ok = ok && !o.out_of_memory;

    free(frags.f);
    tok_scratch_free(&s);
    if (!ok) {
        free(o.ids);
        return ql_fail(err, QL_ERR_NOMEM, "out of memory tokenizing %zu bytes", len);
    }
    *ids = o.ids;
    *n_ids = o.n;
    return QL_OK;
}

/* ---- decode ---- */

/* The clean-up llama.cpp applies for vocabularies with clean_spaces, in its
 * three passes over the text in place (later passes see what earlier ones
 * left, including the NUL the second pass writes over a skipped space). */
static size_t clean_up_spaces(char *t, size_t total) {
    /* " ?", " !", " .", " ," lose the space. */
    size_t n = total;
    total = n ? 1 : 0;
    for (size_t i = 1; i < n; i++) {
        char x = t[i];
        if (t[i - 1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ',')) total--;
        t[total++] = x;
    }
    /* " ' " loses both spaces. */
    n = total;
    total = n ? 1 : 0;
    for (size_t i = 1; i < n; i++) {
        char x = t[i];
        if (x == '\'' && i + 1 < n && t[i - 1] == ' ' && t[i + 1] == ' ') {
            total--;
            t[++i] = '\0';
        }
        t[total++] = x;
    }
    /* " 's", " 'm", " 're", " 've" lose the space (" 't", " 'd", " 'll" keep it). */
    n = total;
    total = n ? 1 : 0;
    for (size_t i = 1; i < n; i++) {
        char x = t[i];
        if (t[i - 1] == ' ' && x == '\'' && i + 1 < n) {
            char x1 = t[i + 1];
            if (x1 == 's' || x1 == 'm') {
                total--;
            } else if (x1 != 't' && x1 != 'd' && i + 2 < n) {
                char x2 = t[i + 2];
                if ((x1 == 'r' && x2 == 'e') || (x1 == 'v' && x2 == 'e')) total--;
            }
        }
        t[total++] = x;
    }
    return total;
}

ql_status tok_decode(const tok_vocab *v, const int32_t *ids, size_t n_ids, unsigned flags,
                     char **text, size_t *len, ql_error *err) {
    *text = NULL;
    *len = 0;
    bool special = flags & TOK_DECODE_SPECIAL;
    bool remove_space = v->add_space_prefix;
    if ((flags & TOK_DECODE_SKIP_BOS_EOS) && v->add_bos && n_ids > 0 && ids[0] == v->bos) {
        /* llama.cpp keeps the space after a removed BOS. */
        remove_space = false;
        ids++;
        n_ids--;
    }
    if ((flags & TOK_DECODE_SKIP_BOS_EOS) && v->add_eos && n_ids > 0 && ids[n_ids - 1] == v->eos)
        n_ids--;

    size_t total = 0;
    for (size_t i = 0; i < n_ids; i++) {
        size_t pl;
        if (!tok_token_to_piece(v, ids[i], special, &pl))
            return ql_fail(err, QL_ERR_ARG, "token id %d is outside the vocabulary (0..%d)", ids[i],
                           v->n_tokens - 1);
        total += pl;
    }
    char *out = malloc(total + 1);
    if (!out) return ql_fail(err, QL_ERR_NOMEM, "out of memory detokenizing %zu tokens", n_ids);
    size_t w = 0;
    for (size_t i = 0; i < n_ids; i++) {
        size_t pl;
        const char *p = tok_token_to_piece(v, ids[i], special, &pl);
        if (remove_space && pl > 0 && p[0] == ' ') {
            p++;
            pl--;
        }
        remove_space = false;
        memcpy(out + w, p, pl);
        w += pl;
    }
    if (v->clean_spaces && !(flags & TOK_DECODE_NO_CLEANUP)) w = clean_up_spaces(out, w);
    out[w] = '\0';
    *text = out;
    *len = w;
    return QL_OK;
}
