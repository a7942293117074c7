/* SMTP recognition for connections on ports not known for SMTP. */
#include <string.h>

#include "codes.h"
#include "internal.h"

static bool has_word_ci(const uint8_t *p, size_t n, const char *w)
{
    size_t wl = strlen(w);
    for (size_t i = 0; i + wl <= n; i++)
        if (g_ascii_strncasecmp((const char *)p + i, w, wl) == 0) return true;
    return false;
}

/* The client's first line opens an SMTP session (or continues one, seen from the middle). */
static bool client_opener(const uint8_t *p, size_t n)
{
    static const char *const openers[] = { "EHLO ", "HELO ", "LHLO ", "EHLO\r", "HELO\r",
                                           "MAIL FROM:", "RCPT TO:" };
    for (size_t i = 0; i < G_N_ELEMENTS(openers); i++)
        if (ascii_prefix_ci((const char *)p, n, openers[i])) return true;
    /* Seen from the middle: "AUTH <SASL mechanism>". FTP's "AUTH TLS"/"AUTH SSL" are not SMTP,
     * and POP3's "AUTH PLAIN" is told apart by its "+OK" replies (not digits). */
    if (ascii_prefix_ci((const char *)p, n, "AUTH ") && !ascii_prefix_ci((const char *)p, n, "AUTH TLS") &&
        !ascii_prefix_ci((const char *)p, n, "AUTH SSL"))
        return true;
    return false;
}

static bool reply_line(const uint8_t *p, size_t n)
{
    return n >= 4 && p[0] >= '2' && p[0] <= '5' && g_ascii_isdigit(p[1]) &&
           g_ascii_isdigit(p[2]) && (p[3] == ' ' || p[3] == '-');
}

smtpcap_detect_result smtpcap_detect(const uint8_t *client, size_t cn, const uint8_t *server,
                                     size_t sn, bool final)
{
    /* An SMTP client line starts with a letter, a reply with a digit: anything else (TLS,
     * binary protocols) is decided at the first byte, so nothing is held for it. */
    if ((cn && !g_ascii_isalpha(client[0])) || (sn && !g_ascii_isdigit(server[0])))
        return SMTPCAP_DETECT_NO;
    const uint8_t *clf = cn ? memchr(client, '\n', cn) : NULL;
    const uint8_t *slf = sn ? memchr(server, '\n', sn) : NULL;
    size_t cl = clf ? (size_t)(clf - client) : cn;
    size_t sl = slf ? (size_t)(slf - server) : sn;

    if (cn && (clf || final || cn >= 10)) {
        if (client_opener(client, cl)) return SMTPCAP_DETECT_YES;
        if (clf || final || cn > SMTPCAP_DETECT_MAX) return SMTPCAP_DETECT_NO;
    }
    if (sn && (slf || final)) {
        if (!reply_line(server, sl)) return SMTPCAP_DETECT_NO;
        /* "SMTP" in the banner, or an RFC 3463 code (FTP also greets with 220/421, but
         * never with an enhanced status code). */
        int c, sj, dt;
        if (has_word_ci(server, sl, "SMTP") ||
            codes_parse_enhanced((const char *)server + 4, sl - 4, &c, &sj, &dt) > 0)
            return SMTPCAP_DETECT_YES;
    }
    if (sn > SMTPCAP_DETECT_MAX && !slf) return SMTPCAP_DETECT_NO;
    return final ? SMTPCAP_DETECT_NO : SMTPCAP_DETECT_MORE;
}
