/* Per-direction TCP stream reassembly for the TCP engine.
 *
 * One reasm_dir is one direction of one connection. Segments go in in capture order; bytes come
 * out through a sink, in sequence order, the moment they become contiguous, and every byte that
 * will never be seen comes out as an explicit gap of its exact size. Nothing is ever glued over.
 *
 * Policy (Suricata-like):
 * - sequence numbers compare wrap-safe, so a stream may start anywhere, 2^32 - 1 included;
 * - first copy wins: bytes already delivered or queued are never replaced by a later copy; a
 *   later copy that differs from queued bytes is counted as a conflict;
 * - in-order segments are delivered straight from the caller's buffer (no copy, no malloc);
 *   out-of-order ones are copied into a sorted queue bounded per direction (max_ooo_bytes) and
 *   overall (max_mem, checked before every allocation, queue node overhead included);
 * - when a limit is hit, the first hole is declared (gap) and the stream skips forward to the
 *   earliest byte held, which is delivered; so nothing held is ever thrown away.
 */
#ifndef SMTPCAP_REASM_H
#define SMTPCAP_REASM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tcpengine.h" /* tcp_engine_stats: the counters reassembly feeds */

/* Wrap-safe sequence comparisons (RFC 9293 section 3.4). */
#define SEQ_LT(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) < 0)
#define SEQ_LEQ(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) <= 0)
#define SEQ_GT(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) > 0)
#define SEQ_GEQ(a, b) ((int32_t)((uint32_t)(a) - (uint32_t)(b)) >= 0)

/* How far ahead of the stream a segment, ACK or FIN may reach. Further is not this stream
 * (or not a sane one): it is ignored. Keeping everything within 1 GiB of next_seq keeps every
 * comparison between queued sequence numbers far from the 2^31 ambiguity of SEQ_LT. */
#define REASM_WINDOW ((uint32_t)1 << 30)

typedef struct reasm_seg reasm_seg;

/* Shared by every direction of one engine: the limits and the memory in use. */
typedef struct reasm_shared {
    size_t max_ooo_bytes; /* per direction, payload bytes */
    size_t max_mem;       /* all queues together, node overhead included */
    size_t mem_used;
    tcp_engine_stats *st;
} reasm_shared;

/* Where the bytes go. data() may only read p during the call. */
typedef struct reasm_sink {
    void (*data)(void *arg, const uint8_t *p, size_t n);
    void (*gap)(void *arg, uint64_t n);
    void *arg;
} reasm_sink;

typedef struct reasm_dir {
    reasm_seg *head, *tail; /* out-of-order queue: sorted, disjoint, all beyond next_seq */
    size_t queued;          /* payload bytes in the queue */
    uint32_t next_seq;      /* first byte not yet delivered (or declared missing) */
    uint32_t start_seq;     /* where the stream started */
    uint32_t fin_seq;       /* sequence number of the FIN, valid if fin */
    bool started;
    bool fin;
} reasm_dir;

/* True if seq is not more than REASM_WINDOW ahead of the stream (behind is always fine). */
bool reasm_in_window(const reasm_dir *d, uint32_t seq);

/* The stream's first byte has sequence number seq (ISN + 1 after a SYN). No-op if started. */
void reasm_start(reasm_dir *d, uint32_t seq);

/* A segment: caplen bytes at p were captured of the wirelen payload bytes sent at seq. Bytes
 * past caplen are known missing and are declared as a gap where they fall in the stream. */
void reasm_segment(reasm_dir *d, reasm_shared *sh, const reasm_sink *sk, uint32_t seq,
                   const uint8_t *p, uint32_t caplen, uint32_t wirelen);

/* Everything before ack is known to have been sent: every hole before it is declared now and
 * what is queued up to it delivered. The engine calls this only once it has given up waiting
 * for the bytes (see the hold-back in tcpengine.c), never at the ACK itself. */
void reasm_ack(reasm_dir *d, reasm_shared *sh, const reasm_sink *sk, uint32_t ack);

/* A FIN at fin_seq: the stream ends there; every remaining hole is declared now. Returns false
 * (and changes nothing) if fin_seq is out of the window. */
bool reasm_fin(reasm_dir *d, reasm_shared *sh, const reasm_sink *sk, uint32_t fin_seq);

/* Declares every remaining hole and delivers everything queued (close, timeout, end of input). */
void reasm_flush(reasm_dir *d, reasm_shared *sh, const reasm_sink *sk);

/* Frees the queue without delivering it. */
void reasm_clear(reasm_dir *d, reasm_shared *sh);

#endif
