/* SPDX-License-Identifier: MIT */
/*
 * Migration end to end, with the Linux-like guest driver model
 * (harness/driver.c) and the reference embedding: a VM with hundreds of
 * devices, thousands of mapped events, a collection per CPU and hundreds
 * of LPIs pending (some of them disabled) migrates into a new instance
 * through KVM's table ABI and through the snapshot, and then delivers
 * exactly what a twin VM that never migrated delivers under the same
 * traffic. The tables the save writes are decoded from guest memory with
 * the documented layout and checked entry by entry against what the
 * driver mapped. And a guest reboot: vits_domain_reset, then the driver
 * boots again from scratch.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "driver.h"
#include "migrate.h"
#include "vm.h"

#define NV 4u
#define NDEV 300u
#define DEVID(i) (0x100u + 7u * (i))

struct guest {
    struct vm *vm;
    struct drv *drv;
    uint64_t rng;
    uint32_t nvecs[NDEV];
    bool replugged; /* device 0xfff0 plugged in */
};

static uint32_t rnd(struct guest *g, uint32_t n)
{
    g->rng ^= g->rng << 13;
    g->rng ^= g->rng >> 7;
    g->rng ^= g->rng << 17;
    return (uint32_t)(g->rng % n);
}

static void boot(struct guest *g)
{
    memset(g, 0, sizeof(*g));
    g->rng = 0x5eed;
    g->vm = vm_new(0);
    assert_non_null(g->vm);
    struct vm_config cfg = {.nr_vcpus = NV, .log = stderr, .log_level = VITS_LOG_ERROR};
    assert_int_equal(vm_start(g->vm, &cfg), 0);
    struct vits_its_config icfg;
    vits_its_config_init(&icfg);
    assert_int_equal(vm_add_its(g->vm, &icfg), 0);
    struct drv_config dcfg;
    drv_config_init(&dcfg);
    assert_int_equal(drv_new(g->vm, &dcfg, NULL, &g->drv), 0);
    assert_int_equal(drv_boot(g->drv), 0);
}

static void shutdown(struct guest *g)
{
    struct vm_stats st;
    vm_stats(g->vm, &st);
    assert_int_equal(st.violations, 0);
    drv_free(g->drv);
    vm_free(g->vm);
}

/* Hundreds of devices of 1..32 vectors spread over the CPUs, MSIs left
 * pending, a few vectors disabled with an MSI pending, some moved. */
static void populate(struct guest *g)
{
    for (uint32_t i = 0; i < NDEV; i++) {
        g->nvecs[i] = 1 + rnd(g, 32);
        if (drv_add_device(g->drv, DEVID(i), g->nvecs[i], NULL))
            fail_msg("device %u: %s", i, drv_last_error(g->drv));
    }
    for (unsigned k = 0; k < 600; k++) {
        uint32_t i = rnd(g, NDEV), v = rnd(g, g->nvecs[i]);
        assert_int_equal(drv_msi(g->drv, DEVID(i), v), 1);
    }
    for (unsigned k = 0; k < 40; k++) {
        uint32_t i = rnd(g, NDEV), v = rnd(g, g->nvecs[i]);
        assert_int_equal(drv_set_property(g->drv, DEVID(i), v, 0xa0, false), 0);
        assert_int_equal(drv_msi(g->drv, DEVID(i), v), 1);
    }
    for (unsigned k = 0; k < 60; k++) {
        uint32_t i = rnd(g, NDEV), v = rnd(g, g->nvecs[i]);
        assert_int_equal(drv_set_affinity(g->drv, DEVID(i), v, rnd(g, NV)), 0);
    }
}

/* Take everything raised, CPU by CPU, most urgent first; the sequence of
 * (CPU, INTID) goes to out (returns how many). */
static unsigned take_all(struct guest *g, uint32_t *out, unsigned max)
{
    unsigned n = 0;
    for (uint32_t cpu = 0; cpu < NV; cpu++) {
        uint32_t intid;
        while (vm_take(g->vm, cpu, false, &intid, NULL) == 1) {
            assert_true(n < max);
            out[n++] = cpu << 24 | intid;
        }
    }
    return n;
}

/* The same traffic for both: MSIs, a device unplugged and another
 * plugged in, vectors enabled again, affinity changes; the deliveries
 * and MSI results must be the same. */
static void same_future(struct guest *a, struct guest *b)
{
    static uint32_t ta[20000], tb[20000];
    unsigned na = take_all(a, ta, 20000), nb = take_all(b, tb, 20000);
    assert_int_equal(na, nb);
    assert_memory_equal(ta, tb, na * sizeof(ta[0]));
    for (unsigned round = 0; round < 6; round++) {
        for (unsigned k = 0; k < 300; k++) {
            uint32_t i = rnd(a, NDEV), v = rnd(a, 40);
            rnd(b, NDEV), rnd(b, 40);
            assert_int_equal(drv_msi(a->drv, DEVID(i), v), drv_msi(b->drv, DEVID(i), v));
        }
        uint32_t i = rnd(a, NDEV), v = rnd(a, a->nvecs[i]), cpu = rnd(a, NV);
        rnd(b, NDEV), rnd(b, b->nvecs[i]), rnd(b, NV);
        for (struct guest *g = a;; g = b) {
            assert_int_equal(drv_set_property(g->drv, DEVID(i), v, 0x80, true), 0);
            assert_int_equal(drv_set_affinity(g->drv, DEVID(i), v, cpu), 0);
            if (round == 2 && !g->replugged) {
                assert_int_equal(drv_remove_device(g->drv, DEVID(i)), 0);
                assert_int_equal(drv_add_device(g->drv, 0xfff0, 8, NULL), 0);
                assert_int_equal(drv_add_device(g->drv, DEVID(i), 3, NULL), 0);
                g->nvecs[i] = 3;
                g->replugged = true;
            }
            if (g == b)
                break;
        }
        na = take_all(a, ta, 20000);
        nb = take_all(b, tb, 20000);
        assert_int_equal(na, nb);
        assert_memory_equal(ta, tb, na * sizeof(ta[0]));
    }
}

/* ---- the tables in guest memory, decoded with the documented layout ---- */

static uint64_t rd64(struct guest *g, uint64_t gpa) { return vm_mem_read64(g->vm, gpa); }

/* Address of device table entry id (0: under an invalid level-1 entry). */
static uint64_t dte_gpa(struct guest *g, uint64_t baser, uint64_t id)
{
    uint64_t psz = 4096ull << (2 * ((baser >> 8) & 3));
    uint64_t pa = ((baser >> 12) & ((1ull << 36) - 1)) << 12;
    if (psz == 65536)
        pa &= ~0xffffull;
    if (!(baser >> 62 & 1))
        return pa + 8 * id;
    uint64_t l1 = rd64(g, pa + 8 * (id / (psz / 8)));
    if (!(l1 >> 63))
        return 0;
    return (((l1 >> 16) & ((1ull << 36) - 1)) << 16) + 8 * (id % (psz / 8));
}

/* Every entry of the tables checked against the driver's mappings; all
 * the entries read are folded into *digest (to compare two saves). */
static void check_tables(struct guest *g, uint64_t *digest)
{
    struct vits_its *its = vm_its(g->vm, 0);
    uint64_t baser0, baser1;
    assert_int_equal(vits_its_reg_get(its, 0x100, &baser0), 0);
    assert_int_equal(vits_its_reg_get(its, 0x108, &baser1), 0);
    assert_true(baser0 >> 62 & 1); /* the driver made it two-level */
    uint64_t h = 1469598103934665603ull;
#define FOLD(x) (h = (h ^ (x)) * 1099511628211ull)
    uint32_t devs = 0, events = 0;
    uint64_t prev = UINT64_MAX;
    for (uint64_t id = 0; id < 65536; id++) {
        uint64_t gpa = dte_gpa(g, baser0, id);
        uint64_t e = gpa ? rd64(g, gpa) : 0;
        FOLD(e);
        uint32_t nvecs = 0;
        for (uint32_t i = 0; i < NDEV; i++)
            if (DEVID(i) == id)
                nvecs = g->nvecs[i];
        if (id == 0xfff0 && g->replugged)
            nvecs = 8;
        if (!nvecs) {
            if (e >> 63)
                fail_msg("DeviceID 0x%llx: a valid entry 0x%llx, no such device",
                         (unsigned long long)id, (unsigned long long)e);
            continue;
        }
        assert_true(e >> 63);
        devs++;
        if (prev != UINT64_MAX) {
            uint64_t pe = rd64(g, dte_gpa(g, baser0, prev));
            uint64_t dist = id - prev;
            assert_int_equal((pe >> 49) & 0x3fff, dist > 0x3fff ? 0x3fff : dist);
        }
        prev = id;
        uint32_t bits = (uint32_t)(e & 0x1f) + 1;
        uint64_t itt = ((e >> 5) & ((1ull << 44) - 1)) << 8;
        assert_true((1u << bits) >= nvecs);
        for (uint32_t ev = 0; ev < (1u << bits); ev++) {
            uint64_t ite = rd64(g, itt + 8ull * ev);
            FOLD(ite);
            if (ev >= nvecs) {
                assert_int_equal(ite, 0);
                continue;
            }
            events++;
            assert_int_equal((ite >> 16) & 0xffffffff, drv_lpi(g->drv, (uint32_t)id, ev));
            assert_int_equal(ite & 0xffff, drv_vector_cpu(g->drv, (uint32_t)id, ev));
            assert_int_equal(ite >> 48, ev + 1 < nvecs ? 1 : 0);
        }
    }
    assert_int_equal(devs, NDEV + g->replugged);
    assert_int_equal(((rd64(g, dte_gpa(g, baser0, prev)) >> 49) & 0x3fff), 0);
    assert_true(events > 2000);
    /* a collection per CPU, ICID = CPU, then an entry without Valid */
    uint64_t cpa = ((baser1 >> 12) & ((1ull << 36) - 1)) << 12;
    if (((baser1 >> 8) & 3) == 2)
        cpa &= ~0xffffull;
    for (uint32_t k = 0; k < NV; k++) {
        uint64_t e = rd64(g, cpa + 8 * k);
        FOLD(e);
        assert_int_equal(e, 1ull << 63 | (uint64_t)k << 16 | k);
    }
    assert_int_equal(rd64(g, cpa + 8 * NV), 0);
    /* the pending tables: one bit per pending LPI, on its vCPU's table */
    uint32_t pending = 0;
    for (uint32_t cpu = 0; cpu < NV; cpu++) {
        struct vits_redist_regs r;
        assert_int_equal(vits_redist_get(vm_domain(g->vm), cpu, &r), 0);
        uint64_t pend = ((r.pendbaser >> 16) & ((1ull << 36) - 1)) << 16;
        for (uint32_t intid = 8192; intid < 65536; intid++) {
            uint8_t b;
            assert_int_equal(vm_mem_read(g->vm, pend + intid / 8, &b, 1), 0);
            uint32_t v;
            bool want = vits_lpi_state(vm_domain(g->vm), intid, &v) == 1 && v == cpu;
            if (((b >> (intid % 8)) & 1) != want)
                fail_msg("vCPU %u: pending bit of LPI %u is %u", cpu, intid, !want);
            pending += want;
        }
    }
    assert_true(pending > 300);
    *digest = h;
#undef FOLD
}

static void migrate_and_compare(bool snapshot)
{
    struct guest *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b));
    boot(a);
    boot(b);
    populate(a);
    populate(b);
    if (!snapshot) {
        /* the save alone first: the tables, decoded, are the mappings */
        uint64_t d1, d2;
        assert_int_equal(vits_its_save_tables(vm_its(b->vm, 0)), 0);
        check_tables(b, &d1);
        /* restored into a new instance, saved again: the same entries */
        assert_int_equal(drv_migrate(b->drv, false), 0);
        assert_int_equal(vits_its_save_tables(vm_its(b->vm, 0)), 0);
        check_tables(b, &d2);
        assert_int_equal(d1, d2);
    } else {
        assert_int_equal(drv_migrate(b->drv, true), 0);
    }
    same_future(a, b);
    /* and once more, the other way, after all that */
    assert_int_equal(drv_migrate(b->drv, !snapshot), 0);
    same_future(a, b);
    shutdown(a);
    shutdown(b);
    free(a);
    free(b);
}

static void a_large_vm_migrates_through_the_table_abi(void **state)
{
    (void)state;
    migrate_and_compare(false);
}

static void a_large_vm_migrates_through_the_snapshot(void **state)
{
    (void)state;
    migrate_and_compare(true);
}

/* A guest reboot: the domain is reset, the driver boots again from
 * scratch and everything works, with nothing left from before. */
static void a_reset_vm_boots_again(void **state)
{
    (void)state;
    struct guest *g = calloc(1, sizeof(*g));
    boot(g);
    populate(g);
    assert_int_equal(vits_its_save_tables(vm_its(g->vm, 0)), 0);
    assert_int_equal(vits_domain_reset(vm_domain(g->vm)), 0);
    uint32_t intid;
    for (uint32_t cpu = 0; cpu < NV; cpu++)
        assert_int_equal(vm_take(g->vm, cpu, false, &intid, NULL), 0);
    drv_free(g->drv);
    /* The rebooted kernel allocates from other memory (the driver model,
     * unlike Linux, does not zero what it allocates: where the old
     * tables were, it would take the old level-1 entries as its own). */
    struct drv_config dcfg;
    drv_config_init(&dcfg);
    dcfg.ram_base = 0x80000000ull;
    dcfg.ram_size = 1ull << 30;
    assert_int_equal(drv_new(g->vm, &dcfg, NULL, &g->drv), 0);
    assert_int_equal(drv_boot(g->drv), 0);
    assert_int_equal(drv_add_device(g->drv, 0x42, 16, NULL), 0);
    assert_int_equal(drv_msi(g->drv, DEVID(0), 0), 0); /* gone with the reboot */
    for (uint32_t v = 0; v < 16; v++)
        assert_int_equal(drv_msi(g->drv, 0x42, v), 1);
    static uint32_t t[64];
    assert_int_equal(take_all(g, t, 64), 16);
    /* and the new state migrates with no trace of the old one */
    assert_int_equal(drv_migrate(g->drv, false), 0);
    assert_int_equal(drv_msi(g->drv, DEVID(1), 0), 0);
    assert_int_equal(drv_msi(g->drv, 0x42, 3), 1);
    assert_int_equal(take_all(g, t, 64), 1);
    struct drv_stats ds;
    drv_get_stats(g->drv, &ds);
    assert_int_equal(ds.cmd_errors, 0);
    shutdown(g);
    free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_large_vm_migrates_through_the_table_abi),
        cmocka_unit_test(a_large_vm_migrates_through_the_snapshot),
        cmocka_unit_test(a_reset_vm_boots_again),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
