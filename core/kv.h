/* kv.h -- the `key=value` lines of Settings / ServerSettings frames. */
#ifndef KV_H
#define KV_H

#include <stddef.h>

/* Finds key in text (lines split by '\n', each split at its first '='). Copies the
 * value into out (NUL-terminated, truncated to cap-1); returns its length or -1 if
 * the key is absent. */
int kv_get(const char *text, size_t len, const char *key, char *out, size_t cap);

#endif
