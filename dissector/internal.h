/* Internal state of the SMTP decoder, shared by its modules (not installed).
 *
 * Module map:
 *   decoder.c  public API, byte framing per direction, gaps, finish
 *   session.c  commands, the pending-command queue (PIPELINING), replies and their pairing
 *   auth.c     AUTH mechanisms (RFC 4954, 7628, XOAUTH2), masking of secrets
 *   message.c  DATA / BDAT content: dot-unstuffing, size, noted headers
 *   verdict.c  message status and the session outcome (DESIGN.md rules), warnings
 *   text.c     base64, UTF-8 sanitising, bounded string helpers, enum names
 *   codes.c    reply codes, RFC 3463 enhanced codes, annotations and hints
 */
#ifndef SMTPCAP_INTERNAL_H
#define SMTPCAP_INTERNAL_H

#include <glib.h>
#include <smtpcap/decoder.h>

#define MASK "********"

/* Verbs the state machine tells apart. GREETING and DATA_END are synthetic commands (as in
 * Zeek) so that the banner and the reply to the end of a message pair with something. */
typedef enum {
    V_GREETING, V_HELO, V_EHLO, V_STARTTLS, V_AUTH, V_MAIL, V_RCPT, V_DATA, V_DATA_END,
    V_BDAT, V_RSET, V_QUIT, V_NOOP, V_VRFY, V_EXPN, V_HELP, V_OTHER
} verb_id;

typedef struct {
    verb_id verb;
    char name[16];      /* as shown in "to" (upper-cased verb, truncated) */
    int64_t ts_us;
    int msg;            /* index into messages, -1 if none */
    int rcpt;           /* index into that message's rcpts, -1 if none */
    bool bdat_last;
} pending_cmd;

/* Client-direction modes. */
typedef enum {
    CM_COMMAND,  /* lines are commands */
    CM_AUTH,     /* lines answer an AUTH challenge (after 334) */
    CM_BODY,     /* DATA content after 354, up to "." */
    CM_CHUNK,    /* BDAT content: chunk_left raw bytes */
    CM_TLS,      /* encrypted: not parsed */
    CM_CLOSED    /* QUIT answered */
} client_mode;

typedef struct {
    char *buf;        /* grows up to max_line + 1 */
    size_t len, cap;
    size_t total;     /* bytes of the current line seen so far (may exceed len) */
    uint64_t start;   /* stream offset of the line's first byte */
    bool resync;      /* discard up to the next LF (midstream start) */
    bool after_gap;   /* the next complete line follows a gap: kept only if it looks like
                       * the start of a line (a gap usually swallows the end of the line it
                       * cut, LF included, so the next line is whole) */
} linebuf;

typedef struct {
    char *address;
    int code;
    char enhanced[SMTPCAP_ENHANCED_MAX];
} rcpt_rec;

typedef struct {
    char *mail_from;
    int mail_code;
    char mail_enhanced[SMTPCAP_ENHANCED_MAX];
    GArray *rcpts;       /* rcpt_rec */
    size_t rcpts_dropped;
    int data_code;
    char data_enhanced[SMTPCAP_ENHANCED_MAX];
    char *data_text;     /* text of the final reply (for the verdict) */
    char *queue_id;
    int64_t size;        /* -1 until content is seen */
    bool content_gap;    /* part of the content was missing */
    bool bdat;
    bool closed;         /* the client ended the transaction (RSET, MAIL, QUIT, EHLO, TLS) */
    char *fail_text;     /* text of a failed MAIL reply */
    int first_rcpt_fail; /* index of the first refused recipient, -1 if none */
    char *rcpt_fail_text;
    smtpcap_stage data_stage; /* DATA or BDAT: what data_code answers */
    bool data_eod;       /* data_code answers the end of the content, not the DATA verb */
    /* header capture */
    char *subject, *from, *to, *date, *message_id, *x_mailer;
} msg_rec;

typedef struct {
    char *mechanism;
    char *username;
    smtpcap_auth_result result;
    int code;
    char enhanced[SMTPCAP_ENHANCED_MAX];
} auth_rec;

/* One failure reply kept for the verdict. */
typedef struct {
    bool set;
    smtpcap_stage stage;
    int code;
    char enhanced[SMTPCAP_ENHANCED_MAX];
    int cls, subj, det;
    char *text;
} fail_rec;

/* Content parser state for DATA and BDAT. */
typedef struct {
    bool active;
    bool in_headers;
    bool bdat;
    int msg;               /* message index, -1 if none */
    uint64_t start;        /* stream offset where the content began */
    bool gap;              /* part of the content was missing */
    uint64_t size;
    GString *hdr;          /* current (possibly folded) header line, capped */
    bool hdr_overflow;
    GString *part;         /* BDAT: partial header line across chunk bytes */
    char *subject, *from, *to, *date, *message_id, *x_mailer;
} content_state;

typedef enum { AM_NONE, AM_LOGIN, AM_PLAIN, AM_CRAM_MD5, AM_XOAUTH2, AM_OAUTHBEARER, AM_OTHER } auth_mech;

typedef struct {
    bool active;          /* an AUTH exchange is in progress */
    auth_mech mech;
    char mech_name[32];
    int attempt;          /* index into auths */
    int prompts;          /* 334s seen in this exchange */
    int values;           /* client values (initial response included) in this exchange */
    bool expect_password; /* LOGIN: the last prompt asked for the password */
    bool cancelled;
} auth_state;

/* Reply being assembled (multi-line). */
typedef struct {
    bool open;
    int code;
    GPtrArray *lines;     /* char* */
    size_t bytes;         /* text kept, for the cap */
    bool dropped;         /* lines dropped by the cap */
    uint64_t start, end;
    int64_t ts_us;
    bool cut;             /* a line of it was cut by missing bytes */
} reply_asm;

#define DEFER_MAX (64 * 1024)

struct smtpcap_session {
    smtpcap_config cfg;
    smtpcap_event_cb cb;
    void *user;
    bool finished;

    uint64_t off[2];      /* stream offsets: bytes fed + gapped */
    uint64_t bytes[2];
    uint64_t gap_bytes;
    int64_t last_ts;
    bool first_bytes_seen[2];

    linebuf lb[2];
    client_mode cmode;
    bool server_tls;      /* server direction encrypted */
    smtpcap_tls_mode tls;
    uint64_t chunk_left;  /* CM_CHUNK */
    bool chunk_last;
    bool server_gap;      /* a reply may have been lost: re-align on the next one */
    bool body_gap;        /* the DATA body had a gap: its end may be unseen */
    /* DATA body after the headers is scanned only for dots at line starts (body_scan) */
    bool body_bol;        /* the next body byte starts a line */
    uint8_t body_dot;     /* 1: "." seen at a line start; 2: ".\r" seen */
    uint64_t body_dot_off; /* stream offset of that dot */

    /* Client bytes held while a command whose reply decides how to read them (DATA, AUTH,
     * STARTTLS) waits for that reply. Bounded by DEFER_MAX. */
    GByteArray *defer;
    int64_t defer_ts;
    bool blocked;

    /* pending commands (FIFO ring, grows up to max_pipeline) */
    pending_cmd *pq;
    size_t pq_cap, pq_head, pq_len;

    reply_asm reply;
    int64_t last_reply_code;
    smtpcap_stage stage;  /* stage of the last command */

    /* what the session learned */
    char *helo;
    bool ehlo_seen;
    bool cap_starttls, cap_pipelining, cap_chunking, cap_auth;
    bool starttls_sent;
    bool starttls_refused;
    bool quit_sent, quit_answered;
    bool greeting_seen;
    bool mail_seen;       /* a MAIL command was seen in this session */
    bool verb_seen;       /* a known command verb was seen */
    bool shutdown_421;    /* the server sent an unsolicited 421 */
    bool cutting;         /* the line being handled was cut by missing bytes */
    uint64_t mid_skipped; /* midstream: client bytes before the first known verb */
    bool bare_lf_reported[2];
    bool auth_in_clear;
    bool data_after_quit_reported;
    uint64_t truncated_lines;
    uint64_t unexpected_replies;
    uint64_t lost_replies;

    GArray *msgs;         /* msg_rec */
    size_t msgs_dropped;
    size_t rcpts_total;   /* recipient records kept, all messages together */
    int open_msg;         /* index of the transaction in progress, -1 if none */
    GArray *auths;        /* auth_rec */
    auth_state auth;
    content_state content;

    fail_rec greeting_fail; /* never recovered from */
    fail_rec cand;          /* pre-transaction failure, cleared by later progress */

    GPtrArray *warnings;  /* char* */
    GString *scratch_join, *scratch_meaning; /* reused for every reply (lazily made) */

    /* summary built at finish (allocated then: sessions being decoded stay small) */
    smtpcap_summary *sum;
    smtpcap_auth_attempt *sum_auth;
    smtpcap_message *sum_msgs;
    smtpcap_rcpt **sum_rcpts;
    char **sum_strings;   /* owned strings made for the summary */
    size_t nsum_strings;
};

/* ---- decoder.c ---- */
void emit(smtpcap_session *s, smtpcap_event *ev);
void client_process_bytes(smtpcap_session *s, const uint8_t *p, size_t n, int64_t ts);

/* ---- session.c ---- */
void session_on_command_line(smtpcap_session *s, const char *line, size_t len, bool truncated,
                             uint64_t start, uint64_t length, int64_t ts);
void session_on_server_line(smtpcap_session *s, const char *line, size_t len, bool truncated,
                            uint64_t start, uint64_t length, int64_t ts);
void session_flush_reply(smtpcap_session *s);
void session_push_data_end(smtpcap_session *s, int64_t ts);
void session_chunk_done(smtpcap_session *s, int64_t ts);
/* Feeds the client bytes held while blocked (the caller has cleared s->blocked). */
void session_replay_deferred(smtpcap_session *s);
/* The reply that would have said how to read the held bytes never came: read them anyway. */
void session_unblock_unanswered(smtpcap_session *s);
void session_server_gap(smtpcap_session *s);
void session_init_pending(smtpcap_session *s);
bool session_pending_has_nonquit(const smtpcap_session *s);
bool session_known_verb(const char *line, size_t len);
void session_free_pending(smtpcap_session *s);
void anomaly(smtpcap_session *s, smtpcap_dir dir, smtpcap_anomaly kind, const char *fmt, ...)
    G_GNUC_PRINTF(4, 5);
void warn(smtpcap_session *s, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
void enter_tls(smtpcap_session *s, smtpcap_tls_mode mode, smtpcap_dir dir, int64_t ts);

/* ---- auth.c ---- */
/* Handles "AUTH mech [initial]": fills masked (the line to show) and emits the steps the
 * initial response carries, after the caller emitted the command event via emit_cmd. */
void auth_begin(smtpcap_session *s, const char *arg, GString *masked);
void auth_emit_initial(smtpcap_session *s, const char *arg, uint64_t start, uint64_t length,
                       int64_t ts);
/* A 334 arrived with no AUTH command seen (the capture began in the middle of the
 * exchange): start an exchange, guessing LOGIN from a "Username:"/"Password:" prompt. */
void auth_begin_unseen(smtpcap_session *s, const char *prompt_decoded);
/* The decoded text of a 334 challenge, or NULL if it is not base64. Caller frees. */
char *auth_prompt_decoded(const char *text);
void auth_on_prompt(smtpcap_session *s, const char *text, uint64_t start, uint64_t length,
                    int64_t ts);
void auth_on_client_line(smtpcap_session *s, const char *line, size_t len, uint64_t start,
                         uint64_t length, int64_t ts);
void auth_on_result(smtpcap_session *s, int code, const char *enhanced, uint64_t start,
                    uint64_t length, int64_t ts);

/* ---- message.c ---- */
void content_begin(smtpcap_session *s, int msg, bool bdat);
/* One DATA body line: len bytes kept of full_len (without the line end); raw_len bytes on the
 * wire, line end included. The size counts wire bytes minus stuffing dots. */
void content_line(smtpcap_session *s, const char *line, size_t len, size_t full_len,
                  size_t raw_len);
/* Body bytes counted without being looked at (after the headers); n may be -1 (a stuffing
 * dot taken back). */
void content_add(smtpcap_session *s, int64_t n);
void content_bytes(smtpcap_session *s, const uint8_t *p, size_t n);
void content_gap(smtpcap_session *s, uint64_t n);
/* Ends the content (complete = the terminator was seen) and emits SMTPCAP_EV_MESSAGE. */
void content_end(smtpcap_session *s, bool complete, uint64_t start, uint64_t length, int64_t ts);
void content_free(content_state *c);

/* ---- verdict.c ---- */
msg_rec *msg_get(smtpcap_session *s, int idx);
int msg_new(smtpcap_session *s, const char *from);
void msg_close(smtpcap_session *s, int idx);
void msg_free(msg_rec *m);
void fail_set(fail_rec *f, smtpcap_stage stage, int code, const char *enh, int cls, int subj,
              int det, const char *text);
void fail_clear(fail_rec *f);
void verdict_build(smtpcap_session *s, smtpcap_end_reason why);
void verdict_free(smtpcap_session *s);

/* ---- text.c ---- */
/* Strict base64 (RFC 4648, padding optional). Returns a new buffer (NUL-terminated, *outlen
 * bytes before it) or NULL if the text is not base64. */
guint8 *b64_decode(const char *in, size_t len, size_t *outlen);
/* Valid UTF-8 without control characters: other bytes become "\xNN". Appends to out. */
void sanitize_append(GString *out, const char *p, size_t n);
char *sanitize_dup(const char *p, size_t n);
char *strip_brackets_dup(const char *addr, size_t n);
void copy_enh(char dst[SMTPCAP_ENHANCED_MAX], const char *src);
/* Copies kept in the session summary are capped, so that what a session retains does not
 * grow with what a hostile peer sends (DESIGN: memory grows with sessions, not file size). */
#define KEEP_ADDR 320  /* RFC 5321 4.5.3.1.3: a path is at most 256 octets */
#define KEEP_TEXT 512
#define MAX_RCPTS_PER_SESSION 10000
/* strdup cut to max bytes (UTF-8 safe) plus "..." when longer; NULL stays NULL. */
char *dup_capped(const char *src, size_t max);
/* g_strlcpy of valid UTF-8 that cuts only between characters. */
void utf8_strlcpy(char *dst, const char *src, size_t size);
bool ascii_prefix_ci(const char *s, size_t n, const char *prefix);

#endif
