/*
 * printable.c - see printable.h. Backslashes are kept: messages quote
 * patterns such as 'blk\.0\.' whose backslashes the user typed, and an
 * escaped backslash there would read as a different pattern.
 */
#include "printable.h"

#include <stdbool.h>
#include <string.h>

#include "json.h"

char *ql_printable(const char *s, char *out, size_t size) {
    static const char hex[] = "0123456789abcdef";
    const size_t len = strlen(s);
    size_t o = 0, i = 0;
    while (i < len) {
        const unsigned char c = (unsigned char)s[i];
        size_t n = ql_utf8_sequence_length(s + i, len - i);
        /* U+0080..U+009F, encoded C2 80..C2 9F: CSI and the other 8-bit controls */
        const bool c1 = n == 2 && c == 0xc2 && (unsigned char)s[i + 1] < 0xa0;
        const bool escape = n == 0 || c < 0x20 || c == 0x7f || c1;
        const size_t need = escape ? 4 * (c1 ? 2 : 1) : n;
        if (o + need + 4 > size) {
            memcpy(out + o, "...", 4);
            return out;
        }
        if (!escape) {
            memcpy(out + o, s + i, n);
        } else {
            if (!n) n = 1;
            for (size_t k = 0; k < n; k++) {
                const unsigned char b = (unsigned char)s[i + k];
                out[o + 4 * k] = '\\';
                out[o + 4 * k + 1] = 'x';
                out[o + 4 * k + 2] = hex[b >> 4];
                out[o + 4 * k + 3] = hex[b & 15];
            }
        }
        o += need;
        i += n;
    }
    out[o] = '\0';
    return out;
}
