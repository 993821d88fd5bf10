/* fuzz_kv.c -- the key=value text of Settings / ServerSettings frames
 * (core/kv.c), which the server reads from every client's first frame.
 *
 * Input: byte 0 picks the output capacity, then the frame body (not
 * NUL-terminated, exact-size buffer). Each key the code looks up ("v",
 * "client", "padding-md5") and a key taken from the body itself is fetched with
 * kv_get and compared with an independent reference (lines split at '\n', each
 * at its first '=', the last matching line wins). Checks the return value, the
 * truncation to cap-1 and the NUL terminator, and that nothing past out[cap) is
 * written (exact-size out buffer). */
#include "fuzz_util.h"
#include "kv.h"

/* Reference: returns the value's offset and length in text, or -1. */
static long ref_get(const char *text, size_t len, const char *key, size_t *vlen)
{
    size_t klen = strlen(key), ls = 0;
    long found = -1;

    if (len == 0)
        return -1;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && text[i] != '\n')
            continue;
        /* line is text[ls, i) */
        size_t eq = ls;
        while (eq < i && text[eq] != '=')
            eq++;
        if (eq < i && eq - ls == klen && memcmp(text + ls, key, klen) == 0) {
            found = (long)(eq + 1);
            *vlen = i - (eq + 1);
        }
        ls = i + 1;
    }
    return found;
}

static void check_key(const char *text, size_t len, const char *key, size_t cap)
{
    char *out = malloc(cap ? cap : 1);
    size_t vlen = 0;
    FUZZ_CHECK(out != NULL);
    if (cap)
        memset(out, 0x5a, cap);
    int rc = kv_get(text, len, key, out, cap);
    long off = ref_get(text, len, key, &vlen);
    if (off < 0) {
        FUZZ_CHECK(rc == -1);
    } else if (cap == 0) {
        FUZZ_CHECK(rc == 0);
    } else {
        size_t want = vlen < cap - 1 ? vlen : cap - 1;
        FUZZ_CHECK(rc >= 0 && (size_t)rc == want);
        FUZZ_CHECK(memcmp(out, text + off, want) == 0);
        FUZZ_CHECK(out[want] == '\0');
    }
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t caps[] = { 0, 1, 2, 3, 8, 33, 64, 256, 4096 };
    if (size < 1)
        return 0;
    size_t cap = caps[data[0] % (sizeof(caps) / sizeof(caps[0]))];
    size_t len = size - 1;
    char *text = fuzz_dup(data + 1, len, 0);

    check_key(text, len, "v", cap);
    check_key(text, len, "client", cap);
    check_key(text, len, "padding-md5", cap);
    check_key(text, len, "", cap);
    /* the key of the body's first line, up to its '=' (no NUL inside) */
    size_t k = 0;
    while (k < len && k < 64 && text[k] != '=' && text[k] != '\n' && text[k] != '\0')
        k++;
    char key[65];
    memcpy(key, text, k);
    key[k] = '\0';
    check_key(text, len, key, cap);

    free(text);
    return 0;
}
