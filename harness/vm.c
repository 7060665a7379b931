/* SPDX-License-Identifier: MIT */
/*
 * The reference embedding; see vm.h. Written through vits.h only.
 *
 * Locks, and what they protect:
 *   vm->ram_lock   the page hash, holes, faults and memory counters;
 *   vm->inj_lock   the injector: per-vCPU heaps, per-LPI entries, the
 *                  injector counters, the first violation text.
 * vits' locks come before ours: it calls raise/retract under the LPI's
 * stripe lock (from any thread that signals an MSI, or under its domain
 * lock from command processing) and read_mem/write_mem under its domain
 * lock; neither of ours is ever held across a vits call, so there is no
 * cycle. Out of process (vm_start_remote), the connection's own mutex
 * serialises the calls to the server and is held while the client waits
 * for a reply, during which it runs these same callbacks for the server:
 * again neither of our locks is held across a call.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "remote.h"
#include "vm.h"

#define INJ_CHUNK_SHIFT 12u
#define INJ_CHUNK (1u << INJ_CHUNK_SHIFT)
#define INJ_DIR (1u << (24 - INJ_CHUNK_SHIFT)) /* INTIDs are below 2^24 */

struct page {
    uint64_t gpa;
    struct page *next;
    uint8_t data[VM_PAGE_SIZE];
};

struct hole {
    uint64_t start, end;
};

struct fault {
    unsigned kinds;
    uint64_t start, end;
    unsigned after, count; /* count 0: forever */
    int err;
};

/* Injector state of one LPI. */
struct inj_lpi {
    uint32_t heap_pos; /* index + 1 in the heap of vCPU raised - 1; 0: not queued */
    uint16_t raised;   /* vCPU + 1 that vits raised it on (and did not retract) */
    uint8_t priority;
};

struct inj_vcpu {
    uint32_t *keys; /* binary min-heap of priority << 24 | intid */
    uint32_t count, cap;
    pthread_cond_t cond;
    /* The take in flight on this vCPU (one taker per vCPU): popped,
     * acknowledgement not settled yet. consumed: vits raised the LPI
     * again meanwhile without a retract, so the acknowledgement must have
     * been accepted. */
    uint32_t inflight; /* INTID, 0: none */
    bool consumed;
};

struct vm {
    pthread_mutex_t ram_lock;
    struct page **buckets;
    size_t nr_buckets, nr_pages, max_pages;
    struct hole holes[VM_MAX_HOLES];
    unsigned nr_holes;
    struct fault faults[VM_MAX_FAULTS];
    unsigned nr_faults;
    uint64_t mem_reads, mem_writes, mem_faults;
    unsigned fail_every, fail_countdown; /* vm_fail_reads */
    int fail_err;

    struct vm_config cfg;
    struct vits_ops ops;
    struct vits_domain *d;
    struct remote *remote; /* vits out of process (vm_start_remote) */
    int remote_fd;         /* the connection vm_start_remote hands to vm_start */
    bool want_remote;
    struct vits_its *its[VM_MAX_ITS];
    struct vits_its_config its_cfg[VM_MAX_ITS]; /* for vm_recreate */
    struct vits_domain_config dcfg;
    uint64_t its_base[VM_MAX_ITS];
    unsigned nr_its;
    struct vm_hooks hooks;

    pthread_mutex_t inj_lock;
    struct inj_vcpu *vcpu;
    struct inj_lpi *lpi[INJ_DIR];
    bool waking;
    uint64_t raises, retracts, takes, acks, stale_takes, violations;
    char first_violation[160];
    uint64_t log_lines[4];
};

/* ------------------------------------------------------------------ */
/* Guest RAM                                                           */
/* ------------------------------------------------------------------ */

static size_t bucket_of(uint64_t pg, size_t n)
{
    return (size_t)(((pg / VM_PAGE_SIZE) * 0x9e3779b97f4a7c15ull) >> 32) & (n - 1);
}

/* Needs ram_lock. */
static struct page *find_page(struct vm *vm, uint64_t gpa)
{
    uint64_t pg = gpa & ~(uint64_t)(VM_PAGE_SIZE - 1);
    for (struct page *p = vm->buckets[bucket_of(pg, vm->nr_buckets)]; p; p = p->next)
        if (p->gpa == pg)
            return p;
    return NULL;
}

/* Needs ram_lock. Doubles the hash when it is full; on failure keeps the
 * old one (lookups stay correct, only slower). */
static void grow_buckets(struct vm *vm)
{
    size_t n = vm->nr_buckets * 2;
    struct page **nb = calloc(n, sizeof(*nb));
    if (!nb)
        return;
    for (size_t b = 0; b < vm->nr_buckets; b++) {
        struct page *p = vm->buckets[b];
        while (p) {
            struct page *next = p->next;
            size_t nbk = bucket_of(p->gpa, n);
            p->next = nb[nbk];
            nb[nbk] = p;
            p = next;
        }
    }
    free(vm->buckets);
    vm->buckets = nb;
    vm->nr_buckets = n;
}

/* Needs ram_lock. */
static struct page *get_page(struct vm *vm, uint64_t gpa)
{
    struct page *p = find_page(vm, gpa);
    if (p)
        return p;
    if (vm->nr_pages >= vm->max_pages)
        return NULL;
    p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->gpa = gpa & ~(uint64_t)(VM_PAGE_SIZE - 1);
    size_t b = bucket_of(p->gpa, vm->nr_buckets);
    p->next = vm->buckets[b];
    vm->buckets[b] = p;
    if (++vm->nr_pages > vm->nr_buckets)
        grow_buckets(vm);
    return p;
}

/* Needs ram_lock. The error an access of kind to [gpa, gpa + len) meets,
 * or 0; consumes the faults' countdowns. */
static int access_check(struct vm *vm, unsigned kind, uint64_t gpa, size_t len)
{
    if (len == 0)
        return 0;
    if (gpa + len - 1 < gpa)
        return -EINVAL;
    uint64_t end = gpa + len;
    for (unsigned i = 0; i < vm->nr_holes; i++)
        if (gpa < vm->holes[i].end && end > vm->holes[i].start)
            return -EFAULT;
    for (unsigned i = 0; i < vm->nr_faults; i++) {
        struct fault *f = &vm->faults[i];
        if (!(f->kinds & kind) || gpa >= f->end || end <= f->start || f->err == 0)
            continue;
        if (f->after) {
            f->after--;
            continue;
        }
        int err = f->err;
        if (f->count && --f->count == 0)
            f->err = 0; /* spent */
        return err;
    }
    return 0;
}

int vm_mem_read(struct vm *vm, uint64_t gpa, void *buf, size_t len)
{
    if (!vm || (!buf && len))
        return -EINVAL;
    pthread_mutex_lock(&vm->ram_lock);
    vm->mem_reads++;
    int rc = access_check(vm, VM_FAULT_READ, gpa, len);
    uint8_t *dst = buf;
    while (!rc && len) {
        size_t off = (size_t)(gpa % VM_PAGE_SIZE);
        size_t n = VM_PAGE_SIZE - off < len ? VM_PAGE_SIZE - off : len;
        struct page *p = find_page(vm, gpa);
        if (p)
            memcpy(dst, p->data + off, n);
        else
            memset(dst, 0, n);
        gpa += n, dst += n, len -= n;
    }
    if (rc)
        vm->mem_faults++;
    pthread_mutex_unlock(&vm->ram_lock);
    return rc;
}

int vm_mem_write(struct vm *vm, uint64_t gpa, const void *buf, size_t len)
{
    if (!vm || (!buf && len))
        return -EINVAL;
    pthread_mutex_lock(&vm->ram_lock);
    vm->mem_writes++;
    int rc = access_check(vm, VM_FAULT_WRITE, gpa, len);
    const uint8_t *src = buf;
    while (!rc && len) {
        size_t off = (size_t)(gpa % VM_PAGE_SIZE);
        size_t n = VM_PAGE_SIZE - off < len ? VM_PAGE_SIZE - off : len;
        struct page *p = get_page(vm, gpa);
        if (!p) {
            rc = -ENOMEM;
            break;
        }
        memcpy(p->data + off, src, n);
        gpa += n, src += n, len -= n;
    }
    if (rc)
        vm->mem_faults++;
    pthread_mutex_unlock(&vm->ram_lock);
    return rc;
}

int vm_mem_write64(struct vm *vm, uint64_t gpa, uint64_t val)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(val >> (8 * i));
    return vm_mem_write(vm, gpa, b, 8);
}

uint64_t vm_mem_read64(struct vm *vm, uint64_t gpa)
{
    uint8_t b[8];
    if (vm_mem_read(vm, gpa, b, 8))
        return 0;
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | b[i];
    return v;
}

int vm_add_hole(struct vm *vm, uint64_t start, uint64_t len)
{
    if (!vm || len == 0 || start + len < start)
        return -EINVAL;
    pthread_mutex_lock(&vm->ram_lock);
    int rc = -ENOSPC;
    if (vm->nr_holes < VM_MAX_HOLES) {
        vm->holes[vm->nr_holes++] = (struct hole){start, start + len};
        rc = 0;
    }
    pthread_mutex_unlock(&vm->ram_lock);
    return rc;
}

int vm_inject_fault(struct vm *vm, unsigned kinds, uint64_t start, uint64_t len, unsigned after,
                    unsigned count, int err)
{
    if (!vm || len == 0 || start + len < start || err >= 0)
        return -EINVAL;
    pthread_mutex_lock(&vm->ram_lock);
    int rc = -ENOSPC;
    if (vm->nr_faults < VM_MAX_FAULTS) {
        vm->faults[vm->nr_faults++] = (struct fault){kinds, start, start + len, after, count, err};
        rc = 0;
    }
    pthread_mutex_unlock(&vm->ram_lock);
    return rc;
}

void vm_clear_faults(struct vm *vm)
{
    pthread_mutex_lock(&vm->ram_lock);
    vm->nr_faults = 0;
    pthread_mutex_unlock(&vm->ram_lock);
}

/* ------------------------------------------------------------------ */
/* The injector                                                        */
/* ------------------------------------------------------------------ */

/* Needs inj_lock. */
static void violation(struct vm *vm, const char *what, uint32_t vcpu, uint32_t intid)
{
    if (!vm->violations++)
        snprintf(vm->first_violation, sizeof(vm->first_violation),
                 "%s (vCPU %" PRIu32 ", LPI %" PRIu32 ")", what, vcpu, intid);
}

/* Needs inj_lock. The entry of intid, allocated when create is set. */
static struct inj_lpi *lpi_entry(struct vm *vm, uint32_t intid, bool create)
{
    if (intid >= (1u << 24))
        return NULL;
    struct inj_lpi **c = &vm->lpi[intid >> INJ_CHUNK_SHIFT];
    if (!*c && create)
        *c = calloc(INJ_CHUNK, sizeof(**c));
    return *c ? &(*c)[intid & (INJ_CHUNK - 1)] : NULL;
}

static uint32_t key_intid(uint32_t key) { return key & 0xffffffu; }

/* Heap helpers; need inj_lock. Every move keeps heap_pos up to date. */
static void heap_set(struct vm *vm, struct inj_vcpu *h, uint32_t i, uint32_t key)
{
    h->keys[i] = key;
    lpi_entry(vm, key_intid(key), false)->heap_pos = i + 1;
}

static void heap_sift_up(struct vm *vm, struct inj_vcpu *h, uint32_t i)
{
    uint32_t key = h->keys[i];
    while (i > 0) {
        uint32_t parent = (i - 1) / 2;
        if (h->keys[parent] <= key)
            break;
        heap_set(vm, h, i, h->keys[parent]);
        i = parent;
    }
    heap_set(vm, h, i, key);
}

static void heap_sift_down(struct vm *vm, struct inj_vcpu *h, uint32_t i)
{
    uint32_t key = h->keys[i];
    for (;;) {
        uint32_t l = 2 * i + 1, m = i;
        uint32_t best = key;
        if (l < h->count && h->keys[l] < best)
            m = l, best = h->keys[l];
        if (l + 1 < h->count && h->keys[l + 1] < best)
            m = l + 1;
        if (m == i)
            break;
        heap_set(vm, h, i, h->keys[m]);
        i = m;
    }
    heap_set(vm, h, i, key);
}

static int heap_push(struct vm *vm, struct inj_vcpu *h, uint32_t key)
{
    if (h->count == h->cap) {
        uint32_t ncap = h->cap ? h->cap * 2 : 64;
        uint32_t *nk = realloc(h->keys, ncap * sizeof(*nk));
        if (!nk)
            return -ENOMEM;
        h->keys = nk;
        h->cap = ncap;
    }
    h->keys[h->count++] = key;
    heap_sift_up(vm, h, h->count - 1);
    return 0;
}

static void heap_remove(struct vm *vm, struct inj_vcpu *h, struct inj_lpi *e)
{
    uint32_t i = e->heap_pos - 1;
    e->heap_pos = 0;
    uint32_t last = h->keys[--h->count];
    if (i == h->count)
        return;
    h->keys[i] = last;
    lpi_entry(vm, key_intid(last), false)->heap_pos = i + 1;
    heap_sift_up(vm, h, i);
    heap_sift_down(vm, h, lpi_entry(vm, key_intid(last), false)->heap_pos - 1);
}

/* ops->raise: runs under vits' domain lock. */
static int op_raise(void *opaque, uint32_t vcpu, uint32_t intid, uint8_t priority)
{
    struct vm *vm = opaque;
    if (vcpu >= vm->cfg.nr_vcpus)
        return -EINVAL;
    pthread_mutex_lock(&vm->inj_lock);
    struct inj_lpi *e = lpi_entry(vm, intid, true);
    int rc = -ENOMEM;
    if (e) {
        if (e->raised) {
            struct inj_vcpu *old = &vm->vcpu[e->raised - 1];
            if (!e->heap_pos && old->inflight == intid && !old->consumed) {
                /* The take in flight on the old vCPU was acknowledged and
                 * vits raised the LPI again before the taker settled. */
                old->consumed = true;
            } else {
                violation(vm, "raised twice without a retract or an acknowledgement", vcpu, intid);
                if (e->heap_pos)
                    heap_remove(vm, old, e);
            }
        }
        struct inj_vcpu *h = &vm->vcpu[vcpu];
        rc = heap_push(vm, h, (uint32_t)priority << 24 | intid);
        if (!rc) {
            e->raised = (uint16_t)(vcpu + 1);
            e->priority = priority;
            vm->raises++;
            if (h->count == 1)
                pthread_cond_broadcast(&h->cond);
        }
    }
    pthread_mutex_unlock(&vm->inj_lock);
    if (!rc && vm->hooks.raised)
        vm->hooks.raised(vm->hooks.ctx, vcpu, intid, priority);
    return rc;
}

/* ops->retract: runs under vits' domain lock. */
static void op_retract(void *opaque, uint32_t vcpu, uint32_t intid)
{
    struct vm *vm = opaque;
    pthread_mutex_lock(&vm->inj_lock);
    struct inj_lpi *e = lpi_entry(vm, intid, false);
    vm->retracts++;
    if (!e || e->raised != vcpu + 1) {
        violation(vm, "retracted from a vCPU it was not raised on", vcpu, intid);
    } else {
        if (e->heap_pos)
            heap_remove(vm, &vm->vcpu[vcpu], e);
        e->raised = 0;
    }
    pthread_mutex_unlock(&vm->inj_lock);
}

static void op_log(void *opaque, enum vits_log_level level, const char *msg)
{
    struct vm *vm = opaque;
    static const char *const names[] = {"error", "guest", "info", "debug"};
    unsigned l = (unsigned)level < 4 ? (unsigned)level : 3;
    pthread_mutex_lock(&vm->inj_lock);
    vm->log_lines[l]++;
    pthread_mutex_unlock(&vm->inj_lock);
    if (vm->cfg.log && level <= vm->cfg.log_level)
        fprintf(vm->cfg.log, "vits %s: %s\n", names[l], msg);
}

static int op_read_mem(void *opaque, uint64_t gpa, void *buf, size_t len)
{
    struct vm *vm = opaque;
    pthread_mutex_lock(&vm->ram_lock);
    int err = 0;
    if (vm->fail_every && --vm->fail_countdown == 0) {
        vm->fail_countdown = vm->fail_every;
        vm->mem_faults++;
        err = vm->fail_err;
    }
    pthread_mutex_unlock(&vm->ram_lock);
    return err ? err : vm_mem_read(vm, gpa, buf, len);
}

static int op_write_mem(void *opaque, uint64_t gpa, const void *buf, size_t len)
{
    return vm_mem_write(opaque, gpa, buf, len);
}

/* Whether the VM has a vits domain, here or out of process. */
static bool live(const struct vm *vm) { return vm->d || vm->remote; }

static int lpi_ack(struct vm *vm, uint32_t vcpu, uint32_t intid)
{
    return vm->remote ? remote_ack(vm->remote, vcpu, intid) : vits_lpi_ack(vm->d, vcpu, intid);
}

/*
 * After vits_lpi_ack(vcpu, intid) returned rc for an LPI the injector had
 * popped (or picked) from vcpu: settle the entry and check the protocol.
 * Needs inj_lock.
 */
static void settle_ack(struct vm *vm, uint32_t vcpu, uint32_t intid, int rc)
{
    struct inj_lpi *e = lpi_entry(vm, intid, false);
    struct inj_vcpu *h = &vm->vcpu[vcpu];
    bool consumed = h->consumed;
    h->inflight = 0;
    h->consumed = false;
    if (consumed) {
        /* vits raised it again (entry now describes that raise) */
        if (rc == 0)
            vm->acks++;
        else
            violation(vm,
                      "vits raised an LPI again without a retract but refused its "
                      "acknowledgement",
                      vcpu, intid);
        return;
    }
    if (rc == 0) {
        vm->acks++;
        if (!e || e->raised != vcpu + 1) {
            violation(vm, "vits accepted the acknowledgement of an LPI not raised there", vcpu,
                      intid);
            return;
        }
        if (e->heap_pos)
            heap_remove(vm, &vm->vcpu[vcpu], e);
        e->raised = 0;
    } else {
        vm->stale_takes++;
        /* Refused: vits must have retracted it since (the retract clears
         * raised, or a later raise queued it again). */
        if (e && e->raised == vcpu + 1 && !e->heap_pos)
            violation(vm, "vits refused the acknowledgement of an LPI it raised there", vcpu,
                      intid);
    }
}

int vm_take(struct vm *vm, uint32_t vcpu, bool wait, uint32_t *intid, uint8_t *priority)
{
    if (!vm || !live(vm) || vcpu >= vm->cfg.nr_vcpus)
        return -EINVAL;
    struct inj_vcpu *h = &vm->vcpu[vcpu];
    pthread_mutex_lock(&vm->inj_lock);
    while (h->count == 0) {
        if (!wait || vm->waking) {
            pthread_mutex_unlock(&vm->inj_lock);
            return 0;
        }
        pthread_cond_wait(&h->cond, &vm->inj_lock);
    }
    uint32_t key = h->keys[0];
    uint32_t id = key_intid(key);
    heap_remove(vm, h, lpi_entry(vm, id, false));
    h->inflight = id;
    h->consumed = false;
    vm->takes++;
    pthread_mutex_unlock(&vm->inj_lock);

    int rc = lpi_ack(vm, vcpu, id);

    pthread_mutex_lock(&vm->inj_lock);
    settle_ack(vm, vcpu, id, rc);
    pthread_mutex_unlock(&vm->inj_lock);
    if (rc)
        return 0;
    if (vm->hooks.acked)
        vm->hooks.acked(vm->hooks.ctx, vcpu, id);
    if (intid)
        *intid = id;
    if (priority)
        *priority = (uint8_t)(key >> 24);
    return 1;
}

int vm_ack(struct vm *vm, uint32_t vcpu, uint32_t intid)
{
    if (!vm || !live(vm) || vcpu >= vm->cfg.nr_vcpus)
        return -EINVAL;
    pthread_mutex_lock(&vm->inj_lock);
    struct inj_lpi *e = lpi_entry(vm, intid, false);
    if (!e || e->raised != vcpu + 1 || !e->heap_pos) {
        pthread_mutex_unlock(&vm->inj_lock);
        return -ENOENT;
    }
    heap_remove(vm, &vm->vcpu[vcpu], e);
    vm->vcpu[vcpu].inflight = intid;
    vm->vcpu[vcpu].consumed = false;
    vm->takes++;
    pthread_mutex_unlock(&vm->inj_lock);

    int rc = lpi_ack(vm, vcpu, intid);

    pthread_mutex_lock(&vm->inj_lock);
    settle_ack(vm, vcpu, intid, rc);
    pthread_mutex_unlock(&vm->inj_lock);
    if (!rc && vm->hooks.acked)
        vm->hooks.acked(vm->hooks.ctx, vcpu, intid);
    return rc ? -ENOENT : 0;
}

void vm_wake(struct vm *vm)
{
    pthread_mutex_lock(&vm->inj_lock);
    vm->waking = true;
    for (uint32_t v = 0; vm->vcpu && v < vm->cfg.nr_vcpus; v++)
        pthread_cond_broadcast(&vm->vcpu[v].cond);
    pthread_mutex_unlock(&vm->inj_lock);
}

int vm_raised_on(struct vm *vm, uint32_t intid)
{
    pthread_mutex_lock(&vm->inj_lock);
    struct inj_lpi *e = lpi_entry(vm, intid, false);
    int v = e && e->raised && e->heap_pos ? e->raised - 1 : -1;
    pthread_mutex_unlock(&vm->inj_lock);
    return v;
}

unsigned vm_raised_count(struct vm *vm, uint32_t vcpu)
{
    if (!vm->vcpu || vcpu >= vm->cfg.nr_vcpus)
        return 0;
    pthread_mutex_lock(&vm->inj_lock);
    unsigned n = vm->vcpu[vcpu].count;
    pthread_mutex_unlock(&vm->inj_lock);
    return n;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

unsigned vm_raised_list(struct vm *vm, uint32_t vcpu, uint32_t *intids, unsigned max)
{
    if (!vm->vcpu || vcpu >= vm->cfg.nr_vcpus)
        return 0;
    pthread_mutex_lock(&vm->inj_lock);
    struct inj_vcpu *h = &vm->vcpu[vcpu];
    uint32_t *copy = malloc((h->count ? h->count : 1) * sizeof(*copy));
    unsigned n = 0;
    if (copy) {
        memcpy(copy, h->keys, h->count * sizeof(*copy));
        qsort(copy, h->count, sizeof(*copy), cmp_u32);
        for (n = 0; n < h->count && n < max; n++)
            intids[n] = key_intid(copy[n]);
        free(copy);
    }
    pthread_mutex_unlock(&vm->inj_lock);
    return n;
}

void vm_stats(struct vm *vm, struct vm_stats *st)
{
    pthread_mutex_lock(&vm->inj_lock);
    *st = (struct vm_stats){.raises = vm->raises,
                            .retracts = vm->retracts,
                            .takes = vm->takes,
                            .acks = vm->acks,
                            .stale_takes = vm->stale_takes,
                            .violations = vm->violations};
    memcpy(st->log_lines, vm->log_lines, sizeof(st->log_lines));
    pthread_mutex_unlock(&vm->inj_lock);
    pthread_mutex_lock(&vm->ram_lock);
    st->mem_reads = vm->mem_reads;
    st->mem_writes = vm->mem_writes;
    st->mem_faults = vm->mem_faults;
    st->pages = vm->nr_pages;
    pthread_mutex_unlock(&vm->ram_lock);
}

const char *vm_first_violation(struct vm *vm) { return vm->first_violation; }

/* ------------------------------------------------------------------ */
/* Lifecycle                                                           */
/* ------------------------------------------------------------------ */

struct vm *vm_new(size_t max_pages)
{
    struct vm *vm = calloc(1, sizeof(*vm));
    if (!vm)
        return NULL;
    vm->nr_buckets = 256;
    vm->buckets = calloc(vm->nr_buckets, sizeof(*vm->buckets));
    if (!vm->buckets) {
        free(vm);
        return NULL;
    }
    vm->max_pages = max_pages ? max_pages : VM_DEFAULT_MAX_PAGES;
    pthread_mutex_init(&vm->ram_lock, NULL);
    pthread_mutex_init(&vm->inj_lock, NULL);
    vm->ops = (struct vits_ops){
        .version = VITS_OPS_VERSION,
        .read_mem = op_read_mem,
        .write_mem = op_write_mem,
        .raise = op_raise,
        .retract = op_retract,
        .log = op_log,
    };
    return vm;
}

/* The remote half of vm_start: open the connection vm_start_remote
 * handed over and create the domain at its other end. */
static int start_remote(struct vm *vm, const struct vits_domain_config *dcfg)
{
    vm->want_remote = false;
    int rc = remote_open(vm->remote_fd, &vm->ops, vm, 0, &vm->remote);
    if (!rc) {
        rc = remote_create(vm->remote, dcfg, vm->cfg.max_access);
        if (rc) {
            remote_close(vm->remote);
            vm->remote = NULL;
        }
    }
    return rc;
}

int vm_start(struct vm *vm, const struct vm_config *cfg)
{
    if (!vm || !cfg)
        return -EINVAL;
    if (live(vm))
        return -EALREADY;
    struct vits_domain_config dcfg;
    vits_domain_config_init(&dcfg, cfg->nr_vcpus);
    if (cfg->lpi_id_bits)
        dcfg.lpi_id_bits = cfg->lpi_id_bits;
    if (cfg->redist_base)
        dcfg.redist_base = cfg->redist_base;
    dcfg.log_level = cfg->log_level;
    if (cfg->nr_vcpus < 1 || cfg->nr_vcpus > 4096)
        return -EINVAL;
    vm->cfg = *cfg;
    vm->ops.max_access = cfg->max_access;
    vm->cfg.lpi_id_bits = dcfg.lpi_id_bits;
    vm->cfg.redist_base = dcfg.redist_base;
    vm->vcpu = calloc(cfg->nr_vcpus, sizeof(*vm->vcpu));
    if (!vm->vcpu)
        return -ENOMEM;
    for (uint32_t v = 0; v < cfg->nr_vcpus; v++)
        pthread_cond_init(&vm->vcpu[v].cond, NULL);
    vm->dcfg = dcfg;
    int rc =
        vm->want_remote ? start_remote(vm, &dcfg) : vits_domain_create(&dcfg, &vm->ops, vm, &vm->d);
    if (rc) {
        for (uint32_t v = 0; v < cfg->nr_vcpus; v++)
            pthread_cond_destroy(&vm->vcpu[v].cond);
        free(vm->vcpu);
        vm->vcpu = NULL;
        vm->d = NULL;
    }
    return rc;
}

bool vm_started(const struct vm *vm) { return vm && live(vm); }

void vm_set_hooks(struct vm *vm, const struct vm_hooks *hooks)
{
    vm->hooks = hooks ? *hooks : (struct vm_hooks){0};
}

int vm_add_its(struct vm *vm, const struct vits_its_config *cfg)
{
    if (!vm || !live(vm) || !cfg)
        return -EINVAL;
    if (vm->nr_its >= VM_MAX_ITS)
        return -ENOSPC;
    struct vits_its *its = NULL;
    int rc = vm->remote ? remote_its_create(vm->remote, cfg) : vits_its_create(vm->d, cfg, &its);
    if (rc < 0)
        return rc;
    vm->its[vm->nr_its] = its;
    vm->its_base[vm->nr_its] = cfg->base;
    vm->its_cfg[vm->nr_its] = *cfg;
    return (int)vm->nr_its++;
}

struct vits_its *vm_its(const struct vm *vm, unsigned idx)
{
    return vm && idx < vm->nr_its ? vm->its[idx] : NULL;
}

uint64_t vm_its_base(const struct vm *vm, unsigned idx)
{
    return vm && idx < vm->nr_its ? vm->its_base[idx] : 0;
}

unsigned vm_nr_its(const struct vm *vm) { return vm ? vm->nr_its : 0; }
struct vits_domain *vm_domain(const struct vm *vm) { return vm ? vm->d : NULL; }
uint32_t vm_nr_vcpus(const struct vm *vm) { return vm && live(vm) ? vm->cfg.nr_vcpus : 0; }
uint64_t vm_redist_base(const struct vm *vm) { return vm->cfg.redist_base; }

int vm_recreate(struct vm *vm)
{
    if (!vm || vm->remote)
        return vm ? -EOPNOTSUPP : -EINVAL;
    if (!vm->d)
        return -EINVAL;
    for (unsigned i = 0; i < vm->nr_its; i++) {
        vits_its_destroy(vm->its[i]);
        vm->its[i] = NULL;
    }
    int rc = vits_domain_destroy(vm->d);
    if (rc)
        return rc;
    vm->d = NULL;
    rc = vits_domain_create(&vm->dcfg, &vm->ops, vm, &vm->d);
    for (unsigned i = 0; !rc && i < vm->nr_its; i++)
        rc = vits_its_create(vm->d, &vm->its_cfg[i], &vm->its[i]);
    return rc;
}

void vm_free(struct vm *vm)
{
    if (!vm)
        return;
    for (unsigned i = 0; i < vm->nr_its; i++)
        vits_its_destroy(vm->its[i]);
    if (vm->d)
        vits_domain_destroy(vm->d);
    remote_close(vm->remote);
    for (size_t b = 0; b < vm->nr_buckets; b++) {
        struct page *p = vm->buckets[b];
        while (p) {
            struct page *next = p->next;
            free(p);
            p = next;
        }
    }
    free(vm->buckets);
    for (unsigned i = 0; i < INJ_DIR; i++)
        free(vm->lpi[i]);
    if (vm->vcpu) {
        for (uint32_t v = 0; v < vm->cfg.nr_vcpus; v++) {
            free(vm->vcpu[v].keys);
            pthread_cond_destroy(&vm->vcpu[v].cond);
        }
        free(vm->vcpu);
    }
    pthread_mutex_destroy(&vm->ram_lock);
    pthread_mutex_destroy(&vm->inj_lock);
    free(vm);
}

/* ------------------------------------------------------------------ */
/* MMIO routing and MSIs                                               */
/* ------------------------------------------------------------------ */

/* Which frame holds gpa: an ITS (returns 1, *idx, *off) or a
 * redistributor (returns 2, *idx = vCPU, *off in its 128 KiB frame). */
static int route(const struct vm *vm, uint64_t gpa, unsigned *idx, uint64_t *off)
{
    for (unsigned i = 0; i < vm->nr_its; i++)
        if (gpa >= vm->its_base[i] && gpa - vm->its_base[i] < VITS_ITS_FRAME_SIZE) {
            *idx = i;
            *off = gpa - vm->its_base[i];
            return 1;
        }
    uint64_t rb = vm->cfg.redist_base;
    if (live(vm) && gpa >= rb && (gpa - rb) / VM_GICR_STRIDE < vm->cfg.nr_vcpus) {
        *idx = (unsigned)((gpa - rb) / VM_GICR_STRIDE);
        *off = (gpa - rb) % VM_GICR_STRIDE;
        return 2;
    }
    return 0;
}

int vm_mmio_read(struct vm *vm, uint64_t gpa, unsigned size, uint64_t *val)
{
    unsigned idx;
    uint64_t off;
    switch (route(vm, gpa, &idx, &off)) {
    case 1:
        return vm_its_read(vm, idx, off, size, val);
    case 2: {
        int rc = vm_gicr_read(vm, idx, off, size, val);
        if (rc == -ENOENT) { /* the stub vGIC's register */
            *val = 0;
            rc = 0;
        }
        return rc;
    }
    default:
        return -ENOENT;
    }
}

int vm_mmio_write(struct vm *vm, uint64_t gpa, unsigned size, uint64_t val)
{
    unsigned idx;
    uint64_t off;
    switch (route(vm, gpa, &idx, &off)) {
    case 1:
        return vm_its_write(vm, idx, off, size, val);
    case 2: {
        int rc = vm_gicr_write(vm, idx, off, size, val);
        return rc == -ENOENT ? 0 : rc;
    }
    default:
        return -ENOENT;
    }
}

int vm_msi(struct vm *vm, uint64_t doorbell, uint32_t devid, uint32_t eventid)
{
    for (unsigned i = 0; i < vm->nr_its; i++)
        if (vm->its_base[i] + VITS_GITS_TRANSLATER == doorbell)
            return vm->remote ? remote_msi(vm->remote, doorbell, devid, eventid)
                              : vits_its_signal_msi(vm->its[i], devid, eventid);
    return -ENODEV;
}

/* ------------------------------------------------------------------ */
/* Out of process, and the calls that work either way                  */
/* ------------------------------------------------------------------ */

int vm_start_remote(struct vm *vm, const struct vm_config *cfg, int fd)
{
    if (!vm || fd < 0) {
        if (fd >= 0)
            close(fd);
        return -EINVAL;
    }
    if (live(vm)) {
        close(fd);
        return -EALREADY;
    }
    vm->remote_fd = fd;
    vm->want_remote = true;
    int rc = vm_start(vm, cfg);
    if (vm->want_remote) { /* vm_start failed before it took the fd */
        vm->want_remote = false;
        close(fd);
    }
    return rc;
}

bool vm_is_remote(const struct vm *vm) { return vm && vm->remote; }

void vm_remote_stats(struct vm *vm, struct remote_stats *st)
{
    if (vm && vm->remote)
        remote_stats(vm->remote, st);
    else
        memset(st, 0, sizeof(*st));
}

/* An access to guest physical address addr, served by the server. */
static int remote_access(struct vm *vm, uint64_t addr, uint32_t vcpu, unsigned size, bool write,
                         uint64_t *val)
{
    struct vits_ioreq r = {.addr = addr,
                           .size = size,
                           .dir = write ? VITS_IOREQ_WRITE : VITS_IOREQ_READ,
                           .vcpu = vcpu,
                           .data = write ? *val : 0};
    int rc = remote_mmio(vm->remote, &r);
    if (!rc && !write)
        *val = r.data;
    return rc;
}

int vm_its_read(struct vm *vm, unsigned idx, uint64_t off, unsigned size, uint64_t *val)
{
    if (!vm || idx >= vm->nr_its || !val)
        return -EINVAL;
    if (!vm->remote)
        return vits_its_mmio_read(vm->its[idx], off, size, val);
    if (off >= VITS_ITS_FRAME_SIZE)
        return -EINVAL;
    return remote_access(vm, vm->its_base[idx] + off, 0, size, false, val);
}

int vm_its_write(struct vm *vm, unsigned idx, uint64_t off, unsigned size, uint64_t val)
{
    if (!vm || idx >= vm->nr_its)
        return -EINVAL;
    if (!vm->remote)
        return vits_its_mmio_write(vm->its[idx], off, size, val);
    if (off >= VITS_ITS_FRAME_SIZE)
        return -EINVAL;
    return remote_access(vm, vm->its_base[idx] + off, 0, size, true, &val);
}

int vm_gicr_read(struct vm *vm, uint32_t vcpu, uint64_t off, unsigned size, uint64_t *val)
{
    if (!vm || !live(vm) || vcpu >= vm->cfg.nr_vcpus || !val)
        return -EINVAL;
    if (!vm->remote)
        return vits_gicr_mmio_read(vm->d, vcpu, off, size, val);
    if (off >= VM_GICR_STRIDE)
        return -ENOENT;
    return remote_access(vm, vm->cfg.redist_base + (uint64_t)vcpu * VM_GICR_STRIDE + off, vcpu,
                         size, false, val);
}

int vm_gicr_write(struct vm *vm, uint32_t vcpu, uint64_t off, unsigned size, uint64_t val)
{
    if (!vm || !live(vm) || vcpu >= vm->cfg.nr_vcpus)
        return -EINVAL;
    if (!vm->remote)
        return vits_gicr_mmio_write(vm->d, vcpu, off, size, val);
    if (off >= VM_GICR_STRIDE)
        return -ENOENT;
    return remote_access(vm, vm->cfg.redist_base + (uint64_t)vcpu * VM_GICR_STRIDE + off, vcpu,
                         size, true, &val);
}

int vm_lpi_state(struct vm *vm, uint32_t intid, uint32_t *vcpu)
{
    if (!vm || !live(vm))
        return -EINVAL;
    return vm->remote ? remote_lpi_state(vm->remote, intid, vcpu)
                      : vits_lpi_state(vm->d, intid, vcpu);
}

int vm_its_last_error(struct vm *vm, unsigned idx, struct vits_cmd_error *err, uint64_t *count)
{
    if (!vm || idx >= vm->nr_its)
        return -EINVAL;
    return vm->remote ? remote_its_status(vm->remote, idx, err, count, NULL)
                      : vits_its_last_error(vm->its[idx], err, count);
}

uint64_t vm_its_commands(struct vm *vm, unsigned idx)
{
    if (!vm || idx >= vm->nr_its)
        return 0;
    if (!vm->remote)
        return vits_its_commands(vm->its[idx]);
    uint64_t n = 0;
    return remote_its_status(vm->remote, idx, NULL, NULL, &n) < 0 ? 0 : n;
}

int vm_sync_pending(struct vm *vm)
{
    if (!vm || !live(vm))
        return -EINVAL;
    return vm->remote ? remote_sync_pending(vm->remote) : vits_domain_sync_pending(vm->d);
}

int vm_remote_migrate(struct vm *vm, bool snapshot, char *why, size_t n)
{
    if (!vm || !vm->remote) {
        if (why && n)
            snprintf(why, n, "migrate: vits is not out of process");
        return vm ? -EOPNOTSUPP : -EINVAL;
    }
    return remote_migrate(vm->remote, snapshot, why, n);
}

void vm_fail_reads(struct vm *vm, unsigned n, int err)
{
    pthread_mutex_lock(&vm->ram_lock);
    vm->fail_every = n;
    vm->fail_countdown = n;
    vm->fail_err = err ? err : -EIO;
    pthread_mutex_unlock(&vm->ram_lock);
}
