/**
 * Names and the clean-up rule for the temp files of atomic writes. A temp is
 * `.<target name>.<writer pid>-<base-36 ms>.tmp`: the leading '.' and the '.tmp' ending keep
 * anything that globs `*.json` off it, and the pid lets the next writer tell a crashed writer's
 * leftover from a temp another writer (a concurrent `apply`) is about to rename into place.
 */
export const ABANDONED_TEMP_AGE_MS = 60_000;

export function tempPrefixFor(targetName: string): string {
  return `.${targetName}.`;
}

export function tempNameFor(targetName: string, pid: number, nowMs: number): string {
  return `${tempPrefixFor(targetName)}${pid}-${nowMs.toString(36)}.tmp`;
}

/** The writer pid of one of `targetName`'s temps, null for a temp whose name carries none, undefined for any other file. */
export function tempWriterPid(entry: string, targetName: string): number | null | undefined {
  const prefix = tempPrefixFor(targetName);
  if (!entry.startsWith(prefix) || !entry.endsWith(".tmp")) return undefined;
  const match = /^([1-9][0-9]{0,9})-[0-9a-z]+\.tmp$/.exec(entry.slice(prefix.length));
  return match === null ? null : Number(match[1]);
}

/**
 * A temp may be removed when its writer is gone, or when it is older than a minute: a live
 * writer renames its temp within milliseconds, so an old one is abandoned even if its pid was
 * reused by an unrelated process since.
 */
export function isAbandonedTemp(temp: { readonly writerAlive: boolean | null; readonly ageMs: number }): boolean {
  if (temp.ageMs > ABANDONED_TEMP_AGE_MS) return true;
  return temp.writerAlive === false;
}
