/* libFuzzer target: the whole reader. The input is a capture file (pcap or pcapng), read
 * from memory through libpcap into a TCP engine whose consumer is report.c (one decoder
 * session per connection, rendered by a formatter into /dev/null). This exercises link, IP
 * and TCP parsing, reassembly and its limits, the glue with its content detection, the
 * decoder and the three formatters.
 *
 * The options come from the input's length (size % 24), so that a file from captures/ is a
 * seed as it is and byte mutations keep the options of the input they mutate:
 *   format   size % 3: text, json, summary
 *   ports    (size / 3) % 2: 0 = every port, probed by content (smtpcap_detect) as when no -p
 *            is given; 1 = only 25, 465, 587, 2525 (-p)
 *   idle     (size / 6) % 2: 1 = a 2 s idle timeout (the timeout path on any capture)
 *   misc     (size / 12) % 2: 1 = colour, show secrets, a 64-byte line limit, streaming
 *            output and a report-wide warning after the fifth packet
 * The engine's limits are small (64 flows, 64 KiB out-of-order per direction, 1 MiB in
 * all) so that eviction and the queue caps are reached by inputs of fuzzer size. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <pcap/pcap.h>

#include "report.h"
#include "tcpengine.h"

static FILE *devnull(void)
{
    static FILE *f;
    if (!f) f = fopen("/dev/null", "w");
    if (!f) abort();
    return f;
}

/* The same loop as capture_read_file(), over a FILE* instead of a path. */
static void read_capture(pcap_t *p, tcp_engine *e, report *rep, bool warn)
{
    int lt = pcap_datalink(p);
    if (!tcp_engine_linktype_supported(lt)) return;
    struct pcap_pkthdr *h;
    const u_char *pkt;
    int64_t last_ts = 0;
    uint64_t n = 0;
    while (pcap_next_ex(p, &h, &pkt) == 1) {
        int64_t ts = (int64_t)h->ts.tv_sec * 1000000 + h->ts.tv_usec;
        last_ts = ts;
        tcp_engine_packet(e, lt, pkt, h->caplen, h->len, ts);
        if (++n == 5 && warn) report_warn_open(rep, "the kernel dropped 3 packets");
    }
    tcp_engine_finish(e, last_ts);
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
    static const uint16_t smtp_ports[] = { 25, 465, 587, 2525 };
    static const report_format formats[] = { FMT_TEXT, FMT_JSON, FMT_SUMMARY };
    if (size == 0) return 0; /* fmemopen refuses an empty buffer */
    unsigned sel = (unsigned)(size % 24);
    bool only_ports = (sel / 3) % 2, idle = (sel / 6) % 2, misc = (sel / 12) % 2;

    report_options ro = { 0 };
    ro.format = formats[sel % 3];
    ro.color = misc;
    ro.show_secrets = misc;
    ro.stream = misc;
    ro.max_line = misc ? 64 : 0;
    ro.out = devnull();
    ro.ports = smtp_ports;
    ro.nports = sizeof smtp_ports / sizeof smtp_ports[0];
    ro.detect = !only_ports;

    tcp_engine_config ec = { 0 };
    if (only_ports) {
        ec.ports = smtp_ports;
        ec.nports = ro.nports;
    }
    ec.max_flows = 64;
    ec.max_ooo_bytes = 64 * 1024;
    ec.max_mem = 1024 * 1024;
    ec.idle_timeout_us = idle ? 2 * 1000000 : 0;

    FILE *f = fmemopen((void *)data, size, "rb");
    if (!f) return 0;
    char errbuf[PCAP_ERRBUF_SIZE];
    pcap_t *p = pcap_fopen_offline_with_tstamp_precision(f, PCAP_TSTAMP_PRECISION_MICRO, errbuf);
    if (!p) {
        fclose(f); /* libpcap closes it only on success */
        return 0;
    }
    report rep;
    report_init(&rep, &ro);
    tcp_engine *e = tcp_engine_new(&ec, &report_engine_ops, &rep);
    read_capture(p, e, &rep, misc);
    pcap_close(p); /* closes f */
    tcp_engine_free(e);
    report_free(&rep);
    return 0;
}
