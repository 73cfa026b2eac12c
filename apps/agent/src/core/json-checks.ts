/**
 * Tiny validators for the two files the agent reads back (allow-list, local config). Written by
 * hand instead of with a schema library because that library alone doubled the binary's cold
 * start; every problem is collected with its JSON path, like the contract's issues.
 */
export type JsonObject = Record<string, unknown>;

export function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

export class ProblemList {
  readonly problems: string[] = [];

  add(path: string, message: string): void {
    this.problems.push(`${path || "(root)"}: ${message}`);
  }

  /** Reports keys outside `allowed`, so a typo is an error rather than silently ignored. */
  onlyKeys(object: JsonObject, allowed: readonly string[], path: string): void {
    for (const key of Object.keys(object)) if (!allowed.includes(key)) this.add(join(path, key), "unknown key");
  }

  string(object: JsonObject, key: string, path: string, check?: (value: string) => boolean, expected?: string): string | undefined {
    const value = object[key];
    if (typeof value !== "string") {
      this.add(join(path, key), "must be a string");
      return undefined;
    }
    if (check !== undefined && !check(value)) {
      this.add(join(path, key), expected ?? "has an invalid value");
      return undefined;
    }
    return value;
  }
}

export function join(path: string, key: string | number): string {
  return typeof key === "number" ? `${path}[${key}]` : path === "" ? key : `${path}.${key}`;
}
