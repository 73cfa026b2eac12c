import { DEFAULT_DETECTION_PROFILE, type DetectionProfileName, isDetectionProfileName } from "./detection.ts";
import { issue, type ParseResult, type SpecIssue } from "./issues.ts";
import { isProcessName, MAX_TAG_VALUE_LENGTH, PORTABLE_TAG_VALUE_PATTERN, PROFILE_NAME_PATTERN, portableTagValueRegex, profileNameRegex } from "./patterns.ts";
import {
  buildProcessSpec,
  type HostSpec,
  MAX_PROCESSES_PER_HOST,
  optionValueIssue,
  type ProcessOptions,
  type ProcessSpec,
  type SpecDocument,
  TAG_PROCESS_OPTION_KEYS,
} from "./spec.ts";

/**
 * Tag grammar. One key per concern, so nothing is positional:
 *
 *   procwatch:enabled            = true | false                    (the opt-in)
 *   procwatch:processes          = nginx sshd orders               (space-separated names)
 *   procwatch:profile            = web-tier                        (a named fleet profile)
 *   procwatch:detection          = standard | fast | local         (default for this host)
 *   procwatch:process:<name>     = unit=nginx.service match=exe detection=fast
 *
 * Every key and value stays inside the characters both EC2 tags and instance-metadata tags
 * allow (letters, digits, space and `+ - = . _ : / @`; keys without space or `/`).
 */
export const DEFAULT_TAG_PREFIX = "procwatch";

export interface TagKeys {
  readonly enabled: string;
  readonly processes: string;
  readonly profile: string;
  readonly detection: string;
  /** Prefix of per-process option keys; the process name follows. */
  readonly processOptionsPrefix: string;
}

export function tagKeysFor(prefix: string = DEFAULT_TAG_PREFIX): TagKeys {
  return {
    enabled: `${prefix}:enabled`,
    processes: `${prefix}:processes`,
    profile: `${prefix}:profile`,
    detection: `${prefix}:detection`,
    processOptionsPrefix: `${prefix}:process:`,
  };
}

export const OPT_IN_TAG_KEY = tagKeysFor().enabled;
export const OPT_IN_TAG_VALUE = "true";

/** What the tags of one instance say, syntax-checked; options are validated when the spec is resolved. */
export interface InstanceTags {
  readonly enabled: boolean;
  readonly processNames: readonly string[];
  readonly profile?: string;
  readonly detection?: DetectionProfileName;
  readonly processOptions: ReadonlyMap<string, ProcessOptions>;
}

export type TagInput = Readonly<Record<string, string>> | ReadonlyArray<{ readonly Key?: string; readonly Value?: string }>;

function toRecord(tags: TagInput): Record<string, string> {
  if (!Array.isArray(tags)) return { ...(tags as Record<string, string>) };
  const record: Record<string, string> = {};
  for (const tag of tags as ReadonlyArray<{ Key?: string; Value?: string }>) {
    if (tag.Key !== undefined) record[tag.Key] = tag.Value ?? "";
  }
  return record;
}

export function parseInstanceTags(input: TagInput, prefix: string = DEFAULT_TAG_PREFIX): ParseResult<InstanceTags> {
  const keys = tagKeysFor(prefix);
  const tags = toRecord(input);
  const issues: SpecIssue[] = [];
  const ownKeys = Object.keys(tags).filter((key) => key.startsWith(`${prefix}:`));

  for (const key of ownKeys) {
    const value = tags[key] ?? "";
    if (value.length > MAX_TAG_VALUE_LENGTH) {
      issues.push(issue("too-long", key, value, `tag value is ${value.length} characters`, `at most ${MAX_TAG_VALUE_LENGTH} characters`));
    } else if (!portableTagValueRegex.test(value)) {
      issues.push(
        issue(
          "bad-characters",
          key,
          value,
          "tag value has characters EC2 or instance-metadata tags cannot carry",
          `letters, digits, space and + - = . _ : / @ (${PORTABLE_TAG_VALUE_PATTERN})`,
        ),
      );
    }
  }

  const enabledValue = tags[keys.enabled];
  let enabled = false;
  if (enabledValue !== undefined) {
    if (enabledValue === "true") enabled = true;
    else if (enabledValue !== "false")
      issues.push(issue("bad-enabled-value", keys.enabled, enabledValue, "opt-in tag must be exactly true or false", "true or false"));
  }

  const processNames: string[] = [];
  const listValue = tags[keys.processes];
  if (listValue !== undefined && listValue.length <= MAX_TAG_VALUE_LENGTH) {
    const seen = new Set<string>();
    for (const name of listValue.split(" ").filter((part) => part !== "")) {
      if (!isProcessName(name)) {
        issues.push(
          issue(
            "bad-process-name",
            keys.processes,
            name,
            "process name has characters or a length procwatch does not allow",
            "space-separated names of 1-64 ASCII letters, digits, '.', '_' or '-'",
          ),
        );
      } else if (seen.has(name)) {
        issues.push(issue("duplicate-process", keys.processes, name, "process listed twice", "each process name once"));
      } else {
        seen.add(name);
        processNames.push(name);
      }
    }
  }

  let profile: string | undefined;
  const profileValue = tags[keys.profile];
  if (profileValue !== undefined) {
    if (profileNameRegex.test(profileValue)) profile = profileValue;
    else
      issues.push(
        issue(
          "bad-profile-name",
          keys.profile,
          profileValue,
          "not a valid profile name",
          `1-64 ASCII letters, digits, '.', '_' or '-' (${PROFILE_NAME_PATTERN})`,
        ),
      );
  }

  let detection: DetectionProfileName | undefined;
  const detectionValue = tags[keys.detection];
  if (detectionValue !== undefined) {
    if (isDetectionProfileName(detectionValue)) detection = detectionValue;
    else issues.push(issue("bad-detection", keys.detection, detectionValue, "unknown detection profile", "standard, fast or local"));
  }

  const processOptions = new Map<string, ProcessOptions>();
  const knownKeys = new Set([keys.enabled, keys.processes, keys.profile, keys.detection]);
  for (const key of ownKeys) {
    if (knownKeys.has(key)) continue;
    if (!key.startsWith(keys.processOptionsPrefix)) {
      issues.push(issue("unknown-key", key, key, "unknown procwatch tag", [...knownKeys, `${keys.processOptionsPrefix}<name>`].join(", ")));
      continue;
    }
    const name = key.slice(keys.processOptionsPrefix.length);
    if (!isProcessName(name)) {
      issues.push(issue("bad-process-name", key, name, "process name in tag key is not valid", "1-64 ASCII letters, digits, '.', '_' or '-'"));
      continue;
    }
    const value = tags[key] ?? "";
    if (value.length > MAX_TAG_VALUE_LENGTH) continue;
    const options = parseOptionList(key, value, issues);
    if (options !== null) processOptions.set(name, options);
  }

  if (issues.length > 0) return { spec: null, issues };
  const parsed: InstanceTags = {
    enabled,
    processNames,
    processOptions,
    ...(profile !== undefined ? { profile } : {}),
    ...(detection !== undefined ? { detection } : {}),
  };
  return { spec: parsed, issues };
}

/** `unit=nginx.service match=exe` → options; each token is `key=value`, keys from the tag vocabulary. */
function parseOptionList(tagKey: string, value: string, issues: SpecIssue[]): ProcessOptions | null {
  const options: Record<string, string> = {};
  let ok = true;
  for (const token of value.split(" ").filter((part) => part !== "")) {
    const separator = token.indexOf("=");
    const key = separator > 0 ? token.slice(0, separator) : "";
    const optionValue = separator > 0 ? token.slice(separator + 1) : "";
    if (!(TAG_PROCESS_OPTION_KEYS as readonly string[]).includes(key) || optionValue === "") {
      issues.push(
        issue(
          "bad-option",
          tagKey,
          token,
          "not a key=value option procwatch knows",
          `space-separated ${TAG_PROCESS_OPTION_KEYS.map((known) => `${known}=…`).join(" ")}`,
        ),
      );
      ok = false;
      continue;
    }
    if (options[key] !== undefined) {
      issues.push(issue("bad-option", tagKey, token, `option ${key} given twice`, "each option once"));
      ok = false;
      continue;
    }
    const valueIssue = optionValueIssue(key, optionValue, `${tagKey} ${key}=`);
    if (valueIssue !== null) {
      issues.push(valueIssue);
      ok = false;
      continue;
    }
    options[key] = optionValue;
  }
  return ok ? options : null;
}

export interface ResolveInput {
  readonly tags: InstanceTags;
  /** The named profile's document when the tags reference one: `null` when it does not exist. */
  readonly profileDocument?: SpecDocument | null;
  readonly prefix?: string;
  /**
   * The deployment-wide detection profile, used when neither the `procwatch:detection` tag nor
   * the profile document sets one. The agent (collection interval) and the fleet manager (alarm
   * period) must pass the same value, or alarms evaluate periods the host never publishes.
   */
  readonly defaultDetection?: DetectionProfileName;
}

/**
 * Combines the tags with the referenced profile into the host's final spec. Profile entries
 * come first; a process the tags list replaces the profile's entry of the same name, and
 * `procwatch:process:<name>` options override the profile's options field by field.
 * Detection precedence: per-process option > `procwatch:detection` tag > profile document's
 * `detection` > `defaultDetection` (deployment) > "standard".
 */
export function resolveHostSpec(input: ResolveInput): ParseResult<HostSpec> {
  const keys = tagKeysFor(input.prefix);
  const { tags } = input;
  const issues: SpecIssue[] = [];

  if (tags.profile !== undefined && input.profileDocument == null) {
    issues.push(
      issue(
        "profile-missing",
        keys.profile,
        tags.profile,
        "the named profile does not exist or could not be parsed",
        `an SSM parameter /procwatch/profiles/${tags.profile} holding a spec document`,
      ),
    );
  }
  const profileEntries = new Map((input.profileDocument?.entries ?? []).map((entry) => [entry.name, entry.options]));
  const defaultDetection = tags.detection ?? input.profileDocument?.detection ?? input.defaultDetection ?? DEFAULT_DETECTION_PROFILE;

  const names = [...new Set([...profileEntries.keys(), ...tags.processNames])];
  for (const name of tags.processOptions.keys()) {
    if (!names.includes(name)) {
      issues.push(
        issue(
          "unlisted-process-options",
          `${keys.processOptionsPrefix}${name}`,
          name,
          "options for a process that is not watched",
          `add ${name} to ${keys.processes} or to the profile`,
        ),
      );
    }
  }
  if (tags.enabled && names.length === 0 && tags.profile === undefined) {
    issues.push(
      issue(
        "empty-process-list",
        keys.processes,
        "",
        "instance is opted in but lists no processes",
        `${keys.processes}=nginx sshd, or ${keys.profile}=<profile>`,
      ),
    );
  }
  if (names.length > MAX_PROCESSES_PER_HOST) {
    issues.push(issue("too-many-processes", keys.processes, String(names.length), "too many processes", `at most ${MAX_PROCESSES_PER_HOST}`));
  }

  const processes: ProcessSpec[] = [];
  for (const name of names.sort()) {
    const fromTags = tags.processOptions.get(name) ?? {};
    const listedInTags = tags.processNames.includes(name);
    const base = listedInTags ? {} : (profileEntries.get(name) ?? {});
    const optionTag = `${keys.processOptionsPrefix}${name}`;
    const built = buildProcessSpec(
      name,
      { ...base, ...fromTags },
      {
        source: listedInTags ? keys.processes : `${keys.profile}=${tags.profile ?? ""}`,
        optionSource: (key) => (key in base && !(key in fromTags) ? `profile:${tags.profile ?? ""}/${name}.${key}` : `${optionTag} ${key}=`),
        defaultDetection,
      },
    );
    issues.push(...built.issues);
    if (built.spec !== null) processes.push(built.spec);
  }

  if (issues.length > 0) return { spec: null, issues };
  return { spec: tags.profile !== undefined ? { processes, profile: tags.profile } : { processes }, issues };
}

/** The SSM parameter that stores a named fleet profile. */
export function profileParameterName(profile: string): string {
  return `/procwatch/profiles/${profile}`;
}
