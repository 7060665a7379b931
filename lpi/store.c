/* SPDX-License-Identifier: MIT */
/*
 * LPI records: one 16-byte record per mapped INTID, kept in chunks of 64
 * consecutive INTIDs that exist only while one of them is mapped, so host
 * memory follows what the guest mapped, not the size of the LPI space.
 * Each record sits on exactly one list: that of the vCPU it targets, or
 * the domain's "no target" list (its collection is unmapped). Those lists
 * make INVALL, MOVALL and MAPC cost what the redistributor holds.
 *
 * Everything here needs d->lock.
 */
#include <errno.h>

#include "lpi.h"

static struct lpi_irq *slot(struct vits_domain *d, uint32_t intid)
{
    return &d->chunks[intid >> LPI_CHUNK_SHIFT]->irq[intid & (LPI_CHUNK - 1)];
}

static uint32_t *list_head(struct vits_domain *d, uint16_t vcpu, uint32_t **count)
{
    if (vcpu == LPI_NO_VCPU) {
        *count = &d->untargeted_count;
        return &d->untargeted_head;
    }
    *count = &d->rd[vcpu].count;
    return &d->rd[vcpu].head;
}

static void list_add(struct vits_domain *d, struct lpi_irq *irq, uint32_t intid)
{
    uint32_t *count;
    uint32_t *head = list_head(d, irq->vcpu, &count);
    irq->prev = 0;
    irq->next = *head;
    if (*head)
        slot(d, *head)->prev = intid;
    *head = intid;
    (*count)++;
}

static void list_del(struct vits_domain *d, struct lpi_irq *irq)
{
    uint32_t *count;
    uint32_t *head = list_head(d, irq->vcpu, &count);
    uint32_t intid_next = irq->next;
    if (irq->prev)
        slot(d, irq->prev)->next = intid_next;
    else
        *head = intid_next;
    if (intid_next)
        slot(d, intid_next)->prev = irq->prev;
    irq->prev = irq->next = 0;
    (*count)--;
}

int lpi_map(struct vits_domain *d, uint32_t intid, uint8_t owner, uint16_t group, uint16_t vcpu)
{
    uint32_t c = intid >> LPI_CHUNK_SHIFT;
    if (!d->chunks[c]) {
        d->chunks[c] = lpi_alloc(d, sizeof(struct lpi_chunk));
        if (!d->chunks[c])
            return -ENOMEM;
    }
    d->chunks[c]->used++;
    struct lpi_irq *irq = slot(d, intid);
    *irq = (struct lpi_irq){.vcpu = vcpu, .group = group, .owner = owner, .flags = LPI_F_MAPPED};
    list_add(d, irq, intid);
    d->mapped++;
    lpi_refresh(d, irq, intid);
    return 0;
}

void lpi_unmap(struct vits_domain *d, uint32_t intid)
{
    struct lpi_irq *irq = lpi_find(d, intid);
    if (!irq)
        return;
    lpi_retract(d, irq, intid);
    list_del(d, irq);
    *irq = (struct lpi_irq){0};
    d->mapped--;
    uint32_t c = intid >> LPI_CHUNK_SHIFT;
    if (--d->chunks[c]->used == 0) {
        lpi_free(d, d->chunks[c], sizeof(struct lpi_chunk));
        d->chunks[c] = NULL;
    }
}

void lpi_retarget(struct vits_domain *d, uint32_t intid, uint16_t vcpu)
{
    struct lpi_irq *irq = lpi_find(d, intid);
    if (!irq || irq->vcpu == vcpu)
        return;
    lpi_retract(d, irq, intid);
    list_del(d, irq);
    irq->vcpu = vcpu;
    list_add(d, irq, intid);
    lpi_update(d, irq, intid);
}

void lpi_retarget_group(struct vits_domain *d, uint16_t from, uint8_t owner, uint16_t group,
                        uint16_t to)
{
    if (from == to)
        return;
    uint32_t *count;
    uint32_t intid = *list_head(d, from, &count);
    while (intid) {
        struct lpi_irq *irq = slot(d, intid);
        uint32_t next = irq->next;
        if (irq->owner == owner && irq->group == group)
            lpi_retarget(d, intid, to);
        intid = next;
    }
}

void lpi_retarget_all(struct vits_domain *d, uint16_t from, uint16_t to)
{
    if (from == to)
        return;
    uint32_t *count;
    uint32_t intid = *list_head(d, from, &count);
    while (intid) {
        uint32_t next = slot(d, intid)->next;
        lpi_retarget(d, intid, to);
        intid = next;
    }
}
