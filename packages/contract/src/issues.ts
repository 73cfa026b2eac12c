/**
 * Validation never stops at the first problem: every parser returns the spec it could build
 * and the full list of problems, each naming where the bad value came from, the value itself
 * (shortened and made printable) and what would have been valid.
 */
export interface SpecIssue {
  /** Stable, machine-readable reason, e.g. `unknown-key`, `bad-process-name`. */
  readonly code: IssueCode;
  /** Where the value came from: a tag key (`procwatch:processes`) or a document path (`profile:web/processes[1].unit`). */
  readonly source: string;
  /** The offending value, printable and at most 80 characters long. */
  readonly value: string;
  /** One sentence: what is wrong. */
  readonly message: string;
  /** What would be valid. */
  readonly expected: string;
}

export type IssueCode =
  | "unknown-key"
  | "bad-enabled-value"
  | "bad-process-name"
  | "duplicate-process"
  | "bad-unit"
  | "bad-match-mode"
  | "bad-option"
  | "missing-option"
  | "bad-path"
  | "bad-pattern"
  | "re2-incompatible"
  | "bad-detection"
  | "bad-profile-name"
  | "too-long"
  | "bad-characters"
  | "empty-process-list"
  | "unlisted-process-options"
  | "bad-document"
  | "profile-missing"
  | "too-many-processes"
  | "bad-dimension-value";

export interface ParseResult<T> {
  readonly spec: T | null;
  readonly issues: readonly SpecIssue[];
}

const MAX_SHOWN_VALUE = 80;

/** Makes any input safe to print on one log line: control characters escaped, length bounded. */
export function printableValue(value: unknown): string {
  const text = typeof value === "string" ? value : (JSON.stringify(value) ?? String(value));
  const escaped = JSON.stringify(text).slice(1, -1);
  if (escaped.length <= MAX_SHOWN_VALUE) return escaped;
  const suffix = `… (${text.length} chars)`;
  return `${escaped.slice(0, MAX_SHOWN_VALUE - suffix.length)}${suffix}`;
}

export function issue(code: IssueCode, source: string, value: unknown, message: string, expected: string): SpecIssue {
  return { code, source, value: printableValue(value), message, expected };
}

/** `source: message (got "value"; expected …)` — the one-line form CLIs and logs print. */
export function formatIssue(found: SpecIssue): string {
  return `${found.source}: ${found.message} (got "${found.value}"; expected ${found.expected})`;
}
