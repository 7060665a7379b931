/* SPDX-License-Identifier: MIT */
/*
 * MMIO requests (vits_ioreq_serve) and the per-vCPU request slots
 * (vits_ioreq_serve_slots, submit, collect): routing by guest physical
 * address to every ITS frame and to each vCPU's RD_base frame, MSIs
 * through GITS_TRANSLATER with a DeviceID, the FREE -> PENDING ->
 * PROCESSING -> COMPLETE state machine, and hostile requests and slots
 * (every state, bad sizes and alignments, unknown addresses, wrong
 * vCPUs), each completed with an error and logged, never a crash. The
 * last test serves one slot array from two threads while hypervisor
 * threads submit, withdraw and collect (run it under TSan).
 */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fakevm.h"

#define REDIST_BASE 0x080a0000ull
#define REDIST_STRIDE 0x20000ull
#define RD(v) (REDIST_BASE + (uint64_t)(v)*REDIST_STRIDE)
#define ITS2_BASE 0x09000000ull
#define GITS_CTLR 0x0
#define GITS_IIDR 0x4
#define GITS_TYPER 0x8
#define GITS_CBASER 0x80
#define GITS_CREADR 0x90
#define GICR_CTLR 0x0
#define GICR_TYPER 0x8
#define GICR_WAKER 0x14
#define GICR_PROPBASER 0x70

static const uint32_t all_states[] = {
    VITS_IOREQ_FREE, VITS_IOREQ_PENDING, VITS_IOREQ_PROCESSING, VITS_IOREQ_COMPLETE, 4,
    0x80000000u,     0xffffffffu};

/* ---- helpers ---- */

/* A booted VM of n vCPUs, collection 0 -> vCPU 1, device 1 events 0..3
 * -> LPIs 8192..8195. */
static struct fakevm *vm(uint32_t n)
{
    struct fakevm *fv = fv_new(n);
    fv_boot(fv);
    fv_map_collection(fv, 0, 1);
    assert_int_equal(fv_map_device(fv, 1, 2, 4, 8192, 0), 0);
    fv_clear_events(fv);
    return fv;
}

static struct vits_ioreq rq(uint64_t addr, uint32_t size, uint32_t dir, uint64_t data)
{
    return (struct vits_ioreq){.addr = addr, .size = size, .dir = dir, .data = data};
}

/* Serve a read; assert rc; return data. */
static uint64_t rd(struct fakevm *fv, uint64_t addr, uint32_t size, int want_rc)
{
    struct vits_ioreq r = rq(addr, size, VITS_IOREQ_READ, 0x5555);
    assert_int_equal(vits_ioreq_serve(fv->d, &r), want_rc);
    assert_int_equal(r.result, want_rc);
    return r.data;
}

static void wr(struct fakevm *fv, uint64_t addr, uint32_t size, uint64_t data, int want_rc)
{
    struct vits_ioreq r = rq(addr, size, VITS_IOREQ_WRITE, data);
    assert_int_equal(vits_ioreq_serve(fv->d, &r), want_rc);
    assert_int_equal(r.result, want_rc);
    assert_int_equal(r.data, data); /* a write's data is left as given */
}

static unsigned guest_logs(struct fakevm *fv) { return fv->log_count[VITS_LOG_GUEST]; }

static uint32_t load(const uint32_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static void store(uint32_t *p, uint32_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }

struct notes {
    unsigned count;
    uint32_t vcpus[16];
};

static void note(void *opaque, uint32_t vcpu)
{
    struct notes *n = opaque;
    if (n->count < 16)
        n->vcpus[n->count] = vcpu;
    n->count++;
}

/* ---- serving one request ---- */

static void ioreq_reads_and_writes_its_registers_by_address(void **state)
{
    (void)state;
    struct fakevm *fv = vm(2);
    assert_int_equal(rd(fv, FV_ITS_BASE + GITS_TYPER, 8, 0), fv_its_read(fv, GITS_TYPER, 8));
    assert_int_equal(rd(fv, FV_ITS_BASE + GITS_IIDR, 4, 0), fv_its_read(fv, GITS_IIDR, 4));
    /* 32-bit halves of a 64-bit register */
    uint64_t cbaser = fv_its_read(fv, GITS_CBASER, 8);
    assert_int_equal(rd(fv, FV_ITS_BASE + GITS_CBASER + 4, 4, 0), cbaser >> 32);
    /* CWRITER through a request runs the queue */
    uint64_t dw[4];
    fv_cmd_dev_ev(dw, 0x03, 1, 2); /* INT */
    fv_queue(fv, dw);
    wr(fv, FV_ITS_BASE + 0x88, 8, fv->cwriter, 0);
    assert_int_equal(rd(fv, FV_ITS_BASE + GITS_CREADR, 8, 0), fv->cwriter);
    assert_int_equal(fv_count(fv, FV_RAISE, 1, 8194), 1);
    /* Disable the ITS by request; reads back Quiescent. */
    wr(fv, FV_ITS_BASE + GITS_CTLR, 4, 0, 0);
    assert_int_equal(fv_its_read(fv, GITS_CTLR, 4), 1u << 31);
    fv_free(fv);
}

static void ioreq_routes_each_its_frame_of_the_domain(void **state)
{
    (void)state;
    struct fakevm *fv = vm(2);
    struct vits_its_config cfg;
    vits_its_config_init(&cfg);
    cfg.base = ITS2_BASE;
    cfg.device_id_bits = 10;
    struct vits_its *its2;
    assert_int_equal(vits_its_create(fv->d, &cfg, &its2), 0);
    uint64_t t1 = rd(fv, FV_ITS_BASE + GITS_TYPER, 8, 0);
    uint64_t t2 = rd(fv, ITS2_BASE + GITS_TYPER, 8, 0);
    assert_int_equal((t1 >> 13) & 0x1f, 15); /* Devbits - 1 */
    assert_int_equal((t2 >> 13) & 0x1f, 9);
    /* A write lands in the second frame only. */
    wr(fv, ITS2_BASE + GITS_CBASER, 8, 1ull << 63 | 0x50000000, 0);
    uint64_t v = 0;
    assert_int_equal(vits_its_mmio_read(its2, GITS_CBASER, 8, &v), 0);
    assert_int_equal(v, 1ull << 63 | 0x50000000);
    assert_int_not_equal(fv_its_read(fv, GITS_CBASER, 8), v);
    /* The last byte of a frame is the frame's; one past it is nothing. */
    assert_int_equal(rd(fv, ITS2_BASE + VITS_ITS_FRAME_SIZE - 4, 4, 0), 0);
    rd(fv, ITS2_BASE + VITS_ITS_FRAME_SIZE, 4, -ENODEV);
    vits_its_destroy(its2);
    fv_free(fv);
}

static void ioreq_serves_each_vcpus_lpi_registers(void **state)
{
    (void)state;
    struct fakevm *fv = vm(4);
    for (uint32_t v = 0; v < 4; v++) {
        uint64_t typer = rd(fv, RD(v) + GICR_TYPER, 8, 0);
        assert_int_equal(typer, fv_gicr_read(fv, v, GICR_TYPER, 8));
        assert_int_equal((typer >> 8) & 0xffff, v); /* Processor_Number */
        assert_int_equal(rd(fv, RD(v) + GICR_CTLR, 4, 0), 1);
    }
    /* EnableLPIs off and PROPBASER written on vCPU 2 only */
    wr(fv, RD(2) + GICR_CTLR, 4, 0, 0);
    wr(fv, RD(2) + GICR_PROPBASER, 8, 0x40700000 | 13, 0);
    assert_int_equal(fv_gicr_read(fv, 2, GICR_PROPBASER, 8), 0x40700000 | 13);
    assert_int_equal(fv_gicr_read(fv, 3, GICR_PROPBASER, 8), FV_PROP_TABLE | 0xf);
    fv_free(fv);
}

static void ioreq_leaves_other_redistributor_registers_to_the_vgic(void **state)
{
    (void)state;
    struct fakevm *fv = vm(2);
    unsigned logs = guest_logs(fv);
    /* not an LPI register of RD_base; the SGI_base frame */
    assert_int_equal(rd(fv, RD(1) + GICR_WAKER, 4, -ENOENT), 0);
    wr(fv, RD(1) + GICR_WAKER, 4, 2, -ENOENT);
    assert_int_equal(rd(fv, RD(0) + 0x10000, 4, -ENOENT), 0);
    assert_int_equal(rd(fv, RD(1) + REDIST_STRIDE - 4, 4, -ENOENT), 0);
    /* The vGIC's registers are not errors: nothing logged. */
    assert_int_equal(guest_logs(fv), logs);
    /* one past the last redistributor, below the ITS frame (which ends
     * where the first redistributor starts): nothing there */
    rd(fv, RD(2), 4, -ENODEV);
    assert_int_equal(rd(fv, REDIST_BASE - 4, 4, 0), 0); /* the ITS's, reserved */
    rd(fv, FV_ITS_BASE - 4, 4, -ENODEV);
    assert_int_equal(guest_logs(fv), logs + 2);
    fv_free(fv);
}

static void ioreq_translater_write_with_devid_signals_the_msi(void **state)
{
    (void)state;
    struct fakevm *fv = vm(2);
    struct vits_ioreq r = rq(FV_ITS_BASE + VITS_GITS_TRANSLATER, 4, VITS_IOREQ_WRITE, 3);
    r.flags = VITS_IOREQ_F_DEVID;
    r.devid = 1;
    assert_int_equal(vits_ioreq_serve(fv->d, &r), 0);
    assert_int_equal(fv_count(fv, FV_RAISE, 1, 8195), 1);
    assert_true(fv_pending(fv, 8195, NULL));
    /* 2-byte write: the EventID zero-extended */
    r = rq(FV_ITS_BASE + VITS_GITS_TRANSLATER, 2, VITS_IOREQ_WRITE, 1);
    r.flags = VITS_IOREQ_F_DEVID;
    r.devid = 1;
    assert_int_equal(vits_ioreq_serve(fv->d, &r), 0);
    assert_int_equal(fv_count(fv, FV_RAISE, 1, 8193), 1);
    /* Without a DeviceID it is ignored (and logged). */
    unsigned logs = guest_logs(fv);
    fv_clear_events(fv);
    wr(fv, FV_ITS_BASE + VITS_GITS_TRANSLATER, 4, 0, 0);
    assert_int_equal(fv->nr_events, 0);
    assert_false(fv_pending(fv, 8192, NULL));
    assert_int_equal(guest_logs(fv), logs + 1);
    /* A DeviceID elsewhere than GITS_TRANSLATER changes nothing. */
    r = rq(FV_ITS_BASE + GITS_CTLR, 4, VITS_IOREQ_WRITE, 1);
    r.flags = VITS_IOREQ_F_DEVID;
    r.devid = 7;
    assert_int_equal(vits_ioreq_serve(fv->d, &r), 0);
    assert_int_equal(fv_its_read(fv, GITS_CTLR, 4), 1);
    fv_free(fv);
}

static void ioreq_write_data_is_truncated_to_the_access_size(void **state)
{
    (void)state;
    struct fakevm *fv = vm(2);
    wr(fv, RD(0) + GICR_CTLR, 4, 0, 0);
    /* high garbage in a 4-byte write to the low half of PROPBASER */
    wr(fv, RD(0) + GICR_PROPBASER, 4, 0xffffffff00000000ull | 0x40800000 | 15, 0);
    assert_int_equal(fv_gicr_read(fv, 0, GICR_PROPBASER, 8), 0x40800000 | 15);
    fv_free(fv);
}

static void ioreq_rejects_malformed_requests_and_logs_them(void **state)
{
    (void)state;
    struct fakevm *fv = vm(2);
    uint64_t cbaser = fv_its_read(fv, GITS_CBASER, 8);
    static const struct {
        uint64_t addr;
        uint32_t size, dir, vcpu, flags;
        int rc;
    } bad[] = {
        {FV_ITS_BASE + GITS_CBASER, 8, 2, 0, 0, -EINVAL},                  /* direction */
        {FV_ITS_BASE + GITS_CBASER, 8, 0xffffffff, 0, 0, -EINVAL},         /* direction */
        {FV_ITS_BASE + GITS_CBASER, 8, VITS_IOREQ_WRITE, 2, 0, -EINVAL},   /* vCPU */
        {FV_ITS_BASE + GITS_CBASER, 8, VITS_IOREQ_WRITE, ~0u, 0, -EINVAL}, /* vCPU */
        {FV_ITS_BASE + GITS_CBASER, 8, VITS_IOREQ_WRITE, 0, 2, -EINVAL},   /* flags */
        {FV_ITS_BASE + GITS_CBASER, 0, VITS_IOREQ_WRITE, 0, 0, -EINVAL},   /* sizes */
        {FV_ITS_BASE + GITS_CBASER, 3, VITS_IOREQ_WRITE, 0, 0, -EINVAL},
        {FV_ITS_BASE + GITS_CBASER, 5, VITS_IOREQ_WRITE, 0, 0, -EINVAL},
        {FV_ITS_BASE + GITS_CBASER, 16, VITS_IOREQ_WRITE, 0, 0, -EINVAL},
        {FV_ITS_BASE + GITS_CBASER, 1, VITS_IOREQ_WRITE, 0, 0, -EINVAL},     /* 1 byte */
        {FV_ITS_BASE + GITS_CBASER, 2, VITS_IOREQ_WRITE, 0, 0, -EINVAL},     /* 2 bytes */
        {FV_ITS_BASE + GITS_CBASER + 4, 8, VITS_IOREQ_WRITE, 0, 0, -EINVAL}, /* alignment */
        {FV_ITS_BASE + GITS_CBASER + 2, 4, VITS_IOREQ_WRITE, 0, 0, -EINVAL},
        {RD(1) + GICR_PROPBASER, 2, VITS_IOREQ_WRITE, 0, 0, -EINVAL},
        {RD(1) + GICR_PROPBASER + 1, 1, VITS_IOREQ_WRITE, 0, 0, -EINVAL},
        {0, 4, VITS_IOREQ_WRITE, 0, 0, -ENODEV}, /* unknown addresses */
        {0xfffffffffffffff8ull, 8, VITS_IOREQ_WRITE, 0, 0, -ENODEV},
        {0x40000000, 4, VITS_IOREQ_READ, 1, 0, -ENODEV},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        unsigned logs = guest_logs(fv);
        struct vits_ioreq r = {.addr = bad[i].addr,
                               .size = bad[i].size,
                               .dir = bad[i].dir,
                               .vcpu = bad[i].vcpu,
                               .flags = bad[i].flags,
                               .data = 0,
                               .result = 12345};
        assert_int_equal(vits_ioreq_serve(fv->d, &r), bad[i].rc);
        assert_int_equal(r.result, bad[i].rc);
        assert_int_equal(guest_logs(fv), logs + 1);
        /* the same as a read: data reads as zero */
        r.dir = bad[i].dir == VITS_IOREQ_WRITE ? VITS_IOREQ_READ : bad[i].dir;
        r.data = 0x1234;
        assert_int_equal(vits_ioreq_serve(fv->d, &r), bad[i].rc);
        if (r.dir == VITS_IOREQ_READ)
            assert_int_equal(r.data, 0);
    }
    /* Nothing reached a register. */
    assert_int_equal(fv_its_read(fv, GITS_CBASER, 8), cbaser);
    assert_int_equal(fv_gicr_read(fv, 1, GICR_PROPBASER, 8), FV_PROP_TABLE | 0xf);
    assert_int_equal(vits_ioreq_serve(NULL, &(struct vits_ioreq){0}), -EINVAL);
    assert_int_equal(vits_ioreq_serve(fv->d, NULL), -EINVAL);
    fv_free(fv);
}

static void ioreq_64bit_access_to_a_32bit_register_reads_zero(void **state)
{
    (void)state;
    struct fakevm *fv = vm(2);
    /* architected: a guest error, not a failed request */
    assert_int_equal(rd(fv, FV_ITS_BASE + GITS_CTLR, 8, 0), 0);
    assert_int_equal(rd(fv, RD(0) + GICR_CTLR, 8, 0), 0);
    fv_free(fv);
}

/* ---- slots ---- */

static void slots_serve_only_pending_slots_and_notify_each(void **state)
{
    (void)state;
    struct fakevm *fv = vm(4);
    struct vits_ioreq_slot slots[4] = {0};
    for (uint32_t v = 0; v < 4; v++)
        slots[v].req = (struct vits_ioreq){
            .addr = RD(v) + GICR_TYPER, .size = 8, .dir = VITS_IOREQ_READ, .vcpu = v};
    slots[0].state = VITS_IOREQ_FREE;
    slots[1].state = VITS_IOREQ_PENDING;
    slots[2].state = VITS_IOREQ_PROCESSING;
    slots[3].state = VITS_IOREQ_PENDING;
    struct notes n = {0};
    assert_int_equal(vits_ioreq_serve_slots(fv->d, slots, 4, note, &n), 2);
    assert_int_equal(n.count, 2);
    assert_int_equal(n.vcpus[0], 1);
    assert_int_equal(n.vcpus[1], 3);
    assert_int_equal(load(&slots[0].state), VITS_IOREQ_FREE);
    assert_int_equal(load(&slots[1].state), VITS_IOREQ_COMPLETE);
    assert_int_equal(load(&slots[2].state), VITS_IOREQ_PROCESSING);
    assert_int_equal(load(&slots[3].state), VITS_IOREQ_COMPLETE);
    assert_int_equal(slots[1].req.data, fv_gicr_read(fv, 1, GICR_TYPER, 8));
    assert_int_equal(slots[3].req.data, fv_gicr_read(fv, 3, GICR_TYPER, 8));
    assert_int_equal(slots[1].req.result, 0);
    /* Untouched slots keep their data. */
    assert_int_equal(slots[0].req.data, 0);
    assert_int_equal(slots[2].req.data, 0);
    /* A second pass finds nothing to do: COMPLETE is the hypervisor's. */
    assert_int_equal(vits_ioreq_serve_slots(fv->d, slots, 4, note, &n), 0);
    assert_int_equal(n.count, 2);
    /* notify may be NULL */
    store(&slots[0].state, VITS_IOREQ_PENDING);
    assert_int_equal(vits_ioreq_serve_slots(fv->d, slots, 4, NULL, NULL), 1);
    assert_int_equal(load(&slots[0].state), VITS_IOREQ_COMPLETE);
    fv_free(fv);
}

static void slots_submit_serve_collect_round_trip(void **state)
{
    (void)state;
    struct fakevm *fv = vm(2);
    struct vits_ioreq_slot slots[2] = {0};
    struct vits_ioreq r = rq(FV_ITS_BASE + VITS_GITS_TRANSLATER, 4, VITS_IOREQ_WRITE, 0);
    r.vcpu = 1;
    r.flags = VITS_IOREQ_F_DEVID;
    r.devid = 1;
    assert_int_equal(vits_ioreq_collect(&slots[1], &r), -ENOENT); /* FREE */
    assert_int_equal(vits_ioreq_submit(&slots[1], &r), 0);
    assert_int_equal(load(&slots[1].state), VITS_IOREQ_PENDING);
    assert_int_equal(vits_ioreq_submit(&slots[1], &r), -EBUSY);
    assert_int_equal(vits_ioreq_collect(&slots[1], &r), 0); /* not done */
    assert_int_equal(vits_ioreq_serve_slots(fv->d, slots, 2, NULL, NULL), 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 1, 8192), 1);
    assert_int_equal(vits_ioreq_submit(&slots[1], &r), -EBUSY); /* COMPLETE */
    struct vits_ioreq out;
    memset(&out, 0xff, sizeof(out));
    assert_int_equal(vits_ioreq_collect(&slots[1], &out), 1);
    assert_int_equal(out.result, 0);
    assert_int_equal(out.addr, r.addr);
    assert_int_equal(load(&slots[1].state), VITS_IOREQ_FREE);
    /* a read comes back with its data */
    r = rq(FV_ITS_BASE + GITS_CREADR, 8, VITS_IOREQ_READ, 0);
    assert_int_equal(vits_ioreq_submit(&slots[0], &r), 0);
    assert_int_equal(vits_ioreq_serve_slots(fv->d, slots, 2, NULL, NULL), 1);
    assert_int_equal(vits_ioreq_collect(&slots[0], NULL), 1);
    assert_int_equal(slots[0].req.data, fv->cwriter);
    /* collect on a slot vits is processing, and on a corrupted one */
    store(&slots[0].state, VITS_IOREQ_PROCESSING);
    assert_int_equal(vits_ioreq_collect(&slots[0], NULL), 0);
    store(&slots[0].state, 77);
    assert_int_equal(vits_ioreq_collect(&slots[0], NULL), -EPROTO);
    assert_int_equal(vits_ioreq_collect(NULL, NULL), -EINVAL);
    assert_int_equal(vits_ioreq_submit(NULL, &r), -EINVAL);
    assert_int_equal(vits_ioreq_submit(&slots[0], NULL), -EINVAL);
    fv_free(fv);
}

/* Hostile slot contents, in every state: only PENDING (and corrupted)
 * slots are completed, each with the error its request deserves. */
static void slots_hostile_in_every_state_are_rejected_cleanly(void **state)
{
    (void)state;
    struct fakevm *fv = vm(2);
    static const struct {
        struct vits_ioreq req;
        int rc;
    } reqs[] = {
        {{.addr = FV_ITS_BASE + GITS_CBASER, .size = 3, .dir = VITS_IOREQ_READ, .vcpu = 0},
         -EINVAL},
        {{.addr = FV_ITS_BASE + GITS_CBASER, .size = 0, .dir = VITS_IOREQ_WRITE, .vcpu = 0},
         -EINVAL},
        {{.addr = FV_ITS_BASE + GITS_CBASER, .size = 0xffffffff, .dir = 0, .vcpu = 0}, -EINVAL},
        {{.addr = FV_ITS_BASE + 1, .size = 4, .dir = VITS_IOREQ_READ, .vcpu = 0}, -EINVAL},
        {{.addr = 0xdead0000, .size = 4, .dir = VITS_IOREQ_READ, .vcpu = 0}, -ENODEV},
        {{.addr = ~0ull, .size = 1, .dir = VITS_IOREQ_WRITE, .vcpu = 0}, -ENODEV},
        {{.addr = RD(0) + GICR_TYPER, .size = 8, .dir = 9, .vcpu = 0}, -EINVAL},
        {{.addr = RD(0) + GICR_TYPER, .size = 8, .dir = 0, .vcpu = 1}, -EINVAL}, /* not slot 0's */
        {{.addr = RD(0) + GICR_TYPER, .size = 8, .dir = 0, .vcpu = 0, .flags = 0x80}, -EINVAL},
        {{.addr = RD(0) + GICR_TYPER, .size = 8, .dir = 0, .vcpu = 0}, 0}, /* a good one */
    };
    for (size_t s = 0; s < sizeof(all_states) / sizeof(all_states[0]); s++) {
        for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
            struct vits_ioreq_slot slot = {.state = all_states[s], .reserved = 0xffffffff};
            slot.req = reqs[i].req;
            slot.req.data = 0x77;
            slot.req.result = 99;
            unsigned logs = fv->log_count[VITS_LOG_GUEST] + fv->log_count[VITS_LOG_ERROR];
            struct notes n = {0};
            int done = vits_ioreq_serve_slots(fv->d, &slot, 1, note, &n);
            uint32_t st = all_states[s];
            bool untouched =
                st == VITS_IOREQ_FREE || st == VITS_IOREQ_PROCESSING || st == VITS_IOREQ_COMPLETE;
            if (untouched) {
                assert_int_equal(done, 0);
                assert_int_equal(n.count, 0);
                assert_int_equal(load(&slot.state), st);
                assert_int_equal(slot.req.result, 99);
                assert_int_equal(slot.req.data, 0x77);
                continue;
            }
            assert_int_equal(done, 1);
            assert_int_equal(n.count, 1);
            assert_int_equal(n.vcpus[0], 0);
            assert_int_equal(load(&slot.state), VITS_IOREQ_COMPLETE);
            int want = st == VITS_IOREQ_PENDING ? reqs[i].rc : -EPROTO;
            assert_int_equal(slot.req.result, want);
            unsigned now = fv->log_count[VITS_LOG_GUEST] + fv->log_count[VITS_LOG_ERROR];
            if (want)
                assert_int_equal(now, logs + 1); /* one line per rejection */
            if (want && slot.req.dir == VITS_IOREQ_READ)
                assert_int_equal(slot.req.data, 0);
            if (!want)
                assert_int_equal(slot.req.data, fv_gicr_read(fv, 0, GICR_TYPER, 8));
        }
    }
    /* NULL and empty arrays */
    assert_int_equal(vits_ioreq_serve_slots(NULL, NULL, 0, NULL, NULL), -EINVAL);
    assert_int_equal(vits_ioreq_serve_slots(fv->d, NULL, 1, NULL, NULL), -EINVAL);
    assert_int_equal(vits_ioreq_serve_slots(fv->d, NULL, 0, NULL, NULL), 0);
    /* more slots than vCPUs: the extra ones name vCPUs that do not exist */
    struct vits_ioreq_slot many[3] = {0};
    for (uint32_t i = 0; i < 3; i++) {
        many[i].req = rq(FV_ITS_BASE + GITS_IIDR, 4, VITS_IOREQ_READ, 0);
        many[i].req.vcpu = i;
        many[i].state = VITS_IOREQ_PENDING;
    }
    assert_int_equal(vits_ioreq_serve_slots(fv->d, many, 3, NULL, NULL), 3);
    assert_int_equal(many[0].req.result, 0);
    assert_int_equal(many[1].req.result, 0);
    assert_int_equal(many[2].req.result, -EINVAL);
    fv_free(fv);
}

/* ---- concurrency: two server threads, one hypervisor thread per slot ---- */

#define CONC_VCPUS 4u
#define CONC_ROUNDS 3000u

struct conc {
    struct vits_domain *d;
    struct vits_ioreq_slot slots[CONC_VCPUS];
    uint64_t typer[CONC_VCPUS];
    _Atomic unsigned notified[CONC_VCPUS];
    atomic_bool stop;
};

struct hyp {
    struct conc *c;
    uint32_t vcpu;
    unsigned submitted, withdrawn, collected, wrong;
};

static void conc_note(void *opaque, uint32_t vcpu)
{
    struct conc *c = opaque;
    atomic_fetch_add(&c->notified[vcpu], 1);
}

static void *server(void *arg)
{
    struct conc *c = arg;
    while (!atomic_load(&c->stop))
        vits_ioreq_serve_slots(c->d, c->slots, CONC_VCPUS, conc_note, c);
    return NULL;
}

static void *hypervisor(void *arg)
{
    struct hyp *h = arg;
    struct vits_ioreq_slot *s = &h->c->slots[h->vcpu];
    for (unsigned i = 0; i < CONC_ROUNDS; i++) {
        /* vCPU v reads the TYPER of redistributor (v + i) % n */
        uint32_t target = (h->vcpu + i) % CONC_VCPUS;
        struct vits_ioreq r = rq(RD(target) + GICR_TYPER, 8, VITS_IOREQ_READ, 0);
        r.vcpu = h->vcpu;
        assert_int_equal(vits_ioreq_submit(s, &r), 0);
        h->submitted++;
        if (i % 7 == 3) {
            /* withdraw it if vits has not taken it yet */
            uint32_t want = VITS_IOREQ_PENDING;
            if (__atomic_compare_exchange_n(&s->state, &want, (uint32_t)VITS_IOREQ_FREE, false,
                                            __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
                h->withdrawn++;
                continue;
            }
        }
        struct vits_ioreq out;
        int rc;
        while ((rc = vits_ioreq_collect(s, &out)) == 0)
            ;
        assert_int_equal(rc, 1);
        h->collected++;
        if (out.result != 0 || out.data != h->c->typer[target])
            h->wrong++;
    }
    return NULL;
}

static void slots_served_by_two_threads_complete_each_request_once(void **state)
{
    (void)state;
    struct fakevm *fv = vm(CONC_VCPUS);
    struct conc *c = calloc(1, sizeof(*c));
    assert_non_null(c);
    c->d = fv->d;
    for (uint32_t v = 0; v < CONC_VCPUS; v++)
        c->typer[v] = fv_gicr_read(fv, v, GICR_TYPER, 8);
    pthread_t srv[2], hv[CONC_VCPUS];
    struct hyp h[CONC_VCPUS];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&srv[i], NULL, server, c), 0);
    for (uint32_t v = 0; v < CONC_VCPUS; v++) {
        h[v] = (struct hyp){.c = c, .vcpu = v};
        assert_int_equal(pthread_create(&hv[v], NULL, hypervisor, &h[v]), 0);
    }
    for (uint32_t v = 0; v < CONC_VCPUS; v++)
        pthread_join(hv[v], NULL);
    atomic_store(&c->stop, true);
    for (int i = 0; i < 2; i++)
        pthread_join(srv[i], NULL);
    for (uint32_t v = 0; v < CONC_VCPUS; v++) {
        assert_int_equal(h[v].wrong, 0);
        assert_int_equal(h[v].submitted, CONC_ROUNDS);
        assert_int_equal(h[v].collected + h[v].withdrawn, CONC_ROUNDS);
        /* served exactly the requests that were not withdrawn */
        assert_int_equal(atomic_load(&c->notified[v]), h[v].collected);
        assert_int_equal(load(&c->slots[v].state), VITS_IOREQ_FREE);
    }
    free(c);
    fv_free(fv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ioreq_reads_and_writes_its_registers_by_address),
        cmocka_unit_test(ioreq_routes_each_its_frame_of_the_domain),
        cmocka_unit_test(ioreq_serves_each_vcpus_lpi_registers),
        cmocka_unit_test(ioreq_leaves_other_redistributor_registers_to_the_vgic),
        cmocka_unit_test(ioreq_translater_write_with_devid_signals_the_msi),
        cmocka_unit_test(ioreq_write_data_is_truncated_to_the_access_size),
        cmocka_unit_test(ioreq_rejects_malformed_requests_and_logs_them),
        cmocka_unit_test(ioreq_64bit_access_to_a_32bit_register_reads_zero),
        cmocka_unit_test(slots_serve_only_pending_slots_and_notify_each),
        cmocka_unit_test(slots_submit_serve_collect_round_trip),
        cmocka_unit_test(slots_hostile_in_every_state_are_rejected_cleanly),
        cmocka_unit_test(slots_served_by_two_threads_complete_each_request_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
