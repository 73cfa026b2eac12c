import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { type AncestorRecord, ownProcessPids } from "../core/own-processes.ts";
import { joinCmdline, type PidFileReading, type ProcessRecord } from "../core/process-matching.ts";
import { cpuPercentSinceStart, parseProcStat, parseRssBytes, parseUptimeSeconds, type UsageSample } from "../core/process-usage.ts";
import { readTextOrNull } from "./read-optional-file.ts";

/**
 * A synchronous /proc scan. Synchronous on purpose: procfs reads never block on disk, and a
 * scan of 500 processes with sync calls takes a few milliseconds, where promise overhead and
 * `systeminformation.processes()` (~80 ms) would dominate.
 *
 * It reads only what the watched match modes need: one readlink per pid for `exe`, one read of
 * `cmdline` per pid for `pattern`, nothing but the directory listing for `pidfile`. CPU and RSS are
 * read later, for matched pids only (`sampleUsage`).
 */
export interface ProcScanOptions {
  readonly procRoot?: string;
  readonly exePath: boolean;
  readonly cmdline: boolean;
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
      const cmdline = !options.cmdline ? null : withoutMemory ? "" : readCmdlineOrNull(`${procRoot}/${entry}/cmdline`);
      records.push({ pid: Number(entry), exePath, cmdline });
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

export function readPidFile(path: string): PidFileReading {
  try {
    // A pid file holds a few bytes; reading more than 64 KiB would only mean it is not a pid file.
    return { path, content: readFileSync(path, "utf8").slice(0, 65_536) };
  } catch {
    return { path, content: null };
  }
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

function readCmdlineOrNull(path: string): string | null {
  const raw = readTextOrNull(path);
  return raw === null ? null : joinCmdline(raw);
}
