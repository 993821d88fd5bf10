/* users.h -- the passwords the server accepts, one per named user: -p PASSWORD
 * (user "default") and the lines `name:password` of --users-file.
 *
 * What it promises:
 *  - users_find answers "whose sha256(password) is this?" in the same time for
 *    any 32 bytes: the bucket comes from a keyed hash (salt drawn at load, so a
 *    prober cannot aim at a bucket), and every bucket holds USERS_SLOTS slots,
 *    all compared in constant time (empty ones against a random dummy); the
 *    answer is selected with masks, not branches. Neither the number of users
 *    nor how many bytes of a guess match changes the work done.
 *  - A file is taken whole or not at all: the first bad line is reported as
 *    "FILE:LINE: why" (no password is ever quoted) and nothing is returned.
 *  - Ids: every user has an id in [0, USERS_MAX) that indexes per-user
 *    counters. users_adopt_ids keeps a user's id across reloads (same name)
 *    and never hands out an id the caller says is still busy.
 * A table is immutable once loaded; sharing and freeing it is the caller's. */
#ifndef USERS_H
#define USERS_H

#include <stddef.h>
#include <stdint.h>

#define USERS_MAX 1024       /* users in one table (bounds the per-user counters) */
#define USERS_NAME_MAX 32    /* bytes of a name: A-Z a-z 0-9 . _ - @ */
#define USERS_DEFAULT "default" /* the name of -p PASSWORD's user */

typedef struct users users_t;

/* default_pass (may be NULL) becomes user "default"; file (may be NULL) adds
 * its lines. NULL with a message in err if the file is unreadable or bad, or
 * if there is no user at all. */
users_t *users_load(const char *file, const char *default_pass, char *err, size_t cap);
/* The same from text (origin names it in messages). */
users_t *users_parse(const char *text, size_t len, const char *origin, const char *default_pass,
                     char *err, size_t cap);
void users_free(users_t *u);

int users_count(const users_t *u);
/* The id of the user whose password hashes to `hash`, or -1; constant time. */
int users_find(const users_t *u, const uint8_t hash[32]);
/* The name of user `id`, or NULL if this table has no such id. */
const char *users_name(const users_t *u, int id);
/* sha256 of user id's password, or NULL. */
const uint8_t *users_hash(const users_t *u, int id);

/* Gives the users of u the ids they had in old (matched by name; old may be
 * NULL) and the others the lowest ids that are neither used in u nor busy[id]
 * (busy: USERS_MAX flags, may be NULL). 0, or -1 if ids ran out (message in err). */
int users_adopt_ids(users_t *u, const users_t *old, const uint8_t *busy, char *err, size_t cap);

#endif
