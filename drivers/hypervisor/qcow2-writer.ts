/**
 * Writes a new qcow2 (version 3, 64 KiB clusters, 16-bit refcounts, no backing file) directly:
 * guest data goes to data clusters with the same O_DIRECT writes as a raw restore, and the
 * metadata (header, L1, L2, refcount table and blocks) is written once at commit. Going through
 * qemu-nbd instead cost a socket copy and QEMU's own write per byte (a 2 GiB restore took 3.0 s
 * against 2.1 s for raw). Clusters never written stay unallocated, so the image is as sparse as
 * the backup. Any write pattern is allowed: each guest cluster gets a host cluster the first
 * time it is written, in write order.
 */
import { DirectFile } from '../direct-io.js';

const CLUSTER_BITS = 16;
const CLUSTER = 1 << CLUSTER_BITS;
const L2_ENTRIES = CLUSTER / 8;
/** refcount_order 4: 16-bit refcounts. */
const REFCOUNTS_PER_BLOCK = CLUSTER / 2;
const COPIED = 1n << 63n;
const HEADER_LENGTH = 104;

const clustersFor = (bytes: number) => Math.ceil(bytes / CLUSTER);

/** Where each kind of metadata lives, in clusters; data clusters follow `dataStart`. */
interface Layout {
  readonly l1Entries: number;
  readonly l1Offset: number;
  readonly refcountTableOffset: number;
  readonly refcountTableClusters: number;
  readonly refcountBlocksOffset: number;
  readonly refcountBlocks: number;
  readonly l2Offset: number;
  readonly dataStart: number;
}

/** Metadata sized for the worst case (every cluster allocated), so data can follow it. */
function layout(virtualSize: number): Layout {
  const guestClusters = clustersFor(virtualSize);
  const l1Entries = Math.max(1, Math.ceil(guestClusters / L2_ENTRIES));
  const l1Clusters = clustersFor(l1Entries * 8);
  let refcountBlocks = 1;
  let refcountTableClusters = 1;
  for (;;) {
    const total = 1 + l1Clusters + refcountTableClusters + refcountBlocks + l1Entries + guestClusters;
    const blocks = Math.ceil(total / REFCOUNTS_PER_BLOCK);
    const tableClusters = clustersFor(blocks * 8);
    if (blocks === refcountBlocks && tableClusters === refcountTableClusters) break;
    refcountBlocks = blocks;
    refcountTableClusters = tableClusters;
  }
  const l1Offset = 1;
  const refcountTableOffset = l1Offset + l1Clusters;
  const refcountBlocksOffset = refcountTableOffset + refcountTableClusters;
  const l2Offset = refcountBlocksOffset + refcountBlocks;
  return {
    l1Entries,
    l1Offset,
    refcountTableOffset,
    refcountTableClusters,
    refcountBlocksOffset,
    refcountBlocks,
    l2Offset,
    dataStart: l2Offset + l1Entries,
  };
}

export class Qcow2Writer {
  readonly #layout: Layout;
  /** Guest cluster -> host cluster, for clusters written so far. */
  readonly #map = new Map<number, number>();
  #nextHost: number;

  private constructor(
    private readonly file: DirectFile,
    private readonly virtualSize: number,
  ) {
    this.#layout = layout(virtualSize);
    this.#nextHost = this.#layout.dataStart;
  }

  /** Creates the image file at `path` (it must not exist). */
  static async create(path: string, virtualSize: number): Promise<Qcow2Writer> {
    return new Qcow2Writer(await DirectFile.create(path, 0o600), virtualSize);
  }

  /**
   * Continues a partial image: `placed` are the writes a previous attempt made durable (guest
   * offset, length, first host cluster); their clusters keep their places, new ones follow.
   */
  static async reopen(
    path: string,
    virtualSize: number,
    placed: readonly { offset: number; length: number; host: number }[],
  ): Promise<Qcow2Writer> {
    const writer = new Qcow2Writer(await DirectFile.reopen(path), virtualSize);
    for (const p of placed) {
      const first = Math.floor(p.offset / CLUSTER);
      const count = clustersFor(p.offset + p.length) - first;
      for (let c = 0; c < count; c++) writer.#map.set(first + c, p.host + c);
      writer.#nextHost = Math.max(writer.#nextHost, p.host + count);
    }
    return writer;
  }

  /** The host cluster of the guest cluster at `offset` (after a write there), for a resume record. */
  hostClusterOf(offset: number): number {
    const host = this.#map.get(Math.floor(offset / CLUSTER));
    if (host === undefined) throw new RangeError(`qcow2: nothing written at guest offset ${offset}`);
    return host;
  }

  /** Makes the data written so far durable (not the metadata: that is written at commit). */
  sync(): Promise<void> {
    return this.file.sync();
  }

  /** Writes guest bytes at a guest offset; host clusters are contiguous for a fresh range. */
  async write(offset: number, data: Uint8Array): Promise<void> {
    if (offset < 0 || offset + data.length > this.virtualSize)
      throw new RangeError(`qcow2 write of ${data.length} bytes at ${offset} is outside the disk`);
    const writes: Promise<void>[] = [];
    let pos = 0;
    while (pos < data.length) {
      // One run: guest clusters whose host clusters are consecutive.
      const start = pos;
      let hostStart = -1;
      let expected = -1;
      while (pos < data.length) {
        const guest = offset + pos;
        const host = this.#hostCluster(Math.floor(guest / CLUSTER));
        if (hostStart < 0) {
          hostStart = host * CLUSTER + (guest % CLUSTER);
          expected = host;
        } else if (host !== expected) break;
        expected++;
        pos += Math.min(data.length - pos, CLUSTER - (guest % CLUSTER));
      }
      writes.push(this.file.write(data.subarray(start, pos), hostStart));
    }
    await Promise.all(writes);
  }

  #hostCluster(guest: number): number {
    let host = this.#map.get(guest);
    if (host === undefined) {
      host = this.#nextHost++;
      this.#map.set(guest, host);
    }
    return host;
  }

  /** Writes the metadata, sizes the file and makes everything durable; then closes it. */
  async commit(): Promise<void> {
    const l = this.#layout;
    const header = Buffer.alloc(CLUSTER);
    header.write('QFI\xfb', 0, 'latin1');
    header.writeUInt32BE(3, 4);
    header.writeUInt32BE(CLUSTER_BITS, 20);
    // QEMU sizes images in 512-byte sectors (qemu-img create rounds up); so does this writer.
    header.writeBigUInt64BE(BigInt(Math.ceil(this.virtualSize / 512) * 512), 24);
    header.writeUInt32BE(l.l1Entries, 36);
    header.writeBigUInt64BE(BigInt(l.l1Offset * CLUSTER), 40);
    header.writeBigUInt64BE(BigInt(l.refcountTableOffset * CLUSTER), 48);
    header.writeUInt32BE(l.refcountTableClusters, 56);
    header.writeUInt32BE(4, 96);
    header.writeUInt32BE(HEADER_LENGTH, 100);

    const l1 = Buffer.alloc(clustersFor(l.l1Entries * 8) * CLUSTER);
    const l2 = new Map<number, Buffer>();
    for (const [guest, host] of this.#map) {
      const entry = Math.floor(guest / L2_ENTRIES);
      let table = l2.get(entry);
      if (!table) {
        table = Buffer.alloc(CLUSTER);
        l2.set(entry, table);
        l1.writeBigUInt64BE(BigInt((l.l2Offset + entry) * CLUSTER) | COPIED, entry * 8);
      }
      table.writeBigUInt64BE(BigInt(host * CLUSTER) | COPIED, (guest % L2_ENTRIES) * 8);
    }

    const refcountTable = Buffer.alloc(l.refcountTableClusters * CLUSTER);
    const refcounts = Buffer.alloc(l.refcountBlocks * CLUSTER);
    for (let b = 0; b < l.refcountBlocks; b++)
      refcountTable.writeBigUInt64BE(BigInt((l.refcountBlocksOffset + b) * CLUSTER), b * 8);
    const used = (cluster: number) => refcounts.writeUInt16BE(1, cluster * 2);
    for (let c = 0; c < l.l2Offset; c++) used(c);
    for (const entry of l2.keys()) used(l.l2Offset + entry);
    // Only mapped clusters: a resumed image may hold clusters an interrupted write left unmapped.
    for (const host of this.#map.values()) used(host);

    await this.file.write(header, 0);
    await this.file.write(l1, l.l1Offset * CLUSTER);
    await this.file.write(refcountTable, l.refcountTableOffset * CLUSTER);
    await this.file.write(refcounts, l.refcountBlocksOffset * CLUSTER);
    for (const [entry, table] of l2) await this.file.write(table, (l.l2Offset + entry) * CLUSTER);
    await this.file.truncate(this.#nextHost * CLUSTER);
    await this.file.sync();
    await this.file.close();
  }

  /** Closes the file without finishing it (the caller removes it). */
  async abort(): Promise<void> {
    await this.file.close().catch(() => undefined);
  }
}
