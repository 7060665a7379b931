/* SPDX-License-Identifier: MIT */
/*
 * Staged state of a restore, and its commit (see its/migrate.h).
 *
 * A stage holds what a restore read: collections, devices and their
 * events with the state of their LPIs, checked against the ITS's limits
 * as they come, so a stage never grows beyond what the ITS could hold.
 * Preparing it allocates every object the new state needs, unpublished:
 * the devices with their ITT chunks, a device hash large enough for all
 * of them, and a reservation of the LPI chunk of every INTID. The commit
 * then drops the live state and installs the stage without allocating,
 * so it cannot fail half-way.
 *
 * MSIs may race a commit (they do not take the domain lock): the ITS is
 * disabled for its duration, so a racing MSI is dropped, or delivered
 * according to the old state before the drop; every change to the device
 * and event maps is made inside its_map_begin/end, one device at a time,
 * and memory a reader may hold is freed through lpi_defer_free, as for
 * commands. An LPI is complete (mapped, property, pending state) before
 * the event that leads to it is published.
 *
 * Writer (domain lock) throughout.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "migrate.h"

int its_intid_set_init(struct vits_domain *d, struct its_intid_set *set)
{
    set->bytes = ((size_t)1 << d->cfg.lpi_id_bits) / 8;
    set->bits = lpi_alloc(d, set->bytes);
    return set->bits ? 0 : -ENOMEM;
}

void its_intid_set_free(struct vits_domain *d, struct its_intid_set *set)
{
    lpi_free(d, set->bits, set->bytes);
    set->bits = NULL;
}

int its_intid_set_add(struct its_intid_set *set, uint32_t intid)
{
    uint8_t mask = (uint8_t)(1u << (intid % 8));
    if (set->bits[intid / 8] & mask)
        return 1;
    set->bits[intid / 8] |= mask;
    return 0;
}

void its_stage_init(struct its_stage *s, struct vits_its *its)
{
    memset(s, 0, sizeof(*s));
    s->its = its;
}

/* Grow an array of *cap elements of size sz to hold n + 1. */
static int grow(struct vits_domain *d, void **arr, uint32_t *cap, uint32_t n, size_t sz)
{
    if (n < *cap)
        return 0;
    uint32_t ncap = *cap ? *cap * 2 : 16;
    if (ncap < *cap)
        return -ENOMEM;
    void *p = lpi_realloc(d, *arr, sz * *cap, sz * ncap);
    if (!p)
        return -ENOMEM;
    *arr = p;
    *cap = ncap;
    return 0;
}

int its_stage_coll(struct its_stage *s, uint16_t icid, uint16_t vcpu)
{
    if (vcpu != LPI_NO_VCPU && s->nr_mapped_coll >= s->its->cfg.max_collections)
        return -ENOSPC;
    void *arr = s->coll;
    int rc = grow(s->its->d, &arr, &s->cap_coll, s->nr_coll, sizeof(*s->coll));
    s->coll = arr;
    if (rc)
        return rc;
    s->coll[s->nr_coll++] = (struct stg_coll){icid, vcpu};
    if (vcpu != LPI_NO_VCPU)
        s->nr_mapped_coll++;
    return 0;
}

static int cmp_coll(const void *a, const void *b)
{
    const struct stg_coll *x = a, *y = b;
    return (x->icid > y->icid) - (x->icid < y->icid);
}

int its_stage_colls_done(struct its_stage *s, uint16_t *dup)
{
    if (s->nr_coll > 1)
        qsort(s->coll, s->nr_coll, sizeof(*s->coll), cmp_coll);
    for (uint32_t i = 1; i < s->nr_coll; i++)
        if (s->coll[i].icid == s->coll[i - 1].icid) {
            *dup = s->coll[i].icid;
            return -EEXIST;
        }
    return 0;
}

const struct stg_coll *its_stage_find_coll(const struct its_stage *s, uint16_t icid)
{
    uint32_t lo = 0, hi = s->nr_coll;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (s->coll[mid].icid == icid)
            return &s->coll[mid];
        if (s->coll[mid].icid < icid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

int its_stage_dev(struct its_stage *s, uint32_t devid, uint8_t bits, uint64_t itt)
{
    if (s->nr_dev >= s->its->cfg.max_devices)
        return -ENOSPC;
    void *arr = s->dev;
    int rc = grow(s->its->d, &arr, &s->cap_dev, s->nr_dev, sizeof(*s->dev));
    s->dev = arr;
    if (rc)
        return rc;
    s->dev[s->nr_dev++] =
        (struct stg_dev){.devid = devid, .bits = bits, .itt = itt, .first = s->nr_ev};
    return 0;
}

int its_stage_event(struct its_stage *s, const struct stg_event *e)
{
    if (s->nr_ev >= s->its->cfg.max_events)
        return -ENOSPC;
    void *arr = s->ev;
    int rc = grow(s->its->d, &arr, &s->cap_ev, s->nr_ev, sizeof(*s->ev));
    s->ev = arr;
    if (rc)
        return rc;
    s->ev[s->nr_ev++] = *e;
    s->dev[s->nr_dev - 1].count++;
    return 0;
}

/* Give back what its_stage_prepare allocated. */
static void unprepare(struct its_stage *s)
{
    struct vits_its *its = s->its;
    for (uint32_t i = 0; i < s->nr_dev; i++) {
        its_dev_unbuild(its, s->dev[i].built);
        s->dev[i].built = NULL;
    }
    its_devarray_unbuild(its, s->arr);
    s->arr = NULL;
    for (uint32_t i = 0; i < s->nr_reserved; i++)
        lpi_unreserve(its->d, s->ev[i].intid);
    s->nr_reserved = 0;
}

void its_stage_free(struct its_stage *s)
{
    struct vits_domain *d = s->its->d;
    unprepare(s);
    lpi_free(d, s->coll, sizeof(*s->coll) * s->cap_coll);
    lpi_free(d, s->dev, sizeof(*s->dev) * s->cap_dev);
    lpi_free(d, s->ev, sizeof(*s->ev) * s->cap_ev);
    its_stage_init(s, s->its);
}

int its_stage_prepare(struct its_stage *s)
{
    struct vits_its *its = s->its;
    for (uint32_t i = 0; i < s->nr_dev; i++) {
        struct stg_dev *sd = &s->dev[i];
        sd->built = its_dev_prebuild(its, sd->devid, sd->bits, sd->itt);
        if (!sd->built)
            goto nomem;
        for (uint32_t e = sd->first; e < sd->first + sd->count; e++)
            if (its_dev_prebuild_event(its, sd->built, s->ev[e].ev))
                goto nomem;
    }
    if (s->nr_dev) {
        s->arr = its_devarray_prebuild(its, s->nr_dev);
        if (!s->arr)
            goto nomem;
    }
    for (uint32_t i = 0; i < s->nr_ev; i++) {
        if (lpi_reserve(its->d, s->ev[i].intid))
            goto nomem;
        s->nr_reserved++;
    }
    return 0;
nomem:
    unprepare(s);
    return -ENOMEM;
}

void its_stage_drop_live(struct vits_its *its)
{
    atomic_store(&its->enabled, false);
    /* One device per bracket, as commands hold map_lock for one mapping
     * change at most. A removal may shift a later slot into slot i, never
     * into an emptied earlier one (its/devices.c). */
    struct its_devarray *a = atomic_load_explicit(&its->devs.arr, memory_order_relaxed);
    for (uint32_t i = 0; a && i < a->cap; i++) {
        struct its_device *dev;
        while ((dev = atomic_load_explicit(&a->slots[i].dev, memory_order_relaxed))) {
            its_map_begin(its);
            its_dev_remove(its, dev);
            its_map_end(its);
        }
    }
    its_map_begin(its);
    its_dev_remove_all(its); /* no device left (the hash array stays) */
    its_map_end(its);
    /* Every LPI of the ITS belonged to a device: the lists are empty. */
    for (uint32_t icid = 0; icid >> its->cfg.collection_id_bits == 0; icid++) {
        atomic_store_explicit(&its->coll[icid].target, 0, memory_order_relaxed);
        its->coll[icid].lpis = 0;
    }
    its->nr_collections = 0;
}

/* Map one staged event's LPI with its state, then publish the event.
 * Inside its_map_begin/end. */
static void install_event(struct its_stage *s, struct its_device *dev, const struct stg_event *e)
{
    struct vits_its *its = s->its;
    struct vits_domain *d = its->d;
    /* Neither can fail: the LPI chunk is reserved, the ITT chunk built. */
    int rc =
        lpi_map_prop(d, e->intid, its->slot, e->icid, &its->coll[e->icid].lpis, e->vcpu, e->prop);
    if (rc) {
        lpi_log(d, VITS_LOG_ERROR, "restore: LPI %u could not be mapped (%d)", e->intid, rc);
        return;
    }
    if (e->pending) {
        lpi_lock(d, e->intid);
        struct lpi_irq *irq = lpi_find(d, e->intid);
        lpi_flags_change(irq, LPI_F_PENDING, 0);
        lpi_update_locked(d, irq, e->intid);
        lpi_unlock(d, e->intid);
    }
    rc = its_event_set(its, dev, e->ev, e->intid);
    if (rc) {
        lpi_log(d, VITS_LOG_ERROR, "restore: event %u of device 0x%x could not be set (%d)", e->ev,
                dev->devid, rc);
        lpi_unmap(d, e->intid, &its->coll[e->icid].lpis);
    }
}

void its_stage_install(struct its_stage *s)
{
    struct vits_its *its = s->its;
    for (uint32_t i = 0; i < s->nr_coll; i++) {
        const struct stg_coll *c = &s->coll[i];
        if (c->vcpu == LPI_NO_VCPU)
            continue;
        atomic_store_explicit(&its->coll[c->icid].target, (uint32_t)c->vcpu + 1,
                              memory_order_relaxed);
        its->nr_collections++;
    }
    its_map_begin(its);
    its_dev_install(its, s->arr);
    its_map_end(its);
    s->arr = NULL;
    for (uint32_t i = 0; i < s->nr_dev; i++) {
        struct stg_dev *sd = &s->dev[i];
        its_map_begin(its);
        its_dev_insert(its, sd->built);
        for (uint32_t e = sd->first; e < sd->first + sd->count; e++)
            install_event(s, sd->built, &s->ev[e]);
        its_map_end(its);
        sd->built = NULL;
    }
    for (uint32_t i = 0; i < s->nr_reserved; i++)
        lpi_unreserve(its->d, s->ev[i].intid);
    s->nr_reserved = 0;
}
