import { procwatchVitestConfig } from "@procwatch/build-config/vitest";

export default procwatchVitestConfig();
