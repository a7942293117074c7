/* smtpcap Wireshark plugin — per-conversation state and the first pass.
 *
 * Each TCP conversation that is ours holds one decoder stream for the plaintext ("outer")
 * and, when TLS hands decrypted SMTP back to us (STARTTLS or port 465 with a key log), a
 * second one for the decrypted bytes ("inner"). A stream runs TWO decoder sessions over the
 * same bytes: one masks secrets, the other reveals them. Both emit the same events in the
 * same order (masking only changes strings), so each record keeps the masked strings and,
 * where they differ, the revealed ones; the show_secrets preference then picks at render
 * time without re-dissecting, and masking stays the decoder's decision.
 *
 * Bytes are fed per direction in TCP sequence order; the struct tcpinfo TCP passes us gives
 * the segment's sequence numbers, so retransmitted bytes are skipped and holes become
 * decoder gaps. The decoder frames lines across segments itself, so no desegmentation is
 * asked of TCP.
 *
 * A session ends (smtpcap_session_finish, which gives the verdict) on the frame carrying the
 * reply to QUIT, on the frame with the second FIN, or on a RST. A capture that stops before
 * any of these leaves the session without a verdict in Wireshark (the CLI gives one at the
 * end of input; a dissector has no end-of-file hook that could still add tree items).
 */
#include <string.h>

#include <epan/conversation.h>
#include <epan/proto_data.h>

#include "smtpcap-epan.h"

/* p_add_proto_data keys: PDU n of a frame uses key n; these sit above any real count. */
#define KEY_CALLS 0x10000 /* per-packet counter of calls (pinfo->pool) */
#define KEY_CLOSE 0x10001 /* the outcome kept by the postdissector */
#define KEY_HEUR 0x10002  /* the heuristic accepted the conversation on this frame */


typedef struct {
    smtpcap_session *dec[2]; /* [0] masks secrets, [1] reveals them */
    GArray *got[2];          /* events of the current call, per decoder */
    uint64_t off[2];         /* stream offset per direction: bytes fed + gapped */
    uint32_t next_seq[2];
    bool have_seq[2];
    bool in_content;         /* client bytes are message content (after 354 / BDAT) */
    bool inner;
} sc_stream;

typedef struct {
    uint8_t *buf[2];
    uint32_t len[2];
    uint32_t seq[2];
    bool have[2];
} sc_detect;

typedef struct {
    address server_addr;
    uint32_t server_port;
    sc_stream outer;
    sc_stream *inner;
    bool finished;
    bool fin[2];          /* FIN seen per direction */
    sc_detect *detect;    /* heuristic, until it decides */
    bool rejected;        /* heuristic said no */
    bool prefeed;         /* heuristic accepted: feed the bytes it looked at first */
} sc_conv;

static GPtrArray *all_convs; /* to free the decoders at file close */
static int proto_tcp = -1;

/* ---- event capture ---------------------------------------------------------------------- */

static const char *dup_or_null(wmem_allocator_t *a, const char *s)
{
    return s ? wmem_strdup(a, s) : NULL;
}

/* Copies an event. Strings go to `a`: file scope for the masked decoder, the packet pool
 * for the revealing one (only strings that differ are kept, at merge). */
static void copy_event(wmem_allocator_t *a, sc_event *r, const smtpcap_event *ev)
{
    memset(r, 0, sizeof *r);
    r->type = ev->type;
    r->dir = ev->dir;
    r->stage = ev->stage;
    r->offset = ev->offset;
    r->length = ev->length;
    r->latency_us = -1;
    r->enh_class = r->enh_subject = r->enh_detail = -1;
    switch (ev->type) {
    case SMTPCAP_EV_COMMAND:
        r->s[0] = dup_or_null(a, ev->u.command.verb);
        r->s[1] = dup_or_null(a, ev->u.command.arg);
        r->s[2] = dup_or_null(a, ev->u.command.line);
        r->flag = ev->u.command.truncated;
        break;
    case SMTPCAP_EV_REPLY:
        r->code = ev->u.reply.code;
        r->enh_class = ev->u.reply.enh_class;
        r->enh_subject = ev->u.reply.enh_subject;
        r->enh_detail = ev->u.reply.enh_detail;
        r->latency_us = ev->u.reply.latency_us;
        r->s[0] = dup_or_null(a, ev->u.reply.enhanced);
        r->s[1] = dup_or_null(a, ev->u.reply.to);
        r->s[2] = dup_or_null(a, ev->u.reply.meaning);
        r->s[3] = dup_or_null(a, ev->u.reply.enhanced_meaning);
        r->nlines = (unsigned)ev->u.reply.nlines;
        r->lines = wmem_alloc0_array(a, const char *, r->nlines ? r->nlines : 1);
        for (unsigned i = 0; i < r->nlines; i++)
            r->lines[i] = dup_or_null(a, ev->u.reply.lines[i]);
        break;
    case SMTPCAP_EV_AUTH:
        r->kind = ev->u.auth.step;
        r->s[0] = dup_or_null(a, ev->u.auth.mechanism);
        r->s[1] = dup_or_null(a, ev->u.auth.decoded);
        r->s[2] = dup_or_null(a, ev->u.auth.line);
        break;
    case SMTPCAP_EV_TLS:
        r->kind = ev->u.tls.mode;
        break;
    case SMTPCAP_EV_GAP:
        r->num = ev->u.gap.bytes;
        break;
    case SMTPCAP_EV_MESSAGE:
        r->num = ev->u.message.size;
        r->flag = ev->u.message.complete;
        r->bdat = ev->u.message.bdat;
        r->s[0] = dup_or_null(a, ev->u.message.subject);
        r->s[1] = dup_or_null(a, ev->u.message.from);
        r->s[2] = dup_or_null(a, ev->u.message.to);
        r->s[3] = dup_or_null(a, ev->u.message.date);
        r->s[4] = dup_or_null(a, ev->u.message.message_id);
        r->s[5] = dup_or_null(a, ev->u.message.x_mailer);
        break;
    case SMTPCAP_EV_ANOMALY:
        r->kind = ev->u.anomaly.kind;
        r->s[0] = dup_or_null(a, ev->u.anomaly.text);
        break;
    }
}

static void on_event_masked(void *user, const smtpcap_event *ev)
{
    sc_stream *st = user;
    sc_event r;
    copy_event(wmem_file_scope(), &r, ev);
    g_array_append_val(st->got[0], r);
}

static void on_event_revealed(void *user, const smtpcap_event *ev)
{
    sc_stream *st = user;
    sc_event r;
    /* Lives until the end of the packet: merge_events runs before that. */
    copy_event(wmem_packet_scope(), &r, ev);
    g_array_append_val(st->got[1], r);
}

static void stream_init(sc_stream *st, bool midstream, bool inner)
{
    memset(st, 0, sizeof *st);
    st->inner = inner;
    smtpcap_config cfg = { .midstream = midstream };
    st->got[0] = g_array_new(FALSE, FALSE, sizeof(sc_event));
    st->got[1] = g_array_new(FALSE, FALSE, sizeof(sc_event));
    st->dec[0] = smtpcap_session_new(&cfg, on_event_masked, st);
    cfg.show_secrets = true;
    st->dec[1] = smtpcap_session_new(&cfg, on_event_revealed, st);
}

static void stream_free(sc_stream *st)
{
    for (int i = 0; i < 2; i++) {
        smtpcap_session_free(st->dec[i]);
        st->dec[i] = NULL;
        if (st->got[i]) g_array_free(st->got[i], TRUE);
        st->got[i] = NULL;
    }
}

/* Moves the events gathered during this call into the PDU record. */
static void merge_events(sc_stream *st, sc_pdu *pdu)
{
    GArray *m = st->got[0], *r = st->got[1];
    unsigned base = pdu->nev, n = m->len;
    if (n == 0) return;
    sc_event *ev = wmem_alloc_array(wmem_file_scope(), sc_event, base + n);
    if (base) memcpy(ev, pdu->ev, base * sizeof *ev);
    for (unsigned i = 0; i < n; i++) {
        sc_event *e = &ev[base + i];
        *e = g_array_index(m, sc_event, i);
        /* The two decoders emit the same event sequence; guard anyway. */
        if (i >= r->len) continue;
        const sc_event *v = &g_array_index(r, sc_event, i);
        if (v->type != e->type) continue;
        for (int k = 0; k < 6; k++)
            if (v->s[k] && (!e->s[k] || strcmp(v->s[k], e->s[k]) != 0))
                e->secret[k] = wmem_strdup(wmem_file_scope(), v->s[k]);
    }
    for (unsigned i = 0; i < n; i++) {
        const sc_event *e = &ev[base + i];
        if (e->type == SMTPCAP_EV_REPLY && e->code == 354) st->in_content = true;
        if (e->type == SMTPCAP_EV_COMMAND && e->s[0] && strcmp(e->s[0], "BDAT") == 0)
            st->in_content = true;
        if (e->type == SMTPCAP_EV_MESSAGE) st->in_content = false;
    }
    pdu->ev = ev;
    pdu->nev = base + n;
    g_array_set_size(m, 0);
    g_array_set_size(r, 0);
}

/* ---- feeding ---------------------------------------------------------------------------- */

static int64_t ts_of(const packet_info *pinfo)
{
    return (int64_t)pinfo->abs_ts.secs * 1000000 + pinfo->abs_ts.nsecs / 1000;
}

static void feed(sc_stream *st, smtpcap_dir dir, const uint8_t *p, size_t n, int64_t ts)
{
    for (int i = 0; i < 2; i++) smtpcap_session_feed(st->dec[i], dir, p, n, ts);
    st->off[dir] += n;
}

static void gap(sc_stream *st, smtpcap_dir dir, uint64_t n, int64_t ts)
{
    for (int i = 0; i < 2; i++) smtpcap_session_gap(st->dec[i], dir, n, ts);
    st->off[dir] += n;
}

/* Feeds len bytes that start at TCP sequence number seq (have_seq false: no TCP info, the
 * bytes simply follow). Returns how many leading bytes were already fed (retransmitted). */
static uint32_t feed_seq(sc_stream *st, smtpcap_dir dir, const uint8_t *p, uint32_t len,
                         bool have_seq, uint32_t seq, int64_t ts, uint64_t *gapped)
{
    uint32_t skip = 0;
    *gapped = 0;
    if (have_seq && st->have_seq[dir]) {
        int32_t d = (int32_t)(seq - st->next_seq[dir]);
        if (d < 0)
            skip = (uint32_t)-(int64_t)d < len ? (uint32_t)-(int64_t)d : len;
        else if (d > 0) {
            *gapped = (uint64_t)d;
            gap(st, dir, (uint64_t)d, ts);
        }
    }
    if (len > skip) feed(st, dir, p + skip, len - skip, ts);
    if (have_seq) {
        uint32_t end = seq + len;
        if (!st->have_seq[dir] || (int32_t)(end - st->next_seq[dir]) > 0) st->next_seq[dir] = end;
        st->have_seq[dir] = true;
    }
    return skip;
}

/* ---- conversation ----------------------------------------------------------------------- */

static smtpcap_dir dir_of(const sc_conv *c, const packet_info *pinfo)
{
    return (pinfo->srcport == c->server_port && addresses_equal(&pinfo->src, &c->server_addr))
               ? SMTPCAP_DIR_SERVER
               : SMTPCAP_DIR_CLIENT;
}

/* The server is the side that answered the SYN when TCP saw it; else the side using the
 * port the dissector was registered on (match_uint); else the side sending a reply code. */
static void pick_server(sc_conv *c, conversation_t *conv, packet_info *pinfo,
                        bool sender_looks_server)
{
    const struct tcp_analysis *tcpd =
        proto_tcp > 0 ? conversation_get_proto_data(conv, proto_tcp) : NULL;
    bool src_server;
    if (tcpd && tcpd->server_port)
        src_server = pinfo->srcport == tcpd->server_port;
    else if (pinfo->match_uint == pinfo->srcport || pinfo->match_uint == pinfo->destport)
        src_server = pinfo->match_uint == pinfo->srcport;
    else
        src_server = sender_looks_server;
    if (src_server) {
        copy_address_wmem(wmem_file_scope(), &c->server_addr, &pinfo->src);
        c->server_port = pinfo->srcport;
    } else {
        copy_address_wmem(wmem_file_scope(), &c->server_addr, &pinfo->dst);
        c->server_port = pinfo->destport;
    }
}

/* Starts decoding the conversation. */
static void conv_activate(sc_conv *c, conversation_t *conv, packet_info *pinfo)
{
    /* Seen without its SYN, the session may have begun before the capture. */
    const struct tcp_analysis *tcpd =
        proto_tcp > 0 ? conversation_get_proto_data(conv, proto_tcp) : NULL;
    bool midstream = tcpd && !tcpd->server_port && pinfo->ptype == PT_TCP;
    stream_init(&c->outer, midstream, false);
    c->rejected = false;
    if (!all_convs) all_convs = g_ptr_array_new();
    g_ptr_array_add(all_convs, c);
}

static sc_conv *conv_new(conversation_t *conv, packet_info *pinfo, bool sender_looks_server)
{
    sc_conv *c = wmem_new0(wmem_file_scope(), sc_conv);
    pick_server(c, conv, pinfo, sender_looks_server);
    conv_activate(c, conv, pinfo);
    conversation_add_proto_data(conv, proto_smtpcap, c);
    return c;
}

static void conv_free(sc_conv *c)
{
    stream_free(&c->outer);
    if (c->inner) stream_free(c->inner);
}

static void cleanup(void)
{
    if (!all_convs) return;
    for (guint i = 0; i < all_convs->len; i++) conv_free(g_ptr_array_index(all_convs, i));
    g_ptr_array_free(all_convs, TRUE);
    all_convs = NULL;
}

void sc_state_init(void)
{
    proto_tcp = proto_get_id_by_filter_name("tcp");
    register_cleanup_routine(cleanup);
}

/* ---- the verdict ------------------------------------------------------------------------ */

static void add_warnings(sc_outcome *o, const smtpcap_summary *sum, bool skip_midstream)
{
    unsigned n = o->nwarnings + (unsigned)sum->nwarnings;
    const char **w = wmem_alloc0_array(wmem_file_scope(), const char *, n ? n : 1);
    if (o->nwarnings) memcpy(w, o->warnings, o->nwarnings * sizeof *w);
    for (size_t i = 0; i < sum->nwarnings; i++) {
        const char *t = sum->warnings[i];
        /* The decrypted stream after STARTTLS is decoded "from the middle" on purpose. */
        if (skip_midstream && strstr(t, "capture began after")) continue;
        w[o->nwarnings++] = wmem_strdup(wmem_file_scope(), t);
    }
    o->warnings = w;
    if (sum->starttls_unused) o->starttls_unused = true;
}

static void set_verdict(sc_outcome *o, const smtpcap_summary *sum, bool inner)
{
    const smtpcap_outcome *v = &sum->outcome;
    o->status = smtpcap_outcome_name(v->status);
    o->stage = v->stage;
    o->code = v->code;
    o->enhanced = dup_or_null(wmem_file_scope(), v->enhanced);
    o->text = dup_or_null(wmem_file_scope(), v->text);
    o->hint = dup_or_null(wmem_file_scope(), v->hint);
    o->end_reason = smtpcap_end_reason_name(sum->end_reason);
    o->tls = smtpcap_tls_mode_name(sum->tls);
    o->inner = inner;
}

static const smtpcap_summary *stream_finish(sc_stream *st, smtpcap_end_reason why, int64_t ts,
                                            sc_pdu *pdu)
{
    const smtpcap_summary *sum = smtpcap_session_finish(st->dec[0], why, ts);
    smtpcap_session_finish(st->dec[1], why, ts);
    if (pdu) merge_events(st, pdu);
    return sum;
}

/* Ends the session; events flushed by the decoder join the pdu. */
static sc_outcome *conv_finish(sc_conv *c, smtpcap_end_reason why, int64_t ts, sc_pdu *pdu)
{
    sc_outcome *o = wmem_new0(wmem_file_scope(), sc_outcome);
    c->finished = true;
    bool outer_used = c->outer.off[0] || c->outer.off[1];
    const smtpcap_summary *so = outer_used ? stream_finish(&c->outer, why, ts, pdu) : NULL;
    const smtpcap_summary *si = c->inner ? stream_finish(c->inner, why, ts, pdu) : NULL;
    /* Decrypted, the inner session tells what really happened; the outer one only knows
     * that TLS began. */
    if (si)
        set_verdict(o, si, true);
    else if (so)
        set_verdict(o, so, false);
    else
        o->status = smtpcap_outcome_name(SMTPCAP_OUTCOME_NO_MAIL);
    /* The decrypted session knows nothing of the TLS around it. */
    if (si) o->tls = smtpcap_tls_mode_name(so ? SMTPCAP_TLS_STARTTLS : SMTPCAP_TLS_IMPLICIT);
    if (so) add_warnings(o, so, false);
    if (si) add_warnings(o, si, outer_used);
    conv_free(c);
    return o;
}

static bool answers_quit(const sc_pdu *pdu)
{
    for (unsigned i = 0; i < pdu->nev; i++)
        if (pdu->ev[i].type == SMTPCAP_EV_REPLY && pdu->ev[i].s[1] &&
            strcmp(pdu->ev[i].s[1], "QUIT") == 0)
            return true;
    return false;
}

bool sc_pdu_starts_tls(const sc_pdu *pdu)
{
    for (unsigned i = 0; i < pdu->nev; i++)
        if (pdu->ev[i].type == SMTPCAP_EV_TLS && pdu->ev[i].kind == SMTPCAP_TLS_STARTTLS &&
            !pdu->inner)
            return true;
    return false;
}

/* ---- per-frame entry -------------------------------------------------------------------- */

static unsigned next_call_key(packet_info *pinfo)
{
    unsigned n = GPOINTER_TO_UINT(p_get_proto_data(pinfo->pool, pinfo, proto_smtpcap, KEY_CALLS));
    p_add_proto_data(pinfo->pool, pinfo, proto_smtpcap, KEY_CALLS, GUINT_TO_POINTER(n + 1));
    return n;
}

/* The heuristic looked at bytes of earlier frames before it said yes: feed them now (their
 * events are shown on the accepting frame). The current frame's own bytes are left out. */
static void prefeed(sc_conv *c, smtpcap_dir cur, uint32_t cur_len, int64_t ts)
{
    sc_detect *d = c->detect;
    c->prefeed = false;
    c->detect = NULL;
    if (!d) return;
    for (int k = 0; k < 2; k++) {
        smtpcap_dir dir = k == 0 ? (smtpcap_dir)(1 - cur) : cur; /* the other side first */
        uint32_t n = d->len[dir];
        if (dir == cur) n = n >= cur_len ? n - cur_len : 0;
        if (!d->have[dir] || n == 0) continue;
        uint64_t g;
        feed_seq(&c->outer, dir, d->buf[dir], n, true, d->seq[dir], ts, &g);
    }
}

sc_pdu *sc_state_pdu(tvbuff_t *tvb, packet_info *pinfo, sc_origin from,
                     const struct tcpinfo *tcpinfo)
{
    unsigned key = next_call_key(pinfo);
    if (PINFO_FD_VISITED(pinfo))
        return p_get_proto_data(wmem_file_scope(), pinfo, proto_smtpcap, key);

    conversation_t *conv = find_or_create_conversation(pinfo);
    sc_conv *c = conversation_get_proto_data(conv, proto_smtpcap);
    uint32_t len = tvb_captured_length(tvb);
    if (!c) {
        bool looks_server = len > 0 && g_ascii_isdigit(tvb_get_guint8(tvb, 0));
        c = conv_new(conv, pinfo, looks_server);
    } else if (!c->outer.dec[0] && !c->finished) {
        /* The heuristic was still looking (or had said no) when a port or Decode As
         * routed the conversation to us. */
        conv_activate(c, conv, pinfo);
        c->prefeed = c->detect != NULL;
    }
    sc_pdu *pdu = wmem_new0(wmem_file_scope(), sc_pdu);
    pdu->dir = dir_of(c, pinfo);
    pdu->inner = from == SC_FROM_TLS;
    p_add_proto_data(wmem_file_scope(), pinfo, proto_smtpcap, key, pdu);
    if (c->finished) return pdu; /* bytes after the end: shown as such */

    int64_t ts = ts_of(pinfo);
    sc_stream *st = &c->outer;
    if (from == SC_FROM_TLS) {
        if (!c->inner) {
            c->inner = wmem_new0(wmem_file_scope(), sc_stream);
            /* After STARTTLS the client speaks first (EHLO) with no greeting; on 465 the
             * decrypted stream is a whole session. */
            bool after_starttls = c->outer.off[0] || c->outer.off[1];
            stream_init(c->inner, after_starttls, true);
        }
        st = c->inner;
    }
    if (c->prefeed && from == SC_FROM_TCP) prefeed(c, pdu->dir, len, ts);

    const uint8_t *p = len ? tvb_get_ptr(tvb, 0, len) : NULL;
    bool have_seq = from == SC_FROM_TCP && tcpinfo && !tcpinfo->is_reassembled;
    uint64_t gapped = 0;
    uint64_t before = st->off[pdu->dir];
    uint32_t skip = feed_seq(st, pdu->dir, p, len, have_seq, have_seq ? tcpinfo->seq : 0, ts,
                             &gapped);
    /* Bytes beyond the snapshot length are missing, not absent. */
    uint32_t reported = tvb_reported_length(tvb);
    if (reported > len && len >= skip) gap(st, pdu->dir, reported - len, ts);
    pdu->gap = gapped;
    pdu->base = before + gapped - skip;
    pdu->new_bytes = len - skip;
    bool was_content = st->in_content && pdu->dir == SMTPCAP_DIR_CLIENT;
    merge_events(st, pdu);
    /* Content, unless the segment begins with a client line (the next BDAT command). */
    bool starts_line = false;
    for (unsigned i = 0; i < pdu->nev; i++)
        if (pdu->ev[i].dir == SMTPCAP_DIR_CLIENT && pdu->ev[i].offset <= pdu->base &&
            (pdu->ev[i].type == SMTPCAP_EV_COMMAND || pdu->ev[i].type == SMTPCAP_EV_AUTH))
            starts_line = true;
    pdu->content = was_content && pdu->new_bytes > 0 && !starts_line;

    if (answers_quit(pdu)) pdu->outcome = conv_finish(c, SMTPCAP_END_CLOSED, ts, pdu);
    return pdu;
}

/* ---- heuristic -------------------------------------------------------------------------- */

static void detect_append(sc_detect *d, smtpcap_dir dir, tvbuff_t *tvb, uint32_t seq)
{
    uint32_t len = tvb_captured_length(tvb);
    if (!d->have[dir]) {
        d->have[dir] = true;
        d->seq[dir] = seq;
    }
    if (seq != d->seq[dir] + d->len[dir]) return; /* keep it contiguous */
    uint32_t room = SMTPCAP_DETECT_MAX - d->len[dir];
    uint32_t n = len < room ? len : room;
    tvb_memcpy(tvb, d->buf[dir] + d->len[dir], 0, n);
    d->len[dir] += n;
}

bool sc_state_heur_accept(tvbuff_t *tvb, packet_info *pinfo, const struct tcpinfo *tcpinfo)
{
    if (PINFO_FD_VISITED(pinfo))
        return p_get_proto_data(wmem_file_scope(), pinfo, proto_smtpcap, KEY_HEUR) != NULL;
    if (!tcpinfo || tvb_captured_length(tvb) == 0) return false;
    conversation_t *conv = find_or_create_conversation(pinfo);
    sc_conv *c = conversation_get_proto_data(conv, proto_smtpcap);
    if (c && (c->rejected || !c->detect)) return false;
    if (!c) {
        bool looks_server = g_ascii_isdigit(tvb_get_guint8(tvb, 0));
        c = wmem_new0(wmem_file_scope(), sc_conv);
        pick_server(c, conv, pinfo, looks_server);
        c->detect = wmem_new0(wmem_file_scope(), sc_detect);
        for (int i = 0; i < 2; i++)
            c->detect->buf[i] = wmem_alloc(wmem_file_scope(), SMTPCAP_DETECT_MAX);
        conversation_add_proto_data(conv, proto_smtpcap, c);
    }
    sc_detect *d = c->detect;
    smtpcap_dir dir = dir_of(c, pinfo);
    detect_append(d, dir, tvb, tcpinfo->seq);
    bool final = (tcpinfo->flags & (TH_FIN | TH_RST)) != 0;
    smtpcap_detect_result r = smtpcap_detect(d->buf[0], d->len[0], d->buf[1], d->len[1], final);
    if (r == SMTPCAP_DETECT_MORE) return false;
    if (r == SMTPCAP_DETECT_NO) {
        c->rejected = true;
        c->detect = NULL;
        return false;
    }
    /* Yes: the conversation is ours from this frame on. */
    conv_activate(c, conv, pinfo);
    c->prefeed = true;
    p_add_proto_data(wmem_file_scope(), pinfo, proto_smtpcap, KEY_HEUR, GUINT_TO_POINTER(1));
    return true;
}

/* ---- connection end (postdissector) ------------------------------------------------------ */

sc_pdu *sc_state_close(packet_info *pinfo, unsigned tcp_flags)
{
    if (PINFO_FD_VISITED(pinfo))
        return p_get_proto_data(wmem_file_scope(), pinfo, proto_smtpcap, KEY_CLOSE);
    if (pinfo->ptype != PT_TCP || !(tcp_flags & (TH_FIN | TH_RST))) return NULL;
    conversation_t *conv = find_conversation_pinfo(pinfo, 0);
    sc_conv *c = conv ? conversation_get_proto_data(conv, proto_smtpcap) : NULL;
    if (!c || c->finished || c->detect || c->rejected) return NULL;
    smtpcap_dir dir = dir_of(c, pinfo);
    /* A client FIN alone does not end the session: exim half-closes before the server's
     * last replies. */
    if (tcp_flags & TH_FIN) c->fin[dir] = true;
    bool rst = (tcp_flags & TH_RST) != 0;
    if (!rst && !(c->fin[0] && c->fin[1])) return NULL;
    sc_pdu *pdu = wmem_new0(wmem_file_scope(), sc_pdu);
    pdu->dir = dir;
    pdu->detached = true;
    pdu->outcome = conv_finish(c, rst ? SMTPCAP_END_RESET : SMTPCAP_END_CLOSED, ts_of(pinfo), pdu);
    p_add_proto_data(wmem_file_scope(), pinfo, proto_smtpcap, KEY_CLOSE, pdu);
    return pdu;
}
