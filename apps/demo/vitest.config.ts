import { procwatchVitestConfig } from "@procwatch/build-config/vitest";

// The end-to-end loop spawns real processes and runs the agent binary many times.
export default procwatchVitestConfig({ testTimeout: 180_000 });
