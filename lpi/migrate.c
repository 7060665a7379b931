/* SPDX-License-Identifier: MIT */
/*
 * The LPI domain's side of save, restore and reset: the redistributors'
 * LPI registers as a VMM saves and restores them (vits_redist_get/set),
 * single pending-table bits (what a restore reads for each LPI it maps,
 * as KVM does), and chunk reservations that let a restore map all its
 * LPIs without an allocation that could fail half-way.
 *
 * Everything here is for the writer (d->lock held) unless it takes the
 * lock itself.
 */
#include <errno.h>
#include <string.h>

#include "lpi.h"

#define PENDBASER_PA(v) (lpi_bits(v, 51, 16) << 16)
#define CTLR_ENABLE_LPIS 1u

int lpi_reserve(struct vits_domain *d, uint32_t intid)
{
    uint32_t c = intid >> LPI_CHUNK_SHIFT;
    if (!d->chunks[c]) {
        struct lpi_chunk *fresh = lpi_alloc(d, sizeof(*fresh));
        if (!fresh)
            return -ENOMEM;
        d->chunks[c] = fresh;
    }
    /* A reservation counts as a mapped record: the chunk is freed only
     * when neither is left (lpi_unmap frees it at used == 0). */
    d->chunks[c]->used++;
    return 0;
}

void lpi_unreserve(struct vits_domain *d, uint32_t intid)
{
    uint32_t c = intid >> LPI_CHUNK_SHIFT;
    if (--d->chunks[c]->used == 0) {
        lpi_free(d, d->chunks[c], sizeof(struct lpi_chunk));
        d->chunks[c] = NULL;
    }
}

/* The guest address of intid's byte in vcpu's pending table, or 0 when
 * vcpu has no table or the table does not cover intid. */
static uint64_t bit_gpa(const struct vits_domain *d, uint16_t vcpu, uint32_t intid)
{
    uint64_t pa = PENDBASER_PA(d->rd[vcpu].pendbaser);
    unsigned bits = lpi_pending_bits(d, vcpu);
    if (!pa || !bits || intid >> bits)
        return 0;
    return pa + intid / 8;
}

int lpi_pending_bit(struct vits_domain *d, uint16_t vcpu, uint32_t intid,
                    struct lpi_pend_cache *cache)
{
    uint64_t gpa = bit_gpa(d, vcpu, intid);
    if (!gpa)
        return 0;
    if (!cache->len || gpa < cache->gpa || gpa >= cache->gpa + cache->len) {
        /* A block of the table, clipped to its end. */
        uint64_t pa = PENDBASER_PA(d->rd[vcpu].pendbaser);
        uint64_t end = pa + ((1ull << lpi_pending_bits(d, vcpu)) / 8);
        uint64_t start = gpa & ~(uint64_t)(sizeof(cache->buf) - 1);
        uint64_t len = end - start < sizeof(cache->buf) ? end - start : sizeof(cache->buf);
        cache->len = 0;
        int rc = lpi_read_guest(d, start, cache->buf, (size_t)len);
        if (rc) {
            lpi_log(d, VITS_LOG_ERROR, "vCPU %u: pending table unreadable at 0x%llx (%d)", vcpu,
                    (unsigned long long)start, rc);
            return rc;
        }
        cache->gpa = start;
        cache->len = (uint32_t)len;
    }
    return (cache->buf[gpa - cache->gpa] >> (intid % 8)) & 1;
}

int lpi_pending_bit_store(struct vits_domain *d, uint16_t vcpu, uint32_t intid, bool pending)
{
    uint64_t gpa = bit_gpa(d, vcpu, intid);
    if (!gpa)
        return 0;
    uint8_t byte;
    int rc = lpi_read_guest(d, gpa, &byte, 1);
    if (!rc) {
        uint8_t mask = (uint8_t)(1u << (intid % 8));
        byte = pending ? (uint8_t)(byte | mask) : (uint8_t)(byte & ~mask);
        rc = lpi_write_guest(d, gpa, &byte, 1);
    }
    if (rc)
        lpi_log(d, VITS_LOG_ERROR, "vCPU %u: pending table byte at 0x%llx not written (%d)", vcpu,
                (unsigned long long)gpa, rc);
    return rc;
}

int vits_redist_get(struct vits_domain *d, uint32_t vcpu, struct vits_redist_regs *regs)
{
    if (!d || !regs || vcpu >= d->cfg.nr_vcpus)
        return -EINVAL;
    pthread_mutex_lock(&d->lock);
    const struct lpi_redist *rd = &d->rd[vcpu];
    memset(regs, 0, sizeof(*regs));
    regs->propbaser = rd->propbaser;
    regs->pendbaser = rd->pendbaser;
    regs->ctlr = atomic_load(&rd->enabled) ? CTLR_ENABLE_LPIS : 0;
    pthread_mutex_unlock(&d->lock);
    return 0;
}

int vits_redist_set(struct vits_domain *d, uint32_t vcpu, const struct vits_redist_regs *regs)
{
    if (!d || !regs || vcpu >= d->cfg.nr_vcpus)
        return -EINVAL;
    pthread_mutex_lock(&d->lock);
    struct lpi_redist *rd = &d->rd[vcpu];
    int rc = 0;
    if (atomic_load(&rd->enabled)) {
        /* PROPBASER and PENDBASER are frozen while EnableLPIs is set. */
        rc = -EBUSY;
    } else {
        rd->propbaser = lpi_propbaser_sanitise(regs->propbaser);
        rd->pendbaser = lpi_pendbaser_sanitise(regs->pendbaser);
        if (regs->ctlr & CTLR_ENABLE_LPIS)
            lpi_redist_enable(d, (uint16_t)vcpu, true);
    }
    pthread_mutex_unlock(&d->lock);
    return rc;
}
