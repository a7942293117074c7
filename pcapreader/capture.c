/* libpcap input. Timestamps are asked for in microseconds, so nanosecond files are read
 * the same way as microsecond ones. */
#include <errno.h>
#include <grp.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "capture.h"
#include "pcapng.h"

G_DEFINE_QUARK(smtpcap-capture-error-quark, capture_error)

static const char *display_name(const char *path)
{
    return strcmp(path, "-") == 0 ? "(standard input)" : path;
}

static bool apply_filter(pcap_t *p, const char *path, const char *filter, GError **err)
{
    struct bpf_program prog;
    if (pcap_compile(p, &prog, filter, 1, PCAP_NETMASK_UNKNOWN) < 0) {
        g_set_error(err, CAPTURE_ERROR, CAPTURE_ERROR_FILTER, "bad filter expression \"%s\": %s",
                    filter, pcap_geterr(p));
        return false;
    }
    int rc = pcap_setfilter(p, &prog);
    pcap_freecode(&prog);
    if (rc < 0) {
        g_set_error(err, CAPTURE_ERROR, CAPTURE_ERROR_FILTER, "%s: cannot set filter: %s",
                    display_name(path), pcap_geterr(p));
        return false;
    }
    return true;
}

bool capture_read_file(const char *path, const char *filter, tcp_engine *e, capture_stats *st,
                       GError **err)
{
    /* pcapng goes to our own reader (libpcap refuses interfaces of different link types);
     * everything else to libpcap, whose messages say what is wrong with a non-capture. The
     * peeked stream replays the first bytes, so stdin works without seeking. */
    bool is_pcapng;
    FILE *in = pcapng_open_peek(path, &is_pcapng);
    if (in && is_pcapng) {
        bool ok = pcapng_read(in, display_name(path), filter, e, st, err);
        fclose(in);
        return ok;
    }
    char errbuf[PCAP_ERRBUF_SIZE] = "";
    pcap_t *p = in ? pcap_fopen_offline_with_tstamp_precision(in, PCAP_TSTAMP_PRECISION_MICRO, errbuf)
                   : pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_MICRO, errbuf);
    if (!p) {
        if (in) fclose(in);
        g_set_error(err, CAPTURE_ERROR, CAPTURE_ERROR_OPEN, "%s: %s", display_name(path), errbuf);
        return false;
    }
    int lt = pcap_datalink(p);
    if (!tcp_engine_linktype_supported(lt)) {
        const char *name = pcap_datalink_val_to_name(lt);
        g_set_error(err, CAPTURE_ERROR, CAPTURE_ERROR_OPEN, "%s: link type %d (%s) is not supported",
                    display_name(path), lt, name ? name : "unknown");
        pcap_close(p);
        return false;
    }
    if (filter && *filter && !apply_filter(p, path, filter, err)) {
        pcap_close(p);
        return false;
    }
    struct pcap_pkthdr *h;
    const u_char *data;
    int rc;
    int64_t last_ts = 0;
    while ((rc = pcap_next_ex(p, &h, &data)) == 1) {
        int64_t ts = (int64_t)h->ts.tv_sec * 1000000 + h->ts.tv_usec;
        last_ts = ts;
        st->packets++;
        if (!tcp_engine_packet(e, lt, data, h->caplen, h->len, ts)) st->unsupported_linktype++;
    }
    bool ok = true;
    if (rc == -1) {
        /* Everything read so far is still decoded and reported. */
        g_set_error(err, CAPTURE_ERROR, CAPTURE_ERROR_DAMAGED, "%s: damaged after packet %" G_GUINT64_FORMAT
                    ": %s", display_name(path), st->packets, pcap_geterr(p));
        ok = false;
    }
    tcp_engine_finish(e, last_ts);
    pcap_close(p);
    return ok;
}

/* ---- live capture ---------------------------------------------------------------------- */

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static const char *perm_advice(void)
{
    return "capturing needs root or the capabilities CAP_NET_RAW and CAP_NET_ADMIN: run as root, "
           "or once: setcap cap_net_raw,cap_net_admin=eip $(command -v smtpcap)";
}

static pcap_t *open_live(const live_options *lo, GError **err)
{
    char errbuf[PCAP_ERRBUF_SIZE] = "";
    pcap_t *p = pcap_create(lo->iface, errbuf);
    if (!p) {
        g_set_error(err, CAPTURE_ERROR, CAPTURE_ERROR_LIVE, "%s: %s", lo->iface, errbuf);
        return NULL;
    }
    /* Whole segments (loopback MTU is 64 KiB), no batching delay, a roomy kernel buffer. */
    pcap_set_snaplen(p, 262144);
    pcap_set_immediate_mode(p, 1);
    pcap_set_buffer_size(p, 8 * 1024 * 1024);
    pcap_set_promisc(p, lo->promisc ? 1 : 0);
    pcap_set_tstamp_precision(p, PCAP_TSTAMP_PRECISION_MICRO);
    int rc = pcap_activate(p);
    if (rc < 0) {
        const char *why = pcap_geterr(p);
        if (rc == PCAP_ERROR_NO_SUCH_DEVICE)
            g_set_error(err, CAPTURE_ERROR, CAPTURE_ERROR_LIVE,
                        "%s: no such interface (smtpcap -D lists them)", lo->iface);
        else if (rc == PCAP_ERROR_PERM_DENIED)
            g_set_error(err, CAPTURE_ERROR, CAPTURE_ERROR_LIVE, "%s: permission denied: %s",
                        lo->iface, perm_advice());
        else
            g_set_error(err, CAPTURE_ERROR, CAPTURE_ERROR_LIVE, "%s: %s", lo->iface,
                        why && *why ? why : pcap_statustostr(rc));
        pcap_close(p);
        return NULL;
    }
    return p;
}

static bool drop_privileges(const char *user, GError **err)
{
    if (getuid() != 0 && geteuid() != 0) return true;
    struct passwd *pw = getpwnam(user);
    if (!pw) {
        g_set_error(err, CAPTURE_ERROR, CAPTURE_ERROR_LIVE,
                    "cannot drop privileges: no user \"%s\" (choose one with -Z USER)", user);
        return false;
    }
    if (setgroups(0, NULL) != 0 || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0) {
        g_set_error(err, CAPTURE_ERROR, CAPTURE_ERROR_LIVE, "cannot drop privileges to %s: %s",
                    user, g_strerror(errno));
        return false;
    }
    if (pw->pw_uid != 0 && setuid(0) == 0) {
        g_set_error(err, CAPTURE_ERROR, CAPTURE_ERROR_LIVE, "dropping privileges to %s failed", user);
        return false;
    }
    return true;
}

typedef struct {
    tcp_engine *e;
    pcap_dumper_t *dump;
    capture_stats *st;
    int linktype;
    uint64_t count;
} live_ctx;

static void on_packet(u_char *user, const struct pcap_pkthdr *h, const u_char *data)
{
    live_ctx *c = (live_ctx *)(void *)user;
    if (c->dump) pcap_dump((u_char *)c->dump, h, data);
    int64_t ts = (int64_t)h->ts.tv_sec * 1000000 + h->ts.tv_usec;
    c->st->packets++;
    if (!tcp_engine_packet(c->e, c->linktype, data, h->caplen, h->len, ts))
        c->st->unsupported_linktype++;
}

static void read_pcap_stats(pcap_t *p, capture_stats *st)
{
    struct pcap_stat ps;
    if (pcap_stats(p, &ps) == 0) {
        st->received = ps.ps_recv;
        st->kernel_dropped = ps.ps_drop;
        st->if_dropped = ps.ps_ifdrop;
    }
}

bool capture_live(const live_options *lo, tcp_engine *e, capture_stats *st, GError **err)
{
    pcap_t *p = open_live(lo, err);
    if (!p) return false;
    int lt = pcap_datalink(p);
    if (!tcp_engine_linktype_supported(lt)) {
        g_set_error(err, CAPTURE_ERROR, CAPTURE_ERROR_LIVE, "%s: link type %d (%s) is not supported",
                    lo->iface, lt, pcap_datalink_val_to_name(lt) ? pcap_datalink_val_to_name(lt) : "?");
        pcap_close(p);
        return false;
    }
    /* 802.1Q tags exist only on Ethernet: "vlan" does not even compile on Linux cooked
     * captures (-i any). */
    GString *f = g_string_new(NULL);
    if (lo->ports_expr && *lo->ports_expr) {
        if (lt == DLT_EN10MB)
            g_string_printf(f, "(%s) or (vlan and (%s))", lo->ports_expr, lo->ports_expr);
        else
            g_string_printf(f, "(%s)", lo->ports_expr);
    }
    if (lo->filter && *lo->filter) {
        if (f->len) {
            g_string_prepend(f, "(");
            g_string_append_printf(f, ") and (%s)", lo->filter);
        } else {
            g_string_append(f, lo->filter);
        }
    }
    bool fok = f->len == 0 || apply_filter(p, lo->iface, f->str, err);
    g_string_free(f, TRUE);
    if (!fok) {
        pcap_close(p);
        return false;
    }
    live_ctx c = { .e = e, .st = st, .linktype = lt };
    if (lo->write_file) {
        c.dump = pcap_dump_open(p, lo->write_file);
        if (!c.dump) {
            g_set_error(err, CAPTURE_ERROR, CAPTURE_ERROR_LIVE, "%s: %s", lo->write_file, pcap_geterr(p));
            pcap_close(p);
            return false;
        }
    }
    if (!drop_privileges(lo->user ? lo->user : "nobody", err)) {
        if (c.dump) pcap_dump_close(c.dump);
        pcap_close(p);
        return false;
    }
    struct sigaction sa = { .sa_handler = on_signal };
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    pcap_setnonblock(p, 1, NULL);
    fprintf(stderr, "smtpcap: listening on %s, link type %s\n", lo->iface,
            pcap_datalink_val_to_name(lt) ? pcap_datalink_val_to_name(lt) : "?");
    int fd = pcap_get_selectable_fd(p);
    int64_t next_tick = 0;
    uint64_t drops_seen = 0;
    while (!stop_requested && (!lo->count || st->packets < lo->count)) {
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        poll(&pfd, 1, 250);
        int want = lo->count ? (int)MIN(lo->count - st->packets, (uint64_t)INT32_MAX) : -1;
        if (pcap_dispatch(p, want, on_packet, (u_char *)&c) < 0) {
            g_set_error(err, CAPTURE_ERROR, CAPTURE_ERROR_LIVE, "%s: %s", lo->iface, pcap_geterr(p));
            break;
        }
        int64_t now = g_get_real_time();
        if (now >= next_tick) {
            next_tick = now + 1000000;
            if (c.dump) pcap_dump_flush(c.dump);
            read_pcap_stats(p, st);
            uint64_t drops = st->kernel_dropped + st->if_dropped;
            if (lo->tick) lo->tick(lo->ctx, now, drops - drops_seen);
            drops_seen = drops;
        }
    }
    read_pcap_stats(p, st);
    uint64_t drops = st->kernel_dropped + st->if_dropped;
    if (lo->tick && drops > drops_seen) lo->tick(lo->ctx, g_get_real_time(), drops - drops_seen);
    tcp_engine_finish(e, g_get_real_time());
    if (c.dump) pcap_dump_close(c.dump);
    pcap_close(p);
    return !(err && *err);
}

bool capture_list_interfaces(FILE *out, GError **err)
{
    char errbuf[PCAP_ERRBUF_SIZE] = "";
    pcap_if_t *all = NULL;
    if (pcap_findalldevs(&all, errbuf) != 0) {
        g_set_error(err, CAPTURE_ERROR, CAPTURE_ERROR_LIVE, "cannot list interfaces: %s", errbuf);
        return false;
    }
    int n = 0;
    for (pcap_if_t *d = all; d; d = d->next)
        fprintf(out, "%d.%s%s%s%s\n", ++n, d->name, d->description ? " (" : "",
                d->description ? d->description : "", d->description ? ")" : "");
    pcap_freealldevs(all);
    return true;
}
