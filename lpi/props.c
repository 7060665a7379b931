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
 * Everything here needs d->lock.
 */
#include "lpi.h"

#define PROPBASER_IDBITS(v) ((unsigned)lpi_bits(v, 4, 0))
#define PROPBASER_PA(v) (lpi_bits(v, 51, 12) << 12)

static int property_vcpu(const struct vits_domain *d, const struct lpi_irq *irq)
{
    if (irq->vcpu != LPI_NO_VCPU)
        return irq->vcpu;
    for (uint32_t v = 0; v < d->cfg.nr_vcpus; v++)
        if (d->rd[v].enabled)
            return (int)v;
    return -1;
}

/* The property byte of intid, or 0 (disabled) when there is no table,
 * the INTID is beyond it, or reading fails. */
static uint8_t read_property(struct vits_domain *d, const struct lpi_irq *irq, uint32_t intid)
{
    int v = property_vcpu(d, irq);
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

void lpi_refresh(struct vits_domain *d, struct lpi_irq *irq, uint32_t intid)
{
    uint8_t byte = read_property(d, irq, intid);
    uint8_t prio = byte & 0xfc;
    bool enabled = byte & 1;
    if (prio != irq->priority)
        lpi_retract(d, irq, intid); /* re-raised below with its new priority */
    irq->priority = prio;
    if (enabled)
        irq->flags |= LPI_F_ENABLED;
    else
        irq->flags &= (uint8_t)~LPI_F_ENABLED;
    lpi_update(d, irq, intid);
}

void lpi_refresh_group(struct vits_domain *d, uint32_t *group_head)
{
    for (uint32_t intid = *group_head; intid;) {
        struct lpi_irq *irq = lpi_find(d, intid);
        uint32_t next = irq->glink.next;
        lpi_refresh(d, irq, intid);
        intid = next;
    }
}
