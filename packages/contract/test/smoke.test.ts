import { describe, expect, it } from "vitest";
import { parseInstanceTags, resolveHostSpec } from "../src/index.ts";
import { optInTags } from "./builders.ts";

describe("tags to host spec", () => {
  it("resolves a plain opt-in with two processes", () => {
    const tags = parseInstanceTags(optInTags("nginx sshd"));
    expect(tags.issues).toEqual([]);
    const resolved = resolveHostSpec({ tags: tags.spec! });
    expect(resolved.issues).toEqual([]);
    expect(resolved.spec?.processes.map((process) => process.name)).toEqual(["nginx", "sshd"]);
  });
});
