/* pcapng reader (see pcapng.h). Format: draft-ietf-opsawg-pcapng (the PCAP Next Generation
 * Dump File Format), sections 3 (general block structure) and 4 (block definitions).
 *
 * Shape: a {block type, name, minimum length, handler} table; one loop reads a block header,
 * checks the length against the table and the limits, then either reads the body into one
 * reusable buffer (growing only as bytes actually arrive, so a lying length in a short file
 * never allocates more than the file holds) or streams past it. Every field is read with
 * memcpy and swapped when the section was written in the other byte order.
 */
#include "pcapng.h"

#include <errno.h>
#include <inttypes.h>
#include <pcap/pcap.h>
#include <string.h>

enum {
    BT_SHB = 0x0A0D0D0A,
    BT_IDB = 0x00000001,
    BT_OPB = 0x00000002, /* obsolete Packet Block: still written by old tools */
    BT_SPB = 0x00000003,
    BT_EPB = 0x00000006
};

#define BYTE_ORDER_MAGIC 0x1A2B3C4Du
#define OPT_ENDOFOPT 0
#define OPT_IF_TSRESOL 9
#define OPT_IF_TSOFFSET 14
#define LINKTYPE_RAW_FILE 101 /* LINKTYPE_RAW as files carry it; libpcap's DLT_RAW differs */
#define FILTER_SNAPLEN 262144
#define READ_CHUNK 65536

typedef struct ng_iface {
    int linktype;
    uint32_t snaplen;   /* 0 = no limit */
    bool resol_pow2;    /* if_tsresol: units are 2^-exp s instead of 10^-exp s */
    uint8_t resol_exp;  /* default 6: microseconds */
    int64_t offset_s;   /* if_tsoffset, seconds added to every timestamp */
    bool supported;     /* the TCP engine can decode this link type */
    int filter;         /* index into ng_reader.filters, -1 = no filter */
} ng_iface;

typedef struct ng_filter {
    int linktype;
    struct bpf_program prog;
} ng_filter;

typedef struct ng_reader {
    FILE *f;
    const char *name;
    const char *filter;
    tcp_engine *e;
    capture_stats *st;
    GError **err;
    uint64_t pos;        /* bytes consumed from the stream */
    uint64_t block_off;  /* where the block being read starts */
    uint32_t block_type;
    bool swap;           /* this section's byte order is not ours */
    unsigned sections;   /* section headers read so far */
    GArray *ifaces;      /* ng_iface of the current section */
    GArray *filters;     /* ng_filter, one per link type, for the whole file */
    uint8_t *buf;
    size_t cap;
    int64_t last_ts;       /* of the last packet block: Simple Packet Blocks carry none */
    int64_t last_pushed_ts;
    bool any_supported;
    int first_linktype;    /* of the first interface, for the "not supported" message */
} ng_reader;

typedef bool (*block_handler)(ng_reader *r, const uint8_t *body, size_t n);

static bool on_shb(ng_reader *r, const uint8_t *body, size_t n);
static bool on_idb(ng_reader *r, const uint8_t *body, size_t n);
static bool on_epb(ng_reader *r, const uint8_t *body, size_t n);
static bool on_spb(ng_reader *r, const uint8_t *body, size_t n);
static bool on_opb(ng_reader *r, const uint8_t *body, size_t n);

/* min_len is the smallest valid block total length (header + fixed fields + trailer). */
static const struct {
    uint32_t type;
    const char *name;
    uint32_t min_len;
    block_handler handler;
} block_table[] = {
    { BT_SHB, "Section Header Block", 28, on_shb },
    { BT_IDB, "Interface Description Block", 20, on_idb },
    { BT_EPB, "Enhanced Packet Block", 32, on_epb },
    { BT_SPB, "Simple Packet Block", 16, on_spb },
    { BT_OPB, "Packet Block", 32, on_opb },
};

static int find_block(uint32_t type)
{
    for (size_t i = 0; i < G_N_ELEMENTS(block_table); i++)
        if (block_table[i].type == type) return (int)i;
    return -1;
}

static const char *block_name(uint32_t type)
{
    int i = find_block(type);
    return i < 0 ? "block" : block_table[i].name;
}

/* ---- errors ---------------------------------------------------------------------------- */

static bool fail(ng_reader *r, const char *fmt, ...) G_GNUC_PRINTF(2, 3);

/* Damage inside the first section header means the file was never readable as pcapng (exit 1
 * like any unreadable input); anything later is damage part-way (exit 2). */
static bool fail(ng_reader *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *what = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    if (r->sections == 0)
        g_set_error(r->err, CAPTURE_ERROR, CAPTURE_ERROR_OPEN, "%s: not a readable pcapng file: %s",
                    r->name, what);
    else
        g_set_error(r->err, CAPTURE_ERROR, CAPTURE_ERROR_DAMAGED,
                    "%s: damaged after packet %" G_GUINT64_FORMAT ": pcapng %s at byte %" PRIu64
                    ": %s", r->name, r->st->packets, block_name(r->block_type), r->block_off, what);
    g_free(what);
    return false;
}

/* ---- byte access ----------------------------------------------------------------------- */

static uint16_t get16(const ng_reader *r, const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, sizeof v);
    return r->swap ? GUINT16_SWAP_LE_BE(v) : v;
}

static uint32_t get32(const ng_reader *r, const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return r->swap ? GUINT32_SWAP_LE_BE(v) : v;
}

static uint64_t get64(const ng_reader *r, const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
    return r->swap ? GUINT64_SWAP_LE_BE(v) : v;
}

static size_t pad4(size_t n)
{
    return (n + 3) & ~(size_t)3;
}

static size_t stream_read(ng_reader *r, void *dst, size_t n)
{
    size_t got = fread(dst, 1, n, r->f);
    r->pos += got;
    return got;
}

static bool short_read(ng_reader *r, uint64_t want, uint64_t got)
{
    if (ferror(r->f)) return fail(r, "read error: %s", g_strerror(errno));
    return fail(r, "truncated: the file ends %" PRIu64 " bytes into a read of %" PRIu64, got, want);
}

/* Reads n bytes into r->buf at offset off, growing the buffer by at most what has actually
 * been read: a length field that promises more than the file holds allocates nothing extra. */
static bool read_body(ng_reader *r, size_t off, size_t n)
{
    size_t have = 0;
    while (have < n) {
        size_t want = MIN(n - have, (size_t)READ_CHUNK);
        if (r->cap < off + have + want) {
            size_t cap = MAX(r->cap * 2, off + have + want);
            r->cap = MIN(cap, off + n);
            r->buf = g_realloc(r->buf, r->cap);
        }
        size_t got = stream_read(r, r->buf + off + have, want);
        have += got;
        if (got < want) return short_read(r, n, have);
    }
    return true;
}

/* Streams past n bytes of a block we do not read. */
static bool skip_body(ng_reader *r, size_t n)
{
    uint8_t scratch[4096];
    size_t done = 0;
    while (done < n) {
        size_t want = MIN(n - done, sizeof scratch);
        size_t got = stream_read(r, scratch, want);
        done += got;
        if (got < want) return short_read(r, n, done);
    }
    return true;
}

/* ---- timestamps ------------------------------------------------------------------------ */

static const uint64_t pow10_u64[] = {
    1ull, 10ull, 100ull, 1000ull, 10000ull, 100000ull, 1000000ull, 10000000ull, 100000000ull,
    1000000000ull, 10000000000ull, 100000000000ull, 1000000000000ull, 10000000000000ull,
    100000000000000ull, 1000000000000000ull, 10000000000000000ull, 100000000000000000ull,
    1000000000000000000ull, 10000000000000000000ull
};

/* Timestamp units of an interface to microseconds since the epoch. Unsigned arithmetic
 * throughout: a hostile timestamp wraps, it never overflows a signed type. */
static int64_t to_us(const ng_iface *ifc, uint32_t hi, uint32_t lo)
{
    uint64_t t = ((uint64_t)hi << 32) | lo;
    uint64_t us;
    if (ifc->resol_pow2) {
#ifdef __SIZEOF_INT128__
        us = (uint64_t)(((unsigned __int128)t * 1000000u) >> ifc->resol_exp);
#else
        us = (uint64_t)((long double)t * 1e6L / ldexpl(1.0L, ifc->resol_exp));
#endif
    } else if (ifc->resol_exp <= 6) {
        us = t * pow10_u64[6 - ifc->resol_exp];
    } else if (ifc->resol_exp - 6u < G_N_ELEMENTS(pow10_u64)) {
        us = t / pow10_u64[ifc->resol_exp - 6];
    } else {
        us = 0;
    }
    us += (uint64_t)ifc->offset_s * 1000000u;
    return (int64_t)us;
}

/* ---- filter ---------------------------------------------------------------------------- */

/* libpcap compiles for DLT_* values; file link types equal them except LINKTYPE_RAW. */
static int linktype_to_dlt(int lt)
{
    return lt == LINKTYPE_RAW_FILE ? DLT_RAW : lt;
}

/* Index of the filter program for this link type, compiled on first use; -1 on error. */
static int filter_for(ng_reader *r, int linktype)
{
    for (guint i = 0; i < r->filters->len; i++)
        if (g_array_index(r->filters, ng_filter, i).linktype == linktype) return (int)i;
    pcap_t *dead = pcap_open_dead(linktype_to_dlt(linktype), FILTER_SNAPLEN);
    if (!dead) {
        g_set_error(r->err, CAPTURE_ERROR, CAPTURE_ERROR_FILTER, "%s: cannot set filter: out of memory",
                    r->name);
        return -1;
    }
    ng_filter nf = { .linktype = linktype };
    if (pcap_compile(dead, &nf.prog, r->filter, 1, PCAP_NETMASK_UNKNOWN) < 0) {
        g_set_error(r->err, CAPTURE_ERROR, CAPTURE_ERROR_FILTER, "bad filter expression \"%s\": %s",
                    r->filter, pcap_geterr(dead));
        pcap_close(dead);
        return -1;
    }
    pcap_close(dead);
    g_array_append_val(r->filters, nf);
    return (int)r->filters->len - 1;
}

/* ---- blocks ---------------------------------------------------------------------------- */

static bool on_shb(ng_reader *r, const uint8_t *body, size_t n)
{
    /* body: byte-order magic (already checked by the caller), major, minor, section length */
    uint16_t major = get16(r, body + 4), minor = get16(r, body + 6);
    if (major != 1) return fail(r, "unsupported pcapng version %u.%u", major, minor);
    g_array_set_size(r->ifaces, 0); /* interface ids are numbered per section */
    r->sections++;
    return true;
}

static bool parse_idb_options(ng_reader *r, const uint8_t *p, size_t n, ng_iface *ifc)
{
    while (n >= 4) {
        uint16_t code = get16(r, p), olen = get16(r, p + 2);
        if (code == OPT_ENDOFOPT) break;
        size_t padded = pad4(olen);
        if (padded > n - 4)
            return fail(r, "option %u (%u bytes) runs past the end of the block", code, olen);
        const uint8_t *v = p + 4;
        if (code == OPT_IF_TSRESOL) {
            if (olen != 1) return fail(r, "if_tsresol has %u bytes, not 1", olen);
            ifc->resol_pow2 = (v[0] & 0x80) != 0;
            ifc->resol_exp = v[0] & 0x7f;
        } else if (code == OPT_IF_TSOFFSET) {
            if (olen != 8) return fail(r, "if_tsoffset has %u bytes, not 8", olen);
            ifc->offset_s = (int64_t)get64(r, v);
        }
        p += 4 + padded;
        n -= 4 + padded;
    }
    return true;
}

static bool on_idb(ng_reader *r, const uint8_t *body, size_t n)
{
    ng_iface ifc = { .linktype = get16(r, body), .snaplen = get32(r, body + 4), .resol_exp = 6,
                     .filter = -1 };
    if (!parse_idb_options(r, body + 8, n - 8, &ifc)) return false;
    ifc.supported = tcp_engine_linktype_supported(ifc.linktype);
    if (r->ifaces->len == 0 && r->sections == 1) r->first_linktype = ifc.linktype;
    if (ifc.supported) {
        r->any_supported = true;
        if (r->filter && *r->filter && (ifc.filter = filter_for(r, ifc.linktype)) < 0) return false;
    }
    g_array_append_val(r->ifaces, ifc);
    return true;
}

static const ng_iface *iface(ng_reader *r, uint32_t id)
{
    if (id >= r->ifaces->len) {
        fail(r, "packet on interface %" PRIu32 ", but the section describes %u interface(s)", id,
             r->ifaces->len);
        return NULL;
    }
    return &g_array_index(r->ifaces, ng_iface, id);
}

static void push(ng_reader *r, const ng_iface *ifc, const uint8_t *data, uint32_t caplen,
                 uint32_t len, int64_t ts)
{
    r->last_ts = ts;
    if (len < caplen) len = caplen; /* a writer's error: trust the bytes we have */
    if (ifc->filter >= 0) {
        struct pcap_pkthdr h = { .caplen = caplen, .len = len };
        h.ts.tv_sec = (time_t)(ts / 1000000);
        h.ts.tv_usec = (suseconds_t)(ts % 1000000);
        if (!pcap_offline_filter(&g_array_index(r->filters, ng_filter, ifc->filter).prog, &h, data))
            return;
    }
    r->st->packets++;
    if (!ifc->supported) {
        r->st->unsupported_linktype++;
        return;
    }
    r->last_pushed_ts = ts;
    tcp_engine_packet(r->e, ifc->linktype, data, caplen, len, ts);
}

/* Enhanced and obsolete Packet Blocks share their layout after the interface id:
 * ts high, ts low, captured length, original length, data padded to 4, options. */
static bool packet_with_header(ng_reader *r, uint32_t ifid, const uint8_t *body, size_t n)
{
    const ng_iface *ifc = iface(r, ifid);
    if (!ifc) return false;
    uint32_t caplen = get32(r, body + 12), len = get32(r, body + 16);
    if (pad4((uint64_t)caplen) > n - 20)
        return fail(r, "captured length %" PRIu32 " exceeds the block's %zu data bytes", caplen,
                    n - 20);
    push(r, ifc, body + 20, caplen, len, to_us(ifc, get32(r, body + 4), get32(r, body + 8)));
    return true;
}

static bool on_epb(ng_reader *r, const uint8_t *body, size_t n)
{
    return packet_with_header(r, get32(r, body), body, n);
}

static bool on_opb(ng_reader *r, const uint8_t *body, size_t n)
{
    return packet_with_header(r, get16(r, body), body, n);
}

/* Simple Packet Block: interface 0, no timestamp (we reuse the last one seen), and the
 * captured length is implied: min(original length, snaplen, what the block holds). */
static bool on_spb(ng_reader *r, const uint8_t *body, size_t n)
{
    const ng_iface *ifc = iface(r, 0);
    if (!ifc) return false;
    uint32_t len = get32(r, body);
    uint64_t caplen = MIN((uint64_t)len, (uint64_t)(n - 4));
    if (ifc->snaplen) caplen = MIN(caplen, ifc->snaplen);
    push(r, ifc, body + 4, (uint32_t)caplen, len, r->last_ts);
    return true;
}

/* ---- the block loop -------------------------------------------------------------------- */

/* Reads the section header's byte-order magic and decides the section's byte order. */
static bool read_byte_order(ng_reader *r, uint8_t bom[4])
{
    size_t got = stream_read(r, bom, 4);
    if (got < 4) return short_read(r, 4, got);
    uint32_t v;
    memcpy(&v, bom, 4);
    if (v == BYTE_ORDER_MAGIC) r->swap = false;
    else if (v == GUINT32_SWAP_LE_BE(BYTE_ORDER_MAGIC)) r->swap = true;
    else return fail(r, "bad byte-order magic 0x%08" PRIx32, v);
    return true;
}

/* One block; *more = false at a clean end of the stream. */
static bool read_block(ng_reader *r, bool *more)
{
    uint8_t hdr[8], bom[4];
    r->block_off = r->pos;
    size_t got = stream_read(r, hdr, sizeof hdr);
    if (got == 0 && !ferror(r->f)) {
        if (r->sections == 0) return fail(r, "empty file");
        *more = false;
        return true;
    }
    uint32_t raw_type;
    memcpy(&raw_type, hdr, 4);
    r->block_type = raw_type == BT_SHB ? BT_SHB : get32(r, hdr);
    if (got < sizeof hdr) return short_read(r, sizeof hdr, got);
    if (r->sections == 0 && r->block_type != BT_SHB)
        return fail(r, "the first block is not a section header");
    if (r->block_type == BT_SHB && !read_byte_order(r, bom)) return false;
    r->block_type = get32(r, hdr); /* now in the right byte order */
    uint32_t len = get32(r, hdr + 4);
    int kind = find_block(r->block_type);
    if (len % 4) return fail(r, "block length %" PRIu32 " is not a multiple of 4", len);
    if (len < (kind >= 0 ? block_table[kind].min_len : 12))
        return fail(r, "block length %" PRIu32 " is too short", len);
    if (len > (kind >= 0 ? PCAPNG_MAX_PARSED_BLOCK : PCAPNG_MAX_BLOCK))
        return fail(r, "block length %" PRIu32 " is over the limit of %u bytes", len,
                    kind >= 0 ? PCAPNG_MAX_PARSED_BLOCK : PCAPNG_MAX_BLOCK);
    size_t body_len = len - 8; /* body + 4-byte trailer */
    uint8_t trailer[4];
    if (kind < 0) { /* unknown, or known but of no use to us: stream past it */
        if (!skip_body(r, body_len - 4)) return false;
        got = stream_read(r, trailer, 4);
        if (got < 4) return short_read(r, 4, got);
    } else {
        size_t start = 0;
        if (r->block_type == BT_SHB) { /* the magic, already read, goes in front */
            if (r->cap < 4) r->buf = g_realloc(r->buf, r->cap = 4);
            memcpy(r->buf, bom, 4);
            start = 4;
        }
        if (!read_body(r, start, body_len - start)) return false;
        memcpy(trailer, r->buf + body_len - 4, 4);
    }
    uint32_t tlen = get32(r, trailer);
    if (tlen != len)
        return fail(r, "trailing length %" PRIu32 " differs from the block length %" PRIu32, tlen, len);
    if (kind >= 0 && !block_table[kind].handler(r, r->buf, body_len - 4)) return false;
    return true;
}

bool pcapng_read(FILE *f, const char *name, const char *filter, tcp_engine *e,
                 capture_stats *st, GError **err)
{
    ng_reader r = { .f = f, .name = name, .filter = filter, .e = e, .st = st, .err = err,
                    .first_linktype = -1 };
    r.ifaces = g_array_new(FALSE, TRUE, sizeof(ng_iface));
    r.filters = g_array_new(FALSE, TRUE, sizeof(ng_filter));
    bool ok = true, more = true;
    while (ok && more) ok = read_block(&r, &more);
    if (ok && r.first_linktype >= 0 && !r.any_supported) {
        const char *lt = pcap_datalink_val_to_name(linktype_to_dlt(r.first_linktype));
        g_set_error(err, CAPTURE_ERROR, CAPTURE_ERROR_OPEN, "%s: link type %d (%s) is not supported",
                    name, r.first_linktype, lt ? lt : "unknown");
        ok = false;
    }
    tcp_engine_finish(e, r.last_pushed_ts);
    for (guint i = 0; i < r.filters->len; i++)
        pcap_freecode(&g_array_index(r.filters, ng_filter, i).prog);
    g_array_free(r.filters, TRUE);
    g_array_free(r.ifaces, TRUE);
    g_free(r.buf);
    return ok;
}

/* ---- peeking at the magic without seeking ---------------------------------------------- */

bool pcapng_is_magic(const unsigned char first4[4])
{
    uint32_t v;
    memcpy(&v, first4, 4);
    return v == BT_SHB;
}

typedef struct peek_cookie {
    FILE *f;
    unsigned char head[4];
    size_t nhead, used;
} peek_cookie;

static ssize_t peek_read(void *c, char *buf, size_t size)
{
    peek_cookie *pc = c;
    size_t n = 0;
    if (pc->used < pc->nhead) {
        n = MIN(size, pc->nhead - pc->used);
        memcpy(buf, pc->head + pc->used, n);
        pc->used += n;
        if (n == size) return (ssize_t)n;
    }
    size_t got = fread(buf + n, 1, size - n, pc->f);
    if (got == 0 && n == 0 && ferror(pc->f)) return -1;
    return (ssize_t)(n + got);
}

static int peek_close(void *c)
{
    peek_cookie *pc = c;
    int rc = pc->f == stdin ? 0 : fclose(pc->f);
    g_free(pc);
    return rc;
}

FILE *pcapng_open_peek(const char *path, bool *is_pcapng)
{
    *is_pcapng = false;
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    if (!f) return NULL;
    peek_cookie *pc = g_new0(peek_cookie, 1);
    pc->f = f;
    pc->nhead = fread(pc->head, 1, sizeof pc->head, f);
    *is_pcapng = pc->nhead == 4 && pcapng_is_magic(pc->head);
    cookie_io_functions_t io = { .read = peek_read, .close = peek_close };
    FILE *wrapped = fopencookie(pc, "rb", io);
    if (!wrapped) {
        int saved = errno;
        peek_close(pc);
        errno = saved;
    }
    return wrapped;
}
