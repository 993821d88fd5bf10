/* server_types.h -- the server's shared structures (types only: no functions).
 *
 * Data flows: a worker (server.c, workers.c) accepts a TLS connection and
 * makes it a session (server_session.c); the session decodes frames and opens
 * streams (server_stream.c); a stream's destination is reached through the
 * outbound layer (outbound.c: pool, resolver, dial) or is a UDP-over-TCP
 * association (server_uot.c).
 *
 * Ownership: a worker owns its sessions, their streams and the streams' target
 * sockets; nothing here is touched by another thread except the pool (shared,
 * pools/), the counters (read by the main thread for metrics) and the padding
 * scheme (replaced by a reload). A spare taken from the pool is a bare
 * connected fd; the stream that takes it registers it and closes it at the end. */
#ifndef SERVER_TYPES_H
#define SERVER_TYPES_H

#include <stdatomic.h>
#include <stdint.h>
#include <openssl/ssl.h>
#include "addr.h"
#include "admission.h"
#include "refill_gate.h"
#include "target_policy.h"
#include "auth.h"
#include "counters.h"
#include "dns.h"
#include "frame.h"
#include "loop.h"
#include "metrics.h"
#include "padding.h"
#include "pool.h"
#include "server.h"
#include "tconn.h"
#include "users.h"
#include "util.h"
#include "workers.h"

#define SESS_OUT_HIGH (512 * 1024) /* stop reading targets above this much queued to the client */
#define SESS_OUT_LOW (128 * 1024)  /* ... and resume below this */

typedef struct server server_t;
typedef struct sworker sworker_t;
typedef struct ssess ssess_t;
typedef struct sstream sstream_t;
typedef struct refill refill_t;
typedef struct fbconn fbconn_t;

/* The pool in force. Each worker holds a reference to the current one, and so
 * does every stream and refill that got its connection from it; a reload
 * (SIGHUP) installs a new pool in every worker, and the old one closes its
 * spares once its last stream is done. Counts change from several workers. */
typedef struct pool_ref {
    pool_handle_t h;
    atomic_int refs;
} pool_ref_t;

/* The user table in force (users.h), shared like the pool: the main thread and
 * every worker hold a reference; a reload (SIGHUP) installs a new one in each
 * worker (server_users.c). */
typedef struct users_ref {
    users_t *u;
    atomic_int refs;
} users_ref_t;

/* A stream's states; the transitions are drawn in server_stream.h. */
enum st_state {
    ST_ADDR,        /* waiting for the destination address (first PSH bytes) */
    ST_UOT_REQ,     /* destination is the UoT magic name: waiting for the UoT request */
    ST_RESOLVING,   /* asked the resolver for the destination's name */
    ST_WAIT_POOL,   /* target at --max-outbound-connections: retrying for a slot */
    ST_CONNECTING,  /* non-blocking connect in flight */
    ST_RELAY,       /* relaying both ways */
    ST_UDP,         /* UDP-over-TCP association */
    ST_DEAD,        /* closed; freed after this loop iteration */
};

struct sstream {
    uint32_t sid;
    uint8_t state;             /* enum st_state */
    unsigned acked : 1;        /* SYNACK sent */
    unsigned ack_later : 1;    /* relaying; the SYNACK waits for the target's first bytes */
    unsigned data_in : 1;      /* the client sent stream bytes beyond the destination */
    unsigned counted : 1;      /* pool counted it Active (stream_done owed) */
    unsigned fin_in : 1;       /* client sent FIN: close once tq is flushed */
    unsigned blocked : 1;      /* target reads paused: session output full */
    unsigned uot_connect : 1;
    unsigned tfo_deferred : 1; /* TFO dial, no SYN sent yet: it waits for the client's first bytes */
    unsigned tfo_data : 1;     /* TFO dial whose SYN carried client bytes */
    ssess_t *s;
    ioh_t tio;                 /* target socket (TCP or UDP) */
    bq_t tq;                   /* toward the target (or UoT reassembly) */
    size_t tq_acct;            /* tq.len as last added to the session's and worker's totals */
    ltimer_t timer;            /* the destination's deadline, then outbound's: pool wait,
                                  resolve and connect; relaying: the held SYNACK's */
    dns_req_t *dns;            /* the lookup in flight (RESOLVING, or a UoT name), else NULL */
    struct suot_pending *upend; /* UoT datagrams waiting for their name to resolve, or NULL */
    uint64_t started;
    uint64_t dial_us;          /* when the dial started (0: no dial) */
    addr_t dst;                /* TCP target, or the UoT request's address */
    char *key;                 /* "host:port" (pool key), once the address is known; else NULL */
    uint8_t *hdr;              /* a destination split over PSHs, gathered (STREAM_HDR_MAX); else NULL */
    uint16_t hlen;
    pool_ref_t *pool;          /* the pool it acquired from (reference held) */
    sstream_t *hnext;          /* session's stream table chain */
    sstream_t *bnext;          /* session's blocked list */
};

enum ss_state { SS_HANDSHAKE, SS_AUTH, SS_RUN, SS_DEAD };

struct ssess {
    sworker_t *w;
    tconn_t c;
    enum ss_state state;
    auth_state_t auth;
    unsigned got_settings : 1;
    unsigned out_full : 1;     /* reads paused: our output to the client is over SESS_OUT_HIGH */
    uint8_t peer_version;      /* the client's Settings v= (SYNACK only for v >= 2) */
    int16_t uid;               /* its user's id once authenticated (users.h), else -1 */
    frame_dec_t dec;
    sstream_t **tab;           /* sid -> stream, chained, grows by doubling */
    uint32_t tcap, nstreams;
    uint32_t refused;          /* streams refused at the cap (logged once, counted after) */
    uint32_t silent_streams;   /* streams closed for sending no destination (logged once) */
    size_t queued;             /* bytes its streams hold toward their targets (budget) */
    dns_owner_t dns;           /* its share of the worker's resolver (released at close) */
    sstream_t *blocked;        /* streams whose target reads wait for our output to drain */
    sstream_t *pauser;         /* stream whose full queue paused our reads */
    adm_slot_t adm;            /* its place in the pre-auth budget, until it authenticates */
    ltimer_t timer;            /* auth timeout, then stall watchdog (a stream's full queue
                                  or our own output not drained) */
    char peer[96];             /* "ADDR:PORT", then " (user NAME)" with --users-file */
    ssess_t *prev, *next;
};

/* Counters of one worker (counters.h). Written only by that worker (plain
 * load + store, no locked instruction), read by the main thread for metrics:
 * relaxed atomics. */
typedef struct wstats {
#define WSTATS_FIELD(f, ...) _Atomic uint64_t f;
    SERVER_COUNTERS(WSTATS_FIELD)
#undef WSTATS_FIELD
    _Atomic uint64_t dial_count, dial_us_sum, dial_buckets[METRICS_DIAL_BUCKETS + 1];
} wstats_t;

#define WSTAT_ADD(w, f, n) atomic_store_explicit(&(w)->st.f, \
        atomic_load_explicit(&(w)->st.f, memory_order_relaxed) + (n), memory_order_relaxed)

/* Per-user counters of one worker (counters.h USER_COUNTERS), indexed by user
 * id; same rules as wstats_t. */
typedef struct ustats {
#define USTATS_FIELD(f, ...) _Atomic uint64_t f;
    USER_COUNTERS(USTATS_FIELD)
#undef USTATS_FIELD
} ustats_t;

/* A counter of session s's user (s is authenticated). */
#define USTAT_ADD(s, f, n) atomic_store_explicit(&(s)->w->ust[(s)->uid].f, \
        atomic_load_explicit(&(s)->w->ust[(s)->uid].f, memory_order_relaxed) + (n), memory_order_relaxed)

struct sworker {
    wstats_t st;
    int id;
    server_t *srv;
    worker_t *wk;              /* the generic worker (workers.h): loop, listener, draining */
    loop_t *loop;              /* == wk->loop */
    ssess_t *sessions;
    int nsessions;             /* all, authenticated or not */
    int nauthed;               /* authenticated: what --max-sessions caps */
    size_t queued;             /* bytes its streams hold toward their targets (budget) */
    /* Lines a peer can trigger at will: one per 10 s each, the rest counted. */
    ratelog_t auth_log, cap_log, preauth_log, budget_log, user_cap_log, fallback_log;
    ustats_t *ust;             /* USERS_MAX per-user counters (server_users.c) */
    users_ref_t *users;        /* the user table in force here (reference held) */
    fbconn_t *fallbacks;       /* connections relayed to --fallback (fallback.c) */
    pool_ref_t *pool;          /* current pool (reference held) */
    dns_t *dns;                /* this worker's resolver (dns.h) */
    /* outbound.c: spare refills */
    gate_t *gate;              /* which targets may be pre-dialed now */
    dns_owner_t refill_dns;    /* refills' share of the resolver: half, so sessions keep the rest */
    ltimer_t tick;
    uint64_t dial_window;      /* second in which dials_in_window refill connects started */
    int dials_in_window;
    refill_t *refills;
    pool_dial_t dials[64];
};

struct server {
    server_config_t *cfg;
    SSL_CTX *ctx;
    users_ref_t *users;                   /* the user table in force, main thread's reference */
    /* Per user id, across workers: sessions open (--max-sessions-per-user),
     * and workers yet to clear a removed user's counters (the id is reused
     * only at 0). Atomics: every worker counts, the main thread reads. */
    _Atomic int user_sessions[USERS_MAX];
    _Atomic int user_id_pending[USERS_MAX];
    user_snapshot_t *usnap;               /* main thread: the snapshot's per-user figures */
    struct sockaddr_storage fb_addr;      /* --fallback, resolved at start */
    socklen_t fb_alen;
    _Atomic int fb_open;                  /* fallback connections, all workers (--max-fallback-connections) */
    _Atomic(padding_scheme_t *) scheme;  /* replaced by a reload */
    padding_scheme_t *retired[16];        /* replaced schemes, freed at exit */
    int nretired;
    pool_ref_t *pool;                     /* current pool, main thread's reference */
    adm_t *adm;                           /* the pre-auth budget (all workers) */
    tpol_t *tpol;                         /* which destinations may be dialed (read-only) */
    gate_seen_t *seen;                    /* targets asked for more than once (refill_gate.h) */
    int nworkers;
    sworker_t *workers;
    workers_t ws;
};

#endif
