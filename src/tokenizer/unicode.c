/*
 * unicode.c - expands the generated code point ranges into a lookup table and
 * implements UTF-8 encoding and GPT-2's byte-level alphabet.
 */
#include "unicode.h"

#include <pthread.h>

/* 2.2 MB, filled once: one load per code point is what keeps pre-tokenizing
 * wikitext well under the time budget (a binary search over the ~3000 ranges
 * would cost a dozen probes per character). */
static uint16_t ucp_table_storage[0x110000];
const uint16_t *tok_ucp_table = ucp_table_storage;

static pthread_once_t ucp_table_once = PTHREAD_ONCE_INIT;

static void fill_ucp_table(void) {
    for (int i = 0; i < tok_ucp_n_ranges; i++) {
        uint32_t end = i + 1 < tok_ucp_n_ranges ? tok_ucp_ranges[i + 1].first : 0x110000;
        for (uint32_t cp = tok_ucp_ranges[i].first; cp < end; cp++)
            ucp_table_storage[cp] = tok_ucp_ranges[i].flags;
    }
}

void tok_unicode_init(void) {
    pthread_once(&ucp_table_once, fill_ucp_table);
}

size_t tok_utf8_encode(uint32_t cp, uint8_t out[4]) {
    if (cp < 0x80) {
        out[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (uint8_t)(0xC0 | (cp >> 6));
        out[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp > 0x10FFFF) cp = 0xFFFD;
    if (cp < 0x10000) {
        out[0] = (uint8_t)(0xE0 | (cp >> 12));
        out[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (uint8_t)(0xF0 | (cp >> 18));
    out[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

/* Bytes in these ranges are printable and stand for themselves. */
static int byte_is_printable_latin1(unsigned b) {
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

uint32_t tok_byte_to_codepoint(uint8_t byte) {
    if (byte_is_printable_latin1(byte)) return byte;
    /* The others are numbered upwards from U+0100 in byte order. */
    uint32_t n = 0;
    for (unsigned b = 0; b < byte; b++)
        if (!byte_is_printable_latin1(b)) n++;
    return 0x100 + n;
}

int tok_codepoint_to_byte(uint32_t cp) {
    if (cp < 0x100) return byte_is_printable_latin1(cp) ? (int)cp : -1;
    uint32_t n = 0;
    for (unsigned b = 0; b < 256; b++) {
        if (byte_is_printable_latin1(b)) continue;
        if (0x100 + n == cp) return (int)b;
        n++;
    }
    return -1;
}
