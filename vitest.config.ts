import { defineConfig } from 'vitest/config';

// Two tiers: `unit` is pure and fast; `e2e` runs against the real control plane that
// test/harness/global-setup.ts builds (once, cached) and starts for the whole run.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          globalSetup: ['test/harness/global-setup.ts'],
          testTimeout: 180_000,
          hookTimeout: 600_000,
          // The control plane is shared; files run in parallel workers against fresh namespaces.
          pool: 'forks',
        },
      },
    ],
  },
});
