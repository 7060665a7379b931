/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the save/restore tests (test_migrate*.c,
 * test_snapshot.c): KVM-style save and restore of a fake VM through the
 * public API, snapshots, clones, a tracker of what the injector holds
 * raised, and a generator of random guest states. Header-only (static
 * inline) so that each test executable takes what it uses.
 */
#ifndef VITS_TESTS_MIGRATE_UTIL_H
#define VITS_TESTS_MIGRATE_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
/* cmocka needs the above first */
#include <cmocka.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fakevm.h"

#define MIG_MAX_VCPUS 8u
#define MIG_LPIS 65536u /* 16 LPI bits, the default */

/* Register offsets */
#define MIG_CTLR 0x0u
#define MIG_IIDR 0x4u
#define MIG_TYPER 0x8u
#define MIG_CBASER 0x80u
#define MIG_CWRITER 0x88u
#define MIG_CREADR 0x90u
#define MIG_BASER(n) (0x100u + 8u * (n))

/* What a KVM-based VMM saves besides guest memory. */
struct mig_saved {
    struct vits_redist_regs rd[MIG_MAX_VCPUS];
    uint64_t iidr, cbaser, creadr, cwriter, baser[8], ctlr;
};

static inline void mig_kvm_save(struct fakevm *fv, struct mig_saved *s)
{
    assert_true(fv->nr_vcpus <= MIG_MAX_VCPUS);
    memset(s, 0, sizeof(*s));
    for (uint32_t v = 0; v < fv->nr_vcpus; v++)
        assert_int_equal(vits_redist_get(fv->d, v, &s->rd[v]), 0);
    assert_int_equal(vits_its_save_tables(fv->its), 0);
    assert_int_equal(vits_its_reg_get(fv->its, MIG_IIDR, &s->iidr), 0);
    assert_int_equal(vits_its_reg_get(fv->its, MIG_CBASER, &s->cbaser), 0);
    assert_int_equal(vits_its_reg_get(fv->its, MIG_CREADR, &s->creadr), 0);
    assert_int_equal(vits_its_reg_get(fv->its, MIG_CWRITER, &s->cwriter), 0);
    for (unsigned n = 0; n < 8; n++)
        assert_int_equal(vits_its_reg_get(fv->its, MIG_BASER(n), &s->baser[n]), 0);
    assert_int_equal(vits_its_reg_get(fv->its, MIG_CTLR, &s->ctlr), 0);
}

/* KVM's documented order: redistributors, GITS_IIDR, GITS_CBASER, the
 * other registers, the tables, GITS_CTLR. */
static inline void mig_kvm_restore(struct fakevm *fv, const struct mig_saved *s)
{
    for (uint32_t v = 0; v < fv->nr_vcpus; v++)
        assert_int_equal(vits_redist_set(fv->d, v, &s->rd[v]), 0);
    assert_int_equal(vits_its_reg_set(fv->its, MIG_IIDR, s->iidr), 0);
    assert_int_equal(vits_its_reg_set(fv->its, MIG_CBASER, s->cbaser), 0);
    assert_int_equal(vits_its_reg_set(fv->its, MIG_CREADR, s->creadr), 0);
    assert_int_equal(vits_its_reg_set(fv->its, MIG_CWRITER, s->cwriter), 0);
    for (unsigned n = 0; n < 8; n++)
        assert_int_equal(vits_its_reg_set(fv->its, MIG_BASER(n), s->baser[n]), 0);
    assert_int_equal(vits_its_restore_tables(fv->its), 0);
    assert_int_equal(vits_its_reg_set(fv->its, MIG_CTLR, s->ctlr), 0);
}

/* A snapshot of fv's domain, malloc'd; *len its size. */
static inline uint8_t *mig_snapshot(struct fakevm *fv, size_t *len)
{
    assert_int_equal(vits_domain_save_snapshot(fv->d, NULL, 0, len), -ENOSPC);
    uint8_t *buf = malloc(*len);
    assert_non_null(buf);
    size_t got = 0;
    assert_int_equal(vits_domain_save_snapshot(fv->d, buf, *len, &got), 0);
    assert_int_equal(got, *len);
    return buf;
}

/* Whether two domains' snapshots are the same bytes. */
static inline bool mig_same_state(struct fakevm *a, struct fakevm *b)
{
    size_t la, lb;
    uint8_t *sa = mig_snapshot(a, &la), *sb = mig_snapshot(b, &lb);
    bool same = la == lb && !memcmp(sa, sb, la);
    free(sa);
    free(sb);
    return same;
}

/* A fresh fake VM with the same configuration (domain defaults of
 * fv_new, the ITS config given), guest RAM copied. */
static inline struct fakevm *mig_clone(struct fakevm *src, const struct vits_its_config *cfg)
{
    struct fakevm *fv = fv_new(src->nr_vcpus);
    fv_add_its(fv, cfg);
    fv_copy_ram(fv, src);
    fv->cwriter = src->cwriter;
    return fv;
}

/* ---- what the injector holds raised, per LPI ---- */

struct mig_raised {
    uint16_t vcpu[MIG_LPIS]; /* vCPU + 1, 0: not raised */
};

/* Fold fv's injector record into r and clear the record: a raise marks
 * the LPI raised on its vCPU, a retract clears it (and must come from
 * the vCPU it was raised on; a raise must not repeat). */
static inline void mig_fold(struct fakevm *fv, struct mig_raised *r)
{
    for (unsigned i = 0; i < fv->nr_events; i++) {
        const struct fv_event *e = &fv->events[i];
        assert_true(e->intid < MIG_LPIS);
        if (e->kind == FV_RAISE) {
            assert_int_equal(r->vcpu[e->intid], 0);
            r->vcpu[e->intid] = (uint16_t)(e->vcpu + 1);
        } else {
            assert_int_equal(r->vcpu[e->intid], e->vcpu + 1);
            r->vcpu[e->intid] = 0;
        }
    }
    fv_clear_events(fv);
}

/* Acknowledge intid where r says it is raised; returns vits' answer. */
static inline int mig_ack(struct fakevm *fv, struct mig_raised *r, uint32_t intid)
{
    mig_fold(fv, r);
    if (!r->vcpu[intid])
        return -ENOENT;
    int rc = vits_lpi_ack(fv->d, r->vcpu[intid] - 1u, intid);
    if (rc == 0)
        r->vcpu[intid] = 0;
    return rc;
}

/* ---- a random guest state ---- */

struct mig_rng {
    uint64_t s;
};

static inline uint32_t mig_rnd(struct mig_rng *g, uint32_t n)
{
    g->s ^= g->s << 13;
    g->s ^= g->s >> 7;
    g->s ^= g->s << 17;
    return n ? (uint32_t)(g->s % n) : 0;
}

#define MIG_ITT(i) (0x50000000ull + (uint64_t)(i)*0x10000) /* up to 13 event bits */
#define MIG_DEVS 64u

/* A device the generator made: its DeviceID and ITT size. */
struct mig_dev {
    uint32_t devid, bits;
    bool mapped;
};

struct mig_state {
    struct mig_rng rng;
    uint32_t ncoll; /* collections 0 .. ncoll-1 used */
    struct mig_dev dev[MIG_DEVS];
    uint32_t ndev;
    uint32_t next_intid; /* LPIs handed out from here (some reused) */
    bool kvm_exact;      /* only what the table ABI carries exactly */
};

/* One random guest action on fv (a command, an MSI, a property change,
 * an acknowledgement). With kvm_exact: no MOVALL, no MAPC V=0 of a
 * collection with pending LPIs, property changes always followed by an
 * INV: the state the table ABI carries in full. */
static inline void mig_step(struct fakevm *fv, struct mig_state *st, struct mig_raised *r)
{
    struct mig_rng *g = &st->rng;
    uint64_t dw[4];
    uint32_t k = mig_rnd(g, 100);
    struct mig_dev *dev = &st->dev[mig_rnd(g, st->ndev)];
    /* mostly the first few events, so that commands and MSIs meet
     * mapped ones */
    uint32_t few = (1u << dev->bits) < 4 ? 1u << dev->bits : 4;
    uint32_t ev = mig_rnd(g, 4) ? mig_rnd(g, few) : mig_rnd(g, 1u << dev->bits);
    if (k < 3 || (k < 40 && !dev->mapped)) { /* MAPD: map, re-map or unmap */
        bool v = !dev->mapped || mig_rnd(g, 2);
        fv_cmd_mapd(dw, dev->devid, dev->bits - 1, MIG_ITT(dev - st->dev), v);
        fv_submit(fv, dw);
        dev->mapped = v;
    } else if (k < 38) { /* MAPTI to an LPI of a small pool, so that LPIs get reused */
        uint32_t intid = 8192 + mig_rnd(g, st->next_intid - 8192);
        /* ICID ncoll is never mapped (not under kvm_exact: the ABI reads
         * such an LPI's property afresh, while vits keeps what it read) */
        fv_mapti(fv, dev->devid, ev, intid,
                 (uint16_t)mig_rnd(g, st->ncoll + (st->kvm_exact ? 0 : 1)));
    } else if (k < 42) {
        fv_cmd_dev_ev(dw, 0x0f, dev->devid, ev); /* DISCARD */
        fv_submit(fv, dw);
    } else if (k < 48) {
        fv_cmd_movi(dw, dev->devid, ev, (uint16_t)mig_rnd(g, st->ncoll));
        fv_submit(fv, dw);
    } else if (k < 52) { /* MAPC: re-target, or unmap when allowed */
        uint16_t icid = (uint16_t)mig_rnd(g, st->ncoll);
        bool v = st->kvm_exact || mig_rnd(g, 3) != 0;
        fv_mapc(fv, icid, mig_rnd(g, fv->nr_vcpus), v);
    } else if (k < 66) {
        fv_cmd_dev_ev(dw, 0x03, dev->devid, ev); /* INT */
        fv_submit(fv, dw);
    } else if (k < 68) {
        fv_cmd_dev_ev(dw, 0x04, dev->devid, ev); /* CLEAR */
        fv_submit(fv, dw);
    } else if (k < 73) { /* a property change, and mostly an INV */
        uint32_t intid = 8192 + mig_rnd(g, st->next_intid - 8192);
        fv_set_prop(fv, intid, (uint8_t)(mig_rnd(g, 64) << 2 | 2 | mig_rnd(g, 2)));
        if (st->kvm_exact) { /* every cached property up to date */
            for (uint32_t c = 0; c < st->ncoll; c++) {
                fv_cmd_invall(dw, (uint16_t)c);
                fv_submit(fv, dw);
            }
        } else if (mig_rnd(g, 4)) {
            fv_cmd_dev_ev(dw, 0x0c, dev->devid, ev); /* INV (of some event) */
            fv_submit(fv, dw);
            fv_cmd_invall(dw, (uint16_t)mig_rnd(g, st->ncoll));
            fv_submit(fv, dw);
        }
    } else if (k < 75 && !st->kvm_exact) {
        fv_cmd_movall(dw, mig_rnd(g, fv->nr_vcpus), mig_rnd(g, fv->nr_vcpus));
        fv_submit(fv, dw);
    } else if (k < 97) {
        vits_its_signal_msi(fv->its, dev->devid, ev);
    } else {
        mig_fold(fv, r);
        for (uint32_t i = 8192, n = 0; i < st->next_intid && n < 2; i++)
            if (r->vcpu[i] && mig_rnd(g, 2))
                n += mig_ack(fv, r, i) == 0;
    }
    mig_fold(fv, r);
}

/* A state after nsteps random actions on a booted fv: ncoll collections
 * (and, unless kvm_exact, ICID ncoll referenced but never mapped), ndev
 * devices. */
static inline void mig_build(struct fakevm *fv, struct mig_state *st, struct mig_raised *r,
                             uint64_t seed, uint32_t ncoll, uint32_t ndev, uint32_t nsteps,
                             bool kvm_exact)
{
    memset(st, 0, sizeof(*st));
    st->kvm_exact = kvm_exact;
    st->rng.s = seed * 0x9e3779b97f4a7c15ull + 1;
    st->ncoll = ncoll;
    st->ndev = ndev < MIG_DEVS ? ndev : MIG_DEVS;
    st->next_intid = 8192 + 24 * st->ndev;
    for (uint32_t c = 0; c < ncoll; c++)
        fv_mapc(fv, (uint16_t)c, mig_rnd(&st->rng, fv->nr_vcpus), true);
    for (uint32_t i = 0; i < st->ndev; i++) {
        struct mig_dev *dev = &st->dev[i];
        dev->devid = i * 37 + mig_rnd(&st->rng, 30);
        dev->bits = 1 + mig_rnd(&st->rng, 6);
        uint64_t dw[4];
        fv_cmd_mapd(dw, dev->devid, dev->bits - 1, MIG_ITT(i), true);
        fv_submit(fv, dw);
        dev->mapped = true;
    }
    for (uint32_t i = 0; i < nsteps; i++)
        mig_step(fv, st, r);
}

#endif /* VITS_TESTS_MIGRATE_UTIL_H */
