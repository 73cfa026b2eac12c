import {
  ALARM_PREFIX_PATTERN,
  DEFAULT_ALARM_PREFIX,
  DEFAULT_TAG_PREFIX,
  type DetectionProfileName,
  isDetectionProfileName,
  OPT_IN_TAG_VALUE,
  tagKeysFor,
} from "@procwatch/contract";
import { InvalidProcWatchConfigError } from "./errors.ts";

/**
 * Every setting of a procwatch deployment. The construct takes these as props; the app reads
 * them from CDK context (`-c name=value`) or environment variables. Resolution is pure: it only
 * validates and fills defaults, so it is tested from plain data.
 */
export interface ProcWatchSettings {
  /** Slack workspace (team) id, e.g. T0123ABCD; authorize the workspace in the Chatbot console once. */
  readonly slackWorkspaceId?: string;
  /** Slack channel id, e.g. C0123ABCD. Without it no Chatbot channel is created (the topic still exists). */
  readonly slackChannelId?: string;
  /** Fleet default detection profile for processes whose tags name none. */
  readonly detectionProfile?: DetectionProfileName;
  /** Restarts allowed per (instance, process) within `restartWindowMinutes` before procwatch gives up. */
  readonly restartBudget?: number;
  readonly restartWindowMinutes?: number;
  /** Tag prefix of the procwatch tag grammar (`procwatch` → `procwatch:enabled`, `procwatch:processes`). */
  readonly tagPrefix?: string;
  /** First segment of every managed alarm name (`<prefix>/<instance>/<process>`). */
  readonly alarmPrefix?: string;
  /** EventBridge schedule of the full reconcile. */
  readonly reconcileSchedule?: string;
  /** Prefix for the SSM document and association names, so two deployments can share an account. */
  readonly documentNamePrefix?: string;
  /** AmazonCloudWatchAgent package version; empty installs the latest. */
  readonly cloudWatchAgentVersion?: string;
  /** Create an EC2 instance role + profile with everything attached (otherwise attach the managed policy yourself). */
  readonly createInstanceRole?: boolean;
}

export interface ResolvedProcWatchSettings {
  readonly slack?: { readonly workspaceId: string; readonly channelId: string };
  readonly detectionProfile: DetectionProfileName;
  readonly restartBudget: number;
  readonly restartWindowMinutes: number;
  readonly tagPrefix: string;
  readonly optInTag: { readonly key: string; readonly value: string };
  readonly alarmPrefix: string;
  readonly reconcileSchedule: string;
  readonly documentNamePrefix: string;
  readonly cloudWatchAgentVersion: string;
  readonly createInstanceRole: boolean;
}

export const DEFAULT_RECONCILE_SCHEDULE = "rate(15 minutes)";
export const DEFAULT_RESTART_BUDGET = 3;
export const DEFAULT_RESTART_WINDOW_MINUTES = 30;

const SLACK_WORKSPACE_ID = /^[A-Z0-9]{1,255}$/;
const SLACK_CHANNEL_ID = /^[A-Z0-9]{1,255}$/;
const TAG_PREFIX = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$/;
// EC2 tag keys: no `aws:` prefix; kept to the characters instance-metadata tags allow too.
const SCHEDULE = /^(rate\((1 (minute|hour|day)|([2-9]|[1-9][0-9]+) (minutes|hours|days))\)|cron\([0-9A-Za-z*?/,#\- ]{11,200}\))$/;
const DOCUMENT_NAME_PREFIX = /^([A-Za-z0-9_.-]{1,64})?$/;
const PACKAGE_VERSION = /^([0-9]+[.][0-9A-Za-z.-]{1,62})?$/;

export function resolveProcWatchSettings(settings: ProcWatchSettings): ResolvedProcWatchSettings {
  const problems: string[] = [];
  const check = (ok: boolean, problem: string) => {
    if (!ok) problems.push(problem);
  };

  const { slackWorkspaceId, slackChannelId } = settings;
  if (slackWorkspaceId !== undefined)
    check(SLACK_WORKSPACE_ID.test(slackWorkspaceId), `slackWorkspaceId "${slackWorkspaceId}" is not a Slack workspace id (like T0123ABCD)`);
  if (slackChannelId !== undefined)
    check(SLACK_CHANNEL_ID.test(slackChannelId), `slackChannelId "${slackChannelId}" is not a Slack channel id (like C0123ABCD)`);
  check(
    (slackWorkspaceId === undefined) === (slackChannelId === undefined),
    "slackWorkspaceId and slackChannelId go together: set both, or neither for no Slack channel",
  );

  const detectionProfile = settings.detectionProfile ?? "standard";
  check(isDetectionProfileName(detectionProfile), `detectionProfile "${detectionProfile}" must be standard or fast`);

  const restartBudget = settings.restartBudget ?? DEFAULT_RESTART_BUDGET;
  check(Number.isInteger(restartBudget) && restartBudget >= 1 && restartBudget <= 100, `restartBudget ${restartBudget} must be an integer from 1 to 100`);
  const restartWindowMinutes = settings.restartWindowMinutes ?? DEFAULT_RESTART_WINDOW_MINUTES;
  check(
    Number.isInteger(restartWindowMinutes) && restartWindowMinutes >= 1 && restartWindowMinutes <= 7 * 24 * 60,
    `restartWindowMinutes ${restartWindowMinutes} must be an integer from 1 to 10080`,
  );

  const tagPrefix = settings.tagPrefix ?? DEFAULT_TAG_PREFIX;
  check(TAG_PREFIX.test(tagPrefix), `tagPrefix "${tagPrefix}" must be 1-32 letters, digits, '.', '_' or '-'`);
  // The opt-in tag is part of the tag grammar every component parses (`<tagPrefix>:enabled=true`),
  // so it follows the prefix rather than being a separate setting the hosts would not know about.
  const optInTagKey = tagKeysFor(tagPrefix).enabled;
  const optInTagValue = OPT_IN_TAG_VALUE;

  const alarmPrefix = settings.alarmPrefix ?? DEFAULT_ALARM_PREFIX;
  check(new RegExp(ALARM_PREFIX_PATTERN).test(alarmPrefix), `alarmPrefix "${alarmPrefix}" must be 1-32 letters, digits, '.', '_' or '-'`);

  const reconcileSchedule = settings.reconcileSchedule ?? DEFAULT_RECONCILE_SCHEDULE;
  check(SCHEDULE.test(reconcileSchedule), `reconcileSchedule "${reconcileSchedule}" must be an EventBridge rate(...) or cron(...) expression`);

  const documentNamePrefix = settings.documentNamePrefix ?? "";
  check(DOCUMENT_NAME_PREFIX.test(documentNamePrefix), `documentNamePrefix "${documentNamePrefix}" may hold only letters, digits, '.', '_' and '-'`);
  check(!/^(aws|amazon|amzn)/i.test(documentNamePrefix), `documentNamePrefix "${documentNamePrefix}" may not start with aws, amazon or amzn (reserved by SSM)`);

  const cloudWatchAgentVersion = settings.cloudWatchAgentVersion ?? "";
  check(PACKAGE_VERSION.test(cloudWatchAgentVersion), `cloudWatchAgentVersion "${cloudWatchAgentVersion}" is not a package version`);

  if (problems.length > 0) throw new InvalidProcWatchConfigError(`invalid procwatch settings: ${problems.join("; ")}`);
  return {
    ...(slackWorkspaceId !== undefined && slackChannelId !== undefined ? { slack: { workspaceId: slackWorkspaceId, channelId: slackChannelId } } : {}),
    detectionProfile,
    restartBudget,
    restartWindowMinutes,
    tagPrefix,
    optInTag: { key: optInTagKey, value: optInTagValue },
    alarmPrefix,
    reconcileSchedule,
    documentNamePrefix,
    cloudWatchAgentVersion,
    createInstanceRole: settings.createInstanceRole ?? true,
  };
}

/** Where each setting comes from in the app: a CDK context key, else an environment variable. */
export const SETTING_SOURCES = {
  slackWorkspaceId: { context: "slackWorkspaceId", env: "PROCWATCH_SLACK_WORKSPACE_ID" },
  slackChannelId: { context: "slackChannelId", env: "PROCWATCH_SLACK_CHANNEL_ID" },
  detectionProfile: { context: "detectionProfile", env: "PROCWATCH_DETECTION_PROFILE" },
  restartBudget: { context: "restartBudget", env: "PROCWATCH_RESTART_BUDGET" },
  restartWindowMinutes: { context: "restartWindowMinutes", env: "PROCWATCH_RESTART_WINDOW_MINUTES" },
  tagPrefix: { context: "tagPrefix", env: "PROCWATCH_TAG_PREFIX" },
  alarmPrefix: { context: "alarmPrefix", env: "PROCWATCH_ALARM_PREFIX" },
  reconcileSchedule: { context: "reconcileSchedule", env: "PROCWATCH_RECONCILE_SCHEDULE" },
  documentNamePrefix: { context: "documentNamePrefix", env: "PROCWATCH_DOCUMENT_NAME_PREFIX" },
  cloudWatchAgentVersion: { context: "cloudWatchAgentVersion", env: "PROCWATCH_CLOUDWATCH_AGENT_VERSION" },
  createInstanceRole: { context: "createInstanceRole", env: "PROCWATCH_CREATE_INSTANCE_ROLE" },
  agentArtifactsDir: { context: "agentArtifactsDir", env: "PROCWATCH_AGENT_ARTIFACTS_DIR" },
  stackName: { context: "stackName", env: "PROCWATCH_STACK_NAME" },
} as const;

export type SettingName = keyof typeof SETTING_SOURCES;

export interface AppConfig {
  readonly stackName: string;
  readonly agentArtifactsDir?: string;
  readonly settings: ProcWatchSettings;
}

/**
 * Reads the app's settings: CDK context wins over the environment, and blank values count as
 * unset. Numbers and booleans are parsed strictly here; everything else is validated by
 * `resolveProcWatchSettings`.
 */
export function appConfigFrom(sources: { context: (key: string) => unknown; env: Readonly<Record<string, string | undefined>> }): AppConfig {
  const read = (name: SettingName): string | undefined => {
    const { context, env } = SETTING_SOURCES[name];
    const fromContext = sources.context(context);
    const value = fromContext !== undefined && fromContext !== null ? String(fromContext) : sources.env[env];
    return value === undefined || value.trim() === "" ? undefined : value.trim();
  };
  const integer = (name: SettingName): number | undefined => {
    const value = read(name);
    if (value === undefined) return undefined;
    if (!/^[0-9]{1,6}$/.test(value)) throw new InvalidProcWatchConfigError(`${name} must be a whole number, got "${value}"`);
    return Number(value);
  };
  const boolean = (name: SettingName): boolean | undefined => {
    const value = read(name);
    if (value === undefined) return undefined;
    if (value !== "true" && value !== "false") throw new InvalidProcWatchConfigError(`${name} must be true or false, got "${value}"`);
    return value === "true";
  };
  const detectionProfile = read("detectionProfile");
  if (detectionProfile !== undefined && !isDetectionProfileName(detectionProfile)) {
    throw new InvalidProcWatchConfigError(`detectionProfile must be standard or fast, got "${detectionProfile}"`);
  }
  const settings: ProcWatchSettings = dropUndefined({
    slackWorkspaceId: read("slackWorkspaceId"),
    slackChannelId: read("slackChannelId"),
    detectionProfile,
    restartBudget: integer("restartBudget"),
    restartWindowMinutes: integer("restartWindowMinutes"),
    tagPrefix: read("tagPrefix"),
    alarmPrefix: read("alarmPrefix"),
    reconcileSchedule: read("reconcileSchedule"),
    documentNamePrefix: read("documentNamePrefix"),
    cloudWatchAgentVersion: read("cloudWatchAgentVersion"),
    createInstanceRole: boolean("createInstanceRole"),
  });
  // Fail at synth, before anything is built, with every problem at once.
  resolveProcWatchSettings(settings);
  const agentArtifactsDir = read("agentArtifactsDir");
  return { stackName: read("stackName") ?? "ProcWatch", ...(agentArtifactsDir !== undefined ? { agentArtifactsDir } : {}), settings };
}

function dropUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, item]) => item !== undefined)) as T;
}
