/*
 * main.c - the test runner. Every QL_TEST is run in its own child process
 * (a crash fails that test, not the run), up to -j at a time, with its
 * output captured and shown when it fails. Ends with "N passed, N failed".
 *
 * usage: qlens-test [-j N] [-v] [-l] [FILTER...]   (FILTER: substring of test names)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test.h"

#define X(name) void ql_test_##name(ql_test_ctx *t);
#include "registry.h"
#undef X

typedef struct {
    const char *name;
    void (*fn)(ql_test_ctx *);
} test_entry;

static const test_entry all_tests[] = {
#define X(name) {#name, ql_test_##name},
#include "registry.h"
#undef X
};
enum { N_TESTS = sizeof all_tests / sizeof all_tests[0] };

void ql_test_failf(ql_test_ctx *t, const char *file, int line, const char *fmt, ...) {
    t->failures++;
    if (t->failures > 20) {
        if (t->failures == 21) printf("  ... further failures not shown\n");
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    printf("  %s:%d: ", file, line);
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    fflush(stdout);
}

void ql_test_skip(ql_test_ctx *t, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    t->skipped = true;
    vsnprintf(t->skip_reason, sizeof t->skip_reason, fmt, ap);
    va_end(ap);
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Exit codes of a test child: 0 pass, 1 fail, 3 skipped. */
static int run_child(const test_entry *e, const char *log_path) {
    int fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        close(fd);
    }
    ql_test_ctx ctx = {.name = e->name};
    e->fn(&ctx);
    fflush(stdout);
    fflush(stderr);
    if (ctx.skipped && ctx.failures == 0) {
        printf("SKIP: %s\n", ctx.skip_reason);
        fflush(stdout);
        _exit(3);
    }
    if (ctx.failures == 0 && ctx.checks == 0) {
        printf("  test made no checks\n");
        fflush(stdout);
        _exit(1);
    }
    _exit(ctx.failures ? 1 : 0);
}

typedef struct {
    pid_t pid;
    int index;
    double start;
} running;

static void print_log(const char *path, bool indent_only_failures) {
    (void)indent_only_failures;
    FILE *f = fopen(path, "r");
    if (!f) return;
    char line[4096];
    while (fgets(line, sizeof line, f)) fputs(line, stdout);
    fclose(f);
}

static bool matches(const char *name, int n_filters, char **filters) {
    if (n_filters == 0) return true;
    for (int i = 0; i < n_filters; i++)
        if (strstr(name, filters[i])) return true;
    return false;
}

int main(int argc, char **argv) {
    int jobs = 1;
    bool verbose = false;
    char *filters[64];
    int n_filters = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-j") == 0 && i + 1 < argc) {
            jobs = atoi(argv[++i]);
            if (jobs < 1) jobs = 1;
        } else if (strncmp(argv[i], "-j", 2) == 0 && argv[i][2]) {
            jobs = atoi(argv[i] + 2);
            if (jobs < 1) jobs = 1;
        } else if (strcmp(argv[i], "-v") == 0) {
            verbose = true;
        } else if (strcmp(argv[i], "-l") == 0) {
            for (int k = 0; k < N_TESTS; k++) printf("%s\n", all_tests[k].name);
            return 0;
        } else if (n_filters < 64) {
            filters[n_filters++] = argv[i];
        }
    }
    mkdir("build", 0755);
    mkdir("build/test-tmp", 0755);
    mkdir("build/test-tmp/logs", 0755);

    int passed = 0, failed = 0, skipped = 0;
    running *slots = calloc((size_t)jobs, sizeof *slots);
    int next = 0, active = 0;
    double t0 = now_s();
    for (;;) {
        while (active < jobs && next < N_TESTS) {
            int idx = next++;
            if (!matches(all_tests[idx].name, n_filters, filters)) continue;
            char log_path[512];
            snprintf(log_path, sizeof log_path, "build/test-tmp/logs/%s.log", all_tests[idx].name);
            fflush(stdout);
            pid_t pid = fork();
            if (pid == 0) run_child(&all_tests[idx], log_path);
            if (pid < 0) {
                printf("FAIL %s (cannot fork: %s)\n", all_tests[idx].name, strerror(errno));
                failed++;
                continue;
            }
            for (int s = 0; s < jobs; s++) {
                if (slots[s].pid == 0) {
                    slots[s] = (running){pid, idx, now_s()};
                    break;
                }
            }
            active++;
        }
        if (active == 0) break;
        int status;
        struct rusage ru;
        pid_t pid = wait4(-1, &status, 0, &ru);
        if (pid < 0) break;
        for (int s = 0; s < jobs; s++) {
            if (slots[s].pid != pid) continue;
            const test_entry *e = &all_tests[slots[s].index];
            double dt = now_s() - slots[s].start;
            /* CPU time of the test and the commands it ran: what it costs on an idle machine */
            const double cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec * 1e-6 +
                               (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec * 1e-6;
            char log_path[512];
            snprintf(log_path, sizeof log_path, "build/test-tmp/logs/%s.log", e->name);
            if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
                passed++;
                printf("PASS %-48s %7.2fs  cpu %7.2fs\n", e->name, dt, cpu);
                if (verbose) print_log(log_path, false);
            } else if (WIFEXITED(status) && WEXITSTATUS(status) == 3) {
                skipped++;
                printf("SKIP %-48s %7.2fs  cpu %7.2fs\n", e->name, dt, cpu);
                print_log(log_path, false);
            } else {
                failed++;
                if (WIFSIGNALED(status))
                    printf("FAIL %-48s %7.2fs  cpu %7.2fs (killed by signal %d)\n", e->name, dt,
                           cpu, WTERMSIG(status));
                else
                    printf("FAIL %-48s %7.2fs  cpu %7.2fs\n", e->name, dt, cpu);
                print_log(log_path, true);
            }
            fflush(stdout);
            slots[s].pid = 0;
            active--;
            break;
        }
    }
    free(slots);
    if (passed + failed + skipped == 0) {
        printf("no test matches the filter\n");
        failed = 1;
    }
    printf("\nran in %.1fs", now_s() - t0);
    if (skipped) printf(", %d skipped", skipped);
    printf("\n%d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
