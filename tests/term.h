/*
 * term.h - a command on a pseudo-terminal, and a small terminal screen to
 * replay what it wrote: what a person at a terminal would see, for the tests
 * of progress lines (tests/test_cli_progress.c).
 */
#ifndef QL_TESTS_TERM_H
#define QL_TESTS_TERM_H

#include <stdbool.h>
#include <stddef.h>

/* Everything a command wrote to its terminal, with when each piece arrived. */
typedef struct {
    char *bytes;
    size_t n;
    double *arrived; /* seconds since the start, per byte */
    double seconds;  /* when the command ended */
} term_capture;

/*
 * Runs `qlens ARGS` (a shell fragment) with stdout and stderr on one
 * pseudo-terminal of `cols` columns, as in an interactive shell. Returns the
 * exit status, or -1 if it could not be run.
 */
int term_run_qlens(const char *args, int cols, term_capture *out);
void term_capture_free(term_capture *c);

enum { TERM_MAX_ROWS = 200, TERM_MAX_COLS = 256 };

/*
 * The screen: printable bytes at the cursor with wrapping at the right
 * margin (the next character after a full row goes to the next row), CR, LF
 * (scrolling at the bottom), and ESC [ n A/B/C/G/K - every sequence the
 * progress line uses. Rows never scroll out: TERM_MAX_ROWS is far more than
 * a test writes.
 */
typedef struct {
    int cols, row, col, rows_used;
    bool pending_wrap;
    char cell[TERM_MAX_ROWS][TERM_MAX_COLS + 1];
    /* parser state for an escape sequence */
    int esc; /* 0 none, 1 after ESC, 2 inside ESC [ */
    int param;
    bool have_param;
} term_screen;

void term_screen_init(term_screen *s, int cols);
/* Feeds one byte; returns true when it completed an ESC [ ... K (an erase to the line's end). */
bool term_screen_put(term_screen *s, unsigned char c);
/* Row r's text without trailing blanks. */
const char *term_screen_row(term_screen *s, int r);
/* All rows up to the last used, joined by '\n', in buf. */
void term_screen_text(term_screen *s, char *buf, size_t size);

#endif
