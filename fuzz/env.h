/* SPDX-License-Identifier: MIT */
/*
 * The fuzz target's environment: the VM around the engine. Guest RAM (a
 * 4 MiB window, everything outside it faults) with holes that make reads
 * or writes fail, an allocator that counts live bytes and can fail on
 * demand, and a vGIC injector that records what is raised and checks the
 * injector protocol as the engine calls it. It implements struct vits_ops
 * and never calls back into vits (the callbacks run under engine locks).
 *
 * Single-threaded: one environment per process, reset for each input.
 */
#ifndef VITS_FUZZ_ENV_H
#define VITS_FUZZ_ENV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vits.h"

#define ENV_MAX_HOLES 4
#define ENV_MAX_RAISED 256
#define ENV_MAX_WRITES 64

enum { ENV_HOLE_R = 1, ENV_HOLE_W = 2, ENV_HOLE_EIO = 4 };

struct env_hole {
    uint64_t start, end; /* [start, end) */
    uint8_t flags;       /* ENV_HOLE_*; 0: unused */
};

struct env_raised {
    uint32_t intid;
    uint16_t vcpu;
    uint8_t priority;
};

struct env_write {
    uint64_t gpa;
    size_t len;
};

struct env {
    struct env_hole holes[ENV_MAX_HOLES];

    /* allocator */
    size_t live_bytes, live_blocks;
    bool alloc_fail;      /* every allocation fails */
    long alloc_countdown; /* > 0: that many succeed, then one fails; -1: off */
    unsigned long alloc_failures;

    /* injector (the vGIC's list registers) */
    struct env_raised raised[ENV_MAX_RAISED];
    unsigned nr_raised;
    bool raise_fail; /* raise returns -EBUSY */
    uint32_t nr_vcpus;
    uint32_t lpi_id_bits;

    /* guest-memory writes the engine made, recorded while armed */
    bool log_writes;
    bool any_writes; /* writes anywhere are fine (saving tables) */
    struct env_write writes[ENV_MAX_WRITES];
    unsigned nr_writes;
    bool writes_overflow;

    bool verbose;
    struct vits_ops ops;
};

extern struct env fz_env;

/* Reset RAM, holes, faults and records; set up the ops table. */
void env_reset(uint32_t nr_vcpus, uint32_t lpi_id_bits, bool with_log);

/* Whether an access of len bytes at gpa succeeds: 0 or the negative errno
 * the memory callbacks return. Shared by the callbacks and the model. */
int env_access(uint64_t gpa, size_t len, bool write);
/* Raw RAM access for the script and the model: bytes outside RAM read as
 * zero and are not written. No fault applies. */
void env_peek(uint64_t gpa, void *buf, size_t len);
void env_poke(uint64_t gpa, const void *buf, size_t len);

/* Index of intid in the injector's raised list, or -1. */
int env_raised_find(uint32_t intid);

/* Abort with a message: an invariant failed (the fuzzers count a crash). */
#if defined(__GNUC__)
__attribute__((noreturn, format(printf, 1, 2)))
#endif
void fz_fail(const char *fmt, ...);

#endif
