import { buildProcessSpec, compileGoRegexp, exeProgramOf, type MatchSpec, selectorOf } from "@procwatch/contract";
import type { ProcMountRestriction } from "./proc-mount.ts";

/**
 * Process matching with the CloudWatch agent's semantics (telegraf procstat, `pid_finder=native`,
 * built on gopsutil). Everything here is pure: the procfs reader hands in plain records.
 *
 * - `exe`: procwatch's intent, the program. `pids` (what health calls running and restart acts
 *   on) is the unanchored exe regex against `readlink /proc/<pid>/exe`, the full path, which reads
 *   `<path> (deleted)` once the binary was replaced or removed; unreadable links (kernel threads,
 *   zombies, races) never match. procwatch reads the links as root. The CloudWatch agent is never
 *   given that regex: it gets the command-line pattern on argv[0] of the contract's `selectorOf`
 *   (a non-root agent cannot read other users' exe links), so `agentPidCount` is what that pattern
 *   counts, and `agentDivergence` says where the two differ.
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
  /** Its group (effective gid; root when not dumpable), read with the owner. */
  readonly ownerGid?: number | null;
}

/**
 * The CloudWatch agent's effective user, when it is not root (`agent.run_as_user`, cwagent by
 * default in its default config and wizard). `uid` null: the name is not a local account. It only
 * matters for a selector the agent still gets as `exe` (a hand-edited exe regex the contract
 * cannot turn into a command-line pattern): every user can read command lines.
 */
export interface AgentUser {
  readonly user: string;
  readonly uid: number | null;
  /** Its primary group from /etc/passwd, which the agent switches to (userutil_linux.go `switchUser`); null when unknown. */
  readonly gid?: number | null;
  /** The config file that sets run_as_user. */
  readonly path: string;
  /**
   * Set when /proc is mounted with `hidepid` and this user is not in its `gid=` group
   * (core/proc-mount.ts): the agent then reads neither the command lines nor the exe links of other
   * users' processes, so it counts only its own.
   */
  readonly hiddenBy?: ProcMountRestriction;
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
  /**
   * `exe` selectors: set when the pids the CloudWatch agent counts for the rendered selector differ
   * from the running ones (`pids`), so the alarm counts something else than the program.
   */
  readonly agentDivergence?: AgentDivergence;
  /** Running pids /proc hides from the agent's user (hidepid, see {@link AgentUser.hiddenBy}): it cannot count them. */
  readonly hiddenFromAgent?: readonly number[];
}

/** Where the CloudWatch agent's count of an `exe` spec and the truth (the exe links) part. */
export interface AgentDivergence {
  /** What the agent is given: the command-line `pattern` (or, for a hand-edited exe regex, `exe`). */
  readonly selector: { readonly configKey: "exe" | "pattern"; readonly value: string };
  /** The pids the agent counts, ascending. */
  readonly agentPids: readonly number[];
  /** Running the program, not counted by the agent. */
  readonly uncounted: readonly number[];
  /** Counted by the agent, not running the program. */
  readonly extra: readonly number[];
}

/**
 * Whether a non-root CloudWatch agent can read /proc/<pid>/exe (only asked for a selector the agent
 * still gets as `exe`). The kernel allows the readlink only under ptrace's read check
 * (fs/proc/base.c: `proc_pid_readlink` checks `proc_fd_access_allowed` →
 * `ptrace_may_access(PTRACE_MODE_READ_FSCREDS)` before `proc_exe_link`): the caller's uid must match the target's and the
 * target must be dumpable, or the caller needs CAP_SYS_PTRACE, which an agent that dropped root
 * (cmd/start-amazon-cloudwatch-agent/path.go `ChangeUser`) does not keep. The owner of /proc/<pid>
 * (effective uid, root when not dumpable) stands for that check; processes that changed only their
 * effective uid are the approximation's blind spot. On failure the agent's native finder skips the
 * process silently (aws/telegraf plugins/inputs/procstat/native_finder_notwindows.go `Pattern`:
 * "you having no permissions to access it ... continue").
 */
/**
 * The pids whose command lines the agent can read: all, unless /proc hides other users' processes
 * from it. Then only those it may ptrace (fs/proc/base.c `has_pid_permissions`; kernel/ptrace.c
 * `__ptrace_may_access`: the target's uids and gids must be the caller's), seen here as /proc/<pid>
 * owned by the agent's uid and primary gid.
 */
function visibleToAgent(pids: readonly number[], records: readonly ProcessRecord[], agentUser: AgentUser | undefined): number[] {
  if (agentUser?.hiddenBy === undefined) return [...pids];
  const own = new Set(
    records
      .filter((record) => agentCanReadExe(record, agentUser) && (agentUser.gid === undefined || agentUser.gid === null || record.ownerGid === agentUser.gid))
      .map((record) => record.pid),
  );
  return pids.filter((pid) => own.has(pid));
}

function hiddenFrom(running: readonly number[], visible: readonly number[]): { hiddenFromAgent?: number[] } {
  if (visible.length === running.length) return {};
  const seen = new Set(visible);
  return { hiddenFromAgent: running.filter((pid) => !seen.has(pid)) };
}

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
  const inner = raw.slice(start, end);
  // Empty arguments (a run of NULs) are rare: a plain replaceAll is the cheap common case.
  return inner.includes("\0\0") ? inner.replace(NUL_RUNS, " ") : inner.replaceAll("\0", " ");
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

/** What is running, as procwatch judges it (as root); restart acts on this alone. */
export interface RunningOutcome {
  /** Live pids that match, ascending. */
  readonly pids: readonly number[];
  readonly lookupError?: string;
  readonly pidFileRefused?: string;
}

/**
 * The processes that run for `match`: exe links for `exe`, command lines for `pattern`, the live
 * pid of the file for `pidfile`. `restart` decides "already running" from this and nothing else,
 * so a process that only looks like the program on its command line never stops a restart.
 */
export function findRunning(match: MatchSpec, records: readonly ProcessRecord[], pidFile?: PidFileReading): RunningOutcome {
  switch (match.mode) {
    case "exe":
    case "pattern": {
      const generated = generatedExeTests(match);
      if (generated !== null) return { pids: pidsMatching(generated.exe, pidsByExePath(records)) };
      const regex = compileSelectorRegex(match.mode === "exe" ? match.exe : match.pattern);
      if (!(regex instanceof RegExp)) return { pids: [], lookupError: regex.error };
      const test = (subject: string) => regex.test(subject);
      return { pids: match.mode === "exe" ? pidsMatching(test, pidsByExePath(records)) : pidsMatching(test, pidsByCmdline(records)) };
    }
    case "pidfile": {
      const reading = readPidFileFor(match.pidFile, pidFile);
      if ("lookupError" in reading) return { pids: [], ...reading };
      // 0 or a negative number is never a running process.
      return { pids: reading.pid > 0 && records.some((record) => record.pid === reading.pid) ? [reading.pid] : [] };
    }
  }
}

/**
 * What is running (`pids`, see {@link findRunning}) and what the CloudWatch agent counts for the
 * selector it is given (`agentPidCount`). For `exe` that selector is the command-line pattern of
 * the contract's `selectorOf`, evaluated over every record's command line (the records must carry
 * them, see {@link fieldsNeededFor}); a different set of pids is `agentDivergence`.
 */
export function matchProcesses(match: MatchSpec, records: readonly ProcessRecord[], pidFile?: PidFileReading, agentUser?: AgentUser): MatchOutcome {
  const running = findRunning(match, records, pidFile);
  switch (match.mode) {
    case "pattern": {
      if (running.lookupError !== undefined) return { ...running, agentPidCount: null };
      const visible = visibleToAgent(running.pids, records, agentUser);
      return { pids: running.pids, agentPidCount: visible.length, ...hiddenFrom(running.pids, visible) };
    }
    case "pidfile": {
      if (running.lookupError !== undefined) return { ...running, agentPidCount: null };
      // The agent counts whatever the file holds, without checking that it runs.
      return { pids: running.pids, agentPidCount: 1 };
    }
    case "exe": {
      if (running.lookupError !== undefined) return { ...running, agentPidCount: null };
      const selector = selectorOf(match);
      let agentPids: number[];
      if (selector.configKey === "pattern") {
        const generated = generatedExeTests(match);
        const regex = generated === null ? compileSelectorRegex(selector.value) : null;
        if (regex !== null && !(regex instanceof RegExp)) return { pids: running.pids, agentPidCount: null, lookupError: regex.error };
        agentPids = visibleToAgent(
          pidsMatching(generated?.commandLine ?? ((subject) => (regex as RegExp).test(subject)), pidsByCmdline(records)),
          records,
          agentUser,
        );
      } else {
        // A hand-edited exe regex reaches the agent as `exe`: it reads the same links, those its user may read.
        const readable = new Set(records.filter((record) => agentCanReadExe(record, agentUser)).map((record) => record.pid));
        agentPids = running.pids.filter((pid) => readable.has(pid));
      }
      const outcome = {
        pids: running.pids,
        agentPidCount: agentPids.length,
        ...(selector.configKey === "pattern" ? hiddenFrom(running.pids, visibleToAgent(running.pids, records, agentUser)) : {}),
      };
      const counted = new Set(agentPids);
      const truth = new Set(running.pids);
      const uncounted = running.pids.filter((pid) => !counted.has(pid));
      const extra = agentPids.filter((pid) => !truth.has(pid));
      if (uncounted.length === 0 && extra.length === 0) return outcome;
      return {
        ...outcome,
        agentDivergence: { selector: { configKey: selector.configKey === "pattern" ? "pattern" : "exe", value: selector.value }, agentPids, uncounted, extra },
      };
    }
  }
}

function readPidFileFor(path: string, pidFile: PidFileReading | undefined): { pid: number } | { lookupError: string; pidFileRefused?: string } {
  if (pidFile?.refusal !== undefined) return { lookupError: `procwatch refuses to read ${path}: ${pidFile.refusal}`, pidFileRefused: pidFile.refusal };
  if (pidFile === undefined || pidFile.path !== path || pidFile.content === null) return { lookupError: `pid file ${path} cannot be read` };
  const pid = parsePidFileContent(pidFile.content);
  return pid === null ? { lookupError: `pid file ${path} does not hold a pid` } : { pid };
}

/** The pids of every key the selector matches, ascending. */
function pidsMatching(selects: SubjectTest, index: ReadonlyMap<string, readonly number[]>): number[] {
  const pids: number[] = [];
  for (const [subject, subjectPids] of index) if (selects(subject)) pids.push(...subjectPids);
  return pids.sort((a, b) => a - b);
}

/** Whether a selector matches one exe path or command line. */
export type SubjectTest = (subject: string) => boolean;

/** What the kernel appends to /proc/<pid>/exe once the binary was replaced or removed. */
const DELETED_LINK_SUFFIX = " (deleted)";

/** The exe link without ` (deleted)`, or null when it has none. */
function withoutDeletedSuffix(link: string): string | null {
  return link.endsWith(DELETED_LINK_SUFFIX) ? link.slice(0, -DELETED_LINK_SUFFIX.length) : null;
}

/** argv[0] as the joined command line shows it: everything before the first space. */
function argv0Of(commandLine: string): string {
  const space = commandLine.indexOf(" ");
  return space < 0 ? commandLine : commandLine.slice(0, space);
}

/**
 * The selectors procwatch generates from an executable's name or path, as string comparisons that
 * give exactly their regexes' answers (test/generated-selectors.test.ts checks them against the
 * regexes, which go-parity checks against Go):
 * - exe by name N, `(^|/)N( \(deleted\))?$`: the link is N or ends in `/N`, with or without ` (deleted)`;
 * - exe by path P, `^P( \(deleted\))?$`: the link is P or `P (deleted)`;
 * - the command-line pattern (contract `commandLinePatternForExe`), on argv[0] = the command line up
 *   to its first space: by name, argv[0] is N or ends in `/N`, optionally followed by `:`; by path,
 *   it is P or `P:` or `<file name>:`.
 * Why: a regex is compiled on its first use, and health would compile two per watched process on
 * every run (about a millisecond of a 500-process health). Null for a hand-edited regex, and for a
 * literal with a space, where argv[0] would span arguments, and for a name with a `/`: those run as regexes.
 */
export function generatedExeTests(match: MatchSpec): { readonly exe: SubjectTest; readonly commandLine: SubjectTest } | null {
  const program = exeProgramOf(match);
  // A name with a `/` (only in a hand-edited allow-list) gets a pattern on its file name alone: regex.
  if (program === null || program.literal.includes(" ") || (program.kind === "name" && program.literal.includes("/"))) return null;
  const { literal } = program;
  const fileName = literal.slice(literal.lastIndexOf("/") + 1);
  if (program.kind === "name") {
    const isName = (path: string) => path === literal || path.endsWith(`/${literal}`);
    return {
      exe: (link) => {
        if (isName(link)) return true;
        const previous = withoutDeletedSuffix(link);
        return previous !== null && isName(previous);
      },
      commandLine: (commandLine) => {
        const argv0 = argv0Of(commandLine);
        return isName(argv0) || (argv0.endsWith(":") && isName(argv0.slice(0, -1)));
      },
    };
  }
  return {
    exe: (link) => link === literal || withoutDeletedSuffix(link) === literal,
    commandLine: (commandLine) => {
      const argv0 = argv0Of(commandLine);
      return argv0 === literal || argv0 === `${literal}:` || argv0 === `${fileName}:`;
    },
  };
}

/**
 * Hosts run many copies of few programs (workers, shells, sleeps), and `health` matches every
 * watched process against the same scan: grouping pids by exe path and by command line once per
 * scan means each selector tests a few dozen distinct strings instead of every process. Keyed
 * weakly by the records array, which callers treat as immutable (it is typed readonly here).
 */
const exePathIndexes = new WeakMap<readonly ProcessRecord[], Map<string, number[]>>();
const cmdlineIndexes = new WeakMap<readonly ProcessRecord[], Map<string, number[]>>();

function pidsByExePath(records: readonly ProcessRecord[]): Map<string, number[]> {
  return indexed(exePathIndexes, records, (record) => record.exePath);
}

function pidsByCmdline(records: readonly ProcessRecord[]): Map<string, number[]> {
  return indexed(cmdlineIndexes, records, (record) => record.cmdline);
}

function indexed(
  cache: WeakMap<readonly ProcessRecord[], Map<string, number[]>>,
  records: readonly ProcessRecord[],
  key: (record: ProcessRecord) => string | null,
): Map<string, number[]> {
  let index = cache.get(records);
  if (index === undefined) {
    index = new Map();
    for (const record of records) {
      const subject = key(record);
      // An unreadable field (null) is a process the agent skips.
      if (subject === null) continue;
      const pids = index.get(subject);
      if (pids === undefined) index.set(subject, [record.pid]);
      else pids.push(record.pid);
    }
    cache.set(records, index);
  }
  return index;
}

/**
 * Which per-process fields `health` must read (skipping unneeded ones keeps a 500-process scan
 * cheap): exe links for `exe` (the truth), command lines for `pattern` and for `exe` too (the
 * CloudWatch agent counts an exe spec by its command-line pattern), owners only for a hand-edited
 * exe regex the agent still gets as `exe` under a non-root user.
 */
export function fieldsNeededFor(matches: readonly MatchSpec[], agentUser?: AgentUser): { exePath: boolean; cmdline: boolean; ownerUid: boolean } {
  const exePath = matches.some((match) => match.mode === "exe");
  const agentReadsExe = agentUser !== undefined && matches.some((match) => match.mode === "exe" && selectorOf(match).configKey === "exe");
  const agentReadsOwnOnly = agentUser?.hiddenBy !== undefined && matches.some((match) => match.mode !== "pidfile");
  return { exePath, cmdline: exePath || matches.some((match) => match.mode === "pattern"), ownerUid: agentReadsExe || agentReadsOwnOnly };
}

/** What `restart` reads to find what runs ({@link findRunning}): never the command lines of an exe spec. */
export function fieldsRunningNeeds(match: MatchSpec): { exePath: boolean; cmdline: boolean } {
  return { exePath: match.mode === "exe", cmdline: match.mode === "pattern" };
}

/** What a tag's `exe=` or `pattern=` can carry: tag characters without the space that separates options. */
const TAG_LITERAL = /^[A-Za-z0-9+\-=._:/@]+$/;
/**
 * Literals a `pattern=` could use to find these processes by command line: the executable's path
 * and file name (from the exe links), then each process's argv[0] (with and without a retitled
 * daemon's trailing `:`). Those found in every command line come first, then those found in at
 * least one, each group longest first; only what a tag can carry (the contract escapes it into a
 * regex).
 */
export function patternCandidates(exePaths: readonly string[], cmdlines: readonly string[]): string[] {
  const candidates: string[] = [];
  const add = (candidate: string) => {
    if (candidate !== "" && TAG_LITERAL.test(candidate) && !candidates.includes(candidate)) candidates.push(candidate);
  };
  for (const exePath of exePaths) {
    const path = withoutDeletedSuffix(exePath) ?? exePath;
    add(path);
    add(path.slice(path.lastIndexOf("/") + 1));
  }
  for (const cmdline of cmdlines) {
    const argv0 = argv0Of(cmdline);
    add(argv0);
    if (argv0.endsWith(":")) add(argv0.slice(0, -1));
  }
  const inEvery = candidates.filter((candidate) => cmdlines.length > 0 && cmdlines.every((cmdline) => cmdline.includes(candidate)));
  const inSome = candidates.filter((candidate) => !inEvery.includes(candidate) && cmdlines.some((cmdline) => cmdline.includes(candidate)));
  // Longest first (a stable sort keeps the order above among equals): a longer literal is less likely to match something else.
  const longestFirst = (a: string, b: string) => b.length - a.length;
  return [...inEvery.sort(longestFirst), ...inSome.sort(longestFirst)];
}

/** The first of {@link patternCandidates}, or null when none appears in a command line. */
export function patternSuggestion(exePaths: readonly string[], cmdlines: readonly string[]): string | null {
  return patternCandidates(exePaths, cmdlines)[0] ?? null;
}

/**
 * The selector part of a `procwatch:process:<name>` tag under which the CloudWatch agent would
 * count exactly `running` on this host, checked over the same scan: `exe=<path>` when every
 * running process has the one executable and its command-line pattern counts exactly them (the
 * intent stays the program), else `match=pattern pattern=<literal>` for the first of
 * {@link patternCandidates} that counts exactly them. Null when none does.
 */
export function exactSelectorTag(name: string, running: readonly number[], records: readonly ProcessRecord[]): string | null {
  const wanted = new Set(running);
  if (wanted.size === 0) return null;
  const mine = records.filter((record) => wanted.has(record.pid));
  const exePaths = [...new Set(mine.flatMap((record) => (record.exePath === null ? [] : [record.exePath.replace(/ \(deleted\)$/, "")])))];
  const cmdlines = mine.flatMap((record) => (record.cmdline === null ? [] : [record.cmdline]));
  const tried: Array<{ readonly tag: string; readonly options: { exe?: string; match?: string; pattern?: string } }> = [];
  const onlyPath = exePaths.length === 1 ? exePaths[0] : undefined;
  if (onlyPath !== undefined && TAG_LITERAL.test(onlyPath)) tried.push({ tag: `exe=${onlyPath}`, options: { exe: onlyPath } });
  for (const literal of patternCandidates(exePaths, cmdlines)) {
    tried.push({ tag: `match=pattern pattern=${literal}`, options: { match: "pattern", pattern: literal } });
  }
  for (const { tag, options } of tried) {
    const built = buildProcessSpec(name, options, { source: "suggestion", optionSource: (key) => key, defaultDetection: "standard" });
    if (built.spec === null) continue;
    const outcome = matchProcesses(built.spec.match, records);
    const exact = outcome.agentDivergence === undefined && outcome.pids.length === wanted.size && outcome.pids.every((pid) => wanted.has(pid));
    if (outcome.agentPidCount !== null && exact) return tag;
  }
  return null;
}
