import { type DescribeInstancesCommandInput, type EC2Client, type Filter, type Instance, paginateDescribeInstances } from "@aws-sdk/client-ec2";
import { DEFAULT_TAG_PREFIX, isInstanceId, tagKeysFor } from "@procwatch/contract";
import { toAdapterError } from "./errors.ts";
import { type RateLimiter, unpacedRateLimiter } from "./rate-limiter.ts";

export const INSTANCE_STATES = ["pending", "running", "stopping", "stopped", "shutting-down", "terminated"] as const;
export type InstanceState = (typeof INSTANCE_STATES)[number];

/** States in which an instance still exists and may come back: its alarms are kept (actions on or off). */
export const LIVE_INSTANCE_STATES: readonly InstanceState[] = ["pending", "running", "stopping", "stopped"];

export interface InstanceRecord {
  readonly instanceId: string;
  readonly state: InstanceState;
  /** The `Name` tag, when set. */
  readonly name?: string;
  readonly tags: Readonly<Record<string, string>>;
  /** DescribeInstances `LaunchTime`: when the instance was last launched or started (a stop/start resets it). */
  readonly launchTime?: Date;
  /** `ImageId` and `InstanceType`: what the CloudWatch agent's `${aws:ImageId}`/`${aws:InstanceType}` resolve to, so alarm dimensions. */
  readonly imageId?: string;
  readonly instanceType?: string;
}

export interface InstanceInventoryOptions {
  /** Tag prefix of the procwatch tag grammar (default `procwatch`). */
  readonly tagPrefix?: string;
  readonly rateLimiter?: RateLimiter;
  /** DescribeInstances page size; AWS allows 5..1000. */
  readonly pageSize?: number;
}

export interface ListInstancesOptions {
  /** Narrow to these instances (an event names them); omitted = the whole account/region. */
  readonly instanceIds?: readonly string[];
}

/** EC2 accepts at most 200 values per filter. */
const MAX_FILTER_VALUES = 200;
const MAX_PAGE_SIZE = 1000;

/**
 * Reads instances and their tags from EC2. Every read pages through all of DescribeInstances
 * with the filtering done server-side, so a 10,000-instance account costs ⌈n/1000⌉ calls.
 * Instance ids are always passed as an `instance-id` *filter*, never as `InstanceIds`: with the
 * parameter, one id that no longer exists fails the whole call (InvalidInstanceID.NotFound).
 */
export class InstanceInventory {
  private readonly tagPrefix: string;
  private readonly limiter: RateLimiter;
  private readonly pageSize: number;

  constructor(
    private readonly ec2: EC2Client,
    options: InstanceInventoryOptions = {},
  ) {
    this.tagPrefix = options.tagPrefix ?? DEFAULT_TAG_PREFIX;
    this.limiter = options.rateLimiter ?? unpacedRateLimiter();
    this.pageSize = Math.min(MAX_PAGE_SIZE, Math.max(5, options.pageSize ?? MAX_PAGE_SIZE));
  }

  /** Live instances (pending/running/stopping/stopped) whose opt-in tag is exactly `true`. */
  async listOptedIn(options: ListInstancesOptions = {}): Promise<InstanceRecord[]> {
    const enabledKey = tagKeysFor(this.tagPrefix).enabled;
    return this.list([{ Name: `tag:${enabledKey}`, Values: ["true"] }, liveStateFilter()], options.instanceIds);
  }

  /**
   * Live instances that carry the opt-in tag key with *any* value. The reconcile reads these so
   * that `procwatch:enabled=True` or `=yes` is reported as a tag problem instead of silently
   * meaning "not opted in".
   */
  async listTagged(options: ListInstancesOptions = {}): Promise<InstanceRecord[]> {
    const enabledKey = tagKeysFor(this.tagPrefix).enabled;
    return this.list([{ Name: "tag-key", Values: [enabledKey] }, liveStateFilter()], options.instanceIds);
  }

  /**
   * The named instances in whatever state they are, opted in or not, terminated included while
   * EC2 still lists them. Unknown or malformed ids are simply absent from the result.
   */
  async describe(instanceIds: readonly string[]): Promise<InstanceRecord[]> {
    const valid = [...new Set(instanceIds)].filter(isInstanceId);
    if (valid.length === 0) return [];
    return this.list([], valid);
  }

  private async list(filters: Filter[], instanceIds: readonly string[] | undefined): Promise<InstanceRecord[]> {
    if (instanceIds === undefined) return this.page(filters);
    const valid = [...new Set(instanceIds)].filter(isInstanceId);
    const records: InstanceRecord[] = [];
    for (let start = 0; start < valid.length; start += MAX_FILTER_VALUES) {
      const chunk = valid.slice(start, start + MAX_FILTER_VALUES);
      records.push(...(await this.page([...filters, { Name: "instance-id", Values: chunk }])));
    }
    return records;
  }

  private async page(filters: Filter[]): Promise<InstanceRecord[]> {
    const input: DescribeInstancesCommandInput = { ...(filters.length > 0 ? { Filters: filters } : {}) };
    const records: InstanceRecord[] = [];
    try {
      // The paginator sends the next request only when the loop asks for it, so acquiring at the
      // end of each page paces every request without touching the client's middleware stack.
      await this.limiter.acquire("DescribeInstances");
      const pages = paginateDescribeInstances({ client: this.ec2, pageSize: this.pageSize }, input);
      for await (const page of pages) {
        for (const reservation of page.Reservations ?? []) {
          for (const instance of reservation.Instances ?? []) {
            const record = toInstanceRecord(instance);
            if (record !== null) records.push(record);
          }
        }
        if (page.NextToken) await this.limiter.acquire("DescribeInstances");
      }
    } catch (error) {
      throw toAdapterError(error, "DescribeInstances");
    }
    return records;
  }
}

function liveStateFilter(): Filter {
  return { Name: "instance-state-name", Values: [...LIVE_INSTANCE_STATES] };
}

function toInstanceRecord(instance: Instance): InstanceRecord | null {
  const instanceId = instance.InstanceId;
  const state = instance.State?.Name;
  if (instanceId === undefined || state === undefined || !(INSTANCE_STATES as readonly string[]).includes(state)) return null;
  const tags: Record<string, string> = {};
  for (const tag of instance.Tags ?? []) {
    if (tag.Key !== undefined) tags[tag.Key] = tag.Value ?? "";
  }
  const name = tags.Name;
  const launchTime = instance.LaunchTime instanceof Date && !Number.isNaN(instance.LaunchTime.getTime()) ? instance.LaunchTime : undefined;
  return {
    instanceId,
    state: state as InstanceState,
    tags,
    ...(name !== undefined && name !== "" ? { name } : {}),
    ...(launchTime !== undefined ? { launchTime } : {}),
    ...(instance.ImageId !== undefined && instance.ImageId !== "" ? { imageId: instance.ImageId } : {}),
    ...(instance.InstanceType !== undefined ? { instanceType: String(instance.InstanceType) } : {}),
  };
}
