/* The split-at-every-position test of the decoder (http-parser's test_scan, STYLE.md).
 *
 * For every capture in captures/, the project's own TCP engine turns the packets into each
 * session's byte streams: the ordered list of (direction, bytes, time) chunks and gaps a real
 * run feeds the decoder. Each session is then decoded
 *   - as captured                      -> the reference (events + summary as text),
 *   - with one chunk split in two at k, for every byte position k of the session,
 *   - one byte per feed call,
 * and every run must give the reference text exactly. A push parser that keeps state across
 * feed calls correctly cannot tell these apart; one that does not shows it here.
 *
 * Sessions larger than BIG_SESSION are tested at the positions within the first and last
 * EDGE bytes plus RANDOM_POSITIONS positions drawn with a fixed seed, to keep the run short.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <glib.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <string.h>

#include "recorder.h"
#include "tcpengine.h"

#define BIG_SESSION (64 * 1024)
#define EDGE (8 * 1024)
#define RANDOM_POSITIONS 200
#define SEED 20240601

/* ---- a session as the TCP engine delivered it --------------------------------------------- */

typedef struct {
    bool gap;
    int dir;
    size_t off;     /* data: offset into flow.bytes (the concatenation of all data chunks) */
    size_t len;     /* data: bytes; gap: 0 */
    uint64_t gapn;  /* gap: bytes missing */
    int64_t ts;
} chunk;

typedef struct {
    tcp_flow_info fi;
    GArray *chunks;  /* chunk */
    GByteArray *bytes;
    bool closed;
    smtpcap_end_reason why;
    int64_t end_ts;
} flow;

typedef struct {
    GPtrArray *flows; /* flow*, in order of creation */
} collect;

static void *col_open(void *ctx, const tcp_flow_info *fi)
{
    collect *c = ctx;
    flow *f = g_new0(flow, 1);
    f->fi = *fi;
    f->chunks = g_array_new(FALSE, TRUE, sizeof(chunk));
    f->bytes = g_byte_array_new();
    g_ptr_array_add(c->flows, f);
    return f;
}

static void col_data(void *ctx, void *fp, int dir, const uint8_t *p, size_t n, int64_t ts)
{
    flow *f = fp;
    chunk ch = { .gap = false, .dir = dir, .off = f->bytes->len, .len = n, .ts = ts };
    g_byte_array_append(f->bytes, p, (guint)n);
    g_array_append_val(f->chunks, ch);
}

static void col_gap(void *ctx, void *fp, int dir, uint64_t bytes, int64_t ts)
{
    flow *f = fp;
    chunk ch = { .gap = true, .dir = dir, .off = f->bytes->len, .gapn = bytes, .ts = ts };
    g_array_append_val(f->chunks, ch);
}

static void col_close(void *ctx, void *fp, smtpcap_end_reason why, int64_t ts)
{
    flow *f = fp;
    f->closed = true;
    f->why = why;
    f->end_ts = ts;
}

static void flow_free(gpointer p)
{
    flow *f = p;
    g_array_free(f->chunks, TRUE);
    g_byte_array_free(f->bytes, TRUE);
    g_free(f);
}

/* Reads one capture through the TCP engine. */
static GPtrArray *load_capture(const char *path)
{
    char errbuf[PCAP_ERRBUF_SIZE] = "";
    pcap_t *p = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_MICRO, errbuf);
    if (!p) fail_msg("%s: %s", path, errbuf);
    int lt = pcap_datalink(p);
    assert_true(tcp_engine_linktype_supported(lt));
    collect c = { .flows = g_ptr_array_new_with_free_func(flow_free) };
    tcp_engine_config cfg = { 0 }; /* every port */
    tcp_engine_ops ops = { col_open, col_data, col_gap, col_close };
    tcp_engine *e = tcp_engine_new(&cfg, &ops, &c);
    struct pcap_pkthdr *h;
    const u_char *data;
    int64_t last = 0;
    int rc;
    while ((rc = pcap_next_ex(p, &h, &data)) == 1) {
        last = (int64_t)h->ts.tv_sec * 1000000 + h->ts.tv_usec;
        tcp_engine_packet(e, lt, data, h->caplen, h->len, last);
    }
    assert_int_equal(rc, PCAP_ERROR_BREAK); /* end of file, not an error */
    tcp_engine_finish(e, last);
    tcp_engine_free(e);
    pcap_close(p);
    for (guint i = 0; i < c.flows->len; i++)
        assert_true(((flow *)g_ptr_array_index(c.flows, i))->closed);
    return c.flows;
}

/* ---- replay ------------------------------------------------------------------------------- */

typedef struct {
    char *events;
    char *summary;
    unsigned bad_strings;
} result;

static void result_free(result *r)
{
    g_free(r->events);
    g_free(r->summary);
}

enum { WHOLE = -1, BYTEWISE = -2 };

/* Feeds the session: as captured (split == WHOLE), one byte per call (BYTEWISE), or with the
 * data chunk that holds byte `split` cut in two just before it. */
static result replay(const flow *f, long split)
{
    recorder rec;
    rec_init(&rec, true, true);
    smtpcap_config cfg = { .midstream = f->fi.midstream };
    smtpcap_session *s = smtpcap_session_new(&cfg, rec_event, &rec);
    const uint8_t *base = f->bytes->data;
    for (guint i = 0; i < f->chunks->len; i++) {
        const chunk *ch = &g_array_index(f->chunks, chunk, i);
        if (ch->gap) {
            assert_int_equal(smtpcap_session_gap(s, (smtpcap_dir)ch->dir, ch->gapn, ch->ts),
                             SMTPCAP_OK);
            continue;
        }
        const uint8_t *p = base + ch->off;
        if (split == BYTEWISE) {
            for (size_t k = 0; k < ch->len; k++)
                assert_int_equal(smtpcap_session_feed(s, (smtpcap_dir)ch->dir, p + k, 1, ch->ts),
                                 SMTPCAP_OK);
        } else if (split > (long)ch->off && (size_t)split < ch->off + ch->len) {
            size_t a = (size_t)split - ch->off;
            assert_int_equal(smtpcap_session_feed(s, (smtpcap_dir)ch->dir, p, a, ch->ts), SMTPCAP_OK);
            assert_int_equal(smtpcap_session_feed(s, (smtpcap_dir)ch->dir, p + a, ch->len - a, ch->ts),
                             SMTPCAP_OK);
        } else {
            assert_int_equal(smtpcap_session_feed(s, (smtpcap_dir)ch->dir, p, ch->len, ch->ts),
                             SMTPCAP_OK);
        }
    }
    const smtpcap_summary *sum = smtpcap_session_finish(s, f->why, f->end_ts);
    assert_non_null(sum);
    result r = { .events = g_strdup(rec.out->str), .summary = sum_render(sum, true),
                 .bad_strings = rec.bad_strings };
    smtpcap_session_free(s);
    rec_clear(&rec);
    return r;
}

/* True if byte k is strictly inside a data chunk (a split there changes the feed calls). */
static bool splits_a_chunk(const flow *f, size_t k)
{
    for (guint i = 0; i < f->chunks->len; i++) {
        const chunk *ch = &g_array_index(f->chunks, chunk, i);
        if (!ch->gap && k > ch->off && k < ch->off + ch->len) return true;
    }
    return false;
}

static void first_difference(const char *what, const char *want, const char *got, long split)
{
    size_t i = 0;
    while (want[i] && want[i] == got[i]) i++;
    size_t ls = i;
    while (ls > 0 && want[ls - 1] != '\n') ls--;
    const char *we = strchr(want + ls, '\n'), *ge = strchr(got + ls, '\n');
    fail_msg("%s differ when split at %ld%s:\n  want: %.*s\n  got:  %.*s", what, split,
             split == BYTEWISE ? " (bytewise)" : "",
             (int)(we ? we - (want + ls) : (long)strlen(want + ls)), want + ls,
             (int)(ge ? ge - (got + ls) : (long)strlen(got + ls)), got + ls);
}

static void expect_same(const result *ref, const result *r, long split)
{
    if (strcmp(ref->events, r->events) != 0) first_difference("events", ref->events, r->events, split);
    if (strcmp(ref->summary, r->summary) != 0)
        first_difference("summaries", ref->summary, r->summary, split);
}

/* Positions to test in a session of n bytes: all of them, or the edges plus a fixed-seed
 * sample for big sessions. */
static GArray *positions(size_t n, GRand *rng)
{
    GArray *pos = g_array_new(FALSE, FALSE, sizeof(size_t));
    for (size_t k = 1; k < n; k++) {
        if (n > BIG_SESSION && k >= EDGE && k < n - EDGE) continue;
        g_array_append_val(pos, k);
    }
    if (n > BIG_SESSION)
        for (int i = 0; i < RANDOM_POSITIONS; i++) {
            size_t k = (size_t)g_rand_int_range(rng, EDGE, (gint32)(n - EDGE));
            g_array_append_val(pos, k);
        }
    return pos;
}

/* ---- one test per capture ----------------------------------------------------------------- */

static void test_split_capture(void **state)
{
    const char *path = *state;
    GPtrArray *flows = load_capture(path);
    assert_true(flows->len > 0);
    GRand *rng = g_rand_new_with_seed(SEED);
    size_t tested = 0, total_bytes = 0;
    for (guint fi = 0; fi < flows->len; fi++) {
        const flow *f = g_ptr_array_index(flows, fi);
        result ref = replay(f, WHOLE);
        if (ref.bad_strings) fail_msg("session %u: %u strings are not clean UTF-8", fi + 1, ref.bad_strings);
        assert_true(strlen(ref.events) > 0);
        /* SMTPCAP_SPLIT_DUMP=1 prints the reference, to read what the decoder made of it. */
        if (g_getenv("SMTPCAP_SPLIT_DUMP"))
            printf("== %s session %u\n%s%s", path, fi + 1, ref.events, ref.summary);

        result again = replay(f, WHOLE);
        expect_same(&ref, &again, WHOLE);
        result_free(&again);

        result bw = replay(f, BYTEWISE);
        expect_same(&ref, &bw, BYTEWISE);
        result_free(&bw);

        GArray *pos = positions(f->bytes->len, rng);
        for (guint i = 0; i < pos->len; i++) {
            size_t k = g_array_index(pos, size_t, i);
            if (!splits_a_chunk(f, k)) continue;
            result r = replay(f, (long)k);
            expect_same(&ref, &r, (long)k);
            result_free(&r);
            tested++;
        }
        total_bytes += f->bytes->len;
        g_array_free(pos, TRUE);
        result_free(&ref);
    }
    print_message("%s: %u session(s), %zu bytes, %zu split positions + bytewise\n",
                  strrchr(path, '/') + 1, flows->len, total_bytes, tested);
    assert_true(tested > 0);
    g_rand_free(rng);
    g_ptr_array_free(flows, TRUE);
}

/* The chunk bookkeeping itself: a split position inside a chunk really produces two feed
 * calls, and positions on chunk boundaries are skipped (they would test nothing new). */
static void test_split_positions_inside_chunks_only(void **state)
{
    (void)state;
    flow f = { .chunks = g_array_new(FALSE, TRUE, sizeof(chunk)), .bytes = g_byte_array_new() };
    chunk a = { .dir = 1, .off = 0, .len = 4 }, g = { .gap = true, .dir = 0, .off = 4, .gapn = 9 },
          b = { .dir = 0, .off = 4, .len = 3 };
    g_array_append_val(f.chunks, a);
    g_array_append_val(f.chunks, g);
    g_array_append_val(f.chunks, b);
    g_byte_array_append(f.bytes, (const guint8 *)"220 ABC", 7);
    bool want[] = { false, true, true, true, false, true, true, false };
    for (size_t k = 0; k < 8; k++)
        if (splits_a_chunk(&f, k) != want[k]) fail_msg("position %zu", k);
    g_array_free(f.chunks, TRUE);
    g_byte_array_free(f.bytes, TRUE);
}

/* ---- synthetic sessions: what the captures do not contain ------------------------------------ */

/* A scripted session: "C:" / "S:" text chunks, "G:<dir>:<n>" gaps. */
typedef struct {
    const char *name;
    bool midstream;
    smtpcap_end_reason why;
    const char *const *steps; /* NULL-terminated */
} synthetic;

static flow *build_flow(const synthetic *sy)
{
    flow *f = g_new0(flow, 1);
    f->chunks = g_array_new(FALSE, TRUE, sizeof(chunk));
    f->bytes = g_byte_array_new();
    f->fi.midstream = sy->midstream;
    f->why = sy->why;
    int64_t ts = 1700000000000000LL;
    for (const char *const *st = sy->steps; *st; st++) {
        ts += 1000;
        const char *p = *st;
        if (p[0] == 'G') {
            chunk ch = { .gap = true, .dir = p[2] == 'C' ? 0 : 1, .off = f->bytes->len,
                         .gapn = g_ascii_strtoull(p + 4, NULL, 10), .ts = ts };
            g_array_append_val(f->chunks, ch);
            continue;
        }
        chunk ch = { .dir = p[0] == 'C' ? 0 : 1, .off = f->bytes->len, .len = strlen(p + 2), .ts = ts };
        g_byte_array_append(f->bytes, (const guint8 *)p + 2, (guint)ch.len);
        g_array_append_val(f->chunks, ch);
    }
    f->end_ts = ts + 1000;
    return f;
}

static const char *const syn_dots[] = {
    "S:220 mx.example.test ESMTP\r\n",
    "C:EHLO c.example.org\r\n",
    "S:250-mx.example.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n",
    "C:MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.test>\r\nRCPT TO:<c@example.test>\r\nDATA\r\n",
    "S:250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 unknown\r\n354 go\r\n",
    "C:From: A <a@example.org>\r\nSubject: =?UTF-8?B?R3LDvMOfZQ==?=\r\n =?UTF-8?B?IGF1cyBLw7Zsbg==?=\r\n"
    "\r\n..\r\n.x\r\n..foo\r\nbar.\r\n.\r.\r\n\r\n. \r\nend\n..\n.\r\n",
    "S:250 2.0.0 Ok: queued as 15FE7116139\r\n",
    "C:RSET\r\nMAIL FROM:<>\r\nRCPT TO:<d@example.test>\r\nDATA\r\n",
    "S:250 2.0.0 Ok\r\n250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 go\r\n",
    "C:Subject: lf\n\nbare\n.\n",
    "S:250 2.0.0 Ok: queued as 2\r\n",
    "C:QUIT\r\n",
    "S:221 2.0.0 Bye\r\n",
    NULL
};

static const char *const syn_bdat_auth[] = {
    "S:220 mx.example.test ESMTP\r\n",
    "C:ehlo c.example.org\r\n",
    "S:250-mx.example.test\r\n250-CHUNKING\r\n250 AUTH LOGIN PLAIN\r\n",
    "C:AUTH LOGIN\r\n",
    "S:334 VXNlcm5hbWU6\r\n",
    "C:Ym9i\r\n",
    "S:334 UGFzc3dvcmQ6\r\n",
    "C:c2VjcmV0\r\n",
    "S:535 5.7.8 Authentication credentials invalid\r\n",
    "C:AUTH PLAIN AGJvYgBzZWNyZXQ=\r\n",
    "S:235 2.7.0 Authentication successful\r\n",
    "C:MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.test>\r\nBDAT 23\r\nSubject: b\r\n\r\nQUIT\r\n.\r\n",
    "S:250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.0.0 Ok: 23 bytes\r\n",
    "C:BDAT 100 LAST\r\n0123456789",
    "G:C:80",
    "C:abcdefghi\n",
    "S:250 2.0.0 Ok: queued as BD1\r\n",
    "C:MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.test>\r\nBDAT 5\r\nhello",
    "S:250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.0.0 Ok: 5 bytes\r\n",
    "C:BDAT 0 LAST\r\n",
    "S:250 2.0.0 Ok: queued as BD2\r\n",
    "C:NOOP \x01\xff\xc3\xa9\r\nSTARTTLS\r\n",
    "S:250 2.0.0 Ok\r\n454 4.7.0 TLS not available\r\n",
    "C:VRFY bob\r\n",
    "S:252 2.0.0 bob\r\n",
    "G:S:40",
    "C:QUIT\r\n",
    "S:221 2.0.0 Bye\r\n",
    NULL
};

static const char *const syn_midstream[] = {
    "C:FROM:<a@example.org>\r\nRCPT TO:<b@example.test>\r\n",
    "S:1.0 Ok\r\n250 2.1.5 Ok\r\n",
    "C:DATA\r\n",
    "S:354 go\r\n",
    "C:Subject: mid\r\n\r\nbody\r\nmore bo",
    "G:C:500",
    "S:250 2.0.0 Ok: queued as M1\r\n",
    "C:QUIT\r\n",
    "S:221 2.0.0 Bye\r\n",
    NULL
};

static const char *const syn_starttls[] = {
    "S:220 mx.example.test ESMTP\r\n",
    "C:EHLO c.example.org\r\n",
    "S:250-mx.example.test\r\n250 STARTTLS\r\n",
    "C:STARTTLS\r\n",
    "S:220 2.0.0 Ready\r\n\x16\x03\x03\x00\x02hi",
    "C:\x16\x03\x01\x00\x05hello MAIL FROM:<x@y>\r\n",
    NULL
};

static const synthetic synthetics[] = {
    { "dots-headers-pipelining", false, SMTPCAP_END_CLOSED, syn_dots },
    { "bdat-auth-gaps", false, SMTPCAP_END_CLOSED, syn_bdat_auth },
    { "midstream-body-gap", true, SMTPCAP_END_CAPTURE, syn_midstream },
    { "starttls", false, SMTPCAP_END_RESET, syn_starttls },
};

/* Every position of a scripted session, and byte by byte, give the same text. */
static void test_split_synthetic(void **state)
{
    const synthetic *sy = *state;
    flow *f = build_flow(sy);
    result ref = replay(f, WHOLE);
    if (ref.bad_strings) fail_msg("%s: %u strings are not clean UTF-8", sy->name, ref.bad_strings);
    if (g_getenv("SMTPCAP_SPLIT_DUMP")) printf("== %s\n%s%s", sy->name, ref.events, ref.summary);
    result bw = replay(f, BYTEWISE);
    expect_same(&ref, &bw, BYTEWISE);
    result_free(&bw);
    size_t tested = 0;
    for (size_t k = 1; k < f->bytes->len; k++) {
        if (!splits_a_chunk(f, k)) continue;
        result r = replay(f, (long)k);
        expect_same(&ref, &r, (long)k);
        result_free(&r);
        tested++;
    }
    print_message("%s: %u bytes, %zu split positions + bytewise\n", sy->name, f->bytes->len, tested);
    result_free(&ref);
    flow_free(f);
}

static int by_name(gconstpointer a, gconstpointer b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int main(void)
{
    const char *dir = SMTPCAP_SOURCE_DIR "/captures";
    GDir *d = g_dir_open(dir, 0, NULL);
    if (!d) {
        fprintf(stderr, "cannot open %s\n", dir);
        return 1;
    }
    GPtrArray *paths = g_ptr_array_new_with_free_func(g_free);
    const char *name;
    while ((name = g_dir_read_name(d)) != NULL)
        if (g_str_has_suffix(name, ".pcap") || g_str_has_suffix(name, ".pcapng"))
            g_ptr_array_add(paths, g_build_filename(dir, name, NULL));
    g_dir_close(d);
    g_ptr_array_sort(paths, by_name);

    size_t nsyn = sizeof synthetics / sizeof synthetics[0];
    size_t n = 1 + nsyn + paths->len;
    struct CMUnitTest *tests = g_new0(struct CMUnitTest, n);
    char **names = g_new0(char *, n);
    tests[0] = (struct CMUnitTest)cmocka_unit_test(test_split_positions_inside_chunks_only);
    for (size_t i = 0; i < nsyn; i++) {
        names[1 + i] = g_strdup_printf("test_split_synthetic_%s", synthetics[i].name);
        tests[1 + i] = (struct CMUnitTest){ .name = names[1 + i], .test_func = test_split_synthetic,
                                            .initial_state = (void *)&synthetics[i] };
    }
    for (guint i = 0; i < paths->len; i++) {
        const char *p = g_ptr_array_index(paths, i);
        size_t k = 1 + nsyn + i;
        names[k] = g_strdup_printf("test_split_%s", strrchr(p, '/') + 1);
        tests[k] = (struct CMUnitTest){ .name = names[k], .test_func = test_split_capture,
                                        .initial_state = (void *)p };
    }
    int rc = _cmocka_run_group_tests("test_split", tests, n, NULL, NULL);
    for (size_t i = 0; i < n; i++) g_free(names[i]);
    g_free(names);
    g_free(tests);
    g_ptr_array_free(paths, TRUE);
    return rc;
}
