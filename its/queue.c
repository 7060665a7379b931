/* SPDX-License-Identifier: MIT */
/*
 * The command queue. A write to GITS_CWRITER (or enabling the ITS) runs
 * the queue from GITS_CREADR to GITS_CWRITER, wrapping at the queue's
 * end. Commands are read in runs: one read_mem call per contiguous run
 * of new commands, split only at the wrap point and at the run limit,
 * cfg.max_batch commands or the ops' max_access bytes, whichever is less
 * (one command at least, then read in max_access pieces).
 *
 * A failed read applies nothing of what it was to read. The run is then
 * halved: its first half is read and run, then its second half, each
 * halved again when its read fails, down to the one unreadable command,
 * which fails like any command (below). So exactly the commands before
 * the first unreadable one run, each once and from a successful read;
 * finding it costs about two reads per halving (log2 of the run) instead
 * of one read per command; and a read that failed once (a lost message)
 * costs two more reads, not a re-read per command.
 *
 * A command that fails (architected error, or a host failure such as an
 * unreadable command) is recorded; under VITS_ERRORS_CONTINUE the queue
 * goes on past it, under VITS_ERRORS_STALL CREADR stays on it with
 * Stalled set until the guest writes CWRITER again (Retry = 1 retries
 * it, Retry = 0 skips it).
 *
 * Every loop here advances CREADR towards a CWRITER that cannot change
 * while the lock is held, so one call processes at most the queue's
 * 32768 commands. Needs the domain lock.
 */
#include <string.h>

#include "its.h"

#define CBASER_VALID (1ull << 63)
#define CMD_SIZE 32u

uint64_t its_queue_size(const struct vits_its *its)
{
    return (lpi_bits(its->cbaser, 7, 0) + 1) * 4096;
}

static uint64_t queue_base(const struct vits_its *its)
{
    return lpi_bits(its->cbaser, 51, 12) << 12;
}

static void record_error(struct vits_its *its, uint64_t offset, const uint8_t *raw, int rc)
{
    struct vits_cmd_error *e = &its->last_error;
    memset(e, 0, sizeof(*e));
    e->offset = offset;
    if (rc > 0)
        e->code = (uint32_t)rc;
    else
        e->host_errno = rc;
    if (raw)
        for (int i = 0; i < 4; i++)
            e->cmd[i] = lpi_le64(raw + 8 * i);
    its->errors++;
}

/* Run one command (raw: its 32 bytes, NULL if it could not be read, rc
 * then the read's error). Returns false when the queue must stall. */
static inline bool run_one(struct vits_its *its, const uint8_t *raw, int rc)
{
    uint64_t offset = its->creadr;
    if (raw) {
        uint64_t dw[4];
        for (int i = 0; i < 4; i++)
            dw[i] = lpi_le64(raw + 8 * i);
        rc = its_execute(its, dw);
        its->commands++;
    } else {
        lpi_log(its->d, VITS_LOG_ERROR, "command at offset 0x%llx unreadable (%d)",
                (unsigned long long)offset, rc);
    }
    if (rc) {
        if (rc < 0 && raw) {
            const char *name = its_command_name(raw[0]);
            lpi_log(its->d, VITS_LOG_ERROR, "%s at offset 0x%llx failed on the host side (%d)",
                    name ? name : "command", (unsigned long long)offset, rc);
        }
        record_error(its, offset, raw, rc);
        if (its->cfg.error_policy == VITS_ERRORS_STALL) {
            its->stalled = true;
            return false;
        }
    }
    /* CREADR is command-aligned and inside the queue (a multiple of
     * 4 KiB): stepping past the end wraps to 0 (no division per command). */
    its->creadr = offset + CMD_SIZE >= its_queue_size(its) ? 0 : offset + CMD_SIZE;
    return true;
}

static void process(struct vits_its *its);

void its_process_queue(struct vits_its *its)
{
    lpi_props_batch_begin(its->d);
    process(its);
    lpi_props_batch_end(its->d);
    /* Free what the batch unlinked, once MSI readers are done with it. */
    lpi_reclaim(its->d);
}

/* Read the n commands at CREADR and run them, halving on a failed read
 * (see the top of this file). Returns false when the queue must stall. */
static bool run_commands(struct vits_its *its, uint64_t base, uint64_t n)
{
    int rc = lpi_read_guest(its->d, base + its->creadr, its->batch, n * CMD_SIZE);
    if (!rc) {
        for (uint64_t i = 0; i < n; i++)
            if (!run_one(its, its->batch + i * CMD_SIZE, 0))
                return false;
        return true;
    }
    if (n == 1)
        return run_one(its, NULL, rc);
    uint64_t half = n / 2;
    return run_commands(its, base, half) && run_commands(its, base, n - half);
}

static void process(struct vits_its *its)
{
    if (!atomic_load(&its->enabled) || !(its->cbaser & CBASER_VALID) || its->stalled)
        return;
    uint64_t qsize = its_queue_size(its);
    uint64_t base = queue_base(its);
    uint64_t limit = lpi_access_cap(its->d, (size_t)its->cfg.max_batch * CMD_SIZE) / CMD_SIZE;
    if (limit < 1)
        limit = 1;
    while (its->creadr != its->cwriter) {
        uint64_t end = its->cwriter > its->creadr ? its->cwriter : qsize;
        uint64_t n = (end - its->creadr) / CMD_SIZE;
        if (!run_commands(its, base, n < limit ? n : limit))
            return;
    }
}
