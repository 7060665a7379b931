/* SPDX-License-Identifier: MIT */
/*
 * MSI translation and delivery without the domain lock (the locking rules
 * are in lpi/lpi.h).
 *
 * A translation reads (DeviceID, EventID) -> INTID optimistically and
 * validates it against map_seq; it then takes the LPI's stripe lock and
 * checks map_seq once more before making the LPI pending, so the mapping
 * it used held at that moment. An event of its device's linear run (or
 * of no device) is found in the device hash alone, whose arrays live as
 * long as the ITS; any other event needs its ITT, read inside a
 * read-side section. After a few lost
 * races it takes map_lock instead, which writers hold for one mapping
 * command at a time, so an MSI never waits for a command batch.
 *
 * A prepared route caches the low 40 bits of map_seq with the INTID it
 * found; while map_seq is unchanged the mapping is the same and the fire
 * goes straight to the LPI's stripe lock. An unmapped event is not
 * cached: mapping it for the first time leaves map_seq as it is. The 40
 * bits come round again after 2^39 mapping changes; the change that
 * wraps them forgets every route's cache first (its_routes_forget), so
 * an old entry never matches a later count.
 */
#include <errno.h>

#include "its.h"

#define OPTIMISTIC_TRIES 8
#define SEQ_BITS ITS_ROUTE_SEQ_BITS
#define SEQ_MASK ((1ull << SEQ_BITS) - 1)
#define INTID_MASK ((1ull << (64 - SEQ_BITS)) - 1) /* lpi_id_bits <= 24 */
#define NO_CACHE UINT64_MAX                        /* an odd sequence: never valid */

struct vits_route {
    struct vits_domain *d;
    _Atomic(struct vits_its *) its; /* NULL once the ITS is destroyed */
    uint32_t devid, eventid;
    _Atomic uint64_t cache;         /* (map_seq & SEQ_MASK) << 24 | INTID, or NO_CACHE */
    struct vits_route *next, *prev; /* the ITS's list (writer) */
};

/*
 * Deliver intid for its: needs intid's stripe lock, and map_seq checked
 * under it, so intid is still the LPI of this ITS's ITTE. An LPI whose
 * collection is unmapped has no target vCPU (MAPC V=0 re-targets every
 * LPI of the collection), so the hot record says all there is to know.
 */
static int deliver_locked(struct vits_its *its, uint32_t intid)
{
    return lpi_set_pending_locked(its->d, lpi_find(its->d, intid), intid);
}

/* What slot_lookup() says besides an INTID (INTIDs stay below 2^24):
 * it could not trust what it read (a writer moved hash slots), or the
 * event is outside its device's linear run and its ITT must be read. */
#define TORN UINT32_MAX
#define NEEDS_ITT (UINT32_MAX - 1)

/*
 * What devid's hash slot alone says of (devid, eventid), map_seq read as
 * s: the INTID (0: unmapped), TORN, or NEEDS_ITT with *devp and *bitsp
 * set. The slot's fields are used only once map_seq says they belong
 * together. Needs no read-side section: hash arrays live as long as the
 * ITS.
 */
static uint32_t slot_lookup(const struct vits_its *its, uint32_t devid, uint32_t eventid,
                            uint64_t s, struct its_device **devp, uint32_t *bitsp)
{
    uint32_t bits;
    uint64_t run;
    struct its_device *dev = its_dev_lookup(its, devid, &bits, &run);
    atomic_thread_fence(memory_order_acquire);
    if (atomic_load_explicit(&its->map_seq, memory_order_relaxed) != s)
        return TORN;
    if (!dev || eventid >> bits)
        return 0;
    if (eventid < (uint32_t)run)
        return (uint32_t)(run >> 32) + eventid;
    *devp = dev;
    *bitsp = bits;
    return NEEDS_ITT;
}

/*
 * (devid, eventid) -> INTID, 0 if unmapped, or TORN. Reader, in a
 * read-side section with map_seq read as s, or under map_lock. An inline
 * ITT is reached without reading the device.
 */
static uint32_t lookup(const struct vits_its *its, uint32_t devid, uint32_t eventid, uint64_t s)
{
    struct its_device *dev;
    uint32_t bits;
    uint32_t id = slot_lookup(its, devid, eventid, s, &dev, &bits);
    if (id != NEEDS_ITT)
        return id;
    if (bits <= ITS_INLINE_BITS)
        return atomic_load_explicit(&its_inline_itt(dev)[eventid], memory_order_relaxed);
    return its_event_get(dev, eventid);
}

static int deliver(struct vits_its *its, uint32_t intid)
{
    if (!intid)
        return 0;
    lpi_lock(its->d, intid);
    int rc = deliver_locked(its, intid);
    lpi_unlock(its->d, intid);
    return rc;
}

/*
 * An event of its device's linear run, or of no device: the hash slot
 * says all, and hash arrays are never freed while the ITS lives, so no
 * read-side section is needed (two atomic read-modify-writes less, which
 * would also keep consecutive MSIs from overlapping their cache misses).
 * Returns the delivery's result with *seq and *intid set, or -1 when the
 * full translation must decide.
 */
static int translate_fast(struct vits_its *its, uint32_t devid, uint32_t eventid, uint64_t *seq,
                          uint32_t *intid)
{
    struct vits_domain *d = its->d;
    uint64_t s = atomic_load_explicit(&its->map_seq, memory_order_acquire);
    if (s & 1)
        return -1;
    struct its_device *dev;
    uint32_t bits;
    uint32_t id = slot_lookup(its, devid, eventid, s, &dev, &bits);
    if (id == TORN || id == NEEDS_ITT)
        return -1; /* NEEDS_ITT: the ITT is device memory, read in a read-side section */
    int rc = 0;
    if (id) {
        lpi_prefetch(d, id);
        lpi_lock(d, id);
        if (atomic_load_explicit(&its->map_seq, memory_order_relaxed) != s) {
            lpi_unlock(d, id);
            return -1;
        }
        rc = deliver_locked(its, id);
        lpi_unlock(d, id);
    }
    *seq = s;
    *intid = id;
    return rc;
}

/* Translate and deliver; *seq and *intid say which mapping was used. */
static int translate(struct vits_its *its, uint32_t devid, uint32_t eventid, uint64_t *seq,
                     uint32_t *intid)
{
    struct vits_domain *d = its->d;
    int fast = translate_fast(its, devid, eventid, seq, intid);
    if (fast >= 0)
        return fast;
    unsigned token = lpi_read_lock(d);
    for (int t = 0; t < OPTIMISTIC_TRIES; t++) {
        uint64_t s = atomic_load_explicit(&its->map_seq, memory_order_acquire);
        if (s & 1) {
            sched_yield();
            continue;
        }
        uint32_t id = lookup(its, devid, eventid, s);
        if (id == TORN)
            continue;
        lpi_prefetch(d, id);
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&its->map_seq, memory_order_relaxed) != s)
            continue;
        int rc = 0;
        if (id) {
            lpi_lock(d, id);
            if (atomic_load_explicit(&its->map_seq, memory_order_relaxed) != s) {
                lpi_unlock(d, id);
                continue;
            }
            rc = deliver_locked(its, id);
            lpi_unlock(d, id);
        }
        lpi_read_unlock(d, token);
        *seq = s;
        *intid = id;
        return rc;
    }
    lpi_read_unlock(d, token);
    /* Lost too many races: hold the writers off for one lookup. */
    lpi_spin_lock(&its->map_lock);
    *seq = atomic_load_explicit(&its->map_seq, memory_order_relaxed);
    *intid = lookup(its, devid, eventid, *seq); /* never TORN: no writer */
    int rc = deliver(its, *intid);
    lpi_spin_unlock(&its->map_lock);
    return rc;
}

int its_signal(struct vits_its *its, uint32_t devid, uint32_t eventid)
{
    if (!atomic_load_explicit(&its->enabled, memory_order_relaxed))
        return 0;
    uint64_t seq;
    uint32_t intid;
    return translate(its, devid, eventid, &seq, &intid);
}

int vits_domain_signal_msi(struct vits_domain *d, const struct vits_msi *msi)
{
    if (!d || !msi)
        return -EINVAL;
    if (!(msi->flags & VITS_MSI_VALID_DEVID) || (msi->flags & ~VITS_MSI_VALID_DEVID))
        return -EINVAL;
    unsigned end = atomic_load_explicit(&d->owners_end, memory_order_acquire);
    for (unsigned i = 0; i < end; i++) {
        struct vits_its *its = atomic_load_explicit(&d->owners[i], memory_order_acquire);
        if (its && its->cfg.base + VITS_GITS_TRANSLATER == msi->address)
            return its_signal(its, msi->devid, msi->data);
    }
    return -ENODEV;
}

int vits_route_create(struct vits_its *its, uint32_t devid, uint32_t eventid,
                      struct vits_route **out)
{
    if (out)
        *out = NULL;
    if (!its || !out)
        return -EINVAL;
    struct vits_domain *d = its->d;
    pthread_mutex_lock(&d->lock);
    struct vits_route *r = lpi_alloc(d, sizeof(*r));
    if (r) {
        r->d = d;
        atomic_init(&r->its, its);
        r->devid = devid;
        r->eventid = eventid;
        atomic_init(&r->cache, NO_CACHE);
        r->next = its->routes;
        if (its->routes)
            its->routes->prev = r;
        its->routes = r;
        d->nr_routes++;
    }
    pthread_mutex_unlock(&d->lock);
    if (!r)
        return -ENOMEM;
    *out = r;
    return 0;
}

int vits_route_fire(struct vits_route *r)
{
    if (!r)
        return -EINVAL;
    struct vits_its *its = atomic_load_explicit(&r->its, memory_order_acquire);
    if (!its)
        return -ENODEV;
    if (!atomic_load_explicit(&its->enabled, memory_order_relaxed))
        return 0;
    uint64_t cache = atomic_load_explicit(&r->cache, memory_order_relaxed);
    uint64_t s = atomic_load_explicit(&its->map_seq, memory_order_acquire);
    if (!(s & 1) && cache >> (64 - SEQ_BITS) == (s & SEQ_MASK)) {
        /* Same map_seq as when cached, and no change under way (an odd
         * one would match NO_CACHE): the mapping is unchanged, check it
         * still is under the LPI's lock. */
        uint32_t intid = (uint32_t)(cache & INTID_MASK);
        lpi_lock(r->d, intid);
        if (atomic_load_explicit(&its->map_seq, memory_order_relaxed) == s) {
            int rc = deliver_locked(its, intid);
            lpi_unlock(r->d, intid);
            return rc;
        }
        lpi_unlock(r->d, intid);
    }
    uint64_t seq;
    uint32_t intid;
    int rc = translate(its, r->devid, r->eventid, &seq, &intid);
    atomic_store_explicit(&r->cache, intid ? (seq & SEQ_MASK) << (64 - SEQ_BITS) | intid : NO_CACHE,
                          memory_order_relaxed);
    return rc;
}

void vits_route_destroy(struct vits_route *r)
{
    if (!r)
        return;
    struct vits_domain *d = r->d;
    pthread_mutex_lock(&d->lock);
    struct vits_its *its = atomic_load(&r->its);
    if (its) {
        if (r->prev)
            r->prev->next = r->next;
        else
            its->routes = r->next;
        if (r->next)
            r->next->prev = r->prev;
    }
    d->nr_routes--;
    lpi_free(d, r, sizeof(*r));
    pthread_mutex_unlock(&d->lock);
}

void its_routes_forget(struct vits_its *its)
{
    for (struct vits_route *r = its->routes; r; r = r->next)
        atomic_store_explicit(&r->cache, NO_CACHE, memory_order_relaxed);
}

void its_routes_detach(struct vits_its *its)
{
    for (struct vits_route *r = its->routes; r; r = r->next)
        atomic_store_explicit(&r->its, NULL, memory_order_release);
    its->routes = NULL;
}
