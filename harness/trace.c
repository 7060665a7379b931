/* SPDX-License-Identifier: MIT */
/*
 * vits-trace v1: the writer and the replayer. See trace.h, and
 * docs/harness.md for how a replay is reported.
 *
 * How the replayer feeds the command queue: with the `continue` error
 * policy, a guest write to GITS_CWRITER (or the GITS_CTLR write that
 * enables the ITS with commands queued) is given to vits one command at a
 * time, each step a CWRITER write that advances by 32 bytes, and the
 * error count is read after each step. Commands complete synchronously,
 * so this ends in the same state as one write, and it attributes every
 * command error to its command even though vits_its_last_error() only
 * keeps the last one. With `stall` a write stops at the first failing
 * command anyway, so it is given as it is.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "migrate.h"
#include "trace.h"
#include "vm.h"

const char *const trace_kind_names[TK_NR] = {
    "vits-trace", "vcpus", "its", "geometry",       "mem",         "its-w",     "its-r",   "gicr-w",
    "gicr-r",     "msi",   "ack", "expect-pending", "expect-idle", "cmd-error", "migrate",
};

/* ------------------------------------------------------------------ */
/* Numbers                                                             */
/* ------------------------------------------------------------------ */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int parse_u64(const char *s, uint64_t *out)
{
    if (!s || !*s)
        return -EINVAL;
    uint64_t v = 0;
    if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
        s += 2;
        if (!*s)
            return -EINVAL;
        for (; *s; s++) {
            int h = hexval(*s);
            if (h < 0 || v >> 60)
                return -EINVAL;
            v = v << 4 | (uint64_t)h;
        }
    } else {
        for (; *s; s++) {
            if (*s < '0' || *s > '9')
                return -EINVAL;
            uint64_t d = (uint64_t)(*s - '0');
            if (v > (UINT64_MAX - d) / 10)
                return -EINVAL;
            v = v * 10 + d;
        }
    }
    *out = v;
    return 0;
}

int parse_u32(const char *s, uint32_t *out)
{
    uint64_t v;
    if (parse_u64(s, &v) || v > UINT32_MAX)
        return -EINVAL;
    *out = (uint32_t)v;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Writer                                                              */
/* ------------------------------------------------------------------ */

void trace_writer_init(struct trace_writer *w, FILE *f)
{
    memset(w, 0, sizeof(*w));
    w->f = f;
}

static void wr(struct trace_writer *w, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void wr(struct trace_writer *w, const char *fmt, ...)
{
    if (!w || !w->f)
        return;
    va_list ap;
    va_start(ap, fmt);
    if (vfprintf(w->f, fmt, ap) < 0 && !w->error)
        w->error = -EIO;
    va_end(ap);
    w->records++;
}

void trace_w_header(struct trace_writer *w, uint32_t vcpus, uint64_t its_base,
                    const struct trace_geometry *g)
{
    wr(w, "vits-trace 1\n");
    wr(w, "vcpus %" PRIu32 "\n", vcpus);
    wr(w, "its 0x%08" PRIx64 "\n", its_base);
    if (!g)
        return;
    char buf[200] = "";
    size_t n = 0;
#define GEO(cond, ...)                                                                             \
    do {                                                                                           \
        if ((cond) && n < sizeof(buf))                                                             \
            n += (size_t)snprintf(buf + n, sizeof(buf) - n, __VA_ARGS__);                          \
    } while (0)
    GEO(g->devbits, " devbits=%u", g->devbits);
    GEO(g->eventbits, " eventbits=%u", g->eventbits);
    GEO(g->lpibits, " lpibits=%u", g->lpibits);
    GEO(g->cidbits, " cidbits=%u", g->cidbits);
    GEO(g->pta >= 0, " pta=%d", g->pta);
    GEO(g->errors >= 0, " errors=%s", g->errors ? "stall" : "continue");
#undef GEO
    if (n)
        wr(w, "geometry%s\n", buf);
}

void trace_w_comment(struct trace_writer *w, const char *fmt, ...)
{
    if (!w || !w->f)
        return;
    va_list ap;
    va_start(ap, fmt);
    fputs("# ", w->f);
    vfprintf(w->f, fmt, ap);
    fputc('\n', w->f);
    va_end(ap);
}

void trace_w_mem(struct trace_writer *w, uint64_t gpa, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len) {
        size_t n = len < 64 ? len : 64;
        char hex[129];
        for (size_t i = 0; i < n; i++)
            snprintf(hex + 2 * i, 3, "%02x", p[i]);
        wr(w, "mem 0x%" PRIx64 " %s\n", gpa, hex);
        gpa += n, p += n, len -= n;
    }
}

void trace_w_its_w(struct trace_writer *w, uint64_t off, unsigned size, uint64_t val)
{
    wr(w, "its-w 0x%" PRIx64 " %u 0x%" PRIx64 "\n", off, size, val);
}

void trace_w_its_r(struct trace_writer *w, uint64_t off, unsigned size, uint64_t val)
{
    wr(w, "its-r 0x%" PRIx64 " %u 0x%" PRIx64 "\n", off, size, val);
}

void trace_w_gicr_w(struct trace_writer *w, uint32_t cpu, uint64_t off, unsigned size, uint64_t val)
{
    wr(w, "gicr-w %" PRIu32 " 0x%" PRIx64 " %u 0x%" PRIx64 "\n", cpu, off, size, val);
}

void trace_w_gicr_r(struct trace_writer *w, uint32_t cpu, uint64_t off, unsigned size, uint64_t val)
{
    wr(w, "gicr-r %" PRIu32 " 0x%" PRIx64 " %u 0x%" PRIx64 "\n", cpu, off, size, val);
}

void trace_w_msi(struct trace_writer *w, uint32_t devid, uint32_t eventid)
{
    wr(w, "msi 0x%" PRIx32 " %" PRIu32 "\n", devid, eventid);
}

void trace_w_ack(struct trace_writer *w, uint32_t cpu, uint32_t intid)
{
    wr(w, "ack %" PRIu32 " %" PRIu32 "\n", cpu, intid);
}

void trace_w_expect_pending(struct trace_writer *w, uint32_t cpu, uint32_t intid)
{
    wr(w, "expect-pending %" PRIu32 " %" PRIu32 "\n", cpu, intid);
}

void trace_w_expect_idle(struct trace_writer *w) { wr(w, "expect-idle\n"); }

void trace_w_cmd_error(struct trace_writer *w, uint32_t code)
{
    wr(w, "cmd-error 0x%06" PRIx32 "\n", code);
}

void trace_w_migrate(struct trace_writer *w, bool snapshot)
{
    wr(w, "migrate %s\n", snapshot ? "snapshot" : "tables");
}

/* ------------------------------------------------------------------ */
/* Replayer                                                            */
/* ------------------------------------------------------------------ */

#define MAX_TOKENS 16
#define UNKNOWN_CODE UINT32_MAX

#define GITS_CTLR 0x0u
#define GITS_CBASER 0x80u
#define GITS_CWRITER 0x88u
#define GITS_CREADR 0x90u
#define ITS 0u /* a trace's one ITS: the VM's first */

enum { ST_OK = 0, ST_MISMATCH = 1, ST_BAD = 2, ST_UNSUPPORTED = 3 };

struct replay {
    const char *name;
    FILE *out;
    const struct replay_options *opt;
    struct replay_result *res;
    uint64_t line;

    bool header;
    bool have_vcpus, have_its, have_geo;
    uint32_t vcpus;
    uint64_t its_base;
    struct trace_geometry geo;

    struct vm *vm;
    struct vits_its *its;
    uint64_t errors_seen;     /* vits' error count */
    uint64_t commands_before; /* processed by ITSes that migrations replaced */

    /* command errors the last its-w raised, not yet announced */
    uint32_t pend[64];
    unsigned nr_pend, pend_head;
    uint64_t pend_extra; /* beyond the array: counted only */
    uint64_t pend_line;

    /* INTIDs that MAPTI/MAPI named: where pending state can be */
    uint8_t *mapped;
    uint32_t mapped_bits;
};

static void report(struct replay *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void report(struct replay *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(r->out, fmt, ap);
    va_end(ap);
}

/* A mismatch at line (0: the current line). */
static void mismatch(struct replay *r, uint64_t line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void mismatch(struct replay *r, uint64_t line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(r->out, "%s:%" PRIu64 ": mismatch: ", r->name, line ? line : r->line);
    vfprintf(r->out, fmt, ap);
    fputc('\n', r->out);
    va_end(ap);
    r->res->mismatches++;
}

/* A malformed trace or a setup failure: the replay stops. */
static int bad(struct replay *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int bad(struct replay *r, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fflush(r->out);
    fprintf(stderr, "%s:%" PRIu64 ": error: ", r->name, r->line);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    if (r->out != stdout && r->out != stderr) {
        va_start(ap, fmt);
        fprintf(r->out, "%s:%" PRIu64 ": error: ", r->name, r->line);
        vfprintf(r->out, fmt, ap);
        fputc('\n', r->out);
        va_end(ap);
    }
    return status;
}

static int need_args(struct replay *r, int ntok, int min, int max, const char *usage)
{
    if (ntok - 1 < min || ntok - 1 > max)
        return bad(r, ST_BAD, "expected `%s`", usage);
    return 0;
}

static int num(struct replay *r, const char *tok, const char *what, uint64_t max, uint64_t *out)
{
    if (parse_u64(tok, out))
        return bad(r, ST_BAD, "%s `%s` is not a number (decimal, or hex with 0x)", what, tok);
    if (*out > max)
        return bad(r, ST_BAD, "%s %s out of range (at most 0x%" PRIx64 ")", what, tok, max);
    return 0;
}

/* ---- command errors ---- */

static void push_error(struct replay *r, uint32_t code)
{
    if (r->nr_pend < sizeof(r->pend) / sizeof(r->pend[0]))
        r->pend[r->nr_pend++] = code;
    else
        r->pend_extra++;
    r->pend_line = r->line;
    r->res->cmd_errors_seen++;
}

/* Errors vits counted since the last look. */
static void collect_errors(struct replay *r)
{
    struct vits_cmd_error e;
    uint64_t count = 0;
    vm_its_last_error(r->vm, ITS, &e, &count);
    uint64_t n = count - r->errors_seen;
    r->errors_seen = count;
    for (uint64_t i = 0; i < n; i++)
        push_error(r, i + 1 == n ? e.code : UNKNOWN_CODE);
}

/* Command errors that no cmd-error line announced. */
static void flush_errors(struct replay *r)
{
    for (unsigned i = r->pend_head; i < r->nr_pend; i++) {
        if (r->pend[i] == UNKNOWN_CODE)
            mismatch(r, r->pend_line, "a command failed and no cmd-error line announces it");
        else
            mismatch(r, r->pend_line,
                     "command error 0x%06" PRIx32 " (%s) is not announced by a cmd-error line",
                     r->pend[i], vits_strerror((int)r->pend[i]));
    }
    for (uint64_t i = 0; i < r->pend_extra; i++)
        mismatch(r, r->pend_line, "a command failed and no cmd-error line announces it");
    r->nr_pend = r->pend_head = 0;
    r->pend_extra = 0;
}

/* ---- the queue ---- */

static uint64_t its_rd(struct replay *r, uint64_t off)
{
    uint64_t v = 0;
    vm_its_read(r->vm, ITS, off, 8, &v);
    return v;
}

/* Note the command at queue offset off: its type, and the INTID it maps. */
static void note_command(struct replay *r, uint64_t cbaser, uint64_t off)
{
    uint64_t base = ((cbaser >> 12) & ((1ull << 40) - 1)) << 12;
    uint8_t raw[32];
    if (vm_mem_read(r->vm, base + off, raw, sizeof(raw)))
        return;
    uint8_t cmd = raw[0];
    r->res->cmd_by_type[cmd]++;
    uint32_t intid = 0;
    if (cmd == 0x0a) /* MAPTI: DW1[63:32] */
        intid = (uint32_t)raw[12] | (uint32_t)raw[13] << 8 | (uint32_t)raw[14] << 16 |
                (uint32_t)raw[15] << 24;
    else if (cmd == 0x0b) /* MAPI: DW1[31:0] */
        intid = (uint32_t)raw[8] | (uint32_t)raw[9] << 8 | (uint32_t)raw[10] << 16 |
                (uint32_t)raw[11] << 24;
    if (intid >= 8192 && intid < r->mapped_bits)
        r->mapped[intid / 8] |= (uint8_t)(1u << (intid % 8));
}

/* Note the commands in [from, to) of the queue (after a plain write). */
static void note_range(struct replay *r, uint64_t cbaser, uint64_t from, uint64_t to)
{
    uint64_t qsize = ((cbaser & 0xff) + 1) * 4096;
    for (unsigned n = 0; from != to && n < 32768; n++) {
        note_command(r, cbaser, from);
        from = (from + 32) % qsize;
    }
}

/* Give the queue to vits one command at a time up to target. */
static void step_queue(struct replay *r, uint64_t cbaser, uint64_t target)
{
    uint64_t qsize = ((cbaser & 0xff) + 1) * 4096;
    uint64_t cur = its_rd(r, GITS_CREADR) & 0xfffe0u;
    for (unsigned n = 0; cur != target && n < 32768; n++) {
        uint64_t next = (cur + 32) % qsize;
        note_command(r, cbaser, cur);
        vm_its_write(r->vm, ITS, GITS_CWRITER, 8, next);
        collect_errors(r);
        uint64_t now = its_rd(r, GITS_CREADR);
        if ((now & 0xfffe0u) != next || (now & 1))
            break; /* not what a continuing ITS does: finish in one write */
        cur = next;
    }
    if (cur != target) {
        vm_its_write(r->vm, ITS, GITS_CWRITER, 8, target);
        collect_errors(r);
    }
}

/* A guest write to the ITS frame, with the queue fed as described at the
 * top of this file. */
static void its_write(struct replay *r, uint64_t off, unsigned size, uint64_t val)
{
    bool stall = r->geo.errors == 1;
    uint64_t cbaser = its_rd(r, GITS_CBASER);
    uint64_t qsize = ((cbaser & 0xff) + 1) * 4096;
    uint64_t ctlr = 0;
    vm_its_read(r->vm, ITS, GITS_CTLR, 4, &ctlr);
    bool enabled = ctlr & 1;
    bool valid = cbaser >> 63;
    uint64_t creadr = its_rd(r, GITS_CREADR);

    if (!stall && valid && off >= GITS_CWRITER && off < GITS_CWRITER + 8 && !(creadr & 1)) {
        uint64_t old = its_rd(r, GITS_CWRITER);
        uint64_t nv = size == 8             ? val
                      : off == GITS_CWRITER ? (old & ~0xffffffffull) | (val & 0xffffffffull)
                                            : (old & 0xffffffffull) | val << 32;
        uint64_t target = nv & 0xfffe0u;
        if (enabled && target < qsize) {
            step_queue(r, cbaser, target);
            return;
        }
    }
    if (!stall && valid && off == GITS_CTLR && size == 4 && (val & 1) && !enabled &&
        !(creadr & 1)) {
        uint64_t target = its_rd(r, GITS_CWRITER);
        if (target != creadr) {
            /* Hold the queue back (a disabled ITS does not process it),
             * enable, then feed it. */
            vm_its_write(r->vm, ITS, GITS_CWRITER, 8, creadr);
            vm_its_write(r->vm, ITS, off, size, val);
            collect_errors(r);
            step_queue(r, cbaser, target);
            return;
        }
    }
    vm_its_write(r->vm, ITS, off, size, val);
    collect_errors(r);
    if (valid) {
        uint64_t after = its_rd(r, GITS_CREADR);
        note_range(r, cbaser, creadr & 0xfffe0u, after & 0xfffe0u);
    }
}

/* ---- setup ---- */

static int start(struct replay *r)
{
    if (r->vm && vm_started(r->vm))
        return 0;
    if (!r->have_vcpus) {
        if (!r->opt->have_platform)
            return bad(r, ST_BAD, "no `vcpus` record before the first access");
        r->vcpus = r->opt->vcpus;
    }
    if (!r->have_its)
        r->its_base = r->opt->have_platform ? r->opt->its_base : TRACE_DEFAULT_ITS_BASE;
    struct vm_config cfg = {
        .nr_vcpus = r->vcpus,
        .lpi_id_bits = r->geo.lpibits,
        .redist_base = r->opt->have_platform ? r->opt->redist_base : 0,
        .log_level = r->opt->verbose ? VITS_LOG_GUEST : VITS_LOG_ERROR,
        .log = r->opt->verbose ? r->opt->log : NULL,
        .max_access = r->opt->max_access,
    };
    int rc;
    if (r->opt->connect) { /* vits out of process */
        int fd = r->opt->connect(r->opt->connect_ctx);
        rc = fd < 0 ? fd : vm_start_remote(r->vm, &cfg, fd);
    } else {
        rc = vm_start(r->vm, &cfg);
    }
    if (rc)
        return bad(r, ST_BAD, "cannot create a VM of %u vCPUs: %s", r->vcpus, vits_strerror(rc));
    if (r->opt->fail_reads)
        vm_fail_reads(r->vm, r->opt->fail_reads, -EIO);
    struct vits_its_config icfg;
    vits_its_config_init(&icfg);
    icfg.base = r->its_base;
    if (r->geo.devbits)
        icfg.device_id_bits = r->geo.devbits;
    if (r->geo.eventbits)
        icfg.event_id_bits = r->geo.eventbits;
    if (r->geo.cidbits)
        icfg.collection_id_bits = r->geo.cidbits;
    if (r->geo.pta >= 0)
        icfg.pta = (uint32_t)r->geo.pta;
    if (r->geo.errors == 1)
        icfg.error_policy = VITS_ERRORS_STALL;
    rc = vm_add_its(r->vm, &icfg);
    if (rc < 0)
        return bad(r, ST_BAD, "cannot create an ITS at 0x%" PRIx64 ": %s", r->its_base,
                   vits_strerror(rc));
    r->its = vm_its(r->vm, (unsigned)rc);
    r->mapped_bits = 1u << (r->geo.lpibits ? r->geo.lpibits : 16);
    r->mapped = calloc(r->mapped_bits / 8, 1);
    if (!r->mapped)
        return bad(r, ST_BAD, "out of memory");
    return 0;
}

static int rec_vcpus(struct replay *r, char **tok, int ntok)
{
    uint64_t n;
    int rc = need_args(r, ntok, 1, 1, "vcpus N");
    if (!rc)
        rc = num(r, tok[1], "vCPU count", 4096, &n);
    if (rc)
        return rc;
    if (n < 1)
        return bad(r, ST_BAD, "vcpus must be 1..4096");
    if (r->have_vcpus)
        return bad(r, ST_BAD, "a second `vcpus` record");
    if (vm_started(r->vm))
        return bad(r, ST_BAD, "`vcpus` after the first access");
    if (r->opt->have_platform && n != r->opt->vcpus)
        return bad(r, ST_BAD, "trace says %" PRIu64 " vCPUs, the device tree %u", n, r->opt->vcpus);
    r->vcpus = (uint32_t)n;
    r->have_vcpus = true;
    return 0;
}

static int rec_its(struct replay *r, char **tok, int ntok)
{
    uint64_t base;
    int rc = need_args(r, ntok, 1, 1, "its BASE");
    if (!rc)
        rc = num(r, tok[1], "ITS base", UINT64_MAX - VITS_ITS_FRAME_SIZE, &base);
    if (rc)
        return rc;
    if (base & 0xffff)
        return bad(r, ST_BAD, "ITS base 0x%" PRIx64 " is not 64 KiB aligned", base);
    if (r->have_its)
        return bad(r, ST_BAD, "a second `its` record (one ITS per trace)");
    if (vm_started(r->vm))
        return bad(r, ST_BAD, "`its` after the first access");
    if (r->opt->have_platform && base != r->opt->its_base)
        return bad(r, ST_BAD, "trace puts the ITS at 0x%" PRIx64 ", the device tree at 0x%" PRIx64,
                   base, r->opt->its_base);
    r->its_base = base;
    r->have_its = true;
    return 0;
}

static int rec_geometry(struct replay *r, char **tok, int ntok)
{
    if (vm_started(r->vm))
        return bad(r, ST_BAD, "`geometry` after the first access");
    if (r->have_geo)
        return bad(r, ST_BAD, "a second `geometry` record");
    r->have_geo = true;
    if (ntok < 2)
        return bad(r, ST_BAD, "expected `geometry KEY=VALUE ...`");
    for (int i = 1; i < ntok; i++) {
        char *eq = strchr(tok[i], '=');
        if (!eq)
            return bad(r, ST_BAD, "geometry: `%s` is not KEY=VALUE", tok[i]);
        *eq = 0;
        const char *key = tok[i], *val = eq + 1;
        uint32_t v;
        if (!strcmp(key, "errors")) {
            if (!strcmp(val, "continue"))
                r->geo.errors = 0;
            else if (!strcmp(val, "stall"))
                r->geo.errors = 1;
            else
                return bad(r, ST_BAD, "geometry errors=%s: expected continue or stall", val);
            continue;
        }
        struct {
            const char *key;
            uint32_t lo, hi;
            uint32_t *dst;
        } keys[] = {
            {"devbits", 1, 32, &r->geo.devbits},
            {"eventbits", 1, 16, &r->geo.eventbits},
            {"lpibits", 14, 24, &r->geo.lpibits},
            {"cidbits", 1, 16, &r->geo.cidbits},
            {"pta", 0, 1, NULL},
        };
        size_t k;
        for (k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
            if (!strcmp(key, keys[k].key))
                break;
        if (k == sizeof(keys) / sizeof(keys[0]))
            return bad(r, ST_BAD, "geometry: unknown key `%s`", key);
        if (parse_u32(val, &v))
            return bad(r, ST_BAD, "geometry %s=%s: not a number", key, val);
        if (v < keys[k].lo || v > keys[k].hi)
            return bad(r, ST_BAD, "geometry %s=%u: vits provides %u..%u; cannot replay", key, v,
                       keys[k].lo, keys[k].hi);
        if (keys[k].dst)
            *keys[k].dst = v;
        else
            r->geo.pta = (int)v;
    }
    return 0;
}

static int rec_mem(struct replay *r, char **tok, int ntok)
{
    uint64_t gpa;
    int rc = need_args(r, ntok, 2, 2, "mem GPA HEX");
    if (!rc)
        rc = num(r, tok[1], "address", UINT64_MAX, &gpa);
    if (rc)
        return rc;
    const char *hex = tok[2];
    size_t n = strlen(hex);
    if (n == 0 || n % 2)
        return bad(r, ST_BAD, "mem: HEX must be an even number of hex digits");
    size_t len = n / 2;
    if (gpa + len - 1 < gpa)
        return bad(r, ST_BAD, "mem: 0x%" PRIx64 " + %zu bytes wraps around", gpa, len);
    uint8_t *buf = malloc(len);
    if (!buf)
        return bad(r, ST_BAD, "out of memory");
    for (size_t i = 0; i < len; i++) {
        int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) {
            free(buf);
            return bad(r, ST_BAD, "mem: `%c%c` is not a hex byte (no 0x prefix in HEX)", hex[2 * i],
                       hex[2 * i + 1]);
        }
        buf[i] = (uint8_t)(hi << 4 | lo);
    }
    rc = vm_mem_write(r->vm, gpa, buf, len);
    free(buf);
    if (rc == -ENOMEM)
        return bad(r, ST_BAD, "mem: guest memory limit reached (%zu MiB)",
                   (r->opt->max_pages ? r->opt->max_pages : VM_DEFAULT_MAX_PAGES) / 256);
    if (rc)
        return bad(r, ST_BAD, "mem: write at 0x%" PRIx64 " failed: %s", gpa, vits_strerror(rc));
    return 0;
}

static int access_args(struct replay *r, const char *offtok, const char *sizetok, uint64_t limit,
                       bool translater_ok, uint64_t *off, unsigned *size)
{
    uint64_t s;
    int rc = num(r, offtok, "offset", limit - 1, off);
    if (!rc)
        rc = num(r, sizetok, "size", 8, &s);
    if (rc)
        return rc;
    bool ok = s == 4 || s == 8 || (translater_ok && s == 2 && *off == VITS_GITS_TRANSLATER);
    if (!ok)
        return bad(r, ST_BAD, "size %" PRIu64 ": accesses are 4 or 8 bytes", s);
    if (*off % s)
        return bad(r, ST_BAD, "offset 0x%" PRIx64 " not aligned to the %" PRIu64 "-byte access",
                   *off, s);
    *size = (unsigned)s;
    return 0;
}

static int value_arg(struct replay *r, const char *tok, unsigned size, uint64_t *val)
{
    return num(r, tok, "value", size == 8 ? UINT64_MAX : (1ull << (8 * size)) - 1, val);
}

static int rec_its_access(struct replay *r, char **tok, int ntok, bool write)
{
    uint64_t off, val = 0;
    unsigned size;
    int rc = write ? need_args(r, ntok, 3, 3, "its-w OFFSET SIZE VALUE")
                   : need_args(r, ntok, 2, 3, "its-r OFFSET SIZE [VALUE]");
    if (!rc)
        rc = access_args(r, tok[1], tok[2], VITS_ITS_FRAME_SIZE, true, &off, &size);
    if (!rc && ntok == 4)
        rc = value_arg(r, tok[3], size, &val);
    if (!rc)
        rc = start(r);
    if (rc)
        return rc;
    if (write) {
        its_write(r, off, size, val);
        return 0;
    }
    uint64_t got = 0;
    vm_its_read(r->vm, ITS, off, size, &got);
    if (ntok == 4 && got != val) {
        r->res->read_differences++;
        if (r->opt->strict)
            mismatch(r, 0,
                     "its-r 0x%" PRIx64 ": the trace read 0x%" PRIx64 ", vits reads 0x%" PRIx64,
                     off, val, got);
        else
            report(r,
                   "%s:%" PRIu64 ": note: its-r 0x%" PRIx64 ": the trace read 0x%" PRIx64
                   ", vits reads 0x%" PRIx64 "\n",
                   r->name, r->line, off, val, got);
    }
    return 0;
}

static int cpu_arg(struct replay *r, const char *tok, uint32_t *cpu)
{
    uint64_t v;
    int rc = num(r, tok, "CPU", UINT32_MAX, &v);
    if (rc)
        return rc;
    if (v >= r->vcpus)
        return bad(r, ST_BAD, "CPU %" PRIu64 " out of range (%u vCPUs)", v, r->vcpus);
    *cpu = (uint32_t)v;
    return 0;
}

static int rec_gicr_access(struct replay *r, char **tok, int ntok, bool write)
{
    uint64_t off, val = 0;
    unsigned size;
    uint32_t cpu;
    int rc = write ? need_args(r, ntok, 4, 4, "gicr-w CPU OFFSET SIZE VALUE")
                   : need_args(r, ntok, 3, 4, "gicr-r CPU OFFSET SIZE [VALUE]");
    if (!rc)
        rc = start(r);
    if (!rc)
        rc = cpu_arg(r, tok[1], &cpu);
    if (!rc)
        rc = access_args(r, tok[2], tok[3], VM_GICR_STRIDE, false, &off, &size);
    if (!rc && ntok == 5)
        rc = value_arg(r, tok[4], size, &val);
    if (rc)
        return rc;
    if (write) {
        vm_gicr_write(r->vm, cpu, off, size, val); /* -ENOENT: the vGIC's */
        return 0;
    }
    uint64_t got = 0;
    if (vm_gicr_read(r->vm, cpu, off, size, &got))
        got = 0;
    if (ntok == 5 && got != val) {
        r->res->read_differences++;
        if (r->opt->strict)
            mismatch(r, 0,
                     "gicr-r %u 0x%" PRIx64 ": the trace read 0x%" PRIx64 ", vits reads 0x%" PRIx64,
                     cpu, off, val, got);
        else
            report(r,
                   "%s:%" PRIu64 ": note: gicr-r %u 0x%" PRIx64 ": the trace read 0x%" PRIx64
                   ", vits reads 0x%" PRIx64 "\n",
                   r->name, r->line, cpu, off, val, got);
    }
    return 0;
}

static int rec_msi(struct replay *r, char **tok, int ntok)
{
    uint64_t devid, ev;
    int rc = need_args(r, ntok, 2, 2, "msi DEVID EVENTID");
    if (!rc)
        rc = num(r, tok[1], "DeviceID", UINT32_MAX, &devid);
    if (!rc)
        rc = num(r, tok[2], "EventID", UINT32_MAX, &ev);
    if (!rc)
        rc = start(r);
    if (rc)
        return rc;
    if (vm_msi(r->vm, r->its_base + VITS_GITS_TRANSLATER, (uint32_t)devid, (uint32_t)ev) == 1)
        r->res->msi_delivered++;
    else
        r->res->msi_blocked++;
    return 0;
}

/* Where intid is pending, for messages. */
static void describe_lpi(struct replay *r, uint32_t intid, char *buf, size_t n)
{
    uint32_t v;
    int st = vm_lpi_state(r->vm, intid, &v);
    if (st < 0)
        snprintf(buf, n, "LPI %u is not mapped", intid);
    else if (st == 0)
        snprintf(buf, n, "LPI %u is not pending", intid);
    else if (v == UINT32_MAX)
        snprintf(buf, n, "LPI %u is pending without a target", intid);
    else if (vm_raised_on(r->vm, intid) < 0)
        snprintf(buf, n, "LPI %u is pending on vCPU %u but not raised (disabled?)", intid, v);
    else
        snprintf(buf, n, "LPI %u is pending on vCPU %u", intid, v);
}

/* The "CPU INTID" arguments of ack and expect-pending (usage names the
 * record), after the header and vcpus records. */
static int cpu_intid_args(struct replay *r, char **tok, int ntok, const char *usage, uint32_t *cpu,
                          uint64_t *intid)
{
    int rc = need_args(r, ntok, 2, 2, usage);
    if (!rc)
        rc = start(r);
    if (!rc)
        rc = cpu_arg(r, tok[1], cpu);
    if (!rc)
        rc = num(r, tok[2], "INTID", UINT32_MAX, intid);
    return rc;
}

static int rec_ack(struct replay *r, char **tok, int ntok)
{
    uint32_t cpu;
    uint64_t intid;
    int rc = cpu_intid_args(r, tok, ntok, "ack CPU INTID", &cpu, &intid);
    if (rc)
        return rc;
    if (vm_ack(r->vm, cpu, (uint32_t)intid) == 0) {
        r->res->acks_matched++;
        return 0;
    }
    char why[120];
    describe_lpi(r, (uint32_t)intid, why, sizeof(why));
    mismatch(r, 0, "ack %u %" PRIu64 ": not raised on vCPU %u (%s)", cpu, intid, cpu, why);
    return 0;
}

static int rec_expect_pending(struct replay *r, char **tok, int ntok)
{
    uint32_t cpu;
    uint64_t intid;
    int rc = cpu_intid_args(r, tok, ntok, "expect-pending CPU INTID", &cpu, &intid);
    if (rc)
        return rc;
    uint32_t v;
    if (vm_lpi_state(r->vm, (uint32_t)intid, &v) == 1 && v == cpu) {
        r->res->expects_held++;
        return 0;
    }
    char why[120];
    describe_lpi(r, (uint32_t)intid, why, sizeof(why));
    mismatch(r, 0, "expect-pending %u %" PRIu64 ": %s", cpu, intid, why);
    return 0;
}

static int rec_expect_idle(struct replay *r, int ntok)
{
    int rc = need_args(r, ntok, 0, 0, "expect-idle");
    if (!rc)
        rc = start(r);
    if (rc)
        return rc;
    unsigned found = 0;
    for (uint32_t i = 8192; i < r->mapped_bits; i++) {
        if (!r->mapped[i / 8]) {
            i |= 7;
            continue;
        }
        uint32_t v;
        if (!(r->mapped[i / 8] & (1u << (i % 8))) || vm_lpi_state(r->vm, i, &v) != 1 ||
            v == UINT32_MAX)
            continue;
        if (found++ < 8)
            mismatch(r, 0, "expect-idle: LPI %u is pending on vCPU %u", i, v);
    }
    if (found > 8)
        mismatch(r, 0, "expect-idle: %u more LPIs pending", found - 8);
    if (!found)
        r->res->expects_held++;
    return 0;
}

static int rec_cmd_error(struct replay *r, char **tok, int ntok)
{
    uint64_t code;
    int rc = need_args(r, ntok, 1, 1, "cmd-error CODE");
    if (!rc)
        rc = num(r, tok[1], "error code", UINT32_MAX, &code);
    if (!rc)
        rc = start(r);
    if (rc)
        return rc;
    r->res->cmd_errors_announced++;
    if (r->pend_head >= r->nr_pend) {
        if (r->pend_extra) {
            r->pend_extra--;
            return 0;
        }
        mismatch(r, 0, "cmd-error 0x%06" PRIx64 " announced, but no command failed", code);
        return 0;
    }
    uint32_t got = r->pend[r->pend_head++];
    if (got != UNKNOWN_CODE && got != code)
        mismatch(r, 0,
                 "cmd-error 0x%06" PRIx64 " announced, but the command failed with 0x%06" PRIx32
                 " (%s)",
                 code, got, vits_strerror((int)got));
    return 0;
}

/* Save everything, replace the ITS and its domain by fresh ones, restore
 * (harness/migrate.c), and go on. A failure stops the replay. */
static int rec_migrate(struct replay *r, char **tok, int ntok)
{
    if (ntok != 2 || (strcmp(tok[1], "tables") && strcmp(tok[1], "snapshot")))
        return bad(r, ST_BAD, "expected `migrate tables` or `migrate snapshot`");
    int rc = start(r);
    if (rc)
        return rc;
    uint64_t done = vm_its_commands(r->vm, ITS);
    char why[200];
    if (vm_is_remote(r->vm)) /* the server migrates its own VM, the same way */
        rc = vm_remote_migrate(r->vm, strcmp(tok[1], "tables") != 0, why, sizeof(why));
    else
        rc = vm_migrate(r->vm, strcmp(tok[1], "tables") ? VM_MIGRATE_SNAPSHOT : VM_MIGRATE_TABLES,
                        why, sizeof(why));
    if (rc == -EOPNOTSUPP)
        return bad(r, ST_UNSUPPORTED, "`migrate %s`: %s; replay stopped here", tok[1], why);
    if (rc) {
        mismatch(r, 0, "%s; replay stopped here", why);
        return ST_MISMATCH;
    }
    /* A new ITS: its counters start again. */
    r->its = vm_its(r->vm, ITS);
    r->commands_before += done;
    r->errors_seen = 0;
    return 0;
}

static int find_kind(const char *word)
{
    for (int k = 0; k < TK_NR; k++)
        if (!strcmp(word, trace_kind_names[k]))
            return k;
    return -1;
}

static int record(struct replay *r, char **tok, int ntok)
{
    if (!r->header) {
        if (strcmp(tok[0], "vits-trace"))
            return bad(r, ST_BAD, "not a vits-trace: the first line must be `vits-trace 1`");
        if (ntok != 2 || strcmp(tok[1], "1"))
            return bad(r, ST_BAD, "unsupported trace version `%s` (this replayer reads 1)",
                       ntok > 1 ? tok[1] : "");
        r->header = true;
        r->res->records[TK_HEADER]++;
        return 0;
    }
    int kind = find_kind(tok[0]);
    if (kind < 0 || kind == TK_HEADER)
        return bad(r, ST_BAD, "unknown record `%s`", tok[0]);
    if (kind != TK_CMD_ERROR)
        flush_errors(r);
    r->res->records[kind]++;
    switch (kind) {
    case TK_VCPUS:
        return rec_vcpus(r, tok, ntok);
    case TK_ITS:
        return rec_its(r, tok, ntok);
    case TK_GEOMETRY:
        return rec_geometry(r, tok, ntok);
    case TK_MEM:
        return rec_mem(r, tok, ntok);
    case TK_ITS_W:
        return rec_its_access(r, tok, ntok, true);
    case TK_ITS_R:
        return rec_its_access(r, tok, ntok, false);
    case TK_GICR_W:
        return rec_gicr_access(r, tok, ntok, true);
    case TK_GICR_R:
        return rec_gicr_access(r, tok, ntok, false);
    case TK_MSI:
        return rec_msi(r, tok, ntok);
    case TK_ACK:
        return rec_ack(r, tok, ntok);
    case TK_EXPECT_PENDING:
        return rec_expect_pending(r, tok, ntok);
    case TK_EXPECT_IDLE:
        return rec_expect_idle(r, ntok);
    case TK_CMD_ERROR:
        return rec_cmd_error(r, tok, ntok);
    default: /* TK_MIGRATE */
        return rec_migrate(r, tok, ntok);
    }
}

/* Read one line of at most TRACE_MAX_LINE bytes into *buf. Returns its
 * length, -1 at end of file, -2 when too long, -3 on a NUL byte. */
static long read_line(FILE *in, char **buf, size_t *cap)
{
    size_t n = 0;
    int c;
    bool any = false;
    while ((c = getc(in)) != EOF) {
        any = true;
        if (c == '\n')
            break;
        if (c == 0)
            return -3;
        if (n + 1 >= *cap) {
            if (*cap >= TRACE_MAX_LINE)
                return -2;
            size_t ncap = *cap ? *cap * 2 : 256;
            char *nb = realloc(*buf, ncap);
            if (!nb)
                return -2;
            *buf = nb;
            *cap = ncap;
        }
        (*buf)[n++] = (char)c;
    }
    if (!any)
        return -1;
    if (!*buf) {
        *buf = malloc(1);
        if (!*buf)
            return -2;
        *cap = 1;
    }
    (*buf)[n] = 0;
    return (long)n;
}

static void print_report(struct replay *r)
{
    struct replay_result *res = r->res;
    report(r, "%s: replayed %" PRIu64 " lines\n", r->name, r->line);
    report(r, "  records:");
    bool first = true;
    for (int k = 0; k < TK_NR; k++)
        if (res->records[k]) {
            report(r, "%s %s %" PRIu64, first ? "" : ",", trace_kind_names[k], res->records[k]);
            first = false;
        }
    report(r, "%s\n", first ? " none" : "");
    report(r, "  commands processed: %" PRIu64, res->commands);
    first = true;
    for (int c = 0; c < 256; c++)
        if (res->cmd_by_type[c]) {
            static const char *const names[16] = {
                [0x01] = "MOVI", [0x03] = "INT",    [0x04] = "CLEAR",  [0x05] = "SYNC",
                [0x08] = "MAPD", [0x09] = "MAPC",   [0x0a] = "MAPTI",  [0x0b] = "MAPI",
                [0x0c] = "INV",  [0x0d] = "INVALL", [0x0e] = "MOVALL", [0x0f] = "DISCARD"};
            const char *nm = c < 16 ? names[c] : NULL;
            if (nm)
                report(r, "%s%s %" PRIu64, first ? " (" : ", ", nm, res->cmd_by_type[c]);
            else
                report(r, "%s0x%02x %" PRIu64, first ? " (" : ", ", c, res->cmd_by_type[c]);
            first = false;
        }
    report(r, "%s\n", first ? "" : ")");
    report(r, "  MSIs: %" PRIu64 " delivered, %" PRIu64 " blocked\n", res->msi_delivered,
           res->msi_blocked);
    report(r, "  acks matched: %" PRIu64 " of %" PRIu64 "\n", res->acks_matched,
           res->records[TK_ACK]);
    report(r, "  expectations held: %" PRIu64 " of %" PRIu64 "\n", res->expects_held,
           res->records[TK_EXPECT_PENDING] + res->records[TK_EXPECT_IDLE]);
    report(r, "  command errors: %" PRIu64 " seen, %" PRIu64 " announced\n", res->cmd_errors_seen,
           res->cmd_errors_announced);
    if (res->read_differences)
        report(r, "  register reads that differ from the trace: %" PRIu64 "%s\n",
               res->read_differences, r->opt->strict ? "" : " (notes, not mismatches)");
    if (res->violations)
        report(r, "  injector protocol violations: %" PRIu64 " (%s)\n", res->violations,
               vm_first_violation(r->vm));
    report(r, "  mismatches: %" PRIu64 "\n", res->mismatches);
    static const char *const verdict[] = {"PASS", "FAIL (mismatches)", "ERROR (replay stopped)",
                                          "UNSUPPORTED (replay stopped)"};
    report(r, "  result: %s\n", verdict[res->status]);
}

int replay_stream(FILE *in, const char *name, const struct replay_options *opt,
                  struct replay_result *res)
{
    struct replay_result local;
    struct replay_options dflt = {0};
    if (!res)
        res = &local;
    if (!opt)
        opt = &dflt;
    memset(res, 0, sizeof(*res));
    struct replay r = {
        .name = name,
        .out = opt->out ? opt->out : stdout,
        .opt = opt,
        .res = res,
        .geo = {.pta = -1, .errors = -1},
    };
    r.vm = vm_new(opt->max_pages);
    if (!r.vm) {
        fprintf(stderr, "%s: out of memory\n", name);
        return res->status = ST_BAD;
    }
    char *buf = NULL;
    size_t cap = 0;
    int status = ST_OK;
    for (;;) {
        long n = read_line(in, &buf, &cap);
        if (n == -1)
            break;
        r.line++;
        if (n == -2) {
            status = bad(&r, ST_BAD, "line longer than %u bytes", TRACE_MAX_LINE);
            break;
        }
        if (n == -3) {
            status = bad(&r, ST_BAD, "NUL byte in the line");
            break;
        }
        char *hash = strchr(buf, '#');
        if (hash)
            *hash = 0;
        char *tok[MAX_TOKENS + 1];
        int ntok = 0;
        bool too_many = false;
        for (char *s = strtok(buf, " \t\r\v\f"); s; s = strtok(NULL, " \t\r\v\f")) {
            if (ntok == MAX_TOKENS) {
                too_many = true;
                break;
            }
            tok[ntok++] = s;
        }
        if (too_many) {
            status = bad(&r, ST_BAD, "more than %d fields", MAX_TOKENS);
            break;
        }
        if (!ntok)
            continue;
        status = record(&r, tok, ntok);
        if (status)
            break;
    }
    if (!status && ferror(in))
        status = bad(&r, ST_BAD, "read error");
    if (!status && !r.header)
        status = bad(&r, ST_BAD, "empty trace: no `vits-trace 1` header");
    if (!status)
        flush_errors(&r);
    free(buf);
    if (vm_nr_its(r.vm))
        res->commands = r.commands_before + vm_its_commands(r.vm, ITS);
    struct vm_stats st;
    vm_stats(r.vm, &st);
    res->violations = st.violations;
    if (!status && st.violations) {
        mismatch(&r, 0, "the injector saw %" PRIu64 " protocol violations: %s", st.violations,
                 vm_first_violation(r.vm));
    }
    if (!status && res->mismatches)
        status = ST_MISMATCH;
    res->status = status;
    print_report(&r);
    vm_free(r.vm);
    free(r.mapped);
    return status;
}

int replay_file(const char *path, const struct replay_options *opt, struct replay_result *res)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "%s: cannot open: %s\n", path, strerror(errno));
        if (res) {
            memset(res, 0, sizeof(*res));
            res->status = ST_BAD;
        }
        return ST_BAD;
    }
    int rc = replay_stream(f, path, opt, res);
    fclose(f);
    return rc;
}
