import { commandLinePatternForExe, exeRegexForName, exeRegexForPath, type MatchSpec } from "@procwatch/contract";
import { describe, expect, it } from "vitest";
import { compileSelectorRegex, generatedExeTests } from "../src/core/process-matching.ts";

/**
 * generatedExeTests answers for procwatch's own exe regexes and command-line patterns with string
 * comparisons. Its answers must be the regexes' (which go-parity.test.ts holds to Go's own regexp):
 * here both run over every subject built from pieces that sit on the patterns' edges (separators,
 * `:`, ` (deleted)`, spaces, near-miss names), and over random ones.
 */
const NAMES = ["nginx", "php-fpm8.2", "a.b", "x", "node_exporter", "c++", "sshd:", "[kworker]", "a*b"];
const PATHS = ["/usr/sbin/nginx", "/opt/app/bin/run.sh", "/x", "/a.b/c+d", "/srv/[x]/y"];

function subjectsFor(literal: string): string[] {
  const fileName = literal.slice(literal.lastIndexOf("/") + 1);
  const cores = [
    literal,
    fileName,
    `/${fileName}`,
    `bin/${fileName}`,
    `${fileName}x`,
    `x${fileName}`,
    `/usr${literal}`,
    "",
    "/",
    ":",
    `${literal}/`,
    fileName.slice(1),
  ];
  const tails = ["", ":", "::", " ", ": ", " --flag", ": master process", " (deleted)", " (deleted) x", "(deleted)", "\n", "\t-x"];
  const heads = ["", "/", "./", "x/", "a b/", " "];
  const subjects: string[] = [];
  for (const head of heads) for (const core of cores) for (const tail of tails) subjects.push(`${head}${core}${tail}`);
  return subjects;
}

function randomSubjects(literal: string, count: number, seed: number): string[] {
  let state = seed;
  const next = () => {
    state = (state * 1103515245 + 12345) & 0x7fffffff;
    return state;
  };
  const fileName = literal.slice(literal.lastIndexOf("/") + 1);
  const pieces = [literal, fileName, "/", " ", ":", " (deleted)", "x", ".", "-", "\n"];
  return Array.from({ length: count }, () => Array.from({ length: next() % 6 }, () => pieces[next() % pieces.length]).join(""));
}

function expectSameAnswers(match: MatchSpec, literal: string): void {
  const tests = generatedExeTests(match);
  expect(tests).not.toBeNull();
  const exeRegex = compileSelectorRegex(match.mode === "exe" ? match.exe : "");
  const patternRegex = compileSelectorRegex(commandLinePatternForExe(match) ?? "");
  if (!(exeRegex instanceof RegExp) || !(patternRegex instanceof RegExp)) throw new Error("generated selectors compile");
  const differences: string[] = [];
  for (const subject of [...subjectsFor(literal), ...randomSubjects(literal, 3000, literal.length)]) {
    if (tests!.exe(subject) !== exeRegex.test(subject)) differences.push(`exe ${JSON.stringify(subject)}`);
    if (tests!.commandLine(subject) !== patternRegex.test(subject)) differences.push(`command line ${JSON.stringify(subject)}`);
  }
  expect(differences).toEqual([]);
}

describe("generated selectors as string comparisons", () => {
  it.each(NAMES)("by name %s: the same answers as the exe regex and the command-line pattern", (name) => {
    expectSameAnswers({ mode: "exe", exe: exeRegexForName(name) }, name);
  });

  it.each(PATHS)("by path %s: the same answers as the exe regex and the command-line pattern", (path) => {
    expectSameAnswers({ mode: "exe", exe: exeRegexForPath(path) }, path);
  });

  it("hand-edited regexes and literals with a space stay regexes", () => {
    expect(generatedExeTests({ mode: "exe", exe: "^/usr/s?bin/nginx$" })).toBeNull();
    expect(generatedExeTests({ mode: "exe", exe: exeRegexForPath("/opt/my app/run") })).toBeNull();
    expect(generatedExeTests({ mode: "pattern", pattern: "^([^ ]*/)?nginx:?( |$)" })).toBeNull();
    // A name with a `/` (hand-edited allow-list) gets a pattern on its file name only.
    expect(generatedExeTests({ mode: "exe", exe: exeRegexForName("bin/b") })).toBeNull();
  });
});
