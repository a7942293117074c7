/* --json: JSON lines, the contract of DESIGN.md ("Machine-readable output"). One object per
 * line, every object with "type" and "session"; absent values are null, never omitted. The
 * decoder guarantees valid UTF-8 without control characters (TAB aside), so escaping here is
 * only '"', '\\' and TAB. */
#include <string.h>

#include "report.h"

static void jstr(GString *g, const char *s)
{
    if (!s) { g_string_append(g, "null"); return; }
    g_string_append_c(g, '"');
    for (const char *p = s; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\') { g_string_append_c(g, '\\'); g_string_append_c(g, (char)c); }
        else if (c == '\t') g_string_append(g, "\\t");
        else if (c < 0x20) g_string_append_printf(g, "\\u%04x", c);
        else g_string_append_c(g, (char)c);
    }
    g_string_append_c(g, '"');
}

static void jkey(GString *g, const char *k)
{
    g_string_append_printf(g, ",\"%s\":", k);
}

static void jint_or_null(GString *g, const char *k, long long v, bool present)
{
    jkey(g, k);
    if (present) g_string_append_printf(g, "%lld", v);
    else g_string_append(g, "null");
}

static void jts(GString *g, int64_t us)
{
    jkey(g, "ts");
    g_string_append_c(g, '"');
    fmt_time_iso(g, us);
    g_string_append_c(g, '"');
}

static void head(GString *g, const char *type, const rsession *rs)
{
    g_string_append_printf(g, "{\"type\":\"%s\",\"session\":%" G_GUINT64_FORMAT, type, rs->id);
}

static const char *stage_or_null(smtpcap_stage st)
{
    return st == SMTPCAP_STAGE_NONE ? NULL : smtpcap_stage_name(st);
}

static void json_begin(rsession *rs) { (void)rs; }

static void json_event(rsession *rs, const smtpcap_event *ev)
{
    GString *g = rs->out;
    switch (ev->type) {
    case SMTPCAP_EV_COMMAND:
        head(g, "command", rs);
        jts(g, ev->ts_us);
        jkey(g, "stage"); jstr(g, stage_or_null(ev->stage));
        jkey(g, "verb"); jstr(g, ev->u.command.verb);
        jkey(g, "arg"); jstr(g, ev->u.command.arg);
        jkey(g, "line"); jstr(g, ev->u.command.line);
        jkey(g, "truncated"); g_string_append(g, ev->u.command.truncated ? "true" : "false");
        break;
    case SMTPCAP_EV_REPLY:
        head(g, "reply", rs);
        jts(g, ev->ts_us);
        jkey(g, "stage"); jstr(g, stage_or_null(ev->stage));
        jkey(g, "code"); g_string_append_printf(g, "%d", ev->u.reply.code);
        jkey(g, "enhanced"); jstr(g, ev->u.reply.enhanced);
        jkey(g, "lines"); g_string_append_c(g, '[');
        for (size_t i = 0; i < ev->u.reply.nlines; i++) {
            if (i) g_string_append_c(g, ',');
            jstr(g, ev->u.reply.lines[i]);
        }
        g_string_append_c(g, ']');
        jkey(g, "to"); jstr(g, ev->u.reply.to);
        jkey(g, "latency_ms");
        if (ev->u.reply.latency_us >= 0)
            g_string_append_printf(g, "%.3f", (double)ev->u.reply.latency_us / 1000.0);
        else
            g_string_append(g, "null");
        jkey(g, "meaning"); jstr(g, ev->u.reply.meaning);
        jkey(g, "enhanced_meaning"); jstr(g, ev->u.reply.enhanced_meaning);
        break;
    case SMTPCAP_EV_AUTH:
        head(g, "auth", rs);
        jts(g, ev->ts_us);
        jkey(g, "mechanism"); jstr(g, ev->u.auth.mechanism);
        jkey(g, "step"); jstr(g, smtpcap_auth_step_name(ev->u.auth.step));
        jkey(g, "decoded"); jstr(g, ev->u.auth.decoded);
        jkey(g, "line"); jstr(g, ev->u.auth.line);
        break;
    case SMTPCAP_EV_TLS:
        head(g, "tls", rs);
        jts(g, ev->ts_us);
        jkey(g, "mode"); jstr(g, smtpcap_tls_mode_name(ev->u.tls.mode));
        jkey(g, "note"); jstr(g, "plaintext ends here");
        break;
    case SMTPCAP_EV_GAP:
        head(g, "gap", rs);
        jts(g, ev->ts_us);
        jkey(g, "dir"); jstr(g, ev->dir == SMTPCAP_DIR_CLIENT ? "client" : "server");
        jkey(g, "bytes"); g_string_append_printf(g, "%" G_GUINT64_FORMAT, ev->u.gap.bytes);
        break;
    case SMTPCAP_EV_MESSAGE:
        head(g, "data", rs);
        jts(g, ev->ts_us);
        jkey(g, "stage"); jstr(g, stage_or_null(ev->stage));
        jkey(g, "size"); g_string_append_printf(g, "%" G_GUINT64_FORMAT, ev->u.message.size);
        jkey(g, "complete"); g_string_append(g, ev->u.message.complete ? "true" : "false");
        jkey(g, "subject"); jstr(g, ev->u.message.subject);
        jkey(g, "from"); jstr(g, ev->u.message.from);
        jkey(g, "to"); jstr(g, ev->u.message.to);
        jkey(g, "date"); jstr(g, ev->u.message.date);
        jkey(g, "message_id"); jstr(g, ev->u.message.message_id);
        jkey(g, "x_mailer"); jstr(g, ev->u.message.x_mailer);
        break;
    case SMTPCAP_EV_ANOMALY:
        head(g, "anomaly", rs);
        jts(g, ev->ts_us);
        jkey(g, "dir"); jstr(g, ev->dir == SMTPCAP_DIR_CLIENT ? "client" : "server");
        jkey(g, "text"); jstr(g, ev->u.anomaly.text);
        break;
    }
    g_string_append(g, "}\n");
}

static void json_messages(GString *g, const smtpcap_summary *sum)
{
    jkey(g, "messages");
    g_string_append_c(g, '[');
    for (size_t i = 0; i < sum->nmessages; i++) {
        const smtpcap_message *m = &sum->messages[i];
        if (i) g_string_append_c(g, ',');
        g_string_append(g, "{\"mail_from\":");
        jstr(g, m->mail_from);
        jint_or_null(g, "mail_code", m->mail_code, m->mail_code != 0);
        jkey(g, "mail_enhanced"); jstr(g, m->mail_enhanced);
        jkey(g, "rcpt_to");
        g_string_append_c(g, '[');
        for (size_t k = 0; k < m->nrcpts; k++) {
            if (k) g_string_append_c(g, ',');
            g_string_append(g, "{\"address\":");
            jstr(g, m->rcpts[k].address);
            jint_or_null(g, "code", m->rcpts[k].code, m->rcpts[k].code != 0);
            jkey(g, "enhanced"); jstr(g, m->rcpts[k].enhanced);
            g_string_append_c(g, '}');
        }
        g_string_append_c(g, ']');
        jint_or_null(g, "data_code", m->data_code, m->data_code != 0);
        jkey(g, "data_enhanced"); jstr(g, m->data_enhanced);
        jkey(g, "queue_id"); jstr(g, m->queue_id);
        jint_or_null(g, "size", m->size, m->size >= 0);
        jkey(g, "subject"); jstr(g, m->subject);
        jkey(g, "status"); jstr(g, smtpcap_msg_status_name(m->status));
        g_string_append_c(g, '}');
    }
    g_string_append_c(g, ']');
}

static void json_end(rsession *rs, const smtpcap_summary *sum)
{
    GString *g = rs->out;
    head(g, "session", rs);
    jkey(g, "client"); g_string_append_c(g, '"');
    fmt_endpoint(g, rs->fi.client_ip, rs->fi.client_port, rs->fi.ipv6);
    g_string_append_c(g, '"');
    jkey(g, "server"); g_string_append_c(g, '"');
    fmt_endpoint(g, rs->fi.server_ip, rs->fi.server_port, rs->fi.ipv6);
    g_string_append_c(g, '"');
    jkey(g, "start"); g_string_append_c(g, '"'); fmt_time_iso(g, rs->fi.start_us); g_string_append_c(g, '"');
    jkey(g, "end"); g_string_append_c(g, '"'); fmt_time_iso(g, rs->end_us); g_string_append_c(g, '"');
    jkey(g, "tls"); jstr(g, smtpcap_tls_mode_name(sum->tls));
    jkey(g, "helo"); jstr(g, sum->helo);
    jkey(g, "midstream"); g_string_append(g, sum->midstream ? "true" : "false");
    jkey(g, "gaps"); g_string_append_printf(g, "%" G_GUINT64_FORMAT, sum->gap_bytes);
    jkey(g, "auth");
    g_string_append_c(g, '[');
    for (size_t i = 0; i < sum->nauth; i++) {
        const smtpcap_auth_attempt *a = &sum->auth[i];
        if (i) g_string_append_c(g, ',');
        g_string_append(g, "{\"mechanism\":");
        jstr(g, a->mechanism);
        jkey(g, "username"); jstr(g, a->username);
        jkey(g, "result"); jstr(g, smtpcap_auth_result_name(a->result));
        jint_or_null(g, "code", a->code, a->code != 0);
        jkey(g, "enhanced"); jstr(g, a->enhanced);
        g_string_append_c(g, '}');
    }
    g_string_append_c(g, ']');
    json_messages(g, sum);
    const smtpcap_outcome *o = &sum->outcome;
    jkey(g, "outcome");
    g_string_append(g, "{\"status\":");
    jstr(g, smtpcap_outcome_name(o->status));
    jkey(g, "stage"); jstr(g, stage_or_null(o->stage));
    jint_or_null(g, "code", o->code, o->code != 0);
    jkey(g, "enhanced"); jstr(g, o->enhanced);
    jkey(g, "text"); jstr(g, o->text);
    jkey(g, "hint"); jstr(g, o->hint);
    g_string_append_c(g, '}');
    jkey(g, "warnings");
    g_string_append_c(g, '[');
    for (size_t i = 0; i < sum->nwarnings; i++) {
        if (i) g_string_append_c(g, ',');
        jstr(g, sum->warnings[i]);
    }
    g_string_append_c(g, ']');
    jkey(g, "end_reason"); jstr(g, smtpcap_end_reason_name(sum->end_reason));
    jkey(g, "bytes");
    g_string_append_printf(g, "{\"client\":%" G_GUINT64_FORMAT ",\"server\":%" G_GUINT64_FORMAT "}",
                           sum->bytes[0], sum->bytes[1]);
    g_string_append(g, "}\n");
}

const formatter fmt_json = { json_begin, json_event, json_end };
