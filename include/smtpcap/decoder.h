/* smtpcap — SMTP session decoder, public API.
 *
 * A push parser over the two byte streams (client->server, server->client) of one SMTP
 * session. The caller feeds bytes per direction in the order they were seen, declares gaps
 * explicitly, and ends the session; the decoder reports what happened through one callback
 * (events) and, at the end, a summary with the verdict.
 *
 * The decoder does no I/O, never prints, never aborts on input, and never keeps a pointer
 * into the caller's buffers. Its memory per session is bounded (see smtpcap_config).
 *
 * Protocols: RFC 5321 (SMTP), 1870 (SIZE), 2920 (PIPELINING), 3030 (CHUNKING/BDAT),
 * 3207 (STARTTLS), 3463 (enhanced status codes), 4954 (AUTH), 6531 (SMTPUTF8),
 * 7628 (OAUTHBEARER).
 */
#ifndef SMTPCAP_DECODER_H
#define SMTPCAP_DECODER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- enumerations (X-macros give each value its printable name) ---------------------- */

typedef enum { SMTPCAP_DIR_CLIENT = 0, SMTPCAP_DIR_SERVER = 1 } smtpcap_dir;

#define SMTPCAP_STAGES(X)                                                                     \
    X(NONE, "")                                                                               \
    X(CONNECT, "CONNECT")                                                                     \
    X(EHLO, "EHLO")                                                                           \
    X(STARTTLS, "STARTTLS")                                                                   \
    X(TLS, "TLS")                                                                             \
    X(AUTH, "AUTH")                                                                           \
    X(MAIL, "MAIL")                                                                           \
    X(RCPT, "RCPT")                                                                           \
    X(DATA, "DATA")                                                                           \
    X(BDAT, "BDAT")                                                                           \
    X(RSET, "RSET")                                                                           \
    X(QUIT, "QUIT")                                                                           \
    X(OTHER, "OTHER")

#define SMTPCAP_X_ENUM(id, name) SMTPCAP_STAGE_##id,
typedef enum { SMTPCAP_STAGES(SMTPCAP_X_ENUM) SMTPCAP_STAGE_COUNT } smtpcap_stage;
#undef SMTPCAP_X_ENUM

/* TLS state of a session. */
typedef enum {
    SMTPCAP_TLS_NONE = 0,
    SMTPCAP_TLS_STARTTLS, /* a 220 answered STARTTLS: the rest is encrypted */
    SMTPCAP_TLS_IMPLICIT  /* the session began with a TLS handshake (port 465) */
} smtpcap_tls_mode;

typedef enum {
    SMTPCAP_AUTH_STEP_PROMPT,   /* server challenge, decoded ("Username:") */
    SMTPCAP_AUTH_STEP_USERNAME, /* client value that names the user */
    SMTPCAP_AUTH_STEP_PASSWORD, /* client secret (masked unless show_secrets) */
    SMTPCAP_AUTH_STEP_RESPONSE, /* other client response (CRAM digest, token, cancel) */
    SMTPCAP_AUTH_STEP_RESULT    /* the server's final answer */
} smtpcap_auth_step;

typedef enum {
    SMTPCAP_AUTH_UNKNOWN = 0, /* no final answer seen */
    SMTPCAP_AUTH_SUCCESS,
    SMTPCAP_AUTH_FAILURE,
    SMTPCAP_AUTH_CANCELLED
} smtpcap_auth_result;

typedef enum {
    SMTPCAP_MSG_INCOMPLETE = 0, /* capture/connection ended before a final answer */
    SMTPCAP_MSG_ACCEPTED,
    SMTPCAP_MSG_REJECTED, /* 5xx at MAIL, at every RCPT, or at DATA/BDAT */
    SMTPCAP_MSG_TEMPFAIL, /* 4xx at MAIL, at every RCPT, or at DATA/BDAT */
    SMTPCAP_MSG_ABORTED   /* abandoned by RSET, QUIT, a new MAIL, or STARTTLS */
} smtpcap_msg_status;

typedef enum {
    SMTPCAP_OUTCOME_NO_MAIL = 0,
    SMTPCAP_OUTCOME_DELIVERED,
    SMTPCAP_OUTCOME_PARTIAL,
    SMTPCAP_OUTCOME_FAILED,
    SMTPCAP_OUTCOME_TEMPFAIL,
    SMTPCAP_OUTCOME_INCOMPLETE,
    SMTPCAP_OUTCOME_ENCRYPTED
} smtpcap_outcome_status;

/* How a session ended, as the caller saw it. */
typedef enum {
    SMTPCAP_END_CLOSED = 0, /* FIN */
    SMTPCAP_END_RESET,      /* RST */
    SMTPCAP_END_TIMEOUT,    /* idle timeout */
    SMTPCAP_END_EVICTED,    /* dropped by a resource limit */
    SMTPCAP_END_CAPTURE     /* end of input with the connection still open */
} smtpcap_end_reason;

typedef enum {
    SMTPCAP_ANOMALY_LINE_TOO_LONG,    /* line longer than max_line: truncated */
    SMTPCAP_ANOMALY_BARE_LF,          /* line ended by LF without CR */
    SMTPCAP_ANOMALY_REPLY_UNEXPECTED, /* a reply with no command waiting for it */
    SMTPCAP_ANOMALY_BAD_REPLY,        /* a server line that is not "NNN[ -]text" */
    SMTPCAP_ANOMALY_PIPELINE_OVERFLOW,/* too many commands waiting for replies */
    SMTPCAP_ANOMALY_DATA_AFTER_CLOSE, /* bytes after QUIT was answered */
    SMTPCAP_ANOMALY_BAD_BASE64,       /* an AUTH line that is not valid base64 */
    SMTPCAP_ANOMALY_LIMIT,            /* a summary list was full: entries dropped */
    SMTPCAP_ANOMALY_PLAINTEXT_AFTER_STARTTLS /* client text pipelined after STARTTLS */
} smtpcap_anomaly;

/* ---- events ----------------------------------------------------------------------------- */

typedef enum {
    SMTPCAP_EV_COMMAND, /* one client command line */
    SMTPCAP_EV_REPLY,   /* one complete (possibly multi-line) server reply */
    SMTPCAP_EV_AUTH,    /* one AUTH step, decoded */
    SMTPCAP_EV_TLS,     /* plaintext ends here */
    SMTPCAP_EV_GAP,     /* bytes known to be missing in one direction */
    SMTPCAP_EV_MESSAGE, /* end of a DATA body or of the last BDAT chunk: what it held */
    SMTPCAP_EV_ANOMALY  /* a protocol anomaly; decoding goes on */
} smtpcap_event_type;

#define SMTPCAP_ENHANCED_MAX 16 /* "5.123.123" + NUL fits */

typedef struct smtpcap_event {
    smtpcap_event_type type;
    smtpcap_dir dir;     /* the direction the bytes came from */
    int64_t ts_us;       /* time of the bytes that completed the event (µs since epoch) */
    smtpcap_stage stage; /* the session stage the event belongs to */
    /* Position in the direction's stream (byte 0 = the first byte fed or gapped): the event
     * covers [offset, offset + length). For a reply, the whole multi-line reply. */
    uint64_t offset;
    uint64_t length;
    union {
        struct {
            const char *verb; /* upper-cased, e.g. "MAIL"; never NULL */
            const char *arg;  /* text after the verb and one space, "" if none */
            const char *line; /* as sent, without CRLF; AUTH secrets masked unless show_secrets */
            bool truncated;   /* the line was longer than max_line */
        } command;
        struct {
            int code;              /* 100..599 */
            const char *enhanced;  /* "5.1.1", or NULL if the reply carries none */
            int enh_class, enh_subject, enh_detail; /* -1 when enhanced is NULL */
            const char *const *lines; /* text after "NNN-"/"NNN ", one per reply line */
            size_t nlines;
            const char *to;         /* command answered: "MAIL", "(greeting)", "(end of data)"; NULL if unknown */
            int64_t latency_us;     /* since that command was sent; -1 if unknown */
            const char *meaning;    /* plain-language annotation, in context ("RCPT rejected: ...") */
            const char *enhanced_meaning; /* RFC 3463 meaning of the enhanced code, or NULL */
        } reply;
        struct {
            const char *mechanism;  /* "LOGIN", "PLAIN", ... */
            smtpcap_auth_step step;
            const char *decoded;    /* decoded text; "********" for masked secrets; result: "success"... */
            const char *line;       /* raw line for client/prompt steps (masked like decoded), else NULL */
        } auth;
        struct {
            smtpcap_tls_mode mode;
        } tls;
        struct {
            uint64_t bytes;
        } gap;
        struct {
            uint64_t size;          /* message bytes after dot-unstuffing (BDAT: chunk bytes) */
            bool complete;          /* saw the terminating "." / BDAT LAST */
            bool bdat;
            const char *subject, *from, *to, *date, *message_id, *x_mailer; /* NULL if absent */
        } message;
        struct {
            smtpcap_anomaly kind;
            const char *text;       /* a one-line description */
        } anomaly;
    } u;
} smtpcap_event;

/* Called once per event, in order. Strings and arrays in *ev are valid only during the call.
 * Every string the decoder hands out (events and summary) is valid UTF-8 with no control
 * characters other than TAB: bytes that are not become the four characters "\xNN". */
typedef void (*smtpcap_event_cb)(void *user, const smtpcap_event *ev);

/* ---- configuration ---------------------------------------------------------------------- */

typedef struct smtpcap_config {
    size_t max_line;      /* longest line kept (bytes, without CRLF); 0 = default 4096 */
    size_t max_pipeline;  /* commands awaiting replies; 0 = default 128 */
    size_t max_messages;  /* message entries kept in the summary; 0 = default 1000 */
    size_t max_rcpts;     /* recipients kept per message; 0 = default 1000 */
    bool show_secrets;    /* reveal passwords/tokens instead of "********" */
    bool midstream;       /* the caller did not see the connection open */
} smtpcap_config;

/* ---- summary (valid after smtpcap_session_finish, until free) ---------------------------- */

typedef struct {
    const char *mechanism;
    const char *username; /* NULL if not seen */
    smtpcap_auth_result result;
    int code;             /* final reply code, 0 if none */
    const char *enhanced; /* NULL if none */
} smtpcap_auth_attempt;

typedef struct {
    const char *address; /* without angle brackets */
    int code;            /* 0 if no reply seen */
    const char *enhanced;
} smtpcap_rcpt;

typedef struct {
    const char *mail_from; /* without angle brackets; "" for the null sender; NULL when the
                            * MAIL command came before the capture began (midstream) */
    int mail_code;         /* 0 if no reply seen */
    const char *mail_enhanced;
    const smtpcap_rcpt *rcpts;
    size_t nrcpts;
    int data_code;         /* reply to end of data / BDAT LAST / refused DATA; 0 if none */
    const char *data_enhanced;
    const char *queue_id;  /* from the final reply, when the server names one */
    int64_t size;          /* message bytes, -1 if no content was seen */
    const char *subject;   /* header values, NULL if absent */
    smtpcap_msg_status status;
} smtpcap_message;

typedef struct {
    smtpcap_outcome_status status;
    smtpcap_stage stage;  /* the step that broke (or the final step); NONE if not applicable */
    int code;             /* 0 if none */
    const char *enhanced; /* NULL if none */
    const char *text;     /* server text of that reply (lines joined by " "), NULL if none */
    const char *hint;     /* plain-language explanation and whether retrying helps */
} smtpcap_outcome;

typedef struct {
    smtpcap_tls_mode tls;
    const char *helo; /* argument of the last EHLO/HELO, NULL if none */
    bool midstream;
    uint64_t gap_bytes; /* both directions */
    uint64_t bytes[2];  /* bytes fed per direction (gaps excluded) */
    const smtpcap_auth_attempt *auth;
    size_t nauth;
    const smtpcap_message *messages;
    size_t nmessages;
    smtpcap_outcome outcome;
    const char *const *warnings;
    size_t nwarnings;
    smtpcap_end_reason end_reason;
    bool starttls_unused; /* the server offered STARTTLS and the client stayed in plaintext */
    uint64_t truncated_lines; /* lines longer than max_line (cut there) */
} smtpcap_summary;

/* ---- API -------------------------------------------------------------------------------- */

typedef struct smtpcap_session smtpcap_session;

typedef enum {
    SMTPCAP_OK = 0,
    SMTPCAP_FINISHED, /* the session was already finished */
    SMTPCAP_EINVAL    /* bad argument */
} smtpcap_status;

/* Creates a session. cfg may be NULL (defaults). cb may be NULL (summary only). */
smtpcap_session *smtpcap_session_new(const smtpcap_config *cfg, smtpcap_event_cb cb, void *user);

/* Feeds n bytes of direction dir, seen at ts_us. The bytes are copied as needed. */
smtpcap_status smtpcap_session_feed(smtpcap_session *s, smtpcap_dir dir, const uint8_t *data,
                                    size_t n, int64_t ts_us);

/* Declares that n bytes of direction dir are missing at this point of the stream. Any
 * partial line is dropped and decoding resumes at the next line boundary (or exactly, when
 * the position is known, as inside a BDAT chunk). */
smtpcap_status smtpcap_session_gap(smtpcap_session *s, smtpcap_dir dir, uint64_t n,
                                   int64_t ts_us);

/* Ends the session: flushes what is pending and computes the verdict. Returns the summary,
 * owned by the session. Later feed/gap calls return SMTPCAP_FINISHED. */
const smtpcap_summary *smtpcap_session_finish(smtpcap_session *s, smtpcap_end_reason why,
                                              int64_t ts_us);

void smtpcap_session_free(smtpcap_session *s);

/* Adds a warning to the session's summary from outside the decoder (e.g. "the kernel
 * dropped packets while this session was open"). Identical warnings are kept once. */
void smtpcap_session_warn(smtpcap_session *s, const char *text);

/* Names: never NULL. */
const char *smtpcap_stage_name(smtpcap_stage st);
const char *smtpcap_outcome_name(smtpcap_outcome_status st);
const char *smtpcap_msg_status_name(smtpcap_msg_status st);
const char *smtpcap_auth_result_name(smtpcap_auth_result r);
const char *smtpcap_auth_step_name(smtpcap_auth_step st);
const char *smtpcap_tls_mode_name(smtpcap_tls_mode m); /* "none", "starttls", "implicit" */
const char *smtpcap_end_reason_name(smtpcap_end_reason r);
const char *smtpcap_strerror(smtpcap_status st);

/* RFC 3463 meaning of an enhanced status code ("5.1.1"), or NULL if the text is not one. */
const char *smtpcap_enhanced_meaning(const char *enhanced);

const char *smtpcap_version(void);

/* ---- detection on ports not known for SMTP (like Zeek's dynamic protocol detection) ---- */

typedef enum {
    SMTPCAP_DETECT_NO = 0, /* not SMTP: stop looking */
    SMTPCAP_DETECT_YES,    /* SMTP: decode the connection from its first byte */
    SMTPCAP_DETECT_MORE    /* cannot tell yet: call again with more bytes */
} smtpcap_detect_result;

/* Looks at the first bytes of each direction of a TCP connection (client: the side that
 * opened it). SMTP is recognised by the client's first line (EHLO/HELO/LHLO, or MAIL FROM: /
 * RCPT TO: when seen from the middle) or by a server greeting "220 ... SMTP". A server
 * greeting alone that does not say SMTP (FTP also greets with 220) waits for the client.
 * final: no more bytes will come, decide now (MORE is never returned then). */
smtpcap_detect_result smtpcap_detect(const uint8_t *client, size_t cn, const uint8_t *server,
                                     size_t sn, bool final);
#define SMTPCAP_DETECT_MAX 1024 /* beyond this many bytes without a line end: NO */

#ifdef __cplusplus
}
#endif
#endif
