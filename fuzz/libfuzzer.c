/* SPDX-License-Identifier: MIT */
/* libFuzzer entry point: clang -fsanitize=fuzzer (see fuzz/build.sh). */
#include "target.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return vits_fuzz_one(data, size); }
