/**
 * One SSH connection to a host's agent: `ssh host node -e <bootstrap>` (OpenSSH from Debian, the
 * options of drivers/ssh.ts: host keys checked, never prompted), the agent bundle sent on stdin
 * (the host keeps it under ~/.cache/onebackup-agent, by digest, so the daemon and agent always run
 * the same code), then framed calls in both directions, any number at once. A connection that
 * fails rejects every call under way with an error naming the host and the fix (an unreachable
 * host is retryable; a wrong host key or login is not); the pool (host-agents.ts) opens a new one
 * for the next call.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describeTarget, explainSshFailure, SshError, type SshTarget, sshCommandArgs } from '../ssh.js';
import { encodeFrame, FrameReader } from './frames.js';
import {
  type AgentHello,
  type AgentMethod,
  fromWireError,
  PROTOCOL_VERSION,
  type WireError,
} from './wire.js';

/**
 * Run by the host's `node -e`: reads the bundle (length-prefixed) from stdin, keeps it in a
 * private directory under the login's home named by its digest, and imports it; the rest of
 * stdin is the protocol. A constant: nothing a user typed reaches the remote shell.
 */
const BOOTSTRAP = [
  'const fs=require("fs"),path=require("path"),os=require("os"),crypto=require("crypto");',
  'function take(n){const b=Buffer.alloc(n);let got=0;while(got<n){try{const r=fs.readSync(0,b,got,n-got,null);if(r===0)process.exit(3);got+=r}catch(e){if(e.code!=="EAGAIN")throw e}}return b}',
  'const code=take(take(4).readUInt32BE(0));',
  'const dir=path.join(os.homedir(),".cache","onebackup-agent");fs.mkdirSync(dir,{recursive:true,mode:0o700});',
  'const file=path.join(dir,"agent-"+crypto.createHash("sha256").update(code).digest("hex").slice(0,16)+".mjs");',
  'let same=false;try{same=fs.readFileSync(file).equals(code)}catch(e){}',
  'if(!same){const tmp=file+"."+process.pid;fs.writeFileSync(tmp,code,{mode:0o600});fs.renameSync(tmp,file)}',
  'import(require("url").pathToFileURL(file).href).catch(e=>{console.error(e);process.exit(4)});',
].join('');

const HELLO_TIMEOUT_MS = 60_000;

interface Pending {
  readonly resolve: (reply: { result: unknown; body: Buffer | undefined }) => void;
  readonly reject: (err: Error) => void;
}

export interface AgentReply {
  readonly result: unknown;
  readonly body: Buffer | undefined;
}

export class AgentConnection {
  readonly #child: ChildProcess;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #stderr = '';
  #failure: Error | undefined;
  readonly hello: Promise<AgentHello>;
  /** Bytes that crossed the connection (protocol and payload; SSH's own overhead excluded). */
  readonly traffic: { received: number; sent: number };

  private constructor(
    readonly target: SshTarget,
    bundle: Buffer,
    sshBinary: string,
    traffic: { received: number; sent: number },
  ) {
    this.traffic = traffic;
    const command = `node -e '${BOOTSTRAP}'`;
    this.#child = spawn(sshBinary, sshCommandArgs(target, command), { stdio: ['pipe', 'pipe', 'pipe'] });
    const length = Buffer.alloc(4);
    length.writeUInt32BE(bundle.length, 0);
    this.#child.stdin?.on('error', () => undefined);
    this.#write(length);
    this.#write(bundle);
    this.#child.stderr?.on('data', (d: Buffer) => {
      this.#stderr = (this.#stderr + d.toString('utf8')).slice(-8192);
    });
    const reader = new FrameReader();
    let greet: ((h: AgentHello) => void) | undefined;
    let refuse: ((e: Error) => void) | undefined;
    this.hello = new Promise<AgentHello>((resolve, reject) => {
      greet = resolve;
      refuse = reject;
    });
    this.hello.catch(() => undefined);
    const timer = setTimeout(
      () =>
        this.#fail(
          new SshError(
            `${describeTarget(target)}: the agent did not start within ${HELLO_TIMEOUT_MS / 1000} s`,
            'lost',
          ),
        ),
      HELLO_TIMEOUT_MS,
    );
    timer.unref();
    this.#child.stdout?.on('data', (data: Buffer) => {
      this.traffic.received += data.length;
      let frames: ReturnType<FrameReader['push']>;
      try {
        frames = reader.push(data);
      } catch (err) {
        this.#fail(err instanceof Error ? err : new Error(String(err)));
        return;
      }
      for (const { header, body } of frames) {
        if (header.t === 'hello') {
          clearTimeout(timer);
          const h = header as unknown as AgentHello;
          if (h.protocol !== PROTOCOL_VERSION)
            this.#fail(
              new SshError(
                `${describeTarget(target)}: its agent speaks protocol ${h.protocol}, the daemon ${PROTOCOL_VERSION}`,
                'lost',
              ),
            );
          else greet?.(h);
          continue;
        }
        const p = this.#pending.get(Number(header.id));
        if (!p) continue;
        this.#pending.delete(Number(header.id));
        if (header.t === 'ok') p.resolve({ result: header.result, body });
        else p.reject(fromWireError(header.error as WireError, target.host));
      }
    });
    this.#child.on('error', (err) => this.#fail(err));
    this.#child.on('close', (code) => {
      clearTimeout(timer);
      this.#fail(this.#explain(code));
    });
    this.#failed = (err) => refuse?.(err);
  }

  #failed: (err: Error) => void;

  #write(part: Uint8Array): void {
    this.traffic.sent += part.length;
    this.#child.stdin?.write(part);
  }

  /**
   * Starts the agent on the target; resolves once it greeted (or rejects with why it could not).
   * `traffic` is added to as bytes cross (a host's totals outlive its connections).
   */
  static async open(
    target: SshTarget,
    bundlePath: string,
    traffic: { received: number; sent: number },
    sshBinary = 'ssh',
  ): Promise<AgentConnection> {
    const c = new AgentConnection(target, readFileSync(bundlePath), sshBinary, traffic);
    await c.hello;
    return c;
  }

  get alive(): boolean {
    return this.#failure === undefined;
  }

  #explain(code: number | null): Error {
    const what = `host ${describeTarget(this.target)}`;
    if (/node: (command )?not found|No such file or directory.*node/.test(this.#stderr))
      return new SshError(
        `${what} has no \`node\` on the PATH of its SSH login: onebackup's host agent needs Node.js 20 or later there (apt-get install nodejs)`,
        'auth',
      );
    if (this.#stderr.trim() === '' && code !== 255)
      return new SshError(`${what}: the host agent stopped (exit code ${code})`, 'lost');
    return explainSshFailure(this.target, this.#stderr, what);
  }

  #fail(err: Error): void {
    if (this.#failure) return;
    this.#failure = err;
    this.#failed(err);
    for (const p of this.#pending.values()) p.reject(err);
    this.#pending.clear();
    if (this.#child.exitCode === null) this.#child.kill('SIGTERM');
  }

  /** One call on the host; `signal` sends the agent an abort for it (prepare honours it). */
  call(
    driver: string,
    method: AgentMethod,
    args: readonly unknown[],
    options: { readonly body?: Uint8Array; readonly signal?: AbortSignal | undefined } = {},
  ): Promise<AgentReply> {
    if (this.#failure) return Promise.reject(this.#failure);
    const id = this.#nextId++;
    const reply = new Promise<AgentReply>((resolve, reject) => this.#pending.set(id, { resolve, reject }));
    for (const part of encodeFrame({ t: 'call', id, driver, method, args }, options.body)) this.#write(part);
    const signal = options.signal;
    if (signal) {
      const onAbort = () => {
        if (this.#pending.has(id)) for (const part of encodeFrame({ t: 'abort', id })) this.#write(part);
      };
      if (signal.aborted) onAbort();
      else {
        signal.addEventListener('abort', onAbort, { once: true });
        reply.finally(() => signal.removeEventListener('abort', onAbort)).catch(() => undefined);
      }
    }
    return reply;
  }

  /** Ends the connection: the agent releases what is still open on the host and exits. */
  async close(): Promise<void> {
    if (this.#child.exitCode !== null || this.#child.signalCode !== null) return;
    const closed = new Promise<void>((resolve) => this.#child.once('close', () => resolve()));
    this.#child.stdin?.end();
    const timer = setTimeout(() => this.#child.kill('SIGKILL'), 10_000);
    await closed;
    clearTimeout(timer);
  }
}
