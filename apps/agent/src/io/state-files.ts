import { type AllowList, parseAllowList } from "../core/allow-list.ts";
import { readTextOrNull } from "./read-optional-file.ts";

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
