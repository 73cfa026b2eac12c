import type { AgentMode } from "../io/cwagent-ctl.ts";

/**
 * How `remove` takes procwatch's fragment out of the CloudWatch agent, decided from what is on
 * disk. Facts from amazon-cloudwatch-agent-ctl and its helpers (aws/amazon-cloudwatch-agent,
 * packaging/dependencies/amazon-cloudwatch-agent-ctl, cmd/config-downloader, cmd/start-amazon-cloudwatch-agent):
 *   - `-a stop` then `-a start` does NOT re-read amazon-cloudwatch-agent.d: start only restarts the
 *     service, which runs the agent with the already translated amazon-cloudwatch-agent.toml, so the
 *     procstat entries would stay;
 *   - `-a fetch-config` replaces every fragment (it deletes all other files in the directory);
 *   - `-a remove-config -c file:<path>` deletes `file_<basename>` from amazon-cloudwatch-agent.d
 *     (the downloader never reads <path> in remove mode), re-translates the remaining files into the
 *     TOML, and `-s` stops and starts the agent on it. It fails when that file is already gone;
 *   - when the directory is left empty, the ctl deletes the TOML, and a start (`-s`, or `-a start`)
 *     without a TOML installs the agent's DEFAULT config (cpu, memory, disk metrics: a new bill). So
 *     with no other fragment the agent is stopped instead: it has nothing left to collect.
 */
export type CloudWatchAgentChange = "reloaded" | "stopped" | "untouched";

export interface RemovalPlan {
  readonly change: CloudWatchAgentChange;
  /** ctl invocations in order, each an argv array. */
  readonly ctlCalls: readonly (readonly string[])[];
}

export function planCloudWatchAgentRemoval(input: {
  readonly installedCopyPresent: boolean;
  /** Entries of amazon-cloudwatch-agent.d other than procwatch's copy and pending `.tmp` downloads. */
  readonly otherEntries: readonly string[];
  readonly mode: AgentMode;
  readonly stagedFragmentPath: string;
}): RemovalPlan {
  if (!input.installedCopyPresent) return { change: "untouched", ctlCalls: [] };
  const removeConfig = ["-a", "remove-config", "-m", input.mode, "-c", `file:${input.stagedFragmentPath}`];
  if (input.otherEntries.length > 0) return { change: "reloaded", ctlCalls: [[...removeConfig, "-s"]] };
  return { change: "stopped", ctlCalls: [removeConfig, ["-a", "stop"]] };
}

/** The entries the ctl's "is the directory empty" check would count once the downloader has dropped `.tmp` files. */
export function otherConfigEntries(entries: readonly string[], ownName: string): string[] {
  return entries.filter((name) => name !== ownName && !name.endsWith(".tmp")).sort();
}
