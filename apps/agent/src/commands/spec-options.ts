import type { DetectionProfileName, HostSpec } from "@procwatch/contract";
import { type InstanceKnowledge, type ResolvedSpecStage, resolveSpecStage } from "../core/spec-sources.ts";
import { AgentError, SpecInvalidError } from "../errors.ts";
import type { Wiring } from "../wiring.ts";

export interface SpecFlags {
  readonly spec?: string;
  readonly processes?: string;
  readonly profile?: string;
  readonly detection?: string;
  /** The deployment default (validated by the CLI from --default-detection / PROCWATCH_DEFAULT_DETECTION). */
  readonly defaultDetection?: DetectionProfileName;
}

export function specRequestFrom(flags: SpecFlags) {
  return {
    ...(flags.spec === undefined ? {} : { specFile: flags.spec }),
    ...(flags.processes === undefined ? {} : { processes: flags.processes }),
    ...(flags.profile === undefined ? {} : { profile: flags.profile }),
    ...(flags.detection === undefined ? {} : { detection: flags.detection }),
  };
}

/** Gathers the spec's inputs (flags, --spec file, tags, profile) and resolves them with the deployment default. */
export async function loadResolvedSpec(flags: SpecFlags, wiring: Wiring): Promise<ResolvedSpecStage> {
  const gathered = await wiring.loadSpec(specRequestFrom(flags));
  return resolveSpecStage(gathered, flags.defaultDetection === undefined ? {} : { defaultDetection: flags.defaultDetection });
}

/** What a stopped command left as it was, for the hint of a spec it could not use. */
const UNTOUCHED_BY: Record<"render" | "apply", string> = {
  render: "render writes nothing",
  apply: "apply changed nothing: the fragment, the allow-list and the CloudWatch agent's config are as they were",
};

/** render/apply need a spec with processes: anything else stops them before any file is touched. */
export function requireResolvedSpec(
  stage: ResolvedSpecStage,
  command: "render" | "apply",
): { spec: HostSpec; source: string; instance: InstanceKnowledge | undefined } {
  switch (stage.kind) {
    case "resolved":
      return { spec: stage.spec, source: stage.source, instance: stage.instance };
    case "invalid":
      throw new SpecInvalidError(stage.issues, stage.source, `fix the listed values and run ${command} again; ${UNTOUCHED_BY[command]}`);
    case "not-opted-in":
      throw new AgentError(`this host is not opted in (${stage.source} has no procwatch:enabled=true)`, {
        hint: "tag the instance procwatch:enabled=true with procwatch:processes or procwatch:profile, or pass --spec FILE",
      });
  }
}
