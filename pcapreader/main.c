/* smtpcap: SMTP transcripts and verdicts from packet captures.
 *
 * Exit status: 0 success; 1 usage error or an input that could not be read at all;
 * 2 an input was damaged part-way (everything before the damage was decoded and printed). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capture.h"
#include "report.h"

enum { EXIT_OK = 0, EXIT_USAGE = 1, EXIT_DAMAGED = 2 };

typedef struct options {
    GPtrArray *files;
    const char *iface;      /* -i */
    const char *write_file; /* -w */
    uint64_t count;         /* -c */
    const char *user;       /* -Z */
    bool promisc;
    bool list_ifaces;       /* -D */
    const char *filter;
    GArray *ports;
    report_options rep;
    const char *color; /* auto, always, never */
    bool stats;
    bool ports_given;
    tcp_engine_config eng;
} options;

static const char usage_text[] =
    "Usage: smtpcap -r FILE [-r FILE ...] [options]\n"
    "       smtpcap FILE...\n"
    "       smtpcap -i INTERFACE [-w FILE] [-c COUNT] [-Z USER] [options]\n"
    "       smtpcap -D\n"
    "Turn captured SMTP traffic into annotated transcripts and a verdict per session:\n"
    "which step broke, and what the server said.\n"
    "\n"
    "Input:\n"
    "  -r, --read FILE        read a pcap or pcapng file (\"-\" = standard input); repeatable,\n"
    "                         files are read in order, each with its own flow table\n"
    "  -p, --ports LIST       SMTP server ports, comma-separated (default 25,465,587,2525,\n"
    "                         plus any connection whose content is SMTP; with -p, only\n"
    "                         the ports given)\n"
    "  -f, --filter EXPR      also apply this BPF filter (pcap-filter(7) syntax)\n"
    "Live capture:\n"
    "  -i, --interface IFACE  capture on IFACE (\"any\" for all); output streams as sessions\n"
    "                         progress; Ctrl-C flushes open sessions and prints statistics\n"
    "  -w, --write FILE       also write the captured packets to a pcap file\n"
    "  -c, --count N          stop after N packets\n"
    "  -Z, --user USER        drop root privileges to USER once capturing (default nobody)\n"
    "      --promisc          put the interface in promiscuous mode (mirror ports)\n"
    "  -D, --list-interfaces  list the interfaces and exit\n"
    "Output:\n"
    "      --json             JSON lines (one object per command, reply, AUTH step, ...,\n"
    "                         and one \"session\" object with the verdict per session)\n"
    "      --summary          one line per session: client, server, outcome, stage, code\n"
    "      --show-secrets     show decoded passwords and tokens (masked by default)\n"
    "      --color WHEN       auto (default: only on a terminal), always, never\n"
    "  -v, --stats            print capture and reassembly counters on stderr at the end\n"
    "Limits:\n"
    "      --max-line N       longest SMTP line kept, in bytes (default 4096)\n"
    "      --max-flows N      concurrent TCP connections tracked (default 32768)\n"
    "      --idle-timeout S   close a connection idle for S seconds of capture time (300)\n"
    "      --max-ooo N        out-of-order bytes queued per direction (default 1048576)\n"
    "      --max-mem N        reassembly bytes queued in all (default 268435456)\n"
    "  -h, --help             this help\n"
    "  -V, --version          version\n"
    "\n"
    "Exit status: 0 success (live: also when stopped by SIGINT/SIGTERM), 1 usage error,\n"
    "unreadable input or a live capture that could not start, 2 input damaged part-way\n"
    "(everything before the damage is still reported).\n";

static bool parse_ports(const char *list, GArray *ports, GError **err)
{
    g_array_set_size(ports, 0);
    gchar **parts = g_strsplit(list, ",", -1);
    bool ok = true;
    for (gchar **p = parts; *p; p++) {
        char *end;
        errno = 0;
        unsigned long v = strtoul(*p, &end, 10);
        if (**p == 0 || *end || errno || v == 0 || v > 65535) {
            g_set_error(err, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "bad port \"%s\" in --ports", *p);
            ok = false;
            break;
        }
        uint16_t port = (uint16_t)v;
        g_array_append_val(ports, port);
    }
    g_strfreev(parts);
    if (ok && ports->len == 0) {
        g_set_error(err, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "--ports needs at least one port");
        ok = false;
    }
    return ok;
}

static bool parse_size(const char *name, const char *v, size_t *out, GError **err)
{
    char *end;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (!*v || *end || errno || n == 0) {
        g_set_error(err, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "bad value \"%s\" for --%s", v, name);
        return false;
    }
    *out = (size_t)n;
    return true;
}

enum { OPT_JSON = 256, OPT_SUMMARY, OPT_SECRETS, OPT_COLOR, OPT_MAX_LINE, OPT_MAX_FLOWS, OPT_IDLE,
       OPT_PROMISC, OPT_MAX_OOO, OPT_MAX_MEM };

static bool parse_args(int argc, char **argv, options *o, GError **err)
{
    static const struct option longopts[] = {
        { "read", required_argument, NULL, 'r' },  { "ports", required_argument, NULL, 'p' },
        { "filter", required_argument, NULL, 'f' }, { "json", no_argument, NULL, OPT_JSON },
        { "summary", no_argument, NULL, OPT_SUMMARY },
        { "show-secrets", no_argument, NULL, OPT_SECRETS },
        { "color", required_argument, NULL, OPT_COLOR },
        { "colour", required_argument, NULL, OPT_COLOR },
        { "stats", no_argument, NULL, 'v' },
        { "max-line", required_argument, NULL, OPT_MAX_LINE },
        { "max-flows", required_argument, NULL, OPT_MAX_FLOWS },
        { "idle-timeout", required_argument, NULL, OPT_IDLE },
        { "max-ooo", required_argument, NULL, OPT_MAX_OOO },
        { "max-mem", required_argument, NULL, OPT_MAX_MEM },
        { "interface", required_argument, NULL, 'i' },
        { "write", required_argument, NULL, 'w' },
        { "count", required_argument, NULL, 'c' },
        { "user", required_argument, NULL, 'Z' },
        { "promisc", no_argument, NULL, OPT_PROMISC },
        { "list-interfaces", no_argument, NULL, 'D' },
        { "help", no_argument, NULL, 'h' },        { "version", no_argument, NULL, 'V' },
        { NULL, 0, NULL, 0 },
    };
    int c;
    size_t v;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":r:p:f:i:w:c:Z:DvhV", longopts, NULL)) != -1) {
        switch (c) {
        case 'r': g_ptr_array_add(o->files, optarg); break;
        case 'p':
            if (!parse_ports(optarg, o->ports, err)) return false;
            o->ports_given = true;
            break;
        case 'f': o->filter = optarg; break;
        case OPT_JSON: o->rep.format = FMT_JSON; break;
        case OPT_SUMMARY: o->rep.format = FMT_SUMMARY; break;
        case OPT_SECRETS: o->rep.show_secrets = true; break;
        case OPT_COLOR:
            if (strcmp(optarg, "auto") && strcmp(optarg, "always") && strcmp(optarg, "never")) {
                g_set_error(err, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                            "--color takes auto, always or never");
                return false;
            }
            o->color = optarg;
            break;
        case 'v': o->stats = true; break;
        case 'i': o->iface = optarg; break;
        case 'w': o->write_file = optarg; break;
        case 'c':
            if (!parse_size("count", optarg, &v, err)) return false;
            o->count = v;
            break;
        case 'Z': o->user = optarg; break;
        case OPT_PROMISC: o->promisc = true; break;
        case 'D': o->list_ifaces = true; break;
        case OPT_MAX_LINE: if (!parse_size("max-line", optarg, &o->rep.max_line, err)) return false; break;
        case OPT_MAX_FLOWS: if (!parse_size("max-flows", optarg, &o->eng.max_flows, err)) return false; break;
        case OPT_MAX_OOO: if (!parse_size("max-ooo", optarg, &o->eng.max_ooo_bytes, err)) return false; break;
        case OPT_MAX_MEM: if (!parse_size("max-mem", optarg, &o->eng.max_mem, err)) return false; break;
        case OPT_IDLE:
            if (!parse_size("idle-timeout", optarg, &v, err)) return false;
            o->eng.idle_timeout_us = (int64_t)v * 1000000;
            break;
        case 'h': fputs(usage_text, stdout); exit(EXIT_OK);
        case 'V': printf("smtpcap %s\n", smtpcap_version()); exit(EXIT_OK);
        case ':':
            g_set_error(err, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE, "option %s needs a value",
                        argv[optind - 1]);
            return false;
        default:
            g_set_error(err, G_OPTION_ERROR, G_OPTION_ERROR_UNKNOWN_OPTION, "unknown option %s",
                        argv[optind - 1]);
            return false;
        }
    }
    for (int i = optind; i < argc; i++) g_ptr_array_add(o->files, argv[i]);
    if (o->list_ifaces) return true;
    if (o->iface && o->files->len) {
        g_set_error(err, G_OPTION_ERROR, G_OPTION_ERROR_FAILED, "-i and -r cannot be combined");
        return false;
    }
    if (!o->iface && (o->write_file || o->count || o->user || o->promisc)) {
        g_set_error(err, G_OPTION_ERROR, G_OPTION_ERROR_FAILED, "-w, -c, -Z and --promisc need -i");
        return false;
    }
    if (o->files->len == 0 && !o->iface) {
        g_set_error(err, G_OPTION_ERROR, G_OPTION_ERROR_FAILED, "no input: give a capture with -r FILE");
        return false;
    }
    return true;
}

static void print_stats(const char *path, const tcp_engine_stats *s, const capture_stats *cs,
                        const report_totals *t)
{
    fprintf(stderr,
            "%s: %" G_GUINT64_FORMAT " packets (%" G_GUINT64_FORMAT " TCP on SMTP ports, %"
            G_GUINT64_FORMAT " skipped, %" G_GUINT64_FORMAT " malformed, %" G_GUINT64_FORMAT
            " snaplen-cut)\n",
            path, cs->packets, s->tcp_packets, s->skipped, s->malformed, s->snaplen_cut);
    fprintf(stderr,
            "  flows %" G_GUINT64_FORMAT " (evicted %" G_GUINT64_FORMAT ", timed out %" G_GUINT64_FORMAT
            "), retransmissions %" G_GUINT64_FORMAT ", overlaps %" G_GUINT64_FORMAT " (%" G_GUINT64_FORMAT
            " conflicting), out-of-order %" G_GUINT64_FORMAT ", held for the other direction %"
            G_GUINT64_FORMAT ", gaps %" G_GUINT64_FORMAT " (%" G_GUINT64_FORMAT " bytes missing)\n",
            s->flows, s->evicted, s->timeouts, s->retransmissions, s->overlaps,
            s->overlap_conflicts, s->ooo_segments, s->held_segments, s->gaps, s->gap_bytes);
    fprintf(stderr, "  sessions %" G_GUINT64_FORMAT "%s", t->sessions, t->sessions ? ":" : "");
    for (int i = 0; i <= SMTPCAP_OUTCOME_ENCRYPTED; i++)
        if (t->outcomes[i])
            fprintf(stderr, " %s %" G_GUINT64_FORMAT, smtpcap_outcome_name((smtpcap_outcome_status)i),
                    t->outcomes[i]);
    fprintf(stderr, "; messages %" G_GUINT64_FORMAT " (%" G_GUINT64_FORMAT " accepted); "
            "truncated lines %" G_GUINT64_FORMAT "\n",
            t->messages, t->accepted_messages, t->truncated_lines);
}

static void print_file_stats(const char *what, const options *o, const report *rep,
                             const report_totals *before, tcp_engine *e, const capture_stats *cs)
{
    if (!o->stats) return;
    report_totals t = rep->totals;
    for (int k = 0; k <= SMTPCAP_OUTCOME_ENCRYPTED; k++) t.outcomes[k] -= before->outcomes[k];
    t.sessions -= before->sessions;
    t.messages -= before->messages;
    t.accepted_messages -= before->accepted_messages;
    t.truncated_lines -= before->truncated_lines;
    print_stats(what, tcp_engine_get_stats(e), cs, &t);
}

static int run_files(options *o, report *rep)
{
    report_init(rep, &o->rep);
    int status = EXIT_OK;
    GError *err = NULL;
    for (guint i = 0; i < o->files->len; i++) {
        const char *path = g_ptr_array_index(o->files, i);
        report_totals before = rep->totals;
        tcp_engine *e = tcp_engine_new(&o->eng, &report_engine_ops, rep);
        capture_stats cs = { 0 };
        if (!capture_read_file(path, o->filter, e, &cs, &err)) {
            fflush(stdout);
            fprintf(stderr, "smtpcap: %s\n", err->message);
            int code = err->code == CAPTURE_ERROR_DAMAGED ? EXIT_DAMAGED : EXIT_USAGE;
            if (code > status) status = code;
            g_clear_error(&err);
        }
        fflush(stdout);
        print_file_stats(path, o, rep, &before, e, &cs);
        tcp_engine_free(e);
    }
    return status;
}

typedef struct live_glue {
    tcp_engine *e;
    report *rep;
} live_glue;

static void live_tick(void *ctx, int64_t now_us, uint64_t new_drops)
{
    live_glue *g = ctx;
    /* Idle sessions end by the clock too, not only when the next packet arrives. */
    tcp_engine_tick(g->e, now_us);
    if (new_drops) {
        char *w = g_strdup_printf("the capture lost %" G_GUINT64_FORMAT " packet(s) (kernel or "
                                  "interface drops) while this session was open: parts may be "
                                  "missing", new_drops);
        report_warn_open(g->rep, w);
        g_free(w);
    }
}

/* Live capture: the capture filter is the SMTP ports (with or without VLAN tags), narrowed
 * by -f. */
static int run_live(options *o, report *rep)
{
    GString *f = g_string_new(NULL);
    for (guint i = 0; i < o->ports->len; i++)
        g_string_append_printf(f, "%stcp port %u", i ? " or " : "", g_array_index(o->ports, uint16_t, i));
    o->rep.stream = true;
    o->rep.detect = false;
    o->eng.ports = (const uint16_t *)(void *)o->ports->data;
    o->eng.nports = o->ports->len;
    setvbuf(stdout, NULL, _IOLBF, 0);
    report_init(rep, &o->rep);
    tcp_engine *e = tcp_engine_new(&o->eng, &report_engine_ops, rep);
    live_glue g = { e, rep };
    live_options lo = { .iface = o->iface, .ports_expr = f->str, .filter = o->filter,
                        .write_file = o->write_file,
                        .count = o->count, .user = o->user, .promisc = o->promisc,
                        .tick = live_tick, .ctx = &g };
    capture_stats cs = { 0 };
    GError *err = NULL;
    report_totals before = rep->totals;
    int status = EXIT_OK;
    if (!capture_live(&lo, e, &cs, &err)) {
        fflush(stdout);
        fprintf(stderr, "smtpcap: %s\n", err->message);
        g_clear_error(&err);
        status = EXIT_USAGE;
    }
    fflush(stdout);
    if (cs.received || status == EXIT_OK)
        fprintf(stderr, "smtpcap: %" G_GUINT64_FORMAT " packets captured, %" G_GUINT64_FORMAT
                " received by filter, %" G_GUINT64_FORMAT " dropped by kernel, %" G_GUINT64_FORMAT
                " dropped by interface\n", cs.packets, cs.received, cs.kernel_dropped, cs.if_dropped);
    print_file_stats(o->iface, o, rep, &before, e, &cs);
    tcp_engine_free(e);
    g_string_free(f, TRUE);
    return status;
}

static int run(options *o)
{
    GError *err = NULL;
    if (o->list_ifaces) {
        if (!capture_list_interfaces(stdout, &err)) {
            fprintf(stderr, "smtpcap: %s\n", err->message);
            g_error_free(err);
            return EXIT_USAGE;
        }
        return EXIT_OK;
    }
    static char outbuf[1 << 16];
    setvbuf(stdout, outbuf, _IOFBF, sizeof outbuf);
    o->rep.out = stdout;
    o->rep.color = strcmp(o->color, "always") == 0 ||
                   (strcmp(o->color, "auto") == 0 && isatty(STDOUT_FILENO) && o->rep.format != FMT_JSON);
    /* Without -p, connections on other ports are probed by content and decoded when they
     * carry SMTP (aiosmtpd listens on 8025, test setups on anything). With -p, only the
     * ports given are SMTP. */
    o->rep.ports = (const uint16_t *)(void *)o->ports->data;
    o->rep.nports = o->ports->len;
    o->rep.detect = !o->ports_given;
    if (o->ports_given) {
        o->eng.ports = o->rep.ports;
        o->eng.nports = o->rep.nports;
    }
    report rep;
    int status = o->iface ? run_live(o, &rep) : run_files(o, &rep);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "smtpcap: error writing output: %s\n", g_strerror(errno));
        if (status == EXIT_OK) status = EXIT_USAGE;
    }
    report_free(&rep);
    return status;
}

int main(int argc, char **argv)
{
    static const uint16_t default_ports[] = { 25, 465, 587, 2525 };
    options o = { 0 };
    o.files = g_ptr_array_new();
    o.ports = g_array_new(FALSE, FALSE, sizeof(uint16_t));
    g_array_append_vals(o.ports, default_ports, G_N_ELEMENTS(default_ports));
    o.color = "auto";
    /* 32768 concurrent connections: far above a busy relay's, and with the decoder's ~2 KiB
     * per connection it keeps a flood of never-finished connections under 128 MB. */
    o.eng.max_flows = 32768;
    GError *err = NULL;
    int status;
    if (!parse_args(argc, argv, &o, &err)) {
        fprintf(stderr, "smtpcap: %s\nTry 'smtpcap --help'.\n", err->message);
        g_error_free(err);
        status = EXIT_USAGE;
    } else {
        status = run(&o);
    }
    g_ptr_array_free(o.files, TRUE);
    g_array_free(o.ports, TRUE);
    return status;
}
