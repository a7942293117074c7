/* smtpcap Wireshark plugin — declarations shared by its three files.
 *
 *   register.c  plugin exports, protocol/fields/expert/prefs, hand-offs, dissector entries
 *   state.c     per-conversation decoder state; the first pass feeds the decoder and keeps
 *               what it emitted per PDU (frame + call within the frame)
 *   render.c    tree items, Info column and expert info, built from the kept records only
 *
 * Wireshark dissects frames again and out of order (tshark -2, sharkd, a user clicking). The
 * decoder is sequential, so it advances only on the first pass; every later pass renders
 * from the records, which are copied into file-scope memory (event strings live only for
 * the callback).
 */
#ifndef SMTPCAP_EPAN_H
#define SMTPCAP_EPAN_H

#include <epan/packet.h>
#include <epan/expert.h>
#include <epan/dissectors/packet-tcp.h>
#include <smtpcap/decoder.h>

/* ---- what the first pass keeps ---------------------------------------------------------- */

/* One decoder event, copied. Strings are NULL when absent. */
typedef struct {
    smtpcap_event_type type;
    smtpcap_dir dir;
    smtpcap_stage stage;
    uint64_t offset, length; /* stream offsets (per direction) */
    int code;                /* reply code */
    int enh_class, enh_subject, enh_detail;
    int64_t latency_us;      /* reply; -1 if unknown */
    int kind;                /* auth step, tls mode or anomaly kind */
    uint64_t num;            /* gap bytes, message size */
    bool flag;               /* command truncated, message complete */
    bool bdat;               /* message came by BDAT */
    /* COMMAND: verb, arg, line. REPLY: enhanced, to, meaning, enhanced_meaning.
     * AUTH: mechanism, decoded, line. MESSAGE: subject, from, to, date, message_id, x_mailer.
     * ANOMALY: text. */
    const char *s[6];
    /* The same strings as decoded with secrets revealed, where they differ (else NULL). */
    const char *secret[6];
    const char **lines;      /* reply text lines */
    unsigned nlines;
} sc_event;

/* The session verdict, kept on the frame that ended the session. */
typedef struct {
    const char *status;      /* smtpcap_outcome_name() */
    smtpcap_stage stage;
    int code;
    const char *enhanced, *text, *hint, *end_reason, *tls;
    const char **warnings;
    unsigned nwarnings;
    bool starttls_unused;    /* a summary warning says STARTTLS was offered and not used */
    bool inner;              /* the verdict of the decrypted (inside TLS) session */
} sc_outcome;

/* Everything one call of the dissector produced. */
typedef struct {
    smtpcap_dir dir;
    bool inner;              /* decrypted data handed back by TLS */
    bool content;            /* no complete line: message content (after 354 / inside BDAT) */
    bool detached;           /* kept by the postdissector: not tied to the frame's payload */
    uint64_t base;           /* stream offset of the tvb's first byte */
    uint32_t new_bytes;      /* bytes fed (retransmitted bytes excluded) */
    uint64_t gap;            /* bytes missing before this segment */
    unsigned nev;
    sc_event *ev;
    sc_outcome *outcome;     /* non-NULL on the frame that ended the session */
} sc_pdu;

/* ---- shared ids (register.c) ------------------------------------------------------------ */

extern int proto_smtpcap;
extern gboolean sc_pref_show_secrets;

typedef struct {
    int stage, command, command_arg, command_line, reply_code, reply_to, reply_time,
        reply_line, reply_meaning, enhanced, enhanced_class, enhanced_subject, enhanced_detail,
        enhanced_meaning, auth_mechanism, auth_prompt, auth_username, auth_password,
        auth_response, auth_line, auth_result, tls_plaintext_end, tls_mode, gap,
        message_size, message_complete, message_subject, message_from, message_to,
        message_date, message_message_id, message_x_mailer, anomaly, outcome, outcome_stage,
        outcome_code, outcome_enhanced, outcome_text, outcome_hint, outcome_tls,
        outcome_end, warning, content, retransmitted, inner;
} sc_hf_ids;
extern sc_hf_ids sc_hf;

typedef struct {
    int pdu, event, enhanced, outcome;
} sc_ett_ids;
extern sc_ett_ids sc_ett;

typedef struct {
    expert_field reply_4xx, reply_5xx, auth_cleartext, starttls_unused, plaintext_end, gap,
        anomaly, truncated;
} sc_ei_ids;
extern sc_ei_ids sc_ei;

/* ---- state.c ---------------------------------------------------------------------------- */

/* Where the dissector was called from. */
typedef enum { SC_FROM_TCP, SC_FROM_TLS } sc_origin;

/* First pass: feeds this frame's bytes and returns what it produced; later passes: returns
 * the stored record. NULL when there is nothing (a later pass of a frame that was not
 * ours). tcpinfo may be NULL (TLS). */
sc_pdu *sc_state_pdu(tvbuff_t *tvb, packet_info *pinfo, sc_origin from,
                     const struct tcpinfo *tcpinfo);

/* Heuristic (first pass): decides with smtpcap_detect() whether this TCP conversation is
 * SMTP; on yes, the conversation becomes ours. Later passes answer from the stored record. */
bool sc_state_heur_accept(tvbuff_t *tvb, packet_info *pinfo, const struct tcpinfo *tcpinfo);

/* Postdissector: on the first pass, ends sessions whose connection closed in this frame
 * (tcp_flags, from TCP's tree: FIN from both sides by now, or RST). Returns what that produced (events flushed by the decoder
 * and the outcome) for this frame, or NULL. */
sc_pdu *sc_state_close(packet_info *pinfo, unsigned tcp_flags);

/* The decoder asked for the STARTTLS hand-off in this PDU (first pass only). */
bool sc_pdu_starts_tls(const sc_pdu *pdu);

void sc_state_init(void); /* protocol init: nothing to do, kept for symmetry */

/* ---- render.c --------------------------------------------------------------------------- */

void sc_render_pdu(tvbuff_t *tvb, packet_info *pinfo, proto_tree *tree, const sc_pdu *pdu);
void sc_render_outcome(tvbuff_t *tvb, packet_info *pinfo, proto_tree *tree,
                       const sc_outcome *o);
/* Info column text for the PDU ("C: MAIL FROM:<a@b>" / "S: 550 5.1.1 ... [meaning]"). */
void sc_render_info(packet_info *pinfo, const sc_pdu *pdu);

#endif
