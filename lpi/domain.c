/* SPDX-License-Identifier: MIT */
/* The LPI domain: creation, destruction, the allocation wrapper. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lpi.h"

#define LPI_MAX_VCPUS 4096u
#define SYNC_MEM_SIZE                                                                              \
    (sizeof(struct lpi_spin) * LPI_STRIPES + sizeof(struct lpi_reader_slot) * LPI_READER_SLOTS + 63)

unsigned vits_version(void)
{
    return VITS_VERSION_MAJOR << 16 | VITS_VERSION_MINOR << 8 | VITS_VERSION_PATCH;
}

void vits_domain_config_init(struct vits_domain_config *cfg, uint32_t nr_vcpus)
{
    if (!cfg)
        return;
    memset(cfg, 0, sizeof(*cfg));
    cfg->nr_vcpus = nr_vcpus;
    cfg->lpi_id_bits = 16;
    cfg->redist_base = 0x080a0000;
    cfg->redist_stride = 0x20000;
    cfg->log_rate = 10;
    cfg->log_burst = 50;
    cfg->log_level = VITS_LOG_INFO;
}

static void *default_alloc(void *ptr, size_t new_size)
{
    if (new_size == 0) {
        free(ptr);
        return NULL;
    }
    return realloc(ptr, new_size);
}

void *lpi_realloc(struct vits_domain *d, void *p, size_t old_size, size_t new_size)
{
    void *n;
    if (new_size == 0) {
        /* Count first: p may be the domain itself. */
        atomic_fetch_sub(&d->mem, old_size);
        if (d->ops->alloc)
            d->ops->alloc(d->opaque, p, old_size, 0);
        else
            default_alloc(p, 0);
        return NULL;
    }
    if (d->ops->alloc)
        n = d->ops->alloc(d->opaque, p, old_size, new_size);
    else
        n = default_alloc(p, new_size);
    if (!n)
        return NULL;
    atomic_fetch_add(&d->mem, new_size);
    atomic_fetch_sub(&d->mem, old_size);
    return n;
}

void *lpi_alloc(struct vits_domain *d, size_t size)
{
    void *p = lpi_realloc(d, NULL, 0, size);
    if (p)
        memset(p, 0, size);
    return p;
}

void lpi_free(struct vits_domain *d, void *p, size_t size)
{
    if (p)
        lpi_realloc(d, p, size, 0);
}

static int check_config(const struct vits_domain_config *cfg)
{
    if (cfg->nr_vcpus < 1 || cfg->nr_vcpus > LPI_MAX_VCPUS)
        return -EINVAL;
    if (cfg->lpi_id_bits < 14 || cfg->lpi_id_bits > 24)
        return -EINVAL;
    if (cfg->redist_base & 0xffff)
        return -EINVAL;
    if (cfg->redist_stride == 0 || (cfg->redist_stride & 0xffff))
        return -EINVAL;
    if (cfg->log_level > VITS_LOG_DEBUG)
        return -EINVAL;
    return 0;
}

int vits_domain_create(const struct vits_domain_config *cfg, const struct vits_ops *ops,
                       void *opaque, struct vits_domain **out)
{
    if (out)
        *out = NULL;
    if (!cfg || !ops || !out)
        return -EINVAL;
    if (ops->version < 1 || ops->version > VITS_OPS_VERSION)
        return -EINVAL;
    if (!ops->read_mem || !ops->write_mem || !ops->raise)
        return -EINVAL;
    int rc = check_config(cfg);
    if (rc)
        return rc;

    struct vits_domain boot = {.ops = ops, .opaque = opaque};
    struct vits_domain *d = lpi_alloc(&boot, sizeof(*d));
    if (!d)
        return -ENOMEM;
    d->cfg = *cfg;
    d->ops = ops;
    d->opaque = opaque;
    d->max_access = ops->version >= 2 ? ops->max_access : 0;
    lpi_props_init(d);
    atomic_init(&d->mem, atomic_load(&boot.mem));
    d->nr_chunks = (1u << cfg->lpi_id_bits) >> LPI_CHUNK_SHIFT;
    d->chunks = lpi_alloc(d, sizeof(*d->chunks) * d->nr_chunks);
    d->hot = lpi_alloc(d, sizeof(*d->hot) << cfg->lpi_id_bits);
    d->rd = lpi_alloc(d, sizeof(*d->rd) * cfg->nr_vcpus);
    d->sync_mem = lpi_alloc(d, SYNC_MEM_SIZE);
    d->limbo = lpi_alloc(d, sizeof(*d->limbo) * LPI_LIMBO);
    if (!d->chunks || !d->hot || !d->rd || !d->sync_mem || !d->limbo ||
        pthread_mutex_init(&d->lock, NULL) != 0) {
        lpi_free(d, d->chunks, sizeof(*d->chunks) * d->nr_chunks);
        lpi_free(d, d->hot, sizeof(*d->hot) << cfg->lpi_id_bits);
        lpi_free(d, d->rd, sizeof(*d->rd) * cfg->nr_vcpus);
        lpi_free(d, d->sync_mem, SYNC_MEM_SIZE);
        lpi_free(d, d->limbo, sizeof(*d->limbo) * LPI_LIMBO);
        lpi_free(d, d, sizeof(*d));
        return -ENOMEM;
    }
    uintptr_t base = ((uintptr_t)d->sync_mem + 63) & ~(uintptr_t)63;
    d->stripes = (struct lpi_spin *)base;
    d->readers = (struct lpi_reader_slot *)(base + sizeof(struct lpi_spin) * LPI_STRIPES);
    d->rl.tokens_milli = (uint64_t)cfg->log_burst * 1000;
    *out = d;
    return 0;
}

int vits_domain_destroy(struct vits_domain *d)
{
    if (!d)
        return 0;
    pthread_mutex_lock(&d->lock);
    uint32_t busy = d->nr_owners + d->nr_routes;
    pthread_mutex_unlock(&d->lock);
    if (busy)
        return -EBUSY;
    /* No ITS left, so no LPI is mapped and every chunk is gone. */
    pthread_mutex_destroy(&d->lock);
    lpi_free(d, d->limbo, sizeof(*d->limbo) * LPI_LIMBO);
    lpi_free(d, d->sync_mem, SYNC_MEM_SIZE);
    lpi_free(d, d->chunks, sizeof(*d->chunks) * d->nr_chunks);
    lpi_free(d, d->hot, sizeof(*d->hot) << d->cfg.lpi_id_bits);
    lpi_free(d, d->rd, sizeof(*d->rd) * d->cfg.nr_vcpus);
    lpi_free(d, d, sizeof(*d));
    return 0;
}

void *vits_domain_opaque(const struct vits_domain *d) { return d ? d->opaque : NULL; }

size_t vits_domain_memory(const struct vits_domain *d)
{
    return d ? atomic_load(&((struct vits_domain *)d)->mem) : 0;
}
