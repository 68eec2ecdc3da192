/*
 * Sink for the UDP send benchmark: binds 127.0.0.1 on an ephemeral port, prints "ready PORT", then from the
 * first datagram on counts what arrives for SECONDS (recvmmsg, 64 at a time) and prints bytes, datagrams and
 * GB/s as JSON. What the sender sent and the kernel dropped (a full receive buffer) is not counted.
 * usage: udp-sink SECONDS
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

#define BATCH 64

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: udp-sink SECONDS\n");
    return 2;
  }
  double seconds = atof(argv[1]);
  int fd = socket(AF_INET, SOCK_DGRAM, 0), size = 64 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
  inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  socklen_t length = sizeof addr;
  if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0) { perror("bind"); return 1; }
  getsockname(fd, (struct sockaddr *)&addr, &length);
  printf("ready %d\n", ntohs(addr.sin_port));
  fflush(stdout);
  static char buffers[BATCH][2048];
  struct mmsghdr messages[BATCH];
  struct iovec iovs[BATCH];
  for (int j = 0; j < BATCH; j++) {
    iovs[j].iov_base = buffers[j];
    iovs[j].iov_len = sizeof buffers[j];
  }
  long long bytes = 0, datagrams = 0;
  double start = 0;
  struct timeval tick = {.tv_sec = 0, .tv_usec = 100000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tick, sizeof tick);
  for (;;) {
    for (int j = 0; j < BATCH; j++) {
      memset(&messages[j].msg_hdr, 0, sizeof messages[j].msg_hdr);
      messages[j].msg_hdr.msg_iov = &iovs[j];
      messages[j].msg_hdr.msg_iovlen = 1;
    }
    int got = recvmmsg(fd, messages, BATCH, MSG_WAITFORONE, NULL);
    double t = now();
    if (got > 0 && start == 0) start = t;
    if (start != 0 && t - start >= seconds) break;
    for (int j = 0; j < got; j++) bytes += messages[j].msg_len;
    if (got > 0) datagrams += got;
  }
  double elapsed = now() - start;
  printf("{\"bytes\": %lld, \"datagrams\": %lld, \"gbps\": %.4f}\n", bytes, datagrams, bytes / elapsed / 1e9);
  return 0;
}
