/* auth.h -- the server's view of the AnyTLS auth block, the first application
 * bytes of a session: sha256(password) (32), padding length (u16), padding.
 * It may arrive in any number of reads; frames may follow in the same read. */
#ifndef AUTH_H
#define AUTH_H

#include <stddef.h>
#include <stdint.h>

typedef struct auth_state {
    uint8_t block[34];
    uint8_t got;        /* bytes of block[] received */
    uint32_t pad_left;  /* padding bytes still to skip once block[] is complete */
} auth_state_t;

enum { AUTH_MORE = 0, AUTH_OK = 1, AUTH_BAD = -1 };

/* Feeds n bytes. AUTH_MORE: all consumed, the block is not complete yet.
 * AUTH_BAD: the password hash differs (compared in constant time).
 * AUTH_OK: authenticated; *used bytes belonged to the block, frames start at
 * p + *used. */
int auth_feed(auth_state_t *a, const uint8_t pass_hash[32], const uint8_t *p, size_t n, size_t *used);

#endif
