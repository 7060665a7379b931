/* SPDX-License-Identifier: MIT */
/*
 * MMIO requests: a trapped access described by its guest physical
 * address, routed to the ITS frame or the redistributor that holds it,
 * and the per-vCPU request slots that IOREQ-style hypervisors share with
 * their device models (FREE -> PENDING -> PROCESSING -> COMPLETE). The
 * contract, memory order included, is in vits.h above struct
 * vits_ioreq_slot.
 *
 * Requests may come from anywhere (a guest, a hypervisor, another
 * process), so each is copied once, checked, and only then served; a
 * bad one completes with an error and a log line, never a crash.
 *
 * Locks: none held on entry. Serving takes the domain lock through the
 * MMIO calls it forwards to (not for GITS_TRANSLATER writes, which are
 * MSIs); a rejected request takes it to log through the guest-error rate
 * limiter. The ITS frames are found without the lock, as MSIs find
 * their doorbell: an ITS must not be destroyed while a request may
 * reach it.
 */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <string.h>

#include "its.h"

_Static_assert(sizeof(struct vits_ioreq) == 40, "struct vits_ioreq is a fixed 40-byte layout");
_Static_assert(sizeof(struct vits_ioreq_slot) == 48, "struct vits_ioreq_slot is 48 bytes");
_Static_assert(offsetof(struct vits_ioreq_slot, req) == 8, "the request follows the state word");

/* Size of a redistributor's RD_base frame, the one with the LPI registers. */
#define RD_BASE_FRAME 0x10000u

/* A guest error about a request, through the rate limiter (which needs
 * the domain lock). */
#define REJECT(d, ...)                                                                             \
    do {                                                                                           \
        pthread_mutex_lock(&(d)->lock);                                                            \
        lpi_log((d), VITS_LOG_GUEST, __VA_ARGS__);                                                 \
        pthread_mutex_unlock(&(d)->lock);                                                          \
    } while (0)

static const char *dir_name(uint32_t dir) { return dir == VITS_IOREQ_WRITE ? "write" : "read"; }

/* The ITS of d whose frame holds addr, or NULL. */
static struct vits_its *its_at(struct vits_domain *d, uint64_t addr)
{
    unsigned end = atomic_load_explicit(&d->owners_end, memory_order_acquire);
    for (unsigned i = 0; i < end; i++) {
        struct vits_its *its = atomic_load_explicit(&d->owners[i], memory_order_acquire);
        if (its && addr >= its->cfg.base && addr - its->cfg.base < VITS_ITS_FRAME_SIZE)
            return its;
    }
    return NULL;
}

static int serve_its(struct vits_its *its, struct vits_ioreq *r)
{
    uint64_t off = r->addr - its->cfg.base;
    if (r->dir == VITS_IOREQ_READ)
        return vits_its_mmio_read(its, off, r->size, &r->data);
    if (r->flags & VITS_IOREQ_F_DEVID)
        return vits_its_mmio_write_devid(its, off, r->size, r->data, r->devid);
    return vits_its_mmio_write(its, off, r->size, r->data);
}

/* Redistributor frames: -ENOENT for a register vits does not serve
 * (anywhere in the region of nr_vcpus frames), -ENODEV outside it. */
static int serve_gicr(struct vits_domain *d, struct vits_ioreq *r)
{
    const struct vits_domain_config *c = &d->cfg;
    if (r->addr < c->redist_base)
        return -ENODEV;
    uint64_t rel = r->addr - c->redist_base;
    uint64_t v = rel / c->redist_stride, off = rel % c->redist_stride;
    if (v >= c->nr_vcpus)
        return -ENODEV;
    if (off >= RD_BASE_FRAME)
        return -ENOENT; /* SGI_base and later frames: the vGIC's */
    if (r->dir == VITS_IOREQ_READ)
        return vits_gicr_mmio_read(d, (uint32_t)v, off, r->size, &r->data);
    return vits_gicr_mmio_write(d, (uint32_t)v, off, r->size, r->data);
}

/* Serve a request copied out of the caller's memory. */
static int serve(struct vits_domain *d, struct vits_ioreq *r)
{
    bool read = r->dir == VITS_IOREQ_READ;
    uint64_t wdata = r->data;
    if (read)
        r->data = 0;
    if (r->dir != VITS_IOREQ_READ && r->dir != VITS_IOREQ_WRITE) {
        REJECT(d, "MMIO request at 0x%llx: unknown direction %u", (unsigned long long)r->addr,
               r->dir);
        return -EINVAL;
    }
    if (r->flags & ~VITS_IOREQ_F_DEVID) {
        REJECT(d, "MMIO %s at 0x%llx: unknown flags 0x%x", dir_name(r->dir),
               (unsigned long long)r->addr, r->flags);
        return -EINVAL;
    }
    if (r->vcpu >= d->cfg.nr_vcpus) {
        REJECT(d, "MMIO %s at 0x%llx from vCPU %u: no such vCPU", dir_name(r->dir),
               (unsigned long long)r->addr, r->vcpu);
        return -EINVAL;
    }
    if ((r->size != 1 && r->size != 2 && r->size != 4 && r->size != 8) ||
        (r->addr & (r->size - 1))) {
        REJECT(d, "MMIO %s at 0x%llx, %u bytes, from vCPU %u: bad size or alignment",
               dir_name(r->dir), (unsigned long long)r->addr, r->size, r->vcpu);
        return -EINVAL;
    }
    if (!read && r->size < 8)
        r->data = wdata & ((1ull << (8 * r->size)) - 1);
    struct vits_its *its = its_at(d, r->addr);
    int rc = its ? serve_its(its, r) : serve_gicr(d, r);
    if (rc == -EINVAL)
        REJECT(d, "MMIO %s at 0x%llx, %u bytes, from vCPU %u: not an access this register takes",
               dir_name(r->dir), (unsigned long long)r->addr, r->size, r->vcpu);
    else if (rc == -ENODEV)
        REJECT(d, "MMIO %s at 0x%llx from vCPU %u: no ITS or redistributor frame there",
               dir_name(r->dir), (unsigned long long)r->addr, r->vcpu);
    if (rc && read)
        r->data = 0;
    if (!read)
        r->data = wdata;
    return rc;
}

int vits_ioreq_serve(struct vits_domain *d, struct vits_ioreq *req)
{
    if (!d || !req)
        return -EINVAL;
    struct vits_ioreq r;
    memcpy(&r, req, sizeof(r));
    int rc = serve(d, &r);
    req->data = r.data;
    req->result = rc;
    return rc;
}

static uint32_t load_state(const struct vits_ioreq_slot *s)
{
    return __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
}

/* Take a slot in state *from: compare-and-swap to PROCESSING. */
static bool take(struct vits_ioreq_slot *s, uint32_t from)
{
    return __atomic_compare_exchange_n(&s->state, &from, (uint32_t)VITS_IOREQ_PROCESSING, false,
                                       __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
}

static void complete(struct vits_ioreq_slot *s, uint64_t data, int rc)
{
    s->req.data = data;
    s->req.result = rc;
    __atomic_store_n(&s->state, (uint32_t)VITS_IOREQ_COMPLETE, __ATOMIC_RELEASE);
}

int vits_ioreq_serve_slots(struct vits_domain *d, struct vits_ioreq_slot *slots, uint32_t nr,
                           void (*notify)(void *opaque, uint32_t vcpu), void *opaque)
{
    if (!d || (!slots && nr) || nr > INT_MAX)
        return -EINVAL;
    int done = 0;
    for (uint32_t i = 0; i < nr; i++) {
        struct vits_ioreq_slot *s = &slots[i];
        uint32_t st = load_state(s);
        if (st == VITS_IOREQ_FREE || st == VITS_IOREQ_PROCESSING || st == VITS_IOREQ_COMPLETE)
            continue;
        if (!take(s, st))
            continue; /* withdrawn, or taken by another server thread */
        if (st != VITS_IOREQ_PENDING) {
            lpi_log(d, VITS_LOG_ERROR, "request slot %u in unknown state 0x%x; completed with %d",
                    i, st, -EPROTO);
            complete(s, 0, -EPROTO);
        } else {
            struct vits_ioreq r;
            memcpy(&r, &s->req, sizeof(r));
            int rc;
            if (r.vcpu != i) {
                lpi_log(d, VITS_LOG_ERROR, "request slot %u names vCPU %u; completed with %d", i,
                        r.vcpu, -EINVAL);
                rc = -EINVAL;
                if (r.dir == VITS_IOREQ_READ)
                    r.data = 0;
            } else {
                rc = serve(d, &r);
            }
            complete(s, r.data, rc);
        }
        if (notify)
            notify(opaque, i);
        done++;
    }
    return done;
}

int vits_ioreq_submit(struct vits_ioreq_slot *slot, const struct vits_ioreq *req)
{
    if (!slot || !req)
        return -EINVAL;
    if (load_state(slot) != VITS_IOREQ_FREE)
        return -EBUSY;
    slot->req = *req;
    __atomic_store_n(&slot->state, (uint32_t)VITS_IOREQ_PENDING, __ATOMIC_RELEASE);
    return 0;
}

int vits_ioreq_collect(struct vits_ioreq_slot *slot, struct vits_ioreq *req)
{
    if (!slot)
        return -EINVAL;
    switch (load_state(slot)) {
    case VITS_IOREQ_COMPLETE:
        if (req)
            *req = slot->req;
        __atomic_store_n(&slot->state, (uint32_t)VITS_IOREQ_FREE, __ATOMIC_RELEASE);
        return 1;
    case VITS_IOREQ_PENDING:
    case VITS_IOREQ_PROCESSING:
        return 0;
    case VITS_IOREQ_FREE:
        return -ENOENT;
    default:
        return -EPROTO;
    }
}
