/* SPDX-License-Identifier: MIT */
/* The guest ITS driver model; see driver.h. Guest-side code: it reaches
 * the ITS only through guest memory and MMIO, like a kernel would. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "driver.h"
#include "migrate.h"

/* GITS registers */
#define GITS_CTLR 0x0000u
#define GITS_TYPER 0x0008u
#define GITS_CBASER 0x0080u
#define GITS_CWRITER 0x0088u
#define GITS_CREADR 0x0090u
#define GITS_BASER(n) (0x0100u + 8u * (n))
/* GICR registers (RD_base) */
#define GICR_CTLR 0x0u
#define GICR_TYPER 0x8u
#define GICR_PROPBASER 0x70u
#define GICR_PENDBASER 0x78u

#define BASER_VALID (1ull << 63)
#define BASER_INDIRECT (1ull << 62)
#define BASER_TYPE(v) (((v) >> 56) & 7u)
#define BASER_ESZ(v) ((unsigned)(((v) >> 48) & 0x1f) + 1)
#define BASER_PSZ_SHIFT 8
#define BASER_PSZ_MASK (3ull << BASER_PSZ_SHIFT)
/* Linux: GITS_BASER_InnerShareable | GITS_BASER_RaWaWb */
#define BASER_CACHE (1ull << 10 | 7ull << 59)
#define CBASER_CACHE (1ull << 10 | 7ull << 59)
#define PROPBASER_CACHE (1ull << 10 | 7ull << 7)
#define PENDBASER_CACHE (1ull << 10 | 7ull << 7)
#define PENDBASER_PTZ (1ull << 62)
#define TYPE_DEVICES 1u
#define TYPE_COLLECTIONS 4u

#define CMD_MOVI 0x01
#define CMD_SYNC 0x05
#define CMD_MAPD 0x08
#define CMD_MAPC 0x09
#define CMD_MAPTI 0x0a
#define CMD_INV 0x0c
#define CMD_INVALL 0x0d
#define CMD_DISCARD 0x0f

#define ITT_ALIGN 256u
#define POLL_LIMIT 1000000u

struct lpi_range {
    uint32_t base, count;
};

struct block {
    uint64_t addr, size;
};

struct drv_dev {
    uint32_t devid;
    uint32_t nvecs, nr_ites;
    uint32_t lpi_base;
    uint64_t itt, itt_size;
    uint32_t *cpu;
    uint8_t *prop;
};

struct drv {
    struct vm *vm;
    struct drv_config cfg;
    struct trace_writer *rec;
    uint64_t its_base;
    uint32_t nr_cpus;
    uint64_t redist_base;

    /* from GITS_TYPER */
    uint32_t devbits, idbits, cidbits, ite_size;
    bool pta;
    uint32_t lpi_bits;

    /* guest memory */
    uint64_t brk;
    struct block *freed;
    size_t nr_freed, cap_freed;

    /* tables */
    int dev_baser, coll_baser;
    uint64_t dev_table, coll_table;
    uint32_t dev_psz;
    bool dev_indirect;
    uint64_t dev_table_bytes; /* flat: whole table; indirect: level 1 */
    uint64_t queue, queue_size;
    uint64_t cwriter, creadr;
    uint64_t prop_table;
    uint64_t *pend_table;
    uint64_t *rdbase; /* per CPU, the RDbase field value */
    bool *online;
    uint32_t rr; /* round-robin cursor */

    struct lpi_range *free_lpis;
    size_t nr_free_lpis, cap_free_lpis;

    struct drv_dev **devs;
    size_t nr_devs, cap_devs;

    drv_route_fn route;
    void *route_ctx;
    struct drv_stats st;
    uint64_t seen_errors;
    char err[200];
};

static const char *const cmd_names[16] = {
    [0x01] = "MOVI", [0x03] = "INT",    [0x04] = "CLEAR",  [0x05] = "SYNC",
    [0x08] = "MAPD", [0x09] = "MAPC",   [0x0a] = "MAPTI",  [0x0b] = "MAPI",
    [0x0c] = "INV",  [0x0d] = "INVALL", [0x0e] = "MOVALL", [0x0f] = "DISCARD",
};

const char *drv_cmd_name(unsigned cmd) { return cmd < 16 && cmd_names[cmd] ? cmd_names[cmd] : "?"; }

static int fail(struct drv *drv, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(struct drv *drv, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(drv->err, sizeof(drv->err), fmt, ap);
    va_end(ap);
    return rc;
}

void drv_config_init(struct drv_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->ram_base = 0x40000000ull;
    cfg->ram_size = 1ull << 32;
    cfg->queue_pages = 16;
    cfg->max_psz = 65536;
}

/* ---- MMIO and memory, recorded ---- */

static int its_write(struct drv *drv, uint32_t off, unsigned size, uint64_t val)
{
    drv->st.mmio_writes++;
    if (drv->rec)
        trace_w_its_w(drv->rec, off, size, val);
    return vm_mmio_write(drv->vm, drv->its_base + off, size, val);
}

static uint64_t its_read(struct drv *drv, uint32_t off, unsigned size)
{
    uint64_t val = 0;
    drv->st.mmio_reads++;
    if (vm_mmio_read(drv->vm, drv->its_base + off, size, &val))
        val = ~0ull; /* a failed read reads as all ones, as on a bus */
    if (drv->rec)
        trace_w_its_r(drv->rec, off, size, val);
    return val;
}

static uint64_t gicr_addr(const struct drv *drv, uint32_t cpu, uint32_t off)
{
    return drv->redist_base + (uint64_t)cpu * VM_GICR_STRIDE + off;
}

static int gicr_write(struct drv *drv, uint32_t cpu, uint32_t off, unsigned size, uint64_t val)
{
    drv->st.mmio_writes++;
    if (drv->rec)
        trace_w_gicr_w(drv->rec, cpu, off, size, val);
    return vm_mmio_write(drv->vm, gicr_addr(drv, cpu, off), size, val);
}

static uint64_t gicr_read(struct drv *drv, uint32_t cpu, uint32_t off, unsigned size)
{
    uint64_t val = 0;
    drv->st.mmio_reads++;
    if (vm_mmio_read(drv->vm, gicr_addr(drv, cpu, off), size, &val))
        val = ~0ull;
    if (drv->rec)
        trace_w_gicr_r(drv->rec, cpu, off, size, val);
    return val;
}

/* A guest-memory write the ITS may read: recorded as `mem`. */
static int mem_write(struct drv *drv, uint64_t gpa, const void *buf, size_t len)
{
    drv->st.mem_bytes += len;
    if (drv->rec)
        trace_w_mem(drv->rec, gpa, buf, len);
    return vm_mem_write(drv->vm, gpa, buf, len);
}

static void put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* ---- guest memory allocation (the kernel's page allocator) ---- */

static uint64_t galloc(struct drv *drv, uint64_t size, uint64_t align)
{
    for (size_t i = 0; i < drv->nr_freed; i++)
        if (drv->freed[i].size == size && drv->freed[i].addr % align == 0) {
            uint64_t a = drv->freed[i].addr;
            drv->freed[i] = drv->freed[--drv->nr_freed];
            return a;
        }
    uint64_t a = (drv->brk + align - 1) & ~(align - 1);
    if (a + size > drv->cfg.ram_base + drv->cfg.ram_size || a + size < a)
        return 0;
    drv->brk = a + size;
    return a;
}

static void gfree(struct drv *drv, uint64_t addr, uint64_t size)
{
    if (drv->nr_freed == drv->cap_freed) {
        size_t n = drv->cap_freed ? drv->cap_freed * 2 : 16;
        struct block *b = realloc(drv->freed, n * sizeof(*b));
        if (!b)
            return; /* leaked guest memory: harmless */
        drv->freed = b;
        drv->cap_freed = n;
    }
    drv->freed[drv->nr_freed++] = (struct block){addr, size};
}

/* ---- LPI allocation (first fit, freed ranges merge) ---- */

static int lpi_alloc(struct drv *drv, uint32_t n, uint32_t *base)
{
    for (size_t i = 0; i < drv->nr_free_lpis; i++) {
        struct lpi_range *r = &drv->free_lpis[i];
        if (r->count < n)
            continue;
        *base = r->base;
        r->base += n;
        r->count -= n;
        if (!r->count) {
            memmove(r, r + 1, (drv->nr_free_lpis - i - 1) * sizeof(*r));
            drv->nr_free_lpis--;
        }
        return 0;
    }
    return -ENOSPC;
}

static void lpi_free(struct drv *drv, uint32_t base, uint32_t n)
{
    size_t i = 0;
    while (i < drv->nr_free_lpis && drv->free_lpis[i].base < base)
        i++;
    if (drv->nr_free_lpis == drv->cap_free_lpis) {
        size_t cap = drv->cap_free_lpis ? drv->cap_free_lpis * 2 : 16;
        struct lpi_range *r = realloc(drv->free_lpis, cap * sizeof(*r));
        if (!r)
            return;
        drv->free_lpis = r;
        drv->cap_free_lpis = cap;
    }
    memmove(&drv->free_lpis[i + 1], &drv->free_lpis[i],
            (drv->nr_free_lpis - i) * sizeof(*drv->free_lpis));
    drv->free_lpis[i] = (struct lpi_range){base, n};
    drv->nr_free_lpis++;
    /* merge with the next, then with the previous */
    if (i + 1 < drv->nr_free_lpis && base + n == drv->free_lpis[i + 1].base) {
        drv->free_lpis[i].count += drv->free_lpis[i + 1].count;
        memmove(&drv->free_lpis[i + 1], &drv->free_lpis[i + 2],
                (drv->nr_free_lpis - i - 2) * sizeof(*drv->free_lpis));
        drv->nr_free_lpis--;
    }
    if (i > 0 && drv->free_lpis[i - 1].base + drv->free_lpis[i - 1].count == base) {
        drv->free_lpis[i - 1].count += drv->free_lpis[i].count;
        memmove(&drv->free_lpis[i], &drv->free_lpis[i + 1],
                (drv->nr_free_lpis - i - 1) * sizeof(*drv->free_lpis));
        drv->nr_free_lpis--;
    }
}

/* ---- the command queue ---- */

static void enc(uint64_t dw[4], uint8_t cmd)
{
    memset(dw, 0, 4 * sizeof(*dw));
    dw[0] = cmd;
}

static void enc_devid(uint64_t dw[4], uint32_t devid) { dw[0] |= (uint64_t)devid << 32; }
static void enc_event(uint64_t dw[4], uint32_t ev) { dw[1] |= ev; }
static void enc_pintid(uint64_t dw[4], uint32_t intid) { dw[1] |= (uint64_t)intid << 32; }
static void enc_icid(uint64_t dw[4], uint32_t icid) { dw[2] |= icid & 0xffffu; }
static void enc_target(uint64_t dw[4], uint64_t rd) { dw[2] |= (rd & ((1ull << 36) - 1)) << 16; }
static void enc_valid(uint64_t dw[4], bool v) { dw[2] |= (uint64_t)v << 63; }

/* Wait until the ITS consumed everything up to CWRITER (Linux's
 * its_wait_for_range_completion). Returns 0 or -EIO (stalled/stuck). */
static int wait_creadr(struct drv *drv)
{
    for (unsigned i = 0; i < POLL_LIMIT; i++) {
        uint64_t r = its_read(drv, GITS_CREADR, 8);
        if (r & 1)
            return fail(drv, -EIO, "ITS stalled at offset 0x%" PRIx64, r & ~(uint64_t)1);
        drv->creadr = r & 0xfffe0u;
        if (drv->creadr == drv->cwriter)
            return 0;
    }
    return fail(drv, -EIO,
                "ITS command queue timeout (CREADR 0x%" PRIx64 ", CWRITER 0x%" PRIx64 ")",
                drv->creadr, drv->cwriter);
}

/* Host side, for the recording and the statistics: command errors the
 * last batch raised. */
static void note_errors(struct drv *drv)
{
    struct vits_cmd_error e;
    uint64_t count = 0;
    vits_its_last_error(vm_its(drv->vm, drv->cfg.its_index), &e, &count);
    uint64_t n = count - drv->seen_errors;
    drv->seen_errors = count;
    drv->st.cmd_errors += n;
    if (!drv->rec || !n)
        return;
    if (n > 1)
        trace_w_comment(drv->rec,
                        "%" PRIu64 " command errors in one batch; only the last is "
                        "known",
                        n);
    trace_w_cmd_error(drv->rec, e.code);
}

/* Queue n commands at CWRITER, write CWRITER, wait for CREADR. */
static int post(struct drv *drv, const uint64_t (*cmds)[4], unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        uint64_t next = (drv->cwriter + 32) % drv->queue_size;
        if (next == drv->creadr) { /* full: Linux's its_queue_full */
            int rc = wait_creadr(drv);
            if (rc)
                return rc;
        }
        uint8_t raw[32];
        for (int w = 0; w < 4; w++)
            put_le64(raw + 8 * w, cmds[i][w]);
        int rc = mem_write(drv, drv->queue + drv->cwriter, raw, sizeof(raw));
        if (rc)
            return fail(drv, rc, "command queue write failed (%d)", rc);
        drv->st.cmds[cmds[i][0] & 0xf]++;
        drv->cwriter = next;
    }
    drv->st.batches++;
    its_write(drv, GITS_CWRITER, 8, drv->cwriter);
    note_errors(drv);
    return wait_creadr(drv);
}

/* cmd + SYNC to cpu's redistributor: Linux's its_send_single_command. */
static int post_synced(struct drv *drv, const uint64_t dw[4], uint32_t cpu)
{
    uint64_t cmds[2][4];
    memcpy(cmds[0], dw, sizeof(cmds[0]));
    enc(cmds[1], CMD_SYNC);
    enc_target(cmds[1], drv->rdbase[cpu]);
    return post(drv, (const uint64_t(*)[4])cmds, 2);
}

int drv_raw_command(struct drv *drv, const uint64_t dw[4])
{
    return post(drv, (const uint64_t(*)[4])dw, 1);
}

int drv_migrate(struct drv *drv, bool snapshot)
{
    if (drv->rec)
        trace_w_migrate(drv->rec, snapshot);
    char why[200];
    int rc =
        vm_migrate(drv->vm, snapshot ? VM_MIGRATE_SNAPSHOT : VM_MIGRATE_TABLES, why, sizeof(why));
    if (rc)
        return fail(drv, rc, "%s", why);
    drv->seen_errors = 0; /* a new ITS counts from zero */
    return 0;
}

/* ---- boot ---- */

int drv_new(struct vm *vm, const struct drv_config *cfg, struct trace_writer *rec, struct drv **out)
{
    if (!vm || !cfg || !out || !vm_its(vm, cfg->its_index))
        return -EINVAL;
    struct drv *drv = calloc(1, sizeof(*drv));
    if (!drv)
        return -ENOMEM;
    drv->vm = vm;
    drv->cfg = *cfg;
    if (!drv->cfg.queue_pages || drv->cfg.queue_pages > 256)
        drv->cfg.queue_pages = 16;
    if (!drv->cfg.max_psz)
        drv->cfg.max_psz = 65536;
    drv->rec = rec;
    drv->brk = cfg->ram_base;
    drv->nr_cpus = vm_nr_vcpus(vm);
    drv->redist_base = vm_redist_base(vm);
    drv->its_base = vm_its_base(vm, cfg->its_index);
    drv->dev_baser = drv->coll_baser = -1;
    drv->pend_table = calloc(drv->nr_cpus, sizeof(*drv->pend_table));
    drv->rdbase = calloc(drv->nr_cpus, sizeof(*drv->rdbase));
    drv->online = calloc(drv->nr_cpus, sizeof(*drv->online));
    if (!drv->pend_table || !drv->rdbase || !drv->online) {
        drv_free(drv);
        return -ENOMEM;
    }
    *out = drv;
    return 0;
}

void drv_free(struct drv *drv)
{
    if (!drv)
        return;
    for (size_t i = 0; i < drv->nr_devs; i++) {
        free(drv->devs[i]->cpu);
        free(drv->devs[i]->prop);
        free(drv->devs[i]);
    }
    free(drv->devs);
    free(drv->free_lpis);
    free(drv->freed);
    free(drv->pend_table);
    free(drv->rdbase);
    free(drv->online);
    free(drv);
}

void drv_set_route_hook(struct drv *drv, drv_route_fn fn, void *ctx)
{
    drv->route = fn;
    drv->route_ctx = ctx;
}

static unsigned ilog2_u64(uint64_t v)
{
    unsigned r = 0;
    while (v >>= 1)
        r++;
    return r;
}

/*
 * Linux's its_setup_baser: program BASER n for a table of 2^ids entries
 * of esz bytes, trying page sizes from the largest down, two-level for
 * the device table when a flat one would be larger than two pages.
 */
static int setup_baser(struct drv *drv, unsigned n, uint64_t type, unsigned esz, unsigned ids)
{
    for (uint32_t psz = drv->cfg.max_psz; psz >= 4096; psz /= 4) {
        uint64_t psz_field = psz == 65536 ? 2 : psz == 16384 ? 1 : 0;
        bool indirect = false;
        unsigned tids = ids;
        unsigned tesz = esz;
        if (type == TYPE_DEVICES && ((uint64_t)esz << ids) > (uint64_t)psz * 2) {
            /* probe the Indirect bit */
            its_write(drv, GITS_BASER(n), 8, BASER_CACHE | BASER_INDIRECT);
            indirect = its_read(drv, GITS_BASER(n), 8) & BASER_INDIRECT;
            if (indirect) {
                tids -= ilog2_u64(psz / esz);
                tesz = 8; /* level-1 entries */
            }
        }
        uint64_t bytes = (uint64_t)tesz << tids;
        uint64_t pages = (bytes + psz - 1) / psz;
        if (pages > 256)
            pages = 256; /* Linux reduces the ID space */
        if (pages < 1)
            pages = 1;
        uint64_t pa = galloc(drv, pages * psz, psz);
        if (!pa)
            return fail(drv, -ENOSPC, "no guest RAM for the table of GITS_BASER%u", n);
        uint64_t val = pa | type << 56 | (uint64_t)(esz - 1) << 48 | (pages - 1) | BASER_CACHE |
                       psz_field << BASER_PSZ_SHIFT | BASER_VALID | (indirect ? BASER_INDIRECT : 0);
        if (psz == 65536) /* PA[51:48] in [15:12] */
            val = (val & ~0xf000ull) | ((pa >> 48) & 0xf) << 12;
        its_write(drv, GITS_BASER(n), 8, val);
        uint64_t tmp = its_read(drv, GITS_BASER(n), 8);
        if ((val ^ tmp) & BASER_PSZ_MASK) {
            gfree(drv, pa, pages * psz);
            continue; /* page size did not stick: try a smaller one */
        }
        if (val != tmp)
            return fail(drv, -ENXIO,
                        "GITS_BASER%u does not stick: wrote 0x%016" PRIx64 ", read 0x%016" PRIx64,
                        n, val, tmp);
        if (type == TYPE_DEVICES) {
            drv->dev_table = pa;
            drv->dev_psz = psz;
            drv->dev_indirect = indirect;
            drv->dev_table_bytes = pages * psz;
        } else {
            drv->coll_table = pa;
        }
        return 0;
    }
    return fail(drv, -ENXIO, "GITS_BASER%u: no page size sticks", n);
}

static int init_tables(struct drv *drv)
{
    for (unsigned n = 0; n < 8; n++) {
        uint64_t val = its_read(drv, GITS_BASER(n), 8);
        uint64_t type = BASER_TYPE(val);
        unsigned esz = BASER_ESZ(val);
        int rc = 0;
        if (type == TYPE_DEVICES) {
            rc = setup_baser(drv, n, type, esz, drv->devbits);
            drv->dev_baser = (int)n;
        } else if (type == TYPE_COLLECTIONS) {
            /* one entry per CPU is enough; Linux allocates one page */
            unsigned ids = ilog2_u64(drv->nr_cpus) + 1;
            rc = setup_baser(drv, n, type, esz, ids < drv->cidbits ? ids : drv->cidbits);
            drv->coll_baser = (int)n;
        }
        if (rc)
            return rc;
    }
    if (drv->dev_baser < 0 || drv->coll_baser < 0)
        return fail(drv, -ENODEV, "the ITS has no Devices or Collections table");
    return 0;
}

/* its_cpu_init_lpis: property and pending tables, EnableLPIs. */
static int init_redist(struct drv *drv, uint32_t cpu)
{
    uint64_t typer = gicr_read(drv, cpu, GICR_TYPER, 8);
    if (!(typer & 1))
        return fail(drv, -ENODEV, "CPU %u: redistributor without physical LPIs", cpu);
    drv->rdbase[cpu] = drv->pta ? gicr_addr(drv, cpu, 0) >> 16 : (typer >> 8) & 0xffff;
    if (gicr_read(drv, cpu, GICR_CTLR, 4) & 1) /* already enabled (kexec): keep it */
        return 0;
    uint64_t prop = drv->prop_table | PROPBASER_CACHE | (drv->lpi_bits - 1);
    gicr_write(drv, cpu, GICR_PROPBASER, 8, prop);
    gicr_read(drv, cpu, GICR_PROPBASER, 8);
    uint64_t pend = drv->pend_table[cpu] | PENDBASER_CACHE | (drv->cfg.ptz ? PENDBASER_PTZ : 0);
    gicr_write(drv, cpu, GICR_PENDBASER, 8, pend);
    gicr_read(drv, cpu, GICR_PENDBASER, 8);
    uint64_t ctlr = gicr_read(drv, cpu, GICR_CTLR, 4);
    gicr_write(drv, cpu, GICR_CTLR, 4, ctlr | 1);
    return 0;
}

/* its_cpu_init_collection: MAPC (+ SYNC) then INVALL. */
static int init_collection(struct drv *drv, uint32_t cpu)
{
    uint64_t dw[4];
    enc(dw, CMD_MAPC);
    enc_icid(dw, cpu);
    enc_target(dw, drv->rdbase[cpu]);
    enc_valid(dw, true);
    int rc = post_synced(drv, dw, cpu);
    if (rc)
        return rc;
    enc(dw, CMD_INVALL);
    enc_icid(dw, cpu);
    rc = post(drv, (const uint64_t(*)[4])dw, 1);
    if (!rc)
        drv->online[cpu] = true;
    return rc;
}

int drv_boot(struct drv *drv)
{
    uint64_t typer = its_read(drv, GITS_TYPER, 8);
    if (!(typer & 1))
        return fail(drv, -ENODEV, "GITS_TYPER: no physical LPIs");
    drv->ite_size = (unsigned)((typer >> 4) & 0xf) + 1;
    drv->idbits = (unsigned)((typer >> 8) & 0x1f) + 1;
    drv->devbits = (unsigned)((typer >> 13) & 0x1f) + 1;
    drv->pta = (typer >> 19) & 1;
    drv->cidbits = (typer >> 36) & 1 ? (unsigned)((typer >> 32) & 0xf) + 1 : 16;
    if (drv->cidbits < 16 && drv->nr_cpus > (1u << drv->cidbits))
        return fail(drv, -ENODEV, "%u CPUs but only %u collection ID bits", drv->nr_cpus,
                    drv->cidbits);

    /* LPI tables (allocate_lpi_tables): a 64 KiB-aligned property table
     * for min(16, the GIC's) ID bits and a pending table per CPU. */
    drv->lpi_bits = drv->cfg.lpi_bits ? drv->cfg.lpi_bits : 16;
    if (drv->lpi_bits < 14 || drv->lpi_bits > 24)
        return fail(drv, -EINVAL, "LPI ID bits %u out of range", drv->lpi_bits);
    drv->prop_table = galloc(drv, 1ull << drv->lpi_bits, 65536);
    uint64_t pend_size = (1ull << drv->lpi_bits) / 8;
    if (pend_size < 65536)
        pend_size = 65536;
    for (uint32_t c = 0; c < drv->nr_cpus; c++)
        drv->pend_table[c] = galloc(drv, pend_size, 65536);
    if (!drv->prop_table || (drv->nr_cpus && !drv->pend_table[drv->nr_cpus - 1]))
        return fail(drv, -ENOSPC, "no guest RAM for the LPI tables");
    drv->nr_free_lpis = 0;
    lpi_free(drv, 8192, (1u << drv->lpi_bits) - 8192);

    /* its_force_quiescent */
    uint64_t ctlr = its_read(drv, GITS_CTLR, 4);
    if (ctlr & 1) {
        its_write(drv, GITS_CTLR, 4, ctlr & ~1ull);
        unsigned i;
        for (i = 0; i < POLL_LIMIT && !(its_read(drv, GITS_CTLR, 4) & (1u << 31)); i++)
            ;
        if (i == POLL_LIMIT)
            return fail(drv, -EIO, "the ITS does not become quiescent");
    }
    int rc = init_tables(drv);
    if (rc)
        return rc;

    drv->queue_size = (uint64_t)drv->cfg.queue_pages * 4096;
    drv->queue = galloc(drv, drv->queue_size, 65536);
    if (!drv->queue)
        return fail(drv, -ENOSPC, "no guest RAM for the command queue");
    its_write(drv, GITS_CBASER, 8,
              drv->queue | CBASER_CACHE | (drv->cfg.queue_pages - 1) | 1ull << 63);
    its_read(drv, GITS_CBASER, 8);
    its_write(drv, GITS_CWRITER, 8, 0);
    drv->cwriter = drv->creadr = 0;
    ctlr = its_read(drv, GITS_CTLR, 4);
    its_write(drv, GITS_CTLR, 4, ctlr | 1);

    for (uint32_t c = 0; c < drv->nr_cpus; c++) {
        rc = init_redist(drv, c);
        if (rc)
            return rc;
        rc = init_collection(drv, c);
        if (rc)
            return rc;
    }
    return 0;
}

/* ---- devices ---- */

static struct drv_dev *find_dev(const struct drv *drv, uint32_t devid)
{
    for (size_t i = 0; i < drv->nr_devs; i++)
        if (drv->devs[i]->devid == devid)
            return drv->devs[i];
    return NULL;
}

/* its_alloc_device_table: make sure the level-2 page of devid exists. */
static int alloc_device_entry(struct drv *drv, uint32_t devid)
{
    if (!drv->dev_indirect) {
        if ((uint64_t)devid >= drv->dev_table_bytes / 8)
            return fail(drv, -E2BIG, "DeviceID 0x%x beyond the device table", devid);
        return 0;
    }
    uint64_t idx = devid / (drv->dev_psz / 8);
    if (idx >= drv->dev_table_bytes / 8)
        return fail(drv, -E2BIG, "DeviceID 0x%x beyond the device table", devid);
    uint64_t l1 = drv->dev_table + idx * 8;
    if (vm_mem_read64(drv->vm, l1) & BASER_VALID)
        return 0;
    uint64_t page = galloc(drv, drv->dev_psz, drv->dev_psz);
    if (!page)
        return fail(drv, -ENOSPC, "no guest RAM for a level-2 device table page");
    uint8_t raw[8];
    put_le64(raw, page | BASER_VALID);
    return mem_write(drv, l1, raw, 8);
}

static void route(struct drv *drv, uint32_t intid, uint32_t cpu, bool done)
{
    if (drv->route)
        drv->route(drv->route_ctx, intid, cpu, done);
}

static uint32_t next_online(struct drv *drv, uint32_t avoid)
{
    for (uint32_t i = 0; i < drv->nr_cpus; i++) {
        uint32_t c = drv->rr++ % drv->nr_cpus;
        if (drv->online[c] && c != avoid)
            return c;
    }
    return DRV_NO_CPU;
}

static int write_prop(struct drv *drv, uint32_t intid, uint8_t byte)
{
    return mem_write(drv, drv->prop_table + (intid - 8192), &byte, 1);
}

static int send_inv(struct drv *drv, const struct drv_dev *dev, uint32_t vec)
{
    uint64_t dw[4];
    enc(dw, CMD_INV);
    enc_devid(dw, dev->devid);
    enc_event(dw, vec);
    return post_synced(drv, dw, dev->cpu[vec]);
}

int drv_add_device(struct drv *drv, uint32_t devid, uint32_t nvecs, const uint32_t *cpus)
{
    if (find_dev(drv, devid))
        return fail(drv, -EEXIST, "device 0x%x exists", devid);
    if (nvecs < 1 || nvecs > 65536)
        return fail(drv, -E2BIG, "%u vectors", nvecs);
    if (drv->devbits < 32 && devid >> drv->devbits)
        return fail(drv, -E2BIG, "DeviceID 0x%x beyond %u bits", devid, drv->devbits);
    uint32_t nr_ites = 2;
    while (nr_ites < nvecs)
        nr_ites *= 2;
    if (ilog2_u64(nr_ites) > drv->idbits)
        return fail(drv, -E2BIG, "%u vectors beyond %u EventID bits", nvecs, drv->idbits);
    for (uint32_t v = 0; cpus && v < nvecs; v++)
        if (cpus[v] >= drv->nr_cpus || !drv->online[cpus[v]])
            return fail(drv, -EINVAL, "vector %u: CPU %u is not online", v, cpus[v]);
    int rc = alloc_device_entry(drv, devid);
    if (rc)
        return rc;
    if (drv->nr_devs == drv->cap_devs) {
        size_t cap = drv->cap_devs ? drv->cap_devs * 2 : 16;
        struct drv_dev **d = realloc(drv->devs, cap * sizeof(*d));
        if (!d)
            return -ENOMEM;
        drv->devs = d;
        drv->cap_devs = cap;
    }
    struct drv_dev *dev = calloc(1, sizeof(*dev));
    if (!dev)
        return -ENOMEM;
    dev->cpu = calloc(nvecs, sizeof(*dev->cpu));
    dev->prop = calloc(nvecs, 1);
    if (!dev->cpu || !dev->prop || lpi_alloc(drv, nvecs, &dev->lpi_base)) {
        free(dev->cpu);
        free(dev->prop);
        free(dev);
        return fail(drv, -ENOSPC, "no LPIs left for %u vectors", nvecs);
    }
    dev->devid = devid;
    dev->nvecs = nvecs;
    dev->nr_ites = nr_ites;
    dev->itt_size = (uint64_t)nr_ites * drv->ite_size;
    if (dev->itt_size < ITT_ALIGN)
        dev->itt_size = ITT_ALIGN;
    dev->itt = galloc(drv, dev->itt_size, ITT_ALIGN);
    if (!dev->itt) {
        lpi_free(drv, dev->lpi_base, nvecs);
        free(dev->cpu);
        free(dev->prop);
        free(dev);
        return fail(drv, -ENOSPC, "no guest RAM for an ITT");
    }
    drv->devs[drv->nr_devs++] = dev;
    drv->st.dev_added++;

    /* The LPIs' property bytes start as Linux's default: priority 0xa0,
     * group 1, disabled (Linux writes them when it sets the table up). */
    uint8_t *bytes = malloc(nvecs);
    if (!bytes)
        return -ENOMEM;
    memset(bytes, DRV_DEFAULT_PRIO | DRV_PROP_GROUP1, nvecs);
    memset(dev->prop, DRV_DEFAULT_PRIO | DRV_PROP_GROUP1, nvecs);
    rc = mem_write(drv, drv->prop_table + (dev->lpi_base - 8192), bytes, nvecs);
    free(bytes);
    if (rc)
        return rc;

    uint64_t dw[4];
    enc(dw, CMD_MAPD);
    enc_devid(dw, devid);
    dw[1] |= ilog2_u64(nr_ites) - 1;
    dw[2] |= dev->itt & (((1ull << 44) - 1) << 8);
    enc_valid(dw, true);
    rc = post(drv, (const uint64_t(*)[4])dw, 1);
    if (rc)
        return rc;
    for (uint32_t v = 0; v < nvecs; v++) {
        uint32_t cpu = cpus ? cpus[v] : next_online(drv, DRV_NO_CPU);
        uint32_t intid = dev->lpi_base + v;
        dev->cpu[v] = cpu;
        route(drv, intid, cpu, false);
        enc(dw, CMD_MAPTI);
        enc_devid(dw, devid);
        enc_event(dw, v);
        enc_pintid(dw, intid);
        enc_icid(dw, cpu);
        rc = post_synced(drv, dw, cpu);
        route(drv, intid, cpu, true);
        if (rc)
            return rc;
        /* unmask: enable, then INV */
        dev->prop[v] |= DRV_PROP_ENABLE;
        rc = write_prop(drv, intid, dev->prop[v]);
        if (!rc)
            rc = send_inv(drv, dev, v);
        if (rc)
            return rc;
    }
    return 0;
}

int drv_remove_device(struct drv *drv, uint32_t devid)
{
    struct drv_dev *dev = find_dev(drv, devid);
    if (!dev)
        return fail(drv, -ENOENT, "no device 0x%x", devid);
    uint64_t dw[4];
    int rc = 0;
    for (uint32_t v = 0; v < dev->nvecs && !rc; v++) {
        uint32_t intid = dev->lpi_base + v;
        dev->prop[v] &= (uint8_t)~DRV_PROP_ENABLE; /* mask */
        rc = write_prop(drv, intid, dev->prop[v]);
        if (!rc)
            rc = send_inv(drv, dev, v);
        if (rc)
            break;
        route(drv, intid, DRV_NO_CPU, false);
        enc(dw, CMD_DISCARD);
        enc_devid(dw, devid);
        enc_event(dw, v);
        rc = post_synced(drv, dw, dev->cpu[v]);
        route(drv, intid, DRV_NO_CPU, true);
    }
    if (rc)
        return rc;
    enc(dw, CMD_MAPD);
    enc_devid(dw, devid);
    rc = post(drv, (const uint64_t(*)[4])dw, 1);
    if (rc)
        return rc;
    lpi_free(drv, dev->lpi_base, dev->nvecs);
    gfree(drv, dev->itt, dev->itt_size);
    for (size_t i = 0; i < drv->nr_devs; i++)
        if (drv->devs[i] == dev) {
            drv->devs[i] = drv->devs[--drv->nr_devs];
            break;
        }
    free(dev->cpu);
    free(dev->prop);
    free(dev);
    drv->st.dev_removed++;
    return 0;
}

static int move_vector(struct drv *drv, uint32_t devid, uint32_t vec, uint32_t cpu);

int drv_set_affinity(struct drv *drv, uint32_t devid, uint32_t vec, uint32_t cpu)
{
    int rc = move_vector(drv, devid, vec, cpu);
    if (!rc)
        drv->st.affinity_changes++;
    return rc;
}

/* its_set_affinity: MOVI + SYNC to the new CPU's redistributor. */
static int move_vector(struct drv *drv, uint32_t devid, uint32_t vec, uint32_t cpu)
{
    struct drv_dev *dev = find_dev(drv, devid);
    if (!dev || vec >= dev->nvecs)
        return fail(drv, -ENOENT, "no vector %u of device 0x%x", vec, devid);
    if (cpu >= drv->nr_cpus || !drv->online[cpu])
        return fail(drv, -EINVAL, "CPU %u is not online", cpu);
    if (dev->cpu[vec] == cpu)
        return 0;
    uint32_t intid = dev->lpi_base + vec;
    route(drv, intid, cpu, false);
    uint64_t dw[4];
    enc(dw, CMD_MOVI);
    enc_devid(dw, devid);
    enc_event(dw, vec);
    enc_icid(dw, cpu);
    int rc = post_synced(drv, dw, cpu);
    dev->cpu[vec] = cpu;
    route(drv, intid, cpu, true);
    drv->st.movis++;
    return rc;
}

int drv_cpu_offline(struct drv *drv, uint32_t cpu)
{
    if (cpu >= drv->nr_cpus || !drv->online[cpu])
        return fail(drv, -EINVAL, "CPU %u is not online", cpu);
    uint32_t others = 0;
    for (uint32_t c = 0; c < drv->nr_cpus; c++)
        others += c != cpu && drv->online[c];
    if (!others)
        return fail(drv, -EINVAL, "CPU %u is the last one online", cpu);
    drv->online[cpu] = false; /* no new affinity to it from now on */
    for (size_t i = 0; i < drv->nr_devs; i++) {
        struct drv_dev *dev = drv->devs[i];
        for (uint32_t v = 0; v < dev->nvecs; v++)
            if (dev->cpu[v] == cpu) {
                int rc = move_vector(drv, dev->devid, v, next_online(drv, cpu));
                if (rc)
                    return rc;
            }
    }
    drv->st.cpu_offline++;
    return 0;
}

int drv_cpu_online(struct drv *drv, uint32_t cpu)
{
    if (cpu >= drv->nr_cpus || drv->online[cpu])
        return fail(drv, -EINVAL, "CPU %u is not offline", cpu);
    int rc = init_collection(drv, cpu);
    if (!rc)
        drv->st.cpu_online++;
    return rc;
}

int drv_set_property(struct drv *drv, uint32_t devid, uint32_t vec, uint8_t priority, bool enabled)
{
    struct drv_dev *dev = find_dev(drv, devid);
    if (!dev || vec >= dev->nvecs)
        return fail(drv, -ENOENT, "no vector %u of device 0x%x", vec, devid);
    dev->prop[vec] = (uint8_t)((priority & 0xfc) | DRV_PROP_GROUP1 | (enabled ? 1 : 0));
    int rc = write_prop(drv, dev->lpi_base + vec, dev->prop[vec]);
    if (!rc)
        rc = send_inv(drv, dev, vec);
    drv->st.prop_changes++;
    return rc;
}

/* ---- state ---- */

uint32_t drv_lpi(const struct drv *drv, uint32_t devid, uint32_t vec)
{
    const struct drv_dev *dev = find_dev(drv, devid);
    return dev && vec < dev->nvecs ? dev->lpi_base + vec : 0;
}

uint32_t drv_vector_cpu(const struct drv *drv, uint32_t devid, uint32_t vec)
{
    const struct drv_dev *dev = find_dev(drv, devid);
    return dev && vec < dev->nvecs ? dev->cpu[vec] : DRV_NO_CPU;
}

bool drv_cpu_is_online(const struct drv *drv, uint32_t cpu)
{
    return cpu < drv->nr_cpus && drv->online[cpu];
}

uint32_t drv_nr_cpus(const struct drv *drv) { return drv->nr_cpus; }
uint64_t drv_doorbell(const struct drv *drv) { return drv->its_base + VITS_GITS_TRANSLATER; }
bool drv_two_level(const struct drv *drv) { return drv->dev_indirect; }
uint32_t drv_table_page_size(const struct drv *drv) { return drv->dev_psz; }
void drv_get_stats(const struct drv *drv, struct drv_stats *st) { *st = drv->st; }
const char *drv_last_error(const struct drv *drv) { return drv->err; }

/* ---- devices and vCPUs, recorded ---- */

int drv_msi(struct drv *drv, uint32_t devid, uint32_t eventid)
{
    if (drv->rec)
        trace_w_msi(drv->rec, devid, eventid);
    return vm_msi(drv->vm, drv_doorbell(drv), devid, eventid);
}

int drv_take(struct drv *drv, uint32_t cpu, uint32_t *intid)
{
    uint32_t id;
    int rc = vm_take(drv->vm, cpu, false, &id, NULL);
    if (rc == 1) {
        if (drv->rec)
            trace_w_ack(drv->rec, cpu, id);
        if (intid)
            *intid = id;
    }
    return rc;
}

unsigned drv_drain(struct drv *drv)
{
    unsigned n = 0;
    for (uint32_t c = 0; c < drv->nr_cpus; c++)
        while (drv_take(drv, c, NULL) == 1)
            n++;
    return n;
}

void drv_expect_idle(struct drv *drv)
{
    if (drv->rec)
        trace_w_expect_idle(drv->rec);
}

void drv_expect_pending(struct drv *drv, uint32_t cpu, uint32_t intid)
{
    if (drv->rec)
        trace_w_expect_pending(drv->rec, cpu, intid);
}
