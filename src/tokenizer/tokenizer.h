/*
 * tokenizer.h - text to token ids and back, token-exact with llama.cpp for the
 * same GGUF.
 *
 * Two tokenizer models are supported, chosen by tokenizer.ggml.model:
 *   "llama"  SentencePiece BPE over scores, byte fallback (<0xNN> tokens),
 *            spaces written as U+2581, an optional leading space;
 *   "gpt2"   byte-level BPE over merge ranks, after the pre-tokenizer named by
 *            tokenizer.ggml.pre splits the text into words.
 * Special (control), unknown and user-defined tokens are cut out of the text
 * before either model sees it, exactly as llama.cpp partitions text.
 *
 * A vocabulary is read-only after tok_load and may be shared by threads;
 * every encode/decode call works in its own memory.
 */
#ifndef QL_TOKENIZER_TOKENIZER_H
#define QL_TOKENIZER_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/status.h"
#include "../gguf/gguf.h"

typedef struct tok_vocab tok_vocab;

typedef enum { TOK_MODEL_SPM, TOK_MODEL_BPE } tok_model;

/* Token attributes (llama.cpp's llama_token_attr bits). */
enum {
    TOK_ATTR_UNKNOWN = 1 << 0,
    TOK_ATTR_UNUSED = 1 << 1,
    TOK_ATTR_NORMAL = 1 << 2,
    TOK_ATTR_CONTROL = 1 << 3,
    TOK_ATTR_USER_DEFINED = 1 << 4,
    TOK_ATTR_BYTE = 1 << 5,
    TOK_ATTR_LSTRIP = 1 << 7,
    TOK_ATTR_RSTRIP = 1 << 8,
};

/* Reads the vocabulary from a GGUF's tokenizer.* metadata. The vocabulary
 * copies what it needs: the file may be closed afterwards. */
ql_status tok_load(const gguf_file *f, tok_vocab **out, ql_error *err);
void tok_free(tok_vocab *vocab);

tok_model tok_model_kind(const tok_vocab *vocab);
const char *tok_model_name(const tok_vocab *vocab); /* "llama" or "gpt2" */
const char *tok_pre_name(const tok_vocab *vocab);   /* tokenizer.ggml.pre; "" for SentencePiece */
int32_t tok_n_vocab(const tok_vocab *vocab);
int32_t tok_bos(const tok_vocab *vocab);  /* -1 if the vocabulary has none */
int32_t tok_eos(const tok_vocab *vocab);  /* -1 if none */
int32_t tok_unk(const tok_vocab *vocab);  /* -1 if none */
bool tok_add_bos(const tok_vocab *vocab); /* does encoding with add_special prepend BOS? */
bool tok_add_eos(const tok_vocab *vocab); /* ... and append EOS? */
unsigned tok_token_attr(const tok_vocab *vocab, int32_t id); /* 0 for an id out of range */
/* The token's text as stored in the GGUF (not decoded); NULL for an id out of range. */
const char *tok_token_text(const tok_vocab *vocab, int32_t id, size_t *len);

/*
 * Tokenizes len bytes of text (any bytes: NUL and malformed UTF-8 are handled
 * the way llama.cpp handles them). add_special prepends BOS / appends EOS when
 * the vocabulary asks for them. parse_special also recognizes control and
 * unknown tokens written in the text; user-defined tokens are always
 * recognized (llama.cpp does both the same way). On success *ids is a
 * malloc'd array of *n_ids token ids (may be NULL when *n_ids is 0) that the
 * caller frees.
 *
 * What llama.cpp's tools pass: llama-perplexity add_special = true,
 * parse_special = false (so "<s>" in an evaluation text is text);
 * llama-tokenize add_special = !--no-bos, parse_special = true; its tokenizer
 * test suite (the golden .out files) false, false.
 */
ql_status tok_encode(const tok_vocab *vocab, const char *text, size_t len, bool add_special,
                     bool parse_special, int32_t **ids, size_t *n_ids, ql_error *err);

/*
 * The bytes a token stands for. special: also render control and unknown
 * tokens (otherwise they are empty). The pointer stays valid while the
 * vocabulary lives; returns NULL for an id out of range.
 */
const char *tok_token_to_piece(const tok_vocab *vocab, int32_t id, bool special, size_t *len);

enum {
    TOK_DECODE_SPECIAL = 1 << 0,      /* render control and unknown tokens */
    TOK_DECODE_SKIP_BOS_EOS = 1 << 1, /* drop a leading BOS / trailing EOS the vocabulary adds */
    TOK_DECODE_NO_CLEANUP = 1 << 2,   /* skip the " ," -> "," clean-up some vocabularies ask for */
};

/*
 * Detokenizes ids the way llama_detokenize does: pieces concatenated, the
 * leading space SentencePiece added removed, and for vocabularies that ask
 * for it (most byte-level BPE ones) spaces before , . ? ! and some
 * contractions removed. *text is malloc'd, NUL-terminated (the NUL is not
 * counted in *len), caller frees. An id out of range is an error.
 */
ql_status tok_decode(const tok_vocab *vocab, const int32_t *ids, size_t n_ids, unsigned flags,
                     char **text, size_t *len, ql_error *err);

/* Names accepted in tokenizer.ggml.pre, comma separated (for messages). */
const char *tok_supported_pre_names(void);

#endif
