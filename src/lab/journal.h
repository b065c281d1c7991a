/*
 * journal.h - the sweep's record of finished work, so that a sweep killed at
 * any moment (SIGKILL included) resumes where it stopped.
 *
 * An append-only text file. The first line identifies the sweep (a hash of
 * everything that determines its results); each later line records one
 * finished step. Every line carries its own CRC-32 and is appended with a
 * single write followed by fsync, after the step's output file has been
 * renamed into place; a torn or corrupted line is ignored (its step simply
 * runs again). Lines: "<crc32 hex8> <text>\n".
 */
#ifndef QL_LAB_JOURNAL_H
#define QL_LAB_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/status.h"

typedef struct ql_journal ql_journal;

/*
 * Opens DIR/journal, creating it with the identity line if it does not
 * exist. An existing journal with another identity is an error (the
 * directory holds a different sweep).
 */
ql_status ql_journal_open(const char *path, const char *identity, ql_journal **out, ql_error *err);
void ql_journal_close(ql_journal *j);

/*
 * The identity the journal at path was made with, into buf; "" when there is
 * no journal yet (or an empty one). Fails when the file is not a journal.
 */
ql_status ql_journal_identity(const char *path, char *buf, size_t size, ql_error *err);

/* Whether a step with this exact text was recorded. */
bool ql_journal_has(const ql_journal *j, const char *step);
/* Records a finished step (durably). */
ql_status ql_journal_add(ql_journal *j, const char *step, ql_error *err);
int64_t ql_journal_steps(const ql_journal *j);

/* Parses journal bytes (for tests and fuzzing): valid lines are kept, others skipped. */
ql_status ql_journal_parse(const char *data, size_t len, const char *identity, ql_journal **out,
                           ql_error *err);

#endif
