/* Our own pcapng reader (draft-ietf-opsawg-pcapng), streaming from a FILE*.
 *
 * Why not libpcap: libpcap 1.10 refuses a pcapng whose interfaces have different link types
 * ("an interface has a type ... different from the type of the first interface") at the
 * first such interface, so every session after that point would be lost. mergecap writes
 * exactly such files when it merges an Ethernet capture with a Linux-cooked one. The TCP
 * engine takes a link type per packet, so nothing stops us from decoding them all.
 *
 * Read: Section Header Blocks (either byte order, any number of sections), Interface
 * Description Blocks (link type, snaplen, if_tsresol, if_tsoffset), Enhanced, Simple and
 * Obsolete (type 2) Packet Blocks. Every other block is skipped by its length without being
 * held in memory. Every length is checked before anything is allocated or read on its word.
 * The stream is read strictly forward (stdin works; nothing seeks).
 */
#ifndef SMTPCAP_PCAPNG_H
#define SMTPCAP_PCAPNG_H

#include <stdbool.h>
#include <stdio.h>

#include <glib.h>

#include "capture.h"
#include "tcpengine.h"

/* The first four bytes of every pcapng file (the Section Header Block type). The value reads
 * the same in both byte orders. */
#define PCAPNG_SHB_MAGIC 0x0A0D0D0Au

/* Blocks we read into memory (SHB, IDB and the packet blocks) may be at most this long:
 * Wireshark's own limit, and 60 times the largest packet libpcap ever captures. */
#define PCAPNG_MAX_PARSED_BLOCK (16u * 1024 * 1024)
/* Any block at all, skipped ones included (they are streamed past, never held whole). */
#define PCAPNG_MAX_BLOCK (256u * 1024 * 1024)

/* True if the four bytes are the pcapng magic. */
bool pcapng_is_magic(const unsigned char first4[4]);

/* Opens path ("-" = standard input) for reading and peeks at its first four bytes; the
 * returned stream still yields them (a read-only fopencookie() stream that replays the peeked
 * bytes, then reads on, so nothing is ever sought and stdin works). *is_pcapng tells whether
 * they were the pcapng magic. Closing the stream closes the file, but never stdin. Returns
 * NULL if the file cannot be opened (errno is set): the caller then lets libpcap say why. */
FILE *pcapng_open_peek(const char *path, bool *is_pcapng);

/* Reads a whole pcapng stream into the engine, then finishes the engine (open flows are
 * flushed at the last packet's time). name is the file name used in messages. filter, when
 * not NULL or empty, is a BPF expression compiled for each interface's link type and applied
 * to each packet. Packets on an interface whose link type the engine cannot decode are
 * counted in st->unsupported_linktype and skipped.
 *
 * Returns true at a clean end of the stream. Otherwise, with every good packet before the
 * problem already pushed, returns false and sets *err:
 *   CAPTURE_ERROR_OPEN    not pcapng, a broken first section header, or no interface in the
 *                         file has a link type the engine can decode
 *   CAPTURE_ERROR_FILTER  the filter does not compile for an interface's link type
 *   CAPTURE_ERROR_DAMAGED truncated or invalid past the first section header; the message
 *                         names the file, the block's byte offset and what was wrong. */
bool pcapng_read(FILE *f, const char *name, const char *filter, tcp_engine *e,
                 capture_stats *st, GError **err);

#endif
