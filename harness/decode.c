/* SPDX-License-Identifier: MIT */
/* Command-queue decoder; see decode.h. Field layouts: GICv3 architecture
 * specification, section 6.3 (the ITS commands). */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "decode.h"

#define BITS(hi, lo) ((hi) - (lo) == 63 ? ~0ull : (((1ull << ((hi) - (lo) + 1)) - 1) << (lo)))

void decode_geometry_init(struct decode_geometry *g)
{
    memset(g, 0, sizeof(*g));
    g->devbits = g->eventbits = g->cidbits = g->lpibits = 16;
    g->vcpus = 4096;
}

/* ---- field helpers, one line per field ---- */
static uint32_t f_devid(const uint64_t *dw) { return (uint32_t)(dw[0] >> 32); }
static uint32_t f_event(const uint64_t *dw) { return (uint32_t)dw[1]; }
static uint32_t f_pintid(const uint64_t *dw) { return (uint32_t)(dw[1] >> 32); }
static uint32_t f_size(const uint64_t *dw) { return (uint32_t)(dw[1] & 0x1f); }
static uint64_t f_itt(const uint64_t *dw) { return dw[2] & BITS(51, 8); }
static uint32_t f_icid(const uint64_t *dw) { return (uint32_t)(dw[2] & 0xffff); }
static uint64_t f_rd(const uint64_t *dw) { return (dw[2] & BITS(51, 16)) >> 16; }
static uint64_t f_rd2(const uint64_t *dw) { return (dw[3] & BITS(51, 16)) >> 16; }
static unsigned f_valid(const uint64_t *dw) { return (unsigned)(dw[2] >> 63); }

struct cmd_layout {
    const char *name;
    uint64_t defined[4]; /* bits the command defines; the rest are RES0 */
};

#define DEV_EV                                                                                     \
    {                                                                                              \
        BITS(7, 0) | BITS(63, 32), BITS(31, 0), 0, 0                                               \
    }
static const struct cmd_layout layouts[256] = {
    [0x01] = {"MOVI", {BITS(7, 0) | BITS(63, 32), BITS(31, 0), BITS(15, 0), 0}},
    [0x03] = {"INT", DEV_EV},
    [0x04] = {"CLEAR", DEV_EV},
    [0x05] = {"SYNC", {BITS(7, 0), 0, BITS(51, 16), 0}},
    [0x08] = {"MAPD", {BITS(7, 0) | BITS(63, 32), BITS(4, 0), BITS(51, 8) | BITS(63, 63), 0}},
    [0x09] = {"MAPC", {BITS(7, 0), 0, BITS(15, 0) | BITS(51, 16) | BITS(63, 63), 0}},
    [0x0a] = {"MAPTI", {BITS(7, 0) | BITS(63, 32), ~0ull, BITS(15, 0), 0}},
    [0x0b] = {"MAPI", {BITS(7, 0) | BITS(63, 32), BITS(31, 0), BITS(15, 0), 0}},
    [0x0c] = {"INV", DEV_EV},
    [0x0d] = {"INVALL", {BITS(7, 0), 0, BITS(15, 0), 0}},
    [0x0e] = {"MOVALL", {BITS(7, 0), 0, BITS(51, 16), BITS(51, 16)}},
    [0x0f] = {"DISCARD", DEV_EV},
};

static const char *const v4_names[256] = {
    [0x21] = "VMOVI",  [0x22] = "VMOVP", [0x23] = "VSGI",    [0x25] = "VSYNC", [0x29] = "VMAPP",
    [0x2a] = "VMAPTI", [0x2b] = "VMAPI", [0x2d] = "VINVALL", [0x2e] = "INVDB",
};

struct out {
    char *buf;
    size_t n, len;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct out *o, const char *fmt, ...)
{
    if (o->len >= o->n)
        return;
    va_list ap;
    va_start(ap, fmt);
    int w = vsnprintf(o->buf + o->len, o->n - o->len, fmt, ap);
    va_end(ap);
    if (w > 0)
        o->len += (size_t)w < o->n - o->len ? (size_t)w : o->n - o->len - 1;
}

/* A problem with the command: collected after the fields. */
struct problems {
    char text[400];
    size_t len;
    unsigned count;
};

static void problem(struct problems *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(struct problems *p, const char *fmt, ...)
{
    if (p->len < sizeof(p->text)) {
        if (p->count)
            p->len += (size_t)snprintf(p->text + p->len, sizeof(p->text) - p->len, "; ");
        va_list ap;
        va_start(ap, fmt);
        if (p->len < sizeof(p->text))
            p->len += (size_t)vsnprintf(p->text + p->len, sizeof(p->text) - p->len, fmt, ap);
        va_end(ap);
        if (p->len > sizeof(p->text))
            p->len = sizeof(p->text);
    }
    p->count++;
}

static void check_devid(const uint64_t *dw, const struct decode_geometry *g, struct problems *p)
{
    if (g->devbits < 32 && f_devid(dw) >> g->devbits)
        problem(p, "DeviceID 0x%x beyond %u DeviceID bits", f_devid(dw), g->devbits);
}

static void check_event(uint32_t ev, const struct decode_geometry *g, struct problems *p)
{
    if (g->eventbits < 32 && ev >> g->eventbits)
        problem(p, "EventID %u beyond %u EventID bits", ev, g->eventbits);
}

static void check_icid(const uint64_t *dw, const struct decode_geometry *g, struct problems *p)
{
    if (f_icid(dw) >> g->cidbits)
        problem(p, "ICID %u beyond %u collection ID bits", f_icid(dw), g->cidbits);
}

static void check_rd(uint64_t rd, const char *what, const struct decode_geometry *g,
                     struct problems *p)
{
    if (!g->pta && rd >= g->vcpus)
        problem(p, "%s processor %" PRIu64 " beyond the %u CPUs", what, rd, g->vcpus);
}

static void print_rd(struct out *o, const char *what, uint64_t rd, const struct decode_geometry *g)
{
    if (g->pta)
        put(o, " %s=0x%" PRIx64, what, rd << 16);
    else
        put(o, " %s=%" PRIu64, what, rd);
}

static void check_intid(uint32_t intid, const struct decode_geometry *g, struct problems *p)
{
    if (intid < 8192 || (g->lpibits < 32 && intid >> g->lpibits))
        problem(p, "pINTID %u is not an LPI of %u ID bits (8192..%llu)", intid, g->lpibits,
                (1ull << g->lpibits) - 1);
}

bool decode_command(const uint64_t dw[4], const struct decode_geometry *g, char *buf, size_t n)
{
    struct out o = {buf, n, 0};
    struct problems p = {.len = 0};
    uint8_t num = (uint8_t)dw[0];
    const struct cmd_layout *l = &layouts[num];
    if (n)
        buf[0] = 0;
    if (!l->name) {
        if (v4_names[num]) {
            put(&o, "%-8s", v4_names[num]);
            problem(&p, "GICv4 command 0x%02x: vits emulates GICv3 only", num);
        } else {
            put(&o, "%-8s", "?");
            problem(&p, "unknown command number 0x%02x", num);
        }
        put(&o, " DW0=0x%016" PRIx64 " DW1=0x%016" PRIx64 " DW2=0x%016" PRIx64 " DW3=0x%016" PRIx64,
            dw[0], dw[1], dw[2], dw[3]);
    } else {
        put(&o, "%-8s", l->name);
        switch (num) {
        case 0x01: /* MOVI */
            put(&o, " DeviceID=0x%x EventID=%u ICID=%u", f_devid(dw), f_event(dw), f_icid(dw));
            check_devid(dw, g, &p);
            check_event(f_event(dw), g, &p);
            check_icid(dw, g, &p);
            break;
        case 0x03:
        case 0x04:
        case 0x0c:
        case 0x0f:
            put(&o, " DeviceID=0x%x EventID=%u", f_devid(dw), f_event(dw));
            check_devid(dw, g, &p);
            check_event(f_event(dw), g, &p);
            break;
        case 0x05: /* SYNC */
            print_rd(&o, "RDbase", f_rd(dw), g);
            check_rd(f_rd(dw), "RDbase", g, &p);
            break;
        case 0x08: /* MAPD */
            put(&o, " DeviceID=0x%x Size=%u (%llu events) ITT_addr=0x%" PRIx64 " V=%u", f_devid(dw),
                f_size(dw), 1ull << (f_size(dw) + 1), f_itt(dw), f_valid(dw));
            check_devid(dw, g, &p);
            if (f_valid(dw) && f_size(dw) + 1 > g->eventbits)
                problem(&p, "Size %u: %u EventID bits, more than %u", f_size(dw), f_size(dw) + 1,
                        g->eventbits);
            break;
        case 0x09: /* MAPC */
            put(&o, " ICID=%u", f_icid(dw));
            print_rd(&o, "RDbase", f_rd(dw), g);
            put(&o, " V=%u", f_valid(dw));
            check_icid(dw, g, &p);
            if (f_valid(dw))
                check_rd(f_rd(dw), "RDbase", g, &p);
            break;
        case 0x0a: /* MAPTI */
            put(&o, " DeviceID=0x%x EventID=%u pINTID=%u ICID=%u", f_devid(dw), f_event(dw),
                f_pintid(dw), f_icid(dw));
            check_devid(dw, g, &p);
            check_event(f_event(dw), g, &p);
            check_intid(f_pintid(dw), g, &p);
            check_icid(dw, g, &p);
            break;
        case 0x0b: /* MAPI */
            put(&o, " DeviceID=0x%x EventID=%u (pINTID) ICID=%u", f_devid(dw), f_event(dw),
                f_icid(dw));
            check_devid(dw, g, &p);
            check_event(f_event(dw), g, &p);
            check_intid(f_event(dw), g, &p);
            check_icid(dw, g, &p);
            break;
        case 0x0d: /* INVALL */
            put(&o, " ICID=%u", f_icid(dw));
            check_icid(dw, g, &p);
            break;
        case 0x0e: /* MOVALL */
            print_rd(&o, "RDbase1", f_rd(dw), g);
            print_rd(&o, "RDbase2", f_rd2(dw), g);
            check_rd(f_rd(dw), "RDbase1", g, &p);
            check_rd(f_rd2(dw), "RDbase2", g, &p);
            break;
        default:
            break;
        }
        for (int w = 0; w < 4; w++) {
            uint64_t res = dw[w] & ~l->defined[w];
            if (res)
                problem(&p, "reserved bits set in DW%d: 0x%016" PRIx64, w, res);
        }
    }
    if (p.count)
        put(&o, "  <-- MALFORMED: %.*s", (int)p.len, p.text);
    return p.count == 0;
}

uint64_t decode_queue(const uint8_t *buf, size_t len, uint64_t base_offset,
                      const struct decode_geometry *g, FILE *out, struct decode_stats *st)
{
    struct decode_stats local = {0};
    if (!st)
        st = &local;
    char line[1024];
    size_t off;
    for (off = 0; off + 32 <= len; off += 32) {
        uint64_t dw[4];
        for (int w = 0; w < 4; w++) {
            dw[w] = 0;
            for (int b = 7; b >= 0; b--)
                dw[w] = dw[w] << 8 | buf[off + 8 * (size_t)w + (size_t)b];
        }
        bool ok = decode_command(dw, g, line, sizeof(line));
        st->commands++;
        if (!ok)
            st->malformed++;
        fprintf(out, "0x%05" PRIx64 "  %s\n", base_offset + off, line);
    }
    if (off < len) {
        fprintf(out, "0x%05" PRIx64 "  %zu trailing bytes: not a whole command  <-- MALFORMED\n",
                base_offset + off, len - off);
        st->malformed++;
    }
    return st->malformed;
}

/* ---- loading ---- */

static int err_at(char *err, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int err_at(char *err, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, n, fmt, ap);
    va_end(ap);
    return -1;
}

static int hexv(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)tolower((unsigned char)c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static int append(uint8_t **out, size_t *len, size_t *cap, uint8_t b)
{
    if (*len == *cap) {
        size_t ncap = *cap ? *cap * 2 : 4096;
        uint8_t *nb = realloc(*out, ncap);
        if (!nb)
            return -1;
        *out = nb;
        *cap = ncap;
    }
    (*out)[(*len)++] = b;
    return 0;
}

static int parse_hex(const char *path, char *text, uint8_t **out, size_t *outlen, char *err,
                     size_t n)
{
    size_t cap = 0;
    *outlen = 0;
    int mode = 0; /* 1 words, 2 bytes */
    unsigned line = 0;
    for (char *ln = text, *next; ln; ln = next) {
        next = strchr(ln, '\n');
        if (next)
            *next++ = 0;
        line++;
        char *hash = strchr(ln, '#');
        if (hash)
            *hash = 0;
        char *save_tok = NULL;
        for (char *t = strtok_r(ln, " \t\r,", &save_tok); t;
             t = strtok_r(NULL, " \t\r,", &save_tok)) {
            bool prefixed = t[0] == '0' && (t[1] == 'x' || t[1] == 'X');
            if (!mode)
                mode = prefixed ? 1 : 2;
            if ((mode == 1) != prefixed)
                return err_at(err, n, "%s:%u: `%s`: mix of 0x-prefixed words and plain hex bytes",
                              path, line, t);
            const char *h = prefixed ? t + 2 : t;
            size_t hl = strlen(h);
            for (size_t i = 0; i < hl; i++)
                if (hexv(h[i]) < 0)
                    return err_at(err, n, "%s:%u: `%s` is not hex", path, line, t);
            if (mode == 1) {
                if (hl == 0 || hl > 16)
                    return err_at(err, n, "%s:%u: `%s` is not a 64-bit word", path, line, t);
                uint64_t v = 0;
                for (size_t i = 0; i < hl; i++)
                    v = v << 4 | (uint64_t)hexv(h[i]);
                for (int b = 0; b < 8; b++)
                    if (append(out, outlen, &cap, (uint8_t)(v >> (8 * b))))
                        return err_at(err, n, "%s: out of memory", path);
            } else {
                if (hl % 2)
                    return err_at(err, n, "%s:%u: `%s`: odd number of hex digits", path, line, t);
                for (size_t i = 0; i < hl; i += 2)
                    if (append(out, outlen, &cap, (uint8_t)(hexv(h[i]) << 4 | hexv(h[i + 1]))))
                        return err_at(err, n, "%s: out of memory", path);
            }
        }
    }
    return 0;
}

int decode_load(const char *path, enum decode_format fmt, uint8_t **buf, size_t *len, char *err,
                size_t errlen)
{
    *buf = NULL;
    *len = 0;
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f)
        return err_at(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    const size_t max = 16u << 20;
    uint8_t *data = malloc(max + 1);
    if (!data) {
        if (f != stdin)
            fclose(f);
        return err_at(err, errlen, "%s: out of memory", path);
    }
    size_t n = fread(data, 1, max + 1, f);
    bool ioerr = ferror(f);
    if (f != stdin)
        fclose(f);
    if (ioerr || n > max) {
        free(data);
        return err_at(err, errlen, "%s: %s", path, ioerr ? "read error" : "larger than 16 MiB");
    }
    if (fmt == DECODE_AUTO) {
        fmt = n ? DECODE_HEX : DECODE_BINARY;
        for (size_t i = 0; i < n; i++)
            if (!isprint(data[i]) && !isspace(data[i])) {
                fmt = DECODE_BINARY;
                break;
            }
    }
    if (fmt == DECODE_BINARY) {
        *buf = data;
        *len = n;
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        if (data[i] == 0) {
            free(data);
            return err_at(err, errlen, "%s: NUL byte in a hex text file", path);
        }
    data[n] = 0;
    int rc = parse_hex(path, (char *)data, buf, len, err, errlen);
    free(data);
    if (rc) {
        free(*buf);
        *buf = NULL;
        *len = 0;
    }
    return rc;
}
