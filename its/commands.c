/* SPDX-License-Identifier: MIT */
/*
 * The twelve physical ITS commands. One handler per command, dispatched
 * through a table indexed by command number; an empty slot is an unknown
 * command. A handler returns 0, a positive architected error number, or
 * a negative errno for a host failure; only the queue processor decides
 * whether to go on or stall.
 *
 * Choices where the architecture leaves one (UNPREDICTABLE / IMPDEF):
 *  - MAPD V=1 of a mapped device, and MAPD V=0 of a device with mapped
 *    events, drop the old events (and their pending state).
 *  - MAPTI/MAPI of an EventID that is already mapped replaces the old
 *    ITTE (its pending state is dropped).
 *  - MAPTI/MAPI of a pINTID that another ITTE (of any ITS of the domain)
 *    maps fails with *_PHYSICALID_OOR: vits keeps one ITTE per LPI.
 *  - A configured limit (devices, events, collections) that a new mapping
 *    would pass fails the command with the matching out-of-range error:
 *    MAPD_DEVICE_OOR, MAPTI/MAPI_PHYSICALID_OOR, MAPC_COLLECTION_OOR.
 *  - MAPC re-targeting a collection moves its LPIs, pending state
 *    included, to the new vCPU (as KVM does); MAPC V=0 leaves them
 *    without a target (pending state kept, raised ones retracted).
 *  - MOVALL re-targets every LPI that targets RDbase1 to RDbase2, pending
 *    state included (KVM's behaviour). A later MAPC of their collection
 *    re-targets them again.
 *  - INVALL re-reads the property of every LPI of the collection (exactly
 *    what the architecture asks; KVM re-reads all LPIs of the
 *    collection's redistributor).
 *  - SYNC with an RDbase that names no redistributor is logged and
 *    otherwise ignored: commands take effect at once, so there is
 *    nothing to wait for.
 *  - DISCARD does not require the collection to be mapped.
 *
 * Everything here needs the domain lock.
 */
#include <errno.h>

#include "its.h"

/* ---- field decoding, one line per field ---- */
static inline uint8_t cmd_num(const uint64_t *dw) { return (uint8_t)dw[0]; }
static inline uint32_t cmd_devid(const uint64_t *dw) { return (uint32_t)(dw[0] >> 32); }
static inline uint32_t cmd_eventid(const uint64_t *dw) { return (uint32_t)dw[1]; }
static inline uint32_t cmd_pintid(const uint64_t *dw) { return (uint32_t)(dw[1] >> 32); }
static inline uint32_t cmd_size(const uint64_t *dw) { return (uint32_t)lpi_bits(dw[1], 4, 0); }
static inline uint64_t cmd_itt_addr(const uint64_t *dw) { return lpi_bits(dw[2], 51, 8) << 8; }
static inline uint16_t cmd_icid(const uint64_t *dw) { return (uint16_t)dw[2]; }
static inline uint64_t cmd_rdbase(const uint64_t *dw) { return lpi_bits(dw[2], 51, 16); }
static inline uint64_t cmd_rdbase2(const uint64_t *dw) { return lpi_bits(dw[3], 51, 16); }
static inline bool cmd_valid(const uint64_t *dw) { return dw[2] >> 63; }

/* Error number of kind ee for command cmd (CLEAR reports as 0x05). */
static int err(uint8_t cmd, uint8_t ee)
{
    uint8_t cc = cmd == 0x04 ? 0x05 : cmd;
    return 0x010000 | cc << 8 | ee;
}

enum {
    EE_DEVICE_OOR = 1,
    EE_PROC_OOR = 2,
    EE_COLL_OOR = 3,
    EE_NO_DEVICE = 4,
    EE_EVENT_OOR = 5,
    EE_INTID_OOR = 6,
    EE_NO_ITTE = 7,
    EE_NO_COLL = 9
};

struct cmd_ctx {
    struct vits_its *its;
    const uint64_t *dw;
    const char *who; /* command name, for guest-error messages */
};

#define GUEST(c, ...) lpi_log((c)->its->d, VITS_LOG_GUEST, __VA_ARGS__)

/* Target vCPU of a collection, or -1 when unmapped. */
static int coll_target(const struct vits_its *its, uint16_t icid)
{
    if (icid >> its->cfg.collection_id_bits)
        return -1;
    return (int)atomic_load_explicit(&its->coll[icid].target, memory_order_relaxed) - 1;
}

/* Whether icid is within CIDbits and the collection table. */
static bool coll_in_range(const struct cmd_ctx *c, uint16_t icid)
{
    if (icid >> c->its->cfg.collection_id_bits) {
        GUEST(c, "%s: ICID %u beyond %u collection ID bits", c->who, icid,
              c->its->cfg.collection_id_bits);
        return false;
    }
    return its_table_has(c->its, ITS_BASER_COLLECTIONS, icid, c->who);
}

/* The vCPU an RDbase field names (processor number with PTA = 0, address
 * bits [51:16] with PTA = 1), or -1. */
static int rdbase_vcpu(const struct vits_its *its, uint64_t rdbase)
{
    if (its->cfg.pta)
        return lpi_vcpu_by_rdbase(its->d, rdbase << 16);
    return rdbase < its->d->cfg.nr_vcpus ? (int)rdbase : -1;
}

/* Look up the ITTE of (DeviceID, EventID): 0 with *dev and *intid set,
 * or the command's error number. */
static int lookup_itte(const struct cmd_ctx *c, struct its_device **dev, uint32_t *intid)
{
    uint8_t cmd = cmd_num(c->dw);
    uint32_t devid = cmd_devid(c->dw), ev = cmd_eventid(c->dw);
    *dev = its_dev_find(c->its, devid);
    if (!*dev) {
        GUEST(c, "%s: device 0x%x is not mapped", c->who, devid);
        return err(cmd, EE_NO_DEVICE);
    }
    if (ev >> (*dev)->event_bits) {
        GUEST(c, "%s: device 0x%x event %u beyond its %u-bit ITT", c->who, devid, ev,
              (*dev)->event_bits);
        return err(cmd, EE_EVENT_OOR);
    }
    *intid = its_event_get(*dev, ev);
    if (!*intid) {
        GUEST(c, "%s: device 0x%x event %u is not mapped", c->who, devid, ev);
        return err(cmd, EE_NO_ITTE);
    }
    return 0;
}

/* As lookup_itte, and the LPI's collection must be mapped: exactly when
 * the LPI has a target (MAPC V=0 takes it from every LPI of the
 * collection, MAPC V=1 gives it back, and MAPTI, MOVI and MOVALL only
 * ever set a mapped collection's target), so the hot record says it. */
static int lookup_routed(const struct cmd_ctx *c, struct lpi_irq **irq, uint32_t *intid)
{
    struct its_device *dev;
    int rc = lookup_itte(c, &dev, intid);
    if (rc)
        return rc;
    *irq = lpi_find(c->its->d, *intid);
    if ((*irq)->vcpu == LPI_NO_VCPU) {
        uint16_t group = lpi_cold(c->its->d, *intid)->group;
        GUEST(c, "%s: device 0x%x event %u: collection %u is not mapped", c->who, cmd_devid(c->dw),
              cmd_eventid(c->dw), group);
        return err(cmd_num(c->dw), EE_NO_COLL);
    }
    return 0;
}

static int do_mapd(const struct cmd_ctx *c)
{
    struct vits_its *its = c->its;
    uint32_t devid = cmd_devid(c->dw);
    if ((uint64_t)devid >> its->cfg.device_id_bits) {
        GUEST(c, "MAPD: device 0x%x beyond %u DeviceID bits", devid, its->cfg.device_id_bits);
        return VITS_E_MAPD_DEVICE_OOR;
    }
    if (!its_table_has(its, ITS_BASER_DEVICES, devid, c->who))
        return VITS_E_MAPD_DEVICE_OOR;
    uint32_t bits = cmd_size(c->dw) + 1;
    if (cmd_valid(c->dw) && bits > its->cfg.event_id_bits) {
        GUEST(c, "MAPD: device 0x%x ITT of %u event bits, more than %u", devid, bits,
              its->cfg.event_id_bits);
        return VITS_E_MAPD_ITTSIZE_OOR;
    }
    struct its_device *dev = its_dev_find(its, devid);
    int rc = 0;
    its_map_begin(its);
    if (dev)
        its_dev_remove(its, dev);
    if (cmd_valid(c->dw)) {
        if (its->devs.count >= its->cfg.max_devices) {
            GUEST(c, "MAPD: device 0x%x: limit of %u devices reached", devid, its->cfg.max_devices);
            rc = VITS_E_MAPD_DEVICE_OOR;
        } else {
            rc = its_dev_add(its, devid, (uint8_t)bits, cmd_itt_addr(c->dw), &dev);
        }
    }
    its_map_end(its);
    return rc;
}

static int do_mapc(const struct cmd_ctx *c)
{
    struct vits_its *its = c->its;
    uint16_t icid = cmd_icid(c->dw);
    if (!coll_in_range(c, icid))
        return VITS_E_MAPC_COLLECTION_OOR;
    int old = coll_target(its, icid);
    if (!cmd_valid(c->dw)) {
        if (old >= 0) {
            atomic_store_explicit(&its->coll[icid].target, 0, memory_order_relaxed);
            its->nr_collections--;
            lpi_retarget_group(its->d, &its->coll[icid].lpis, LPI_NO_VCPU);
        }
        return 0;
    }
    int vcpu = rdbase_vcpu(its, cmd_rdbase(c->dw));
    if (vcpu < 0) {
        GUEST(c, "MAPC: collection %u: RDbase 0x%llx names no redistributor", icid,
              (unsigned long long)cmd_rdbase(c->dw));
        return VITS_E_MAPC_PROCNUM_OOR;
    }
    if (old < 0) {
        if (its->nr_collections >= its->cfg.max_collections) {
            GUEST(c, "MAPC: collection %u: limit of %u collections reached", icid,
                  its->cfg.max_collections);
            return VITS_E_MAPC_COLLECTION_OOR;
        }
        its->nr_collections++;
    }
    atomic_store_explicit(&its->coll[icid].target, (uint32_t)vcpu + 1, memory_order_relaxed);
    lpi_retarget_group(its->d, &its->coll[icid].lpis, (uint16_t)vcpu);
    return 0;
}

/* The mapping part of MAPTI/MAPI: replace the old ITTE of ev (if any;
 * then inside its_map_begin/end) by ev -> intid in collection icid. The
 * LPI is mapped before the ITTE is published, so a reader that finds the
 * ITTE finds the LPI. */
static int map_event(const struct cmd_ctx *c, struct its_device *dev, uint32_t ev, uint32_t old,
                     uint32_t intid, uint16_t icid)
{
    struct vits_its *its = c->its;
    if (old)
        its_unmap_event(its, dev, ev);
    if (its->nr_events >= its->cfg.max_events) {
        GUEST(c, "%s: device 0x%x event %u: limit of %u events reached", c->who, dev->devid, ev,
              its->cfg.max_events);
        return err(cmd_num(c->dw), EE_INTID_OOR);
    }
    int target = coll_target(its, icid);
    int rc = lpi_map(its->d, intid, its->slot, icid, &its->coll[icid].lpis,
                     target < 0 ? LPI_NO_VCPU : (uint16_t)target);
    if (rc)
        return rc;
    rc = its_event_set(its, dev, ev, intid);
    if (rc)
        lpi_unmap(its->d, intid, &its->coll[icid].lpis);
    return rc;
}

/* MAPTI and MAPI: identical but for where the pINTID comes from. */
static int do_map_event(const struct cmd_ctx *c, uint32_t intid)
{
    struct vits_its *its = c->its;
    uint8_t cmd = cmd_num(c->dw);
    uint32_t devid = cmd_devid(c->dw), ev = cmd_eventid(c->dw);
    uint16_t icid = cmd_icid(c->dw);
    struct its_device *dev = its_dev_find(its, devid);
    if (!dev) {
        GUEST(c, "%s: device 0x%x is not mapped", c->who, devid);
        return err(cmd, EE_NO_DEVICE);
    }
    if (ev >> dev->event_bits) {
        GUEST(c, "%s: device 0x%x event %u beyond its %u-bit ITT", c->who, devid, ev,
              dev->event_bits);
        return err(cmd, EE_EVENT_OOR);
    }
    if (!lpi_intid_valid(its->d, intid)) {
        GUEST(c, "%s: device 0x%x event %u: pINTID %u is not an LPI of this VM", c->who, devid, ev,
              intid);
        return err(cmd, EE_INTID_OOR);
    }
    if (!coll_in_range(c, icid))
        return err(cmd, EE_COLL_OOR);
    uint32_t old = its_event_get(dev, ev);
    if (old != intid && lpi_find(its->d, intid)) {
        GUEST(c, "%s: device 0x%x event %u: pINTID %u is already mapped by another event", c->who,
              devid, ev, intid);
        return err(cmd, EE_INTID_OOR);
    }
    /* Mapping an unmapped event only adds to the maps: a reader finds the
     * event unmapped or fully mapped either way (see lpi/lpi.h), so only
     * a replacement is bracketed. */
    if (!old)
        return map_event(c, dev, ev, 0, intid, icid);
    its_map_begin(its);
    int rc = map_event(c, dev, ev, old, intid, icid);
    its_map_end(its);
    return rc;
}

static int do_mapti(const struct cmd_ctx *c) { return do_map_event(c, cmd_pintid(c->dw)); }

static int do_mapi(const struct cmd_ctx *c) { return do_map_event(c, cmd_eventid(c->dw)); }

static int do_int(const struct cmd_ctx *c)
{
    struct lpi_irq *irq;
    uint32_t intid;
    int rc = lookup_routed(c, &irq, &intid);
    if (rc)
        return rc;
    lpi_set_pending(c->its->d, intid);
    return 0;
}

static int do_clear(const struct cmd_ctx *c)
{
    struct lpi_irq *irq;
    uint32_t intid;
    int rc = lookup_routed(c, &irq, &intid);
    if (rc)
        return rc;
    lpi_clear_pending(c->its->d, intid);
    return 0;
}

static int do_inv(const struct cmd_ctx *c)
{
    struct lpi_irq *irq;
    uint32_t intid;
    int rc = lookup_routed(c, &irq, &intid);
    if (rc)
        return rc;
    lpi_refresh(c->its->d, intid);
    return 0;
}

static int do_discard(const struct cmd_ctx *c)
{
    struct its_device *dev;
    uint32_t intid;
    int rc = lookup_itte(c, &dev, &intid);
    if (rc)
        return rc;
    its_map_begin(c->its);
    its_unmap_event(c->its, dev, cmd_eventid(c->dw));
    its_map_end(c->its);
    return 0;
}

static int do_movi(const struct cmd_ctx *c)
{
    struct vits_its *its = c->its;
    struct lpi_irq *irq;
    uint32_t intid;
    int rc = lookup_routed(c, &irq, &intid);
    if (rc)
        return rc;
    uint16_t icid = cmd_icid(c->dw);
    if (!coll_in_range(c, icid))
        return VITS_E_MOVI_COLLECTION_OOR;
    int target = coll_target(its, icid);
    if (target < 0) {
        GUEST(c, "MOVI: collection %u is not mapped", icid);
        return VITS_E_MOVI_UNMAPPED_COLLECTION;
    }
    lpi_regroup(its->d, intid, &its->coll[lpi_cold(its->d, intid)->group].lpis, icid,
                &its->coll[icid].lpis);
    lpi_retarget(its->d, intid, (uint16_t)target);
    return 0;
}

static int do_invall(const struct cmd_ctx *c)
{
    uint16_t icid = cmd_icid(c->dw);
    if (!coll_in_range(c, icid))
        return VITS_E_INVALL_COLLECTION_OOR;
    int target = coll_target(c->its, icid);
    if (target < 0) {
        GUEST(c, "INVALL: collection %u is not mapped", icid);
        return VITS_E_INVALL_UNMAPPED_COLLECTION;
    }
    lpi_refresh_group(c->its->d, &c->its->coll[icid].lpis);
    return 0;
}

static int do_movall(const struct cmd_ctx *c)
{
    int from = rdbase_vcpu(c->its, cmd_rdbase(c->dw));
    int to = rdbase_vcpu(c->its, cmd_rdbase2(c->dw));
    if (from < 0 || to < 0) {
        GUEST(c, "MOVALL: RDbase 0x%llx or 0x%llx names no redistributor",
              (unsigned long long)cmd_rdbase(c->dw), (unsigned long long)cmd_rdbase2(c->dw));
        return VITS_E_MOVALL_PROCNUM_OOR;
    }
    lpi_retarget_all(c->its->d, (uint16_t)from, (uint16_t)to);
    return 0;
}

static int do_sync(const struct cmd_ctx *c)
{
    if (rdbase_vcpu(c->its, cmd_rdbase(c->dw)) < 0)
        GUEST(c, "SYNC: RDbase 0x%llx names no redistributor; ignored",
              (unsigned long long)cmd_rdbase(c->dw));
    return 0;
}

struct cmd_desc {
    const char *name;
    int (*handler)(const struct cmd_ctx *c);
};

static const struct cmd_desc commands[256] = {
    [0x01] = {"MOVI", do_movi},     [0x03] = {"INT", do_int},
    [0x04] = {"CLEAR", do_clear},   [0x05] = {"SYNC", do_sync},
    [0x08] = {"MAPD", do_mapd},     [0x09] = {"MAPC", do_mapc},
    [0x0a] = {"MAPTI", do_mapti},   [0x0b] = {"MAPI", do_mapi},
    [0x0c] = {"INV", do_inv},       [0x0d] = {"INVALL", do_invall},
    [0x0e] = {"MOVALL", do_movall}, [0x0f] = {"DISCARD", do_discard},
};

const char *its_command_name(uint8_t cmd) { return commands[cmd].name; }

int its_execute(struct vits_its *its, const uint64_t dw[4])
{
    const struct cmd_desc *desc = &commands[cmd_num(dw)];
    if (!desc->handler) {
        lpi_log(its->d, VITS_LOG_GUEST, "unknown command 0x%02x", cmd_num(dw));
        return (int)VITS_E_UNKNOWN_COMMAND(cmd_num(dw));
    }
    struct cmd_ctx c = {.its = its, .dw = dw, .who = desc->name};
    if (lpi_log_enabled(its->d, VITS_LOG_DEBUG))
        lpi_log(its->d, VITS_LOG_DEBUG, "%s %016llx %016llx %016llx %016llx", desc->name,
                (unsigned long long)dw[0], (unsigned long long)dw[1], (unsigned long long)dw[2],
                (unsigned long long)dw[3]);
    return desc->handler(&c);
}
