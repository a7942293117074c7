/* Engine callbacks -> decoder sessions -> formatter, with per-session output buffers. */
#include <string.h>
#include <time.h>

#include "report.h"

/* A session's rendered output is held until it ends; a session that talks more than this
 * is written in parts rather than held (memory stays bounded by concurrent sessions). */
#define MAX_HELD_OUTPUT (1024 * 1024)

void report_init(report *r, const report_options *opt)
{
    memset(r, 0, sizeof *r);
    r->opt = *opt;
    if (!r->opt.out) r->opt.out = stdout;
    r->fmt = opt->format == FMT_JSON ? &fmt_json : opt->format == FMT_SUMMARY ? &fmt_summary
                                                                           : &fmt_text;
    r->next_id = 1;
}

void report_flush(rsession *rs)
{
    if (rs->out->len) {
        fwrite(rs->out->str, 1, rs->out->len, rs->rep->opt.out);
        g_string_truncate(rs->out, 0);
        if (rs->rep->opt.stream) fflush(rs->rep->opt.out);
    }
}

static void on_event(void *user, const smtpcap_event *ev)
{
    rsession *rs = user;
    rs->rep->fmt->event(rs, ev);
    if (rs->rep->opt.stream || rs->out->len > MAX_HELD_OUTPUT) report_flush(rs);
}

static void *op_open(void *ctx, const tcp_flow_info *fi)
{
    report *r = ctx;
    rsession *rs = g_new0(rsession, 1);
    rs->rep = r;
    rs->id = r->next_id++;
    rs->fi = *fi;
    rs->out = g_string_sized_new(1024);
    smtpcap_config cfg = { .max_line = r->opt.max_line, .show_secrets = r->opt.show_secrets,
                           .midstream = fi->midstream };
    rs->dec = smtpcap_session_new(&cfg, on_event, rs);
    r->fmt->begin(rs);
    if (r->opt.stream) report_flush(rs);
    return rs;
}

static void op_data(void *ctx, void *flow, int dir, const uint8_t *p, size_t n, int64_t ts)
{
    rsession *rs = flow;
    smtpcap_session_feed(rs->dec, dir ? SMTPCAP_DIR_SERVER : SMTPCAP_DIR_CLIENT, p, n, ts);
}

static void op_gap(void *ctx, void *flow, int dir, uint64_t bytes, int64_t ts)
{
    rsession *rs = flow;
    smtpcap_session_gap(rs->dec, dir ? SMTPCAP_DIR_SERVER : SMTPCAP_DIR_CLIENT, bytes, ts);
}

static void op_close(void *ctx, void *flow, smtpcap_end_reason why, int64_t ts)
{
    report *r = ctx;
    rsession *rs = flow;
    rs->end_us = ts;
    const smtpcap_summary *sum = smtpcap_session_finish(rs->dec, why, ts);
    r->fmt->end(rs, sum);
    report_flush(rs);
    r->totals.sessions++;
    r->totals.outcomes[sum->outcome.status]++;
    r->totals.messages += sum->nmessages;
    for (size_t i = 0; i < sum->nmessages; i++)
        if (sum->messages[i].status == SMTPCAP_MSG_ACCEPTED) r->totals.accepted_messages++;
    smtpcap_session_free(rs->dec);
    g_string_free(rs->out, TRUE);
    g_free(rs);
}

const tcp_engine_ops report_engine_ops = { op_open, op_data, op_gap, op_close };

/* ---- shared helpers ---- */

static void split_time(int64_t us, struct tm *tm, long *frac)
{
    time_t sec = (time_t)(us >= 0 ? us / 1000000 : (us - 999999) / 1000000);
    *frac = (long)(us - (int64_t)sec * 1000000);
    gmtime_r(&sec, tm);
}

void fmt_time_iso(GString *g, int64_t us)
{
    struct tm tm;
    long frac;
    split_time(us, &tm, &frac);
    g_string_append_printf(g, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ", tm.tm_year + 1900,
                           tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
}

void fmt_time_clock(GString *g, int64_t us)
{
    struct tm tm;
    long frac;
    split_time(us, &tm, &frac);
    g_string_append_printf(g, "%02d:%02d:%02d.%06ld", tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
}

void fmt_endpoint(GString *g, const char *ip, uint16_t port, bool v6)
{
    if (v6)
        g_string_append_printf(g, "[%s]:%u", ip, port);
    else
        g_string_append_printf(g, "%s:%u", ip, port);
}
