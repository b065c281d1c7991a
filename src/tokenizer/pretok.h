/*
 * pretok.h - the pre-tokenizers of byte-level BPE: split text into the words
 * that BPE then merges inside, one family of split rules per
 * tokenizer.ggml.pre name.
 *
 * llama.cpp describes each family as a list of regular expressions applied in
 * turn, each one splitting every piece the previous one produced into its
 * matches and the gaps between them. Here every expression that the supported
 * families use is a hand-written matcher with the same leftmost-first
 * semantics, including llama.cpp's own fast paths for the GPT-2 and llama-3
 * patterns (which are what it actually runs for those patterns).
 */
#ifndef QL_TOKENIZER_PRETOK_H
#define QL_TOKENIZER_PRETOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    SPLIT_GPT2,    /* 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S) */
    SPLIT_LLAMA3,  /* (?i:'s|...)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
                      ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+ */
    SPLIT_QWEN2,   /* the same with \p{N} instead of \p{N}{1,3} */
    SPLIT_RUN,     /* \s?C+, C+ or C for one character class C */
    SPLIT_DIGITS3, /* [0-9][0-9][0-9] */
    SPLIT_TRAILING_SPACE, /* \s+$ */
} split_kind;

typedef enum {
    CLASS_NONE,
    CLASS_NUMBER,          /* \p{N} */
    CLASS_LETTER,          /* \p{L} */
    CLASS_PUNCTUATION,     /* \p{P} */
    CLASS_PUNCT_FALCON,    /* [\p{P}\$\+<=>\^~\|`] */
    CLASS_PUNCT_DEFAULT,   /* [\p{P}\$\+<=>\^~\|] */
    CLASS_NEWLINE,         /* [\r\n] */
    CLASS_CJK,             /* [一-龥ࠀ-一가-퟿] */
    CLASS_DEEPSEEK_LETTER, /* deepseek-llm's explicit list of cased letters */
    CLASS_DEEPSEEK_PUNCT,  /* [!-/:-~！-／：-～‘-‟　-。] */
} char_class;

typedef struct {
    split_kind kind;
    char_class cls;  /* SPLIT_RUN */
    bool space_lead; /* SPLIT_RUN: \s? in front */
    bool single;     /* SPLIT_RUN: one character per match instead of C+ */
} pretok_split;

typedef struct {
    const char *name; /* for messages */
    int n_splits;
    pretok_split splits[6];
} pretok_family;

/* What a tokenizer.ggml.pre name selects: the split family and the vocabulary
 * flags llama.cpp ties to that name. */
typedef struct {
    const char *name;
    const pretok_family *family;
    bool ignore_merges; /* a word that is itself a token is emitted whole */
    bool add_bos;       /* default for add_bos_token */
    bool clean_spaces;  /* detokenizing removes " ," etc. */
    bool no_bos;        /* the vocabulary has no BOS unless the GGUF names one */
} pretok_config;

/* The configuration for a tokenizer.ggml.pre value, or NULL if unsupported. */
const pretok_config *pretok_find(const char *name);
/* Every supported name, comma separated. */
const char *pretok_names(void);

/*
 * Splits text[0, len) into words and calls word(user, start, end) for each,
 * in order, with byte offsets into text. Words are whole UTF-8 sequences as
 * llama.cpp decodes them (malformed bytes count as one character each).
 * Stops early and returns false when word returns false.
 */
typedef bool (*pretok_word_fn)(void *user, size_t start, size_t end);
bool pretokenize(const pretok_family *family, const uint8_t *text, size_t len, pretok_word_fn word,
                 void *user);

#endif
