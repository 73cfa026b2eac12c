import { readFileSync } from "node:fs";

/**
 * A missing or unreadable file reads as null: /proc entries vanish as processes exit, and state
 * files do not exist before the first apply. Callers decide what absence means.
 */
export function readTextOrNull(path: string): string | null {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return null;
  }
}
