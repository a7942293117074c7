/* Unit tests of the session verdict and per-message status (dissector/verdict.c) against the
 * rules of DESIGN.md ("outcome.status is one of ..."):
 *   - the outcome names the first reply that made delivery impossible; when every RCPT was
 *     refused it is the RCPT reply, not the 554 5.5.1 that follows DATA;
 *   - a failure the client recovered from (AUTH retried, EHLO refused then HELO accepted, a
 *     transaction abandoned with RSET) does not decide the outcome.
 * Each test scripts a session and compares the rendered summary (tests/recorder.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "recorder.h"

#define GREETING "220 mx.example.test ESMTP\r\n"


static void hello(script *t)
{
    S(t, GREETING);
    C(t, "EHLO c.example.org\r\n");
    S(t, "250-mx.example.test\r\n250 PIPELINING\r\n");
}

/* One whole accepted transaction. */
static void send_message(script *t, const char *from, const char *to, const char *final_reply)
{
    char *l = g_strdup_printf("MAIL FROM:<%s>\r\n", from);
    C(t, l);
    g_free(l);
    S(t, "250 2.1.0 Ok\r\n");
    l = g_strdup_printf("RCPT TO:<%s>\r\n", to);
    C(t, l);
    g_free(l);
    S(t, "250 2.1.5 Ok\r\n");
    C(t, "DATA\r\n");
    S(t, "354 End data with <CR><LF>.<CR><LF>\r\n");
    C(t, "Subject: s\r\n\r\nbody\r\n.\r\n");
    S(t, final_reply);
}

static void quit(script *t)
{
    C(t, "QUIT\r\n");
    S(t, "221 2.0.0 Bye\r\n");
}

static void expect_outcome(const script *t, smtpcap_outcome_status st, smtpcap_stage stage,
                           int code, const char *enh)
{
    const smtpcap_outcome *o = &t->sum->outcome;
    if (o->status != st || o->stage != stage || o->code != code)
        fail_msg("outcome %s %s %d, want %s %s %d\n%s", smtpcap_outcome_name(o->status),
                 smtpcap_stage_name(o->stage), o->code, smtpcap_outcome_name(st),
                 smtpcap_stage_name(stage), code, t->sum_text);
    if (enh) {
        assert_non_null(o->enhanced);
        assert_string_equal(o->enhanced, enh);
    } else {
        assert_null(o->enhanced);
    }
    assert_non_null(o->hint);
    assert_true(strlen(o->hint) > 0);
}

/* ---- delivered, partial ------------------------------------------------------------------ */

static void test_verdict_delivered_names_queue_id(void **state)
{
    (void)state;
    script t;
    sc_open(&t, NULL);
    hello(&t);
    send_message(&t, "a@example.org", "b@example.test", "250 2.0.0 Ok: queued as 15FE7116139\r\n");
    quit(&t);
    sc_finish(&t, SMTPCAP_END_CLOSED);
    assert_string_equal(t.sum_text,
                        "tls=none helo=c.example.org midstream=0 gaps=0\n"
                        "msg from=<a@example.org> mail=250/2.1.0 data=250/2.0.0 queue=15FE7116139 "
                        "size=20 accepted subject=\"s\"\n"
                        "  rcpt <b@example.test> 250/2.1.5\n"
                        "outcome delivered DATA 250/2.0.0 \"2.0.0 Ok: queued as 15FE7116139\"\n");
    expect_outcome(&t, SMTPCAP_OUTCOME_DELIVERED, SMTPCAP_STAGE_DATA, 250, "2.0.0");
    assert_non_null(strstr(t.sum->outcome.hint, "15FE7116139"));
    sc_close(&t);
}

/* One of three recipients refused: the mail went out, to the others. */
static void test_verdict_partial_one_rcpt_refused(void **state)
{
    (void)state;
    script t;
    sc_open(&t, NULL);
    hello(&t);
    C(&t, "MAIL FROM:<a@example.org>\r\n");
    S(&t, "250 2.1.0 Ok\r\n");
    C(&t, "RCPT TO:<alice@example.test>\r\n");
    S(&t, "250 2.1.5 Ok\r\n");
    C(&t, "RCPT TO:<nosuchuser@example.test>\r\n");
    S(&t, "550 5.1.1 <nosuchuser@example.test>: Recipient address rejected: User unknown\r\n");
    C(&t, "RCPT TO:<bob@example.test>\r\n");
    S(&t, "250 2.1.5 Ok\r\n");
    C(&t, "DATA\r\n");
    S(&t, "354 go\r\n");
    C(&t, "\r\nx\r\n.\r\n");
    S(&t, "250 2.0.0 Ok: queued as D8979A7244F\r\n");
    quit(&t);
    sc_finish(&t, SMTPCAP_END_CLOSED);
    assert_string_equal(t.sum_text,
                        "tls=none helo=c.example.org midstream=0 gaps=0\n"
                        "msg from=<a@example.org> mail=250/2.1.0 data=250/2.0.0 queue=D8979A7244F "
                        "size=5 accepted\n"
                        "  rcpt <alice@example.test> 250/2.1.5\n"
                        "  rcpt <nosuchuser@example.test> 550/5.1.1\n"
                        "  rcpt <bob@example.test> 250/2.1.5\n"
                        "outcome partial RCPT 550/5.1.1 \"5.1.1 <nosuchuser@example.test>: Recipient "
                        "address rejected: User unknown\"\n");
    expect_outcome(&t, SMTPCAP_OUTCOME_PARTIAL, SMTPCAP_STAGE_RCPT, 550, "5.1.1");
    sc_close(&t);
}

/* First message accepted, second refused at the end of its data (552: too big): partial. */
static void test_verdict_partial_second_message_refused(void **state)
{
    (void)state;
    script t;
    sc_open(&t, NULL);
    hello(&t);
    send_message(&t, "a@example.org", "b@example.test", "250 2.0.0 Ok: queued as AAA1\r\n");
    send_message(&t, "a@example.org", "c@example.test",
                 "552 5.3.4 Message size exceeds fixed limit\r\n");
    quit(&t);
    sc_finish(&t, SMTPCAP_END_CLOSED);
    assert_int_equal(t.sum->nmessages, 2);
    assert_int_equal(t.sum->messages[0].status, SMTPCAP_MSG_ACCEPTED);
    assert_int_equal(t.sum->messages[1].status, SMTPCAP_MSG_REJECTED);
    assert_int_equal(t.sum->messages[1].data_code, 552);
    expect_outcome(&t, SMTPCAP_OUTCOME_PARTIAL, SMTPCAP_STAGE_DATA, 552, "5.3.4");
    sc_close(&t);
}

/* ---- failed, tempfail ---------------------------------------------------------------------- */

/* DESIGN.md: when every RCPT was rejected the step that broke is the RCPT reply, not the
 * "554 5.5.1 no valid recipients" that follows DATA. */
static void test_verdict_all_rcpts_refused_fails_at_rcpt(void **state)
{
    (void)state;
    script t;
    sc_open(&t, NULL);
    hello(&t);
    C(&t, "MAIL FROM:<a@example.org>\r\nRCPT TO:<ghost@example.test>\r\nDATA\r\n");
    S(&t, "250 2.1.0 Ok\r\n550 5.1.1 <ghost@example.test>: Recipient address rejected: User unknown\r\n"
          "554 5.5.1 Error: no valid recipients\r\n");
    quit(&t);
    sc_finish(&t, SMTPCAP_END_CLOSED);
    assert_string_equal(t.sum_text,
                        "tls=none helo=c.example.org midstream=0 gaps=0\n"
                        "msg from=<a@example.org> mail=250/2.1.0 data=554/5.5.1 queue=(null) size=-1 rejected\n"
                        "  rcpt <ghost@example.test> 550/5.1.1\n"
                        "outcome failed RCPT 550/5.1.1 \"5.1.1 <ghost@example.test>: Recipient address "
                        "rejected: User unknown\"\n");
    expect_outcome(&t, SMTPCAP_OUTCOME_FAILED, SMTPCAP_STAGE_RCPT, 550, "5.1.1");
    sc_close(&t);
}

static void test_verdict_greeting_554_fails_at_connect(void **state)
{
    (void)state;
    script t;
    sc_open(&t, NULL);
    S(&t, "554 5.7.1 <localhost[127.0.0.1]>: Client host rejected: Access denied\r\n");
    sc_finish(&t, SMTPCAP_END_CLOSED);
    assert_string_equal(t.sum_text, "tls=none helo=(null) midstream=0 gaps=0\n"
                                    "outcome failed CONNECT 554/5.7.1 \"5.7.1 <localhost[127.0.0.1]>: "
                                    "Client host rejected: Access denied\"\n");
    expect_outcome(&t, SMTPCAP_OUTCOME_FAILED, SMTPCAP_STAGE_CONNECT, 554, "5.7.1");
    sc_close(&t);
}

/* 421 at the greeting: temporary; the client's QUIT after it changes nothing. */
static void test_verdict_greeting_421_tempfail(void **state)
{
    (void)state;
    script t;
    sc_open(&t, NULL);
    S(&t, "421 4.7.0 mx.example.test Service temporarily unavailable, try again later\r\n");
    C(&t, "QUIT\r\n");
    sc_finish(&t, SMTPCAP_END_RESET);
    expect_outcome(&t, SMTPCAP_OUTCOME_TEMPFAIL, SMTPCAP_STAGE_CONNECT, 421, "4.7.0");
    assert_non_null(strstr(t.sum->outcome.hint, "retry"));
    sc_close(&t);
}

static void test_verdict_auth_failure_then_quit(void **state)
{
    (void)state;
    script t;
    sc_open(&t, NULL);
    hello(&t);
    C(&t, "AUTH PLAIN AGJvYgB3cm9uZw==\r\n"); /* \0bob\0wrong */
    S(&t, "535 5.7.8 Authentication credentials invalid\r\n");
    quit(&t);
    sc_finish(&t, SMTPCAP_END_CLOSED);
    assert_string_equal(t.sum_text,
                        "tls=none helo=c.example.org midstream=0 gaps=0\n"
                        "auth PLAIN user=bob failure 535/5.7.8\n"
                        "outcome failed AUTH 535/5.7.8 \"5.7.8 Authentication credentials invalid\"\n"
                        "warning AUTH sent before TLS: credentials crossed the network in clear\n");
    expect_outcome(&t, SMTPCAP_OUTCOME_FAILED, SMTPCAP_STAGE_AUTH, 535, "5.7.8");
    /* DESIGN.md's example hint for 535 5.7.8 */
    assert_non_null(strstr(t.sum->outcome.hint, "username or password"));
    assert_non_null(strstr(t.sum->outcome.hint, "retrying will not help"));
    sc_close(&t);
}

static void test_verdict_mail_refused(void **state)
{
    (void)state;
    script t;
    sc_open(&t, NULL);
    hello(&t);
    C(&t, "MAIL FROM:<spoof@example.test>\r\n");
    S(&t, "553 5.7.1 <spoof@example.test>: Sender address rejected: not owned by user\r\n");
    quit(&t);
    sc_finish(&t, SMTPCAP_END_CLOSED);
    assert_string_equal(t.sum_text,
                        "tls=none helo=c.example.org midstream=0 gaps=0\n"
                        "msg from=<spoof@example.test> mail=553/5.7.1 data=- queue=(null) size=-1 rejected\n"
                        "outcome failed MAIL 553/5.7.1 \"5.7.1 <spoof@example.test>: Sender address "
                        "rejected: not owned by user\"\n");
    sc_close(&t);
}

/* Greylisting: 451 4.7.1 at RCPT, the client leaves without QUIT. */
static void test_verdict_rcpt_451_tempfail(void **state)
{
    (void)state;
    script t;
    sc_open(&t, NULL);
    hello(&t);
    C(&t, "MAIL FROM:<a@example.org>\r\n");
    S(&t, "250 OK\r\n");
    C(&t, "RCPT TO:<alice@example.test>\r\n");
    S(&t, "451 4.7.1 <alice@example.test>: Recipient address rejected: Greylisted\r\n");
    sc_finish(&t, SMTPCAP_END_CLOSED);
    assert_string_equal(t.sum_text,
                        "tls=none helo=c.example.org midstream=0 gaps=0\n"
                        "msg from=<a@example.org> mail=250 data=- queue=(null) size=-1 tempfail\n"
                        "  rcpt <alice@example.test> 451/4.7.1\n"
                        "outcome tempfail RCPT 451/4.7.1 \"4.7.1 <alice@example.test>: Recipient "
                        "address rejected: Greylisted\"\n");
    sc_close(&t);
}

/* ---- recovered failures -------------------------------------------------------------------- */

static void test_verdict_auth_retry_recovers(void **state)
{
    (void)state;
    script t;
    sc_open(&t, NULL);
    hello(&t);
    C(&t, "AUTH PLAIN AGJvYgB3cm9uZw==\r\n");
    S(&t, "535 5.7.8 Authentication credentials invalid\r\n");
    C(&t, "AUTH PLAIN AGJvYgBzZWNyZXQ=\r\n");
    S(&t, "235 2.7.0 Authentication successful\r\n");
    send_message(&t, "bob@example.org", "c@example.test", "250 2.0.0 Ok: queued as R1\r\n");
    quit(&t);
    sc_finish(&t, SMTPCAP_END_CLOSED);
    expect_outcome(&t, SMTPCAP_OUTCOME_DELIVERED, SMTPCAP_STAGE_DATA, 250, "2.0.0");
    /* the failed attempt stays visible */
    assert_int_equal(t.sum->nauth, 2);
    assert_int_equal(t.sum->auth[0].result, SMTPCAP_AUTH_FAILURE);
    assert_int_equal(t.sum->auth[1].result, SMTPCAP_AUTH_SUCCESS);
    sc_close(&t);
}

static void test_verdict_ehlo_refused_helo_recovers(void **state)
{
    (void)state;
    script t;
    sc_open(&t, NULL);
    S(&t, GREETING);
    C(&t, "EHLO c.example.org\r\n");
    S(&t, "502 5.5.2 Error: command not recognized\r\n");
    C(&t, "HELO c.example.org\r\n");
    S(&t, "250 mx.example.test\r\n");
    send_message(&t, "a@example.org", "b@example.test", "250 2.0.0 Ok: queued as H1\r\n");
    quit(&t);
    sc_finish(&t, SMTPCAP_END_CLOSED);
    expect_outcome(&t, SMTPCAP_OUTCOME_DELIVERED, SMTPCAP_STAGE_DATA, 250, "2.0.0");
    assert_string_equal(t.sum->helo, "c.example.org");
    sc_close(&t);
}

/* A refused transaction abandoned with RSET, then a good one: delivered. */
static void test_verdict_rset_after_rejection_then_delivery(void **state)
{
    (void)state;
    script t;
    sc_open(&t, NULL);
    hello(&t);
    C(&t, "MAIL FROM:<a@example.org>\r\n");
    S(&t, "250 2.1.0 Ok\r\n");
    C(&t, "RCPT TO:<ghost@example.test>\r\n");
    S(&t, "550 5.1.1 <ghost@example.test>: User unknown\r\n");
    C(&t, "RSET\r\n");
    S(&t, "250 2.0.0 Ok\r\n");
    send_message(&t, "a@example.org", "b@example.test", "250 2.0.0 Ok: queued as OK2\r\n");
    quit(&t);
    sc_finish(&t, SMTPCAP_END_CLOSED);
    assert_int_equal(t.sum->nmessages, 2);
    /* every recipient refused: the first transaction is rejected (RSET came after the answer) */
    assert_int_equal(t.sum->messages[0].status, SMTPCAP_MSG_REJECTED);
    assert_int_equal(t.sum->messages[1].status, SMTPCAP_MSG_ACCEPTED);
    expect_outcome(&t, SMTPCAP_OUTCOME_DELIVERED, SMTPCAP_STAGE_DATA, 250, "2.0.0");
    assert_non_null(strstr(t.sum->outcome.hint, "OK2"));
    sc_close(&t);
}

/* ---- encrypted, incomplete, no_mail ------------------------------------------------------- */

static void test_verdict_starttls_encrypted(void **state)
{
    (void)state;
    script t;
    sc_open(&t, NULL);
    S(&t, GREETING);
    C(&t, "EHLO c.example.org\r\n");
    S(&t, "250-mx.example.test\r\n250 STARTTLS\r\n");
    C(&t, "STARTTLS\r\n");
    S(&t, "220 2.0.0 Ready to start TLS\r\n");
    C(&t, "\x16\x03\x01\x00\x10");
    sc_finish(&t, SMTPCAP_END_RESET);
    expect_outcome(&t, SMTPCAP_OUTCOME_ENCRYPTED, SMTPCAP_STAGE_TLS, 0, NULL);
    assert_null(t.sum->outcome.text);
    assert_int_equal(t.sum->tls, SMTPCAP_TLS_STARTTLS);
    assert_false(sum_has_warning(t.sum, "STARTTLS but the client did not use it"));
    sc_close(&t);
}

/* The client sends half a message and resets the connection: no final answer. */
static void test_verdict_client_vanishes_mid_data(void **state)
{
    (void)state;
    script t;
    sc_open(&t, NULL);
    hello(&t);
    C(&t, "MAIL FROM:<a@example.org>\r\n");
    S(&t, "250 2.1.0 Ok\r\n");
    C(&t, "RCPT TO:<b@example.test>\r\n");
    S(&t, "250 2.1.5 Ok\r\n");
    C(&t, "DATA\r\n");
    S(&t, "354 End data with <CR><LF>.<CR><LF>\r\n");
    C(&t, "Subject: never ends\r\n\r\nbody line 1\r\nbody line 2: the cli");
    sc_finish(&t, SMTPCAP_END_RESET);
    assert_int_equal(t.sum->outcome.status, SMTPCAP_OUTCOME_INCOMPLETE);
    assert_int_equal(t.sum->outcome.stage, SMTPCAP_STAGE_DATA);
    assert_int_equal(t.sum->nmessages, 1);
    assert_int_equal(t.sum->messages[0].status, SMTPCAP_MSG_INCOMPLETE);
    assert_int_equal(t.sum->messages[0].data_code, 0);
    /* the partial last line is content the client did send (without a line end):
     * "Subject: never ends\r\n" 21, "\r\n" 2, "body line 1\r\n" 13, "body line 2: the cli" 20 */
    assert_int_equal(t.sum->messages[0].size, 21 + 2 + 13 + 20);
    assert_non_null(strstr(t.sum->outcome.hint, "reset"));
    sc_close(&t);
}

static void test_verdict_ehlo_quit_no_mail(void **state)
{
    (void)state;
    script t;
    sc_open(&t, NULL);
    hello(&t);
    quit(&t);
    sc_finish(&t, SMTPCAP_END_CLOSED);
    assert_string_equal(t.sum_text, "tls=none helo=c.example.org midstream=0 gaps=0\n"
                                    "outcome no_mail - -\n");
    expect_outcome(&t, SMTPCAP_OUTCOME_NO_MAIL, SMTPCAP_STAGE_NONE, 0, NULL);
    sc_close(&t);
}

/* The capture stops after the EHLO reply with the connection still open: nobody knows what
 * came next. */
static void test_verdict_capture_ends_after_ehlo_incomplete(void **state)
{
    (void)state;
    script t;
    sc_open(&t, NULL);
    hello(&t);
    sc_finish(&t, SMTPCAP_END_CAPTURE);
    assert_int_equal(t.sum->outcome.status, SMTPCAP_OUTCOME_INCOMPLETE);
    assert_int_equal(t.sum->outcome.stage, SMTPCAP_STAGE_EHLO);
    assert_non_null(strstr(t.sum->outcome.hint, "capture"));
    sc_close(&t);
}

/* A command still waiting for its reply when the capture ends: incomplete even after QUIT. */
static void test_verdict_unanswered_command_incomplete(void **state)
{
    (void)state;
    script t;
    sc_open(&t, NULL);
    hello(&t);
    C(&t, "MAIL FROM:<a@example.org>\r\n");
    sc_finish(&t, SMTPCAP_END_CAPTURE);
    assert_int_equal(t.sum->outcome.status, SMTPCAP_OUTCOME_INCOMPLETE);
    assert_int_equal(t.sum->messages[0].status, SMTPCAP_MSG_INCOMPLETE);
    sc_close(&t);
}

/* ---- message status values ------------------------------------------------------------------ */

static void test_verdict_message_statuses(void **state)
{
    (void)state;
    script t;
    sc_open(&t, NULL);
    hello(&t);
    /* 1 accepted */
    send_message(&t, "a@example.org", "b@example.test", "250 2.0.0 Ok: queued as M1\r\n");
    /* 2 rejected at MAIL */
    C(&t, "MAIL FROM:<bad@example.org>\r\n");
    S(&t, "550 5.7.1 no\r\n");
    /* 3 tempfail at the end of data */
    send_message(&t, "a@example.org", "c@example.test", "451 4.3.0 Error: queue file write error\r\n");
    /* 4 aborted by RSET */
    C(&t, "MAIL FROM:<a@example.org>\r\n");
    S(&t, "250 2.1.0 Ok\r\n");
    C(&t, "RSET\r\n");
    S(&t, "250 2.0.0 Ok\r\n");
    /* 5 aborted by a new MAIL (RFC 5321 4.1.1.2 does not allow it, clients do it) */
    C(&t, "MAIL FROM:<a@example.org>\r\n");
    S(&t, "250 2.1.0 Ok\r\n");
    /* 6 still open when the capture ends */
    C(&t, "MAIL FROM:<last@example.org>\r\n");
    S(&t, "250 2.1.0 Ok\r\n");
    sc_finish(&t, SMTPCAP_END_CAPTURE);
    assert_int_equal(t.sum->nmessages, 6);
    static const smtpcap_msg_status want[] = { SMTPCAP_MSG_ACCEPTED, SMTPCAP_MSG_REJECTED,
                                               SMTPCAP_MSG_TEMPFAIL, SMTPCAP_MSG_ABORTED,
                                               SMTPCAP_MSG_ABORTED, SMTPCAP_MSG_INCOMPLETE };
    for (size_t i = 0; i < 6; i++)
        if (t.sum->messages[i].status != want[i])
            fail_msg("message %zu: %s, want %s", i + 1,
                     smtpcap_msg_status_name(t.sum->messages[i].status),
                     smtpcap_msg_status_name(want[i]));
    assert_string_equal(t.sum->messages[0].queue_id, "M1");
    assert_int_equal(t.sum->messages[1].mail_code, 550);
    assert_int_equal(t.sum->messages[2].data_code, 451);
    assert_string_equal(t.sum->messages[2].data_enhanced, "4.3.0");
    sc_close(&t);
}

/* Null sender (bounces): "" without brackets. */
static void test_verdict_null_sender(void **state)
{
    (void)state;
    script t;
    sc_open(&t, NULL);
    hello(&t);
    send_message(&t, "", "b@example.test", "250 2.0.0 Ok: queued as N1\r\n");
    quit(&t);
    sc_finish(&t, SMTPCAP_END_CLOSED);
    assert_string_equal(t.sum->messages[0].mail_from, "");
    assert_int_equal(t.sum->outcome.status, SMTPCAP_OUTCOME_DELIVERED);
    sc_close(&t);
}

/* ---- warnings ------------------------------------------------------------------------------- */

static void test_verdict_warning_starttls_not_used(void **state)
{
    (void)state;
    script t;
    sc_open(&t, NULL);
    S(&t, GREETING);
    C(&t, "EHLO c.example.org\r\n");
    S(&t, "250-mx.example.test\r\n250-STARTTLS\r\n250 8BITMIME\r\n");
    send_message(&t, "a@example.org", "b@example.test", "250 2.0.0 Ok\r\n");
    quit(&t);
    sc_finish(&t, SMTPCAP_END_CLOSED);
    assert_true(sum_has_warning(t.sum, "the server offered STARTTLS but the client did not use it"));
    assert_true(t.sum->starttls_unused);
    sc_close(&t);
}

static void test_verdict_warning_no_starttls_offered(void **state)
{
    (void)state;
    script t;
    sc_open(&t, NULL);
    hello(&t);
    send_message(&t, "a@example.org", "b@example.test", "250 2.0.0 Ok\r\n");
    quit(&t);
    sc_finish(&t, SMTPCAP_END_CLOSED);
    assert_false(t.sum->starttls_unused);
    assert_int_equal(t.sum->nwarnings, 0);
    sc_close(&t);
}

static void test_verdict_warning_gaps(void **state)
{
    (void)state;
    script t;
    sc_open(&t, NULL);
    hello(&t);
    sc_gap(&t, SMTPCAP_DIR_SERVER, 7);
    sc_gap(&t, SMTPCAP_DIR_CLIENT, 5);
    quit(&t);
    sc_finish(&t, SMTPCAP_END_CLOSED);
    assert_int_equal(t.sum->gap_bytes, 12);
    assert_true(sum_has_warning(t.sum, "12 bytes missing from the capture"));
    sc_close(&t);
}

static void test_verdict_warning_midstream(void **state)
{
    (void)state;
    smtpcap_config cfg = { .midstream = true };
    script t;
    sc_open(&t, &cfg);
    C(&t, "RCPT TO:<b@example.test>\r\n");
    S(&t, "250 2.1.5 Ok\r\n");
    sc_finish(&t, SMTPCAP_END_CAPTURE);
    assert_true(t.sum->midstream);
    assert_true(sum_has_warning(t.sum, "the capture began after the session started"));
    sc_close(&t);
}

/* ---- regressions: bugs these tests found, fixed ------------------------------------------- */

/* Was a bug: seen from the middle (capture started after MAIL FROM), a session whose message is
 * accepted ("250 2.0.0 Ok: queued as M1" to the end of the data) gets outcome no_mail, hint
 * "the session ended without trying to send mail", and no message entry at all. DESIGN.md:
 * no_mail = "the session ended without a mail transaction"; the decoder "never assumes it saw
 * the session from the start". Expected: delivered, with the queue id. */
static void test_verdict_midstream_accepted_message_is_delivered(void **state)
{
    (void)state;
    smtpcap_config cfg = { .midstream = true };
    script t;
    sc_open(&t, &cfg);
    C(&t, "RCPT TO:<b@example.test>\r\n");
    S(&t, "250 2.1.5 Ok\r\n");
    C(&t, "DATA\r\n");
    S(&t, "354 End data with <CR><LF>.<CR><LF>\r\n");
    C(&t, "Subject: mid\r\n\r\nbody\r\n.\r\n");
    S(&t, "250 2.0.0 Ok: queued as M1\r\n");
    quit(&t);
    sc_finish(&t, SMTPCAP_END_CLOSED);
    if (t.sum->outcome.status != SMTPCAP_OUTCOME_DELIVERED)
        fail_msg("outcome %s, want delivered\n%s", smtpcap_outcome_name(t.sum->outcome.status),
                 t.sum_text);
    assert_non_null(strstr(t.sum->outcome.hint, "M1"));
    sc_close(&t);
}

/* ---- review findings (regressions) -------------------------------------------------------- */

/* A message whose content the server refused is not delivered, even when a later message is
 * accepted: partial, naming the refusal. */
static void test_verdict_refused_content_then_accepted_is_partial(void **state)
{
    (void)state;
    script t;
    sc_open(&t, NULL);
    hello(&t);
    send_message(&t, "a@example.org", "b@example.test", "250 2.0.0 Ok: queued as A1\r\n");
    send_message(&t, "a@example.org", "b@example.test", "550 5.7.1 Message rejected as spam\r\n");
    send_message(&t, "a@example.org", "b@example.test", "250 2.0.0 Ok: queued as A3\r\n");
    quit(&t);
    sc_finish(&t, SMTPCAP_END_CLOSED);
    expect_outcome(&t, SMTPCAP_OUTCOME_PARTIAL, SMTPCAP_STAGE_DATA, 550, "5.7.1");
    assert_int_equal(t.sum->messages[1].status, SMTPCAP_MSG_REJECTED);
    sc_close(&t);
}

/* Postfix/Exim "530 Must issue a STARTTLS command first", then STARTTLS: what follows is
 * hidden, the 530 was recovered from. */
static void test_verdict_failure_before_starttls_is_encrypted(void **state)
{
    (void)state;
    script t;
    sc_open(&t, NULL);
    S(&t, GREETING);
    C(&t, "EHLO c.example.org\r\n");
    S(&t, "250-mx.example.test\r\n250 STARTTLS\r\n");
    C(&t, "MAIL FROM:<a@example.org>\r\n");
    S(&t, "530 5.7.0 Must issue a STARTTLS command first\r\n");
    C(&t, "STARTTLS\r\n");
    S(&t, "220 2.0.0 Ready to start TLS\r\n");
    C(&t, "\x16\x03\x01\x00\x10");
    sc_finish(&t, SMTPCAP_END_CLOSED);
    expect_outcome(&t, SMTPCAP_OUTCOME_ENCRYPTED, SMTPCAP_STAGE_TLS, 0, NULL);
    sc_close(&t);
}

/* BDAT refused mid-way: the refused chunk's reply stays the answer. */
static void test_verdict_bdat_refused_first_reply_kept(void **state)
{
    (void)state;
    script t;
    sc_open(&t, NULL);
    hello(&t);
    C(&t, "MAIL FROM:<a@example.org>\r\nRCPT TO:<c@example.test>\r\nBDAT 10\r\n0123456789"
          "BDAT 5 LAST\r\nabcde");
    S(&t, "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n552 5.3.4 Message size exceeds fixed limit\r\n"
          "503 5.5.1 Error: no BDAT transaction\r\n");
    quit(&t);
    sc_finish(&t, SMTPCAP_END_CLOSED);
    assert_int_equal(t.sum->messages[0].data_code, 552);
    expect_outcome(&t, SMTPCAP_OUTCOME_FAILED, SMTPCAP_STAGE_BDAT, 552, "5.3.4");
    sc_close(&t);
}

/* A 421 while the client sends the message: the server's final answer, a tempfail. */
static void test_verdict_421_during_data_is_tempfail(void **state)
{
    (void)state;
    script t;
    sc_open(&t, NULL);
    hello(&t);
    C(&t, "MAIL FROM:<a@example.org>\r\n");
    S(&t, "250 2.1.0 Ok\r\n");
    C(&t, "RCPT TO:<b@example.test>\r\n");
    S(&t, "250 2.1.5 Ok\r\n");
    C(&t, "DATA\r\n");
    S(&t, "354 go\r\n");
    C(&t, "Subject: x\r\n");
    S(&t, "421 4.4.2 mx Error: timeout exceeded\r\n");
    sc_finish(&t, SMTPCAP_END_CLOSED);
    expect_outcome(&t, SMTPCAP_OUTCOME_TEMPFAIL, SMTPCAP_STAGE_DATA, 421, "4.4.2");
    assert_int_equal(t.sum->messages[0].status, SMTPCAP_MSG_TEMPFAIL);
    sc_close(&t);
}

/* An unsolicited 421 with nothing pending also ends the session as a tempfail. */
static void test_verdict_unsolicited_421_is_tempfail(void **state)
{
    (void)state;
    script t;
    sc_open(&t, NULL);
    hello(&t);
    S(&t, "421 4.3.2 Service shutting down\r\n");
    sc_finish(&t, SMTPCAP_END_CLOSED);
    expect_outcome(&t, SMTPCAP_OUTCOME_TEMPFAIL, SMTPCAP_STAGE_EHLO, 421, "4.3.2");
    sc_close(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verdict_refused_content_then_accepted_is_partial),
        cmocka_unit_test(test_verdict_failure_before_starttls_is_encrypted),
        cmocka_unit_test(test_verdict_bdat_refused_first_reply_kept),
        cmocka_unit_test(test_verdict_421_during_data_is_tempfail),
        cmocka_unit_test(test_verdict_unsolicited_421_is_tempfail),
        cmocka_unit_test(test_verdict_delivered_names_queue_id),
        cmocka_unit_test(test_verdict_partial_one_rcpt_refused),
        cmocka_unit_test(test_verdict_partial_second_message_refused),
        cmocka_unit_test(test_verdict_all_rcpts_refused_fails_at_rcpt),
        cmocka_unit_test(test_verdict_greeting_554_fails_at_connect),
        cmocka_unit_test(test_verdict_greeting_421_tempfail),
        cmocka_unit_test(test_verdict_auth_failure_then_quit),
        cmocka_unit_test(test_verdict_mail_refused),
        cmocka_unit_test(test_verdict_rcpt_451_tempfail),
        cmocka_unit_test(test_verdict_auth_retry_recovers),
        cmocka_unit_test(test_verdict_ehlo_refused_helo_recovers),
        cmocka_unit_test(test_verdict_rset_after_rejection_then_delivery),
        cmocka_unit_test(test_verdict_starttls_encrypted),
        cmocka_unit_test(test_verdict_client_vanishes_mid_data),
        cmocka_unit_test(test_verdict_ehlo_quit_no_mail),
        cmocka_unit_test(test_verdict_capture_ends_after_ehlo_incomplete),
        cmocka_unit_test(test_verdict_unanswered_command_incomplete),
        cmocka_unit_test(test_verdict_message_statuses),
        cmocka_unit_test(test_verdict_null_sender),
        cmocka_unit_test(test_verdict_warning_starttls_not_used),
        cmocka_unit_test(test_verdict_warning_no_starttls_offered),
        cmocka_unit_test(test_verdict_warning_gaps),
        cmocka_unit_test(test_verdict_warning_midstream),
        cmocka_unit_test(test_verdict_midstream_accepted_message_is_delivered),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
