import { describe, expect, it } from 'vitest';
import { createTestVhost, describeWithRabbit, managementApi } from '../support/services.ts';

describeWithRabbit('test harness: isolated vhosts on the local RabbitMQ', () => {
  it('creates a vhost per test file and removes it on cleanup', async () => {
    const testVhost = await createTestVhost('oqe-harness');
    const vhosts = (await (await managementApi('GET', '/api/vhosts')).json()) as Array<{ name: string }>;
    expect(vhosts.map((v) => v.name)).toContain(testVhost.vhost);
    await testVhost.cleanup();
    const after = (await (await managementApi('GET', '/api/vhosts')).json()) as Array<{ name: string }>;
    expect(after.map((v) => v.name)).not.toContain(testVhost.vhost);
  });
});

describe('test harness', () => {
  it('requires services in CI', async () => {
    const { requireServices } = await import('../support/services.ts');
    expect(requireServices()).toBe(process.env.CI === 'true' || process.env.OQE_REQUIRE_SERVICES === '1');
  });
});
