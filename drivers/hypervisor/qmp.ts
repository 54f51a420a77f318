/**
 * A QEMU Machine Protocol client over a Unix socket: the greeting, `qmp_capabilities`, then one
 * command at a time (QMP answers in order; commands are queued and sent when the previous one is
 * answered). Events are kept for `waitEvent`. The same line protocol serves the QEMU guest agent
 * (`guest-*` commands, no greeting), see `QmpClient.connect(path, { agent: true })`.
 */
import { createConnection, type Socket } from 'node:net';

export type QmpValue = null | boolean | number | string | QmpValue[] | { [key: string]: QmpValue };
export type QmpArgs = Record<string, QmpValue | undefined>;

/** A command QEMU refused: `klass` is QMP's error class (GenericError, DeviceNotFound, ...). */
export class QmpError extends Error {
  constructor(
    readonly command: string,
    readonly klass: string,
    readonly description: string,
  ) {
    super(`QMP ${command}: ${description}`);
    this.name = 'QmpError';
  }
}

interface Waiting {
  readonly command: string;
  readonly resolve: (value: QmpValue) => void;
  readonly reject: (err: Error) => void;
}

export interface QmpEvent {
  readonly event: string;
  readonly data: { [key: string]: QmpValue };
}

export class QmpClient {
  private buffered = '';
  private readonly waiting: Waiting[] = [];
  private readonly events: QmpEvent[] = [];
  private readonly eventWaiters = new Set<() => void>();
  private closed: Error | undefined;
  private greeting: ((v: QmpValue) => void) | undefined;
  /** A guest agent's sync: every answer is dropped until the one carrying this id. */
  private syncing: { id: number; done: () => void } | undefined;

  private constructor(
    private readonly socket: Socket,
    private readonly path: string,
  ) {
    socket.setEncoding('utf8');
    socket.on('data', (text: string) => this.onData(text));
    const end = (err?: Error) => {
      this.closed ??= err ?? new Error(`QMP ${path}: connection closed`);
      for (const w of this.waiting.splice(0)) w.reject(this.closed);
      for (const wake of this.eventWaiters) wake();
    };
    socket.on('error', end);
    socket.on('close', () => end());
  }

  /**
   * Connects and negotiates capabilities. With `agent`, the socket is a guest agent's: no
   * greeting; a `guest-sync` with a random id flushes whatever an earlier client left unread.
   */
  static async connect(
    path: string,
    options: { agent?: boolean; timeoutMs?: number } = {},
  ): Promise<QmpClient> {
    const socket = createConnection(path);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', (err) => reject(new Error(`QMP ${path}: cannot connect: ${err.message}`)));
    });
    const client = new QmpClient(socket, path);
    const timeoutMs = options.timeoutMs ?? 10_000;
    if (options.agent) {
      // An answer meant for an earlier client (one that died waiting) may come first: drop
      // everything up to our sync's answer.
      const id = Math.floor(Math.random() * 2 ** 31);
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          client.close();
          reject(new Error(`guest agent ${path}: no answer to guest-sync in ${timeoutMs} ms`));
        }, timeoutMs);
        client.syncing = {
          id,
          done: () => {
            clearTimeout(timer);
            resolve();
          },
        };
        socket.write(`${JSON.stringify({ execute: 'guest-sync', arguments: { id } })}\n`);
      });
      return client;
    }
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`QMP ${path}: no greeting in ${timeoutMs} ms`)),
        timeoutMs,
      );
      client.greeting = () => {
        clearTimeout(timer);
        resolve();
      };
      if (client.closed) reject(client.closed);
    });
    await client.execute('qmp_capabilities');
    return client;
  }

  private onData(text: string): void {
    this.buffered += text;
    for (let nl = this.buffered.indexOf('\n'); nl >= 0; nl = this.buffered.indexOf('\n')) {
      const line = this.buffered.slice(0, nl).trim();
      this.buffered = this.buffered.slice(nl + 1);
      if (line) this.onMessage(line);
    }
  }

  private onMessage(line: string): void {
    let message: { [key: string]: QmpValue };
    try {
      message = JSON.parse(line) as { [key: string]: QmpValue };
    } catch {
      return; // The agent may emit a 0xFF sync byte or noise; a command's answer is always JSON.
    }
    if (this.syncing) {
      if (message.return === this.syncing.id) {
        this.syncing.done();
        this.syncing = undefined;
      }
      return;
    }
    if ('QMP' in message) {
      this.greeting?.(message.QMP ?? null);
      this.greeting = undefined;
      return;
    }
    if (typeof message.event === 'string') {
      this.events.push({ event: message.event, data: (message.data ?? {}) as { [key: string]: QmpValue } });
      for (const wake of this.eventWaiters) wake();
      return;
    }
    const w = this.waiting.shift();
    if (!w) return;
    if ('error' in message) {
      const e = (message.error ?? {}) as { class?: string; desc?: string };
      w.reject(new QmpError(w.command, String(e.class ?? 'GenericError'), String(e.desc ?? 'failed')));
    } else w.resolve(message.return ?? null);
  }

  /** Runs one command; rejects with QmpError when QEMU refuses it, or on a timeout. */
  execute(command: string, args?: QmpArgs, timeoutMs = 60_000): Promise<QmpValue> {
    if (this.closed) return Promise.reject(this.closed);
    const clean: QmpArgs = {};
    for (const [k, v] of Object.entries(args ?? {})) if (v !== undefined) clean[k] = v;
    return new Promise<QmpValue>((resolve, reject) => {
      const timer = setTimeout(() => {
        const err = new Error(`QMP ${this.path}: ${command} got no answer in ${timeoutMs} ms`);
        this.closed ??= err;
        reject(err);
        this.socket.destroy();
      }, timeoutMs);
      this.waiting.push({
        command,
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      const body = args === undefined ? { execute: command } : { execute: command, arguments: clean };
      this.socket.write(`${JSON.stringify(body)}\n`);
    });
  }

  /** Waits for an event (seen since connecting or later) that `match` accepts, and consumes it. */
  async waitEvent(match: (e: QmpEvent) => boolean, timeoutMs: number): Promise<QmpEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.events.findIndex(match);
      if (i >= 0) return this.events.splice(i, 1)[0] as QmpEvent;
      if (this.closed) throw this.closed;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`QMP ${this.path}: the expected event did not come in ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          this.eventWaiters.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, left);
        this.eventWaiters.add(wake);
      });
    }
  }

  close(): void {
    this.socket.destroy();
  }
}
