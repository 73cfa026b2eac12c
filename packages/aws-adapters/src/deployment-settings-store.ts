import { GetParameterCommand, type SSMClient } from "@aws-sdk/client-ssm";
import { type DeploymentSettings, deploymentParameterName, parseDeploymentSettings } from "@procwatch/contract";
import { toAdapterError, UnexpectedResponseError } from "./errors.ts";
import { type RateLimiter, unpacedRateLimiter } from "./rate-limiter.ts";

/**
 * The settings a deployed stack published for its alarm prefix (`/procwatch/deployments/<prefix>`,
 * see the contract's `DeploymentSettings`). `undefined` when no stack published any: procwatch-fleet
 * then works from its flags alone.
 */
export class DeploymentSettingsStore {
  private readonly limiter: RateLimiter;

  constructor(
    private readonly ssm: SSMClient,
    options: { rateLimiter?: RateLimiter } = {},
  ) {
    this.limiter = options.rateLimiter ?? unpacedRateLimiter();
  }

  async read(alarmPrefix: string): Promise<{ parameterName: string; settings: DeploymentSettings | undefined }> {
    const parameterName = deploymentParameterName(alarmPrefix);
    await this.limiter.acquire("GetParameter");
    let text: string | undefined;
    try {
      text = (await this.ssm.send(new GetParameterCommand({ Name: parameterName }))).Parameter?.Value;
    } catch (error) {
      const failure = toAdapterError(error, "GetParameter");
      if (failure.code === "ParameterNotFound") return { parameterName, settings: undefined };
      throw failure;
    }
    const parsed = parseDeploymentSettings(text ?? "");
    if ("problems" in parsed) {
      throw new UnexpectedResponseError(`${parameterName} is not a procwatch deployment settings document: ${parsed.problems.join("; ")}`, {
        operation: "GetParameter",
        retryable: false,
      });
    }
    return { parameterName, settings: parsed.settings };
  }
}
