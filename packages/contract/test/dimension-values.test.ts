import { describe, expect, it } from "vitest";
import { dimensionValueProblem, formatIssue, parseSpecDocument } from "../src/index.ts";

/**
 * CloudWatch's Dimension Value rule (API reference, Dimension): "Dimension values must contain only
 * ASCII characters and must include at least one non-whitespace character. ASCII control
 * characters are not supported as part of dimension values." Length 1 to 1024. One bad value fails
 * the agent's whole PutMetricData batch, so the contract refuses it where the spec is validated.
 */
describe("selector values are valid CloudWatch dimension values", () => {
  it.each([
    ["pattern", "café-worker", "non-ASCII", "U+00E9"],
    ["pattern", "orders\u200bapi", "non-ASCII", "U+200B"],
    ["regex", "java\t-jar", "control character", "U+0009"],
    ["regex", "orders\u007f", "control character", "U+007F"],
    ["regex", "   ", "blank", ""],
    ["regex", "ngin[x]\u00a0", "non-ASCII", "U+00A0"],
  ])("refuses %s %j (%s) with an issue naming the input, the value and what is valid", (key, value, what, codePoint) => {
    const result = parseSpecDocument({ version: 1, processes: [{ name: "orders", match: "pattern", [key]: value }] }, "spec.json");
    expect(result.spec).toBeNull();
    const found = result.issues.find((issue) => issue.code === "bad-dimension-value");
    expect(found, JSON.stringify(result.issues)).toBeDefined();
    expect(found?.source).toBe(`spec.json/processes[0].${key}`);
    expect(found?.value).toBe(JSON.stringify(value).slice(1, -1));
    expect(found?.message).toContain(what);
    expect(found?.message).toContain(codePoint);
    expect(found?.expected).toMatch(/ASCII/);
    expect(formatIssue(found!)).toContain("spec.json/processes[0]");
  });

  it("accepts printable ASCII, including spaces inside a value", () => {
    expect(dimensionValueProblem("java -jar /opt/orders/orders.jar")).toBeNull();
    expect(dimensionValueProblem("(^|/)nginx( \\(deleted\\))?$")).toBeNull();
    const result = parseSpecDocument(
      { version: 1, processes: [{ name: "orders", match: "pattern", regex: "java .*-jar /opt/\\x{e9}t\\x{e9}/orders\\.jar" }] },
      "spec.json",
    );
    expect(result.issues).toEqual([]);
  });

  it("dimensionValueProblem follows the documented rule exactly", () => {
    expect(dimensionValueProblem("")).toContain("blank");
    expect(dimensionValueProblem(" \t")).not.toBeNull();
    expect(dimensionValueProblem("a".repeat(1024))).toBeNull();
    expect(dimensionValueProblem("a".repeat(1025))).toContain("1024");
    expect(dimensionValueProblem("\u0000x")).toContain("control character");
    expect(dimensionValueProblem("~")).toBeNull();
  });
});
