import { closeSync, constants, fstatSync, openSync, readFileSync } from "node:fs";
import { issue } from "@procwatch/contract";
import { parseJsonText, planSpecSource, type SpecRequest, type SpecStage, specFromDocument, specFromTags, specWithProfile } from "../core/spec-sources.ts";
import { UsageError } from "../errors.ts";
import type { InstanceTagReader, ProfileReader } from "./aws-lookups.ts";
import type { ImdsClient } from "./imds.ts";

/** The I/O side of spec resolution; `core/spec-sources.ts` decides, this fetches. */
export interface SpecLoaderDeps {
  readonly imds: () => ImdsClient;
  readonly tagReader: (region: string) => InstanceTagReader;
  readonly profileReader: () => ProfileReader;
}

export type FinalSpecStage = Exclude<SpecStage, { kind: "needs-profile" }>;

export async function loadSpec(request: SpecRequest, deps: SpecLoaderDeps): Promise<FinalSpecStage> {
  const planned = planSpecSource(request);
  if ("usageProblem" in planned) throw new UsageError(planned.usageProblem, "see procwatch-agent render --help");
  const { plan } = planned;

  let stage: SpecStage;
  switch (plan.kind) {
    case "spec-file": {
      const label = plan.path;
      const read = readSpecFile(plan.path);
      if ("problem" in read) {
        return { kind: "invalid", source: `spec-file:${label}`, issues: [issue("bad-document", label, plan.path, read.problem, read.expected)] };
      }
      const text = read.text;
      const parsed = parseJsonText(text, label);
      if ("issues" in parsed) return { kind: "invalid", source: `spec-file:${label}`, issues: parsed.issues };
      stage = specFromDocument(parsed.json, label, request.tagPrefix);
      break;
    }
    case "flags":
      stage = specFromTags(plan.tags, "flags", request.tagPrefix);
      break;
    case "instance-tags": {
      const imds = deps.imds();
      const ownKey = (key: string) => key.startsWith(`${request.tagPrefix}:`);
      const fromMetadata = await imds.instanceTags(ownKey);
      if (fromMetadata !== null) {
        stage = specFromTags(fromMetadata, "imds-tags", request.tagPrefix);
      } else {
        const identity = await imds.instanceIdentity();
        const all = await deps.tagReader(identity.region).tagsOf(identity.instanceId);
        const own = Object.fromEntries(Object.entries(all).filter(([key]) => ownKey(key)));
        stage = specFromTags(own, "describe-tags", request.tagPrefix);
      }
      break;
    }
  }
  if (stage.kind === "needs-profile") {
    const fetched = await deps.profileReader().profile(stage.profile);
    stage = specWithProfile(stage, fetched, request.tagPrefix);
  }
  return stage as FinalSpecStage;
}

/** A spec document is a few KiB; a larger file is refused by its size, before it is read. */
export const MAX_SPEC_FILE_BYTES = 1024 * 1024;

/** Reads a `--spec` file: a regular file (opened non-blocking, so a FIFO cannot hang the agent) of at most 1 MiB. */
function readSpecFile(path: string): { text: string } | { problem: string; expected: string } {
  const expected = `a readable JSON file of at most ${MAX_SPEC_FILE_BYTES} bytes`;
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (error) {
    return { problem: `cannot read the spec file (${(error as NodeJS.ErrnoException).code ?? "error"})`, expected };
  }
  try {
    const stats = fstatSync(fd);
    if (!stats.isFile()) return { problem: "the spec file is not a regular file", expected };
    if (stats.size > MAX_SPEC_FILE_BYTES) return { problem: `the spec file is ${stats.size} bytes; at most ${MAX_SPEC_FILE_BYTES} are read`, expected };
    return { text: readFileSync(fd, "utf8") };
  } catch (error) {
    return { problem: `cannot read the spec file (${(error as NodeJS.ErrnoException).code ?? "error"})`, expected };
  } finally {
    closeSync(fd);
  }
}
