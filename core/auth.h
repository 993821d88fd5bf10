/* auth.h -- the server's view of the AnyTLS auth block, the first application
 * bytes of a session: sha256(password) (32), padding length (u16), padding.
 * It may arrive in any number of reads; frames may follow in the same read.
 *
 * What it promises: the 32-byte hash is judged once, when the 34-byte block
 * is complete, by a lookup the caller supplies (users.h: constant time over
 * the whole table); nothing before that point looks at the bytes' values, so
 * the work up to the decision is the same for any wrong hash, near or far. */
#ifndef AUTH_H
#define AUTH_H

#include <stddef.h>
#include <stdint.h>

typedef struct auth_state {
    uint8_t block[34];
    uint8_t got;        /* bytes of block[] received */
    int uid;            /* the lookup's answer once block[] is complete (>= 0: a user) */
    uint32_t pad_left;  /* padding bytes still to skip once block[] is complete */
} auth_state_t;

enum { AUTH_MORE = 0, AUTH_OK = 1, AUTH_BAD = -1 };

/* Who a password hash belongs to: a user id >= 0, or -1. Must take the same
 * time whatever the hash (users_find does). */
typedef int (*auth_lookup_fn)(const void *arg, const uint8_t hash[32]);

/* Feeds n bytes. AUTH_MORE: all consumed, the block (or its padding) is not
 * complete yet. AUTH_BAD: lookup found no user for the hash. AUTH_OK:
 * authenticated as user a->uid; *used bytes belonged to the block, frames start
 * at p + *used. */
int auth_feed_lookup(auth_state_t *a, auth_lookup_fn lookup, const void *arg, const uint8_t *p, size_t n,
                     size_t *used);
/* The same for one password (compared in constant time); a->uid is 0. */
int auth_feed(auth_state_t *a, const uint8_t pass_hash[32], const uint8_t *p, size_t n, size_t *used);

#endif
