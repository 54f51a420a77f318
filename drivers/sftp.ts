/**
 * A client of the SFTP protocol, version 3 (draft-ietf-secsh-filexfer-02) with OpenSSH's
 * extensions (posix-rename, fsync, statvfs, limits), spoken over the stdin/stdout of one
 * `ssh -s <target> sftp` process: one SSH connection, many requests in flight. Every call sends
 * its packet at once and resolves when the reply with its request ID arrives, so callers that
 * issue calls concurrently get them pipelined over the one connection (thousands of stat()s cost
 * one round trip's latency plus the server's work, not one process or round trip each).
 *
 * Paths travel as protocol strings: no shell on the server ever sees them.
 *
 * State: the pending requests (ID → promise). When the ssh process exits, every pending and later
 * request rejects with the error `lost()` makes from ssh's stderr; the session is then dead and
 * the caller opens a new one.
 */
import { type ChildProcessByStdio, spawn } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';

const T = {
  INIT: 1,
  VERSION: 2,
  OPEN: 3,
  CLOSE: 4,
  READ: 5,
  WRITE: 6,
  LSTAT: 7,
  FSTAT: 8,
  OPENDIR: 11,
  READDIR: 12,
  REMOVE: 13,
  MKDIR: 14,
  RMDIR: 15,
  REALPATH: 16,
  STAT: 17,
  STATUS: 101,
  HANDLE: 102,
  DATA: 103,
  NAME: 104,
  ATTRS: 105,
  EXTENDED: 200,
  EXTENDED_REPLY: 201,
} as const;

/** SSH_FX_* status codes. */
export const FX = {
  OK: 0,
  EOF: 1,
  NO_SUCH_FILE: 2,
  PERMISSION_DENIED: 3,
  FAILURE: 4,
  BAD_MESSAGE: 5,
  OP_UNSUPPORTED: 8,
} as const;

/** SSH_FXF_* open flags. */
export const OPEN = { READ: 1, WRITE: 2, CREAT: 8, TRUNC: 0x10, EXCL: 0x20 } as const;

export interface SftpAttrs {
  readonly size?: number;
  readonly permissions?: number;
  readonly mtime?: number;
}

export const isDirectory = (a: SftpAttrs): boolean => ((a.permissions ?? 0) & 0o170000) === 0o040000;

/** A status other than OK from the server, with the path it concerned. */
export class SftpStatusError extends Error {
  override name = 'SftpStatusError';
  constructor(
    readonly status: number,
    message: string,
    readonly path: string,
  ) {
    super(`${path}: ${message || `SFTP status ${status}`}`);
  }
}

export interface Statvfs {
  readonly blockSize: number;
  readonly blocks: number;
  readonly free: number;
  readonly available: number;
}

interface Pending {
  readonly resolve: (reply: Reply) => void;
  readonly reject: (err: unknown) => void;
  readonly path: string;
}

interface Reply {
  readonly type: number;
  readonly body: Buffer;
}

class Writer {
  #parts: Buffer[] = [];
  u8(v: number): this {
    this.#parts.push(Buffer.from([v]));
    return this;
  }
  u32(v: number): this {
    const b = Buffer.allocUnsafe(4);
    b.writeUInt32BE(v);
    this.#parts.push(b);
    return this;
  }
  u64(v: number): this {
    const b = Buffer.allocUnsafe(8);
    b.writeBigUInt64BE(BigInt(v));
    this.#parts.push(b);
    return this;
  }
  str(v: string | Uint8Array): this {
    const b = typeof v === 'string' ? Buffer.from(v, 'utf8') : v;
    this.u32(b.length);
    this.#parts.push(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
    return this;
  }
  parts(): Buffer[] {
    return this.#parts;
  }
}

class Reader {
  at = 0;
  constructor(private readonly b: Buffer) {}
  u32(): number {
    const v = this.b.readUInt32BE(this.at);
    this.at += 4;
    return v;
  }
  u64(): number {
    const v = Number(this.b.readBigUInt64BE(this.at));
    this.at += 8;
    return v;
  }
  bytes(): Buffer {
    const n = this.u32();
    const v = this.b.subarray(this.at, this.at + n);
    this.at += n;
    return v;
  }
  str(): string {
    return this.bytes().toString('utf8');
  }
  attrs(): SftpAttrs {
    const flags = this.u32();
    const a: { size?: number; permissions?: number; mtime?: number } = {};
    if (flags & 1) a.size = this.u64();
    if (flags & 2) this.at += 8;
    if (flags & 4) a.permissions = this.u32();
    if (flags & 8) {
      this.at += 4;
      a.mtime = this.u32();
    }
    if (flags & 0x80000000) for (let n = this.u32() * 2; n > 0; n--) this.bytes(); // extended name/value pairs
    return a;
  }
}

export class SftpSession {
  readonly #child: ChildProcessByStdio<Writable, Readable, Readable>;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #parts: Buffer[] = [];
  #have = 0;
  #need: number | undefined;
  #stderr = '';
  #dead: unknown;
  #onVersion: ((b: Buffer) => void) | undefined;
  extensions = new Map<string, string>();
  /** Largest WRITE payload; the protocol's safe default until the server's limits say more. */
  maxWrite = 32 * 1024;
  maxRead = 32 * 1024;

  private constructor(args: readonly string[], lost: (stderr: string) => Error) {
    const child = spawn('ssh', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.#child = child;
    child.stdout.on('data', (b: Buffer) => this.#onData(b));
    child.stderr.on('data', (b: Buffer) => {
      this.#stderr = (this.#stderr + b.toString()).slice(-8192);
    });
    child.stdin.on('error', () => {}); // the exit handler reports why
    const die = () => this.#die(lost(this.#stderr));
    child.once('error', (err) => this.#die(lost(`${this.#stderr}\n${err.message}`)));
    child.once('close', die);
  }

  /** Starts `ssh` with `args` and completes the SFTP handshake. */
  static async open(args: readonly string[], lost: (stderr: string) => Error): Promise<SftpSession> {
    const s = new SftpSession(args, lost);
    try {
      await s.#handshake();
    } catch (err) {
      s.end();
      throw err;
    }
    return s;
  }

  get alive(): boolean {
    return this.#dead === undefined;
  }

  async #handshake(): Promise<void> {
    const version = new Promise<Buffer>((resolve, reject) => {
      this.#onVersion = resolve;
      this.#pending.set(0, { resolve: () => {}, reject, path: '' });
    });
    this.#send(T.INIT, new Writer().u32(3));
    const body = await version;
    this.#pending.delete(0);
    const r = new Reader(body);
    r.u32();
    while (r.at < body.length) this.extensions.set(r.str(), r.str());
    if (this.extensions.has('limits@openssh.com')) {
      const reply = await this.#extended('limits@openssh.com', new Writer(), '');
      const lr = new Reader(reply);
      lr.u64();
      const read = lr.u64();
      const write = lr.u64();
      if (read > 0) this.maxRead = read;
      if (write > 0) this.maxWrite = write;
    }
  }

  #onData(b: Buffer): void {
    this.#parts.push(b);
    this.#have += b.length;
    for (;;) {
      if (this.#need === undefined) {
        if (this.#have < 4) return;
        this.#need = this.#take(4).readUInt32BE(0);
      }
      if (this.#have < this.#need) return;
      const packet = this.#take(this.#need);
      this.#need = undefined;
      this.#dispatch(packet);
    }
  }

  /** The next `n` buffered bytes (a view when they sit in one buffer). */
  #take(n: number): Buffer {
    this.#have -= n;
    const first = this.#parts[0] as Buffer;
    if (first.length >= n) {
      if (first.length === n) this.#parts.shift();
      else this.#parts[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let at = 0;
    while (at < n) {
      const p = this.#parts[0] as Buffer;
      const k = Math.min(p.length, n - at);
      p.copy(out, at, 0, k);
      at += k;
      if (k === p.length) this.#parts.shift();
      else this.#parts[0] = p.subarray(k);
    }
    return out;
  }

  #dispatch(packet: Buffer): void {
    const type = packet[0] as number;
    if (type === T.VERSION) {
      this.#onVersion?.(packet.subarray(1));
      return;
    }
    const id = packet.readUInt32BE(1);
    const p = this.#pending.get(id);
    if (!p) return;
    this.#pending.delete(id);
    p.resolve({ type, body: packet.subarray(5) });
  }

  #die(err: unknown): void {
    if (this.#dead !== undefined) return;
    this.#dead = err;
    for (const p of this.#pending.values()) p.reject(err);
    this.#pending.clear();
  }

  #send(type: number, w: Writer): void {
    const parts = w.parts();
    const length = parts.reduce((s, p) => s + p.length, 1);
    const head = Buffer.allocUnsafe(5);
    head.writeUInt32BE(length);
    head[4] = type;
    this.#child.stdin.write(head);
    for (const p of parts) this.#child.stdin.write(p);
  }

  #request(type: number, path: string, fill: (w: Writer) => void): Promise<Reply> {
    if (this.#dead !== undefined) return Promise.reject(this.#dead);
    const id = this.#nextId;
    this.#nextId = (this.#nextId % 0xfffffffe) + 1;
    const w = new Writer().u32(id);
    fill(w);
    return new Promise<Reply>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, path });
      this.#send(type, w);
    });
  }

  /** The reply of the expected type, or the server's status turned into an error. */
  async #expect(type: number, path: string, fill: (w: Writer) => void, want: number): Promise<Buffer> {
    const reply = await this.#request(type, path, fill);
    if (reply.type === T.STATUS) {
      const r = new Reader(reply.body);
      const code = r.u32();
      if (code === FX.OK && want === T.STATUS) return reply.body;
      throw new SftpStatusError(code, r.str(), path);
    }
    if (reply.type === want) return reply.body;
    throw new SftpStatusError(FX.BAD_MESSAGE, `unexpected SFTP reply ${reply.type}`, path);
  }

  #status(type: number, path: string, fill: (w: Writer) => void): Promise<void> {
    return this.#expect(type, path, fill, T.STATUS).then(() => undefined);
  }

  #extended(name: string, w: Writer, path: string, want: number = T.EXTENDED_REPLY): Promise<Buffer> {
    if (!this.extensions.has(name))
      return Promise.reject(new SftpStatusError(FX.OP_UNSUPPORTED, `the server lacks ${name}`, path));
    return this.#expect(
      T.EXTENDED,
      path,
      (x) => {
        x.str(name);
        for (const p of w.parts()) x.parts().push(p);
      },
      want,
    );
  }

  async stat(path: string): Promise<SftpAttrs> {
    return new Reader(await this.#expect(T.STAT, path, (w) => w.str(path), T.ATTRS)).attrs();
  }

  async lstat(path: string): Promise<SftpAttrs> {
    return new Reader(await this.#expect(T.LSTAT, path, (w) => w.str(path), T.ATTRS)).attrs();
  }

  async fstat(handle: Buffer, path: string): Promise<SftpAttrs> {
    return new Reader(await this.#expect(T.FSTAT, path, (w) => w.str(handle), T.ATTRS)).attrs();
  }

  async open(path: string, flags: number, mode = 0o600): Promise<Buffer> {
    const body = await this.#expect(T.OPEN, path, (w) => w.str(path).u32(flags).u32(4).u32(mode), T.HANDLE);
    return Buffer.from(new Reader(body).bytes());
  }

  close(handle: Buffer, path: string): Promise<void> {
    return this.#status(T.CLOSE, path, (w) => w.str(handle));
  }

  /** Writes `data` at `offset`, in pieces of at most maxWrite bytes sent back to back. */
  async write(handle: Buffer, offset: number, data: Uint8Array, path: string): Promise<void> {
    const writes: Promise<void>[] = [];
    for (let at = 0; at < data.length || (at === 0 && data.length === 0); at += this.maxWrite) {
      const piece = data.subarray(at, Math.min(data.length, at + this.maxWrite));
      writes.push(
        this.#status(T.WRITE, path, (w) =>
          w
            .str(handle)
            .u64(offset + at)
            .str(piece),
        ),
      );
      if (data.length === 0) break;
    }
    const results = await Promise.allSettled(writes);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }

  /** Reads the whole file into `into` (or a new buffer of its size) and returns its length. */
  async readAll(handle: Buffer, path: string, into?: Uint8Array): Promise<Buffer | number> {
    const size = (await this.fstat(handle, path)).size ?? 0;
    if (into && size > into.length) throw new Error(`${path} is larger than ${into.length} bytes`);
    const out = into ?? Buffer.allocUnsafe(size);
    const reads: Promise<void>[] = [];
    for (let at = 0; at < size; at += this.maxRead) {
      const want = Math.min(this.maxRead, size - at);
      reads.push(
        this.#expect(T.READ, path, (w) => w.str(handle).u64(at).u32(want), T.DATA).then((body) => {
          const data = new Reader(body).bytes();
          if (data.length !== want)
            throw new Error(`${path}: short read at ${at} (${data.length} of ${want} bytes)`);
          out.set(data, at);
        }),
      );
    }
    const results = await Promise.allSettled(reads);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    return into ? size : (out as Buffer);
  }

  /** The file's size and its first `bytes` bytes (fewer when it is shorter). */
  async head(handle: Buffer, path: string, bytes: number): Promise<{ size: number; head: Buffer }> {
    const size = (await this.fstat(handle, path)).size ?? 0;
    const want = Math.min(bytes, size, this.maxRead);
    if (want === 0) return { size, head: Buffer.alloc(0) };
    const body = await this.#expect(T.READ, path, (w) => w.str(handle).u64(0).u32(want), T.DATA);
    return { size, head: Buffer.from(new Reader(body).bytes()) };
  }

  fsync(handle: Buffer, path: string): Promise<void> {
    return this.#extended('fsync@openssh.com', new Writer().str(handle), path, T.STATUS).then(
      () => undefined,
    );
  }

  /** Every entry of a directory but `.` and `..`, with its attributes. */
  async readdir(path: string): Promise<{ name: string; attrs: SftpAttrs }[]> {
    const body = await this.#expect(T.OPENDIR, path, (w) => w.str(path), T.HANDLE);
    const handle = Buffer.from(new Reader(body).bytes());
    const out: { name: string; attrs: SftpAttrs }[] = [];
    try {
      for (;;) {
        const reply = await this.#request(T.READDIR, path, (w) => w.str(handle));
        if (reply.type === T.STATUS) {
          const r = new Reader(reply.body);
          const code = r.u32();
          if (code === FX.EOF) break;
          throw new SftpStatusError(code, r.str(), path);
        }
        const r = new Reader(reply.body);
        for (let n = r.u32(); n > 0; n--) {
          const name = r.str();
          r.str();
          const attrs = r.attrs();
          if (name !== '.' && name !== '..') out.push({ name, attrs });
        }
      }
    } finally {
      await this.close(handle, path).catch(() => {});
    }
    return out;
  }

  mkdir(path: string, mode = 0o700): Promise<void> {
    return this.#status(T.MKDIR, path, (w) => w.str(path).u32(4).u32(mode));
  }

  remove(path: string): Promise<void> {
    return this.#status(T.REMOVE, path, (w) => w.str(path));
  }

  rmdir(path: string): Promise<void> {
    return this.#status(T.RMDIR, path, (w) => w.str(path));
  }

  /** rename(2): replaces `to` atomically (OpenSSH's posix-rename). */
  rename(from: string, to: string): Promise<void> {
    return this.#extended('posix-rename@openssh.com', new Writer().str(from).str(to), to, T.STATUS).then(
      () => undefined,
    );
  }

  async realpath(path: string): Promise<string> {
    const r = new Reader(await this.#expect(T.REALPATH, path, (w) => w.str(path), T.NAME));
    r.u32();
    return r.str();
  }

  async statvfs(path: string): Promise<Statvfs> {
    const r = new Reader(await this.#extended('statvfs@openssh.com', new Writer().str(path), path));
    r.u64();
    const blockSize = r.u64();
    const blocks = r.u64();
    const free = r.u64();
    const available = r.u64();
    return { blockSize, blocks, free, available };
  }

  /** Ends the session (the ssh process exits); pending calls reject. */
  end(): void {
    this.#die(new Error('SFTP session closed'));
    this.#child.stdin.end();
    if (this.#child.exitCode === null && this.#child.signalCode === null) this.#child.kill('SIGTERM');
  }
}
