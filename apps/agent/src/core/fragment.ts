import { type HostSpec, renderProcstatFragment, serializeFragment } from "@procwatch/contract";
import { sha256Hex } from "./sha256.ts";

/** The bytes `apply` writes and `health` compares: always produced by the contract's renderer. */
export function renderFragmentText(spec: HostSpec, namespace?: string): string {
  return serializeFragment(renderProcstatFragment(spec, namespace === undefined ? {} : { namespace }));
}

export function fragmentDigest(text: string): string {
  return `sha256:${sha256Hex(text)}`;
}

export type FragmentComparison = "missing" | "matches" | "differs";

/** Digest comparison, so a reformatted but byte-different file counts as a change (the agent re-reads bytes). */
export function compareFragment(desiredText: string, currentText: string | null): FragmentComparison {
  if (currentText === null) return "missing";
  return fragmentDigest(desiredText) === fragmentDigest(currentText) ? "matches" : "differs";
}
