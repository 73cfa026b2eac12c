import type { HostSpec } from "@procwatch/contract";
import { AgentError, SpecInvalidError } from "../errors.ts";
import type { FinalSpecStage } from "../io/spec-loader.ts";

export interface SpecFlags {
  readonly spec?: string;
  readonly processes?: string;
  readonly profile?: string;
  readonly detection?: string;
}

export function specRequestFrom(flags: SpecFlags) {
  return {
    ...(flags.spec === undefined ? {} : { specFile: flags.spec }),
    ...(flags.processes === undefined ? {} : { processes: flags.processes }),
    ...(flags.profile === undefined ? {} : { profile: flags.profile }),
    ...(flags.detection === undefined ? {} : { detection: flags.detection }),
  };
}

/** render/apply need a spec with processes: anything else stops them before any file is touched. */
export function requireResolvedSpec(stage: FinalSpecStage): { spec: HostSpec; source: string } {
  switch (stage.kind) {
    case "resolved":
      return { spec: stage.spec, source: stage.source };
    case "invalid":
      throw new SpecInvalidError(stage.issues, stage.source);
    case "not-opted-in":
      throw new AgentError(`this host is not opted in (${stage.source} has no procwatch:enabled=true)`, {
        hint: "tag the instance procwatch:enabled=true with procwatch:processes or procwatch:profile, or pass --spec FILE",
      });
  }
}
