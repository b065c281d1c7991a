/*
 * sha256.c - SHA-256 as specified in FIPS 180-4, section 6.2. Plain C with
 * no platform intrinsics: hashing runs at a few hundred MB/s, far below the
 * cost of producing the data it checks.
 */
#include "sha256.h"

#include <stdio.h>
#include <string.h>

static const uint32_t round_constants[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static inline uint32_t rotate_right(uint32_t x, int n) {
    return (x >> n) | (x << (32 - n));
}

static uint32_t load_be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void store_be32(uint8_t *p, uint32_t v) {
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static void compress_block(uint32_t state[8], const uint8_t block[64]) {
    uint32_t w[64];
    for (int i = 0; i < 16; i++) w[i] = load_be32(block + 4 * i);
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = rotate_right(w[i - 15], 7) ^ rotate_right(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = rotate_right(w[i - 2], 17) ^ rotate_right(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = state[0], b = state[1], c = state[2], d = state[3];
    uint32_t e = state[4], f = state[5], g = state[6], h = state[7];
    for (int i = 0; i < 64; i++) {
        uint32_t sum1 = rotate_right(e, 6) ^ rotate_right(e, 11) ^ rotate_right(e, 25);
        uint32_t choose = (e & f) ^ (~e & g);
        uint32_t t1 = h + sum1 + choose + round_constants[i] + w[i];
        uint32_t sum0 = rotate_right(a, 2) ^ rotate_right(a, 13) ^ rotate_right(a, 22);
        uint32_t majority = (a & b) ^ (a & c) ^ (b & c);
        uint32_t t2 = sum0 + majority;
        h = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    state[0] += a;
    state[1] += b;
    state[2] += c;
    state[3] += d;
    state[4] += e;
    state[5] += f;
    state[6] += g;
    state[7] += h;
}

void ql_sha256_init(ql_sha256_ctx *h) {
    static const uint32_t initial_state[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                              0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(h->state, initial_state, sizeof initial_state);
    h->n_bytes = 0;
    h->block_fill = 0;
}

void ql_sha256_update(ql_sha256_ctx *h, const void *data, size_t n) {
    const uint8_t *p = data;
    h->n_bytes += n;
    if (h->block_fill > 0) {
        size_t take = 64 - h->block_fill < n ? 64 - h->block_fill : n;
        memcpy(h->block + h->block_fill, p, take);
        h->block_fill += take;
        p += take;
        n -= take;
        if (h->block_fill < 64) return;
        compress_block(h->state, h->block);
        h->block_fill = 0;
    }
    for (; n >= 64; p += 64, n -= 64) compress_block(h->state, p);
    memcpy(h->block, p, n);
    h->block_fill = n;
}

void ql_sha256_final(ql_sha256_ctx *h, uint8_t digest[QL_SHA256_DIGEST_SIZE]) {
    uint64_t n_bits = h->n_bytes * 8;
    /* Padding: a 1 bit, zeros up to 56 bytes into a block, then the length. */
    h->block[h->block_fill++] = 0x80;
    if (h->block_fill > 56) {
        memset(h->block + h->block_fill, 0, 64 - h->block_fill);
        compress_block(h->state, h->block);
        h->block_fill = 0;
    }
    memset(h->block + h->block_fill, 0, 56 - h->block_fill);
    store_be32(h->block + 56, (uint32_t)(n_bits >> 32));
    store_be32(h->block + 60, (uint32_t)n_bits);
    compress_block(h->state, h->block);
    for (int i = 0; i < 8; i++) store_be32(digest + 4 * i, h->state[i]);
}

void ql_sha256(const void *data, size_t n, uint8_t digest[QL_SHA256_DIGEST_SIZE]) {
    ql_sha256_ctx h;
    ql_sha256_init(&h);
    ql_sha256_update(&h, data, n);
    ql_sha256_final(&h, digest);
}

char *ql_sha256_hex(const uint8_t digest[QL_SHA256_DIGEST_SIZE], char hex[QL_SHA256_HEX_SIZE]) {
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < QL_SHA256_DIGEST_SIZE; i++) {
        hex[2 * i] = digits[digest[i] >> 4];
        hex[2 * i + 1] = digits[digest[i] & 15];
    }
    hex[64] = 0;
    return hex;
}

bool ql_sha256_file_hex(const char *path, char hex[QL_SHA256_HEX_SIZE]) {
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    ql_sha256_ctx h;
    ql_sha256_init(&h);
    unsigned char buf[1 << 14];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) ql_sha256_update(&h, buf, n);
    const bool ok = !ferror(f);
    fclose(f);
    uint8_t digest[QL_SHA256_DIGEST_SIZE];
    ql_sha256_final(&h, digest);
    ql_sha256_hex(digest, hex);
    return ok;
}
