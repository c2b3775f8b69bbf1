/*
 * What writing a new file costs on this VM, and whether a second thread can take part of it (issue 12's
 * "2 GiB file → new file ≥ 1.8× socat"; docs/bench/transfer-path.md, "Fresh pages"). Writes SIZE MiB from
 * a cached 1 MiB buffer into a new file at PATH, one way per run:
 *   write     write(2) in 1 MiB pieces (what `ivsh guest recv --out FILE` and socat do)
 *   prefault  the same, with a second thread fallocate()ing 16 MiB pieces up to 256 MiB ahead
 *   mmap      ftruncate, map it, memcpy into the mapping
 *   populate  the same, with a second thread MADV_POPULATE_WRITE-ing ahead of the copy
 *   fallocate one fallocate() of the whole file, nothing written (the allocation alone)
 *   touch2    two threads MADV_POPULATE_WRITE-ing one half each (does faulting scale with threads?)
 *
 *   gcc -O2 -pthread scripts/experiments/fresh-pages.c -o /tmp/fresh-pages
 *   for way in write prefault mmap populate fallocate touch2; do /tmp/fresh-pages $way 2048 /dev/shm/fp; done
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define PIECE (1UL << 20)
#define AHEAD_STEP (16UL << 20)
#define AHEAD_MAX (256UL << 20)

static size_t total;
static int fd;
static char *map;
static _Atomic size_t written, prepared;

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

/* Prepares the file ahead of the writer, never more than AHEAD_MAX ahead (the receiver's ring is 8 MiB). */
static void *ahead(void *use_mmap) {
  for (size_t at = 0; at < total; at += AHEAD_STEP) {
    while (at > atomic_load(&written) + AHEAD_MAX) usleep(50);
    if (use_mmap) madvise(map + at, AHEAD_STEP, MADV_POPULATE_WRITE);
    else fallocate(fd, 0, at, AHEAD_STEP);
    atomic_store(&prepared, at + AHEAD_STEP);
  }
  return NULL;
}

static void *half(void *index) {
  size_t part = total / 2;
  madvise(map + (size_t)index * part, part, MADV_POPULATE_WRITE);
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 4) return fprintf(stderr, "usage: %s WAY SIZE_MIB PATH\n", argv[0]), 2;
  const char *way = argv[1];
  total = (size_t)atol(argv[2]) << 20;
  char *source = aligned_alloc(4096, PIECE);
  memset(source, 7, PIECE);
  unlink(argv[3]);
  double start = now();
  fd = open(argv[3], O_RDWR | O_CREAT | O_TRUNC, 0644);
  pthread_t helper;
  int helped = 0;
  if (!strcmp(way, "write") || !strcmp(way, "prefault")) {
    if ((helped = !strcmp(way, "prefault"))) pthread_create(&helper, NULL, ahead, NULL);
    for (size_t at = 0; at < total; at += PIECE) {
      if (write(fd, source, PIECE) != (ssize_t)PIECE) return perror("write"), 1;
      atomic_store(&written, at);
    }
  } else if (!strcmp(way, "fallocate")) {
    fallocate(fd, 0, 0, total);
  } else {
    ftruncate(fd, total);
    map = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (!strcmp(way, "touch2")) {
      pthread_t other;
      pthread_create(&other, NULL, half, (void *)1);
      half((void *)0);
      pthread_join(other, NULL);
    } else {
      if ((helped = !strcmp(way, "populate"))) pthread_create(&helper, NULL, ahead, (void *)1);
      for (size_t at = 0; at < total; at += PIECE) {
        while (helped && atomic_load(&prepared) < at + PIECE) {}
        memcpy(map + at, source, PIECE);
        atomic_store(&written, at);
      }
    }
    munmap(map, total);
  }
  if (helped) pthread_join(helper, NULL);
  close(fd);
  printf("%-9s %.3f s\n", way, now() - start);
  unlink(argv[3]);
  return 0;
}
