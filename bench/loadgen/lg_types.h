/* lg_types.h -- the types of bench/loadgen, and nothing else: the run's
 * configuration (set from the flags, then once more per --procs shard), its
 * state (the stream table, the AnyTLS sessions, counters, histograms, clock
 * marks), and the records they are made of. The two instances live in
 * loadgen_main.c (loadgen.h); every function is declared in its module's
 * header. */
#ifndef LG_TYPES_H
#define LG_TYPES_H

#include <signal.h>
#include <stdint.h>
#include <sys/socket.h>

#include <openssl/ssl.h>

#include "frame.h"
#include "hist.h"
#include "padding.h"

/* How a stream reaches its target. SOCKS5 and direct: one TCP connection per
 * stream, the handshake a byte-level state machine (lg_tcp.c). AnyTLS direct
 * (--anytls): streams ride TLS sessions to the server, which are reused as the
 * reference client does (lg_anytls.c). */
enum lg_proto { PROTO_SOCKS5 = 0, PROTO_DIRECT = 1, PROTO_ANYTLS = 2 };

/* Stream states, error kinds (the report's columns, in this order) and the
 * SOCKS5 handshake sub-steps (bytes expected from the peer, in order). */
enum lg_st { ST_FREE = 0, ST_CONNECTING, ST_HANDSHAKE, ST_RESPONSE };
enum lg_ek { E_CONNECT, E_SOCKS, E_TIMEOUT, E_SHORT, E_IO, E_DROP, E_NKINDS };
enum lg_hs { HS_METHOD = 0, HS_REPLY_HEAD, HS_REPLY_ADDR, HS_DONE };

/* Latency histograms (ns): the first H_NRUN are the result, merged across
 * shards; H_IV_OPEN is the progress line's, reset every second. H_OPEN and
 * H_TOTAL hold ok streams only; H_OPEN_ALL and H_TOTAL_ALL hold every measured
 * arrival: the ok streams' latencies and every failed, timed-out or dropped one
 * at the tail value (--timeout: a stream that never opened is slower than any
 * that did), so their percentiles carry no survivor bias. */
enum lg_hist { H_CONN, H_SOCKS, H_OPEN, H_TOTAL, H_LAG, H_OPEN_ALL, H_TOTAL_ALL, H_NRUN,
               H_IV_OPEN = H_NRUN, H_N };

/* epoll data: index | gen << 32, and this bit for an AnyTLS session. */
#define LG_SESS_TAG (1ull << 63)

typedef struct lg_target {
    struct sockaddr_storage ss;
    socklen_t len;
    char text[64];
} lg_target_t;

typedef struct lg_stream {
    int fd;
    uint32_t gen;
    uint8_t st, hs, measured, unread; /* unread: data may be waiting (edge seen, not drained) */
    int tgt;
    int32_t prev, next;        /* in-flight list (by start time), or free list via next */
    int32_t sess;              /* AnyTLS mode: the session carrying it, or -1 */
    uint32_t sid;
    uint64_t t_int, t_start, t_conn, t_socks, t_first;
    uint64_t resp_got;
    uint16_t out_len, out_off; /* pending bytes to write */
    uint16_t in_need, in_got;  /* handshake bytes being gathered */
    uint8_t out[320];          /* from here on not cleared when a stream starts */
    uint8_t in[272];
} lg_stream_t;

enum lg_sess_state { SS_FREE = 0, SS_TCP, SS_TLS, SS_RUN };

/* A TLS record waiting for the session's socket. */
typedef struct lg_srec { struct lg_srec *next; uint32_t len; uint8_t data[]; } lg_srec_t;

typedef struct lg_sess {
    int fd;
    uint32_t gen;
    uint8_t state, idle, padding_done, settings_sent;
    SSL *ssl;
    frame_dec_t dec;
    uint32_t pkt, next_sid;
    int32_t cur;                 /* stream using it, or -1 */
    int32_t *slot;               /* --anytls-sessions: stream by sid & (MUX_SLOTS-1), or -1 */
    uint32_t nstreams;           /* --anytls-sessions: streams on it */
    int32_t inext, iprev;        /* idle stack (newest first) / free list */
    lg_srec_t *oq, *oq_tail;     /* TLS records waiting for the socket */
    uint64_t t_tcp;
} lg_sess_t;

/* The AnyTLS client side: TLS context, scheme in force, the session table. */
typedef struct lg_anytls {
    uint8_t pass_hash[32];
    SSL_CTX *ctx;
    SSL_SESSION *resume;         /* latest ticket: new sessions resume */
    padding_scheme_t *scheme;
    lg_sess_t *ss;
    int nss;
    int32_t free_head, idle_head;
} lg_anytls_t;

/* Counts of one run: what a --procs shard hands back and the report prints. */
typedef struct lg_counts {
    uint64_t arrivals, ok, ok_meas, err[E_NKINDS], err_meas[E_NKINDS];
    uint64_t socks_rep_bad;
    uint64_t at_opened, at_reused, at_synack_err, at_alerts;
} lg_counts_t;

/* What a --procs child leaves in shared memory for the parent. */
typedef struct lg_shard {
    lg_counts_t n;
    uint64_t t_end_arrivals, t_last_done, cpu;
    volatile uint64_t p_arr, p_ok, p_err;   /* live, for progress */
    volatile int p_live;
    int finished;
    hist_t h[H_NRUN];
} lg_shard_t;

typedef struct lg_config {
    double rate;             /* open loop arrivals/s */
    int closed;              /* closed-loop workers (0 = open loop) */
    double duration;         /* measured window, s */
    double warmup;           /* run but do not record, s (before the window) */
    uint64_t max_streams;    /* 0 = unbounded (counts arrivals, drops included) */
    int cap;                 /* max in-flight streams */
    double timeout;          /* per stream, s */
    double drain;            /* after the window, wait this long for stragglers */
    double zipf;
    uint64_t seed;
    enum lg_proto proto;
    lg_target_t proxy;
    lg_target_t *targets;
    int ntargets, targets_cap;
    uint64_t resp_size;
    int req_size;            /* total request bytes incl. "\n" (min: digits + 1) */
    int socks_pipeline;      /* greeting + CONNECT + request in one write */
    int rst_close;           /* SO_LINGER 0: close with RST, no TIME_WAIT */
    int csv_header, json, quiet;
    int procs;               /* worker processes (each a share of the load) */
    const char *label;
    /* --anytls */
    lg_target_t at_server;
    const char *at_pass;
    int at_new_session;
    int at_nmux;             /* --anytls-sessions (this process's share); 0: one stream each */
    double at_hold_idle;     /* --hold-idle seconds */
} lg_config_t;

typedef struct lg_state {
    lg_stream_t *S;          /* cfg.cap streams */
    int32_t free_head, live_head, live_tail;
    int live;
    int ep;
    lg_anytls_t at;
    lg_counts_t n;
    uint64_t iv_ok, iv_err;  /* this second's, for progress */
    hist_t *h[H_N];
    uint64_t t_begin, t_meas, t_end_arrivals, t_last_done, cpu_begin;
    volatile sig_atomic_t interrupted;
    /* --procs */
    lg_shard_t *shards;
    int shard;               /* this child's index, -1 in a single process */
    uint64_t t_begin_fixed;  /* the common start, 0 in a single process */
    /* one read buffer: single-threaded, each read is consumed before the next */
    char scratch[1 << 16];
} lg_state_t;

#endif
