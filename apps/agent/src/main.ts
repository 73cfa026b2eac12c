import { fstatSync } from "node:fs";
import { runCli } from "./cli.ts";

/**
 * Whether stdout is a terminal, without touching process.stdout or node:tty: both load the
 * net/stream modules, a few ms of every health check's cold start. Only a character device can be
 * a terminal, so pipes and files (SSM, scripts) never load tty at all.
 */
function stdoutIsTerminal(): boolean {
  try {
    if (!fstatSync(1).isCharacterDevice()) return false;
  } catch {
    return false;
  }
  return (require("node:tty") as typeof import("node:tty")).isatty(1);
}

/** Entry point of the bundle and the single binary (CommonJS there, so no top-level await). */
void runCli({ argv: process.argv.slice(2), env: process.env, stdoutIsTty: stdoutIsTerminal() }).then((exitCode) => {
  process.exitCode = exitCode;
});
