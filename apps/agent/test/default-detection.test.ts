import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import type { DetectionProfileName } from "@procwatch/contract";
import { afterEach, describe, expect, it } from "vitest";
import { renderFragmentText } from "../src/core/fragment.ts";
import { type ResolvedSpecStage, resolveSpecStage, type SpecStage, specFromDocument, specFromTags, specWithProfile } from "../src/core/spec-sources.ts";
import { resolveDefaultDetection } from "../src/settings.ts";
import { runAgent, Scratch, writeJson } from "./helpers.ts";

/**
 * The deployment default (`--default-detection`, fed by the configure association from the stack's
 * detectionProfile) must give hosts the same detection the fleet manager gives their alarms.
 */
const scratch = new Scratch();
afterEach(() => scratch.cleanup());

function resolvedDetections(stage: SpecStage, defaultDetection?: DetectionProfileName): Array<[string, DetectionProfileName]> {
  if (stage.kind === "needs-profile") throw new Error("fetch the profile first");
  const resolved: ResolvedSpecStage = resolveSpecStage(stage, defaultDetection === undefined ? {} : { defaultDetection });
  if (resolved.kind !== "resolved") throw new Error(`not resolved: ${JSON.stringify(resolved)}`);
  return resolved.spec.processes.map((process) => [process.name, process.detection]);
}

describe("deployment default detection (pure core)", () => {
  const webProfile = (detection?: DetectionProfileName) => ({ version: 1, ...(detection === undefined ? {} : { detection }), processes: [{ name: "nginx" }] });

  it.each<{ title: string; stage: () => SpecStage; defaultDetection?: DetectionProfileName; expected: Array<[string, DetectionProfileName]> }>([
    {
      title: "untagged detection, no default → standard",
      stage: () => specFromTags({ "procwatch:enabled": "true", "procwatch:processes": "nginx" }, "imds-tags", "procwatch"),
      expected: [["nginx", "standard"]],
    },
    {
      title: "untagged detection, default fast → fast",
      stage: () => specFromTags({ "procwatch:enabled": "true", "procwatch:processes": "nginx" }, "imds-tags", "procwatch"),
      defaultDetection: "fast",
      expected: [["nginx", "fast"]],
    },
    {
      title: "host tag standard beats default fast",
      stage: () => specFromTags({ "procwatch:enabled": "true", "procwatch:processes": "nginx", "procwatch:detection": "standard" }, "imds-tags", "procwatch"),
      defaultDetection: "fast",
      expected: [["nginx", "standard"]],
    },
    {
      title: "per-process option beats default",
      stage: () =>
        specFromTags(
          { "procwatch:enabled": "true", "procwatch:processes": "nginx sshd", "procwatch:process:sshd": "detection=standard" },
          "imds-tags",
          "procwatch",
        ),
      defaultDetection: "fast",
      expected: [
        ["nginx", "fast"],
        ["sshd", "standard"],
      ],
    },
    {
      title: "--spec document without detection takes the default",
      stage: () => specFromDocument(webProfile(), "/s.json", "procwatch"),
      defaultDetection: "fast",
      expected: [["nginx", "fast"]],
    },
    {
      title: "--spec document's own detection wins over the default",
      stage: () => specFromDocument(webProfile("standard"), "/s.json", "procwatch"),
      defaultDetection: "fast",
      expected: [["nginx", "standard"]],
    },
    {
      title: "fleet profile without detection takes the default",
      stage: () => {
        const needs = specFromTags({ "procwatch:enabled": "true", "procwatch:profile": "web" }, "imds-tags", "procwatch");
        if (needs.kind !== "needs-profile") throw new Error("expected a profile lookup");
        return specWithProfile(needs, { found: true, document: webProfile() }, "procwatch");
      },
      defaultDetection: "fast",
      expected: [["nginx", "fast"]],
    },
    {
      title: "fleet profile's detection wins over the default",
      stage: () => {
        const needs = specFromTags({ "procwatch:enabled": "true", "procwatch:profile": "web" }, "imds-tags", "procwatch");
        if (needs.kind !== "needs-profile") throw new Error("expected a profile lookup");
        return specWithProfile(needs, { found: true, document: webProfile("standard") }, "procwatch");
      },
      defaultDetection: "fast",
      expected: [["nginx", "standard"]],
    },
  ])("$title", ({ stage, defaultDetection, expected }) => {
    expect(resolvedDetections(stage(), defaultDetection)).toEqual(expected);
  });

  it("a fast default renders 10 s collection and a 10 s flush", () => {
    const stage = specFromTags({ "procwatch:enabled": "true", "procwatch:processes": "nginx" }, "imds-tags", "procwatch");
    if (stage.kind === "needs-profile") throw new Error("unreachable");
    const resolved = resolveSpecStage(stage, { defaultDetection: "fast" });
    if (resolved.kind !== "resolved") throw new Error("unreachable");
    const fragment = JSON.parse(renderFragmentText(resolved.spec));
    expect(fragment.metrics.force_flush_interval).toBe(10);
    expect(fragment.metrics.metrics_collected.procstat[0].metrics_collection_interval).toBe(10);
  });

  it("stages that are not ready pass through unchanged", () => {
    const notOptedIn = specFromTags({ Name: "web-1" }, "imds-tags", "procwatch");
    if (notOptedIn.kind === "needs-profile") throw new Error("unreachable");
    expect(resolveSpecStage(notOptedIn, { defaultDetection: "fast" })).toEqual({ kind: "not-opted-in", source: "imds-tags" });
  });

  it("resolveDefaultDetection: flag, then PROCWATCH_DEFAULT_DETECTION (empty = unset), then standard; bad values are usage errors", () => {
    expect(resolveDefaultDetection(undefined, {})).toBe("standard");
    expect(resolveDefaultDetection(undefined, { PROCWATCH_DEFAULT_DETECTION: "" })).toBe("standard");
    expect(resolveDefaultDetection(undefined, { PROCWATCH_DEFAULT_DETECTION: "fast" })).toBe("fast");
    expect(resolveDefaultDetection("standard", { PROCWATCH_DEFAULT_DETECTION: "fast" })).toBe("standard");
    expect(() => resolveDefaultDetection(undefined, { PROCWATCH_DEFAULT_DETECTION: "turbo" })).toThrow(
      expect.objectContaining({ exitCode: 2, message: 'PROCWATCH_DEFAULT_DETECTION "turbo" is not a detection profile' }),
    );
  });
});

describe("--default-detection on the CLI", () => {
  it("render: flag and env set the default; a document's detection still wins; bad values exit 2", async () => {
    const dir = scratch.dir();
    const plain = join(dir, "plain.json");
    const pinned = join(dir, "pinned.json");
    writeJson(plain, { version: 1, processes: [{ name: "nginx" }] });
    writeJson(pinned, { version: 1, detection: "standard", processes: [{ name: "nginx" }] });
    const interval = (stdout: string) => JSON.parse(stdout).metrics.metrics_collected.procstat[0].metrics_collection_interval;

    expect(interval((await runAgent(["render", "--spec", plain], {})).stdout)).toBe(60);
    expect(interval((await runAgent(["render", "--spec", plain, "--default-detection", "fast"], {})).stdout)).toBe(10);
    expect(interval((await runAgent(["render", "--spec", plain], { PROCWATCH_DEFAULT_DETECTION: "fast" })).stdout)).toBe(10);
    expect(interval((await runAgent(["render", "--spec", pinned, "--default-detection", "fast"], {})).stdout)).toBe(60);
    expect(interval((await runAgent(["render", "--processes", "nginx", "--default-detection", "fast"], {})).stdout)).toBe(10);
    expect(interval((await runAgent(["render", "--processes", "nginx", "--detection", "standard", "--default-detection", "fast"], {})).stdout)).toBe(60);

    const badEnv = await runAgent(["render", "--spec", plain], { PROCWATCH_DEFAULT_DETECTION: "turbo" });
    expect(badEnv.exitCode).toBe(2);
    expect(badEnv.stderr.trim().split("\n")).toEqual([
      'error: PROCWATCH_DEFAULT_DETECTION "turbo" is not a detection profile',
      "hint: use standard or fast: the deployment's detectionProfile, the same value the fleet manager uses for alarm periods",
    ]);
    expect((await runAgent(["render", "--spec", plain, "--default-detection", "turbo"], {})).exitCode).toBe(2);
  });

  it("the built bundle applies a fast default to an untagged spec (as the configure document runs it)", async () => {
    const bundle = join(import.meta.dirname, "..", "dist", "procwatch-agent.cjs");
    expect(existsSync(bundle), "run pnpm --filter @procwatch/agent build first").toBe(true);
    const dir = scratch.dir();
    const spec = join(dir, "spec.json");
    writeJson(spec, { version: 1, processes: [{ name: "nginx" }] });
    const env = { PATH: process.env.PATH ?? "", AWS_EC2_METADATA_DISABLED: "true", NO_COLOR: "1" };
    const { stdout } = await promisify(execFile)(process.execPath, [bundle, "render", "--json", "--spec", spec, "--default-detection", "fast"], {
      env,
      timeout: 30_000,
    });
    const fragment = JSON.parse(stdout).fragment;
    expect(fragment.metrics.force_flush_interval).toBe(10);
    expect(fragment.metrics.metrics_collected.procstat[0].metrics_collection_interval).toBe(10);

    const refused = await promisify(execFile)(process.execPath, [bundle, "render", "--spec", spec, "--default-detection", "turbo"], {
      env,
      timeout: 30_000,
    }).then(
      () => ({ code: 0, stderr: "" }),
      (error: { code: number; stderr: string }) => error,
    );
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/--default-detection/);
  });
});
