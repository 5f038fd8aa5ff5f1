/**
 * The ECS backend's default client retries as aws-client-config.ts says, with the SDK's own retry and no
 * second loop around it: a throttled UpdateService is at most AWS_MAX_ATTEMPTS HTTP requests.
 *
 * Against an in-process HTTP stub of the ECS API (stub because nothing real or emulated here throttles on
 * demand: moto never answers ThrottlingException).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AWS_CALL_BOUND_MS, AWS_MAX_ATTEMPTS } from '../../bridge/src/compute/aws-client-config.ts';
import { EcsBackend } from '../../bridge/src/compute/ecs-backend.ts';

/** How the stub answers each request, in order; the last answer repeats. */
let script: ('throttle' | 'ok')[] = [];
const requests: string[] = [];
let server: Server;
const saved: Record<string, string | undefined> = {};

function answer(kind: 'throttle' | 'ok', res: import('node:http').ServerResponse): void {
  res.setHeader('content-type', 'application/x-amz-json-1.1');
  if (kind === 'throttle') {
    res.statusCode = 400;
    res.setHeader('x-amzn-errortype', 'ThrottlingException');
    res.end(JSON.stringify({ __type: 'ThrottlingException', message: 'Rate exceeded' }));
  } else {
    res.end(JSON.stringify({ service: { serviceName: 'workers', desiredCount: 4, status: 'ACTIVE' } }));
  }
}

beforeAll(async () => {
  server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      requests.push(String(req.headers['x-amz-target']));
      answer(script[Math.min(requests.length - 1, script.length - 1)]!, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const env = {
    AWS_ENDPOINT_URL: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'stub',
    AWS_SECRET_ACCESS_KEY: 'stub',
  };
  for (const [k, v] of Object.entries(env)) {
    saved[k] = process.env[k];
    process.env[k] = v;
  }
});

afterAll(async () => {
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  await new Promise((r) => server.close(r));
});

describe('ECS backend: the SDK retries, once (in-process ECS API stub)', () => {
  it('a persistently throttled scaleTo makes exactly AWS_MAX_ATTEMPTS requests, then fails', async () => {
    requests.length = 0;
    script = ['throttle'];
    const started = Date.now();
    await expect(new EcsBackend({ cluster: 'c', service: 'workers' }).scaleTo(4)).rejects.toMatchObject({
      name: 'ThrottlingException',
    });
    expect(requests).toEqual(
      Array(AWS_MAX_ATTEMPTS).fill('AmazonEC2ContainerServiceV20141113.UpdateService'),
    );
    expect(Date.now() - started).toBeLessThan(AWS_CALL_BOUND_MS);
  });

  it('a scaleTo throttled twice succeeds on the third request', async () => {
    requests.length = 0;
    script = ['throttle', 'throttle', 'ok'];
    await new EcsBackend({ cluster: 'c', service: 'workers' }).scaleTo(4);
    expect(requests).toHaveLength(3);
  });
});
