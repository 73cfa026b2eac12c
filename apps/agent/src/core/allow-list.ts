import {
  type HostSpec,
  isDetectionProfileName,
  isProcessName,
  isSystemdUnit,
  MAX_SELECTOR_LENGTH,
  type MatchSpec,
  PID_FILE_RULE,
  type ProcessSpec,
  pidFilePathProblem,
  re2Incompatibility,
} from "@procwatch/contract";
import { isObject, join, ProblemList } from "./json-checks.ts";

/**
 * The restart allow-list `apply` writes next to the fragment (`/etc/procwatch/allow-list.json`).
 * `restart` reads only this file to learn which names it may restart, which unit belongs to a
 * name and how to count its pids; nothing from a tag or an event reaches it directly. Every
 * field is re-validated on read, so a hand-edited file cannot smuggle in a hostile unit.
 */
export const ALLOW_LIST_VERSION = 1;

export interface AllowList {
  readonly version: typeof ALLOW_LIST_VERSION;
  readonly generatedAt: string;
  readonly source: string;
  readonly fragmentDigest: string;
  readonly processes: readonly ProcessSpec[];
}

export function buildAllowList(spec: HostSpec, details: { source: string; fragmentDigest: string; generatedAt: string }): AllowList {
  return { version: ALLOW_LIST_VERSION, ...details, processes: spec.processes.map((process) => ({ ...process })) };
}

export function serializeAllowList(allowList: AllowList): string {
  return `${JSON.stringify(allowList, null, 2)}\n`;
}

/** Equal apart from the timestamp: an unchanged spec does not rewrite the file. */
export function sameAllowedProcesses(a: AllowList, b: AllowList): boolean {
  return a.fragmentDigest === b.fragmentDigest && a.source === b.source && JSON.stringify(a.processes) === JSON.stringify(b.processes);
}

const isSelector = (value: string) => value.length >= 1 && value.length <= MAX_SELECTOR_LENGTH && re2Incompatibility(value) === null;

function parseMatch(raw: unknown, path: string, problems: ProblemList): MatchSpec | undefined {
  if (!isObject(raw)) {
    problems.add(path, "must be an object");
    return undefined;
  }
  switch (raw.mode) {
    case "exe": {
      problems.onlyKeys(raw, ["mode", "exe"], path);
      const exe = problems.string(raw, "exe", path, isSelector, "not an RE2-compatible selector of 1-255 characters");
      return exe === undefined ? undefined : { mode: "exe", exe };
    }
    case "pattern": {
      problems.onlyKeys(raw, ["mode", "pattern"], path);
      const pattern = problems.string(raw, "pattern", path, isSelector, "not an RE2-compatible selector of 1-255 characters");
      return pattern === undefined ? undefined : { mode: "pattern", pattern };
    }
    case "pidfile": {
      problems.onlyKeys(raw, ["mode", "pidFile"], path);
      const pidFile = problems.string(
        raw,
        "pidFile",
        path,
        (value) => pidFilePathProblem(value) === null,
        `not a pid file path procwatch reads (${PID_FILE_RULE})`,
      );
      return pidFile === undefined ? undefined : { mode: "pidfile", pidFile };
    }
    default:
      problems.add(join(path, "mode"), "must be exe, pattern or pidfile");
      return undefined;
  }
}

export function parseAllowList(json: unknown): { allowList: AllowList } | { problems: string[] } {
  const problems = new ProblemList();
  if (!isObject(json)) return { problems: ["(root): must be a JSON object"] };
  problems.onlyKeys(json, ["version", "generatedAt", "source", "fragmentDigest", "processes"], "");
  if (json.version !== ALLOW_LIST_VERSION) problems.add("version", `must be ${ALLOW_LIST_VERSION}`);
  const generatedAt = problems.string(json, "generatedAt", "");
  const source = problems.string(json, "source", "");
  const fragmentDigest = problems.string(json, "fragmentDigest", "");
  const processes: ProcessSpec[] = [];
  if (!Array.isArray(json.processes)) problems.add("processes", "must be an array");
  else {
    json.processes.forEach((raw: unknown, index: number) => {
      const path = join("processes", index);
      if (!isObject(raw)) {
        problems.add(path, "must be an object");
        return;
      }
      problems.onlyKeys(raw, ["name", "unit", "match", "detection"], path);
      const name = problems.string(raw, "name", path, isProcessName, "not a valid process name");
      const unit = problems.string(raw, "unit", path, isSystemdUnit, "not a valid systemd service unit");
      const detection = problems.string(raw, "detection", path, isDetectionProfileName, "must be standard, fast or local");
      const match = parseMatch(raw.match, join(path, "match"), problems);
      if (name !== undefined && unit !== undefined && detection !== undefined && isDetectionProfileName(detection) && match !== undefined) {
        processes.push({ name, unit, match, detection });
      }
    });
  }
  if (problems.problems.length > 0 || generatedAt === undefined || source === undefined || fragmentDigest === undefined) {
    return { problems: problems.problems };
  }
  return { allowList: { version: ALLOW_LIST_VERSION, generatedAt, source, fragmentDigest, processes } };
}

export function allowListAsHostSpec(allowList: AllowList): HostSpec {
  return { processes: allowList.processes };
}
