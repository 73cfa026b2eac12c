import { compileGoRegexp, type MatchSpec } from "@procwatch/contract";

/**
 * Process matching with the CloudWatch agent's semantics (telegraf procstat, `pid_finder=native`,
 * built on gopsutil). Everything here is pure: the procfs reader hands in plain records.
 *
 * - `exe`: unanchored regex against `readlink /proc/<pid>/exe`, the full path, which reads
 *   `<path> (deleted)` once the binary was replaced or removed. Unreadable links (kernel threads,
 *   zombies, races) never match.
 * - `pattern`: unanchored regex against `/proc/<pid>/cmdline` split on NUL, empty arguments
 *   dropped (gopsutil uses strings.FieldsFunc), joined by single spaces.
 * - `pid_file`: the pid written in the file. procstat reports `pid_count` = the pids it read from
 *   the file *without* checking that they live; procwatch counts only live ones (that is what
 *   "running" means to an operator) and reports the agent's figure next to it so a stale pid file,
 *   which keeps the alarm from ever seeing 0, is visible.
 */
export interface ProcessRecord {
  readonly pid: number;
  /** Target of /proc/<pid>/exe, or null when it cannot be read. */
  readonly exePath: string | null;
  /** Joined command line (see `joinCmdline`), or null when it cannot be read. */
  readonly cmdline: string | null;
  /** Owner of /proc/<pid> (effective uid; root when not dumpable), when the scan read it. */
  readonly ownerUid?: number | null;
}

/**
 * The CloudWatch agent's effective user, when it is not root (`agent.run_as_user`, cwagent by
 * default in its default config and wizard). `uid` null: the name is not a local account.
 */
export interface AgentUser {
  readonly user: string;
  readonly uid: number | null;
  /** The config file that sets run_as_user. */
  readonly path: string;
}

/** What the pid file held when it was read: null content means the file was missing, unreadable or refused. */
export interface PidFileReading {
  readonly path: string;
  readonly content: string | null;
  /** Why procwatch would not read it (not a regular file, a symlink, too large, a path outside the pid file directories). */
  readonly refusal?: string;
}

export interface MatchOutcome {
  /** Live pids that match, ascending. */
  readonly pids: readonly number[];
  /** The `procstat_lookup_pid_count` the CloudWatch agent would publish, or null on a lookup error. */
  readonly agentPidCount: number | null;
  /** Why the agent's lookup fails (it then publishes 0 *without* the selector dimension: the alarm sees missing data). */
  readonly lookupError?: string;
  /** Set when procwatch refused to read the pid file: whether the process runs is unknown, so restart must not act. */
  readonly pidFileRefused?: string;
  /** Matching pids whose /proc/<pid>/exe the CloudWatch agent's user cannot read, so it does not count them. */
  readonly hiddenFromAgent?: readonly number[];
}

/**
 * Whether a non-root CloudWatch agent can read /proc/<pid>/exe. The kernel allows the readlink
 * only under ptrace's read check (fs/proc/base.c `proc_exe_link` → `proc_fd_access_allowed` →
 * `ptrace_may_access(PTRACE_MODE_READ_FSCREDS)`): the caller's uid must match the target's and the
 * target must be dumpable, or the caller needs CAP_SYS_PTRACE, which an agent that dropped root
 * (cmd/start-amazon-cloudwatch-agent/path.go `ChangeUser`) does not keep. The owner of /proc/<pid>
 * (effective uid, root when not dumpable) stands for that check; processes that changed only their
 * effective uid are the approximation's blind spot. On failure the agent's native finder skips the
 * process silently (aws/telegraf plugins/inputs/procstat/native_finder_notwindows.go `Pattern`:
 * "you having no permissions to access it ... continue").
 */
function agentCanReadExe(record: ProcessRecord, agentUser: AgentUser | undefined): boolean {
  if (agentUser === undefined) return true;
  return agentUser.uid !== null && agentUser.uid === record.ownerUid;
}

const NUL_RUNS = /\0+/g;

export function joinCmdline(raw: string): string {
  // Same result as split("\0") → drop empty arguments → join(" "), without an array per process:
  // leading and trailing NULs go, every inner run of NULs becomes one space.
  let start = 0;
  let end = raw.length;
  while (start < end && raw.charCodeAt(start) === 0) start += 1;
  while (end > start && raw.charCodeAt(end - 1) === 0) end -= 1;
  return raw.slice(start, end).replace(NUL_RUNS, " ");
}

/**
 * The selector regex with Go's semantics (the CloudWatch agent's `regexp.MatchString`): parsed as
 * Go parses it and translated for JavaScript by the contract (go-regexp.ts). A regex Go rejects is
 * the agent's lookup error; one procwatch cannot evaluate with the same meaning is refused too
 * (the contract never lets such a spec through, so this only guards hand-edited state).
 */
export function compileSelectorRegex(source: string): RegExp | { error: string } {
  const compiled = compileGoRegexp(source);
  if ("regex" in compiled) return compiled.regex;
  return {
    error:
      compiled.kind === "invalid" ? `regex does not compile in Go: ${compiled.message}` : `regex cannot be evaluated with Go's meaning: ${compiled.message}`,
  };
}

/**
 * Go's unicode.IsSpace, which strings.TrimSpace trims: ASCII \t \n \v \f \r and space, U+0085,
 * U+00A0, and the other Unicode White_Space characters. (JavaScript's trim also drops U+FEFF and
 * keeps U+0085, so it is not used.)
 */
const GO_SPACE =
  /^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+|[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$/g;

/**
 * Parses a pid file the way the CloudWatch agent does: `strconv.ParseInt(strings.TrimSpace(content),
 * 10, 32)` (aws/telegraf plugins/inputs/procstat/native_finder.go, `PidFile`). A sign is allowed,
 * so `0` and `-1` parse (the agent then counts 1 pid that is never running); anything else,
 * or a value outside int32, is an error.
 */
export function parsePidFileContent(content: string): number | null {
  const trimmed = content.replace(GO_SPACE, "");
  if (!/^[+-]?[0-9]+$/.test(trimmed)) return null;
  const pid = Number(trimmed);
  if (pid < -2_147_483_648 || pid > 2_147_483_647) return null;
  return pid === 0 ? 0 : pid; // no -0
}

export function matchProcesses(match: MatchSpec, records: readonly ProcessRecord[], pidFile?: PidFileReading, agentUser?: AgentUser): MatchOutcome {
  switch (match.mode) {
    case "exe":
    case "pattern": {
      const regex = compileSelectorRegex(match.mode === "exe" ? match.exe : match.pattern);
      if (!(regex instanceof RegExp)) return { pids: [], agentPidCount: null, lookupError: regex.error };
      const pids: number[] = [];
      if (match.mode === "exe") {
        for (const [exePath, exePids] of pidsByExePath(records)) {
          if (regex.test(exePath)) pids.push(...exePids);
        }
      } else {
        for (const record of records) {
          if (record.cmdline !== null && regex.test(record.cmdline)) pids.push(record.pid);
        }
      }
      pids.sort((a, b) => a - b);
      if (match.mode === "exe" && agentUser !== undefined && pids.length > 0) {
        const matched = new Set(pids);
        const hidden = records
          .filter((record) => matched.has(record.pid) && !agentCanReadExe(record, agentUser))
          .map((record) => record.pid)
          .sort((a, b) => a - b);
        if (hidden.length > 0) return { pids, agentPidCount: pids.length - hidden.length, hiddenFromAgent: hidden };
      }
      return { pids, agentPidCount: pids.length };
    }
    case "pidfile": {
      if (pidFile?.refusal !== undefined) {
        return {
          pids: [],
          agentPidCount: null,
          lookupError: `procwatch refuses to read ${match.pidFile}: ${pidFile.refusal}`,
          pidFileRefused: pidFile.refusal,
        };
      }
      if (pidFile === undefined || pidFile.path !== match.pidFile || pidFile.content === null) {
        return { pids: [], agentPidCount: null, lookupError: `pid file ${match.pidFile} cannot be read` };
      }
      const pid = parsePidFileContent(pidFile.content);
      if (pid === null) return { pids: [], agentPidCount: null, lookupError: `pid file ${match.pidFile} does not hold a pid` };
      // The agent counts whatever the file holds; 0 or a negative number is never a running process.
      const alive = pid > 0 && records.some((record) => record.pid === pid);
      return { pids: alive ? [pid] : [], agentPidCount: 1 };
    }
  }
}

/**
 * Hosts run many copies of few binaries (workers, shells, sleeps), and `health` matches every
 * watched process against the same scan: grouping pids by exe path once per scan means each
 * selector tests a few dozen distinct paths instead of every process. Keyed weakly by the records
 * array, which callers treat as immutable (it is typed readonly here).
 */
const exePathIndexes = new WeakMap<readonly ProcessRecord[], Map<string, number[]>>();

function pidsByExePath(records: readonly ProcessRecord[]): Map<string, number[]> {
  let index = exePathIndexes.get(records);
  if (index === undefined) {
    index = new Map();
    for (const record of records) {
      if (record.exePath === null) continue;
      const pids = index.get(record.exePath);
      if (pids === undefined) index.set(record.exePath, [record.pid]);
      else pids.push(record.pid);
    }
    exePathIndexes.set(records, index);
  }
  return index;
}

/** Which per-process fields a scan must read: skipping unneeded ones keeps a 500-process scan cheap. */
export function fieldsNeededFor(matches: readonly MatchSpec[], agentUser?: AgentUser): { exePath: boolean; cmdline: boolean; ownerUid: boolean } {
  const exePath = matches.some((match) => match.mode === "exe");
  return { exePath, cmdline: matches.some((match) => match.mode === "pattern"), ownerUid: exePath && agentUser !== undefined };
}

/**
 * A literal `pattern=` that would find these processes by command line, which every user can read:
 * the executable's path or file name, taken from the matched processes' exe links, the first one
 * found in every matched command line (else in at least one). Only what a tag's `pattern=` can
 * carry (no spaces; the contract escapes it into a regex). Null when none appears.
 */
export function patternSuggestion(exePaths: readonly string[], cmdlines: readonly string[]): string | null {
  const candidates: string[] = [];
  for (const exePath of exePaths) {
    const path = exePath.endsWith(" (deleted)") ? exePath.slice(0, -" (deleted)".length) : exePath;
    for (const candidate of [path, path.slice(path.lastIndexOf("/") + 1)]) if (candidate !== "" && !candidates.includes(candidate)) candidates.push(candidate);
  }
  const usable = candidates.filter((candidate) => /^[A-Za-z0-9+\-=._:/@]+$/.test(candidate));
  return (
    usable.find((candidate) => cmdlines.length > 0 && cmdlines.every((cmdline) => cmdline.includes(candidate))) ??
    usable.find((candidate) => cmdlines.some((cmdline) => cmdline.includes(candidate))) ??
    null
  );
}
