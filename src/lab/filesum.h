/*
 * filesum.h - a file's SHA-256, computed once and then remembered.
 *
 * A sweep identifies its inputs (the reference, the --weights files) by
 * content, so that another model under the same name and size is noticed.
 * Hashing a 10 GB model takes a while, so each checksum is kept in a small
 * cache file (a sweep's DIR/checksums) under the file's identity on disk:
 * device, inode, size, modification time and status-change time. Any write
 * to the file, a replacement by rename or copy, or a restored modification
 * time (which changes the status-change time) makes it a new entry.
 *
 * The cache file is text, one entry per line:
 *   <sha256 hex> <size> <mtime s.ns> <ctime s.ns> <device> <inode> <path as shown>
 * A line that does not parse is ignored (the file is hashed again).
 */
#ifndef QL_LAB_FILESUM_H
#define QL_LAB_FILESUM_H

#include "../core/sha256.h"
#include "../core/status.h"

typedef struct ql_sum_cache ql_sum_cache;

/* Reads the cache at path; a missing or unreadable cache is an empty one. NULL: out of memory. */
ql_sum_cache *ql_sum_cache_load(const char *path);

/* The SHA-256 of the whole file at path, from the cache when it still describes the file. */
ql_status ql_file_sha256(ql_sum_cache *c, const char *path, char hex[QL_SHA256_HEX_SIZE],
                         ql_error *err);

/* Writes the cache (atomically) to path if a checksum was added since it was loaded. */
ql_status ql_sum_cache_save(ql_sum_cache *c, const char *path, ql_error *err);

/* How many files were read and hashed (not found in the cache) since the cache was loaded. */
int ql_sum_cache_hashed(const ql_sum_cache *c);

void ql_sum_cache_free(ql_sum_cache *c);

#endif
