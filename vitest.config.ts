import { defineConfig } from 'vitest/config';

/**
 * One runner for every test. Files run one after another: the integration and end-to-end tests share one
 * RabbitMQ, one moto server and two cores, and their timings are what they assert on.
 */
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/global-setup.ts'],
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 180_000,
    reporters: ['default'],
  },
});
