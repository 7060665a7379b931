/* SPDX-License-Identifier: MIT */
/*
 * Reset: of one ITS, as KVM_DEV_ARM_ITS_CTRL_RESET, and of a whole domain
 * for a guest reboot.
 *
 * An ITS reset leaves it as a guest that boots expects to find it:
 * disabled and quiescent, GITS_CBASER, GITS_CREADR and GITS_CWRITER zero,
 * not stalled, every GITS_BASER<n> with Valid clear (its other fields
 * kept, as KVM keeps them), no device, event or collection. GITS_IIDR
 * (the ABI revision) is kept, and so are the counters of
 * vits_its_commands / vits_its_last_error, which are statistics rather
 * than ITS state. So is the table ABI's note of how far earlier saves
 * wrote valid entries into the device table (abi_dev_hwm, for the
 * GITS_BASER0 value they wrote under): a guest that programs that table
 * again after the reset gets those entries cleared by its next save,
 * where forgetting them let a restore bring back devices from before
 * the reset. The note is used only while GITS_BASER0 holds that value. Queue state that survived a
 * reboot is what made a guest re-initialising its ITS hang (hvisor): nothing of it survives here.
 *
 * MSIs racing a reset see the ITS disabled (they are dropped) or, before
 * that store, the old state; routes re-translate, since the device map's
 * sequence count moves. Writer (the public calls take the domain lock).
 */
#include <errno.h>

#include "migrate.h"

#define BASER_VALID (1ull << 63)

void its_reset_locked(struct vits_its *its)
{
    its_stage_drop_live(its);
    its->stalled = false;
    its->cbaser = 0;
    its->creadr = 0;
    its->cwriter = 0;
    for (unsigned n = 0; n < 8; n++)
        its->baser[n] &= ~BASER_VALID;
}

int vits_its_reset(struct vits_its *its)
{
    if (!its)
        return -EINVAL;
    struct vits_domain *d = its->d;
    pthread_mutex_lock(&d->lock);
    its_reset_locked(its);
    lpi_reclaim(d);
    lpi_log(d, VITS_LOG_INFO, "ITS at 0x%llx reset", (unsigned long long)its->cfg.base);
    pthread_mutex_unlock(&d->lock);
    return 0;
}

int vits_domain_reset(struct vits_domain *d)
{
    if (!d)
        return -EINVAL;
    pthread_mutex_lock(&d->lock);
    struct vits_its *list[LPI_MAX_OWNERS];
    unsigned n = its_domain_list(d, list);
    for (unsigned i = 0; i < n; i++)
        its_reset_locked(list[i]);
    /* No LPI is mapped any more, so none is pending or raised: the
     * redistributors go back to their state at creation. */
    for (uint32_t v = 0; v < d->cfg.nr_vcpus; v++) {
        struct lpi_redist *rd = &d->rd[v];
        atomic_store(&rd->enabled, false);
        rd->propbaser = 0;
        rd->pendbaser = 0;
    }
    lpi_reclaim(d);
    lpi_log(d, VITS_LOG_INFO, "domain reset: %u ITS(es), %u vCPUs", n, d->cfg.nr_vcpus);
    pthread_mutex_unlock(&d->lock);
    return 0;
}
