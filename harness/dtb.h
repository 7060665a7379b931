/* SPDX-License-Identifier: MIT */
/*
 * Device-tree glue (libfdt): writes the DTB of a VM with a GICv3 and its
 * ITS, and reads the ITS base, redistributor base and vCPU count back
 * from any DTB. Blobs read are untrusted: libfdt checks the structure
 * (fdt_check_full) before any property is used.
 */
#ifndef VITS_HARNESS_DTB_H
#define VITS_HARNESS_DTB_H

#include <stddef.h>
#include <stdint.h>

/* Largest DTB file read. */
#define DTB_MAX_SIZE (16u << 20)

struct dtb_platform {
    uint32_t nr_vcpus;
    uint64_t gicd_base, gicd_size;
    uint64_t gicr_base, gicr_size; /* gicr_size: nr_vcpus * 0x20000 */
    uint64_t its_base, its_size;
    uint64_t mem_base, mem_size;
};

/* QEMU's "virt" layout: GICD 0x08000000, ITS 0x08080000, GICR
 * 0x080a0000, RAM at 0x40000000 (1 GiB). */
void dtb_platform_default(struct dtb_platform *p, uint32_t nr_vcpus);

/* Build the blob into buf (cap bytes); *len gets its size. Returns 0 or
 * a negative libfdt error (-FDT_ERR_NOSPACE when buf is too small). */
int dtb_build(const struct dtb_platform *p, void *buf, size_t cap, size_t *len);

/* Build and write to path. Returns 0, or -1 with a message in err. */
int dtb_write_file(const struct dtb_platform *p, const char *path, char *err, size_t errlen);

/* Find the first usable ITS node ("arm,gic-v3-its", msi-controller, not
 * disabled, a reg of at least 0x20000 bytes at a 64 KiB-aligned address
 * after translation through the parents' ranges), its GICv3 parent's
 * GICR region, and count the /cpus nodes of device_type "cpu". Returns 0
 * or -1 with a message in err. */
int dtb_parse(const void *blob, size_t len, struct dtb_platform *p, char *err, size_t errlen);

/* Read path and dtb_parse it; messages start with the file name. */
int dtb_load_file(const char *path, struct dtb_platform *p, char *err, size_t errlen);

#endif
