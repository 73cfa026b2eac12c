import {
  DETECTION_PROFILE_NAMES,
  type HostSpec,
  isAbsoluteSafePath,
  isProcessName,
  isSystemdUnit,
  MAX_SELECTOR_LENGTH,
  type MatchSpec,
  type ProcessSpec,
  re2Incompatibility,
} from "@procwatch/contract";
import { z } from "zod";

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

/** Stable bytes, so an unchanged spec rewrites nothing apart from the timestamp (see `sameAllowedProcesses`). */
export function serializeAllowList(allowList: AllowList): string {
  return `${JSON.stringify(allowList, null, 2)}\n`;
}

export function sameAllowedProcesses(a: AllowList, b: AllowList): boolean {
  return a.fragmentDigest === b.fragmentDigest && a.source === b.source && JSON.stringify(a.processes) === JSON.stringify(b.processes);
}

const selector = z
  .string()
  .min(1)
  .max(MAX_SELECTOR_LENGTH)
  .refine((value) => re2Incompatibility(value) === null, "not an RE2-compatible regex");

const matchSchema = z.discriminatedUnion("mode", [
  z.object({ mode: z.literal("exe"), exe: selector }).strict(),
  z.object({ mode: z.literal("pattern"), pattern: selector }).strict(),
  z.object({ mode: z.literal("pidfile"), pidFile: z.string().refine(isAbsoluteSafePath, "not a plain absolute path") }).strict(),
]);

const allowListSchema = z
  .object({
    version: z.literal(ALLOW_LIST_VERSION),
    generatedAt: z.string(),
    source: z.string(),
    fragmentDigest: z.string(),
    processes: z.array(
      z
        .object({
          name: z.string().refine(isProcessName, "not a valid process name"),
          unit: z.string().refine(isSystemdUnit, "not a valid systemd service unit"),
          match: matchSchema,
          detection: z.enum(DETECTION_PROFILE_NAMES),
        })
        .strict(),
    ),
  })
  .strict();

export function parseAllowList(json: unknown): { allowList: AllowList } | { problems: string[] } {
  const parsed = allowListSchema.safeParse(json);
  if (!parsed.success) return { problems: parsed.error.issues.map((problem) => `${problem.path.join(".") || "(root)"}: ${problem.message}`) };
  const processes: ProcessSpec[] = parsed.data.processes.map((process) => ({ ...process, match: process.match as MatchSpec }));
  return { allowList: { ...parsed.data, processes } };
}

export function allowListAsHostSpec(allowList: AllowList): HostSpec {
  return { processes: allowList.processes };
}
