/* SPDX-License-Identifier: MIT */
/*
 * Guest memory through the ops table, within the largest access the
 * embedder accepts (ops->max_access, version 2). Callers ask for whole
 * runs (a run of commands, a property line, a run of the pending table);
 * only a run larger than max_access costs more than one call, and then
 * each call but the last moves exactly max_access bytes.
 *
 * A failure stops at the failing call: nothing after it is read or
 * written, and the caller treats the whole run as failed (for reads, the
 * contents of buf are then undefined). A callback that breaks the ops
 * contract by returning a positive value counts as -EIO, so it can never
 * pass for an architected command error.
 */
#include <errno.h>

#include "lpi.h"

int lpi_read_guest(struct vits_domain *d, uint64_t gpa, void *buf, size_t len)
{
    uint8_t *p = buf;
    while (len) {
        size_t n = lpi_access_cap(d, len);
        int rc = d->ops->read_mem(d->opaque, gpa, p, n);
        if (rc)
            return rc < 0 ? rc : -EIO;
        gpa += n, p += n, len -= n;
    }
    return 0;
}

int lpi_write_guest(struct vits_domain *d, uint64_t gpa, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    while (len) {
        size_t n = lpi_access_cap(d, len);
        int rc = d->ops->write_mem(d->opaque, gpa, p, n);
        if (rc)
            return rc < 0 ? rc : -EIO;
        gpa += n, p += n, len -= n;
    }
    return 0;
}
