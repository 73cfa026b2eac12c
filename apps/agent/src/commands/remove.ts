import { existsSync } from "node:fs";
import { basename } from "node:path";
import { type CloudWatchAgentChange, otherConfigEntries, planCloudWatchAgentRemoval } from "../core/removal.ts";
import { type AgentMode, runCtlCalls } from "../io/cwagent-ctl.ts";
import { directoryEntries, removeFileIfPresent } from "../io/file-removal.ts";
import { hostReportsConfigPath } from "../io/host-reports.ts";
import { type LocalSupervisionChange, removeLocalSupervision } from "../io/local-supervision.ts";
import { stopSupervisor, supervisedProcessNames } from "../io/supervisor.ts";
import type { Wiring } from "../wiring.ts";
import { type Output, printJson } from "./output.ts";

export interface RemoveFlags {
  readonly json?: boolean;
  readonly mode: "auto" | AgentMode;
}

export interface RemovedFile {
  readonly path: string;
  readonly removed: boolean;
}

export interface RemoveResult {
  readonly ok: true;
  /** False when there was nothing to remove (a rerun, or a host procwatch never configured). */
  readonly changed: boolean;
  readonly allowList: RemovedFile;
  /** `<state-dir>/host-reports.json`: where local restarts were reported. */
  readonly hostReports: RemovedFile;
  readonly fragment: RemovedFile;
  readonly installedFragment: RemovedFile;
  readonly cloudwatchAgent: CloudWatchAgentChange;
  readonly ctlCalls: readonly (readonly string[])[];
  /** What stays in amazon-cloudwatch-agent.d (never touched by procwatch). */
  readonly otherFragments: readonly string[];
  /** procwatch's systemd drop-ins and escalation template, removed (then daemon-reload), and its local-event spool. */
  readonly localSupervision: LocalSupervisionChange;
  /** procwatch's own supervisors (hosts without systemd) stopped; the processes they ran keep running. */
  readonly supervisorsStopped: readonly string[];
}

/**
 * Takes procwatch off this host: the allow-list first (from then on `restart` refuses every
 * process, even if a later step fails), then the CloudWatch agent's copy of the fragment through the
 * ctl (see core/removal.ts for why remove-config and not stop/start or fetch-config), then the staged
 * fragment, kept until the ctl succeeded so a failed run is simply run again. Other fragments in
 * amazon-cloudwatch-agent.d are never touched. agent.json (operator-owned) stays.
 */
export async function runRemove(flags: RemoveFlags, wiring: Wiring, output: Output): Promise<number> {
  const { settings } = wiring;
  const allowListRemoved = removeFileIfPresent(settings.allowListPath);
  // Next: systemd must stop restarting processes on procwatch's behalf before anything else goes.
  const supervisorsStopped: string[] = [];
  for (const name of supervisedProcessNames(settings.spoolDir)) if (await stopSupervisor(settings.spoolDir, name)) supervisorsStopped.push(name);
  const localSupervision = await removeLocalSupervision(settings);
  // Where local restarts were reported: nothing is reported from this host any more.
  const hostReportsRemoved = removeFileIfPresent(hostReportsConfigPath(settings));

  const ownName = basename(settings.installedFragmentPath);
  const installedCopyPresent = existsSync(settings.installedFragmentPath);
  const otherFragments = otherConfigEntries(directoryEntries(settings.cwagentConfigDir), ownName);
  const plan = planCloudWatchAgentRemoval({
    installedCopyPresent,
    otherEntries: otherFragments,
    mode: installedCopyPresent ? await wiring.agentMode(flags.mode) : "ec2",
    stagedFragmentPath: settings.fragmentPath,
  });
  await runCtlCalls(
    wiring.ctl,
    plan.ctlCalls,
    `the allow-list is removed (restart refuses everything); run the ctl command by hand to see its message, then run procwatch-agent remove again`,
  );
  const installedStillThere = installedCopyPresent && existsSync(settings.installedFragmentPath);
  if (installedStillThere) {
    // The ctl said yes but removed nothing where --cwagent-dir points: never silent, as in apply.
    output.stderr(`warning: after remove-config, ${settings.installedFragmentPath} is still there: the CloudWatch agent may still load it`);
    output.stderr(`hint: --cwagent-dir (env PROCWATCH_CWAGENT_DIR, now ${settings.cwagentDir}) must be the directory the ctl installs into`);
  }
  const fragmentRemoved = removeFileIfPresent(settings.fragmentPath);

  const result: RemoveResult = {
    ok: true,
    changed:
      allowListRemoved ||
      fragmentRemoved ||
      (installedCopyPresent && !installedStillThere) ||
      localSupervision.removed.length > 0 ||
      localSupervision.template === "removed" ||
      supervisorsStopped.length > 0 ||
      hostReportsRemoved,
    allowList: { path: settings.allowListPath, removed: allowListRemoved },
    fragment: { path: settings.fragmentPath, removed: fragmentRemoved },
    installedFragment: { path: settings.installedFragmentPath, removed: installedCopyPresent && !installedStillThere },
    cloudwatchAgent: plan.change,
    ctlCalls: plan.ctlCalls,
    otherFragments,
    localSupervision,
    supervisorsStopped,
    hostReports: { path: hostReportsConfigPath(settings), removed: hostReportsRemoved },
  };
  if (flags.json) printJson(output, result);
  else output.stdout(describeRemoval(result));
  return 0;
}

function describeRemoval(result: RemoveResult): string {
  if (!result.changed) return "nothing to remove: procwatch has no fragment or allow-list on this host";
  const removed = [result.installedFragment, result.fragment, result.allowList].filter((file) => file.removed).map((file) => file.path);
  if (result.localSupervision.removed.length > 0) removed.push(`local supervision drop-ins of ${result.localSupervision.removed.join(", ")}`);
  if (result.localSupervision.template === "removed") removed.push("procwatch-escalate@.service");
  if (result.supervisorsStopped.length > 0) removed.push(`the supervisors of ${result.supervisorsStopped.join(", ")} (the processes keep running)`);
  const agent =
    result.cloudwatchAgent === "reloaded"
      ? `CloudWatch agent reloaded without procwatch's procstat entries (${result.otherFragments.length} other fragment${result.otherFragments.length === 1 ? "" : "s"} kept)`
      : result.cloudwatchAgent === "stopped"
        ? "CloudWatch agent stopped: procwatch's fragment was its only config"
        : "CloudWatch agent not touched (it had no procwatch fragment)";
  return `removed ${removed.join(", ")}; ${agent}; restart now refuses every process`;
}
