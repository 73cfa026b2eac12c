import {
  type CloudWatchClient,
  DeleteAlarmsCommand,
  DescribeAlarmsCommand,
  DisableAlarmActionsCommand,
  EnableAlarmActionsCommand,
  ListTagsForResourceCommand,
  type MetricAlarm,
  PutMetricAlarmCommand,
  paginateDescribeAlarms,
  SetAlarmStateCommand,
  type Tag,
} from "@aws-sdk/client-cloudwatch";
import { type AlarmDefinition, alarmPrefixOf, isManagedByDeployment, ownershipTagFor } from "@procwatch/contract";
import { type AdapterError, toAdapterError } from "./errors.ts";
import { type RateLimiter, unpacedRateLimiter } from "./rate-limiter.ts";

/** DescribeAlarms returns at most 100 records a page; DeleteAlarms and Enable/DisableAlarmActions take at most 100 names. */
export const MAX_ALARMS_PER_PAGE = 100;
export const MAX_NAMES_PER_BATCH = 100;

export interface AlarmStoreOptions {
  readonly rateLimiter?: RateLimiter;
}

export interface ItemFailure {
  readonly alarmName: string;
  readonly error: AdapterError;
}

export interface BatchOutcome {
  readonly succeeded: readonly string[];
  readonly failed: readonly ItemFailure[];
}

/** Tags on every alarm procwatch creates: the deployment that manages it (for deletes, IAM conditions and cost allocation) plus what it watches. */
export function alarmTagsFor(instanceId: string, processName: string, prefix: string): Tag[] {
  const owner = ownershipTagFor(prefix);
  return [
    { Key: owner.Key, Value: owner.Value },
    { Key: "procwatch:instance-id", Value: instanceId },
    { Key: "procwatch:process", Value: processName },
  ];
}

/**
 * CloudWatch metric alarms under one name prefix. Reads page through every DescribeAlarms page;
 * writes are one PutMetricAlarm per alarm and batches of ≤ 100 names for the rest. Every call
 * is paced by the injected rate limiter.
 */
export class AlarmStore {
  private readonly limiter: RateLimiter;
  /** `arn:<partition>:cloudwatch:<region>:<account>:alarm:`, learned from the first alarm read. */
  private arnPrefix: string | undefined;

  constructor(
    private readonly cloudwatch: CloudWatchClient,
    options: AlarmStoreOptions = {},
  ) {
    this.limiter = options.rateLimiter ?? unpacedRateLimiter();
  }

  /** Every metric alarm whose name starts with `namePrefix` (all pages). */
  async listByPrefix(namePrefix: string): Promise<MetricAlarm[]> {
    const alarms: MetricAlarm[] = [];
    try {
      await this.limiter.acquire("DescribeAlarms");
      const pages = paginateDescribeAlarms(
        { client: this.cloudwatch, pageSize: MAX_ALARMS_PER_PAGE },
        { AlarmNamePrefix: namePrefix, AlarmTypes: ["MetricAlarm"] },
      );
      for await (const page of pages) {
        for (const alarm of page.MetricAlarms ?? []) {
          this.learnArn(alarm);
          alarms.push(alarm);
        }
        if (page.NextToken) await this.limiter.acquire("DescribeAlarms");
      }
    } catch (error) {
      throw toAdapterError(error, "DescribeAlarms");
    }
    return alarms;
  }

  /** The named alarms that exist, in batches of 100 names. */
  async describeByNames(alarmNames: readonly string[]): Promise<MetricAlarm[]> {
    const alarms: MetricAlarm[] = [];
    for (const batch of batches(alarmNames)) {
      await this.limiter.acquire("DescribeAlarms");
      try {
        const output = await this.cloudwatch.send(
          new DescribeAlarmsCommand({ AlarmNames: batch, AlarmTypes: ["MetricAlarm"], MaxRecords: MAX_ALARMS_PER_PAGE }),
        );
        for (const alarm of output.MetricAlarms ?? []) {
          this.learnArn(alarm);
          alarms.push(alarm);
        }
      } catch (error) {
        throw toAdapterError(error, "DescribeAlarms");
      }
    }
    return alarms;
  }

  /**
   * Creates or replaces one alarm with one PutMetricAlarm; on create its tags go with it.
   * PutMetricAlarm ignores tags when the alarm already exists, which only matters if two writers
   * race to create the same alarm: the fleet Lambda runs one at a time, a CLI apply refuses
   * settings that differ from the deployed ones, and both send the same tags, so whichever create
   * wins carries them. A second TagResource per alarm would double the cost of a rollout at
   * CloudWatch's 3-TPS write quota.
   */
  async put(definition: AlarmDefinition, create: { instanceId: string; processName: string } | null): Promise<void> {
    const prefix = alarmPrefixOf(definition.AlarmName) ?? "";
    const tags = create === null ? undefined : alarmTagsFor(create.instanceId, create.processName, prefix);
    await this.limiter.acquire("PutMetricAlarm");
    try {
      await this.cloudwatch.send(
        new PutMetricAlarmCommand({
          AlarmName: definition.AlarmName,
          AlarmDescription: definition.AlarmDescription,
          Namespace: definition.Namespace,
          MetricName: definition.MetricName,
          Dimensions: definition.Dimensions.map((dimension) => ({ Name: dimension.Name, Value: dimension.Value })),
          Statistic: definition.Statistic,
          Period: definition.Period,
          EvaluationPeriods: definition.EvaluationPeriods,
          DatapointsToAlarm: definition.DatapointsToAlarm,
          Threshold: definition.Threshold,
          ComparisonOperator: definition.ComparisonOperator,
          TreatMissingData: definition.TreatMissingData,
          ActionsEnabled: definition.ActionsEnabled,
          AlarmActions: [...definition.AlarmActions],
          OKActions: [...definition.OKActions],
          InsufficientDataActions: [...definition.InsufficientDataActions],
          ...(tags !== undefined ? { Tags: tags } : {}),
        }),
      );
    } catch (error) {
      throw toAdapterError(error, "PutMetricAlarm");
    }
  }

  /**
   * The named alarms whose `procwatch:managed-by` tag names this deployment (one
   * ListTagsForResource each: tags are not in DescribeAlarms, so only the few alarms a run is
   * about to delete are asked). An alarm that no longer exists is left out.
   */
  async managedByDeployment(
    alarmNames: readonly string[],
    prefix: string,
  ): Promise<{ managed: string[]; notManaged: { alarmName: string; owner: string | undefined }[] }> {
    const managed: string[] = [];
    const notManaged: { alarmName: string; owner: string | undefined }[] = [];
    for (const alarmName of alarmNames) {
      let tags: Record<string, string>;
      try {
        const arn = await this.arnOf(alarmName);
        await this.limiter.acquire("ListTagsForResource");
        const output = await this.cloudwatch.send(new ListTagsForResourceCommand({ ResourceARN: arn }));
        tags = Object.fromEntries((output.Tags ?? []).map((tag) => [tag.Key ?? "", tag.Value ?? ""]));
      } catch (error) {
        const failure = toAdapterError(error, "ListTagsForResource");
        if (failure.code === "ResourceNotFoundException" || failure.code === "ResourceNotFound") continue;
        throw failure;
      }
      if (isManagedByDeployment(tags, prefix)) managed.push(alarmName);
      else notManaged.push({ alarmName, owner: tags["procwatch:managed-by"] });
    }
    return { managed, notManaged };
  }

  /**
   * Deletes in batches of 100. DeleteAlarms is all-or-nothing: one name that no longer exists
   * fails its whole batch, so on ResourceNotFound the batch is narrowed to the alarms that
   * still exist and retried once.
   */
  async delete(alarmNames: readonly string[]): Promise<BatchOutcome> {
    return this.batched(alarmNames, "DeleteAlarms", async (batch) => {
      try {
        await this.cloudwatch.send(new DeleteAlarmsCommand({ AlarmNames: batch }));
        return batch;
      } catch (error) {
        const failure = toAdapterError(error, "DeleteAlarms");
        if (failure.code !== "ResourceNotFound" && failure.code !== "ResourceNotFoundException") throw failure;
        const existing = (await this.describeByNames(batch)).map((alarm) => alarm.AlarmName ?? "");
        if (existing.length > 0) {
          await this.limiter.acquire("DeleteAlarms");
          await this.cloudwatch.send(new DeleteAlarmsCommand({ AlarmNames: existing }));
        }
        return batch;
      }
    });
  }

  async disableActions(alarmNames: readonly string[]): Promise<BatchOutcome> {
    return this.batched(alarmNames, "DisableAlarmActions", async (batch) => {
      await this.cloudwatch.send(new DisableAlarmActionsCommand({ AlarmNames: batch }));
      return batch;
    });
  }

  async enableActions(alarmNames: readonly string[]): Promise<BatchOutcome> {
    return this.batched(alarmNames, "EnableAlarmActions", async (batch) => {
      await this.cloudwatch.send(new EnableAlarmActionsCommand({ AlarmNames: batch }));
      return batch;
    });
  }

  /**
   * Sets an alarm's state until its next evaluation (SetAlarmState). procwatch uses it for one
   * thing: an alarm already in ALARM whose actions were just turned on is set to INSUFFICIENT_DATA,
   * so the next evaluation transitions to ALARM again and runs the actions, which CloudWatch does
   * only on a state change (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_SetAlarmState.html).
   */
  async setState(alarmName: string, state: "OK" | "ALARM" | "INSUFFICIENT_DATA", reason: string): Promise<void> {
    await this.limiter.acquire("SetAlarmState");
    try {
      await this.cloudwatch.send(new SetAlarmStateCommand({ AlarmName: alarmName, StateValue: state, StateReason: reason.slice(0, 1023) }));
    } catch (error) {
      throw toAdapterError(error, "SetAlarmState");
    }
  }

  /** Runs `call` per batch of ≤ 100 names; a failed batch is recorded per name and the remaining batches still run. */
  private async batched(alarmNames: readonly string[], operation: string, call: (batch: string[]) => Promise<string[]>): Promise<BatchOutcome> {
    const succeeded: string[] = [];
    const failed: ItemFailure[] = [];
    for (const batch of batches(alarmNames)) {
      await this.limiter.acquire(operation);
      try {
        succeeded.push(...(await call(batch)));
      } catch (error) {
        const failure = toAdapterError(error, operation);
        for (const alarmName of batch) failed.push({ alarmName, error: failure });
      }
    }
    return { succeeded, failed };
  }

  private learnArn(alarm: MetricAlarm): void {
    if (this.arnPrefix !== undefined || alarm.AlarmArn === undefined || alarm.AlarmName === undefined) return;
    const suffix = `:alarm:${alarm.AlarmName}`;
    if (alarm.AlarmArn.endsWith(suffix)) this.arnPrefix = alarm.AlarmArn.slice(0, alarm.AlarmArn.length - alarm.AlarmName.length);
  }

  private async arnOf(alarmName: string): Promise<string> {
    if (this.arnPrefix === undefined) {
      const [alarm] = await this.describeByNames([alarmName]);
      if (alarm?.AlarmArn !== undefined) return alarm.AlarmArn;
      throw toAdapterError(Object.assign(new Error(`alarm ${alarmName} not found`), { name: "ResourceNotFound" }), "DescribeAlarms");
    }
    return `${this.arnPrefix}${alarmName}`;
  }
}

function* batches(names: readonly string[]): Generator<string[]> {
  const unique = [...new Set(names)];
  for (let start = 0; start < unique.length; start += MAX_NAMES_PER_BATCH) yield unique.slice(start, start + MAX_NAMES_PER_BATCH);
}
