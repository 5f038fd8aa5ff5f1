import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { bundleBridge } from '../../scripts/build-bridge.ts';
import { isPortOpen, requireServices, SERVICE_PORTS } from './services.ts';

const servicesScript = fileURLToPath(new URL('../../scripts/services.sh', import.meta.url));

/**
 * Bundles the bridge (about a second), then starts RabbitMQ and the moto server on loopback when they are
 * installed and not already answering, and stops, at the end, only what it started. When services are required (CI), a service that cannot be
 * started fails the run; otherwise the tests that need it skip.
 */
export default async function setup(): Promise<() => void> {
  // The stack's bridge image and the bridge CLI tests use the bundled bridge: never older than the sources.
  await bundleBridge();
  const downBefore = await downServices();
  if (downBefore.length > 0) {
    try {
      execFileSync('bash', [servicesScript, 'start'], { stdio: 'inherit' });
    } catch {
      // reported below through what still does not answer
    }
  }
  const stillDown = await downServices();
  if (stillDown.length > 0) {
    if (requireServices()) {
      throw new Error(
        `services required but not running: ${stillDown.join(', ')}. Run: bash scripts/setup.sh, then retry.`,
      );
    }
    process.env.OQE_SERVICES_MISSING = stillDown.join(',');
    console.warn(`[tests] not running, their tests will skip: ${stillDown.join(', ')}`);
  }
  const startedHere = downBefore.filter((s) => !stillDown.includes(s));
  return () => {
    for (const service of startedHere) {
      execFileSync('bash', [servicesScript, 'stop', service], { stdio: 'inherit' });
    }
  };
}

async function downServices(): Promise<Array<keyof typeof SERVICE_PORTS>> {
  const down: Array<keyof typeof SERVICE_PORTS> = [];
  for (const service of Object.keys(SERVICE_PORTS) as Array<keyof typeof SERVICE_PORTS>) {
    const open = await Promise.all(SERVICE_PORTS[service].map((p) => isPortOpen(p)));
    if (!open.every(Boolean)) down.push(service);
  }
  return down;
}
