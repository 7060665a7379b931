/* SPDX-License-Identifier: MIT */
/*
 * MSIs from several threads while the guest churns mappings through the
 * command queue. Checked afterwards, from logs the threads keep:
 *  - every MSI's result and every LPI it raised match a mapping of its
 *    (DeviceID, EventID) that held at some moment during the call;
 *  - every LPI raised by a command matches a mapping current during it;
 *  - per LPI, raises - retracts - acknowledges is 0 or 1 at the end (no
 *    LPI is ever handed out twice), and an outstanding one can be acked.
 * Built and run under ASan/UBSan and TSan by scripts/test.sh, twice: with
 * 8-event ITTs (kept inline in the device), and with "chunked" as its
 * argument, 512-event ITTs whose events 0 and 1 share a 64-event chunk
 * and the others have one each, so that DISCARDs free ITT chunks and
 * MAPTIs allocate them while MSIs read them.
 */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fakevm.h"

#define NVCPU 4u
#define NDEV 8u
#define NEV 8u
#define NINJ 3u
#define NCHURN 6000u
#define MAX_MSIS 400000u
#define BASE_INTID(d, e) (8192u + (d)*64u + (e))
#define ALT_INTID(d, e) (12288u + (d)*64u + (e))
#define NINTID 16384u

/* The layout under test: logical event e of a device is EventID
 * event_id(e) of an ITT of itt_size + 1 bits (main() sets chunked). */
static bool chunked;

static uint32_t event_id(unsigned e) { return chunked && e > 1 ? e * 64u : e; }

static uint32_t itt_size(void) { return chunked ? 8u : 2u; }

/* ---- the model of mappings: versions with epoch stamps ---- */

struct version {
    uint64_t start; /* odd epoch of the command that made it */
    uint32_t intid; /* 0: unmapped */
    uint32_t vcpu;
};

struct history {
    struct version *v;
    size_t n, cap;
};

static struct history hist[NDEV][NEV];
static uint32_t cur_icid[NDEV][NEV];
static uint32_t coll_target[NVCPU]; /* collection c -> vCPU */
static _Atomic uint64_t epoch;

static struct version *current(unsigned d, unsigned e) { return &hist[d][e].v[hist[d][e].n - 1]; }

static void add_version(unsigned d, unsigned e, uint32_t intid, uint32_t vcpu)
{
    struct history *h = &hist[d][e];
    if (h->n == h->cap) {
        h->cap = h->cap ? h->cap * 2 : 64;
        h->v = realloc(h->v, h->cap * sizeof(*h->v));
        assert_non_null(h->v);
    }
    h->v[h->n++] = (struct version){atomic_load(&epoch), intid, vcpu};
}

/* Whether (d, e) had a version matching (intid, vcpu) (or any mapped one
 * with vcpu UINT32_MAX; intid 0: any unmapped one) during [e0, e1]. */
static bool held(unsigned d, unsigned e, uint64_t e0, uint64_t e1, uint32_t intid, uint32_t vcpu,
                 bool any_mapped)
{
    struct history *h = &hist[d][e];
    for (size_t i = 0; i < h->n; i++) {
        uint64_t start = h->v[i].start;
        uint64_t end = i + 1 < h->n ? h->v[i + 1].start + 1 : UINT64_MAX;
        if (start > e1 || end < e0)
            continue;
        if (any_mapped ? h->v[i].intid != 0
                       : h->v[i].intid == intid && (vcpu == UINT32_MAX || h->v[i].vcpu == vcpu))
            return true;
    }
    return false;
}

/* ---- the injector: counters, and a log per thread ---- */

struct raise_rec {
    uint32_t vcpu, intid;
};

struct msi_rec {
    uint8_t d, e, rc, nraise;
    uint64_t e0, e1;
    struct raise_rec raise;
};

struct cmd_raise {
    uint64_t at; /* odd epoch of the command */
    struct raise_rec raise;
};

static _Thread_local struct msi_rec *in_call; /* set while a thread signals */
static _Thread_local bool in_churn;
static struct cmd_raise *churn_raises;
static size_t nchurn_raises;
static atomic_uint raises[NINTID], retracts[NINTID], acks[NINTID], last_vcpu[NINTID];
static atomic_uint stray;

/* raised LPIs waiting for the vCPU thread to acknowledge them */
static pthread_mutex_t qlock = PTHREAD_MUTEX_INITIALIZER;
static struct raise_rec queue[1u << 16];
static size_t qhead, qtail;
static atomic_bool stop_acks;

static int conc_raise(void *opaque, uint32_t vcpu, uint32_t intid, uint8_t prio)
{
    (void)opaque;
    (void)prio;
    atomic_fetch_add(&raises[intid], 1);
    atomic_store(&last_vcpu[intid], vcpu);
    if (in_call) {
        in_call->nraise++;
        in_call->raise = (struct raise_rec){vcpu, intid};
    } else if (in_churn) {
        churn_raises[nchurn_raises++] = (struct cmd_raise){atomic_load(&epoch), {vcpu, intid}};
    } else {
        atomic_fetch_add(&stray, 1);
    }
    pthread_mutex_lock(&qlock);
    if (qtail - qhead < sizeof(queue) / sizeof(queue[0]))
        queue[qtail++ % (sizeof(queue) / sizeof(queue[0]))] = (struct raise_rec){vcpu, intid};
    pthread_mutex_unlock(&qlock);
    return 0;
}

static void conc_retract(void *opaque, uint32_t vcpu, uint32_t intid)
{
    (void)opaque;
    (void)vcpu;
    atomic_fetch_add(&retracts[intid], 1);
}

static struct fakevm *fv;

static void *vcpu_thread(void *arg)
{
    (void)arg;
    for (;;) {
        struct raise_rec r;
        bool have = false;
        pthread_mutex_lock(&qlock);
        if (qhead != qtail) {
            r = queue[qhead++ % (sizeof(queue) / sizeof(queue[0]))];
            have = true;
        }
        pthread_mutex_unlock(&qlock);
        if (have) {
            if (vits_lpi_ack(fv->d, r.vcpu, r.intid) == 0)
                atomic_fetch_add(&acks[r.intid], 1);
        } else if (atomic_load(&stop_acks)) {
            return NULL;
        } else {
            sched_yield();
        }
    }
}

/* ---- injector threads ---- */

struct injector {
    pthread_t tid;
    unsigned index;
    uint64_t rng;
    struct vits_route *routes[NDEV][NEV];
    struct msi_rec *log;
    size_t n;
};

static atomic_bool stop_msis;
static atomic_uint signalled; /* MSIs made, all injectors */

static uint64_t rng_next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void *inject_thread(void *arg)
{
    struct injector *in = arg;
    while (!atomic_load(&stop_msis) && in->n < MAX_MSIS) {
        uint64_t r = rng_next(&in->rng);
        unsigned d = (unsigned)(r % NDEV), e = (unsigned)(r >> 8) % NEV;
        struct msi_rec *rec = &in->log[in->n++];
        *rec = (struct msi_rec){.d = (uint8_t)d, .e = (uint8_t)e};
        rec->e0 = atomic_load(&epoch);
        in_call = rec;
        int rc;
        switch ((r >> 16) % 4) {
        case 0:
            rc = vits_its_signal_msi(fv->its, d, event_id(e));
            break;
        case 1: {
            struct vits_msi m = {FV_ITS_BASE + VITS_GITS_TRANSLATER, event_id(e), d,
                                 VITS_MSI_VALID_DEVID};
            rc = vits_domain_signal_msi(fv->d, &m);
            break;
        }
        case 2:
            rc = vits_route_fire(in->routes[d][e]);
            break;
        default:
            rc = vits_its_mmio_write_devid(fv->its, VITS_GITS_TRANSLATER, 4, event_id(e), d) == 0
                     ? 2
                     : -1;
            break;
        }
        in_call = NULL;
        rec->e1 = atomic_load(&epoch);
        atomic_fetch_add_explicit(&signalled, 1, memory_order_relaxed);
        assert_true(rc >= 0);
        rec->rc = (uint8_t)rc;
    }
    return NULL;
}

/* ---- the guest: churn through the command queue ---- */

static void command(const uint64_t dw[4])
{
    atomic_fetch_add(&epoch, 1); /* odd: the change may be visible */
    fv_submit(fv, dw);
}

static void command_done(void) { atomic_fetch_add(&epoch, 1); /* even: it is complete */ }

static void map_event(unsigned d, unsigned e, uint32_t intid, uint32_t icid)
{
    uint64_t dw[4];
    fv_cmd_mapti(dw, d, event_id(e), intid, (uint16_t)icid);
    command(dw);
    cur_icid[d][e] = icid;
    add_version(d, e, intid, coll_target[icid]);
    command_done();
}

static void churn(uint64_t seed)
{
    uint64_t rng = seed;
    uint64_t dw[4];
    in_churn = true;
    for (unsigned i = 0; i < NCHURN; i++) {
        uint64_t r = rng_next(&rng);
        unsigned d = (unsigned)(r % NDEV), e = (unsigned)(r >> 8) % NEV;
        uint32_t icid = (uint32_t)(r >> 16) % NVCPU;
        struct version *v = current(d, e);
        switch ((r >> 24) % 8) {
        case 0: /* MOVI */
            if (!v->intid)
                break;
            fv_cmd_movi(dw, d, event_id(e), (uint16_t)icid);
            command(dw);
            cur_icid[d][e] = icid;
            add_version(d, e, v->intid, coll_target[icid]);
            command_done();
            break;
        case 1: /* DISCARD */
            if (!v->intid)
                break;
            fv_cmd_dev_ev(dw, 0x0f, d, event_id(e));
            command(dw);
            add_version(d, e, 0, 0);
            command_done();
            break;
        case 2: /* MAPTI: (re)map to the base or the alternative LPI */
            map_event(d, e, (r >> 32) & 1 ? ALT_INTID(d, e) : BASE_INTID(d, e), icid);
            break;
        case 3: /* MAPC: re-target a collection */ {
            uint32_t vcpu = (uint32_t)(r >> 32) % NVCPU;
            fv_cmd_mapc(dw, (uint16_t)icid, vcpu, true);
            command(dw);
            coll_target[icid] = vcpu;
            for (unsigned dd = 0; dd < NDEV; dd++)
                for (unsigned ee = 0; ee < NEV; ee++)
                    if (current(dd, ee)->intid && cur_icid[dd][ee] == icid &&
                        current(dd, ee)->vcpu != vcpu)
                        add_version(dd, ee, current(dd, ee)->intid, vcpu);
            command_done();
            break;
        }
        case 4: /* MOVALL a -> b: LPIs targeting a now target b */ {
            uint32_t a = icid, b = (uint32_t)(r >> 32) % NVCPU;
            fv_cmd_movall(dw, a, b);
            command(dw);
            for (unsigned dd = 0; dd < NDEV && a != b; dd++)
                for (unsigned ee = 0; ee < NEV; ee++)
                    if (current(dd, ee)->intid && current(dd, ee)->vcpu == a)
                        add_version(dd, ee, current(dd, ee)->intid, b);
            command_done();
            break;
        }
        case 5: /* device hot-unplug and re-plug */
            if ((r >> 32) % 4)
                break;
            fv_cmd_mapd(dw, d, itt_size(), FV_ITT(d), false);
            command(dw);
            for (unsigned ee = 0; ee < NEV; ee++)
                if (current(d, ee)->intid)
                    add_version(d, ee, 0, 0);
            command_done();
            fv_cmd_mapd(dw, d, itt_size(), FV_ITT(d), true);
            command(dw);
            command_done();
            for (unsigned ee = 0; ee < NEV; ee++)
                map_event(d, ee, BASE_INTID(d, ee), ee % NVCPU);
            break;
        case 6: /* other devices come and go: the device hash grows (its
                 * outgrown arrays retired while MSIs read them) and
                 * moves slots on every removal */
            if ((r >> 32) % 16)
                break;
            for (unsigned k = 0; k < 8u << ((r >> 40) % 4); k++) {
                fv_cmd_mapd(dw, 1000 + k * 3, 2, FV_ITT(NDEV + k % 8), true);
                command(dw);
                command_done();
            }
            for (unsigned k = 0; k < 8u << ((r >> 40) % 4); k++) {
                fv_cmd_mapd(dw, 1000 + k * 3, 2, FV_ITT(NDEV + k % 8), false);
                command(dw);
                command_done();
            }
            break;
        default: /* INT */
            if (!v->intid)
                break;
            fv_cmd_dev_ev(dw, 0x03, d, event_id(e));
            command(dw);
            command_done();
            break;
        }
    }
    in_churn = false;
}

static void msis_race_mapping_churn(void **state)
{
    (void)state;
    fv = fv_new(NVCPU);
    fv->ops.raise = conc_raise;
    fv->ops.retract = conc_retract;
    fv_boot(fv);
    churn_raises = calloc(NCHURN * NDEV * NEV, sizeof(*churn_raises));
    assert_non_null(churn_raises);
    for (uint32_t c = 0; c < NVCPU; c++) {
        fv_map_collection(fv, (uint16_t)c, c);
        coll_target[c] = c;
    }
    uint64_t dw[4];
    for (unsigned d = 0; d < NDEV; d++) {
        fv_cmd_mapd(dw, d, itt_size(), FV_ITT(d), true);
        fv_submit(fv, dw);
        for (unsigned e = 0; e < NEV; e++)
            map_event(d, e, BASE_INTID(d, e), e % NVCPU);
    }
    assert_int_equal(fv_error_count(fv), 0);

    pthread_t vcpu;
    assert_int_equal(pthread_create(&vcpu, NULL, vcpu_thread, NULL), 0);
    static struct injector inj[NINJ];
    for (unsigned i = 0; i < NINJ; i++) {
        inj[i].index = i;
        inj[i].rng = 0x9e3779b97f4a7c15ull * (i + 1);
        inj[i].log = calloc(MAX_MSIS, sizeof(*inj[i].log));
        assert_non_null(inj[i].log);
        for (unsigned d = 0; d < NDEV; d++)
            for (unsigned e = 0; e < NEV; e++)
                assert_int_equal(vits_route_create(fv->its, d, event_id(e), &inj[i].routes[d][e]),
                                 0);
        assert_int_equal(pthread_create(&inj[i].tid, NULL, inject_thread, &inj[i]), 0);
    }
    churn(0xdeadbeefcafef00dull);
    /* Let the injectors get some work done even on a loaded machine. */
    for (int ms = 0; ms < 60000 && atomic_load(&signalled) < 3000; ms++) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    atomic_store(&stop_msis, true);
    for (unsigned i = 0; i < NINJ; i++)
        assert_int_equal(pthread_join(inj[i].tid, NULL), 0);
    atomic_store(&stop_acks, true);
    assert_int_equal(pthread_join(vcpu, NULL), 0);
    assert_int_equal(fv_error_count(fv), 0);

    /* every MSI and what it raised matched a mapping of its time */
    size_t total = 0, delivered = 0;
    for (unsigned i = 0; i < NINJ; i++) {
        for (size_t k = 0; k < inj[i].n; k++) {
            struct msi_rec *m = &inj[i].log[k];
            total++;
            assert_true(m->nraise <= 1);
            if (m->rc == 1) {
                delivered++;
                assert_true(held(m->d, m->e, m->e0, m->e1, 0, 0, true));
            } else if (m->rc == 0) {
                assert_true(held(m->d, m->e, m->e0, m->e1, 0, 0, false));
                assert_int_equal(m->nraise, 0);
            }
            if (m->nraise)
                assert_true(held(m->d, m->e, m->e0, m->e1, m->raise.intid, m->raise.vcpu, false));
        }
    }
    /* every LPI a command raised matched a mapping current during it */
    for (size_t k = 0; k < nchurn_raises; k++) {
        struct cmd_raise *c = &churn_raises[k];
        uint32_t off = c->raise.intid - (c->raise.intid >= 12288 ? 12288 : 8192);
        assert_true(
            held(off / 64, off % 64, c->at, c->at + 1, c->raise.intid, c->raise.vcpu, false));
    }
    assert_int_equal(atomic_load(&stray), 0);
    /* no LPI handed out twice; what is outstanding can be acknowledged */
    for (uint32_t id = 8192; id < NINTID; id++) {
        unsigned out =
            atomic_load(&raises[id]) - atomic_load(&retracts[id]) - atomic_load(&acks[id]);
        assert_true(out <= 1);
        if (out)
            assert_int_equal(vits_lpi_ack(fv->d, atomic_load(&last_vcpu[id]), id), 0);
    }
    assert_true(total > 1000);
    assert_true(delivered > 100);
    print_message("%zu MSIs (%zu delivered), %u commands\n", total, delivered, NCHURN);

    for (unsigned i = 0; i < NINJ; i++) {
        for (unsigned d = 0; d < NDEV; d++)
            for (unsigned e = 0; e < NEV; e++)
                vits_route_destroy(inj[i].routes[d][e]);
        free(inj[i].log);
    }
    for (unsigned d = 0; d < NDEV; d++)
        for (unsigned e = 0; e < NEV; e++)
            free(hist[d][e].v);
    free(churn_raises);
    fv_free(fv);
}

int main(int argc, char **argv)
{
    chunked = argc > 1 && !strcmp(argv[1], "chunked");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(msis_race_mapping_churn),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
