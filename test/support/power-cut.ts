/**
 * A filesystem that can lose power: ext4 on a loop device over a file, mounted with a long journal
 * commit interval (commit=60, so nothing becomes durable unless someone flushes), and cut with
 * EXT4_IOC_SHUTDOWN and EXT4_GOING_FLAGS_NOLOGFLUSH, the crash xfstests simulates ("godown"): from
 * that instant every read and write fails, dirty pages are dropped and the running journal
 * transaction is never written, so only what was flushed (fsync, syncfs) survives the remount and
 * its journal replay. device-mapper (dm-flakey) is not available in this container: no
 * /dev/mapper/control, no dm modules to load. Needs root, losetup, mkfs.ext4 and python3 (the
 * ioctl); `unavailable()` says what is missing.
 * State: the loop device and the mount, released by close().
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

/** EXT4_IOC_SHUTDOWN (_IOR('X', 125, __u32)) with EXT4_GOING_FLAGS_NOLOGFLUSH (2). */
const SHUTDOWN = `import fcntl, os, struct, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
fcntl.ioctl(fd, 0x8004587D, struct.pack('I', 2))`;

const run = (cmd: string, args: readonly string[]) =>
  execFileSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] })
    .toString()
    .trim();

export class PowerCutFs {
  private constructor(
    readonly device: string,
    readonly dir: string,
  ) {}

  /** Why a power-cut filesystem cannot be made here, or undefined when it can. */
  static unavailable(): string | undefined {
    if (process.getuid?.() !== 0) return 'needs root (losetup, mount)';
    for (const cmd of ['losetup', 'mkfs.ext4', 'mount', 'umount', 'python3'])
      try {
        run('sh', ['-c', `command -v ${cmd}`]);
      } catch {
        return `${cmd} is missing`;
      }
    if (!existsSync('/dev/loop-control')) return 'no /dev/loop-control (loop devices)';
    return undefined;
  }

  /** Makes `size` bytes of ext4 in `work`/fs.img on a free loop device, mounted at `work`/mnt. */
  static create(work: string, size: string): PowerCutFs {
    const image = join(work, 'fs.img');
    run('truncate', ['-s', size, image]);
    const device = run('losetup', ['-f', '--show', image]);
    const dir = join(work, 'mnt');
    mkdirSync(dir);
    try {
      run('mkfs.ext4', ['-q', '-F', device]);
      const fs = new PowerCutFs(device, dir);
      fs.mount();
      return fs;
    } catch (err) {
      run('losetup', ['-d', device]);
      throw err;
    }
  }

  private mount(): void {
    run('mount', ['-o', 'commit=60', this.device, this.dir]);
  }

  /** Power is cut: what was not flushed is lost; nothing reads or writes there until remount(). */
  cut(): void {
    run('python3', ['-c', SHUTDOWN, this.dir]);
  }

  /** Power is back: unmount and mount again, which replays the journal. */
  remount(): void {
    run('umount', [this.dir]);
    this.mount();
  }

  close(): void {
    try {
      run('umount', ['-l', this.dir]);
    } catch {
      // Not mounted (a failed remount).
    }
    run('losetup', ['-d', this.device]);
  }
}
