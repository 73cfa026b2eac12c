/**
 * The CloudWatch agent compiles `exe` and `pattern` with Go's RE2 engine. RE2 rejects some
 * constructs JavaScript accepts, and a rejected regex makes the agent emit pid_count 0
 * *without* the selector dimension, so the alarm silently sees missing data. Catch them here.
 */
const RE2_UNSUPPORTED: ReadonlyArray<{ construct: RegExp; name: string }> = [
  { construct: /\(\?[=!]/, name: "lookahead (?= / (?!" },
  { construct: /\(\?<[=!]/, name: "lookbehind (?<= / (?<!" },
  { construct: /\(\?>/, name: "atomic group (?>" },
  { construct: /\(\?\(/, name: "conditional (?(" },
  { construct: /\\[1-9]/, name: "backreference \\1..\\9" },
  { construct: /\\k</, name: "named backreference \\k<" },
  { construct: /[*+?}][+]/, name: "possessive quantifier" },
  { construct: /\\[GZ]/, name: "\\G or \\Z anchor" },
];

const MAX_RE2_REPEAT = 1000;

/** Returns why `source` cannot be used as an RE2 regexp, or null if it can. */
export function re2Incompatibility(source: string): string | null {
  // Strip escaped backslashes first so `\\1` (a literal backslash then 1) is not read as a backreference.
  const withoutEscapedBackslashes = source.replaceAll("\\\\", "");
  for (const { construct, name } of RE2_UNSUPPORTED) {
    if (construct.test(withoutEscapedBackslashes)) return `uses ${name}, which RE2 does not support`;
  }
  for (const match of withoutEscapedBackslashes.matchAll(/\{(\d+)(?:,(\d*))?\}/g)) {
    const bounds = [match[1], match[2]].filter((bound): bound is string => bound !== undefined && bound !== "");
    if (bounds.some((bound) => Number(bound) > MAX_RE2_REPEAT)) return `repeat count over ${MAX_RE2_REPEAT}`;
  }
  try {
    new RegExp(source);
  } catch (error) {
    return `does not compile: ${(error as Error).message}`;
  }
  return null;
}

const REGEX_METACHARACTERS = /[\\^$.*+?()[\]{}|]/g;

/** Quotes a literal so it matches itself in both RE2 and JavaScript. */
export function escapeRegexLiteral(literal: string): string {
  return literal.replace(REGEX_METACHARACTERS, "\\$&");
}
