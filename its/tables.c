/* SPDX-License-Identifier: MIT */
/*
 * The guest's ITS tables, as GITS_BASER<n> describes them. vits keeps its
 * state host-side, so the tables serve to bound which IDs the guest may
 * use (as the architecture says): an ID beyond a flat table, beyond the
 * level-1 array of an indirect one, or under an invalid level-1 entry is
 * out of range. An invalid BASER is a table of size zero.
 *
 * Entry size is 8 bytes for both tables (KVM's table ABI); page sizes of
 * 4, 16 and 64 KiB are supported. Needs the domain lock.
 */
#include "its.h"

#define BASER_VALID (1ull << 63)
#define BASER_INDIRECT (1ull << 62)
#define BASER_ESZ 8u

/* Writable fields: Valid, Indirect, InnerCache, OuterCache, address,
 * Shareability, Page_Size, Size. */
#define BASER_RW_MASK                                                                              \
    (BASER_VALID | BASER_INDIRECT | (7ull << 59) | (7ull << 53) | (((1ull << 36) - 1) << 12) |     \
     (3ull << 10) | (3ull << 8) | 0xffull)

static const uint8_t baser_type[2] = {1 /* Devices */, 4 /* Collections */};

static uint64_t page_size(uint64_t baser) { return 4096ull << (2 * lpi_bits(baser, 9, 8)); }

/* Table base address; with 64 KiB pages bits [15:12] hold PA[51:48]. */
static uint64_t table_pa(uint64_t baser)
{
    uint64_t pa = lpi_bits(baser, 47, 12) << 12;
    if (page_size(baser) == 65536)
        pa = (pa & ((1ull << 48) - 1) & ~0xffffull) | (lpi_bits(baser, 15, 12) << 48);
    return pa;
}

uint64_t its_baser_sanitise(unsigned n, uint64_t val)
{
    if (n > ITS_BASER_COLLECTIONS)
        return 0; /* unimplemented tables: Type 0, RAZ/WI */
    val &= BASER_RW_MASK;
    /* Page_Size 0b11 is reserved: read it as 64 KiB. */
    if (lpi_bits(val, 9, 8) == 3)
        val &= ~(1ull << 8);
    /* Shareability 0b11 is reserved: read it as Outer Shareable (0b10). */
    if (lpi_bits(val, 11, 10) == 3)
        val &= ~(1ull << 10);
    /* Address bits below the page size are RES0 (with 64 KiB pages,
     * [15:12] carry PA[51:48] instead). */
    if (page_size(val) == 16384)
        val &= ~(3ull << 12);
    return val | (uint64_t)baser_type[n] << 56 | (uint64_t)(BASER_ESZ - 1) << 48;
}

bool its_table_check(struct vits_its *its, unsigned n, uint64_t id, const char *who)
{
    uint64_t baser = its->baser[n];
    const char *what = n == ITS_BASER_DEVICES ? "device" : "collection";
    struct its_table_geo g;
    its_table_geo(baser, &g);
    its->table_memo[n].baser = baser;
    its->table_memo[n].flat_ids = g.valid && !g.indirect ? g.ids : 0;
    if (!g.valid) {
        lpi_log(its->d, VITS_LOG_GUEST, "%s: %s table (GITS_BASER%u) invalid, ID 0x%llx", who, what,
                n, (unsigned long long)id);
        return false;
    }
    if (!g.indirect) {
        if (id < g.ids)
            return true;
        lpi_log(its->d, VITS_LOG_GUEST, "%s: %s ID 0x%llx beyond the %llu entries of its table",
                who, what, (unsigned long long)id, (unsigned long long)g.ids);
        return false;
    }
    uint64_t l1 = id / g.per_page;
    if (l1 >= g.bytes / 8) {
        lpi_log(its->d, VITS_LOG_GUEST, "%s: %s ID 0x%llx beyond its two-level table", who, what,
                (unsigned long long)id);
        return false;
    }
    uint8_t buf[8];
    uint64_t gpa = g.pa + l1 * 8;
    int rc = lpi_read_guest(its->d, gpa, buf, sizeof(buf));
    if (rc) {
        lpi_log(its->d, VITS_LOG_GUEST,
                "%s: level-1 entry of %s ID 0x%llx unreadable at 0x%llx (%d)", who, what,
                (unsigned long long)id, (unsigned long long)gpa, rc);
        return false;
    }
    if (!(lpi_le64(buf) & (1ull << 63))) {
        lpi_log(its->d, VITS_LOG_GUEST, "%s: %s ID 0x%llx under an invalid level-1 entry", who,
                what, (unsigned long long)id);
        return false;
    }
    return true;
}

void its_table_geo(uint64_t baser, struct its_table_geo *g)
{
    g->valid = baser & BASER_VALID;
    g->indirect = baser & BASER_INDIRECT;
    g->page_size = page_size(baser);
    g->pa = table_pa(baser);
    g->bytes = (lpi_bits(baser, 7, 0) + 1) * g->page_size;
    g->per_page = g->page_size / BASER_ESZ;
    if (!g->valid)
        g->ids = 0;
    else if (g->indirect)
        g->ids = g->bytes / 8 * g->per_page;
    else
        g->ids = g->bytes / BASER_ESZ;
}
