/*
 * sha256.h - SHA-256 (FIPS 180-4), streaming and one-shot.
 *
 * Used to compare tensor data and files against published checksums, so it
 * must be the standard function bit for bit; it is tested against the FIPS
 * and NIST test vectors.
 */
#ifndef QL_CORE_SHA256_H
#define QL_CORE_SHA256_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define QL_SHA256_DIGEST_SIZE 32
#define QL_SHA256_HEX_SIZE    65 /* 64 hex digits and a NUL */

typedef struct {
    uint32_t state[8];
    uint64_t n_bytes;  /* total bytes hashed so far */
    uint8_t block[64]; /* a partial block waiting for more bytes */
    size_t block_fill;
} ql_sha256_ctx;

void ql_sha256_init(ql_sha256_ctx *h);
void ql_sha256_update(ql_sha256_ctx *h, const void *data, size_t n);
/* Writes the digest; h must be initialized again before reuse. */
void ql_sha256_final(ql_sha256_ctx *h, uint8_t digest[QL_SHA256_DIGEST_SIZE]);

/* Digest of one buffer. */
void ql_sha256(const void *data, size_t n, uint8_t digest[QL_SHA256_DIGEST_SIZE]);
/* Lowercase hex of the digest of a whole file, as sha256sum prints it; false if unreadable. */
bool ql_sha256_file_hex(const char *path, char hex[QL_SHA256_HEX_SIZE]);
/* Lowercase hex of a digest, as sha256sum prints it; returns hex. */
char *ql_sha256_hex(const uint8_t digest[QL_SHA256_DIGEST_SIZE], char hex[QL_SHA256_HEX_SIZE]);

#endif
