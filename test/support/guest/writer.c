/*
 * The test guest's init (PID 1 of an initramfs, built by test/support/guest.ts): loads the virtio
 * modules, then writes numbered 64 KiB records to /dev/vda, each durable before the next starts,
 * and answers a few QEMU guest agent commands on the virtio-serial port org.qemu.guest_agent.0.
 *
 * Record k (k = 1, 2, ...) goes to block (k * stride) mod blocks of the disk's first `blocks`
 * 64 KiB blocks; every 16 bytes of it hold "OBKW", the block number and k. So the disk after
 * writes 1..M is known exactly, and a backup taken at one instant must restore to the disk
 * after writes 1..M for the M it contains: an older record in some block means a mix of
 * instants. While the agent has the filesystem "frozen" no record is written.
 * Kernel command line: writer.blocks=N writer.stride=S writer.delay_us=D (defaults 256, 97, 0),
 * writer.freeze_delay_ms=F (the agent answers a freeze F ms after freezing).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define BLOCK 65536

static const char *modules[] = {"virtio_ring", "virtio", "virtio_pci_modern_dev", "virtio_pci_legacy_dev",
                                "virtio_pci", "virtio_blk", "virtio_console", NULL};

static long param(const char *cmdline, const char *name, long fallback) {
  const char *p = strstr(cmdline, name);
  if (!p) return fallback;
  return strtol(p + strlen(name), NULL, 10);
}

static int agent = -1;
static long freeze_delay_ms = 0;
static int frozen = 0;
static char inbox[4096];
static size_t inlen = 0;

static void answer(const char *text) {
  if (agent >= 0 && write(agent, text, strlen(text)) < 0) perror("agent write");
}

static long json_id(const char *req) {
  const char *p = strstr(req, "\"id\"");
  if (!p) return 0;
  p = strchr(p, ':');
  return p ? strtol(p + 1, NULL, 10) : 0;
}

static void handle(const char *req) {
  char out[256];
  if (strstr(req, "guest-sync-delimited")) {
    snprintf(out, sizeof out, "\xff{\"return\": %ld}\n", json_id(req));
    answer(out);
  } else if (strstr(req, "guest-sync")) {
    snprintf(out, sizeof out, "{\"return\": %ld}\n", json_id(req));
    answer(out);
  } else if (strstr(req, "guest-ping")) {
    answer("{\"return\": {}}\n");
  } else if (strstr(req, "guest-fsfreeze-freeze")) {
    frozen = 1;
    printf("agent: frozen\n");
    fflush(stdout);
    /* A slow freeze keeps the caller waiting while the guest is frozen (the crash test's window). */
    if (freeze_delay_ms > 0) usleep(freeze_delay_ms * 1000);
    answer("{\"return\": 1}\n");
  } else if (strstr(req, "guest-fsfreeze-thaw")) {
    frozen = 0;
    answer("{\"return\": 1}\n");
    printf("agent: thawed\n");
  } else if (strstr(req, "guest-fsfreeze-status")) {
    answer(frozen ? "{\"return\": \"frozen\"}\n" : "{\"return\": \"thawed\"}\n");
  } else if (strstr(req, "guest-info")) {
    answer("{\"return\": {\"version\": \"onebackup-test\", \"supported_commands\": []}}\n");
  } else {
    answer("{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"not in the test guest\"}}\n");
  }
  fflush(stdout);
}

/* Reads agent requests for up to `ms` milliseconds (0: only what is there). */
static void serve_agent(int ms) {
  if (agent < 0) {
    if (ms > 0) usleep(ms * 1000);
    return;
  }
  struct pollfd pfd = {agent, POLLIN, 0};
  if (poll(&pfd, 1, ms) <= 0 || !(pfd.revents & POLLIN)) return;
  ssize_t n = read(agent, inbox + inlen, sizeof inbox - 1 - inlen);
  if (n <= 0) return;
  inlen += (size_t)n;
  inbox[inlen] = 0;
  char *nl;
  /* One request per line: libvirt and our driver end each JSON object with a newline. */
  while ((nl = strchr(inbox, '\n'))) {
    *nl = 0;
    if (strstr(inbox, "execute")) handle(inbox);
    size_t used = (size_t)(nl - inbox) + 1;
    memmove(inbox, inbox + used, inlen - used);
    inlen -= used;
    inbox[inlen] = 0;
  }
  if (inlen >= sizeof inbox - 1) inlen = 0;
}

int main(void) {
  mkdir("/proc", 0755);
  mkdir("/dev", 0755);
  mount("proc", "/proc", "proc", 0, NULL);
  mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
  for (int i = 0; modules[i]; i++) {
    char path[128];
    snprintf(path, sizeof path, "/modules/%s.ko", modules[i]);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || syscall(SYS_finit_module, fd, "", 0) != 0) printf("cannot load %s\n", modules[i]);
    if (fd >= 0) close(fd);
  }
  char cmdline[1024] = {0};
  int cfd = open("/proc/cmdline", O_RDONLY);
  if (cfd >= 0) {
    if (read(cfd, cmdline, sizeof cmdline - 1) < 0) cmdline[0] = 0;
    close(cfd);
  }
  long blocks = param(cmdline, "writer.blocks=", 256);
  long stride = param(cmdline, "writer.stride=", 97);
  long delay = param(cmdline, "writer.delay_us=", 0);
  freeze_delay_ms = param(cmdline, "writer.freeze_delay_ms=", 0);
  int disk = -1;
  for (int tries = 0; tries < 100 && disk < 0; tries++) {
    disk = open("/dev/vda", O_RDWR | O_DIRECT | O_DSYNC);
    if (disk < 0) usleep(50000);
  }
  /* The agent's port is /dev/vport<N>p1, N the virtio device's index: whichever shows up. */
  for (int tries = 0; tries < 40 && agent < 0; tries++) {
    DIR *dev = opendir("/dev");
    struct dirent *e;
    while (dev && agent < 0 && (e = readdir(dev))) {
      if (strncmp(e->d_name, "vport", 5) != 0) continue;
      char path[300];
      snprintf(path, sizeof path, "/dev/%s", e->d_name);
      agent = open(path, O_RDWR | O_NONBLOCK);
    }
    if (dev) closedir(dev);
    if (agent < 0) usleep(25000);
  }
  printf("writer: disk %s, agent %s, blocks %ld stride %ld\n", disk >= 0 ? "ok" : "missing",
         agent >= 0 ? "ok" : "none", blocks, stride);
  fflush(stdout);
  if (disk < 0) {
    reboot(RB_POWER_OFF);
    return 1;
  }
  uint8_t *buf;
  if (posix_memalign((void **)&buf, 4096, BLOCK) != 0) return 1;
  for (uint64_t k = 1;; k++) {
    serve_agent(0);
    while (frozen) serve_agent(100);
    uint32_t block = (uint32_t)((k * (uint64_t)stride) % (uint64_t)blocks);
    for (int i = 0; i < BLOCK; i += 16) {
      memcpy(buf + i, "OBKW", 4);
      memcpy(buf + i + 4, &block, 4);
      memcpy(buf + i + 8, &k, 8);
    }
    if (pwrite(disk, buf, BLOCK, (off_t)block * BLOCK) != BLOCK) {
      perror("writer: pwrite");
      sleep(1);
      continue;
    }
    if (k % 100 == 0) {
      printf("writer: seq %llu\n", (unsigned long long)k);
      fflush(stdout);
    }
    if (delay > 0) serve_agent((int)(delay / 1000));
  }
}
