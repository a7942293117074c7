/* SMTP AUTH (RFC 4954) and the SASL mechanisms seen in the wild: LOGIN
 * (draft-murchison-sasl-login), PLAIN (RFC 4616), CRAM-MD5 (RFC 2195), XOAUTH2 (Google),
 * OAUTHBEARER (RFC 7628). Others are named and their responses masked.
 *
 * Secrets — passwords, tokens, CRAM digests — are masked in the decoded value and in the raw
 * base64 line alike: the base64 is the password to anyone who reads it. */
#include <string.h>

#include "internal.h"

#define MAX_AUTH_ATTEMPTS 64

static auth_mech mech_id(const char *name)
{
    static const struct { const char *n; auth_mech m; } t[] = {
        { "LOGIN", AM_LOGIN },       { "PLAIN", AM_PLAIN },
        { "CRAM-MD5", AM_CRAM_MD5 }, { "XOAUTH2", AM_XOAUTH2 },
        { "OAUTHBEARER", AM_OAUTHBEARER },
    };
    for (size_t i = 0; i < G_N_ELEMENTS(t); i++)
        if (g_ascii_strcasecmp(name, t[i].n) == 0) return t[i].m;
    return AM_OTHER;
}

static auth_rec *attempt(smtpcap_session *s)
{
    if (s->auth.attempt < 0 || (guint)s->auth.attempt >= s->auths->len) return NULL;
    return &g_array_index(s->auths, auth_rec, s->auth.attempt);
}

static void emit_step(smtpcap_session *s, smtpcap_dir dir, smtpcap_auth_step step,
                      const char *decoded, const char *line, uint64_t start, uint64_t length,
                      int64_t ts)
{
    smtpcap_event ev = { .type = SMTPCAP_EV_AUTH, .dir = dir, .ts_us = ts,
                         .stage = SMTPCAP_STAGE_AUTH, .offset = start, .length = length };
    ev.u.auth.mechanism = s->auth.mech_name;
    ev.u.auth.step = step;
    ev.u.auth.decoded = decoded;
    ev.u.auth.line = line;
    emit(s, &ev);
}

static void set_username(smtpcap_session *s, const char *u)
{
    auth_rec *a = attempt(s);
    if (a && !a->username) a->username = dup_capped(u, KEEP_ADDR);
}

/* Does the initial response of this mechanism carry a secret? LOGIN's carries the user name
 * only; "=" is the empty response. */
static bool initial_is_secret(auth_mech m, const char *ir)
{
    return m != AM_LOGIN && strcmp(ir, "=") != 0;
}

void auth_begin(smtpcap_session *s, const char *arg, GString *masked)
{
    size_t ml = strcspn(arg, " ");
    char *mech = g_ascii_strup(arg, (gssize)ml);
    const char *ir = arg + ml;
    while (*ir == ' ') ir++;

    auth_state *st = &s->auth;
    memset(st, 0, sizeof *st);
    st->active = true;
    st->mech = mech_id(mech);
    utf8_strlcpy(st->mech_name, mech, sizeof st->mech_name);
    st->attempt = -1;
    if (s->auths->len < MAX_AUTH_ATTEMPTS) {
        auth_rec a = { .mechanism = g_strdup(mech) };
        g_array_append_val(s->auths, a);
        st->attempt = (int)s->auths->len - 1;
    }
    if (s->tls == SMTPCAP_TLS_NONE) {
        if (st->mech == AM_LOGIN || st->mech == AM_PLAIN || st->mech == AM_XOAUTH2 ||
            st->mech == AM_OAUTHBEARER)
            warn(s, "AUTH sent before TLS: credentials crossed the network in clear");
        else
            warn(s, "AUTH %s sent before TLS: the exchange crossed the network in clear", mech);
    }
    g_string_append_printf(masked, "AUTH %s", mech);
    if (*ir) {
        g_string_append_c(masked, ' ');
        g_string_append(masked, initial_is_secret(st->mech, ir) && !s->cfg.show_secrets ? MASK : ir);
    }
    g_free(mech);
}

/* Splits "a\0b\0c" style SASL messages. */
static const char *nth_field(const char *p, size_t n, char sep, int k, size_t *flen)
{
    const char *start = p, *end = p + n;
    for (int i = 0; i < k; i++) {
        const char *q = memchr(start, sep, (size_t)(end - start));
        if (!q) return NULL;
        start = q + 1;
    }
    const char *q = memchr(start, sep, (size_t)(end - start));
    *flen = q ? (size_t)(q - start) : (size_t)(end - start);
    return start;
}

/* Finds "key" at the start of one of the \x01-separated fields of an OAuth message. */
static char *oauth_field(const char *p, size_t n, const char *key)
{
    size_t kl = strlen(key);
    for (int k = 0; k < 16; k++) {
        size_t fl;
        const char *f = nth_field(p, n, '\x01', k, &fl);
        if (!f) break;
        if (fl >= kl && memcmp(f, key, kl) == 0) return sanitize_dup(f + kl, fl - kl);
    }
    return NULL;
}

static void emit_secret(smtpcap_session *s, smtpcap_auth_step step, const guint8 *v, size_t n,
                        const char *line, uint64_t start, uint64_t length, int64_t ts)
{
    char *shown = s->cfg.show_secrets ? sanitize_dup((const char *)v, n) : g_strdup(MASK);
    emit_step(s, SMTPCAP_DIR_CLIENT, step, shown, line, start, length, ts);
    g_free(shown);
}

/* One client value (base64 text), from the initial response or a line after a 334.
 * raw_line is what the transcript shows for the line (NULL when the command event showed
 * it already). */
static void client_value(smtpcap_session *s, const char *b64, size_t len, bool initial,
                         uint64_t start, uint64_t length, int64_t ts)
{
    auth_state *st = &s->auth;
    char *raw = sanitize_dup(b64, len);
    const char *masked_line = s->cfg.show_secrets ? raw : MASK;

    if (len == 0) {
        /* An empty response (XOAUTH2 acknowledging an error challenge): nothing secret. */
        emit_step(s, SMTPCAP_DIR_CLIENT, SMTPCAP_AUTH_STEP_RESPONSE, "", initial ? NULL : "",
                  start, length, ts);
        g_free(raw);
        return;
    }
    if (len == 1 && b64[0] == '*') {
        st->cancelled = true;
        emit_step(s, SMTPCAP_DIR_CLIENT, SMTPCAP_AUTH_STEP_RESPONSE, "* (cancelled by the client)",
                  initial ? NULL : raw, start, length, ts);
        g_free(raw);
        return;
    }
    size_t n = 0;
    st->values++;
    guint8 *v = (len == 1 && b64[0] == '=') ? (guint8 *)g_strdup("") : b64_decode(b64, len, &n);
    if (!v) {
        anomaly(s, SMTPCAP_DIR_CLIENT, SMTPCAP_ANOMALY_BAD_BASE64, "AUTH %s response is not base64",
                st->mech_name);
        /* Could be a password typed in clear by a broken client: keep it masked. */
        emit_step(s, SMTPCAP_DIR_CLIENT, SMTPCAP_AUTH_STEP_RESPONSE,
                  s->cfg.show_secrets ? raw : MASK, initial ? NULL : masked_line, start, length, ts);
        g_free(raw);
        return;
    }
    const char *line_user = initial ? NULL : raw;        /* a line that names only the user */
    const char *line_secret = initial ? NULL : masked_line;
    switch (st->mech) {
    case AM_LOGIN:
        /* LOGIN sends a user name, then a password: the second value is the password even
         * when the prompt asking for it was lost in a gap. */
        if (!initial && (st->expect_password || st->prompts >= 2 || st->values >= 2)) {
            emit_secret(s, SMTPCAP_AUTH_STEP_PASSWORD, v, n, line_secret, start, length, ts);
        } else {
            char *u = sanitize_dup((const char *)v, n);
            set_username(s, u);
            emit_step(s, SMTPCAP_DIR_CLIENT, SMTPCAP_AUTH_STEP_USERNAME, u, line_user, start,
                      length, ts);
            g_free(u);
        }
        break;
    case AM_PLAIN: {
        /* authzid \0 authcid \0 passwd */
        size_t zl = 0, cl = 0, pl = 0;
        const char *z = nth_field((const char *)v, n, '\0', 0, &zl);
        const char *c = nth_field((const char *)v, n, '\0', 1, &cl);
        const char *pw = nth_field((const char *)v, n, '\0', 2, &pl);
        if (c && pw) {
            char *u = sanitize_dup(cl ? c : z, cl ? cl : zl);
            set_username(s, u);
            emit_step(s, SMTPCAP_DIR_CLIENT, SMTPCAP_AUTH_STEP_USERNAME, u, line_secret, start,
                      length, ts);
            emit_secret(s, SMTPCAP_AUTH_STEP_PASSWORD, (const guint8 *)pw, pl, NULL, start,
                        length, ts);
            g_free(u);
        } else {
            anomaly(s, SMTPCAP_DIR_CLIENT, SMTPCAP_ANOMALY_BAD_BASE64,
                    "AUTH PLAIN response is not authzid\\0authcid\\0password");
            emit_secret(s, SMTPCAP_AUTH_STEP_RESPONSE, v, n, line_secret, start, length, ts);
        }
        break;
    }
    case AM_CRAM_MD5: {
        /* "user hexdigest": the digest can be attacked offline, so it counts as a secret. */
        const char *sp = memrchr(v, ' ', n);
        char *u = sanitize_dup((const char *)v, sp ? (size_t)(sp - (const char *)v) : n);
        set_username(s, u);
        emit_step(s, SMTPCAP_DIR_CLIENT, SMTPCAP_AUTH_STEP_USERNAME, u, line_secret, start, length,
                  ts);
        if (sp)
            emit_secret(s, SMTPCAP_AUTH_STEP_RESPONSE, (const guint8 *)sp + 1,
                        n - (size_t)((const char *)sp + 1 - (const char *)v), NULL, start, length, ts);
        g_free(u);
        break;
    }
    case AM_XOAUTH2:
    case AM_OAUTHBEARER: {
        char *u = NULL;
        if (st->mech == AM_XOAUTH2) {
            u = oauth_field((const char *)v, n, "user=");
        } else {
            /* gs2 header "n,a=user@example.com," then \x01-separated key=value pairs */
            size_t fl;
            const char *f = nth_field((const char *)v, n, ',', 1, &fl);
            if (f && fl > 2 && f[0] == 'a' && f[1] == '=') u = sanitize_dup(f + 2, fl - 2);
        }
        char *tok = oauth_field((const char *)v, n, "auth=");
        if (u) {
            set_username(s, u);
            emit_step(s, SMTPCAP_DIR_CLIENT, SMTPCAP_AUTH_STEP_USERNAME, u, line_secret, start,
                      length, ts);
            line_secret = NULL;
        }
        if (tok || !u)
            emit_secret(s, SMTPCAP_AUTH_STEP_PASSWORD, tok ? (const guint8 *)tok : v,
                        tok ? strlen(tok) : n, line_secret, start, length, ts);
        g_free(u);
        g_free(tok);
        break;
    }
    default:
        emit_secret(s, SMTPCAP_AUTH_STEP_RESPONSE, v, n, line_secret, start, length, ts);
        break;
    }
    g_free(v);
    g_free(raw);
}

void auth_emit_initial(smtpcap_session *s, const char *arg, uint64_t start, uint64_t length,
                       int64_t ts)
{
    const char *ir = arg + strcspn(arg, " ");
    while (*ir == ' ') ir++;
    if (*ir) client_value(s, ir, strcspn(ir, " "), true, start, length, ts);
}

void auth_on_client_line(smtpcap_session *s, const char *line, size_t len, uint64_t start,
                         uint64_t length, int64_t ts)
{
    s->stage = SMTPCAP_STAGE_AUTH;
    client_value(s, line, len, false, start, length, ts);
}

void auth_begin_unseen(smtpcap_session *s, const char *prompt)
{
    auth_state *st = &s->auth;
    memset(st, 0, sizeof *st);
    st->active = true;
    char *low = prompt ? g_ascii_strdown(prompt, -1) : g_strdup("");
    bool login = strstr(low, "user") || strstr(low, "pass");
    st->mech = login ? AM_LOGIN : AM_OTHER;
    g_strlcpy(st->mech_name, login ? "LOGIN" : "(unknown)", sizeof st->mech_name);
    /* Seen from "Password:" on, the next value is the password. */
    if (login && strstr(low, "pass")) st->values = 1;
    g_free(low);
    st->attempt = -1;
    if (s->auths->len < MAX_AUTH_ATTEMPTS) {
        auth_rec a = { .mechanism = g_strdup(st->mech_name) };
        g_array_append_val(s->auths, a);
        st->attempt = (int)s->auths->len - 1;
    }
}

char *auth_prompt_decoded(const char *text)
{
    size_t n = 0, tl = strlen(text);
    guint8 *v = tl ? b64_decode(text, tl, &n) : (guint8 *)g_strdup("");
    if (!v) return NULL;
    char *d = sanitize_dup((const char *)v, n);
    g_free(v);
    return d;
}

void auth_on_prompt(smtpcap_session *s, const char *text, uint64_t start, uint64_t length,
                    int64_t ts)
{
    auth_state *st = &s->auth;
    st->prompts++;
    size_t n = 0, tl = strlen(text);
    guint8 *v = tl ? b64_decode(text, tl, &n) : (guint8 *)g_strdup("");
    char *decoded = v ? sanitize_dup((const char *)v, n) : g_strdup(text);
    if (st->mech == AM_LOGIN) {
        char *low = g_ascii_strdown(decoded, -1);
        if (strstr(low, "pass"))
            st->expect_password = true;
        else if (strstr(low, "user"))
            st->expect_password = false;
        else
            st->expect_password = st->prompts >= 2;
        g_free(low);
    }
    emit_step(s, SMTPCAP_DIR_SERVER, SMTPCAP_AUTH_STEP_PROMPT, decoded, NULL, start, length, ts);
    g_free(decoded);
    g_free(v);
}

void auth_on_result(smtpcap_session *s, int code, const char *enhanced, uint64_t start,
                    uint64_t length, int64_t ts)
{
    auth_state *st = &s->auth;
    smtpcap_auth_result r;
    if (st->cancelled && code >= 400)
        r = SMTPCAP_AUTH_CANCELLED;
    else if (code >= 200 && code < 300)
        r = SMTPCAP_AUTH_SUCCESS;
    else if (code >= 400)
        r = SMTPCAP_AUTH_FAILURE;
    else
        r = SMTPCAP_AUTH_UNKNOWN;
    auth_rec *a = attempt(s);
    if (a) {
        a->result = r;
        a->code = code;
        copy_enh(a->enhanced, enhanced);
    }
    emit_step(s, SMTPCAP_DIR_SERVER, SMTPCAP_AUTH_STEP_RESULT, smtpcap_auth_result_name(r), NULL,
              start, length, ts);
    st->active = false;
}
