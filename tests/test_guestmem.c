/* SPDX-License-Identifier: MIT */
/*
 * Guest memory as a message transport sees it: how many read_mem and
 * write_mem calls vits makes and how large they are. A long command
 * queue costs one read per contiguous run (split only at the wrap point
 * and at max_batch or the ops' max_access); property bytes are read in
 * lines within a batch; pending tables in blocks; every access honours
 * max_access. Then reads that fail in the middle of a run (a lost
 * message, an unreadable command), under both error policies and with
 * retries: exactly the commands before the failure are applied, CREADR
 * points at the failed command, and nothing is applied twice.
 *
 * The fake VM's ops are wrapped (same opaque pointer) by a recorder that
 * logs every call and fails the ones a test plans to fail.
 */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fakevm.h"

#define GITS_CWRITER 0x88
#define GITS_CREADR 0x90
#define GITS_BASER0 0x100
#define CREADR_STALLED 1ull
#define QSIZE (FV_QUEUE_PAGES * 4096ull)
#define CMD_INT 0x03
#define CMD_INV 0x0c
#define MAX_CALLS 4096u
#define MAX_PLANNED 64u

/* ---- the recorder ---- */

struct call {
    uint64_t gpa;
    size_t len;
    bool write;
    int rc;
};

struct fault_range {
    uint64_t start, end;
    unsigned count; /* 0: forever */
};

struct recorder {
    struct vits_ops ops; /* what the domain was created with */
    size_t limit;        /* the max_access vits must honour (0: none) */
    int (*read)(void *, uint64_t, void *, size_t);
    int (*write)(void *, uint64_t, const void *, size_t);
    bool on;
    unsigned n, reads, writes;
    struct call calls[MAX_CALLS];
    /* plan: read calls (1-based, counted while on) that fail with -EIO */
    unsigned fail_call[MAX_PLANNED], nr_fail_call;
    /* reads overlapping a range fail with -EIO */
    struct fault_range ranges[MAX_PLANNED];
    unsigned nr_ranges;
    /* every read call fails with this probability (percent), seeded */
    unsigned fail_pct;
    uint64_t rng;
};

static struct recorder *R;

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static int planned_failure(uint64_t gpa, size_t len)
{
    for (unsigned i = 0; i < R->nr_fail_call; i++)
        if (R->fail_call[i] == R->reads)
            return -EIO;
    for (unsigned i = 0; i < R->nr_ranges; i++) {
        struct fault_range *f = &R->ranges[i];
        if (gpa < f->end && gpa + len > f->start && f->count != UINT32_MAX) {
            if (f->count && --f->count == 0)
                f->count = UINT32_MAX; /* spent */
            return -EIO;
        }
    }
    if (R->fail_pct && rng_next(&R->rng) % 100 < R->fail_pct)
        return -EIO;
    return 0;
}

static void log_call(uint64_t gpa, size_t len, bool write, int rc)
{
    if (R->n < MAX_CALLS)
        R->calls[R->n] = (struct call){gpa, len, write, rc};
    R->n++;
}

static int rec_read(void *opaque, uint64_t gpa, void *buf, size_t len)
{
    if (R->limit)
        assert_true(len <= R->limit);
    if (!R->on)
        return R->read(opaque, gpa, buf, len);
    R->reads++;
    int rc = planned_failure(gpa, len);
    if (!rc)
        rc = R->read(opaque, gpa, buf, len);
    log_call(gpa, len, false, rc);
    return rc;
}

static int rec_write(void *opaque, uint64_t gpa, const void *buf, size_t len)
{
    if (R->limit)
        assert_true(len <= R->limit);
    int rc = R->write(opaque, gpa, buf, len);
    if (R->on) {
        R->writes++;
        log_call(gpa, len, true, rc);
    }
    return rc;
}

static void rec_reset(void)
{
    R->n = R->reads = R->writes = 0;
    R->nr_fail_call = R->nr_ranges = 0;
    R->fail_pct = 0;
    R->on = true;
}

/* A fake VM of nr_vcpus whose domain's ops (of the given version) are
 * recorded, with max_access and an ITS configured by cfg (NULL:
 * defaults), booted. */
static struct fakevm *vm_rec_ops(uint32_t nr_vcpus, uint32_t version, size_t max_access,
                                 const struct vits_its_config *cfg)
{
    struct fakevm *fv = fv_new(nr_vcpus);
    R = calloc(1, sizeof(*R));
    assert_non_null(R);
    R->ops = fv->ops;
    R->read = fv->ops.read_mem;
    R->write = fv->ops.write_mem;
    R->ops.read_mem = rec_read;
    R->ops.write_mem = rec_write;
    R->ops.max_access = max_access;
    R->ops.version = version;
    R->limit = version >= 2 ? max_access : 0;
    R->rng = 0x9e3779b97f4a7c15ull;
    assert_int_equal(vits_domain_destroy(fv->d), 0);
    struct vits_domain_config dcfg;
    vits_domain_config_init(&dcfg, nr_vcpus);
    dcfg.log_level = VITS_LOG_DEBUG;
    dcfg.log_burst = 1000000;
    assert_int_equal(vits_domain_create(&dcfg, &R->ops, fv, &fv->d), 0);
    fv_add_its(fv, cfg);
    fv_boot(fv);
    return fv;
}

static struct fakevm *vm_rec(uint32_t nr_vcpus, size_t max_access,
                             const struct vits_its_config *cfg)
{
    return vm_rec_ops(nr_vcpus, VITS_OPS_VERSION, max_access, cfg);
}

static void vm_rec_free(struct fakevm *fv)
{
    fv_free(fv);
    free(R);
    R = NULL;
}

static struct vits_its_config its_cfg(enum vits_error_policy policy, uint32_t max_batch)
{
    struct vits_its_config cfg;
    vits_its_config_init(&cfg);
    cfg.base = FV_ITS_BASE;
    cfg.error_policy = policy;
    cfg.max_batch = max_batch;
    return cfg;
}

/* Collection 0 -> vCPU 0, device 1 (ITT of 2^bits) events 0..n-1 ->
 * LPIs 8192.. */
static void map_events(struct fakevm *fv, uint32_t bits, uint32_t n)
{
    bool on = R->on;
    R->on = false;
    fv_map_collection(fv, 0, 0);
    assert_int_equal(fv_map_device(fv, 1, bits, n, 8192, 0), 0);
    fv_clear_events(fv);
    R->on = on;
}

static void queue_dev_ev(struct fakevm *fv, uint8_t cmd, uint32_t devid, uint32_t ev)
{
    uint64_t dw[4];
    fv_cmd_dev_ev(dw, cmd, devid, ev);
    fv_queue(fv, dw);
}

static uint64_t creadr(struct fakevm *fv) { return fv_its_read(fv, GITS_CREADR, 8); }

/* Calls of the recorded range [start, end) (reads unless write). */
static unsigned calls_in(uint64_t start, uint64_t end, bool write)
{
    unsigned n = 0;
    for (unsigned i = 0; i < R->n && i < MAX_CALLS; i++)
        n += R->calls[i].write == write && R->calls[i].gpa >= start && R->calls[i].gpa < end;
    return n;
}

static size_t bytes_in(uint64_t start, uint64_t end, bool write)
{
    size_t n = 0;
    for (unsigned i = 0; i < R->n && i < MAX_CALLS; i++)
        if (R->calls[i].write == write && R->calls[i].gpa >= start && R->calls[i].gpa < end)
            n += R->calls[i].len;
    return n;
}

/* ---- the command queue ---- */

static void queue_long_int_run_costs_one_read_per_run(void **state)
{
    (void)state;
    struct fakevm *fv = vm_rec(2, 0, NULL); /* max_batch 64 */
    map_events(fv, 12, 1000);
    uint64_t first = fv->cwriter;
    for (uint32_t ev = 0; ev < 1000; ev++)
        queue_dev_ev(fv, CMD_INT, 1, ev);
    rec_reset();
    fv_kick(fv);
    assert_int_equal(creadr(fv), fv->cwriter);
    assert_int_equal(fv_count_kind(fv, FV_RAISE), 1000);
    /* 1000 commands = 15 runs of 64 + one of 40, nothing else read */
    assert_int_equal(R->n, 16);
    for (unsigned i = 0; i < 16; i++) {
        assert_false(R->calls[i].write);
        assert_int_equal(R->calls[i].gpa, FV_QUEUE + first + i * 64 * 32);
        assert_int_equal(R->calls[i].len, (i < 15 ? 64 : 40) * 32);
    }
    vm_rec_free(fv);
}

static void queue_runs_split_at_the_wrap_point(void **state)
{
    (void)state;
    struct vits_its_config cfg = its_cfg(VITS_ERRORS_CONTINUE, 1024);
    struct fakevm *fv = vm_rec(2, 0, &cfg);
    map_events(fv, 5, 20);
    uint64_t dw[4];
    fv_cmd_sync(dw, 0);
    R->on = false;
    while (fv->cwriter != QSIZE - 5 * 32)
        fv_queue(fv, dw);
    fv_kick(fv);
    for (uint32_t ev = 0; ev < 12; ev++) /* 5 before the end, 7 after */
        queue_dev_ev(fv, CMD_INT, 1, ev);
    rec_reset();
    fv_kick(fv);
    assert_int_equal(creadr(fv), 7 * 32);
    assert_int_equal(R->n, 2);
    assert_int_equal(R->calls[0].gpa, FV_QUEUE + QSIZE - 5 * 32);
    assert_int_equal(R->calls[0].len, 5 * 32);
    assert_int_equal(R->calls[1].gpa, FV_QUEUE);
    assert_int_equal(R->calls[1].len, 7 * 32);
    assert_int_equal(fv_count_kind(fv, FV_RAISE), 12);
    vm_rec_free(fv);
}

static void queue_runs_respect_max_access(void **state)
{
    (void)state;
    /* 100 bytes: three commands per read, whatever max_batch says */
    struct vits_its_config cfg = its_cfg(VITS_ERRORS_CONTINUE, 1024);
    struct fakevm *fv = vm_rec(2, 100, &cfg);
    map_events(fv, 5, 20);
    uint64_t first = fv->cwriter;
    for (uint32_t ev = 0; ev < 20; ev++)
        queue_dev_ev(fv, CMD_INT, 1, ev);
    rec_reset();
    fv_kick(fv);
    assert_int_equal(fv_count_kind(fv, FV_RAISE), 20);
    assert_int_equal(R->n, 7);
    for (unsigned i = 0; i < 7; i++) {
        assert_int_equal(R->calls[i].gpa, FV_QUEUE + first + i * 96);
        assert_int_equal(R->calls[i].len, i < 6 ? 96 : 64);
    }
    vm_rec_free(fv);
}

static void queue_command_larger_than_max_access_is_read_in_pieces(void **state)
{
    (void)state;
    struct fakevm *fv = vm_rec(2, 12, NULL);
    map_events(fv, 5, 4);
    uint64_t first = fv->cwriter;
    for (uint32_t ev = 0; ev < 4; ev++)
        queue_dev_ev(fv, CMD_INT, 1, ev);
    rec_reset();
    fv_kick(fv);
    assert_int_equal(fv_count_kind(fv, FV_RAISE), 4);
    assert_int_equal(fv_error_count(fv), 0);
    /* each command: 12 + 12 + 8 bytes */
    assert_int_equal(R->n, 12);
    for (unsigned i = 0; i < 12; i++) {
        assert_int_equal(R->calls[i].gpa, FV_QUEUE + first + (i / 3) * 32 + (i % 3) * 12);
        assert_int_equal(R->calls[i].len, i % 3 == 2 ? 8 : 12);
    }
    vm_rec_free(fv);
}

static void ops_version_1_table_has_no_max_access(void **state)
{
    (void)state;
    /* A version 1 embedder's table ends before max_access: vits must not
     * read it. Here it holds garbage (3), and the queue is still read in
     * whole runs. */
    struct fakevm *fv = vm_rec_ops(2, 1, 3, NULL);
    map_events(fv, 5, 10);
    for (uint32_t ev = 0; ev < 10; ev++)
        queue_dev_ev(fv, CMD_INT, 1, ev);
    rec_reset();
    fv_kick(fv);
    assert_int_equal(fv_count_kind(fv, FV_RAISE), 10);
    assert_int_equal(R->n, 1);
    assert_int_equal(R->calls[0].len, 10 * 32);
    /* a version beyond the header's: rejected */
    struct vits_ops later = R->ops;
    later.version = VITS_OPS_VERSION + 1;
    struct vits_domain_config dcfg;
    vits_domain_config_init(&dcfg, 2);
    struct vits_domain *d;
    assert_int_equal(vits_domain_create(&dcfg, &later, fv, &d), -EINVAL);
    vm_rec_free(fv);
}

/* ---- tables ---- */

static void level1_entry_read_respects_max_access(void **state)
{
    (void)state;
    struct fakevm *fv = vm_rec(2, 4, NULL);
    /* a two-level device table: one 4 KiB level-1 page at 0x40700000,
     * entry 0 valid (a level-2 page at 0x40710000) */
    fv_its_write(fv, 0x0, 4, 0);
    fv_its_write(fv, GITS_BASER0, 8, 1ull << 63 | 1ull << 62 | 0x40700000);
    fv_its_write(fv, 0x0, 4, 1);
    fv_write64(fv, 0x40700000, 1ull << 63 | 0x40710000);
    uint64_t dw[4];
    fv_cmd_mapd(dw, 3, 4, FV_ITT(3), true);
    fv_queue(fv, dw);
    rec_reset();
    fv_kick(fv);
    assert_int_equal(fv_error_count(fv), 0);
    assert_int_equal(calls_in(0x40700000, 0x40701000, false), 2); /* 8 bytes in 4s */
    assert_int_equal(bytes_in(0x40700000, 0x40701000, false), 8);
    vm_rec_free(fv);
}

static void properties_of_a_mapti_run_are_read_in_lines(void **state)
{
    (void)state;
    struct vits_its_config cfg = its_cfg(VITS_ERRORS_CONTINUE, 1024);
    struct fakevm *fv = vm_rec(2, 0, &cfg);
    /* distinct priorities, so each LPI must get its own byte */
    for (uint32_t i = 0; i < 600; i++)
        fv_set_prop(fv, 8192 + i, (uint8_t)(((i % 60) << 2) | 1));
    R->on = false;
    fv_map_collection(fv, 0, 1);
    uint64_t dw[4];
    fv_cmd_mapd(dw, 1, 9, FV_ITT(1), true);
    fv_submit(fv, dw);
    for (uint32_t ev = 0; ev < 600; ev++) {
        fv_cmd_mapti(dw, 1, ev, 8192 + ev, 0);
        fv_queue(fv, dw);
    }
    rec_reset();
    fv_kick(fv);
    assert_int_equal(fv_error_count(fv), 0);
    /* 600 bytes from the start of the table: 3 lines of 256 bytes */
    assert_int_equal(calls_in(FV_PROP_TABLE, FV_PROP_TABLE + 0x10000, false), 3);
    assert_int_equal(bytes_in(FV_PROP_TABLE, FV_PROP_TABLE + 0x10000, false), 768);
    assert_int_equal(calls_in(FV_QUEUE, FV_QUEUE + QSIZE, false), 1);
    /* and the priorities are each LPI's own */
    R->on = false;
    for (uint32_t ev = 0; ev < 600; ev++)
        queue_dev_ev(fv, CMD_INT, 1, ev);
    fv_kick(fv);
    assert_int_equal(fv->nr_events, 600);
    for (unsigned i = 0; i < fv->nr_events; i++)
        assert_int_equal(fv->events[i].priority, ((fv->events[i].intid - 8192) % 60) << 2);
    vm_rec_free(fv);
}

static void property_lines_respect_max_access(void **state)
{
    (void)state;
    struct vits_its_config cfg = its_cfg(VITS_ERRORS_CONTINUE, 1024);
    struct fakevm *fv = vm_rec(2, 48, &cfg); /* lines of 32 bytes */
    R->on = false;
    fv_map_collection(fv, 0, 0);
    uint64_t dw[4];
    fv_cmd_mapd(dw, 1, 7, FV_ITT(1), true);
    fv_submit(fv, dw);
    for (uint32_t ev = 0; ev < 100; ev++) {
        fv_cmd_mapti(dw, 1, ev, 8192 + ev, 0);
        fv_queue(fv, dw);
    }
    rec_reset();
    fv_kick(fv);
    assert_int_equal(fv_error_count(fv), 0);
    assert_int_equal(calls_in(FV_PROP_TABLE, FV_PROP_TABLE + 0x10000, false), 4);
    assert_int_equal(bytes_in(FV_PROP_TABLE, FV_PROP_TABLE + 0x10000, false), 128);
    vm_rec_free(fv);
}

static void property_line_unreadable_falls_back_to_single_bytes(void **state)
{
    (void)state;
    struct fakevm *fv = vm_rec(2, 0, NULL);
    R->on = false;
    fv_map_collection(fv, 0, 0);
    uint64_t dw[4];
    fv_cmd_mapd(dw, 1, 4, FV_ITT(1), true);
    fv_submit(fv, dw);
    for (uint32_t ev = 0; ev < 16; ev++) {
        fv_cmd_mapti(dw, 1, ev, 8192 + ev, 0);
        fv_queue(fv, dw);
    }
    rec_reset();
    /* the byte of LPI 8197 cannot be read */
    R->ranges[R->nr_ranges++] = (struct fault_range){FV_PROP_TABLE + 5, FV_PROP_TABLE + 6, 0};
    fv_kick(fv);
    assert_int_equal(fv_error_count(fv), 0);
    /* one failed line, then each byte alone */
    assert_int_equal(calls_in(FV_PROP_TABLE, FV_PROP_TABLE + 0x10000, false), 17);
    R->nr_ranges = 0;
    R->on = false;
    for (uint32_t ev = 0; ev < 16; ev++)
        queue_dev_ev(fv, CMD_INT, 1, ev);
    fv_kick(fv);
    /* every LPI enabled but the one whose byte was unreadable */
    assert_int_equal(fv_count_kind(fv, FV_RAISE), 15);
    assert_int_equal(fv_count(fv, FV_RAISE, 0, 8197), 0);
    vm_rec_free(fv);
}

static void property_written_between_batches_is_seen_by_inv(void **state)
{
    (void)state;
    struct fakevm *fv = vm_rec(2, 0, NULL);
    map_events(fv, 4, 4);
    queue_dev_ev(fv, CMD_INT, 1, 2);
    fv_kick(fv);
    assert_int_equal(fv->events[0].priority, 0xa0);
    assert_int_equal(vits_lpi_ack(fv->d, 0, 8194), 0);
    /* a new priority, then INV + INT in the next batch */
    fv_set_prop(fv, 8194, 0x43);
    fv_clear_events(fv);
    queue_dev_ev(fv, CMD_INV, 1, 2);
    queue_dev_ev(fv, CMD_INT, 1, 2);
    fv_kick(fv);
    assert_int_equal(fv_count(fv, FV_RAISE, 0, 8194), 1);
    assert_int_equal(fv->events[fv->nr_events - 1].priority, 0x40);
    vm_rec_free(fv);
}

static void invall_reads_its_collection_properties_in_lines(void **state)
{
    (void)state;
    struct fakevm *fv = vm_rec(2, 0, NULL);
    map_events(fv, 11, 1024);
    uint64_t dw[4];
    fv_cmd_invall(dw, 0);
    fv_queue(fv, dw);
    rec_reset();
    fv_kick(fv);
    assert_int_equal(calls_in(FV_PROP_TABLE, FV_PROP_TABLE + 0x10000, false), 4);
    assert_int_equal(bytes_in(FV_PROP_TABLE, FV_PROP_TABLE + 0x10000, false), 1024);
    vm_rec_free(fv);
}

/* ---- pending tables ---- */

static void pending_sync_reads_blocks_within_max_access(void **state)
{
    (void)state;
    struct fakevm *fv = vm_rec(2, 100, NULL);
    map_events(fv, 11, 1024); /* INTIDs 8192..9215 on vCPU 0 */
    R->on = false;
    fv_map_collection(fv, 1, 1);
    assert_int_equal(fv_map_device(fv, 2, 1, 1, 40000, 1), 0); /* one LPI on vCPU 1 */
    R->on = true;
    for (uint32_t ev = 0; ev < 1024; ev += 100)
        queue_dev_ev(fv, CMD_INT, 1, ev);
    fv_kick(fv);
    rec_reset();
    assert_int_equal(vits_domain_sync_pending(fv->d), 0);
    /* 16 INTID bits: the tables hold 7 KiB from byte 1024, walked in
     * 96-byte blocks (max_access rounded down to whole 64-INTID chunks);
     * only the blocks holding an LPI of the vCPU are read: bytes 1024 to
     * 1151 of table 0 (two blocks), the block of byte 5000 of table 1 */
    assert_int_equal(calls_in(FV_PEND_TABLE(0), FV_PEND_TABLE(0) + 0x10000, false), 2);
    assert_int_equal(bytes_in(FV_PEND_TABLE(0), FV_PEND_TABLE(0) + 0x10000, false), 192);
    assert_int_equal(calls_in(FV_PEND_TABLE(1), FV_PEND_TABLE(1) + 0x10000, false), 1);
    assert_int_equal(calls_in(FV_PEND_TABLE(1) + 4960, FV_PEND_TABLE(1) + 5056, false), 1);
    /* the 11 pending LPIs (8192 + 100k) are in those two blocks */
    assert_int_equal(calls_in(FV_PEND_TABLE(0), FV_PEND_TABLE(0) + 0x10000, true), 2);
    assert_int_equal(R->writes, 2);
    for (uint32_t ev = 0; ev < 1024; ev++) {
        uint8_t b;
        fv_read(fv, FV_PEND_TABLE(0) + (8192 + ev) / 8, &b, 1);
        assert_int_equal((b >> ((8192 + ev) % 8)) & 1, ev % 100 == 0);
    }
    vm_rec_free(fv);
}

/* ---- failures in the middle of a run ---- */

static void failed_run_under_continue_applies_every_readable_command_once(void **state)
{
    (void)state;
    struct vits_its_config cfg = its_cfg(VITS_ERRORS_CONTINUE, 64);
    struct fakevm *fv = vm_rec(2, 0, &cfg);
    map_events(fv, 6, 64);
    uint64_t first = fv->cwriter;
    for (uint32_t ev = 0; ev < 64; ev++)
        queue_dev_ev(fv, CMD_INT, 1, ev);
    rec_reset();
    /* command 40's bytes are unreadable */
    uint64_t bad = FV_QUEUE + first + 40 * 32;
    R->ranges[R->nr_ranges++] = (struct fault_range){bad + 8, bad + 16, 0};
    fv_kick(fv);
    assert_int_equal(creadr(fv), fv->cwriter);
    for (uint32_t ev = 0; ev < 64; ev++)
        assert_int_equal(fv_count(fv, FV_RAISE, 0, 8192 + ev), ev != 40);
    assert_int_equal(fv_error_count(fv), 1);
    struct vits_cmd_error e;
    assert_int_equal(vits_its_last_error(fv->its, &e, NULL), 1);
    assert_int_equal(e.offset, first + 40 * 32);
    assert_int_equal(e.host_errno, -EIO);
    assert_int_equal(e.code, 0);
    /* halving finds it in a few reads, not one per command */
    assert_true(R->n <= 14);
    vm_rec_free(fv);
}

static void failed_run_under_stall_stops_at_it_and_retry_applies_the_rest_once(void **state)
{
    (void)state;
    struct vits_its_config cfg = its_cfg(VITS_ERRORS_STALL, 64);
    struct fakevm *fv = vm_rec(2, 0, &cfg);
    map_events(fv, 6, 64);
    uint64_t first = fv->cwriter;
    for (uint32_t ev = 0; ev < 64; ev++)
        queue_dev_ev(fv, CMD_INT, 1, ev);
    rec_reset();
    uint64_t bad = FV_QUEUE + first + 21 * 32;
    R->ranges[R->nr_ranges++] = (struct fault_range){bad, bad + 32, 0};
    uint64_t cmds = vits_its_commands(fv->its);
    fv_kick(fv);
    assert_int_equal(creadr(fv), (first + 21 * 32) | CREADR_STALLED);
    assert_int_equal(vits_its_commands(fv->its) - cmds, 21);
    for (uint32_t ev = 0; ev < 64; ev++)
        assert_int_equal(fv_count(fv, FV_RAISE, 0, 8192 + ev), ev < 21);
    /* a retry that fails again changes nothing */
    fv_kick_retry(fv);
    assert_int_equal(creadr(fv), (first + 21 * 32) | CREADR_STALLED);
    assert_int_equal(vits_its_commands(fv->its) - cmds, 21);
    assert_int_equal(fv_count_kind(fv, FV_RAISE), 21);
    assert_int_equal(fv_error_count(fv), 2);
    /* once readable, the retry runs the failed command and the rest,
     * each once */
    R->nr_ranges = 0;
    fv_kick_retry(fv);
    assert_int_equal(creadr(fv), fv->cwriter);
    assert_int_equal(vits_its_commands(fv->its) - cmds, 64);
    for (uint32_t ev = 0; ev < 64; ev++)
        assert_int_equal(fv_count(fv, FV_RAISE, 0, 8192 + ev), 1);
    vm_rec_free(fv);
}

static void failed_run_under_stall_without_retry_skips_the_command(void **state)
{
    (void)state;
    struct vits_its_config cfg = its_cfg(VITS_ERRORS_STALL, 64);
    struct fakevm *fv = vm_rec(2, 0, &cfg);
    map_events(fv, 5, 10);
    uint64_t first = fv->cwriter;
    for (uint32_t ev = 0; ev < 10; ev++)
        queue_dev_ev(fv, CMD_INT, 1, ev);
    rec_reset();
    uint64_t bad = FV_QUEUE + first + 3 * 32;
    R->ranges[R->nr_ranges++] = (struct fault_range){bad, bad + 32, 0};
    fv_kick(fv);
    assert_int_equal(creadr(fv), (first + 3 * 32) | CREADR_STALLED);
    fv_kick(fv); /* CWRITER without Retry: skip it */
    assert_int_equal(creadr(fv), fv->cwriter);
    for (uint32_t ev = 0; ev < 10; ev++)
        assert_int_equal(fv_count(fv, FV_RAISE, 0, 8192 + ev), ev != 3);
    vm_rec_free(fv);
}

static void lost_message_costs_two_reads_and_applies_each_command_once(void **state)
{
    (void)state;
    for (int stall = 0; stall < 2; stall++) {
        struct vits_its_config cfg = its_cfg(stall ? VITS_ERRORS_STALL : VITS_ERRORS_CONTINUE, 64);
        struct fakevm *fv = vm_rec(2, 0, &cfg);
        map_events(fv, 6, 64);
        uint64_t first = fv->cwriter;
        for (uint32_t ev = 0; ev < 64; ev++)
            queue_dev_ev(fv, CMD_INT, 1, ev);
        rec_reset();
        R->fail_call[R->nr_fail_call++] = 1; /* the run's read is lost once */
        fv_kick(fv);
        assert_int_equal(creadr(fv), fv->cwriter);
        assert_int_equal(fv_error_count(fv), 0);
        for (uint32_t ev = 0; ev < 64; ev++)
            assert_int_equal(fv_count(fv, FV_RAISE, 0, 8192 + ev), 1);
        assert_int_equal(R->n, 3);
        assert_int_equal(R->calls[1].gpa, FV_QUEUE + first);
        assert_int_equal(R->calls[1].len, 32 * 32);
        assert_int_equal(R->calls[2].gpa, FV_QUEUE + first + 32 * 32);
        assert_int_equal(R->calls[2].len, 32 * 32);
        vm_rec_free(fv);
    }
}

/*
 * Random runs of INTs to distinct events, with persistent unreadable
 * commands and random lost messages, under both policies and with
 * max_access limits: after every CWRITER write, exactly the commands
 * before CREADR were applied, each once; under continue every command is
 * applied or recorded as failed; under stall retries finish the queue
 * once the faults are gone.
 */
static void random_partial_failures_never_apply_a_command_twice(void **state)
{
    (void)state;
    uint64_t seed = 12345;
    for (int trial = 0; trial < 300; trial++) {
        bool stall = trial % 2;
        static const size_t max_access[] = {0, 64, 100, 1024, 12};
        static const uint32_t batch[] = {64, 7, 1, 1024, 64};
        struct vits_its_config cfg =
            its_cfg(stall ? VITS_ERRORS_STALL : VITS_ERRORS_CONTINUE, batch[(trial / 2) % 5]);
        struct fakevm *fv = vm_rec(1, max_access[(trial / 10) % 5], &cfg);
        map_events(fv, 8, 200);
        uint32_t n = 1 + (uint32_t)(rng_next(&seed) % 200);
        uint64_t first = fv->cwriter;
        for (uint32_t ev = 0; ev < n; ev++)
            queue_dev_ev(fv, CMD_INT, 1, ev);
        rec_reset();
        R->rng = seed;
        R->fail_pct = (unsigned)(rng_next(&seed) % 30);
        unsigned nbad = (unsigned)(rng_next(&seed) % 4);
        bool unreadable[200] = {false};
        for (unsigned i = 0; i < nbad; i++) {
            uint32_t c = (uint32_t)(rng_next(&seed) % n);
            uint64_t at = FV_QUEUE + first + c * 32 + rng_next(&seed) % 32;
            unreadable[c] = true;
            R->ranges[R->nr_ranges++] = (struct fault_range){at, at + 1, 0};
        }
        uint64_t errs = fv_error_count(fv);
        fv_kick(fv);
        if (!stall) {
            assert_int_equal(creadr(fv), fv->cwriter);
            unsigned applied = 0;
            for (uint32_t ev = 0; ev < n; ev++) {
                unsigned c = fv_count(fv, FV_RAISE, 0, 8192 + ev);
                assert_true(c <= 1);
                if (unreadable[ev])
                    assert_int_equal(c, 0);
                applied += c;
            }
            assert_int_equal(fv_error_count(fv) - errs, n - applied);
        } else {
            for (int round = 0; round < 1000; round++) {
                uint64_t rd = creadr(fv);
                uint32_t at = (uint32_t)(((rd & ~CREADR_STALLED) - first) / 32);
                if (!(rd & CREADR_STALLED)) {
                    assert_int_equal(rd, fv->cwriter);
                    break;
                }
                for (uint32_t ev = 0; ev < n; ev++)
                    assert_int_equal(fv_count(fv, FV_RAISE, 0, 8192 + ev), ev < at);
                if (round == 20) { /* the faults go away */
                    R->nr_ranges = 0;
                    R->fail_pct = 0;
                }
                fv_kick_retry(fv);
            }
            assert_int_equal(creadr(fv), fv->cwriter);
            for (uint32_t ev = 0; ev < n; ev++)
                assert_int_equal(fv_count(fv, FV_RAISE, 0, 8192 + ev), 1);
        }
        vm_rec_free(fv);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(queue_long_int_run_costs_one_read_per_run),
        cmocka_unit_test(queue_runs_split_at_the_wrap_point),
        cmocka_unit_test(queue_runs_respect_max_access),
        cmocka_unit_test(queue_command_larger_than_max_access_is_read_in_pieces),
        cmocka_unit_test(ops_version_1_table_has_no_max_access),
        cmocka_unit_test(level1_entry_read_respects_max_access),
        cmocka_unit_test(properties_of_a_mapti_run_are_read_in_lines),
        cmocka_unit_test(property_lines_respect_max_access),
        cmocka_unit_test(property_line_unreadable_falls_back_to_single_bytes),
        cmocka_unit_test(property_written_between_batches_is_seen_by_inv),
        cmocka_unit_test(invall_reads_its_collection_properties_in_lines),
        cmocka_unit_test(pending_sync_reads_blocks_within_max_access),
        cmocka_unit_test(failed_run_under_continue_applies_every_readable_command_once),
        cmocka_unit_test(failed_run_under_stall_stops_at_it_and_retry_applies_the_rest_once),
        cmocka_unit_test(failed_run_under_stall_without_retry_skips_the_command),
        cmocka_unit_test(lost_message_costs_two_reads_and_applies_each_command_once),
        cmocka_unit_test(random_partial_failures_never_apply_a_command_twice),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
