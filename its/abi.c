/* SPDX-License-Identifier: MIT */
/*
 * KVM's ITS table ABI, revision 0: the ITS's translation state written
 * into the guest's own tables, so that a migration stream made of guest
 * memory and registers carries it (KVM_DEV_ARM_ITS_SAVE_TABLES and
 * RESTORE_TABLES; QEMU drives exactly this). Entries are 8 bytes,
 * little-endian:
 *
 *   device table entry (GITS_BASER0, indexed by DeviceID, flat or
 *   two-level; a level-1 entry is [63] Valid, [51:12] the level-2 page):
 *     [63] Valid  [62:49] Next  [48:5] ITT address [51:8]  [4:0] Size
 *   ITT entry (the device's ITT, indexed by EventID):
 *     [63:48] Next  [47:16] pINTID (0: no entry)  [15:0] ICID
 *   collection table entry (GITS_BASER1, one after another from the
 *   start, the first entry without Valid ends the list):
 *     [63] Valid  [51:16] RDbase (a vCPU number; 0xffffffff: the
 *     collection is referenced by events but not mapped)  [15:0] ICID
 *
 * Next is the ID distance to the next valid entry, 0 for the last; a
 * distance beyond the field's maximum is written as the maximum, and the
 * entry it lands on is then read as KVM reads it: an invalid entry is
 * stepped over one ID at a time, as are the entries before the first
 * valid one. A two-level collection table is filled in the order of its
 * valid entries (KVM's collection table is always flat: the same thing).
 *
 * Save writes every mapped device's whole ITT (zero where an event is
 * not mapped) and the device table from ID 0 up to the last device, and
 * further up to the highest DeviceID an earlier save wrote or a restore
 * read in that table (abi_dev_hwm): so an unmapped device or a discarded
 * event leaves no stale valid entry that a later restore would bring
 * back (the bug KVM fixed in 2024), whatever happened between saves.
 * Entries after the last valid one are never read.
 *
 * Restore reads the collection table, then the device table and each
 * ITT, following the Next chains, into a stage (its/stage.c); it rejects
 * anything malformed with a logged reason before changing anything:
 * a Next that runs past the end of its table, or that names an entry
 * that is not valid although it is not the capped maximum, two level-1
 * entries leading the walk into one level-2 page twice (a loop), a
 * DeviceID beyond Devbits, an ITT wider than the ITS's EventID bits,
 * ITTs that overlap, a pINTID that is no LPI of the domain or is mapped
 * twice or by another ITS, a collection that is not in the collection
 * table or beyond the ITS's collection ID bits or the table, an RDbase
 * that names no vCPU; and unreadable memory (an ITT outside guest memory)
 * with the read's errno. Each LPI's property byte and pending bit are
 * read from its target vCPU's tables, as KVM does when it adds an LPI.
 *
 * Writer (the public calls take the domain lock).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "migrate.h"

/* ---- entry fields, one line each ---- */
#define ENTRY_VALID (1ull << 63)
#define DTE_NEXT_MAX 0x3fffu
#define ITE_NEXT_MAX 0xffffu
#define CTE_UNMAPPED 0xffffffffull

static inline bool dte_valid(uint64_t e) { return e >> 63; }
static inline uint32_t dte_next(uint64_t e) { return (uint32_t)lpi_bits(e, 62, 49); }
static inline uint64_t dte_itt(uint64_t e) { return lpi_bits(e, 48, 5) << 8; }
static inline uint8_t dte_bits(uint64_t e) { return (uint8_t)(lpi_bits(e, 4, 0) + 1); }
static inline bool ite_valid(uint64_t e) { return lpi_bits(e, 47, 16) != 0; }
static inline uint32_t ite_next(uint64_t e) { return (uint32_t)lpi_bits(e, 63, 48); }
static inline uint32_t ite_intid(uint64_t e) { return (uint32_t)lpi_bits(e, 47, 16); }
static inline uint16_t ite_icid(uint64_t e) { return (uint16_t)lpi_bits(e, 15, 0); }
static inline bool cte_valid(uint64_t e) { return e >> 63; }
static inline uint64_t cte_rdbase(uint64_t e) { return lpi_bits(e, 51, 16); }
static inline uint16_t cte_icid(uint64_t e) { return (uint16_t)lpi_bits(e, 15, 0); }

static uint64_t dte_make(uint32_t next, uint64_t itt, uint8_t bits)
{
    return ENTRY_VALID | (uint64_t)next << 49 | (itt >> 8) << 5 | (uint64_t)(bits - 1);
}

static uint64_t ite_make(uint32_t next, uint32_t intid, uint16_t icid)
{
    return (uint64_t)next << 48 | (uint64_t)intid << 16 | icid;
}

static uint64_t cte_make(uint64_t rdbase, uint16_t icid)
{
    return ENTRY_VALID | rdbase << 16 | icid;
}

#define LOG(d, ...) lpi_log((d), VITS_LOG_ERROR, __VA_ARGS__)

/* ------------------------------------------------------------------ */
/* Reading a table: entries by ID, a block at a time                    */
/* ------------------------------------------------------------------ */

#define BLK 4096u

struct tcur {
    struct vits_domain *d;
    struct its_table_geo g;  /* flat, or two-level */
    uint64_t l1_idx, l1_val; /* the last level-1 entry read */
    bool l1_have;
    uint64_t blk_gpa; /* cached block of entries */
    uint32_t blk_len; /* 0: none */
    uint8_t blk[BLK];
};

static void tcur_init(struct tcur *t, struct vits_domain *d, const struct its_table_geo *g)
{
    t->d = d;
    t->g = *g;
    t->l1_have = false;
    t->blk_len = 0;
}

/* A flat table of n entries at pa (an ITT). */
static void tcur_init_flat(struct tcur *t, struct vits_domain *d, uint64_t pa, uint64_t n)
{
    struct its_table_geo g = {
        .valid = true, .pa = pa, .bytes = n * 8, .page_size = n * 8, .per_page = n, .ids = n};
    tcur_init(t, d, &g);
}

/*
 * Where entry id lies: 0 with its address and the region that holds it
 * (the flat table, or its level-2 page); 1 when it lies under an invalid
 * level-1 entry; or the errno of an unreadable level-1 entry.
 */
static int tcur_locate(struct tcur *t, uint64_t id, uint64_t *gpa, uint64_t *start, uint64_t *end)
{
    if (!t->g.indirect) {
        *start = t->g.pa;
        *end = t->g.pa + t->g.bytes;
        *gpa = t->g.pa + id * 8;
        return 0;
    }
    uint64_t l1 = id / t->g.per_page;
    if (!t->l1_have || t->l1_idx != l1) {
        uint8_t b[8];
        int rc = lpi_read_guest(t->d, t->g.pa + l1 * 8, b, sizeof(b));
        if (rc)
            return rc;
        t->l1_idx = l1;
        t->l1_val = lpi_le64(b);
        t->l1_have = true;
    }
    if (!(t->l1_val & ENTRY_VALID))
        return 1;
    *start = its_l2_page(t->l1_val, t->g.page_size);
    *end = *start + t->g.page_size;
    *gpa = *start + (id % t->g.per_page) * 8;
    return 0;
}

/* Entry id: 0 and *val; 1 under an invalid level-1 entry; or an errno. */
static int tcur_read(struct tcur *t, uint64_t id, uint64_t *val)
{
    uint64_t gpa, start, end;
    int rc = tcur_locate(t, id, &gpa, &start, &end);
    if (rc)
        return rc;
    if (!t->blk_len || gpa < t->blk_gpa || gpa + 8 > t->blk_gpa + t->blk_len) {
        uint64_t bs = gpa & ~(uint64_t)(BLK - 1), be = bs + BLK;
        bs = bs < start ? start : bs;
        be = be > end ? end : be;
        t->blk_len = 0;
        rc = lpi_read_guest(t->d, bs, t->blk, (size_t)(be - bs));
        if (rc)
            return rc;
        t->blk_gpa = bs;
        t->blk_len = (uint32_t)(be - bs);
    }
    *val = lpi_le64(t->blk + (gpa - t->blk_gpa));
    return 0;
}

/* ------------------------------------------------------------------ */
/* Writing: contiguous runs of entries, one write_mem per run            */
/* ------------------------------------------------------------------ */

#define WBUF 65536u

struct wbuf {
    struct vits_domain *d;
    uint64_t gpa;
    uint32_t len;
    uint8_t *buf; /* WBUF bytes */
};

static int wb_flush(struct wbuf *w)
{
    if (!w->len)
        return 0;
    int rc = lpi_write_guest(w->d, w->gpa, w->buf, w->len);
    if (rc)
        LOG(w->d, "save tables: write of %u bytes at 0x%llx failed (%d)", w->len,
            (unsigned long long)w->gpa, rc);
    w->len = 0;
    return rc;
}

static int wb_put(struct wbuf *w, uint64_t gpa, uint64_t val)
{
    if (w->len && (gpa != w->gpa + w->len || w->len == WBUF)) {
        int rc = wb_flush(w);
        if (rc)
            return rc;
    }
    if (!w->len)
        w->gpa = gpa;
    lpi_put_le64(w->buf + w->len, val);
    w->len += 8;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Save                                                                 */
/* ------------------------------------------------------------------ */

/* A guest-memory range the save writes, for the overlap check. */
struct region {
    uint64_t start, end;
    uint32_t kind; /* enum below */
    uint64_t id;   /* DeviceID, level-1 index */
};

enum { R_DEVTAB, R_L2PAGE, R_COLLTAB, R_ITT };

static void region_name(const struct region *r, char *buf, size_t n)
{
    switch (r->kind) {
    case R_DEVTAB:
        snprintf(buf, n, "device table");
        break;
    case R_L2PAGE:
        snprintf(buf, n, "device table level-2 page %" PRIu64, r->id);
        break;
    case R_COLLTAB:
        snprintf(buf, n, "collection table");
        break;
    default:
        snprintf(buf, n, "ITT of device 0x%" PRIx64, r->id);
        break;
    }
}

static int cmp_region(const void *a, const void *b)
{
    const struct region *x = a, *y = b;
    return (x->start > y->start) - (x->start < y->start);
}

static int cmp_dev(const void *a, const void *b)
{
    const struct its_device *x = *(struct its_device *const *)a;
    const struct its_device *y = *(struct its_device *const *)b;
    return (x->devid > y->devid) - (x->devid < y->devid);
}

struct save {
    struct vits_its *its;
    struct vits_domain *d;
    struct its_table_geo g0, g1;
    struct its_device **devs;
    uint32_t nr_devs, cap_devs;
    uint64_t hi;  /* device table IDs written: [0, hi) */
    uint64_t *l1; /* two-level: the level-1 entries of pages [0, nr_l1) */
    uint64_t nr_l1;
    uint32_t *evs; /* mapped events of one device, in order */
    uint32_t cap_evs;
    struct region *regions;
    size_t nr_regions, cap_regions;
    struct wbuf wb;
};

/* The devices, sorted by DeviceID. */
static int save_devices(struct save *s)
{
    struct vits_its *its = s->its;
    s->nr_devs = its->devs.count;
    if (!s->nr_devs)
        return 0;
    s->devs = lpi_alloc(s->d, sizeof(*s->devs) * s->nr_devs);
    if (!s->devs)
        return -ENOMEM;
    s->cap_devs = s->nr_devs;
    struct its_devarray *a = atomic_load_explicit(&its->devs.arr, memory_order_relaxed);
    uint32_t n = 0;
    for (uint32_t i = 0; a && i < a->cap && n < s->nr_devs; i++) {
        struct its_device *dev = atomic_load_explicit(&a->slots[i].dev, memory_order_relaxed);
        if (dev)
            s->devs[n++] = dev;
    }
    s->nr_devs = n;
    qsort(s->devs, n, sizeof(*s->devs), cmp_dev);
    return 0;
}

/* Check that the state fits the guest's tables, and gather the level-1
 * entries of a two-level device table and the ranges to be written. */
static int save_check(struct save *s)
{
    struct vits_domain *d = s->d;
    struct its_table_geo *g0 = &s->g0;
    if (s->nr_devs && !g0->valid) {
        LOG(d, "save tables: %u devices mapped, but the device table (GITS_BASER0) is not valid",
            s->nr_devs);
        return -ERANGE;
    }
    uint64_t hwm = s->its->abi_dev_baser == s->its->baser[0] ? s->its->abi_dev_hwm : 0;
    s->hi = s->nr_devs ? (uint64_t)s->devs[s->nr_devs - 1]->devid + 1 : 0;
    if (hwm > s->hi)
        s->hi = hwm;
    if (s->hi > g0->ids)
        s->hi = g0->ids;
    size_t max_regions = s->nr_devs + 2;
    if (g0->indirect && s->hi) {
        s->nr_l1 = (s->hi - 1) / g0->per_page + 1;
        s->l1 = lpi_alloc(d, sizeof(*s->l1) * s->nr_l1);
        if (!s->l1)
            return -ENOMEM;
        for (uint64_t i = 0; i < s->nr_l1; i += WBUF / 8) {
            uint64_t n = s->nr_l1 - i < WBUF / 8 ? s->nr_l1 - i : WBUF / 8;
            int rc = lpi_read_guest(d, g0->pa + i * 8, s->wb.buf, (size_t)n * 8);
            if (rc) {
                LOG(d, "save tables: device table level-1 entries unreadable at 0x%llx (%d)",
                    (unsigned long long)(g0->pa + i * 8), rc);
                return rc;
            }
            for (uint64_t j = 0; j < n; j++)
                s->l1[i + j] = lpi_le64(s->wb.buf + 8 * j);
        }
        max_regions += s->nr_l1;
    }
    s->regions = lpi_alloc(d, sizeof(*s->regions) * max_regions);
    if (!s->regions)
        return -ENOMEM;
    s->cap_regions = max_regions;
    struct region *r = s->regions;
    size_t n = 0;
    if (g0->valid)
        r[n++] = (struct region){g0->pa, g0->pa + g0->bytes, R_DEVTAB, 0};
    if (s->g1.valid)
        r[n++] = (struct region){s->g1.pa, s->g1.pa + s->g1.bytes, R_COLLTAB, 0};
    for (uint64_t i = 0; i < s->nr_l1; i++)
        if (s->l1[i] & ENTRY_VALID) {
            uint64_t page = its_l2_page(s->l1[i], g0->page_size);
            r[n++] = (struct region){page, page + g0->page_size, R_L2PAGE, i};
        }
    for (uint32_t i = 0; i < s->nr_devs; i++) {
        const struct its_device *dev = s->devs[i];
        if (dev->devid >= g0->ids) {
            LOG(d, "save tables: device 0x%x is beyond the device table (%llu entries)", dev->devid,
                (unsigned long long)g0->ids);
            return -ERANGE;
        }
        if (g0->indirect && !(s->l1[dev->devid / g0->per_page] & ENTRY_VALID)) {
            LOG(d,
                "save tables: device 0x%x lies under an invalid level-1 entry of the "
                "device table",
                dev->devid);
            return -ERANGE;
        }
        r[n++] = (struct region){dev->itt_addr, dev->itt_addr + (8ull << dev->event_bits), R_ITT,
                                 dev->devid};
    }
    s->nr_regions = n;
    qsort(r, n, sizeof(*r), cmp_region);
    for (size_t i = 1; i < n; i++)
        if (r[i].start < r[i - 1].end) {
            char a[64], b[64];
            region_name(&r[i - 1], a, sizeof(a));
            region_name(&r[i], b, sizeof(b));
            LOG(d, "save tables: the %s (0x%llx) and the %s (0x%llx) overlap", a,
                (unsigned long long)r[i - 1].start, b, (unsigned long long)r[i].start);
            return -ERANGE;
        }
    return 0;
}

/* One device's whole ITT: its mapped events, zero elsewhere. */
static int save_itt(struct save *s, struct its_device *dev)
{
    uint32_t events = 1u << dev->event_bits, n = 0;
    for (uint32_t ev = 0; ev < events && n < dev->nr_mapped; ev++) {
        if (!dev->itt &&
            !atomic_load_explicit(&dev->dir[ev >> ITS_EV_SHIFT], memory_order_relaxed)) {
            ev |= ITS_EV_CHUNK - 1; /* an absent chunk */
            continue;
        }
        if (its_event_get(dev, ev))
            s->evs[n++] = ev;
    }
    uint32_t k = 0;
    for (uint32_t ev = 0; ev < events; ev++) {
        uint64_t e = 0;
        if (k < n && s->evs[k] == ev) {
            uint32_t intid = its_event_get(dev, ev);
            uint32_t next = k + 1 < n ? s->evs[k + 1] - ev : 0;
            e = ite_make(next, intid, lpi_cold(s->d, intid)->group);
            k++;
        }
        int rc = wb_put(&s->wb, dev->itt_addr + 8ull * ev, e);
        if (rc)
            return rc;
    }
    return wb_flush(&s->wb);
}

/* The device table over IDs [0, hi): the devices, zero elsewhere. */
static int save_device_table(struct save *s)
{
    const struct its_table_geo *g0 = &s->g0;
    uint32_t k = 0;
    for (uint64_t id = 0; id < s->hi; id++) {
        uint64_t gpa;
        if (g0->indirect) {
            uint64_t l1 = s->l1[id / g0->per_page];
            if (!(l1 & ENTRY_VALID)) {
                id = (id / g0->per_page + 1) * g0->per_page - 1; /* no device there */
                continue;
            }
            gpa = its_l2_page(l1, g0->page_size) + (id % g0->per_page) * 8;
        } else {
            gpa = g0->pa + id * 8;
        }
        uint64_t e = 0;
        if (k < s->nr_devs && s->devs[k]->devid == id) {
            const struct its_device *dev = s->devs[k];
            uint64_t dist = k + 1 < s->nr_devs ? s->devs[k + 1]->devid - id : 0;
            e = dte_make(dist > DTE_NEXT_MAX ? DTE_NEXT_MAX : (uint32_t)dist, dev->itt_addr,
                         dev->event_bits);
            k++;
        }
        int rc = wb_put(&s->wb, gpa, e);
        if (rc)
            return rc;
    }
    return wb_flush(&s->wb);
}

/* The collections to save: mapped ones, and unmapped ones that events
 * still name (KVM saves those with RDbase 0xffffffff). */
static bool coll_saved(const struct vits_its *its, uint32_t icid)
{
    return atomic_load_explicit(&its->coll[icid].target, memory_order_relaxed) ||
           its->coll[icid].lpis;
}

/* Address of the next entry of the collection table at or after *id, its
 * list order; 1 when the table has no more; or an errno. */
static int coll_slot(struct tcur *t, uint64_t *id, uint64_t *gpa)
{
    while (*id < t->g.ids) {
        uint64_t start, end;
        int rc = tcur_locate(t, *id, gpa, &start, &end);
        if (rc < 0)
            return rc;
        if (rc == 0)
            return 0;
        *id = (*id / t->g.per_page + 1) * t->g.per_page;
    }
    return 1;
}

static int save_collections(struct save *s, struct tcur *t)
{
    struct vits_its *its = s->its;
    uint32_t count = 0;
    for (uint32_t icid = 0; icid >> its->cfg.collection_id_bits == 0; icid++)
        count += coll_saved(its, icid);
    if (!count && !s->g1.valid)
        return 0;
    tcur_init(t, s->d, &s->g1);
    /* First make sure that they fit, so that nothing is written if not. */
    uint64_t id = 0, gpa;
    uint32_t slots = 0;
    int rc = 0;
    while (slots < count && (rc = coll_slot(t, &id, &gpa)) == 0) {
        slots++;
        id++;
    }
    if (rc < 0) {
        LOG(s->d, "save tables: collection table level-1 entry unreadable (%d)", rc);
        return rc;
    }
    if (slots < count) {
        LOG(s->d, "save tables: %u collections do not fit the collection table (%u entries)", count,
            slots);
        return -ERANGE;
    }
    id = 0;
    for (uint32_t icid = 0; icid >> its->cfg.collection_id_bits == 0; icid++) {
        if (!coll_saved(its, icid))
            continue;
        uint32_t target = atomic_load_explicit(&its->coll[icid].target, memory_order_relaxed);
        coll_slot(t, &id, &gpa); /* there is one: counted above */
        rc = wb_put(&s->wb, gpa, cte_make(target ? target - 1 : CTE_UNMAPPED, (uint16_t)icid));
        if (rc)
            return rc;
        id++;
    }
    /* An entry without Valid ends the list, if there is room for one. */
    rc = coll_slot(t, &id, &gpa);
    if (rc < 0)
        return rc;
    if (rc == 0 && (rc = wb_put(&s->wb, gpa, 0)) != 0)
        return rc;
    return wb_flush(&s->wb);
}

/*
 * After the pending tables were written: an LPI that MOVALL moved away
 * from its collection's vCPU comes back to that vCPU on restore (the
 * ABI keeps collections, not targets, as KVM's does), and its pending
 * state is read from that vCPU's table: put its bit there too.
 */
static int save_moved_pending(struct save *s)
{
    struct vits_domain *d = s->d;
    int first = 0;
    for (uint32_t i = 0; i < s->nr_devs; i++) {
        struct its_device *dev = s->devs[i];
        uint32_t events = 1u << dev->event_bits;
        for (uint32_t ev = 0; ev < events; ev++) {
            if (!dev->itt &&
                !atomic_load_explicit(&dev->dir[ev >> ITS_EV_SHIFT], memory_order_relaxed)) {
                ev |= ITS_EV_CHUNK - 1;
                continue;
            }
            uint32_t intid = its_event_get(dev, ev);
            if (!intid)
                continue;
            uint32_t t = atomic_load_explicit(&s->its->coll[lpi_cold(d, intid)->group].target,
                                              memory_order_relaxed);
            lpi_lock(d, intid);
            const struct lpi_irq *irq = &d->hot[intid]; /* mapped: its event is */
            bool moved = t && irq->vcpu != t - 1;
            bool pending = lpi_flags(irq) & LPI_F_PENDING;
            lpi_unlock(d, intid);
            if (moved) {
                int rc = lpi_pending_bit_store(d, (uint16_t)(t - 1), intid, pending);
                if (rc && !first)
                    first = rc;
            }
        }
    }
    return first;
}

static int save_tables(struct vits_its *its, struct save *s, struct tcur *t)
{
    struct vits_domain *d = its->d;
    its_table_geo(its->baser[0], &s->g0);
    its_table_geo(its->baser[1], &s->g1);
    int rc = save_devices(s);
    if (!rc)
        rc = save_check(s);
    if (rc)
        return rc;
    uint32_t most = 0;
    for (uint32_t i = 0; i < s->nr_devs; i++)
        most = s->devs[i]->nr_mapped > most ? s->devs[i]->nr_mapped : most;
    s->cap_evs = most ? most : 1;
    s->evs = lpi_alloc(d, sizeof(*s->evs) * s->cap_evs);
    if (!s->evs)
        return -ENOMEM;
    /* Nothing is written before everything is known to fit. */
    rc = save_collections(s, t);
    /* While the device table is written, entries in [0, hi) may be valid
     * (hi covers the old mark for this table). */
    its->abi_dev_baser = its->baser[0];
    its->abi_dev_hwm = s->hi;
    for (uint32_t i = 0; !rc && i < s->nr_devs; i++)
        rc = save_itt(s, s->devs[i]);
    if (!rc)
        rc = save_device_table(s);
    if (rc)
        return rc;
    its->abi_dev_hwm = s->nr_devs ? (uint64_t)s->devs[s->nr_devs - 1]->devid + 1 : 0;
    /* The pending tables: every LPI's bit in its target vCPU's table. */
    for (uint32_t v = 0; v < d->cfg.nr_vcpus; v++) {
        int r = lpi_store_pending(d, (uint16_t)v);
        if (r && !rc)
            rc = r;
    }
    int r = save_moved_pending(s);
    return rc ? rc : r;
}

int vits_its_save_tables(struct vits_its *its)
{
    if (!its)
        return -EINVAL;
    struct vits_domain *d = its->d;
    pthread_mutex_lock(&d->lock);
    int rc;
    struct save s = {.its = its, .d = d, .wb = {.d = d}};
    struct tcur *t = lpi_alloc(d, sizeof(*t));
    s.wb.buf = lpi_alloc(d, WBUF);
    if (its->cfg.iidr_revision != VITS_ITS_ABI_REV0) {
        LOG(d, "save tables: GITS_IIDR revision %u names no table ABI", its->cfg.iidr_revision);
        rc = -EOPNOTSUPP;
    } else if (!t || !s.wb.buf) {
        rc = -ENOMEM;
    } else {
        rc = save_tables(its, &s, t);
    }
    lpi_free(d, s.devs, sizeof(*s.devs) * s.cap_devs);
    lpi_free(d, s.l1, sizeof(*s.l1) * s.nr_l1);
    lpi_free(d, s.regions, sizeof(*s.regions) * s.cap_regions);
    lpi_free(d, s.evs, sizeof(*s.evs) * s.cap_evs);
    lpi_free(d, s.wb.buf, WBUF);
    lpi_free(d, t, sizeof(*t));
    pthread_mutex_unlock(&d->lock);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Restore                                                              */
/* ------------------------------------------------------------------ */

/* A level-2 page of the device table that held valid entries, and the
 * level-1 entry that led there. */
struct seen_page {
    uint64_t page, l1;
};

struct restore {
    struct vits_its *its;
    struct vits_domain *d;
    struct its_stage st;
    struct its_intid_set set;
    struct lpi_pend_cache pend;
    struct tcur dt, itt;
    struct its_table_geo g0;
    struct seen_page *pages; /* sorted by page */
    uint32_t nr_pages, cap_pages;
    uint64_t cur_l1; /* level-1 index of the last device seen (+1; 0: none) */
    uint32_t devid;  /* the device whose ITT is being read */
};

/*
 * Walk a table the way the ABI lays it out: from ID 0, entries that are
 * not valid one at a time (or a whole level-2 page under an invalid
 * level-1 entry), valid ones by their Next; stepping stops at limit (IDs
 * that may hold entries), a Next of 0 ends the walk. visit() gets every
 * valid entry.
 */
struct walk {
    struct tcur *t;
    uint64_t limit;
    uint32_t next_max;
    bool (*valid)(uint64_t e);
    uint32_t (*next)(uint64_t e);
    int (*visit)(struct restore *r, uint64_t id, uint64_t e);
    const char *what; /* "the device table", "the ITT of device 0x12" */
};

static int walk(struct restore *r, const struct walk *w)
{
    struct tcur *t = w->t;
    uint64_t id = 0, from = 0;
    bool expect = false; /* a Next below its maximum landed here */
    while (id < t->g.ids) {
        uint64_t e;
        int rc = tcur_read(t, id, &e);
        if (rc < 0) {
            LOG(r->d, "restore tables: %s unreadable at entry %llu (%d)", w->what,
                (unsigned long long)id, rc);
            return rc;
        }
        if (rc == 1 || !w->valid(e)) {
            if (expect) {
                LOG(r->d,
                    "restore tables: in %s, the Next of entry %llu names entry %llu, which "
                    "is not valid",
                    w->what, (unsigned long long)from, (unsigned long long)id);
                return -EINVAL;
            }
            id = rc == 1 ? (id / t->g.per_page + 1) * t->g.per_page : id + 1;
            if (id >= w->limit)
                break;
            continue;
        }
        if (id >= w->limit) {
            LOG(r->d, "restore tables: in %s, entry %llu is beyond the ITS's ID range (%llu)",
                w->what, (unsigned long long)id, (unsigned long long)w->limit);
            return -EINVAL;
        }
        rc = w->visit(r, id, e);
        if (rc)
            return rc;
        uint32_t n = w->next(e);
        if (!n)
            return 0;
        if (id + n >= t->g.ids) {
            LOG(r->d,
                "restore tables: in %s, the Next (%u) of entry %llu runs past the end of the "
                "table (%llu entries)",
                w->what, n, (unsigned long long)id, (unsigned long long)t->g.ids);
            return -EINVAL;
        }
        expect = n < w->next_max;
        from = id;
        id += n;
    }
    return 0;
}

static int restore_collections(struct restore *r)
{
    struct vits_its *its = r->its;
    struct vits_domain *d = r->d;
    struct its_table_geo g1;
    its_table_geo(its->baser[1], &g1);
    struct tcur *t = &r->dt; /* free until the device table */
    tcur_init(t, d, &g1);
    uint64_t ncoll = 1ull << its->cfg.collection_id_bits;
    for (uint64_t id = 0; id < g1.ids;) {
        uint64_t e;
        int rc = tcur_read(t, id, &e);
        if (rc < 0) {
            LOG(d, "restore tables: the collection table unreadable at entry %llu (%d)",
                (unsigned long long)id, rc);
            return rc;
        }
        if (rc == 1) {
            id = (id / g1.per_page + 1) * g1.per_page;
            continue;
        }
        if (!cte_valid(e))
            break;
        uint16_t icid = cte_icid(e);
        uint64_t rd = cte_rdbase(e);
        if (icid >= ncoll || icid >= g1.ids) {
            LOG(d, "restore tables: collection table entry %llu: ICID %u is beyond the %s",
                (unsigned long long)id, icid,
                icid >= ncoll ? "ITS's collection ID bits" : "collection table");
            return -EINVAL;
        }
        if (g1.indirect) {
            /* The ICID's own entry must lie under a valid level-1 entry,
             * as MAPC requires. */
            uint8_t b[8];
            rc = lpi_read_guest(d, g1.pa + icid / g1.per_page * 8, b, sizeof(b));
            if (rc || !(lpi_le64(b) & ENTRY_VALID)) {
                LOG(d, "restore tables: collection %u lies under an %s level-1 entry", icid,
                    rc ? "unreadable" : "invalid");
                return rc ? rc : -EINVAL;
            }
        }
        if (rd != CTE_UNMAPPED && rd >= d->cfg.nr_vcpus) {
            LOG(d, "restore tables: collection %u: RDbase %llu names no vCPU (%u vCPUs)", icid,
                (unsigned long long)rd, d->cfg.nr_vcpus);
            return -EINVAL;
        }
        if (r->st.nr_coll >= ncoll) {
            LOG(d, "restore tables: more collection table entries than collection IDs: an "
                   "ICID is there twice");
            return -EINVAL;
        }
        rc = its_stage_coll(&r->st, icid, rd == CTE_UNMAPPED ? LPI_NO_VCPU : (uint16_t)rd);
        if (rc == -ENOSPC)
            LOG(d, "restore tables: more mapped collections than the ITS's limit (%u)",
                its->cfg.max_collections);
        if (rc)
            return rc;
        id++;
    }
    uint16_t dup;
    if (its_stage_colls_done(&r->st, &dup)) {
        LOG(d, "restore tables: collection %u is in the collection table twice", dup);
        return -EINVAL;
    }
    return 0;
}

static int visit_ite(struct restore *r, uint64_t ev, uint64_t e)
{
    struct vits_domain *d = r->d;
    uint32_t intid = ite_intid(e);
    uint16_t icid = ite_icid(e);
    if (!lpi_intid_valid(d, intid)) {
        LOG(d, "restore tables: device 0x%x event %llu: pINTID %u is not an LPI of this domain",
            r->devid, (unsigned long long)ev, intid);
        return -EINVAL;
    }
    const struct stg_coll *c = its_stage_find_coll(&r->st, icid);
    if (!c) {
        LOG(d,
            "restore tables: device 0x%x event %llu: collection %u is not in the collection "
            "table",
            r->devid, (unsigned long long)ev, icid);
        return -EINVAL;
    }
    if (its_intid_set_add(&r->set, intid)) {
        LOG(d, "restore tables: device 0x%x event %llu: pINTID %u is mapped by another event too",
            r->devid, (unsigned long long)ev, intid);
        return -EINVAL;
    }
    if (lpi_find(d, intid) && lpi_cold(d, intid)->owner != r->its->slot) {
        LOG(d,
            "restore tables: device 0x%x event %llu: pINTID %u is mapped by another ITS of the "
            "domain",
            r->devid, (unsigned long long)ev, intid);
        return -EINVAL;
    }
    int pending = c->vcpu == LPI_NO_VCPU ? 0 : lpi_pending_bit(d, c->vcpu, intid, &r->pend);
    if (pending < 0)
        return pending;
    struct stg_event se = {.ev = (uint32_t)ev,
                           .intid = intid,
                           .icid = icid,
                           .vcpu = c->vcpu,
                           .prop = lpi_read_property(d, c->vcpu, intid),
                           .pending = (uint8_t)pending};
    int rc = its_stage_event(&r->st, &se);
    if (rc == -ENOSPC)
        LOG(d, "restore tables: more events than the ITS's limit (%u)", r->its->cfg.max_events);
    return rc;
}

/* Note a level-2 page of the device table with a valid entry: -ELOOP when
 * the walk comes back to one it has been to. */
static int note_page(struct restore *r, uint64_t id)
{
    uint64_t l1 = id / r->g0.per_page;
    if (r->cur_l1 == l1 + 1)
        return 0;
    r->cur_l1 = l1 + 1;
    uint64_t page = its_l2_page(r->dt.l1_val, r->g0.page_size);
    uint32_t lo = 0, hi = r->nr_pages;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (r->pages[mid].page < page)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < r->nr_pages && r->pages[lo].page == page) {
        LOG(r->d,
            "restore tables: level-1 entries %llu and %llu of the device table lead to the same "
            "level-2 page (0x%llx): the walk would loop",
            (unsigned long long)r->pages[lo].l1, (unsigned long long)l1, (unsigned long long)page);
        return -ELOOP;
    }
    if (r->nr_pages == r->cap_pages) {
        uint32_t ncap = r->cap_pages ? r->cap_pages * 2 : 16;
        void *p =
            lpi_realloc(r->d, r->pages, sizeof(*r->pages) * r->cap_pages, sizeof(*r->pages) * ncap);
        if (!p)
            return -ENOMEM;
        r->pages = p;
        r->cap_pages = ncap;
    }
    memmove(&r->pages[lo + 1], &r->pages[lo], sizeof(*r->pages) * (r->nr_pages - lo));
    r->pages[lo] = (struct seen_page){page, l1};
    r->nr_pages++;
    return 0;
}

static int visit_dte(struct restore *r, uint64_t id, uint64_t e)
{
    struct vits_its *its = r->its;
    struct vits_domain *d = r->d;
    int rc = r->g0.indirect ? note_page(r, id) : 0;
    if (rc)
        return rc;
    uint8_t bits = dte_bits(e);
    if (bits > its->cfg.event_id_bits) {
        LOG(d, "restore tables: device 0x%llx has an ITT of %u event bits, more than the ITS's %u",
            (unsigned long long)id, bits, its->cfg.event_id_bits);
        return -EINVAL;
    }
    rc = its_stage_dev(&r->st, (uint32_t)id, bits, dte_itt(e));
    if (rc == -ENOSPC)
        LOG(d, "restore tables: more devices than the ITS's limit (%u)", its->cfg.max_devices);
    if (rc)
        return rc;
    r->devid = (uint32_t)id;
    char what[48];
    snprintf(what, sizeof(what), "the ITT of device 0x%x", r->devid);
    tcur_init_flat(&r->itt, d, dte_itt(e), 1ull << bits);
    struct walk w = {.t = &r->itt,
                     .limit = 1ull << bits,
                     .next_max = ITE_NEXT_MAX,
                     .valid = ite_valid,
                     .next = ite_next,
                     .visit = visit_ite,
                     .what = what};
    return walk(r, &w);
}

static int cmp_itt(const void *a, const void *b)
{
    const struct stg_dev *x = a, *y = b;
    return (x->itt > y->itt) - (x->itt < y->itt);
}

static int restore_devices(struct restore *r)
{
    struct vits_its *its = r->its;
    its_table_geo(its->baser[0], &r->g0);
    tcur_init(&r->dt, r->d, &r->g0);
    uint64_t limit = 1ull << its->cfg.device_id_bits;
    struct walk w = {.t = &r->dt,
                     .limit = limit < r->g0.ids ? limit : r->g0.ids,
                     .next_max = DTE_NEXT_MAX,
                     .valid = dte_valid,
                     .next = dte_next,
                     .visit = visit_dte,
                     .what = "the device table"};
    int rc = walk(r, &w);
    if (rc || r->st.nr_dev < 2)
        return rc;
    /* No two ITTs may overlap: sort a copy by address. */
    size_t n = r->st.nr_dev;
    struct stg_dev *by_itt = lpi_alloc(r->d, sizeof(*by_itt) * n);
    if (!by_itt)
        return -ENOMEM;
    memcpy(by_itt, r->st.dev, sizeof(*by_itt) * n);
    qsort(by_itt, n, sizeof(*by_itt), cmp_itt);
    for (size_t i = 1; i < n && !rc; i++)
        if (by_itt[i].itt < by_itt[i - 1].itt + (8ull << by_itt[i - 1].bits)) {
            LOG(r->d, "restore tables: the ITTs of devices 0x%x and 0x%x overlap (0x%llx)",
                by_itt[i - 1].devid, by_itt[i].devid, (unsigned long long)by_itt[i].itt);
            rc = -EINVAL;
        }
    lpi_free(r->d, by_itt, sizeof(*by_itt) * n);
    return rc;
}

static int restore_tables(struct restore *r)
{
    int rc = its_intid_set_init(r->d, &r->set);
    if (!rc)
        rc = restore_collections(r);
    if (!rc)
        rc = restore_devices(r);
    if (!rc)
        rc = its_stage_prepare(&r->st);
    if (rc)
        return rc;
    /* Nothing can fail from here. */
    struct vits_its *its = r->its;
    its_stage_drop_live(its);
    its_stage_install(&r->st);
    its->abi_dev_baser = its->baser[0];
    its->abi_dev_hwm = r->st.nr_dev ? (uint64_t)r->st.dev[r->st.nr_dev - 1].devid + 1 : 0;
    lpi_log(r->d, VITS_LOG_INFO,
            "ITS at 0x%llx: tables restored: %u devices, %u events, %u collections",
            (unsigned long long)its->cfg.base, r->st.nr_dev, r->st.nr_ev, r->st.nr_coll);
    return 0;
}

int vits_its_restore_tables(struct vits_its *its)
{
    if (!its)
        return -EINVAL;
    struct vits_domain *d = its->d;
    pthread_mutex_lock(&d->lock);
    int rc;
    struct restore *r = lpi_alloc(d, sizeof(*r));
    if (its->cfg.iidr_revision != VITS_ITS_ABI_REV0) {
        LOG(d, "restore tables: GITS_IIDR revision %u names no table ABI", its->cfg.iidr_revision);
        rc = -EOPNOTSUPP;
    } else if (atomic_load(&its->enabled)) {
        LOG(d, "restore tables: the ITS at 0x%llx is enabled; restore before GITS_CTLR",
            (unsigned long long)its->cfg.base);
        rc = -EBUSY;
    } else if (!r) {
        rc = -ENOMEM;
    } else {
        r->its = its;
        r->d = d;
        its_stage_init(&r->st, its);
        /* Property bytes are read in lines, as during a command batch. */
        lpi_props_batch_begin(d);
        rc = restore_tables(r);
        lpi_props_batch_end(d);
        its_stage_free(&r->st);
        its_intid_set_free(d, &r->set);
        lpi_free(d, r->pages, sizeof(*r->pages) * r->cap_pages);
    }
    if (rc == -ENOMEM)
        LOG(d, "restore tables: out of memory; ITS at 0x%llx left as it was",
            (unsigned long long)its->cfg.base);
    lpi_free(d, r, sizeof(*r));
    lpi_reclaim(d);
    pthread_mutex_unlock(&d->lock);
    return rc;
}
