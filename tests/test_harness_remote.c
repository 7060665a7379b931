/* SPDX-License-Identifier: MIT */
/*
 * vits out of process (harness/serve.c, harness/remote.c,
 * docs/protocol.md), with the server in a thread at the other end of a
 * socketpair: every committed trace replays with the same report as in
 * process, also with failing guest-memory messages; the wire is
 * little-endian field by field; a hand-written client checks the
 * protocol's rules (HELLO first, versions, unknown types, bad lengths,
 * one request in flight, EBUSY for a request sent while the server waits
 * for memory, a broken stream); and a VMM with vCPU threads acknowledging
 * while another thread runs commands does not deadlock.
 */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "migrate.h"
#include "remote.h"
#include "trace.h"
#include "vm.h"

#ifndef VITS_TRACE_DIR
#error "VITS_TRACE_DIR must name harness/traces"
#endif

/* ---- a server thread on a socketpair ---- */

struct server_thread {
    pthread_t tid;
    int fd;
    int rc;
    bool running;
};

static void *server_main(void *arg)
{
    struct server_thread *s = arg;
    static const struct serve_options o = {.max_data = 0};
    s->rc = serve_connection(s->fd, &o);
    return NULL;
}

/* Start a server thread; returns the client's end. */
static int start_server(struct server_thread *s)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    s->fd = sv[1];
    s->rc = 12345;
    assert_int_equal(pthread_create(&s->tid, NULL, server_main, s), 0);
    s->running = true;
    return sv[0];
}

static int join_server(struct server_thread *s)
{
    if (s->running)
        pthread_join(s->tid, NULL);
    s->running = false;
    return s->rc;
}

static int connect_thread(void *ctx) { return start_server(ctx); }

/* ---- traces, both ways ---- */

static char *replay_to_string(const char *path, const struct replay_options *base, bool remote,
                              int *status)
{
    struct replay_options o = *base;
    struct server_thread srv = {0};
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    assert_non_null(out);
    o.out = out;
    if (remote) {
        o.connect = connect_thread;
        o.connect_ctx = &srv;
    }
    *status = replay_file(path, &o, NULL);
    fclose(out);
    if (remote)
        assert_int_equal(join_server(&srv), 0); /* the client said BYE */
    return text;
}

static void every_trace_replays_the_same_out_of_process(void **state)
{
    (void)state;
    DIR *dir = opendir(VITS_TRACE_DIR);
    assert_non_null(dir);
    unsigned traces = 0;
    struct dirent *e;
    while ((e = readdir(dir))) {
        size_t n = strlen(e->d_name);
        if (n < 7 || strcmp(e->d_name + n - 6, ".trace"))
            continue;
        char path[1024];
        snprintf(path, sizeof(path), "%s/%s", VITS_TRACE_DIR, e->d_name);
        static const struct {
            unsigned fail_reads;
            uint32_t max_access;
        } modes[] = {{0, 0}, {3, 0}, {5, 24}, {2, 0}, {0, 8}};
        for (size_t m = 0; m < sizeof(modes) / sizeof(modes[0]); m++) {
            struct replay_options o = {.fail_reads = modes[m].fail_reads,
                                       .max_access = modes[m].max_access};
            int a, b;
            char *in = replay_to_string(path, &o, false, &a);
            char *out = replay_to_string(path, &o, true, &b);
            if (strcmp(in, out) || a != b)
                fail_msg("%s (fail_reads %u, max_access %u): in process (%d):\n%s\nout of "
                         "process (%d):\n%s",
                         path, modes[m].fail_reads, modes[m].max_access, a, in, b, out);
            if (m == 0)
                assert_int_equal(b, 0);
            free(in);
            free(out);
        }
        traces++;
    }
    closedir(dir);
    assert_true(traces >= 6);
}

/* ---- the wire ---- */

static void wire_fields_are_little_endian(void **state)
{
    (void)state;
    struct vits_ioreq r = {.addr = 0x0102030405060708ull,
                           .data = 0x1112131415161718ull,
                           .size = 0x21222324,
                           .dir = 1,
                           .vcpu = 0x31323334,
                           .devid = 0x41424344,
                           .flags = 1,
                           .result = -EINVAL};
    uint8_t p[PROTO_IOREQ_SIZE];
    proto_put_ioreq(p, &r);
    static const uint8_t want[PROTO_IOREQ_SIZE] = {
        0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, 0x18, 0x17, 0x16, 0x15, 0x14, 0x13,
        0x12, 0x11, 0x24, 0x23, 0x22, 0x21, 1,    0,    0,    0,    0x34, 0x33, 0x32, 0x31,
        0x44, 0x43, 0x42, 0x41, 1,    0,    0,    0,    0xea, 0xff, 0xff, 0xff}; /* -22 */
    assert_memory_equal(p, want, sizeof(want));
    struct vits_ioreq back;
    proto_get_ioreq(p, &back);
    assert_memory_equal(&back, &r, sizeof(r));
    /* errnos travel in Linux numbering, and unknown ones as EIO */
    assert_int_equal(proto_status_to_wire(-EPROTO), -71);
    assert_int_equal(proto_status_from_wire(-71), -EPROTO);
    assert_int_equal(proto_status_to_wire(-EDOM), -5);
    assert_int_equal(proto_status_from_wire(-9999), -EIO);
    assert_int_equal(proto_status_to_wire(7), 7);
    /* configs round-trip */
    struct vits_domain_config dc, dc2;
    vits_domain_config_init(&dc, 7);
    dc.redist_base = 0x123450000ull;
    uint8_t q[PROTO_DCFG_SIZE];
    uint32_t ma;
    proto_put_dcfg(q, &dc, 4096);
    assert_int_equal(q[0], 7);
    assert_int_equal(q[8 + 2], 0x45);
    proto_get_dcfg(q, &dc2, &ma);
    assert_memory_equal(&dc, &dc2, sizeof(dc));
    assert_int_equal(ma, 4096);
    struct vits_its_config ic, ic2;
    vits_its_config_init(&ic);
    ic.error_policy = VITS_ERRORS_STALL;
    uint8_t w[PROTO_ICFG_SIZE];
    proto_put_icfg(w, &ic);
    proto_get_icfg(w, &ic2);
    assert_memory_equal(&ic, &ic2, sizeof(ic));
}

/* ---- a hand-written client ---- */

struct raw {
    int fd;
    uint32_t id;
    uint8_t buf[PROTO_MAX_PAYLOAD];
    struct server_thread srv;
};

static struct raw *raw_open(void)
{
    struct raw *r = calloc(1, sizeof(*r));
    assert_non_null(r);
    r->fd = start_server(&r->srv);
    return r;
}

static int raw_close(struct raw *r)
{
    close(r->fd);
    int rc = join_server(&r->srv);
    free(r);
    return rc;
}

static uint32_t raw_send(struct raw *r, uint16_t type, const void *p, uint32_t len)
{
    struct proto_header h = {.type = type, .id = ++r->id, .len = len};
    assert_int_equal(proto_send(r->fd, &h, p), 0);
    return h.id;
}

static struct proto_header raw_recv(struct raw *r)
{
    struct proto_header h;
    assert_int_equal(proto_recv(r->fd, &h, r->buf, sizeof(r->buf)), 0);
    return h;
}

/* Receive, skipping LOG and RETRACT notifications. */
static struct proto_header raw_recv_skip(struct raw *r)
{
    for (;;) {
        struct proto_header h = raw_recv(r);
        if ((h.flags & PROTO_F_REPLY) || (h.type != PROTO_LOG && h.type != PROTO_RETRACT))
            return h;
    }
}

/* Send a request, expect its reply (after notifications); return its
 * status. */
static int raw_call(struct raw *r, uint16_t type, const void *p, uint32_t len)
{
    uint32_t id = raw_send(r, type, p, len);
    struct proto_header h = raw_recv_skip(r);
    assert_true(h.flags & PROTO_F_REPLY);
    assert_int_equal(h.id, id);
    assert_int_equal(h.type, type);
    return h.status;
}

static void raw_hello(struct raw *r)
{
    uint8_t p[8];
    proto_put32(p, PROTO_VERSION);
    proto_put32(p + 4, 4096);
    assert_int_equal(raw_call(r, PROTO_HELLO, p, 8), 0);
    assert_int_equal(proto_get32(r->buf), PROTO_VERSION);
    assert_int_equal(proto_get32(r->buf + 4), 4096); /* the smaller max_data */
}

static void raw_create(struct raw *r, uint32_t vcpus)
{
    struct vits_domain_config dc;
    vits_domain_config_init(&dc, vcpus);
    uint8_t p[PROTO_DCFG_SIZE];
    proto_put_dcfg(p, &dc, 0);
    assert_int_equal(raw_call(r, PROTO_CREATE, p, sizeof(p)), 0);
    struct vits_its_config ic;
    vits_its_config_init(&ic);
    uint8_t q[PROTO_ICFG_SIZE];
    proto_put_icfg(q, &ic);
    assert_int_equal(raw_call(r, PROTO_ITS_CREATE, q, sizeof(q)), 0);
}

static uint32_t raw_mmio_send(struct raw *r, uint64_t addr, uint32_t vcpu, uint64_t val)
{
    struct vits_ioreq q = {
        .addr = addr, .size = 8, .dir = VITS_IOREQ_WRITE, .vcpu = vcpu, .data = val};
    uint8_t p[PROTO_IOREQ_SIZE];
    proto_put_ioreq(p, &q);
    return raw_send(r, PROTO_MMIO, p, sizeof(p));
}

/* The command queue at QUEUE_GPA: GITS_CBASER and GITS_CTLR (answered),
 * then a GITS_CWRITER write of one command, which makes the server read
 * guest memory before it answers; returns that request's id. */
#define QUEUE_GPA 0x40300000ull

static uint32_t raw_queue_one_command(struct raw *r)
{
    const uint64_t its = 0x08080000;
    uint32_t id = raw_mmio_send(r, its + 0x80, 0, 1ull << 63 | QUEUE_GPA); /* CBASER, 4 KiB */
    struct proto_header h = raw_recv_skip(r);
    assert_int_equal(h.id, id);
    assert_int_equal(h.status, 0);
    struct vits_ioreq q = {.addr = its, .size = 4, .dir = VITS_IOREQ_WRITE, .data = 1};
    uint8_t p[PROTO_IOREQ_SIZE];
    proto_put_ioreq(p, &q);
    id = raw_send(r, PROTO_MMIO, p, sizeof(p)); /* GITS_CTLR.Enabled */
    h = raw_recv_skip(r);
    assert_int_equal(h.id, id);
    assert_int_equal(h.status, 0);
    return raw_mmio_send(r, its + 0x88, 0, 32); /* CWRITER: one command */
}

static void protocol_requires_hello_first_and_one_version(void **state)
{
    (void)state;
    /* anything before HELLO: EPROTO, and the server ends */
    struct raw *r = raw_open();
    assert_int_equal(raw_call(r, PROTO_SYNC_PENDING, NULL, 0), -EPROTO);
    assert_int_equal(raw_close(r), -EPROTO);
    /* another version: EPROTONOSUPPORT */
    r = raw_open();
    uint8_t p[8];
    proto_put32(p, PROTO_VERSION + 1);
    proto_put32(p + 4, 0);
    assert_int_equal(raw_call(r, PROTO_HELLO, p, 8), -EPROTONOSUPPORT);
    assert_int_equal(raw_close(r), -EPROTONOSUPPORT);
}

static void protocol_rejects_unknown_types_and_bad_lengths(void **state)
{
    (void)state;
    struct raw *r = raw_open();
    raw_hello(r);
    assert_int_equal(raw_call(r, 200, NULL, 0), -ENOSYS);
    assert_int_equal(raw_call(r, PROTO_MMIO, "abc", 3), -EPROTO);
    assert_int_equal(raw_call(r, PROTO_CREATE, "abc", 3), -EPROTO);
    /* before CREATE there is no VM */
    struct vits_ioreq q = {.addr = 0x08080000, .size = 4};
    uint8_t p[PROTO_IOREQ_SIZE];
    proto_put_ioreq(p, &q);
    assert_int_equal(raw_call(r, PROTO_MMIO, p, sizeof(p)), -ENODEV);
    raw_create(r, 2);
    uint8_t dcfg[PROTO_DCFG_SIZE] = {0};
    assert_int_equal(raw_call(r, PROTO_CREATE, dcfg, sizeof(dcfg)), -EALREADY);
    /* a vCPU without a slot, an odd size, an unknown address */
    q = (struct vits_ioreq){.addr = 0x08080000, .size = 4, .vcpu = 9};
    proto_put_ioreq(p, &q);
    assert_int_equal(raw_call(r, PROTO_MMIO, p, sizeof(p)), -EINVAL);
    q = (struct vits_ioreq){.addr = 0x08080000, .size = 3};
    proto_put_ioreq(p, &q);
    assert_int_equal(raw_call(r, PROTO_MMIO, p, sizeof(p)), -EINVAL);
    q = (struct vits_ioreq){.addr = 0x1000, .size = 4};
    proto_put_ioreq(p, &q);
    assert_int_equal(raw_call(r, PROTO_MMIO, p, sizeof(p)), -ENODEV);
    /* a good read: GITS_IIDR */
    q = (struct vits_ioreq){.addr = 0x08080004, .size = 4};
    proto_put_ioreq(p, &q);
    assert_int_equal(raw_call(r, PROTO_MMIO, p, sizeof(p)), 0);
    assert_int_equal(proto_get64(r->buf) & 0xfff, 0x43b);
    /* ITS_STATUS of an ITS that does not exist */
    uint8_t i[4];
    proto_put32(i, 5);
    assert_int_equal(raw_call(r, PROTO_ITS_STATUS, i, 4), -ENODEV);
    assert_int_equal(raw_call(r, PROTO_BYE, NULL, 0), 0);
    assert_int_equal(raw_close(r), 0);
}

static void protocol_oversized_message_ends_the_connection(void **state)
{
    (void)state;
    struct raw *r = raw_open();
    raw_hello(r);
    uint8_t hdr[PROTO_HEADER] = {0};
    proto_put16(hdr, PROTO_MMIO);
    proto_put32(hdr + 4, 99);
    proto_put32(hdr + 8, PROTO_MAX_PAYLOAD + 1);
    assert_int_equal(send(r->fd, hdr, sizeof(hdr), MSG_NOSIGNAL), (ssize_t)sizeof(hdr));
    assert_int_equal(raw_close(r), -EPROTO);
}

/*
 * EnableLPIs without PTZ makes vits read the pending table: the server
 * asks for memory while the MMIO request is in flight. A client request
 * sent then is answered EBUSY; a memory reply with an error is a failed
 * read; the MMIO request completes after the last memory reply.
 */
static void protocol_request_while_server_waits_gets_ebusy(void **state)
{
    (void)state;
    struct raw *r = raw_open();
    raw_hello(r);
    raw_create(r, 2);
    uint32_t mmio = raw_queue_one_command(r);
    /* the server reads the command: one 32-byte read at CBASER */
    struct proto_header h = raw_recv(r);
    assert_false(h.flags & PROTO_F_REPLY);
    assert_int_equal(h.type, PROTO_MEM_READ);
    assert_int_equal(proto_get64(r->buf), QUEUE_GPA);
    assert_int_equal(proto_get32(r->buf + 8), 32);
    uint32_t read_id = h.id;
    /* a request now breaks the one-in-flight rule */
    uint8_t i[4];
    proto_put32(i, 8192);
    uint32_t busy = raw_send(r, PROTO_LPI_STATE, i, 4);
    struct proto_header b = raw_recv(r);
    assert_true(b.flags & PROTO_F_REPLY);
    assert_int_equal(b.id, busy);
    assert_int_equal(b.status, -EBUSY);
    /* answer the read with an error: the command fails as unreadable */
    struct proto_header rep = {
        .type = PROTO_MEM_READ, .flags = PROTO_F_REPLY, .id = read_id, .status = -EFAULT};
    assert_int_equal(proto_send(r->fd, &rep, NULL), 0);
    h = raw_recv_skip(r); /* the failed read is logged first */
    assert_true(h.flags & PROTO_F_REPLY);
    assert_int_equal(h.id, mmio);
    assert_int_equal(h.status, 0);
    assert_int_equal(raw_call(r, PROTO_BYE, NULL, 0), 0);
    assert_int_equal(raw_close(r), 0);
}

/* A memory reply of the wrong size cannot be trusted: the read fails,
 * vits finishes the request in flight, and the server ends the
 * connection without sending anything more. */
static void protocol_short_memory_reply_breaks_the_connection(void **state)
{
    (void)state;
    struct raw *r = raw_open();
    raw_hello(r);
    raw_create(r, 1);
    raw_queue_one_command(r);
    struct proto_header h = raw_recv_skip(r);
    assert_int_equal(h.type, PROTO_MEM_READ);
    struct proto_header rep = {
        .type = PROTO_MEM_READ, .flags = PROTO_F_REPLY, .id = h.id, .len = 3};
    assert_int_equal(proto_send(r->fd, &rep, "abc"), 0);
    /* nothing more comes: the stream ends */
    assert_int_equal(proto_recv(r->fd, &h, r->buf, sizeof(r->buf)), -EPIPE);
    assert_int_equal(raw_close(r), -EPIPE);
}

/* The client side sees a server that went away: every call fails. */
static void client_calls_fail_cleanly_when_the_server_is_gone(void **state)
{
    (void)state;
    struct vm *vm = vm_new(0);
    assert_non_null(vm);
    struct raw *r = raw_open();
    /* hand our end to the VM, and kill the server under it */
    int fd = dup(r->fd);
    struct vm_config cfg = {.nr_vcpus = 2, .log_level = VITS_LOG_ERROR};
    assert_int_equal(vm_start_remote(vm, &cfg, fd), 0);
    struct vits_its_config ic;
    vits_its_config_init(&ic);
    assert_int_equal(vm_add_its(vm, &ic), 0);
    assert_true(vm_is_remote(vm));
    uint64_t v = 0;
    assert_int_equal(vm_its_read(vm, 0, 0x4, 4, &v), 0);
    assert_int_equal(v & 0xfff, 0x43b);
    shutdown(r->fd, SHUT_RDWR);
    assert_int_not_equal(vm_its_read(vm, 0, 0x4, 4, &v), 0);
    assert_true(vm_msi(vm, 0x08090040, 1, 1) < 0);
    assert_true(vm_lpi_state(vm, 8192, NULL) < 0);
    vm_free(vm); /* BYE fails quietly */
    raw_close(r);
    /* a server that does not exist */
    struct vm *vm2 = vm_new(0);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    close(sv[1]);
    assert_int_equal(vm_start_remote(vm2, &cfg, sv[0]), -EPIPE);
    assert_false(vm_started(vm2));
    vm_free(vm2);
}

/* ---- a VMM with threads ---- */

#define TH_LPIS 64u
#define TH_ROUNDS 200u

struct vmm {
    struct vm *vm;
    atomic_bool stop;
    atomic_uint taken;
};

static void *vcpu_thread(void *arg)
{
    struct vmm *m = arg;
    while (!atomic_load(&m->stop)) {
        uint32_t intid;
        if (vm_take(m->vm, 0, false, &intid, NULL) == 1)
            atomic_fetch_add(&m->taken, 1);
    }
    return NULL;
}

static void put_cmd(struct vm *vm, uint64_t at, uint64_t d0, uint64_t d1, uint64_t d2)
{
    assert_int_equal(vm_mem_write64(vm, at, d0), 0);
    assert_int_equal(vm_mem_write64(vm, at + 8, d1), 0);
    assert_int_equal(vm_mem_write64(vm, at + 16, d2), 0);
    assert_int_equal(vm_mem_write64(vm, at + 24, 0), 0);
}

/* The guest of the threaded and migration tests: properties (enabled),
 * LPIs on for vCPU 0 (PTZ), flat device and collection tables, a 64 KiB
 * queue at 0x40400000; MAPD 1 (64 events, ITT at 0x40500000), MAPC 0 ->
 * vCPU 0, MAPTI of events 0..n-1 to LPIs 8192... Returns CWRITER. */
static uint64_t setup_guest(struct vm *vm, uint32_t n)
{
    uint8_t props[TH_LPIS];
    memset(props, 0xa3, sizeof(props));
    assert_int_equal(vm_mem_write(vm, 0x40100000, props, sizeof(props)), 0);
    assert_int_equal(vm_gicr_write(vm, 0, 0x70, 8, 0x40100000 | 15), 0);
    assert_int_equal(vm_gicr_write(vm, 0, 0x78, 8, 0x40200000 | 1ull << 62), 0);
    assert_int_equal(vm_gicr_write(vm, 0, 0x0, 4, 1), 0);
    assert_int_equal(vm_its_write(vm, 0, 0x100, 8, 1ull << 63 | 0x40300000), 0);
    assert_int_equal(vm_its_write(vm, 0, 0x108, 8, 1ull << 63 | 0x40310000), 0);
    assert_int_equal(vm_its_write(vm, 0, 0x80, 8, 1ull << 63 | 0x40400000 | 15), 0);
    assert_int_equal(vm_its_write(vm, 0, 0x0, 4, 1), 0);
    const uint64_t q = 0x40400000;
    uint64_t cw = 0;
    put_cmd(vm, q + cw, 0x08 | 1ull << 32, 5, 1ull << 63 | 0x40500000); /* MAPD 1, 6 bits */
    cw += 32;
    put_cmd(vm, q + cw, 0x09, 0, 1ull << 63); /* MAPC 0 -> vCPU 0 */
    cw += 32;
    for (uint32_t e = 0; e < n; e++, cw += 32)
        put_cmd(vm, q + cw, 0x0a | 1ull << 32, e | (uint64_t)(8192 + e) << 32, 0);
    assert_int_equal(vm_its_write(vm, 0, 0x88, 8, cw), 0);
    uint64_t errors = 1;
    assert_int_equal(vm_its_last_error(vm, 0, NULL, &errors), 0);
    assert_int_equal(errors, 0);
    return cw;
}

/* A VM in process or out of process (server thread srv), started. */
static struct vm *twin(struct server_thread *srv)
{
    struct vm *vm = vm_new(0);
    assert_non_null(vm);
    struct vm_config cfg = {.nr_vcpus = 1, .log_level = VITS_LOG_ERROR};
    if (srv)
        assert_int_equal(vm_start_remote(vm, &cfg, start_server(srv)), 0);
    else
        assert_int_equal(vm_start(vm, &cfg), 0);
    struct vits_its_config ic;
    vits_its_config_init(&ic);
    assert_int_equal(vm_add_its(vm, &ic), 0);
    return vm;
}

static void assert_same_lpis(struct vm *a, struct vm *b)
{
    for (uint32_t e = 0; e < TH_LPIS; e++) {
        uint32_t va = 77, vb = 77;
        assert_int_equal(vm_lpi_state(a, 8192 + e, &va), vm_lpi_state(b, 8192 + e, &vb));
        assert_int_equal(va, vb);
        assert_int_equal(vm_raised_on(a, 8192 + e), vm_raised_on(b, 8192 + e));
    }
}

/* The server migrates its VM in place (tables through the client's guest
 * memory, or a snapshot) and ends in the state an in-process migration
 * of a twin VM ends in; both then behave alike. */
static void remote_migration_matches_the_in_process_one(void **state)
{
    (void)state;
    for (int snapshot = 0; snapshot < 2; snapshot++) {
        struct server_thread srv = {0};
        struct vm *in = twin(NULL), *out = twin(&srv);
        struct vm *vms[2] = {in, out};
        for (int k = 0; k < 2; k++) {
            setup_guest(vms[k], 32);
            /* some pending; one disabled in memory after its MAPTI, so
             * still enabled in the cached properties (raised) */
            uint8_t off = 0xa2;
            assert_int_equal(vm_mem_write(vms[k], 0x40100000 + 3, &off, 1), 0);
            for (uint32_t e = 0; e < 8; e++)
                assert_int_equal(vm_msi(vms[k], 0x08080000 + VITS_GITS_TRANSLATER, 1, e), 1);
            assert_int_equal(vm_ack(vms[k], 0, 8192), 0);
        }
        assert_same_lpis(in, out);
        char why[200];
        assert_int_equal(vm_remote_migrate(out, snapshot, why, sizeof(why)), 0);
        assert_int_equal(vm_remote_migrate(in, snapshot, why, sizeof(why)), -EOPNOTSUPP);
        /* the in-process twin migrates its own way */
        assert_int_equal(
            vm_migrate(in, snapshot ? VM_MIGRATE_SNAPSHOT : VM_MIGRATE_TABLES, why, sizeof(why)),
            0);
        assert_same_lpis(in, out);
        assert_true(vm_lpi_state(out, 8193, NULL) == 1);
        /* pending either way; the tables path reads the property byte
         * again (now disabled: not raised), the snapshot keeps the cached
         * one (still raised) */
        assert_true(vm_lpi_state(out, 8195, NULL) == 1);
        assert_int_equal(vm_raised_on(out, 8195), snapshot ? 0 : -1);
        assert_int_equal(vm_raised_on(out, 8193), 0);
        /* after it, MSIs and acks behave the same */
        for (int k = 0; k < 2; k++) {
            assert_int_equal(vm_msi(vms[k], 0x08080000 + VITS_GITS_TRANSLATER, 1, 20), 1);
            assert_int_equal(vm_ack(vms[k], 0, 8193), 0);
        }
        assert_same_lpis(in, out);
        struct vm_stats st;
        vm_stats(out, &st);
        assert_int_equal(st.violations, 0);
        vm_free(in);
        vm_free(out);
        assert_int_equal(join_server(&srv), 0);
    }
}

/* One thread runs INT commands and MSIs through the connection while a
 * vCPU thread takes and acknowledges what is raised: every request
 * completes (no deadlock), every raise is taken once. */
static void vmm_threads_share_the_connection_without_deadlock(void **state)
{
    (void)state;
    struct server_thread srv = {0};
    struct vmm m = {.vm = vm_new(0)};
    assert_non_null(m.vm);
    struct vm_config cfg = {.nr_vcpus = 1, .log_level = VITS_LOG_ERROR};
    assert_int_equal(vm_start_remote(m.vm, &cfg, start_server(&srv)), 0);
    struct vits_its_config ic;
    vits_its_config_init(&ic);
    assert_int_equal(vm_add_its(m.vm, &ic), 0);
    struct vm *vm = m.vm;
    const uint64_t q = 0x40400000, qsize = 16 * 4096;
    uint64_t cw = setup_guest(vm, TH_LPIS);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, vcpu_thread, &m), 0);
    unsigned delivered = 0;
    for (uint32_t round = 0; round < TH_ROUNDS; round++) {
        /* a batch of INTs, then MSIs */
        for (uint32_t e = 0; e < 8; e++) {
            put_cmd(vm, q + cw, 0x03 | 1ull << 32, (round * 8 + e) % TH_LPIS, 0);
            cw = (cw + 32) % qsize;
        }
        assert_int_equal(vm_its_write(vm, 0, 0x88, 8, cw), 0);
        for (uint32_t e = 0; e < 4; e++)
            assert_true(vm_msi(vm, 0x08080000 + VITS_GITS_TRANSLATER, 1, (round + e) % TH_LPIS) >=
                        0);
    }
    /* drain: wait until nothing is pending */
    for (int spin = 0; spin < 100000; spin++) {
        unsigned pending = 0;
        for (uint32_t e = 0; e < TH_LPIS; e++)
            pending += vm_lpi_state(vm, 8192 + e, NULL) == 1;
        if (!pending)
            break;
        nanosleep(&(struct timespec){0, 100000}, NULL);
    }
    atomic_store(&m.stop, true);
    pthread_join(t, NULL);
    for (uint32_t e = 0; e < TH_LPIS; e++)
        assert_int_equal(vm_lpi_state(vm, 8192 + e, NULL), 0);
    struct vm_stats st;
    vm_stats(vm, &st);
    assert_int_equal(st.violations, 0);
    delivered = atomic_load(&m.taken);
    assert_true(delivered > 0);
    assert_int_equal(st.acks, delivered);
    struct remote_stats rs;
    vm_remote_stats(vm, &rs);
    assert_true(rs.mem_reads > 0);
    assert_int_equal(rs.raises, st.raises);
    vm_free(vm);
    assert_int_equal(join_server(&srv), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_trace_replays_the_same_out_of_process),
        cmocka_unit_test(wire_fields_are_little_endian),
        cmocka_unit_test(protocol_requires_hello_first_and_one_version),
        cmocka_unit_test(protocol_rejects_unknown_types_and_bad_lengths),
        cmocka_unit_test(protocol_oversized_message_ends_the_connection),
        cmocka_unit_test(protocol_request_while_server_waits_gets_ebusy),
        cmocka_unit_test(protocol_short_memory_reply_breaks_the_connection),
        cmocka_unit_test(client_calls_fail_cleanly_when_the_server_is_gone),
        cmocka_unit_test(vmm_threads_share_the_connection_without_deadlock),
        cmocka_unit_test(remote_migration_matches_the_in_process_one),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
