/* SPDX-License-Identifier: MIT */
/*
 * The fuzz target's model of the engine: a small, independent, slow and
 * obvious rewrite of what vits.h and docs/behaviour.md promise, written
 * from the architecture and the documentation, not from the engine's
 * code. It keeps flat arrays searched linearly (the configured limits
 * keep them small) and predicts every observable result: register reads,
 * command errors, CREADR, pending and raised state of every LPI, MSI
 * results, acknowledges, pending-table contents.
 *
 * Each m_* call is made BEFORE the matching engine call, against the
 * same guest memory. Where the documentation leaves the outcome open (a
 * pending table that a fault makes partly unreadable: how far a walk got
 * depends on how the engine splits it), the model says what is allowed
 * and the target checks the engine stays within it.
 */
#ifndef VITS_FUZZ_MODEL_H
#define VITS_FUZZ_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "script.h"
#include "vits.h"

#define M_NO_VCPU 0xffffu
#define M_MAX_DEV 16 /* max_devices is at most this */
#define M_MAX_EV 48  /* max_events */
#define M_MAX_COLL 8 /* max_collections */
#define M_MAX_LPIS (FZ_MAX_ITS * M_MAX_EV)

struct m_dev {
    bool used;
    uint32_t devid;
    uint8_t bits; /* the ITT holds 2^bits events */
    uint64_t itt; /* its guest address (where a table save writes it) */
};

struct m_coll {
    bool used;
    uint16_t icid;
    uint16_t vcpu;
};

struct m_its {
    bool live;
    uint32_t gen; /* which creation this is, for routes */
    struct vits_its_config cfg;
    bool enabled, stalled;
    uint64_t cbaser, cwriter, creadr;
    uint64_t baser[8];
    struct m_dev dev[M_MAX_DEV];
    struct m_coll coll[M_MAX_COLL];
    uint64_t commands, errors;
    struct vits_cmd_error last;
};

/* One mapped event and its LPI (vits keeps one ITTE per LPI). */
struct m_lpi {
    bool used;
    uint32_t intid;
    uint8_t owner; /* ITS slot */
    uint32_t devid, ev;
    uint16_t icid;
    uint16_t vcpu; /* M_NO_VCPU: collection unmapped */
    uint8_t prio;
    bool enabled, pending, raised;
};

struct m_rd {
    uint64_t propbaser, pendbaser;
    bool enabled;
};

struct m_route {
    bool live;
    int slot;
    uint32_t gen;
    uint32_t devid, ev;
};

struct model {
    struct vits_domain_config dcfg;
    struct m_rd rd[FZ_MAX_VCPUS];
    struct m_its its[FZ_MAX_ITS];
    struct m_lpi lpi[M_MAX_LPIS];
    struct m_route route[FZ_MAX_ROUTES];
    uint32_t next_gen;
    uint64_t commands_run; /* by this input, for the time budget */

    /* LPIs whose pending bit a faulty pending-table load may or may not
     * have taken: the target settles them from the engine's state. */
    uint32_t unsure[M_MAX_LPIS];
    unsigned nr_unsure;
};

extern struct model fz_model;

/* A fresh domain: no ITS, redistributors at reset. */
void m_reset(const struct vits_domain_config *dcfg);

/* ITS lifetime. m_its_create_rc predicts vits_its_create's result apart
 * from allocation failures (0, -EINVAL, -EEXIST); m_its_add records a
 * created one. */
int m_its_create_rc(const struct vits_its_config *cfg);
void m_its_add(unsigned slot, const struct vits_its_config *cfg);
void m_its_destroy(unsigned slot);

/* Predicted results of the public calls; *exact says whether *val is
 * predicted exactly (ID registers are only partly). */
int m_its_read(unsigned slot, uint64_t off, unsigned size, uint64_t *val, bool *exact);
int m_its_write(unsigned slot, uint64_t off, unsigned size, uint64_t val);
int m_gicr_read(uint32_t vcpu, uint64_t off, unsigned size, uint64_t *val);
int m_gicr_write(uint32_t vcpu, uint64_t off, unsigned size, uint64_t val);
int m_signal(unsigned slot, uint32_t devid, uint32_t ev);
int m_domain_signal(const struct vits_msi *msi);
int m_ack(uint32_t vcpu, uint32_t intid);
/* 0, or M_UNSURE: a fault touches a table, so 0 or a negative errno. */
int m_sync_pending(void);
#define M_UNSURE 1
int m_lpi_state(uint32_t intid, uint32_t *vcpu);
int m_route_fire(unsigned idx);
#ifdef VITS_IOREQ_READ
/* vits_ioreq_serve: the result, and *data as the request leaves it
 * (*exact: predicted exactly, see m_its_read). *ctlr_vcpu: the vCPU
 * whose GICR_CTLR a write reaches, else -1. */
int m_ioreq(const struct vits_ioreq *r, uint64_t *data, bool *exact, int *ctlr_vcpu);
#endif

/* A restore of the domain's own snapshot: the state stays, raised LPIs
 * are retracted and the deliverable ones raised again. */
void m_reraise_all(void);
/* vits_its_reset and vits_domain_reset (vits.h). */
void m_its_reset(unsigned slot);
void m_domain_reset(void);
/* An LPI restored from KVM's tables: as o was, now targeting vcpu, its
 * property read afresh, not pending (m_settle says). */
void m_restore_lpi(const struct m_lpi *o, uint16_t vcpu);

/* Whether [gpa, gpa + len) touches a table the ITS in slot saves
 * (device table, level-2 pages, collection table, ITTs). */
bool m_its_tables_touch(unsigned slot, uint64_t gpa, uint64_t len);

/* The LPI record of intid, or NULL. */
struct m_lpi *m_lpi_find(uint32_t intid);
/* Queue size in bytes of an ITS. */
uint64_t m_queue_size(const struct m_its *its);
/*
 * The part of vcpu's pending table that a write-back covers: from INTID
 * 8192 to 2^min(PROPBASER.IDbits + 1, lpi_id_bits). Returns false when
 * there is none (no table, or fewer than 14 ID bits). *sure: the whole
 * part can be read and written.
 */
bool m_pending_part(uint32_t vcpu, bool store, uint64_t *start, uint64_t *len, bool *sure);
/* Settle an unsure LPI (see nr_unsure) with the engine's pending state. */
void m_settle(uint32_t intid, bool pending);

#endif
