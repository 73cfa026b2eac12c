import { closeSync, constants, fstatSync, openSync, readdirSync, readlinkSync, readSync, type Stats, statSync } from "node:fs";
import { pidFilePathProblem } from "@procwatch/contract";
import { type AncestorRecord, ownProcessPids } from "../core/own-processes.ts";
import { joinCmdline, type PidFileReading, type ProcessRecord } from "../core/process-matching.ts";
import { cpuPercentSinceStart, parseProcStat, parseRssBytes, parseUptimeSeconds, type UsageSample } from "../core/process-usage.ts";
import { readTextOrNull } from "./read-optional-file.ts";

/**
 * A synchronous /proc scan. Synchronous on purpose: procfs reads never block on disk, and a
 * scan of 500 processes with sync calls takes a few milliseconds, where promise overhead and
 * `systeminformation.processes()` (~80 ms) would dominate.
 *
 * It reads only what the caller needs (core/process-matching.ts `fieldsNeededFor`): one readlink
 * per pid for `exe`, one read of `cmdline` per pid for `pattern` (and, in health, for `exe`, which
 * the CloudWatch agent counts by command line), nothing but the directory listing for `pidfile`.
 * CPU and RSS are read later, for matched pids only (`sampleUsage`).
 */
export interface ProcScanOptions {
  readonly procRoot?: string;
  readonly exePath: boolean;
  readonly cmdline: boolean;
  /**
   * Read each process's owner: the uid and gid of /proc/<pid>, which the kernel sets to the
   * process's effective ids, or root when the process is not dumpable (fs/proc/base.c `task_dump_owner`).
   * Needed only for a hand-edited exe regex the CloudWatch agent still gets as `exe` while it runs
   * as another user (see core/process-matching.ts).
   */
  readonly ownerUid?: boolean;
  /** Pids never to report (procwatch itself and its launchers, see core/own-processes.ts). */
  readonly exclude?: ReadonlySet<number>;
}

export function listPids(procRoot = "/proc"): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync(procRoot)) {
    if (isPidEntry(entry)) pids.push(Number(entry));
  }
  return pids;
}

export function scanProcesses(options: ProcScanOptions): ProcessRecord[] {
  const procRoot = options.procRoot ?? "/proc";
  const entries = readdirSync(procRoot);
  const records: ProcessRecord[] = [];
  // Hosts run many processes with one command line (workers, pools): join each distinct one once.
  const joined = new Map<string, string>();
  // Failed reads are routine here (kernel threads, zombies, processes that exit mid-scan, pid 1 in
  // a container); each one throws, and capturing a stack trace for an error we discard costs more
  // than the failed syscall itself.
  const stackTraceLimit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    for (const entry of entries) {
      if (!isPidEntry(entry) || options.exclude?.has(Number(entry))) continue;
      let exePath: string | null = null;
      let withoutMemory = false;
      if (options.exePath) {
        try {
          exePath = readlinkSync(`${procRoot}/${entry}/exe`);
        } catch (error) {
          // ENOENT on a listed pid: a kernel thread or a zombie (no memory map, so no exe link).
          withoutMemory = (error as NodeJS.ErrnoException).code === "ENOENT";
        }
      }
      // A process without a memory map has an empty command line, which is what reading it would
      // return; skipping the read saves an open/read/close for each of a host's kernel threads.
      let cmdline: string | null = null;
      if (options.cmdline) {
        const raw = withoutMemory ? "" : readTextOrNull(`${procRoot}/${entry}/cmdline`);
        if (raw !== null) {
          cmdline = joined.get(raw) ?? null;
          if (cmdline === null) {
            cmdline = joinCmdline(raw);
            joined.set(raw, cmdline);
          }
        }
      }
      const owner = options.ownerUid ? statOwnerOrNull(`${procRoot}/${entry}`) : undefined;
      records.push({ pid: Number(entry), exePath, cmdline, ...(owner === undefined ? {} : { ownerUid: owner?.uid ?? null, ownerGid: owner?.gid ?? null }) });
    }
  } finally {
    Error.stackTraceLimit = stackTraceLimit;
  }
  return records;
}

/** procwatch's own pid and its launchers (ancestors carrying its arguments, a parent shell): never counted. */
export function procwatchOwnPids(procRoot = "/proc"): ReadonlySet<number> {
  const ownCmdline = readTextOrNull(`${procRoot}/self/cmdline`) ?? "";
  const ownArguments = joinCmdline(ownCmdline.slice(ownCmdline.indexOf("\0") + 1));
  const ancestors: AncestorRecord[] = [];
  let pid = process.ppid;
  // A process tree is rarely more than a dozen deep; the bound only guards against a pid cycle from a race.
  for (let depth = 0; depth < 64 && pid > 1; depth++) {
    const statText = readTextOrNull(`${procRoot}/${pid}/stat`);
    const stat = statText === null ? null : parseProcStat(statText);
    if (stat === null) break;
    ancestors.push({ pid, comm: stat.comm, cmdline: readCmdlineOrNull(`${procRoot}/${pid}/cmdline`) });
    pid = stat.ppid;
  }
  return ownProcessPids(process.pid, ownArguments, ancestors);
}

/** Numeric /proc entries are processes; everything else (self, sys, meminfo, ...) starts with a letter. */
function isPidEntry(entry: string): boolean {
  const code = entry.charCodeAt(0);
  return code >= 48 && code <= 57;
}

/** A pid file holds a few bytes; anything larger is refused before it is read. */
export const MAX_PID_FILE_BYTES = 4096;

/**
 * Reads a pid file without trusting it: the path must pass the contract's pid file rule, the last
 * component must not be a symlink (O_NOFOLLOW), the open must not block (O_NONBLOCK: a FIFO would
 * otherwise hang health and restart), and only a regular file of at most 4 KiB is read. A refusal
 * says why; a missing file is simply absent (the process is down).
 */
export function readPidFile(path: string): PidFileReading {
  const pathProblem = pidFilePathProblem(path);
  if (pathProblem !== null) return { path, content: null, refusal: `the path ${pathProblem}` };
  const { O_RDONLY, O_NOFOLLOW, O_NONBLOCK, O_NOCTTY } = constants;
  let fd: number;
  try {
    fd = openSync(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ELOOP") return { path, content: null, refusal: "it is a symbolic link; pid files are read only without following links" };
    return { path, content: null };
  }
  try {
    const stats = fstatSync(fd);
    if (!stats.isFile()) return { path, content: null, refusal: `it is not a regular file (${fileKind(stats)})` };
    if (stats.size > MAX_PID_FILE_BYTES) {
      return { path, content: null, refusal: `it is ${stats.size} bytes, more than a pid file holds (at most ${MAX_PID_FILE_BYTES})` };
    }
    const buffer = Buffer.alloc(MAX_PID_FILE_BYTES + 1);
    let length = 0;
    for (;;) {
      const read = readSync(fd, buffer, length, buffer.length - length, null);
      if (read === 0) break;
      length += read;
      if (length > MAX_PID_FILE_BYTES) return { path, content: null, refusal: `it grew past ${MAX_PID_FILE_BYTES} bytes while being read` };
    }
    return { path, content: buffer.toString("utf8", 0, length) };
  } catch {
    return { path, content: null };
  } finally {
    closeSync(fd);
  }
}

function fileKind(stats: Stats): string {
  if (stats.isFIFO()) return "a FIFO";
  if (stats.isCharacterDevice()) return "a character device";
  if (stats.isBlockDevice()) return "a block device";
  if (stats.isDirectory()) return "a directory";
  if (stats.isSocket()) return "a socket";
  return "not a plain file";
}

export function sampleUsage(pids: readonly number[], procRoot = "/proc"): UsageSample[] {
  if (pids.length === 0) return [];
  const uptime = parseUptimeSeconds(readTextOrNull(`${procRoot}/uptime`) ?? "");
  const samples: UsageSample[] = [];
  for (const pid of pids) {
    const statText = readTextOrNull(`${procRoot}/${pid}/stat`);
    const stat = statText === null ? null : parseProcStat(statText);
    const statusText = readTextOrNull(`${procRoot}/${pid}/status`);
    samples.push({
      cpuPercent: stat !== null && uptime !== null ? cpuPercentSinceStart(stat, uptime) : 0,
      rssBytes: statusText === null ? 0 : (parseRssBytes(statusText) ?? 0),
    });
  }
  return samples;
}

/** The owner of /proc/<pid>: the process's effective uid and gid (fs/proc/base.c `task_dump_owner`). */
function statOwnerOrNull(path: string): { uid: number; gid: number } | null {
  try {
    const { uid, gid } = statSync(path);
    return { uid, gid };
  } catch {
    return null;
  }
}

function readCmdlineOrNull(path: string): string | null {
  const raw = readTextOrNull(path);
  return raw === null ? null : joinCmdline(raw);
}
