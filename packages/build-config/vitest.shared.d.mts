import type { UserConfig } from "vitest/config";

export declare function procwatchVitestConfig(overrides?: { testTimeout?: number; include?: string[] }): UserConfig;
