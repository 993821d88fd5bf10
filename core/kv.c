/* kv.c -- key=value lines, read the way the reference does (a map built line by
 * line, so when a key repeats the last line wins). */
#include "kv.h"

#include <string.h>

int kv_get(const char *text, size_t len, const char *key, char *out, size_t cap)
{
    const char *p = text, *end = text + len;
    const char *val = NULL;
    size_t klen = strlen(key), vlen = 0;

    while (len && p <= end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        const char *eq = memchr(p, '=', (size_t)(le - p));
        if (eq && (size_t)(eq - p) == klen && memcmp(p, key, klen) == 0) {
            val = eq + 1;
            vlen = (size_t)(le - val);
        }
        if (!nl)
            break;
        p = nl + 1;
    }
    if (!val)
        return -1;
    if (cap == 0)
        return 0;
    if (vlen > cap - 1)
        vlen = cap - 1;
    memcpy(out, val, vlen);
    out[vlen] = '\0';
    return (int)vlen;
}
