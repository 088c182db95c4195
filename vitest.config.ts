import { defineConfig } from "vitest/config";

// Test tiers are named in the file name; each tier is a vitest project so
// `vitest run --project unit` gives a fast loop and `pnpm test` runs them all.
export default defineConfig({
  test: {
    // One test file at a time across all tiers: the PostgreSQL global log
    // shows no event past an appender still open in its schema (and tests
    // measure round trips and timings), so a file appending and reading it
    // must not race another file's writers on this 2-core machine.
    maxWorkers: 1,
    projects: [
      {
        test: {
          name: "unit",
          include: ["{packages,services,tests}/**/*.unit.spec.ts"],
          exclude: ["**/node_modules/**", "**/dist/**"],
        },
      },
      {
        test: {
          name: "int",
          include: ["{packages,services,tests}/**/*.int.spec.ts"],
          exclude: ["**/node_modules/**", "**/dist/**"],
          testTimeout: 60_000,
          hookTimeout: 120_000,
          // Integration tests share one broker and one database server on a
          // 2-core machine: run files one after another to keep timings sane.
          fileParallelism: false,
        },
      },
      {
        test: {
          name: "e2e",
          include: ["{packages,services,tests}/**/*.e2e.spec.ts"],
          exclude: ["**/node_modules/**", "**/dist/**"],
          testTimeout: 120_000,
          hookTimeout: 180_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
