/* Tests of dissector/codes.c: enhanced status code parsing, registry and reply-code meanings,
 * transcript annotations and verdict hints. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "codes.h"

#define NONE -1, -1, -1 /* no enhanced code */

static const smtpcap_stage all_stages[] = {
    SMTPCAP_STAGE_NONE, SMTPCAP_STAGE_CONNECT, SMTPCAP_STAGE_EHLO, SMTPCAP_STAGE_STARTTLS,
    SMTPCAP_STAGE_TLS,  SMTPCAP_STAGE_AUTH,    SMTPCAP_STAGE_MAIL, SMTPCAP_STAGE_RCPT,
    SMTPCAP_STAGE_DATA, SMTPCAP_STAGE_BDAT,    SMTPCAP_STAGE_RSET, SMTPCAP_STAGE_QUIT,
    SMTPCAP_STAGE_OTHER,
};
#define NSTAGES (sizeof all_stages / sizeof all_stages[0])

/* Every subject.detail the IANA registry lists besides X.0.0. */
static const int registered[][2] = {
    {1, 0},  {1, 1},  {1, 2},  {1, 3},  {1, 4},  {1, 5},  {1, 6},  {1, 7},  {1, 8},  {1, 9},
    {1, 10}, {2, 0},  {2, 1},  {2, 2},  {2, 3},  {2, 4},  {3, 0},  {3, 1},  {3, 2},  {3, 3},
    {3, 4},  {3, 5},  {3, 6},  {4, 0},  {4, 1},  {4, 2},  {4, 3},  {4, 4},  {4, 5},  {4, 6},
    {4, 7},  {5, 0},  {5, 1},  {5, 2},  {5, 3},  {5, 4},  {5, 5},  {5, 6},  {6, 0},  {6, 1},
    {6, 2},  {6, 3},  {6, 4},  {6, 5},  {6, 6},  {6, 7},  {6, 8},  {6, 9},  {6, 10}, {7, 0},
    {7, 1},  {7, 2},  {7, 3},  {7, 4},  {7, 5},  {7, 6},  {7, 7},  {7, 8},  {7, 9},  {7, 10},
    {7, 11}, {7, 12}, {7, 13}, {7, 14}, {7, 15}, {7, 16}, {7, 17}, {7, 18}, {7, 19}, {7, 20},
    {7, 21}, {7, 22}, {7, 23}, {7, 24}, {7, 25}, {7, 26}, {7, 27}, {7, 28}, {7, 29}, {7, 30},
};
#define NREGISTERED (sizeof registered / sizeof registered[0])

static const char *describe(smtpcap_stage st, bool eod, int code, int c, int s, int d,
                            const char *text)
{
    static char buf[512];
    size_t len = codes_describe(buf, sizeof buf, st, eod, code, c, s, d, text);
    assert_int_equal(len, strlen(buf));
    return buf;
}

/* ---- codes_parse_enhanced ------------------------------------------------------------------ */

static void expect_parse(const char *text, size_t want, int c, int s, int d)
{
    int gc = 99, gs = 99, gd = 99;
    size_t got = codes_parse_enhanced(text, text ? strlen(text) : 0, &gc, &gs, &gd);
    if (got != want) fail_msg("parse(\"%s\") = %zu, want %zu", text ? text : "(null)", got, want);
    assert_int_equal(gc, c);
    assert_int_equal(gs, s);
    assert_int_equal(gd, d);
}

static void test_codes_parse_valid(void **state)
{
    (void)state;
    expect_parse("5.1.1", 5, 5, 1, 1);
    expect_parse("4.7.1 text", 5, 4, 7, 1);
    expect_parse("2.0.0", 5, 2, 0, 0);
    expect_parse("5.7.26 Unauthenticated email", 6, 5, 7, 26);
    expect_parse("5.123.999 x", 9, 5, 123, 999);
    expect_parse("4.4.2\r\n", 5, 4, 4, 2);
    expect_parse("2.6.0\tok", 5, 2, 6, 0);
    expect_parse("5.01.001", 8, 5, 1, 1); /* 1*3digit allows leading zeros */
}

static void test_codes_parse_invalid(void **state)
{
    (void)state;
    expect_parse("5.1.", 0, -1, -1, -1);
    expect_parse("6.1.1", 0, -1, -1, -1);
    expect_parse("3.1.1", 0, -1, -1, -1);
    expect_parse("5.1000.1", 0, -1, -1, -1);
    expect_parse("5.1.1000", 0, -1, -1, -1);
    expect_parse("5.1.1x", 0, -1, -1, -1);
    expect_parse("5.1.1.2", 0, -1, -1, -1);
    expect_parse("5.1.1:", 0, -1, -1, -1);
    expect_parse("", 0, -1, -1, -1);
    expect_parse("5", 0, -1, -1, -1);
    expect_parse("5..1", 0, -1, -1, -1);
    expect_parse(".1.1", 0, -1, -1, -1);
    expect_parse(" 5.1.1", 0, -1, -1, -1);
    expect_parse("5-1-1", 0, -1, -1, -1);
    expect_parse("User unknown", 0, -1, -1, -1);
    expect_parse(NULL, 0, -1, -1, -1);
}

static void test_codes_parse_respects_len(void **state)
{
    static const char exact[5] = {'5', '.', '1', '.', '1'}; /* no NUL after it */
    static const char more[] = "5.1.12345";
    int c, s, d;
    (void)state;
    assert_int_equal(codes_parse_enhanced(exact, sizeof exact, &c, &s, &d), 5);
    assert_int_equal(c * 100 + s * 10 + d, 511);
    assert_int_equal(codes_parse_enhanced(exact, 4, &c, &s, &d), 0);
    assert_int_equal(c, -1);
    /* The buffer ends after "5.1.1": what follows in memory is not looked at. */
    assert_int_equal(codes_parse_enhanced(more, 5, &c, &s, &d), 5);
    assert_int_equal(d, 1);
    assert_int_equal(codes_parse_enhanced(more, 7, &c, &s, &d), 7);
    assert_int_equal(d, 123);
    assert_int_equal(codes_parse_enhanced(more, 8, &c, &s, &d), 0);
}

static void test_codes_parse_null_outputs(void **state)
{
    (void)state;
    assert_int_equal(codes_parse_enhanced("4.2.2 full", 10, NULL, NULL, NULL), 5);
    assert_int_equal(codes_parse_enhanced("nope", 4, NULL, NULL, NULL), 0);
}

/* ---- codes_enhanced_meaning ---------------------------------------------------------------- */

static void test_codes_enhanced_meaning_known(void **state)
{
    (void)state;
    assert_string_equal(codes_enhanced_meaning(5, 1, 1), "bad destination mailbox address");
    assert_string_equal(codes_enhanced_meaning(2, 1, 5), "destination address valid");
    assert_string_equal(codes_enhanced_meaning(4, 2, 2), "mailbox full");
    assert_string_equal(codes_enhanced_meaning(5, 3, 4), "message too big for the system");
    assert_string_equal(codes_enhanced_meaning(4, 5, 3), "too many recipients");
    assert_string_equal(codes_enhanced_meaning(5, 5, 6), "authentication exchange line too long");
    assert_string_equal(codes_enhanced_meaning(5, 7, 1), "delivery not authorized, message refused");
    assert_string_equal(codes_enhanced_meaning(5, 7, 8), "authentication credentials invalid");
    assert_string_equal(codes_enhanced_meaning(5, 7, 9), "authentication mechanism is too weak");
    assert_string_equal(codes_enhanced_meaning(4, 7, 12), "a password transition is needed");
    assert_string_equal(codes_enhanced_meaning(5, 7, 23), "SPF validation failed");
    assert_string_equal(codes_enhanced_meaning(5, 7, 25), "reverse DNS validation failed");
    assert_string_equal(codes_enhanced_meaning(5, 7, 26), "multiple authentication checks failed");
    assert_string_equal(codes_enhanced_meaning(5, 7, 27), "sender address has a null MX");
    assert_string_equal(codes_enhanced_meaning(5, 7, 29), "ARC validation failure");
    assert_string_equal(codes_enhanced_meaning(5, 7, 30), "REQUIRETLS support required");
    assert_string_equal(codes_enhanced_meaning(5, 1, 10), "recipient address has a null MX");
    assert_string_equal(codes_enhanced_meaning(5, 6, 7),
                        "non-ASCII addresses not permitted for that sender or recipient");
}

static void test_codes_enhanced_meaning_all_registered(void **state)
{
    (void)state;
    /* A registered detail must not fall back to its subject's generic meaning (this also
     * catches an unsorted table, which bsearch would miss entries of). */
    for (size_t i = 0; i < NREGISTERED; i++) {
        int s = registered[i][0], d = registered[i][1];
        for (int c = 2; c <= 5; c += (c == 2 ? 2 : 1)) {
            const char *m = codes_enhanced_meaning(c, s, d);
            const char *generic = codes_enhanced_meaning(c, s, 999);
            if (!m || strcmp(m, generic) == 0) fail_msg("X.%d.%d is not in the table", s, d);
        }
    }
}

static void test_codes_enhanced_meaning_class_only(void **state)
{
    (void)state;
    assert_string_equal(codes_enhanced_meaning(2, 0, 0), "success, no further detail");
    assert_string_equal(codes_enhanced_meaning(4, 0, 0), "temporary failure, no further detail");
    assert_string_equal(codes_enhanced_meaning(5, 0, 0), "permanent failure, no further detail");
}

static void test_codes_enhanced_meaning_unknown_detail(void **state)
{
    (void)state;
    assert_string_equal(codes_enhanced_meaning(5, 1, 99), "addressing status");
    assert_string_equal(codes_enhanced_meaning(4, 0, 7), "other or undefined status");
    assert_string_equal(codes_enhanced_meaning(5, 7, 31), "security or policy status");
    assert_string_equal(codes_enhanced_meaning(5, 7, 999), "security or policy status");
    assert_string_equal(codes_enhanced_meaning(5, 7, 256), "security or policy status");
    assert_string_equal(codes_enhanced_meaning(2, 6, 11), "message content or media status");
}

static void test_codes_enhanced_meaning_invalid(void **state)
{
    (void)state;
    assert_null(codes_enhanced_meaning(3, 1, 1));
    assert_null(codes_enhanced_meaning(-1, 1, 1));
    assert_null(codes_enhanced_meaning(5, 8, 1));
    assert_null(codes_enhanced_meaning(5, -1, 1));
    assert_null(codes_enhanced_meaning(5, 1, -1));
}

/* ---- codes_reply_meaning ------------------------------------------------------------------- */

static void test_codes_reply_meaning_known(void **state)
{
    (void)state;
    assert_string_equal(codes_reply_meaning(220), "service ready");
    assert_string_equal(codes_reply_meaning(235), "authentication succeeded");
    assert_string_equal(codes_reply_meaning(354), "start mail input; end with <CRLF>.<CRLF>");
    assert_string_equal(codes_reply_meaning(421), "service not available, closing the connection");
    assert_string_equal(codes_reply_meaning(535), "authentication credentials invalid");
    assert_string_equal(codes_reply_meaning(550),
                        "mailbox unavailable (not found, no access, or refused by policy)");
    assert_string_equal(codes_reply_meaning(521), "host does not accept mail");
    assert_string_equal(codes_reply_meaning(556), "domain does not accept mail");
}

static void test_codes_reply_meaning_listed(void **state)
{
    static const int listed[] = {211, 214, 220, 221, 235, 250, 251, 252, 334, 354, 421, 432,
                                 450, 451, 452, 454, 455, 500, 501, 502, 503, 504, 521, 523,
                                 530, 534, 535, 538, 550, 551, 552, 553, 554, 555, 556};
    (void)state;
    for (size_t i = 0; i < sizeof listed / sizeof listed[0]; i++) {
        const char *m = codes_reply_meaning(listed[i]);
        const char *cls = codes_reply_meaning(listed[i] / 100 * 100 + 99);
        if (!m || strcmp(m, cls) == 0) fail_msg("%d has no meaning of its own", listed[i]);
    }
}

static void test_codes_reply_meaning_class_fallback(void **state)
{
    (void)state;
    assert_string_equal(codes_reply_meaning(599), "permanent failure");
    assert_string_equal(codes_reply_meaning(499), "temporary failure");
    assert_string_equal(codes_reply_meaning(299), "success");
}

static void test_codes_reply_meaning_every_code(void **state)
{
    (void)state;
    for (int code = 100; code <= 599; code++) {
        const char *m = codes_reply_meaning(code);
        if (!m || !*m) fail_msg("no meaning for %d", code);
    }
    assert_null(codes_reply_meaning(99));
    assert_null(codes_reply_meaning(600));
    assert_null(codes_reply_meaning(-550));
}

/* ---- codes_describe ------------------------------------------------------------------------ */

static void test_codes_describe_successes(void **state)
{
    (void)state;
    assert_string_equal(describe(SMTPCAP_STAGE_CONNECT, false, 220, NONE, "mx ESMTP"),
                        "greeting: service ready");
    assert_string_equal(describe(SMTPCAP_STAGE_EHLO, false, 250, NONE, NULL),
                        "EHLO/HELO accepted");
    assert_string_equal(describe(SMTPCAP_STAGE_STARTTLS, false, 220, 2, 0, 0, NULL),
                        "ready to start TLS");
    assert_string_equal(describe(SMTPCAP_STAGE_AUTH, false, 334, NONE, "VXNlcm5hbWU6"),
                        "AUTH challenge");
    assert_string_equal(describe(SMTPCAP_STAGE_AUTH, false, 235, 2, 7, 0, NULL),
                        "AUTH succeeded");
    assert_string_equal(describe(SMTPCAP_STAGE_MAIL, false, 250, 2, 1, 0, "Ok"),
                        "sender accepted");
    assert_string_equal(describe(SMTPCAP_STAGE_RCPT, false, 250, 2, 1, 5, "Ok"),
                        "recipient accepted");
    assert_string_equal(describe(SMTPCAP_STAGE_DATA, false, 354, NONE, NULL),
                        "go ahead: send the message, end with <CRLF>.<CRLF>");
    assert_string_equal(describe(SMTPCAP_STAGE_DATA, true, 250, 2, 0, 0, "queued as 15FE71"),
                        "message accepted");
    assert_string_equal(describe(SMTPCAP_STAGE_BDAT, false, 250, NONE, NULL), "chunk accepted");
    assert_string_equal(describe(SMTPCAP_STAGE_BDAT, true, 250, NONE, NULL), "message accepted");
    assert_string_equal(describe(SMTPCAP_STAGE_RSET, false, 250, NONE, NULL),
                        "transaction reset");
    assert_string_equal(describe(SMTPCAP_STAGE_QUIT, false, 221, 2, 0, 0, "Bye"),
                        "closing connection");
    assert_string_equal(describe(SMTPCAP_STAGE_OTHER, false, 250, NONE, NULL),
                        "OK: requested action completed");
}

static void test_codes_describe_rcpt_rejections(void **state)
{
    (void)state;
    assert_string_equal(describe(SMTPCAP_STAGE_RCPT, false, 550, 5, 1, 1, "User unknown"),
                        "RCPT rejected: no such user (bad destination mailbox address)");
    assert_string_equal(describe(SMTPCAP_STAGE_RCPT, false, 554, 5, 7, 1,
                                 "<a@b>: Relay access denied"),
                        "RCPT rejected: relaying denied (delivery not authorized, message "
                        "refused)");
    assert_string_equal(describe(SMTPCAP_STAGE_RCPT, false, 550, NONE, NULL),
                        "RCPT rejected: mailbox unavailable (not found, no access, or refused "
                        "by policy)");
    assert_string_equal(describe(SMTPCAP_STAGE_RCPT, false, 452, 4, 5, 3, NULL),
                        "RCPT temporarily refused: too many recipients");
    assert_string_equal(describe(SMTPCAP_STAGE_RCPT, false, 452, 4, 2, 2, "Over quota"),
                        "RCPT temporarily refused: the recipient's mailbox is full");
}

static void test_codes_describe_greylisting(void **state)
{
    (void)state;
    assert_string_equal(describe(SMTPCAP_STAGE_RCPT, false, 451, 4, 7, 1, NULL),
                        "RCPT temporarily refused: often greylisting, try again later");
    assert_string_equal(describe(SMTPCAP_STAGE_RCPT, false, 450, 4, 2, 0,
                                 "<a@b>: Recipient address rejected: Greylisted, see "
                                 "http://postgrey.schweikert.ch/help/b.html"),
                        "RCPT temporarily refused: greylisted, try again later");
}

static void test_codes_describe_auth(void **state)
{
    (void)state;
    assert_string_equal(describe(SMTPCAP_STAGE_AUTH, false, 535, 5, 7, 8,
                                 "Error: authentication failed"),
                        "AUTH failed: the server rejected the username or password");
    assert_string_equal(describe(SMTPCAP_STAGE_AUTH, false, 535, NONE, NULL),
                        "AUTH failed: the server rejected the username or password");
    assert_string_equal(describe(SMTPCAP_STAGE_AUTH, false, 454, 4, 7, 0, NULL),
                        "AUTH temporarily failed: temporary authentication failure");
    assert_string_equal(describe(SMTPCAP_STAGE_MAIL, false, 530, 5, 7, 0,
                                 "Authentication required"),
                        "MAIL rejected: authentication required");
}

static void test_codes_describe_greeting(void **state)
{
    (void)state;
    assert_string_equal(describe(SMTPCAP_STAGE_CONNECT, false, 421, NONE, "Too busy"),
                        "greeting temporarily refused: service not available, try again later");
    assert_string_equal(describe(SMTPCAP_STAGE_CONNECT, false, 554, NONE, "No SMTP service"),
                        "greeting refused: no SMTP service here (often the client's IP is "
                        "blocked)");
    assert_string_equal(describe(SMTPCAP_STAGE_CONNECT, false, 554, 5, 7, 1,
                                 "Client host blocked using zen.spamhaus.org"),
                        "greeting refused: the sending IP or domain is blocklisted (delivery "
                        "not authorized, message refused)");
}

static void test_codes_describe_starttls(void **state)
{
    (void)state;
    assert_string_equal(describe(SMTPCAP_STAGE_STARTTLS, false, 454, 4, 7, 0,
                                 "TLS not available due to local problem"),
                        "STARTTLS temporarily refused: TLS not available");
    assert_string_equal(describe(SMTPCAP_STAGE_STARTTLS, false, 454, NONE, NULL),
                        "STARTTLS temporarily refused: TLS not available");
    assert_string_equal(describe(SMTPCAP_STAGE_STARTTLS, false, 502, NONE, NULL),
                        "STARTTLS refused: TLS not available");
}

static void test_codes_describe_end_of_data(void **state)
{
    (void)state;
    assert_string_equal(describe(SMTPCAP_STAGE_DATA, true, 552, 5, 3, 4,
                                 "Message size exceeds fixed limit"),
                        "message rejected: message too big");
    assert_string_equal(describe(SMTPCAP_STAGE_DATA, true, 554, NONE, NULL),
                        "message rejected: the message was refused");
    assert_string_equal(describe(SMTPCAP_STAGE_DATA, true, 451, 4, 3, 0, NULL),
                        "message temporarily refused: local error in processing");
    assert_string_equal(describe(SMTPCAP_STAGE_DATA, false, 554, 5, 5, 1,
                                 "Error: no valid recipients"),
                        "DATA rejected: no valid recipients (invalid command)");
    assert_string_equal(describe(SMTPCAP_STAGE_DATA, false, 503, 5, 5, 1,
                                 "Error: need RCPT command"),
                        "DATA rejected: commands out of order (invalid command)");
}

static void test_codes_describe_generic_uses_registry(void **state)
{
    (void)state;
    /* No specific cause: the enhanced code's registry meaning, else the basic meaning. */
    assert_string_equal(describe(SMTPCAP_STAGE_OTHER, false, 502, 5, 5, 1, NULL),
                        "command rejected: invalid command");
    assert_string_equal(describe(SMTPCAP_STAGE_OTHER, false, 502, NONE, NULL),
                        "command rejected: command not implemented");
    assert_string_equal(describe(SMTPCAP_STAGE_MAIL, false, 451, NONE, NULL),
                        "MAIL temporarily refused: local error in processing");
    /* "other or undefined ..." (X.n.0) says less than the basic code. */
    assert_string_equal(describe(SMTPCAP_STAGE_DATA, true, 421, 4, 7, 0, NULL),
                        "message temporarily refused: service not available, closing the "
                        "connection");
    assert_string_equal(describe(SMTPCAP_STAGE_RCPT, false, 550, 5, 1, 77, NULL),
                        "RCPT rejected: mailbox unavailable (not found, no access, or refused "
                        "by policy)");
    assert_string_equal(describe(SMTPCAP_STAGE_OTHER, false, 559, 5, 1, 77, NULL),
                        "command rejected: permanent failure");
}

static void test_codes_describe_invalid_codes(void **state)
{
    (void)state;
    assert_string_equal(describe(SMTPCAP_STAGE_RCPT, false, 999, NONE, NULL),
                        "invalid reply code: 999");
    assert_string_equal(describe(SMTPCAP_STAGE_RCPT, false, 150, NONE, NULL),
                        "unexpected reply: positive preliminary reply (not used by SMTP)");
}

static void test_codes_describe_truncates(void **state)
{
    char buf[8];
    (void)state;
    memset(buf, 'x', sizeof buf);
    assert_int_equal(codes_describe(buf, sizeof buf, SMTPCAP_STAGE_MAIL, false, 250, NONE, NULL),
                     7);
    assert_string_equal(buf, "sender ");
    assert_int_equal(codes_describe(buf, 1, SMTPCAP_STAGE_MAIL, false, 250, NONE, NULL), 0);
    assert_string_equal(buf, "");
    buf[0] = 'x';
    assert_int_equal(codes_describe(buf, 0, SMTPCAP_STAGE_MAIL, false, 250, NONE, NULL), 0);
    assert_int_equal(buf[0], 'x');
    assert_int_equal(codes_describe(NULL, 0, SMTPCAP_STAGE_MAIL, false, 250, NONE, NULL), 0);
}

static void test_codes_describe_temporary_vs_permanent(void **state)
{
    (void)state;
    /* Every failure at every stage says which kind it is. */
    for (size_t i = 0; i < NSTAGES; i++) {
        for (int code = 400; code <= 599; code++) {
            const char *d = describe(all_stages[i], false, code, NONE, NULL);
            bool temp = strstr(d, "temporarily") != NULL;
            if (temp != (code < 500)) fail_msg("stage %zu code %d: \"%s\"", i, code, d);
        }
    }
}

/* ---- codes_hint ---------------------------------------------------------------------------- */

static void test_codes_hint_examples(void **state)
{
    (void)state;
    assert_string_equal(codes_hint(SMTPCAP_STAGE_AUTH, false, 535, 5, 7, 8, NULL),
                        "the server rejected the username or password: fix the credentials; "
                        "retrying will not help");
    assert_string_equal(codes_hint(SMTPCAP_STAGE_RCPT, false, 550, 5, 1, 1,
                                   "<x@y>: Recipient address rejected: User unknown in relay "
                                   "recipient table"),
                        "the recipient address does not exist on that server: check the "
                        "address for typos; retrying will not help");
    assert_string_equal(codes_hint(SMTPCAP_STAGE_RCPT, false, 554, 5, 7, 1,
                                   "<x@y>: Relay access denied"),
                        "the server refuses to relay for you: authenticate (SMTP AUTH) or send "
                        "via your own provider's server; retrying will not help");
    assert_string_equal(codes_hint(SMTPCAP_STAGE_RCPT, false, 550, NONE,
                                   "Unable to relay recipient in non-accepted domain"),
                        codes_hint(SMTPCAP_STAGE_RCPT, false, 554, 5, 7, 1, "Relay access denied"));
    assert_string_equal(codes_hint(SMTPCAP_STAGE_RCPT, false, 451, 4, 7, 1, NULL),
                        "temporary refusal, often greylisting: a real mail server retries later "
                        "and usually succeeds");
    assert_string_equal(codes_hint(SMTPCAP_STAGE_CONNECT, false, 421, NONE, NULL),
                        "the server is not accepting connections right now: retry later");
    assert_string_equal(codes_hint(SMTPCAP_STAGE_CONNECT, false, 554, NONE, NULL),
                        "the server refused the connection outright (often a blocklist of the "
                        "client's IP): retrying will not help until the cause is fixed");
}

static void expect_hint_starts(const char *hint, const char *prefix)
{
    if (strncmp(hint, prefix, strlen(prefix)) != 0)
        fail_msg("hint \"%s\" does not start with \"%s\"", hint, prefix);
}

static void test_codes_hint_by_enhanced_code(void **state)
{
    (void)state;
    expect_hint_starts(codes_hint(SMTPCAP_STAGE_MAIL, false, 530, 5, 7, 0, NULL),
                       "authentication required");
    expect_hint_starts(codes_hint(SMTPCAP_STAGE_DATA, true, 552, 5, 3, 4, NULL),
                       "the message is bigger than the server accepts");
    expect_hint_starts(codes_hint(SMTPCAP_STAGE_MAIL, false, 552, NONE, NULL),
                       "the message is bigger than the server accepts");
    expect_hint_starts(codes_hint(SMTPCAP_STAGE_DATA, true, 550, 5, 7, 26, NULL),
                       "the message failed the server's sender authentication checks");
    expect_hint_starts(codes_hint(SMTPCAP_STAGE_DATA, true, 550, 5, 7, 23, NULL),
                       "the sender domain's SPF record does not allow");
    expect_hint_starts(codes_hint(SMTPCAP_STAGE_RCPT, false, 550, 5, 7, 25, NULL),
                       "the sending server's IP address has no valid reverse DNS");
    expect_hint_starts(codes_hint(SMTPCAP_STAGE_RCPT, false, 452, 4, 2, 2, NULL),
                       "the recipient's mailbox is full: retrying later may help");
    expect_hint_starts(codes_hint(SMTPCAP_STAGE_RCPT, false, 550, 5, 2, 1, NULL),
                       "the recipient's mailbox is disabled");
    expect_hint_starts(codes_hint(SMTPCAP_STAGE_RCPT, false, 452, 4, 5, 3, NULL),
                       "the server accepts no more recipients");
    expect_hint_starts(codes_hint(SMTPCAP_STAGE_DATA, false, 503, 5, 5, 1, NULL),
                       "the client sent a command the server did not expect");
    expect_hint_starts(codes_hint(SMTPCAP_STAGE_AUTH, false, 534, 5, 7, 9, NULL),
                       "the server will not accept this login method");
    expect_hint_starts(codes_hint(SMTPCAP_STAGE_AUTH, false, 538, 5, 7, 11, NULL),
                       "the server accepts this login method only over an encrypted");
    /* Exchange's "535 5.7.3 Authentication unsuccessful" is bad credentials, not crypto. */
    expect_hint_starts(codes_hint(SMTPCAP_STAGE_AUTH, false, 535, 5, 7, 3,
                                  "Authentication unsuccessful"),
                       "the server rejected the username or password");
}

static void test_codes_hint_by_text(void **state)
{
    (void)state;
    expect_hint_starts(codes_hint(SMTPCAP_STAGE_RCPT, false, 450, 4, 7, 1,
                                  "Recipient address rejected: Greylisted for 300 seconds"),
                       "the server greylisted the message");
    expect_hint_starts(codes_hint(SMTPCAP_STAGE_RCPT, false, 554, 5, 7, 1,
                                  "Service unavailable; Client host [192.0.2.1] blocked using "
                                  "zen.spamhaus.org"),
                       "the server blocks the sending IP address or domain");
    expect_hint_starts(codes_hint(SMTPCAP_STAGE_DATA, true, 550, 5, 7, 1,
                                  "Message rejected as spam"),
                       "the server's filter judged the message to be spam");
    expect_hint_starts(codes_hint(SMTPCAP_STAGE_DATA, true, 421, 4, 7, 0,
                                  "Our system has detected an unusual rate of unsolicited mail"),
                       "the server's spam filter deferred the message");
    expect_hint_starts(codes_hint(SMTPCAP_STAGE_DATA, true, 550, 5, 7, 1,
                                  "rejected due to the sender domain's DMARC policy"),
                       "the message failed the sender domain's DMARC policy");
    expect_hint_starts(codes_hint(SMTPCAP_STAGE_RCPT, false, 550, 5, 7, 1, "SPF fail"),
                       "the sender domain's SPF record does not allow");
    expect_hint_starts(codes_hint(SMTPCAP_STAGE_DATA, true, 550, 5, 7, 1, "No valid DKIM"),
                       "the message has no valid DKIM signature");
    expect_hint_starts(codes_hint(SMTPCAP_STAGE_RCPT, false, 450, 4, 7, 1,
                                  "Client host rejected: cannot find your hostname"),
                       "the server could not verify the sending IP's reverse DNS");
    expect_hint_starts(codes_hint(SMTPCAP_STAGE_RCPT, false, 552, NONE, "Quota exceeded"),
                       "the recipient's mailbox is full: retrying will not help");
    expect_hint_starts(codes_hint(SMTPCAP_STAGE_MAIL, false, 451, 4, 7, 1,
                                  "Too many messages, slow down"),
                       "the server is limiting how much mail");
    expect_hint_starts(codes_hint(SMTPCAP_STAGE_MAIL, false, 553, 5, 7, 1,
                                  "Sender address rejected: not owned by user bob"),
                       "the server does not let the logged-in account send as this sender");
    expect_hint_starts(codes_hint(SMTPCAP_STAGE_MAIL, false, 530, 5, 7, 0,
                                  "Must issue a STARTTLS command first"),
                       "the server requires an encrypted connection first");
    expect_hint_starts(codes_hint(SMTPCAP_STAGE_CONNECT, false, 554, NONE,
                                  "Your IP is listed on our blacklist"),
                       "the server blocks the sending IP address or domain");
}

static void test_codes_hint_basic_code_in_context(void **state)
{
    (void)state;
    /* Syntax-class enhanced codes defer to what the basic code means at that stage. */
    expect_hint_starts(codes_hint(SMTPCAP_STAGE_EHLO, false, 502, 5, 5, 2, NULL),
                       "the server does not understand EHLO");
    expect_hint_starts(codes_hint(SMTPCAP_STAGE_EHLO, false, 501, 5, 5, 4,
                                  "Syntax: EHLO hostname"),
                       "the server refused the host name the client gave");
    expect_hint_starts(codes_hint(SMTPCAP_STAGE_AUTH, false, 504, 5, 5, 4,
                                  "Unrecognized authentication type"),
                       "the server does not support this authentication mechanism");
    expect_hint_starts(codes_hint(SMTPCAP_STAGE_AUTH, false, 501, 5, 5, 4, "Cancelled"),
                       "the server rejected the AUTH exchange as malformed");
    expect_hint_starts(codes_hint(SMTPCAP_STAGE_RCPT, false, 503, 5, 5, 1, "need MAIL"),
                       "the client sent a command the server did not expect");
}

static void test_codes_hint_exchange_quirks(void **state)
{
    (void)state;
    /* Exchange Online: 5.1.10 for unknown recipients, 5.7.3 for bad credentials. */
    expect_hint_starts(codes_hint(SMTPCAP_STAGE_RCPT, false, 550, 5, 1, 10,
                                  "RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP "
                                  "address lookup"),
                       "the recipient address does not exist");
    assert_string_equal(describe(SMTPCAP_STAGE_RCPT, false, 550, 5, 1, 10,
                                 "Recipient not found by SMTP address lookup"),
                        "RCPT rejected: no such user");
    expect_hint_starts(codes_hint(SMTPCAP_STAGE_RCPT, false, 550, 5, 1, 10, NULL),
                       "the recipient's domain publishes a \"null MX\"");
    expect_hint_starts(codes_hint(SMTPCAP_STAGE_AUTH, false, 535, 5, 7, 139,
                                  "Authentication unsuccessful, SmtpClientAuthentication is "
                                  "disabled for the Tenant."),
                       "the server will not accept this login method for this account");
}

static void test_codes_hint_starttls_refused(void **state)
{
    (void)state;
    expect_hint_starts(codes_hint(SMTPCAP_STAGE_STARTTLS, false, 454, 4, 7, 0, NULL),
                       "the server cannot start TLS right now");
}

static void expect_retry(const char *hint, smtpcap_stage st, int code, int s, int d,
                         const char *text)
{
    if (!hint || !strstr(hint, "retr"))
        fail_msg("stage %d code %d X.%d.%d text \"%s\": hint \"%s\" says nothing about "
                 "retrying",
                 (int)st, code, s, d, text ? text : "", hint ? hint : "(null)");
}

static void test_codes_hint_always_mentions_retry(void **state)
{
    static const char *const texts[] = {NULL,        "",          "Relay access denied",
                                        "Greylisted", "SPF fail",  "DKIM", "DMARC", "spam",
                                        "blocked",   "over quota", "too many connections",
                                        "Must issue a STARTTLS command first"};
    (void)state;
    for (size_t i = 0; i < NSTAGES; i++) {
        smtpcap_stage st = all_stages[i];
        for (int code = 0; code <= 700; code++) {
            for (int eod = 0; eod <= 1; eod++) {
                for (size_t t = 0; t < sizeof texts / sizeof texts[0]; t++)
                    expect_retry(codes_hint(st, eod, code, NONE, texts[t]), st, code, -1, -1,
                                 texts[t]);
                if (code < 400 || code > 599) continue;
                for (size_t r = 0; r < NREGISTERED; r++) {
                    int s = registered[r][0], d = registered[r][1];
                    expect_retry(codes_hint(st, eod, code, code / 100, s, d, NULL), st, code, s,
                                 d, NULL);
                }
            }
        }
    }
}

static void test_codes_hint_temporary_says_later(void **state)
{
    (void)state;
    /* Without a more specific cause, 4xx invites a later retry and 5xx does not. */
    assert_string_equal(codes_hint(SMTPCAP_STAGE_OTHER, false, 455, NONE, NULL),
                        "the server reported a temporary problem: retrying later may help");
    assert_non_null(strstr(codes_hint(SMTPCAP_STAGE_OTHER, false, 559, NONE, NULL),
                           "retrying will not help"));
    assert_non_null(strstr(codes_hint(SMTPCAP_STAGE_MAIL, false, 250, 2, 1, 0, NULL),
                           "not a failure"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_codes_parse_valid),
        cmocka_unit_test(test_codes_parse_invalid),
        cmocka_unit_test(test_codes_parse_respects_len),
        cmocka_unit_test(test_codes_parse_null_outputs),
        cmocka_unit_test(test_codes_enhanced_meaning_known),
        cmocka_unit_test(test_codes_enhanced_meaning_all_registered),
        cmocka_unit_test(test_codes_enhanced_meaning_class_only),
        cmocka_unit_test(test_codes_enhanced_meaning_unknown_detail),
        cmocka_unit_test(test_codes_enhanced_meaning_invalid),
        cmocka_unit_test(test_codes_reply_meaning_known),
        cmocka_unit_test(test_codes_reply_meaning_listed),
        cmocka_unit_test(test_codes_reply_meaning_class_fallback),
        cmocka_unit_test(test_codes_reply_meaning_every_code),
        cmocka_unit_test(test_codes_describe_successes),
        cmocka_unit_test(test_codes_describe_rcpt_rejections),
        cmocka_unit_test(test_codes_describe_greylisting),
        cmocka_unit_test(test_codes_describe_auth),
        cmocka_unit_test(test_codes_describe_greeting),
        cmocka_unit_test(test_codes_describe_starttls),
        cmocka_unit_test(test_codes_describe_end_of_data),
        cmocka_unit_test(test_codes_describe_generic_uses_registry),
        cmocka_unit_test(test_codes_describe_invalid_codes),
        cmocka_unit_test(test_codes_describe_truncates),
        cmocka_unit_test(test_codes_describe_temporary_vs_permanent),
        cmocka_unit_test(test_codes_hint_examples),
        cmocka_unit_test(test_codes_hint_by_enhanced_code),
        cmocka_unit_test(test_codes_hint_by_text),
        cmocka_unit_test(test_codes_hint_basic_code_in_context),
        cmocka_unit_test(test_codes_hint_exchange_quirks),
        cmocka_unit_test(test_codes_hint_starttls_refused),
        cmocka_unit_test(test_codes_hint_always_mentions_retry),
        cmocka_unit_test(test_codes_hint_temporary_says_later),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
