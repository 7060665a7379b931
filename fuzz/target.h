/* SPDX-License-Identifier: MIT */
/* The fuzz target's entry point, shared by the three builds. */
#ifndef VITS_FUZZ_TARGET_H
#define VITS_FUZZ_TARGET_H

#include <stddef.h>
#include <stdint.h>

/* Run one script (fuzz/script.h). Returns 0; a failed check aborts. */
int vits_fuzz_one(const uint8_t *data, size_t size);

#endif
