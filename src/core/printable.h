/*
 * printable.h - text from outside qlens (file names, command-line values,
 * names read from files) made safe to show on a terminal. A file name may
 * hold a newline or an escape sequence; printed raw, it would split an error
 * into two lines or move the cursor, recolour or retitle the terminal.
 */
#ifndef QL_CORE_PRINTABLE_H
#define QL_CORE_PRINTABLE_H

#include <stddef.h>

/*
 * Copies s into out (size > 4 bytes) with every byte a terminal acts on
 * written as \xNN: C0 controls (newline, ESC, ...), DEL, the C1 controls
 * U+0080..U+009F and bytes that are not UTF-8. Other text, UTF-8 included,
 * is copied as it is. Text that does not fit ends in "...". Returns out.
 */
char *ql_printable(const char *s, char *out, size_t size);

#endif
