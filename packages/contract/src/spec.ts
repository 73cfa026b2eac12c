import { DEFAULT_DETECTION_PROFILE, type DetectionProfileName, isDetectionProfileName } from "./detection.ts";
import { issue, type ParseResult, type SpecIssue } from "./issues.ts";
import { DIMENSION_VALUE_RULE, dimensionValueProblem } from "./metric.ts";
import { isAbsoluteSafePath, isProcessName, isSystemdUnit, PID_FILE_RULE, PROCESS_NAME_PATTERN, pidFilePathProblem, SYSTEMD_UNIT_PATTERN } from "./patterns.ts";
import { escapeRegexLiteral, re2Incompatibility } from "./re2.ts";

export const MATCH_MODES = ["exe", "pattern", "pidfile"] as const;
export type MatchMode = (typeof MATCH_MODES)[number];

/** How the CloudWatch agent (and `procwatch-agent health`) finds the process. Values are final RE2 regexes / paths. */
export type MatchSpec =
  | { readonly mode: "exe"; readonly exe: string }
  | { readonly mode: "pattern"; readonly pattern: string }
  | { readonly mode: "pidfile"; readonly pidFile: string };

export interface ProcessSpec {
  readonly name: string;
  readonly match: MatchSpec;
  /** systemd unit the agent restarts; hosts without systemd map the name to a local start command instead. */
  readonly unit: string;
  readonly detection: DetectionProfileName;
}

export interface HostSpec {
  /** Sorted by name, names unique. */
  readonly processes: readonly ProcessSpec[];
  /** The named fleet profile the spec was resolved with, if any. */
  readonly profile?: string;
}

/** Options as written by a user, before validation. Tags and documents share the vocabulary. */
export interface ProcessOptions {
  readonly unit?: string;
  readonly match?: string;
  readonly exe?: string;
  readonly pattern?: string;
  /** A raw RE2 regex for `match=pattern`; only documents may carry it (tags cannot hold regex characters). */
  readonly regex?: string;
  readonly pidfile?: string;
  readonly detection?: string;
}

export const PROCESS_OPTION_KEYS = ["unit", "match", "exe", "pattern", "regex", "pidfile", "detection"] as const;
export const TAG_PROCESS_OPTION_KEYS = ["unit", "match", "exe", "pattern", "pidfile", "detection"] as const;

/** procstat accepts selector strings of 1..255 characters. */
export const MAX_SELECTOR_LENGTH = 255;
export const MAX_PROCESSES_PER_HOST = 50;

/** Matches the full executable path, also after an in-place upgrade made the link read `<path> (deleted)`. */
const DELETED_SUFFIX = "( \\(deleted\\))?$";

export function exeRegexForName(processName: string): string {
  // `(^|/)` anchors on a path separator so `httpd` does not match `/usr/sbin/httpd-helper` or `/opt/myhttpd`.
  return `(^|/)${escapeRegexLiteral(processName)}${DELETED_SUFFIX}`;
}

export function exeRegexForPath(absolutePath: string): string {
  return `^${escapeRegexLiteral(absolutePath)}${DELETED_SUFFIX}`;
}

/** The executable an `exe` selector was generated from: a file name (`nginx`) or an absolute path. */
export interface ExeProgram {
  readonly kind: "name" | "path";
  readonly literal: string;
}

/**
 * Recovers the name or path an exe regex was generated from by {@link exeRegexForName} or
 * {@link exeRegexForPath}: unescaped, then checked by generating it again, so a hand-edited regex
 * gives null instead of a guess.
 */
export function exeProgramOf(match: MatchSpec): ExeProgram | null {
  if (match.mode !== "exe" || !match.exe.endsWith(DELETED_SUFFIX)) return null;
  const body = match.exe.slice(0, -DELETED_SUFFIX.length);
  const unescapeRegex = (escaped: string) => escaped.replace(/\\(.)/g, "$1");
  if (body.startsWith("(^|/)")) {
    const literal = unescapeRegex(body.slice("(^|/)".length));
    return exeRegexForName(literal) === match.exe ? { kind: "name", literal } : null;
  }
  if (body.startsWith("^/")) {
    const literal = unescapeRegex(body.slice(1));
    return exeRegexForPath(literal) === match.exe ? { kind: "path", literal } : null;
  }
  return null;
}

/**
 * The command-line regex the CloudWatch agent is given for an exe selector (see metric.ts
 * `selectorOf` for why it is never given `exe`). It matches on the first argument (argv[0]), which
 * is what exec was called with and what a daemon that retitles itself keeps as `<name>:`:
 *
 * - by name: argv[0] is the name or ends in `/<name>`, optionally followed by `:`
 *   (`/usr/sbin/nginx -g …`, `nginx`, `nginx: master process …`, `sshd: /usr/sbin/sshd -D`,
 *   `postgres: main: checkpointer`); `tail -f /var/log/nginx/x` and `vi nginx.conf` do not match,
 *   nor does `procwatch-agent restart --process nginx`.
 * - by path: argv[0] is the path (optionally with `:`), or `<file name>:` for a retitled daemon;
 *   a bare file name does not match, so two programs of the same name in different directories
 *   stay apart.
 *
 * The command line (/proc/<pid>/cmdline: arguments joined by single spaces, gopsutil `Cmdline()`)
 * differs from the exe link when a process was started with another argv[0] (`exec -a`), retitled
 * itself without the `<name>:` convention, or runs in an interpreter; `procwatch-agent health`
 * compares both on the host and says which tag counts it exactly.
 */
export function commandLinePatternForExe(match: MatchSpec): string | null {
  if (match.mode !== "exe") return null;
  // A fleet repeats a few process names across thousands of hosts, and the fleet manager derives
  // every alarm's dimensions on every run: remember the answer per exe regex (bounded).
  const known = commandLinePatterns.get(match.exe);
  if (known !== undefined) return known;
  const pattern = deriveCommandLinePattern(match);
  if (commandLinePatterns.size >= MAX_REMEMBERED_PATTERNS) commandLinePatterns.clear();
  commandLinePatterns.set(match.exe, pattern);
  return pattern;
}

const MAX_REMEMBERED_PATTERNS = 10_000;
const commandLinePatterns = new Map<string, string | null>();

function deriveCommandLinePattern(match: MatchSpec): string | null {
  const program = exeProgramOf(match);
  if (program === null) return null;
  const fileName = program.literal.slice(program.literal.lastIndexOf("/") + 1);
  if (program.kind === "name") return `^([^ ]*/)?${escapeRegexLiteral(fileName)}:?( |$)`;
  return `^(${escapeRegexLiteral(program.literal)}:?|${escapeRegexLiteral(fileName)}:)( |$)`;
}

export function defaultUnitFor(processName: string): string {
  return `${processName}.service`;
}

export interface BuildContext {
  /** Label used as issue source for the process as a whole. */
  readonly source: string;
  /** Label for one option, e.g. `procwatch:process:nginx unit=` or `profile:web/processes[0].unit`. */
  readonly optionSource: (key: string) => string;
  readonly defaultDetection: DetectionProfileName;
}

/**
 * Checks an option whose value is valid or not on its own (unit, match, detection, exe, pidfile),
 * so the tag parser can report every bad value of a tag at once, before the spec is resolved.
 */
export function optionValueIssue(key: string, value: string, source: string): SpecIssue | null {
  switch (key) {
    case "unit":
      return isSystemdUnit(value)
        ? null
        : issue(
            "bad-unit",
            source,
            value,
            "not a systemd service unit name procwatch will restart",
            `a unit like nginx.service or worker@2.service (${SYSTEMD_UNIT_PATTERN})`,
          );
    case "match":
      return (MATCH_MODES as readonly string[]).includes(value)
        ? null
        : issue("bad-match-mode", source, value, "unknown match mode", "exe, pattern or pidfile");
    case "detection":
      return isDetectionProfileName(value) ? null : issue("bad-detection", source, value, "unknown detection profile", "standard, fast or local");
    case "pidfile": {
      const problem = pidFilePathProblem(value);
      return problem === null ? null : issue("bad-path", source, value, `the pid file path ${problem}`, PID_FILE_RULE);
    }
    case "exe":
      return (value.startsWith("/") ? isAbsoluteSafePath(value) : isProcessName(value))
        ? null
        : issue("bad-option", source, value, "exe must be an executable's file name or absolute path", "a file name like nginx or a path like /usr/sbin/nginx");
    default:
      return null;
  }
}

/** Validates one process's options and builds its spec; all problems are reported together. */
export function buildProcessSpec(name: string, options: ProcessOptions, context: BuildContext): ParseResult<ProcessSpec> {
  const issues: SpecIssue[] = [];
  if (!isProcessName(name)) {
    issues.push(
      issue(
        "bad-process-name",
        context.source,
        name,
        "process name has characters or a length procwatch does not allow",
        `1-64 ASCII letters, digits, '.', '_' or '-', not starting with '-' (${PROCESS_NAME_PATTERN})`,
      ),
    );
  }

  const unit = options.unit ?? defaultUnitFor(name);
  const unitIssue = options.unit === undefined ? null : optionValueIssue("unit", options.unit, context.optionSource("unit"));
  if (unitIssue !== null) issues.push(unitIssue);

  let detection: DetectionProfileName = context.defaultDetection;
  if (options.detection !== undefined) {
    const detectionIssue = optionValueIssue("detection", options.detection, context.optionSource("detection"));
    if (detectionIssue !== null) issues.push(detectionIssue);
    else detection = options.detection as DetectionProfileName;
  }

  const mode = options.match ?? inferMatchMode(options);
  let match: MatchSpec | null = null;
  const modeIssue = optionValueIssue("match", mode, context.optionSource("match"));
  if (modeIssue !== null) {
    issues.push(modeIssue);
  } else {
    match = buildMatch(name, mode as MatchMode, options, context, issues);
  }

  if (issues.length > 0 || match === null) return { spec: null, issues };
  return { spec: { name, match, unit, detection }, issues };
}

function inferMatchMode(options: ProcessOptions): string {
  if (options.pidfile !== undefined) return "pidfile";
  if (options.pattern !== undefined || options.regex !== undefined) return "pattern";
  return "exe";
}

function buildMatch(name: string, mode: MatchMode, options: ProcessOptions, context: BuildContext, issues: SpecIssue[]): MatchSpec | null {
  const conflicting = (key: keyof ProcessOptions, allowedWith: string) => {
    if (options[key] !== undefined) {
      issues.push(
        issue("bad-option", context.optionSource(key), options[key], `${key} does not apply to match=${mode}`, `${key} only with match=${allowedWith}`),
      );
    }
  };

  switch (mode) {
    case "exe": {
      conflicting("pattern", "pattern");
      conflicting("regex", "pattern");
      conflicting("pidfile", "pidfile");
      const exe = options.exe;
      if (exe === undefined) return { mode, exe: exeRegexForName(name) };
      const exeIssue = optionValueIssue("exe", exe, context.optionSource("exe"));
      if (exeIssue !== null) {
        issues.push(exeIssue);
        return null;
      }
      if (exe.startsWith("/")) return checkedSelector({ mode, exe: exeRegexForPath(exe) }, exe, context.optionSource("exe"), issues);
      return { mode, exe: exeRegexForName(exe) };
    }
    case "pattern": {
      conflicting("exe", "exe");
      conflicting("pidfile", "pidfile");
      if (options.pattern !== undefined && options.regex !== undefined) {
        issues.push(
          issue("bad-option", context.optionSource("regex"), options.regex, "give either pattern (a literal) or regex, not both", "one of pattern or regex"),
        );
        return null;
      }
      if (options.regex !== undefined) {
        const problem = options.regex.length === 0 ? "is empty" : re2Incompatibility(options.regex);
        if (problem !== null) {
          issues.push(
            issue("re2-incompatible", context.optionSource("regex"), options.regex, `regex ${problem}`, "an RE2 regex: no lookaround, no backreferences"),
          );
          return null;
        }
        return checkedSelector({ mode, pattern: options.regex }, options.regex, context.optionSource("regex"), issues);
      }
      if (options.pattern === undefined || options.pattern.trim() === "") {
        issues.push(
          issue(
            "missing-option",
            context.optionSource("pattern"),
            options.pattern ?? "",
            "match=pattern needs the text to look for in the command line",
            "pattern=<text from the command line>, e.g. pattern=/opt/orders/orders.jar",
          ),
        );
        return null;
      }
      return checkedSelector({ mode, pattern: escapeRegexLiteral(options.pattern) }, options.pattern, context.optionSource("pattern"), issues);
    }
    case "pidfile": {
      conflicting("exe", "exe");
      conflicting("pattern", "pattern");
      conflicting("regex", "pattern");
      if (options.pidfile === undefined) {
        issues.push(
          issue("missing-option", context.optionSource("pidfile"), "", "match=pidfile needs the absolute path of the pid file", "pidfile=/run/nginx.pid"),
        );
        return null;
      }
      const pidfileIssue = optionValueIssue("pidfile", options.pidfile, context.optionSource("pidfile"));
      if (pidfileIssue !== null) {
        issues.push(pidfileIssue);
        return null;
      }
      return checkedSelector({ mode, pidFile: options.pidfile }, options.pidfile, context.optionSource("pidfile"), issues);
    }
  }
}

function checkedSelector(match: MatchSpec, given: string, source: string, issues: SpecIssue[]): MatchSpec | null {
  // An exe selector reaches the agent as its command-line pattern: that is the string procstat gets.
  const selector = match.mode === "exe" ? (commandLinePatternForExe(match) ?? match.exe) : match.mode === "pattern" ? match.pattern : match.pidFile;
  if (selector.length > MAX_SELECTOR_LENGTH) {
    issues.push(
      issue(
        "too-long",
        source,
        given,
        `the procstat selector would be ${selector.length} characters`,
        `at most ${MAX_SELECTOR_LENGTH} characters after escaping`,
      ),
    );
    return null;
  }
  const dimensionProblem = dimensionValueProblem(selector);
  if (dimensionProblem !== null) {
    issues.push(
      issue(
        "bad-dimension-value",
        source,
        given,
        `the procstat selector becomes the metric's ${match.mode === "pidfile" ? "pidfile" : match.mode} dimension value, which CloudWatch rejects: it ${dimensionProblem}`,
        `${DIMENSION_VALUE_RULE}; write other characters in a regex as \\x{…} escapes`,
      ),
    );
    return null;
  }
  return match;
}

export interface SpecDocumentEntry {
  readonly name: string;
  readonly options: ProcessOptions;
  readonly source: string;
}

/** A process list stored as JSON: a named fleet profile in SSM Parameter Store, or a local `--spec` file. */
export interface SpecDocument {
  readonly detection?: DetectionProfileName;
  readonly entries: readonly SpecDocumentEntry[];
}

const DOCUMENT_KEYS = ["version", "detection", "processes"];

/**
 * Parses a spec document (`{"version":1,"detection":"fast","processes":[{"name":"nginx"}]}`)
 * and validates every entry so that authoring mistakes surface where the document is written.
 */
export function parseSpecDocument(input: unknown, label: string): ParseResult<SpecDocument> {
  const issues: SpecIssue[] = [];
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    return {
      spec: null,
      issues: [issue("bad-document", label, input, "a spec document must be a JSON object", '{"version":1,"processes":[{"name":"nginx"}]}')],
    };
  }
  const record = input as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (!DOCUMENT_KEYS.includes(key)) issues.push(issue("unknown-key", `${label}/${key}`, key, "unknown key in spec document", DOCUMENT_KEYS.join(", ")));
  }
  if (record.version !== undefined && record.version !== 1) {
    issues.push(issue("bad-document", `${label}/version`, record.version, "unsupported spec document version", "1"));
  }
  let detection: DetectionProfileName | undefined;
  if (record.detection !== undefined) {
    if (typeof record.detection === "string" && isDetectionProfileName(record.detection)) detection = record.detection;
    else issues.push(issue("bad-detection", `${label}/detection`, record.detection, "unknown detection profile", "standard, fast or local"));
  }
  const processes = record.processes;
  const entries: SpecDocumentEntry[] = [];
  if (!Array.isArray(processes) || processes.length === 0) {
    issues.push(
      issue("empty-process-list", `${label}/processes`, processes ?? "", "a spec document needs a non-empty processes list", '[{"name":"nginx"}, …]'),
    );
  } else {
    processes.forEach((raw, index) => {
      const source = `${label}/processes[${index}]`;
      const entry = parseDocumentEntry(raw, source, issues);
      if (entry !== null) entries.push(entry);
    });
  }
  const seen = new Set<string>();
  for (const entry of entries) {
    if (seen.has(entry.name)) issues.push(issue("duplicate-process", `${entry.source}.name`, entry.name, "process listed twice", "each process name once"));
    seen.add(entry.name);
    const built = buildProcessSpec(entry.name, entry.options, {
      source: `${entry.source}.name`,
      optionSource: (key) => `${entry.source}.${key}`,
      defaultDetection: detection ?? DEFAULT_DETECTION_PROFILE,
    });
    issues.push(...built.issues);
  }
  if (entries.length > MAX_PROCESSES_PER_HOST) {
    issues.push(issue("too-many-processes", `${label}/processes`, String(entries.length), "too many processes", `at most ${MAX_PROCESSES_PER_HOST}`));
  }
  if (issues.length > 0) return { spec: null, issues };
  return { spec: detection === undefined ? { entries } : { detection, entries }, issues };
}

function parseDocumentEntry(raw: unknown, source: string, issues: SpecIssue[]): SpecDocumentEntry | null {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    issues.push(issue("bad-document", source, raw, "each process must be an object", '{"name":"nginx","unit":"nginx.service"}'));
    return null;
  }
  const record = raw as Record<string, unknown>;
  const name = record.name;
  if (typeof name !== "string") {
    issues.push(issue("bad-process-name", `${source}.name`, name ?? "", "each process needs a name", "a string such as nginx"));
    return null;
  }
  const options: Record<string, string> = {};
  for (const [key, value] of Object.entries(record)) {
    if (key === "name") continue;
    if (!(PROCESS_OPTION_KEYS as readonly string[]).includes(key)) {
      issues.push(issue("unknown-key", `${source}.${key}`, key, "unknown process option", PROCESS_OPTION_KEYS.join(", ")));
      continue;
    }
    if (typeof value !== "string") {
      issues.push(issue("bad-option", `${source}.${key}`, value, `${key} must be a string`, "a string value"));
      continue;
    }
    options[key] = value;
  }
  return { name, options, source };
}
