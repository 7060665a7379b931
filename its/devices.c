/* SPDX-License-Identifier: MIT */
/*
 * Mapped devices and their events. Devices live in an open-addressing
 * hash keyed by DeviceID (O(1) lookups whatever the number of devices);
 * a device's events live in a directory of 64-event chunks that exist
 * only while one of their events is mapped. MAPD bounds the directory
 * (at most 2^16 / 64 = 1024 pointers), so host memory follows what the
 * guest mapped, within the configured limits.
 *
 * MSI translation reads all of this without the domain lock (see the
 * locking rules in lpi/lpi.h): changes are published with atomic stores
 * inside its_map_begin/its_map_end, and memory a reader may still hold
 * (a removed device, an emptied chunk, an outgrown hash array) is freed
 * through lpi_defer_free. Everything else here is the writer's.
 */
#include <errno.h>

#include "its.h"

#define RELAXED memory_order_relaxed

static uint32_t hash32(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x7feb352dU;
    x ^= x >> 15;
    x *= 0x846ca68bU;
    x ^= x >> 16;
    return x;
}

void its_map_begin(struct vits_its *its)
{
    lpi_spin_lock(&its->map_lock);
    atomic_store_explicit(&its->map_seq, atomic_load_explicit(&its->map_seq, RELAXED) + 1, RELAXED);
    atomic_thread_fence(memory_order_release);
}

void its_map_end(struct vits_its *its)
{
    uint64_t s = atomic_load_explicit(&its->map_seq, RELAXED) + 1;
    /* Routes cache the count's low bits: before they come round again
     * (once in 2^39 changes), no route may keep an entry. */
    if (!(s & ((1ull << ITS_ROUTE_SEQ_BITS) - 1)))
        its_routes_forget(its);
    atomic_store_explicit(&its->map_seq, s, memory_order_release);
    lpi_spin_unlock(&its->map_lock);
}

static size_t device_size(uint8_t event_bits, uint32_t nr_dir)
{
    if (event_bits <= ITS_INLINE_BITS)
        return sizeof(struct its_device) + (sizeof(atomic_uint) << event_bits);
    return sizeof(struct its_device) + sizeof(_Atomic(struct its_ev_chunk *)) * nr_dir;
}

static size_t array_size(uint32_t cap)
{
    return sizeof(struct its_devarray) + 64 + sizeof(struct its_devslot) * cap;
}

/* An empty hash array of cap slots (the allocator only promises
 * max_align_t, so the slots are aligned by hand), NULL on -ENOMEM. */
static struct its_devarray *array_new(struct vits_its *its, uint32_t cap)
{
    struct its_devarray *a = lpi_alloc(its->d, array_size(cap));
    if (!a)
        return NULL;
    a->cap = cap;
    a->slots = (struct its_devslot *)(((uintptr_t)(a + 1) + 63) & ~(uintptr_t)63);
    return a;
}

/* Keep an outgrown hash array until the ITS goes: lock-free readers may
 * still be reading it. Writer. */
static void retire(struct vits_its *its, struct its_devarray *a)
{
    a->retired_next = its->devs.retired;
    its->devs.retired = a;
}

struct its_device *its_dev_lookup(const struct vits_its *its, uint32_t devid, uint32_t *event_bits,
                                  uint64_t *run)
{
    struct its_devarray *a = atomic_load_explicit(&its->devs.arr, memory_order_acquire);
    if (!a)
        return NULL;
    uint32_t mask = a->cap - 1;
    /* At most cap probes: a reader racing a writer may see a full run. */
    for (uint32_t n = 0, i = hash32(devid) & mask; n < a->cap; n++, i = (i + 1) & mask) {
        struct its_device *dev = atomic_load_explicit(&a->slots[i].dev, memory_order_acquire);
        if (!dev)
            return NULL;
        if (atomic_load_explicit(&a->slots[i].devid, RELAXED) == devid) {
            if (event_bits)
                *event_bits = atomic_load_explicit(&a->slots[i].event_bits, RELAXED);
            if (run)
                *run = atomic_load_explicit(&a->slots[i].run, RELAXED);
            return dev;
        }
    }
    return NULL;
}

struct its_device *its_dev_find(struct vits_its *its, uint32_t devid)
{
    if (its->last_dev && its->last_dev->devid == devid)
        return its->last_dev;
    struct its_device *dev = its_dev_lookup(its, devid, NULL, NULL);
    if (dev)
        its->last_dev = dev;
    return dev;
}

/* dev's linear run as its slot holds it. */
static uint64_t run_word(const struct its_device *dev)
{
    return (uint64_t)dev->run_base << 32 | dev->run_len;
}

static void insert_slot(struct its_devarray *a, uint32_t devid, struct its_device *dev)
{
    uint32_t mask = a->cap - 1;
    uint32_t i = hash32(devid) & mask;
    while (atomic_load_explicit(&a->slots[i].dev, RELAXED))
        i = (i + 1) & mask;
    atomic_store_explicit(&a->slots[i].devid, devid, RELAXED);
    atomic_store_explicit(&a->slots[i].event_bits, dev->event_bits, RELAXED);
    atomic_store_explicit(&a->slots[i].run, run_word(dev), RELAXED);
    atomic_store_explicit(&a->slots[i].dev, dev, memory_order_release);
    dev->slot = &a->slots[i];
}

static int grow(struct vits_its *its)
{
    struct its_devarray *old = atomic_load_explicit(&its->devs.arr, RELAXED);
    uint32_t cap = old ? old->cap * 2 : 16;
    struct its_devarray *a = array_new(its, cap);
    if (!a)
        return -ENOMEM;
    for (uint32_t i = 0; old && i < old->cap; i++) {
        struct its_device *dev = atomic_load_explicit(&old->slots[i].dev, RELAXED);
        if (dev)
            insert_slot(a, atomic_load_explicit(&old->slots[i].devid, RELAXED), dev);
    }
    atomic_store_explicit(&its->devs.arr, a, memory_order_release);
    if (old)
        retire(its, old);
    return 0;
}

int its_dev_add(struct vits_its *its, uint32_t devid, uint8_t event_bits, uint64_t itt_addr,
                struct its_device **out)
{
    struct its_devtab *t = &its->devs;
    struct its_devarray *a = atomic_load_explicit(&t->arr, RELAXED);
    if (!a || (t->count + 1) * 2 > a->cap) {
        int rc = grow(its);
        if (rc)
            return rc;
        a = atomic_load_explicit(&t->arr, RELAXED);
    }
    uint32_t nr_dir = (uint32_t)(((1ull << event_bits) + ITS_EV_CHUNK - 1) >> ITS_EV_SHIFT);
    struct its_device *dev = lpi_alloc(its->d, device_size(event_bits, nr_dir));
    if (!dev)
        return -ENOMEM;
    dev->devid = devid;
    dev->event_bits = event_bits;
    dev->itt_addr = itt_addr;
    dev->nr_dir = nr_dir;
    if (event_bits <= ITS_INLINE_BITS)
        dev->itt = its_inline_itt(dev);
    else
        dev->dir = (_Atomic(struct its_ev_chunk *) *)(dev + 1);
    insert_slot(a, devid, dev);
    t->count++;
    *out = dev;
    return 0;
}

static void delete_slot(struct its_devtab *t, uint32_t devid)
{
    struct its_devarray *a = atomic_load_explicit(&t->arr, RELAXED);
    uint32_t mask = a->cap - 1;
    uint32_t i = hash32(devid) & mask;
    while (atomic_load_explicit(&a->slots[i].devid, RELAXED) != devid ||
           !atomic_load_explicit(&a->slots[i].dev, RELAXED))
        i = (i + 1) & mask;
    /* Backward-shift deletion: pull later members of the probe run into
     * the hole when their home slot is at or before it. */
    for (uint32_t j = (i + 1) & mask; atomic_load_explicit(&a->slots[j].dev, RELAXED);
         j = (j + 1) & mask) {
        uint32_t jid = atomic_load_explicit(&a->slots[j].devid, RELAXED);
        uint32_t home = hash32(jid) & mask;
        if (((j - home) & mask) >= ((j - i) & mask)) {
            atomic_store_explicit(&a->slots[i].devid, jid, RELAXED);
            atomic_store_explicit(&a->slots[i].event_bits,
                                  atomic_load_explicit(&a->slots[j].event_bits, RELAXED), RELAXED);
            atomic_store_explicit(&a->slots[i].run, atomic_load_explicit(&a->slots[j].run, RELAXED),
                                  RELAXED);
            struct its_device *moved = atomic_load_explicit(&a->slots[j].dev, RELAXED);
            atomic_store_explicit(&a->slots[i].dev, moved, memory_order_release);
            moved->slot = &a->slots[i];
            i = j;
        }
    }
    atomic_store_explicit(&a->slots[i].dev, NULL, memory_order_release);
    atomic_store_explicit(&a->slots[i].devid, 0, RELAXED);
    atomic_store_explicit(&a->slots[i].run, 0, RELAXED);
    t->count--;
}

/* Most events one ITTE change adds to a linear run: a guest that maps
 * events out of order gets a shorter run, never a slower command. */
#define RUN_SCAN 64u

/* Grow dev's linear run after ev -> intid was recorded, and mirror it
 * into the slot (dev must be in the hash). */
static void run_extend(struct its_device *dev, uint32_t ev, uint32_t intid)
{
    if (ev != dev->run_len || (dev->run_len && intid != dev->run_base + ev))
        return;
    if (!dev->run_len)
        dev->run_base = intid;
    uint32_t events = 1u << dev->event_bits;
    dev->run_len++;
    for (uint32_t n = 0; n < RUN_SCAN && dev->run_len < events; n++) {
        uint32_t next = its_event_get(dev, dev->run_len);
        if (next != dev->run_base + dev->run_len)
            break;
        dev->run_len++;
    }
    /* Release: a MAPTI of an unmapped event publishes the run without
     * bumping map_seq (see lpi/lpi.h). */
    atomic_store_explicit(&dev->slot->run, run_word(dev), memory_order_release);
}

/* Cut dev's linear run before ev, which is being unmapped. */
static void run_cut(struct its_device *dev, uint32_t ev)
{
    if (ev >= dev->run_len)
        return;
    dev->run_len = ev;
    atomic_store_explicit(&dev->slot->run, run_word(dev), RELAXED);
}

int its_event_set(struct vits_its *its, struct its_device *dev, uint32_t ev, uint32_t intid)
{
    if (dev->itt) {
        atomic_store_explicit(&dev->itt[ev], intid, memory_order_release);
    } else {
        _Atomic(struct its_ev_chunk *) *slot = &dev->dir[ev >> ITS_EV_SHIFT];
        struct its_ev_chunk *c = atomic_load_explicit(slot, RELAXED);
        if (!c) {
            c = lpi_alloc(its->d, sizeof(*c));
            if (!c)
                return -ENOMEM;
            atomic_store_explicit(slot, c, memory_order_release);
        }
        atomic_store_explicit(&c->intid[ev & (ITS_EV_CHUNK - 1)], intid, memory_order_release);
        c->used++;
    }
    dev->nr_mapped++;
    its->nr_events++;
    run_extend(dev, ev, intid);
    return 0;
}

void its_event_clear(struct vits_its *its, struct its_device *dev, uint32_t ev)
{
    dev->nr_mapped--;
    its->nr_events--;
    run_cut(dev, ev);
    if (dev->itt) {
        atomic_store_explicit(&dev->itt[ev], 0, memory_order_release);
        return;
    }
    _Atomic(struct its_ev_chunk *) *slot = &dev->dir[ev >> ITS_EV_SHIFT];
    struct its_ev_chunk *c = atomic_load_explicit(slot, RELAXED);
    atomic_store_explicit(&c->intid[ev & (ITS_EV_CHUNK - 1)], 0, memory_order_release);
    if (--c->used == 0) {
        atomic_store_explicit(slot, NULL, memory_order_release);
        lpi_defer_free(its->d, c, sizeof(*c));
    }
}

void its_unmap_event(struct vits_its *its, struct its_device *dev, uint32_t ev)
{
    uint32_t intid = its_event_get(dev, ev);
    lpi_unmap(its->d, intid, &its->coll[lpi_cold(its->d, intid)->group].lpis);
    its_event_clear(its, dev, ev);
}

void its_dev_remove(struct vits_its *its, struct its_device *dev)
{
    /* Unmapping the last event of a chunk hands the chunk to
     * lpi_defer_free, so look each event up afresh. */
    uint32_t events = 1u << dev->event_bits;
    for (uint32_t ev = 0; ev < events && dev->nr_mapped; ev++) {
        if (!dev->itt && !atomic_load_explicit(&dev->dir[ev >> ITS_EV_SHIFT], RELAXED)) {
            ev |= ITS_EV_CHUNK - 1; /* skip an absent chunk */
            continue;
        }
        if (its_event_get(dev, ev))
            its_unmap_event(its, dev, ev);
    }
    delete_slot(&its->devs, dev->devid);
    if (its->last_dev == dev)
        its->last_dev = NULL;
    lpi_defer_free(its->d, dev, device_size(dev->event_bits, dev->nr_dir));
}

void its_dev_remove_all(struct vits_its *its)
{
    struct its_devtab *t = &its->devs;
    struct its_devarray *a = atomic_load_explicit(&t->arr, RELAXED);
    if (!a)
        return;
    /* A removal may shift a later slot into slot i, never into an emptied
     * earlier one, so one pass empties the table. */
    for (uint32_t i = 0; i < a->cap; i++) {
        struct its_device *dev;
        while ((dev = atomic_load_explicit(&a->slots[i].dev, RELAXED)))
            its_dev_remove(its, dev);
    }
}

void its_dev_free_arrays(struct vits_its *its)
{
    struct its_devarray *a = atomic_load_explicit(&its->devs.arr, RELAXED);
    atomic_store_explicit(&its->devs.arr, NULL, memory_order_release);
    if (a)
        lpi_defer_free(its->d, a, array_size(a->cap));
    while ((a = its->devs.retired)) {
        its->devs.retired = a->retired_next;
        lpi_defer_free(its->d, a, array_size(a->cap));
    }
}

/* ---- devices built before they are published (its/stage.c) ---- */

struct its_device *its_dev_prebuild(struct vits_its *its, uint32_t devid, uint8_t event_bits,
                                    uint64_t itt_addr)
{
    uint32_t nr_dir = (uint32_t)(((1ull << event_bits) + ITS_EV_CHUNK - 1) >> ITS_EV_SHIFT);
    struct its_device *dev = lpi_alloc(its->d, device_size(event_bits, nr_dir));
    if (!dev)
        return NULL;
    dev->devid = devid;
    dev->event_bits = event_bits;
    dev->itt_addr = itt_addr;
    dev->nr_dir = nr_dir;
    if (event_bits <= ITS_INLINE_BITS)
        dev->itt = its_inline_itt(dev);
    else
        dev->dir = (_Atomic(struct its_ev_chunk *) *)(dev + 1);
    return dev;
}

int its_dev_prebuild_event(struct vits_its *its, struct its_device *dev, uint32_t ev)
{
    if (dev->itt)
        return 0;
    _Atomic(struct its_ev_chunk *) *slot = &dev->dir[ev >> ITS_EV_SHIFT];
    if (atomic_load_explicit(slot, RELAXED))
        return 0;
    struct its_ev_chunk *c = lpi_alloc(its->d, sizeof(*c));
    if (!c)
        return -ENOMEM;
    atomic_store_explicit(slot, c, RELAXED);
    return 0;
}

void its_dev_unbuild(struct vits_its *its, struct its_device *dev)
{
    if (!dev)
        return;
    for (uint32_t i = 0; !dev->itt && i < dev->nr_dir; i++)
        lpi_free(its->d, atomic_load_explicit(&dev->dir[i], RELAXED), sizeof(struct its_ev_chunk));
    lpi_free(its->d, dev, device_size(dev->event_bits, dev->nr_dir));
}

struct its_devarray *its_devarray_prebuild(struct vits_its *its, uint32_t count)
{
    /* At most half full, as its_dev_add keeps it. */
    uint64_t cap = 16;
    while (cap < 2ull * count)
        cap *= 2;
    if (cap > (1u << 30))
        return NULL;
    return array_new(its, (uint32_t)cap);
}

void its_devarray_unbuild(struct vits_its *its, struct its_devarray *arr)
{
    if (arr)
        lpi_free(its->d, arr, array_size(arr->cap));
}

void its_dev_install(struct vits_its *its, struct its_devarray *arr)
{
    struct its_devarray *cur = atomic_load_explicit(&its->devs.arr, RELAXED);
    its->devs.count = 0;
    if (!arr)
        return;
    if (cur && cur->cap >= arr->cap) {
        lpi_free(its->d, arr, array_size(arr->cap)); /* never published */
        return;
    }
    atomic_store_explicit(&its->devs.arr, arr, memory_order_release);
    if (cur)
        retire(its, cur);
}

void its_dev_insert(struct vits_its *its, struct its_device *dev)
{
    insert_slot(atomic_load_explicit(&its->devs.arr, RELAXED), dev->devid, dev);
    its->devs.count++;
}
