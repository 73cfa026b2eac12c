/**
 * Main script of the single binary (built into the SEA blob by build-binary.mjs; never run from
 * here). It runs the agent bundle, an SEA asset, through a vm.Script with a code cache that was
 * *trained* at build time (train-code-cache.cjs: the bundle ran --help, version, render and health,
 * then V8 serialized every function compiled so far).
 *
 * Why not the SEA's own `useCodeCache`: that cache is made right after compiling the main script,
 * so it holds only the top-level code, and every function the agent calls is still compiled at run
 * time (~6 ms of a ~50 ms `health`). A code cache is tied to the V8 build, its flags and the CPU
 * architecture, so only the x64 binary (built by the x64 Node that also trains) carries one; the
 * arm64 binary compiles lazily, exactly as before.
 *
 * The wrapper must stay byte-identical to train-code-cache.cjs's: V8 rejects a cache whose source differs.
 */
const sea = require("node:sea");
const vm = require("node:vm");

const BUNDLE_ASSET = "procwatch-agent.cjs";
const CODE_CACHE_ASSET = "procwatch-agent.code-cache";

function codeCache() {
  try {
    // A view of the asset inside the mapped binary: no copy.
    return new Uint8Array(sea.getRawAsset(CODE_CACHE_ASSET));
  } catch {
    return undefined; // the arm64 binary has none
  }
}

const source = `(function (exports, require, module, __filename, __dirname) {${sea.getAsset(BUNDLE_ASSET, "utf8")}\n})`;
const cachedData = codeCache();
const script = new vm.Script(source, { filename: BUNDLE_ASSET, cachedData, importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER });
// For the build, which fails when V8 refuses the cache: a version or flag mismatch would otherwise
// only show as a slower start.
if (process.env.PROCWATCH_CODE_CACHE_CHECK === "1") {
  process.stderr.write(`code cache: ${cachedData === undefined ? "none" : script.cachedDataRejected ? "rejected" : "accepted"}\n`);
}
script.runInThisContext().call(module.exports, module.exports, require, module, __filename, __dirname);
