import type { LocalConfig, StartCommand } from "./local-config.ts";

/**
 * User and group names of start commands, resolved to numeric ids from the text of /etc/passwd
 * and /etc/group (read by the shell; no `id`/`getent` is run). Only local accounts count: a
 * name known only to LDAP/SSSD is reported as unknown rather than guessed.
 */

/** A conservative account name: what useradd/groupadd accept by default, no ':' '/' or whitespace, at most 32 characters. */
export const ACCOUNT_NAME_PATTERN = "^[A-Za-z_][A-Za-z0-9_.-]{0,31}$";
const ACCOUNT_NAME = new RegExp(ACCOUNT_NAME_PATTERN);

export function isAccountName(value: string): boolean {
  return ACCOUNT_NAME.test(value);
}

export interface UserEntry {
  readonly uid: number;
  readonly gid: number;
}

/** Largest valid id: (uid_t)-1 means "no change" to setuid and is not an account. */
const MAX_ID = 4_294_967_294;

function parseId(field: string | undefined): number | null {
  if (field === undefined || !/^(0|[1-9][0-9]{0,9})$/.test(field)) return null;
  const id = Number(field);
  return id <= MAX_ID ? id : null;
}

/**
 * Lines of a colon-separated account file whose first field is `name`; the first well-formed
 * one wins, as with getpwnam on the files backend. Comments, blank lines, NIS `+`/`-` entries and
 * malformed lines are skipped.
 */
function fieldsFor(text: string, name: string, minFields: number): string[] | undefined {
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#") || line.startsWith("+") || line.startsWith("-")) continue;
    const fields = line.split(":");
    if (fields.length >= minFields && fields[0] === name) return fields;
  }
  return undefined;
}

/** name:password:uid:gid:gecos:home:shell */
export function lookupUser(passwdText: string, name: string): UserEntry | undefined {
  const fields = fieldsFor(passwdText, name, 7);
  if (fields === undefined) return undefined;
  const uid = parseId(fields[2]);
  const gid = parseId(fields[3]);
  return uid === null || gid === null ? undefined : { uid, gid };
}

/** name:password:gid:members */
export function lookupGroup(groupText: string, name: string): number | undefined {
  const fields = fieldsFor(groupText, name, 4);
  if (fields === undefined) return undefined;
  return parseId(fields[2]) ?? undefined;
}

export interface AccountFiles {
  /** Text of /etc/passwd, or null when it could not be read. */
  readonly passwd: string | null;
  readonly group: string | null;
  readonly passwdPath: string;
  readonly groupPath: string;
}

/**
 * Fills in `uid`/`gid` of every start command that names a user or group: the user's uid and
 * primary gid, and a named group's gid in place of the primary one (as systemd's User=/Group=).
 * A group without a user keeps root's uid. Any unknown name is a problem, reported with its path.
 */
export function resolveStartCommandAccounts(config: LocalConfig, files: AccountFiles): { config: LocalConfig } | { problems: string[] } {
  const problems: string[] = [];
  const startCommands: Record<string, StartCommand> = {};
  for (const [name, command] of Object.entries(config.startCommands)) {
    let uid: number | undefined;
    let gid: number | undefined;
    if (command.user !== undefined) {
      const user = files.passwd === null ? undefined : lookupUser(files.passwd, command.user);
      if (user === undefined) problems.push(`startCommands.${name}.user: no user ${JSON.stringify(command.user)} in ${files.passwdPath}`);
      else ({ uid, gid } = user);
    }
    if (command.group !== undefined) {
      const groupId = files.group === null ? undefined : lookupGroup(files.group, command.group);
      if (groupId === undefined) problems.push(`startCommands.${name}.group: no group ${JSON.stringify(command.group)} in ${files.groupPath}`);
      else gid = groupId;
    }
    startCommands[name] = { ...command, ...(uid === undefined ? {} : { uid }), ...(gid === undefined ? {} : { gid }) };
  }
  return problems.length > 0 ? { problems } : { config: { version: config.version, startCommands } };
}

export function namesAnyAccount(config: LocalConfig): boolean {
  return Object.values(config.startCommands).some((command) => command.user !== undefined || command.group !== undefined);
}
