import type * as ChildProcess from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync } from "node:fs";
import { dirname, join } from "node:path";
import type { StartCommand } from "../core/local-config.ts";

/**
 * The two ways to bring a process back. Both run an argv array through execFile/spawn, never a
 * shell, and every argument was validated (unit pattern) or comes from the root-owned local config.
 */

/** node:child_process on first use: loading it costs ~4 ms, and only `restart` ever spawns. */
function childProcess(): typeof ChildProcess {
  return process.getBuiltinModule("node:child_process");
}

/** sd_booted(3): systemd is the running init exactly when /run/systemd/system exists. */
export function isSystemdRunning(runDir = "/run/systemd/system"): boolean {
  return existsSync(runDir);
}

export interface CommandRun {
  readonly ok: boolean;
  readonly detail: string;
}

interface ExecRun extends CommandRun {
  readonly code: number;
  readonly stdout: string;
  /** Every non-empty line of stderr (else stdout), joined with spaces and capped: systemctl puts its reason first and a hint last. */
  readonly output: string;
}

const MAX_OUTPUT_CHARS = 600;

function execArgv(file: string, args: readonly string[], timeoutMs: number): Promise<ExecRun> {
  return new Promise((resolve) => {
    childProcess().execFile(file, [...args], { timeout: timeoutMs, encoding: "utf8" }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof (error as { code?: unknown }).code === "number" ? (error as { code: number }).code : -1;
      const lines = (stderr || stdout || "")
        .split("\n")
        .map((line) => line.trim())
        .filter((line) => line !== "");
      const output = lines.join(" ").slice(0, MAX_OUTPUT_CHARS);
      resolve({ ok: error === null, code, stdout, output, detail: lines.at(-1) ?? error?.message ?? "" });
    });
  });
}

/** Where distributions install systemctl (merged /usr and split /bin); never looked up through PATH, which a caller controls. */
const SYSTEMCTL_CANDIDATES = ["/usr/bin/systemctl", "/bin/systemctl"] as const;

export function systemctlPath(exists: (path: string) => boolean = existsSync): string | null {
  return SYSTEMCTL_CANDIDATES.find((candidate) => exists(candidate)) ?? null;
}

export function runSystemctl(args: readonly string[], timeoutMs: number): Promise<ExecRun> {
  const systemctl = systemctlPath();
  if (systemctl === null) {
    const detail = `systemctl not found at ${SYSTEMCTL_CANDIDATES.join(" or ")}`;
    return Promise.resolve({ ok: false, code: -1, stdout: "", output: detail, detail });
  }
  return execArgv(systemctl, args, timeoutMs);
}

/**
 * On failure the detail is everything systemctl said (its reason comes first, its "See systemctl
 * status" hint last) plus the unit's state as systemd reports it, e.g.
 * `Job for web.service failed because the control process exited with error code. See … (unit
 * web.service: failed/failed, result exit-code, main process exit status 1)`.
 */
export async function systemctlRestart(unit: string, timeoutMs: number): Promise<CommandRun> {
  const run = await runSystemctl(["restart", unit], timeoutMs);
  if (run.ok) return run;
  const said = run.output.length > 0 ? run.output : run.detail;
  const state = await systemctlUnitState(unit);
  return { ok: false, detail: state === null ? said : `${said} (${state})` };
}

const UNIT_STATE_PROPERTIES = ["LoadState", "ActiveState", "SubState", "Result", "ExecMainStatus"] as const;

/** `systemctl show -p A,B unit` as a map, or null when systemctl cannot say. */
export async function systemctlShow(unit: string, properties: readonly string[]): Promise<Map<string, string> | null> {
  const shown = await runSystemctl(["show", unit, ...properties.map((property) => `--property=${property}`)], 10_000);
  if (!shown.ok) return null;
  return new Map(
    shown.stdout
      .split("\n")
      .filter((line) => line.includes("="))
      .map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)] as const),
  );
}

export interface UnitFailure {
  readonly failed: boolean;
  /** `unit x: failed/failed, result exit-code, main process exit status 1`. */
  readonly state: string;
}

/**
 * Whether systemd has given the unit up: ActiveState `failed`. A unit under Restart= that died is
 * `activating/auto-restart` instead, so this is true only once systemd will not start it again.
 */
export async function systemctlUnitFailure(unit: string): Promise<UnitFailure | null> {
  const values = await systemctlShow(unit, UNIT_STATE_PROPERTIES);
  if (values === null) return null;
  return { failed: values.get("ActiveState") === "failed", state: describeUnitState(unit, values) };
}

/** `unit x: failed/failed, result exit-code, main process exit status 1`, or null when systemctl cannot say. */
export async function systemctlUnitState(unit: string): Promise<string | null> {
  const values = await systemctlShow(unit, UNIT_STATE_PROPERTIES);
  return values === null ? null : describeUnitState(unit, values);
}

function describeUnitState(unit: string, values: ReadonlyMap<string, string>): string {
  const parts = [`unit ${unit}: ${values.get("ActiveState") ?? "?"}/${values.get("SubState") ?? "?"}`];
  if (values.get("LoadState") !== undefined && values.get("LoadState") !== "loaded") parts.push(`load state ${values.get("LoadState")}`);
  if (values.get("Result") !== undefined && values.get("Result") !== "success") parts.push(`result ${values.get("Result")}`);
  if (values.get("ExecMainStatus") !== undefined && values.get("ExecMainStatus") !== "0")
    parts.push(`main process exit status ${values.get("ExecMainStatus")}`);
  return parts.join(", ");
}

export async function systemctlIsActive(unit: string): Promise<boolean> {
  return (await runSystemctl(["is-active", "--quiet", unit], 10_000)).ok;
}

/** A predictable environment for started services, like systemd gives units, plus what the config adds. */
const BASE_ENVIRONMENT = { PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", LANG: "C.UTF-8" };

/**
 * Starts the configured command detached: its own session (setsid), stdin closed, stdout and
 * stderr appended to a log file, not waited for. It must outlive this short-lived agent process.
 * With a resolved `uid`/`gid` the child drops to that account before exec (libuv also clears the
 * supplementary groups, so the process has only that uid and gid). The log file is opened here,
 * as root, and handed over as an open descriptor.
 */
export function startDetached(command: StartCommand, defaultLogFile: string): Promise<CommandRun & { pid?: number }> {
  const logFile = command.logFile ?? defaultLogFile;
  return new Promise((resolve) => {
    let logFd: number;
    try {
      mkdirSync(dirname(logFile), { recursive: true, mode: 0o755 });
      logFd = openSync(logFile, "a", 0o640);
    } catch (error) {
      resolve({ ok: false, detail: `cannot open log file ${logFile}: ${(error as Error).message}` });
      return;
    }
    const [file, ...args] = command.argv;
    if (file === undefined) {
      closeSync(logFd);
      resolve({ ok: false, detail: "start command has an empty argv" });
      return;
    }
    const child = spawnStartCommand(command, file, args, logFd);
    const finish = (result: CommandRun & { pid?: number }) => {
      closeSync(logFd);
      resolve(result);
    };
    child.once("error", (error) => finish({ ok: false, detail: `cannot start ${file}: ${error.message}` }));
    child.once("spawn", () => {
      child.unref();
      finish({ ok: true, detail: `started ${file} (pid ${child.pid}), output in ${logFile}`, ...(child.pid === undefined ? {} : { pid: child.pid }) });
    });
  });
}

/**
 * Spawns a start command exactly as every start does (the one-shot start above and the local
 * supervisor): its own session, stdin closed, output to `logFd`, the configured cwd, uid/gid and
 * environment over the predictable base.
 */
export function spawnStartCommand(command: StartCommand, file: string, args: readonly string[], logFd: number): ChildProcess.ChildProcess {
  return childProcess().spawn(file, [...args], {
    detached: true,
    stdio: ["ignore", logFd, logFd],
    ...(command.cwd === undefined ? {} : { cwd: command.cwd }),
    ...(command.uid === undefined ? {} : { uid: command.uid }),
    ...(command.gid === undefined ? {} : { gid: command.gid }),
    env: { ...BASE_ENVIRONMENT, ...command.env },
  });
}

export function defaultLogFileFor(logDir: string, processName: string): string {
  return join(logDir, `${processName}.log`);
}

/** SIGTERM, wait, then SIGKILL what is left: used only for a forced restart through a start command. */
export async function stopPids(pids: readonly number[], isAlive: (pid: number) => boolean, timeoutMs: number): Promise<void> {
  for (const pid of pids) signal(pid, "SIGTERM");
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && pids.some(isAlive)) await sleep(50);
  for (const pid of pids.filter(isAlive)) signal(pid, "SIGKILL");
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {}
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
