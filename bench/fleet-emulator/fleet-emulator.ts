/**
 * The TypeScript handle of the emulated celery fleet (celery_fleet_emulator.py beside this file): one Python
 * process that answers celery 4.4's remote control over the real RabbitMQ for many workers at once. Commands
 * go as JSON lines on its stdin, events come back on its stdout.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'celery_fleet_emulator.py');

export interface FleetEmulatorOptions {
  /** The Python with kombu (the repository's .venv). */
  readonly python: string;
  /** amqp:// URL of the vhost; it holds a password, so it goes in the environment, never on the command line. */
  readonly amqpUrl: string;
  /** Pool size of every emulated worker. @default 2 */
  readonly concurrency?: number;
  /** How long a task taken from the queue runs, unless its `oq_emu_seconds` header says. @default 5 */
  readonly taskSeconds?: number;
  /** Range of the per-worker reply delay, ms. @default [2, 40] */
  readonly replyMs?: readonly [number, number];
  /** Workers per AMQP connection (one thread each). @default 100 */
  readonly perConnection?: number;
  readonly seed?: number;
}

/** What the emulator reported when a worker was removed (its task stopped). */
export interface RemovedWorker {
  readonly worker: string;
  /** True when it held a task (active or reserved) at that moment: a busy worker stopped. */
  readonly busy: boolean;
}

export interface FleetState {
  readonly busy: readonly string[];
  readonly consuming: number;
  readonly workers: number;
}

type Event = { event: string } & Record<string, unknown>;

/** A running emulated fleet. */
export class FleetEmulator {
  /** Every removal so far, in order. */
  readonly removed: RemovedWorker[] = [];
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly waiting: { event: string; resolve: (e: Event) => void }[] = [];
  private stderr = '';

  private constructor(options: FleetEmulatorOptions) {
    const args = [
      SCRIPT,
      '--concurrency',
      String(options.concurrency ?? 2),
      '--task-seconds',
      String(options.taskSeconds ?? 5),
      '--reply-ms',
      ...(options.replyMs ?? [2, 40]).map(String),
      '--per-connection',
      String(options.perConnection ?? 100),
      '--seed',
      String(options.seed ?? 17),
    ];
    this.child = spawn(options.python, args, {
      env: { ...process.env, OQE_EMULATOR_BROKER: options.amqpUrl },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.child.stderr.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-4000);
    });
    createInterface({ input: this.child.stdout }).on('line', (line) => this.onLine(line));
  }

  /** Starts the emulator process (no workers yet). */
  static start(options: FleetEmulatorOptions): FleetEmulator {
    return new FleetEmulator(options);
  }

  /** Adds workers (celery hostnames such as `oq@<task id>`); resolves once all of them consume. */
  async add(hostnames: readonly string[]): Promise<void> {
    await this.request({ op: 'add', workers: hostnames }, 'added');
  }

  /** Removes workers as a stopped task would; each removal is recorded in {@link removed}. */
  async remove(hostnames: readonly string[]): Promise<void> {
    if (hostnames.length === 0) return;
    await this.request({ op: 'remove', workers: hostnames }, 'removed', hostnames.length);
  }

  /** Gives each worker one synthetic task for `seconds` (not from the queue). */
  async busy(hostnames: readonly string[], seconds: number): Promise<void> {
    await this.request({ op: 'busy', workers: hostnames, seconds }, 'busy');
  }

  /** Ends every task these workers hold (tasks from the queue are acked), so that they are idle. */
  async idle(hostnames: readonly string[]): Promise<void> {
    await this.request({ op: 'idle', workers: hostnames }, 'idle');
  }

  /** Which workers hold a task now, and how many consume the task queue. */
  async state(): Promise<FleetState> {
    const e = await this.request({ op: 'state' }, 'state');
    return e as unknown as FleetState;
  }

  /** Stops the process (its connections close; the broker drops the control queues). */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.stdin.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }

  private async request(command: Record<string, unknown>, event: string, count = 1): Promise<Event> {
    if (this.child.exitCode !== null) throw new Error(`fleet emulator exited: ${this.stderr}`);
    const replies: Promise<Event>[] = [];
    for (let i = 0; i < count; i++)
      replies.push(new Promise((resolve) => this.waiting.push({ event, resolve })));
    this.child.stdin.write(`${JSON.stringify(command)}\n`);
    const exited = new Promise<never>((_, reject) =>
      this.child.once('exit', () => reject(new Error(`fleet emulator exited: ${this.stderr}`))),
    );
    const all = await Promise.race([Promise.all(replies), exited]);
    return all[all.length - 1]!;
  }

  private onLine(line: string): void {
    let e: Event;
    try {
      e = JSON.parse(line) as Event;
    } catch {
      return;
    }
    if (e.event === 'removed') this.removed.push({ worker: String(e.worker), busy: e.busy === true });
    if (e.event === 'error') this.stderr = `${this.stderr}\n${String(e.error)}`.slice(-4000);
    const i = this.waiting.findIndex((w) => w.event === e.event);
    if (i >= 0) this.waiting.splice(i, 1)[0]!.resolve(e);
  }
}
