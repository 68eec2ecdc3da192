/*
 * Load generator for the UDP echo benchmark: SOCKETS connected UDP sockets, each keeping WINDOW datagrams of
 * SIZE bytes in flight (a reply lets the next one go), for SECONDS; a socket that heard nothing for 5 ms sends
 * its window again (datagrams the kernel dropped under load are not waited for). Batched itself (recvmmsg,
 * sendmmsg) so that, pinned to a core of its own, it stays cheaper than the server it loads. Prints replies per
 * second as JSON.
 * usage: udp-echo-client HOST PORT SOCKETS WINDOW SECONDS SIZE
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static void send_some(int fd, char *request, int size, int count) {
  struct mmsghdr messages[BATCH];
  struct iovec iov = {.iov_base = request, .iov_len = size};
  while (count > 0) {
    int n = count < BATCH ? count : BATCH;
    for (int i = 0; i < n; i++) {
      memset(&messages[i], 0, sizeof messages[i]);
      messages[i].msg_hdr.msg_iov = &iov;
      messages[i].msg_hdr.msg_iovlen = 1;
    }
    int sent = sendmmsg(fd, messages, n, 0);
    if (sent <= 0) return;
    count -= sent;
  }
}

int main(int argc, char **argv) {
  if (argc != 7) {
    fprintf(stderr, "usage: udp-echo-client HOST PORT SOCKETS WINDOW SECONDS SIZE\n");
    return 2;
  }
  int sockets = atoi(argv[3]), window = atoi(argv[4]), size = atoi(argv[6]);
  double seconds = atof(argv[5]);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
  inet_pton(AF_INET, argv[1], &addr.sin_addr);
  int ep = epoll_create1(0);
  char *request = malloc(size);
  memset(request, 'x', size);
  static char buffers[BATCH][2048];
  struct mmsghdr messages[BATCH];
  struct iovec iovs[BATCH];
  double *heard = calloc(sockets + 1024, sizeof(double));
  int *fds = calloc(sockets, sizeof(int));
  double start = now(), end = start + seconds;
  for (int i = 0; i < sockets; i++) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) { perror("connect"); return 1; }
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    fds[i] = fd;
    heard[fd] = start;
    send_some(fd, request, size, window);
  }
  long long replies = 0;
  struct epoll_event events[1024];
  for (double t = now(); t < end; t = now()) {
    int n = epoll_wait(ep, events, 1024, 1);
    for (int i = 0; i < n; i++) {
      int fd = events[i].data.fd;
      for (int j = 0; j < BATCH; j++) {
        memset(&messages[j], 0, sizeof messages[j]);
        iovs[j].iov_base = buffers[j];
        iovs[j].iov_len = sizeof buffers[j];
        messages[j].msg_hdr.msg_iov = &iovs[j];
        messages[j].msg_hdr.msg_iovlen = 1;
      }
      int got = recvmmsg(fd, messages, BATCH, MSG_DONTWAIT, NULL);
      if (got <= 0) continue;
      replies += got;
      heard[fd] = t;
      send_some(fd, request, size, got);
    }
    for (int i = 0; i < sockets; i++) {
      if (t - heard[fds[i]] > 0.005) {
        heard[fds[i]] = t;
        send_some(fds[i], request, size, window);
      }
    }
  }
  printf("{\"rps\": %.0f, \"requests\": %lld}\n", replies / (now() - start), replies);
  return 0;
}
