/* Capture input through libpcap: files (pcap, pcapng, "-" for stdin) and, later, live
 * interfaces. Pushes every packet into a TCP engine. Errors are GErrors for main() to print. */
#ifndef SMTPCAP_CAPTURE_H
#define SMTPCAP_CAPTURE_H

#include <stdio.h>

#include <glib.h>

#include "tcpengine.h"

#define CAPTURE_ERROR capture_error_quark()
GQuark capture_error_quark(void);

typedef enum {
    CAPTURE_ERROR_OPEN,     /* cannot open / not a capture / unsupported link type */
    CAPTURE_ERROR_FILTER,   /* bad BPF expression */
    CAPTURE_ERROR_DAMAGED,  /* read error part-way: what came before was decoded */
    CAPTURE_ERROR_LIVE      /* live capture: no such interface, permission, privileges */
} capture_error_code;

typedef struct capture_stats {
    uint64_t packets;
    uint64_t unsupported_linktype;
    /* live only, from pcap_stats */
    uint64_t received, kernel_dropped, if_dropped;
} capture_stats;

typedef struct live_options {
    const char *iface;
    const char *ports_expr;  /* "tcp port 25 or ..." (VLAN-tagged too where the link has tags) */
    const char *filter;      /* the user's -f expression, or NULL */
    const char *write_file;  /* -w: raw packets also go here, or NULL */
    uint64_t count;          /* -c: stop after this many packets, 0 = no limit */
    const char *user;        /* drop root privileges to this user ("nobody") */
    bool promisc;
    /* Called about once a second and when the kernel reports new drops (dropped > 0). */
    void (*tick)(void *ctx, int64_t now_us, uint64_t new_drops);
    void *ctx;
} live_options;

/* Reads a whole file into the engine (and finishes the engine). filter may be NULL. */
bool capture_read_file(const char *path, const char *filter, tcp_engine *e, capture_stats *st,
                       GError **err);

/* Captures from an interface until SIGINT/SIGTERM or -c; the engine is finished at the end
 * (open sessions flushed). Privileges are dropped after the interface and the -w file are
 * open, before the first packet is decoded. */
bool capture_live(const live_options *lo, tcp_engine *e, capture_stats *st, GError **err);

/* Prints the interfaces libpcap can capture on (-D). */
bool capture_list_interfaces(FILE *out, GError **err);

#endif
