/* SPDX-License-Identifier: MIT */
/*
 * The embedder-facing contract of vits.h: argument and configuration
 * checks of the create functions, NULL handling, allocation failures,
 * the accessors, versions and error names. (That the shared library
 * exports exactly the functions of vits.h is checked by the "exports"
 * test, tests/check_exports.cmake.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "fakevm.h"

/* Something that is not NULL, to see that a failing create clears *out. */
#define SENTINEL_DOMAIN ((struct vits_domain *)(uintptr_t)0x1000)
#define SENTINEL_ITS ((struct vits_its *)(uintptr_t)0x1000)

static void default_dcfg(struct vits_domain_config *c) { vits_domain_config_init(c, 2); }

/* vits_domain_create with fv's ops and a modified config or ops; checks
 * that a failure leaves *out NULL and returns the result. */
static int try_domain(struct fakevm *fv, const struct vits_domain_config *cfg,
                      const struct vits_ops *ops)
{
    struct vits_domain *d = SENTINEL_DOMAIN;
    int rc = vits_domain_create(cfg, ops, fv, &d);
    if (rc) {
        assert_null(d);
    } else {
        assert_non_null(d);
        assert_int_equal(vits_domain_destroy(d), 0);
    }
    return rc;
}

/* vits_its_create on fv's domain; checks that a failure leaves *out NULL
 * and the domain's memory as it was. */
static int try_its(struct fakevm *fv, const struct vits_its_config *cfg)
{
    size_t mem = vits_domain_memory(fv->d);
    struct vits_its *its = SENTINEL_ITS;
    int rc = vits_its_create(fv->d, cfg, &its);
    if (rc) {
        assert_null(its);
        assert_int_equal(vits_domain_memory(fv->d), mem);
    } else {
        assert_non_null(its);
        vits_its_destroy(its);
        assert_int_equal(vits_domain_memory(fv->d), mem);
    }
    return rc;
}

/* ------------------------------------------------------------------ */
/* vits_domain_create                                                  */
/* ------------------------------------------------------------------ */

static void domain_create_rejects_null_arguments(void **state)
{
    (void)state;
    struct fakevm *fv = fv_new(1);
    struct vits_domain_config cfg;
    default_dcfg(&cfg);
    /* *out is set to NULL on every failure */
    struct vits_domain *d = (struct vits_domain *)&cfg;
    assert_int_equal(vits_domain_create(NULL, &fv->ops, fv, &d), -EINVAL);
    assert_null(d);
    d = (struct vits_domain *)&cfg;
    assert_int_equal(vits_domain_create(&cfg, NULL, fv, &d), -EINVAL);
    assert_null(d);
    assert_int_equal(vits_domain_create(&cfg, &fv->ops, fv, NULL), -EINVAL);
    /* a NULL opaque pointer is the embedder's business (the fake VM's
     * callbacks need theirs, so leave out those that could be called) */
    struct vits_ops ops = fv->ops;
    ops.alloc = NULL;
    ops.log = NULL;
    assert_int_equal(try_domain(NULL, &cfg, &ops), 0);
    fv_free(fv);
}

static void domain_create_rejects_unknown_ops_version(void **state)
{
    (void)state;
    struct fakevm *fv = fv_new(1);
    struct vits_domain_config cfg;
    default_dcfg(&cfg);
    struct vits_ops ops = fv->ops;
    ops.version = 0;
    assert_int_equal(try_domain(fv, &cfg, &ops), -EINVAL);
    ops.version = VITS_OPS_VERSION + 1;
    assert_int_equal(try_domain(fv, &cfg, &ops), -EINVAL);
    ops.version = UINT32_MAX;
    assert_int_equal(try_domain(fv, &cfg, &ops), -EINVAL);
    ops.version = VITS_OPS_VERSION;
    assert_int_equal(try_domain(fv, &cfg, &ops), 0);
    fv_free(fv);
}

static void domain_create_rejects_missing_required_callbacks(void **state)
{
    (void)state;
    struct fakevm *fv = fv_new(1);
    struct vits_domain_config cfg;
    default_dcfg(&cfg);
    struct vits_ops ops = fv->ops;
    ops.read_mem = NULL;
    assert_int_equal(try_domain(fv, &cfg, &ops), -EINVAL);
    ops = fv->ops;
    ops.write_mem = NULL;
    assert_int_equal(try_domain(fv, &cfg, &ops), -EINVAL);
    ops = fv->ops;
    ops.raise = NULL;
    assert_int_equal(try_domain(fv, &cfg, &ops), -EINVAL);
    fv_free(fv);
}

static void domain_create_rejects_each_out_of_range_config_field(void **state)
{
    (void)state;
    struct fakevm *fv = fv_new(1);
    struct vits_domain_config cfg;

    default_dcfg(&cfg);
    cfg.nr_vcpus = 0;
    assert_int_equal(try_domain(fv, &cfg, &fv->ops), -EINVAL);
    cfg.nr_vcpus = 4097;
    assert_int_equal(try_domain(fv, &cfg, &fv->ops), -EINVAL);

    default_dcfg(&cfg);
    cfg.lpi_id_bits = 13;
    assert_int_equal(try_domain(fv, &cfg, &fv->ops), -EINVAL);
    cfg.lpi_id_bits = 25;
    assert_int_equal(try_domain(fv, &cfg, &fv->ops), -EINVAL);
    cfg.lpi_id_bits = 0;
    assert_int_equal(try_domain(fv, &cfg, &fv->ops), -EINVAL);

    default_dcfg(&cfg);
    cfg.redist_base = 0x080a1000; /* not 64 KiB aligned */
    assert_int_equal(try_domain(fv, &cfg, &fv->ops), -EINVAL);
    cfg.redist_base = 0x080a0001;
    assert_int_equal(try_domain(fv, &cfg, &fv->ops), -EINVAL);

    default_dcfg(&cfg);
    cfg.redist_stride = 0x18000;
    assert_int_equal(try_domain(fv, &cfg, &fv->ops), -EINVAL);
    cfg.redist_stride = 0;
    assert_int_equal(try_domain(fv, &cfg, &fv->ops), -EINVAL);
    fv_free(fv);
}

static void domain_create_accepts_the_range_boundaries(void **state)
{
    (void)state;
    struct fakevm *fv = fv_new(1);
    struct vits_domain_config cfg;
    default_dcfg(&cfg);
    cfg.nr_vcpus = 1;
    assert_int_equal(try_domain(fv, &cfg, &fv->ops), 0);
    cfg.nr_vcpus = 4096;
    assert_int_equal(try_domain(fv, &cfg, &fv->ops), 0);
    default_dcfg(&cfg);
    cfg.lpi_id_bits = 14;
    assert_int_equal(try_domain(fv, &cfg, &fv->ops), 0);
    cfg.lpi_id_bits = 24;
    assert_int_equal(try_domain(fv, &cfg, &fv->ops), 0);
    default_dcfg(&cfg);
    cfg.redist_base = 0;
    cfg.redist_stride = 0x10000;
    assert_int_equal(try_domain(fv, &cfg, &fv->ops), 0);
    fv_free(fv);
}

static void domain_without_optional_callbacks_works_end_to_end(void **state)
{
    (void)state;
    struct fakevm *fv = fv_new(2);
    /* replace the domain by one without retract, log and alloc */
    assert_int_equal(vits_domain_destroy(fv->d), 0);
    fv->ops.retract = NULL;
    fv->ops.log = NULL;
    fv->ops.alloc = NULL;
    struct vits_domain_config cfg;
    vits_domain_config_init(&cfg, 2);
    cfg.log_level = VITS_LOG_DEBUG;
    assert_int_equal(vits_domain_create(&cfg, &fv->ops, fv, &fv->d), 0);
    fv->fail_alloc_after = 0; /* the fake allocator is not used */
    memset(fv->log_count, 0, sizeof(fv->log_count));
    assert_true(vits_domain_memory(fv->d) > 0);

    fv_boot(fv);
    fv_map_collection(fv, 0, 1);
    assert_int_equal(fv_map_device(fv, 3, 2, 4, 8192, 0), 0);
    assert_int_equal(vits_its_signal_msi(fv->its, 3, 2), 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 1, 8194), 1);
    /* an error that would be logged, and a discard that would retract */
    uint64_t dw[4];
    fv_cmd_dev_ev(dw, 0x03, 99, 0); /* INT on an unmapped device */
    fv_submit(fv, dw);
    assert_int_equal(fv_last_error(fv), VITS_E_INT_UNMAPPED_DEVICE);
    fv_cmd_dev_ev(dw, 0x0f, 3, 2); /* DISCARD */
    fv_submit(fv, dw);
    assert_int_equal(vits_lpi_state(fv->d, 8194, NULL), -ENOENT);
    assert_int_equal(fv_count_kind(fv, FV_RETRACT), 0);
    assert_int_equal(fv->log_count[VITS_LOG_GUEST] + fv->log_count[VITS_LOG_ERROR] +
                         fv->log_count[VITS_LOG_INFO] + fv->log_count[VITS_LOG_DEBUG],
                     0);
    fv_free(fv);
}

/* An allocator that counts live blocks and bytes, passing the calls (and
 * the failures fv->fail_alloc_after injects) to the fake VM's. */
struct counting {
    struct fakevm *fv;
    long blocks;
    long bytes;
};

static int cnt_read(void *opaque, uint64_t gpa, void *buf, size_t len)
{
    struct counting *c = opaque;
    return c->fv->ops.read_mem(c->fv, gpa, buf, len);
}

static int cnt_write(void *opaque, uint64_t gpa, const void *buf, size_t len)
{
    struct counting *c = opaque;
    return c->fv->ops.write_mem(c->fv, gpa, buf, len);
}

static int cnt_raise(void *opaque, uint32_t vcpu, uint32_t intid, uint8_t priority)
{
    struct counting *c = opaque;
    return c->fv->ops.raise(c->fv, vcpu, intid, priority);
}

static void *cnt_alloc(void *opaque, void *ptr, size_t old_size, size_t new_size)
{
    struct counting *c = opaque;
    void *n = c->fv->ops.alloc(c->fv, ptr, old_size, new_size);
    if (new_size == 0) {
        c->blocks--;
        c->bytes -= (long)old_size;
    } else if (n) {
        c->blocks += ptr == NULL;
        c->bytes += (long)new_size - (long)old_size;
    }
    return n;
}

static void domain_create_fails_with_enomem_at_each_allocation_without_leaking(void **state)
{
    (void)state;
    struct fakevm *fv = fv_new(1);
    struct counting c = {.fv = fv};
    const struct vits_ops ops = {.version = VITS_OPS_VERSION,
                                 .read_mem = cnt_read,
                                 .write_mem = cnt_write,
                                 .raise = cnt_raise,
                                 .alloc = cnt_alloc};
    struct vits_domain_config cfg;
    default_dcfg(&cfg);
    long n;
    for (n = 0;; n++) {
        assert_true(n < 100);
        fv->fail_alloc_after = n;
        struct vits_domain *d = SENTINEL_DOMAIN;
        int rc = vits_domain_create(&cfg, &ops, &c, &d);
        fv->fail_alloc_after = -1;
        if (rc == 0) {
            assert_non_null(d);
            assert_int_equal(vits_domain_memory(d), (size_t)c.bytes);
            assert_int_equal(vits_domain_destroy(d), 0);
            break;
        }
        assert_int_equal(rc, -ENOMEM);
        assert_null(d);
        assert_int_equal(c.blocks, 0);
        assert_int_equal(c.bytes, 0);
    }
    assert_true(n > 0);
    assert_int_equal(c.blocks, 0);
    assert_int_equal(c.bytes, 0);
    fv_free(fv);
}

/* ------------------------------------------------------------------ */
/* vits_its_create and destruction                                     */
/* ------------------------------------------------------------------ */

static void its_create_rejects_null_arguments(void **state)
{
    (void)state;
    struct fakevm *fv = fv_new(1);
    struct vits_its_config cfg;
    vits_its_config_init(&cfg);
    /* *out is set to NULL on every failure */
    struct vits_its *its = (struct vits_its *)&cfg;
    assert_int_equal(vits_its_create(NULL, &cfg, &its), -EINVAL);
    assert_null(its);
    its = (struct vits_its *)&cfg;
    assert_int_equal(vits_its_create(fv->d, NULL, &its), -EINVAL);
    assert_null(its);
    assert_int_equal(vits_its_create(fv->d, &cfg, NULL), -EINVAL);
    assert_int_equal(try_its(fv, &cfg), 0);
    fv_free(fv);
}

static void its_create_rejects_each_out_of_range_config_field(void **state)
{
    (void)state;
    struct fakevm *fv = fv_new(1);
    struct vits_its_config cfg;
#define BAD(field, value)                                                                          \
    do {                                                                                           \
        vits_its_config_init(&cfg);                                                                \
        cfg.field = value;                                                                         \
        assert_int_equal(try_its(fv, &cfg), -EINVAL);                                              \
    } while (0)
    BAD(base, 0x08081000);
    BAD(base, 0x08080008);
    BAD(base, UINT64_MAX & ~0xffffull); /* the frame would wrap */
    BAD(device_id_bits, 0);
    BAD(device_id_bits, 33);
    BAD(event_id_bits, 0);
    BAD(event_id_bits, 17);
    BAD(collection_id_bits, 0);
    BAD(collection_id_bits, 17);
    BAD(pta, 2);
    BAD(iidr_revision, 16);
    BAD(error_policy, (enum vits_error_policy)2);
    BAD(max_batch, 0);
#undef BAD
    /* and the boundaries are accepted */
    vits_its_config_init(&cfg);
    cfg.device_id_bits = 32;
    cfg.event_id_bits = 1;
    cfg.collection_id_bits = 1;
    cfg.pta = 1;
    cfg.iidr_revision = 15;
    cfg.error_policy = VITS_ERRORS_STALL;
    cfg.max_batch = 1;
    assert_int_equal(try_its(fv, &cfg), 0);
    vits_its_config_init(&cfg);
    cfg.device_id_bits = 1;
    cfg.event_id_bits = 16;
    cfg.collection_id_bits = 16;
    cfg.base = 0;
    assert_int_equal(try_its(fv, &cfg), 0);
    fv_free(fv);
}

static void its_create_with_an_overlapping_frame_fails_with_eexist(void **state)
{
    (void)state;
    struct fakevm *fv = fv_new(1);
    fv_add_its(fv, NULL); /* at FV_ITS_BASE, 0x20000 bytes */
    struct vits_its_config cfg;
    vits_its_config_init(&cfg);
    static const uint64_t overlapping[] = {FV_ITS_BASE, FV_ITS_BASE + 0x10000,
                                           FV_ITS_BASE - 0x10000};
    for (size_t i = 0; i < sizeof(overlapping) / sizeof(overlapping[0]); i++) {
        cfg.base = overlapping[i];
        assert_int_equal(try_its(fv, &cfg), -EEXIST);
    }
    /* adjacent frames do not overlap */
    cfg.base = FV_ITS_BASE + 0x20000;
    assert_int_equal(try_its(fv, &cfg), 0);
    cfg.base = FV_ITS_BASE - 0x20000;
    assert_int_equal(try_its(fv, &cfg), 0);
    fv_free(fv);
}

static void its_create_beyond_255_its_fails_with_enospc(void **state)
{
    (void)state;
    struct fakevm *fv = fv_new(1);
    size_t mem0 = vits_domain_memory(fv->d);
    struct vits_its *its[255];
    struct vits_its_config cfg;
    vits_its_config_init(&cfg);
    cfg.collection_id_bits = 1;
    cfg.max_batch = 1;
    for (unsigned i = 0; i < 255; i++) {
        cfg.base = 0x10000000ull + (uint64_t)i * VITS_ITS_FRAME_SIZE;
        assert_int_equal(vits_its_create(fv->d, &cfg, &its[i]), 0);
        assert_ptr_equal(vits_its_domain(its[i]), fv->d);
    }
    cfg.base = 0x10000000ull + 255ull * VITS_ITS_FRAME_SIZE;
    assert_int_equal(try_its(fv, &cfg), -ENOSPC);
    /* a freed slot can be taken again */
    vits_its_destroy(its[100]);
    assert_int_equal(vits_its_create(fv->d, &cfg, &its[100]), 0);
    assert_int_equal(try_its(fv, &cfg), -EEXIST);
    cfg.base += VITS_ITS_FRAME_SIZE;
    assert_int_equal(try_its(fv, &cfg), -ENOSPC);
    assert_int_equal(vits_domain_destroy(fv->d), -EBUSY);
    for (unsigned i = 0; i < 255; i++)
        vits_its_destroy(its[i]);
    assert_int_equal(vits_domain_memory(fv->d), mem0);
    fv_free(fv);
}

static void domain_destroy_is_ebusy_while_an_its_is_attached(void **state)
{
    (void)state;
    struct fakevm *fv = fv_new(1);
    fv_boot(fv);
    fv_map_collection(fv, 0, 0);
    assert_int_equal(fv_map_device(fv, 1, 1, 2, 8192, 0), 0);
    size_t mem = vits_domain_memory(fv->d);
    assert_int_equal(vits_domain_destroy(fv->d), -EBUSY);
    /* nothing was freed: the domain and its ITS still work */
    assert_int_equal(vits_domain_memory(fv->d), mem);
    assert_int_equal(vits_its_signal_msi(fv->its, 1, 1), 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 0, 8193), 1);
    vits_its_destroy(fv->its);
    fv->its = NULL;
    assert_int_equal(vits_domain_destroy(fv->d), 0);
    /* fv_free needs a domain: give it a fresh one */
    struct vits_domain_config cfg;
    vits_domain_config_init(&cfg, 1);
    assert_int_equal(vits_domain_create(&cfg, &fv->ops, fv, &fv->d), 0);
    fv_free(fv);
}

static void destroy_functions_and_accessors_accept_null(void **state)
{
    (void)state;
    assert_int_equal(vits_domain_destroy(NULL), 0);
    vits_its_destroy(NULL);
    assert_null(vits_domain_opaque(NULL));
    assert_int_equal(vits_domain_memory(NULL), 0);
    assert_null(vits_its_domain(NULL));
    assert_int_equal(vits_its_commands(NULL), 0);
    assert_int_equal(vits_its_last_error(NULL, NULL, NULL), -EINVAL);
    assert_int_equal(vits_its_signal_msi(NULL, 0, 0), -EINVAL);
    assert_int_equal(vits_lpi_ack(NULL, 0, 8192), -EINVAL);
    assert_int_equal(vits_lpi_state(NULL, 8192, NULL), -EINVAL);
    assert_int_equal(vits_domain_sync_pending(NULL), -EINVAL);
    vits_domain_config_init(NULL, 1);
    vits_its_config_init(NULL);
}

static void its_create_fails_with_enomem_at_each_allocation_without_leaking(void **state)
{
    (void)state;
    struct fakevm *fv = fv_new(1);
    size_t mem0 = vits_domain_memory(fv->d);
    struct vits_its_config cfg;
    vits_its_config_init(&cfg);
    cfg.base = FV_ITS_BASE;
    long n;
    for (n = 0;; n++) {
        assert_true(n < 100);
        fv->fail_alloc_after = n;
        struct vits_its *its = SENTINEL_ITS;
        int rc = vits_its_create(fv->d, &cfg, &its);
        fv->fail_alloc_after = -1;
        if (rc == 0) {
            fv->its = its;
            break;
        }
        assert_int_equal(rc, -ENOMEM);
        assert_null(its);
        assert_int_equal(vits_domain_memory(fv->d), mem0);
    }
    assert_true(n > 0);
    assert_true(vits_domain_memory(fv->d) > mem0);
    /* the ITS that finally came up works */
    fv_boot(fv);
    fv_map_collection(fv, 0, 0);
    assert_int_equal(fv_map_device(fv, 0, 1, 1, 8192, 0), 0);
    assert_int_equal(vits_its_signal_msi(fv->its, 0, 0), 1);
    vits_its_destroy(fv->its);
    fv->its = NULL;
    assert_int_equal(vits_domain_memory(fv->d), mem0);
    fv_free(fv);
}

/* ------------------------------------------------------------------ */
/* Accessors                                                           */
/* ------------------------------------------------------------------ */

static void accessors_return_the_creation_arguments(void **state)
{
    (void)state;
    struct fakevm *fv = fv_new(1);
    fv_add_its(fv, NULL);
    assert_ptr_equal(vits_domain_opaque(fv->d), fv);
    assert_ptr_equal(vits_its_domain(fv->its), fv->d);
    int token;
    struct vits_domain_config cfg;
    vits_domain_config_init(&cfg, 1);
    struct vits_ops ops = fv->ops; /* none of these callbacks may run */
    ops.alloc = NULL;
    ops.log = NULL;
    struct vits_domain *d;
    assert_int_equal(vits_domain_create(&cfg, &ops, &token, &d), 0);
    assert_ptr_equal(vits_domain_opaque(d), &token);
    assert_int_equal(vits_domain_destroy(d), 0);
    fv_free(fv);
}

static void domain_memory_grows_with_mappings_and_shrinks_back_when_unmapped(void **state)
{
    (void)state;
    struct fakevm *fv = fv_new(2);
    size_t bare = vits_domain_memory(fv->d);
    assert_true(bare > 0);
    fv_add_its(fv, NULL);
    assert_true(vits_domain_memory(fv->d) > bare);
    fv_boot(fv);
    fv_map_collection(fv, 0, 0);
    /* a first device sizes the device hash; measure from there */
    assert_int_equal(fv_map_device(fv, 1, 1, 1, 8192, 0), 0);
    size_t base = vits_domain_memory(fv->d);

    assert_int_equal(fv_map_device(fv, 2, 8, 100, 9000, 0), 0);
    size_t mapped = vits_domain_memory(fv->d);
    assert_true(mapped > base);
    assert_int_equal(fv_map_device(fv, 3, 8, 200, 10000, 0), 0);
    assert_true(vits_domain_memory(fv->d) > mapped);

    uint64_t dw[4];
    fv_cmd_mapd(dw, 3, 7, FV_ITT(3), false);
    fv_submit(fv, dw);
    assert_int_equal(vits_domain_memory(fv->d), mapped);
    for (uint32_t e = 0; e < 100; e++) {
        fv_cmd_dev_ev(dw, 0x0f, 2, e); /* DISCARD */
        fv_submit(fv, dw);
    }
    fv_cmd_mapd(dw, 2, 7, FV_ITT(2), false);
    fv_submit(fv, dw);
    assert_int_equal(fv_error_count(fv), 0);
    assert_int_equal(vits_domain_memory(fv->d), base);

    vits_its_destroy(fv->its);
    fv->its = NULL;
    assert_int_equal(vits_domain_memory(fv->d), bare);
    fv_free(fv);
}

/* The device hash outlives its devices (MSIs read it without a read-side
 * section): emptied, reset or refilled, an ITS keeps at most its arrays,
 * grows them no further for as many devices again, and frees them all
 * when it is destroyed. */
static void device_hash_memory_is_kept_bounded_and_freed_with_the_its(void **state)
{
    (void)state;
    struct fakevm *fv = fv_new(2);
    size_t bare = vits_domain_memory(fv->d);
    fv_add_its(fv, NULL);
    size_t created = vits_domain_memory(fv->d);
    fv_boot(fv);
    fv_map_collection(fv, 0, 0);
    enum { NDEV = 100 };
    uint64_t dw[4];
    size_t full = 0, empty = 0;
    for (int round = 0; round < 3; round++) {
        for (uint32_t i = 0; i < NDEV; i++)
            assert_int_equal(fv_map_device(fv, 1000 + i * 7, 1, 1, 8192 + i, 0), 0);
        if (round == 0)
            full = vits_domain_memory(fv->d);
        assert_int_equal(vits_domain_memory(fv->d), full);
        assert_int_equal(vits_its_signal_msi(fv->its, 1000 + 7 * 42, 0), 1);
        assert_int_equal(vits_lpi_ack(fv->d, 0, 8192 + 42), 0);
        if (round == 1) {
            assert_int_equal(vits_its_reset(fv->its), 0);
            fv_boot(fv); /* the guest sets its ITS up again */
            fv_map_collection(fv, 0, 0);
        } else {
            for (uint32_t i = 0; i < NDEV; i++) {
                fv_cmd_mapd(dw, 1000 + i * 7, 0, 0, false);
                fv_submit(fv, dw);
            }
        }
        size_t now = vits_domain_memory(fv->d);
        if (round == 0)
            empty = now;
        assert_int_equal(now, empty);
        /* Less than 4 slots of 32 bytes a device, current and retired
         * arrays together, plus their headers. */
        assert_true(now > created && now - created <= NDEV * 256u + 512u);
        assert_int_equal(vits_its_signal_msi(fv->its, 1000 + 7 * 42, 0), 0);
    }
    assert_int_equal(fv_error_count(fv), 0);
    vits_its_destroy(fv->its);
    fv->its = NULL;
    assert_int_equal(vits_domain_memory(fv->d), bare);
    fv_free(fv);
}

/* ------------------------------------------------------------------ */
/* Version and error names                                             */
/* ------------------------------------------------------------------ */

static void version_matches_the_header_macros(void **state)
{
    (void)state;
    assert_int_equal(vits_version(),
                     VITS_VERSION_MAJOR << 16 | VITS_VERSION_MINOR << 8 | VITS_VERSION_PATCH);
    char s[32];
    snprintf(s, sizeof(s), "%d.%d.%d", VITS_VERSION_MAJOR, VITS_VERSION_MINOR, VITS_VERSION_PATCH);
    assert_string_equal(s, VITS_VERSION_STRING);
}

static void strerror_names_every_documented_errno(void **state)
{
    (void)state;
    /* every negative errno vits.h documents, and those the memory
     * callbacks pass through */
    static const int errs[] = {-EINVAL, -ENOMEM, -ENOENT, -EBUSY, -EEXIST, -ENOSPC, -EFAULT, -EIO};
    const size_t n = sizeof(errs) / sizeof(errs[0]);
    const char *unknown = vits_strerror(-12345);
    assert_non_null(unknown);
    assert_non_null(vits_strerror(0));
    assert_string_not_equal(vits_strerror(0), unknown);
    for (size_t i = 0; i < n; i++) {
        const char *s = vits_strerror(errs[i]);
        assert_non_null(s);
        assert_true(strlen(s) > 0);
        assert_string_not_equal(s, unknown);
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(s, vits_strerror(errs[j]));
    }
}

static void strerror_names_every_command_error(void **state)
{
    (void)state;
    static const int codes[] = {
        VITS_E_MOVI_COLLECTION_OOR,
        VITS_E_MOVI_UNMAPPED_DEVICE,
        VITS_E_MOVI_EVENT_OOR,
        VITS_E_MOVI_UNMAPPED_INTERRUPT,
        VITS_E_MOVI_UNMAPPED_COLLECTION,
        VITS_E_INT_UNMAPPED_DEVICE,
        VITS_E_INT_EVENT_OOR,
        VITS_E_INT_UNMAPPED_INTERRUPT,
        VITS_E_INT_UNMAPPED_COLLECTION,
        VITS_E_CLEAR_UNMAPPED_DEVICE,
        VITS_E_CLEAR_EVENT_OOR,
        VITS_E_CLEAR_UNMAPPED_INTERRUPT,
        VITS_E_CLEAR_UNMAPPED_COLLECTION,
        VITS_E_MAPD_DEVICE_OOR,
        VITS_E_MAPD_ITTSIZE_OOR,
        VITS_E_MAPC_PROCNUM_OOR,
        VITS_E_MAPC_COLLECTION_OOR,
        VITS_E_MAPTI_COLLECTION_OOR,
        VITS_E_MAPTI_UNMAPPED_DEVICE,
        VITS_E_MAPTI_ID_OOR,
        VITS_E_MAPTI_PHYSICALID_OOR,
        VITS_E_MAPI_COLLECTION_OOR,
        VITS_E_MAPI_UNMAPPED_DEVICE,
        VITS_E_MAPI_ID_OOR,
        VITS_E_MAPI_PHYSICALID_OOR,
        VITS_E_INV_UNMAPPED_DEVICE,
        VITS_E_INV_EVENT_OOR,
        VITS_E_INV_UNMAPPED_INTERRUPT,
        VITS_E_INV_UNMAPPED_COLLECTION,
        VITS_E_INVALL_COLLECTION_OOR,
        VITS_E_INVALL_UNMAPPED_COLLECTION,
        VITS_E_MOVALL_PROCNUM_OOR,
        VITS_E_DISCARD_UNMAPPED_DEVICE,
        VITS_E_DISCARD_EVENT_OOR,
        VITS_E_DISCARD_UNMAPPED_INTERRUPT,
        (int)VITS_E_UNKNOWN_COMMAND(0x20),
    };
    /* what vits says of numbers that are not vits errors */
    const char *unknown = vits_strerror(0x7fffffff);
    const char *unknown_kind = vits_strerror(0x0101ee);
    assert_non_null(unknown);
    assert_non_null(unknown_kind);
    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
        const char *s = vits_strerror(codes[i]);
        assert_non_null(s);
        assert_true(strlen(s) > 0);
        assert_string_not_equal(s, unknown);
        assert_string_not_equal(s, unknown_kind);
        /* command errors are not confused with errnos */
        assert_string_not_equal(s, vits_strerror(-EINVAL));
        /* each names its command and kind: no two are alike */
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(s, vits_strerror(codes[j]));
    }
    assert_non_null(strstr(vits_strerror(VITS_E_MAPTI_UNMAPPED_DEVICE), "MAPTI"));
    assert_non_null(strstr(vits_strerror(VITS_E_CLEAR_UNMAPPED_INTERRUPT), "CLEAR"));
}

static void unknown_command_error_number_follows_the_01ccee_pattern(void **state)
{
    (void)state;
    assert_int_equal(VITS_E_UNKNOWN_COMMAND(0x20), 0x0120ff);
    assert_int_equal(VITS_E_UNKNOWN_COMMAND(0x00), 0x0100ff);
    assert_int_equal(VITS_E_UNKNOWN_COMMAND(0xff), 0x01ffff);
    /* only the low 8 bits of the command number count */
    assert_int_equal(VITS_E_UNKNOWN_COMMAND(0x120), 0x0120ff);
    /* and the engine reports it for an unknown command */
    struct fakevm *fv = fv_new(1);
    fv_boot(fv);
    uint64_t dw[4] = {0x20, 0, 0, 0};
    fv_submit(fv, dw);
    assert_int_equal(fv_last_error(fv), VITS_E_UNKNOWN_COMMAND(0x20));
    fv_free(fv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(domain_create_rejects_null_arguments),
        cmocka_unit_test(domain_create_rejects_unknown_ops_version),
        cmocka_unit_test(domain_create_rejects_missing_required_callbacks),
        cmocka_unit_test(domain_create_rejects_each_out_of_range_config_field),
        cmocka_unit_test(domain_create_accepts_the_range_boundaries),
        cmocka_unit_test(domain_without_optional_callbacks_works_end_to_end),
        cmocka_unit_test(domain_create_fails_with_enomem_at_each_allocation_without_leaking),
        cmocka_unit_test(its_create_rejects_null_arguments),
        cmocka_unit_test(its_create_rejects_each_out_of_range_config_field),
        cmocka_unit_test(its_create_with_an_overlapping_frame_fails_with_eexist),
        cmocka_unit_test(its_create_beyond_255_its_fails_with_enospc),
        cmocka_unit_test(domain_destroy_is_ebusy_while_an_its_is_attached),
        cmocka_unit_test(destroy_functions_and_accessors_accept_null),
        cmocka_unit_test(its_create_fails_with_enomem_at_each_allocation_without_leaking),
        cmocka_unit_test(accessors_return_the_creation_arguments),
        cmocka_unit_test(domain_memory_grows_with_mappings_and_shrinks_back_when_unmapped),
        cmocka_unit_test(device_hash_memory_is_kept_bounded_and_freed_with_the_its),
        cmocka_unit_test(version_matches_the_header_macros),
        cmocka_unit_test(strerror_names_every_documented_errno),
        cmocka_unit_test(strerror_names_every_command_error),
        cmocka_unit_test(unknown_command_error_number_follows_the_01ccee_pattern),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
