/* SPDX-License-Identifier: MIT */
/* vits-trace parsing and replay (harness/trace.c): strict numbers, the
 * header, record checks, mismatches with their line numbers, cmd-error
 * semantics, and hostile input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trace.h"

/* Replay text; returns the status, the report in *report (malloc'd). */
static int replay_text(const char *text, struct replay_result *res, char **report)
{
    FILE *in = tmpfile(), *out = tmpfile();
    assert_non_null(in);
    assert_non_null(out);
    fputs(text, in);
    rewind(in);
    struct replay_options o = {.out = out};
    int st = replay_stream(in, "t.trace", &o, res);
    long n = ftell(out);
    rewind(out);
    char *buf = calloc(1, (size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, out), (size_t)n);
    fclose(in);
    fclose(out);
    if (report)
        *report = buf;
    else
        free(buf);
    return st;
}

#define BOOT                                                                                       \
    "vits-trace 1\n"                                                                               \
    "vcpus 2\n"                                                                                    \
    "gicr-w 0 0x70 8 0x4010000f\n"                                                                 \
    "gicr-w 1 0x70 8 0x4010000f\n"                                                                 \
    "gicr-w 0 0x78 8 0x4000000040200000\n"                                                         \
    "gicr-w 1 0x78 8 0x4000000040210000\n"                                                         \
    "gicr-w 0 0x0 4 1\n"                                                                           \
    "gicr-w 1 0x0 4 1\n"                                                                           \
    "mem 0x40100000 a3a3\n"                                                                        \
    "its-w 0x100 8 0x8100000040300000\n"                                                           \
    "its-w 0x108 8 0x8400000040310000\n"                                                           \
    "its-w 0x80 8 0x8000000040320000\n"                                                            \
    "its-w 0x0 4 0x1\n" /* line 13 */                                                              \
    "mem 0x40320000 0800000001000000010000000000000000003340000000800000000000000000\n"            \
    "mem 0x40320020 0900000000000000000000000000000000000100000000800000000000000000\n"            \
    "mem 0x40320040 0a00000001000000000000000020000000000000000000000000000000000000\n"            \
    "mem 0x40320060 0a00000001000000010000000120000000000000000000000000000000000000\n"            \
    "its-w 0x88 8 0x80\n" /* line 18 */

static void parse_numbers_strictly(void **state)
{
    (void)state;
    uint64_t v;
    assert_int_equal(parse_u64("0", &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(parse_u64("18446744073709551615", &v), 0);
    assert_int_equal(v, UINT64_MAX);
    assert_int_equal(parse_u64("0xFFFFffffFFFFffff", &v), 0);
    assert_int_equal(v, UINT64_MAX);
    assert_int_equal(parse_u64("18446744073709551616", &v), -EINVAL);
    assert_int_equal(parse_u64("0x10000000000000000", &v), -EINVAL);
    static const char *const bad[] = {"", "0x", "-1", "+1", " 1", "1 ", "1k", "0x1g", "1.0", "0b1"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(parse_u64(bad[i], &v), -EINVAL);
    uint32_t w;
    assert_int_equal(parse_u32("0xffffffff", &w), 0);
    assert_int_equal(parse_u32("4294967296", &w), -EINVAL);
}

static void replay_of_a_good_trace_matches_every_ack(void **state)
{
    (void)state;
    struct replay_result r;
    assert_int_equal(replay_text(BOOT "msi 1 0\nmsi 1 1\nmsi 1 0\nmsi 1 2\nmsi 2 0\n"
                                      "expect-pending 1 8193\nack 1 8192\nack 1 8193\n"
                                      "expect-idle\n",
                                 &r, NULL),
                     0);
    assert_int_equal(r.msi_delivered, 3);
    assert_int_equal(r.msi_blocked, 2); /* event 2 and device 2 are not mapped */
    assert_int_equal(r.acks_matched, 2);
    assert_int_equal(r.expects_held, 2);
    assert_int_equal(r.commands, 4);
    assert_int_equal(r.cmd_by_type[0x0a], 2);
    assert_int_equal(r.records[TK_MEM], 5);
    assert_int_equal(r.mismatches, 0);
}

static void mismatches_name_their_lines(void **state)
{
    (void)state;
    struct replay_result r;
    char *rep;
    /* line 19 msi; 20 ack on the wrong vCPU; 21 expect-idle while pending;
     * 22 expect-pending of an idle LPI */
    assert_int_equal(
        replay_text(BOOT "msi 1 0\nack 0 8192\nexpect-idle\nexpect-pending 1 8193\n", &r, &rep), 1);
    assert_int_equal(r.mismatches, 3);
    assert_non_null(strstr(rep, "t.trace:20: mismatch: ack 0 8192"));
    assert_non_null(
        strstr(rep, "t.trace:21: mismatch: expect-idle: LPI 8192 is pending on vCPU 1"));
    assert_non_null(strstr(rep, "t.trace:22: mismatch: expect-pending 1 8193"));
    assert_non_null(strstr(rep, "result: FAIL"));
    free(rep);
}

static void command_errors_must_be_announced(void **state)
{
    (void)state;
    struct replay_result r;
    char *rep;
    /* MAPTI of event 9 beyond the 4-event ITT: 0x010a05 */
    const char *bad_cmd =
        "mem 0x40320080 0a00000001000000090000000220000000000000000000000000000000000000\n"
        "its-w 0x88 8 0xa0\n"; /* line 20 */
    char text[4096];
    snprintf(text, sizeof(text), "%s%s", BOOT, bad_cmd);
    assert_int_equal(replay_text(text, &r, &rep), 1);
    assert_non_null(strstr(rep, "t.trace:20: mismatch: command error 0x010a05"));
    free(rep);
    snprintf(text, sizeof(text), "%s%scmd-error 0x010a05\nexpect-idle\n", BOOT, bad_cmd);
    assert_int_equal(replay_text(text, &r, NULL), 0);
    assert_int_equal(r.cmd_errors_seen, 1);
    assert_int_equal(r.cmd_errors_announced, 1);
    /* wrong code; and an announcement with nothing behind it */
    snprintf(text, sizeof(text), "%s%scmd-error 0x010a04\ncmd-error 0x010a05\n", BOOT, bad_cmd);
    assert_int_equal(replay_text(text, &r, &rep), 1);
    assert_non_null(strstr(rep, "t.trace:21: mismatch: cmd-error 0x010a04 announced, but the "
                                "command failed with 0x010a05"));
    assert_non_null(strstr(rep, "t.trace:22: mismatch: cmd-error 0x010a05 announced, but no"));
    free(rep);
}

static void several_errors_in_one_cwriter_write_are_each_attributed(void **state)
{
    (void)state;
    struct replay_result r;
    /* two failing commands (INV of unmapped events) queued behind one
     * CWRITER write: the replayer feeds them one at a time */
    char text[4096];
    snprintf(text, sizeof(text),
             "%s"
             "mem 0x40320080 0c00000007000000000000000000000000000000000000000000000000000000\n"
             "mem 0x403200a0 0c00000001000000030000000000000000000000000000000000000000000000\n"
             "its-w 0x88 8 0xc0\n"
             "cmd-error 0x010c04\n"
             "cmd-error 0x010c07\n",
             BOOT);
    assert_int_equal(replay_text(text, &r, NULL), 0);
    assert_int_equal(r.cmd_errors_seen, 2);
}

static void malformed_traces_stop_with_the_line(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        const char *expect;
    } cases[] = {
        {"", "empty trace"},
        {"vcpus 1\n", "t.trace:1: error: not a vits-trace"},
        {"vits-trace 2\n", "t.trace:1: error: unsupported trace version"},
        {"# c\n\nvits-trace 1\nbogus 1\n", "t.trace:4: error: unknown record `bogus`"},
        {"vits-trace 1\nits-w 0x0 4 1\n", "t.trace:2: error: no `vcpus` record"},
        {"vits-trace 1\nvcpus 0\n", "t.trace:2: error: vcpus must be 1..4096"},
        {"vits-trace 1\nvcpus 5000\n", "out of range"},
        {"vits-trace 1\nvcpus 1\nvcpus 1\n", "t.trace:3: error: a second `vcpus`"},
        {"vits-trace 1\nits 0x1234\n", "not 64 KiB aligned"},
        {"vits-trace 1\ngeometry devbits=40\n", "vits provides 1..32"},
        {"vits-trace 1\ngeometry colour=blue\n", "unknown key"},
        {"vits-trace 1\ngeometry errors=panic\n", "continue or stall"},
        {"vits-trace 1\nmem 0x10 abc\n", "even number of hex digits"},
        {"vits-trace 1\nmem 0x10 0xab\n", "not a hex byte"},
        {"vits-trace 1\nmem 0xffffffffffffffff abab\n", "wraps around"},
        {"vits-trace 1\nvcpus 1\nits-w 0x88 3 1\n", "accesses are 4 or 8 bytes"},
        {"vits-trace 1\nvcpus 1\nits-w 0x84 8 1\n", "not aligned"},
        {"vits-trace 1\nvcpus 1\nits-w 0x20000 4 1\n", "offset 0x20000 out of range"},
        {"vits-trace 1\nvcpus 1\nits-w 0x0 4 0x100000000\n", "value 0x100000000 out of range"},
        {"vits-trace 1\nvcpus 1\nits-w 0x0 4\n", "expected `its-w OFFSET SIZE VALUE`"},
        {"vits-trace 1\nvcpus 1\ngicr-w 1 0x0 4 1\n", "CPU 1 out of range"},
        {"vits-trace 1\nvcpus 1\nack 0 -1\n", "is not a number"},
        {"vits-trace 1\nvcpus 1\nmsi 1 2 3\n", "expected `msi DEVID EVENTID`"},
        {"vits-trace 1\nvcpus 1\nmigrate sideways\n", "expected `migrate tables`"},
        {"vits-trace 1\na b c d e f g h i j k l m n o p q\n", "more than 16 fields"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct replay_result r;
        char *rep;
        int st = replay_text(cases[i].text, &r, &rep);
        if (st != 2 || !strstr(rep, cases[i].expect))
            fail_msg("case %zu: status %d, report:\n%s", i, st, rep);
        free(rep);
    }
}

static void migrate_records_save_and_restore_in_a_fresh_instance(void **state)
{
    (void)state;
    struct replay_result r;
    char *rep;
    assert_int_equal(
        replay_text("vits-trace 1\nvcpus 1\nmigrate snapshot\nmigrate tables\n", &r, &rep), 0);
    assert_int_equal(r.records[TK_MIGRATE], 2);
    assert_non_null(strstr(rep, "result: PASS"));
    free(rep);
    /* with state: the LPIs raised before each kind of migration are there
     * to acknowledge after it, the commands of both ITSes counted */
    for (int k = 0; k < 2; k++) {
        char text[4096];
        snprintf(text, sizeof(text),
                 BOOT "msi 1 0\nmsi 1 1\nmigrate %s\nexpect-pending 1 8193\nack 1 8192\n"
                      "ack 1 8193\nmsi 1 1\nack 1 8193\nexpect-idle\n",
                 k ? "snapshot" : "tables");
        assert_int_equal(replay_text(text, &r, &rep), 0);
        assert_int_equal(r.acks_matched, 3);
        assert_int_equal(r.msi_delivered, 3);
        assert_int_equal(r.commands, 4);
        free(rep);
    }
}

static void register_read_differences_are_notes_unless_strict(void **state)
{
    (void)state;
    struct replay_result r;
    const char *text = "vits-trace 1\nvcpus 1\nits-r 0x4 4 0x12345\nits-r 0x0 4\n";
    assert_int_equal(replay_text(text, &r, NULL), 0);
    assert_int_equal(r.read_differences, 1);
    FILE *in = tmpfile(), *out = tmpfile();
    fputs(text, in);
    rewind(in);
    struct replay_options o = {.out = out, .strict = true};
    assert_int_equal(replay_stream(in, "s", &o, &r), 1);
    fclose(in);
    fclose(out);
}

static void garbage_never_crashes(void **state)
{
    (void)state;
    /* random bytes, and random lines made of real record names */
    uint64_t x = 0x9e3779b97f4a7c15ull;
    static const char *const words[] = {
        "vits-trace", "1",         "vcpus",       "its-w",      "its-r",  "mem",
        "0x88",       "8",         "4",           "msi",        "ack",    "0",
        "0x40320000", "cmd-error", "expect-idle", "0xffffffff", "gicr-w", "00ff",
        "#",          "\n",        "\n",          "\n"};
    for (int round = 0; round < 200; round++) {
        char text[2048];
        size_t n = 0;
        if (round % 2) {
            n = (size_t)snprintf(text, sizeof(text), "vits-trace 1\nvcpus 2\n");
            while (n < sizeof(text) - 40) {
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                n += (size_t)snprintf(text + n, sizeof(text) - n, "%s ",
                                      words[x % (sizeof(words) / sizeof(words[0]))]);
            }
        } else {
            for (; n < sizeof(text) - 1; n++) {
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                text[n] = (char)(x % 255 + 1);
            }
        }
        text[n] = 0;
        struct replay_result r;
        int st = replay_text(text, &r, NULL);
        assert_true(st >= 0 && st <= 3);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(parse_numbers_strictly),
        cmocka_unit_test(replay_of_a_good_trace_matches_every_ack),
        cmocka_unit_test(mismatches_name_their_lines),
        cmocka_unit_test(command_errors_must_be_announced),
        cmocka_unit_test(several_errors_in_one_cwriter_write_are_each_attributed),
        cmocka_unit_test(malformed_traces_stop_with_the_line),
        cmocka_unit_test(migrate_records_save_and_restore_in_a_fresh_instance),
        cmocka_unit_test(register_read_differences_are_notes_unless_strict),
        cmocka_unit_test(garbage_never_crashes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
