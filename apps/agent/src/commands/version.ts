import { AGENT_VERSION } from "../version.ts";
import { type Output, printJson } from "./output.ts";

function runningAsSea(): boolean {
  try {
    // node:sea exists from Node 20.12; `require` is what the CJS bundle provides.
    const sea = (globalThis as { require?: NodeJS.Require }).require?.("node:sea") as { isSea?: () => boolean } | undefined;
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
