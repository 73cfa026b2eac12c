import { readdirSync, unlinkSync } from "node:fs";
import { FileRemoveError } from "../errors.ts";

/** Deletes one file; false when it was not there, so `remove` can report "nothing to remove" and stay idempotent. */
export function removeFileIfPresent(path: string): boolean {
  try {
    unlinkSync(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw new FileRemoveError(path, error);
  }
}

/** Names in a directory; a missing or unreadable directory has none. */
export function directoryEntries(directory: string): string[] {
  try {
    return readdirSync(directory);
  } catch {
    return [];
  }
}
