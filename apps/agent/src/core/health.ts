import { exeProgramOf, type ProcessSpec, type SpecIssue, selectorOf } from "@procwatch/contract";
import { expectedAgentSettings, type FragmentPinsObservation, hostDimensionFindings, type OtherFragment, otherFragmentFindings } from "./cwagent-config.ts";
import type { FragmentComparison } from "./fragment.ts";
import type { AgentDivergence, AgentUser, MatchOutcome } from "./process-matching.ts";
import type { UsageSample } from "./process-usage.ts";

/**
 * Health evaluation from plain observations. The status drives the exit code so that an SSM
 * association's compliance reflects it: 0 healthy, 1 degraded, 2 failing.
 *
 *   failing  — a watched process has no running pid, or no spec could be determined at all;
 *   degraded — processes run, but monitoring is impaired: the CloudWatch agent is not running or
 *              unknown, or reports a config status other than "configured"; the staged fragment or
 *              the copy the CloudWatch agent loads is missing or differs from the spec; another
 *              fragment sets a namespace or flush interval procwatch's alarms cannot live with;
 *              the host dimensions the fragment pins are incomplete (the Auto Scaling group could
 *              not be determined) or placeholders an agent older than 1.300061.0 does not resolve;
 *              the spec could only be taken from the last `apply`; the agent's own count would
 *              differ from the truth (an exe spec whose command-line pattern counts other pids
 *              than the exe links; a stale pid file keeps the alarm from seeing 0; a lookup error
 *              makes it see missing data); or a test-only switch is set in the environment;
 *   healthy  — everything else.
 */
export type HealthStatus = "healthy" | "degraded" | "failing";

export const HEALTH_JSON_SCHEMA_VERSION = 1;

export interface ProcessObservation {
  readonly spec: ProcessSpec;
  readonly outcome: MatchOutcome;
  readonly usage: UsageSample;
  /** What the shell found wrong with the selector itself on this host (an exe path that is a symlink). */
  readonly selectorFindings?: readonly string[];
  /** The CloudWatch agent's user when it is not root (it matters only for a selector the agent gets as `exe`). */
  readonly agentUser?: AgentUser;
  /** When the agent's count diverges: the selector part of a tag that counts exactly the running pids here, or null when none does. */
  readonly exactTag?: string | null;
  /** When nothing runs the program by its exe link but the agent counts processes named after it: a tag that counts exactly those. */
  readonly countedTag?: string | null;
}

export type CloudWatchAgentState = "running" | "stopped" | "not-installed" | "unknown";

export interface CloudWatchAgentObservation {
  readonly state: CloudWatchAgentState;
  /** `ctl` when `amazon-cloudwatch-agent-ctl -a status` answered, `process` when found by a /proc scan. */
  readonly via: "ctl" | "process" | "none";
  readonly version?: string;
  readonly configStatus?: string;
  readonly detail?: string;
}

export interface FragmentCopyObservation {
  readonly path: string;
  readonly comparison: FragmentComparison | "unknown";
  readonly actualDigest?: string;
}

export interface FragmentObservation extends FragmentCopyObservation {
  /** The staged file is `path`; what the CloudWatch agent loads is the copy append-config installed. */
  readonly expectedDigest?: string;
  readonly installed?: FragmentCopyObservation;
}

/** A host-level problem with what to do about it; its message is also one of the report's reasons. */
export interface HostFinding {
  readonly code: string;
  readonly message: string;
  readonly hint: string;
  readonly path?: string;
}

/** The CloudWatch agent's config directory as read by the shell: every other file that parsed as JSON. */
export interface CloudWatchAgentConfigObservation {
  readonly directory: string;
  readonly others: readonly OtherFragment[];
  /** The namespace procwatch's alarms read (--namespace, default CWAgent). */
  readonly namespace?: string;
}

export interface SpecObservation {
  /** Where the spec came from; `last-applied` when only the allow-list from the last `apply` was available. */
  readonly source: string;
  readonly problems: readonly string[];
  readonly issues?: readonly SpecIssue[];
}

export interface ProcessHealth {
  readonly name: string;
  readonly status: "up" | "down";
  /**
   * `selector` and `dimension` are what the CloudWatch agent is given and the alarm reads (for an
   * exe spec, its command-line pattern); `exe` is the exe regex health and restart match the
   * processes' exe links with.
   */
  readonly match: { readonly mode: string; readonly selector: string; readonly dimension: string; readonly exe?: string };
  readonly pidCount: number;
  readonly pids: readonly number[];
  readonly agentPidCount: number | null;
  readonly cpuPercent: number;
  readonly rssBytes: number;
  readonly unit: string;
  readonly detection: string;
  readonly findings: readonly string[];
}

export interface HealthReport {
  readonly schemaVersion: typeof HEALTH_JSON_SCHEMA_VERSION;
  readonly status: HealthStatus;
  readonly exitCode: 0 | 1 | 2;
  readonly checkedAt: string;
  readonly reasons: readonly string[];
  readonly agent: { readonly version: string; readonly node: string; readonly arch: string };
  readonly spec: SpecObservation;
  readonly cloudwatchAgent: CloudWatchAgentObservation;
  readonly fragment: FragmentObservation;
  readonly processes: readonly ProcessHealth[];
  readonly findings: readonly HostFinding[];
  readonly host?: unknown;
  readonly durationMs?: number;
}

export function evaluateProcess(observation: ProcessObservation): ProcessHealth {
  const { spec, outcome, usage } = observation;
  const selector = selectorOf(spec.match);
  const findings: string[] = [...(observation.selectorFindings ?? [])];
  if (outcome.lookupError !== undefined) {
    findings.push(`CloudWatch agent lookup fails (${outcome.lookupError}): the alarm sees missing data, not 0`);
  } else if (outcome.agentDivergence !== undefined) {
    // A selector finding (a symlinked exe path) already says what counts and what to use instead.
    if (findings.length === 0)
      findings.push(
        divergenceFinding(spec, outcome, outcome.agentDivergence, observation.agentUser, observation.exactTag ?? null, observation.countedTag ?? null),
      );
  } else if (outcome.hiddenFromAgent !== undefined && observation.agentUser?.hiddenBy !== undefined) {
    findings.push(
      `the CloudWatch agent publishes pid_count ${outcome.agentPidCount} while ${outcome.pids.length} run: /proc (${observation.agentUser.hiddenBy.option}) hides ${pidList(outcome.hiddenFromAgent)} from ${observation.agentUser.user}${outcome.agentPidCount === 0 ? ", so the alarm fires while it runs" : ""} (see proc-hides-processes-from-cloudwatch-agent)`,
    );
  } else if (outcome.agentPidCount !== null && outcome.agentPidCount !== outcome.pids.length) {
    findings.push(`CloudWatch agent reports pid_count ${outcome.agentPidCount} but ${outcome.pids.length} running (stale pid file?)`);
  }
  return {
    name: spec.name,
    status: outcome.pids.length > 0 ? "up" : "down",
    match: { mode: spec.match.mode, selector: selector.value, dimension: selector.dimension, ...(spec.match.mode === "exe" ? { exe: spec.match.exe } : {}) },
    pidCount: outcome.pids.length,
    pids: outcome.pids,
    agentPidCount: outcome.agentPidCount,
    cpuPercent: usage.cpuPercent,
    rssBytes: usage.rssBytes,
    unit: spec.unit,
    detection: spec.detection,
    findings,
  };
}

/** At most 10 pids in a finding: a pool of workers must not make one reason line kilobytes long. */
const pidList = (pids: readonly number[]) =>
  `${pids.length === 1 ? "pid" : "pids"} ${pids.slice(0, 10).join(", ")}${pids.length > 10 ? `, … (${pids.length} in all)` : ""}`;
const verb = (pids: readonly number[], one: string, many: string) => (pids.length === 1 ? one : many);

/**
 * An exe spec's alarm counts what the CloudWatch agent counts for the rendered selector: the
 * command-line pattern on argv[0] (contract `selectorOf`). A process started with another argv[0]
 * (`exec -a`), retitled without the `<name>:` convention, or run by an interpreter runs the program
 * but is not counted; one whose argv[0] names the program but runs another executable is counted.
 * Says which pids each side counts and the tag that counts exactly the running ones. (A hand-edited
 * exe regex still reaches the agent as `exe`, which a non-root agent reads only for its own user.)
 */
function divergenceFinding(
  spec: ProcessSpec,
  outcome: MatchOutcome,
  divergence: AgentDivergence,
  agentUser: AgentUser | undefined,
  exactTag: string | null,
  countedTag: string | null,
): string {
  const program = exeProgramOf(spec.match)?.literal ?? spec.name;
  const parts: string[] = [];
  if (divergence.selector.configKey === "pattern") {
    parts.push(
      `the CloudWatch agent counts ${spec.name} by command line (pattern ${divergence.selector.value}, the alarm's selector), procwatch by executable (/proc/<pid>/exe)`,
    );
    const hidden = new Set(outcome.hiddenFromAgent ?? []);
    const hiddenUncounted = divergence.uncounted.filter((pid) => hidden.has(pid));
    const otherUncounted = divergence.uncounted.filter((pid) => !hidden.has(pid));
    if (hiddenUncounted.length > 0 && agentUser?.hiddenBy !== undefined) {
      parts.push(
        `the agent does not count ${pidList(hiddenUncounted)}, which /proc (${agentUser.hiddenBy.option}) hides from ${agentUser.user} (see proc-hides-processes-from-cloudwatch-agent)`,
      );
    }
    if (otherUncounted.length > 0) {
      parts.push(
        `the agent does not count ${pidList(otherUncounted)}, which ${verb(otherUncounted, "runs", "run")} ${program} under another argv[0] (started with exec -a, retitled without "<name>:", or run by an interpreter)`,
      );
    }
    if (divergence.extra.length > 0) {
      parts.push(
        `it counts ${pidList(divergence.extra)}, whose argv[0] names ${program} but which ${verb(divergence.extra, "runs", "run")} another executable`,
      );
    }
  } else {
    const who =
      agentUser === undefined
        ? "the CloudWatch agent runs as another user"
        : `the CloudWatch agent runs as ${agentUser.user} (agent.run_as_user in ${agentUser.path})${agentUser.uid === null ? ", which is not a local account" : ""}`;
    parts.push(
      `this hand-edited exe regex reaches the CloudWatch agent as exe ${divergence.selector.value}; ${who} and cannot read /proc/<pid>/exe of ${pidList(divergence.uncounted)} (other users' processes)`,
    );
  }
  const running = outcome.pids.length;
  const published = divergence.agentPids.length;
  const effect = published === 0 && running > 0 ? ", so the alarm fires while it runs" : running === 0 ? ", so the alarm does not fire while it is down" : "";
  parts.push(`it publishes pid_count ${published} while ${running} run${effect}`);
  // Nothing runs the program's file, yet processes call themselves by its name: either it is the
  // daemon (a multi-call binary such as busybox started through a link, an interpreter that names
  // itself) and procwatch must count it too, or an impostor the selector must leave out.
  const counted = divergence.extra;
  const fix =
    (outcome.hiddenFromAgent ?? []).length > 0
      ? "no selector makes the agent count what /proc hides from it: fix the mount or the agent's user (host finding proc-hides-processes-from-cloudwatch-agent)"
      : exactTag !== null
        ? `tag procwatch:process:${spec.name} = ${exactTag} counts exactly the running ${running === 1 ? "pid" : "pids"}`
        : running === 0
          ? `if ${pidList(counted)} ${verb(counted, "is", "are")} ${spec.name} (a multi-call binary such as busybox started as ${spec.name}, or an interpreter that names itself), ${
              countedTag === null
                ? `give ${spec.name} a regex that counts ${counted.length === 1 ? "it" : "them"} (a spec document or profile's "regex")`
                : `tag procwatch:process:${spec.name} = ${countedTag} counts exactly ${counted.length === 1 ? "it" : "them"}, for procwatch and the agent alike`
            }; if not, select ${spec.name} by a path or pattern that leaves ${counted.length === 1 ? "it" : "them"} out`
          : `no exe= or pattern= literal counts exactly ${pidList(outcome.pids)} here: give ${spec.name} a regex that does (a spec document or profile's "regex")`;
  const asRoot = divergence.selector.configKey === "exe" ? " (or run the CloudWatch agent as root: remove agent.run_as_user)" : "";
  return `${parts.join("; ")}: ${fix}${asRoot}`;
}

export function evaluateHealth(input: {
  readonly processes: readonly ProcessObservation[];
  readonly cloudwatchAgent: CloudWatchAgentObservation;
  readonly fragment: FragmentObservation;
  readonly spec: SpecObservation;
  readonly agent: HealthReport["agent"];
  readonly checkedAt: string;
  readonly cwagentConfig?: CloudWatchAgentConfigObservation;
  /** How the expected fragment pins its host dimensions (literal or placeholders), and why the Auto Scaling group is unknown. */
  readonly fragmentPins?: FragmentPinsObservation;
  /** Names of test-only environment switches set for this run. */
  readonly testSwitches?: readonly string[];
  /** The CloudWatch agent's user when it is not root (with /proc's hidepid restriction, if any applies to it). */
  readonly agentUser?: AgentUser;
}): HealthReport {
  const processes = input.processes.map(evaluateProcess);
  const failing: string[] = [];
  const degraded: string[] = [];

  for (const process of processes) {
    if (process.status === "down") failing.push(`${process.name} is not running`);
    for (const finding of process.findings) degraded.push(`${process.name}: ${finding}`);
  }
  if (input.spec.source === "none") failing.push(...input.spec.problems);
  else if (input.spec.source === "last-applied") degraded.push(`spec taken from the last apply: ${input.spec.problems.join("; ")}`);

  if (input.cloudwatchAgent.state !== "running") degraded.push(`CloudWatch agent is ${input.cloudwatchAgent.state}`);
  switch (input.fragment.comparison) {
    case "matches":
      break;
    case "missing":
      degraded.push(`fragment ${input.fragment.path} is missing (run apply)`);
      break;
    case "differs":
      degraded.push(`fragment ${input.fragment.path} differs from the current spec (run apply)`);
      break;
    case "unknown":
      degraded.push("fragment cannot be compared without a current spec");
      break;
  }

  const findings = hostFindings(input);
  degraded.push(...findings.map((finding) => finding.message));

  const status: HealthStatus = failing.length > 0 ? "failing" : degraded.length > 0 ? "degraded" : "healthy";
  return {
    schemaVersion: HEALTH_JSON_SCHEMA_VERSION,
    status,
    exitCode: healthExitCode(status),
    checkedAt: input.checkedAt,
    reasons: [...failing, ...degraded],
    agent: input.agent,
    spec: input.spec,
    cloudwatchAgent: input.cloudwatchAgent,
    fragment: input.fragment,
    processes,
    findings,
  };
}

/** What each test-only environment switch does, for the finding that reports it set on a host. */
export const TEST_SWITCH_EFFECTS: Readonly<Record<string, string>> = {
  PROCWATCH_INSECURE_TEST_CONFIG: "restart then trusts an allow-list.json or agent.json that is not root-owned or is writable by others",
  PROCWATCH_TEST_FAULT: "apply then kills itself between writing and renaming the fragment",
};

function hostFindings(input: Parameters<typeof evaluateHealth>[0]): HostFinding[] {
  const findings: HostFinding[] = [];
  const installed = input.fragment.installed;
  if (installed !== undefined && (installed.comparison === "missing" || installed.comparison === "differs")) {
    findings.push({
      code: installed.comparison === "missing" ? "installed-fragment-missing" : "installed-fragment-differs",
      path: installed.path,
      message: `the CloudWatch agent is not loading procwatch's fragment: ${installed.path} ${installed.comparison === "missing" ? "is missing (never applied, or removed by fetch-config)" : "differs from the spec"}`,
      hint: "run procwatch-agent apply",
    });
  }
  const configStatus = input.cloudwatchAgent.configStatus;
  if (configStatus !== undefined && configStatus !== "configured") {
    findings.push({
      code: "cloudwatch-agent-not-configured",
      message: `the CloudWatch agent reports config status ${JSON.stringify(configStatus)}, not "configured"`,
      hint: "run procwatch-agent apply, then check amazon-cloudwatch-agent-ctl -a status and the agent's log",
    });
  }
  if (input.cwagentConfig !== undefined) {
    const spec = { processes: input.processes.map((process) => process.spec) };
    const expected = expectedAgentSettings(spec, input.cwagentConfig.namespace);
    findings.push(...otherFragmentFindings(input.cwagentConfig.directory, input.cwagentConfig.others, expected));
  }
  if (input.fragmentPins !== undefined) findings.push(...hostDimensionFindings(input.fragmentPins, input.cloudwatchAgent.version));
  const hiddenBy = input.agentUser?.hiddenBy;
  if (input.agentUser !== undefined && hiddenBy !== undefined) {
    const affected = input.processes
      .filter((process) => (process.outcome.hiddenFromAgent ?? []).length > 0)
      .map((process) => `${process.spec.name} (${process.outcome.agentPidCount} of ${process.outcome.pids.length})`);
    const user = input.agentUser.user;
    const ptraceable = hiddenBy.hidepid === "ptraceable";
    findings.push({
      code: "proc-hides-processes-from-cloudwatch-agent",
      message: `/proc is mounted with ${hiddenBy.option}${ptraceable ? "" : ` and ${user} is not in its group (gid=${hiddenBy.gid})`}: the CloudWatch agent runs as ${user} (agent.run_as_user in ${input.agentUser.path}) and cannot read other users' processes, so it counts only its own${affected.length === 0 ? "" : `; it publishes fewer than run for ${affected.join(", ")}, and an alarm fires whenever its count reaches 0 while the process runs`}`,
      hint: ptraceable
        ? `hidepid=ptraceable ignores gid=: remount /proc with hidepid=2,gid=<a group ${user} is in>, or run the CloudWatch agent as root (remove agent.run_as_user)`
        : `remount /proc with gid=<a group ${user} is in> (fstab: proc /proc proc defaults,${hiddenBy.option},gid=<group>), or run the CloudWatch agent as root (remove agent.run_as_user)`,
    });
  }
  for (const name of input.testSwitches ?? []) {
    findings.push({
      code: "test-switch-set",
      message: `${name} is set in the environment: a test-only switch (${TEST_SWITCH_EFFECTS[name] ?? "for tests only"})`,
      hint: `unset ${name}; test-only switches must never be set on a host`,
    });
  }
  return findings;
}

export function healthExitCode(status: HealthStatus): 0 | 1 | 2 {
  return status === "healthy" ? 0 : status === "degraded" ? 1 : 2;
}

/**
 * `amazon-cloudwatch-agent-ctl -a status` prints JSON such as
 * {"status":"running","starttime":"…","configstatus":"configured","version":"1.300064.0"}.
 */
export function parseCloudWatchAgentStatus(stdout: string): CloudWatchAgentObservation {
  let parsed: unknown;
  try {
    parsed = JSON.parse(stdout);
  } catch {
    return { state: "unknown", via: "ctl", detail: "status output is not JSON" };
  }
  if (typeof parsed !== "object" || parsed === null) return { state: "unknown", via: "ctl", detail: "status output is not a JSON object" };
  const record = parsed as Record<string, unknown>;
  const status = typeof record.status === "string" ? record.status : "";
  const state: CloudWatchAgentState = status === "running" ? "running" : status === "stopped" ? "stopped" : "unknown";
  return {
    state,
    via: "ctl",
    ...(typeof record.version === "string" ? { version: record.version } : {}),
    ...(typeof record.configstatus === "string" ? { configStatus: record.configstatus } : {}),
  };
}

/**
 * The absolute path an exe selector was generated from (`exe=/usr/bin/java` → `^/usr/bin/java( \(deleted\))?$`),
 * or null for a name-based or hand-written regex.
 */
export function exePathOfSelector(match: ProcessSpec["match"]): string | null {
  const program = exeProgramOf(match);
  return program?.kind === "path" ? program.literal : null;
}

/**
 * `/proc/<pid>/exe` is always the resolved path, so procwatch (health, restart) never finds a
 * program named by a symlink running, while the CloudWatch agent may count it by its command line
 * (argv[0] is the link when started through it). Says so, with the processes that run the target
 * and the tag that counts exactly them (`exe=<target>` when nothing runs it now).
 */
export function symlinkedExeFinding(path: string, target: string, runningTarget: readonly number[], tag: string | null): string {
  const running = runningTarget.length === 0 ? "" : ` (${pidList(runningTarget)} ${verb(runningTarget, "runs", "run")} ${target})`;
  return `exe ${path} is a symbolic link to ${target}: /proc/<pid>/exe, which health and restart match, shows the target, so procwatch never finds it running${running}; use ${tag ?? `exe=${target}`}`;
}
