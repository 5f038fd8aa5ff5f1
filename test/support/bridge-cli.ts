/**
 * Helpers for tests that run the bridge CLI as an operator does (a child process) against the local RabbitMQ
 * and an ECS service on the moto server. The CLI is the bundled bridge (bridge/image/bridge.mjs, what the
 * production image runs) on plain node, bundled from the current sources by the tests' global setup.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import {
  CreateClusterCommand,
  CreateServiceCommand,
  ECSClient,
  RegisterTaskDefinitionCommand,
} from '@aws-sdk/client-ecs';
import { BRIDGE_IMAGE_SOURCE_DIR } from '../../scripts/build-bridge.ts';
import { AWS_ENDPOINT_URL, RABBIT_ADMIN, REPO_ROOT } from './services.ts';

/** The production bridge's command line: node on the bundle, with source maps for readable stack traces. */
const BRIDGE_COMMAND = ['--enable-source-maps', join(BRIDGE_IMAGE_SOURCE_DIR, 'bridge.mjs')];

/** What one CLI run printed and how it exited. */
export interface CliRun {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the bundled bridge with `args` to completion with only `env` (plus PATH and HOME) in its environment. */
export function runBridgeCli(args: string[], env: Record<string, string>, timeoutMs = 60_000): CliRun {
  const run = spawnSync(process.execPath, [...BRIDGE_COMMAND, ...args], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    encoding: 'utf8',
    timeout: timeoutMs,
  });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}

/** Starts the bundled bridge with `args` in the background; its output accumulates in `output()`. */
export function startBridgeCli(
  args: string[],
  env: Record<string, string>,
): { child: ChildProcess; output: () => CliRun; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [...BRIDGE_COMMAND, ...args], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => ({ status: child.exitCode, stdout, stderr }), exited };
}

/** A moto ECS client with the dummy credentials moto accepts. */
export function motoEcsClient(): ECSClient {
  return new ECSClient({
    endpoint: AWS_ENDPOINT_URL,
    region: 'us-east-1',
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
  });
}

/** Creates an ECS cluster and a worker service at desired count 0 on moto; returns their names. */
export async function createMotoWorkerService(prefix: string): Promise<{ cluster: string; service: string }> {
  const suffix = randomBytes(4).toString('hex');
  const cluster = `${prefix}-${suffix}`;
  const service = `oq-workers-${suffix}`;
  const ecs = motoEcsClient();
  try {
    await ecs.send(new CreateClusterCommand({ clusterName: cluster }));
    const td = await ecs.send(
      new RegisterTaskDefinitionCommand({
        family: `oq-worker-${suffix}`,
        containerDefinitions: [{ name: 'worker', image: 'oq-worker:test', memory: 2048, cpu: 1024 }],
      }),
    );
    await ecs.send(
      new CreateServiceCommand({
        cluster,
        serviceName: service,
        taskDefinition: td.taskDefinition!.taskDefinitionArn!,
        desiredCount: 0,
      }),
    );
  } finally {
    ecs.destroy();
  }
  return { cluster, service };
}

/** The bridge's environment for the ECS backend on moto, as the test administrator on `vhost`. */
export function bridgeEnv(vhost: string, ecs: { cluster: string; service: string }): Record<string, string> {
  return {
    OQE_BACKEND: 'ecs',
    OQE_BROKER_HOST: '127.0.0.1',
    OQE_BROKER_VHOST: vhost,
    OQE_BROKER_USER: RABBIT_ADMIN.user,
    OQE_BROKER_PASSWORD: RABBIT_ADMIN.password,
    OQE_MANAGEMENT_URL: 'http://127.0.0.1:15672',
    OQE_REMOTE_CONTROL_SERIALIZER: 'pickle',
    OQE_ECS_CLUSTER: ecs.cluster,
    OQE_ECS_SERVICE: ecs.service,
    AWS_REGION: 'us-east-1',
    AWS_ENDPOINT_URL,
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
  };
}
