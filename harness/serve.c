/* SPDX-License-Identifier: MIT */
/*
 * The server side of docs/protocol.md: vits in its own process, serving
 * one VMM-side client per connection. Guest memory, the vGIC and the
 * log are the client's: the ops table given to vits turns each callback
 * into a message (read_mem / write_mem and raise wait for the client's
 * reply; retract and log are notifications). MMIO requests go through
 * the IOREQ slot machinery (vits_ioreq_serve_slots), one slot per vCPU,
 * as an IOREQ server would run it; MSIs through vits_domain_signal_msi.
 *
 * One thread serves a connection, so every vits callback runs on it,
 * while it is handling a client request: the client is then waiting for
 * that request's reply and answers the callbacks' messages. Memory
 * requests thus run while vits holds the domain lock, and nothing the
 * client does can need that lock meanwhile. A client request that
 * arrives while the server waits for a callback's reply breaks the rule
 * of one request in flight: it is answered with -EBUSY and not served.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "remote.h"

#define SERVE_MAX_ITS 8u

struct server {
    int fd;
    const struct serve_options *o;
    FILE *log;
    uint32_t max_data;
    uint32_t next_id;
    bool hello, broken;
    struct vits_ops ops;
    struct vits_domain *d;
    uint32_t nr_vcpus;
    struct vits_domain_config dcfg; /* as created, for a migration */
    struct vits_its *its[SERVE_MAX_ITS];
    struct vits_its_config its_cfg[SERVE_MAX_ITS];
    unsigned nr_its;
    void *snapshot;                /* a migration's snapshot, while it is restored */
    struct vits_ioreq_slot *slots; /* one per vCPU */
    uint8_t *in, *out;             /* PROTO_MAX_PAYLOAD each */
};

static void say(struct server *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct server *s, const char *fmt, ...)
{
    if (!s->o->verbose)
        return;
    va_list ap;
    va_start(ap, fmt);
    fputs("vits-sim serve: ", s->log);
    vfprintf(s->log, fmt, ap);
    fputc('\n', s->log);
    va_end(ap);
}

static int send_msg(struct server *s, uint16_t type, uint16_t flags, uint32_t id, int status,
                    const void *p, uint32_t len)
{
    if (s->broken)
        return -EPIPE;
    struct proto_header h = {.type = type, .flags = flags, .id = id, .len = len, .status = status};
    int rc = proto_send(s->fd, &h, p);
    if (rc)
        s->broken = true;
    return rc;
}

static int reply(struct server *s, const struct proto_header *req, int status, const void *p,
                 uint32_t len)
{
    return send_msg(s, req->type, PROTO_F_REPLY, req->id, status, p, len);
}

/*
 * A request to the client, from inside a vits callback: send it and wait
 * for its reply (payload into s->in). Returns 0 with *status set, or a
 * transport error.
 */
static int ask(struct server *s, uint16_t type, const void *p, uint32_t len, int *status,
               uint32_t *rlen)
{
    uint32_t id = ++s->next_id;
    int rc = send_msg(s, type, 0, id, 0, p, len);
    while (!rc) {
        struct proto_header h;
        rc = proto_recv(s->fd, &h, s->in, PROTO_MAX_PAYLOAD);
        if (rc)
            break;
        if (!(h.flags & PROTO_F_REPLY)) {
            rc = reply(s, &h, -EBUSY, NULL, 0);
            continue;
        }
        if (h.id != id || h.type != type) {
            rc = -EPROTO;
            break;
        }
        *status = h.status;
        *rlen = h.len;
        return 0;
    }
    s->broken = true;
    return rc;
}

/* ---- the ops vits calls: messages to the client ---- */

static int op_read_mem(void *opaque, uint64_t gpa, void *buf, size_t len)
{
    struct server *s = opaque;
    if (len > s->max_data)
        return -EMSGSIZE; /* vits honours max_access: not reached */
    uint8_t p[16];
    proto_put64(p, gpa);
    proto_put32(p + 8, (uint32_t)len);
    proto_put32(p + 12, 0);
    int st;
    uint32_t n;
    int rc = ask(s, PROTO_MEM_READ, p, sizeof(p), &st, &n);
    if (rc)
        return -EIO;
    if (st)
        return st < 0 ? st : -EIO;
    if (n != len) {
        s->broken = true; /* a reply of the wrong size: the stream is off */
        return -EIO;
    }
    memcpy(buf, s->in, len);
    return 0;
}

static int op_write_mem(void *opaque, uint64_t gpa, const void *buf, size_t len)
{
    struct server *s = opaque;
    if (len > s->max_data)
        return -EMSGSIZE;
    proto_put64(s->out, gpa);
    proto_put32(s->out + 8, (uint32_t)len);
    proto_put32(s->out + 12, 0);
    memcpy(s->out + 16, buf, len);
    int st;
    uint32_t n;
    int rc = ask(s, PROTO_MEM_WRITE, s->out, (uint32_t)(16 + len), &st, &n);
    if (rc)
        return -EIO;
    return st <= 0 ? st : -EIO;
}

static int op_raise(void *opaque, uint32_t vcpu, uint32_t intid, uint8_t priority)
{
    struct server *s = opaque;
    uint8_t p[12];
    proto_put32(p, vcpu);
    proto_put32(p + 4, intid);
    proto_put32(p + 8, priority);
    int st;
    uint32_t n;
    int rc = ask(s, PROTO_RAISE, p, sizeof(p), &st, &n);
    if (rc)
        return -EIO;
    return st <= 0 ? st : -EIO;
}

static void op_retract(void *opaque, uint32_t vcpu, uint32_t intid)
{
    struct server *s = opaque;
    uint8_t p[8];
    proto_put32(p, vcpu);
    proto_put32(p + 4, intid);
    send_msg(s, PROTO_RETRACT, 0, ++s->next_id, 0, p, sizeof(p));
}

static void op_log(void *opaque, enum vits_log_level level, const char *msg)
{
    struct server *s = opaque;
    size_t n = strlen(msg);
    if (n > 480)
        n = 480;
    uint8_t p[4 + 480];
    proto_put32(p, (uint32_t)level);
    memcpy(p + 4, msg, n);
    send_msg(s, PROTO_LOG, 0, ++s->next_id, 0, p, (uint32_t)(4 + n));
    if (s->o->verbose)
        say(s, "vits: %s", msg);
}

/* ---- client requests ---- */

static void destroy_vm(struct server *s)
{
    for (unsigned i = 0; i < s->nr_its; i++)
        vits_its_destroy(s->its[i]);
    s->nr_its = 0;
    if (s->d)
        vits_domain_destroy(s->d);
    s->d = NULL;
    free(s->slots);
    s->slots = NULL;
}

static int on_hello(struct server *s, const struct proto_header *h)
{
    if (h->len != 8)
        return reply(s, h, -EPROTO, NULL, 0);
    uint32_t version = proto_get32(s->in), max = proto_get32(s->in + 4);
    if (version != PROTO_VERSION) {
        say(s, "client speaks protocol version %u, not %u", version, PROTO_VERSION);
        reply(s, h, -EPROTONOSUPPORT, NULL, 0);
        return -EPROTONOSUPPORT;
    }
    if (max && max < s->max_data)
        s->max_data = max;
    s->hello = true;
    uint8_t p[8];
    proto_put32(p, PROTO_VERSION);
    proto_put32(p + 4, s->max_data);
    return reply(s, h, 0, p, sizeof(p));
}

static int on_create(struct server *s, const struct proto_header *h)
{
    if (h->len != PROTO_DCFG_SIZE)
        return reply(s, h, -EPROTO, NULL, 0);
    if (s->d)
        return reply(s, h, -EALREADY, NULL, 0);
    struct vits_domain_config cfg;
    uint32_t max_access;
    proto_get_dcfg(s->in, &cfg, &max_access);
    s->ops = (struct vits_ops){.version = VITS_OPS_VERSION,
                               .read_mem = op_read_mem,
                               .write_mem = op_write_mem,
                               .raise = op_raise,
                               .retract = op_retract,
                               .log = op_log,
                               .max_access = max_access && max_access < s->max_data ? max_access
                                                                                    : s->max_data};
    int rc = vits_domain_create(&cfg, &s->ops, s, &s->d);
    if (!rc) {
        s->dcfg = cfg;
        s->nr_vcpus = cfg.nr_vcpus;
        s->slots = calloc(cfg.nr_vcpus, sizeof(*s->slots));
        if (!s->slots) {
            destroy_vm(s);
            rc = -ENOMEM;
        }
    }
    say(s, "domain of %u vCPUs: %s", cfg.nr_vcpus, rc ? vits_strerror(rc) : "created");
    return reply(s, h, rc, NULL, 0);
}

static int on_its_create(struct server *s, const struct proto_header *h)
{
    if (h->len != PROTO_ICFG_SIZE)
        return reply(s, h, -EPROTO, NULL, 0);
    if (!s->d)
        return reply(s, h, -ENODEV, NULL, 0);
    if (s->nr_its >= SERVE_MAX_ITS)
        return reply(s, h, -ENOSPC, NULL, 0);
    struct vits_its_config cfg;
    proto_get_icfg(s->in, &cfg);
    int rc = vits_its_create(s->d, &cfg, &s->its[s->nr_its]);
    if (!rc) {
        s->its_cfg[s->nr_its] = cfg;
        rc = (int)s->nr_its++;
    }
    say(s, "ITS at 0x%" PRIx64 ": %s", cfg.base, rc < 0 ? vits_strerror(rc) : "created");
    return reply(s, h, rc, NULL, 0);
}

struct mmio_done {
    struct server *s;
    const struct proto_header *h;
    int rc; /* of sending the reply */
    bool replied;
};

/* notify of vits_ioreq_serve_slots: the slot is COMPLETE; collect it and
 * answer the client. */
static void mmio_complete(void *opaque, uint32_t vcpu)
{
    struct mmio_done *m = opaque;
    struct vits_ioreq r;
    if (vits_ioreq_collect(&m->s->slots[vcpu], &r) != 1)
        return;
    uint8_t p[8];
    proto_put64(p, r.data);
    m->rc = reply(m->s, m->h, r.result, p, sizeof(p));
    m->replied = true;
}

static int on_mmio(struct server *s, const struct proto_header *h)
{
    uint8_t p[8] = {0};
    if (h->len != PROTO_IOREQ_SIZE)
        return reply(s, h, -EPROTO, p, sizeof(p));
    if (!s->d)
        return reply(s, h, -ENODEV, p, sizeof(p));
    struct vits_ioreq r;
    proto_get_ioreq(s->in, &r);
    r.result = 0;
    if (r.vcpu >= s->nr_vcpus) {
        /* no slot of its own: served (and rejected) directly */
        int rc = vits_ioreq_serve(s->d, &r);
        proto_put64(p, r.data);
        return reply(s, h, rc, p, sizeof(p));
    }
    struct mmio_done m = {.s = s, .h = h};
    int rc = vits_ioreq_submit(&s->slots[r.vcpu], &r);
    if (!rc)
        vits_ioreq_serve_slots(s->d, s->slots, s->nr_vcpus, mmio_complete, &m);
    if (!m.replied)
        return reply(s, h, rc ? rc : -EIO, p, sizeof(p));
    return m.rc;
}

static int on_msi(struct server *s, const struct proto_header *h)
{
    if (h->len != 16)
        return reply(s, h, -EPROTO, NULL, 0);
    if (!s->d)
        return reply(s, h, -ENODEV, NULL, 0);
    struct vits_msi msi = {.address = proto_get64(s->in),
                           .devid = proto_get32(s->in + 8),
                           .data = proto_get32(s->in + 12),
                           .flags = VITS_MSI_VALID_DEVID};
    return reply(s, h, vits_domain_signal_msi(s->d, &msi), NULL, 0);
}

static int on_ack(struct server *s, const struct proto_header *h)
{
    if (h->len != 8)
        return reply(s, h, -EPROTO, NULL, 0);
    int rc = vits_lpi_ack(s->d, proto_get32(s->in), proto_get32(s->in + 4));
    return reply(s, h, rc, NULL, 0);
}

static int on_lpi_state(struct server *s, const struct proto_header *h)
{
    uint8_t p[4];
    proto_put32(p, UINT32_MAX);
    if (h->len != 4)
        return reply(s, h, -EPROTO, p, sizeof(p));
    uint32_t vcpu = UINT32_MAX;
    int rc = vits_lpi_state(s->d, proto_get32(s->in), &vcpu);
    proto_put32(p, vcpu);
    return reply(s, h, rc, p, sizeof(p));
}

static int on_its_status(struct server *s, const struct proto_header *h)
{
    if (h->len != 4)
        return reply(s, h, -EPROTO, NULL, 0);
    uint32_t idx = proto_get32(s->in);
    if (idx >= s->nr_its)
        return reply(s, h, -ENODEV, NULL, 0);
    struct vits_cmd_error e;
    uint64_t errors = 0;
    int rc = vits_its_last_error(s->its[idx], &e, &errors);
    uint8_t p[PROTO_STATUS_SIZE];
    proto_put64(p, vits_its_commands(s->its[idx]));
    proto_put64(p + 8, errors);
    proto_put32(p + 16, e.code);
    proto_put32(p + 20, (uint32_t)proto_status_to_wire(e.host_errno));
    proto_put64(p + 24, e.offset);
    for (int i = 0; i < 4; i++)
        proto_put64(p + 32 + 8 * i, e.cmd[i]);
    return reply(s, h, rc, p, sizeof(p));
}

/* ---- migration in place (PROTO_MIGRATE), as harness/migrate.c does it ---- */

/* The ITS registers a KVM-based VMM saves, in its restore order; GITS_CTLR
 * goes last, after the tables. */
static const uint64_t saved_regs[] = {0x04,  0x80,  0x90,  0x88,  0x100, 0x108,
                                      0x110, 0x118, 0x120, 0x128, 0x130, 0x138};
#define NR_SAVED (sizeof(saved_regs) / sizeof(saved_regs[0]))
#define GITS_CTLR_OFF 0x0

static int why(char *buf, size_t n, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int why(char *buf, size_t n, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(buf, n, fmt, ap);
    va_end(ap);
    if (k >= 0 && (size_t)k < n)
        snprintf(buf + k, n - (size_t)k, ": %s", vits_strerror(rc));
    return rc;
}

/* Destroy the domain and its ITSes and create them again, same
 * configuration, same ITS indices. */
static int recreate(struct server *s)
{
    for (unsigned i = 0; i < s->nr_its; i++) {
        vits_its_destroy(s->its[i]);
        s->its[i] = NULL;
    }
    int rc = vits_domain_destroy(s->d);
    if (rc)
        return rc;
    s->d = NULL;
    rc = vits_domain_create(&s->dcfg, &s->ops, s, &s->d);
    for (unsigned i = 0; !rc && i < s->nr_its; i++)
        rc = vits_its_create(s->d, &s->its_cfg[i], &s->its[i]);
    return rc;
}

static int migrate_tables(struct server *s, char *w, size_t n)
{
    struct vits_redist_regs *rd = calloc(s->nr_vcpus, sizeof(*rd));
    uint64_t regs[SERVE_MAX_ITS][NR_SAVED], ctlr[SERVE_MAX_ITS];
    if (!rd)
        return why(w, n, -ENOMEM, "migrate tables: allocation");
    int rc = 0;
    for (uint32_t v = 0; !rc && v < s->nr_vcpus; v++)
        if ((rc = vits_redist_get(s->d, v, &rd[v])))
            why(w, n, rc, "migrate tables: vits_redist_get(%u)", v);
    for (unsigned i = 0; !rc && i < s->nr_its; i++) {
        if ((rc = vits_its_save_tables(s->its[i]))) {
            why(w, n, rc, "migrate tables: vits_its_save_tables (ITS %u)", i);
            break;
        }
        for (size_t r = 0; !rc && r < NR_SAVED; r++)
            if ((rc = vits_its_reg_get(s->its[i], saved_regs[r], &regs[i][r])))
                why(w, n, rc, "migrate tables: vits_its_reg_get(0x%llx)",
                    (unsigned long long)saved_regs[r]);
        if (!rc && (rc = vits_its_reg_get(s->its[i], GITS_CTLR_OFF, &ctlr[i])))
            why(w, n, rc, "migrate tables: vits_its_reg_get(GITS_CTLR)");
    }
    if (!rc && (rc = recreate(s)))
        why(w, n, rc, "migrate tables: creating the new domain");
    for (uint32_t v = 0; !rc && v < s->nr_vcpus; v++)
        if ((rc = vits_redist_set(s->d, v, &rd[v])))
            why(w, n, rc, "migrate tables: vits_redist_set(%u)", v);
    for (unsigned i = 0; !rc && i < s->nr_its; i++) {
        for (size_t r = 0; !rc && r < NR_SAVED; r++)
            if ((rc = vits_its_reg_set(s->its[i], saved_regs[r], regs[i][r])))
                why(w, n, rc, "migrate tables: vits_its_reg_set(0x%llx, 0x%llx)",
                    (unsigned long long)saved_regs[r], (unsigned long long)regs[i][r]);
        if (!rc && (rc = vits_its_restore_tables(s->its[i])))
            why(w, n, rc, "migrate tables: vits_its_restore_tables (ITS %u)", i);
        if (!rc && (rc = vits_its_reg_set(s->its[i], GITS_CTLR_OFF, ctlr[i])))
            why(w, n, rc, "migrate tables: vits_its_reg_set(GITS_CTLR)");
    }
    free(rd);
    return rc;
}

static int migrate_snapshot(struct server *s, char *w, size_t n)
{
    size_t len = 0;
    int rc = vits_domain_save_snapshot(s->d, NULL, 0, &len);
    if (rc != -ENOSPC)
        return why(w, n, rc ? rc : -EIO, "migrate snapshot: asking the size");
    s->snapshot = malloc(len);
    if (!s->snapshot)
        return why(w, n, -ENOMEM, "migrate snapshot: %zu bytes", len);
    size_t got = 0;
    rc = vits_domain_save_snapshot(s->d, s->snapshot, len, &got);
    if (rc)
        why(w, n, rc, "migrate snapshot: vits_domain_save_snapshot");
    if (!rc && (rc = recreate(s)))
        why(w, n, rc, "migrate snapshot: creating the new domain");
    if (!rc && (rc = vits_domain_restore_snapshot(s->d, s->snapshot, got)))
        why(w, n, rc, "migrate snapshot: vits_domain_restore_snapshot");
    free(s->snapshot);
    s->snapshot = NULL;
    return rc;
}

static int on_migrate(struct server *s, const struct proto_header *h)
{
    if (h->len != 4)
        return reply(s, h, -EPROTO, NULL, 0);
    char w[200] = "";
    int rc;
    if (!s->d)
        rc = why(w, sizeof(w), -ENODEV, "migrate: no VM");
    else if (proto_get32(s->in) > 1)
        rc = why(w, sizeof(w), -EINVAL, "migrate: unknown kind %u", proto_get32(s->in));
    else if (proto_get32(s->in))
        rc = migrate_snapshot(s, w, sizeof(w));
    else
        rc = migrate_tables(s, w, sizeof(w));
    say(s, "migration: %s", rc ? w : "done");
    if (rc && !s->d) /* failed after the old domain was destroyed */
        destroy_vm(s);
    return reply(s, h, rc, w, rc ? (uint32_t)strlen(w) : 0);
}

/* One client request in s->in. Returns 0 to go on, 1 after BYE, or a
 * negative errno to end the connection. */
static int dispatch(struct server *s, const struct proto_header *h)
{
    if (h->flags & PROTO_F_REPLY)
        return -EPROTO; /* nothing of ours is in flight */
    if (!s->hello && h->type != PROTO_HELLO) {
        reply(s, h, -EPROTO, NULL, 0);
        return -EPROTO;
    }
    switch (h->type) {
    case PROTO_HELLO:
        return on_hello(s, h);
    case PROTO_CREATE:
        return on_create(s, h);
    case PROTO_ITS_CREATE:
        return on_its_create(s, h);
    case PROTO_MMIO:
        return on_mmio(s, h);
    case PROTO_MSI:
        return on_msi(s, h);
    case PROTO_ACK:
        return on_ack(s, h);
    case PROTO_LPI_STATE:
        return on_lpi_state(s, h);
    case PROTO_ITS_STATUS:
        return on_its_status(s, h);
    case PROTO_SYNC_PENDING:
        return reply(s, h, s->d ? vits_domain_sync_pending(s->d) : -ENODEV, NULL, 0);
    case PROTO_MIGRATE:
        return on_migrate(s, h);
    case PROTO_BYE:
        destroy_vm(s);
        reply(s, h, 0, NULL, 0);
        return 1;
    default:
        return reply(s, h, -ENOSYS, NULL, 0);
    }
}

int serve_connection(int fd, const struct serve_options *o)
{
    static const struct serve_options dflt = {0};
    if (!o)
        o = &dflt;
    struct server *s = calloc(1, sizeof(*s));
    if (s) {
        s->in = malloc(PROTO_MAX_PAYLOAD);
        s->out = malloc(PROTO_MAX_PAYLOAD);
    }
    if (!s || !s->in || !s->out) {
        if (s) {
            free(s->in);
            free(s->out);
        }
        free(s);
        close(fd);
        return -ENOMEM;
    }
    s->fd = fd;
    s->o = o;
    s->log = o->log ? o->log : stderr;
    s->max_data = o->max_data && o->max_data < PROTO_MAX_DATA ? o->max_data : PROTO_MAX_DATA;
    int rc = 0;
    while (!rc) {
        struct proto_header h;
        rc = proto_recv(fd, &h, s->in, PROTO_MAX_PAYLOAD);
        if (!rc)
            rc = dispatch(s, &h);
        if (!rc && s->broken)
            rc = -EPIPE;
    }
    say(s, "connection ends: %s", rc == 1 ? "bye" : vits_strerror(rc));
    destroy_vm(s);
    close(fd);
    free(s->in);
    free(s->out);
    free(s);
    return rc == 1 ? 0 : rc;
}

int serve_socket(const char *path, bool once, const struct serve_options *o)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (!path || strlen(path) >= sizeof(sa.sun_path))
        return -EINVAL;
    strcpy(sa.sun_path, path);
    int lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (lfd < 0)
        return -errno;
    if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) || listen(lfd, 4)) {
        int err = -errno;
        close(lfd);
        return err;
    }
    int rc = 0;
    for (;;) {
        if (o && o->stop && *o->stop)
            break;
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR)
                continue;
            rc = -errno;
            break;
        }
        rc = serve_connection(fd, o);
        if (once)
            break;
        rc = 0;
    }
    close(lfd);
    unlink(path);
    return rc;
}
