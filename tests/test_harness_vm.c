/* SPDX-License-Identifier: MIT */
/* The harness's reference embedding (harness/vm.c): guest RAM, MMIO
 * routing, the injector's presentation order and protocol checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "vm.h"

static struct vm *started_vm(uint32_t vcpus)
{
    struct vm *vm = vm_new(0);
    assert_non_null(vm);
    struct vm_config cfg = {.nr_vcpus = vcpus};
    assert_int_equal(vm_start(vm, &cfg), 0);
    struct vits_its_config icfg;
    vits_its_config_init(&icfg);
    assert_int_equal(vm_add_its(vm, &icfg), 0);
    return vm;
}

static void ram_untouched_reads_zero_and_allocates_nothing(void **state)
{
    (void)state;
    struct vm *vm = vm_new(0);
    uint8_t buf[64];
    memset(buf, 0xff, sizeof(buf));
    assert_int_equal(vm_mem_read(vm, 0x123456789000ull, buf, sizeof(buf)), 0);
    for (size_t i = 0; i < sizeof(buf); i++)
        assert_int_equal(buf[i], 0);
    struct vm_stats st;
    vm_stats(vm, &st);
    assert_int_equal(st.pages, 0);
    vm_free(vm);
}

static void ram_write_across_pages_reads_back(void **state)
{
    (void)state;
    struct vm *vm = vm_new(0);
    uint8_t in[6000], out[6000];
    for (size_t i = 0; i < sizeof(in); i++)
        in[i] = (uint8_t)(i * 7);
    assert_int_equal(vm_mem_write(vm, 0x40000ff0, in, sizeof(in)), 0);
    assert_int_equal(vm_mem_read(vm, 0x40000ff0, out, sizeof(out)), 0);
    assert_memory_equal(in, out, sizeof(in));
    struct vm_stats st;
    vm_stats(vm, &st);
    assert_int_equal(st.pages, 3);
    assert_int_equal(vm_mem_write64(vm, 0x50000000, 0x1122334455667788ull), 0);
    assert_int_equal(vm_mem_read64(vm, 0x50000000), 0x1122334455667788ull);
    uint8_t b;
    assert_int_equal(vm_mem_read(vm, 0x50000000, &b, 1), 0);
    assert_int_equal(b, 0x88); /* little-endian */
    vm_free(vm);
}

static void ram_page_cap_fails_writes_with_enomem(void **state)
{
    (void)state;
    struct vm *vm = vm_new(2);
    uint8_t b = 1;
    assert_int_equal(vm_mem_write(vm, 0x0, &b, 1), 0);
    assert_int_equal(vm_mem_write(vm, 0x1000, &b, 1), 0);
    assert_int_equal(vm_mem_write(vm, 0x2000, &b, 1), -ENOMEM);
    assert_int_equal(vm_mem_write(vm, 0x1fff, &b, 1), 0); /* existing page */
    vm_free(vm);
}

static void ram_holes_and_faults_fail_accesses(void **state)
{
    (void)state;
    struct vm *vm = vm_new(0);
    uint8_t b[16] = {0};
    assert_int_equal(vm_add_hole(vm, 0x10000, 0x1000), 0);
    assert_int_equal(vm_mem_read(vm, 0xfff8, b, 16), -EFAULT); /* overlaps */
    assert_int_equal(vm_mem_write(vm, 0x10800, b, 1), -EFAULT);
    assert_int_equal(vm_mem_read(vm, 0x11000, b, 16), 0);
    /* two reads succeed, then one fails, then it is spent */
    assert_int_equal(vm_inject_fault(vm, VM_FAULT_READ, 0x20000, 0x100, 2, 1, -EIO), 0);
    assert_int_equal(vm_mem_read(vm, 0x20000, b, 8), 0);
    assert_int_equal(vm_mem_write(vm, 0x20000, b, 8), 0); /* writes unaffected */
    assert_int_equal(vm_mem_read(vm, 0x20000, b, 8), 0);
    assert_int_equal(vm_mem_read(vm, 0x20010, b, 8), -EIO);
    assert_int_equal(vm_mem_read(vm, 0x20010, b, 8), 0);
    assert_int_equal(vm_mem_read(vm, UINT64_MAX - 3, b, 8), -EINVAL); /* wraps */
    vm_free(vm);
}

static void mmio_routes_its_and_redistributor_frames(void **state)
{
    (void)state;
    struct vm *vm = started_vm(2);
    uint64_t v = 0;
    /* GITS_TYPER through the ITS frame at 0x08080000 */
    assert_int_equal(vm_mmio_read(vm, 0x08080008, 8, &v), 0);
    assert_int_equal(v & 1, 1);
    /* GICR_TYPER of vCPU 1: Processor_Number 1, Last */
    assert_int_equal(vm_mmio_read(vm, vm_redist_base(vm) + VM_GICR_STRIDE + 0x8, 8, &v), 0);
    assert_int_equal((v >> 8) & 0xffff, 1);
    assert_int_equal((v >> 4) & 1, 1);
    /* a non-LPI GICR register: the stub vGIC reads zero */
    assert_int_equal(vm_mmio_read(vm, vm_redist_base(vm) + 0x10080, 4, &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(vm_mmio_read(vm, 0x1000, 4, &v), -ENOENT);
    assert_int_equal(vm_msi(vm, 0x1234, 0, 0), -ENODEV);
    assert_int_equal(vm_msi(vm, 0x08080000 + VITS_GITS_TRANSLATER, 0, 0), 0); /* disabled */
    vm_free(vm);
}

/* Boot one vCPU by hand and map device 1's events to 8192.. */
static void map_events(struct vm *vm, unsigned n, const uint8_t *props)
{
    struct vits_its *its = vm_its(vm, 0);
    struct vits_domain *d = vm_domain(vm);
    for (unsigned i = 0; i < n; i++)
        assert_int_equal(vm_mem_write(vm, 0x40100000 + i, &props[i], 1), 0);
    assert_int_equal(vits_gicr_mmio_write(d, 0, 0x70, 8, 0x4010000f), 0);
    assert_int_equal(vits_gicr_mmio_write(d, 0, 0x78, 8, 0x4000000040200000ull), 0);
    assert_int_equal(vits_gicr_mmio_write(d, 0, 0x0, 4, 1), 0);
    assert_int_equal(vits_its_mmio_write(its, 0x100, 8, 0x8100000040300000ull), 0);
    assert_int_equal(vits_its_mmio_write(its, 0x108, 8, 0x8400000040310000ull), 0);
    assert_int_equal(vits_its_mmio_write(its, 0x80, 8, 0x8000000040320000ull), 0);
    assert_int_equal(vits_its_mmio_write(its, 0x0, 4, 1), 0);
    uint64_t q = 0x40320000;
    assert_int_equal(vm_mem_write64(vm, q, 0x08 | 1ull << 32), 0); /* MAPD dev 1, 32 events */
    assert_int_equal(vm_mem_write64(vm, q + 8, 4), 0);
    assert_int_equal(vm_mem_write64(vm, q + 16, 1ull << 63 | 0x40330000), 0);
    q += 32;
    assert_int_equal(vm_mem_write64(vm, q + 16, 1ull << 63), 0); /* MAPC 0 -> 0 */
    assert_int_equal(vm_mem_write64(vm, q, 0x09), 0);
    q += 32;
    for (unsigned i = 0; i < n; i++, q += 32) {
        assert_int_equal(vm_mem_write64(vm, q, 0x0a | 1ull << 32), 0);
        assert_int_equal(vm_mem_write64(vm, q + 8, i | (uint64_t)(8192 + i) << 32), 0);
    }
    assert_int_equal(vits_its_mmio_write(its, 0x88, 8, q - 0x40320000), 0);
    uint64_t errors;
    vits_its_last_error(its, NULL, &errors);
    assert_int_equal(errors, 0);
}

static void injector_presents_lowest_priority_value_then_lowest_intid(void **state)
{
    (void)state;
    struct vm *vm = started_vm(1);
    static const uint8_t props[6] = {0xc1, 0x41, 0xa1, 0x41, 0x81, 0xc1};
    map_events(vm, 6, props);
    for (uint32_t ev = 6; ev-- > 0;)
        assert_int_equal(vits_its_signal_msi(vm_its(vm, 0), 1, ev), 1);
    uint32_t list[8];
    assert_int_equal(vm_raised_list(vm, 0, list, 8), 6);
    static const uint32_t order[6] = {8193, 8195, 8196, 8194, 8192, 8197};
    assert_memory_equal(list, order, sizeof(order));
    for (int i = 0; i < 6; i++) {
        uint32_t intid;
        uint8_t prio;
        assert_int_equal(vm_take(vm, 0, false, &intid, &prio), 1);
        assert_int_equal(intid, order[i]);
        assert_int_equal(prio, props[intid - 8192] & 0xfc);
        assert_int_equal(vits_lpi_state(vm_domain(vm), intid, NULL), 0); /* acked */
    }
    assert_int_equal(vm_take(vm, 0, false, NULL, NULL), 0);
    struct vm_stats st;
    vm_stats(vm, &st);
    assert_int_equal(st.acks, 6);
    assert_int_equal(st.violations, 0);
    vm_free(vm);
}

static void injector_ack_needs_the_lpi_raised_on_that_vcpu(void **state)
{
    (void)state;
    struct vm *vm = started_vm(2);
    static const uint8_t props[2] = {0xa1, 0xa0}; /* 8193 disabled */
    map_events(vm, 2, props);
    assert_int_equal(vm_ack(vm, 0, 8192), -ENOENT); /* not pending */
    assert_int_equal(vits_its_signal_msi(vm_its(vm, 0), 1, 0), 1);
    assert_int_equal(vits_its_signal_msi(vm_its(vm, 0), 1, 1), 1);
    assert_int_equal(vm_raised_on(vm, 8192), 0);
    assert_int_equal(vm_raised_on(vm, 8193), -1); /* pending, not presented */
    assert_int_equal(vm_ack(vm, 1, 8192), -ENOENT);
    assert_int_equal(vm_ack(vm, 0, 8193), -ENOENT);
    assert_int_equal(vm_ack(vm, 0, 8192), 0);
    assert_int_equal(vm_ack(vm, 0, 8192), -ENOENT); /* once */
    /* a CLEAR-like retract: disabling LPIs on the vCPU retracts */
    assert_int_equal(vits_its_signal_msi(vm_its(vm, 0), 1, 0), 1);
    assert_int_equal(vits_gicr_mmio_write(vm_domain(vm), 0, 0x0, 4, 0), 0);
    assert_int_equal(vm_raised_on(vm, 8192), -1);
    assert_int_equal(vm_raised_count(vm, 0), 0);
    struct vm_stats st;
    vm_stats(vm, &st);
    assert_int_equal(st.violations, 0);
    assert_true(st.retracts >= 1);
    vm_free(vm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ram_untouched_reads_zero_and_allocates_nothing),
        cmocka_unit_test(ram_write_across_pages_reads_back),
        cmocka_unit_test(ram_page_cap_fails_writes_with_enomem),
        cmocka_unit_test(ram_holes_and_faults_fail_accesses),
        cmocka_unit_test(mmio_routes_its_and_redistributor_frames),
        cmocka_unit_test(injector_presents_lowest_priority_value_then_lowest_intid),
        cmocka_unit_test(injector_ack_needs_the_lpi_raised_on_that_vcpu),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
