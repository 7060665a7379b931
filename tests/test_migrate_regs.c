/* SPDX-License-Identifier: MIT */
/*
 * The registers as a VMM saves and restores them (vits_its_reg_get/set,
 * vits_redist_get/set, KVM's userspace semantics) and reset
 * (vits_its_reset as KVM_DEV_ARM_ITS_CTRL_RESET, vits_domain_reset for a
 * guest reboot), after which a guest initialising its ITS from scratch
 * works.
 */
#include "migrate_util.h"

#define GICR_CTLR 0x0
#define GICR_PROPBASER 0x70
#define GICR_PENDBASER 0x78

static uint64_t reg(struct fakevm *fv, uint64_t off)
{
    uint64_t v = 0xdead;
    assert_int_equal(vits_its_reg_get(fv->its, off, &v), 0);
    return v;
}

static void reg_get_reads_whole_registers(void **state)
{
    (void)state;
    struct fakevm *fv = fv_new(1);
    fv_boot(fv);
    assert_int_equal(reg(fv, MIG_CTLR), fv_its_read(fv, MIG_CTLR, 4));
    assert_int_equal(reg(fv, MIG_IIDR), fv_its_read(fv, MIG_IIDR, 4));
    assert_int_equal(reg(fv, MIG_TYPER), fv_its_read(fv, MIG_TYPER, 8));
    assert_int_equal(reg(fv, MIG_CBASER), fv_its_read(fv, MIG_CBASER, 8));
    assert_int_equal(reg(fv, MIG_CWRITER), fv_its_read(fv, MIG_CWRITER, 8));
    assert_int_equal(reg(fv, MIG_CREADR), fv_its_read(fv, MIG_CREADR, 8));
    for (unsigned n = 0; n < 8; n++)
        assert_int_equal(reg(fv, MIG_BASER(n)), fv_its_read(fv, MIG_BASER(n), 8));
    for (uint64_t off = 0xffd0; off < 0x10000; off += 4)
        assert_int_equal(reg(fv, off), fv_its_read(fv, off, 4));
    /* not at a register's start, or nothing there */
    uint64_t v;
    assert_int_equal(vits_its_reg_get(fv->its, 0x2, &v), -EINVAL);
    assert_int_equal(vits_its_reg_get(fv->its, 0xc, &v), -EINVAL);
    assert_int_equal(vits_its_reg_get(fv->its, 0x84, &v), -EINVAL);
    assert_int_equal(vits_its_reg_get(fv->its, 0x104, &v), -EINVAL);
    assert_int_equal(vits_its_reg_get(fv->its, 0x18, &v), -ENXIO);
    assert_int_equal(vits_its_reg_get(fv->its, 0x140, &v), -ENXIO);
    assert_int_equal(vits_its_reg_get(fv->its, VITS_GITS_TRANSLATER, &v), -ENXIO);
    assert_int_equal(vits_its_reg_get(fv->its, 1ull << 40, &v), -ENXIO);
    assert_int_equal(vits_its_reg_get(NULL, 0, &v), -EINVAL);
    assert_int_equal(vits_its_reg_get(fv->its, 0, NULL), -EINVAL);
    assert_int_equal(vits_its_reg_set(NULL, 0, 0), -EINVAL);
    assert_int_equal(vits_its_reg_set(fv->its, 0x84, 0), -EINVAL);
    assert_int_equal(vits_its_reg_set(fv->its, 0x18, 0), -ENXIO);
    fv_free(fv);
}

static void iidr_revision_selects_the_table_abi(void **state)
{
    (void)state;
    struct fakevm *fv = fv_new(1);
    fv_add_its(fv, NULL);
    uint64_t iidr = reg(fv, MIG_IIDR);
    assert_int_equal((iidr >> 12) & 0xf, VITS_ITS_ABI_REV0);
    for (uint64_t rev = 1; rev < 16; rev++)
        assert_int_equal(vits_its_reg_set(fv->its, MIG_IIDR, iidr | rev << 12), -EINVAL);
    /* other fields are ignored */
    assert_int_equal(vits_its_reg_set(fv->its, MIG_IIDR, 0xff000fff), 0);
    assert_int_equal(reg(fv, MIG_IIDR), iidr);
    /* read-only registers ignore writes */
    uint64_t typer = reg(fv, MIG_TYPER);
    assert_int_equal(vits_its_reg_set(fv->its, MIG_TYPER, ~typer), 0);
    assert_int_equal(reg(fv, MIG_TYPER), typer);
    assert_int_equal(vits_its_reg_set(fv->its, 0xffe8, 0x77), 0);
    assert_int_equal(reg(fv, 0xffe8), fv_its_read(fv, 0xffe8, 4));
    fv_free(fv);
}

/* KVM's order restores every register; GITS_CBASER zeroes GITS_CREADR,
 * so GITS_CREADR comes after it. */
static void registers_restore_in_kvms_order(void **state)
{
    (void)state;
    struct fakevm *a = fv_new(1);
    fv_boot(a);
    fv_map_collection(a, 0, 0);
    assert_int_equal(fv_map_device(a, 1, 2, 3, 8192, 0), 0);
    struct mig_saved s;
    mig_kvm_save(a, &s);
    assert_int_equal(s.creadr, 5 * 32);
    struct fakevm *b = mig_clone(a, NULL);
    mig_kvm_restore(b, &s);
    struct mig_saved t;
    mig_kvm_save(b, &t);
    assert_memory_equal(&s, &t, sizeof(s));
    /* in the wrong order CREADR is lost */
    assert_int_equal(vits_its_reg_set(b->its, MIG_CTLR, 0), 0);
    assert_int_equal(vits_its_reg_set(b->its, MIG_CREADR, s.creadr), 0);
    assert_int_equal(vits_its_reg_set(b->its, MIG_CBASER, s.cbaser), 0);
    assert_int_equal(reg(b, MIG_CREADR), 0);
    fv_free(a);
    fv_free(b);
}

static void creadr_and_cwriter_restore_only_into_a_disabled_its(void **state)
{
    (void)state;
    struct fakevm *fv = fv_new(1);
    fv_boot(fv); /* enabled, queue of 16 pages */
    assert_int_equal(vits_its_reg_set(fv->its, MIG_CREADR, 0x40), -EBUSY);
    assert_int_equal(vits_its_reg_set(fv->its, MIG_CBASER, 0), -EBUSY);
    assert_int_equal(vits_its_reg_set(fv->its, MIG_BASER(0), 0), -EBUSY);
    assert_int_equal(reg(fv, MIG_CBASER) >> 63, 1);
    assert_int_equal(reg(fv, MIG_BASER(0)) >> 63, 1);
    assert_int_equal(vits_its_reg_set(fv->its, MIG_CTLR, 0), 0);
    assert_int_equal(vits_its_reg_set(fv->its, MIG_CREADR, 0x40), 0);
    assert_int_equal(reg(fv, MIG_CREADR), 0x40);
    assert_int_equal(vits_its_reg_set(fv->its, MIG_CREADR, 16 * 4096), -EINVAL);
    assert_int_equal(vits_its_reg_set(fv->its, MIG_CWRITER, 16 * 4096), -EINVAL);
    /* Stalled needs an ITS that stalls */
    assert_int_equal(vits_its_reg_set(fv->its, MIG_CREADR, 0x41), -EINVAL);
    assert_int_equal(reg(fv, MIG_CREADR), 0x40);
    /* CWRITER on a disabled ITS: stored, nothing runs; enabling runs it */
    uint64_t dw[4];
    fv->cwriter = 0x40;
    fv_cmd_mapd(dw, 3, 0, FV_ITT(3), true);
    fv_queue(fv, dw);
    fv_cmd_mapc(dw, 0, 0, true);
    fv_queue(fv, dw);
    fv_cmd_mapti(dw, 3, 1, 8500, 0);
    fv_queue(fv, dw);
    assert_int_equal(vits_its_reg_set(fv->its, MIG_CWRITER, fv->cwriter), 0);
    assert_int_equal(reg(fv, MIG_CREADR), 0x40);
    assert_int_equal(vits_its_commands(fv->its), 0);
    assert_int_equal(vits_its_reg_set(fv->its, MIG_CTLR, 1), 0);
    assert_int_equal(reg(fv, MIG_CREADR), fv->cwriter);
    assert_int_equal(vits_its_signal_msi(fv->its, 3, 1), 1);
    /* on an enabled ITS, CWRITER is the guest's write */
    fv_cmd_dev_ev(dw, 0x0f, 3, 1);
    fv_queue(fv, dw);
    assert_int_equal(vits_its_reg_set(fv->its, MIG_CWRITER, fv->cwriter), 0);
    assert_int_equal(reg(fv, MIG_CREADR), fv->cwriter);
    assert_false(fv_mapped(fv, 8500));
    fv_free(fv);
}

static void a_stalled_queue_is_restored_stalled(void **state)
{
    (void)state;
    struct vits_its_config cfg;
    vits_its_config_init(&cfg);
    cfg.base = FV_ITS_BASE;
    cfg.error_policy = VITS_ERRORS_STALL;
    struct fakevm *fv = fv_new(1);
    fv_add_its(fv, &cfg);
    fv_boot(fv);
    uint64_t dw[4];
    fv_cmd_mapti(dw, 5, 0, 9000, 0); /* fails: device 5 not mapped */
    fv_queue(fv, dw);
    fv_cmd_mapd(dw, 5, 1, FV_ITT(5), true);
    fv_queue(fv, dw);
    assert_int_equal(vits_its_reg_set(fv->its, MIG_CTLR, 0), 0);
    /* written CWRITER with Retry on a disabled ITS: stored only */
    assert_int_equal(vits_its_reg_set(fv->its, MIG_CWRITER, fv->cwriter | 1), 0);
    assert_int_equal(vits_its_reg_set(fv->its, MIG_CREADR, 1), 0); /* stalled at 0 */
    assert_int_equal(reg(fv, MIG_CREADR), 1);
    assert_int_equal(vits_its_reg_set(fv->its, MIG_CTLR, 1), 0);
    assert_int_equal(reg(fv, MIG_CREADR), 1); /* still stalled */
    fv_kick(fv);                              /* the guest skips the failing command */
    assert_int_equal(reg(fv, MIG_CREADR), fv->cwriter);
    assert_int_equal(vits_its_commands(fv->its), 1);
    fv_free(fv);
}

/* ------------------------------------------------------------------ */
/* Redistributors                                                       */
/* ------------------------------------------------------------------ */

static void redistributor_registers_save_and_restore(void **state)
{
    (void)state;
    struct fakevm *a = fv_new(2);
    fv_boot(a);
    /* vCPU 1 disabled again, with a PTZ written */
    fv_gicr_write(a, 1, GICR_CTLR, 4, 0);
    fv_gicr_write(a, 1, GICR_PENDBASER, 8, FV_PEND_TABLE(1) | 1ull << 62);
    struct vits_redist_regs r0, r1;
    assert_int_equal(vits_redist_get(a->d, 0, &r0), 0);
    assert_int_equal(vits_redist_get(a->d, 1, &r1), 0);
    assert_int_equal(r0.propbaser, FV_PROP_TABLE | 0xf);
    assert_int_equal(r0.pendbaser, FV_PEND_TABLE(0));
    assert_int_equal(r0.ctlr, 1);
    assert_int_equal(r1.pendbaser, FV_PEND_TABLE(1) | 1ull << 62);
    assert_int_equal(r1.ctlr, 0);
    assert_int_equal(r1.reserved, 0);
    struct fakevm *b = fv_new(2);
    assert_int_equal(vits_redist_set(b->d, 0, &r0), 0);
    assert_int_equal(vits_redist_set(b->d, 1, &r1), 0);
    assert_int_equal(fv_gicr_read(b, 0, GICR_CTLR, 4), 1);
    assert_int_equal(fv_gicr_read(b, 0, GICR_PROPBASER, 8), FV_PROP_TABLE | 0xf);
    assert_int_equal(fv_gicr_read(b, 1, GICR_CTLR, 4), 0);
    struct vits_redist_regs t;
    assert_int_equal(vits_redist_get(b->d, 1, &t), 0);
    assert_memory_equal(&t, &r1, sizeof(t));
    /* frozen while EnableLPIs is set */
    assert_int_equal(vits_redist_set(b->d, 0, &r1), -EBUSY);
    assert_int_equal(fv_gicr_read(b, 0, GICR_CTLR, 4), 1);
    assert_int_equal(vits_redist_get(b->d, 2, &t), -EINVAL);
    assert_int_equal(vits_redist_set(b->d, 2, &t), -EINVAL);
    assert_int_equal(vits_redist_get(NULL, 0, &t), -EINVAL);
    assert_int_equal(vits_redist_set(b->d, 0, NULL), -EINVAL);
    fv_free(a);
    fv_free(b);
}

/* EnableLPIs set by a restore reads the pending table for the LPIs that
 * are mapped already, as the guest's write does. */
static void enabling_lpis_by_restore_loads_the_pending_table(void **state)
{
    (void)state;
    struct fakevm *fv = fv_new(2);
    fv_boot(fv);
    fv_map_collection(fv, 0, 1);
    assert_int_equal(fv_map_device(fv, 1, 1, 2, 8192, 0), 0);
    fv_gicr_write(fv, 1, GICR_CTLR, 4, 0);
    uint8_t bit = 1u << 1; /* 8193 */
    fv_write(fv, FV_PEND_TABLE(1) + 8192 / 8, &bit, 1);
    struct vits_redist_regs r = {
        .propbaser = FV_PROP_TABLE | 0xf, .pendbaser = FV_PEND_TABLE(1), .ctlr = 1};
    fv_clear_events(fv);
    assert_int_equal(vits_redist_set(fv->d, 1, &r), 0);
    assert_int_equal(fv_count(fv, FV_RAISE, 1, 8193), 1);
    assert_false(fv_pending(fv, 8192, NULL));
    fv_free(fv);
}

/* ------------------------------------------------------------------ */
/* Reset                                                                */
/* ------------------------------------------------------------------ */

/* A guest's ITS bring-up, from scratch, then a device and an MSI. */
static void guest_initialises(struct fakevm *fv, uint32_t devid, uint32_t intid)
{
    fv_its_write(fv, MIG_BASER(0), 8, 1ull << 63 | FV_DEV_TABLE | 2ull << 8);
    fv_its_write(fv, MIG_BASER(1), 8, 1ull << 63 | FV_COLL_TABLE | 2ull << 8);
    fv_its_write(fv, MIG_CBASER, 8, 1ull << 63 | FV_QUEUE | (FV_QUEUE_PAGES - 1));
    fv->cwriter = 0;
    fv_its_write(fv, MIG_CWRITER, 8, 0);
    fv_its_write(fv, MIG_CTLR, 4, 1);
    fv_map_collection(fv, 0, 0);
    uint64_t errors = fv_error_count(fv);
    assert_int_equal(fv_map_device(fv, devid, 1, 1, intid, 0), 0);
    assert_int_equal(fv_error_count(fv), errors);
    assert_int_equal(fv_its_read(fv, MIG_CREADR, 8), fv->cwriter);
    fv_clear_events(fv);
    assert_int_equal(vits_its_signal_msi(fv->its, devid, 0), 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 0, intid), 1);
}

static void its_reset_is_kvms_ctrl_reset(void **state)
{
    (void)state;
    struct vits_its_config cfg;
    vits_its_config_init(&cfg);
    cfg.base = FV_ITS_BASE;
    cfg.error_policy = VITS_ERRORS_STALL;
    struct fakevm *fv = fv_new(1);
    fv_add_its(fv, &cfg);
    fv_boot(fv);
    fv_map_collection(fv, 0, 0);
    assert_int_equal(fv_map_device(fv, 7, 2, 4, 8192, 0), 0);
    assert_int_equal(vits_its_signal_msi(fv->its, 7, 2), 1);
    /* leave the queue stalled half-way, as a crashed guest would */
    fv_mapti(fv, 99, 0, 9000, 0);
    assert_int_equal(fv_its_read(fv, MIG_CREADR, 8) & 1, 1);
    uint64_t baser0 = reg(fv, MIG_BASER(0)), baser1 = reg(fv, MIG_BASER(1));
    uint64_t iidr = reg(fv, MIG_IIDR), cmds = vits_its_commands(fv->its);
    struct vits_route *route;
    assert_int_equal(vits_route_create(fv->its, 7, 1, &route), 0);
    assert_int_equal(vits_route_fire(route), 1);
    fv_clear_events(fv);
    assert_int_equal(vits_its_reset(fv->its), 0);
    assert_int_equal(vits_its_reset(NULL), -EINVAL);
    /* disabled and quiescent, queue registers zero, tables invalid */
    assert_int_equal(reg(fv, MIG_CTLR), 1u << 31);
    assert_int_equal(reg(fv, MIG_CBASER), 0);
    assert_int_equal(reg(fv, MIG_CREADR), 0);
    assert_int_equal(reg(fv, MIG_CWRITER), 0);
    assert_int_equal(reg(fv, MIG_BASER(0)), baser0 & ~(1ull << 63));
    assert_int_equal(reg(fv, MIG_BASER(1)), baser1 & ~(1ull << 63));
    assert_int_equal(reg(fv, MIG_IIDR), iidr); /* the ABI revision kept */
    assert_int_equal(vits_its_commands(fv->its), cmds);
    /* no mapping left: raised LPIs were retracted */
    assert_int_equal(fv_count(fv, FV_RETRACT, 0, 8194), 1);
    assert_int_equal(fv_count(fv, FV_RETRACT, 0, 8193), 1);
    for (uint32_t i = 8192; i < 8196; i++)
        assert_false(fv_mapped(fv, i));
    assert_int_equal(vits_its_signal_msi(fv->its, 7, 2), 0);
    assert_int_equal(vits_route_fire(route), 0);
    /* a guest that brings it up again from scratch works, routes too */
    guest_initialises(fv, 7, 8300);
    fv_mapti(fv, 7, 1, 8301, 0);
    assert_int_equal(vits_route_fire(route), 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 0, 8301), 1);
    vits_route_destroy(route);
    fv_free(fv);
}

static void domain_reset_is_a_reboot(void **state)
{
    (void)state;
    struct fakevm *fv = fv_new(2);
    fv_boot(fv);
    fv_map_collection(fv, 0, 1);
    assert_int_equal(fv_map_device(fv, 7, 2, 4, 8192, 0), 0);
    for (uint32_t ev = 0; ev < 4; ev++)
        assert_int_equal(vits_its_signal_msi(fv->its, 7, ev), 1);
    assert_int_equal(vits_its_save_tables(fv->its), 0);
    fv_clear_events(fv);
    assert_int_equal(vits_domain_reset(fv->d), 0);
    assert_int_equal(vits_domain_reset(NULL), -EINVAL);
    assert_int_equal(fv_count_kind(fv, FV_RETRACT), 4);
    for (uint32_t v = 0; v < 2; v++) {
        assert_int_equal(fv_gicr_read(fv, v, GICR_CTLR, 4), 0);
        assert_int_equal(fv_gicr_read(fv, v, GICR_PROPBASER, 8), 0);
        assert_int_equal(fv_gicr_read(fv, v, GICR_PENDBASER, 8), 0);
    }
    assert_int_equal(reg(fv, MIG_CTLR), 1u << 31);
    assert_int_equal(reg(fv, MIG_CREADR), 0);
    /* the guest boots again: redistributors, then the ITS */
    fv_gicr_write(fv, 0, GICR_PROPBASER, 8, FV_PROP_TABLE | 0xf);
    fv_gicr_write(fv, 0, GICR_PENDBASER, 8, FV_PEND_TABLE(0) | 1ull << 62);
    fv_gicr_write(fv, 0, GICR_CTLR, 4, 1);
    guest_initialises(fv, 7, 9000);
    /* nothing saved before the reboot comes back with a restore */
    assert_int_equal(vits_its_save_tables(fv->its), 0);
    assert_int_equal(fv_read64(fv, FV_DEV_TABLE + 8 * 7) >> 63, 1);
    assert_int_equal(fv_read64(fv, FV_ITT(7) + 8), 0);
    fv_free(fv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reg_get_reads_whole_registers),
        cmocka_unit_test(iidr_revision_selects_the_table_abi),
        cmocka_unit_test(registers_restore_in_kvms_order),
        cmocka_unit_test(creadr_and_cwriter_restore_only_into_a_disabled_its),
        cmocka_unit_test(a_stalled_queue_is_restored_stalled),
        cmocka_unit_test(redistributor_registers_save_and_restore),
        cmocka_unit_test(enabling_lpis_by_restore_loads_the_pending_table),
        cmocka_unit_test(its_reset_is_kvms_ctrl_reset),
        cmocka_unit_test(domain_reset_is_a_reboot),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
