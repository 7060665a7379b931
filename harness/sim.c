/* SPDX-License-Identifier: MIT */
/*
 * `vits-sim simulate`; see sim.h for what is checked and docs/harness.md
 * for why those checks are sound under concurrency.
 *
 * Threads: the guest thread (the caller) owns the driver model; device
 * threads only signal MSIs; vCPU threads only take LPIs. They share, by
 * atomics: the per-LPI counters, the per-LPI routing history the driver
 * publishes (route ring), and each device's state and in-flight flag.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "driver.h"
#include "sim.h"
#include "vm.h"

#define RING 16u
#define LPI_BITS 16u
#define NR_LPIS ((1u << LPI_BITS) - 8192u)
#define DRAIN_TIMEOUT_NS 5000000000ull

enum { DEV_LIVE = 0, DEV_REMOVING = 1 };

/* Verification state of one LPI (INTID - 8192). */
struct lpi_check {
    atomic_uint_fast64_t started;  /* MSIs about to be signalled */
    atomic_uint_fast64_t accepted; /* MSIs vits accepted (returned 1) */
    atomic_uint_fast64_t acks;     /* deliveries (successful acknowledgements) */
    atomic_uint_fast64_t need;     /* acks needed at the end (see sim.h) */
    atomic_uint route;             /* 2m: stable at ring[m]; 2m+1: moving to ring[m+1] */
    atomic_uint ring[RING];        /* target CPUs by move number; DRV_NO_CPU: unmapped */
};

struct sim_dev {
    uint32_t devid;
    atomic_int state;
    atomic_int inflight;
    atomic_uint lpi_base;
};

struct sim {
    const struct sim_options *o;
    FILE *out;
    struct vm *vm;
    struct drv *drv;
    uint64_t doorbell;
    struct lpi_check *lpi;
    struct sim_dev *dev;
    uint32_t nr_cpus;
    atomic_bool *online;
    atomic_uint_fast64_t *delivered; /* per vCPU */
    atomic_uint_fast64_t sent, accepted, blocked;
    atomic_uint_fast64_t limit; /* device threads send no MSI past this one */
    atomic_uint_fast64_t violations;
    atomic_bool stop_devices, stop_vcpus;
    pthread_mutex_t msg_lock;
    unsigned messages;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t rng_next(uint64_t *s)
{
    /* xorshift64* */
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545f4914f6cdd1dull;
}

static uint32_t rng_below(uint64_t *s, uint32_t n) { return (uint32_t)(rng_next(s) % n); }

static void violation(struct sim *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void violation(struct sim *s, const char *fmt, ...)
{
    atomic_fetch_add(&s->violations, 1);
    pthread_mutex_lock(&s->msg_lock);
    if (s->messages++ < 20) {
        va_list ap;
        va_start(ap, fmt);
        fprintf(s->out, "violation: ");
        vfprintf(s->out, fmt, ap);
        fputc('\n', s->out);
        va_end(ap);
    } else if (s->messages == 21) {
        fprintf(s->out, "violation: (further violations counted, not printed)\n");
    }
    pthread_mutex_unlock(&s->msg_lock);
}

static struct lpi_check *check_of(struct sim *s, uint32_t intid)
{
    return intid >= 8192 && intid - 8192 < NR_LPIS ? &s->lpi[intid - 8192] : NULL;
}

/* ---- hooks ---- */

/* The driver is about to change (done = false) or has changed the route
 * of intid. Guest thread only. */
static void on_route(void *ctx, uint32_t intid, uint32_t cpu, bool done)
{
    struct lpi_check *c = check_of(ctx, intid);
    if (!c)
        return;
    unsigned r = atomic_load_explicit(&c->route, memory_order_relaxed);
    if (!done) {
        if (r & 1) /* a begin without an end: close it */
            r++;
        atomic_store_explicit(&c->ring[(r / 2 + 1) % RING], cpu, memory_order_relaxed);
        atomic_store_explicit(&c->route, r + 1, memory_order_release);
    } else if (r & 1) {
        atomic_store_explicit(&c->route, r + 1, memory_order_release);
    }
}

/* vits raised intid on vcpu: runs under the domain lock, at an instant
 * when vits' routing is frozen. */
static void on_raised(void *ctx, uint32_t vcpu, uint32_t intid, uint8_t priority)
{
    struct sim *s = ctx;
    (void)priority;
    struct lpi_check *c = check_of(s, intid);
    if (!c) {
        violation(s, "LPI %u raised on vCPU %u: not an LPI the driver allocated", intid, vcpu);
        return;
    }
    unsigned r = atomic_load_explicit(&c->route, memory_order_acquire);
    unsigned a = atomic_load_explicit(&c->ring[(r / 2) % RING], memory_order_relaxed);
    unsigned b =
        (r & 1) ? atomic_load_explicit(&c->ring[(r / 2 + 1) % RING], memory_order_relaxed) : a;
    if (vcpu != a && vcpu != b)
        violation(s, "LPI %u raised on vCPU %u, but the driver's mapping names %s%d%s%d", intid,
                  vcpu, a == DRV_NO_CPU ? "none " : "vCPU ", a == DRV_NO_CPU ? -1 : (int)a,
                  (r & 1) ? " moving to " : "", (r & 1) ? (int)b : 0);
}

/* vCPU vcpu took intid (vits accepted the acknowledgement). */
static void on_acked(void *ctx, uint32_t vcpu, uint32_t intid)
{
    struct sim *s = ctx;
    struct lpi_check *c = check_of(s, intid);
    atomic_fetch_add_explicit(&s->delivered[vcpu], 1, memory_order_relaxed);
    if (!c)
        return;
    uint64_t k = atomic_fetch_add(&c->acks, 1) + 1;
    uint64_t st = atomic_load(&c->started);
    if (k > st)
        violation(s, "LPI %u delivered %" PRIu64 " times, but only %" PRIu64 " MSIs were signalled",
                  intid, k, st);
}

/* ---- threads ---- */

struct dev_thread {
    struct sim *s;
    uint32_t index;
    uint64_t rng;
};

static void *device_thread(void *arg)
{
    struct dev_thread *t = arg;
    struct sim *s = t->s;
    const struct sim_options *o = s->o;
    uint32_t mine = 0;
    unsigned skipped = 0;
    for (uint32_t d = t->index; d < o->devices; d += o->threads)
        mine++;
    while (!atomic_load_explicit(&s->stop_devices, memory_order_relaxed)) {
        uint32_t d = t->index + rng_below(&t->rng, mine) * o->threads;
        uint32_t vec = rng_below(&t->rng, o->vectors);
        struct sim_dev *dev = &s->dev[d];
        /* Dekker with the guest thread: flag in-flight, then check the
         * device is still live (both seq_cst). */
        atomic_store(&dev->inflight, 1);
        if (atomic_load(&dev->state) != DEV_LIVE) {
            atomic_store(&dev->inflight, 0);
            sched_yield();
            continue;
        }
        /* Devices mostly wait for their interrupt to be handled before
         * signalling the same vector again (so most MSIs are delivered,
         * not coalesced); burst_pct of the time they do not wait. */
        uint32_t intid = atomic_load(&dev->lpi_base) + vec;
        struct lpi_check *c = check_of(s, intid);
        if (atomic_load_explicit(&c->accepted, memory_order_relaxed) >
                atomic_load_explicit(&c->acks, memory_order_relaxed) &&
            rng_below(&t->rng, 100) >= o->burst_pct) {
            atomic_store(&dev->inflight, 0);
            if (++skipped % 4 == 0)
                sched_yield();
            continue;
        }
        uint64_t slot = atomic_fetch_add_explicit(&s->sent, 1, memory_order_relaxed);
        if (slot >= o->msis) {
            atomic_fetch_sub_explicit(&s->sent, 1, memory_order_relaxed);
            atomic_store(&dev->inflight, 0);
            break;
        }
        /* Stay within reach of the guest's next action (see sim_run). */
        while (slot >= atomic_load_explicit(&s->limit, memory_order_acquire) &&
               !atomic_load_explicit(&s->stop_devices, memory_order_relaxed))
            sched_yield();
        uint64_t a0 = atomic_load(&c->acks);
        atomic_fetch_add(&c->started, 1);
        int rc = vm_msi(s->vm, s->doorbell, dev->devid, vec);
        if (rc == 1) {
            atomic_fetch_add_explicit(&c->accepted, 1, memory_order_relaxed);
            atomic_fetch_add_explicit(&s->accepted, 1, memory_order_relaxed);
            uint64_t need = atomic_load(&c->need);
            while (need < a0 + 1 && !atomic_compare_exchange_weak(&c->need, &need, a0 + 1))
                ;
        } else {
            atomic_fetch_add_explicit(&s->blocked, 1, memory_order_relaxed);
            violation(s, "MSI device 0x%x event %u (LPI %u) blocked (%d) while mapped", dev->devid,
                      vec, intid, rc);
        }
        atomic_store(&dev->inflight, 0);
    }
    return NULL;
}

struct vcpu_thread {
    struct sim *s;
    uint32_t vcpu;
};

static void *vcpu_thread(void *arg)
{
    struct vcpu_thread *t = arg;
    struct sim *s = t->s;
    while (!atomic_load(&s->stop_vcpus)) {
        if (!atomic_load(&s->online[t->vcpu])) {
            /* an offline CPU takes no interrupts */
            struct timespec ts = {0, 100000};
            nanosleep(&ts, NULL);
            continue;
        }
        vm_take(s->vm, t->vcpu, true, NULL, NULL);
    }
    return NULL;
}

/* ---- the guest's actions ---- */

static uint32_t devid_of(uint32_t i, bool two_level)
{
    /* PCI-like requester IDs (bus << 8 | device << 3); spread over a
     * 20-bit space when asked for a two-level table. */
    return two_level ? (i * 4099u + 0x100u) & 0xfffffu : ((i / 32) << 8 | (i % 32) << 3) + 0x100u;
}

/* Wait until none of the device's LPIs is pending (the vCPUs take them);
 * false on timeout. */
static bool drain_device(struct sim *s, uint32_t d)
{
    uint32_t base = atomic_load(&s->dev[d].lpi_base);
    uint64_t deadline = now_ns() + DRAIN_TIMEOUT_NS;
    for (uint32_t v = 0; v < s->o->vectors; v++) {
        while (vits_lpi_state(vm_domain(s->vm), base + v, NULL) == 1) {
            if (now_ns() > deadline)
                return false;
            sched_yield();
        }
    }
    return true;
}

static int act_affinity(struct sim *s, uint64_t *rng)
{
    uint32_t d = rng_below(rng, s->o->devices), vec = rng_below(rng, s->o->vectors);
    uint32_t cpu = rng_below(rng, s->nr_cpus);
    for (uint32_t i = 0; i < s->nr_cpus && !drv_cpu_is_online(s->drv, cpu); i++)
        cpu = (cpu + 1) % s->nr_cpus;
    return drv_set_affinity(s->drv, s->dev[d].devid, vec, cpu);
}

static int act_hotplug(struct sim *s, uint64_t *rng)
{
    for (uint32_t c = 0; c < s->nr_cpus; c++)
        if (!drv_cpu_is_online(s->drv, c)) {
            int rc = drv_cpu_online(s->drv, c);
            if (!rc)
                atomic_store(&s->online[c], true);
            return rc;
        }
    if (s->nr_cpus < 2)
        return 0;
    uint32_t c = rng_below(rng, s->nr_cpus);
    int rc = drv_cpu_offline(s->drv, c);
    if (!rc)
        atomic_store(&s->online[c], false);
    return rc;
}

static int act_unplug(struct sim *s, uint64_t *rng)
{
    uint32_t d = rng_below(rng, s->o->devices);
    struct sim_dev *dev = &s->dev[d];
    atomic_store(&dev->state, DEV_REMOVING);
    while (atomic_load(&dev->inflight))
        sched_yield();
    if (!drain_device(s, d))
        violation(s, "device 0x%x: LPIs still pending %llu ms after its MSIs stopped", dev->devid,
                  DRAIN_TIMEOUT_NS / 1000000);
    int rc = drv_remove_device(s->drv, dev->devid);
    if (!rc)
        rc = drv_add_device(s->drv, dev->devid, s->o->vectors, NULL);
    if (!rc) {
        atomic_store(&dev->lpi_base, drv_lpi(s->drv, dev->devid, 0));
        atomic_store(&dev->state, DEV_LIVE);
    }
    return rc;
}

static int act_prop(struct sim *s, uint64_t *rng)
{
    static const uint8_t prios[] = {0x40, 0x80, 0xa0, 0xc0};
    uint32_t d = rng_below(rng, s->o->devices), vec = rng_below(rng, s->o->vectors);
    return drv_set_property(s->drv, s->dev[d].devid, vec, prios[rng_below(rng, 4)], true);
}

static void progress(struct sim *s, uint64_t sent, bool final)
{
    uint64_t total = s->o->msis;
    unsigned pct = total ? (unsigned)(sent * 100 / total) : 100;
    char bar[41];
    unsigned fill = pct * 40 / 100;
    for (unsigned i = 0; i < 40; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[40] = 0;
    fprintf(stderr, "\r[%s] %3u%% %" PRIu64 "/%" PRIu64 " MSIs%s", bar, pct, sent, total,
            final ? "\n" : "");
    fflush(stderr);
}

/* ---- setup, run, report ---- */

void sim_options_init(struct sim_options *o)
{
    memset(o, 0, sizeof(*o));
    o->vcpus = 4;
    o->devices = 16;
    o->vectors = 8;
    o->msis = 300000;
    o->affinity_rate = 5;
    o->hotplug_rate = 0.5;
    o->unplug_rate = 0.2;
    o->prop_rate = 1;
    o->seed = 1;
    o->threads = 2;
    o->burst_pct = 10;
    o->progress = -1;
}

static void print_summary(struct sim *s, const struct sim_result *r, uint64_t mem_kib)
{
    FILE *out = s->out;
    const struct sim_options *o = s->o;
    struct drv_stats ds;
    drv_get_stats(s->drv, &ds);
    fprintf(out,
            "vits-sim simulate: %u vCPUs, %u devices x %u vectors, %u device threads, "
            "seed %" PRIu64 "\n",
            o->vcpus, o->devices, o->vectors, o->threads, o->seed);
    fprintf(out, "device table: %s, %u KiB pages\n", drv_two_level(s->drv) ? "two-level" : "flat",
            drv_table_page_size(s->drv) / 1024);
    fprintf(out, "\n  vCPU  online  deliveries\n");
    for (uint32_t c = 0; c < s->nr_cpus; c++)
        fprintf(out, "  %4u  %-6s  %10" PRIu64 "\n", c, drv_cpu_is_online(s->drv, c) ? "yes" : "no",
                (uint64_t)atomic_load(&s->delivered[c]));
    fprintf(out, "\n  MSIs       sent %" PRIu64 ", accepted %" PRIu64 ", blocked %" PRIu64 "\n",
            r->sent, r->accepted, r->blocked);
    fprintf(out,
            "  LPIs       delivered %" PRIu64 ", coalesced %" PRIu64 " (MSIs that found "
            "their LPI already pending)\n",
            r->delivered, r->coalesced);
    fprintf(out, "  commands  ");
    for (unsigned c = 0; c < 16; c++)
        if (ds.cmds[c])
            fprintf(out, " %s %" PRIu64, drv_cmd_name(c), ds.cmds[c]);
    fprintf(out,
            "\n  guest      affinity changes %" PRIu64 ", CPU offline %" PRIu64 " / online %" PRIu64
            ", device unplug %" PRIu64 " / plug %" PRIu64 ", property changes %" PRIu64 "\n",
            ds.affinity_changes, ds.cpu_offline, ds.cpu_online, ds.dev_removed, ds.dev_added,
            ds.prop_changes);
    fprintf(out, "  time       %.2f s, %.0f MSIs/s; vits holds %" PRIu64 " KiB\n", r->seconds,
            r->seconds > 0 ? (double)r->sent / r->seconds : 0.0, mem_kib);
    fprintf(out, "  violations %" PRIu64 "\n", r->violations);
    fprintf(out, "%s\n", r->violations ? "FAIL" : "PASS");
}

static int validate(const struct sim_options *o, FILE *out)
{
    if (o->vcpus < 1 || o->vcpus > 4096 || o->devices < 1 || o->vectors < 1 || o->threads < 1 ||
        o->threads > 64 || o->vectors > 65536) {
        fprintf(out, "simulate: vcpus 1..4096, devices >= 1, vectors 1..65536, threads 1..64\n");
        return -1;
    }
    if ((uint64_t)o->devices * o->vectors > NR_LPIS) {
        fprintf(out, "simulate: %u x %u vectors is more than the %u LPIs of %u ID bits\n",
                o->devices, o->vectors, NR_LPIS, LPI_BITS);
        return -1;
    }
    if (o->devices > 4096) {
        fprintf(out, "simulate: at most 4096 devices\n");
        return -1;
    }
    return 0;
}

int sim_run(const struct sim_options *o, struct sim_result *res)
{
    struct sim_result local;
    if (!res)
        res = &local;
    memset(res, 0, sizeof(*res));
    struct sim *s = calloc(1, sizeof(*s));
    if (!s)
        return 2;
    s->o = o;
    s->out = o->out ? o->out : stdout;
    if (validate(o, s->out)) {
        free(s);
        return 2;
    }
    pthread_mutex_init(&s->msg_lock, NULL);
    int status = 2;
    s->nr_cpus = o->vcpus;
    s->lpi = calloc(NR_LPIS, sizeof(*s->lpi));
    s->dev = calloc(o->devices, sizeof(*s->dev));
    s->online = calloc(o->vcpus, sizeof(*s->online));
    s->delivered = calloc(o->vcpus, sizeof(*s->delivered));
    s->vm = vm_new(0);
    pthread_t *threads = calloc((size_t)o->threads + o->vcpus, sizeof(*threads));
    struct dev_thread *dt = calloc(o->threads, sizeof(*dt));
    struct vcpu_thread *vt = calloc(o->vcpus, sizeof(*vt));
    size_t started = 0, vcpu_threads = 0;
    if (!s->lpi || !s->dev || !s->online || !s->delivered || !s->vm || !threads || !dt || !vt) {
        fprintf(s->out, "simulate: out of memory\n");
        goto out;
    }
    for (uint32_t i = 0; i < NR_LPIS; i++)
        for (unsigned k = 0; k < RING; k++)
            atomic_init(&s->lpi[i].ring[k], DRV_NO_CPU);

    struct vm_config vcfg = {.nr_vcpus = o->vcpus,
                             .lpi_id_bits = LPI_BITS,
                             .redist_base = o->redist_base,
                             .log_level = VITS_LOG_GUEST,
                             .log = o->verbose ? stderr : NULL};
    int rc = vm_start(s->vm, &vcfg);
    struct vits_its_config icfg;
    vits_its_config_init(&icfg);
    if (o->its_base)
        icfg.base = o->its_base;
    if (o->two_level)
        icfg.device_id_bits = 20;
    if (!rc)
        rc = vm_add_its(s->vm, &icfg);
    if (rc < 0) {
        fprintf(s->out, "simulate: cannot create the VM: %s\n", vits_strerror(rc));
        goto out;
    }
    struct vm_hooks hooks = {.ctx = s, .raised = on_raised, .acked = on_acked};
    vm_set_hooks(s->vm, &hooks);
    struct drv_config dcfg;
    drv_config_init(&dcfg);
    dcfg.lpi_bits = LPI_BITS;
    rc = drv_new(s->vm, &dcfg, NULL, &s->drv);
    if (!rc) {
        drv_set_route_hook(s->drv, on_route, s);
        rc = drv_boot(s->drv);
    }
    for (uint32_t d = 0; !rc && d < o->devices; d++) {
        s->dev[d].devid = devid_of(d, o->two_level);
        rc = drv_add_device(s->drv, s->dev[d].devid, o->vectors, NULL);
        if (!rc)
            atomic_store(&s->dev[d].lpi_base, drv_lpi(s->drv, s->dev[d].devid, 0));
    }
    if (rc) {
        fprintf(s->out, "simulate: the driver model failed to boot: %s (%s)\n",
                drv_last_error(s->drv), vits_strerror(rc));
        goto out;
    }
    s->doorbell = drv_doorbell(s->drv);
    for (uint32_t c = 0; c < o->vcpus; c++)
        atomic_store(&s->online[c], drv_cpu_is_online(s->drv, c));

    /* go */
    bool show = o->progress > 0 || (o->progress < 0 && isatty(STDERR_FILENO));
    uint64_t t0 = now_ns();
    for (uint32_t c = 0; c < o->vcpus; c++) {
        vt[c] = (struct vcpu_thread){s, c};
        if (pthread_create(&threads[started], NULL, vcpu_thread, &vt[c]))
            goto stop;
        vcpu_threads = ++started;
    }
    for (uint32_t t = 0; t < o->threads; t++) {
        dt[t] = (struct dev_thread){s, t, o->seed * 0x9e3779b97f4a7c15ull + t + 1};
        if (pthread_create(&threads[started], NULL, device_thread, &dt[t]))
            goto stop;
        started++;
    }

    uint64_t rng = o->seed ^ 0xdeadbeefcafef00dull;
    if (!rng)
        rng = 1;
    double rates[4] = {o->affinity_rate, o->hotplug_rate, o->unplug_rate, o->prop_rate};
    double total_rate = rates[0] + rates[1] + rates[2] + rates[3];
    /* Pacing: the guest acts each time `interval` more MSIs went out, and
     * the device threads may run at most one interval ahead of it, so
     * actions happen at their rate while MSIs keep racing with them. */
    double interval = total_rate > 0 ? 1000.0 / total_rate : 0;
    double next_at = interval;
    atomic_store(&s->limit, interval > 0 ? (uint64_t)(2 * interval) + 1 : UINT64_MAX);
    uint64_t last_progress = 0;
    for (;;) {
        uint64_t sent = atomic_load_explicit(&s->sent, memory_order_relaxed);
        if (sent >= o->msis)
            break;
        if (show && now_ns() - last_progress > 100000000ull) {
            progress(s, sent, false);
            last_progress = now_ns();
        }
        if (interval <= 0 || (double)sent < next_at) {
            if (interval <= 0) {
                struct timespec ts = {0, 1000000};
                nanosleep(&ts, NULL);
            } else {
                sched_yield();
            }
            continue;
        }
        next_at += interval;
        atomic_store_explicit(&s->limit, (uint64_t)(next_at + interval) + 1, memory_order_release);
        double pick = (double)(rng_next(&rng) >> 11) / 9007199254740992.0 * total_rate;
        int kind = 0;
        while (kind < 3 && pick >= rates[kind])
            pick -= rates[kind++];
        int arc = kind == 0   ? act_affinity(s, &rng)
                  : kind == 1 ? act_hotplug(s, &rng)
                  : kind == 2 ? act_unplug(s, &rng)
                              : act_prop(s, &rng);
        if (arc && arc != -EINVAL) {
            violation(s, "guest action failed: %s", drv_last_error(s->drv));
            break;
        }
    }

stop:
    atomic_store(&s->stop_devices, true);
    for (size_t i = vcpu_threads; i < started; i++)
        pthread_join(threads[i], NULL);
    res->seconds = (double)(now_ns() - t0) / 1e9;
    if (show)
        progress(s, atomic_load(&s->sent), true);
    /* drain: bring every CPU online so nothing waits on a parked vCPU */
    for (uint32_t c = 0; c < o->vcpus; c++)
        if (!drv_cpu_is_online(s->drv, c) && !drv_cpu_online(s->drv, c))
            atomic_store(&s->online[c], true);
    uint64_t deadline = now_ns() + DRAIN_TIMEOUT_NS;
    for (uint32_t d = 0; d < o->devices; d++) {
        uint32_t base = atomic_load(&s->dev[d].lpi_base);
        for (uint32_t v = 0; v < o->vectors; v++) {
            while (vits_lpi_state(vm_domain(s->vm), base + v, NULL) == 1 && now_ns() < deadline)
                sched_yield();
        }
    }
    atomic_store(&s->stop_vcpus, true);
    vm_wake(s->vm);
    for (size_t i = 0; i < vcpu_threads; i++)
        pthread_join(threads[i], NULL);

    /* final checks */
    for (uint32_t d = 0; d < o->devices; d++) {
        uint32_t base = atomic_load(&s->dev[d].lpi_base);
        for (uint32_t v = 0; v < o->vectors; v++) {
            uint32_t where;
            int st = vits_lpi_state(vm_domain(s->vm), base + v, &where);
            uint32_t cpu = drv_vector_cpu(s->drv, s->dev[d].devid, v);
            if (st == 1)
                violation(s, "LPI %u still pending on vCPU %u at the end", base + v, where);
            if (st < 0)
                violation(s, "LPI %u of device 0x%x vector %u is not mapped in vits", base + v,
                          s->dev[d].devid, v);
            else if (where != cpu)
                violation(s, "LPI %u routed to vCPU %u by vits, to %u by the driver", base + v,
                          where, cpu);
        }
    }
    for (uint32_t i = 0; i < NR_LPIS; i++) {
        struct lpi_check *c = &s->lpi[i];
        uint64_t acks = atomic_load(&c->acks), acc = atomic_load(&c->accepted);
        uint64_t need = atomic_load(&c->need);
        if (acks < need)
            violation(s,
                      "LPI %u: an accepted MSI was never delivered (%" PRIu64 " deliveries, "
                      "%" PRIu64 " needed)",
                      i + 8192, acks, need);
        if (acks > acc)
            violation(s, "LPI %u: %" PRIu64 " deliveries for %" PRIu64 " accepted MSIs", i + 8192,
                      acks, acc);
        res->delivered += acks;
    }
    struct vm_stats vs;
    vm_stats(s->vm, &vs);
    if (vs.violations)
        violation(s, "%" PRIu64 " injector protocol violations; first: %s", vs.violations,
                  vm_first_violation(s->vm));
    for (uint32_t c = 0; c < o->vcpus; c++)
        if (vm_raised_count(s->vm, c))
            violation(s, "vCPU %u still has %u LPIs in its list", c, vm_raised_count(s->vm, c));
    res->sent = atomic_load(&s->sent);
    res->accepted = atomic_load(&s->accepted);
    res->blocked = atomic_load(&s->blocked);
    res->coalesced = res->accepted >= res->delivered ? res->accepted - res->delivered : 0;
    res->violations = atomic_load(&s->violations);
    print_summary(s, res, vits_domain_memory(vm_domain(s->vm)) / 1024);
    status = res->violations ? 1 : 0;
out:
    drv_free(s->drv);
    vm_free(s->vm);
    free(threads);
    free(dt);
    free(vt);
    free(s->lpi);
    free(s->dev);
    free((void *)s->online);
    free((void *)s->delivered);
    pthread_mutex_destroy(&s->msg_lock);
    free(s);
    return status;
}
