/*
 * connect_redirect.c - LD_PRELOAD shim for the TLS benchmark (scripts/bench_tls.py).
 *
 * The TLS cells and the plaintext cells read the same Tansu broker, but a broker
 * advertises one address only: Tansu's --advertised-listener-url names the stunnel TLS
 * port, so a plaintext client that bootstraps from Tansu's own port learns the TLS port
 * from Metadata and would speak plaintext to stunnel. The plaintext runs therefore get
 * this shim: it rewrites connect() to 127.0.0.1:<from> (or ::1 / ::ffff:127.0.0.1) into
 * a connect() to the same address on port <to>, so the plaintext clients reach Tansu
 * directly, with no relay on the data path. Nothing else changes (the rewrite happens
 * once per connection, in the connecting call).
 *
 *   cc -shared -fPIC -O2 -o connect_redirect.so bench/connect_redirect.c -ldl
 *   LD_PRELOAD=./connect_redirect.so BENCH_CONNECT_REDIRECT=9093:9092 <program>
 *
 * Each rewrite is reported on stderr ("connect_redirect: port 9093 -> 9092"), so the
 * harness can check that a plaintext run did go around the TLS terminator.
 */

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef int (*connect_fn)(int, const struct sockaddr *, socklen_t);

static int parse_map(unsigned short *from, unsigned short *to) {
        const char *s = getenv("BENCH_CONNECT_REDIRECT");
        unsigned a, b;
        if (!s || sscanf(s, "%u:%u", &a, &b) != 2 || a > 65535 || b > 65535)
                return 0;
        *from = (unsigned short)a;
        *to   = (unsigned short)b;
        return 1;
}

static void report(unsigned from, unsigned to) {
        char line[96];
        int n = snprintf(line, sizeof(line), "connect_redirect: port %u -> %u\n", from, to);
        if (n > 0)
                (void)!write(2, line, (size_t)n);
}

int connect(int fd, const struct sockaddr *addr, socklen_t len) {
        static connect_fn real;
        unsigned short from, to;
        if (!real)
                real = (connect_fn)dlsym(RTLD_NEXT, "connect");
        if (addr && parse_map(&from, &to)) {
                if (addr->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
                        struct sockaddr_in in;
                        memcpy(&in, addr, sizeof(in));
                        if (ntohl(in.sin_addr.s_addr) == INADDR_LOOPBACK &&
                            ntohs(in.sin_port) == from) {
                                in.sin_port = htons(to);
                                report(from, to);
                                return real(fd, (const struct sockaddr *)&in, sizeof(in));
                        }
                } else if (addr->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
                        static const unsigned char mapped[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
                                                                 0xff, 0xff, 127, 0, 0, 1};
                        struct sockaddr_in6 in6;
                        memcpy(&in6, addr, sizeof(in6));
                        if ((IN6_IS_ADDR_LOOPBACK(&in6.sin6_addr) ||
                             !memcmp(&in6.sin6_addr, mapped, 16)) &&
                            ntohs(in6.sin6_port) == from) {
                                in6.sin6_port = htons(to);
                                report(from, to);
                                return real(fd, (const struct sockaddr *)&in6, sizeof(in6));
                        }
                }
        }
        return real(fd, addr, len);
}
