import { GetParametersCommand, type GetParametersCommandOutput, type SSMClient } from "@aws-sdk/client-ssm";
import { issue, parseSpecDocument, profileNameRegex, profileParameterName, type SpecDocument, type SpecIssue } from "@procwatch/contract";
import { type AdapterError, toAdapterError } from "./errors.ts";
import { type RateLimiter, unpacedRateLimiter } from "./rate-limiter.ts";

/**
 * What a named profile lookup found. A missing parameter and an unparsable one are told apart,
 * because an operator fixes them differently (create it vs. fix its JSON).
 */
export type ProfileLookup =
  | { readonly found: true; readonly document: SpecDocument; readonly version?: number }
  | { readonly found: false; readonly reason: "missing" }
  | { readonly found: false; readonly reason: "invalid"; readonly issues: readonly SpecIssue[] };

/**
 * The lookup itself failed (throttling or 5xx after the SDK's retries, access denied, …). It says
 * nothing about whether the profile exists, so a caller must not act as if it were missing.
 */
export interface ProfileUnavailable {
  readonly found: false;
  readonly reason: "unavailable";
  /** One line: the failed call and AWS's error. */
  readonly message: string;
  readonly error: AdapterError;
}

export interface ProfileStoreOptions {
  readonly rateLimiter?: RateLimiter;
}

/** GetParameters accepts at most 10 names per call. */
const MAX_NAMES_PER_CALL = 10;

/** Reads named fleet profiles (`/procwatch/profiles/<name>`, String parameters holding spec-document JSON). */
export class ProfileStore {
  private readonly limiter: RateLimiter;

  constructor(
    private readonly ssm: SSMClient,
    options: ProfileStoreOptions = {},
  ) {
    this.limiter = options.rateLimiter ?? unpacedRateLimiter();
  }

  /**
   * One entry per distinct requested name; names that are not valid profile names are reported
   * missing without a call. Any failed call rejects the whole lookup with an AdapterError.
   */
  async getProfiles(names: Iterable<string>): Promise<Map<string, ProfileLookup>> {
    const result = new Map<string, ProfileLookup>();
    for (const chunk of this.chunks(names, result)) {
      for (const [name, lookup] of await this.fetchChunk(chunk)) result.set(name, lookup);
    }
    return result;
  }

  /**
   * Like `getProfiles`, but a failed GetParameters call marks just the names of its batch
   * `unavailable` and the other batches still run: a fleet reconcile keeps those hosts' alarms as
   * they are instead of failing as a whole (or, worse, treating the profiles as deleted).
   */
  async lookupProfiles(names: Iterable<string>): Promise<Map<string, ProfileLookup | ProfileUnavailable>> {
    const result = new Map<string, ProfileLookup | ProfileUnavailable>();
    for (const chunk of this.chunks(names, result)) {
      try {
        for (const [name, lookup] of await this.fetchChunk(chunk)) result.set(name, lookup);
      } catch (error) {
        const failure = toAdapterError(error, "GetParameters");
        for (const name of chunk) result.set(name, { found: false, reason: "unavailable", message: failure.message, error: failure });
      }
    }
    return result;
  }

  /** Valid names in batches of 10; invalid ones go straight into `result` as missing. */
  private chunks(names: Iterable<string>, result: Map<string, ProfileLookup | ProfileUnavailable>): string[][] {
    const valid: string[] = [];
    for (const name of new Set(names)) {
      if (profileNameRegex.test(name)) valid.push(name);
      else result.set(name, { found: false, reason: "missing" });
    }
    const chunks: string[][] = [];
    for (let start = 0; start < valid.length; start += MAX_NAMES_PER_CALL) chunks.push(valid.slice(start, start + MAX_NAMES_PER_CALL));
    return chunks;
  }

  private async fetchChunk(chunk: readonly string[]): Promise<Map<string, ProfileLookup>> {
    const byParameter = new Map(chunk.map((name) => [profileParameterName(name), name]));
    await this.limiter.acquire("GetParameters");
    let output: GetParametersCommandOutput;
    try {
      output = await this.ssm.send(new GetParametersCommand({ Names: [...byParameter.keys()], WithDecryption: false }));
    } catch (error) {
      throw toAdapterError(error, "GetParameters");
    }
    const result = new Map<string, ProfileLookup>();
    for (const parameter of output.Parameters ?? []) {
      const name = parameter.Name === undefined ? undefined : byParameter.get(parameter.Name);
      if (name === undefined) continue;
      result.set(name, parseProfile(name, parameter.Value ?? "", parameter.Version));
    }
    // A name GetParameters did not return does not exist (it lists those in InvalidParameters).
    for (const name of chunk) {
      if (!result.has(name)) result.set(name, { found: false, reason: "missing" });
    }
    return result;
  }
}

function parseProfile(name: string, value: string, version: number | undefined): ProfileLookup {
  const label = `profile:${name}`;
  let json: unknown;
  try {
    json = JSON.parse(value);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    return {
      found: false,
      reason: "invalid",
      issues: [issue("bad-document", label, value, `parameter ${profileParameterName(name)} is not valid JSON: ${reason}`, "a JSON spec document")],
    };
  }
  const parsed = parseSpecDocument(json, label);
  if (parsed.spec === null) return { found: false, reason: "invalid", issues: parsed.issues };
  return { found: true, document: parsed.spec, ...(version !== undefined ? { version } : {}) };
}
