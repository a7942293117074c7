/* Message status and the session verdict, by the rules of DESIGN.md ("Outcome per session
 * and per message"): the outcome names the first reply that made delivery impossible, and a
 * failure the client recovered from in the same session does not decide it.
 *
 * Message status is derived from the replies recorded for it, not tracked as it goes, so
 * that pipelined replies arriving after the client already moved on (MAIL, RCPT, RSET sent
 * together) still count. */
#include <stdio.h>
#include <string.h>

#include "codes.h"
#include "internal.h"

msg_rec *msg_get(smtpcap_session *s, int idx)
{
    if (idx < 0 || (guint)idx >= s->msgs->len) return NULL;
    return &g_array_index(s->msgs, msg_rec, idx);
}

int msg_new(smtpcap_session *s, const char *from)
{
    if (s->msgs->len >= s->cfg.max_messages) {
        if (s->msgs_dropped++ == 0)
            anomaly(s, SMTPCAP_DIR_CLIENT, SMTPCAP_ANOMALY_LIMIT,
                    "more than %zu messages in one session: later ones are not listed",
                    s->cfg.max_messages);
        return -1;
    }
    msg_rec m = { .mail_from = dup_capped(from, KEEP_ADDR), .size = -1, .first_rcpt_fail = -1,
                  .data_stage = SMTPCAP_STAGE_DATA };
    m.rcpts = g_array_new(FALSE, TRUE, sizeof(rcpt_rec));
    g_array_append_val(s->msgs, m);
    return (int)s->msgs->len - 1;
}

void msg_close(smtpcap_session *s, int idx)
{
    msg_rec *m = msg_get(s, idx);
    if (m) m->closed = true;
}

void msg_free(msg_rec *m)
{
    g_free(m->mail_from);
    for (guint i = 0; m->rcpts && i < m->rcpts->len; i++)
        g_free(g_array_index(m->rcpts, rcpt_rec, i).address);
    if (m->rcpts) g_array_free(m->rcpts, TRUE);
    g_free(m->data_text);
    g_free(m->queue_id);
    g_free(m->fail_text);
    g_free(m->rcpt_fail_text);
    g_free(m->subject); g_free(m->from); g_free(m->to);
    g_free(m->date); g_free(m->message_id); g_free(m->x_mailer);
}

void fail_set(fail_rec *f, smtpcap_stage stage, int code, const char *enh, int cls, int subj,
              int det, const char *text)
{
    g_free(f->text);
    f->set = true;
    f->stage = stage;
    f->code = code;
    copy_enh(f->enhanced, enh);
    f->cls = cls;
    f->subj = subj;
    f->det = det;
    f->text = dup_capped(text ? text : "", KEEP_TEXT);
}

void fail_clear(fail_rec *f)
{
    g_free(f->text);
    memset(f, 0, sizeof *f);
}

/* ---- message status -------------------------------------------------------------------- */

typedef struct {
    smtpcap_stage stage;
    int code;
    const char *enhanced; /* "" if none */
    const char *text;
    bool eod;
} decision;

static smtpcap_msg_status by_class(int code)
{
    return code >= 500 ? SMTPCAP_MSG_REJECTED : SMTPCAP_MSG_TEMPFAIL;
}

static smtpcap_msg_status msg_eval(const msg_rec *m, decision *d)
{
    memset(d, 0, sizeof *d);
    d->enhanced = "";
    if (m->mail_code >= 400) {
        *d = (decision){ SMTPCAP_STAGE_MAIL, m->mail_code, m->mail_enhanced, m->fail_text, false };
        return by_class(m->mail_code);
    }
    size_t ok = 0, failed = 0, unanswered = 0;
    for (guint i = 0; i < m->rcpts->len; i++) {
        int c = g_array_index(m->rcpts, rcpt_rec, i).code;
        if (c == 0) unanswered++;
        else if (c < 400) ok++;
        else failed++;
    }
    bool all_failed = failed > 0 && ok == 0 && unanswered == 0;
    const rcpt_rec *fr = m->first_rcpt_fail >= 0
                             ? &g_array_index(m->rcpts, rcpt_rec, m->first_rcpt_fail) : NULL;
    /* When every RCPT was refused, the step that broke is the RCPT reply, not the "no valid
     * recipients" that follows DATA. */
    if (all_failed && fr) {
        *d = (decision){ SMTPCAP_STAGE_RCPT, fr->code, fr->enhanced, m->rcpt_fail_text, false };
        return by_class(fr->code);
    }
    if (m->data_code >= 200 && m->data_code < 300) {
        *d = (decision){ m->data_stage, m->data_code, m->data_enhanced, m->data_text, m->data_eod };
        return SMTPCAP_MSG_ACCEPTED;
    }
    if (m->data_code >= 400) {
        *d = (decision){ m->data_stage, m->data_code, m->data_enhanced, m->data_text, m->data_eod };
        return by_class(m->data_code);
    }
    return m->closed ? SMTPCAP_MSG_ABORTED : SMTPCAP_MSG_INCOMPLETE;
}

/* ---- session outcome ------------------------------------------------------------------- */

static void set_outcome(smtpcap_session *s, smtpcap_outcome_status st, smtpcap_stage stage,
                        int code, const char *enh, const char *text)
{
    smtpcap_outcome *o = &s->sum->outcome;
    o->status = st;
    o->stage = stage;
    o->code = code;
    o->enhanced = enh && enh[0] ? enh : NULL;
    o->text = text;
}

static int enh_part(const char *enh, int k)
{
    int v[3] = { -1, -1, -1 };
    if (enh && enh[0]) sscanf(enh, "%d.%d.%d", &v[0], &v[1], &v[2]);
    return v[k];
}

static const char *hint_for(smtpcap_stage stage, bool eod, int code, const char *enh,
                            const char *text)
{
    return codes_hint(stage, eod, code, enh_part(enh, 0), enh_part(enh, 1), enh_part(enh, 2),
                      text ? text : "");
}

static bool session_incomplete(smtpcap_session *s, smtpcap_end_reason why, bool any_incomplete)
{
    if (any_incomplete) return true;
    if (session_pending_has_nonquit(s)) return true;
    if (s->quit_sent) return false;
    return why == SMTPCAP_END_CAPTURE || why == SMTPCAP_END_TIMEOUT ||
           why == SMTPCAP_END_EVICTED || why == SMTPCAP_END_RESET;
}

static char *keep_string(smtpcap_session *s, char *str)
{
    s->sum_strings = g_renew(char *, s->sum_strings, s->nsum_strings + 1);
    s->sum_strings[s->nsum_strings++] = str;
    return str;
}

static void decide(smtpcap_session *s, smtpcap_end_reason why)
{
    size_t n = s->msgs->len, accepted = 0;
    int last_accepted = -1, problem = -1;
    bool problem_in_accepted = false, any_incomplete = false;
    decision dd;
    for (size_t i = 0; i < n; i++) {
        msg_rec *m = &g_array_index(s->msgs, msg_rec, i);
        smtpcap_msg_status st = msg_eval(m, &dd);
        if (st == SMTPCAP_MSG_ACCEPTED) {
            accepted++;
            last_accepted = (int)i;
            if (m->first_rcpt_fail >= 0 && problem < 0) { problem = (int)i; problem_in_accepted = true; }
        } else if (st == SMTPCAP_MSG_REJECTED || st == SMTPCAP_MSG_TEMPFAIL) {
            /* A failure followed by an accepted message was recovered from; see below. */
            if (problem < 0 || (int)i > last_accepted) { problem = (int)i; problem_in_accepted = false; }
        } else if (st == SMTPCAP_MSG_INCOMPLETE) {
            any_incomplete = true;
        }
    }
    /* A transaction refused at MAIL or RCPT and followed by an accepted one was retried (the
     * client abandoned it: DESIGN's "transaction abandoned with RSET"): recovered. A message
     * whose content the server refused was not delivered: that is partial. */
    if (problem >= 0 && !problem_in_accepted && problem < last_accepted) {
        msg_eval(&g_array_index(s->msgs, msg_rec, problem), &dd);
        if (dd.stage == SMTPCAP_STAGE_MAIL || dd.stage == SMTPCAP_STAGE_RCPT) {
            problem = -1;
            /* a later refused content still counts */
            for (size_t i = (size_t)last_accepted; i-- > 0;) {
                msg_rec *m = &g_array_index(s->msgs, msg_rec, i);
                smtpcap_msg_status st = msg_eval(m, &dd);
                if ((st == SMTPCAP_MSG_REJECTED || st == SMTPCAP_MSG_TEMPFAIL) &&
                    dd.stage != SMTPCAP_STAGE_MAIL && dd.stage != SMTPCAP_STAGE_RCPT)
                    problem = (int)i;
            }
        }
    }

    const char *hint;
    if (accepted > 0 && problem >= 0) {
        msg_rec *m = &g_array_index(s->msgs, msg_rec, problem);
        if (problem_in_accepted) {
            const rcpt_rec *r = &g_array_index(m->rcpts, rcpt_rec, m->first_rcpt_fail);
            set_outcome(s, SMTPCAP_OUTCOME_PARTIAL, SMTPCAP_STAGE_RCPT, r->code, r->enhanced,
                        m->rcpt_fail_text);
        } else {
            msg_eval(m, &dd);
            set_outcome(s, SMTPCAP_OUTCOME_PARTIAL, dd.stage, dd.code, dd.enhanced, dd.text);
        }
        const smtpcap_outcome *o = &s->sum->outcome;
        hint = keep_string(s, g_strdup_printf("some mail was accepted, some refused: %s",
                                              hint_for(o->stage, !problem_in_accepted && dd.eod, o->code, o->enhanced, o->text)));
    } else if (accepted > 0 && !any_incomplete) {
        msg_rec *m = &g_array_index(s->msgs, msg_rec, last_accepted);
        msg_eval(m, &dd);
        set_outcome(s, SMTPCAP_OUTCOME_DELIVERED, dd.stage, dd.code, dd.enhanced, dd.text);
        hint = m->queue_id
                   ? keep_string(s, g_strdup_printf("the server accepted the mail (queue id %s): "
                                                    "its own logs tell what happened next",
                                                    m->queue_id))
                   : "the server accepted the mail: its own logs tell what happened next";
    } else if (accepted == 0 && s->tls == SMTPCAP_TLS_STARTTLS && !s->greeting_fail.set) {
        /* Whatever failed before STARTTLS, the client went on into TLS: what happened there
         * is hidden. */
        set_outcome(s, SMTPCAP_OUTCOME_ENCRYPTED, SMTPCAP_STAGE_TLS, 0, NULL, NULL);
        hint = "TLS hid the rest of the session: the server's logs (or a TLS key log in "
               "Wireshark) tell what happened";
    } else if (s->greeting_fail.set) {
        fail_rec *f = &s->greeting_fail;
        set_outcome(s, f->code >= 500 ? SMTPCAP_OUTCOME_FAILED : SMTPCAP_OUTCOME_TEMPFAIL,
                    f->stage, f->code, f->enhanced, f->text);
        hint = hint_for(f->stage, false, f->code, f->enhanced, f->text);
    } else if (s->cand.set && accepted == 0) {
        fail_rec *f = &s->cand;
        set_outcome(s, f->code >= 500 ? SMTPCAP_OUTCOME_FAILED : SMTPCAP_OUTCOME_TEMPFAIL,
                    f->stage, f->code, f->enhanced, f->text);
        hint = hint_for(f->stage, false, f->code, f->enhanced, f->text);
    } else if (problem >= 0) {
        msg_eval(&g_array_index(s->msgs, msg_rec, problem), &dd);
        set_outcome(s, dd.code >= 500 ? SMTPCAP_OUTCOME_FAILED : SMTPCAP_OUTCOME_TEMPFAIL,
                    dd.stage, dd.code, dd.enhanced, dd.text);
        hint = hint_for(dd.stage, dd.eod, dd.code, dd.enhanced, dd.text);
    } else if (s->tls != SMTPCAP_TLS_NONE) {
        set_outcome(s, SMTPCAP_OUTCOME_ENCRYPTED, SMTPCAP_STAGE_TLS, 0, NULL, NULL);
        hint = "TLS hid the rest of the session: the server's logs (or a TLS key log in "
               "Wireshark) tell what happened";
    } else if (session_incomplete(s, why, any_incomplete)) {
        smtpcap_stage st = s->stage;
        if (s->pq_len) st = s->pq[s->pq_head].verb == V_GREETING ? SMTPCAP_STAGE_CONNECT : st;
        /* No final answer: nothing to quote (the transcript shows the last reply). */
        set_outcome(s, SMTPCAP_OUTCOME_INCOMPLETE, st, 0, NULL, NULL);
        hint = why == SMTPCAP_END_RESET
                   ? "the connection was reset before the server gave a final answer: the mail "
                     "was not delivered in this session"
                   : "the capture ended before the server gave a final answer: capture longer "
                     "to see how the session ended";
    } else {
        set_outcome(s, SMTPCAP_OUTCOME_NO_MAIL, SMTPCAP_STAGE_NONE, 0, NULL, NULL);
        hint = "the session ended without trying to send mail";
    }
    s->sum->outcome.hint = hint;
}

static void add_warnings(smtpcap_session *s, smtpcap_end_reason why)
{
    if (s->cfg.midstream) warn(s, "the capture began after the session started: its start is missing");
    if (s->gap_bytes)
        warn(s, "%" G_GUINT64_FORMAT " bytes missing from the capture", s->gap_bytes);
    if (s->cap_starttls && !s->starttls_sent && s->tls == SMTPCAP_TLS_NONE)
        warn(s, "the server offered STARTTLS but the client did not use it");
    if (s->starttls_refused && s->tls == SMTPCAP_TLS_NONE)
        warn(s, "STARTTLS was refused: the session went on in plaintext");
    if (s->truncated_lines)
        warn(s, "%" G_GUINT64_FORMAT " line(s) longer than %zu bytes were truncated",
             s->truncated_lines, s->cfg.max_line);
    if (s->lost_replies)
        warn(s, "%" G_GUINT64_FORMAT " command(s) got no reply in the capture (lost in gaps?)",
             s->lost_replies);
    if (s->unexpected_replies)
        warn(s, "%" G_GUINT64_FORMAT " reply(ies) answered no command seen in the capture",
             s->unexpected_replies);
    if (s->msgs_dropped)
        warn(s, "%zu more message(s) in this session are not listed", s->msgs_dropped);
    if (why == SMTPCAP_END_EVICTED) warn(s, "the session was dropped by the flow limit before it ended");
    if (why == SMTPCAP_END_TIMEOUT) warn(s, "the session idled out before it ended");
    for (guint i = 0; i < s->msgs->len; i++) {
        msg_rec *m = &g_array_index(s->msgs, msg_rec, i);
        if (m->content_gap) warn(s, "message %u: part of its content is missing from the capture", i + 1);
        if (m->rcpts_dropped) warn(s, "message %u: %zu more recipient(s) not listed", i + 1, m->rcpts_dropped);
    }
}

void verdict_build(smtpcap_session *s, smtpcap_end_reason why)
{
    smtpcap_summary *sum = s->sum = g_new0(smtpcap_summary, 1);
    add_warnings(s, why);
    sum->tls = s->tls;
    sum->helo = s->helo;
    sum->midstream = s->cfg.midstream;
    sum->gap_bytes = s->gap_bytes;
    sum->bytes[0] = s->bytes[0];
    sum->bytes[1] = s->bytes[1];
    sum->end_reason = why;
    sum->truncated_lines = s->truncated_lines;
    sum->starttls_unused = s->cap_starttls && !s->starttls_sent && s->tls == SMTPCAP_TLS_NONE;

    sum->nauth = s->auths->len;
    s->sum_auth = g_new0(smtpcap_auth_attempt, sum->nauth + 1);
    for (size_t i = 0; i < sum->nauth; i++) {
        auth_rec *a = &g_array_index(s->auths, auth_rec, i);
        s->sum_auth[i] = (smtpcap_auth_attempt){ a->mechanism, a->username, a->result, a->code,
                                                 a->enhanced[0] ? a->enhanced : NULL };
    }
    sum->auth = s->sum_auth;

    sum->nmessages = s->msgs->len;
    s->sum_msgs = g_new0(smtpcap_message, sum->nmessages + 1);
    s->sum_rcpts = g_new0(smtpcap_rcpt *, sum->nmessages + 1);
    for (size_t i = 0; i < sum->nmessages; i++) {
        msg_rec *m = &g_array_index(s->msgs, msg_rec, i);
        smtpcap_rcpt *r = g_new0(smtpcap_rcpt, m->rcpts->len + 1);
        for (guint k = 0; k < m->rcpts->len; k++) {
            rcpt_rec *rr = &g_array_index(m->rcpts, rcpt_rec, k);
            r[k] = (smtpcap_rcpt){ rr->address, rr->code, rr->enhanced[0] ? rr->enhanced : NULL };
        }
        s->sum_rcpts[i] = r;
        decision d;
        smtpcap_message *o = &s->sum_msgs[i];
        o->mail_from = m->mail_from;
        o->mail_code = m->mail_code;
        o->mail_enhanced = m->mail_enhanced[0] ? m->mail_enhanced : NULL;
        o->rcpts = r;
        o->nrcpts = m->rcpts->len;
        o->data_code = m->data_code;
        o->data_enhanced = m->data_enhanced[0] ? m->data_enhanced : NULL;
        o->queue_id = m->queue_id;
        o->size = m->size;
        o->subject = m->subject;
        o->status = msg_eval(m, &d);
    }
    sum->messages = s->sum_msgs;
    decide(s, why);
    sum->warnings = (const char *const *)s->warnings->pdata;
    sum->nwarnings = s->warnings->len;
}

void verdict_free(smtpcap_session *s)
{
    g_free(s->sum_auth);
    for (size_t i = 0; s->sum_rcpts && i < s->sum->nmessages; i++) g_free(s->sum_rcpts[i]);
    g_free(s->sum_rcpts);
    g_free(s->sum_msgs);
    for (size_t i = 0; i < s->nsum_strings; i++) g_free(s->sum_strings[i]);
    g_free(s->sum_strings);
    g_free(s->sum);
}
