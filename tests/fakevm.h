/* SPDX-License-Identifier: MIT */
/*
 * The fake VM every test shares: sparse guest RAM with holes and
 * injectable faults, a recording injector, a log sink, an allocator that
 * can fail on demand, and helpers that write ITS commands into the
 * guest's queue the way a driver does. It implements struct vits_ops
 * through the public API only.
 */
#ifndef VITS_TESTS_FAKEVM_H
#define VITS_TESTS_FAKEVM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vits.h"

#define FV_MAX_EVENTS 4096
#define FV_MAX_HOLES 8

/* Guest layout used by fv_boot(). */
#define FV_ITS_BASE 0x08080000ull
#define FV_PROP_TABLE 0x40100000ull
#define FV_PEND_TABLE(cpu) (0x40200000ull + (uint64_t)(cpu)*0x10000)
#define FV_DEV_TABLE 0x40400000ull
#define FV_COLL_TABLE 0x40500000ull
#define FV_QUEUE 0x40600000ull
#define FV_QUEUE_PAGES 16u /* 64 KiB: 2048 commands */
#define FV_ITT(dev) (0x41000000ull + (uint64_t)(dev)*0x1000)

enum fv_event_kind { FV_RAISE, FV_RETRACT };

struct fv_event {
    enum fv_event_kind kind;
    uint32_t vcpu;
    uint32_t intid;
    uint8_t priority;
};

struct fv_hole {
    uint64_t start, end; /* [start, end): reads and writes fail */
};

struct fakevm {
    /* guest RAM: a small hash of 4 KiB pages, allocated on first write */
    struct fv_page **pages;
    size_t nr_buckets;
    size_t nr_pages;

    struct fv_hole holes[FV_MAX_HOLES];
    unsigned nr_holes;
    /* The next fail_read_after reads succeed, then every read fails
     * (-EIO) until it is reset to -1. */
    long fail_read_after;
    long fail_alloc_after; /* same for allocations; -1: never */
    unsigned long reads, writes, read_bytes;

    /* injector record */
    struct fv_event events[FV_MAX_EVENTS];
    unsigned nr_events;
    int raise_result; /* what raise returns (0 normally) */

    /* log record */
    unsigned log_count[4];
    char last_log[256];

    struct vits_ops ops;
    struct vits_domain *d;
    struct vits_its *its;
    uint32_t nr_vcpus;
    uint64_t cwriter; /* the driver's copy */
};

/* Create a fake VM with a domain of nr_vcpus vCPUs (default config). */
struct fakevm *fv_new(uint32_t nr_vcpus);
/* Same, with a domain config and no ITS. */
struct fakevm *fv_new_cfg(const struct vits_domain_config *dcfg);
/* Destroy the ITS (if any), the domain, and the fake VM; asserts the
 * domain's memory accounting came back to zero. */
void fv_free(struct fakevm *fv);

/* Create fv->its with cfg (NULL: defaults at FV_ITS_BASE). */
void fv_add_its(struct fakevm *fv, const struct vits_its_config *cfg);

/*
 * A Linux-like boot: property table at FV_PROP_TABLE (16 INTID bits,
 * every LPI priority 0xa0 and enabled), pending tables (PTZ), EnableLPIs
 * on every vCPU, flat device and collection tables, a 64 KiB command
 * queue, ITS enabled.
 */
void fv_boot(struct fakevm *fv);

/* guest memory */
void fv_write(struct fakevm *fv, uint64_t gpa, const void *buf, size_t len);
void fv_read(struct fakevm *fv, uint64_t gpa, void *buf, size_t len);
void fv_write64(struct fakevm *fv, uint64_t gpa, uint64_t val);
uint64_t fv_read64(struct fakevm *fv, uint64_t gpa);
void fv_add_hole(struct fakevm *fv, uint64_t start, uint64_t len);
/* Copy every page of src's guest RAM into dst's (a migration's RAM). */
void fv_copy_ram(struct fakevm *dst, const struct fakevm *src);
/* Property byte of intid in FV_PROP_TABLE. */
void fv_set_prop(struct fakevm *fv, uint32_t intid, uint8_t byte);

/* MMIO shorthands (assert success) */
void fv_its_write(struct fakevm *fv, uint64_t off, unsigned size, uint64_t val);
uint64_t fv_its_read(struct fakevm *fv, uint64_t off, unsigned size);
void fv_gicr_write(struct fakevm *fv, uint32_t vcpu, uint64_t off, unsigned size, uint64_t val);
uint64_t fv_gicr_read(struct fakevm *fv, uint32_t vcpu, uint64_t off, unsigned size);

/* Command encoders: fill dw[4]. */
void fv_cmd_mapd(uint64_t dw[4], uint32_t devid, uint32_t size, uint64_t itt, bool valid);
void fv_cmd_mapc(uint64_t dw[4], uint16_t icid, uint64_t rdbase, bool valid);
void fv_cmd_mapti(uint64_t dw[4], uint32_t devid, uint32_t ev, uint32_t intid, uint16_t icid);
void fv_cmd_mapi(uint64_t dw[4], uint32_t devid, uint32_t ev, uint16_t icid);
void fv_cmd_dev_ev(uint64_t dw[4], uint8_t cmd, uint32_t devid, uint32_t ev); /* INT..DISCARD */
void fv_cmd_movi(uint64_t dw[4], uint32_t devid, uint32_t ev, uint16_t icid);
void fv_cmd_invall(uint64_t dw[4], uint16_t icid);
void fv_cmd_movall(uint64_t dw[4], uint64_t rd1, uint64_t rd2);
void fv_cmd_sync(uint64_t dw[4], uint64_t rdbase);

/* Append a command at the driver's CWRITER (no doorbell). */
void fv_queue(struct fakevm *fv, const uint64_t dw[4]);
/* Write CWRITER (with retry) so the ITS processes what was queued. */
void fv_kick(struct fakevm *fv);
void fv_kick_retry(struct fakevm *fv);
/* fv_queue + fv_kick. */
void fv_submit(struct fakevm *fv, const uint64_t dw[4]);

/* Map device devid (ITT of 2^bits events) and events [0, n) to LPIs
 * first_intid.., collection icid; returns the number of command errors
 * that happened (expect 0). */
uint64_t fv_map_device(struct fakevm *fv, uint32_t devid, uint32_t bits, uint32_t n,
                       uint32_t first_intid, uint16_t icid);
/* MAPC icid -> vcpu (processor number). */
void fv_map_collection(struct fakevm *fv, uint16_t icid, uint32_t vcpu);

/* Last command error code (0 when none) and error count. */
uint32_t fv_last_error(struct fakevm *fv);
uint64_t fv_error_count(struct fakevm *fv);

/* injector record */
void fv_clear_events(struct fakevm *fv);
/* Number of raises (FV_RAISE) or retracts of intid on vcpu recorded. */
unsigned fv_count(const struct fakevm *fv, enum fv_event_kind kind, uint32_t vcpu, uint32_t intid);
unsigned fv_count_kind(const struct fakevm *fv, enum fv_event_kind kind);
/* Whether intid is pending (vits_lpi_state) and on which vCPU; asserts
 * that intid is mapped. */
bool fv_pending(struct fakevm *fv, uint32_t intid, uint32_t *vcpu);
/* Whether some ITS maps intid. */
bool fv_mapped(struct fakevm *fv, uint32_t intid);
/* Submit one MAPTI / MAPC (no error check). */
void fv_mapti(struct fakevm *fv, uint32_t devid, uint32_t ev, uint32_t intid, uint16_t icid);
void fv_mapc(struct fakevm *fv, uint16_t icid, uint64_t rdbase, bool valid);

#endif
