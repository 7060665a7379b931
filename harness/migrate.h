/* SPDX-License-Identifier: MIT */
/*
 * Migration of the reference VM (vm.h) the way a VMM does it, through
 * vits' public API only: save the interrupt state, destroy the ITSes and
 * the LPI domain, create fresh ones with the same configuration
 * (vm_recreate), and restore, guest RAM staying in place. This is what
 * the `migrate tables` and `migrate snapshot` trace records do.
 */
#ifndef VITS_HARNESS_MIGRATE_H
#define VITS_HARNESS_MIGRATE_H

#include <stddef.h>

#include "vm.h"

enum vm_migration {
    /* KVM's way: vits_redist_get per vCPU; per ITS vits_its_save_tables
     * and its registers; then, in KVM's documented order, vits_redist_set
     * per vCPU and per ITS GITS_IIDR, GITS_CBASER, GITS_CREADR,
     * GITS_CWRITER, GITS_BASER<n>, vits_its_restore_tables, GITS_CTLR. */
    VM_MIGRATE_TABLES,
    /* The self-contained snapshot, through a buffer of the size asked. */
    VM_MIGRATE_SNAPSHOT,
};

/*
 * Migrate vm's interrupt state. Returns 0, or the negative errno of the
 * step that failed, described in why (n bytes, may be NULL): a failure
 * before vm_recreate leaves the VM as it was, one after it leaves it
 * without its state. -EOPNOTSUPP for a VM whose vits is out of process.
 */
int vm_migrate(struct vm *vm, enum vm_migration how, char *why, size_t n);

#endif
