/* lg_target.h -- where streams go: target addresses from the flags (refused
 * unless bench_addr_allowed), the Zipf draw of a stream's target, and a
 * target's SOCKS5 address bytes. */
#ifndef LG_TARGET_H
#define LG_TARGET_H

#include <stddef.h>
#include <stdint.h>

#include "lg_types.h"

/* "IP:PORT" or "[IPv6]:PORT" into *t. -1 if malformed; dies if not allowed. */
int lg_target_parse(const char *arg, lg_target_t *t);
/* --target-range "A-B:PORT" or "A:PORT" (IPv4, inclusive): appends each. */
void lg_target_add_range(const char *arg);
/* --targets FILE: "ip:port" lines ('#' comments, blank lines skipped). */
void lg_target_load(const char *path);

/* Builds the draw table for lg_cfg.targets and lg_cfg.zipf. */
void lg_target_zipf_init(void);
/* Target i (0-based) with probability proportional to 1/(i+1)^zipf. */
int lg_target_draw(void);

/* CONNECT request for t: VER CMD RSV ATYP ADDR PORT (IPv4 or IPv6 form);
 * returns its length (at most 22). The address alone starts at p + 3. */
size_t lg_target_put_socks(uint8_t *p, const lg_target_t *t);

#endif
