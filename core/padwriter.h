/* padwriter.h -- the client side of AnyTLS padding on the wire: one logical
 * write cut into the TLS records the scheme asks for (payload + Waste frame),
 * and the client Settings frame that announces the scheme. Shared by
 * anytls-client and bench/loadgen so both put the same bytes on the wire.
 *
 * The caller owns the packet counter and the transport: it numbers its writes
 * (1 = the write that carries Settings + SYN + the first PSH) and hands each
 * produced piece to an output callback. Nothing here keeps state or threads. */
#ifndef PADWRITER_H
#define PADWRITER_H

#include <stddef.h>
#include <stdint.h>

#include "frame.h"
#include "padding.h"

/* The name our clients (anytls-client, bench/loadgen) give in Settings,
 * `client=NAME/VERSION` (PROTOCOL.md section 3): other implementations give their
 * own, not the reference's anytls/0.0.13. ANYTLS_VERSION comes from the build
 * (git describe). */
#ifndef ANYTLS_VERSION
#define ANYTLS_VERSION "unknown"
#endif
#define PADW_CLIENT "anytls-c/" ANYTLS_VERSION
/* Largest Settings frame padw_put_settings writes (header + text). */
#define PADW_SETTINGS_MAX (FRAME_HDR + 160)
_Static_assert(sizeof "v=2\nclient=" PADW_CLIENT "\npadding-md5=" + 32 < 160,
               "PADW_CLIENT too long for the Settings frame");

/* Returned by padw_write when a record buffer could not be allocated (the
 * output callback was not called for that record). */
#define PADW_ENOMEM (-2)

/* Gets one piece of a write. record = 1: these bytes must form one TLS record
 * of their own (a padded record, or the tail of a padded write); record = 0:
 * plain stream bytes (padding is over), the transport may coalesce them.
 * Returns 0, or < 0 to stop (padw_write returns -1). */
typedef int (*padw_out_t)(void *arg, const uint8_t *p, size_t n, int record);

/* Writes n bytes as packet pkt of scheme sc through out. pkt >= sc->stop: one
 * plain piece. Otherwise the records of padding_plan (Waste data capped at
 * FRAME_MAX_DATA, zero-filled), then the unpadded rest as one more record.
 * Sizes are drawn with rng (NULL: OpenSSL RAND). Returns 0, -1 when out failed,
 * PADW_ENOMEM. */
int padw_write(const padding_scheme_t *sc, uint32_t pkt, const uint8_t *p, size_t n,
               padw_out_t out, void *arg, padding_rng_t rng, void *rng_arg);

/* The client Settings text, "v=2\nclient=...\npadding-md5=<md5>", into buf
 * (NUL-terminated if cap > 0). Returns its length, as snprintf. */
int padw_settings_text(char *buf, size_t cap, const char *md5);

/* The whole Settings frame (cmd 4, sid 0) for scheme sc at p, which has room
 * for PADW_SETTINGS_MAX bytes. Returns its length. */
size_t padw_put_settings(uint8_t *p, const padding_scheme_t *sc);

#endif
