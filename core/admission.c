/* admission.c -- pre-auth connection budget: a counted set of addresses in an
 * open-addressing table (admission.h). */
#include "admission.h"

#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct entry {
    uint64_t key[2];
    int count;                 /* 0: free slot */
} entry_t;

struct adm {
    pthread_mutex_t mu;
    int max_total, max_per_addr, total;
    size_t cap;                /* power of two, > 2 * max_total: never full */
    entry_t *tab;
};

adm_t *adm_new(int max_total, int max_per_addr)
{
    adm_t *a = calloc(1, sizeof *a);
    if (!a) return NULL;
    a->max_total = max_total > 0 ? max_total : 1;
    a->max_per_addr = max_per_addr > 0 ? max_per_addr : 1;
    a->cap = 16;
    while (a->cap <= 2 * (size_t)a->max_total) a->cap *= 2;
    a->tab = calloc(a->cap, sizeof *a->tab);
    if (!a->tab) { free(a); return NULL; }
    pthread_mutex_init(&a->mu, NULL);
    return a;
}

void adm_free(adm_t *a)
{
    if (!a) return;
    pthread_mutex_destroy(&a->mu);
    free(a->tab);
    free(a);
}

static void addr_key(const struct sockaddr_storage *ss, uint64_t key[2])
{
    key[0] = key[1] = 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
        key[1] = 0xffff00000000ull | ntohl(s4->sin_addr.s_addr);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(s6->sin6_addr.s6_addr, mapped, 12) == 0) {   /* ::ffff:a.b.c.d is IPv4 */
            uint32_t v4;
            memcpy(&v4, s6->sin6_addr.s6_addr + 12, 4);
            key[1] = 0xffff00000000ull | ntohl(v4);
        } else {
            memcpy(&key[0], s6->sin6_addr.s6_addr, 8);          /* the /64 */
            key[1] = 1;                                         /* never a v4 key */
        }
    }
}

static size_t slot_of(const adm_t *a, const uint64_t key[2])
{
    uint64_t h = (key[0] ^ (key[1] * 0x9e3779b97f4a7c15ull)) * 0xff51afd7ed558ccdull;
    return (size_t)(h ^ (h >> 32)) & (a->cap - 1);
}

/* The entry for key, or the free slot where it would go. Linear probing;
 * deletion below keeps every probe chain unbroken. */
static entry_t *find(adm_t *a, const uint64_t key[2])
{
    for (size_t i = slot_of(a, key);; i = (i + 1) & (a->cap - 1)) {
        entry_t *e = &a->tab[i];
        if (!e->count || (e->key[0] == key[0] && e->key[1] == key[1])) return e;
    }
}

static void erase(adm_t *a, entry_t *e)
{
    size_t i = (size_t)(e - a->tab);
    e->count = 0;
    /* move later entries of the chain back into the hole (backward shift) */
    for (size_t j = (i + 1) & (a->cap - 1); a->tab[j].count; j = (j + 1) & (a->cap - 1)) {
        size_t home = slot_of(a, a->tab[j].key);
        int between = i <= j ? (i < home && home <= j) : (i < home || home <= j);
        if (between) continue;
        a->tab[i] = a->tab[j];
        a->tab[j].count = 0;
        i = j;
    }
}

int adm_enter(adm_t *a, const struct sockaddr_storage *peer, adm_slot_t *slot)
{
    uint64_t key[2];
    addr_key(peer, key);
    int r = ADM_OK;
    pthread_mutex_lock(&a->mu);
    entry_t *e = find(a, key);
    if (a->total >= a->max_total) r = ADM_FULL;
    else if (a->total >= a->max_total / 2 && e->count >= a->max_per_addr) r = ADM_ADDR_FULL;
    else {
        if (!e->count) { e->key[0] = key[0]; e->key[1] = key[1]; }
        e->count++;
        a->total++;
    }
    pthread_mutex_unlock(&a->mu);
    if (r == ADM_OK) {
        memcpy(slot->key, key, sizeof key);
        slot->held = 1;
    }
    return r;
}

void adm_leave(adm_t *a, adm_slot_t *slot)
{
    if (!slot->held) return;
    slot->held = 0;
    pthread_mutex_lock(&a->mu);
    entry_t *e = find(a, slot->key);
    if (e->count) {
        a->total--;
        if (--e->count == 0) erase(a, e);
    }
    pthread_mutex_unlock(&a->mu);
}

int adm_count(adm_t *a)
{
    pthread_mutex_lock(&a->mu);
    int n = a->total;
    pthread_mutex_unlock(&a->mu);
    return n;
}
