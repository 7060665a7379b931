/* SPDX-License-Identifier: MIT */
/*
 * Save and restore round trips of random guest states, through KVM's
 * table ABI and through the snapshot: the restored instance (a fresh
 * domain and ITS, guest RAM copied) holds the same state (its snapshot is
 * the same bytes), raises the same LPIs, saves the same tables again, and
 * then behaves the same under the same MSIs, commands and
 * acknowledgements. And the awkward moments: MSIs pending and raised, an
 * LPI pending but disabled, commands queued behind a disabled ITS.
 */
#include "migrate_util.h"

#define NV 4u

static struct mig_raised *raised_new(void)
{
    struct mig_raised *r = calloc(1, sizeof(*r));
    assert_non_null(r);
    return r;
}

/* Same LPIs raised, on the same vCPUs; same pending state everywhere. */
static void assert_same_lpis(struct fakevm *a, struct mig_raised *ra, struct fakevm *b,
                             struct mig_raised *rb)
{
    mig_fold(a, ra);
    mig_fold(b, rb);
    for (uint32_t i = 8192; i < MIG_LPIS; i++) {
        if (ra->vcpu[i] != rb->vcpu[i])
            fail_msg("LPI %u raised on %d in the original, %d in the copy", i, ra->vcpu[i] - 1,
                     rb->vcpu[i] - 1);
        uint32_t va = 0, vb = 0;
        int sa = vits_lpi_state(a->d, i, &va), sb = vits_lpi_state(b->d, i, &vb);
        if (sa != sb || (sa >= 0 && va != vb))
            fail_msg("LPI %u: state %d on %u in the original, %d on %u in the copy", i, sa, va, sb,
                     vb);
    }
}

/* Zero the guest memory the table ABI writes, so a save must write it
 * all again. */
static void wipe_tables(struct fakevm *fv, const struct mig_state *st)
{
    static uint8_t zero[65536];
    fv_write(fv, FV_DEV_TABLE, zero, sizeof(zero));
    fv_write(fv, FV_COLL_TABLE, zero, sizeof(zero));
    for (uint32_t i = 0; i < st->ndev; i++)
        fv_write(fv, MIG_ITT(i), zero, 8u << st->dev[i].bits);
    for (uint32_t v = 0; v < fv->nr_vcpus; v++)
        fv_write(fv, FV_PEND_TABLE(v), zero, 8192);
}

static void assert_same_mem(struct fakevm *a, struct fakevm *b, uint64_t gpa, size_t len)
{
    static uint8_t x[65536], y[65536];
    assert_true(len <= sizeof(x));
    fv_read(a, gpa, x, len);
    fv_read(b, gpa, y, len);
    assert_memory_equal(x, y, len);
}

static void assert_same_tables(struct fakevm *a, struct fakevm *b, const struct mig_state *st)
{
    assert_same_mem(a, b, FV_DEV_TABLE, 65536);
    assert_same_mem(a, b, FV_COLL_TABLE, 65536);
    for (uint32_t i = 0; i < st->ndev; i++)
        assert_same_mem(a, b, MIG_ITT(i), 8u << st->dev[i].bits);
    for (uint32_t v = 0; v < a->nr_vcpus; v++)
        assert_same_mem(a, b, FV_PEND_TABLE(v), 8192);
}

/* The same random steps on both, checked after each. */
static void same_future(struct fakevm *a, struct mig_raised *ra, struct fakevm *b,
                        struct mig_raised *rb, struct mig_state *st, unsigned steps)
{
    struct mig_state sb = *st;
    uint64_t ea = fv_error_count(a), eb = fv_error_count(b);
    for (unsigned i = 0; i < steps; i++) {
        mig_step(a, st, ra);
        mig_step(b, &sb, rb);
        assert_int_equal(fv_error_count(a) - ea, fv_error_count(b) - eb);
        if (i % 50 == 0 || i + 1 == steps)
            assert_same_lpis(a, ra, b, rb);
    }
    assert_true(mig_same_state(a, b));
}

static void kvm_round_trip(uint64_t seed)
{
    struct fakevm *a = fv_new(NV);
    fv_boot(a);
    struct mig_raised *ra = raised_new(), *rb = raised_new();
    struct mig_state st;
    mig_build(a, &st, ra, seed, 5, 24, 300, true);
    struct mig_saved s;
    mig_kvm_save(a, &s);
    struct fakevm *b = mig_clone(a, NULL);
    mig_kvm_restore(b, &s);
    assert_same_lpis(a, ra, b, rb);
    assert_true(mig_same_state(a, b));
    /* the copy saves the same tables again, from scratch */
    wipe_tables(b, &st);
    struct mig_saved s2;
    mig_kvm_save(b, &s2);
    assert_memory_equal(&s, &s2, sizeof(s));
    assert_same_tables(a, b, &st);
    same_future(a, ra, b, rb, &st, 200);
    free(ra);
    free(rb);
    fv_free(a);
    fv_free(b);
}

static void random_states_survive_the_table_abi(void **state)
{
    (void)state;
    for (uint64_t seed = 1; seed <= 12; seed++)
        kvm_round_trip(seed);
}

static void snapshot_round_trip(uint64_t seed)
{
    struct fakevm *a = fv_new(NV);
    fv_boot(a);
    struct mig_raised *ra = raised_new(), *rb = raised_new();
    struct mig_state st;
    /* everything: MOVALL, unmapped collections with pending LPIs, stale
     * cached properties */
    mig_build(a, &st, ra, seed, 6, 24, 400, false);
    size_t len;
    uint8_t *snap = mig_snapshot(a, &len);
    struct fakevm *b = mig_clone(a, NULL);
    assert_int_equal(vits_domain_restore_snapshot(b->d, snap, len), 0);
    assert_same_lpis(a, ra, b, rb);
    assert_true(mig_same_state(a, b));
    same_future(a, ra, b, rb, &st, 300);
    free(snap);
    free(ra);
    free(rb);
    fv_free(a);
    fv_free(b);
}

static void random_states_survive_the_snapshot(void **state)
{
    (void)state;
    for (uint64_t seed = 100; seed < 112; seed++)
        snapshot_round_trip(seed);
}

/* Several cycles in a row, each into a fresh instance, with the guest
 * busy in between: nothing stale comes back, the state stays the same. */
static void repeated_cycles_are_stable(void **state)
{
    (void)state;
    struct fakevm *ref = fv_new(NV), *cur = fv_new(NV);
    fv_boot(ref);
    fv_boot(cur);
    struct mig_raised *rr = raised_new(), *rc = raised_new();
    struct mig_state sr, sc;
    mig_build(ref, &sr, rr, 7, 4, 20, 200, true);
    mig_build(cur, &sc, rc, 7, 4, 20, 200, true);
    for (int cycle = 0; cycle < 8; cycle++) {
        struct fakevm *next;
        if (cycle % 2 == 0) {
            struct mig_saved s;
            mig_kvm_save(cur, &s);
            next = mig_clone(cur, NULL);
            mig_kvm_restore(next, &s);
        } else {
            size_t len;
            uint8_t *snap = mig_snapshot(cur, &len);
            next = mig_clone(cur, NULL);
            assert_int_equal(vits_domain_restore_snapshot(next->d, snap, len), 0);
            free(snap);
        }
        memset(rc, 0, sizeof(*rc));
        fv_free(cur);
        cur = next;
        /* the reference, never migrated, and the migrated copy agree */
        assert_same_lpis(ref, rr, cur, rc);
        /* the guest unmaps, discards, re-maps between cycles */
        for (int i = 0; i < 60; i++) {
            mig_step(ref, &sr, rr);
            mig_step(cur, &sc, rc);
        }
        assert_same_lpis(ref, rr, cur, rc);
    }
    free(rr);
    free(rc);
    fv_free(ref);
    fv_free(cur);
}

/* Both paths, for a state with MSIs pending (raised, not acknowledged)
 * and an LPI pending while disabled. */
static void pending_and_disabled(bool tables)
{
    struct fakevm *a = fv_new(2);
    fv_boot(a);
    fv_map_collection(a, 0, 0);
    fv_map_collection(a, 1, 1);
    assert_int_equal(fv_map_device(a, 3, 3, 4, 8192, 0), 0);
    fv_mapti(a, 3, 4, 8300, 1);
    fv_mapti(a, 3, 5, 8301, 1);
    /* 8301 disabled: an MSI leaves it pending, not raised */
    uint64_t dw[4];
    fv_set_prop(a, 8301, 0xa2);
    fv_cmd_dev_ev(dw, 0x0c, 3, 5);
    fv_submit(a, dw);
    for (uint32_t ev = 0; ev < 6; ev++)
        assert_int_equal(vits_its_signal_msi(a->its, 3, ev), 1);
    /* one is acknowledged before the migration */
    assert_int_equal(vits_lpi_ack(a->d, 0, 8192), 0);
    struct fakevm *b = fv_new(2);
    fv_add_its(b, NULL);
    if (tables) {
        struct mig_saved s;
        mig_kvm_save(a, &s);
        fv_copy_ram(b, a);
        b->cwriter = a->cwriter;
        mig_kvm_restore(b, &s);
    } else {
        size_t len;
        uint8_t *snap = mig_snapshot(a, &len);
        fv_copy_ram(b, a);
        b->cwriter = a->cwriter;
        assert_int_equal(vits_domain_restore_snapshot(b->d, snap, len), 0);
        free(snap);
    }
    /* the copy raises what was raised and not acknowledged, and only that */
    assert_int_equal(fv_count_kind(b, FV_RAISE), 4);
    assert_int_equal(fv_count(b, FV_RAISE, 0, 8193), 1);
    assert_int_equal(fv_count(b, FV_RAISE, 0, 8194), 1);
    assert_int_equal(fv_count(b, FV_RAISE, 0, 8195), 1);
    assert_int_equal(fv_count(b, FV_RAISE, 1, 8300), 1);
    uint32_t v;
    assert_false(fv_pending(b, 8192, &v));
    assert_true(fv_pending(b, 8301, &v));
    assert_int_equal(v, 1);
    /* the disabled one is presented once the guest enables it */
    fv_clear_events(b);
    fv_set_prop(b, 8301, 0xa3);
    fv_submit(b, dw);
    assert_int_equal(fv_count(b, FV_RAISE, 1, 8301), 1);
    /* and everything can be acknowledged where it was raised */
    assert_int_equal(vits_lpi_ack(b->d, 0, 8193), 0);
    assert_int_equal(vits_lpi_ack(b->d, 1, 8300), 0);
    assert_int_equal(vits_lpi_ack(b->d, 1, 8301), 0);
    assert_false(fv_pending(b, 8301, NULL));
    /* coalescing: an MSI to a raised LPI does not raise it twice */
    fv_clear_events(b);
    assert_int_equal(vits_its_signal_msi(b->its, 3, 2), 1);
    assert_int_equal(fv_count_kind(b, FV_RAISE), 0);
    fv_free(a);
    fv_free(b);
}

static void msis_pending_and_an_lpi_pending_but_disabled_survive_the_table_abi(void **state)
{
    (void)state;
    pending_and_disabled(true);
}

static void msis_pending_and_an_lpi_pending_but_disabled_survive_the_snapshot(void **state)
{
    (void)state;
    pending_and_disabled(false);
}

/* Commands the guest queued while the ITS was disabled (CWRITER ahead of
 * CREADR) wait in the copy as they did in the original, and run when the
 * guest enables it; a stalled queue stays stalled and the guest's CWRITER
 * write resolves it as it would have on the source. */
static void queued_commands_run_after_the_restore(bool tables)
{
    struct fakevm *a = fv_new(2);
    fv_boot(a);
    fv_map_collection(a, 0, 1);
    fv_its_write(a, MIG_CTLR, 4, 0); /* disabled */
    uint64_t dw[4];
    fv_cmd_mapd(dw, 9, 1, FV_ITT(9), true);
    fv_queue(a, dw);
    fv_cmd_mapti(dw, 9, 1, 9000, 0);
    fv_queue(a, dw);
    fv_kick(a);
    assert_int_equal(fv_its_read(a, MIG_CREADR, 8), 0x20); /* nothing ran */
    assert_int_equal(fv_its_read(a, MIG_CWRITER, 8), 0x60);
    struct fakevm *b = fv_new(2);
    fv_add_its(b, NULL);
    if (tables) {
        struct mig_saved s;
        mig_kvm_save(a, &s);
        fv_copy_ram(b, a);
        mig_kvm_restore(b, &s);
    } else {
        size_t len;
        uint8_t *snap = mig_snapshot(a, &len);
        fv_copy_ram(b, a);
        assert_int_equal(vits_domain_restore_snapshot(b->d, snap, len), 0);
        free(snap);
    }
    b->cwriter = a->cwriter;
    /* restored as it was: disabled, the commands waiting */
    assert_int_equal(fv_its_read(b, MIG_CTLR, 4), 1u << 31);
    assert_int_equal(fv_its_read(b, MIG_CREADR, 8), 0x20);
    assert_int_equal(fv_its_read(b, MIG_CWRITER, 8), 0x60);
    fv_its_write(b, MIG_CTLR, 4, 1); /* the guest enables it */
    assert_int_equal(fv_its_read(b, MIG_CREADR, 8), 0x60);
    assert_int_equal(vits_its_signal_msi(b->its, 9, 1), 1);
    assert_int_equal(fv_count(b, FV_RAISE, 1, 9000), 1);
    fv_free(a);
    fv_free(b);
}

static void commands_queued_behind_a_disabled_its_run_after_a_table_restore(void **state)
{
    (void)state;
    queued_commands_run_after_the_restore(true);
}

static void commands_queued_behind_a_disabled_its_run_after_a_snapshot_restore(void **state)
{
    (void)state;
    queued_commands_run_after_the_restore(false);
}

static void a_stalled_queue_stays_stalled_across_both_paths(void **state)
{
    (void)state;
    for (int tables = 0; tables < 2; tables++) {
        struct vits_its_config cfg;
        vits_its_config_init(&cfg);
        cfg.base = FV_ITS_BASE;
        cfg.error_policy = VITS_ERRORS_STALL;
        struct fakevm *a = fv_new(1);
        fv_add_its(a, &cfg);
        fv_boot(a);
        fv_map_collection(a, 0, 0);
        uint64_t dw[4];
        fv_cmd_mapti(dw, 5, 0, 9000, 0); /* device 5 not mapped: stalls */
        fv_queue(a, dw);
        fv_cmd_mapd(dw, 5, 1, FV_ITT(5), true);
        fv_queue(a, dw);
        fv_cmd_mapti(dw, 5, 0, 9000, 0);
        fv_queue(a, dw);
        fv_kick(a);
        uint64_t creadr = fv_its_read(a, MIG_CREADR, 8);
        assert_int_equal(creadr & 1, 1);
        struct fakevm *b = fv_new(1);
        fv_add_its(b, &cfg);
        if (tables) {
            struct mig_saved s;
            mig_kvm_save(a, &s);
            fv_copy_ram(b, a);
            mig_kvm_restore(b, &s);
        } else {
            size_t len;
            uint8_t *snap = mig_snapshot(a, &len);
            fv_copy_ram(b, a);
            assert_int_equal(vits_domain_restore_snapshot(b->d, snap, len), 0);
            free(snap);
        }
        b->cwriter = a->cwriter;
        assert_int_equal(fv_its_read(b, MIG_CREADR, 8), creadr);
        /* the guest skips the failing command: the rest runs */
        fv_kick(b);
        assert_int_equal(fv_its_read(b, MIG_CREADR, 8), b->cwriter);
        assert_int_equal(vits_its_signal_msi(b->its, 5, 0), 1);
        fv_free(a);
        fv_free(b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(random_states_survive_the_table_abi),
        cmocka_unit_test(random_states_survive_the_snapshot),
        cmocka_unit_test(repeated_cycles_are_stable),
        cmocka_unit_test(msis_pending_and_an_lpi_pending_but_disabled_survive_the_table_abi),
        cmocka_unit_test(msis_pending_and_an_lpi_pending_but_disabled_survive_the_snapshot),
        cmocka_unit_test(commands_queued_behind_a_disabled_its_run_after_a_table_restore),
        cmocka_unit_test(commands_queued_behind_a_disabled_its_run_after_a_snapshot_restore),
        cmocka_unit_test(a_stalled_queue_stays_stalled_across_both_paths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
