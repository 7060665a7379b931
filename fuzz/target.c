/* SPDX-License-Identifier: MIT */
/*
 * The fuzz target: runs one script (fuzz/script.h) against the engine
 * and the model (fuzz/model.h), and checks after every operation that
 * the engine did what the model predicts and that the invariants hold.
 * A failure aborts with "vits-fuzz: invariant failed: ...", which AFL++
 * and libFuzzer count as a crash.
 *
 * Every action runs the model first, then the engine, then compares.
 * The environment (fuzz/env.h) checks the injector protocol as the
 * engine calls it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "env.h"
#include "model.h"
#include "script.h"
#include "target.h"

#define MAX_INPUT 8192u
#define MAX_OPS 1024u
#define MAX_COMMANDS 100000u /* commands the model may run for one input */
#define MAX_TOUCHED 32u

#define GITS_CTLR 0x00u
#define GITS_IIDR 0x04u
#define GITS_TYPER 0x08u
#define GITS_CBASER 0x80u
#define GITS_CWRITER 0x88u
#define GITS_CREADR 0x90u
#define GITS_BASER(n) (0x100u + 8u * (n))

/* ---- the run's state ---- */

static struct {
    struct vits_domain_config dcfg;
    bool with_log;
    struct vits_domain *d;
    struct vits_its *its[FZ_MAX_ITS];
    struct vits_route *route[FZ_MAX_ROUTES];
    uint64_t drv_next[FZ_MAX_ITS]; /* the guest driver's next queue slot */
    size_t bare_mem;               /* vits_domain_memory of the bare domain */
    size_t its_cost[FZ_MAX_ITS];   /* memory an ITS took at creation */
    size_t route_size;             /* memory a route takes (0: not seen yet) */
    uint32_t touched[MAX_TOUCHED]; /* INTIDs the script named */
    unsigned nr_touched;
    unsigned op; /* operation number, for messages */
    bool called; /* the operation called the engine: check everything */
} R;

#define FAIL(...) fz_fail(__VA_ARGS__)

/* ---- reading the script ---- */

struct in {
    const uint8_t *p;
    size_t n, i;
};

static uint8_t u8(struct in *in) { return in->i < in->n ? in->p[in->i++] : 0; }

static uint32_t u16(struct in *in)
{
    uint32_t lo = u8(in);
    return lo | (uint32_t)u8(in) << 8;
}

static uint32_t u24(struct in *in)
{
    uint32_t lo = u16(in);
    return lo | (uint32_t)u8(in) << 16;
}

static uint64_t u64(struct in *in)
{
    uint64_t lo = u24(in) | (uint64_t)u8(in) << 24;
    uint64_t hi = u24(in) | (uint64_t)u8(in) << 24;
    return lo | hi << 32;
}

/* ---- field decoding: small values are valid IDs, bit 7 picks hostile ---- */

static uint32_t dec_devid(uint8_t b)
{
    static const uint32_t h[8] = {0xffffffff, 0x80000000, 0x10000, 0xffff,
                                  0x100,      0x7fffffff, 0x20,    0x3f};
    return b & 0x80 ? h[b & 7] : b & 0x0f;
}

static uint32_t dec_event(uint8_t b)
{
    static const uint32_t h[8] = {0xffffffff, 0x10000, 0xffff, 0x8000, 0x100, 0x80, 0x40, 0x3f};
    return b & 0x80 ? h[b & 7] : b & 0x7f;
}

static uint32_t dec_intid(uint32_t v)
{
    static const uint32_t h[8] = {0, 8191, 16383, 16384, 32767, 65535, 131071, 0xffffffff};
    return v & 0x8000 ? h[v & 7] : 8192 + (v & 0x1ff);
}

static uint32_t dec_icid(uint8_t b)
{
    static const uint32_t h[8] = {0xffff, 0x8000, 0x100, 0xff, 0x10, 0x1f, 0x7, 0x1};
    return b & 0x80 ? h[b & 7] : b & 0x0f;
}

/* An RDbase field (36 bits) for an ITS with the given PTA. */
static uint64_t dec_rdbase(uint8_t b, uint32_t pta)
{
    static const uint64_t h[8] = {0xfffffffffull, 0x10000, 0x80a, 0x80c, 0x1000, 0xffff, 8, 0};
    if (b & 0x80)
        return h[b & 7];
    if (!pta)
        return b & 0x0f;
    uint64_t a = R.dcfg.redist_base + (uint64_t)(b & 0x0f) * R.dcfg.redist_stride;
    return ((a >> 16) + ((b & 0x40) ? 1 : 0)) & 0xfffffffffull;
}

static uint64_t dec_hostile_addr(uint32_t v)
{
    static const uint64_t h[8] = {0,
                                  FZ_RAM_BASE - 0x10000,
                                  FZ_RAM_BASE + FZ_RAM_SIZE - 0x10000,
                                  FZ_RAM_BASE + FZ_RAM_SIZE,
                                  0xfffffffff0000ull,
                                  0x8000000000ull,
                                  FZ_RAM_BASE + FZ_RAM_SIZE - 0x1000,
                                  0x10000};
    return h[v & 7];
}

static void touch(uint32_t intid)
{
    for (unsigned i = 0; i < R.nr_touched; i++)
        if (R.touched[i] == intid)
            return;
    if (R.nr_touched < MAX_TOUCHED)
        R.touched[R.nr_touched++] = intid;
}

/* ---- checks ---- */

/* Every errno vits returns has a name (vits.h: vits_strerror names the
 * errnos vits returns). */
static int named(int rc)
{
    if (rc < 0 && !strcmp(vits_strerror(rc), "unknown error"))
        FAIL("op %u: vits_strerror(%d) does not name an errno vits returned", R.op, rc);
    return rc;
}

static void check_its_reg(unsigned slot, uint64_t off, unsigned size)
{
    uint64_t mv, v = 0x5a5a5a5a;
    bool exact;
    int mrc = m_its_read(slot, off, size, &mv, &exact);
    int rc = named(vits_its_mmio_read(R.its[slot], off, size, &v));
    if (rc != mrc)
        FAIL("op %u: ITS %u read of 0x%llx (%u bytes) returned %d, model %d", R.op, slot,
             (unsigned long long)off, size, rc, mrc);
    if (!rc && exact && v != mv)
        FAIL("op %u: ITS %u register 0x%llx (%u bytes) reads 0x%llx, model 0x%llx", R.op, slot,
             (unsigned long long)off, size, (unsigned long long)v, (unsigned long long)mv);
}

static void check_its(unsigned slot)
{
    const struct m_its *m = &fz_model.its[slot];
    static const uint32_t regs[] = {GITS_CTLR,   GITS_IIDR,    GITS_TYPER,    GITS_CBASER,
                                    GITS_CREADR, GITS_CWRITER, GITS_BASER(0), GITS_BASER(1)};
    for (unsigned i = 0; i < sizeof(regs) / sizeof(regs[0]); i++)
        check_its_reg(slot, regs[i], regs[i] == GITS_CTLR || regs[i] == GITS_IIDR ? 4 : 8);
    /* CREADR is 32-byte aligned inside the queue (compared above too). */
    uint64_t creadr = 0;
    vits_its_mmio_read(R.its[slot], GITS_CREADR, 8, &creadr);
    if ((creadr & ~1ull) % 32 || (creadr & ~1ull) >= m_queue_size(m))
        FAIL("op %u: ITS %u CREADR 0x%llx not a 32-byte slot of the %llu-byte queue", R.op, slot,
             (unsigned long long)creadr, (unsigned long long)m_queue_size(m));
    struct vits_cmd_error e;
    uint64_t count = 0;
    int rc = vits_its_last_error(R.its[slot], &e, &count);
    if (rc != (m->errors ? 1 : 0) || count != m->errors)
        FAIL("op %u: ITS %u reports %llu command errors (rc %d), model %llu", R.op, slot,
             (unsigned long long)count, rc, (unsigned long long)m->errors);
    if (m->errors && (e.code != m->last.code || e.host_errno != m->last.host_errno ||
                      e.offset != m->last.offset || memcmp(e.cmd, m->last.cmd, sizeof(e.cmd))))
        FAIL("op %u: ITS %u last error 0x%06x/%d at 0x%llx (cmd %016llx), model 0x%06x/%d at "
             "0x%llx (cmd %016llx)",
             R.op, slot, e.code, e.host_errno, (unsigned long long)e.offset,
             (unsigned long long)e.cmd[0], m->last.code, m->last.host_errno,
             (unsigned long long)m->last.offset, (unsigned long long)m->last.cmd[0]);
    if (m->errors && e.code && !strcmp(vits_strerror((int)e.code), "unknown error"))
        FAIL("op %u: ITS %u error 0x%06x has no name", R.op, slot, e.code);
    if (m->errors && e.host_errno)
        named(e.host_errno);
    if (vits_its_commands(R.its[slot]) != m->commands)
        FAIL("op %u: ITS %u processed %llu commands, model %llu", R.op, slot,
             (unsigned long long)vits_its_commands(R.its[slot]), (unsigned long long)m->commands);
}

static unsigned model_count(unsigned slot, int what)
{
    const struct m_its *m = &fz_model.its[slot];
    unsigned n = 0;
    if (what == 0)
        for (unsigned i = 0; i < M_MAX_DEV; i++)
            n += m->dev[i].used;
    else if (what == 1)
        for (unsigned i = 0; i < M_MAX_COLL; i++)
            n += m->coll[i].used;
    else
        for (unsigned i = 0; i < M_MAX_LPIS; i++)
            n += fz_model.lpi[i].used && fz_model.lpi[i].owner == slot;
    return n;
}

static void check_lpis(void)
{
    /* The engine's LPI state matches the model's, LPI by LPI. */
    for (unsigned i = 0; i < M_MAX_LPIS; i++) {
        const struct m_lpi *l = &fz_model.lpi[i];
        if (!l->used)
            continue;
        uint32_t v = 0x1234, mv = l->vcpu == M_NO_VCPU ? UINT32_MAX : l->vcpu;
        int rc = vits_lpi_state(R.d, l->intid, &v);
        if (rc != (int)l->pending || v != mv)
            FAIL("op %u: LPI %u: state %d on vCPU %d, model pending %d on vCPU %d", R.op, l->intid,
                 rc, (int)v, (int)l->pending, (int)mv);
    }
    for (unsigned i = 0; i < R.nr_touched; i++) {
        uint32_t v, mv;
        int mrc = m_lpi_state(R.touched[i], &mv);
        int rc = named(vits_lpi_state(R.d, R.touched[i], &v));
        if ((mrc == -ENOENT) != (rc == -ENOENT))
            FAIL("op %u: INTID %u: vits_lpi_state %d, model %d", R.op, R.touched[i], rc, mrc);
    }
    /* Every LPI the injector holds is mapped, enabled, on a vCPU with
     * LPIs on, routed there by the latest mapping, at its priority. */
    for (unsigned i = 0; i < fz_env.nr_raised; i++) {
        const struct env_raised *r = &fz_env.raised[i];
        const struct m_lpi *l = m_lpi_find(r->intid);
        if (!l)
            FAIL("op %u: LPI %u is raised on vCPU %u but not mapped", R.op, r->intid, r->vcpu);
        if (!l->enabled)
            FAIL("op %u: LPI %u is raised on vCPU %u but disabled in its property", R.op, r->intid,
                 r->vcpu);
        if (!fz_model.rd[r->vcpu].enabled)
            FAIL("op %u: LPI %u is raised on vCPU %u, which has LPIs disabled", R.op, r->intid,
                 r->vcpu);
        if (l->vcpu != r->vcpu)
            FAIL("op %u: LPI %u is raised on vCPU %u but routed to vCPU %d", R.op, r->intid,
                 r->vcpu, l->vcpu == M_NO_VCPU ? -1 : (int)l->vcpu);
        if (!l->pending)
            FAIL("op %u: LPI %u is raised on vCPU %u but not pending", R.op, r->intid, r->vcpu);
        if (l->prio != r->priority)
            FAIL("op %u: LPI %u raised with priority 0x%x, its property says 0x%x", R.op, r->intid,
                 r->priority, l->prio);
        if (!l->raised)
            FAIL("op %u: LPI %u is raised on vCPU %u; the model did not expect it", R.op, r->intid,
                 r->vcpu);
    }
    /* And every LPI that should be with the vGIC is. */
    for (unsigned i = 0; i < M_MAX_LPIS; i++) {
        const struct m_lpi *l = &fz_model.lpi[i];
        if (l->used && l->raised && env_raised_find(l->intid) < 0)
            FAIL("op %u: LPI %u is pending, enabled and deliverable on vCPU %u but not raised",
                 R.op, l->intid, l->vcpu);
    }
}

static void check_memory(void)
{
    size_t mem = vits_domain_memory(R.d);
    if (fz_env.ops.alloc && mem != fz_env.live_bytes)
        FAIL("op %u: vits_domain_memory says %zu bytes, the allocator holds %zu", R.op, mem,
             fz_env.live_bytes);
    /* Bounded by what the limits allow: per device at most its event
     * directory (8 KiB) and per event one LPI chunk and one event chunk. */
    size_t bound = R.bare_mem;
    unsigned live = 0, routes = 0;
    for (unsigned s = 0; s < FZ_MAX_ITS; s++) {
        if (!R.its[s])
            continue;
        live++;
        const struct vits_its_config *c = &fz_model.its[s].cfg;
        bound += R.its_cost[s] + 16384 + (size_t)c->max_devices * (8192 + 256) +
                 (size_t)c->max_events * 2048;
        if (model_count(s, 0) > c->max_devices || model_count(s, 1) > c->max_collections ||
            model_count(s, 2) > c->max_events)
            FAIL("op %u: ITS %u holds more than its limits", R.op, s);
    }
    for (unsigned i = 0; i < FZ_MAX_ROUTES; i++)
        routes += R.route[i] != NULL;
    bound += routes * (R.route_size ? R.route_size : 4096);
    if (mem > bound)
        FAIL("op %u: domain holds %zu bytes, more than the limits allow (%zu)", R.op, mem, bound);
    if (!live && mem != R.bare_mem + routes * R.route_size)
        FAIL("op %u: no ITS left but the domain holds %zu bytes (bare %zu, %u routes of %zu)", R.op,
             mem, R.bare_mem, routes, R.route_size);
}

static void check_all(void)
{
    for (unsigned s = 0; s < FZ_MAX_ITS; s++)
        if (R.its[s])
            check_its(s);
    check_lpis();
    check_memory();
}

/*
 * Pending-table write-backs. Before the engine call, store_begin()
 * snapshots the part of each table the write-back covers; after it,
 * store_end() replays the write-back on the snapshots, vCPU by vCPU (so
 * tables that overlap end as they must), and compares: every bit of an
 * LPI targeting that vCPU holds its pending state, every other bit is
 * untouched, and the engine wrote nowhere else. Where a fault touches a
 * table the walk may have stopped anywhere: its LPIs' bits may then hold
 * either value, unless the call reported success (all_written).
 */
#define PART_MAX 16384u /* lpi_id_bits <= 17 */

static struct part {
    bool on, sure;
    uint64_t start, len;
    uint8_t sim[PART_MAX], dc[PART_MAX], real[PART_MAX];
} parts[FZ_MAX_VCPUS];

static void store_begin(uint32_t vcpus)
{
    for (uint32_t v = 0; v < R.dcfg.nr_vcpus; v++) {
        struct part *p = &parts[v];
        p->on = (vcpus >> v & 1) && m_pending_part(v, true, &p->start, &p->len, &p->sure);
        if (!p->on)
            continue;
        if (p->len > PART_MAX)
            FAIL("op %u: pending table part of %llu bytes", R.op, (unsigned long long)p->len);
        env_peek(p->start, p->sim, p->len);
        memset(p->dc, 0, p->len);
    }
    fz_env.log_writes = true;
    fz_env.nr_writes = 0;
    fz_env.writes_overflow = false;
}

static void sim_bit(uint64_t addr, unsigned bit, bool val, bool dontcare)
{
    for (uint32_t v = 0; v < R.dcfg.nr_vcpus; v++) {
        struct part *p = &parts[v];
        if (!p->on || addr < p->start || addr - p->start >= p->len)
            continue;
        uint8_t *b = &p->sim[addr - p->start];
        *b = val ? (uint8_t)(*b | 1u << bit) : (uint8_t)(*b & ~(1u << bit));
        if (dontcare)
            p->dc[addr - p->start] |= (uint8_t)(1u << bit);
    }
}

static void store_end(const char *what, bool all_written)
{
    fz_env.log_writes = false;
    for (uint32_t v = 0; v < R.dcfg.nr_vcpus; v++) {
        const struct part *p = &parts[v];
        if (!p->on)
            continue;
        for (unsigned i = 0; i < M_MAX_LPIS; i++) {
            const struct m_lpi *l = &fz_model.lpi[i];
            if (!l->used || l->vcpu != v || l->intid / 8 - 1024 >= p->len)
                continue;
            sim_bit(p->start + l->intid / 8 - 1024, l->intid % 8, l->pending,
                    !p->sure && !all_written);
        }
    }
    if (fz_env.writes_overflow)
        FAIL("op %u: %s: more than %u guest-memory writes", R.op, what, ENV_MAX_WRITES);
    for (unsigned i = 0; i < fz_env.nr_writes; i++) {
        const struct env_write *w = &fz_env.writes[i];
        bool inside = false;
        for (uint32_t v = 0; v < R.dcfg.nr_vcpus && !inside; v++)
            inside = parts[v].on && w->gpa >= parts[v].start &&
                     w->gpa + w->len <= parts[v].start + parts[v].len;
        if (!inside)
            FAIL("op %u: %s: engine wrote %zu bytes at 0x%llx, outside the pending tables", R.op,
                 what, w->len, (unsigned long long)w->gpa);
    }
    for (uint32_t v = 0; v < R.dcfg.nr_vcpus; v++) {
        struct part *p = &parts[v];
        if (!p->on)
            continue;
        env_peek(p->start, p->real, p->len);
        for (uint64_t i = 0; i < p->len; i++)
            if ((p->real[i] ^ p->sim[i]) & ~p->dc[i])
                FAIL("op %u: %s: vCPU %u pending table byte 0x%llx (INTIDs %llu..) is 0x%02x, "
                     "expected 0x%02x",
                     R.op, what, v, (unsigned long long)(p->start + i),
                     (unsigned long long)(8192 + i * 8), p->real[i], p->sim[i]);
        p->on = false;
    }
}

/* ---- actions: model, engine, compare ---- */

static void act_its_write(unsigned slot, uint64_t off, unsigned size, uint64_t val)
{
    R.called = true;
    int mrc = m_its_write(slot, off, size, val);
    int rc = named(vits_its_mmio_write(R.its[slot], off, size, val));
    if (rc != mrc)
        FAIL("op %u: ITS %u write of 0x%llx to 0x%llx (%u bytes) returned %d, model %d", R.op, slot,
             (unsigned long long)val, (unsigned long long)off, size, rc, mrc);
}

static void act_gicr_write(uint32_t vcpu, uint64_t off, unsigned size, uint64_t val)
{
    R.called = true;
    /* Clearing EnableLPIs writes the vCPU's pending state back. */
    bool store =
        vcpu < R.dcfg.nr_vcpus && off == 0 && size == 4 && !(val & 1) && fz_model.rd[vcpu].enabled;
    store_begin(store ? 1u << vcpu : 0);
    int mrc = m_gicr_write(vcpu, off, size, val);
    int rc = named(vits_gicr_mmio_write(R.d, vcpu, off, size, val));
    if (rc != mrc)
        FAIL("op %u: GICR %u write of 0x%llx to 0x%llx (%u bytes) returned %d, model %d", R.op,
             vcpu, (unsigned long long)val, (unsigned long long)off, size, rc, mrc);
    store_end("GICR_CTLR.EnableLPIs 1 -> 0", false);
    /* Setting EnableLPIs through a faulty table: how far did it get? */
    for (unsigned i = 0; i < fz_model.nr_unsure; i++) {
        uint32_t v;
        m_settle(fz_model.unsure[i], vits_lpi_state(R.d, fz_model.unsure[i], &v) == 1);
    }
    fz_model.nr_unsure = 0;
}

static void act_gicr_read(uint32_t vcpu, uint64_t off, unsigned size)
{
    R.called = true;
    uint64_t mv, v = 0x5a5a;
    int mrc = m_gicr_read(vcpu, off, size, &mv);
    int rc = named(vits_gicr_mmio_read(R.d, vcpu, off, size, &v));
    if (rc != mrc || (!rc && v != mv))
        FAIL("op %u: GICR %u read of 0x%llx (%u bytes): %d 0x%llx, model %d 0x%llx", R.op, vcpu,
             (unsigned long long)off, size, rc, (unsigned long long)v, mrc, (unsigned long long)mv);
}

static void expect_msi(const char *how, int rc, int mrc)
{
    named(rc);
    if (rc != mrc)
        FAIL("op %u: MSI through %s returned %d, model %d", R.op, how, rc, mrc);
}

static void act_its_create(unsigned slot, const struct vits_its_config *cfg, unsigned failat)
{
    R.called = true;
    int mrc = m_its_create_rc(cfg);
    size_t before = vits_domain_memory(R.d);
    struct vits_its *its = (struct vits_its *)&R; /* must be cleared on failure */
    if (failat)
        fz_env.alloc_countdown = (long)failat - 1;
    int rc = named(vits_its_create(R.d, cfg, &its));
    fz_env.alloc_countdown = -1;
    if (!(rc == mrc || (failat && mrc == 0 && rc == -ENOMEM)))
        FAIL("op %u: vits_its_create returned %d, model %d", R.op, rc, mrc);
    if (rc) {
        if (its || vits_domain_memory(R.d) != before)
            FAIL("op %u: failed vits_its_create (%d) left *out %p, memory %zu -> %zu", R.op, rc,
                 (void *)its, before, vits_domain_memory(R.d));
        return;
    }
    if (!its || vits_its_domain(its) != R.d)
        FAIL("op %u: vits_its_create succeeded without an ITS of the domain", R.op);
    R.its[slot] = its;
    R.its_cost[slot] = vits_domain_memory(R.d) - before;
    R.drv_next[slot] = 0;
    m_its_add(slot, cfg);
}

static void act_its_destroy(unsigned slot)
{
    if (!R.its[slot])
        return;
    R.called = true;
    m_its_destroy(slot);
    vits_its_destroy(R.its[slot]);
    R.its[slot] = NULL;
}

static void act_route_destroy(unsigned idx)
{
    if (!R.route[idx])
        return;
    R.called = true;
    size_t before = vits_domain_memory(R.d);
    vits_route_destroy(R.route[idx]);
    R.route[idx] = NULL;
    fz_model.route[idx].live = false;
    if (vits_domain_memory(R.d) + R.route_size != before)
        FAIL("op %u: destroying a route freed %zu bytes, creating it took %zu", R.op,
             before - vits_domain_memory(R.d), R.route_size);
}

/* ---- the operations ---- */

static unsigned dec_size(uint8_t b) { return fz_sizes[b % 8]; }

/* A register value (FZ_VAL_*) shaped for the register at off: ITS
 * registers (gicr false) or GICR ones. */
static uint64_t dec_value(struct in *in, uint64_t off, bool gicr)
{
    uint8_t kind = u8(in);
    switch (kind % 4) {
    case FZ_VAL_RAW:
        return u64(in);
    case FZ_VAL_SMALL:
        return u8(in);
    case FZ_VAL_QOFF: {
        uint32_t q = u16(in);
        return (uint64_t)(q & 0x7fff) * 32 | (q >> 15);
    }
    default:
        break;
    }
    uint8_t f = u8(in);
    uint32_t tok = u16(in);
    uint8_t size = u8(in);
    uint64_t reg = off & ~7ull;
    bool hi = (off & 7) == 4;
    bool big = gicr ? reg == 0x78 : (reg >= 0x100 && (f >> 2 & 3) >= 2);
    uint64_t addr = f & 0x40 ? dec_hostile_addr(tok)
                    : big    ? FZ_RAM_BASE + (uint64_t)(tok % 64) * 0x10000
                             : FZ_RAM_BASE + (uint64_t)(tok % 1024) * 0x1000;
    uint64_t cache = f & 0x80 ? (5ull << 59 | 3ull << 53 | 2ull << 56) : 0;
    uint64_t v;
    if (gicr && reg == 0x70)
        v = addr | (size & 0x1f) | (uint64_t)(f >> 4 & 3) << 10 | (f & 0x80 ? 7ull << 7 : 0);
    else if (gicr)
        v = addr | (f & 2 ? 1ull << 62 : 0) | (uint64_t)(f >> 4 & 3) << 10;
    else if (reg == GITS_CBASER)
        v = (uint64_t)(f & 1) << 63 | cache | addr | (uint64_t)(f >> 4 & 3) << 10 |
            (size & 0x80 ? size : size & 0x0f);
    else if (reg >= 0x100 && reg < 0x140)
        v = (uint64_t)(f & 1) << 63 | (uint64_t)(f >> 1 & 1) << 62 | cache | addr |
            (uint64_t)(f >> 4 & 3) << 10 | (uint64_t)(f >> 2 & 3) << 8 | size;
    else if (reg == GITS_CWRITER)
        v = (uint64_t)size * 32 | (f & 1);
    else
        v = f & 1;
    return hi ? v >> 32 : v;
}

static void op_its_create(struct in *in)
{
    unsigned slot = u8(in) % FZ_MAX_ITS;
    uint8_t c[6];
    for (int i = 0; i < 6; i++)
        c[i] = u8(in);
    unsigned failat = u8(in) % 16;
    if (R.its[slot])
        return;
    static const uint32_t batches[16] = {1, 2, 3, 4, 8, 16, 64, 1, 2, 5, 7, 32, 100, 256, 1, 4};
    struct vits_its_config cfg;
    vits_its_config_init(&cfg);
    cfg.base = FZ_ITS_BASE + (uint64_t)(c[5] & 0x0f) * 0x10000;
    cfg.device_id_bits = (c[0] & 0x1f) + 1u;
    cfg.pta = c[0] >> 5 & 1;
    cfg.error_policy = c[0] & 0x40 ? VITS_ERRORS_STALL : VITS_ERRORS_CONTINUE;
    cfg.event_id_bits = (c[1] & 0x0f) + 1u;
    cfg.collection_id_bits = (c[1] >> 4) + 1u;
    cfg.max_devices = c[2] % (M_MAX_DEV + 1u);
    cfg.iidr_revision = c[2] >> 4;
    cfg.max_events = c[3] % (M_MAX_EV + 1);
    cfg.max_collections = c[4] % (M_MAX_COLL + 1);
    cfg.max_batch = batches[c[4] >> 4];
    if (c[0] & 0x80) {
        /* A bad configuration: creation must fail with -EINVAL. */
        switch (c[5] >> 4 & 7) {
        case 0:
            cfg.base |= 0x1000;
            break;
        case 1:
            cfg.device_id_bits = c[5] & 0x80 ? 0 : 33;
            break;
        case 2:
            cfg.event_id_bits = c[5] & 0x80 ? 0 : 17;
            break;
        case 3:
            cfg.collection_id_bits = c[5] & 0x80 ? 0 : 17;
            break;
        case 4:
            cfg.pta = 2;
            break;
        case 5:
            cfg.iidr_revision = 16;
            break;
        case 6:
            cfg.max_batch = c[5] & 0x80 ? 0 : 32769;
            break;
        default:
            cfg.error_policy = (enum vits_error_policy)2;
            break;
        }
    }
    act_its_create(slot, &cfg, failat);
}

static void op_its_write(struct in *in)
{
    unsigned slot = u8(in) % FZ_MAX_ITS;
    uint8_t r = u8(in), s = u8(in);
    uint64_t off = r % 32 < FZ_ITS_NREGS ? fz_its_regs[r % 32] : (u24(in) & 0x3ffff);
    uint64_t val = dec_value(in, off, false);
    if (!R.its[slot])
        return;
    act_its_write(slot, off, dec_size(s), val);
    R.drv_next[slot] = fz_model.its[slot].cwriter;
}

static void op_its_read(struct in *in)
{
    unsigned slot = u8(in) % FZ_MAX_ITS;
    uint8_t r = u8(in), s = u8(in);
    uint64_t off = r % 32 < FZ_ITS_NREGS ? fz_its_regs[r % 32] : (u24(in) & 0x3ffff);
    if (R.its[slot]) {
        R.called = true;
        check_its_reg(slot, off, dec_size(s));
    }
}

static void put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void op_cmd(struct in *in)
{
    unsigned slot = u8(in) % FZ_MAX_ITS;
    uint8_t kind = u8(in), a[6];
    for (int i = 0; i < 6; i++)
        a[i] = u8(in);
    uint8_t raw[32];
    unsigned k = (kind & 0x1f) % FZ_CMD_KINDS;
    if (k == FZ_CMD_RAW)
        for (int i = 0; i < 32; i++)
            raw[i] = u8(in);
    if (!R.its[slot])
        return;
    uint32_t pta = fz_model.its[slot].cfg.pta;
    uint64_t dw[4] = {0, 0, 0, 0};
    uint64_t devid = dec_devid(a[0]), ev = dec_event(a[1]);
    uint32_t intid = dec_intid(a[2] | (uint32_t)a[3] << 8);
    uint64_t icid = dec_icid(a[4]);
    static const uint8_t num[FZ_CMD_KINDS] = {0x08, 0x09, 0x0a, 0x0b, 0x03, 0x04, 0x0c,
                                              0x0d, 0x01, 0x0e, 0x0f, 0x05, 0,    0};
    dw[0] = num[k] | devid << 32;
    switch (k) {
    case FZ_CMD_MAPD:
        dw[1] = a[5] & 0x1f;
        dw[2] = (FZ_RAM_BASE + FZ_ITT_OFF(slot) + (uint64_t)a[2] * 0x400) | (uint64_t) !(a[5] >> 7)
                                                                                << 63;
        break;
    case FZ_CMD_MAPC:
        dw[0] = num[k];
        dw[2] = icid | dec_rdbase(a[5], pta) << 16 | (uint64_t) !(a[3] & 1) << 63;
        break;
    case FZ_CMD_MAPTI:
    case FZ_CMD_NUMBER:
        dw[1] = ev | (uint64_t)intid << 32;
        dw[2] = icid;
        touch(intid);
        if (k == FZ_CMD_NUMBER)
            dw[0] = (dw[0] & ~0xffull) | a[5];
        break;
    case FZ_CMD_MAPI:
        dw[1] = ev;
        dw[2] = icid;
        touch((uint32_t)ev);
        break;
    case FZ_CMD_MOVI:
        dw[1] = ev;
        dw[2] = icid;
        break;
    case FZ_CMD_INVALL:
        dw[0] = num[k];
        dw[2] = icid;
        break;
    case FZ_CMD_MOVALL:
        dw[0] = num[k];
        dw[2] = dec_rdbase(a[5], pta) << 16;
        dw[3] = dec_rdbase(a[4], pta) << 16;
        break;
    case FZ_CMD_SYNC:
        dw[0] = num[k];
        dw[2] = dec_rdbase(a[5], pta) << 16;
        break;
    case FZ_CMD_RAW:
        break;
    default: /* INT, CLEAR, INV, DISCARD */
        dw[1] = ev;
        break;
    }
    if (kind & FZ_CMD_SCRIBBLE) {
        /* Bits no command uses: the engine must ignore them. */
        dw[0] |= (uint64_t)(a[1] | a[2] << 8 | a[3] << 16) << 8 & 0xffffff00ull;
        dw[3] |= (uint64_t)(a[4] | a[5] << 8) | (uint64_t)a[0] << 56;
    }
    if (k != FZ_CMD_RAW)
        for (int i = 0; i < 4; i++)
            put_le64(raw + 8 * i, dw[i]);
    const struct m_its *m = &fz_model.its[slot];
    uint64_t qsize = m_queue_size(m);
    R.drv_next[slot] %= qsize;
    env_poke((m->cbaser & 0xffffffffff000ull) + R.drv_next[slot], raw, 32);
    if (!(kind & FZ_CMD_NOADVANCE))
        R.drv_next[slot] = (R.drv_next[slot] + 32) % qsize;
    if (kind & FZ_CMD_KICK)
        act_its_write(slot, GITS_CWRITER, 8, R.drv_next[slot]);
}

static void op_kick(struct in *in)
{
    unsigned slot = u8(in) % FZ_MAX_ITS;
    uint8_t f = u8(in);
    if (!R.its[slot])
        return;
    const struct m_its *m = &fz_model.its[slot];
    uint64_t qsize = m_queue_size(m);
    uint64_t off = R.drv_next[slot] % qsize;
    switch (f >> 2 & 3) {
    case 1:
        off = (off + 32) % qsize;
        R.drv_next[slot] = off;
        break;
    case 2:
        off = qsize;
        break;
    case 3:
        off = (m->creadr + qsize - 32) % qsize;
        break;
    default:
        break;
    }
    uint64_t val = off | (f & 1);
    if (f & 2) {
        act_its_write(slot, GITS_CWRITER, 4, val & 0xffffffff);
    } else {
        act_its_write(slot, GITS_CWRITER, 8, val);
    }
}

static void op_gicr(struct in *in, bool write)
{
    uint32_t vcpu = u8(in) & 0x0f;
    uint8_t r = u8(in), s = u8(in);
    uint64_t off = r % 16 < FZ_GICR_NREGS ? fz_gicr_regs[r % 16] : u8(in);
    unsigned size = dec_size(s);
    if (write)
        act_gicr_write(vcpu, off, size, dec_value(in, off, true));
    else
        act_gicr_read(vcpu, off, size);
}

static void op_mem_write(struct in *in)
{
    uint64_t gpa = FZ_RAM_BASE + u24(in) % FZ_RAM_SIZE;
    unsigned n = u8(in) % 33;
    uint8_t buf[32];
    for (unsigned i = 0; i < n; i++)
        buf[i] = u8(in);
    env_poke(gpa, buf, n);
}

static void op_mem_fill(struct in *in)
{
    uint64_t gpa = FZ_RAM_BASE + (uint64_t)(u16(in) % (FZ_RAM_SIZE / 4096)) * 4096;
    unsigned n = (u8(in) + 1u) * 64;
    uint8_t b = u8(in), buf[64];
    memset(buf, b, sizeof(buf));
    for (unsigned i = 0; i < n; i += 64)
        env_poke(gpa + i, buf, 64);
}

static void op_prop(struct in *in)
{
    uint32_t vcpu = u8(in) % R.dcfg.nr_vcpus;
    uint32_t intid = dec_intid(u16(in));
    uint8_t b = u8(in);
    touch(intid);
    uint64_t pa = fz_model.rd[vcpu].propbaser & 0xffffffffff000ull;
    env_poke(pa + (uint64_t)intid - 8192, &b, 1);
}

static void op_pend(struct in *in)
{
    uint32_t vcpu = u8(in) % R.dcfg.nr_vcpus;
    uint32_t intid = dec_intid(u16(in));
    uint8_t set = u8(in) & 1, b;
    touch(intid);
    uint64_t gpa = (fz_model.rd[vcpu].pendbaser & 0xfffffffff0000ull) + intid / 8;
    env_peek(gpa, &b, 1);
    b = set ? (uint8_t)(b | 1u << (intid % 8)) : (uint8_t)(b & ~(1u << (intid % 8)));
    env_poke(gpa, &b, 1);
}

static void op_msi(struct in *in)
{
    R.called = true;
    unsigned slot = u8(in) % FZ_MAX_ITS;
    uint8_t path = u8(in) % 8, db = u8(in), eb = u8(in);
    uint32_t devid = dec_devid(db), ev = dec_event(eb);
    struct vits_its *its = R.its[slot];
    if (path == FZ_MSI_NULL) {
        expect_msi("vits_its_signal_msi(NULL)", vits_its_signal_msi(NULL, devid, ev), -EINVAL);
        return;
    }
    uint64_t base = its ? fz_model.its[slot].cfg.base : FZ_ITS_BASE;
    struct vits_msi msi = {base + VITS_GITS_TRANSLATER, ev, devid, VITS_MSI_VALID_DEVID};
    if (!its || path == FZ_MSI_DOMAIN || path == FZ_MSI_DOMAIN_BAD) {
        if (path == FZ_MSI_DOMAIN_BAD) {
            switch (eb & 3) {
            case 0:
                msi.flags = 0;
                break;
            case 1:
                msi.flags |= 2;
                break;
            case 2:
                msi.address += 4;
                break;
            default:
                msi.address = 0;
                break;
            }
        }
        int mrc = m_domain_signal(&msi);
        expect_msi("vits_domain_signal_msi", vits_domain_signal_msi(R.d, &msi), mrc);
        return;
    }
    switch (path) {
    case FZ_MSI_TRANSLATER:
    case FZ_MSI_TRANSLATER16: {
        unsigned size = path == FZ_MSI_TRANSLATER ? 4 : 2;
        uint32_t e = size == 2 ? (ev & 0xffff) : ev;
        m_signal(slot, devid, e);
        expect_msi("GITS_TRANSLATER",
                   vits_its_mmio_write_devid(its, VITS_GITS_TRANSLATER, size, ev, devid), 0);
        break;
    }
    case FZ_MSI_DEVID_OTHER: {
        /* Not a TRANSLATER write of 2 or 4 bytes: an ordinary write. */
        uint64_t off = eb & 1 ? VITS_GITS_TRANSLATER : GITS_CWRITER;
        uint64_t val = eb & 1 ? ev : fz_model.its[slot].cwriter | (eb >> 1 & 1);
        int mrc = m_its_write(slot, off, 8, val);
        expect_msi("vits_its_mmio_write_devid", vits_its_mmio_write_devid(its, off, 8, val, devid),
                   mrc);
        break;
    }
    default: {
        int mrc = m_signal(slot, devid, ev);
        expect_msi("vits_its_signal_msi", vits_its_signal_msi(its, devid, ev), mrc);
        break;
    }
    }
}

static void op_route_create(struct in *in)
{
    unsigned slot = u8(in) % FZ_MAX_ITS, idx = u8(in) % FZ_MAX_ROUTES;
    uint32_t devid = dec_devid(u8(in)), ev = dec_event(u8(in));
    unsigned failat = u8(in) % 4;
    act_route_destroy(idx);
    if (!R.its[slot])
        return;
    R.called = true;
    size_t before = vits_domain_memory(R.d);
    struct vits_route *r = (struct vits_route *)&R;
    if (failat)
        fz_env.alloc_countdown = (long)failat - 1;
    int rc = named(vits_route_create(R.its[slot], devid, ev, &r));
    fz_env.alloc_countdown = -1;
    bool may_fail = failat || fz_env.alloc_fail;
    if (rc && !(rc == -ENOMEM && may_fail))
        FAIL("op %u: vits_route_create returned %d", R.op, rc);
    if (rc == 0 && fz_env.alloc_fail)
        FAIL("op %u: vits_route_create succeeded with every allocation failing", R.op);
    size_t delta = vits_domain_memory(R.d) - before;
    if (rc) {
        if (r || delta)
            FAIL("op %u: failed vits_route_create left *out %p and %zu bytes", R.op, (void *)r,
                 delta);
        return;
    }
    if (!r || !delta || (R.route_size && delta != R.route_size))
        FAIL("op %u: vits_route_create took %zu bytes (earlier routes %zu)", R.op, delta,
             R.route_size);
    R.route_size = delta;
    R.route[idx] = r;
    fz_model.route[idx] = (struct m_route){true, (int)slot, fz_model.its[slot].gen, devid, ev};
}

static void op_route_fire(struct in *in)
{
    R.called = true;
    unsigned idx = u8(in) % FZ_MAX_ROUTES;
    if (!R.route[idx]) {
        expect_msi("vits_route_fire(NULL)", vits_route_fire(NULL), -EINVAL);
        return;
    }
    int mrc = m_route_fire(idx);
    expect_msi("vits_route_fire", vits_route_fire(R.route[idx]), mrc);
}

static void op_ack(struct in *in)
{
    R.called = true;
    uint8_t sel = u8(in), vb = u8(in);
    uint32_t intid = dec_intid(u16(in)), vcpu = vb & 0x0f;
    if (!(sel & 0x80) && fz_env.nr_raised) {
        const struct env_raised *r = &fz_env.raised[sel % fz_env.nr_raised];
        intid = r->intid;
        vcpu = r->vcpu;
    }
    touch(intid);
    int mrc = m_ack(vcpu, intid);
    int rc = named(vits_lpi_ack(R.d, vcpu, intid));
    if (rc != mrc)
        FAIL("op %u: vits_lpi_ack(vCPU %u, LPI %u) returned %d, model %d", R.op, vcpu, intid, rc,
             mrc);
    if (rc == 0) {
        /* The vGIC hands it to the guest: out of the list registers. */
        int i = env_raised_find(intid);
        if (i < 0)
            FAIL("op %u: acknowledged LPI %u was not raised", R.op, intid);
        fz_env.raised[i] = fz_env.raised[--fz_env.nr_raised];
    }
}

static void op_sync_pending(void)
{
    R.called = true;
    store_begin(~0u);
    int mrc = m_sync_pending();
    int rc = named(vits_domain_sync_pending(R.d));
    if (!(rc == mrc || (mrc == M_UNSURE && (rc == 0 || rc == -EFAULT || rc == -EIO))))
        FAIL("op %u: vits_domain_sync_pending returned %d, model %d", R.op, rc, mrc);
    store_end("vits_domain_sync_pending", rc == 0);
}

static void op_hole(struct in *in)
{
    unsigned slot = u8(in) % ENV_MAX_HOLES;
    uint32_t s = u24(in);
    uint8_t len = u8(in), flags = u8(in) & 7;
    uint64_t start = s & 0x800000 ? dec_hostile_addr(s)
                                  : FZ_RAM_BASE + ((uint64_t)(s & 0x7fffff) * 8) % FZ_RAM_SIZE;
    uint64_t n = len & 0x80 ? ((len & 0x7fu) + 1u) * 4096ull : (len + 1u) * 8ull;
    fz_env.holes[slot] = (struct env_hole){start, start + n, flags};
}

#ifdef VITS_IOREQ_READ
static uint32_t notified;

static void notify(void *opaque, uint32_t vcpu)
{
    if (opaque != &R || vcpu >= 32)
        fz_fail("notify(%p, %u): not what vits_ioreq_serve_slots was given", opaque, vcpu);
    notified |= 1u << vcpu;
}

/* One MMIO request through vits_ioreq_serve or a request slot. */
static void op_ioreq(struct in *in)
{
    uint8_t where = u8(in), reg = u8(in), sz = u8(in), how = u8(in);
    struct vits_ioreq r = {0};
    r.size = dec_size(sz);
    r.dir = how & 1 ? VITS_IOREQ_WRITE : VITS_IOREQ_READ;
    r.vcpu = how >> 4;
    r.flags = (how & 2 ? VITS_IOREQ_F_DEVID : 0) | ((how & 0x0c) == 0x08 ? 0x10 : 0);
    unsigned slot = (where >> 2) % FZ_MAX_ITS;
    uint64_t base = R.its[slot] ? fz_model.its[slot].cfg.base : FZ_ITS_BASE;
    uint64_t off = 0;
    switch (where & 3) {
    case 0:
        off = fz_its_regs[reg % FZ_ITS_NREGS];
        r.addr = base + off;
        break;
    case 1:
        off = fz_gicr_regs[reg % FZ_GICR_NREGS];
        r.addr = R.dcfg.redist_base + (uint64_t)(where >> 2 & 15) * R.dcfg.redist_stride + off;
        break;
    case 2:
        r.addr = base + VITS_GITS_TRANSLATER;
        r.devid = dec_devid(reg);
        break;
    default: {
        static const uint64_t h[8] = {0,
                                      FZ_REDIST_BASE - 4,
                                      FZ_REDIST_BASE + 0x10000,
                                      FZ_REDIST_BASE + 0x100000,
                                      FZ_ITS_BASE + 0x20000,
                                      FZ_ITS_BASE - 8,
                                      ~0ull - 3,
                                      FZ_ITS_BASE + 0x80000};
        r.addr = h[reg & 7];
        break;
    }
    }
    if (r.dir == VITS_IOREQ_WRITE)
        r.data = (where & 3) == 2 ? dec_event(u8(in)) : dec_value(in, off, (where & 3) == 1);
    else
        r.data = 0x5a5a5a5a5a5a5a5aull;
    R.called = true;
    bool via_slot = how & 4, broken = (how & 0x0c) == 0x0c;
    uint32_t i = r.vcpu < R.dcfg.nr_vcpus ? r.vcpu : 0;
    uint64_t mdata;
    bool exact = true;
    int ctlr = -1, mrc;
    if (via_slot && broken)
        mrc = -EPROTO, mdata = 0; /* a slot in no known state */
    else if (via_slot && r.vcpu != i)
        mrc = -EINVAL, mdata = r.dir == VITS_IOREQ_READ ? 0 : r.data; /* not its slot */
    else
        mrc = m_ioreq(&r, &mdata, &exact, &ctlr);
    store_begin(ctlr >= 0 ? 1u << ctlr : 0);
    int rc;
    uint64_t data;
    if (via_slot) {
        static struct vits_ioreq_slot slots[FZ_MAX_VCPUS];
        memset(slots, 0, sizeof(slots));
        if (broken)
            slots[i].state = 7;
        else if (vits_ioreq_submit(&slots[i], &r) != 0)
            FAIL("op %u: vits_ioreq_submit to a free slot failed", R.op);
        notified = 0;
        if (vits_ioreq_serve_slots(R.d, slots, R.dcfg.nr_vcpus, notify, &R) != 1 ||
            notified != (1u << i))
            FAIL("op %u: vits_ioreq_serve_slots did not complete (and notify) slot %u", R.op, i);
        rc = named(slots[i].req.result);
        data = slots[i].req.data;
        struct vits_ioreq back;
        int crc = vits_ioreq_collect(&slots[i], &back);
        if (crc != 1 || back.result != rc || slots[i].state != VITS_IOREQ_FREE ||
            vits_ioreq_collect(&slots[i], NULL) != -ENOENT)
            FAIL("op %u: vits_ioreq_collect returned %d", R.op, crc);
    } else {
        rc = named(vits_ioreq_serve(R.d, &r));
        data = r.data;
        if (r.result != rc)
            FAIL("op %u: vits_ioreq_serve returned %d but stored %d", R.op, rc, r.result);
    }
    if (rc != mrc || (exact && data != mdata))
        FAIL("op %u: MMIO request %s at 0x%llx (%u bytes, vCPU %u, flags %u): %d data 0x%llx, "
             "model %d 0x%llx",
             R.op, r.dir ? "write" : "read", (unsigned long long)r.addr, r.size, r.vcpu, r.flags,
             rc, (unsigned long long)data, mrc, (unsigned long long)mdata);
    store_end("MMIO request", false);
    for (unsigned k = 0; k < fz_model.nr_unsure; k++) {
        uint32_t v;
        m_settle(fz_model.unsure[k], vits_lpi_state(R.d, fz_model.unsure[k], &v) == 1);
    }
    fz_model.nr_unsure = 0;
}
#else
static void op_ioreq(struct in *in)
{
    for (int i = 0; i < 4; i++)
        (void)u8(in);
}
#endif

/*
 * Save/restore. A snapshot restored into the domain it came from changes
 * nothing but the injector's view (raised LPIs retracted, deliverable
 * ones raised again); the resets leave what vits.h says. Extension
 * points: restoring KVM tables the script wrote itself (the model would
 * need to decode the table ABI), and restoring into a second domain.
 */
/* vits_domain_reset and the model's, with the driver's queues from 0:
 * a known state to go on from. */
static void reset_domain_and_model(void)
{
    if (vits_domain_reset(R.d))
        FAIL("op %u: vits_domain_reset failed", R.op);
    m_domain_reset();
    memset(R.drv_next, 0, sizeof(R.drv_next));
}

#ifdef VITS_SNAPSHOT_VERSION

/* The domain's snapshot size, as the size query reports it. */
static size_t snapshot_size(void)
{
    size_t len = 0;
    int rc = named(vits_domain_save_snapshot(R.d, NULL, 0, &len));
    if (rc != -ENOSPC || !len)
        FAIL("op %u: snapshot size query returned %d, %zu bytes", R.op, rc, len);
    return len;
}

/* Save the domain's snapshot into buf, of its snapshot_size() len: 0, or
 * -ENOMEM while allocations fail. */
static int snapshot_save(uint8_t *buf, size_t len)
{
    size_t got = 0;
    int rc = named(vits_domain_save_snapshot(R.d, buf, len, &got));
    if (!(rc == 0 || (rc == -ENOMEM && fz_env.alloc_fail)) || (!rc && got != len))
        FAIL("op %u: vits_domain_save_snapshot returned %d (%zu of %zu bytes)", R.op, rc, got, len);
    return rc;
}

static void snapshot_round_trip(void)
{
    size_t len = snapshot_size();
    uint8_t *buf = malloc(len);
    if (!buf)
        FAIL("host out of memory");
    int rc = snapshot_save(buf, len);
    if (!rc) {
        rc = named(vits_domain_restore_snapshot(R.d, buf, len));
        if (!(rc == 0 || (rc == -ENOMEM && fz_env.alloc_fail)))
            FAIL("op %u: restoring the domain's own snapshot returned %d", R.op, rc);
        if (!rc)
            m_reraise_all();
    }
    free(buf);
}

static void snapshot_damaged(uint8_t x)
{
    size_t len = 0, got = 0;
    named(vits_domain_save_snapshot(R.d, NULL, 0, &len));
    uint8_t *buf = malloc(len);
    if (!buf)
        FAIL("host out of memory");
    if (len < 2 || named(vits_domain_save_snapshot(R.d, buf, len - 1, &got)) != -ENOSPC ||
        got != len)
        FAIL("op %u: a snapshot into a buffer one byte short did not fail with its size", R.op);
    if (!named(vits_domain_save_snapshot(R.d, buf, len, &got))) {
        buf[x % len] ^= 0x40;
        int rc = named(vits_domain_restore_snapshot(R.d, buf, got));
        if (rc != -EBADMSG && rc != -EINVAL && rc != -EOPNOTSUPP)
            FAIL("op %u: restore of a damaged snapshot returned %d", R.op, rc);
        buf[x % len] ^= 0x40;
        rc = named(vits_domain_restore_snapshot(R.d, buf, got / 2));
        if (rc != -EBADMSG && rc != -EINVAL)
            FAIL("op %u: restore of a truncated snapshot returned %d", R.op, rc);
    }
    free(buf);
}
#endif

#ifdef VITS_ITS_ABI_REV0
/* Whether rc is one of the errors with which vits_its_restore_tables
 * refuses tables (other than the ABI revision's -EOPNOTSUPP). */
static bool restore_refused(int rc)
{
    return rc == -ENOMEM || rc == -EFAULT || rc == -EIO || rc == -EINVAL || rc == -ENOSPC ||
           rc == -ELOOP;
}

/* What vits_its_reg_get says at off: 0, -EINVAL inside a register,
 * -ENXIO where there is none. */
static int ureg_rc(uint64_t off)
{
    static const struct {
        uint32_t start, width, count;
    } regs[] = {{0x0, 4, 2}, {0x8, 8, 1}, {0x80, 8, 3}, {0x100, 8, 8}, {0xffd0, 4, 12}};
    for (unsigned i = 0; i < sizeof(regs) / sizeof(regs[0]); i++)
        if (off >= regs[i].start && off < regs[i].start + regs[i].width * regs[i].count)
            return (off - regs[i].start) % regs[i].width ? -EINVAL : 0;
    return -ENXIO;
}

/* vits_its_reg_get at a register's start: its whole value. */
static uint64_t ureg_get(unsigned slot, uint64_t off)
{
    uint64_t v = 0, mv = 0;
    bool exact;
    int rc = named(vits_its_reg_get(R.its[slot], off, &v));
    int mrc = ureg_rc(off);
    if (!mrc)
        m_its_read(slot, off, off == 0 || off == 4 || off >= 0xffd0 ? 4 : 8, &mv, &exact);
    else
        exact = true;
    if (rc != mrc || (!rc && exact && v != mv))
        FAIL("op %u: vits_its_reg_get(ITS %u, 0x%llx): %d 0x%llx, model %d 0x%llx", R.op, slot,
             (unsigned long long)off, rc, (unsigned long long)v, mrc, (unsigned long long)mv);
    return v;
}

/* vits_its_reg_set as vits.h says, on the model; returns the result. */
static int m_ureg_set(unsigned slot, uint64_t off, uint64_t val)
{
    struct m_its *m = &fz_model.its[slot];
    int rc = ureg_rc(off);
    if (rc)
        return rc;
    uint64_t qsize = m_queue_size(m);
    switch (off) {
    case 0x4:
        if ((val >> 12 & 0xf) != VITS_ITS_ABI_REV0)
            return -EINVAL;
        m->cfg.iidr_revision = VITS_ITS_ABI_REV0; /* it selects the ABI */
        return 0;
    case 0x80:
        if (m->enabled)
            return -EBUSY;
        return m_its_write(slot, off, 8, val);
    case 0x88:
        if ((val & 0xfffe0) >= qsize)
            return -EINVAL;
        if (!m->enabled) {
            m->cwriter = val & 0xfffe0;
            return 0;
        }
        return m_its_write(slot, off, 8, val);
    case 0x90:
        if (m->enabled)
            return -EBUSY;
        if ((val & 0xfffe0) >= qsize || ((val & 1) && m->cfg.error_policy != VITS_ERRORS_STALL))
            return -EINVAL;
        m->creadr = val & 0xfffe0;
        m->stalled = val & 1;
        return 0;
    case 0x0:
        return m_its_write(slot, off, 4, val & 0xffffffff);
    default:
        if (off >= 0x100 && off < 0x140) {
            if (m->enabled)
                return -EBUSY;
            return m_its_write(slot, off, 8, val);
        }
        return 0; /* TYPER, ID registers: read-only */
    }
}

static void ureg_set(unsigned slot, uint64_t off, uint64_t val)
{
    int mrc = m_ureg_set(slot, off, val);
    int rc = named(vits_its_reg_set(R.its[slot], off, val));
    if (rc != mrc)
        FAIL("op %u: vits_its_reg_set(ITS %u, 0x%llx, 0x%llx) returned %d, model %d", R.op, slot,
             (unsigned long long)off, (unsigned long long)val, rc, mrc);
}

/*
 * KVM's way, into the same domain: save the redistributors' registers,
 * every ITS's tables (and the pending tables) and registers; reset the
 * domain; restore in KVM's order. Whatever restores comes back as it
 * was, but for what the ABI does not carry: an LPI's target is its
 * collection's again (MOVALL is forgotten), its property is read afresh
 * from the table, and its pending bit comes from the table (settled from
 * the engine, then checked for consistency as usual).
 */
static void kvm_round_trip(void)
{
    static struct model before;
    static const uint64_t regs[] = {0x4,   0x80,  0x90,  0x88,  0x100, 0x108,
                                    0x110, 0x118, 0x120, 0x128, 0x130, 0x138};
    struct vits_redist_regs rd[FZ_MAX_VCPUS];
    uint64_t saved[FZ_MAX_ITS][sizeof(regs) / sizeof(regs[0])], ctlr[FZ_MAX_ITS];
    for (uint32_t v = 0; v < R.dcfg.nr_vcpus; v++) {
        const struct m_rd *m = &fz_model.rd[v];
        if (vits_redist_get(R.d, v, &rd[v]) || rd[v].propbaser != m->propbaser ||
            rd[v].pendbaser != m->pendbaser || (rd[v].ctlr & 1) != m->enabled)
            FAIL("op %u: vits_redist_get(%u) does not match GICR_*", R.op, v);
    }
    for (unsigned s = 0; s < FZ_MAX_ITS; s++) {
        if (!R.its[s])
            continue;
        fz_env.any_writes = true; /* tables, ITTs and pending tables */
        int rc = named(vits_its_save_tables(R.its[s]));
        fz_env.any_writes = false;
        bool rev0 = fz_model.its[s].cfg.iidr_revision == VITS_ITS_ABI_REV0;
        if (rc == 0 && !rev0)
            FAIL("op %u: ITS %u saved its tables under IIDR revision %u", R.op, s,
                 fz_model.its[s].cfg.iidr_revision);
        if (!rev0 && rc != -EOPNOTSUPP)
            FAIL("op %u: ITS %u save under revision %u returned %d", R.op, s,
                 fz_model.its[s].cfg.iidr_revision, rc);
        if (rc)
            return; /* tables that do not fit, faults: nothing to restore */
        ctlr[s] = ureg_get(s, 0x0);
        for (unsigned i = 0; i < sizeof(regs) / sizeof(regs[0]); i++)
            saved[s][i] = ureg_get(s, regs[i]);
    }
    /* Exactly checkable when nothing else wrote over the saved tables:
     * one ITS (tables of two may share memory), no pending table on
     * them (the save writes those after the tables), and at least one
     * device. A save of an ITS without devices writes no device table
     * entry (it clears only what earlier saves wrote), and a restore
     * looks for the first valid one from ID 0: a valid entry the script
     * wrote into the table itself comes back, so that case is not
     * checked exactly. */
    unsigned live = 0, last = 0, devices = 0;
    for (unsigned s = 0; s < FZ_MAX_ITS; s++)
        if (R.its[s])
            live++, last = s;
    for (unsigned i = 0; live == 1 && i < M_MAX_DEV; i++)
        devices += fz_model.its[last].dev[i].used;
    bool exact = live == 1 && devices > 0;
    for (uint32_t v = 0; v < R.dcfg.nr_vcpus && exact; v++) {
        uint64_t start, len;
        bool sure;
        if (m_pending_part(v, true, &start, &len, &sure))
            exact = !m_its_tables_touch(last, start, len);
    }
    before = fz_model;
    if (vits_domain_reset(R.d))
        FAIL("op %u: vits_domain_reset failed", R.op);
    m_domain_reset();
    for (uint32_t v = 0; v < R.dcfg.nr_vcpus; v++) {
        store_begin(0);
        m_gicr_write(v, 0x70, 8, rd[v].propbaser);
        m_gicr_write(v, 0x78, 8, rd[v].pendbaser);
        if (rd[v].ctlr & 1)
            m_gicr_write(v, 0x0, 4, 1);
        if (named(vits_redist_set(R.d, v, &rd[v])))
            FAIL("op %u: vits_redist_set(%u) of its own registers failed", R.op, v);
        store_end("vits_redist_set", false);
    }
    for (unsigned s = 0; s < FZ_MAX_ITS; s++) {
        if (!R.its[s])
            continue;
        for (unsigned i = 0; i < sizeof(regs) / sizeof(regs[0]); i++)
            ureg_set(s, regs[i], saved[s][i]);
        fz_env.any_writes = true;
        int rc = named(vits_its_restore_tables(R.its[s]));
        fz_env.any_writes = false;
        if (rc > 0 || (rc && !restore_refused(rc)))
            FAIL("op %u: ITS %u: restoring the tables it saved returned %d", R.op, s, rc);
        if (rc)
            continue; /* the ITS stays empty */
        /* Back as saved: devices, collections, events. */
        struct m_its *m = &fz_model.its[s];
        memcpy(m->dev, before.its[s].dev, sizeof(m->dev));
        memcpy(m->coll, before.its[s].coll, sizeof(m->coll));
        for (unsigned i = 0; i < M_MAX_LPIS; i++) {
            const struct m_lpi *o = &before.lpi[i];
            if (!o->used || o->owner != s)
                continue;
            uint16_t vcpu = M_NO_VCPU;
            for (unsigned c = 0; c < M_MAX_COLL; c++)
                if (m->coll[c].used && m->coll[c].icid == o->icid)
                    vcpu = m->coll[c].vcpu;
            m_restore_lpi(o, vcpu);
        }
    }
    fz_model.nr_unsure = 0;
    for (unsigned i = 0; i < M_MAX_LPIS; i++) {
        uint32_t v;
        if (fz_model.lpi[i].used)
            m_settle(fz_model.lpi[i].intid, vits_lpi_state(R.d, fz_model.lpi[i].intid, &v) == 1 &&
                                                fz_model.lpi[i].vcpu != M_NO_VCPU);
    }
    for (unsigned s = 0; s < FZ_MAX_ITS; s++)
        if (R.its[s])
            ureg_set(s, 0x0, ctlr[s]);
    if (!exact) {
        /* What came back is not knowable here: start again from a reset. */
        reset_domain_and_model();
    }
}
#endif

/*
 * Restore ITS slot from whatever its tables in guest memory hold (the
 * script wrote them: a hostile guest's tables on a migration's
 * destination). The ITS is disabled first, through the userspace
 * registers. A refused restore must leave the domain exactly as it was
 * (the same snapshot bytes); an accepted one brings in a state the model
 * cannot predict, so both start again from a domain reset.
 */
static void kvm_restore_hostile(unsigned slot)
{
    if (!R.its[slot])
        return;
    ureg_set(slot, 0x0, 0);
    size_t len = snapshot_size();
    uint8_t *before = malloc(len), *after = malloc(len);
    if (!before || !after)
        FAIL("host out of memory");
    int rc = snapshot_save(before, len);
    if (rc) {
        free(before), free(after);
        return;
    }
    fz_env.any_writes = true;
    rc = named(vits_its_restore_tables(R.its[slot]));
    fz_env.any_writes = false;
    bool rev0 = fz_model.its[slot].cfg.iidr_revision == VITS_ITS_ABI_REV0;
    if (rc > 0 || (!rev0 && rc != -EOPNOTSUPP) || (rc && !restore_refused(rc) && rc != -EOPNOTSUPP))
        FAIL("op %u: ITS %u: restoring hostile tables returned %d", R.op, slot, rc);
    if (rc) {
        /* The same size query first: a refused restore changes nothing. */
        if (snapshot_size() != len || (!snapshot_save(after, len) && memcmp(before, after, len)))
            FAIL("op %u: ITS %u: a refused restore (%d) changed the domain", R.op, slot, rc);
    } else {
        reset_domain_and_model();
    }
    free(before), free(after);
}

static void op_save_restore(struct in *in)
{
    uint8_t mode = u8(in), x = u8(in), y = u8(in);
    unsigned slot = (mode >> 3) % FZ_MAX_ITS;
    (void)slot, (void)x, (void)y;
#ifdef VITS_SNAPSHOT_VERSION
    R.called = true;
    switch (mode % 8) {
    case 0:
        snapshot_round_trip();
        return;
    case 1:
        if (!R.its[slot])
            return;
        if (vits_its_reset(R.its[slot]))
            FAIL("op %u: vits_its_reset failed", R.op);
        m_its_reset(slot);
        R.drv_next[slot] = 0;
        return;
    case 2:
        reset_domain_and_model();
        return;
    case 3:
        snapshot_damaged(x);
        return;
    default:
        break;
    }
#endif
#ifdef VITS_ITS_ABI_REV0
    R.called = true;
    if (mode % 8 == 4) {
        if (x & 0x80)
            kvm_restore_hostile(slot);
        else
            kvm_round_trip();
        return;
    }
    if (mode % 8 >= 5 && R.its[slot]) {
        uint64_t off = x % 32 < FZ_ITS_NREGS ? fz_its_regs[x % 32] : (uint64_t)(x & 0x3f) * 4;
        uint64_t cur = ureg_rc(off) ? 0 : ureg_get(slot, off);
        const struct m_its *m = &fz_model.its[slot];
        uint64_t vals[8] = {0,
                            1,
                            (m->cwriter + 32) % m_queue_size(m),
                            m_queue_size(m),
                            m->creadr | 1,
                            0x20,
                            ~0ull,
                            cur ^ 1ull << 63};
        ureg_set(slot, off, y % 8 == 5 ? cur : vals[y % 8]);
        R.drv_next[slot] = fz_model.its[slot].cwriter;
    }
#endif
}

/* Create the domain (after a failed attempt when the header asks). */
static void domain_create(void)
{
    struct vits_domain *d = (struct vits_domain *)&R;
    int rc = vits_domain_create(&R.dcfg, &fz_env.ops, &R, &d);
    if (rc || !d || vits_domain_opaque(d) != &R)
        FAIL("vits_domain_create returned %d", rc);
    R.d = d;
    R.bare_mem = vits_domain_memory(d);
    if (fz_env.ops.alloc && R.bare_mem != fz_env.live_bytes)
        FAIL("bare domain: vits_domain_memory %zu, allocator %zu", R.bare_mem, fz_env.live_bytes);
    m_reset(&R.dcfg);
}

static void expect_freed(const char *what)
{
    if (fz_env.ops.alloc && (fz_env.live_bytes || fz_env.live_blocks))
        FAIL("op %u: after %s the allocator still holds %zu bytes in %zu blocks", R.op, what,
             fz_env.live_bytes, fz_env.live_blocks);
}

static void op_domain_cycle(void)
{
    R.called = true;
    bool busy = false;
    for (unsigned i = 0; i < FZ_MAX_ITS; i++)
        busy |= R.its[i] != NULL;
    for (unsigned i = 0; i < FZ_MAX_ROUTES; i++)
        busy |= R.route[i] != NULL;
    if (busy) {
        size_t before = vits_domain_memory(R.d);
        int rc = vits_domain_destroy(R.d);
        if (rc != -EBUSY || vits_domain_memory(R.d) != before)
            FAIL("op %u: vits_domain_destroy of a domain in use returned %d", R.op, rc);
        return;
    }
    if (fz_env.nr_raised)
        FAIL("op %u: no ITS left but %u LPIs still raised", R.op, fz_env.nr_raised);
    int rc = vits_domain_destroy(R.d);
    if (rc)
        FAIL("op %u: vits_domain_destroy returned %d", R.op, rc);
    R.d = NULL;
    expect_freed("vits_domain_destroy");
    bool alloc_fail = fz_env.alloc_fail;
    fz_env.alloc_fail = false;
    domain_create();
    fz_env.alloc_fail = alloc_fail;
}

/* The RDbase field that names vCPU c for the ITS in slot. */
static uint64_t cfg_rdbase(unsigned slot, uint32_t c)
{
    if (!fz_model.its[slot].cfg.pta)
        return c;
    return (R.dcfg.redist_base + (uint64_t)c * R.dcfg.redist_stride) >> 16;
}

/* A Linux-like boot of one ITS, every step through the checked paths. */
static void op_boot(struct in *in)
{
    unsigned slot = u8(in) % FZ_MAX_ITS;
    uint8_t v = u8(in), g = u8(in);
    if (!R.its[slot]) {
        static const uint8_t devbits[4] = {8, 16, 20, 32}, evbits[4] = {8, 12, 16, 4};
        static const uint8_t cidbits[4] = {4, 8, 16, 2};
        struct vits_its_config cfg;
        vits_its_config_init(&cfg);
        cfg.base = FZ_ITS_BASE + (uint64_t)slot * 0x20000 + 0x80000;
        cfg.device_id_bits = devbits[g & 3];
        cfg.event_id_bits = evbits[g >> 2 & 3];
        cfg.collection_id_bits = cidbits[g >> 4 & 3];
        cfg.pta = v & 1;
        cfg.error_policy = v & 2 ? VITS_ERRORS_STALL : VITS_ERRORS_CONTINUE;
        cfg.max_devices = M_MAX_DEV;
        cfg.max_events = M_MAX_EV;
        cfg.max_collections = M_MAX_COLL;
        cfg.max_batch = v & 0x80 ? 3 : 64;
        act_its_create(slot, &cfg, 0);
        if (!R.its[slot])
            return;
    }
    static const uint8_t flavours[4] = {0xa3, 0xa1, 0x43, 0xa2};
    uint64_t prop = FZ_RAM_BASE + FZ_PROP_OFF;
    uint8_t buf[512];
    memset(buf, flavours[v >> 5 & 3], sizeof(buf));
    env_poke(prop, buf, sizeof(buf));
    for (uint32_t c = 0; c < R.dcfg.nr_vcpus; c++) {
        act_gicr_write(c, 0x70, 8, prop | (R.dcfg.lpi_id_bits - 1) | 7ull << 7 | 1ull << 10);
        act_gicr_write(c, 0x78, 8,
                       (FZ_RAM_BASE + FZ_PEND_OFF(c)) | 1ull << 10 | (v & 4 ? 0 : 1ull << 62));
        act_gicr_write(c, 0x0, 4, 1);
    }
    uint64_t devtab = FZ_RAM_BASE + FZ_DEVTAB_OFF(slot);
    uint64_t pages = g & 0x40 ? 0 : 2ull << 8; /* 4 or 64 KiB pages */
    if (v & 8) {
        /* Two-level: a level-1 page whose first entry is valid. */
        uint8_t e[8];
        put_le64(e, 1ull << 63 | (devtab + 0x10000));
        env_poke(devtab, e, 8);
        act_its_write(slot, GITS_BASER(0), 8, 1ull << 63 | 1ull << 62 | devtab | 1ull << 10);
    } else {
        act_its_write(slot, GITS_BASER(0), 8, 1ull << 63 | devtab | pages | 1ull << 10);
    }
    act_its_write(slot, GITS_BASER(1), 8,
                  (g & 0x80 ? 0 : 1ull << 63) | (FZ_RAM_BASE + FZ_COLLTAB_OFF(slot)) | 1ull << 10);
    act_its_write(slot, GITS_CBASER, 8,
                  1ull << 63 | (FZ_RAM_BASE + FZ_QUEUE_OFF(slot)) | 1ull << 10 | 15);
    R.drv_next[slot] = 0;
    act_its_write(slot, GITS_CTLR, 4, 1);
    if (v & 0x10) {
        /* A driver's first device: MAPD, one MAPC per vCPU, 4 MAPTIs, INV. */
        uint64_t dws[16][4];
        unsigned n = 0;
        uint64_t itt = FZ_RAM_BASE + FZ_ITT_OFF(slot);
        dws[n][0] = 0x08;
        dws[n][1] = 1;
        dws[n][2] = 1ull << 63 | itt;
        dws[n++][3] = 0;
        for (uint32_t c = 0; c < R.dcfg.nr_vcpus && c < 8; c++) {
            uint64_t rd = cfg_rdbase(slot, c);
            dws[n][0] = 0x09;
            dws[n][1] = 0;
            dws[n][2] = 1ull << 63 | rd << 16 | c;
            dws[n++][3] = 0;
        }
        for (uint32_t e = 0; e < 4; e++) {
            dws[n][0] = 0x0a;
            dws[n][1] = e | (uint64_t)(8192 + 32 * slot + e) << 32;
            dws[n][2] = 0;
            dws[n++][3] = 0;
            touch(8192 + 32 * slot + e);
        }
        const struct m_its *m = &fz_model.its[slot];
        for (unsigned i = 0; i < n; i++) {
            uint8_t raw[32];
            for (int w = 0; w < 4; w++)
                put_le64(raw + 8 * w, dws[i][w]);
            env_poke((m->cbaser & 0xffffffffff000ull) + R.drv_next[slot], raw, 32);
            R.drv_next[slot] = (R.drv_next[slot] + 32) % m_queue_size(m);
        }
        act_its_write(slot, GITS_CWRITER, 8, R.drv_next[slot]);
    }
}

/* ---- one input ---- */

static bool over_budget(void) { return fz_model.commands_run > MAX_COMMANDS; }

static void run_ops(struct in *in)
{
    for (R.op = 0; in->i < in->n && R.op < MAX_OPS && !over_budget(); R.op++) {
        enum fz_op op = (enum fz_op)(u8(in) % FZ_OP_COUNT);
        R.called = false;
        if (fz_env.verbose)
            fprintf(stderr, "op %u: %d\n", R.op, (int)op);
        switch (op) {
        case FZ_OP_ITS_CREATE:
            op_its_create(in);
            break;
        case FZ_OP_ITS_DESTROY:
            act_its_destroy(u8(in) % FZ_MAX_ITS);
            break;
        case FZ_OP_ITS_WRITE:
            op_its_write(in);
            break;
        case FZ_OP_ITS_READ:
            op_its_read(in);
            break;
        case FZ_OP_CMD:
            op_cmd(in);
            break;
        case FZ_OP_KICK:
            op_kick(in);
            break;
        case FZ_OP_GICR_WRITE:
            op_gicr(in, true);
            break;
        case FZ_OP_GICR_READ:
            op_gicr(in, false);
            break;
        case FZ_OP_MEM_WRITE:
            op_mem_write(in);
            break;
        case FZ_OP_MEM_FILL:
            op_mem_fill(in);
            break;
        case FZ_OP_PROP:
            op_prop(in);
            break;
        case FZ_OP_PEND:
            op_pend(in);
            break;
        case FZ_OP_MSI:
            op_msi(in);
            break;
        case FZ_OP_ROUTE_CREATE:
            op_route_create(in);
            break;
        case FZ_OP_ROUTE_FIRE:
            op_route_fire(in);
            break;
        case FZ_OP_ROUTE_DESTROY:
            act_route_destroy(u8(in) % FZ_MAX_ROUTES);
            break;
        case FZ_OP_ACK:
            op_ack(in);
            break;
        case FZ_OP_SYNC_PENDING:
            op_sync_pending();
            break;
        case FZ_OP_HOLE:
            op_hole(in);
            break;
        case FZ_OP_FAULTS: {
            uint8_t f = u8(in);
            fz_env.alloc_fail = (f & 1) && fz_env.ops.alloc;
            fz_env.raise_fail = f & 2;
            break;
        }
        case FZ_OP_BOOT:
            op_boot(in);
            break;
        case FZ_OP_DOMAIN_CYCLE:
            op_domain_cycle();
            break;
        case FZ_OP_IOREQ:
            op_ioreq(in);
            break;
        case FZ_OP_SAVE_RESTORE:
            op_save_restore(in);
            break;
        default:
            break;
        }
        if (R.called) /* guest memory and fault settings alone change nothing */
            check_all();
    }
}

/* Bad domain configurations and ops tables fail cleanly. */
static void try_bad_domain(uint8_t which)
{
    struct vits_domain_config cfg = R.dcfg;
    struct vits_ops ops = fz_env.ops;
    switch (which % 8) {
    case 0:
        cfg.nr_vcpus = 0;
        break;
    case 1:
        cfg.lpi_id_bits = 13;
        break;
    case 2:
        cfg.lpi_id_bits = 25;
        break;
    case 3:
        cfg.redist_base |= 0x100;
        break;
    case 4:
        cfg.redist_stride = 0;
        break;
    case 5:
        cfg.log_level = (enum vits_log_level)4;
        break;
    case 6:
        ops.version = 0;
        break;
    default:
        ops.raise = NULL;
        break;
    }
    struct vits_domain *d = (struct vits_domain *)&R;
    int rc = vits_domain_create(&cfg, &ops, &R, &d);
    if (rc != -EINVAL || d)
        FAIL("bad domain configuration %u: vits_domain_create returned %d", which % 8, rc);
    expect_freed("a failed vits_domain_create");
}

static void try_failing_domain(uint8_t failat)
{
    struct vits_domain *d = (struct vits_domain *)&R;
    fz_env.alloc_countdown = failat % 8;
    int rc = vits_domain_create(&R.dcfg, &fz_env.ops, &R, &d);
    fz_env.alloc_countdown = -1;
    if (rc == -ENOMEM && !d) {
        expect_freed("a failed vits_domain_create");
        return;
    }
    if (rc || !d)
        FAIL("vits_domain_create with allocation %u failing returned %d", failat % 8, rc);
    if (vits_domain_destroy(d))
        FAIL("vits_domain_destroy of a fresh domain failed");
    expect_freed("vits_domain_destroy");
}

/* The documented answers to NULL arguments. */
static void null_arguments(void)
{
    uint64_t v = 1;
    uint32_t c = 1;
    struct vits_msi msi = {0, 0, 0, VITS_MSI_VALID_DEVID};
    struct vits_route *r = (struct vits_route *)&R;
    struct vits_its *its = (struct vits_its *)&R;
    struct vits_its_config cfg;
    vits_its_config_init(&cfg);
    vits_its_config_init(NULL);
    vits_domain_config_init(NULL, 1);
    vits_its_destroy(NULL);
    vits_route_destroy(NULL);
    if (vits_domain_destroy(NULL) || vits_domain_memory(NULL) || vits_domain_opaque(NULL) ||
        vits_its_domain(NULL) || vits_its_commands(NULL) ||
        vits_its_last_error(NULL, NULL, NULL) != -EINVAL ||
        vits_gicr_mmio_read(NULL, 0, 0, 4, &v) != -EINVAL ||
        vits_gicr_mmio_write(NULL, 0, 0, 4, 0) != -EINVAL ||
        vits_gicr_mmio_read(R.d, 0, 0, 4, NULL) != -EINVAL ||
        vits_lpi_ack(NULL, 0, 8192) != -EINVAL || vits_lpi_state(NULL, 8192, &c) != -EINVAL ||
        vits_domain_sync_pending(NULL) != -EINVAL ||
        vits_domain_signal_msi(NULL, &msi) != -EINVAL ||
        vits_domain_signal_msi(R.d, NULL) != -EINVAL ||
        vits_its_mmio_read(NULL, 0, 4, &v) != -EINVAL ||
        vits_its_mmio_write(NULL, 0, 4, 0) != -EINVAL ||
        vits_its_mmio_write_devid(NULL, VITS_GITS_TRANSLATER, 4, 0, 0) != -EINVAL ||
        vits_route_create(NULL, 0, 0, &r) != -EINVAL || r ||
        vits_its_create(NULL, &cfg, &its) != -EINVAL || its ||
        vits_its_create(R.d, NULL, &its) != -EINVAL ||
        vits_domain_create(NULL, &fz_env.ops, NULL, NULL) != -EINVAL ||
        strcmp(vits_strerror(0), "success"))
        FAIL("a call with a NULL argument did not answer as vits.h says");
    for (unsigned i = 0; i < R.dcfg.nr_vcpus && i < FZ_MAX_ITS; i++)
        if (R.its[i] && vits_its_mmio_read(R.its[i], 0, 4, NULL) != -EINVAL)
            FAIL("vits_its_mmio_read with a NULL value pointer did not fail");
}

static void teardown(void)
{
    null_arguments();
    R.op = MAX_OPS; /* messages from here on say "op 1024" */
    fz_env.alloc_fail = false;
    fz_env.raise_fail = false;
    for (unsigned i = 0; i < FZ_MAX_ROUTES; i++)
        act_route_destroy(i);
    for (unsigned s = 0; s < FZ_MAX_ITS; s++) {
        act_its_destroy(s);
        check_all();
    }
    if (fz_env.nr_raised)
        FAIL("every ITS destroyed but %u LPIs still raised (LPI %u)", fz_env.nr_raised,
             fz_env.raised[0].intid);
    if (vits_domain_memory(R.d) != R.bare_mem)
        FAIL("every ITS destroyed: domain holds %zu bytes, bare %zu", vits_domain_memory(R.d),
             R.bare_mem);
    if (vits_domain_destroy(R.d))
        FAIL("vits_domain_destroy failed");
    R.d = NULL;
    expect_freed("vits_domain_destroy");
}

int vits_fuzz_one(const uint8_t *data, size_t size)
{
    if (size > MAX_INPUT)
        size = MAX_INPUT;
    struct in in = {data, size, 0};
    uint8_t h[FZ_HEADER_SIZE];
    for (int i = 0; i < FZ_HEADER_SIZE; i++)
        h[i] = u8(&in);
    memset(&R, 0, sizeof(R));
    vits_domain_config_init(&R.dcfg, (h[0] & 7) + 1u);
    R.dcfg.redist_base = FZ_REDIST_BASE;
    R.dcfg.redist_stride = h[0] & 8 ? 0x40000 : 0x20000;
    R.dcfg.log_level = (enum vits_log_level)(h[0] >> 4 & 3);
    R.dcfg.lpi_id_bits = 14 + (h[1] & 3u);
    R.dcfg.log_rate = h[1] >> 2;
    R.dcfg.log_burst = h[2];
    R.with_log = !(h[0] & 0x40);
    env_reset(R.dcfg.nr_vcpus, R.dcfg.lpi_id_bits, R.with_log);
    if (h[6] & 1)
        fz_env.ops.alloc = NULL; /* malloc/realloc/free: nothing to count or fail */
    if (vits_version() != (VITS_VERSION_MAJOR << 16 | VITS_VERSION_MINOR << 8 | VITS_VERSION_PATCH))
        FAIL("vits_version() is 0x%x", vits_version());
#if VITS_OPS_VERSION >= 2
    static const uint32_t max_access[16] = {0, 0,  0,  0,  0,  0,   0,   0,
                                            8, 16, 32, 40, 64, 100, 256, 4096};
    fz_env.ops.max_access = max_access[h[5] % 16];
#endif
    if (h[4] & 1)
        try_bad_domain(h[4] >> 1);
    if (h[0] & 0x80)
        try_failing_domain(h[3]);
    domain_create();
    run_ops(&in);
    teardown();
    return 0;
}
