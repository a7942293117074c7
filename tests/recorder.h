/* Test helper (header-only: tests/CMakeLists.txt builds each tests/test_*.c alone).
 *
 * An event recorder that turns a decoder session into text, one line per event, so that a
 * test can compare a whole session with one assert_string_equal (STYLE.md), and a renderer
 * for the summary. Neither prints timestamps or latencies: the text of a session must not
 * depend on how its bytes were split into feed calls, which test_split checks.
 *
 * Event line:  STAGE DIR TYPE fields...[ @offset+length][ meaning="..."]
 *   STAGE  smtpcap_stage_name, "-" for NONE;  DIR  C (client) or S (server)
 *   command  VERB arg="..." line="..."[ truncated]
 *   reply    CODE[ ENH] "line1|line2" to=CMD
 *   auth     MECH STEP "decoded"[ line="..."]
 *   tls      MODE
 *   gap      BYTES
 *   message  size=N complete|incomplete[ bdat][ subject="..."][ from=...]...
 *   anomaly  KIND "text"
 * Every string the decoder hands out is checked for the contract of decoder.h (valid UTF-8,
 * no control characters but TAB); violations are counted in recorder.bad_strings.
 */
#ifndef SMTPCAP_TEST_RECORDER_H
#define SMTPCAP_TEST_RECORDER_H

#include <glib.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <smtpcap/decoder.h>

typedef struct {
    GString *out;
    bool offsets;          /* append " @offset+length" */
    bool meaning;          /* append reply meaning / enhanced meaning / enhanced triple */
    bool hide_size;        /* print message sizes as "size=?" (a test checks last_size itself) */
    int64_t last_size;     /* size of the last message event, -1 before one */
    unsigned bad_strings;  /* strings that broke the UTF-8 / control-character contract */
    unsigned events;
    GString *bad;          /* the offending strings, for the failure message */
} recorder;

static inline bool rec_string_ok(const char *s)
{
    if (!s) return true;
    if (!g_utf8_validate(s, -1, NULL)) return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p < 0x20 && *p != '\t') || *p == 0x7f) return false;
    return true;
}

static inline void rec_check(recorder *r, const char *s)
{
    if (rec_string_ok(s)) return;
    r->bad_strings++;
    if (!r->bad) r->bad = g_string_new(NULL);
    g_string_append_len(r->bad, s, (gssize)MIN(strlen(s), 80));
    g_string_append_c(r->bad, '\n');
}

static inline const char *rec_s(const char *s) { return s ? s : "(null)"; }

static inline const char *rec_anomaly_name(smtpcap_anomaly k)
{
    switch (k) {
    case SMTPCAP_ANOMALY_LINE_TOO_LONG: return "LINE_TOO_LONG";
    case SMTPCAP_ANOMALY_BARE_LF: return "BARE_LF";
    case SMTPCAP_ANOMALY_REPLY_UNEXPECTED: return "REPLY_UNEXPECTED";
    case SMTPCAP_ANOMALY_BAD_REPLY: return "BAD_REPLY";
    case SMTPCAP_ANOMALY_PIPELINE_OVERFLOW: return "PIPELINE_OVERFLOW";
    case SMTPCAP_ANOMALY_DATA_AFTER_CLOSE: return "DATA_AFTER_CLOSE";
    case SMTPCAP_ANOMALY_BAD_BASE64: return "BAD_BASE64";
    case SMTPCAP_ANOMALY_LIMIT: return "LIMIT";
    case SMTPCAP_ANOMALY_PLAINTEXT_AFTER_STARTTLS: return "PLAINTEXT_AFTER_STARTTLS";
    }
    return "?";
}

static inline const char *rec_stage(smtpcap_stage st)
{
    const char *n = smtpcap_stage_name(st);
    return n[0] ? n : "-";
}

static inline void rec_header(GString *o, const char *name, const char *v)
{
    if (v) g_string_append_printf(o, " %s=\"%s\"", name, v);
}

/* The smtpcap_event_cb: user is a recorder*. */
static inline void rec_event(void *user, const smtpcap_event *ev)
{
    recorder *r = user;
    GString *o = r->out;
    r->events++;
    g_string_append_printf(o, "%s %c ", rec_stage(ev->stage),
                           ev->dir == SMTPCAP_DIR_CLIENT ? 'C' : 'S');
    switch (ev->type) {
    case SMTPCAP_EV_COMMAND:
        rec_check(r, ev->u.command.verb);
        rec_check(r, ev->u.command.arg);
        rec_check(r, ev->u.command.line);
        g_string_append_printf(o, "command %s arg=\"%s\" line=\"%s\"%s", rec_s(ev->u.command.verb),
                               rec_s(ev->u.command.arg), rec_s(ev->u.command.line),
                               ev->u.command.truncated ? " truncated" : "");
        break;
    case SMTPCAP_EV_REPLY:
        g_string_append_printf(o, "reply %d", ev->u.reply.code);
        rec_check(r, ev->u.reply.enhanced);
        if (ev->u.reply.enhanced) g_string_append_printf(o, " %s", ev->u.reply.enhanced);
        g_string_append(o, " \"");
        for (size_t i = 0; i < ev->u.reply.nlines; i++) {
            rec_check(r, ev->u.reply.lines[i]);
            g_string_append_printf(o, "%s%s", i ? "|" : "", rec_s(ev->u.reply.lines[i]));
        }
        rec_check(r, ev->u.reply.to);
        rec_check(r, ev->u.reply.meaning);
        rec_check(r, ev->u.reply.enhanced_meaning);
        g_string_append_printf(o, "\" to=%s", rec_s(ev->u.reply.to));
        break;
    case SMTPCAP_EV_AUTH:
        rec_check(r, ev->u.auth.mechanism);
        rec_check(r, ev->u.auth.decoded);
        rec_check(r, ev->u.auth.line);
        g_string_append_printf(o, "auth %s %s \"%s\"", rec_s(ev->u.auth.mechanism),
                               smtpcap_auth_step_name(ev->u.auth.step), rec_s(ev->u.auth.decoded));
        if (ev->u.auth.line) g_string_append_printf(o, " line=\"%s\"", ev->u.auth.line);
        break;
    case SMTPCAP_EV_TLS:
        g_string_append_printf(o, "tls %s", smtpcap_tls_mode_name(ev->u.tls.mode));
        break;
    case SMTPCAP_EV_GAP:
        g_string_append_printf(o, "gap %" G_GUINT64_FORMAT, ev->u.gap.bytes);
        break;
    case SMTPCAP_EV_MESSAGE:
        r->last_size = (int64_t)ev->u.message.size;
        if (r->hide_size)
            g_string_append(o, "message size=?");
        else
            g_string_append_printf(o, "message size=%" G_GUINT64_FORMAT, ev->u.message.size);
        g_string_append_printf(o, " %s%s", ev->u.message.complete ? "complete" : "incomplete",
                               ev->u.message.bdat ? " bdat" : "");
        rec_check(r, ev->u.message.subject);
        rec_check(r, ev->u.message.from);
        rec_check(r, ev->u.message.to);
        rec_check(r, ev->u.message.date);
        rec_check(r, ev->u.message.message_id);
        rec_check(r, ev->u.message.x_mailer);
        rec_header(o, "subject", ev->u.message.subject);
        rec_header(o, "from", ev->u.message.from);
        rec_header(o, "to", ev->u.message.to);
        rec_header(o, "date", ev->u.message.date);
        rec_header(o, "msgid", ev->u.message.message_id);
        rec_header(o, "xmailer", ev->u.message.x_mailer);
        break;
    case SMTPCAP_EV_ANOMALY:
        rec_check(r, ev->u.anomaly.text);
        g_string_append_printf(o, "anomaly %s \"%s\"", rec_anomaly_name(ev->u.anomaly.kind),
                               rec_s(ev->u.anomaly.text));
        break;
    default:
        g_string_append_printf(o, "unknown-event-type %d", (int)ev->type);
        break;
    }
    if (r->offsets)
        g_string_append_printf(o, " @%" G_GUINT64_FORMAT "+%" G_GUINT64_FORMAT, ev->offset,
                               ev->length);
    if (r->meaning && ev->type == SMTPCAP_EV_REPLY)
        g_string_append_printf(o, " enh=%d.%d.%d meaning=\"%s\" enhm=\"%s\"",
                               ev->u.reply.enh_class, ev->u.reply.enh_subject,
                               ev->u.reply.enh_detail, rec_s(ev->u.reply.meaning),
                               rec_s(ev->u.reply.enhanced_meaning));
    g_string_append_c(o, '\n');
}

static inline void rec_init(recorder *r, bool offsets, bool meaning)
{
    memset(r, 0, sizeof *r);
    r->out = g_string_new(NULL);
    r->offsets = offsets;
    r->meaning = meaning;
    r->last_size = -1;
}

static inline void rec_clear(recorder *r)
{
    if (r->out) g_string_free(r->out, TRUE);
    if (r->bad) g_string_free(r->bad, TRUE);
    memset(r, 0, sizeof *r);
}

/* ---- summary ----------------------------------------------------------------------------- */

static inline void sum_code(GString *o, int code, const char *enh)
{
    if (code) g_string_append_printf(o, "%d", code);
    else g_string_append(o, "-");
    if (enh) g_string_append_printf(o, "/%s", enh);
}

/* Renders a summary, one fact per line. with_hint adds the outcome hint (long prose). The
 * end reason is rendered; bytes[] too (both are independent of splitting). */
static inline char *sum_render(const smtpcap_summary *s, bool with_hint)
{
    GString *o = g_string_new(NULL);
    g_string_append_printf(o, "tls=%s helo=%s midstream=%d gaps=%" G_GUINT64_FORMAT "\n",
                           smtpcap_tls_mode_name(s->tls), rec_s(s->helo), s->midstream,
                           s->gap_bytes);
    for (size_t i = 0; i < s->nauth; i++) {
        const smtpcap_auth_attempt *a = &s->auth[i];
        g_string_append_printf(o, "auth %s user=%s %s ", rec_s(a->mechanism), rec_s(a->username),
                                smtpcap_auth_result_name(a->result));
        sum_code(o, a->code, a->enhanced);
        g_string_append_c(o, '\n');
    }
    for (size_t i = 0; i < s->nmessages; i++) {
        const smtpcap_message *m = &s->messages[i];
        g_string_append_printf(o, "msg from=<%s> mail=", rec_s(m->mail_from));
        sum_code(o, m->mail_code, m->mail_enhanced);
        g_string_append(o, " data=");
        sum_code(o, m->data_code, m->data_enhanced);
        g_string_append_printf(o, " queue=%s size=%" G_GINT64_FORMAT " %s", rec_s(m->queue_id),
                               m->size, smtpcap_msg_status_name(m->status));
        if (m->subject) g_string_append_printf(o, " subject=\"%s\"", m->subject);
        g_string_append_c(o, '\n');
        for (size_t k = 0; k < m->nrcpts; k++) {
            g_string_append_printf(o, "  rcpt <%s> ", rec_s(m->rcpts[k].address));
            sum_code(o, m->rcpts[k].code, m->rcpts[k].enhanced);
            g_string_append_c(o, '\n');
        }
    }
    const smtpcap_outcome *oc = &s->outcome;
    g_string_append_printf(o, "outcome %s %s ", smtpcap_outcome_name(oc->status),
                           rec_stage(oc->stage));
    sum_code(o, oc->code, oc->enhanced);
    if (oc->text) g_string_append_printf(o, " \"%s\"", oc->text);
    g_string_append_c(o, '\n');
    if (with_hint) g_string_append_printf(o, "hint %s\n", rec_s(oc->hint));
    for (size_t i = 0; i < s->nwarnings; i++)
        g_string_append_printf(o, "warning %s\n", rec_s(s->warnings[i]));
    return g_string_free(o, FALSE);
}

/* ---- a scripted session (test_decoder, test_auth, test_verdict) -------------------------- */

typedef struct {
    smtpcap_session *s;
    recorder rec;
    const smtpcap_summary *sum;
    char *sum_text;
    int64_t ts;
} script;

static inline void sc_open(script *t, const smtpcap_config *cfg)
{
    memset(t, 0, sizeof *t);
    rec_init(&t->rec, false, false);
    t->s = smtpcap_session_new(cfg, rec_event, &t->rec);
    t->ts = 1700000000000000LL;
}

static inline void sc_feed(script *t, smtpcap_dir dir, const void *p, size_t n)
{
    t->ts += 1000;
    smtpcap_status st = smtpcap_session_feed(t->s, dir, p, n, t->ts);
    if (st != SMTPCAP_OK) g_error("feed returned %s", smtpcap_strerror(st));
}

/* Client / server text (NUL-terminated literals). */
static inline void C(script *t, const char *text) { sc_feed(t, SMTPCAP_DIR_CLIENT, text, strlen(text)); }
static inline void S(script *t, const char *text) { sc_feed(t, SMTPCAP_DIR_SERVER, text, strlen(text)); }

static inline void sc_gap(script *t, smtpcap_dir dir, uint64_t n)
{
    t->ts += 1000;
    smtpcap_session_gap(t->s, dir, n, t->ts);
}

static inline const smtpcap_summary *sc_finish(script *t, smtpcap_end_reason why)
{
    t->ts += 1000;
    t->sum = smtpcap_session_finish(t->s, why, t->ts);
    t->sum_text = sum_render(t->sum, false);
    return t->sum;
}

static inline void sc_close(script *t)
{
    smtpcap_session_free(t->s);
    g_free(t->sum_text);
    rec_clear(&t->rec);
    memset(t, 0, sizeof *t);
}

/* True if the recorded events contain this exact line (without its newline). */
/* The recorded events equal want, and every string the decoder handed out was valid. */
static inline void sc_expect_events(const script *t, const char *want)
{
    assert_string_equal(t->rec.out->str, want);
    assert_int_equal(t->rec.bad_strings, 0);
}

/* A summary warning containing needle (exact: equal to it). */
static inline bool sum_has_warning_in(const smtpcap_summary *s, const char *needle, bool exact)
{
    for (size_t i = 0; i < s->nwarnings; i++)
        if (exact ? strcmp(s->warnings[i], needle) == 0 : strstr(s->warnings[i], needle) != NULL)
            return true;
    return false;
}
#define sum_has_warning(s, needle) sum_has_warning_in((s), (needle), false)
#define sum_has_warning_exact(s, needle) sum_has_warning_in((s), (needle), true)

static inline bool sc_has_line(const script *t, const char *line)
{
    const char *p = t->rec.out->str;
    size_t n = strlen(line);
    while ((p = strstr(p, line)) != NULL) {
        if ((p == t->rec.out->str || p[-1] == '\n') && p[n] == '\n') return true;
        p += 1;
    }
    return false;
}

#endif
