/*
 * term.c - a pseudo-terminal runner and a screen that replays what was
 * written to it (see term.h).
 */
#include "term.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "test.h"

static double seconds_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int term_run_qlens(const char *args, int cols, term_capture *out) {
    memset(out, 0, sizeof *out);
    const int master = posix_openpt(O_RDWR | O_NOCTTY);
    if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0) {
        if (master >= 0) close(master);
        return -1;
    }
    const char *slave_name = ptsname(master);
    char cmd[8192];
    snprintf(cmd, sizeof cmd, "exec %s %s", ql_test_qlens_bin(), args);
    const double t0 = seconds_now();
    const pid_t pid = fork();
    if (pid < 0) {
        close(master);
        return -1;
    }
    if (pid == 0) {
        setsid();
        const int slave = open(slave_name, O_RDWR);
        if (slave < 0) _exit(127);
        ioctl(slave, TIOCSCTTY, 0);
        struct winsize ws = {.ws_row = 50, .ws_col = (unsigned short)cols};
        ioctl(slave, TIOCSWINSZ, &ws);
        dup2(slave, STDIN_FILENO);
        dup2(slave, STDOUT_FILENO);
        dup2(slave, STDERR_FILENO);
        if (slave > STDERR_FILENO) close(slave);
        close(master);
        unsetenv("QLENS_NO_PROGRESS");
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    size_t cap = 1 << 16;
    out->bytes = malloc(cap);
    out->arrived = malloc(cap * sizeof *out->arrived);
    for (;;) {
        char buf[4096];
        const ssize_t got = read(master, buf, sizeof buf);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) break; /* EIO once the last writer has closed the terminal */
        const double t = seconds_now() - t0;
        if (out->n + (size_t)got > cap) {
            while (out->n + (size_t)got > cap) cap *= 2;
            out->bytes = realloc(out->bytes, cap);
            out->arrived = realloc(out->arrived, cap * sizeof *out->arrived);
        }
        memcpy(out->bytes + out->n, buf, (size_t)got);
        for (ssize_t i = 0; i < got; i++) out->arrived[out->n + (size_t)i] = t;
        out->n += (size_t)got;
    }
    close(master);
    int status;
    if (waitpid(pid, &status, 0) != pid) return -1;
    out->seconds = seconds_now() - t0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void term_capture_free(term_capture *c) {
    free(c->bytes);
    free(c->arrived);
    memset(c, 0, sizeof *c);
}

void term_screen_init(term_screen *s, int cols) {
    memset(s, 0, sizeof *s);
    s->cols = cols < TERM_MAX_COLS ? cols : TERM_MAX_COLS;
    for (int r = 0; r < TERM_MAX_ROWS; r++) memset(s->cell[r], ' ', (size_t)s->cols);
    s->rows_used = 1;
}

static void line_feed(term_screen *s) {
    if (s->row + 1 < TERM_MAX_ROWS) s->row++;
    if (s->row + 1 > s->rows_used) s->rows_used = s->row + 1;
}

bool term_screen_put(term_screen *s, unsigned char c) {
    if (s->esc == 1) {
        s->esc = c == '[' ? 2 : 0;
        s->param = 0;
        s->have_param = false;
        return false;
    }
    if (s->esc == 2) {
        if (c >= '0' && c <= '9') {
            s->param = s->param * 10 + (c - '0');
            s->have_param = true;
            return false;
        }
        s->esc = 0;
        const int n = s->have_param && s->param > 0 ? s->param : 1;
        s->pending_wrap = false;
        switch (c) {
        case 'A':
            s->row = s->row - n < 0 ? 0 : s->row - n;
            break;
        case 'B':
            s->row = s->row + n >= TERM_MAX_ROWS ? TERM_MAX_ROWS - 1 : s->row + n;
            if (s->row + 1 > s->rows_used) s->rows_used = s->row + 1;
            break;
        case 'C':
            s->col = s->col + n >= s->cols ? s->cols - 1 : s->col + n;
            break;
        case 'G':
            s->col = n - 1 >= s->cols ? s->cols - 1 : n - 1;
            break;
        case 'K':
            memset(s->cell[s->row] + s->col, ' ', (size_t)(s->cols - s->col));
            return true;
        default:
            break;
        }
        return false;
    }
    if (c == 0x1b) {
        s->esc = 1;
    } else if (c == '\r') {
        s->col = 0;
        s->pending_wrap = false;
    } else if (c == '\n') {
        line_feed(s);
        s->pending_wrap = false;
    } else if (c >= 0x20 && (c & 0xC0) != 0x80) { /* UTF-8 continuation bytes take no cell */
        if (s->pending_wrap) {
            s->col = 0;
            line_feed(s);
            s->pending_wrap = false;
        }
        s->cell[s->row][s->col] = c >= 0x80 ? '?' : (char)c;
        if (s->col + 1 == s->cols)
            s->pending_wrap = true;
        else
            s->col++;
    }
    return false;
}

const char *term_screen_row(term_screen *s, int r) {
    static char row[TERM_MAX_COLS + 1];
    memcpy(row, s->cell[r], (size_t)s->cols);
    int n = s->cols;
    while (n > 0 && row[n - 1] == ' ') n--;
    row[n] = '\0';
    return row;
}

void term_screen_text(term_screen *s, char *buf, size_t size) {
    size_t used = 0;
    buf[0] = '\0';
    for (int r = 0; r < s->rows_used && used + 1 < size; r++)
        used += (size_t)snprintf(buf + used, size - used, "%s\n", term_screen_row(s, r));
}
