/**
 * The rule for `apply`'s lock file, pure. The file holds `{"pid","startTime","acquiredAt"}`:
 * the holder's pid and its start time in clock ticks since boot (/proc/<pid>/stat field 22), so a
 * pid reused by an unrelated process after a crash does not keep the lock alive.
 */
export interface LockHolder {
  readonly pid: number;
  readonly startTime: number;
  readonly acquiredAt: string;
}

/** A lock file that never got its content (its writer died between create and write) is stale after this long. */
export const UNREADABLE_LOCK_STALE_MS = 10_000;

export function parseLockHolder(text: string): LockHolder | null {
  try {
    const parsed = JSON.parse(text) as Partial<LockHolder>;
    if (!Number.isSafeInteger(parsed.pid) || (parsed.pid ?? 0) <= 0 || !Number.isSafeInteger(parsed.startTime)) return null;
    return { pid: parsed.pid as number, startTime: parsed.startTime as number, acquiredAt: typeof parsed.acquiredAt === "string" ? parsed.acquiredAt : "?" };
  } catch {
    return null;
  }
}

export function serializeLockHolder(holder: LockHolder): string {
  return `${JSON.stringify(holder)}\n`;
}

/**
 * Stale when the holder is gone: its pid no longer runs, or runs with another start time (reused).
 * `holderStartTime` is null when the pid does not exist. A lock without readable content is
 * stale only once it is old enough that its writer cannot still be filling it in.
 */
export function isStaleLock(lock: { readonly holder: LockHolder | null; readonly holderStartTime: number | null; readonly ageMs: number }): boolean {
  if (lock.holder === null) return lock.ageMs > UNREADABLE_LOCK_STALE_MS;
  return lock.holderStartTime === null || lock.holderStartTime !== lock.holder.startTime;
}
