import { isProcessName, isSystemdUnit, PROCESS_NAME_PATTERN, type ProcessSpec, printableValue } from "@procwatch/contract";
import type { AllowList } from "./allow-list.ts";
import type { LocalConfig, StartCommand } from "./local-config.ts";

/**
 * Every decision `restart` takes before it touches the host, as pure functions. The order is
 * the safety argument: the name is checked against the contract's pattern before any file is
 * read, then against the allow-list, and only then is a backend chosen.
 */
export type RestartOutcome = "restarted" | "already-running" | "refused" | "invalid-name" | "no-backend" | "failed" | "timeout";
export type BackendKind = "systemd" | "start-command";

export interface RestartResult {
  readonly process: string;
  readonly ok: boolean;
  readonly outcome: RestartOutcome;
  readonly backend: BackendKind | null;
  readonly unit: string | null;
  readonly message: string;
  readonly before: { readonly pids: readonly number[] };
  readonly after: { readonly pids: readonly number[] };
  readonly timings: { readonly startedAt: string; readonly commandMs: number; readonly verifyMs: number; readonly totalMs: number };
}

export type NameCheck = { readonly ok: true } | { readonly ok: false; readonly message: string };

export function checkProcessNameArgument(name: string): NameCheck {
  if (isProcessName(name)) return { ok: true };
  return { ok: false, message: `refusing process name "${printableValue(name)}": it does not match ${PROCESS_NAME_PATTERN}` };
}

export function findAllowedProcess(allowList: AllowList, name: string): ProcessSpec | undefined {
  return allowList.processes.find((process) => process.name === name);
}

export type BackendChoice =
  | { readonly kind: "systemd"; readonly unit: string }
  | { readonly kind: "start-command"; readonly command: StartCommand }
  | { readonly kind: "unavailable"; readonly reason: string };

export function chooseBackend(input: {
  readonly process: ProcessSpec;
  readonly systemdRunning: boolean;
  readonly requested: "auto" | BackendKind;
  readonly localConfig: LocalConfig;
}): BackendChoice {
  const wantSystemd = input.requested === "systemd" || (input.requested === "auto" && input.systemdRunning);
  if (wantSystemd) {
    if (!input.systemdRunning) return { kind: "unavailable", reason: "systemd is not running on this host (no /run/systemd/system)" };
    // Re-checked here although the allow-list parser already did: this is the value that reaches argv.
    if (!isSystemdUnit(input.process.unit)) return { kind: "unavailable", reason: `unit ${printableValue(input.process.unit)} is not a valid service unit` };
    return { kind: "systemd", unit: input.process.unit };
  }
  const command = input.localConfig.startCommands[input.process.name];
  if (command === undefined) {
    return { kind: "unavailable", reason: `no start command for ${input.process.name} in the local config, and systemd is not in use` };
  }
  return { kind: "start-command", command };
}

/** A late or false alarm must not kill a healthy process: restart only what is down, unless forced. */
export function shouldRestart(beforePids: readonly number[], force: boolean): boolean {
  return force || beforePids.length === 0;
}

export function exitCodeForRestart(outcome: RestartOutcome): 0 | 1 | 2 {
  switch (outcome) {
    case "restarted":
    case "already-running":
      return 0;
    case "invalid-name":
      return 2;
    default:
      return 1;
  }
}
