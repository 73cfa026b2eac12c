import {
  AUTO_SCALING_GROUP_TAG,
  type DetectionProfileName,
  type HostSpec,
  type InstanceTags,
  issue,
  type MetricHost,
  metricHostOf,
  parseInstanceTags,
  parseSpecDocument,
  type ResolveInput,
  resolveHostSpec,
  type SpecDocument,
  type SpecIssue,
  tagKeysFor,
} from "@procwatch/contract";

/**
 * Where the host's process spec comes from, in order:
 *   1. local: `--spec FILE` (a spec document) or the flags `--processes/--profile/--detection`;
 *   2. instance tags: IMDSv2 instance-metadata tags, else EC2 DescribeTags for this instance;
 *   3. a named fleet profile in SSM Parameter Store, when 1 or 2 name one.
 * The I/O shell fetches; these functions decide, so the ordering is tested from plain data.
 * Gathering ends in a `ready` stage holding every input; `resolveSpecStage` then resolves it with
 * the deployment's settings (the default detection profile), which the fetching does not need.
 */
export interface SpecRequest {
  readonly specFile?: string;
  readonly processes?: string;
  readonly profile?: string;
  readonly detection?: string;
  readonly tagPrefix: string;
}

export type SpecSourcePlan =
  | { readonly kind: "spec-file"; readonly path: string }
  | { readonly kind: "flags"; readonly tags: Readonly<Record<string, string>> }
  | { readonly kind: "instance-tags"; readonly order: readonly ["imds-tags", "describe-tags"] };

export type SpecPlanResult = { readonly plan: SpecSourcePlan } | { readonly usageProblem: string };

export function planSpecSource(request: SpecRequest): SpecPlanResult {
  const flagGiven = request.processes !== undefined || request.profile !== undefined || request.detection !== undefined;
  if (request.specFile !== undefined) {
    if (flagGiven) return { usageProblem: "--spec cannot be combined with --processes, --profile or --detection" };
    return { plan: { kind: "spec-file", path: request.specFile } };
  }
  if (flagGiven) {
    if (request.processes === undefined && request.profile === undefined) {
      return { usageProblem: "--detection needs --processes or --profile (or a --spec file)" };
    }
    return { plan: { kind: "flags", tags: flagsAsTags(request) } };
  }
  return { plan: { kind: "instance-tags", order: ["imds-tags", "describe-tags"] } };
}

/** Local flags use the tag grammar, so the contract validates them exactly as it validates tags. */
export function flagsAsTags(request: SpecRequest): Record<string, string> {
  const keys = tagKeysFor(request.tagPrefix);
  const tags: Record<string, string> = { [keys.enabled]: "true" };
  if (request.processes !== undefined) tags[keys.processes] = request.processes;
  if (request.profile !== undefined) tags[keys.profile] = request.profile;
  if (request.detection !== undefined) tags[keys.detection] = request.detection;
  return tags;
}

/** What `resolveHostSpec` needs from the host; the deployment's default detection is added at resolution. */
export type SpecInputs = Omit<ResolveInput, "defaultDetection">;

/**
 * The instance the spec's tags belong to, as procwatch's fragment pins its host dimensions
 * (contract `hostDimensionPins`): known only when the spec came from the instance's tags (then the
 * identity document was read anyway, or costs one more metadata request). A `--spec` file or the
 * flags leave it unknown, and the fragment carries the CloudWatch agent's placeholders.
 */
export interface InstanceKnowledge {
  readonly host: MetricHost;
  /** Why the Auto Scaling group could not be determined (the fragment then pins none), when it could not. */
  readonly autoScalingGroupProblem?: string;
}

/** A gathering step: every input in hand, waiting for the named profile, or stopped with reasons. */
export type SpecStage =
  | { readonly kind: "ready"; readonly inputs: SpecInputs; readonly source: string; readonly instance?: InstanceKnowledge }
  | { readonly kind: "needs-profile"; readonly profile: string; readonly tags: InstanceTags; readonly source: string; readonly instance?: InstanceKnowledge }
  | { readonly kind: "not-opted-in"; readonly source: string }
  | { readonly kind: "invalid"; readonly issues: readonly SpecIssue[]; readonly source: string };

/** Where the spec ended up: resolved, nothing to watch, or stopped with reasons. */
export type ResolvedSpecStage =
  | { readonly kind: "resolved"; readonly spec: HostSpec; readonly source: string; readonly instance?: InstanceKnowledge }
  | { readonly kind: "not-opted-in"; readonly source: string }
  | { readonly kind: "invalid"; readonly issues: readonly SpecIssue[]; readonly source: string };

/** Settings of the whole deployment, the same on every host and in the fleet manager. */
export interface DeploymentSpecSettings {
  /**
   * Used when neither the host's `procwatch:detection` tag (or `--detection`) nor its profile or
   * `--spec` document sets one. The fleet manager builds alarm periods from the same value.
   */
  readonly defaultDetection?: DetectionProfileName;
}

/** Resolves a fully gathered stage into the host's spec; the only place `resolveHostSpec` runs. */
export function resolveSpecStage(stage: Exclude<SpecStage, { kind: "needs-profile" }>, deployment: DeploymentSpecSettings): ResolvedSpecStage {
  if (stage.kind !== "ready") return stage;
  const resolved = resolveHostSpec({
    ...stage.inputs,
    ...(deployment.defaultDetection === undefined ? {} : { defaultDetection: deployment.defaultDetection }),
  });
  if (resolved.spec === null) return { kind: "invalid", issues: resolved.issues, source: stage.source };
  return { kind: "resolved", spec: resolved.spec, source: stage.source, ...(stage.instance === undefined ? {} : { instance: stage.instance }) };
}

/** A `--spec` document: the whole spec, never merged with tags; its own `detection` beats the deployment default. */
export function specFromDocument(json: unknown, label: string, tagPrefix: string): SpecStage {
  const source = `spec-file:${label}`;
  const parsed = parseSpecDocument(json, label);
  if (parsed.spec === null) return { kind: "invalid", issues: parsed.issues, source };
  return { kind: "ready", inputs: { tags: emptyOptIn(), profileDocument: parsed.spec, prefix: tagPrefix }, source };
}

/** Tags from IMDS, DescribeTags or the local flags: absent opt-in means nothing to watch, not an error. */
export function specFromTags(tags: Readonly<Record<string, string>>, source: string, tagPrefix: string): SpecStage {
  const parsed = parseInstanceTags(tags, tagPrefix);
  if (parsed.spec === null) return { kind: "invalid", issues: parsed.issues, source };
  if (!parsed.spec.enabled) return { kind: "not-opted-in", source };
  if (parsed.spec.profile !== undefined) return { kind: "needs-profile", profile: parsed.spec.profile, tags: parsed.spec, source };
  return { kind: "ready", inputs: { tags: parsed.spec, prefix: tagPrefix }, source };
}

/** What the SSM lookup of a profile produced: the parsed document, "not found", or the document's issues. */
export type ProfileFetch = { readonly found: true; readonly document: unknown } | { readonly found: false };

export function specWithProfile(stage: Extract<SpecStage, { kind: "needs-profile" }>, fetched: ProfileFetch, tagPrefix: string): SpecStage {
  const source = `${stage.source}+profile:${stage.profile}`;
  let document: SpecDocument | null = null;
  if (fetched.found) {
    const parsed = parseSpecDocument(fetched.document, `profile:${stage.profile}`);
    if (parsed.spec === null) return { kind: "invalid", issues: parsed.issues, source };
    document = parsed.spec;
  }
  return {
    kind: "ready",
    inputs: { tags: stage.tags, profileDocument: document, prefix: tagPrefix },
    source,
    ...(stage.instance === undefined ? {} : { instance: stage.instance }),
  };
}

/** Whether the spec's stage renders a fragment, so the instance's host dimensions are worth finding out. */
export function stageRenders(stage: SpecStage): stage is Extract<SpecStage, { kind: "ready" | "needs-profile" }> {
  return stage.kind === "ready" || stage.kind === "needs-profile";
}

/**
 * Whether the Auto Scaling group must be asked of EC2 DescribeTags (only that key): instance-metadata
 * tags may leave out `aws:` keys, so their silence does not say the instance is in no group.
 * DescribeTags lists every tag, `aws:autoscaling:groupName` included, so its silence does.
 */
export function autoScalingGroupLookupNeeded(source: "imds-tags" | "describe-tags", tags: Readonly<Record<string, string>>): boolean {
  return source === "imds-tags" && tags[AUTO_SCALING_GROUP_TAG] === undefined;
}

/** The instance's host dimensions from its identity document and the tags the spec came from. */
export function instanceKnowledgeOf(
  identity: { readonly instanceId: string; readonly imageId?: string; readonly instanceType?: string },
  tags: Readonly<Record<string, string>>,
  autoScalingGroupProblem?: string,
): InstanceKnowledge {
  const host = metricHostOf({ instanceId: identity.instanceId, imageId: identity.imageId, instanceType: identity.instanceType, tags });
  return { host, ...(autoScalingGroupProblem === undefined ? {} : { autoScalingGroupProblem }) };
}

/** Turns a spec file's text into JSON, or an issue naming the file, so every problem is reported the same way. */
export function parseJsonText(text: string, label: string): { json: unknown } | { issues: SpecIssue[] } {
  try {
    return { json: JSON.parse(text) };
  } catch (error) {
    return { issues: [issue("bad-document", label, text.slice(0, 40), `not valid JSON (${(error as Error).message})`, "a JSON spec document")] };
  }
}

function emptyOptIn(): InstanceTags {
  return { enabled: true, processNames: [], processOptions: new Map() };
}
