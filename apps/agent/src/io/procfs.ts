import { readdirSync, readFileSync, readlinkSync } from "node:fs";
import { joinCmdline, type PidFileReading, type ProcessRecord } from "../core/process-matching.ts";
import { cpuPercentSinceStart, parseProcStat, parseRssBytes, parseUptimeSeconds, type UsageSample } from "../core/process-usage.ts";

/**
 * A synchronous /proc scan. Synchronous on purpose: procfs reads never block on disk, and a
 * scan of 500 processes with sync calls takes a few milliseconds, where promise overhead and
 * `systeminformation.processes()` (~80 ms) would dominate.
 */
export interface ProcScanOptions {
  readonly procRoot?: string;
  readonly exePath: boolean;
  readonly cmdline: boolean;
}

export function listPids(procRoot = "/proc"): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync(procRoot)) {
    const code = entry.charCodeAt(0);
    if (code >= 48 && code <= 57) pids.push(Number(entry));
  }
  return pids;
}

export function scanProcesses(options: ProcScanOptions): ProcessRecord[] {
  const procRoot = options.procRoot ?? "/proc";
  const records: ProcessRecord[] = [];
  for (const pid of listPids(procRoot)) {
    records.push({
      pid,
      exePath: options.exePath ? readLinkOrNull(`${procRoot}/${pid}/exe`) : null,
      cmdline: options.cmdline ? readCmdlineOrNull(`${procRoot}/${pid}/cmdline`) : null,
    });
  }
  return records;
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

function readLinkOrNull(path: string): string | null {
  try {
    return readlinkSync(path);
  } catch {
    return null;
  }
}

function readCmdlineOrNull(path: string): string | null {
  const raw = readTextOrNull(path);
  return raw === null ? null : joinCmdline(raw);
}

function readTextOrNull(path: string): string | null {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return null;
  }
}
