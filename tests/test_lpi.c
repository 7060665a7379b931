/* SPDX-License-Identifier: MIT */
/*
 * The LPI domain (lpi/): when the injector is called, the property cache
 * and INV/INVALL, GICR_PROPBASER.IDbits, the pending tables (load on
 * EnableLPIs 0 -> 1, write-back on 1 -> 0 and vits_domain_sync_pending),
 * vits_lpi_ack, a failing raise callback, and vits_lpi_state.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "fakevm.h"

#define GICR_CTLR 0x0
#define GICR_PROPBASER 0x70
#define GICR_PENDBASER 0x78
#define PENDBASER_PTZ (1ull << 62)

#define CMD_INT 0x03
#define CMD_INV 0x0c
#define CMD_DISCARD 0x0f

/*
 * fv_boot(), except that the vCPUs in off_mask keep EnableLPIs = 0 and get
 * a GICR_PENDBASER without PTZ (so a test can fill their pending table
 * before enabling them), and that GICR_PROPBASER says idbits INTID bits.
 */
static void boot(struct fakevm *fv, uint32_t off_mask, unsigned idbits)
{
    static uint8_t props[65536 - 8192];
    fv_add_its(fv, NULL);
    memset(props, 0xa3, sizeof(props)); /* priority 0xa0, group 1, enabled */
    fv_write(fv, FV_PROP_TABLE, props, sizeof(props));
    for (uint32_t v = 0; v < fv->nr_vcpus; v++) {
        fv_gicr_write(fv, v, GICR_PROPBASER, 8, FV_PROP_TABLE | (idbits - 1));
        if (off_mask & 1u << v) {
            fv_gicr_write(fv, v, GICR_PENDBASER, 8, FV_PEND_TABLE(v));
        } else {
            fv_gicr_write(fv, v, GICR_PENDBASER, 8, FV_PEND_TABLE(v) | PENDBASER_PTZ);
            fv_gicr_write(fv, v, GICR_CTLR, 4, 1);
        }
    }
    fv_its_write(fv, 0x100, 8, 1ull << 63 | FV_DEV_TABLE | 2ull << 8);
    fv_its_write(fv, 0x108, 8, 1ull << 63 | FV_COLL_TABLE | 2ull << 8);
    fv_its_write(fv, 0x80, 8, 1ull << 63 | FV_QUEUE | (FV_QUEUE_PAGES - 1));
    fv->cwriter = 0;
    fv_its_write(fv, 0x0, 4, 1);
}

/* A booted VM of nr vCPUs; those in off_mask have LPIs disabled. */
static struct fakevm *vm(uint32_t nr, uint32_t off_mask)
{
    struct fakevm *fv = fv_new(nr);
    boot(fv, off_mask, 16);
    return fv;
}

static void submit_dev_ev(struct fakevm *fv, uint8_t cmd, uint32_t devid, uint32_t ev)
{
    uint64_t dw[4];
    fv_cmd_dev_ev(dw, cmd, devid, ev);
    fv_submit(fv, dw);
}

static void submit_invall(struct fakevm *fv, uint16_t icid)
{
    uint64_t dw[4];
    fv_cmd_invall(dw, icid);
    fv_submit(fv, dw);
}

/* Pending-table bit of intid in vcpu's table at FV_PEND_TABLE(vcpu). */
static void set_pend_bit(struct fakevm *fv, uint32_t vcpu, uint32_t intid, bool on)
{
    uint8_t b;
    fv_read(fv, FV_PEND_TABLE(vcpu) + intid / 8, &b, 1);
    b = on ? (uint8_t)(b | 1u << (intid % 8)) : (uint8_t)(b & ~(1u << (intid % 8)));
    fv_write(fv, FV_PEND_TABLE(vcpu) + intid / 8, &b, 1);
}

static bool pend_bit(struct fakevm *fv, uint32_t vcpu, uint32_t intid)
{
    uint8_t b;
    fv_read(fv, FV_PEND_TABLE(vcpu) + intid / 8, &b, 1);
    return b >> (intid % 8) & 1;
}

/* Priority of the only raise of intid on vcpu recorded. */
static uint8_t raised_priority(const struct fakevm *fv, uint32_t vcpu, uint32_t intid)
{
    for (unsigned i = 0; i < fv->nr_events; i++)
        if (fv->events[i].kind == FV_RAISE && fv->events[i].vcpu == vcpu &&
            fv->events[i].intid == intid)
            return fv->events[i].priority;
    fail_msg("LPI %u was not raised on vCPU %u", intid, vcpu);
    return 0;
}

/* ---- when the injector is called ---- */

static void msi_raises_pending_enabled_lpi_once_with_its_priority(void **state)
{
    (void)state;
    struct fakevm *fv = vm(2, 0);
    fv_map_collection(fv, 0, 1);
    assert_int_equal(fv_map_device(fv, 1, 4, 2, 8192, 0), 0);
    fv_clear_events(fv);
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 0), 1);
    assert_int_equal(fv->nr_events, 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 1, 8192), 1);
    assert_int_equal(fv->events[0].priority, 0xa0);
    uint32_t vcpu = 0;
    assert_true(fv_pending(fv, 8192, &vcpu));
    assert_int_equal(vcpu, 1);
    /* Already pending and raised: not raised a second time. */
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 0), 1);
    assert_int_equal(fv->nr_events, 1);
    fv_free(fv);
}

static void msi_to_vcpu_with_lpis_disabled_returns_0_and_leaves_nothing_pending(void **state)
{
    (void)state;
    struct fakevm *fv = vm(2, 1u << 1);
    fv_map_collection(fv, 0, 1);
    assert_int_equal(fv_map_device(fv, 1, 4, 2, 8192, 0), 0);
    fv_clear_events(fv);
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 0), 0);
    uint32_t vcpu = 0;
    assert_false(fv_pending(fv, 8192, &vcpu));
    assert_int_equal(vcpu, 1);
    /* INT is an MSI from the command queue: dropped the same way. */
    submit_dev_ev(fv, CMD_INT, 1, 1);
    assert_int_equal(fv_error_count(fv), 0);
    assert_false(fv_pending(fv, 8193, NULL));
    assert_int_equal(fv->nr_events, 0);
    fv_free(fv);
}

static void msi_to_disabled_lpi_pends_without_raise(void **state)
{
    (void)state;
    struct fakevm *fv = vm(1, 0);
    fv_set_prop(fv, 8192, 0xa2); /* disabled */
    fv_map_collection(fv, 0, 0);
    assert_int_equal(fv_map_device(fv, 1, 4, 1, 8192, 0), 0);
    fv_clear_events(fv);
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 0), 1);
    assert_true(fv_pending(fv, 8192, NULL));
    assert_int_equal(fv->nr_events, 0);
    fv_free(fv);
}

static void pending_disabled_lpi_fires_after_enable_and_inv(void **state)
{
    (void)state;
    struct fakevm *fv = vm(1, 0);
    fv_set_prop(fv, 8192, 0xa2);
    fv_map_collection(fv, 0, 0);
    assert_int_equal(fv_map_device(fv, 1, 4, 1, 8192, 0), 0);
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 0), 1);
    fv_clear_events(fv);
    fv_set_prop(fv, 8192, 0x81); /* enabled, priority 0x80 */
    /* Not yet: the property is cached until INV. */
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 0), 1);
    assert_int_equal(fv->nr_events, 0);
    submit_dev_ev(fv, CMD_INV, 1, 0);
    assert_int_equal(fv_error_count(fv), 0);
    assert_int_equal(fv->nr_events, 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 0, 8192), 1);
    assert_int_equal(fv->events[0].priority, 0x80);
    assert_true(fv_pending(fv, 8192, NULL));
    fv_free(fv);
}

static void pending_disabled_lpis_fire_after_enable_and_invall(void **state)
{
    (void)state;
    struct fakevm *fv = vm(2, 0);
    fv_set_prop(fv, 8192, 0xa2);
    fv_set_prop(fv, 8193, 0xa2);
    fv_map_collection(fv, 3, 1);
    assert_int_equal(fv_map_device(fv, 1, 4, 2, 8192, 3), 0);
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 0), 1);
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 1), 1);
    fv_clear_events(fv);
    fv_set_prop(fv, 8192, 0x41);
    fv_set_prop(fv, 8193, 0x11);
    assert_int_equal(fv->nr_events, 0);
    submit_invall(fv, 3);
    assert_int_equal(fv_error_count(fv), 0);
    assert_int_equal(fv->nr_events, 2);
    assert_int_equal(raised_priority(fv, 1, 8192), 0x40);
    assert_int_equal(raised_priority(fv, 1, 8193), 0x10);
    fv_free(fv);
}

/* ---- the property cache ---- */

static void property_change_without_inv_keeps_cached_priority(void **state)
{
    (void)state;
    struct fakevm *fv = vm(1, 0);
    fv_map_collection(fv, 0, 0);
    assert_int_equal(fv_map_device(fv, 1, 4, 1, 8192, 0), 0);
    fv_set_prop(fv, 8192, 0x41);
    fv_clear_events(fv);
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 0), 1);
    assert_int_equal(raised_priority(fv, 0, 8192), 0xa0);
    assert_int_equal(vits_lpi_ack(fv->d, 0, 8192), 0);
    /* INV of a non-pending LPI raises nothing, but takes the new byte. */
    fv_clear_events(fv);
    submit_dev_ev(fv, CMD_INV, 1, 0);
    assert_int_equal(fv->nr_events, 0);
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 0), 1);
    assert_int_equal(raised_priority(fv, 0, 8192), 0x40);
    fv_free(fv);
}

static void property_disable_without_inv_keeps_lpi_enabled(void **state)
{
    (void)state;
    struct fakevm *fv = vm(1, 0);
    fv_map_collection(fv, 0, 0);
    assert_int_equal(fv_map_device(fv, 1, 4, 1, 8192, 0), 0);
    fv_set_prop(fv, 8192, 0xa2); /* disabled in memory only */
    fv_clear_events(fv);
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 0), 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 0, 8192), 1);
    assert_int_equal(vits_lpi_ack(fv->d, 0, 8192), 0);
    submit_dev_ev(fv, CMD_INV, 1, 0);
    fv_clear_events(fv);
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 0), 1);
    assert_true(fv_pending(fv, 8192, NULL));
    assert_int_equal(fv->nr_events, 0);
    fv_free(fv);
}

static void property_enable_without_inv_keeps_lpi_unraised(void **state)
{
    (void)state;
    struct fakevm *fv = vm(1, 0);
    fv_set_prop(fv, 8192, 0xa2);
    fv_map_collection(fv, 0, 0);
    assert_int_equal(fv_map_device(fv, 1, 4, 1, 8192, 0), 0);
    fv_set_prop(fv, 8192, 0xa3);
    fv_clear_events(fv);
    for (int i = 0; i < 3; i++)
        assert_int_equal(vits_its_signal_msi(fv->its, 1, 0), 1);
    assert_int_equal(fv->nr_events, 0);
    assert_int_equal(vits_lpi_ack(fv->d, 0, 8192), -ENOENT);
    fv_free(fv);
}

static void inv_of_raised_lpi_with_new_priority_retracts_and_reraises(void **state)
{
    (void)state;
    struct fakevm *fv = vm(1, 0);
    fv_map_collection(fv, 0, 0);
    assert_int_equal(fv_map_device(fv, 1, 4, 1, 8192, 0), 0);
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 0), 1);
    fv_clear_events(fv);
    fv_set_prop(fv, 8192, 0x61);
    submit_dev_ev(fv, CMD_INV, 1, 0);
    assert_int_equal(fv->nr_events, 2);
    assert_int_equal(fv->events[0].kind, FV_RETRACT);
    assert_int_equal(fv->events[0].intid, 8192);
    assert_int_equal(fv->events[1].kind, FV_RAISE);
    assert_int_equal(fv->events[1].priority, 0x60);
    /* Disabling it through INV retracts it; it stays pending. */
    fv_clear_events(fv);
    fv_set_prop(fv, 8192, 0x60);
    submit_dev_ev(fv, CMD_INV, 1, 0);
    assert_int_equal(fv->nr_events, 1);
    assert_int_equal(fv_count(fv, FV_RETRACT, 0, 8192), 1);
    assert_true(fv_pending(fv, 8192, NULL));
    assert_int_equal(vits_lpi_ack(fv->d, 0, 8192), -ENOENT);
    fv_free(fv);
}

static void fresh_mapti_rereads_the_property_byte(void **state)
{
    (void)state;
    struct fakevm *fv = vm(1, 0);
    fv_map_collection(fv, 0, 0);
    assert_int_equal(fv_map_device(fv, 1, 4, 1, 8192, 0), 0);
    fv_set_prop(fv, 8192, 0x21);
    fv_mapti(fv, 1, 0, 8192, 0); /* the same ITTE again */
    assert_int_equal(fv_error_count(fv), 0);
    fv_clear_events(fv);
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 0), 1);
    assert_int_equal(raised_priority(fv, 0, 8192), 0x20);
    fv_free(fv);
}

/* vCPUs may name different property tables: in one batch of MAPTIs that
 * alternate between two vCPUs, each LPI takes its byte from its own
 * vCPU's table (the batch's property lines must not mix them up). */
static void one_batch_reads_each_lpi_from_its_vcpus_own_property_table(void **state)
{
    (void)state;
    const uint64_t prop2 = 0x40700000ull;
    struct fakevm *fv = fv_new(2);
    boot(fv, 1u << 1, 16);
    uint8_t bytes[64];
    memset(bytes, 0x31, sizeof(bytes));
    fv_write(fv, prop2, bytes, sizeof(bytes));
    memset(bytes, 0x51, sizeof(bytes));
    fv_write(fv, FV_PROP_TABLE, bytes, sizeof(bytes));
    fv_gicr_write(fv, 1, GICR_PROPBASER, 8, prop2 | 15);
    fv_gicr_write(fv, 1, GICR_CTLR, 4, 1);
    fv_map_collection(fv, 0, 0);
    fv_map_collection(fv, 1, 1);
    uint64_t dw[4];
    fv_cmd_mapd(dw, 1, 3, FV_ITT(1), true);
    fv_queue(fv, dw);
    for (uint32_t ev = 0; ev < 8; ev++) {
        fv_cmd_mapti(dw, 1, ev, 8192 + ev, (uint16_t)(ev % 2));
        fv_queue(fv, dw);
    }
    fv_kick(fv);
    assert_int_equal(fv_error_count(fv), 0);
    fv_clear_events(fv);
    for (uint32_t ev = 0; ev < 8; ev++)
        assert_int_equal(vits_its_signal_msi(fv->its, 1, ev), 1);
    for (uint32_t ev = 0; ev < 8; ev += 2) {
        assert_int_equal(raised_priority(fv, 0, 8192 + ev), 0x50);
        assert_int_equal(raised_priority(fv, 1, 8193 + ev), 0x30);
    }
    fv_free(fv);
}

static void invall_rereads_every_lpi_on_the_collections_vcpu_only(void **state)
{
    (void)state;
    struct fakevm *fv = vm(2, 0);
    fv_map_collection(fv, 0, 0);
    fv_map_collection(fv, 1, 1);
    assert_int_equal(fv_map_device(fv, 1, 4, 2, 8192, 0), 0);
    assert_int_equal(fv_map_device(fv, 2, 4, 1, 8300, 1), 0);
    fv_set_prop(fv, 8192, 0x51);
    fv_set_prop(fv, 8193, 0x31);
    fv_set_prop(fv, 8300, 0x11);
    submit_invall(fv, 0);
    assert_int_equal(fv_error_count(fv), 0);
    fv_clear_events(fv);
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 0), 1);
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 1), 1);
    assert_int_equal(vits_its_signal_msi(fv->its, 2, 0), 1);
    assert_int_equal(raised_priority(fv, 0, 8192), 0x50);
    assert_int_equal(raised_priority(fv, 0, 8193), 0x30);
    /* vCPU 1's LPI keeps its cached priority. */
    assert_int_equal(raised_priority(fv, 1, 8300), 0xa0);
    fv_free(fv);
}

static void property_lookup_beyond_propbaser_idbits_is_disabled(void **state)
{
    (void)state;
    struct fakevm *fv = fv_new(1);
    boot(fv, 0, 14); /* the table covers INTIDs 8192..16383 */
    fv_map_collection(fv, 0, 0);
    /* events 0, 1 -> INTIDs 16383, 16384; both bytes in memory read 0xa3 */
    assert_int_equal(fv_map_device(fv, 1, 4, 2, 16383, 0), 0);
    fv_clear_events(fv);
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 0), 1);
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 1), 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 0, 16383), 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 0, 16384), 0);
    assert_true(fv_pending(fv, 16384, NULL));
    /* INV reads the same answer: still beyond IDbits. */
    submit_dev_ev(fv, CMD_INV, 1, 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 0, 16384), 0);
    fv_free(fv);
}

static void unreadable_property_byte_leaves_lpi_disabled_and_logs_guest_error(void **state)
{
    (void)state;
    struct fakevm *fv = vm(1, 0);
    fv_map_collection(fv, 0, 0);
    fv_add_hole(fv, FV_PROP_TABLE + (8200 - 8192), 1);
    unsigned guest = fv->log_count[VITS_LOG_GUEST];
    assert_int_equal(fv_map_device(fv, 1, 4, 16, 8192, 0), 0);
    assert_int_equal(fv->log_count[VITS_LOG_GUEST] - guest, 1);
    fv_clear_events(fv);
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 8), 1);
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 7), 1);
    assert_true(fv_pending(fv, 8200, NULL));
    assert_int_equal(fv_count(fv, FV_RAISE, 0, 8200), 0);
    assert_int_equal(fv_count(fv, FV_RAISE, 0, 8199), 1);
    /* Once the table is readable, INV picks the byte up. */
    fv->nr_holes = 0;
    submit_dev_ev(fv, CMD_INV, 1, 8);
    assert_int_equal(fv_count(fv, FV_RAISE, 0, 8200), 1);
    fv_free(fv);
}

/* ---- pending table load (EnableLPIs 0 -> 1) ---- */

static void enable_lpis_without_ptz_loads_pending_bits_of_its_lpis(void **state)
{
    (void)state;
    struct fakevm *fv = vm(2, 1u << 1);
    fv_set_prop(fv, 8194, 0xa2); /* disabled */
    fv_map_collection(fv, 0, 0);
    fv_map_collection(fv, 1, 1);
    assert_int_equal(fv_map_device(fv, 1, 4, 4, 8192, 1), 0); /* 8192..8195 -> vCPU 1 */
    assert_int_equal(fv_map_device(fv, 2, 4, 1, 8300, 0), 0); /* 8300 -> vCPU 0 */
    set_pend_bit(fv, 1, 8192, true);
    set_pend_bit(fv, 1, 8194, true);
    set_pend_bit(fv, 1, 8300, true); /* targets vCPU 0: not this table's */
    fv_clear_events(fv);
    fv_gicr_write(fv, 1, GICR_CTLR, 4, 1);
    assert_int_equal(fv_gicr_read(fv, 1, GICR_CTLR, 4), 1);
    assert_true(fv_pending(fv, 8192, NULL));
    assert_false(fv_pending(fv, 8193, NULL));
    assert_true(fv_pending(fv, 8194, NULL));
    assert_false(fv_pending(fv, 8195, NULL));
    assert_false(fv_pending(fv, 8300, NULL));
    /* Raised when enabled: only 8192. */
    assert_int_equal(fv->nr_events, 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 1, 8192), 1);
    /* The disabled one fires after its byte is enabled and INV. */
    fv_set_prop(fv, 8194, 0xa3);
    submit_dev_ev(fv, CMD_INV, 1, 2);
    assert_int_equal(fv_count(fv, FV_RAISE, 1, 8194), 1);
    fv_free(fv);
}

static void enable_lpis_with_ptz_does_not_read_the_pending_table(void **state)
{
    (void)state;
    struct fakevm *fv = vm(2, 1u << 1);
    fv_gicr_write(fv, 1, GICR_PENDBASER, 8, FV_PEND_TABLE(1) | PENDBASER_PTZ);
    fv_map_collection(fv, 0, 1);
    assert_int_equal(fv_map_device(fv, 1, 4, 2, 8192, 0), 0);
    set_pend_bit(fv, 1, 8192, true);
    set_pend_bit(fv, 1, 8193, true);
    fv_clear_events(fv);
    unsigned long reads = fv->reads;
    fv_gicr_write(fv, 1, GICR_CTLR, 4, 1);
    assert_int_equal(fv->reads, reads);
    assert_false(fv_pending(fv, 8192, NULL));
    assert_false(fv_pending(fv, 8193, NULL));
    assert_int_equal(fv->nr_events, 0);
    /* PTZ reads as zero. */
    assert_int_equal(fv_gicr_read(fv, 1, GICR_PENDBASER, 8), FV_PEND_TABLE(1));
    fv_free(fv);
}

static void enable_lpis_does_not_keep_bits_of_intids_no_its_maps(void **state)
{
    (void)state;
    struct fakevm *fv = vm(2, 1u << 1);
    fv_map_collection(fv, 0, 1);
    set_pend_bit(fv, 1, 8500, true);
    fv_gicr_write(fv, 1, GICR_CTLR, 4, 1);
    assert_int_equal(vits_lpi_state(fv->d, 8500, NULL), -ENOENT);
    fv_clear_events(fv);
    assert_int_equal(fv_map_device(fv, 1, 4, 1, 8500, 0), 0);
    uint32_t vcpu = 0;
    assert_int_equal(vits_lpi_state(fv->d, 8500, &vcpu), 0);
    assert_int_equal(vcpu, 1);
    assert_int_equal(fv->nr_events, 0);
    fv_free(fv);
}

static void unreadable_pending_table_logs_and_leaves_lpis_enabled(void **state)
{
    (void)state;
    struct fakevm *fv = vm(2, 1u << 1);
    fv_add_hole(fv, FV_PEND_TABLE(1), 0x10000);
    fv_map_collection(fv, 0, 1);
    assert_int_equal(fv_map_device(fv, 1, 4, 1, 8192, 0), 0);
    unsigned guest = fv->log_count[VITS_LOG_GUEST];
    fv_gicr_write(fv, 1, GICR_CTLR, 4, 1);
    assert_int_equal(fv->log_count[VITS_LOG_GUEST] - guest, 1);
    assert_int_equal(fv_gicr_read(fv, 1, GICR_CTLR, 4), 1);
    fv_clear_events(fv);
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 0), 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 1, 8192), 1);
    fv_free(fv);
}

/* ---- vits_domain_sync_pending ---- */

static void sync_pending_sets_and_clears_bits_of_mapped_lpis_only(void **state)
{
    (void)state;
    struct fakevm *fv = vm(2, 0);
    fv_map_collection(fv, 0, 0);
    fv_map_collection(fv, 1, 1);
    assert_int_equal(fv_map_device(fv, 1, 4, 4, 8192, 0), 0); /* 8192..8195 -> vCPU 0 */
    assert_int_equal(fv_map_device(fv, 2, 4, 2, 8256, 1), 0); /* 8256..8257 -> vCPU 1 */
    set_pend_bit(fv, 0, 8193, true);                          /* mapped, not pending: cleared */
    set_pend_bit(fv, 0, 8600, true);                          /* no ITS maps it: left alone */
    set_pend_bit(fv, 0, 100, true);  /* below 8192, IMPDEF scratch: left alone */
    set_pend_bit(fv, 1, 8192, true); /* targets vCPU 0: not this table's */
    set_pend_bit(fv, 1, 8256, true); /* mapped, not pending: cleared */
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 0), 1);
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 2), 1);
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 3), 1);
    assert_int_equal(vits_its_signal_msi(fv->its, 2, 1), 1);
    assert_int_equal(vits_lpi_ack(fv->d, 0, 8195), 0); /* acked: no longer pending */
    assert_int_equal(vits_domain_sync_pending(fv->d), 0);
    assert_true(pend_bit(fv, 0, 8192));
    assert_false(pend_bit(fv, 0, 8193));
    assert_true(pend_bit(fv, 0, 8194));
    assert_false(pend_bit(fv, 0, 8195));
    assert_true(pend_bit(fv, 0, 8600));
    assert_true(pend_bit(fv, 0, 100));
    assert_false(pend_bit(fv, 0, 8257));
    assert_true(pend_bit(fv, 1, 8192));
    assert_false(pend_bit(fv, 1, 8256));
    assert_true(pend_bit(fv, 1, 8257));
    assert_false(pend_bit(fv, 1, 8194));
    /* The domain's state is unchanged by a save. */
    assert_true(fv_pending(fv, 8192, NULL));
    assert_false(fv_pending(fv, 8195, NULL));
    fv_free(fv);
}

/* Three vCPUs, collection i -> vCPU i, device i+1 event 0 -> INTID
 * 8192 + 64 i on collection i, all pending. */
static struct fakevm *three_pending(void)
{
    struct fakevm *fv = vm(3, 0);
    for (uint16_t i = 0; i < 3; i++) {
        fv_map_collection(fv, i, i);
        assert_int_equal(fv_map_device(fv, i + 1u, 4, 1, 8192 + 64u * i, i), 0);
        assert_int_equal(vits_its_signal_msi(fv->its, i + 1u, 0), 1);
    }
    return fv;
}

static void sync_pending_with_table_in_hole_fails_but_writes_other_vcpus(void **state)
{
    (void)state;
    struct fakevm *fv = three_pending();
    fv_add_hole(fv, FV_PEND_TABLE(1), 0x10000);
    assert_int_equal(vits_domain_sync_pending(fv->d), -EFAULT);
    assert_true(pend_bit(fv, 0, 8192));
    assert_true(pend_bit(fv, 2, 8192 + 128));
    fv_free(fv);
}

static void sync_pending_returns_the_first_error_seen(void **state)
{
    (void)state;
    struct fakevm *fv = three_pending();
    /* vCPU 0's table fails with -EFAULT (hole); every later read, so
     * vCPU 1's and 2's, fails with -EIO. vCPUs are saved in order. */
    fv_add_hole(fv, FV_PEND_TABLE(0), 0x10000);
    fv->fail_read_after = 1;
    assert_int_equal(vits_domain_sync_pending(fv->d), -EFAULT);
    fv->fail_read_after = -1;
    fv->nr_holes = 0;
    assert_int_equal(vits_domain_sync_pending(fv->d), 0);
    assert_true(pend_bit(fv, 1, 8256));
    assert_int_equal(vits_domain_sync_pending(NULL), -EINVAL);
    fv_free(fv);
}

/* ---- EnableLPIs 1 -> 0 and back ---- */

/* vCPU 1 holds 8192 and 8193 pending and raised, 8194 mapped idle. */
static struct fakevm *two_raised_on_vcpu1(void)
{
    struct fakevm *fv = vm(2, 0);
    fv_map_collection(fv, 0, 1);
    assert_int_equal(fv_map_device(fv, 1, 4, 3, 8192, 0), 0);
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 0), 1);
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 1), 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 1, 8192), 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 1, 8193), 1);
    fv_clear_events(fv);
    return fv;
}

static void disabling_lpis_writes_pending_back_retracts_and_keeps_pending(void **state)
{
    (void)state;
    struct fakevm *fv = two_raised_on_vcpu1();
    set_pend_bit(fv, 1, 8194, true); /* stale: cleared by the write-back */
    fv_gicr_write(fv, 1, GICR_CTLR, 4, 0);
    assert_int_equal(fv_gicr_read(fv, 1, GICR_CTLR, 4), 0);
    assert_true(pend_bit(fv, 1, 8192));
    assert_true(pend_bit(fv, 1, 8193));
    assert_false(pend_bit(fv, 1, 8194));
    assert_int_equal(fv->nr_events, 2);
    assert_int_equal(fv_count(fv, FV_RETRACT, 1, 8192), 1);
    assert_int_equal(fv_count(fv, FV_RETRACT, 1, 8193), 1);
    assert_true(fv_pending(fv, 8192, NULL));
    assert_true(fv_pending(fv, 8193, NULL));
    /* Retracted: no longer acknowledgeable; new MSIs are dropped. */
    assert_int_equal(vits_lpi_ack(fv->d, 1, 8192), -ENOENT);
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 2), 0);
    assert_false(fv_pending(fv, 8194, NULL));
    fv_free(fv);
}

static void reenabling_lpis_raises_the_kept_pending_lpis_again(void **state)
{
    (void)state;
    struct fakevm *fv = two_raised_on_vcpu1();
    fv_gicr_write(fv, 1, GICR_CTLR, 4, 0);
    fv_clear_events(fv);
    fv_gicr_write(fv, 1, GICR_CTLR, 4, 1);
    assert_int_equal(fv->nr_events, 2);
    assert_int_equal(fv_count(fv, FV_RAISE, 1, 8192), 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 1, 8193), 1);
    assert_false(fv_pending(fv, 8194, NULL));
    assert_int_equal(vits_lpi_ack(fv->d, 1, 8192), 0);
    assert_int_equal(vits_lpi_ack(fv->d, 1, 8193), 0);
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 2), 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 1, 8194), 1);
    fv_free(fv);
}

static void reenabling_lpis_loads_bits_the_guest_set_while_disabled(void **state)
{
    (void)state;
    struct fakevm *fv = two_raised_on_vcpu1();
    fv_gicr_write(fv, 1, GICR_CTLR, 4, 0);
    set_pend_bit(fv, 1, 8194, true);
    fv_clear_events(fv);
    fv_gicr_write(fv, 1, GICR_CTLR, 4, 1);
    assert_true(fv_pending(fv, 8194, NULL));
    assert_int_equal(fv_count(fv, FV_RAISE, 1, 8194), 1);
    assert_int_equal(fv->nr_events, 3);
    fv_free(fv);
}

/* ---- vits_lpi_ack ---- */

static void ack_clears_pending_and_a_new_msi_raises_again(void **state)
{
    (void)state;
    struct fakevm *fv = vm(2, 0);
    fv_map_collection(fv, 0, 1);
    assert_int_equal(fv_map_device(fv, 1, 4, 1, 8192, 0), 0);
    fv_clear_events(fv);
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 0), 1);
    assert_int_equal(vits_lpi_ack(fv->d, 1, 8192), 0);
    assert_false(fv_pending(fv, 8192, NULL));
    assert_int_equal(fv_count_kind(fv, FV_RETRACT), 0);
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 0), 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 1, 8192), 2);
    assert_true(fv_pending(fv, 8192, NULL));
    fv_free(fv);
}

static void ack_of_lpi_not_raised_on_that_vcpu_is_enoent(void **state)
{
    (void)state;
    struct fakevm *fv = vm(2, 0);
    fv_set_prop(fv, 8194, 0xa2);
    fv_map_collection(fv, 0, 1);
    assert_int_equal(fv_map_device(fv, 1, 4, 3, 8192, 0), 0);
    /* never raised: mapped idle, and not mapped at all */
    assert_int_equal(vits_lpi_ack(fv->d, 1, 8193), -ENOENT);
    assert_int_equal(vits_lpi_ack(fv->d, 1, 9000), -ENOENT);
    assert_int_equal(vits_lpi_ack(fv->d, 1, 27), -ENOENT);
    /* pending but disabled: never raised */
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 2), 1);
    assert_int_equal(vits_lpi_ack(fv->d, 1, 8194), -ENOENT);
    assert_true(fv_pending(fv, 8194, NULL));
    /* raised on vCPU 1, acked on vCPU 0 */
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 0), 1);
    assert_int_equal(vits_lpi_ack(fv->d, 0, 8192), -ENOENT);
    assert_true(fv_pending(fv, 8192, NULL));
    /* already acked */
    assert_int_equal(vits_lpi_ack(fv->d, 1, 8192), 0);
    assert_int_equal(vits_lpi_ack(fv->d, 1, 8192), -ENOENT);
    fv_free(fv);
}

static void ack_with_bad_vcpu_or_null_domain_is_einval(void **state)
{
    (void)state;
    struct fakevm *fv = vm(2, 0);
    fv_map_collection(fv, 0, 1);
    assert_int_equal(fv_map_device(fv, 1, 4, 1, 8192, 0), 0);
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 0), 1);
    assert_int_equal(vits_lpi_ack(fv->d, 2, 8192), -EINVAL);
    assert_int_equal(vits_lpi_ack(fv->d, UINT32_MAX, 8192), -EINVAL);
    assert_int_equal(vits_lpi_ack(NULL, 1, 8192), -EINVAL);
    assert_true(fv_pending(fv, 8192, NULL));
    assert_int_equal(vits_lpi_ack(fv->d, 1, 8192), 0);
    fv_free(fv);
}

/* ---- a raise callback that fails ---- */

static void failing_raise_leaves_lpi_pending_unraised_and_logs_error(void **state)
{
    (void)state;
    struct fakevm *fv = vm(1, 0);
    fv_map_collection(fv, 0, 0);
    assert_int_equal(fv_map_device(fv, 1, 4, 1, 8192, 0), 0);
    fv_clear_events(fv);
    unsigned errors = fv->log_count[VITS_LOG_ERROR];
    fv->raise_result = -EBUSY;
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 0), 1);
    assert_int_equal(fv->log_count[VITS_LOG_ERROR] - errors, 1);
    assert_true(fv_pending(fv, 8192, NULL));
    assert_int_equal(fv->nr_events, 0);
    assert_int_equal(vits_lpi_ack(fv->d, 0, 8192), -ENOENT);
    /* A later INV offers it again. */
    fv->raise_result = 0;
    submit_dev_ev(fv, CMD_INV, 1, 0);
    assert_int_equal(fv_count(fv, FV_RAISE, 0, 8192), 1);
    assert_int_equal(fv->events[0].priority, 0xa0);
    assert_int_equal(vits_lpi_ack(fv->d, 0, 8192), 0);
    assert_false(fv_pending(fv, 8192, NULL));
    fv_free(fv);
}

static void failed_raise_is_offered_again_by_the_next_msi(void **state)
{
    (void)state;
    struct fakevm *fv = vm(1, 0);
    fv_map_collection(fv, 0, 0);
    assert_int_equal(fv_map_device(fv, 1, 4, 1, 8192, 0), 0);
    fv_clear_events(fv);
    fv->raise_result = -EAGAIN;
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 0), 1);
    fv->raise_result = 0;
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 0), 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 0, 8192), 1);
    fv_free(fv);
}

/* ---- vits_lpi_state ---- */

static void lpi_state_reports_pending_and_target_vcpu(void **state)
{
    (void)state;
    struct fakevm *fv = vm(3, 0);
    fv_map_collection(fv, 0, 2);
    assert_int_equal(fv_map_device(fv, 1, 4, 1, 8192, 0), 0);
    uint32_t vcpu = 99;
    assert_int_equal(vits_lpi_state(fv->d, 8192, &vcpu), 0);
    assert_int_equal(vcpu, 2);
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 0), 1);
    vcpu = 99;
    assert_int_equal(vits_lpi_state(fv->d, 8192, &vcpu), 1);
    assert_int_equal(vcpu, 2);
    assert_int_equal(vits_lpi_state(fv->d, 8192, NULL), 1);
    fv_free(fv);
}

static void lpi_state_of_lpi_without_target_is_uint32_max(void **state)
{
    (void)state;
    struct fakevm *fv = vm(2, 0);
    assert_int_equal(fv_map_device(fv, 1, 4, 1, 8192, 5), 0); /* collection 5 unmapped */
    uint32_t vcpu = 0;
    assert_int_equal(vits_lpi_state(fv->d, 8192, &vcpu), 0);
    assert_int_equal(vcpu, UINT32_MAX);
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 0), 0);
    assert_int_equal(vits_lpi_state(fv->d, 8192, &vcpu), 0);
    fv_map_collection(fv, 5, 1);
    assert_int_equal(vits_lpi_state(fv->d, 8192, &vcpu), 0);
    assert_int_equal(vcpu, 1);
    fv_free(fv);
}

static void lpi_state_of_unmapped_intid_is_enoent(void **state)
{
    (void)state;
    struct fakevm *fv = vm(1, 0);
    assert_int_equal(vits_lpi_state(fv->d, 8192, NULL), -ENOENT);
    fv_map_collection(fv, 0, 0);
    assert_int_equal(fv_map_device(fv, 1, 4, 1, 8192, 0), 0);
    assert_int_equal(vits_lpi_state(fv->d, 8193, NULL), -ENOENT);
    assert_int_equal(vits_lpi_state(fv->d, 100, NULL), -ENOENT);
    assert_int_equal(vits_lpi_state(fv->d, 1u << 16, NULL), -ENOENT);
    assert_int_equal(vits_lpi_state(fv->d, UINT32_MAX, NULL), -ENOENT);
    submit_dev_ev(fv, CMD_DISCARD, 1, 0);
    assert_int_equal(fv_error_count(fv), 0);
    assert_int_equal(vits_lpi_state(fv->d, 8192, NULL), -ENOENT);
    assert_int_equal(vits_lpi_state(NULL, 8192, NULL), -EINVAL);
    fv_free(fv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(msi_raises_pending_enabled_lpi_once_with_its_priority),
        cmocka_unit_test(msi_to_vcpu_with_lpis_disabled_returns_0_and_leaves_nothing_pending),
        cmocka_unit_test(msi_to_disabled_lpi_pends_without_raise),
        cmocka_unit_test(pending_disabled_lpi_fires_after_enable_and_inv),
        cmocka_unit_test(pending_disabled_lpis_fire_after_enable_and_invall),
        cmocka_unit_test(property_change_without_inv_keeps_cached_priority),
        cmocka_unit_test(property_disable_without_inv_keeps_lpi_enabled),
        cmocka_unit_test(property_enable_without_inv_keeps_lpi_unraised),
        cmocka_unit_test(inv_of_raised_lpi_with_new_priority_retracts_and_reraises),
        cmocka_unit_test(fresh_mapti_rereads_the_property_byte),
        cmocka_unit_test(one_batch_reads_each_lpi_from_its_vcpus_own_property_table),
        cmocka_unit_test(invall_rereads_every_lpi_on_the_collections_vcpu_only),
        cmocka_unit_test(property_lookup_beyond_propbaser_idbits_is_disabled),
        cmocka_unit_test(unreadable_property_byte_leaves_lpi_disabled_and_logs_guest_error),
        cmocka_unit_test(enable_lpis_without_ptz_loads_pending_bits_of_its_lpis),
        cmocka_unit_test(enable_lpis_with_ptz_does_not_read_the_pending_table),
        cmocka_unit_test(enable_lpis_does_not_keep_bits_of_intids_no_its_maps),
        cmocka_unit_test(unreadable_pending_table_logs_and_leaves_lpis_enabled),
        cmocka_unit_test(sync_pending_sets_and_clears_bits_of_mapped_lpis_only),
        cmocka_unit_test(sync_pending_with_table_in_hole_fails_but_writes_other_vcpus),
        cmocka_unit_test(sync_pending_returns_the_first_error_seen),
        cmocka_unit_test(disabling_lpis_writes_pending_back_retracts_and_keeps_pending),
        cmocka_unit_test(reenabling_lpis_raises_the_kept_pending_lpis_again),
        cmocka_unit_test(reenabling_lpis_loads_bits_the_guest_set_while_disabled),
        cmocka_unit_test(ack_clears_pending_and_a_new_msi_raises_again),
        cmocka_unit_test(ack_of_lpi_not_raised_on_that_vcpu_is_enoent),
        cmocka_unit_test(ack_with_bad_vcpu_or_null_domain_is_einval),
        cmocka_unit_test(failing_raise_leaves_lpi_pending_unraised_and_logs_error),
        cmocka_unit_test(failed_raise_is_offered_again_by_the_next_msi),
        cmocka_unit_test(lpi_state_reports_pending_and_target_vcpu),
        cmocka_unit_test(lpi_state_of_lpi_without_target_is_uint32_max),
        cmocka_unit_test(lpi_state_of_unmapped_intid_is_enoent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
