import { PROCESS_NAME_PATTERN } from "@procwatch/contract";
import { isLocallySupervised } from "../core/local-supervision.ts";
import { findAllowedProcess } from "../core/restart-decision.ts";
import { UntrustedFileError, UsageError } from "../errors.ts";
import { defaultLogFileFor } from "../io/restart-backends.ts";
import { supervise } from "../io/supervisor.ts";
import type { AgentSettings } from "../settings.ts";
import { reportPending } from "./local-event.ts";
import type { Output } from "./output.ts";
import { countPids, loadAllowList, loadLocalConfig } from "./restart.ts";

export interface SuperviseFlags {
  readonly process: string;
  readonly restarts: number;
  readonly windowMinutes: number;
}

/**
 * Started by `apply` (never by hand) for each `local` process on a host without systemd: the same
 * allow-list and root-owned agent.json as `restart`, so it can run nothing `restart` could not.
 */
export async function runSupervise(flags: SuperviseFlags, settings: AgentSettings, output: Output): Promise<number> {
  if (!new RegExp(PROCESS_NAME_PATTERN).test(flags.process))
    throw new UsageError(`--process ${JSON.stringify(flags.process.slice(0, 80))} is not a process name`, "use a name from the allow-list");
  const spec = findAllowedProcess(loadAllowList(settings), flags.process);
  if (spec === undefined || !isLocallySupervised(spec))
    throw new UntrustedFileError(
      settings.allowListPath,
      `does not list ${flags.process} with detection=local`,
      "run procwatch-agent apply; it starts supervisors",
    );
  const command = loadLocalConfig(settings).startCommands[flags.process];
  if (command === undefined)
    throw new UntrustedFileError(
      settings.localConfigPath,
      `has no start command for ${flags.process}`,
      "add startCommands.<name> to agent.json, then run apply",
    );
  const log = (line: string) => output.stderr(`${new Date().toISOString()} procwatch-supervise ${flags.process}: ${line}`);
  log(`supervising (pid ${process.pid}; ${flags.restarts} restarts in ${flags.windowMinutes} min)`);
  // One report run at a time, in order; the last one (the escalation) finishes before the exit below.
  let reporting: Promise<unknown> = Promise.resolve();
  const how = await supervise({
    processName: flags.process,
    unit: spec.unit,
    command,
    logFile: command.logFile ?? defaultLogFileFor(settings.logDir, spec.name),
    budget: { restarts: flags.restarts, windowMinutes: flags.windowMinutes },
    spoolDir: settings.spoolDir,
    runningPids: () => countPids(spec),
    log,
    onEvent: () => {
      reporting = reporting.then(() => reportPending(settings, output));
    },
  });
  await reporting;
  log(how === "gave-up" ? "local budget spent: gave up (the CloudWatch alarm takes over)" : "stopped (the process keeps running)");
  // Nothing may keep this process alive after it stopped supervising (the child is not waited on any more).
  process.exit(how === "gave-up" ? 1 : 0);
}
