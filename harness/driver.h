/* SPDX-License-Identifier: MIT */
/*
 * A guest-side ITS driver model: programs the ITS and the redistributors
 * of a reference VM (vm.h) the way Linux's GICv3 ITS driver
 * (drivers/irqchip/irq-gic-v3-its.c) does, through guest memory and
 * trapped MMIO only:
 *
 *  - boot: reads GITS_TYPER and each GITS_BASER's Type and Entry_Size,
 *    sizes the device table (two-level when a flat one would be larger
 *    than two pages and the ITS keeps the Indirect bit), picks the
 *    largest page size that sticks (64, 16, 4 KiB), allocates the
 *    collection table and a 64 KiB command queue, makes the ITS
 *    quiescent, enables it; then per CPU: PROPBASER, PENDBASER,
 *    EnableLPIs, MAPC (ICID = CPU) and INVALL;
 *  - a device: LPIs from a first-fit allocator, an ITT of a power of two
 *    events (at least 2), MAPD, then per vector MAPTI + SYNC and the
 *    unmask (property byte enabled, INV + SYNC);
 *  - affinity: MOVI + SYNC; CPU offline: every vector moves off it;
 *    CPU online: MAPC + SYNC, INVALL; device removal: per vector mask,
 *    DISCARD + SYNC, then MAPD V=0 and the LPIs go back to the allocator
 *    (so a re-plugged device reuses them); property change: write the
 *    byte, INV + SYNC.
 *
 * Every command batch ends with a CWRITER write, and the driver polls
 * CREADR until it reaches CWRITER, as Linux does. With a trace writer it
 * records every access and every guest-memory write the ITS will read.
 *
 * Not thread-safe: one guest thread drives it (MSIs and takes from other
 * threads go to the VM directly).
 */
#ifndef VITS_HARNESS_DRIVER_H
#define VITS_HARNESS_DRIVER_H

#include <stdbool.h>
#include <stdint.h>

#include "trace.h"
#include "vm.h"

#define DRV_NO_CPU UINT32_MAX
#define DRV_DEFAULT_PRIO 0xa0u
/* Property bytes: priority | group 1 (RES1) | enable. */
#define DRV_PROP_GROUP1 0x2u
#define DRV_PROP_ENABLE 0x1u

struct drv_config {
    unsigned its_index; /* which ITS of the VM */
    uint64_t ram_base;  /* guest RAM the driver allocates from */
    uint64_t ram_size;
    uint32_t lpi_bits;    /* 0: min(16, the VM's LPI bits), as Linux */
    bool ptz;             /* set GICR_PENDBASER.PTZ (Linux does not) */
    uint32_t queue_pages; /* 4 KiB pages of command queue (0: 16) */
    uint32_t max_psz;     /* largest table page size tried (0: 64 KiB) */
};

void drv_config_init(struct drv_config *cfg);

struct drv;

/* Called around every routing change of an LPI, before the commands go
 * out (done = false) and after the ITS consumed them (done = true); cpu
 * is DRV_NO_CPU when the LPI is being unmapped. */
typedef void (*drv_route_fn)(void *ctx, uint32_t intid, uint32_t cpu, bool done);

/* Counters of what the driver did. */
struct drv_stats {
    uint64_t cmds[16]; /* by command number */
    uint64_t batches, mmio_writes, mmio_reads, mem_bytes;
    uint64_t cmd_errors; /* command errors seen (host side) */
    uint64_t movis;      /* vectors moved, by affinity changes and CPU offline */
    uint64_t affinity_changes, cpu_offline, cpu_online, dev_added, dev_removed, prop_changes;
};

/* rec may be NULL (no recording). Returns 0, -EINVAL, -ENOMEM. */
int drv_new(struct vm *vm, const struct drv_config *cfg, struct trace_writer *rec,
            struct drv **out);
void drv_free(struct drv *drv);
void drv_set_route_hook(struct drv *drv, drv_route_fn fn, void *ctx);

/* Boot as above. Returns 0, or a negative errno: -ENODEV (no ITS, or no
 * Devices/Collections BASER), -ENXIO (a BASER does not stick), -ENOSPC
 * (guest RAM), -EIO (the queue did not advance). */
int drv_boot(struct drv *drv);

/* Map device devid with nvecs vectors (1..65536); vector v targets CPU
 * cpus[v] (NULL: spread round-robin over online CPUs). Returns 0,
 * -EEXIST, -E2BIG (DeviceID or vectors beyond the ITS), -ENOSPC (LPIs or
 * RAM), -EIO. */
int drv_add_device(struct drv *drv, uint32_t devid, uint32_t nvecs, const uint32_t *cpus);
/* Mask, DISCARD every vector, MAPD V=0, free the LPIs. 0, -ENOENT, -EIO. */
int drv_remove_device(struct drv *drv, uint32_t devid);
/* MOVI vector vec of devid to cpu. 0 (also when already there),
 * -ENOENT, -EINVAL (cpu offline or out of range), -EIO. */
int drv_set_affinity(struct drv *drv, uint32_t devid, uint32_t vec, uint32_t cpu);
/* Move every vector off cpu (to online CPUs, round-robin), mark it
 * offline. 0, -EINVAL (out of range, already offline, the last one). */
int drv_cpu_offline(struct drv *drv, uint32_t cpu);
/* MAPC + SYNC and INVALL, mark online. 0, -EINVAL. */
int drv_cpu_online(struct drv *drv, uint32_t cpu);
/* Write the property byte (priority, enable), then INV + SYNC. */
int drv_set_property(struct drv *drv, uint32_t devid, uint32_t vec, uint8_t priority, bool enabled);
/* Queue one raw command (4 words) + CWRITER, wait. For error scenarios. */
int drv_raw_command(struct drv *drv, const uint64_t dw[4]);
/* The VM migrates (migrate.h: KVM's tables, or the snapshot) under the
 * guest's feet, recorded as `migrate tables` / `migrate snapshot`.
 * Returns 0 or what vm_migrate returns (drv_last_error says why). */
int drv_migrate(struct drv *drv, bool snapshot);

/* Guest-visible state. */
uint32_t drv_lpi(const struct drv *drv, uint32_t devid, uint32_t vec); /* 0: none */
uint32_t drv_vector_cpu(const struct drv *drv, uint32_t devid, uint32_t vec);
bool drv_cpu_is_online(const struct drv *drv, uint32_t cpu);
uint32_t drv_nr_cpus(const struct drv *drv);
uint64_t drv_doorbell(const struct drv *drv);
bool drv_two_level(const struct drv *drv);
uint32_t drv_table_page_size(const struct drv *drv);
void drv_get_stats(const struct drv *drv, struct drv_stats *st);
/* The last failure, described ("" when none). */
const char *drv_last_error(const struct drv *drv);

/* A device's MSI and a vCPU taking an LPI, recorded (msi / ack). */
int drv_msi(struct drv *drv, uint32_t devid, uint32_t eventid);
int drv_take(struct drv *drv, uint32_t cpu, uint32_t *intid);
/* Take everything raised on every vCPU, most urgent first; returns how
 * many LPIs were taken. */
unsigned drv_drain(struct drv *drv);
/* Record an expect-idle / expect-pending line (checked at replay). */
void drv_expect_idle(struct drv *drv);
void drv_expect_pending(struct drv *drv, uint32_t cpu, uint32_t intid);

/* Command names by number ("?" for unknown). */
const char *drv_cmd_name(unsigned cmd);

#endif
