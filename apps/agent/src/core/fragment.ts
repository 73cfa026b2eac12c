import { type HostSpec, renderProcstatFragment, serializeFragment } from "@procwatch/contract";
import { sha256Hex } from "./sha256.ts";

/**
 * The bytes `apply` writes and `health` compares: always produced by the contract's renderer from
 * the spec alone. Nothing in the host's other CloudWatch agent fragments changes them (the fragment
 * sets no metrics-level key they may set differently; see the contract's `renderProcstatFragment`).
 */
export function renderFragmentText(spec: HostSpec, namespace?: string): string {
  return serializeFragment(renderProcstatFragment(spec, namespace === undefined ? {} : { namespace }));
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
