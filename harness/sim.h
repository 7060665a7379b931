/* SPDX-License-Identifier: MIT */
/*
 * The simulation behind `vits-sim simulate`: a VM booted by the driver
 * model, device threads storming MSIs, vCPU threads taking LPIs, and the
 * guest thread changing affinities, taking CPUs offline and online,
 * unplugging and re-plugging devices and changing priorities meanwhile.
 * At the end every MSI must be accounted for. docs/harness.md states the
 * checks precisely; in short, per LPI:
 *
 *  - raise: the vCPU vits raises an LPI on must be the one the driver's
 *    mapping names at that instant (during a MOVI's command batch, the
 *    old or the new one);
 *  - the injector protocol holds (see vm.h);
 *  - never more deliveries than MSIs signalled;
 *  - an MSI that vits accepted is followed by a delivery: the LPI's
 *    delivery count at the end exceeds the count read before the MSI;
 *  - no MSI to a mapped vector is blocked; nothing stays pending at the
 *    end; vits' routing agrees with the driver's.
 * The difference between MSIs accepted and deliveries is the number of
 * MSIs coalesced into an LPI already pending, as the architecture allows.
 */
#ifndef VITS_HARNESS_SIM_H
#define VITS_HARNESS_SIM_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct sim_options {
    uint32_t vcpus, devices, vectors;
    uint64_t msis;
    /* Guest actions per 1000 MSIs. */
    double affinity_rate, hotplug_rate, unplug_rate, prop_rate;
    uint64_t seed;
    uint32_t threads;   /* device threads */
    uint32_t burst_pct; /* % of MSIs sent while the vector's LPI is still pending */
    int progress;       /* 1 on, 0 off, -1 when stderr is a terminal */
    bool two_level;     /* ask for a DeviceID space that needs a two-level table */
    /* platform (from --dtb), 0 for defaults */
    uint64_t its_base, redist_base;
    FILE *out; /* the summary (stdout when NULL) */
    bool verbose;
};

void sim_options_init(struct sim_options *o);

struct sim_result {
    uint64_t sent, accepted, blocked, delivered, coalesced;
    uint64_t violations;
    double seconds;
};

/* Run; prints the summary. Returns 0 when there was no violation, 1
 * when there were, 2 when the simulation could not run. */
int sim_run(const struct sim_options *o, struct sim_result *res);

#endif
