/* SPDX-License-Identifier: MIT */
/*
 * Command-queue decoder: prints ITS commands (32 bytes each, four
 * little-endian words) with every field, and flags malformed ones:
 * unknown or GICv4 command numbers, reserved bits set, fields out of
 * range for the given geometry, a trailing partial command.
 */
#ifndef VITS_HARNESS_DECODE_H
#define VITS_HARNESS_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct decode_geometry {
    uint32_t devbits, eventbits, cidbits, lpibits; /* defaults 16, 16, 16, 16 */
    uint32_t vcpus;                                /* processor numbers allowed (PTA = 0) */
    bool pta;
};

void decode_geometry_init(struct decode_geometry *g);

struct decode_stats {
    uint64_t commands, malformed;
};

/* Decode len bytes (offsets printed from base_offset). Returns the
 * number of malformed commands. */
uint64_t decode_queue(const uint8_t *buf, size_t len, uint64_t base_offset,
                      const struct decode_geometry *g, FILE *out, struct decode_stats *st);

/* Decode one command into out (one line, no newline); returns whether it
 * is well-formed. */
bool decode_command(const uint64_t dw[4], const struct decode_geometry *g, char *out, size_t n);

enum decode_format { DECODE_AUTO, DECODE_BINARY, DECODE_HEX };

/*
 * Load a queue dump. Binary: the raw bytes. Hex text: `#` comments;
 * either every token is a 0x-prefixed 64-bit word (DW0, DW1, ... in
 * order) or the tokens are hex bytes, first byte first, as in a trace's
 * `mem` record. DECODE_AUTO picks hex when the file is printable text.
 * Returns 0, or -1 with a message naming the file and line in err.
 */
int decode_load(const char *path, enum decode_format fmt, uint8_t **buf, size_t *len, char *err,
                size_t errlen);

#endif
