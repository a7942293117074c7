/* Baseline for the benchmark: the cheapest possible full read of a capture with libpcap.
 * Opens the file, fetches every packet with pcap_next_ex and touches its caplen (summed so
 * that the loop cannot be optimised away), nothing else.
 *
 *   cc -O2 -o pcapread pcapread.c -lpcap && ./pcapread FILE
 */
#include <pcap/pcap.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    char err[PCAP_ERRBUF_SIZE];
    struct pcap_pkthdr *h;
    const unsigned char *data;
    unsigned long long packets = 0, bytes = 0;
    int rc;

    if (argc != 2) {
        fprintf(stderr, "usage: %s FILE\n", argv[0]);
        return 1;
    }
    pcap_t *p = pcap_open_offline(argv[1], err);
    if (!p) {
        fprintf(stderr, "pcapread: %s\n", err);
        return 1;
    }
    while ((rc = pcap_next_ex(p, &h, &data)) == 1) {
        packets++;
        bytes += h->caplen;
    }
    if (rc == PCAP_ERROR) {
        fprintf(stderr, "pcapread: %s\n", pcap_geterr(p));
        pcap_close(p);
        return 2;
    }
    pcap_close(p);
    printf("%llu packets, %llu bytes\n", packets, bytes);
    return 0;
}
