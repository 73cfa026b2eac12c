import { type DetectionProfileName, isDetectionProfileName } from "./detection.ts";
import { alarmPrefixRegex } from "./patterns.ts";

/**
 * What a deployed stack decided, published where every writer can read it: the fleet Lambda gets
 * the same values as environment variables, and `procwatch-fleet` on a laptop reads this document
 * so that it uses the deployment's settings and refuses an apply with others (a laptop and the
 * Lambda with different defaults would rewrite every alarm back and forth, run after run).
 *
 * The parameter is named by the alarm prefix, the deployment's identity: a second stack with the
 * same prefix cannot create it, which keeps prefixes distinct per deployment.
 */
export interface DeploymentSettings {
  readonly version: 1;
  readonly alarmPrefix: string;
  readonly tagPrefix: string;
  readonly namespace: string;
  readonly restartActionArns: readonly string[];
  readonly defaultDetection: DetectionProfileName;
  readonly armingGraceMinutes: number;
  /** The CloudFormation stack that owns the deployment, for humans reading a mismatch. */
  readonly stackName?: string;
}

export const DEPLOYMENT_PARAMETER_PATH = "/procwatch/deployments/";

export function deploymentParameterName(alarmPrefix: string): string {
  return `${DEPLOYMENT_PARAMETER_PATH}${alarmPrefix}`;
}

/** Reads a deployment settings document; every problem at once, or the settings. Pure. */
export function parseDeploymentSettings(text: string): { settings: DeploymentSettings } | { problems: string[] } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { problems: ["not JSON"] };
  }
  const document = (typeof value === "object" && value !== null ? value : {}) as Record<string, unknown>;
  const problems: string[] = [];
  const stringAt = (key: string) => (typeof document[key] === "string" ? (document[key] as string) : undefined);
  if (document.version !== 1) problems.push(`version is ${JSON.stringify(document.version)}, expected 1`);
  const alarmPrefix = stringAt("alarmPrefix");
  if (alarmPrefix === undefined || !alarmPrefixRegex.test(alarmPrefix))
    problems.push(`alarmPrefix ${JSON.stringify(document.alarmPrefix)} is not an alarm prefix`);
  const tagPrefix = stringAt("tagPrefix");
  if (tagPrefix === undefined || tagPrefix === "") problems.push(`tagPrefix ${JSON.stringify(document.tagPrefix)} is not a tag prefix`);
  const namespace = stringAt("namespace");
  if (namespace === undefined || namespace === "") problems.push(`namespace ${JSON.stringify(document.namespace)} is not a namespace`);
  const arns = document.restartActionArns;
  if (!Array.isArray(arns) || !arns.every((arn) => typeof arn === "string" && arn.startsWith("arn:"))) {
    problems.push(`restartActionArns ${JSON.stringify(arns)} is not a list of ARNs`);
  }
  const detection = stringAt("defaultDetection");
  if (detection === undefined || !isDetectionProfileName(detection))
    problems.push(`defaultDetection ${JSON.stringify(document.defaultDetection)} is not a detection profile`);
  const grace = document.armingGraceMinutes;
  if (typeof grace !== "number" || !Number.isInteger(grace) || grace < 0)
    problems.push(`armingGraceMinutes ${JSON.stringify(grace)} is not a whole number of minutes`);
  if (problems.length > 0) return { problems };
  return {
    settings: {
      version: 1,
      alarmPrefix: alarmPrefix as string,
      tagPrefix: tagPrefix as string,
      namespace: namespace as string,
      restartActionArns: [...(arns as string[])],
      defaultDetection: detection as DetectionProfileName,
      armingGraceMinutes: grace as number,
      ...(typeof document.stackName === "string" ? { stackName: document.stackName } : {}),
    },
  };
}
