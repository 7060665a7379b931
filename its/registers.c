/* SPDX-License-Identifier: MIT */
/*
 * The ITS register frame: a descriptor table of offset, width and
 * handlers, and one helper that merges 32-bit halves of 64-bit registers.
 * Offsets in the frame that the table does not name are reserved: they
 * read as zero and ignore writes.
 */
#include <errno.h>

#include "its.h"

#define GITS_CTLR 0x0000
#define GITS_IIDR 0x0004
#define GITS_TYPER 0x0008
#define GITS_CBASER 0x0080
#define GITS_CWRITER 0x0088
#define GITS_CREADR 0x0090
#define GITS_BASER0 0x0100
#define GITS_PIDR4 0xffd0
#define GITS_PIDR0 0xffe0
#define GITS_PIDR2 0xffe8
#define GITS_CIDR0 0xfff0

#define CTLR_ENABLED 1u
#define CTLR_QUIESCENT (1u << 31)
#define CBASER_MASK                                                                                \
    ((1ull << 63) | (7ull << 59) | (7ull << 53) | (((1ull << 40) - 1) << 12) | (3ull << 10) |      \
     0xffull)
#define CWRITER_RETRY 1ull
#define OFFSET_MASK (((1ull << 15) - 1) << 5) /* [19:5] */
#define IIDR_IMPLEMENTER_ARM 0x43bu
#define IIDR_PRODUCT_VITS 0x56u /* 'V' */

/* Needs the domain lock. */
typedef uint64_t (*reg_read_fn)(struct vits_its *its, unsigned n);
typedef void (*reg_write_fn)(struct vits_its *its, unsigned n, uint64_t val);

struct reg_desc {
    uint32_t offset;
    uint8_t width; /* 4 or 8 */
    uint8_t count; /* consecutive registers of this kind */
    const char *name;
    reg_read_fn read;
    reg_write_fn write; /* NULL: read-only */
};

static uint64_t read_ctlr(struct vits_its *its, unsigned n)
{
    (void)n;
    /* Commands complete synchronously, so a disabled ITS has nothing in
     * flight and is quiescent. */
    return atomic_load(&its->enabled) ? CTLR_ENABLED : CTLR_QUIESCENT;
}

static void write_ctlr(struct vits_its *its, unsigned n, uint64_t val)
{
    (void)n;
    bool enable = val & CTLR_ENABLED;
    if (enable == atomic_load(&its->enabled))
        return;
    atomic_store(&its->enabled, enable);
    lpi_log(its->d, VITS_LOG_INFO, "ITS at 0x%llx %s", (unsigned long long)its->cfg.base,
            enable ? "enabled" : "disabled");
    if (enable)
        its_process_queue(its);
}

static uint64_t read_iidr(struct vits_its *its, unsigned n)
{
    (void)n;
    return IIDR_PRODUCT_VITS << 24 | (its->cfg.iidr_revision & 0xf) << 12 | IIDR_IMPLEMENTER_ARM;
}

static uint64_t read_typer(struct vits_its *its, unsigned n)
{
    (void)n;
    const struct vits_its_config *c = &its->cfg;
    return 1ull                                          /* Physical */
           | 7ull << 4                                   /* ITT_entry_size: 8 bytes */
           | (uint64_t)(c->event_id_bits - 1) << 8       /* ID_bits */
           | (uint64_t)(c->device_id_bits - 1) << 13     /* Devbits */
           | (uint64_t)(c->pta & 1) << 19                /* PTA */
           | (uint64_t)(c->collection_id_bits - 1) << 32 /* CIDbits */
           | 1ull << 36;                                 /* CIL */
}

static uint64_t read_cbaser(struct vits_its *its, unsigned n)
{
    (void)n;
    return its->cbaser;
}

uint64_t its_cbaser_sanitise(uint64_t val)
{
    if (lpi_bits(val, 11, 10) == 3)
        val &= ~(1ull << 10); /* reserved Shareability 0b11 reads as Outer (0b10) */
    return val & CBASER_MASK;
}

static void write_cbaser(struct vits_its *its, unsigned n, uint64_t val)
{
    (void)n;
    if (atomic_load(&its->enabled)) {
        /* UNPREDICTABLE while enabled: ignored, as KVM does. */
        lpi_log(its->d, VITS_LOG_GUEST, "GITS_CBASER written while the ITS is enabled; ignored");
        return;
    }
    its->cbaser = its_cbaser_sanitise(val);
    /* Writing CBASER resets CREADR; CWRITER follows it (as KVM does), so
     * the new queue starts empty. */
    its->creadr = 0;
    its->cwriter = 0;
    its->stalled = false;
}

static uint64_t read_cwriter(struct vits_its *its, unsigned n)
{
    (void)n;
    return its->cwriter;
}

static void write_cwriter(struct vits_its *its, unsigned n, uint64_t val)
{
    (void)n;
    uint64_t off = val & OFFSET_MASK;
    if (off >= its_queue_size(its)) {
        /* UNPREDICTABLE: the write is ignored, as KVM does. */
        lpi_log(its->d, VITS_LOG_GUEST,
                "GITS_CWRITER offset 0x%llx beyond the %llu-byte queue; ignored",
                (unsigned long long)off, (unsigned long long)its_queue_size(its));
        return;
    }
    its->cwriter = off;
    if (its->stalled) {
        its->stalled = false;
        if (!(val & CWRITER_RETRY))
            its->creadr = (its->creadr + 32) % its_queue_size(its);
    }
    its_process_queue(its);
}

static uint64_t read_creadr(struct vits_its *its, unsigned n)
{
    (void)n;
    return its->creadr | (its->stalled ? 1u : 0u);
}

static uint64_t read_baser(struct vits_its *its, unsigned n) { return its->baser[n]; }

static void write_baser(struct vits_its *its, unsigned n, uint64_t val)
{
    if (atomic_load(&its->enabled)) {
        lpi_log(its->d, VITS_LOG_GUEST, "GITS_BASER%u written while the ITS is enabled; ignored",
                n);
        return;
    }
    its->baser[n] = its_baser_sanitise(n, val);
}

/* Peripheral and component ID registers, PIDR4..7 then PIDR0..3 then
 * CIDR0..3 (0xffd0..0xfffc): Arm's JEP106 code, GICv3, a CoreSight
 * component ID. */
static uint64_t read_id(struct vits_its *its, unsigned n)
{
    static const uint8_t ids[12] = {0x04, 0, 0, 0, 0x92, 0xb4, 0x3b, 0, 0x0d, 0xf0, 0x05, 0xb1};
    (void)its;
    return ids[n];
}

/* Searched in order: the queue registers first, since a guest writes
 * GITS_CWRITER for every batch of commands and polls GITS_CREADR. */
static const struct reg_desc regs[] = {
    {GITS_CWRITER, 8, 1, "GITS_CWRITER", read_cwriter, write_cwriter},
    {GITS_CREADR, 8, 1, "GITS_CREADR", read_creadr, NULL},
    {GITS_CTLR, 4, 1, "GITS_CTLR", read_ctlr, write_ctlr},
    {GITS_IIDR, 4, 1, "GITS_IIDR", read_iidr, NULL},
    {GITS_TYPER, 8, 1, "GITS_TYPER", read_typer, NULL},
    {GITS_CBASER, 8, 1, "GITS_CBASER", read_cbaser, write_cbaser},
    {GITS_BASER0, 8, 8, "GITS_BASER", read_baser, write_baser},
    {GITS_PIDR4, 4, 12, "GITS_PIDR/CIDR", read_id, NULL},
};

/* The register an offset falls in, its index n within the descriptor,
 * and the byte offset inside it. */
static const struct reg_desc *find_reg(uint64_t offset, unsigned *n, unsigned *off)
{
    for (size_t i = 0; i < sizeof(regs) / sizeof(regs[0]); i++) {
        const struct reg_desc *r = &regs[i];
        uint64_t end = r->offset + (uint64_t)r->width * r->count;
        if (offset >= r->offset && offset < end) {
            /* width is 4 or 8: shifts and masks, not divisions */
            unsigned shift = r->width == 8 ? 3 : 2;
            *n = (unsigned)((offset - r->offset) >> shift);
            *off = (unsigned)((offset - r->offset) & (r->width - 1u));
            return r;
        }
    }
    return NULL;
}

void its_reg_write(struct vits_its *its, uint64_t offset, uint64_t val)
{
    unsigned n, off;
    const struct reg_desc *r = find_reg(offset, &n, &off);
    if (r && r->write && off == 0)
        r->write(its, n, r->width == 8 ? val : val & 0xffffffffull);
}

static int check_access(const struct vits_its *its, uint64_t offset, unsigned size)
{
    if (!its || offset >= VITS_ITS_FRAME_SIZE)
        return -EINVAL;
    if (size == 2 && offset == VITS_GITS_TRANSLATER)
        return 0;
    if ((size != 4 && size != 8) || (offset & (size - 1)))
        return -EINVAL;
    return 0;
}

/*
 * Whether an access of size bytes at byte off of register r is allowed:
 * the whole register, or a 32-bit half of a 64-bit one. Otherwise it is
 * a guest error, logged, and the access reads as zero / is ignored.
 */
static bool width_ok(struct vits_its *its, const struct reg_desc *r, unsigned size)
{
    if (size <= r->width)
        return true;
    lpi_log(its->d, VITS_LOG_GUEST, "%u-byte access to 32-bit register %s; ignored", size, r->name);
    return false;
}

int vits_its_mmio_read(struct vits_its *its, uint64_t offset, unsigned size, uint64_t *val)
{
    int rc = check_access(its, offset, size);
    if (rc || !val)
        return rc ? rc : -EINVAL;
    *val = 0;
    unsigned n, off;
    const struct reg_desc *r = find_reg(offset, &n, &off);
    if (!r)
        return 0; /* reserved, or the write-only GITS_TRANSLATER */
    pthread_mutex_lock(&its->d->lock);
    if (width_ok(its, r, size))
        *val = lpi_reg_read(r->read(its, n), off, size);
    pthread_mutex_unlock(&its->d->lock);
    return 0;
}

int vits_its_mmio_write(struct vits_its *its, uint64_t offset, unsigned size, uint64_t val)
{
    int rc = check_access(its, offset, size);
    if (rc)
        return rc;
    unsigned n, off;
    const struct reg_desc *r = find_reg(offset, &n, &off);
    pthread_mutex_lock(&its->d->lock);
    if (offset == VITS_GITS_TRANSLATER)
        lpi_log(its->d, VITS_LOG_GUEST,
                "GITS_TRANSLATER written without a DeviceID; use vits_its_mmio_write_devid()");
    else if (r && width_ok(its, r, size) && r->write)
        r->write(its, n, lpi_reg_write(r->read(its, n), off, size, val));
    pthread_mutex_unlock(&its->d->lock);
    return 0;
}

int vits_its_mmio_write_devid(struct vits_its *its, uint64_t offset, unsigned size, uint64_t val,
                              uint32_t devid)
{
    if (!its || offset != VITS_GITS_TRANSLATER || (size != 2 && size != 4))
        return vits_its_mmio_write(its, offset, size, val);
    /* The EventID is the value written, zero-extended from 16 bits for a
     * 2-byte write (as QEMU accepts). No domain lock: see translate.c. */
    its_signal(its, devid, (uint32_t)(size == 2 ? val & 0xffff : val & 0xffffffff));
    return 0;
}
