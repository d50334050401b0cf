import { defineConfig } from 'vitest/config';

// Two projects: `unit` (pure logic, no engine) and `integration` (against a real lab swarm that
// test/integration/global-setup.ts brings up once per run and tears down after).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts', 'src/**/*.test.ts'],
          environment: 'node',
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          environment: 'node',
          globalSetup: ['test/integration/global-setup.ts'],
          // One lab swarm is shared: files run one after the other, never in parallel.
          fileParallelism: false,
          testTimeout: 120_000,
          // restoreLab may heal for 150 s, then rebuild the lab.
          hookTimeout: 300_000,
        },
      },
    ],
  },
});
