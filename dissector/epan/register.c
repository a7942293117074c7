/* smtpcap Wireshark plugin — plugin exports, protocol, fields, preferences, hand-offs and
 * the dissector entry points (port/TLS, heuristic, postdissector).
 *
 * The plugin is a second face of the smtpcap decoder: it never parses SMTP itself. Its tree
 * comes first; then, unless the preference says otherwise, the same bytes go to Wireshark's
 * built-in "smtp" dissector so that IMF dissection and Export Objects keep working.
 */
#include <string.h>

#include <epan/packet.h>
#include <epan/prefs.h>
#include <epan/expert.h>
#include <epan/exceptions.h>
#include <epan/proto_data.h>
#include <epan/conversation.h>
#include <ws_version.h>

#include "smtpcap-epan.h"

/* packet-tls-utils.h declares this but pulls in <gcrypt.h>, which libwireshark-dev does not
 * depend on; the one prototype is stable across 4.x. */
WS_DLL_PUBLIC guint32 ssl_starttls_ack(dissector_handle_t tls_handle, packet_info *pinfo,
                                       dissector_handle_t app_handle);

WS_DLL_PUBLIC_DEF const gchar plugin_version[] = SMTPCAP_VERSION;
WS_DLL_PUBLIC_DEF const int plugin_want_major = WIRESHARK_VERSION_MAJOR;
WS_DLL_PUBLIC_DEF const int plugin_want_minor = WIRESHARK_VERSION_MINOR;
WS_DLL_PUBLIC void plugin_register(void);

#define SMTPCAP_TCP_PORTS "25,587,2525"
#define SMTPCAP_TLS_PORT 465

int proto_smtpcap = -1;
gboolean sc_pref_show_secrets = FALSE;
sc_hf_ids sc_hf;
sc_ett_ids sc_ett;
sc_ei_ids sc_ei;

static gboolean pref_call_smtp = TRUE;
static dissector_handle_t smtpcap_handle, smtp_handle, tls_handle;
static int hf_tcp_flags = -1;

static const value_string enh_class_vals[] = {
    { 2, "Success" },
    { 4, "Persistent transient failure" },
    { 5, "Permanent failure" },
    { 0, NULL },
};

/* Hands the tvb to the built-in SMTP dissector. It tells requests from responses by
 * match_uint (the server port), which a heuristic or TLS hand-off may not have set; and its
 * own line desegmentation would make TCP call us again with bytes we already fed, so it is
 * asked not to desegment (it copes, as it does with desegmentation turned off). */
static void call_builtin_smtp(tvbuff_t *tvb, packet_info *pinfo, proto_tree *tree,
                              const sc_pdu *pdu, void *data)
{
    if (!pref_call_smtp || !smtp_handle || pdu->detached) return;
    gboolean can_desegment = pinfo->can_desegment;
    guint32 match_uint = pinfo->match_uint;
    pinfo->can_desegment = 0;
    pinfo->match_uint = pdu->dir == SMTPCAP_DIR_CLIENT ? pinfo->destport : pinfo->srcport;
    TRY {
        call_dissector_with_data(smtp_handle, tvb, pinfo, tree, data);
    }
    CATCH_NONFATAL_ERRORS {
        /* An exception in the built-in dissector must not lose our annotations. */
    }
    ENDTRY;
    pinfo->can_desegment = can_desegment;
    pinfo->match_uint = match_uint;
}

static int dissect_smtpcap(tvbuff_t *tvb, packet_info *pinfo, proto_tree *tree, void *data)
{
    bool from_tls = proto_is_frame_protocol(pinfo->layers, "tls");
    const struct tcpinfo *ti = from_tls ? NULL : data;
    sc_pdu *pdu = sc_state_pdu(tvb, pinfo, from_tls ? SC_FROM_TLS : SC_FROM_TCP, ti);
    if (!pdu) return 0;
    col_set_str(pinfo->cinfo, COL_PROTOCOL, "SMTP");
    sc_render_pdu(tvb, pinfo, tree, pdu);
    /* First caller wins: ack before the built-in dissector tries to. */
    if (!PINFO_FD_VISITED(pinfo) && tls_handle && sc_pdu_starts_tls(pdu)) {
        ssl_starttls_ack(tls_handle, pinfo, smtpcap_handle);
        /* The ack sets TLS as the conversation's dissector from frame 0; a conversation the
         * heuristic gave us from a later frame would keep coming here. */
        conversation_set_dissector_from_frame_number(find_or_create_conversation(pinfo),
                                                     pinfo->num + 1, tls_handle);
    }
    call_builtin_smtp(tvb, pinfo, tree, pdu, data);
    col_set_str(pinfo->cinfo, COL_PROTOCOL, "SMTP");
    sc_render_info(pinfo, pdu);
    return (int)tvb_captured_length(tvb);
}

static gboolean dissect_smtpcap_heur(tvbuff_t *tvb, packet_info *pinfo, proto_tree *tree,
                                     void *data)
{
    if (!sc_state_heur_accept(tvb, pinfo, data)) return FALSE;
    if (!PINFO_FD_VISITED(pinfo))
        conversation_set_dissector_from_frame_number(find_or_create_conversation(pinfo),
                                                     pinfo->num, smtpcap_handle);
    dissect_smtpcap(tvb, pinfo, tree, data);
    return TRUE;
}

/* Runs after every frame: a FIN or RST carries no payload, so no SMTP dissector sees it.
 * The flags come from TCP's tree: registering tcp.flags as a wanted field makes every
 * front end (tshark one pass or -2, sharkd, Wireshark) build that field on the first pass. */
static int dissect_smtpcap_close(tvbuff_t *tvb, packet_info *pinfo, proto_tree *tree,
                                 void *data)
{
    unsigned flags = 0;
    if (!PINFO_FD_VISITED(pinfo) && hf_tcp_flags > 0 && tree) {
        GPtrArray *a = proto_get_finfo_ptr_array(tree, hf_tcp_flags);
        for (guint i = 0; a && i < a->len; i++) {
            field_info *fi = g_ptr_array_index(a, i);
            flags |= fvalue_get_uinteger(&fi->value);
        }
    }
    sc_pdu *pdu = sc_state_close(pinfo, flags);
    if (!pdu) return 0;
    sc_render_pdu(tvb, pinfo, tree, pdu);
    if (pdu->outcome) col_append_fstr(pinfo->cinfo, COL_INFO, " [SMTP session %s]", pdu->outcome->status);
    return 0;
}

static void register_fields(void)
{
    /* Wireshark wants every id at -1 before registration; all members are ints. */
    memset(&sc_hf, 0xff, sizeof sc_hf);
    memset(&sc_ett, 0xff, sizeof sc_ett);
#define F(id, name, abbrev, type, disp, strs, blurb)                                              \
    { &sc_hf.id, { name, "smtpcap." abbrev, type, disp, strs, 0, blurb, HFILL } }
    static hf_register_info hf[] = {
        F(stage, "Stage", "stage", FT_STRING, BASE_NONE, NULL, "Session stage the item belongs to"),
        F(command, "Command", "command", FT_STRING, BASE_NONE, NULL, "Command verb, upper-cased"),
        F(command_arg, "Argument", "command.arg", FT_STRING, BASE_NONE, NULL, NULL),
        F(command_line, "Command line", "command.line", FT_STRING, BASE_NONE, NULL,
          "As sent (AUTH secrets masked unless smtpcap.show_secrets)"),
        F(reply_code, "Reply code", "reply.code", FT_UINT16, BASE_DEC, NULL, NULL),
        F(reply_to, "In reply to", "reply.to", FT_STRING, BASE_NONE, NULL,
          "The command this reply answers"),
        F(reply_time, "Time since command", "reply.time", FT_RELATIVE_TIME, BASE_NONE, NULL,
          "Time between the command and this reply"),
        F(reply_line, "Reply text", "reply.line", FT_STRING, BASE_NONE, NULL, NULL),
        F(reply_meaning, "Meaning", "reply.meaning", FT_STRING, BASE_NONE, NULL,
          "What the reply means in context"),
        F(enhanced, "Enhanced status code", "enhanced", FT_STRING, BASE_NONE, NULL, "RFC 3463"),
        F(enhanced_class, "Class", "enhanced.class", FT_UINT8, BASE_DEC, VALS(enh_class_vals), NULL),
        F(enhanced_subject, "Subject", "enhanced.subject", FT_UINT16, BASE_DEC, NULL, NULL),
        F(enhanced_detail, "Detail", "enhanced.detail", FT_UINT16, BASE_DEC, NULL, NULL),
        F(enhanced_meaning, "Meaning", "enhanced.meaning", FT_STRING, BASE_NONE, NULL,
          "RFC 3463 / IANA meaning of the enhanced status code"),
        F(auth_mechanism, "AUTH mechanism", "auth.mechanism", FT_STRING, BASE_NONE, NULL, NULL),
        F(auth_prompt, "AUTH prompt", "auth.prompt", FT_STRING, BASE_NONE, NULL,
          "Server challenge, decoded"),
        F(auth_username, "AUTH username", "auth.username", FT_STRING, BASE_NONE, NULL, NULL),
        F(auth_password, "AUTH password", "auth.password", FT_STRING, BASE_NONE, NULL,
          "Masked unless smtpcap.show_secrets"),
        F(auth_response, "AUTH response", "auth.response", FT_STRING, BASE_NONE, NULL,
          "Other client response (digest, token, cancel); masked unless smtpcap.show_secrets"),
        F(auth_line, "AUTH line", "auth.line", FT_STRING, BASE_NONE, NULL,
          "Raw AUTH line (masked like the value it carries)"),
        F(auth_result, "AUTH result", "auth.result", FT_STRING, BASE_NONE, NULL, NULL),
        F(tls_plaintext_end, "Plaintext ends here", "tls.plaintext_end", FT_BOOLEAN, BASE_NONE,
          NULL, "TLS begins after this frame's bytes"),
        F(tls_mode, "TLS mode", "tls.mode", FT_STRING, BASE_NONE, NULL, NULL),
        F(gap, "Missing bytes", "gap", FT_UINT64, BASE_DEC, NULL, "Bytes missing from the capture"),
        F(message_size, "Message size", "message.size", FT_UINT64, BASE_DEC, NULL,
          "Message bytes after dot-unstuffing (BDAT: chunk bytes)"),
        F(message_complete, "Message complete", "message.complete", FT_BOOLEAN, BASE_NONE, NULL, NULL),
        F(message_subject, "Subject", "message.subject", FT_STRING, BASE_NONE, NULL, NULL),
        F(message_from, "From", "message.from", FT_STRING, BASE_NONE, NULL, NULL),
        F(message_to, "To", "message.to", FT_STRING, BASE_NONE, NULL, NULL),
        F(message_date, "Date", "message.date", FT_STRING, BASE_NONE, NULL, NULL),
        F(message_message_id, "Message-ID", "message.message_id", FT_STRING, BASE_NONE, NULL, NULL),
        F(message_x_mailer, "X-Mailer", "message.x_mailer", FT_STRING, BASE_NONE, NULL, NULL),
        F(anomaly, "Anomaly", "anomaly", FT_STRING, BASE_NONE, NULL, NULL),
        F(outcome, "Session outcome", "outcome", FT_STRING, BASE_NONE, NULL,
          "delivered, partial, failed, tempfail, incomplete, encrypted or no_mail"),
        F(outcome_stage, "Stage", "outcome.stage", FT_STRING, BASE_NONE, NULL,
          "The step that broke (or the final step)"),
        F(outcome_code, "Reply code", "outcome.code", FT_UINT16, BASE_DEC, NULL, NULL),
        F(outcome_enhanced, "Enhanced status code", "outcome.enhanced", FT_STRING, BASE_NONE, NULL, NULL),
        F(outcome_text, "Server text", "outcome.text", FT_STRING, BASE_NONE, NULL, NULL),
        F(outcome_hint, "Hint", "outcome.hint", FT_STRING, BASE_NONE, NULL, NULL),
        F(outcome_tls, "TLS", "outcome.tls", FT_STRING, BASE_NONE, NULL, NULL),
        F(outcome_end, "Session end", "outcome.end", FT_STRING, BASE_NONE, NULL, NULL),
        F(warning, "Warning", "warning", FT_STRING, BASE_NONE, NULL, NULL),
        F(content, "Message content", "content", FT_UINT32, BASE_DEC, NULL,
          "Bytes of message content in this segment"),
        F(retransmitted, "Already decoded", "retransmitted", FT_UINT32, BASE_DEC, NULL,
          "Bytes of this segment that were fed before (retransmission)"),
        F(inner, "Decrypted", "decrypted", FT_BOOLEAN, BASE_NONE, NULL,
          "SMTP decrypted from TLS with a key log"),
    };
#undef F
    static gint *ett[] = { &sc_ett.pdu, &sc_ett.event, &sc_ett.enhanced, &sc_ett.outcome };
    static ei_register_info ei[] = {
        { &sc_ei.reply_4xx, { "smtpcap.reply.tempfail", PI_RESPONSE_CODE, PI_WARN,
                              "Temporary failure (4xx)", EXPFILL } },
        { &sc_ei.reply_5xx, { "smtpcap.reply.permfail", PI_RESPONSE_CODE, PI_ERROR,
                              "Permanent failure (5xx)", EXPFILL } },
        { &sc_ei.auth_cleartext, { "smtpcap.auth.cleartext", PI_SECURITY, PI_WARN,
                                   "AUTH in cleartext: credentials cross the network unencrypted",
                                   EXPFILL } },
        { &sc_ei.starttls_unused, { "smtpcap.tls.unused", PI_SECURITY, PI_NOTE,
                                    "STARTTLS offered but not used", EXPFILL } },
        { &sc_ei.plaintext_end, { "smtpcap.tls.plaintext_end.expert", PI_SEQUENCE, PI_NOTE,
                                  "plaintext ends here", EXPFILL } },
        { &sc_ei.gap, { "smtpcap.gap.expert", PI_SEQUENCE, PI_WARN,
                        "Bytes missing from the capture", EXPFILL } },
        { &sc_ei.anomaly, { "smtpcap.anomaly.expert", PI_PROTOCOL, PI_WARN,
                            "SMTP protocol anomaly", EXPFILL } },
        { &sc_ei.truncated, { "smtpcap.command.truncated", PI_MALFORMED, PI_WARN,
                              "Line longer than the decoder keeps: truncated", EXPFILL } },
    };
    proto_register_field_array(proto_smtpcap, hf, array_length(hf));
    proto_register_subtree_array(ett, array_length(ett));
    expert_register_field_array(expert_register_protocol(proto_smtpcap), ei, array_length(ei));
}

static void proto_register_smtpcap(void)
{
    proto_smtpcap = proto_register_protocol("SMTP session decoder (smtpcap)", "SMTPCAP", "smtpcap");
    register_fields();

    module_t *m = prefs_register_protocol(proto_smtpcap, NULL);
    prefs_register_bool_preference(m, "show_secrets", "Show AUTH secrets",
        "Show passwords, tokens and digests instead of ********", &sc_pref_show_secrets);
    prefs_register_bool_preference(m, "call_smtp", "Also run the built-in SMTP dissector",
        "Hand the same bytes to Wireshark's smtp dissector after smtpcap's tree (IMF, Export Objects)",
        &pref_call_smtp);

    smtpcap_handle = register_dissector("smtpcap", dissect_smtpcap, proto_smtpcap);
    sc_state_init();
}

static void proto_reg_handoff_smtpcap(void)
{
    smtp_handle = find_dissector("smtp");
    tls_handle = find_dissector("tls");
    dissector_add_uint_range_with_preference("tcp.port", SMTPCAP_TCP_PORTS, smtpcap_handle);
    dissector_add_uint_with_preference("tls.port", SMTPCAP_TLS_PORT, smtpcap_handle);
    heur_dissector_add("tcp", dissect_smtpcap_heur, "SMTP (smtpcap) on other ports",
                       "smtpcap_tcp", proto_smtpcap, HEURISTIC_ENABLE);
    dissector_handle_t post = create_dissector_handle(dissect_smtpcap_close, proto_smtpcap);
    register_postdissector(post);
    hf_tcp_flags = proto_registrar_get_id_byname("tcp.flags");
    GArray *wanted = g_array_new(FALSE, FALSE, sizeof(int));
    g_array_append_val(wanted, hf_tcp_flags);
    set_postdissector_wanted_hfids(post, wanted);
}

void plugin_register(void)
{
    static proto_plugin plug;
    plug.register_protoinfo = proto_register_smtpcap;
    plug.register_handoff = proto_reg_handoff_smtpcap;
    proto_register_plugin(&plug);
}
