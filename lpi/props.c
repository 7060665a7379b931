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
 */
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

uint8_t lpi_read_property(struct vits_domain *d, uint16_t vcpu, uint32_t intid)
{
    int v = property_vcpu(d, vcpu);
    if (v < 0)
        return 0;
    uint64_t propbaser = d->rd[v].propbaser;
    unsigned idbits = PROPBASER_IDBITS(propbaser) + 1;
    if (idbits < 14 || (idbits < 32 && intid >= (1u << idbits)))
        return 0;
    uint8_t byte;
    uint64_t gpa = PROPBASER_PA(propbaser) + (intid - LPI_FIRST);
    int rc = d->ops->read_mem(d->opaque, gpa, &byte, 1);
    if (rc) {
        lpi_log(d, VITS_LOG_GUEST,
                "LPI %u: property table of vCPU %d unreadable at 0x%llx (%d); LPI disabled", intid,
                v, (unsigned long long)gpa, rc);
        return 0;
    }
    return byte;
}
