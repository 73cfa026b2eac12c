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

/**
 * Letter escapes RE2 understands: classes (\d \w \s \pN \p{Greek}), anchors (\A \z \b \B),
 * character codes (\a \f \t \n \r \v \x41 \x{263a}, octal \0..), and quoting (\Q...\E).
 * JavaScript silently accepts others that Go rejects (\e \u0041 \cA \h \k), so this is an
 * allow-list, not a deny-list.
 */
const RE2_LETTER_ESCAPES = new Set([..."dDwWsSbBAzaftnrvxpPQE"]);

function escapeProblem(source: string): string | null {
  for (let index = 0; index < source.length; index++) {
    const char = source[index];
    if (char !== "\\") continue;
    const next = source[index + 1];
    if (next === undefined) return "ends with a lone backslash";
    index += 1;
    if (/[A-Za-z]/.test(next)) {
      if (!RE2_LETTER_ESCAPES.has(next)) return `uses the escape \\${next}, which RE2 does not support`;
      if (next === "Q") {
        // Everything up to \E is literal.
        const end = source.indexOf("\\E", index + 1);
        index = end === -1 ? source.length : end + 1;
      }
    } else if (/[1-9]/.test(next)) {
      return "uses a backreference \\1..\\9, which RE2 does not support";
    }
  }
  return null;
}

/** Returns why `source` cannot be used as an RE2 regexp, or null if it can. */
export function re2Incompatibility(source: string): string | null {
  // Strip escaped backslashes first so `\\1` (a literal backslash then 1) is not read as a backreference.
  const withoutEscapedBackslashes = source.replaceAll("\\\\", "");
  for (const { construct, name } of RE2_UNSUPPORTED) {
    if (construct.test(withoutEscapedBackslashes)) return `uses ${name}, which RE2 does not support`;
  }
  const badEscape = escapeProblem(source);
  if (badEscape !== null) return badEscape;
  // `[]` and `[^]` are an empty class and "any character" in JavaScript, syntax errors in RE2.
  if (/(^|[^\\])\[\^?\]/.test(withoutEscapedBackslashes)) return "uses [] or [^], which RE2 does not accept";
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
