import { readFileSync } from "node:fs";
import { type AllowList, parseAllowList } from "../core/allow-list.ts";

/** A missing or unreadable file reads as "nothing there yet": apply writes it, health reports it. */
export function readTextOrNull(path: string): string | null {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return null;
  }
}

/** The allow-list `apply` last wrote, if it exists and still validates; anything else reads as absent. */
export function readAllowListIfValid(path: string): AllowList | null {
  const text = readTextOrNull(path);
  if (text === null) return null;
  try {
    const parsed = parseAllowList(JSON.parse(text));
    return "allowList" in parsed ? parsed.allowList : null;
  } catch {
    return null;
  }
}
