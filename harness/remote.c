/* SPDX-License-Identifier: MIT */
/*
 * The wire protocol of docs/protocol.md (framing, byte order, status
 * numbering, payload encodings) and its VMM-side client. See remote.h.
 *
 * The client sends one request and then reads messages until the reply
 * with that request's id arrives, serving on the way every request the
 * server makes (MEM_READ, MEM_WRITE, RAISE) through the VMM's ops table
 * and delivering its notifications (RETRACT, LOG). Nothing is read
 * between two requests: the server speaks only while a request of the
 * client is in flight.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "remote.h"

/* ------------------------------------------------------------------ */
/* Status numbering                                                    */
/* ------------------------------------------------------------------ */

/* errnos that travel, with their Linux numbers */
static const struct {
    int local;
    int32_t wire;
} errnos[] = {
    {ENOENT, 2},  {EIO, 5},       {EAGAIN, 11},          {ENOMEM, 12},
    {EFAULT, 14}, {EBUSY, 16},    {EEXIST, 17},          {ENODEV, 19},
    {EINVAL, 22}, {ENOSPC, 28},   {EPIPE, 32},           {ENOSYS, 38},
    {EPROTO, 71}, {EMSGSIZE, 90}, {EPROTONOSUPPORT, 93}, {EALREADY, 114},
};

int32_t proto_status_to_wire(int status)
{
    if (status >= 0)
        return status;
    for (size_t i = 0; i < sizeof(errnos) / sizeof(errnos[0]); i++)
        if (errnos[i].local == -status)
            return -errnos[i].wire;
    return -5; /* EIO */
}

int proto_status_from_wire(int32_t wire)
{
    if (wire >= 0)
        return wire;
    for (size_t i = 0; i < sizeof(errnos) / sizeof(errnos[0]); i++)
        if (errnos[i].wire == -(int64_t)wire)
            return -errnos[i].local;
    return -EIO;
}

/* ------------------------------------------------------------------ */
/* Framing                                                             */
/* ------------------------------------------------------------------ */

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return w < 0 && errno != EPIPE && errno != ECONNRESET ? -EIO : -EPIPE;
        p += w, n -= (size_t)w;
    }
    return 0;
}

static int read_all(int fd, uint8_t *p, size_t n)
{
    while (n) {
        ssize_t r = recv(fd, p, n, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r == 0 || (r < 0 && errno == ECONNRESET))
            return -EPIPE;
        if (r < 0)
            return -EIO;
        p += r, n -= (size_t)r;
    }
    return 0;
}

int proto_send(int fd, const struct proto_header *h, const void *payload)
{
    uint8_t hdr[PROTO_HEADER];
    proto_put16(hdr, h->type);
    proto_put16(hdr + 2, h->flags);
    proto_put32(hdr + 4, h->id);
    proto_put32(hdr + 8, h->len);
    proto_put32(hdr + 12, (uint32_t)proto_status_to_wire(h->status));
    int rc = write_all(fd, hdr, sizeof(hdr));
    if (!rc && h->len)
        rc = write_all(fd, payload, h->len);
    return rc;
}

int proto_recv(int fd, struct proto_header *h, uint8_t *buf, size_t cap)
{
    uint8_t hdr[PROTO_HEADER];
    int rc = read_all(fd, hdr, sizeof(hdr));
    if (rc)
        return rc;
    h->type = proto_get16(hdr);
    h->flags = proto_get16(hdr + 2);
    h->id = proto_get32(hdr + 4);
    h->len = proto_get32(hdr + 8);
    h->status = proto_status_from_wire((int32_t)proto_get32(hdr + 12));
    if (h->len > PROTO_MAX_PAYLOAD || h->len > cap)
        return -EPROTO;
    return h->len ? read_all(fd, buf, h->len) : 0;
}

/* ------------------------------------------------------------------ */
/* Payloads                                                            */
/* ------------------------------------------------------------------ */

void proto_put_ioreq(uint8_t *p, const struct vits_ioreq *r)
{
    proto_put64(p, r->addr);
    proto_put64(p + 8, r->data);
    proto_put32(p + 16, r->size);
    proto_put32(p + 20, r->dir);
    proto_put32(p + 24, r->vcpu);
    proto_put32(p + 28, r->devid);
    proto_put32(p + 32, r->flags);
    proto_put32(p + 36, (uint32_t)proto_status_to_wire(r->result));
}

void proto_get_ioreq(const uint8_t *p, struct vits_ioreq *r)
{
    r->addr = proto_get64(p);
    r->data = proto_get64(p + 8);
    r->size = proto_get32(p + 16);
    r->dir = proto_get32(p + 20);
    r->vcpu = proto_get32(p + 24);
    r->devid = proto_get32(p + 28);
    r->flags = proto_get32(p + 32);
    r->result = proto_status_from_wire((int32_t)proto_get32(p + 36));
}

void proto_put_dcfg(uint8_t *p, const struct vits_domain_config *c, uint32_t max_access)
{
    proto_put32(p, c->nr_vcpus);
    proto_put32(p + 4, c->lpi_id_bits);
    proto_put64(p + 8, c->redist_base);
    proto_put64(p + 16, c->redist_stride);
    proto_put32(p + 24, c->log_rate);
    proto_put32(p + 28, c->log_burst);
    proto_put32(p + 32, (uint32_t)c->log_level);
    proto_put32(p + 36, max_access);
}

void proto_get_dcfg(const uint8_t *p, struct vits_domain_config *c, uint32_t *max_access)
{
    memset(c, 0, sizeof(*c));
    c->nr_vcpus = proto_get32(p);
    c->lpi_id_bits = proto_get32(p + 4);
    c->redist_base = proto_get64(p + 8);
    c->redist_stride = proto_get64(p + 16);
    c->log_rate = proto_get32(p + 24);
    c->log_burst = proto_get32(p + 28);
    uint32_t level = proto_get32(p + 32);
    /* vits_domain_create rejects anything beyond VITS_LOG_DEBUG; keep an
     * out-of-range value out of range without converting it into the
     * enum (whose range is only the four levels). */
    c->log_level = level <= VITS_LOG_DEBUG ? (enum vits_log_level)level : (enum vits_log_level)4;
    *max_access = proto_get32(p + 36);
}

void proto_put_icfg(uint8_t *p, const struct vits_its_config *c)
{
    proto_put64(p, c->base);
    proto_put32(p + 8, c->device_id_bits);
    proto_put32(p + 12, c->event_id_bits);
    proto_put32(p + 16, c->collection_id_bits);
    proto_put32(p + 20, c->pta);
    proto_put32(p + 24, (uint32_t)c->error_policy);
    proto_put32(p + 28, c->iidr_revision);
    proto_put32(p + 32, c->max_devices);
    proto_put32(p + 36, c->max_events);
    proto_put32(p + 40, c->max_collections);
    proto_put32(p + 44, c->max_batch);
}

void proto_get_icfg(const uint8_t *p, struct vits_its_config *c)
{
    memset(c, 0, sizeof(*c));
    c->base = proto_get64(p);
    c->device_id_bits = proto_get32(p + 8);
    c->event_id_bits = proto_get32(p + 12);
    c->collection_id_bits = proto_get32(p + 16);
    c->pta = proto_get32(p + 20);
    uint32_t pol = proto_get32(p + 24);
    c->error_policy = pol <= VITS_ERRORS_STALL ? (enum vits_error_policy)pol
                                               : (enum vits_error_policy)2; /* rejected */
    c->iidr_revision = proto_get32(p + 28);
    c->max_devices = proto_get32(p + 32);
    c->max_events = proto_get32(p + 36);
    c->max_collections = proto_get32(p + 40);
    c->max_batch = proto_get32(p + 44);
}

/* ------------------------------------------------------------------ */
/* The client                                                          */
/* ------------------------------------------------------------------ */

struct remote {
    int fd;
    const struct vits_ops *ops;
    void *opaque;
    uint32_t max_data;
    pthread_mutex_t lock;
    uint32_t next_id;
    bool broken; /* the stream failed or cannot be trusted: every call fails */
    struct remote_stats st;
    uint8_t *in, *out; /* PROTO_MAX_PAYLOAD each */
};

static int reply(struct remote *c, const struct proto_header *req, int status, const void *p,
                 uint32_t len)
{
    struct proto_header h = {
        .type = req->type, .flags = PROTO_F_REPLY, .id = req->id, .len = len, .status = status};
    return proto_send(c->fd, &h, p);
}

/* A request or notification from the server, in c->in. Needs c->lock.
 * Returns 0, or a transport error. */
static int serve_server(struct remote *c, const struct proto_header *h)
{
    const uint8_t *p = c->in;
    switch (h->type) {
    case PROTO_MEM_READ: {
        if (h->len != 16)
            return reply(c, h, -EPROTO, NULL, 0);
        uint64_t gpa = proto_get64(p);
        uint32_t len = proto_get32(p + 8);
        if (len > c->max_data)
            return reply(c, h, -EMSGSIZE, NULL, 0);
        int rc = c->ops->read_mem(c->opaque, gpa, c->out, len);
        c->st.mem_reads++;
        c->st.mem_read_bytes += len;
        return reply(c, h, rc, c->out, rc ? 0 : len);
    }
    case PROTO_MEM_WRITE: {
        if (h->len < 16)
            return reply(c, h, -EPROTO, NULL, 0);
        uint64_t gpa = proto_get64(p);
        uint32_t len = proto_get32(p + 8);
        if (len > c->max_data || h->len != 16 + len)
            return reply(c, h, -EMSGSIZE, NULL, 0);
        int rc = c->ops->write_mem(c->opaque, gpa, p + 16, len);
        c->st.mem_writes++;
        c->st.mem_write_bytes += len;
        return reply(c, h, rc, NULL, 0);
    }
    case PROTO_RAISE: {
        if (h->len != 12)
            return reply(c, h, -EPROTO, NULL, 0);
        c->st.raises++;
        int rc = c->ops->raise(c->opaque, proto_get32(p), proto_get32(p + 4),
                               (uint8_t)proto_get32(p + 8));
        return reply(c, h, rc, NULL, 0);
    }
    case PROTO_RETRACT:
        if (h->len == 8 && c->ops->retract)
            c->ops->retract(c->opaque, proto_get32(p), proto_get32(p + 4));
        c->st.retracts++;
        return 0;
    case PROTO_LOG:
        if (h->len >= 4 && c->ops->log) {
            char msg[512];
            size_t n = h->len - 4 < sizeof(msg) - 1 ? h->len - 4 : sizeof(msg) - 1;
            memcpy(msg, p + 4, n);
            msg[n] = 0;
            uint32_t level = proto_get32(p);
            c->ops->log(c->opaque,
                        level <= VITS_LOG_DEBUG ? (enum vits_log_level)level : VITS_LOG_DEBUG, msg);
        }
        c->st.logs++;
        return 0;
    default:
        return reply(c, h, -ENOSYS, NULL, 0);
    }
}

/*
 * Send a request of type with payload p (len bytes) and wait for its
 * reply, serving the server meanwhile. The reply's status goes to
 * *status and its payload to rp (at most rcap bytes; *rlen its length,
 * may be NULL). Returns 0, or a transport error (then the connection is
 * broken for good).
 */
static int call(struct remote *c, uint16_t type, const void *p, uint32_t len, void *rp,
                uint32_t rcap, uint32_t *rlen, int *status)
{
    if (!c)
        return -EINVAL;
    pthread_mutex_lock(&c->lock);
    int rc = c->broken ? -EPIPE : 0;
    struct proto_header h = {.type = type, .id = ++c->next_id, .len = len};
    if (!rc) {
        c->st.requests++;
        rc = proto_send(c->fd, &h, p);
    }
    while (!rc) {
        struct proto_header in;
        rc = proto_recv(c->fd, &in, c->in, PROTO_MAX_PAYLOAD);
        if (rc)
            break;
        if (!(in.flags & PROTO_F_REPLY)) {
            rc = serve_server(c, &in);
            continue;
        }
        if (in.id != h.id || in.type != type || in.len > rcap) {
            rc = -EPROTO; /* one request in flight: any other reply is wrong */
            break;
        }
        if (in.len)
            memcpy(rp, c->in, in.len);
        if (rlen)
            *rlen = in.len;
        *status = in.status;
        pthread_mutex_unlock(&c->lock);
        return 0;
    }
    c->broken = true;
    pthread_mutex_unlock(&c->lock);
    return rc;
}

/* A call whose reply carries no payload: its status or a transport error. */
static int call0(struct remote *c, uint16_t type, const void *p, uint32_t len)
{
    int st;
    int rc = call(c, type, p, len, NULL, 0, NULL, &st);
    return rc ? rc : st;
}

int remote_open(int fd, const struct vits_ops *ops, void *opaque, uint32_t max_data,
                struct remote **out)
{
    if (out)
        *out = NULL;
    if (fd < 0 || !ops || !ops->read_mem || !ops->write_mem || !ops->raise || !out) {
        if (fd >= 0)
            close(fd);
        return -EINVAL;
    }
    struct remote *c = calloc(1, sizeof(*c));
    if (c) {
        c->in = malloc(PROTO_MAX_PAYLOAD);
        c->out = malloc(PROTO_MAX_PAYLOAD);
    }
    if (!c || !c->in || !c->out) {
        if (c) {
            free(c->in);
            free(c->out);
        }
        free(c);
        close(fd);
        return -ENOMEM;
    }
    c->fd = fd;
    c->ops = ops;
    c->opaque = opaque;
    c->max_data = max_data && max_data < PROTO_MAX_DATA ? max_data : PROTO_MAX_DATA;
    pthread_mutex_init(&c->lock, NULL);
    uint8_t hello[8], back[8];
    proto_put32(hello, PROTO_VERSION);
    proto_put32(hello + 4, c->max_data);
    uint32_t n = 0;
    int st = 0;
    int rc = call(c, PROTO_HELLO, hello, sizeof(hello), back, sizeof(back), &n, &st);
    if (!rc)
        rc = st;
    if (!rc && (n != 8 || proto_get32(back) != PROTO_VERSION))
        rc = -EPROTONOSUPPORT;
    if (!rc) {
        uint32_t agreed = proto_get32(back + 4);
        if (agreed && agreed < c->max_data)
            c->max_data = agreed;
        *out = c;
        return 0;
    }
    close(fd);
    pthread_mutex_destroy(&c->lock);
    free(c->in);
    free(c->out);
    free(c);
    return rc;
}

void remote_close(struct remote *c)
{
    if (!c)
        return;
    call0(c, PROTO_BYE, NULL, 0);
    close(c->fd);
    pthread_mutex_destroy(&c->lock);
    free(c->in);
    free(c->out);
    free(c);
}

int remote_create(struct remote *c, const struct vits_domain_config *cfg, uint32_t max_access)
{
    if (!cfg)
        return -EINVAL;
    uint8_t p[PROTO_DCFG_SIZE];
    proto_put_dcfg(p, cfg, max_access);
    return call0(c, PROTO_CREATE, p, sizeof(p));
}

int remote_its_create(struct remote *c, const struct vits_its_config *cfg)
{
    if (!cfg)
        return -EINVAL;
    uint8_t p[PROTO_ICFG_SIZE];
    proto_put_icfg(p, cfg);
    return call0(c, PROTO_ITS_CREATE, p, sizeof(p));
}

int remote_mmio(struct remote *c, struct vits_ioreq *req)
{
    if (!req)
        return -EINVAL;
    uint8_t p[PROTO_IOREQ_SIZE], back[8];
    proto_put_ioreq(p, req);
    uint32_t n = 0;
    int st;
    int rc = call(c, PROTO_MMIO, p, sizeof(p), back, sizeof(back), &n, &st);
    if (rc)
        return rc;
    if (n != 8)
        return -EPROTO;
    if (req->dir == VITS_IOREQ_READ)
        req->data = proto_get64(back);
    req->result = st;
    return st;
}

int remote_msi(struct remote *c, uint64_t doorbell, uint32_t devid, uint32_t eventid)
{
    uint8_t p[16];
    proto_put64(p, doorbell);
    proto_put32(p + 8, devid);
    proto_put32(p + 12, eventid);
    return call0(c, PROTO_MSI, p, sizeof(p));
}

int remote_ack(struct remote *c, uint32_t vcpu, uint32_t intid)
{
    uint8_t p[8];
    proto_put32(p, vcpu);
    proto_put32(p + 4, intid);
    return call0(c, PROTO_ACK, p, sizeof(p));
}

int remote_lpi_state(struct remote *c, uint32_t intid, uint32_t *vcpu)
{
    uint8_t p[4], back[4];
    proto_put32(p, intid);
    uint32_t n = 0;
    int st;
    int rc = call(c, PROTO_LPI_STATE, p, sizeof(p), back, sizeof(back), &n, &st);
    if (rc)
        return rc;
    if (n != 4)
        return -EPROTO;
    if (st >= 0 && vcpu)
        *vcpu = proto_get32(back);
    return st;
}

int remote_its_status(struct remote *c, uint32_t its, struct vits_cmd_error *err, uint64_t *errors,
                      uint64_t *commands)
{
    uint8_t p[4], b[PROTO_STATUS_SIZE];
    proto_put32(p, its);
    uint32_t n = 0;
    int st;
    int rc = call(c, PROTO_ITS_STATUS, p, sizeof(p), b, sizeof(b), &n, &st);
    if (rc)
        return rc;
    if (st < 0)
        return st;
    if (n != PROTO_STATUS_SIZE)
        return -EPROTO;
    if (commands)
        *commands = proto_get64(b);
    if (errors)
        *errors = proto_get64(b + 8);
    if (err) {
        err->code = proto_get32(b + 16);
        err->host_errno = proto_status_from_wire((int32_t)proto_get32(b + 20));
        err->offset = proto_get64(b + 24);
        for (int i = 0; i < 4; i++)
            err->cmd[i] = proto_get64(b + 32 + 8 * i);
    }
    return st;
}

int remote_sync_pending(struct remote *c) { return call0(c, PROTO_SYNC_PENDING, NULL, 0); }

int remote_migrate(struct remote *c, bool snapshot, char *why, size_t n)
{
    uint8_t p[4], back[256];
    proto_put32(p, snapshot ? 1 : 0);
    uint32_t len = 0;
    int st;
    int rc = call(c, PROTO_MIGRATE, p, sizeof(p), back, sizeof(back), &len, &st);
    if (why && n) {
        size_t k = rc ? 0 : len < n - 1 ? len : n - 1;
        memcpy(why, back, k);
        why[k] = 0;
        if (rc)
            snprintf(why, n, "migrate: the connection failed");
    }
    return rc ? rc : st;
}

void remote_stats(struct remote *c, struct remote_stats *st)
{
    pthread_mutex_lock(&c->lock);
    *st = c->st;
    pthread_mutex_unlock(&c->lock);
}

/* ------------------------------------------------------------------ */
/* Reaching a server                                                   */
/* ------------------------------------------------------------------ */

int remote_dial(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (!path || strlen(path) >= sizeof(sa.sun_path))
        return -EINVAL;
    strcpy(sa.sun_path, path);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0)
        return -errno;
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
        int err = -errno;
        close(fd);
        return err;
    }
    return fd;
}

int remote_spawn(const char *exe, const struct serve_options *o, pid_t *pid)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
        return -errno;
    fflush(stdout);
    fflush(stderr);
    pid_t child = fork();
    if (child < 0) {
        int err = -errno;
        close(sv[0]);
        close(sv[1]);
        return err;
    }
    if (child == 0) {
        close(sv[0]);
        if (exe) {
            char fd[16], max[16];
            snprintf(fd, sizeof(fd), "%d", sv[1]);
            snprintf(max, sizeof(max), "%u", o && o->max_data ? o->max_data : PROTO_MAX_DATA);
            if (o && o->verbose)
                execl(exe, "vits-sim", "serve", "--fd", fd, "--max-data", max, "--verbose",
                      (char *)NULL);
            else
                execl(exe, "vits-sim", "serve", "--fd", fd, "--max-data", max, (char *)NULL);
        }
        _exit(serve_connection(sv[1], o) ? 1 : 0);
    }
    close(sv[1]);
    *pid = child;
    return sv[0];
}
