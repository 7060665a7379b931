/* SPDX-License-Identifier: MIT */
/*
 * The self-contained snapshot: the whole state of a domain and of every
 * ITS attached to it, serialized into the caller's buffer, for VMMs that
 * do not migrate through KVM's table ABI. It needs nothing from guest
 * memory, and it keeps what the table ABI cannot: the cached property of
 * each LPI (priority, enable) as the guest last made vits read it, the
 * pending state of LPIs whose collection is unmapped, and the vCPU an LPI
 * targets when MOVALL moved it away from its collection's.
 *
 * Format, version 1. Every field is little-endian whatever the host, at
 * a fixed offset in its record; reserved fields are zero:
 *
 *   header (56 bytes)
 *     0  "VITSSNAP"           8  u32 version (1)     12  u32 flags (0)
 *    16  u64 length: the whole snapshot in bytes, CRC included
 *    24  u32 vCPUs            28  u32 LPI INTID bits
 *    32  u64 redistributor base                      40  u64 stride
 *    48  u32 ITSes            52  u32 reserved
 *   per vCPU (24 bytes)
 *     0  u64 GICR_PROPBASER    8  u64 GICR_PENDBASER (PTZ as written)
 *    16  u32 flags: bit 0 EnableLPIs                 20  u32 reserved
 *   per ITS, in the order of their frame bases (128 bytes)
 *     0  u64 frame base
 *     8  u8 DeviceID bits, EventID bits, collection ID bits, PTA
 *    12  u8 GITS_IIDR.Revision, flags (bit 0 Enabled, bit 1 Stalled)
 *    14  u16 reserved
 *    16  u64 GITS_CBASER      24  u64 GITS_CWRITER   32  u64 GITS_CREADR
 *    40  u64 GITS_BASER0..7
 *   104  u64 DeviceIDs below which the device table may hold entries
 *        that the table ABI wrote (its/abi.c)
 *   112  u32 collections     116  u32 devices       120  u32 events
 *   124  u32 reserved
 *     then the collections (4 bytes each, by ICID):
 *       u16 ICID, u16 target vCPU (0xffff: not mapped, named by events)
 *     then the devices, by DeviceID, each followed by its events:
 *       device (24 bytes): u32 DeviceID, u8 EventID bits, 3 reserved,
 *         u64 ITT address, u32 events, u32 reserved
 *       event (16 bytes, by EventID): u32 EventID, u32 pINTID, u16 ICID,
 *         u16 target vCPU (0xffff: none), u8 cached priority, u8 flags
 *         (bit 0 enabled, bit 1 pending), u16 reserved
 *   trailer: u32 CRC-32 (IEEE 802.3) of every byte before it
 *
 * A restore checks the header, the length, the checksum, then every
 * field, staging the state (its/stage.c); only a snapshot that is
 * complete, consistent, and fits this domain's geometry and limits
 * replaces the domain's state. Writer (the public calls take the lock).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "migrate.h"

#define MAGIC "VITSSNAP"
#define HEADER_SIZE 56u
#define VCPU_SIZE 24u
#define ITS_SIZE 128u
#define COLL_SIZE 4u
#define DEV_SIZE 24u
#define EVENT_SIZE 16u
#define CRC_SIZE 4u

#define ITS_F_ENABLED 1u
#define ITS_F_STALLED 2u
#define EV_F_ENABLED 1u
#define EV_F_PENDING 2u
#define NO_VCPU 0xffffu
#define OFFSET_MASK (((1ull << 15) - 1) << 5) /* CWRITER/CREADR [19:5] */

#define LOG(d, ...) lpi_log((d), VITS_LOG_ERROR, __VA_ARGS__)

/* ---- CRC-32, reflected, polynomial 0xedb88320 ---- */

static uint32_t crc32(const uint8_t *p, size_t n)
{
    uint32_t table[256];
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
        table[i] = c;
    }
    uint32_t crc = 0xffffffffu;
    for (size_t i = 0; i < n; i++)
        crc = table[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
    return crc ^ 0xffffffffu;
}

/* ---- the domain's ITSes ---- */

static int cmp_its(const void *a, const void *b)
{
    const struct vits_its *x = *(struct vits_its *const *)a;
    const struct vits_its *y = *(struct vits_its *const *)b;
    return (x->cfg.base > y->cfg.base) - (x->cfg.base < y->cfg.base);
}

unsigned its_domain_list(struct vits_domain *d, struct vits_its **its)
{
    unsigned n = 0, end = atomic_load(&d->owners_end);
    for (unsigned i = 0; i < end && i < LPI_MAX_OWNERS; i++) {
        struct vits_its *o = atomic_load(&d->owners[i]);
        if (o)
            its[n++] = o;
    }
    qsort(its, n, sizeof(*its), cmp_its);
    return n;
}

/* ------------------------------------------------------------------ */
/* Save                                                                 */
/* ------------------------------------------------------------------ */

struct out {
    uint8_t *p; /* NULL: only count */
    size_t len;
};

static void put(struct out *o, uint64_t v, unsigned bytes)
{
    if (o->p)
        for (unsigned i = 0; i < bytes; i++)
            o->p[o->len + i] = (uint8_t)(v >> (8 * i));
    o->len += bytes;
}

static void put8(struct out *o, uint64_t v) { put(o, v, 1); }
static void put16(struct out *o, uint64_t v) { put(o, v, 2); }
static void put32(struct out *o, uint64_t v) { put(o, v, 4); }
static void put64(struct out *o, uint64_t v) { put(o, v, 8); }

static bool coll_saved(const struct vits_its *its, uint32_t icid)
{
    return atomic_load_explicit(&its->coll[icid].target, memory_order_relaxed) ||
           its->coll[icid].lpis;
}

static int cmp_dev(const void *a, const void *b)
{
    const struct its_device *x = *(struct its_device *const *)a;
    const struct its_device *y = *(struct its_device *const *)b;
    return (x->devid > y->devid) - (x->devid < y->devid);
}

/* The device's events. */
static void put_events(struct out *o, struct vits_domain *d, struct its_device *dev)
{
    uint32_t events = 1u << dev->event_bits, n = 0;
    for (uint32_t ev = 0; ev < events && n < dev->nr_mapped; ev++) {
        if (!dev->itt &&
            !atomic_load_explicit(&dev->dir[ev >> ITS_EV_SHIFT], memory_order_relaxed)) {
            ev |= ITS_EV_CHUNK - 1;
            continue;
        }
        uint32_t intid = its_event_get(dev, ev);
        if (!intid)
            continue;
        n++;
        if (!o->p) {
            o->len += EVENT_SIZE;
            continue;
        }
        lpi_lock(d, intid);
        const struct lpi_irq *irq = &d->hot[intid]; /* mapped: its event is */
        uint8_t f = lpi_flags(irq), prio = irq->priority;
        uint16_t vcpu = irq->vcpu;
        lpi_unlock(d, intid);
        put32(o, ev);
        put32(o, intid);
        put16(o, lpi_cold(d, intid)->group);
        put16(o, vcpu == LPI_NO_VCPU ? NO_VCPU : vcpu);
        put8(o, prio);
        put8(o,
             ((f & LPI_F_ENABLED) ? EV_F_ENABLED : 0) | ((f & LPI_F_PENDING) ? EV_F_PENDING : 0));
        put16(o, 0);
    }
}

/* One ITS's record. devs: room for its devices (NULL when counting). */
static void put_its(struct out *o, struct vits_its *its, struct its_device **devs)
{
    uint32_t ncoll = 0, ndev = its->devs.count;
    for (uint32_t icid = 0; icid >> its->cfg.collection_id_bits == 0; icid++)
        ncoll += coll_saved(its, icid);
    if (!o->p) {
        o->len += ITS_SIZE + (size_t)ncoll * COLL_SIZE + (size_t)ndev * DEV_SIZE +
                  (size_t)its->nr_events * EVENT_SIZE;
        return;
    }
    const struct vits_its_config *c = &its->cfg;
    put64(o, c->base);
    put8(o, c->device_id_bits);
    put8(o, c->event_id_bits);
    put8(o, c->collection_id_bits);
    put8(o, c->pta);
    put8(o, c->iidr_revision);
    put8(o, (atomic_load(&its->enabled) ? ITS_F_ENABLED : 0) | (its->stalled ? ITS_F_STALLED : 0));
    put16(o, 0);
    put64(o, its->cbaser);
    put64(o, its->cwriter);
    put64(o, its->creadr);
    for (unsigned n = 0; n < 8; n++)
        put64(o, its->baser[n]);
    put64(o, its->abi_dev_baser == its->baser[0] ? its->abi_dev_hwm : 0);
    put32(o, ncoll);
    put32(o, ndev);
    put32(o, its->nr_events);
    put32(o, 0);
    for (uint32_t icid = 0; icid >> c->collection_id_bits == 0; icid++) {
        if (!coll_saved(its, icid))
            continue;
        uint32_t t = atomic_load_explicit(&its->coll[icid].target, memory_order_relaxed);
        put16(o, icid);
        put16(o, t ? t - 1 : NO_VCPU);
    }
    struct its_devarray *a = atomic_load_explicit(&its->devs.arr, memory_order_relaxed);
    uint32_t n = 0;
    for (uint32_t i = 0; a && i < a->cap && n < ndev; i++) {
        struct its_device *dev = atomic_load_explicit(&a->slots[i].dev, memory_order_relaxed);
        if (dev)
            devs[n++] = dev;
    }
    qsort(devs, n, sizeof(*devs), cmp_dev);
    for (uint32_t i = 0; i < n; i++) {
        struct its_device *dev = devs[i];
        put32(o, dev->devid);
        put8(o, dev->event_bits);
        put8(o, 0);
        put16(o, 0);
        put64(o, dev->itt_addr);
        put32(o, dev->nr_mapped);
        put32(o, 0);
        put_events(o, its->d, dev);
    }
}

/* The whole snapshot into o (counting only when o->p is NULL). */
static void put_domain(struct out *o, struct vits_domain *d, struct vits_its **list, unsigned n,
                       struct its_device **devs)
{
    if (o->p)
        memcpy(o->p, MAGIC, 8);
    o->len += 8;
    put32(o, VITS_SNAPSHOT_VERSION);
    put32(o, 0);
    put64(o, 0); /* length, filled in below */
    put32(o, d->cfg.nr_vcpus);
    put32(o, d->cfg.lpi_id_bits);
    put64(o, d->cfg.redist_base);
    put64(o, d->cfg.redist_stride);
    put32(o, n);
    put32(o, 0);
    for (uint32_t v = 0; v < d->cfg.nr_vcpus; v++) {
        const struct lpi_redist *rd = &d->rd[v];
        put64(o, rd->propbaser);
        put64(o, rd->pendbaser);
        put32(o, atomic_load(&rd->enabled) ? 1 : 0);
        put32(o, 0);
    }
    for (unsigned i = 0; i < n; i++)
        put_its(o, list[i], devs);
    if (o->p) {
        size_t total = o->len + CRC_SIZE;
        for (unsigned i = 0; i < 8; i++)
            o->p[16 + i] = (uint8_t)((uint64_t)total >> (8 * i));
        put32(o, crc32(o->p, o->len));
    } else {
        o->len += CRC_SIZE;
    }
}

int vits_domain_save_snapshot(struct vits_domain *d, void *buf, size_t size, size_t *len)
{
    if (!d || !len || (!buf && size))
        return -EINVAL;
    pthread_mutex_lock(&d->lock);
    struct vits_its *list[LPI_MAX_OWNERS];
    unsigned n = its_domain_list(d, list);
    struct out count = {NULL, 0};
    put_domain(&count, d, list, n, NULL);
    *len = count.len;
    int rc = 0;
    if (size < count.len) {
        rc = -ENOSPC;
    } else {
        uint32_t most = 0;
        for (unsigned i = 0; i < n; i++)
            most = list[i]->devs.count > most ? list[i]->devs.count : most;
        struct its_device **devs = lpi_alloc(d, sizeof(*devs) * (most ? most : 1));
        if (!devs) {
            rc = -ENOMEM;
        } else {
            struct out o = {buf, 0};
            put_domain(&o, d, list, n, devs);
            lpi_free(d, devs, sizeof(*devs) * (most ? most : 1));
        }
    }
    pthread_mutex_unlock(&d->lock);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Restore                                                              */
/* ------------------------------------------------------------------ */

struct in {
    const uint8_t *p;
    size_t len, off;
};

static uint64_t get(struct in *in, unsigned bytes)
{
    uint64_t v = 0;
    if (in->off + bytes > in->len) {
        in->off = in->len + 1; /* past the end: noticed by the caller */
        return 0;
    }
    for (unsigned i = 0; i < bytes; i++)
        v |= (uint64_t)in->p[in->off + i] << (8 * i);
    in->off += bytes;
    return v;
}

static uint8_t get8(struct in *in) { return (uint8_t)get(in, 1); }
static uint16_t get16(struct in *in) { return (uint16_t)get(in, 2); }
static uint32_t get32(struct in *in) { return (uint32_t)get(in, 4); }
static uint64_t get64(struct in *in) { return get(in, 8); }

/* What an ITS's record restores besides the stage. */
struct its_regs {
    uint8_t iidr_revision, flags;
    uint64_t cbaser, cwriter, creadr, baser[8], hwm;
};

struct snap {
    struct vits_domain *d;
    struct in in;
    struct vits_its *list[LPI_MAX_OWNERS];
    unsigned n;
    struct its_stage *st; /* n stages */
    struct its_regs *regs;
    struct lpi_redist *rd; /* nr_vcpus: propbaser, pendbaser, enabled */
    struct its_intid_set set;
};

#define BAD(s, ...)                                                                                \
    do {                                                                                           \
        LOG((s)->d, "restore snapshot: " __VA_ARGS__);                                             \
        return -EBADMSG;                                                                           \
    } while (0)

static int read_vcpus(struct snap *s)
{
    struct vits_domain *d = s->d;
    for (uint32_t v = 0; v < d->cfg.nr_vcpus; v++) {
        uint64_t prop = get64(&s->in), pend = get64(&s->in);
        uint32_t flags = get32(&s->in), res = get32(&s->in);
        if (prop != lpi_propbaser_sanitise(prop) || pend != lpi_pendbaser_sanitise(pend) ||
            flags > 1 || res)
            BAD(s,
                "vCPU %u: GICR_PROPBASER 0x%llx, GICR_PENDBASER 0x%llx or flags 0x%x "
                "are not values a redistributor holds",
                v, (unsigned long long)prop, (unsigned long long)pend, flags);
        s->rd[v].propbaser = prop;
        s->rd[v].pendbaser = pend;
        atomic_init(&s->rd[v].enabled, flags & 1);
    }
    return 0;
}

static int read_its_header(struct snap *s, struct vits_its *its, struct its_regs *r,
                           uint32_t counts[3])
{
    const struct vits_its_config *c = &its->cfg;
    uint64_t base = get64(&s->in);
    uint8_t geo[4];
    for (int i = 0; i < 4; i++)
        geo[i] = get8(&s->in);
    r->iidr_revision = get8(&s->in);
    r->flags = get8(&s->in);
    uint16_t res = get16(&s->in);
    r->cbaser = get64(&s->in);
    r->cwriter = get64(&s->in);
    r->creadr = get64(&s->in);
    for (unsigned n = 0; n < 8; n++)
        r->baser[n] = get64(&s->in);
    r->hwm = get64(&s->in);
    for (int i = 0; i < 3; i++)
        counts[i] = get32(&s->in);
    uint32_t res2 = get32(&s->in);
    if (s->in.off > s->in.len)
        BAD(s, "truncated ITS record");
    if (base != c->base) {
        LOG(s->d,
            "restore snapshot: it holds an ITS at 0x%llx where this domain has one at "
            "0x%llx",
            (unsigned long long)base, (unsigned long long)c->base);
        return -EINVAL;
    }
    if (geo[0] != c->device_id_bits || geo[1] != c->event_id_bits ||
        geo[2] != c->collection_id_bits || geo[3] != c->pta) {
        LOG(s->d,
            "restore snapshot: ITS at 0x%llx: saved with %u DeviceID, %u EventID, %u "
            "collection ID bits and PTA %u; this one has %u, %u, %u, %u",
            (unsigned long long)base, geo[0], geo[1], geo[2], geo[3], c->device_id_bits,
            c->event_id_bits, c->collection_id_bits, c->pta);
        return -EINVAL;
    }
    if ((r->flags & ITS_F_STALLED) && c->error_policy != VITS_ERRORS_STALL) {
        LOG(s->d, "restore snapshot: ITS at 0x%llx was stalled; this one does not stall on errors",
            (unsigned long long)base);
        return -EINVAL;
    }
    uint64_t qsize = (lpi_bits(r->cbaser, 7, 0) + 1) * 4096;
    if (res || res2 || r->iidr_revision > 15 || r->flags > 3 ||
        r->cbaser != its_cbaser_sanitise(r->cbaser) || (r->cwriter & ~OFFSET_MASK) ||
        (r->creadr & ~OFFSET_MASK) || r->cwriter >= qsize || r->creadr >= qsize)
        BAD(s, "ITS at 0x%llx: register values an ITS does not hold", (unsigned long long)base);
    for (unsigned n = 0; n < 8; n++)
        if (r->baser[n] != its_baser_sanitise(n, r->baser[n]))
            BAD(s, "ITS at 0x%llx: GITS_BASER%u 0x%llx is not a value it holds",
                (unsigned long long)base, n, (unsigned long long)r->baser[n]);
    return 0;
}

static int read_its(struct snap *s, struct vits_its *its, struct its_stage *st, struct its_regs *r)
{
    struct vits_domain *d = s->d;
    uint32_t counts[3];
    int rc = read_its_header(s, its, r, counts);
    if (rc)
        return rc;
    const struct vits_its_config *c = &its->cfg;
    uint32_t ncoll = counts[0], ndev = counts[1], nev = counts[2];
    /* Each record is bigger than a byte: counts beyond the snapshot's
     * length are caught before anything is allocated for them. */
    if (ncoll > s->in.len || ndev > s->in.len || nev > s->in.len)
        BAD(s, "ITS at 0x%llx: record counts beyond the snapshot", (unsigned long long)c->base);
    int prev = -1;
    for (uint32_t i = 0; i < ncoll; i++) {
        uint16_t icid = get16(&s->in), vcpu = get16(&s->in);
        if (s->in.off > s->in.len)
            BAD(s, "truncated collection records");
        if ((int)icid <= prev || icid >> c->collection_id_bits ||
            (vcpu != NO_VCPU && vcpu >= d->cfg.nr_vcpus))
            BAD(s, "ITS at 0x%llx: collection record %u (ICID %u, vCPU %u) out of order or range",
                (unsigned long long)c->base, i, icid, vcpu);
        prev = icid;
        rc = its_stage_coll(st, icid, vcpu == NO_VCPU ? LPI_NO_VCPU : vcpu);
        if (rc == -ENOSPC)
            LOG(d, "restore snapshot: ITS at 0x%llx: more mapped collections than its limit (%u)",
                (unsigned long long)c->base, c->max_collections);
        if (rc)
            return rc;
    }
    uint16_t dup;
    its_stage_colls_done(st, &dup); /* sorted already, no duplicate */
    int64_t prev_dev = -1;
    uint32_t total = 0;
    for (uint32_t i = 0; i < ndev; i++) {
        uint32_t devid = get32(&s->in);
        uint8_t bits = get8(&s->in);
        uint32_t res = get8(&s->in);
        res |= get16(&s->in);
        uint64_t itt = get64(&s->in);
        uint32_t count = get32(&s->in);
        res |= get32(&s->in);
        if (s->in.off > s->in.len)
            BAD(s, "truncated device records");
        if ((int64_t)devid <= prev_dev || (c->device_id_bits < 32 && devid >> c->device_id_bits) ||
            bits < 1 || bits > c->event_id_bits || (itt & 0xff) || itt >> 52 || res ||
            count > (1u << bits))
            BAD(s, "ITS at 0x%llx: device record %u (DeviceID 0x%x) out of order or range",
                (unsigned long long)c->base, i, devid);
        prev_dev = devid;
        rc = its_stage_dev(st, devid, bits, itt);
        if (rc == -ENOSPC)
            LOG(d, "restore snapshot: ITS at 0x%llx: more devices than its limit (%u)",
                (unsigned long long)c->base, c->max_devices);
        if (rc)
            return rc;
        int64_t prev_ev = -1;
        for (uint32_t k = 0; k < count; k++) {
            struct stg_event e;
            e.ev = get32(&s->in);
            e.intid = get32(&s->in);
            e.icid = get16(&s->in);
            e.vcpu = get16(&s->in);
            uint8_t prio = get8(&s->in), f = get8(&s->in);
            uint16_t res3 = get16(&s->in);
            if (s->in.off > s->in.len)
                BAD(s, "truncated event records");
            const struct stg_coll *coll = its_stage_find_coll(st, e.icid);
            if ((int64_t)e.ev <= prev_ev || e.ev >> bits || !lpi_intid_valid(d, e.intid) || !coll ||
                (prio & 3) || f > 3 || res3 ||
                (coll->vcpu == LPI_NO_VCPU ? e.vcpu != NO_VCPU : e.vcpu >= d->cfg.nr_vcpus))
                BAD(s,
                    "ITS at 0x%llx: device 0x%x: event record %u (EventID %u, pINTID %u, "
                    "ICID %u, vCPU %u) out of order, out of range or inconsistent",
                    (unsigned long long)c->base, devid, k, e.ev, e.intid, e.icid, e.vcpu);
            if (its_intid_set_add(&s->set, e.intid))
                BAD(s, "pINTID %u is mapped twice", e.intid);
            prev_ev = e.ev;
            if (e.vcpu == NO_VCPU)
                e.vcpu = LPI_NO_VCPU;
            e.prop = (uint8_t)(prio | ((f & EV_F_ENABLED) ? 1 : 0));
            e.pending = (f & EV_F_PENDING) ? 1 : 0;
            rc = its_stage_event(st, &e);
            if (rc == -ENOSPC)
                LOG(d, "restore snapshot: ITS at 0x%llx: more events than its limit (%u)",
                    (unsigned long long)c->base, c->max_events);
            if (rc)
                return rc;
        }
        total += count;
    }
    if (total != nev)
        BAD(s, "ITS at 0x%llx: %u events in its devices, %u in its header",
            (unsigned long long)c->base, total, nev);
    return 0;
}

static int read_snapshot(struct snap *s)
{
    struct vits_domain *d = s->d;
    struct in *in = &s->in;
    if (in->len < HEADER_SIZE + CRC_SIZE)
        BAD(s, "truncated: %zu bytes", in->len);
    if (memcmp(in->p, MAGIC, 8))
        BAD(s, "not a vits snapshot");
    in->off = 8;
    uint32_t version = get32(in), flags = get32(in);
    uint64_t length = get64(in);
    /* The magic, version, flags and length, and the CRC-32 at the end,
     * keep their places in every version: a snapshot is first checked
     * whole, then its version. */
    if (length > in->len || length < HEADER_SIZE + CRC_SIZE)
        BAD(s, "truncated or bad length: %llu bytes announced, %zu given",
            (unsigned long long)length, in->len);
    in->len = (size_t)length;
    uint32_t crc = (uint32_t)in->p[in->len - 4] | (uint32_t)in->p[in->len - 3] << 8 |
                   (uint32_t)in->p[in->len - 2] << 16 | (uint32_t)in->p[in->len - 1] << 24;
    if (crc != crc32(in->p, in->len - CRC_SIZE))
        BAD(s, "checksum mismatch: the snapshot is corrupted");
    in->len -= CRC_SIZE;
    if (version != VITS_SNAPSHOT_VERSION) {
        LOG(d, "restore snapshot: format version %u; this library reads version %u", version,
            VITS_SNAPSHOT_VERSION);
        return -EOPNOTSUPP;
    }
    if (flags)
        BAD(s, "unknown flags 0x%x", flags);
    uint32_t nv = get32(in), bits = get32(in);
    uint64_t rbase = get64(in), rstride = get64(in);
    uint32_t nits = get32(in), res = get32(in);
    if (res)
        BAD(s, "reserved header field set");
    if (nv != d->cfg.nr_vcpus || bits != d->cfg.lpi_id_bits || rbase != d->cfg.redist_base ||
        rstride != d->cfg.redist_stride || nits != s->n) {
        LOG(d,
            "restore snapshot: saved from a domain of %u vCPUs, %u LPI bits, redistributors at "
            "0x%llx + n * 0x%llx and %u ITS(es); this one has %u, %u, 0x%llx, 0x%llx, %u",
            nv, bits, (unsigned long long)rbase, (unsigned long long)rstride, nits, d->cfg.nr_vcpus,
            d->cfg.lpi_id_bits, (unsigned long long)d->cfg.redist_base,
            (unsigned long long)d->cfg.redist_stride, s->n);
        return -EINVAL;
    }
    int rc = read_vcpus(s);
    if (rc)
        return rc;
    if (in->off > in->len)
        BAD(s, "truncated vCPU records");
    for (unsigned i = 0; i < s->n; i++) {
        rc = read_its(s, s->list[i], &s->st[i], &s->regs[i]);
        if (rc)
            return rc;
    }
    if (in->off != in->len)
        BAD(s, "%zu bytes left after the last record", in->len - in->off);
    return 0;
}

/* Replace the domain's state by the one staged. Cannot fail. */
static void commit(struct snap *s)
{
    struct vits_domain *d = s->d;
    for (unsigned i = 0; i < s->n; i++)
        its_stage_drop_live(s->list[i]);
    for (uint32_t v = 0; v < d->cfg.nr_vcpus; v++) {
        d->rd[v].propbaser = s->rd[v].propbaser;
        d->rd[v].pendbaser = s->rd[v].pendbaser;
        atomic_store(&d->rd[v].enabled, atomic_load(&s->rd[v].enabled));
    }
    for (unsigned i = 0; i < s->n; i++) {
        struct vits_its *its = s->list[i];
        const struct its_regs *r = &s->regs[i];
        its_stage_install(&s->st[i]);
        its->cfg.iidr_revision = r->iidr_revision;
        its->cbaser = r->cbaser;
        its->cwriter = r->cwriter;
        its->creadr = r->creadr;
        its->stalled = r->flags & ITS_F_STALLED;
        memcpy(its->baser, r->baser, sizeof(its->baser));
        its->abi_dev_baser = r->baser[0];
        its->abi_dev_hwm = r->hwm;
        atomic_store(&its->enabled, (r->flags & ITS_F_ENABLED) != 0);
    }
}

int vits_domain_restore_snapshot(struct vits_domain *d, const void *buf, size_t size)
{
    if (!d || !buf)
        return -EINVAL;
    pthread_mutex_lock(&d->lock);
    struct snap *s = lpi_alloc(d, sizeof(*s));
    int rc = -ENOMEM;
    if (s) {
        s->d = d;
        s->in = (struct in){buf, size, 0};
        s->n = its_domain_list(d, s->list);
        s->st = lpi_alloc(d, sizeof(*s->st) * (s->n ? s->n : 1));
        s->regs = lpi_alloc(d, sizeof(*s->regs) * (s->n ? s->n : 1));
        s->rd = lpi_alloc(d, sizeof(*s->rd) * d->cfg.nr_vcpus);
        for (unsigned i = 0; s->st && i < s->n; i++)
            its_stage_init(&s->st[i], s->list[i]);
        if (s->st && s->regs && s->rd && !its_intid_set_init(d, &s->set))
            rc = read_snapshot(s);
        for (unsigned i = 0; !rc && i < s->n; i++)
            rc = its_stage_prepare(&s->st[i]);
        if (!rc) {
            commit(s);
            lpi_log(d, VITS_LOG_INFO, "snapshot restored: %u vCPUs, %u ITS(es)", d->cfg.nr_vcpus,
                    s->n);
        } else if (rc == -ENOMEM) {
            LOG(d, "restore snapshot: out of memory; the domain is left as it was");
        }
        for (unsigned i = 0; s->st && i < s->n; i++)
            its_stage_free(&s->st[i]);
        its_intid_set_free(d, &s->set);
        lpi_free(d, s->st, sizeof(*s->st) * (s->n ? s->n : 1));
        lpi_free(d, s->regs, sizeof(*s->regs) * (s->n ? s->n : 1));
        lpi_free(d, s->rd, sizeof(*s->rd) * d->cfg.nr_vcpus);
        lpi_free(d, s, sizeof(*s));
    }
    lpi_reclaim(d);
    pthread_mutex_unlock(&d->lock);
    return rc;
}
