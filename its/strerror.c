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
        return "busy: ITS instances still attached, or the ITS or redistributor is enabled";
    case EEXIST:
        return "ITS frames overlap";
    case ENOSPC:
        return "too many ITS instances, or a configured limit reached";
    case EFAULT:
        return "guest memory access failed";
    case EIO:
        return "I/O error in a memory callback";
    case ENXIO:
        return "no such ITS register";
    case ERANGE:
        return "the state does not fit the guest's tables";
    case EOPNOTSUPP:
        return "unsupported table ABI revision or snapshot version";
    case ELOOP:
        return "the device table walk loops";
    case EBADMSG:
        return "malformed or corrupted snapshot";
    case ENODEV:
        return "no ITS or redistributor there (or the route's ITS is gone)";
    case EPROTO:
        return "request slot in an unknown state";
    default:
        return "unknown error";
    }
}

static const struct {
    unsigned code;
    const char *name;
} cmd_errors[] = {
    {VITS_E_MOVI_COLLECTION_OOR, "MOVI: collection out of range"},
    {VITS_E_MOVI_UNMAPPED_DEVICE, "MOVI: unmapped device"},
    {VITS_E_MOVI_EVENT_OOR, "MOVI: EventID out of range"},
    {VITS_E_MOVI_UNMAPPED_INTERRUPT, "MOVI: unmapped interrupt"},
    {VITS_E_MOVI_UNMAPPED_COLLECTION, "MOVI: unmapped collection"},
    {VITS_E_INT_UNMAPPED_DEVICE, "INT: unmapped device"},
    {VITS_E_INT_EVENT_OOR, "INT: EventID out of range"},
    {VITS_E_INT_UNMAPPED_INTERRUPT, "INT: unmapped interrupt"},
    {VITS_E_INT_UNMAPPED_COLLECTION, "INT: unmapped collection"},
    {VITS_E_CLEAR_UNMAPPED_DEVICE, "CLEAR: unmapped device"},
    {VITS_E_CLEAR_EVENT_OOR, "CLEAR: EventID out of range"},
    {VITS_E_CLEAR_UNMAPPED_INTERRUPT, "CLEAR: unmapped interrupt"},
    {VITS_E_CLEAR_UNMAPPED_COLLECTION, "CLEAR: unmapped collection"},
    {VITS_E_MAPD_DEVICE_OOR, "MAPD: DeviceID out of range"},
    {VITS_E_MAPD_ITTSIZE_OOR, "MAPD: ITT size out of range"},
    {VITS_E_MAPC_PROCNUM_OOR, "MAPC: redistributor out of range"},
    {VITS_E_MAPC_COLLECTION_OOR, "MAPC: collection out of range"},
    {VITS_E_MAPTI_COLLECTION_OOR, "MAPTI: collection out of range"},
    {VITS_E_MAPTI_UNMAPPED_DEVICE, "MAPTI: unmapped device"},
    {VITS_E_MAPTI_ID_OOR, "MAPTI: EventID out of range"},
    {VITS_E_MAPTI_PHYSICALID_OOR, "MAPTI: physical INTID out of range"},
    {VITS_E_MAPI_COLLECTION_OOR, "MAPI: collection out of range"},
    {VITS_E_MAPI_UNMAPPED_DEVICE, "MAPI: unmapped device"},
    {VITS_E_MAPI_ID_OOR, "MAPI: EventID out of range"},
    {VITS_E_MAPI_PHYSICALID_OOR, "MAPI: physical INTID out of range"},
    {VITS_E_INV_UNMAPPED_DEVICE, "INV: unmapped device"},
    {VITS_E_INV_EVENT_OOR, "INV: EventID out of range"},
    {VITS_E_INV_UNMAPPED_INTERRUPT, "INV: unmapped interrupt"},
    {VITS_E_INV_UNMAPPED_COLLECTION, "INV: unmapped collection"},
    {VITS_E_INVALL_COLLECTION_OOR, "INVALL: collection out of range"},
    {VITS_E_INVALL_UNMAPPED_COLLECTION, "INVALL: unmapped collection"},
    {VITS_E_MOVALL_PROCNUM_OOR, "MOVALL: redistributor out of range"},
    {VITS_E_DISCARD_UNMAPPED_DEVICE, "DISCARD: unmapped device"},
    {VITS_E_DISCARD_EVENT_OOR, "DISCARD: EventID out of range"},
    {VITS_E_DISCARD_UNMAPPED_INTERRUPT, "DISCARD: unmapped interrupt"},
};

const char *vits_strerror(int err)
{
    if (err <= 0)
        return errno_name(-err);
    for (size_t i = 0; i < sizeof(cmd_errors) / sizeof(cmd_errors[0]); i++)
        if (cmd_errors[i].code == (unsigned)err)
            return cmd_errors[i].name;
    if (((unsigned)err & 0xff00ffu) == VITS_E_UNKNOWN_COMMAND(0))
        return "unknown command";
    return "unknown error";
}
