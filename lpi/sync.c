/* SPDX-License-Identifier: MIT */
/*
 * Grace periods for memory that lock-free readers may hold (see the
 * locking rules in lpi.h).
 *
 * A reader picks a slot (by thread, round robin) and counts itself in the
 * slot's counter for the current epoch parity, then checks the parity did
 * not change meanwhile (if it did, it moves to the new parity). A writer
 * that wants to free what it unlinked flips the parity and waits until no
 * reader is counted under the old one: every reader that could have seen
 * the unlinked memory has then left. Readers touch only their own slot's
 * cache line, so MSIs on different threads do not contend.
 */
#include <stdlib.h>

#include "lpi.h"

static atomic_uint next_slot;
static _Thread_local unsigned my_slot = UINT32_MAX;

static unsigned slot_index(void)
{
    if (my_slot == UINT32_MAX)
        my_slot = atomic_fetch_add_explicit(&next_slot, 1, memory_order_relaxed) % LPI_READER_SLOTS;
    return my_slot;
}

unsigned lpi_read_lock(struct vits_domain *d)
{
    unsigned slot = slot_index();
    for (;;) {
        unsigned parity = atomic_load(&d->epoch) & 1;
        atomic_fetch_add(&d->readers[slot].active[parity], 1);
        /* Seq-cst RMW then load: either the writer's flip is seen here, or
         * the writer sees this count when it waits. */
        if ((atomic_load(&d->epoch) & 1) == parity)
            return slot << 1 | parity;
        atomic_fetch_sub(&d->readers[slot].active[parity], 1);
    }
}

void lpi_read_unlock(struct vits_domain *d, unsigned token)
{
    atomic_fetch_sub_explicit(&d->readers[token >> 1].active[token & 1], 1, memory_order_release);
}

/* Wait until every reader that entered before now has left. Writer. */
static void synchronize(struct vits_domain *d)
{
    unsigned old = atomic_fetch_add(&d->epoch, 1) & 1;
    for (unsigned s = 0; s < LPI_READER_SLOTS; s++) {
        unsigned spins = 0;
        while (atomic_load_explicit(&d->readers[s].active[old], memory_order_acquire))
            if (++spins % 64 == 0)
                sched_yield();
    }
}

void lpi_defer_free(struct vits_domain *d, void *p, size_t size)
{
    if (!p)
        return;
    /* A full list is reclaimed at once: one grace period, then on. */
    if (d->nr_limbo == LPI_LIMBO)
        lpi_reclaim(d);
    d->limbo[d->nr_limbo++] = (struct lpi_limbo){p, size};
}

void lpi_reclaim(struct vits_domain *d)
{
    if (!d->nr_limbo)
        return;
    synchronize(d);
    for (size_t i = 0; i < d->nr_limbo; i++)
        lpi_free(d, d->limbo[i].p, d->limbo[i].size);
    d->nr_limbo = 0;
}
