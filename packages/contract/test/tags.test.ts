import { describe, expect, it } from "vitest";
import { type DetectionProfileName, type IssueCode, parseInstanceTags, parseSpecDocument, resolveHostSpec, type SpecDocument } from "../src/index.ts";
import { optInTags } from "./builders.ts";

function resolveTags(tags: Record<string, string>, profileDocument?: SpecDocument | null) {
  const parsed = parseInstanceTags(tags);
  if (parsed.spec === null) return { spec: null, issues: parsed.issues };
  return resolveHostSpec({ tags: parsed.spec, ...(profileDocument !== undefined ? { profileDocument } : {}) });
}

describe("valid tag sets", () => {
  it.each([
    {
      title: "names only: exe match and unit derived from the name",
      tags: optInTags("nginx"),
      expected: [{ name: "nginx", unit: "nginx.service", match: { mode: "exe", exe: "(^|/)nginx( \\(deleted\\))?$" }, detection: "standard" }],
    },
    {
      title: "per-process unit, absolute exe path and fast detection",
      tags: optInTags("nginx", { "procwatch:process:nginx": "unit=openresty.service exe=/usr/local/openresty/bin/openresty detection=fast" }),
      expected: [
        {
          name: "nginx",
          unit: "openresty.service",
          match: { mode: "exe", exe: "^/usr/local/openresty/bin/openresty( \\(deleted\\))?$" },
          detection: "fast",
        },
      ],
    },
    {
      title: "pattern match is a literal, escaped for RE2",
      tags: optInTags("orders", { "procwatch:process:orders": "match=pattern pattern=/opt/orders/orders-1.2.jar" }),
      expected: [{ name: "orders", unit: "orders.service", match: { mode: "pattern", pattern: "/opt/orders/orders-1\\.2\\.jar" }, detection: "standard" }],
    },
    {
      title: "pidfile match and a template unit",
      tags: optInTags("worker", { "procwatch:process:worker": "match=pidfile pidfile=/run/worker/2.pid unit=worker@2.service" }),
      expected: [{ name: "worker", unit: "worker@2.service", match: { mode: "pidfile", pidFile: "/run/worker/2.pid" }, detection: "standard" }],
    },
    {
      title: "host-wide detection applies to every process; list order does not matter",
      tags: optInTags("sshd  cron", { "procwatch:detection": "fast" }),
      expected: [
        { name: "cron", unit: "cron.service", match: { mode: "exe", exe: "(^|/)cron( \\(deleted\\))?$" }, detection: "fast" },
        { name: "sshd", unit: "sshd.service", match: { mode: "exe", exe: "(^|/)sshd( \\(deleted\\))?$" }, detection: "fast" },
      ],
    },
  ])("$title", ({ tags, expected }) => {
    const resolved = resolveTags(tags);
    expect(resolved.issues).toEqual([]);
    expect(resolved.spec?.processes).toEqual(expected);
  });

  it("ignores tags outside the procwatch namespace", () => {
    const resolved = resolveTags(optInTags("nginx", { Name: "web-1 (prod)", "aws:autoscaling:groupName": "web$asg" }));
    expect(resolved.issues).toEqual([]);
  });

  it("reads the EC2 API's Key/Value list form", () => {
    const parsed = parseInstanceTags([
      { Key: "procwatch:enabled", Value: "true" },
      { Key: "procwatch:processes", Value: "nginx" },
    ]);
    expect(parsed.spec?.enabled).toBe(true);
    expect(parsed.spec?.processNames).toEqual(["nginx"]);
  });

  it("treats a missing opt-in tag as not enabled, without issues", () => {
    const parsed = parseInstanceTags({ "procwatch:processes": "nginx" });
    expect(parsed.issues).toEqual([]);
    expect(parsed.spec?.enabled).toBe(false);
  });
});

describe("profiles", () => {
  const profile = parseSpecDocument(
    {
      version: 1,
      detection: "fast",
      processes: [{ name: "nginx" }, { name: "orders", match: "pattern", regex: "java .*-jar /opt/orders/[a-z-]+\\.jar" }],
    },
    "profile:web",
  );

  it("parses a profile document", () => {
    expect(profile.issues).toEqual([]);
    expect(profile.spec?.entries.map((entry) => entry.name)).toEqual(["nginx", "orders"]);
  });

  it("merges the profile with the tags; tag options override the profile field by field", () => {
    const resolved = resolveTags(
      {
        "procwatch:enabled": "true",
        "procwatch:profile": "web",
        "procwatch:processes": "sshd",
        "procwatch:process:nginx": "unit=nginx-custom.service",
      },
      profile.spec,
    );
    expect(resolved.issues).toEqual([]);
    expect(resolved.spec?.profile).toBe("web");
    expect(resolved.spec?.processes.map((process) => [process.name, process.unit, process.detection, process.match.mode])).toEqual([
      ["nginx", "nginx-custom.service", "fast", "exe"],
      ["orders", "orders.service", "fast", "pattern"],
      ["sshd", "sshd.service", "fast", "exe"],
    ]);
  });

  it("reports a referenced profile that does not exist", () => {
    const resolved = resolveTags({ "procwatch:enabled": "true", "procwatch:profile": "nope" }, null);
    expect(resolved.spec).toBeNull();
    expect(resolved.issues.map((found) => [found.code, found.source, found.value])).toEqual([["profile-missing", "procwatch:profile", "nope"]]);
  });
});

describe("detection precedence: per-process option > host tag > profile document > deployment default > standard", () => {
  function profileWithDetection(detection: DetectionProfileName | undefined): SpecDocument {
    const parsed = parseSpecDocument({ version: 1, ...(detection !== undefined ? { detection } : {}), processes: [{ name: "orders" }] }, "profile:web");
    if (parsed.spec === null) throw new Error(`test profile does not parse: ${JSON.stringify(parsed.issues)}`);
    return parsed.spec;
  }

  it.each<{
    title: string;
    processOption?: DetectionProfileName;
    hostTag?: DetectionProfileName;
    profile?: DetectionProfileName;
    deployment?: DetectionProfileName;
    expected: DetectionProfileName;
  }>([
    { title: "nothing set anywhere: standard", expected: "standard" },
    { title: "deployment default alone", deployment: "fast", expected: "fast" },
    { title: "deployment default standard stays standard", deployment: "standard", expected: "standard" },
    { title: "profile document beats the deployment default", profile: "standard", deployment: "fast", expected: "standard" },
    { title: "profile document fast over a standard deployment", profile: "fast", deployment: "standard", expected: "fast" },
    { title: "host tag beats profile and deployment", hostTag: "standard", profile: "fast", deployment: "fast", expected: "standard" },
    { title: "host tag beats the deployment default without a profile", hostTag: "fast", deployment: "standard", expected: "fast" },
    { title: "per-process option beats everything", processOption: "standard", hostTag: "fast", profile: "fast", deployment: "fast", expected: "standard" },
    { title: "per-process option fast over a standard deployment", processOption: "fast", deployment: "standard", expected: "fast" },
  ])("$title → $expected", ({ processOption, hostTag, profile, deployment, expected }) => {
    const tags = {
      "procwatch:enabled": "true",
      "procwatch:processes": "nginx",
      ...(profile !== undefined ? { "procwatch:profile": "web" } : {}),
      ...(hostTag !== undefined ? { "procwatch:detection": hostTag } : {}),
      ...(processOption !== undefined ? { "procwatch:process:nginx": `detection=${processOption}` } : {}),
    };
    const parsed = parseInstanceTags(tags);
    expect(parsed.issues).toEqual([]);
    const resolved = resolveHostSpec({
      tags: parsed.spec!,
      ...(profile !== undefined ? { profileDocument: profileWithDetection(profile) } : {}),
      ...(deployment !== undefined ? { defaultDetection: deployment } : {}),
    });
    expect(resolved.issues).toEqual([]);
    const nginx = resolved.spec?.processes.find((process) => process.name === "nginx");
    expect(nginx?.detection).toBe(expected);
  });

  it("a profile without its own detection falls through to the deployment default for its entries", () => {
    const parsed = parseInstanceTags({ "procwatch:enabled": "true", "procwatch:profile": "web" });
    const resolved = resolveHostSpec({ tags: parsed.spec!, profileDocument: profileWithDetection(undefined), defaultDetection: "fast" });
    expect(resolved.issues).toEqual([]);
    expect(resolved.spec?.processes.map((process) => [process.name, process.detection])).toEqual([["orders", "fast"]]);
  });
});

const HOSTILE_NAMES = [
  "httpd; rm -rf /",
  "$(reboot)",
  "`reboot`",
  "nginx\nreboot",
  "ngіnx", // Cyrillic і
  "nginx\u200b",
  "-rf",
  "../../etc/passwd",
  "a".repeat(300),
  "",
];

describe("invalid and hostile tags: every problem reported, no spec carries them", () => {
  it.each<{ title: string; tags: Record<string, string>; expected: Array<[IssueCode, string]> }>([
    {
      title: "opt-in value typo",
      tags: { "procwatch:enabled": "yes", "procwatch:processes": "nginx" },
      expected: [["bad-enabled-value", "procwatch:enabled"]],
    },
    { title: "unknown procwatch key", tags: optInTags("nginx", { "procwatch:proccesses": "sshd" }), expected: [["unknown-key", "procwatch:proccesses"]] },
    { title: "duplicate process", tags: optInTags("nginx sshd nginx"), expected: [["duplicate-process", "procwatch:processes"]] },
    { title: "empty list", tags: optInTags(""), expected: [["empty-process-list", "procwatch:processes"]] },
    {
      title: "bad unit name",
      tags: optInTags("nginx", { "procwatch:process:nginx": "unit=nginx.timer" }),
      expected: [["bad-unit", "procwatch:process:nginx unit="]],
    },
    {
      title: "an unknown option, a bad match mode and a bad unit in one tag: all three reported",
      tags: optInTags("nginx", { "procwatch:process:nginx": "restart=always match=regex unit=nginx.timer" }),
      expected: [
        ["bad-option", "procwatch:process:nginx"],
        ["bad-match-mode", "procwatch:process:nginx match="],
        ["bad-unit", "procwatch:process:nginx unit="],
      ],
    },
    {
      title: "options for an unlisted process",
      tags: optInTags("nginx", { "procwatch:process:sshd": "unit=ssh.service" }),
      expected: [["unlisted-process-options", "procwatch:process:sshd"]],
    },
    {
      title: "pidfile mode without a path, pattern given in exe mode",
      tags: optInTags("a b", { "procwatch:process:a": "match=pidfile", "procwatch:process:b": "match=exe pattern=foo" }),
      expected: [
        ["missing-option", "procwatch:process:a pidfile="],
        ["bad-option", "procwatch:process:b pattern="],
      ],
    },
    {
      title: "relative pid file with ..",
      tags: optInTags("a", { "procwatch:process:a": "pidfile=/run/../etc/shadow" }),
      expected: [["bad-path", "procwatch:process:a pidfile="]],
    },
    { title: "over-long value", tags: optInTags(`nginx ${"x".repeat(300)}`), expected: [["too-long", "procwatch:processes"]] },
    { title: "bad detection", tags: optInTags("nginx", { "procwatch:detection": "turbo" }), expected: [["bad-detection", "procwatch:detection"]] },
    { title: "bad profile name", tags: optInTags("nginx", { "procwatch:profile": "../web" }), expected: [["bad-profile-name", "procwatch:profile"]] },
    {
      title: "characters tags cannot carry (regex in a tag)",
      tags: optInTags("orders", { "procwatch:process:orders": "match=pattern pattern=java.*(orders)" }),
      expected: [["bad-characters", "procwatch:process:orders"]],
    },
    ...HOSTILE_NAMES.filter((name) => name !== "").map((name) => ({
      title: `hostile process name ${JSON.stringify(name).slice(0, 30)}`,
      tags: { "procwatch:enabled": "true", "procwatch:processes": name },
      expected: [] as Array<[IssueCode, string]>,
    })),
  ])("$title", ({ tags, expected }) => {
    const resolved = resolveTags(tags);
    expect(resolved.spec).toBeNull();
    expect(resolved.issues.length).toBeGreaterThan(0);
    for (const [code, source] of expected) {
      expect(resolved.issues).toContainEqual(expect.objectContaining({ code, source }));
    }
    for (const found of resolved.issues) {
      expect(found.value.length).toBeLessThanOrEqual(80);
      expect(found.value).not.toMatch(/[\n\r]/);
      expect(found.expected.length).toBeGreaterThan(0);
    }
  });

  it("reports every problem of an instance in one pass", () => {
    const resolved = resolveTags({
      "procwatch:enabled": "maybe",
      "procwatch:processes": "nginx nginx $(reboot)",
      "procwatch:detection": "slow",
      "procwatch:colour": "blue",
    });
    expect(resolved.issues.map((found) => found.code).sort()).toEqual([
      "bad-characters",
      "bad-detection",
      "bad-enabled-value",
      "bad-process-name",
      "duplicate-process",
      "unknown-key",
    ]);
  });

  it.each(HOSTILE_NAMES)("never turns the hostile per-process key %j into a spec", (name) => {
    const resolved = resolveTags(optInTags("nginx", { [`procwatch:process:${name}`]: "unit=nginx.service" }));
    expect(resolved.spec).toBeNull();
  });

  it.each(["nginx.service; reboot", "$(reboot).service", "nginx.service\n", "../x.service", "-x.service"])("rejects the hostile unit %j", (unit) => {
    const resolved = resolveTags(optInTags("nginx", { "procwatch:process:nginx": `unit=${unit}` }));
    expect(resolved.spec).toBeNull();
  });
});
