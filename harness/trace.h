/* SPDX-License-Identifier: MIT */
/*
 * vits-trace v1 (../shared/reference/trace-format.md, summarised in
 * docs/harness.md): a writer that the guest driver model records with,
 * and a replayer that feeds a trace to the reference embedding and checks
 * it. Traces are untrusted input: every number is parsed strictly, every
 * size is bounded, and a malformed line stops the replay with its file
 * name and line number.
 */
#ifndef VITS_HARNESS_TRACE_H
#define VITS_HARNESS_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define TRACE_DEFAULT_ITS_BASE 0x08080000ull
/* Longest line a replayer accepts (a `mem` record of 512 KiB). */
#define TRACE_MAX_LINE (1u << 20)

/* The optional `geometry` record; 0 (or false) means "not given". */
struct trace_geometry {
    uint32_t devbits, eventbits, lpibits, cidbits;
    int pta;    /* -1: not given */
    int errors; /* -1: not given; 0 continue; 1 stall */
};

/* ---- writing ---- */

struct trace_writer {
    FILE *f;
    uint64_t records;
    int error; /* first write error (negative errno), sticky */
};

void trace_writer_init(struct trace_writer *w, FILE *f);
/* Header, vcpus, its, and geometry when g has anything set (g may be NULL). */
void trace_w_header(struct trace_writer *w, uint32_t vcpus, uint64_t its_base,
                    const struct trace_geometry *g);
void trace_w_comment(struct trace_writer *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* One `mem` line per 64 bytes. */
void trace_w_mem(struct trace_writer *w, uint64_t gpa, const void *buf, size_t len);
void trace_w_its_w(struct trace_writer *w, uint64_t off, unsigned size, uint64_t val);
void trace_w_its_r(struct trace_writer *w, uint64_t off, unsigned size, uint64_t val);
void trace_w_gicr_w(struct trace_writer *w, uint32_t cpu, uint64_t off, unsigned size,
                    uint64_t val);
void trace_w_gicr_r(struct trace_writer *w, uint32_t cpu, uint64_t off, unsigned size,
                    uint64_t val);
void trace_w_msi(struct trace_writer *w, uint32_t devid, uint32_t eventid);
void trace_w_ack(struct trace_writer *w, uint32_t cpu, uint32_t intid);
void trace_w_expect_pending(struct trace_writer *w, uint32_t cpu, uint32_t intid);
void trace_w_expect_idle(struct trace_writer *w);
void trace_w_cmd_error(struct trace_writer *w, uint32_t code);
/* `migrate tables`, or `migrate snapshot`. */
void trace_w_migrate(struct trace_writer *w, bool snapshot);

/* ---- replaying ---- */

struct replay_options {
    FILE *out;        /* the report (stdout when NULL) */
    FILE *log;        /* vits' log lines (NULL: none) */
    bool verbose;     /* log guest errors to log */
    bool strict;      /* an its-r/gicr-r difference is a mismatch too */
    size_t max_pages; /* guest RAM cap (0: default) */
    /* From --dtb: values a trace may omit (and must agree with). */
    bool have_platform;
    uint32_t vcpus;
    uint64_t its_base;
    uint64_t redist_base; /* 0: vits' default */
    /* vits out of process: connect returns a connected stream socket to
     * a fresh server (`vits-sim serve`, docs/protocol.md) or a negative
     * errno; NULL: vits in process. The report is the same either way. */
    int (*connect)(void *ctx);
    void *connect_ctx;
    /* A failing transport: every n-th guest-memory read vits makes fails
     * with -EIO (0: none); see vm_fail_reads. */
    unsigned fail_reads;
    uint32_t max_access; /* the ops table's max_access (0: no limit) */
};

enum trace_kind {
    TK_HEADER,
    TK_VCPUS,
    TK_ITS,
    TK_GEOMETRY,
    TK_MEM,
    TK_ITS_W,
    TK_ITS_R,
    TK_GICR_W,
    TK_GICR_R,
    TK_MSI,
    TK_ACK,
    TK_EXPECT_PENDING,
    TK_EXPECT_IDLE,
    TK_CMD_ERROR,
    TK_MIGRATE,
    TK_NR
};

/* What a replay saw. */
struct replay_result {
    uint64_t records[TK_NR];
    uint64_t commands;         /* processed by the ITS */
    uint64_t cmd_by_type[256]; /* commands the replayer fed, by number */
    uint64_t msi_delivered, msi_blocked;
    uint64_t acks_matched;
    uint64_t expects_held;
    uint64_t cmd_errors_seen, cmd_errors_announced;
    uint64_t read_differences;
    uint64_t mismatches;
    uint64_t violations; /* injector protocol */
    /* 0 ok, 1 mismatches, 2 a malformed trace or a setup failure,
     * 3 a record this replayer cannot carry out (a migration it cannot do). */
    int status;
};

/* Names of the record kinds, as they appear in traces. */
extern const char *const trace_kind_names[TK_NR];

/* Replay one trace (name is used in messages). Prints the report (every
 * mismatch with its line, then the totals) to opt->out. Returns the
 * status, also stored in res (res may be NULL). */
int replay_stream(FILE *in, const char *name, const struct replay_options *opt,
                  struct replay_result *res);
int replay_file(const char *path, const struct replay_options *opt, struct replay_result *res);

/* Strict number parsing, shared with the command line: decimal, or hex
 * with 0x; the whole token; no sign; no overflow. Returns 0 or -EINVAL. */
int parse_u64(const char *s, uint64_t *out);
int parse_u32(const char *s, uint32_t *out);

#endif
