import { readFileSync } from "node:fs";
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
      let text: string;
      try {
        text = readFileSync(plan.path, "utf8");
      } catch (error) {
        return {
          kind: "invalid",
          source: `spec-file:${label}`,
          issues: [
            issue("bad-document", label, plan.path, `cannot read the spec file (${(error as NodeJS.ErrnoException).code ?? "error"})`, "a readable JSON file"),
          ],
        };
      }
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
