/* SPDX-License-Identifier: MIT */
/*
 * The redistributors' LPI registers and pending tables.
 *
 * The pending table of a vCPU is read when its EnableLPIs goes 0 -> 1
 * (unless PTZ was written) and written back when EnableLPIs goes 1 -> 0
 * and on vits_domain_sync_pending(). Only bits of LPIs that are mapped
 * and target that vCPU are taken or written: vits keeps pending state per
 * mapped LPI, so a bit for an INTID that no ITS maps at load time is not
 * kept (as in KVM). Tables are walked in blocks of 4 KiB (or of
 * ops->max_access bytes when that is less), one read (and at most one
 * write) per block that holds the bit of such an LPI; a block without
 * one is neither read nor written (the LPI records say so without
 * touching guest memory).
 */
#include <errno.h>
#include <string.h>

#include "lpi.h"

#define GICR_CTLR 0x0
#define GICR_TYPER 0x8
#define GICR_PROPBASER 0x70
#define GICR_PENDBASER 0x78

#define CTLR_ENABLE_LPIS 1ull
#define PROPBASER_MASK                                                                             \
    ((7ull << 56) | (((1ull << 40) - 1) << 12) | (3ull << 10) | (7ull << 7) | 0x1full)
#define PENDBASER_PTZ (1ull << 62)
#define PENDBASER_MASK                                                                             \
    (PENDBASER_PTZ | (7ull << 56) | (((1ull << 36) - 1) << 16) | (3ull << 10) | (7ull << 7))
#define PENDBASER_PA(v) (lpi_bits(v, 51, 16) << 16)

#define BLOCK 4096u

int lpi_vcpu_by_rdbase(const struct vits_domain *d, uint64_t addr)
{
    if (addr < d->cfg.redist_base)
        return -1;
    uint64_t off = addr - d->cfg.redist_base;
    if (off % d->cfg.redist_stride)
        return -1;
    uint64_t v = off / d->cfg.redist_stride;
    return v < d->cfg.nr_vcpus ? (int)v : -1;
}

/* Number of INTID bits the pending table of vcpu covers (0: none). */
static unsigned table_bits(const struct vits_domain *d, uint16_t vcpu)
{
    unsigned idbits = (unsigned)lpi_bits(d->rd[vcpu].propbaser, 4, 0) + 1;
    if (idbits < 14)
        return 0;
    return idbits < d->cfg.lpi_id_bits ? idbits : d->cfg.lpi_id_bits;
}

/* Whether irq is a mapped LPI targeting vcpu: one whose bit the
 * pending table of vcpu holds. */
static bool on_vcpu(const struct lpi_irq *irq, uint16_t vcpu)
{
    return (lpi_flags(irq) & LPI_F_MAPPED) && irq->vcpu == vcpu;
}

/*
 * Load (store == false) or store the pending bits of the LPIs targeting
 * vcpu whose INTIDs fall in [first, first + n), from or into buf, which
 * holds that part of the table. Returns whether buf changed.
 */
static bool sync_block(struct vits_domain *d, uint16_t vcpu, uint8_t *buf, uint32_t first,
                       uint32_t n, bool store)
{
    bool changed = false;
    for (uint32_t c = first >> LPI_CHUNK_SHIFT; c < (first + n) >> LPI_CHUNK_SHIFT; c++) {
        if (!d->chunks[c])
            continue;
        lpi_lock(d, c << LPI_CHUNK_SHIFT);
        for (uint32_t i = 0; i < LPI_CHUNK; i++) {
            struct lpi_irq *irq = &d->hot[c << LPI_CHUNK_SHIFT | i];
            if (!on_vcpu(irq, vcpu))
                continue;
            uint32_t bit = (c << LPI_CHUNK_SHIFT | i) - first;
            uint8_t mask = (uint8_t)(1u << (bit % 8));
            uint8_t *byte = &buf[bit / 8];
            if (!store) {
                if (*byte & mask)
                    lpi_flags_change(irq, LPI_F_PENDING, 0);
            } else {
                uint8_t old = *byte;
                *byte = (lpi_flags(irq) & LPI_F_PENDING) ? (uint8_t)(old | mask)
                                                         : (uint8_t)(old & ~mask);
                changed |= *byte != old;
            }
        }
        lpi_unlock(d, c << LPI_CHUNK_SHIFT);
    }
    return changed;
}

/* Whether an LPI targeting vcpu has its INTID in [first, first + n)
 * (whole chunks). */
static bool block_has_lpis(struct vits_domain *d, uint16_t vcpu, uint32_t first, uint32_t n)
{
    for (uint32_t c = first >> LPI_CHUNK_SHIFT; c < (first + n) >> LPI_CHUNK_SHIFT; c++) {
        if (!d->chunks[c])
            continue;
        for (uint32_t i = 0; i < LPI_CHUNK; i++) {
            const struct lpi_irq *irq = &d->hot[c << LPI_CHUNK_SHIFT | i];
            if (on_vcpu(irq, vcpu))
                return true;
        }
    }
    return false;
}

/* Walk the pending table of vcpu in blocks of 4 KiB (or max_access):
 * one read per block that holds an LPI of vcpu, and one write for each
 * block a store changed. */
static int walk_pending(struct vits_domain *d, uint16_t vcpu, bool store)
{
    unsigned bits = table_bits(d, vcpu);
    if (!bits)
        return 0;
    uint64_t pa = PENDBASER_PA(d->rd[vcpu].pendbaser);
    uint32_t end_byte = (uint32_t)((1ull << bits) / 8);
    /* Whole 64-INTID chunks (8 bytes) per block, as sync_block needs;
     * below 8 bytes of max_access, lpi_read_guest splits the block. */
    uint32_t block = (uint32_t)lpi_access_cap(d, BLOCK) & ~7u;
    if (!block)
        block = 8;
    uint8_t buf[BLOCK];
    for (uint32_t off = LPI_FIRST / 8; off < end_byte; off += block) {
        uint32_t len = end_byte - off < block ? end_byte - off : block;
        if (!block_has_lpis(d, vcpu, off * 8, len * 8))
            continue;
        int rc = lpi_read_guest(d, pa + off, buf, len);
        if (rc) {
            lpi_log(d, VITS_LOG_GUEST, "vCPU %u: pending table unreadable at 0x%llx (%d)", vcpu,
                    (unsigned long long)(pa + off), rc);
            return rc;
        }
        if (sync_block(d, vcpu, buf, off * 8, len * 8, store)) {
            rc = lpi_write_guest(d, pa + off, buf, len);
            if (rc) {
                lpi_log(d, VITS_LOG_ERROR, "vCPU %u: pending table write at 0x%llx failed (%d)",
                        vcpu, (unsigned long long)(pa + off), rc);
                return rc;
            }
        }
    }
    return 0;
}

int lpi_load_pending(struct vits_domain *d, uint16_t vcpu) { return walk_pending(d, vcpu, false); }

int lpi_store_pending(struct vits_domain *d, uint16_t vcpu)
{
    if (!PENDBASER_PA(d->rd[vcpu].pendbaser))
        return 0;
    return walk_pending(d, vcpu, true);
}

int vits_domain_sync_pending(struct vits_domain *d)
{
    if (!d)
        return -EINVAL;
    pthread_mutex_lock(&d->lock);
    int first = 0;
    for (uint32_t v = 0; v < d->cfg.nr_vcpus; v++) {
        int rc = lpi_store_pending(d, (uint16_t)v);
        if (rc && !first)
            first = rc;
    }
    pthread_mutex_unlock(&d->lock);
    return first;
}

static void write_ctlr(struct vits_domain *d, uint16_t vcpu, uint64_t val)
{
    struct lpi_redist *rd = &d->rd[vcpu];
    bool enable = val & CTLR_ENABLE_LPIS;
    if (enable == atomic_load(&rd->enabled))
        return;
    if (enable) {
        atomic_store(&rd->enabled, true);
        if (!(rd->pendbaser & PENDBASER_PTZ))
            lpi_load_pending(d, vcpu);
        rd->pendbaser &= ~PENDBASER_PTZ;
        lpi_log(d, VITS_LOG_INFO, "vCPU %u: LPIs enabled", vcpu);
    } else {
        /* Clearing EnableLPIs is IMPLEMENTATION DEFINED; vits allows it:
         * pending state is written back and stays pending, the vCPU's
         * raised LPIs are retracted, and re-enabling reads the table. */
        lpi_store_pending(d, vcpu);
        atomic_store(&rd->enabled, false);
        lpi_log(d, VITS_LOG_INFO, "vCPU %u: LPIs disabled", vcpu);
    }
    lpi_update_vcpu(d, vcpu);
}

static uint64_t typer(const struct vits_domain *d, uint32_t vcpu)
{
    /* Default affinity, KVM's layout: Aff0 = id[3:0], Aff1 = id[11:4]. */
    uint64_t aff = (uint64_t)(vcpu & 0xf) | (uint64_t)((vcpu >> 4) & 0xff) << 8;
    return aff << 32 | (uint64_t)vcpu << 8 | (vcpu == d->cfg.nr_vcpus - 1 ? 1u << 4 : 0) | 1u;
}

static int check_access(struct vits_domain *d, uint32_t vcpu, uint64_t offset, unsigned size)
{
    if (!d || vcpu >= d->cfg.nr_vcpus)
        return -EINVAL;
    if ((size != 4 && size != 8) || (offset & (size - 1)))
        return -EINVAL;
    return 0;
}

/* Which register an offset falls in: its base, or -ENOENT. */
static int64_t reg_of(uint64_t offset)
{
    switch (offset & ~7ull) {
    case GICR_CTLR:
        return offset == GICR_CTLR ? GICR_CTLR : -ENOENT;
    case GICR_TYPER:
    case GICR_PROPBASER:
    case GICR_PENDBASER:
        return (int64_t)(offset & ~7ull);
    default:
        return -ENOENT;
    }
}

int vits_gicr_mmio_read(struct vits_domain *d, uint32_t vcpu, uint64_t offset, unsigned size,
                        uint64_t *val)
{
    int rc = check_access(d, vcpu, offset, size);
    if (rc || !val)
        return rc ? rc : -EINVAL;
    int64_t reg = reg_of(offset);
    if (reg < 0)
        return (int)reg;
    unsigned off = (unsigned)(offset - (uint64_t)reg);
    *val = 0;
    pthread_mutex_lock(&d->lock);
    struct lpi_redist *rd = &d->rd[vcpu];
    switch (reg) {
    case GICR_CTLR:
        if (size == 4)
            *val = atomic_load(&rd->enabled) ? CTLR_ENABLE_LPIS : 0;
        else
            lpi_log(d, VITS_LOG_GUEST, "vCPU %u: 64-bit read of GICR_CTLR reads as zero", vcpu);
        break;
    case GICR_TYPER:
        *val = lpi_reg_read(typer(d, vcpu), off, size);
        break;
    case GICR_PROPBASER:
        *val = lpi_reg_read(rd->propbaser, off, size);
        break;
    default: /* GICR_PENDBASER; PTZ reads as zero */
        *val = lpi_reg_read(rd->pendbaser & ~PENDBASER_PTZ, off, size);
        break;
    }
    pthread_mutex_unlock(&d->lock);
    return 0;
}

int vits_gicr_mmio_write(struct vits_domain *d, uint32_t vcpu, uint64_t offset, unsigned size,
                         uint64_t val)
{
    int rc = check_access(d, vcpu, offset, size);
    if (rc)
        return rc;
    int64_t reg = reg_of(offset);
    if (reg < 0)
        return (int)reg;
    unsigned off = (unsigned)(offset - (uint64_t)reg);
    pthread_mutex_lock(&d->lock);
    struct lpi_redist *rd = &d->rd[vcpu];
    switch (reg) {
    case GICR_CTLR:
        if (size == 4)
            write_ctlr(d, (uint16_t)vcpu, val);
        else
            lpi_log(d, VITS_LOG_GUEST, "vCPU %u: 64-bit write to GICR_CTLR ignored", vcpu);
        break;
    case GICR_TYPER:
        break; /* read-only */
    case GICR_PROPBASER:
    case GICR_PENDBASER:
        if (atomic_load(&rd->enabled)) {
            /* Frozen while EnableLPIs is set (UNPREDICTABLE: ignored). */
            lpi_log(d, VITS_LOG_GUEST, "vCPU %u: GICR_%s written with LPIs enabled; ignored", vcpu,
                    reg == GICR_PROPBASER ? "PROPBASER" : "PENDBASER");
        } else if (reg == GICR_PROPBASER) {
            rd->propbaser = lpi_reg_write(rd->propbaser, off, size, val) & PROPBASER_MASK;
        } else {
            rd->pendbaser = lpi_reg_write(rd->pendbaser, off, size, val) & PENDBASER_MASK;
        }
        break;
    }
    pthread_mutex_unlock(&d->lock);
    return 0;
}

/* ---- for save, restore and reset (lpi/migrate.c); writer ---- */

void lpi_redist_enable(struct vits_domain *d, uint16_t vcpu, bool enable)
{
    write_ctlr(d, vcpu, enable ? CTLR_ENABLE_LPIS : 0);
}

uint64_t lpi_propbaser_sanitise(uint64_t val) { return val & PROPBASER_MASK; }

uint64_t lpi_pendbaser_sanitise(uint64_t val) { return val & PENDBASER_MASK; }

unsigned lpi_pending_bits(const struct vits_domain *d, uint16_t vcpu)
{
    return table_bits(d, vcpu);
}
