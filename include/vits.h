/* SPDX-License-Identifier: MIT */
/*
 * vits: an emulation of the Arm GICv3 Interrupt Translation Service (ITS)
 * and of the LPI side of the redistributors, for hypervisors.
 *
 * An embedder creates one LPI domain per VM (struct vits_domain) with an
 * ops table that reaches guest memory and the vGIC, then attaches one or
 * more ITS instances (struct vits_its) to it. The guest's MMIO accesses
 * to the ITS frame and to the redistributors' LPI registers are forwarded
 * to vits_its_mmio_read/write and vits_gicr_mmio_read/write; devices
 * signal MSIs with vits_its_signal_msi(); the vGIC acknowledges the LPIs
 * it took with vits_lpi_ack().
 *
 * Conventions: every function returns 0 (or a documented positive value)
 * on success and a negative errno on failure; vits_strerror() names them.
 * No function keeps a pointer to caller memory past its return unless it
 * says so. The header is plain C11.
 *
 * Threads: every call may come from any thread. Calls that change state
 * (MMIO, command processing, creation) take the domain's lock; MSI
 * injection, acknowledges and state queries do not (see "MSI injection"
 * below). The ops callbacks must not call back into vits for the same
 * domain; see docs/embedding.md.
 */
#ifndef VITS_H
#define VITS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VITS_VERSION_MAJOR 0
#define VITS_VERSION_MINOR 1
#define VITS_VERSION_PATCH 0
#define VITS_VERSION_STRING "0.1.0"

/* The library's version as MAJOR << 16 | MINOR << 8 | PATCH. */
unsigned vits_version(void);

struct vits_domain;
struct vits_its;

/* ------------------------------------------------------------------ */
/* The embedder's side                                                 */
/* ------------------------------------------------------------------ */

/* Kinds of message given to the log callback. */
enum vits_log_level {
    VITS_LOG_ERROR = 0, /* a host-side failure (memory callback, allocation) */
    VITS_LOG_GUEST = 1, /* the guest did something wrong (rate-limited) */
    VITS_LOG_INFO = 2,  /* state changes worth knowing about */
    VITS_LOG_DEBUG = 3, /* every command processed */
};

#define VITS_OPS_VERSION 2

/*
 * The ops table, given once at domain creation together with an opaque
 * pointer that every callback receives first. It must stay valid until
 * the domain is destroyed. New callbacks are only ever added at the end,
 * with a new VITS_OPS_VERSION. Tables of every earlier version are still
 * accepted: vits reads no member beyond the version a table says.
 */
struct vits_ops {
    /* VITS_OPS_VERSION when the embedder was built. Required. */
    uint32_t version;

    /*
     * Read len bytes of guest physical memory at gpa into buf. Return 0,
     * or a negative errno (e.g. -EFAULT for an unmapped address, -EIO for
     * a failed transfer); on failure the contents of buf are ignored.
     * Required.
     */
    int (*read_mem)(void *opaque, uint64_t gpa, void *buf, size_t len);

    /* Write len bytes to guest physical memory at gpa. Same results as
     * read_mem. Required. */
    int (*write_mem)(void *opaque, uint64_t gpa, const void *buf, size_t len);

    /*
     * The injector: LPI intid is pending, enabled, and vcpu has LPIs
     * enabled; present it to the vCPU with the given priority (lower is
     * more urgent; bits [1:0] are zero). vits calls this once per LPI
     * until the LPI is acknowledged (vits_lpi_ack) or retracted. Return 0,
     * or a negative errno if the LPI could not be queued: it then stays
     * pending and is offered again at its next state change. Called from
     * any thread that signals an MSI or runs commands; for different LPIs
     * possibly at the same time, for one LPI never. Required.
     */
    int (*raise)(void *opaque, uint32_t vcpu, uint32_t intid, uint8_t priority);

    /*
     * An LPI raised on vcpu is no longer to be presented there: it was
     * cleared, discarded, disabled, moved to another vCPU (a raise on the
     * new vCPU follows), or LPIs were disabled on vcpu. The embedder pulls
     * it out of its list registers. Same threading as raise, and ordered
     * with it for each LPI. Optional (NULL: not told).
     */
    void (*retract)(void *opaque, uint32_t vcpu, uint32_t intid);

    /*
     * A log message, one line without a trailing newline, already
     * formatted. Guest errors are rate-limited before they get here. May
     * be called from any thread. Optional (NULL: no logging).
     */
    void (*log)(void *opaque, enum vits_log_level level, const char *msg);

    /*
     * Allocator in the style of Lua's lua_Alloc: with new_size 0, free ptr
     * (of old_size bytes) and return NULL; otherwise resize ptr (NULL for
     * a new block) from old_size to new_size bytes and return the block,
     * or NULL on failure (ptr is then untouched). Memory returned must be
     * suitably aligned for any object. Optional (NULL: malloc/realloc/free).
     */
    void *(*alloc)(void *opaque, void *ptr, size_t old_size, size_t new_size);

    /* ---- version 2 ---- */

    /*
     * The largest number of bytes one read_mem or write_mem call may
     * move, for transports that carry guest memory in messages of a
     * bounded size (0: no limit). Every access vits makes honours it:
     * command-queue runs, level-1 table entries, property-table lines,
     * pending-table runs; larger ones are split. Read only when version
     * is 2 or more (a version 1 table means no limit).
     */
    size_t max_access;
};

/* Geometry and limits of an LPI domain (one VM). */
struct vits_domain_config {
    /* Number of vCPUs, each with one redistributor. 1..4096. */
    uint32_t nr_vcpus;
    /*
     * Number of INTID bits of the LPI space, 14..24: LPIs run from 8192
     * to 2^lpi_id_bits - 1. Default 16.
     */
    uint32_t lpi_id_bits;
    /*
     * Guest physical address of vCPU 0's redistributor (RD_base) and the
     * distance between consecutive redistributors. Used only by ITSes with
     * PTA = 1, where commands name redistributors by address. The base
     * must be 64 KiB aligned; the stride defaults to 0x20000 (GICv3).
     */
    uint64_t redist_base;
    uint64_t redist_stride;
    /* Most guest-error messages logged per second, and the burst allowed
     * above that rate. Defaults: 10 per second, burst 50. */
    uint32_t log_rate;
    uint32_t log_burst;
    /* Most verbose level passed to the log callback. Default VITS_LOG_INFO. */
    enum vits_log_level log_level;
};

/* Fill cfg with defaults for nr_vcpus vCPUs. */
void vits_domain_config_init(struct vits_domain_config *cfg, uint32_t nr_vcpus);

/* What the ITS does when a command fails. */
enum vits_error_policy {
    /* Skip the failing command and go on with the next one (KVM's way). */
    VITS_ERRORS_CONTINUE = 0,
    /*
     * Stop: GITS_CREADR keeps pointing at the failing command and reads
     * with Stalled = 1, until the guest writes GITS_CWRITER: with Retry = 1
     * the command is tried again, without it the command is skipped.
     */
    VITS_ERRORS_STALL = 1,
};

/* Geometry, behaviour and limits of one ITS. */
struct vits_its_config {
    /* Guest physical base of the ITS frame (64 KiB aligned); its MSI
     * doorbell, GITS_TRANSLATER, is at base + 0x10040. */
    uint64_t base;
    /* DeviceID bits, 1..32. Default 16. */
    uint32_t device_id_bits;
    /* EventID bits, 1..16. Default 16. */
    uint32_t event_id_bits;
    /* Collection ID bits, 1..16. Default 16. */
    uint32_t collection_id_bits;
    /* GITS_TYPER.PTA: 0, commands name a redistributor by processor
     * number; 1, by its physical address. Default 0. */
    uint32_t pta;
    /* Command-error policy. Default VITS_ERRORS_CONTINUE. */
    enum vits_error_policy error_policy;
    /* GITS_IIDR.Revision, 0..15. Default 0. */
    uint32_t iidr_revision;
    /*
     * Resource limits. Whatever the guest does, this ITS holds at most
     * max_devices mapped devices, max_events mapped events (ITTEs) and
     * max_collections mapped collections; a command that would go beyond
     * fails with the matching out-of-range error (see docs/errors.md).
     * Defaults: 4096 devices, 65536 events, 4096 collections.
     */
    uint32_t max_devices;
    uint32_t max_events;
    uint32_t max_collections;
    /* Most commands read from guest memory in one read_mem call, at least
     * 1 (fewer when ops->max_access says so). Default 64 (2 KiB). */
    uint32_t max_batch;
};

/* Fill cfg with defaults, base 0x08080000. */
void vits_its_config_init(struct vits_its_config *cfg);

/* ------------------------------------------------------------------ */
/* Errors                                                              */
/* ------------------------------------------------------------------ */

/*
 * ITS command error numbers, 0x01CCEE: CC is the command number (CLEAR,
 * 0x04, uses 0x05), EE the kind of failure. They are what
 * vits_its_last_error() reports and what a guest would see in a
 * command-error report. docs/errors.md lists when each is raised.
 */
enum vits_cmd_errno {
    VITS_E_MOVI_COLLECTION_OOR = 0x010103,
    VITS_E_MOVI_UNMAPPED_DEVICE = 0x010104,
    VITS_E_MOVI_EVENT_OOR = 0x010105,
    VITS_E_MOVI_UNMAPPED_INTERRUPT = 0x010107,
    VITS_E_MOVI_UNMAPPED_COLLECTION = 0x010109,
    VITS_E_INT_UNMAPPED_DEVICE = 0x010304,
    VITS_E_INT_EVENT_OOR = 0x010305,
    VITS_E_INT_UNMAPPED_INTERRUPT = 0x010307,
    VITS_E_INT_UNMAPPED_COLLECTION = 0x010309,
    VITS_E_CLEAR_UNMAPPED_DEVICE = 0x010504,
    VITS_E_CLEAR_EVENT_OOR = 0x010505,
    VITS_E_CLEAR_UNMAPPED_INTERRUPT = 0x010507,
    VITS_E_CLEAR_UNMAPPED_COLLECTION = 0x010509,
    VITS_E_MAPD_DEVICE_OOR = 0x010801,
    VITS_E_MAPD_ITTSIZE_OOR = 0x010802,
    VITS_E_MAPC_PROCNUM_OOR = 0x010902,
    VITS_E_MAPC_COLLECTION_OOR = 0x010903,
    VITS_E_MAPTI_COLLECTION_OOR = 0x010a03,
    VITS_E_MAPTI_UNMAPPED_DEVICE = 0x010a04,
    VITS_E_MAPTI_ID_OOR = 0x010a05,
    VITS_E_MAPTI_PHYSICALID_OOR = 0x010a06,
    VITS_E_MAPI_COLLECTION_OOR = 0x010b03,
    VITS_E_MAPI_UNMAPPED_DEVICE = 0x010b04,
    VITS_E_MAPI_ID_OOR = 0x010b05,
    VITS_E_MAPI_PHYSICALID_OOR = 0x010b06,
    VITS_E_INV_UNMAPPED_DEVICE = 0x010c04,
    VITS_E_INV_EVENT_OOR = 0x010c05,
    VITS_E_INV_UNMAPPED_INTERRUPT = 0x010c07,
    VITS_E_INV_UNMAPPED_COLLECTION = 0x010c09,
    VITS_E_INVALL_COLLECTION_OOR = 0x010d03,
    VITS_E_INVALL_UNMAPPED_COLLECTION = 0x010d09,
    VITS_E_MOVALL_PROCNUM_OOR = 0x010e01,
    VITS_E_DISCARD_UNMAPPED_DEVICE = 0x010f04,
    VITS_E_DISCARD_EVENT_OOR = 0x010f05,
    VITS_E_DISCARD_UNMAPPED_INTERRUPT = 0x010f07,
};

/* The error number for an unknown or unsupported command number cmd
 * (IMPLEMENTATION DEFINED: the architecture leaves it open). */
#define VITS_E_UNKNOWN_COMMAND(cmd) (0x0100ffu | ((unsigned)(cmd)&0xffu) << 8)

/* A short description of a negative errno returned by vits, or of a
 * positive ITS command error number (0x01CCEE); never NULL. */
const char *vits_strerror(int err);

/* ------------------------------------------------------------------ */
/* The LPI domain                                                      */
/* ------------------------------------------------------------------ */

/*
 * Create the LPI domain of one VM. cfg and ops are checked: unknown
 * ops->version, a missing required callback, or a value out of the
 * documented range fails. ops must outlive the domain; cfg is copied.
 *
 * Returns 0 and sets *out, or (with *out set to NULL when out is not NULL):
 *   -EINVAL  a NULL argument, a bad ops table or configuration;
 *   -ENOMEM  allocation failed.
 */
int vits_domain_create(const struct vits_domain_config *cfg, const struct vits_ops *ops,
                       void *opaque, struct vits_domain **out);

/*
 * Destroy a domain. Every ITS and every route of it must have been
 * destroyed first; otherwise nothing is freed and -EBUSY is returned. d
 * may be NULL.
 *
 * Returns 0, or -EBUSY.
 */
int vits_domain_destroy(struct vits_domain *d);

/* The opaque pointer given at creation (NULL for a NULL domain). */
void *vits_domain_opaque(const struct vits_domain *d);

/* Bytes of host memory the domain and its ITSes hold now, as counted by
 * the library's allocation wrapper (0 for a NULL domain). */
size_t vits_domain_memory(const struct vits_domain *d);

/*
 * Guest MMIO access to the RD_base frame of vcpu's redistributor. Only
 * the LPI registers are served: GICR_CTLR (0x0: EnableLPIs), GICR_TYPER
 * (0x8, read-only: PLPIS, Last, Processor_Number and a default affinity
 * derived from the vCPU number), GICR_PROPBASER (0x70) and GICR_PENDBASER
 * (0x78). size is 4 or 8; 64-bit registers may be accessed as 32-bit
 * halves. Setting EnableLPIs loads the pending table (unless PTZ was
 * written); clearing it writes pending state back and retracts the
 * vCPU's raised LPIs.
 *
 * Returns 0 (reads set *val), or:
 *   -EINVAL  NULL argument, vcpu out of range, size not 4 or 8, or an
 *            offset not aligned to size;
 *   -ENOENT  the offset is not one of these registers: the embedder's
 *            vGIC serves it.
 */
int vits_gicr_mmio_read(struct vits_domain *d, uint32_t vcpu, uint64_t offset, unsigned size,
                        uint64_t *val);
int vits_gicr_mmio_write(struct vits_domain *d, uint32_t vcpu, uint64_t offset, unsigned size,
                         uint64_t val);

/*
 * The vGIC took LPI intid on vcpu (the guest acknowledged it): its
 * pending state clears. Only an LPI vits raised on that vCPU, and did not
 * retract, can be acknowledged.
 *
 * Returns 0, or:
 *   -EINVAL  NULL domain or vcpu out of range;
 *   -ENOENT  intid is not raised on vcpu.
 */
int vits_lpi_ack(struct vits_domain *d, uint32_t vcpu, uint32_t intid);

/*
 * Write the pending state of every mapped LPI into the pending table of
 * the redistributor it is routed to (for vCPUs whose GICR_PENDBASER is
 * set), as a save for migration needs. Bits of other INTIDs are left as
 * they are in guest memory.
 *
 * Returns 0, or:
 *   -EINVAL  NULL domain;
 *   a negative errno from read_mem/write_mem (the first one seen; the
 *            other vCPUs' tables are still written).
 */
int vits_domain_sync_pending(struct vits_domain *d);

/* Whether intid is pending (1) or not (0) in the domain's state, and on
 * which vCPU (*vcpu, may be NULL; UINT32_MAX when the LPI has no target).
 * Returns -EINVAL for a NULL domain and -ENOENT for an INTID no ITS maps. */
int vits_lpi_state(struct vits_domain *d, uint32_t intid, uint32_t *vcpu);

/* ------------------------------------------------------------------ */
/* ITS instances                                                       */
/* ------------------------------------------------------------------ */

/*
 * Create an ITS attached to domain d, in its reset state (disabled,
 * quiescent, no tables). Several ITSes may share one domain; their frames
 * must not overlap. cfg is copied.
 *
 * Returns 0 and sets *out, or (with *out set to NULL when out is not NULL):
 *   -EINVAL  NULL argument, or a configuration value out of range;
 *   -EEXIST  another ITS of d has an overlapping frame;
 *   -ENOSPC  d already has 255 ITSes;
 *   -ENOMEM  allocation failed.
 */
int vits_its_create(struct vits_domain *d, const struct vits_its_config *cfg,
                    struct vits_its **out);

/* Destroy an ITS: all its mappings are dropped (their LPIs retracted)
 * and its memory freed. its may be NULL. */
void vits_its_destroy(struct vits_its *its);

/* The domain an ITS belongs to. */
struct vits_domain *vits_its_domain(const struct vits_its *its);

/* Size of the ITS frame an embedder forwards to vits_its_mmio_*: the
 * control page and the translation page. */
#define VITS_ITS_FRAME_SIZE 0x20000u
/* Offset of GITS_TRANSLATER in the frame. */
#define VITS_GITS_TRANSLATER 0x10040u

/*
 * Guest MMIO access at offset inside the ITS frame. size is 4 or 8 and
 * offset aligned to it (GITS_TRANSLATER also takes 2). 64-bit registers
 * may be accessed as 32-bit halves; a 64-bit access to a 32-bit register
 * reads as zero and is ignored (a guest error, logged). Reserved offsets
 * read as zero and ignore writes. A write to GITS_CWRITER (or one that
 * enables the ITS) processes the command queue before returning. A
 * write to GITS_TRANSLATER through this call carries no DeviceID and is
 * ignored; devices signal with vits_its_signal_msi().
 *
 * Returns 0 (reads set *val), or:
 *   -EINVAL  NULL argument, bad size or alignment, or offset outside
 *            the frame.
 */
int vits_its_mmio_read(struct vits_its *its, uint64_t offset, unsigned size, uint64_t *val);
int vits_its_mmio_write(struct vits_its *its, uint64_t offset, unsigned size, uint64_t val);

/*
 * As vits_its_mmio_write, for an access that carries the requester's
 * DeviceID (the sideband a real ITS gets with every write): a 2- or
 * 4-byte write to GITS_TRANSLATER signals an MSI with EventID val from
 * device devid, exactly as vits_its_signal_msi(its, devid, val) would.
 * Any other access is handled as by vits_its_mmio_write.
 *
 * Returns 0, or -EINVAL as vits_its_mmio_write.
 */
int vits_its_mmio_write_devid(struct vits_its *its, uint64_t offset, unsigned size, uint64_t val,
                              uint32_t devid);

/* ------------------------------------------------------------------ */
/* MSI injection                                                       */
/* ------------------------------------------------------------------ */

/*
 * MSIs may be signalled from any number of threads at once, concurrently
 * with each other, with MMIO and with command processing: translation
 * does not take the domain lock, so it never waits for a command batch.
 * An MSI is delivered according to a mapping that held at some moment
 * during the call; the guest's latest mapping always wins. The raise and
 * retract callbacks may therefore run on the signalling threads, for
 * different LPIs at the same time (never for the same LPI at once). An
 * ITS must not be destroyed while an MSI call may reach it.
 */

/*
 * An MSI from device devid with EventID eventid, as if written to this
 * ITS's GITS_TRANSLATER.
 *
 * Returns 1 when the LPI was made pending (or already was), 0 when the
 * guest's state blocked it (ITS disabled, device, event or collection
 * unmapped, LPIs disabled on the target vCPU), or -EINVAL for a NULL ITS.
 */
int vits_its_signal_msi(struct vits_its *its, uint32_t devid, uint32_t eventid);

/* vits_msi.flags: devid is valid (required, as KVM requires it once a VM
 * has an ITS). */
#define VITS_MSI_VALID_DEVID (1u << 0)

/* A KVM_SIGNAL_MSI-style request. */
struct vits_msi {
    uint64_t address; /* the doorbell: an ITS's base + VITS_GITS_TRANSLATER */
    uint32_t data;    /* the EventID */
    uint32_t devid;   /* the requester's DeviceID */
    uint32_t flags;   /* VITS_MSI_VALID_DEVID */
};

/*
 * Signal an MSI the way KVM_SIGNAL_MSI does: the doorbell address selects
 * the ITS among those of domain d, data is the EventID. A disabled ITS or
 * a vCPU with LPIs disabled count as "blocked" (0), where KVM says -EBUSY.
 *
 * Returns 1 when the LPI was made pending (or already was), 0 when the
 * guest's state blocked it, or:
 *   -EINVAL  NULL argument, VITS_MSI_VALID_DEVID missing, unknown flags;
 *   -ENODEV  no ITS of d has its GITS_TRANSLATER at msi->address.
 */
int vits_domain_signal_msi(struct vits_domain *d, const struct vits_msi *msi);

/*
 * A prepared route, the irqfd-style fast path: resolve (ITS, DeviceID,
 * EventID) once, then fire it many times. A route caches its translation
 * and revalidates it on every fire, so a later MAPD, MAPTI, MAPI, DISCARD,
 * MOVI or MAPC never makes it deliver to a stale LPI or vCPU. Routes may
 * be fired from any thread, concurrently.
 */
struct vits_route;

/*
 * Create a route for (devid, eventid) on its. The guest need not have
 * mapped them yet. Routes belong to the domain: destroy them before it.
 *
 * Returns 0 and sets *out (NULL on failure), or -EINVAL (NULL argument),
 * -ENOMEM.
 */
int vits_route_create(struct vits_its *its, uint32_t devid, uint32_t eventid,
                      struct vits_route **out);

/*
 * Signal the route's MSI.
 *
 * Returns 1 when the LPI was made pending (or already was), 0 when the
 * guest's state blocked it, -EINVAL for a NULL route, -ENODEV when its
 * ITS was destroyed.
 */
int vits_route_fire(struct vits_route *r);

/* Destroy a route (NULL is accepted). It must not be firing. */
void vits_route_destroy(struct vits_route *r);

/* The last command error of an ITS. */
struct vits_cmd_error {
    /* Architected error number 0x01CCEE, or 0 when the command could not
     * be processed for a host reason (host_errno then says which). */
    uint32_t code;
    /* Negative errno of a host failure (a failed read_mem, allocation),
     * or 0. */
    int host_errno;
    /* Offset of the command in the queue, and its four words (zero when
     * the command could not be read). */
    uint64_t offset;
    uint64_t cmd[4];
};

/*
 * Copy the last command error into *err, and the number of command errors
 * since creation into *count (either may be NULL).
 *
 * Returns 1 when there was an error, 0 when there was none (*err zeroed),
 * or -EINVAL for a NULL ITS.
 */
int vits_its_last_error(const struct vits_its *its, struct vits_cmd_error *err, uint64_t *count);

/* Number of commands this ITS has processed (successfully or not). */
uint64_t vits_its_commands(const struct vits_its *its);

/* ------------------------------------------------------------------ */
/* MMIO requests: serving trapped accesses outside the hypervisor      */
/* ------------------------------------------------------------------ */

/*
 * For device models that get the guest's MMIO accesses as I/O requests
 * (Xen's ioreq servers, ACRN's I/O request slots, a vfio-user server)
 * rather than as calls from a trap handler. One request is one access,
 * named by its guest physical address; vits routes it to the ITS frame
 * of the domain that holds it or to a vCPU's redistributor. Every field
 * has a fixed size, so the struct can live in memory shared with a
 * hypervisor (40 bytes, no padding; fields in the host's byte order).
 */

/* vits_ioreq.dir */
#define VITS_IOREQ_READ 0u
#define VITS_IOREQ_WRITE 1u
/* vits_ioreq.flags: devid holds the requester's DeviceID. */
#define VITS_IOREQ_F_DEVID (1u << 0)

struct vits_ioreq {
    uint64_t addr;  /* guest physical address of the access */
    uint64_t data;  /* write: the value written; read: set to the value read */
    uint32_t size;  /* bytes: 4 or 8 (2 for GITS_TRANSLATER) */
    uint32_t dir;   /* VITS_IOREQ_READ or VITS_IOREQ_WRITE */
    uint32_t vcpu;  /* the vCPU that made the access */
    uint32_t devid; /* with VITS_IOREQ_F_DEVID: the DeviceID of a write to
                     * GITS_TRANSLATER (the sideband a real ITS gets) */
    uint32_t flags; /* VITS_IOREQ_F_* */
    int32_t result; /* set by vits: what vits_ioreq_serve returned */
};

/*
 * Serve one request. Where it goes:
 *  - [base, base + VITS_ITS_FRAME_SIZE) of an ITS of d: as
 *    vits_its_mmio_read/write at addr - base; a write to GITS_TRANSLATER
 *    with VITS_IOREQ_F_DEVID signals an MSI from devid (as
 *    vits_its_mmio_write_devid), without it is ignored (logged);
 *  - the RD_base frame (64 KiB) of vCPU v's redistributor, at
 *    cfg.redist_base + v * cfg.redist_stride: as vits_gicr_mmio_read/write;
 *  - anything else: -ENODEV.
 * Write data is truncated to size bytes. A read sets data (0 on every
 * failure). The result is also stored in req->result. Rejected requests
 * are logged (VITS_LOG_GUEST, rate-limited). Takes the domain lock, like
 * the MMIO calls it stands for; a write to GITS_TRANSLATER does not.
 *
 * Returns 0, or:
 *   -EINVAL  NULL argument, dir or flags unknown, vcpu out of range, a
 *            size the register does not take (1, 3, ...), an address not
 *            aligned to size;
 *   -ENOENT  a redistributor register that vits does not serve (not an
 *            LPI register): the embedder's vGIC serves it;
 *   -ENODEV  no ITS frame or RD_base frame of d holds addr.
 */
int vits_ioreq_serve(struct vits_domain *d, struct vits_ioreq *req);

/*
 * A request slot, one per vCPU, in an array the hypervisor and the
 * device model share (48 bytes, no padding). state moves
 *
 *   FREE --hypervisor--> PENDING --vits--> PROCESSING --vits--> COMPLETE
 *   COMPLETE --hypervisor--> FREE
 *
 * Ownership and memory order (the contract whatever the transport):
 *  - the hypervisor owns a FREE or COMPLETE slot, vits a PROCESSING one;
 *    nobody writes req of a slot that is PENDING except to take it;
 *  - the hypervisor writes req, then sets state to PENDING with a
 *    release store (a write barrier, then an aligned 32-bit store);
 *  - vits reads state with acquire loads and takes a PENDING slot with a
 *    compare-and-swap to PROCESSING, so several threads may serve one
 *    array and the hypervisor may withdraw a request with a
 *    compare-and-swap PENDING -> FREE; it copies req once, so what it
 *    checks is what it serves; it writes data and result, sets COMPLETE
 *    with a release store, then calls notify;
 *  - the hypervisor sees COMPLETE with an acquire load, reads data and
 *    result, and sets FREE.
 * state is a plain uint32_t so that the layout is the same in C, C++
 * and in another process; it must only be accessed atomically.
 * vits_ioreq_submit and vits_ioreq_collect are the hypervisor's side of
 * this contract, for embedders that keep the slots in their own process.
 */
enum vits_ioreq_state {
    VITS_IOREQ_FREE = 0,
    VITS_IOREQ_PENDING = 1,
    VITS_IOREQ_PROCESSING = 2,
    VITS_IOREQ_COMPLETE = 3,
};

struct vits_ioreq_slot {
    uint32_t state;    /* enum vits_ioreq_state; atomic accesses only */
    uint32_t reserved; /* ignored; zero */
    struct vits_ioreq req;
};

/*
 * Serve the PENDING slots of an array of nr slots, slot i being vCPU i's
 * (req.vcpu must be i): each is marked PROCESSING, served as by
 * vits_ioreq_serve, marked COMPLETE, and then notify(opaque, i) is called
 * (notify may be NULL). FREE, PROCESSING and COMPLETE slots are left
 * alone. A slot whose state is none of the four is completed with result
 * -EPROTO (logged), so a corrupted slot does not stay stuck. Slots are
 * visited once, in order.
 *
 * Returns the number of slots completed (served or rejected), or -EINVAL
 * for a NULL d, or NULL slots with nr > 0.
 */
int vits_ioreq_serve_slots(struct vits_domain *d, struct vits_ioreq_slot *slots, uint32_t nr,
                           void (*notify)(void *opaque, uint32_t vcpu), void *opaque);

/*
 * The hypervisor's side, for slots in this process: copy *req into a
 * FREE slot and publish it as PENDING (release).
 *
 * Returns 0, -EINVAL (NULL argument), or -EBUSY (the slot is not FREE;
 * nothing was written).
 */
int vits_ioreq_submit(struct vits_ioreq_slot *slot, const struct vits_ioreq *req);

/*
 * The hypervisor's side: if the slot is COMPLETE (acquire), copy its
 * request (data, result) into *req (may be NULL) and set the slot FREE.
 *
 * Returns 1 when a completed request was collected, 0 when the slot is
 * PENDING or PROCESSING (not done yet), or -EINVAL (NULL slot), -ENOENT
 * (the slot is FREE), -EPROTO (its state is none of the four).
 */
int vits_ioreq_collect(struct vits_ioreq_slot *slot, struct vits_ioreq *req);

/* ------------------------------------------------------------------ */
/* Save, restore and reset                                             */
/* ------------------------------------------------------------------ */

/*
 * Two ways to move a VM's interrupt state, and a reset for reboots
 * (docs/migration.md has the details and the guarantees):
 *
 *  - KVM's way, which QEMU and the KVM-based VMMs speak: the ITS
 *    registers with vits_its_reg_get/set, the redistributors' LPI
 *    registers with vits_redist_get/set, and the translation state
 *    written into the guest's own tables in KVM's ITS table ABI revision
 *    0 (vits_its_save_tables, vits_its_restore_tables), so that guest
 *    memory carries it. Save (vCPUs and devices stopped): vits_redist_get
 *    per vCPU, vits_its_save_tables per ITS, then its registers. Restore,
 *    in KVM's documented order: guest memory; a domain and ITSes created
 *    with the same configuration; vits_redist_set per vCPU; per ITS
 *    GITS_IIDR, GITS_CBASER, GITS_CREADR, GITS_CWRITER, GITS_BASER<n>,
 *    vits_its_restore_tables, and GITS_CTLR last.
 *  - A self-contained snapshot of the whole domain, every ITS included,
 *    in a caller's buffer: vits_domain_save_snapshot and
 *    vits_domain_restore_snapshot. It needs nothing from guest memory.
 *
 * Every call here takes the domain lock. MSIs and route fires may race
 * them and stay memory-safe: during a restore or a reset the ITS is
 * disabled, so a racing MSI is dropped (or delivered by the old state
 * before that); an MSI racing a save may or may not be in what is saved.
 * For an exact copy the embedder stops its devices and vCPUs first, as
 * KVM requires. Routes stay valid across a restore or reset and follow
 * the new state.
 */

/* The one ITS table ABI revision vits speaks (KVM's revision 0); the
 * Revision field of GITS_IIDR selects it. */
#define VITS_ITS_ABI_REV0 0u

/*
 * Read an ITS register as KVM's userspace interface does: the whole
 * register as a 64-bit value (32-bit registers zero-extended), offset
 * being that of its first byte: GITS_CTLR 0x0, GITS_IIDR 0x4, GITS_TYPER
 * 0x8, GITS_CBASER 0x80, GITS_CWRITER 0x88, GITS_CREADR 0x90 (with its
 * Stalled bit), GITS_BASER<n> 0x100 + 8n, the ID registers 0xffd0..0xfffc.
 *
 * Returns 0 and sets *val, or:
 *   -EINVAL  NULL argument, or offset inside a register, not at its start;
 *   -ENXIO   no register at offset.
 */
int vits_its_reg_get(struct vits_its *its, uint64_t offset, uint64_t *val);

/*
 * Write an ITS register as KVM's userspace interface does (a restore):
 *  - GITS_IIDR: its Revision selects the table ABI, and must be
 *    VITS_ITS_ABI_REV0; the other fields are ignored;
 *  - GITS_CBASER and GITS_BASER<n>: as a guest write (GITS_CBASER zeroes
 *    GITS_CREADR and GITS_CWRITER), but only while the ITS is disabled;
 *  - GITS_CREADR (read-only to the guest): its offset, restorable while
 *    the ITS is disabled, after GITS_CBASER; and its Stalled bit, for an
 *    ITS with the VITS_ERRORS_STALL policy;
 *  - GITS_CWRITER: on a disabled ITS the offset is stored and nothing
 *    runs (a stalled command is neither retried nor skipped); on an
 *    enabled one, as a guest write;
 *  - GITS_CTLR: as a guest write: enabling runs the commands queued from
 *    GITS_CREADR to GITS_CWRITER;
 *  - GITS_TYPER and the ID registers are read-only: the write is ignored.
 *
 * Returns 0, or:
 *   -EINVAL  NULL ITS; offset inside a register; a GITS_IIDR Revision that
 *            names no table ABI; a GITS_CREADR or GITS_CWRITER offset
 *            beyond the queue; Stalled for an ITS that does not stall;
 *   -EBUSY   GITS_CBASER, GITS_BASER<n> or GITS_CREADR while the ITS is
 *            enabled (nothing written);
 *   -ENXIO   no register at offset.
 */
int vits_its_reg_set(struct vits_its *its, uint64_t offset, uint64_t val);

/*
 * Save the ITS's translation state into the guest's tables in KVM's ITS
 * table ABI revision 0 (KVM_DEV_ARM_ITS_SAVE_TABLES), and the pending
 * state of every LPI of the domain into its target vCPU's pending table
 * (KVM_DEV_ARM_VGIC_SAVE_PENDING_TABLES, as vits_domain_sync_pending).
 * Written: every mapped device's whole ITT, the device table from ID 0
 * to the last device (and as far as an earlier save or restore left valid
 * entries in it, so that an unmapped device or a discarded event leaves
 * no stale entry), and the collection table: the mapped collections and
 * those that events name without a MAPC, by ICID, then an empty entry.
 * Nothing is written unless all of it fits the guest's tables.
 *
 * Returns 0, or:
 *   -EINVAL      NULL ITS;
 *   -EOPNOTSUPP  GITS_IIDR.Revision names no table ABI vits speaks;
 *   -ERANGE      the state does not fit the guest's tables (a device
 *                beyond the device table or under an invalid level-1
 *                entry, more collections than entries, ITTs or tables
 *                that overlap), reason logged; nothing written;
 *   -ENOMEM      allocation failed; nothing written;
 *   a negative errno from read_mem or write_mem: the tables are then
 *                incomplete.
 */
int vits_its_save_tables(struct vits_its *its);

/*
 * Replace the ITS's translation state by the one in the guest's tables
 * (KVM_DEV_ARM_ITS_RESTORE_TABLES): the collections, each device and its
 * ITT, each LPI's property byte and pending bit read from its target
 * vCPU's tables (restore those first with vits_redist_set). The ITS must
 * be disabled, its GITS_BASER<n> restored. On any failure the ITS and the
 * domain are left as they were, and the reason is logged.
 *
 * Returns 0, or:
 *   -EINVAL      NULL ITS, or malformed tables: a Next that runs past
 *                the end of its table or names an entry that is not
 *                valid, a DeviceID beyond the ITS's DeviceID bits, an ITT
 *                wider than its EventID bits, overlapping ITTs, a pINTID
 *                that is no LPI of the domain or is mapped twice or by
 *                another ITS, a collection not in the collection table,
 *                beyond the collection ID bits or the table, or twice in
 *                it, an RDbase that names no vCPU;
 *   -ELOOP       the device table walk would visit a level-2 page twice
 *                (two level-1 entries point at it);
 *   -EBUSY       the ITS is enabled;
 *   -EOPNOTSUPP  GITS_IIDR.Revision names no table ABI vits speaks;
 *   -ENOSPC      more devices, events or mapped collections than the
 *                ITS's configured limits;
 *   -ENOMEM      allocation failed;
 *   a negative errno from read_mem: a table, an ITT or a pending table
 *                is unreadable (e.g. -EFAULT for an address outside
 *                guest memory).
 */
int vits_its_restore_tables(struct vits_its *its);

/* The LPI registers of one redistributor, for save and restore. */
struct vits_redist_regs {
    uint64_t propbaser; /* GICR_PROPBASER */
    uint64_t pendbaser; /* GICR_PENDBASER; PTZ as written (clear once LPIs are on) */
    uint32_t ctlr;      /* GICR_CTLR: bit 0 EnableLPIs; other bits are the vGIC's */
    uint32_t reserved;  /* zero */
};

/*
 * The LPI registers of vcpu's redistributor.
 *
 * Returns 0 and fills *regs, or -EINVAL (NULL argument, vcpu out of range).
 */
int vits_redist_get(struct vits_domain *d, uint32_t vcpu, struct vits_redist_regs *regs);

/*
 * Restore the LPI registers of vcpu's redistributor: GICR_PROPBASER and
 * GICR_PENDBASER (masked as a guest write), then EnableLPIs if set, which
 * reads the pending table (unless PTZ) for the LPIs already mapped to
 * vcpu, as the guest's write does. In KVM's order this comes before the
 * ITS tables, which bring the LPIs and read their pending bits.
 *
 * Returns 0, or:
 *   -EINVAL  NULL argument, vcpu out of range;
 *   -EBUSY   vcpu has EnableLPIs set: its registers are frozen (reset the
 *            domain first); nothing written.
 */
int vits_redist_set(struct vits_domain *d, uint32_t vcpu, const struct vits_redist_regs *regs);

/* Format version of the snapshots this library writes and reads. */
#define VITS_SNAPSHOT_VERSION 1u

/*
 * Serialize the whole state of domain d and of every ITS attached to it
 * into buf: redistributor registers, ITS registers, collections, devices,
 * events and the state of each LPI (target, cached priority and enable,
 * pending). The format is versioned, little-endian whatever the host,
 * and ends with a CRC-32 (docs/migration.md). When size is too small
 * (buf may then be NULL, with size 0) nothing is written and *len says
 * how many bytes are needed.
 *
 * Returns 0 and sets *len to the bytes written, or:
 *   -EINVAL  NULL d or len, or NULL buf with size > 0;
 *   -ENOSPC  size < *len, the size needed;
 *   -ENOMEM  allocation failed.
 */
int vits_domain_save_snapshot(struct vits_domain *d, void *buf, size_t size, size_t *len);

/*
 * Replace the whole state of domain d by a snapshot of size bytes. d
 * must have the saved domain's vCPU count, LPI INTID bits and
 * redistributor layout, and the same ITSes (frame bases, DeviceID,
 * EventID and collection ID bits, PTA; an ITS that was stalled needs the
 * stall policy); limits may differ as long as the state fits. Raised LPIs
 * of the old state are retracted, the new state's pending and enabled
 * LPIs are raised. On any failure d is left as it was, and the reason is
 * logged.
 *
 * Returns 0, or:
 *   -EINVAL      NULL argument; the snapshot does not fit this domain;
 *   -EBADMSG     not a vits snapshot, truncated, checksum mismatch, or
 *                content that is inconsistent or out of range;
 *   -EOPNOTSUPP  a format version this library does not read;
 *   -ENOSPC      more devices, events or mapped collections than an
 *                ITS's configured limits;
 *   -ENOMEM      allocation failed.
 */
int vits_domain_restore_snapshot(struct vits_domain *d, const void *buf, size_t size);

/*
 * Reset an ITS as KVM_DEV_ARM_ITS_CTRL_RESET: disabled and quiescent,
 * GITS_CBASER, GITS_CREADR and GITS_CWRITER zero, not stalled, Valid
 * clear in every GITS_BASER<n> (other fields kept), no device, event or
 * collection (their LPIs unmapped, raised ones retracted), nothing kept
 * for the table ABI. GITS_IIDR, the table ABI revision, is kept, and so
 * are the counters of vits_its_commands and vits_its_last_error.
 *
 * Returns 0, or -EINVAL for a NULL ITS.
 */
int vits_its_reset(struct vits_its *its);

/*
 * Reset the whole domain for a guest reboot: every ITS as by
 * vits_its_reset, and every redistributor as at creation (EnableLPIs 0,
 * GICR_PROPBASER and GICR_PENDBASER 0). No LPI is mapped, pending or
 * raised afterwards; a guest that initialises its ITS from scratch finds
 * it as at boot. ITSes and routes stay attached.
 *
 * Returns 0, or -EINVAL for a NULL domain.
 */
int vits_domain_reset(struct vits_domain *d);

#ifdef __cplusplus
}
#endif

#endif /* VITS_H */
