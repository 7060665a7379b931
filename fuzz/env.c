/* SPDX-License-Identifier: MIT */
/* The fuzz target's environment; see env.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "env.h"
#include "script.h"

#define PAGE 4096u
#define NR_PAGES (FZ_RAM_SIZE / PAGE)

struct env fz_env;

static uint8_t ram[FZ_RAM_SIZE];
/* Pages written since the last reset, so a reset zeroes only those. */
static uint16_t dirty[NR_PAGES];
static uint8_t dirty_map[NR_PAGES];
static unsigned nr_dirty;

/* Every block carries its size, so frees can be checked against it. */
struct blk {
    size_t size;
    size_t magic;
};
#define BLK_MAGIC ((size_t)0x76697473616c6c63ull)

void fz_fail(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "vits-fuzz: invariant failed: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    fflush(stderr);
    abort();
}

int env_access(uint64_t gpa, size_t len, bool write)
{
    if (gpa < FZ_RAM_BASE || gpa - FZ_RAM_BASE > FZ_RAM_SIZE ||
        len > FZ_RAM_SIZE - (gpa - FZ_RAM_BASE))
        return -EFAULT;
    for (unsigned i = 0; i < ENV_MAX_HOLES; i++) {
        const struct env_hole *h = &fz_env.holes[i];
        if (!(h->flags & (write ? ENV_HOLE_W : ENV_HOLE_R)))
            continue;
        if (gpa < h->end && gpa + len > h->start)
            return (h->flags & ENV_HOLE_EIO) ? -EIO : -EFAULT;
    }
    return 0;
}

void env_peek(uint64_t gpa, void *buf, size_t len)
{
    uint8_t *dst = buf;
    for (size_t i = 0; i < len; i++) {
        uint64_t a = gpa + i;
        dst[i] = (a >= FZ_RAM_BASE && a - FZ_RAM_BASE < FZ_RAM_SIZE) ? ram[a - FZ_RAM_BASE] : 0;
    }
}

void env_poke(uint64_t gpa, const void *buf, size_t len)
{
    const uint8_t *src = buf;
    for (size_t i = 0; i < len; i++) {
        uint64_t a = gpa + i;
        if (a < FZ_RAM_BASE || a - FZ_RAM_BASE >= FZ_RAM_SIZE)
            continue;
        uint64_t off = a - FZ_RAM_BASE;
        unsigned pg = (unsigned)(off / PAGE);
        if (!dirty_map[pg]) {
            dirty_map[pg] = 1;
            dirty[nr_dirty++] = (uint16_t)pg;
        }
        ram[off] = src[i];
    }
}

int env_raised_find(uint32_t intid)
{
    for (unsigned i = 0; i < fz_env.nr_raised; i++)
        if (fz_env.raised[i].intid == intid)
            return (int)i;
    return -1;
}

/* ---- the ops table ---- */

static int op_read(void *opaque, uint64_t gpa, void *buf, size_t len)
{
    (void)opaque;
    if (!buf || len == 0)
        fz_fail("read_mem called with buf %p, len %zu", buf, len);
    int rc = env_access(gpa, len, false);
    if (rc)
        return rc;
    env_peek(gpa, buf, len);
    return 0;
}

static int op_write(void *opaque, uint64_t gpa, const void *buf, size_t len)
{
    (void)opaque;
    if (!buf || len == 0)
        fz_fail("write_mem called with buf %p, len %zu", (const void *)buf, len);
    if (fz_env.any_writes) {
        int rc = env_access(gpa, len, true);
        if (!rc)
            env_poke(gpa, buf, len);
        return rc;
    }
    if (!fz_env.log_writes)
        fz_fail("engine wrote guest memory at 0x%llx (%zu bytes) where it should not",
                (unsigned long long)gpa, len);
    if (fz_env.nr_writes < ENV_MAX_WRITES)
        fz_env.writes[fz_env.nr_writes++] = (struct env_write){gpa, len};
    else
        fz_env.writes_overflow = true;
    int rc = env_access(gpa, len, true);
    if (rc)
        return rc;
    env_poke(gpa, buf, len);
    return 0;
}

static int op_raise(void *opaque, uint32_t vcpu, uint32_t intid, uint8_t priority)
{
    (void)opaque;
    if (vcpu >= fz_env.nr_vcpus)
        fz_fail("raise of LPI %u on vCPU %u: no such vCPU", intid, vcpu);
    if (intid < 8192 || intid >= (1u << fz_env.lpi_id_bits))
        fz_fail("raise of INTID %u: not an LPI of this domain", intid);
    if (priority & 3)
        fz_fail("raise of LPI %u with priority 0x%x: bits [1:0] set", intid, priority);
    int i = env_raised_find(intid);
    if (i >= 0)
        fz_fail("LPI %u raised on vCPU %u while still raised on vCPU %u (no ack or retract)", intid,
                vcpu, fz_env.raised[i].vcpu);
    if (fz_env.raise_fail)
        return -EBUSY;
    if (fz_env.nr_raised == ENV_MAX_RAISED)
        fz_fail("more than %u LPIs raised at once", ENV_MAX_RAISED);
    fz_env.raised[fz_env.nr_raised++] = (struct env_raised){intid, (uint16_t)vcpu, priority};
    return 0;
}

static void op_retract(void *opaque, uint32_t vcpu, uint32_t intid)
{
    (void)opaque;
    int i = env_raised_find(intid);
    if (i < 0)
        fz_fail("retract of LPI %u on vCPU %u, which is not raised", intid, vcpu);
    if (fz_env.raised[i].vcpu != vcpu)
        fz_fail("retract of LPI %u on vCPU %u, but it is raised on vCPU %u", intid, vcpu,
                fz_env.raised[i].vcpu);
    fz_env.raised[i] = fz_env.raised[--fz_env.nr_raised];
}

static void op_log(void *opaque, enum vits_log_level level, const char *msg)
{
    (void)opaque;
    if ((unsigned)level > VITS_LOG_DEBUG || !msg || strlen(msg) >= 256)
        fz_fail("log callback: bad level %d or message", (int)level);
    if (fz_env.verbose)
        fprintf(stderr, "[vits %d] %s\n", (int)level, msg);
}

static void *op_alloc(void *opaque, void *ptr, size_t old_size, size_t new_size)
{
    (void)opaque;
    struct blk *b = ptr ? (struct blk *)ptr - 1 : NULL;
    if (b && (b->magic != BLK_MAGIC || b->size != old_size))
        fz_fail("alloc: block %p freed or resized with size %zu, allocated with %zu", ptr, old_size,
                b->magic == BLK_MAGIC ? b->size : (size_t)0);
    if (new_size == 0) {
        if (b) {
            fz_env.live_bytes -= b->size;
            fz_env.live_blocks--;
            b->magic = 0;
            free(b);
        }
        return NULL;
    }
    bool fail = fz_env.alloc_fail;
    if (fz_env.alloc_countdown == 0) {
        fail = true;
        fz_env.alloc_countdown = -1;
    } else if (fz_env.alloc_countdown > 0) {
        fz_env.alloc_countdown--;
    }
    if (fail) {
        fz_env.alloc_failures++;
        return NULL;
    }
    struct blk *n = realloc(b, sizeof(*n) + new_size);
    if (!n)
        fz_fail("host out of memory (%zu bytes)", new_size);
    if (!b)
        fz_env.live_blocks++;
    else
        fz_env.live_bytes -= old_size;
    n->size = new_size;
    n->magic = BLK_MAGIC;
    fz_env.live_bytes += new_size;
    return n + 1;
}

void env_reset(uint32_t nr_vcpus, uint32_t lpi_id_bits, bool with_log)
{
    for (unsigned i = 0; i < nr_dirty; i++) {
        memset(ram + (size_t)dirty[i] * PAGE, 0, PAGE);
        dirty_map[dirty[i]] = 0;
    }
    nr_dirty = 0;
    bool verbose = getenv("VITS_FUZZ_VERBOSE") != NULL;
    memset(&fz_env, 0, sizeof(fz_env));
    fz_env.alloc_countdown = -1;
    fz_env.nr_vcpus = nr_vcpus;
    fz_env.lpi_id_bits = lpi_id_bits;
    fz_env.verbose = verbose;
    fz_env.ops = (struct vits_ops){.version = VITS_OPS_VERSION,
                                   .read_mem = op_read,
                                   .write_mem = op_write,
                                   .raise = op_raise,
                                   .retract = op_retract,
                                   .log = with_log ? op_log : NULL,
                                   .alloc = op_alloc};
}
