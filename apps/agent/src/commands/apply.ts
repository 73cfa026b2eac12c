import { basename, join } from "node:path";
import type { ProcessSpec } from "@procwatch/contract";
import { buildAllowList, sameAllowedProcesses, serializeAllowList } from "../core/allow-list.ts";
import { hostAgentConfigOf } from "../core/cwagent-config.ts";
import {
  compareFragment,
  type FragmentComparison,
  fragmentContextOf,
  fragmentDigest,
  type ReloadReason,
  reloadReasonFor,
  renderFragmentText,
} from "../core/fragment.ts";
import type { StartCommand } from "../core/local-config.ts";
import { DEFAULT_LOCAL_BUDGET, isLocallySupervised, type LocalBudget } from "../core/local-supervision.ts";
import { acquireApplyLock } from "../io/apply-lock.ts";
import { type AtomicWriteOptions, writeFileAtomic } from "../io/atomic-write.ts";
import { readOtherFragments } from "../io/cwagent-config-dir.ts";
import { type AgentMode, appendConfig } from "../io/cwagent-ctl.ts";
import { type HostReportsConfigChange, reconcileHostReportsConfig, type ShipResult } from "../io/host-reports.ts";
import { type DropInReconciliation, reconcileDropIns } from "../io/local-supervision.ts";
import { readTextOrNull } from "../io/read-optional-file.ts";
import { isSystemdRunning } from "../io/restart-backends.ts";
import { readAllowListIfValid } from "../io/state-files.ts";
import { configKeyOf, readSupervisorState, startSupervisor, stopSupervisor, supervisedProcessNames, supervisorAlive } from "../io/supervisor.ts";
import type { AgentSettings } from "../settings.ts";
import type { Wiring } from "../wiring.ts";
import { reportPending } from "./local-event.ts";
import { type Output, printJson } from "./output.ts";
import { loadLocalConfig } from "./restart.ts";
import { loadResolvedSpec, requireResolvedSpec, type SpecFlags } from "./spec-options.ts";

export interface ApplyFlags extends SpecFlags {
  readonly json?: boolean;
  readonly namespace?: string;
  readonly mode: "auto" | AgentMode;
  /** How long to wait for another apply's lock, in seconds. */
  readonly lockWait?: number;
  /** Local supervision's budget (`detection=local`): restarts systemd may make within the window before it escalates. */
  readonly localRestarts?: number;
  readonly localWindowMinutes?: number;
}

export const DEFAULT_LOCK_WAIT_SECONDS = 180;

export type LocalSupervisionResult = DropInReconciliation & {
  /** systemd drop-ins, or procwatch's own supervisor processes (hosts without systemd). */
  readonly backend: "systemd" | "supervisor";
  readonly budget: LocalBudget;
  /** systemd: the local units; supervisor: the supervised process names. */
  readonly units: readonly string[];
};

/**
 * Hosts without systemd: one `procwatch-agent supervise` per local process that agent.json gives a
 * start command; replaced when its start command or budget changed, stopped when the process is no
 * longer local (the process itself keeps running).
 */
async function reconcileSupervisors(
  localProcesses: readonly ProcessSpec[],
  budget: LocalBudget,
  settings: AgentSettings,
  output: Output,
): Promise<LocalSupervisionResult | null> {
  const started: string[] = [];
  const stopped: string[] = [];
  const wanted = new Map<string, StartCommand>();
  if (localProcesses.length > 0) {
    const config = loadLocalConfig(settings);
    const missing: string[] = [];
    for (const process of localProcesses) {
      const command = config.startCommands[process.name];
      if (command === undefined) missing.push(process.name);
      else wanted.set(process.name, command);
    }
    if (missing.length > 0) {
      output.stderr(
        `warning: ${missing.join(", ")} ${missing.length === 1 ? "asks" : "ask"} for detection=local, but systemd is not this host's init and ${settings.localConfigPath} has no start command for ${missing.length === 1 ? "it" : "them"}: not supervised locally; the CloudWatch alarm (standard cadence) still watches`,
      );
      output.stderr(`hint: add startCommands.<name> to ${settings.localConfigPath}, then run apply again`);
    }
  }
  for (const name of supervisedProcessNames(settings.spoolDir)) {
    if (!wanted.has(name) && (await stopSupervisor(settings.spoolDir, name))) stopped.push(name);
  }
  const agentArgv = settings.agentPath === process.execPath ? [process.execPath] : [process.execPath, process.argv[1] ?? settings.agentPath];
  const env: Record<string, string> = {
    PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    LANG: "C.UTF-8",
    PROCWATCH_STATE_DIR: settings.stateDir,
    PROCWATCH_SPOOL_DIR: settings.spoolDir,
    PROCWATCH_LOG_DIR: settings.logDir,
    PROCWATCH_LOCAL_CONFIG: settings.localConfigPath,
    ...(settings.allowInsecureConfig ? { PROCWATCH_INSECURE_TEST_CONFIG: "1" } : {}),
  };
  for (const [name, command] of wanted) {
    const state = readSupervisorState(settings.spoolDir, name);
    if (supervisorAlive(state) && state?.configKey === configKeyOf(command, budget)) continue;
    if (supervisorAlive(state)) await stopSupervisor(settings.spoolDir, name);
    const running = await startSupervisor({
      agentArgv,
      processName: name,
      budget,
      spoolDir: settings.spoolDir,
      logFile: join(settings.logDir, `procwatch-supervise-${name}.log`),
      env,
    });
    if (running === null) throw new Error(`the supervisor of ${name} did not start (see ${join(settings.logDir, `procwatch-supervise-${name}.log`)})`);
    started.push(name);
  }
  if (wanted.size === 0 && stopped.length === 0) return null;
  return {
    installed: started.sort(),
    removed: stopped.sort(),
    template: "unchanged",
    daemonReloaded: false,
    refused: [],
    backend: "supervisor",
    budget,
    units: [...wanted.keys()].sort(),
  };
}

export interface ApplyResult {
  readonly ok: true;
  readonly source: string;
  readonly fragmentPath: string;
  readonly allowListPath: string;
  readonly digest: string;
  readonly previousDigest: string | null;
  readonly fragmentChanged: boolean;
  /** The copy append-config installs, which the CloudWatch agent loads, and how it compares after this run. */
  readonly installedFragmentPath: string;
  readonly installedFragment: FragmentComparison;
  readonly reloadReason: ReloadReason | null;
  readonly agentReloaded: boolean;
  readonly ctlArgs: readonly string[] | null;
  readonly processes: readonly string[];
  /** Drop-ins for `local` processes (systemd hosts); null where systemd is not the init. */
  readonly localSupervision: LocalSupervisionResult | null;
  /** host-reports.json (`config`) and what this run sent of the local-event spool. */
  readonly hostReports: { readonly config: HostReportsConfigChange } & ShipResult;
}

/**
 * render → atomic write → append-config, only when something changed: the staged fragment, or
 * the copy the CloudWatch agent loads (append-config installs it; fetch-config wipes it). Nothing
 * is written before the spec is known valid. The allow-list (which records the applied digest) is
 * written after the ctl succeeded, so a failed reload is retried by the next apply instead of
 * being mistaken for "unchanged".
 */
export async function runApply(flags: ApplyFlags, wiring: Wiring, output: Output, faultPoint?: AtomicWriteOptions["faultPoint"]): Promise<number> {
  const resolved = requireResolvedSpec(await loadResolvedSpec(flags, wiring), "apply");
  // From reading the current state to writing the allow-list: two applies (an association run and
  // an operator, two SSM commands) must not interleave their writes and ctl calls.
  const lock = await acquireApplyLock(wiring.settings.applyLockPath, (flags.lockWait ?? DEFAULT_LOCK_WAIT_SECONDS) * 1000);
  try {
    return await applyLocked(resolved, flags, wiring, output, faultPoint);
  } finally {
    lock.release();
  }
}

async function applyLocked(
  { spec, source, instance }: ReturnType<typeof requireResolvedSpec>,
  flags: ApplyFlags,
  wiring: Wiring,
  output: Output,
  faultPoint: AtomicWriteOptions["faultPoint"],
): Promise<number> {
  const { settings } = wiring;
  // Read under the lock: whether another fragment sets metrics.append_dimensions decides whether
  // procwatch's sets it (a key set differently in two files fails the agent's whole translation).
  const hostConfig = hostAgentConfigOf(settings.cwagentConfigDir, readOtherFragments(settings.cwagentConfigDir, basename(settings.installedFragmentPath)));
  const text = renderFragmentText(spec, fragmentContextOf(flags.namespace, instance?.host, hostConfig));
  const digest = fragmentDigest(text);
  const currentText = readTextOrNull(settings.fragmentPath);
  const previousAllowList = readAllowListIfValid(settings.allowListPath);

  const staged = compareFragment(text, currentText);
  const fragmentChanged = staged !== "matches";
  if (fragmentChanged) writeFileAtomic(settings.fragmentPath, text, faultPoint === undefined ? {} : { faultPoint });

  const installedBefore = compareFragment(text, readTextOrNull(settings.installedFragmentPath));
  const reloadReason = reloadReasonFor({ staged, installed: installedBefore, digest, recordedDigest: previousAllowList?.fragmentDigest ?? null });
  let ctlArgs: readonly string[] | null = null;
  if (reloadReason !== null) ctlArgs = await appendConfig(wiring.ctl, await wiring.agentMode(flags.mode), settings.fragmentPath);
  const installedFragment = ctlArgs === null ? installedBefore : compareFragment(text, readTextOrNull(settings.installedFragmentPath));
  if (installedFragment !== "matches") {
    // The ctl said yes, yet the agent will not load this fragment: most likely --cwagent-dir is not
    // where this ctl installs. Not an error (the staged file and allow-list are right and health
    // reports it as degraded), but never silent.
    output.stderr(
      `warning: after append-config, ${settings.installedFragmentPath} is ${installedFragment === "missing" ? "missing" : "not the fragment"}: the CloudWatch agent will not load it`,
    );
    output.stderr(`hint: --cwagent-dir (env PROCWATCH_CWAGENT_DIR, now ${settings.cwagentDir}) must be the directory the ctl installs into`);
  }

  const allowList = buildAllowList(spec, { source, fragmentDigest: digest, generatedAt: new Date().toISOString() });
  if (previousAllowList === null || !sameAllowedProcesses(previousAllowList, allowList)) {
    writeFileAtomic(settings.allowListPath, serializeAllowList(allowList), { mode: 0o644 });
  }

  // After the allow-list: the escalation hook reads it to name the unit.
  const budget: LocalBudget = {
    restarts: flags.localRestarts ?? DEFAULT_LOCAL_BUDGET.restarts,
    windowMinutes: flags.localWindowMinutes ?? DEFAULT_LOCAL_BUDGET.windowMinutes,
  };
  const localProcesses = spec.processes.filter(isLocallySupervised);
  let localSupervision: ApplyResult["localSupervision"] = null;
  if (isSystemdRunning()) {
    const change = await reconcileDropIns(spec.processes, budget, settings);
    const refusedUnits = new Set(change.refused.map((refusal) => refusal.unit));
    for (const refusal of change.refused) output.stderr(`warning: ${refusal.process} is not supervised locally: ${refusal.unit} is ${refusal.reason}`);
    if (change.refused.length > 0)
      output.stderr("hint: give the unit Type=simple, exec, forking or notify, or set the process's detection to fast or standard");
    localSupervision = {
      ...change,
      backend: "systemd",
      budget,
      units: localProcesses
        .map((process) => process.unit)
        .filter((unit) => !refusedUnits.has(unit))
        .sort(),
    };
  } else {
    localSupervision = await reconcileSupervisors(localProcesses, budget, settings, output);
  }

  // Where local restarts are reported (the configure document passes the stack's queue), then
  // whatever the spool still holds: a report a hook could not send goes out now, at the latest.
  let instanceId: string | undefined;
  if (settings.hostReportQueueUrl !== undefined && settings.hostReportQueueUrl !== "") {
    try {
      instanceId = (await wiring.imds.instanceIdentity()).instanceId;
    } catch {
      instanceId = undefined;
    }
  }
  const reportsConfig = reconcileHostReportsConfig(settings, settings.hostReportQueueUrl, instanceId, budget);
  if (reportsConfig.problem !== undefined) output.stderr(`warning: local restart reports: ${reportsConfig.problem}`);
  const hostReports = { config: reportsConfig.change, ...(await reportPending(settings, output)) };

  const result: ApplyResult = {
    ok: true,
    source,
    fragmentPath: settings.fragmentPath,
    allowListPath: settings.allowListPath,
    digest,
    previousDigest: currentText === null ? null : fragmentDigest(currentText),
    fragmentChanged,
    installedFragmentPath: settings.installedFragmentPath,
    installedFragment,
    reloadReason,
    agentReloaded: ctlArgs !== null,
    ctlArgs,
    processes: spec.processes.map((process) => process.name),
    localSupervision,
    hostReports,
  };
  if (flags.json) printJson(output, result);
  else {
    const what = fragmentChanged ? "fragment updated" : "fragment unchanged";
    const reload = ctlArgs === null ? "CloudWatch agent not reloaded" : `CloudWatch agent reloaded (append-config: ${reloadReason})`;
    const local =
      localSupervision === null || (localSupervision.units.length === 0 && !localSupervision.daemonReloaded)
        ? ""
        : `; local supervision ${localSupervision.units.join(", ") || "none"} (${budget.restarts} restarts in ${budget.windowMinutes} min${localSupervision.daemonReloaded ? ", systemd reloaded" : ", unchanged"})`;
    output.stdout(`${what}: ${settings.fragmentPath} (${digest.slice(0, 19)}…); ${reload}; allow-list ${result.processes.join(", ")}${local}`);
  }
  return 0;
}
