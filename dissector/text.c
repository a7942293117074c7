/* Text helpers of the decoder: strict base64, UTF-8 sanitising, enum names.
 *
 * Every string the decoder hands out is valid UTF-8 without control characters (TAB kept),
 * whatever bytes arrived: front ends can print or JSON-escape it without re-checking. */
#include <string.h>

#include "internal.h"

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

guint8 *b64_decode(const char *in, size_t len, size_t *outlen)
{
    /* Trailing whitespace is tolerated; anything else that is not base64 is refused. */
    while (len > 0 && (in[len - 1] == ' ' || in[len - 1] == '\t')) len--;
    size_t pad = 0;
    while (len > 0 && in[len - 1] == '=' && pad < 2) { len--; pad++; }
    if (len % 4 == 1) return NULL;
    guint8 *out = g_malloc(len / 4 * 3 + 3 + 1);
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64_value((unsigned char)in[i]);
        if (v < 0) { g_free(out); return NULL; }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (guint8)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    out[o] = 0;
    *outlen = o;
    return out;
}

/* Length of a valid UTF-8 sequence at p (max n bytes), 0 if invalid. Refuses overlongs,
 * surrogates and code points above U+10FFFF. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
    unsigned char c = p[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) { len = 2; cp = c & 0x1F; }
    else if (c >= 0xE0 && c <= 0xEF) { len = 3; cp = c & 0x0F; }
    else if (c >= 0xF0 && c <= 0xF4) { len = 4; cp = c & 0x07; }
    else return 0;
    if (n < len) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        return 0;
    return len;
}

void sanitize_append(GString *out, const char *p, size_t n)
{
    const unsigned char *u = (const unsigned char *)p;
    size_t i = 0;
    while (i < n) {
        size_t run = i;
        /* fast path: printable ASCII */
        while (run < n && u[run] >= 0x20 && u[run] < 0x7f) run++;
        if (run > i) { g_string_append_len(out, p + i, (gssize)(run - i)); i = run; continue; }
        unsigned char c = u[i];
        if (c == '\t') { g_string_append_c(out, '\t'); i++; continue; }
        size_t l = c >= 0x80 ? utf8_seq(u + i, n - i) : 0;
        if (l > 0) { g_string_append_len(out, p + i, (gssize)l); i += l; continue; }
        g_string_append_printf(out, "\\x%02X", c);
        i++;
    }
}

char *sanitize_dup(const char *p, size_t n)
{
    GString *g = g_string_sized_new(n + 1);
    sanitize_append(g, p, n);
    return g_string_free(g, FALSE);
}

char *strip_brackets_dup(const char *a, size_t n)
{
    while (n > 0 && (*a == ' ' || *a == '\t')) { a++; n--; }
    if (n > 0 && *a == '<') {
        const char *close = memchr(a, '>', n);
        if (close) return sanitize_dup(a + 1, (size_t)(close - a - 1));
        return sanitize_dup(a + 1, n - 1);
    }
    /* No brackets (lenient servers accept "MAIL FROM: a@b"): up to the first space. */
    const char *sp = memchr(a, ' ', n);
    return sanitize_dup(a, sp ? (size_t)(sp - a) : n);
}

void utf8_strlcpy(char *dst, const char *src, size_t size)
{
    size_t n = g_strlcpy(dst, src, size);
    /* never leave half a UTF-8 sequence at the cut */
    const char *end;
    if (!g_utf8_validate(dst, -1, &end)) *(char *)end = 0;
    /* nor half of a "\xNN" escape */
    if (n >= size) {
        size_t l = strlen(dst);
        for (size_t k = 1; k <= 3 && k <= l; k++)
            if (dst[l - k] == '\\') { dst[l - k] = 0; break; }
    }
}

char *dup_capped(const char *src, size_t max)
{
    if (!src) return NULL;
    size_t n = strlen(src);
    if (n <= max) return g_strdup(src);
    char *d = g_malloc(max + 4);
    utf8_strlcpy(d, src, max + 1);
    strcat(d, "...");
    return d;
}

void copy_enh(char dst[SMTPCAP_ENHANCED_MAX], const char *src)
{
    if (!src) { dst[0] = 0; return; }
    g_strlcpy(dst, src, SMTPCAP_ENHANCED_MAX);
}

bool ascii_prefix_ci(const char *s, size_t n, const char *prefix)
{
    size_t pl = strlen(prefix);
    return n >= pl && g_ascii_strncasecmp(s, prefix, pl) == 0;
}

/* ---- names ---- */

#define SMTPCAP_X_NAME(id, name) name,
static const char *const stage_names[] = { SMTPCAP_STAGES(SMTPCAP_X_NAME) };
#undef SMTPCAP_X_NAME

const char *smtpcap_stage_name(smtpcap_stage st)
{
    return (unsigned)st < SMTPCAP_STAGE_COUNT ? stage_names[st] : "";
}

const char *smtpcap_outcome_name(smtpcap_outcome_status st)
{
    static const char *const n[] = { "no_mail", "delivered", "partial", "failed",
                                     "tempfail", "incomplete", "encrypted" };
    return (unsigned)st < G_N_ELEMENTS(n) ? n[st] : "unknown";
}

const char *smtpcap_msg_status_name(smtpcap_msg_status st)
{
    static const char *const n[] = { "incomplete", "accepted", "rejected", "tempfail", "aborted" };
    return (unsigned)st < G_N_ELEMENTS(n) ? n[st] : "unknown";
}

const char *smtpcap_auth_result_name(smtpcap_auth_result r)
{
    static const char *const n[] = { "unknown", "success", "failure", "cancelled" };
    return (unsigned)r < G_N_ELEMENTS(n) ? n[r] : "unknown";
}

const char *smtpcap_auth_step_name(smtpcap_auth_step st)
{
    static const char *const n[] = { "prompt", "username", "password", "response", "result" };
    return (unsigned)st < G_N_ELEMENTS(n) ? n[st] : "unknown";
}

const char *smtpcap_tls_mode_name(smtpcap_tls_mode m)
{
    static const char *const n[] = { "none", "starttls", "implicit" };
    return (unsigned)m < G_N_ELEMENTS(n) ? n[m] : "none";
}

const char *smtpcap_end_reason_name(smtpcap_end_reason r)
{
    static const char *const n[] = { "closed", "reset", "timeout", "evicted", "capture ended" };
    return (unsigned)r < G_N_ELEMENTS(n) ? n[r] : "unknown";
}

const char *smtpcap_strerror(smtpcap_status st)
{
    switch (st) {
    case SMTPCAP_OK: return "success";
    case SMTPCAP_FINISHED: return "session already finished";
    case SMTPCAP_EINVAL: return "invalid argument";
    }
    return "unknown status";
}

const char *smtpcap_version(void)
{
#ifdef SMTPCAP_VERSION
    return SMTPCAP_VERSION;
#else
    return "unknown";
#endif
}
