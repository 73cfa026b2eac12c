import { AGENT_VERSION } from "../version.ts";
import { type Output, printJson } from "./output.ts";

function runningAsSea(): boolean {
  try {
    // getBuiltinModule works the same from ESM source, the CJS bundle and inside the single binary.
    const sea = process.getBuiltinModule("node:sea") as { isSea?: () => boolean } | undefined;
    return sea?.isSea?.() ?? false;
  } catch {
    return false;
  }
}

export function runVersion(flags: { json?: boolean }, output: Output): number {
  const facts = { version: AGENT_VERSION, node: process.version, platform: process.platform, arch: process.arch, sea: runningAsSea() };
  if (flags.json) printJson(output, facts);
  else output.stdout(`procwatch-agent ${facts.version} (node ${facts.node}, ${facts.platform}-${facts.arch}${facts.sea ? ", single binary" : ""})`);
  return 0;
}
