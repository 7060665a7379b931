/* SPDX-License-Identifier: MIT */
/* Scripted driver-model scenarios; see scenario.h. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <string.h>

#include "driver.h"
#include "scenario.h"
#include "trace.h"
#include "vm.h"

struct ctx {
    struct vm *vm;
    struct drv *drv;
    struct trace_writer w, *rec;
    struct scenario_result *res;
    uint64_t rng;
};

static const struct {
    const char *name, *what;
    uint32_t vcpus;
} table[] = {
    {"boot", "2 vCPUs, one device of 4 vectors, an MSI per vector, acks", 2},
    {"affinity", "4 vCPUs, 2 devices, MSIs while vectors move between CPUs (MOVI)", 4},
    {"hotplug", "4 vCPUs, CPUs go offline with LPIs pending and come back (MAPC, INVALL)", 4},
    {"unplug", "device hot-unplug (DISCARD, MAPD V=0) and re-plug reusing its LPIs", 2},
    {"props", "priorities and enable bits changed in the property table, then INV", 2},
    {"errors", "commands that fail with architected errors, announced by cmd-error", 2},
    {"migrate",
     "migrations (KVM tables, snapshot) with LPIs pending, moved, disabled, after "
     "unplug and re-plug",
     4},
};

const char *const scenario_names[] = {"boot",  "affinity", "hotplug", "unplug",
                                      "props", "errors",   "migrate", NULL};

const char *scenario_description(const char *name)
{
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
        if (!strcmp(table[i].name, name))
            return table[i].what;
    return NULL;
}

static void check(struct ctx *c, bool ok, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void check(struct ctx *c, bool ok, const char *fmt, ...)
{
    if (ok)
        return;
    if (!c->res->checks_failed++) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->res->first_failure, sizeof(c->res->first_failure), fmt, ap);
        va_end(ap);
    }
}

static uint32_t rnd(struct ctx *c, uint32_t n)
{
    c->rng ^= c->rng << 13;
    c->rng ^= c->rng >> 7;
    c->rng ^= c->rng << 17;
    return (uint32_t)(c->rng % n);
}

static void msi(struct ctx *c, uint32_t devid, uint32_t ev)
{
    int rc = drv_msi(c->drv, devid, ev);
    c->res->msis++;
    if (rc != 1)
        c->res->blocked++;
}

/* The MSI must make the LPI pending on the CPU the driver routes it to. */
static void msi_expect(struct ctx *c, uint32_t devid, uint32_t ev)
{
    msi(c, devid, ev);
    uint32_t intid = drv_lpi(c->drv, devid, ev), cpu = drv_vector_cpu(c->drv, devid, ev), where;
    check(c, vits_lpi_state(vm_domain(c->vm), intid, &where) == 1 && where == cpu,
          "MSI %x/%u: LPI %u not pending on vCPU %u", devid, ev, intid, cpu);
}

static unsigned drain(struct ctx *c)
{
    unsigned n = drv_drain(c->drv);
    c->res->acks += n;
    drv_expect_idle(c->drv);
    return n;
}

static int must(struct ctx *c, int rc)
{
    check(c, rc == 0, "driver: %s (%d)", drv_last_error(c->drv), rc);
    return rc;
}

static int sc_boot(struct ctx *c)
{
    if (must(c, drv_add_device(c->drv, 0x10, 4, NULL)))
        return -EIO;
    for (uint32_t ev = 0; ev < 4; ev++)
        msi_expect(c, 0x10, ev);
    drv_expect_pending(c->drv, drv_vector_cpu(c->drv, 0x10, 0), drv_lpi(c->drv, 0x10, 0));
    msi(c, 0x10, 0); /* coalesces */
    check(c, drain(c) == 4, "boot: 4 LPIs expected");
    msi(c, 0x11, 0); /* no such device: blocked */
    check(c, c->res->blocked == 1, "an MSI of an unmapped device was not blocked");
    return 0;
}

static int sc_affinity(struct ctx *c)
{
    if (must(c, drv_add_device(c->drv, 0x20, 4, NULL)) ||
        must(c, drv_add_device(c->drv, 0x28, 4, NULL)))
        return -EIO;
    const uint32_t devs[2] = {0x20, 0x28};
    for (int round = 0; round < 12; round++) {
        uint32_t d = devs[rnd(c, 2)], ev = rnd(c, 4);
        msi_expect(c, d, ev);
        uint32_t to = rnd(c, 4);
        if (must(c, drv_set_affinity(c->drv, d, ev, to)))
            return -EIO;
        uint32_t intid = drv_lpi(c->drv, d, ev), where;
        /* the pending state moved with the LPI */
        check(c, vits_lpi_state(vm_domain(c->vm), intid, &where) == 1 && where == to,
              "MOVI: LPI %u not pending on vCPU %u", intid, to);
        check(c, vm_raised_on(c->vm, intid) == (int)to, "MOVI: LPI %u not raised on vCPU %u", intid,
              to);
        drv_expect_pending(c->drv, to, intid);
        msi_expect(c, devs[rnd(c, 2)], rnd(c, 4));
        if (round % 3 == 2)
            drain(c);
    }
    drain(c);
    return 0;
}

static int sc_hotplug(struct ctx *c)
{
    uint32_t cpus[8] = {1, 1, 1, 2, 2, 3, 0, 1};
    if (must(c, drv_add_device(c->drv, 0x30, 8, cpus)))
        return -EIO;
    for (uint32_t ev = 0; ev < 8; ev++)
        msi_expect(c, 0x30, ev);
    /* CPU 1 goes down with three LPIs pending: they follow their vectors */
    if (must(c, drv_cpu_offline(c->drv, 1)))
        return -EIO;
    for (uint32_t ev = 0; ev < 8; ev++) {
        uint32_t cpu = drv_vector_cpu(c->drv, 0x30, ev), intid = drv_lpi(c->drv, 0x30, ev), where;
        check(c, cpu != 1, "vector %u still on the offline CPU", ev);
        check(c, vits_lpi_state(vm_domain(c->vm), intid, &where) == 1 && where == cpu,
              "LPI %u did not follow its vector to vCPU %u", intid, cpu);
        drv_expect_pending(c->drv, cpu, intid);
    }
    check(c, vm_raised_count(c->vm, 1) == 0, "LPIs left raised on the offline CPU");
    drain(c);
    if (must(c, drv_cpu_offline(c->drv, 2)) || must(c, drv_cpu_offline(c->drv, 3)))
        return -EIO;
    for (uint32_t ev = 0; ev < 8; ev++)
        msi_expect(c, 0x30, ev);
    check(c, drain(c) == 8, "hotplug: 8 LPIs expected on CPU 0");
    if (must(c, drv_cpu_online(c->drv, 1)) || must(c, drv_cpu_online(c->drv, 2)) ||
        must(c, drv_cpu_online(c->drv, 3)))
        return -EIO;
    for (uint32_t ev = 0; ev < 8; ev++)
        if (must(c, drv_set_affinity(c->drv, 0x30, ev, ev % 4)))
            return -EIO;
    for (uint32_t ev = 0; ev < 8; ev++)
        msi_expect(c, 0x30, ev);
    drain(c);
    return 0;
}

static int sc_unplug(struct ctx *c)
{
    if (must(c, drv_add_device(c->drv, 0x40, 8, NULL)) ||
        must(c, drv_add_device(c->drv, 0x48, 2, NULL)))
        return -EIO;
    uint32_t first = drv_lpi(c->drv, 0x40, 0);
    for (uint32_t ev = 0; ev < 8; ev++)
        msi_expect(c, 0x40, ev);
    drain(c);
    if (must(c, drv_remove_device(c->drv, 0x40)))
        return -EIO;
    check(c, vits_lpi_state(vm_domain(c->vm), first, NULL) == -ENOENT,
          "LPI %u still mapped after DISCARD", first);
    uint64_t blocked = c->res->blocked;
    msi(c, 0x40, 0); /* the device is gone */
    check(c, c->res->blocked == blocked + 1, "MSI of an unplugged device not blocked");
    /* a new device gets the freed LPIs */
    if (must(c, drv_add_device(c->drv, 0x50, 8, NULL)))
        return -EIO;
    check(c, drv_lpi(c->drv, 0x50, 0) == first, "LPIs not reused (%u, expected %u)",
          drv_lpi(c->drv, 0x50, 0), first);
    for (uint32_t ev = 0; ev < 8; ev++)
        msi_expect(c, 0x50, ev);
    drain(c);
    /* the old device comes back under its old DeviceID */
    if (must(c, drv_remove_device(c->drv, 0x50)) || must(c, drv_add_device(c->drv, 0x40, 8, NULL)))
        return -EIO;
    check(c, drv_lpi(c->drv, 0x40, 0) == first, "re-plugged device did not reuse LPI %u", first);
    for (uint32_t ev = 0; ev < 8; ev++)
        msi_expect(c, 0x40, ev);
    msi_expect(c, 0x48, 1);
    drain(c);
    return 0;
}

static int sc_props(struct ctx *c)
{
    uint32_t cpus[4] = {0, 0, 0, 0};
    if (must(c, drv_add_device(c->drv, 0x60, 4, cpus)))
        return -EIO;
    /* vector 3 most urgent, then 1, then 0 and 2 (ties by INTID) */
    static const uint8_t prio[4] = {0xc0, 0x80, 0xc0, 0x40};
    for (uint32_t ev = 0; ev < 4; ev++)
        if (must(c, drv_set_property(c->drv, 0x60, ev, prio[ev], true)))
            return -EIO;
    for (uint32_t ev = 0; ev < 4; ev++)
        msi_expect(c, 0x60, ev);
    static const uint32_t order[4] = {3, 1, 0, 2};
    for (unsigned i = 0; i < 4; i++) {
        uint32_t intid = 0;
        drv_take(c->drv, 0, &intid);
        c->res->acks++;
        check(c, intid == drv_lpi(c->drv, 0x60, order[i]), "took LPI %u, expected vector %u", intid,
              order[i]);
    }
    drv_expect_idle(c->drv);
    /* disabled: the MSI leaves it pending, not presented */
    uint32_t l2 = drv_lpi(c->drv, 0x60, 2);
    if (must(c, drv_set_property(c->drv, 0x60, 2, 0xa0, false)))
        return -EIO;
    msi_expect(c, 0x60, 2);
    check(c, vm_raised_on(c->vm, l2) < 0, "disabled LPI %u was presented", l2);
    drv_expect_pending(c->drv, 0, l2);
    /* enabled again + INV: presented now */
    if (must(c, drv_set_property(c->drv, 0x60, 2, 0xa0, true)))
        return -EIO;
    check(c, vm_raised_on(c->vm, l2) == 0, "re-enabled LPI %u not presented", l2);
    /* a priority change of a raised LPI re-raises it with the new one */
    msi_expect(c, 0x60, 1);
    if (must(c, drv_set_property(c->drv, 0x60, 1, 0xf0, true)))
        return -EIO;
    uint32_t first = 0;
    drv_take(c->drv, 0, &first);
    c->res->acks++;
    check(c, first == l2, "after lowering vector 1's priority, LPI %u should come first", l2);
    drain(c);
    return 0;
}

static int sc_errors(struct ctx *c)
{
    if (must(c, drv_add_device(c->drv, 0x70, 2, NULL)))
        return -EIO;
    uint64_t dw[4] = {0};
    uint64_t before;
    vits_its_last_error(vm_its(c->vm, 0), NULL, &before);
    dw[0] = 0x0c | (uint64_t)0x70 << 32;
    dw[1] = 3; /* beyond the device's 2-event ITT: EventID out of range */
    drv_raw_command(c->drv, dw);
    /* MAPTI to an unmapped device */
    dw[0] = 0x0a | (uint64_t)0x71 << 32;
    dw[1] = 0 | (uint64_t)9000 << 32;
    dw[2] = 0;
    drv_raw_command(c->drv, dw);
    /* MOVI to a collection that is not mapped */
    dw[0] = 0x01 | (uint64_t)0x70 << 32;
    dw[1] = 0;
    dw[2] = 77;
    drv_raw_command(c->drv, dw);
    /* an unknown command number */
    memset(dw, 0, sizeof(dw));
    dw[0] = 0x42;
    drv_raw_command(c->drv, dw);
    uint64_t after;
    vits_its_last_error(vm_its(c->vm, 0), NULL, &after);
    check(c, after - before == 4, "4 command errors expected, got %" PRIu64, after - before);
    /* the ITS goes on after errors */
    msi_expect(c, 0x70, 1);
    drain(c);
    return 0;
}

/* Migrate (tables or snapshot); the VM must go on as if nothing happened. */
static int migrate(struct ctx *c, bool snapshot) { return must(c, drv_migrate(c->drv, snapshot)); }

/* Every vector of devid is pending (and raised) where the driver routes it. */
static void expect_all_pending(struct ctx *c, uint32_t devid, uint32_t nvecs)
{
    for (uint32_t ev = 0; ev < nvecs; ev++) {
        uint32_t intid = drv_lpi(c->drv, devid, ev), cpu = drv_vector_cpu(c->drv, devid, ev), v;
        check(c, vits_lpi_state(vm_domain(c->vm), intid, &v) == 1 && v == cpu,
              "after migrating, LPI %u is not pending on vCPU %u", intid, cpu);
        check(c, vm_raised_on(c->vm, intid) == (int)cpu,
              "after migrating, LPI %u is not raised on vCPU %u", intid, cpu);
        drv_expect_pending(c->drv, cpu, intid);
    }
}

static int sc_migrate(struct ctx *c)
{
    uint32_t cpus[8] = {0, 1, 2, 3, 0, 1, 2, 3};
    if (must(c, drv_add_device(c->drv, 0x80, 8, cpus)) ||
        must(c, drv_add_device(c->drv, 0x88, 4, NULL)))
        return -EIO;
    /* LPIs pending and raised, one moved by the last command (MOVI) */
    for (uint32_t ev = 0; ev < 8; ev++)
        msi_expect(c, 0x80, ev);
    if (must(c, drv_set_affinity(c->drv, 0x80, 0, 2)) || migrate(c, false))
        return -EIO;
    expect_all_pending(c, 0x80, 8);
    if (migrate(c, true)) /* twice in a row */
        return -EIO;
    expect_all_pending(c, 0x80, 8);
    check(c, drain(c) == 8, "8 LPIs expected after the migrations");

    /* an LPI pending while disabled: still pending, presented once enabled */
    uint32_t l = drv_lpi(c->drv, 0x88, 1), cpu = drv_vector_cpu(c->drv, 0x88, 1);
    if (must(c, drv_set_property(c->drv, 0x88, 1, 0x90, false)))
        return -EIO;
    msi_expect(c, 0x88, 1);
    msi_expect(c, 0x88, 2);
    for (int i = 0; i < 2; i++) {
        if (migrate(c, i == 1))
            return -EIO;
        check(c, vm_raised_on(c->vm, l) < 0, "disabled LPI %u presented after a migration", l);
        drv_expect_pending(c->drv, cpu, l);
    }
    if (must(c, drv_set_property(c->drv, 0x88, 1, 0x90, true)))
        return -EIO;
    check(c, vm_raised_on(c->vm, l) == (int)cpu, "re-enabled LPI %u not presented", l);
    check(c, drain(c) == 2, "2 LPIs expected after enabling");

    /* unplug, migrate: nothing of the device comes back */
    uint32_t first = drv_lpi(c->drv, 0x80, 0);
    msi_expect(c, 0x80, 5);
    drain(c);
    if (must(c, drv_remove_device(c->drv, 0x80)) || migrate(c, false))
        return -EIO;
    uint64_t blocked = c->res->blocked;
    msi(c, 0x80, 0);
    msi(c, 0x80, 5);
    check(c, c->res->blocked == blocked + 2, "MSIs of an unplugged device not blocked");
    check(c, vits_lpi_state(vm_domain(c->vm), first, NULL) == -ENOENT,
          "LPI %u of the unplugged device came back", first);
    /* a new device reuses the LPIs; migrate with them pending */
    if (must(c, drv_add_device(c->drv, 0x90, 8, NULL)))
        return -EIO;
    check(c, drv_lpi(c->drv, 0x90, 0) == first, "LPIs not reused");
    for (uint32_t ev = 0; ev < 8; ev += 2)
        msi_expect(c, 0x90, ev);
    if (migrate(c, true) || migrate(c, false))
        return -EIO;
    for (uint32_t ev = 1; ev < 8; ev += 2)
        msi_expect(c, 0x90, ev);
    expect_all_pending(c, 0x90, 8);
    check(c, drain(c) == 8, "8 LPIs expected from the re-plugged LPIs");
    /* the old device comes back under its old DeviceID, smaller */
    if (must(c, drv_remove_device(c->drv, 0x90)) ||
        must(c, drv_add_device(c->drv, 0x80, 2, NULL)) || migrate(c, false))
        return -EIO;
    msi_expect(c, 0x80, 0);
    msi_expect(c, 0x80, 1);
    msi(c, 0x80, 5); /* beyond its new ITT */
    check(c, drain(c) == 2, "2 LPIs expected from the re-plugged device");

    /* a CPU goes offline with LPIs pending, then a migration; back online */
    for (uint32_t ev = 0; ev < 4; ev++)
        msi_expect(c, 0x88, ev);
    if (must(c, drv_cpu_offline(c->drv, 1)) || migrate(c, false))
        return -EIO;
    expect_all_pending(c, 0x88, 4);
    drain(c);
    if (must(c, drv_cpu_online(c->drv, 1)) || migrate(c, true))
        return -EIO;
    for (uint32_t ev = 0; ev < 4; ev++)
        if (must(c, drv_set_affinity(c->drv, 0x88, ev, 1)))
            return -EIO;
    for (uint32_t ev = 0; ev < 4; ev++)
        msi_expect(c, 0x88, ev);
    if (migrate(c, false))
        return -EIO;
    check(c, drain(c) == 4, "4 LPIs expected on the CPU that came back");
    return 0;
}

int scenario_run(const char *name, FILE *rec, struct scenario_result *res)
{
    struct scenario_result local;
    if (!res)
        res = &local;
    memset(res, 0, sizeof(*res));
    size_t i;
    for (i = 0; i < sizeof(table) / sizeof(table[0]); i++)
        if (!strcmp(table[i].name, name))
            break;
    if (i == sizeof(table) / sizeof(table[0]))
        return -EINVAL;
    struct ctx c = {.res = res, .rng = 0x1234567u};
    c.vm = vm_new(0);
    if (!c.vm)
        return -ENOMEM;
    struct vm_config vcfg = {.nr_vcpus = table[i].vcpus};
    int rc = vm_start(c.vm, &vcfg);
    struct vits_its_config icfg;
    vits_its_config_init(&icfg);
    if (!rc)
        rc = vm_add_its(c.vm, &icfg);
    if (rc < 0) {
        vm_free(c.vm);
        return rc;
    }
    if (rec) {
        trace_writer_init(&c.w, rec);
        c.rec = &c.w;
        trace_w_comment(c.rec, "scenario %s: %s", name, table[i].what);
        trace_w_comment(c.rec, "recorded by vits-sim record (the harness's Linux-like ITS "
                               "driver model)");
        trace_w_header(c.rec, table[i].vcpus, icfg.base, NULL);
    }
    struct drv_config dcfg;
    drv_config_init(&dcfg);
    rc = drv_new(c.vm, &dcfg, c.rec, &c.drv);
    if (!rc) {
        rc = drv_boot(c.drv);
        check(&c, rc == 0, "boot: %s", drv_last_error(c.drv));
    }
    if (!rc) {
        static int (*const fns[])(struct ctx *) = {sc_boot,  sc_affinity, sc_hotplug, sc_unplug,
                                                   sc_props, sc_errors,   sc_migrate};
        rc = fns[i](&c);
    }
    struct drv_stats ds;
    if (c.drv) {
        drv_get_stats(c.drv, &ds);
        res->cmd_errors = ds.cmd_errors;
    }
    struct vm_stats vs;
    vm_stats(c.vm, &vs);
    res->violations = vs.violations;
    if (vs.violations)
        check(&c, false, "injector: %s", vm_first_violation(c.vm));
    if (!strcmp(name, "errors") ? res->cmd_errors != 4 : res->cmd_errors != 0)
        check(&c, false, "%" PRIu64 " unexpected command errors", res->cmd_errors);
    drv_free(c.drv);
    vm_free(c.vm);
    if (c.rec && c.rec->error)
        return c.rec->error;
    if (rc < 0 && rc != -EIO)
        return rc;
    return res->checks_failed ? 1 : 0;
}
