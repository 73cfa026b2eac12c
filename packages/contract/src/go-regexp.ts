/**
 * Go's regexp syntax (what the CloudWatch agent compiles `exe` and `pattern` with:
 * `regexp.Compile`, i.e. RE2 syntax with Perl flags) parsed exactly as Go's regexp/syntax
 * parser does, and translated into a JavaScript RegExp (`u` flag) that matches the same strings.
 * Only "does it match anywhere" matters (procstat calls MatchString), so greediness and capture
 * groups are dropped. What JavaScript cannot express with the same meaning is refused with a
 * reason ("unsupported"); what Go rejects is refused with Go's own error ("invalid").
 *
 * The parse follows go/src/regexp/syntax/parse.go (Go 1.19) step by step: the same tokens, the
 * same error codes, the same quirks (`{` that is not a repeat is a literal, `]` first in a class is
 * a literal, `\8` is an error but `\12` is octal, `a**` is an error but `a*(?i)*` is not).
 * Semantics JavaScript spells differently are emitted explicitly:
 *   - `.` is [^\n] (JavaScript's `.` also stops at \r, U+2028, U+2029), or any code point with (?s);
 *   - `\s` is [\t\n\f\r ], `\d` [0-9], `\w` [0-9A-Za-z_]: always as explicit ranges;
 *   - `^`/`$` are text anchors, and with (?m) line anchors that only know \n (lookarounds);
 *   - (?i) folds ASCII letters as Go's simple folding does (k also matches U+212A KELVIN SIGN,
 *     s matches U+017F LONG S), class by class, so a flag can change mid-expression;
 *   - `\pL`, `\p{Greek}` become \p{L}, \p{Script=Greek} (Go 1.19's names only; `C` is Cc|Cf|Co|Cs).
 * Refused as unsupported: (?i) together with non-ASCII characters or \p classes (Go folds them
 * with Unicode tables JavaScript does not expose), `(?<name>…)` (accepted only by Go 1.22 and
 * later, so older agents fail on it), and nested unbounded repetition like `(a+)+` (JavaScript
 * backtracks, RE2 does not: such a regex could take exponential time on a long command line).
 */

export type GoRegexpCompilation =
  | { readonly ok: true; readonly source: string }
  | { readonly ok: false; readonly kind: "invalid" | "unsupported"; readonly message: string };

/** Go 1.19's unicode.Categories (the CloudWatch agent accepts these names in \p{…}). */
const GO_CATEGORIES = new Set("C Cc Cf Co Cs L Ll Lm Lo Lt Lu M Mc Me Mn N Nd Nl No P Pc Pd Pe Pf Pi Po Ps S Sc Sk Sm So Z Zl Zp Zs".split(" "));

/** Go 1.19's unicode.Scripts (Unicode 13.0). Newer scripts are refused, as older agents refuse them. */
const GO_SCRIPTS = new Set(
  (
    "Adlam Ahom Anatolian_Hieroglyphs Arabic Armenian Avestan Balinese Bamum Bassa_Vah Batak Bengali Bhaiksuki Bopomofo Brahmi " +
    "Braille Buginese Buhid Canadian_Aboriginal Carian Caucasian_Albanian Chakma Cham Cherokee Chorasmian Common Coptic Cuneiform " +
    "Cypriot Cyrillic Deseret Devanagari Dives_Akuru Dogra Duployan Egyptian_Hieroglyphs Elbasan Elymaic Ethiopic Georgian " +
    "Glagolitic Gothic Grantha Greek Gujarati Gunjala_Gondi Gurmukhi Han Hangul Hanifi_Rohingya Hanunoo Hatran Hebrew Hiragana " +
    "Imperial_Aramaic Inherited Inscriptional_Pahlavi Inscriptional_Parthian Javanese Kaithi Kannada Katakana Kayah_Li Kharoshthi " +
    "Khitan_Small_Script Khmer Khojki Khudawadi Lao Latin Lepcha Limbu Linear_A Linear_B Lisu Lycian Lydian Mahajani Makasar " +
    "Malayalam Mandaic Manichaean Marchen Masaram_Gondi Medefaidrin Meetei_Mayek Mende_Kikakui Meroitic_Cursive " +
    "Meroitic_Hieroglyphs Miao Modi Mongolian Mro Multani Myanmar Nabataean Nandinagari New_Tai_Lue Newa Nko Nushu " +
    "Nyiakeng_Puachue_Hmong Ogham Ol_Chiki Old_Hungarian Old_Italic Old_North_Arabian Old_Permic Old_Persian Old_Sogdian " +
    "Old_South_Arabian Old_Turkic Oriya Osage Osmanya Pahawh_Hmong Palmyrene Pau_Cin_Hau Phags_Pa Phoenician Psalter_Pahlavi " +
    "Rejang Runic Samaritan Saurashtra Sharada Shavian Siddham SignWriting Sinhala Sogdian Sora_Sompeng Soyombo Sundanese " +
    "Syloti_Nagri Syriac Tagalog Tagbanwa Tai_Le Tai_Tham Tai_Viet Takri Tamil Tangut Telugu Thaana Thai Tibetan Tifinagh " +
    "Tirhuta Ugaritic Vai Wancho Warang_Citi Yezidi Yi Zanabazar_Square"
  ).split(" "),
);

const MAX_RUNE = 0x10ffff;
const MAX_REPEAT = 1000;

type Range = readonly [number, number];

interface UnicodeProperty {
  /** JavaScript's spelling, e.g. `L`, `Script=Greek`, or several for Go's `C`. */
  readonly js: readonly string[];
  readonly negated: boolean;
}

/** A set of code points: explicit ranges plus Unicode properties, optionally negated as a whole. */
interface CharSet {
  readonly ranges: Range[];
  readonly properties: UnicodeProperty[];
  readonly negated: boolean;
}

type Node =
  | { readonly type: "set"; readonly set: CharSet }
  | { readonly type: "assert"; readonly kind: "begin-text" | "end-text" | "begin-line" | "end-line" | "word-boundary" | "no-word-boundary" }
  | { readonly type: "concat"; readonly items: Node[] }
  | { readonly type: "alternate"; readonly alternatives: Node[] }
  | { readonly type: "repeat"; readonly op: "*" | "+" | "?" | "{}"; readonly min: number; readonly max: number; readonly sub: Node };

interface Flags {
  readonly foldCase: boolean;
  /** Go's OneLine cleared: ^ and $ match at line boundaries. */
  readonly multiLine: boolean;
  readonly dotNL: boolean;
}

class GoSyntaxError extends Error {
  constructor(
    readonly kind: "invalid" | "unsupported",
    message: string,
  ) {
    super(message);
  }
}

const invalid = (code: string, expr: string, note?: string) => new GoSyntaxError("invalid", `${code}: \`${expr}\`${note === undefined ? "" : ` (${note})`}`);
const unsupported = (message: string) => new GoSyntaxError("unsupported", message);

const PERL_GROUPS: Readonly<Record<string, { sign: 1 | -1; ranges: Range[] }>> = {
  "\\d": { sign: 1, ranges: [[0x30, 0x39]] },
  "\\D": { sign: -1, ranges: [[0x30, 0x39]] },
  "\\s": {
    sign: 1,
    ranges: [
      [0x09, 0x0a],
      [0x0c, 0x0d],
      [0x20, 0x20],
    ],
  },
  "\\S": {
    sign: -1,
    ranges: [
      [0x09, 0x0a],
      [0x0c, 0x0d],
      [0x20, 0x20],
    ],
  },
  "\\w": {
    sign: 1,
    ranges: [
      [0x30, 0x39],
      [0x41, 0x5a],
      [0x5f, 0x5f],
      [0x61, 0x7a],
    ],
  },
  "\\W": {
    sign: -1,
    ranges: [
      [0x30, 0x39],
      [0x41, 0x5a],
      [0x5f, 0x5f],
      [0x61, 0x7a],
    ],
  },
};

const POSIX_CLASSES: Readonly<Record<string, Range[]>> = {
  alnum: [
    [0x30, 0x39],
    [0x41, 0x5a],
    [0x61, 0x7a],
  ],
  alpha: [
    [0x41, 0x5a],
    [0x61, 0x7a],
  ],
  ascii: [[0x00, 0x7f]],
  blank: [
    [0x09, 0x09],
    [0x20, 0x20],
  ],
  cntrl: [
    [0x00, 0x1f],
    [0x7f, 0x7f],
  ],
  digit: [[0x30, 0x39]],
  graph: [[0x21, 0x7e]],
  lower: [[0x61, 0x7a]],
  print: [[0x20, 0x7e]],
  punct: [
    [0x21, 0x2f],
    [0x3a, 0x40],
    [0x5b, 0x60],
    [0x7b, 0x7e],
  ],
  space: [
    [0x09, 0x0d],
    [0x20, 0x20],
  ],
  upper: [[0x41, 0x5a]],
  word: [
    [0x30, 0x39],
    [0x41, 0x5a],
    [0x5f, 0x5f],
    [0x61, 0x7a],
  ],
  xdigit: [
    [0x30, 0x39],
    [0x41, 0x46],
    [0x61, 0x66],
  ],
};

function cleanRanges(ranges: readonly Range[]): Range[] {
  const sorted = [...ranges].sort((a, b) => a[0] - b[0] || b[1] - a[1]);
  const out: [number, number][] = [];
  for (const [lo, hi] of sorted) {
    const last = out.at(-1);
    if (last !== undefined && lo <= last[1] + 1) last[1] = Math.max(last[1], hi);
    else out.push([lo, hi]);
  }
  return out;
}

function negateRanges(ranges: readonly Range[]): Range[] {
  const out: Range[] = [];
  let next = 0;
  for (const [lo, hi] of cleanRanges(ranges)) {
    if (lo > next) out.push([next, lo - 1]);
    next = hi + 1;
  }
  if (next <= MAX_RUNE) out.push([next, MAX_RUNE]);
  return out;
}

/**
 * Go's simple case folding for ASCII: each letter with its other case, plus the two non-ASCII
 * runes whose fold orbit reaches ASCII (K ↔ k ↔ U+212A KELVIN SIGN, S ↔ s ↔ U+017F LONG S).
 */
function foldAsciiRange(lo: number, hi: number): Range[] {
  const out: Range[] = [[lo, hi]];
  for (let code = Math.max(lo, 0x41); code <= Math.min(hi, 0x7a); code++) {
    const isUpper = code >= 0x41 && code <= 0x5a;
    const isLower = code >= 0x61 && code <= 0x7a;
    if (!isUpper && !isLower) continue;
    const other = isUpper ? code + 0x20 : code - 0x20;
    out.push([other, other]);
    const lower = isUpper ? other : code;
    if (lower === 0x6b) out.push([0x212a, 0x212a]);
    if (lower === 0x73) out.push([0x17f, 0x17f]);
  }
  return out;
}

class Parser {
  private flags: Flags = { foldCase: false, multiLine: false, dotNL: false };
  /** One frame per open group: its alternatives so far, the concatenation being built, the flags to restore. */
  private frames: { alternatives: Node[]; items: Node[]; savedFlags: Flags; isGroup: boolean }[] = [];

  constructor(private readonly whole: string) {}

  parse(): Node {
    this.frames.push({ alternatives: [], items: [], savedFlags: this.flags, isGroup: false });
    let t = this.whole;
    let lastRepeat = "";
    while (t !== "") {
      let repeat = "";
      const c = t[0] as string;
      switch (c) {
        case "(":
          if (t.length >= 2 && t[1] === "?") {
            t = this.parsePerlFlags(t);
            break;
          }
          this.openGroup();
          t = t.slice(1);
          break;
        case "|":
          this.current().alternatives.push(this.concatOf(this.current().items));
          this.current().items = [];
          t = t.slice(1);
          break;
        case ")":
          this.closeGroup();
          t = t.slice(1);
          break;
        case "^":
          this.push({ type: "assert", kind: this.flags.multiLine ? "begin-line" : "begin-text" });
          t = t.slice(1);
          break;
        case "$":
          this.push({ type: "assert", kind: this.flags.multiLine ? "end-line" : "end-text" });
          t = t.slice(1);
          break;
        case ".":
          this.push({
            type: "set",
            set: this.flags.dotNL
              ? { ranges: [[0, MAX_RUNE]], properties: [], negated: false }
              : { ranges: negateRanges([[0x0a, 0x0a]]), properties: [], negated: false },
          });
          t = t.slice(1);
          break;
        case "[":
          t = this.parseClass(t);
          break;
        case "*":
        case "+":
        case "?": {
          const after = this.repeat(c, 0, 0, t, t.slice(1), lastRepeat);
          repeat = t;
          t = after;
          break;
        }
        case "{": {
          const parsed = parseRepeat(t);
          if (parsed === null) {
            this.literal(0x7b);
            t = t.slice(1);
            break;
          }
          const { min, max, rest } = parsed;
          if (min < 0 || min > MAX_REPEAT || max > MAX_REPEAT || (max >= 0 && min > max)) {
            throw invalid("invalid repeat count", t.slice(0, t.length - rest.length), `at most ${MAX_REPEAT}`);
          }
          const after = this.repeat("{}", min, max, t, rest, lastRepeat);
          repeat = t;
          t = after;
          break;
        }
        case "\\":
          t = this.parseBackslash(t);
          break;
        default: {
          const code = t.codePointAt(0) as number;
          if (code >= 0xd800 && code <= 0xdfff) throw invalid("invalid UTF-8", t.slice(0, 1));
          this.literal(code);
          t = t.slice(code > 0xffff ? 2 : 1);
        }
      }
      lastRepeat = repeat;
    }
    if (this.frames.length !== 1) throw invalid("missing closing )", this.whole);
    const root = this.frames[0] as { alternatives: Node[]; items: Node[] };
    return this.alternateOf([...root.alternatives, this.concatOf(root.items)]);
  }

  private current() {
    return this.frames[this.frames.length - 1] as { alternatives: Node[]; items: Node[]; savedFlags: Flags; isGroup: boolean };
  }

  private push(node: Node): void {
    this.current().items.push(node);
  }

  private literal(code: number): void {
    this.push({ type: "set", set: this.rangeSet([[code, code]]) });
  }

  /** A positive set from ranges, folded when (?i) is on. */
  private rangeSet(ranges: readonly Range[]): CharSet {
    return { ranges: cleanRanges(this.flags.foldCase ? ranges.flatMap(([lo, hi]) => this.foldRange(lo, hi)) : ranges), properties: [], negated: false };
  }

  private foldRange(lo: number, hi: number): Range[] {
    if (hi > 0x7f) {
      throw unsupported(
        `(?i) with the non-ASCII character U+${hi.toString(16).toUpperCase().padStart(4, "0")} is not supported (Go folds it with Unicode tables); write both cases out, e.g. [éÉ]`,
      );
    }
    return foldAsciiRange(lo, hi);
  }

  private openGroup(): void {
    this.frames.push({ alternatives: [], items: [], savedFlags: this.flags, isGroup: true });
  }

  private closeGroup(): void {
    const frame = this.current();
    if (!frame.isGroup) throw invalid("unexpected )", this.whole);
    this.frames.pop();
    this.flags = frame.savedFlags;
    this.push(this.alternateOf([...frame.alternatives, this.concatOf(frame.items)]));
  }

  private concatOf(items: Node[]): Node {
    return items.length === 1 ? (items[0] as Node) : { type: "concat", items };
  }

  private alternateOf(alternatives: Node[]): Node {
    return alternatives.length === 1 ? (alternatives[0] as Node) : { type: "alternate", alternatives };
  }

  /** Go's parser.repeat: `before` starts at the operator, `after` follows it. */
  private repeat(op: "*" | "+" | "?" | "{}", min: number, max: number, before: string, after: string, lastRepeat: string): string {
    let rest = after;
    if (rest.startsWith("?")) rest = rest.slice(1); // non-greedy: irrelevant to whether it matches
    if (lastRepeat !== "") {
      const operator = lastRepeat.slice(0, lastRepeat.length - rest.length);
      throw invalid(
        "invalid nested repetition operator",
        operator,
        operator.endsWith("+") ? "uses a possessive quantifier, which RE2 does not support" : undefined,
      );
    }
    const items = this.current().items;
    const sub = items.pop();
    if (sub === undefined) throw invalid("missing argument to repetition operator", before.slice(0, before.length - rest.length));
    const node: Node = { type: "repeat", op, min, max: op === "*" || op === "+" ? -1 : op === "?" ? 1 : max, sub };
    if (op === "{}" && (min >= 2 || max >= 2) && !repeatIsValid(node, MAX_REPEAT)) {
      throw invalid("invalid repeat count", before.slice(0, before.length - rest.length), `nested repetition over ${MAX_REPEAT} copies`);
    }
    items.push(node);
    return rest;
  }

  private parsePerlFlags(s: string): string {
    let t = s;
    if (t.length > 4 && t[2] === "P" && t[3] === "<") {
      const end = t.indexOf(">");
      if (end < 0) throw invalid("invalid named capture", s);
      const name = t.slice(4, end);
      if (!/^[A-Za-z0-9_]+$/.test(name)) throw invalid("invalid named capture", t.slice(0, end + 1));
      this.openGroup();
      return t.slice(end + 1);
    }
    if (/^\(\?<[A-Za-z0-9_]+>/.test(t)) {
      throw unsupported("named groups written (?<name>…) are accepted only by Go 1.22 and later (older CloudWatch agents reject them); write (?P<name>…)");
    }
    t = t.slice(2);
    let flags = { ...this.flags };
    let sign = 1;
    let sawFlag = false;
    while (t !== "") {
      const c = t[0] as string;
      t = t.slice(1);
      const set = (key: "foldCase" | "multiLine" | "dotNL", on: boolean) => {
        flags = { ...flags, [key]: sign > 0 ? on : !on };
        sawFlag = true;
      };
      if (c === "i") set("foldCase", true);
      else if (c === "m") set("multiLine", true);
      else if (c === "s") set("dotNL", true);
      else if (c === "U")
        sawFlag = true; // non-greedy by default: irrelevant to whether it matches
      else if (c === "-") {
        if (sign < 0) break;
        sign = -1;
        sawFlag = false;
      } else if (c === ":" || c === ")") {
        if (sign < 0 && !sawFlag) break;
        if (c === ":") this.openGroup();
        this.flags = flags;
        return t;
      } else break;
    }
    const expr = s.slice(0, s.length - t.length);
    throw invalid("invalid or unsupported Perl syntax", expr, perlSyntaxNote(s));
  }

  private parseBackslash(t: string): string {
    if (t.length >= 2) {
      switch (t[1]) {
        case "A":
          this.push({ type: "assert", kind: "begin-text" });
          return t.slice(2);
        case "b":
          this.push({ type: "assert", kind: "word-boundary" });
          return t.slice(2);
        case "B":
          this.push({ type: "assert", kind: "no-word-boundary" });
          return t.slice(2);
        case "C":
          throw invalid("invalid escape sequence", "\\C", "\\C (any byte) is not supported");
        case "Q": {
          const end = t.indexOf("\\E", 2);
          const literal = end < 0 ? t.slice(2) : t.slice(2, end);
          for (const char of literal) {
            const code = char.codePointAt(0) as number;
            if (code >= 0xd800 && code <= 0xdfff) throw invalid("invalid UTF-8", char);
            this.literal(code);
          }
          return end < 0 ? "" : t.slice(end + 2);
        }
        case "z":
          this.push({ type: "assert", kind: "end-text" });
          return t.slice(2);
      }
    }
    if (t.length >= 2 && (t[1] === "p" || t[1] === "P")) {
      const parsed = this.parseUnicodeClass(t);
      this.push({ type: "set", set: { ranges: [], properties: [parsed.property], negated: false } });
      return parsed.rest;
    }
    const perl = PERL_GROUPS[t.slice(0, 2)];
    if (perl !== undefined) {
      this.push({ type: "set", set: { ranges: this.groupRanges(perl.sign, perl.ranges), properties: [], negated: false } });
      return t.slice(2);
    }
    const escaped = parseEscape(t);
    this.literal(escaped.code);
    return escaped.rest;
  }

  /** Go's appendGroup: fold the group's ranges first when (?i) is on, then negate. */
  private groupRanges(sign: 1 | -1, ranges: readonly Range[]): Range[] {
    const folded = this.flags.foldCase ? cleanRanges(ranges.flatMap(([lo, hi]) => foldAsciiRange(lo, hi))) : cleanRanges(ranges);
    return sign < 0 ? negateRanges(folded) : folded;
  }

  private parseUnicodeClass(s: string): { property: UnicodeProperty; rest: string } {
    let negated = s[1] === "P";
    let name: string;
    let seq: string;
    let rest: string;
    if (s[2] === undefined) throw invalid("invalid character class range", s.slice(0, 2));
    if (s[2] !== "{") {
      const code = s.codePointAt(2) as number;
      const width = code > 0xffff ? 2 : 1;
      seq = s.slice(0, 2 + width);
      name = seq.slice(2);
      rest = s.slice(2 + width);
    } else {
      const end = s.indexOf("}");
      if (end < 0) throw invalid("invalid character class range", s);
      seq = s.slice(0, end + 1);
      name = s.slice(3, end);
      rest = s.slice(end + 1);
    }
    if (name.startsWith("^")) {
      negated = !negated;
      name = name.slice(1);
    }
    let js: string[];
    if (name === "Any") js = ["Any"];
    else if (name === "C") js = ["Cc", "Cf", "Co", "Cs"];
    else if (GO_CATEGORIES.has(name)) js = [name];
    else if (GO_SCRIPTS.has(name)) js = [`Script=${name}`];
    else throw invalid("invalid character class range", seq, `${name} is not a Unicode category or script Go knows`);
    if (this.flags.foldCase)
      throw unsupported(`(?i) with the Unicode class ${seq} is not supported (Go folds it with Unicode tables); drop (?i) for that part`);
    return { property: { js, negated }, rest };
  }

  private parseClass(s: string): string {
    let t = s.slice(1);
    let negated = false;
    if (t.startsWith("^")) {
      negated = true;
      t = t.slice(1);
    }
    const ranges: Range[] = [];
    const properties: UnicodeProperty[] = [];
    let first = true;
    while (t === "" || t[0] !== "]" || first) {
      if (t === "") {
        const note = /^\[\^?\]/.test(s) ? "uses [] or [^], which RE2 does not accept: a ] right after [ or [^ is a literal" : undefined;
        throw invalid("missing closing ]", s, note);
      }
      first = false;
      if (t.length > 2 && t[0] === "[" && t[1] === ":") {
        const end = t.indexOf(":]", 2);
        if (end >= 0) {
          const name = t.slice(2, end);
          const negatedPosix = name.startsWith("^");
          const posix = POSIX_CLASSES[negatedPosix ? name.slice(1) : name];
          if (posix === undefined) throw invalid("invalid character class range", t.slice(0, end + 2));
          ranges.push(...this.groupRanges(negatedPosix ? -1 : 1, posix));
          t = t.slice(end + 2);
          continue;
        }
      }
      if (t.length >= 2 && t[0] === "\\" && (t[1] === "p" || t[1] === "P")) {
        const parsed = this.parseUnicodeClass(t);
        properties.push(parsed.property);
        t = parsed.rest;
        continue;
      }
      const perl = PERL_GROUPS[t.slice(0, 2)];
      if (perl !== undefined) {
        ranges.push(...this.groupRanges(perl.sign, perl.ranges));
        t = t.slice(2);
        continue;
      }
      const rangeStart = t;
      const low = parseClassChar(t, s);
      let high = low;
      t = low.rest;
      if (t.length >= 2 && t[0] === "-" && t[1] !== "]") {
        high = parseClassChar(t.slice(1), s);
        t = high.rest;
        if (high.code < low.code) throw invalid("invalid character class range", rangeStart.slice(0, rangeStart.length - t.length));
      }
      ranges.push(...(this.flags.foldCase ? this.foldRange(low.code, high.code) : [[low.code, high.code] as Range]));
    }
    this.push({ type: "set", set: { ranges: cleanRanges(ranges), properties, negated } });
    return t.slice(1);
  }
}

function perlSyntaxNote(expr: string): string | undefined {
  if (expr.startsWith("(?=") || expr.startsWith("(?!")) return "uses lookahead (?= / (?!, which RE2 does not support";
  if (expr.startsWith("(?<=") || expr.startsWith("(?<!")) return "uses lookbehind (?<= / (?<!, which RE2 does not support";
  if (expr.startsWith("(?>")) return "uses an atomic group (?>, which RE2 does not support";
  if (expr.startsWith("(?(")) return "uses a conditional (?(, which RE2 does not support";
  return undefined;
}

/** Go's parseRepeat: `{n}`, `{n,}`, `{n,m}` without leading zeros; null when `{` starts no repeat (then it is a literal). */
function parseRepeat(s: string): { min: number; max: number; rest: string } | null {
  const match = /^\{(0|[1-9][0-9]*)(?:(,)(0|[1-9][0-9]*)?)?\}/.exec(s);
  if (match === null) return null;
  const toInt = (digits: string) => (digits.length > 8 ? -1 : Number(digits));
  let min = toInt(match[1] as string);
  let max = match[2] === undefined ? min : match[3] === undefined ? -1 : toInt(match[3]);
  if (match[3] !== undefined && max < 0) min = -1;
  if (match[2] === undefined && min < 0) max = -1;
  return { min, max, rest: s.slice(match[0].length) };
}

/** Go's repeatIsValid: nested {n,m} repetitions may not multiply past 1000 copies. */
function repeatIsValid(node: Node, limit: number): boolean {
  let n = limit;
  if (node.type === "repeat" && node.op === "{}") {
    let m = node.max;
    if (m === 0) return true;
    if (m < 0) m = node.min;
    if (m > n) return false;
    if (m > 0) n = Math.floor(n / m);
  }
  const children = node.type === "repeat" ? [node.sub] : node.type === "concat" ? node.items : node.type === "alternate" ? node.alternatives : [];
  return children.every((child) => repeatIsValid(child, n));
}

function isAlnum(char: string): boolean {
  return /^[0-9A-Za-z]$/.test(char);
}

/** Go's parseEscape: the rune an escape denotes, or Go's error. */
function parseEscape(s: string): { code: number; rest: string } {
  const t = s.slice(1);
  if (t === "") throw invalid("trailing backslash at end of expression", "", "ends with a lone backslash");
  const code = t.codePointAt(0) as number;
  const c = String.fromCodePoint(code);
  let rest = t.slice(c.length);
  const bad = (note?: string) => invalid("invalid escape sequence", s.slice(0, s.length - rest.length), note);
  if (code < 0x80 && !isAlnum(c)) return { code, rest };
  if (c >= "1" && c <= "7" && !(rest[0] !== undefined && rest[0] >= "0" && rest[0] <= "7")) {
    throw bad("uses a backreference \\1..\\9, which RE2 does not support");
  }
  if (c >= "0" && c <= "7") {
    let value = code - 0x30;
    for (let index = 1; index < 3 && rest[0] !== undefined && rest[0] >= "0" && rest[0] <= "7"; index++) {
      value = value * 8 + (rest.charCodeAt(0) - 0x30);
      rest = rest.slice(1);
    }
    return { code: value, rest };
  }
  switch (c) {
    case "x": {
      if (rest === "") throw bad();
      if (rest[0] === "{") {
        const end = rest.indexOf("}");
        const digits = end < 0 ? "" : rest.slice(1, end);
        if (end < 0 || !/^[0-9A-Fa-f]+$/.test(digits)) {
          rest = end < 0 ? "" : rest.slice(end + 1);
          throw bad();
        }
        const value = Number.parseInt(digits, 16);
        rest = rest.slice(end + 1);
        if (value > MAX_RUNE) throw bad();
        return { code: value, rest };
      }
      const digits = rest.slice(0, 2);
      rest = rest.slice(Math.min(2, rest.length));
      if (!/^[0-9A-Fa-f]{2}$/.test(digits)) throw bad();
      return { code: Number.parseInt(digits, 16), rest };
    }
    case "a":
      return { code: 0x07, rest };
    case "f":
      return { code: 0x0c, rest };
    case "n":
      return { code: 0x0a, rest };
    case "r":
      return { code: 0x0d, rest };
    case "t":
      return { code: 0x09, rest };
    case "v":
      return { code: 0x0b, rest };
    case "8":
    case "9":
      throw bad("uses a backreference \\1..\\9, which RE2 does not support");
    case "k":
      throw bad("uses a named backreference \\k<…>, which RE2 does not support");
    case "G":
    case "Z":
      throw bad("uses the \\G or \\Z anchor, which RE2 does not support");
  }
  throw bad(`uses the escape \\${c}, which RE2 does not support`);
}

function parseClassChar(s: string, wholeClass: string): { code: number; rest: string } {
  if (s === "") throw invalid("missing closing ]", wholeClass);
  if (s[0] === "\\") return parseEscape(s);
  const code = s.codePointAt(0) as number;
  if (code >= 0xd800 && code <= 0xdfff) throw invalid("invalid UTF-8", s.slice(0, 1));
  return { code, rest: s.slice(code > 0xffff ? 2 : 1) };
}

/** A code point as a JavaScript `u`-mode class atom or literal: plain for letters and digits, else `\u{…}`. */
function atom(code: number): string {
  const char = String.fromCodePoint(code);
  return isAlnum(char) || char === "_" ? char : `\\u{${code.toString(16)}}`;
}

function emitSet(set: CharSet): string {
  if (set.properties.length === 0 && !set.negated && set.ranges.length === 1) {
    const [lo, hi] = set.ranges[0] as Range;
    if (lo === hi) return atom(lo);
  }
  if (set.properties.length === 0 && set.ranges.length === 0) return set.negated ? "[\\u{0}-\\u{10ffff}]" : "[]";
  const ranges = set.ranges.map(([lo, hi]) => (lo === hi ? atom(lo) : `${atom(lo)}-${atom(hi)}`)).join("");
  const properties = set.properties
    .map((property) => {
      if (property.js[0] === "Any") return property.negated ? "" : "\\u{0}-\\u{10ffff}";
      return property.js.map((name) => `\\${property.negated && property.js.length === 1 ? "P" : "p"}{${name}}`).join("");
    })
    .join("");
  // A negated multi-name property (\P{C}) has no single JavaScript spelling inside a class.
  if (set.properties.some((property) => property.negated && property.js.length > 1)) {
    const positive = set.properties.find((property) => property.negated && property.js.length > 1) as UnicodeProperty;
    if (set.properties.length === 1 && set.ranges.length === 0) {
      return `[${set.negated ? "" : "^"}${positive.js.map((name) => `\\p{${name}}`).join("")}]`;
    }
    throw unsupported("\\P{C} combined with other class items is not supported; list Cc, Cf, Co, Cs instead");
  }
  return `[${set.negated ? "^" : ""}${ranges}${properties}]`;
}

function emit(node: Node): string {
  switch (node.type) {
    case "set":
      return emitSet(node.set);
    case "assert":
      switch (node.kind) {
        case "begin-text":
          return "^";
        case "end-text":
          return "$";
        // Go's multi-line anchors know only \n as a line end; JavaScript's m flag also stops at \r, U+2028, U+2029.
        case "begin-line":
          return "(?<![^\\n])";
        case "end-line":
          return "(?![^\\n])";
        case "word-boundary":
          return "\\b";
        case "no-word-boundary":
          return "\\B";
      }
      break;
    case "concat":
      return node.items.length === 0 ? "(?:)" : node.items.map(emitAtom).join("");
    case "alternate":
      return node.alternatives.map(emit).join("|");
    case "repeat": {
      const sub = `(?:${emit(node.sub)})`;
      if (node.op === "*" || node.op === "+" || node.op === "?") return `${sub}${node.op}`;
      return node.max === node.min ? `${sub}{${node.min}}` : node.max < 0 ? `${sub}{${node.min},}` : `${sub}{${node.min},${node.max}}`;
    }
  }
  return "";
}

function emitAtom(node: Node): string {
  return node.type === "alternate" ? `(?:${emit(node)})` : emit(node);
}

function isUnbounded(node: Node): boolean {
  return node.type === "repeat" && node.max < 0;
}

function containsUnbounded(node: Node): boolean {
  if (isUnbounded(node)) return true;
  const children = node.type === "repeat" ? [node.sub] : node.type === "concat" ? node.items : node.type === "alternate" ? node.alternatives : [];
  return children.some(containsUnbounded);
}

function checkBacktracking(node: Node): void {
  if (node.type === "repeat" && isUnbounded(node) && containsUnbounded(node.sub)) {
    throw unsupported(
      "nests one unbounded repetition in another (like (a+)+ or (x.*)*): RE2 matches it in linear time, a backtracking engine can take exponential time on a long command line; rewrite it without the nesting",
    );
  }
  const children = node.type === "repeat" ? [node.sub] : node.type === "concat" ? node.items : node.type === "alternate" ? node.alternatives : [];
  for (const child of children) checkBacktracking(child);
}

/** Parses `source` with Go's regexp syntax and returns JavaScript RegExp source (for the `u` flag) that matches the same strings. */
export function translateGoRegexp(source: string): GoRegexpCompilation {
  try {
    const tree = new Parser(source).parse();
    checkBacktracking(tree);
    const translated = emit(tree);
    return { ok: true, source: translated === "" ? "(?:)" : translated };
  } catch (error) {
    if (error instanceof GoSyntaxError) return { ok: false, kind: error.kind, message: error.message };
    throw error;
  }
}

/**
 * The selectors procwatch generates itself (`exeRegexForName`, `exeRegexForPath`, an escaped
 * `pattern` literal): printable ASCII literals, escaped metacharacters, an optional `(^|/)` or `^`
 * in front and `( \(deleted\))?$` behind. JavaScript reads exactly these the way Go does, so they
 * skip the parse: health compiles one per watched process on every cold start.
 */
const GENERATED_SELECTOR = /^(?:\(\^\|\/\)|\^)?(?:[ !"#%&',\-/0-9:;<=>@A-Z_`a-z~]|\\[\\^$.*+?()[\]{}|])*(?:\( \\\(deleted\\\)\)\?\$)?$/;

/**
 * The command-line patterns procwatch generates for exe selectors (spec.ts
 * `commandLinePatternForExe`): by name, an optional directory (`[^ ]*` then a slash) and the
 * literal; by path, `^(<literal>:?|<literal>:)( |$)`.
 * Besides escaped literals they use only `^`, `$` (no multi-line flag in either language: start and
 * end of the text), `?`, alternation and `[^ ]*`, which matches the same strings in both (any run of
 * characters but the space, newlines included: RE2 negated classes match `\n`, as JavaScript's do).
 */
const LITERAL = `(?:[ !"#%&',\\-/0-9:;<=>@A-Z_\`a-z~]|\\\\[\\\\^$.*+?()[\\]{}|])*`;
const GENERATED_COMMAND_LINE_SELECTOR = new RegExp(`^(?:\\^\\(\\[\\^ \\]\\*/\\)\\?${LITERAL}:\\?|\\^\\(${LITERAL}:\\?\\|${LITERAL}:\\))\\( \\|\\$\\)$`);

/** A RegExp with Go's `regexp.MatchString` semantics for `source`, or why there is none. */
export function compileGoRegexp(source: string): { readonly regex: RegExp } | { readonly kind: "invalid" | "unsupported"; readonly message: string } {
  if (GENERATED_SELECTOR.test(source) || GENERATED_COMMAND_LINE_SELECTOR.test(source)) return { regex: new RegExp(source) };
  const translated = translateGoRegexp(source);
  if (!translated.ok) return { kind: translated.kind, message: translated.message };
  try {
    return { regex: new RegExp(translated.source, "u") };
  } catch (error) {
    // A translation JavaScript rejects is procwatch's limitation, never the user's regex.
    return { kind: "unsupported", message: `cannot be evaluated by procwatch (${(error as Error).message})` };
  }
}
