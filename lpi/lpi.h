/* SPDX-License-Identifier: MIT */
/*
 * Internal interface of the LPI domain (lpi/), used by its/.
 *
 * Locking rules (the one place they are written down)
 * ---------------------------------------------------
 *
 * Writers. struct vits_domain.lock (a mutex) serialises everything that
 * changes state: MMIO on any ITS frame or redistributor of the domain,
 * command processing (held for a whole batch), ITS creation and
 * destruction, pending-table sync, save, restore and reset. Functions
 * below that say "writer" need it. The ops callbacks may run with it
 * held, so they must not call back into the library for the same domain.
 *
 * LPI state. The hot part of each LPI record (flags, vcpu, priority) is
 * guarded by a stripe lock, a spinlock chosen by the INTID's chunk of 64
 * (lpi_lock/lpi_unlock). Writers change a
 * record only under its stripe lock; MSI delivery, vits_lpi_ack and
 * vits_lpi_state read and change it under the stripe lock alone. The
 * raise and retract callbacks are always called under the LPI's stripe
 * lock, so for one LPI they are never concurrent and arrive in order;
 * for different LPIs they may come from different threads at once.
 * The cold part of a record (struct lpi_cold) and the list heads are
 * writer-only and need no stripe lock.
 *
 * Translation. MSIs translate (DeviceID, EventID) -> INTID without the
 * domain lock: an ITS's devices, their event chunks and the device hash
 * are published with atomic stores, and a reader validates what it read
 * against the ITS's map_seq, a sequence count that a writer makes odd
 * for the duration of each change to them (under its->map_lock). The
 * reader then takes the LPI's stripe lock and checks map_seq again, so
 * the mapping it used still held when the LPI became pending. A change
 * that only adds a mapping (MAPTI/MAPI of an unmapped event) leaves
 * map_seq alone: it maps the LPI under its stripe lock before it
 * publishes the ITTE (and the linear run that may now cover it) with
 * release stores, so a reader sees the event unmapped, or mapped to an
 * LPI it then finds mapped under the stripe lock; either is a state the
 * maps were in during its call. Nothing may therefore cache "unmapped"
 * against map_seq (prepared routes cache only INTIDs they found). A reader
 * that keeps losing the race takes its->map_lock, which a writer holds
 * for one command (or one device of a restore) at most, never for a
 * batch.
 *
 * Reclamation. Memory a lock-free reader may still be reading (devices,
 * event chunks) is not freed at once: writers hand it to
 * lpi_defer_free() and lpi_reclaim() frees it after a grace period, once
 * every reader that entered before it was unlinked has left (a reader
 * brackets its lookup with lpi_read_lock/lpi_read_unlock, two counters
 * per reader slot, as in SRCU). An ITS's device hash arrays are not
 * freed before the ITS is destroyed (an outgrown one is kept, see
 * struct its_devtab), so a reader that needs nothing but a hash slot
 * (an event of a device's linear run) needs no read-side section.
 *
 * Lock order: domain lock -> its->map_lock -> a stripe lock. Nothing is
 * taken while a stripe lock is held; a reader in a read-side section
 * never waits for the domain lock.
 *
 * Immutable after creation: the configuration, ops, opaque pointer,
 * the chunk pointer array and the redistributor array themselves.
 */
#ifndef VITS_LPI_H
#define VITS_LPI_H

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "vits.h"

#define LPI_FIRST 8192u
/* Marks "no vCPU": an LPI whose collection is not mapped. */
#define LPI_NO_VCPU 0xffffu
/* LPI records are allocated in chunks of this many consecutive INTIDs. */
#define LPI_CHUNK_SHIFT 6u
#define LPI_CHUNK (1u << LPI_CHUNK_SHIFT)
/* Most ITS instances per domain (an LPI names its owner in 8 bits). */
#define LPI_MAX_OWNERS 255u

/* lpi_irq.flags */
enum {
    LPI_F_MAPPED = 1u << 0,  /* an ITTE maps this INTID; only the writer changes it */
    LPI_F_ENABLED = 1u << 1, /* cached property: enable bit */
    LPI_F_PENDING = 1u << 2, /* pending on its vCPU */
    LPI_F_RAISED = 1u << 3,  /* handed to the injector on vcpu, not acked */
};

/* Links of a doubly linked list of LPI records, by INTID; 0 ends a list,
 * since no LPI has INTID 0. */
struct lpi_link {
    uint32_t prev;
    uint32_t next;
};

/*
 * The state of one LPI, in two parts. The hot part (4 bytes) is all that
 * MSI delivery and acknowledges touch; hot parts live in one flat array
 * indexed by INTID (4 bytes x 2^lpi_id_bits, allocated with the domain:
 * 256 KiB for 16 bits), so an MSI reaches its LPI in one direct index and
 * the hot parts of a million LPIs are 4 MiB of contiguous memory. The
 * cold part, in chunks of 64 INTIDs that exist only while one of them is
 * mapped, is the writer's: the
 * owner and group (the ITS and its collection ID), and the links of the
 * two lists each record is on: that of the vCPU it targets (or the
 * domain's "no target" list), for MOVALL and EnableLPIs changes, and its
 * group's (whose head the owner keeps), for MAPC and INVALL.
 *
 * flags is atomic because the writer reads LPI_F_MAPPED without the
 * stripe lock while MSI delivery changes the other bits under it; every
 * change is made under the stripe lock.
 */
struct lpi_irq {
    uint16_t vcpu;         /* target redistributor, or LPI_NO_VCPU */
    uint8_t priority;      /* cached property: priority (byte & 0xfc) */
    _Atomic uint8_t flags; /* LPI_F_* */
};

struct lpi_cold {
    struct lpi_link vlink; /* the target vCPU's list */
    struct lpi_link glink; /* the group's list */
    uint16_t group;        /* owner's grouping tag: the ITS's collection ID */
    uint8_t owner;         /* owner's number: the ITS slot in the domain */
};

struct lpi_chunk {
    uint32_t used; /* mapped records in this chunk */
    struct lpi_cold cold[LPI_CHUNK];
};

static inline uint8_t lpi_flags(const struct lpi_irq *irq)
{
    return atomic_load_explicit(&irq->flags, memory_order_relaxed);
}

/* Set and clear flag bits: needs the stripe lock. */
static inline void lpi_flags_change(struct lpi_irq *irq, uint8_t set, uint8_t clear)
{
    atomic_store_explicit(&irq->flags, (uint8_t)((lpi_flags(irq) | set) & ~clear),
                          memory_order_relaxed);
}

/* Redistributor LPI state of one vCPU (writer-only but enabled). */
struct lpi_redist {
    uint64_t propbaser;
    uint64_t pendbaser;  /* as written, PTZ included */
    atomic_bool enabled; /* GICR_CTLR.EnableLPIs; read by MSI delivery */
    uint32_t head;       /* first INTID of the LPIs targeting this vCPU */
    uint32_t count;      /* number of them */
};

struct lpi_ratelimit {
    uint64_t last_ns;
    uint64_t tokens_milli; /* tokens x 1000 */
    uint64_t suppressed;
};

/* A stripe lock, on its own cache line. */
struct lpi_spin {
    _Alignas(64) atomic_uint locked;
};

#define LPI_STRIPES 256u
/* Reader slots of the grace-period scheme; threads share them by index. */
#define LPI_READER_SLOTS 64u

struct lpi_reader_slot {
    _Alignas(64) atomic_uint active[2]; /* readers in each epoch parity */
};

/* Most allocations awaiting a grace period before a reclaim is forced. */
#define LPI_LIMBO 256u

struct lpi_limbo {
    void *p;
    size_t size;
};

/*
 * Property-table lines read during one command batch (lpi/props.c): a
 * small direct-mapped cache, so that a run of MAPTIs or an INVALL reads
 * the table in lines rather than one byte per LPI. Writer-only; empty
 * outside a batch.
 */
#define LPI_PROP_LINE 256u
#define LPI_PROP_LINES 4u

struct lpi_prop_line {
    uint64_t gpa; /* guest address of bytes[0] */
    uint32_t len; /* bytes held; 0: empty */
    bool bad;     /* the line at gpa was unreadable: read its bytes alone */
    uint8_t bytes[LPI_PROP_LINE];
};

struct lpi_prop_cache {
    bool active;    /* inside a command batch */
    unsigned shift; /* log2 of the bytes per line (max_access is fixed) */
    struct lpi_prop_line line[LPI_PROP_LINES];
    /* The line that served the last byte, for lpi_read_property()'s
     * inline check: the bytes of INTIDs [first, first + len) in vcpu's
     * table (len 0: none). */
    struct {
        uint16_t vcpu;
        uint32_t first, len;
        const uint8_t *bytes;
    } last;
};

struct vits_its;

struct vits_domain {
    pthread_mutex_t lock;
    struct vits_domain_config cfg;
    const struct vits_ops *ops;
    void *opaque;
    atomic_size_t mem; /* bytes allocated through lpi_alloc */

    uint32_t nr_chunks;        /* 2^lpi_id_bits / LPI_CHUNK */
    struct lpi_irq *hot;       /* 2^lpi_id_bits entries, indexed by INTID */
    struct lpi_chunk **chunks; /* cold parts; writer-only */
    uint32_t mapped;           /* mapped LPIs in the domain */

    struct lpi_redist *rd; /* nr_vcpus entries */
    uint32_t untargeted_head;

    /* ITSes by slot (NULL: free), read by vits_domain_signal_msi without
     * the lock; owners_end is one past the highest slot ever used. */
    _Atomic(struct vits_its *) owners[LPI_MAX_OWNERS];
    atomic_uint owners_end;
    uint32_t nr_owners; /* live ITSes; writer-only */
    uint32_t nr_routes; /* live routes; writer-only */

    struct lpi_ratelimit rl;

    /* Cache-line aligned arrays, carved from sync_mem (allocators only
     * promise max_align_t alignment). */
    void *sync_mem;
    struct lpi_spin *stripes;        /* LPI_STRIPES */
    struct lpi_reader_slot *readers; /* LPI_READER_SLOTS */
    atomic_uint epoch;
    struct lpi_limbo *limbo; /* LPI_LIMBO entries; writer-only */
    size_t nr_limbo;

    /* Guest memory: the largest access the embedder takes (ops version
     * >= 2; 0: any), and the property lines of the current batch. */
    size_t max_access;
    struct lpi_prop_cache props; /* writer-only */
};

/* ---- allocation (lpi/domain.c); no lock needed ---- */
void *lpi_alloc(struct vits_domain *d, size_t size); /* zeroed */
void *lpi_realloc(struct vits_domain *d, void *p, size_t old_size, size_t new_size);
void lpi_free(struct vits_domain *d, void *p, size_t size);

/* ---- locks and reclamation (lpi/sync.c) ---- */

/* A spinlock for short critical sections (it yields when it spins long). */
static inline void lpi_spin_lock(atomic_uint *l)
{
    unsigned spins = 0;
    while (atomic_exchange_explicit(l, 1, memory_order_acquire)) {
        while (atomic_load_explicit(l, memory_order_relaxed))
            if (++spins % 256 == 0)
                sched_yield();
    }
}

static inline void lpi_spin_unlock(atomic_uint *l)
{
    atomic_store_explicit(l, 0, memory_order_release);
}

/* The stripe lock that guards intid's record and chunk. */
static inline void lpi_lock(struct vits_domain *d, uint32_t intid)
{
    lpi_spin_lock(&d->stripes[(intid >> LPI_CHUNK_SHIFT) & (LPI_STRIPES - 1)].locked);
}

static inline void lpi_unlock(struct vits_domain *d, uint32_t intid)
{
    lpi_spin_unlock(&d->stripes[(intid >> LPI_CHUNK_SHIFT) & (LPI_STRIPES - 1)].locked);
}

/* Enter / leave a read-side section; the token goes to the unlock. */
unsigned lpi_read_lock(struct vits_domain *d);
void lpi_read_unlock(struct vits_domain *d, unsigned token);
/* Free p (size bytes) once no reader can hold it. Writer. */
void lpi_defer_free(struct vits_domain *d, void *p, size_t size);
/* Wait for a grace period and free what lpi_defer_free collected. Writer;
 * must not hold a stripe lock or be in a read-side section. */
void lpi_reclaim(struct vits_domain *d);

/* ---- logging (lpi/log.c); needs d->lock for VITS_LOG_GUEST ---- */
#if defined(__GNUC__)
#define LPI_PRINTF(a, b) __attribute__((format(printf, a, b)))
/* Keeps a rarer path's register saves out of its caller's fast path. */
#define LPI_NOINLINE __attribute__((noinline))
#else
#define LPI_PRINTF(a, b)
#define LPI_NOINLINE
#endif
void lpi_log(struct vits_domain *d, enum vits_log_level level, const char *fmt, ...)
    LPI_PRINTF(3, 4);
/* Whether messages of level (not VITS_LOG_GUEST, which is rate-limited)
 * reach the embedder: a hot path checks before it formats anything. */
static inline bool lpi_log_enabled(const struct vits_domain *d, enum vits_log_level level)
{
    return d->ops->log && level <= d->cfg.log_level;
}

/* ---- little-endian helpers ---- */
static inline uint64_t lpi_le64(const uint8_t *p)
{
    return (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 | (uint64_t)p[3] << 24 |
           (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 | (uint64_t)p[6] << 48 |
           (uint64_t)p[7] << 56;
}

static inline void lpi_put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint64_t lpi_bits(uint64_t v, unsigned hi, unsigned lo)
{
    return (v >> lo) & (hi - lo == 63 ? ~0ull : ((1ull << (hi - lo + 1)) - 1));
}

/* ---- LPI records (lpi/store.c) ---- */

/* Start fetching intid's hot record (an MSI knows the INTID a little
 * before it may read the record). Only a hint: intid need not be valid. */
static inline void lpi_prefetch(const struct vits_domain *d, uint32_t intid)
{
#if defined(__GNUC__)
    if (!(intid >> d->cfg.lpi_id_bits))
        __builtin_prefetch(&d->hot[intid], 1);
#else
    (void)d, (void)intid;
#endif
}

/* The record of a mapped INTID, or NULL. The caller holds intid's stripe
 * lock, or is the writer (only the writer changes what it returns). */
static inline struct lpi_irq *lpi_find(struct vits_domain *d, uint32_t intid)
{
    if (intid < LPI_FIRST || intid >> d->cfg.lpi_id_bits)
        return NULL;
    struct lpi_irq *irq = &d->hot[intid];
    return (lpi_flags(irq) & LPI_F_MAPPED) ? irq : NULL;
}

/* The cold part of a mapped INTID's record. Writer. */
static inline struct lpi_cold *lpi_cold(struct vits_domain *d, uint32_t intid)
{
    return &d->chunks[intid >> LPI_CHUNK_SHIFT]->cold[intid & (LPI_CHUNK - 1)];
}

/* Whether intid is in the domain's LPI range. */
static inline bool lpi_intid_valid(const struct vits_domain *d, uint64_t intid)
{
    return intid >= LPI_FIRST && intid < ((uint64_t)1 << d->cfg.lpi_id_bits);
}

/*
 * The functions below are for the writer; each takes the stripe lock of
 * the LPIs it changes.
 *
 * lpi_map: map intid for owner, in group (its number, and the head of its
 * list, which the owner keeps), targeting vcpu (or LPI_NO_VCPU), not
 * pending, and read its property byte. The INTID must be valid and
 * unmapped. Returns 0 or -ENOMEM.
 */
int lpi_map(struct vits_domain *d, uint32_t intid, uint8_t owner, uint16_t group,
            uint32_t *group_head, uint16_t vcpu);
/* As lpi_map, with the property byte given instead of read (restore). */
int lpi_map_prop(struct vits_domain *d, uint32_t intid, uint8_t owner, uint16_t group,
                 uint32_t *group_head, uint16_t vcpu, uint8_t prop);

/* Unmap intid, on the list at group_head: its pending state is dropped
 * (retracted if raised). */
void lpi_unmap(struct vits_domain *d, uint32_t intid, uint32_t *group_head);

/* Move intid from the group list at from_head to group (list at to_head). */
void lpi_regroup(struct vits_domain *d, uint32_t intid, uint32_t *from_head, uint16_t group,
                 uint32_t *to_head);

/* Move intid to vcpu (or LPI_NO_VCPU); pending state moves with it. */
void lpi_retarget(struct vits_domain *d, uint32_t intid, uint16_t vcpu);

/* Re-target every LPI of the group list at group_head to vcpu. Cost: the
 * group's LPIs. */
void lpi_retarget_group(struct vits_domain *d, uint32_t *group_head, uint16_t vcpu);

/* Re-target every LPI listed on vCPU from to vCPU to (MOVALL). */
void lpi_retarget_all(struct vits_domain *d, uint16_t from, uint16_t to);

/* Make intid pending (INT). Returns 1 if pending now, 0 when blocked. */
int lpi_set_pending(struct vits_domain *d, uint32_t intid);
/* Remove intid's pending state (CLEAR). */
void lpi_clear_pending(struct vits_domain *d, uint32_t intid);
/* Re-read the property byte of intid (INV). */
void lpi_refresh(struct vits_domain *d, uint32_t intid);
/* Re-read the property of every LPI of the group list (INVALL). */
void lpi_refresh_group(struct vits_domain *d, uint32_t *group_head);
/* Raise or retract every LPI targeting vcpu to match its state. */
void lpi_update_vcpu(struct vits_domain *d, uint16_t vcpu);

/* ---- pending state and the injector (lpi/pending.c) ----
 * The *_locked functions need intid's stripe lock. */

/* Make intid pending (an MSI or INT). Returns 1 if pending now, 0 when
 * blocked (no target vCPU or LPIs disabled there). */
int lpi_set_pending_locked(struct vits_domain *d, struct lpi_irq *irq, uint32_t intid);
/* Raise or retract intid to match its state. */
void lpi_update_locked(struct vits_domain *d, struct lpi_irq *irq, uint32_t intid);
/* Retract without changing state (before a move). */
void lpi_retract_locked(struct vits_domain *d, struct lpi_irq *irq, uint32_t intid);
/* Apply a property byte read from the table. */
void lpi_apply_property_locked(struct vits_domain *d, struct lpi_irq *irq, uint32_t intid,
                               uint8_t byte);

/* ---- guest memory (lpi/guestmem.c); no lock needed ---- */

/* read_mem / write_mem of len bytes at gpa, split into calls of at most
 * d->max_access bytes. Returns 0 or the first call's negative errno. */
int lpi_read_guest(struct vits_domain *d, uint64_t gpa, void *buf, size_t len);
int lpi_write_guest(struct vits_domain *d, uint64_t gpa, const void *buf, size_t len);

/* The most bytes, up to want, one call may move (want when no limit). */
static inline size_t lpi_access_cap(const struct vits_domain *d, size_t want)
{
    return d->max_access && d->max_access < want ? d->max_access : want;
}

/* ---- property table (lpi/props.c); writer ---- */

/* The property byte of intid for an LPI targeting vcpu (0: disabled).
 * lpi_read_property serves a run of INTIDs from the line it last used;
 * lpi_fetch_property is the whole lookup. */
uint8_t lpi_fetch_property(struct vits_domain *d, uint16_t vcpu, uint32_t intid);
static inline uint8_t lpi_read_property(struct vits_domain *d, uint16_t vcpu, uint32_t intid)
{
    if (vcpu == d->props.last.vcpu && intid - d->props.last.first < d->props.last.len)
        return d->props.last.bytes[intid - d->props.last.first];
    return lpi_fetch_property(d, vcpu, intid);
}
/* Size the lines for the domain's max_access (at creation). */
void lpi_props_init(struct vits_domain *d);
/* Bracket a command batch: inside, property bytes are read in lines
 * and kept until the batch ends. */
void lpi_props_batch_begin(struct vits_domain *d);
void lpi_props_batch_end(struct vits_domain *d);

/* ---- redistributors (lpi/redist.c); writer ---- */

/* The vCPU whose RD_base physical address is addr (PTA = 1), or -1. */
int lpi_vcpu_by_rdbase(const struct vits_domain *d, uint64_t addr);

/* Read the pending table of vcpu into pending state (EnableLPIs 0 -> 1). */
int lpi_load_pending(struct vits_domain *d, uint16_t vcpu);
/* Write pending state of the LPIs targeting vcpu into its pending table. */
int lpi_store_pending(struct vits_domain *d, uint16_t vcpu);

/* ---- save, restore and reset (lpi/redist.c, lpi/migrate.c); writer ---- */

/* Set or clear EnableLPIs of vcpu exactly as a guest's GICR_CTLR write. */
void lpi_redist_enable(struct vits_domain *d, uint16_t vcpu, bool enable);
/* PROPBASER / PENDBASER with the bits a guest write keeps. */
uint64_t lpi_propbaser_sanitise(uint64_t val);
uint64_t lpi_pendbaser_sanitise(uint64_t val);
/* INTID bits the pending table of vcpu covers (0: none), as the pending
 * table load and write-back see it. */
unsigned lpi_pending_bits(const struct vits_domain *d, uint16_t vcpu);

/* One cached block of a pending table, for reading many bits. */
struct lpi_pend_cache {
    uint64_t gpa; /* of buf[0] */
    uint32_t len; /* 0: empty */
    uint8_t buf[512];
};
/* Whether intid's bit is set in the pending table of vcpu: 1 or 0 (0 too
 * when vcpu has no pending table or it does not cover intid), or the
 * negative errno of an unreadable table (logged). */
int lpi_pending_bit(struct vits_domain *d, uint16_t vcpu, uint32_t intid,
                    struct lpi_pend_cache *cache);
/* Set or clear intid's bit in the pending table of vcpu (nothing when it
 * has none or it does not cover intid): 0 or a negative errno. */
int lpi_pending_bit_store(struct vits_domain *d, uint16_t vcpu, uint32_t intid, bool pending);

/* Keep the chunk of intid's record allocated until lpi_unreserve, so that
 * an lpi_map of intid cannot fail meanwhile: 0 or -ENOMEM. */
int lpi_reserve(struct vits_domain *d, uint32_t intid);
void lpi_unreserve(struct vits_domain *d, uint32_t intid);

/* ---- register helpers shared by the GICR and GITS frames ---- */

/* The size-byte window at byte offset off (0 or 4) of a 64-bit register. */
static inline uint64_t lpi_reg_read(uint64_t reg, unsigned off, unsigned size)
{
    if (size == 8)
        return reg;
    return (reg >> (8 * off)) & 0xffffffffull;
}

/* reg with the size-byte window at byte offset off replaced by val. */
static inline uint64_t lpi_reg_write(uint64_t reg, unsigned off, unsigned size, uint64_t val)
{
    if (size == 8)
        return val;
    uint64_t mask = 0xffffffffull << (8 * off);
    return (reg & ~mask) | ((val & 0xffffffffull) << (8 * off));
}
#endif /* VITS_LPI_H */
