/*
 * echo_client: the echo benchmark's load client in C, so that the load generator costs less
 * CPU than the server it measures (the Python client costs about twice the server's CPU per
 * request, and on a small machine the clients then bound the request rate, not the server).
 *
 * The same protocol as load_client() in benches/rsbench/echo.py, so the engine can start
 * it in its place (--load-client PATH):
 *
 *     echo_client PORTS START SLOTS SIZE
 *
 * PORTS  comma-separated ports of echo servers on 127.0.0.1 (one connection to each, made
 *        before START, TCP_NODELAY)
 * START  wall-clock start time, seconds since the epoch (a float)
 * SLOTS  JSON list of [server_index, end_offset_seconds] pairs: during slot i (until
 *        START + end_offset) the client talks only to server server_index
 * SIZE   bytes per message: send SIZE bytes, read until SIZE bytes came back, repeat
 *
 * Prints {"counts": [requests per slot]} on stdout and exits 0; on any error prints a line
 * on stderr and exits 1.
 *
 * Build: gcc -O2 -o echo_client benches/loadgen/echo_client.c
 */

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_PORTS 16
#define MAX_SLOTS 4096

static void fail(const char *what)
{
    fprintf(stderr, "echo_client: %s: %s\n", what, errno ? strerror(errno) : "invalid input");
    exit(1);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int connect_to(int port)
{
    struct sockaddr_in addr;
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        fail("socket");
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0)
        fail("connect");
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0)
        fail("setsockopt");
    return fd;
}

/* Sends all of buf; reads until len bytes came back. 0 on success. */
static int round_trip(int fd, const char *msg, char *buf, size_t len, size_t bufsize)
{
    size_t sent = 0, got = 0;
    while (sent < len) {
        ssize_t n = send(fd, msg + sent, len - sent, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        sent += (size_t)n;
    }
    while (got < len) {
        ssize_t n = recv(fd, buf, bufsize, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (n == 0) {
            errno = ECONNRESET;
            return -1;
        }
        got += (size_t)n;
    }
    return 0;
}

int main(int argc, char **argv)
{
    int ports[MAX_PORTS], fds[MAX_PORTS], nports = 0, nslots = 0;
    int slot_index[MAX_SLOTS];
    double slot_end[MAX_SLOTS];
    long long counts[MAX_SLOTS];
    double start;
    size_t size, bufsize = 65536;
    char *msg, *buf, *p, *end;
    int i;

    if (argc != 5) {
        fprintf(stderr, "usage: echo_client PORTS START SLOTS SIZE\n");
        return 2;
    }
    errno = 0;
    for (p = argv[1]; *p;) {
        long port = strtol(p, &end, 10);
        if (end == p || port <= 0 || port > 65535 || nports == MAX_PORTS)
            fail("PORTS");
        ports[nports++] = (int)port;
        p = (*end == ',') ? end + 1 : end;
        if (*end && *end != ',')
            fail("PORTS");
    }
    start = strtod(argv[2], &end);
    if (end == argv[2] || *end)
        fail("START");
    /* The numbers of the JSON list, taken in pairs: [[i, t], [i, t], ...] */
    for (p = argv[3]; *p;) {
        double index, t;
        while (*p && !(*p == '-' || *p == '.' || (*p >= '0' && *p <= '9')))
            p++;
        if (!*p)
            break;
        index = strtod(p, &end);
        if (end == p)
            fail("SLOTS");
        p = end;
        while (*p && !(*p == '-' || *p == '.' || (*p >= '0' && *p <= '9')))
            p++;
        t = strtod(p, &end);
        if (end == p || nslots == MAX_SLOTS || index < 0 || index >= nports)
            fail("SLOTS");
        p = end;
        slot_index[nslots] = (int)index;
        slot_end[nslots] = t;
        nslots++;
    }
    size = (size_t)strtoul(argv[4], &end, 10);
    if (end == argv[4] || *end || size == 0)
        fail("SIZE");
    if (size > bufsize)
        bufsize = size;
    msg = malloc(size);
    buf = malloc(bufsize);
    if (!msg || !buf)
        fail("malloc");
    memset(msg, 'x', size);

    for (i = 0; i < nports; i++)
        fds[i] = connect_to(ports[i]);
    {
        double delay = start - now();
        if (delay > 0) {
            struct timespec ts;
            ts.tv_sec = (time_t)delay;
            ts.tv_nsec = (long)((delay - (double)ts.tv_sec) * 1e9);
            while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
        }
    }
    for (i = 0; i < nslots; i++) {
        int fd = fds[slot_index[i]];
        double until = start + slot_end[i];
        long long count = 0;
        while (now() < until) {
            if (round_trip(fd, msg, buf, size, bufsize) < 0)
                fail("echo");
            count++;
        }
        counts[i] = count;
    }
    for (i = 0; i < nports; i++)
        close(fds[i]);
    printf("{\"counts\": [");
    for (i = 0; i < nslots; i++)
        printf(i ? ", %lld" : "%lld", counts[i]);
    printf("]}\n");
    free(msg);
    free(buf);
    return 0;
}
