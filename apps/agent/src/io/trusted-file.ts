import { readFileSync, statSync } from "node:fs";
import { UntrustedFileError } from "../errors.ts";

/**
 * Files that decide what the agent may run (the allow-list, the local config with start
 * commands) must be root-owned and not writable by group or others; otherwise any local user
 * who can write them could make a root restart run their program. Tests that run without root
 * set PROCWATCH_INSECURE_TEST_CONFIG=1 (`allowInsecure`), which is documented as test-only.
 */
export function readTrustedJson(path: string, options: { allowInsecure: boolean; missingHint: string }): unknown | null {
  let stats: ReturnType<typeof statSync>;
  try {
    stats = statSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw new UntrustedFileError(path, `cannot be read (${(error as NodeJS.ErrnoException).code ?? "error"})`, options.missingHint);
  }
  if (!stats.isFile()) throw new UntrustedFileError(path, "is not a regular file", options.missingHint);
  if (!options.allowInsecure) {
    if (stats.uid !== 0) throw new UntrustedFileError(path, `is owned by uid ${stats.uid}, not root`, `chown root:root ${path}`);
    if ((stats.mode & 0o022) !== 0) {
      throw new UntrustedFileError(path, `is writable by group or others (mode ${(stats.mode & 0o777).toString(8)})`, `chmod go-w ${path}`);
    }
  }
  const text = readFileSync(path, "utf8");
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new UntrustedFileError(path, `is not valid JSON (${(error as Error).message})`, options.missingHint);
  }
}
