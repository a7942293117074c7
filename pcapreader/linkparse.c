/* Link layer, IPv4/IPv6 and TCP header parsing (see linkparse.h).
 *
 * Shape borrowed from tcpdump: a {linktype, handler} table, each handler only finds where the
 * network layer starts and which one it is; one IPv4 and one IPv6 parser then one TCP parser.
 * Lengths: "cap" is what the capture holds, "wire" what was on the wire. A header that is not
 * wholly captured is malformed; a payload that is not wholly captured is reported through
 * paylen_cap < paylen_wire so that the reassembler can declare the missing bytes.
 */
#include "linkparse.h"

#include <arpa/inet.h>
#include <string.h>

/* Link type values as they appear in pcap/pcapng files and from pcap_datalink(). Spelled out
 * rather than taken from <pcap/dlt.h> because DLT_RAW and DLT_LOOP change value on OpenBSD,
 * while the numbers below are what the capture files actually carry. */
enum {
    LT_NULL = 0,         /* BSD loopback: 4-byte AF in the capturing host's byte order */
    LT_EN10MB = 1,       /* Ethernet */
    LT_RAW_12 = 12,      /* DLT_RAW on most systems */
    LT_RAW_14 = 14,      /* DLT_RAW on OpenBSD */
    LT_RAW = 101,        /* LINKTYPE_RAW, as written in files */
    LT_LOOP = 108,       /* OpenBSD loopback: 4-byte AF in network byte order */
    LT_LINUX_SLL = 113,  /* Linux cooked v1 */
    LT_IPV4 = 228,
    LT_IPV6 = 229,
    LT_LINUX_SLL2 = 276  /* Linux cooked v2 */
};

enum { L3_NONE = 0, L3_IPV4 = 4, L3_IPV6 = 6 };

enum {
    ETHERTYPE_IPV4 = 0x0800,
    ETHERTYPE_IPV6 = 0x86dd,
    ETHERTYPE_VLAN = 0x8100,   /* 802.1Q */
    ETHERTYPE_QINQ = 0x88a8,   /* 802.1ad service tag */
    ETHERTYPE_QINQ_OLD = 0x9100 /* pre-standard QinQ, still seen on older switches */
};

/* Deeper stacks than this are not real traffic; stop instead of walking attacker input. */
#define MAX_VLAN_TAGS 8
#define MAX_IPV6_EXT 16

#define IPPROTO_TCP_NUM 6

static uint16_t rd16(const uint8_t *p)
{
    uint16_t v;
    memcpy(&v, p, sizeof v);
    return ntohs(v);
}

static uint32_t rd32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return ntohl(v);
}

/* Where the network layer starts: what a link handler reports. */
typedef struct l3_loc {
    size_t off;
    int proto; /* L3_* */
} l3_loc;

typedef lp_status (*link_fn)(const uint8_t *p, size_t cap, l3_loc *loc);

static int ethertype_l3(uint16_t type)
{
    if (type == ETHERTYPE_IPV4)
        return L3_IPV4;
    if (type == ETHERTYPE_IPV6)
        return L3_IPV6;
    return L3_NONE;
}

static bool is_vlan_tpid(uint16_t type)
{
    return type == ETHERTYPE_VLAN || type == ETHERTYPE_QINQ || type == ETHERTYPE_QINQ_OLD;
}

/* Skips any 802.1Q/802.1ad tags starting at off, where the ethertype just read is *type.
 * A tag is TCI(2) + inner ethertype(2). */
static lp_status skip_vlan_tags(const uint8_t *p, size_t cap, size_t *off, uint16_t *type)
{
    int tags = 0;
    while (is_vlan_tpid(*type)) {
        if (++tags > MAX_VLAN_TAGS || *off + 4 > cap)
            return LP_MALFORMED;
        *type = rd16(p + *off + 2);
        *off += 4;
    }
    return LP_OK;
}

/* A link header of fixed length with the ethertype at type_off, then optional VLAN tags.
 * type <= 1500 would be an 802.3 length (LLC/SNAP): never IP/TCP in SMTP captures. */
static lp_status link_fixed(const uint8_t *p, size_t cap, l3_loc *loc, size_t hdr_len,
                            size_t type_off)
{
    if (cap < hdr_len)
        return LP_MALFORMED;
    uint16_t type = rd16(p + type_off);
    size_t off = hdr_len;
    lp_status st = skip_vlan_tags(p, cap, &off, &type);
    if (st != LP_OK)
        return st;
    loc->off = off;
    loc->proto = ethertype_l3(type);
    return LP_OK;
}

static lp_status link_ether(const uint8_t *p, size_t cap, l3_loc *loc)
{
    return link_fixed(p, cap, loc, 14, 12);
}

/* Linux cooked v1: pkttype(2) hatype(2) halen(2) addr(8) protocol(2). */
static lp_status link_sll(const uint8_t *p, size_t cap, l3_loc *loc)
{
    return link_fixed(p, cap, loc, 16, 14);
}

/* Linux cooked v2: protocol(2) reserved(2) ifindex(4) hatype(2) pkttype(1) halen(1) addr(8). */
static lp_status link_sll2(const uint8_t *p, size_t cap, l3_loc *loc)
{
    return link_fixed(p, cap, loc, 20, 0);
}

/* BSD address family values for loopback headers. IPv6 differs per BSD (NetBSD/OpenBSD 24,
 * FreeBSD 28, Darwin 30) and a capture may come from any of them. */
static int bsd_af_l3(uint32_t af)
{
    switch (af) {
    case 2:
        return L3_IPV4;
    case 24:
    case 28:
    case 30:
        return L3_IPV6;
    default:
        return L3_NONE;
    }
}

/* DLT_NULL: the AF is in the byte order of the machine that captured, which need not be ours.
 * AF values are small, so a value with its high half set must be the other byte order. */
static lp_status link_null(const uint8_t *p, size_t cap, l3_loc *loc)
{
    if (cap < 4)
        return LP_MALFORMED;
    uint32_t af = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                  (uint32_t)p[3] << 24;
    if (af & 0xffff0000u)
        af = rd32(p);
    loc->off = 4;
    loc->proto = bsd_af_l3(af);
    return LP_OK;
}

static lp_status link_loop(const uint8_t *p, size_t cap, l3_loc *loc)
{
    if (cap < 4)
        return LP_MALFORMED;
    loc->off = 4;
    loc->proto = bsd_af_l3(rd32(p));
    return LP_OK;
}

/* Raw IP: the version nibble says which. */
static lp_status link_raw(const uint8_t *p, size_t cap, l3_loc *loc)
{
    if (cap < 1)
        return LP_MALFORMED;
    loc->off = 0;
    switch (p[0] >> 4) {
    case 4:
        loc->proto = L3_IPV4;
        return LP_OK;
    case 6:
        loc->proto = L3_IPV6;
        return LP_OK;
    default:
        return LP_MALFORMED;
    }
}

static lp_status link_ipv4(const uint8_t *p, size_t cap, l3_loc *loc)
{
    loc->off = 0;
    loc->proto = L3_IPV4;
    return LP_OK;
}

static lp_status link_ipv6(const uint8_t *p, size_t cap, l3_loc *loc)
{
    loc->off = 0;
    loc->proto = L3_IPV6;
    return LP_OK;
}

static const struct {
    int linktype;
    link_fn fn;
} link_table[] = {
    { LT_NULL, link_null },         { LT_EN10MB, link_ether },   { LT_RAW_12, link_raw },
    { LT_RAW_14, link_raw },        { LT_RAW, link_raw },        { LT_LOOP, link_loop },
    { LT_LINUX_SLL, link_sll },     { LT_IPV4, link_ipv4 },      { LT_IPV6, link_ipv6 },
    { LT_LINUX_SLL2, link_sll2 },
};

static link_fn find_link(int linktype)
{
    for (size_t i = 0; i < sizeof link_table / sizeof link_table[0]; i++)
        if (link_table[i].linktype == linktype)
            return link_table[i].fn;
    return NULL;
}

bool lp_linktype_supported(int linktype)
{
    return find_link(linktype) != NULL;
}

/* The transport layer as the IP parsers hand it to the TCP parser. */
typedef struct l4_loc {
    const uint8_t *p;
    size_t cap;  /* captured bytes of the IP payload (Ethernet padding already trimmed) */
    size_t wire; /* IP payload length according to the IP header */
} l4_loc;

/* cap: bytes captured from the start of the IP header; wire: bytes that were on the wire from
 * there (>= cap). */
static lp_status parse_ipv4(const uint8_t *p, size_t cap, size_t wire, lp_tcp *out, l4_loc *l4)
{
    if (cap < 20 || (p[0] >> 4) != 4)
        return LP_MALFORMED;
    size_t ihl = (size_t)(p[0] & 0x0f) * 4;
    if (ihl < 20 || ihl > cap)
        return LP_MALFORMED;
    size_t total = rd16(p + 2);
    /* Total length 0 is what TSO/GSO leaves in locally captured outbound super-packets. */
    if (total == 0)
        total = wire;
    if (total < ihl || total > wire)
        return LP_MALFORMED;
    /* Non-first fragments carry no TCP header; the first one is parsed as a short segment
     * and its missing rest becomes a hole like any lost packet. */
    if ((rd16(p + 6) & 0x1fff) != 0)
        return LP_FRAGMENT;
    if (p[9] != IPPROTO_TCP_NUM)
        return LP_NOT_TCP;
    out->v6 = false;
    memset(out->src, 0, sizeof out->src);
    memset(out->dst, 0, sizeof out->dst);
    memcpy(out->src, p + 12, 4);
    memcpy(out->dst, p + 16, 4);
    l4->p = p + ihl;
    l4->cap = (cap < total ? cap : total) - ihl; /* total trims Ethernet padding */
    l4->wire = total - ihl;
    return LP_OK;
}

static lp_status parse_ipv6(const uint8_t *p, size_t cap, size_t wire, lp_tcp *out, l4_loc *l4)
{
    if (cap < 40 || (p[0] >> 4) != 6)
        return LP_MALFORMED;
    size_t total = 40 + (size_t)rd16(p + 4);
    /* Payload length 0: a jumbogram or a TSO super-packet; trust what was captured. */
    if (total == 40)
        total = wire;
    if (total > wire)
        return LP_MALFORMED;
    size_t have = cap < total ? cap : total;
    uint8_t nh = p[6];
    size_t off = 40;
    for (int i = 0; nh != IPPROTO_TCP_NUM; i++) {
        if (i >= MAX_IPV6_EXT)
            return LP_MALFORMED;
        size_t hl;
        bool nonfirst = false;
        switch (nh) {
        case 0:  /* hop-by-hop options */
        case 43: /* routing */
        case 60: /* destination options */
            if (off + 2 > have)
                return LP_MALFORMED;
            hl = ((size_t)p[off + 1] + 1) * 8;
            break;
        case 44: /* fragment */
            if (off + 8 > have)
                return LP_MALFORMED;
            hl = 8;
            nonfirst = (rd16(p + off + 2) & 0xfff8) != 0;
            break;
        case 51: /* AH: length in 4-byte units minus 2 */
            if (off + 2 > have)
                return LP_MALFORMED;
            hl = ((size_t)p[off + 1] + 2) * 4;
            break;
        default: /* 59 no next header, ESP, UDP, ICMPv6, ... */
            return LP_NOT_TCP;
        }
        nh = p[off];
        off += hl;
        if (off > have)
            return LP_MALFORMED;
        if (nonfirst)
            return LP_FRAGMENT;
    }
    out->v6 = true;
    memcpy(out->src, p + 8, 16);
    memcpy(out->dst, p + 24, 16);
    l4->p = p + off;
    l4->cap = have - off;
    l4->wire = total - off;
    return LP_OK;
}

static lp_status parse_tcp(const l4_loc *l4, lp_tcp *out)
{
    const uint8_t *p = l4->p;
    if (l4->cap < 20)
        return LP_MALFORMED;
    size_t doff = (size_t)(p[12] >> 4) * 4;
    if (doff < 20 || doff > l4->cap)
        return LP_MALFORMED;
    out->sport = rd16(p);
    out->dport = rd16(p + 2);
    out->seq = rd32(p + 4);
    out->ack = rd32(p + 8);
    out->flags = p[13];
    out->window = rd16(p + 14);
    out->payload = p + doff;
    out->paylen_cap = (uint32_t)(l4->cap - doff);
    out->paylen_wire = (uint32_t)(l4->wire - doff);
    return LP_OK;
}

lp_status lp_parse(int linktype, const uint8_t *pkt, uint32_t caplen, uint32_t len, lp_tcp *out)
{
    link_fn fn = find_link(linktype);
    if (!fn)
        return LP_UNSUPPORTED;
    if (!pkt)
        return LP_MALFORMED;
    l3_loc loc = { 0, L3_NONE };
    lp_status st = fn(pkt, caplen, &loc);
    if (st != LP_OK)
        return st;
    if (loc.proto == L3_NONE)
        return LP_NOT_TCP;
    if (loc.off > caplen)
        return LP_MALFORMED;
    size_t cap = caplen - loc.off;
    /* A len below caplen is a broken record; the captured bytes are all we can trust. */
    size_t wire = len > caplen ? len - loc.off : cap;
    l4_loc l4;
    st = loc.proto == L3_IPV4 ? parse_ipv4(pkt + loc.off, cap, wire, out, &l4)
                              : parse_ipv6(pkt + loc.off, cap, wire, out, &l4);
    if (st != LP_OK)
        return st;
    return parse_tcp(&l4, out);
}
