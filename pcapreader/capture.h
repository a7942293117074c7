/* Capture input through libpcap: files (pcap, pcapng, "-" for stdin) and, later, live
 * interfaces. Pushes every packet into a TCP engine. Errors are GErrors for main() to print. */
#ifndef SMTPCAP_CAPTURE_H
#define SMTPCAP_CAPTURE_H

#include <glib.h>

#include "tcpengine.h"

#define CAPTURE_ERROR capture_error_quark()
GQuark capture_error_quark(void);

typedef enum {
    CAPTURE_ERROR_OPEN,     /* cannot open / not a capture / unsupported link type */
    CAPTURE_ERROR_FILTER,   /* bad BPF expression */
    CAPTURE_ERROR_DAMAGED   /* read error part-way: what came before was decoded */
} capture_error_code;

typedef struct capture_stats {
    uint64_t packets;
    uint64_t unsupported_linktype;
} capture_stats;

/* Reads a whole file into the engine (and finishes the engine). filter may be NULL. */
bool capture_read_file(const char *path, const char *filter, tcp_engine *e, capture_stats *st,
                       GError **err);

#endif
