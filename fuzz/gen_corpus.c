/* SPDX-License-Identifier: MIT */
/*
 * The seed generator: `vits-fuzz-gen DIR` writes the seed corpus of the
 * fuzz target into DIR, one small script (fuzz/script.h) per command,
 * per error path, a Linux-like boot, a two-level table setup, fault
 * injection, multiple ITSes, routes. ctest checks that the committed
 * fuzz/corpus/seed-* files are what this program writes.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "script.h"

struct seed {
    uint8_t b[4096];
    size_t n;
};

static const char *outdir;
static unsigned written;

static void put(struct seed *s, unsigned n, ...)
{
    va_list ap;
    va_start(ap, n);
    for (unsigned i = 0; i < n; i++) {
        if (s->n == sizeof(s->b)) {
            fprintf(stderr, "seed too long\n");
            exit(1);
        }
        s->b[s->n++] = (uint8_t)va_arg(ap, int);
    }
    va_end(ap);
}

static void save(const struct seed *s, const char *name)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/seed-%s", outdir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(s->b, 1, s->n, f) != s->n || fclose(f)) {
        perror(path);
        exit(1);
    }
    written++;
}

/* Header: vcpus, lpi bits, and the other bytes of FZ_HEADER_SIZE. */
static void header(struct seed *s, unsigned vcpus, unsigned bits, uint8_t h0_extra, uint8_t h3,
                   uint8_t h4)
{
    s->n = 0;
    put(s, 8, (int)((vcpus - 1) | h0_extra | 3u << 4), (int)((bits - 14) | 10u << 2), 50, h3, h4, 0,
        0, 0);
}

static void boot_g(struct seed *s, unsigned slot, uint8_t variant, uint8_t geometry)
{
    put(s, 4, FZ_OP_BOOT, slot, variant, geometry);
}

static void boot(struct seed *s, unsigned slot, uint8_t variant) { boot_g(s, slot, variant, 0); }

enum { KICK = FZ_CMD_KICK };

/* A command with all six argument bytes. */
static void cmd(struct seed *s, unsigned slot, unsigned kind, uint8_t a0, uint8_t a1, uint8_t a2,
                uint8_t a3, uint8_t a4, uint8_t a5)
{
    put(s, 9, FZ_OP_CMD, slot, kind, a0, a1, a2, a3, a4, a5);
}

/* Shorthands; intid is an offset from 8192 (0..511), kicked at once. */
static void mapd(struct seed *s, unsigned slot, uint8_t dev, uint8_t size, int valid)
{
    cmd(s, slot, FZ_CMD_MAPD | KICK, dev, 0, dev, 0, 0, (uint8_t)(size | (valid ? 0 : 0x80)));
}

static void mapc(struct seed *s, unsigned slot, uint8_t icid, uint8_t rd, int valid)
{
    cmd(s, slot, FZ_CMD_MAPC | KICK, 0, 0, 0, valid ? 0 : 1, icid, rd);
}

static void mapti(struct seed *s, unsigned slot, uint8_t dev, uint8_t ev, unsigned lpi,
                  uint8_t icid)
{
    cmd(s, slot, FZ_CMD_MAPTI | KICK, dev, ev, (uint8_t)lpi, (uint8_t)(lpi >> 8 & 1), icid, 0);
}

static void devev(struct seed *s, unsigned slot, unsigned kind, uint8_t dev, uint8_t ev)
{
    cmd(s, slot, kind | KICK, dev, ev, 0, 0, 0, 0);
}

static void movi(struct seed *s, unsigned slot, uint8_t dev, uint8_t ev, uint8_t icid)
{
    cmd(s, slot, FZ_CMD_MOVI | KICK, dev, ev, 0, 0, icid, 0);
}

static void invall(struct seed *s, unsigned slot, uint8_t icid)
{
    cmd(s, slot, FZ_CMD_INVALL | KICK, 0, 0, 0, 0, icid, 0);
}

static void movall(struct seed *s, unsigned slot, uint8_t from, uint8_t to)
{
    cmd(s, slot, FZ_CMD_MOVALL | KICK, 0, 0, 0, 0, to, from);
}

static void msi(struct seed *s, unsigned slot, unsigned path, uint8_t dev, uint8_t ev)
{
    put(s, 5, FZ_OP_MSI, slot, path, dev, ev);
}

static void ack_first(struct seed *s) { put(s, 5, FZ_OP_ACK, 0, 0, 0, 0); }

static void prop(struct seed *s, uint8_t vcpu, unsigned lpi, uint8_t byte)
{
    put(s, 5, FZ_OP_PROP, vcpu, lpi & 0xff, lpi >> 8 & 1, byte);
}

static void its_write_raw(struct seed *s, unsigned slot, uint8_t reg, uint8_t size, uint64_t v)
{
    put(s, 5, FZ_OP_ITS_WRITE, slot, reg, size, FZ_VAL_RAW);
    for (int i = 0; i < 8; i++)
        put(s, 1, (int)(v >> (8 * i) & 0xff));
}

static void its_write_small(struct seed *s, unsigned slot, uint8_t reg, uint8_t size, uint8_t v)
{
    put(s, 6, FZ_OP_ITS_WRITE, slot, reg, size, FZ_VAL_SMALL, v);
}

static void its_write_table(struct seed *s, unsigned slot, uint8_t reg, uint8_t size, uint8_t f,
                            unsigned tok, uint8_t sz)
{
    put(s, 9, FZ_OP_ITS_WRITE, slot, reg, size, FZ_VAL_TABLE, f, tok & 0xff, tok >> 8, sz);
}

static void gicr_write_small(struct seed *s, uint8_t vcpu, uint8_t reg, uint8_t size, uint8_t v)
{
    put(s, 6, FZ_OP_GICR_WRITE, vcpu, reg, size, FZ_VAL_SMALL, v);
}

static void gicr_write_table(struct seed *s, uint8_t vcpu, uint8_t reg, uint8_t size, uint8_t f,
                             unsigned tok, uint8_t sz)
{
    put(s, 9, FZ_OP_GICR_WRITE, vcpu, reg, size, FZ_VAL_TABLE, f, tok & 0xff, tok >> 8, sz);
}

static void kick(struct seed *s, unsigned slot, uint8_t flags)
{
    put(s, 3, FZ_OP_KICK, slot, flags);
}

static void faults(struct seed *s, uint8_t f) { put(s, 2, FZ_OP_FAULTS, f); }

/* MEM_WRITE of a little-endian 64-bit value at RAM offset off. */
static void mem_write64(struct seed *s, uint32_t off, uint64_t v)
{
    put(s, 5, FZ_OP_MEM_WRITE, off & 0xff, (off >> 8) & 0xff, (off >> 16) & 0xff, 8);
    for (int i = 0; i < 8; i++)
        put(s, 1, (uint8_t)(v >> (8 * i)));
}

static void saverestore(struct seed *s, uint8_t mode, uint8_t x, uint8_t y)
{
    put(s, 4, FZ_OP_SAVE_RESTORE, mode, x, y);
}

static void hole(struct seed *s, uint8_t slot, uint32_t start, uint8_t len, uint8_t flags)
{
    put(s, 7, FZ_OP_HOLE, slot, start & 0xff, start >> 8 & 0xff, start >> 16 & 0xff, len, flags);
}

static void its_create(struct seed *s, unsigned slot, uint8_t c0, uint8_t c1, uint8_t c2,
                       uint8_t c3, uint8_t c4, uint8_t c5, uint8_t failat)
{
    put(s, 9, FZ_OP_ITS_CREATE, slot, c0, c1, c2, c3, c4, c5, failat);
}

/* Register selectors (indexes into fz_its_regs / fz_gicr_regs). */
enum { R_CTLR = 0, R_CBASER = 4, R_CBASER_HI = 5, R_CWRITER = 6, R_CWRITER_HI = 7 };
enum { R_CREADR = 8, R_BASER0 = 10, R_BASER0_HI = 11, R_BASER1 = 12, R_BASER2 = 14 };
enum { G_CTLR = 0, G_PROP = 4, G_PROP_HI = 5, G_PEND = 6, G_PEND_HI = 7 };
enum { SZ4 = 0, SZ8 = 1, SZ2 = 4, SZ1 = 5 };

/* A booted ITS 0 on 4 vCPUs with device 0 (4 events, LPIs 8192..8195 in
 * collection 0 on vCPU 0): where most seeds start. */
static void booted(struct seed *s, uint8_t variant)
{
    header(s, 4, 16, 0, 0, 0);
    boot(s, 0, (uint8_t)(0x10 | variant));
}

static void gen_commands(void)
{
    struct seed s;
    static const char *names[FZ_CMD_KINDS] = {"mapd",    "mapc", "mapti",  "mapi",  "int",
                                              "clear",   "inv",  "invall", "movi",  "movall",
                                              "discard", "sync", "raw",    "number"};
    for (unsigned k = 0; k < FZ_CMD_KINDS; k++) {
        char name[64];
        booted(&s, 0);
        if (k == FZ_CMD_RAW) {
            cmd(&s, 0, k | KICK, 0, 0, 0, 0, 0, 0);
            /* a raw MAPTI of device 0 event 2 to LPI 8300, collection 1 */
            put(&s, 32, 0x0a, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0x6c, 0x20, 0, 0, 1, 0, 0, 0, 0, 0,
                0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
        } else {
            cmd(&s, 0, k | KICK, 0, 1, 40, 0, 1, k == FZ_CMD_NUMBER ? 0x20 : 1);
        }
        msi(&s, 0, FZ_MSI_ITS, 0, 1);
        ack_first(&s);
        snprintf(name, sizeof(name), "cmd-%s", names[k]);
        save(&s, name);
    }
}

static void gen_errors(void)
{
    struct seed s;
    /* MAPD: DeviceID beyond Devbits (8), ITT size beyond ID_bits (8). */
    booted(&s, 0);
    mapd(&s, 0, 0x82 /* 0x10000 */, 1, 1);
    mapd(&s, 0, 3, 31, 1);
    save(&s, "err-mapd");
    /* MAPC: RDbase naming no vCPU, ICID beyond CIDbits (4). */
    booted(&s, 0);
    mapc(&s, 0, 1, 9, 1);
    mapc(&s, 0, 0x82 /* 0x100 */, 1, 1);
    save(&s, "err-mapc");
    /* MAPTI / MAPI: unmapped device, EventID, pINTID, collection, pINTID
     * in use. */
    booted(&s, 0);
    mapti(&s, 0, 5, 0, 100, 0);
    mapti(&s, 0, 0, 0x86 /* 0x40 */, 100, 0);
    cmd(&s, 0, FZ_CMD_MAPTI | KICK, 0, 2, 0, 0x80 /* INTID 0 */, 0, 0);
    cmd(&s, 0, FZ_CMD_MAPTI | KICK, 0, 2, 6, 0x80 /* 131071 */, 0, 0);
    mapti(&s, 0, 0, 2, 100, 0x80 /* 0xffff */);
    mapti(&s, 0, 0, 2, 1 /* 8193: mapped by event 1 */, 0);
    cmd(&s, 0, FZ_CMD_MAPI | KICK, 0, 2, 0, 0, 0, 0);
    cmd(&s, 0, FZ_CMD_MAPI | KICK, 9, 2, 0, 0, 0, 0);
    save(&s, "err-map-event");
    /* INT, CLEAR, INV, DISCARD, MOVI: unmapped device, event beyond the
     * ITT, unmapped event, unmapped collection. */
    static const unsigned kinds[] = {FZ_CMD_INT, FZ_CMD_CLEAR, FZ_CMD_INV, FZ_CMD_DISCARD,
                                     FZ_CMD_MOVI};
    static const char *kn[] = {"int", "clear", "inv", "discard", "movi"};
    for (unsigned i = 0; i < 5; i++) {
        char name[64];
        booted(&s, 0);
        devev(&s, 0, kinds[i], 7, 0);
        devev(&s, 0, kinds[i], 0, 0x85 /* 0x80 */);
        devev(&s, 0, kinds[i], 0, 3);
        mapti(&s, 0, 0, 3, 200, 9);
        devev(&s, 0, kinds[i], 0, 3);
        snprintf(name, sizeof(name), "err-%s", kn[i]);
        save(&s, name);
    }
    /* MOVI to a collection out of range / unmapped. */
    booted(&s, 0);
    movi(&s, 0, 0, 1, 0x82);
    movi(&s, 0, 0, 1, 7);
    movi(&s, 0, 0, 1, 1);
    save(&s, "err-movi-target");
    /* INVALL out of range / unmapped, MOVALL naming no vCPU, SYNC too. */
    booted(&s, 0);
    invall(&s, 0, 0x82);
    invall(&s, 0, 9);
    movall(&s, 0, 0, 0x80 /* huge */);
    movall(&s, 0, 12, 0);
    cmd(&s, 0, FZ_CMD_SYNC | KICK, 0, 0, 0, 0, 0, 0x83);
    save(&s, "err-invall-movall-sync");
    /* Unknown and GICv4 command numbers. */
    booted(&s, 0);
    for (unsigned n = 0; n < 6; n++) {
        static const uint8_t nums[6] = {0x00, 0x02, 0x06, 0x21, 0x2a, 0xff};
        cmd(&s, 0, FZ_CMD_NUMBER | KICK, 0, 0, 0, 0, 0, nums[n]);
    }
    save(&s, "err-unknown-commands");
    /* The limits: a small ITS (2 devices, 3 events, 1 collection). */
    header(&s, 2, 14, 0, 0, 0);
    its_create(&s, 0, 0x07, 0x37, 0x02, 0x03, 0x01 | 0x60, 0x08, 0);
    boot(&s, 0, 0);
    for (uint8_t d = 0; d < 3; d++)
        mapd(&s, 0, d, 3, 1);
    mapc(&s, 0, 0, 0, 1);
    mapc(&s, 0, 1, 1, 1);
    for (uint8_t e = 0; e < 5; e++)
        mapti(&s, 0, 0, e, e, 0);
    mapti(&s, 0, 0, 0, 20, 0); /* replacing at the limit works */
    save(&s, "err-limits");
}

static void gen_stall(void)
{
    struct seed s;
    /* Stall policy: a failing command stalls; Retry re-runs it, a plain
     * CWRITER write skips it; CBASER clears the stall. */
    booted(&s, 2);
    cmd(&s, 0, FZ_CMD_INT, 9, 0, 0, 0, 0, 0);
    devev(&s, 0, FZ_CMD_INT, 0, 0);
    put(&s, 4, FZ_OP_ITS_READ, 0, R_CREADR, SZ8);
    mapd(&s, 0, 9, 1, 1);
    kick(&s, 0, 1);  /* retry: fails again (INT of an unmapped event) */
    kick(&s, 0, 0);  /* skip */
    kick(&s, 0, 2);  /* 32-bit write */
    kick(&s, 0, 8);  /* out of range */
    kick(&s, 0, 12); /* the whole queue again */
    its_write_small(&s, 0, R_CTLR, SZ4, 0);
    its_write_table(&s, 0, R_CBASER, SZ8, 1, 0x390, 0);
    its_write_small(&s, 0, R_CTLR, SZ4, 1);
    save(&s, "queue-stall-retry-skip");
    /* Unreadable commands: a hole across the queue, partial runs. */
    booted(&s, 0x80);
    hole(&s, 0, (0x380000 + 4 * 32 + 8) / 8, 0, 1);
    for (uint8_t e = 0; e < 8; e++)
        cmd(&s, 0, FZ_CMD_INT, 0, e & 3, 0, 0, 0, 0);
    kick(&s, 0, 0);
    hole(&s, 0, 0, 0, 0);
    booted(&s, 0x82);
    save(&s, "queue-unreadable-commands");
    /* Registers while enabled, CWRITER beyond the queue, wrap. */
    booted(&s, 0);
    its_write_table(&s, 0, R_CBASER, SZ8, 1, 0x3a0, 0);
    its_write_table(&s, 0, R_BASER0, SZ8, 1, 0x300, 0);
    put(&s, 7, FZ_OP_ITS_WRITE, 0, R_CWRITER, SZ8, FZ_VAL_QOFF, 0xff, 0x7f);
    its_write_small(&s, 0, R_CTLR, SZ4, 0);
    its_write_table(&s, 0, R_CBASER, SZ8, 1, 0x3a0, 0);
    its_write_small(&s, 0, R_CTLR, SZ4, 1);
    for (unsigned i = 0; i < 130; i++)
        cmd(&s, 0, FZ_CMD_SYNC | (i % 16 == 15 ? KICK : 0), 0, 0, 0, 0, 0, 0);
    save(&s, "queue-wrap");
}

static void gen_registers(void)
{
    struct seed s;
    /* Every ITS register at every size, halves, reserved offsets. */
    header(&s, 2, 16, 0, 0, 0);
    its_create(&s, 0, 0x0f, 0x3f, 0x08, 0x30, 0x08, 0x08, 0);
    for (uint8_t r = 0; r < 28; r++)
        for (uint8_t sz = 0; sz < 8; sz++)
            put(&s, 4, FZ_OP_ITS_READ, 0, r, sz);
    its_write_raw(&s, 0, R_BASER0, SZ8, 0xffffffffffffffffull);
    its_write_raw(&s, 0, R_BASER1, SZ8, 0xfffffffffffff3ffull);
    its_write_raw(&s, 0, R_BASER0_HI, SZ4, 0x80000000);
    its_write_raw(&s, 0, R_BASER2, SZ8, 0xffffffffffffffffull);
    its_write_raw(&s, 0, R_CBASER, SZ8, 0xffffffffffffffffull);
    its_write_raw(&s, 0, R_CBASER_HI, SZ4, 0);
    its_write_table(&s, 0, R_BASER0, SZ8, 0x05, 0x300, 3);
    its_write_table(&s, 0, R_BASER1, SZ8, 0x09, 0x340, 1);
    its_write_table(&s, 0, R_BASER0, SZ8, 0x0d | 0x30, 0x30, 0);
    its_write_raw(&s, 0, 1 /* IIDR */, SZ4, 0xffffffff);
    its_write_raw(&s, 0, 2 /* TYPER */, SZ8, 0);
    its_write_raw(&s, 0, R_CREADR, SZ8, 0x40);
    its_write_raw(&s, 0, 20 /* TRANSLATER */, SZ4, 1);
    its_write_raw(&s, 0, R_CTLR, SZ8, 1);
    put(&s, 7, FZ_OP_ITS_WRITE, 0, 31 /* raw offset */, SZ4, 0x00, 0x00, 0x02, FZ_VAL_SMALL);
    put(&s, 1, 0);
    save(&s, "regs-its");
    /* Redistributor registers. */
    header(&s, 3, 15, 0, 0, 0);
    for (uint8_t v = 0; v < 4; v++)
        for (uint8_t r = 0; r < 12; r++)
            for (uint8_t sz = 0; sz < 6; sz++)
                put(&s, 4, FZ_OP_GICR_READ, v, r, sz);
    gicr_write_table(&s, 0, G_PROP, SZ8, 0x80 | 0x30, 0x100, 14);
    gicr_write_table(&s, 0, G_PEND, SZ8, 0x32, 0x20, 0);
    gicr_write_small(&s, 0, G_PROP_HI, SZ4, 0xff);
    gicr_write_small(&s, 0, G_CTLR, SZ8, 1);
    gicr_write_small(&s, 0, G_CTLR, SZ4, 1);
    gicr_write_small(&s, 0, G_PROP, SZ8, 0);
    gicr_write_small(&s, 1, 2 /* TYPER */, SZ8, 0);
    gicr_write_small(&s, 1, 8 /* ENOENT */, SZ4, 0);
    gicr_write_small(&s, 9, G_CTLR, SZ4, 1);
    gicr_write_small(&s, 1, G_CTLR, SZ2, 1);
    put(&s, 5, FZ_OP_GICR_READ, 0, 15, SZ4, 0x74);
    save(&s, "regs-gicr");
}

static void gen_boots(void)
{
    struct seed s;
    /* A Linux-like boot: tables, queue, one device with MSIs, an INV
     * after each property change, acknowledges. */
    header(&s, 4, 16, 0, 0, 0);
    boot(&s, 0, 0x10);
    for (uint8_t v = 1; v < 4; v++)
        mapd(&s, 0, v, 4, 1);
    for (uint8_t e = 0; e < 6; e++)
        mapti(&s, 0, 1, e, 64 + e, e % 4);
    for (uint8_t e = 0; e < 6; e++)
        msi(&s, 0, (uint8_t)(e % 2 ? FZ_MSI_DOMAIN : FZ_MSI_TRANSLATER), 1, e);
    for (uint8_t i = 0; i < 4; i++)
        ack_first(&s);
    prop(&s, 0, 65, 0xa2);
    devev(&s, 0, FZ_CMD_INV, 1, 1);
    prop(&s, 0, 65, 0x63);
    devev(&s, 0, FZ_CMD_INV, 1, 1);
    msi(&s, 0, FZ_MSI_ITS, 1, 1);
    movi(&s, 0, 1, 2, 3);
    mapc(&s, 0, 3, 2, 1);
    cmd(&s, 0, FZ_CMD_SYNC | KICK, 0, 0, 0, 0, 0, 2);
    save(&s, "boot-linux");
    /* Linux with PTA = 1 (RDbase as addresses) and a stall policy. */
    header(&s, 2, 16, 0, 0, 0);
    boot(&s, 0, 0x13);
    mapc(&s, 0, 1, 1, 1);
    mapc(&s, 0, 2, 0x41 /* misaligned address */, 1);
    movall(&s, 0, 0, 1);
    msi(&s, 0, FZ_MSI_ITS, 0, 0);
    save(&s, "boot-pta");
    /* Two-level device table: level-1 entry 0 valid, others not. */
    header(&s, 2, 16, 0, 0, 0);
    boot(&s, 0, 0x18);
    mapd(&s, 0, 5, 2, 1);
    mapd(&s, 0, 0x83 /* 0xffff: invalid level-1 entry */, 2, 1);
    mapd(&s, 0, 0x84 /* 0x100 */, 2, 1);
    hole(&s, 0, 0x300000 / 8, 0, 1);
    mapd(&s, 0, 6, 2, 1);
    mapti(&s, 0, 5, 0, 300, 1);
    msi(&s, 0, FZ_MSI_ITS, 5, 0);
    save(&s, "boot-two-level");
    /* Two-level collection table (16 KiB pages), by hand. */
    header(&s, 2, 16, 0, 0, 0);
    boot(&s, 0, 0x00);
    its_write_small(&s, 0, R_CTLR, SZ4, 0);
    its_write_table(&s, 0, R_BASER1, SZ8, 0x07, 0x340, 0);
    put(&s, 9, FZ_OP_MEM_WRITE, 0x00, 0x00, 0x34 /* RAM + 0x340000 */, 8, 0, 0, 0x35, 0);
    put(&s, 4, 0, 0, 0, 0x80);
    its_write_small(&s, 0, R_CTLR, SZ4, 1);
    mapc(&s, 0, 1, 1, 1);
    mapc(&s, 0, 0x84 /* 0x10 */, 1, 1);
    save(&s, "boot-two-level-collections");
    /* Pending tables read at EnableLPIs (no PTZ), written back at
     * disable and by vits_domain_sync_pending. */
    header(&s, 2, 15, 0, 0, 0);
    boot(&s, 0, 0x14);
    put(&s, 5, FZ_OP_PEND, 0, 1, 0, 1);
    gicr_write_small(&s, 0, G_CTLR, SZ4, 0);
    put(&s, 5, FZ_OP_PEND, 0, 2, 0, 1);
    msi(&s, 0, FZ_MSI_ITS, 0, 3);
    put(&s, 1, FZ_OP_SYNC_PENDING);
    gicr_write_small(&s, 0, G_CTLR, SZ4, 1);
    devev(&s, 0, FZ_CMD_INT, 0, 0);
    put(&s, 1, FZ_OP_SYNC_PENDING);
    hole(&s, 1, 0x200000 / 8, 0x80, 2);
    put(&s, 1, FZ_OP_SYNC_PENDING);
    gicr_write_small(&s, 0, G_CTLR, SZ4, 0);
    hole(&s, 1, 0x200000 / 8, 0x80, 1);
    gicr_write_small(&s, 0, G_CTLR, SZ4, 1);
    save(&s, "pending-tables");
}

static void gen_faults(void)
{
    struct seed s;
    /* Allocations failing under commands, raises failing. */
    booted(&s, 0);
    faults(&s, 1);
    mapd(&s, 0, 2, 3, 1);
    mapti(&s, 0, 0, 2, 4, 0);
    mapti(&s, 0, 0, 3, 200, 0);
    put(&s, 6, FZ_OP_ROUTE_CREATE, 0, 0, 0, 0, 0);
    faults(&s, 2);
    msi(&s, 0, FZ_MSI_ITS, 0, 0);
    faults(&s, 0);
    msi(&s, 0, FZ_MSI_ITS, 0, 0);
    save(&s, "fault-alloc-raise");
    /* ITS and route creation with each allocation failing. */
    header(&s, 1, 14, 0, 0, 0);
    for (uint8_t f = 1; f < 5; f++)
        its_create(&s, 0, 0x0f, 0x33, 0x08, 0x30, 0x08, 0x08, f);
    put(&s, 2, FZ_OP_ITS_DESTROY, 0);
    boot(&s, 1, 0);
    put(&s, 6, FZ_OP_ROUTE_CREATE, 1, 0, 0, 0, 1);
    put(&s, 6, FZ_OP_ROUTE_CREATE, 1, 1, 0, 0, 2);
    save(&s, "fault-create");
    /* Domain creation failing at each allocation, bad configurations. */
    for (uint8_t f = 0; f < 8; f++) {
        char name[64];
        header(&s, 2, 16, 0x80, f, (uint8_t)(1 | f << 1));
        boot(&s, 0, 0);
        snprintf(name, sizeof(name), "fault-domain-%u", f);
        save(&s, name);
    }
    /* Bad ITS configurations. */
    header(&s, 1, 14, 0, 0, 0);
    for (uint8_t k = 0; k < 8; k++) {
        its_create(&s, 0, 0x80, 0, 0, 0, 0, (uint8_t)(k << 4), 0);
        its_create(&s, 0, 0x80, 0, 0, 0, 0, (uint8_t)(k << 4 | 0x80), 0);
    }
    save(&s, "fault-its-config");
    /* Property and level-1 reads failing. */
    booted(&s, 0x08);
    hole(&s, 2, 0x100000 / 8, 0x80, 5);
    mapti(&s, 0, 0, 2, 2, 0);
    devev(&s, 0, FZ_CMD_INV, 0, 0);
    invall(&s, 0, 0);
    hole(&s, 3, 0x300000 / 8, 0, 1);
    mapd(&s, 0, 4, 2, 1);
    save(&s, "fault-reads");
}

static void gen_msi_routes(void)
{
    struct seed s;
    /* Every MSI entry point, routes through remapping, ack. */
    booted(&s, 0);
    for (uint8_t p = 0; p < 8; p++) {
        msi(&s, 0, p, 0, p % 4);
        msi(&s, 0, p, 0, 0x40 | p);
        ack_first(&s);
    }
    put(&s, 6, FZ_OP_ROUTE_CREATE, 0, 0, 0, 1, 0);
    put(&s, 6, FZ_OP_ROUTE_CREATE, 0, 1, 0, 9, 0);
    put(&s, 2, FZ_OP_ROUTE_FIRE, 0);
    put(&s, 2, FZ_OP_ROUTE_FIRE, 1);
    ack_first(&s);
    mapti(&s, 0, 0, 1, 90, 0);
    put(&s, 2, FZ_OP_ROUTE_FIRE, 0);
    devev(&s, 0, FZ_CMD_DISCARD, 0, 1);
    put(&s, 2, FZ_OP_ROUTE_FIRE, 0);
    put(&s, 2, FZ_OP_ROUTE_FIRE, 5);
    put(&s, 2, FZ_OP_ITS_DESTROY, 0);
    put(&s, 2, FZ_OP_ROUTE_FIRE, 1);
    put(&s, 1, FZ_OP_DOMAIN_CYCLE);
    put(&s, 2, FZ_OP_ROUTE_DESTROY, 1);
    put(&s, 2, FZ_OP_ROUTE_DESTROY, 0);
    put(&s, 1, FZ_OP_DOMAIN_CYCLE);
    boot(&s, 0, 0x10);
    msi(&s, 0, FZ_MSI_ITS, 0, 0);
    save(&s, "msi-routes-cycle");
    /* LPIs off on the target, retargets, MAPC V=0 and back. */
    booted(&s, 0);
    msi(&s, 0, FZ_MSI_ITS, 0, 0);
    gicr_write_small(&s, 0, G_CTLR, SZ4, 0);
    msi(&s, 0, FZ_MSI_ITS, 0, 1);
    mapc(&s, 0, 0, 1, 1);
    mapc(&s, 0, 0, 0, 0);
    msi(&s, 0, FZ_MSI_ITS, 0, 2);
    mapc(&s, 0, 0, 2, 1);
    gicr_write_small(&s, 0, G_CTLR, SZ4, 1);
    movall(&s, 0, 2, 0);
    mapc(&s, 0, 0, 3, 1);
    save(&s, "msi-retarget");
}

static void gen_multi(void)
{
    struct seed s;
    /* Two ITSes share the LPI space; a third overlaps the first. */
    header(&s, 3, 16, 0x08, 0, 0);
    boot(&s, 0, 0x10);
    boot(&s, 1, 0x11);
    its_create(&s, 2, 0x0f, 0x33, 0x08, 0x30, 0x08, 0x08, 0);
    its_create(&s, 2, 0x0f, 0x33, 0x08, 0x30, 0x08, 0x09, 0);
    mapti(&s, 1, 0, 0, 0 /* LPI 8192: ITS 0 maps it */, 0);
    mapti(&s, 1, 0, 0, 40, 0);
    msi(&s, 1, FZ_MSI_DOMAIN, 0, 0);
    msi(&s, 0, FZ_MSI_DOMAIN, 0, 0);
    movall(&s, 1, 0, 2);
    put(&s, 2, FZ_OP_ITS_DESTROY, 0);
    msi(&s, 1, FZ_MSI_ITS, 0, 0);
    boot(&s, 0, 0);
    save(&s, "multi-its");
}

static void ioreq(struct seed *s, uint8_t where, uint8_t reg, uint8_t size, uint8_t how)
{
    put(s, 5, FZ_OP_IOREQ, where, reg, size, how);
}

static void gen_ioreq(void)
{
    struct seed s;
    /* MMIO requests: ITS and GICR registers, GITS_TRANSLATER with and
     * without a DeviceID, request slots, bad requests. */
    booted(&s, 0);
    ioreq(&s, 0, 8 /* CREADR */, SZ8, 0x00);
    ioreq(&s, 0, 0 /* CTLR */, SZ4, 0x11);
    put(&s, 2, FZ_VAL_SMALL, 1);
    ioreq(&s, 1 | 1 << 2, 4 /* PROPBASER */, SZ8, 0x10);
    ioreq(&s, 1 | 1 << 2, 0 /* CTLR */, SZ4, 0x11);
    put(&s, 2, FZ_VAL_SMALL, 0);
    ioreq(&s, 1 | 1 << 2, 0, SZ4, 0x11);
    put(&s, 2, FZ_VAL_SMALL, 1);
    ioreq(&s, 1 | 9 << 2, 0, SZ4, 0x00);
    ioreq(&s, 1 | 1 << 2, 8 /* ENOENT */, SZ4, 0x00);
    ioreq(&s, 2, 0 /* device 0 */, SZ4, 0x03);
    put(&s, 1, 1 /* event 1 */);
    ioreq(&s, 2, 0, SZ2, 0x03);
    put(&s, 1, 2);
    ioreq(&s, 2, 0, SZ4, 0x01);
    put(&s, 1, 3);
    ack_first(&s);
    for (uint8_t h = 0; h < 8; h++)
        ioreq(&s, 3, h, (uint8_t)(h % 6), 0x00);
    ioreq(&s, 0, 0, SZ1, 0x00);
    ioreq(&s, 0, 0, SZ4, 0x08);
    ioreq(&s, 0, 0, SZ4, 0xf0);
    ioreq(&s, 0, 8, SZ8, 0x04);
    ioreq(&s, 1 | 2 << 2, 4, SZ8, 0x24);
    ioreq(&s, 2, 0, SZ4, 0x27);
    put(&s, 1, 0);
    ioreq(&s, 0, 8, SZ8, 0x34);
    ioreq(&s, 0, 8, SZ8, 0x0c);
    ioreq(&s, 0, 8, SZ8, 0xf4);
    save(&s, "ioreq");
    /* Transports with small messages: every access split (max_access). */
    for (uint8_t m = 8; m < 16; m += 3) {
        char name[64];
        header(&s, 2, 16, 0, 0, 0);
        s.b[5] = m;
        boot(&s, 0, 0x14);
        put(&s, 5, FZ_OP_PEND, 1, 3, 0, 1);
        mapc(&s, 0, 1, 1, 1);
        mapti(&s, 0, 0, 3, 3, 1);
        gicr_write_small(&s, 1, G_CTLR, SZ4, 0);
        gicr_write_small(&s, 1, G_CTLR, SZ4, 1);
        for (uint8_t e = 0; e < 20; e++)
            cmd(&s, 0, FZ_CMD_INV | (e == 19 ? KICK : 0), 0, e % 4, 0, 0, 0, 0);
        invall(&s, 0, 0);
        put(&s, 1, FZ_OP_SYNC_PENDING);
        snprintf(name, sizeof(name), "max-access-%u", m);
        save(&s, name);
    }
}

static void gen_geometry(void)
{
    struct seed s;
    /* Table bounds: small flat tables with more ID bits than they hold. */
    header(&s, 2, 16, 0, 0, 0);
    boot_g(&s, 0, 0x10, 0x40 | 0x20 | 0x01); /* 16 DeviceID bits, CIDbits 16, 4 KiB pages */
    mapd(&s, 0, 0x83 /* 0xffff */, 1, 1);
    mapd(&s, 0, 0x84 /* 0x100 */, 1, 1);
    mapc(&s, 0, 0x81 /* 0x8000 */, 1, 1);
    mapc(&s, 0, 0x84 /* 0x10 */, 1, 1);
    mapti(&s, 0, 0, 1, 9, 0x80 /* 0xffff */);
    invall(&s, 0, 0x81);
    save(&s, "tables-flat-bounds");
    /* Two-level device table: beyond it, under invalid level-1 entries. */
    header(&s, 2, 16, 0, 0, 0);
    boot_g(&s, 0, 0x18, 0x03); /* 32 DeviceID bits */
    mapd(&s, 0, 0x81 /* 0x80000000 */, 1, 1);
    mapd(&s, 0, 0x83 /* 0xffff */, 1, 1);
    mapd(&s, 0, 0x85 /* 0x7fffffff */, 1, 1);
    mapd(&s, 0, 0x84 /* 0x100 */, 1, 1);
    save(&s, "tables-two-level-bounds");
    /* Invalid tables: the collection table left invalid, the device
     * table never written. */
    header(&s, 1, 14, 0, 0, 0);
    boot_g(&s, 0, 0x10, 0x80);
    mapc(&s, 0, 1, 0, 1);
    its_create(&s, 1, 0x0f, 0x33, 0x08, 0x30, 0x08, 0x0a, 0);
    its_write_table(&s, 1, R_CBASER, SZ8, 1, 0x3a0, 0);
    its_write_small(&s, 1, R_CTLR, SZ4, 1);
    mapd(&s, 1, 1, 1, 1);
    save(&s, "tables-invalid");
    /* Many devices: the device hash grows and deletes with shifts. */
    header(&s, 2, 16, 0, 0, 0);
    boot_g(&s, 0, 0, 0x01);
    for (uint8_t d = 0; d < 16; d++)
        cmd(&s, 0, FZ_CMD_MAPD | (d == 15 ? KICK : 0), d, 0, d, 0, 0, 2);
    mapd(&s, 0, 0x84 /* 0x100 */, 2, 1);
    for (uint8_t d = 0; d < 16; d += 3)
        cmd(&s, 0, FZ_CMD_MAPD | KICK, d, 0, 0, 0, 0, 0x80);
    for (uint8_t d = 0; d < 16; d++)
        mapti(&s, 0, d, 1, 16 + d, 0);
    mapc(&s, 0, 0, 1, 1);
    for (uint8_t d = 0; d < 16; d++)
        msi(&s, 0, FZ_MSI_ITS, d, 1);
    save(&s, "many-devices");
    /* A large ITT (more than 256 events): events in chunks of 64. */
    header(&s, 2, 16, 0, 0, 0);
    boot_g(&s, 0, 0x10, 0x04); /* 12 EventID bits */
    mapd(&s, 0, 1, 11, 1);
    mapc(&s, 0, 1, 1, 1);
    static const uint8_t evs[6] = {0, 1, 63, 64, 100, 0x87 /* 0x3f */};
    for (unsigned i = 0; i < 6; i++)
        mapti(&s, 0, 1, evs[i], 100 + i, 1);
    msi(&s, 0, FZ_MSI_ITS, 1, 64);
    devev(&s, 0, FZ_CMD_DISCARD, 1, 64);
    devev(&s, 0, FZ_CMD_DISCARD, 1, 0);
    faults(&s, 1);
    mapti(&s, 0, 1, 120, 110, 1);
    mapti(&s, 0, 1, 2, 111, 1);
    faults(&s, 0);
    mapd(&s, 0, 1, 11, 0);
    save(&s, "large-itt");
    /* Routes: the cache (fire twice), lists of several, destroy order. */
    booted(&s, 0);
    for (uint8_t r = 0; r < 4; r++)
        put(&s, 6, FZ_OP_ROUTE_CREATE, 0, r, 0, r, 0);
    for (uint8_t k = 0; k < 3; k++) {
        put(&s, 2, FZ_OP_ROUTE_FIRE, 1);
        put(&s, 2, FZ_OP_ROUTE_FIRE, 1);
        ack_first(&s);
    }
    put(&s, 2, FZ_OP_ROUTE_DESTROY, 2);
    put(&s, 2, FZ_OP_ROUTE_DESTROY, 0);
    put(&s, 2, FZ_OP_ROUTE_FIRE, 3);
    put(&s, 2, FZ_OP_ITS_DESTROY, 0);
    put(&s, 2, FZ_OP_ROUTE_FIRE, 3);
    put(&s, 2, FZ_OP_ROUTE_DESTROY, 3);
    save(&s, "routes-cache-lists");
    /* The default allocator (no alloc callback). */
    header(&s, 2, 16, 0, 0, 0);
    s.b[6] = 1;
    boot(&s, 0, 0x10);
    faults(&s, 1);
    mapti(&s, 0, 0, 3, 40, 0);
    msi(&s, 0, FZ_MSI_ITS, 0, 3);
    put(&s, 2, FZ_OP_ITS_DESTROY, 0);
    put(&s, 1, FZ_OP_DOMAIN_CYCLE);
    save(&s, "default-allocator");
    /* One batch that frees more than the limbo holds: 300 re-MAPDs. */
    header(&s, 1, 14, 0, 0, 0);
    boot(&s, 0, 0);
    for (unsigned i = 0; i < 300; i++)
        cmd(&s, 0, FZ_CMD_MAPD, (uint8_t)(i % 4), 0, 0, 0, 0, 1);
    kick(&s, 0, 0);
    save(&s, "limbo-overflow");
    /* Save/restore and resets (when vits.h has them). */
    booted(&s, 0);
    msi(&s, 0, FZ_MSI_ITS, 0, 0);
    msi(&s, 0, FZ_MSI_ITS, 0, 1);
    faults(&s, 2);
    msi(&s, 0, FZ_MSI_ITS, 0, 2);
    faults(&s, 0);
    saverestore(&s, 0, 0, 0);
    saverestore(&s, 3, 0, 0);
    saverestore(&s, 3, 77, 0);
    put(&s, 6, FZ_OP_ROUTE_CREATE, 0, 0, 0, 1, 0);
    saverestore(&s, 1, 0, 0);
    put(&s, 2, FZ_OP_ROUTE_FIRE, 0);
    boot(&s, 0, 0x10);
    put(&s, 2, FZ_OP_ROUTE_FIRE, 0);
    saverestore(&s, 2, 0, 0);
    boot(&s, 0, 0x14);
    saverestore(&s, 0, 0, 0);
    save(&s, "save-restore-reset");
    /* KVM's way: tables, registers, pending tables, a MOVALL forgotten. */
    for (uint8_t k = 0; k < 3; k++) {
        char name[64];
        header(&s, 2, 16, 0, 0, 0);
        boot_g(&s, 0, (uint8_t)(0x10 | (k == 1 ? 0x08 : 0) | (k == 2 ? 0x06 : 0)), 0);
        mapd(&s, 0, 3, 3, 1);
        mapc(&s, 0, 1, 1, 1);
        mapti(&s, 0, 3, 5, 70, 1);
        mapti(&s, 0, 3, 6, 71, 2 /* never mapped */);
        msi(&s, 0, FZ_MSI_ITS, 0, 1);
        msi(&s, 0, FZ_MSI_ITS, 3, 5);
        movall(&s, 0, 1, 0);
        prop(&s, 0, 70, 0xa0);
        saverestore(&s, 4, 0, 0);
        msi(&s, 0, FZ_MSI_ITS, 3, 5);
        ack_first(&s);
        saverestore(&s, 4, 0, 0);
        snprintf(name, sizeof(name), "save-restore-kvm-%u", k);
        save(&s, name);
    }
    /* A hostile guest's tables restored on a migration's destination:
     * a collection, a device and two ITTEs written straight into guest
     * memory, then restored, then used; and tables a save wrote, then
     * damaged by the guest before the restore. */
    header(&s, 2, 16, 0, 0, 0);
    boot(&s, 0, 0);
    mem_write64(&s, FZ_COLLTAB_OFF(0), 1ull << 63);
    mem_write64(&s, FZ_DEVTAB_OFF(0) + 2 * 8,
                1ull << 63 | ((FZ_RAM_BASE + FZ_ITT_OFF(0) + 0x1000) >> 8) << 5 | 1);
    mem_write64(&s, FZ_ITT_OFF(0) + 0x1000, 1ull << 48 | 8200ull << 16);
    mem_write64(&s, FZ_ITT_OFF(0) + 0x1008, 8201ull << 16);
    saverestore(&s, 4, 0x80, 0);
    msi(&s, 0, FZ_MSI_ITS, 2, 0);
    msi(&s, 0, FZ_MSI_ITS, 2, 1);
    msi(&s, 0, FZ_MSI_ITS, 2, 2);
    save(&s, "restore-hostile-tables");
    booted(&s, 0);
    mapd(&s, 0, 3, 3, 1);
    mapti(&s, 0, 3, 5, 70, 0);
    saverestore(&s, 4, 0, 0);
    mem_write64(&s, FZ_DEVTAB_OFF(0) + 3 * 8, 1ull << 63 | 0x3fffull << 49);
    saverestore(&s, 4, 0x80, 0);
    msi(&s, 0, FZ_MSI_ITS, 3, 5);
    save(&s, "restore-hostile-damaged");

    /* KVM's register interface, every register, odd values. */
    booted(&s, 2);
    for (uint8_t r = 0; r < 32; r++)
        saverestore(&s, 5, r, (uint8_t)(r % 8));
    its_write_small(&s, 0, R_CTLR, SZ4, 0);
    for (uint8_t r = 0; r < 32; r++)
        saverestore(&s, 6, r, (uint8_t)((r + 3) % 8));
    saverestore(&s, 7, 0, 1);
    save(&s, "save-restore-uregs");
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    outdir = argv[1];
    gen_commands();
    gen_errors();
    gen_stall();
    gen_registers();
    gen_boots();
    gen_faults();
    gen_msi_routes();
    gen_multi();
    gen_ioreq();
    gen_geometry();
    printf("wrote %u seeds to %s\n", written, outdir);
    return 0;
}
