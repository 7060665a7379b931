/* SPDX-License-Identifier: MIT */
/*
 * Internal state of one ITS. Locking: see lpi/lpi.h. The registers, the
 * queue, the collections' list heads and every writer-side counter are
 * the writer's (domain lock). What MSI translation reads without that
 * lock is atomic: enabled, map_seq, the device hash (its array pointer
 * and slots), each device's event directory and chunks, and the
 * collections' targets.
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
    uint32_t used; /* writer-only */
    atomic_uint intid[ITS_EV_CHUNK];
};

/* An ITT of at most 2^ITS_INLINE_BITS events is kept inline in its
 * device (one cache miss less per MSI); larger ones in 64-event chunks
 * that exist only while one of their events is mapped. */
#define ITS_INLINE_BITS 8u

struct its_device {
    uint32_t devid;     /* immutable */
    uint8_t event_bits; /* immutable: MAPD Size + 1, the ITT holds 2^event_bits events */
    uint64_t itt_addr;  /* immutable */
    uint32_t nr_mapped; /* writer-only: mapped events */
    /* Writer-only, mirrored into the device's hash slot: the linear run,
     * events 0 .. run_len - 1 mapped to run_base + event (see its_devslot). */
    uint32_t run_base, run_len;
    uint32_t nr_dir;          /* immutable: entries of dir, ceil(2^event_bits / 64) */
    struct its_devslot *slot; /* writer-only: its slot in the current hash array */
    /* Immutable: exactly one is set, pointing into this allocation. */
    atomic_uint *itt;                    /* inline ITT: INTID per event */
    _Atomic(struct its_ev_chunk *) *dir; /* chunked ITT */
};

struct its_coll {
    atomic_uint target; /* target vCPU + 1; 0: unmapped */
    uint32_t lpis;      /* writer-only: head of its LPIs' list (lpi_irq.glink) */
};

/*
 * Open-addressing hash of mapped devices by DeviceID (linear probing,
 * deletion by backward shift, so no tombstones).
 *
 * A slot also holds the device's linear run: guests such as Linux give a
 * device a contiguous block of LPIs and map event e to base + e, so the
 * events 0 .. len - 1 of most devices are mapped to base + event. An MSI
 * to an event of the run finds its INTID in the slot alone, without
 * reading the ITT: one cache miss less per MSI. The run only ever covers
 * mapped events whose ITTE says base + event (its_event_set and
 * its_event_clear keep it so); events beyond it go through the ITT.
 *
 * A reader may see the fields of two devices mixed while a writer moves
 * slots, so it uses them only after checking map_seq (its/translate.c).
 */
struct its_devslot {
    atomic_uint devid;
    atomic_uint event_bits;           /* the device's, so an MSI need not read it */
    _Atomic(struct its_device *) dev; /* NULL: empty */
    _Atomic uint64_t run;             /* run_base << 32 | run_len */
    uint64_t pad;                     /* 32 bytes: no slot straddles two cache lines */
};

struct its_devarray {
    uint32_t cap;                      /* power of two; immutable */
    struct its_devslot *slots;         /* in this allocation, 64-byte aligned */
    struct its_devarray *retired_next; /* writer-only: the next retired array */
};

/*
 * The device hash. Its arrays are never freed while the ITS lives: an
 * outgrown one is retired (kept, unused), so an MSI may read slots
 * without entering a read-side section (its/translate.c). An array is
 * retired only when a bigger one replaces it, so the retired ones hold
 * less than the current one; emptying the ITS (MAPD V=0 of every device,
 * a reset, a restore) keeps the current array for later devices.
 */
struct its_devtab {
    _Atomic(struct its_devarray *) arr; /* NULL until the first device */
    struct its_devarray *retired;       /* writer-only: outgrown arrays */
    uint32_t count;                     /* writer-only */
};

struct vits_route;

struct vits_its {
    struct vits_domain *d;
    struct vits_its_config cfg;
    uint8_t slot; /* index in d->owners, the owner tag of its LPIs */

    /* registers (writer) */
    atomic_bool enabled; /* read by MSI translation */
    bool stalled;
    uint64_t cbaser;
    uint64_t cwriter; /* offset only */
    uint64_t creadr;  /* offset only */
    uint64_t baser[8];
    /* its_table_has()'s memo: the IDs a flat table of GITS_BASER<n> =
     * baser holds (0 for any other table, and while baser differs from
     * the register's value, so every change of it misses). */
    struct {
        uint64_t baser;
        uint64_t flat_ids;
    } table_memo[2];

    /* translation state */
    atomic_uint map_lock;     /* spinlock: writer, per mapping change; readers' fallback */
    _Atomic uint64_t map_seq; /* odd while the device/event maps change */
    struct its_devtab devs;
    struct its_device *last_dev; /* writer-only: its_dev_find's cache (NULL: empty) */
    uint32_t nr_events;          /* writer-only */
    uint32_t nr_collections;     /* writer-only */
    struct its_coll *coll;       /* 2^collection_id_bits entries */
    struct vits_route *routes;   /* writer-only: live prepared routes */

    /* KVM table ABI (its/abi.c, writer): DeviceIDs below abi_dev_hwm may
     * have valid entries, written by a save or read by a restore, in the
     * device table that GITS_BASER0 = abi_dev_baser describes. */
    uint64_t abi_dev_baser;
    uint64_t abi_dev_hwm;

    /* command queue (writer) */
    uint8_t *batch; /* cfg.max_batch commands */
    uint64_t commands;
    struct vits_cmd_error last_error;
    uint64_t errors;
};

/* ---- devices and events (its/devices.c); writer unless said ---- */

/* Lock-free lookup (reader, in a read-side section or under map_lock);
 * *event_bits and *run (if not NULL) get the device's ITT size and
 * linear run from its slot. A reader outside map_lock must check map_seq
 * before it relies on them (see its_devslot). */
struct its_device *its_dev_lookup(const struct vits_its *its, uint32_t devid, uint32_t *event_bits,
                                  uint64_t *run);
/* The mapped device devid, or NULL. Writer: runs of commands for one
 * device find it in a one-entry cache. */
struct its_device *its_dev_find(struct vits_its *its, uint32_t devid);

/* The inline ITT of a device with event_bits <= ITS_INLINE_BITS: it
 * follows the device in its allocation. */
static inline atomic_uint *its_inline_itt(struct its_device *dev)
{
    return (atomic_uint *)(dev + 1);
}
/* Map a device (its ITT holds 2^event_bits events): 0 or -ENOMEM. */
int its_dev_add(struct vits_its *its, uint32_t devid, uint8_t event_bits, uint64_t itt_addr,
                struct its_device **out);
/* Unmap a device and every event it maps. */
void its_dev_remove(struct vits_its *its, struct its_device *dev);
/* Unmap every device (the hash array stays, empty). */
void its_dev_remove_all(struct vits_its *its);
/* Free the hash arrays, current and retired (ITS destruction, when no
 * MSI can reach the ITS any more). */
void its_dev_free_arrays(struct vits_its *its);

/* INTID of ev (in range) of dev, 0 if unmapped. Reader or writer. */
static inline uint32_t its_event_get(const struct its_device *dev, uint32_t ev)
{
    if (dev->itt)
        return atomic_load_explicit(&dev->itt[ev], memory_order_relaxed);
    const struct its_ev_chunk *c =
        atomic_load_explicit(&dev->dir[ev >> ITS_EV_SHIFT], memory_order_acquire);
    return c ? atomic_load_explicit(&c->intid[ev & (ITS_EV_CHUNK - 1)], memory_order_relaxed) : 0;
}

/* Record ev -> intid in dev's ITT (ev unmapped, in range): 0 or -ENOMEM. */
int its_event_set(struct vits_its *its, struct its_device *dev, uint32_t ev, uint32_t intid);
/* Forget ev's ITTE (the LPI itself is unmapped by the caller). */
void its_event_clear(struct vits_its *its, struct its_device *dev, uint32_t ev);
/* Unmap an event's LPI (it must be mapped) and forget the ITTE. */
void its_unmap_event(struct vits_its *its, struct its_device *dev, uint32_t ev);

/* Bracket a change to the device/event maps: takes map_lock and makes
 * map_seq odd; the end makes it even and releases map_lock. Writer. */
void its_map_begin(struct vits_its *its);
void its_map_end(struct vits_its *its);

/*
 * Devices built before they are published, so that a restore allocates
 * everything first and then cannot fail (its/stage.c). Writer.
 * its_dev_prebuild: an unpublished device, NULL on -ENOMEM.
 * its_dev_prebuild_event: the ITT chunk that ev will need: 0 or -ENOMEM.
 * its_dev_unbuild: free an unpublished device (NULL is accepted).
 * its_devarray_prebuild: an empty hash array for count devices, or NULL.
 * its_dev_install: inside its_map_begin/end, give an ITS that has no
 * device (after its_dev_remove_all) room for the prebuilt devices: arr
 * (may be NULL) becomes its hash array, or is freed when the current one
 * is as big.
 * its_dev_insert: inside its_map_begin/end, publish a prebuilt device in
 * it (room for it was made by its_devarray_prebuild); its events are then
 * set with its_event_set, which allocates nothing for a prebuilt chunk.
 */
struct its_device *its_dev_prebuild(struct vits_its *its, uint32_t devid, uint8_t event_bits,
                                    uint64_t itt_addr);
int its_dev_prebuild_event(struct vits_its *its, struct its_device *dev, uint32_t ev);
void its_dev_unbuild(struct vits_its *its, struct its_device *dev);
struct its_devarray *its_devarray_prebuild(struct vits_its *its, uint32_t count);
void its_devarray_unbuild(struct vits_its *its, struct its_devarray *arr);
void its_dev_install(struct vits_its *its, struct its_devarray *arr);
void its_dev_insert(struct vits_its *its, struct its_device *dev);

/* ---- guest tables (its/tables.c) ---- */
enum { ITS_BASER_DEVICES = 0, ITS_BASER_COLLECTIONS = 1 };
/* Whether id fits the table of GITS_BASER<n>, reading a level-1 entry for
 * an indirect table; false, with a logged reason naming who, if not.
 * its_table_check is the whole check; its_table_has answers the common
 * case (an ID within a flat table, which needs no guest memory) from a
 * memo of the register's last value. */
bool its_table_check(struct vits_its *its, unsigned n, uint64_t id, const char *who);
static inline bool its_table_has(struct vits_its *its, unsigned n, uint64_t id, const char *who)
{
    if (its->table_memo[n].baser == its->baser[n] && id < its->table_memo[n].flat_ids)
        return true;
    return its_table_check(its, n, id, who);
}
uint64_t its_baser_sanitise(unsigned n, uint64_t val);

/* What a GITS_BASER value describes (an invalid one: a table of 0 IDs). */
struct its_table_geo {
    bool valid, indirect;
    uint64_t pa;        /* the table, or its level-1 array */
    uint64_t bytes;     /* of the table or level-1 array: pages x page size */
    uint64_t page_size; /* 4, 16 or 64 KiB; also the level-2 page size */
    uint64_t per_page;  /* 8-byte entries per page */
    uint64_t ids;       /* IDs the table can index */
};
void its_table_geo(uint64_t baser, struct its_table_geo *g);
/* The level-2 page a valid level-1 entry points at. */
static inline uint64_t its_l2_page(uint64_t l1e, uint64_t page_size)
{
    return (lpi_bits(l1e, 51, 12) << 12) & ~(page_size - 1);
}

/* ---- registers (its/registers.c); writer ---- */
/* GITS_CBASER with the bits a guest write keeps. */
uint64_t its_cbaser_sanitise(uint64_t val);
/* A 64-bit guest write of the register at offset (its first byte). */
void its_reg_write(struct vits_its *its, uint64_t offset, uint64_t val);

/* ---- command queue (its/queue.c); writer ---- */
void its_process_queue(struct vits_its *its);
uint64_t its_queue_size(const struct vits_its *its);

/* ---- commands (its/commands.c); writer ---- */
/* Execute one decoded command: 0, a positive architected error number, or
 * a negative errno for a host failure. */
int its_execute(struct vits_its *its, const uint64_t dw[4]);
/* Name of command number cmd, or NULL for an unknown one. */
const char *its_command_name(uint8_t cmd);

/* ---- MSI translation (its/translate.c); no domain lock ---- */
/* Make the LPI of (devid, eventid) pending: 1, or 0 when blocked. */
int its_signal(struct vits_its *its, uint32_t devid, uint32_t eventid);
/* Prepared routes cache this many low bits of map_seq with their INTID. */
#define ITS_ROUTE_SEQ_BITS 40u
/* Forget what every route of its cached (before map_seq's low
 * ITS_ROUTE_SEQ_BITS wrap). Writer, inside its_map_begin/end. */
void its_routes_forget(struct vits_its *its);
/* Detach every route of an ITS being destroyed. Writer. */
void its_routes_detach(struct vits_its *its);

#endif /* VITS_ITS_H */
