import { type HostSpec, type MetricHost, renderProcstatFragment, serializeFragment } from "@procwatch/contract";
import type { HostAgentConfig } from "./cwagent-config.ts";
import { sha256Hex } from "./sha256.ts";

/**
 * Everything besides the spec that the fragment's bytes depend on. `apply` writes, and `health`
 * and `render` reproduce, the same bytes from the same inputs: the spec, `--namespace`, the
 * instance when the spec came from its tags (literal host dimensions; else the placeholders), and
 * whether another file in `amazon-cloudwatch-agent.d/` already sets `metrics.append_dimensions`
 * (then procwatch's fragment leaves that key to it; see the contract's `renderProcstatFragment`).
 */
export interface FragmentContext {
  readonly namespace?: string;
  readonly host?: MetricHost;
  readonly otherFragmentsSetAppendDimensions?: boolean;
}

/** The context of the commands that render: `--namespace`, the instance the tags came from, the host's other fragments. */
export function fragmentContextOf(namespace: string | undefined, host: MetricHost | undefined, hostConfig: HostAgentConfig): FragmentContext {
  return {
    ...(namespace === undefined ? {} : { namespace }),
    ...(host === undefined ? {} : { host }),
    otherFragmentsSetAppendDimensions: hostConfig.appendDimensions !== undefined,
  };
}

/** The bytes `apply` writes and `health` compares: always produced by the contract's renderer. */
export function renderFragmentText(spec: HostSpec, context: FragmentContext = {}): string {
  return serializeFragment(renderProcstatFragment(spec, context));
}

export function fragmentDigest(text: string): string {
  return `sha256:${sha256Hex(text)}`;
}

export type FragmentComparison = "missing" | "matches" | "differs";

/** Byte comparison, so a reformatted but byte-different file counts as a change (the agent re-reads bytes). */
export function compareFragment(desiredText: string, currentText: string | null): FragmentComparison {
  if (currentText === null) return "missing";
  return desiredText === currentText ? "matches" : "differs";
}

export type ReloadReason = "fragment-changed" | "installed-copy-missing" | "installed-copy-differs" | "last-reload-unconfirmed";

/**
 * Why `apply` must run append-config, or null when the CloudWatch agent already loads exactly
 * this fragment: the staged file changed; the copy the agent loads (installed by append-config)
 * is gone — `fetch-config` wipes it — or differs; or no allow-list records this digest, which
 * `apply` writes only after a successful reload.
 */
export function reloadReasonFor(input: {
  readonly staged: FragmentComparison;
  readonly installed: FragmentComparison;
  readonly digest: string;
  readonly recordedDigest: string | null;
}): ReloadReason | null {
  if (input.staged !== "matches") return "fragment-changed";
  if (input.installed === "missing") return "installed-copy-missing";
  if (input.installed === "differs") return "installed-copy-differs";
  if (input.recordedDigest !== input.digest) return "last-reload-unconfirmed";
  return null;
}
