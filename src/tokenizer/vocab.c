/*
 * vocab.c - reads a vocabulary from a GGUF's tokenizer.* metadata and settles
 * everything llama.cpp settles at load time: the defaults of each tokenizer
 * model, special token ids, token attributes (including the ones it infers
 * from token text), the order special tokens are matched in, and each token's
 * piece of text.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tok_internal.h"
#include "unicode.h"

/* tokenizer.ggml.token_type values. */
enum {
    TYPE_UNDEFINED = 0,
    TYPE_NORMAL = 1,
    TYPE_UNKNOWN = 2,
    TYPE_CONTROL = 3,
    TYPE_USER_DEFINED = 4,
    TYPE_UNUSED = 5,
    TYPE_BYTE = 6,
};

static unsigned attr_of_type(int64_t type) {
    switch (type) {
    case TYPE_UNKNOWN:
        return TOK_ATTR_UNKNOWN;
    case TYPE_UNUSED:
        return TOK_ATTR_UNUSED;
    case TYPE_NORMAL:
        return TOK_ATTR_NORMAL;
    case TYPE_CONTROL:
        return TOK_ATTR_CONTROL;
    case TYPE_USER_DEFINED:
        return TOK_ATTR_USER_DEFINED;
    case TYPE_BYTE:
        return TOK_ATTR_BYTE;
    default:
        return 0;
    }
}

static int32_t find_text(const tok_vocab *v, const char *s) {
    return tok_strmap_find(&v->token_by_text, s, strlen(s));
}

static bool text_is(const tok_vocab *v, int32_t id, const char *s) {
    size_t n = strlen(s);
    return v->text_len[id] == n && memcmp(v->text_arena + v->text_off[id], s, n) == 0;
}

/* ---- reading the token list ---- */

static ql_status read_tokens(tok_vocab *v, const gguf_file *f, ql_error *err) {
    const gguf_value *tokens = gguf_get_arr(f, "tokenizer.ggml.tokens");
    if (!tokens) return ql_fail(err, QL_ERR_FORMAT, "tokenizer.ggml.tokens is missing");
    if (tokens->arr.elem_type != GGUF_TYPE_STRING)
        return ql_fail(err, QL_ERR_FORMAT, "tokenizer.ggml.tokens is not an array of strings");
    if (tokens->arr.n == 0 || tokens->arr.n > INT32_MAX / 2)
        return ql_fail(err, QL_ERR_FORMAT, "tokenizer.ggml.tokens has %" PRIu64 " tokens",
                       tokens->arr.n);
    int32_t n = (int32_t)tokens->arr.n;
    v->n_tokens = n;

    const gguf_value *scores = gguf_get_arr(f, "tokenizer.ggml.scores");
    if (gguf_find(f, "tokenizer.ggml.scores") &&
        (!scores ||
         (scores->arr.elem_type != GGUF_TYPE_FLOAT32 && scores->arr.elem_type != GGUF_TYPE_INT32)))
        return ql_fail(err, QL_ERR_FORMAT,
                       "tokenizer.ggml.scores is not an array of float32 or int32");
    if (scores && scores->arr.n < (uint64_t)n)
        return ql_fail(err, QL_ERR_FORMAT,
                       "tokenizer.ggml.scores has %" PRIu64 " entries for %d tokens", scores->arr.n,
                       n);
    const gguf_value *types = gguf_get_arr(f, "tokenizer.ggml.token_type");
    if (gguf_find(f, "tokenizer.ggml.token_type") &&
        (!types || types->arr.elem_type != GGUF_TYPE_INT32))
        return ql_fail(err, QL_ERR_FORMAT, "tokenizer.ggml.token_type is not an array of int32");
    if (types && types->arr.n < (uint64_t)n)
        return ql_fail(err, QL_ERR_FORMAT,
                       "tokenizer.ggml.token_type has %" PRIu64 " entries for %d tokens",
                       types->arr.n, n);

    /* An empty token gets a placeholder name, as llama.cpp does. */
    uint64_t total = 0;
    for (int32_t i = 0; i < n; i++) {
        uint64_t len = tokens->arr.items[i].str.len;
        total += len ? len : 32;
    }
    if (total > UINT32_MAX - 1)
        return ql_fail(err, QL_ERR_FORMAT, "tokenizer.ggml.tokens is too large (%" PRIu64 " bytes)",
                       total);
    v->text_arena = malloc(total + 1);
    v->text_off = malloc((size_t)n * sizeof *v->text_off);
    v->text_len = malloc((size_t)n * sizeof *v->text_len);
    v->scores = malloc((size_t)n * sizeof *v->scores);
    v->attr = malloc((size_t)n * sizeof *v->attr);
    if (!v->text_arena || !v->text_off || !v->text_len || !v->scores || !v->attr)
        return ql_fail(err, QL_ERR_NOMEM, "out of memory reading %d tokens", n);

    uint32_t used = 0;
    for (int32_t i = 0; i < n; i++) {
        gguf_str s = tokens->arr.items[i].str;
        v->text_off[i] = used;
        if (s.len) {
            memcpy(v->text_arena + used, s.ptr, s.len);
            used += (uint32_t)s.len;
        } else {
            used += (uint32_t)snprintf(v->text_arena + used, 32, "[EMPTY_%d]", i);
        }
        v->text_len[i] = used - v->text_off[i];

        v->scores[i] = 0.0f;
        if (scores) {
            const uint8_t *p = scores->arr.data + 4 * (size_t)i;
            if (scores->arr.elem_type == GGUF_TYPE_FLOAT32) {
                memcpy(&v->scores[i], p, 4);
            } else {
                int32_t s32;
                memcpy(&s32, p, 4);
                v->scores[i] = (float)s32;
            }
        }
        v->attr[i] = TOK_ATTR_NORMAL;
        if (types) {
            int32_t t;
            memcpy(&t, types->arr.data + 4 * (size_t)i, 4);
            v->attr[i] = attr_of_type(t);
        }
    }

    if (!tok_strmap_init(&v->token_by_text, (size_t)n, v->text_arena, v->text_off, v->text_len))
        return ql_fail(err, QL_ERR_NOMEM, "out of memory indexing %d tokens", n);
    for (int32_t i = 0; i < n; i++) {
        int32_t other = tok_strmap_add(&v->token_by_text, i);
        if (other >= 0)
            return ql_fail(err, QL_ERR_FORMAT,
                           "duplicate token in vocabulary: '%.*s' has ids %d and %d",
                           (int)(v->text_len[i] > 64 ? 64 : v->text_len[i]),
                           v->text_arena + v->text_off[i], other, i);
    }
    return QL_OK;
}

/* ---- special token ids ---- */

/* Ids that matter beyond bos/eos/unk only for deciding which tokens are
 * control tokens and which end generation. */
typedef struct {
    int32_t eot, eom, sep, pad, mask, fim_pre, fim_suf, fim_mid, fim_pad, fim_rep, fim_sep;
} other_ids;

static void read_special_id(const tok_vocab *v, const gguf_file *f, const char *key, int32_t *id) {
    /* A default outside the vocabulary means "none". */
    if (*id >= v->n_tokens) *id = -1;
    uint64_t value;
    if (!gguf_value_as_u64(gguf_find(f, key), &value)) return;
    if (value < (uint64_t)v->n_tokens) *id = (int32_t)value;
    /* A stored id outside the vocabulary keeps the default (llama.cpp warns). */
}

static void read_special_ids(tok_vocab *v, const gguf_file *f, other_ids *o) {
    read_special_id(v, f, "tokenizer.ggml.bos_token_id", &v->bos);
    read_special_id(v, f, "tokenizer.ggml.eos_token_id", &v->eos);
    read_special_id(v, f, "tokenizer.ggml.eot_token_id", &o->eot);
    read_special_id(v, f, "tokenizer.ggml.eom_token_id", &o->eom);
    read_special_id(v, f, "tokenizer.ggml.unknown_token_id", &v->unk);
    read_special_id(v, f, "tokenizer.ggml.seperator_token_id", &o->sep);
    read_special_id(v, f, "tokenizer.ggml.padding_token_id", &o->pad);
    read_special_id(v, f, "tokenizer.ggml.mask_token_id", &o->mask);
    read_special_id(v, f, "tokenizer.ggml.fim_pre_token_id", &o->fim_pre);
    read_special_id(v, f, "tokenizer.ggml.fim_suf_token_id", &o->fim_suf);
    read_special_id(v, f, "tokenizer.ggml.fim_mid_token_id", &o->fim_mid);
    read_special_id(v, f, "tokenizer.ggml.fim_pad_token_id", &o->fim_pad);
    read_special_id(v, f, "tokenizer.ggml.fim_rep_token_id", &o->fim_rep);
    read_special_id(v, f, "tokenizer.ggml.fim_sep_token_id", &o->fim_sep);
    read_special_id(v, f, "tokenizer.ggml.prefix_token_id", &o->fim_pre);
    read_special_id(v, f, "tokenizer.ggml.suffix_token_id", &o->fim_suf);
    read_special_id(v, f, "tokenizer.ggml.middle_token_id", &o->fim_mid);
}

/* ---- attributes llama.cpp infers from token text ---- */

#define END_OF_LIST NULL

static const char *const eot_texts[] = {"<|eot_id|>",
                                        "<|im_end|>",
                                        "<|end|>",
                                        "<end_of_turn>",
                                        "<|endoftext|>",
                                        "<|end_of_text|>",
                                        "<EOT>",
                                        "_<EOT>",
                                        "[EOT]",
                                        "<\xEF\xBD\x9C"
                                        "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>",
                                        "<end_of_utterance>",
                                        END_OF_LIST};
static const char *const eom_texts[] = {"<|eom_id|>", END_OF_LIST};
static const char *const fim_pre_texts[] = {"<|fim_prefix|>",
                                            "<fim-prefix>",
                                            "<fim_prefix>",
                                            "<\xEF\xBD\x9C"
                                            "fim\xE2\x96\x81"
                                            "begin\xEF\xBD\x9C>",
                                            "<PRE>",
                                            "\xE2\x96\x81<PRE>",
                                            "<|code_prefix|>",
                                            "<|prefix|>",
                                            END_OF_LIST};
static const char *const fim_suf_texts[] = {"<|fim_suffix|>",
                                            "<fim-suffix>",
                                            "<fim_suffix>",
                                            "<\xEF\xBD\x9C"
                                            "fim\xE2\x96\x81hole\xEF\xBD\x9C>",
                                            "<SUF>",
                                            "\xE2\x96\x81<SUF>",
                                            "<|code_suffix|>",
                                            "<|suffix|>",
                                            END_OF_LIST};
static const char *const fim_mid_texts[] = {"<|fim_middle|>",
                                            "<fim-middle>",
                                            "<fim_middle>",
                                            "<\xEF\xBD\x9C"
                                            "fim\xE2\x96\x81"
                                            "end\xEF\xBD\x9C>",
                                            "<MID>",
                                            "\xE2\x96\x81<MID>",
                                            "<|code_middle|>",
                                            "<|middle|>",
                                            END_OF_LIST};
static const char *const fim_pad_texts[] = {"<|fim_pad|>", "<fim-pad>", "<fim_pad>",
                                            "<PAD>",       "[PAD]",     END_OF_LIST};
static const char *const fim_rep_texts[] = {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>",
                                            "<REPO>",       "<reponame>",    END_OF_LIST};
static const char *const fim_sep_texts[] = {"<|file_sep|>", END_OF_LIST};
static const char *const eog_texts[] = {"<|eot_id|>",
                                        "<|im_end|>",
                                        "<|end|>",
                                        "<|return|>",
                                        "<|call|>",
                                        "<|flush|>",
                                        "<|calls|>",
                                        "<end_of_turn>",
                                        "<|endoftext|>",
                                        "</s>",
                                        "<|eom_id|>",
                                        "<EOT>",
                                        "_<EOT>",
                                        "[EOT]",
                                        "[EOS]",
                                        "<|end_of_text|>",
                                        "<end_of_utterance>",
                                        "<eos>",
                                        "<turn|>",
                                        "<|tool_response>",
                                        "<\xEF\xBD\x9C"
                                        "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>",
                                        "[e~[",
                                        END_OF_LIST};

/* When a role (end of turn, fill-in-the-middle prefix, ...) has no id in the
 * GGUF, the token spelled like one of these becomes it and a control token.
 * llama.cpp takes the first such token in its hash map's order; with several
 * candidates present this takes the lowest id. */
static void infer_role(tok_vocab *v, const char *const *texts, int32_t *id) {
    if (*id >= 0) return;
    for (int i = 0; texts[i]; i++) {
        int32_t t = find_text(v, texts[i]);
        if (t >= 0 && (*id < 0 || t < *id)) *id = t;
    }
    if (*id >= 0) v->attr[*id] |= TOK_ATTR_CONTROL;
}

typedef struct {
    int32_t ids[64];
    int n;
} id_set;

static void id_set_add(id_set *s, int32_t id) {
    if (id < 0) return;
    for (int i = 0; i < s->n; i++)
        if (s->ids[i] == id) return;
    if (s->n < (int)(sizeof s->ids / sizeof s->ids[0])) s->ids[s->n++] = id;
}

static int32_t id_set_find_text(const tok_vocab *v, const id_set *s, const char *text) {
    for (int i = 0; i < s->n; i++)
        if (text_is(v, s->ids[i], text)) return s->ids[i];
    return -1;
}

static void infer_attributes(tok_vocab *v, other_ids *o) {
    infer_role(v, eot_texts, &o->eot);
    infer_role(v, eom_texts, &o->eom);
    infer_role(v, fim_pre_texts, &o->fim_pre);
    infer_role(v, fim_suf_texts, &o->fim_suf);
    infer_role(v, fim_mid_texts, &o->fim_mid);
    infer_role(v, fim_pad_texts, &o->fim_pad);
    infer_role(v, fim_rep_texts, &o->fim_rep);
    infer_role(v, fim_sep_texts, &o->fim_sep);

    for (int32_t i = 0; i < v->n_tokens; i++) {
        if ((v->attr[i] & TOK_ATTR_CONTROL) &&
            memmem(v->text_arena + v->text_off[i], v->text_len[i], "unused", 6))
            v->attr[i] |= TOK_ATTR_UNUSED;
    }

    /* Tokens that end generation are control tokens whatever the file says. */
    id_set eog = {.n = 0};
    id_set_add(&eog, o->fim_pad);
    id_set_add(&eog, o->fim_rep);
    id_set_add(&eog, o->fim_sep);
    for (int i = 0; eog_texts[i]; i++) {
        int32_t t = find_text(v, eog_texts[i]);
        if (t < 0) continue;
        id_set_add(&eog, t);
        v->attr[t] |= TOK_ATTR_CONTROL;
    }

    /* gpt-oss: these are always rendered, so they are user-defined. */
    static const char *const harmony_texts[] = {"<|channel|>", "<|message|>", "<|start|>",
                                                "<|constrain|>", END_OF_LIST};
    for (int i = 0; harmony_texts[i]; i++) {
        int32_t t = find_text(v, harmony_texts[i]);
        if (t >= 0) v->attr[t] = TOK_ATTR_USER_DEFINED;
    }

    id_set_add(&eog, v->eos);
    id_set_add(&eog, o->eot);
    id_set_add(&eog, o->eom);

    /* o200k_harmony and solar-open: "<|end|>" separates messages there and is
     * an ordinary user-defined token. */
    bool has_return = id_set_find_text(v, &eog, "<|return|>") >= 0;
    bool has_call =
        id_set_find_text(v, &eog, "<|call|>") >= 0 || id_set_find_text(v, &eog, "<|calls|>") >= 0;
    bool has_flush = id_set_find_text(v, &eog, "<|flush|>") >= 0;
    int32_t end_id = id_set_find_text(v, &eog, "<|end|>");
    if (end_id >= 0 && has_call && (has_return || has_flush))
        v->attr[end_id] = TOK_ATTR_USER_DEFINED;

    /* gemma4 and paddleocr: "</s>" is an ordinary token next to "<|tool_response>". */
    int32_t s_id = id_set_find_text(v, &eog, "</s>");
    if (s_id >= 0 && id_set_find_text(v, &eog, "<|tool_response>") >= 0)
        v->attr[s_id] = TOK_ATTR_NORMAL;
}

/* ---- the special token cache ---- */

typedef struct {
    uint32_t len;
    int32_t id;
} special_key;

static int longer_text_first(const void *a, const void *b) {
    const special_key *x = a, *y = b;
    if (x->len != y->len) return x->len > y->len ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static ql_status build_special_cache(tok_vocab *v, ql_error *err) {
    int32_t n = 0;
    const unsigned wanted = TOK_ATTR_CONTROL | TOK_ATTR_USER_DEFINED | TOK_ATTR_UNKNOWN;
    for (int32_t i = 0; i < v->n_tokens; i++)
        if (v->attr[i] & wanted) n++;
    v->specials = malloc((size_t)(n ? n : 1) * sizeof *v->specials);
    special_key *keys = malloc((size_t)(n ? n : 1) * sizeof *keys);
    if (!v->specials || !keys) {
        free(keys);
        return ql_fail(err, QL_ERR_NOMEM, "out of memory");
    }
    n = 0;
    for (int32_t i = 0; i < v->n_tokens; i++)
        if (v->attr[i] & wanted) keys[n++] = (special_key){v->text_len[i], i};
    /* llama.cpp sorts by length only (std::sort, so ties fall in no set
     * order); ties here go by id, which only matters if two special tokens
     * of equal length overlap in the text. */
    qsort(keys, (size_t)n, sizeof *keys, longer_text_first);
    for (int32_t i = 0; i < n; i++) v->specials[i] = keys[i].id;
    v->n_specials = n;
    free(keys);
    return QL_OK;
}

/* ---- pieces: the bytes each token stands for ---- */

/* GPT-2 byte-level text back to bytes; a character outside the byte alphabet
 * becomes "[UNK_BYTE_0x<hex>" + the whole token text + "]" as in llama.cpp. */
static size_t decode_byte_level(const uint8_t *text, size_t n, uint8_t *out) {
    size_t w = 0, pos = 0;
    while (pos < n) {
        size_t next;
        uint32_t cp = tok_utf8_decode(text, n, pos, &next);
        int b = tok_codepoint_to_byte(cp);
        if (b >= 0) {
            if (out) out[w] = (uint8_t)b;
            w++;
        } else {
            uint8_t u[4];
            size_t ul = tok_utf8_encode(cp, u);
            char buf[32];
            int k = snprintf(buf, sizeof buf, "[UNK_BYTE_0x");
            for (size_t j = 0; j < ul; j++)
                k += snprintf(buf + k, sizeof buf - (size_t)k, "%02x", u[j]);
            if (out) memcpy(out + w, buf, (size_t)k);
            w += (size_t)k;
            if (out) memcpy(out + w, text, n);
            w += n;
            if (out) out[w] = ']';
            w++;
        }
        pos = next;
    }
    return w;
}

/* The byte a <0xNN> token stands for: the two characters after "<0x" read as
 * hex, as strtol would. */
static uint8_t byte_token_value(const char *text, size_t len) {
    char hex[3] = {0, 0, 0};
    if (len > 3) hex[0] = text[3];
    if (len > 4) hex[1] = text[4];
    return (uint8_t)strtol(hex, NULL, 16);
}

/* The piece of token id with special = true; returns its length, writing it
 * to out when out is not NULL. */
static size_t make_piece(const tok_vocab *v, int32_t id, uint8_t *out) {
    const char *text = v->text_arena + v->text_off[id];
    size_t len = v->text_len[id];
    unsigned attr = v->attr[id];
    if (attr & (TOK_ATTR_UNKNOWN | TOK_ATTR_CONTROL | TOK_ATTR_USER_DEFINED)) {
        if (out) memcpy(out, text, len);
        return len;
    }
    if (attr & TOK_ATTR_NORMAL) {
        if (v->model == TOK_MODEL_BPE) return decode_byte_level((const uint8_t *)text, len, out);
        /* SentencePiece: U+2581 back to a space. */
        size_t w = 0;
        for (size_t i = 0; i < len; i++) {
            if (i + 2 < len && memcmp(text + i, "\xE2\x96\x81", 3) == 0) {
                if (out) out[w] = ' ';
                w++;
                i += 2;
            } else {
                if (out) out[w] = (uint8_t)text[i];
                w++;
            }
        }
        return w;
    }
    if (attr & TOK_ATTR_BYTE) {
        if (out) out[0] = byte_token_value(text, len);
        return 1;
    }
    return 0;
}

static ql_status build_pieces(tok_vocab *v, ql_error *err) {
    uint64_t total = 0;
    for (int32_t i = 0; i < v->n_tokens; i++) total += make_piece(v, i, NULL);
    if (total > UINT32_MAX - 1) return ql_fail(err, QL_ERR_FORMAT, "token pieces are too large");
    v->piece_arena = malloc(total + 1);
    v->piece_off = malloc((size_t)v->n_tokens * sizeof *v->piece_off);
    v->piece_len = malloc((size_t)v->n_tokens * sizeof *v->piece_len);
    if (!v->piece_arena || !v->piece_off || !v->piece_len)
        return ql_fail(err, QL_ERR_NOMEM, "out of memory");
    uint32_t used = 0;
    for (int32_t i = 0; i < v->n_tokens; i++) {
        v->piece_off[i] = used;
        v->piece_len[i] = (uint32_t)make_piece(v, i, (uint8_t *)v->piece_arena + used);
        used += v->piece_len[i];
    }
    return QL_OK;
}

/* ---- attributes some model families set by name ---- */

static bool contains(const char *haystack, const char *needle) {
    return strstr(haystack, needle) != NULL;
}

static void set_attr_by_text(tok_vocab *v, const char *text, unsigned attr, bool on) {
    int32_t id = find_text(v, text);
    if (id < 0) return;
    if (on)
        v->attr[id] |= attr;
    else
        v->attr[id] &= ~attr;
}

static void apply_model_attributes(tok_vocab *v, const gguf_file *f) {
    char name[256] = "", arch[128] = "";
    gguf_str s;
    if (gguf_get_str(f, "general.name", &s)) gguf_str_copy(s, name, sizeof name);
    if (gguf_get_str(f, "general.architecture", &s)) gguf_str_copy(s, arch, sizeof arch);
    for (char *p = name; *p; p++) *p = (char)tolower((unsigned char)*p);

    if (contains(v->pre_name, "jina-v2-de") || contains(v->pre_name, "jina-v2-es") ||
        contains(v->pre_name, "jina-v2-code") || contains(arch, "nomic-bert-moe") ||
        contains(arch, "jina-bert-v3")) {
        set_attr_by_text(v, "<mask>", TOK_ATTR_LSTRIP, true);
    } else if (contains(name, "phi-3") || contains(name, "phi3")) {
        /* Phi-3's special tokens swallow the white space after them. */
        for (int32_t i = 0; i < v->n_specials; i++) v->attr[v->specials[i]] |= TOK_ATTR_RSTRIP;
        set_attr_by_text(v, "</s>", TOK_ATTR_RSTRIP, true);
        set_attr_by_text(v, "<unk>", TOK_ATTR_RSTRIP, false);
        set_attr_by_text(v, "<s>", TOK_ATTR_RSTRIP, false);
        set_attr_by_text(v, "<|endoftext|>", TOK_ATTR_RSTRIP, false);
    } else if (contains(name, "modern-bert")) {
        set_attr_by_text(v, "[MASK]", TOK_ATTR_LSTRIP, true);
    }
}

/* ---- tok_load ---- */

const char *tok_supported_pre_names(void) {
    return pretok_names();
}

static ql_status load(tok_vocab *v, const gguf_file *f, ql_error *err) {
    gguf_str model;
    if (!gguf_find(f, "tokenizer.ggml.model"))
        return ql_fail(err, QL_ERR_UNSUPPORTED,
                       "no tokenizer in this file (tokenizer.ggml.model is missing)");
    if (!gguf_get_str(f, "tokenizer.ggml.model", &model))
        return ql_fail(err, QL_ERR_FORMAT, "tokenizer.ggml.model is not a string");

    other_ids o = {-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1};
    const gguf_value *merges = NULL;
    if (gguf_str_eq(model, "llama")) {
        v->model = TOK_MODEL_SPM;
        v->bos = 1;
        v->eos = 2;
        v->unk = 0;
        v->add_space_prefix = true;
        v->add_bos = true;
    } else if (gguf_str_eq(model, "gpt2")) {
        v->model = TOK_MODEL_BPE;
        merges = gguf_get_arr(f, "tokenizer.ggml.merges");
        if (!merges) return ql_fail(err, QL_ERR_FORMAT, "tokenizer.ggml.merges is missing");
        if (merges->arr.elem_type != GGUF_TYPE_STRING)
            return ql_fail(err, QL_ERR_FORMAT, "tokenizer.ggml.merges is not an array of strings");
        v->bos = 11;
        v->eos = 11;
        v->unk = -1;
        v->clean_spaces = true;

        gguf_str pre;
        if (!gguf_find(f, "tokenizer.ggml.pre")) {
            snprintf(v->pre_name, sizeof v->pre_name, "default");
        } else if (!gguf_get_str(f, "tokenizer.ggml.pre", &pre)) {
            return ql_fail(err, QL_ERR_FORMAT, "tokenizer.ggml.pre is not a string");
        } else if (pre.len >= sizeof v->pre_name) {
            return ql_fail(err, QL_ERR_UNSUPPORTED,
                           "pre-tokenizer '%.*s...' is not supported (supported: %s)", 40, pre.ptr,
                           pretok_names());
        } else {
            gguf_str_copy(pre, v->pre_name, sizeof v->pre_name);
        }
        v->pretok = pretok_find(v->pre_name);
        if (!v->pretok)
            return ql_fail(err, QL_ERR_UNSUPPORTED,
                           "pre-tokenizer '%s' is not supported (supported: %s)", v->pre_name,
                           pretok_names());
        v->ignore_merges = v->pretok->ignore_merges;
        v->add_bos = v->pretok->add_bos;
        v->clean_spaces = v->pretok->clean_spaces;
        if (v->pretok->no_bos) v->bos = -1;
    } else {
        return ql_fail(err, QL_ERR_UNSUPPORTED,
                       "tokenizer model '%.*s' is not supported (supported: llama (SentencePiece), "
                       "gpt2 (byte-level BPE))",
                       (int)(model.len > 64 ? 64 : model.len), model.ptr);
    }
    bool flag;
    if (gguf_get_bool(f, "tokenizer.ggml.add_space_prefix", &flag)) v->add_space_prefix = flag;

    ql_status st = read_tokens(v, f, err);
    if (st) return st;

    read_special_ids(v, f, &o);
    if (gguf_get_bool(f, "tokenizer.ggml.add_bos_token", &flag)) v->add_bos = flag;
    if (gguf_get_bool(f, "tokenizer.ggml.add_eos_token", &flag)) v->add_eos = flag;
    if (v->add_bos && v->bos < 0)
        return ql_fail(
            err, QL_ERR_FORMAT,
            "tokenizer.ggml.add_bos_token is true, but tokenizer.ggml.bos_token_id is not set");
    if (v->add_eos && v->eos < 0)
        return ql_fail(
            err, QL_ERR_FORMAT,
            "tokenizer.ggml.add_eos_token is true, but tokenizer.ggml.eos_token_id is not set");

    infer_attributes(v, &o);
    if ((st = build_special_cache(v, err))) return st;
    if ((st = build_pieces(v, err))) return st;
    apply_model_attributes(v, f);

    return v->model == TOK_MODEL_SPM ? tok_spm_prepare(v, err) : tok_bpe_prepare(v, merges, err);
}

ql_status tok_load(const gguf_file *f, tok_vocab **out, ql_error *err) {
    *out = NULL;
    if (!f) return ql_fail(err, QL_ERR_ARG, "tok_load: no file");
    tok_unicode_init();
    tok_vocab *v = calloc(1, sizeof *v);
    if (!v) return ql_fail(err, QL_ERR_NOMEM, "out of memory");
    ql_status st = load(v, f, err);
    if (st) {
        tok_free(v);
        return st;
    }
    *out = v;
    return QL_OK;
}

void tok_free(tok_vocab *v) {
    if (!v) return;
    free(v->text_arena);
    free(v->text_off);
    free(v->text_len);
    free(v->scores);
    free(v->attr);
    tok_strmap_free(&v->token_by_text);
    free(v->piece_arena);
    free(v->piece_off);
    free(v->piece_len);
    free(v->specials);
    tok_pairmap_free(&v->spm_inner_pairs);
    free(v->bpe_symbol_arena);
    free(v->bpe_symbol_off);
    free(v->bpe_symbol_len);
    free(v->bpe_symbol_token);
    tok_pairmap_free(&v->bpe_merges);
    free(v);
}

/* ---- accessors ---- */

tok_model tok_model_kind(const tok_vocab *v) {
    return v->model;
}

const char *tok_model_name(const tok_vocab *v) {
    return v->model == TOK_MODEL_SPM ? "llama" : "gpt2";
}

const char *tok_pre_name(const tok_vocab *v) {
    return v->pre_name;
}

int32_t tok_n_vocab(const tok_vocab *v) {
    return v->n_tokens;
}

int32_t tok_bos(const tok_vocab *v) {
    return v->bos;
}

int32_t tok_eos(const tok_vocab *v) {
    return v->eos;
}

int32_t tok_unk(const tok_vocab *v) {
    return v->unk;
}

bool tok_add_bos(const tok_vocab *v) {
    return v->add_bos;
}

bool tok_add_eos(const tok_vocab *v) {
    return v->add_eos;
}

unsigned tok_token_attr(const tok_vocab *v, int32_t id) {
    return id >= 0 && id < v->n_tokens ? v->attr[id] : 0;
}

const char *tok_token_text(const tok_vocab *v, int32_t id, size_t *len) {
    if (id < 0 || id >= v->n_tokens) return NULL;
    if (len) *len = v->text_len[id];
    return v->text_arena + v->text_off[id];
}

const char *tok_token_to_piece(const tok_vocab *v, int32_t id, bool special, size_t *len) {
    if (id < 0 || id >= v->n_tokens) return NULL;
    if (!special && (v->attr[id] & (TOK_ATTR_UNKNOWN | TOK_ATTR_CONTROL))) {
        if (len) *len = 0;
        return "";
    }
    if (len) *len = v->piece_len[id];
    return v->piece_arena + v->piece_off[id];
}
