/* Unit tests of the TCP engine (pcapreader/tcpengine.c, linkparse.c, reasm.c).
 *
 * Packets are built by hand in the test (link header + IPv4/IPv6 + TCP), pushed into the
 * engine, and every callback is recorded as one line of text, so that each test is a single
 * assert_string_equal on what a consumer would have seen.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <glib.h>
#include <pcap/pcap.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "tcpengine.h"

/* ---- recorder --------------------------------------------------------------------------- */

enum link {
    L_ETH,
    L_VLAN,
    L_QINQ,
    L_SLL,
    L_SLL2,
    L_NULL_LE,
    L_NULL_BE,
    L_LOOP,
    L_RAW12,
    L_RAW14,
    L_RAW101,
    L_IPV4,
    L_IPV6
};

typedef struct rec {
    GString *log;
    GString *stream[2]; /* everything delivered per direction, gaps as <gap N> */
    GString *merged;    /* the log with consecutive data of one direction merged into one line */
    int last;           /* direction of the last data callback, -1 after anything else */
    tcp_engine *e;
    tcp_engine_config cfg;
    uint16_t ports[4];
    enum link link;
    bool v6;
    int64_t ts;
    uint16_t null_af; /* AF value for the NULL/LOOP link types */
    uint32_t cut;     /* if non-zero, caplen of the next packet */
    uint32_t fseq[8]; /* next client sequence number of flow_n()'s flows */
} rec;

static const char *reason_name(smtpcap_end_reason r)
{
    switch (r) {
    case SMTPCAP_END_CLOSED: return "CLOSED";
    case SMTPCAP_END_RESET: return "RESET";
    case SMTPCAP_END_TIMEOUT: return "TIMEOUT";
    case SMTPCAP_END_EVICTED: return "EVICTED";
    case SMTPCAP_END_CAPTURE: return "CAPTURE";
    }
    return "?";
}

static void merged_line(rec *r, const char *line)
{
    g_string_append_printf(r->merged, "\n%s", line);
    r->last = -1;
}

static void *rec_open(void *ctx, const tcp_flow_info *fi)
{
    rec *r = ctx;
    const char *fmt = fi->ipv6 ? "open#%llu [%s]:%u > [%s]:%u%s\n" : "open#%llu %s:%u > %s:%u%s\n";
    g_string_append_printf(r->log, fmt, (unsigned long long)fi->id, fi->client_ip,
                           fi->client_port, fi->server_ip, fi->server_port,
                           fi->midstream ? " midstream" : "");
    merged_line(r, "open");
    return (void *)(uintptr_t)fi->id;
}

static void rec_data(void *ctx, void *flow, int dir, const uint8_t *p, size_t n, int64_t ts)
{
    rec *r = ctx;
    g_string_append_printf(r->log, "#%u %c '%.*s'\n", (unsigned)(uintptr_t)flow, "cs"[dir],
                           (int)n, (const char *)p);
    g_string_append_len(r->stream[dir], (const char *)p, (gssize)n);
    if (r->last != dir)
        g_string_append_printf(r->merged, "\n#%u %c ", (unsigned)(uintptr_t)flow, "cs"[dir]);
    g_string_append_len(r->merged, (const char *)p, (gssize)n);
    r->last = dir;
}


static void rec_gap(void *ctx, void *flow, int dir, uint64_t n, int64_t ts)
{
    rec *r = ctx;
    g_string_append_printf(r->log, "#%u %c gap %llu\n", (unsigned)(uintptr_t)flow, "cs"[dir],
                           (unsigned long long)n);
    g_string_append_printf(r->stream[dir], "<gap %llu>", (unsigned long long)n);
    merged_line(r, "gap");
    g_string_append_printf(r->merged, " %c %llu", "cs"[dir], (unsigned long long)n);
}

static void rec_close(void *ctx, void *flow, smtpcap_end_reason why, int64_t ts)
{
    rec *r = ctx;
    g_string_append_printf(r->log, "close#%u %s\n", (unsigned)(uintptr_t)flow,
                           reason_name(why));
    merged_line(r, reason_name(why));
}

static const tcp_engine_ops rec_ops = { rec_open, rec_data, rec_gap, rec_close };

static int setup(void **state)
{
    rec *r = g_new0(rec, 1);
    r->log = g_string_new("");
    r->stream[0] = g_string_new("");
    r->stream[1] = g_string_new("");
    r->merged = g_string_new("");
    r->last = -1;
    r->ports[0] = 25;
    r->cfg.ports = r->ports;
    r->cfg.nports = 1;
    r->ts = 1000000;
    *state = r;
    return 0;
}

static int teardown(void **state)
{
    rec *r = *state;
    tcp_engine_free(r->e);
    g_string_free(r->log, TRUE);
    g_string_free(r->stream[0], TRUE);
    g_string_free(r->stream[1], TRUE);
    g_string_free(r->merged, TRUE);
    g_free(r);
    return 0;
}

/* The engine is created lazily so that a test can change r->cfg first. */
static tcp_engine *eng(rec *r)
{
    if (!r->e)
        r->e = tcp_engine_new(&r->cfg, &rec_ops, r);
    return r->e;
}

static void reset_log(rec *r)
{
    g_string_truncate(r->log, 0);
    g_string_truncate(r->stream[0], 0);
    g_string_truncate(r->stream[1], 0);
    g_string_truncate(r->merged, 0);
    r->last = -1;
}

/* ---- packet building -------------------------------------------------------------------- */

#define FIN 0x01
#define SYN 0x02
#define RST 0x04
#define PSH 0x08
#define ACK 0x10

typedef struct pk {
    const char *src, *dst;
    uint16_t sport, dport;
    uint32_t seq, ack;
    uint8_t flags;
    bool zero_win;
    const char *data;
} pk;

static void put16(uint8_t *p, uint16_t v)
{
    v = htons(v);
    memcpy(p, &v, 2);
}

static void put32(uint8_t *p, uint32_t v)
{
    v = htonl(v);
    memcpy(p, &v, 4);
}

static size_t build_tcp(uint8_t *b, const pk *p)
{
    size_t n = p->data ? strlen(p->data) : 0;
    put16(b, p->sport);
    put16(b + 2, p->dport);
    put32(b + 4, p->seq);
    put32(b + 8, p->ack);
    b[12] = 5 << 4;
    b[13] = p->flags;
    put16(b + 14, p->zero_win ? 0 : 65535);
    memset(b + 16, 0, 4); /* checksum and urgent pointer: never verified */
    if (n)
        memcpy(b + 20, p->data, n);
    return 20 + n;
}

static size_t build_ip(uint8_t *b, const pk *p, bool v6)
{
    if (!v6) {
        memset(b, 0, 20);
        b[0] = 0x45;
        put16(b + 6, 0x4000); /* DF */
        b[8] = 64;
        b[9] = 6;
        assert_int_equal(inet_pton(AF_INET, p->src, b + 12), 1);
        assert_int_equal(inet_pton(AF_INET, p->dst, b + 16), 1);
        size_t n = 20 + build_tcp(b + 20, p);
        put16(b + 2, (uint16_t)n);
        return n;
    }
    memset(b, 0, 40);
    b[0] = 0x60;
    b[6] = 6;
    b[7] = 64;
    assert_int_equal(inet_pton(AF_INET6, p->src, b + 8), 1);
    assert_int_equal(inet_pton(AF_INET6, p->dst, b + 24), 1);
    size_t n = build_tcp(b + 40, p);
    put16(b + 4, (uint16_t)n);
    return 40 + n;
}

static const int dlt_of[] = {
    [L_ETH] = 1,     [L_VLAN] = 1,     [L_QINQ] = 1,      [L_SLL] = 113, [L_SLL2] = 276,
    [L_NULL_LE] = 0, [L_NULL_BE] = 0,  [L_LOOP] = 108,    [L_RAW12] = 12, [L_RAW14] = 14,
    [L_RAW101] = 101, [L_IPV4] = 228, [L_IPV6] = 229,
};

/* Writes the link header for r->link; returns its length. */
static size_t build_link(uint8_t *b, const rec *r)
{
    uint16_t et = r->v6 ? 0x86dd : 0x0800;
    uint16_t af = r->null_af ? r->null_af : (r->v6 ? 30 : 2);
    switch (r->link) {
    case L_ETH:
        memset(b, 0x11, 12);
        put16(b + 12, et);
        return 14;
    case L_VLAN:
        memset(b, 0x11, 12);
        put16(b + 12, 0x8100);
        put16(b + 14, 100);
        put16(b + 16, et);
        return 18;
    case L_QINQ:
        memset(b, 0x11, 12);
        put16(b + 12, 0x88a8);
        put16(b + 14, 10);
        put16(b + 16, 0x8100);
        put16(b + 18, 20);
        put16(b + 20, et);
        return 22;
    case L_SLL:
        memset(b, 0, 16);
        put16(b + 2, 1);
        put16(b + 4, 6);
        put16(b + 14, et);
        return 16;
    case L_SLL2:
        memset(b, 0, 20);
        put16(b, et);
        put32(b + 4, 2);
        put16(b + 8, 1);
        b[11] = 6;
        return 20;
    case L_NULL_LE:
        b[0] = (uint8_t)af;
        b[1] = (uint8_t)(af >> 8);
        b[2] = b[3] = 0;
        return 4;
    case L_NULL_BE:
    case L_LOOP:
        put32(b, af);
        return 4;
    default:
        return 0;
    }
}

static uint32_t push(rec *r, const pk *p)
{
    uint8_t b[2048];
    size_t n = build_link(b, r);
    n += build_ip(b + n, p, r->v6);
    uint32_t cap = r->cut ? r->cut : (uint32_t)n;
    r->cut = 0;
    r->ts += 1000;
    tcp_engine_packet(eng(r), dlt_of[r->link], b, cap, (uint32_t)n, r->ts);
    return (uint32_t)n;
}

/* The default connection: client 10.0.0.1:40000, server 10.0.0.2:25 (or 2001:db8::1/::2). */
#define C2S 0
#define S2C 1

static void tx(rec *r, int dir, uint8_t flags, uint32_t seq, uint32_t ack, const char *data)
{
    const char *c = r->v6 ? "2001:db8::1" : "10.0.0.1", *s = r->v6 ? "2001:db8::2" : "10.0.0.2";
    pk p = { dir == C2S ? c : s, dir == C2S ? s : c, dir == C2S ? 40000 : 25,
             dir == C2S ? 25 : 40000, seq, ack, flags, false, data };
    push(r, &p);
}

/* Client ISN 1000, server ISN 5000: client data starts at 1001, server data at 5001. */
static void handshake(rec *r)
{
    tx(r, C2S, SYN, 1000, 0, NULL);
    tx(r, S2C, SYN | ACK, 5000, 1001, NULL);
    tx(r, C2S, ACK, 1001, 5001, NULL);
}

static const tcp_engine_stats *stats(rec *r)
{
    return tcp_engine_get_stats(eng(r));
}

/* ---- tests: delivery -------------------------------------------------------------------- */

static void test_tcpengine_in_order_interleaved(void **state)
{
    rec *r = *state;
    handshake(r);
    tx(r, S2C, ACK | PSH, 5001, 1001, "220 hi\r\n");
    tx(r, C2S, ACK | PSH, 1001, 5009, "EHLO x\r\n");
    tx(r, S2C, ACK | PSH, 5009, 1009, "250 ok\r\n");
    tx(r, C2S, ACK | PSH, 1009, 5017, "QUIT\r\n");
    tx(r, S2C, ACK | PSH | FIN, 5017, 1015, "221 bye\r\n");
    tx(r, C2S, ACK | FIN, 1015, 5027, NULL);
    tx(r, S2C, ACK, 5026, 1016, NULL);
    assert_string_equal(r->log->str, "open#1 10.0.0.1:40000 > 10.0.0.2:25\n"
                                "#1 s '220 hi\r\n'\n"
                                "#1 c 'EHLO x\r\n'\n"
                                "#1 s '250 ok\r\n'\n"
                                "#1 c 'QUIT\r\n'\n"
                                "#1 s '221 bye\r\n'\n"
                                "close#1 CLOSED\n");
    assert_int_equal(stats(r)->flows, 1);
    assert_int_equal(stats(r)->gaps, 0);
    assert_int_equal(stats(r)->retransmissions, 0);
}

static void test_tcpengine_client_from_syn(void **state)
{
    rec *r = *state;
    /* The SYN sender is the client even when it sends from the watched port. */
    pk syn = { "10.0.0.2", "10.0.0.1", 25, 40000, 7, 0, SYN, false, NULL };
    push(r, &syn);
    /* A flow first seen at its SYN+ACK: the sender is the server. */
    pk synack = { "10.0.0.9", "10.0.0.8", 50000, 25, 7, 100, SYN | ACK, false, NULL };
    push(r, &synack);
    assert_string_equal(r->log->str, "open#1 10.0.0.2:25 > 10.0.0.1:40000\n"
                                "open#2 10.0.0.8:25 > 10.0.0.9:50000\n");
}

static void test_tcpengine_client_from_ports(void **state)
{
    rec *r = *state;
    r->ports[0] = 30000;
    /* Watched port decides, even though it is the higher one. */
    pk a = { "10.0.0.1", "10.0.0.2", 30000, 1000, 1, 1, ACK, false, "x" };
    push(r, &a);
    tcp_engine_free(r->e);
    r->e = NULL;
    /* No port list: the lower port is the server's. */
    r->cfg.nports = 0;
    pk b = { "10.0.0.1", "10.0.0.2", 587, 50000, 1, 1, ACK, false, "y" };
    push(r, &b);
    assert_string_equal(r->log->str, "open#1 10.0.0.2:1000 > 10.0.0.1:30000 midstream\n"
                                "#1 s 'x'\n"
                                "open#1 10.0.0.2:50000 > 10.0.0.1:587 midstream\n"
                                "#1 s 'y'\n");
}

static void test_tcpengine_midstream(void **state)
{
    rec *r = *state;
    tx(r, S2C, ACK, 5001, 1001, NULL); /* a stray ACK creates nothing */
    tx(r, C2S, ACK | PSH, 1001, 5001, "MAIL FROM:<a@b>\r\n");
    tx(r, S2C, ACK | PSH, 5001, 1018, "250 ok\r\n");
    tcp_engine_finish(eng(r), r->ts);
    assert_string_equal(r->log->str, "open#1 10.0.0.1:40000 > 10.0.0.2:25 midstream\n"
                                "#1 c 'MAIL FROM:<a@b>\r\n'\n"
                                "#1 s '250 ok\r\n'\n"
                                "close#1 CAPTURE\n");
}

/* Without a SYN, a direction starts where the peer's ACK says, not at the first segment
 * captured: what lies between was sent and must not be glued over. */
static void test_tcpengine_midstream_starts_at_peer_ack(void **state)
{
    rec *r = *state;
    tx(r, C2S, ACK | PSH, 1001, 5001, "RCPT TO:<b@c>\r\n");
    tx(r, S2C, ACK | PSH, 5008, 1016, "ok\r\n"); /* 5001..5007 not captured (yet) */
    tx(r, S2C, ACK | PSH, 5001, 1016, "250 2.1"); /* reordered: it fills the hole */
    tx(r, S2C, ACK | PSH, 5020, 1016, "x");       /* 5012..5019 never come */
    tcp_engine_finish(eng(r), r->ts);
    assert_string_equal(r->log->str, "open#1 10.0.0.1:40000 > 10.0.0.2:25 midstream\n"
                                     "#1 c 'RCPT TO:<b@c>\r\n'\n"
                                     "#1 s '250 2.1'\n"
                                     "#1 s 'ok\r\n'\n"
                                     "#1 s gap 8\n"
                                     "#1 s 'x'\n"
                                     "close#1 CAPTURE\n");
}

/* Four segments of distinct bytes, pushed in each of the 24 orders, give the same stream. */
static void test_tcpengine_permutations(void **state)
{
    rec *r = *state;
    static const char *seg[4] = { "AAAA", "BBBB", "CCCC", "DDDD" };
    int perm[4] = { 0, 1, 2, 3 };
    int count = 0;
    for (;;) {
        reset_log(r);
        tcp_engine_free(r->e);
        r->e = NULL;
        handshake(r);
        for (int i = 0; i < 4; i++)
            tx(r, C2S, ACK, 1001 + 4 * (uint32_t)perm[i], 5001, seg[perm[i]]);
        assert_string_equal(r->stream[0]->str, "AAAABBBBCCCCDDDD");
        tcp_engine_finish(eng(r), r->ts);
        assert_string_equal(r->stream[0]->str, "AAAABBBBCCCCDDDD");
        assert_int_equal(stats(r)->gaps, 0);
        count++;
        /* next permutation (lexicographic) */
        int i = 2;
        while (i >= 0 && perm[i] > perm[i + 1])
            i--;
        if (i < 0)
            break;
        int j = 3;
        while (perm[j] < perm[i])
            j--;
        int t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
        for (int a = i + 1, b = 3; a < b; a++, b--) {
            t = perm[a];
            perm[a] = perm[b];
            perm[b] = t;
        }
    }
    assert_int_equal(count, 24);
}

/* Overlapping copies of one text, in every order: the stream is the text, once. */
static void test_tcpengine_overlap_permutations(void **state)
{
    rec *r = *state;
    static const char text[] = "0123456789abcdef";
    static const struct { int off, len; } seg[4] = { { 0, 6 }, { 4, 6 }, { 8, 8 }, { 2, 10 } };
    for (int code = 0; code < 256; code++) {
        int perm[4], used = 0, ok = 1;
        for (int i = 0; i < 4; i++) {
            perm[i] = (code >> (2 * i)) & 3;
            if (used & (1 << perm[i]))
                ok = 0;
            used |= 1 << perm[i];
        }
        if (!ok)
            continue;
        reset_log(r);
        tcp_engine_free(r->e);
        r->e = NULL;
        handshake(r);
        for (int i = 0; i < 4; i++) {
            char buf[17];
            memcpy(buf, text + seg[perm[i]].off, (size_t)seg[perm[i]].len);
            buf[seg[perm[i]].len] = 0;
            tx(r, C2S, ACK, 1001 + (uint32_t)seg[perm[i]].off, 5001, buf);
        }
        tcp_engine_finish(eng(r), r->ts);
        assert_string_equal(r->stream[0]->str, text);
        assert_int_equal(stats(r)->overlap_conflicts, 0);
    }
}

static void test_tcpengine_retransmission(void **state)
{
    rec *r = *state;
    handshake(r);
    tx(r, C2S, ACK, 1001, 5001, "EHLO");
    tx(r, C2S, ACK, 1001, 5001, "EHLO"); /* delivered already */
    tx(r, C2S, ACK, 1009, 5001, "zzzz"); /* out of order */
    tx(r, C2S, ACK, 1009, 5001, "zzzz"); /* duplicate of a queued segment */
    tx(r, C2S, ACK, 1005, 5001, " x\r\n");
    assert_string_equal(r->log->str, "open#1 10.0.0.1:40000 > 10.0.0.2:25\n"
                                "#1 c 'EHLO'\n"
                                "#1 c ' x\r\n'\n"
                                "#1 c 'zzzz'\n");
    assert_int_equal(stats(r)->retransmissions, 2);
    assert_int_equal(stats(r)->ooo_segments, 1);
    assert_int_equal(stats(r)->overlaps, 0);
}

static void test_tcpengine_overlap_first_copy_wins(void **state)
{
    rec *r = *state;
    handshake(r);
    tx(r, C2S, ACK, 1005, 5001, "XXXX");     /* queued first: this copy wins */
    tx(r, C2S, ACK, 1001, 5001, "abcdYYYY"); /* overlaps it with other bytes */
    assert_int_equal(stats(r)->overlaps, 1);
    assert_int_equal(stats(r)->overlap_conflicts, 1);
    tx(r, C2S, ACK, 1013, 5001, "mmmm");
    tx(r, C2S, ACK, 1009, 5001, "kkkkmm"); /* overlaps with the same bytes: no conflict */
    assert_string_equal(r->log->str, "open#1 10.0.0.1:40000 > 10.0.0.2:25\n"
                                "#1 c 'abcd'\n"
                                "#1 c 'XXXX'\n"
                                "#1 c 'kkkk'\n"
                                "#1 c 'mmmm'\n");
    assert_int_equal(stats(r)->overlaps, 2);
    assert_int_equal(stats(r)->overlap_conflicts, 1);
}

static void test_tcpengine_seq_wrap(void **state)
{
    rec *r = *state;
    tx(r, C2S, SYN, 0xfffffffau, 0, NULL);
    tx(r, S2C, SYN | ACK, 0xfffffff0u, 0xfffffffbu, NULL);
    /* " world" first (after the wrap), then "hello" which crosses 2^32. */
    tx(r, C2S, ACK, 0x00000000u, 0xfffffff1u, " world");
    tx(r, C2S, ACK, 0xfffffffbu, 0xfffffff1u, "hello");
    tx(r, S2C, ACK, 0xfffffff1u, 6, "250 ok");
    tx(r, S2C, ACK, 0xfffffff7u, 6, "\r\nhi");
    tcp_engine_finish(eng(r), r->ts);
    assert_string_equal(r->log->str, "open#1 10.0.0.1:40000 > 10.0.0.2:25\n"
                                "#1 c 'hello'\n"
                                "#1 c ' world'\n"
                                "#1 s '250 ok'\n"
                                "#1 s '\r\nhi'\n"
                                "close#1 CAPTURE\n");
    assert_int_equal(stats(r)->gaps, 0);
}

/* Sequence numbers far ahead (here across the 2^31 antipode) are not this stream. */
static void test_tcpengine_out_of_window(void **state)
{
    rec *r = *state;
    handshake(r);
    tx(r, C2S, ACK, 1001, 5001, "AAAA");
    tx(r, C2S, ACK, 1005 + 0x60000000u, 5001, "far");
    tx(r, C2S, ACK, 1005 + 0x7ffffff0u, 5001, "straddling the antipode, 40 bytes long..");
    tx(r, S2C, ACK, 5001, 1005 + 0x50000000u, NULL); /* an ACK far ahead */
    tx(r, C2S, ACK | FIN, 1005 + 0x40000010u, 5001, NULL);
    tx(r, C2S, ACK, 2005, 5001, "ZZZZ"); /* within the window: a real hole */
    tcp_engine_finish(eng(r), r->ts);
    assert_string_equal(r->log->str, "open#1 10.0.0.1:40000 > 10.0.0.2:25\n"
                                     "#1 c 'AAAA'\n"
                                     "#1 c gap 1000\n"
                                     "#1 c 'ZZZZ'\n"
                                     "close#1 CAPTURE\n");
    assert_int_equal(stats(r)->out_of_window, 4);
}

/* Random segments (overlapping, reordered, duplicated, cut by a snaplen), random ACKs and
 * random limits: every delivered byte must be the byte of the stream at that offset, gaps must
 * account for exactly the rest, and at the end the stream must reach the furthest byte sent. */
typedef struct checker {
    const uint8_t *src;
    uint64_t off;
    bool bad;
} checker;

static void *chk_open(void *ctx, const tcp_flow_info *fi)
{
    return ctx;
}

static void chk_data(void *ctx, void *flow, int dir, const uint8_t *p, size_t n, int64_t ts)
{
    checker *c = ctx;
    if (dir != 0 || memcmp(c->src + c->off, p, n) != 0)
        c->bad = true;
    c->off += n;
}

static void chk_gap(void *ctx, void *flow, int dir, uint64_t n, int64_t ts)
{
    checker *c = ctx;
    if (dir != 0)
        c->bad = true;
    c->off += n;
}

static void test_tcpengine_random_segments_consistent(void **state)
{
    static const tcp_engine_ops ops = { chk_open, chk_data, chk_gap, NULL };
    enum { LEN = 3000 };
    uint8_t src[LEN + 64];
    GRand *rnd = g_rand_new_with_seed(7);
    for (int k = 0; k < LEN + 64; k++)
        src[k] = (uint8_t)g_rand_int(rnd);
    for (int round = 0; round < 300; round++) {
        checker c = { src, 0, false };
        tcp_engine_config cfg = { 0 };
        cfg.max_ooo_bytes = (size_t)g_rand_int_range(rnd, 1, 4000);
        cfg.max_mem = (size_t)g_rand_int_range(rnd, 1, 6000);
        tcp_engine *e = tcp_engine_new(&cfg, &ops, &c);
        uint32_t isn = g_rand_int(rnd); /* anywhere, 2^32 - 1 included */
        uint64_t reach = 0;
        int nseg = g_rand_int_range(rnd, 1, 80);
        for (int i = 0; i < nseg; i++) {
            uint8_t b[256];
            uint32_t off = (uint32_t)g_rand_int_range(rnd, 0, LEN - 100);
            uint32_t n = (uint32_t)g_rand_int_range(rnd, 0, 100);
            bool ack_only = g_rand_int_range(rnd, 0, 8) == 0;
            pk p = { "10.0.0.1", "10.0.0.2", 40000, 25, isn + 1 + off, 1, ACK, false, NULL };
            if (ack_only) {
                /* the server acknowledges up to off */
                p = (pk){ "10.0.0.2", "10.0.0.1", 25, 40000, 1, isn + 1 + off, ACK, false, NULL };
                n = 0;
                if (off > reach)
                    reach = off;
            }
            if (i == 0) { /* the SYN comes first */
                pk syn = { "10.0.0.1", "10.0.0.2", 40000, 25, isn, 0, SYN, false, NULL };
                size_t l = build_ip(b, &syn, false);
                tcp_engine_packet(e, 12, b, (uint32_t)l, (uint32_t)l, 1);
            }
            size_t l = build_ip(b, &p, false);
            memcpy(b + l, src + off, n);
            l += n;
            put16(b + 2, (uint16_t)l);
            uint32_t cap = (uint32_t)l;
            if (n > 0 && g_rand_int_range(rnd, 0, 10) == 0)
                cap -= (uint32_t)g_rand_int_range(rnd, 0, (int)n);
            tcp_engine_packet(e, 12, b, cap, (uint32_t)l, 2 + i);
            if (n > 0 && off + n > reach)
                reach = off + n;
        }
        tcp_engine_finish(e, 1000);
        assert_false(c.bad);
        assert_int_equal(c.off, reach);
        tcp_engine_free(e);
    }
    g_rand_free(rnd);
}

/* Both directions random: segments reordered, duplicated, overlapping, with ACKs anywhere
 * (ahead of the peer's data too), random caps, silences past the wait: every delivered byte of
 * each direction is the byte at that offset, gaps account for the rest, nothing is lost that
 * was captured before the end, and every held byte is given back (ASan checks the frees). */
typedef struct checker2 {
    const uint8_t *src[2];
    uint64_t off[2];
    bool bad;
} checker2;

static void *chk2_open(void *ctx, const tcp_flow_info *fi)
{
    return ctx;
}

static void chk2_data(void *ctx, void *flow, int dir, const uint8_t *p, size_t n, int64_t ts)
{
    checker2 *c = ctx;
    if (memcmp(c->src[dir] + c->off[dir], p, n) != 0)
        c->bad = true;
    c->off[dir] += n;
}

static void chk2_gap(void *ctx, void *flow, int dir, uint64_t n, int64_t ts)
{
    checker2 *c = ctx;
    c->off[dir] += n;
}

static void test_tcpengine_random_both_directions(void **state)
{
    static const tcp_engine_ops ops = { chk2_open, chk2_data, chk2_gap, NULL };
    enum { LEN = 2000 };
    static uint8_t src[2][LEN + 64];
    GRand *rnd = g_rand_new_with_seed(5);
    for (int d = 0; d < 2; d++)
        for (int k = 0; k < LEN + 64; k++)
            src[d][k] = (uint8_t)g_rand_int(rnd);
    for (int round = 0; round < 400; round++) {
        checker2 c = { { src[0], src[1] }, { 0, 0 }, false };
        tcp_engine_config cfg = { 0 };
        cfg.max_ooo_bytes = (size_t)g_rand_int_range(rnd, 1, 3000);
        cfg.max_mem = (size_t)g_rand_int_range(rnd, 1, 5000);
        tcp_engine *e = tcp_engine_new(&cfg, &ops, &c);
        uint32_t isn[2] = { g_rand_int(rnd), g_rand_int(rnd) };
        uint64_t reach[2] = { 0, 0 };
        int64_t ts = 1;
        uint8_t b[256];
        pk syn = { "10.0.0.1", "10.0.0.2", 40000, 25, isn[0], 0, SYN, false, NULL };
        size_t l = build_ip(b, &syn, false);
        tcp_engine_packet(e, 12, b, (uint32_t)l, (uint32_t)l, ts);
        pk sa = { "10.0.0.2", "10.0.0.1", 25, 40000, isn[1], isn[0] + 1, SYN | ACK, false, NULL };
        l = build_ip(b, &sa, false);
        tcp_engine_packet(e, 12, b, (uint32_t)l, (uint32_t)l, ts);
        int nseg = g_rand_int_range(rnd, 1, 120);
        for (int i = 0; i < nseg; i++) {
            int d = g_rand_int_range(rnd, 0, 2);
            uint32_t off = (uint32_t)g_rand_int_range(rnd, 0, LEN - 100);
            uint32_t n = (uint32_t)g_rand_int_range(rnd, 0, 60);
            uint32_t ackoff = (uint32_t)g_rand_int_range(rnd, 0, LEN - 100);
            uint8_t fl = ACK;
            if (g_rand_int_range(rnd, 0, 40) == 0)
                fl |= FIN;
            pk p = { d ? "10.0.0.2" : "10.0.0.1", d ? "10.0.0.1" : "10.0.0.2", d ? 25 : 40000,
                     d ? 40000 : 25, isn[d] + 1 + off, isn[!d] + 1 + ackoff, fl, false, NULL };
            l = build_ip(b, &p, false);
            memcpy(b + l, src[d] + off, n);
            l += n;
            put16(b + 2, (uint16_t)l);
            ts += g_rand_int_range(rnd, 0, 10) == 0 ? 2000000 : 1000;
            tcp_engine_packet(e, 12, b, (uint32_t)l, (uint32_t)l, ts);
            if (n > 0 && off + n > reach[d])
                reach[d] = off + n;
        }
        tcp_engine_finish(e, ts);
        assert_false(c.bad);
        /* A FIN or a close may end a direction before its furthest byte: never beyond it. */
        assert_true(c.off[0] <= reach[0] + LEN && c.off[1] <= reach[1] + LEN);
        tcp_engine_free(e);
    }
    g_rand_free(rnd);
}

/* ---- tests: holes ----------------------------------------------------------------------- */

/* The peer acknowledged bytes never captured: they are declared missing (exact size), but only
 * after a bounded wait - they might just be recorded late - and before what was sent after. */
static void test_tcpengine_hole_on_ack(void **state)
{
    rec *r = *state;
    handshake(r);
    tx(r, C2S, ACK, 1001, 5001, "AAAA");
    tx(r, C2S, ACK, 1009, 5001, "CCCC"); /* 1005..1008 never captured */
    tx(r, S2C, ACK, 5001, 1013, "250 ok"); /* the server has it all: held */
    for (int i = 0; i < 7; i++)            /* 7 more packets: still waiting */
        tx(r, C2S, ACK, 1013, 5007, NULL);
    assert_string_equal(r->log->str, "open#1 10.0.0.1:40000 > 10.0.0.2:25\n"
                                     "#1 c 'AAAA'\n");
    tx(r, C2S, ACK, 1013, 5007, NULL); /* the 8th: the wait is over */
    /* An ACK past anything captured: the bytes were sent, we did not see them. */
    tx(r, S2C, ACK, 5007, 1020, "!");
    assert_int_equal(stats(r)->gaps, 1);
    tcp_engine_finish(eng(r), r->ts); /* the end of input ends that wait too */
    assert_string_equal(r->log->str, "open#1 10.0.0.1:40000 > 10.0.0.2:25\n"
                                     "#1 c 'AAAA'\n"
                                     "#1 c gap 4\n"
                                     "#1 c 'CCCC'\n"
                                     "#1 s '250 ok'\n"
                                     "#1 c gap 7\n"
                                     "#1 s '!'\n"
                                     "close#1 CAPTURE\n");
    assert_int_equal(stats(r)->gaps, 2);
    assert_int_equal(stats(r)->gap_bytes, 11);
    assert_int_equal(stats(r)->held_segments, 2);
    assert_int_equal(stats(r)->waits_expired, 2);
}

/* The wait also ends by capture time. */
static void test_tcpengine_hole_on_ack_by_time(void **state)
{
    rec *r = *state;
    handshake(r);
    tx(r, C2S, ACK, 1001, 5001, "AAAA");
    tx(r, S2C, ACK, 5001, 1013, "250 ok");
    tx(r, C2S, ACK, 1013, 5007, NULL);
    assert_int_equal(stats(r)->gaps, 0);
    r->ts += 2000000;
    tx(r, C2S, ACK, 1013, 5007, NULL);
    assert_string_equal(r->log->str, "open#1 10.0.0.1:40000 > 10.0.0.2:25\n"
                                     "#1 c 'AAAA'\n"
                                     "#1 c gap 8\n"
                                     "#1 s '250 ok'\n");
}

static void test_tcpengine_hole_at_fin(void **state)
{
    rec *r = *state;
    handshake(r);
    tx(r, C2S, ACK, 1001, 5001, "AAAA");
    tx(r, C2S, ACK, 1009, 5001, "CCCC");
    tx(r, C2S, ACK | FIN, 1015, 5001, NULL); /* 1013..1014 missing too */
    tx(r, S2C, ACK | FIN, 5001, 1016, NULL);
    tx(r, C2S, ACK, 1016, 5002, NULL);
    /* The holes before the FIN are waited for (they might be recorded after it)... */
    assert_string_equal(r->log->str, "open#1 10.0.0.1:40000 > 10.0.0.2:25\n"
                                     "#1 c 'AAAA'\n");
    /* ...and declared when the wait ends; both FINs were seen: the connection closed. */
    tcp_engine_finish(eng(r), r->ts);
    assert_string_equal(r->log->str, "open#1 10.0.0.1:40000 > 10.0.0.2:25\n"
                                "#1 c 'AAAA'\n"
                                "#1 c gap 4\n"
                                "#1 c 'CCCC'\n"
                                "#1 c gap 2\n"
                                "close#1 CLOSED\n");
    assert_int_equal(stats(r)->flows, 1);
}

static void test_tcpengine_hole_at_finish(void **state)
{
    rec *r = *state;
    handshake(r);
    tx(r, C2S, ACK, 1001, 5001, "AAAA");
    tx(r, C2S, ACK, 1009, 5001, "CCCC");
    tx(r, S2C, ACK, 5005, 1005, "DDDD"); /* 5001..5004 missing */
    tcp_engine_finish(eng(r), r->ts);
    assert_string_equal(r->log->str, "open#1 10.0.0.1:40000 > 10.0.0.2:25\n"
                                "#1 c 'AAAA'\n"
                                "#1 c gap 4\n"
                                "#1 c 'CCCC'\n"
                                "#1 s gap 4\n"
                                "#1 s 'DDDD'\n"
                                "close#1 CAPTURE\n");
}

static void test_tcpengine_queue_cap(void **state)
{
    rec *r = *state;
    r->cfg.max_ooo_bytes = 8;
    handshake(r);
    tx(r, C2S, ACK, 1005, 5001, "BBBB");
    tx(r, C2S, ACK, 1009, 5001, "CCCC");
    tx(r, C2S, ACK, 1017, 5001, "EEEE"); /* 12 bytes would be queued: declare the hole */
    tx(r, C2S, ACK, 1013, 5001, "DDDD");
    assert_string_equal(r->log->str, "open#1 10.0.0.1:40000 > 10.0.0.2:25\n"
                                "#1 c gap 4\n"
                                "#1 c 'BBBB'\n"
                                "#1 c 'CCCC'\n"
                                "#1 c 'DDDD'\n"
                                "#1 c 'EEEE'\n");
    tx(r, C2S, ACK, 1001, 5001, "AAAA"); /* too late: already declared missing */
    assert_int_equal(stats(r)->retransmissions, 1);
    assert_int_equal(stats(r)->gap_bytes, 4);
}

static void test_tcpengine_tiny_max_mem(void **state)
{
    rec *r = *state;
    r->cfg.max_mem = 16; /* not even one queue node fits */
    handshake(r);
    tx(r, C2S, ACK, 1001, 5001, "AAAA");
    tx(r, C2S, ACK, 1009, 5001, "CCCC");
    tx(r, S2C, ACK, 5003, 1013, "xx");
    tx(r, S2C, ACK, 5001, 1013, "yy");
    assert_string_equal(r->log->str, "open#1 10.0.0.1:40000 > 10.0.0.2:25\n"
                                "#1 c 'AAAA'\n"
                                "#1 c gap 4\n"
                                "#1 c 'CCCC'\n"
                                "#1 s gap 2\n"
                                "#1 s 'xx'\n");
    assert_int_equal(stats(r)->ooo_segments, 0);
}

static void test_tcpengine_snaplen_cut(void **state)
{
    rec *r = *state;
    handshake(r);
    /* 14 link + 20 IP + 20 TCP + 4 of the 10 payload bytes */
    r->cut = 14 + 20 + 20 + 4;
    tx(r, C2S, ACK, 1001, 5001, "0123456789");
    tx(r, C2S, ACK, 1011, 5001, "ok");
    /* Out of order and cut: the gap still lands where the bytes belong. */
    r->cut = 14 + 20 + 20 + 3;
    tx(r, C2S, ACK, 1017, 5001, "abcdef");
    tx(r, C2S, ACK, 1013, 5001, "wxyz");
    tx(r, C2S, ACK, 1023, 5001, "end");
    assert_string_equal(r->log->str, "open#1 10.0.0.1:40000 > 10.0.0.2:25\n"
                                "#1 c '0123'\n"
                                "#1 c gap 6\n"
                                "#1 c 'ok'\n"
                                "#1 c 'wxyz'\n"
                                "#1 c 'abc'\n"
                                "#1 c gap 3\n"
                                "#1 c 'end'\n");
    assert_int_equal(stats(r)->snaplen_cut, 2);
    assert_int_equal(stats(r)->gap_bytes, 9);
}

static void test_tcpengine_syn_ack_first(void **state)
{
    rec *r = *state;
    /* The client's SYN was not captured; its stream starts where the server acks. */
    tx(r, S2C, SYN | ACK, 5000, 1001, NULL);
    tx(r, C2S, ACK, 1005, 5001, "BBBB");
    tcp_engine_finish(eng(r), r->ts);
    assert_string_equal(r->log->str, "open#1 10.0.0.1:40000 > 10.0.0.2:25\n"
                                "#1 c gap 4\n"
                                "#1 c 'BBBB'\n"
                                "close#1 CAPTURE\n");
}

static void test_tcpengine_keepalive_and_zero_window_probe(void **state)
{
    rec *r = *state;
    handshake(r);
    tx(r, C2S, ACK, 1001, 5001, "EHLO");
    tx(r, C2S, ACK, 1004, 5001, "O");  /* keep-alive: 1 garbage byte at next - 1 */
    tx(r, C2S, ACK, 1004, 5001, NULL); /* keep-alive without data */
    pk zw = { "10.0.0.2", "10.0.0.1", 25, 40000, 5001, 1005, ACK, true, NULL };
    push(r, &zw);                     /* the server has no room */
    tx(r, C2S, ACK, 1005, 5001, "?"); /* probe */
    tx(r, S2C, ACK, 5001, 1005, NULL); /* room again */
    tx(r, C2S, ACK, 1005, 5001, " x");
    assert_string_equal(r->log->str, "open#1 10.0.0.1:40000 > 10.0.0.2:25\n"
                                "#1 c 'EHLO'\n"
                                "#1 c ' x'\n");
    assert_int_equal(stats(r)->retransmissions, 0);
}

/* ---- tests: link layers and malformed input --------------------------------------------- */

static void one_exchange(rec *r)
{
    handshake(r);
    tx(r, C2S, ACK, 1001, 5001, "hi");
    tx(r, S2C, ACK, 5001, 1003, "ok");
    tcp_engine_finish(eng(r), r->ts);
}

static void check_link(rec *r, enum link l, bool v6, uint16_t af)
{
    reset_log(r);
    tcp_engine_free(r->e);
    r->e = NULL;
    r->link = l;
    r->v6 = v6;
    r->null_af = af;
    one_exchange(r);
    const char *want = v6 ? "open#1 [2001:db8::1]:40000 > [2001:db8::2]:25\n"
                            "#1 c 'hi'\n#1 s 'ok'\nclose#1 CAPTURE\n"
                          : "open#1 10.0.0.1:40000 > 10.0.0.2:25\n"
                            "#1 c 'hi'\n#1 s 'ok'\nclose#1 CAPTURE\n";
    assert_string_equal(r->log->str, want);
    assert_int_equal(stats(r)->malformed, 0);
    assert_true(tcp_engine_linktype_supported(dlt_of[l]));
}

static void test_tcpengine_link_vlan_qinq(void **state)
{
    check_link(*state, L_VLAN, false, 0);
    check_link(*state, L_QINQ, false, 0);
    check_link(*state, L_QINQ, true, 0);
}

static void test_tcpengine_link_sll(void **state)
{
    check_link(*state, L_SLL, false, 0);
    check_link(*state, L_SLL, true, 0);
}

static void test_tcpengine_link_sll2(void **state)
{
    check_link(*state, L_SLL2, false, 0);
    check_link(*state, L_SLL2, true, 0);
}

static void test_tcpengine_link_null_loop(void **state)
{
    check_link(*state, L_NULL_LE, false, 2);
    check_link(*state, L_NULL_BE, false, 2);
    check_link(*state, L_NULL_LE, true, 24);
    check_link(*state, L_NULL_BE, true, 28);
    check_link(*state, L_NULL_LE, true, 30);
    check_link(*state, L_LOOP, false, 2);
    check_link(*state, L_LOOP, true, 24);
}

static void test_tcpengine_link_raw(void **state)
{
    check_link(*state, L_RAW12, false, 0);
    check_link(*state, L_RAW14, true, 0);
    check_link(*state, L_RAW101, false, 0);
    check_link(*state, L_RAW101, true, 0);
    check_link(*state, L_IPV4, false, 0);
    check_link(*state, L_IPV6, true, 0);
    check_link(*state, L_ETH, true, 0);
}

static void test_tcpengine_unsupported_linktype(void **state)
{
    rec *r = *state;
    uint8_t b[64] = { 0 };
    assert_false(tcp_engine_linktype_supported(147));
    assert_false(tcp_engine_packet(eng(r), 147, b, sizeof b, sizeof b, 1));
    assert_int_equal(stats(r)->skipped, 1);
}

/* Ethernet padding after a short IPv4 packet is not payload. */
static void test_tcpengine_ethernet_padding(void **state)
{
    rec *r = *state;
    uint8_t b[128];
    pk p = { "10.0.0.1", "10.0.0.2", 40000, 25, 1, 1, ACK, false, "Q" };
    size_t n = build_link(b, r);
    n += build_ip(b + n, &p, false);
    memset(b + n, 0xee, 5); /* 14 + 41 + 5 = 60, the Ethernet minimum */
    tcp_engine_packet(eng(r), 1, b, (uint32_t)n + 5, (uint32_t)n + 5, 1);
    assert_string_equal(r->log->str, "open#1 10.0.0.1:40000 > 10.0.0.2:25 midstream\n#1 c 'Q'\n");
}

static void test_tcpengine_ipv6_extension_headers(void **state)
{
    rec *r = *state;
    uint8_t b[256];
    pk p = { "2001:db8::1", "2001:db8::2", 40000, 25, 1, 1, ACK, false, "v6" };
    size_t l = build_link(b, &(rec){ .link = L_ETH, .v6 = true });
    uint8_t ip[128];
    size_t n = build_ip(ip, &p, true);
    /* insert hop-by-hop (8) and destination options (16) between the header and TCP */
    memcpy(b + l, ip, 40);
    b[l + 6] = 0; /* next: hop-by-hop */
    uint8_t *h = b + l + 40;
    memset(h, 0, 24);
    h[0] = 60; /* next: destination options */
    h[1] = 0;  /* 8 bytes */
    h[8] = 6;  /* next: TCP */
    h[9] = 1;  /* 16 bytes */
    memcpy(h + 24, ip + 40, n - 40);
    put16(b + l + 4, (uint16_t)(n - 40 + 24));
    size_t total = l + n + 24;
    tcp_engine_packet(eng(r), 1, b, (uint32_t)total, (uint32_t)total, 1);
    /* the same with a non-first fragment header: skipped, counted */
    b[l + 6] = 44;
    memset(h, 0, 8);
    h[0] = 6;
    put16(h + 2, 185 << 3);
    tcp_engine_packet(eng(r), 1, b, (uint32_t)total, (uint32_t)total, 2);
    assert_string_equal(r->log->str, "open#1 [2001:db8::1]:40000 > [2001:db8::2]:25 midstream\n"
                                "#1 c 'v6'\n");
    assert_int_equal(stats(r)->fragments, 1);
    assert_int_equal(stats(r)->malformed, 0);
}

static void test_tcpengine_ipv4_fragments(void **state)
{
    rec *r = *state;
    uint8_t b[128];
    pk p = { "10.0.0.1", "10.0.0.2", 40000, 25, 1, 1, ACK, false, "frag" };
    size_t n = build_link(b, r);
    n += build_ip(b + n, &p, false);
    put16(b + 14 + 6, 0x0010); /* fragment offset 16*8 */
    tcp_engine_packet(eng(r), 1, b, (uint32_t)n, (uint32_t)n, 1);
    assert_string_equal(r->log->str, "");
    assert_int_equal(stats(r)->fragments, 1);
    assert_int_equal(stats(r)->skipped, 1);
}

static void test_tcpengine_truncated_packets(void **state)
{
    rec *r = *state;
    uint8_t b[128];
    pk p = { "10.0.0.1", "10.0.0.2", 40000, 25, 1, 1, ACK, false, "hello" };
    size_t n = build_link(b, r);
    n += build_ip(b + n, &p, false);
    /* Every cut inside the headers, with len claiming the same short length: malformed. */
    for (size_t cut = 0; cut < 14 + 20 + 20; cut++) {
        uint8_t copy[128];
        memcpy(copy, b, cut); /* a fresh buffer of exactly cut bytes for ASan */
        tcp_engine_packet(eng(r), 1, copy, (uint32_t)cut, (uint32_t)cut, 1);
    }
    assert_int_equal(stats(r)->malformed, 14 + 20 + 20);
    assert_string_equal(r->log->str, "");
    /* Bad IHL, bad TCP data offset, IP length beyond the packet. */
    uint64_t before = stats(r)->malformed;
    b[14] = 0x44;
    tcp_engine_packet(eng(r), 1, b, (uint32_t)n, (uint32_t)n, 1);
    b[14] = 0x45;
    b[14 + 20 + 12] = 0x40;
    tcp_engine_packet(eng(r), 1, b, (uint32_t)n, (uint32_t)n, 1);
    b[14 + 20 + 12] = 0xf0;
    tcp_engine_packet(eng(r), 1, b, (uint32_t)n, (uint32_t)n, 1);
    b[14 + 20 + 12] = 0x50;
    put16(b + 16, 1000);
    tcp_engine_packet(eng(r), 1, b, (uint32_t)n, (uint32_t)n, 1);
    assert_int_equal(stats(r)->malformed, before + 4);
    assert_string_equal(r->log->str, "");
}

static void test_tcpengine_garbage_does_not_crash(void **state)
{
    rec *r = *state;
    static const int dlts[] = { 0, 1, 12, 14, 101, 108, 113, 228, 229, 276 };
    GRand *rnd = g_rand_new_with_seed(42);
    r->cfg.nports = 0;
    for (int i = 0; i < 20000; i++) {
        uint8_t b[160];
        uint32_t n = (uint32_t)g_rand_int_range(rnd, 0, sizeof b);
        for (uint32_t k = 0; k < n; k++)
            b[k] = (uint8_t)g_rand_int(rnd);
        /* make the IP version nibble plausible most of the time to get deeper */
        int dlt = dlts[i % (int)(sizeof dlts / sizeof dlts[0])];
        if (n > 20 && (i & 1))
            b[dlt == 1 ? 14 : dlt == 113 ? 16 : dlt == 276 ? 20 : dlt == 0 || dlt == 108 ? 4
                                                                                       : 0] =
                (i & 2) ? 0x45 : 0x60;
        uint32_t len = n + (uint32_t)g_rand_int_range(rnd, 0, 3) * 7;
        tcp_engine_packet(eng(r), dlt, b, n, len, i);
    }
    tcp_engine_finish(eng(r), 20000);
    g_rand_free(rnd);
    assert_int_equal(stats(r)->packets, 20000);
    assert_true(stats(r)->malformed > 0);
}

/* ---- tests: lifetime -------------------------------------------------------------------- */

static void test_tcpengine_rst_closes(void **state)
{
    rec *r = *state;
    handshake(r);
    tx(r, C2S, ACK, 1001, 5001, "EHLO");
    tx(r, C2S, ACK, 1009, 5001, "late"); /* queued behind a hole */
    tx(r, S2C, RST | ACK, 5001, 1005, NULL);
    tx(r, C2S, ACK, 1013, 5001, "more"); /* after the reset: ignored */
    assert_string_equal(r->log->str, "open#1 10.0.0.1:40000 > 10.0.0.2:25\n"
                                "#1 c 'EHLO'\n"
                                "#1 c gap 4\n"
                                "#1 c 'late'\n"
                                "close#1 RESET\n");
    assert_int_equal(stats(r)->flows, 1);
}

static void test_tcpengine_fin_both_ways_closes(void **state)
{
    rec *r = *state;
    handshake(r);
    tx(r, C2S, ACK, 1001, 5001, "QUIT\r\n");
    tx(r, S2C, ACK | FIN, 5001, 1007, "221\r\n");
    tx(r, C2S, ACK | FIN, 1007, 5007, NULL);
    tx(r, S2C, ACK, 5007, 1008, NULL);       /* the last ACK, after close */
    tx(r, S2C, ACK | FIN, 5006, 1008, NULL); /* a retransmitted FIN */
    assert_int_equal(stats(r)->flows, 1);
    handshake(r); /* the same 5-tuple, a new connection */
    tcp_engine_finish(eng(r), r->ts);
    assert_string_equal(r->log->str, "open#1 10.0.0.1:40000 > 10.0.0.2:25\n"
                                "#1 c 'QUIT\r\n'\n"
                                "#1 s '221\r\n'\n"
                                "close#1 CLOSED\n"
                                "open#2 10.0.0.1:40000 > 10.0.0.2:25\n"
                                "close#2 CAPTURE\n");
}

static void test_tcpengine_stray_packets_create_no_flow(void **state)
{
    rec *r = *state;
    tx(r, C2S, ACK, 1001, 5001, NULL);
    tx(r, S2C, RST, 5001, 0, NULL);
    tx(r, C2S, RST | ACK, 1001, 5001, "rst text");
    tx(r, C2S, FIN | ACK, 1001, 5001, NULL);
    pk web = { "10.0.0.1", "10.0.0.2", 40000, 80, 1, 1, ACK, false, "GET /" };
    push(r, &web);
    tcp_engine_finish(eng(r), r->ts);
    assert_string_equal(r->log->str, "");
    assert_int_equal(stats(r)->flows, 0);
    assert_int_equal(stats(r)->skipped, 1);
    assert_int_equal(stats(r)->tcp_packets, 4);
}

static void test_tcpengine_port_reuse(void **state)
{
    rec *r = *state;
    handshake(r);
    tx(r, C2S, SYN, 1000, 0, NULL); /* retransmitted SYN: the same connection */
    tx(r, C2S, ACK, 1001, 5001, "a");
    tx(r, C2S, SYN, 9000, 0, NULL); /* a new ISN: a new connection */
    tx(r, C2S, ACK, 9001, 0, "b");
    assert_string_equal(r->log->str, "open#1 10.0.0.1:40000 > 10.0.0.2:25\n"
                                "#1 c 'a'\n"
                                "close#1 TIMEOUT\n"
                                "open#2 10.0.0.1:40000 > 10.0.0.2:25\n"
                                "#2 c 'b'\n");
    assert_int_equal(stats(r)->port_reuse, 1);
}

static void flow_n(rec *r, int n, const char *data)
{
    char src[32];
    snprintf(src, sizeof src, "10.0.1.%d", n);
    pk p = { src, "10.0.0.2", 40000, 25, 1 + r->fseq[n], 1, ACK, false, data };
    push(r, &p);
    r->fseq[n] += (uint32_t)strlen(data);
}

static void test_tcpengine_max_flows_eviction(void **state)
{
    rec *r = *state;
    r->cfg.max_flows = 2;
    flow_n(r, 1, "a");
    flow_n(r, 2, "b");
    flow_n(r, 1, "c"); /* flow 1 is now the most recently active */
    flow_n(r, 3, "d"); /* evicts flow 2 */
    tcp_engine_finish(eng(r), r->ts);
    assert_string_equal(r->log->str, "open#1 10.0.1.1:40000 > 10.0.0.2:25 midstream\n"
                                "#1 c 'a'\n"
                                "open#2 10.0.1.2:40000 > 10.0.0.2:25 midstream\n"
                                "#2 c 'b'\n"
                                "#1 c 'c'\n"
                                "close#2 EVICTED\n"
                                "open#3 10.0.1.3:40000 > 10.0.0.2:25 midstream\n"
                                "#3 c 'd'\n"
                                "close#1 CAPTURE\n"
                                "close#3 CAPTURE\n");
    assert_int_equal(stats(r)->evicted, 1);
}

static void test_tcpengine_idle_timeout(void **state)
{
    rec *r = *state;
    r->cfg.idle_timeout_us = 10 * 1000000;
    flow_n(r, 1, "a");
    flow_n(r, 2, "b");
    r->ts += 5 * 1000000;
    flow_n(r, 2, "c");
    r->ts += 6 * 1000000; /* flow 1 idle 11 s, flow 2 idle 6 s */
    flow_n(r, 3, "d");
    r->ts += 20 * 1000000;
    flow_n(r, 1, "e"); /* after its timeout: a new, midstream flow */
    tcp_engine_finish(eng(r), r->ts);
    assert_string_equal(r->log->str, "open#1 10.0.1.1:40000 > 10.0.0.2:25 midstream\n"
                                "#1 c 'a'\n"
                                "open#2 10.0.1.2:40000 > 10.0.0.2:25 midstream\n"
                                "#2 c 'b'\n"
                                "#2 c 'c'\n"
                                "close#1 TIMEOUT\n"
                                "open#3 10.0.1.3:40000 > 10.0.0.2:25 midstream\n"
                                "#3 c 'd'\n"
                                "close#2 TIMEOUT\n"
                                "close#3 TIMEOUT\n"
                                "open#4 10.0.1.1:40000 > 10.0.0.2:25 midstream\n"
                                "#4 c 'e'\n"
                                "close#4 CAPTURE\n");
    assert_int_equal(stats(r)->timeouts, 3);
}

static void test_tcpengine_finish_in_creation_order(void **state)
{
    rec *r = *state;
    flow_n(r, 1, "a");
    flow_n(r, 2, "b");
    flow_n(r, 3, "c");
    flow_n(r, 1, "d");
    flow_n(r, 2, "e");
    reset_log(r);
    tcp_engine_finish(eng(r), r->ts);
    assert_string_equal(r->log->str, "close#1 CAPTURE\nclose#2 CAPTURE\nclose#3 CAPTURE\n");
}

/* ---- tests: captures reordered across directions ---------------------------------------- */

/* The server's reply (which ACKs the command) recorded before the command: the callbacks still
 * come in the order things happened, and nothing is declared missing. */
static void test_tcpengine_swap_command_reply(void **state)
{
    rec *r = *state;
    handshake(r);
    tx(r, S2C, ACK | PSH, 5001, 1001, "220 hi\r\n");
    tx(r, S2C, ACK | PSH, 5009, 1009, "250 ok\r\n"); /* before the command it answers */
    tx(r, C2S, ACK | PSH, 1001, 5009, "EHLO x\r\n");
    tx(r, S2C, ACK, 5017, 1015, NULL); /* a bare ACK ahead of its data: nothing to hold */
    tx(r, C2S, ACK | PSH, 1009, 5017, "QUIT\r\n");
    tx(r, S2C, ACK | PSH | FIN, 5017, 1015, "221 bye\r\n");
    tx(r, C2S, ACK | FIN, 1015, 5027, NULL);
    tx(r, S2C, ACK, 5026, 1016, NULL);
    assert_string_equal(r->log->str, "open#1 10.0.0.1:40000 > 10.0.0.2:25\n"
                                     "#1 s '220 hi\r\n'\n"
                                     "#1 c 'EHLO x\r\n'\n"
                                     "#1 s '250 ok\r\n'\n"
                                     "#1 c 'QUIT\r\n'\n"
                                     "#1 s '221 bye\r\n'\n"
                                     "close#1 CLOSED\n");
    assert_int_equal(stats(r)->gaps, 0);
    assert_int_equal(stats(r)->held_segments, 1);
    assert_int_equal(stats(r)->waits_expired, 0);
    assert_int_equal(stats(r)->retransmissions, 0);
}

typedef struct seg5 {
    int dir;
    uint32_t seq, ack;
    const char *data;
} seg5;

/* Pipelined commands in three segments and a reply in two, the reply ACKing all three: in
 * every one of the 120 capture orders the commands come out first, then the replies. */
static void test_tcpengine_swap_pipelined(void **state)
{
    rec *r = *state;
    static const seg5 seg[5] = {
        { C2S, 1001, 5001, "MAIL FROM:<a@b>\r\n" }, /* 17 */
        { C2S, 1018, 5001, "RCPT TO:<c@d>\r\n" },   /* 15 */
        { C2S, 1033, 5001, "DATA\r\n" },            /* 6 */
        { S2C, 5001, 1039, "250 ok\r\n" },
        { S2C, 5009, 1039, "250 ok\r\n354 go\r\n" },
    };
    const char *want = "open#1 10.0.0.1:40000 > 10.0.0.2:25\n"
                       "#1 c 'MAIL FROM:<a@b>\r\n'\n"
                       "#1 c 'RCPT TO:<c@d>\r\n'\n"
                       "#1 c 'DATA\r\n'\n"
                       "#1 s '250 ok\r\n'\n"
                       "#1 s '250 ok\r\n354 go\r\n'\n"
                       "close#1 CAPTURE\n";
    int count = 0;
    for (int code = 0; code < 5 * 5 * 5 * 5 * 5; code++) {
        int perm[5], used = 0, c = code;
        for (int i = 0; i < 5; i++, c /= 5) {
            perm[i] = c % 5;
            used |= 1 << perm[i];
        }
        if (used != 31)
            continue;
        reset_log(r);
        tcp_engine_free(r->e);
        r->e = NULL;
        handshake(r);
        for (int i = 0; i < 5; i++) {
            const seg5 *g = &seg[perm[i]];
            tx(r, g->dir, ACK | PSH, g->seq, g->ack, g->data);
        }
        tcp_engine_finish(eng(r), r->ts);
        assert_string_equal(r->log->str, want);
        assert_int_equal(stats(r)->gaps, 0);
        count++;
    }
    assert_int_equal(count, 120);
}

/* A client segment really missing from the capture, the server's reply ACKing past it: after
 * the wait, the gap (its exact size) comes out before the reply that was held; the client's
 * next command, which ACKs that reply, after it. */
static void test_tcpengine_lost_segment_gap_before_reply(void **state)
{
    rec *r = *state;
    handshake(r);
    tx(r, S2C, ACK | PSH, 5001, 1001, "220 hi\r\n");
    /* "EHLO x\r\n" (1001..1008) was sent but not captured */
    tx(r, S2C, ACK | PSH, 5009, 1009, "250 ok\r\n");
    tx(r, C2S, ACK | PSH, 1009, 5017, "QUIT\r\n"); /* ACKs the held reply: held too */
    for (int i = 0; i < 6; i++)
        tx(r, S2C, ACK, 5017, 1009, NULL);
    assert_string_equal(r->log->str, "open#1 10.0.0.1:40000 > 10.0.0.2:25\n"
                                     "#1 s '220 hi\r\n'\n");
    tx(r, S2C, ACK, 5017, 1009, NULL); /* 8 packets after the reply: the wait is over */
    assert_string_equal(r->log->str, "open#1 10.0.0.1:40000 > 10.0.0.2:25\n"
                                     "#1 s '220 hi\r\n'\n"
                                     "#1 c gap 8\n"
                                     "#1 s '250 ok\r\n'\n"
                                     "#1 c 'QUIT\r\n'\n");
    tx(r, C2S, ACK | PSH, 1001, 5009, "EHLO x\r\n"); /* far too late: already declared */
    assert_int_equal(stats(r)->gaps, 1);
    assert_int_equal(stats(r)->gap_bytes, 8);
    assert_int_equal(stats(r)->held_segments, 2);
    assert_int_equal(stats(r)->retransmissions, 1);
}

/* The hold is bounded by the direction's out-of-order budget: when the next held segment
 * would not fit, the wait ends at once - the gap, then the held bytes, then the new ones. */
static void test_tcpengine_hold_cap(void **state)
{
    rec *r = *state;
    r->cfg.max_ooo_bytes = 10;
    handshake(r);
    tx(r, S2C, ACK | PSH, 5001, 1001, "220 hi\r\n");
    /* "EHLO x\r\n" lost */
    tx(r, S2C, ACK, 5009, 1009, "250-a\r\n"); /* 7 bytes held */
    assert_string_equal(r->log->str, "open#1 10.0.0.1:40000 > 10.0.0.2:25\n"
                                     "#1 s '220 hi\r\n'\n");
    tx(r, S2C, ACK, 5016, 1009, "250 b\r\n"); /* 14 would not fit */
    assert_string_equal(r->log->str, "open#1 10.0.0.1:40000 > 10.0.0.2:25\n"
                                     "#1 s '220 hi\r\n'\n"
                                     "#1 c gap 8\n"
                                     "#1 s '250-a\r\n'\n"
                                     "#1 s '250 b\r\n'\n");
    assert_int_equal(stats(r)->held_segments, 1);
    assert_int_equal(stats(r)->waits_expired, 1);
}

/* The global memory cap bounds the hold as well: with no room at all, nothing is held and the
 * old eager behaviour results (gap at once, in the right place). */
static void test_tcpengine_hold_no_memory(void **state)
{
    rec *r = *state;
    r->cfg.max_mem = 16;
    handshake(r);
    tx(r, S2C, ACK, 5001, 1009, "250 ok\r\n");
    assert_string_equal(r->log->str, "open#1 10.0.0.1:40000 > 10.0.0.2:25\n"
                                     "#1 c gap 8\n"
                                     "#1 s '250 ok\r\n'\n");
    assert_int_equal(stats(r)->held_segments, 0);
}

/* A FIN recorded before the last data segment of its own direction: the data is not lost. */
static void test_tcpengine_swap_fin_and_data(void **state)
{
    rec *r = *state;
    handshake(r);
    tx(r, C2S, ACK, 1001, 5001, "QUIT\r\n");
    tx(r, S2C, ACK | FIN, 5010, 1007, NULL);
    tx(r, S2C, ACK, 5001, 1007, "221 bye\r\n");
    tx(r, C2S, ACK | FIN, 1007, 5011, NULL);
    assert_string_equal(r->log->str, "open#1 10.0.0.1:40000 > 10.0.0.2:25\n"
                                     "#1 c 'QUIT\r\n'\n"
                                     "#1 s '221 bye\r\n'\n"
                                     "close#1 CLOSED\n");
    assert_int_equal(stats(r)->gaps, 0);
}

/* Each side's segment ACKing the other's held one: only a crafted capture does this. The wait
 * still ends, everything comes out once, memory is returned. */
static void test_tcpengine_hold_cycle(void **state)
{
    rec *r = *state;
    handshake(r);
    tx(r, C2S, ACK, 1005, 5001, "BBBB"); /* queued behind a hole */
    tx(r, S2C, ACK, 5001, 1009, "xxxx"); /* held: ACKs the client's hole */
    tx(r, C2S, ACK, 1001, 5005, "AAAA"); /* held: ACKs the held server bytes */
    tcp_engine_finish(eng(r), r->ts);
    assert_string_equal(r->stream[0]->str, "AAAABBBB");
    assert_string_equal(r->stream[1]->str, "xxxx");
    assert_int_equal(stats(r)->gaps, 0);
}

/* A lockstep SMTP conversation as a TCP stack would send it: every segment ACKs everything the
 * peer sent before it. Replies come in several segments, commands are pipelined. */
typedef struct convo {
    pk p[64];
    char *data[64];
    int n;
    uint32_t next[2];
} convo;

static void cv_add(convo *cv, int dir, uint8_t flags, const char *data)
{
    pk *p = &cv->p[cv->n];
    *p = (pk){ dir == C2S ? "10.0.0.1" : "10.0.0.2", dir == C2S ? "10.0.0.2" : "10.0.0.1",
               dir == C2S ? 40000 : 25, dir == C2S ? 25 : 40000, cv->next[dir],
               cv->next[!dir], flags, false, NULL };
    cv->data[cv->n] = data ? g_strdup(data) : NULL;
    p->data = cv->data[cv->n];
    cv->n++;
    cv->next[dir] += (data ? (uint32_t)strlen(data) : 0) + ((flags & (SYN | FIN)) ? 1 : 0);
}

static void cv_build(convo *cv, uint32_t cisn, uint32_t sisn)
{
    memset(cv, 0, sizeof *cv);
    cv->next[C2S] = cisn;
    cv->next[S2C] = sisn;
    cv_add(cv, C2S, SYN, NULL);
    cv->p[0].ack = 0;
    cv_add(cv, S2C, SYN | ACK, NULL);
    cv_add(cv, C2S, ACK, NULL);
    cv_add(cv, S2C, ACK | PSH, "220 mx ESMTP\r\n");
    cv_add(cv, C2S, ACK, NULL);
    cv_add(cv, C2S, ACK | PSH, "EHLO client\r\n");
    cv_add(cv, S2C, ACK, "250-mx\r\n");
    cv_add(cv, S2C, ACK, "250-PIPELINING\r\n");
    cv_add(cv, S2C, ACK | PSH, "250 8BITMIME\r\n");
    cv_add(cv, C2S, ACK, "MAIL FROM:<a@b>\r\n");
    cv_add(cv, C2S, ACK, "RCPT TO:<c@d>\r\n");
    cv_add(cv, C2S, ACK | PSH, "DATA\r\n");
    cv_add(cv, S2C, ACK, "250 ok\r\n250 ok\r\n");
    cv_add(cv, S2C, ACK | PSH, "354 go\r\n");
    cv_add(cv, C2S, ACK, "Subject: x\r\n");
    cv_add(cv, C2S, ACK, "\r\n");
    cv_add(cv, C2S, ACK | PSH, "hello\r\n.\r\n");
    cv_add(cv, S2C, ACK, NULL);
    cv_add(cv, S2C, ACK | PSH, "250 queued\r\n");
    cv_add(cv, C2S, ACK, NULL);
    cv_add(cv, C2S, ACK | PSH, "QUIT\r\n");
    cv_add(cv, S2C, ACK | PSH, "221 bye\r\n");
    cv_add(cv, S2C, ACK | FIN, NULL);
    cv_add(cv, C2S, ACK | FIN, NULL);
    cv_add(cv, S2C, ACK, NULL);
}

static void cv_free(convo *cv)
{
    for (int i = 0; i < cv->n; i++)
        g_free(cv->data[i]);
}

static void cv_run(rec *r, const convo *cv, const int *order)
{
    reset_log(r);
    tcp_engine_free(r->e);
    r->e = NULL;
    for (int i = 0; i < cv->n; i++)
        push(r, &cv->p[order[i]]);
    tcp_engine_finish(eng(r), r->ts);
}

/* Random adjacent pairs swapped (either direction, disjoint pairs), anywhere in sequence
 * space: the same streams, the same interleaving of client and server data, no gap. */
static void test_tcpengine_swap_random_neighbours(void **state)
{
    rec *r = *state;
    GRand *rnd = g_rand_new_with_seed(11);
    for (int round = 0; round < 500; round++) {
        convo cv;
        uint32_t cisn = round % 7 == 0 ? 0xfffffff0u : g_rand_int(rnd);
        cv_build(&cv, cisn, g_rand_int(rnd));
        int order[64];
        for (int i = 0; i < cv.n; i++)
            order[i] = i;
        cv_run(r, &cv, order);
        char *want_merged = g_strdup(r->merged->str);
        char *want0 = g_strdup(r->stream[0]->str), *want1 = g_strdup(r->stream[1]->str);
        assert_int_equal(stats(r)->gaps, 0);
        int swaps = 0;
        for (int i = 0; i + 1 < cv.n; i++) {
            if (g_rand_int_range(rnd, 0, 2)) {
                int t = order[i];
                order[i] = order[i + 1];
                order[i + 1] = t;
                i++;
                swaps++;
            }
        }
        cv_run(r, &cv, order);
        assert_string_equal(r->stream[0]->str, want0);
        assert_string_equal(r->stream[1]->str, want1);
        assert_string_equal(r->merged->str, want_merged);
        assert_int_equal(stats(r)->gaps, 0);
        assert_int_equal(stats(r)->waits_expired, 0);
        g_free(want_merged);
        g_free(want0);
        g_free(want1);
        cv_free(&cv);
    }
    g_rand_free(rnd);
}

/* ---- real captures, neighbours swapped --------------------------------------------------- */

typedef struct cap_pkt {
    uint8_t *data;
    uint32_t caplen, len;
    int64_t ts;
} cap_pkt;

typedef struct cap_flow {
    GString *log;
    int last;
} cap_flow;

typedef struct cap_rec {
    GPtrArray *done; /* finished flows' transcripts */
} cap_rec;

static void *cap_open(void *ctx, const tcp_flow_info *fi)
{
    cap_flow *f = g_new0(cap_flow, 1);
    f->log = g_string_new("");
    f->last = -1;
    g_string_append_printf(f->log, "%s:%u > %s:%u%s", fi->client_ip, fi->client_port,
                           fi->server_ip, fi->server_port, fi->midstream ? " midstream" : "");
    return f;
}

static void cap_data(void *ctx, void *flow, int dir, const uint8_t *p, size_t n, int64_t ts)
{
    cap_flow *f = flow;
    if (f->last != dir)
        g_string_append_printf(f->log, "\n%c ", "cs"[dir]);
    f->last = dir;
    for (size_t i = 0; i < n; i++) /* printable: a diff of two transcripts stays readable */
        g_string_append_printf(f->log, p[i] >= 32 && p[i] < 127 && p[i] != '\\' ? "%c" : "\\%02x",
                               p[i]);
}

static void cap_gap(void *ctx, void *flow, int dir, uint64_t n, int64_t ts)
{
    cap_flow *f = flow;
    g_string_append_printf(f->log, "\n%c gap %llu", "cs"[dir], (unsigned long long)n);
    f->last = -1;
}

static void cap_close(void *ctx, void *flow, smtpcap_end_reason why, int64_t ts)
{
    cap_rec *c = ctx;
    cap_flow *f = flow;
    g_string_append_printf(f->log, "\nclose %s\n", reason_name(why));
    g_ptr_array_add(c->done, g_string_free(f->log, FALSE));
    g_free(f);
}

static int cmp_str(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every flow's transcript (merged data per direction, gaps, end), sorted: independent of flow
 * ids and of the order in which flows end. */
static char *cap_transcript(int dlt, const cap_pkt *pkts, size_t n, const size_t *order,
                            uint64_t *gaps)
{
    static const tcp_engine_ops ops = { cap_open, cap_data, cap_gap, cap_close };
    cap_rec c = { g_ptr_array_new() };
    tcp_engine *e = tcp_engine_new(NULL, &ops, &c);
    int64_t last = 0;
    for (size_t i = 0; i < n; i++) {
        const cap_pkt *p = &pkts[order[i]];
        tcp_engine_packet(e, dlt, p->data, p->caplen, p->len, p->ts);
        last = p->ts > last ? p->ts : last;
    }
    tcp_engine_finish(e, last);
    *gaps = tcp_engine_get_stats(e)->gaps;
    tcp_engine_free(e);
    g_ptr_array_sort(c.done, cmp_str);
    GString *all = g_string_new("");
    for (guint i = 0; i < c.done->len; i++) {
        g_string_append(all, g_ptr_array_index(c.done, i));
        g_free(g_ptr_array_index(c.done, i));
    }
    g_ptr_array_free(c.done, TRUE);
    return g_string_free(all, FALSE);
}

static void check_capture_swapped(const char *path)
{
    char err[PCAP_ERRBUF_SIZE];
    pcap_t *pc = pcap_open_offline(path, err);
    assert_non_null(pc);
    int dlt = pcap_datalink(pc);
    GArray *pks = g_array_new(FALSE, FALSE, sizeof(cap_pkt));
    struct pcap_pkthdr *h;
    const u_char *d;
    while (pcap_next_ex(pc, &h, &d) == 1) {
        cap_pkt p = { g_memdup2(d, h->caplen), h->caplen, h->len,
                      (int64_t)h->ts.tv_sec * 1000000 + h->ts.tv_usec };
        g_array_append_val(pks, p);
    }
    pcap_close(pc);
    size_t n = pks->len;
    size_t *order = g_new(size_t, n + 1);
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    uint64_t gaps0, gaps;
    char *want = cap_transcript(dlt, (cap_pkt *)pks->data, n, order, &gaps0);
    /* Every pair swapped (from the first and from the second packet), then random pairs. */
    GRand *rnd = g_rand_new_with_seed(3);
    for (int variant = 0; variant < 6; variant++) {
        for (size_t i = 0; i < n; i++)
            order[i] = i;
        for (size_t i = variant == 1 ? 1 : 0; i + 1 < n; i++) {
            if (variant >= 2 && !g_rand_int_range(rnd, 0, 2))
                continue;
            size_t t = order[i];
            order[i] = order[i + 1];
            order[i + 1] = t;
            i++;
        }
        char *got = cap_transcript(dlt, (cap_pkt *)pks->data, n, order, &gaps);
        if (strcmp(got, want) != 0)
            fprintf(stderr, "%s, variant %d:\n--- original\n%s\n--- swapped\n%s\n", path,
                    variant, want, got);
        assert_string_equal(got, want);
        assert_int_equal(gaps, gaps0);
        g_free(got);
    }
    g_rand_free(rnd);
    g_free(want);
    g_free(order);
    for (size_t i = 0; i < n; i++)
        g_free(g_array_index(pks, cap_pkt, i).data);
    g_array_free(pks, TRUE);
}

static void test_tcpengine_captures_swapped(void **state)
{
    GDir *dir = g_dir_open(SMTPCAP_SOURCE_DIR "/captures", 0, NULL);
    assert_non_null(dir);
    GPtrArray *names = g_ptr_array_new_with_free_func(g_free);
    const char *name;
    while ((name = g_dir_read_name(dir)))
        if (g_str_has_suffix(name, ".pcap") || g_str_has_suffix(name, ".pcapng"))
            g_ptr_array_add(names, g_strdup(name));
    g_dir_close(dir);
    g_ptr_array_sort(names, cmp_str);
    assert_true(names->len > 0);
    for (guint i = 0; i < names->len; i++) {
        char *path = g_build_filename(SMTPCAP_SOURCE_DIR, "captures",
                                      (const char *)g_ptr_array_index(names, i), NULL);
        check_capture_swapped(path);
        g_free(path);
    }
    g_ptr_array_free(names, TRUE);
}

#define T(name) cmocka_unit_test_setup_teardown(test_tcpengine_##name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(in_order_interleaved),
        T(client_from_syn),
        T(client_from_ports),
        T(midstream),
        T(midstream_starts_at_peer_ack),
        T(permutations),
        T(overlap_permutations),
        T(retransmission),
        T(overlap_first_copy_wins),
        T(seq_wrap),
        T(out_of_window),
        T(random_segments_consistent),
        T(random_both_directions),
        T(hole_on_ack),
        T(hole_on_ack_by_time),
        T(hole_at_fin),
        T(hole_at_finish),
        T(queue_cap),
        T(tiny_max_mem),
        T(snaplen_cut),
        T(syn_ack_first),
        T(keepalive_and_zero_window_probe),
        T(link_vlan_qinq),
        T(link_sll),
        T(link_sll2),
        T(link_null_loop),
        T(link_raw),
        T(unsupported_linktype),
        T(ethernet_padding),
        T(ipv6_extension_headers),
        T(ipv4_fragments),
        T(truncated_packets),
        T(garbage_does_not_crash),
        T(rst_closes),
        T(fin_both_ways_closes),
        T(stray_packets_create_no_flow),
        T(port_reuse),
        T(max_flows_eviction),
        T(idle_timeout),
        T(finish_in_creation_order),
        T(swap_command_reply),
        T(swap_pipelined),
        T(lost_segment_gap_before_reply),
        T(hold_cap),
        T(hold_no_memory),
        T(swap_fin_and_data),
        T(hold_cycle),
        T(swap_random_neighbours),
        T(captures_swapped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
