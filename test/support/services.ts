/**
 * The tests' view of the local services (local/services.ts): the same addresses and helpers, plus the
 * `describe` variants that skip, outside CI only, when a service is missing.
 */
import { describe } from 'vitest';
import { SERVICE_PORTS } from '../../local/services.ts';

export * from '../../local/services.ts';

const env = process.env;

/** True when a missing service must fail the run rather than skip its tests (CI). */
export function requireServices(): boolean {
  return env.CI === 'true' || env.OQE_REQUIRE_SERVICES === '1';
}

/** True when global setup found the service missing (only possible outside CI). */
export function isMissing(service: keyof typeof SERVICE_PORTS): boolean {
  return (env.OQE_SERVICES_MISSING ?? '').split(',').includes(service);
}

/** `describe` that skips, outside CI only, when RabbitMQ is not available. */
export const describeWithRabbit = describe.skipIf(isMissing('rabbitmq'));
/** `describe` that skips, outside CI only, when the moto server is not available. */
export const describeWithMoto = describe.skipIf(isMissing('moto'));
/** `describe` that skips, outside CI only, when either service is not available. */
export const describeWithServices = describe.skipIf(isMissing('rabbitmq') || isMissing('moto'));
