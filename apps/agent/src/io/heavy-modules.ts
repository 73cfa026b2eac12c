import { dirname, join } from "node:path";

/**
 * Loads the heavy chunk (AWS SDK clients, systeminformation) on first use:
 *  - inside the single binary: from the SEA asset `procwatch-agent-heavy.cjs`;
 *  - from the plain-node bundle: the sibling file dist/procwatch-agent-heavy.cjs;
 *  - from source (tsx, tests): a normal dynamic import.
 */
export type HeavyModules = typeof import("../heavy/index.ts");

declare const __PROCWATCH_BUNDLED__: boolean | undefined;
export const HEAVY_CHUNK_NAME = "procwatch-agent-heavy.cjs";

let loaded: Promise<HeavyModules> | undefined;

export function loadHeavyModules(): Promise<HeavyModules> {
  loaded ??= load();
  return loaded;
}

async function load(): Promise<HeavyModules> {
  if (typeof __PROCWATCH_BUNDLED__ === "boolean" && __PROCWATCH_BUNDLED__) {
    const sea = process.getBuiltinModule("node:sea") as { isSea(): boolean; getAsset(key: string, encoding: string): string } | undefined;
    if (sea?.isSea()) return evaluateChunk(sea.getAsset(HEAVY_CHUNK_NAME, "utf8"), join(dirname(process.execPath), HEAVY_CHUNK_NAME));
    // The CJS bundle defines __dirname; the chunk sits next to it in dist/.
    return createRequire(__filename)(join(__dirname, HEAVY_CHUNK_NAME)) as HeavyModules;
  }
  return import("../heavy/index.ts");
}

/** node:module on first use: it pulls in the source-map support, which no light command needs. */
function createRequire(filename: string): NodeJS.Require {
  return process.getBuiltinModule("node:module").createRequire(filename);
}

/** Evaluates a CommonJS chunk with a real require (the SEA main script's own require only sees builtins). */
function evaluateChunk(code: string, filename: string): HeavyModules {
  const module = { exports: {} as HeavyModules };
  const { compileFunction } = process.getBuiltinModule("node:vm");
  const wrapper = compileFunction(code, ["exports", "require", "module", "__filename", "__dirname"], { filename });
  wrapper(module.exports, createRequire(filename), module, filename, dirname(filename));
  return module.exports;
}
