/* The glue between the TCP engine and the decoder, and the output formatters.
 *
 * One report per input (a file or a live interface): it owns the engine's per-flow
 * consumers, runs one decoder session per TCP connection, and renders each session's events
 * through the chosen formatter into a per-session buffer that is written when the session
 * ends (so sessions never interleave and output is deterministic), or at once in streaming
 * mode (live capture). Formatters only render what the decoder reported: they never look at
 * SMTP text themselves. */
#ifndef SMTPCAP_REPORT_H
#define SMTPCAP_REPORT_H

#include <stdio.h>
#include <string.h>

#include <glib.h>
#include <smtpcap/decoder.h>

#include "tcpengine.h"

typedef enum { FMT_TEXT, FMT_JSON, FMT_SUMMARY } report_format;

typedef struct report_options {
    report_format format;
    bool color;        /* ANSI colours (text and summary) */
    bool show_secrets;
    bool stream;       /* write each event at once (live capture) */
    size_t max_line;   /* decoder line limit, 0 = default */
    FILE *out;
    /* Connections to these server ports are SMTP. With detect, connections on other ports
     * are probed by content (smtpcap_detect) and decoded when they are SMTP. */
    const uint16_t *ports;
    size_t nports;
    bool detect;
} report_options;

typedef struct report_totals {
    uint64_t sessions;
    uint64_t outcomes[SMTPCAP_OUTCOME_ENCRYPTED + 1];
    uint64_t messages, accepted_messages;
    uint64_t truncated_lines;
} report_totals;

/* One session as the formatters see it. */
typedef struct rsession {
    struct report *rep;
    uint64_t id;          /* "session" number, unique within the run */
    tcp_flow_info fi;
    smtpcap_session *dec;
    GString *out;         /* rendered, not yet written */
    int64_t end_us;
    bool header_done;     /* text: the session header was written (lazily: a connection that
                           * never says anything costs no output memory) */
    /* Probing (a port not known for SMTP): the first bytes, held until smtpcap_detect
     * decides; chunks remembers their order so both directions replay interleaved. */
    int state;            /* RS_PROBING, RS_SMTP, RS_IGNORED */
    GByteArray *probe[2];
    GArray *chunks;       /* probe_chunk */
} rsession;

enum { RS_SMTP = 0, RS_PROBING, RS_IGNORED };

typedef struct formatter {
    void (*begin)(rsession *rs);
    void (*event)(rsession *rs, const smtpcap_event *ev);
    void (*end)(rsession *rs, const smtpcap_summary *sum);
} formatter;

typedef struct report {
    report_options opt;
    const formatter *fmt;
    report_totals totals;
    uint64_t next_id;     /* shared across inputs so numbers stay unique in a run */
    GHashTable *open;     /* rsession* of sessions being decoded (a set) */
} report;

extern const formatter fmt_text, fmt_json, fmt_summary;

void report_init(report *r, const report_options *opt);
void report_free(report *r);
/* Adds a warning to every session being decoded (e.g. the kernel dropped packets). */
void report_warn_open(report *r, const char *text);
/* The engine callbacks; ctx is the report. */
extern const tcp_engine_ops report_engine_ops;
/* Writes what a session has rendered so far. */
void report_flush(rsession *rs);

/* Appends n bytes: inline when they fit (GString's own append is an out-of-line call into
 * glib for every piece, and output is built from many small pieces). */
static inline void out_append(GString *g, const char *p, size_t n)
{
    if (g->len + n < g->allocated_len) {
        memcpy(g->str + g->len, p, n);
        g->len += n;
        g->str[g->len] = 0;
    } else {
        g_string_append_len(g, p, (gssize)n);
    }
}
#define OUT_LIT(g, lit) out_append((g), (lit), sizeof(lit) - 1)

/* Helpers shared by formatters. */
void fmt_time_iso(GString *g, int64_t us);   /* 2026-11-24T07:01:02.123456Z */
void fmt_time_clock(GString *g, int64_t us); /* 07:01:02.123456 */
void fmt_endpoint(GString *g, const char *ip, uint16_t port, bool v6); /* 1.2.3.4:25, [::1]:25 */

#endif
