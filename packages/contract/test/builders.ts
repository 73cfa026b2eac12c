import type { ProcessSpec } from "../src/index.ts";
import { exeRegexForName } from "../src/index.ts";

/** Data builders: a valid spec by default, overridden field by field. */
export function aProcess(overrides: Partial<ProcessSpec> = {}): ProcessSpec {
  const name = overrides.name ?? "nginx";
  return {
    name,
    match: { mode: "exe", exe: exeRegexForName(name) },
    unit: `${name}.service`,
    detection: "standard",
    ...overrides,
  };
}

export function optInTags(processes: string, extra: Record<string, string> = {}): Record<string, string> {
  return { "procwatch:enabled": "true", "procwatch:processes": processes, ...extra };
}
