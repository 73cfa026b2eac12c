import { isAbsoluteSafePath, isProcessName } from "@procwatch/contract";
import { isAccountName } from "./accounts.ts";
import { isObject, join, ProblemList } from "./json-checks.ts";

/**
 * The optional root-owned local config `/etc/procwatch/agent.json`. It is the ONLY place a start
 * command may come from (hosts without systemd): an argv array run without a shell, written by
 * whoever administers the host, never derived from tags, events or SSM parameters.
 *
 * {
 *   "version": 1,
 *   "startCommands": {
 *     "orders": { "argv": ["/opt/orders/bin/orders", "--port", "8080"], "cwd": "/opt/orders",
 *                 "logFile": "/var/log/orders.log", "env": {"JAVA_OPTS": "-Xmx1g"}, "stopTimeoutSeconds": 10,
 *                 "user": "orders", "group": "orders" }
 *   }
 * }
 */
export interface StartCommand {
  /** Validated non-empty, argv[0] an absolute path. */
  readonly argv: readonly string[];
  readonly cwd?: string;
  readonly logFile?: string;
  readonly env?: Readonly<Record<string, string>>;
  /** How long a forced restart waits after SIGTERM before SIGKILL. */
  readonly stopTimeoutSeconds?: number;
  /** Account to run as (a name; without it the command runs as root, like the agent). */
  readonly user?: string;
  readonly group?: string;
  /** Resolved from `user`/`group` by the agent (core/accounts.ts), never read from the file. */
  readonly uid?: number;
  readonly gid?: number;
}

export interface LocalConfig {
  readonly version: 1;
  readonly startCommands: Readonly<Record<string, StartCommand>>;
}

const MAX_ARGS = 256;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

function parseStartCommand(raw: unknown, path: string, problems: ProblemList): StartCommand | undefined {
  if (!isObject(raw)) {
    problems.add(path, "must be an object");
    return undefined;
  }
  problems.onlyKeys(raw, ["argv", "cwd", "logFile", "env", "stopTimeoutSeconds", "user", "group"], path);
  const before = problems.problems.length;
  const argv = raw.argv;
  if (!Array.isArray(argv) || argv.length === 0 || argv.length > MAX_ARGS || !argv.every((arg) => typeof arg === "string" && arg.length > 0)) {
    problems.add(join(path, "argv"), `must be an array of 1-${MAX_ARGS} non-empty strings`);
  } else if (!isAbsoluteSafePath(argv[0] as string)) {
    problems.add(join(path, "argv[0]"), "must be an absolute executable path");
  }
  const command: { argv: string[]; cwd?: string; logFile?: string; env?: Record<string, string>; stopTimeoutSeconds?: number; user?: string; group?: string } =
    {
      argv: Array.isArray(argv) ? (argv as string[]) : [],
    };
  for (const key of ["cwd", "logFile"] as const) {
    if (raw[key] === undefined) continue;
    const value = problems.string(raw, key, path, isAbsoluteSafePath, "must be a plain absolute path (no spaces, no '..')");
    if (value !== undefined) command[key] = value;
  }
  if (raw.env !== undefined) {
    if (!isObject(raw.env)) problems.add(join(path, "env"), "must be an object of strings");
    else {
      const env: Record<string, string> = {};
      for (const [name, value] of Object.entries(raw.env)) {
        if (!ENV_NAME.test(name) || typeof value !== "string") problems.add(join(join(path, "env"), name), "names are letters, digits and _; values strings");
        else env[name] = value;
      }
      command.env = env;
    }
  }
  if (raw.stopTimeoutSeconds !== undefined) {
    const seconds = raw.stopTimeoutSeconds;
    if (typeof seconds !== "number" || !Number.isInteger(seconds) || seconds < 1 || seconds > 600)
      problems.add(join(path, "stopTimeoutSeconds"), "must be 1-600");
    else command.stopTimeoutSeconds = seconds;
  }
  for (const key of ["user", "group"] as const) {
    if (raw[key] === undefined) continue;
    const value = problems.string(raw, key, path, isAccountName, `must be a ${key} name (letters, digits, '_', '.', '-'; not starting with a digit or '-')`);
    if (value !== undefined) command[key] = value;
  }
  return problems.problems.length === before ? command : undefined;
}

export function parseLocalConfig(json: unknown): { config: LocalConfig } | { problems: string[] } {
  if (!isObject(json)) return { problems: ["(root): must be a JSON object"] };
  const problems = new ProblemList();
  problems.onlyKeys(json, ["version", "startCommands"], "");
  if (json.version !== 1) problems.add("version", "must be 1");
  const startCommands: Record<string, StartCommand> = {};
  if (json.startCommands !== undefined) {
    if (!isObject(json.startCommands)) problems.add("startCommands", "must be an object keyed by process name");
    else {
      for (const [name, raw] of Object.entries(json.startCommands)) {
        const path = join("startCommands", name);
        if (!isProcessName(name)) {
          problems.add(path, "keys must be process names");
          continue;
        }
        const command = parseStartCommand(raw, path, problems);
        if (command !== undefined) startCommands[name] = command;
      }
    }
  }
  if (problems.problems.length > 0) return { problems: problems.problems };
  return { config: { version: 1, startCommands } };
}

export const EMPTY_LOCAL_CONFIG: LocalConfig = { version: 1, startCommands: {} };
