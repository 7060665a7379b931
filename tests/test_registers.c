/* SPDX-License-Identifier: MIT */
/*
 * The ITS register frame (vits_its_mmio_read/write) and the LPI registers
 * of the redistributors (vits_gicr_mmio_read/write): reset values, access
 * widths, read-only and reserved offsets, sanitising of the table
 * registers, and the interplay of CBASER/CWRITER/CREADR/CTLR with the
 * command queue.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>

#include "fakevm.h"

#define GITS_CTLR 0x0000u
#define GITS_IIDR 0x0004u
#define GITS_TYPER 0x0008u
#define GITS_CBASER 0x0080u
#define GITS_CWRITER 0x0088u
#define GITS_CREADR 0x0090u
#define GITS_BASER(n) (0x0100u + 8u * (n))
#define GITS_PIDR4 0xffd0u
#define GITS_PIDR0 0xffe0u
#define GITS_PIDR1 0xffe4u
#define GITS_PIDR2 0xffe8u
#define GITS_CIDR(n) (0xfff0u + 4u * (n))

#define CTLR_ENABLED 1ull
#define CTLR_QUIESCENT (1ull << 31)

#define GICR_CTLR 0x0u
#define GICR_TYPER 0x8u
#define GICR_PROPBASER 0x70u
#define GICR_PENDBASER 0x78u

static uint64_t field(uint64_t v, unsigned hi, unsigned lo)
{
    return (v >> lo) & ((hi - lo == 63) ? ~0ull : ((1ull << (hi - lo + 1)) - 1));
}

/* A fake VM with n vCPUs and an ITS of the default configuration. */
static struct fakevm *vm_with_its(uint32_t nr_vcpus)
{
    struct fakevm *fv = fv_new(nr_vcpus);
    fv_add_its(fv, NULL);
    return fv;
}

static unsigned guest_logs(const struct fakevm *fv) { return fv->log_count[VITS_LOG_GUEST]; }

/* ------------------------------------------------------------------ */
/* ITS reset values                                                    */
/* ------------------------------------------------------------------ */

static void its_ctlr_resets_to_quiescent_and_disabled(void **state)
{
    (void)state;
    struct fakevm *fv = vm_with_its(1);
    assert_int_equal(fv_its_read(fv, GITS_CTLR, 4), CTLR_QUIESCENT);
    fv_free(fv);
}

static void its_iidr_names_arm_revision_from_config_and_product_0x56(void **state)
{
    (void)state;
    struct fakevm *fv = fv_new(1);
    struct vits_its_config cfg;
    vits_its_config_init(&cfg);
    cfg.iidr_revision = 5;
    fv_add_its(fv, &cfg);
    uint64_t iidr = fv_its_read(fv, GITS_IIDR, 4);
    assert_int_equal(field(iidr, 11, 0), 0x43b);
    assert_int_equal(field(iidr, 15, 12), 5);
    assert_int_equal(field(iidr, 19, 16), 0);
    assert_int_equal(field(iidr, 31, 24), 0x56);
    assert_int_equal(iidr, 0x5600543bull);
    fv_free(fv);
}

static void its_typer_reflects_default_geometry(void **state)
{
    (void)state;
    struct fakevm *fv = vm_with_its(1);
    uint64_t typer = fv_its_read(fv, GITS_TYPER, 8);
    assert_int_equal(field(typer, 0, 0), 1);    /* Physical */
    assert_int_equal(field(typer, 1, 1), 0);    /* Virtual */
    assert_int_equal(field(typer, 7, 4), 7);    /* ITT_entry_size: 8 bytes */
    assert_int_equal(field(typer, 12, 8), 15);  /* ID_bits: 16 */
    assert_int_equal(field(typer, 17, 13), 15); /* Devbits: 16 */
    assert_int_equal(field(typer, 18, 18), 0);  /* SEIS */
    assert_int_equal(field(typer, 19, 19), 0);  /* PTA */
    assert_int_equal(field(typer, 31, 24), 0);  /* HCC */
    assert_int_equal(field(typer, 35, 32), 15); /* CIDbits: 16 */
    assert_int_equal(field(typer, 36, 36), 1);  /* CIL */
    assert_int_equal(field(typer, 63, 37), 0);
    fv_free(fv);
}

static void its_typer_reflects_configured_geometry(void **state)
{
    (void)state;
    struct fakevm *fv = fv_new(1);
    struct vits_its_config cfg;
    vits_its_config_init(&cfg);
    cfg.base = FV_ITS_BASE;
    uint64_t def_typer;
    {
        struct vits_its *def;
        assert_int_equal(vits_its_create(fv->d, &cfg, &def), 0);
        assert_int_equal(vits_its_mmio_read(def, GITS_TYPER, 8, &def_typer), 0);
        vits_its_destroy(def);
    }
    cfg.device_id_bits = 20;
    cfg.event_id_bits = 10;
    cfg.collection_id_bits = 8;
    cfg.pta = 1;
    fv_add_its(fv, &cfg);
    uint64_t typer = fv_its_read(fv, GITS_TYPER, 8);
    assert_int_equal(field(typer, 0, 0), 1);
    assert_int_equal(field(typer, 7, 4), 7);
    assert_int_equal(field(typer, 12, 8), 9);
    assert_int_equal(field(typer, 17, 13), 19);
    assert_int_equal(field(typer, 19, 19), 1);
    assert_int_equal(field(typer, 35, 32), 7);
    assert_int_equal(field(typer, 36, 36), 1);
    assert_true(typer != def_typer);
    /* the extremes: 32 DeviceID bits, 1 EventID and collection bit */
    vits_its_destroy(fv->its);
    cfg.device_id_bits = 32;
    cfg.event_id_bits = 1;
    cfg.collection_id_bits = 1;
    cfg.pta = 0;
    fv_add_its(fv, &cfg);
    typer = fv_its_read(fv, GITS_TYPER, 8);
    assert_int_equal(field(typer, 12, 8), 0);
    assert_int_equal(field(typer, 17, 13), 31);
    assert_int_equal(field(typer, 19, 19), 0);
    assert_int_equal(field(typer, 35, 32), 0);
    fv_free(fv);
}

static void its_queue_registers_reset_to_zero(void **state)
{
    (void)state;
    struct fakevm *fv = vm_with_its(1);
    assert_int_equal(fv_its_read(fv, GITS_CBASER, 8), 0);
    assert_int_equal(fv_its_read(fv, GITS_CWRITER, 8), 0);
    assert_int_equal(fv_its_read(fv, GITS_CREADR, 8), 0);
    fv_free(fv);
}

static void its_baser0_and_1_reset_to_devices_and_collections_with_8_byte_entries(void **state)
{
    (void)state;
    struct fakevm *fv = vm_with_its(1);
    uint64_t b0 = fv_its_read(fv, GITS_BASER(0), 8);
    uint64_t b1 = fv_its_read(fv, GITS_BASER(1), 8);
    assert_int_equal(field(b0, 58, 56), 1); /* Devices */
    assert_int_equal(field(b0, 52, 48), 7); /* 8-byte entries */
    assert_int_equal(field(b1, 58, 56), 4); /* Collections */
    assert_int_equal(field(b1, 52, 48), 7);
    /* everything else, Valid included, is zero */
    assert_int_equal(b0, 1ull << 56 | 7ull << 48);
    assert_int_equal(b1, 4ull << 56 | 7ull << 48);
    fv_free(fv);
}

static void its_baser2_to_7_read_zero_and_ignore_writes(void **state)
{
    (void)state;
    struct fakevm *fv = vm_with_its(1);
    for (unsigned n = 2; n < 8; n++) {
        assert_int_equal(fv_its_read(fv, GITS_BASER(n), 8), 0);
        fv_its_write(fv, GITS_BASER(n), 8, ~0ull);
        fv_its_write(fv, GITS_BASER(n), 4, ~0ull);
        fv_its_write(fv, GITS_BASER(n) + 4, 4, ~0ull);
        assert_int_equal(fv_its_read(fv, GITS_BASER(n), 8), 0);
        assert_int_equal(fv_its_read(fv, GITS_BASER(n) + 4, 4), 0);
    }
    fv_free(fv);
}

/* ------------------------------------------------------------------ */
/* Read-only, reserved and ID registers                                */
/* ------------------------------------------------------------------ */

static void its_read_only_registers_ignore_writes(void **state)
{
    (void)state;
    struct fakevm *fv = vm_with_its(1);
    uint64_t iidr = fv_its_read(fv, GITS_IIDR, 4);
    uint64_t typer = fv_its_read(fv, GITS_TYPER, 8);
    uint64_t pidr2 = fv_its_read(fv, GITS_PIDR2, 4);
    uint64_t cidr0 = fv_its_read(fv, GITS_CIDR(0), 4);
    unsigned logs = guest_logs(fv);

    fv_its_write(fv, GITS_IIDR, 4, 0xffffffff);
    fv_its_write(fv, GITS_TYPER, 8, 0);
    fv_its_write(fv, GITS_TYPER, 4, 0);
    fv_its_write(fv, GITS_TYPER + 4, 4, 0xffffffff);
    fv_its_write(fv, GITS_CREADR, 8, 0x40);
    fv_its_write(fv, GITS_CREADR, 4, 0x40);
    fv_its_write(fv, GITS_PIDR2, 4, 0);
    fv_its_write(fv, GITS_CIDR(0), 4, 0);

    assert_int_equal(fv_its_read(fv, GITS_IIDR, 4), iidr);
    assert_int_equal(fv_its_read(fv, GITS_TYPER, 8), typer);
    assert_int_equal(fv_its_read(fv, GITS_CREADR, 8), 0);
    assert_int_equal(fv_its_read(fv, GITS_PIDR2, 4), pidr2);
    assert_int_equal(fv_its_read(fv, GITS_CIDR(0), 4), cidr0);
    /* a write the register does not take is not a guest error */
    assert_int_equal(guest_logs(fv), logs);
    fv_free(fv);
}

static void its_reserved_offsets_read_zero_and_ignore_writes(void **state)
{
    (void)state;
    static const uint64_t reserved[] = {0x40,   0x48,    0x18,    0x200,  0x8000,
                                        0xff00, 0x10000, 0x10048, 0x1fff8};
    struct fakevm *fv = vm_with_its(1);
    for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
        uint64_t off = reserved[i];
        fv_its_write(fv, off, 8, ~0ull);
        fv_its_write(fv, off, 4, ~0ull);
        fv_its_write(fv, off + 4, 4, ~0ull);
        assert_int_equal(fv_its_read(fv, off, 8), 0);
        assert_int_equal(fv_its_read(fv, off, 4), 0);
        assert_int_equal(fv_its_read(fv, off + 4, 4), 0);
    }
    /* none of those writes reached a real register */
    assert_int_equal(fv_its_read(fv, GITS_CTLR, 4), CTLR_QUIESCENT);
    assert_int_equal(fv_its_read(fv, GITS_CBASER, 8), 0);
    fv_free(fv);
}

static void its_id_registers_identify_an_arm_gicv3_component(void **state)
{
    (void)state;
    struct fakevm *fv = vm_with_its(1);
    uint64_t pidr1 = fv_its_read(fv, GITS_PIDR1, 4);
    uint64_t pidr2 = fv_its_read(fv, GITS_PIDR2, 4);
    uint64_t pidr4 = fv_its_read(fv, GITS_PIDR4, 4);
    assert_int_equal(field(pidr2, 7, 4), 3); /* ArchRev: GICv3 */
    /* JEP106 identity code of Arm (0x3b), continuation code 4 */
    assert_int_equal(field(pidr1, 7, 4) | field(pidr2, 2, 0) << 4, 0x3b);
    assert_int_equal(field(pidr2, 3, 3), 1); /* JEDEC-assigned */
    assert_int_equal(field(pidr4, 3, 0), 4);
    static const uint8_t cidr[4] = {0x0d, 0xf0, 0x05, 0xb1};
    for (unsigned n = 0; n < 4; n++)
        assert_int_equal(fv_its_read(fv, GITS_CIDR(n), 4), cidr[n]);
    /* all ID registers are 8-bit values in 32-bit registers */
    for (uint64_t off = GITS_PIDR4; off < 0x10000; off += 4)
        assert_int_equal(fv_its_read(fv, off, 4) >> 8, 0);
    fv_free(fv);
}

/* ------------------------------------------------------------------ */
/* Access widths                                                       */
/* ------------------------------------------------------------------ */

static void its_cbaser_takes_32_bit_halves_and_merges_them(void **state)
{
    (void)state;
    struct fakevm *fv = vm_with_its(1);
    fv_its_write(fv, GITS_CBASER, 4, 0x4060000f);
    fv_its_write(fv, GITS_CBASER + 4, 4, 0x80000000);
    assert_int_equal(fv_its_read(fv, GITS_CBASER, 4), 0x4060000f);
    assert_int_equal(fv_its_read(fv, GITS_CBASER + 4, 4), 0x80000000);
    assert_int_equal(fv_its_read(fv, GITS_CBASER, 8), 0x800000004060000full);
    /* rewriting the low half keeps the high half, and the reverse */
    fv_its_write(fv, GITS_CBASER, 4, 0x40700001);
    assert_int_equal(fv_its_read(fv, GITS_CBASER, 8), 0x8000000040700001ull);
    fv_its_write(fv, GITS_CBASER + 4, 4, 0x00000001); /* PA[32], Valid 0 */
    assert_int_equal(fv_its_read(fv, GITS_CBASER, 8), 0x0000000140700001ull);
    fv_free(fv);
}

static void its_cwriter_takes_32_bit_halves_and_its_high_half_is_res0(void **state)
{
    (void)state;
    struct fakevm *fv = vm_with_its(1);
    fv_its_write(fv, GITS_CBASER, 8, 1ull << 63 | FV_QUEUE | 0); /* 4 KiB */
    fv_its_write(fv, GITS_CWRITER, 4, 0x40);
    assert_int_equal(fv_its_read(fv, GITS_CWRITER, 4), 0x40);
    fv_its_write(fv, GITS_CWRITER + 4, 4, 0xffffffff);
    /* the high half merges with the offset already there */
    assert_int_equal(fv_its_read(fv, GITS_CWRITER + 4, 4), 0);
    assert_int_equal(fv_its_read(fv, GITS_CWRITER, 4), 0x40);
    assert_int_equal(fv_its_read(fv, GITS_CWRITER, 8), 0x40);
    fv_free(fv);
}

static void its_baser_takes_32_bit_halves_and_merges_them(void **state)
{
    (void)state;
    struct fakevm *fv = vm_with_its(1);
    fv_its_write(fv, GITS_BASER(0), 4, 0x40400200); /* 64 KiB pages, 1 page */
    assert_int_equal(fv_its_read(fv, GITS_BASER(0), 8), 1ull << 56 | 7ull << 48 | 0x40400200ull);
    fv_its_write(fv, GITS_BASER(0) + 4, 4, 0x80000000);
    assert_int_equal(fv_its_read(fv, GITS_BASER(0), 4), 0x40400200);
    assert_int_equal(fv_its_read(fv, GITS_BASER(0) + 4, 4), 0x81070000);
    assert_int_equal(fv_its_read(fv, GITS_BASER(0), 8),
                     1ull << 63 | 1ull << 56 | 7ull << 48 | 0x40400200ull);
    /* a low-half write keeps Valid */
    fv_its_write(fv, GITS_BASER(0), 4, 0x40500201);
    assert_int_equal(fv_its_read(fv, GITS_BASER(0), 8),
                     1ull << 63 | 1ull << 56 | 7ull << 48 | 0x40500201ull);

    fv_its_write(fv, GITS_BASER(1) + 4, 4, 0x80000000);
    fv_its_write(fv, GITS_BASER(1), 4, 0x40500000);
    assert_int_equal(fv_its_read(fv, GITS_BASER(1), 8),
                     1ull << 63 | 4ull << 56 | 7ull << 48 | 0x40500000ull);
    fv_free(fv);
}

static void its_64_bit_access_to_32_bit_register_reads_zero_is_ignored_and_logged(void **state)
{
    (void)state;
    struct fakevm *fv = vm_with_its(1);
    unsigned logs = guest_logs(fv);

    assert_int_equal(fv_its_read(fv, GITS_CTLR, 8), 0);
    assert_int_equal(guest_logs(fv), logs + 1);
    fv_its_write(fv, GITS_CTLR, 8, CTLR_ENABLED);
    assert_int_equal(guest_logs(fv), logs + 2);
    assert_int_equal(fv_its_read(fv, GITS_CTLR, 4), CTLR_QUIESCENT);

    /* the ID registers are 32-bit too, and read-only */
    assert_int_equal(fv_its_read(fv, GITS_PIDR0, 8), 0);
    assert_int_equal(guest_logs(fv), logs + 3);
    fv_its_write(fv, GITS_PIDR0, 8, 0);
    assert_int_equal(guest_logs(fv), logs + 4);
    assert_int_equal(fv_its_read(fv, GITS_PIDR0, 4) != 0, 1);

    /* GITS_IIDR sits at 0x4: an 8-byte access there is misaligned */
    uint64_t v = 0xdead;
    assert_int_equal(vits_its_mmio_read(fv->its, GITS_IIDR, 8, &v), -EINVAL);
    assert_int_equal(vits_its_mmio_write(fv->its, GITS_IIDR, 8, 0), -EINVAL);
    assert_int_equal(guest_logs(fv), logs + 4);
    fv_free(fv);
}

static void its_bad_size_alignment_or_offset_is_einval(void **state)
{
    (void)state;
    struct fakevm *fv = vm_with_its(1);
    uint64_t v;
    static const unsigned bad_sizes[] = {0, 1, 2, 3, 5, 16};
    for (size_t i = 0; i < sizeof(bad_sizes) / sizeof(bad_sizes[0]); i++) {
        assert_int_equal(vits_its_mmio_read(fv->its, GITS_CBASER, bad_sizes[i], &v), -EINVAL);
        assert_int_equal(vits_its_mmio_write(fv->its, GITS_CBASER, bad_sizes[i], 1), -EINVAL);
    }
    /* misaligned */
    assert_int_equal(vits_its_mmio_read(fv->its, GITS_CBASER + 4, 8, &v), -EINVAL);
    assert_int_equal(vits_its_mmio_write(fv->its, GITS_CBASER + 4, 8, 1), -EINVAL);
    assert_int_equal(vits_its_mmio_read(fv->its, GITS_CTLR + 2, 4, &v), -EINVAL);
    assert_int_equal(vits_its_mmio_write(fv->its, GITS_CTLR + 1, 4, 1), -EINVAL);
    assert_int_equal(vits_its_mmio_write(fv->its, VITS_GITS_TRANSLATER + 1, 2, 1), -EINVAL);
    /* outside the frame */
    static const uint64_t outside[] = {VITS_ITS_FRAME_SIZE, VITS_ITS_FRAME_SIZE + 8, 0x100000000ull,
                                       UINT64_MAX - 7};
    for (size_t i = 0; i < sizeof(outside) / sizeof(outside[0]); i++) {
        assert_int_equal(vits_its_mmio_read(fv->its, outside[i], 4, &v), -EINVAL);
        assert_int_equal(vits_its_mmio_read(fv->its, outside[i], 8, &v), -EINVAL);
        assert_int_equal(vits_its_mmio_write(fv->its, outside[i], 4, 1), -EINVAL);
        assert_int_equal(vits_its_mmio_write(fv->its, outside[i], 8, 1), -EINVAL);
    }
    /* NULL arguments */
    assert_int_equal(vits_its_mmio_read(NULL, GITS_CTLR, 4, &v), -EINVAL);
    assert_int_equal(vits_its_mmio_read(fv->its, GITS_CTLR, 4, NULL), -EINVAL);
    assert_int_equal(vits_its_mmio_write(NULL, GITS_CTLR, 4, 1), -EINVAL);
    /* none of it changed the state */
    assert_int_equal(fv_its_read(fv, GITS_CBASER, 8), 0);
    assert_int_equal(fv_its_read(fv, GITS_CTLR, 4), CTLR_QUIESCENT);
    fv_free(fv);
}

static void its_translater_write_through_mmio_is_ignored_and_logged(void **state)
{
    (void)state;
    struct fakevm *fv = vm_with_its(1);
    fv_boot(fv);
    fv_map_collection(fv, 0, 0);
    assert_int_equal(fv_map_device(fv, 0, 4, 4, 8192, 0), 0);
    fv_clear_events(fv);
    unsigned logs = guest_logs(fv);

    fv_its_write(fv, VITS_GITS_TRANSLATER, 4, 1);
    assert_int_equal(guest_logs(fv), logs + 1);
    fv_its_write(fv, VITS_GITS_TRANSLATER, 2, 2);
    assert_int_equal(guest_logs(fv), logs + 2);

    assert_int_equal(fv->nr_events, 0);
    for (uint32_t intid = 8192; intid < 8196; intid++)
        assert_false(fv_pending(fv, intid, NULL));
    /* write-only: reads as zero */
    assert_int_equal(fv_its_read(fv, VITS_GITS_TRANSLATER, 4), 0);
    /* the mapping itself works through vits_its_signal_msi() */
    assert_int_equal(vits_its_signal_msi(fv->its, 0, 1), 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 0, 8193), 1);
    fv_free(fv);
}

/* ------------------------------------------------------------------ */
/* CBASER and BASER sanitising                                         */
/* ------------------------------------------------------------------ */

static void its_cbaser_masks_res0_bits_and_reads_reserved_shareability_as_inner(void **state)
{
    (void)state;
    struct fakevm *fv = vm_with_its(1);
    fv_its_write(fv, GITS_CBASER, 8, ~0ull);
    uint64_t want = 1ull << 63 | 7ull << 59 | 7ull << 53 | ((1ull << 40) - 1) << 12 |
                    2ull << 10 /* Shareability 0b11 reads as 0b10 */ | 0xffull;
    assert_int_equal(fv_its_read(fv, GITS_CBASER, 8), want);
    /* valid shareability values read back as written */
    for (uint64_t sh = 0; sh < 3; sh++) {
        fv_its_write(fv, GITS_CBASER, 8, FV_QUEUE | sh << 10);
        assert_int_equal(fv_its_read(fv, GITS_CBASER, 8), FV_QUEUE | sh << 10);
    }
    fv_free(fv);
}

static void its_baser_masks_res0_bits_keeps_type_and_entry_size(void **state)
{
    (void)state;
    struct fakevm *fv = vm_with_its(1);
    uint64_t rw =
        1ull << 63 | 1ull << 62 | 7ull << 59 | 7ull << 53 | ((1ull << 36) - 1) << 12 | 0xffull;
    fv_its_write(fv, GITS_BASER(0), 8, ~0ull);
    /* Page_Size 0b11 reads as 64 KiB, Shareability 0b11 as Inner */
    assert_int_equal(fv_its_read(fv, GITS_BASER(0), 8),
                     rw | 1ull << 56 | 7ull << 48 | 2ull << 10 | 2ull << 8);
    fv_its_write(fv, GITS_BASER(1), 8, ~0ull);
    assert_int_equal(fv_its_read(fv, GITS_BASER(1), 8),
                     rw | 4ull << 56 | 7ull << 48 | 2ull << 10 | 2ull << 8);

    /* Type and Entry_Size are read-only whatever is written */
    fv_its_write(fv, GITS_BASER(0), 8, 4ull << 56 | 0x1full << 48 | FV_DEV_TABLE);
    assert_int_equal(fv_its_read(fv, GITS_BASER(0), 8), 1ull << 56 | 7ull << 48 | FV_DEV_TABLE);
    fv_its_write(fv, GITS_BASER(1), 8, 0);
    assert_int_equal(fv_its_read(fv, GITS_BASER(1), 8), 4ull << 56 | 7ull << 48);
    fv_free(fv);
}

static void its_baser_address_bits_below_the_page_size_follow_page_size(void **state)
{
    (void)state;
    struct fakevm *fv = vm_with_its(1);
    const uint64_t ro = 1ull << 56 | 7ull << 48;
    /* 4 KiB: bits [13:12] are address bits */
    fv_its_write(fv, GITS_BASER(0), 8, 0x40403000ull | 0ull << 8);
    assert_int_equal(fv_its_read(fv, GITS_BASER(0), 8), ro | 0x40403000ull);
    /* 16 KiB: bits [13:12] are RES0 */
    fv_its_write(fv, GITS_BASER(0), 8, 0x40407000ull | 1ull << 8);
    assert_int_equal(fv_its_read(fv, GITS_BASER(0), 8), ro | 0x40404000ull | 1ull << 8);
    /* 64 KiB: bits [15:12] hold PA[51:48] and are kept */
    fv_its_write(fv, GITS_BASER(0), 8, 0x4040f000ull | 2ull << 8);
    assert_int_equal(fv_its_read(fv, GITS_BASER(0), 8), ro | 0x4040f000ull | 2ull << 8);
    /* valid shareability values read back as written */
    for (uint64_t sh = 0; sh < 3; sh++) {
        fv_its_write(fv, GITS_BASER(0), 8, FV_DEV_TABLE | sh << 10);
        assert_int_equal(fv_its_read(fv, GITS_BASER(0), 8), ro | FV_DEV_TABLE | sh << 10);
    }
    fv_free(fv);
}

static void its_cbaser_and_baser_writes_are_ignored_and_logged_while_enabled(void **state)
{
    (void)state;
    struct fakevm *fv = vm_with_its(1);
    fv_boot(fv);
    uint64_t cbaser = fv_its_read(fv, GITS_CBASER, 8);
    uint64_t baser0 = fv_its_read(fv, GITS_BASER(0), 8);
    uint64_t baser1 = fv_its_read(fv, GITS_BASER(1), 8);
    unsigned logs = guest_logs(fv);

    fv_its_write(fv, GITS_CBASER, 8, 1ull << 63 | 0x50000000ull);
    assert_int_equal(guest_logs(fv), logs + 1);
    fv_its_write(fv, GITS_CBASER + 4, 4, 0);
    assert_int_equal(guest_logs(fv), logs + 2);
    fv_its_write(fv, GITS_BASER(0), 8, 0);
    assert_int_equal(guest_logs(fv), logs + 3);
    fv_its_write(fv, GITS_BASER(1), 4, 0);
    assert_int_equal(guest_logs(fv), logs + 4);
    assert_int_equal(fv_its_read(fv, GITS_CBASER, 8), cbaser);
    assert_int_equal(fv_its_read(fv, GITS_BASER(0), 8), baser0);
    assert_int_equal(fv_its_read(fv, GITS_BASER(1), 8), baser1);

    /* disabled again, the writes are taken */
    fv_its_write(fv, GITS_CTLR, 4, 0);
    fv_its_write(fv, GITS_CBASER, 8, 1ull << 63 | 0x50000000ull);
    fv_its_write(fv, GITS_BASER(0), 8, 0);
    fv_its_write(fv, GITS_BASER(1), 4, 0);
    assert_int_equal(fv_its_read(fv, GITS_CBASER, 8), 1ull << 63 | 0x50000000ull);
    assert_int_equal(fv_its_read(fv, GITS_BASER(0), 8), 1ull << 56 | 7ull << 48);
    /* the low-half write kept Valid from the high half */
    assert_int_equal(fv_its_read(fv, GITS_BASER(1), 8), 1ull << 63 | 4ull << 56 | 7ull << 48);
    assert_int_equal(guest_logs(fv), logs + 4);
    fv_free(fv);
}

/* ------------------------------------------------------------------ */
/* The command queue registers                                         */
/* ------------------------------------------------------------------ */

static void its_cbaser_write_resets_creadr_and_cwriter(void **state)
{
    (void)state;
    struct fakevm *fv = vm_with_its(2);
    fv_boot(fv);
    fv_map_collection(fv, 0, 0);
    fv_map_collection(fv, 1, 1);
    assert_int_equal(fv_its_read(fv, GITS_CREADR, 8), 0x40);
    assert_int_equal(fv_its_read(fv, GITS_CWRITER, 8), 0x40);
    fv_its_write(fv, GITS_CTLR, 4, 0);
    fv_its_write(fv, GITS_CBASER, 8, fv_its_read(fv, GITS_CBASER, 8));
    assert_int_equal(fv_its_read(fv, GITS_CREADR, 8), 0);
    assert_int_equal(fv_its_read(fv, GITS_CWRITER, 8), 0);
    /* the queue starts afresh from offset 0 */
    fv->cwriter = 0;
    fv_its_write(fv, GITS_CTLR, 4, 1);
    uint64_t dw[4];
    fv_cmd_sync(dw, 0);
    fv_submit(fv, dw);
    assert_int_equal(fv_its_read(fv, GITS_CREADR, 8), 0x20);
    assert_int_equal(vits_its_commands(fv->its), 3);
    fv_free(fv);
}

static void its_cwriter_beyond_the_queue_is_ignored_and_logged(void **state)
{
    (void)state;
    struct fakevm *fv = vm_with_its(1);
    fv_boot(fv); /* 64 KiB queue */
    fv_map_collection(fv, 0, 0);
    unsigned logs = guest_logs(fv);
    uint64_t cmds = vits_its_commands(fv->its);

    fv_its_write(fv, GITS_CWRITER, 8, FV_QUEUE_PAGES * 4096ull);
    assert_int_equal(guest_logs(fv), logs + 1);
    assert_int_equal(fv_its_read(fv, GITS_CWRITER, 8), 0x20);
    assert_int_equal(fv_its_read(fv, GITS_CREADR, 8), 0x20);
    assert_int_equal(vits_its_commands(fv->its), cmds);

    /* with a 4 KiB queue, 0x1000 is already out */
    fv_its_write(fv, GITS_CTLR, 4, 0);
    fv_its_write(fv, GITS_CBASER, 8, 1ull << 63 | FV_QUEUE);
    fv_its_write(fv, GITS_CWRITER, 8, 0x1000);
    assert_int_equal(guest_logs(fv), logs + 2);
    assert_int_equal(fv_its_read(fv, GITS_CWRITER, 8), 0);
    fv_its_write(fv, GITS_CWRITER, 8, 0xfe0);
    assert_int_equal(guest_logs(fv), logs + 2);
    assert_int_equal(fv_its_read(fv, GITS_CWRITER, 8), 0xfe0);
    fv_free(fv);
}

static void its_creadr_follows_processing_and_cwriter_offset_bits(void **state)
{
    (void)state;
    struct fakevm *fv = vm_with_its(1);
    fv_boot(fv);
    uint64_t dw[4];
    fv_cmd_mapc(dw, 0, 0, true);
    fv_queue(fv, dw);
    fv_cmd_sync(dw, 0);
    fv_queue(fv, dw);
    fv_queue(fv, dw);
    /* nothing happens before the doorbell */
    assert_int_equal(fv_its_read(fv, GITS_CREADR, 8), 0);
    assert_int_equal(vits_its_commands(fv->its), 0);
    fv_kick(fv);
    assert_int_equal(fv_its_read(fv, GITS_CREADR, 8), 0x60);
    assert_int_equal(fv_its_read(fv, GITS_CWRITER, 8), 0x60);
    assert_int_equal(vits_its_commands(fv->its), 3);
    assert_int_equal(fv_error_count(fv), 0);
    /* CWRITER keeps only the offset, bits [19:5] */
    fv_queue(fv, dw);
    fv_its_write(fv, GITS_CWRITER, 8, 0xffffffff00000000ull | fv->cwriter | 0x1e);
    assert_int_equal(fv_its_read(fv, GITS_CWRITER, 8), 0x80);
    assert_int_equal(fv_its_read(fv, GITS_CREADR, 8), 0x80);
    assert_int_equal(vits_its_commands(fv->its), 4);
    fv_free(fv);
}

static void its_quiescent_clears_while_enabled_and_returns_when_disabled(void **state)
{
    (void)state;
    struct fakevm *fv = vm_with_its(1);
    fv_boot(fv);
    assert_int_equal(fv_its_read(fv, GITS_CTLR, 4), CTLR_ENABLED);
    fv_its_write(fv, GITS_CTLR, 4, 0);
    assert_int_equal(fv_its_read(fv, GITS_CTLR, 4), CTLR_QUIESCENT);
    /* Quiescent is read-only: writing it does not enable anything */
    fv_its_write(fv, GITS_CTLR, 4, CTLR_QUIESCENT);
    assert_int_equal(fv_its_read(fv, GITS_CTLR, 4), CTLR_QUIESCENT);
    fv_its_write(fv, GITS_CTLR, 4, CTLR_QUIESCENT | CTLR_ENABLED);
    assert_int_equal(fv_its_read(fv, GITS_CTLR, 4), CTLR_ENABLED);
    fv_free(fv);
}

static void its_enable_processes_commands_queued_while_disabled(void **state)
{
    (void)state;
    struct fakevm *fv = vm_with_its(2);
    fv_boot(fv);
    fv_its_write(fv, GITS_CTLR, 4, 0);
    uint64_t dw[4];
    fv_cmd_mapc(dw, 3, 1, true);
    fv_queue(fv, dw);
    fv_cmd_mapd(dw, 5, 3, FV_ITT(5), true);
    fv_queue(fv, dw);
    fv_cmd_mapti(dw, 5, 2, 8300, 3);
    fv_queue(fv, dw);
    fv_kick(fv);
    /* disabled: CWRITER is taken, nothing is processed */
    assert_int_equal(fv_its_read(fv, GITS_CWRITER, 8), 0x60);
    assert_int_equal(fv_its_read(fv, GITS_CREADR, 8), 0);
    assert_int_equal(vits_its_commands(fv->its), 0);
    assert_int_equal(vits_its_signal_msi(fv->its, 5, 2), 0);

    fv_its_write(fv, GITS_CTLR, 4, 1);
    assert_int_equal(fv_its_read(fv, GITS_CREADR, 8), 0x60);
    assert_int_equal(vits_its_commands(fv->its), 3);
    assert_int_equal(fv_error_count(fv), 0);
    assert_int_equal(vits_its_signal_msi(fv->its, 5, 2), 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 1, 8300), 1);
    fv_free(fv);
}

/* ------------------------------------------------------------------ */
/* Redistributor LPI registers                                         */
/* ------------------------------------------------------------------ */

static void gicr_ctlr_enable_lpis_reads_back_and_is_32_bit_only(void **state)
{
    (void)state;
    struct fakevm *fv = fv_new(2);
    assert_int_equal(fv_gicr_read(fv, 1, GICR_CTLR, 4), 0);
    fv_gicr_write(fv, 1, GICR_CTLR, 4, 1);
    assert_int_equal(fv_gicr_read(fv, 1, GICR_CTLR, 4), 1);
    assert_int_equal(fv_gicr_read(fv, 0, GICR_CTLR, 4), 0);
    /* only EnableLPIs is writable */
    fv_gicr_write(fv, 0, GICR_CTLR, 4, 0xfffffffe);
    assert_int_equal(fv_gicr_read(fv, 0, GICR_CTLR, 4), 0);

    unsigned logs = guest_logs(fv);
    fv_gicr_write(fv, 0, GICR_CTLR, 8, 1);
    assert_int_equal(guest_logs(fv), logs + 1);
    assert_int_equal(fv_gicr_read(fv, 0, GICR_CTLR, 4), 0);
    /* a 64-bit read reads as zero and is logged too */
    assert_int_equal(fv_gicr_read(fv, 1, GICR_CTLR, 8), 0);
    assert_int_equal(guest_logs(fv), logs + 2);

    fv_gicr_write(fv, 1, GICR_CTLR, 4, 0);
    assert_int_equal(fv_gicr_read(fv, 1, GICR_CTLR, 4), 0);
    fv_free(fv);
}

static void gicr_typer_reports_plpis_processor_number_and_last(void **state)
{
    (void)state;
    const uint32_t n = 20;
    struct fakevm *fv = fv_new(n);
    uint64_t aff[20];
    for (uint32_t v = 0; v < n; v++) {
        uint64_t typer = fv_gicr_read(fv, v, GICR_TYPER, 8);
        assert_int_equal(field(typer, 0, 0), 1);          /* PLPIS */
        assert_int_equal(field(typer, 4, 4), v == n - 1); /* Last */
        assert_int_equal(field(typer, 23, 8), v);         /* Processor_Number */
        assert_int_equal(fv_gicr_read(fv, v, GICR_TYPER, 4), typer & 0xffffffff);
        assert_int_equal(fv_gicr_read(fv, v, GICR_TYPER + 4, 4), typer >> 32);
        aff[v] = typer >> 32;
        for (uint32_t w = 0; w < v; w++)
            assert_true(aff[w] != aff[v]);
        /* read-only */
        fv_gicr_write(fv, v, GICR_TYPER, 8, 0);
        fv_gicr_write(fv, v, GICR_TYPER + 4, 4, 0);
        assert_int_equal(fv_gicr_read(fv, v, GICR_TYPER, 8), typer);
    }
    fv_free(fv);

    /* a single vCPU is the last one */
    fv = fv_new(1);
    assert_int_equal(field(fv_gicr_read(fv, 0, GICR_TYPER, 8), 4, 4), 1);
    fv_free(fv);
}

static void gicr_propbaser_and_pendbaser_read_back_masked_values(void **state)
{
    (void)state;
    struct fakevm *fv = fv_new(1);
    fv_gicr_write(fv, 0, GICR_PROPBASER, 8, ~0ull);
    /* OuterCache [58:56], PA [51:12], Shareability, InnerCache [9:7], IDbits */
    assert_int_equal(fv_gicr_read(fv, 0, GICR_PROPBASER, 8),
                     7ull << 56 | ((1ull << 40) - 1) << 12 | 3ull << 10 | 7ull << 7 | 0x1f);
    fv_gicr_write(fv, 0, GICR_PENDBASER, 8, ~0ull);
    /* PTZ reads as zero; PA is [51:16] */
    assert_int_equal(fv_gicr_read(fv, 0, GICR_PENDBASER, 8),
                     7ull << 56 | ((1ull << 36) - 1) << 16 | 3ull << 10 | 7ull << 7);

    /* 32-bit halves merge */
    fv_gicr_write(fv, 0, GICR_PROPBASER, 4, FV_PROP_TABLE | 0xf);
    fv_gicr_write(fv, 0, GICR_PROPBASER + 4, 4, 0);
    assert_int_equal(fv_gicr_read(fv, 0, GICR_PROPBASER, 8), FV_PROP_TABLE | 0xf);
    assert_int_equal(fv_gicr_read(fv, 0, GICR_PROPBASER, 4), FV_PROP_TABLE | 0xf);
    assert_int_equal(fv_gicr_read(fv, 0, GICR_PROPBASER + 4, 4), 0);
    fv_gicr_write(fv, 0, GICR_PENDBASER + 4, 4, 0x1);
    fv_gicr_write(fv, 0, GICR_PENDBASER, 4, 0x40210000);
    assert_int_equal(fv_gicr_read(fv, 0, GICR_PENDBASER, 8), 0x140210000ull);
    assert_int_equal(fv_gicr_read(fv, 0, GICR_PENDBASER + 4, 4), 1);
    fv_free(fv);
}

static void gicr_pendbaser_ptz_reads_as_zero(void **state)
{
    (void)state;
    struct fakevm *fv = fv_new(1);
    fv_gicr_write(fv, 0, GICR_PENDBASER, 8, 1ull << 62 | FV_PEND_TABLE(0));
    assert_int_equal(fv_gicr_read(fv, 0, GICR_PENDBASER, 8), FV_PEND_TABLE(0));
    assert_int_equal(fv_gicr_read(fv, 0, GICR_PENDBASER + 4, 4), 0);
    fv_free(fv);
}

static void gicr_bases_are_frozen_and_logged_while_lpis_are_enabled(void **state)
{
    (void)state;
    struct fakevm *fv = fv_new(2);
    fv_gicr_write(fv, 0, GICR_PROPBASER, 8, FV_PROP_TABLE | 0xf);
    fv_gicr_write(fv, 0, GICR_PENDBASER, 8, 1ull << 62 | FV_PEND_TABLE(0));
    fv_gicr_write(fv, 0, GICR_CTLR, 4, 1);
    unsigned logs = guest_logs(fv);

    fv_gicr_write(fv, 0, GICR_PROPBASER, 8, 0x50000000ull | 0x13);
    assert_int_equal(guest_logs(fv), logs + 1);
    fv_gicr_write(fv, 0, GICR_PENDBASER, 8, 0x50010000ull);
    assert_int_equal(guest_logs(fv), logs + 2);
    fv_gicr_write(fv, 0, GICR_PROPBASER + 4, 4, 1);
    assert_int_equal(guest_logs(fv), logs + 3);
    assert_int_equal(fv_gicr_read(fv, 0, GICR_PROPBASER, 8), FV_PROP_TABLE | 0xf);
    assert_int_equal(fv_gicr_read(fv, 0, GICR_PENDBASER, 8), FV_PEND_TABLE(0));

    /* vCPU 1 has LPIs disabled: its registers take writes */
    fv_gicr_write(fv, 1, GICR_PROPBASER, 8, 0x50000000ull | 0x13);
    assert_int_equal(fv_gicr_read(fv, 1, GICR_PROPBASER, 8), 0x50000013ull);
    assert_int_equal(guest_logs(fv), logs + 3);

    /* disabling LPIs unfreezes them */
    fv_gicr_write(fv, 0, GICR_CTLR, 4, 0);
    fv_gicr_write(fv, 0, GICR_PROPBASER, 8, 0x50000000ull | 0x13);
    fv_gicr_write(fv, 0, GICR_PENDBASER, 8, 0x50010000ull);
    assert_int_equal(fv_gicr_read(fv, 0, GICR_PROPBASER, 8), 0x50000013ull);
    assert_int_equal(fv_gicr_read(fv, 0, GICR_PENDBASER, 8), 0x50010000ull);
    assert_int_equal(guest_logs(fv), logs + 3);
    fv_free(fv);
}

static void gicr_other_offsets_are_enoent(void **state)
{
    (void)state;
    static const uint64_t others[] = {0x4,  0x10, 0x14, 0x18, 0x20,   0x40,    0x48,   0x68,
                                      0x80, 0xa0, 0xb0, 0xc0, 0xffe8, 0x10000, 0x10080};
    struct fakevm *fv = fv_new(1);
    uint64_t v;
    for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
        assert_int_equal(vits_gicr_mmio_read(fv->d, 0, others[i], 4, &v), -ENOENT);
        assert_int_equal(vits_gicr_mmio_write(fv->d, 0, others[i], 4, 1), -ENOENT);
        if (others[i] % 8 == 0) {
            assert_int_equal(vits_gicr_mmio_read(fv->d, 0, others[i], 8, &v), -ENOENT);
            assert_int_equal(vits_gicr_mmio_write(fv->d, 0, others[i], 8, 1), -ENOENT);
        }
    }
    fv_free(fv);
}

static void gicr_bad_vcpu_size_or_alignment_is_einval(void **state)
{
    (void)state;
    struct fakevm *fv = fv_new(2);
    uint64_t v;
    assert_int_equal(vits_gicr_mmio_read(fv->d, 2, GICR_CTLR, 4, &v), -EINVAL);
    assert_int_equal(vits_gicr_mmio_write(fv->d, 2, GICR_CTLR, 4, 1), -EINVAL);
    assert_int_equal(vits_gicr_mmio_read(fv->d, UINT32_MAX, GICR_TYPER, 8, &v), -EINVAL);
    static const unsigned bad_sizes[] = {0, 1, 2, 3, 16};
    for (size_t i = 0; i < sizeof(bad_sizes) / sizeof(bad_sizes[0]); i++) {
        assert_int_equal(vits_gicr_mmio_read(fv->d, 0, GICR_PROPBASER, bad_sizes[i], &v), -EINVAL);
        assert_int_equal(vits_gicr_mmio_write(fv->d, 0, GICR_PROPBASER, bad_sizes[i], 1), -EINVAL);
    }
    assert_int_equal(vits_gicr_mmio_read(fv->d, 0, GICR_PROPBASER + 4, 8, &v), -EINVAL);
    assert_int_equal(vits_gicr_mmio_write(fv->d, 0, GICR_PENDBASER + 2, 4, 1), -EINVAL);
    assert_int_equal(vits_gicr_mmio_read(fv->d, 0, GICR_TYPER + 1, 4, &v), -EINVAL);
    assert_int_equal(vits_gicr_mmio_read(NULL, 0, GICR_CTLR, 4, &v), -EINVAL);
    assert_int_equal(vits_gicr_mmio_write(NULL, 0, GICR_CTLR, 4, 1), -EINVAL);
    assert_int_equal(vits_gicr_mmio_read(fv->d, 0, GICR_CTLR, 4, NULL), -EINVAL);
    /* nothing was written */
    assert_int_equal(fv_gicr_read(fv, 0, GICR_PROPBASER, 8), 0);
    assert_int_equal(fv_gicr_read(fv, 0, GICR_PENDBASER, 8), 0);
    assert_int_equal(fv_gicr_read(fv, 0, GICR_CTLR, 4), 0);
    fv_free(fv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(its_ctlr_resets_to_quiescent_and_disabled),
        cmocka_unit_test(its_iidr_names_arm_revision_from_config_and_product_0x56),
        cmocka_unit_test(its_typer_reflects_default_geometry),
        cmocka_unit_test(its_typer_reflects_configured_geometry),
        cmocka_unit_test(its_queue_registers_reset_to_zero),
        cmocka_unit_test(its_baser0_and_1_reset_to_devices_and_collections_with_8_byte_entries),
        cmocka_unit_test(its_baser2_to_7_read_zero_and_ignore_writes),
        cmocka_unit_test(its_read_only_registers_ignore_writes),
        cmocka_unit_test(its_reserved_offsets_read_zero_and_ignore_writes),
        cmocka_unit_test(its_id_registers_identify_an_arm_gicv3_component),
        cmocka_unit_test(its_cbaser_takes_32_bit_halves_and_merges_them),
        cmocka_unit_test(its_cwriter_takes_32_bit_halves_and_its_high_half_is_res0),
        cmocka_unit_test(its_baser_takes_32_bit_halves_and_merges_them),
        cmocka_unit_test(its_64_bit_access_to_32_bit_register_reads_zero_is_ignored_and_logged),
        cmocka_unit_test(its_bad_size_alignment_or_offset_is_einval),
        cmocka_unit_test(its_translater_write_through_mmio_is_ignored_and_logged),
        cmocka_unit_test(its_cbaser_masks_res0_bits_and_reads_reserved_shareability_as_inner),
        cmocka_unit_test(its_baser_masks_res0_bits_keeps_type_and_entry_size),
        cmocka_unit_test(its_baser_address_bits_below_the_page_size_follow_page_size),
        cmocka_unit_test(its_cbaser_and_baser_writes_are_ignored_and_logged_while_enabled),
        cmocka_unit_test(its_cbaser_write_resets_creadr_and_cwriter),
        cmocka_unit_test(its_cwriter_beyond_the_queue_is_ignored_and_logged),
        cmocka_unit_test(its_creadr_follows_processing_and_cwriter_offset_bits),
        cmocka_unit_test(its_quiescent_clears_while_enabled_and_returns_when_disabled),
        cmocka_unit_test(its_enable_processes_commands_queued_while_disabled),
        cmocka_unit_test(gicr_ctlr_enable_lpis_reads_back_and_is_32_bit_only),
        cmocka_unit_test(gicr_typer_reports_plpis_processor_number_and_last),
        cmocka_unit_test(gicr_propbaser_and_pendbaser_read_back_masked_values),
        cmocka_unit_test(gicr_pendbaser_ptz_reads_as_zero),
        cmocka_unit_test(gicr_bases_are_frozen_and_logged_while_lpis_are_enabled),
        cmocka_unit_test(gicr_other_offsets_are_enoent),
        cmocka_unit_test(gicr_bad_vcpu_size_or_alignment_is_einval),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
