/* SPDX-License-Identifier: MIT */
/* MSI injection: the KVM-style call, GITS_TRANSLATER with a DeviceID,
 * the direct call and prepared routes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>

#include "fakevm.h"
/* One test below reaches into the ITS for its mapping sequence count. */
#include "../its/its.h"

#define DOORBELL (FV_ITS_BASE + VITS_GITS_TRANSLATER)

static struct fakevm *booted(void)
{
    struct fakevm *fv = fv_new(4);
    fv_boot(fv);
    fv_map_collection(fv, 0, 1);
    fv_map_collection(fv, 1, 2);
    assert_int_equal(fv_map_device(fv, 5, 4, 8, 8192, 0), 0);
    return fv;
}

static struct vits_msi msi(uint64_t address, uint32_t devid, uint32_t data)
{
    return (struct vits_msi){
        .address = address, .data = data, .devid = devid, .flags = VITS_MSI_VALID_DEVID};
}

static void kvm_style_msi_delivers_through_the_doorbell(void **state)
{
    (void)state;
    struct fakevm *fv = booted();
    struct vits_msi m = msi(DOORBELL, 5, 3);
    assert_int_equal(vits_domain_signal_msi(fv->d, &m), 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 1, 8195), 1);
    /* coalesces while pending */
    assert_int_equal(vits_domain_signal_msi(fv->d, &m), 1);
    assert_int_equal(fv_count_kind(fv, FV_RAISE), 1);
    fv_free(fv);
}

static void kvm_style_msi_blocked_by_the_guest_returns_0(void **state)
{
    (void)state;
    struct fakevm *fv = booted();
    struct vits_msi unmapped_dev = msi(DOORBELL, 6, 0);
    struct vits_msi unmapped_ev = msi(DOORBELL, 5, 9);
    struct vits_msi beyond_itt = msi(DOORBELL, 5, 100);
    assert_int_equal(vits_domain_signal_msi(fv->d, &unmapped_dev), 0);
    assert_int_equal(vits_domain_signal_msi(fv->d, &unmapped_ev), 0);
    assert_int_equal(vits_domain_signal_msi(fv->d, &beyond_itt), 0);
    /* collection unmapped */
    fv_mapc(fv, 0, 0, false);
    struct vits_msi m = msi(DOORBELL, 5, 0);
    assert_int_equal(vits_domain_signal_msi(fv->d, &m), 0);
    fv_map_collection(fv, 0, 1);
    /* LPIs disabled on the target vCPU */
    fv_gicr_write(fv, 1, 0x0, 4, 0);
    assert_int_equal(vits_domain_signal_msi(fv->d, &m), 0);
    fv_gicr_write(fv, 1, 0x0, 4, 1);
    /* ITS disabled */
    fv_its_write(fv, 0x0, 4, 0);
    assert_int_equal(vits_domain_signal_msi(fv->d, &m), 0);
    fv_its_write(fv, 0x0, 4, 1);
    assert_int_equal(fv_count_kind(fv, FV_RAISE), 0);
    assert_int_equal(vits_domain_signal_msi(fv->d, &m), 1);
    fv_free(fv);
}

static void kvm_style_msi_rejects_malformed_requests(void **state)
{
    (void)state;
    struct fakevm *fv = booted();
    struct vits_msi m = msi(DOORBELL, 5, 0);
    assert_int_equal(vits_domain_signal_msi(NULL, &m), -EINVAL);
    assert_int_equal(vits_domain_signal_msi(fv->d, NULL), -EINVAL);
    m.flags = 0; /* no devid */
    assert_int_equal(vits_domain_signal_msi(fv->d, &m), -EINVAL);
    m.flags = VITS_MSI_VALID_DEVID | 2; /* unknown flag */
    assert_int_equal(vits_domain_signal_msi(fv->d, &m), -EINVAL);
    m = msi(FV_ITS_BASE, 5, 0); /* the frame, not the doorbell */
    assert_int_equal(vits_domain_signal_msi(fv->d, &m), -ENODEV);
    m = msi(0x10040, 5, 0);
    assert_int_equal(vits_domain_signal_msi(fv->d, &m), -ENODEV);
    assert_int_equal(fv_count_kind(fv, FV_RAISE), 0);
    fv_free(fv);
}

static void kvm_style_msi_selects_the_its_by_doorbell(void **state)
{
    (void)state;
    struct fakevm *fv = booted();
    /* A second ITS at 0x09000000 whose device 5 event 3 maps LPI 9000 on
     * vCPU 3: drive it by swapping fv->its. */
    struct vits_its *first = fv->its;
    struct vits_its_config cfg;
    vits_its_config_init(&cfg);
    cfg.base = 0x09000000;
    struct vits_its *second;
    assert_int_equal(vits_its_create(fv->d, &cfg, &second), 0);
    uint64_t cw = fv->cwriter;
    fv->its = second;
    fv_its_write(fv, 0x100, 8, 1ull << 63 | 0x42000000 | 2ull << 8);
    fv_its_write(fv, 0x108, 8, 1ull << 63 | 0x42100000 | 2ull << 8);
    fv_its_write(fv, 0x80, 8, 1ull << 63 | 0x42200000);
    fv->cwriter = 0;
    fv_its_write(fv, 0x0, 4, 1);
    fv_map_collection(fv, 0, 3);
    assert_int_equal(fv_map_device(fv, 5, 4, 0, 0, 0), 0);
    fv_mapti(fv, 5, 3, 9000, 0);
    assert_int_equal(fv_error_count(fv), 0);

    struct vits_msi a = msi(DOORBELL, 5, 3), b = msi(0x09000000 + VITS_GITS_TRANSLATER, 5, 3);
    assert_int_equal(vits_domain_signal_msi(fv->d, &b), 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 3, 9000), 1);
    assert_int_equal(vits_domain_signal_msi(fv->d, &a), 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 1, 8195), 1);
    assert_int_equal(fv_count_kind(fv, FV_RAISE), 2);

    /* once destroyed, its doorbell is gone */
    vits_its_destroy(second);
    assert_int_equal(vits_domain_signal_msi(fv->d, &b), -ENODEV);
    fv->its = first;
    fv->cwriter = cw;
    fv_free(fv);
}

static void translater_write_with_devid_signals(void **state)
{
    (void)state;
    struct fakevm *fv = booted();
    assert_int_equal(vits_its_mmio_write_devid(fv->its, VITS_GITS_TRANSLATER, 4, 2, 5), 0);
    assert_int_equal(fv_count(fv, FV_RAISE, 1, 8194), 1);
    /* 16-bit write: the EventID is zero-extended */
    assert_int_equal(vits_its_mmio_write_devid(fv->its, VITS_GITS_TRANSLATER, 2, 0xffff0004, 5), 0);
    assert_int_equal(fv_count(fv, FV_RAISE, 1, 8196), 1);
    /* upper bits of a 4-byte write beyond the EventID are not looked at */
    assert_int_equal(vits_its_mmio_write_devid(fv->its, VITS_GITS_TRANSLATER, 4, 0x100000005ull, 5),
                     0);
    assert_int_equal(fv_count(fv, FV_RAISE, 1, 8197), 1);
    /* an unmapped device: nothing, still a completed write */
    assert_int_equal(vits_its_mmio_write_devid(fv->its, VITS_GITS_TRANSLATER, 4, 0, 77), 0);
    assert_int_equal(fv_count_kind(fv, FV_RAISE), 3);
    /* other registers behave as with vits_its_mmio_write */
    assert_int_equal(vits_its_mmio_write_devid(fv->its, 0x0, 4, 0, 5), 0);
    assert_int_equal(fv_its_read(fv, 0x0, 4) & 1, 0);
    assert_int_equal(vits_its_mmio_write_devid(fv->its, 0x3, 4, 0, 5), -EINVAL);
    assert_int_equal(vits_its_mmio_write_devid(NULL, VITS_GITS_TRANSLATER, 4, 0, 5), -EINVAL);
    /* disabled ITS: the write does nothing */
    assert_int_equal(vits_its_mmio_write_devid(fv->its, VITS_GITS_TRANSLATER, 4, 0, 5), 0);
    assert_int_equal(fv_count_kind(fv, FV_RAISE), 3);
    fv_free(fv);
}

static void route_fires_like_a_direct_msi(void **state)
{
    (void)state;
    struct fakevm *fv = booted();
    struct vits_route *r;
    assert_int_equal(vits_route_create(fv->its, 5, 1, &r), 0);
    assert_int_equal(vits_route_fire(r), 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 1, 8193), 1);
    assert_int_equal(vits_route_fire(r), 1); /* coalesced */
    assert_int_equal(fv_count_kind(fv, FV_RAISE), 1);
    assert_int_equal(vits_lpi_ack(fv->d, 1, 8193), 0);
    assert_int_equal(vits_route_fire(r), 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 1, 8193), 2);
    vits_route_destroy(r);
    fv_free(fv);
}

static void route_follows_every_mapping_change(void **state)
{
    (void)state;
    struct fakevm *fv = booted();
    struct vits_route *r;
    assert_int_equal(vits_route_create(fv->its, 5, 2, &r), 0);
    assert_int_equal(vits_route_fire(r), 1);
    assert_int_equal(vits_lpi_ack(fv->d, 1, 8194), 0);
    uint64_t dw[4];

    /* MOVI to collection 1 (vCPU 2) */
    fv_cmd_movi(dw, 5, 2, 1);
    fv_submit(fv, dw);
    fv_clear_events(fv);
    assert_int_equal(vits_route_fire(r), 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 2, 8194), 1);
    assert_int_equal(vits_lpi_ack(fv->d, 2, 8194), 0);

    /* MAPC re-targets collection 1 to vCPU 3 */
    fv_map_collection(fv, 1, 3);
    fv_clear_events(fv);
    assert_int_equal(vits_route_fire(r), 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 3, 8194), 1);
    assert_int_equal(vits_lpi_ack(fv->d, 3, 8194), 0);

    /* DISCARD: blocked; the old LPI is not raised */
    fv_cmd_dev_ev(dw, 0x0f, 5, 2);
    fv_submit(fv, dw);
    fv_clear_events(fv);
    assert_int_equal(vits_route_fire(r), 0);
    assert_int_equal(fv->nr_events, 0);

    /* MAPTI to a new LPI: the route delivers the new one */
    fv_mapti(fv, 5, 2, 8500, 0);
    assert_int_equal(vits_route_fire(r), 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 1, 8500), 1);
    assert_int_equal(fv->nr_events, 1);
    assert_int_equal(vits_lpi_ack(fv->d, 1, 8500), 0);

    /* MAPD re-map drops the event: blocked */
    fv_cmd_mapd(dw, 5, 3, FV_ITT(5), true);
    fv_submit(fv, dw);
    fv_clear_events(fv);
    assert_int_equal(vits_route_fire(r), 0);
    /* 8194 now mapped by another device must not be raised via the route */
    assert_int_equal(fv_map_device(fv, 6, 4, 0, 0, 0), 0);
    fv_mapti(fv, 6, 0, 8194, 0);
    assert_int_equal(vits_route_fire(r), 0);
    assert_int_equal(fv->nr_events, 0);
    assert_int_equal(fv_error_count(fv), 0);
    vits_route_destroy(r);
    fv_free(fv);
}

static void route_created_before_the_mapping_starts_working_after_it(void **state)
{
    (void)state;
    struct fakevm *fv = booted();
    struct vits_route *r;
    assert_int_equal(vits_route_create(fv->its, 9, 0, &r), 0);
    assert_int_equal(vits_route_fire(r), 0);
    assert_int_equal(fv_map_device(fv, 9, 2, 1, 8600, 1), 0);
    assert_int_equal(vits_route_fire(r), 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 2, 8600), 1);
    /* disabling the ITS blocks routes too */
    assert_int_equal(vits_lpi_ack(fv->d, 2, 8600), 0);
    fv_its_write(fv, 0x0, 4, 0);
    assert_int_equal(vits_route_fire(r), 0);
    vits_route_destroy(r);
    fv_free(fv);
}

static void routes_outlive_their_its_safely_and_hold_the_domain(void **state)
{
    (void)state;
    struct fakevm *fv = booted();
    struct vits_route *r1, *r2;
    assert_int_equal(vits_route_create(fv->its, 5, 0, &r1), 0);
    assert_int_equal(vits_route_create(fv->its, 5, 1, &r2), 0);
    assert_int_equal(vits_route_fire(r1), 1);
    vits_route_destroy(r2); /* destroy in any order */
    vits_its_destroy(fv->its);
    fv->its = NULL;
    assert_int_equal(vits_route_fire(r1), -ENODEV);
    assert_int_equal(vits_domain_destroy(fv->d), -EBUSY);
    vits_route_destroy(r1);
    fv_free(fv);
}

/*
 * A route whose event is unmapped caches nothing, and "nothing" must not
 * match the count while a mapping change is under way (map_seq odd), even
 * the one change in 2^39 whose count has its low 40 bits all ones: the
 * route must not deliver the LPI of another event then. Reaching that
 * count takes 2^39 mapping changes, so the test sets it (white box).
 */
static void route_of_an_unmapped_event_never_delivers_during_a_mapping_change(void **state)
{
    (void)state;
    struct vits_domain_config dcfg;
    vits_domain_config_init(&dcfg, 2);
    dcfg.lpi_id_bits = 24;
    struct fakevm *fv = fv_new_cfg(&dcfg);
    fv_boot(fv);
    fv_map_collection(fv, 0, 1);
    /* device 5: event 0 -> the domain's last INTID, event 1 unmapped */
    assert_int_equal(fv_map_device(fv, 5, 4, 0, 8192, 0), 0);
    fv_mapti(fv, 5, 0, 0xffffff, 0);
    assert_int_equal(fv_error_count(fv), 0);
    struct vits_route *r;
    assert_int_equal(vits_route_create(fv->its, 5, 1, &r), 0);
    assert_int_equal(vits_route_fire(r), 0);
    uint64_t saved = atomic_load(&fv->its->map_seq);
    atomic_store(&fv->its->map_seq, (1ull << 40) - 1);
    assert_int_equal(vits_route_fire(r), 0);
    atomic_store(&fv->its->map_seq, saved);
    assert_false(fv_pending(fv, 0xffffff, NULL));
    assert_int_equal(vits_route_fire(r), 0);
    vits_route_destroy(r);
    fv_free(fv);
}

/*
 * Routes cache the low 40 bits of the mapping sequence count. After 2^39
 * mapping changes the bits come round again: a route cached just before
 * the wrap must not deliver its old LPI at the same count one round
 * later, after that LPI went to another event. The test sets the count
 * just short of the wrap and then one round on (white box).
 */
static void route_cache_does_not_survive_the_sequence_count_wrapping(void **state)
{
    (void)state;
    struct fakevm *fv = booted();
    uint64_t dw[4];
    struct vits_route *r;
    assert_int_equal(vits_route_create(fv->its, 5, 1, &r), 0);
    atomic_store(&fv->its->map_seq, (1ull << 40) - 2);
    assert_int_equal(vits_route_fire(r), 1); /* cached: (2^40 - 2, 8193) */
    assert_int_equal(vits_lpi_ack(fv->d, 1, 8193), 0);
    /* DISCARD event 1 (the count wraps to 2^40), give its LPI to event
     * 2 and map event 1 to a new LPI (neither moves the count) */
    fv_cmd_dev_ev(dw, 0x0f, 5, 1);
    fv_submit(fv, dw);
    fv_cmd_dev_ev(dw, 0x0f, 5, 2);
    fv_submit(fv, dw);
    fv_mapti(fv, 5, 2, 8193, 0);
    fv_mapti(fv, 5, 1, 8600, 0);
    assert_int_equal(fv_error_count(fv), 0);
    /* one round of 2^39 changes later, at the cached count's low bits */
    atomic_store(&fv->its->map_seq, (2ull << 40) - 2);
    fv_clear_events(fv);
    assert_int_equal(vits_route_fire(r), 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 1, 8600), 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 1, 8193), 0);
    vits_route_destroy(r);
    fv_free(fv);
}

static void route_rejects_bad_arguments(void **state)
{
    (void)state;
    struct fakevm *fv = booted();
    struct vits_route *r = (struct vits_route *)fv;
    assert_int_equal(vits_route_create(NULL, 5, 0, &r), -EINVAL);
    assert_null(r);
    assert_int_equal(vits_route_create(fv->its, 5, 0, NULL), -EINVAL);
    assert_int_equal(vits_route_fire(NULL), -EINVAL);
    vits_route_destroy(NULL);
    fv->fail_alloc_after = 0;
    r = (struct vits_route *)fv;
    assert_int_equal(vits_route_create(fv->its, 5, 0, &r), -ENOMEM);
    assert_null(r);
    fv->fail_alloc_after = -1;
    fv_free(fv);
}

/* ---- translation: linear runs and the device hash ---- */

/* One KVM-style MSI to (devid, ev): it must raise want on vcpu (then it is
 * acknowledged), or be blocked and raise nothing when want is 0. */
static void expect_msi(struct fakevm *fv, uint32_t devid, uint32_t ev, uint32_t want, uint32_t vcpu)
{
    struct vits_msi m = msi(DOORBELL, devid, ev);
    fv_clear_events(fv);
    if (!want) {
        assert_int_equal(vits_domain_signal_msi(fv->d, &m), 0);
        assert_int_equal(fv_count_kind(fv, FV_RAISE), 0);
        return;
    }
    assert_int_equal(vits_domain_signal_msi(fv->d, &m), 1);
    assert_int_equal(fv_count_kind(fv, FV_RAISE), 1);
    assert_int_equal(fv_count(fv, FV_RAISE, vcpu, want), 1);
    assert_int_equal(vits_lpi_ack(fv->d, vcpu, want), 0);
}

/* Events mapped to base + event (as Linux maps them) and every change
 * that breaks or extends that pattern: each MSI reaches the LPI the
 * guest's latest mapping names. */
static void linear_mappings_follow_discard_remap_and_movi(void **state)
{
    (void)state;
    struct fakevm *fv = booted(); /* device 5: events 0..7 -> 8192.. */
    uint64_t dw[4];
    for (uint32_t ev = 0; ev < 16; ev++)
        expect_msi(fv, 5, ev, ev < 8 ? 8192 + ev : 0, 1);

    fv_cmd_dev_ev(dw, 0x0f, 5, 3); /* DISCARD event 3 */
    fv_submit(fv, dw);
    for (uint32_t ev = 0; ev < 8; ev++)
        expect_msi(fv, 5, ev, ev == 3 ? 0 : 8192 + ev, 1);

    fv_mapti(fv, 5, 3, 9000, 0); /* the hole refilled off the pattern */
    expect_msi(fv, 5, 3, 9000, 1);
    expect_msi(fv, 5, 4, 8196, 1);
    fv_cmd_dev_ev(dw, 0x0f, 5, 3);
    fv_submit(fv, dw);
    fv_mapti(fv, 5, 3, 8195, 0); /* and back on it */
    expect_msi(fv, 5, 3, 8195, 1);

    fv_mapti(fv, 5, 5, 9005, 0); /* MAPTI over a mapped event */
    expect_msi(fv, 5, 5, 9005, 1);
    assert_false(fv_mapped(fv, 8197));
    expect_msi(fv, 5, 6, 8198, 1);

    fv_mapti(fv, 5, 8, 8200, 0); /* extends the pattern */
    expect_msi(fv, 5, 8, 8200, 1);
    fv_mapti(fv, 5, 0, 8300, 0); /* replaces its first event */
    expect_msi(fv, 5, 0, 8300, 1);
    expect_msi(fv, 5, 1, 8193, 1);

    fv_cmd_movi(dw, 5, 1, 1); /* same INTID, collection 1 on vCPU 2 */
    fv_submit(fv, dw);
    expect_msi(fv, 5, 1, 8193, 2);
    expect_msi(fv, 5, 2, 8194, 1);
    assert_int_equal(fv_error_count(fv), 0);
    fv_free(fv);
}

/* A large ITT (kept in chunks) mapped in reverse order, linear but for a
 * few events; then the device is re-mapped with a smaller ITT. */
static void large_itts_mapped_in_any_order_translate_exactly(void **state)
{
    (void)state;
    struct fakevm *fv = booted();
    assert_int_equal(fv_map_device(fv, 7, 10, 0, 0, 0), 0);
    for (uint32_t ev = 200; ev-- > 0;)
        fv_mapti(fv, 7, ev, ev % 50 == 49 ? 12000 + ev : 10000 + ev, 1);
    for (uint32_t ev = 0; ev < 1024; ev += ev < 210 ? 1 : 97)
        expect_msi(fv, 7, ev, ev >= 200 ? 0 : ev % 50 == 49 ? 12000 + ev : 10000 + ev, 2);
    expect_msi(fv, 7, 1024, 0, 0); /* beyond the ITT */

    uint64_t dw[4];
    fv_cmd_mapd(dw, 7, 3, FV_ITT(7), true); /* 16 events, none mapped */
    fv_submit(fv, dw);
    for (uint32_t ev = 0; ev < 20; ev++)
        expect_msi(fv, 7, ev, 0, 0);
    fv_mapti(fv, 7, 0, 10000, 1);
    expect_msi(fv, 7, 0, 10000, 2);
    expect_msi(fv, 7, 1, 0, 0);
    assert_int_equal(fv_error_count(fv), 0);
    fv_free(fv);
}

/* Many devices come and go, so the device hash grows and moves entries
 * when one leaves: every device keeps its own translations. */
static void devices_keep_their_translations_as_the_hash_changes(void **state)
{
    (void)state;
    struct fakevm *fv = booted();
    enum { NDEV = 96, EVS = 4 };
    bool live[NDEV] = {false};
    uint64_t dw[4];
    for (uint32_t round = 0; round < 3; round++) {
        for (uint32_t i = 0; i < NDEV; i++) {
            uint32_t devid = 100 + i * 37;
            if ((i + round) % 3 == 0 && live[i]) {
                fv_cmd_mapd(dw, devid, 0, 0, false);
                fv_submit(fv, dw);
                live[i] = false;
            } else if (!live[i]) {
                assert_int_equal(fv_map_device(fv, devid, 2, EVS, 16384 + i * 8 + round % 2, 0), 0);
                live[i] = true;
            }
        }
        for (uint32_t i = 0; i < NDEV; i++)
            for (uint32_t ev = 0; ev < EVS; ev++) {
                uint32_t base = 16384 + i * 8;
                bool mapped = live[i] && fv_mapped(fv, base + ev);
                uint32_t want = mapped ? base + ev : live[i] ? base + 1 + ev : 0;
                expect_msi(fv, 100 + i * 37, ev, want, 1);
            }
    }
    assert_int_equal(fv_error_count(fv), 0);
    fv_free(fv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(kvm_style_msi_delivers_through_the_doorbell),
        cmocka_unit_test(kvm_style_msi_blocked_by_the_guest_returns_0),
        cmocka_unit_test(kvm_style_msi_rejects_malformed_requests),
        cmocka_unit_test(kvm_style_msi_selects_the_its_by_doorbell),
        cmocka_unit_test(translater_write_with_devid_signals),
        cmocka_unit_test(route_fires_like_a_direct_msi),
        cmocka_unit_test(route_follows_every_mapping_change),
        cmocka_unit_test(route_created_before_the_mapping_starts_working_after_it),
        cmocka_unit_test(routes_outlive_their_its_safely_and_hold_the_domain),
        cmocka_unit_test(route_of_an_unmapped_event_never_delivers_during_a_mapping_change),
        cmocka_unit_test(route_cache_does_not_survive_the_sequence_count_wrapping),
        cmocka_unit_test(route_rejects_bad_arguments),
        cmocka_unit_test(linear_mappings_follow_discard_remap_and_movi),
        cmocka_unit_test(large_itts_mapped_in_any_order_translate_exactly),
        cmocka_unit_test(devices_keep_their_translations_as_the_hash_changes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
