/**
 * A RabbitMQ of one test file's own, on ports of its own, for tests that stop and restart the broker: the
 * shared test broker on 5672 must never go down under the other tests. scripts/services.sh runs it, keeping its
 * state (users, vhosts, durable queues) in a temporary directory across restarts.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from './services.ts';

const run = promisify(execFile);

export interface PrivateRabbitPorts {
  readonly amqp: number;
  readonly management: number;
  readonly dist: number;
}

export class PrivateRabbit {
  /** The node's state directory; tests may keep their own files in it (removed by `dispose`). */
  readonly dir: string;
  private readonly env: NodeJS.ProcessEnv;

  /** `name` becomes the Erlang node name, so that two private nodes never clash. */
  constructor(
    name: string,
    readonly ports: PrivateRabbitPorts,
  ) {
    this.dir = mkdtempSync(join(tmpdir(), `oqe-${name}-rabbit-`));
    this.env = {
      ...process.env,
      OQE_AMQP_PORT: String(ports.amqp),
      OQE_MGMT_PORT: String(ports.management),
      OQE_DIST_PORT: String(ports.dist),
      OQE_SERVICES_DIR: this.dir,
      OQE_RABBIT_NODENAME: `oqe-${name}@localhost`,
    };
  }

  /** Starts the node (a no-op when it already answers). */
  async start(): Promise<void> {
    await this.services('start');
  }

  /** Stops the node, keeping its state for the next start. */
  async stop(): Promise<void> {
    await this.services('stop', 'rabbitmq');
  }

  /** Stops the node if it runs and removes its state. */
  async dispose(): Promise<void> {
    await this.stop().catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async services(...args: string[]): Promise<void> {
    await run('bash', [join(REPO_ROOT, 'scripts/services.sh'), ...args], { env: this.env, timeout: 150_000 });
  }
}
