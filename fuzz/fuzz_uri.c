/* fuzz_uri.c -- the client's server argument (core/uri.c): "host:port" or
 * "anytls://password@host:port[/][?sni=NAME...][#label]", as pasted by users
 * from share links.
 *
 * Input: byte 0 picks the error buffer capacity (including none), the rest,
 * NUL-terminated in an exact-size buffer, is the string. Checks: on success
 * every field is NUL-terminated inside its array; host is non-empty and has no
 * control or space characters; port is the decimal of 1..65535 without leading
 * zeros; has_password is 0 or 1 and an empty password without it; the error
 * buffer is left empty. On failure the message is NUL-terminated within cap and
 * non-empty when cap > 1. A second parse of the same string gives the same
 * result (no hidden state). */
#include "fuzz_util.h"
#include "uri.h"

static void check_field(const char *f, size_t cap)
{
    FUZZ_CHECK(memchr(f, '\0', cap) != NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const size_t caps[] = { 0, 1, 2, 16, 64, 256 };
    if (size < 1)
        return 0;
    size_t errcap = caps[data[0] % (sizeof(caps) / sizeof(caps[0]))];
    int use_null = (data[0] >> 4) & 1 && errcap == 0;
    char *s = fuzz_dup(data + 1, size - 1, 1);
    char *err = errcap ? malloc(errcap) : NULL;
    server_uri_t u, u2;

    if (errcap)
        memset(err, 0x5a, errcap);
    int rc = uri_parse(s, &u, use_null ? NULL : err, errcap);
    FUZZ_CHECK(rc == 0 || rc == -1);
    if (rc == 0) {
        check_field(u.host, sizeof(u.host));
        check_field(u.port, sizeof(u.port));
        check_field(u.password, sizeof(u.password));
        check_field(u.sni, sizeof(u.sni));
        FUZZ_CHECK(u.host[0] != '\0');
        for (const char *p = u.host; *p; p++)
            FUZZ_CHECK((unsigned char)*p > 0x20 && *p != 0x7f);
        FUZZ_CHECK(u.port[0] >= '1' && u.port[0] <= '9');
        unsigned long port = 0;
        for (const char *p = u.port; *p; p++) {
            FUZZ_CHECK(*p >= '0' && *p <= '9');
            port = port * 10 + (unsigned long)(*p - '0');
        }
        FUZZ_CHECK(port >= 1 && port <= 65535);
        FUZZ_CHECK(u.has_password == 0 || u.has_password == 1);
        if (!u.has_password)
            FUZZ_CHECK(u.password[0] == '\0');
        if (errcap)
            FUZZ_CHECK(err[0] == '\0');
    } else if (errcap) {
        FUZZ_CHECK(memchr(err, '\0', errcap) != NULL);
        if (errcap > 1)
            FUZZ_CHECK(err[0] != '\0');
    }

    char err2[256];
    int rc2 = uri_parse(s, &u2, err2, sizeof(err2));
    FUZZ_CHECK(rc2 == rc);
    if (rc == 0)
        FUZZ_CHECK(memcmp(&u, &u2, sizeof(u)) == 0);

    free(err);
    free(s);
    return 0;
}
