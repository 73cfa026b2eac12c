import type * as ChildProcess from "node:child_process";
import { closeSync, mkdirSync, openSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import type { StartCommand } from "../core/local-config.ts";
import type { LocalBudget, LocalEvent } from "../core/local-supervision.ts";
import { parseProcStat } from "../core/process-usage.ts";
import { writeFileAtomic } from "./atomic-write.ts";
import { removeFileIfPresent } from "./file-removal.ts";
import { appendLocalEvent } from "./local-supervision.ts";
import { readTextOrNull } from "./read-optional-file.ts";
import { spawnStartCommand } from "./restart-backends.ts";

/**
 * procwatch's own supervisor for start-command processes (hosts without systemd): one long-lived
 * `procwatch-agent supervise --process NAME` per `local` process. It is the process's parent and
 * waits on it (the exit event of the child it spawned: no polling), restarts it after
 * RESTART_DELAY_MS within the local budget, spools each restart, and on an exhausted budget spools
 * the escalation and exits, leaving the process down for the CloudWatch alarm.
 *
 * A process it did not start (running before the supervisor) cannot be waited on without pidfd,
 * which Node lacks: the supervisor looks for it every ADOPT_CHECK_MS (or at once on SIGUSR1, which
 * `restart` sends) and takes over as its parent from the next start on.
 */
export const RESTART_DELAY_MS = 100;
export const ADOPT_CHECK_MS = 5000;
const SUPERVISORS_DIR = "supervisors";

export interface SupervisorState {
  readonly pid: number;
  readonly startTime: number;
  readonly process: string;
  /** Start command and budget it runs with: a change makes `apply` replace the supervisor. */
  readonly configKey: string;
  readonly childPid: number | null;
  readonly restarts: number;
  readonly gaveUp: boolean;
}

function childProcess(): typeof ChildProcess {
  return process.getBuiltinModule("node:child_process");
}

export function supervisorStatePath(spoolDir: string, processName: string): string {
  return join(spoolDir, SUPERVISORS_DIR, `${processName}.json`);
}

export function readSupervisorState(spoolDir: string, processName: string): SupervisorState | null {
  const text = readTextOrNull(supervisorStatePath(spoolDir, processName));
  if (text === null) return null;
  try {
    const state = JSON.parse(text) as SupervisorState;
    return Number.isSafeInteger(state.pid) && state.pid > 0 ? state : null;
  } catch {
    return null;
  }
}

export function supervisedProcessNames(spoolDir: string): string[] {
  try {
    return readdirSync(join(spoolDir, SUPERVISORS_DIR))
      .filter((entry) => entry.endsWith(".json"))
      .map((entry) => entry.slice(0, -".json".length));
  } catch {
    return [];
  }
}

export function startTimeOf(pid: number): number | null {
  const text = readTextOrNull(`/proc/${pid}/stat`);
  return text === null ? null : (parseProcStat(text)?.startTimeTicks ?? null);
}

/** The state's supervisor still runs: its pid lives with the same start time (a reused pid does not count). */
export function supervisorAlive(state: SupervisorState | null): boolean {
  return state !== null && !state.gaveUp && startTimeOf(state.pid) === state.startTime;
}

export function configKeyOf(command: StartCommand, budget: LocalBudget): string {
  return JSON.stringify({ command, budget });
}

/** SIGTERM to a live supervisor, then wait for it to go (it leaves its child running). */
export async function stopSupervisor(spoolDir: string, processName: string, waitMs = 5000): Promise<boolean> {
  const state = readSupervisorState(spoolDir, processName);
  let stopped = false;
  if (state !== null && startTimeOf(state.pid) === state.startTime) {
    try {
      process.kill(state.pid, "SIGTERM");
    } catch {}
    const deadline = Date.now() + waitMs;
    while (Date.now() < deadline && startTimeOf(state.pid) === state.startTime) await new Promise((resolve) => setTimeout(resolve, 20));
    stopped = true;
  }
  removeFileIfPresent(supervisorStatePath(spoolDir, processName));
  return stopped;
}

/** Starts `agentPath supervise …` in its own session, output to the log directory, and waits until it has written its state. */
export async function startSupervisor(input: {
  readonly agentArgv: readonly string[];
  readonly processName: string;
  readonly budget: LocalBudget;
  readonly spoolDir: string;
  readonly logFile: string;
  readonly env: Readonly<Record<string, string>>;
}): Promise<SupervisorState | null> {
  mkdirSync(dirname(input.logFile), { recursive: true, mode: 0o755 });
  const logFd = openSync(input.logFile, "a", 0o640);
  const [file, ...args] = input.agentArgv;
  if (file === undefined) throw new Error("no agent executable to run the supervisor");
  try {
    const child = childProcess().spawn(
      file,
      [
        ...args,
        "supervise",
        "--process",
        input.processName,
        "--restarts",
        String(input.budget.restarts),
        "--window-minutes",
        String(input.budget.windowMinutes),
      ],
      { detached: true, stdio: ["ignore", logFd, logFd], env: { ...input.env } },
    );
    child.unref();
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      const state = readSupervisorState(input.spoolDir, input.processName);
      if (state !== null && state.pid === child.pid) return state;
      if (child.exitCode !== null) return null;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return null;
  } finally {
    closeSync(logFd);
  }
}

/** The supervisor's main loop. Resolves when it stops (SIGTERM, or the budget is spent). */
export function supervise(input: {
  readonly processName: string;
  readonly unit: string;
  readonly command: StartCommand;
  readonly logFile: string;
  readonly budget: LocalBudget;
  readonly spoolDir: string;
  /** Pids of the process running now, not counting this supervisor's own child. */
  readonly runningPids: () => number[];
  readonly log: (line: string) => void;
  /** After each spooled event: reports it (the caller sends the spool to the host-reports queue). */
  readonly onEvent?: () => void;
}): Promise<"stopped" | "gave-up"> {
  const { processName, command, budget, spoolDir } = input;
  const ownStart = startTimeOf(process.pid) ?? 0;
  const configKey = configKeyOf(command, budget);
  let child: ChildProcess.ChildProcess | null = null;
  let restartsAt: number[] = [];
  let restarts = 0;
  let adoptTimer: NodeJS.Timeout | null = null;
  let stopping = false;
  const writeState = (gaveUp: boolean) =>
    writeFileAtomic(
      supervisorStatePath(spoolDir, processName),
      `${JSON.stringify({ pid: process.pid, startTime: ownStart, process: processName, configKey, childPid: child?.pid ?? null, restarts, gaveUp } satisfies SupervisorState)}\n`,
      { mode: 0o600 },
    );

  return new Promise((resolve) => {
    const finish = (how: "stopped" | "gave-up") => {
      stopping = true;
      if (adoptTimer !== null) clearTimeout(adoptTimer);
      process.removeAllListeners("SIGTERM");
      process.removeAllListeners("SIGUSR1");
      resolve(how);
    };

    const spawnChild = (beforePid: number | null, exitedAt: number | null): void => {
      let logFd: number;
      try {
        mkdirSync(dirname(input.logFile), { recursive: true, mode: 0o755 });
        logFd = openSync(input.logFile, "a", 0o640);
      } catch (error) {
        input.log(`cannot open ${input.logFile}: ${(error as Error).message}`);
        escalate(beforePid, `cannot open its log file ${input.logFile}`);
        return;
      }
      const [file, ...args] = command.argv;
      const started = spawnStartCommand(command, file ?? "/nonexistent", args, logFd);
      closeSync(logFd);
      child = started;
      const startedAt = Date.now();
      started.once("error", (error) => input.log(`cannot start ${file}: ${error.message}`));
      started.once("exit", (code, signal) => {
        if (child === started) child = null;
        if (stopping) return;
        const at = Date.now();
        input.log(`${processName} (pid ${started.pid ?? "?"}) exited (${signal ?? `status ${code}`})`);
        restartsAt = restartsAt.filter((time) => time > at - budget.windowMinutes * 60_000);
        if (restartsAt.length >= budget.restarts)
          return escalate(started.pid ?? null, `${restartsAt.length} restarts in ${budget.windowMinutes} min; last exit ${signal ?? `status ${code}`}`);
        setTimeout(() => {
          if (stopping) return;
          restartsAt.push(Date.now());
          restarts += 1;
          spawnChild(started.pid ?? null, at);
        }, RESTART_DELAY_MS);
      });
      if (started.pid !== undefined) {
        writeState(false);
        if (beforePid !== null && exitedAt !== null) {
          const event: LocalEvent = {
            kind: "local-restart",
            recordedAtMs: Date.now(),
            process: processName,
            unit: null,
            beforePid,
            afterPid: started.pid,
            downMs: startedAt - exitedAt,
            escalated: false,
            nRestarts: restarts,
            detail: `procwatch's supervisor restarted ${processName} (restart ${restarts} of ${budget.restarts} in ${budget.windowMinutes} min)`,
          };
          appendLocalEvent(spoolDir, event);
          input.onEvent?.();
        }
      }
    };

    const escalate = (beforePid: number | null, why: string): void => {
      appendLocalEvent(spoolDir, {
        kind: "local-escalation",
        recordedAtMs: Date.now(),
        process: processName,
        unit: null,
        beforePid,
        afterPid: null,
        downMs: null,
        escalated: true,
        nRestarts: restarts,
        detail: `local supervision of ${processName} gave up: ${why}; the CloudWatch alarm takes over`,
      });
      input.onEvent?.();
      writeState(true);
      finish("gave-up");
    };

    /** Start the process unless one runs that is not ours; then look again later (or on SIGUSR1). */
    const startOrAdopt = (): void => {
      adoptTimer = null;
      if (stopping || child !== null) return;
      if (input.runningPids().length > 0) {
        adoptTimer = setTimeout(startOrAdopt, ADOPT_CHECK_MS);
        return;
      }
      spawnChild(null, null);
    };

    process.on("SIGTERM", () => {
      // The process stays up: taking procwatch off a host must not stop the service.
      child?.unref();
      finish("stopped");
    });
    process.on("SIGUSR1", () => {
      if (adoptTimer !== null) clearTimeout(adoptTimer);
      startOrAdopt();
    });
    writeState(false);
    startOrAdopt();
  });
}
