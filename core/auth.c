/* auth.c -- the auth block, gathered over reads and judged once (auth.h). */
#include "auth.h"

#include <openssl/crypto.h>
#include <string.h>

int auth_feed_lookup(auth_state_t *a, auth_lookup_fn lookup, const void *arg, const uint8_t *p, size_t n,
                     size_t *used)
{
    size_t i = 0;
    if (a->got < sizeof a->block) {
        size_t k = sizeof a->block - a->got;
        if (k > n) k = n;
        memcpy(a->block + a->got, p, k);
        a->got += (uint8_t)k;
        i = k;
        if (a->got < sizeof a->block) return AUTH_MORE;
        if ((a->uid = lookup(arg, a->block)) < 0) return AUTH_BAD;
        a->pad_left = (uint32_t)a->block[32] << 8 | a->block[33];
    }
    size_t k = n - i < a->pad_left ? n - i : a->pad_left;
    i += k;
    a->pad_left -= (uint32_t)k;
    if (a->pad_left) return AUTH_MORE;
    *used = i;
    return AUTH_OK;
}

static int one_password(const void *arg, const uint8_t hash[32])
{
    return CRYPTO_memcmp(hash, arg, 32) == 0 ? 0 : -1;
}

int auth_feed(auth_state_t *a, const uint8_t pass_hash[32], const uint8_t *p, size_t n, size_t *used)
{
    return auth_feed_lookup(a, one_password, pass_hash, p, n, used);
}
