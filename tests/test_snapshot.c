/* SPDX-License-Identifier: MIT */
/*
 * The self-contained snapshot (vits_domain_save_snapshot and
 * vits_domain_restore_snapshot): the size query, the documented layout
 * byte for byte (little-endian fields, CRC-32 trailer), what it keeps
 * that the table ABI cannot, several ITSes, and refusal without any
 * change of a truncated, corrupted, wrong-version, inconsistent or
 * misfitting snapshot, and of one that meets an allocation failure.
 */
#include <stdio.h>

#include "migrate_util.h"

#define ITT_A 0x41000000ull

static uint64_t le(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < n; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static void put_le(uint8_t *p, uint64_t v, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* CRC-32 (IEEE 802.3), bit by bit: an implementation of its own. */
static uint32_t crc32_ref(const uint8_t *p, size_t n)
{
    uint32_t crc = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1)));
    }
    return ~crc;
}

static void reseal(uint8_t *snap, size_t len)
{
    put_le(snap + len - 4, crc32_ref(snap, len - 4), 4);
}

static void mapd(struct fakevm *fv, uint32_t devid, uint32_t bits, uint64_t itt)
{
    uint64_t dw[4];
    fv_cmd_mapd(dw, devid, bits - 1, itt, true);
    fv_submit(fv, dw);
}

static void cmd(struct fakevm *fv, uint8_t c, uint32_t devid, uint32_t ev)
{
    uint64_t dw[4];
    fv_cmd_dev_ev(dw, c, devid, ev);
    fv_submit(fv, dw);
}

/* 2 vCPUs; collection 0 -> vCPU 1, ICID 3 named but never mapped;
 * device 5 (4 events): event 1 -> 8200 pending and raised, event 2 ->
 * 8201 without a target. */
static struct fakevm *small(void)
{
    struct fakevm *fv = fv_new(2);
    fv_boot(fv);
    fv_mapc(fv, 0, 1, true);
    mapd(fv, 5, 2, ITT_A);
    fv_mapti(fv, 5, 1, 8200, 0);
    fv_mapti(fv, 5, 2, 8201, 3);
    cmd(fv, 0x03, 5, 1);
    assert_int_equal(fv_error_count(fv), 0);
    return fv;
}

static void the_size_is_asked_then_the_snapshot_written(void **state)
{
    (void)state;
    struct fakevm *fv = small();
    size_t len = 0;
    assert_int_equal(vits_domain_save_snapshot(fv->d, NULL, 0, &len), -ENOSPC);
    assert_int_equal(len, 56 + 2 * 24 + 128 + 2 * 4 + 24 + 2 * 16 + 4);
    uint8_t *buf = malloc(len + 8);
    size_t got = 0;
    assert_int_equal(vits_domain_save_snapshot(fv->d, buf, len - 1, &got), -ENOSPC);
    assert_int_equal(got, len);
    assert_int_equal(vits_domain_save_snapshot(fv->d, buf, len + 8, &got), 0);
    assert_int_equal(got, len);
    assert_int_equal(vits_domain_save_snapshot(NULL, buf, len, &got), -EINVAL);
    assert_int_equal(vits_domain_save_snapshot(fv->d, buf, len, NULL), -EINVAL);
    assert_int_equal(vits_domain_save_snapshot(fv->d, NULL, len, &got), -EINVAL);
    assert_int_equal(vits_domain_restore_snapshot(NULL, buf, len), -EINVAL);
    assert_int_equal(vits_domain_restore_snapshot(fv->d, NULL, len), -EINVAL);
    /* a larger buffer than the snapshot is fine: the length field says */
    assert_int_equal(vits_domain_restore_snapshot(fv->d, buf, len + 8), 0);
    free(buf);
    fv_free(fv);
}

static void the_snapshot_has_the_documented_layout(void **state)
{
    (void)state;
    struct fakevm *fv = small();
    size_t len;
    uint8_t *s = mig_snapshot(fv, &len);
    /* header */
    assert_memory_equal(s, "VITSSNAP", 8);
    assert_int_equal(le(s + 8, 4), VITS_SNAPSHOT_VERSION);
    assert_int_equal(le(s + 12, 4), 0);
    assert_int_equal(le(s + 16, 8), len);
    assert_int_equal(le(s + 24, 4), 2);
    assert_int_equal(le(s + 28, 4), 16);
    assert_int_equal(le(s + 32, 8), 0x080a0000);
    assert_int_equal(le(s + 40, 8), 0x20000);
    assert_int_equal(le(s + 48, 4), 1);
    assert_int_equal(le(s + 52, 4), 0);
    /* vCPUs */
    for (unsigned v = 0; v < 2; v++) {
        const uint8_t *r = s + 56 + 24 * v;
        assert_int_equal(le(r, 8), FV_PROP_TABLE | 0xf);
        assert_int_equal(le(r + 8, 8), FV_PEND_TABLE(v)); /* PTZ cleared when enabled */
        assert_int_equal(le(r + 16, 4), 1);
        assert_int_equal(le(r + 20, 4), 0);
    }
    /* the ITS */
    const uint8_t *i = s + 56 + 48;
    assert_int_equal(le(i, 8), FV_ITS_BASE);
    assert_int_equal(i[8], 16);
    assert_int_equal(i[9], 16);
    assert_int_equal(i[10], 16);
    assert_int_equal(i[11], 0);
    assert_int_equal(i[12], 0);
    assert_int_equal(i[13], 1); /* enabled, not stalled */
    assert_int_equal(le(i + 16, 8), fv_its_read(fv, MIG_CBASER, 8));
    assert_int_equal(le(i + 24, 8), fv_its_read(fv, MIG_CWRITER, 8));
    assert_int_equal(le(i + 32, 8), fv_its_read(fv, MIG_CREADR, 8));
    for (unsigned n = 0; n < 8; n++)
        assert_int_equal(le(i + 40 + 8 * n, 8), fv_its_read(fv, MIG_BASER(n), 8));
    assert_int_equal(le(i + 104, 8), 0);
    assert_int_equal(le(i + 112, 4), 2);
    assert_int_equal(le(i + 116, 4), 1);
    assert_int_equal(le(i + 120, 4), 2);
    /* collections */
    const uint8_t *c = i + 128;
    assert_int_equal(le(c, 2), 0);
    assert_int_equal(le(c + 2, 2), 1);
    assert_int_equal(le(c + 4, 2), 3);
    assert_int_equal(le(c + 6, 2), 0xffff);
    /* the device and its events */
    const uint8_t *dv = c + 8;
    assert_int_equal(le(dv, 4), 5);
    assert_int_equal(dv[4], 2);
    assert_int_equal(le(dv + 8, 8), ITT_A);
    assert_int_equal(le(dv + 16, 4), 2);
    const uint8_t *e = dv + 24;
    assert_int_equal(le(e, 4), 1);
    assert_int_equal(le(e + 4, 4), 8200);
    assert_int_equal(le(e + 8, 2), 0);
    assert_int_equal(le(e + 10, 2), 1);
    assert_int_equal(e[12], 0xa0);
    assert_int_equal(e[13], 3); /* enabled, pending */
    e += 16;
    assert_int_equal(le(e, 4), 2);
    assert_int_equal(le(e + 4, 4), 8201);
    assert_int_equal(le(e + 8, 2), 3);
    assert_int_equal(le(e + 10, 2), 0xffff);
    assert_int_equal(e[12], 0xa0);
    assert_int_equal(e[13], 1);
    assert_ptr_equal(e + 16 + 4, s + len);
    assert_int_equal(le(s + len - 4, 4), crc32_ref(s, len - 4));
    free(s);
    fv_free(fv);
}

/* What the table ABI cannot carry, the snapshot does: a cached property
 * the guest changed without INV, the vCPU MOVALL moved an LPI to, the
 * pending state of an LPI whose collection was unmapped. */
static void the_snapshot_keeps_what_the_tables_cannot(void **state)
{
    (void)state;
    struct fakevm *a = fv_new(3);
    fv_boot(a);
    fv_mapc(a, 0, 0, true);
    fv_mapc(a, 1, 1, true);
    mapd(a, 5, 3, ITT_A);
    fv_mapti(a, 5, 0, 8200, 0);
    fv_mapti(a, 5, 1, 8201, 1);
    fv_mapti(a, 5, 2, 8202, 0);
    fv_set_prop(a, 8200, 0x11); /* not INV'd: vits still uses 0xa3 */
    uint64_t dw[4];
    fv_cmd_movall(dw, 0, 2); /* 8200 and 8202 to vCPU 2 */
    fv_submit(a, dw);
    assert_int_equal(vits_its_signal_msi(a->its, 5, 1), 1);
    fv_mapc(a, 1, 0, false); /* 8201 pending, no target */
    size_t len;
    uint8_t *snap = mig_snapshot(a, &len);
    struct fakevm *b = mig_clone(a, NULL);
    assert_int_equal(vits_domain_restore_snapshot(b->d, snap, len), 0);
    assert_true(mig_same_state(a, b));
    uint32_t v;
    assert_true(fv_pending(b, 8201, &v));
    assert_int_equal(v, UINT32_MAX);
    assert_false(fv_pending(b, 8200, &v));
    assert_int_equal(v, 2);
    assert_int_equal(vits_its_signal_msi(b->its, 5, 0), 1);
    assert_int_equal(fv_count(b, FV_RAISE, 2, 8200), 1);
    assert_int_equal(b->events[b->nr_events - 1].priority, 0xa0);
    /* mapping collection 1 again brings 8201 back, pending */
    fv_mapc(b, 1, 1, true);
    assert_int_equal(fv_count(b, FV_RAISE, 1, 8201), 1);
    free(snap);
    fv_free(a);
    fv_free(b);
}

static void a_snapshot_holds_every_its_of_the_domain(void **state)
{
    (void)state;
    struct vits_its_config c2;
    vits_its_config_init(&c2);
    c2.base = 0x09000000;
    c2.device_id_bits = 12;
    c2.collection_id_bits = 8;
    struct fakevm *a = small();
    struct vits_its *a2;
    assert_int_equal(vits_its_create(a->d, &c2, &a2), 0);
    assert_int_equal(vits_its_mmio_write(a2, MIG_BASER(0), 8, 1ull << 63 | 0x43100000), 0);
    assert_int_equal(vits_its_mmio_write(a2, MIG_BASER(1), 8, 1ull << 63 | 0x43200000), 0);
    assert_int_equal(vits_its_mmio_write(a2, MIG_CBASER, 8, 1ull << 63 | 0x43000000), 0);
    assert_int_equal(vits_its_mmio_write(a2, MIG_CTLR, 4, 1), 0);
    uint64_t dw[3][4];
    fv_cmd_mapc(dw[0], 7, 0, true);
    fv_cmd_mapd(dw[1], 0x99, 0, 0x43300000, true);
    fv_cmd_mapti(dw[2], 0x99, 1, 9999, 7);
    for (int k = 0; k < 3; k++)
        for (int w = 0; w < 4; w++)
            fv_write64(a, 0x43000000 + 32 * (uint64_t)k + 8 * (uint64_t)w, dw[k][w]);
    assert_int_equal(vits_its_mmio_write(a2, MIG_CWRITER, 8, 96), 0);
    assert_int_equal(vits_its_signal_msi(a2, 0x99, 1), 1);

    size_t len;
    uint8_t *snap = mig_snapshot(a, &len);
    struct fakevm *b = mig_clone(a, NULL);
    /* the destination needs both ITSes */
    assert_int_equal(vits_domain_restore_snapshot(b->d, snap, len), -EINVAL);
    assert_non_null(strstr(b->last_log, "ITS(es)"));
    struct vits_its *b2;
    c2.device_id_bits = 13; /* and the same geometry */
    assert_int_equal(vits_its_create(b->d, &c2, &b2), 0);
    assert_int_equal(vits_domain_restore_snapshot(b->d, snap, len), -EINVAL);
    assert_non_null(strstr(b->last_log, "DeviceID"));
    vits_its_destroy(b2);
    c2.device_id_bits = 12;
    assert_int_equal(vits_its_create(b->d, &c2, &b2), 0);
    assert_int_equal(vits_domain_restore_snapshot(b->d, snap, len), 0);
    assert_true(mig_same_state(a, b));
    assert_int_equal(fv_count(b, FV_RAISE, 0, 9999), 1);
    assert_int_equal(vits_lpi_ack(b->d, 0, 9999), 0);
    assert_int_equal(vits_its_signal_msi(b2, 0x99, 1), 1);
    free(snap);
    vits_its_destroy(a2);
    vits_its_destroy(b2);
    fv_free(a);
    fv_free(b);
}

/* ------------------------------------------------------------------ */
/* Refusals                                                             */
/* ------------------------------------------------------------------ */

/* The restore of buf must fail with err and change nothing in fv. */
static void refused(struct fakevm *fv, const uint8_t *buf, size_t len, int err, const char *log)
{
    size_t lb, la;
    uint8_t *before = mig_snapshot(fv, &lb);
    fv_clear_events(fv);
    int rc = vits_domain_restore_snapshot(fv->d, buf, len);
    if (rc != err)
        fail_msg("restore of %zu bytes: %d (%s), expected %d", len, rc, fv->last_log, err);
    if (log && !strstr(fv->last_log, log))
        fail_msg("no \"%s\" logged (last: %s)", log, fv->last_log);
    assert_int_equal(fv->nr_events, 0);
    uint8_t *after = mig_snapshot(fv, &la);
    assert_int_equal(la, lb);
    assert_memory_equal(before, after, la);
    free(before);
    free(after);
}

/* A destination with a state of its own. */
static struct fakevm *destination(void)
{
    struct fakevm *fv = fv_new(2);
    fv_boot(fv);
    fv_mapc(fv, 0, 0, true);
    mapd(fv, 0x30, 1, ITT_A + 0x1000);
    fv_mapti(fv, 0x30, 0, 9000, 0);
    assert_int_equal(vits_its_signal_msi(fv->its, 0x30, 0), 1);
    return fv;
}

static void truncated_and_corrupted_snapshots_change_nothing(void **state)
{
    (void)state;
    struct fakevm *src = small(), *dst = destination();
    size_t len;
    uint8_t *snap = mig_snapshot(src, &len);
    for (size_t n = 0; n < len; n++)
        refused(dst, snap, n, -EBADMSG, n < 60 ? NULL : "truncated");
    uint8_t *bad = malloc(len);
    for (size_t i = 0; i < len; i++) { /* a bit of each byte */
        memcpy(bad, snap, len);
        bad[i] ^= (uint8_t)(1u << (i % 8));
        refused(dst, bad, len, -EBADMSG, NULL);
    }
    free(bad);
    free(snap);
    fv_free(src);
    fv_free(dst);
}

static void a_wrong_version_is_refused(void **state)
{
    (void)state;
    struct fakevm *src = small(), *dst = destination();
    size_t len;
    uint8_t *snap = mig_snapshot(src, &len);
    put_le(snap + 8, 2, 4);
    reseal(snap, len);
    refused(dst, snap, len, -EOPNOTSUPP, "version 2");
    put_le(snap + 8, 0, 4);
    reseal(snap, len);
    refused(dst, snap, len, -EOPNOTSUPP, "version 0");
    free(snap);
    fv_free(src);
    fv_free(dst);
}

/* Offsets in small()'s snapshot. */
enum {
    O_VCPU1 = 56 + 24,
    O_ITS = 56 + 48,
    O_COLL = O_ITS + 128,
    O_DEV = O_COLL + 8,
    O_EV0 = O_DEV + 24,
    O_EV1 = O_EV0 + 16,
};

struct edit {
    const char *what;
    size_t off;
    uint64_t val;
    unsigned size;
    int err;
};

static const struct edit edits[] = {
    {"unknown flags", 12, 1, 4, -EBADMSG},
    {"reserved header field", 52, 1, 4, -EBADMSG},
    {"fewer vCPUs", 24, 1, 4, -EINVAL},
    {"other LPI bits", 28, 20, 4, -EINVAL},
    {"other redistributor base", 32, 0x10000000, 8, -EINVAL},
    {"two ITSes", 48, 2, 4, -EINVAL},
    {"PROPBASER bits a redistributor drops", O_VCPU1, 1ull << 63, 8, -EBADMSG},
    {"vCPU flags", O_VCPU1 + 16, 2, 4, -EBADMSG},
    {"another ITS base", O_ITS, 0x09000000, 8, -EINVAL},
    {"other DeviceID bits", O_ITS + 8, 20, 1, -EINVAL},
    {"stalled without the stall policy", O_ITS + 13, 3, 1, -EINVAL},
    {"ITS flags", O_ITS + 13, 5, 1, -EBADMSG},
    {"CREADR beyond the queue", O_ITS + 32, 0x10000, 8, -EBADMSG},
    {"CWRITER not a command offset", O_ITS + 24, 0x24, 8, -EBADMSG},
    {"BASER type changed", O_ITS + 40, 4ull << 56, 8, -EBADMSG},
    {"more events than the devices have", O_ITS + 120, 3, 4, -EBADMSG},
    {"ICID beyond the collection ID bits", O_COLL + 4, 0xffff, 2, -EBADMSG},
    {"collection target beyond the vCPUs", O_COLL + 2, 5, 2, -EBADMSG},
    {"collections out of order", O_COLL, 4, 2, -EBADMSG},
    {"ITT size beyond the EventID bits", O_DEV + 4, 17, 1, -EBADMSG},
    {"ITT address not 256-byte aligned", O_DEV + 8, ITT_A + 8, 8, -EBADMSG},
    {"device reserved field", O_DEV + 20, 1, 4, -EBADMSG},
    {"EventID beyond the ITT", O_EV0, 4, 4, -EBADMSG},
    {"events out of order", O_EV1, 1, 4, -EBADMSG},
    {"pINTID not an LPI", O_EV0 + 4, 8000, 4, -EBADMSG},
    {"pINTID twice", O_EV1 + 4, 8200, 4, -EBADMSG},
    {"ICID of no collection", O_EV0 + 8, 9, 2, -EBADMSG},
    {"target of an unmapped collection", O_EV1 + 10, 0, 2, -EBADMSG},
    {"no target for a mapped collection", O_EV0 + 10, 0xffff, 2, -EBADMSG},
    {"priority with low bits", O_EV0 + 12, 0xa1, 1, -EBADMSG},
    {"event flags", O_EV0 + 13, 4, 1, -EBADMSG},
};

static void inconsistent_or_misfitting_content_is_refused(void **state)
{
    (void)state;
    struct fakevm *src = small(), *dst = destination();
    size_t len;
    uint8_t *snap = mig_snapshot(src, &len);
    uint8_t *bad = malloc(len + 16);
    for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
        memcpy(bad, snap, len);
        put_le(bad + edits[i].off, edits[i].val, edits[i].size);
        reseal(bad, len);
        size_t lb, la;
        uint8_t *before = mig_snapshot(dst, &lb);
        fv_clear_events(dst);
        int rc = vits_domain_restore_snapshot(dst->d, bad, len);
        if (rc != edits[i].err)
            fail_msg("%s: %d (%s), expected %d", edits[i].what, rc, dst->last_log, edits[i].err);
        assert_int_equal(dst->nr_events, 0);
        uint8_t *after = mig_snapshot(dst, &la);
        assert_int_equal(la, lb);
        assert_memory_equal(before, after, la);
        free(before);
        free(after);
    }
    /* bytes after the last record, within the announced length */
    memcpy(bad, snap, len - 4);
    memset(bad + len - 4, 0, 8);
    put_le(bad + 16, len + 4, 8);
    reseal(bad, len + 4);
    refused(dst, bad, len + 4, -EBADMSG, "left after the last record");
    free(bad);
    free(snap);
    fv_free(src);
    fv_free(dst);
}

static void a_state_beyond_the_destinations_limits_is_refused(void **state)
{
    (void)state;
    struct fakevm *src = small();
    size_t len;
    uint8_t *snap = mig_snapshot(src, &len);
    struct vits_its_config cfg;
    vits_its_config_init(&cfg);
    cfg.base = FV_ITS_BASE;
    cfg.max_events = 1;
    struct fakevm *dst = fv_new(2);
    fv_add_its(dst, &cfg);
    refused(dst, snap, len, -ENOSPC, "limit");
    fv_free(dst);
    cfg.max_events = 2;
    cfg.max_collections = 0;
    dst = fv_new(2);
    fv_add_its(dst, &cfg);
    refused(dst, snap, len, -ENOSPC, "limit");
    fv_free(dst);
    free(snap);
    fv_free(src);
}

static void out_of_memory_changes_nothing(void **state)
{
    (void)state;
    struct fakevm *src = small();
    size_t len;
    uint8_t *snap = mig_snapshot(src, &len);
    for (long k = 0;; k++) {
        struct fakevm *dst = destination();
        size_t lb, la;
        uint8_t *before = mig_snapshot(dst, &lb);
        fv_clear_events(dst);
        dst->fail_alloc_after = k;
        int rc = vits_domain_restore_snapshot(dst->d, snap, len);
        dst->fail_alloc_after = -1;
        uint8_t *after = mig_snapshot(dst, &la);
        if (rc == 0) {
            assert_true(k > 3);
            assert_true(mig_same_state(src, dst));
            free(before);
            free(after);
            fv_free(dst);
            break;
        }
        assert_int_equal(rc, -ENOMEM);
        assert_int_equal(dst->nr_events, 0);
        assert_int_equal(la, lb);
        assert_memory_equal(before, after, la);
        free(before);
        free(after);
        fv_free(dst);
    }
    free(snap);
    fv_free(src);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_size_is_asked_then_the_snapshot_written),
        cmocka_unit_test(the_snapshot_has_the_documented_layout),
        cmocka_unit_test(the_snapshot_keeps_what_the_tables_cannot),
        cmocka_unit_test(a_snapshot_holds_every_its_of_the_domain),
        cmocka_unit_test(truncated_and_corrupted_snapshots_change_nothing),
        cmocka_unit_test(a_wrong_version_is_refused),
        cmocka_unit_test(inconsistent_or_misfitting_content_is_refused),
        cmocka_unit_test(a_state_beyond_the_destinations_limits_is_refused),
        cmocka_unit_test(out_of_memory_changes_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
