import { closeSync, constants, fstatSync, openSync, readFileSync } from "node:fs";
import { AUTO_SCALING_GROUP_TAG, issue } from "@procwatch/contract";
import {
  autoScalingGroupLookupNeeded,
  type InstanceKnowledge,
  instanceKnowledgeOf,
  parseJsonText,
  planSpecSource,
  type SpecRequest,
  type SpecStage,
  specFromDocument,
  specFromTags,
  specWithProfile,
  stageRenders,
} from "../core/spec-sources.ts";
import { UsageError } from "../errors.ts";
import type { AutoScalingGroupCache } from "./auto-scaling-group-cache.ts";
import type { InstanceTagReader, ProfileReader } from "./aws-lookups.ts";
import type { ImdsClient, InstanceIdentity } from "./imds.ts";

/** The I/O side of spec resolution; `core/spec-sources.ts` decides, this fetches. */
export interface SpecLoaderDeps {
  readonly imds: () => ImdsClient;
  readonly tagReader: (region: string) => InstanceTagReader;
  readonly profileReader: () => ProfileReader;
  /** DescribeTags' last answer about the Auto Scaling group (io/auto-scaling-group-cache.ts); none = ask every time. */
  readonly autoScalingGroupCache?: AutoScalingGroupCache;
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
      // The Auto Scaling group's tag is fetched with procwatch's own when metadata lists it: the fragment pins it.
      const fromMetadata = await imds.instanceTags((key) => ownKey(key) || key === AUTO_SCALING_GROUP_TAG);
      const source = fromMetadata !== null ? "imds-tags" : "describe-tags";
      let identity: InstanceIdentity | undefined;
      let tags: Record<string, string>;
      if (fromMetadata !== null) {
        tags = fromMetadata;
      } else {
        identity = await imds.instanceIdentity();
        tags = await deps.tagReader(identity.region).tagsOf(identity.instanceId);
      }
      const own = Object.fromEntries(Object.entries(tags).filter(([key]) => ownKey(key)));
      stage = specFromTags(own, source, request.tagPrefix);
      // Only a spec that renders a fragment needs the host it pins: an opted-out host costs nothing more.
      if (stageRenders(stage)) stage = { ...stage, instance: await instanceKnowledge(source, tags, identity ?? (await imds.instanceIdentity()), deps) };
      break;
    }
  }
  if (stage.kind === "needs-profile") {
    const fetched = await deps.profileReader().profile(stage.profile);
    stage = specWithProfile(stage, fetched, request.tagPrefix);
  }
  return stage as FinalSpecStage;
}

/**
 * The host dimensions of the instance the tags belong to. Instance-metadata tags may not list the
 * Auto Scaling group's `aws:` key, so without it DescribeTags is asked for that one key; when that
 * fails, the fragment pins no group and `health` says why (the alarms of an instance in a group
 * carry it).
 */
async function instanceKnowledge(
  source: "imds-tags" | "describe-tags",
  tags: Readonly<Record<string, string>>,
  identity: InstanceIdentity,
  deps: SpecLoaderDeps,
): Promise<InstanceKnowledge> {
  if (!autoScalingGroupLookupNeeded(source, tags)) return instanceKnowledgeOf(identity, tags);
  const remembered = deps.autoScalingGroupCache?.read(identity.instanceId);
  if (remembered !== undefined) return instanceKnowledgeOf(identity, { ...tags, ...remembered });
  try {
    const group = await deps.tagReader(identity.region).tagsOf(identity.instanceId, [AUTO_SCALING_GROUP_TAG]);
    deps.autoScalingGroupCache?.write(identity.instanceId, group);
    return instanceKnowledgeOf(identity, { ...tags, ...group });
  } catch (error) {
    return instanceKnowledgeOf(identity, tags, error instanceof Error ? error.message : String(error));
  }
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
