import { profileParameterName } from "@procwatch/contract";
import type { ProfileFetch } from "../core/spec-sources.ts";
import { AwsCallError } from "../errors.ts";
import { loadHeavyModules } from "./heavy-modules.ts";

/**
 * The two AWS reads the agent makes, behind narrow interfaces so the CLI wires them in one
 * place and tests substitute plain objects. The SDK clients are imported lazily: they are most
 * of the bundle and neither `--help` nor `health` with a local spec should pay for them.
 */
export interface InstanceTagReader {
  /**
   * Tags of this instance via EC2 DescribeTags (the fallback when instance-metadata tags are off),
   * or only the tags named in `keys` (a `key` filter: the Auto Scaling group's tag, which
   * instance-metadata tags may not list).
   */
  tagsOf(instanceId: string, keys?: readonly string[]): Promise<Record<string, string>>;
}

export interface ProfileReader {
  /** The spec-document JSON stored at `/procwatch/profiles/<name>`, or not found. */
  profile(name: string): Promise<ProfileFetch>;
}

const THROTTLING = new Set(["ThrottlingException", "Throttling", "RequestLimitExceeded", "TooManyRequestsException"]);

function isRetryable(error: unknown): boolean {
  const named = error as { name?: string; $retryable?: unknown; $metadata?: { httpStatusCode?: number } };
  return THROTTLING.has(named.name ?? "") || named.$retryable !== undefined || (named.$metadata?.httpStatusCode ?? 0) >= 500;
}

export class Ec2DescribeTagsReader implements InstanceTagReader {
  constructor(private readonly region: string) {}

  async tagsOf(instanceId: string, keys?: readonly string[]): Promise<Record<string, string>> {
    const { EC2Client, DescribeTagsCommand } = await loadHeavyModules();
    const client = new EC2Client({ region: this.region, maxAttempts: 3 });
    const tags: Record<string, string> = {};
    try {
      let nextToken: string | undefined;
      do {
        const page = await client.send(
          new DescribeTagsCommand({
            Filters: [{ Name: "resource-id", Values: [instanceId] }, ...(keys === undefined ? [] : [{ Name: "key", Values: [...keys] }])],
            MaxResults: 1000,
            NextToken: nextToken,
          }),
        );
        for (const tag of page.Tags ?? []) if (tag.Key !== undefined) tags[tag.Key] = tag.Value ?? "";
        nextToken = page.NextToken;
      } while (nextToken !== undefined);
    } catch (error) {
      throw new AwsCallError("EC2 DescribeTags", error, isRetryable(error));
    } finally {
      client.destroy();
    }
    return tags;
  }
}

export class SsmProfileReader implements ProfileReader {
  /** The region comes from --region/AWS_REGION, else from instance metadata, resolved only when a profile is needed. */
  constructor(private readonly resolveRegion: () => Promise<string | undefined>) {}

  async profile(name: string): Promise<ProfileFetch> {
    const region = await this.resolveRegion();
    const { SSMClient, GetParameterCommand } = await loadHeavyModules();
    const client = new SSMClient({ ...(region === undefined ? {} : { region }), maxAttempts: 3 });
    try {
      const answer = await client.send(new GetParameterCommand({ Name: profileParameterName(name) }));
      const value = answer.Parameter?.Value;
      if (value === undefined) return { found: false };
      try {
        return { found: true, document: JSON.parse(value) };
      } catch {
        // Handing the raw text to the contract makes it report a bad-document issue naming the profile.
        return { found: true, document: value };
      }
    } catch (error) {
      if ((error as { name?: string }).name === "ParameterNotFound") return { found: false };
      throw new AwsCallError(`SSM GetParameter ${profileParameterName(name)}`, error, isRetryable(error));
    } finally {
      client.destroy();
    }
  }
}
