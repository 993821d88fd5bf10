/* client_types.h -- the structures anytls-client's modules share (types only):
 * a session toward the server (csess, client_session.c), a local proxy
 * connection (cconn, client_conn.c) and a worker thread (cworker, client.c).
 * Everything here belongs to one worker thread, except the fields said to be
 * read by other workers. */
#ifndef CLIENT_TYPES_H
#define CLIENT_TYPES_H

#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>

#include "addr.h"
#include "client.h"
#include "frame.h"
#include "loop.h"
#include "workers.h"
#include "padding.h"
#include "tconn.h"
#include "util.h"

#define LOCAL_BUF_MAX (256 * 1024)   /* toward the local app before the session pauses */
#define SESS_OUT_HIGH (512 * 1024)   /* toward the server before local reads pause */
#define SESS_OUT_LOW (128 * 1024)

typedef struct cworker cworker_t;
typedef struct csess csess_t;
typedef struct cconn cconn_t;
struct cudp;                   /* private to client_udp.c */
struct chttp;                  /* private to client_http.c */

/* The scheme in force, replaced when a server sends cmd 6 (client_scheme.c).
 * Sessions hold a reference; the count is atomic as any worker may drop it. */
typedef struct scheme_ref { padding_scheme_t *s; atomic_int refs; } scheme_ref_t;

enum cs_state { CS_HANDSHAKE, CS_RUN, CS_DEAD };
enum cc_state { CC_HS, CC_WAIT_UDP, CC_RELAY, CC_DEAD };

struct csess {
    cworker_t *w;
    tconn_t c;
    enum cs_state state;
    frame_dec_t dec;
    scheme_ref_t *scheme;
    uint32_t pkt;
    unsigned padding_done : 1;
    unsigned idle : 1;
    int peer_version;
    uint32_t next_sid;
    cconn_t *cur;
    uint64_t idle_since;
    ltimer_t timer;            /* connect/handshake timeout, then SYNACK watchdog */
    csess_t *prev, *next;      /* idle stack (prev = newer) */
};

struct cconn {
    cworker_t *w;
    ioh_t lio;
    enum cc_state state;
    uint8_t hs;                /* client_inbound.c: where the proxy handshake is */
    bq_t in;                   /* proxy handshake bytes; plain HTTP: bytes not yet framed */
    bq_t tl;                   /* toward the local app */
    bq_t early;                /* stream bytes known before the stream opened */
    addr_t dst;
    csess_t *sess;
    uint32_t sid;
    unsigned remote_fin : 1;
    unsigned local_paused : 1;
    unsigned udp : 1;
    unsigned http_fwd : 1;     /* plain-HTTP proxying: client_http.c frames each message */
    unsigned held : 1;         /* a session is taken (sess, cur) but the SYN waits for the
                                  app's first bytes, up to OPEN_HOLD_MS (client_conn.c) */
    struct chttp *http;        /* client_http.c's state, once a plain-HTTP request came */
    struct cudp *ua;           /* UDP ASSOCIATE relay (client_udp.c), NULL for streams */
    ltimer_t timer;            /* proxy handshake timeout, then the session wait */
    uint64_t attach_deadline;  /* out of fds for a session: retry until then (0: not waiting) */
    cconn_t *prev, *next;      /* worker's list of live conns */
};

struct cworker {
    int id;
    client_config_t *cfg;
    worker_t *wk;              /* the generic worker (workers.h): loop, listener */
    loop_t *loop;              /* == wk->loop */
    csess_t *idle_top;         /* newest idle session */
    int nidle;
    /* nidle as other workers see it, to send them a new local connection when
     * this worker has no idle session (sessions are reused across workers).
     * Written by this worker only, read by the others: relaxed atomics. */
    atomic_int nidle_pub;
    cworker_t *all;
    int nall;
    cconn_t *conns;
    ltimer_t check;
    uint64_t emfile_logged;    /* when "out of fds for a session" was last logged */
    SSL_CTX *ctx;
    struct sockaddr_storage *server;
    socklen_t server_len;
    const uint8_t *pass_hash;
    int draining;
};

#endif
