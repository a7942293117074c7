/* Public API of the decoder and byte framing per direction (RFC 5321 section 2.3.8: lines
 * end with CRLF; a bare LF is accepted because real clients send it).
 *
 * Framing is zero-copy when a whole line sits in the caller's buffer; only a line split
 * across feed calls is copied, into a buffer that never grows past max_line. Longer lines
 * are cut there and reported truncated; the rest is discarded up to the LF. */
#include <string.h>

#include "internal.h"

#define DEFAULT_MAX_LINE 4096
#define DEFAULT_MAX_PIPELINE 128
#define DEFAULT_MAX_MESSAGES 1000
#define DEFAULT_MAX_RCPTS 1000

void emit(smtpcap_session *s, smtpcap_event *ev)
{
    if (ev->ts_us == 0) ev->ts_us = s->last_ts;
    if (s->cb) s->cb(s->user, ev);
}

smtpcap_session *smtpcap_session_new(const smtpcap_config *cfg, smtpcap_event_cb cb, void *user)
{
    smtpcap_session *s = g_new0(smtpcap_session, 1);
    if (cfg) s->cfg = *cfg;
    if (!s->cfg.max_line) s->cfg.max_line = DEFAULT_MAX_LINE;
    if (s->cfg.max_line < 64) s->cfg.max_line = 64;
    if (!s->cfg.max_pipeline) s->cfg.max_pipeline = DEFAULT_MAX_PIPELINE;
    if (!s->cfg.max_messages) s->cfg.max_messages = DEFAULT_MAX_MESSAGES;
    if (!s->cfg.max_rcpts) s->cfg.max_rcpts = DEFAULT_MAX_RCPTS;
    s->cb = cb;
    s->user = user;
    s->open_msg = -1;
    s->content.msg = -1;
    s->auth.attempt = -1;
    s->stage = s->cfg.midstream ? SMTPCAP_STAGE_NONE : SMTPCAP_STAGE_CONNECT;
    s->msgs = g_array_new(FALSE, TRUE, sizeof(msg_rec));
    s->auths = g_array_new(FALSE, TRUE, sizeof(auth_rec));
    s->warnings = g_ptr_array_new_with_free_func(g_free);
    session_init_pending(s);
    /* Seen from the middle, the first bytes of each direction are most likely not the start
     * of a line: the decoder looks at them before trusting them (see first_bytes). */
    return s;
}

/* ---- framing ---------------------------------------------------------------------------- */

static void lb_append(smtpcap_session *s, linebuf *lb, const uint8_t *p, size_t n)
{
    size_t room = s->cfg.max_line + 1 > lb->len ? s->cfg.max_line + 1 - lb->len : 0;
    size_t take = n < room ? n : room;
    if (take) {
        if (lb->len + take > lb->cap) {
            size_t ncap = lb->cap ? lb->cap : 128;
            while (ncap < lb->len + take) ncap *= 2;
            if (ncap > s->cfg.max_line + 1) ncap = s->cfg.max_line + 1;
            lb->buf = g_realloc(lb->buf, ncap);
            lb->cap = ncap;
        }
        memcpy(lb->buf + lb->len, p, take);
        lb->len += take;
    }
    lb->total += n;
}

static void cut_partial(smtpcap_session *s, int dir, int64_t ts);

static bool auth_line_is_command(const char *l, size_t n)
{
    if (!session_known_verb(l, n)) return false;
    return memchr(l, ' ', n) != NULL || (n == 4 && (ascii_prefix_ci(l, n, "QUIT") ||
                                                    ascii_prefix_ci(l, n, "RSET") ||
                                                    ascii_prefix_ci(l, n, "NOOP")));
}

static bool is_b64_line(const char *p, size_t n)
{
    if (n == 0) return false;
    for (size_t i = 0; i < n; i++)
        if (!g_ascii_isalnum(p[i]) && p[i] != '+' && p[i] != '/' && p[i] != '=' && p[i] != '*')
            return false;
    return true;
}

/* After a gap: does this complete line look like the start of a line? */
static bool plausible_after_gap(const smtpcap_session *s, int dir, const char *l, size_t n)
{
    if (dir == SMTPCAP_DIR_SERVER)
        return n >= 3 && g_ascii_isdigit(l[0]) && g_ascii_isdigit(l[1]) && g_ascii_isdigit(l[2]);
    switch (s->cmode) {
    case CM_COMMAND: return session_known_verb(l, n);
    case CM_AUTH: return session_known_verb(l, n) || is_b64_line(l, n);
    default: return false; /* message headers: the next line start is unknown */
    }
}

typedef void (*line_fn)(smtpcap_session *s, const char *line, size_t len, size_t full_len,
                        bool truncated, uint64_t start, uint64_t length, int64_t ts);

/* Consumes bytes up to and including one LF (or all of them, buffering a partial line).
 * Returns the number of bytes consumed. */
static size_t frame_one(smtpcap_session *s, int dir, const uint8_t *p, size_t n, int64_t ts,
                        line_fn fn)
{
    linebuf *lb = &s->lb[dir];
    const uint8_t *lf = memchr(p, '\n', n);
    size_t take = lf ? (size_t)(lf - p) + 1 : n;
    if (lb->total == 0) lb->start = s->off[dir];
    s->off[dir] += take;
    if (lb->resync) {
        if (lf) { lb->resync = false; lb->len = lb->total = 0; }
        return take;
    }
    if (!lf) {
        lb_append(s, lb, p, n);
        return n;
    }
    size_t content = take - 1;
    const char *line;
    size_t kept;
    bool cr;
    if (lb->total == 0) {
        line = (const char *)p;
        kept = content;
        cr = content > 0 && p[content - 1] == '\r';
    } else {
        bool last_cr = lb->len > 0 && lb->buf[lb->len - 1] == '\r' && lb->len == lb->total;
        lb_append(s, lb, p, content);
        line = lb->buf;
        kept = lb->len;
        cr = content > 0 ? p[content - 1] == '\r' : last_cr;
    }
    size_t full = lb->total == 0 ? content : lb->total; /* bytes before LF */
    size_t full_len = full - (cr ? 1 : 0);
    if (kept > full_len) kept = full_len;
    bool truncated = full_len > s->cfg.max_line;
    if (kept > s->cfg.max_line) kept = s->cfg.max_line;
    uint64_t start = lb->start;
    uint64_t length = (lb->total == 0 ? content : lb->total) + 1;
    lb->len = lb->total = 0;
    if (lb->after_gap) {
        lb->after_gap = false;
        if (!plausible_after_gap(s, dir, line, kept)) {
            /* the tail of the line the gap cut: nothing to decode in it */
            return take;
        }
    }
    if (truncated) s->truncated_lines++;
    if (!cr && !s->bare_lf_reported[dir] && (dir == SMTPCAP_DIR_SERVER || s->cmode == CM_COMMAND)) {
        /* RFC 5321 2.3.8: lines end with CRLF. Accepted anyway, but worth a note: servers
         * and clients disagreeing about bare LF is what SMTP smuggling exploits. */
        s->bare_lf_reported[dir] = true;
        anomaly(s, (smtpcap_dir)dir, SMTPCAP_ANOMALY_BARE_LF, "%s line ended by a bare LF",
                dir == SMTPCAP_DIR_CLIENT ? "client" : "server");
    }
    fn(s, line, kept, full_len, truncated, start, length, ts);
    return take;
}

static void client_line(smtpcap_session *s, const char *line, size_t len, size_t full_len,
                        bool truncated, uint64_t start, uint64_t length, int64_t ts)
{
    switch (s->cmode) {
    case CM_COMMAND:
        session_on_command_line(s, line, len, truncated, start, length, ts);
        break;
    case CM_AUTH:
        /* An AUTH exchange ends with the server's answer; when that answer is missing, a
         * command line after it is recognised (a lone base64 word never has a space). */
        if (auth_line_is_command(line, len)) {
            s->cmode = CM_COMMAND;
            s->auth.active = false;
            session_on_command_line(s, line, len, truncated, start, length, ts);
        } else {
            auth_on_client_line(s, line, len, start, length, ts);
        }
        break;
    case CM_BODY:
        if (full_len == 1 && line[0] == '.') {
            content_end(s, true, start, length, ts);
            s->cmode = CM_COMMAND;
            session_push_data_end(s, ts);
        } else {
            content_line(s, line, len, full_len, (size_t)length);
        }
        break;
    case CM_CLOSED:
        if (!s->data_after_quit_reported) {
            s->data_after_quit_reported = true;
            anomaly(s, SMTPCAP_DIR_CLIENT, SMTPCAP_ANOMALY_DATA_AFTER_CLOSE,
                    "client sent data after QUIT was answered");
        }
        break;
    case CM_CHUNK:
    case CM_TLS:
        break;
    }
}

static void server_line(smtpcap_session *s, const char *line, size_t len, size_t full_len,
                        bool truncated, uint64_t start, uint64_t length, int64_t ts)
{
    session_on_server_line(s, line, len, truncated, start, length, ts);
}

/* A TLS record header (handshake 0x16, or application data 0x17 when seen from the middle)
 * can never begin an SMTP line: both are control characters. */
static bool looks_like_tls(const smtpcap_session *s, uint8_t b)
{
    return b == 0x16 || (s->cfg.midstream && b == 0x17);
}

/* Seen from the middle, the first bytes of a direction are trusted only when they look like
 * the start of a line: a reply code, or a known command verb; else skip to the next LF. */
static bool plausible_line_start(int dir, const uint8_t *p, size_t n)
{
    if (dir == SMTPCAP_DIR_SERVER)
        return n >= 3 && g_ascii_isdigit(p[0]) && g_ascii_isdigit(p[1]) && g_ascii_isdigit(p[2]);
    static const char *const verbs[] = { "HELO", "EHLO", "MAIL", "RCPT", "DATA", "BDAT", "RSET",
                                         "QUIT", "NOOP", "AUTH", "VRFY", "STARTTLS" };
    for (size_t i = 0; i < G_N_ELEMENTS(verbs); i++)
        if (ascii_prefix_ci((const char *)p, n, verbs[i])) return true;
    return false;
}

static void first_bytes(smtpcap_session *s, int dir, const uint8_t *p, size_t n, int64_t ts)
{
    s->first_bytes_seen[dir] = true;
    if (s->tls == SMTPCAP_TLS_NONE && s->off[0] == 0 && s->off[1] == 0 && looks_like_tls(s, p[0])) {
        enter_tls(s, SMTPCAP_TLS_IMPLICIT, (smtpcap_dir)dir, ts);
        return;
    }
    if (s->cfg.midstream && !plausible_line_start(dir, p, n)) s->lb[dir].resync = true;
}

static void body_end(smtpcap_session *s, uint64_t end, int64_t ts)
{
    content_end(s, true, s->body_dot_off, end - s->body_dot_off, ts);
    s->cmode = CM_COMMAND;
    s->body_dot = 0;
    session_push_data_end(s, ts);
}

/* The DATA body after its headers: only a dot at the start of a line matters (the end
 * "." line, or a stuffing dot to take back), so the scan looks for dots, not line ends —
 * a fraction of a CPU instruction per byte for typical bodies. Returns bytes consumed; the
 * terminator line is consumed too and the mode is back to commands. */
static size_t body_scan(smtpcap_session *s, const uint8_t *p, size_t n, int64_t ts)
{
    size_t i = 0;
    while (i < n) {
        if (s->body_dot) {
            uint8_t c = p[i];
            if (c == '\r' && s->body_dot == 1) {
                s->body_dot = 2;
                content_add(s, 1);
                i++;
                continue;
            }
            if (c == '\n') {
                /* ".\r\n" (or ".\n"): the end of the message, not content */
                content_add(s, s->body_dot == 2 ? -2 : -1);
                s->off[0] += i + 1;
                body_end(s, s->off[0], ts);
                return i + 1;
            }
            /* ".x" at a line start: a stuffing dot, not content (RFC 5321 4.5.2) */
            content_add(s, -1);
            s->body_dot = 0;
            continue; /* c is ordinary content: look at it again below */
        }
        if (s->body_bol && p[i] == '.') {
            s->body_dot = 1;
            s->body_dot_off = s->off[0] + i;
            s->body_bol = false;
            content_add(s, 1);
            i++;
            continue;
        }
        const uint8_t *dot = memchr(p + i + 1, '.', n - i - 1);
        size_t upto = dot ? (size_t)(dot - p) : n;
        /* bytes [i, upto) are plain content; the byte before the dot tells if it starts a line */
        content_add(s, (int64_t)(upto - i));
        s->body_bol = p[upto - 1] == '\n';
        i = upto;
    }
    s->off[0] += n;
    return n;
}

void client_process_bytes(smtpcap_session *s, const uint8_t *p, size_t n, int64_t ts)
{
    while (n > 0) {
        if (s->blocked) {
            if (!s->defer) s->defer = g_byte_array_new();
            if (s->defer->len + n > DEFER_MAX) {
                /* The reply never came: read on as commands rather than hold more. */
                anomaly(s, SMTPCAP_DIR_CLIENT, SMTPCAP_ANOMALY_REPLY_UNEXPECTED,
                        "no reply to the command that decides how to read the client's "
                        "next bytes; reading them as commands");
                session_unblock_unanswered(s);
                continue;
            }
            if (s->defer->len == 0) s->defer_ts = ts;
            g_byte_array_append(s->defer, p, (guint)n);
            return;
        }
        size_t used;
        if (s->cmode == CM_TLS) {
            s->off[0] += n;
            return;
        } else if (s->cmode == CM_BODY && !s->content.in_headers && s->lb[0].total == 0) {
            if (s->lb[0].resync) {
                /* after a gap: the next line start is after the next LF */
                s->lb[0].resync = false;
                s->body_bol = false;
                s->body_dot = 0;
            }
            used = body_scan(s, p, n, ts);
        } else if (s->cmode == CM_CHUNK) {
            used = n < s->chunk_left ? n : (size_t)s->chunk_left;
            content_bytes(s, p, used);
            s->off[0] += used;
            s->chunk_left -= used;
            if (s->chunk_left == 0) session_chunk_done(s, ts);
        } else {
            used = frame_one(s, SMTPCAP_DIR_CLIENT, p, n, ts, client_line);
        }
        p += used;
        n -= used;
    }
}

static void server_process_bytes(smtpcap_session *s, const uint8_t *p, size_t n, int64_t ts)
{
    while (n > 0) {
        if (s->server_tls) {
            s->off[1] += n;
            return;
        }
        size_t used = frame_one(s, SMTPCAP_DIR_SERVER, p, n, ts, server_line);
        p += used;
        n -= used;
    }
}

smtpcap_status smtpcap_session_feed(smtpcap_session *s, smtpcap_dir dir, const uint8_t *data,
                                    size_t n, int64_t ts_us)
{
    if (!s || (dir != SMTPCAP_DIR_CLIENT && dir != SMTPCAP_DIR_SERVER) || (!data && n))
        return SMTPCAP_EINVAL;
    if (s->finished) return SMTPCAP_FINISHED;
    if (n == 0) return SMTPCAP_OK;
    s->last_ts = ts_us;
    s->bytes[dir] += n;
    if (!s->first_bytes_seen[dir]) first_bytes(s, dir, data, n, ts_us);
    if (dir == SMTPCAP_DIR_CLIENT)
        client_process_bytes(s, data, n, ts_us);
    else
        server_process_bytes(s, data, n, ts_us);
    return SMTPCAP_OK;
}

smtpcap_status smtpcap_session_gap(smtpcap_session *s, smtpcap_dir dir, uint64_t n,
                                   int64_t ts_us)
{
    if (!s || (dir != SMTPCAP_DIR_CLIENT && dir != SMTPCAP_DIR_SERVER)) return SMTPCAP_EINVAL;
    if (s->finished) return SMTPCAP_FINISHED;
    if (n == 0) return SMTPCAP_OK;
    s->last_ts = ts_us;
    if (dir == SMTPCAP_DIR_CLIENT && s->blocked) {
        /* Bytes held before the hole go first, read as they stand. */
        session_unblock_unanswered(s);
    }
    /* The visible start of a line the gap cuts is still shown (flagged truncated), and a
     * multi-line reply it interrupts is ended there: both come before the gap. */
    cut_partial(s, dir, ts_us);
    if (dir == SMTPCAP_DIR_SERVER && !s->server_tls) session_server_gap(s);
    smtpcap_event ev = { .type = SMTPCAP_EV_GAP, .dir = dir, .ts_us = ts_us, .stage = s->stage,
                         .offset = s->off[dir], .length = n };
    ev.u.gap.bytes = n;
    emit(s, &ev);
    s->gap_bytes += n;
    s->off[dir] += n;
    s->first_bytes_seen[dir] = true;
    linebuf *lb = &s->lb[dir];
    lb->len = lb->total = 0;
    if (dir == SMTPCAP_DIR_SERVER) {
        if (!s->server_tls) {
            lb->resync = false;
            lb->after_gap = true;
        }
        return SMTPCAP_OK;
    }
    switch (s->cmode) {
    case CM_CHUNK: {
        /* Inside a BDAT chunk the byte count tells exactly where the chunk ends. */
        uint64_t covered = n < s->chunk_left ? n : s->chunk_left;
        content_gap(s, covered);
        s->chunk_left -= covered;
        if (s->chunk_left == 0) session_chunk_done(s, ts_us);
        if (n > covered) { lb->resync = false; lb->after_gap = true; }
        break;
    }
    case CM_BODY:
        content_gap(s, n);
        s->body_gap = true;
        lb->resync = true; /* headers: skip to the next line; body: see body_scan */
        break;
    case CM_TLS:
        break;
    default:
        lb->resync = false;
        lb->after_gap = true;
        break;
    }
    return SMTPCAP_OK;
}

/* A partial line cut by missing bytes: its visible start is decoded, flagged truncated. In a
 * DATA body it is content. */
static void cut_partial(smtpcap_session *s, int dir, int64_t ts)
{
    linebuf *lb = &s->lb[dir];
    size_t kept = lb->len > s->cfg.max_line ? s->cfg.max_line : lb->len;
    if (lb->total == 0 || lb->resync ||
        (lb->after_gap && !plausible_after_gap(s, dir, lb->buf, kept))) {
        lb->len = lb->total = 0;
        return;
    }
    lb->after_gap = false;
    size_t full = lb->total;
    uint64_t start = lb->start, length = lb->total;
    lb->len = lb->total = 0;
    if (dir == SMTPCAP_DIR_CLIENT && s->cmode == CM_BODY) {
        content_line(s, lb->buf, kept, full, full);
        return;
    }
    if (dir == SMTPCAP_DIR_CLIENT && (s->cmode == CM_CHUNK || s->cmode == CM_TLS)) return;
    s->cutting = true;
    if (dir == SMTPCAP_DIR_CLIENT)
        client_line(s, lb->buf, kept, full, true, start, length, ts);
    else
        server_line(s, lb->buf, kept, full, true, start, length, ts);
    s->cutting = false;
}

/* At the end of the capture: a server line without its line end is still what the server
 * said (a cut reply is decoded, flagged). A client line without its line end was never
 * acted upon by the server: it is reported, not decoded as a command. */
static void flush_partial(smtpcap_session *s, int dir, int64_t ts)
{
    linebuf *lb = &s->lb[dir];
    if (lb->total == 0 || lb->resync) return;
    if (dir == SMTPCAP_DIR_SERVER || s->cmode == CM_BODY || s->cmode == CM_CHUNK) {
        cut_partial(s, dir, ts);
        return;
    }
    if (s->cmode == CM_COMMAND || s->cmode == CM_AUTH) {
        size_t kept = lb->len > 200 ? 200 : lb->len;
        if (lb->total > s->cfg.max_line) s->truncated_lines++;
        if (s->cmode == CM_AUTH) {
            anomaly(s, SMTPCAP_DIR_CLIENT, SMTPCAP_ANOMALY_LINE_TOO_LONG,
                    "the capture ends inside an unfinished client line (%zu bytes)", lb->total);
        } else {
            char *t = sanitize_dup(lb->buf, kept);
            anomaly(s, SMTPCAP_DIR_CLIENT, SMTPCAP_ANOMALY_LINE_TOO_LONG,
                    "the capture ends inside an unfinished client line (%zu bytes): \"%s%s\"",
                    lb->total, t, lb->total > kept ? "..." : "");
            g_free(t);
        }
    }
    lb->len = lb->total = 0;
}

const smtpcap_summary *smtpcap_session_finish(smtpcap_session *s, smtpcap_end_reason why,
                                              int64_t ts_us)
{
    if (!s) return NULL;
    if (s->finished) return s->sum;
    if (ts_us) s->last_ts = ts_us;
    if (s->blocked) {
        session_unblock_unanswered(s);
    }
    flush_partial(s, SMTPCAP_DIR_CLIENT, s->last_ts);
    flush_partial(s, SMTPCAP_DIR_SERVER, s->last_ts);
    session_flush_reply(s);
    if (s->content.active) content_end(s, false, s->off[0], 0, s->last_ts);
    s->finished = true;
    verdict_build(s, why);
    return s->sum;
}

void smtpcap_session_warn(smtpcap_session *s, const char *text)
{
    if (!s || !text || s->finished) return;
    char *clean = sanitize_dup(text, strlen(text));
    warn(s, "%s", clean);
    g_free(clean);
}

void smtpcap_session_free(smtpcap_session *s)
{
    if (!s) return;
    g_free(s->lb[0].buf);
    g_free(s->lb[1].buf);
    if (s->defer) g_byte_array_free(s->defer, TRUE);
    session_free_pending(s);
    if (s->reply.lines) g_ptr_array_free(s->reply.lines, TRUE);
    if (s->scratch_join) g_string_free(s->scratch_join, TRUE);
    if (s->scratch_meaning) g_string_free(s->scratch_meaning, TRUE);
    content_free(&s->content);
    for (guint i = 0; i < s->msgs->len; i++) msg_free(&g_array_index(s->msgs, msg_rec, i));
    g_array_free(s->msgs, TRUE);
    for (guint i = 0; i < s->auths->len; i++) {
        auth_rec *a = &g_array_index(s->auths, auth_rec, i);
        g_free(a->mechanism);
        g_free(a->username);
    }
    g_array_free(s->auths, TRUE);
    g_ptr_array_free(s->warnings, TRUE);
    g_free(s->helo);
    fail_clear(&s->greeting_fail);
    fail_clear(&s->cand);
    verdict_free(s);
    g_free(s);
}
