/* SPDX-License-Identifier: MIT */
/* Device-tree glue, through libfdt only; see dtb.h. */
#include <errno.h>
#include <stdbool.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libfdt.h>

#include "dtb.h"

#define PHANDLE_GIC 1u
#define PHANDLE_ITS 2u

static int msg(char *err, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int msg(char *err, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (err && n)
        vsnprintf(err, n, fmt, ap);
    va_end(ap);
    return -1;
}

void dtb_platform_default(struct dtb_platform *p, uint32_t nr_vcpus)
{
    memset(p, 0, sizeof(*p));
    p->nr_vcpus = nr_vcpus;
    p->gicd_base = 0x08000000;
    p->gicd_size = 0x10000;
    p->its_base = 0x08080000;
    p->its_size = 0x20000;
    p->gicr_base = 0x080a0000;
    p->gicr_size = (uint64_t)nr_vcpus * 0x20000;
    p->mem_base = 0x40000000;
    p->mem_size = 1ull << 30;
}

/* ---- writing, in libfdt's sequential-write mode ---- */

static int prop_u32(void *fdt, const char *name, uint32_t v)
{
    return fdt_property_u32(fdt, name, v);
}

static int prop_regs(void *fdt, const uint64_t *vals, int n)
{
    fdt64_t cells[8];
    for (int i = 0; i < n && i < 8; i++)
        cells[i] = cpu_to_fdt64(vals[i]);
    return fdt_property(fdt, "reg", cells, n * (int)sizeof(cells[0]));
}

/* MPIDR of vCPU n, matching GICR_TYPER's affinity in vits: Aff0 = n[3:0],
 * Aff1 = n[11:4]. */
static uint32_t mpidr_of(uint32_t n) { return (n & 0xf) | ((n >> 4) & 0xff) << 8; }

int dtb_build(const struct dtb_platform *p, void *buf, size_t cap, size_t *len)
{
    if (cap > INT32_MAX)
        cap = INT32_MAX;
    void *fdt = buf;
    int rc = fdt_create(fdt, (int)cap);
    char name[64];
#define T(x)                                                                                       \
    do {                                                                                           \
        if (!rc)                                                                                   \
            rc = (x);                                                                              \
    } while (0)
    T(fdt_finish_reservemap(fdt));
    T(fdt_begin_node(fdt, ""));
    T(prop_u32(fdt, "#address-cells", 2));
    T(prop_u32(fdt, "#size-cells", 2));
    T(fdt_property_string(fdt, "compatible", "linux,dummy-virt"));
    T(fdt_property_string(fdt, "model", "vits-sim virtual machine"));
    T(prop_u32(fdt, "interrupt-parent", PHANDLE_GIC));

    T(fdt_begin_node(fdt, "psci"));
    T(fdt_property_string(fdt, "compatible", "arm,psci-1.0"));
    T(fdt_property_string(fdt, "method", "hvc"));
    T(fdt_end_node(fdt));

    T(fdt_begin_node(fdt, "cpus"));
    T(prop_u32(fdt, "#address-cells", 1));
    T(prop_u32(fdt, "#size-cells", 0));
    for (uint32_t c = 0; c < p->nr_vcpus && !rc; c++) {
        snprintf(name, sizeof(name), "cpu@%" PRIx32, mpidr_of(c));
        T(fdt_begin_node(fdt, name));
        T(fdt_property_string(fdt, "device_type", "cpu"));
        T(fdt_property_string(fdt, "compatible", "arm,armv8"));
        T(prop_u32(fdt, "reg", mpidr_of(c)));
        T(fdt_property_string(fdt, "enable-method", "psci"));
        T(fdt_end_node(fdt));
    }
    T(fdt_end_node(fdt));

    snprintf(name, sizeof(name), "memory@%" PRIx64, p->mem_base);
    T(fdt_begin_node(fdt, name));
    T(fdt_property_string(fdt, "device_type", "memory"));
    uint64_t mem[2] = {p->mem_base, p->mem_size};
    T(prop_regs(fdt, mem, 2));
    T(fdt_end_node(fdt));

    snprintf(name, sizeof(name), "intc@%" PRIx64, p->gicd_base);
    T(fdt_begin_node(fdt, name));
    T(fdt_property_string(fdt, "compatible", "arm,gic-v3"));
    T(prop_u32(fdt, "#interrupt-cells", 3));
    T(fdt_property(fdt, "interrupt-controller", NULL, 0));
    T(prop_u32(fdt, "#address-cells", 2));
    T(prop_u32(fdt, "#size-cells", 2));
    T(fdt_property(fdt, "ranges", NULL, 0));
    uint64_t gic[4] = {p->gicd_base, p->gicd_size, p->gicr_base, p->gicr_size};
    T(prop_regs(fdt, gic, 4));
    T(prop_u32(fdt, "#redistributor-regions", 1));
    /* maintenance interrupt: PPI 9, level high */
    fdt32_t maint[3] = {cpu_to_fdt32(1), cpu_to_fdt32(9), cpu_to_fdt32(4)};
    T(fdt_property(fdt, "interrupts", maint, sizeof(maint)));
    T(prop_u32(fdt, "phandle", PHANDLE_GIC));

    snprintf(name, sizeof(name), "its@%" PRIx64, p->its_base);
    T(fdt_begin_node(fdt, name));
    T(fdt_property_string(fdt, "compatible", "arm,gic-v3-its"));
    T(fdt_property(fdt, "msi-controller", NULL, 0));
    T(prop_u32(fdt, "#msi-cells", 1));
    uint64_t its[2] = {p->its_base, p->its_size};
    T(prop_regs(fdt, its, 2));
    T(prop_u32(fdt, "phandle", PHANDLE_ITS));
    T(fdt_end_node(fdt)); /* its */
    T(fdt_end_node(fdt)); /* intc */
    T(fdt_end_node(fdt)); /* root */
    T(fdt_finish(fdt));
#undef T
    if (!rc && len)
        *len = fdt_totalsize(fdt);
    return rc;
}

int dtb_write_file(const struct dtb_platform *p, const char *path, char *err, size_t errlen)
{
    size_t cap = 4096 + (size_t)p->nr_vcpus * 160, len = 0;
    void *buf = calloc(1, cap);
    if (!buf)
        return msg(err, errlen, "%s: out of memory", path);
    int rc = dtb_build(p, buf, cap, &len);
    if (rc) {
        free(buf);
        return msg(err, errlen, "%s: cannot build the device tree: %s", path, fdt_strerror(rc));
    }
    FILE *f = fopen(path, "wb");
    if (!f) {
        free(buf);
        return msg(err, errlen, "%s: cannot create: %s", path, strerror(errno));
    }
    size_t w = fwrite(buf, 1, len, f);
    int cl = fclose(f);
    free(buf);
    if (w != len || cl)
        return msg(err, errlen, "%s: write failed: %s", path, strerror(errno));
    return 0;
}

/* ---- reading ---- */

static uint64_t read_cells(const fdt32_t *c, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++)
        v = v << 32 | fdt32_to_cpu(c[i]);
    return v;
}

/* Translate addr, in the address space of node's children, up to the
 * root through each bus's ranges. Returns 0 or -1 (message in err). */
static int translate(const void *fdt, int bus, uint64_t *addr, char *err, size_t n)
{
    for (int depth = 0; bus > 0 && depth < 32; depth++) {
        int parent = fdt_parent_offset(fdt, bus);
        if (parent < 0)
            return msg(err, n, "cannot find the parent of %s", fdt_get_name(fdt, bus, NULL));
        int len;
        const fdt32_t *ranges = fdt_getprop(fdt, bus, "ranges", &len);
        if (!ranges)
            return msg(err, n,
                       "node %s has no ranges: its children's addresses do not map to "
                       "the CPU's",
                       fdt_get_name(fdt, bus, NULL));
        if (len > 0) {
            int cac = fdt_address_cells(fdt, bus), csc = fdt_size_cells(fdt, bus);
            int pac = fdt_address_cells(fdt, parent);
            if (cac < 1 || cac > 2 || csc < 0 || csc > 2 || pac < 1 || pac > 2)
                return msg(err, n, "node %s: unsupported #address-cells/#size-cells",
                           fdt_get_name(fdt, bus, NULL));
            int ent = cac + pac + csc;
            if (len % (ent * 4))
                return msg(err, n, "node %s: malformed ranges", fdt_get_name(fdt, bus, NULL));
            bool found = false;
            for (int i = 0; i < len / (ent * 4) && !found; i++) {
                const fdt32_t *e = ranges + i * ent;
                uint64_t child = read_cells(e, cac), par = read_cells(e + cac, pac);
                uint64_t size = read_cells(e + cac + pac, csc);
                if (*addr >= child && *addr - child < size) {
                    *addr = *addr - child + par;
                    found = true;
                }
            }
            if (!found)
                return msg(err, n, "node %s: address 0x%" PRIx64 " is outside its ranges",
                           fdt_get_name(fdt, bus, NULL), *addr);
        }
        bus = parent;
    }
    return 0;
}

/* Entry idx of node's reg, translated. Returns 0 or -1. */
static int reg_entry(const void *fdt, int node, int idx, uint64_t *base, uint64_t *size, char *err,
                     size_t n)
{
    const char *name = fdt_get_name(fdt, node, NULL);
    int parent = fdt_parent_offset(fdt, node);
    if (parent < 0)
        return msg(err, n, "node %s has no parent", name);
    int ac = fdt_address_cells(fdt, parent), sc = fdt_size_cells(fdt, parent);
    if (ac < 1 || ac > 2 || sc < 1 || sc > 2)
        return msg(err, n, "node %s: unsupported #address-cells %d / #size-cells %d", name, ac, sc);
    int len;
    const fdt32_t *reg = fdt_getprop(fdt, node, "reg", &len);
    if (!reg)
        return msg(err, n, "node %s has no reg property", name);
    int ent = (ac + sc) * 4;
    if (len % ent || len / ent <= idx)
        return msg(err, n, "node %s: reg has %d bytes, not %d entries of %d cells", name, len,
                   idx + 1, ac + sc);
    *base = read_cells(reg + idx * (ac + sc), ac);
    *size = read_cells(reg + idx * (ac + sc) + ac, sc);
    return translate(fdt, parent, base, err, n);
}

static bool disabled(const void *fdt, int node)
{
    int len;
    const char *st = fdt_getprop(fdt, node, "status", &len);
    return st && len > 0 && strnlen(st, (size_t)len) < (size_t)len && strcmp(st, "okay") &&
           strcmp(st, "ok");
}

int dtb_parse(const void *blob, size_t len, struct dtb_platform *p, char *err, size_t n)
{
    if (len < sizeof(struct fdt_header))
        return msg(err, n, "not a device tree blob: %zu bytes", len);
    int rc = fdt_check_header(blob);
    if (rc)
        return msg(err, n, "not a valid device tree blob: %s", fdt_strerror(rc));
    if (fdt_totalsize(blob) > len)
        return msg(err, n, "truncated device tree blob: header says %u bytes, file has %zu",
                   fdt_totalsize(blob), len);
    rc = fdt_check_full(blob, len);
    if (rc)
        return msg(err, n, "malformed device tree blob: %s", fdt_strerror(rc));
    memset(p, 0, sizeof(*p));

    char why[160] = "no node is compatible with \"arm,gic-v3-its\"";
    int its = -1;
    for (int off = fdt_node_offset_by_compatible(blob, -1, "arm,gic-v3-its"); off >= 0;
         off = fdt_node_offset_by_compatible(blob, off, "arm,gic-v3-its")) {
        const char *name = fdt_get_name(blob, off, NULL);
        uint64_t base, size;
        if (disabled(blob, off)) {
            snprintf(why, sizeof(why), "ITS node %s is disabled", name);
            continue;
        }
        if (!fdt_getprop(blob, off, "msi-controller", NULL)) {
            snprintf(why, sizeof(why), "ITS node %s has no msi-controller property", name);
            continue;
        }
        if (reg_entry(blob, off, 0, &base, &size, why, sizeof(why)))
            continue;
        if (size < 0x20000) {
            snprintf(why, sizeof(why),
                     "ITS node %s: reg covers 0x%" PRIx64 " bytes, less than the two 64 KiB "
                     "pages (0x20000)",
                     name, size);
            continue;
        }
        if (base & 0xffff) {
            snprintf(why, sizeof(why), "ITS node %s: base 0x%" PRIx64 " is not 64 KiB aligned",
                     name, base);
            continue;
        }
        p->its_base = base;
        p->its_size = size;
        its = off;
        break;
    }
    if (its < 0)
        return msg(err, n, "no usable ITS node: %s", why);

    /* The GICv3 the ITS belongs to: its parent, or any "arm,gic-v3". */
    int gic = fdt_parent_offset(blob, its);
    if (gic < 0 || fdt_node_check_compatible(blob, gic, "arm,gic-v3"))
        gic = fdt_node_offset_by_compatible(blob, -1, "arm,gic-v3");
    if (gic >= 0) {
        if (reg_entry(blob, gic, 0, &p->gicd_base, &p->gicd_size, why, sizeof(why)) ||
            reg_entry(blob, gic, 1, &p->gicr_base, &p->gicr_size, why, sizeof(why)))
            return msg(err, n, "GICv3 node: %s", why);
    }

    int cpus = fdt_path_offset(blob, "/cpus");
    if (cpus < 0)
        return msg(err, n, "no /cpus node");
    int sub;
    fdt_for_each_subnode(sub, blob, cpus)
    {
        int l;
        const char *dt = fdt_getprop(blob, sub, "device_type", &l);
        if (dt && l == 4 && !memcmp(dt, "cpu", 4) && !disabled(blob, sub))
            p->nr_vcpus++;
    }
    if (p->nr_vcpus == 0)
        return msg(err, n, "/cpus has no cpu nodes");
    if (p->nr_vcpus > 4096)
        return msg(err, n, "%u CPUs: more than vits' 4096", p->nr_vcpus);
    return 0;
}

int dtb_load_file(const char *path, struct dtb_platform *p, char *err, size_t n)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return msg(err, n, "%s: cannot open: %s", path, strerror(errno));
    uint8_t *buf = malloc(DTB_MAX_SIZE);
    if (!buf) {
        fclose(f);
        return msg(err, n, "%s: out of memory", path);
    }
    size_t len = fread(buf, 1, DTB_MAX_SIZE, f);
    bool more = len == DTB_MAX_SIZE && fgetc(f) != EOF;
    bool ioerr = ferror(f);
    fclose(f);
    if (ioerr || more) {
        free(buf);
        return msg(err, n, "%s: %s", path, ioerr ? "read error" : "larger than 16 MiB");
    }
    char why[200];
    int rc = dtb_parse(buf, len, p, why, sizeof(why));
    free(buf);
    if (rc)
        return msg(err, n, "%s: %s", path, why);
    return 0;
}
