/*
 * Bulk-transfer ends for the proxy and sendfile benchmarks, in C so that they are never the bottleneck.
 * The receiving end discards what it reads (MSG_TRUNC: TCP drops the bytes without copying them out) and asks
 * to be woken only once 256 KiB have arrived (SO_RCVLOWAT). On loopback the sending side's CPU delivers every
 * segment and wakes the reader, so a reader that copies and wakes per segment puts its costs on the server
 * being measured.
 *   bulk send HOST PORT BYTES   connect, write BYTES as fast as the socket takes them, shut down, wait for EOF
 *   bulk sink PORT              listen (prints "ready PORT"), read one connection to EOF, print JSON
 *   bulk recv HOST PORT         connect, read to EOF, print JSON
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static char buffer[1 << 20];

static int connect_to(const char *host, int port) {
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
  inet_pton(AF_INET, host, &addr.sin_addr);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) { perror("connect"); exit(1); }
  return fd;
}

static void drain(int fd) {
  long long total = 0;
  int low_water = 256 * 1024;
  setsockopt(fd, SOL_SOCKET, SO_RCVLOWAT, &low_water, sizeof low_water);
  double start = now();
  ssize_t r;
  while ((r = recv(fd, buffer, sizeof buffer, MSG_TRUNC)) > 0) total += r;
  double elapsed = now() - start;
  printf("{\"bytes\":%lld,\"seconds\":%.4f,\"gbps\":%.4f}\n", total, elapsed, total / elapsed / 1e9);
}

int main(int argc, char **argv) {
  if (argc >= 5 && strcmp(argv[1], "send") == 0) {
    int fd = connect_to(argv[2], atoi(argv[3]));
    long long left = atoll(argv[4]);
    memset(buffer, 'x', sizeof buffer);
    while (left > 0) {
      ssize_t w = write(fd, buffer, left < (long long)sizeof buffer ? left : (long long)sizeof buffer);
      if (w <= 0) { perror("write"); return 1; }
      left -= w;
    }
    shutdown(fd, SHUT_WR);
    while (read(fd, buffer, sizeof buffer) > 0) {}
    return 0;
  }
  if (argc >= 3 && strcmp(argv[1], "sink") == 0) {
    int one = 1, listener = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2])), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(listener, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(listener, 16) != 0) { perror("listen"); return 1; }
    socklen_t length = sizeof addr;
    getsockname(listener, (struct sockaddr *)&addr, &length);
    printf("ready %d\n", ntohs(addr.sin_port));
    fflush(stdout);
    int fd = accept(listener, NULL, NULL);
    drain(fd);
    return 0;
  }
  if (argc >= 4 && strcmp(argv[1], "recv") == 0) {
    drain(connect_to(argv[2], atoi(argv[3])));
    return 0;
  }
  fprintf(stderr, "usage: bulk send HOST PORT BYTES | bulk sink PORT | bulk recv HOST PORT\n");
  return 2;
}
