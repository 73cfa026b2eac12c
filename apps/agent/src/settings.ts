import { join } from "node:path";
import { DEFAULT_DETECTION_PROFILE, DEFAULT_TAG_PREFIX, DETECTION_PROFILE_NAMES, type DetectionProfileName, isDetectionProfileName } from "@procwatch/contract";
import { CWAGENT_CONFIG_SUBDIR, installedFragmentFileName } from "./core/cwagent-config.ts";
import { UsageError } from "./errors.ts";

/**
 * Every path and switch the agent uses, resolved once from flags, then environment, then the
 * production defaults. This is the only module that reads process.env.
 */
export interface AgentSettings {
  readonly stateDir: string;
  readonly allowListPath: string;
  /** Held by `apply` from reading the current state to writing the allow-list (io/apply-lock.ts). */
  readonly applyLockPath: string;
  readonly localConfigPath: string;
  /** Where the CloudWatch agent's run_as_user is looked up (the agent uses the system's accounts). */
  readonly passwdPath: string;
  /** Where that user's supplementary groups are listed (whether /proc's hidepid `gid=` lets it see every process). */
  readonly groupPath: string;
  /** This process's mount table: /proc's hidepid option (core/proc-mount.ts). */
  readonly mountInfoPath: string;
  readonly cwagentDir: string;
  /** The CloudWatch agent's config directory; every file in it is part of the config it loads. */
  readonly cwagentConfigDir: string;
  /** The staged fragment. */
  readonly fragmentPath: string;
  /** The copy `append-config -c file:<fragmentPath>` installs, which the CloudWatch agent actually loads. */
  readonly installedFragmentPath: string;
  readonly ctlPath: string | undefined;
  readonly pathVariable: string | undefined;
  readonly logDir: string;
  readonly tagPrefix: string;
  readonly region: string | undefined;
  readonly imdsEndpoint: string | undefined;
  readonly imdsDisabled: boolean;
  readonly allowInsecureConfig: boolean;
  readonly testFault: string | undefined;
  /** Test-only switches present in the environment (health reports each: they must never be set on a host). */
  readonly testSwitches: readonly string[];
  readonly color: boolean;
  /** Where `apply` puts local supervision's drop-ins and escalation template (systemd's admin unit directory). */
  readonly systemdUnitDir: string;
  /** Local supervision's spool of local restarts and escalations, and its report cursor. */
  readonly spoolDir: string;
  /** The procwatch-agent the drop-ins' hooks run: this executable when it is the single binary. */
  readonly agentPath: string;
  /**
   * PROCWATCH_HOST_REPORT_QUEUE_URL as the configure document passes it to `apply`: the
   * host-reports queue; "" = none; undefined = not passed (keep what apply recorded before).
   */
  readonly hostReportQueueUrl: string | undefined;
}

export interface PathFlags {
  readonly stateDir?: string;
  readonly cwagentDir?: string;
  readonly cwagentCtl?: string;
  readonly fragmentPath?: string;
  readonly tagPrefix?: string;
  readonly region?: string;
}

export const DEFAULT_STATE_DIR = "/etc/procwatch";
export const DEFAULT_CWAGENT_DIR = "/opt/aws/amazon-cloudwatch-agent";
export const FRAGMENT_FILE_NAME = "procwatch.json";
export const TEST_SWITCHES = ["PROCWATCH_INSECURE_TEST_CONFIG", "PROCWATCH_TEST_FAULT"] as const;

export function resolveSettings(flags: PathFlags, env: NodeJS.ProcessEnv, stdoutIsTty: boolean): AgentSettings {
  const stateDir = flags.stateDir ?? env.PROCWATCH_STATE_DIR ?? DEFAULT_STATE_DIR;
  const cwagentDir = flags.cwagentDir ?? env.PROCWATCH_CWAGENT_DIR ?? DEFAULT_CWAGENT_DIR;
  const fragmentPath = flags.fragmentPath ?? env.PROCWATCH_FRAGMENT_PATH ?? join(stateDir, FRAGMENT_FILE_NAME);
  const cwagentConfigDir = join(cwagentDir, CWAGENT_CONFIG_SUBDIR);
  return {
    stateDir,
    allowListPath: join(stateDir, "allow-list.json"),
    applyLockPath: join(stateDir, ".apply.lock"),
    localConfigPath: env.PROCWATCH_LOCAL_CONFIG ?? join(stateDir, "agent.json"),
    passwdPath: env.PROCWATCH_PASSWD_PATH ?? "/etc/passwd",
    groupPath: env.PROCWATCH_GROUP_PATH ?? "/etc/group",
    mountInfoPath: env.PROCWATCH_MOUNTINFO_PATH ?? "/proc/self/mountinfo",
    cwagentDir,
    // Staged outside amazon-cloudwatch-agent.d on purpose: `append-config -c file:X` copies X into
    // that directory as `file_<name>`, and the agent merges every file there, so a fragment kept
    // inside it would be loaded twice (duplicate procstat entries).
    fragmentPath,
    cwagentConfigDir,
    installedFragmentPath: join(cwagentConfigDir, installedFragmentFileName(fragmentPath)),
    ctlPath: flags.cwagentCtl ?? env.PROCWATCH_CWAGENT_CTL,
    pathVariable: env.PATH,
    logDir: env.PROCWATCH_LOG_DIR ?? "/var/log/procwatch",
    tagPrefix: flags.tagPrefix ?? env.PROCWATCH_TAG_PREFIX ?? DEFAULT_TAG_PREFIX,
    region: flags.region ?? env.AWS_REGION ?? env.AWS_DEFAULT_REGION,
    imdsEndpoint: env.PROCWATCH_IMDS_ENDPOINT,
    imdsDisabled: (env.AWS_EC2_METADATA_DISABLED ?? "").toLowerCase() === "true",
    allowInsecureConfig: env.PROCWATCH_INSECURE_TEST_CONFIG === "1",
    testFault: env.PROCWATCH_TEST_FAULT,
    testSwitches: TEST_SWITCHES.filter((name) => env[name] !== undefined),
    color: stdoutIsTty && (env.NO_COLOR ?? "") === "" && env.TERM !== "dumb",
    systemdUnitDir: env.PROCWATCH_SYSTEMD_UNIT_DIR ?? "/etc/systemd/system",
    spoolDir: env.PROCWATCH_SPOOL_DIR ?? "/var/lib/procwatch",
    agentPath: runningAsSingleBinary() ? process.execPath : DEFAULT_AGENT_PATH,
    hostReportQueueUrl: env.PROCWATCH_HOST_REPORT_QUEUE_URL,
  };
}

/** Where the install document puts the binary. */
export const DEFAULT_AGENT_PATH = "/usr/local/bin/procwatch-agent";

function runningAsSingleBinary(): boolean {
  try {
    const sea = process.getBuiltinModule("node:sea") as { isSea?: () => boolean } | undefined;
    return sea?.isSea?.() ?? false;
  } catch {
    return false;
  }
}

export const DEFAULT_DETECTION_ENV = "PROCWATCH_DEFAULT_DETECTION";

/**
 * The deployment's default detection profile for render/apply/health: `--default-detection`, then
 * PROCWATCH_DEFAULT_DETECTION (empty = unset), then standard. Kept apart from `resolveSettings`
 * so a bad value stops only the commands that resolve a spec, never `restart`.
 */
export function resolveDefaultDetection(flag: string | undefined, env: NodeJS.ProcessEnv): DetectionProfileName {
  const fromEnv = env[DEFAULT_DETECTION_ENV] === "" ? undefined : env[DEFAULT_DETECTION_ENV];
  const value = flag ?? fromEnv;
  if (value === undefined) return DEFAULT_DETECTION_PROFILE;
  if (isDetectionProfileName(value)) return value;
  const label = flag !== undefined ? "--default-detection" : DEFAULT_DETECTION_ENV;
  throw new UsageError(
    `${label} ${JSON.stringify(value.slice(0, 40))} is not a detection profile`,
    `use ${DETECTION_PROFILE_NAMES.join(" or ")}: the deployment's detectionProfile, the same value the fleet manager uses for alarm periods`,
  );
}
