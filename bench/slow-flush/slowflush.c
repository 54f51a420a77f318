/*
 * nbdkit plugin for bench/slow-flush/disk.sh: a disk (a file) whose cache flushes take DELAY_MS
 * milliseconds, to measure backups on a disk with slow flushes (issue 16) on a machine whose own
 * disk flushes in 0.2 ms. Reads and writes go to the file at once; a flush (and a FUA write)
 * sleeps DELAY_MS and returns. Benchmarks only: it does not make the file durable.
 *
 *   nbdkit -U SOCKET ./slowflush.so file=PATH delay=MS
 */
#define NBDKIT_API_VERSION 2
#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL
#include <nbdkit-plugin.h>

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *path;
static int delay_ms = 10;
static int fd = -1;

static int sf_config(const char *key, const char *value) {
  if (strcmp(key, "file") == 0)
    path = value;
  else if (strcmp(key, "delay") == 0)
    delay_ms = atoi(value);
  else {
    nbdkit_error("unknown parameter %s (file=PATH delay=MS)", key);
    return -1;
  }
  return 0;
}

static int sf_get_ready(void) {
  fd = open(path, O_RDWR);
  if (fd < 0) {
    nbdkit_error("open %s: %m", path);
    return -1;
  }
  return 0;
}

static void *sf_open(int readonly) {
  (void)readonly;
  return NBDKIT_HANDLE_NOT_NEEDED;
}

static int64_t sf_get_size(void *h) {
  (void)h;
  struct stat st;
  return fstat(fd, &st) < 0 ? -1 : st.st_size;
}

static int sf_pread(void *h, void *buf, uint32_t count, uint64_t offset, uint32_t flags) {
  (void)h, (void)flags;
  for (char *p = buf; count > 0;) {
    ssize_t r = pread(fd, p, count, offset);
    if (r <= 0) {
      nbdkit_error("pread: %m");
      return -1;
    }
    p += r, count -= r, offset += r;
  }
  return 0;
}

static void slow_flush(void) {
  struct timespec ts = {delay_ms / 1000, (delay_ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

static int sf_pwrite(void *h, const void *buf, uint32_t count, uint64_t offset, uint32_t flags) {
  (void)h;
  for (const char *p = buf; count > 0;) {
    ssize_t r = pwrite(fd, p, count, offset);
    if (r <= 0) {
      nbdkit_error("pwrite: %m");
      return -1;
    }
    p += r, count -= r, offset += r;
  }
  if (flags & NBDKIT_FLAG_FUA) slow_flush();
  return 0;
}

static int sf_flush(void *h, uint32_t flags) {
  (void)h, (void)flags;
  slow_flush();
  return 0;
}

static int sf_yes(void *h) {
  (void)h;
  return 1;
}

static int sf_can_fua(void *h) {
  (void)h;
  return NBDKIT_FUA_NATIVE;
}

static struct nbdkit_plugin plugin = {
    .name = "slowflush",
    .config = sf_config,
    .get_ready = sf_get_ready,
    .open = sf_open,
    .get_size = sf_get_size,
    .pread = sf_pread,
    .pwrite = sf_pwrite,
    .flush = sf_flush,
    .can_flush = sf_yes,
    .can_fua = sf_can_fua,
    .can_multi_conn = sf_yes,
};

NBDKIT_REGISTER_PLUGIN(plugin)
