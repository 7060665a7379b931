/* SPDX-License-Identifier: MIT */
/* The Linux-like guest ITS driver model (harness/driver.c) against the
 * engine: boot, affinity, CPU hotplug, device removal and re-plug with
 * reused LPIs, property changes; and every scripted scenario recorded as
 * a trace replays without a mismatch. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "driver.h"
#include "scenario.h"
#include "trace.h"
#include "vm.h"

struct guest {
    struct vm *vm;
    struct drv *drv;
};

static void boot(struct guest *g, uint32_t vcpus, uint32_t devbits)
{
    g->vm = vm_new(0);
    assert_non_null(g->vm);
    struct vm_config cfg = {.nr_vcpus = vcpus};
    assert_int_equal(vm_start(g->vm, &cfg), 0);
    struct vits_its_config icfg;
    vits_its_config_init(&icfg);
    icfg.device_id_bits = devbits;
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
    struct drv_stats ds;
    drv_get_stats(g->drv, &ds);
    assert_int_equal(ds.cmd_errors, 0);
    drv_free(g->drv);
    vm_free(g->vm);
}

static uint32_t pending_on(struct guest *g, uint32_t intid)
{
    uint32_t v = 0;
    return vits_lpi_state(vm_domain(g->vm), intid, &v) == 1 ? v : UINT32_MAX;
}

static void boot_maps_every_cpu_and_delivers_to_the_vector_cpu(void **state)
{
    (void)state;
    struct guest g;
    boot(&g, 4, 16);
    /* 16 DeviceID bits: a flat table would be 512 KiB, more than two 64 KiB
     * pages, so the driver asks for (and vits keeps) a two-level table */
    assert_true(drv_two_level(g.drv));
    assert_int_equal(drv_table_page_size(g.drv), 65536);
    uint32_t cpus[4] = {3, 2, 1, 0};
    assert_int_equal(drv_add_device(g.drv, 0x1234, 4, cpus), 0);
    assert_int_equal(drv_lpi(g.drv, 0x1234, 0), 8192);
    for (uint32_t ev = 0; ev < 4; ev++) {
        assert_int_equal(drv_msi(g.drv, 0x1234, ev), 1);
        assert_int_equal(pending_on(&g, 8192 + ev), cpus[ev]);
        assert_int_equal(vm_raised_on(g.vm, 8192 + ev), (int)cpus[ev]);
    }
    assert_int_equal(drv_drain(g.drv), 4);
    /* events beyond the device's ITT and unknown devices are blocked */
    assert_int_equal(drv_msi(g.drv, 0x1234, 4), 0);
    assert_int_equal(drv_msi(g.drv, 0x1235, 0), 0);
    struct drv_stats ds;
    drv_get_stats(g.drv, &ds);
    assert_int_equal(ds.cmds[0x09], 4); /* MAPC per CPU */
    assert_int_equal(ds.cmds[0x0d], 4); /* INVALL per CPU */
    assert_int_equal(ds.cmds[0x08], 1); /* MAPD */
    assert_int_equal(ds.cmds[0x0a], 4); /* MAPTI per vector */
    assert_int_equal(ds.cmds[0x0c], 4); /* INV per vector (unmask) */
    shutdown(&g);
}

static void boot_with_few_device_bits_uses_a_flat_table(void **state)
{
    (void)state;
    struct guest g;
    boot(&g, 2, 10);
    assert_false(drv_two_level(g.drv));
    assert_int_equal(drv_add_device(g.drv, 1023, 2, NULL), 0);
    assert_int_equal(drv_add_device(g.drv, 1024, 2, NULL), -E2BIG);
    assert_int_equal(drv_msi(g.drv, 1023, 1), 1);
    assert_int_equal(drv_drain(g.drv), 1);
    shutdown(&g);
}

static void two_level_table_rejects_ids_under_missing_level2_pages(void **state)
{
    (void)state;
    struct guest g;
    boot(&g, 1, 20);
    assert_true(drv_two_level(g.drv));
    /* the driver allocates the level-2 page of each device it maps */
    assert_int_equal(drv_add_device(g.drv, 0xabcde, 1, NULL), 0);
    assert_int_equal(drv_msi(g.drv, 0xabcde, 0), 1);
    /* a MAPD behind the driver's back, under no level-1 entry: out of range */
    uint64_t dw[4] = {0x08 | (uint64_t)0x12345 << 32, 0, 1ull << 63 | 0x7000000, 0};
    assert_int_equal(drv_raw_command(g.drv, dw), 0);
    struct vits_cmd_error e;
    assert_int_equal(vits_its_last_error(vm_its(g.vm, 0), &e, NULL), 1);
    assert_int_equal(e.code, VITS_E_MAPD_DEVICE_OOR);
    drv_drain(g.drv);
    drv_free(g.drv);
    vm_free(g.vm);
}

static void affinity_change_moves_a_pending_lpi(void **state)
{
    (void)state;
    struct guest g;
    boot(&g, 4, 16);
    uint32_t cpus[2] = {0, 0};
    assert_int_equal(drv_add_device(g.drv, 7, 2, cpus), 0);
    assert_int_equal(drv_msi(g.drv, 7, 1), 1);
    assert_int_equal(vm_raised_on(g.vm, 8193), 0);
    assert_int_equal(drv_set_affinity(g.drv, 7, 1, 3), 0);
    assert_int_equal(drv_vector_cpu(g.drv, 7, 1), 3);
    assert_int_equal(pending_on(&g, 8193), 3);
    assert_int_equal(vm_raised_on(g.vm, 8193), 3); /* retracted from 0, raised on 3 */
    assert_int_equal(vm_raised_count(g.vm, 0), 0);
    uint32_t intid;
    assert_int_equal(drv_take(g.drv, 3, &intid), 1);
    assert_int_equal(intid, 8193);
    /* later MSIs follow the new mapping */
    assert_int_equal(drv_msi(g.drv, 7, 1), 1);
    assert_int_equal(pending_on(&g, 8193), 3);
    assert_int_equal(drv_set_affinity(g.drv, 7, 1, 9), -EINVAL);
    drv_drain(g.drv);
    struct drv_stats ds;
    drv_get_stats(g.drv, &ds);
    assert_int_equal(ds.cmds[0x01], 1); /* one MOVI */
    shutdown(&g);
}

static void cpu_offline_moves_vectors_and_online_maps_its_collection(void **state)
{
    (void)state;
    struct guest g;
    boot(&g, 3, 16);
    uint32_t cpus[4] = {1, 1, 0, 2};
    assert_int_equal(drv_add_device(g.drv, 9, 4, cpus), 0);
    assert_int_equal(drv_msi(g.drv, 9, 0), 1);
    assert_int_equal(drv_cpu_offline(g.drv, 1), 0);
    assert_false(drv_cpu_is_online(g.drv, 1));
    for (uint32_t ev = 0; ev < 4; ev++)
        assert_int_not_equal(drv_vector_cpu(g.drv, 9, ev), 1);
    uint32_t moved = drv_vector_cpu(g.drv, 9, 0);
    assert_int_equal(pending_on(&g, 8192), moved); /* pending state followed */
    assert_int_equal(vm_raised_count(g.vm, 1), 0);
    assert_int_equal(drv_cpu_offline(g.drv, 1), -EINVAL);
    assert_int_equal(drv_set_affinity(g.drv, 9, 3, 1), -EINVAL); /* offline */
    assert_int_equal(drv_cpu_offline(g.drv, 0), 0);
    assert_int_equal(drv_cpu_offline(g.drv, 2), -EINVAL); /* the last one */
    assert_int_equal(drv_cpu_online(g.drv, 1), 0);
    assert_int_equal(drv_set_affinity(g.drv, 9, 3, 1), 0);
    assert_int_equal(drv_msi(g.drv, 9, 3), 1);
    assert_int_equal(pending_on(&g, 8195), 1);
    assert_int_equal(drv_drain(g.drv), 2);
    struct drv_stats ds;
    drv_get_stats(g.drv, &ds);
    assert_int_equal(ds.cmds[0x09], 4); /* 3 at boot + 1 online */
    assert_int_equal(ds.cmds[0x0d], 4); /* INVALL likewise */
    shutdown(&g);
}

static void device_removal_discards_and_replug_reuses_the_lpis(void **state)
{
    (void)state;
    struct guest g;
    boot(&g, 2, 16);
    assert_int_equal(drv_add_device(g.drv, 0x40, 8, NULL), 0);
    assert_int_equal(drv_add_device(g.drv, 0x48, 8, NULL), 0);
    assert_int_equal(drv_lpi(g.drv, 0x48, 0), 8200);
    assert_int_equal(drv_msi(g.drv, 0x40, 3), 1);
    drv_drain(g.drv);
    assert_int_equal(drv_remove_device(g.drv, 0x40), 0);
    assert_int_equal(drv_remove_device(g.drv, 0x40), -ENOENT);
    assert_int_equal(vits_lpi_state(vm_domain(g.vm), 8195, NULL), -ENOENT); /* DISCARDed */
    assert_int_equal(drv_msi(g.drv, 0x40, 3), 0);                           /* MAPD V=0 */
    assert_int_equal(drv_lpi(g.drv, 0x40, 0), 0);
    /* re-plug: the freed LPIs come back, and they work */
    assert_int_equal(drv_add_device(g.drv, 0x40, 8, NULL), 0);
    assert_int_equal(drv_lpi(g.drv, 0x40, 0), 8192);
    for (uint32_t ev = 0; ev < 8; ev++)
        assert_int_equal(drv_msi(g.drv, 0x40, ev), 1);
    assert_int_equal(drv_drain(g.drv), 8);
    struct drv_stats ds;
    drv_get_stats(g.drv, &ds);
    assert_int_equal(ds.cmds[0x0f], 8); /* DISCARD per vector */
    assert_int_equal(ds.cmds[0x08], 4); /* MAPD x3 + MAPD V=0 */
    shutdown(&g);
}

static void property_change_takes_effect_at_inv(void **state)
{
    (void)state;
    struct guest g;
    boot(&g, 1, 16);
    assert_int_equal(drv_add_device(g.drv, 3, 3, NULL), 0);
    assert_int_equal(drv_set_property(g.drv, 3, 2, 0x40, true), 0);
    for (uint32_t ev = 0; ev < 3; ev++)
        assert_int_equal(drv_msi(g.drv, 3, ev), 1);
    uint32_t intid;
    assert_int_equal(drv_take(g.drv, 0, &intid), 1);
    assert_int_equal(intid, 8194); /* priority 0x40 beats 0xa0 */
    /* disabled: pending, not presented; enabled + INV: presented */
    assert_int_equal(drv_set_property(g.drv, 3, 0, 0xa0, false), 0);
    assert_int_equal(vm_raised_on(g.vm, 8192), -1);
    assert_int_equal(pending_on(&g, 8192), 0);
    assert_int_equal(drv_take(g.drv, 0, &intid), 1);
    assert_int_equal(intid, 8193);
    assert_int_equal(drv_take(g.drv, 0, &intid), 0);
    assert_int_equal(drv_set_property(g.drv, 3, 0, 0xa0, true), 0);
    assert_int_equal(drv_take(g.drv, 0, &intid), 1);
    assert_int_equal(intid, 8192);
    /* a byte written without INV is not seen (the property is cached) */
    uint8_t off = 0xa2;
    assert_int_equal(vm_mem_write(g.vm, 0x40000000 + 1, &off, 1), 0);
    assert_int_equal(drv_msi(g.drv, 3, 1), 1);
    assert_int_equal(vm_raised_on(g.vm, 8193), 0);
    drv_drain(g.drv);
    shutdown(&g);
}

static void every_scenario_records_a_trace_that_replays_cleanly(void **state)
{
    (void)state;
    for (int i = 0; scenario_names[i]; i++) {
        FILE *f = tmpfile();
        assert_non_null(f);
        struct scenario_result sr;
        int rc = scenario_run(scenario_names[i], f, &sr);
        if (rc)
            fail_msg("scenario %s: %s", scenario_names[i], sr.first_failure);
        assert_true(sr.acks > 0);
        rewind(f);
        FILE *out = tmpfile();
        struct replay_options o = {.out = out};
        struct replay_result rr;
        assert_int_equal(replay_stream(f, scenario_names[i], &o, &rr), 0);
        assert_int_equal(rr.mismatches, 0);
        assert_int_equal(rr.acks_matched, sr.acks);
        assert_int_equal(rr.msi_blocked, sr.blocked);
        assert_int_equal(rr.cmd_errors_seen, sr.cmd_errors);
        assert_int_equal(rr.cmd_errors_announced, sr.cmd_errors);
        assert_true(rr.commands > 0);
        fclose(out);
        fclose(f);
    }
    assert_int_equal(scenario_run("nonesuch", NULL, NULL), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(boot_maps_every_cpu_and_delivers_to_the_vector_cpu),
        cmocka_unit_test(boot_with_few_device_bits_uses_a_flat_table),
        cmocka_unit_test(two_level_table_rejects_ids_under_missing_level2_pages),
        cmocka_unit_test(affinity_change_moves_a_pending_lpi),
        cmocka_unit_test(cpu_offline_moves_vectors_and_online_maps_its_collection),
        cmocka_unit_test(device_removal_discards_and_replug_reuses_the_lpis),
        cmocka_unit_test(property_change_takes_effect_at_inv),
        cmocka_unit_test(every_scenario_records_a_trace_that_replays_cleanly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
