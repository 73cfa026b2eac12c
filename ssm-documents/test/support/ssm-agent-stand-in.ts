import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { SsmCommandDocument, SsmDocumentStep } from "../../index.ts";

/**
 * A stand-in for what SSM and the SSM Agent do with a Command document, enough to run procwatch's
 * documents on this machine:
 *  1. the API resolves parameters (defaults, unknown names, allowedPattern) and refuses the whole
 *     command before anything runs on the host;
 *  2. the agent exports `SSM_<name>` for `interpolationType: ENV_VAR` parameters and substitutes
 *     `{{ name }}` in plugin inputs (never used inside procwatch's shell text);
 *  3. `aws:runShellScript` writes the runCommand lines to `_script.sh` and runs `sh -c <path>`,
 *     exactly as the agent's runscript plugin does, so the script's `#!/bin/bash` line matters;
 *  4. every step runs, and the command fails when any step fails.
 */
export interface StandInRun {
  readonly refused: false;
  readonly status: "Success" | "Failed";
  readonly steps: readonly StepResult[];
}

export interface StandInRefusal {
  readonly refused: true;
  readonly reason: string;
}

export interface StepResult {
  readonly name: string;
  readonly action: string;
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

export type PluginHandler = (inputs: Readonly<Record<string, unknown>>) => Omit<StepResult, "name" | "action">;

export interface StandInOptions {
  readonly workDir: string;
  /** Environment the agent runs scripts with (PATH with the fakes, overridden install paths). */
  readonly env: NodeJS.ProcessEnv;
  /** Handlers for plugins other than aws:runShellScript, keyed by action. */
  readonly plugins?: Readonly<Record<string, PluginHandler>>;
  /** Behave like an SSM Agent older than 3.3.2746.0: no SSM_* variables. */
  readonly legacyAgent?: boolean;
  /** Skip the API's allowedPattern check, to prove the scripts' own re-check. */
  readonly skipApiValidation?: boolean;
}

export function runDocumentLocally(
  document: SsmCommandDocument,
  parameters: Readonly<Record<string, string | readonly string[]>>,
  options: StandInOptions,
): StandInRun | StandInRefusal {
  const resolved = resolveParameters(document, parameters, options.skipApiValidation === true);
  if ("reason" in resolved) return { refused: true, reason: resolved.reason };

  const environment: NodeJS.ProcessEnv = { ...options.env };
  for (const [name, declaration] of Object.entries(document.parameters)) {
    if (declaration.interpolationType === "ENV_VAR" && options.legacyAgent !== true) environment[`SSM_${name}`] = joinValue(resolved.values[name] ?? "");
  }

  const steps: StepResult[] = [];
  for (const step of document.mainSteps) {
    if (!appliesToLinux(step)) continue;
    const inputs = substitute(step.inputs, resolved.values) as Record<string, unknown>;
    if (step.action === "aws:runShellScript") {
      steps.push(runShellStep(step, inputs, environment, options.workDir));
      continue;
    }
    const handler = options.plugins?.[step.action];
    if (handler === undefined) throw new Error(`the stand-in has no handler for ${step.action} (step ${step.name})`);
    steps.push({ name: step.name, action: step.action, ...handler(inputs) });
  }
  return { refused: false, status: steps.every((step) => step.exitCode === 0) ? "Success" : "Failed", steps };
}

function resolveParameters(
  document: SsmCommandDocument,
  given: Readonly<Record<string, string | readonly string[]>>,
  skipPatterns: boolean,
): { values: Record<string, string | readonly string[]> } | { reason: string } {
  for (const name of Object.keys(given)) {
    if (!(name in document.parameters)) return { reason: `InvalidParameters: unknown parameter ${name}` };
  }
  const values: Record<string, string | readonly string[]> = {};
  for (const [name, declaration] of Object.entries(document.parameters)) {
    const givenValue = given[name];
    // The SendCommand API carries every parameter as a list of strings; a String parameter is a one-element list.
    const value =
      declaration.type === "String" && Array.isArray(givenValue) && givenValue.length === 1
        ? (givenValue[0] as string)
        : (givenValue ?? (declaration.default as string | readonly string[] | undefined));
    if (value === undefined) return { reason: `InvalidParameters: parameter ${name} is required` };
    const items = typeof value === "string" ? [value] : value;
    if (declaration.type === "String" && typeof value !== "string") return { reason: `InvalidParameters: ${name} must be a String` };
    if (declaration.allowedPattern !== undefined && !skipPatterns) {
      const pattern = new RegExp(declaration.allowedPattern);
      const rejected = items.find((item) => !pattern.test(item));
      if (rejected !== undefined) {
        return { reason: `InvalidParameters: parameter ${name} value ${JSON.stringify(rejected)} does not match ${declaration.allowedPattern}` };
      }
    }
    values[name] = value;
  }
  return { values };
}

function runShellStep(step: SsmDocumentStep, inputs: Record<string, unknown>, environment: NodeJS.ProcessEnv, workDir: string): StepResult {
  const runCommand = inputs.runCommand as string[];
  const orchestrationDir = join(workDir, "orchestration", step.name);
  mkdirSync(orchestrationDir, { recursive: true });
  const scriptPath = join(orchestrationDir, "_script.sh");
  writeFileSync(scriptPath, runCommand.join("\n"));
  chmodSync(scriptPath, 0o755);
  const result = spawnSync("sh", ["-c", scriptPath], { cwd: orchestrationDir, env: environment, encoding: "utf8", timeout: 60_000 });
  if (result.error !== undefined) throw result.error;
  return { name: step.name, action: step.action, exitCode: result.status ?? 1, stdout: result.stdout, stderr: result.stderr };
}

function appliesToLinux(step: SsmDocumentStep): boolean {
  const condition = step.precondition?.StringEquals;
  if (condition === undefined) return true;
  return Array.isArray(condition) && condition[0] === "platformType" && condition[1] === "Linux";
}

function substitute(value: unknown, values: Record<string, string | readonly string[]>): unknown {
  if (typeof value === "string") {
    return value.replace(/\{\{\s*([A-Za-z0-9_]+)\s*\}\}/g, (whole, name: string) => {
      const resolved = values[name];
      return resolved === undefined ? whole : joinValue(resolved);
    });
  }
  if (Array.isArray(value)) return value.map((item) => substitute(item, values));
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, substitute(item, values)]));
  }
  return value;
}

function joinValue(value: string | readonly string[]): string {
  return typeof value === "string" ? value : value.join(",");
}
