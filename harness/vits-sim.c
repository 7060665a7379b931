/* SPDX-License-Identifier: MIT */
/*
 * vits-sim: the harness's command-line tool.
 *
 *   simulate  the main job: a VM storming MSIs while the guest churns
 *   replay    replay vits-traces and check them
 *   record    run a scripted driver-model scenario, record it as a trace
 *   decode    print a command-queue dump as readable commands
 *   dtb       write a device tree blob of a VM with a GICv3 and an ITS
 *   serve     run vits in this process for a VMM over a socket
 */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "decode.h"
#include "dtb.h"
#include "remote.h"
#include "scenario.h"
#include "sim.h"
#include "trace.h"
#include "vits.h"

static const char *prog = "vits-sim";

/* ---- option parsing: --name VALUE, --name=VALUE, flags ---- */

struct args {
    int argc, i;
    char **argv;
    const char *cmd;
    char *inline_val; /* after '=' */
};

static int usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s %s: ", prog, cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n(see %s %s --help)\n", prog, cmd);
    va_end(ap);
    return 2;
}

/* Whether argv[i] is option name; on a match with a value, *val is set
 * (NULL when the value is missing). */
static bool opt(struct args *a, const char *name, bool has_value, const char **val)
{
    const char *arg = a->argv[a->i];
    size_t n = strlen(name);
    if (strncmp(arg, name, n))
        return false;
    if (arg[n] == '=' && has_value) {
        *val = arg + n + 1;
        return true;
    }
    if (arg[n])
        return false;
    if (has_value)
        *val = a->i + 1 < a->argc ? a->argv[++a->i] : NULL;
    return true;
}

static int get_u64(const char *cmd, const char *name, const char *v, uint64_t *out)
{
    if (!v)
        return usage_error(cmd, "%s needs a value", name);
    if (parse_u64(v, out))
        return usage_error(cmd, "%s `%s` is not a number (decimal, or hex with 0x)", name, v);
    return 0;
}

static int get_u32(const char *cmd, const char *name, const char *v, uint32_t *out)
{
    uint64_t x;
    int rc = get_u64(cmd, name, v, &x);
    if (rc)
        return rc;
    if (x > UINT32_MAX)
        return usage_error(cmd, "%s `%s` is larger than 32 bits", name, v);
    *out = (uint32_t)x;
    return 0;
}

static int get_rate(const char *cmd, const char *name, const char *v, double *out)
{
    if (!v)
        return usage_error(cmd, "%s needs a value", name);
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (errno || end == v || *end || !isfinite(d) || d < 0 || d > 1000)
        return usage_error(cmd, "%s `%s`: expected a number of actions per 1000 MSIs, 0..1000",
                           name, v);
    *out = d;
    return 0;
}

static bool is_help(const char *s) { return !strcmp(s, "--help") || !strcmp(s, "-h"); }

/* ---- simulate ---- */

static const char simulate_help[] =
    "usage: vits-sim simulate [OPTIONS]\n"
    "\n"
    "Boot a VM's ITS through the Linux-like driver model, then storm MSIs from\n"
    "device threads while the guest moves vectors between CPUs, takes CPUs\n"
    "offline and online, unplugs and re-plugs devices and changes priorities.\n"
    "Every MSI must be delivered once to the vCPU its mapping named, or\n"
    "coalesced into an LPI already pending. Prints a summary; exits 1 on any\n"
    "violation.\n"
    "\n"
    "  --vcpus N           vCPUs (default 4)\n"
    "  --devices N         devices (default 16)\n"
    "  --vectors N         MSI vectors per device (default 8)\n"
    "  --msis N            MSIs to send in all (default 300000)\n"
    "  --threads N         device threads (default 2)\n"
    "  --affinity-rate R   affinity changes (MOVI) per 1000 MSIs (default 5)\n"
    "  --hotplug-rate R    CPU offline or online steps per 1000 MSIs (default 0.5)\n"
    "  --unplug-rate R     device unplug + re-plug per 1000 MSIs (default 0.2)\n"
    "  --prop-rate R       priority changes (+ INV) per 1000 MSIs (default 1)\n"
    "  --burst P           % of MSIs a device sends while the vector's previous\n"
    "                      one is still pending (coalescing; default 10)\n"
    "  --seed N            random seed (default 1)\n"
    "  --two-level         20 DeviceID bits and sparse DeviceIDs\n"
    "  --dtb FILE          take the ITS base, redistributor base and vCPU count\n"
    "                      from a device tree blob\n"
    "  --progress, --no-progress\n"
    "                      progress bar on stderr (default: when it is a terminal)\n"
    "  --verbose           print vits' guest-error log lines\n";

static int load_platform(const char *cmd, const char *path, struct dtb_platform *p)
{
    char err[300];
    if (dtb_load_file(path, p, err, sizeof(err))) {
        fprintf(stderr, "%s %s: %s\n", prog, cmd, err);
        return 2;
    }
    return 0;
}

static int cmd_simulate(struct args *a)
{
    struct sim_options o;
    sim_options_init(&o);
    const char *dtb = NULL, *v;
    bool vcpus_given = false;
    int rc = 0;
    for (a->i = 2; a->i < a->argc && !rc; a->i++) {
        const char *arg = a->argv[a->i];
        if (is_help(arg)) {
            fputs(simulate_help, stdout);
            return 0;
        } else if (opt(a, "--vcpus", true, &v)) {
            rc = get_u32(a->cmd, "--vcpus", v, &o.vcpus);
            vcpus_given = true;
        } else if (opt(a, "--devices", true, &v)) {
            rc = get_u32(a->cmd, "--devices", v, &o.devices);
        } else if (opt(a, "--vectors", true, &v)) {
            rc = get_u32(a->cmd, "--vectors", v, &o.vectors);
        } else if (opt(a, "--msis", true, &v)) {
            rc = get_u64(a->cmd, "--msis", v, &o.msis);
        } else if (opt(a, "--threads", true, &v)) {
            rc = get_u32(a->cmd, "--threads", v, &o.threads);
        } else if (opt(a, "--affinity-rate", true, &v)) {
            rc = get_rate(a->cmd, "--affinity-rate", v, &o.affinity_rate);
        } else if (opt(a, "--hotplug-rate", true, &v)) {
            rc = get_rate(a->cmd, "--hotplug-rate", v, &o.hotplug_rate);
        } else if (opt(a, "--unplug-rate", true, &v)) {
            rc = get_rate(a->cmd, "--unplug-rate", v, &o.unplug_rate);
        } else if (opt(a, "--prop-rate", true, &v)) {
            rc = get_rate(a->cmd, "--prop-rate", v, &o.prop_rate);
        } else if (opt(a, "--burst", true, &v)) {
            rc = get_u32(a->cmd, "--burst", v, &o.burst_pct);
            if (!rc && o.burst_pct > 100)
                rc = usage_error(a->cmd, "--burst: a percentage, 0..100");
        } else if (opt(a, "--seed", true, &v)) {
            rc = get_u64(a->cmd, "--seed", v, &o.seed);
        } else if (opt(a, "--dtb", true, &v)) {
            if (!v)
                return usage_error(a->cmd, "--dtb needs a file");
            dtb = v;
        } else if (opt(a, "--two-level", false, &v)) {
            o.two_level = true;
        } else if (opt(a, "--progress", false, &v)) {
            o.progress = 1;
        } else if (opt(a, "--no-progress", false, &v)) {
            o.progress = 0;
        } else if (opt(a, "--verbose", false, &v)) {
            o.verbose = true;
        } else {
            return usage_error(a->cmd, "unknown argument `%s`", arg);
        }
    }
    if (rc)
        return rc;
    if (dtb) {
        struct dtb_platform p;
        if ((rc = load_platform(a->cmd, dtb, &p)))
            return rc;
        if (vcpus_given && o.vcpus != p.nr_vcpus)
            return usage_error(a->cmd, "--vcpus %u, but %s describes %u CPUs", o.vcpus, dtb,
                               p.nr_vcpus);
        o.vcpus = p.nr_vcpus;
        o.its_base = p.its_base;
        o.redist_base = p.gicr_base;
    }
    return sim_run(&o, NULL);
}

/* ---- replay ---- */

static const char replay_help[] =
    "usage: vits-sim replay [OPTIONS] FILE...\n"
    "\n"
    "Replay vits-traces (format: docs/harness.md) against vits through the\n"
    "reference embedding. Each file is replayed in a fresh VM; the report\n"
    "gives the records of each kind, commands processed, MSIs delivered and\n"
    "blocked, acknowledgements matched, and every mismatch with its line.\n"
    "`migrate tables` / `migrate snapshot` save the state, create a fresh ITS\n"
    "and domain, and restore (docs/migration.md).\n"
    "Exit status: 0 all passed, 1 a mismatch, 2 a malformed trace or bad\n"
    "arguments, 3 a record this replayer cannot carry out.\n"
    "\n"
    "  --dtb FILE      take the ITS base, redistributor base and vCPU count from\n"
    "                  a device tree blob (a trace's own vcpus/its must agree)\n"
    "  --strict        a register read that differs from the trace is a mismatch\n"
    "  --max-mem MIB   guest memory a trace may write (default 256)\n"
    "  --verbose       print vits' guest-error log lines to stderr\n"
    "  --remote        run vits out of process: a `vits-sim serve` child per\n"
    "                  trace, reached over a socketpair (docs/protocol.md);\n"
    "                  the report is the same as in process\n"
    "  --connect PATH  run vits in the server listening at PATH instead\n"
    "  --fail-reads N  every N-th guest-memory read vits makes fails (-EIO),\n"
    "                  as a lost message would\n"
    "  --max-access N  largest guest-memory access vits may make (bytes)\n";

/* --remote / --connect: where each trace's server comes from. */
struct replay_server {
    const char *path; /* --connect */
    pid_t pid;        /* the child of --remote, 0 when none */
};

static int replay_connect(void *ctx)
{
    struct replay_server *sv = ctx;
    if (sv->path)
        return remote_dial(sv->path);
    return remote_spawn("/proc/self/exe", NULL, &sv->pid);
}

/* Reap a --remote child after its trace; 0, or 2 when it failed. */
static int reap_server(struct replay_server *sv, const char *trace)
{
    if (sv->pid <= 0)
        return 0;
    int st = 0;
    pid_t pid = sv->pid;
    sv->pid = 0;
    if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st)) {
        fprintf(stderr, "%s replay: %s: the server (pid %d) ended abnormally (status 0x%x)\n", prog,
                trace, (int)pid, st);
        return 2;
    }
    return 0;
}

static int cmd_replay(struct args *a)
{
    struct replay_options o = {0};
    struct replay_server server = {0};
    const char *v;
    int nfiles = 0;
    for (a->i = 2; a->i < a->argc; a->i++) {
        const char *arg = a->argv[a->i];
        if (is_help(arg)) {
            fputs(replay_help, stdout);
            return 0;
        } else if (opt(a, "--dtb", true, &v)) {
            if (!v)
                return usage_error(a->cmd, "--dtb needs a file");
            struct dtb_platform p;
            int rc = load_platform(a->cmd, v, &p);
            if (rc)
                return rc;
            o.have_platform = true;
            o.vcpus = p.nr_vcpus;
            o.its_base = p.its_base;
            o.redist_base = p.gicr_base;
        } else if (opt(a, "--strict", false, &v)) {
            o.strict = true;
        } else if (opt(a, "--verbose", false, &v)) {
            o.verbose = true;
            o.log = stderr;
        } else if (opt(a, "--max-mem", true, &v)) {
            uint32_t mib;
            int rc = get_u32(a->cmd, "--max-mem", v, &mib);
            if (rc)
                return rc;
            if (mib < 1 || mib > 65536)
                return usage_error(a->cmd, "--max-mem: 1..65536 MiB");
            o.max_pages = (size_t)mib * 256;
        } else if (opt(a, "--remote", false, &v)) {
            o.connect = replay_connect;
            o.connect_ctx = &server;
        } else if (opt(a, "--connect", true, &v)) {
            if (!v)
                return usage_error(a->cmd, "--connect needs a socket path");
            server.path = v;
            o.connect = replay_connect;
            o.connect_ctx = &server;
        } else if (opt(a, "--fail-reads", true, &v)) {
            int rc = get_u32(a->cmd, "--fail-reads", v, &o.fail_reads);
            if (rc)
                return rc;
        } else if (opt(a, "--max-access", true, &v)) {
            int rc = get_u32(a->cmd, "--max-access", v, &o.max_access);
            if (rc)
                return rc;
        } else if (arg[0] == '-' && arg[1]) {
            return usage_error(a->cmd, "unknown option `%s`", arg);
        } else {
            nfiles++;
        }
    }
    if (!nfiles)
        return usage_error(a->cmd, "no trace file given");
    int worst = 0;
    unsigned passed = 0;
    for (a->i = 2; a->i < a->argc; a->i++) {
        const char *arg = a->argv[a->i];
        if (!strcmp(arg, "--dtb") || !strcmp(arg, "--max-mem") || !strcmp(arg, "--connect") ||
            !strcmp(arg, "--fail-reads") || !strcmp(arg, "--max-access")) {
            a->i++;
            continue;
        }
        if (arg[0] == '-' && arg[1])
            continue;
        int st = !strcmp(arg, "-") ? replay_stream(stdin, "<stdin>", &o, NULL)
                                   : replay_file(arg, &o, NULL);
        int sst = reap_server(&server, arg);
        if (sst > st)
            st = sst;
        if (st > worst)
            worst = st;
        passed += st == 0;
    }
    if (nfiles > 1)
        printf("%u of %d traces passed\n", passed, nfiles);
    return worst;
}

/* ---- record ---- */

static const char record_help[] =
    "usage: vits-sim record SCENARIO [FILE]\n"
    "       vits-sim record --list\n"
    "\n"
    "Run a scripted scenario of the Linux-like ITS driver model against vits\n"
    "and record it as a vits-trace (to FILE, or stdout). The scenario checks\n"
    "its own expectations as it goes and exits 1 if one fails.\n";

static int cmd_record(struct args *a)
{
    const char *name = NULL, *file = NULL;
    for (a->i = 2; a->i < a->argc; a->i++) {
        const char *arg = a->argv[a->i];
        if (is_help(arg)) {
            fputs(record_help, stdout);
            return 0;
        }
        if (!strcmp(arg, "--list")) {
            for (int i = 0; scenario_names[i]; i++)
                printf("%-10s %s\n", scenario_names[i], scenario_description(scenario_names[i]));
            return 0;
        }
        if (arg[0] == '-' && arg[1])
            return usage_error(a->cmd, "unknown option `%s`", arg);
        if (!name)
            name = arg;
        else if (!file)
            file = arg;
        else
            return usage_error(a->cmd, "too many arguments");
    }
    if (!name)
        return usage_error(a->cmd, "which scenario? (--list)");
    if (!scenario_description(name))
        return usage_error(a->cmd, "unknown scenario `%s` (--list)", name);
    FILE *f = stdout;
    if (file && strcmp(file, "-")) {
        f = fopen(file, "w");
        if (!f) {
            fprintf(stderr, "%s record: %s: cannot create: %s\n", prog, file, strerror(errno));
            return 2;
        }
    }
    struct scenario_result res;
    int rc = scenario_run(name, f, &res);
    if (f != stdout && fclose(f)) {
        fprintf(stderr, "%s record: %s: write failed\n", prog, file);
        return 2;
    }
    if (rc < 0) {
        fprintf(stderr, "%s record: %s: %s\n", prog, name, vits_strerror(rc));
        return 2;
    }
    fprintf(stderr,
            "%s: %" PRIu64 " MSIs (%" PRIu64 " blocked), %" PRIu64 " acks, %" PRIu64
            " command errors%s%s\n",
            name, res.msis, res.blocked, res.acks, res.cmd_errors, rc ? "; FAILED: " : "",
            rc ? res.first_failure : "");
    return rc ? 1 : 0;
}

/* ---- decode ---- */

static const char decode_help[] =
    "usage: vits-sim decode [OPTIONS] FILE\n"
    "\n"
    "Print a command-queue dump as ITS commands with all their fields, and\n"
    "flag malformed ones (unknown or GICv4 command numbers, reserved bits\n"
    "set, fields out of range for the geometry). FILE is binary (32 bytes\n"
    "per command) or hex text: 0x-prefixed 64-bit words DW0..DW3, or hex\n"
    "bytes first byte first; `#` starts a comment; `-` reads stdin.\n"
    "Exit status: 0 all well-formed, 1 some malformed, 2 unreadable input.\n"
    "\n"
    "  --hex, --binary   the input format (default: guessed)\n"
    "  --devbits N       DeviceID bits (default 16)\n"
    "  --eventbits N     EventID bits (default 16)\n"
    "  --cidbits N       collection ID bits (default 16)\n"
    "  --lpibits N       INTID bits of the LPI space (default 16)\n"
    "  --vcpus N         processors a RDbase may name (default 4096)\n"
    "  --pta             RDbase fields are addresses (GITS_TYPER.PTA = 1)\n"
    "  --offset N        queue offset of the first command (default 0)\n";

static int cmd_decode(struct args *a)
{
    struct decode_geometry g;
    decode_geometry_init(&g);
    enum decode_format fmt = DECODE_AUTO;
    const char *file = NULL, *v;
    uint64_t offset = 0;
    int rc = 0;
    for (a->i = 2; a->i < a->argc && !rc; a->i++) {
        const char *arg = a->argv[a->i];
        if (is_help(arg)) {
            fputs(decode_help, stdout);
            return 0;
        } else if (opt(a, "--hex", false, &v)) {
            fmt = DECODE_HEX;
        } else if (opt(a, "--binary", false, &v)) {
            fmt = DECODE_BINARY;
        } else if (opt(a, "--devbits", true, &v)) {
            rc = get_u32(a->cmd, "--devbits", v, &g.devbits);
        } else if (opt(a, "--eventbits", true, &v)) {
            rc = get_u32(a->cmd, "--eventbits", v, &g.eventbits);
        } else if (opt(a, "--cidbits", true, &v)) {
            rc = get_u32(a->cmd, "--cidbits", v, &g.cidbits);
        } else if (opt(a, "--lpibits", true, &v)) {
            rc = get_u32(a->cmd, "--lpibits", v, &g.lpibits);
        } else if (opt(a, "--vcpus", true, &v)) {
            rc = get_u32(a->cmd, "--vcpus", v, &g.vcpus);
        } else if (opt(a, "--pta", false, &v)) {
            g.pta = true;
        } else if (opt(a, "--offset", true, &v)) {
            rc = get_u64(a->cmd, "--offset", v, &offset);
        } else if (arg[0] == '-' && arg[1]) {
            return usage_error(a->cmd, "unknown option `%s`", arg);
        } else if (file) {
            return usage_error(a->cmd, "one file at a time");
        } else {
            file = arg;
        }
    }
    if (rc)
        return rc;
    if (!file)
        return usage_error(a->cmd, "no file given");
    if (g.devbits < 1 || g.devbits > 32 || g.eventbits < 1 || g.eventbits > 32 || g.cidbits < 1 ||
        g.cidbits > 16 || g.lpibits < 14 || g.lpibits > 32 || g.vcpus < 1)
        return usage_error(a->cmd, "geometry out of range (devbits/eventbits 1..32, cidbits "
                                   "1..16, lpibits 14..32, vcpus >= 1)");
    uint8_t *buf;
    size_t len;
    char err[300];
    if (decode_load(file, fmt, &buf, &len, err, sizeof(err))) {
        fprintf(stderr, "%s decode: %s\n", prog, err);
        return 2;
    }
    struct decode_stats st = {0};
    decode_queue(buf, len, offset, &g, stdout, &st);
    free(buf);
    printf("%" PRIu64 " commands, %" PRIu64 " malformed\n", st.commands, st.malformed);
    return st.malformed ? 1 : 0;
}

/* ---- dtb ---- */

static const char dtb_help[] =
    "usage: vits-sim dtb [OPTIONS] FILE\n"
    "\n"
    "Write a device tree blob (built with libfdt) for a VM with a GICv3\n"
    "(\"arm,gic-v3\": GICD and GICR regions) and its ITS child\n"
    "(\"arm,gic-v3-its\", msi-controller, #msi-cells = <1>, reg covering both\n"
    "64 KiB pages), N cpus and a memory node. Check it with\n"
    "`dtc -I dtb -O dts FILE`.\n"
    "\n"
    "  --vcpus N        CPUs (default 4)\n"
    "  --its-base A     ITS frame (default 0x08080000)\n"
    "  --gicd-base A    distributor (default 0x08000000)\n"
    "  --gicr-base A    first redistributor (default 0x080a0000)\n"
    "  -o FILE          the output (or give FILE as the argument)\n";

static int cmd_dtb(struct args *a)
{
    uint32_t vcpus = 4;
    uint64_t its = 0, gicd = 0, gicr = 0;
    const char *file = NULL, *v;
    int rc = 0;
    for (a->i = 2; a->i < a->argc && !rc; a->i++) {
        const char *arg = a->argv[a->i];
        if (is_help(arg)) {
            fputs(dtb_help, stdout);
            return 0;
        } else if (opt(a, "--vcpus", true, &v)) {
            rc = get_u32(a->cmd, "--vcpus", v, &vcpus);
        } else if (opt(a, "--its-base", true, &v)) {
            rc = get_u64(a->cmd, "--its-base", v, &its);
        } else if (opt(a, "--gicd-base", true, &v)) {
            rc = get_u64(a->cmd, "--gicd-base", v, &gicd);
        } else if (opt(a, "--gicr-base", true, &v)) {
            rc = get_u64(a->cmd, "--gicr-base", v, &gicr);
        } else if (opt(a, "-o", true, &v)) {
            if (!v)
                return usage_error(a->cmd, "-o needs a file");
            file = v;
        } else if (arg[0] == '-' && arg[1]) {
            return usage_error(a->cmd, "unknown option `%s`", arg);
        } else if (file) {
            return usage_error(a->cmd, "one output file");
        } else {
            file = arg;
        }
    }
    if (rc)
        return rc;
    if (!file)
        return usage_error(a->cmd, "no output file given");
    if (vcpus < 1 || vcpus > 4096)
        return usage_error(a->cmd, "--vcpus: 1..4096");
    struct dtb_platform p;
    dtb_platform_default(&p, vcpus);
    if (its)
        p.its_base = its;
    if (gicd)
        p.gicd_base = gicd;
    if (gicr)
        p.gicr_base = gicr;
    if ((p.its_base | p.gicd_base | p.gicr_base) & 0xffff)
        return usage_error(a->cmd, "base addresses must be 64 KiB aligned");
    char err[300];
    if (dtb_write_file(&p, file, err, sizeof(err))) {
        fprintf(stderr, "%s dtb: %s\n", prog, err);
        return 2;
    }
    return 0;
}

/* ---- serve ---- */

static const char serve_help[] =
    "usage: vits-sim serve --fd N | --socket PATH [OPTIONS]\n"
    "\n"
    "Run vits in this process for VMM-side clients (docs/protocol.md): the\n"
    "client sends MMIO requests (served through per-vCPU request slots) and\n"
    "MSIs; vits reaches the client's guest memory only through read and\n"
    "write messages on the socket, and raises LPIs in the client's vGIC\n"
    "with messages too. Each connection is a fresh VM.\n"
    "\n"
    "  --fd N          serve the client on the connected socket N, then exit\n"
    "  --socket PATH   listen on a Unix socket at PATH (it must not exist) and\n"
    "                  serve clients one after another\n"
    "  --once          with --socket: exit after the first client\n"
    "  --max-data N    largest guest-memory message, bytes (default 65536)\n"
    "  --verbose       report connections and vits' log lines on stderr\n"
    "Exit status: 0 when every client said BYE, 1 when a connection broke,\n"
    "2 bad arguments or a socket that could not be set up.\n";

static volatile sig_atomic_t serve_stop;

static void on_stop_signal(int sig)
{
    (void)sig;
    serve_stop = 1;
}

static int cmd_serve(struct args *a)
{
    struct serve_options o = {.log = stderr};
    const char *path = NULL, *v;
    uint32_t fd = UINT32_MAX;
    bool once = false;
    int rc = 0;
    for (a->i = 2; a->i < a->argc && !rc; a->i++) {
        const char *arg = a->argv[a->i];
        if (is_help(arg)) {
            fputs(serve_help, stdout);
            return 0;
        } else if (opt(a, "--fd", true, &v)) {
            rc = get_u32(a->cmd, "--fd", v, &fd);
        } else if (opt(a, "--socket", true, &v)) {
            if (!v)
                return usage_error(a->cmd, "--socket needs a path");
            path = v;
        } else if (opt(a, "--once", false, &v)) {
            once = true;
        } else if (opt(a, "--max-data", true, &v)) {
            rc = get_u32(a->cmd, "--max-data", v, &o.max_data);
            if (!rc && (o.max_data < 8 || o.max_data > PROTO_MAX_DATA))
                rc = usage_error(a->cmd, "--max-data: 8..%u", PROTO_MAX_DATA);
        } else if (opt(a, "--verbose", false, &v)) {
            o.verbose = true;
        } else {
            return usage_error(a->cmd, "unknown argument `%s`", arg);
        }
    }
    if (rc)
        return rc;
    if ((fd == UINT32_MAX) == !path)
        return usage_error(a->cmd, "give one of --fd N and --socket PATH");
    if (path) {
        /* SIGINT / SIGTERM end the accept loop (no SA_RESTART), so the
         * socket file is removed. */
        struct sigaction sa = {.sa_handler = on_stop_signal};
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        o.stop = &serve_stop;
        rc = serve_socket(path, once, &o);
        if (rc && rc != -EPIPE)
            fprintf(stderr, "%s serve: %s: %s\n", prog, path, vits_strerror(rc));
        return rc ? (rc == -EPIPE || rc == -EPROTO ? 1 : 2) : 0;
    }
    if (fd > 65535)
        return usage_error(a->cmd, "--fd: not a descriptor");
    rc = serve_connection((int)fd, &o);
    if (rc)
        fprintf(stderr, "%s serve: the connection ended without BYE: %s\n", prog,
                vits_strerror(rc));
    return rc ? 1 : 0;
}

/* ---- main ---- */

static const char main_help[] =
    "usage: vits-sim COMMAND [OPTIONS]   (vits " VITS_VERSION_STRING ")\n"
    "\n"
    "The vits harness: a reference embedding of the vits ITS emulation and a\n"
    "Linux-like guest ITS driver model.\n"
    "\n"
    "  simulate   storm MSIs while the guest changes affinities and CPUs go\n"
    "             offline and online; verify every MSI (the main job)\n"
    "  replay     replay vits-traces and report mismatches\n"
    "  record     record a driver-model scenario as a vits-trace\n"
    "  decode     print a command-queue dump as readable commands\n"
    "  dtb        write a device tree blob with a GICv3 and its ITS\n"
    "  serve      run vits in this process for a VMM over a socket\n"
    "\n"
    "`vits-sim COMMAND --help` describes each command.\n";

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs(main_help, stderr);
        return 2;
    }
    struct args a = {.argc = argc, .argv = argv, .cmd = argv[1]};
    const char *cmd = argv[1];
    if (is_help(cmd) || !strcmp(cmd, "help")) {
        fputs(main_help, stdout);
        return 0;
    }
    if (!strcmp(cmd, "--version")) {
        printf("vits-sim %s\n", VITS_VERSION_STRING);
        return 0;
    }
    if (!strcmp(cmd, "simulate"))
        return cmd_simulate(&a);
    if (!strcmp(cmd, "replay"))
        return cmd_replay(&a);
    if (!strcmp(cmd, "record"))
        return cmd_record(&a);
    if (!strcmp(cmd, "decode"))
        return cmd_decode(&a);
    if (!strcmp(cmd, "dtb"))
        return cmd_dtb(&a);
    if (!strcmp(cmd, "serve"))
        return cmd_serve(&a);
    fprintf(stderr, "%s: unknown command `%s`\n\n", prog, cmd);
    fputs(main_help, stderr);
    return 2;
}
