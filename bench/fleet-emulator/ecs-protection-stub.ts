/**
 * Task protection for tests and benchmarks against moto, which has none: an in-process stub, a small HTTP
 * proxy in front of the moto server that answers UpdateTaskProtection and GetTaskProtection itself (records
 * the calls, keeps the state) and forwards every other call to moto unchanged. It also counts every ECS call
 * by action and tells a listener about StopTask, so that a benchmark can count the calls a scale-in costs and
 * stop the emulated worker of a stopped task.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { taskIdOf } from '../../bridge/src/compute/ecs-backend.ts';

export interface ProtectionCall {
  readonly tasks: string[];
  readonly protectionEnabled: boolean;
  readonly expiresInMinutes?: number;
}

/** The in-process task-protection stub proxy in front of moto (see the file comment). */
export class TaskProtectionStubProxy {
  readonly calls: ProtectionCall[] = [];
  /** GetTaskProtection calls, with how many tasks each asked about. */
  readonly gets: number[] = [];
  readonly state = new Map<string, { enabled: boolean; expires?: number }>();
  /** Task ids for which UpdateTaskProtection reports a failure. */
  readonly failFor = new Set<string>();
  /** Every ECS call that passed, by action (`UpdateService`, `ListTasks`...), protection calls included. */
  readonly counts = new Map<string, number>();
  /**
   * While set, DescribeServices answers show a rolling deployment: an ACTIVE deployment beside moto's PRIMARY
   * one, as ECS shows during a rollout (moto replaces the deployment in place instead).
   */
  deploying = false;
  /** Called with the task id of each StopTask before it is forwarded. */
  onStopTask?: (taskId: string) => void | Promise<void>;
  /** Called with the desired count of each UpdateService once moto has answered it. */
  onUpdateService?: (desiredCount: number | undefined) => void;
  private server?: Server;

  /** @param motoEndpoint the moto server every other call is forwarded to */
  constructor(private readonly motoEndpoint: string) {}

  /** The sum of all counts, or of the named actions. */
  total(actions?: readonly string[]): number {
    let sum = 0;
    for (const [action, n] of this.counts) if (!actions || actions.includes(action)) sum += n;
    return sum;
  }

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      void this.handle(req)
        .then(({ status, headers, body }) => {
          res.writeHead(status, headers);
          res.end(body);
        })
        .catch((error: unknown) => {
          res.writeHead(500, { 'content-type': 'application/x-amz-json-1.1' });
          res.end(JSON.stringify({ __type: 'ServerException', message: String(error) }));
        });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }

  private async handle(
    req: IncomingMessage,
  ): Promise<{ status: number; headers: Record<string, string>; body: string }> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const target = String(req.headers['x-amz-target'] ?? '');
    const json = { 'content-type': 'application/x-amz-json-1.1' };
    const action = target.slice(target.lastIndexOf('.') + 1);
    this.counts.set(action, (this.counts.get(action) ?? 0) + 1);
    if (action === 'StopTask' && this.onStopTask) {
      await this.onStopTask(taskIdOf(String((JSON.parse(body) as { task?: string }).task ?? '')));
    }
    if (target.endsWith('.UpdateTaskProtection')) {
      const input = JSON.parse(body) as ProtectionCall;
      this.calls.push(input);
      const protectedTasks = [];
      const failures = [];
      for (const task of input.tasks) {
        const id = taskIdOf(task);
        if (this.failFor.has(id)) {
          failures.push({ arn: task, reason: 'TASK_NOT_VALID' });
          continue;
        }
        const expires = input.protectionEnabled
          ? Date.now() / 1000 + (input.expiresInMinutes ?? 120) * 60
          : undefined;
        this.state.set(id, { enabled: input.protectionEnabled, expires });
        protectedTasks.push({
          taskArn: task,
          protectionEnabled: input.protectionEnabled,
          expirationDate: expires,
        });
      }
      return { status: 200, headers: json, body: JSON.stringify({ protectedTasks, failures }) };
    }
    if (target.endsWith('.GetTaskProtection')) {
      const input = JSON.parse(body) as { tasks: string[] };
      this.gets.push(input.tasks.length);
      const protectedTasks = input.tasks.map((task) => {
        const s = this.state.get(taskIdOf(task));
        return { taskArn: task, protectionEnabled: s?.enabled ?? false, expirationDate: s?.expires };
      });
      return { status: 200, headers: json, body: JSON.stringify({ protectedTasks, failures: [] }) };
    }
    const forwarded = await fetch(`${this.motoEndpoint}${req.url ?? '/'}`, {
      method: req.method,
      headers: Object.fromEntries(
        Object.entries(req.headers)
          .filter(([k]) => !['host', 'content-length', 'connection'].includes(k))
          .map(([k, v]) => [k, String(v)]),
      ),
      body: req.method === 'GET' || req.method === 'HEAD' ? undefined : body,
    });
    let text = await forwarded.text();
    if (action === 'DescribeServices' && this.deploying && forwarded.status < 300) {
      const out = JSON.parse(text) as { services?: { deployments?: unknown[] }[] };
      for (const svc of out.services ?? []) {
        svc.deployments = [...(svc.deployments ?? []), { id: 'ecs-svc/rolling-out', status: 'ACTIVE' }];
      }
      text = JSON.stringify(out);
    }
    if (action === 'UpdateService' && forwarded.status < 300) {
      this.onUpdateService?.((JSON.parse(body) as { desiredCount?: number }).desiredCount);
    }
    return {
      status: forwarded.status,
      headers: { 'content-type': forwarded.headers.get('content-type') ?? 'application/x-amz-json-1.1' },
      body: text,
    };
  }
}
