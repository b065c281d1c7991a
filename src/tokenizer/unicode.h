/*
 * unicode.h - the small amount of Unicode the tokenizers need: a UTF-8 decoder
 * that treats malformed input exactly as llama.cpp does, code point classes
 * (generated from the UCD into unicode_tables.c), and GPT-2's byte-to-character
 * map used by byte-level BPE.
 */
#ifndef QL_TOKENIZER_UNICODE_H
#define QL_TOKENIZER_UNICODE_H

#include <stddef.h>
#include <stdint.h>

/* One class bit per code point (its general category collapsed), plus the
 * White_Space property. The bit values mirror llama.cpp's flag layout so the
 * generated table reads the same way. */
enum {
    TOK_UCP_UNDEFINED = 0x001,   /* unassigned (Cn) or beyond U+10FFFF */
    TOK_UCP_NUMBER = 0x002,      /* \p{N} */
    TOK_UCP_LETTER = 0x004,      /* \p{L} */
    TOK_UCP_SEPARATOR = 0x008,   /* \p{Z} */
    TOK_UCP_MARK = 0x010,        /* \p{M} */
    TOK_UCP_PUNCTUATION = 0x020, /* \p{P} */
    TOK_UCP_SYMBOL = 0x040,      /* \p{S} */
    TOK_UCP_CONTROL = 0x080,     /* \p{C} except Cn */
    TOK_UCP_WHITESPACE = 0x100   /* White_Space, what the split patterns call \s */
};

typedef struct {
    uint32_t first;
    uint16_t flags;
} tok_ucp_range;

extern const char tok_unicode_version[];
extern const tok_ucp_range tok_ucp_ranges[];
extern const int tok_ucp_n_ranges;

/* Direct table of 0x110000 entries, built from the ranges on first use. */
extern const uint16_t *tok_ucp_table;
void tok_unicode_init(void);

/* Flags of a code point; TOK_UCP_UNDEFINED beyond U+10FFFF. Call
 * tok_unicode_init() once before (tok_load does). */
static inline unsigned tok_ucp_flags(uint32_t cp) {
    return cp < 0x110000 ? tok_ucp_table[cp] : TOK_UCP_UNDEFINED;
}

/* Length of a UTF-8 sequence judged by its first byte alone (continuation
 * bytes count as 1), which is how SentencePiece splits text into symbols. */
static inline size_t tok_utf8_lead_len(uint8_t b) {
    static const uint8_t len_of_high_nibble[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return len_of_high_nibble[b >> 4];
}

/*
 * Decodes the code point at s[pos] (pos < n) and stores the position after it
 * in *next. Malformed input does not stop anything: a byte that cannot start a
 * sequence, or a sequence cut short or with a bad continuation byte, yields
 * U+FFFD and advances one byte. Overlong forms and surrogates decode as
 * written (llama.cpp accepts them too), and a 4-byte form may exceed U+10FFFF.
 */
static inline uint32_t tok_utf8_decode(const uint8_t *s, size_t n, size_t pos, size_t *next) {
    uint8_t b0 = s[pos];
    if (b0 < 0x80) {
        *next = pos + 1;
        return b0;
    }
    size_t len = (b0 & 0x40) == 0   ? 0
                 : (b0 & 0x20) == 0 ? 2
                 : (b0 & 0x10) == 0 ? 3
                 : (b0 & 0x08) == 0 ? 4
                                    : 0;
    if (len == 0 || pos + len > n) {
        *next = pos + 1;
        return 0xFFFD;
    }
    uint32_t cp = b0 & (0x7Fu >> len);
    for (size_t i = 1; i < len; i++) {
        uint8_t b = s[pos + i];
        if ((b & 0xC0) != 0x80) {
            *next = pos + 1;
            return 0xFFFD;
        }
        cp = (cp << 6) | (b & 0x3F);
    }
    *next = pos + len;
    return cp;
}

/* Writes the UTF-8 form of cp (1-4 bytes) and returns its length. Code points
 * beyond U+10FFFF have no UTF-8 form; they are written as U+FFFD. */
size_t tok_utf8_encode(uint32_t cp, uint8_t out[4]);

/* GPT-2's byte-level alphabet: every byte value stands for one printable
 * code point (bytes that are printable Latin-1 stand for themselves, the rest
 * for U+0100 onwards). */
uint32_t tok_byte_to_codepoint(uint8_t byte);
/* The byte a code point of that alphabet stands for, or -1. */
int tok_codepoint_to_byte(uint32_t cp);

#endif
