import { closeSync, fsyncSync, lstatSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { isAbandonedTemp, tempNameFor, tempWriterPid } from "../core/temp-files.ts";
import { FileWriteError } from "../errors.ts";

/**
 * Crash-safe replace: write a temp file in the same directory, fsync it, rename it over the
 * target, fsync the directory. A reader (the CloudWatch agent) sees the old bytes or the new
 * bytes, never a torn file. Temp names start with '.' and end in '.tmp' so nothing that globs
 * `*.json` picks them up. Leftovers from a crash are removed by the next write, but never the
 * temp of a writer that still runs (two `apply` runs at once must not break each other's rename).
 */
export type AtomicWriteStage = "after-write-before-rename";

export interface AtomicWriteOptions {
  readonly mode?: number;
  /** Test seam: called at each stage; throwing or killing the process here simulates a crash. */
  readonly faultPoint?: (stage: AtomicWriteStage) => void;
}

export function writeFileAtomic(path: string, content: string, options: AtomicWriteOptions = {}): void {
  const directory = dirname(path);
  const temp = join(directory, tempNameFor(basename(path), process.pid, Date.now()));
  try {
    mkdirSync(directory, { recursive: true, mode: 0o755 });
    removeStaleTemps(path);
    const fd = openSync(temp, "wx", options.mode ?? 0o644);
    try {
      writeSync(fd, content);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    options.faultPoint?.("after-write-before-rename");
    renameSync(temp, path);
    syncDirectory(directory);
  } catch (error) {
    rmSync(temp, { force: true });
    throw new FileWriteError(path, error);
  }
}

function removeStaleTemps(path: string): void {
  const directory = dirname(path);
  const now = Date.now();
  for (const entry of readdirSync(directory)) {
    const writerPid = tempWriterPid(entry, basename(path));
    if (writerPid === undefined) continue;
    const temp = join(directory, entry);
    let mtimeMs: number;
    try {
      mtimeMs = lstatSync(temp).mtimeMs;
    } catch {
      continue; // its writer renamed or removed it meanwhile
    }
    if (isAbandonedTemp({ writerAlive: writerPid === null ? null : isProcessAlive(writerPid), ageMs: now - mtimeMs })) rmSync(temp, { force: true });
  }
}

/** Signal 0 probes without signalling: ESRCH means no such process; EPERM means it exists under another user. */
function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

function syncDirectory(directory: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(directory, "r");
    fsyncSync(fd);
  } catch {
    // Some filesystems refuse fsync on directories; the rename itself is still atomic.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
