/* SPDX-License-Identifier: MIT */
/*
 * Pending state and the injector. An LPI is raised (handed to the
 * embedder's raise callback) when it is pending, enabled in its cached
 * property, targets a vCPU, and that vCPU has EnableLPIs set; it stays
 * raised until the vGIC acknowledges it or vits retracts it because one
 * of those conditions stopped holding or it moved.
 *
 * Everything here but the public calls needs d->lock.
 */
#include <errno.h>

#include "lpi.h"

static bool deliverable(const struct vits_domain *d, const struct lpi_irq *irq)
{
    return (irq->flags & LPI_F_PENDING) && (irq->flags & LPI_F_ENABLED) &&
           irq->vcpu != LPI_NO_VCPU && d->rd[irq->vcpu].enabled;
}

void lpi_retract(struct vits_domain *d, struct lpi_irq *irq, uint32_t intid)
{
    if (!(irq->flags & LPI_F_RAISED))
        return;
    irq->flags &= (uint8_t)~LPI_F_RAISED;
    if (d->ops->retract)
        d->ops->retract(d->opaque, irq->vcpu, intid);
}

void lpi_update(struct vits_domain *d, struct lpi_irq *irq, uint32_t intid)
{
    bool want = deliverable(d, irq);
    if (!want) {
        lpi_retract(d, irq, intid);
        return;
    }
    if (irq->flags & LPI_F_RAISED)
        return;
    int rc = d->ops->raise(d->opaque, irq->vcpu, intid, irq->priority);
    if (rc == 0)
        irq->flags |= LPI_F_RAISED;
    else
        lpi_log(d, VITS_LOG_ERROR, "raise of LPI %u on vCPU %u failed (%d); it stays pending",
                intid, irq->vcpu, rc);
}

int lpi_set_pending(struct vits_domain *d, struct lpi_irq *irq, uint32_t intid)
{
    /* An LPI without a target, or aimed at a redistributor with LPIs off,
     * is dropped: the ITS's write to that redistributor is UNPREDICTABLE
     * and KVM drops it too. */
    if (irq->vcpu == LPI_NO_VCPU || !d->rd[irq->vcpu].enabled)
        return 0;
    irq->flags |= LPI_F_PENDING;
    lpi_update(d, irq, intid);
    return 1;
}

void lpi_clear_pending(struct vits_domain *d, struct lpi_irq *irq, uint32_t intid)
{
    irq->flags &= (uint8_t)~LPI_F_PENDING;
    lpi_retract(d, irq, intid);
}

int vits_lpi_ack(struct vits_domain *d, uint32_t vcpu, uint32_t intid)
{
    if (!d || vcpu >= d->cfg.nr_vcpus)
        return -EINVAL;
    pthread_mutex_lock(&d->lock);
    struct lpi_irq *irq = lpi_find(d, intid);
    int rc = -ENOENT;
    if (irq && (irq->flags & LPI_F_RAISED) && irq->vcpu == vcpu) {
        irq->flags &= (uint8_t) ~(LPI_F_RAISED | LPI_F_PENDING);
        rc = 0;
    }
    pthread_mutex_unlock(&d->lock);
    return rc;
}

int vits_lpi_state(struct vits_domain *d, uint32_t intid, uint32_t *vcpu)
{
    if (!d)
        return -EINVAL;
    pthread_mutex_lock(&d->lock);
    struct lpi_irq *irq = lpi_find(d, intid);
    int rc = -ENOENT;
    if (irq) {
        rc = (irq->flags & LPI_F_PENDING) ? 1 : 0;
        if (vcpu)
            *vcpu = irq->vcpu == LPI_NO_VCPU ? UINT32_MAX : irq->vcpu;
    }
    pthread_mutex_unlock(&d->lock);
    return rc;
}
