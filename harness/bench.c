/* SPDX-License-Identifier: MIT */
/*
 * vits-bench: how fast vits translates MSIs and processes commands, and
 * how much host memory its state takes. Prints a table, and with --json a
 * last line holding one JSON object. Every figure is the median of
 * several repetitions (--reps).
 *
 * msi_ns_1m / route_ns_1m time MSIs to a million mapped events in random
 * order, each making its LPI pending and raising it (the acknowledges
 * come after, untimed). msi_ns_1 / route_ns_1 time MSIs to one mapped
 * event, which after the first finds its LPI pending (coalesced). The
 * floor (floor_ns_1m) is the same random sequence with no ITS at all: a
 * plain array maps (DeviceID, EventID) straight to (vCPU, INTID) and an
 * atomic sets the pending bit. The million events map to per-device
 * blocks of LPIs, as Linux allocates them; msi_ns_1m_scattered is the
 * same run with the INTIDs scattered at random instead, which no device's
 * linear run covers. msi_ns_1m_pending (route_ns_1m_pending) times the
 * million MSIs when each finds its LPI already pending: the same work as
 * msi_ns_1 (route_ns_1), whose single event is always pending.
 * msi_1m_over_1, msi_1m_pending_over_1, route_1m_pending_over_1 and
 * msi_1m_over_floor are medians of ratios taken within each repetition,
 * moments apart, so that a shared machine's slow and fast seconds do not
 * skew them. The *_ack_* figures time each MSI together
 * with the vGIC's acknowledge of it: the whole life of an LPI.
 *
 * Commands run in long queues (one CWRITER write per 32767 commands);
 * mapti_sync_ns is Linux's pattern instead, a MAPTI and a SYNC per
 * CWRITER write. A command that allocates host memory pays the kernel's
 * first touch of any fresh page it gets; page_fault_ns is that cost per
 * 4 KiB page on this host.
 *
 * Guest memory is one flat buffer reached with memcpy. The memory
 * callbacks count their calls and bytes, for the figures a message-based
 * transport cares about (int_mem_*, mapti_mem_*, sync_mem_*): guest-memory
 * calls and bytes per command of long INT and MAPTI queues, and per
 * pending-table sync.
 */
/* MAP_ANONYMOUS (Linux, the BSDs) for the page-fault figure */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "vits.h"

#define RAM_BASE 0x40000000ull
#define RAM_SIZE (96ull << 20)
#define PROP (RAM_BASE) /* 2 MiB: 21 INTID bits */
#define PEND(v) (RAM_BASE + (4ull << 20) + (uint64_t)(v) * (256u << 10))
#define DEVTAB (RAM_BASE + (8ull << 20)) /* 64 KiB pages */
#define COLLTAB (RAM_BASE + (9ull << 20))
#define QUEUE (RAM_BASE + (10ull << 20)) /* 1 MiB: 32768 commands */
#define ITS_BASE 0x08080000ull
#define NVCPU 8u
#define QCMDS 32767u
#define LPI_BITS 21u
#define BIG_DEVS 4096u
#define BIG_EVS 256u
#define BIG (BIG_DEVS * BIG_EVS)

struct bench {
    uint8_t *ram;
    struct vits_domain *d;
    struct vits_its *its;
    uint64_t cwriter;
    uint64_t rd_calls, rd_bytes, wr_calls, wr_bytes; /* memory callbacks */
};

static int rd(void *o, uint64_t gpa, void *buf, size_t len)
{
    struct bench *b = o;
    if (gpa < RAM_BASE || gpa - RAM_BASE > RAM_SIZE || len > RAM_SIZE - (gpa - RAM_BASE))
        return -EFAULT;
    memcpy(buf, b->ram + (gpa - RAM_BASE), len);
    b->rd_calls++;
    b->rd_bytes += len;
    return 0;
}

static int wr(void *o, uint64_t gpa, const void *buf, size_t len)
{
    struct bench *b = o;
    if (gpa < RAM_BASE || gpa - RAM_BASE > RAM_SIZE || len > RAM_SIZE - (gpa - RAM_BASE))
        return -EFAULT;
    memcpy(b->ram + (gpa - RAM_BASE), buf, len);
    b->wr_calls++;
    b->wr_bytes += len;
    return 0;
}

/* The vGIC here only has to accept the LPI; acknowledges tell whether it
 * was raised. */
static int raise_lpi(void *o, uint32_t vcpu, uint32_t intid, uint8_t prio)
{
    (void)o, (void)vcpu, (void)intid, (void)prio;
    return 0;
}

static const struct vits_ops ops = {
    .version = VITS_OPS_VERSION, .read_mem = rd, .write_mem = wr, .raise = raise_lpi};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "vits-bench: %s: %s\n", what, vits_strerror(rc));
    exit(1);
}

static void check(int rc, const char *what)
{
    if (rc < 0)
        die(what, rc);
}

static void put64(struct bench *b, uint64_t gpa, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        b->ram[gpa - RAM_BASE + (uint64_t)i] = (uint8_t)(v >> (8 * i));
}

/* ---- the guest: a queue of commands ---- */

static void queue(struct bench *b, uint64_t d0, uint64_t d1, uint64_t d2, uint64_t d3)
{
    uint64_t at = QUEUE + b->cwriter;
    put64(b, at, d0);
    put64(b, at + 8, d1);
    put64(b, at + 16, d2);
    put64(b, at + 24, d3);
    b->cwriter = (b->cwriter + 32) % ((uint64_t)(QCMDS + 1) * 32);
}

static void kick(struct bench *b)
{
    check(vits_its_mmio_write(b->its, 0x88, 8, b->cwriter), "CWRITER");
}

static uint64_t errors(struct bench *b)
{
    uint64_t n = 0;
    vits_its_last_error(b->its, NULL, &n);
    return n;
}

static void mapd(struct bench *b, uint32_t dev, uint32_t bits)
{
    queue(b, 0x08 | (uint64_t)dev << 32, bits - 1, 1ull << 63 | (RAM_BASE + (64ull << 20)), 0);
}

static void unmapd(struct bench *b, uint32_t dev) { queue(b, 0x08 | (uint64_t)dev << 32, 0, 0, 0); }

static void mapti(struct bench *b, uint32_t dev, uint32_t ev, uint32_t intid, uint16_t icid)
{
    queue(b, 0x0a | (uint64_t)dev << 32, ev | (uint64_t)intid << 32, icid, 0);
}

static void dev_ev(struct bench *b, uint8_t cmd, uint32_t dev, uint32_t ev)
{
    queue(b, cmd | (uint64_t)dev << 32, ev, 0, 0);
}

/* Queue commands with emit(i) for i in [0, n), in batches the queue holds,
 * and return the seconds spent processing them. */
static double run_commands(struct bench *b, uint32_t n, void (*emit)(struct bench *, uint32_t))
{
    double t = 0;
    for (uint32_t done = 0; done < n;) {
        uint32_t batch = n - done < QCMDS ? n - done : QCMDS;
        for (uint32_t i = 0; i < batch; i++)
            emit(b, done + i);
        double t0 = now();
        kick(b);
        t += now() - t0;
        done += batch;
    }
    if (errors(b)) {
        struct vits_cmd_error e;
        vits_its_last_error(b->its, &e, NULL);
        fprintf(stderr, "vits-bench: command %016" PRIx64 " failed: %s (0x%06x)\n", e.cmd[0],
                vits_strerror(e.code ? (int)e.code : e.host_errno), e.code);
        exit(1);
    }
    return t;
}

static struct bench *vm_new(void)
{
    struct bench *b = calloc(1, sizeof(*b));
    if (!b || !(b->ram = calloc(1, RAM_SIZE)))
        die("allocating guest RAM", -ENOMEM);
    struct vits_domain_config dc;
    vits_domain_config_init(&dc, NVCPU);
    dc.lpi_id_bits = LPI_BITS;
    check(vits_domain_create(&dc, &ops, b, &b->d), "vits_domain_create");
    struct vits_its_config ic;
    vits_its_config_init(&ic);
    ic.base = ITS_BASE;
    ic.max_devices = 1u << 16;
    ic.max_events = 1u << LPI_BITS;
    ic.max_collections = 64;
    check(vits_its_create(b->d, &ic, &b->its), "vits_its_create");
    /* every LPI priority 0xa0, enabled; 21 ID bits; pending tables */
    memset(b->ram + (PROP - RAM_BASE), 0xa3, (1u << LPI_BITS) - 8192);
    for (uint32_t v = 0; v < NVCPU; v++) {
        check(vits_gicr_mmio_write(b->d, v, 0x70, 8, PROP | (LPI_BITS - 1)), "PROPBASER");
        check(vits_gicr_mmio_write(b->d, v, 0x78, 8, PEND(v) | 1ull << 62), "PENDBASER");
        check(vits_gicr_mmio_write(b->d, v, 0x0, 4, 1), "EnableLPIs");
    }
    check(vits_its_mmio_write(b->its, 0x100, 8, 1ull << 63 | DEVTAB | 2u << 8 | 7), "BASER0");
    check(vits_its_mmio_write(b->its, 0x108, 8, 1ull << 63 | COLLTAB | 2u << 8), "BASER1");
    check(vits_its_mmio_write(b->its, 0x80, 8, 1ull << 63 | QUEUE | 255), "CBASER");
    check(vits_its_mmio_write(b->its, 0x0, 4, 1), "GITS_CTLR");
    for (uint64_t c = 0; c < 64; c++) /* collection c -> vCPU c % 8 */
        queue(b, 0x09, 0, 1ull << 63 | (c % NVCPU) << 16 | c, 0);
    kick(b);
    return b;
}

static void vm_free(struct bench *b)
{
    vits_its_destroy(b->its);
    check(vits_domain_destroy(b->d), "vits_domain_destroy");
    free(b->ram);
    free(b);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int reps = 5;
static bool quick;

/* ---- MSIs, single thread ---- */

struct msi_set {
    uint32_t n;
    uint32_t *dev, *ev, *intid, *vcpu; /* in the (random) order they are hit */
    struct vits_route **route;
};

enum msi_kind { MSI_KVM, MSI_ROUTE };

/*
 * One pass over the set, rounds times, in one of three ways:
 * PASS_RAISE times the MSIs alone: each makes its LPI pending and raises
 * it (all are acknowledged afterwards, untimed); PASS_ACK times each MSI
 * with the vGIC's acknowledge of it; PASS_PENDING first makes every LPI
 * pending (untimed), then times MSIs that find their LPI pending (the
 * coalescing path, the same work as repeated MSIs to one event).
 * Returns ns per MSI; checks that what was raised was delivered.
 */
enum pass_mode { PASS_RAISE, PASS_ACK, PASS_PENDING };

static int one_msi(struct bench *b, struct msi_set *s, enum msi_kind kind, uint32_t i)
{
    if (kind == MSI_ROUTE)
        return vits_route_fire(s->route[i]);
    struct vits_msi m = {.address = ITS_BASE + VITS_GITS_TRANSLATER,
                         .data = s->ev[i],
                         .devid = s->dev[i],
                         .flags = VITS_MSI_VALID_DEVID};
    return vits_domain_signal_msi(b->d, &m);
}

static double msi_pass(struct bench *b, struct msi_set *s, enum msi_kind kind, uint32_t rounds,
                       enum pass_mode mode)
{
    uint64_t delivered = 0;
    double t = 0, start = now();
    for (uint32_t r = 0; r < rounds; r++) {
        for (uint32_t i = 0; mode == PASS_PENDING && i < s->n; i++)
            if (one_msi(b, s, kind, i) != 1)
                die("an MSI was blocked", -EIO);
        /* PASS_ACK is timed as a whole (its rounds may be of one MSI). */
        double t0 = mode == PASS_ACK ? 0 : now();
        for (uint32_t i = 0; i < s->n; i++) {
            if (one_msi(b, s, kind, i) != 1)
                die("an MSI was blocked", -EIO);
            if (mode == PASS_ACK)
                delivered += vits_lpi_ack(b->d, s->vcpu[i], s->intid[i]) == 0;
        }
        if (mode == PASS_ACK)
            continue;
        t += now() - t0;
        for (uint32_t i = 0; i < s->n; i++)
            delivered += vits_lpi_ack(b->d, s->vcpu[i], s->intid[i]) == 0;
    }
    if (mode == PASS_ACK)
        t = now() - start;
    if (delivered != (uint64_t)s->n * rounds)
        die("an MSI was not delivered", -EIO);
    return t * 1e9 / ((double)s->n * rounds);
}

/* n MSIs to the set's single event: the first raises it, the others find
 * it pending. ns per MSI. */
static double msi_coalesced(struct bench *b, struct msi_set *s, enum msi_kind kind, uint32_t n)
{
    struct vits_msi m = {.address = ITS_BASE + VITS_GITS_TRANSLATER,
                         .data = s->ev[0],
                         .devid = s->dev[0],
                         .flags = VITS_MSI_VALID_DEVID};
    int ok = 0;
    double t0 = now();
    for (uint32_t i = 0; i < n; i++)
        ok += (kind == MSI_KVM ? vits_domain_signal_msi(b->d, &m) : vits_route_fire(s->route[0])) ==
              1;
    double t = now() - t0;
    if (ok != (int)n || vits_lpi_ack(b->d, s->vcpu[0], s->intid[0]) != 0)
        die("an MSI was not delivered", -EIO);
    return t * 1e9 / n;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* v[0..n) = a random permutation of 0..n-1. */
static void shuffle(uint32_t *v, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++)
        v[i] = i;
    for (uint32_t i = n - 1; i > 0; i--) {
        uint32_t j = (uint32_t)(rng() % (i + 1)), t = v[i];
        v[i] = v[j], v[j] = t;
    }
}

static void set_alloc(struct msi_set *s, uint32_t n, bool routes)
{
    s->n = n;
    s->dev = malloc(n * sizeof(uint32_t));
    s->ev = malloc(n * sizeof(uint32_t));
    s->intid = malloc(n * sizeof(uint32_t));
    s->vcpu = malloc(n * sizeof(uint32_t));
    s->route = routes ? calloc(n, sizeof(*s->route)) : NULL;
    if (!s->dev || !s->ev || !s->intid || !s->vcpu || (routes && !s->route))
        die("allocating the MSI set", -ENOMEM);
}

static void set_free(struct msi_set *s)
{
    for (uint32_t i = 0; s->route && i < s->n; i++)
        vits_route_destroy(s->route[i]);
    free(s->dev), free(s->ev), free(s->intid), free(s->vcpu), free(s->route);
}

static void emit_big_mapd(struct bench *b, uint32_t i) { mapd(b, i, 8); }

/* INTID of big event i: 8192 + i (each device's events map to a block
 * of LPIs, as Linux allocates them), or 8192 + big_perm[i] (scattered). */
static const uint32_t *big_perm;

static uint32_t big_intid(uint32_t i) { return 8192 + (big_perm ? big_perm[i] : i); }

static void emit_big_mapti(struct bench *b, uint32_t i)
{
    uint32_t dev = i / BIG_EVS, ev = i % BIG_EVS;
    mapti(b, dev, ev, big_intid(i), (uint16_t)(i % 64));
}

struct results {
    double msi_ns_1, route_ns_1, msi_ns_1m, route_ns_1m, floor_ns_1m, msi_ns_1m_scattered;
    double msi_ns_1m_pending, route_ns_1m_pending; /* 1M events, each found pending */
    /* medians of ratios paired within a repetition */
    double msi_1m_over_1, msi_1m_over_floor, msi_1m_pending_over_1, route_1m_pending_over_1;
    double msi_ack_ns_1, route_ack_ns_1, msi_ack_ns_1m, route_ack_ns_1m;
    double bytes_per_event, bytes_per_device;
    double int_ns, mapti_ns, mapd_ns, movi_ns, inv_ns;
    double mapti_sync_ns, page_fault_ns;
    double invall_small_ns, invall_large_ns, invall_10k_ns, movall_small_ns, movall_10k_ns;
    double msi_per_s_1t, msi_per_s_2t, msi_speedup_2t, msi_per_s_churn;
    /* guest-memory calls and bytes */
    double int_mem_calls_per_cmd, int_mem_bytes_per_cmd, int_mem_reads_per_run;
    double mapti_mem_calls_per_cmd, mapti_mem_bytes_per_cmd;
    double sync_mem_reads, sync_mem_writes, sync_mem_bytes;
    uint32_t mem_cmds, sync_lpis;
};

static void bench_msi_one(struct results *res)
{
    struct bench *b = vm_new();
    mapd(b, 1, 1);
    mapti(b, 1, 0, 8192, 3);
    kick(b);
    struct msi_set s;
    set_alloc(&s, 1, true);
    s.dev[0] = 1, s.ev[0] = 0, s.intid[0] = 8192, s.vcpu[0] = 3;
    check(vits_route_create(b->its, 1, 0, &s.route[0]), "vits_route_create");
    uint32_t n = quick ? 200000 : 2000000;
    double kvm[16], route[16], kvm_ack[16], route_ack[16];
    for (int r = 0; r < reps; r++) {
        kvm[r] = msi_coalesced(b, &s, MSI_KVM, n);
        route[r] = msi_coalesced(b, &s, MSI_ROUTE, n);
        kvm_ack[r] = msi_pass(b, &s, MSI_KVM, n, PASS_ACK);
        route_ack[r] = msi_pass(b, &s, MSI_ROUTE, n, PASS_ACK);
    }
    res->msi_ns_1 = median(kvm, reps);
    res->route_ns_1 = median(route, reps);
    res->msi_ack_ns_1 = median(kvm_ack, reps);
    res->route_ack_ns_1 = median(route_ack, reps);
    set_free(&s);
    vm_free(b);
}

/* The floor: the same random sequence through a plain array. */
struct floor_entry {
    uint16_t vcpu;
    uint32_t intid;
};

/* Fill s with every big event once, in random order; with b, create a
 * route for each; with map, fill the floor's array. */
static void big_set_fill(struct msi_set *s, struct bench *b, struct floor_entry *map)
{
    shuffle(s->dev, BIG);
    for (uint32_t i = 0; i < BIG; i++) {
        uint32_t k = s->dev[i];
        s->dev[i] = k / BIG_EVS;
        s->ev[i] = k % BIG_EVS;
        s->intid[i] = big_intid(k);
        s->vcpu[i] = (k % 64) % NVCPU;
        if (map)
            map[k] = (struct floor_entry){(uint16_t)s->vcpu[i], s->intid[i]};
        if (b)
            check(vits_route_create(b->its, s->dev[i], s->ev[i], &s->route[i]),
                  "vits_route_create");
    }
}

static double floor_pass(const struct msi_set *s, const struct floor_entry *map,
                         _Atomic uint64_t *pending, size_t words)
{
    double t0 = now();
    for (uint32_t i = 0; i < s->n; i++) {
        const struct floor_entry *f = &map[s->dev[i] * BIG_EVS + s->ev[i]];
        atomic_fetch_or_explicit(&pending[f->intid / 64], 1ull << (f->intid % 64),
                                 memory_order_acq_rel);
    }
    double t = now() - t0;
    for (size_t w = 0; w < words; w++)
        atomic_store_explicit(&pending[w], 0, memory_order_relaxed);
    return t * 1e9 / s->n;
}

static void bench_msi_big(struct results *res)
{
    struct bench *b = vm_new();
    size_t m0 = vits_domain_memory(b->d);
    run_commands(b, BIG_DEVS, emit_big_mapd);
    size_t m1 = vits_domain_memory(b->d);
    run_commands(b, BIG, emit_big_mapti);
    size_t m2 = vits_domain_memory(b->d);
    res->bytes_per_device = (double)(m1 - m0) / BIG_DEVS;
    res->bytes_per_event = (double)(m2 - m1) / BIG;

    struct msi_set s;
    set_alloc(&s, BIG, true);
    struct floor_entry *map = malloc(BIG * sizeof(*map));
    _Atomic uint64_t *pending = calloc((8192 + BIG) / 64 + 1, sizeof(*pending));
    if (!map || !pending)
        die("allocating the floor", -ENOMEM);
    big_set_fill(&s, b, map);
    uint32_t rounds = quick ? 1 : 2;
    size_t words = (8192 + BIG) / 64 + 1;
    double kvm[16], route[16], fl[16], kvm_ack[16], route_ack[16], kvm_pend[16], route_pend[16];
    double over_1[16], over_fl[16], pend_over_1[16], route_pend_over_1[16];
    for (int r = 0; r < reps; r++) {
        kvm[r] = msi_pass(b, &s, MSI_KVM, rounds, PASS_RAISE);
        route[r] = msi_pass(b, &s, MSI_ROUTE, rounds, PASS_RAISE);
        kvm_ack[r] = msi_pass(b, &s, MSI_KVM, 1, PASS_ACK);
        route_ack[r] = msi_pass(b, &s, MSI_ROUTE, 1, PASS_ACK);
        fl[r] = floor_pass(&s, map, pending, words);
        /* The ratios, from figures taken moments apart (a shared machine
         * slows down and speeds up over seconds): the floor just above,
         * and MSIs to one event (the set's first, which then stays hot
         * in the cache and pending, as in msi_ns_1). */
        kvm_pend[r] = msi_pass(b, &s, MSI_KVM, 1, PASS_PENDING);
        route_pend[r] = msi_pass(b, &s, MSI_ROUTE, 1, PASS_PENDING);
        double one = msi_coalesced(b, &s, MSI_KVM, quick ? 200000 : 1000000);
        double route_one = msi_coalesced(b, &s, MSI_ROUTE, quick ? 200000 : 1000000);
        over_fl[r] = kvm[r] / fl[r];
        over_1[r] = kvm[r] / one;
        pend_over_1[r] = kvm_pend[r] / one;
        route_pend_over_1[r] = route_pend[r] / route_one;
    }
    res->msi_1m_over_1 = median(over_1, reps);
    res->msi_1m_over_floor = median(over_fl, reps);
    res->msi_1m_pending_over_1 = median(pend_over_1, reps);
    res->msi_ns_1m_pending = median(kvm_pend, reps);
    res->route_ns_1m_pending = median(route_pend, reps);
    res->route_1m_pending_over_1 = median(route_pend_over_1, reps);
    res->msi_ns_1m = median(kvm, reps);
    res->route_ns_1m = median(route, reps);
    res->msi_ack_ns_1m = median(kvm_ack, reps);
    res->route_ack_ns_1m = median(route_ack, reps);
    res->floor_ns_1m = median(fl, reps);
    free(map);
    free(pending);
    set_free(&s);
    vm_free(b);
}

/*
 * The same as msi_ns_1m, KVM-style, with the million INTIDs scattered at
 * random over the devices' events instead of in per-device blocks: no
 * device has a linear run, so every MSI reads its ITT entry.
 */
static void bench_msi_scattered(struct results *res)
{
    uint32_t *perm = malloc(BIG * sizeof(*perm));
    if (!perm)
        die("allocating the permutation", -ENOMEM);
    shuffle(perm, BIG);
    big_perm = perm;
    struct bench *b = vm_new();
    run_commands(b, BIG_DEVS, emit_big_mapd);
    run_commands(b, BIG, emit_big_mapti);
    struct msi_set s;
    set_alloc(&s, BIG, false);
    big_set_fill(&s, NULL, NULL);
    double kvm[16];
    for (int r = 0; r < reps; r++)
        kvm[r] = msi_pass(b, &s, MSI_KVM, quick ? 1 : 2, PASS_RAISE);
    res->msi_ns_1m_scattered = median(kvm, reps);
    set_free(&s);
    vm_free(b);
    big_perm = NULL;
    free(perm);
}

/* ---- commands ---- */

#define CMD_N 100000u
#define COLL_LPIS 10000u

/* 10,000 LPIs on device 1 (14-bit ITT), collection 0 (vCPU 0). */
static void emit_int(struct bench *b, uint32_t i) { dev_ev(b, 0x03, 1, i % COLL_LPIS); }

static void emit_inv(struct bench *b, uint32_t i) { dev_ev(b, 0x0c, 1, i % COLL_LPIS); }

static void emit_movi(struct bench *b, uint32_t i)
{
    /* alternate collections 0 and 9 (vCPU 0 and 1) */
    queue(b, 0x01 | 1ull << 32, i % COLL_LPIS, (i / COLL_LPIS) % 2 ? 0 : 9, 0);
}

static uint32_t fresh_dev;

static void emit_mapd(struct bench *b, uint32_t i) { mapd(b, fresh_dev + i, 5); }

static void emit_mapti(struct bench *b, uint32_t i)
{
    /* device 2 (16-bit ITT): new events and LPIs from 20000 */
    mapti(b, 2, i, 20000 + i, 1);
}

static uint16_t invall_icid;

static void emit_invall(struct bench *b, uint32_t i)
{
    (void)i;
    queue(b, 0x0d, 0, invall_icid, 0);
}

static uint32_t movall_from, movall_to;

static void emit_movall(struct bench *b, uint32_t i)
{
    uint64_t a = i % 2 ? movall_to : movall_from, c = i % 2 ? movall_from : movall_to;
    queue(b, 0x0e, 0, a << 16, c << 16);
}

static void ack_all(struct bench *b, uint32_t dev_first_intid, uint32_t n, uint32_t vcpu)
{
    for (uint32_t i = 0; i < n; i++)
        vits_lpi_ack(b->d, vcpu, dev_first_intid + i);
}

static void bench_commands(struct results *res)
{
    double v_int[16], v_inv[16], v_movi[16], v_mapd[16], v_mapti[16], v_sync[16];
    double v_is[16], v_il[16], v_i10[16], v_ms[16], v_m10[16];
    uint32_t n = quick ? CMD_N / 10 : CMD_N;
    for (int r = 0; r < reps; r++) {
        struct bench *b = vm_new();
        mapd(b, 1, 14);
        kick(b);
        for (uint32_t e = 0; e < COLL_LPIS; e++)
            mapti(b, 1, e, 8192 + e, 0);
        kick(b);
        /* INT: each raises its LPI (acknowledged between batches) */
        v_int[r] = run_commands(b, COLL_LPIS, emit_int) * 1e9 / COLL_LPIS;
        ack_all(b, 8192, COLL_LPIS, 0);
        v_inv[r] = run_commands(b, n, emit_inv) * 1e9 / n;
        /* INVALL of the 10,000-LPI collection 0 */
        invall_icid = 0;
        v_i10[r] = run_commands(b, 200, emit_invall) * 1e9 / 200;
        /* MOVALL of the 10,000 LPIs between vCPUs 0 and 1 (and back) */
        movall_from = 0, movall_to = 1;
        v_m10[r] = run_commands(b, 200, emit_movall) * 1e9 / 200;
        v_movi[r] = run_commands(b, n, emit_movi) * 1e9 / n;
        fresh_dev = 1000;
        v_mapd[r] =
            run_commands(b, n > 30000 ? 30000 : n, emit_mapd) * 1e9 / (n > 30000 ? 30000 : n);
        mapd(b, 2, 16);
        kick(b);
        v_mapti[r] = run_commands(b, 60000, emit_mapti) * 1e9 / 60000;
        /* Linux's pattern: each MAPTI followed by a SYNC, and a CWRITER
         * write for each pair (device 3, in the memory device 2 frees). */
        unmapd(b, 2);
        kick(b);
        mapd(b, 3, 16);
        kick(b);
        uint32_t pairs = quick ? 2000 : 20000;
        double t = 0;
        for (uint32_t i = 0; i < pairs; i++) {
            mapti(b, 3, i, 20000 + i, 1);
            queue(b, 0x05, 0, 1ull << 16, 0);
            double t0 = now();
            kick(b);
            t += now() - t0;
        }
        v_sync[r] = t * 1e9 / pairs;
        if (errors(b))
            die("MAPTI + SYNC", -EIO);
        vm_free(b);

        /* 10 LPIs in collection 5 (vCPU 5) while 100,000 LPIs sit in
         * collection 13, on the same vCPU; then INVALL of those 100,000.
         * 10 more LPIs in collection 6 (vCPU 6) for MOVALL. */
        b = vm_new();
        mapd(b, 1, 5);
        mapd(b, 2, 16);
        mapd(b, 3, 16);
        kick(b);
        for (uint32_t e = 0; e < 20; e++)
            mapti(b, 1, e, 8192 + e, e < 10 ? 5 : 6);
        kick(b);
        for (uint32_t e = 0; e < 100000; e++) {
            mapti(b, e < 65536 ? 2 : 3, e % 65536, 9000 + e, 13);
            if (e % QCMDS == QCMDS - 1)
                kick(b);
        }
        kick(b);
        if (errors(b))
            die("setting up INVALL", -EIO);
        invall_icid = 5;
        v_is[r] = run_commands(b, 10000, emit_invall) * 1e9 / 10000;
        invall_icid = 13;
        v_il[r] = run_commands(b, 20, emit_invall) * 1e9 / 20;
        /* MOVALL between vCPUs 6 and 7: 10 LPIs, while vCPU 5 holds
         * 100,010 */
        movall_from = 6, movall_to = 7;
        v_ms[r] = run_commands(b, 10000, emit_movall) * 1e9 / 10000;
        vm_free(b);
    }
    res->int_ns = median(v_int, reps);
    res->inv_ns = median(v_inv, reps);
    res->movi_ns = median(v_movi, reps);
    res->mapd_ns = median(v_mapd, reps);
    res->mapti_ns = median(v_mapti, reps);
    res->mapti_sync_ns = median(v_sync, reps);
    res->invall_10k_ns = median(v_i10, reps);
    res->movall_10k_ns = median(v_m10, reps);
    res->invall_small_ns = median(v_is, reps);
    res->invall_large_ns = median(v_il, reps);
    res->movall_small_ns = median(v_ms, reps);
}

/* ---- the host: what the first touch of a fresh page costs ---- */

/* ns per first write to a 4 KiB page of fresh anonymous memory: what a
 * command that needs new host memory pays the kernel (once per page). */
static void bench_page_faults(struct results *res)
{
    enum { PAGES = 4096 };
    double v[16];
    for (int r = 0; r < reps; r++) {
        size_t len = (size_t)PAGES * 4096;
        volatile uint8_t *p =
            mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            die("mmap", -errno);
        double t0 = now();
        for (size_t i = 0; i < PAGES; i++)
            p[i * 4096] = 1;
        v[r] = (now() - t0) * 1e9 / PAGES;
        munmap((void *)p, len);
    }
    res->page_fault_ns = median(v, reps);
}

/* ---- guest memory, as a message transport counts it ---- */

#define MEM_CMDS 32000u

/* Contiguous runs the queue processor may read [from, from + n) in: split
 * at the wrap point and every max_batch (64) commands. */
static uint64_t runs_of(uint64_t from_cmd, uint64_t n)
{
    uint64_t ring = QCMDS + 1, first = ring - from_cmd % ring;
    if (n <= first)
        return (n + 63) / 64;
    return (first + 63) / 64 + (n - first + 63) / 64;
}

static void bench_memory(struct results *res)
{
    struct bench *b = vm_new();
    mapd(b, 1, 14);
    mapd(b, 2, 16);
    kick(b);
    for (uint32_t e = 0; e < COLL_LPIS; e++)
        mapti(b, 1, e, 8192 + e, (uint16_t)(e % 64));
    kick(b);
    /* A long INT queue: one CWRITER write, MEM_CMDS commands. */
    uint64_t at = b->cwriter / 32;
    b->rd_calls = b->rd_bytes = b->wr_calls = 0;
    run_commands(b, MEM_CMDS, emit_int);
    res->int_mem_calls_per_cmd = (double)(b->rd_calls + b->wr_calls) / MEM_CMDS;
    res->int_mem_bytes_per_cmd = (double)b->rd_bytes / MEM_CMDS;
    res->int_mem_reads_per_run = (double)b->rd_calls / (double)runs_of(at, MEM_CMDS);
    /* A long MAPTI queue: new events, consecutive new LPIs, each reading
     * its property byte. */
    b->rd_calls = b->rd_bytes = b->wr_calls = 0;
    run_commands(b, MEM_CMDS, emit_mapti);
    res->mapti_mem_calls_per_cmd = (double)(b->rd_calls + b->wr_calls) / MEM_CMDS;
    res->mapti_mem_bytes_per_cmd = (double)b->rd_bytes / MEM_CMDS;
    res->mem_cmds = MEM_CMDS;
    /* A pending-table sync: 10,000 + 32,000 LPIs mapped on 8 vCPUs, some
     * pending (the INTs above), 21 INTID bits: 8 tables of 256 KiB. */
    b->rd_calls = b->rd_bytes = b->wr_calls = b->wr_bytes = 0;
    check(vits_domain_sync_pending(b->d), "vits_domain_sync_pending");
    res->sync_mem_reads = (double)b->rd_calls;
    res->sync_mem_writes = (double)b->wr_calls;
    res->sync_mem_bytes = (double)(b->rd_bytes + b->wr_bytes);
    res->sync_lpis = COLL_LPIS + MEM_CMDS;
    vm_free(b);
}

/* ---- MSIs from threads ---- */

#define THREAD_DEVS 64u
#define THREAD_EVS 64u

struct injector {
    struct bench *b;
    uint32_t first_dev, vcpu;
    atomic_bool *stop;
    uint64_t msis;
    pthread_t tid;
};

/* Device d's events map LPIs 8192 + d * 64 + e, on collection
 * first_dev / THREAD_DEVS: one vCPU per thread. */
static void *inject(void *arg)
{
    struct injector *in = arg;
    struct vits_msi m = {.address = ITS_BASE + VITS_GITS_TRANSLATER, .flags = VITS_MSI_VALID_DEVID};
    uint64_t n = 0, x = 0x2545f4914f6cdd1dull ^ in->first_dev;
    while (!atomic_load_explicit(in->stop, memory_order_relaxed)) {
        for (int k = 0; k < 256; k++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            uint32_t d = in->first_dev + (uint32_t)(x % THREAD_DEVS);
            uint32_t e = (uint32_t)(x >> 32) % THREAD_EVS;
            m.devid = d;
            m.data = e;
            vits_domain_signal_msi(in->b->d, &m);
            vits_lpi_ack(in->b->d, in->vcpu, 8192 + d * THREAD_EVS + e);
        }
        n += 256;
    }
    in->msis = n;
    return NULL;
}

static atomic_bool churn_stop;

static void *churn(void *arg)
{
    struct bench *b = arg;
    uint32_t i = 0;
    while (!atomic_load_explicit(&churn_stop, memory_order_relaxed)) {
        /* MOVI device 200's events between collections 4 and 12 (vCPU 4),
         * and INT them: commands that touch LPIs the injectors do not */
        for (uint32_t k = 0; k < 256; k++, i++) {
            queue(b, 0x01 | 200ull << 32, i % 64, i / 64 % 2 ? 4 : 12, 0);
            dev_ev(b, 0x03, 200, i % 64);
        }
        kick(b);
        for (uint32_t e = 0; e < 64; e++)
            vits_lpi_ack(b->d, 4, 8192 + 200 * THREAD_EVS + e);
    }
    return NULL;
}

static double run_threads(struct bench *b, unsigned nthreads, bool with_churn, double secs)
{
    atomic_bool stop = false;
    struct injector in[2];
    pthread_t ch;
    atomic_store(&churn_stop, false);
    if (with_churn && pthread_create(&ch, NULL, churn, b))
        die("pthread_create", -EAGAIN);
    for (unsigned i = 0; i < nthreads; i++) {
        in[i] = (struct injector){b, i * THREAD_DEVS, i, &stop, 0, 0};
        if (pthread_create(&in[i].tid, NULL, inject, &in[i]))
            die("pthread_create", -EAGAIN);
    }
    double t0 = now();
    struct timespec ts = {(time_t)secs, (long)((secs - (double)(time_t)secs) * 1e9)};
    nanosleep(&ts, NULL);
    atomic_store(&stop, true);
    uint64_t total = 0;
    for (unsigned i = 0; i < nthreads; i++) {
        pthread_join(in[i].tid, NULL);
        total += in[i].msis;
    }
    double t = now() - t0;
    atomic_store(&churn_stop, true);
    if (with_churn)
        pthread_join(ch, NULL);
    return (double)total / t;
}

static void bench_threads(struct results *res)
{
    struct bench *b = vm_new();
    /* thread i: devices i*64 .. i*64+63, collection i (vCPU i) */
    for (uint32_t d = 0; d < 2 * THREAD_DEVS; d++) {
        mapd(b, d, 6);
        for (uint32_t e = 0; e < THREAD_EVS; e++)
            mapti(b, d, e, 8192 + d * THREAD_EVS + e, (uint16_t)(d / THREAD_DEVS));
        kick(b);
    }
    mapd(b, 200, 6);
    for (uint32_t e = 0; e < 64; e++)
        mapti(b, 200, e, 8192 + 200 * THREAD_EVS + e, 4);
    kick(b);
    if (errors(b))
        die("setting up threads", -EIO);
    double secs = quick ? 0.1 : 0.4;
    double t1[16], t2[16], tc[16];
    for (int r = 0; r < reps; r++) {
        t1[r] = run_threads(b, 1, false, secs);
        t2[r] = run_threads(b, 2, false, secs);
        tc[r] = run_threads(b, 2, true, secs);
    }
    res->msi_per_s_1t = median(t1, reps);
    res->msi_per_s_2t = median(t2, reps);
    res->msi_speedup_2t = res->msi_per_s_2t / res->msi_per_s_1t;
    res->msi_per_s_churn = median(tc, reps);
    vm_free(b);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: vits-bench [--json] [--quick] [--reps N]\n"
               "  Measures MSI translation, command processing and memory per mapping.\n"
               "  --json   end with one line holding a JSON object of the figures\n"
               "  --quick  smaller runs (for smoke tests; figures are noisier)\n"
               "  --reps N repetitions per figure, the median is reported (default 5)\n");
}

int main(int argc, char **argv)
{
    bool json = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) {
            json = true;
        } else if (!strcmp(argv[i], "--quick")) {
            quick = true;
        } else if (!strcmp(argv[i], "--reps") && i + 1 < argc) {
            reps = atoi(argv[++i]);
            if (reps < 1 || reps > 16) {
                fprintf(stderr, "vits-bench: --reps takes 1..16\n");
                return 2;
            }
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    struct results r = {0};
    bench_page_faults(&r);
    bench_msi_one(&r);
    bench_msi_big(&r);
    bench_msi_scattered(&r);
    bench_commands(&r);
    bench_threads(&r);
    bench_memory(&r);

    printf("vits-bench (median of %d)\n", reps);
    printf("  %-46s %10.1f ns\n", "MSI, KVM-style, 1 event (pending: coalesced)", r.msi_ns_1);
    printf("  %-46s %10.1f ns\n", "MSI, route, 1 event (pending: coalesced)", r.route_ns_1);
    printf("  %-46s %10.1f ns\n", "MSI, KVM-style, 1M events, random, raised", r.msi_ns_1m);
    printf("  %-46s %10.1f ns\n", "MSI, route, 1M events, random, raised", r.route_ns_1m);
    printf("  %-46s %10.1f ns\n", "floor: plain array + atomic bit set, 1M", r.floor_ns_1m);
    printf("  %-46s %10.1f ns\n", "MSI, KVM-style, 1M events, scattered INTIDs",
           r.msi_ns_1m_scattered);
    printf("  %-46s %10.1f ns\n", "MSI + ack, KVM-style, 1 event", r.msi_ack_ns_1);
    printf("  %-46s %10.1f ns\n", "MSI + ack, route, 1 event", r.route_ack_ns_1);
    printf("  %-46s %10.1f ns\n", "MSI + ack, KVM-style, 1M events, random", r.msi_ack_ns_1m);
    printf("  %-46s %10.1f ns\n", "MSI + ack, route, 1M events, random", r.route_ack_ns_1m);
    printf("  %-46s %10.1f ns\n", "MSI, KVM-style, 1M events, random, pending",
           r.msi_ns_1m_pending);
    printf("  %-46s %10.2f x\n", "1M raised vs 1 event (KVM-style, paired)", r.msi_1m_over_1);
    printf("  %-46s %10.2f x\n", "1M pending vs 1 event (same work, paired)",
           r.msi_1m_pending_over_1);
    printf("  %-46s %10.1f ns\n", "MSI, route, 1M events, random, pending", r.route_ns_1m_pending);
    printf("  %-46s %10.2f x\n", "route: 1M pending vs 1 event (paired)",
           r.route_1m_pending_over_1);
    printf("  %-46s %10.2f x\n", "1M KVM-style vs floor (paired)", r.msi_1m_over_floor);
    printf("  %-46s %10.0f /s\n", "MSIs, 1 thread", r.msi_per_s_1t);
    printf("  %-46s %10.0f /s (%.2fx)\n", "MSIs, 2 threads", r.msi_per_s_2t, r.msi_speedup_2t);
    printf("  %-46s %10.0f /s\n", "MSIs, 2 threads + command churn", r.msi_per_s_churn);
    printf("  %-46s %10.1f ns (%.1f M/s)\n", "INT", r.int_ns, 1e3 / r.int_ns);
    printf("  %-46s %10.1f ns (%.1f M/s)\n", "MAPTI", r.mapti_ns, 1e3 / r.mapti_ns);
    printf("  %-46s %10.1f ns\n", "MAPTI + SYNC, a CWRITER write each (Linux)", r.mapti_sync_ns);
    printf("  %-46s %10.1f ns\n", "first touch of a fresh 4 KiB host page", r.page_fault_ns);
    printf("  %-46s %10.1f ns\n", "MAPD", r.mapd_ns);
    printf("  %-46s %10.1f ns\n", "MOVI", r.movi_ns);
    printf("  %-46s %10.1f ns\n", "INV", r.inv_ns);
    printf("  %-46s %10.1f ns\n", "INVALL, 10 LPIs (100,000 elsewhere)", r.invall_small_ns);
    printf("  %-46s %10.1f ns\n", "INVALL, 10,000 LPIs", r.invall_10k_ns);
    printf("  %-46s %10.1f ns\n", "INVALL, 100,000 LPIs", r.invall_large_ns);
    printf("  %-46s %10.1f ns\n", "MOVALL, 10 LPIs (100,000 elsewhere)", r.movall_small_ns);
    printf("  %-46s %10.1f ns\n", "MOVALL, 10,000 LPIs", r.movall_10k_ns);
    printf("  %-46s %10.1f B\n", "host memory per mapped event", r.bytes_per_event);
    printf("  %-46s %10.1f B\n", "host memory per mapped device (256-event ITT)",
           r.bytes_per_device);
    printf("  guest memory (callback calls and bytes), %u-command queues:\n", r.mem_cmds);
    printf("  %-46s %10.4f calls %6.1f B (%.2f reads per run)\n", "INT, per command",
           r.int_mem_calls_per_cmd, r.int_mem_bytes_per_cmd, r.int_mem_reads_per_run);
    printf("  %-46s %10.4f calls %6.1f B\n", "MAPTI, per command", r.mapti_mem_calls_per_cmd,
           r.mapti_mem_bytes_per_cmd);
    printf("  %-46s %4.0f reads %4.0f writes %8.0f B\n", "pending-table sync, 8 vCPUs, 21 bits",
           r.sync_mem_reads, r.sync_mem_writes, r.sync_mem_bytes);
    if (json)
        printf("{\"int_ns\":%.1f,\"mapti_ns\":%.1f,\"mapd_ns\":%.1f,\"movi_ns\":%.1f,"
               "\"inv_ns\":%.1f,\"invall_small_ns\":%.1f,\"invall_large_ns\":%.1f,"
               "\"invall_10k_ns\":%.1f,\"movall_small_ns\":%.1f,\"movall_10k_ns\":%.1f,"
               "\"msi_ns_1\":%.1f,\"msi_ns_1m\":%.1f,\"route_ns_1\":%.1f,\"route_ns_1m\":%.1f,"
               "\"floor_ns_1m\":%.1f,\"msi_per_s_1t\":%.0f,\"msi_per_s_2t\":%.0f,"
               "\"msi_speedup_2t\":%.2f,\"msi_per_s_churn\":%.0f,\"bytes_per_event\":%.1f,"
               "\"bytes_per_device\":%.1f,\"msi_ack_ns_1\":%.1f,\"route_ack_ns_1\":%.1f,"
               "\"msi_ack_ns_1m\":%.1f,\"route_ack_ns_1m\":%.1f,\"msi_ns_1m_scattered\":%.1f,"
               "\"msi_1m_over_1\":%.2f,\"msi_1m_over_floor\":%.2f,"
               "\"msi_ns_1m_pending\":%.1f,\"msi_1m_pending_over_1\":%.2f,"
               "\"route_ns_1m_pending\":%.1f,\"route_1m_pending_over_1\":%.2f,"
               "\"int_mem_calls_per_cmd\":%.4f,\"int_mem_bytes_per_cmd\":%.1f,"
               "\"int_mem_reads_per_run\":%.2f,\"mapti_mem_calls_per_cmd\":%.4f,"
               "\"mapti_mem_bytes_per_cmd\":%.1f,\"sync_mem_reads\":%.0f,"
               "\"sync_mem_writes\":%.0f,\"sync_mem_bytes\":%.0f,"
               "\"mapti_sync_ns\":%.1f,\"page_fault_ns\":%.0f}\n",
               r.int_ns, r.mapti_ns, r.mapd_ns, r.movi_ns, r.inv_ns, r.invall_small_ns,
               r.invall_large_ns, r.invall_10k_ns, r.movall_small_ns, r.movall_10k_ns, r.msi_ns_1,
               r.msi_ns_1m, r.route_ns_1, r.route_ns_1m, r.floor_ns_1m, r.msi_per_s_1t,
               r.msi_per_s_2t, r.msi_speedup_2t, r.msi_per_s_churn, r.bytes_per_event,
               r.bytes_per_device, r.msi_ack_ns_1, r.route_ack_ns_1, r.msi_ack_ns_1m,
               r.route_ack_ns_1m, r.msi_ns_1m_scattered, r.msi_1m_over_1, r.msi_1m_over_floor,
               r.msi_ns_1m_pending, r.msi_1m_pending_over_1, r.route_ns_1m_pending,
               r.route_1m_pending_over_1, r.int_mem_calls_per_cmd, r.int_mem_bytes_per_cmd,
               r.int_mem_reads_per_run, r.mapti_mem_calls_per_cmd, r.mapti_mem_bytes_per_cmd,
               r.sync_mem_reads, r.sync_mem_writes, r.sync_mem_bytes, r.mapti_sync_ns,
               r.page_fault_ns);
    return 0;
}
