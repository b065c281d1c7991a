/*
 * test_journal.c - the sweep journal survives torn and corrupted lines and
 * refuses a directory that belongs to another sweep.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lab/journal.h"
#include "test.h"

QL_TEST(journal_records_and_resumes) {
    char path[512];
    snprintf(path, sizeof path, "%s/journal", ql_test_tmpdir(t));
    ql_error err;
    ql_journal *j;
    REQUIRE_MSG(ql_journal_open(path, "id=abc", &j, &err) == QL_OK, "%s", err.msg);
    CHECK(!ql_journal_has(j, "weights Q8_0"));
    REQUIRE(ql_journal_add(j, "weights Q8_0", &err) == QL_OK);
    REQUIRE(ql_journal_add(j, "run Q8_0 f16/f16", &err) == QL_OK);
    ql_journal_close(j);

    /* a torn append (killed mid-write) and a corrupted line are dropped, the rest kept */
    FILE *f = fopen(path, "ab");
    fputs("00000000 run X corrupted\n", f);
    fputs("1234abcd run Y tor", f);
    fclose(f);
    REQUIRE_MSG(ql_journal_open(path, "id=abc", &j, &err) == QL_OK, "%s", err.msg);
    CHECK_EQ_INT(ql_journal_steps(j), 2);
    CHECK(ql_journal_has(j, "weights Q8_0"));
    CHECK(ql_journal_has(j, "run Q8_0 f16/f16"));
    CHECK(!ql_journal_has(j, "run X corrupted"));
    REQUIRE(ql_journal_add(j, "run Z", &err) == QL_OK);
    ql_journal_close(j);
    REQUIRE(ql_journal_open(path, "id=abc", &j, &err) == QL_OK);
    CHECK(ql_journal_has(j, "run Z")); /* not glued onto the torn line */
    CHECK_EQ_INT(ql_journal_steps(j), 3);
    ql_journal_close(j);

    /* another sweep's directory */
    CHECK(ql_journal_open(path, "id=other", &j, &err) == QL_ERR_MISMATCH);
    CHECK(strstr(err.msg, "other parameters") != NULL);
}

QL_TEST(journal_rejects_garbage) {
    ql_error err;
    ql_journal *j;
    const char *cases[] = {"", "hello\n", "GGUF\x03\x00", "00000000 qlens-sweep-journal 1 id\n"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        CHECK_MSG(ql_journal_parse(cases[i], strlen(cases[i]), "id", &j, &err) != QL_OK,
                  "case %zu accepted", i);
    }
}
