/**
 * The agent protocol's framing: each message is a JSON header and an optional binary body, sent
 * as [u32 header length][u32 body length][header][body] (big-endian lengths). FrameReader turns a
 * byte stream into messages; encodeFrame does the opposite. Shared by the daemon's side
 * (agent-connection.ts) and the agent (agent.ts).
 */

/** A header longer than this is a corrupt stream, not a message. */
const MAX_HEADER = 16 * 1024 * 1024;
/** Bodies are disk reads and writes: a chunk (4 MiB) with room to spare. */
const MAX_BODY = 64 * 1024 * 1024;

export interface Frame {
  readonly header: Record<string, unknown>;
  readonly body: Buffer | undefined;
}

export function encodeFrame(header: Record<string, unknown>, body?: Uint8Array): Buffer[] {
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const lengths = Buffer.alloc(8);
  lengths.writeUInt32BE(json.length, 0);
  lengths.writeUInt32BE(body?.length ?? 0, 4);
  return body && body.length > 0
    ? [lengths, json, Buffer.from(body.buffer, body.byteOffset, body.length)]
    : [lengths, json];
}

/** Collects bytes and yields whole frames; throws on a stream that cannot be frames. */
export class FrameReader {
  #parts: Buffer[] = [];
  #buffered = 0;

  push(data: Buffer): Frame[] {
    this.#parts.push(data);
    this.#buffered += data.length;
    const frames: Frame[] = [];
    for (;;) {
      if (this.#buffered < 8) break;
      const head = this.#peek(8);
      const headerLength = head.readUInt32BE(0);
      const bodyLength = head.readUInt32BE(4);
      if (headerLength > MAX_HEADER || bodyLength > MAX_BODY)
        throw new Error(`corrupt agent stream: a frame of ${headerLength}+${bodyLength} bytes`);
      if (this.#buffered < 8 + headerLength + bodyLength) break;
      const all = this.#take(8 + headerLength + bodyLength);
      const header = JSON.parse(all.subarray(8, 8 + headerLength).toString('utf8')) as unknown;
      if (typeof header !== 'object' || header === null || Array.isArray(header))
        throw new Error('corrupt agent stream: a header that is not an object');
      frames.push({
        header: header as Record<string, unknown>,
        body: bodyLength > 0 ? all.subarray(8 + headerLength) : undefined,
      });
    }
    return frames;
  }

  #peek(n: number): Buffer {
    if ((this.#parts[0]?.length ?? 0) < n) this.#parts = [Buffer.concat(this.#parts)];
    return this.#parts[0] as Buffer;
  }

  #take(n: number): Buffer {
    if ((this.#parts[0]?.length ?? 0) < n) this.#parts = [Buffer.concat(this.#parts)];
    const first = this.#parts[0] as Buffer;
    const rest = first.subarray(n);
    if (rest.length > 0) this.#parts[0] = rest;
    else this.#parts.shift();
    this.#buffered -= n;
    return first.subarray(0, n);
  }
}
