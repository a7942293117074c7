/* Link layer, IPv4/IPv6 and TCP header parsing for the TCP engine.
 *
 * Stateless: one call turns the bytes of one captured packet into the TCP fields the engine
 * needs. Every read is bounds-checked against the captured length; nothing is ever cast from
 * packet bytes to a struct (fields are read with memcpy + ntohs/ntohl), so any byte sequence is
 * safe to feed. Checksums are never verified: loopback and TSO captures carry invalid ones.
 *
 * RFCs: 791 (IPv4), 8200 (IPv6 and its extension headers), 9293 (TCP), 4302 (AH).
 */
#ifndef SMTPCAP_LINKPARSE_H
#define SMTPCAP_LINKPARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    LP_OK = 0,
    LP_UNSUPPORTED, /* link type not in the table */
    LP_NOT_TCP,     /* a well-formed packet that is not IP/TCP (ARP, UDP, ICMP, ...) */
    LP_FRAGMENT,    /* a non-first IP fragment: no TCP header in it */
    LP_MALFORMED    /* too short, bad version, bad header or length fields */
} lp_status;

/* TCP header flags (RFC 9293 section 3.1). */
enum {
    LP_TH_FIN = 0x01,
    LP_TH_SYN = 0x02,
    LP_TH_RST = 0x04,
    LP_TH_PSH = 0x08,
    LP_TH_ACK = 0x10
};

typedef struct lp_tcp {
    bool v6;
    uint8_t src[16]; /* IPv4 addresses use the first 4 bytes, the rest is zero */
    uint8_t dst[16];
    uint16_t sport, dport;
    uint32_t seq, ack;
    uint8_t flags;
    uint16_t window; /* as on the wire, unscaled: only ever compared with 0 */
    const uint8_t *payload; /* points into the caller's packet buffer */
    uint32_t paylen_cap;    /* payload bytes present in the capture */
    uint32_t paylen_wire;   /* payload bytes the IP length says were sent (>= paylen_cap) */
} lp_tcp;

/* Parses one packet. caplen bytes of pkt are readable; len is the original length on the wire
 * (caplen < len means the capture's snaplen cut it). On LP_OK *out is filled. */
lp_status lp_parse(int linktype, const uint8_t *pkt, uint32_t caplen, uint32_t len, lp_tcp *out);

bool lp_linktype_supported(int linktype);

#endif
