/* SPDX-License-Identifier: MIT */
/*
 * Internal state of one ITS. Locking: see lpi/lpi.h; everything here is
 * protected by the domain's lock, and every its_* function needs it.
 */
#ifndef VITS_ITS_H
#define VITS_ITS_H

#include <stdbool.h>
#include <stdint.h>

#include "../lpi/lpi.h"

/* Events of a device are kept in chunks of 64 INTIDs (0: unmapped). */
#define ITS_EV_SHIFT 6u
#define ITS_EV_CHUNK (1u << ITS_EV_SHIFT)

struct its_ev_chunk {
    uint32_t used;
    uint32_t intid[ITS_EV_CHUNK];
};

struct its_coll {
    uint32_t target; /* target vCPU + 1; 0: unmapped */
    uint32_t lpis;   /* head of the list of its LPIs (lpi_irq.glink) */
};

struct its_device {
    uint32_t devid;
    uint8_t event_bits; /* MAPD Size + 1: the ITT holds 2^event_bits events */
    uint64_t itt_addr;
    uint32_t nr_mapped; /* mapped events */
    uint32_t nr_dir;    /* entries of dir: ceil(2^event_bits / 64) */
    struct its_ev_chunk **dir;
};

/* Open-addressing hash of mapped devices by DeviceID (linear probing,
 * deletion by backward shift, so no tombstones). */
struct its_devslot {
    uint32_t devid;
    struct its_device *dev; /* NULL: empty slot */
};

struct its_devtab {
    uint32_t cap; /* power of two, or 0 */
    uint32_t count;
    struct its_devslot *slots;
};

struct vits_its {
    struct vits_domain *d;
    struct vits_its_config cfg;
    uint8_t slot; /* index in d->owners, the owner tag of its LPIs */

    /* registers */
    bool enabled;
    bool stalled;
    uint64_t cbaser;
    uint64_t cwriter; /* offset only */
    uint64_t creadr;  /* offset only */
    uint64_t baser[8];

    /* translation state */
    struct its_devtab devs;
    uint32_t nr_events;
    uint32_t nr_collections;
    struct its_coll *coll; /* 2^collection_id_bits entries */

    /* command queue */
    uint8_t *batch; /* cfg.max_batch commands */
    uint64_t commands;
    struct vits_cmd_error last_error;
    uint64_t errors;
};

/* ---- devices and events (its/devices.c) ---- */
struct its_device *its_dev_find(const struct vits_its *its, uint32_t devid);
/* Map a device (its ITT holds 2^event_bits events): 0 or -ENOMEM. */
int its_dev_add(struct vits_its *its, uint32_t devid, uint8_t event_bits, uint64_t itt_addr,
                struct its_device **out);
/* Unmap a device and every event it maps. */
void its_dev_remove(struct vits_its *its, struct its_device *dev);
void its_dev_remove_all(struct vits_its *its);

static inline uint32_t its_event_get(const struct its_device *dev, uint32_t ev)
{
    const struct its_ev_chunk *c = dev->dir[ev >> ITS_EV_SHIFT];
    return c ? c->intid[ev & (ITS_EV_CHUNK - 1)] : 0;
}

/* Unmap an event's LPI (it must be mapped) and forget the ITTE. */
void its_unmap_event(struct vits_its *its, struct its_device *dev, uint32_t ev);

/* Record ev -> intid in dev's ITT (ev unmapped, in range): 0 or -ENOMEM. */
int its_event_set(struct vits_its *its, struct its_device *dev, uint32_t ev, uint32_t intid);
/* Forget ev's ITTE (the LPI itself is unmapped by the caller). */
void its_event_clear(struct vits_its *its, struct its_device *dev, uint32_t ev);

/* ---- guest tables (its/tables.c) ---- */
enum { ITS_BASER_DEVICES = 0, ITS_BASER_COLLECTIONS = 1 };
/* Whether id fits the table of GITS_BASER<n>, reading a level-1 entry for
 * an indirect table; false, with a logged reason naming who, if not. */
bool its_table_has(struct vits_its *its, unsigned n, uint64_t id, const char *who);
uint64_t its_baser_sanitise(unsigned n, uint64_t val);

/* ---- command queue (its/queue.c) ---- */
void its_process_queue(struct vits_its *its);
uint64_t its_queue_size(const struct vits_its *its);

/* ---- commands (its/commands.c) ---- */
/* Execute one decoded command: 0, a positive architected error number, or
 * a negative errno for a host failure. */
int its_execute(struct vits_its *its, const uint64_t dw[4]);
/* Name of command number cmd, or NULL for an unknown one. */
const char *its_command_name(uint8_t cmd);

#endif /* VITS_ITS_H */
