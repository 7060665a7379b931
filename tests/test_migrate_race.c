/* SPDX-License-Identifier: MIT */
/*
 * Restore and reset are writers: MSIs (every entry point, prepared routes
 * included) and acknowledgements may race them from other threads, as
 * they race commands. This checks that they stay safe (run under TSan by
 * scripts/test.sh) and correct: while the main thread switches the
 * domain between two states through snapshots and the table ABI, resets
 * it and builds a state again with commands, every LPI raised or
 * retracted belongs to one of the states, no MSI call fails, and once the
 * MSIs stop, the last state restored is exactly what translates.
 *
 * The fake VM of the other tests records from one thread only, so this
 * test has an embedding of its own: flat guest RAM and a thread-safe
 * injector.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vits.h"

#define RAM_BASE 0x40000000ull
#define RAM_SIZE (4u << 20)
#define PROP (RAM_BASE + 0x000000)
#define PEND(v) (RAM_BASE + 0x100000 + (uint64_t)(v)*0x10000)
#define DEVTAB (RAM_BASE + 0x200000)
#define COLLTAB (RAM_BASE + 0x210000)
#define QUEUE (RAM_BASE + 0x220000)
#define ITT(d) (RAM_BASE + 0x300000 + (uint64_t)(d)*0x100)
#define ITS_BASE 0x08080000ull
#define NDEV 8u
#define NEV 8u
#define LPIS 65536u
#define THREADS 3

/* The two states: LPIs base(s) + dev * NEV + ev, collection ev % 2
 * targeting vCPU (ev + s) % 2. */
static uint32_t lpi_of(int s, uint32_t dev, uint32_t ev)
{
    return (s ? 9000u : 8192u) + dev * NEV + ev;
}

struct env {
    pthread_mutex_t ram_lock;
    uint8_t *ram;
    struct vits_ops ops;
    struct vits_domain *d;
    struct vits_its *its;
    struct vits_route *routes[NDEV * NEV];
    atomic_bool allowed[LPIS];
    atomic_uint bad; /* deliveries that broke a rule */
    atomic_bool stop;
    atomic_ulong msis, delivered, acks;
    uint64_t cwriter;
};

static int rd(void *o, uint64_t gpa, void *buf, size_t len)
{
    struct env *e = o;
    if (gpa < RAM_BASE || gpa - RAM_BASE + len > RAM_SIZE)
        return -EFAULT;
    pthread_mutex_lock(&e->ram_lock);
    memcpy(buf, e->ram + (gpa - RAM_BASE), len);
    pthread_mutex_unlock(&e->ram_lock);
    return 0;
}

static int wr(void *o, uint64_t gpa, const void *buf, size_t len)
{
    struct env *e = o;
    if (gpa < RAM_BASE || gpa - RAM_BASE + len > RAM_SIZE)
        return -EFAULT;
    pthread_mutex_lock(&e->ram_lock);
    memcpy(e->ram + (gpa - RAM_BASE), buf, len);
    pthread_mutex_unlock(&e->ram_lock);
    return 0;
}

/* Raises and retracts may come from any thread at once; each must be of
 * an LPI that one of the states maps, on a vCPU that exists. (The order
 * of raises and retracts per LPI is checked single-threaded elsewhere.) */
static int raise_cb(void *o, uint32_t vcpu, uint32_t intid, uint8_t prio)
{
    struct env *e = o;
    if (intid >= LPIS || vcpu > 1 || !atomic_load(&e->allowed[intid]) || prio != 0xa0)
        atomic_fetch_add(&e->bad, 1);
    return 0;
}

static void retract_cb(void *o, uint32_t vcpu, uint32_t intid)
{
    struct env *e = o;
    if (intid >= LPIS || vcpu > 1 || !atomic_load(&e->allowed[intid]))
        atomic_fetch_add(&e->bad, 1);
}

static void put64(struct env *e, uint64_t gpa, uint64_t v)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(v >> (8 * i));
    wr(e, gpa, b, 8);
}

/* Queue commands and ring the doorbell (the ITS is enabled). */
static void submit(struct env *e, const uint64_t (*cmds)[4], unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        for (int w = 0; w < 4; w++)
            put64(e, QUEUE + e->cwriter + 8 * (uint64_t)w, cmds[i][w]);
        e->cwriter = (e->cwriter + 32) % 0x10000;
    }
    assert_int_equal(vits_its_mmio_write(e->its, 0x88, 8, e->cwriter), 0);
}

/* A guest's bring-up of state s from scratch (after a reset). */
static void build(struct env *e, int s)
{
    for (uint32_t v = 0; v < 2; v++) {
        assert_int_equal(vits_gicr_mmio_write(e->d, v, 0x70, 8, PROP | 0xf), 0);
        assert_int_equal(vits_gicr_mmio_write(e->d, v, 0x78, 8, PEND(v)), 0);
        assert_int_equal(vits_gicr_mmio_write(e->d, v, 0x0, 4, 1), 0);
    }
    assert_int_equal(vits_its_mmio_write(e->its, 0x100, 8, 1ull << 63 | DEVTAB | 2ull << 8), 0);
    assert_int_equal(vits_its_mmio_write(e->its, 0x108, 8, 1ull << 63 | COLLTAB | 2ull << 8), 0);
    assert_int_equal(vits_its_mmio_write(e->its, 0x80, 8, 1ull << 63 | QUEUE | 15), 0);
    e->cwriter = 0;
    assert_int_equal(vits_its_mmio_write(e->its, 0x0, 4, 1), 0);
    uint64_t c[2][4] = {{0x09, 0, (uint64_t)(s % 2) << 16 | 1ull << 63, 0},
                        {0x09, 0, 1 | (uint64_t)((s + 1) % 2) << 16 | 1ull << 63, 0}};
    submit(e, (const uint64_t(*)[4])c, 2);
    for (uint32_t dev = 0; dev < NDEV; dev++) {
        uint64_t m[1 + NEV][4];
        m[0][0] = 0x08 | (uint64_t)dev << 32;
        m[0][1] = 2; /* 8 events */
        m[0][2] = ITT(dev) | 1ull << 63;
        m[0][3] = 0;
        for (uint32_t ev = 0; ev < NEV; ev++) {
            m[1 + ev][0] = 0x0a | (uint64_t)dev << 32;
            m[1 + ev][1] = ev | (uint64_t)lpi_of(s, dev, ev) << 32;
            m[1 + ev][2] = ev % 2;
            m[1 + ev][3] = 0;
        }
        submit(e, (const uint64_t(*)[4])m, 1 + NEV);
    }
    uint64_t errors = 1;
    assert_true(vits_its_last_error(e->its, NULL, &errors) >= 0);
    assert_int_equal(errors, 0);
}

static void *msi_thread(void *arg)
{
    struct env *e = arg;
    uint64_t x = (uint64_t)(uintptr_t)&x | 1;
    for (unsigned n = 0; !atomic_load_explicit(&e->stop, memory_order_relaxed); n++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        uint32_t dev = (uint32_t)(x % NDEV), ev = (uint32_t)(x >> 8) % NEV;
        int rc;
        switch (n % 3) {
        case 0:
            rc = vits_its_signal_msi(e->its, dev, ev);
            break;
        case 1: {
            struct vits_msi m = {ITS_BASE + VITS_GITS_TRANSLATER, ev, dev, VITS_MSI_VALID_DEVID};
            rc = vits_domain_signal_msi(e->d, &m);
            break;
        }
        default:
            rc = vits_route_fire(e->routes[dev * NEV + ev]);
            break;
        }
        if (rc < 0)
            atomic_fetch_add(&e->bad, 1);
        atomic_fetch_add(&e->msis, 1);
        atomic_fetch_add(&e->delivered, (unsigned long)rc);
    }
    return NULL;
}

/* A vCPU thread: acknowledge whatever is raised, blindly. */
static void *ack_thread(void *arg)
{
    struct env *e = arg;
    while (!atomic_load_explicit(&e->stop, memory_order_relaxed))
        for (uint32_t i = 8192; i < 9100; i++)
            for (uint32_t v = 0; v < 2; v++)
                if (vits_lpi_ack(e->d, v, i) == 0)
                    atomic_fetch_add(&e->acks, 1);
    return NULL;
}

static uint8_t *snapshot(struct env *e, size_t *len)
{
    assert_int_equal(vits_domain_save_snapshot(e->d, NULL, 0, len), -ENOSPC);
    uint8_t *buf = malloc(*len);
    assert_int_equal(vits_domain_save_snapshot(e->d, buf, *len, len), 0);
    return buf;
}

static void restores_and_resets_race_msis_safely(void **state)
{
    (void)state;
    struct env *e = calloc(1, sizeof(*e));
    assert_non_null(e);
    e->ram = calloc(1, RAM_SIZE);
    pthread_mutex_init(&e->ram_lock, NULL);
    memset(e->ram + (PROP - RAM_BASE), 0xa3, 65536);
    e->ops = (struct vits_ops){.version = VITS_OPS_VERSION,
                               .read_mem = rd,
                               .write_mem = wr,
                               .raise = raise_cb,
                               .retract = retract_cb};
    struct vits_domain_config dcfg;
    vits_domain_config_init(&dcfg, 2);
    assert_int_equal(vits_domain_create(&dcfg, &e->ops, e, &e->d), 0);
    struct vits_its_config icfg;
    vits_its_config_init(&icfg);
    icfg.base = ITS_BASE;
    assert_int_equal(vits_its_create(e->d, &icfg, &e->its), 0);
    for (uint32_t i = 0; i < NDEV * NEV; i++)
        assert_int_equal(vits_route_create(e->its, i / NEV, i % NEV, &e->routes[i]), 0);
    for (uint32_t dev = 0; dev < NDEV; dev++)
        for (uint32_t ev = 0; ev < NEV; ev++)
            for (int s = 0; s < 2; s++)
                atomic_store(&e->allowed[lpi_of(s, dev, ev)], true);
    /* the two states, as snapshots */
    size_t len[2];
    uint8_t *snap[2];
    for (int s = 0; s < 2; s++) {
        assert_int_equal(vits_domain_reset(e->d), 0);
        build(e, s);
        snap[s] = snapshot(e, &len[s]);
    }
    pthread_t t[THREADS + 1];
    for (int i = 0; i < THREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, msi_thread, e), 0);
    assert_int_equal(pthread_create(&t[THREADS], NULL, ack_thread, e), 0);
    for (int round = 0; round < 240; round++) {
        int s = round % 2;
        switch (round % 6) {
        case 0:
        case 1: /* a snapshot restore, over whatever is there */
            assert_int_equal(vits_domain_restore_snapshot(e->d, snap[s], len[s]), 0);
            break;
        case 2: /* through the table ABI, into the same ITS */
        case 3:
            assert_int_equal(vits_its_save_tables(e->its), 0);
            assert_int_equal(vits_its_reg_set(e->its, 0x0, 0), 0);
            assert_int_equal(vits_its_restore_tables(e->its), 0);
            assert_int_equal(vits_its_reg_set(e->its, 0x0, 1), 0);
            break;
        case 4: /* a reboot: reset, then the guest builds a state again */
            assert_int_equal(vits_domain_reset(e->d), 0);
            build(e, s);
            break;
        default: /* the ITS alone, then the other state by snapshot */
            assert_int_equal(vits_its_reset(e->its), 0);
            assert_int_equal(vits_domain_restore_snapshot(e->d, snap[s], len[s]), 0);
            break;
        }
    }
    atomic_store(&e->stop, true);
    for (int i = 0; i <= THREADS; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(atomic_load(&e->bad), 0);
    assert_true(atomic_load(&e->msis) > 0);
    /* quiet now: the last state restored (state 1) is what translates */
    assert_int_equal(vits_domain_restore_snapshot(e->d, snap[1], len[1]), 0);
    for (uint32_t dev = 0; dev < NDEV; dev++)
        for (uint32_t ev = 0; ev < NEV; ev++) {
            uint32_t intid = lpi_of(1, dev, ev), v;
            int was = vits_lpi_state(e->d, intid, &v);
            assert_true(was == 0 || was == 1);
            assert_int_equal(v, (ev + 1) % 2);
            /* routes that cached a translation of either state follow */
            if (ev % 2)
                assert_int_equal(vits_route_fire(e->routes[dev * NEV + ev]), 1);
            else
                assert_int_equal(vits_its_signal_msi(e->its, dev, ev), 1);
            assert_int_equal(vits_lpi_state(e->d, intid, &v), 1);
            assert_int_equal(vits_lpi_state(e->d, lpi_of(0, dev, ev), NULL), -ENOENT);
        }
    printf("%lu MSIs, %lu delivered, %lu acknowledged, 0 errors\n",
           (unsigned long)atomic_load(&e->msis), (unsigned long)atomic_load(&e->delivered),
           (unsigned long)atomic_load(&e->acks));
    for (uint32_t i = 0; i < NDEV * NEV; i++)
        vits_route_destroy(e->routes[i]);
    vits_its_destroy(e->its);
    assert_int_equal(vits_domain_destroy(e->d), 0);
    free(snap[0]);
    free(snap[1]);
    pthread_mutex_destroy(&e->ram_lock);
    free(e->ram);
    free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(restores_and_resets_race_msis_safely),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
