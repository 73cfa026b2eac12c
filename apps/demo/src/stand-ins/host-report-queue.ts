import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
// The agent's own body builder (what its SQS sender puts in MessageBody), so the report is the agent's, not a copy.
import { type HostReportsConfig, hostReportBody } from "../../../agent/src/core/host-reports.ts";
import type { LocalEvent } from "../../../agent/src/core/local-supervision.ts";

/** The spool the agent's supervisor and hooks append to (`<spool-dir>/local-events.jsonl`). */
export const SPOOL_FILE_NAME = "local-events.jsonl";

export interface HostReportQueueOptions {
  readonly spoolDir: string;
  readonly instanceId: string;
  readonly queueUrl: string;
  /** The instance role's unique id (`AROA…`): SQS's SenderId for an instance profile is `<role-id>:<instance-id>`. */
  readonly roleId: string;
  readonly region: string;
  readonly accountId: string;
}

export interface QueuedReport {
  readonly event: LocalEvent;
  readonly body: string;
  readonly record: SqsRecord;
}

export interface SqsRecord {
  readonly messageId: string;
  readonly receiptHandle: string;
  readonly body: string;
  readonly attributes: Record<string, string>;
  readonly messageAttributes: Record<string, never>;
  readonly md5OfBody: string;
  readonly eventSource: "aws:sqs";
  readonly eventSourceARN: string;
  readonly awsRegion: string;
}

/**
 * Stands in for the agent's SQS SendMessage, the `host-reports` queue and Lambda's SQS event
 * source mapping. The agent's sender cannot be pointed at a local endpoint (the supervisor runs
 * with a fixed environment, and `host-reports.json` needs the instance id from IMDS), so on this
 * machine no `host-reports.json` exists and the spool keeps every line; this stand-in reads the
 * lines the real agent wrote, turns each into the message body with the agent's own
 * `hostReportBody`, and delivers it as the SQS record the restart handler receives, with the
 * `SenderId` SQS sets for an instance role (`<role-id>:<instance-id>`).
 */
export class HostReportQueue {
  /** Every report delivered so far, oldest first. */
  readonly delivered: QueuedReport[] = [];
  private linesRead = 0;

  constructor(private readonly options: HostReportQueueOptions) {}

  spoolPath(): string {
    return join(this.options.spoolDir, SPOOL_FILE_NAME);
  }

  /** Every line the agent spooled, in order (the demo's spool stays far below the 256 KiB rotation). */
  spooled(): LocalEvent[] {
    const path = this.spoolPath();
    if (!existsSync(path)) return [];
    return readFileSync(path, "utf8")
      .split("\n")
      .filter((line) => line.trim() !== "")
      .map((line) => JSON.parse(line) as LocalEvent);
  }

  /** The spool lines not delivered yet, as SQS records (one message per event, as the agent sends them). */
  receive(budget: HostReportsConfig["budget"]): QueuedReport[] {
    const events = this.spooled().slice(this.linesRead);
    this.linesRead += events.length;
    const config: HostReportsConfig = { queueUrl: this.options.queueUrl, instanceId: this.options.instanceId, budget };
    const reports = events.map((event): QueuedReport => {
      const body = hostReportBody(event, config);
      return { event, body, record: this.record(body, event.recordedAtMs) };
    });
    this.delivered.push(...reports);
    return reports;
  }

  /** The Lambda event for a batch of records (SQS batches at most 10). */
  static event(records: readonly SqsRecord[]): { Records: SqsRecord[] } {
    return { Records: [...records] };
  }

  private record(body: string, sentAtMs: number): SqsRecord {
    const { region, accountId, queueUrl, roleId, instanceId } = this.options;
    const queueName = queueUrl.slice(queueUrl.lastIndexOf("/") + 1);
    return {
      messageId: crypto.randomUUID(),
      receiptHandle: crypto.randomUUID(),
      body,
      attributes: {
        ApproximateReceiveCount: "1",
        SentTimestamp: String(sentAtMs),
        SenderId: `${roleId}:${instanceId}`,
        ApproximateFirstReceiveTimestamp: String(sentAtMs),
      },
      messageAttributes: {},
      md5OfBody: createHash("md5").update(body).digest("hex"),
      eventSource: "aws:sqs",
      eventSourceARN: `arn:aws:sqs:${region}:${accountId}:${queueName}`,
      awsRegion: region,
    };
  }
}
