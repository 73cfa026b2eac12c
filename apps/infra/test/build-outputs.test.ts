import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { requireLambdaEntry } from "../src/build-outputs.ts";
import { DEFAULT_AGENT_ARTIFACTS_DIR, locateAgentArtifacts, MissingBuildOutputError } from "../src/index.ts";
import { placeholderAgentArtifacts } from "./support/synth.ts";

describe("locateAgentArtifacts", () => {
  it("hashes both binaries and agrees with the build's .sha256 files", () => {
    const { dir, sha256 } = placeholderAgentArtifacts();
    const artifacts = locateAgentArtifacts(dir);
    expect(artifacts.x64).toEqual({ architecture: "x64", path: join(dir, "procwatch-agent-linux-x64"), sha256: sha256.x64 });
    expect(artifacts.arm64.sha256).toBe(sha256.arm64);
  });

  it("works without .sha256 files", () => {
    const { dir, sha256 } = placeholderAgentArtifacts({ withChecksums: false });
    expect(locateAgentArtifacts(dir).x64.sha256).toBe(sha256.x64);
  });

  it("tells how to build the agent when a binary is missing", () => {
    const { dir } = placeholderAgentArtifacts();
    rmSync(join(dir, "procwatch-agent-linux-arm64"));
    expect(() => locateAgentArtifacts(dir)).toThrow(MissingBuildOutputError);
    expect(() => locateAgentArtifacts(dir)).toThrow(/procwatch-agent-linux-arm64 is missing\. Build it first: pnpm --filter @procwatch\/agent build/);
  });

  it("refuses a binary whose .sha256 file is stale", () => {
    const { dir } = placeholderAgentArtifacts();
    writeFileSync(join(dir, "procwatch-agent-linux-x64"), "rebuilt without its checksum\n");
    expect(() => locateAgentArtifacts(dir)).toThrow(/procwatch-agent-linux-x64\.sha256 says [0-9a-f]{64} but .* hashes to [0-9a-f]{64}/);
  });

  it("defaults to the agent package's dist directory", () => {
    expect(DEFAULT_AGENT_ARTIFACTS_DIR.endsWith(join("apps", "agent", "dist"))).toBe(true);
  });
});

describe("requireLambdaEntry", () => {
  it("names the package that must provide a missing entry", () => {
    expect(() => requireLambdaEntry({ path: "/nonexistent/src/lambda.ts", package: "@procwatch/fleet-manager" })).toThrow(
      /Lambda entry \/nonexistent\/src\/lambda\.ts does not exist: @procwatch\/fleet-manager must export its handler/,
    );
  });
});
