/* TCP engine: turns captured packets into per-connection, per-direction ordered byte
 * streams with explicit gaps. Knows link layers, IPv4/IPv6 and TCP; knows nothing of SMTP.
 *
 * The caller pushes packets (link type + bytes) in capture order; the engine calls back:
 *   open  - a new connection (client/server decided: SYN sender, else the endpoint on a
 *           watched port, else the lower port is the server)
 *   data  - in-order bytes of one direction, at the moment they became contiguous
 *   gap   - N bytes of one direction are known to be missing at this point
 *   close - the connection ended (FIN both ways, RST, idle, eviction, end of input)
 * Bytes of the two directions are delivered in the order they happened, which is the order of
 * the packets completing them in the capture unless the capture itself is reordered across
 * directions (mirror ports, merged files): a segment whose ACK covers peer bytes not delivered yet
 * was sent after those bytes, so it is held back until they come (or are declared missing after
 * a short, bounded wait). So a consumer sees commands and replies interleaved as they happened.
 */
#ifndef SMTPCAP_TCPENGINE_H
#define SMTPCAP_TCPENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <smtpcap/decoder.h> /* smtpcap_end_reason only */

typedef struct tcp_flow_info {
    char client_ip[46]; /* text form, IPv6 without brackets */
    char server_ip[46];
    uint16_t client_port;
    uint16_t server_port;
    bool ipv6;
    bool midstream;  /* no SYN seen: the capture began after the connection opened */
    int64_t start_us; /* timestamp of the first packet of the flow */
    uint64_t id;      /* 1, 2, 3... in order of creation, unique within the engine */
} tcp_flow_info;

typedef struct tcp_engine_ops {
    /* Returns the consumer's per-flow pointer, passed back to every later call. */
    void *(*open)(void *ctx, const tcp_flow_info *fi);
    void (*data)(void *ctx, void *flow, int dir /* 0 client->server, 1 server->client */,
                 const uint8_t *p, size_t n, int64_t ts_us);
    void (*gap)(void *ctx, void *flow, int dir, uint64_t bytes, int64_t ts_us);
    /* The last call for this flow: the consumer frees its state here. */
    void (*close)(void *ctx, void *flow, smtpcap_end_reason why, int64_t ts_us);
} tcp_engine_ops;

typedef struct tcp_engine_config {
    const uint16_t *ports; /* watched server ports; a packet with neither port listed is skipped */
    size_t nports;         /* 0 = watch every TCP port */
    size_t max_flows;      /* concurrent flows; the oldest is evicted (close EVICTED). 0 = 65536 */
    size_t max_ooo_bytes;  /* out-of-order bytes queued per direction; 0 = 1 MiB */
    size_t max_mem;        /* all queued bytes together; 0 = 256 MiB */
    int64_t idle_timeout_us; /* by capture time; 0 = 300 s; <0 = never */
} tcp_engine_config;

typedef struct tcp_engine_stats {
    uint64_t packets, bytes;          /* all packets pushed */
    uint64_t tcp_packets;             /* TCP on a watched port */
    uint64_t skipped;                 /* not IP/TCP, or not on a watched port */
    uint64_t malformed;               /* too short / bad header lengths */
    uint64_t flows, evicted, timeouts;
    uint64_t retransmissions;         /* segments whose bytes were all delivered already */
    uint64_t overlaps, overlap_conflicts; /* partial overlaps; ones whose bytes differed */
    uint64_t ooo_segments;            /* segments queued out of order */
    uint64_t gaps, gap_bytes;         /* declared holes */
    uint64_t snaplen_cut;             /* packets with caplen < len */
    uint64_t fragments;               /* non-first IP fragments (also in skipped) */
    uint64_t port_reuse;              /* SYN of a new connection on a live flow's 5-tuple: the
                                         old flow was closed (reason TIMEOUT, its end unseen) */
    uint64_t out_of_window;           /* segments, ACKs or FINs more than 1 GiB ahead of the
                                         stream: ignored, as a TCP receiver would */
    uint64_t held_segments;           /* segments held back (copied) because their ACK covered
                                         peer bytes not delivered yet (reordered capture) */
    uint64_t waits_expired;           /* waits for acknowledged bytes given up (bounded wait,
                                         hold cap, end of flow): the hole became a gap */
} tcp_engine_stats;

typedef struct tcp_engine tcp_engine;

tcp_engine *tcp_engine_new(const tcp_engine_config *cfg, const tcp_engine_ops *ops, void *ctx);

/* One captured packet. linktype is a DLT_* / LINKTYPE_* value as libpcap reports it.
 * Returns false if the link type is not supported (the packet is counted and skipped). */
bool tcp_engine_packet(tcp_engine *e, int linktype, const uint8_t *pkt, uint32_t caplen,
                       uint32_t len, int64_t ts_us);

/* True if the engine can decode this link type. */
bool tcp_engine_linktype_supported(int linktype);

/* End of input: every open flow is flushed (pending holes become gaps) and closed with
 * SMTPCAP_END_CAPTURE, in order of flow creation. */
void tcp_engine_finish(tcp_engine *e, int64_t ts_us);

/* Live capture: the current time (µs since epoch) even when no packet came, so that idle
 * flows time out by the clock. Never moves time backwards. */
void tcp_engine_tick(tcp_engine *e, int64_t now_us);

const tcp_engine_stats *tcp_engine_get_stats(const tcp_engine *e);

void tcp_engine_free(tcp_engine *e);

#endif
