/* SPDX-License-Identifier: MIT */
/*
 * Hostile and failing inputs, and the error policy: queue wrap-around,
 * bogus CWRITER/CBASER/BASER values, unreadable commands and command
 * errors under VITS_ERRORS_CONTINUE and VITS_ERRORS_STALL (Retry or
 * skip), a disabled ITS, random command words, the configured resource
 * limits, allocation failures, and the guest-error rate limit.
 */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "fakevm.h"

#define GITS_CTLR 0x0
#define GITS_CBASER 0x80
#define GITS_CWRITER 0x88
#define GITS_CREADR 0x90
#define GITS_BASER(n) (0x100 + 8 * (n))
#define CTLR_QUIESCENT (1ull << 31)
#define CREADR_STALLED 1ull
#define BASER_VALID (1ull << 63)
#define BASER_INDIRECT (1ull << 62)
#define QSIZE (FV_QUEUE_PAGES * 4096ull)

#define CMD_INT 0x03
#define CMD_CLEAR 0x04

/* ---- helpers ---- */

static struct vits_its_config its_cfg(enum vits_error_policy policy, uint32_t max_batch)
{
    struct vits_its_config cfg;
    vits_its_config_init(&cfg);
    cfg.base = FV_ITS_BASE;
    cfg.error_policy = policy;
    cfg.max_batch = max_batch;
    return cfg;
}

/* A booted VM of 2 vCPUs with an ITS configured by cfg (NULL: defaults). */
static struct fakevm *vm(const struct vits_its_config *cfg)
{
    struct fakevm *fv = fv_new(2);
    fv_add_its(fv, cfg);
    fv_boot(fv);
    return fv;
}

/* vm() with collection 0 -> vCPU 0 and device 1 events 0..n-1 -> LPIs
 * 8192.. on it. */
static struct fakevm *vm_mapped(const struct vits_its_config *cfg, uint32_t n)
{
    struct fakevm *fv = vm(cfg);
    fv_map_collection(fv, 0, 0);
    assert_int_equal(fv_map_device(fv, 1, 5, n, 8192, 0), 0);
    fv_clear_events(fv);
    return fv;
}

static void queue_dev_ev(struct fakevm *fv, uint8_t cmd, uint32_t devid, uint32_t ev)
{
    uint64_t dw[4];
    fv_cmd_dev_ev(dw, cmd, devid, ev);
    fv_queue(fv, dw);
}

static uint64_t creadr(struct fakevm *fv) { return fv_its_read(fv, GITS_CREADR, 8); }

static struct vits_cmd_error last_error(struct fakevm *fv)
{
    struct vits_cmd_error e;
    assert_int_equal(vits_its_last_error(fv->its, &e, NULL), 1);
    return e;
}

/* Write a register that is frozen while the ITS is enabled. */
static void write_frozen(struct fakevm *fv, uint64_t off, uint64_t val)
{
    fv_its_write(fv, GITS_CTLR, 4, 0);
    fv_its_write(fv, off, 8, val);
    fv_its_write(fv, GITS_CTLR, 4, 1);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- the queue ---- */

static void queue_wraps_around_its_end_and_runs_every_command(void **state)
{
    (void)state;
    struct fakevm *fv = vm_mapped(NULL, 8);
    uint64_t dw[4];
    fv_cmd_sync(dw, 0);
    while (fv->cwriter != QSIZE - 3 * 32)
        fv_queue(fv, dw);
    fv_kick(fv);
    assert_int_equal(creadr(fv), QSIZE - 3 * 32);
    uint64_t cmds = vits_its_commands(fv->its);
    for (uint32_t ev = 0; ev < 6; ev++) /* 3 before the end, 3 after */
        queue_dev_ev(fv, CMD_INT, 1, ev);
    assert_int_equal(fv->cwriter, 3 * 32);
    fv_kick(fv);
    assert_int_equal(creadr(fv), 3 * 32);
    assert_int_equal(vits_its_commands(fv->its) - cmds, 6);
    assert_int_equal(fv_error_count(fv), 0);
    for (uint32_t ev = 0; ev < 6; ev++)
        assert_int_equal(fv_count(fv, FV_RAISE, 0, 8192 + ev), 1);
    assert_int_equal(fv->nr_events, 6);
    fv_free(fv);
}

static void full_queue_of_2047_commands_runs_across_the_wrap(void **state)
{
    (void)state;
    struct fakevm *fv = vm_mapped(NULL, 1);
    uint64_t start = creadr(fv);
    assert_int_equal(start, fv->cwriter);
    uint64_t dw[4];
    fv_cmd_sync(dw, 1);
    for (unsigned i = 0; i < QSIZE / 32 - 1; i++)
        fv_queue(fv, dw);
    assert_int_equal(fv->cwriter, start - 32); /* one slot short of full */
    uint64_t cmds = vits_its_commands(fv->its);
    fv_kick(fv);
    assert_int_equal(vits_its_commands(fv->its) - cmds, QSIZE / 32 - 1);
    assert_int_equal(creadr(fv), start - 32);
    assert_int_equal(fv_error_count(fv), 0);
    fv_free(fv);
}

static void cwriter_beyond_queue_size_is_ignored_and_logged(void **state)
{
    (void)state;
    struct fakevm *fv = vm_mapped(NULL, 1);
    uint64_t before = creadr(fv);
    queue_dev_ev(fv, CMD_INT, 1, 0); /* not kicked */
    unsigned guest = fv->log_count[VITS_LOG_GUEST];
    fv_its_write(fv, GITS_CWRITER, 8, QSIZE);
    fv_its_write(fv, GITS_CWRITER, 8, 0xfffe0);
    assert_int_equal(fv->log_count[VITS_LOG_GUEST] - guest, 2);
    assert_int_equal(fv_its_read(fv, GITS_CWRITER, 8), before);
    assert_int_equal(creadr(fv), before);
    assert_int_equal(fv->nr_events, 0);
    fv_kick(fv);
    assert_int_equal(creadr(fv), before + 32);
    assert_int_equal(fv_count(fv, FV_RAISE, 0, 8192), 1);
    fv_free(fv);
}

/* ---- unreadable commands ---- */

/* Queue INT for events 0..4 with a hole over the third command; returns
 * the offset of the first one. Not kicked. */
static uint64_t queue_five_ints_third_in_hole(struct fakevm *fv)
{
    uint64_t first = fv->cwriter;
    for (uint32_t ev = 0; ev < 5; ev++)
        queue_dev_ev(fv, CMD_INT, 1, ev);
    fv_add_hole(fv, FV_QUEUE + first + 2 * 32, 32);
    return first;
}

static void unreadable_command_under_continue_skips_only_that_command(void **state)
{
    (void)state;
    struct fakevm *fv = vm_mapped(NULL, 5);
    uint64_t first = queue_five_ints_third_in_hole(fv);
    uint64_t cmds = vits_its_commands(fv->its);
    unsigned host = fv->log_count[VITS_LOG_ERROR];
    fv_kick(fv);
    assert_int_equal(creadr(fv), fv->cwriter);
    assert_int_equal(vits_its_commands(fv->its) - cmds, 4);
    assert_int_equal(fv->nr_events, 4);
    assert_int_equal(fv->events[0].intid, 8192);
    assert_int_equal(fv->events[1].intid, 8193);
    assert_int_equal(fv->events[2].intid, 8195);
    assert_int_equal(fv->events[3].intid, 8196);
    assert_false(fv_pending(fv, 8194, NULL));
    struct vits_cmd_error e = last_error(fv);
    assert_int_equal(e.code, 0);
    assert_int_equal(e.host_errno, -EFAULT);
    assert_int_equal(e.offset, first + 64);
    assert_int_equal(e.cmd[0] | e.cmd[1] | e.cmd[2] | e.cmd[3], 0);
    assert_int_equal(fv_error_count(fv), 1);
    assert_int_equal(fv->log_count[VITS_LOG_ERROR] - host, 1);
    fv_free(fv);
}

/* Stalled at the third of five INTs, the first two applied and acked. */
static struct fakevm *stalled_at_unreadable_third(uint64_t *first)
{
    struct vits_its_config cfg = its_cfg(VITS_ERRORS_STALL, 64);
    struct fakevm *fv = vm_mapped(&cfg, 5);
    *first = queue_five_ints_third_in_hole(fv);
    uint64_t cmds = vits_its_commands(fv->its);
    fv_kick(fv);
    assert_int_equal(creadr(fv), (*first + 64) | CREADR_STALLED);
    assert_int_equal(vits_its_commands(fv->its) - cmds, 2);
    assert_int_equal(fv->nr_events, 2);
    assert_int_equal(fv_count(fv, FV_RAISE, 0, 8192), 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 0, 8193), 1);
    struct vits_cmd_error e = last_error(fv);
    assert_int_equal(e.code, 0);
    assert_int_equal(e.host_errno, -EFAULT);
    assert_int_equal(e.offset, *first + 64);
    /* Acked, so that running them again would raise them again. */
    assert_int_equal(vits_lpi_ack(fv->d, 0, 8192), 0);
    assert_int_equal(vits_lpi_ack(fv->d, 0, 8193), 0);
    return fv;
}

static void unreadable_command_under_stall_stops_until_cwriter_is_written(void **state)
{
    (void)state;
    uint64_t first;
    struct fakevm *fv = stalled_at_unreadable_third(&first);
    uint64_t cmds = vits_its_commands(fv->its);
    /* Re-enabling the ITS does not restart a stalled queue, even with
     * the fault gone. */
    fv->nr_holes = 0;
    fv_its_write(fv, GITS_CTLR, 4, 0);
    fv_its_write(fv, GITS_CTLR, 4, 1);
    assert_int_equal(creadr(fv), (first + 64) | CREADR_STALLED);
    assert_int_equal(vits_its_commands(fv->its), cmds);
    assert_int_equal(fv->nr_events, 2);
    assert_int_equal(fv_error_count(fv), 1);
    fv_free(fv);
}

static void unreadable_command_under_stall_is_retried_with_retry(void **state)
{
    (void)state;
    uint64_t first;
    struct fakevm *fv = stalled_at_unreadable_third(&first);
    uint64_t cmds = vits_its_commands(fv->its);
    /* Still unreadable: the retry fails again, at the same place. */
    fv_kick_retry(fv);
    assert_int_equal(creadr(fv), (first + 64) | CREADR_STALLED);
    assert_int_equal(fv_error_count(fv), 2);
    assert_int_equal(vits_its_commands(fv->its), cmds);
    /* Readable again: the third command runs, then the rest; the first
     * two do not run again. */
    fv->nr_holes = 0;
    fv_clear_events(fv);
    fv_kick_retry(fv);
    assert_int_equal(creadr(fv), fv->cwriter);
    assert_int_equal(vits_its_commands(fv->its) - cmds, 3);
    assert_int_equal(fv->nr_events, 3);
    assert_int_equal(fv_count(fv, FV_RAISE, 0, 8194), 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 0, 8195), 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 0, 8196), 1);
    assert_false(fv_pending(fv, 8192, NULL));
    assert_false(fv_pending(fv, 8193, NULL));
    assert_int_equal(fv_error_count(fv), 2);
    fv_free(fv);
}

static void unreadable_command_under_stall_is_skipped_without_retry(void **state)
{
    (void)state;
    uint64_t first;
    struct fakevm *fv = stalled_at_unreadable_third(&first);
    uint64_t cmds = vits_its_commands(fv->its);
    fv->nr_holes = 0;
    fv_clear_events(fv);
    fv_kick(fv);
    assert_int_equal(creadr(fv), fv->cwriter);
    assert_int_equal(vits_its_commands(fv->its) - cmds, 2);
    assert_int_equal(fv->nr_events, 2);
    assert_int_equal(fv_count(fv, FV_RAISE, 0, 8195), 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 0, 8196), 1);
    assert_false(fv_pending(fv, 8194, NULL));
    assert_false(fv_pending(fv, 8192, NULL));
    assert_int_equal(fv_error_count(fv), 1);
    fv_free(fv);
}

static void read_fault_under_continue_skips_each_unreadable_command(void **state)
{
    (void)state;
    struct vits_its_config cfg = its_cfg(VITS_ERRORS_CONTINUE, 1);
    struct fakevm *fv = vm_mapped(&cfg, 5);
    uint64_t first = fv->cwriter;
    for (uint32_t ev = 0; ev < 5; ev++)
        queue_dev_ev(fv, CMD_INT, 1, ev);
    fv->fail_read_after = 2; /* one read per command: the third fails */
    fv_kick(fv);
    fv->fail_read_after = -1;
    assert_int_equal(creadr(fv), fv->cwriter);
    assert_int_equal(fv->nr_events, 2);
    assert_int_equal(fv_count(fv, FV_RAISE, 0, 8192), 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 0, 8193), 1);
    assert_int_equal(fv_error_count(fv), 3);
    struct vits_cmd_error e = last_error(fv);
    assert_int_equal(e.code, 0);
    assert_int_equal(e.host_errno, -EIO);
    assert_int_equal(e.offset, first + 4 * 32);
    fv_free(fv);
}

static void read_fault_under_stall_is_retried_and_nothing_runs_twice(void **state)
{
    (void)state;
    struct vits_its_config cfg = its_cfg(VITS_ERRORS_STALL, 1);
    struct fakevm *fv = vm_mapped(&cfg, 5);
    uint64_t first = fv->cwriter;
    for (uint32_t ev = 0; ev < 5; ev++)
        queue_dev_ev(fv, CMD_INT, 1, ev);
    uint64_t cmds = vits_its_commands(fv->its);
    fv->fail_read_after = 2;
    fv_kick(fv);
    assert_int_equal(creadr(fv), (first + 64) | CREADR_STALLED);
    assert_int_equal(vits_its_commands(fv->its) - cmds, 2);
    assert_int_equal(last_error(fv).host_errno, -EIO);
    assert_int_equal(vits_lpi_ack(fv->d, 0, 8192), 0);
    assert_int_equal(vits_lpi_ack(fv->d, 0, 8193), 0);
    /* The fault persists: the retry fails again. */
    fv_kick_retry(fv);
    assert_int_equal(creadr(fv), (first + 64) | CREADR_STALLED);
    assert_int_equal(fv_error_count(fv), 2);
    fv->fail_read_after = -1;
    fv_clear_events(fv);
    fv_kick_retry(fv);
    assert_int_equal(creadr(fv), fv->cwriter);
    assert_int_equal(vits_its_commands(fv->its) - cmds, 5);
    assert_int_equal(fv->nr_events, 3);
    assert_int_equal(fv_count(fv, FV_RAISE, 0, 8192), 0);
    assert_int_equal(fv_count(fv, FV_RAISE, 0, 8193), 0);
    assert_int_equal(fv_count(fv, FV_RAISE, 0, 8194), 1);
    fv_free(fv);
}

/* ---- command errors and the policy ---- */

static void command_error_under_continue_is_recorded_and_skipped(void **state)
{
    (void)state;
    struct fakevm *fv = vm_mapped(NULL, 2);
    uint64_t first = fv->cwriter;
    queue_dev_ev(fv, CMD_INT, 1, 0);
    queue_dev_ev(fv, CMD_INT, 1, 9); /* in the ITT, not mapped */
    queue_dev_ev(fv, CMD_INT, 1, 1);
    fv_kick(fv);
    assert_int_equal(creadr(fv), fv->cwriter);
    assert_int_equal(fv_count(fv, FV_RAISE, 0, 8192), 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 0, 8193), 1);
    struct vits_cmd_error e = last_error(fv);
    assert_int_equal(e.code, VITS_E_INT_UNMAPPED_INTERRUPT);
    assert_int_equal(e.host_errno, 0);
    assert_int_equal(e.offset, first + 32);
    assert_int_equal(e.cmd[0], CMD_INT | 1ull << 32);
    assert_int_equal(e.cmd[1], 9);
    fv_free(fv);
}

/* STALL: INT ev0 applied, stalled at INT ev9 (unmapped), INT ev1 queued. */
static struct fakevm *stalled_at_command_error(uint64_t *at)
{
    struct vits_its_config cfg = its_cfg(VITS_ERRORS_STALL, 64);
    struct fakevm *fv = vm_mapped(&cfg, 3);
    *at = fv->cwriter + 32;
    queue_dev_ev(fv, CMD_INT, 1, 0);
    queue_dev_ev(fv, CMD_INT, 1, 9);
    queue_dev_ev(fv, CMD_INT, 1, 1);
    fv_kick(fv);
    assert_int_equal(creadr(fv), *at | CREADR_STALLED);
    assert_int_equal(fv_last_error(fv), VITS_E_INT_UNMAPPED_INTERRUPT);
    assert_int_equal(last_error(fv).offset, *at);
    assert_int_equal(fv_error_count(fv), 1);
    assert_int_equal(fv->nr_events, 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 0, 8192), 1);
    return fv;
}

static void command_error_under_stall_is_retried_with_retry(void **state)
{
    (void)state;
    uint64_t at;
    struct fakevm *fv = stalled_at_command_error(&at);
    fv_kick_retry(fv); /* unchanged: fails again */
    assert_int_equal(creadr(fv), at | CREADR_STALLED);
    assert_int_equal(fv_error_count(fv), 2);
    assert_int_equal(fv->nr_events, 1);
    /* The guest fixes the command in place and retries. */
    fv_write64(fv, FV_QUEUE + at + 8, 2);
    fv_kick_retry(fv);
    assert_int_equal(creadr(fv), fv->cwriter);
    assert_int_equal(fv_error_count(fv), 2);
    assert_int_equal(fv_count(fv, FV_RAISE, 0, 8194), 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 0, 8193), 1);
    assert_int_equal(fv->nr_events, 3);
    fv_free(fv);
}

static void command_error_under_stall_is_skipped_without_retry(void **state)
{
    (void)state;
    uint64_t at;
    struct fakevm *fv = stalled_at_command_error(&at);
    fv_kick(fv);
    assert_int_equal(creadr(fv), fv->cwriter);
    assert_int_equal(fv_error_count(fv), 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 0, 8193), 1);
    assert_int_equal(fv->nr_events, 2);
    fv_free(fv);
}

/* ---- a disabled ITS, an invalid CBASER ---- */

static void disabled_its_processes_nothing_until_enabled(void **state)
{
    (void)state;
    struct fakevm *fv = vm_mapped(NULL, 2);
    uint64_t before = creadr(fv);
    fv_its_write(fv, GITS_CTLR, 4, 0);
    assert_int_equal(fv_its_read(fv, GITS_CTLR, 4), CTLR_QUIESCENT);
    queue_dev_ev(fv, CMD_INT, 1, 0);
    fv_kick(fv);
    assert_int_equal(fv_its_read(fv, GITS_CWRITER, 8), fv->cwriter);
    assert_int_equal(creadr(fv), before);
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 1), 0);
    assert_false(fv_pending(fv, 8193, NULL));
    assert_int_equal(fv->nr_events, 0);
    fv_its_write(fv, GITS_CTLR, 4, 1);
    assert_int_equal(creadr(fv), fv->cwriter);
    assert_int_equal(fv_count(fv, FV_RAISE, 0, 8192), 1);
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 1), 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 0, 8193), 1);
    fv_free(fv);
}

static void invalid_cbaser_processes_nothing(void **state)
{
    (void)state;
    struct fakevm *fv = vm_mapped(NULL, 1);
    write_frozen(fv, GITS_CBASER, FV_QUEUE | (FV_QUEUE_PAGES - 1)); /* Valid = 0 */
    assert_int_equal(creadr(fv), 0);
    fv->cwriter = 0;
    uint64_t cmds = vits_its_commands(fv->its);
    queue_dev_ev(fv, CMD_INT, 1, 0);
    fv_kick(fv);
    assert_int_equal(fv_its_read(fv, GITS_CWRITER, 8), 32);
    assert_int_equal(creadr(fv), 0);
    assert_int_equal(vits_its_commands(fv->its), cmds);
    assert_int_equal(fv->nr_events, 0);
    assert_int_equal(fv_error_count(fv), 0);
    fv_free(fv);
}

static void cbaser_in_a_hole_fails_each_command_as_unreadable(void **state)
{
    (void)state;
    const uint64_t q = 0x7000000000ull;
    struct fakevm *fv = vm_mapped(NULL, 3);
    fv_add_hole(fv, q, 0x1000);
    write_frozen(fv, GITS_CBASER, 1ull << 63 | q); /* one 4 KiB page */
    fv->cwriter = 0;
    for (uint32_t ev = 0; ev < 3; ev++)
        queue_dev_ev(fv, CMD_INT, 1, ev);
    fv_kick(fv);
    assert_int_equal(creadr(fv), 96);
    assert_int_equal(fv_error_count(fv), 3);
    struct vits_cmd_error e = last_error(fv);
    assert_int_equal(e.code, 0);
    assert_int_equal(e.host_errno, -EFAULT);
    assert_int_equal(e.offset, 64);
    assert_int_equal(fv->nr_events, 0);
    fv_free(fv);
}

static void cbaser_with_absurd_address_fails_commands_without_crash(void **state)
{
    (void)state;
    /* The highest 1 MiB queue the field can name, running past 2^52;
     * the fake VM reads unbacked memory as zeros: command 0x00. */
    const uint64_t q = ((1ull << 52) - 1) & ~0xfffull;
    struct fakevm *fv = vm_mapped(NULL, 1);
    write_frozen(fv, GITS_CBASER, 1ull << 63 | q | 0xff);
    assert_int_equal(fv_its_read(fv, GITS_CBASER, 8), 1ull << 63 | q | 0xff);
    fv_its_write(fv, GITS_CWRITER, 8, 0x100);
    assert_int_equal(creadr(fv), 0x100);
    assert_int_equal(fv_error_count(fv), 8);
    assert_int_equal(fv_last_error(fv), VITS_E_UNKNOWN_COMMAND(0));
    /* The same with nothing there at all. */
    fv_add_hole(fv, 1ull << 48, (1ull << 53) - (1ull << 48));
    fv_its_write(fv, GITS_CWRITER, 8, 0x200);
    assert_int_equal(creadr(fv), 0x200);
    assert_int_equal(fv_error_count(fv), 16);
    assert_int_equal(last_error(fv).host_errno, -EFAULT);
    assert_int_equal(fv->nr_events, 0);
    fv_free(fv);
}

/* ---- bogus GITS_BASER ---- */

static void invalid_device_baser_fails_mapd_with_device_oor(void **state)
{
    (void)state;
    struct fakevm *fv = vm(NULL);
    fv_map_collection(fv, 0, 0);
    write_frozen(fv, GITS_BASER(0), 0);
    assert_int_equal(fv_its_read(fv, GITS_BASER(0), 8) & BASER_VALID, 0);
    uint64_t dw[4];
    fv_cmd_mapd(dw, 1, 4, FV_ITT(1), true);
    fv_submit(fv, dw);
    assert_int_equal(fv_last_error(fv), VITS_E_MAPD_DEVICE_OOR);
    fv_mapti(fv, 1, 0, 8192, 0);
    assert_int_equal(fv_last_error(fv), VITS_E_MAPTI_UNMAPPED_DEVICE);
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 0), 0);
    assert_int_equal(vits_lpi_state(fv->d, 8192, NULL), -ENOENT);
    fv_free(fv);
}

static void invalid_collection_baser_fails_commands_naming_a_collection(void **state)
{
    (void)state;
    struct fakevm *fv = vm_mapped(NULL, 1);
    assert_int_equal(fv_map_device(fv, 2, 14, 0, 0, 0), 0); /* room for MAPI */
    write_frozen(fv, GITS_BASER(1), 0);
    fv_mapc(fv, 1, 1, true);
    assert_int_equal(fv_last_error(fv), VITS_E_MAPC_COLLECTION_OOR);
    fv_mapti(fv, 1, 1, 8193, 0);
    assert_int_equal(fv_last_error(fv), VITS_E_MAPTI_COLLECTION_OOR);
    uint64_t dw[4];
    fv_cmd_mapi(dw, 2, 8200, 0);
    fv_submit(fv, dw);
    assert_int_equal(fv_last_error(fv), VITS_E_MAPI_COLLECTION_OOR);
    fv_cmd_invall(dw, 0);
    fv_submit(fv, dw);
    assert_int_equal(fv_last_error(fv), VITS_E_INVALL_COLLECTION_OOR);
    fv_cmd_movi(dw, 1, 0, 1);
    fv_submit(fv, dw);
    assert_int_equal(fv_last_error(fv), VITS_E_MOVI_COLLECTION_OOR);
    assert_int_equal(fv_error_count(fv), 5);
    /* What was mapped before stays usable. */
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 0), 1);
    fv_free(fv);
}

static void tiny_baser_bounds_device_and_collection_ids(void **state)
{
    (void)state;
    struct fakevm *fv = vm(NULL);
    /* One 4 KiB page each: 512 entries of 8 bytes. */
    write_frozen(fv, GITS_BASER(0), BASER_VALID | FV_DEV_TABLE);
    write_frozen(fv, GITS_BASER(1), BASER_VALID | FV_COLL_TABLE);
    fv_mapc(fv, 511, 0, true);
    assert_int_equal(fv_error_count(fv), 0);
    fv_mapc(fv, 512, 0, true);
    assert_int_equal(fv_last_error(fv), VITS_E_MAPC_COLLECTION_OOR);
    uint64_t dw[4];
    fv_cmd_mapd(dw, 511, 4, FV_ITT(0), true);
    fv_submit(fv, dw);
    assert_int_equal(fv_error_count(fv), 1);
    fv_cmd_mapd(dw, 512, 4, FV_ITT(0), true);
    fv_submit(fv, dw);
    assert_int_equal(fv_last_error(fv), VITS_E_MAPD_DEVICE_OOR);
    assert_int_equal(fv_error_count(fv), 2);
    fv_mapti(fv, 511, 0, 8192, 511);
    assert_int_equal(fv_error_count(fv), 2);
    assert_int_equal(vits_its_signal_msi(fv->its, 511, 0), 1);
    fv_free(fv);
}

static void indirect_device_baser_with_bad_level1_fails_mapd(void **state)
{
    (void)state;
    const uint64_t l1 = 0x40700000ull, l2 = 0x40710000ull;
    struct fakevm *fv = vm(NULL);
    /* 4 KiB pages: 512 level-1 entries, each for 512 DeviceIDs. */
    write_frozen(fv, GITS_BASER(0), BASER_VALID | BASER_INDIRECT | l1);
    fv_add_hole(fv, l1, 0x1000);
    uint64_t dw[4];
    unsigned guest = fv->log_count[VITS_LOG_GUEST];
    fv_cmd_mapd(dw, 5, 4, FV_ITT(5), true);
    fv_submit(fv, dw);
    assert_int_equal(fv_last_error(fv), VITS_E_MAPD_DEVICE_OOR);
    assert_int_equal(fv->log_count[VITS_LOG_GUEST] - guest, 1);
    /* Readable, but entry 0 is invalid; entry 1 is valid. */
    fv->nr_holes = 0;
    fv_write64(fv, l1 + 8, 1ull << 63 | l2);
    fv_submit(fv, dw);
    assert_int_equal(fv_last_error(fv), VITS_E_MAPD_DEVICE_OOR);
    assert_int_equal(fv_error_count(fv), 2);
    fv_cmd_mapd(dw, 600, 4, FV_ITT(6), true);
    fv_submit(fv, dw);
    assert_int_equal(fv_error_count(fv), 2);
    /* Level 1 at an absurd address: unbacked, so invalid. */
    write_frozen(fv, GITS_BASER(0), BASER_VALID | BASER_INDIRECT | 0xfffffffff000ull | 0xff);
    fv_cmd_mapd(dw, 60000, 4, FV_ITT(7), true);
    fv_submit(fv, dw);
    assert_int_equal(fv_last_error(fv), VITS_E_MAPD_DEVICE_OOR);
    assert_int_equal(fv_error_count(fv), 3);
    fv_free(fv);
}

/* ---- hostile random commands ---- */

/*
 * A bound on the host memory of a booted VM whose ITS has nothing mapped
 * yet: what it holds now, plus for each device its slot and record
 * (1 KiB) and its ITT's directory (a pointer per 64 EventIDs), plus for
 * each event an ITT chunk and an LPI chunk of its own in the worst case
 * (2 KiB), plus 64 bytes per collection.
 */
static size_t memory_bound(struct fakevm *fv, const struct vits_its_config *cfg)
{
    return vits_domain_memory(fv->d) +
           cfg->max_devices * (1024 + ((size_t)1 << cfg->event_id_bits) / 64 * sizeof(void *)) +
           (size_t)cfg->max_events * 2048 + (size_t)cfg->max_collections * 64;
}

static uint64_t rng_next(uint64_t *s)
{
    /* xorshift64* */
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545f4914f6cdd1dull;
}

/*
 * A model of what the injector has been told: which vCPU each LPI is
 * raised on. The hostile runs swap it in for the fake VM's recording
 * injector (which keeps a bounded list) by editing fv->ops, the table the
 * domain was created with, before anything is mapped.
 */
static struct {
    uint16_t raised_on[1u << 16]; /* vCPU + 1, 0: not raised */
    uint32_t recent[64];          /* INTIDs raised lately, to acknowledge */
    unsigned next;
    unsigned long raises, retracts;
} model;

static int model_raise(void *opaque, uint32_t vcpu, uint32_t intid, uint8_t priority)
{
    struct fakevm *fv = opaque;
    assert_true(vcpu < fv->nr_vcpus);
    assert_true(intid >= 8192 && intid < (1u << 16));
    assert_int_equal(priority & 3, 0);
    assert_int_equal(model.raised_on[intid], 0); /* once until acked/retracted */
    model.raised_on[intid] = (uint16_t)(vcpu + 1);
    model.recent[model.next++ % 64] = intid;
    model.raises++;
    return 0;
}

static void model_retract(void *opaque, uint32_t vcpu, uint32_t intid)
{
    struct fakevm *fv = opaque;
    assert_true(vcpu < fv->nr_vcpus);
    assert_true(intid >= 8192 && intid < (1u << 16));
    assert_int_equal(model.raised_on[intid], vcpu + 1); /* only what was raised there */
    model.raised_on[intid] = 0;
    model.retracts++;
}

static void model_ack(struct fakevm *fv, uint32_t vcpu, uint32_t intid)
{
    int rc = vits_lpi_ack(fv->d, vcpu, intid);
    if (vcpu >= fv->nr_vcpus) {
        assert_int_equal(rc, -EINVAL);
    } else if (intid < (1u << 16) && model.raised_on[intid] == vcpu + 1) {
        assert_int_equal(rc, 0);
        model.raised_on[intid] = 0;
    } else {
        assert_int_equal(rc, -ENOENT);
    }
}

/* A random command; with valid, its number is one of 0x01..0x0f and 7
 * times in 8 its IDs are small enough to hit mapped state (DeviceID,
 * EventID, pINTID, ICID, RDbase, and V set 3 times in 4). */
static void random_command(uint64_t *rng, uint64_t dw[4], bool valid)
{
    for (int i = 0; i < 4; i++)
        dw[i] = rng_next(rng);
    if (!valid)
        return;
    dw[0] = (dw[0] & ~0xffull) | (1 + rng_next(rng) % 15);
    if (rng_next(rng) & 7) {
        uint64_t r = rng_next(rng);
        dw[0] = (dw[0] & 0xff) | (r % 20) << 32;                           /* DeviceID */
        dw[1] = (r >> 8) % 64 | (uint64_t)(8192 + (r >> 16) % 1024) << 32; /* Event, pINTID */
        dw[2] = (r >> 28) % 10 | ((r >> 36) % 5) << 16 | (uint64_t) !!(r & 3ull << 62) << 63;
        dw[3] = ((r >> 44) % 5) << 16; /* RDbase2 */
    }
}

static void fill_queue(struct fakevm *fv, uint64_t *rng, bool valid, unsigned first, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        uint64_t dw[4];
        random_command(rng, dw, valid);
        uint64_t at = FV_QUEUE + (uint64_t)((first + i) % (QSIZE / 32)) * 32;
        for (int w = 0; w < 4; w++)
            fv_write64(fv, at + 8 * (uint64_t)w, dw[w]);
    }
}

/* CREADR and CWRITER are aligned offsets inside the queue, and the ITS
 * has caught up with CWRITER or (STALL only) stopped on a command. */
static void check_queue(struct fakevm *fv, enum vits_error_policy policy)
{
    uint64_t rd = creadr(fv);
    uint64_t wr = fv_its_read(fv, GITS_CWRITER, 8);
    assert_int_equal(rd & ~CREADR_STALLED & 31, 0);
    assert_true((rd & ~CREADR_STALLED) < QSIZE);
    assert_int_equal(wr & 31, 0);
    assert_true(wr < QSIZE);
    if (policy == VITS_ERRORS_CONTINUE || !(rd & CREADR_STALLED))
        assert_int_equal(rd, wr);
}

static void hostile_run(enum vits_error_policy policy, bool valid, uint64_t seed)
{
    memset(&model, 0, sizeof(model));
    uint64_t rng = seed;
    struct vits_domain_config dcfg;
    vits_domain_config_init(&dcfg, 4);
    dcfg.log_level = VITS_LOG_GUEST;
    struct fakevm *fv = fv_new_cfg(&dcfg);
    fv->ops.raise = model_raise;
    fv->ops.retract = model_retract;
    size_t domain_only = vits_domain_memory(fv->d);

    struct vits_its_config cfg = its_cfg(policy, 64);
    cfg.max_devices = 16;
    cfg.max_events = 256;
    cfg.max_collections = 8;
    fv_add_its(fv, &cfg);
    fv_boot(fv);
    size_t limit = memory_bound(fv, &cfg);

    fill_queue(fv, &rng, valid, 0, QSIZE / 32);
    uint64_t errors = 0;
    for (unsigned round = 0; round < 400; round++) {
        uint64_t r = rng_next(&rng);
        switch (r % 8) {
        case 0:
        case 1:
        case 2: /* the doorbell, a few times: any value, mostly inside the queue */
            for (unsigned i = 0; i <= (r >> 8) % 32; i++) {
                uint64_t v = rng_next(&rng);
                if (v >> 61)
                    v = (v % QSIZE & ~31ull) | (v >> 40 & 1);
                assert_int_equal(vits_its_mmio_write(fv->its, GITS_CWRITER, 8, v), 0);
                check_queue(fv, policy);
            }
            break;
        case 3:
            for (int i = 0; i < 32; i++) {
                uint64_t m = rng_next(&rng);
                int rc = vits_its_signal_msi(fv->its, (uint32_t)(m % 24), (uint32_t)(m >> 8) % 128);
                assert_true(rc == 0 || rc == 1);
            }
            break;
        case 4:
            for (unsigned i = 0; i < 64; i++) {
                uint32_t intid = model.recent[i];
                if (intid && model.raised_on[intid])
                    model_ack(fv, model.raised_on[intid] - 1u, intid);
            }
            for (int i = 0; i < 16; i++) {
                uint64_t m = rng_next(&rng);
                model_ack(fv, (uint32_t)(m % 6), 8192 + (uint32_t)(m >> 8) % 2048);
            }
            break;
        case 5:
            fill_queue(fv, &rng, valid, (unsigned)(r >> 8), 256);
            break;
        case 6: { /* EnableLPIs off and on: pending tables written and read */
            uint32_t v = (uint32_t)(r >> 8) % 4;
            fv_gicr_write(fv, v, 0x0, 4, 0);
            fv_gicr_write(fv, v, 0x0, 4, 1);
            break;
        }
        default:
            assert_int_equal(vits_domain_sync_pending(fv->d), 0);
            break;
        }
        check_queue(fv, policy);
        assert_true(vits_domain_memory(fv->d) <= limit);
        uint64_t n = fv_error_count(fv);
        assert_true(n >= errors);
        errors = n;
    }
    /* Something happened. */
    assert_true(vits_its_commands(fv->its) > (policy == VITS_ERRORS_CONTINUE ? 10000u : 1000u));
    assert_true(errors > 0);
    if (valid)
        assert_true(model.raises > 0);

    /* Destroying the ITS retracts what is still raised and gives back
     * every byte it held. */
    vits_its_destroy(fv->its);
    fv->its = NULL;
    for (uint32_t i = 0; i < (1u << 16); i++)
        assert_int_equal(model.raised_on[i], 0);
    assert_int_equal(vits_domain_memory(fv->d), domain_only);
    fv_free(fv);
}

static void hostile_random_words_under_continue_keep_creadr_and_memory_sane(void **state)
{
    (void)state;
    hostile_run(VITS_ERRORS_CONTINUE, false, 0x9e3779b97f4a7c15ull);
}

static void hostile_random_words_under_stall_keep_creadr_and_memory_sane(void **state)
{
    (void)state;
    hostile_run(VITS_ERRORS_STALL, false, 0x0123456789abcdefull);
}

static void hostile_valid_numbers_under_continue_keep_injector_consistent(void **state)
{
    (void)state;
    hostile_run(VITS_ERRORS_CONTINUE, true, 0xdeadbeefcafef00dull);
}

static void hostile_valid_numbers_under_stall_keep_injector_consistent(void **state)
{
    (void)state;
    hostile_run(VITS_ERRORS_STALL, true, 0x5eed5eed5eed5eedull);
}

/* ---- resource limits ---- */

static void max_devices_reached_fails_mapd_with_device_oor(void **state)
{
    (void)state;
    struct vits_its_config cfg = its_cfg(VITS_ERRORS_CONTINUE, 64);
    cfg.max_devices = 2;
    struct fakevm *fv = vm(&cfg);
    fv_map_collection(fv, 0, 0);
    assert_int_equal(fv_map_device(fv, 1, 4, 1, 8192, 0), 0);
    assert_int_equal(fv_map_device(fv, 2, 4, 1, 8208, 0), 0);
    size_t mem = vits_domain_memory(fv->d);
    assert_int_equal(fv_map_device(fv, 3, 4, 1, 8224, 0), 2); /* MAPD, then MAPTI */
    assert_int_equal(vits_domain_memory(fv->d), mem);
    struct vits_cmd_error e;
    assert_int_equal(vits_its_last_error(fv->its, &e, NULL), 1);
    assert_int_equal(e.code, VITS_E_MAPTI_UNMAPPED_DEVICE);
    assert_int_equal(vits_its_signal_msi(fv->its, 3, 0), 0);
    /* The MAPD error itself. */
    uint64_t dw[4];
    fv_cmd_mapd(dw, 3, 3, FV_ITT(3), true);
    fv_submit(fv, dw);
    assert_int_equal(fv_last_error(fv), VITS_E_MAPD_DEVICE_OOR);
    assert_int_equal(vits_domain_memory(fv->d), mem);
    /* Re-mapping a mapped device at the limit is not a new one. */
    fv_cmd_mapd(dw, 2, 3, FV_ITT(2), true);
    fv_submit(fv, dw);
    assert_int_equal(fv_error_count(fv), 3);
    /* Unmapping one makes room. */
    fv_cmd_mapd(dw, 1, 0, 0, false);
    fv_submit(fv, dw);
    assert_int_equal(fv_map_device(fv, 3, 4, 1, 8224, 0), 0);
    assert_int_equal(vits_its_signal_msi(fv->its, 3, 0), 1);
    fv_free(fv);
}

static void max_events_reached_fails_mapti_and_mapi_with_physicalid_oor(void **state)
{
    (void)state;
    struct vits_its_config cfg = its_cfg(VITS_ERRORS_CONTINUE, 64);
    cfg.max_events = 3;
    struct fakevm *fv = vm(&cfg);
    fv_map_collection(fv, 0, 0);
    assert_int_equal(fv_map_device(fv, 1, 14, 3, 8192, 0), 0);
    size_t mem = vits_domain_memory(fv->d);
    fv_mapti(fv, 1, 3, 8195, 0);
    assert_int_equal(fv_last_error(fv), VITS_E_MAPTI_PHYSICALID_OOR);
    uint64_t dw[4];
    fv_cmd_mapi(dw, 1, 9000, 0);
    fv_submit(fv, dw);
    assert_int_equal(fv_last_error(fv), VITS_E_MAPI_PHYSICALID_OOR);
    assert_int_equal(vits_domain_memory(fv->d), mem);
    assert_int_equal(vits_lpi_state(fv->d, 8195, NULL), -ENOENT);
    assert_int_equal(vits_lpi_state(fv->d, 9000, NULL), -ENOENT);
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 3), 0);
    /* Re-mapping a mapped event at the limit replaces it. */
    fv_mapti(fv, 1, 2, 8300, 0);
    assert_int_equal(fv_error_count(fv), 2);
    assert_int_equal(vits_lpi_state(fv->d, 8194, NULL), -ENOENT);
    assert_int_equal(vits_lpi_state(fv->d, 8300, NULL), 0);
    /* DISCARD makes room. */
    fv_cmd_dev_ev(dw, 0x0f, 1, 0);
    fv_submit(fv, dw);
    fv_mapti(fv, 1, 3, 8195, 0);
    assert_int_equal(fv_error_count(fv), 2);
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 3), 1);
    fv_free(fv);
}

static void max_collections_reached_fails_mapc_with_collection_oor(void **state)
{
    (void)state;
    struct vits_its_config cfg = its_cfg(VITS_ERRORS_CONTINUE, 64);
    cfg.max_collections = 2;
    struct fakevm *fv = vm(&cfg);
    fv_mapc(fv, 0, 0, true);
    fv_mapc(fv, 1, 1, true);
    size_t mem = vits_domain_memory(fv->d);
    fv_mapc(fv, 2, 0, true);
    assert_int_equal(fv_last_error(fv), VITS_E_MAPC_COLLECTION_OOR);
    assert_int_equal(vits_domain_memory(fv->d), mem);
    /* Collection 2 stays unmapped: an LPI on it has no target. */
    assert_int_equal(fv_map_device(fv, 1, 4, 1, 8192, 2), 0);
    uint32_t vcpu = 0;
    assert_int_equal(vits_lpi_state(fv->d, 8192, &vcpu), 0);
    assert_int_equal(vcpu, UINT32_MAX);
    /* Re-targeting a mapped collection is not a new one. */
    fv_mapc(fv, 1, 0, true);
    assert_int_equal(fv_error_count(fv), 1);
    /* Unmapping one makes room. */
    fv_mapc(fv, 0, 0, false);
    fv_mapc(fv, 2, 1, true);
    assert_int_equal(fv_error_count(fv), 1);
    assert_int_equal(vits_lpi_state(fv->d, 8192, &vcpu), 0);
    assert_int_equal(vcpu, 1);
    fv_free(fv);
}

/* Map up to every limit, each event alone in its ITT chunk and in its
 * LPI chunk (the worst case), then unmap everything; returns the memory
 * held when full. */
static size_t fill_every_limit_and_unmap(struct fakevm *fv, size_t *after)
{
    uint64_t dw[4];
    uint64_t errors = fv_error_count(fv);
    for (uint16_t c = 0; c < 9; c++)
        fv_mapc(fv, c, c % 2, true);
    assert_int_equal(fv_error_count(fv) - errors, 1);
    assert_int_equal(fv_last_error(fv), VITS_E_MAPC_COLLECTION_OOR);
    for (uint32_t dev = 0; dev < 17; dev++) {
        fv_cmd_mapd(dw, dev, 15, FV_ITT(dev), true);
        fv_submit(fv, dw);
    }
    assert_int_equal(fv_error_count(fv) - errors, 2);
    assert_int_equal(fv_last_error(fv), VITS_E_MAPD_DEVICE_OOR);
    for (uint32_t k = 0; k < 257; k++) {
        fv_cmd_mapti(dw, k % 16, k / 16 * 64, 8192 + 64 * k, (uint16_t)(k % 8));
        fv_submit(fv, dw);
    }
    assert_int_equal(fv_error_count(fv) - errors, 3);
    assert_int_equal(fv_last_error(fv), VITS_E_MAPTI_PHYSICALID_OOR);
    size_t full = vits_domain_memory(fv->d);
    assert_int_equal(vits_its_signal_msi(fv->its, 15, 15 * 64), 1);
    for (uint32_t dev = 0; dev < 16; dev++) {
        fv_cmd_mapd(dw, dev, 0, 0, false);
        fv_submit(fv, dw);
    }
    for (uint16_t c = 0; c < 8; c++)
        fv_mapc(fv, c, 0, false);
    assert_int_equal(fv_error_count(fv) - errors, 3);
    *after = vits_domain_memory(fv->d);
    return full;
}

static void memory_at_every_limit_stays_within_the_bound(void **state)
{
    (void)state;
    struct vits_its_config cfg = its_cfg(VITS_ERRORS_CONTINUE, 64);
    cfg.max_devices = 16;
    cfg.max_events = 256;
    cfg.max_collections = 8;
    struct fakevm *fv = vm(&cfg);
    size_t base = vits_domain_memory(fv->d);
    size_t limit = memory_bound(fv, &cfg);
    size_t after1, after2;
    size_t full1 = fill_every_limit_and_unmap(fv, &after1);
    assert_true(full1 > base);
    assert_true(full1 <= limit);
    /* Emptied, the ITS keeps at most its device index (sized by the most
     * devices it held: under 4 slots of 32 bytes a device, plus a header);
     * a second round does not grow anything. */
    assert_true(after1 >= base && after1 - base <= cfg.max_devices * 128u + 128u);
    size_t full2 = fill_every_limit_and_unmap(fv, &after2);
    assert_int_equal(full2, full1);
    assert_int_equal(after2, after1);
    fv_free(fv);
}

/* ---- allocation failures ---- */

static void alloc_failure_during_mapd_records_enomem_and_maps_nothing(void **state)
{
    (void)state;
    struct fakevm *fv = vm(NULL);
    fv_map_collection(fv, 0, 0);
    uint64_t dw[4];
    fv_cmd_mapd(dw, 1, 4, FV_ITT(1), true);
    /* Let k allocations succeed, for k = 0, 1, ..., until MAPD has all
     * it needs: every failure is a host error and maps nothing. */
    long k = 0;
    for (;; k++) {
        uint64_t errors = fv_error_count(fv);
        unsigned host = fv->log_count[VITS_LOG_ERROR];
        fv->fail_alloc_after = k;
        fv_submit(fv, dw);
        fv->fail_alloc_after = -1;
        if (fv_error_count(fv) == errors)
            break;
        assert_int_equal(fv_error_count(fv) - errors, 1);
        struct vits_cmd_error e = last_error(fv);
        assert_int_equal(e.code, 0);
        assert_int_equal(e.host_errno, -ENOMEM);
        assert_int_equal(e.cmd[0], dw[0]);
        assert_int_equal(e.cmd[2], dw[2]);
        assert_int_equal(fv->log_count[VITS_LOG_ERROR] - host, 1);
        fv_mapti(fv, 1, 0, 8192, 0);
        assert_int_equal(fv_last_error(fv), VITS_E_MAPTI_UNMAPPED_DEVICE);
        assert_int_equal(vits_its_signal_msi(fv->its, 1, 0), 0);
        assert_true(k < 16);
    }
    assert_true(k >= 2); /* at least the device record and its ITT */
    /* Mapped now: it works. */
    fv_mapti(fv, 1, 0, 8192, 0);
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 0), 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 0, 8192), 1);
    fv_free(fv);
}

static void alloc_failure_during_mapti_leaves_event_unmapped(void **state)
{
    (void)state;
    struct fakevm *fv = vm(NULL);
    fv_map_collection(fv, 0, 0);
    /* a 12-bit ITT is kept in chunks (small ones are inline) */
    assert_int_equal(fv_map_device(fv, 1, 12, 0, 0, 0), 0);
    size_t mem = vits_domain_memory(fv->d);
    long k = 0;
    for (;; k++) {
        uint64_t errors = fv_error_count(fv);
        fv->fail_alloc_after = k;
        fv_mapti(fv, 1, 0, 8192, 0);
        fv->fail_alloc_after = -1;
        if (fv_error_count(fv) == errors)
            break;
        struct vits_cmd_error e = last_error(fv);
        assert_int_equal(e.code, 0);
        assert_int_equal(e.host_errno, -ENOMEM);
        assert_int_equal(vits_domain_memory(fv->d), mem);
        assert_int_equal(vits_lpi_state(fv->d, 8192, NULL), -ENOENT);
        assert_int_equal(vits_its_signal_msi(fv->its, 1, 0), 0);
        uint64_t dw[4];
        fv_cmd_dev_ev(dw, CMD_INT, 1, 0);
        fv_submit(fv, dw);
        assert_int_equal(fv_last_error(fv), VITS_E_INT_UNMAPPED_INTERRUPT);
        assert_true(k < 16);
    }
    assert_true(k >= 2); /* the ITT's chunk and the LPI's chunk */
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 0), 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 0, 8192), 1);
    fv_free(fv);
}

static void alloc_failure_under_stall_is_retried_once_memory_is_back(void **state)
{
    (void)state;
    struct vits_its_config cfg = its_cfg(VITS_ERRORS_STALL, 64);
    struct fakevm *fv = vm(&cfg);
    fv_map_collection(fv, 0, 0);
    assert_int_equal(fv_map_device(fv, 1, 4, 0, 0, 0), 0);
    uint64_t at = fv->cwriter;
    uint64_t dw[4];
    fv_cmd_mapti(dw, 1, 0, 8192, 0);
    fv_queue(fv, dw);
    queue_dev_ev(fv, CMD_INT, 1, 0);
    fv->fail_alloc_after = 0;
    fv_kick(fv);
    assert_int_equal(creadr(fv), at | CREADR_STALLED);
    assert_int_equal(last_error(fv).host_errno, -ENOMEM);
    fv->fail_alloc_after = -1;
    fv_kick_retry(fv);
    assert_int_equal(creadr(fv), fv->cwriter);
    assert_int_equal(fv_error_count(fv), 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 0, 8192), 1);
    fv_free(fv);
}

/* ---- the guest-error rate limit ---- */

static struct fakevm *vm_rate(uint32_t rate, uint32_t burst)
{
    struct vits_domain_config dcfg;
    vits_domain_config_init(&dcfg, 2);
    dcfg.log_rate = rate;
    dcfg.log_burst = burst;
    struct fakevm *fv = fv_new_cfg(&dcfg);
    fv_add_its(fv, NULL);
    fv_boot(fv);
    assert_int_equal(fv->log_count[VITS_LOG_GUEST], 0);
    return fv;
}

static void guest_error_log_is_rate_limited_to_the_burst(void **state)
{
    (void)state;
    struct fakevm *fv = vm_rate(1, 5);
    for (int i = 0; i < 1000; i++)
        queue_dev_ev(fv, CMD_INT, 99, 0); /* unmapped device */
    fv_kick(fv);
    assert_int_equal(fv_error_count(fv), 1000);
    assert_int_equal(fv_last_error(fv), VITS_E_INT_UNMAPPED_DEVICE);
    assert_true(fv->log_count[VITS_LOG_GUEST] >= 5);
    assert_true(fv->log_count[VITS_LOG_GUEST] <= 6);
    /* A second later a token is back, and the line says what was lost. */
    struct timespec ts = {1, 100000000};
    nanosleep(&ts, NULL);
    unsigned before = fv->log_count[VITS_LOG_GUEST];
    queue_dev_ev(fv, CMD_INT, 99, 0);
    fv_kick(fv);
    assert_int_equal(fv->log_count[VITS_LOG_GUEST], before + 1);
    assert_non_null(strstr(fv->last_log, "guest errors not logged"));
    assert_non_null(strstr(fv->last_log, "INT"));
    assert_int_equal(fv_error_count(fv), 1001);
    fv_free(fv);
}

static void guest_error_log_refills_at_log_rate_under_sustained_errors(void **state)
{
    (void)state;
    /* 20 lines a second, burst 1: half a second of errors as fast as the
     * guest can make them logs about 1 + 10 lines (fewer when the test is
     * descheduled: only the bounds below hold whatever the load). */
    struct fakevm *fv = vm_rate(20, 1);
    uint64_t start = now_ns(), elapsed;
    uint64_t n = 0;
    do {
        queue_dev_ev(fv, CMD_INT, 99, 0);
        fv_kick(fv);
        n++;
        elapsed = now_ns() - start;
    } while (elapsed < 500000000ull);
    assert_int_equal(fv_error_count(fv), n);
    unsigned lines = fv->log_count[VITS_LOG_GUEST];
    unsigned expect = 1 + (unsigned)(elapsed * 20 / 1000000000ull);
    /* Never more than the rate allows. At least one refill: the last
     * error came half a second after the first, whatever the scheduler
     * did meanwhile (a limiter that starves under sustained errors logs
     * one line). */
    assert_true(lines >= 2);
    assert_true(lines <= expect + 1);
    fv_free(fv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(queue_wraps_around_its_end_and_runs_every_command),
        cmocka_unit_test(full_queue_of_2047_commands_runs_across_the_wrap),
        cmocka_unit_test(cwriter_beyond_queue_size_is_ignored_and_logged),
        cmocka_unit_test(unreadable_command_under_continue_skips_only_that_command),
        cmocka_unit_test(unreadable_command_under_stall_stops_until_cwriter_is_written),
        cmocka_unit_test(unreadable_command_under_stall_is_retried_with_retry),
        cmocka_unit_test(unreadable_command_under_stall_is_skipped_without_retry),
        cmocka_unit_test(read_fault_under_continue_skips_each_unreadable_command),
        cmocka_unit_test(read_fault_under_stall_is_retried_and_nothing_runs_twice),
        cmocka_unit_test(command_error_under_continue_is_recorded_and_skipped),
        cmocka_unit_test(command_error_under_stall_is_retried_with_retry),
        cmocka_unit_test(command_error_under_stall_is_skipped_without_retry),
        cmocka_unit_test(disabled_its_processes_nothing_until_enabled),
        cmocka_unit_test(invalid_cbaser_processes_nothing),
        cmocka_unit_test(cbaser_in_a_hole_fails_each_command_as_unreadable),
        cmocka_unit_test(cbaser_with_absurd_address_fails_commands_without_crash),
        cmocka_unit_test(invalid_device_baser_fails_mapd_with_device_oor),
        cmocka_unit_test(invalid_collection_baser_fails_commands_naming_a_collection),
        cmocka_unit_test(tiny_baser_bounds_device_and_collection_ids),
        cmocka_unit_test(indirect_device_baser_with_bad_level1_fails_mapd),
        cmocka_unit_test(hostile_random_words_under_continue_keep_creadr_and_memory_sane),
        cmocka_unit_test(hostile_random_words_under_stall_keep_creadr_and_memory_sane),
        cmocka_unit_test(hostile_valid_numbers_under_continue_keep_injector_consistent),
        cmocka_unit_test(hostile_valid_numbers_under_stall_keep_injector_consistent),
        cmocka_unit_test(max_devices_reached_fails_mapd_with_device_oor),
        cmocka_unit_test(max_events_reached_fails_mapti_and_mapi_with_physicalid_oor),
        cmocka_unit_test(max_collections_reached_fails_mapc_with_collection_oor),
        cmocka_unit_test(memory_at_every_limit_stays_within_the_bound),
        cmocka_unit_test(alloc_failure_during_mapd_records_enomem_and_maps_nothing),
        cmocka_unit_test(alloc_failure_during_mapti_leaves_event_unmapped),
        cmocka_unit_test(alloc_failure_under_stall_is_retried_once_memory_is_back),
        cmocka_unit_test(guest_error_log_is_rate_limited_to_the_burst),
        cmocka_unit_test(guest_error_log_refills_at_log_rate_under_sustained_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
