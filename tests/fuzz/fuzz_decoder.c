/* libFuzzer target: one smtpcap decoder session driven by the fuzzer.
 *
 * Input format (see README.md; tests/fuzz/make-seeds.py writes it):
 *   byte 0   configuration: bit 0 show_secrets, bit 1 midstream, bits 2-3 max_line
 *            (default, 64, 8, 1), bit 4 max_pipeline 2, bit 5 max_messages 2,
 *            bit 6 max_rcpts 2, bit 7 a warning is added from outside mid-session
 *   byte 1   bits 0-2 end reason (mod 5), bit 3 feed again after finish (must be refused),
 *            bit 4 timestamps go backwards now and then
 *   records  header h: bit 7 direction (0 client, 1 server);
 *              bit 6 = 0: data, low 6 bits = length (0 = the rest of the input), then the bytes;
 *              bit 6 = 1: gap, the next 2 bytes (big endian) shifted left by the low 6 bits
 *                         (at most 47) are the missing bytes: no data follows.
 * A short input is still a valid one: what is missing is taken as zeros / the end.
 *
 * Every event and the whole summary are walked, every string measured (ASan sees a bad
 * pointer) and checked against the header's promises: valid UTF-8, no control characters
 * but TAB, non-NULL where documented. A broken promise is a crash (abort), so the fuzzer
 * reports it with its input. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>

#include <glib.h>
#include <smtpcap/decoder.h>

/* Declared in decoder.h but (at the time of writing) defined nowhere: weak, so the target
 * links either way and calls it once it exists. */
extern const char *smtpcap_enhanced_meaning(const char *enhanced) __attribute__((weak));

#define CHECK(cond)                                                                            \
    do {                                                                                       \
        if (!(cond)) {                                                                         \
            fprintf(stderr, "fuzz_decoder: broken promise: %s (%s:%d)\n", #cond, __FILE__,     \
                    __LINE__);                                                                 \
            abort();                                                                           \
        }                                                                                      \
    } while (0)

/* Measures a string the decoder handed out and checks the promise in decoder.h. */
static size_t touch(const char *s)
{
    if (!s) return 0;
    size_t n = strlen(s);
    bool ok = g_utf8_validate(s, (gssize)n, NULL);
    for (size_t i = 0; ok && i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        ok = c == '\t' || (c >= 0x20 && c != 0x7f);
    }
    if (!ok) { /* show the offending string before the abort */
        fprintf(stderr, "fuzz_decoder: string of %zu bytes:", n);
        for (size_t i = 0; i < n && i < 256; i++) fprintf(stderr, " %02x", (unsigned char)s[i]);
        fprintf(stderr, "\n");
    }
    CHECK(ok && "a decoder string is not UTF-8 without control characters");
    return n;
}

typedef struct fuzz_ctx {
    uint64_t fed[2];   /* bytes fed + gapped per direction: events must lie inside */
    bool wrapped[2];   /* fed overflowed (gaps of 2^47 bytes add up): no position checks */
    size_t sink;       /* keeps the measurements alive */
} fuzz_ctx;

static void advance(fuzz_ctx *c, int dir, uint64_t n)
{
    if (c->fed[dir] + n < c->fed[dir]) c->wrapped[dir] = true;
    c->fed[dir] += n;
}

static void on_reply(fuzz_ctx *c, const smtpcap_event *ev)
{
    CHECK(ev->u.reply.code >= 100 && ev->u.reply.code <= 599);
    if (!ev->u.reply.enhanced) CHECK(ev->u.reply.enh_class == -1);
    c->sink += touch(ev->u.reply.enhanced) + touch(ev->u.reply.to) + touch(ev->u.reply.meaning) +
               touch(ev->u.reply.enhanced_meaning);
    CHECK(ev->u.reply.nlines == 0 || ev->u.reply.lines);
    for (size_t i = 0; i < ev->u.reply.nlines; i++) {
        CHECK(ev->u.reply.lines[i]);
        c->sink += touch(ev->u.reply.lines[i]);
    }
}

static void on_event(void *user, const smtpcap_event *ev)
{
    fuzz_ctx *c = user;
    CHECK(ev->dir == SMTPCAP_DIR_CLIENT || ev->dir == SMTPCAP_DIR_SERVER);
    CHECK((unsigned)ev->stage < SMTPCAP_STAGE_COUNT);
    /* An event covers bytes of its direction that were fed (or gapped) already. */
    if (!c->wrapped[ev->dir])
        CHECK(ev->offset <= c->fed[ev->dir] && ev->length <= c->fed[ev->dir] - ev->offset);
    c->sink += touch(smtpcap_stage_name(ev->stage));
    switch (ev->type) {
    case SMTPCAP_EV_COMMAND:
        CHECK(ev->u.command.verb && ev->u.command.arg && ev->u.command.line);
        c->sink += touch(ev->u.command.verb) + touch(ev->u.command.arg) + touch(ev->u.command.line);
        break;
    case SMTPCAP_EV_REPLY:
        on_reply(c, ev);
        break;
    case SMTPCAP_EV_AUTH:
        c->sink += touch(ev->u.auth.mechanism) + touch(ev->u.auth.decoded) + touch(ev->u.auth.line);
        c->sink += touch(smtpcap_auth_step_name(ev->u.auth.step));
        break;
    case SMTPCAP_EV_TLS:
        c->sink += touch(smtpcap_tls_mode_name(ev->u.tls.mode));
        break;
    case SMTPCAP_EV_GAP:
        c->sink += (size_t)ev->u.gap.bytes;
        break;
    case SMTPCAP_EV_MESSAGE:
        c->sink += touch(ev->u.message.subject) + touch(ev->u.message.from) +
                   touch(ev->u.message.to) + touch(ev->u.message.date) +
                   touch(ev->u.message.message_id) + touch(ev->u.message.x_mailer);
        break;
    case SMTPCAP_EV_ANOMALY:
        CHECK(ev->u.anomaly.text);
        c->sink += touch(ev->u.anomaly.text);
        break;
    default:
        CHECK(!"unknown event type");
    }
}

static void walk_message(fuzz_ctx *c, const smtpcap_message *m)
{
    /* mail_from is NULL for a transaction seen from the middle (no MAIL), though decoder.h
     * documents only "" (null sender): the formatters handle NULL. */
    c->sink += touch(m->mail_from) + touch(m->mail_enhanced) + touch(m->data_enhanced) +
               touch(m->queue_id) + touch(m->subject) + touch(smtpcap_msg_status_name(m->status));
    CHECK(m->nrcpts == 0 || m->rcpts);
    for (size_t i = 0; i < m->nrcpts; i++) {
        CHECK(m->rcpts[i].address);
        c->sink += touch(m->rcpts[i].address) + touch(m->rcpts[i].enhanced);
    }
}

static void walk_summary(fuzz_ctx *c, const smtpcap_summary *s)
{
    CHECK(s);
    c->sink += touch(smtpcap_tls_mode_name(s->tls)) + touch(s->helo) +
               touch(smtpcap_end_reason_name(s->end_reason));
    CHECK(s->nauth == 0 || s->auth);
    for (size_t i = 0; i < s->nauth; i++)
        c->sink += touch(s->auth[i].mechanism) + touch(s->auth[i].username) +
                   touch(s->auth[i].enhanced) + touch(smtpcap_auth_result_name(s->auth[i].result));
    CHECK(s->nmessages == 0 || s->messages);
    for (size_t i = 0; i < s->nmessages; i++) walk_message(c, &s->messages[i]);
    const smtpcap_outcome *o = &s->outcome;
    c->sink += touch(smtpcap_outcome_name(o->status)) + touch(smtpcap_stage_name(o->stage)) +
               touch(o->enhanced) + touch(o->text) + touch(o->hint);
    if (smtpcap_enhanced_meaning) /* weak: declared in decoder.h, not implemented yet */
        c->sink += touch(smtpcap_enhanced_meaning(o->enhanced ? o->enhanced : "5.1.1"));
    CHECK(s->nwarnings == 0 || s->warnings);
    for (size_t i = 0; i < s->nwarnings; i++) {
        CHECK(s->warnings[i]);
        c->sink += touch(s->warnings[i]);
    }
}

static smtpcap_config config_from(uint8_t b)
{
    static const size_t lines[4] = { 0, 64, 8, 1 };
    smtpcap_config cfg = { 0 };
    cfg.show_secrets = b & 1;
    cfg.midstream = (b >> 1) & 1;
    cfg.max_line = lines[(b >> 2) & 3];
    cfg.max_pipeline = (b & 0x10) ? 2 : 0;
    cfg.max_messages = (b & 0x20) ? 2 : 0;
    cfg.max_rcpts = (b & 0x40) ? 2 : 0;
    return cfg;
}

/* The first bytes of each direction, for smtpcap_detect. */
typedef struct first_bytes {
    uint8_t buf[2][SMTPCAP_DETECT_MAX * 2];
    size_t n[2];
} first_bytes;

static void keep_first(first_bytes *fb, int dir, const uint8_t *p, size_t n)
{
    size_t room = sizeof fb->buf[dir] - fb->n[dir];
    if (n > room) n = room;
    memcpy(fb->buf[dir] + fb->n[dir], p, n);
    fb->n[dir] += n;
}

/* A heap copy of exactly n bytes (never NULL: a zero-length buffer is still a pointer). */
static uint8_t *copy_exact(const uint8_t *p, size_t n)
{
    uint8_t *q = malloc(n ? n : 1);
    CHECK(q);
    if (n) memcpy(q, p, n);
    return q;
}

/* GLib's slice allocator keeps freed blocks in magazines: leaks hide behind them from
 * LeakSanitizer, and every run looks like it leaked (libFuzzer then scans the heap, 30x
 * slower). Plain malloc makes each GString/GPtrArray visible to ASan. GLib reads G_SLICE
 * when it loads, before this runs: so set it and start again, once, with the same argv. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    if (!getenv("G_SLICE")) {
        setenv("G_SLICE", "always-malloc", 1);
        execv("/proc/self/exe", *argv);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t b0 = size > 0 ? data[0] : 0, b1 = size > 1 ? data[1] : 0;
    size_t i = size < 2 ? size : 2;
    smtpcap_config cfg = config_from(b0);
    fuzz_ctx c = { { 0, 0 }, { false, false }, 0 };
    static first_bytes fb;
    fb.n[0] = fb.n[1] = 0;
    smtpcap_session *s = smtpcap_session_new(&cfg, on_event, &c);
    CHECK(s);
    int64_t ts = 1700000000000000;
    size_t nrec = 0;
    while (i < size) {
        uint8_t h = data[i++];
        int dir = h >> 7;
        smtpcap_dir d = dir ? SMTPCAP_DIR_SERVER : SMTPCAP_DIR_CLIENT;
        ts += (b1 & 0x10) && (nrec % 7 == 3) ? -5000 : 1000; /* clocks jump on real captures */
        nrec++;
        if (nrec == 5 && (b0 & 0x80)) smtpcap_session_warn(s, "kernel dropped \x01 packets\xff");
        if (h & 0x40) {
            uint64_t g = (uint64_t)(i < size ? data[i] : 0) << 8 | (i + 1 < size ? data[i + 1] : 0);
            i += 2;
            unsigned shift = h & 0x3f;
            g <<= shift > 47 ? 47 : shift;
            advance(&c, dir, g);
            CHECK(smtpcap_session_gap(s, d, g, ts) == SMTPCAP_OK);
            continue;
        }
        size_t n = h & 0x3f;
        if (n == 0 || n > size - i) n = size - i;
        advance(&c, dir, n);
        CHECK(smtpcap_session_feed(s, d, data + i, n, ts) == SMTPCAP_OK);
        keep_first(&fb, dir, data + i, n);
        i += n;
    }
    smtpcap_end_reason why = (smtpcap_end_reason)((b1 & 7) % 5);
    const smtpcap_summary *sum = smtpcap_session_finish(s, why, ts);
    walk_summary(&c, sum);
    CHECK(sum->end_reason == why);
    if (b1 & 0x08) {
        CHECK(smtpcap_session_feed(s, SMTPCAP_DIR_CLIENT, (const uint8_t *)"QUIT\r\n", 6, ts) ==
              SMTPCAP_FINISHED);
        CHECK(smtpcap_session_gap(s, SMTPCAP_DIR_SERVER, 1, ts) == SMTPCAP_FINISHED);
    }
    smtpcap_session_free(s);

    /* Detection looks at the same bytes: never MORE when final, never a read past them. */
    smtpcap_detect_result r1 = smtpcap_detect(fb.buf[0], fb.n[0], fb.buf[1], fb.n[1], false);
    smtpcap_detect_result r2 = smtpcap_detect(fb.buf[0], fb.n[0], fb.buf[1], fb.n[1], true);
    CHECK(r1 <= SMTPCAP_DETECT_MORE && r2 != SMTPCAP_DETECT_MORE);
    if (size > 2) {
        /* and on the raw input split in two, with exact-size heap copies (ASan sees overreads) */
        size_t half = (size - 2) / 2;
        uint8_t *cl = copy_exact(data + 2, half), *sv = copy_exact(data + 2 + half, size - 2 - half);
        (void)smtpcap_detect(cl, half, sv, size - 2 - half, b1 & 0x20);
        free(cl);
        free(sv);
    }
    return 0;
}
