/* SPDX-License-Identifier: MIT */
/*
 * Scripted guest scenarios run by the driver model, single-threaded and
 * deterministic, optionally recorded as vits-traces: this is how the
 * traces under harness/traces/ are made (`vits-sim record NAME FILE`).
 */
#ifndef VITS_HARNESS_SCENARIO_H
#define VITS_HARNESS_SCENARIO_H

#include <stdint.h>
#include <stdio.h>

struct scenario_result {
    uint64_t msis, blocked, acks, cmd_errors;
    uint64_t violations;    /* injector protocol */
    uint64_t checks_failed; /* the scenario's own expectations, host side */
    char first_failure[200];
};

/* Names, NULL-terminated: boot, affinity, hotplug, unplug, props, errors. */
extern const char *const scenario_names[];
/* One line describing a scenario, or NULL for an unknown name. */
const char *scenario_description(const char *name);

/* Run scenario name; record it to rec when not NULL. Returns 0 when the
 * scenario ran and every check held, 1 when a check failed, -EINVAL for
 * an unknown name, another negative errno when the VM or driver failed. */
int scenario_run(const char *name, FILE *rec, struct scenario_result *res);

#endif
