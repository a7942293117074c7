/* smtpcap Wireshark plugin — tree items, Info column and expert info.
 *
 * Everything here reads the records kept by state.c and nothing else, so every pass of a
 * frame shows the same thing. Byte ranges come from the event's stream offsets relative to
 * the PDU's first byte, clamped to the tvb; an event about bytes of another frame (a client
 * line held until the server's reply said how to read it, a line flushed at the end) is
 * shown without a byte range.
 */
#include <string.h>

#include <epan/expert.h>
#include <wsutil/str_util.h>

#include "smtpcap-epan.h"

/* The string to show: revealed only when the user asked for secrets. */
static const char *str(const sc_event *e, int k)
{
    return sc_pref_show_secrets && e->secret[k] ? e->secret[k] : e->s[k];
}

static void range_of(tvbuff_t *tvb, const sc_pdu *pdu, const sc_event *e, int *start, int *len)
{
    *start = 0;
    *len = 0;
    if (pdu->detached || e->dir != pdu->dir) return;
    uint64_t tl = tvb_captured_length(tvb);
    uint64_t a = e->offset > pdu->base ? e->offset - pdu->base : 0;
    uint64_t end = e->offset + e->length;
    uint64_t b = end > pdu->base ? end - pdu->base : 0;
    if (b > tl) b = tl;
    if (a >= b) return;
    *start = (int)a;
    *len = (int)(b - a);
}

static proto_item *add_str(proto_tree *t, int hf, tvbuff_t *tvb, int s, int l, const char *v)
{
    return v ? proto_tree_add_string(t, hf, tvb, s, l, v) : NULL;
}

static void add_stage(proto_tree *t, tvbuff_t *tvb, const sc_event *e)
{
    const char *name = smtpcap_stage_name(e->stage);
    if (*name) proto_item_set_generated(proto_tree_add_string(t, sc_hf.stage, tvb, 0, 0, name));
}

static void render_command(proto_tree *tree, tvbuff_t *tvb, packet_info *pinfo,
                           const sc_pdu *pdu, const sc_event *e, int s, int l)
{
    proto_item *ti;
    proto_tree *t = proto_tree_add_subtree_format(tree, tvb, s, l, sc_ett.event, &ti,
                                                  "Command: %s", str(e, 2));
    add_stage(t, tvb, e);
    add_str(t, sc_hf.command, tvb, s, l, str(e, 0));
    if (str(e, 1) && *str(e, 1)) add_str(t, sc_hf.command_arg, tvb, s, l, str(e, 1));
    add_str(t, sc_hf.command_line, tvb, s, l, str(e, 2));
    if (e->flag) expert_add_info(pinfo, ti, &sc_ei.truncated);
    if (!pdu->inner && e->stage == SMTPCAP_STAGE_AUTH && e->s[0] && strcmp(e->s[0], "AUTH") == 0)
        expert_add_info(pinfo, ti, &sc_ei.auth_cleartext);
}

static void render_reply(proto_tree *tree, tvbuff_t *tvb, packet_info *pinfo,
                         const sc_event *e, int s, int l)
{
    proto_item *ti;
    proto_tree *t = proto_tree_add_subtree_format(tree, tvb, s, l, sc_ett.event, &ti,
                                                  "Reply: %d %s%s%s%s", e->code,
                                                  e->nlines ? e->lines[0] : "",
                                                  e->s[2] ? " [" : "", e->s[2] ? e->s[2] : "",
                                                  e->s[2] ? "]" : "");
    add_stage(t, tvb, e);
    proto_item *code = proto_tree_add_uint(t, sc_hf.reply_code, tvb, s, l, (guint32)e->code);
    if (e->s[1]) proto_item_set_generated(add_str(t, sc_hf.reply_to, tvb, 0, 0, e->s[1]));
    if (e->latency_us >= 0) {
        nstime_t d = { .secs = (time_t)(e->latency_us / 1000000),
                       .nsecs = (int)(e->latency_us % 1000000) * 1000 };
        proto_item_set_generated(proto_tree_add_time(t, sc_hf.reply_time, tvb, 0, 0, &d));
    }
    for (unsigned i = 0; i < e->nlines; i++) add_str(t, sc_hf.reply_line, tvb, s, l, e->lines[i]);
    if (e->s[2]) proto_item_set_generated(add_str(t, sc_hf.reply_meaning, tvb, 0, 0, e->s[2]));
    if (e->s[0]) {
        proto_item *ei;
        proto_tree *et = proto_tree_add_subtree_format(t, tvb, s, l, sc_ett.enhanced, &ei,
                                                       "Enhanced status code: %s", e->s[0]);
        add_str(et, sc_hf.enhanced, tvb, s, l, e->s[0]);
        if (e->enh_class >= 0) {
            proto_tree_add_uint(et, sc_hf.enhanced_class, tvb, s, l, (guint32)e->enh_class);
            proto_tree_add_uint(et, sc_hf.enhanced_subject, tvb, s, l, (guint32)e->enh_subject);
            proto_tree_add_uint(et, sc_hf.enhanced_detail, tvb, s, l, (guint32)e->enh_detail);
        }
        if (e->s[3])
            proto_item_set_generated(add_str(et, sc_hf.enhanced_meaning, tvb, 0, 0, e->s[3]));
    }
    if (e->code >= 500)
        expert_add_info_format(pinfo, code, &sc_ei.reply_5xx, "Permanent failure: %d %s",
                               e->code, e->nlines ? e->lines[0] : "");
    else if (e->code >= 400)
        expert_add_info_format(pinfo, code, &sc_ei.reply_4xx, "Temporary failure: %d %s",
                               e->code, e->nlines ? e->lines[0] : "");
}

static void render_auth(proto_tree *tree, tvbuff_t *tvb, const sc_event *e, int s, int l)
{
    static const int *step_hf[] = {
        [SMTPCAP_AUTH_STEP_PROMPT] = &sc_hf.auth_prompt,
        [SMTPCAP_AUTH_STEP_USERNAME] = &sc_hf.auth_username,
        [SMTPCAP_AUTH_STEP_PASSWORD] = &sc_hf.auth_password,
        [SMTPCAP_AUTH_STEP_RESPONSE] = &sc_hf.auth_response,
        [SMTPCAP_AUTH_STEP_RESULT] = &sc_hf.auth_result,
    };
    proto_tree *t = proto_tree_add_subtree_format(tree, tvb, s, l, sc_ett.event, NULL,
                                                  "AUTH %s %s: %s", e->s[0] ? e->s[0] : "",
                                                  smtpcap_auth_step_name(e->kind),
                                                  str(e, 1) ? str(e, 1) : "");
    add_stage(t, tvb, e);
    add_str(t, sc_hf.auth_mechanism, tvb, s, l, e->s[0]);
    if (e->kind >= 0 && e->kind <= SMTPCAP_AUTH_STEP_RESULT)
        add_str(t, *step_hf[e->kind], tvb, s, l, str(e, 1));
    add_str(t, sc_hf.auth_line, tvb, s, l, str(e, 2));
}

static void render_message(proto_tree *tree, tvbuff_t *tvb, const sc_event *e, int s, int l)
{
    static const int *hdr_hf[6] = { &sc_hf.message_subject, &sc_hf.message_from,
                                    &sc_hf.message_to, &sc_hf.message_date,
                                    &sc_hf.message_message_id, &sc_hf.message_x_mailer };
    proto_tree *t = proto_tree_add_subtree_format(
        tree, tvb, s, l, sc_ett.event, NULL, "Message%s: %" PRIu64 " bytes%s%s%s",
        e->bdat ? " (BDAT)" : "", e->num, e->flag ? "" : ", incomplete",
        e->s[0] ? ", Subject: " : "", e->s[0] ? e->s[0] : "");
    add_stage(t, tvb, e);
    proto_item_set_generated(proto_tree_add_uint64(t, sc_hf.message_size, tvb, s, l, e->num));
    proto_item_set_generated(proto_tree_add_boolean(t, sc_hf.message_complete, tvb, s, l, e->flag));
    for (int k = 0; k < 6; k++) add_str(t, *hdr_hf[k], tvb, 0, 0, e->s[k]);
}

static void render_event(proto_tree *tree, tvbuff_t *tvb, packet_info *pinfo, const sc_pdu *pdu,
                         const sc_event *e)
{
    int s, l;
    range_of(tvb, pdu, e, &s, &l);
    proto_item *ti;
    switch (e->type) {
    case SMTPCAP_EV_COMMAND:
        render_command(tree, tvb, pinfo, pdu, e, s, l);
        break;
    case SMTPCAP_EV_REPLY:
        render_reply(tree, tvb, pinfo, e, s, l);
        break;
    case SMTPCAP_EV_AUTH:
        render_auth(tree, tvb, e, s, l);
        break;
    case SMTPCAP_EV_TLS:
        ti = proto_tree_add_boolean(tree, sc_hf.tls_plaintext_end, tvb, s, l, TRUE);
        proto_item_set_generated(ti);
        expert_add_info(pinfo, ti, &sc_ei.plaintext_end);
        proto_item_set_generated(
            proto_tree_add_string(tree, sc_hf.tls_mode, tvb, s, l, smtpcap_tls_mode_name(e->kind)));
        break;
    case SMTPCAP_EV_GAP:
        ti = proto_tree_add_uint64(tree, sc_hf.gap, tvb, 0, 0, e->num);
        proto_item_set_generated(ti);
        expert_add_info_format(pinfo, ti, &sc_ei.gap, "%" PRIu64 " bytes missing (%s)", e->num,
                               e->dir == SMTPCAP_DIR_CLIENT ? "client" : "server");
        break;
    case SMTPCAP_EV_MESSAGE:
        render_message(tree, tvb, e, s, l);
        break;
    case SMTPCAP_EV_ANOMALY:
        ti = proto_tree_add_string(tree, sc_hf.anomaly, tvb, s, l, e->s[0] ? e->s[0] : "");
        expert_add_info_format(pinfo, ti, &sc_ei.anomaly, "%s", e->s[0] ? e->s[0] : "anomaly");
        break;
    }
}

void sc_render_outcome(tvbuff_t *tvb, packet_info *pinfo, proto_tree *tree, const sc_outcome *o)
{
    proto_item *ti = proto_tree_add_string(tree, sc_hf.outcome, tvb, 0, 0, o->status);
    proto_item_set_generated(ti);
    proto_item_append_text(ti, "%s%s%s", o->inner ? " (decrypted session)" : "",
                           o->hint ? ": " : "", o->hint ? o->hint : "");
    proto_tree *t = proto_item_add_subtree(ti, sc_ett.outcome);
    const char *stage = smtpcap_stage_name(o->stage);
    if (*stage) add_str(t, sc_hf.outcome_stage, tvb, 0, 0, stage);
    if (o->code) proto_tree_add_uint(t, sc_hf.outcome_code, tvb, 0, 0, (guint32)o->code);
    add_str(t, sc_hf.outcome_enhanced, tvb, 0, 0, o->enhanced);
    add_str(t, sc_hf.outcome_text, tvb, 0, 0, o->text);
    add_str(t, sc_hf.outcome_hint, tvb, 0, 0, o->hint);
    add_str(t, sc_hf.outcome_tls, tvb, 0, 0, o->tls);
    add_str(t, sc_hf.outcome_end, tvb, 0, 0, o->end_reason);
    for (unsigned i = 0; i < o->nwarnings; i++) add_str(t, sc_hf.warning, tvb, 0, 0, o->warnings[i]);
    if (o->starttls_unused) expert_add_info(pinfo, ti, &sc_ei.starttls_unused);
}

void sc_render_pdu(tvbuff_t *tvb, packet_info *pinfo, proto_tree *tree, const sc_pdu *pdu)
{
    if (!tree) return;
    proto_item *top = proto_tree_add_item(tree, proto_smtpcap, tvb, 0, pdu->detached ? 0 : -1, ENC_NA);
    proto_tree *t = proto_item_add_subtree(top, sc_ett.pdu);
    proto_item_append_text(top, ", %s%s", pdu->dir == SMTPCAP_DIR_CLIENT ? "client" : "server",
                           pdu->inner ? ", decrypted" : "");
    if (pdu->inner) proto_item_set_generated(proto_tree_add_boolean(t, sc_hf.inner, tvb, 0, 0, TRUE));
    uint32_t len = tvb_captured_length(tvb);
    if (!pdu->detached && pdu->new_bytes < len)
        proto_item_set_generated(proto_tree_add_uint(t, sc_hf.retransmitted, tvb, 0,
                                                     (int)(len - pdu->new_bytes),
                                                     len - pdu->new_bytes));
    if (pdu->content)
        proto_item_set_generated(proto_tree_add_uint(t, sc_hf.content, tvb, (int)(len - pdu->new_bytes), (int)pdu->new_bytes, pdu->new_bytes));
    for (unsigned i = 0; i < pdu->nev; i++) render_event(t, tvb, pinfo, pdu, &pdu->ev[i]);
    if (pdu->outcome) sc_render_outcome(tvb, pinfo, t, pdu->outcome);
}

/* ---- Info column ------------------------------------------------------------------------ */

static void info_event(wmem_strbuf_t *b, const sc_event *e)
{
    const char *sep = wmem_strbuf_get_len(b) ? " | " : "";
    switch (e->type) {
    case SMTPCAP_EV_COMMAND:
        wmem_strbuf_append_printf(b, "%sC: %s", sep, str(e, 2));
        break;
    case SMTPCAP_EV_REPLY:
        wmem_strbuf_append_printf(b, "%sS: %d %s%s", sep, e->code, e->nlines ? e->lines[0] : "",
                                  e->nlines > 1 ? " …" : "");
        if (e->s[2]) wmem_strbuf_append_printf(b, " [%s]", e->s[2]);
        break;
    case SMTPCAP_EV_AUTH:
        if (e->dir == SMTPCAP_DIR_CLIENT && str(e, 2))
            wmem_strbuf_append_printf(b, "%sC: %s", sep, str(e, 2));
        /* The server's prompt is already in the reply's meaning. */
        if (e->dir == SMTPCAP_DIR_CLIENT)
            wmem_strbuf_append_printf(b, " [AUTH %s: %s]", smtpcap_auth_step_name(e->kind),
                                      str(e, 1) ? str(e, 1) : "");
        break;
    case SMTPCAP_EV_TLS:
        wmem_strbuf_append(b, " [plaintext ends here]");
        break;
    case SMTPCAP_EV_GAP:
        wmem_strbuf_append_printf(b, "%s[%" PRIu64 " bytes missing]", sep, e->num);
        break;
    case SMTPCAP_EV_MESSAGE:
        wmem_strbuf_append_printf(b, "%s[end of message, %" PRIu64 " bytes]", *sep ? " " : "",
                                  e->num);
        break;
    case SMTPCAP_EV_ANOMALY:
        break;
    }
}

void sc_render_info(packet_info *pinfo, const sc_pdu *pdu)
{
    wmem_strbuf_t *b = wmem_strbuf_new(pinfo->pool, "");
    if (pdu->content) wmem_strbuf_append_printf(b, "C: message content, %u bytes", pdu->new_bytes);
    for (unsigned i = 0; i < pdu->nev; i++) info_event(b, &pdu->ev[i]);
    if (wmem_strbuf_get_len(b) == 0) {
        const char *side = pdu->dir == SMTPCAP_DIR_CLIENT ? "C" : "S";
        if (pdu->new_bytes == 0)
            wmem_strbuf_append_printf(b, "%s: retransmission (already decoded)", side);
        else
            wmem_strbuf_append_printf(b, "%s: %u bytes (continued in a later segment)", side, pdu->new_bytes);
    }
    if (pdu->outcome) wmem_strbuf_append_printf(b, " [SMTP session %s]", pdu->outcome->status);
    /* The built-in dissectors ran before us and may have fenced the column. */
    col_clear_fence(pinfo->cinfo, COL_INFO);
    col_clear(pinfo->cinfo, COL_INFO);
    col_add_str(pinfo->cinfo, COL_INFO, wmem_strbuf_get_str(b));
    if (pdu->inner) col_prepend_fstr(pinfo->cinfo, COL_INFO, "(decrypted) ");
}
