import { translateGoRegexp } from "./go-regexp.ts";

/**
 * The CloudWatch agent compiles `exe` and `pattern` with Go's regexp (RE2 syntax). A regex Go
 * rejects makes the agent emit pid_count 0 *without* the selector dimension, so the alarm silently
 * sees missing data; one that means something else in JavaScript makes `procwatch-agent health`
 * and `restart` count differently from the alarm. Both are refused here: the regex is parsed
 * exactly as Go's regexp/syntax does and translated for JavaScript (see go-regexp.ts), and
 * anything that cannot be translated with the same meaning is refused with the reason.
 */
export function re2Incompatibility(source: string): string | null {
  const translated = translateGoRegexp(source);
  if (translated.ok) return null;
  return translated.kind === "invalid" ? `does not compile as a Go regexp: ${translated.message}` : `is not supported by procwatch: ${translated.message}`;
}

const REGEX_METACHARACTERS = /[\\^$.*+?()[\]{}|]/g;

/** Quotes a literal so it matches itself in both RE2 and JavaScript. */
export function escapeRegexLiteral(literal: string): string {
  return literal.replace(REGEX_METACHARACTERS, "\\$&");
}
