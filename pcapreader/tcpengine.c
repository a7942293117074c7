/* TCP engine: flow table, connection roles and lifetimes on top of linkparse (headers) and
 * reasm (per-direction byte streams). See tcpengine.h for the contract.
 *
 * Data structures, all bounded by cfg->max_flows and cfg->max_mem:
 * - a hash table (GHashTable) from the canonical 5-tuple to the flow: both directions of a
 *   connection map to the same key because the lower endpoint always comes first;
 * - an LRU list of live flows, least recently active first: idle timeout and eviction only
 *   ever look at its head, so both cost O(1) per packet when nothing expires;
 * - a list of closed flows kept for a short linger (like TIME_WAIT) so that the ACK of the
 *   last FIN, or a retransmitted FIN, does not bring the connection back as a new flow;
 * - a list of live flows in creation order, so that end of input closes them deterministically.
 *
 * - a list of flows that wait for acknowledged bytes (see "hold-back" below), so that a wait
 *   ends by capture time even when the flow itself falls silent.
 *
 * Per packet on the in-order path: one hash lookup, two list moves, delivery straight from the
 * packet buffer. No allocation, no copy.
 *
 * Hold-back (captures reordered across directions). An ACK is causal evidence: a segment that
 * acknowledges peer bytes was sent after they arrived. When a segment of direction D carries an
 * ACK beyond the point up to which the opposite direction O has been delivered (or declared
 * missing), its bytes happened after O's missing ones, so it is held (copied, bounded by the
 * per-direction and global reassembly caps) and every later segment of D queues behind it.
 * When O's bytes come, O is delivered first, then D's held segments, in D's capture order.
 * Bytes the peer acknowledged but that never come are declared a gap lazily: only once the
 * wait ends (HOLD_WAIT_PKTS packets of the flow or HOLD_WAIT_US of capture time without O
 * making progress, a hold that would exceed its cap, or the flow's end) - then O's gap, O's
 * queued bytes, then D's held ones. A FIN beyond a hole waits the same way, so that a data
 * segment recorded after its own FIN is not lost.
 */
#include "tcpengine.h"

#include <arpa/inet.h>
#include <glib.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "linkparse.h"
#include "reasm.h"

#define DEFAULT_MAX_FLOWS 65536
#define DEFAULT_MAX_OOO (1u << 20)
#define DEFAULT_MAX_MEM ((size_t)256 << 20)
#define DEFAULT_IDLE_US ((int64_t)300 * 1000000)
/* How long the engine waits for bytes the peer acknowledged before declaring them missing: the
 * wait ends after this many further packets of the flow, or this much capture time, without the
 * owing direction making progress. A swap of neighbours needs one packet; mirror ports and
 * merged captures skew directions by a few. A segment really lost from the capture costs only
 * this delay (held bytes are delivered right after the gap), never data. */
#define HOLD_WAIT_PKTS 8
#define HOLD_WAIT_US ((int64_t)1000000)
/* How long a closed connection's key is remembered: Linux's TIME_WAIT, or the idle timeout
 * if that is shorter. Trailing ACKs and retransmitted FINs come within milliseconds. */
#define CLOSED_LINGER_US ((int64_t)60 * 1000000)

typedef struct dnode {
    struct dnode *prev, *next;
} dnode;

typedef struct dlist {
    dnode *head, *tail;
} dlist;

/* Canonical 5-tuple: endpoint 0 is the lower (address, port). Zero-filled, so it can be hashed
 * and compared as bytes. */
typedef struct flow_key {
    uint8_t addr[2][16];
    uint16_t port[2];
    uint8_t v6;
    uint8_t pad[3];
} flow_key;

/* A segment held back: its bytes happened after peer bytes not delivered yet. */
typedef struct held {
    struct held *next;
    int64_t ts;
    uint64_t order; /* the flow's packet count at arrival: which of two holds is older */
    uint32_t seq, ack, caplen, wirelen;
    bool has_ack, fin;
    bool peer_win_zero; /* for the zero-window probe test, as it stood at arrival */
    uint8_t data[];
} held;

/* Bytes of one direction that must come before what is held or pending: acknowledged by the
 * peer, or preceding this direction's FIN. The clock restarts whenever the direction makes
 * progress. A second, later target is kept apart so that giving up on an old hole (a segment
 * lost from the capture) does not also give up on bytes acknowledged just now (a swap). */
typedef struct debt {
    bool on, has_later;
    uint32_t upto, later;
    uint32_t seen; /* next_seq when the clock (re)started */
    uint64_t pkt;  /* the flow's packet count then */
    int64_t us;    /* capture time then */
} debt;

typedef struct flow {
    flow_key key;
    dnode lru;   /* live: the LRU list; closed: the linger list */
    dnode order; /* live only: creation order */
    uint64_t id;
    void *user;
    int64_t last_us;
    reasm_dir dir[2];  /* 0 client->server, 1 server->client */
    uint32_t ack[2];   /* last ACK sent by the sender of dir i (acknowledging dir 1-i) */
    bool ack_known[2];
    bool win_zero[2];  /* the sender of dir i last advertised a zero window */
    uint8_t client_ep; /* which key endpoint is the client */
    bool closed;
    /* hold-back (see the top of this file) */
    held *hold_head[2], *hold_tail[2]; /* per direction, in capture order */
    size_t hold_bytes[2];
    debt debt[2];
    bool fin_pend[2]; /* a FIN seen beyond a hole: realised once the stream reaches it */
    uint32_t fin_pend_seq[2];
    uint64_t npkts;
    dnode wait; /* on the engine's waiting list while waiting */
    bool waiting;
} flow;

#define FLOW_OF(node, member) ((flow *)((char *)(node) - offsetof(flow, member)))

struct tcp_engine {
    tcp_engine_ops ops;
    void *ctx;
    uint8_t port_map[65536 / 8]; /* watched ports as a bitmap: O(1) filter */
    bool all_ports;
    size_t max_flows;
    int64_t idle_us; /* <= 0: never */
    int64_t linger_us;
    tcp_engine_stats st;
    reasm_shared sh;
    GHashTable *table;
    dlist live, closed, order, waitl;
    size_t nlive, nclosed;
    uint64_t next_id;
    /* A RST takes effect one packet late: the packet right after it in the capture may be one
     * that was sent before it (neighbours swapped), which it must not cut off. */
    struct {
        flow *f; /* NULL: none pending */
        int dir;
        uint32_t seq, ack;
        bool has_ack;
        int64_t ts;
    } rst;
    int64_t now; /* the latest capture time seen: time never runs backwards for timeouts */
    bool have_now;
    uint32_t seed;
};

/* ---- lists ------------------------------------------------------------------------------ */

static void dl_append(dlist *l, dnode *n)
{
    n->next = NULL;
    n->prev = l->tail;
    if (l->tail)
        l->tail->next = n;
    else
        l->head = n;
    l->tail = n;
}

static void dl_remove(dlist *l, dnode *n)
{
    if (n->prev)
        n->prev->next = n->next;
    else
        l->head = n->next;
    if (n->next)
        n->next->prev = n->prev;
    else
        l->tail = n->prev;
    n->prev = n->next = NULL;
}

/* ---- hash table ------------------------------------------------------------------------- */

/* FNV-1a over the key, whose padding carries a per-engine seed (see make_key): captures are
 * untrusted input, and a fixed hash would let a crafted one put every flow in one bucket. */
/* Runs once per packet: the key is mixed 8 bytes at a time (multiply/xor-shift), not byte by
 * byte. The per-engine seed sits in the key's padding, so it is mixed in like the rest. */
G_STATIC_ASSERT(sizeof(flow_key) % 8 == 0);
static guint key_hash(gconstpointer k)
{
    const uint8_t *p = k;
    uint64_t h = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < sizeof(flow_key); i += 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        h = (h ^ w) * 0xBF58476D1CE4E5B9ull;
        h ^= h >> 31;
    }
    return (guint)(h ^ (h >> 32));
}

static gboolean key_equal(gconstpointer a, gconstpointer b)
{
    return memcmp(a, b, sizeof(flow_key)) == 0;
}

/* Builds the canonical key; *src_ep tells which endpoint of it sent the packet. The seed is
 * mixed in through the padding bytes so that key_hash stays a plain function of the key. */
static void make_key(const tcp_engine *e, const lp_tcp *t, flow_key *k, int *src_ep)
{
    memset(k, 0, sizeof *k);
    int c = memcmp(t->src, t->dst, sizeof t->src);
    *src_ep = (c < 0 || (c == 0 && t->sport <= t->dport)) ? 0 : 1;
    memcpy(k->addr[*src_ep], t->src, 16);
    memcpy(k->addr[!*src_ep], t->dst, 16);
    k->port[*src_ep] = t->sport;
    k->port[!*src_ep] = t->dport;
    k->v6 = t->v6;
    k->pad[0] = (uint8_t)e->seed;
    k->pad[1] = (uint8_t)(e->seed >> 8);
}

/* ---- delivery to the consumer ----------------------------------------------------------- */

typedef struct sink_ctx {
    tcp_engine *e;
    flow *f;
    int dir;
    int64_t ts;
} sink_ctx;

static void sink_data(void *arg, const uint8_t *p, size_t n)
{
    sink_ctx *c = arg;
    if (c->e->ops.data)
        c->e->ops.data(c->e->ctx, c->f->user, c->dir, p, n, c->ts);
}

static void sink_gap(void *arg, uint64_t n)
{
    sink_ctx *c = arg;
    if (c->e->ops.gap)
        c->e->ops.gap(c->e->ctx, c->f->user, c->dir, n, c->ts);
}

static reasm_sink make_sink(sink_ctx *c, tcp_engine *e, flow *f, int dir, int64_t ts)
{
    c->e = e;
    c->f = f;
    c->dir = dir;
    c->ts = ts;
    return (reasm_sink){ sink_data, sink_gap, c };
}

/* ---- hold-back (see the top of this file) ----------------------------------------------- */

/* Where an ACK from x's peer puts direction x: the FIN takes one sequence number that is not
 * stream data, so an ACK of the FIN (seen, or pending behind a hole) means the stream's end. */
static uint32_t ack_target(const flow *f, int x, uint32_t ack)
{
    const reasm_dir *d = &f->dir[x];
    if (d->fin && SEQ_GT(ack, d->fin_seq))
        return d->fin_seq;
    if (f->fin_pend[x] && SEQ_GT(ack, f->fin_pend_seq[x]))
        return f->fin_pend_seq[x];
    return ack;
}

/* True if an ACK from x's peer covers bytes of x that were not delivered yet. */
static bool acks_ahead(const flow *f, int x, uint32_t ack)
{
    const reasm_dir *d = &f->dir[x];
    uint32_t a = ack_target(f, x, ack);
    return d->started && reasm_in_window(d, a) && SEQ_GT(a, d->next_seq);
}

static bool held_blocked(const flow *f, int x, const held *h)
{
    return h->has_ack && acks_ahead(f, !x, h->ack);
}

static bool flow_waits(const flow *f)
{
    return f->debt[0].on || f->debt[1].on || f->hold_head[0] || f->hold_head[1] ||
           f->fin_pend[0] || f->fin_pend[1];
}

static void wait_update(tcp_engine *e, flow *f)
{
    bool w = !f->closed && flow_waits(f);
    if (w && !f->waiting)
        dl_append(&e->waitl, &f->wait);
    else if (!w && f->waiting)
        dl_remove(&e->waitl, &f->wait);
    f->waiting = w;
}

static void debt_clock(const tcp_engine *e, flow *f, int x)
{
    debt *b = &f->debt[x];
    b->seen = f->dir[x].next_seq;
    b->pkt = f->npkts;
    b->us = e->now;
}

/* Bytes of x up to target must come before anything that depends on them. */
static void debt_add(tcp_engine *e, flow *f, int x, uint32_t target)
{
    debt *b = &f->debt[x];
    if (!SEQ_GT(target, f->dir[x].next_seq))
        return;
    if (!b->on) {
        b->on = true;
        b->has_later = false;
        b->upto = target;
        debt_clock(e, f, x);
    } else if (SEQ_GT(target, b->upto) && (!b->has_later || SEQ_GT(target, b->later))) {
        b->has_later = true;
        b->later = target;
    }
}

/* x moved: the clock restarts, and a target reached is paid (the later one takes over). */
static void debt_progress(tcp_engine *e, flow *f, int x)
{
    debt *b = &f->debt[x];
    const reasm_dir *d = &f->dir[x];
    uint32_t next = d->next_seq;
    if (b->on && d->fin && SEQ_GEQ(next, d->fin_seq)) { /* the stream ended: nothing owed */
        b->on = b->has_later = false;
        return;
    }
    if (!b->on || next == b->seen)
        return;
    debt_clock(e, f, x);
    if (SEQ_LT(next, b->upto))
        return;
    if (b->has_later && SEQ_LT(next, b->later))
        b->upto = b->later;
    else
        b->on = false;
    b->has_later = false;
}

static bool debt_expired(const tcp_engine *e, const flow *f, int x)
{
    const debt *b = &f->debt[x];
    return b->on && (f->npkts - b->pkt >= HOLD_WAIT_PKTS || e->now - b->us > HOLD_WAIT_US);
}

/* A FIN beyond a hole waits (the bytes before it may only be recorded after it); one at or
 * behind the stream's end takes effect now. */
static void fin_in(tcp_engine *e, flow *f, int x, uint32_t fin_seq, const reasm_sink *sk)
{
    reasm_dir *d = &f->dir[x];
    if (d->fin || f->fin_pend[x])
        return;
    if (d->started && SEQ_GT(fin_seq, d->next_seq) && reasm_in_window(d, fin_seq)) {
        f->fin_pend[x] = true;
        f->fin_pend_seq[x] = fin_seq;
        debt_add(e, f, x, fin_seq);
        return;
    }
    reasm_fin(d, &e->sh, sk, fin_seq);
}

static void fin_realise(tcp_engine *e, flow *f, int x, int64_t ts)
{
    sink_ctx c;
    reasm_sink sk = make_sink(&c, e, f, x, ts);
    f->fin_pend[x] = false;
    reasm_fin(&f->dir[x], &e->sh, &sk, f->fin_pend_seq[x]);
}

/* Hands one segment of direction x to reassembly. */
static void feed(tcp_engine *e, flow *f, int x, uint32_t seq, const uint8_t *p, uint32_t caplen,
                 uint32_t wirelen, bool fin, bool peer_win_zero, int64_t ts)
{
    reasm_dir *d = &f->dir[x];
    sink_ctx c;
    reasm_sink sk = make_sink(&c, e, f, x, ts);
    if (wirelen > 0) {
        /* Zero-window probe: one byte pushed at a receiver that said it has no room; it is
         * sent again once the window opens, and may be discarded by the receiver. */
        bool zwp = wirelen == 1 && seq == d->next_seq && peer_win_zero;
        if (!zwp)
            reasm_segment(d, &e->sh, &sk, seq, p, caplen, wirelen);
    }
    if (fin)
        fin_in(e, f, x, seq + wirelen, &sk);
}

/* The hold shares the direction's out-of-order budget with its reassembly queue, and the
 * global one: memory stays bounded by the same two caps as before. */
static bool hold_fits(const tcp_engine *e, const flow *f, int x, uint32_t caplen)
{
    return f->hold_bytes[x] + f->dir[x].queued + caplen <= e->sh.max_ooo_bytes &&
           e->sh.mem_used + sizeof(held) + caplen <= e->sh.max_mem;
}

static bool hold_in(tcp_engine *e, flow *f, int x, const lp_tcp *t, uint32_t seq, int64_t ts)
{
    held *h = malloc(sizeof *h + t->paylen_cap);
    if (!h)
        return false;
    h->next = NULL;
    h->ts = ts;
    h->order = f->npkts;
    h->seq = seq;
    h->ack = t->ack;
    h->caplen = t->paylen_cap;
    h->wirelen = t->paylen_wire;
    h->has_ack = t->flags & LP_TH_ACK;
    h->fin = t->flags & LP_TH_FIN;
    h->peer_win_zero = f->win_zero[!x];
    if (t->paylen_cap)
        memcpy(h->data, t->payload, t->paylen_cap);
    if (f->hold_tail[x])
        f->hold_tail[x]->next = h;
    else
        f->hold_head[x] = h;
    f->hold_tail[x] = h;
    f->hold_bytes[x] += h->caplen;
    e->sh.mem_used += sizeof *h + h->caplen;
    e->st.held_segments++;
    return true;
}

static void held_free(tcp_engine *e, flow *f, int x, held *h)
{
    f->hold_bytes[x] -= h->caplen;
    e->sh.mem_used -= sizeof *h + h->caplen;
    free(h);
}

/* Feeds the oldest held segment of x to reassembly, blocked or not. */
static void release(tcp_engine *e, flow *f, int x)
{
    held *h = f->hold_head[x];
    f->hold_head[x] = h->next;
    if (!h->next)
        f->hold_tail[x] = NULL;
    feed(e, f, x, h->seq, h->data, h->caplen, h->wirelen, h->fin, h->peer_win_zero, h->ts);
    held_free(e, f, x, h);
}

static void hold_clear(tcp_engine *e, flow *f)
{
    for (int x = 0; x < 2; x++) {
        while (f->hold_head[x]) {
            held *h = f->hold_head[x];
            f->hold_head[x] = h->next;
            held_free(e, f, x, h);
        }
        f->hold_tail[x] = NULL;
    }
}

/* Which direction's head segment came first (-1: none qualifies). */
static int older_head(const flow *f, bool unblocked_only)
{
    int best = -1;
    for (int x = 0; x < 2; x++) {
        const held *h = f->hold_head[x];
        if (!h || (unblocked_only && held_blocked(f, x, h)))
            continue;
        if (best < 0 || h->order < f->hold_head[best]->order)
            best = x;
    }
    return best;
}

/* After anything moved: release held segments no longer blocked (the older first), realise
 * FINs the stream has reached, pay debts. Each step can unblock another, hence the loop; each
 * iteration consumes a held segment or a pending FIN, so it ends. */
static void settle(tcp_engine *e, flow *f, int64_t ts)
{
    for (;;) {
        bool moved = false;
        int x;
        while ((x = older_head(f, true)) >= 0) {
            release(e, f, x);
            moved = true;
        }
        for (x = 0; x < 2; x++) {
            if (f->fin_pend[x] && SEQ_GEQ(f->dir[x].next_seq, f->fin_pend_seq[x])) {
                fin_realise(e, f, x, ts);
                moved = true;
            }
            debt_progress(e, f, x);
        }
        if (!moved)
            return;
    }
}

/* Stops waiting for x's bytes up to its debt: the holes before them are declared, queued bytes
 * delivered. Bytes of x that are themselves held back are not missing: the skip stops short of
 * them. Returns false if x could not move that way. */
static bool give_up(tcp_engine *e, flow *f, int x, int64_t ts)
{
    reasm_dir *d = &f->dir[x];
    uint32_t before = d->next_seq, lim = f->debt[x].upto;
    if (!f->debt[x].on)
        return false;
    for (const held *h = f->hold_head[x]; h; h = h->next) {
        if (h->wirelen == 0 || !SEQ_GT(h->seq + h->wirelen, before))
            continue;
        uint32_t s = SEQ_GT(h->seq, before) ? h->seq : before;
        if (SEQ_LT(s, lim))
            lim = s;
    }
    if (!SEQ_GT(lim, before))
        return false;
    sink_ctx c;
    reasm_sink sk = make_sink(&c, e, f, x, ts);
    reasm_ack(d, &e->sh, &sk, lim);
    if (d->next_seq == before)
        return false;
    e->st.waits_expired++;
    return true;
}

/* One step out of a wait that is over: the owing direction's holes become gaps; if its missing
 * bytes are held back themselves (waiting for the peer), the peer's wait is given up instead;
 * if both are held back for each other (only a crafted capture does that), the older held
 * segment goes first. Returns false if there was nothing to do. */
static bool unwait(tcp_engine *e, flow *f, int x, int64_t ts)
{
    if (give_up(e, f, x, ts) || give_up(e, f, !x, ts))
        return true;
    int h = older_head(f, false);
    if (h >= 0) {
        e->st.waits_expired++;
        release(e, f, h);
        return true;
    }
    if (f->fin_pend[x]) {
        fin_realise(e, f, x, ts);
        return true;
    }
    if (f->debt[x].on) { /* nothing left to wait for */
        f->debt[x].on = false;
        return true;
    }
    return false;
}

/* Ends the waits that are over - every wait if all is set (end of the flow). */
static void end_waits(tcp_engine *e, flow *f, bool all, int64_t ts)
{
    for (;;) {
        settle(e, f, ts);
        int x = -1;
        for (int i = 0; i < 2; i++) {
            bool over = all ? f->debt[i].on : debt_expired(e, f, i);
            if (over && (x < 0 || f->debt[i].pkt < f->debt[x].pkt))
                x = i;
        }
        if (x >= 0) {
            if (unwait(e, f, x, ts))
                continue;
            f->debt[x].on = false;
            continue;
        }
        if (!all)
            return;
        int h = older_head(f, false);
        if (h >= 0) {
            e->st.waits_expired++;
            release(e, f, h);
        } else if (f->fin_pend[0] || f->fin_pend[1]) {
            fin_realise(e, f, f->fin_pend[0] ? 0 : 1, ts);
        } else {
            return;
        }
    }
}

/* A segment of dir must be held but the hold is full: stop waiting for the peer (its gap is
 * declared, its queued bytes and then dir's held ones delivered) until the segment fits or
 * nothing is held or owed any more. */
static void hold_make_room(tcp_engine *e, flow *f, int dir, uint32_t caplen, int64_t ts)
{
    while (!hold_fits(e, f, dir, caplen) && (f->hold_head[dir] || f->debt[!dir].on)) {
        if (!unwait(e, f, !dir, ts) && !unwait(e, f, dir, ts))
            break;
        settle(e, f, ts);
    }
}

/* ---- flow lifetime ---------------------------------------------------------------------- */

/* Delivers what is left of both directions, holes as gaps, then tells the consumer. The flow
 * stays in the table (closed) only if linger is set: after FIN or RST. After a timeout or an
 * eviction, packets that still come deserve a new (midstream) flow rather than silence. */
static void end_flow(tcp_engine *e, flow *f, smtpcap_end_reason why, int64_t ts, bool linger);

static void drop_flow(tcp_engine *e, flow *f)
{
    if (e->rst.f == f)
        e->rst.f = NULL;
    g_hash_table_remove(e->table, &f->key);
    if (f->closed) {
        dl_remove(&e->closed, &f->lru);
        e->nclosed--;
    } else {
        dl_remove(&e->live, &f->lru);
        dl_remove(&e->order, &f->order);
        e->nlive--;
    }
    if (f->waiting)
        dl_remove(&e->waitl, &f->wait);
    hold_clear(e, f);
    reasm_clear(&f->dir[0], &e->sh);
    reasm_clear(&f->dir[1], &e->sh);
    free(f);
}

static void end_flow(tcp_engine *e, flow *f, smtpcap_end_reason why, int64_t ts, bool linger)
{
    /* Nothing more will come: what was waited for is missing, what was held goes out. */
    if (e->rst.f == f)
        e->rst.f = NULL;
    end_waits(e, f, true, ts);
    /* Both FINs were seen, one of them behind a hole still waited for: the connection did
     * close, whatever ended the wait. */
    if (why != SMTPCAP_END_RESET && f->dir[0].fin && f->dir[1].fin)
        why = SMTPCAP_END_CLOSED;
    for (int dir = 0; dir < 2; dir++) {
        sink_ctx c;
        reasm_sink sk = make_sink(&c, e, f, dir, ts);
        reasm_flush(&f->dir[dir], &e->sh, &sk);
    }
    if (e->ops.close)
        e->ops.close(e->ctx, f->user, why, ts);
    f->user = NULL;
    if (!linger) {
        drop_flow(e, f);
        return;
    }
    reasm_clear(&f->dir[0], &e->sh);
    reasm_clear(&f->dir[1], &e->sh);
    hold_clear(e, f);
    if (f->waiting)
        dl_remove(&e->waitl, &f->wait);
    f->waiting = false;
    dl_remove(&e->live, &f->lru);
    dl_remove(&e->order, &f->order);
    e->nlive--;
    f->closed = true;
    f->last_us = e->now;
    dl_append(&e->closed, &f->lru);
    e->nclosed++;
}

/* Lazy expiry: both lists are ordered by last activity, so only their heads are looked at. */
static void expire(tcp_engine *e)
{
    while (e->idle_us > 0 && e->live.head) {
        flow *f = FLOW_OF(e->live.head, lru);
        if (e->now - f->last_us <= e->idle_us)
            break;
        e->st.timeouts++;
        end_flow(e, f, SMTPCAP_END_TIMEOUT, f->last_us, false);
    }
    while (e->closed.head) {
        flow *f = FLOW_OF(e->closed.head, lru);
        if (e->now - f->last_us <= e->linger_us)
            break;
        drop_flow(e, f);
    }
}

/* Waits end by capture time even for a flow that fell silent. Per packet one waiting flow is
 * looked at (round robin: O(1)); a live capture's tick looks at all of them. */
static void wait_check(tcp_engine *e, bool all)
{
    dnode *n = e->waitl.head;
    while (n) {
        flow *f = FLOW_OF(n, wait);
        dnode *next = n->next;
        end_waits(e, f, false, e->now);
        if (f->dir[0].fin && f->dir[1].fin)
            end_flow(e, f, SMTPCAP_END_CLOSED, e->now, true);
        else
            wait_update(e, f);
        if (!all) {
            if (f->waiting && e->waitl.head == &f->wait && f->wait.next) {
                dl_remove(&e->waitl, &f->wait);
                dl_append(&e->waitl, &f->wait);
            }
            return;
        }
        n = next;
    }
}

/* Makes room for one more flow: a lingering closed key goes first (nobody is told), then the
 * least recently active live flow (the consumer is told: EVICTED). */
static void make_room(tcp_engine *e)
{
    while (e->nlive + e->nclosed >= e->max_flows) {
        if (e->closed.head) {
            drop_flow(e, FLOW_OF(e->closed.head, lru));
        } else if (e->live.head) {
            e->st.evicted++;
            end_flow(e, FLOW_OF(e->live.head, lru), SMTPCAP_END_EVICTED, e->now, false);
        } else {
            break;
        }
    }
}

static bool port_watched(const tcp_engine *e, uint16_t port)
{
    return e->all_ports || (e->port_map[port >> 3] & (1u << (port & 7)));
}

/* Which endpoint of the key is the client: the SYN sender; the receiver of a SYN+ACK; the
 * endpoint not on a watched port; else the one with the higher port (servers listen low). */
static int decide_client(const tcp_engine *e, const lp_tcp *t, int src_ep)
{
    bool syn = t->flags & LP_TH_SYN, ack = t->flags & LP_TH_ACK;
    if (syn)
        return ack ? !src_ep : src_ep;
    bool swatch = port_watched(e, t->sport), dwatch = port_watched(e, t->dport);
    if (dwatch != swatch)
        return dwatch ? src_ep : !src_ep;
    return t->sport >= t->dport ? src_ep : !src_ep;
}

static void fill_info(const flow *f, int64_t ts, tcp_flow_info *fi, bool midstream)
{
    int c = f->client_ep, s = !f->client_ep, af = f->key.v6 ? AF_INET6 : AF_INET;
    memset(fi, 0, sizeof *fi);
    inet_ntop(af, f->key.addr[c], fi->client_ip, sizeof fi->client_ip);
    inet_ntop(af, f->key.addr[s], fi->server_ip, sizeof fi->server_ip);
    fi->client_port = f->key.port[c];
    fi->server_port = f->key.port[s];
    fi->ipv6 = f->key.v6;
    fi->midstream = midstream;
    fi->start_us = ts;
    fi->id = f->id;
}

static flow *new_flow(tcp_engine *e, const flow_key *k, const lp_tcp *t, int src_ep,
                      int64_t ts)
{
    make_room(e);
    flow *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->key = *k;
    f->id = ++e->next_id;
    f->client_ep = (uint8_t)decide_client(e, t, src_ep);
    f->last_us = e->now;
    g_hash_table_insert(e->table, &f->key, f);
    dl_append(&e->live, &f->lru);
    dl_append(&e->order, &f->order);
    e->nlive++;
    e->st.flows++;
    tcp_flow_info fi;
    fill_info(f, ts, &fi, !(t->flags & LP_TH_SYN));
    f->user = e->ops.open ? e->ops.open(e->ctx, &fi) : NULL;
    return f;
}

static void touch(tcp_engine *e, flow *f)
{
    f->last_us = e->now;
    dl_remove(&e->live, &f->lru);
    dl_append(&e->live, &f->lru);
}

/* ---- per packet ------------------------------------------------------------------------- */

/* A SYN without ACK on a live flow is a retransmission of that flow's own SYN only if it
 * comes from the client and its ISN is where the client's stream started; otherwise the
 * 5-tuple was reused by a new connection whose predecessor's end we did not see. */
static bool same_connection_syn(const flow *f, int src_ep, uint32_t seq)
{
    const reasm_dir *c = &f->dir[0];
    return src_ep == f->client_ep && c->started && c->start_seq == seq + 1;
}

/* Where a direction starts when its SYN was not seen. If the peer already acknowledged up to
 * A and this segment starts at or after A, the stream starts at A: bytes between A and the
 * segment were sent but not captured (yet), and must become a hole, not be glued over. The
 * "A - 1" case is a keep-alive, which then gets recognised as one. */
static void start_midstream(tcp_engine *e, flow *f, int dir, uint32_t seq)
{
    uint32_t start = seq;
    if (f->ack_known[!dir]) {
        uint32_t a = f->ack[!dir];
        if (SEQ_GEQ(seq + 1, a) && (uint32_t)(seq - a) <= REASM_WINDOW)
            start = a;
    }
    reasm_start(&f->dir[dir], start);
}

/* After each packet: release what it unblocked, end the waits that are over, close when both
 * FINs have taken effect. */
static void after_packet(tcp_engine *e, flow *f, int64_t ts)
{
    if (f->waiting || flow_waits(f))
        end_waits(e, f, false, ts);
    if (f->dir[0].fin && f->dir[1].fin) {
        end_flow(e, f, SMTPCAP_END_CLOSED, ts, true);
        return;
    }
    wait_update(e, f);
}

/* True if this segment's bytes must wait: the segments before it in this direction wait, or its
 * ACK covers peer bytes not delivered yet (it was sent after them). */
static bool must_hold(const flow *f, int dir, const lp_tcp *t)
{
    return f->hold_head[dir] || ((t->flags & LP_TH_ACK) && acks_ahead(f, !dir, t->ack));
}

static void process(tcp_engine *e, flow *f, int dir, const lp_tcp *t, int64_t ts)
{
    reasm_dir *d = &f->dir[dir], *o = &f->dir[!dir];
    uint32_t seq = t->seq;

    /* Any payload of a RST (some stacks put diagnostic text there) is not stream data. The
     * flow ends after the next packet (see rst_settle), or at once if one is pending already. */
    if (t->flags & LP_TH_RST) {
        if (e->rst.f == f) {
            end_flow(e, f, SMTPCAP_END_RESET, e->rst.ts, true);
            return;
        }
        e->rst.f = f;
        e->rst.dir = dir;
        e->rst.seq = t->seq;
        e->rst.ack = t->ack;
        e->rst.has_ack = t->flags & LP_TH_ACK;
        e->rst.ts = ts;
        return;
    }
    if (t->flags & LP_TH_SYN) {
        reasm_start(d, seq + 1);
        if (t->flags & LP_TH_ACK)
            reasm_start(o, t->ack); /* the client's stream starts where the server acks */
        seq += 1;                    /* data on a SYN (TFO) starts after the ISN */
    }
    f->win_zero[dir] = t->window == 0;
    /* An ACK past the peer's delivered bytes: they were sent, and must come out first. They
     * may only be recorded later (reordered capture), so they are waited for, not yet declared
     * missing. */
    if (t->flags & LP_TH_ACK) {
        f->ack[dir] = t->ack;
        f->ack_known[dir] = true;
        if (o->started) {
            uint32_t a = ack_target(f, !dir, t->ack);
            if (!reasm_in_window(o, a))
                e->st.out_of_window++;
            else
                debt_add(e, f, !dir, a);
        }
    }
    bool fin = t->flags & LP_TH_FIN;
    if (t->paylen_wire > 0 || fin) {
        if (!d->started)
            start_midstream(e, f, dir, seq);
        bool hold = must_hold(f, dir, t);
        if (hold && !hold_fits(e, f, dir, t->paylen_cap)) {
            hold_make_room(e, f, dir, t->paylen_cap, ts);
            hold = must_hold(f, dir, t) && hold_fits(e, f, dir, t->paylen_cap);
        }
        if (!hold || !hold_in(e, f, dir, t, seq, ts))
            feed(e, f, dir, seq, t->payload, t->paylen_cap, t->paylen_wire, fin,
                 f->win_zero[!dir], ts);
    }
    after_packet(e, f, ts);
}

/* Could this packet have been sent before the pending RST? From the RST's sender: if it ends at
 * or before the RST's sequence number. From the peer: if the RST acknowledges it, or (a RST
 * without ACK answers a segment, RFC 9293 3.10.7.1) if it acknowledges nothing beyond it. */
static bool rst_precedes(const tcp_engine *e, const lp_tcp *t)
{
    flow_key k;
    int src_ep;
    make_key(e, t, &k, &src_ep);
    const flow *f = e->rst.f;
    if (memcmp(&k, &f->key, sizeof k) != 0 || (t->flags & LP_TH_SYN))
        return false;
    int dir = src_ep == f->client_ep ? 0 : 1;
    if (dir == e->rst.dir)
        return SEQ_LEQ(t->seq + t->paylen_wire, e->rst.seq);
    if (e->rst.has_ack)
        return SEQ_LEQ(t->seq + t->paylen_wire, e->rst.ack);
    return !(t->flags & LP_TH_ACK) || SEQ_LEQ(t->ack, e->rst.seq);
}

/* A RST is pending and a packet came (t NULL: not one of a watched TCP flow, or the end): the
 * reset takes effect now unless the packet may precede it; then it does right after. Returns
 * true if the reset must be applied after this packet. */
static bool rst_settle(tcp_engine *e, const lp_tcp *t)
{
    if (!e->rst.f)
        return false;
    if (t && rst_precedes(e, t))
        return true;
    end_flow(e, e->rst.f, SMTPCAP_END_RESET, e->rst.ts, true);
    return false;
}

static void handle_tcp(tcp_engine *e, const lp_tcp *t, int64_t ts)
{
    flow_key k;
    int src_ep;
    make_key(e, t, &k, &src_ep);
    bool syn = t->flags & LP_TH_SYN, ack = t->flags & LP_TH_ACK, rst = t->flags & LP_TH_RST;
    bool pure_syn = syn && !ack && !rst;
    flow *f = g_hash_table_lookup(e->table, &k);

    if (f && f->closed) {
        if (!pure_syn)
            return; /* the tail of a finished connection */
        drop_flow(e, f);
        f = NULL;
    } else if (f && pure_syn && !same_connection_syn(f, src_ep, t->seq)) {
        e->st.port_reuse++;
        end_flow(e, f, SMTPCAP_END_TIMEOUT, f->last_us, false);
        f = NULL;
    }
    if (!f) {
        /* Only a SYN or data start a flow: stray ACKs, RSTs and FINs of connections we know
         * nothing about carry nothing to decode. */
        if (rst || !(syn || t->paylen_wire > 0))
            return;
        f = new_flow(e, &k, t, src_ep, ts);
        if (!f)
            return;
    }
    touch(e, f);
    f->npkts++;
    process(e, f, src_ep == f->client_ep ? 0 : 1, t, ts);
}

/* ---- API -------------------------------------------------------------------------------- */

tcp_engine *tcp_engine_new(const tcp_engine_config *cfg, const tcp_engine_ops *ops, void *ctx)
{
    tcp_engine *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    tcp_engine_config c = { 0 };
    if (cfg)
        c = *cfg;
    if (ops)
        e->ops = *ops;
    e->ctx = ctx;
    e->all_ports = c.nports == 0 || !c.ports;
    for (size_t i = 0; !e->all_ports && i < c.nports; i++)
        e->port_map[c.ports[i] >> 3] |= (uint8_t)(1u << (c.ports[i] & 7));
    e->max_flows = c.max_flows ? c.max_flows : DEFAULT_MAX_FLOWS;
    e->idle_us = c.idle_timeout_us == 0 ? DEFAULT_IDLE_US : c.idle_timeout_us;
    e->linger_us = e->idle_us > 0 && e->idle_us < CLOSED_LINGER_US ? e->idle_us
                                                                     : CLOSED_LINGER_US;
    e->sh.max_ooo_bytes = c.max_ooo_bytes ? c.max_ooo_bytes : DEFAULT_MAX_OOO;
    e->sh.max_mem = c.max_mem ? c.max_mem : DEFAULT_MAX_MEM;
    e->sh.st = &e->st;
    e->seed = g_random_int();
    e->table = g_hash_table_new(key_hash, key_equal);
    return e;
}

bool tcp_engine_linktype_supported(int linktype)
{
    return lp_linktype_supported(linktype);
}

bool tcp_engine_packet(tcp_engine *e, int linktype, const uint8_t *pkt, uint32_t caplen,
                       uint32_t len, int64_t ts_us)
{
    e->st.packets++;
    e->st.bytes += len > caplen ? len : caplen;
    if (caplen < len)
        e->st.snaplen_cut++;
    if (!e->have_now || ts_us > e->now)
        e->now = ts_us;
    e->have_now = true;

    lp_tcp t;
    lp_status ps = lp_parse(linktype, pkt, caplen, len, &t);
    bool watched = ps == LP_OK && (port_watched(e, t.sport) || port_watched(e, t.dport));
    bool rst_after = rst_settle(e, watched ? &t : NULL);
    expire(e);
    wait_check(e, false);
    switch (ps) {
    case LP_OK:
        break;
    case LP_UNSUPPORTED:
        e->st.skipped++;
        return false;
    case LP_FRAGMENT:
        e->st.fragments++;
        e->st.skipped++;
        return true;
    case LP_NOT_TCP:
        e->st.skipped++;
        return true;
    case LP_MALFORMED:
    default:
        e->st.malformed++;
        return true;
    }
    if (!watched) {
        e->st.skipped++;
        return true;
    }
    e->st.tcp_packets++;
    handle_tcp(e, &t, ts_us);
    if (rst_after)
        rst_settle(e, NULL);
    return true;
}

void tcp_engine_finish(tcp_engine *e, int64_t ts_us)
{
    rst_settle(e, NULL);
    while (e->order.head)
        end_flow(e, FLOW_OF(e->order.head, order), SMTPCAP_END_CAPTURE, ts_us, false);
}

const tcp_engine_stats *tcp_engine_get_stats(const tcp_engine *e)
{
    return &e->st;
}

/* Frees without calling back: call tcp_engine_finish first so the consumer's per-flow state
 * is handed back through close. */
void tcp_engine_free(tcp_engine *e)
{
    if (!e)
        return;
    while (e->live.head)
        drop_flow(e, FLOW_OF(e->live.head, lru));
    while (e->closed.head)
        drop_flow(e, FLOW_OF(e->closed.head, lru));
    g_hash_table_destroy(e->table);
    free(e);
}

void tcp_engine_tick(tcp_engine *e, int64_t now_us)
{
    /* Live capture: time passes without packets, so idle flows end by the clock. */
    if (!e->have_now || now_us > e->now) {
        e->now = now_us;
        e->have_now = true;
    }
    rst_settle(e, NULL);
    expire(e);
    wait_check(e, true);
}
