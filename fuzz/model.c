/* SPDX-License-Identifier: MIT */
/*
 * The model; see model.h. Written from docs/behaviour.md, vits.h and the
 * architecture digest, one obvious loop at a time. Where the model
 * follows an engine choice that the documentation words differently, it
 * says so (search for "NOTE").
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "env.h"
#include "model.h"

struct model fz_model;
#define M fz_model

/* ---- little helpers ---- */

static uint64_t field(uint64_t v, unsigned hi, unsigned lo)
{
    uint64_t w = hi - lo + 1;
    return (v >> lo) & (w == 64 ? ~0ull : (1ull << w) - 1);
}

static uint64_t mask(unsigned hi, unsigned lo)
{
    return (hi - lo + 1 == 64 ? ~0ull : ((1ull << (hi - lo + 1)) - 1)) << lo;
}

static uint64_t le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* The 32-bit half at byte sub (0 or 4) of a 64-bit value, or all of it. */
static uint64_t window(uint64_t reg, unsigned sub, unsigned size)
{
    return size == 8 ? reg : (reg >> (8 * sub)) & 0xffffffffull;
}

static uint64_t merge(uint64_t reg, unsigned sub, unsigned size, uint64_t val)
{
    if (size == 8)
        return val;
    uint64_t m = 0xffffffffull << (8 * sub);
    return (reg & ~m) | ((val & 0xffffffffull) << (8 * sub));
}

/* ---- guest memory ---- */

static int m_read(uint64_t gpa, void *buf, size_t len)
{
    int rc = env_access(gpa, len, false);
    if (!rc)
        env_peek(gpa, buf, len);
    return rc;
}

/* ---- the injector protocol (embedding.md) ---- */

static bool deliverable(const struct m_lpi *l)
{
    return l->pending && l->enabled && l->vcpu != M_NO_VCPU && M.rd[l->vcpu].enabled;
}

/* Raise or retract to match the state; a failing raise leaves it pending
 * and not raised. */
static void update(struct m_lpi *l)
{
    if (!deliverable(l))
        l->raised = false;
    else if (!l->raised && !fz_env.raise_fail)
        l->raised = true;
}

/* MSI or INT: 1 pending now, 0 blocked (no target, or LPIs off there). */
static int set_pending(struct m_lpi *l)
{
    if (l->vcpu == M_NO_VCPU || !M.rd[l->vcpu].enabled)
        return 0;
    if (l->raised)
        return 1;
    l->pending = true;
    update(l);
    return 1;
}

/* A property byte read at MAPTI/MAPI, INV or INVALL. A priority change
 * retracts first: the LPI is raised again with its new priority. */
static void apply_property(struct m_lpi *l, uint8_t byte)
{
    if ((byte & 0xfc) != l->prio)
        l->raised = false;
    l->prio = byte & 0xfc;
    l->enabled = byte & 1;
    update(l);
}

/* Move to vcpu with pending state; nothing happens if it is there. */
static void retarget(struct m_lpi *l, uint16_t vcpu)
{
    if (l->vcpu == vcpu)
        return;
    l->raised = false;
    l->vcpu = vcpu;
    update(l);
}

struct m_lpi *m_lpi_find(uint32_t intid)
{
    for (unsigned i = 0; i < M_MAX_LPIS; i++)
        if (M.lpi[i].used && M.lpi[i].intid == intid)
            return &M.lpi[i];
    return NULL;
}

static struct m_lpi *lpi_of_event(unsigned slot, uint32_t devid, uint32_t ev)
{
    for (unsigned i = 0; i < M_MAX_LPIS; i++) {
        struct m_lpi *l = &M.lpi[i];
        if (l->used && l->owner == slot && l->devid == devid && l->ev == ev)
            return l;
    }
    return NULL;
}

static unsigned events_of(unsigned slot)
{
    unsigned n = 0;
    for (unsigned i = 0; i < M_MAX_LPIS; i++)
        n += M.lpi[i].used && M.lpi[i].owner == slot;
    return n;
}

static bool lpi_valid(uint64_t intid)
{
    return intid >= 8192 && intid < (1ull << M.dcfg.lpi_id_bits);
}

/* The property byte of intid for an LPI targeting vcpu: that vCPU's
 * table, or without a target the lowest vCPU with LPIs on (behaviour.md).
 * Beyond IDbits or unreadable: 0, disabled. */
static uint8_t read_property(uint16_t vcpu, uint32_t intid)
{
    int v = vcpu;
    if (vcpu == M_NO_VCPU) {
        v = -1;
        for (uint32_t i = 0; i < M.dcfg.nr_vcpus && v < 0; i++)
            if (M.rd[i].enabled)
                v = (int)i;
        if (v < 0)
            return 0;
    }
    uint64_t prop = M.rd[v].propbaser;
    unsigned idbits = (unsigned)field(prop, 4, 0) + 1;
    if (idbits < 14 || intid >= (1ull << idbits))
        return 0;
    uint8_t byte;
    if (m_read((prop & mask(51, 12)) + intid - 8192, &byte, 1))
        return 0;
    return byte;
}

/* ---- ITS state lookups ---- */

static struct m_dev *dev_find(struct m_its *its, uint32_t devid)
{
    for (unsigned i = 0; i < M_MAX_DEV; i++)
        if (its->dev[i].used && its->dev[i].devid == devid)
            return &its->dev[i];
    return NULL;
}

static unsigned dev_count(const struct m_its *its)
{
    unsigned n = 0;
    for (unsigned i = 0; i < M_MAX_DEV; i++)
        n += its->dev[i].used;
    return n;
}

static struct m_coll *coll_find(struct m_its *its, uint32_t icid)
{
    for (unsigned i = 0; i < M_MAX_COLL; i++)
        if (its->coll[i].used && its->coll[i].icid == icid)
            return &its->coll[i];
    return NULL;
}

static unsigned coll_count(const struct m_its *its)
{
    unsigned n = 0;
    for (unsigned i = 0; i < M_MAX_COLL; i++)
        n += its->coll[i].used;
    return n;
}

static int coll_target(struct m_its *its, uint32_t icid)
{
    struct m_coll *c = coll_find(its, icid);
    return c ? c->vcpu : -1;
}

static unsigned slot_of(const struct m_its *its) { return (unsigned)(its - M.its); }

/* ---- GITS_BASER and the table bounds ---- */

static uint64_t page_bytes(uint64_t baser) { return 4096ull << (2 * field(baser, 9, 8)); }

static uint64_t baser_sanitise(unsigned n, uint64_t v)
{
    if (n > 1)
        return 0; /* only a device (0) and a collection (1) table */
    v &= mask(63, 62) | mask(61, 59) | mask(55, 53) | mask(47, 12) | mask(11, 8) | mask(7, 0);
    if (field(v, 9, 8) == 3)
        v = (v & ~mask(9, 8)) | 2ull << 8; /* reserved page size: 64 KiB */
    /* NOTE: behaviour.md says a reserved Shareability (0b11) reads as
     * Inner Shareable (0b01); the engine (and tests/test_registers.c)
     * make it 0b10, Outer Shareable. The model follows the engine. */
    if (field(v, 11, 10) == 3)
        v = (v & ~mask(11, 10)) | 2ull << 10;
    if (page_bytes(v) == 16384)
        v &= ~mask(13, 12);
    uint64_t type = n == 0 ? 1 : 4;
    return v | type << 56 | 7ull << 48;
}

/* Whether id lies inside the table of BASER<n> (behaviour.md: beyond a
 * flat table, beyond the level-1 array, under an invalid or unreadable
 * level-1 entry are out of range; an invalid BASER holds nothing). */
static bool table_has(struct m_its *its, unsigned n, uint64_t id)
{
    uint64_t b = its->baser[n];
    if (!(b >> 63))
        return false;
    uint64_t psz = page_bytes(b);
    uint64_t bytes = (field(b, 7, 0) + 1) * psz;
    if (!(b & 1ull << 62))
        return id < bytes / 8;
    uint64_t l1 = id / (psz / 8);
    if (l1 >= bytes / 8)
        return false;
    uint64_t pa = b & mask(47, 12);
    if (psz == 65536)
        pa = (pa & mask(47, 16)) | field(b, 15, 12) << 48;
    uint8_t e[8];
    if (m_read(pa + l1 * 8, e, 8))
        return false;
    return e[7] & 0x80;
}

/* ---- commands ---- */

enum { EE_DEV_OOR = 1, EE_PROC_OOR = 2, EE_COLL_OOR = 3, EE_NO_DEV = 4, EE_EV_OOR = 5 };
enum { EE_ID_OOR = 6, EE_NO_ITTE = 7, EE_NO_COLL = 9 };

static int cmderr(uint8_t cmd, unsigned ee)
{
    return (int)(0x010000u | (cmd == 0x04 ? 0x05u : cmd) << 8 | ee);
}

static bool coll_in_range(struct m_its *its, uint32_t icid)
{
    return !(icid >> its->cfg.collection_id_bits) && table_has(its, 1, icid);
}

/* The vCPU an RDbase field names, or -1. */
static int rdbase_vcpu(const struct m_its *its, uint64_t rdbase)
{
    if (!its->cfg.pta)
        return rdbase < M.dcfg.nr_vcpus ? (int)rdbase : -1;
    uint64_t addr = rdbase << 16;
    if (addr < M.dcfg.redist_base || (addr - M.dcfg.redist_base) % M.dcfg.redist_stride)
        return -1;
    uint64_t v = (addr - M.dcfg.redist_base) / M.dcfg.redist_stride;
    return v < M.dcfg.nr_vcpus ? (int)v : -1;
}

static void unmap_lpi(struct m_lpi *l) { memset(l, 0, sizeof(*l)); }

static void unmap_device(struct m_its *its, struct m_dev *d)
{
    for (unsigned i = 0; i < M_MAX_LPIS; i++)
        if (M.lpi[i].used && M.lpi[i].owner == slot_of(its) && M.lpi[i].devid == d->devid)
            unmap_lpi(&M.lpi[i]);
    memset(d, 0, sizeof(*d));
}

/* (DeviceID, EventID) of the command: its LPI, or an error number. With
 * routed, the LPI's collection must be mapped. */
static int lookup(struct m_its *its, const uint64_t *dw, bool routed, struct m_lpi **out)
{
    uint8_t cmd = (uint8_t)dw[0];
    uint32_t devid = (uint32_t)(dw[0] >> 32), ev = (uint32_t)dw[1];
    struct m_dev *d = dev_find(its, devid);
    if (!d)
        return cmderr(cmd, EE_NO_DEV);
    if ((uint64_t)ev >> d->bits)
        return cmderr(cmd, EE_EV_OOR);
    struct m_lpi *l = lpi_of_event(slot_of(its), devid, ev);
    if (!l)
        return cmderr(cmd, EE_NO_ITTE);
    if (routed && coll_target(its, l->icid) < 0)
        return cmderr(cmd, EE_NO_COLL);
    *out = l;
    return 0;
}

static int cmd_mapd(struct m_its *its, const uint64_t *dw)
{
    uint32_t devid = (uint32_t)(dw[0] >> 32);
    unsigned bits = (unsigned)field(dw[1], 4, 0) + 1;
    bool valid = dw[2] >> 63;
    if ((uint64_t)devid >> its->cfg.device_id_bits || !table_has(its, 0, devid))
        return VITS_E_MAPD_DEVICE_OOR;
    if (valid && bits > its->cfg.event_id_bits)
        return VITS_E_MAPD_ITTSIZE_OOR;
    struct m_dev *d = dev_find(its, devid);
    if (d) /* re-map or unmap: the old events go (behaviour.md) */
        unmap_device(its, d);
    if (!valid)
        return 0;
    if (dev_count(its) >= its->cfg.max_devices)
        return VITS_E_MAPD_DEVICE_OOR;
    if (fz_env.alloc_fail)
        return -ENOMEM; /* a device always needs memory */
    for (unsigned i = 0; i < M_MAX_DEV; i++) {
        if (!its->dev[i].used) {
            its->dev[i] = (struct m_dev){true, devid, (uint8_t)bits, field(dw[2], 51, 8) << 8};
            return 0;
        }
    }
    fz_fail("model: device table full");
}

static int cmd_mapc(struct m_its *its, const uint64_t *dw)
{
    uint32_t icid = (uint32_t)field(dw[2], 15, 0);
    if (!coll_in_range(its, icid))
        return VITS_E_MAPC_COLLECTION_OOR;
    struct m_coll *c = coll_find(its, icid);
    if (!(dw[2] >> 63)) {
        if (c) {
            /* Unmapped: its LPIs lose their target, keep pending state. */
            memset(c, 0, sizeof(*c));
            for (unsigned i = 0; i < M_MAX_LPIS; i++) {
                struct m_lpi *l = &M.lpi[i];
                if (l->used && l->owner == slot_of(its) && l->icid == icid)
                    retarget(l, M_NO_VCPU);
            }
        }
        return 0;
    }
    int vcpu = rdbase_vcpu(its, field(dw[2], 51, 16));
    if (vcpu < 0)
        return VITS_E_MAPC_PROCNUM_OOR;
    if (!c) {
        if (coll_count(its) >= its->cfg.max_collections)
            return VITS_E_MAPC_COLLECTION_OOR;
        for (unsigned i = 0; i < M_MAX_COLL && !c; i++)
            if (!its->coll[i].used)
                c = &its->coll[i];
        if (!c)
            fz_fail("model: collection table full");
        c->used = true;
        c->icid = (uint16_t)icid;
    }
    c->vcpu = (uint16_t)vcpu;
    /* LPIs move with their collection, pending state included. */
    for (unsigned i = 0; i < M_MAX_LPIS; i++) {
        struct m_lpi *l = &M.lpi[i];
        if (l->used && l->owner == slot_of(its) && l->icid == icid)
            retarget(l, (uint16_t)vcpu);
    }
    return 0;
}

/* Whether a host allocation is needed for a record of intid (chunks of
 * 64 INTIDs exist while one of them is mapped: docs/internals.md) or for
 * event ev of devid (an ITT of up to 256 events lives in its device; a
 * larger one in chunks of 64 events, by the same rule). */
static bool lpi_chunk_exists(uint32_t intid)
{
    for (unsigned i = 0; i < M_MAX_LPIS; i++)
        if (M.lpi[i].used && M.lpi[i].intid >> 6 == intid >> 6)
            return true;
    return false;
}

static bool event_chunk_exists(unsigned slot, uint32_t devid, uint32_t ev)
{
    for (unsigned i = 0; i < M_MAX_LPIS; i++) {
        const struct m_lpi *l = &M.lpi[i];
        if (l->used && l->owner == slot && l->devid == devid && l->ev >> 6 == ev >> 6)
            return true;
    }
    return false;
}

static int cmd_map_event(struct m_its *its, const uint64_t *dw)
{
    uint8_t cmd = (uint8_t)dw[0];
    uint32_t devid = (uint32_t)(dw[0] >> 32), ev = (uint32_t)dw[1];
    uint32_t intid = cmd == 0x0b ? ev : (uint32_t)(dw[1] >> 32);
    uint32_t icid = (uint32_t)field(dw[2], 15, 0);
    struct m_dev *d = dev_find(its, devid);
    if (!d)
        return cmderr(cmd, EE_NO_DEV);
    if ((uint64_t)ev >> d->bits)
        return cmderr(cmd, EE_EV_OOR);
    if (!lpi_valid(intid))
        return cmderr(cmd, EE_ID_OOR);
    if (!coll_in_range(its, icid))
        return cmderr(cmd, EE_COLL_OOR);
    struct m_lpi *old = lpi_of_event(slot_of(its), devid, ev);
    /* One ITTE per LPI, across every ITS of the domain. */
    if ((!old || old->intid != intid) && m_lpi_find(intid))
        return cmderr(cmd, EE_ID_OOR);
    if (old) /* the event's old ITTE goes, pending state with it */
        unmap_lpi(old);
    if (events_of(slot_of(its)) >= its->cfg.max_events)
        return cmderr(cmd, EE_ID_OOR);
    if (fz_env.alloc_fail && !lpi_chunk_exists(intid))
        return -ENOMEM;
    int target = coll_target(its, icid);
    uint16_t vcpu = target < 0 ? M_NO_VCPU : (uint16_t)target;
    uint8_t byte = read_property(vcpu, intid);
    if (fz_env.alloc_fail && d->bits > 8 && !event_chunk_exists(slot_of(its), devid, ev))
        return -ENOMEM;
    struct m_lpi *l = NULL;
    for (unsigned i = 0; i < M_MAX_LPIS && !l; i++)
        if (!M.lpi[i].used)
            l = &M.lpi[i];
    if (!l)
        fz_fail("model: LPI table full");
    *l = (struct m_lpi){.used = true,
                        .intid = intid,
                        .owner = (uint8_t)slot_of(its),
                        .devid = devid,
                        .ev = ev,
                        .icid = (uint16_t)icid,
                        .vcpu = vcpu};
    apply_property(l, byte);
    return 0;
}

static int cmd_movi(struct m_its *its, const uint64_t *dw)
{
    struct m_lpi *l;
    int rc = lookup(its, dw, true, &l);
    if (rc)
        return rc;
    uint32_t icid = (uint32_t)field(dw[2], 15, 0);
    if (!coll_in_range(its, icid))
        return VITS_E_MOVI_COLLECTION_OOR;
    int target = coll_target(its, icid);
    if (target < 0)
        return VITS_E_MOVI_UNMAPPED_COLLECTION;
    l->icid = (uint16_t)icid;
    retarget(l, (uint16_t)target);
    return 0;
}

static int cmd_invall(struct m_its *its, const uint64_t *dw)
{
    uint32_t icid = (uint32_t)field(dw[2], 15, 0);
    if (!coll_in_range(its, icid))
        return VITS_E_INVALL_COLLECTION_OOR;
    if (coll_target(its, icid) < 0)
        return VITS_E_INVALL_UNMAPPED_COLLECTION;
    /* Every LPI of the collection re-reads its property. */
    for (unsigned i = 0; i < M_MAX_LPIS; i++) {
        struct m_lpi *l = &M.lpi[i];
        if (l->used && l->owner == slot_of(its) && l->icid == icid)
            apply_property(l, read_property(l->vcpu, l->intid));
    }
    return 0;
}

static int cmd_movall(struct m_its *its, const uint64_t *dw)
{
    int from = rdbase_vcpu(its, field(dw[2], 51, 16));
    int to = rdbase_vcpu(its, field(dw[3], 51, 16));
    if (from < 0 || to < 0)
        return VITS_E_MOVALL_PROCNUM_OOR;
    /* Every LPI on RDbase1, whichever ITS maps it. */
    for (unsigned i = 0; i < M_MAX_LPIS; i++)
        if (M.lpi[i].used && M.lpi[i].vcpu == from)
            retarget(&M.lpi[i], (uint16_t)to);
    return 0;
}

/* One command: 0, an architected error, or a negative errno. */
static int execute(struct m_its *its, const uint64_t *dw)
{
    struct m_lpi *l;
    int rc;
    switch ((uint8_t)dw[0]) {
    case 0x01:
        return cmd_movi(its, dw);
    case 0x03: /* INT */
        if (!(rc = lookup(its, dw, true, &l)))
            set_pending(l);
        return rc;
    case 0x04: /* CLEAR */
        if (!(rc = lookup(its, dw, true, &l))) {
            l->pending = false;
            l->raised = false;
        }
        return rc;
    case 0x05: /* SYNC: commands complete at once */
        return 0;
    case 0x08:
        return cmd_mapd(its, dw);
    case 0x09:
        return cmd_mapc(its, dw);
    case 0x0a:
    case 0x0b:
        return cmd_map_event(its, dw);
    case 0x0c: /* INV */
        if (!(rc = lookup(its, dw, true, &l)))
            apply_property(l, read_property(l->vcpu, l->intid));
        return rc;
    case 0x0d:
        return cmd_invall(its, dw);
    case 0x0e:
        return cmd_movall(its, dw);
    case 0x0f: /* DISCARD: the collection may be unmapped */
        if (!(rc = lookup(its, dw, false, &l)))
            unmap_lpi(l);
        return rc;
    default:
        return (int)VITS_E_UNKNOWN_COMMAND((uint8_t)dw[0]);
    }
}

uint64_t m_queue_size(const struct m_its *its) { return (field(its->cbaser, 7, 0) + 1) * 4096; }

/* Run the queue from CREADR to CWRITER (behaviour.md, "The queue"). */
static void process(struct m_its *its)
{
    if (!its->enabled || !(its->cbaser >> 63) || its->stalled)
        return;
    uint64_t qsize = m_queue_size(its);
    uint64_t base = its->cbaser & mask(51, 12);
    while (its->creadr != its->cwriter) {
        uint64_t off = its->creadr;
        uint8_t raw[32];
        uint64_t dw[4] = {0, 0, 0, 0};
        int rc = m_read(base + off, raw, 32);
        bool readable = rc == 0;
        if (readable) {
            for (int i = 0; i < 4; i++)
                dw[i] = le64(raw + 8 * i);
            rc = execute(its, dw);
            its->commands++;
        }
        M.commands_run++;
        if (fz_env.verbose)
            fprintf(stderr, "model: ITS %u command at 0x%llx: %016llx %016llx %016llx -> %d\n",
                    slot_of(its), (unsigned long long)off, (unsigned long long)dw[0],
                    (unsigned long long)dw[1], (unsigned long long)dw[2], rc);
        if (rc) {
            struct vits_cmd_error *e = &its->last;
            memset(e, 0, sizeof(*e));
            e->offset = off;
            if (rc > 0)
                e->code = (uint32_t)rc;
            else
                e->host_errno = rc;
            memcpy(e->cmd, dw, sizeof(dw));
            its->errors++;
            if (its->cfg.error_policy == VITS_ERRORS_STALL) {
                its->stalled = true;
                return;
            }
        }
        its->creadr = (off + 32) % qsize;
    }
}

/* ---- ITS registers ---- */

enum { R_CTLR, R_IIDR, R_TYPER, R_CBASER, R_CWRITER, R_CREADR, R_BASER, R_ID };

/* Which register offset falls in: its kind, index, width and the byte
 * offset inside it; -1 for a reserved offset. */
static int its_reg(uint64_t off, unsigned *n, unsigned *width, unsigned *sub)
{
    static const struct {
        uint32_t off;
        unsigned width, count, kind;
    } map[] = {
        {0x0000, 4, 1, R_CTLR},   {0x0004, 4, 1, R_IIDR},    {0x0008, 8, 1, R_TYPER},
        {0x0080, 8, 1, R_CBASER}, {0x0088, 8, 1, R_CWRITER}, {0x0090, 8, 1, R_CREADR},
        {0x0100, 8, 8, R_BASER},  {0xffd0, 4, 12, R_ID},
    };
    for (unsigned i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        if (off >= map[i].off && off < map[i].off + (uint64_t)map[i].width * map[i].count) {
            *n = (unsigned)(off - map[i].off) / map[i].width;
            *sub = (unsigned)(off - map[i].off) % map[i].width;
            *width = map[i].width;
            return (int)map[i].kind;
        }
    }
    return -1;
}

static uint64_t its_value(const struct m_its *its, int kind, unsigned n, bool *exact)
{
    const struct vits_its_config *c = &its->cfg;
    *exact = true;
    switch (kind) {
    case R_CTLR:
        return its->enabled ? 1u : 1u << 31; /* Quiescent exactly when disabled */
    case R_IIDR:
        return 0x56u << 24 | (c->iidr_revision & 0xf) << 12 | 0x43bu;
    case R_TYPER:
        return 1ull | 7ull << 4 | (uint64_t)(c->event_id_bits - 1) << 8 |
               (uint64_t)(c->device_id_bits - 1) << 13 | (uint64_t)c->pta << 19 |
               (uint64_t)(c->collection_id_bits - 1) << 32 | 1ull << 36;
    case R_CBASER:
        return its->cbaser;
    case R_CWRITER:
        return its->cwriter;
    case R_CREADR:
        return its->creadr | (its->stalled ? 1u : 0u);
    case R_BASER:
        return its->baser[n];
    default:
        /* ID registers: PIDR2 says GICv3, CIDR0..3 are CoreSight's. */
        if (n == 6)
            return 0x3b; /* PIDR2: ArchRev 3, JEDEC, JEP106 id bits */
        if (n >= 8)
            return (0xb105f00du >> (8 * (n - 8))) & 0xff;
        *exact = false;
        return 0;
    }
}

static int its_access_ok(uint64_t off, unsigned size)
{
    if (off >= VITS_ITS_FRAME_SIZE)
        return -EINVAL;
    if (size == 2 && off == VITS_GITS_TRANSLATER)
        return 0;
    if ((size != 4 && size != 8) || (off & (size - 1)))
        return -EINVAL;
    return 0;
}

int m_its_read(unsigned slot, uint64_t off, unsigned size, uint64_t *val, bool *exact)
{
    struct m_its *its = &M.its[slot];
    *val = 0;
    *exact = true;
    int rc = its_access_ok(off, size);
    if (rc)
        return rc;
    unsigned n, width, sub;
    int kind = its_reg(off, &n, &width, &sub);
    if (kind < 0 || size > width)
        return 0; /* reserved, or a 64-bit access to a 32-bit register */
    *val = window(its_value(its, kind, n, exact), sub, size);
    return 0;
}

int m_its_write(unsigned slot, uint64_t off, unsigned size, uint64_t val)
{
    struct m_its *its = &M.its[slot];
    int rc = its_access_ok(off, size);
    if (rc || off == VITS_GITS_TRANSLATER)
        return rc; /* no DeviceID: ignored */
    unsigned n, width, sub;
    int kind = its_reg(off, &n, &width, &sub);
    if (kind < 0 || size > width)
        return 0;
    bool exact;
    uint64_t v = merge(its_value(its, kind, n, &exact), sub, size, val);
    switch (kind) {
    case R_CTLR:
        if ((v & 1) != its->enabled) {
            its->enabled = v & 1;
            process(its); /* enabling runs what is queued */
        }
        break;
    case R_CBASER:
        if (its->enabled)
            break; /* ignored while enabled */
        v &= mask(63, 63) | mask(61, 59) | mask(55, 53) | mask(51, 12) | mask(11, 10) | mask(7, 0);
        if (field(v, 11, 10) == 3) /* NOTE: as BASER, 0b11 becomes 0b10 */
            v = (v & ~mask(11, 10)) | 2ull << 10;
        its->cbaser = v;
        its->creadr = its->cwriter = 0;
        its->stalled = false;
        break;
    case R_CWRITER: {
        uint64_t q = v & mask(19, 5);
        if (q >= m_queue_size(its))
            break; /* beyond the queue: ignored */
        its->cwriter = q;
        if (its->stalled) {
            its->stalled = false;
            if (!(v & 1)) /* without Retry the stalled command is skipped */
                its->creadr = (its->creadr + 32) % m_queue_size(its);
        }
        process(its);
        break;
    }
    case R_BASER:
        if (!its->enabled)
            its->baser[n] = baser_sanitise(n, v);
        break;
    default:
        break; /* read-only */
    }
    return 0;
}

/* ---- ITS lifetime ---- */

int m_its_create_rc(const struct vits_its_config *c)
{
    if ((c->base & 0xffff) || c->base > UINT64_MAX - VITS_ITS_FRAME_SIZE)
        return -EINVAL;
    if (c->device_id_bits < 1 || c->device_id_bits > 32 || c->event_id_bits < 1 ||
        c->event_id_bits > 16 || c->collection_id_bits < 1 || c->collection_id_bits > 16 ||
        c->pta > 1 || c->iidr_revision > 15 || c->max_batch < 1 || c->max_batch > 32768 ||
        (c->error_policy != VITS_ERRORS_CONTINUE && c->error_policy != VITS_ERRORS_STALL))
        return -EINVAL;
    for (unsigned i = 0; i < FZ_MAX_ITS; i++) {
        const struct m_its *o = &M.its[i];
        if (o->live && c->base < o->cfg.base + VITS_ITS_FRAME_SIZE &&
            o->cfg.base < c->base + VITS_ITS_FRAME_SIZE)
            return -EEXIST;
    }
    return fz_env.alloc_fail ? -ENOMEM : 0;
}

void m_its_add(unsigned slot, const struct vits_its_config *cfg)
{
    struct m_its *its = &M.its[slot];
    memset(its, 0, sizeof(*its));
    its->live = true;
    its->gen = ++M.next_gen;
    its->cfg = *cfg;
    its->baser[0] = baser_sanitise(0, 0);
    its->baser[1] = baser_sanitise(1, 0);
}

void m_its_destroy(unsigned slot)
{
    for (unsigned i = 0; i < M_MAX_LPIS; i++)
        if (M.lpi[i].used && M.lpi[i].owner == slot)
            unmap_lpi(&M.lpi[i]);
    memset(&M.its[slot], 0, sizeof(M.its[slot]));
}

void m_reset(const struct vits_domain_config *dcfg)
{
    memset(&M, 0, sizeof(M));
    M.dcfg = *dcfg;
}

/* ---- MSIs, acknowledges, state ---- */

int m_signal(unsigned slot, uint32_t devid, uint32_t ev)
{
    struct m_its *its = &M.its[slot];
    if (!its->enabled)
        return 0;
    struct m_dev *d = dev_find(its, devid);
    if (!d || (uint64_t)ev >> d->bits)
        return 0;
    struct m_lpi *l = lpi_of_event(slot, devid, ev);
    return l ? set_pending(l) : 0;
}

int m_domain_signal(const struct vits_msi *msi)
{
    if (!(msi->flags & VITS_MSI_VALID_DEVID) || (msi->flags & ~VITS_MSI_VALID_DEVID))
        return -EINVAL;
    for (unsigned i = 0; i < FZ_MAX_ITS; i++)
        if (M.its[i].live && M.its[i].cfg.base + VITS_GITS_TRANSLATER == msi->address)
            return m_signal(i, msi->devid, msi->data);
    return -ENODEV;
}

int m_route_fire(unsigned idx)
{
    const struct m_route *r = &M.route[idx];
    if (!M.its[r->slot].live || M.its[r->slot].gen != r->gen)
        return -ENODEV;
    return m_signal((unsigned)r->slot, r->devid, r->ev);
}

int m_ack(uint32_t vcpu, uint32_t intid)
{
    if (vcpu >= M.dcfg.nr_vcpus)
        return -EINVAL;
    struct m_lpi *l = lpi_valid(intid) ? m_lpi_find(intid) : NULL;
    if (!l || !l->raised || l->vcpu != vcpu)
        return -ENOENT;
    l->raised = false;
    l->pending = false;
    return 0;
}

int m_lpi_state(uint32_t intid, uint32_t *vcpu)
{
    struct m_lpi *l = lpi_valid(intid) ? m_lpi_find(intid) : NULL;
    if (!l)
        return -ENOENT;
    *vcpu = l->vcpu == M_NO_VCPU ? UINT32_MAX : l->vcpu;
    return l->pending;
}

/* ---- redistributors and pending tables ---- */

bool m_pending_part(uint32_t vcpu, bool store, uint64_t *start, uint64_t *len, bool *sure)
{
    uint64_t pa = M.rd[vcpu].pendbaser & mask(51, 16);
    unsigned bits = (unsigned)field(M.rd[vcpu].propbaser, 4, 0) + 1;
    if (bits < 14 || (store && !pa))
        return false; /* nothing to walk; a store needs a table address */
    if (bits > M.dcfg.lpi_id_bits)
        bits = M.dcfg.lpi_id_bits;
    *start = pa + 8192 / 8;
    *len = (1ull << bits) / 8 - 8192 / 8;
    *sure = !env_access(*start, *len, false) && (!store || !env_access(*start, *len, true));
    return true;
}

/* Whether a store of vcpu's pending state can fail. */
static bool store_unsure(uint32_t vcpu)
{
    uint64_t start, len;
    bool sure;
    return m_pending_part(vcpu, true, &start, &len, &sure) && !sure;
}

/*
 * Load the pending bits of the LPIs that target vcpu (EnableLPIs 0 -> 1
 * without PTZ): a set bit makes a mapped LPI of that vCPU pending, a
 * clear one changes nothing. When a fault touches the table the walk may
 * stop anywhere: the LPIs it might have missed are left to m_settle.
 */
static void load_pending(uint32_t vcpu)
{
    uint64_t start, len;
    bool sure;
    if (!m_pending_part(vcpu, false, &start, &len, &sure))
        return;
    for (unsigned i = 0; i < M_MAX_LPIS; i++) {
        struct m_lpi *l = &M.lpi[i];
        if (!l->used || l->vcpu != vcpu || l->pending || l->intid / 8 >= len + 8192 / 8)
            continue;
        uint8_t byte;
        env_peek(start + l->intid / 8 - 8192 / 8, &byte, 1);
        if (!(byte & 1u << (l->intid % 8)))
            continue;
        if (sure)
            l->pending = true;
        else
            M.unsure[M.nr_unsure++] = l->intid;
    }
}

void m_settle(uint32_t intid, bool pending)
{
    struct m_lpi *l = m_lpi_find(intid);
    if (!l)
        fz_fail("model: unsure LPI %u is not mapped", intid);
    l->pending = pending;
    update(l);
}

int m_sync_pending(void)
{
    /* The write-back changes no state; the target checks the tables. */
    for (uint32_t v = 0; v < M.dcfg.nr_vcpus; v++)
        if (store_unsure(v))
            return M_UNSURE;
    return 0;
}

#define PTZ (1ull << 62)

static int gicr_reg(uint64_t off)
{
    uint64_t r = off & ~7ull;
    if (r == 0)
        return off == 0 ? 0 : -ENOENT; /* GICR_CTLR is 32-bit */
    if (r == 0x08 || r == 0x70 || r == 0x78)
        return (int)r;
    return -ENOENT;
}

static int gicr_check(uint32_t vcpu, uint64_t off, unsigned size)
{
    if (vcpu >= M.dcfg.nr_vcpus || (size != 4 && size != 8) || (off & (size - 1)))
        return -EINVAL;
    return gicr_reg(off);
}

int m_gicr_read(uint32_t vcpu, uint64_t off, unsigned size, uint64_t *val)
{
    *val = 0;
    int reg = gicr_check(vcpu, off, size);
    if (reg < 0)
        return reg;
    const struct m_rd *rd = &M.rd[vcpu];
    unsigned sub = (unsigned)(off & 7);
    switch (reg) {
    case 0:
        *val = size == 4 && rd->enabled; /* a 64-bit read of CTLR reads 0 */
        break;
    case 0x08: {
        /* PLPIS, Last, Processor_Number; affinity: Aff0 = id[3:0],
         * Aff1 = id[11:4] (KVM's layout). */
        uint64_t aff = (vcpu & 0xf) | (uint64_t)((vcpu >> 4) & 0xff) << 8;
        uint64_t t = aff << 32 | (uint64_t)vcpu << 8 | 1u;
        if (vcpu == M.dcfg.nr_vcpus - 1)
            t |= 1u << 4;
        *val = window(t, sub, size);
        break;
    }
    case 0x70:
        *val = window(rd->propbaser, sub, size);
        break;
    default:
        *val = window(rd->pendbaser & ~PTZ, sub, size); /* PTZ reads as 0 */
        break;
    }
    return 0;
}

int m_gicr_write(uint32_t vcpu, uint64_t off, unsigned size, uint64_t val)
{
    int reg = gicr_check(vcpu, off, size);
    if (reg < 0)
        return reg;
    struct m_rd *rd = &M.rd[vcpu];
    unsigned sub = (unsigned)(off & 7);
    if (reg == 0) {
        if (size != 4 || (bool)(val & 1) == rd->enabled)
            return 0;
        if (val & 1) {
            rd->enabled = true;
            if (!(rd->pendbaser & PTZ))
                load_pending(vcpu);
            rd->pendbaser &= ~PTZ;
        } else {
            /* IMPLEMENTATION DEFINED, allowed: pending state is written
             * back (the target checks the table) and kept; raised LPIs
             * are retracted. */
            rd->enabled = false;
        }
        for (unsigned i = 0; i < M_MAX_LPIS; i++)
            if (M.lpi[i].used && M.lpi[i].vcpu == vcpu)
                update(&M.lpi[i]);
        return 0;
    }
    if (reg == 0x08 || rd->enabled)
        return 0; /* read-only; PROPBASER/PENDBASER frozen while enabled */
    if (reg == 0x70)
        rd->propbaser = merge(rd->propbaser, sub, size, val) &
                        (mask(58, 56) | mask(51, 12) | mask(11, 7) | mask(4, 0));
    else
        rd->pendbaser = merge(rd->pendbaser, sub, size, val) &
                        (PTZ | mask(58, 56) | mask(51, 16) | mask(11, 7));
    return 0;
}

/* ---- MMIO requests (vits.h, "MMIO requests") ---- */

#ifdef VITS_IOREQ_READ
int m_ioreq(const struct vits_ioreq *r, uint64_t *data, bool *exact, int *ctlr_vcpu)
{
    bool read = r->dir == VITS_IOREQ_READ;
    *ctlr_vcpu = -1;
    *exact = true;
    *data = read ? 0 : r->data;
    if ((r->dir != VITS_IOREQ_READ && r->dir != VITS_IOREQ_WRITE) ||
        (r->flags & ~VITS_IOREQ_F_DEVID) || r->vcpu >= M.dcfg.nr_vcpus)
        return -EINVAL;
    if ((r->size != 1 && r->size != 2 && r->size != 4 && r->size != 8) || (r->addr & (r->size - 1)))
        return -EINVAL;
    uint64_t w = r->size < 8 ? r->data & ((1ull << (8 * r->size)) - 1) : r->data;
    uint64_t val = 0;
    int rc;
    for (unsigned i = 0; i < FZ_MAX_ITS; i++) {
        const struct m_its *its = &M.its[i];
        if (!its->live || r->addr < its->cfg.base || r->addr - its->cfg.base >= VITS_ITS_FRAME_SIZE)
            continue;
        uint64_t off = r->addr - its->cfg.base;
        if (read) {
            rc = m_its_read(i, off, r->size, &val, exact);
            *data = rc ? 0 : val;
            return rc;
        }
        if ((r->flags & VITS_IOREQ_F_DEVID) && off == VITS_GITS_TRANSLATER &&
            (r->size == 2 || r->size == 4)) {
            m_signal(i, r->devid, (uint32_t)w);
            return 0;
        }
        return m_its_write(i, off, r->size, w);
    }
    /* The RD_base frames of the redistributors. */
    if (r->addr < M.dcfg.redist_base)
        return -ENODEV;
    uint64_t rel = r->addr - M.dcfg.redist_base;
    uint64_t v = rel / M.dcfg.redist_stride, off = rel % M.dcfg.redist_stride;
    if (v >= M.dcfg.nr_vcpus)
        return -ENODEV;
    if (off >= 0x10000)
        return -ENOENT;
    if (read) {
        rc = m_gicr_read((uint32_t)v, off, r->size, &val);
        *data = rc ? 0 : val;
        return rc;
    }
    if (off == 0 && r->size == 4 && !(w & 1) && M.rd[v].enabled)
        *ctlr_vcpu = (int)v;
    return m_gicr_write((uint32_t)v, off, r->size, w);
}
#endif

/* ---- save, restore, reset (vits.h, "Save, restore and reset") ---- */

void m_reraise_all(void)
{
    for (unsigned i = 0; i < M_MAX_LPIS; i++) {
        if (M.lpi[i].used) {
            M.lpi[i].raised = false;
            update(&M.lpi[i]);
        }
    }
}

/* Disabled and quiescent, no queue, Valid clear in every BASER (other
 * fields kept), no device, event or collection; IIDR and the counters
 * stay. */
void m_its_reset(unsigned slot)
{
    struct m_its *its = &M.its[slot];
    for (unsigned i = 0; i < M_MAX_LPIS; i++)
        if (M.lpi[i].used && M.lpi[i].owner == slot)
            unmap_lpi(&M.lpi[i]);
    its->enabled = its->stalled = false;
    its->cbaser = its->cwriter = its->creadr = 0;
    for (unsigned n = 0; n < 8; n++)
        its->baser[n] &= ~(1ull << 63);
    memset(its->dev, 0, sizeof(its->dev));
    memset(its->coll, 0, sizeof(its->coll));
}

/* Every ITS reset, every redistributor as at creation. */
void m_domain_reset(void)
{
    for (unsigned s = 0; s < FZ_MAX_ITS; s++)
        if (M.its[s].live)
            m_its_reset(s);
    memset(M.rd, 0, sizeof(M.rd));
}

void m_restore_lpi(const struct m_lpi *o, uint16_t vcpu)
{
    struct m_lpi *l = NULL;
    for (unsigned i = 0; i < M_MAX_LPIS && !l; i++)
        if (!M.lpi[i].used)
            l = &M.lpi[i];
    if (!l)
        fz_fail("model: LPI table full");
    *l = (struct m_lpi){.used = true,
                        .intid = o->intid,
                        .owner = o->owner,
                        .devid = o->devid,
                        .ev = o->ev,
                        .icid = o->icid,
                        .vcpu = vcpu};
    apply_property(l, read_property(vcpu, l->intid));
}

static bool overlap(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
    return a < b + blen && b < a + alen;
}

/* A table of BASER<n>: its level-1 array or flat table, and for a
 * two-level one every level-2 page a valid level-1 entry names. */
static bool table_touches(uint64_t b, uint64_t gpa, uint64_t len)
{
    if (!(b >> 63))
        return false;
    uint64_t psz = page_bytes(b), bytes = (field(b, 7, 0) + 1) * psz;
    uint64_t pa = b & mask(47, 12);
    if (psz == 65536)
        pa = (pa & mask(47, 16)) | field(b, 15, 12) << 48;
    if (overlap(pa, bytes, gpa, len))
        return true;
    if (!(b & 1ull << 62))
        return false;
    for (uint64_t i = 0; i < bytes / 8 && i < 8192; i++) {
        uint8_t e[8];
        env_peek(pa + 8 * i, e, 8);
        uint64_t v = le64(e);
        if ((v >> 63) && overlap(v & mask(51, 12), psz, gpa, len))
            return true;
    }
    return false;
}

bool m_its_tables_touch(unsigned slot, uint64_t gpa, uint64_t len)
{
    const struct m_its *its = &M.its[slot];
    if (table_touches(its->baser[0], gpa, len) || table_touches(its->baser[1], gpa, len))
        return true;
    for (unsigned i = 0; i < M_MAX_DEV; i++)
        if (its->dev[i].used && overlap(its->dev[i].itt, 8ull << its->dev[i].bits, gpa, len))
            return true;
    return false;
}
