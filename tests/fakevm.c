/* SPDX-License-Identifier: MIT */
/* The fake VM shared by the tests; see fakevm.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
/* cmocka needs the above first */
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fakevm.h"

#define PAGE 4096u

struct fv_page {
    uint64_t gpa; /* page-aligned */
    struct fv_page *next;
    uint8_t data[PAGE];
};

static struct fv_page *find_page(const struct fakevm *fv, uint64_t gpa, bool create,
                                 struct fakevm *mut)
{
    uint64_t pg = gpa & ~(uint64_t)(PAGE - 1);
    size_t b = (size_t)((pg / PAGE) * 0x9e3779b97f4a7c15ull >> 40) % fv->nr_buckets;
    for (struct fv_page *p = fv->pages[b]; p; p = p->next)
        if (p->gpa == pg)
            return p;
    if (!create)
        return NULL;
    struct fv_page *p = calloc(1, sizeof(*p));
    assert_non_null(p);
    p->gpa = pg;
    p->next = mut->pages[b];
    mut->pages[b] = p;
    mut->nr_pages++;
    return p;
}

static bool in_hole(const struct fakevm *fv, uint64_t gpa, size_t len)
{
    for (unsigned i = 0; i < fv->nr_holes; i++)
        if (gpa < fv->holes[i].end && gpa + len > fv->holes[i].start)
            return true;
    return false;
}

void fv_write(struct fakevm *fv, uint64_t gpa, const void *buf, size_t len)
{
    const uint8_t *src = buf;
    while (len) {
        size_t off = gpa % PAGE, n = PAGE - off < len ? PAGE - off : len;
        memcpy(find_page(fv, gpa, true, fv)->data + off, src, n);
        gpa += n, src += n, len -= n;
    }
}

void fv_read(struct fakevm *fv, uint64_t gpa, void *buf, size_t len)
{
    uint8_t *dst = buf;
    while (len) {
        size_t off = gpa % PAGE, n = PAGE - off < len ? PAGE - off : len;
        struct fv_page *p = find_page(fv, gpa, false, fv);
        if (p)
            memcpy(dst, p->data + off, n);
        else
            memset(dst, 0, n);
        gpa += n, dst += n, len -= n;
    }
}

void fv_write64(struct fakevm *fv, uint64_t gpa, uint64_t val)
{
    uint8_t b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (uint8_t)(val >> (8 * i));
    fv_write(fv, gpa, b, 8);
}

uint64_t fv_read64(struct fakevm *fv, uint64_t gpa)
{
    uint8_t b[8];
    fv_read(fv, gpa, b, 8);
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)b[i] << (8 * i);
    return v;
}

void fv_copy_ram(struct fakevm *dst, const struct fakevm *src)
{
    for (size_t b = 0; b < src->nr_buckets; b++)
        for (const struct fv_page *p = src->pages[b]; p; p = p->next)
            fv_write(dst, p->gpa, p->data, PAGE);
}

void fv_add_hole(struct fakevm *fv, uint64_t start, uint64_t len)
{
    assert_true(fv->nr_holes < FV_MAX_HOLES);
    fv->holes[fv->nr_holes++] = (struct fv_hole){start, start + len};
}

void fv_set_prop(struct fakevm *fv, uint32_t intid, uint8_t byte)
{
    fv_write(fv, FV_PROP_TABLE + intid - 8192, &byte, 1);
}

/* ---- ops ---- */

static int op_read(void *opaque, uint64_t gpa, void *buf, size_t len)
{
    struct fakevm *fv = opaque;
    if (fv->fail_read_after == 0)
        return -EIO;
    if (fv->fail_read_after > 0)
        fv->fail_read_after--;
    if (in_hole(fv, gpa, len))
        return -EFAULT;
    fv->reads++;
    fv->read_bytes += len;
    fv_read(fv, gpa, buf, len);
    return 0;
}

static int op_write(void *opaque, uint64_t gpa, const void *buf, size_t len)
{
    struct fakevm *fv = opaque;
    if (in_hole(fv, gpa, len))
        return -EFAULT;
    fv->writes++;
    fv_write(fv, gpa, buf, len);
    return 0;
}

static void record(struct fakevm *fv, enum fv_event_kind kind, uint32_t vcpu, uint32_t intid,
                   uint8_t prio)
{
    assert_true(fv->nr_events < FV_MAX_EVENTS);
    fv->events[fv->nr_events++] = (struct fv_event){kind, vcpu, intid, prio};
}

static int op_raise(void *opaque, uint32_t vcpu, uint32_t intid, uint8_t priority)
{
    struct fakevm *fv = opaque;
    assert_true(vcpu < fv->nr_vcpus);
    assert_true(intid >= 8192);
    if (fv->raise_result)
        return fv->raise_result;
    record(fv, FV_RAISE, vcpu, intid, priority);
    return 0;
}

static void op_retract(void *opaque, uint32_t vcpu, uint32_t intid)
{
    struct fakevm *fv = opaque;
    assert_true(vcpu < fv->nr_vcpus);
    record(fv, FV_RETRACT, vcpu, intid, 0);
}

static void op_log(void *opaque, enum vits_log_level level, const char *msg)
{
    struct fakevm *fv = opaque;
    assert_true((unsigned)level < 4);
    fv->log_count[level]++;
    snprintf(fv->last_log, sizeof(fv->last_log), "%s", msg);
    if (getenv("FV_VERBOSE"))
        fprintf(stderr, "[vits %d] %s\n", level, msg);
}

static void *op_alloc(void *opaque, void *ptr, size_t old_size, size_t new_size)
{
    struct fakevm *fv = opaque;
    (void)old_size;
    if (new_size == 0) {
        free(ptr);
        return NULL;
    }
    if (fv->fail_alloc_after == 0)
        return NULL;
    if (fv->fail_alloc_after > 0)
        fv->fail_alloc_after--;
    return realloc(ptr, new_size);
}

struct fakevm *fv_new_cfg(const struct vits_domain_config *dcfg)
{
    struct fakevm *fv = calloc(1, sizeof(*fv));
    assert_non_null(fv);
    fv->nr_buckets = 1024;
    fv->pages = calloc(fv->nr_buckets, sizeof(*fv->pages));
    assert_non_null(fv->pages);
    fv->fail_read_after = -1;
    fv->fail_alloc_after = -1;
    fv->nr_vcpus = dcfg->nr_vcpus;
    fv->ops = (struct vits_ops){.version = VITS_OPS_VERSION,
                                .read_mem = op_read,
                                .write_mem = op_write,
                                .raise = op_raise,
                                .retract = op_retract,
                                .log = op_log,
                                .alloc = op_alloc};
    assert_int_equal(vits_domain_create(dcfg, &fv->ops, fv, &fv->d), 0);
    return fv;
}

struct fakevm *fv_new(uint32_t nr_vcpus)
{
    struct vits_domain_config dcfg;
    vits_domain_config_init(&dcfg, nr_vcpus);
    dcfg.log_level = VITS_LOG_DEBUG;
    dcfg.log_burst = 1000000; /* tests count guest errors */
    return fv_new_cfg(&dcfg);
}

void fv_add_its(struct fakevm *fv, const struct vits_its_config *cfg)
{
    struct vits_its_config def;
    if (!cfg) {
        vits_its_config_init(&def);
        def.base = FV_ITS_BASE;
        cfg = &def;
    }
    assert_int_equal(vits_its_create(fv->d, cfg, &fv->its), 0);
}

void fv_free(struct fakevm *fv)
{
    if (!fv)
        return;
    vits_its_destroy(fv->its);
    assert_int_equal(vits_domain_memory(fv->d) > 0, 1);
    assert_int_equal(vits_domain_destroy(fv->d), 0);
    for (size_t b = 0; b < fv->nr_buckets; b++) {
        struct fv_page *p = fv->pages[b];
        while (p) {
            struct fv_page *n = p->next;
            free(p);
            p = n;
        }
    }
    free(fv->pages);
    free(fv);
}

/* ---- MMIO ---- */

void fv_its_write(struct fakevm *fv, uint64_t off, unsigned size, uint64_t val)
{
    assert_int_equal(vits_its_mmio_write(fv->its, off, size, val), 0);
}

uint64_t fv_its_read(struct fakevm *fv, uint64_t off, unsigned size)
{
    uint64_t v = 0xdeadbeef;
    assert_int_equal(vits_its_mmio_read(fv->its, off, size, &v), 0);
    return v;
}

void fv_gicr_write(struct fakevm *fv, uint32_t vcpu, uint64_t off, unsigned size, uint64_t val)
{
    assert_int_equal(vits_gicr_mmio_write(fv->d, vcpu, off, size, val), 0);
}

uint64_t fv_gicr_read(struct fakevm *fv, uint32_t vcpu, uint64_t off, unsigned size)
{
    uint64_t v = 0xdeadbeef;
    assert_int_equal(vits_gicr_mmio_read(fv->d, vcpu, off, size, &v), 0);
    return v;
}

void fv_boot(struct fakevm *fv)
{
    if (!fv->its)
        fv_add_its(fv, NULL);
    /* every LPI of a 16-bit space: priority 0xa0, group 1, enabled */
    static uint8_t props[65536 - 8192];
    memset(props, 0xa3, sizeof(props));
    fv_write(fv, FV_PROP_TABLE, props, sizeof(props));
    for (uint32_t v = 0; v < fv->nr_vcpus; v++) {
        fv_gicr_write(fv, v, 0x70, 8, FV_PROP_TABLE | 0xf); /* 16 bits */
        fv_gicr_write(fv, v, 0x78, 8, FV_PEND_TABLE(v) | 1ull << 62);
        fv_gicr_write(fv, v, 0x0, 4, 1);
    }
    /* flat tables, one 64 KiB page each (8192 entries), 8-byte entries */
    fv_its_write(fv, 0x100, 8, 1ull << 63 | FV_DEV_TABLE | 2ull << 8);
    fv_its_write(fv, 0x108, 8, 1ull << 63 | FV_COLL_TABLE | 2ull << 8);
    fv_its_write(fv, 0x80, 8, 1ull << 63 | FV_QUEUE | (FV_QUEUE_PAGES - 1));
    fv->cwriter = 0;
    fv_its_write(fv, 0x0, 4, 1);
}

/* ---- commands ---- */

static void clear(uint64_t dw[4], uint8_t cmd)
{
    dw[0] = cmd;
    dw[1] = dw[2] = dw[3] = 0;
}

void fv_cmd_mapd(uint64_t dw[4], uint32_t devid, uint32_t size, uint64_t itt, bool valid)
{
    clear(dw, 0x08);
    dw[0] |= (uint64_t)devid << 32;
    dw[1] = size & 0x1f;
    dw[2] = (itt & (((1ull << 44) - 1) << 8)) | (uint64_t)valid << 63;
}

void fv_cmd_mapc(uint64_t dw[4], uint16_t icid, uint64_t rdbase, bool valid)
{
    clear(dw, 0x09);
    dw[2] = icid | (rdbase & ((1ull << 36) - 1)) << 16 | (uint64_t)valid << 63;
}

void fv_cmd_mapti(uint64_t dw[4], uint32_t devid, uint32_t ev, uint32_t intid, uint16_t icid)
{
    clear(dw, 0x0a);
    dw[0] |= (uint64_t)devid << 32;
    dw[1] = ev | (uint64_t)intid << 32;
    dw[2] = icid;
}

void fv_cmd_mapi(uint64_t dw[4], uint32_t devid, uint32_t ev, uint16_t icid)
{
    clear(dw, 0x0b);
    dw[0] |= (uint64_t)devid << 32;
    dw[1] = ev;
    dw[2] = icid;
}

void fv_cmd_dev_ev(uint64_t dw[4], uint8_t cmd, uint32_t devid, uint32_t ev)
{
    clear(dw, cmd);
    dw[0] |= (uint64_t)devid << 32;
    dw[1] = ev;
}

void fv_cmd_movi(uint64_t dw[4], uint32_t devid, uint32_t ev, uint16_t icid)
{
    fv_cmd_dev_ev(dw, 0x01, devid, ev);
    dw[2] = icid;
}

void fv_cmd_invall(uint64_t dw[4], uint16_t icid)
{
    clear(dw, 0x0d);
    dw[2] = icid;
}

void fv_cmd_movall(uint64_t dw[4], uint64_t rd1, uint64_t rd2)
{
    clear(dw, 0x0e);
    dw[2] = (rd1 & ((1ull << 36) - 1)) << 16;
    dw[3] = (rd2 & ((1ull << 36) - 1)) << 16;
}

void fv_cmd_sync(uint64_t dw[4], uint64_t rdbase)
{
    clear(dw, 0x05);
    dw[2] = (rdbase & ((1ull << 36) - 1)) << 16;
}

static uint64_t queue_base(struct fakevm *fv)
{
    return (fv_its_read(fv, 0x80, 8) & (((1ull << 40) - 1) << 12));
}

static uint64_t queue_size(struct fakevm *fv)
{
    return ((fv_its_read(fv, 0x80, 8) & 0xff) + 1) * 4096;
}

void fv_queue(struct fakevm *fv, const uint64_t dw[4])
{
    for (int i = 0; i < 4; i++)
        fv_write64(fv, queue_base(fv) + fv->cwriter + 8 * (uint64_t)i, dw[i]);
    fv->cwriter = (fv->cwriter + 32) % queue_size(fv);
}

void fv_kick(struct fakevm *fv) { fv_its_write(fv, 0x88, 8, fv->cwriter); }

void fv_kick_retry(struct fakevm *fv) { fv_its_write(fv, 0x88, 8, fv->cwriter | 1); }

void fv_submit(struct fakevm *fv, const uint64_t dw[4])
{
    fv_queue(fv, dw);
    fv_kick(fv);
}

uint64_t fv_map_device(struct fakevm *fv, uint32_t devid, uint32_t bits, uint32_t n,
                       uint32_t first_intid, uint16_t icid)
{
    uint64_t before = fv_error_count(fv);
    uint64_t dw[4];
    fv_cmd_mapd(dw, devid, bits - 1, FV_ITT(devid), true);
    fv_submit(fv, dw);
    for (uint32_t e = 0; e < n; e++) {
        fv_cmd_mapti(dw, devid, e, first_intid + e, icid);
        fv_submit(fv, dw);
    }
    return fv_error_count(fv) - before;
}

void fv_map_collection(struct fakevm *fv, uint16_t icid, uint32_t vcpu)
{
    fv_mapc(fv, icid, vcpu, true);
}

uint32_t fv_last_error(struct fakevm *fv)
{
    struct vits_cmd_error e;
    int rc = vits_its_last_error(fv->its, &e, NULL);
    assert_true(rc >= 0);
    return rc ? e.code : 0;
}

uint64_t fv_error_count(struct fakevm *fv)
{
    uint64_t n = 0;
    assert_true(vits_its_last_error(fv->its, NULL, &n) >= 0);
    return n;
}

void fv_clear_events(struct fakevm *fv) { fv->nr_events = 0; }

unsigned fv_count(const struct fakevm *fv, enum fv_event_kind kind, uint32_t vcpu, uint32_t intid)
{
    unsigned n = 0;
    for (unsigned i = 0; i < fv->nr_events; i++)
        if (fv->events[i].kind == kind && fv->events[i].vcpu == vcpu &&
            fv->events[i].intid == intid)
            n++;
    return n;
}

unsigned fv_count_kind(const struct fakevm *fv, enum fv_event_kind kind)
{
    unsigned n = 0;
    for (unsigned i = 0; i < fv->nr_events; i++)
        n += fv->events[i].kind == kind;
    return n;
}

bool fv_pending(struct fakevm *fv, uint32_t intid, uint32_t *vcpu)
{
    int rc = vits_lpi_state(fv->d, intid, vcpu);
    assert_true(rc >= 0);
    return rc == 1;
}

bool fv_mapped(struct fakevm *fv, uint32_t intid)
{
    int rc = vits_lpi_state(fv->d, intid, NULL);
    assert_true(rc == 0 || rc == 1 || rc == -ENOENT);
    return rc != -ENOENT;
}

void fv_mapti(struct fakevm *fv, uint32_t devid, uint32_t ev, uint32_t intid, uint16_t icid)
{
    uint64_t dw[4];
    fv_cmd_mapti(dw, devid, ev, intid, icid);
    fv_submit(fv, dw);
}

void fv_mapc(struct fakevm *fv, uint16_t icid, uint64_t rdbase, bool valid)
{
    uint64_t dw[4];
    fv_cmd_mapc(dw, icid, rdbase, valid);
    fv_submit(fv, dw);
}
