/* server_users.h -- the users at run time: the table each worker
 * authenticates against, per-user counters, --max-sessions-per-user, and the
 * new table a SIGHUP brings.
 *
 * What it promises:
 *  - su_start loads -p and --users-file (users.h); a bad file stops the start.
 *  - su_reload (main thread) reads them again. A bad file changes nothing (one
 *    line naming FILE:LINE). Otherwise each worker installs the new table on
 *    its own thread: new users authenticate at once; the sessions of users
 *    that are gone, or whose password changed, are closed (one line per user
 *    and worker, with the count); every other session is untouched.
 *  - A user keeps its id (and counters) while its name stays in the file; a
 *    removed user's id is handed out again only after every worker has closed
 *    its sessions and cleared its counters, so a new user never inherits
 *    figures.
 *  - --max-sessions-per-user is exact across workers (one atomic per id). */
#ifndef SERVER_USERS_H
#define SERVER_USERS_H

#include "server_types.h"

/* Main thread, before the workers start: 0, or -1 with the reason in err. */
int su_start(server_t *srv, char *err, size_t cap);
/* After the workers are gone. */
void su_stop(server_t *srv);
/* A worker's counters and table reference; 0 or -1 (out of memory). */
int su_worker_init(sworker_t *w);
void su_worker_free(sworker_t *w);   /* after its loop is freed */

/* auth_lookup_fn (auth.h) over the worker's table: pass w->users->u. */
int su_find(const void *users, const uint8_t hash[32]);
/* Session s authenticated as user uid: 0 (counted; the user's name joins
 * s->peer when a users file is in use), or -1 if the user is at
 * --max-sessions-per-user (counted, logged at most every 10 s per worker). */
int su_session_start(ssess_t *s, int uid);
/* An authenticated session closes. */
void su_session_end(ssess_t *s);

/* SIGHUP, main thread: file and password as the reloaded configuration says. */
void su_reload(server_t *srv, const char *file, const char *password);
/* Main thread: the per-user figures into o (valid until the next call). */
void su_snapshot(server_t *srv, server_snapshot_t *o);

#endif
