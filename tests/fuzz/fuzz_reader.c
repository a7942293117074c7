/* libFuzzer target: the whole reader. The input is a capture file (pcap or pcapng), read
 * through libpcap into a TCP engine whose consumer is report.c (one decoder
 * session per connection, rendered by a formatter into /dev/null). This exercises link, IP
 * and TCP parsing, reassembly and its limits, the glue with its content detection, the
 * decoder and the three formatters. The file is read by capture_read_file() through a
 * memfd, exactly as the CLI reads a file.
 *
 * The options come from the input's length (size % 24), so that a file from captures/ is a
 * seed as it is and byte mutations keep the options of the input they mutate:
 *   format   size % 3: text, json, summary
 *   ports    (size / 3) % 2: 0 = every port, probed by content (smtpcap_detect) as when no -p
 *            is given; 1 = only 25, 465, 587, 2525 (-p)
 *   idle     (size / 6) % 2: 1 = a 2 s idle timeout (the timeout path on any capture)
 *   misc     (size / 12) % 2: 1 = colour, show secrets, a 64-byte line limit, streaming
 *            output, a report-wide warning after the fifth data callback and the BPF filter "tcp"
 * The engine's limits are small (64 flows, 64 KiB out-of-order per direction, 1 MiB in
 * all) so that eviction and the queue caps are reached by inputs of fuzzer size. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "capture.h"
#include "report.h"
#include "tcpengine.h"

static FILE *devnull(void)
{
    static FILE *f;
    if (!f) f = fopen("/dev/null", "w");
    if (!f) abort();
    return f;
}

/* The input as a file that capture_read_file() can open by name: the real reading loop
 * (timestamps, link type check, damaged-file handling) is fuzzed, not a copy of it. */
static const char *input_path(const uint8_t *data, size_t size)
{
    static int fd = -1;
    static char path[64];
    if (fd < 0) {
        fd = memfd_create("fuzz_reader", 0);
        if (fd < 0) abort();
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    }
    if (ftruncate(fd, 0) != 0 || pwrite(fd, data, size, 0) != (ssize_t)size) abort();
    return path;
}

/* report_engine_ops with one addition: after the fifth data callback, a warning to every
 * open session (as main() does when the kernel drops packets during a live capture). */
typedef struct warn_ctx {
    report *rep;
    unsigned data_calls;
    bool warn;
} warn_ctx;

static void *w_open(void *ctx, const tcp_flow_info *fi)
{
    return report_engine_ops.open(((warn_ctx *)ctx)->rep, fi);
}

static void w_data(void *ctx, void *flow, int dir, const uint8_t *p, size_t n, int64_t ts)
{
    warn_ctx *w = ctx;
    report_engine_ops.data(w->rep, flow, dir, p, n, ts);
    if (++w->data_calls == 5 && w->warn) report_warn_open(w->rep, "the kernel dropped 3 packets");
}

static void w_gap(void *ctx, void *flow, int dir, uint64_t bytes, int64_t ts)
{
    report_engine_ops.gap(((warn_ctx *)ctx)->rep, flow, dir, bytes, ts);
}

static void w_close(void *ctx, void *flow, smtpcap_end_reason why, int64_t ts)
{
    report_engine_ops.close(((warn_ctx *)ctx)->rep, flow, why, ts);
}

static const tcp_engine_ops warn_ops = { w_open, w_data, w_gap, w_close };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint16_t smtp_ports[] = { 25, 465, 587, 2525 };
    static const report_format formats[] = { FMT_TEXT, FMT_JSON, FMT_SUMMARY };
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

    report rep;
    report_init(&rep, &ro);
    warn_ctx w = { &rep, 0, misc };
    tcp_engine *e = tcp_engine_new(&ec, &warn_ops, &w);
    capture_stats cs = { 0 };
    GError *err = NULL;
    const char *filter = misc ? "tcp" : NULL;
    if (!capture_read_file(input_path(data, size), filter, e, &cs, &err)) g_clear_error(&err);
    tcp_engine_free(e);
    report_free(&rep);
    return 0;
}
