import { compileGoRegexp } from "@procwatch/contract";

/**
 * A model of which processes one procstat entry of the CloudWatch agent counts, as the user the
 * agent runs as. Written from the sources; own code, nothing copied.
 *
 * - Which user: `agent.run_as_user` of the merged config; absent means root (cwa
 *   internal/util/user/userutil.go `DetectRunAsUser`); the agent drops root before collecting
 *   (cwa cmd/start-amazon-cloudwatch-agent/path.go `ChangeUser`).
 * - `exe`: aws/telegraf plugins/inputs/procstat/native_finder_notwindows.go `Pattern` matches the
 *   regex against gopsutil `Exe()` (readlink /proc/<pid>/exe) and skips, silently, every process
 *   whose link it cannot read ("you having no permissions to access it ... continue"). The kernel
 *   lets a caller read the link only under ptrace's read check (fs/proc/base.c `proc_exe_link` →
 *   `proc_fd_access_allowed` → `ptrace_may_access(PTRACE_MODE_READ_FSCREDS)`): same uid as the
 *   target (and the target dumpable) or CAP_SYS_PTRACE, which root has and an agent that dropped
 *   to another user does not. Kernel threads and zombies have no link at all.
 * - `pattern`: `FullPattern` in the same file matches gopsutil `Cmdline()` (/proc/<pid>/cmdline,
 *   mode 0444 with no ptrace check: every user reads it; arguments split on NUL, empty ones
 *   dropped, joined by single spaces). Kernel threads and zombies have an empty command line.
 * - The regex is Go's `regexp.MatchString` (unanchored); procwatch's contract translates Go's
 *   syntax for JavaScript (go-regexp.ts, checked against Go itself by the agent's differential
 *   tests).
 * - `pid_file`: not modelled here (the publisher model takes the count directly).
 *
 * Not modelled: `hidepid` mounts of /proc, non-dumpable processes of the agent's own user, Linux
 * capabilities granted to the agent's user.
 */
export interface ModelProcess {
  readonly pid: number;
  /** Real uid owning /proc/<pid>. */
  readonly uid: number;
  /** readlink /proc/<pid>/exe as root sees it; null for kernel threads and zombies. */
  readonly exe: string | null;
  /** The joined command line; "" for kernel threads and zombies. */
  readonly cmdline: string;
}

/** uid of the agent's effective user: 0 when it runs as root. */
export type AgentUid = number;

export function runAsUserOf(merged: Record<string, unknown>): string | undefined {
  const agent = merged.agent;
  if (typeof agent !== "object" || agent === null || Array.isArray(agent)) return undefined;
  const user = (agent as Record<string, unknown>).run_as_user;
  return typeof user === "string" && user !== "" && user !== "root" ? user : undefined;
}

/** The pid count the agent publishes for one procstat entry (`exe` or `pattern` key) over `processes`, as `agentUid`. */
export function procstatLookupCount(entry: Record<string, unknown>, processes: readonly ModelProcess[], agentUid: AgentUid): number {
  const byExe = typeof entry.exe === "string";
  const source = byExe ? (entry.exe as string) : entry.pattern;
  if (typeof source !== "string") throw new RangeError("the lookup model covers exe and pattern entries only");
  const compiled = compileGoRegexp(source);
  if (!("regex" in compiled)) throw new RangeError(`procstat regex ${source} is a lookup error in Go: ${compiled.message}`);
  let count = 0;
  for (const process of processes) {
    if (byExe) {
      if (process.exe === null) continue;
      if (agentUid !== 0 && agentUid !== process.uid) continue; // EACCES on the link: skipped, no error
      if (compiled.regex.test(process.exe)) count += 1;
    } else if (compiled.regex.test(process.cmdline)) {
      count += 1;
    }
  }
  return count;
}
