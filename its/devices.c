/* SPDX-License-Identifier: MIT */
/*
 * Mapped devices and their events. Devices live in an open-addressing
 * hash keyed by DeviceID (O(1) lookups whatever the number of devices);
 * a device's events live in a directory of 64-event chunks that exist
 * only while one of their events is mapped. MAPD bounds the directory
 * (at most 2^16 / 64 = 1024 pointers), so host memory follows what the
 * guest mapped, within the configured limits.
 *
 * Everything here needs the domain lock.
 */
#include <errno.h>

#include "its.h"

static uint32_t hash32(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x7feb352dU;
    x ^= x >> 15;
    x *= 0x846ca68bU;
    x ^= x >> 16;
    return x;
}

struct its_device *its_dev_find(const struct vits_its *its, uint32_t devid)
{
    const struct its_devtab *t = &its->devs;
    if (!t->count)
        return NULL;
    uint32_t mask = t->cap - 1;
    for (uint32_t i = hash32(devid) & mask;; i = (i + 1) & mask) {
        const struct its_devslot *s = &t->slots[i];
        if (!s->dev)
            return NULL;
        if (s->devid == devid)
            return s->dev;
    }
}

static void insert_slot(struct its_devtab *t, uint32_t devid, struct its_device *dev)
{
    uint32_t mask = t->cap - 1;
    uint32_t i = hash32(devid) & mask;
    while (t->slots[i].dev)
        i = (i + 1) & mask;
    t->slots[i] = (struct its_devslot){.devid = devid, .dev = dev};
}

static int grow(struct vits_its *its)
{
    struct its_devtab *t = &its->devs;
    uint32_t cap = t->cap ? t->cap * 2 : 16;
    struct its_devslot *slots = lpi_alloc(its->d, sizeof(*slots) * cap);
    if (!slots)
        return -ENOMEM;
    struct its_devtab n = {.cap = cap, .count = t->count, .slots = slots};
    for (uint32_t i = 0; i < t->cap; i++)
        if (t->slots[i].dev)
            insert_slot(&n, t->slots[i].devid, t->slots[i].dev);
    lpi_free(its->d, t->slots, sizeof(*t->slots) * t->cap);
    *t = n;
    return 0;
}

int its_dev_add(struct vits_its *its, uint32_t devid, uint8_t event_bits, uint64_t itt_addr,
                struct its_device **out)
{
    struct its_devtab *t = &its->devs;
    if ((t->count + 1) * 2 > t->cap) {
        int rc = grow(its);
        if (rc)
            return rc;
    }
    struct its_device *dev = lpi_alloc(its->d, sizeof(*dev));
    if (!dev)
        return -ENOMEM;
    dev->devid = devid;
    dev->event_bits = event_bits;
    dev->itt_addr = itt_addr;
    dev->nr_dir = (uint32_t)(((1ull << event_bits) + ITS_EV_CHUNK - 1) >> ITS_EV_SHIFT);
    dev->dir = lpi_alloc(its->d, sizeof(*dev->dir) * dev->nr_dir);
    if (!dev->dir) {
        lpi_free(its->d, dev, sizeof(*dev));
        return -ENOMEM;
    }
    insert_slot(t, devid, dev);
    t->count++;
    *out = dev;
    return 0;
}

static void delete_slot(struct its_devtab *t, uint32_t devid)
{
    uint32_t mask = t->cap - 1;
    uint32_t i = hash32(devid) & mask;
    while (t->slots[i].devid != devid || !t->slots[i].dev)
        i = (i + 1) & mask;
    /* Backward-shift deletion: pull later members of the probe run into
     * the hole when their home slot is at or before it. */
    for (uint32_t j = (i + 1) & mask; t->slots[j].dev; j = (j + 1) & mask) {
        uint32_t home = hash32(t->slots[j].devid) & mask;
        if (((j - home) & mask) >= ((j - i) & mask)) {
            t->slots[i] = t->slots[j];
            i = j;
        }
    }
    t->slots[i] = (struct its_devslot){0};
    t->count--;
}

int its_event_set(struct vits_its *its, struct its_device *dev, uint32_t ev, uint32_t intid)
{
    struct its_ev_chunk **c = &dev->dir[ev >> ITS_EV_SHIFT];
    if (!*c) {
        *c = lpi_alloc(its->d, sizeof(**c));
        if (!*c)
            return -ENOMEM;
    }
    (*c)->intid[ev & (ITS_EV_CHUNK - 1)] = intid;
    (*c)->used++;
    dev->nr_mapped++;
    its->nr_events++;
    return 0;
}

void its_event_clear(struct vits_its *its, struct its_device *dev, uint32_t ev)
{
    struct its_ev_chunk **c = &dev->dir[ev >> ITS_EV_SHIFT];
    (*c)->intid[ev & (ITS_EV_CHUNK - 1)] = 0;
    dev->nr_mapped--;
    its->nr_events--;
    if (--(*c)->used == 0) {
        lpi_free(its->d, *c, sizeof(**c));
        *c = NULL;
    }
}

void its_unmap_event(struct vits_its *its, struct its_device *dev, uint32_t ev)
{
    uint32_t intid = its_event_get(dev, ev);
    struct lpi_irq *irq = lpi_find(its->d, intid);
    lpi_unmap(its->d, intid, &its->coll[irq->group].lpis);
    its_event_clear(its, dev, ev);
}

void its_dev_remove(struct vits_its *its, struct its_device *dev)
{
    for (uint32_t i = 0; i < dev->nr_dir && dev->nr_mapped; i++) {
        struct its_ev_chunk *c = dev->dir[i];
        for (uint32_t e = 0; c && e < ITS_EV_CHUNK; e++) {
            uint32_t intid = c->intid[e];
            if (!intid)
                continue;
            /* The last clear of a chunk frees it. */
            bool last = c->used == 1;
            its_unmap_event(its, dev, i << ITS_EV_SHIFT | e);
            if (last)
                break;
        }
    }
    delete_slot(&its->devs, dev->devid);
    lpi_free(its->d, dev->dir, sizeof(*dev->dir) * dev->nr_dir);
    lpi_free(its->d, dev, sizeof(*dev));
}

void its_dev_remove_all(struct vits_its *its)
{
    struct its_devtab *t = &its->devs;
    /* A removal may shift a later slot into slot i, never into an emptied
     * earlier one, so one pass empties the table. */
    for (uint32_t i = 0; i < t->cap; i++)
        while (t->slots[i].dev)
            its_dev_remove(its, t->slots[i].dev);
    lpi_free(its->d, t->slots, sizeof(*t->slots) * t->cap);
    *t = (struct its_devtab){0};
}
