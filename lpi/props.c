/* SPDX-License-Identifier: MIT */
/*
 * The property cache. Each mapped LPI caches its enable bit and priority;
 * the architecture lets a redistributor cache them until the guest says
 * INV or INVALL (or maps the LPI), so the property table in guest memory
 * is read only then, never on the MSI path.
 *
 * Which table: an LPI's property byte is read from the table that
 * GICR_PROPBASER of its target vCPU names. An LPI without a target (its
 * collection is unmapped) uses the table of the lowest-numbered vCPU with
 * EnableLPIs set. IMPLEMENTATION DEFINED: guests give all redistributors
 * one table, so which one is used only matters to a guest that does not.
 *
 * Writer only (d->lock held): the byte is read outside any stripe lock
 * and applied with lpi_apply_property_locked().
 *
 * Lines. Inside a command batch (lpi_props_batch_begin/end, around one
 * run of the queue) bytes are read in aligned lines of LPI_PROP_LINE
 * bytes (fewer when ops->max_access is smaller, clipped at the table's
 * end) and kept until the batch ends, so a run of MAPTIs or an INVALL
 * costs one read per line instead of one per LPI. This is the caching
 * the architecture allows: every byte the guest wrote before the
 * CWRITER write that started the batch is visible in the lines, and a
 * change after it needs an INV or INVALL queued behind a later CWRITER
 * write, which starts a new batch. A line whose read fails is not kept:
 * its bytes are read one at a time, so only an unreadable byte disables
 * its LPI. Outside a batch every byte is read on its own.
 */
#include <errno.h>

#include "lpi.h"

#define PROPBASER_IDBITS(v) ((unsigned)lpi_bits(v, 4, 0))
#define PROPBASER_PA(v) (lpi_bits(v, 51, 12) << 12)

static int property_vcpu(const struct vits_domain *d, uint16_t vcpu)
{
    if (vcpu != LPI_NO_VCPU)
        return vcpu;
    for (uint32_t v = 0; v < d->cfg.nr_vcpus; v++)
        if (atomic_load_explicit(&d->rd[v].enabled, memory_order_relaxed))
            return (int)v;
    return -1;
}

static void forget_lines(struct vits_domain *d)
{
    d->props.last.len = 0;
    for (unsigned i = 0; i < LPI_PROP_LINES; i++) {
        d->props.line[i].len = 0;
        d->props.line[i].bad = false;
    }
}

/* log2 of the bytes per line: LPI_PROP_LINE, or the largest power of
 * two within max_access. */
static unsigned line_shift(const struct vits_domain *d)
{
    unsigned shift = 0;
    while ((1u << shift) < LPI_PROP_LINE && lpi_access_cap(d, 2u << shift) >= (2u << shift))
        shift++;
    return shift;
}

void lpi_props_init(struct vits_domain *d) { d->props.shift = line_shift(d); }

void lpi_props_batch_begin(struct vits_domain *d)
{
    forget_lines(d);
    d->props.active = true;
}

void lpi_props_batch_end(struct vits_domain *d)
{
    d->props.active = false;
    forget_lines(d);
}

/*
 * The batch's line holding offset off of the table at pa, of table_len
 * bytes (read now if need be), with *start set to the offset of its first
 * byte; NULL when it could not be read (the caller reads the byte alone).
 */
static const struct lpi_prop_line *cached_line(struct vits_domain *d, uint64_t pa,
                                               uint64_t table_len, uint64_t off, uint64_t *start)
{
    uint32_t size = 1u << d->props.shift;
    *start = off & ~(uint64_t)(size - 1);
    uint64_t gpa = pa + *start;
    struct lpi_prop_line *l = &d->props.line[(*start >> d->props.shift) % LPI_PROP_LINES];
    if (l->gpa == gpa && l->bad)
        return NULL;
    if (l->len && l->gpa == gpa && off - *start < l->len)
        return l;
    /* The line is refilled: it may be the one lpi_read_property uses. */
    d->props.last.len = 0;
    uint32_t len = table_len - *start < size ? (uint32_t)(table_len - *start) : size;
    l->gpa = gpa;
    l->len = 0;
    l->bad = lpi_read_guest(d, gpa, l->bytes, len) != 0;
    if (l->bad)
        return NULL;
    l->len = len;
    return l;
}

uint8_t lpi_fetch_property(struct vits_domain *d, uint16_t vcpu, uint32_t intid)
{
    int v = property_vcpu(d, vcpu);
    if (v < 0)
        return 0;
    uint64_t propbaser = d->rd[v].propbaser;
    unsigned idbits = PROPBASER_IDBITS(propbaser) + 1;
    if (idbits < 14 || (idbits < 32 && intid >= (1u << idbits)))
        return 0;
    uint8_t byte;
    uint64_t off = intid - LPI_FIRST;
    uint64_t gpa = PROPBASER_PA(propbaser) + off;
    /* The table ends at INTID 2^idbits; vits never asks beyond the
     * domain's INTID bits. */
    uint64_t end = idbits < d->cfg.lpi_id_bits ? 1ull << idbits : 1ull << d->cfg.lpi_id_bits;
    uint64_t start;
    const struct lpi_prop_line *l =
        d->props.active ? cached_line(d, PROPBASER_PA(propbaser), end - LPI_FIRST, off, &start)
                        : NULL;
    if (l) {
        /* The next INTIDs of vcpu's table are served from l inline. */
        d->props.last.vcpu = vcpu;
        d->props.last.first = LPI_FIRST + (uint32_t)start;
        d->props.last.len = l->len;
        d->props.last.bytes = l->bytes;
        return l->bytes[off - start];
    }
    int rc = lpi_read_guest(d, gpa, &byte, 1);
    if (rc) {
        lpi_log(d, VITS_LOG_GUEST,
                "LPI %u: property table of vCPU %d unreadable at 0x%llx (%d); LPI disabled", intid,
                v, (unsigned long long)gpa, rc);
        return 0;
    }
    return byte;
}
