/* SPDX-License-Identifier: MIT */
/*
 * KVM's ITS table ABI revision 0 (vits_its_save_tables and
 * vits_its_restore_tables): the tables a save writes, checked bit for bit
 * against the documented layout (flat and two-level device tables, Next
 * distances, order, collections referenced without a MAPC, the pending
 * tables); tables built by hand from that layout restore to the state
 * they describe; stale entries never come back; and every kind of
 * malformed table is refused with its errno and a logged reason, leaving
 * the ITS exactly as it was.
 *
 * The layout, from ../shared/reference/its-architecture.md section 6:
 *   device table entry  [63] Valid [62:49] Next [48:5] ITT_addr[51:8] [4:0] Size
 *   ITT entry           [63:48] Next [47:16] pINTID [15:0] ICID
 *   collection entry    [63] Valid [51:16] RDbase [15:0] ICID
 *   level-1 entry       [63] Valid [51:16] level-2 page (64 KiB)
 */
#include <stdio.h>

#include "migrate_util.h"

static uint64_t dte(uint32_t next, uint64_t itt, uint32_t bits)
{
    return 1ull << 63 | (uint64_t)next << 49 | (itt >> 8) << 5 | (uint64_t)(bits - 1);
}

static uint64_t ite(uint32_t next, uint32_t intid, uint16_t icid)
{
    return (uint64_t)next << 48 | (uint64_t)intid << 16 | icid;
}

static uint64_t cte(uint64_t rdbase, uint16_t icid) { return 1ull << 63 | rdbase << 16 | icid; }

#define ITT_A 0x41000000ull
#define ITT_B 0x41100000ull
#define ITT_C 0x41200000ull
#define L1_TABLE 0x40700000ull
#define L2_PAGE(n) (0x40800000ull + (uint64_t)(n)*0x10000)
#define UNMAPPED 0xffffffffull

static uint64_t dte_at(struct fakevm *fv, uint64_t id)
{
    return fv_read64(fv, FV_DEV_TABLE + 8 * id);
}
static uint64_t ite_at(struct fakevm *fv, uint64_t itt, uint32_t ev)
{
    return fv_read64(fv, itt + 8ull * ev);
}
static uint64_t cte_at(struct fakevm *fv, unsigned k)
{
    return fv_read64(fv, FV_COLL_TABLE + 8 * k);
}

static void put_dte(struct fakevm *fv, uint64_t id, uint64_t v)
{
    fv_write64(fv, FV_DEV_TABLE + 8 * id, v);
}
static void put_ite(struct fakevm *fv, uint64_t itt, uint32_t ev, uint64_t v)
{
    fv_write64(fv, itt + 8ull * ev, v);
}
static void put_cte(struct fakevm *fv, unsigned k, uint64_t v)
{
    fv_write64(fv, FV_COLL_TABLE + 8 * k, v);
}

static void mapd(struct fakevm *fv, uint32_t devid, uint32_t bits, uint64_t itt, bool v)
{
    uint64_t dw[4];
    fv_cmd_mapd(dw, devid, bits - 1, itt, v);
    fv_submit(fv, dw);
}

static void cmd(struct fakevm *fv, uint8_t c, uint32_t devid, uint32_t ev)
{
    uint64_t dw[4];
    fv_cmd_dev_ev(dw, c, devid, ev);
    fv_submit(fv, dw);
}

static struct fakevm *booted(uint32_t nv, const struct vits_its_config *cfg)
{
    struct fakevm *fv = fv_new(nv);
    fv_add_its(fv, cfg);
    fv_boot(fv);
    return fv;
}

/* The priority of the last raise of intid on vcpu (asserts there was one). */
static uint8_t raised_prio(struct fakevm *fv, uint32_t vcpu, uint32_t intid)
{
    for (unsigned i = fv->nr_events; i-- > 0;)
        if (fv->events[i].kind == FV_RAISE && fv->events[i].vcpu == vcpu &&
            fv->events[i].intid == intid)
            return fv->events[i].priority;
    fail_msg("LPI %u was not raised on vCPU %u", intid, vcpu);
    return 0;
}

static bool pend_bit(struct fakevm *fv, uint32_t vcpu, uint32_t intid)
{
    uint8_t b;
    fv_read(fv, FV_PEND_TABLE(vcpu) + intid / 8, &b, 1);
    return (b >> (intid % 8)) & 1;
}

/* ------------------------------------------------------------------ */
/* What a save writes                                                   */
/* ------------------------------------------------------------------ */

static void save_writes_the_documented_layout(void **state)
{
    (void)state;
    struct fakevm *fv = booted(2, NULL);
    fv_mapc(fv, 3, 1, true);
    fv_mapc(fv, 0, 0, true);
    fv_mapc(fv, 5, 1, true);
    fv_mapc(fv, 5, 0, false); /* unmapped again, no LPI: not saved */
    /* devices in an order other than their IDs' */
    mapd(fv, 700, 3, ITT_C, true);
    mapd(fv, 2, 2, ITT_A, true);
    mapd(fv, 40, 1, ITT_B, true);
    fv_mapti(fv, 2, 3, 8195, 3);
    fv_mapti(fv, 2, 0, 8192, 0);
    fv_mapti(fv, 700, 6, 9000, 7); /* ICID 7 never mapped */
    fv_mapti(fv, 700, 1, 9001, 0);
    assert_int_equal(fv_error_count(fv), 0);
    cmd(fv, 0x03, 2, 3); /* INT: pending on vCPU 1 */
    assert_int_equal(vits_its_save_tables(fv->its), 0);

    /* device table: 2 -> 40 -> 700, then nothing valid */
    for (uint64_t id = 0; id < 1024; id++) {
        uint64_t want = id == 2     ? dte(38, ITT_A, 2)
                        : id == 40  ? dte(660, ITT_B, 1)
                        : id == 700 ? dte(0, ITT_C, 3)
                                    : 0;
        if (dte_at(fv, id) != want)
            fail_msg("DTE %llu: 0x%llx, expected 0x%llx", (unsigned long long)id,
                     (unsigned long long)dte_at(fv, id), (unsigned long long)want);
    }
    /* ITTs, whole: events in order, Next the EventID distance */
    assert_int_equal(ite_at(fv, ITT_A, 0), ite(3, 8192, 0));
    assert_int_equal(ite_at(fv, ITT_A, 1), 0);
    assert_int_equal(ite_at(fv, ITT_A, 2), 0);
    assert_int_equal(ite_at(fv, ITT_A, 3), ite(0, 8195, 3));
    assert_int_equal(ite_at(fv, ITT_B, 0), 0); /* a device without events */
    assert_int_equal(ite_at(fv, ITT_B, 1), 0);
    for (uint32_t ev = 0; ev < 8; ev++)
        assert_int_equal(ite_at(fv, ITT_C, ev), ev == 1   ? ite(5, 9001, 0)
                                                : ev == 6 ? ite(0, 9000, 7)
                                                          : 0);
    /* collections by ICID, the never-mapped one with RDbase 0xffffffff,
     * then an entry without Valid */
    assert_int_equal(cte_at(fv, 0), cte(0, 0));
    assert_int_equal(cte_at(fv, 1), cte(1, 3));
    assert_int_equal(cte_at(fv, 2), cte(UNMAPPED, 7));
    assert_int_equal(cte_at(fv, 3), 0);
    /* the pending tables: 8195 on vCPU 1, nothing else */
    assert_true(pend_bit(fv, 1, 8195));
    assert_false(pend_bit(fv, 0, 8195));
    assert_false(pend_bit(fv, 0, 8192));
    fv_free(fv);
}

static void a_distance_beyond_next_is_written_as_its_maximum(void **state)
{
    (void)state;
    struct fakevm *fv = booted(1, NULL);
    /* a flat device table of 4 pages: 32768 entries */
    fv_its_write(fv, MIG_CTLR, 4, 0);
    fv_its_write(fv, MIG_BASER(0), 8, 1ull << 63 | FV_DEV_TABLE | 2ull << 8 | 3);
    fv_its_write(fv, MIG_CTLR, 4, 1);
    fv_mapc(fv, 0, 0, true);
    mapd(fv, 1, 1, ITT_A, true);
    mapd(fv, 30000, 1, ITT_B, true);
    fv_mapti(fv, 1, 0, 8192, 0);
    fv_mapti(fv, 30000, 1, 8193, 0);
    assert_int_equal(vits_its_save_tables(fv->its), 0);
    assert_int_equal(dte_at(fv, 1), dte(0x3fff, ITT_A, 1));
    assert_int_equal(dte_at(fv, 30000), dte(0, ITT_B, 1));
    /* and a restore steps from where the capped Next lands to 30000 */
    struct mig_saved s;
    mig_kvm_save(fv, &s);
    struct fakevm *b = mig_clone(fv, NULL);
    mig_kvm_restore(b, &s);
    assert_true(mig_same_state(fv, b));
    assert_int_equal(vits_its_signal_msi(b->its, 30000, 1), 1);
    assert_int_equal(vits_its_signal_msi(b->its, 1, 0), 1);
    fv_free(fv);
    fv_free(b);
}

/* A two-level device table of 64 KiB pages (8192 entries each): level-1
 * entries 0 and 2 valid. */
static void two_level(struct fakevm *fv)
{
    fv_its_write(fv, MIG_CTLR, 4, 0);
    fv_its_write(fv, MIG_BASER(0), 8, 1ull << 63 | 1ull << 62 | L1_TABLE | 2ull << 8);
    fv_write64(fv, L1_TABLE + 0, 1ull << 63 | L2_PAGE(0));
    fv_write64(fv, L1_TABLE + 16, 1ull << 63 | L2_PAGE(2));
    fv_its_write(fv, MIG_CTLR, 4, 1);
}

static void save_fills_two_level_device_tables(void **state)
{
    (void)state;
    struct vits_its_config cfg;
    vits_its_config_init(&cfg);
    cfg.base = FV_ITS_BASE;
    cfg.device_id_bits = 20;
    struct fakevm *fv = booted(1, &cfg);
    two_level(fv);
    fv_mapc(fv, 0, 0, true);
    mapd(fv, 8000, 1, ITT_A, true);
    mapd(fv, 16384 + 5, 2, ITT_B, true);
    mapd(fv, 16384 + 9000, 1, ITT_C, true); /* in page 3: level-1 entry invalid */
    assert_int_equal(fv_last_error(fv), VITS_E_MAPD_DEVICE_OOR);
    fv_mapti(fv, 8000, 1, 8192, 0);
    fv_mapti(fv, 16389, 3, 8193, 0);
    assert_int_equal(vits_its_save_tables(fv->its), 0);
    /* the Next of 8000 crosses into page 2: the distance in DeviceIDs */
    assert_int_equal(fv_read64(fv, L2_PAGE(0) + 8 * 8000), dte(16389 - 8000, ITT_A, 1));
    assert_int_equal(fv_read64(fv, L2_PAGE(2) + 8 * 5), dte(0, ITT_B, 2));
    assert_int_equal(fv_read64(fv, L2_PAGE(0) + 8 * 7999), 0);
    /* the level-1 entries are the guest's: untouched */
    assert_int_equal(fv_read64(fv, L1_TABLE + 8), 0);
    assert_int_equal(ite_at(fv, ITT_B, 3), ite(0, 8193, 0));
    struct mig_saved s;
    mig_kvm_save(fv, &s);
    struct fakevm *b = mig_clone(fv, &cfg);
    mig_kvm_restore(b, &s);
    assert_true(mig_same_state(fv, b));
    assert_int_equal(vits_its_signal_msi(b->its, 16389, 3), 1);
    fv_free(fv);
    fv_free(b);
}

/* ------------------------------------------------------------------ */
/* Restoring tables built by hand                                       */
/* ------------------------------------------------------------------ */

/* A booted fake VM with its ITS disabled, ready for a restore. */
static struct fakevm *for_restore(uint32_t nv, const struct vits_its_config *cfg)
{
    struct fakevm *fv = booted(nv, cfg);
    fv_its_write(fv, MIG_CTLR, 4, 0);
    fv_clear_events(fv);
    return fv;
}

/* Collections 0 -> vCPU 0, 1 -> vCPU 1, 4 referenced without a MAPC;
 * device 3 (first valid entry not at ID 0) -> device 10; device 3: event
 * 1 -> 8200 (collection 1), event 3 -> 8201 (collection 0); device 10:
 * event 0 -> 8300 (collection 4). */
static void hand_tables(struct fakevm *fv)
{
    put_cte(fv, 0, cte(0, 0));
    put_cte(fv, 1, cte(1, 1));
    put_cte(fv, 2, cte(UNMAPPED, 4));
    put_cte(fv, 3, 0);
    put_dte(fv, 3, dte(7, ITT_A, 2));
    put_dte(fv, 10, dte(0, ITT_B, 1));
    put_ite(fv, ITT_A, 1, ite(2, 8200, 1));
    put_ite(fv, ITT_A, 3, ite(0, 8201, 0));
    put_ite(fv, ITT_B, 0, ite(0, 8300, 4));
}

static void restore_reads_tables_built_from_the_layout(void **state)
{
    (void)state;
    struct fakevm *fv = for_restore(2, NULL);
    hand_tables(fv);
    fv_set_prop(fv, 8200, 0x43); /* priority 0x40, enabled */
    fv_set_prop(fv, 8201, 0xa2); /* disabled */
    uint8_t bit = 1u << (8200 % 8);
    fv_write(fv, FV_PEND_TABLE(1) + 8200 / 8, &bit, 1); /* 8200 pending on vCPU 1 */
    assert_int_equal(vits_its_restore_tables(fv->its), 0);
    /* 8200: pending (from the pending table), raised with its property */
    uint32_t v;
    assert_true(fv_pending(fv, 8200, &v));
    assert_int_equal(v, 1);
    assert_int_equal(raised_prio(fv, 1, 8200), 0x40);
    assert_false(fv_pending(fv, 8201, &v));
    assert_int_equal(v, 0);
    assert_false(fv_pending(fv, 8300, &v));
    assert_int_equal(v, UINT32_MAX); /* collection 4 is not mapped */
    fv_its_write(fv, MIG_CTLR, 4, 1);
    /* the mappings hold: 8201 pends on vCPU 0 but is disabled */
    fv_clear_events(fv);
    assert_int_equal(vits_its_signal_msi(fv->its, 3, 3), 1);
    assert_true(fv_pending(fv, 8201, &v));
    assert_int_equal(fv_count_kind(fv, FV_RAISE), 0);
    assert_int_equal(vits_its_signal_msi(fv->its, 3, 0), 0);  /* no event 0 */
    assert_int_equal(vits_its_signal_msi(fv->its, 10, 0), 0); /* no target yet */
    fv_mapc(fv, 4, 0, true);
    assert_int_equal(vits_its_signal_msi(fv->its, 10, 0), 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 0, 8300), 1);
    fv_free(fv);
}

static void a_restore_saves_back_the_same_tables(void **state)
{
    (void)state;
    struct fakevm *fv = for_restore(2, NULL);
    hand_tables(fv);
    assert_int_equal(vits_its_restore_tables(fv->its), 0);
    static uint8_t dev[8192], coll[64], itta[32], ittb[16];
    fv_read(fv, FV_DEV_TABLE, dev, sizeof(dev));
    fv_read(fv, FV_COLL_TABLE, coll, sizeof(coll));
    fv_read(fv, ITT_A, itta, sizeof(itta));
    fv_read(fv, ITT_B, ittb, sizeof(ittb));
    static uint8_t zero[65536];
    fv_write(fv, FV_DEV_TABLE, zero, sizeof(zero));
    fv_write(fv, FV_COLL_TABLE, zero, sizeof(zero));
    fv_write(fv, ITT_A, zero, 32);
    fv_write(fv, ITT_B, zero, 16);
    assert_int_equal(vits_its_save_tables(fv->its), 0);
    static uint8_t dev2[8192], coll2[64], itta2[32], ittb2[16];
    fv_read(fv, FV_DEV_TABLE, dev2, sizeof(dev2));
    fv_read(fv, FV_COLL_TABLE, coll2, sizeof(coll2));
    fv_read(fv, ITT_A, itta2, sizeof(itta2));
    fv_read(fv, ITT_B, ittb2, sizeof(ittb2));
    assert_memory_equal(dev, dev2, sizeof(dev));
    assert_memory_equal(coll, coll2, sizeof(coll));
    assert_memory_equal(itta, itta2, sizeof(itta));
    assert_memory_equal(ittb, ittb2, sizeof(ittb));
    fv_free(fv);
}

static void collections_in_any_order_and_level2_entries_stepped_over(void **state)
{
    (void)state;
    struct vits_its_config cfg;
    vits_its_config_init(&cfg);
    cfg.base = FV_ITS_BASE;
    cfg.device_id_bits = 20;
    struct fakevm *fv = for_restore(2, &cfg);
    fv_its_write(fv, MIG_BASER(0), 8, 1ull << 63 | 1ull << 62 | L1_TABLE | 2ull << 8);
    fv_write64(fv, L1_TABLE + 8, 1ull << 63 | L2_PAGE(1));
    fv_write64(fv, L1_TABLE + 24, 1ull << 63 | L2_PAGE(3));
    put_cte(fv, 0, cte(1, 9));
    put_cte(fv, 1, cte(0, 2));
    /* the first valid entry is in page 1; its Next (capped) lands in
     * page 2, whose level-1 entry is invalid: the walk goes on in page 3 */
    fv_write64(fv, L2_PAGE(1) + 8 * 100, dte(0x3fff, ITT_A, 1));
    fv_write64(fv, L2_PAGE(3) + 8 * 300, dte(0, ITT_B, 1)); /* past 8292 + 0x3fff */
    put_ite(fv, ITT_A, 1, ite(0, 8400, 9));
    put_ite(fv, ITT_B, 0, ite(0, 8401, 2));
    assert_int_equal(vits_its_restore_tables(fv->its), 0);
    fv_its_write(fv, MIG_CTLR, 4, 1);
    assert_int_equal(vits_its_signal_msi(fv->its, 8192 + 100, 1), 1);
    assert_int_equal(vits_its_signal_msi(fv->its, 3 * 8192 + 300, 0), 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 1, 8400), 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 0, 8401), 1);
    fv_free(fv);
}

/* ------------------------------------------------------------------ */
/* Nothing stale comes back                                             */
/* ------------------------------------------------------------------ */

static void discarded_events_and_unmapped_devices_leave_no_stale_entries(void **state)
{
    (void)state;
    struct fakevm *fv = booted(1, NULL);
    fv_mapc(fv, 0, 0, true);
    mapd(fv, 1, 2, ITT_A, true);
    mapd(fv, 5, 1, ITT_B, true);
    mapd(fv, 9, 1, ITT_C, true);
    for (uint32_t ev = 0; ev < 4; ev++)
        fv_mapti(fv, 1, ev, 8192 + ev, 0);
    fv_mapti(fv, 5, 0, 8200, 0);
    fv_mapti(fv, 9, 1, 8201, 0);
    assert_int_equal(vits_its_save_tables(fv->its), 0);
    /* the guest discards the first event, unmaps the first device and
     * the last one: what KVM once brought back */
    cmd(fv, 0x0f, 1, 0);
    mapd(fv, 1, 2, ITT_A, false);
    mapd(fv, 9, 1, ITT_C, false);
    mapd(fv, 1, 2, ITT_A, true); /* back, same ITT, one event */
    fv_mapti(fv, 1, 2, 8194, 0);
    struct mig_saved s;
    mig_kvm_save(fv, &s);
    assert_int_equal(dte_at(fv, 1), dte(4, ITT_A, 2));
    assert_int_equal(dte_at(fv, 9), 0);
    assert_int_equal(ite_at(fv, ITT_A, 0), 0);
    assert_int_equal(ite_at(fv, ITT_A, 1), 0);
    assert_int_equal(ite_at(fv, ITT_A, 2), ite(0, 8194, 0));
    assert_int_equal(ite_at(fv, ITT_A, 3), 0);
    /* restore, and again, and again: always the same state and tables */
    struct fakevm *cur = fv;
    for (int cycle = 0; cycle < 3; cycle++) {
        struct fakevm *b = mig_clone(cur, NULL);
        mig_kvm_restore(b, &s);
        assert_true(mig_same_state(fv, b));
        assert_int_equal(vits_its_signal_msi(b->its, 1, 0), 0);
        assert_int_equal(vits_its_signal_msi(b->its, 1, 1), 0);
        assert_int_equal(vits_its_signal_msi(b->its, 9, 1), 0);
        assert_int_equal(vits_its_signal_msi(b->its, 1, 2), 1);
        assert_int_equal(vits_lpi_ack(b->d, 0, 8194), 0);
        mig_kvm_save(b, &s);
        if (cur != fv)
            fv_free(cur);
        cur = b;
    }
    fv_free(cur);
    /* with no device left, the entries saved before are cleared too */
    mapd(fv, 1, 2, ITT_A, false);
    mapd(fv, 5, 1, ITT_B, false);
    assert_int_equal(vits_its_save_tables(fv->its), 0);
    assert_int_equal(dte_at(fv, 1), 0);
    assert_int_equal(dte_at(fv, 5), 0);
    fv_free(fv);
}

/* A guest that reboots (ITS reset), programs the same device table again
 * and maps nothing: the next save clears what the save before the reset
 * wrote, so a restore does not bring that device back. */
static void entries_saved_before_a_reset_do_not_come_back(void **state)
{
    (void)state;
    struct fakevm *fv = booted(1, NULL);
    fv_mapc(fv, 0, 0, true);
    mapd(fv, 4, 1, ITT_A, true);
    fv_mapti(fv, 4, 0, 8192, 0);
    assert_int_equal(vits_its_save_tables(fv->its), 0);
    assert_int_equal(dte_at(fv, 4), dte(0, ITT_A, 1));
    uint64_t baser0 = fv_its_read(fv, MIG_BASER(0), 8);
    uint64_t baser1 = fv_its_read(fv, MIG_BASER(1), 8);
    uint64_t cbaser = fv_its_read(fv, 0x80, 8);
    assert_int_equal(vits_its_reset(fv->its), 0);
    assert_int_equal(fv_its_read(fv, MIG_BASER(0), 8) >> 63, 0);
    /* the guest boots again: same tables, no device */
    fv_its_write(fv, MIG_BASER(0), 8, baser0);
    fv_its_write(fv, MIG_BASER(1), 8, baser1);
    fv_its_write(fv, 0x80, 8, cbaser);
    fv_its_write(fv, MIG_CTLR, 4, 1);
    struct mig_saved s;
    mig_kvm_save(fv, &s);
    assert_int_equal(dte_at(fv, 4), 0);
    struct fakevm *b = mig_clone(fv, NULL);
    mig_kvm_restore(b, &s);
    assert_true(mig_same_state(fv, b));
    assert_int_equal(vits_its_signal_msi(b->its, 4, 0), 0);
    assert_false(fv_mapped(b, 8192));
    fv_free(b);
    fv_free(fv);
}

static void a_new_device_table_leaves_the_old_one_alone(void **state)
{
    (void)state;
    struct fakevm *fv = booted(1, NULL);
    fv_mapc(fv, 0, 0, true);
    mapd(fv, 4, 1, ITT_A, true);
    assert_int_equal(vits_its_save_tables(fv->its), 0);
    assert_int_equal(dte_at(fv, 4), dte(0, ITT_A, 1));
    /* the guest moves its device table (the old memory is its own again) */
    fv_its_write(fv, MIG_CTLR, 4, 0);
    fv_its_write(fv, MIG_BASER(0), 8, 1ull << 63 | 0x42000000ull | 2ull << 8);
    fv_its_write(fv, MIG_CTLR, 4, 1);
    mapd(fv, 4, 1, ITT_A, false);
    fv_write64(fv, FV_DEV_TABLE + 8 * 4, 0x1234); /* reused by the guest */
    assert_int_equal(vits_its_save_tables(fv->its), 0);
    assert_int_equal(dte_at(fv, 4), 0x1234);
    fv_free(fv);
}

/* ------------------------------------------------------------------ */
/* What a save refuses                                                  */
/* ------------------------------------------------------------------ */

static void save_refuses_a_state_the_tables_cannot_hold(void **state)
{
    (void)state;
    static uint8_t before[65536], after[65536];
    /* a device beyond a device table the guest shrank */
    struct fakevm *fv = booted(1, NULL);
    fv_mapc(fv, 0, 0, true);
    mapd(fv, 600, 1, ITT_A, true);
    fv_its_write(fv, MIG_CTLR, 4, 0);
    fv_its_write(fv, MIG_BASER(0), 8, 1ull << 63 | FV_DEV_TABLE); /* 4 KiB: 512 entries */
    fv_read(fv, FV_DEV_TABLE, before, sizeof(before));
    assert_int_equal(vits_its_save_tables(fv->its), -ERANGE);
    assert_non_null(strstr(fv->last_log, "beyond the device table"));
    fv_read(fv, FV_DEV_TABLE, after, sizeof(after));
    assert_memory_equal(before, after, sizeof(before));
    fv_free(fv);

    /* more collections than the collection table has entries */
    fv = booted(1, NULL);
    fv_its_write(fv, MIG_CTLR, 4, 0);
    fv_its_write(fv, MIG_BASER(1), 8, 1ull << 63 | FV_COLL_TABLE | 1); /* 2 x 4 KiB */
    fv_its_write(fv, MIG_CTLR, 4, 1);
    for (uint16_t c = 0; c < 600; c++)
        fv_mapc(fv, c, 0, true);
    assert_int_equal(fv_error_count(fv), 0);
    fv_its_write(fv, MIG_CTLR, 4, 0);
    fv_its_write(fv, MIG_BASER(1), 8, 1ull << 63 | FV_COLL_TABLE); /* 512 entries */
    assert_int_equal(vits_its_save_tables(fv->its), -ERANGE);
    assert_non_null(strstr(fv->last_log, "do not fit the collection table"));
    assert_int_equal(cte_at(fv, 0), 0);
    fv_free(fv);

    /* two devices sharing an ITT */
    fv = booted(1, NULL);
    mapd(fv, 1, 2, ITT_A, true);
    mapd(fv, 2, 1, ITT_A + 16, true);
    assert_int_equal(vits_its_save_tables(fv->its), -ERANGE);
    assert_non_null(strstr(fv->last_log, "overlap"));
    assert_int_equal(dte_at(fv, 1), 0);
    fv_free(fv);

    /* an ABI revision vits does not speak */
    struct vits_its_config cfg;
    vits_its_config_init(&cfg);
    cfg.base = FV_ITS_BASE;
    cfg.iidr_revision = 3;
    fv = booted(1, &cfg);
    assert_int_equal(vits_its_save_tables(fv->its), -EOPNOTSUPP);
    fv_its_write(fv, MIG_CTLR, 4, 0);
    assert_int_equal(vits_its_restore_tables(fv->its), -EOPNOTSUPP);
    assert_int_equal(vits_its_reg_set(fv->its, MIG_IIDR, 0x43b), 0);
    assert_int_equal(vits_its_save_tables(fv->its), 0);
    assert_int_equal(vits_its_restore_tables(fv->its), 0);
    fv_free(fv);
}

/* ------------------------------------------------------------------ */
/* Malformed tables                                                     */
/* ------------------------------------------------------------------ */

/* An ITS with a state of its own (device 0x77, two events, one raised):
 * what a refused restore must leave alone. */
static void own_state(struct fakevm *fv)
{
    fv_mapc(fv, 0, 0, true);
    mapd(fv, 0x77, 1, ITT_C, true);
    fv_mapti(fv, 0x77, 0, 9500, 0);
    fv_mapti(fv, 0x77, 1, 9501, 0);
    assert_int_equal(vits_its_signal_msi(fv->its, 0x77, 1), 1);
    fv_its_write(fv, MIG_CTLR, 4, 0);
    /* the tables are then written by the test, over the saved ones */
    static uint8_t zero[65536];
    fv_write(fv, FV_DEV_TABLE, zero, sizeof(zero));
    fv_write(fv, FV_COLL_TABLE, zero, sizeof(zero));
    fv_write(fv, ITT_C, zero, 16);
}

/* Collections 0 -> vCPU 0, 1 -> vCPU 1; device 2, events 0 and 1. */
static void good_tables(struct fakevm *fv)
{
    put_cte(fv, 0, cte(0, 0));
    put_cte(fv, 1, cte(1, 1));
    put_dte(fv, 2, dte(0, ITT_A, 2));
    put_ite(fv, ITT_A, 0, ite(1, 8200, 0));
    put_ite(fv, ITT_A, 1, ite(0, 8201, 1));
}

static void m_dte_next_past_the_table(struct fakevm *fv)
{
    put_dte(fv, 2, dte(1, ITT_A, 2));
    put_dte(fv, 3, dte(8190, ITT_B, 1)); /* 3 + 8190 >= 8192 entries */
}
static void m_ite_next_past_the_itt(struct fakevm *fv) { put_ite(fv, ITT_A, 1, ite(3, 8201, 1)); }
static void m_dte_next_to_an_invalid_entry(struct fakevm *fv) { put_dte(fv, 2, dte(6, ITT_A, 2)); }
static void m_ite_next_to_an_invalid_entry(struct fakevm *fv)
{
    put_ite(fv, ITT_A, 0, ite(2, 8200, 0));
}
static void m_itt_outside_guest_memory(struct fakevm *fv)
{
    fv_add_hole(fv, 0x7f000000, 0x10000);
    put_dte(fv, 2, dte(0, 0x7f000000, 2));
}
static void m_intid_below_8192(struct fakevm *fv) { put_ite(fv, ITT_A, 1, ite(0, 100, 1)); }
static void m_intid_beyond_the_lpis(struct fakevm *fv) { put_ite(fv, ITT_A, 1, ite(0, 70000, 1)); }
static void m_intid_twice(struct fakevm *fv) { put_ite(fv, ITT_A, 1, ite(0, 8200, 1)); }
static void m_collection_not_in_the_table(struct fakevm *fv)
{
    put_ite(fv, ITT_A, 1, ite(0, 8201, 6));
}
static void m_icid_beyond_collection_bits(struct fakevm *fv) { put_cte(fv, 1, cte(1, 20)); }
static void m_icid_beyond_the_table(struct fakevm *fv) { put_cte(fv, 1, cte(1, 9000)); }
static void m_rdbase_names_no_vcpu(struct fakevm *fv) { put_cte(fv, 1, cte(2, 1)); }
static void m_collection_twice(struct fakevm *fv) { put_cte(fv, 2, cte(0, 1)); }
static void m_device_beyond_devbits(struct fakevm *fv)
{
    put_dte(fv, 2, dte(2000, ITT_A, 2)); /* 1024 DeviceIDs */
    put_dte(fv, 2002, dte(0, ITT_B, 1));
}
static void m_itt_wider_than_eventid_bits(struct fakevm *fv) { put_dte(fv, 2, dte(0, ITT_A, 17)); }
static void m_itts_overlap(struct fakevm *fv)
{
    put_dte(fv, 2, dte(1, ITT_A, 6));
    put_dte(fv, 3, dte(0, ITT_A + 256, 1)); /* over events 32 and 33 of device 2 */
}
static void m_level2_page_twice(struct fakevm *fv)
{
    fv_its_write(fv, MIG_BASER(0), 8, 1ull << 63 | 1ull << 62 | L1_TABLE | 2ull << 8);
    fv_write64(fv, L1_TABLE, 1ull << 63 | L2_PAGE(0));
    fv_write64(fv, L1_TABLE + 8, 1ull << 63 | L2_PAGE(0));
    /* its Next leads to the same entry through level-1 entry 1: a loop */
    fv_write64(fv, L2_PAGE(0) + 8 * 2, dte(8192, ITT_A, 2));
}
static void m_too_many_devices(struct fakevm *fv)
{
    put_dte(fv, 2, dte(1, ITT_A, 2));
    put_dte(fv, 3, dte(1, ITT_B, 1));
    put_dte(fv, 4, dte(0, ITT_B + 0x100, 1));
}
static void m_pending_table_unreadable(struct fakevm *fv)
{
    fv_add_hole(fv, FV_PEND_TABLE(1), 0x10000);
}
static void m_nothing(struct fakevm *fv) { (void)fv; }

struct bad {
    const char *name;
    void (*mutate)(struct fakevm *fv);
    int err;
    const char *log; /* in the last log line */
    uint32_t devbits, cidbits, max_devices;
};

static const struct bad bads[] = {
    {.name = "Next past the device table",
     .mutate = m_dte_next_past_the_table,
     .err = -EINVAL,
     .log = "runs past the end"},
    {.name = "Next past the ITT",
     .mutate = m_ite_next_past_the_itt,
     .err = -EINVAL,
     .log = "runs past the end"},
    {.name = "DTE Next to an invalid entry",
     .mutate = m_dte_next_to_an_invalid_entry,
     .err = -EINVAL,
     .log = "is not valid"},
    {.name = "ITE Next to an invalid entry",
     .mutate = m_ite_next_to_an_invalid_entry,
     .err = -EINVAL,
     .log = "is not valid"},
    {.name = "ITT outside guest memory",
     .mutate = m_itt_outside_guest_memory,
     .err = -EFAULT,
     .log = "unreadable"},
    {.name = "pINTID below 8192",
     .mutate = m_intid_below_8192,
     .err = -EINVAL,
     .log = "is not an LPI"},
    {.name = "pINTID beyond the LPIs",
     .mutate = m_intid_beyond_the_lpis,
     .err = -EINVAL,
     .log = "is not an LPI"},
    {.name = "pINTID twice",
     .mutate = m_intid_twice,
     .err = -EINVAL,
     .log = "mapped by another event"},
    {.name = "collection not in the table",
     .mutate = m_collection_not_in_the_table,
     .err = -EINVAL,
     .log = "not in the collection table"},
    {.name = "ICID beyond the collection ID bits",
     .mutate = m_icid_beyond_collection_bits,
     .err = -EINVAL,
     .log = "collection ID bits",
     .cidbits = 4},
    {.name = "ICID beyond the collection table",
     .mutate = m_icid_beyond_the_table,
     .err = -EINVAL,
     .log = "beyond the collection table"},
    {.name = "RDbase names no vCPU",
     .mutate = m_rdbase_names_no_vcpu,
     .err = -EINVAL,
     .log = "names no vCPU"},
    {.name = "collection twice", .mutate = m_collection_twice, .err = -EINVAL, .log = "twice"},
    {.name = "device beyond the DeviceID bits",
     .mutate = m_device_beyond_devbits,
     .err = -EINVAL,
     .log = "ID range",
     .devbits = 10},
    {.name = "ITT wider than the EventID bits",
     .mutate = m_itt_wider_than_eventid_bits,
     .err = -EINVAL,
     .log = "event bits"},
    {.name = "ITTs that overlap", .mutate = m_itts_overlap, .err = -EINVAL, .log = "overlap"},
    {.name = "level-2 page twice",
     .mutate = m_level2_page_twice,
     .err = -ELOOP,
     .log = "loop",
     .devbits = 20},
    {.name = "more devices than the limit",
     .mutate = m_too_many_devices,
     .err = -ENOSPC,
     .log = "limit",
     .max_devices = 2},
    {.name = "pending table unreadable",
     .mutate = m_pending_table_unreadable,
     .err = -EFAULT,
     .log = "pending table"},
};

static struct fakevm *bad_vm(const struct bad *b)
{
    struct vits_its_config cfg;
    vits_its_config_init(&cfg);
    cfg.base = FV_ITS_BASE;
    if (b->devbits)
        cfg.device_id_bits = b->devbits;
    if (b->cidbits)
        cfg.collection_id_bits = b->cidbits;
    if (b->max_devices)
        cfg.max_devices = b->max_devices;
    struct fakevm *fv = booted(2, &cfg);
    own_state(fv);
    good_tables(fv);
    return fv;
}

static void each_malformed_table_is_refused_and_changes_nothing(void **state)
{
    (void)state;
    /* the good tables restore: the cases below differ from them in one thing */
    struct fakevm *fv = bad_vm(&(struct bad){.name = "good", .mutate = m_nothing});
    assert_int_equal(vits_its_restore_tables(fv->its), 0);
    assert_int_equal(vits_its_signal_msi(fv->its, 2, 1), 0); /* disabled ITS */
    fv_its_write(fv, MIG_CTLR, 4, 1);
    assert_int_equal(vits_its_signal_msi(fv->its, 2, 1), 1);
    assert_int_equal(vits_its_signal_msi(fv->its, 0x77, 0), 0);
    fv_free(fv);
    for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
        const struct bad *b = &bads[i];
        fv = bad_vm(b);
        b->mutate(fv);
        size_t la, lb;
        uint8_t *before = mig_snapshot(fv, &la);
        unsigned errors = fv->log_count[VITS_LOG_ERROR];
        fv_clear_events(fv);
        int rc = vits_its_restore_tables(fv->its);
        if (rc != b->err)
            fail_msg("%s: %d (%s), expected %d", b->name, rc, fv->last_log, b->err);
        if (fv->log_count[VITS_LOG_ERROR] == errors || !strstr(fv->last_log, b->log))
            fail_msg("%s: no \"%s\" logged (last: %s)", b->name, b->log, fv->last_log);
        /* nothing raised or retracted, the same state, the same behaviour */
        assert_int_equal(fv->nr_events, 0);
        uint8_t *after = mig_snapshot(fv, &lb);
        assert_int_equal(la, lb);
        assert_memory_equal(before, after, la);
        fv_its_write(fv, MIG_CTLR, 4, 1);
        assert_int_equal(vits_its_signal_msi(fv->its, 0x77, 0), 1);
        assert_int_equal(vits_its_signal_msi(fv->its, 2, 0), 0);
        free(before);
        free(after);
        fv_free(fv);
    }
}

static void a_pintid_of_another_its_is_refused(void **state)
{
    (void)state;
    struct fakevm *fv = for_restore(2, NULL);
    struct vits_its_config cfg;
    vits_its_config_init(&cfg);
    cfg.base = 0x09000000;
    struct vits_its *other;
    assert_int_equal(vits_its_create(fv->d, &cfg, &other), 0);
    /* the other ITS maps 8201 */
    uint64_t q = 0x43000000, dw[4];
    assert_int_equal(vits_its_mmio_write(other, MIG_BASER(0), 8, 1ull << 63 | 0x43100000), 0);
    assert_int_equal(vits_its_mmio_write(other, MIG_BASER(1), 8, 1ull << 63 | 0x43200000), 0);
    assert_int_equal(vits_its_mmio_write(other, MIG_CBASER, 8, 1ull << 63 | q), 0);
    assert_int_equal(vits_its_mmio_write(other, MIG_CTLR, 4, 1), 0);
    fv_cmd_mapd(dw, 1, 0, 0x43300000, true);
    for (int i = 0; i < 4; i++)
        fv_write64(fv, q + 8 * (uint64_t)i, dw[i]);
    fv_cmd_mapti(dw, 1, 0, 8201, 0);
    for (int i = 0; i < 4; i++)
        fv_write64(fv, q + 32 + 8 * (uint64_t)i, dw[i]);
    assert_int_equal(vits_its_mmio_write(other, MIG_CWRITER, 8, 64), 0);
    assert_true(fv_mapped(fv, 8201));
    good_tables(fv);
    assert_int_equal(vits_its_restore_tables(fv->its), -EINVAL);
    assert_non_null(strstr(fv->last_log, "another ITS"));
    vits_its_destroy(other);
    fv_free(fv);
}

static void restore_needs_a_disabled_its(void **state)
{
    (void)state;
    struct fakevm *fv = booted(1, NULL);
    assert_int_equal(vits_its_restore_tables(fv->its), -EBUSY);
    assert_int_equal(vits_its_restore_tables(NULL), -EINVAL);
    assert_int_equal(vits_its_save_tables(NULL), -EINVAL);
    fv_free(fv);
}

/* Every allocation of a restore failing in turn: -ENOMEM and nothing
 * changed, until there are enough for it to succeed. */
static void restore_out_of_memory_changes_nothing(void **state)
{
    (void)state;
    for (long k = 0;; k++) {
        struct fakevm *fv = bad_vm(&(struct bad){.name = "good", .mutate = m_nothing});
        size_t la, lb;
        uint8_t *before = mig_snapshot(fv, &la);
        fv_clear_events(fv);
        fv->fail_alloc_after = k;
        int rc = vits_its_restore_tables(fv->its);
        fv->fail_alloc_after = -1;
        uint8_t *after = mig_snapshot(fv, &lb);
        if (rc == 0) {
            assert_true(k > 3);
            assert_true(la != lb || memcmp(before, after, la));
            free(before);
            free(after);
            fv_free(fv);
            break;
        }
        assert_int_equal(rc, -ENOMEM);
        assert_int_equal(fv->nr_events, 0);
        assert_int_equal(la, lb);
        assert_memory_equal(before, after, la);
        free(before);
        free(after);
        fv_free(fv);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(save_writes_the_documented_layout),
        cmocka_unit_test(a_distance_beyond_next_is_written_as_its_maximum),
        cmocka_unit_test(save_fills_two_level_device_tables),
        cmocka_unit_test(restore_reads_tables_built_from_the_layout),
        cmocka_unit_test(a_restore_saves_back_the_same_tables),
        cmocka_unit_test(collections_in_any_order_and_level2_entries_stepped_over),
        cmocka_unit_test(discarded_events_and_unmapped_devices_leave_no_stale_entries),
        cmocka_unit_test(entries_saved_before_a_reset_do_not_come_back),
        cmocka_unit_test(a_new_device_table_leaves_the_old_one_alone),
        cmocka_unit_test(save_refuses_a_state_the_tables_cannot_hold),
        cmocka_unit_test(each_malformed_table_is_refused_and_changes_nothing),
        cmocka_unit_test(a_pintid_of_another_its_is_refused),
        cmocka_unit_test(restore_needs_a_disabled_its),
        cmocka_unit_test(restore_out_of_memory_changes_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
