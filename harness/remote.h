/* SPDX-License-Identifier: MIT */
/*
 * vits out of process: the wire protocol (docs/protocol.md) between a
 * VMM-side client, which owns guest memory and the vGIC, and a server
 * (`vits-sim serve`, harness/serve.c) that runs vits in its own process
 * and reaches guest memory only through messages on the socket.
 *
 * The client side here looks like the vits calls it stands for: a VMM
 * gives remote_open() the same ops table and opaque pointer it would give
 * vits_domain_create(), and the client calls them when the server asks:
 * read_mem / write_mem for MEM_READ / MEM_WRITE, raise, retract and log
 * for RAISE, RETRACT and LOG. It answers those while it waits for the
 * reply to its own request, so a command batch that reads guest memory
 * while the server holds the domain lock cannot deadlock.
 *
 * Threads: a connection carries one client request at a time; the client
 * serialises its callers with a mutex, held across the wait (the ops
 * callbacks run under it and must not call the client again, just as
 * vits callbacks must not call vits).
 */
#ifndef VITS_HARNESS_REMOTE_H
#define VITS_HARNESS_REMOTE_H

#include <stdbool.h>
#include <stddef.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "vits.h"

/* ---- the wire (docs/protocol.md) ---- */

#define PROTO_VERSION 1u
#define PROTO_HEADER 16u
/* Guest-memory bytes one MEM_READ or MEM_WRITE may carry, at most. */
#define PROTO_MAX_DATA 65536u
/* Largest payload of any message. */
#define PROTO_MAX_PAYLOAD (PROTO_MAX_DATA + 16u)

/* header.flags */
#define PROTO_F_REPLY 1u

enum proto_type {
    /* client -> server: requests, each answered by a reply */
    PROTO_HELLO = 1,
    PROTO_CREATE = 2,
    PROTO_ITS_CREATE = 3,
    PROTO_MMIO = 4,
    PROTO_MSI = 5,
    PROTO_ACK = 6,
    PROTO_LPI_STATE = 7,
    PROTO_ITS_STATUS = 8,
    PROTO_SYNC_PENDING = 9,
    PROTO_BYE = 10,
    PROTO_MIGRATE = 11,
    /* server -> client: requests (answered) and notifications (not) */
    PROTO_MEM_READ = 32,
    PROTO_MEM_WRITE = 33,
    PROTO_RAISE = 34,
    PROTO_RETRACT = 35, /* notification */
    PROTO_LOG = 36,     /* notification */
};

struct proto_header {
    uint16_t type;
    uint16_t flags;
    uint32_t id;
    uint32_t len;
    int32_t status; /* replies: result or negative errno (host numbering) */
};

/* Little-endian fields. */
static inline void proto_put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static inline void proto_put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static inline void proto_put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint16_t proto_get16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static inline uint32_t proto_get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t proto_get64(const uint8_t *p)
{
    return (uint64_t)proto_get32(p) | (uint64_t)proto_get32(p + 4) << 32;
}

/* Status values on the wire: 0 and positive results as they are,
 * errnos as Linux numbers them (so hosts that number them otherwise
 * still agree). Unknown errnos travel as EIO. */
int32_t proto_status_to_wire(int status);
int proto_status_from_wire(int32_t wire);

/* Send one message (header + payload) on a stream socket; returns 0 or
 * -EPIPE / -EIO. */
int proto_send(int fd, const struct proto_header *h, const void *payload);
/* Receive one message: the header, and its payload into buf (cap bytes,
 * at least PROTO_MAX_PAYLOAD). Returns 0, -EPIPE (end of stream), -EIO,
 * or -EPROTO (a length beyond PROTO_MAX_PAYLOAD: the stream cannot be
 * trusted any more). */
int proto_recv(int fd, struct proto_header *h, uint8_t *buf, size_t cap);

/* Encoding of the payloads that both sides decode (docs/protocol.md). */
#define PROTO_IOREQ_SIZE 40u
void proto_put_ioreq(uint8_t *p, const struct vits_ioreq *r);
void proto_get_ioreq(const uint8_t *p, struct vits_ioreq *r);
#define PROTO_DCFG_SIZE 40u
void proto_put_dcfg(uint8_t *p, const struct vits_domain_config *c, uint32_t max_access);
void proto_get_dcfg(const uint8_t *p, struct vits_domain_config *c, uint32_t *max_access);
#define PROTO_ICFG_SIZE 48u
void proto_put_icfg(uint8_t *p, const struct vits_its_config *c);
void proto_get_icfg(const uint8_t *p, struct vits_its_config *c);
#define PROTO_STATUS_SIZE 64u

/* ---- the client ---- */

struct remote;

/* Counters of a connection (both directions). */
struct remote_stats {
    uint64_t requests;              /* client requests sent */
    uint64_t mem_reads, mem_writes; /* server requests answered */
    uint64_t mem_read_bytes, mem_write_bytes;
    uint64_t raises, retracts, logs;
};

/*
 * Open a connection on fd (a connected stream socket; the connection
 * owns it from now on, and closes it in remote_close, even on failure):
 * say HELLO. ops and opaque serve the server's requests and must outlive
 * the connection. max_data bounds a guest-memory message (0: the
 * protocol's PROTO_MAX_DATA).
 *
 * Returns 0 and sets *out, or -EINVAL, -ENOMEM, -EPROTONOSUPPORT (the
 * server speaks another version), or a transport error.
 */
int remote_open(int fd, const struct vits_ops *ops, void *opaque, uint32_t max_data,
                struct remote **out);
/* BYE (the server destroys its domain and ends), close, free. */
void remote_close(struct remote *c);

/* The calls below return what the vits call they stand for returns, or a
 * transport error (-EPIPE when the server is gone, -EPROTO for a
 * malformed reply). */

/* vits_domain_create on the server; max_access as ops->max_access
 * (0: up to the connection's max_data). */
int remote_create(struct remote *c, const struct vits_domain_config *cfg, uint32_t max_access);
/* vits_its_create; returns the ITS's index (0, 1, ...) on the server. */
int remote_its_create(struct remote *c, const struct vits_its_config *cfg);
/* vits_ioreq_serve (req->data and req->result set). */
int remote_mmio(struct remote *c, struct vits_ioreq *req);
/* vits_domain_signal_msi: 1 delivered, 0 blocked. */
int remote_msi(struct remote *c, uint64_t doorbell, uint32_t devid, uint32_t eventid);
int remote_ack(struct remote *c, uint32_t vcpu, uint32_t intid);
int remote_lpi_state(struct remote *c, uint32_t intid, uint32_t *vcpu);
/* vits_its_last_error (err, errors may be NULL) and vits_its_commands. */
int remote_its_status(struct remote *c, uint32_t its, struct vits_cmd_error *err, uint64_t *errors,
                      uint64_t *commands);
int remote_sync_pending(struct remote *c);
/*
 * Migrate the server's VM in place, the way harness/migrate.c migrates
 * one in process: save (KVM's tables into guest memory, through the
 * client, or a snapshot the server keeps), destroy the domain and its
 * ITSes, create them again with the same configuration, restore. Returns
 * 0 or the failing step's negative errno, described in why (n bytes).
 */
int remote_migrate(struct remote *c, bool snapshot, char *why, size_t n);
void remote_stats(struct remote *c, struct remote_stats *st);

/* A connected socket to a server listening at the Unix socket path, or a
 * negative errno. */
int remote_dial(const char *path);

struct serve_options;
/*
 * Start a server in a child process, on one end of a socketpair: runs
 * `exe serve --fd N` (exe: the vits-sim binary, e.g. "/proc/self/exe"),
 * or, with exe NULL or when the exec fails, serve_connection(o) in the
 * forked child. Returns the client's end (*pid: the child), or a
 * negative errno. The caller reaps the child after remote_close.
 */
int remote_spawn(const char *exe, const struct serve_options *o, pid_t *pid);

/* ---- the server (harness/serve.c) ---- */

struct serve_options {
    FILE *log;         /* where the server reports (NULL: stderr) */
    bool verbose;      /* report every connection and vits' log lines */
    uint32_t max_data; /* the server's bound on guest-memory messages (0: PROTO_MAX_DATA) */
    /* serve_socket stops waiting for clients once *stop is set (by a
     * signal handler; NULL: never). */
    volatile sig_atomic_t *stop;
};

/*
 * Serve one client on fd (a connected stream socket, closed on return)
 * until it says BYE or goes away. The client's domain and ITSes live
 * only as long as the connection.
 *
 * Returns 0 after a BYE, or a negative errno: -EPIPE (the client went
 * away without BYE), -EPROTO (a malformed stream), -EIO.
 */
int serve_connection(int fd, const struct serve_options *o);

/* Listen on a Unix socket at path (which must not exist) and serve
 * clients one after another, each with a fresh VM; with once, only the
 * first. Removes path on return. Returns 0, or a negative errno (the
 * socket could not be set up; with once, what serve_connection says). */
int serve_socket(const char *path, bool once, const struct serve_options *o);

#endif
