/* SPDX-License-Identifier: MIT */
/*
 * A minimal embedding of vits, written as a hypervisor would write it:
 * guest RAM, an ops table, a domain with 4 vCPUs and one ITS. The "guest"
 * programs the redistributors and the ITS through MMIO, writes commands
 * into its queue (MAPC, MAPD, MAPTI), then a "device" signals MSIs and the
 * vGIC side prints which vCPU got which LPI and acknowledges it.
 *
 * Build out of tree:  cc embed.c $(pkg-config --cflags --libs vits)
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vits.h>

#define RAM_BASE 0x40000000ull
#define RAM_SIZE (8ull << 20)
#define NR_VCPUS 4u

#define PROP_TABLE (RAM_BASE + 0x000000) /* 64 KiB: 16 INTID bits */
#define PEND_TABLE(cpu) (RAM_BASE + 0x100000 + (cpu)*0x10000)
#define DEV_TABLE (RAM_BASE + 0x200000)
#define COLL_TABLE (RAM_BASE + 0x210000)
#define CMD_QUEUE (RAM_BASE + 0x220000)
#define ITT_BASE (RAM_BASE + 0x300000)

struct vm {
    uint8_t *ram;
    unsigned delivered[NR_VCPUS];
    uint32_t last_intid[NR_VCPUS];
};

/* ---- the ops table: guest memory and the injector ---- */

static int read_mem(void *opaque, uint64_t gpa, void *buf, size_t len)
{
    struct vm *vm = opaque;
    if (gpa < RAM_BASE || gpa - RAM_BASE > RAM_SIZE || len > RAM_SIZE - (gpa - RAM_BASE))
        return -14; /* -EFAULT: outside guest RAM */
    memcpy(buf, vm->ram + (gpa - RAM_BASE), len);
    return 0;
}

static int write_mem(void *opaque, uint64_t gpa, const void *buf, size_t len)
{
    struct vm *vm = opaque;
    if (gpa < RAM_BASE || gpa - RAM_BASE > RAM_SIZE || len > RAM_SIZE - (gpa - RAM_BASE))
        return -14;
    memcpy(vm->ram + (gpa - RAM_BASE), buf, len);
    return 0;
}

static int raise_lpi(void *opaque, uint32_t vcpu, uint32_t intid, uint8_t priority)
{
    struct vm *vm = opaque;
    /* A real vGIC would put the LPI in a list register of vcpu. */
    printf("  vCPU %u <- LPI %u (priority 0x%02x)\n", vcpu, intid, priority);
    vm->delivered[vcpu]++;
    vm->last_intid[vcpu] = intid;
    return 0;
}

static void log_msg(void *opaque, enum vits_log_level level, const char *msg)
{
    (void)opaque;
    if (level <= VITS_LOG_GUEST)
        fprintf(stderr, "vits: %s\n", msg);
}

static const struct vits_ops ops = {
    .version = VITS_OPS_VERSION,
    .read_mem = read_mem,
    .write_mem = write_mem,
    .raise = raise_lpi,
    .log = log_msg,
};

/* ---- the guest side ---- */

static void put64(struct vm *vm, uint64_t gpa, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        vm->ram[gpa - RAM_BASE + (uint64_t)i] = (uint8_t)(v >> (8 * i));
}

static uint64_t cwriter;

static void queue_cmd(struct vm *vm, uint64_t d0, uint64_t d1, uint64_t d2, uint64_t d3)
{
    put64(vm, CMD_QUEUE + cwriter, d0);
    put64(vm, CMD_QUEUE + cwriter + 8, d1);
    put64(vm, CMD_QUEUE + cwriter + 16, d2);
    put64(vm, CMD_QUEUE + cwriter + 24, d3);
    cwriter += 32;
}

static int check(int rc, const char *what)
{
    if (rc < 0) {
        fprintf(stderr, "%s: %s\n", what, vits_strerror(rc));
        exit(1);
    }
    return rc;
}

int main(void)
{
    struct vm vm = {.ram = calloc(1, RAM_SIZE)};
    if (!vm.ram)
        return 1;

    struct vits_domain_config dcfg;
    vits_domain_config_init(&dcfg, NR_VCPUS);
    struct vits_domain *d;
    check(vits_domain_create(&dcfg, &ops, &vm, &d), "vits_domain_create");

    struct vits_its_config icfg;
    vits_its_config_init(&icfg); /* frame at 0x08080000 */
    struct vits_its *its;
    check(vits_its_create(d, &icfg, &its), "vits_its_create");

    /* Guest: every LPI enabled with priority 0xa0; PROPBASER with 16 ID
     * bits, PENDBASER with PTZ, EnableLPIs, on every redistributor. */
    memset(vm.ram + (PROP_TABLE - RAM_BASE), 0xa3, 65536 - 8192);
    for (uint32_t cpu = 0; cpu < NR_VCPUS; cpu++) {
        check(vits_gicr_mmio_write(d, cpu, 0x70, 8, PROP_TABLE | 15), "PROPBASER");
        check(vits_gicr_mmio_write(d, cpu, 0x78, 8, PEND_TABLE(cpu) | 1ull << 62), "PENDBASER");
        check(vits_gicr_mmio_write(d, cpu, 0x0, 4, 1), "GICR_CTLR");
    }

    /* Guest: device and collection tables (64 KiB pages), a 4 KiB
     * command queue, then enable the ITS. */
    check(vits_its_mmio_write(its, 0x100, 8, 1ull << 63 | DEV_TABLE | 2u << 8), "BASER0");
    check(vits_its_mmio_write(its, 0x108, 8, 1ull << 63 | COLL_TABLE | 2u << 8), "BASER1");
    check(vits_its_mmio_write(its, 0x80, 8, 1ull << 63 | CMD_QUEUE), "CBASER");
    check(vits_its_mmio_write(its, 0x0, 4, 1), "GITS_CTLR");

    /* Guest: one collection per vCPU (MAPC), device 0x10 with 8 events
     * (MAPD Size = 2), its events 0..7 -> LPIs 8192.. spread over the
     * collections (MAPTI), then make the ITS read the queue. */
    const uint32_t devid = 0x10;
    for (uint64_t cpu = 0; cpu < NR_VCPUS; cpu++)
        queue_cmd(&vm, 0x09, 0, 1ull << 63 | cpu << 16 | cpu, 0);
    queue_cmd(&vm, 0x08 | (uint64_t)devid << 32, 2, 1ull << 63 | ITT_BASE, 0);
    for (uint64_t ev = 0; ev < 8; ev++)
        queue_cmd(&vm, 0x0a | (uint64_t)devid << 32, ev | (8192 + ev) << 32, ev % NR_VCPUS, 0);
    check(vits_its_mmio_write(its, 0x88, 8, cwriter), "CWRITER");

    uint64_t creadr;
    check(vits_its_mmio_read(its, 0x90, 8, &creadr), "CREADR");
    printf("ITS processed %" PRIu64 " commands (CREADR 0x%" PRIx64 ")\n", vits_its_commands(its),
           creadr);

    /* Device: signal each event; the vGIC acknowledges what it gets. */
    for (uint32_t ev = 0; ev < 8; ev++) {
        printf("MSI device 0x%x event %u:\n", devid, ev);
        int rc = check(vits_its_signal_msi(its, devid, ev), "MSI");
        if (rc == 0)
            printf("  blocked by the guest's mappings\n");
        for (uint32_t cpu = 0; cpu < NR_VCPUS; cpu++)
            if (vm.last_intid[cpu]) {
                check(vits_lpi_ack(d, cpu, vm.last_intid[cpu]), "ack");
                vm.last_intid[cpu] = 0;
            }
    }
    printf("MSI device 0x%x event 9 (not mapped): %d\n", devid, vits_its_signal_msi(its, devid, 9));

    for (uint32_t cpu = 0; cpu < NR_VCPUS; cpu++)
        printf("vCPU %u took %u LPIs\n", cpu, vm.delivered[cpu]);

    vits_its_destroy(its);
    check(vits_domain_destroy(d), "vits_domain_destroy");
    free(vm.ram);
    return 0;
}
