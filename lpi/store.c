/* SPDX-License-Identifier: MIT */
/*
 * LPI records: a 4-byte hot part per INTID in the domain's flat array,
 * and a 20-byte cold part per mapped INTID, kept in chunks of 64
 * consecutive INTIDs that exist only while one of them is mapped: beyond
 * the fixed hot array, host memory follows what the guest mapped.
 *
 * Each record is on two lists: its target vCPU's (or the domain's "no
 * target" list), and its group's (an ITS collection, whose head the ITS
 * keeps). The vCPU lists make MOVALL and EnableLPIs changes cost what the
 * redistributor holds; the group lists make MAPC and INVALL cost what the
 * collection holds, whatever MOVALL did in between.
 *
 * Everything here is for the writer (d->lock held); each change to a
 * record is made under its stripe lock.
 */
#include <errno.h>

#include "lpi.h"

static struct lpi_irq *slot(struct vits_domain *d, uint32_t intid) { return &d->hot[intid]; }

/* The links of intid in its vCPU list (vcpu_list) or its group list. */
static struct lpi_link *link_of(struct vits_domain *d, uint32_t intid, bool vcpu_list)
{
    struct lpi_cold *c = lpi_cold(d, intid);
    return vcpu_list ? &c->vlink : &c->glink;
}

static void list_add(struct vits_domain *d, uint32_t *head, uint32_t intid, bool vcpu_list)
{
    struct lpi_link *l = link_of(d, intid, vcpu_list);
    l->prev = 0;
    l->next = *head;
    if (*head)
        link_of(d, *head, vcpu_list)->prev = intid;
    *head = intid;
}

static void list_del(struct vits_domain *d, uint32_t *head, uint32_t intid, bool vcpu_list)
{
    struct lpi_link *l = link_of(d, intid, vcpu_list);
    if (l->prev)
        link_of(d, l->prev, vcpu_list)->next = l->next;
    else
        *head = l->next;
    if (l->next)
        link_of(d, l->next, vcpu_list)->prev = l->prev;
    l->prev = l->next = 0;
}

static uint32_t *vcpu_head(struct vits_domain *d, uint16_t vcpu)
{
    return vcpu == LPI_NO_VCPU ? &d->untargeted_head : &d->rd[vcpu].head;
}

static void vcpu_add(struct vits_domain *d, uint32_t intid, uint16_t vcpu)
{
    list_add(d, vcpu_head(d, vcpu), intid, true);
    if (vcpu != LPI_NO_VCPU)
        d->rd[vcpu].count++;
}

static void vcpu_del(struct vits_domain *d, uint32_t intid, uint16_t vcpu)
{
    list_del(d, vcpu_head(d, vcpu), intid, true);
    if (vcpu != LPI_NO_VCPU)
        d->rd[vcpu].count--;
}

/* lpi_map, with the property byte given (prop) or read from the table
 * (NULL). */
static int map(struct vits_domain *d, uint32_t intid, uint8_t owner, uint16_t group,
               uint32_t *group_head, uint16_t vcpu, const uint8_t *prop)
{
    uint32_t c = intid >> LPI_CHUNK_SHIFT;
    struct lpi_chunk *fresh = NULL;
    if (!d->chunks[c]) {
        fresh = lpi_alloc(d, sizeof(struct lpi_chunk));
        if (!fresh)
            return -ENOMEM;
        d->chunks[c] = fresh;
    }
    d->chunks[c]->used++;
    uint8_t byte = prop ? *prop : lpi_read_property(d, vcpu, intid);
    /* A fresh record is neither pending nor raised: its property is
     * applied as it is stored, with nothing to raise or retract. */
    lpi_lock(d, intid);
    struct lpi_irq *irq = slot(d, intid);
    irq->vcpu = vcpu;
    irq->priority = byte & 0xfc;
    atomic_store_explicit(&irq->flags, LPI_F_MAPPED | (byte & 1 ? LPI_F_ENABLED : 0),
                          memory_order_relaxed);
    lpi_unlock(d, intid);
    *lpi_cold(d, intid) = (struct lpi_cold){.group = group, .owner = owner};
    vcpu_add(d, intid, vcpu);
    list_add(d, group_head, intid, false);
    d->mapped++;
    return 0;
}

int lpi_map(struct vits_domain *d, uint32_t intid, uint8_t owner, uint16_t group,
            uint32_t *group_head, uint16_t vcpu)
{
    return map(d, intid, owner, group, group_head, vcpu, NULL);
}

int lpi_map_prop(struct vits_domain *d, uint32_t intid, uint8_t owner, uint16_t group,
                 uint32_t *group_head, uint16_t vcpu, uint8_t prop)
{
    return map(d, intid, owner, group, group_head, vcpu, &prop);
}

void lpi_unmap(struct vits_domain *d, uint32_t intid, uint32_t *group_head)
{
    struct lpi_irq *irq = lpi_find(d, intid);
    if (!irq)
        return;
    uint32_t c = intid >> LPI_CHUNK_SHIFT;
    vcpu_del(d, intid, irq->vcpu);
    list_del(d, group_head, intid, false);
    lpi_lock(d, intid);
    lpi_retract_locked(d, irq, intid);
    irq->vcpu = 0;
    irq->priority = 0;
    atomic_store_explicit(&irq->flags, 0, memory_order_relaxed);
    lpi_unlock(d, intid);
    /* Readers never touch the cold parts: the chunk can go at once. */
    if (--d->chunks[c]->used == 0) {
        lpi_free(d, d->chunks[c], sizeof(struct lpi_chunk));
        d->chunks[c] = NULL;
    }
    d->mapped--;
}

void lpi_regroup(struct vits_domain *d, uint32_t intid, uint32_t *from_head, uint16_t group,
                 uint32_t *to_head)
{
    struct lpi_irq *irq = lpi_find(d, intid);
    if (!irq)
        return;
    list_del(d, from_head, intid, false);
    lpi_cold(d, intid)->group = group;
    list_add(d, to_head, intid, false);
}

void lpi_retarget(struct vits_domain *d, uint32_t intid, uint16_t vcpu)
{
    struct lpi_irq *irq = lpi_find(d, intid);
    if (!irq || irq->vcpu == vcpu)
        return;
    vcpu_del(d, intid, irq->vcpu);
    lpi_lock(d, intid);
    lpi_retract_locked(d, irq, intid);
    irq->vcpu = vcpu;
    lpi_update_locked(d, irq, intid);
    lpi_unlock(d, intid);
    vcpu_add(d, intid, vcpu);
}

void lpi_retarget_group(struct vits_domain *d, uint32_t *group_head, uint16_t vcpu)
{
    for (uint32_t intid = *group_head; intid; intid = link_of(d, intid, false)->next)
        lpi_retarget(d, intid, vcpu);
}

void lpi_retarget_all(struct vits_domain *d, uint16_t from, uint16_t to)
{
    if (from == to)
        return;
    uint32_t intid = *vcpu_head(d, from);
    while (intid) {
        uint32_t next = link_of(d, intid, true)->next;
        lpi_retarget(d, intid, to);
        intid = next;
    }
}

int lpi_set_pending(struct vits_domain *d, uint32_t intid)
{
    lpi_lock(d, intid);
    int rc = lpi_set_pending_locked(d, lpi_find(d, intid), intid);
    lpi_unlock(d, intid);
    return rc;
}

void lpi_clear_pending(struct vits_domain *d, uint32_t intid)
{
    lpi_lock(d, intid);
    struct lpi_irq *irq = lpi_find(d, intid);
    lpi_flags_change(irq, 0, LPI_F_PENDING);
    lpi_retract_locked(d, irq, intid);
    lpi_unlock(d, intid);
}

void lpi_refresh(struct vits_domain *d, uint32_t intid)
{
    struct lpi_irq *irq = lpi_find(d, intid);
    uint8_t byte = lpi_read_property(d, irq->vcpu, intid);
    lpi_lock(d, intid);
    lpi_apply_property_locked(d, irq, intid, byte);
    lpi_unlock(d, intid);
}

void lpi_refresh_group(struct vits_domain *d, uint32_t *group_head)
{
    for (uint32_t intid = *group_head; intid; intid = link_of(d, intid, false)->next)
        lpi_refresh(d, intid);
}

void lpi_update_vcpu(struct vits_domain *d, uint16_t vcpu)
{
    for (uint32_t intid = *vcpu_head(d, vcpu); intid; intid = link_of(d, intid, true)->next) {
        lpi_lock(d, intid);
        lpi_update_locked(d, slot(d, intid), intid);
        lpi_unlock(d, intid);
    }
}
