import { closeSync, fsyncSync, linkSync, lstatSync, mkdirSync, openSync, renameSync, unlinkSync } from "node:fs";
import { dirname } from "node:path";
import { isStaleLock, type LockHolder, parseLockHolder, serializeLockHolder } from "../core/apply-lock.ts";
import { parseProcStat } from "../core/process-usage.ts";
import { ApplyLockedError } from "../errors.ts";
import { writeFully } from "./atomic-write.ts";
import { readTextOrNull } from "./read-optional-file.ts";

/**
 * `apply`'s lock: a file created with O_CREAT|O_EXCL (atomic on every local filesystem, no flock
 * needed) that names its holder's pid and start time. A second apply waits for it; a lock whose
 * holder is dead (or whose pid was reused) is broken. Breaking is itself race-free between
 * waiters: the stale file is first renamed to a name private to this process, and if what was
 * renamed turns out to be a fresh lock (another waiter broke the stale one and took the lock in
 * between), it is linked back, which never replaces a lock file that exists.
 */
export interface ApplyLock {
  release(): void;
}

const POLL_MS = 100;

export async function acquireApplyLock(path: string, waitMs: number, procRoot = "/proc"): Promise<ApplyLock> {
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  const own: LockHolder = { pid: process.pid, startTime: startTimeOf(process.pid, procRoot) ?? 0, acquiredAt: new Date().toISOString() };
  const deadline = Date.now() + waitMs;
  for (;;) {
    if (tryCreate(path, own)) return { release: () => releaseIfOurs(path, own) };
    const holderText = readTextOrNull(path);
    if (holderText === null) {
      // Released meanwhile (try again at once), or unreadable (then give up at the deadline).
      if (Date.now() >= deadline) throw new ApplyLockedError(path, null, waitMs);
      continue;
    }
    const holder = parseLockHolder(holderText);
    const ageMs = ageOf(path);
    if (isStaleLock({ holder, holderStartTime: holder === null ? null : startTimeOf(holder.pid, procRoot), ageMs })) {
      breakStaleLock(path, holderText);
      continue;
    }
    if (Date.now() >= deadline) throw new ApplyLockedError(path, holder, waitMs);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

function tryCreate(path: string, own: LockHolder): boolean {
  let fd: number;
  try {
    fd = openSync(path, "wx", 0o644);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw error;
  }
  try {
    writeFully(fd, Buffer.from(serializeLockHolder(own)));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return true;
}

function breakStaleLock(path: string, judgedText: string): void {
  const aside = `${path}.stale.${process.pid}`;
  try {
    renameSync(path, aside);
  } catch {
    return; // someone else broke or released it
  }
  if (readTextOrNull(aside) !== judgedText) {
    // Not the file we judged stale: another apply's fresh lock. Put it back unless a new one exists.
    try {
      linkSync(aside, path);
    } catch {}
  }
  try {
    unlinkSync(aside);
  } catch {}
}

function releaseIfOurs(path: string, own: LockHolder): void {
  const holder = parseLockHolder(readTextOrNull(path) ?? "");
  if (holder?.pid !== own.pid || holder.startTime !== own.startTime) return;
  try {
    unlinkSync(path);
  } catch {}
}

function startTimeOf(pid: number, procRoot: string): number | null {
  const text = readTextOrNull(`${procRoot}/${pid}/stat`);
  return text === null ? null : (parseProcStat(text)?.startTimeTicks ?? null);
}

function ageOf(path: string): number {
  try {
    return Date.now() - lstatSync(path).mtimeMs;
  } catch {
    return 0;
  }
}
