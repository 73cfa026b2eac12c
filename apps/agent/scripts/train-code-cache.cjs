/**
 * Trains the x64 binary's code cache (see sea-main.cjs for why). Run by build-binary.mjs under the
 * x64 Node 24 that the binary embeds, with the same V8 flags as the binary's execArgv:
 *
 *   node <execArgv...> train-code-cache.cjs <bundle.cjs> <out.code-cache>
 *
 * It runs the bundle, in this one process, as `--help`, `version --json`, `render --spec`,
 * `health --json --spec` and `health --spec`, each after the previous one finished, and then
 * writes V8's code cache for the script: the bytecode of every function those runs compiled.
 * The runs are local only: IMDS disabled, a temporary state directory and spec (exe, pattern and
 * pidfile processes), no CloudWatch agent ctl on PATH, so nothing is spawned or written elsewhere.
 * Output goes to this process's stdout/stderr, which the build discards.
 */
const { mkdtempSync, rmSync, writeFileSync, readFileSync } = require("node:fs");
const { tmpdir } = require("node:os");
const { join } = require("node:path");
const vm = require("node:vm");

const [bundlePath, outputPath] = process.argv.slice(2);
if (bundlePath === undefined || outputPath === undefined) throw new Error("usage: train-code-cache.cjs <bundle.cjs> <out.code-cache>");

// Byte-identical to sea-main.cjs's wrapper and filename, or V8 rejects the cache at run time.
const BUNDLE_ASSET = "procwatch-agent.cjs";
const source = `(function (exports, require, module, __filename, __dirname) {${readFileSync(bundlePath, "utf8")}\n})`;
const script = new vm.Script(source, { filename: BUNDLE_ASSET, importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER });
const agentMain = script.runInThisContext();

const scratch = mkdtempSync(join(tmpdir(), "procwatch-train-"));
const spec = join(scratch, "spec.json");
writeFileSync(
  spec,
  JSON.stringify({
    version: 1,
    processes: [{ name: "node" }, { name: "trainer", pattern: "train-code-cache" }, { name: "ghost", pidfile: join(scratch, "ghost.pid") }],
  }),
);
writeFileSync(join(scratch, "ghost.pid"), `${process.pid}\n`);
Object.assign(process.env, {
  AWS_EC2_METADATA_DISABLED: "true",
  NO_COLOR: "1",
  PATH: join(scratch, "no-bin"),
  PROCWATCH_STATE_DIR: scratch,
  PROCWATCH_CWAGENT_DIR: scratch,
});

const runs = [["--help"], ["version", "--json"], ["render", "--spec", spec], ["health", "--json", "--spec", spec], ["health", "--spec", spec]];
const argvHead = process.argv.slice(0, 2);

// The bundle starts its async CLI run and returns; `beforeExit` fires once that run has drained
// the event loop, which is when the next one may start. A run that settles in microtasks alone
// schedules no loop work, so an empty immediate keeps the loop (and the next `beforeExit`) coming.
process.on("beforeExit", function runNext() {
  const args = runs.shift();
  if (args === undefined) {
    process.removeListener("beforeExit", runNext);
    writeFileSync(outputPath, script.createCachedData());
    rmSync(scratch, { recursive: true, force: true });
    process.exitCode = 0;
    return;
  }
  process.argv = [...argvHead, ...args];
  const module = { exports: {} };
  agentMain.call(module.exports, module.exports, require, module, BUNDLE_ASSET, scratch);
  setImmediate(() => {});
});
