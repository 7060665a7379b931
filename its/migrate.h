/* SPDX-License-Identifier: MIT */
/*
 * Internal interface of save, restore and reset (its/stage.c, its/abi.c,
 * its/snapshot.c, its/reset.c, its/uregs.c). Everything here is for the
 * writer (the domain lock held).
 *
 * A restore never changes live state until it knows it will succeed: it
 * reads its input (the guest's tables, or a snapshot) into a stage,
 * checking everything on the way; then allocates, still off to the side,
 * everything the new state needs (devices, ITT chunks, the device hash,
 * the LPI chunks, held by reservations); only then does it drop the old
 * state and install the new one, which can no longer fail. A malformed
 * input or an allocation failure leaves the ITS and the domain as they
 * were.
 */
#ifndef VITS_ITS_MIGRATE_H
#define VITS_ITS_MIGRATE_H

#include "its.h"

/* A collection: its ICID and target vCPU (LPI_NO_VCPU: not mapped, but
 * referenced by events). */
struct stg_coll {
    uint16_t icid;
    uint16_t vcpu;
};

/* An event and the state of its LPI. */
struct stg_event {
    uint32_t ev;
    uint32_t intid;
    uint16_t icid;
    uint16_t vcpu;   /* the LPI's target (LPI_NO_VCPU: none) */
    uint8_t prop;    /* cached property: priority | enable bit */
    uint8_t pending; /* 0 or 1 */
};

/* A device and its events: ev[first .. first + count). */
struct stg_dev {
    uint32_t devid;
    uint8_t bits;
    uint64_t itt;
    uint32_t first, count;
    struct its_device *built; /* prepared, not yet published */
};

struct its_stage {
    struct vits_its *its;
    struct stg_coll *coll;
    uint32_t nr_coll, cap_coll, nr_mapped_coll;
    struct stg_dev *dev;
    uint32_t nr_dev, cap_dev;
    struct stg_event *ev;
    uint32_t nr_ev, cap_ev;
    /* prepared by its_stage_prepare */
    struct its_devarray *arr;
    uint32_t nr_reserved; /* LPI chunk reservations held: events [0, nr_reserved) */
};

/* A set of INTIDs (one bit each, 2^lpi_id_bits), to find one staged twice. */
struct its_intid_set {
    uint8_t *bits;
    size_t bytes;
};
int its_intid_set_init(struct vits_domain *d, struct its_intid_set *set); /* 0 or -ENOMEM */
void its_intid_set_free(struct vits_domain *d, struct its_intid_set *set);
/* Add intid: 0, or 1 when it was in the set already. */
int its_intid_set_add(struct its_intid_set *set, uint32_t intid);

void its_stage_init(struct its_stage *s, struct vits_its *its);
/* Free the stage and whatever it prepared (the ITS is not touched). */
void its_stage_free(struct its_stage *s);
/* Stage a collection: 0, -ENOSPC (more mapped collections than the ITS's
 * max_collections), -ENOMEM. */
int its_stage_coll(struct its_stage *s, uint16_t icid, uint16_t vcpu);
/* After the last its_stage_coll: sort the collections by ICID. Returns 0,
 * or -EEXIST with *dup set when an ICID is there twice. */
int its_stage_colls_done(struct its_stage *s, uint16_t *dup);
/* The staged collection icid, or NULL (after its_stage_colls_done). */
const struct stg_coll *its_stage_find_coll(const struct its_stage *s, uint16_t icid);
/* Stage a device, then its events (they belong to the last device
 * staged): 0, -ENOSPC (beyond max_devices / max_events), -ENOMEM. */
int its_stage_dev(struct its_stage *s, uint32_t devid, uint8_t bits, uint64_t itt);
int its_stage_event(struct its_stage *s, const struct stg_event *e);
/* Allocate what installing the stage needs: 0 or -ENOMEM (then nothing
 * changed; its_stage_free releases what was allocated). */
int its_stage_prepare(struct its_stage *s);
/* Commit, first step: disable the ITS and drop its devices, events and
 * collections (their LPIs are unmapped, raised ones retracted). */
void its_stage_drop_live(struct vits_its *its);
/* Commit, second step, after its_stage_prepare and the drop: install the
 * staged collections, devices, events and LPIs. Cannot fail. */
void its_stage_install(struct its_stage *s);

/* Reset an ITS as KVM_DEV_ARM_ITS_CTRL_RESET does (its/reset.c). */
void its_reset_locked(struct vits_its *its);

/* The ITSes of a domain, sorted by frame base: fills its[] (room for
 * LPI_MAX_OWNERS) and returns how many (its/snapshot.c). */
unsigned its_domain_list(struct vits_domain *d, struct vits_its **its);

#endif /* VITS_ITS_MIGRATE_H */
