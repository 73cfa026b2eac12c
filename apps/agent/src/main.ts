import { runCli } from "./cli.ts";

/** Entry point of the bundle and the single binary (CommonJS there, so no top-level await). */
void runCli({ argv: process.argv.slice(2), env: process.env, stdoutIsTty: process.stdout.isTTY === true }).then((exitCode) => {
  process.exitCode = exitCode;
});
