import { defineConfig } from "vitest/config";

/**
 * Every package runs Vitest with the same settings so that `.ci/run` can sum one JSON
 * report per package. The metadata endpoint is disabled because no test may ever reach
 * 169.254.169.254: the SDK would otherwise probe it for credentials and region.
 */
/** @param {{ testTimeout?: number; include?: string[] }} [overrides] */
export function procwatchVitestConfig(overrides = {}) {
  return defineConfig({
    test: {
      include: overrides.include ?? ["src/**/*.test.ts", "test/**/*.test.ts"],
      testTimeout: overrides.testTimeout ?? 20_000,
      // Hooks build bundles, boot processes and run model minutes: on a loaded 2-core CI machine they
      // need the same time a test gets (Vitest's default of 10 s failed there).
      hookTimeout: overrides.testTimeout ?? 20_000,
      env: {
        AWS_EC2_METADATA_DISABLED: "true",
        AWS_REGION: "eu-west-1",
        AWS_ACCESS_KEY_ID: "AKIDTESTONLY",
        AWS_SECRET_ACCESS_KEY: "test-only-secret",
        NO_COLOR: "1",
      },
      reporters: ["default", ["json", { outputFile: ".vitest-report.json" }]],
    },
  });
}
