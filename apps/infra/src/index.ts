export {
  AGENT_ARCHITECTURES,
  type AgentArchitecture,
  type AgentArtifact,
  agentArtifactFileName,
  DEFAULT_AGENT_ARTIFACTS_DIR,
  locateAgentArtifacts,
} from "./build-outputs.ts";
export {
  type AppConfig,
  appConfigFrom,
  DEFAULT_RECONCILE_SCHEDULE,
  DEFAULT_RESTART_BUDGET,
  DEFAULT_RESTART_WINDOW_MINUTES,
  type ProcWatchSettings,
  type ResolvedProcWatchSettings,
  resolveProcWatchSettings,
  SETTING_SOURCES,
} from "./config.ts";
export { InfraError, InvalidProcWatchConfigError, MissingBuildOutputError } from "./errors.ts";
export { PROCWATCH_METRIC_NAMESPACE, PROCWATCH_METRICS, PROCWATCH_SERVICE_NAMES } from "./metrics.ts";
export { documentName, ProcWatch, type ProcWatchProps } from "./procwatch.ts";
export { ProcWatchStack, type ProcWatchStackProps } from "./procwatch-stack.ts";
