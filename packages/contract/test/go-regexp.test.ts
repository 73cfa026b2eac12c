import { describe, expect, it } from "vitest";
import { compileGoRegexp, translateGoRegexp } from "../src/index.ts";

/**
 * The translation of Go regexp syntax for JavaScript. The agent's differential test
 * (apps/agent/test/go-parity.test.ts) compares it with Go's own regexp over a large table; these
 * pin the translations whose JavaScript spelling differs from the Go source.
 */
describe("Go regexp syntax translated for JavaScript", () => {
  const matches = (regex: string, input: string) => {
    const compiled = compileGoRegexp(regex);
    if (!("regex" in compiled)) throw new Error(compiled.message);
    return compiled.regex.test(input);
  };

  it("reads the escapes JavaScript reads differently the way Go does", () => {
    expect(matches("\\A/usr/bin/x\\z", "/usr/bin/x")).toBe(true);
    expect(matches("\\Anginx", "xnginx")).toBe(false);
    expect(matches("\\Qa+b\\E$", "a+b")).toBe(true);
    expect(matches("caf\\x{e9}", "café")).toBe(true);
    expect(matches("^\\pL+$", "éte")).toBe(true);
    expect(matches("^[[:alpha:]]+$", "abc")).toBe(true);
    expect(matches("^[[:alpha:]]+$", "a:b")).toBe(false);
    expect(matches("\\s", "\u00a0")).toBe(false);
    expect(matches("a.c", "a\rc")).toBe(true);
    expect(matches("(?i)k", "\u212a")).toBe(true);
    expect(matches("(?m)^b", "a\rb")).toBe(false);
  });

  it("says whether Go rejects a regex or procwatch refuses one Go accepts", () => {
    expect(translateGoRegexp("a**")).toMatchObject({ ok: false, kind: "invalid", message: expect.stringContaining("nested repetition") });
    expect(translateGoRegexp("(?=x)")).toMatchObject({ ok: false, kind: "invalid", message: expect.stringContaining("lookahead") });
    expect(translateGoRegexp("(a+)+")).toMatchObject({ ok: false, kind: "unsupported" });
    expect(translateGoRegexp("(?i)é")).toMatchObject({ ok: false, kind: "unsupported", message: expect.stringContaining("U+00E9") });
    expect(translateGoRegexp("(?<n>x)")).toMatchObject({ ok: false, kind: "unsupported", message: expect.stringContaining("(?P<name>") });
  });
});
