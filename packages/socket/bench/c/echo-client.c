/*
 * Load generator for the echo benchmarks: CONNS connections, each sending a SIZE-byte request and waiting for
 * the whole echo before sending the next (ping-pong), for SECONDS. Prints requests per second as JSON.
 * Single-threaded epoll, so it can be pinned to a core of its own and stays cheaper than the server it loads.
 * usage: echo-client HOST PORT CONNS SECONDS SIZE
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: echo-client HOST PORT CONNS SECONDS SIZE\n");
    return 2;
  }
  int conns = atoi(argv[3]), size = atoi(argv[5]);
  double seconds = atof(argv[4]);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[2]))};
  inet_pton(AF_INET, argv[1], &addr.sin_addr);
  int ep = epoll_create1(0);
  int *received = calloc(conns + 1024, sizeof(int));
  char *request = malloc(size), buffer[65536];
  memset(request, 'x', size);
  for (int i = 0; i < conns; i++) {
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) { perror("connect"); return 1; }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    if (write(fd, request, size) != size) { perror("write"); return 1; }
  }
  long long requests = 0;
  double start = now(), end = start + seconds;
  struct epoll_event events[1024];
  while (now() < end) {
    int n = epoll_wait(ep, events, 1024, 100);
    for (int i = 0; i < n; i++) {
      int fd = events[i].data.fd;
      ssize_t r = read(fd, buffer, sizeof buffer);
      if (r <= 0) { fprintf(stderr, "connection lost\n"); return 1; }
      received[fd] += r;
      while (received[fd] >= size) {
        received[fd] -= size;
        requests++;
        if (write(fd, request, size) != size) { perror("write"); return 1; }
      }
    }
  }
  double elapsed = now() - start;
  printf("{\"requests\":%lld,\"seconds\":%.3f,\"rps\":%.0f}\n", requests, elapsed, requests / elapsed);
  return 0;
}
