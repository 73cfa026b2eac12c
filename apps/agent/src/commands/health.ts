import { lstatSync, realpathSync } from "node:fs";
import { basename } from "node:path";
import { exeRegexForPath, formatIssue, type HostSpec, type ProcessSpec } from "@procwatch/contract";
import { lookupUser } from "../core/accounts.ts";
import { type AllowList, allowListAsHostSpec } from "../core/allow-list.ts";
import { type FragmentPinsObservation, type HostAgentConfig, hostAgentConfigOf } from "../core/cwagent-config.ts";
import { fragmentContextOf, fragmentDigest, renderFragmentText } from "../core/fragment.ts";
import {
  type CloudWatchAgentObservation,
  evaluateHealth,
  exePathOfSelector,
  type FragmentCopyObservation,
  type FragmentObservation,
  type HealthReport,
  type ProcessObservation,
  type SpecObservation,
  symlinkedExeFinding,
} from "../core/health.ts";
import { formatHealth } from "../core/human-output.ts";
import { evaluateLocalSupervision, isLocallySupervised, type LocalSupervisionReport, type LocalUnitObservation } from "../core/local-supervision.ts";
import { procMountRestrictionOf, seesOnlyOwnProcesses } from "../core/proc-mount.ts";
import { type AgentUser, exactSelectorTag, fieldsNeededFor, findRunning, matchProcesses, type ProcessRecord } from "../core/process-matching.ts";
import { sumUsage } from "../core/process-usage.ts";
import { AgentError } from "../errors.ts";
import { readOtherFragments } from "../io/cwagent-config-dir.ts";
import { cloudWatchAgentStatus } from "../io/cwagent-ctl.ts";
import { loadHeavyModules } from "../io/heavy-modules.ts";
import { markReported, presentDropIns, readLocalEvents } from "../io/local-supervision.ts";
import { procwatchOwnPids, readPidFile, sampleUsage, scanProcesses } from "../io/procfs.ts";
import { readTextOrNull } from "../io/read-optional-file.ts";
import { isSystemdRunning, systemctlShow } from "../io/restart-backends.ts";
import { readAllowListIfValid } from "../io/state-files.ts";
import { readSupervisorState, supervisorAlive } from "../io/supervisor.ts";
import type { AgentSettings } from "../settings.ts";
import { AGENT_VERSION } from "../version.ts";
import type { Wiring } from "../wiring.ts";
import { type Output, printJson } from "./output.ts";
import { loadResolvedSpec, type SpecFlags } from "./spec-options.ts";

export interface HealthFlags extends SpecFlags {
  readonly json?: boolean;
  readonly namespace?: string;
  readonly hostFacts?: boolean;
  /** Skip asking the CloudWatch agent (used by the in-process benchmark, which measures procwatch's own work). */
  readonly skipCloudWatchAgent?: boolean;
  /** Advance the local-event cursor to what this report showed (the shipping path calls it so). */
  readonly markReported?: boolean;
}

interface SpecChoice {
  readonly spec: HostSpec;
  readonly observation: SpecObservation;
  /** The fragment this spec implies: freshly rendered (its bytes), or the digest the last apply recorded. */
  readonly expected: ExpectedFragment | null;
  /** How that fragment pins the host dimensions (unknown when only the last apply's digest is at hand). */
  readonly pins?: FragmentPinsObservation;
}

/**
 * A freshly rendered fragment is compared byte for byte, and digested only when a copy differs (to
 * say which fragment the host holds): on a cold start, hashing the fragment in JavaScript costs as
 * much as the rest of the spec handling. An earlier apply left only its digest.
 */
type ExpectedFragment = { readonly text: string } | { readonly digest: string };

/** The live spec if it resolves; otherwise what the last `apply` recorded, so health still checks processes off EC2 or offline. */
async function chooseSpec(flags: HealthFlags, wiring: Wiring, hostConfig: HostAgentConfig): Promise<SpecChoice> {
  let problem: string;
  try {
    const stage = await loadResolvedSpec(flags, wiring);
    if (stage.kind === "resolved") {
      // The bytes apply writes from the same inputs: the spec, the instance its tags came from, the other fragments.
      const text = renderFragmentText(stage.spec, fragmentContextOf(flags.namespace, stage.instance?.host, hostConfig));
      const groupProblem = stage.instance?.autoScalingGroupProblem;
      const pins: FragmentPinsObservation =
        stage.instance === undefined
          ? { pins: "placeholders" }
          : { pins: "literal", ...(groupProblem === undefined ? {} : { autoScalingGroupProblem: groupProblem }) };
      return { spec: stage.spec, observation: { source: stage.source, problems: [] }, expected: { text }, pins };
    }
    // Every issue in the line itself: the human report has no other place that names what is wrong.
    problem =
      stage.kind === "invalid" ? `spec from ${stage.source} is invalid: ${stage.issues.map(formatIssue).join("; ")}` : `${stage.source}: host is not opted in`;
    if (stage.kind === "invalid") {
      const fallback = readAllowListIfValid(wiring.settings.allowListPath);
      if (fallback === null)
        return {
          spec: { processes: [] },
          observation: { source: "none", problems: [problem], issues: stage.issues },
          expected: null,
        };
      return lastApplied(fallback, [problem]);
    }
    return { spec: { processes: [] }, observation: { source: stage.source, problems: [problem] }, expected: null };
  } catch (error) {
    if (!(error instanceof AgentError) || error.exitCode === 2) throw error;
    problem = error.message;
  }
  const fallback = readAllowListIfValid(wiring.settings.allowListPath);
  if (fallback === null)
    return {
      spec: { processes: [] },
      observation: { source: "none", problems: [problem, "no allow-list from a previous apply"] },
      expected: null,
    };
  return lastApplied(fallback, [problem]);
}

function lastApplied(allowList: AllowList, problems: string[]): SpecChoice {
  return {
    spec: allowListAsHostSpec(allowList),
    observation: { source: "last-applied", problems },
    expected: { digest: allowList.fragmentDigest },
  };
}

/** Collects every observation and evaluates them; all the judging happens in core/health.ts. */
export async function collectHealth(flags: HealthFlags, wiring: Wiring): Promise<HealthReport> {
  const started = process.hrtime.bigint();
  const { settings } = wiring;
  const others = readOtherFragments(settings.cwagentConfigDir, basename(settings.installedFragmentPath));
  const hostConfig = hostAgentConfigOf(settings.cwagentConfigDir, others);
  const choice = await chooseSpec(flags, wiring, hostConfig);
  const matches = choice.spec.processes.map((process) => process.match);
  const agentUser = agentUserOf(hostConfig, settings);
  const needed = fieldsNeededFor(matches, agentUser);
  // One scan for every watched process: exe links (procwatch's truth, read as root) and command
  // lines (what the CloudWatch agent counts an exe spec by); procwatch and its launchers left out.
  const records = scanProcesses({ exePath: needed.exePath, cmdline: needed.cmdline, ownerUid: needed.ownerUid, exclude: procwatchOwnPids() });
  const processes: ProcessObservation[] = choice.spec.processes.map((spec) => {
    const pidFile = spec.match.mode === "pidfile" ? readPidFile(spec.match.pidFile) : undefined;
    const outcome = matchProcesses(spec.match, records, pidFile, agentUser);
    const selectorFindings = symlinkFindings(spec, records);
    const diverges = outcome.agentDivergence !== undefined && selectorFindings.length === 0;
    return {
      spec,
      outcome,
      usage: sumUsage(sampleUsage(outcome.pids)),
      ...(selectorFindings.length === 0 ? {} : { selectorFindings }),
      ...(agentUser === undefined ? {} : { agentUser }),
      ...(diverges ? { exactTag: exactSelectorTag(spec.name, outcome.pids, records) } : {}),
      ...(diverges && outcome.pids.length === 0 && outcome.agentDivergence !== undefined && outcome.agentDivergence.extra.length > 0
        ? { countedTag: exactSelectorTag(spec.name, outcome.agentDivergence.extra, records) }
        : {}),
    };
  });

  const staged = observeFragmentCopy(settings.fragmentPath, choice.expected);
  const installed = observeFragmentCopy(settings.installedFragmentPath, choice.expected);
  const expectedDigest = expectedDigestToReport(choice.expected, [staged, installed]);
  const fragment: FragmentObservation = { ...staged, ...(expectedDigest === undefined ? {} : { expectedDigest }), installed };

  const cloudwatchAgent: CloudWatchAgentObservation = flags.skipCloudWatchAgent
    ? { state: "unknown", via: "none", detail: "not checked" }
    : await cloudWatchAgentStatus(wiring.ctl, needed.exePath ? records : undefined);

  const report = evaluateHealth({
    processes,
    cloudwatchAgent,
    fragment,
    spec: choice.observation,
    agent: { version: AGENT_VERSION, node: process.version, arch: process.arch },
    checkedAt: new Date().toISOString(),
    cwagentConfig: {
      directory: settings.cwagentConfigDir,
      others,
      ...(flags.namespace === undefined ? {} : { namespace: flags.namespace }),
    },
    ...(choice.pins === undefined ? {} : { fragmentPins: choice.pins }),
    testSwitches: settings.testSwitches,
    ...(agentUser === undefined ? {} : { agentUser }),
  });
  const withLocal = await addLocalSupervision(report, choice.spec.processes, settings, flags.markReported ?? false);
  const facts = flags.hostFacts ? await hostFacts() : undefined;
  return { ...withLocal, ...(facts === undefined ? {} : { host: facts }), durationMs: Math.round(Number(process.hrtime.bigint() - started) / 100_000) / 10 };
}

/**
 * `local` processes: what systemd says of their units (drop-in present, failed = gave up,
 * NRestarts) and the local restarts and escalations spooled since the last marked report.
 */
async function addLocalSupervision(
  report: HealthReport,
  processes: readonly ProcessSpec[],
  settings: Wiring["settings"],
  mark: boolean,
): Promise<HealthReport & { readonly localSupervision?: LocalSupervisionReport }> {
  const local = processes.filter(isLocallySupervised);
  const events = readLocalEvents(settings.spoolDir);
  if (local.length === 0 && events.sinceLastReport.length === 0) return report;
  const systemd = isSystemdRunning();
  const dropIns = systemd ? presentDropIns(settings.systemdUnitDir) : new Map<string, string>();
  const units: LocalUnitObservation[] = [];
  if (!systemd) {
    for (const process of local) {
      const state = readSupervisorState(settings.spoolDir, process.name);
      units.push({
        process: process.name,
        unit: "procwatch-supervise",
        dropInInstalled: supervisorAlive(state) || state?.gaveUp === true,
        unitType: null,
        loadState: null,
        activeState: state?.gaveUp === true ? "failed" : supervisorAlive(state) ? "active" : null,
        nRestarts: state?.restarts ?? null,
      });
    }
  } else {
    for (const process of local) {
      const shown = await systemctlShow(process.unit, ["Type", "LoadState", "ActiveState", "NRestarts"]);
      units.push({
        process: process.name,
        unit: process.unit,
        dropInInstalled: dropIns.has(process.unit),
        unitType: shown?.get("Type") ?? null,
        loadState: shown?.get("LoadState") ?? null,
        activeState: shown?.get("ActiveState") ?? null,
        nRestarts: shown?.get("NRestarts") === undefined ? null : Number(shown.get("NRestarts")),
      });
    }
  }
  const evaluated = evaluateLocalSupervision({ spoolPath: events.spoolPath, units, sinceLastReport: events.sinceLastReport });
  const last = events.sinceLastReport.at(-1);
  if (mark && last !== undefined) markReported(settings.spoolDir, last.recordedAtMs);
  if (evaluated.findings.length === 0) return { ...report, localSupervision: evaluated.report };
  const status = report.status === "healthy" ? "degraded" : report.status;
  return {
    ...report,
    status,
    exitCode: status === "failing" ? 2 : 1,
    reasons: [...report.reasons, ...evaluated.findings.map((finding) => finding.message)],
    findings: [...report.findings, ...evaluated.findings],
    localSupervision: evaluated.report,
  };
}

/**
 * The CloudWatch agent's effective user when it is not root, found as the agent finds it: the
 * merged `agent.run_as_user` of its config files (translator/translate/agent/ruleRunAsUser.go
 * copies it into the TOML; cmd/start-amazon-cloudwatch-agent/path.go reads it back with
 * internal/util/user/userutil.go `DetectRunAsUser`, absent = "root") and resolved in /etc/passwd.
 */
function agentUserOf(host: HostAgentConfig, settings: Pick<AgentSettings, "passwdPath" | "groupPath" | "mountInfoPath">): AgentUser | undefined {
  const runAs = host.runAsUser;
  if (runAs === undefined) return undefined;
  const passwd = readTextOrNull(settings.passwdPath);
  const entry = passwd === null ? undefined : lookupUser(passwd, runAs.user);
  const uid = entry?.uid ?? (/^(0|[1-9][0-9]*)$/.test(runAs.user) ? Number(runAs.user) : null);
  if (uid === 0) return undefined;
  // hidepid: only read when the agent is not root, which is the only case it matters for.
  const restriction = procMountRestrictionOf(readTextOrNull(settings.mountInfoPath) ?? "");
  const hidden =
    restriction !== null && seesOnlyOwnProcesses(restriction, { name: runAs.user, primaryGid: entry?.gid ?? null }, readTextOrNull(settings.groupPath));
  return { user: runAs.user, uid, gid: entry?.gid ?? null, path: runAs.path, ...(hidden ? { hiddenBy: restriction } : {}) };
}

/**
 * An `exe=/path` selector is kept as given (resolving it here would make the alarm's dimension
 * differ from the one the fleet manager computes from the same tags), so health says when that
 * path is a symlink: /proc/<pid>/exe shows the link's target, so procwatch never finds it running.
 */
function symlinkFindings(spec: ProcessSpec, records: readonly ProcessRecord[]): string[] {
  const path = exePathOfSelector(spec.match);
  if (path === null) return [];
  let target: string;
  try {
    if (!lstatSync(path).isSymbolicLink()) return [];
    target = realpathSync(path);
  } catch {
    return [];
  }
  const runningTarget = findRunning({ mode: "exe", exe: exeRegexForPath(target) }, records).pids;
  return [symlinkedExeFinding(path, target, runningTarget, exactSelectorTag(spec.name, runningTarget, records))];
}

/** One copy of the fragment (staged, or installed by append-config) against what the spec implies. */
function observeFragmentCopy(path: string, expected: ExpectedFragment | null): FragmentCopyObservation {
  const text = readTextOrNull(path);
  if (text === null) return { path, comparison: expected === null ? "unknown" : "missing" };
  if (expected !== null && "text" in expected && text === expected.text) return { path, comparison: "matches" };
  const actualDigest = fragmentDigest(text);
  const comparison = expected === null ? "unknown" : ("digest" in expected ? actualDigest === expected.digest : false) ? "matches" : "differs";
  return { path, comparison, actualDigest };
}

/** The expected digest, when known without work or when a copy differs (then it says which fragment should be there). */
function expectedDigestToReport(expected: ExpectedFragment | null, copies: readonly FragmentCopyObservation[]): string | undefined {
  if (expected === null) return undefined;
  if ("digest" in expected) return expected.digest;
  return copies.some((copy) => copy.comparison === "differs") ? fragmentDigest(expected.text) : undefined;
}

/** OS, CPU and memory from systeminformation, loaded only when asked for: it is the heaviest module after the AWS SDK. */
async function hostFacts(): Promise<unknown> {
  const si = (await loadHeavyModules()).systeminformation;
  const [os, cpu, mem] = await Promise.all([si.osInfo(), si.cpu(), si.mem()]);
  return {
    os: { platform: os.platform, distro: os.distro, release: os.release, kernel: os.kernel, arch: os.arch, hostname: os.hostname },
    cpu: { manufacturer: cpu.manufacturer, brand: cpu.brand, cores: cpu.cores, physicalCores: cpu.physicalCores },
    memory: { totalBytes: mem.total, availableBytes: mem.available },
  };
}

export async function runHealth(flags: HealthFlags, wiring: Wiring, output: Output): Promise<number> {
  const report = await collectHealth(flags, wiring);
  if (flags.json) printJson(output, report);
  else output.stdout(formatHealth(report, output.palette));
  return report.exitCode;
}
