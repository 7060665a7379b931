/* SPDX-License-Identifier: MIT */
/*
 * The twelve physical ITS commands through the command queue: each
 * command's architected effect, and every error number of enum
 * vits_cmd_errno it can produce (its/commands.c says when).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "fakevm.h"

enum {
    CMD_MOVI = 0x01,
    CMD_INT = 0x03,
    CMD_CLEAR = 0x04,
    CMD_SYNC = 0x05,
    CMD_MAPD = 0x08,
    CMD_MAPC = 0x09,
    CMD_MAPTI = 0x0a,
    CMD_MAPI = 0x0b,
    CMD_INV = 0x0c,
    CMD_INVALL = 0x0d,
    CMD_MOVALL = 0x0e,
    CMD_DISCARD = 0x0f,
};

#define GITS_CTLR 0x0
#define GITS_CWRITER 0x88
#define GITS_CREADR 0x90
#define GITS_BASER0 0x100
#define GITS_BASER1 0x108
#define PROP_DEFAULT 0xa3 /* fv_boot: priority 0xa0, group 1, enabled */
#define L1_TABLE 0x40700000ull
#define L2_PAGE 0x40710000ull
#define REDIST_BASE 0x080a0000ull

/* ---- helpers ---- */

/*
 * Submit one command and return its error number (0 if it succeeded).
 * Checks that the ITS consumed it: CREADR caught up with CWRITER (no
 * stall under the default policy), one more command counted, and at most
 * one more error.
 */
static uint32_t run(struct fakevm *fv, const uint64_t dw[4])
{
    uint64_t errors = fv_error_count(fv);
    uint64_t cmds = vits_its_commands(fv->its);
    fv_submit(fv, dw);
    assert_int_equal(fv_its_read(fv, GITS_CREADR, 8), fv->cwriter);
    assert_int_equal(vits_its_commands(fv->its), cmds + 1);
    uint64_t now = fv_error_count(fv);
    assert_true(now - errors <= 1);
    return now == errors ? 0 : fv_last_error(fv);
}

static uint32_t mapd(struct fakevm *fv, uint32_t devid, uint32_t size, bool valid)
{
    uint64_t dw[4];
    fv_cmd_mapd(dw, devid, size, FV_ITT(devid & 0xfff), valid);
    return run(fv, dw);
}

static uint32_t mapc(struct fakevm *fv, uint16_t icid, uint64_t rdbase, bool valid)
{
    uint64_t dw[4];
    fv_cmd_mapc(dw, icid, rdbase, valid);
    return run(fv, dw);
}

static uint32_t mapti(struct fakevm *fv, uint32_t devid, uint32_t ev, uint32_t intid, uint16_t icid)
{
    uint64_t dw[4];
    fv_cmd_mapti(dw, devid, ev, intid, icid);
    return run(fv, dw);
}

static uint32_t mapi(struct fakevm *fv, uint32_t devid, uint32_t ev, uint16_t icid)
{
    uint64_t dw[4];
    fv_cmd_mapi(dw, devid, ev, icid);
    return run(fv, dw);
}

/* INT, CLEAR, INV, DISCARD */
static uint32_t dev_ev(struct fakevm *fv, uint8_t cmd, uint32_t devid, uint32_t ev)
{
    uint64_t dw[4];
    fv_cmd_dev_ev(dw, cmd, devid, ev);
    return run(fv, dw);
}

static uint32_t movi(struct fakevm *fv, uint32_t devid, uint32_t ev, uint16_t icid)
{
    uint64_t dw[4];
    fv_cmd_movi(dw, devid, ev, icid);
    return run(fv, dw);
}

static uint32_t invall(struct fakevm *fv, uint16_t icid)
{
    uint64_t dw[4];
    fv_cmd_invall(dw, icid);
    return run(fv, dw);
}

static uint32_t movall(struct fakevm *fv, uint64_t rd1, uint64_t rd2)
{
    uint64_t dw[4];
    fv_cmd_movall(dw, rd1, rd2);
    return run(fv, dw);
}

static uint32_t sync_cmd(struct fakevm *fv, uint64_t rdbase)
{
    uint64_t dw[4];
    fv_cmd_sync(dw, rdbase);
    return run(fv, dw);
}

static const struct fv_event *last_event(const struct fakevm *fv)
{
    assert_true(fv->nr_events > 0);
    return &fv->events[fv->nr_events - 1];
}

/* A booted VM with nr_vcpus vCPUs and an ITS of configuration cfg
 * (NULL: defaults). */
static struct fakevm *boot_cfg(uint32_t nr_vcpus, const struct vits_its_config *cfg)
{
    struct fakevm *fv = fv_new(nr_vcpus);
    if (cfg)
        fv_add_its(fv, cfg);
    fv_boot(fv);
    return fv;
}

/*
 * The common setup: 4 vCPUs, collection 0 on vCPU 0, collection 1 on
 * vCPU 1, device 1 with a 16-event ITT whose events 0..3 are LPIs
 * 8192..8195 in collection 0.
 */
static struct fakevm *std_vm(void)
{
    struct fakevm *fv = boot_cfg(4, NULL);
    assert_int_equal(mapc(fv, 0, 0, true), 0);
    assert_int_equal(mapc(fv, 1, 1, true), 0);
    assert_int_equal(fv_map_device(fv, 1, 4, 4, 8192, 0), 0);
    fv_clear_events(fv);
    return fv;
}

/* Rewrite GITS_BASER<n> (only allowed while the ITS is disabled). */
static void set_baser(struct fakevm *fv, unsigned n, uint64_t val)
{
    fv_its_write(fv, GITS_CTLR, 4, 0);
    fv_its_write(fv, GITS_BASER0 + 8 * n, 8, val);
    fv_its_write(fv, GITS_CTLR, 4, 1);
}

/* Valid, flat, one 4 KiB page: 512 entries. */
#define BASER_SMALL (1ull << 63 | 0x40800000ull)
/* Valid, two-level, one 4 KiB level-1 page: 512 level-1 entries, each
 * covering 512 IDs. */
#define BASER_INDIRECT (1ull << 63 | 1ull << 62 | L1_TABLE)

/* A domain with redistributors at REDIST_BASE (stride, 0: default) and
 * an ITS with PTA = 1. */
static struct fakevm *boot_pta(uint32_t nr_vcpus, uint64_t stride)
{
    struct vits_domain_config dcfg;
    vits_domain_config_init(&dcfg, nr_vcpus);
    dcfg.log_level = VITS_LOG_DEBUG;
    dcfg.log_burst = 1000000;
    dcfg.redist_base = REDIST_BASE;
    if (stride)
        dcfg.redist_stride = stride;
    struct fakevm *fv = fv_new_cfg(&dcfg);
    struct vits_its_config cfg;
    vits_its_config_init(&cfg);
    cfg.base = FV_ITS_BASE;
    cfg.pta = 1;
    fv_add_its(fv, &cfg);
    fv_boot(fv);
    return fv;
}

/* RDbase field for vCPU v's redistributor (PTA = 1, default stride). */
static uint64_t rd_addr(uint32_t v) { return (REDIST_BASE + 0x20000ull * v) >> 16; }

/* ================================================================== */
/* MAPD                                                                */
/* ================================================================== */

static void mapd_maps_a_device_whose_events_can_then_be_mapped(void **state)
{
    (void)state;
    struct fakevm *fv = boot_cfg(2, NULL);
    assert_int_equal(mapc(fv, 0, 1, true), 0);
    assert_int_equal(mapti(fv, 9, 0, 8192, 0), VITS_E_MAPTI_UNMAPPED_DEVICE);
    assert_int_equal(mapd(fv, 9, 2, true), 0);
    assert_int_equal(mapti(fv, 9, 7, 8192, 0), 0);
    assert_int_equal(mapti(fv, 9, 8, 8193, 0), VITS_E_MAPTI_ID_OOR); /* 3 bits: 0..7 */
    assert_int_equal(vits_its_signal_msi(fv->its, 9, 7), 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 1, 8192), 1);
    assert_int_equal(fv_error_count(fv), 2);
    fv_free(fv);
}

static void mapd_remap_drops_old_events_and_their_pending_state(void **state)
{
    (void)state;
    struct fakevm *fv = std_vm();
    fv_set_prop(fv, 8193, 0xa2); /* 8193 disabled: pending, not raised */
    assert_int_equal(dev_ev(fv, CMD_INV, 1, 1), 0);
    assert_int_equal(dev_ev(fv, CMD_INT, 1, 0), 0);
    assert_int_equal(dev_ev(fv, CMD_INT, 1, 1), 0);
    assert_int_equal(fv_count(fv, FV_RAISE, 0, 8192), 1);
    assert_int_equal(fv_pending(fv, 8193, NULL), 1);
    fv_clear_events(fv);

    assert_int_equal(mapd(fv, 1, 4, true), 0);
    /* the raised one is retracted; nothing else is signalled */
    assert_int_equal(fv->nr_events, 1);
    assert_int_equal(fv_count(fv, FV_RETRACT, 0, 8192), 1);
    for (uint32_t i = 8192; i < 8196; i++)
        assert_false(fv_mapped(fv, i));
    assert_int_equal(vits_lpi_ack(fv->d, 0, 8192), -ENOENT);
    /* the device is mapped (fresh ITT), its events are not */
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 0), 0);
    assert_int_equal(dev_ev(fv, CMD_INT, 1, 0), VITS_E_INT_UNMAPPED_INTERRUPT);
    /* the INTIDs are free again, and come back not pending */
    fv_set_prop(fv, 8193, PROP_DEFAULT);
    assert_int_equal(mapti(fv, 1, 5, 8193, 0), 0);
    assert_int_equal(fv_pending(fv, 8193, NULL), 0);
    assert_int_equal(fv_count_kind(fv, FV_RAISE), 0);
    fv_free(fv);
}

static void mapd_remap_can_shrink_the_itt(void **state)
{
    (void)state;
    struct fakevm *fv = std_vm();
    assert_int_equal(mapd(fv, 1, 0, true), 0); /* 2 events */
    assert_int_equal(mapti(fv, 1, 1, 8192, 0), 0);
    assert_int_equal(mapti(fv, 1, 2, 8193, 0), VITS_E_MAPTI_ID_OOR);
    assert_int_equal(dev_ev(fv, CMD_INT, 1, 3), VITS_E_INT_EVENT_OOR);
    fv_free(fv);
}

static void mapd_unmap_drops_events_and_retracts(void **state)
{
    (void)state;
    struct fakevm *fv = std_vm();
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 2), 1);
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 3), 1);
    fv_clear_events(fv);
    assert_int_equal(mapd(fv, 1, 0, false), 0);
    assert_int_equal(fv_count_kind(fv, FV_RETRACT), 2);
    assert_int_equal(fv_count(fv, FV_RETRACT, 0, 8194), 1);
    assert_int_equal(fv_count(fv, FV_RETRACT, 0, 8195), 1);
    for (uint32_t i = 8192; i < 8196; i++)
        assert_false(fv_mapped(fv, i));
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 2), 0);
    assert_int_equal(dev_ev(fv, CMD_INT, 1, 2), VITS_E_INT_UNMAPPED_DEVICE);
    assert_int_equal(mapti(fv, 1, 0, 8192, 0), VITS_E_MAPTI_UNMAPPED_DEVICE);
    fv_free(fv);
}

static void mapd_unmap_of_an_unmapped_device_succeeds(void **state)
{
    (void)state;
    struct fakevm *fv = boot_cfg(1, NULL);
    assert_int_equal(mapd(fv, 77, 0, false), 0);
    /* Size is not checked with V = 0 */
    assert_int_equal(mapd(fv, 77, 31, false), 0);
    assert_int_equal(fv_error_count(fv), 0);
    fv_free(fv);
}

static void mapd_devid_beyond_device_id_bits_fails_with_010801(void **state)
{
    (void)state;
    struct vits_its_config cfg;
    vits_its_config_init(&cfg);
    cfg.base = FV_ITS_BASE;
    cfg.device_id_bits = 8;
    struct fakevm *fv = boot_cfg(1, &cfg);
    assert_int_equal(mapd(fv, 255, 0, true), 0);
    assert_int_equal(mapd(fv, 256, 0, true), VITS_E_MAPD_DEVICE_OOR);
    assert_int_equal(mapd(fv, 0xffffffffu, 0, true), VITS_E_MAPD_DEVICE_OOR);
    assert_int_equal(mapd(fv, 256, 0, false), VITS_E_MAPD_DEVICE_OOR);
    assert_int_equal(mapti(fv, 256, 0, 8192, 0), VITS_E_MAPTI_UNMAPPED_DEVICE);
    fv_free(fv);
}

static void mapd_devid_beyond_flat_device_table_fails_with_010801(void **state)
{
    (void)state;
    struct fakevm *fv = boot_cfg(1, NULL);
    set_baser(fv, 0, BASER_SMALL);
    assert_int_equal(mapd(fv, 511, 0, true), 0);
    assert_int_equal(mapd(fv, 512, 0, true), VITS_E_MAPD_DEVICE_OOR);
    assert_int_equal(mapd(fv, 512, 0, false), VITS_E_MAPD_DEVICE_OOR);
    fv_free(fv);
}

static void mapd_with_invalid_device_table_fails_with_010801(void **state)
{
    (void)state;
    struct fakevm *fv = boot_cfg(1, NULL);
    set_baser(fv, 0, 0);
    assert_int_equal(mapd(fv, 0, 0, true), VITS_E_MAPD_DEVICE_OOR);
    assert_int_equal(fv_last_error(fv), VITS_E_MAPD_DEVICE_OOR);
    fv_free(fv);
}

static struct fakevm *boot_indirect(void)
{
    struct vits_its_config cfg;
    vits_its_config_init(&cfg);
    cfg.base = FV_ITS_BASE;
    cfg.device_id_bits = 20;
    struct fakevm *fv = boot_cfg(1, &cfg);
    set_baser(fv, 0, BASER_INDIRECT);
    /* level-1 entry 1 (DeviceIDs 512..1023) valid, the others zero */
    fv_write64(fv, L1_TABLE + 8, 1ull << 63 | L2_PAGE);
    return fv;
}

static void mapd_under_a_valid_level1_entry_succeeds(void **state)
{
    (void)state;
    struct fakevm *fv = boot_indirect();
    assert_int_equal(mapd(fv, 512, 1, true), 0);
    assert_int_equal(mapd(fv, 1023, 1, true), 0);
    assert_int_equal(mapc(fv, 0, 0, true), 0);
    assert_int_equal(mapti(fv, 1023, 3, 9000, 0), 0);
    assert_int_equal(vits_its_signal_msi(fv->its, 1023, 3), 1);
    assert_int_equal(fv_error_count(fv), 0);
    fv_free(fv);
}

static void mapd_under_an_invalid_level1_entry_fails_with_010801(void **state)
{
    (void)state;
    struct fakevm *fv = boot_indirect();
    assert_int_equal(mapd(fv, 0, 1, true), VITS_E_MAPD_DEVICE_OOR);
    assert_int_equal(mapd(fv, 511, 1, true), VITS_E_MAPD_DEVICE_OOR);
    assert_int_equal(mapd(fv, 1024, 1, true), VITS_E_MAPD_DEVICE_OOR);
    fv_free(fv);
}

static void mapd_beyond_the_level1_array_fails_with_010801(void **state)
{
    (void)state;
    struct fakevm *fv = boot_indirect();
    /* make the last level-1 entry valid: IDs beyond it are still out */
    fv_write64(fv, L1_TABLE + 511 * 8, 1ull << 63 | (L2_PAGE + 0x1000));
    assert_int_equal(mapd(fv, 511 * 512, 1, true), 0);
    assert_int_equal(mapd(fv, 512 * 512 - 1, 1, true), 0);
    assert_int_equal(mapd(fv, 512 * 512, 1, true), VITS_E_MAPD_DEVICE_OOR);
    assert_int_equal(mapd(fv, (1u << 20) - 1, 1, true), VITS_E_MAPD_DEVICE_OOR);
    fv_free(fv);
}

static void mapd_with_unreadable_level1_entry_fails_with_010801(void **state)
{
    (void)state;
    struct fakevm *fv = boot_indirect();
    fv_add_hole(fv, L1_TABLE, 0x1000);
    unsigned guest = fv->log_count[VITS_LOG_GUEST];
    assert_int_equal(mapd(fv, 512, 1, true), VITS_E_MAPD_DEVICE_OOR);
    assert_true(fv->log_count[VITS_LOG_GUEST] > guest);
    fv_free(fv);
}

static void mapd_itt_size_beyond_event_id_bits_fails_with_010802(void **state)
{
    (void)state;
    struct fakevm *fv = boot_cfg(1, NULL); /* 16 EventID bits */
    assert_int_equal(mapd(fv, 3, 15, true), 0);
    assert_int_equal(mapd(fv, 4, 16, true), VITS_E_MAPD_ITTSIZE_OOR);
    assert_int_equal(mapd(fv, 4, 31, true), VITS_E_MAPD_ITTSIZE_OOR);
    assert_int_equal(mapti(fv, 4, 0, 8192, 0), VITS_E_MAPTI_UNMAPPED_DEVICE);
    fv_free(fv);

    struct vits_its_config cfg;
    vits_its_config_init(&cfg);
    cfg.base = FV_ITS_BASE;
    cfg.event_id_bits = 5;
    fv = boot_cfg(1, &cfg);
    assert_int_equal(mapd(fv, 3, 4, true), 0);
    assert_int_equal(mapd(fv, 3, 5, true), VITS_E_MAPD_ITTSIZE_OOR);
    /* the failed remap left the device as it was */
    assert_int_equal(mapti(fv, 3, 31, 8192, 0), 0);
    fv_free(fv);
}

static void mapd_beyond_max_devices_fails_with_010801(void **state)
{
    (void)state;
    struct vits_its_config cfg;
    vits_its_config_init(&cfg);
    cfg.base = FV_ITS_BASE;
    cfg.max_devices = 2;
    struct fakevm *fv = boot_cfg(1, &cfg);
    assert_int_equal(mapd(fv, 10, 0, true), 0);
    assert_int_equal(mapd(fv, 11, 0, true), 0);
    assert_int_equal(mapd(fv, 12, 0, true), VITS_E_MAPD_DEVICE_OOR);
    /* remapping a mapped device does not count twice */
    assert_int_equal(mapd(fv, 11, 3, true), 0);
    assert_int_equal(mapd(fv, 10, 0, false), 0);
    assert_int_equal(mapd(fv, 12, 0, true), 0);
    assert_int_equal(mapd(fv, 10, 0, true), VITS_E_MAPD_DEVICE_OOR);
    fv_free(fv);
}

/* ================================================================== */
/* MAPC                                                                */
/* ================================================================== */

static void mapc_routes_the_collection_to_the_vcpu(void **state)
{
    (void)state;
    struct fakevm *fv = boot_cfg(4, NULL);
    assert_int_equal(mapc(fv, 7, 3, true), 0);
    assert_int_equal(fv_map_device(fv, 2, 1, 2, 8300, 7), 0);
    uint32_t v = 0;
    assert_int_equal(fv_pending(fv, 8300, &v), 0);
    assert_int_equal(v, 3);
    assert_int_equal(vits_its_signal_msi(fv->its, 2, 1), 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 3, 8301), 1);
    assert_int_equal(fv->nr_events, 1);
    fv_free(fv);
}

static void mapc_remap_moves_lpis_and_pending_state(void **state)
{
    (void)state;
    struct fakevm *fv = std_vm();
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 0), 1);
    fv_clear_events(fv);
    assert_int_equal(mapc(fv, 0, 2, true), 0);
    /* retract on the old vCPU, then raise on the new */
    assert_int_equal(fv->nr_events, 2);
    assert_int_equal(fv->events[0].kind, FV_RETRACT);
    assert_int_equal(fv->events[0].vcpu, 0);
    assert_int_equal(fv->events[0].intid, 8192);
    assert_int_equal(fv->events[1].kind, FV_RAISE);
    assert_int_equal(fv->events[1].vcpu, 2);
    assert_int_equal(fv->events[1].intid, 8192);
    assert_int_equal(fv->events[1].priority, 0xa0);
    uint32_t v = 0;
    assert_int_equal(fv_pending(fv, 8192, &v), 1);
    assert_int_equal(v, 2);
    assert_int_equal(fv_pending(fv, 8193, &v), 0);
    assert_int_equal(v, 2);
    assert_int_equal(vits_lpi_ack(fv->d, 0, 8192), -ENOENT);
    assert_int_equal(vits_lpi_ack(fv->d, 2, 8192), 0);
    /* new MSIs go to the new vCPU */
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 3), 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 2, 8195), 1);
    fv_free(fv);
}

static void mapc_remap_to_the_same_vcpu_changes_nothing(void **state)
{
    (void)state;
    struct fakevm *fv = std_vm();
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 0), 1);
    fv_clear_events(fv);
    assert_int_equal(mapc(fv, 0, 0, true), 0);
    assert_int_equal(fv->nr_events, 0);
    assert_int_equal(vits_lpi_ack(fv->d, 0, 8192), 0);
    fv_free(fv);
}

static void mapc_unmap_leaves_lpis_without_target(void **state)
{
    (void)state;
    struct fakevm *fv = std_vm();
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 1), 1);
    fv_clear_events(fv);
    assert_int_equal(mapc(fv, 0, 0, false), 0);
    assert_int_equal(fv->nr_events, 1);
    assert_int_equal(fv_count(fv, FV_RETRACT, 0, 8193), 1);
    uint32_t v = 0;
    assert_int_equal(fv_pending(fv, 8193, &v), 1); /* pending state kept */
    assert_int_equal(v, UINT32_MAX);
    assert_int_equal(fv_pending(fv, 8192, &v), 0);
    assert_int_equal(v, UINT32_MAX);
    /* MSIs are blocked, INT fails */
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 0), 0);
    assert_int_equal(fv_pending(fv, 8192, NULL), 0);
    assert_int_equal(dev_ev(fv, CMD_INT, 1, 0), VITS_E_INT_UNMAPPED_COLLECTION);
    /* mapping it again delivers the kept pending state */
    fv_clear_events(fv);
    assert_int_equal(mapc(fv, 0, 3, true), 0);
    assert_int_equal(fv->nr_events, 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 3, 8193), 1);
    assert_int_equal(fv_pending(fv, 8192, &v), 0);
    assert_int_equal(v, 3);
    fv_free(fv);
}

static void mapc_unmap_of_an_unmapped_collection_succeeds(void **state)
{
    (void)state;
    struct fakevm *fv = boot_cfg(1, NULL);
    assert_int_equal(mapc(fv, 5, 0, false), 0);
    /* RDbase is not looked at with V = 0 */
    assert_int_equal(mapc(fv, 5, 999, false), 0);
    assert_int_equal(fv_error_count(fv), 0);
    fv_free(fv);
}

static void mapc_icid_beyond_collection_id_bits_fails_with_010903(void **state)
{
    (void)state;
    struct vits_its_config cfg;
    vits_its_config_init(&cfg);
    cfg.base = FV_ITS_BASE;
    cfg.collection_id_bits = 4;
    struct fakevm *fv = boot_cfg(2, &cfg);
    assert_int_equal(mapc(fv, 15, 1, true), 0);
    assert_int_equal(mapc(fv, 16, 1, true), VITS_E_MAPC_COLLECTION_OOR);
    assert_int_equal(mapc(fv, 0xffff, 1, true), VITS_E_MAPC_COLLECTION_OOR);
    assert_int_equal(mapc(fv, 16, 1, false), VITS_E_MAPC_COLLECTION_OOR);
    fv_free(fv);
}

static void mapc_icid_beyond_collection_table_fails_with_010903(void **state)
{
    (void)state;
    struct fakevm *fv = boot_cfg(2, NULL);
    /* fv_boot's table: one 64 KiB page, 8192 entries */
    assert_int_equal(mapc(fv, 8191, 1, true), 0);
    assert_int_equal(mapc(fv, 8192, 1, true), VITS_E_MAPC_COLLECTION_OOR);
    set_baser(fv, 1, BASER_SMALL);
    assert_int_equal(mapc(fv, 511, 1, true), 0);
    assert_int_equal(mapc(fv, 512, 1, true), VITS_E_MAPC_COLLECTION_OOR);
    set_baser(fv, 1, 0);
    assert_int_equal(mapc(fv, 0, 1, true), VITS_E_MAPC_COLLECTION_OOR);
    fv_free(fv);
}

static void mapc_processor_beyond_nr_vcpus_fails_with_010902(void **state)
{
    (void)state;
    struct fakevm *fv = boot_cfg(4, NULL);
    assert_int_equal(mapc(fv, 0, 3, true), 0);
    assert_int_equal(mapc(fv, 1, 4, true), VITS_E_MAPC_PROCNUM_OOR);
    assert_int_equal(mapc(fv, 1, (1ull << 36) - 1, true), VITS_E_MAPC_PROCNUM_OOR);
    /* a failed remap leaves the old mapping */
    assert_int_equal(mapc(fv, 0, 4, true), VITS_E_MAPC_PROCNUM_OOR);
    assert_int_equal(fv_map_device(fv, 1, 1, 1, 8192, 0), 0);
    uint32_t v = 0;
    assert_int_equal(fv_pending(fv, 8192, &v), 0);
    assert_int_equal(v, 3);
    /* collection 1 stays unmapped */
    assert_int_equal(invall(fv, 1), VITS_E_INVALL_UNMAPPED_COLLECTION);
    fv_free(fv);
}

static void mapc_with_pta_names_redistributors_by_address(void **state)
{
    (void)state;
    struct fakevm *fv = boot_pta(4, 0);
    assert_int_equal(fv_its_read(fv, 0x8, 8) >> 19 & 1, 1); /* GITS_TYPER.PTA */
    assert_int_equal(mapc(fv, 0, rd_addr(2), true), 0);
    assert_int_equal(fv_map_device(fv, 1, 1, 1, 8192, 0), 0);
    uint32_t v = 0;
    assert_int_equal(fv_pending(fv, 8192, &v), 0);
    assert_int_equal(v, 2);
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 0), 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 2, 8192), 1);
    /* a processor number is not an address */
    assert_int_equal(mapc(fv, 1, 1, true), VITS_E_MAPC_PROCNUM_OOR);
    assert_int_equal(mapc(fv, 1, rd_addr(0), true), 0);
    assert_int_equal(mapc(fv, 1, rd_addr(3), true), 0);
    assert_int_equal(mapc(fv, 1, rd_addr(4), true), VITS_E_MAPC_PROCNUM_OOR);
    /* between two redistributors, and below the first */
    assert_int_equal(mapc(fv, 1, (REDIST_BASE + 0x10000) >> 16, true), VITS_E_MAPC_PROCNUM_OOR);
    assert_int_equal(mapc(fv, 1, (REDIST_BASE - 0x20000) >> 16, true), VITS_E_MAPC_PROCNUM_OOR);
    fv_free(fv);
}

static void mapc_with_pta_follows_the_domain_stride(void **state)
{
    (void)state;
    struct fakevm *fv = boot_pta(4, 0x40000);
    assert_int_equal(mapc(fv, 0, (REDIST_BASE + 0x40000) >> 16, true), 0);
    assert_int_equal(mapc(fv, 1, (REDIST_BASE + 0x20000) >> 16, true), VITS_E_MAPC_PROCNUM_OOR);
    assert_int_equal(mapc(fv, 1, (REDIST_BASE + 3 * 0x40000) >> 16, true), 0);
    assert_int_equal(mapc(fv, 1, (REDIST_BASE + 4 * 0x40000) >> 16, true), VITS_E_MAPC_PROCNUM_OOR);
    assert_int_equal(fv_map_device(fv, 1, 1, 2, 8192, 0), 0);
    assert_int_equal(mapti(fv, 1, 1, 8193, 1), 0);
    uint32_t v = 0;
    assert_int_equal(fv_pending(fv, 8192, &v), 0);
    assert_int_equal(v, 1);
    assert_int_equal(fv_pending(fv, 8193, &v), 0);
    assert_int_equal(v, 3);
    fv_free(fv);
}

static void mapc_beyond_max_collections_fails_with_010903(void **state)
{
    (void)state;
    struct vits_its_config cfg;
    vits_its_config_init(&cfg);
    cfg.base = FV_ITS_BASE;
    cfg.max_collections = 2;
    struct fakevm *fv = boot_cfg(2, &cfg);
    assert_int_equal(mapc(fv, 0, 0, true), 0);
    assert_int_equal(mapc(fv, 1, 0, true), 0);
    assert_int_equal(mapc(fv, 2, 0, true), VITS_E_MAPC_COLLECTION_OOR);
    /* re-targeting a mapped collection does not count twice */
    assert_int_equal(mapc(fv, 1, 1, true), 0);
    assert_int_equal(mapc(fv, 0, 0, false), 0);
    assert_int_equal(mapc(fv, 2, 1, true), 0);
    assert_int_equal(mapc(fv, 0, 0, true), VITS_E_MAPC_COLLECTION_OOR);
    fv_free(fv);
}

/* ================================================================== */
/* MAPTI / MAPI                                                        */
/* ================================================================== */

static void mapti_maps_an_event_that_msis_then_raise(void **state)
{
    (void)state;
    struct fakevm *fv = boot_cfg(2, NULL);
    assert_int_equal(mapc(fv, 3, 1, true), 0);
    assert_int_equal(mapd(fv, 4, 3, true), 0);
    assert_int_equal(mapti(fv, 4, 15, 12345, 3), 0);
    uint32_t v = 0;
    assert_int_equal(fv_pending(fv, 12345, &v), 0);
    assert_int_equal(v, 1);
    assert_int_equal(fv->nr_events, 0);
    assert_int_equal(vits_its_signal_msi(fv->its, 4, 15), 1);
    assert_int_equal(fv->nr_events, 1);
    assert_int_equal(last_event(fv)->kind, FV_RAISE);
    assert_int_equal(last_event(fv)->vcpu, 1);
    assert_int_equal(last_event(fv)->intid, 12345);
    assert_int_equal(last_event(fv)->priority, 0xa0);
    /* other events of the device stay unmapped */
    assert_int_equal(vits_its_signal_msi(fv->its, 4, 14), 0);
    fv_free(fv);
}

static void mapti_to_an_unmapped_collection_blocks_msis_until_mapc(void **state)
{
    (void)state;
    struct fakevm *fv = boot_cfg(4, NULL);
    assert_int_equal(mapd(fv, 4, 3, true), 0);
    assert_int_equal(mapti(fv, 4, 0, 8200, 9), 0);
    uint32_t v = 0;
    assert_int_equal(fv_pending(fv, 8200, &v), 0);
    assert_int_equal(v, UINT32_MAX);
    assert_int_equal(vits_its_signal_msi(fv->its, 4, 0), 0);
    assert_int_equal(fv_pending(fv, 8200, NULL), 0);
    assert_int_equal(dev_ev(fv, CMD_INT, 4, 0), VITS_E_INT_UNMAPPED_COLLECTION);
    assert_int_equal(fv->nr_events, 0);
    assert_int_equal(mapc(fv, 9, 2, true), 0);
    assert_int_equal(fv->nr_events, 0); /* nothing was pending */
    assert_int_equal(vits_its_signal_msi(fv->its, 4, 0), 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 2, 8200), 1);
    fv_free(fv);
}

static void mapti_unmapped_device_fails_with_010a04(void **state)
{
    (void)state;
    struct fakevm *fv = boot_cfg(1, NULL);
    assert_int_equal(mapti(fv, 3, 0, 8192, 0), VITS_E_MAPTI_UNMAPPED_DEVICE);
    assert_false(fv_mapped(fv, 8192));
    fv_free(fv);
}

static void mapti_event_beyond_itt_fails_with_010a05(void **state)
{
    (void)state;
    struct fakevm *fv = std_vm(); /* device 1: 16 events */
    assert_int_equal(mapti(fv, 1, 16, 9000, 0), VITS_E_MAPTI_ID_OOR);
    assert_int_equal(mapti(fv, 1, 0xffffffffu, 9000, 0), VITS_E_MAPTI_ID_OOR);
    assert_false(fv_mapped(fv, 9000));
    assert_int_equal(mapti(fv, 1, 15, 9000, 0), 0);
    fv_free(fv);
}

static void mapti_intid_out_of_lpi_range_fails_with_010a06(void **state)
{
    (void)state;
    struct fakevm *fv = std_vm(); /* 16 LPI ID bits */
    assert_int_equal(mapti(fv, 1, 5, 8191, 0), VITS_E_MAPTI_PHYSICALID_OOR);
    assert_int_equal(mapti(fv, 1, 5, 0, 0), VITS_E_MAPTI_PHYSICALID_OOR);
    assert_int_equal(mapti(fv, 1, 5, 65536, 0), VITS_E_MAPTI_PHYSICALID_OOR);
    assert_int_equal(mapti(fv, 1, 5, 0xffffffffu, 0), VITS_E_MAPTI_PHYSICALID_OOR);
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 5), 0);
    assert_int_equal(mapti(fv, 1, 5, 65535, 0), 0);
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 5), 1);
    fv_free(fv);
}

static void mapti_intid_in_use_fails_with_010a06_and_keeps_both(void **state)
{
    (void)state;
    struct fakevm *fv = std_vm();
    assert_int_equal(mapd(fv, 2, 1, true), 0);
    /* 8193 is device 1 event 1: neither another device nor another
     * event of the same device may take it */
    assert_int_equal(mapti(fv, 2, 0, 8193, 1), VITS_E_MAPTI_PHYSICALID_OOR);
    assert_int_equal(mapti(fv, 1, 0, 8193, 1), VITS_E_MAPTI_PHYSICALID_OOR);
    /* both old mappings are intact */
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 0), 1);
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 1), 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 0, 8192), 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 0, 8193), 1);
    assert_int_equal(vits_its_signal_msi(fv->its, 2, 0), 0);
    fv_free(fv);
}

static void mapti_icid_out_of_range_fails_with_010a03(void **state)
{
    (void)state;
    struct fakevm *fv = std_vm(); /* collection table: 8192 entries */
    assert_int_equal(mapti(fv, 1, 5, 9000, 8192), VITS_E_MAPTI_COLLECTION_OOR);
    assert_false(fv_mapped(fv, 9000));
    /* the failure leaves an existing mapping of the event alone */
    assert_int_equal(mapti(fv, 1, 0, 9000, 8192), VITS_E_MAPTI_COLLECTION_OOR);
    assert_true(fv_mapped(fv, 8192));
    assert_int_equal(mapti(fv, 1, 5, 9000, 8191), 0);
    fv_free(fv);

    struct vits_its_config cfg;
    vits_its_config_init(&cfg);
    cfg.base = FV_ITS_BASE;
    cfg.collection_id_bits = 2;
    fv = boot_cfg(1, &cfg);
    assert_int_equal(mapd(fv, 0, 0, true), 0);
    assert_int_equal(mapti(fv, 0, 0, 8192, 4), VITS_E_MAPTI_COLLECTION_OOR);
    assert_int_equal(mapti(fv, 0, 0, 8192, 3), 0);
    fv_free(fv);
}

static void mapti_of_a_mapped_event_replaces_the_old_itte(void **state)
{
    (void)state;
    struct fakevm *fv = std_vm();
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 2), 1); /* 8194 raised */
    fv_clear_events(fv);
    assert_int_equal(mapti(fv, 1, 2, 9000, 1), 0);
    assert_int_equal(fv->nr_events, 1);
    assert_int_equal(fv_count(fv, FV_RETRACT, 0, 8194), 1);
    assert_false(fv_mapped(fv, 8194));
    uint32_t v = 0;
    assert_int_equal(fv_pending(fv, 9000, &v), 0); /* pending state dropped */
    assert_int_equal(v, 1);
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 2), 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 1, 9000), 1);
    /* the old INTID is free for another event */
    assert_int_equal(mapti(fv, 1, 9, 8194, 0), 0);
    fv_free(fv);
}

static void mapti_of_a_mapped_event_to_the_same_intid_drops_pending(void **state)
{
    (void)state;
    struct fakevm *fv = std_vm();
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 0), 1);
    fv_clear_events(fv);
    /* same INTID: not "in use by another event" */
    assert_int_equal(mapti(fv, 1, 0, 8192, 1), 0);
    assert_int_equal(fv->nr_events, 1);
    assert_int_equal(fv_count(fv, FV_RETRACT, 0, 8192), 1);
    uint32_t v = 0;
    assert_int_equal(fv_pending(fv, 8192, &v), 0);
    assert_int_equal(v, 1);
    fv_free(fv);
}

static void mapti_reads_the_property_at_map_time(void **state)
{
    (void)state;
    struct fakevm *fv = std_vm();
    fv_set_prop(fv, 9000, 0x42); /* priority 0x40, disabled */
    fv_set_prop(fv, 9001, 0x51); /* priority 0x50 (low bits ignored), enabled */
    assert_int_equal(mapti(fv, 1, 5, 9000, 0), 0);
    assert_int_equal(mapti(fv, 1, 6, 9001, 0), 0);
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 5), 1);
    assert_int_equal(fv->nr_events, 0);
    assert_int_equal(fv_pending(fv, 9000, NULL), 1);
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 6), 1);
    assert_int_equal(fv->nr_events, 1);
    assert_int_equal(last_event(fv)->intid, 9001);
    assert_int_equal(last_event(fv)->priority, 0x50);
    fv_free(fv);
}

static void mapti_beyond_max_events_fails_with_010a06(void **state)
{
    (void)state;
    struct vits_its_config cfg;
    vits_its_config_init(&cfg);
    cfg.base = FV_ITS_BASE;
    cfg.max_events = 2;
    struct fakevm *fv = boot_cfg(1, &cfg);
    assert_int_equal(mapc(fv, 0, 0, true), 0);
    assert_int_equal(mapd(fv, 1, 3, true), 0);
    assert_int_equal(mapd(fv, 2, 3, true), 0);
    assert_int_equal(mapti(fv, 1, 0, 8192, 0), 0);
    assert_int_equal(mapti(fv, 2, 0, 8193, 0), 0);
    assert_int_equal(mapti(fv, 1, 1, 8194, 0), VITS_E_MAPTI_PHYSICALID_OOR);
    assert_int_equal(mapi(fv, 2, 1, 0), VITS_E_MAPI_PHYSICALID_OOR);
    assert_false(fv_mapped(fv, 8194));
    /* replacing a mapped event at the limit is fine */
    assert_int_equal(mapti(fv, 1, 0, 8195, 0), 0);
    assert_false(fv_mapped(fv, 8192));
    /* DISCARD and MAPD V=0 give room back */
    assert_int_equal(dev_ev(fv, CMD_DISCARD, 1, 0), 0);
    assert_int_equal(mapti(fv, 1, 1, 8194, 0), 0);
    assert_int_equal(mapti(fv, 1, 2, 8196, 0), VITS_E_MAPTI_PHYSICALID_OOR);
    assert_int_equal(mapd(fv, 2, 0, false), 0);
    assert_int_equal(mapti(fv, 1, 2, 8196, 0), 0);
    fv_free(fv);
}

static void mapi_uses_the_eventid_as_pintid(void **state)
{
    (void)state;
    struct fakevm *fv = boot_cfg(2, NULL);
    assert_int_equal(mapc(fv, 0, 1, true), 0);
    assert_int_equal(mapd(fv, 6, 13, true), 0); /* 14 bits: events up to 16383 */
    assert_int_equal(mapi(fv, 6, 8200, 0), 0);
    uint32_t v = 0;
    assert_int_equal(fv_pending(fv, 8200, &v), 0);
    assert_int_equal(v, 1);
    assert_int_equal(vits_its_signal_msi(fv->its, 6, 8200), 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 1, 8200), 1);
    /* the INTID is now taken for MAPTI too */
    assert_int_equal(mapti(fv, 6, 1, 8200, 0), VITS_E_MAPTI_PHYSICALID_OOR);
    assert_int_equal(mapi(fv, 6, 8200, 0), 0); /* remap of the same event */
    fv_free(fv);
}

static void mapi_errors_use_command_0b(void **state)
{
    (void)state;
    struct fakevm *fv = boot_cfg(1, NULL);
    assert_int_equal(mapi(fv, 6, 8200, 0), VITS_E_MAPI_UNMAPPED_DEVICE);
    assert_int_equal(mapd(fv, 6, 12, true), 0); /* 13 bits: events up to 8191 */
    assert_int_equal(mapi(fv, 6, 8192, 0), VITS_E_MAPI_ID_OOR);
    assert_int_equal(mapi(fv, 6, 8191, 0), VITS_E_MAPI_PHYSICALID_OOR);
    assert_int_equal(mapi(fv, 6, 5, 0), VITS_E_MAPI_PHYSICALID_OOR);
    assert_int_equal(mapd(fv, 6, 15, true), 0);
    assert_int_equal(mapi(fv, 6, 8192, 8192), VITS_E_MAPI_COLLECTION_OOR);
    assert_int_equal(mapti(fv, 6, 0, 8192, 0), 0);
    assert_int_equal(mapi(fv, 6, 8192, 0), VITS_E_MAPI_PHYSICALID_OOR);
    assert_int_equal(mapi(fv, 6, 65535, 0), 0);
    assert_int_equal(fv_error_count(fv), 6);
    fv_free(fv);
}

/* ================================================================== */
/* INT                                                                 */
/* ================================================================== */

static void int_makes_pending_and_raises_with_the_property_priority(void **state)
{
    (void)state;
    struct fakevm *fv = std_vm();
    fv_set_prop(fv, 9000, 0x43);
    assert_int_equal(mapti(fv, 1, 8, 9000, 1), 0);
    assert_int_equal(dev_ev(fv, CMD_INT, 1, 8), 0);
    uint32_t v = 0;
    assert_int_equal(fv_pending(fv, 9000, &v), 1);
    assert_int_equal(v, 1);
    assert_int_equal(fv->nr_events, 1);
    assert_int_equal(last_event(fv)->kind, FV_RAISE);
    assert_int_equal(last_event(fv)->vcpu, 1);
    assert_int_equal(last_event(fv)->intid, 9000);
    assert_int_equal(last_event(fv)->priority, 0x40);
    assert_int_equal(vits_lpi_ack(fv->d, 1, 9000), 0);
    assert_int_equal(fv_pending(fv, 9000, NULL), 0);
    fv_free(fv);
}

static void int_while_pending_coalesces(void **state)
{
    (void)state;
    struct fakevm *fv = std_vm();
    assert_int_equal(dev_ev(fv, CMD_INT, 1, 0), 0);
    assert_int_equal(dev_ev(fv, CMD_INT, 1, 0), 0);
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 0), 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 0, 8192), 1);
    assert_int_equal(fv->nr_events, 1);
    /* once acknowledged, the next INT raises again */
    assert_int_equal(vits_lpi_ack(fv->d, 0, 8192), 0);
    assert_int_equal(vits_lpi_ack(fv->d, 0, 8192), -ENOENT);
    assert_int_equal(dev_ev(fv, CMD_INT, 1, 0), 0);
    assert_int_equal(fv_count(fv, FV_RAISE, 0, 8192), 2);
    fv_free(fv);
}

static void int_errors(void **state)
{
    (void)state;
    struct fakevm *fv = std_vm();
    assert_int_equal(dev_ev(fv, CMD_INT, 2, 0), VITS_E_INT_UNMAPPED_DEVICE);
    assert_int_equal(dev_ev(fv, CMD_INT, 1, 16), VITS_E_INT_EVENT_OOR);
    assert_int_equal(dev_ev(fv, CMD_INT, 1, 4), VITS_E_INT_UNMAPPED_INTERRUPT);
    assert_int_equal(mapti(fv, 1, 4, 9000, 5), 0);
    assert_int_equal(dev_ev(fv, CMD_INT, 1, 4), VITS_E_INT_UNMAPPED_COLLECTION);
    assert_int_equal(fv_pending(fv, 9000, NULL), 0);
    assert_int_equal(fv->nr_events, 0);
    assert_int_equal(fv_error_count(fv), 4);
    fv_free(fv);
}

/* ================================================================== */
/* CLEAR                                                               */
/* ================================================================== */

static void clear_removes_pending_state_and_retracts(void **state)
{
    (void)state;
    struct fakevm *fv = std_vm();
    assert_int_equal(dev_ev(fv, CMD_INT, 1, 3), 0);
    fv_clear_events(fv);
    assert_int_equal(dev_ev(fv, CMD_CLEAR, 1, 3), 0);
    assert_int_equal(fv->nr_events, 1);
    assert_int_equal(fv_count(fv, FV_RETRACT, 0, 8195), 1);
    assert_int_equal(fv_pending(fv, 8195, NULL), 0);
    assert_int_equal(vits_lpi_ack(fv->d, 0, 8195), -ENOENT);
    /* CLEAR of a non-pending LPI does nothing */
    assert_int_equal(dev_ev(fv, CMD_CLEAR, 1, 3), 0);
    assert_int_equal(fv->nr_events, 1);
    /* and the LPI can be raised again */
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 3), 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 0, 8195), 1);
    fv_free(fv);
}

static void clear_of_a_pending_disabled_lpi_keeps_it_from_being_raised(void **state)
{
    (void)state;
    struct fakevm *fv = std_vm();
    fv_set_prop(fv, 8192, 0xa2);
    assert_int_equal(dev_ev(fv, CMD_INV, 1, 0), 0);
    assert_int_equal(dev_ev(fv, CMD_INT, 1, 0), 0);
    assert_int_equal(fv_pending(fv, 8192, NULL), 1);
    assert_int_equal(dev_ev(fv, CMD_CLEAR, 1, 0), 0);
    assert_int_equal(fv_pending(fv, 8192, NULL), 0);
    fv_set_prop(fv, 8192, PROP_DEFAULT);
    assert_int_equal(dev_ev(fv, CMD_INV, 1, 0), 0);
    assert_int_equal(fv->nr_events, 0);
    fv_free(fv);
}

static void clear_errors_are_numbered_0105ee(void **state)
{
    (void)state;
    struct fakevm *fv = std_vm();
    assert_int_equal(dev_ev(fv, CMD_CLEAR, 2, 0), 0x010504);
    assert_int_equal(dev_ev(fv, CMD_CLEAR, 1, 16), 0x010505);
    assert_int_equal(dev_ev(fv, CMD_CLEAR, 1, 4), 0x010507);
    assert_int_equal(mapti(fv, 1, 4, 9000, 5), 0);
    assert_int_equal(dev_ev(fv, CMD_CLEAR, 1, 4), 0x010509);
    assert_int_equal(VITS_E_CLEAR_UNMAPPED_DEVICE, 0x010504);
    assert_int_equal(VITS_E_CLEAR_EVENT_OOR, 0x010505);
    assert_int_equal(VITS_E_CLEAR_UNMAPPED_INTERRUPT, 0x010507);
    assert_int_equal(VITS_E_CLEAR_UNMAPPED_COLLECTION, 0x010509);
    fv_free(fv);
}

/* ================================================================== */
/* INV                                                                 */
/* ================================================================== */

static void inv_raises_a_pending_lpi_once_enabled(void **state)
{
    (void)state;
    struct fakevm *fv = std_vm();
    fv_set_prop(fv, 9000, 0x62); /* disabled at MAPTI */
    assert_int_equal(mapti(fv, 1, 4, 9000, 1), 0);
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 4), 1);
    assert_int_equal(fv_pending(fv, 9000, NULL), 1);
    assert_int_equal(fv->nr_events, 0);
    /* the property is cached: writing it alone changes nothing */
    fv_set_prop(fv, 9000, 0x63);
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 4), 1);
    assert_int_equal(fv->nr_events, 0);
    assert_int_equal(dev_ev(fv, CMD_INV, 1, 4), 0);
    assert_int_equal(fv->nr_events, 1);
    assert_int_equal(last_event(fv)->kind, FV_RAISE);
    assert_int_equal(last_event(fv)->vcpu, 1);
    assert_int_equal(last_event(fv)->intid, 9000);
    assert_int_equal(last_event(fv)->priority, 0x60);
    fv_free(fv);
}

static void inv_with_a_new_priority_reraises(void **state)
{
    (void)state;
    struct fakevm *fv = std_vm();
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 1), 1);
    fv_clear_events(fv);
    fv_set_prop(fv, 8193, 0x21);
    assert_int_equal(dev_ev(fv, CMD_INV, 1, 1), 0);
    assert_int_equal(fv->nr_events, 2);
    assert_int_equal(fv->events[0].kind, FV_RETRACT);
    assert_int_equal(fv->events[0].intid, 8193);
    assert_int_equal(fv->events[1].kind, FV_RAISE);
    assert_int_equal(fv->events[1].vcpu, 0);
    assert_int_equal(fv->events[1].intid, 8193);
    assert_int_equal(fv->events[1].priority, 0x20);
    /* an unchanged property changes nothing */
    assert_int_equal(dev_ev(fv, CMD_INV, 1, 1), 0);
    assert_int_equal(fv->nr_events, 2);
    fv_free(fv);
}

static void inv_of_a_disabled_lpi_retracts_and_keeps_it_pending(void **state)
{
    (void)state;
    struct fakevm *fv = std_vm();
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 2), 1);
    fv_clear_events(fv);
    fv_set_prop(fv, 8194, 0xa2);
    assert_int_equal(dev_ev(fv, CMD_INV, 1, 2), 0);
    assert_int_equal(fv->nr_events, 1);
    assert_int_equal(fv_count(fv, FV_RETRACT, 0, 8194), 1);
    assert_int_equal(fv_pending(fv, 8194, NULL), 1);
    assert_int_equal(vits_lpi_ack(fv->d, 0, 8194), -ENOENT);
    fv_set_prop(fv, 8194, PROP_DEFAULT);
    assert_int_equal(dev_ev(fv, CMD_INV, 1, 2), 0);
    assert_int_equal(fv_count(fv, FV_RAISE, 0, 8194), 1);
    fv_free(fv);
}

static void inv_errors(void **state)
{
    (void)state;
    struct fakevm *fv = std_vm();
    assert_int_equal(dev_ev(fv, CMD_INV, 2, 0), VITS_E_INV_UNMAPPED_DEVICE);
    assert_int_equal(dev_ev(fv, CMD_INV, 1, 16), VITS_E_INV_EVENT_OOR);
    assert_int_equal(dev_ev(fv, CMD_INV, 1, 4), VITS_E_INV_UNMAPPED_INTERRUPT);
    assert_int_equal(mapti(fv, 1, 4, 9000, 5), 0);
    assert_int_equal(dev_ev(fv, CMD_INV, 1, 4), VITS_E_INV_UNMAPPED_COLLECTION);
    fv_free(fv);
}

/* ================================================================== */
/* INVALL                                                              */
/* ================================================================== */

static void invall_refreshes_every_lpi_of_the_collection_only(void **state)
{
    (void)state;
    struct fakevm *fv = std_vm();
    /* 8192..8195 on vCPU 0 (collection 0); 9000 on vCPU 1; 9001 on
     * vCPU 0 through collection 2 */
    assert_int_equal(mapti(fv, 1, 4, 9000, 1), 0);
    assert_int_equal(mapc(fv, 2, 0, true), 0);
    assert_int_equal(mapti(fv, 1, 5, 9001, 2), 0);
    uint32_t ids[] = {8192, 8193, 8194, 9000, 9001};
    for (unsigned i = 0; i < 5; i++) {
        fv_set_prop(fv, ids[i], 0xa2);
        assert_int_equal(dev_ev(fv, CMD_INV, 1, i < 3 ? i : i + 1), 0);
    }
    assert_int_equal(dev_ev(fv, CMD_INT, 1, 0), 0);
    assert_int_equal(dev_ev(fv, CMD_INT, 1, 1), 0);
    assert_int_equal(dev_ev(fv, CMD_INT, 1, 4), 0);
    assert_int_equal(dev_ev(fv, CMD_INT, 1, 5), 0);
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 3), 1); /* raised */
    fv_clear_events(fv);
    for (unsigned i = 0; i < 5; i++)
        fv_set_prop(fv, ids[i], 0x81);
    fv_set_prop(fv, 8195, 0x11);
    assert_int_equal(invall(fv, 0), 0);
    /* collection 0: 8192 and 8193 raised with priority 0x80; 8195
     * re-raised with 0x10; 8194 (not pending) not; 9001 shares vCPU 0
     * but is in collection 2, and 9000 is in collection 1: untouched */
    assert_int_equal(fv_count(fv, FV_RAISE, 0, 8192), 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 0, 8193), 1);
    assert_int_equal(fv_count(fv, FV_RETRACT, 0, 8195), 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 0, 8195), 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 0, 9001), 0);
    assert_int_equal(fv_count_kind(fv, FV_RAISE), 3);
    assert_int_equal(fv->nr_events, 4);
    for (unsigned i = 0; i < fv->nr_events; i++)
        if (fv->events[i].kind == FV_RAISE)
            assert_int_equal(fv->events[i].priority, fv->events[i].intid == 8195 ? 0x10 : 0x80);
    /* INVALL on collection 2 picks up 9001, on collection 1 9000 */
    fv_clear_events(fv);
    assert_int_equal(invall(fv, 2), 0);
    assert_int_equal(fv->nr_events, 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 0, 9001), 1);
    fv_clear_events(fv);
    assert_int_equal(invall(fv, 1), 0);
    assert_int_equal(fv->nr_events, 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 1, 9000), 1);
    fv_free(fv);
}

static void invall_disabling_retracts(void **state)
{
    (void)state;
    struct fakevm *fv = std_vm();
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 0), 1);
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 1), 1);
    fv_clear_events(fv);
    fv_set_prop(fv, 8192, 0xa2);
    fv_set_prop(fv, 8193, 0xa2);
    assert_int_equal(invall(fv, 0), 0);
    assert_int_equal(fv->nr_events, 2);
    assert_int_equal(fv_count_kind(fv, FV_RETRACT), 2);
    assert_int_equal(fv_pending(fv, 8192, NULL), 1);
    assert_int_equal(fv_pending(fv, 8193, NULL), 1);
    fv_free(fv);
}

static void invall_errors(void **state)
{
    (void)state;
    struct fakevm *fv = std_vm();
    assert_int_equal(invall(fv, 8192), VITS_E_INVALL_COLLECTION_OOR);
    assert_int_equal(invall(fv, 2), VITS_E_INVALL_UNMAPPED_COLLECTION);
    assert_int_equal(mapc(fv, 0, 0, false), 0);
    assert_int_equal(invall(fv, 0), VITS_E_INVALL_UNMAPPED_COLLECTION);
    fv_free(fv);

    struct vits_its_config cfg;
    vits_its_config_init(&cfg);
    cfg.base = FV_ITS_BASE;
    cfg.collection_id_bits = 3;
    fv = boot_cfg(1, &cfg);
    assert_int_equal(invall(fv, 8), VITS_E_INVALL_COLLECTION_OOR);
    assert_int_equal(invall(fv, 7), VITS_E_INVALL_UNMAPPED_COLLECTION);
    fv_free(fv);
}

/* ================================================================== */
/* DISCARD                                                             */
/* ================================================================== */

static void discard_removes_the_mapping_and_pending_state(void **state)
{
    (void)state;
    struct fakevm *fv = std_vm();
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 1), 1);
    fv_clear_events(fv);
    assert_int_equal(dev_ev(fv, CMD_DISCARD, 1, 1), 0);
    assert_int_equal(fv->nr_events, 1);
    assert_int_equal(fv_count(fv, FV_RETRACT, 0, 8193), 1);
    assert_false(fv_mapped(fv, 8193));
    assert_int_equal(vits_lpi_ack(fv->d, 0, 8193), -ENOENT);
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 1), 0);
    assert_int_equal(dev_ev(fv, CMD_INT, 1, 1), VITS_E_INT_UNMAPPED_INTERRUPT);
    assert_int_equal(dev_ev(fv, CMD_DISCARD, 1, 1), VITS_E_DISCARD_UNMAPPED_INTERRUPT);
    /* the other events are untouched */
    assert_true(fv_mapped(fv, 8192));
    assert_true(fv_mapped(fv, 8194));
    fv_free(fv);
}

static void discard_frees_the_intid_for_another_mapti(void **state)
{
    (void)state;
    struct fakevm *fv = std_vm();
    assert_int_equal(mapd(fv, 2, 0, true), 0);
    assert_int_equal(mapti(fv, 2, 0, 8194, 1), VITS_E_MAPTI_PHYSICALID_OOR);
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 2), 1);
    assert_int_equal(dev_ev(fv, CMD_DISCARD, 1, 2), 0);
    assert_int_equal(mapti(fv, 2, 0, 8194, 1), 0);
    uint32_t v = 0;
    assert_int_equal(fv_pending(fv, 8194, &v), 0); /* fresh, not pending */
    assert_int_equal(v, 1);
    fv_clear_events(fv);
    assert_int_equal(vits_its_signal_msi(fv->its, 2, 0), 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 1, 8194), 1);
    fv_free(fv);
}

static void discard_does_not_need_a_mapped_collection(void **state)
{
    (void)state;
    struct fakevm *fv = std_vm();
    assert_int_equal(mapti(fv, 1, 4, 9000, 5), 0);
    assert_int_equal(dev_ev(fv, CMD_DISCARD, 1, 4), 0);
    assert_false(fv_mapped(fv, 9000));
    /* nor does it for a collection unmapped after the LPI was pending */
    assert_int_equal(dev_ev(fv, CMD_INT, 1, 0), 0);
    assert_int_equal(mapc(fv, 0, 0, false), 0);
    assert_int_equal(dev_ev(fv, CMD_DISCARD, 1, 0), 0);
    assert_false(fv_mapped(fv, 8192));
    fv_free(fv);
}

static void discard_errors(void **state)
{
    (void)state;
    struct fakevm *fv = std_vm();
    assert_int_equal(dev_ev(fv, CMD_DISCARD, 2, 0), VITS_E_DISCARD_UNMAPPED_DEVICE);
    assert_int_equal(dev_ev(fv, CMD_DISCARD, 1, 16), VITS_E_DISCARD_EVENT_OOR);
    assert_int_equal(dev_ev(fv, CMD_DISCARD, 1, 4), VITS_E_DISCARD_UNMAPPED_INTERRUPT);
    for (uint32_t i = 8192; i < 8196; i++)
        assert_true(fv_mapped(fv, i));
    fv_free(fv);
}

/* ================================================================== */
/* MOVI                                                                */
/* ================================================================== */

static void movi_moves_a_pending_lpi_to_the_new_collection(void **state)
{
    (void)state;
    struct fakevm *fv = std_vm();
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 0), 1);
    fv_clear_events(fv);
    assert_int_equal(movi(fv, 1, 0, 1), 0);
    assert_int_equal(fv->nr_events, 2);
    assert_int_equal(fv->events[0].kind, FV_RETRACT);
    assert_int_equal(fv->events[0].vcpu, 0);
    assert_int_equal(fv->events[0].intid, 8192);
    assert_int_equal(fv->events[1].kind, FV_RAISE);
    assert_int_equal(fv->events[1].vcpu, 1);
    assert_int_equal(fv->events[1].intid, 8192);
    assert_int_equal(fv->events[1].priority, 0xa0);
    uint32_t v = 0;
    assert_int_equal(fv_pending(fv, 8192, &v), 1);
    assert_int_equal(v, 1);
    assert_int_equal(vits_lpi_ack(fv->d, 1, 8192), 0);
    /* the others stay on vCPU 0 */
    assert_int_equal(fv_pending(fv, 8193, &v), 0);
    assert_int_equal(v, 0);
    fv_free(fv);
}

static void movi_changes_the_collection_the_lpi_follows(void **state)
{
    (void)state;
    struct fakevm *fv = std_vm();
    assert_int_equal(movi(fv, 1, 2, 1), 0);
    assert_int_equal(fv->nr_events, 0); /* not pending: nothing to say */
    uint32_t v = 0;
    assert_int_equal(fv_pending(fv, 8194, &v), 0);
    assert_int_equal(v, 1);
    /* MAPC of the old collection leaves it; of the new one moves it */
    assert_int_equal(mapc(fv, 0, 3, true), 0);
    assert_int_equal(fv_pending(fv, 8194, &v), 0);
    assert_int_equal(v, 1);
    assert_int_equal(mapc(fv, 1, 2, true), 0);
    assert_int_equal(fv_pending(fv, 8194, &v), 0);
    assert_int_equal(v, 2);
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 2), 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 2, 8194), 1);
    /* and unmapping the new collection blocks it */
    assert_int_equal(mapc(fv, 1, 0, false), 0);
    assert_int_equal(dev_ev(fv, CMD_INT, 1, 2), VITS_E_INT_UNMAPPED_COLLECTION);
    assert_int_equal(dev_ev(fv, CMD_INT, 1, 0), 0);
    fv_free(fv);
}

static void movi_to_the_same_collection_changes_nothing(void **state)
{
    (void)state;
    struct fakevm *fv = std_vm();
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 0), 1);
    fv_clear_events(fv);
    assert_int_equal(movi(fv, 1, 0, 0), 0);
    assert_int_equal(fv->nr_events, 0);
    assert_int_equal(vits_lpi_ack(fv->d, 0, 8192), 0);
    fv_free(fv);
}

static void movi_errors(void **state)
{
    (void)state;
    struct fakevm *fv = std_vm();
    assert_int_equal(movi(fv, 2, 0, 1), VITS_E_MOVI_UNMAPPED_DEVICE);
    assert_int_equal(movi(fv, 1, 16, 1), VITS_E_MOVI_EVENT_OOR);
    assert_int_equal(movi(fv, 1, 4, 1), VITS_E_MOVI_UNMAPPED_INTERRUPT);
    assert_int_equal(movi(fv, 1, 0, 8192), VITS_E_MOVI_COLLECTION_OOR);
    assert_int_equal(movi(fv, 1, 0, 7), VITS_E_MOVI_UNMAPPED_COLLECTION);
    /* the old collection must be mapped too */
    assert_int_equal(mapti(fv, 1, 4, 9000, 5), 0);
    assert_int_equal(movi(fv, 1, 4, 1), VITS_E_MOVI_UNMAPPED_COLLECTION);
    /* nothing moved */
    uint32_t v = 0;
    assert_int_equal(fv_pending(fv, 8192, &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(fv_pending(fv, 9000, &v), 0);
    assert_int_equal(v, UINT32_MAX);
    assert_int_equal(fv_error_count(fv), 6);
    fv_free(fv);
}

static void movi_icid_beyond_collection_id_bits_fails_with_010103(void **state)
{
    (void)state;
    struct vits_its_config cfg;
    vits_its_config_init(&cfg);
    cfg.base = FV_ITS_BASE;
    cfg.collection_id_bits = 1;
    struct fakevm *fv = boot_cfg(2, &cfg);
    assert_int_equal(mapc(fv, 0, 0, true), 0);
    assert_int_equal(mapc(fv, 1, 1, true), 0);
    assert_int_equal(fv_map_device(fv, 1, 1, 1, 8192, 0), 0);
    assert_int_equal(movi(fv, 1, 0, 2), VITS_E_MOVI_COLLECTION_OOR);
    assert_int_equal(movi(fv, 1, 0, 1), 0);
    fv_free(fv);
}

/* ================================================================== */
/* MOVALL                                                              */
/* ================================================================== */

static void movall_moves_pending_lpis_to_the_other_vcpu(void **state)
{
    (void)state;
    struct fakevm *fv = std_vm();
    assert_int_equal(mapti(fv, 1, 4, 9000, 1), 0); /* on vCPU 1 */
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 0), 1);
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 1), 1);
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 4), 1);
    fv_clear_events(fv);
    assert_int_equal(movall(fv, 0, 2), 0);
    assert_int_equal(fv->nr_events, 4);
    assert_int_equal(fv_count(fv, FV_RETRACT, 0, 8192), 1);
    assert_int_equal(fv_count(fv, FV_RETRACT, 0, 8193), 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 2, 8192), 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 2, 8193), 1);
    uint32_t v = 0;
    assert_int_equal(fv_pending(fv, 8192, &v), 1);
    assert_int_equal(v, 2);
    assert_int_equal(fv_pending(fv, 8195, &v), 0); /* re-targeted too */
    assert_int_equal(v, 2);
    assert_int_equal(fv_pending(fv, 9000, &v), 1); /* other vCPU: untouched */
    assert_int_equal(v, 1);
    assert_int_equal(vits_lpi_ack(fv->d, 0, 8192), -ENOENT);
    assert_int_equal(vits_lpi_ack(fv->d, 2, 8192), 0);
    assert_int_equal(vits_lpi_ack(fv->d, 1, 9000), 0);
    fv_free(fv);
}

static void movall_to_the_same_vcpu_is_a_no_op(void **state)
{
    (void)state;
    struct fakevm *fv = std_vm();
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 0), 1);
    fv_clear_events(fv);
    assert_int_equal(movall(fv, 0, 0), 0);
    assert_int_equal(fv->nr_events, 0);
    uint32_t v = 9;
    assert_int_equal(fv_pending(fv, 8192, &v), 1);
    assert_int_equal(v, 0);
    assert_int_equal(vits_lpi_ack(fv->d, 0, 8192), 0);
    fv_free(fv);
}

static void movall_processor_out_of_range_fails_with_010e01(void **state)
{
    (void)state;
    struct fakevm *fv = std_vm();
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 0), 1);
    fv_clear_events(fv);
    assert_int_equal(movall(fv, 4, 0), VITS_E_MOVALL_PROCNUM_OOR);
    assert_int_equal(movall(fv, 0, 4), VITS_E_MOVALL_PROCNUM_OOR);
    assert_int_equal(movall(fv, 4, 4), VITS_E_MOVALL_PROCNUM_OOR);
    assert_int_equal(fv->nr_events, 0);
    uint32_t v = 9;
    assert_int_equal(fv_pending(fv, 8192, &v), 1);
    assert_int_equal(v, 0);
    fv_free(fv);
}

static void movall_with_pta_names_redistributors_by_address(void **state)
{
    (void)state;
    struct fakevm *fv = boot_pta(4, 0);
    assert_int_equal(mapc(fv, 0, rd_addr(1), true), 0);
    assert_int_equal(fv_map_device(fv, 1, 1, 2, 8192, 0), 0);
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 0), 1);
    assert_int_equal(movall(fv, 1, 3), VITS_E_MOVALL_PROCNUM_OOR); /* not addresses */
    assert_int_equal(movall(fv, rd_addr(1), rd_addr(4)), VITS_E_MOVALL_PROCNUM_OOR);
    fv_clear_events(fv);
    assert_int_equal(movall(fv, rd_addr(1), rd_addr(3)), 0);
    assert_int_equal(fv_count(fv, FV_RETRACT, 1, 8192), 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 3, 8192), 1);
    uint32_t v = 0;
    assert_int_equal(fv_pending(fv, 8193, &v), 0);
    assert_int_equal(v, 3);
    fv_free(fv);
}

/*
 * MOVALL re-targets LPIs without changing their collection's mapping.
 * A later MAPC of that collection re-targets all of its LPIs (the
 * documented choice), wherever MOVALL put them.
 */
static void mapc_after_movall_moves_every_lpi_of_the_collection(void **state)
{
    (void)state;
    struct fakevm *fv = std_vm();
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 0), 1);
    assert_int_equal(movall(fv, 0, 1), 0);
    uint32_t v = 0;
    assert_int_equal(fv_pending(fv, 8192, &v), 1);
    assert_int_equal(v, 1);
    fv_clear_events(fv);
    assert_int_equal(mapc(fv, 0, 3, true), 0);
    assert_int_equal(fv_count(fv, FV_RETRACT, 1, 8192), 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 3, 8192), 1);
    for (uint32_t i = 8192; i < 8196; i++) {
        assert_int_equal(fv_pending(fv, i, &v), i == 8192);
        assert_int_equal(v, 3);
    }
    /* LPIs of collection 1, also on vCPU 1, stay */
    assert_int_equal(mapti(fv, 1, 4, 9000, 1), 0);
    assert_int_equal(fv_pending(fv, 9000, &v), 0);
    assert_int_equal(v, 1);
    fv_free(fv);
}

static void mapc_unmap_after_movall_leaves_every_lpi_without_target(void **state)
{
    (void)state;
    struct fakevm *fv = std_vm();
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 0), 1);
    assert_int_equal(movall(fv, 0, 1), 0);
    fv_clear_events(fv);
    assert_int_equal(mapc(fv, 0, 0, false), 0);
    assert_int_equal(fv_count(fv, FV_RETRACT, 1, 8192), 1);
    uint32_t v = 0;
    for (uint32_t i = 8192; i < 8196; i++) {
        assert_int_equal(fv_pending(fv, i, &v), i == 8192);
        assert_int_equal(v, UINT32_MAX);
    }
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 1), 0);
    /* mapped again: every LPI follows, the pending one is raised */
    fv_clear_events(fv);
    assert_int_equal(mapc(fv, 0, 2, true), 0);
    assert_int_equal(fv->nr_events, 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 2, 8192), 1);
    for (uint32_t i = 8192; i < 8196; i++) {
        assert_int_equal(fv_pending(fv, i, &v), i == 8192);
        assert_int_equal(v, 2);
    }
    fv_free(fv);
}

/* ================================================================== */
/* SYNC                                                                */
/* ================================================================== */

static void sync_with_a_valid_rdbase_completes(void **state)
{
    (void)state;
    struct fakevm *fv = std_vm();
    unsigned guest = fv->log_count[VITS_LOG_GUEST];
    for (uint64_t v = 0; v < 4; v++)
        assert_int_equal(sync_cmd(fv, v), 0);
    assert_int_equal(fv->log_count[VITS_LOG_GUEST], guest);
    assert_int_equal(fv_error_count(fv), 0);
    fv_free(fv);
}

static void sync_with_an_invalid_rdbase_completes_and_logs(void **state)
{
    (void)state;
    struct fakevm *fv = std_vm();
    unsigned guest = fv->log_count[VITS_LOG_GUEST];
    assert_int_equal(sync_cmd(fv, 4), 0);
    assert_int_equal(fv->log_count[VITS_LOG_GUEST], guest + 1);
    assert_int_equal(sync_cmd(fv, (1ull << 36) - 1), 0);
    assert_int_equal(fv->log_count[VITS_LOG_GUEST], guest + 2);
    assert_int_equal(fv_error_count(fv), 0);
    /* the queue goes on */
    assert_int_equal(dev_ev(fv, CMD_INT, 1, 0), 0);
    assert_int_equal(fv_count(fv, FV_RAISE, 0, 8192), 1);
    fv_free(fv);
}

static void sync_with_pta_checks_the_address(void **state)
{
    (void)state;
    struct fakevm *fv = boot_pta(2, 0);
    unsigned guest = fv->log_count[VITS_LOG_GUEST];
    assert_int_equal(sync_cmd(fv, rd_addr(1)), 0);
    assert_int_equal(fv->log_count[VITS_LOG_GUEST], guest);
    assert_int_equal(sync_cmd(fv, 1), 0);
    assert_int_equal(fv->log_count[VITS_LOG_GUEST], guest + 1);
    assert_int_equal(fv_error_count(fv), 0);
    fv_free(fv);
}

/* ================================================================== */
/* Unknown commands, error record, counters                            */
/* ================================================================== */

static void unknown_commands_fail_with_0100ff_and_their_number(void **state)
{
    (void)state;
    struct fakevm *fv = std_vm();
    static const uint8_t unknown[] = {0x00, 0x02, 0x06, 0x07, 0x10, 0x20, 0x21, 0x22,
                                      0x25, 0x29, 0x2a, 0x2b, 0x2d, 0x80, 0xff};
    for (unsigned i = 0; i < sizeof(unknown); i++) {
        uint64_t dw[4] = {unknown[i] | 1ull << 32, 0, 0, 0};
        assert_int_equal(run(fv, dw), VITS_E_UNKNOWN_COMMAND(unknown[i]));
    }
    assert_int_equal(VITS_E_UNKNOWN_COMMAND(0x20), 0x0120ff);
    assert_int_equal(VITS_E_UNKNOWN_COMMAND(0xff), 0x01ffff);
    assert_int_equal(VITS_E_UNKNOWN_COMMAND(0x00), 0x0100ff);
    assert_int_equal(fv_error_count(fv), sizeof(unknown));
    assert_int_equal(fv->nr_events, 0);
    fv_free(fv);
}

static void last_error_reports_code_offset_and_command_words(void **state)
{
    (void)state;
    struct fakevm *fv = boot_cfg(1, NULL);
    struct vits_cmd_error e;
    memset(&e, 0xff, sizeof(e));
    uint64_t count = 99;
    assert_int_equal(vits_its_last_error(fv->its, &e, &count), 0);
    assert_int_equal(count, 0);
    assert_int_equal(e.code, 0);
    assert_int_equal(e.host_errno, 0);
    assert_int_equal(e.offset, 0);
    for (int i = 0; i < 4; i++)
        assert_int_equal(e.cmd[i], 0);

    assert_int_equal(mapc(fv, 0, 0, true), 0);
    assert_int_equal(mapd(fv, 1, 1, true), 0);
    /* a MAPTI with junk in the unused bits, at offset 0x40 */
    uint64_t dw[4];
    fv_cmd_mapti(dw, 1, 4, 8192, 0);
    dw[2] |= 0x1234ull << 32;
    dw[3] = 0xfeedface12345678ull;
    uint64_t off = fv->cwriter;
    assert_int_equal(off, 0x40);
    assert_int_equal(run(fv, dw), VITS_E_MAPTI_ID_OOR);
    assert_int_equal(vits_its_last_error(fv->its, &e, &count), 1);
    assert_int_equal(count, 1);
    assert_int_equal(e.code, VITS_E_MAPTI_ID_OOR);
    assert_int_equal(e.host_errno, 0);
    assert_int_equal(e.offset, off);
    for (int i = 0; i < 4; i++)
        assert_int_equal(e.cmd[i], dw[i]);

    /* a successful command leaves the record alone */
    assert_int_equal(mapti(fv, 1, 1, 8192, 0), 0);
    assert_int_equal(vits_its_last_error(fv->its, &e, &count), 1);
    assert_int_equal(count, 1);
    assert_int_equal(e.offset, off);

    /* the next failure replaces it and counts */
    off = fv->cwriter;
    fv_cmd_sync(dw, 0);
    dw[0] = 0x02;
    assert_int_equal(run(fv, dw), VITS_E_UNKNOWN_COMMAND(0x02));
    assert_int_equal(vits_its_last_error(fv->its, &e, NULL), 1);
    assert_int_equal(e.code, VITS_E_UNKNOWN_COMMAND(0x02));
    assert_int_equal(e.offset, off);
    assert_int_equal(e.cmd[0], 0x02);
    assert_int_equal(vits_its_last_error(fv->its, NULL, &count), 1);
    assert_int_equal(count, 2);
    assert_int_equal(vits_its_last_error(NULL, &e, &count), -EINVAL);
    fv_free(fv);
}

static void error_count_increments_per_failing_command(void **state)
{
    (void)state;
    struct fakevm *fv = std_vm();
    uint64_t before = fv_error_count(fv);
    uint64_t dw[4];
    /* three failing and two good commands in one batch */
    fv_cmd_dev_ev(dw, CMD_INT, 9, 0);
    fv_queue(fv, dw);
    fv_cmd_dev_ev(dw, CMD_INT, 1, 0);
    fv_queue(fv, dw);
    fv_cmd_mapc(dw, 0, 17, true);
    fv_queue(fv, dw);
    fv_cmd_sync(dw, 0);
    fv_queue(fv, dw);
    uint64_t last = fv->cwriter;
    fv_cmd_movall(dw, 0, 9);
    fv_queue(fv, dw);
    uint64_t cmds = vits_its_commands(fv->its);
    fv_kick(fv);
    assert_int_equal(fv_its_read(fv, GITS_CREADR, 8), fv->cwriter);
    assert_int_equal(vits_its_commands(fv->its), cmds + 5);
    assert_int_equal(fv_error_count(fv), before + 3);
    struct vits_cmd_error e;
    assert_int_equal(vits_its_last_error(fv->its, &e, NULL), 1);
    assert_int_equal(e.code, VITS_E_MOVALL_PROCNUM_OOR);
    assert_int_equal(e.offset, last);
    /* the good ones took effect */
    assert_int_equal(fv_count(fv, FV_RAISE, 0, 8192), 1);
    fv_free(fv);
}

static void commands_counts_every_processed_command(void **state)
{
    (void)state;
    struct fakevm *fv = boot_cfg(2, NULL);
    assert_int_equal(vits_its_commands(fv->its), 0);
    assert_int_equal(vits_its_commands(NULL), 0);
    assert_int_equal(mapc(fv, 0, 0, true), 0);                       /* 1 */
    assert_int_equal(mapc(fv, 0, 7, true), VITS_E_MAPC_PROCNUM_OOR); /* 2 */
    assert_int_equal(sync_cmd(fv, 0), 0);                            /* 3 */
    assert_int_equal(vits_its_commands(fv->its), 3);
    /* queued but not kicked: not processed */
    uint64_t dw[4];
    fv_cmd_sync(dw, 0);
    fv_queue(fv, dw);
    fv_queue(fv, dw);
    assert_int_equal(vits_its_commands(fv->its), 3);
    fv_kick(fv);
    assert_int_equal(vits_its_commands(fv->its), 5);
    /* a disabled ITS processes nothing until enabled again */
    fv_its_write(fv, GITS_CTLR, 4, 0);
    fv_queue(fv, dw);
    fv_kick(fv);
    assert_int_equal(vits_its_commands(fv->its), 5);
    fv_its_write(fv, GITS_CTLR, 4, 1);
    assert_int_equal(vits_its_commands(fv->its), 6);
    assert_int_equal(fv_its_read(fv, GITS_CREADR, 8), fv->cwriter);
    assert_int_equal(fv_error_count(fv), 1);
    fv_free(fv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        /* MAPD */
        cmocka_unit_test(mapd_maps_a_device_whose_events_can_then_be_mapped),
        cmocka_unit_test(mapd_remap_drops_old_events_and_their_pending_state),
        cmocka_unit_test(mapd_remap_can_shrink_the_itt),
        cmocka_unit_test(mapd_unmap_drops_events_and_retracts),
        cmocka_unit_test(mapd_unmap_of_an_unmapped_device_succeeds),
        cmocka_unit_test(mapd_devid_beyond_device_id_bits_fails_with_010801),
        cmocka_unit_test(mapd_devid_beyond_flat_device_table_fails_with_010801),
        cmocka_unit_test(mapd_with_invalid_device_table_fails_with_010801),
        cmocka_unit_test(mapd_under_a_valid_level1_entry_succeeds),
        cmocka_unit_test(mapd_under_an_invalid_level1_entry_fails_with_010801),
        cmocka_unit_test(mapd_beyond_the_level1_array_fails_with_010801),
        cmocka_unit_test(mapd_with_unreadable_level1_entry_fails_with_010801),
        cmocka_unit_test(mapd_itt_size_beyond_event_id_bits_fails_with_010802),
        cmocka_unit_test(mapd_beyond_max_devices_fails_with_010801),
        /* MAPC */
        cmocka_unit_test(mapc_routes_the_collection_to_the_vcpu),
        cmocka_unit_test(mapc_remap_moves_lpis_and_pending_state),
        cmocka_unit_test(mapc_remap_to_the_same_vcpu_changes_nothing),
        cmocka_unit_test(mapc_unmap_leaves_lpis_without_target),
        cmocka_unit_test(mapc_unmap_of_an_unmapped_collection_succeeds),
        cmocka_unit_test(mapc_icid_beyond_collection_id_bits_fails_with_010903),
        cmocka_unit_test(mapc_icid_beyond_collection_table_fails_with_010903),
        cmocka_unit_test(mapc_processor_beyond_nr_vcpus_fails_with_010902),
        cmocka_unit_test(mapc_with_pta_names_redistributors_by_address),
        cmocka_unit_test(mapc_with_pta_follows_the_domain_stride),
        cmocka_unit_test(mapc_beyond_max_collections_fails_with_010903),
        /* MAPTI / MAPI */
        cmocka_unit_test(mapti_maps_an_event_that_msis_then_raise),
        cmocka_unit_test(mapti_to_an_unmapped_collection_blocks_msis_until_mapc),
        cmocka_unit_test(mapti_unmapped_device_fails_with_010a04),
        cmocka_unit_test(mapti_event_beyond_itt_fails_with_010a05),
        cmocka_unit_test(mapti_intid_out_of_lpi_range_fails_with_010a06),
        cmocka_unit_test(mapti_intid_in_use_fails_with_010a06_and_keeps_both),
        cmocka_unit_test(mapti_icid_out_of_range_fails_with_010a03),
        cmocka_unit_test(mapti_of_a_mapped_event_replaces_the_old_itte),
        cmocka_unit_test(mapti_of_a_mapped_event_to_the_same_intid_drops_pending),
        cmocka_unit_test(mapti_reads_the_property_at_map_time),
        cmocka_unit_test(mapti_beyond_max_events_fails_with_010a06),
        cmocka_unit_test(mapi_uses_the_eventid_as_pintid),
        cmocka_unit_test(mapi_errors_use_command_0b),
        /* INT */
        cmocka_unit_test(int_makes_pending_and_raises_with_the_property_priority),
        cmocka_unit_test(int_while_pending_coalesces),
        cmocka_unit_test(int_errors),
        /* CLEAR */
        cmocka_unit_test(clear_removes_pending_state_and_retracts),
        cmocka_unit_test(clear_of_a_pending_disabled_lpi_keeps_it_from_being_raised),
        cmocka_unit_test(clear_errors_are_numbered_0105ee),
        /* INV */
        cmocka_unit_test(inv_raises_a_pending_lpi_once_enabled),
        cmocka_unit_test(inv_with_a_new_priority_reraises),
        cmocka_unit_test(inv_of_a_disabled_lpi_retracts_and_keeps_it_pending),
        cmocka_unit_test(inv_errors),
        /* INVALL */
        cmocka_unit_test(invall_refreshes_every_lpi_of_the_collection_only),
        cmocka_unit_test(invall_disabling_retracts),
        cmocka_unit_test(invall_errors),
        /* DISCARD */
        cmocka_unit_test(discard_removes_the_mapping_and_pending_state),
        cmocka_unit_test(discard_frees_the_intid_for_another_mapti),
        cmocka_unit_test(discard_does_not_need_a_mapped_collection),
        cmocka_unit_test(discard_errors),
        /* MOVI */
        cmocka_unit_test(movi_moves_a_pending_lpi_to_the_new_collection),
        cmocka_unit_test(movi_changes_the_collection_the_lpi_follows),
        cmocka_unit_test(movi_to_the_same_collection_changes_nothing),
        cmocka_unit_test(movi_errors),
        cmocka_unit_test(movi_icid_beyond_collection_id_bits_fails_with_010103),
        /* MOVALL */
        cmocka_unit_test(movall_moves_pending_lpis_to_the_other_vcpu),
        cmocka_unit_test(movall_to_the_same_vcpu_is_a_no_op),
        cmocka_unit_test(movall_processor_out_of_range_fails_with_010e01),
        cmocka_unit_test(movall_with_pta_names_redistributors_by_address),
        cmocka_unit_test(mapc_after_movall_moves_every_lpi_of_the_collection),
        cmocka_unit_test(mapc_unmap_after_movall_leaves_every_lpi_without_target),
        /* SYNC */
        cmocka_unit_test(sync_with_a_valid_rdbase_completes),
        cmocka_unit_test(sync_with_an_invalid_rdbase_completes_and_logs),
        cmocka_unit_test(sync_with_pta_checks_the_address),
        /* unknown commands, error record, counters */
        cmocka_unit_test(unknown_commands_fail_with_0100ff_and_their_number),
        cmocka_unit_test(last_error_reports_code_offset_and_command_words),
        cmocka_unit_test(error_count_increments_per_failing_command),
        cmocka_unit_test(commands_counts_every_processed_command),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
