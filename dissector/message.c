/* Message content after DATA (RFC 5321 section 4.5.2: dot-stuffing) and in BDAT chunks
 * (RFC 3030: raw bytes, no stuffing). The body is streamed: only the size is counted and a
 * few header fields (RFC 5322) are kept, each capped; the text itself is never held. */
#include <string.h>

#include "internal.h"

#define MAX_HEADER 2048 /* a folded header line kept for inspection */
#define MAX_VALUE 512   /* a header value kept */

void content_begin(smtpcap_session *s, int msg, bool bdat)
{
    content_state *c = &s->content;
    content_free(c);
    c->active = true;
    c->in_headers = true;
    c->bdat = bdat;
    c->msg = msg;
    c->size = 0;
    c->start = s->off[0];
    msg_rec *m = msg_get(s, msg);
    if (m) m->bdat = bdat;
}

/* RFC 2047 encoded words ("=?UTF-8?B?...?=") in Subject are decoded for display; any other
 * charset is converted with iconv via glib, and a word that fails stays as it was. */
static void decode_word(GString *out, const char *cs, char enc, const char *txt, size_t n)
{
    guint8 *raw = NULL;
    size_t rl = 0;
    if (enc == 'B' || enc == 'b') {
        raw = b64_decode(txt, n, &rl);
    } else {
        raw = g_malloc(n + 1);
        for (size_t i = 0; i < n; i++) {
            if (txt[i] == '_') {
                raw[rl++] = ' ';
            } else if (txt[i] == '=' && i + 2 < n && g_ascii_isxdigit(txt[i + 1]) &&
                       g_ascii_isxdigit(txt[i + 2])) {
                raw[rl++] = (guint8)(g_ascii_xdigit_value(txt[i + 1]) * 16 +
                                     g_ascii_xdigit_value(txt[i + 2]));
                i += 2;
            } else {
                raw[rl++] = (guint8)txt[i];
            }
        }
    }
    if (!raw) { g_string_append_len(out, txt, (gssize)n); return; }
    gsize wl = 0;
    char *conv = NULL;
    if (g_ascii_strcasecmp(cs, "UTF-8") != 0 && g_ascii_strcasecmp(cs, "US-ASCII") != 0)
        conv = g_convert((const char *)raw, (gssize)rl, "UTF-8", cs, NULL, &wl, NULL);
    if (conv) sanitize_append(out, conv, wl);
    else sanitize_append(out, (const char *)raw, rl);
    g_free(conv);
    g_free(raw);
}

static char *decode_rfc2047(const char *v)
{
    GString *out = g_string_new(NULL);
    const char *p = v;
    bool last_was_word = false;
    while (*p) {
        const char *w = strstr(p, "=?");
        if (!w) { g_string_append(out, p); break; }
        const char *q1 = strchr(w + 2, '?');
        const char *q2 = q1 ? strchr(q1 + 1, '?') : NULL;
        const char *end = q2 ? strstr(q2 + 1, "?=") : NULL;
        if (!end || q1 - (w + 2) > 40 || q2 != q1 + 2) {
            g_string_append_len(out, p, w + 2 - p);
            p = w + 2;
            last_was_word = false;
            continue;
        }
        /* whitespace between two encoded words is dropped (RFC 2047 section 6.2) */
        bool only_ws = true;
        for (const char *k = p; k < w; k++)
            if (*k != ' ' && *k != '\t') only_ws = false;
        if (!(last_was_word && only_ws)) g_string_append_len(out, p, w - p);
        char *cs = g_strndup(w + 2, (gsize)(q1 - (w + 2)));
        char *star = strchr(cs, '*'); /* RFC 2231 language suffix */
        if (star) *star = 0;
        decode_word(out, cs, q1[1], q2 + 1, (size_t)(end - (q2 + 1)));
        g_free(cs);
        p = end + 2;
        last_was_word = true;
    }
    return g_string_free(out, FALSE);
}

static void keep_header(content_state *c)
{
    if (!c->hdr || c->hdr->len == 0) return;
    const char *h = c->hdr->str;
    const char *colon = strchr(h, ':');
    if (!colon) return;
    size_t nl = (size_t)(colon - h);
    static const struct { const char *name; size_t off; } wanted[] = {
        { "Subject", G_STRUCT_OFFSET(content_state, subject) },
        { "From", G_STRUCT_OFFSET(content_state, from) },
        { "To", G_STRUCT_OFFSET(content_state, to) },
        { "Date", G_STRUCT_OFFSET(content_state, date) },
        { "Message-ID", G_STRUCT_OFFSET(content_state, message_id) },
        { "X-Mailer", G_STRUCT_OFFSET(content_state, x_mailer) },
    };
    for (size_t i = 0; i < G_N_ELEMENTS(wanted); i++) {
        if (strlen(wanted[i].name) != nl || g_ascii_strncasecmp(h, wanted[i].name, nl) != 0)
            continue;
        char **slot = G_STRUCT_MEMBER_P(c, wanted[i].off);
        if (*slot) return;
        const char *v = colon + 1;
        while (*v == ' ' || *v == '\t') v++;
        char *dec = decode_rfc2047(v);
        if (strlen(dec) > MAX_VALUE) dec[MAX_VALUE] = 0;
        *slot = sanitize_dup(dec, strlen(dec));
        g_free(dec);
        return;
    }
}

/* One header line (without CRLF). Folded lines are joined; an empty line ends the headers. */
static void header_line(content_state *c, const char *line, size_t len)
{
    if (len == 0) {
        keep_header(c);
        c->in_headers = false;
        return;
    }
    if (!c->hdr) c->hdr = g_string_sized_new(128);
    if (line[0] == ' ' || line[0] == '\t') {
        size_t room = MAX_HEADER > c->hdr->len ? MAX_HEADER - c->hdr->len : 0;
        g_string_append_len(c->hdr, line, (gssize)MIN(len, room));
        return;
    }
    keep_header(c);
    g_string_truncate(c->hdr, 0);
    g_string_append_len(c->hdr, line, (gssize)MIN(len, (size_t)MAX_HEADER));
}

void content_line(smtpcap_session *s, const char *line, size_t len, size_t full_len,
                  size_t raw_len)
{
    content_state *c = &s->content;
    if (!c->active) return;
    c->size += raw_len;
    if (full_len > 0 && line[0] == '.') { /* undo dot-stuffing */
        line++;
        len = len ? len - 1 : 0;
        c->size--;
    }
    if (c->in_headers) header_line(c, line, len);
}

void content_add(smtpcap_session *s, int64_t n)
{
    if (s->content.active) s->content.size += (uint64_t)n;
}

void content_bytes(smtpcap_session *s, const uint8_t *p, size_t n)
{
    content_state *c = &s->content;
    if (!c->active) return;
    c->size += n;
    while (c->in_headers && n > 0) {
        const uint8_t *lf = memchr(p, '\n', n);
        size_t take = lf ? (size_t)(lf - p) + 1 : n;
        if (!c->part) c->part = g_string_sized_new(128);
        size_t room = MAX_HEADER > c->part->len ? MAX_HEADER - c->part->len : 0;
        g_string_append_len(c->part, (const char *)p, (gssize)MIN(lf ? take - 1 : take, room));
        if (lf) {
            size_t l = c->part->len;
            if (l > 0 && c->part->str[l - 1] == '\r') l--;
            header_line(c, c->part->str, l);
            g_string_truncate(c->part, 0);
        }
        p += take;
        n -= take;
    }
}

void content_gap(smtpcap_session *s, uint64_t n)
{
    content_state *c = &s->content;
    if (!c->active) return;
    c->size += n;
    c->gap = true;
    if (c->in_headers) {
        /* The header being read is broken; where the headers end is unknown now. */
        if (c->hdr) g_string_truncate(c->hdr, 0);
        c->in_headers = false;
    }
}

void content_end(smtpcap_session *s, bool complete, uint64_t start, uint64_t length, int64_t ts)
{
    content_state *c = &s->content;
    if (!c->active) return;
    if (c->in_headers) keep_header(c);
    msg_rec *m = msg_get(s, c->msg);
    if (m) {
        m->size = (int64_t)c->size;
        m->content_gap = c->gap;
#define TAKE(f) do { g_free(m->f); m->f = c->f ? g_strdup(c->f) : NULL; } while (0)
        TAKE(subject); TAKE(from); TAKE(to); TAKE(date); TAKE(message_id); TAKE(x_mailer);
#undef TAKE
    }
    uint64_t end = complete ? start + length : s->off[0];
    smtpcap_event ev = { .type = SMTPCAP_EV_MESSAGE, .dir = SMTPCAP_DIR_CLIENT, .ts_us = ts,
                         .stage = c->bdat ? SMTPCAP_STAGE_BDAT : SMTPCAP_STAGE_DATA,
                         .offset = c->start, .length = end > c->start ? end - c->start : 0 };
    ev.u.message.size = c->size;
    ev.u.message.complete = complete;
    ev.u.message.bdat = c->bdat;
    ev.u.message.subject = c->subject;
    ev.u.message.from = c->from;
    ev.u.message.to = c->to;
    ev.u.message.date = c->date;
    ev.u.message.message_id = c->message_id;
    ev.u.message.x_mailer = c->x_mailer;
    emit(s, &ev);
    content_free(c);
}

void content_free(content_state *c)
{
    if (c->hdr) g_string_free(c->hdr, TRUE);
    if (c->part) g_string_free(c->part, TRUE);
    g_free(c->subject); g_free(c->from); g_free(c->to);
    g_free(c->date); g_free(c->message_id); g_free(c->x_mailer);
    memset(c, 0, sizeof *c);
    c->msg = -1;
}
