/* server_users.c -- users at run time (server_users.h). */
#include "server_users.h"
#include "log.h"
#include "server_session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define USER_CAP_LOG_MS 10000

static users_ref_t *ref_new(users_t *u, int refs)
{
    users_ref_t *r = malloc(sizeof *r);
    if (!r) return NULL;
    r->u = u;
    atomic_init(&r->refs, refs);
    return r;
}

static void ref_put(users_ref_t *r)
{
    if (r && atomic_fetch_sub_explicit(&r->refs, 1, memory_order_acq_rel) == 1) {
        users_free(r->u);
        free(r);
    }
}

int su_start(server_t *srv, char *err, size_t cap)
{
    users_t *u = users_load(srv->cfg->users_file, srv->cfg->password, err, cap);
    if (!u) return -1;
    if (users_adopt_ids(u, NULL, NULL, err, cap) < 0 || !(srv->usnap = calloc(USERS_MAX, sizeof *srv->usnap)) ||
        !(srv->users = ref_new(u, 1))) {
        if (!err[0]) snprintf(err, cap, "out of memory");
        users_free(u);
        free(srv->usnap);
        srv->usnap = NULL;
        return -1;
    }
    for (int i = 0; i < USERS_MAX; i++) {
        atomic_init(&srv->user_sessions[i], 0);
        atomic_init(&srv->user_id_pending[i], 0);
    }
    log_info("%d user%s can authenticate%s%s%s", users_count(u), users_count(u) == 1 ? "" : "s",
             srv->cfg->users_file ? " (--users-file " : "", srv->cfg->users_file ? srv->cfg->users_file : "",
             srv->cfg->users_file ? ")" : "");
    return 0;
}

void su_stop(server_t *srv)
{
    ref_put(srv->users);   /* the main thread's reference; each worker put its own */
    srv->users = NULL;
    free(srv->usnap);
    srv->usnap = NULL;
}

int su_worker_init(sworker_t *w)
{
    w->users = w->srv->users;
    atomic_fetch_add(&w->users->refs, 1);
    w->ust = calloc(USERS_MAX, sizeof *w->ust);
    return w->ust ? 0 : -1;
}

void su_worker_free(sworker_t *w)
{
    ref_put(w->users);
    w->users = NULL;
    free(w->ust);
    w->ust = NULL;
}

int su_find(const void *users, const uint8_t hash[32])
{
    return users_find(users, hash);
}

int su_session_start(ssess_t *s, int uid)
{
    sworker_t *w = s->w;
    server_t *srv = w->srv;
    int cap = srv->cfg->max_sessions_per_user;
    const char *name = users_name(w->users->u, uid);
    if (atomic_fetch_add(&srv->user_sessions[uid], 1) >= cap && cap > 0) {
        atomic_fetch_sub(&srv->user_sessions[uid], 1);
        uint64_t held;
        WSTAT_ADD(w, user_cap_refused, 1);
        if (ratelog_allow(&w->user_cap_log, loop_now(w->loop), USER_CAP_LOG_MS, &held))
            log_warn("session %s: user %s has %d sessions open (--max-sessions-per-user); refused (%llu more "
                     "refused since the last such line)", s->peer, name, cap, (unsigned long long)held);
        return -1;
    }
    s->uid = (int16_t)uid;
    USTAT_ADD(s, sessions_open, 1);
    USTAT_ADD(s, sessions_total, 1);
    if (srv->cfg->users_file) {   /* every later line about it names the user */
        size_t n = strlen(s->peer);
        snprintf(s->peer + n, sizeof s->peer - n, " (user %s)", name);
    }
    return 0;
}

void su_session_end(ssess_t *s)
{
    if (s->uid < 0) return;
    atomic_fetch_sub(&s->w->srv->user_sessions[s->uid], 1);
    USTAT_ADD(s, sessions_open, -1);
    s->uid = -1;
}

/* ---- reload ---- */

enum { SU_KEEP = 0, SU_KICK = 1, SU_CLEAR = 2 };  /* per id: what a worker does */

typedef struct su_swap {
    sworker_t *w;
    users_ref_t *ref;
    uint8_t what[USERS_MAX];     /* SU_KICK: close its sessions; | SU_CLEAR: the user is gone */
    char why[USERS_MAX][40];     /* what the reload did to it, for the log line */
} su_swap_t;

static void swap_task(loop_t *l, void *arg)
{
    su_swap_t *sw = arg;
    sworker_t *w = sw->w;
    users_ref_t *oldref = w->users;
    const users_t *old = oldref->u;
    int closed[USERS_MAX] = {0};
    w->users = sw->ref;   /* the reference counted for this worker */
    for (ssess_t *s = w->sessions, *next; s; s = next) {
        next = s->next;
        if (s->state == SS_RUN && s->uid >= 0 && (sw->what[s->uid] & SU_KICK)) {
            closed[s->uid]++;
            sess_close(s, NULL);
        }
    }
    for (int id = 0; id < USERS_MAX; id++) {
        if (closed[id])
            log_info("worker %d: user %s %s: %d session%s closed", w->id, users_name(old, id),
                     sw->why[id], closed[id], closed[id] == 1 ? "" : "s");
        if (sw->what[id] & SU_CLEAR) {
            /* no session of it is left here: its counters start from 0 for whoever gets the id */
#define CLEAR(f, ...) atomic_store_explicit(&w->ust[id].f, 0, memory_order_relaxed);
            USER_COUNTERS(CLEAR)
#undef CLEAR
            atomic_fetch_sub(&w->srv->user_id_pending[id], 1);
        }
    }
    free(sw);
    /* the old table goes once no worker holds it (sessions keep ids, not pointers) */
    ref_put(oldref);
}

void su_reload(server_t *srv, const char *file, const char *password)
{
    char err[512] = "";
    const users_t *old = srv->users->u;
    uint8_t busy[USERS_MAX];
    for (int id = 0; id < USERS_MAX; id++)
        busy[id] = users_name(old, id) != NULL || atomic_load(&srv->user_id_pending[id]) > 0;
    users_t *u = users_load(file, password, err, sizeof err);
    if (!u || users_adopt_ids(u, old, busy, err, sizeof err) < 0) {
        log_warn("SIGHUP: %s; users not changed", err);
        users_free(u);
        return;
    }
    users_ref_t *ref = ref_new(u, 1 + srv->nworkers);
    su_swap_t *plan = calloc(1, sizeof *plan);
    if (!ref || !plan) {
        log_warn("SIGHUP: out of memory; users not changed");
        free(plan);
        free(ref);
        users_free(u);
        return;
    }
    int added = 0, removed = 0, changed = 0;
    for (int id = 0; id < USERS_MAX; id++) {
        const char *was = users_name(old, id), *is = users_name(u, id);
        if (was && !is) {
            plan->what[id] = SU_KICK | SU_CLEAR;
            snprintf(plan->why[id], sizeof plan->why[id], "removed by the reload");
            atomic_store(&srv->user_id_pending[id], srv->nworkers);
            removed++;
        } else if (was && memcmp(users_hash(old, id), users_hash(u, id), 32) != 0) {
            plan->what[id] = SU_KICK;
            snprintf(plan->why[id], sizeof plan->why[id], "given a new password by the reload");
            changed++;
        } else if (!was && is) {
            added++;
        }
    }
    for (int i = 0; i < srv->nworkers; i++) {
        /* filled in before it is posted: the worker may run it at once */
        su_swap_t *sw = malloc(sizeof *sw);
        if (sw) { *sw = *plan; sw->w = &srv->workers[i]; sw->ref = ref; }
        if (!sw || loop_post(srv->workers[i].loop, swap_task, sw) < 0) {
            /* cannot happen short of memory; that worker keeps the old table */
            free(sw);
            ref_put(ref);
            for (int id = 0; id < USERS_MAX; id++)
                if (plan->what[id] & SU_CLEAR) atomic_fetch_sub(&srv->user_id_pending[id], 1);
            log_error("SIGHUP: worker %d keeps the old users (out of memory)", i);
        }
    }
    free(plan);
    users_ref_t *oldref = srv->users;
    srv->users = ref;
    ref_put(oldref);
    log_info("[Server] Users reloaded%s%s: %d in all, %d added, %d removed, %d with a new password",
             file ? " from " : "", file ? file : "", users_count(u), added, removed, changed);
}

void su_snapshot(server_t *srv, server_snapshot_t *o)
{
    const users_t *u = srv->users->u;
    int n = 0;
    for (int id = 0; id < USERS_MAX && n < USERS_MAX; id++) {
        const char *name = users_name(u, id);
        if (!name) continue;
        user_snapshot_t *us = &srv->usnap[n++];
        memset(us, 0, sizeof *us);
        us->name = name;
        for (int i = 0; i < srv->nworkers; i++) {
            /* a worker that has not run the reload's task yet may still count an old
             * session here: the figures catch up once it has */
#define SUM(f, ...) us->f += atomic_load_explicit(&srv->workers[i].ust[id].f, memory_order_relaxed);
            USER_COUNTERS(SUM)
#undef SUM
        }
    }
    o->users = srv->usnap;
    o->nusers = n;
}
