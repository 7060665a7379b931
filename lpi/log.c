/* SPDX-License-Identifier: MIT */
/*
 * Logging. Guest errors pass a token bucket (cfg.log_rate per second,
 * cfg.log_burst at once) before anything is formatted, so a guest that
 * fails commands in a loop costs the host a counter increment per error.
 * When messages were dropped, the next one that passes says how many.
 */
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include "lpi.h"

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Needs d->lock (the bucket is domain state). */
static bool take_token(struct vits_domain *d)
{
    struct lpi_ratelimit *rl = &d->rl;
    uint64_t now = now_ns();
    uint64_t cap = (uint64_t)d->cfg.log_burst * 1000;
    if (!rl->last_ns || now < rl->last_ns)
        rl->last_ns = now;
    /* Credit whole milli-tokens and move last_ns on only by the time they
     * stand for: resetting it on every call would drop the remainder, and
     * a guest failing faster than one error per credit would never earn a
     * token again. The elapsed time is capped (an hour) against overflow. */
    uint64_t us = (now - rl->last_ns) / 1000;
    uint64_t add = (us < 3600000000ull ? us : 3600000000ull) * d->cfg.log_rate / 1000;
    if (add && rl->tokens_milli + add >= cap) {
        rl->tokens_milli = cap;
        rl->last_ns = now;
    } else if (add) {
        rl->tokens_milli += add;
        rl->last_ns += add * 1000000 / d->cfg.log_rate;
    }
    if (rl->tokens_milli >= 1000) {
        rl->tokens_milli -= 1000;
        return true;
    }
    rl->suppressed++;
    return false;
}

static bool log_wanted(struct vits_domain *d, enum vits_log_level level)
{
    if (!d->ops->log || level > d->cfg.log_level)
        return false;
    if (level == VITS_LOG_GUEST)
        return take_token(d);
    return true;
}

void lpi_log(struct vits_domain *d, enum vits_log_level level, const char *fmt, ...)
{
    if (!log_wanted(d, level))
        return;
    char buf[256];
    int n = 0;
    if (level == VITS_LOG_GUEST && d->rl.suppressed) {
        n = snprintf(buf, sizeof(buf), "(%llu guest errors not logged) ",
                     (unsigned long long)d->rl.suppressed);
        d->rl.suppressed = 0;
        if (n < 0 || (size_t)n >= sizeof(buf))
            n = 0;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
    va_end(ap);
    d->ops->log(d->opaque, level, buf);
}
