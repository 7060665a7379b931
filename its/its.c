/* SPDX-License-Identifier: MIT */
/* ITS instances: creation, destruction, MSI translation, error record. */
#include <errno.h>
#include <string.h>

#include "its.h"

void vits_its_config_init(struct vits_its_config *cfg)
{
    if (!cfg)
        return;
    memset(cfg, 0, sizeof(*cfg));
    cfg->base = 0x08080000;
    cfg->device_id_bits = 16;
    cfg->event_id_bits = 16;
    cfg->collection_id_bits = 16;
    cfg->error_policy = VITS_ERRORS_CONTINUE;
    cfg->max_devices = 4096;
    cfg->max_events = 65536;
    cfg->max_collections = 4096;
    cfg->max_batch = 64;
}

static int check_config(const struct vits_its_config *c)
{
    if (c->base & 0xffff)
        return -EINVAL;
    if (c->base > UINT64_MAX - VITS_ITS_FRAME_SIZE)
        return -EINVAL;
    if (c->device_id_bits < 1 || c->device_id_bits > 32)
        return -EINVAL;
    if (c->event_id_bits < 1 || c->event_id_bits > 16)
        return -EINVAL;
    if (c->collection_id_bits < 1 || c->collection_id_bits > 16)
        return -EINVAL;
    if (c->pta > 1 || c->iidr_revision > 15)
        return -EINVAL;
    if (c->error_policy != VITS_ERRORS_CONTINUE && c->error_policy != VITS_ERRORS_STALL)
        return -EINVAL;
    if (c->max_batch < 1 || c->max_batch > 32768)
        return -EINVAL;
    return 0;
}

int vits_its_create(struct vits_domain *d, const struct vits_its_config *cfg, struct vits_its **out)
{
    if (out)
        *out = NULL;
    if (!d || !cfg || !out)
        return -EINVAL;
    int rc = check_config(cfg);
    if (rc)
        return rc;
    pthread_mutex_lock(&d->lock);
    int slot = -1;
    rc = 0;
    for (uint32_t i = 0; i < LPI_MAX_OWNERS; i++) {
        struct vits_its *o = atomic_load(&d->owners[i]);
        if (!o) {
            if (slot < 0)
                slot = (int)i;
            continue;
        }
        if (cfg->base < o->cfg.base + VITS_ITS_FRAME_SIZE &&
            o->cfg.base < cfg->base + VITS_ITS_FRAME_SIZE)
            rc = -EEXIST;
    }
    if (!rc && slot < 0)
        rc = -ENOSPC;
    struct vits_its *its = NULL;
    if (!rc) {
        its = lpi_alloc(d, sizeof(*its));
        size_t ncoll = (size_t)1 << cfg->collection_id_bits;
        if (its) {
            its->coll = lpi_alloc(d, sizeof(*its->coll) * ncoll);
            its->batch = lpi_alloc(d, (size_t)cfg->max_batch * 32);
        }
        if (!its || !its->coll || !its->batch) {
            if (its) {
                lpi_free(d, its->coll, sizeof(*its->coll) * ncoll);
                lpi_free(d, its->batch, (size_t)cfg->max_batch * 32);
                lpi_free(d, its, sizeof(*its));
            }
            its = NULL;
            rc = -ENOMEM;
        }
    }
    if (its) {
        its->d = d;
        its->cfg = *cfg;
        its->slot = (uint8_t)slot;
        its->baser[ITS_BASER_DEVICES] = its_baser_sanitise(ITS_BASER_DEVICES, 0);
        its->baser[ITS_BASER_COLLECTIONS] = its_baser_sanitise(ITS_BASER_COLLECTIONS, 0);
        atomic_store(&d->owners[slot], its);
        if ((uint32_t)slot >= atomic_load(&d->owners_end))
            atomic_store(&d->owners_end, (uint32_t)slot + 1);
        d->nr_owners++;
        *out = its;
    }
    pthread_mutex_unlock(&d->lock);
    return rc;
}

void vits_its_destroy(struct vits_its *its)
{
    if (!its)
        return;
    struct vits_domain *d = its->d;
    pthread_mutex_lock(&d->lock);
    its_routes_detach(its);
    its_map_begin(its);
    its_dev_remove_all(its);
    its_map_end(its);
    its_dev_free_arrays(its);
    lpi_reclaim(d);
    /* Every LPI of this ITS belonged to one of its devices. */
    atomic_store(&d->owners[its->slot], NULL);
    d->nr_owners--;
    lpi_free(d, its->coll, sizeof(*its->coll) << its->cfg.collection_id_bits);
    lpi_free(d, its->batch, (size_t)its->cfg.max_batch * 32);
    lpi_free(d, its, sizeof(*its));
    pthread_mutex_unlock(&d->lock);
}

struct vits_domain *vits_its_domain(const struct vits_its *its) { return its ? its->d : NULL; }

int vits_its_signal_msi(struct vits_its *its, uint32_t devid, uint32_t eventid)
{
    if (!its)
        return -EINVAL;
    return its_signal(its, devid, eventid);
}

int vits_its_last_error(const struct vits_its *its, struct vits_cmd_error *err, uint64_t *count)
{
    if (!its)
        return -EINVAL;
    pthread_mutex_lock(&its->d->lock);
    if (err)
        *err = its->last_error;
    if (count)
        *count = its->errors;
    int rc = its->errors ? 1 : 0;
    pthread_mutex_unlock(&its->d->lock);
    return rc;
}

uint64_t vits_its_commands(const struct vits_its *its)
{
    if (!its)
        return 0;
    pthread_mutex_lock(&its->d->lock);
    uint64_t n = its->commands;
    pthread_mutex_unlock(&its->d->lock);
    return n;
}
