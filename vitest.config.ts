import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['packages/*/test/**/*.test.ts'],
    // CI must never pass because a stray `.only` silenced the rest of the suite.
    allowOnly: !process.env.CI,
    testTimeout: 20_000,
    hookTimeout: 60_000,
  },
});
