/* SPDX-License-Identifier: MIT */
/* End to end: boot, map a device, signal MSIs, acknowledge. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "fakevm.h"

static void msi_reaches_the_mapped_vcpu(void **state)
{
    (void)state;
    struct fakevm *fv = fv_new(4);
    fv_boot(fv);
    fv_map_collection(fv, 0, 2);
    assert_int_equal(fv_map_device(fv, 7, 5, 4, 8192, 0), 0);
    assert_int_equal(vits_its_signal_msi(fv->its, 7, 3), 1);
    assert_int_equal(fv_count(fv, FV_RAISE, 2, 8195), 1);
    assert_int_equal(fv->events[0].priority, 0xa0);
    assert_int_equal(vits_lpi_ack(fv->d, 2, 8195), 0);
    assert_false(fv_pending(fv, 8195, NULL));
    fv_free(fv);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(msi_reaches_the_mapped_vcpu),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
