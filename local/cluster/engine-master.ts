import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const HERE = fileURLToPath(new URL('.', import.meta.url));

/** Options of one synthetic calculation. */
export interface EngineMasterOptions {
  readonly python: string;
  /** AMQP URL of the engine's vhost (holds a password: passed in the environment only). */
  readonly brokerUrl: string;
  readonly journalPath: string;
  readonly calcId: number;
  /** Tasks kept in flight, as the engine's `[distribution] num_cores`. */
  readonly numCores: number;
  readonly durations: readonly number[];
  /** Working directory for the durations file. */
  readonly workDir: string;
}

/** Progress of the calculation, as the master sees it. */
export interface EngineMasterProgress {
  submitted: number;
  ended: number;
  publishRetries: number;
  done: boolean;
}

/**
 * Runs local/cluster/engine_master.py: an engine-3.x-like master that keeps `numCores` tasks in flight and
 * submits one more per task ended. `finished` resolves when every task has ended at least once.
 */
export class EngineMaster {
  readonly progress: EngineMasterProgress = { submitted: 0, ended: 0, publishRetries: 0, done: false };
  readonly finished: Promise<void>;
  private readonly child: ChildProcess;

  constructor(options: EngineMasterOptions) {
    const durationsPath = join(options.workDir, `durations-${options.calcId}.json`);
    writeFileSync(durationsPath, JSON.stringify(options.durations));
    const args = [join(HERE, 'engine_master.py'), '--calc-id', String(options.calcId)];
    args.push(
      '--num-cores',
      String(options.numCores),
      '--durations',
      durationsPath,
      '--journal',
      options.journalPath,
    );
    this.child = spawn(options.python, args, {
      env: { ...process.env, OQ_TESTAPP_BROKER: options.brokerUrl, PYTHONUNBUFFERED: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    this.child.stderr!.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-4000);
    });
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      try {
        const event = JSON.parse(line) as { event: string };
        if (event.event === 'submitted') this.progress.submitted++;
        else if (event.event === 'ended') this.progress.ended++;
        else if (event.event === 'publish_retry') this.progress.publishRetries++;
        else if (event.event === 'done') this.progress.done = true;
      } catch {
        // not a progress line
      }
    });
    this.finished = new Promise((resolve, reject) => {
      this.child.on('exit', (code, signal) => {
        if (code === 0 && this.progress.done) resolve();
        else reject(new Error(`engine master exited with ${code ?? signal}: ${stderr.trim().slice(-800)}`));
      });
      this.child.on('error', reject);
    });
    this.finished.catch(() => undefined);
  }

  /** Stops the master (the calculation is abandoned); safe to call twice. */
  stop(): void {
    if (this.child.exitCode === null) this.child.kill('SIGTERM');
  }
}
