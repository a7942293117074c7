/* Commands, replies, and the pairing between them (RFC 5321 section 4, RFC 2920).
 *
 * State advances on (command, reply) pairs: a command is queued when the client sends it and
 * takes effect when its reply arrives, so PIPELINING (MAIL, RCPT, RCPT, DATA in one packet)
 * needs nothing special. The banner pairs with a synthetic "(greeting)" command and the
 * reply after "." with a synthetic "(end of data)" one.
 *
 * Client bytes after DATA, AUTH or STARTTLS cannot be read until the reply says how (354:
 * message text; 334: AUTH response; 220: TLS). In a causal capture the reply comes first;
 * when it does not (clock skew between capture points, a client that does not wait), the
 * bytes are held, bounded, until it does. */
#include <stdarg.h>
#include <string.h>

#include "codes.h"
#include "internal.h"

typedef struct {
    const char *name;
    verb_id id;
    smtpcap_stage stage;
} verb_def;

static const verb_def verb_table[] = {
    { "HELO", V_HELO, SMTPCAP_STAGE_EHLO },     { "EHLO", V_EHLO, SMTPCAP_STAGE_EHLO },
    { "LHLO", V_EHLO, SMTPCAP_STAGE_EHLO },     { "STARTTLS", V_STARTTLS, SMTPCAP_STAGE_STARTTLS },
    { "AUTH", V_AUTH, SMTPCAP_STAGE_AUTH },     { "MAIL", V_MAIL, SMTPCAP_STAGE_MAIL },
    { "RCPT", V_RCPT, SMTPCAP_STAGE_RCPT },     { "DATA", V_DATA, SMTPCAP_STAGE_DATA },
    { "BDAT", V_BDAT, SMTPCAP_STAGE_BDAT },     { "RSET", V_RSET, SMTPCAP_STAGE_RSET },
    { "QUIT", V_QUIT, SMTPCAP_STAGE_QUIT },     { "NOOP", V_NOOP, SMTPCAP_STAGE_OTHER },
    { "VRFY", V_VRFY, SMTPCAP_STAGE_OTHER },    { "EXPN", V_EXPN, SMTPCAP_STAGE_OTHER },
    { "HELP", V_HELP, SMTPCAP_STAGE_OTHER },
};

static smtpcap_stage verb_stage(verb_id v)
{
    switch (v) {
    case V_GREETING: return SMTPCAP_STAGE_CONNECT;
    case V_DATA_END: return SMTPCAP_STAGE_DATA;
    default: break;
    }
    for (size_t i = 0; i < G_N_ELEMENTS(verb_table); i++)
        if (verb_table[i].id == v) return verb_table[i].stage;
    return SMTPCAP_STAGE_OTHER;
}

/* ---- anomalies and warnings ------------------------------------------------------------ */

void anomaly(smtpcap_session *s, smtpcap_dir dir, smtpcap_anomaly kind, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *text = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    smtpcap_event ev = { .type = SMTPCAP_EV_ANOMALY, .dir = dir, .ts_us = s->last_ts,
                         .stage = s->stage, .offset = s->off[dir] };
    ev.u.anomaly.kind = kind;
    ev.u.anomaly.text = text;
    emit(s, &ev);
    g_free(text);
}

#define MAX_WARNINGS 16

void warn(smtpcap_session *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *text = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    for (guint i = 0; i < s->warnings->len; i++)
        if (strcmp(g_ptr_array_index(s->warnings, i), text) == 0) { g_free(text); return; }
    if (s->warnings->len >= MAX_WARNINGS) { g_free(text); return; }
    g_ptr_array_add(s->warnings, text);
}

/* ---- pending-command queue ------------------------------------------------------------ */

void session_init_pending(smtpcap_session *s)
{
    if (!s->cfg.midstream) {
        pending_cmd g = { .verb = V_GREETING, .msg = -1, .rcpt = -1 };
        g_strlcpy(g.name, "(greeting)", sizeof g.name);
        s->pq_cap = 2; /* grows on demand: most sessions never pipeline */
        s->pq = g_new0(pending_cmd, s->pq_cap);
        s->pq[0] = g;
        s->pq_len = 1;
    }
}

void session_free_pending(smtpcap_session *s)
{
    g_free(s->pq);
    s->pq = NULL;
}

static void pq_push(smtpcap_session *s, const pending_cmd *c)
{
    if (s->pq_len == s->cfg.max_pipeline) {
        anomaly(s, SMTPCAP_DIR_CLIENT, SMTPCAP_ANOMALY_PIPELINE_OVERFLOW,
                "more than %zu commands waiting for replies: the oldest is dropped",
                s->cfg.max_pipeline);
        s->pq_head = (s->pq_head + 1) % s->pq_cap;
        s->pq_len--;
        s->lost_replies++;
    }
    if (s->pq_len == s->pq_cap) {
        size_t ncap = s->pq_cap ? s->pq_cap * 2 : 2;
        if (ncap > s->cfg.max_pipeline) ncap = s->cfg.max_pipeline;
        pending_cmd *n = g_new0(pending_cmd, ncap);
        for (size_t i = 0; i < s->pq_len; i++) n[i] = s->pq[(s->pq_head + i) % s->pq_cap];
        g_free(s->pq);
        s->pq = n;
        s->pq_cap = ncap;
        s->pq_head = 0;
    }
    s->pq[(s->pq_head + s->pq_len) % s->pq_cap] = *c;
    s->pq_len++;
}

static pending_cmd *pq_front(smtpcap_session *s)
{
    return s->pq_len ? &s->pq[s->pq_head] : NULL;
}

static void pq_pop(smtpcap_session *s)
{
    if (!s->pq_len) return;
    s->pq_head = (s->pq_head + 1) % s->pq_cap;
    s->pq_len--;
}

bool session_pending_has_nonquit(const smtpcap_session *s)
{
    for (size_t i = 0; i < s->pq_len; i++) {
        verb_id v = s->pq[(s->pq_head + i) % s->pq_cap].verb;
        if (v != V_QUIT) return true;
    }
    return false;
}

static void push_cmd(smtpcap_session *s, verb_id v, const char *name, int64_t ts, int msg,
                     int rcpt)
{
    pending_cmd c = { .verb = v, .ts_us = ts, .msg = msg, .rcpt = rcpt };
    utf8_strlcpy(c.name, name, sizeof c.name);
    pq_push(s, &c);
}

void session_push_data_end(smtpcap_session *s, int64_t ts)
{
    push_cmd(s, V_DATA_END, "(end of data)", ts, s->content.msg >= 0 ? s->content.msg : s->open_msg,
             -1);
}

/* ---- commands -------------------------------------------------------------------------- */

static const verb_def *lookup_verb(const char *verb)
{
    for (size_t i = 0; i < G_N_ELEMENTS(verb_table); i++)
        if (strcmp(verb_table[i].name, verb) == 0) return &verb_table[i];
    return NULL;
}

bool session_known_verb(const char *line, size_t len)
{
    size_t vl = 0;
    while (vl < len && line[vl] != ' ' && line[vl] != '\r') vl++;
    if (vl == 0 || vl > 8) return false;
    char v[9];
    for (size_t i = 0; i < vl; i++) v[i] = g_ascii_toupper(line[i]);
    v[vl] = 0;
    return lookup_verb(v) != NULL;
}

/* "FROM:<a@b> SIZE=10" -> "a@b"; the keyword is matched without case. */
static char *path_arg(const char *arg, const char *kw)
{
    size_t kl = strlen(kw);
    if (g_ascii_strncasecmp(arg, kw, kl) != 0) return NULL;
    const char *p = arg + kl;
    char *a = strip_brackets_dup(p, strlen(p));
    if (strlen(a) > KEEP_ADDR) {
        char *c = dup_capped(a, KEEP_ADDR);
        g_free(a);
        a = c;
    }
    return a;
}

static void close_open_transaction(smtpcap_session *s)
{
    if (s->content.active) content_end(s, false, s->off[0], 0, s->last_ts);
    if (s->open_msg >= 0) msg_close(s, s->open_msg);
    s->open_msg = -1;
}

static void begin_bdat(smtpcap_session *s, const char *arg, int64_t ts)
{
    char *end = NULL;
    guint64 size = g_ascii_strtoull(arg, &end, 10);
    if (end == arg) {
        anomaly(s, SMTPCAP_DIR_CLIENT, SMTPCAP_ANOMALY_BAD_REPLY, "BDAT without a chunk size");
        push_cmd(s, V_BDAT, "BDAT", ts, s->open_msg, -1);
        return;
    }
    while (*end == ' ') end++;
    bool last = g_ascii_strncasecmp(end, "LAST", 4) == 0;
    pending_cmd c = { .verb = V_BDAT, .ts_us = ts, .msg = s->open_msg, .rcpt = -1,
                      .bdat_last = last };
    g_strlcpy(c.name, "BDAT", sizeof c.name);
    pq_push(s, &c);
    if (!s->content.active) content_begin(s, s->open_msg, true);
    s->chunk_left = size;
    s->chunk_last = last;
    if (size > 0)
        s->cmode = CM_CHUNK;
    else
        session_chunk_done(s, ts);
}

void session_chunk_done(smtpcap_session *s, int64_t ts)
{
    s->cmode = CM_COMMAND;
    if (s->chunk_last) content_end(s, true, s->off[0], 0, ts);
    s->chunk_last = false;
}

/* Seen from the middle, RCPT/DATA/BDAT may belong to a transaction whose MAIL came before the
 * capture: it is listed with an unknown sender rather than dropped. */
static void midstream_transaction(smtpcap_session *s)
{
    if (s->cfg.midstream && !s->mail_seen && s->open_msg < 0) {
        s->mail_seen = true;
        s->open_msg = msg_new(s, NULL);
    }
}

/* A "." line ends a message whose DATA came before the capture: it is listed (sender
 * unknown) with the bytes seen, and the reply that follows pairs with "(end of data)". */
static void midstream_preamble(smtpcap_session *s, const char *line, size_t len, uint64_t start,
                               uint64_t length, int64_t ts)
{
    if (s->mid_skipped == 0)
        anomaly(s, SMTPCAP_DIR_CLIENT, SMTPCAP_ANOMALY_REPLY_UNEXPECTED,
                "the capture begins inside the client's data (message text or AUTH exchange): "
                "lines before the first command are skipped");
    if (len == 1 && line[0] == '.') {
        midstream_transaction(s);
        s->verb_seen = true;
        s->stage = SMTPCAP_STAGE_DATA;
        content_begin(s, s->open_msg, false);
        s->content.in_headers = false;
        s->content.start = start - MIN(start, s->mid_skipped);
        content_add(s, (int64_t)s->mid_skipped);
        content_gap(s, 0);
        content_end(s, true, start, length, ts);
        session_push_data_end(s, ts);
        return;
    }
    s->mid_skipped += length;
}

void session_on_command_line(smtpcap_session *s, const char *line, size_t len, bool truncated,
                             uint64_t start, uint64_t length, int64_t ts)
{
    char *text = sanitize_dup(line, len);
    size_t vlen = strcspn(text, " ");
    /* Upper-case the raw bytes, then escape: "\xde" must stay lower-case hex. */
    const char *rsp = memchr(line, ' ', len);
    size_t rvlen = rsp ? (size_t)(rsp - line) : len;
    char *rawverb = g_malloc(rvlen + 1); /* not g_ascii_strup: the verb may hold NUL bytes */
    for (size_t i = 0; i < rvlen; i++) rawverb[i] = g_ascii_toupper(line[i]);
    rawverb[rvlen] = 0;
    char *verb = sanitize_dup(rawverb, rvlen);
    g_free(rawverb);
    const char *arg = text + vlen;
    while (*arg == ' ') arg++;
    const verb_def *vd = lookup_verb(verb);
    if (s->cfg.midstream && !s->verb_seen && !vd) {
        /* Seen from the middle, lines before the first command are the rest of a message
         * text or of an AUTH exchange: counted, never shown (they may carry secrets). */
        midstream_preamble(s, line, len, start, length, ts);
        g_free(verb);
        g_free(text);
        return;
    }
    if (vd) s->verb_seen = true;
    verb_id v = vd ? vd->id : V_OTHER;
    smtpcap_stage stage = vd ? vd->stage : SMTPCAP_STAGE_OTHER;
    s->stage = stage;

    GString *shown = g_string_new(NULL);
    if (v == V_AUTH)
        auth_begin(s, arg, shown);
    else
        g_string_append(shown, text);

    if (truncated && !s->cutting) /* a cut line is followed by its gap event */
        anomaly(s, SMTPCAP_DIR_CLIENT, SMTPCAP_ANOMALY_LINE_TOO_LONG,
                "command line longer than %zu bytes: truncated", s->cfg.max_line);
    smtpcap_event ev = { .type = SMTPCAP_EV_COMMAND, .dir = SMTPCAP_DIR_CLIENT, .ts_us = ts,
                         .stage = stage, .offset = start, .length = length };
    ev.u.command.verb = verb;
    ev.u.command.arg = v == V_AUTH ? shown->str + MIN(shown->len, 5) : arg;
    ev.u.command.line = shown->str;
    ev.u.command.truncated = truncated;
    emit(s, &ev);

    switch (v) {
    case V_HELO:
    case V_EHLO: {
        /* EHLO resets the transaction (RFC 5321 section 4.1.4). */
        close_open_transaction(s);
        g_free(s->helo);
        size_t al = strcspn(arg, " ");
        s->helo = al ? g_strndup(arg, MIN(al, (size_t)255)) : NULL;
        push_cmd(s, v, verb, ts, -1, -1);
        break;
    }
    case V_STARTTLS:
        s->starttls_sent = true;
        push_cmd(s, v, verb, ts, -1, -1);
        s->blocked = true;
        break;
    case V_AUTH:
        push_cmd(s, v, verb, ts, -1, -1);
        auth_emit_initial(s, arg, start, length, ts);
        s->blocked = true;
        break;
    case V_MAIL: {
        s->mail_seen = true;
        close_open_transaction(s);
        char *from = path_arg(arg, "FROM:");
        s->open_msg = msg_new(s, from ? from : "");
        g_free(from);
        push_cmd(s, v, verb, ts, s->open_msg, -1);
        break;
    }
    case V_RCPT: {
        int r = -1;
        midstream_transaction(s);
        msg_rec *m = msg_get(s, s->open_msg);
        if (m) {
            if (m->rcpts->len < s->cfg.max_rcpts && s->rcpts_total < MAX_RCPTS_PER_SESSION) {
                s->rcpts_total++;
                rcpt_rec rr = { .address = path_arg(arg, "TO:") };
                if (!rr.address) rr.address = dup_capped(arg, KEEP_ADDR);
                g_array_append_val(m->rcpts, rr);
                r = (int)m->rcpts->len - 1;
            } else {
                m->rcpts_dropped++;
            }
        }
        push_cmd(s, v, verb, ts, s->open_msg, r);
        break;
    }
    case V_DATA:
        midstream_transaction(s);
        push_cmd(s, v, verb, ts, s->open_msg, -1);
        s->blocked = true;
        break;
    case V_BDAT:
        midstream_transaction(s);
        begin_bdat(s, arg, ts);
        break;
    case V_RSET:
        close_open_transaction(s);
        push_cmd(s, v, verb, ts, -1, -1);
        break;
    case V_QUIT:
        s->quit_sent = true;
        close_open_transaction(s);
        push_cmd(s, v, verb, ts, -1, -1);
        break;
    default:
        push_cmd(s, v, verb, ts, -1, -1);
        break;
    }
    g_string_free(shown, TRUE);
    g_free(verb);
    g_free(text);
}

void session_unblock_unanswered(smtpcap_session *s)
{
    s->blocked = false;
    /* Held behind an AUTH that got no answer: the lines are AUTH responses — read them as
     * such (masked), not as commands that would print a password. */
    if (s->auth.active && s->cmode == CM_COMMAND) s->cmode = CM_AUTH;
    session_replay_deferred(s);
}

void session_replay_deferred(smtpcap_session *s)
{
    if (!s->defer || s->defer->len == 0) return;
    GByteArray *held = s->defer;
    s->defer = NULL;
    if (s->cmode == CM_TLS && held->data[0] != 0x16) {
        anomaly(s, SMTPCAP_DIR_CLIENT, SMTPCAP_ANOMALY_PLAINTEXT_AFTER_STARTTLS,
                "client sent %u bytes of plaintext after STARTTLS, before the TLS handshake",
                held->len);
        warn(s, "plaintext sent after STARTTLS before the TLS handshake (command injection?)");
    }
    client_process_bytes(s, held->data, held->len, s->defer_ts);
    g_byte_array_free(held, TRUE);
}

/* ---- replies --------------------------------------------------------------------------- */

static bool is_reply_line(const char *l, size_t n)
{
    return n >= 3 && g_ascii_isdigit(l[0]) && g_ascii_isdigit(l[1]) && g_ascii_isdigit(l[2]) &&
           l[0] >= '1' && l[0] <= '5' && (n == 3 || l[3] == ' ' || l[3] == '-');
}

#define MAX_REPLY_LINES 64
#define MAX_REPLY_BYTES (32 * 1024)

void session_on_server_line(smtpcap_session *s, const char *line, size_t len, bool truncated,
                            uint64_t start, uint64_t length, int64_t ts)
{
    reply_asm *r = &s->reply;
    bool ok = is_reply_line(line, len);
    if (!ok && !r->open) {
        char *t = sanitize_dup(line, MIN(len, 200));
        anomaly(s, SMTPCAP_DIR_SERVER, SMTPCAP_ANOMALY_BAD_REPLY, "not an SMTP reply: \"%s\"", t);
        g_free(t);
        return;
    }
    int code = ok ? (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0') : r->code;
    bool more = ok && len > 3 && line[3] == '-';
    if (!r->open) {
        r->open = true;
        r->code = code;
        r->start = start;
        r->bytes = 0;
        r->dropped = false;
        if (!r->lines) r->lines = g_ptr_array_new_with_free_func(g_free);
    } else if (ok && code != r->code) {
        anomaly(s, SMTPCAP_DIR_SERVER, SMTPCAP_ANOMALY_BAD_REPLY,
                "reply line with code %d inside a %d reply", code, r->code);
    }
    r->ts_us = ts;
    const char *text = ok ? line + MIN(len, 4) : line;
    size_t tlen = ok ? (len > 4 ? len - 4 : 0) : len;
    if (r->lines->len < MAX_REPLY_LINES && r->bytes + tlen <= MAX_REPLY_BYTES) {
        g_ptr_array_add(r->lines, sanitize_dup(text, tlen));
        r->bytes += tlen;
    } else {
        r->dropped = true;
    }
    if (truncated && s->cutting) {
        r->cut = true; /* its gap event follows */
    } else if (truncated) {
        r->dropped = true;
        anomaly(s, SMTPCAP_DIR_SERVER, SMTPCAP_ANOMALY_LINE_TOO_LONG,
                "reply line longer than %zu bytes: truncated", s->cfg.max_line);
    }
    r->end = start + length;
    if (!more) session_flush_reply(s);
}

/* After a server-side gap a reply may have been lost: a reply whose code only one kind of
 * command can get (354 DATA, 334/235/535 AUTH, 221 QUIT) re-aligns the queue. */
static void realign_after_gap(smtpcap_session *s, int code)
{
    verb_id want;
    switch (code) {
    case 354: want = V_DATA; break;
    case 334: case 235: case 535: want = V_AUTH; break;
    case 221: want = V_QUIT; break;
    default: return;
    }
    for (size_t i = 0; i < s->pq_len; i++) {
        if (s->pq[(s->pq_head + i) % s->pq_cap].verb == want) {
            for (size_t k = 0; k < i; k++) pq_pop(s);
            s->lost_replies += i;
            return;
        }
    }
}

void session_server_gap(smtpcap_session *s)
{
    reply_asm *r = &s->reply;
    if (r->open) {
        /* A multi-line reply whose end is missing: its code and first lines still answer
         * the command. */
        r->cut = true;
        session_flush_reply(s);
    }
    s->server_gap = true;
}

/* Queue ids as the common MTAs print them in the reply to the end of data. */
static char *find_queue_id(const char *text)
{
    static const char *const keys[] = { "queued as ", "id=", "InternalId=", " qp " };
    for (size_t i = 0; i < G_N_ELEMENTS(keys); i++) {
        const char *p = g_strstr_len(text, -1, keys[i]);
        if (!p) continue;
        p += strlen(keys[i]);
        size_t n = 0;
        while (p[n] && (g_ascii_isalnum(p[n]) || p[n] == '-' || p[n] == '.' || p[n] == '_'))
            n++;
        while (n > 0 && p[n - 1] == '.') n--;
        if (n > 0 && n < 128) return g_strndup(p, n);
    }
    /* sendmail / OpenSMTPD: "2.0.0 <id> Message accepted for delivery" */
    const char *acc = strstr(text, " Message accepted");
    if (acc) {
        const char *b = acc;
        while (b > text && b[-1] != ' ') b--;
        if (acc > b && acc - b < 128) return g_strndup(b, (size_t)(acc - b));
    }
    /* Gmail: "OK  1700000000 abc123.456 - gsmtp" */
    const char *g = strstr(text, " - gsmtp");
    if (g) {
        const char *b = g;
        while (b > text && b[-1] != ' ') b--;
        if (g > b && g - b < 128) return g_strndup(b, (size_t)(g - b));
    }
    return NULL;
}

/* Reply lines joined by spaces, into a buffer the session reuses (one reply at a time). */
static const char *join_lines(smtpcap_session *s, GPtrArray *lines)
{
    if (!s->scratch_join) s->scratch_join = g_string_sized_new(128);
    GString *g = s->scratch_join;
    g_string_truncate(g, 0);
    for (guint i = 0; i < lines->len; i++) {
        if (i) g_string_append_c(g, ' ');
        g_string_append(g, g_ptr_array_index(lines, i));
    }
    return g->str;
}

static void note_capabilities(smtpcap_session *s, GPtrArray *lines, GString *meaning)
{
    GString *caps = g_string_new(NULL);
    for (guint i = 1; i < lines->len; i++) {
        const char *l = g_ptr_array_index(lines, i);
        if (ascii_prefix_ci(l, strlen(l), "STARTTLS")) s->cap_starttls = true;
        if (ascii_prefix_ci(l, strlen(l), "PIPELINING")) s->cap_pipelining = true;
        if (ascii_prefix_ci(l, strlen(l), "CHUNKING")) s->cap_chunking = true;
        if (ascii_prefix_ci(l, strlen(l), "AUTH")) s->cap_auth = true;
        if (caps->len) g_string_append(caps, ", ");
        g_string_append(caps, l);
    }
    if (caps->len) g_string_append_printf(meaning, "; server offers: %s", caps->str);
    g_string_free(caps, TRUE);
}

static bool is_failure(int code) { return code >= 400; }

/* Progress clears earlier failures the client recovered from (DESIGN.md: a refused EHLO
 * followed by an accepted HELO, a failed AUTH followed by a good one, ...). */
static void note_progress(smtpcap_session *s, verb_id v)
{
    if (!s->cand.set) return;
    smtpcap_stage st = s->cand.stage;
    bool clear = false;
    switch (v) {
    case V_HELO: case V_EHLO: clear = st == SMTPCAP_STAGE_EHLO || st == SMTPCAP_STAGE_STARTTLS; break;
    case V_AUTH: clear = st == SMTPCAP_STAGE_AUTH || st == SMTPCAP_STAGE_STARTTLS; break;
    case V_MAIL: case V_RCPT: case V_DATA: case V_DATA_END: case V_BDAT: clear = true; break;
    default: break;
    }
    if (clear) fail_clear(&s->cand);
}

static void apply_reply(smtpcap_session *s, const pending_cmd *c, int code, const char *enh,
                        int cls, int subj, int det, const char *text, uint64_t start,
                        uint64_t length, int64_t ts)
{
    verb_id v = c ? c->verb : V_OTHER;
    msg_rec *m = c ? msg_get(s, c->msg) : NULL;
    bool fail = is_failure(code);
    if (code >= 200 && code < 400) note_progress(s, v);
    switch (v) {
    case V_GREETING:
        s->greeting_seen = true;
        if (fail) fail_set(&s->greeting_fail, SMTPCAP_STAGE_CONNECT, code, enh, cls, subj, det, text);
        break;
    case V_HELO:
    case V_EHLO:
        if (fail && !s->cand.set) fail_set(&s->cand, SMTPCAP_STAGE_EHLO, code, enh, cls, subj, det, text);
        break;
    case V_STARTTLS:
        s->blocked = false;
        if (code == 220) {
            /* e.g. "530 Must issue a STARTTLS command first", then STARTTLS: recovered */
            fail_clear(&s->cand);
            enter_tls(s, SMTPCAP_TLS_STARTTLS, SMTPCAP_DIR_SERVER, ts);
        } else {
            s->starttls_refused = true;
            if (fail && !s->cand.set)
                fail_set(&s->cand, SMTPCAP_STAGE_STARTTLS, code, enh, cls, subj, det, text);
        }
        break;
    case V_AUTH:
        if (code == 334) {
            auth_on_prompt(s, text, start, length, ts);
            s->blocked = false;
            if (s->cmode == CM_COMMAND) s->cmode = CM_AUTH;
        } else {
            auth_on_result(s, code, enh, start, length, ts);
            s->blocked = false;
            if (s->cmode == CM_AUTH) s->cmode = CM_COMMAND;
            if (fail && !s->cand.set) fail_set(&s->cand, SMTPCAP_STAGE_AUTH, code, enh, cls, subj, det, text);
        }
        break;
    case V_MAIL:
        if (m) {
            m->mail_code = code;
            copy_enh(m->mail_enhanced, enh);
            if (fail && !m->fail_text) m->fail_text = dup_capped(text, KEEP_TEXT);
        }
        break;
    case V_RCPT:
        if (m && c->rcpt >= 0 && (guint)c->rcpt < m->rcpts->len) {
            rcpt_rec *r = &g_array_index(m->rcpts, rcpt_rec, c->rcpt);
            r->code = code;
            copy_enh(r->enhanced, enh);
            if (fail && m->first_rcpt_fail < 0) {
                m->first_rcpt_fail = c->rcpt;
                m->rcpt_fail_text = dup_capped(text, KEEP_TEXT);
            }
        }
        break;
    case V_DATA:
        s->blocked = false;
        if (code == 354) {
            if (s->cmode == CM_COMMAND) {
                s->cmode = CM_BODY;
                s->body_gap = false;
                s->body_bol = true;
                s->body_dot = 0;
                content_begin(s, c->msg, false);
            }
        } else if (m) {
            m->data_code = code;
            copy_enh(m->data_enhanced, enh);
            g_free(m->data_text);
            m->data_text = dup_capped(text, KEEP_TEXT);
            m->data_stage = SMTPCAP_STAGE_DATA;
            m->data_eod = false;
        }
        break;
    case V_DATA_END:
    case V_BDAT:
        /* the first refused chunk is the answer: later replies ("503 no BDAT transaction")
         * do not overwrite it */
        if (m && (v == V_DATA_END || fail || c->bdat_last) &&
            !(v == V_BDAT && m->data_code >= 400)) {
            m->data_code = code;
            copy_enh(m->data_enhanced, enh);
            g_free(m->data_text);
            m->data_text = dup_capped(text, KEEP_TEXT);
            m->data_stage = v == V_BDAT ? SMTPCAP_STAGE_BDAT : SMTPCAP_STAGE_DATA;
            m->data_eod = true;
            if (code >= 200 && code < 300 && !m->queue_id && !s->reply.cut)
                m->queue_id = find_queue_id(text); /* a cut reply may hold half an id */
        }
        if (v == V_BDAT && fail && s->content.active) content_end(s, false, start, 0, ts);
        break;
    case V_QUIT:
        if (code == 221) {
            s->quit_answered = true;
            if (s->cmode == CM_COMMAND) s->cmode = CM_CLOSED;
        }
        break;
    default:
        break;
    }
}

void session_flush_reply(smtpcap_session *s)
{
    reply_asm *r = &s->reply;
    if (!r->open) return;
    r->open = false;
    int code = r->code;

    /* A reply that arrives while the client is still inside a DATA body whose end fell in a
     * gap can only answer that body: its "." was lost. A 421 there is the server giving up
     * on the message (timeout, shutdown): it answers the body too. */
    if (s->cmode == CM_BODY && (s->body_gap || code == 421)) {
        content_end(s, false, s->off[0], 0, r->ts_us);
        s->cmode = CM_COMMAND;
        s->lb[0].resync = false;
        session_push_data_end(s, r->ts_us);
    }
    if (s->server_gap) {
        realign_after_gap(s, code);
        s->server_gap = false;
    }
    pending_cmd cmd;
    pending_cmd *front = pq_front(s);
    bool have = front != NULL;
    if (have) {
        cmd = *front;
        /* A 334 keeps the AUTH exchange going: the AUTH command stays at the front. */
        if (!(cmd.verb == V_AUTH && code == 334)) pq_pop(s);
    } else if (s->cfg.midstream && !s->greeting_seen && !s->verb_seen && s->off[0] == 0 &&
               (code == 220 || code == 421 || code == 554)) {
        /* Seen from the middle but before the client spoke: this is the greeting. */
        push_cmd(s, V_GREETING, "(greeting)", 0, -1, -1);
        cmd = *pq_front(s);
        pq_pop(s);
        have = true;
    } else if (code == 334) {
        /* A 334 answers only AUTH (RFC 4954): the capture began inside the exchange. The
         * client's next line is an AUTH response — and possibly a password to mask. */
        const char *first0 = r->lines->len ? g_ptr_array_index(r->lines, 0) : "";
        char *d = auth_prompt_decoded(first0);
        auth_begin_unseen(s, d);
        g_free(d);
        push_cmd(s, V_AUTH, "AUTH", 0, -1, -1);
        cmd = *pq_front(s);
        have = true;
    } else if (code == 421) {
        /* The server closing the session on its own (RFC 5321 3.8): a final answer. */
        s->shutdown_421 = true;
    } else {
        s->unexpected_replies++;
        anomaly(s, SMTPCAP_DIR_SERVER, SMTPCAP_ANOMALY_REPLY_UNEXPECTED,
                "%d reply with no command waiting for it", code);
    }

    const char *first = r->lines->len ? g_ptr_array_index(r->lines, 0) : "";
    int cls = -1, subj = -1, det = -1;
    char enh[SMTPCAP_ENHANCED_MAX] = "";
    size_t el = codes_parse_enhanced(first, strlen(first), &cls, &subj, &det);
    if (el && cls == code / 100)
        memcpy(enh, first, MIN(el, sizeof enh - 1)); /* the code as written: "5.1.1" */
    else
        cls = subj = det = -1;

    smtpcap_stage stage = have ? verb_stage(cmd.verb) : s->stage;
    const char *joined = join_lines(s, r->lines);
    char desc[512];
    codes_describe(desc, sizeof desc, stage,
                   have && (cmd.verb == V_DATA_END || (cmd.verb == V_BDAT && cmd.bdat_last)), code,
                   cls, subj, det,
                   joined);
    if (!s->scratch_meaning) s->scratch_meaning = g_string_sized_new(128);
    GString *meaning = s->scratch_meaning;
    g_string_assign(meaning, desc);
    if (have && cmd.verb == V_EHLO && code == 250) note_capabilities(s, r->lines, meaning);
    if (have && cmd.verb == V_AUTH && code == 334) {
        char *d = auth_prompt_decoded(first);
        if (d) g_string_append_printf(meaning, ": \"%s\"", d);
        g_free(d);
    }

    smtpcap_event ev = { .type = SMTPCAP_EV_REPLY, .dir = SMTPCAP_DIR_SERVER, .ts_us = r->ts_us,
                         .stage = stage, .offset = r->start, .length = r->end - r->start };
    ev.u.reply.code = code;
    ev.u.reply.enhanced = enh[0] ? enh : NULL;
    ev.u.reply.enh_class = cls;
    ev.u.reply.enh_subject = subj;
    ev.u.reply.enh_detail = det;
    ev.u.reply.lines = (const char *const *)r->lines->pdata;
    ev.u.reply.nlines = r->lines->len;
    ev.u.reply.to = have ? cmd.name : NULL;
    ev.u.reply.latency_us = have && cmd.verb != V_GREETING && cmd.ts_us ? r->ts_us - cmd.ts_us : -1;
    ev.u.reply.meaning = meaning->str;
    ev.u.reply.enhanced_meaning = enh[0] ? codes_enhanced_meaning(cls, subj, det) : NULL;
    emit(s, &ev);

    if (!have && code == 421 && !s->cand.set)
        fail_set(&s->cand, stage == SMTPCAP_STAGE_NONE ? SMTPCAP_STAGE_CONNECT : stage, code,
                 enh[0] ? enh : NULL, cls, subj, det, joined);
    apply_reply(s, have ? &cmd : NULL, code, enh[0] ? enh : NULL, cls, subj, det, joined,
                r->start, r->end - r->start, r->ts_us);
    g_ptr_array_set_size(r->lines, 0);
    r->cut = false;
    if (!s->blocked) session_replay_deferred(s);
}

void enter_tls(smtpcap_session *s, smtpcap_tls_mode mode, smtpcap_dir dir, int64_t ts)
{
    close_open_transaction(s);
    s->tls = mode;
    s->cmode = CM_TLS;
    s->server_tls = true;
    s->stage = SMTPCAP_STAGE_TLS;
    smtpcap_event ev = { .type = SMTPCAP_EV_TLS, .dir = dir, .ts_us = ts,
                         .stage = SMTPCAP_STAGE_TLS, .offset = s->off[dir] };
    ev.u.tls.mode = mode;
    emit(s, &ev);
}
