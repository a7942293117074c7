/* libpcap input. Timestamps are asked for in microseconds, so nanosecond files are read
 * the same way as microsecond ones. */
#include <pcap/pcap.h>
#include <string.h>

#include "capture.h"

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
    char errbuf[PCAP_ERRBUF_SIZE] = "";
    pcap_t *p = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_MICRO, errbuf);
    if (!p) {
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
