import { existsSync } from "node:fs";
import type { ProcessSpec } from "@procwatch/contract";
import { namesAnyAccount, resolveStartCommandAccounts } from "../core/accounts.ts";
import { type AllowList, parseAllowList } from "../core/allow-list.ts";
import { formatRestart } from "../core/human-output.ts";
import { EMPTY_LOCAL_CONFIG, type LocalConfig, parseLocalConfig } from "../core/local-config.ts";
import { isLocallySupervised } from "../core/local-supervision.ts";
import { fieldsRunningNeeds, findRunning, type RunningOutcome } from "../core/process-matching.ts";
import {
  type BackendKind,
  checkProcessNameArgument,
  chooseBackend,
  exitCodeForRestart,
  findAllowedProcess,
  type RestartOutcome,
  type RestartResult,
  shouldRestart,
} from "../core/restart-decision.ts";
import { UntrustedFileError } from "../errors.ts";
import { procwatchOwnPids, readPidFile, scanProcesses } from "../io/procfs.ts";
import { readTextOrNull } from "../io/read-optional-file.ts";
import {
  defaultLogFileFor,
  isSystemdRunning,
  runSystemctl,
  sleep,
  startDetached,
  stopPids,
  systemctlIsActive,
  systemctlRestart,
  systemctlUnitFailure,
} from "../io/restart-backends.ts";
import { readSupervisorState, supervisorAlive } from "../io/supervisor.ts";
import { readTrustedJson } from "../io/trusted-file.ts";
import type { AgentSettings } from "../settings.ts";
import { type Output, printJson } from "./output.ts";

export interface RestartFlags {
  readonly process: string;
  readonly json?: boolean;
  readonly force?: boolean;
  readonly timeout: number;
  readonly backend: "auto" | BackendKind;
}

export function countPids(spec: ProcessSpec): number[] {
  return [...lookUp(spec).pids];
}

/**
 * What runs, as procwatch judges it as root: an exe spec by its exe links, never by the
 * command-line pattern the CloudWatch agent counts it with (a process that only looks like the
 * program must not stop a restart; one started under another argv[0] must not be started twice).
 * procwatch itself and its launchers are never counted.
 */
function lookUp(spec: ProcessSpec): RunningOutcome {
  const records = scanProcesses({ ...fieldsRunningNeeds(spec.match), exclude: procwatchOwnPids() });
  const pidFile = spec.match.mode === "pidfile" ? readPidFile(spec.match.pidFile) : undefined;
  return findRunning(spec.match, records, pidFile);
}

export function loadAllowList(settings: AgentSettings): AllowList {
  const hint = "run procwatch-agent apply first; it writes the allow-list";
  const json = readTrustedJson(settings.allowListPath, { allowInsecure: settings.allowInsecureConfig, missingHint: hint });
  if (json === null) throw new UntrustedFileError(settings.allowListPath, "does not exist, so no process may be restarted", hint);
  const parsed = parseAllowList(json);
  if ("problems" in parsed) throw new UntrustedFileError(settings.allowListPath, `is not a valid allow-list: ${parsed.problems.slice(0, 3).join("; ")}`, hint);
  return parsed.allowList;
}

export function loadLocalConfig(settings: AgentSettings): LocalConfig {
  const hint = `see "Local config" in the procwatch-agent README for the format of ${settings.localConfigPath}`;
  const json = readTrustedJson(settings.localConfigPath, { allowInsecure: settings.allowInsecureConfig, missingHint: hint });
  if (json === null) return EMPTY_LOCAL_CONFIG;
  const parsed = parseLocalConfig(json);
  if ("problems" in parsed)
    throw new UntrustedFileError(settings.localConfigPath, `is not a valid local config: ${parsed.problems.slice(0, 3).join("; ")}`, hint);
  if (!namesAnyAccount(parsed.config)) return parsed.config;
  // Read directly rather than through getent/id: nothing is spawned before a restart is decided.
  const resolved = resolveStartCommandAccounts(parsed.config, {
    passwd: readTextOrNull(PASSWD_PATH),
    group: readTextOrNull(GROUP_PATH),
    passwdPath: PASSWD_PATH,
    groupPath: GROUP_PATH,
  });
  if ("problems" in resolved)
    throw new UntrustedFileError(
      settings.localConfigPath,
      `names an unknown account: ${resolved.problems.slice(0, 3).join("; ")}`,
      `create the account, or fix user/group in ${settings.localConfigPath} (local accounts only: ${PASSWD_PATH}, ${GROUP_PATH})`,
    );
  return resolved.config;
}

const PASSWD_PATH = "/etc/passwd";
const GROUP_PATH = "/etc/group";

/**
 * Restart one allow-listed process and verify it came back. Order matters for safety: the name
 * is checked against the contract's pattern before any file is read or anything is spawned.
 */
export async function performRestart(flags: RestartFlags, settings: AgentSettings): Promise<RestartResult> {
  const startedAt = new Date();
  const t0 = performance.now();
  const elapsed = () => Math.round(performance.now() - t0);
  let backend: BackendKind | null = null;
  let unit: string | null = null;
  let before: number[] = [];
  const result = (outcome: RestartOutcome, message: string, after: number[] = [], commandMs = 0, verifyMs = 0): RestartResult => ({
    process: flags.process,
    ok: outcome === "restarted" || outcome === "already-running",
    outcome,
    backend,
    unit,
    message,
    before: { pids: before },
    after: { pids: after },
    timings: { startedAt: startedAt.toISOString(), commandMs, verifyMs, totalMs: elapsed() },
  });

  const nameCheck = checkProcessNameArgument(flags.process);
  if (!nameCheck.ok) return result("invalid-name", nameCheck.message);

  const allowList = loadAllowList(settings);
  const spec = findAllowedProcess(allowList, flags.process);
  if (spec === undefined) {
    return result("refused", `${flags.process} is not on the allow-list ${settings.allowListPath}; nothing was run`);
  }
  unit = spec.unit;
  const lookedUp = lookUp(spec);
  if (lookedUp.pidFileRefused !== undefined) {
    // Whether it runs is unknown: starting it could make a second copy.
    return result("failed", `cannot tell whether ${flags.process} runs: ${lookedUp.lookupError ?? lookedUp.pidFileRefused}; nothing was run`);
  }
  before = [...lookedUp.pids];
  if (!shouldRestart(before, flags.force ?? false)) {
    return result(
      "already-running",
      `${flags.process} is running (${before.length} pid${before.length === 1 ? "" : "s"}); nothing done (use --force to restart anyway)`,
      before,
    );
  }

  const systemdRunning = isSystemdRunning();
  const choice = chooseBackend({
    process: spec,
    systemdRunning,
    requested: flags.backend,
    localConfig: systemdRunning && flags.backend !== "start-command" ? EMPTY_LOCAL_CONFIG : loadLocalConfig(settings),
  });
  if (choice.kind === "unavailable") return result("no-backend", choice.reason);
  backend = choice.kind;
  if (choice.kind === "start-command") unit = null;

  const timeoutMs = flags.timeout * 1000;
  const commandStart = performance.now();
  if (choice.kind === "systemd") {
    // A `local` unit that systemd gave up on is past the start limit procwatch's drop-in set, and
    // systemd refuses every start until the window passes: this restart is the CloudWatch path
    // taking over once (its own budget is the restart handler's), so clear the limit first.
    if (isLocallySupervised(spec) && (await systemctlUnitFailure(choice.unit))?.failed === true) await runSystemctl(["reset-failed", choice.unit], 10_000);
    const run = await systemctlRestart(choice.unit, timeoutMs);
    if (!run.ok)
      return result("failed", `systemctl restart ${choice.unit} failed: ${run.detail}`, countPids(spec), Math.round(performance.now() - commandStart));
  } else {
    if (before.length > 0) {
      const isAlive = (pid: number) => existsSync(`/proc/${pid}`);
      await stopPids(before, isAlive, (choice.command.stopTimeoutSeconds ?? 10) * 1000);
    }
    const supervisor = readSupervisorState(settings.spoolDir, spec.name);
    if (supervisorAlive(supervisor) && supervisor !== null) {
      // procwatch's supervisor owns this process (detection=local): it starts it as its child, so
      // it can wait on it; a second, detached copy would escape supervision.
      process.kill(supervisor.pid, "SIGUSR1");
    } else {
      const run = await startDetached(choice.command, defaultLogFileFor(settings.logDir, spec.name));
      if (!run.ok) return result("failed", run.detail, countPids(spec), Math.round(performance.now() - commandStart));
    }
  }
  const commandMs = Math.round(performance.now() - commandStart);

  // Verified means: matched by the same semantics as the alarm, on two looks 200 ms apart (a
  // process that dies right after exec does not count), and active in systemd where it runs.
  const verifyStart = performance.now();
  const deadline = verifyStart + timeoutMs;
  let after: number[] = [];
  let seenOnce = false;
  while (performance.now() < deadline) {
    after = countPids(spec);
    const active = after.length > 0 && (choice.kind !== "systemd" || (await systemctlIsActive(choice.unit)));
    if (active && seenOnce) {
      return result(
        "restarted",
        `${flags.process} is back (${after.length} pid${after.length === 1 ? "" : "s"})`,
        after,
        commandMs,
        Math.round(performance.now() - verifyStart),
      );
    }
    if (!active && choice.kind === "systemd") {
      // A unit whose process exits right after starting (Type=simple: systemctl restart already
      // succeeded) is `failed` in systemd at once; nothing will start it again, so say so now.
      const unitState = await systemctlUnitFailure(choice.unit);
      if (unitState?.failed === true) {
        return result(
          "failed",
          `${flags.process} exited right after systemd started it (${unitState.state})`,
          countPids(spec),
          commandMs,
          Math.round(performance.now() - verifyStart),
        );
      }
    }
    seenOnce = active;
    await sleep(active ? 200 : 100);
  }
  return result("timeout", `${flags.process} did not come back within ${flags.timeout} s`, after, commandMs, Math.round(performance.now() - verifyStart));
}

export async function runRestart(flags: RestartFlags, settings: AgentSettings, output: Output): Promise<number> {
  const result = await performRestart(flags, settings);
  if (flags.json) printJson(output, result);
  else output.stdout(formatRestart(result, output.palette));
  if (!result.ok) {
    output.stderr(`error: ${result.message}`);
    output.stderr(
      result.outcome === "invalid-name" || result.outcome === "refused"
        ? "hint: only names on the allow-list written by procwatch-agent apply can be restarted"
        : "hint: check the service's own logs; procwatch-agent health shows what is running",
    );
  }
  return exitCodeForRestart(result.outcome);
}
