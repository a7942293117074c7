/* Per-direction TCP stream reassembly (see reasm.h for the policy).
 *
 * The queue is a sorted singly linked list of disjoint segments, each one allocation holding
 * its bytes. Segments usually arrive in order, or after a single hole in order again, so the
 * two common cases are O(1): delivery straight from the packet, and appending after the tail.
 * Only a segment landing among queued ones walks the list.
 *
 * A segment that arrives is split against the queue into pieces no earlier copy covers
 * ("first copy wins": Windows and Linux receivers keep the first copy too, and it makes the
 * outcome independent of how an attacker orders overlaps). The pieces are queued only if the
 * whole segment fits the limits; otherwise the first hole is declared and the loop tries again,
 * so memory is checked before every allocation and nothing already held is thrown away.
 */
#include "reasm.h"

#include <stdlib.h>
#include <string.h>

struct reasm_seg {
    reasm_seg *next;
    uint32_t seq;
    uint32_t len;
    /* A marker for bytes that were sent but cut by the snaplen: delivered as a gap. Kept in
     * the queue so that the gap comes out exactly where the bytes belong in the stream. */
    bool hole;
    uint8_t data[];
};

#define SEG_OVERHEAD sizeof(reasm_seg)

static uint32_t seg_end(const reasm_seg *s)
{
    return s->seq + s->len;
}

static size_t seg_mem(const reasm_seg *s)
{
    return SEG_OVERHEAD + (s->hole ? 0 : s->len);
}

static void emit_gap(reasm_shared *sh, const reasm_sink *sk, uint64_t n)
{
    if (n == 0)
        return;
    sh->st->gaps++;
    sh->st->gap_bytes += n;
    if (sk->gap)
        sk->gap(sk->arg, n);
}

static void emit_data(const reasm_sink *sk, const uint8_t *p, size_t n)
{
    if (n > 0 && sk->data)
        sk->data(sk->arg, p, n);
}

/* Delivers a piece that starts at next_seq: bytes if we have them, a gap if they were cut. */
static void deliver(reasm_dir *d, reasm_shared *sh, const reasm_sink *sk, const uint8_t *p,
                    uint32_t n)
{
    if (p)
        emit_data(sk, p, n);
    else
        emit_gap(sh, sk, n);
    d->next_seq += n;
}

static void seg_free(reasm_dir *d, reasm_shared *sh, reasm_seg *s)
{
    if (!s->hole)
        d->queued -= s->len;
    sh->mem_used -= seg_mem(s);
    free(s);
}

/* Delivers queued segments for as long as they are contiguous with next_seq. */
static void drain(reasm_dir *d, reasm_shared *sh, const reasm_sink *sk)
{
    while (d->head && d->head->seq == d->next_seq) {
        reasm_seg *s = d->head;
        d->head = s->next;
        if (!d->head)
            d->tail = NULL;
        deliver(d, sh, sk, s->hole ? NULL : s->data, s->len);
        seg_free(d, sh, s);
    }
}

/* Declares every hole before target and delivers whatever is queued in between. */
static void skip_to(reasm_dir *d, reasm_shared *sh, const reasm_sink *sk, uint32_t target)
{
    while (SEQ_LT(d->next_seq, target)) {
        uint32_t upto = target;
        if (d->head && SEQ_LT(d->head->seq, upto))
            upto = d->head->seq;
        emit_gap(sh, sk, upto - d->next_seq);
        d->next_seq = upto;
        drain(d, sh, sk);
    }
}

/* What happened to one captured segment, for the counters. */
typedef struct seg_note {
    bool fresh;    /* some byte was new: delivered or queued */
    bool old;      /* some byte had been seen (delivered, declared missing or queued) */
    bool conflict; /* some byte differed from the queued copy */
    bool queued;
} seg_note;

/* What storing a segment would take: the first piece, if it starts at next_seq, is delivered
 * from the caller's buffer and costs nothing. */
typedef struct seg_plan {
    uint32_t direct;
    size_t bytes; /* payload bytes to queue */
    size_t mem;   /* memory to allocate */
    bool any;     /* some byte is not covered by the queue */
} seg_plan;

static void plan_piece(const reasm_dir *d, seg_plan *pl, uint32_t at, uint32_t len, bool data)
{
    pl->any = true;
    if (at == d->next_seq) {
        pl->direct = len;
        return;
    }
    pl->bytes += data ? len : 0;
    pl->mem += SEG_OVERHEAD + (data ? len : 0);
}

/* The queue segment to start looking from: past the tail needs no walk at all. */
static const reasm_seg *first_candidate(const reasm_dir *d, uint32_t seq)
{
    if (d->tail && SEQ_GEQ(seq, seg_end(d->tail)))
        return NULL;
    return d->head;
}

static seg_plan make_plan(const reasm_dir *d, uint32_t seq, const uint8_t *p, uint32_t n,
                          seg_note *note)
{
    seg_plan pl = { 0, 0, 0, false };
    uint32_t end = seq + n, cur = seq;
    for (const reasm_seg *q = first_candidate(d, seq); q && SEQ_LT(q->seq, end); q = q->next) {
        if (SEQ_LEQ(seg_end(q), cur))
            continue;
        if (SEQ_GT(q->seq, cur)) {
            plan_piece(d, &pl, cur, q->seq - cur, p != NULL);
            cur = q->seq;
        }
        uint32_t to = SEQ_LT(seg_end(q), end) ? seg_end(q) : end;
        note->old = true;
        if (p && !q->hole && memcmp(q->data + (cur - q->seq), p + (cur - seq), to - cur) != 0)
            note->conflict = true;
        cur = to;
    }
    if (cur != end)
        plan_piece(d, &pl, cur, end - cur, p != NULL);
    return pl;
}

static reasm_seg *seg_new(reasm_shared *sh, uint32_t seq, uint32_t len, const uint8_t *p)
{
    reasm_seg *s = malloc(SEG_OVERHEAD + (p ? len : 0));
    if (!s)
        return NULL;
    s->next = NULL;
    s->seq = seq;
    s->len = len;
    s->hole = p == NULL;
    if (p)
        memcpy(s->data, p, len);
    sh->mem_used += seg_mem(s);
    return s;
}

/* Queues copies of the parts of [seq, seq+n) that no queued segment covers. The caller has
 * checked the limits. Returns false if malloc failed: what was not queued stays a hole and
 * is declared like any other. */
static bool insert_pieces(reasm_dir *d, reasm_shared *sh, uint32_t seq, const uint8_t *p,
                          uint32_t n)
{
    uint32_t end = seq + n, cur = seq;
    reasm_seg **link = &d->head;
    if (d->tail && SEQ_GEQ(seq, seg_end(d->tail)))
        link = &d->tail->next;
    while (cur != end) {
        reasm_seg *q = *link;
        if (q && SEQ_LEQ(seg_end(q), cur)) {
            link = &q->next;
            continue;
        }
        if (q && SEQ_LEQ(q->seq, cur)) { /* cur lies inside q: q's copy wins */
            cur = SEQ_LT(seg_end(q), end) ? seg_end(q) : end;
            link = &q->next;
            continue;
        }
        uint32_t to = q && SEQ_LT(q->seq, end) ? q->seq : end;
        reasm_seg *s = seg_new(sh, cur, to - cur, p ? p + (cur - seq) : NULL);
        if (!s)
            return false;
        if (!s->hole)
            d->queued += s->len;
        s->next = q;
        *link = s;
        if (!q)
            d->tail = s;
        link = &s->next;
        cur = to;
    }
    return true;
}

static bool plan_fits(const reasm_dir *d, const reasm_shared *sh, const seg_plan *pl)
{
    return d->queued + pl->bytes <= sh->max_ooo_bytes && sh->mem_used + pl->mem <= sh->max_mem;
}

/* One run of sequence space [seq, seq+n): bytes at p, or cut bytes if p is NULL. */
static void seg_in(reasm_dir *d, reasm_shared *sh, const reasm_sink *sk, uint32_t seq,
                   const uint8_t *p, uint32_t n, seg_note *note)
{
    while (n > 0) {
        /* Bytes before next_seq were delivered or declared missing already. */
        if (SEQ_LEQ(seq + n, d->next_seq)) {
            note->old = true;
            return;
        }
        if (SEQ_LT(seq, d->next_seq)) {
            uint32_t k = d->next_seq - seq;
            seq += k;
            n -= k;
            p = p ? p + k : NULL;
            note->old = true;
        }
        /* The fast path: exactly in order and not reaching into the queue. */
        if (seq == d->next_seq && (!d->head || SEQ_GEQ(d->head->seq, seq + n))) {
            deliver(d, sh, sk, p, n);
            note->fresh = true;
            drain(d, sh, sk);
            return;
        }
        seg_plan pl = make_plan(d, seq, p, n, note);
        if (!pl.any)
            return;
        if (plan_fits(d, sh, &pl)) {
            if (pl.direct) {
                deliver(d, sh, sk, p, pl.direct);
                seq += pl.direct;
                n -= pl.direct;
                p = p ? p + pl.direct : NULL;
            }
            if (pl.mem)
                note->queued = true;
            note->fresh = true;
            insert_pieces(d, sh, seq, p, n);
            drain(d, sh, sk);
            return;
        }
        /* Out of room: declare the first hole, skipping to the earliest byte held, which is
         * either the queue's head or this segment; then try again. Each step delivers
         * something, so this ends. */
        if (pl.direct) {
            deliver(d, sh, sk, p, pl.direct);
            note->fresh = true;
            seq += pl.direct;
            n -= pl.direct;
            p = p ? p + pl.direct : NULL;
        } else if (d->head && SEQ_LEQ(d->head->seq, seq)) {
            emit_gap(sh, sk, d->head->seq - d->next_seq);
            d->next_seq = d->head->seq;
        } else {
            emit_gap(sh, sk, seq - d->next_seq);
            d->next_seq = seq;
        }
        drain(d, sh, sk);
    }
}

static bool beyond_window(const reasm_dir *d, uint32_t seq)
{
    return SEQ_GT(seq, d->next_seq) && seq - d->next_seq > REASM_WINDOW;
}

/* Within REASM_WINDOW of next_seq, ahead or behind. */
static bool near_stream(const reasm_dir *d, uint32_t seq)
{
    return seq - d->next_seq <= REASM_WINDOW || d->next_seq - seq <= REASM_WINDOW;
}

bool reasm_in_window(const reasm_dir *d, uint32_t seq)
{
    return !beyond_window(d, seq);
}

void reasm_start(reasm_dir *d, uint32_t seq)
{
    if (d->started)
        return;
    d->started = true;
    d->next_seq = seq;
    d->start_seq = seq;
}

void reasm_segment(reasm_dir *d, reasm_shared *sh, const reasm_sink *sk, uint32_t seq,
                   const uint8_t *p, uint32_t caplen, uint32_t wirelen)
{
    if (wirelen < caplen)
        wirelen = caplen;
    if (wirelen == 0)
        return;
    reasm_start(d, seq);
    if (!near_stream(d, seq) || !near_stream(d, seq + wirelen)) {
        sh->st->out_of_window++;
        return;
    }
    /* Keep-alive: at most one byte just below what the receiver expects, sent only to provoke
     * an ACK. Its byte (if any) is garbage, not stream data. */
    if (wirelen <= 1 && seq == d->next_seq - 1)
        return;
    seg_note note = { false, false, false, false };
    seg_in(d, sh, sk, seq, p, caplen, &note);
    if (wirelen > caplen)
        seg_in(d, sh, sk, seq + caplen, NULL, wirelen - caplen, &note);
    if (note.old && !note.fresh)
        sh->st->retransmissions++;
    else if (note.old)
        sh->st->overlaps++;
    if (note.conflict)
        sh->st->overlap_conflicts++;
    if (note.queued)
        sh->st->ooo_segments++;
}

void reasm_ack(reasm_dir *d, reasm_shared *sh, const reasm_sink *sk, uint32_t ack)
{
    if (!d->started)
        return;
    /* The FIN takes one sequence number that is not stream data. */
    if (d->fin && SEQ_GT(ack, d->fin_seq))
        ack = d->fin_seq;
    if (beyond_window(d, ack))
        sh->st->out_of_window++;
    else if (SEQ_GT(ack, d->next_seq))
        skip_to(d, sh, sk, ack);
}

void reasm_flush(reasm_dir *d, reasm_shared *sh, const reasm_sink *sk)
{
    if (d->tail)
        skip_to(d, sh, sk, seg_end(d->tail));
}

bool reasm_fin(reasm_dir *d, reasm_shared *sh, const reasm_sink *sk, uint32_t fin_seq)
{
    reasm_start(d, fin_seq);
    if (d->fin)
        return true;
    if (beyond_window(d, fin_seq)) {
        sh->st->out_of_window++;
        return false;
    }
    d->fin = true;
    d->fin_seq = fin_seq;
    skip_to(d, sh, sk, fin_seq);
    /* Bytes queued beyond the FIN are bogus, but dropping them silently would be worse. */
    reasm_flush(d, sh, sk);
    return true;
}

void reasm_clear(reasm_dir *d, reasm_shared *sh)
{
    while (d->head) {
        reasm_seg *s = d->head;
        d->head = s->next;
        seg_free(d, sh, s);
    }
    d->tail = NULL;
}
