/* Unit tests of the pcapng reader (pcapreader/pcapng.c).
 *
 * Every input is a real capture from captures/, converted at test time with editcap or
 * mergecap (Wireshark's own writers), or patched in one field with printf | dd, or rewritten
 * block by block from such a file (byte order, Simple Packet Blocks, an inserted option).
 * Nothing is written by hand. What the engine delivers is recorded per flow (client port,
 * bytes and a hash per direction, gaps, first timestamp) and compared with what libpcap's
 * reading of the original .pcap gives.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <glib.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture.h"
#include "pcapng.h"
#include "tcpengine.h"

#define CAPS SMTPCAP_SOURCE_DIR "/captures/"

/* ---- recorder: one line per flow --------------------------------------------------------- */

typedef struct flow_rec {
    uint16_t cport, sport;
    uint64_t bytes[2], gaps[2];
    uint32_t hash[2];
    int64_t start;
} flow_rec;

typedef struct rec {
    GPtrArray *lines;
} rec;

static void *on_open(void *ctx, const tcp_flow_info *fi)
{
    flow_rec *f = g_new0(flow_rec, 1);
    f->cport = fi->client_port;
    f->sport = fi->server_port;
    f->start = fi->start_us;
    f->hash[0] = f->hash[1] = 2166136261u;
    return f;
}

static void on_data(void *ctx, void *flow, int dir, const uint8_t *p, size_t n, int64_t ts)
{
    flow_rec *f = flow;
    f->bytes[dir] += n;
    for (size_t i = 0; i < n; i++) f->hash[dir] = (f->hash[dir] ^ p[i]) * 16777619u;
}

static void on_gap(void *ctx, void *flow, int dir, uint64_t bytes, int64_t ts)
{
    ((flow_rec *)flow)->gaps[dir] += bytes;
}

static void on_close(void *ctx, void *flow, smtpcap_end_reason why, int64_t ts)
{
    rec *r = ctx;
    flow_rec *f = flow;
    g_ptr_array_add(r->lines,
                    g_strdup_printf("%u->%u start=%" G_GINT64_FORMAT " c=%" G_GUINT64_FORMAT
                                    "/%08x s=%" G_GUINT64_FORMAT "/%08x gaps=%" G_GUINT64_FORMAT
                                    "/%" G_GUINT64_FORMAT "\n",
                                    f->cport, f->sport, f->start, f->bytes[0], f->hash[0],
                                    f->bytes[1], f->hash[1], f->gaps[0], f->gaps[1]));
    g_free(f);
}

static const tcp_engine_ops ops = { on_open, on_data, on_gap, on_close };

static int cmp_str(gconstpointer a, gconstpointer b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Flow lines sorted, so that files whose flows end in another order still compare. */
static char *finish_rec(rec *r)
{
    g_ptr_array_sort(r->lines, cmp_str);
    GString *s = g_string_new("");
    for (guint i = 0; i < r->lines->len; i++) g_string_append(s, r->lines->pdata[i]);
    g_ptr_array_free(r->lines, TRUE);
    return g_string_free(s, FALSE);
}

/* The flows of two runs together, sorted like one run's. */
static char *concat_sorted(const char *a, const char *b)
{
    rec r = { .lines = g_ptr_array_new_with_free_func(g_free) };
    char *both = g_strconcat(a, b, NULL);
    char **lines = g_strsplit(both, "\n", -1);
    for (char **l = lines; *l; l++)
        if (**l) g_ptr_array_add(r.lines, g_strconcat(*l, "\n", NULL));
    g_strfreev(lines);
    g_free(both);
    return finish_rec(&r);
}

typedef struct result {
    char *flows;
    bool ok;
    GError *err;
    capture_stats st;
} result;

static void result_clear(result *res)
{
    g_free(res->flows);
    g_clear_error(&res->err);
}

/* Runs the pcapng reader over a stream. */
static result run_stream(FILE *f, const char *name, const char *filter)
{
    rec r = { .lines = g_ptr_array_new_with_free_func(g_free) };
    tcp_engine_config cfg = { 0 };
    tcp_engine *e = tcp_engine_new(&cfg, &ops, &r);
    result res = { 0 };
    res.ok = pcapng_read(f, name, filter, e, &res.st, &res.err);
    tcp_engine_free(e);
    res.flows = finish_rec(&r);
    return res;
}

static result run_ng(const char *path, const char *filter)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    result res = run_stream(f, path, filter);
    fclose(f);
    return res;
}

/* The reference: capture_read_file (libpcap for a .pcap). */
static result run_file(const char *path, const char *filter)
{
    rec r = { .lines = g_ptr_array_new_with_free_func(g_free) };
    tcp_engine_config cfg = { 0 };
    tcp_engine *e = tcp_engine_new(&cfg, &ops, &r);
    result res = { 0 };
    res.ok = capture_read_file(path, filter, e, &res.st, &res.err);
    tcp_engine_free(e);
    res.flows = finish_rec(&r);
    return res;
}

/* ---- files ------------------------------------------------------------------------------- */

typedef struct fixture {
    char *dir;
} fixture;

static char *tmp_path(fixture *fx, const char *name)
{
    return g_build_filename(fx->dir, name, NULL);
}

static void sh(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *cmd = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    int rc = system(cmd);
    if (rc != 0) fail_msg("command failed (%d): %s", rc, cmd);
    g_free(cmd);
}

static bool have_tools(void)
{
    return system("command -v editcap >/dev/null && command -v mergecap >/dev/null") == 0;
}

/* A real capture converted with editcap: tmp/NAME */
static char *editcap_to(fixture *fx, const char *args, const char *src, const char *name)
{
    char *out = tmp_path(fx, name);
    sh("editcap %s '%s' '%s' >/dev/null", args, src, out);
    return out;
}

static GBytes *slurp(const char *path)
{
    gchar *data;
    gsize n;
    assert_true(g_file_get_contents(path, &data, &n, NULL));
    return g_bytes_new_take(data, n);
}

static void spit(const char *path, const void *p, size_t n)
{
    assert_true(g_file_set_contents(path, p, (gssize)n, NULL));
}

/* Overwrites 4 bytes at off with v (little endian), the way one would by hand:
 * printf '\ooo...' | dd conv=notrunc (octal escapes: /bin/sh's printf has no \x). */
static void patch32(const char *path, size_t off, uint32_t v)
{
    sh("printf '\\%03o\\%03o\\%03o\\%03o' | dd of='%s' bs=1 seek=%zu conv=notrunc status=none",
       v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, v >> 24, path, off);
}

/* Block offsets of a little-endian pcapng file (as editcap writes on x86). */
typedef struct blk {
    size_t off;
    uint32_t type, len;
} blk;

static GArray *blocks_of(GBytes *b)
{
    GArray *a = g_array_new(FALSE, FALSE, sizeof(blk));
    gsize n;
    const uint8_t *p = g_bytes_get_data(b, &n);
    for (size_t off = 0; off + 12 <= n;) {
        blk k = { .off = off };
        memcpy(&k.type, p + off, 4);
        memcpy(&k.len, p + off + 4, 4);
        assert_true(k.len >= 12 && off + k.len <= n);
        g_array_append_val(a, k);
        off += k.len;
    }
    return a;
}

static int first_block(GArray *a, uint32_t type, int nth)
{
    for (guint i = 0; i < a->len; i++)
        if (g_array_index(a, blk, i).type == type && nth-- == 0) return (int)i;
    return -1;
}

static int setup(void **state)
{
    if (!have_tools()) {
        print_message("editcap/mergecap missing: skipped\n");
        return -1;
    }
    fixture *fx = g_new0(fixture, 1);
    fx->dir = g_dir_make_tmp("test_pcapng.XXXXXX", NULL);
    assert_non_null(fx->dir);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    char *cmd = g_strdup_printf("rm -rf '%s'", fx->dir);
    if (system(cmd) != 0) print_message("cannot remove %s\n", fx->dir);
    g_free(cmd);
    g_free(fx->dir);
    g_free(fx);
    return 0;
}

/* ---- conversions: exactly the flows of the original ----------------------------------- */

static void expect_same_as_pcap(const char *ng_path, const char *pcap_path)
{
    result want = run_file(pcap_path, NULL), got = run_ng(ng_path, NULL);
    assert_true(want.ok);
    if (!got.ok) fail_msg("%s", got.err->message);
    assert_true(strlen(want.flows) > 0);
    assert_string_equal(got.flows, want.flows);
    assert_int_equal(got.st.packets, want.st.packets);
    result_clear(&want);
    result_clear(&got);
}

static void test_pcapng_editcap_conversion(void **state)
{
    fixture *fx = *state;
    const char *srcs[] = { "plain-delivery.pcap", "concurrent-50.pcap", "ipv6.pcap",
                           "sll-cooked.pcap", "bdat-chunking.pcap" };
    for (size_t i = 0; i < G_N_ELEMENTS(srcs); i++) {
        char *src = g_strconcat(CAPS, srcs[i], NULL);
        char *ng = editcap_to(fx, "-F pcapng", src, "conv.pcapng");
        expect_same_as_pcap(ng, src);
        g_free(ng);
        g_free(src);
    }
}

/* Nanosecond pcap -> pcapng: if_tsresol 9, the same microsecond timestamps. */
static void test_pcapng_nanosecond_tsresol(void **state)
{
    fixture *fx = *state;
    char *ns = editcap_to(fx, "-F nsecpcap", CAPS "rcpt-unknown-user.pcap", "ns.pcap");
    char *ng = editcap_to(fx, "-F pcapng", ns, "ns.pcapng");
    expect_same_as_pcap(ng, CAPS "rcpt-unknown-user.pcap");
    g_free(ns);
    g_free(ng);
}

/* libpcap 1.10 refuses this file; we must give the flows of both originals. */
static void test_pcapng_mixed_linktypes(void **state)
{
    fixture *fx = *state;
    char *mixed = tmp_path(fx, "mixed.pcapng");
    sh("mergecap -F pcapng -w '%s' '%s' '%s'", mixed, CAPS "plain-delivery.pcap",
       CAPS "sll2-cooked.pcap");
    result a = run_file(CAPS "plain-delivery.pcap", NULL), b = run_file(CAPS "sll2-cooked.pcap", NULL);
    result got = run_ng(mixed, NULL);
    if (!got.ok) fail_msg("%s", got.err->message);
    char *want = concat_sorted(a.flows, b.flows);
    assert_string_equal(got.flows, want);
    assert_int_equal(got.st.packets, a.st.packets + b.st.packets);
    assert_int_equal(got.st.unsupported_linktype, 0);
    /* through capture_read_file too: the dispatch on the magic */
    result via = run_file(mixed, NULL);
    assert_true(via.ok);
    assert_string_equal(via.flows, want);
    g_free(want);
    result_clear(&a);
    result_clear(&b);
    result_clear(&got);
    result_clear(&via);
    g_free(mixed);
}

/* A BPF filter compiled per link type: Ethernet and Linux cooked v2 alike. */
static void test_pcapng_filter_per_linktype(void **state)
{
    fixture *fx = *state;
    char *mixed = tmp_path(fx, "mixed.pcapng");
    sh("mergecap -F pcapng -w '%s' '%s' '%s'", mixed, CAPS "plain-delivery.pcap",
       CAPS "sll2-cooked.pcap");
    result a = run_file(CAPS "plain-delivery.pcap", NULL), b = run_file(CAPS "sll2-cooked.pcap", NULL);
    /* sll2-cooked's client port */
    char *port = g_strndup(b.flows, strcspn(b.flows, "-"));
    char *filter = g_strdup_printf("tcp port %s", port);
    result got = run_ng(mixed, filter);
    assert_true(got.ok);
    assert_string_equal(got.flows, b.flows);
    result none = run_ng(mixed, "tcp port 1");
    assert_true(none.ok);
    assert_string_equal(none.flows, "");
    assert_int_equal(none.st.packets, 0);
    result bad = run_ng(mixed, "tcp port");
    assert_false(bad.ok);
    assert_int_equal(bad.err->code, CAPTURE_ERROR_FILTER);
    g_free(port);
    g_free(filter);
    result_clear(&a);
    result_clear(&b);
    result_clear(&got);
    result_clear(&none);
    result_clear(&bad);
    g_free(mixed);
}

/* Two sections one after the other (cat of two files): interfaces numbered per section. */
static void test_pcapng_two_sections(void **state)
{
    fixture *fx = *state;
    char *a = editcap_to(fx, "-F pcapng", CAPS "plain-delivery.pcap", "a.pcapng");
    char *b = editcap_to(fx, "-F pcapng", CAPS "sll-cooked.pcap", "b.pcapng");
    char *ab = tmp_path(fx, "ab.pcapng");
    sh("cat '%s' '%s' > '%s'", a, b, ab);
    result ra = run_file(CAPS "plain-delivery.pcap", NULL), rb = run_file(CAPS "sll-cooked.pcap", NULL);
    result got = run_ng(ab, NULL);
    if (!got.ok) fail_msg("%s", got.err->message);
    char *want = concat_sorted(ra.flows, rb.flows);
    assert_string_equal(got.flows, want);
    g_free(want);
    result_clear(&ra);
    result_clear(&rb);
    result_clear(&got);
    g_free(a);
    g_free(b);
    g_free(ab);
}

/* ---- block-by-block rewrites of a real file -------------------------------------------- */

static void put16be(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put32be(uint8_t *p, uint32_t v)
{
    put16be(p, (uint16_t)(v >> 16));
    put16be(p + 2, (uint16_t)v);
}

static uint16_t le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)le16(p) | (uint32_t)le16(p + 2) << 16;
}

static void swap_options(uint8_t *p, size_t n)
{
    while (n >= 4) {
        uint16_t code = le16(p), len = le16(p + 2);
        put16be(p, code);
        put16be(p + 2, len);
        if (code == 0) break;
        size_t padded = (len + 3u) & ~3u;
        assert_true(padded <= n - 4);
        if (code == 14 && len == 8) { /* if_tsoffset: the only multi-byte number we meet */
            for (int i = 0; i < 4; i++) {
                uint8_t t = p[4 + i];
                p[4 + i] = p[11 - i];
                p[11 - i] = t;
            }
        }
        p += 4 + padded;
        n -= 4 + padded;
    }
}

/* The same file written by a big-endian machine: every number of every block swapped. */
static GByteArray *to_big_endian(GBytes *b)
{
    gsize n;
    const uint8_t *src = g_bytes_get_data(b, &n);
    GByteArray *out = g_byte_array_new();
    g_byte_array_append(out, src, (guint)n);
    uint8_t *p = out->data;
    GArray *bl = blocks_of(b);
    for (guint i = 0; i < bl->len; i++) {
        blk k = g_array_index(bl, blk, i);
        uint8_t *q = p + k.off;
        put32be(q, k.type);
        put32be(q + 4, k.len);
        put32be(q + k.len - 4, k.len);
        uint8_t *body = q + 8;
        size_t blen = k.len - 12;
        if (k.type == 0x0A0D0D0A) {
            put32be(body, 0x1A2B3C4D);
            put16be(body + 4, le16(body + 4));
            put16be(body + 6, le16(body + 6));
            swap_options(body + 16, blen - 16); /* section length is -1: same both ways */
        } else if (k.type == 1) {
            put16be(body, le16(body));
            put32be(body + 4, le32(body + 4));
            swap_options(body + 8, blen - 8);
        } else if (k.type == 6) {
            for (int f = 0; f < 5; f++) put32be(body + 4 * f, le32(body + 4 * f));
            size_t caplen = (size_t)body[12] << 24 | (size_t)body[13] << 16 | (size_t)body[14] << 8 | body[15];
            size_t data = 20 + ((caplen + 3) & ~(size_t)3);
            swap_options(body + data, blen - data);
        } else {
            fail_msg("unexpected block type %u in the source", k.type);
        }
    }
    g_array_free(bl, TRUE);
    return out;
}

static void test_pcapng_big_endian_section(void **state)
{
    fixture *fx = *state;
    char *ng = editcap_to(fx, "-F pcapng", CAPS "auth-login-success.pcap", "le.pcapng");
    GBytes *le = slurp(ng);
    GByteArray *be = to_big_endian(le);
    char *bepath = tmp_path(fx, "be.pcapng");
    spit(bepath, be->data, be->len);
    expect_same_as_pcap(bepath, CAPS "auth-login-success.pcap");
    /* and a big-endian section followed by a little-endian one */
    char *mix = tmp_path(fx, "be-le.pcapng");
    sh("cat '%s' '%s' > '%s'", bepath, ng, mix);
    result got = run_ng(mix, NULL);
    assert_true(got.ok);
    result one = run_file(CAPS "auth-login-success.pcap", NULL);
    char *twice = g_strconcat(one.flows, one.flows, NULL);
    /* the same connection twice (the first one had ended): both copies are delivered */
    assert_int_equal(got.st.packets, 2 * one.st.packets);
    assert_string_equal(got.flows, twice);
    g_free(twice);
    result_clear(&got);
    result_clear(&one);
    g_free(mix);
    g_bytes_unref(le);
    g_byte_array_free(be, TRUE);
    g_free(bepath);
    g_free(ng);
}

/* Every Enhanced Packet Block turned into a Simple Packet Block (no interface id, no
 * timestamp): the same bytes reach the engine. */
static void test_pcapng_simple_packet_blocks(void **state)
{
    fixture *fx = *state;
    char *ng = editcap_to(fx, "-F pcapng", CAPS "plain-delivery.pcap", "epb.pcapng");
    GBytes *b = slurp(ng);
    gsize n;
    const uint8_t *p = g_bytes_get_data(b, &n);
    GArray *bl = blocks_of(b);
    GByteArray *out = g_byte_array_new();
    for (guint i = 0; i < bl->len; i++) {
        blk k = g_array_index(bl, blk, i);
        if (k.type != 6) {
            g_byte_array_append(out, p + k.off, k.len);
            continue;
        }
        uint32_t len = le32(p + k.off + 8 + 16), caplen = le32(p + k.off + 8 + 12);
        assert_int_equal(len, caplen);
        uint32_t padded = (caplen + 3) & ~3u, total = 16 + padded;
        uint8_t hdr[12] = { 3, 0, 0, 0 };
        memcpy(hdr + 4, &total, 4);
        memcpy(hdr + 8, &len, 4);
        g_byte_array_append(out, hdr, 12);
        g_byte_array_append(out, p + k.off + 28, padded);
        g_byte_array_append(out, (const uint8_t *)&total, 4);
    }
    char *spb = tmp_path(fx, "spb.pcapng");
    spit(spb, out->data, out->len);
    result want = run_file(CAPS "plain-delivery.pcap", NULL), got = run_ng(spb, NULL);
    if (!got.ok) fail_msg("%s", got.err->message);
    /* same bytes; the timestamps are gone (all 0) */
    GRegex *re = g_regex_new("start=-?[0-9]+", 0, 0, NULL);
    char *w = g_regex_replace(re, want.flows, -1, 0, "start=0", 0, NULL);
    assert_string_equal(got.flows, w);
    g_free(w);
    g_regex_unref(re);
    result_clear(&want);
    result_clear(&got);
    g_array_free(bl, TRUE);
    g_byte_array_free(out, TRUE);
    g_bytes_unref(b);
    g_free(spb);
    g_free(ng);
}

/* The obsolete Packet Block (type 2) has the EPB's layout with a 16-bit interface id and a
 * 16-bit drop count: on a little-endian file with interface 0, patching the type is all. */
static void test_pcapng_obsolete_packet_blocks(void **state)
{
    fixture *fx = *state;
    char *ng = editcap_to(fx, "-F pcapng", CAPS "rcpt-unknown-user.pcap", "opb.pcapng");
    GBytes *b = slurp(ng);
    GArray *bl = blocks_of(b);
    for (guint i = 0; i < bl->len; i++)
        if (g_array_index(bl, blk, i).type == 6) patch32(ng, g_array_index(bl, blk, i).off, 2);
    expect_same_as_pcap(ng, CAPS "rcpt-unknown-user.pcap");
    g_array_free(bl, TRUE);
    g_bytes_unref(b);
    g_free(ng);
}

/* if_tsresol as a power of two, and if_tsoffset (inserted into the IDB). */
static void test_pcapng_tsresol_pow2_and_tsoffset(void **state)
{
    fixture *fx = *state;
    char *ns = editcap_to(fx, "-F nsecpcap", CAPS "plain-delivery.pcap", "ns.pcap");
    char *ng = editcap_to(fx, "-F pcapng", ns, "ns.pcapng");
    GBytes *b = slurp(ng);
    gsize n;
    const uint8_t *p = g_bytes_get_data(b, &n);
    GArray *bl = blocks_of(b);
    int idb = first_block(bl, 1, 0), epb = first_block(bl, 6, 0);
    blk ki = g_array_index(bl, blk, idb), ke = g_array_index(bl, blk, epb);
    /* the IDB's options: if_tsresol 9 first (as editcap writes it) */
    assert_int_equal(le16(p + ki.off + 16), 9);
    assert_int_equal(p[ki.off + 20], 9);
    uint64_t raw = (uint64_t)le32(p + ke.off + 12) << 32 | le32(p + ke.off + 16);

    result want = run_file(CAPS "plain-delivery.pcap", NULL);
    int64_t start_us = g_ascii_strtoll(strstr(want.flows, "start=") + 6, NULL, 10);
    assert_int_equal(start_us, (int64_t)(raw / 1000));

    /* 2^-30 s units: the same raw value means raw * 10^6 / 2^30 microseconds */
    char *pow2 = tmp_path(fx, "pow2.pcapng");
    spit(pow2, p, n);
    patch32(pow2, ki.off + 20, 0x80 | 30);
    result got = run_ng(pow2, NULL);
    assert_true(got.ok);
    int64_t got_us = g_ascii_strtoll(strstr(got.flows, "start=") + 6, NULL, 10);
    assert_int_equal(got_us, (int64_t)(((unsigned __int128)raw * 1000000u) >> 30));

    /* if_tsoffset of -3600 s inserted in front of the IDB's options */
    GByteArray *out = g_byte_array_new();
    g_byte_array_append(out, p, ki.off);
    uint32_t newlen = ki.len + 12;
    uint8_t head[16];
    memcpy(head, p + ki.off, 16);
    memcpy(head + 4, &newlen, 4);
    g_byte_array_append(out, head, 16);
    int64_t off = -3600;
    uint8_t opt[12] = { 14, 0, 8, 0 };
    memcpy(opt + 4, &off, 8);
    g_byte_array_append(out, opt, 12);
    g_byte_array_append(out, p + ki.off + 16, ki.len - 20);
    g_byte_array_append(out, (const uint8_t *)&newlen, 4);
    g_byte_array_append(out, p + ki.off + ki.len, n - ki.off - ki.len);
    char *tsoff = tmp_path(fx, "tsoffset.pcapng");
    spit(tsoff, out->data, out->len);
    result shifted = run_ng(tsoff, NULL);
    if (!shifted.ok) fail_msg("%s", shifted.err->message);
    int64_t sh_us = g_ascii_strtoll(strstr(shifted.flows, "start=") + 6, NULL, 10);
    assert_int_equal(sh_us, start_us - 3600 * G_GINT64_CONSTANT(1000000));

    result_clear(&want);
    result_clear(&got);
    result_clear(&shifted);
    g_byte_array_free(out, TRUE);
    g_array_free(bl, TRUE);
    g_bytes_unref(b);
    g_free(tsoff);
    g_free(pow2);
    g_free(ns);
    g_free(ng);
}

/* Blocks we do not read (a Decryption Secrets Block, comments as options) are skipped. */
static void test_pcapng_unknown_blocks_skipped(void **state)
{
    fixture *fx = *state;
    char *ng = tmp_path(fx, "dsb.pcapng");
    sh("editcap -F pcapng --inject-secrets 'tls,%s' --capture-comment hello -a '1:first' '%s' '%s' "
       ">/dev/null", CAPS "starttls-keylog.keys", CAPS "starttls-keylog.pcap", ng);
    GBytes *b = slurp(ng);
    GArray *bl = blocks_of(b);
    assert_true(first_block(bl, 0x0000000A, 0) >= 0); /* the DSB is there */
    expect_same_as_pcap(ng, CAPS "starttls-keylog.pcap");
    g_array_free(bl, TRUE);
    g_bytes_unref(b);
    g_free(ng);
}

/* A link type the engine cannot decode: its packets are counted and skipped, the other
 * interface is still decoded; if no interface is usable, the file is refused. */
static void test_pcapng_unsupported_linktype_skipped(void **state)
{
    fixture *fx = *state;
    char *mixed = tmp_path(fx, "mixed.pcapng");
    sh("mergecap -F pcapng -w '%s' '%s' '%s'", mixed, CAPS "plain-delivery.pcap",
       CAPS "sll2-cooked.pcap");
    GBytes *b = slurp(mixed);
    GArray *bl = blocks_of(b);
    int second = first_block(bl, 1, 1);
    assert_true(second >= 0);
    /* link type 147 (LINKTYPE_USER0) + reserved 0 */
    patch32(mixed, g_array_index(bl, blk, second).off + 8, 147);
    result a = run_file(CAPS "plain-delivery.pcap", NULL), sll = run_file(CAPS "sll2-cooked.pcap", NULL);
    result got = run_ng(mixed, NULL);
    assert_true(got.ok);
    assert_string_equal(got.flows, a.flows);
    assert_int_equal(got.st.unsupported_linktype, sll.st.packets);
    patch32(mixed, g_array_index(bl, blk, first_block(bl, 1, 0)).off + 8, 147);
    result none = run_ng(mixed, NULL);
    assert_false(none.ok);
    assert_int_equal(none.err->code, CAPTURE_ERROR_OPEN);
    assert_non_null(strstr(none.err->message, "147"));
    result_clear(&a);
    result_clear(&sll);
    result_clear(&got);
    result_clear(&none);
    g_array_free(bl, TRUE);
    g_bytes_unref(b);
    g_free(mixed);
}

/* ---- damage ------------------------------------------------------------------------------ */

/* Every prefix of a real file: never a crash; exactly the packets of the whole packet blocks
 * before the cut are pushed; a cut inside the first section header is "not readable" (exit
 * 1), anywhere else "damaged" (exit 2) with the file name and the block's offset, and a cut
 * at a block boundary is a clean end. */
static void test_pcapng_truncated_at_every_offset(void **state)
{
    fixture *fx = *state;
    char *ng = editcap_to(fx, "-F pcapng", CAPS "rcpt-unknown-user.pcap", "t.pcapng");
    GBytes *b = slurp(ng);
    gsize n;
    const uint8_t *p = g_bytes_get_data(b, &n);
    GArray *bl = blocks_of(b);
    size_t shb_end = g_array_index(bl, blk, 0).len;
    for (size_t cut = 4; cut < n; cut++) {
        FILE *f = fmemopen((void *)p, cut, "rb");
        assert_non_null(f);
        result got = run_stream(f, "cut.pcapng", NULL);
        fclose(f);
        uint64_t whole = 0;
        bool boundary = false;
        for (guint i = 0; i < bl->len; i++) {
            blk k = g_array_index(bl, blk, i);
            if (k.off + k.len <= cut && k.type == 6) whole++;
            if (k.off + k.len == cut) boundary = true;
        }
        assert_int_equal(got.st.packets, whole);
        if (boundary) {
            assert_true(got.ok);
        } else {
            assert_false(got.ok);
            assert_int_equal(got.err->code, cut < shb_end ? CAPTURE_ERROR_OPEN : CAPTURE_ERROR_DAMAGED);
            assert_non_null(strstr(got.err->message, "cut.pcapng"));
            if (cut >= shb_end) assert_non_null(strstr(got.err->message, " at byte "));
        }
        result_clear(&got);
    }
    /* and the real thing, through the command's path, cut with head -c in three places */
    size_t cuts[] = { shb_end + 10, n / 2, n - 3 };
    for (size_t i = 0; i < G_N_ELEMENTS(cuts); i++) {
        char *cutf = tmp_path(fx, "head.pcapng");
        sh("head -c %zu '%s' > '%s'", cuts[i], ng, cutf);
        result got = run_file(cutf, NULL);
        assert_false(got.ok);
        assert_int_equal(got.err->code, CAPTURE_ERROR_DAMAGED);
        assert_non_null(strstr(got.err->message, "head.pcapng"));
        result_clear(&got);
        g_free(cutf);
    }
    g_array_free(bl, TRUE);
    g_bytes_unref(b);
    g_free(ng);
}

/* One length field corrupted with printf | dd: the packets before are delivered, then a
 * damaged error naming the block's offset and the problem; nothing huge is allocated. */
static void test_pcapng_corrupt_block_length(void **state)
{
    fixture *fx = *state;
    char *orig = editcap_to(fx, "-F pcapng", CAPS "rcpt-unknown-user.pcap", "orig.pcapng");
    GBytes *b = slurp(orig);
    GArray *bl = blocks_of(b);
    int victim = first_block(bl, 6, 10); /* the 11th packet */
    blk k = g_array_index(bl, blk, victim);
    struct {
        size_t where; /* 4: the header's length, k.len - 4: the trailer */
        uint32_t value;
        const char *why;
    } cases[] = {
        { 4, k.len + 1, "not a multiple of 4" },
        { 4, 8, "too short" },
        { 4, 0x7ffffffc, "over the limit" },
        { 4, 0xfffffffc, "over the limit" },
        { 4, k.len + 4000, "truncated" }, /* runs past the end of the file */
        { 4, k.len - 4, "differs" },      /* the trailer no longer matches */
        { 0, 0, "differs" },              /* trailer patched: see below */
    };
    cases[6].where = k.len - 4;
    cases[6].value = k.len + 4;
    char msg[64];
    for (size_t i = 0; i < G_N_ELEMENTS(cases); i++) {
        char *bad = tmp_path(fx, "bad.pcapng");
        sh("cp '%s' '%s'", orig, bad);
        patch32(bad, k.off + cases[i].where, cases[i].value);
        result got = run_ng(bad, NULL);
        assert_false(got.ok);
        assert_int_equal(got.err->code, CAPTURE_ERROR_DAMAGED);
        assert_int_equal(got.st.packets, 10);
        snprintf(msg, sizeof msg, "at byte %zu:", k.off);
        if (!strstr(got.err->message, msg) || !strstr(got.err->message, cases[i].why))
            fail_msg("case %zu: %s", i, got.err->message);
        result_clear(&got);
        g_free(bad);
    }
    /* captured length larger than the block */
    char *bad = tmp_path(fx, "bad.pcapng");
    sh("cp '%s' '%s'", orig, bad);
    patch32(bad, k.off + 20, k.len);
    result got = run_ng(bad, NULL);
    assert_false(got.ok);
    assert_non_null(strstr(got.err->message, "captured length"));
    result_clear(&got);
    /* a packet on an interface the section never described */
    sh("cp '%s' '%s'", orig, bad);
    patch32(bad, k.off + 8, 7);
    got = run_ng(bad, NULL);
    assert_false(got.ok);
    assert_non_null(strstr(got.err->message, "interface 7"));
    result_clear(&got);
    /* a bad byte-order magic in the first section: not readable at all */
    sh("cp '%s' '%s'", orig, bad);
    patch32(bad, 8, 0x12345678);
    got = run_ng(bad, NULL);
    assert_false(got.ok);
    assert_int_equal(got.err->code, CAPTURE_ERROR_OPEN);
    result_clear(&got);
    g_free(bad);
    g_array_free(bl, TRUE);
    g_bytes_unref(b);
    g_free(orig);
}

/* Standard input ("-"): the magic is peeked without seeking, pcap and pcapng alike. */
static void test_pcapng_stdin_peek(void **state)
{
    fixture *fx = *state;
    char *ng = editcap_to(fx, "-F pcapng", CAPS "plain-delivery.pcap", "in.pcapng");
    const char *files[] = { ng, CAPS "plain-delivery.pcap" };
    result want = run_file(CAPS "plain-delivery.pcap", NULL);
    for (size_t i = 0; i < G_N_ELEMENTS(files); i++) {
        /* a pipe, so that nothing could seek even if it tried */
        char *cmd = g_strdup_printf("cat '%s'", files[i]);
        FILE *pipe = popen(cmd, "r");
        assert_non_null(pipe);
        FILE *saved = stdin;
        stdin = pipe;
        result got = run_file("-", NULL);
        stdin = saved;
        pclose(pipe);
        if (!got.ok) fail_msg("%s: %s", files[i], got.err->message);
        assert_string_equal(got.flows, want.flows);
        result_clear(&got);
        g_free(cmd);
    }
    result_clear(&want);
    g_free(ng);
}

#define T(name) cmocka_unit_test_setup_teardown(test_pcapng_##name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(editcap_conversion),
        T(nanosecond_tsresol),
        T(mixed_linktypes),
        T(filter_per_linktype),
        T(two_sections),
        T(big_endian_section),
        T(simple_packet_blocks),
        T(obsolete_packet_blocks),
        T(tsresol_pow2_and_tsoffset),
        T(unknown_blocks_skipped),
        T(unsupported_linktype_skipped),
        T(truncated_at_every_offset),
        T(corrupt_block_length),
        T(stdin_peek),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
