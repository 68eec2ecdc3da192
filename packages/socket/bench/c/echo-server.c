/*
 * The ceiling for one reactor: a minimal single-threaded, level-triggered epoll echo server in C, the same
 * shape as the koffi reactor minus everything a library adds (queues, water marks, stats).
 * usage: echo-server PORT  (prints "ready" once listening)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
  int port = argc > 1 ? atoi(argv[1]) : 0, one = 1;
  int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (bind(listener, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(listener, 511) != 0) { perror("listen"); return 1; }
  socklen_t length = sizeof addr;
  getsockname(listener, (struct sockaddr *)&addr, &length);
  printf("ready %d\n", ntohs(addr.sin_port));
  fflush(stdout);
  int ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = listener}, events[1024];
  epoll_ctl(ep, EPOLL_CTL_ADD, listener, &ev);
  static char buffer[65536];
  for (;;) {
    int n = epoll_wait(ep, events, 1024, -1);
    for (int i = 0; i < n; i++) {
      int fd = events[i].data.fd;
      if (fd == listener) {
        int client;
        while ((client = accept4(listener, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
          setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          struct epoll_event cev = {.events = EPOLLIN, .data.fd = client};
          epoll_ctl(ep, EPOLL_CTL_ADD, client, &cev);
        }
        continue;
      }
      ssize_t r = read(fd, buffer, sizeof buffer);
      if (r <= 0) {
        close(fd);
        continue;
      }
      /* Ping-pong replies are small: the socket buffer always takes them whole. */
      if (write(fd, buffer, r) != r) close(fd);
    }
  }
}
