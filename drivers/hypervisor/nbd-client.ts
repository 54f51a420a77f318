/**
 * A small NBD client over a Unix socket, enough to read QEMU's exports: a qemu-nbd export of a
 * qcow2 (fs driver) and a running VM's point-in-time view (kvm driver). Fixed newstyle handshake
 * with NBD_OPT_GO (export by name); when meta contexts are asked for (`base:allocation`,
 * `qemu:dirty-bitmap:NAME`) it negotiates structured replies and answers NBD_CMD_BLOCK_STATUS.
 * Requests are pipelined: each carries a handle and replies are matched by it; read data is
 * copied straight into the caller's buffer as it arrives (nothing is buffered twice).
 */
import { createConnection, type Socket } from 'node:net';
import { HandshakeReader, negotiate } from './nbd-handshake.js';

const REQUEST_MAGIC = 0x25609513;
const SIMPLE_REPLY_MAGIC = 0x67446698;
const STRUCTURED_REPLY_MAGIC = 0x668e33ef;
const CMD_READ = 0;
const CMD_DISC = 2;
const CMD_BLOCK_STATUS = 7;
const REPLY_FLAG_DONE = 1;
const REPLY_NONE = 0;
const REPLY_OFFSET_DATA = 1;
const REPLY_OFFSET_HOLE = 2;
const REPLY_BLOCK_STATUS = 5;
const REPLY_ERROR_BIT = 0x8000;
/** Block status flags of `base:allocation`. */
export const STATE_HOLE = 1;
export const STATE_ZERO = 2;
/** The one flag of `qemu:dirty-bitmap:*`. */
export const STATE_DIRTY = 1;

export interface NbdOptions {
  /** Export name (qemu-nbd's default export is ""). */
  readonly exportName?: string;
  /** Meta contexts to negotiate, e.g. `base:allocation`, `qemu:dirty-bitmap:b0`. */
  readonly metaContexts?: readonly string[];
}

/** One block status descriptor: `length` bytes from `offset` have `flags`. */
export interface BlockStatusRun {
  /** The meta context the run belongs to. */
  readonly context: number;
  readonly offset: number;
  readonly length: number;
  readonly flags: number;
}

interface Pending {
  readonly offset: number;
  /** Where a read's data goes (empty for other commands). */
  readonly into: Uint8Array;
  /** Block status descriptors, by context id. */
  readonly status: BlockStatusRun[];
  error: Error | undefined;
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
}

/** Data being streamed into a pending read: `left` bytes go to `into` at `pos`. */
interface Streaming {
  readonly entry: Pending;
  pos: number;
  left: number;
  /** A structured chunk whose DONE flag ends the request once its data is in. */
  readonly last: boolean;
  readonly handle: bigint;
}

export class NbdClient {
  private buffered: Buffer = Buffer.alloc(0);
  private readonly pending = new Map<bigint, Pending>();
  private streaming: Streaming | undefined;
  private nextHandle = 1n;
  private failure: Error | undefined;
  /** The block status of every negotiated context, asked once (exports here are read-only views). */
  private statusOfAll: Promise<Map<number, BlockStatusRun[]>> | undefined;

  private constructor(
    private readonly socket: Socket,
    readonly size: number,
    /** Negotiated meta contexts: name -> id. */
    readonly contexts: ReadonlyMap<string, number>,
  ) {}

  static async connect(path: string, options: NbdOptions = {}): Promise<NbdClient> {
    const socket = createConnection(path);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const reader = new HandshakeReader(socket);
    try {
      const { size, contexts } = await negotiate(
        socket,
        reader,
        options.exportName ?? '',
        options.metaContexts ?? [],
      );
      const client = new NbdClient(socket, size, contexts);
      reader.detach(
        (chunk) => client.feed(chunk),
        (err) => client.fail(err),
      );
      return client;
    } catch (err) {
      socket.destroy();
      throw err;
    }
  }

  /** Called with bytes left over from the handshake, then with every data event. */
  feed(chunk: Buffer): void {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    while (this.step()) {
      /* parse on */
    }
  }

  /** Parses one piece of the reply stream; false when more bytes are needed. */
  private step(): boolean {
    if (this.streaming) return this.stream(this.streaming);
    if (this.buffered.length < 4) return false;
    const magic = this.buffered.readUInt32BE(0);
    if (magic === SIMPLE_REPLY_MAGIC) return this.simpleReply();
    if (magic === STRUCTURED_REPLY_MAGIC) return this.structuredChunk();
    this.fail(new Error(`NBD: unexpected reply magic 0x${magic.toString(16)}`));
    return false;
  }

  private stream(s: Streaming): boolean {
    const take = Math.min(s.left, this.buffered.length);
    if (take === 0) return false;
    s.entry.into.set(this.buffered.subarray(0, take), s.pos);
    s.pos += take;
    s.left -= take;
    this.buffered = this.buffered.subarray(take);
    if (s.left > 0) return false;
    this.streaming = undefined;
    if (s.last) this.finish(s.handle, s.entry);
    return true;
  }

  private simpleReply(): boolean {
    if (this.buffered.length < 16) return false;
    const error = this.buffered.readUInt32BE(4);
    const handle = this.buffered.readBigUInt64BE(8);
    this.buffered = this.buffered.subarray(16);
    const entry = this.entry(handle);
    if (!entry) return false;
    if (error !== 0) {
      entry.error = new Error(`NBD: request failed with error ${error}`);
      this.finish(handle, entry);
      return true;
    }
    if (entry.into.length === 0) {
      this.finish(handle, entry);
      return true;
    }
    this.streaming = { entry, pos: 0, left: entry.into.length, last: true, handle };
    return true;
  }

  private structuredChunk(): boolean {
    if (this.buffered.length < 20) return false;
    const flags = this.buffered.readUInt16BE(4);
    const type = this.buffered.readUInt16BE(6);
    const handle = this.buffered.readBigUInt64BE(8);
    const length = this.buffered.readUInt32BE(16);
    const done = (flags & REPLY_FLAG_DONE) !== 0;
    if (type === REPLY_OFFSET_DATA) {
      if (this.buffered.length < 28) return false;
      const offset = Number(this.buffered.readBigUInt64BE(20));
      this.buffered = this.buffered.subarray(28);
      const entry = this.entry(handle);
      if (!entry) return false;
      const pos = offset - entry.offset;
      const dataLength = length - 8;
      if (pos < 0 || pos + dataLength > entry.into.length) {
        this.fail(new Error(`NBD: data chunk at ${offset} outside the read at ${entry.offset}`));
        return false;
      }
      if (dataLength > 0) this.streaming = { entry, pos, left: dataLength, last: done, handle };
      else if (done) this.finish(handle, entry);
      return true;
    }
    // Every other chunk is small: wait for all of it.
    if (this.buffered.length < 20 + length) return false;
    const payload = this.buffered.subarray(20, 20 + length);
    this.buffered = this.buffered.subarray(20 + length);
    const entry = this.entry(handle);
    if (!entry) return false;
    if (type === REPLY_OFFSET_HOLE) {
      const offset = Number(payload.readBigUInt64BE(0));
      const holeSize = payload.readUInt32BE(8);
      entry.into.fill(0, offset - entry.offset, offset - entry.offset + holeSize);
    } else if (type === REPLY_BLOCK_STATUS) {
      // One chunk per negotiated context, each from the request's offset.
      const context = payload.readUInt32BE(0);
      let at = entry.offset;
      for (let p = 4; p + 8 <= payload.length; p += 8) {
        const runLength = payload.readUInt32BE(p);
        entry.status.push({ context, offset: at, length: runLength, flags: payload.readUInt32BE(p + 4) });
        at += runLength;
      }
    } else if ((type & REPLY_ERROR_BIT) !== 0) {
      const code = payload.readUInt32BE(0);
      const messageLength = payload.readUInt16BE(4);
      const message = payload.subarray(6, 6 + messageLength).toString('utf8');
      entry.error ??= new Error(`NBD: request failed with error ${code}${message ? `: ${message}` : ''}`);
    } else if (type !== REPLY_NONE) {
      this.fail(new Error(`NBD: unknown structured reply type ${type}`));
      return false;
    }
    if (done) this.finish(handle, entry);
    return true;
  }

  private entry(handle: bigint): Pending | undefined {
    const entry = this.pending.get(handle);
    if (!entry) this.fail(new Error(`NBD: reply for an unknown request ${handle}`));
    return entry;
  }

  private finish(handle: bigint, entry: Pending): void {
    this.pending.delete(handle);
    if (entry.error) entry.reject(entry.error);
    else entry.resolve();
  }

  fail(err: Error): void {
    this.failure ??= err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    this.socket.destroy();
  }

  private request(
    type: number,
    offset: number,
    length: number,
    into: Uint8Array,
    status: BlockStatusRun[] = [],
  ): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    const handle = this.nextHandle++;
    const req = Buffer.alloc(28);
    req.writeUInt32BE(REQUEST_MAGIC, 0);
    req.writeUInt16BE(0, 4);
    req.writeUInt16BE(type, 6);
    req.writeBigUInt64BE(handle, 8);
    req.writeBigUInt64BE(BigInt(offset), 16);
    req.writeUInt32BE(length, 24);
    return new Promise<void>((resolve, reject) => {
      this.pending.set(handle, { offset, into, status, error: undefined, resolve, reject });
      this.socket.write(req);
    });
  }

  /** Reads into[0..length) from offset; the range must lie inside the export. */
  read(offset: number, into: Uint8Array): Promise<void> {
    return this.request(CMD_READ, offset, into.length, into);
  }

  /**
   * The block status of the whole export in one meta context (which must have been negotiated),
   * as sorted runs covering [0, size). Every negotiated context is answered in the same requests,
   * so the first call asks for all of them at once (in steps of almost 4 GiB, the most one
   * request may cover) and later calls reuse the answer: the exports this client reads (a
   * point-in-time view, a read-only qemu-nbd) do not change while it is connected.
   */
  async blockStatus(context: string): Promise<BlockStatusRun[]> {
    const id = this.contexts.get(context);
    if (id === undefined) throw new Error(`NBD: the server did not agree to the meta context ${context}`);
    this.statusOfAll ??= this.askBlockStatus();
    return (await this.statusOfAll).get(id) ?? [];
  }

  private async askBlockStatus(): Promise<Map<number, BlockStatusRun[]>> {
    const ids = [...this.contexts.values()];
    const runs = new Map<number, BlockStatusRun[]>(ids.map((id) => [id, []]));
    // 4 GiB - 64 KiB: the largest length a request holds (32 bits), aligned to any block size.
    const step = 0xffff0000;
    for (let at = 0; at < this.size; ) {
      const all: BlockStatusRun[] = [];
      await this.request(CMD_BLOCK_STATUS, at, Math.min(step, this.size - at), new Uint8Array(0), all);
      // Each context answers from `at` for as far as the server chose: go on from the nearest end.
      let end = this.size;
      for (const id of ids) {
        const last = all.findLast((s) => s.context === id);
        if (!last) throw new Error(`NBD: no block status at offset ${at}`);
        end = Math.min(end, last.offset + last.length);
      }
      if (end <= at) throw new Error(`NBD: empty block status at offset ${at}`);
      for (const s of all) {
        const length = Math.min(s.length, end - s.offset);
        if (length > 0) runs.get(s.context)?.push({ ...s, length });
      }
      at = end;
    }
    return runs;
  }

  async close(): Promise<void> {
    if (this.socket.destroyed) return;
    const req = Buffer.alloc(28);
    req.writeUInt32BE(REQUEST_MAGIC, 0);
    req.writeUInt16BE(CMD_DISC, 6);
    this.socket.end(req);
    await new Promise<void>((resolve) => {
      this.socket.once('close', () => resolve());
      setTimeout(() => {
        this.socket.destroy();
        resolve();
      }, 1000).unref();
    });
  }
}
