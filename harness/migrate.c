/* SPDX-License-Identifier: MIT */
/* Migration of the reference VM; see migrate.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "migrate.h"

/* The ITS registers a KVM-based VMM saves, in KVM's restore order (after
 * GITS_IIDR and GITS_CBASER, the others; GITS_CTLR goes last, after the
 * tables). */
static const uint64_t its_regs[] = {
    0x04,                                                   /* GITS_IIDR */
    0x80,                                                   /* GITS_CBASER */
    0x90,                                                   /* GITS_CREADR */
    0x88,                                                   /* GITS_CWRITER */
    0x100, 0x108, 0x110, 0x118, 0x120, 0x128, 0x130, 0x138, /* GITS_BASER<n> */
};
#define NR_REGS (sizeof(its_regs) / sizeof(its_regs[0]))
#define GITS_CTLR 0x0

struct saved_its {
    uint64_t regs[NR_REGS];
    uint64_t ctlr;
};

static int fail(char *why, size_t n, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail(char *why, size_t n, int rc, const char *fmt, ...)
{
    if (why && n) {
        va_list ap;
        va_start(ap, fmt);
        int k = vsnprintf(why, n, fmt, ap);
        va_end(ap);
        if (k >= 0 && (size_t)k < n)
            snprintf(why + k, n - (size_t)k, ": %s", vits_strerror(rc));
    }
    return rc;
}

static int migrate_tables(struct vm *vm, char *why, size_t n)
{
    struct vits_domain *d = vm_domain(vm);
    uint32_t nv = vm_nr_vcpus(vm);
    unsigned ni = vm_nr_its(vm);
    struct vits_redist_regs *rd = calloc(nv, sizeof(*rd));
    struct saved_its its[VM_MAX_ITS];
    int rc = rd ? 0 : -ENOMEM;
    if (rc)
        return fail(why, n, rc, "migrate tables: allocation");
    /* Save: the redistributors, then each ITS's tables and registers. */
    for (uint32_t v = 0; !rc && v < nv; v++)
        if ((rc = vits_redist_get(d, v, &rd[v])))
            fail(why, n, rc, "migrate tables: vits_redist_get(%u)", v);
    for (unsigned i = 0; !rc && i < ni; i++) {
        struct vits_its *x = vm_its(vm, i);
        if ((rc = vits_its_save_tables(x))) {
            fail(why, n, rc, "migrate tables: vits_its_save_tables (ITS %u)", i);
            break;
        }
        for (size_t r = 0; !rc && r < NR_REGS; r++)
            if ((rc = vits_its_reg_get(x, its_regs[r], &its[i].regs[r])))
                fail(why, n, rc, "migrate tables: vits_its_reg_get(0x%llx)",
                     (unsigned long long)its_regs[r]);
        if (!rc && (rc = vits_its_reg_get(x, GITS_CTLR, &its[i].ctlr)))
            fail(why, n, rc, "migrate tables: vits_its_reg_get(GITS_CTLR)");
    }
    if (!rc && (rc = vm_recreate(vm)))
        fail(why, n, rc, "migrate tables: creating the new domain");
    /* Restore in KVM's order. */
    d = vm_domain(vm);
    for (uint32_t v = 0; !rc && v < nv; v++)
        if ((rc = vits_redist_set(d, v, &rd[v])))
            fail(why, n, rc, "migrate tables: vits_redist_set(%u)", v);
    for (unsigned i = 0; !rc && i < ni; i++) {
        struct vits_its *x = vm_its(vm, i);
        for (size_t r = 0; !rc && r < NR_REGS; r++)
            if ((rc = vits_its_reg_set(x, its_regs[r], its[i].regs[r])))
                fail(why, n, rc, "migrate tables: vits_its_reg_set(0x%llx, 0x%llx)",
                     (unsigned long long)its_regs[r], (unsigned long long)its[i].regs[r]);
        if (!rc && (rc = vits_its_restore_tables(x)))
            fail(why, n, rc, "migrate tables: vits_its_restore_tables (ITS %u)", i);
        if (!rc && (rc = vits_its_reg_set(x, GITS_CTLR, its[i].ctlr)))
            fail(why, n, rc, "migrate tables: vits_its_reg_set(GITS_CTLR)");
    }
    free(rd);
    return rc;
}

static int migrate_snapshot(struct vm *vm, char *why, size_t n)
{
    size_t len = 0;
    int rc = vits_domain_save_snapshot(vm_domain(vm), NULL, 0, &len);
    if (rc != -ENOSPC)
        return fail(why, n, rc ? rc : -EIO, "migrate snapshot: asking the size");
    void *buf = malloc(len);
    if (!buf)
        return fail(why, n, -ENOMEM, "migrate snapshot: %zu bytes", len);
    size_t got = 0;
    rc = vits_domain_save_snapshot(vm_domain(vm), buf, len, &got);
    if (rc)
        fail(why, n, rc, "migrate snapshot: vits_domain_save_snapshot");
    if (!rc && (rc = vm_recreate(vm)))
        fail(why, n, rc, "migrate snapshot: creating the new domain");
    if (!rc && (rc = vits_domain_restore_snapshot(vm_domain(vm), buf, got)))
        fail(why, n, rc, "migrate snapshot: vits_domain_restore_snapshot");
    free(buf);
    return rc;
}

int vm_migrate(struct vm *vm, enum vm_migration how, char *why, size_t n)
{
    if (why && n)
        why[0] = 0;
    if (!vm || !vm_started(vm))
        return fail(why, n, -EINVAL, "migrate: no VM");
    if (vm_is_remote(vm))
        return fail(why, n, -EOPNOTSUPP, "migrate: vits runs out of process");
    return how == VM_MIGRATE_SNAPSHOT ? migrate_snapshot(vm, why, n) : migrate_tables(vm, why, n);
}
