import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { FileWriteError } from "../errors.ts";

/**
 * Crash-safe replace: write a temp file in the same directory, fsync it, rename it over the
 * target, fsync the directory. A reader (the CloudWatch agent) sees the old bytes or the new
 * bytes, never a torn file. Temp names start with '.' and end in '.tmp' so nothing that globs
 * `*.json` picks them up, and leftovers from a crash are removed by the next write.
 */
export type AtomicWriteStage = "after-write-before-rename";

export interface AtomicWriteOptions {
  readonly mode?: number;
  /** Test seam: called at each stage; throwing or killing the process here simulates a crash. */
  readonly faultPoint?: (stage: AtomicWriteStage) => void;
}

export function tempPrefixFor(path: string): string {
  return `.${basename(path)}.`;
}

export function writeFileAtomic(path: string, content: string, options: AtomicWriteOptions = {}): void {
  const directory = dirname(path);
  const temp = join(directory, `${tempPrefixFor(path)}${process.pid}-${Date.now().toString(36)}.tmp`);
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
  const prefix = tempPrefixFor(path);
  for (const entry of readdirSync(dirname(path))) {
    if (entry.startsWith(prefix) && entry.endsWith(".tmp")) rmSync(join(dirname(path), entry), { force: true });
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
