import { fragmentDigest, renderFragmentText } from "../core/fragment.ts";
import type { Wiring } from "../wiring.ts";
import { type Output, printJson } from "./output.ts";
import { loadResolvedSpec, requireResolvedSpec, type SpecFlags } from "./spec-options.ts";

export interface RenderFlags extends SpecFlags {
  readonly json?: boolean;
  readonly namespace?: string;
}

/** Prints the CloudWatch agent fragment for this host's spec; writes nothing. */
export async function runRender(flags: RenderFlags, wiring: Wiring, output: Output): Promise<number> {
  const { spec, source } = requireResolvedSpec(await loadResolvedSpec(flags, wiring), "render");
  const text = renderFragmentText(spec, flags.namespace);
  if (flags.json) {
    printJson(output, {
      ok: true,
      source,
      digest: fragmentDigest(text),
      processes: spec.processes.map((process) => process.name),
      fragment: JSON.parse(text),
    });
  } else {
    output.stdout(text);
  }
  return 0;
}
