/**
 * The NBD fixed newstyle handshake: structured replies and meta contexts when asked for, then
 * NBD_OPT_GO for the export by name. Reads exact byte counts from the socket, then hands the
 * socket (and bytes already read) to the transmission phase.
 */
import type { Socket } from 'node:net';

const NBD_MAGIC = Buffer.from('NBDMAGIC');
const IHAVEOPT = Buffer.from('IHAVEOPT');
const OPTION_REPLY_MAGIC = 0x3e889045565a9n;
const OPT_GO = 7;
const OPT_STRUCTURED_REPLY = 8;
const OPT_SET_META_CONTEXT = 10;
const REP_ACK = 1;
const REP_INFO = 3;
const REP_META_CONTEXT = 4;
const REP_ERROR_BIT = 0x80000000;
const INFO_EXPORT = 0;
const FLAG_FIXED_NEWSTYLE = 1;
const FLAG_NO_ZEROES = 2;

interface OptionReply {
  readonly type: number;
  readonly data: Buffer;
}

/** Reads exact byte counts during the handshake. */
export class HandshakeReader {
  private buffered = Buffer.alloc(0);
  private closed: Error | undefined;
  private wanted: { n: number; resolve: (b: Buffer) => void; reject: (e: Error) => void } | undefined;
  private readonly onData = (chunk: Buffer) => {
    this.buffered = Buffer.concat([this.buffered, chunk]);
    this.check();
  };
  private readonly onError = (err: Error) => {
    this.closed ??= err;
    this.wanted?.reject(err);
  };
  private readonly onClose = () => this.onError(new Error('NBD: connection closed during the handshake'));

  constructor(private readonly socket: Socket) {
    socket.on('data', this.onData);
    socket.on('error', this.onError);
    socket.on('close', this.onClose);
  }

  private check(): void {
    if (this.wanted && this.buffered.length >= this.wanted.n) {
      const out = this.buffered.subarray(0, this.wanted.n);
      this.buffered = this.buffered.subarray(this.wanted.n);
      const w = this.wanted;
      this.wanted = undefined;
      w.resolve(out);
    }
  }

  read(n: number): Promise<Buffer> {
    if (this.closed && this.buffered.length < n) return Promise.reject(this.closed);
    return new Promise((resolve, reject) => {
      this.wanted = { n, resolve, reject };
      this.check();
    });
  }

  /** Hands the socket to the transmission phase, with the bytes already read. */
  detach(onData: (chunk: Buffer) => void, onError: (err: Error) => void): void {
    this.socket.off('data', this.onData);
    this.socket.off('error', this.onError);
    this.socket.off('close', this.onClose);
    this.socket.on('data', onData);
    this.socket.on('error', onError);
    this.socket.on('close', () => onError(new Error('NBD: the server closed the connection')));
    if (this.buffered.length > 0) onData(this.buffered);
  }
}

function option(code: number, data: Buffer): Buffer {
  const head = Buffer.alloc(16);
  IHAVEOPT.copy(head, 0);
  head.writeUInt32BE(code, 8);
  head.writeUInt32BE(data.length, 12);
  return Buffer.concat([head, data]);
}

function lengthPrefixed(text: string): Buffer {
  const body = Buffer.from(text, 'utf8');
  const len = Buffer.alloc(4);
  len.writeUInt32BE(body.length);
  return Buffer.concat([len, body]);
}

async function readReply(reader: HandshakeReader, code: number): Promise<OptionReply> {
  const head = await reader.read(20);
  if (head.readBigUInt64BE(0) !== OPTION_REPLY_MAGIC) throw new Error('NBD: bad option reply magic');
  if (head.readUInt32BE(8) !== code)
    throw new Error(`NBD: reply to option ${head.readUInt32BE(8)}, not ${code}`);
  const type = head.readUInt32BE(12);
  const length = head.readUInt32BE(16);
  const data = length > 0 ? await reader.read(length) : Buffer.alloc(0);
  if ((type & REP_ERROR_BIT) !== 0) {
    const text = data.toString('utf8');
    throw new Error(`NBD: option ${code} refused (0x${type.toString(16)})${text ? `: ${text}` : ''}`);
  }
  return { type, data };
}

/**
 * Negotiates the session; returns the export's size and the meta contexts the server agreed to
 * (name -> id). Throws when the server refuses the export or a context.
 */
export async function negotiate(
  socket: Socket,
  reader: HandshakeReader,
  exportName: string,
  metaContexts: readonly string[],
): Promise<{ size: number; contexts: Map<string, number> }> {
  const greeting = await reader.read(18);
  if (!greeting.subarray(0, 8).equals(NBD_MAGIC) || !greeting.subarray(8, 16).equals(IHAVEOPT))
    throw new Error('NBD: the server does not speak newstyle NBD');
  const noZeroes = (greeting.readUInt16BE(16) & FLAG_NO_ZEROES) !== 0;
  const clientFlags = Buffer.alloc(4);
  clientFlags.writeUInt32BE(FLAG_FIXED_NEWSTYLE | (noZeroes ? FLAG_NO_ZEROES : 0));
  socket.write(clientFlags);
  const contexts = new Map<string, number>();
  if (metaContexts.length > 0) {
    socket.write(option(OPT_STRUCTURED_REPLY, Buffer.alloc(0)));
    await readReply(reader, OPT_STRUCTURED_REPLY);
    const count = Buffer.alloc(4);
    count.writeUInt32BE(metaContexts.length);
    socket.write(
      option(
        OPT_SET_META_CONTEXT,
        Buffer.concat([lengthPrefixed(exportName), count, ...metaContexts.map(lengthPrefixed)]),
      ),
    );
    for (;;) {
      const reply = await readReply(reader, OPT_SET_META_CONTEXT);
      if (reply.type === REP_ACK) break;
      if (reply.type === REP_META_CONTEXT)
        contexts.set(reply.data.subarray(4).toString('utf8'), reply.data.readUInt32BE(0));
    }
    const missing = metaContexts.filter((c) => !contexts.has(c));
    if (missing.length > 0)
      throw new Error(`NBD: export "${exportName}" has no meta context ${missing.join(', ')}`);
  }
  socket.write(option(OPT_GO, Buffer.concat([lengthPrefixed(exportName), Buffer.alloc(2)])));
  let size: number | undefined;
  for (;;) {
    const reply = await readReply(reader, OPT_GO);
    if (reply.type === REP_ACK) break;
    if (reply.type === REP_INFO && reply.data.readUInt16BE(0) === INFO_EXPORT)
      size = Number(reply.data.readBigUInt64BE(2));
  }
  if (size === undefined) throw new Error(`NBD: export "${exportName}" has no size`);
  return { size, contexts };
}
