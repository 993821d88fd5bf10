/* padding.h -- the AnyTLS padding scheme: parse the text, draw record sizes, and
 * cut a client write into the records the scheme asks for. */
#ifndef PADDING_H
#define PADDING_H

#include <stdint.h>
#include <stddef.h>

#define PADDING_CHECK (-1)      /* the "c" item */
#define PADDING_MAX_LINE 64     /* items kept per line (more are ignored) */
#define PADDING_MAX_PKTS 64     /* lines 0..63 */

typedef struct padding_range { int32_t min, max; } padding_range_t; /* min==max==-1: "c" */

typedef struct padding_scheme {
    uint32_t stop;
    char md5[33];                               /* hex of md5(raw) */
    char *raw;  size_t raw_len;                 /* the text as received (owned) */
    uint8_t nitems[PADDING_MAX_PKTS];
    padding_range_t items[PADDING_MAX_PKTS][PADDING_MAX_LINE];
} padding_scheme_t;

extern const char PADDING_DEFAULT[]; /* the 137-byte default text */

/* Parses text (not NUL-terminated). NULL if `stop` is missing or not an integer
 * (the reference then rejects the scheme). Lines split at the first '='. Items that
 * are not "c" nor "a-b" with a,b > 0 integers are skipped; reversed ranges swapped.
 * Lines with key >= PADDING_MAX_PKTS are ignored. */
padding_scheme_t *padding_parse(const char *text, size_t len);
padding_scheme_t *padding_default(void);
void padding_free(padding_scheme_t *s);

/* Random source: returns a uniform value in [0, n) for n > 0. NULL = OpenSSL RAND. */
typedef uint32_t (*padding_rng_t)(void *arg, uint32_t n);

/* Draws the sizes of line pkt into out[] (PADDING_CHECK for "c"); returns count. */
int padding_sizes(const padding_scheme_t *s, uint32_t pkt, int32_t *out, int max,
                  padding_rng_t rng, void *rng_arg);

/* The auth block's padding length: the first size of line 0 (0 if none). */
int padding_auth_len(const padding_scheme_t *s, padding_rng_t rng, void *rng_arg);

/* A plan for one padded client write of `len` payload bytes, packet number pkt
 * (1 for the write that carries Settings+SYN+first PSH). Each record is `take`
 * payload bytes followed by a Waste frame of `waste` data bytes (waste < 0: no
 * Waste frame). Records go out in order, one TLS record each. Payload left after
 * the last record (rest > 0) goes out unpadded. If pkt >= stop, nrec = 0 and
 * rest = len. */
typedef struct padding_rec { uint32_t take; int32_t waste; } padding_rec_t;
typedef struct padding_plan {
    int nrec;
    padding_rec_t rec[PADDING_MAX_LINE];
    size_t rest;
} padding_plan_t;

void padding_plan(const padding_scheme_t *s, uint32_t pkt, size_t len,
                  padding_plan_t *plan, padding_rng_t rng, void *rng_arg);

#endif
