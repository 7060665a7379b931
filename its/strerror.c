/* SPDX-License-Identifier: MIT */
/* Names of the errors vits returns and of ITS command error numbers. */
#include <errno.h>

#include "vits.h"

static const char *errno_name(int e)
{
    switch (e) {
    case 0:
        return "success";
    case EINVAL:
        return "invalid argument";
    case ENOMEM:
        return "out of memory";
    case ENOENT:
        return "no such register or LPI";
    case EBUSY:
        return "busy: ITS instances still attached";
    case EEXIST:
        return "ITS frames overlap";
    case ENOSPC:
        return "too many ITS instances";
    case EFAULT:
        return "guest memory access failed";
    case EIO:
        return "I/O error in a memory callback";
    default:
        return "unknown error";
    }
}

static const char *kind_name(unsigned ee)
{
    switch (ee) {
    case 0x01:
        return "DeviceID or processor out of range";
    case 0x02:
        return "size or processor out of range";
    case 0x03:
        return "collection out of range";
    case 0x04:
        return "unmapped device";
    case 0x05:
        return "EventID out of range";
    case 0x06:
        return "physical INTID out of range";
    case 0x07:
        return "unmapped interrupt";
    case 0x09:
        return "unmapped collection";
    case 0xff:
        return "unknown command";
    default:
        return "unknown command error";
    }
}

const char *vits_strerror(int err)
{
    if (err <= 0)
        return errno_name(-err);
    if ((err >> 16) == 0x01)
        return kind_name((unsigned)err & 0xff);
    return "unknown error";
}
