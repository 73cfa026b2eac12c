import { basename } from "node:path";
import { hostAgentConfigOf } from "../core/cwagent-config.ts";
import { fragmentContextOf, fragmentDigest, renderFragmentText } from "../core/fragment.ts";
import { readOtherFragments } from "../io/cwagent-config-dir.ts";
import type { Wiring } from "../wiring.ts";
import { type Output, printJson } from "./output.ts";
import { loadResolvedSpec, requireResolvedSpec, type SpecFlags } from "./spec-options.ts";

export interface RenderFlags extends SpecFlags {
  readonly json?: boolean;
  readonly namespace?: string;
}

/** Prints the CloudWatch agent fragment for this host's spec; writes nothing. */
export async function runRender(flags: RenderFlags, wiring: Wiring, output: Output): Promise<number> {
  const { spec, source, instance } = requireResolvedSpec(await loadResolvedSpec(flags, wiring), "render");
  // What apply would write on this host: the same inputs, the host's other fragments included.
  const { settings } = wiring;
  const hostConfig = hostAgentConfigOf(settings.cwagentConfigDir, readOtherFragments(settings.cwagentConfigDir, basename(settings.installedFragmentPath)));
  const text = renderFragmentText(spec, fragmentContextOf(flags.namespace, instance?.host, hostConfig));
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
