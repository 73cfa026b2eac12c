import { describe, expect, it } from "vitest";
import { parseSpecDocument, re2Incompatibility } from "../src/index.ts";

describe("RE2 compatibility", () => {
  it.each([
    ["java .*(?=orders)", "lookahead"],
    ["(?<!x)orders", "lookbehind"],
    ["(a)\\1", "backreference"],
    ["a\\k<n>", "named backreference"],
    // Go accepts (?<name>…) only since 1.22; hosts run older CloudWatch agents too.
    ["(?<n>a)", "(?P<name>"],
    ["a++", "possessive"],
    ["(?>a)", "atomic group"],
    ["a{1001}", "repeat count"],
    ["(unclosed", "does not compile"],
    ["java\\e", "escape \\e"],
    ["\\u0041pp", "escape \\u"],
    ["\\cA", "escape \\c"],
    ["\\h+", "escape \\h"],
    ["[^]x", "[] or [^]"],
    ["a[]b", "[] or [^]"],
    ["trailing\\", "lone backslash"],
  ])("rejects %j (%s)", (regex, reason) => {
    expect(re2Incompatibility(regex)).toContain(reason);
  });

  it.each([
    "java .*-jar /opt/orders/[a-z-]+\\.jar",
    "^/usr/sbin/nginx( \\(deleted\\))?$",
    "a{2,5}",
    "\\\\1 literal backslash",
    "\\d+\\s\\w\\b\\x41\\x{263a}\\pL\\p{Greek}\\t\\n",
    "\\Q1+1=2 \\e\\E done",
    "[\\]a-]",
    "(?P<name>x)",
  ])("accepts %j", (regex) => {
    expect(re2Incompatibility(regex)).toBeNull();
  });
});

describe("spec documents", () => {
  it("reports every problem with its path", () => {
    const result = parseSpecDocument(
      {
        version: 2,
        colour: "blue",
        processes: [
          { name: "nginx", unit: "nginx; reboot" },
          { name: "nginx" },
          { name: "orders", match: "pattern", regex: "(?=x)" },
          { name: 42 },
          "sshd",
          { name: "cron", restart: "always" },
        ],
      },
      "profile:web",
    );
    expect(result.spec).toBeNull();
    expect(result.issues.map((found) => [found.code, found.source])).toEqual(
      expect.arrayContaining([
        ["unknown-key", "profile:web/colour"],
        ["bad-document", "profile:web/version"],
        ["bad-unit", "profile:web/processes[0].unit"],
        ["duplicate-process", "profile:web/processes[1].name"],
        ["re2-incompatible", "profile:web/processes[2].regex"],
        ["bad-process-name", "profile:web/processes[3].name"],
        ["bad-document", "profile:web/processes[4]"],
        ["unknown-key", "profile:web/processes[5].restart"],
      ]),
    );
  });

  it.each([null, [], "nginx", { processes: [] }])("rejects %j as a document", (input) => {
    expect(parseSpecDocument(input, "spec.json").spec).toBeNull();
  });

  it("rejects a pattern selector over 255 characters after escaping", () => {
    const result = parseSpecDocument({ processes: [{ name: "x", match: "pattern", pattern: ".".repeat(200) }] }, "spec.json");
    expect(result.issues).toContainEqual(expect.objectContaining({ code: "too-long" }));
  });
});
