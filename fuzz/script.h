/* SPDX-License-Identifier: MIT */
/*
 * The fuzz script format, shared by the target (fuzz/target.c) and the
 * seed generator (fuzz/gen_corpus.c). docs/fuzzing.md describes it.
 *
 * An input is an 8-byte header (the domain configuration) followed by
 * operations. Each operation is an opcode byte (taken modulo FZ_OP_COUNT,
 * so every byte is an operation) and a fixed number of argument bytes
 * (a few take a variable tail). Missing bytes at the end of the input
 * read as zero. Every field is decoded so that small values mean small,
 * valid IDs and a set top bit picks from a table of hostile values: most
 * random bytes make well-formed operations, every value stays reachable.
 */
#ifndef VITS_FUZZ_SCRIPT_H
#define VITS_FUZZ_SCRIPT_H

#include <stdint.h>

/* ---- header ---- */
#define FZ_HEADER_SIZE 8
/*
 * h[0]: [2:0] nr_vcpus - 1; [3] redistributor stride 0x40000 (else
 *       0x20000); [5:4] log level; [6] no log callback; [7] first try
 *       domain creation with the allocation h[3] % 8 failing.
 * h[1]: [1:0] lpi_id_bits - 14; [7:2] guest-error log rate per second.
 * h[2]: log burst.
 * h[3]: which allocation fails in the creation test of h[0] bit 7.
 * h[4]: [0] first try a bad domain configuration (h[4] >> 1 picks which).
 * h[5]: ops->max_access (ops version 2): h[5] % 16 picks from
 *       {0 (no limit) x 8, 8, 16, 32, 40, 64, 100, 256, 4096}.
 * h[6]: [0] no alloc callback (malloc/realloc/free; allocation
 *       failures and the allocator's own accounting are then off).
 * h[7]: reserved (zero); save/restore options will go here.
 */

/* ---- guest RAM ---- */
#define FZ_RAM_BASE 0x40000000ull
#define FZ_RAM_SIZE (4u << 20)
/* Layout used by the BOOT macro and the command encoder (offsets into
 * RAM); each ITS slot has its own tables, so a save of one does not
 * overwrite another's. */
#define FZ_ITT_OFF(slot) ((uint32_t)(slot)*0x40000u) /* + MAPD index * 0x400 */
#define FZ_PROP_OFF 0x100000u
#define FZ_PEND_OFF(v) (0x200000u + (uint32_t)(v)*0x10000u)
#define FZ_DEVTAB_OFF(slot) (0x300000u + (uint32_t)(slot)*0x20000u) /* level 2 at +64 KiB */
#define FZ_COLLTAB_OFF(slot) (0x360000u + (uint32_t)(slot)*0x8000u)
#define FZ_QUEUE_OFF(slot) (0x380000u + (uint32_t)(slot)*0x10000u)

#define FZ_ITS_BASE 0x08000000ull /* + selector * 0x10000 */
#define FZ_REDIST_BASE 0x080a0000ull

/* Most ITSes, routes, vCPUs the target juggles. */
#define FZ_MAX_ITS 3
#define FZ_MAX_ROUTES 8
#define FZ_MAX_VCPUS 8

enum fz_op {
    FZ_OP_ITS_CREATE,    /* slot, c0..c5, failat */
    FZ_OP_ITS_DESTROY,   /* slot */
    FZ_OP_ITS_WRITE,     /* slot, reg, size, value */
    FZ_OP_ITS_READ,      /* slot, reg, size */
    FZ_OP_CMD,           /* slot, kind, a0..a5 (kind RAW: 32 bytes) */
    FZ_OP_KICK,          /* slot, flags */
    FZ_OP_GICR_WRITE,    /* vcpu, reg, size, value */
    FZ_OP_GICR_READ,     /* vcpu, reg, size */
    FZ_OP_MEM_WRITE,     /* addr[3], len, data[len % 33] */
    FZ_OP_MEM_FILL,      /* page[2], len, byte */
    FZ_OP_PROP,          /* vcpu, intid[2], byte */
    FZ_OP_PEND,          /* vcpu, intid[2], set */
    FZ_OP_MSI,           /* slot, path, devid, event */
    FZ_OP_ROUTE_CREATE,  /* slot, idx, devid, event, failat */
    FZ_OP_ROUTE_FIRE,    /* idx */
    FZ_OP_ROUTE_DESTROY, /* idx */
    FZ_OP_ACK,           /* sel, vcpu, intid[2] */
    FZ_OP_SYNC_PENDING,  /* (none) */
    FZ_OP_HOLE,          /* slot, start[3], len, flags */
    FZ_OP_FAULTS,        /* flags: [0] allocations fail, [1] raise fails */
    FZ_OP_BOOT,          /* slot, variant, geometry */
    FZ_OP_DOMAIN_CYCLE,  /* (none): destroy (-EBUSY while in use), re-create */
    FZ_OP_SAVE_RESTORE,  /* mode, x, y: save/restore and resets (when vits.h has them) */
    FZ_OP_IOREQ,         /* where, reg, size, how, [value]: vits_ioreq_serve(_slots) */
    FZ_OP_COUNT
};

/*
 * ITS_CREATE: c0 [4:0] device_id_bits - 1, [5] PTA, [6] stall policy,
 * [7] make the configuration invalid (c5 >> 4 says how); c1 [3:0]
 * event_id_bits - 1, [7:4] collection_id_bits - 1; c2 % 17 max_devices,
 * [7:4] IIDR revision; c3 % 49 max_events; c4 % 9 max_collections,
 * [7:4] max_batch selector; c5 [3:0] base = FZ_ITS_BASE + n * 0x10000
 * (frames are 0x20000: neighbours overlap). failat: 0, or the 1-based
 * allocation of the creation that fails.
 */

/* Register selectors of ITS_WRITE / ITS_READ: reg byte % 32 indexes
 * this table; 28..31 mean a 3-byte raw offset follows (any offset, the
 * frame's end and beyond included). */
static const uint32_t fz_its_regs[] = {
    0x0000,  0x0004, 0x0008, 0x000c, 0x0080, 0x0084, 0x0088, 0x008c, 0x0090, 0x0094,
    0x0100,  0x0104, 0x0108, 0x010c, 0x0110, 0x0138, 0x0040, 0xffe8, 0xfff0, 0xffd0,
    0x10040, 0x0002, 0x0101, 0x0088, 0x0080, 0x0100, 0x0108, 0x0000,
};
#define FZ_ITS_NREGS (sizeof(fz_its_regs) / sizeof(fz_its_regs[0]))

/* GICR register selectors: reg byte % 16 indexes this table; 12..15
 * mean a 1-byte raw offset follows. */
static const uint32_t fz_gicr_regs[] = {0x00, 0x04, 0x08, 0x0c, 0x70, 0x74,
                                        0x78, 0x7c, 0x10, 0x70, 0x78, 0x00};
#define FZ_GICR_NREGS (sizeof(fz_gicr_regs) / sizeof(fz_gicr_regs[0]))

/* Access sizes (size byte % 8). */
static const unsigned fz_sizes[8] = {4, 8, 4, 8, 2, 1, 0, 16};

/*
 * Register values: a kind byte, then by kind (kind % 4):
 *  0 raw: 8 bytes, little-endian;
 *  1 table: flags, addr[2], size: a value shaped for the register
 *    written (CBASER, BASERn, PROPBASER, PENDBASER, CWRITER, CTLR);
 *  2 small: 1 byte;
 *  3 queue offset: 2 bytes, [14:0] command index, [15] Retry.
 * Table flags: [0] Valid, [1] Indirect (PENDBASER: PTZ), [3:2]
 * Page_Size, [5:4] Shareability, [6] hostile address, [7] set the
 * cacheability fields.
 */
enum { FZ_VAL_RAW, FZ_VAL_TABLE, FZ_VAL_SMALL, FZ_VAL_QOFF };

/*
 * CMD kinds (kind byte & 0x1f, modulo FZ_CMD_KINDS); kind bit 7: write
 * CWRITER after placing the command; bit 6: scribble on bits the command
 * does not use (they must be ignored); bit 5: place it but do not move
 * the driver's write pointer (the next one overwrites it).
 * Arguments a0..a5: a0 DeviceID, a1 EventID, a2/a3 pINTID (a3 bit 0 also
 * V=0 for MAPC), a4 ICID (MOVALL: RDbase2), a5 RDbase / MAPD size
 * ([4:0], [7] V=0) / unknown command number.
 */
enum fz_cmd_kind {
    FZ_CMD_MAPD,
    FZ_CMD_MAPC,
    FZ_CMD_MAPTI,
    FZ_CMD_MAPI,
    FZ_CMD_INT,
    FZ_CMD_CLEAR,
    FZ_CMD_INV,
    FZ_CMD_INVALL,
    FZ_CMD_MOVI,
    FZ_CMD_MOVALL,
    FZ_CMD_DISCARD,
    FZ_CMD_SYNC,
    FZ_CMD_RAW,    /* 32 raw bytes follow the 6 argument bytes */
    FZ_CMD_NUMBER, /* command number a5, fields as MAPTI */
    FZ_CMD_KINDS
};
#define FZ_CMD_KICK 0x80u
#define FZ_CMD_SCRIBBLE 0x40u
#define FZ_CMD_NOADVANCE 0x20u

/* KICK flags: [0] Retry, [1] 32-bit write, [3:2] which offset: 0 the
 * driver's write pointer, 1 one command further, 2 the queue size (out
 * of range), 3 CREADR - 32 (the whole queue again). */

/* MSI paths (path byte % 8). */
enum fz_msi_path {
    FZ_MSI_ITS,          /* vits_its_signal_msi */
    FZ_MSI_DOMAIN,       /* vits_domain_signal_msi */
    FZ_MSI_DOMAIN_BAD,   /* ... with a bad doorbell or flags */
    FZ_MSI_TRANSLATER,   /* 4-byte vits_its_mmio_write_devid to GITS_TRANSLATER */
    FZ_MSI_TRANSLATER16, /* 2-byte */
    FZ_MSI_DEVID_OTHER,  /* vits_its_mmio_write_devid elsewhere (a plain write) */
    FZ_MSI_NULL,         /* NULL ITS: -EINVAL */
    FZ_MSI_ITS2,         /* vits_its_signal_msi again */
};

/* HOLE flags: [0] reads fail, [1] writes fail, [2] fail with -EIO (else
 * -EFAULT); 0 removes the hole. Start: 3 bytes, [23] a hostile start,
 * else FZ_RAM_BASE + value * 8 (wrapped to RAM); len: [7] pages of
 * ([6:0] + 1) * 4 KiB, else (len + 1) * 8 bytes. */

/* IOREQ (vits_ioreq_serve, when vits.h has it): where [1:0] 0 the ITS
 * frame of slot (where >> 2) % 3 at register reg (as ITS_WRITE), 1 the
 * RD_base frame of vCPU (where >> 2) & 15 at GICR register reg, 2
 * GITS_TRANSLATER of slot (where >> 2) % 3 (DeviceID from reg, EventID
 * from the value), 3 a hostile address; how [0] write (a value
 * follows), [1] VITS_IOREQ_F_DEVID, [2] through vits_ioreq_serve_slots,
 * [3] broken (an unknown flag; in a slot, an unknown state), [7:4] the
 * requesting vCPU. */

/* SAVE_RESTORE (when vits.h has them), mode % 8: 0 save a snapshot
 * and restore it into the same domain, 1 vits_its_reset of slot
 * (mode >> 3) % 3, 2 vits_domain_reset, 3 a snapshot too small for its
 * buffer, then a damaged one (byte x flipped) and a truncated one that
 * restore must refuse, 4 KVM's way: redistributor registers, every
 * ITS's tables and registers saved, the domain reset, all restored in
 * KVM's order (with x bit 7: ITS slot (mode >> 3) % 3 is disabled and
 * restored from whatever its tables in guest memory hold, a hostile
 * guest's tables; a refused restore must change nothing), 5..7
 * vits_its_reg_get/vits_its_reg_set of register x (as ITS_WRITE's
 * selector) with a value picked by y % 8. */

/* BOOT variant: [0] PTA, [1] stall policy, [2] pending tables not
 * zeroed (no PTZ: the tables are read), [3] two-level device table,
 * [4] also map device 0 with 4 events on collection 0 (a driver's
 * first MSI vector setup), [6:5] property byte flavour, [7] max_batch 3.
 * BOOT geometry (for an ITS it creates, and the tables it sets): [1:0]
 * DeviceID bits {8, 16, 20, 32}, [3:2] EventID bits {8, 12, 16, 4},
 * [5:4] CIDbits {4, 8, 16, 2}, [6] small tables (one 4 KiB page each,
 * the device table two-level with its own flag), [7] leave the
 * collection table invalid. */

#endif
