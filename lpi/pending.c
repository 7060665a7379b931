/* SPDX-License-Identifier: MIT */
/*
 * Pending state and the injector. An LPI is raised (handed to the
 * embedder's raise callback) when it is pending, enabled in its cached
 * property, targets a vCPU, and that vCPU has EnableLPIs set; it stays
 * raised until the vGIC acknowledges it or vits retracts it because one
 * of those conditions stopped holding, it moved, or its priority changed.
 *
 * Every function here runs under the LPI's stripe lock (the *_locked ones
 * need it held; the public ones take it), which orders the raise and
 * retract calls of one LPI.
 */
#include <errno.h>

#include "lpi.h"

static bool deliverable(const struct vits_domain *d, const struct lpi_irq *irq)
{
    uint8_t f = lpi_flags(irq);
    return (f & LPI_F_PENDING) && (f & LPI_F_ENABLED) && irq->vcpu != LPI_NO_VCPU &&
           atomic_load_explicit(&d->rd[irq->vcpu].enabled, memory_order_relaxed);
}

void lpi_retract_locked(struct vits_domain *d, struct lpi_irq *irq, uint32_t intid)
{
    if (!(lpi_flags(irq) & LPI_F_RAISED))
        return;
    lpi_flags_change(irq, 0, LPI_F_RAISED);
    if (d->ops->retract)
        d->ops->retract(d->opaque, irq->vcpu, intid);
}

/* Hand a deliverable LPI to the injector and record flags f, with
 * LPI_F_RAISED added if it took it, in one store. */
static void raise_locked(struct vits_domain *d, struct lpi_irq *irq, uint32_t intid, uint8_t f)
{
    int rc = d->ops->raise(d->opaque, irq->vcpu, intid, irq->priority);
    atomic_store_explicit(&irq->flags, (uint8_t)(f | (rc == 0 ? LPI_F_RAISED : 0)),
                          memory_order_relaxed);
    if (rc)
        lpi_log(d, VITS_LOG_ERROR, "raise of LPI %u on vCPU %u failed (%d); it stays pending",
                intid, irq->vcpu, rc);
}

void lpi_update_locked(struct vits_domain *d, struct lpi_irq *irq, uint32_t intid)
{
    if (!deliverable(d, irq)) {
        lpi_retract_locked(d, irq, intid);
        return;
    }
    uint8_t f = lpi_flags(irq);
    if (!(f & LPI_F_RAISED))
        raise_locked(d, irq, intid, f);
}

/* Make a targeted LPI that is not raised pending (f: its flags), and
 * raise it if it is enabled: lpi_update_locked's test, with what the
 * caller checked, and pending and raised recorded in one store. Not
 * inlined: an MSI to a raised LPI (coalescing) then saves no registers. */
static LPI_NOINLINE int make_pending(struct vits_domain *d, struct lpi_irq *irq, uint32_t intid,
                                     uint8_t f)
{
    if (!(f & LPI_F_ENABLED)) {
        /* pending, kept until an INV or INVALL enables it */
        atomic_store_explicit(&irq->flags, (uint8_t)(f | LPI_F_PENDING), memory_order_relaxed);
        return 1;
    }
    raise_locked(d, irq, intid, (uint8_t)(f | LPI_F_PENDING));
    return 1;
}

int lpi_set_pending_locked(struct vits_domain *d, struct lpi_irq *irq, uint32_t intid)
{
    /* An LPI without a target, or aimed at a redistributor with LPIs off,
     * is dropped: the ITS's write to that redistributor is UNPREDICTABLE
     * and KVM drops it too. */
    if (!irq || irq->vcpu == LPI_NO_VCPU ||
        !atomic_load_explicit(&d->rd[irq->vcpu].enabled, memory_order_relaxed))
        return 0;
    uint8_t f = lpi_flags(irq);
    if (f & LPI_F_RAISED)
        return 1; /* coalesced: pending and with the vGIC already */
    return make_pending(d, irq, intid, f);
}

void lpi_apply_property_locked(struct vits_domain *d, struct lpi_irq *irq, uint32_t intid,
                               uint8_t byte)
{
    uint8_t prio = byte & 0xfc;
    if (prio != irq->priority)
        lpi_retract_locked(d, irq, intid); /* re-raised below with its new priority */
    irq->priority = prio;
    if (byte & 1)
        lpi_flags_change(irq, LPI_F_ENABLED, 0);
    else
        lpi_flags_change(irq, 0, LPI_F_ENABLED);
    lpi_update_locked(d, irq, intid);
}

int vits_lpi_ack(struct vits_domain *d, uint32_t vcpu, uint32_t intid)
{
    if (!d || vcpu >= d->cfg.nr_vcpus)
        return -EINVAL;
    if (!lpi_intid_valid(d, intid))
        return -ENOENT;
    lpi_lock(d, intid);
    struct lpi_irq *irq = lpi_find(d, intid);
    int rc = -ENOENT;
    if (irq && (lpi_flags(irq) & LPI_F_RAISED) && irq->vcpu == vcpu) {
        lpi_flags_change(irq, 0, LPI_F_RAISED | LPI_F_PENDING);
        rc = 0;
    }
    lpi_unlock(d, intid);
    return rc;
}

int vits_lpi_state(struct vits_domain *d, uint32_t intid, uint32_t *vcpu)
{
    if (!d)
        return -EINVAL;
    if (!lpi_intid_valid(d, intid))
        return -ENOENT;
    lpi_lock(d, intid);
    struct lpi_irq *irq = lpi_find(d, intid);
    int rc = -ENOENT;
    if (irq) {
        rc = (lpi_flags(irq) & LPI_F_PENDING) ? 1 : 0;
        if (vcpu)
            *vcpu = irq->vcpu == LPI_NO_VCPU ? UINT32_MAX : irq->vcpu;
    }
    lpi_unlock(d, intid);
    return rc;
}
