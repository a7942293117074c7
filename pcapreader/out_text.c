/* The default output: an annotated transcript per session, in the spirit of a PHPMailer
 * SMTPDebug log, followed by a verdict that says which step broke and what the server said.
 * Also --summary: one line per session. */
#include <string.h>

#include "report.h"

#define C_RED "\033[31m"
#define C_GREEN "\033[32m"
#define C_YELLOW "\033[33m"
#define C_CYAN "\033[36m"
#define C_BOLD "\033[1m"
#define C_DIM "\033[2m"
#define C_OFF "\033[0m"

static const char *col(const rsession *rs, const char *c)
{
    return rs->rep->opt.color ? c : "";
}

static const char *outcome_color(const rsession *rs, smtpcap_outcome_status st)
{
    switch (st) {
    case SMTPCAP_OUTCOME_DELIVERED: return col(rs, C_GREEN);
    case SMTPCAP_OUTCOME_FAILED: return col(rs, C_RED);
    case SMTPCAP_OUTCOME_TEMPFAIL:
    case SMTPCAP_OUTCOME_PARTIAL:
    case SMTPCAP_OUTCOME_INCOMPLETE: return col(rs, C_YELLOW);
    default: return col(rs, C_CYAN);
    }
}

static const char *code_color(const rsession *rs, int code)
{
    return code >= 500 ? col(rs, C_RED) : code >= 400 ? col(rs, C_YELLOW) : "";
}

/* In streaming mode sessions interleave: every line carries its session number. */
static void line_start(rsession *rs, int64_t ts, smtpcap_stage st)
{
    GString *g = rs->out;
    if (rs->rep->opt.stream) g_string_append_printf(g, "[%" G_GUINT64_FORMAT "] ", rs->id);
    if (ts) fmt_time_clock(g, ts);
    else g_string_append(g, "               ");
    g_string_append_printf(g, " %-8s ", st == SMTPCAP_STAGE_NONE ? "-" : smtpcap_stage_name(st));
}

static void blank_start(rsession *rs)
{
    if (rs->rep->opt.stream) g_string_append_printf(rs->out, "[%" G_GUINT64_FORMAT "] ", rs->id);
    g_string_append(rs->out, "                         ");
}

static void annotate(rsession *rs, const char *text)
{
    if (!text || !*text) return;
    g_string_append_printf(rs->out, "  %s[%s]%s", col(rs, C_DIM), text, col(rs, C_OFF));
}

static void text_header(rsession *rs)
{
    if (rs->header_done) return;
    rs->header_done = true;
    GString *g = rs->out;
    g_string_append_printf(g, "%s=== session %" G_GUINT64_FORMAT ": ", col(rs, C_BOLD), rs->id);
    fmt_endpoint(g, rs->fi.client_ip, rs->fi.client_port, rs->fi.ipv6);
    g_string_append(g, " -> ");
    fmt_endpoint(g, rs->fi.server_ip, rs->fi.server_port, rs->fi.ipv6);
    g_string_append(g, ", ");
    fmt_time_iso(g, rs->fi.start_us);
    if (rs->fi.midstream) g_string_append(g, " (capture began mid-session)");
    g_string_append_printf(g, " ===%s\n", col(rs, C_OFF));
}

static void auth_line(rsession *rs, const smtpcap_event *ev)
{
    const char *step = smtpcap_auth_step_name(ev->u.auth.step);
    char *note = g_strdup_printf("AUTH %s %s: %s", ev->u.auth.mechanism, step, ev->u.auth.decoded);
    if (ev->u.auth.line) {
        line_start(rs, ev->ts_us, ev->stage);
        g_string_append_printf(rs->out, "C: %s", ev->u.auth.line);
    } else {
        blank_start(rs);
    }
    annotate(rs, note);
    g_string_append_c(rs->out, '\n');
    g_free(note);
}

static void message_line(rsession *rs, const smtpcap_event *ev)
{
    GString *n = g_string_new(NULL);
    g_string_append_printf(n, "%s: %" G_GUINT64_FORMAT " bytes%s", ev->u.message.bdat ? "BDAT" : "DATA",
                           ev->u.message.size, ev->u.message.complete ? "" : " (incomplete)");
    const char *names[] = { "Subject", "From", "To", "X-Mailer" };
    const char *vals[] = { ev->u.message.subject, ev->u.message.from, ev->u.message.to,
                           ev->u.message.x_mailer };
    for (size_t i = 0; i < G_N_ELEMENTS(names); i++)
        if (vals[i]) g_string_append_printf(n, ", %s: %s", names[i], vals[i]);
    line_start(rs, ev->ts_us, ev->stage);
    g_string_append_printf(rs->out, "C: [%s]\n", n->str);
    g_string_free(n, TRUE);
}

static void text_event(rsession *rs, const smtpcap_event *ev)
{
    text_header(rs);
    GString *g = rs->out;
    switch (ev->type) {
    case SMTPCAP_EV_COMMAND:
        line_start(rs, ev->ts_us, ev->stage);
        g_string_append_printf(g, "C: %s%s\n", ev->u.command.line,
                               ev->u.command.truncated ? " [line truncated]" : "");
        break;
    case SMTPCAP_EV_REPLY: {
        int code = ev->u.reply.code;
        size_t n = ev->u.reply.nlines ? ev->u.reply.nlines : 1;
        for (size_t i = 0; i < n; i++) {
            const char *text = ev->u.reply.nlines ? ev->u.reply.lines[i] : "";
            if (i == 0) line_start(rs, ev->ts_us, ev->stage);
            else blank_start(rs);
            g_string_append_printf(g, "%sS: %d%c%s%s", code_color(rs, code), code,
                                   i + 1 < n ? '-' : ' ', text, *code_color(rs, code) ? col(rs, C_OFF) : "");
            if (i + 1 == n) annotate(rs, ev->u.reply.meaning);
            g_string_append_c(g, '\n');
        }
        break;
    }
    case SMTPCAP_EV_AUTH:
        /* Prompts and results are already in the reply's annotation. */
        if (ev->u.auth.step != SMTPCAP_AUTH_STEP_PROMPT && ev->u.auth.step != SMTPCAP_AUTH_STEP_RESULT)
            auth_line(rs, ev);
        break;
    case SMTPCAP_EV_TLS:
        line_start(rs, ev->ts_us, ev->stage);
        g_string_append_printf(g, "%s--- %s: plaintext ends here; the rest of the session is "
                                  "encrypted ---%s\n", col(rs, C_CYAN),
                               ev->u.tls.mode == SMTPCAP_TLS_IMPLICIT ? "implicit TLS" : "STARTTLS",
                               col(rs, C_OFF));
        break;
    case SMTPCAP_EV_GAP:
        line_start(rs, ev->ts_us, ev->stage);
        g_string_append_printf(g, "%s!!! %" G_GUINT64_FORMAT " bytes missing (%s)%s\n",
                               col(rs, C_YELLOW), ev->u.gap.bytes,
                               ev->dir == SMTPCAP_DIR_CLIENT ? "client -> server" : "server -> client",
                               col(rs, C_OFF));
        break;
    case SMTPCAP_EV_MESSAGE:
        message_line(rs, ev);
        break;
    case SMTPCAP_EV_ANOMALY:
        line_start(rs, ev->ts_us, ev->stage);
        g_string_append_printf(g, "%s??? %s%s\n", col(rs, C_YELLOW), ev->u.anomaly.text,
                               col(rs, C_OFF));
        break;
    }
}

static void reply_ref(GString *g, int code, const char *enh)
{
    if (code) g_string_append_printf(g, "%d", code);
    if (enh) g_string_append_printf(g, " %s", enh);
}

static void verdict_lines(rsession *rs, const smtpcap_summary *sum)
{
    GString *g = rs->out;
    const char *pre = rs->rep->opt.stream ? "" : "";
    for (size_t i = 0; i < sum->nauth; i++) {
        const smtpcap_auth_attempt *a = &sum->auth[i];
        g_string_append_printf(g, "%s     auth: %s", pre, a->mechanism);
        if (a->username) g_string_append_printf(g, " as %s", a->username);
        g_string_append_printf(g, ": %s", smtpcap_auth_result_name(a->result));
        if (a->code) { g_string_append(g, " ("); reply_ref(g, a->code, a->enhanced); g_string_append_c(g, ')'); }
        g_string_append_c(g, '\n');
    }
    for (size_t i = 0; i < sum->nmessages; i++) {
        const smtpcap_message *m = &sum->messages[i];
        if (m->mail_from)
            g_string_append_printf(g, "     message %zu: from <%s>", i + 1, m->mail_from);
        else
            g_string_append_printf(g, "     message %zu: from (sender before the capture began)", i + 1);
        if (m->mail_code >= 400) { g_string_append(g, " ("); reply_ref(g, m->mail_code, m->mail_enhanced); g_string_append_c(g, ')'); }
        g_string_append(g, " to");
        for (size_t k = 0; k < m->nrcpts; k++) {
            g_string_append_printf(g, "%s <%s>", k ? "," : "", m->rcpts[k].address);
            if (m->rcpts[k].code) { g_string_append(g, " "); reply_ref(g, m->rcpts[k].code, m->rcpts[k].enhanced); }
        }
        if (!m->nrcpts) g_string_append(g, " (none)");
        g_string_append_printf(g, ": %s", smtpcap_msg_status_name(m->status));
        if (m->data_code) { g_string_append(g, " ("); reply_ref(g, m->data_code, m->data_enhanced); g_string_append_c(g, ')'); }
        if (m->size >= 0) g_string_append_printf(g, ", %" G_GINT64_FORMAT " bytes", m->size);
        if (m->queue_id) g_string_append_printf(g, ", queue id %s", m->queue_id);
        g_string_append_c(g, '\n');
    }
    for (size_t i = 0; i < sum->nwarnings; i++)
        g_string_append_printf(g, "     %swarning:%s %s\n", col(rs, C_YELLOW), col(rs, C_OFF),
                               sum->warnings[i]);
}

static void text_end(rsession *rs, const smtpcap_summary *sum)
{
    text_header(rs);
    GString *g = rs->out;
    const smtpcap_outcome *o = &sum->outcome;
    char *status = g_ascii_strup(smtpcap_outcome_name(o->status), -1);
    for (char *p = status; *p; p++) if (*p == '_') *p = ' ';
    if (rs->rep->opt.stream) g_string_append_printf(g, "[%" G_GUINT64_FORMAT "] ", rs->id);
    g_string_append_printf(g, "  %s=> %s%s", outcome_color(rs, o->status), col(rs, C_BOLD), status);
    bool failure = o->status != SMTPCAP_OUTCOME_DELIVERED && o->status != SMTPCAP_OUTCOME_NO_MAIL &&
                   o->status != SMTPCAP_OUTCOME_ENCRYPTED;
    if (o->status == SMTPCAP_OUTCOME_ENCRYPTED)
        g_string_append_printf(g, " after %s", sum->tls == SMTPCAP_TLS_IMPLICIT ? "the TLS handshake (implicit TLS)" : "STARTTLS");
    else if (o->stage != SMTPCAP_STAGE_NONE)
        g_string_append_printf(g, " %s %s", failure ? "at" : "after", smtpcap_stage_name(o->stage));
    if (o->code) {
        g_string_append(g, ": ");
        reply_ref(g, o->code, o->enhanced);
        if (o->text && *o->text) {
            /* the text usually starts with the enhanced code again */
            const char *t = o->text;
            if (o->enhanced && g_str_has_prefix(t, o->enhanced)) t += strlen(o->enhanced);
            while (*t == ' ') t++;
            g_string_append_printf(g, " %s", t);
        }
    }
    g_string_append_printf(g, "%s\n", col(rs, C_OFF));
    g_string_append_printf(g, "     hint: %s\n", o->hint);
    verdict_lines(rs, sum);
    g_string_append_c(g, '\n');
    g_free(status);
}

static void text_begin(rsession *rs)
{
    /* In streaming mode the header shows at once; otherwise with the first event. */
    if (rs->rep->opt.stream) text_header(rs);
}

const formatter fmt_text = { text_begin, text_event, text_end };

/* ---- --summary ---- */

static void summary_begin(rsession *rs) { (void)rs; }
static void summary_event(rsession *rs, const smtpcap_event *ev) { (void)rs; (void)ev; }

static void summary_end(rsession *rs, const smtpcap_summary *sum)
{
    GString *g = rs->out;
    const smtpcap_outcome *o = &sum->outcome;
    g_string_append_printf(g, "%" G_GUINT64_FORMAT "  ", rs->id);
    fmt_time_iso(g, rs->fi.start_us);
    g_string_append(g, "  ");
    fmt_endpoint(g, rs->fi.client_ip, rs->fi.client_port, rs->fi.ipv6);
    g_string_append(g, " -> ");
    fmt_endpoint(g, rs->fi.server_ip, rs->fi.server_port, rs->fi.ipv6);
    g_string_append_printf(g, "  %s%s%s  %s", outcome_color(rs, o->status),
                           smtpcap_outcome_name(o->status), col(rs, C_OFF),
                           o->stage != SMTPCAP_STAGE_NONE ? smtpcap_stage_name(o->stage) : "-");
    if (o->code) {
        g_string_append(g, "  ");
        reply_ref(g, o->code, o->enhanced);
    } else {
        g_string_append(g, "  -");
    }
    if (o->text && *o->text) {
        const char *t = o->text;
        if (o->enhanced && g_str_has_prefix(t, o->enhanced)) t += strlen(o->enhanced);
        while (*t == ' ') t++;
        g_string_append_printf(g, "  %s", t);
    }
    g_string_append_c(g, '\n');
}

const formatter fmt_summary = { summary_begin, summary_event, summary_end };
