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
    r->open = g_hash_table_new(g_direct_hash, g_direct_equal);
}

void report_free(report *r)
{
    if (r->open) g_hash_table_destroy(r->open);
    r->open = NULL;
}

void report_warn_open(report *r, const char *text)
{
    GHashTableIter it;
    gpointer key;
    g_hash_table_iter_init(&it, r->open);
    while (g_hash_table_iter_next(&it, &key, NULL)) {
        rsession *rs = key;
        if (rs->dec) smtpcap_session_warn(rs->dec, text);
    }
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

typedef struct {
    int dir;       /* 0 client, 1 server, 2 gap */
    int gap_dir;
    uint64_t len;  /* bytes (or gap size) */
    int64_t ts;
} probe_chunk;

static void start_session(rsession *rs)
{
    report *r = rs->rep;
    rs->state = RS_SMTP;
    rs->id = r->next_id++;
    smtpcap_config cfg = { .max_line = r->opt.max_line, .show_secrets = r->opt.show_secrets,
                           .midstream = rs->fi.midstream };
    rs->dec = smtpcap_session_new(&cfg, on_event, rs);
    g_hash_table_add(r->open, rs);
    r->fmt->begin(rs);
    if (r->opt.stream) report_flush(rs);
}

static bool known_port(const report *r, uint16_t port)
{
    for (size_t i = 0; i < r->opt.nports; i++)
        if (r->opt.ports[i] == port) return true;
    return r->opt.nports == 0;
}

static void *op_open(void *ctx, const tcp_flow_info *fi)
{
    report *r = ctx;
    rsession *rs = g_new0(rsession, 1);
    rs->rep = r;
    rs->fi = *fi;
    rs->out = g_string_sized_new(0); /* grows when there is something to say */
    if (known_port(r, fi->server_port)) {
        start_session(rs);
    } else if (r->opt.detect) {
        rs->state = RS_PROBING;
        rs->probe[0] = g_byte_array_new();
        rs->probe[1] = g_byte_array_new();
        rs->chunks = g_array_new(FALSE, FALSE, sizeof(probe_chunk));
    } else {
        rs->state = RS_IGNORED;
    }
    return rs;
}

static void free_probe(rsession *rs)
{
    for (int d = 0; d < 2; d++)
        if (rs->probe[d]) g_byte_array_free(rs->probe[d], TRUE);
    if (rs->chunks) g_array_free(rs->chunks, TRUE);
    rs->probe[0] = rs->probe[1] = NULL;
    rs->chunks = NULL;
}

/* Decides a probing flow; on YES the held bytes are decoded in their original order. */
static void probe_decide(rsession *rs, bool final)
{
    smtpcap_detect_result d = smtpcap_detect(rs->probe[0]->data, rs->probe[0]->len,
                                             rs->probe[1]->data, rs->probe[1]->len, final);
    if (d == SMTPCAP_DETECT_MORE) return;
    if (d == SMTPCAP_DETECT_NO) {
        rs->state = RS_IGNORED;
        free_probe(rs);
        return;
    }
    start_session(rs);
    size_t off[2] = { 0, 0 };
    for (guint i = 0; i < rs->chunks->len; i++) {
        probe_chunk *c = &g_array_index(rs->chunks, probe_chunk, i);
        if (c->dir == 2) {
            smtpcap_session_gap(rs->dec, c->gap_dir ? SMTPCAP_DIR_SERVER : SMTPCAP_DIR_CLIENT,
                                c->len, c->ts);
            continue;
        }
        smtpcap_session_feed(rs->dec, c->dir ? SMTPCAP_DIR_SERVER : SMTPCAP_DIR_CLIENT,
                             rs->probe[c->dir]->data + off[c->dir], (size_t)c->len, c->ts);
        off[c->dir] += (size_t)c->len;
    }
    free_probe(rs);
}

static void op_data(void *ctx, void *flow, int dir, const uint8_t *p, size_t n, int64_t ts)
{
    rsession *rs = flow;
    if (rs->state == RS_SMTP) {
        smtpcap_session_feed(rs->dec, dir ? SMTPCAP_DIR_SERVER : SMTPCAP_DIR_CLIENT, p, n, ts);
        return;
    }
    if (rs->state == RS_IGNORED) return;
    /* Hold no more than detection can use; the rest is decided on what was seen. */
    size_t room = SMTPCAP_DETECT_MAX + 1 - MIN(rs->probe[dir]->len, SMTPCAP_DETECT_MAX + 1);
    size_t take = MIN(n, room);
    g_byte_array_append(rs->probe[dir], p, (guint)take);
    probe_chunk c = { .dir = dir, .len = take, .ts = ts };
    g_array_append_val(rs->chunks, c);
    probe_decide(rs, take < n);
    if (rs->state == RS_SMTP && take < n)
        smtpcap_session_feed(rs->dec, dir ? SMTPCAP_DIR_SERVER : SMTPCAP_DIR_CLIENT, p + take,
                             n - take, ts);
}

static void op_gap(void *ctx, void *flow, int dir, uint64_t bytes, int64_t ts)
{
    rsession *rs = flow;
    if (rs->state == RS_PROBING) {
        probe_chunk c = { .dir = 2, .gap_dir = dir, .len = bytes, .ts = ts };
        g_array_append_val(rs->chunks, c);
        probe_decide(rs, true);
        return;
    }
    if (rs->state == RS_SMTP)
        smtpcap_session_gap(rs->dec, dir ? SMTPCAP_DIR_SERVER : SMTPCAP_DIR_CLIENT, bytes, ts);
}

static void op_close(void *ctx, void *flow, smtpcap_end_reason why, int64_t ts)
{
    report *r = ctx;
    rsession *rs = flow;
    if (rs->state == RS_PROBING) probe_decide(rs, true);
    if (rs->state != RS_SMTP) {
        free_probe(rs);
        g_string_free(rs->out, TRUE);
        g_free(rs);
        return;
    }
    rs->end_us = ts;
    const smtpcap_summary *sum = smtpcap_session_finish(rs->dec, why, ts);
    r->fmt->end(rs, sum);
    report_flush(rs);
    r->totals.sessions++;
    r->totals.outcomes[sum->outcome.status]++;
    r->totals.messages += sum->nmessages;
    r->totals.truncated_lines += sum->truncated_lines;
    for (size_t i = 0; i < sum->nmessages; i++)
        if (sum->messages[i].status == SMTPCAP_MSG_ACCEPTED) r->totals.accepted_messages++;
    g_hash_table_remove(r->open, rs);
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

/* Formatting a date is costly (gmtime + printf) and consecutive events share their second:
 * the "YYYY-MM-DDTHH:MM:SS" part is kept for the last second seen. Single-threaded use. */
static struct {
    int64_t sec;
    bool valid;
    char text[24];
    size_t len;
} iso_cache;

void fmt_time_iso(GString *g, int64_t us)
{
    int64_t sec = us >= 0 ? us / 1000000 : (us - 999999) / 1000000;
    long frac = (long)(us - sec * 1000000);
    if (!iso_cache.valid || iso_cache.sec != sec) {
        struct tm tm;
        long unused;
        split_time(us, &tm, &unused);
        int n = snprintf(iso_cache.text, sizeof iso_cache.text, "%04d-%02d-%02dT%02d:%02d:%02d",
                         tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                         tm.tm_sec);
        iso_cache.len = n > 0 && (size_t)n < sizeof iso_cache.text ? (size_t)n : 0;
        iso_cache.sec = sec;
        iso_cache.valid = true;
    }
    char tail[9] = { '.', 0, 0, 0, 0, 0, 0, 'Z', 0 };
    for (int i = 6; i >= 1; i--) { tail[i] = (char)('0' + frac % 10); frac /= 10; }
    out_append(g, iso_cache.text, iso_cache.len);
    out_append(g, tail, 8);
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
