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

/** `fs.writeSync(fd, buffer, offset, length)`: returns how many bytes it wrote, which may be fewer than asked. */
export type WriteFunction = (fd: number, buffer: Uint8Array, offset: number, length: number) => number;

export interface AtomicWriteOptions {
  readonly mode?: number;
  /** Test seam for short writes and a full disk; defaults to fs.writeSync. */
  readonly write?: WriteFunction;
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
      writeFully(fd, Buffer.from(content, "utf8"), options.write ?? writeSync);
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

/**
 * write(2) may write fewer bytes than asked (a signal, a quota, a nearly full disk): loop until every
 * byte is written. A call that writes nothing is an error, so a full disk can never end in a
 * truncated temp that is then renamed into place.
 */
export function writeFully(fd: number, data: Uint8Array, write: WriteFunction = writeSync): void {
  let offset = 0;
  while (offset < data.length) {
    const written = write(fd, data, offset, data.length - offset);
    if (!Number.isInteger(written) || written <= 0) {
      throw new Error(`wrote ${offset} of ${data.length} bytes: the write made no progress (disk full?)`);
    }
    offset += written;
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
