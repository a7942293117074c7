/* --json: JSON lines, the contract of DESIGN.md ("Machine-readable output"). One object per
 * line, every object with "type" and "session"; absent values are null, never omitted. The
 * decoder guarantees valid UTF-8 without control characters (TAB aside), so escaping here is
 * only '"', '\\' and TAB. */
#include <string.h>

#include "report.h"

/* Output is built by appending, never through printf: this runs for every event of every
 * session of gigabyte captures. */
#define APPEND_LIT(g, lit) OUT_LIT(g, lit)

static void jstr(GString *g, const char *s)
{
    if (!s) { APPEND_LIT(g, "null"); return; }
    g_string_append_c(g, '"');
    const char *run = s;
    for (const char *p = s;; p++) {
        unsigned char c = (unsigned char)*p;
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        if (p > run) out_append(g, run, (size_t)(p - run));
        if (c == 0) break;
        if (c == '"') APPEND_LIT(g, "\\\"");
        else if (c == '\\') APPEND_LIT(g, "\\\\");
        else if (c == '\t') APPEND_LIT(g, "\\t");
        else g_string_append_printf(g, "\\u%04x", c);
        run = p + 1;
    }
    g_string_append_c(g, '"');
}

#define jkey(g, k) APPEND_LIT((g), ",\"" k "\":")

static void jnum(GString *g, long long v)
{
    char buf[24];
    char *e = buf + sizeof buf, *p = e;
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do { *--p = (char)('0' + u % 10); u /= 10; } while (u);
    if (v < 0) *--p = '-';
    out_append(g, p, (size_t)(e - p));
}

#define jint_or_null(g, k, v, present)                                                        \
    do {                                                                                      \
        jkey(g, k);                                                                           \
        if (present) jnum((g), (v)); else APPEND_LIT((g), "null");                            \
    } while (0)

static void jtime(GString *g, int64_t us)
{
    g_string_append_c(g, '"');
    fmt_time_iso(g, us);
    g_string_append_c(g, '"');
}

static void jts(GString *g, int64_t us)
{
    jkey(g, "ts");
    jtime(g, us);
}

static void jbool(GString *g, bool b)
{
    if (b) APPEND_LIT(g, "true"); else APPEND_LIT(g, "false");
}

static void head(GString *g, const char *type, const rsession *rs)
{
    APPEND_LIT(g, "{\"type\":\"");
    out_append(g, type, strlen(type));
    APPEND_LIT(g, "\",\"session\":");
    jnum(g, (long long)rs->id);
}

static const char *stage_or_null(smtpcap_stage st)
{
    return st == SMTPCAP_STAGE_NONE ? NULL : smtpcap_stage_name(st);
}

/* {"type":..,"session":..,"ts":..[,"stage":..]: what every event object starts with. */
static void ev_head(GString *g, const char *type, const rsession *rs, const smtpcap_event *ev,
                    bool with_stage)
{
    head(g, type, rs);
    jts(g, ev->ts_us);
    if (with_stage) {
        jkey(g, "stage");
        jstr(g, stage_or_null(ev->stage));
    }
}

static void json_begin(rsession *rs) { (void)rs; }

static void json_event(rsession *rs, const smtpcap_event *ev)
{
    GString *g = rs->out;
    switch (ev->type) {
    case SMTPCAP_EV_COMMAND:
        ev_head(g, "command", rs, ev, true);
        jkey(g, "verb"); jstr(g, ev->u.command.verb);
        jkey(g, "arg"); jstr(g, ev->u.command.arg);
        jkey(g, "line"); jstr(g, ev->u.command.line);
        jkey(g, "truncated"); jbool(g, ev->u.command.truncated);
        break;
    case SMTPCAP_EV_REPLY:
        ev_head(g, "reply", rs, ev, true);
        jkey(g, "code"); jnum(g, ev->u.reply.code);
        jkey(g, "enhanced"); jstr(g, ev->u.reply.enhanced);
        jkey(g, "lines"); g_string_append_c(g, '[');
        for (size_t i = 0; i < ev->u.reply.nlines; i++) {
            if (i) g_string_append_c(g, ',');
            jstr(g, ev->u.reply.lines[i]);
        }
        g_string_append_c(g, ']');
        jkey(g, "to"); jstr(g, ev->u.reply.to);
        jkey(g, "latency_ms");
        if (ev->u.reply.latency_us >= 0) {
            /* milliseconds with three decimals, without floating point */
            int64_t l = ev->u.reply.latency_us;
            jnum(g, l / 1000);
            char frac[5] = { '.', (char)('0' + l / 100 % 10), (char)('0' + l / 10 % 10),
                             (char)('0' + l % 10), 0 };
            out_append(g, frac, 4);
        } else {
            APPEND_LIT(g, "null");
        }
        jkey(g, "meaning"); jstr(g, ev->u.reply.meaning);
        jkey(g, "enhanced_meaning"); jstr(g, ev->u.reply.enhanced_meaning);
        break;
    case SMTPCAP_EV_AUTH:
        ev_head(g, "auth", rs, ev, false);
        jkey(g, "mechanism"); jstr(g, ev->u.auth.mechanism);
        jkey(g, "step"); jstr(g, smtpcap_auth_step_name(ev->u.auth.step));
        jkey(g, "decoded"); jstr(g, ev->u.auth.decoded);
        jkey(g, "line"); jstr(g, ev->u.auth.line);
        break;
    case SMTPCAP_EV_TLS:
        ev_head(g, "tls", rs, ev, false);
        jkey(g, "mode"); jstr(g, smtpcap_tls_mode_name(ev->u.tls.mode));
        jkey(g, "note"); jstr(g, "plaintext ends here");
        break;
    case SMTPCAP_EV_GAP:
        ev_head(g, "gap", rs, ev, false);
        jkey(g, "dir"); jstr(g, ev->dir == SMTPCAP_DIR_CLIENT ? "client" : "server");
        jkey(g, "bytes"); jnum(g, (long long)ev->u.gap.bytes);
        break;
    case SMTPCAP_EV_MESSAGE:
        ev_head(g, "data", rs, ev, true);
        jkey(g, "size"); jnum(g, (long long)ev->u.message.size);
        jkey(g, "complete"); jbool(g, ev->u.message.complete);
        jkey(g, "subject"); jstr(g, ev->u.message.subject);
        jkey(g, "from"); jstr(g, ev->u.message.from);
        jkey(g, "to"); jstr(g, ev->u.message.to);
        jkey(g, "date"); jstr(g, ev->u.message.date);
        jkey(g, "message_id"); jstr(g, ev->u.message.message_id);
        jkey(g, "x_mailer"); jstr(g, ev->u.message.x_mailer);
        break;
    case SMTPCAP_EV_ANOMALY:
        ev_head(g, "anomaly", rs, ev, false);
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
    jkey(g, "start"); jtime(g, rs->fi.start_us);
    jkey(g, "end"); jtime(g, rs->end_us);
    jkey(g, "tls"); jstr(g, smtpcap_tls_mode_name(sum->tls));
    jkey(g, "helo"); jstr(g, sum->helo);
    jkey(g, "midstream"); jbool(g, sum->midstream);
    jkey(g, "gaps"); jnum(g, (long long)sum->gap_bytes);
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
    APPEND_LIT(g, "{\"client\":");
    jnum(g, (long long)sum->bytes[0]);
    APPEND_LIT(g, ",\"server\":");
    jnum(g, (long long)sum->bytes[1]);
    g_string_append_c(g, '}');
    g_string_append(g, "}\n");
}

const formatter fmt_json = { json_begin, json_event, json_end };
