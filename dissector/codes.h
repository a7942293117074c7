/* smtpcap — reply-code knowledge: what SMTP reply codes and enhanced status codes mean.
 *
 * Internal to the decoder. Everything here is pure: no allocation, no global state, safe to
 * call from any thread. Strings returned are static; codes_describe writes into the caller's
 * buffer.
 *
 * Sources: RFC 5321 (basic reply codes), RFC 3463 and the IANA "SMTP Enhanced Status Codes"
 * registry (with the codes added by RFC 3886, 4468, 4954, 5248, 6531, 6710, 7293, 7372, 7505,
 * 8617, 8689), RFC 3207 (454 to STARTTLS), RFC 4954 (AUTH replies), RFC 7504 (521, 556),
 * RFC 1985 (ETRN replies).
 */
#ifndef SMTPCAP_CODES_H
#define SMTPCAP_CODES_H

#include <smtpcap/decoder.h>

/* Parses an RFC 3463 enhanced status code at the start of text[0..len), e.g. the "5.1.1" of
 * "5.1.1 User unknown": class 2, 4 or 5, then '.', subject (1-3 digits), '.', detail (1-3
 * digits), followed by the end of the buffer, a NUL, a space, a tab, CR or LF. text need not
 * be NUL-terminated. Returns the length of the code in bytes (5 for "5.1.1") and stores the
 * three numbers; returns 0 when text does not start with a code, and then stores -1 in each.
 * Any of cls, subject, detail may be NULL. */
size_t codes_parse_enhanced(const char *text, size_t len, int *cls, int *subject, int *detail);

/* Meaning of cls.subject.detail from the IANA registry, in plain lower-case English, e.g.
 * (5, 1, 1) -> "bad destination mailbox address". A detail the registry does not list gives
 * the subject's generic meaning (X.1.99 -> "addressing status"). X.0.0 gives the class
 * meaning ("permanent failure, no further detail"). NULL when cls is not 2, 4 or 5, or the
 * subject is not 0-7 or the detail is negative. */
const char *codes_enhanced_meaning(int cls, int subject, int detail);

/* Meaning of a basic reply code (RFC 5321; RFC 4954 for 235/334/432/454/500/530/534/535/538;
 * RFC 7504 for 521/556; RFC 1985 for 253/458/459), e.g. 550 -> "mailbox unavailable (not
 * found, no access, or refused by policy)". Unlisted codes get their class meaning
 * (e.g. 599 -> "permanent failure"). Never NULL for 100..599; NULL outside that range. */
const char *codes_reply_meaning(int code);

/* Writes the annotation shown next to a reply in a transcript into buf (at most n bytes,
 * always NUL-terminated when n > 0) and returns its strlen. Shapes:
 *   success:  "sender accepted", "AUTH succeeded", "greeting: service ready", ...
 *   failure:  "<what> <result>: <meaning>[ (<registry meaning of the enhanced code>)]"
 *             e.g. "RCPT rejected: no such user (bad destination mailbox address)".
 *             <meaning> is a short wording of the recognised cause, else the registry meaning
 *             of the enhanced code, else the basic code's meaning. Registry meanings that say
 *             nothing ("other or undefined ...", X.n.0, unregistered details) are not shown.
 * <what> is the command the reply answers ("greeting" at CONNECT, "message" for the reply to
 * the end of the data). <result> is "rejected" for 5xx ("failed" at AUTH, "refused" at CONNECT
 * and STARTTLS) and "temporarily refused" for 4xx ("temporarily failed" at AUTH).
 *   stage        the stage of the command answered (SMTPCAP_STAGE_CONNECT for the greeting)
 *   end_of_data  true for the reply to the final "." of DATA or to BDAT ... LAST
 *   code         the basic reply code (100..599; anything else is described as invalid)
 *   cls, subject, detail  the enhanced code, or cls < 0 when the reply carries none
 *   text         the reply text (lines joined, without codes) or NULL; a few well-known
 *                phrases in it refine the meaning ("Relay access denied", "Greylisted", SPF,
 *                DKIM, DMARC, spam, blocklists, quota, rate limits, ...). */
size_t codes_describe(char *buf, size_t n, smtpcap_stage stage, bool end_of_data, int code,
                      int cls, int subject, int detail, const char *text);

/* A plain-language hint for a session's verdict when this reply is the step that broke: what
 * it means for the user, what to fix, and whether retrying can help, e.g. 535 5.7.8 at AUTH ->
 * "the server rejected the username or password: fix the credentials; retrying will not help".
 * Arguments as for codes_describe. The permanence follows the basic code (4xx temporary, 5xx
 * permanent), the cause the enhanced code, the text and the stage. Every hint says whether
 * retrying helps (each contains "retry", "retries" or "retrying"). For 2xx/3xx replies it says
 * that nothing failed. Never NULL. */
const char *codes_hint(smtpcap_stage stage, bool end_of_data, int code, int cls, int subject,
                       int detail, const char *text);

#endif
