import { printableValue } from "@procwatch/contract";
import { ImdsAnswerError, NotOnEc2Error } from "../errors.ts";

const MAX_ANSWER_BYTES = 1024 * 1024;

/**
 * A minimal IMDSv2 client on node:http (loading fetch/undici would cost startup time). Every
 * request has a short deadline for its whole answer: off EC2 the link-local address simply does not answer, and the
 * agent must say so within about a second instead of hanging an SSM command.
 */
export interface ImdsOptions {
  readonly endpoint?: string;
  readonly timeoutMs?: number;
  /** A deadline for everything this client asks (token, listing, one request per tag): 1 s answers must not add up to a minute. */
  readonly totalTimeoutMs?: number;
  /** Honours AWS_EC2_METADATA_DISABLED like the AWS SDK does. */
  readonly disabled?: boolean;
}

/** What procwatch reads from the instance identity document (/latest/dynamic/instance-identity/document). */
export interface InstanceIdentity {
  readonly instanceId: string;
  readonly region: string;
  readonly imageId: string;
  readonly instanceType: string;
}

const IDENTITY_FIELDS = ["instanceId", "region", "imageId", "instanceType"] as const;

interface HttpAnswer {
  readonly status: number;
  readonly body: string;
}

export class ImdsClient {
  private readonly endpoint: URL;
  private readonly timeoutMs: number;
  private readonly totalTimeoutMs: number;
  private firstRequestAt: number | undefined;
  /** Whether the metadata service has answered this client at all (then this host is on EC2, whatever the budget left). */
  answered = false;
  private readonly disabled: boolean;
  private token: string | undefined;
  private identity: Promise<InstanceIdentity> | undefined;

  constructor(options: ImdsOptions = {}) {
    this.endpoint = new URL(options.endpoint ?? "http://169.254.169.254");
    this.timeoutMs = options.timeoutMs ?? 1000;
    this.totalTimeoutMs = options.totalTimeoutMs ?? 5000;
    this.disabled = options.disabled ?? false;
  }

  /** The value at `path`, or null on 404 (e.g. tags in metadata not enabled). */
  async get(path: string): Promise<string | null> {
    const token = await this.sessionToken();
    const answer = await this.send("GET", path, { "x-aws-ec2-metadata-token": token });
    if (answer.status === 404) return null;
    if (answer.status === 401) {
      this.token = undefined;
      const retried = await this.send("GET", path, { "x-aws-ec2-metadata-token": await this.sessionToken() });
      if (retried.status === 404) return null;
      if (retried.status !== 200) throw new NotOnEc2Error(`answered ${retried.status} for ${path}`);
      return retried.body;
    }
    if (answer.status !== 200) throw new NotOnEc2Error(`answered ${answer.status} for ${path}`);
    return answer.body;
  }

  /**
   * The instance identity document's fields procwatch uses: the instance and region for AWS calls,
   * the image and type for the host dimensions the fragment pins (contract `metricHostOf`).
   * Remembered once read, so one run asks the metadata service for it at most once.
   */
  async instanceIdentity(): Promise<InstanceIdentity> {
    this.identity ??= this.readIdentity();
    try {
      return await this.identity;
    } catch (error) {
      this.identity = undefined;
      throw error;
    }
  }

  private async readIdentity(): Promise<InstanceIdentity> {
    const document = await this.get("/latest/dynamic/instance-identity/document");
    if (document === null) throw new NotOnEc2Error("has no instance identity document");
    let parsed: Partial<Record<keyof InstanceIdentity, unknown>> | null;
    try {
      parsed = JSON.parse(document) as typeof parsed;
    } catch (error) {
      throw new ImdsAnswerError(`returned an identity document that is not JSON: ${printableValue(document)}`, error);
    }
    const missing = IDENTITY_FIELDS.filter((field) => typeof parsed?.[field] !== "string");
    if (parsed === null || missing.length > 0)
      throw new ImdsAnswerError(`returned an identity document without ${missing.join(", ")} (as strings): ${printableValue(document)}`);
    return {
      instanceId: parsed.instanceId as string,
      region: parsed.region as string,
      imageId: parsed.imageId as string,
      instanceType: parsed.instanceType as string,
    };
  }

  /** Instance tags exposed in metadata, or null when "tags in instance metadata" is off. */
  async instanceTags(keyFilter: (key: string) => boolean): Promise<Record<string, string> | null> {
    const listing = await this.get("/latest/meta-data/tags/instance");
    if (listing === null) return null;
    const tags: Record<string, string> = {};
    for (const key of listing.split("\n").filter((line) => line !== "" && keyFilter(line))) {
      // Keys are only fetched when the filter (the tag prefix) and a strict charset allow them, so a key cannot bend the URL.
      if (!/^[A-Za-z0-9+=._:@-]{1,128}$/.test(key)) continue;
      const value = await this.get(`/latest/meta-data/tags/instance/${key}`);
      if (value !== null) tags[key] = value;
    }
    return tags;
  }

  private async sessionToken(): Promise<string> {
    if (this.token !== undefined) return this.token;
    if (this.disabled) throw new NotOnEc2Error("is disabled (AWS_EC2_METADATA_DISABLED=true)");
    const answer = await this.send("PUT", "/latest/api/token", { "x-aws-ec2-metadata-token-ttl-seconds": "300" });
    if (answer.status !== 200 || answer.body === "") throw new NotOnEc2Error(`refused a session token (HTTP ${answer.status})`);
    this.token = answer.body;
    this.answered = true;
    return this.token;
  }

  private async send(method: "GET" | "PUT", path: string, headers: Record<string, string>): Promise<HttpAnswer> {
    // Loaded on first use: most runs (--help, health with a local spec) never talk to IMDS.
    // getBuiltinModule rather than import(): the single binary's main script runs from a vm.Script
    // with a code cache (scripts/sea-main.cjs), where a builtin needs no ESM loader.
    const { request } = process.getBuiltinModule("node:http");
    return new Promise((resolve, reject) => {
      const url = new URL(path, this.endpoint);
      // A deadline for the whole exchange (connect, headers, body), not node's idle `timeout`: a
      // service that trickles a byte a second would otherwise hold the agent for as long as it likes.
      const now = Date.now();
      this.firstRequestAt ??= now;
      const overallLeft = this.firstRequestAt + this.totalTimeoutMs - now;
      const overall = overallLeft < this.timeoutMs;
      const deadline = setTimeout(
        () => {
          const error = new NotOnEc2Error(
            overall
              ? `did not finish answering within ${this.totalTimeoutMs} ms in all (${method} ${path} at ${this.endpoint.host} was still pending)`
              : `did not answer ${method} ${path} within ${this.timeoutMs} ms at ${this.endpoint.host}`,
          );
          req.destroy(error);
          reject(error);
        },
        Math.max(0, Math.min(this.timeoutMs, overallLeft)),
      );
      const settle =
        <T>(callback: (value: T) => void) =>
        (value: T) => {
          clearTimeout(deadline);
          callback(value);
        };
      const req = request(url, { method, headers, agent: false }, (response) => {
        const chunks: Buffer[] = [];
        let size = 0;
        response.on("data", (chunk: Buffer) => {
          size += chunk.length;
          // Metadata answers are small; a huge one is not the metadata service.
          if (size > MAX_ANSWER_BYTES) req.destroy(new NotOnEc2Error(`sent more than ${MAX_ANSWER_BYTES} bytes for ${path}`));
          else chunks.push(chunk);
        });
        response.on(
          "end",
          settle(() => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") })),
        );
        response.on(
          "error",
          settle((error: Error) => reject(error instanceof NotOnEc2Error ? error : new NotOnEc2Error("broke off a response", error))),
        );
      });
      req.on(
        "error",
        settle((error: Error) =>
          reject(error instanceof NotOnEc2Error ? error : new NotOnEc2Error(`did not answer at ${this.endpoint.host} (${error.message})`, error)),
        ),
      );
      req.end();
    });
  }
}
