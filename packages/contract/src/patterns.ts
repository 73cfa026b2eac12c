/**
 * Allow-list patterns for every value that can end up as an argument on a host or in an
 * alarm name. They are exported as strings because the SSM documents must carry the
 * *identical* text as `allowedPattern`: the SSM API checks it with Java regexes and the
 * SSM agent with Go regexps, so each pattern stays in the subset both engines (and
 * JavaScript) read the same way: anchors, character classes, bounded repetition.
 */

/** Process names: ASCII only (no look-alikes), never starting with `-` (no option injection). */
export const PROCESS_NAME_PATTERN = "^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$";

/**
 * systemd service units, template instances included (`worker@2.service`). Backslash
 * escapes, which systemd allows, are left out on purpose: they never need to reach a shell.
 */
export const SYSTEMD_UNIT_PATTERN = "^[A-Za-z0-9][A-Za-z0-9:_.@-]{0,246}[.]service$";

/** EC2 instance ids and SSM managed-instance ids (on-premises hosts). */
export const INSTANCE_ID_PATTERN = "^(i-[0-9a-f]{8}|i-[0-9a-f]{17}|mi-[0-9a-f]{17})$";

/** Named fleet profiles, stored at `/procwatch/profiles/<name>` in SSM Parameter Store. */
export const PROFILE_NAME_PATTERN = "^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$";

/** Absolute paths for pid files and executables: no spaces, no shell metacharacters, no `..`. */
export const ABSOLUTE_PATH_PATTERN = "^(/[A-Za-z0-9_.@+-]+)+$";

/** Alarm-name prefixes chosen by an operator (`--prefix`). */
export const ALARM_PREFIX_PATTERN = "^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$";

export const processNameRegex = new RegExp(PROCESS_NAME_PATTERN);
export const systemdUnitRegex = new RegExp(SYSTEMD_UNIT_PATTERN);
export const instanceIdRegex = new RegExp(INSTANCE_ID_PATTERN);
export const profileNameRegex = new RegExp(PROFILE_NAME_PATTERN);
export const absolutePathRegex = new RegExp(ABSOLUTE_PATH_PATTERN);
export const alarmPrefixRegex = new RegExp(ALARM_PREFIX_PATTERN);

export function isProcessName(value: string): boolean {
  return processNameRegex.test(value);
}

export function isSystemdUnit(value: string): boolean {
  return systemdUnitRegex.test(value);
}

export function isInstanceId(value: string): boolean {
  return instanceIdRegex.test(value);
}

/**
 * Where pid files may live: the run directories (`/run`, `/var/run`, where daemons and systemd's
 * PIDFile= put them), `/var/lib` (e.g. MySQL's `<datadir>/<host>.pid`) and `/opt` (vendor installs).
 * Not `/tmp`, `/home`, `/dev`, `/proc`, `/etc`: a pid file there is either not one or writable by users.
 */
export const PID_FILE_DIRECTORIES = ["/run/", "/var/run/", "/var/lib/", "/opt/"] as const;
/** Under the run directories but never pid files: secrets, service credentials, users' own runtime directories. */
export const PID_FILE_EXCLUDED_DIRECTORIES = [
  "/run/secrets/",
  "/run/credentials/",
  "/run/user/",
  "/var/run/secrets/",
  "/var/run/credentials/",
  "/var/run/user/",
] as const;
export const PID_FILE_SUFFIX = ".pid";
export const PID_FILE_RULE = `an absolute path ending in ${PID_FILE_SUFFIX} under ${PID_FILE_DIRECTORIES.join(", ")} (not ${PID_FILE_EXCLUDED_DIRECTORIES.slice(0, 3).join(", ")}), e.g. /run/nginx.pid`;

/**
 * Why `path` may not be read as a pid file, or null. The CloudWatch agent reads the whole file and
 * logs what it could not parse as a pid, so a path chosen by a tag must never name a secret
 * (`/etc/shadow`), a device (`/dev/zero` never ends) or anything but a small `*.pid` file.
 */
export function pidFilePathProblem(path: string): string | null {
  if (!isAbsoluteSafePath(path)) return "is not an absolute path of letters, digits and . _ @ + - (no spaces, no '..')";
  const excluded = PID_FILE_EXCLUDED_DIRECTORIES.find((directory) => path.startsWith(directory));
  if (excluded !== undefined) return `is under ${excluded.slice(0, -1)}, which holds secrets or users' files, never a daemon's pid file`;
  if (!PID_FILE_DIRECTORIES.some((directory) => path.startsWith(directory))) return `is not under ${PID_FILE_DIRECTORIES.join(", ")}`;
  const name = path.slice(path.lastIndexOf("/") + 1);
  if (!name.endsWith(PID_FILE_SUFFIX)) return `does not end in ${PID_FILE_SUFFIX}`;
  if (name === PID_FILE_SUFFIX) return "has no file name before .pid";
  return null;
}

export function isAbsoluteSafePath(value: string): boolean {
  return absolutePathRegex.test(value) && !value.split("/").some((part) => part === ".." || part === ".");
}

/**
 * Characters every EC2 tag value and every instance-metadata tag may hold, in every
 * AWS service that reads tags. Values procwatch generates or asks users to write stay inside it.
 */
export const PORTABLE_TAG_VALUE_PATTERN = "^[A-Za-z0-9 +=._:/@-]*$";
export const portableTagValueRegex = new RegExp(PORTABLE_TAG_VALUE_PATTERN);
export const MAX_TAG_VALUE_LENGTH = 256;
export const MAX_TAG_KEY_LENGTH = 128;
