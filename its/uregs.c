/* SPDX-License-Identifier: MIT */
/*
 * The ITS registers as a VMM saves and restores them: KVM's
 * KVM_DEV_ARM_VGIC_GRP_ITS_REGS semantics. Every register is accessed
 * whole, as a 64-bit value, at the offset of its first byte. Reads are
 * what the guest would read. Writes are the guest's, except that:
 *  - GITS_IIDR takes its Revision, which selects the table ABI (vits
 *    knows revision 0 only; another is refused), other fields ignored;
 *  - GITS_CREADR, read-only to the guest, is restorable while the ITS is
 *    disabled (after GITS_CBASER, whose write zeroes it): its offset, and
 *    its Stalled bit for an ITS that stalls on errors;
 *  - GITS_CWRITER on a disabled ITS is only stored: no command runs, and
 *    no Retry/skip of a stalled command happens (the guest's CWRITER write
 *    that does that comes later, if it comes);
 *  - GITS_CBASER, GITS_BASER<n> and GITS_CREADR while the ITS is enabled
 *    fail with -EBUSY where the guest's write would be ignored;
 *  - GITS_TYPER and the ID registers ignore writes (read-only).
 * KVM's documented restore order (GITS_IIDR, GITS_CBASER, the other
 * registers but GITS_CTLR, the tables, GITS_CTLR) works: GITS_CTLR last
 * enables the ITS, which runs any command queued between CREADR and
 * CWRITER.
 */
#include <errno.h>

#include "migrate.h"

#define GITS_CTLR 0x0000u
#define GITS_IIDR 0x0004u
#define GITS_TYPER 0x0008u
#define GITS_CBASER 0x0080u
#define GITS_CWRITER 0x0088u
#define GITS_CREADR 0x0090u
#define GITS_BASER0 0x0100u
#define GITS_BASER7 0x0138u
#define GITS_IDREGS 0xffd0u
#define GITS_IDREGS_END 0x10000u

#define OFFSET_MASK (((1ull << 15) - 1) << 5) /* CWRITER/CREADR [19:5] */
#define CREADR_STALLED 1ull
#define IIDR_REVISION(v) ((unsigned)(((v) >> 12) & 0xf))

/* Width of the register that starts at offset (4 or 8), 0 when no
 * register starts there, -1 when offset falls inside one. */
static int reg_width(uint64_t offset)
{
    switch (offset) {
    case GITS_CTLR:
    case GITS_IIDR:
        return 4;
    case GITS_TYPER:
    case GITS_CBASER:
    case GITS_CWRITER:
    case GITS_CREADR:
        return 8;
    default:
        break;
    }
    if (offset >= GITS_BASER0 && offset < GITS_BASER7 + 8)
        return offset % 8 ? -1 : 8;
    if (offset >= GITS_IDREGS && offset < GITS_IDREGS_END)
        return offset % 4 ? -1 : 4;
    if (offset < GITS_TYPER || (offset > GITS_TYPER && offset < GITS_TYPER + 8) ||
        (offset > GITS_CBASER && offset < GITS_CREADR + 8))
        return -1;
    return 0;
}

int vits_its_reg_get(struct vits_its *its, uint64_t offset, uint64_t *val)
{
    if (!its || !val)
        return -EINVAL;
    int w = reg_width(offset);
    if (w < 0)
        return -EINVAL;
    if (w == 0)
        return -ENXIO;
    return vits_its_mmio_read(its, offset, (unsigned)w, val);
}

/* GITS_CREADR: offset and Stalled. Needs the lock. */
static int set_creadr(struct vits_its *its, uint64_t val)
{
    if (atomic_load(&its->enabled))
        return -EBUSY;
    uint64_t off = val & OFFSET_MASK;
    bool stalled = val & CREADR_STALLED;
    if (off >= its_queue_size(its))
        return -EINVAL;
    if (stalled && its->cfg.error_policy != VITS_ERRORS_STALL)
        return -EINVAL;
    its->creadr = off;
    its->stalled = stalled;
    return 0;
}

/* GITS_CWRITER: stored on a disabled ITS, a guest write on an enabled
 * one. Needs the lock. */
static int set_cwriter(struct vits_its *its, uint64_t val)
{
    uint64_t off = val & OFFSET_MASK;
    if (off >= its_queue_size(its))
        return -EINVAL;
    if (atomic_load(&its->enabled))
        its_reg_write(its, GITS_CWRITER, val);
    else
        its->cwriter = off;
    return 0;
}

int vits_its_reg_set(struct vits_its *its, uint64_t offset, uint64_t val)
{
    if (!its)
        return -EINVAL;
    int w = reg_width(offset);
    if (w < 0)
        return -EINVAL;
    if (w == 0)
        return -ENXIO;
    if (offset == GITS_TYPER || offset >= GITS_IDREGS)
        return 0; /* read-only: ignored, as KVM ignores it */
    if (offset == GITS_IIDR && IIDR_REVISION(val) != VITS_ITS_ABI_REV0)
        return -EINVAL; /* names no table ABI this library speaks */
    struct vits_domain *d = its->d;
    int rc = 0;
    pthread_mutex_lock(&d->lock);
    switch (offset) {
    case GITS_IIDR:
        its->cfg.iidr_revision = IIDR_REVISION(val);
        break;
    case GITS_CREADR:
        rc = set_creadr(its, val);
        break;
    case GITS_CWRITER:
        rc = set_cwriter(its, val);
        break;
    case GITS_CTLR:
        its_reg_write(its, offset, val);
        break;
    default: /* GITS_CBASER, GITS_BASER<n>: frozen while enabled */
        if (atomic_load(&its->enabled))
            rc = -EBUSY;
        else
            its_reg_write(its, offset, val);
        break;
    }
    pthread_mutex_unlock(&d->lock);
    return rc;
}
