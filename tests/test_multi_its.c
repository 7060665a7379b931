/* SPDX-License-Identifier: MIT */
/*
 * Several ITSes on one LPI domain: each has its own devices, collections,
 * queue and error record; they share the LPI space (one ITTE per INTID)
 * and the redistributors (MOVALL and INVALL act on a redistributor, so on
 * every ITS's LPIs there).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>

#include "fakevm.h"

enum {
    CMD_INT = 0x03,
    CMD_DISCARD = 0x0f,
};

#define GITS_CTLR 0x0
#define GITS_CREADR 0x90
#define REDIST_BASE 0x080a0000ull

/* The second ITS's frame and guest tables. */
#define B_BASE 0x08100000ull
#define B_DEV_TABLE 0x42000000ull
#define B_COLL_TABLE 0x42100000ull
#define B_QUEUE 0x42200000ull

/* One ITS and the driver's copy of its CWRITER. */
struct inst {
    struct vits_its *its;
    uint64_t cwriter;
};

struct vm {
    struct fakevm *fv;
    struct inst a, b;
};

/* Make fv drive inst (fv_submit and friends use fv->its, fv->cwriter). */
static void enter(struct fakevm *fv, struct inst *in, struct inst *saved)
{
    saved->its = fv->its;
    saved->cwriter = fv->cwriter;
    fv->its = in->its;
    fv->cwriter = in->cwriter;
}

static void leave(struct fakevm *fv, struct inst *in, const struct inst *saved)
{
    in->cwriter = fv->cwriter;
    fv->its = saved->its;
    fv->cwriter = saved->cwriter;
}

/* Submit one command to in; its error number, or 0. Checks the ITS
 * consumed it and counted at most one error. */
static uint32_t run(struct fakevm *fv, struct inst *in, const uint64_t dw[4])
{
    struct inst saved;
    enter(fv, in, &saved);
    uint64_t errors = fv_error_count(fv);
    fv_submit(fv, dw);
    assert_int_equal(fv_its_read(fv, GITS_CREADR, 8), fv->cwriter);
    uint64_t now = fv_error_count(fv);
    assert_true(now - errors <= 1);
    uint32_t rc = now == errors ? 0 : fv_last_error(fv);
    leave(fv, in, &saved);
    return rc;
}

static uint32_t mapd(struct fakevm *fv, struct inst *in, uint32_t devid, uint32_t size, bool valid)
{
    uint64_t dw[4];
    fv_cmd_mapd(dw, devid, size, FV_ITT(devid), valid);
    return run(fv, in, dw);
}

static uint32_t mapc(struct fakevm *fv, struct inst *in, uint16_t icid, uint64_t rdbase, bool valid)
{
    uint64_t dw[4];
    fv_cmd_mapc(dw, icid, rdbase, valid);
    return run(fv, in, dw);
}

static uint32_t mapti(struct fakevm *fv, struct inst *in, uint32_t devid, uint32_t ev,
                      uint32_t intid, uint16_t icid)
{
    uint64_t dw[4];
    fv_cmd_mapti(dw, devid, ev, intid, icid);
    return run(fv, in, dw);
}

static uint32_t mapi(struct fakevm *fv, struct inst *in, uint32_t devid, uint32_t ev, uint16_t icid)
{
    uint64_t dw[4];
    fv_cmd_mapi(dw, devid, ev, icid);
    return run(fv, in, dw);
}

static uint32_t dev_ev(struct fakevm *fv, struct inst *in, uint8_t cmd, uint32_t devid, uint32_t ev)
{
    uint64_t dw[4];
    fv_cmd_dev_ev(dw, cmd, devid, ev);
    return run(fv, in, dw);
}

static uint32_t invall(struct fakevm *fv, struct inst *in, uint16_t icid)
{
    uint64_t dw[4];
    fv_cmd_invall(dw, icid);
    return run(fv, in, dw);
}

static uint32_t movall(struct fakevm *fv, struct inst *in, uint64_t rd1, uint64_t rd2)
{
    uint64_t dw[4];
    fv_cmd_movall(dw, rd1, rd2);
    return run(fv, in, dw);
}

/* MAPD devid with 2^bits events, and events [0, n) -> first.., icid. */
static void map_device(struct fakevm *fv, struct inst *in, uint32_t devid, uint32_t bits,
                       uint32_t n, uint32_t first, uint16_t icid)
{
    assert_int_equal(mapd(fv, in, devid, bits - 1, true), 0);
    for (uint32_t e = 0; e < n; e++)
        assert_int_equal(mapti(fv, in, devid, e, first + e, icid), 0);
}

static uint64_t errors_of(const struct inst *in)
{
    uint64_t n = 0;
    assert_true(vits_its_last_error(in->its, NULL, &n) >= 0);
    return n;
}

/* Give ITS in its tables and queue at the B_* addresses and enable it. */
static void boot_b(struct fakevm *fv, struct inst *in)
{
    assert_int_equal(vits_its_mmio_write(in->its, 0x100, 8, 1ull << 63 | B_DEV_TABLE | 2ull << 8),
                     0);
    assert_int_equal(vits_its_mmio_write(in->its, 0x108, 8, 1ull << 63 | B_COLL_TABLE | 2ull << 8),
                     0);
    assert_int_equal(vits_its_mmio_write(in->its, 0x80, 8, 1ull << 63 | B_QUEUE | 15), 0);
    assert_int_equal(vits_its_mmio_write(in->its, GITS_CTLR, 4, 1), 0);
    in->cwriter = 0;
    (void)fv;
}

/*
 * A booted VM of nr_vcpus vCPUs with two ITSes: A (fv_boot's, at
 * FV_ITS_BASE, configuration a_cfg or defaults) and B (at B_BASE,
 * configuration b_cfg or defaults). dcfg: domain config, NULL for
 * fv_new's.
 */
static struct vm setup_cfg(uint32_t nr_vcpus, const struct vits_domain_config *dcfg,
                           const struct vits_its_config *a_cfg, const struct vits_its_config *b_cfg)
{
    struct vm vm = {0};
    vm.fv = dcfg ? fv_new_cfg(dcfg) : fv_new(nr_vcpus);
    if (a_cfg)
        fv_add_its(vm.fv, a_cfg);
    fv_boot(vm.fv);
    vm.a.its = vm.fv->its;
    vm.a.cwriter = vm.fv->cwriter;
    struct vits_its_config def;
    if (!b_cfg) {
        vits_its_config_init(&def);
        def.base = B_BASE;
        b_cfg = &def;
    }
    assert_int_equal(vits_its_create(vm.fv->d, b_cfg, &vm.b.its), 0);
    boot_b(vm.fv, &vm.b);
    return vm;
}

static struct vm setup(uint32_t nr_vcpus) { return setup_cfg(nr_vcpus, NULL, NULL, NULL); }

/* Destroy B (if still there) and whatever fv->its is, then the VM. */
static void teardown(struct vm *vm)
{
    vits_its_destroy(vm->b.its);
    vm->fv->its = vm->a.its;
    fv_free(vm->fv);
}

/* ================================================================== */

static void two_itses_deliver_their_devices_to_their_vcpus(void **state)
{
    (void)state;
    struct vm vm = setup(4);
    struct fakevm *fv = vm.fv;
    assert_int_equal(mapc(fv, &vm.a, 0, 1, true), 0);
    assert_int_equal(mapc(fv, &vm.b, 0, 3, true), 0);
    map_device(fv, &vm.a, 10, 2, 2, 8192, 0);
    map_device(fv, &vm.b, 20, 2, 2, 8300, 0);
    assert_int_equal(vits_its_signal_msi(vm.a.its, 10, 1), 1);
    assert_int_equal(vits_its_signal_msi(vm.b.its, 20, 1), 1);
    assert_int_equal(fv->nr_events, 2);
    assert_int_equal(fv_count(fv, FV_RAISE, 1, 8193), 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 3, 8301), 1);
    /* a device is known only to the ITS that mapped it */
    assert_int_equal(vits_its_signal_msi(vm.a.its, 20, 0), 0);
    assert_int_equal(vits_its_signal_msi(vm.b.its, 10, 0), 0);
    assert_int_equal(dev_ev(fv, &vm.b, CMD_INT, 10, 0), VITS_E_INT_UNMAPPED_DEVICE);
    assert_int_equal(fv->nr_events, 2);
    assert_int_equal(vits_its_domain(vm.a.its), fv->d);
    assert_int_equal(vits_its_domain(vm.b.its), fv->d);
    teardown(&vm);
}

static void same_deviceid_on_two_itses_is_independent(void **state)
{
    (void)state;
    struct vm vm = setup(2);
    struct fakevm *fv = vm.fv;
    assert_int_equal(mapc(fv, &vm.a, 0, 0, true), 0);
    assert_int_equal(mapc(fv, &vm.b, 0, 1, true), 0);
    map_device(fv, &vm.a, 5, 1, 2, 8192, 0); /* 2 events */
    map_device(fv, &vm.b, 5, 4, 4, 8200, 0); /* 16 events */
    assert_int_equal(vits_its_signal_msi(vm.a.its, 5, 0), 1);
    assert_int_equal(vits_its_signal_msi(vm.b.its, 5, 0), 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 0, 8192), 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 1, 8200), 1);
    /* each has its own ITT size */
    assert_int_equal(mapti(fv, &vm.a, 5, 4, 8250, 0), VITS_E_MAPTI_ID_OOR);
    assert_int_equal(mapti(fv, &vm.b, 5, 4, 8250, 0), 0);
    /* remapping device 5 on A drops only A's events */
    fv_clear_events(fv);
    assert_int_equal(mapd(fv, &vm.a, 5, 0, true), 0);
    assert_int_equal(fv->nr_events, 1);
    assert_int_equal(fv_count(fv, FV_RETRACT, 0, 8192), 1);
    assert_false(fv_mapped(fv, 8192));
    assert_false(fv_mapped(fv, 8193));
    for (uint32_t i = 8200; i < 8204; i++)
        assert_true(fv_mapped(fv, i));
    assert_int_equal(fv_pending(fv, 8200, NULL), 1);
    /* unmapping it on A leaves B's device 5 working */
    assert_int_equal(mapd(fv, &vm.a, 5, 0, false), 0);
    assert_int_equal(vits_its_signal_msi(vm.a.its, 5, 1), 0);
    assert_int_equal(vits_its_signal_msi(vm.b.its, 5, 1), 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 1, 8201), 1);
    assert_int_equal(vits_lpi_ack(fv->d, 1, 8200), 0);
    teardown(&vm);
}

static void collections_are_per_its(void **state)
{
    (void)state;
    struct vm vm = setup(4);
    struct fakevm *fv = vm.fv;
    /* ICID 0 means vCPU 0 on both, ICID 1 exists only on A */
    assert_int_equal(mapc(fv, &vm.a, 0, 0, true), 0);
    assert_int_equal(mapc(fv, &vm.b, 0, 0, true), 0);
    assert_int_equal(mapc(fv, &vm.a, 1, 2, true), 0);
    map_device(fv, &vm.a, 1, 1, 1, 8192, 0);
    map_device(fv, &vm.b, 1, 1, 1, 8300, 0);
    assert_int_equal(mapti(fv, &vm.b, 1, 1, 8301, 1), 0); /* B's ICID 1: unmapped */
    uint32_t v = 0;
    assert_int_equal(fv_pending(fv, 8301, &v), 0);
    assert_int_equal(v, UINT32_MAX);
    assert_int_equal(dev_ev(fv, &vm.b, CMD_INT, 1, 1), VITS_E_INT_UNMAPPED_COLLECTION);
    assert_int_equal(vits_its_signal_msi(vm.a.its, 1, 0), 1);
    assert_int_equal(vits_its_signal_msi(vm.b.its, 1, 0), 1);
    fv_clear_events(fv);
    /* A's MAPC of ICID 0 moves A's LPIs only */
    assert_int_equal(mapc(fv, &vm.a, 0, 3, true), 0);
    assert_int_equal(fv->nr_events, 2);
    assert_int_equal(fv_count(fv, FV_RETRACT, 0, 8192), 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 3, 8192), 1);
    assert_int_equal(fv_pending(fv, 8300, &v), 1);
    assert_int_equal(v, 0);
    /* A's MAPC V=0 of ICID 0 leaves B's ICID 0 alone */
    fv_clear_events(fv);
    assert_int_equal(mapc(fv, &vm.a, 0, 0, false), 0);
    assert_int_equal(fv->nr_events, 1);
    assert_int_equal(fv_count(fv, FV_RETRACT, 3, 8192), 1);
    assert_int_equal(fv_pending(fv, 8300, &v), 1);
    assert_int_equal(v, 0);
    assert_int_equal(vits_lpi_ack(fv->d, 0, 8300), 0);
    assert_int_equal(vits_its_signal_msi(vm.b.its, 1, 0), 1);
    assert_int_equal(vits_its_signal_msi(vm.a.its, 1, 0), 0);
    teardown(&vm);
}

static void intid_of_one_its_cannot_be_mapped_by_another_until_discarded(void **state)
{
    (void)state;
    struct vm vm = setup(2);
    struct fakevm *fv = vm.fv;
    assert_int_equal(mapc(fv, &vm.a, 0, 0, true), 0);
    assert_int_equal(mapc(fv, &vm.b, 0, 1, true), 0);
    map_device(fv, &vm.a, 1, 1, 2, 8192, 0);
    assert_int_equal(mapd(fv, &vm.b, 2, 13, true), 0); /* 14 bits, for MAPI */
    assert_int_equal(mapti(fv, &vm.b, 2, 0, 8192, 0), VITS_E_MAPTI_PHYSICALID_OOR);
    assert_int_equal(mapi(fv, &vm.b, 2, 8193, 0), VITS_E_MAPI_PHYSICALID_OOR);
    assert_int_equal(vits_its_signal_msi(vm.b.its, 2, 0), 0);
    /* A's mapping is intact */
    uint32_t v = 9;
    assert_int_equal(fv_pending(fv, 8192, &v), 0);
    assert_int_equal(v, 0);
    /* B cannot DISCARD it: B does not know A's device */
    assert_int_equal(dev_ev(fv, &vm.b, CMD_DISCARD, 1, 0), VITS_E_DISCARD_UNMAPPED_DEVICE);
    /* once A discards it (while raised), B maps it fresh */
    assert_int_equal(vits_its_signal_msi(vm.a.its, 1, 0), 1);
    fv_clear_events(fv);
    assert_int_equal(dev_ev(fv, &vm.a, CMD_DISCARD, 1, 0), 0);
    assert_int_equal(fv_count(fv, FV_RETRACT, 0, 8192), 1);
    assert_int_equal(mapti(fv, &vm.b, 2, 0, 8192, 0), 0);
    assert_int_equal(fv_pending(fv, 8192, &v), 0);
    assert_int_equal(v, 1);
    assert_int_equal(vits_its_signal_msi(vm.a.its, 1, 0), 0);
    assert_int_equal(vits_its_signal_msi(vm.b.its, 2, 0), 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 1, 8192), 1);
    /* and now A cannot take it back */
    assert_int_equal(mapti(fv, &vm.a, 1, 0, 8192, 0), VITS_E_MAPTI_PHYSICALID_OOR);
    assert_int_equal(errors_of(&vm.a), 1);
    assert_int_equal(errors_of(&vm.b), 3);
    teardown(&vm);
}

static void destroying_an_its_drops_only_its_lpis(void **state)
{
    (void)state;
    struct vm vm = setup(2);
    struct fakevm *fv = vm.fv;
    assert_int_equal(mapc(fv, &vm.a, 0, 0, true), 0);
    assert_int_equal(mapc(fv, &vm.b, 0, 0, true), 0);
    map_device(fv, &vm.a, 1, 2, 3, 8192, 0);
    map_device(fv, &vm.b, 1, 2, 3, 8300, 0);
    /* A: 8192 raised, 8193 pending but disabled; B: 8300 raised */
    fv_set_prop(fv, 8193, 0xa2);
    uint64_t dw[4];
    fv_cmd_dev_ev(dw, 0x0c, 1, 1);
    assert_int_equal(run(fv, &vm.a, dw), 0);
    assert_int_equal(vits_its_signal_msi(vm.a.its, 1, 0), 1);
    assert_int_equal(vits_its_signal_msi(vm.a.its, 1, 1), 1);
    assert_int_equal(vits_its_signal_msi(vm.b.its, 1, 0), 1);
    size_t mem = vits_domain_memory(fv->d);
    fv_clear_events(fv);

    vits_its_destroy(vm.a.its);
    vm.a.its = NULL;
    fv->its = NULL;
    assert_int_equal(fv->nr_events, 1);
    assert_int_equal(fv_count(fv, FV_RETRACT, 0, 8192), 1);
    for (uint32_t i = 8192; i < 8195; i++)
        assert_false(fv_mapped(fv, i));
    assert_int_equal(vits_lpi_ack(fv->d, 0, 8192), -ENOENT);
    assert_true(vits_domain_memory(fv->d) < mem);
    /* B is untouched and keeps working */
    uint32_t v = 9;
    assert_int_equal(fv_pending(fv, 8300, &v), 1);
    assert_int_equal(v, 0);
    assert_int_equal(vits_lpi_ack(fv->d, 0, 8300), 0);
    assert_int_equal(vits_its_signal_msi(vm.b.its, 1, 2), 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 0, 8302), 1);
    /* and may take A's INTIDs, which come back not pending */
    fv_set_prop(fv, 8193, 0xa3);
    assert_int_equal(mapti(fv, &vm.b, 1, 3, 8193, 0), 0);
    assert_int_equal(fv_pending(fv, 8193, NULL), 0);
    /* the domain cannot go while B is there */
    assert_int_equal(vits_domain_destroy(fv->d), -EBUSY);
    vits_its_destroy(vm.b.its);
    fv_free(fv);
}

static void movall_on_one_its_moves_the_other_its_lpis(void **state)
{
    (void)state;
    struct vm vm = setup(4);
    struct fakevm *fv = vm.fv;
    assert_int_equal(mapc(fv, &vm.a, 0, 0, true), 0);
    assert_int_equal(mapc(fv, &vm.b, 0, 0, true), 0);
    assert_int_equal(mapc(fv, &vm.b, 1, 1, true), 0);
    map_device(fv, &vm.a, 1, 1, 2, 8192, 0);
    map_device(fv, &vm.b, 1, 1, 2, 8300, 0);
    assert_int_equal(mapti(fv, &vm.b, 1, 1, 8301, 1), 0); /* on vCPU 1 */
    assert_int_equal(vits_its_signal_msi(vm.a.its, 1, 0), 1);
    assert_int_equal(vits_its_signal_msi(vm.b.its, 1, 0), 1);
    assert_int_equal(vits_its_signal_msi(vm.b.its, 1, 1), 1);
    fv_clear_events(fv);
    /* MOVALL acts on the redistributor: B's LPIs on vCPU 0 move too */
    assert_int_equal(movall(fv, &vm.a, 0, 2), 0);
    assert_int_equal(fv->nr_events, 4);
    assert_int_equal(fv_count(fv, FV_RETRACT, 0, 8192), 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 2, 8192), 1);
    assert_int_equal(fv_count(fv, FV_RETRACT, 0, 8300), 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 2, 8300), 1);
    uint32_t v = 9;
    assert_int_equal(fv_pending(fv, 8300, &v), 1);
    assert_int_equal(v, 2);
    assert_int_equal(fv_pending(fv, 8193, &v), 0);
    assert_int_equal(v, 2);
    assert_int_equal(fv_pending(fv, 8301, &v), 1); /* vCPU 1: untouched */
    assert_int_equal(v, 1);
    assert_int_equal(vits_lpi_ack(fv->d, 2, 8300), 0);
    /* B's later MSIs follow the moved LPI */
    assert_int_equal(vits_its_signal_msi(vm.b.its, 1, 0), 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 2, 8300), 2);
    /* MOVALL's processor check is against the domain, from either ITS */
    assert_int_equal(movall(fv, &vm.b, 2, 4), VITS_E_MOVALL_PROCNUM_OOR);
    assert_int_equal(errors_of(&vm.a), 0);
    assert_int_equal(errors_of(&vm.b), 1);
    teardown(&vm);
}

static void mapc_after_another_its_movall_moves_every_lpi_of_the_collection(void **state)
{
    (void)state;
    struct vm vm = setup(4);
    struct fakevm *fv = vm.fv;
    assert_int_equal(mapc(fv, &vm.a, 0, 0, true), 0);
    assert_int_equal(mapc(fv, &vm.b, 0, 0, true), 0);
    map_device(fv, &vm.a, 1, 1, 1, 8192, 0);
    map_device(fv, &vm.b, 1, 1, 2, 8300, 0);
    assert_int_equal(vits_its_signal_msi(vm.b.its, 1, 0), 1);
    assert_int_equal(movall(fv, &vm.a, 0, 1), 0);
    fv_clear_events(fv);
    /* B re-targets its collection 0: both of B's LPIs follow, from
     * wherever A's MOVALL left them; A's LPI stays on vCPU 1 */
    assert_int_equal(mapc(fv, &vm.b, 0, 3, true), 0);
    assert_int_equal(fv->nr_events, 2);
    assert_int_equal(fv_count(fv, FV_RETRACT, 1, 8300), 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 3, 8300), 1);
    uint32_t v = 9;
    assert_int_equal(fv_pending(fv, 8300, &v), 1);
    assert_int_equal(v, 3);
    assert_int_equal(fv_pending(fv, 8301, &v), 0);
    assert_int_equal(v, 3);
    assert_int_equal(fv_pending(fv, 8192, &v), 0);
    assert_int_equal(v, 1);
    teardown(&vm);
}

static void invall_on_one_its_leaves_the_other_its_lpis_alone(void **state)
{
    (void)state;
    struct vm vm = setup(2);
    struct fakevm *fv = vm.fv;
    assert_int_equal(mapc(fv, &vm.a, 0, 0, true), 0);
    assert_int_equal(mapc(fv, &vm.b, 0, 0, true), 0);
    assert_int_equal(mapc(fv, &vm.b, 1, 1, true), 0);
    fv_set_prop(fv, 8300, 0xa2);
    fv_set_prop(fv, 8301, 0xa2);
    map_device(fv, &vm.a, 1, 1, 1, 8192, 0);
    map_device(fv, &vm.b, 1, 1, 1, 8300, 0);
    assert_int_equal(mapti(fv, &vm.b, 1, 1, 8301, 1), 0);
    assert_int_equal(vits_its_signal_msi(vm.b.its, 1, 0), 1);
    assert_int_equal(vits_its_signal_msi(vm.b.its, 1, 1), 1);
    assert_int_equal(fv->nr_events, 0);
    fv_set_prop(fv, 8300, 0x43);
    fv_set_prop(fv, 8301, 0x43);
    /* INVALL on A's collection 0 re-reads A's collection only: B's LPIs
     * on the same vCPU stay cached (disabled) */
    assert_int_equal(invall(fv, &vm.a, 0), 0);
    assert_int_equal(fv->nr_events, 0);
    assert_int_equal(invall(fv, &vm.b, 0), 0);
    assert_int_equal(fv->nr_events, 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 0, 8300), 1);
    assert_int_equal(fv->events[0].priority, 0x40);
    assert_int_equal(fv_pending(fv, 8301, NULL), 1);
    assert_int_equal(invall(fv, &vm.b, 1), 0);
    assert_int_equal(fv_count(fv, FV_RAISE, 1, 8301), 1);
    teardown(&vm);
}

static void errors_and_command_counts_are_per_its(void **state)
{
    (void)state;
    struct vm vm = setup(2);
    struct fakevm *fv = vm.fv;
    assert_int_equal(mapc(fv, &vm.a, 0, 0, true), 0);
    assert_int_equal(mapc(fv, &vm.a, 1, 5, true), VITS_E_MAPC_PROCNUM_OOR);
    assert_int_equal(mapd(fv, &vm.b, 1, 0, true), 0);
    assert_int_equal(mapd(fv, &vm.b, 1, 0, true), 0);
    assert_int_equal(mapd(fv, &vm.b, 1, 0, true), 0);
    assert_int_equal(vits_its_commands(vm.a.its), 2);
    assert_int_equal(vits_its_commands(vm.b.its), 3);
    struct vits_cmd_error e;
    assert_int_equal(vits_its_last_error(vm.b.its, &e, NULL), 0);
    assert_int_equal(e.code, 0);
    assert_int_equal(vits_its_last_error(vm.a.its, &e, NULL), 1);
    assert_int_equal(e.code, VITS_E_MAPC_PROCNUM_OOR);
    assert_int_equal(e.offset, 0x20);
    /* B's queue has its own offsets */
    assert_int_equal(mapti(fv, &vm.b, 1, 2, 8192, 0), VITS_E_MAPTI_ID_OOR);
    assert_int_equal(vits_its_last_error(vm.b.its, &e, NULL), 1);
    assert_int_equal(e.code, VITS_E_MAPTI_ID_OOR);
    assert_int_equal(e.offset, 0x60);
    assert_int_equal(errors_of(&vm.a), 1);
    assert_int_equal(errors_of(&vm.b), 1);
    teardown(&vm);
}

static void disabling_one_its_leaves_the_other_working(void **state)
{
    (void)state;
    struct vm vm = setup(2);
    struct fakevm *fv = vm.fv;
    assert_int_equal(mapc(fv, &vm.a, 0, 0, true), 0);
    assert_int_equal(mapc(fv, &vm.b, 0, 1, true), 0);
    map_device(fv, &vm.a, 1, 1, 2, 8192, 0);
    map_device(fv, &vm.b, 1, 1, 2, 8300, 0);
    assert_int_equal(vits_its_mmio_write(vm.a.its, GITS_CTLR, 4, 0), 0);
    assert_int_equal(vits_its_signal_msi(vm.a.its, 1, 0), 0);
    assert_int_equal(vits_its_signal_msi(vm.b.its, 1, 0), 1);
    assert_int_equal(fv->nr_events, 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 1, 8300), 1);
    /* A's queued commands wait; B's run */
    struct inst saved;
    uint64_t dw[4];
    fv_cmd_dev_ev(dw, CMD_INT, 1, 1);
    enter(fv, &vm.a, &saved);
    fv_submit(fv, dw);
    leave(fv, &vm.a, &saved);
    assert_int_equal(fv_pending(fv, 8193, NULL), 0);
    assert_int_equal(dev_ev(fv, &vm.b, CMD_INT, 1, 1), 0);
    assert_int_equal(fv_count(fv, FV_RAISE, 1, 8301), 1);
    /* enabling A runs its queue */
    assert_int_equal(vits_its_mmio_write(vm.a.its, GITS_CTLR, 4, 1), 0);
    assert_int_equal(fv_count(fv, FV_RAISE, 0, 8193), 1);
    assert_int_equal(vits_its_signal_msi(vm.a.its, 1, 0), 1);
    teardown(&vm);
}

static void pta_and_processor_number_itses_share_redistributors(void **state)
{
    (void)state;
    struct vits_domain_config dcfg;
    vits_domain_config_init(&dcfg, 4);
    dcfg.log_level = VITS_LOG_DEBUG;
    dcfg.log_burst = 1000000;
    dcfg.redist_base = REDIST_BASE;
    struct vits_its_config bcfg;
    vits_its_config_init(&bcfg);
    bcfg.base = B_BASE;
    bcfg.pta = 1;
    struct vm vm = setup_cfg(4, &dcfg, NULL, &bcfg);
    struct fakevm *fv = vm.fv;
    uint64_t rd2 = (REDIST_BASE + 2 * 0x20000) >> 16;
    uint64_t rd3 = (REDIST_BASE + 3 * 0x20000) >> 16;
    /* A names vCPU 2 by number, B by address */
    assert_int_equal(mapc(fv, &vm.a, 0, 2, true), 0);
    assert_int_equal(mapc(fv, &vm.b, 0, 2, true), VITS_E_MAPC_PROCNUM_OOR);
    assert_int_equal(mapc(fv, &vm.b, 0, rd2, true), 0);
    map_device(fv, &vm.a, 1, 1, 1, 8192, 0);
    map_device(fv, &vm.b, 1, 1, 1, 8300, 0);
    assert_int_equal(vits_its_signal_msi(vm.a.its, 1, 0), 1);
    assert_int_equal(vits_its_signal_msi(vm.b.its, 1, 0), 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 2, 8192), 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 2, 8300), 1);
    /* B's MOVALL by address moves A's LPI as well */
    fv_clear_events(fv);
    assert_int_equal(movall(fv, &vm.b, rd2, rd3), 0);
    assert_int_equal(fv_count(fv, FV_RAISE, 3, 8192), 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 3, 8300), 1);
    assert_int_equal(fv_count_kind(fv, FV_RETRACT), 2);
    /* A's MOVALL by number moves them back */
    fv_clear_events(fv);
    assert_int_equal(movall(fv, &vm.a, 3, 2), 0);
    assert_int_equal(fv_count(fv, FV_RAISE, 2, 8192), 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 2, 8300), 1);
    teardown(&vm);
}

static void an_its_created_in_a_freed_slot_starts_empty(void **state)
{
    (void)state;
    struct vm vm = setup(2);
    struct fakevm *fv = vm.fv;
    assert_int_equal(mapc(fv, &vm.a, 0, 1, true), 0);
    map_device(fv, &vm.a, 1, 1, 2, 8192, 0);
    assert_int_equal(mapc(fv, &vm.a, 1, 5, true), VITS_E_MAPC_PROCNUM_OOR);
    assert_int_equal(mapc(fv, &vm.b, 0, 0, true), 0);
    map_device(fv, &vm.b, 1, 1, 1, 8300, 0);
    assert_int_equal(vits_its_signal_msi(vm.b.its, 1, 0), 1);
    vits_its_destroy(vm.a.its);
    fv->its = NULL;

    /* a new ITS at A's base: no devices, collections, errors, commands */
    struct vits_its_config cfg;
    vits_its_config_init(&cfg);
    cfg.base = FV_ITS_BASE;
    assert_int_equal(vits_its_create(fv->d, &cfg, &vm.a.its), 0);
    fv->its = vm.a.its;
    fv_boot(fv);
    vm.a.cwriter = fv->cwriter;
    assert_int_equal(vits_its_commands(vm.a.its), 0);
    assert_int_equal(errors_of(&vm.a), 0);
    assert_int_equal(vits_its_signal_msi(vm.a.its, 1, 0), 0);
    assert_int_equal(dev_ev(fv, &vm.a, CMD_INT, 1, 0), VITS_E_INT_UNMAPPED_DEVICE);
    assert_int_equal(mapd(fv, &vm.a, 1, 0, true), 0);
    assert_int_equal(mapti(fv, &vm.a, 1, 0, 8192, 0), 0); /* free again */
    assert_int_equal(dev_ev(fv, &vm.a, CMD_INT, 1, 0), VITS_E_INT_UNMAPPED_COLLECTION);
    /* B's raised LPI was not disturbed */
    assert_int_equal(vits_lpi_ack(fv->d, 0, 8300), 0);
    teardown(&vm);
}

static void overlapping_frames_are_refused(void **state)
{
    (void)state;
    struct vm vm = setup(1);
    struct vits_its_config cfg;
    vits_its_config_init(&cfg);
    struct vits_its *its = vm.fv->its; /* any non-NULL value */
    cfg.base = FV_ITS_BASE + 0x10000;
    assert_int_equal(vits_its_create(vm.fv->d, &cfg, &its), -EEXIST);
    assert_null(its);
    cfg.base = B_BASE - 0x10000;
    assert_int_equal(vits_its_create(vm.fv->d, &cfg, &its), -EEXIST);
    /* adjacent frames are fine */
    cfg.base = FV_ITS_BASE + VITS_ITS_FRAME_SIZE;
    assert_int_equal(vits_its_create(vm.fv->d, &cfg, &its), 0);
    vits_its_destroy(its);
    teardown(&vm);
}

static void limits_are_per_its(void **state)
{
    (void)state;
    struct vits_its_config acfg;
    vits_its_config_init(&acfg);
    acfg.base = FV_ITS_BASE;
    acfg.max_events = 1;
    acfg.max_devices = 1;
    acfg.max_collections = 1;
    struct vm vm = setup_cfg(2, NULL, &acfg, NULL);
    struct fakevm *fv = vm.fv;
    assert_int_equal(mapc(fv, &vm.a, 0, 0, true), 0);
    assert_int_equal(mapc(fv, &vm.a, 1, 0, true), VITS_E_MAPC_COLLECTION_OOR);
    assert_int_equal(mapd(fv, &vm.a, 1, 1, true), 0);
    assert_int_equal(mapd(fv, &vm.a, 2, 1, true), VITS_E_MAPD_DEVICE_OOR);
    assert_int_equal(mapti(fv, &vm.a, 1, 0, 8192, 0), 0);
    assert_int_equal(mapti(fv, &vm.a, 1, 1, 8193, 0), VITS_E_MAPTI_PHYSICALID_OOR);
    /* B is not bound by A's limits */
    assert_int_equal(mapc(fv, &vm.b, 0, 0, true), 0);
    assert_int_equal(mapc(fv, &vm.b, 1, 1, true), 0);
    map_device(fv, &vm.b, 1, 2, 4, 8300, 0);
    map_device(fv, &vm.b, 2, 2, 4, 8400, 1);
    assert_int_equal(errors_of(&vm.b), 0);
    teardown(&vm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(two_itses_deliver_their_devices_to_their_vcpus),
        cmocka_unit_test(same_deviceid_on_two_itses_is_independent),
        cmocka_unit_test(collections_are_per_its),
        cmocka_unit_test(intid_of_one_its_cannot_be_mapped_by_another_until_discarded),
        cmocka_unit_test(destroying_an_its_drops_only_its_lpis),
        cmocka_unit_test(movall_on_one_its_moves_the_other_its_lpis),
        cmocka_unit_test(mapc_after_another_its_movall_moves_every_lpi_of_the_collection),
        cmocka_unit_test(invall_on_one_its_leaves_the_other_its_lpis_alone),
        cmocka_unit_test(errors_and_command_counts_are_per_its),
        cmocka_unit_test(disabling_one_its_leaves_the_other_working),
        cmocka_unit_test(pta_and_processor_number_itses_share_redistributors),
        cmocka_unit_test(an_its_created_in_a_freed_slot_starts_empty),
        cmocka_unit_test(overlapping_frames_are_refused),
        cmocka_unit_test(limits_are_per_its),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
