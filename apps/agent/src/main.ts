import { runCli } from "./cli.ts";

/** Entry point of the bundle and the single binary. */
const exitCode = await runCli({ argv: process.argv.slice(2), env: process.env, stdoutIsTty: process.stdout.isTTY === true });
process.exitCode = exitCode;
