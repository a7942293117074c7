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
 * Per packet on the in-order path: one hash lookup, two list moves, delivery straight from the
 * packet buffer. No allocation, no copy.
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
    dlist live, closed, order;
    size_t nlive, nclosed;
    uint64_t next_id;
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
static guint key_hash(gconstpointer k)
{
    const uint8_t *p = k;
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < sizeof(flow_key); i++) {
        h ^= p[i];
        h *= 16777619u;
    }
    return h;
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

/* ---- flow lifetime ---------------------------------------------------------------------- */

/* Delivers what is left of both directions, holes as gaps, then tells the consumer. The flow
 * stays in the table (closed) only if linger is set: after FIN or RST. After a timeout or an
 * eviction, packets that still come deserve a new (midstream) flow rather than silence. */
static void end_flow(tcp_engine *e, flow *f, smtpcap_end_reason why, int64_t ts, bool linger);

static void drop_flow(tcp_engine *e, flow *f)
{
    g_hash_table_remove(e->table, &f->key);
    if (f->closed) {
        dl_remove(&e->closed, &f->lru);
        e->nclosed--;
    } else {
        dl_remove(&e->live, &f->lru);
        dl_remove(&e->order, &f->order);
        e->nlive--;
    }
    reasm_clear(&f->dir[0], &e->sh);
    reasm_clear(&f->dir[1], &e->sh);
    free(f);
}

static void end_flow(tcp_engine *e, flow *f, smtpcap_end_reason why, int64_t ts, bool linger)
{
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

static void process(tcp_engine *e, flow *f, int dir, const lp_tcp *t, int64_t ts)
{
    reasm_dir *d = &f->dir[dir], *o = &f->dir[!dir];
    sink_ctx cd, co;
    reasm_sink skd = make_sink(&cd, e, f, dir, ts), sko = make_sink(&co, e, f, !dir, ts);
    uint32_t seq = t->seq;

    /* Any payload of a RST (some stacks put diagnostic text there) is not stream data. */
    if (t->flags & LP_TH_RST) {
        end_flow(e, f, SMTPCAP_END_RESET, ts, true);
        return;
    }
    if (t->flags & LP_TH_SYN) {
        reasm_start(d, seq + 1);
        if (t->flags & LP_TH_ACK)
            reasm_start(o, t->ack); /* the client's stream starts where the server acks */
        seq += 1;                    /* data on a SYN (TFO) starts after the ISN */
    }
    f->win_zero[dir] = t->window == 0;
    /* The peer acknowledging first, then this side's data: a server reply's ACK proves the
     * client's command was complete before the reply, which is the order to deliver them in. */
    if (t->flags & LP_TH_ACK) {
        f->ack[dir] = t->ack;
        f->ack_known[dir] = true;
        reasm_ack(o, &e->sh, &sko, t->ack);
    }
    if (t->paylen_wire > 0 || (t->flags & LP_TH_FIN)) {
        if (!d->started)
            start_midstream(e, f, dir, seq);
    }
    if (t->paylen_wire > 0) {
        /* Zero-window probe: one byte pushed at a receiver that said it has no room; it is
         * sent again once the window opens, and may be discarded by the receiver. */
        bool zwp = t->paylen_wire == 1 && seq == d->next_seq && f->win_zero[!dir];
        if (!zwp)
            reasm_segment(d, &e->sh, &skd, seq, t->payload, t->paylen_cap, t->paylen_wire);
    }
    if (t->flags & LP_TH_FIN)
        reasm_fin(d, &e->sh, &skd, seq + t->paylen_wire);
    if (d->fin && o->fin)
        end_flow(e, f, SMTPCAP_END_CLOSED, ts, true);
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
    expire(e);

    lp_tcp t;
    switch (lp_parse(linktype, pkt, caplen, len, &t)) {
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
    if (!port_watched(e, t.sport) && !port_watched(e, t.dport)) {
        e->st.skipped++;
        return true;
    }
    e->st.tcp_packets++;
    handle_tcp(e, &t, ts_us);
    return true;
}

void tcp_engine_finish(tcp_engine *e, int64_t ts_us)
{
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
    expire(e);
}
