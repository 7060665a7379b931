/* SPDX-License-Identifier: MIT */
/*
 * The reference embedding: a small virtual machine built around vits the
 * way a hypervisor would build it, through the public API (vits.h) only.
 *
 *  - Guest RAM: sparse 4 KiB pages, allocated when first written (reads
 *    of untouched memory return zeros without allocating), a cap on the
 *    number of pages, unmapped holes, and injectable read/write faults.
 *  - vCPUs, each with a redistributor whose LPI registers vits serves
 *    (vits_gicr_mmio_*); the other GICR registers are a stub vGIC's.
 *  - One or more ITS instances at guest addresses; vm_mmio_read/write
 *    route a guest physical access to the right frame, as a stage-2 trap
 *    handler would, and vm_msi() finds the ITS by its doorbell.
 *  - An injector that keeps each vCPU's raised LPIs in the order a vGIC
 *    presents them (lowest priority value first, ties by lowest INTID)
 *    and acknowledges the one the vCPU takes (vits_lpi_ack).
 *
 * Threads: every function may be called from any thread. vits calls the
 * injector (raise/retract) with its domain lock held; the injector only
 * records, under its own mutex, and never calls back into vits. Taking an
 * LPI pops it under the injector mutex and acknowledges it after dropping
 * that mutex. The injector checks the vits injector protocol as it goes
 * (see vm_take) and counts every breach as a protocol violation.
 */
#ifndef VITS_HARNESS_VM_H
#define VITS_HARNESS_VM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "vits.h"

#define VM_PAGE_SIZE 4096u
#define VM_MAX_ITS 8u
#define VM_MAX_HOLES 16u
#define VM_MAX_FAULTS 8u
/* Default cap on guest RAM pages: 256 MiB. */
#define VM_DEFAULT_MAX_PAGES 65536u
/* GICv3 redistributor frames (RD_base + SGI_base). */
#define VM_GICR_STRIDE 0x20000u

struct vm;

/* Observers of the injector, for a simulator that checks what it sees.
 * raised runs with the vits domain lock held (it must not call vits);
 * acked runs after a successful vits_lpi_ack, with no lock held. */
struct vm_hooks {
    void *ctx;
    void (*raised)(void *ctx, uint32_t vcpu, uint32_t intid, uint8_t priority);
    void (*acked)(void *ctx, uint32_t vcpu, uint32_t intid);
};

/* Configuration of the VM's LPI domain (vm_start). */
struct vm_config {
    uint32_t nr_vcpus;    /* 1..4096 */
    uint32_t lpi_id_bits; /* 0: vits' default (16) */
    uint64_t redist_base; /* 0: 0x080a0000 */
    enum vits_log_level log_level;
    FILE *log; /* where vits' log lines go (NULL: counted only) */
    /* The largest guest-memory access vits may make (the ops table's
     * max_access; 0: no limit). */
    uint32_t max_access;
};

/* Counters of the injector and of guest memory. */
struct vm_stats {
    uint64_t raises, retracts, takes, acks, stale_takes;
    uint64_t violations; /* breaches of the injector protocol */
    uint64_t mem_reads, mem_writes, mem_faults;
    size_t pages;
    uint64_t log_lines[4];
};

/* A new VM with guest RAM only (at most max_pages 4 KiB pages, 0 for the
 * default). Returns NULL when out of memory. */
struct vm *vm_new(size_t max_pages);
/* Destroy the ITSes, the domain and the VM. vm may be NULL. */
void vm_free(struct vm *vm);

/*
 * Destroy the ITSes and the LPI domain and create fresh ones with the
 * same configurations (a migration's destination; harness/migrate.h).
 * Guest RAM is kept; the injector's raised LPIs are retracted with the
 * old ITSes. Returns 0, -EINVAL (no domain), -EOPNOTSUPP (vits out of
 * process), or what vits_domain_destroy or the creation calls return
 * (the VM is then unusable).
 */
int vm_recreate(struct vm *vm);

/* Create the LPI domain. Returns 0, -EALREADY, or what
 * vits_domain_create returns. */
int vm_start(struct vm *vm, const struct vm_config *cfg);
bool vm_started(const struct vm *vm);
void vm_set_hooks(struct vm *vm, const struct vm_hooks *hooks);

/* Add an ITS; returns its index (0..VM_MAX_ITS-1) or a negative errno
 * (-ENOSPC: VM_MAX_ITS reached; otherwise what vits_its_create says). */
int vm_add_its(struct vm *vm, const struct vits_its_config *cfg);
struct vits_its *vm_its(const struct vm *vm, unsigned idx);
/* Guest physical base of ITS idx's frame (0 when there is none). */
uint64_t vm_its_base(const struct vm *vm, unsigned idx);
unsigned vm_nr_its(const struct vm *vm);
struct vits_domain *vm_domain(const struct vm *vm);
uint32_t vm_nr_vcpus(const struct vm *vm);
uint64_t vm_redist_base(const struct vm *vm);

/* ---- guest RAM ---- */

/* Copy to or from guest memory. Returns 0, or -EFAULT (a hole),
 * -EIO (an injected fault, or the errno it names), -ENOMEM (write beyond
 * the page cap), -EINVAL (address overflow). Untouched memory reads as
 * zero. These are the functions the ops table's read_mem/write_mem use. */
int vm_mem_read(struct vm *vm, uint64_t gpa, void *buf, size_t len);
int vm_mem_write(struct vm *vm, uint64_t gpa, const void *buf, size_t len);
/* Little-endian shorthands (guest memory is little-endian). */
int vm_mem_write64(struct vm *vm, uint64_t gpa, uint64_t val);
uint64_t vm_mem_read64(struct vm *vm, uint64_t gpa);
/* Make [start, start + len) unmapped: every access fails with -EFAULT.
 * Returns 0 or -ENOSPC. */
int vm_add_hole(struct vm *vm, uint64_t start, uint64_t len);

enum { VM_FAULT_READ = 1, VM_FAULT_WRITE = 2 };
/*
 * Inject a fault: accesses of the given kinds that overlap
 * [start, start + len) succeed `after` more times, then fail with err
 * (a negative errno) `count` times (0: forever). Returns 0 or -ENOSPC.
 */
int vm_inject_fault(struct vm *vm, unsigned kinds, uint64_t start, uint64_t len, unsigned after,
                    unsigned count, int err);
void vm_clear_faults(struct vm *vm);

/* ---- MMIO, as trapped guest accesses ---- */

/* A guest access at guest physical address gpa: routed to the ITS frame
 * or the redistributor that holds it. Non-LPI redistributor registers are
 * served by a stub vGIC (read as zero, writes ignored). Returns 0, or
 * -ENOENT (nothing at gpa), or what vits returns. */
int vm_mmio_read(struct vm *vm, uint64_t gpa, unsigned size, uint64_t *val);
int vm_mmio_write(struct vm *vm, uint64_t gpa, unsigned size, uint64_t val);

/* An MSI: device devid wrote eventid to the doorbell at gpa. Returns what
 * vits_its_signal_msi returns, or -ENODEV when no ITS has that doorbell. */
int vm_msi(struct vm *vm, uint64_t doorbell, uint32_t devid, uint32_t eventid);

/* ---- the injector (the vGIC's list of LPIs per vCPU) ---- */

/*
 * vCPU vcpu takes its most urgent raised LPI (lowest priority value,
 * then lowest INTID) and the vGIC acknowledges it with vits_lpi_ack.
 * With wait set, blocks until there is one or vm_wake() is called.
 * A vCPU is one thread: at most one vm_take or vm_ack per vCPU at a time.
 *
 * Returns 1 (*intid, *priority set; either may be NULL) when an LPI was
 * taken, 0 when there was none (or the take lost a race: vits retracted
 * the LPI between the pop and the acknowledgement), or -EINVAL.
 *
 * Protocol checks: an acknowledgement that vits accepts must be of an
 * LPI the injector holds raised on vcpu; one that vits refuses must be
 * of an LPI vits retracted since it was raised. Anything else counts as
 * a violation.
 */
int vm_take(struct vm *vm, uint32_t vcpu, bool wait, uint32_t *intid, uint8_t *priority);
/* The vGIC acknowledges a given LPI on vcpu (a trace's `ack` record).
 * Returns 0, -ENOENT when intid is not raised on vcpu, or -EINVAL. */
int vm_ack(struct vm *vm, uint32_t vcpu, uint32_t intid);
/* Wake every thread blocked in vm_take(wait); they return 0. */
void vm_wake(struct vm *vm);
/* The vCPU intid is raised on (and not yet taken), or -1. */
int vm_raised_on(struct vm *vm, uint32_t intid);
/* Number of LPIs raised on vcpu and not yet taken. */
unsigned vm_raised_count(struct vm *vm, uint32_t vcpu);
/* Up to max raised LPIs of vcpu in presentation order; returns how many. */
unsigned vm_raised_list(struct vm *vm, uint32_t vcpu, uint32_t *intids, unsigned max);

void vm_stats(struct vm *vm, struct vm_stats *st);
/* The first injector protocol violation, described ("" when none). */
const char *vm_first_violation(struct vm *vm);

/* ------------------------------------------------------------------ */
/* Out of process                                                      */
/* ------------------------------------------------------------------ */

/*
 * As vm_start, but vits runs in another process (`vits-sim serve`) at the
 * other end of fd, a connected stream socket the VM owns from now on
 * (closed by vm_free, or here on failure). Guest RAM and the injector
 * stay here: the server reaches them only through messages
 * (docs/protocol.md). vm_domain() and vm_its() return NULL for such a
 * VM; everything else, and the calls below, work either way. Returns 0,
 * -EALREADY, or a vits or transport error.
 */
int vm_start_remote(struct vm *vm, const struct vm_config *cfg, int fd);
/* Whether vits runs out of process. */
bool vm_is_remote(const struct vm *vm);
/* The connection's counters (zeroes in process). */
struct remote_stats;
void vm_remote_stats(struct vm *vm, struct remote_stats *st);

/* The vits calls a VMM makes, in process or not (same results):
 * vits_its_mmio_read/write on ITS idx, vits_gicr_mmio_read/write,
 * vits_lpi_state, vits_its_last_error, vits_its_commands,
 * vits_domain_sync_pending. On failure a read leaves *val alone. */
int vm_its_read(struct vm *vm, unsigned idx, uint64_t off, unsigned size, uint64_t *val);
int vm_its_write(struct vm *vm, unsigned idx, uint64_t off, unsigned size, uint64_t val);
int vm_gicr_read(struct vm *vm, uint32_t vcpu, uint64_t off, unsigned size, uint64_t *val);
int vm_gicr_write(struct vm *vm, uint32_t vcpu, uint64_t off, unsigned size, uint64_t val);
int vm_lpi_state(struct vm *vm, uint32_t intid, uint32_t *vcpu);
int vm_its_last_error(struct vm *vm, unsigned idx, struct vits_cmd_error *err, uint64_t *count);
uint64_t vm_its_commands(struct vm *vm, unsigned idx);
int vm_sync_pending(struct vm *vm);
/* A migration of a VM whose vits is out of process: the server saves,
 * recreates and restores its domain (remote_migrate). Returns 0, a
 * negative errno described in why (n bytes), or -EOPNOTSUPP for a VM in
 * process (harness/migrate.c migrates those). */
int vm_remote_migrate(struct vm *vm, bool snapshot, char *why, size_t n);

/*
 * A failing transport: from now on every n-th guest-memory read that
 * vits makes (through the ops table, counted from this call) fails with
 * err (n = 0: none). Out of process, the same reads fail the same way:
 * the client answers the server's MEM_READ with the error.
 */
void vm_fail_reads(struct vm *vm, unsigned n, int err);

#endif
