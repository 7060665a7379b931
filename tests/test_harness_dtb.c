/* SPDX-License-Identifier: MIT */
/* Device-tree glue (harness/dtb.c, libfdt) and the command-queue decoder
 * (harness/decode.c). */
#define _POSIX_C_SOURCE 200809L /* mkstemp, fdopen */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libfdt.h>

#include "decode.h"
#include "dtb.h"

/* Cell i of a 64-bit property (properties are only 4-byte aligned). */
static uint64_t reg64(const void *prop, int i)
{
    fdt64_t v;
    memcpy(&v, (const char *)prop + 8 * i, sizeof(v));
    return fdt64_to_cpu(v);
}

static void *build(uint32_t vcpus, size_t *len)
{
    struct dtb_platform p;
    dtb_platform_default(&p, vcpus);
    size_t cap = 65536;
    void *buf = calloc(1, cap);
    assert_non_null(buf);
    assert_int_equal(dtb_build(&p, buf, cap, len), 0);
    return buf;
}

static void built_dtb_has_the_gic_and_its_nodes(void **state)
{
    (void)state;
    size_t len;
    void *fdt = build(6, &len);
    assert_int_equal(fdt_check_full(fdt, len), 0);
    int gic = fdt_node_offset_by_compatible(fdt, -1, "arm,gic-v3");
    assert_true(gic >= 0);
    assert_non_null(fdt_getprop(fdt, gic, "interrupt-controller", NULL));
    int l;
    const fdt32_t *cells = fdt_getprop(fdt, gic, "#interrupt-cells", &l);
    assert_int_equal(l, 4);
    assert_int_equal(fdt32_to_cpu(*cells), 3);
    const void *reg = fdt_getprop(fdt, gic, "reg", &l);
    assert_int_equal(l, 32);
    assert_int_equal(reg64(reg, 0), 0x08000000);
    assert_int_equal(reg64(reg, 2), 0x080a0000);
    assert_int_equal(reg64(reg, 3), 6 * 0x20000);
    int its = fdt_node_offset_by_compatible(fdt, -1, "arm,gic-v3-its");
    assert_int_equal(fdt_parent_offset(fdt, its), gic);
    assert_non_null(fdt_getprop(fdt, its, "msi-controller", NULL));
    cells = fdt_getprop(fdt, its, "#msi-cells", &l);
    assert_int_equal(fdt32_to_cpu(*cells), 1);
    reg = fdt_getprop(fdt, its, "reg", &l);
    assert_int_equal(reg64(reg, 0), 0x08080000);
    assert_int_equal(reg64(reg, 1), 0x20000);
    assert_true(fdt_get_phandle(fdt, its) != 0);
    assert_int_equal(fdt_node_offset_by_phandle(fdt, fdt_get_phandle(fdt, its)), its);
    free(fdt);
}

static void parse_reads_back_what_build_wrote(void **state)
{
    (void)state;
    struct dtb_platform p, q;
    dtb_platform_default(&p, 33);
    p.its_base = 0x10000000;
    p.gicr_base = 0x20000000;
    p.gicr_size = 33 * 0x20000;
    char buf[32768], err[200];
    size_t len;
    assert_int_equal(dtb_build(&p, buf, sizeof(buf), &len), 0);
    assert_int_equal(dtb_parse(buf, len, &q, err, sizeof(err)), 0);
    assert_int_equal(q.nr_vcpus, 33);
    assert_int_equal(q.its_base, 0x10000000);
    assert_int_equal(q.its_size, 0x20000);
    assert_int_equal(q.gicr_base, 0x20000000);
    assert_int_equal(q.gicd_base, 0x08000000);
    /* too small a buffer is libfdt's NOSPACE, not an overflow */
    assert_int_equal(dtb_build(&p, buf, 256, &len), -FDT_ERR_NOSPACE);
}

/* Rebuild the default tree and edit it with libfdt's read-write calls. */
static void *editable(size_t *len)
{
    void *fdt = build(2, len);
    void *big = calloc(1, 65536);
    assert_int_equal(fdt_open_into(fdt, big, 65536), 0);
    free(fdt);
    *len = 65536;
    return big;
}

static void expect_parse_error(const void *fdt, size_t len, const char *what)
{
    struct dtb_platform p;
    char err[300];
    assert_int_equal(dtb_parse(fdt, len, &p, err, sizeof(err)), -1);
    if (!strstr(err, what))
        fail_msg("expected \"%s\" in \"%s\"", what, err);
}

static void parse_rejects_trees_without_a_usable_its(void **state)
{
    (void)state;
    size_t len;
    void *fdt = editable(&len);
    int its = fdt_node_offset_by_compatible(fdt, -1, "arm,gic-v3-its");
    assert_int_equal(fdt_delprop(fdt, its, "msi-controller"), 0);
    expect_parse_error(fdt, len, "no msi-controller");
    free(fdt);

    fdt = editable(&len);
    its = fdt_node_offset_by_compatible(fdt, -1, "arm,gic-v3-its");
    assert_int_equal(fdt_setprop_string(fdt, its, "status", "disabled"), 0);
    expect_parse_error(fdt, len, "disabled");
    free(fdt);

    fdt = editable(&len);
    its = fdt_node_offset_by_compatible(fdt, -1, "arm,gic-v3-its");
    fdt64_t reg[2] = {cpu_to_fdt64(0x08080000), cpu_to_fdt64(0x10000)};
    assert_int_equal(fdt_setprop(fdt, its, "reg", reg, sizeof(reg)), 0);
    expect_parse_error(fdt, len, "less than the two 64 KiB pages");
    assert_int_equal(fdt_setprop(fdt, its, "reg", reg, 12), 0);
    expect_parse_error(fdt, len, "reg has 12 bytes");
    free(fdt);

    fdt = editable(&len);
    its = fdt_node_offset_by_compatible(fdt, -1, "arm,gic-v3-its");
    assert_int_equal(fdt_del_node(fdt, its), 0);
    expect_parse_error(fdt, len, "no node is compatible with \"arm,gic-v3-its\"");
    free(fdt);

    fdt = editable(&len);
    assert_int_equal(fdt_del_node(fdt, fdt_path_offset(fdt, "/cpus")), 0);
    expect_parse_error(fdt, len, "no /cpus node");
    free(fdt);

    /* translated through a bus's ranges */
    fdt = editable(&len);
    int gic = fdt_node_offset_by_compatible(fdt, -1, "arm,gic-v3");
    fdt32_t ranges[7] = {cpu_to_fdt32(0),
                         cpu_to_fdt32(0x08000000),
                         cpu_to_fdt32(0),
                         cpu_to_fdt32(0x30000000),
                         cpu_to_fdt32(0),
                         cpu_to_fdt32(0x1000000),
                         0};
    assert_int_equal(fdt_setprop(fdt, gic, "ranges", ranges, 6 * 4), 0);
    struct dtb_platform p;
    char err[200];
    assert_int_equal(dtb_parse(fdt, len, &p, err, sizeof(err)), 0);
    assert_int_equal(p.its_base, 0x30080000);
    free(fdt);
}

static void parse_rejects_malformed_blobs(void **state)
{
    (void)state;
    size_t len;
    uint8_t *fdt = build(2, &len);
    expect_parse_error(fdt, 10, "bytes");
    expect_parse_error(fdt, len - 8, "truncated");
    uint8_t *bad = malloc(len);
    memcpy(bad, fdt, len);
    bad[0] ^= 0xff; /* magic */
    expect_parse_error(bad, len, "not a valid device tree blob");
    memcpy(bad, fdt, len);
    /* corrupt the structure block: its first token */
    uint32_t off_struct = fdt_off_dt_struct(fdt);
    memset(bad + off_struct, 0xee, 4);
    expect_parse_error(bad, len, "malformed");
    /* random damage anywhere must not crash */
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < 2000; i++) {
        memcpy(bad, fdt, len);
        for (int k = 0; k < 4; k++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            bad[x % len] = (uint8_t)(x >> 32);
        }
        struct dtb_platform p;
        char err[200];
        dtb_parse(bad, len, &p, err, sizeof(err));
    }
    free(bad);
    free(fdt);
}

static void decode_prints_fields_and_flags_malformed_commands(void **state)
{
    (void)state;
    struct decode_geometry g;
    decode_geometry_init(&g);
    g.vcpus = 4;
    char line[1024];
    uint64_t mapd[4] = {0x08 | 0x10ull << 32, 4, 1ull << 63 | 0x40330000, 0};
    assert_true(decode_command(mapd, &g, line, sizeof(line)));
    assert_non_null(strstr(line, "MAPD"));
    assert_non_null(strstr(line, "DeviceID=0x10 Size=4 (32 events) ITT_addr=0x40330000 V=1"));
    uint64_t mapti[4] = {0x0a | 0x10ull << 32, 3 | 8195ull << 32, 2, 0};
    assert_true(decode_command(mapti, &g, line, sizeof(line)));
    assert_non_null(strstr(line, "DeviceID=0x10 EventID=3 pINTID=8195 ICID=2"));
    uint64_t bad_intid[4] = {0x0a, 0 | 100ull << 32, 0, 0};
    assert_false(decode_command(bad_intid, &g, line, sizeof(line)));
    assert_non_null(strstr(line, "pINTID 100 is not an LPI"));
    uint64_t reserved[4] = {0x05, 0, 1ull << 16, 1};
    assert_false(decode_command(reserved, &g, line, sizeof(line)));
    assert_non_null(strstr(line, "reserved bits set in DW3"));
    uint64_t unknown[4] = {0x42, 0, 0, 0};
    assert_false(decode_command(unknown, &g, line, sizeof(line)));
    assert_non_null(strstr(line, "unknown command number 0x42"));
    uint64_t v4[4] = {0x29, 0, 0, 0};
    assert_false(decode_command(v4, &g, line, sizeof(line)));
    assert_non_null(strstr(line, "VMAPP"));
    uint64_t mapc[4] = {0x09, 0, 1ull << 63 | 9ull << 16 | 1, 0};
    assert_false(decode_command(mapc, &g, line, sizeof(line)));
    assert_non_null(strstr(line, "processor 9 beyond the 4 CPUs"));
    uint64_t movi_dev[4] = {0x01 | 0x1ffffull << 32, 70000, 0, 0};
    assert_false(decode_command(movi_dev, &g, line, sizeof(line)));
    assert_non_null(strstr(line, "DeviceID 0x1ffff beyond 16"));
    assert_non_null(strstr(line, "EventID 70000 beyond 16"));
}

static void decode_loads_hex_words_and_bytes(void **state)
{
    (void)state;
    char words[] = "/tmp/vits-decode-words-XXXXXX", bytes[] = "/tmp/vits-decode-bytes-XXXXXX";
    FILE *f = fdopen(mkstemp(words), "w");
    fprintf(f, "# MAPC\n0x9 0x0\n0x8000000000010002 0x0\n0x42 0 0 0\n");
    fclose(f);
    uint8_t *buf;
    size_t len;
    char err[200];
    assert_int_equal(decode_load(words, DECODE_AUTO, &buf, &len, err, sizeof(err)), -1);
    assert_non_null(strstr(err, ":4: `0`"));
    f = fopen(words, "w");
    fprintf(f, "0x9 0x0 0x8000000000010002 0x0\n");
    fclose(f);
    assert_int_equal(decode_load(words, DECODE_AUTO, &buf, &len, err, sizeof(err)), 0);
    assert_int_equal(len, 32);
    assert_int_equal(buf[0], 9);
    assert_int_equal(buf[16], 2);
    assert_int_equal(buf[23], 0x80);
    struct decode_geometry g;
    decode_geometry_init(&g);
    FILE *out = tmpfile();
    assert_int_equal(decode_queue(buf, len, 0, &g, out, NULL), 0);
    fclose(out);
    free(buf);
    f = fdopen(mkstemp(bytes), "w");
    fprintf(f, "0900000000000000 0000000000000000\n0000000000000080 00000000000000\n");
    fclose(f);
    assert_int_equal(decode_load(bytes, DECODE_HEX, &buf, &len, err, sizeof(err)), 0);
    assert_int_equal(len, 31);
    out = tmpfile();
    struct decode_stats st = {0};
    assert_int_equal(decode_queue(buf, len, 0, &g, out, &st), 1); /* a partial command */
    assert_int_equal(st.commands, 0);
    fclose(out);
    free(buf);
    remove(words);
    remove(bytes);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(built_dtb_has_the_gic_and_its_nodes),
        cmocka_unit_test(parse_reads_back_what_build_wrote),
        cmocka_unit_test(parse_rejects_trees_without_a_usable_its),
        cmocka_unit_test(parse_rejects_malformed_blobs),
        cmocka_unit_test(decode_prints_fields_and_flags_malformed_commands),
        cmocka_unit_test(decode_loads_hex_words_and_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
