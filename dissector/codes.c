/* smtpcap — reply-code knowledge: basic reply codes (RFC 5321 and extensions), enhanced
 * status codes (RFC 3463 and the IANA registry), transcript annotations and verdict hints.
 *
 * How a failure is explained: classify() reduces (stage, code, enhanced code, text) to one
 * cause from a table; the table holds the short wording for the transcript and the hint for
 * the verdict, one for a temporary (4xx) and one for a permanent (5xx) reply. Evidence is
 * weighed in this order, most precise first:
 *   1. the greeting stage (421/554 before any command mean the connection itself),
 *   2. a specific enhanced code (5.1.1, 5.7.8, 4.2.2, ...),
 *   3. well-known phrases in the reply text ("Relay access denied", "Greylisted", ...),
 *   4. the catch-all policy code X.7.1,
 *   5. the basic code in the context of the stage (535 at AUTH, 552 at DATA, ...),
 *   6. the enhanced code's subject (X.2.x is about the mailbox, ...).
 * Specific codes beat text because real servers put misleading words in their text: postfix
 * says "550 5.1.1 ... User unknown in relay recipient table", which is not a relay refusal.
 * Generic codes lose to text because X.7.1 and X.7.0 are what most servers use for
 * everything from greylisting to blocklists, and only the text tells them apart.
 */
#include "codes.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- enhanced status codes ---------------------------------------------------------------- */

size_t codes_parse_enhanced(const char *text, size_t len, int *cls, int *subject, int *detail)
{
    int num[3] = {-1, -1, -1};
    size_t i = 0;

    if (cls) *cls = -1;
    if (subject) *subject = -1;
    if (detail) *detail = -1;
    if (!text || len < 5) return 0;
    if (text[0] != '2' && text[0] != '4' && text[0] != '5') return 0;
    num[0] = text[0] - '0';
    i = 1;
    for (int part = 1; part <= 2; part++) {
        size_t digits = 0;
        int v = 0;
        if (i >= len || text[i] != '.') return 0;
        i++;
        while (i < len && isdigit((unsigned char)text[i]) && digits < 4) {
            v = v * 10 + (text[i] - '0');
            digits++;
            i++;
        }
        if (digits == 0 || digits > 3) return 0; /* RFC 3463: 1*3digit */
        num[part] = v;
    }
    if (i < len && text[i] != ' ' && text[i] != '\t' && text[i] != '\r' && text[i] != '\n' &&
        text[i] != '\0')
        return 0;
    if (cls) *cls = num[0];
    if (subject) *subject = num[1];
    if (detail) *detail = num[2];
    return i;
}

typedef struct {
    unsigned char subject, detail;
    const char *meaning;
} enhanced_entry;

/* The IANA "SMTP Enhanced Status Codes" registry, subject.detail, sorted (bsearch relies on
 * it; a test checks the order). Wording is ours; the facts are the registry's. */
static const enhanced_entry enhanced_table[] = {
    /* X.0.0 is answered by class in codes_enhanced_meaning. */
    /* X.1: addressing (RFC 3463; X.1.9 RFC 3886; X.1.10 RFC 7505) */
    {1, 0, "other address status"},
    {1, 1, "bad destination mailbox address"},
    {1, 2, "bad destination system address"},
    {1, 3, "bad destination mailbox address syntax"},
    {1, 4, "destination mailbox address ambiguous"},
    {1, 5, "destination address valid"},
    {1, 6, "destination mailbox has moved, no forwarding address"},
    {1, 7, "bad sender mailbox address syntax"},
    {1, 8, "bad sender system address"},
    {1, 9, "message relayed to a non-compliant mailer"},
    {1, 10, "recipient address has a null MX"},
    /* X.2: mailbox (RFC 3463) */
    {2, 0, "other or undefined mailbox status"},
    {2, 1, "mailbox disabled, not accepting messages"},
    {2, 2, "mailbox full"},
    {2, 3, "message length exceeds an administrative limit"},
    {2, 4, "mailing list expansion problem"},
    /* X.3: mail system (RFC 3463; X.3.6 RFC 6710) */
    {3, 0, "other or undefined mail system status"},
    {3, 1, "mail system full"},
    {3, 2, "system not accepting network messages"},
    {3, 3, "system not capable of the selected features"},
    {3, 4, "message too big for the system"},
    {3, 5, "system incorrectly configured"},
    {3, 6, "requested priority was changed"},
    /* X.4: network and routing (RFC 3463) */
    {4, 0, "other or undefined network or routing status"},
    {4, 1, "no answer from host"},
    {4, 2, "bad connection"},
    {4, 3, "directory server failure"},
    {4, 4, "unable to route"},
    {4, 5, "mail system congestion"},
    {4, 6, "routing loop detected"},
    {4, 7, "delivery time expired"},
    /* X.5: mail delivery protocol (RFC 3463; X.5.6 RFC 4954) */
    {5, 0, "other or undefined protocol status"},
    {5, 1, "invalid command"},
    {5, 2, "syntax error"},
    {5, 3, "too many recipients"},
    {5, 4, "invalid command arguments"},
    {5, 5, "wrong protocol version"},
    {5, 6, "authentication exchange line too long"},
    /* X.6: message content or media (RFC 3463; X.6.6 RFC 4468; X.6.7-X.6.10 RFC 6531) */
    {6, 0, "other or undefined media error"},
    {6, 1, "media not supported"},
    {6, 2, "conversion required and prohibited"},
    {6, 3, "conversion required but not supported"},
    {6, 4, "conversion with loss performed"},
    {6, 5, "conversion failed"},
    {6, 6, "message content not available"},
    {6, 7, "non-ASCII addresses not permitted for that sender or recipient"},
    {6, 8, "UTF-8 string reply required, but not permitted by the client"},
    {6, 9, "UTF-8 header message cannot be transferred to one or more recipients"},
    {6, 10, "UTF-8 string reply required, but not permitted by the client (same as X.6.8)"},
    /* X.7: security or policy (RFC 3463; X.7.8-X.7.12 RFC 4954/5248; X.7.13-X.7.14 RFC 5248;
     * X.7.15-X.7.16 RFC 6710; X.7.17-X.7.19 RFC 7293; X.7.20-X.7.26 RFC 7372; X.7.27 RFC 7505;
     * X.7.28 mail flood; X.7.29 RFC 8617 ARC; X.7.30 RFC 8689 REQUIRETLS) */
    {7, 0, "other or undefined security status"},
    {7, 1, "delivery not authorized, message refused"},
    {7, 2, "mailing list expansion prohibited"},
    {7, 3, "security conversion required but not possible"},
    {7, 4, "security features not supported"},
    {7, 5, "cryptographic failure"},
    {7, 6, "cryptographic algorithm not supported"},
    {7, 7, "message integrity failure"},
    {7, 8, "authentication credentials invalid"},
    {7, 9, "authentication mechanism is too weak"},
    {7, 10, "encryption needed"},
    {7, 11, "encryption required for the requested authentication mechanism"},
    {7, 12, "a password transition is needed"},
    {7, 13, "user account disabled"},
    {7, 14, "trust relationship required"},
    {7, 15, "priority level is too low"},
    {7, 16, "message is too big for the specified priority"},
    {7, 17, "mailbox owner has changed"},
    {7, 18, "domain owner has changed"},
    {7, 19, "RRVS test cannot be completed"},
    {7, 20, "no passing DKIM signature found"},
    {7, 21, "no acceptable DKIM signature found"},
    {7, 22, "no valid author-matched DKIM signature found"},
    {7, 23, "SPF validation failed"},
    {7, 24, "SPF validation error"},
    {7, 25, "reverse DNS validation failed"},
    {7, 26, "multiple authentication checks failed"},
    {7, 27, "sender address has a null MX"},
    {7, 28, "mail flood detected"},
    {7, 29, "ARC validation failure"},
    {7, 30, "REQUIRETLS support required"},
};

static const char *const subject_meaning[8] = {
    "other or undefined status",     "addressing status",
    "mailbox status",                "mail system status",
    "network and routing status",    "mail delivery protocol status",
    "message content or media status", "security or policy status",
};

static int enhanced_cmp(const void *key, const void *elem)
{
    const enhanced_entry *a = key, *b = elem;
    if (a->subject != b->subject) return a->subject < b->subject ? -1 : 1;
    if (a->detail != b->detail) return a->detail < b->detail ? -1 : 1;
    return 0;
}

const char *codes_enhanced_meaning(int cls, int subject, int detail)
{
    if (cls != 2 && cls != 4 && cls != 5) return NULL;
    if (subject < 0 || subject > 7 || detail < 0) return NULL;
    if (subject == 0 && detail == 0) {
        /* "Other undefined status": only the class is known. */
        return cls == 2   ? "success, no further detail"
               : cls == 4 ? "temporary failure, no further detail"
                          : "permanent failure, no further detail";
    }
    if (detail <= 255) {
        enhanced_entry key = {(unsigned char)subject, (unsigned char)detail, NULL};
        const enhanced_entry *e =
            bsearch(&key, enhanced_table, sizeof enhanced_table / sizeof enhanced_table[0],
                    sizeof enhanced_table[0], enhanced_cmp);
        if (e) return e->meaning;
    }
    return subject_meaning[subject];
}

/* ---- basic reply codes -------------------------------------------------------------------- */

typedef struct {
    int code;
    const char *meaning;
} reply_entry;

/* Sorted by code (bsearch). */
static const reply_entry reply_table[] = {
    {211, "system status or help reply"},
    {214, "help message"},
    {220, "service ready"},
    {221, "service closing the connection"},
    {235, "authentication succeeded"},
    {250, "requested action completed"},
    {251, "user not local; the server will forward the message"},
    {252, "cannot verify the user, but will accept the message and try to deliver it"},
    {253, "pending messages for the node started (ETRN)"},
    {334, "authentication challenge: the server waits for the client's response"},
    {354, "start mail input; end with <CRLF>.<CRLF>"},
    {421, "service not available, closing the connection"},
    {432, "a password transition is needed"},
    {450, "mailbox unavailable (busy or temporarily blocked)"},
    {451, "local error in processing"},
    {452, "insufficient system storage"},
    {454, "temporary failure: TLS not available, or authentication failed temporarily"},
    {455, "server unable to accommodate the parameters"},
    {458, "unable to queue messages for the node (ETRN)"},
    {459, "node not allowed (ETRN)"},
    {500, "syntax error, command not recognized"},
    {501, "syntax error in parameters or arguments"},
    {502, "command not implemented"},
    {503, "bad sequence of commands"},
    {504, "command parameter not implemented"},
    {521, "host does not accept mail"},
    {523, "encryption needed"},
    {530, "authentication required"},
    {534, "authentication mechanism is too weak"},
    {535, "authentication credentials invalid"},
    {538, "encryption required for the requested authentication mechanism"},
    {550, "mailbox unavailable (not found, no access, or refused by policy)"},
    {551, "user not local; try the address the server suggests"},
    {552, "exceeded storage allocation"},
    {553, "mailbox name not allowed"},
    {554, "transaction failed (at connection time: no SMTP service here)"},
    {555, "MAIL FROM/RCPT TO parameters not recognized or not implemented"},
    {556, "domain does not accept mail"},
};

static int reply_cmp(const void *key, const void *elem)
{
    const reply_entry *a = key, *b = elem;
    return (a->code > b->code) - (a->code < b->code);
}

const char *codes_reply_meaning(int code)
{
    static const char *const class_meaning[] = {
        "positive preliminary reply (not used by SMTP)",
        "success",
        "intermediate: the server needs more input",
        "temporary failure",
        "permanent failure",
    };
    reply_entry key = {code, NULL};
    const reply_entry *e;

    if (code < 100 || code > 599) return NULL;
    e = bsearch(&key, reply_table, sizeof reply_table / sizeof reply_table[0],
                sizeof reply_table[0], reply_cmp);
    return e ? e->meaning : class_meaning[code / 100 - 1];
}

/* ---- causes: transcript wording and verdict hints ---------------------------------------- */

typedef enum {
    C_GENERIC, /* nothing more specific known */
    C_OK,
    C_CONTINUE,
    C_INVALID,
    C_CONNECT_TEMP,
    C_CONNECT_REFUSED,
    C_CLOSING,
    C_TOO_MANY_ERRORS,
    C_BAD_HELO,
    C_EHLO_UNSUPPORTED,
    C_STARTTLS_UNAVAILABLE,
    C_STARTTLS_REQUIRED,
    C_ENCRYPTION_REQUIRED,
    C_AUTH_REQUIRED,
    C_BAD_CREDENTIALS,
    C_AUTH_TEMP,
    C_AUTH_MECH_WEAK,
    C_AUTH_MECH_UNSUPPORTED,
    C_AUTH_CANCELLED,
    C_AUTH_LINE_TOO_LONG,
    C_PASSWORD_TRANSITION,
    C_ACCOUNT_DISABLED,
    C_TRUST_REQUIRED,
    C_NO_SUCH_USER,
    C_NO_SUCH_USER_MISCODED, /* the enhanced code claims something else: don't show it */
    C_BAD_DEST_SYSTEM,
    C_BAD_ADDRESS_SYNTAX,
    C_ADDRESS_NOT_ALLOWED,
    C_AMBIGUOUS,
    C_MAILBOX_MOVED,
    C_USER_NOT_LOCAL,
    C_BAD_SENDER,
    C_SENDER_NOT_OWNED,
    C_NULL_MX_RECIPIENT,
    C_NULL_MX_SENDER,
    C_HOST_NO_MAIL,
    C_ADDRESS_GENERIC,
    C_MAILBOX_UNAVAILABLE,
    C_MAILBOX_DISABLED,
    C_MAILBOX_FULL,
    C_MESSAGE_TOO_BIG,
    C_LIST_EXPANSION,
    C_SYSTEM_FULL,
    C_NOT_ACCEPTING,
    C_FEATURE_UNSUPPORTED,
    C_MISCONFIGURED,
    C_SYSTEM_GENERIC,
    C_LOCAL_ERROR,
    C_ROUTING,
    C_CONGESTION,
    C_LOOP,
    C_TOO_MANY_RECIPIENTS,
    C_BAD_SEQUENCE,
    C_SYNTAX,
    C_NOT_IMPLEMENTED,
    C_NO_VALID_RECIPIENTS,
    C_TRANSACTION_FAILED,
    C_MEDIA,
    C_SMTPUTF8,
    C_RELAY_DENIED,
    C_GREYLIST,
    C_GREYLIST_LIKELY,
    C_POLICY,
    C_BLOCKLIST,
    C_SPAM,
    C_SPF,
    C_SPF_ERROR,
    C_DKIM,
    C_DMARC,
    C_MULTI_AUTH,
    C_REVERSE_DNS,
    C_RATE_LIMIT,
    C_SECURITY,
    C_PRIORITY,
    C_OWNER_CHANGED,
    C_ARC,
    C_REQUIRETLS,
    C_COUNT
} cause;

typedef struct {
    /* Short wording after "<what> <result>: "; NULL: use the enhanced code's registry meaning,
     * else the basic code's meaning. */
    const char *phrase;
    /* Append the enhanced code's registry meaning in parentheses after phrase, when the phrase
     * is informal enough that the registry wording adds something. */
    bool registry;
    /* Verdict hints for a 4xx and a 5xx reply; NULL: the generic one of that class. */
    const char *hint_temp, *hint_perm;
} cause_info;

static const char HINT_GENERIC_TEMP[] =
    "the server reported a temporary problem: retrying later may help";
static const char HINT_GENERIC_PERM[] =
    "the server refused this permanently: retrying will not help until the cause named in the "
    "server's reply is fixed";

static const char HINT_NO_SUCH_USER_TEMP[] =
    "the server could not confirm the recipient address right now: retrying later may help; if "
    "it persists, check the address";
static const char HINT_NO_SUCH_USER_PERM[] =
    "the recipient address does not exist on that server: check the address for typos; "
    "retrying will not help";

static const cause_info causes[C_COUNT] = {
    [C_GENERIC] = {NULL, false, NULL, NULL},
    [C_OK] = {NULL, false, "not a failure: the server accepted this step; nothing to retry",
              "not a failure: the server accepted this step; nothing to retry"},
    [C_CONTINUE] = {NULL, false,
                    "not a failure: the server is waiting for the client to go on; nothing to "
                    "retry",
                    "not a failure: the server is waiting for the client to go on; nothing to "
                    "retry"},
    [C_INVALID] = {NULL, false,
                   "not a valid SMTP reply code: the server (or the capture) is broken; "
                   "retrying is unlikely to help",
                   "not a valid SMTP reply code: the server (or the capture) is broken; "
                   "retrying is unlikely to help"},
    [C_CONNECT_TEMP] = {"service not available, try again later", true,
                        "the server is not accepting connections right now: retry later", NULL},
    [C_CONNECT_REFUSED] = {"no SMTP service here (often the client's IP is blocked)", true,
                           "the server is not accepting connections right now: retry later",
                           "the server refused the connection outright (often a blocklist of "
                           "the client's IP): retrying will not help until the cause is fixed"},
    [C_CLOSING] = {NULL, false,
                   "the server is closing the connection (busy, shutting down, or too many "
                   "connections): retry later",
                   NULL},
    [C_TOO_MANY_ERRORS] = {"too many errors, closing the connection", false,
                           "the server gave up after too many errors from the client: fix the "
                           "earlier errors in this session; retrying helps only once they are "
                           "fixed",
                           "the server gave up after too many errors from the client: fix the "
                           "earlier errors in this session; retrying helps only once they are "
                           "fixed"},
    [C_BAD_HELO] = {"the server refused the client's host name", true,
                    "the server temporarily refused the client's EHLO/HELO: retrying later may "
                    "help; if it persists, make the client send its real, fully qualified host "
                    "name",
                    "the server refused the host name the client gave in EHLO/HELO: configure "
                    "the client to send its real, fully qualified host name; retrying will not "
                    "help"},
    [C_EHLO_UNSUPPORTED] = {"EHLO not supported", true, NULL,
                            "the server does not understand EHLO: the client should fall back "
                            "to HELO (without extensions such as AUTH and STARTTLS); retrying "
                            "EHLO will not help"},
    [C_STARTTLS_UNAVAILABLE] = {"TLS not available", true,
                                "the server cannot start TLS right now (often a certificate or "
                                "configuration problem on the server), so the session stays "
                                "unencrypted: retrying later may help",
                                "the server does not offer TLS here: use the port and security "
                                "setting your provider documents (587 with STARTTLS, or 465 "
                                "with SSL/TLS); retrying will not help"},
    [C_STARTTLS_REQUIRED] = {"encryption (STARTTLS) required first", true,
                             "the server requires an encrypted connection first: enable "
                             "STARTTLS (TLS) in the client; retrying without it will not help",
                             "the server requires an encrypted connection first: enable "
                             "STARTTLS (TLS) in the client; retrying will not help until it "
                             "does"},
    [C_ENCRYPTION_REQUIRED] = {"encryption required for this authentication", false,
                               "the server accepts this login method only over an encrypted "
                               "connection: enable STARTTLS or SSL/TLS in the client; retrying "
                               "without it will not help",
                               "the server accepts this login method only over an encrypted "
                               "connection: enable STARTTLS or SSL/TLS in the client; retrying "
                               "will not help until it does"},
    [C_AUTH_REQUIRED] = {"authentication required", false,
                         "authentication required: the server accepts mail from this client "
                         "only after SMTP AUTH; configure the client with the account's username "
                         "and password; retrying without it will not help",
                         "authentication required: the server accepts mail from this client "
                         "only after SMTP AUTH; configure the client with the account's username "
                         "and password; retrying will not help until it authenticates"},
    [C_BAD_CREDENTIALS] = {"the server rejected the username or password", false, NULL,
                           "the server rejected the username or password: fix the "
                           "credentials; retrying will not help"},
    [C_AUTH_TEMP] = {"temporary authentication failure", true,
                     "the server could not check the credentials right now (a problem on its "
                     "side): retrying later may help",
                     NULL},
    [C_AUTH_MECH_WEAK] = {"login method too weak or not allowed for this account", true, NULL,
                          "the server will not accept this login method for this account (too "
                          "weak, or the provider requires an app password or a sign-in through "
                          "its web page first): change the authentication method or the "
                          "account's settings; retrying will not help"},
    [C_AUTH_MECH_UNSUPPORTED] = {"authentication mechanism not supported", true, NULL,
                                 "the server does not support this authentication mechanism: "
                                 "choose one it lists in its EHLO reply (usually PLAIN or LOGIN "
                                 "over TLS); retrying will not help"},
    [C_AUTH_CANCELLED] = {"authentication cancelled or malformed", true, NULL,
                          "the server rejected the AUTH exchange as malformed, or the client "
                          "cancelled it: check the client's authentication settings; retrying "
                          "the same way will not help"},
    [C_AUTH_LINE_TOO_LONG] = {NULL, false, NULL,
                              "the authentication data was longer than the server accepts "
                              "(often an oversized OAuth token): check the client's login "
                              "settings; retrying will not help"},
    [C_PASSWORD_TRANSITION] = {"a password transition is needed", false,
                               "the server needs a password transition for this account (a "
                               "one-time login with the plain password, or a password change): "
                               "do that once; retrying as is will not help",
                               "the server needs a password transition for this account (a "
                               "one-time login with the plain password, or a password change): "
                               "do that once; retrying as is will not help"},
    [C_ACCOUNT_DISABLED] = {"the account is disabled", false,
                            "the account is temporarily disabled or locked (often after too "
                            "many failed logins): retrying later may help",
                            "the account is disabled on the server: ask the provider to "
                            "re-enable it; retrying will not help"},
    [C_TRUST_REQUIRED] = {NULL, false,
                          "the server requires extra verification before it accepts this "
                          "(some providers ask for a sign-in through their web page or an app "
                          "password): do that first; retrying as is will not help",
                          "the server requires extra verification before it accepts this "
                          "(some providers ask for a sign-in through their web page or an app "
                          "password): do that first; retrying as is will not help"},
    [C_NO_SUCH_USER] = {"no such user", true, HINT_NO_SUCH_USER_TEMP, HINT_NO_SUCH_USER_PERM},
    [C_NO_SUCH_USER_MISCODED] = {"no such user", false, HINT_NO_SUCH_USER_TEMP,
                                 HINT_NO_SUCH_USER_PERM},
    [C_BAD_DEST_SYSTEM] = {"no such domain or mail host", true,
                           "the recipient's domain could not be looked up right now (a DNS "
                           "problem): retrying later may help",
                           "the recipient's domain (the part after @) does not exist or has no "
                           "mail server: check it for typos; retrying will not help"},
    [C_BAD_ADDRESS_SYNTAX] = {"malformed address", true, NULL,
                              "the address is malformed: check its syntax (name@domain, no "
                              "spaces or stray characters); retrying will not help"},
    [C_ADDRESS_NOT_ALLOWED] = {"address not allowed", true, NULL,
                               "the server does not accept this address (its syntax, or it is "
                               "not permitted here): check the address and the server's reply "
                               "text; retrying will not help"},
    [C_AMBIGUOUS] = {"ambiguous address", false, NULL,
                     "the address matches more than one mailbox on that server: use a more "
                     "specific address; retrying will not help"},
    [C_MAILBOX_MOVED] = {"the recipient has moved", true, NULL,
                         "the recipient's mailbox has moved and the server knows no forwarding "
                         "address: ask the recipient for the new address; retrying will not "
                         "help"},
    [C_USER_NOT_LOCAL] = {"user not local", true, NULL,
                          "the recipient is not handled by this server: send to the address the "
                          "server suggests, or to the recipient's own mail server; retrying "
                          "will not help"},
    [C_BAD_SENDER] = {"sender address refused", true,
                      "the server could not verify the sender address right now (often a DNS "
                      "lookup of the sender's domain): make sure that domain exists and has DNS "
                      "records; retrying later may help",
                      "the server refuses the sender (envelope From) address: use a valid "
                      "address in a domain that exists, ideally one the sending account owns; "
                      "retrying will not help"},
    [C_SENDER_NOT_OWNED] = {"the account may not send as this sender address", true, NULL,
                            "the server does not let the logged-in account send as this sender "
                            "address: use the account's own address as the sender (From); "
                            "retrying will not help"},
    [C_NULL_MX_RECIPIENT] = {"the recipient's domain does not accept mail", true, NULL,
                             "the recipient's domain publishes a \"null MX\": it does not "
                             "accept mail at all; check the address; retrying will not help"},
    [C_NULL_MX_SENDER] = {"the sender's domain does not receive mail", true, NULL,
                          "the sender's domain publishes a \"null MX\" (it does not receive "
                          "mail), so the server will not accept mail from it: use a sender "
                          "address in a domain that receives mail; retrying will not help"},
    [C_HOST_NO_MAIL] = {"this host does not accept mail", true, NULL,
                        "this server does not accept mail at all (it is not a mail server for "
                        "that domain): send to the domain's real mail server (its MX); "
                        "retrying will not help"},
    [C_ADDRESS_GENERIC] = {NULL, false,
                           "the server had a temporary problem with an address in this "
                           "transaction: retrying later may help",
                           "the server refused an address in this transaction: check the "
                           "sender and recipient addresses; retrying will not help"},
    [C_MAILBOX_UNAVAILABLE] = {NULL, false,
                               "the recipient's mailbox is temporarily unavailable (busy, "
                               "locked, or a temporary policy block): retrying later may help",
                               "the server refused this recipient (no such mailbox, or not "
                               "allowed by its policy): check the address and the server's "
                               "reply text; retrying will not help"},
    [C_MAILBOX_DISABLED] = {NULL, false,
                            "the recipient's mailbox is temporarily not accepting mail: "
                            "retrying later may help",
                            "the recipient's mailbox is disabled and does not accept mail: "
                            "contact the recipient another way; retrying will not help"},
    [C_MAILBOX_FULL] = {"the recipient's mailbox is full", false,
                        "the recipient's mailbox is full: retrying later may help once the "
                        "recipient frees space",
                        "the recipient's mailbox is full: retrying will not help until the "
                        "recipient frees space"},
    [C_MESSAGE_TOO_BIG] = {"message too big", false,
                           "the message is too big for the server right now: retrying later "
                           "may help, or send a smaller message",
                           "the message is bigger than the server accepts: send smaller "
                           "attachments (or a link to the file); retrying will not help"},
    [C_LIST_EXPANSION] = {NULL, false,
                          "the recipient is a mailing list the server could not expand right "
                          "now: retrying later may help",
                          "the recipient is a mailing list the server could not or may not "
                          "expand: contact the list owner; retrying will not help"},
    [C_SYSTEM_FULL] = {NULL, false,
                       "the receiving server is short of storage: retrying later may help",
                       "the receiving server is out of storage: retrying will not help until "
                       "its administrator frees space"},
    [C_NOT_ACCEPTING] = {NULL, false,
                         "the receiving system is not accepting mail right now: retrying later "
                         "may help",
                         "the receiving system does not accept mail from the network: contact "
                         "the recipient another way; retrying will not help"},
    [C_FEATURE_UNSUPPORTED] = {NULL, false,
                               "the server cannot honour an option the client asked for right "
                               "now: retrying later may help",
                               "the server does not support an option the client asked for (a "
                               "MAIL/RCPT parameter or an extension): turn that option off in "
                               "the client; retrying will not help"},
    [C_MISCONFIGURED] = {NULL, false,
                         "the receiving mail system is misconfigured: only its administrator "
                         "can fix it; retrying later may help once they do",
                         "the receiving mail system is misconfigured: only its administrator "
                         "can fix it; retrying will not help until they do"},
    [C_SYSTEM_GENERIC] = {NULL, false,
                          "the receiving mail system has a temporary problem: retrying later "
                          "may help",
                          "the receiving mail system reported a permanent problem: retrying "
                          "will not help until its administrator fixes it"},
    [C_LOCAL_ERROR] = {NULL, false,
                       "the server had a temporary local problem while processing: retrying "
                       "later may help",
                       NULL},
    [C_ROUTING] = {NULL, false,
                   "the server could not pass the mail on (no answer, bad connection, or a DNS "
                   "failure on the way): retrying later may help",
                   "the mail cannot be routed to its destination (no reachable mail server for "
                   "the domain): check the recipient's domain; retrying will not help"},
    [C_CONGESTION] = {NULL, false, "the mail system is congested: retrying later may help",
                      "the mail system was too congested and gave up: retrying will not help "
                      "until the congestion clears"},
    [C_LOOP] = {NULL, false,
                "a mail loop was detected: retrying will not help until the forwarding or MX "
                "configuration is fixed",
                "the mail went round in a loop between servers (a forwarding or MX "
                "misconfiguration): fix the forwarding; retrying will not help"},
    [C_TOO_MANY_RECIPIENTS] = {"too many recipients", false,
                               "the server accepts no more recipients for this message: send "
                               "the rest in another message; retrying them later may help",
                               "the message has too many recipients for this server: send it "
                               "in smaller batches; retrying as is will not help"},
    [C_BAD_SEQUENCE] = {"commands out of order", true, NULL,
                        "the client sent a command the server did not expect at this point "
                        "(e.g. DATA with no accepted recipient, or MAIL before EHLO): usually "
                        "the result of an earlier refusal or a client bug; fix that step; "
                        "retrying the same sequence will not help"},
    [C_SYNTAX] = {NULL, false, NULL,
                  "the server did not understand the command or its arguments (a client bug or "
                  "an unusual client setting): fix the client or its settings; retrying will "
                  "not help"},
    [C_NOT_IMPLEMENTED] = {NULL, false, NULL,
                           "the server does not implement this command: configure the client "
                           "not to use it; retrying will not help"},
    [C_NO_VALID_RECIPIENTS] = {"no valid recipients", true,
                               "the server accepted none of the recipients for now, so there "
                               "was nothing to deliver: see the RCPT replies; retrying later "
                               "may help",
                               "the server accepted none of the recipients, so there was "
                               "nothing to deliver: see why the RCPT commands were refused; "
                               "retrying will not help"},
    [C_TRANSACTION_FAILED] = {"the message was refused", true, NULL,
                              "the server refused the message itself (often a content or spam "
                              "filter; the reply text usually says why): fix the cause it "
                              "names; retrying will not help as is"},
    [C_MEDIA] = {NULL, false,
                 "the server could not handle the message's format right now: retrying later "
                 "may help",
                 "the server cannot handle the message's format (encoding, 8-bit data or a "
                 "required conversion): send standard MIME-encoded content; retrying will not "
                 "help"},
    [C_SMTPUTF8] = {"international (non-ASCII) address or headers not supported", true, NULL,
                    "the address or headers contain non-ASCII characters that this path cannot "
                    "carry (SMTPUTF8 not supported): use an ASCII address; retrying will not "
                    "help"},
    [C_RELAY_DENIED] = {"relaying denied", true,
                        "the server refuses to relay for you: authenticate (SMTP AUTH) or send "
                        "via your own provider's server; retrying will not help until then",
                        "the server refuses to relay for you: authenticate (SMTP AUTH) or send "
                        "via your own provider's server; retrying will not help"},
    [C_GREYLIST] = {"greylisted, try again later", false,
                    "the server greylisted the message (a deliberate temporary refusal of "
                    "unfamiliar senders): a real mail server retries later and usually "
                    "succeeds",
                    NULL},
    [C_GREYLIST_LIKELY] = {"often greylisting, try again later", false,
                           "temporary refusal, often greylisting: a real mail server retries "
                           "later and usually succeeds",
                           NULL},
    [C_POLICY] = {"refused by policy", true,
                  "the server temporarily refused this by policy: retrying later may help",
                  "the server refused this by policy (the reply text usually names the reason: "
                  "sender, recipient, content or reputation): address that reason; retrying "
                  "will not help until then"},
    [C_BLOCKLIST] = {"the sending IP or domain is blocklisted", true,
                     "the server is blocking the sending IP or domain for now: retrying later "
                     "may help; if it persists, check public blocklists",
                     "the server blocks the sending IP address or domain (often a DNS blocklist "
                     "entry): check the IP on public blocklists and request removal, or send "
                     "via your provider's server; retrying will not help until the listing is "
                     "removed"},
    [C_SPAM] = {"judged to be spam", true,
                "the server's spam filter deferred the message: retrying later may help",
                "the server's filter judged the message to be spam: change the content, set up "
                "SPF/DKIM/DMARC for the sender domain, or send via your provider's server; "
                "retrying will not help as is"},
    [C_SPF] = {"SPF check failed", false,
               "the server could not check the sender domain's SPF record right now: retrying "
               "later may help",
               "the sender domain's SPF record does not allow this server to send for it: add "
               "the sending server (or your provider's SPF include) to the domain's SPF record; "
               "retrying will not help until that is fixed"},
    [C_SPF_ERROR] = {"SPF check error", false,
                     "the server could not evaluate the sender domain's SPF record (a DNS error "
                     "or a broken record): check the record; retrying later may help",
                     "the sender domain's SPF record is broken (a syntax error or too many DNS "
                     "lookups): fix the record; retrying will not help until it is fixed"},
    [C_DKIM] = {"DKIM check failed", false,
                "the server could not verify the DKIM signature right now: retrying later may "
                "help",
                "the message has no valid DKIM signature the server accepts: enable DKIM "
                "signing for the sender domain (at your mail provider) and publish its key in "
                "DNS; retrying will not help until that is fixed"},
    [C_DMARC] = {"DMARC check failed", false,
                 "the server could not check the sender domain's DMARC policy right now: "
                 "retrying later may help",
                 "the message failed the sender domain's DMARC policy (neither SPF nor DKIM "
                 "matched the From domain): send through a server authorized for the From "
                 "domain, with SPF and DKIM set up; retrying will not help until that is fixed"},
    [C_MULTI_AUTH] = {"sender authentication (SPF/DKIM/DMARC) failed", false,
                      "the server could not complete its sender authentication checks (SPF, "
                      "DKIM, DMARC) right now: retrying later may help",
                      "the message failed the server's sender authentication checks (SPF, "
                      "DKIM, DMARC): set up SPF and DKIM for the sender domain and send through "
                      "a server they authorize; retrying will not help until that is fixed"},
    [C_REVERSE_DNS] = {"the sending IP has no valid reverse DNS", false,
                       "the server could not verify the sending IP's reverse DNS (PTR) name "
                       "right now: retrying later may help; if it persists, have the IP's owner "
                       "set a PTR record",
                       "the sending server's IP address has no valid reverse DNS (PTR) name: "
                       "ask whoever owns the IP (the hosting provider) to set a PTR record that "
                       "matches the server's name; retrying will not help until that is fixed"},
    [C_RATE_LIMIT] = {"sending rate or connection limit reached", true,
                      "the server is limiting how much mail or how many connections it accepts "
                      "from you: slow down; retrying later may help",
                      "a sending limit was exceeded: wait until it resets or ask the provider "
                      "for a higher one; retrying right away will not help"},
    [C_SECURITY] = {NULL, false,
                    "the message could not be handled for a security reason right now: "
                    "retrying later may help",
                    "the message could not be handled for a security reason (signing or "
                    "encryption features): check the client's security settings; retrying "
                    "will not help"},
    [C_PRIORITY] = {NULL, false,
                    "the server does not accept this message's priority right now: retrying "
                    "later may help",
                    "the message's priority is too low for the server: retrying will not help "
                    "at this priority"},
    [C_OWNER_CHANGED] = {NULL, false,
                         "the server could not complete the mailbox owner check (RRVS): "
                         "retrying later may help",
                         "the recipient's mailbox or domain changed owner since the date the "
                         "sender gave (RRVS): confirm the address still belongs to the intended "
                         "person; retrying will not help"},
    [C_ARC] = {NULL, false,
               "the server could not validate the message's ARC chain right now: retrying "
               "later may help",
               "the message's ARC chain (authentication across forwarders) failed validation, "
               "usually a problem of the forwarding service: retrying will not help"},
    [C_REQUIRETLS] = {NULL, false,
                      "the message requires TLS on every hop (REQUIRETLS) and the path cannot "
                      "guarantee it now: retrying later may help",
                      "the message requires TLS on every hop (REQUIRETLS) and this path cannot "
                      "guarantee it: send without REQUIRETLS or through servers that support "
                      "it; retrying will not help"},
};

/* ---- classification ---------------------------------------------------------------------- */

/* Case-insensitive: does NUL-terminated s contain needle? */
static bool ci_contains(const char *s, const char *needle)
{
    size_t nl = strlen(needle);
    for (; *s; s++) {
        size_t i = 0;
        while (i < nl && s[i] &&
               tolower((unsigned char)s[i]) == tolower((unsigned char)needle[i]))
            i++;
        if (i == nl) return true;
    }
    return false;
}

static bool ci_any(const char *s, const char *const *needles)
{
    for (; *needles; needles++)
        if (ci_contains(s, *needles)) return true;
    return false;
}

/* Well-known wordings of real servers (postfix, exim, sendmail, Exchange, qmail, Gmail,
 * postgrey). Checked in this order: the earlier entries are the more telling ones, e.g.
 * "blocked using zen.spamhaus.org" must be read as a blocklist before "spam" is seen. */
static cause cause_from_text(const char *text, smtpcap_stage stage, bool temp)
{
    static const char *const no_user[] = {"user unknown", "unknown user", "no such user",
                                          "does not exist", "recipientnotfound",
                                          "recipient not found", "no mailbox", NULL};
    /* Office 365 refuses basic authentication per tenant with 535 5.7.139. */
    static const char *const auth_off[] = {"smtpclientauthentication",
                                           "basic authentication is disabled", NULL};
    static const char *const loop[] = {"too many hops", "mail loop", "loop detected", NULL};
    static const char *const not_owned[] = {"not owned by", "not logged in as",
                                            "sender login mismatch", NULL};
    static const char *const relay[] = {"relay", "rcpthosts", NULL};
    static const char *const greylist[] = {"greylist", "graylist", "grey-list", "gray-list",
                                           "greylisted", NULL};
    static const char *const rdns[] = {"reverse dns", "reverse-dns", "reverse lookup", "rdns",
                                       "ptr", "find your hostname", "find your reverse", NULL};
    static const char *const block[] = {"blocked", "blacklist", "blocklist", "block list",
                                        "black list", "dnsbl", "rbl", "spamhaus", NULL};
    static const char *const quota[] = {"quota", "mailbox full", "mailbox is full",
                                        "mailbox has exceeded", "mailbox size", NULL};
    static const char *const too_big[] = {"too large", "too big", "size exceeds",
                                          "exceeds the size", "size limit",
                                          "exceeds maximum", NULL};
    static const char *const spam[] = {"spam", "unsolicited", NULL};
    static const char *const errors[] = {"too many errors", NULL};
    static const char *const rcpts[] = {"too many recipients", NULL};
    static const char *const rate[] = {"rate limit", "ratelimit", "rate-limit", "too many",
                                       "sending limit", "limit exceeded", NULL};
    static const char *const tls[] = {"starttls", "tls required", "requires tls",
                                      "encryption required", NULL};
    static const char *const no_rcpt[] = {"no valid recipients", NULL};

    if (!text || !*text) return C_GENERIC;
    /* "does not exist" at MAIL is about the sender's domain: leave that to the codes. */
    if (stage == SMTPCAP_STAGE_RCPT && ci_any(text, no_user)) return C_NO_SUCH_USER;
    if (stage == SMTPCAP_STAGE_AUTH && ci_any(text, auth_off)) return C_AUTH_MECH_WEAK;
    if (ci_any(text, not_owned)) return C_SENDER_NOT_OWNED;
    if (ci_any(text, relay)) return C_RELAY_DENIED;
    if (ci_any(text, greylist)) return temp ? C_GREYLIST : C_POLICY;
    if (ci_contains(text, "dmarc")) return C_DMARC;
    if (ci_contains(text, "spf")) return C_SPF;
    if (ci_contains(text, "dkim")) return C_DKIM;
    if (ci_any(text, rdns)) return C_REVERSE_DNS;
    if (ci_any(text, block)) return C_BLOCKLIST;
    if (ci_any(text, spam)) return C_SPAM;
    if (ci_any(text, quota)) return C_MAILBOX_FULL;
    if (ci_any(text, too_big)) return C_MESSAGE_TOO_BIG;
    if (ci_any(text, errors)) return C_TOO_MANY_ERRORS;
    if (ci_any(text, loop)) return C_LOOP;
    if (ci_any(text, rcpts)) return C_TOO_MANY_RECIPIENTS;
    if (ci_any(text, no_rcpt)) return C_NO_VALID_RECIPIENTS;
    if (ci_any(text, rate)) return C_RATE_LIMIT;
    if (stage != SMTPCAP_STAGE_STARTTLS && ci_any(text, tls)) return C_STARTTLS_REQUIRED;
    return C_GENERIC;
}

/* Causes that a specific enhanced code establishes on its own. The catch-alls (X.n.0, X.5.1,
 * X.7.1) return C_GENERIC here so that the text and the basic code get their say. */
static cause cause_from_enhanced(int subject, int detail, smtpcap_stage stage)
{
    switch (subject * 1000 + detail) {
    case 1001: return C_NO_SUCH_USER;
    case 1002: return C_BAD_DEST_SYSTEM;
    case 1003: return C_BAD_ADDRESS_SYNTAX;
    case 1004: return C_AMBIGUOUS;
    case 1006: return C_MAILBOX_MOVED;
    case 1007:
    case 1008: return C_BAD_SENDER;
    case 1010: return C_NULL_MX_RECIPIENT;
    case 2001: return C_MAILBOX_DISABLED;
    case 2002: return C_MAILBOX_FULL;
    case 2003: return C_MESSAGE_TOO_BIG;
    case 2004: return C_LIST_EXPANSION;
    case 3001: return C_SYSTEM_FULL;
    case 3002: return C_NOT_ACCEPTING;
    case 3003: return C_FEATURE_UNSUPPORTED;
    case 3004: return C_MESSAGE_TOO_BIG;
    case 3005: return C_MISCONFIGURED;
    case 4001:
    case 4002:
    case 4003:
    case 4004:
    case 4007: return C_ROUTING;
    case 4005: return C_CONGESTION;
    case 4006: return C_LOOP;
    /* X.5.1, X.5.2, X.5.4, X.5.5 (bad command or syntax) are left to the basic code: "501
     * 5.5.4" at AUTH is a cancelled exchange, "502 5.5.2" to EHLO an old server. */
    case 5003: return C_TOO_MANY_RECIPIENTS;
    case 5006: return C_AUTH_LINE_TOO_LONG;
    case 6001:
    case 6002:
    case 6003:
    case 6004:
    case 6005:
    case 6006: return C_MEDIA;
    case 6007:
    case 6008:
    case 6009:
    case 6010: return C_SMTPUTF8;
    case 7002: return C_LIST_EXPANSION;
    case 7003:
    case 7004:
    case 7005:
    case 7006:
    case 7007:
        /* Exchange answers a failed login with "535 5.7.3 Authentication unsuccessful". */
        return stage == SMTPCAP_STAGE_AUTH ? C_GENERIC : C_SECURITY;
    case 7008: return C_BAD_CREDENTIALS;
    case 7009: return C_AUTH_MECH_WEAK;
    case 7010:
    case 7011: return C_ENCRYPTION_REQUIRED;
    case 7012: return C_PASSWORD_TRANSITION;
    case 7013: return C_ACCOUNT_DISABLED;
    /* Gmail answers AUTH with "534-5.7.14 Please log in via your web browser". */
    case 7014: return stage == SMTPCAP_STAGE_AUTH ? C_AUTH_MECH_WEAK : C_TRUST_REQUIRED;
    case 7015: return C_PRIORITY;
    case 7016: return C_MESSAGE_TOO_BIG;
    case 7017:
    case 7018:
    case 7019: return C_OWNER_CHANGED;
    case 7020:
    case 7021:
    case 7022: return C_DKIM;
    case 7023: return C_SPF;
    case 7024: return C_SPF_ERROR;
    case 7025: return C_REVERSE_DNS;
    case 7026: return C_MULTI_AUTH;
    case 7027: return C_NULL_MX_SENDER;
    case 7028: return C_RATE_LIMIT;
    case 7029: return C_ARC;
    case 7030: return C_REQUIRETLS;
    default: return C_GENERIC;
    }
}

/* What a basic code means in the context of the command it answers. */
static cause cause_from_basic(smtpcap_stage stage, bool end_of_data, int code)
{
    bool data_end = end_of_data && (stage == SMTPCAP_STAGE_DATA || stage == SMTPCAP_STAGE_BDAT);

    if (stage == SMTPCAP_STAGE_STARTTLS && code != 421 && code != 503)
        return C_STARTTLS_UNAVAILABLE;
    switch (code) {
    case 421: return C_CLOSING;
    case 432: return C_PASSWORD_TRANSITION;
    case 450: return stage == SMTPCAP_STAGE_RCPT ? C_MAILBOX_UNAVAILABLE : C_GENERIC;
    case 451: return C_LOCAL_ERROR;
    case 452: return C_SYSTEM_FULL;
    case 454: return stage == SMTPCAP_STAGE_AUTH ? C_AUTH_TEMP : C_GENERIC;
    case 500:
        return stage == SMTPCAP_STAGE_EHLO ? C_EHLO_UNSUPPORTED : C_SYNTAX;
    case 501:
        /* RFC 4954: a cancelled AUTH ("*") is answered with 501. */
        if (stage == SMTPCAP_STAGE_AUTH) return C_AUTH_CANCELLED;
        if (stage == SMTPCAP_STAGE_EHLO) return C_BAD_HELO;
        if (stage == SMTPCAP_STAGE_MAIL) return C_BAD_SENDER;
        if (stage == SMTPCAP_STAGE_RCPT) return C_BAD_ADDRESS_SYNTAX;
        return C_SYNTAX;
    case 502: return stage == SMTPCAP_STAGE_EHLO ? C_EHLO_UNSUPPORTED : C_NOT_IMPLEMENTED;
    case 503: return C_BAD_SEQUENCE;
    case 504:
        return stage == SMTPCAP_STAGE_AUTH ? C_AUTH_MECH_UNSUPPORTED : C_FEATURE_UNSUPPORTED;
    case 521: return C_HOST_NO_MAIL;
    case 523: return C_ENCRYPTION_REQUIRED;
    case 530: return C_AUTH_REQUIRED;
    case 534: return C_AUTH_MECH_WEAK;
    case 535: return C_BAD_CREDENTIALS;
    case 538: return C_ENCRYPTION_REQUIRED;
    case 550:
        if (stage == SMTPCAP_STAGE_RCPT) return C_MAILBOX_UNAVAILABLE;
        if (stage == SMTPCAP_STAGE_MAIL) return C_BAD_SENDER;
        if (stage == SMTPCAP_STAGE_EHLO) return C_BAD_HELO;
        if (data_end) return C_TRANSACTION_FAILED;
        return C_GENERIC;
    case 551: return C_USER_NOT_LOCAL;
    case 552:
        /* At RCPT it is the recipient's storage; at MAIL (SIZE=) and after the data, the
         * message's size. */
        return stage == SMTPCAP_STAGE_RCPT ? C_MAILBOX_FULL : C_MESSAGE_TOO_BIG;
    case 553:
        return stage == SMTPCAP_STAGE_MAIL ? C_BAD_SENDER : C_ADDRESS_NOT_ALLOWED;
    case 554:
        if (data_end) return C_TRANSACTION_FAILED;
        /* postfix: "554 5.5.1 Error: no valid recipients" in reply to DATA. */
        if (stage == SMTPCAP_STAGE_DATA) return C_NO_VALID_RECIPIENTS;
        if (stage == SMTPCAP_STAGE_RCPT || stage == SMTPCAP_STAGE_MAIL) return C_POLICY;
        if (stage == SMTPCAP_STAGE_EHLO) return C_BAD_HELO;
        return C_GENERIC;
    case 555: return C_FEATURE_UNSUPPORTED;
    case 556: return C_NULL_MX_RECIPIENT;
    default: return C_GENERIC;
    }
}

static cause cause_from_subject(int subject)
{
    static const cause by_subject[8] = {C_GENERIC,        C_ADDRESS_GENERIC, C_MAILBOX_UNAVAILABLE,
                                        C_SYSTEM_GENERIC, C_ROUTING,         C_SYNTAX,
                                        C_MEDIA,          C_POLICY};
    return subject >= 0 && subject <= 7 ? by_subject[subject] : C_GENERIC;
}

static bool has_enhanced(int cls, int subject, int detail)
{
    return cls >= 0 && subject >= 0 && detail >= 0;
}

/* The registry meaning when it says more than "other or undefined ..." (X.n.0) or the
 * subject's name (an unregistered detail); else NULL. */
static const char *registry_specific(int cls, int subject, int detail)
{
    const char *m;
    if (!has_enhanced(cls, subject, detail) || detail == 0) return NULL;
    m = codes_enhanced_meaning(cls, subject, detail);
    return m && m != codes_enhanced_meaning(cls, subject, 1000) ? m : NULL;
}

static cause classify(smtpcap_stage stage, bool end_of_data, int code, int cls, int subject,
                      int detail, const char *text)
{
    bool temp = code < 500;
    bool enh = has_enhanced(cls, subject, detail);
    cause c;

    if (code < 100 || code > 599) return C_INVALID;
    if (code < 200) return C_INVALID; /* SMTP has no 1xx replies */
    if (code < 300) return C_OK;
    if (code < 400) return C_CONTINUE;

    /* 1. Refused before any command: the connection itself. */
    if (stage == SMTPCAP_STAGE_CONNECT) {
        c = cause_from_text(text, stage, temp);
        if (c == C_BLOCKLIST || c == C_RATE_LIMIT || c == C_REVERSE_DNS) return c;
        return temp ? C_CONNECT_TEMP : C_CONNECT_REFUSED;
    }
    /* 2. A specific enhanced code. Exchange misuses 5.1.10 (null MX) for "Recipient not
     *    found by SMTP address lookup". */
    if (enh && subject == 1 && detail == 10 && text && ci_contains(text, "not found"))
        return C_NO_SUCH_USER_MISCODED;
    if (enh && (c = cause_from_enhanced(subject, detail, stage)) != C_GENERIC) return c;
    /* 3. Well-known text. */
    if ((c = cause_from_text(text, stage, temp)) != C_GENERIC) return c;
    /* 4. X.7.1, the policy catch-all. Temporary policy refusals of a transaction are most
     *    often greylisting. */
    if (enh && subject == 7 && detail == 1) {
        if (temp && (stage == SMTPCAP_STAGE_MAIL || stage == SMTPCAP_STAGE_RCPT ||
                     stage == SMTPCAP_STAGE_DATA || stage == SMTPCAP_STAGE_BDAT))
            return C_GREYLIST_LIKELY;
        /* At AUTH and STARTTLS the basic code says more ("535 5.7.1 Authentication failed"). */
        if (stage != SMTPCAP_STAGE_AUTH && stage != SMTPCAP_STAGE_STARTTLS && code != 530 &&
            code != 421)
            return C_POLICY;
    }
    /* 5. The basic code at this stage. */
    if ((c = cause_from_basic(stage, end_of_data, code)) != C_GENERIC) return c;
    /* 6. The enhanced code's subject. */
    if (enh) return cause_from_subject(subject);
    return C_GENERIC;
}

/* ---- public: describe and hint ------------------------------------------------------------ */

static const char *success_phrase(smtpcap_stage stage, bool end_of_data, int code)
{
    bool ok = code >= 200 && code < 300;
    switch (stage) {
    case SMTPCAP_STAGE_CONNECT: return code == 220 ? "greeting: service ready" : NULL;
    case SMTPCAP_STAGE_EHLO: return ok ? "EHLO/HELO accepted" : NULL;
    case SMTPCAP_STAGE_STARTTLS: return code == 220 ? "ready to start TLS" : NULL;
    case SMTPCAP_STAGE_AUTH:
        if (code == 334) return "AUTH challenge";
        return ok ? "AUTH succeeded" : NULL;
    case SMTPCAP_STAGE_MAIL: return ok ? "sender accepted" : NULL;
    case SMTPCAP_STAGE_RCPT:
        if (code == 251) return "recipient accepted: not local, the server will forward it";
        return ok ? "recipient accepted" : NULL;
    case SMTPCAP_STAGE_DATA:
        if (code == 354) return "go ahead: send the message, end with <CRLF>.<CRLF>";
        return ok ? "message accepted" : NULL;
    case SMTPCAP_STAGE_BDAT:
        if (!ok) return NULL;
        return end_of_data ? "message accepted" : "chunk accepted";
    case SMTPCAP_STAGE_RSET: return ok ? "transaction reset" : NULL;
    case SMTPCAP_STAGE_QUIT: return ok ? "closing connection" : NULL;
    default: return NULL;
    }
}

static const char *subject_of(smtpcap_stage stage, bool end_of_data)
{
    switch (stage) {
    case SMTPCAP_STAGE_CONNECT: return "greeting";
    case SMTPCAP_STAGE_EHLO: return "EHLO";
    case SMTPCAP_STAGE_STARTTLS: return "STARTTLS";
    case SMTPCAP_STAGE_AUTH: return "AUTH";
    case SMTPCAP_STAGE_MAIL: return "MAIL";
    case SMTPCAP_STAGE_RCPT: return "RCPT";
    case SMTPCAP_STAGE_DATA: return end_of_data ? "message" : "DATA";
    case SMTPCAP_STAGE_BDAT: return end_of_data ? "message" : "BDAT";
    case SMTPCAP_STAGE_RSET: return "RSET";
    case SMTPCAP_STAGE_QUIT: return "QUIT";
    default: return "command";
    }
}

static const char *result_of(smtpcap_stage stage, bool temp)
{
    if (stage == SMTPCAP_STAGE_AUTH) return temp ? "temporarily failed" : "failed";
    if (temp) return "temporarily refused";
    if (stage == SMTPCAP_STAGE_CONNECT || stage == SMTPCAP_STAGE_STARTTLS) return "refused";
    return "rejected";
}

/* Appends src to buf[*len..n), truncating, always NUL-terminating. */
static void cat(char *buf, size_t n, size_t *len, const char *src)
{
    size_t l = strlen(src);
    if (*len + 1 >= n) return;
    if (l > n - 1 - *len) l = n - 1 - *len;
    memcpy(buf + *len, src, l);
    *len += l;
    buf[*len] = 0;
}

/* "a[: b][ (c)]" into buf; returns what it left there. This runs for every reply of every
 * session, so no printf. */
static size_t put(char *buf, size_t n, const char *a, const char *b, const char *c)
{
    if (!buf || n == 0) return 0;
    size_t len = 0;
    buf[0] = 0;
    cat(buf, n, &len, a);
    if (b) { cat(buf, n, &len, ": "); cat(buf, n, &len, b); }
    if (c) { cat(buf, n, &len, " ("); cat(buf, n, &len, c); cat(buf, n, &len, ")"); }
    return len;
}

size_t codes_describe(char *buf, size_t n, smtpcap_stage stage, bool end_of_data, int code,
                      int cls, int subject, int detail, const char *text)
{
    const char *basic = codes_reply_meaning(code);
    const char *reg = registry_specific(cls, subject, detail);
    const cause_info *ci;
    const char *phrase;
    char head[64];

    if (!basic || code < 200) {
        char num[32];
        snprintf(num, sizeof num, "%d", code);
        return put(buf, n, basic ? "unexpected reply" : "invalid reply code",
                   basic ? basic : num, NULL);
    }
    if (code < 400) {
        const char *p = success_phrase(stage, end_of_data, code);
        if (p) return put(buf, n, p, NULL, NULL);
        return put(buf, n, code < 300 ? "OK" : "continue", basic, NULL);
    }
    ci = &causes[classify(stage, end_of_data, code, cls, subject, detail, text)];
    phrase = ci->phrase ? ci->phrase : reg ? reg : basic;
    size_t hl = 0;
    head[0] = 0;
    cat(head, sizeof head, &hl, subject_of(stage, end_of_data));
    cat(head, sizeof head, &hl, " ");
    cat(head, sizeof head, &hl, result_of(stage, code < 500));
    return put(buf, n, head, phrase, ci->phrase && ci->registry ? reg : NULL);
}

const char *codes_hint(smtpcap_stage stage, bool end_of_data, int code, int cls, int subject,
                       int detail, const char *text)
{
    const cause_info *ci = &causes[classify(stage, end_of_data, code, cls, subject, detail, text)];
    bool temp = code < 500;
    const char *h = temp ? ci->hint_temp : ci->hint_perm;
    if (h) return h;
    return temp ? HINT_GENERIC_TEMP : HINT_GENERIC_PERM;
}
