/*
 * What one system call costs on this machine, for reading the echo figures: the cheapest call there is
 * (getppid) made in a loop by a minimal process. Prints nanoseconds per call as JSON.
 * usage: syscall-cost CALLS
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e9 + t.tv_nsec;
}

int main(int argc, char **argv) {
  long calls = argc > 1 ? atol(argv[1]) : 1000000;
  for (long i = 0; i < calls / 10; i++) getppid();
  double start = now();
  for (long i = 0; i < calls; i++) getppid();
  printf("{\"ns\":%.1f}\n", (now() - start) / calls);
  return 0;
}
