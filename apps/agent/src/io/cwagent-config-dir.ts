import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { OtherFragment } from "../core/cwagent-config.ts";

/** A config fragment is a few KiB; anything far larger is not worth parsing for a best-effort check. */
const MAX_FRAGMENT_BYTES = 1024 * 1024;

/**
 * Every other fragment in the CloudWatch agent's config directory that reads and parses as JSON.
 * Best effort: a missing directory, an unreadable or oversized file, a subdirectory, a pending
 * `.tmp` download and invalid JSON are all skipped, since health must still report the rest.
 */
export function readOtherFragments(directory: string, ownName: string): OtherFragment[] {
  let entries: string[];
  try {
    entries = readdirSync(directory);
  } catch {
    return [];
  }
  const others: OtherFragment[] = [];
  for (const name of entries.sort()) {
    if (name === ownName || name.endsWith(".tmp")) continue;
    const path = join(directory, name);
    try {
      const stats = statSync(path);
      if (!stats.isFile() || stats.size > MAX_FRAGMENT_BYTES) continue;
      others.push({ name, json: JSON.parse(readFileSync(path, "utf8")) });
    } catch {}
  }
  return others;
}
