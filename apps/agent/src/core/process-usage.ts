/**
 * CPU and memory of matched processes from procfs text, pure. CPU is the average since the
 * process started (one sample, no sleep), which is what a one-shot health check can honestly
 * report; the CloudWatch agent's `cpu_usage` is the per-interval figure.
 */
export interface ProcStat {
  readonly pid: number;
  readonly comm: string;
  readonly state: string;
  readonly ppid: number;
  readonly utimeTicks: number;
  readonly stimeTicks: number;
  readonly startTimeTicks: number;
}

/** Linux reports times in USER_HZ, which is 100 on every architecture procwatch ships for. */
export const CLOCK_TICKS_PER_SECOND = 100;

/** Parses /proc/<pid>/stat; `comm` may hold spaces and parentheses, so fields are counted from the last ')'. */
export function parseProcStat(text: string): ProcStat | null {
  const open = text.indexOf("(");
  const close = text.lastIndexOf(")");
  if (open < 0 || close < open) return null;
  const pid = Number(text.slice(0, open).trim());
  const rest = text
    .slice(close + 2)
    .trim()
    .split(" ");
  // rest[0] is field 3 (state); utime is field 14, stime 15, starttime 22.
  const field = (number: number) => Number(rest[number - 3]);
  const stat = {
    pid,
    comm: text.slice(open + 1, close),
    state: rest[0] ?? "?",
    ppid: field(4),
    utimeTicks: field(14),
    stimeTicks: field(15),
    startTimeTicks: field(22),
  };
  if (![stat.pid, stat.utimeTicks, stat.stimeTicks, stat.startTimeTicks].every(Number.isFinite)) return null;
  return stat;
}

/** VmRSS from /proc/<pid>/status, in bytes; null for kernel threads and zombies. */
export function parseRssBytes(statusText: string): number | null {
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(statusText);
  return match?.[1] === undefined ? null : Number(match[1]) * 1024;
}

export function parseUptimeSeconds(text: string): number | null {
  const value = Number(text.split(" ")[0]);
  return Number.isFinite(value) ? value : null;
}

/** Average CPU percent (of one core) since the process started. */
export function cpuPercentSinceStart(stat: ProcStat, uptimeSeconds: number, ticksPerSecond: number = CLOCK_TICKS_PER_SECOND): number {
  const aliveSeconds = uptimeSeconds - stat.startTimeTicks / ticksPerSecond;
  if (aliveSeconds <= 0) return 0;
  const busySeconds = (stat.utimeTicks + stat.stimeTicks) / ticksPerSecond;
  return Math.round((busySeconds / aliveSeconds) * 1000) / 10;
}

export interface UsageSample {
  readonly cpuPercent: number;
  readonly rssBytes: number;
}

export function sumUsage(samples: readonly UsageSample[]): UsageSample {
  return samples.reduce(
    (total, sample) => ({ cpuPercent: Math.round((total.cpuPercent + sample.cpuPercent) * 10) / 10, rssBytes: total.rssBytes + sample.rssBytes }),
    { cpuPercent: 0, rssBytes: 0 },
  );
}
