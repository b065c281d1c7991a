/*
 * test_sha256.c - SHA-256 against published test vectors (FIPS 180-4
 * examples and the NIST long-message vector), against sha256sum's digest of
 * the synthetic models (published in the golden data), and streaming in
 * every split against one-shot hashing.
 */
#include <stdlib.h>
#include <string.h>

#include "core/sha256.h"
#include "test.h"

static void hex_of(const void *data, size_t n, char hex[QL_SHA256_HEX_SIZE]) {
    uint8_t digest[QL_SHA256_DIGEST_SIZE];
    ql_sha256(data, n, digest);
    ql_sha256_hex(digest, hex);
}

QL_TEST(sha256_published_vectors) {
    static const struct {
        const char *message, *digest;
    } vectors[] = {
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
        {"abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqr"
         "lmnopqrsmnopqrstnopqrstu",
         "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"},
    };
    for (size_t i = 0; i < sizeof vectors / sizeof *vectors; i++) {
        char hex[QL_SHA256_HEX_SIZE];
        hex_of(vectors[i].message, strlen(vectors[i].message), hex);
        CHECK_MSG(strcmp(hex, vectors[i].digest) == 0, "sha256(\"%s\") = %s, expected %s",
                  vectors[i].message, hex, vectors[i].digest);
    }
    /* one million 'a' */
    size_t n = 1000000;
    char *a = malloc(n);
    REQUIRE(a);
    memset(a, 'a', n);
    char hex[QL_SHA256_HEX_SIZE];
    hex_of(a, n, hex);
    CHECK_MSG(strcmp(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0") == 0,
              "sha256(10^6 x 'a') = %s", hex);
    free(a);
}

QL_TEST(sha256_streaming_equals_one_shot_for_every_split) {
    /* lengths around the 55/56/64-byte padding boundaries, split at every point */
    unsigned char data[200];
    for (int i = 0; i < 200; i++) data[i] = (unsigned char)(i * 37 + 11);
    for (size_t len = 0; len <= 200; len += (len < 130 ? 1 : 7)) {
        uint8_t whole[QL_SHA256_DIGEST_SIZE];
        ql_sha256(data, len, whole);
        for (size_t split = 0; split <= len; split++) {
            ql_sha256_ctx h;
            ql_sha256_init(&h);
            ql_sha256_update(&h, data, split);
            ql_sha256_update(&h, data + split, len - split);
            uint8_t parts[QL_SHA256_DIGEST_SIZE];
            ql_sha256_final(&h, parts);
            CHECK_MSG(memcmp(whole, parts, sizeof whole) == 0, "length %zu split at %zu", len,
                      split);
        }
    }
}

QL_TEST(sha256_of_synthetic_models_matches_published_checksums) {
    size_t list_size;
    char *list =
        (char *)ql_test_read_file(ql_test_shared_path("golden/synth/models.sha256"), &list_size);
    if (!list) SKIP("no golden/synth/models.sha256 under %s", ql_test_shared_dir());
    int checked = 0;
    for (char *line = strtok(list, "\n"); line; line = strtok(NULL, "\n")) {
        char expected[65], file[128];
        if (sscanf(line, "%64s %127s", expected, file) != 2) continue;
        char path[256];
        snprintf(path, sizeof path, "build/synth/%s", file);
        size_t size;
        unsigned char *bytes = ql_test_read_file(path, &size);
        if (!bytes) continue; /* not built yet (make synth) */
        char hex[QL_SHA256_HEX_SIZE];
        hex_of(bytes, size, hex);
        free(bytes);
        CHECK_MSG(strcmp(hex, expected) == 0, "%s: %s, published %s", file, hex, expected);
        checked++;
    }
    free(list);
    if (checked == 0) SKIP("no synthetic model in build/synth (make synth)");
}
