/* lg_stream.c -- stream slots, the in-flight list, and the end of a stream
 * (lg_stream.h). */
#include "lg_stream.h"

#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "loadgen.h"
#include "lg_anytls.h"
#include "lg_target.h"

void lg_stream_init(void)
{
    lg_state_t *g = &lg_st;
    g->free_head = g->live_head = g->live_tail = -1;
    g->S = calloc((size_t)lg_cfg.cap, sizeof *g->S);
    if (!g->S) bench_die("out of memory");
    for (int32_t i = lg_cfg.cap - 1; i >= 0; i--) {
        g->S[i].fd = -1;
        g->S[i].next = g->free_head;
        g->free_head = i;
    }
}

static void lg_stream_unlink(int32_t i)
{
    lg_state_t *g = &lg_st;
    lg_stream_t *s = &g->S[i];
    if (s->prev >= 0) g->S[s->prev].next = s->next; else g->live_head = s->next;
    if (s->next >= 0) g->S[s->next].prev = s->prev; else g->live_tail = s->prev;
}

static void lg_stream_append(int32_t i)
{
    lg_state_t *g = &lg_st;
    lg_stream_t *s = &g->S[i];
    s->prev = g->live_tail;
    s->next = -1;
    if (g->live_tail >= 0) g->S[g->live_tail].next = i; else g->live_head = i;
    g->live_tail = i;
}

/* A failed measured arrival enters the failure-inclusive histograms at the
 * tail value: the timeout, the longest an ok stream could have taken. */
static void lg_stream_count_err(int kind, int measured)
{
    lg_st.n.err[kind]++;
    if (measured) {
        lg_st.n.err_meas[kind]++;
        uint64_t tail = lg_stream_tail_ns();
        hist_record(lg_st.h[H_OPEN_ALL], tail);
        hist_record(lg_st.h[H_TOTAL_ALL], tail);
    }
    lg_st.iv_err++;
}

uint64_t lg_stream_tail_ns(void) { return (uint64_t)(lg_cfg.timeout * 1e9); }

int32_t lg_stream_new(uint64_t t_int, uint64_t t)
{
    lg_state_t *g = &lg_st;
    g->n.arrivals++;
    int measured = t_int >= g->t_meas;
    if (g->live >= lg_cfg.cap || g->free_head < 0) {
        lg_stream_count_err(E_DROP, measured);
        return -1;
    }
    int32_t i = g->free_head;
    lg_stream_t *s = &g->S[i];
    g->free_head = s->next;
    uint32_t gen = s->gen;
    memset(s, 0, offsetof(lg_stream_t, out));
    s->gen = gen;
    s->fd = -1;
    s->measured = (uint8_t)measured;
    s->t_int = t_int;
    s->t_start = t;
    s->tgt = lg_target_draw();
    s->st = ST_CONNECTING;
    s->sess = -1;
    g->live++;
    lg_stream_append(i);
    return i;
}

static void lg_stream_free(int32_t i)
{
    lg_state_t *g = &lg_st;
    lg_stream_t *s = &g->S[i];
    lg_stream_unlink(i);
    if (s->sess >= 0)
        lg_at_stream_detach(i);
    if (s->fd >= 0) {
        if (lg_cfg.rst_close) {
            struct linger lg = {1, 0};
            setsockopt(s->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
        }
        close(s->fd);
    }
    s->fd = -1;
    s->st = ST_FREE;
    s->gen++;
    s->next = g->free_head;
    g->free_head = i;
    g->live--;
}

void lg_stream_fail(int32_t i, int kind)
{
    lg_stream_count_err(kind, lg_st.S[i].measured);
    lg_st.t_last_done = bench_now_ns();
    lg_stream_free(i);
}

void lg_stream_ok(int32_t i, uint64_t t)
{
    lg_state_t *g = &lg_st;
    lg_stream_t *s = &g->S[i];
    g->n.ok++;
    g->iv_ok++;
    if (s->measured) {
        g->n.ok_meas++;
        hist_record(g->h[H_CONN], s->t_conn - s->t_int);
        if (s->t_socks) hist_record(g->h[H_SOCKS], s->t_socks - s->t_int);
        hist_record(g->h[H_OPEN], s->t_first - s->t_int);
        hist_record(g->h[H_TOTAL], t - s->t_int);
        hist_record(g->h[H_OPEN_ALL], s->t_first - s->t_int);
        hist_record(g->h[H_TOTAL_ALL], t - s->t_int);
        hist_record(g->h[H_LAG], s->t_start - s->t_int);
    }
    hist_record(g->h[H_IV_OPEN], s->t_first - s->t_int);
    g->t_last_done = t;
    lg_stream_free(i);
}

void lg_stream_expire(uint64_t t, uint64_t lim_ns)
{
    lg_state_t *g = &lg_st;
    while (g->live_head >= 0 && t - g->S[g->live_head].t_start >= lim_ns)
        lg_stream_fail(g->live_head, E_TIMEOUT);
}

size_t lg_stream_put_request(uint8_t *p)
{
    int k = sprintf((char *)p, "%" PRIu64, lg_cfg.resp_size);
    while (k < lg_cfg.req_size - 1) p[k++] = ' ';
    p[k++] = '\n';
    return (size_t)k;
}
