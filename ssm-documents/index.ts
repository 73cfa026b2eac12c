import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { SSM_DOCUMENT_BASE_NAMES } from "@procwatch/contract";
import { parse } from "yaml";
import { InvalidSsmDocumentError } from "./errors.ts";

export { InvalidSsmDocumentError, SsmDocumentError } from "./errors.ts";

/** The procwatch Command documents: install, configure and restart as in the contract's `SSM_DOCUMENT_BASE_NAMES`, plus uninstall (run on demand). */
export const SSM_DOCUMENT_KINDS = ["install", "configure", "restart", "uninstall"] as const;
export type SsmDocumentKind = (typeof SSM_DOCUMENT_KINDS)[number];

/**
 * Base names documents are created under (a deployment may prefix them). The contract names the
 * three documents other packages call; uninstall is only run by operators, so its name lives here.
 */
export const SSM_DOCUMENT_NAMES: Readonly<Record<SsmDocumentKind, string>> = {
  ...SSM_DOCUMENT_BASE_NAMES,
  uninstall: "procwatch-uninstall",
};

export const SSM_DOCUMENTS_DIR = dirname(fileURLToPath(import.meta.url));

export const SSM_DOCUMENT_PATHS: Readonly<Record<SsmDocumentKind, string>> = {
  install: join(SSM_DOCUMENTS_DIR, "install.yaml"),
  configure: join(SSM_DOCUMENTS_DIR, "configure.yaml"),
  restart: join(SSM_DOCUMENTS_DIR, "restart.yaml"),
  uninstall: join(SSM_DOCUMENTS_DIR, "uninstall.yaml"),
};

export interface SsmDocumentParameter {
  readonly type: string;
  readonly description?: string;
  readonly default?: unknown;
  readonly allowedPattern?: string;
  readonly allowedValues?: readonly string[];
  readonly interpolationType?: string;
}

export interface SsmDocumentStep {
  readonly action: string;
  readonly name: string;
  readonly precondition?: Readonly<Record<string, unknown>>;
  readonly inputs: Readonly<Record<string, unknown>>;
}

/** The subset of the schemaVersion 2.2 Command-document shape procwatch's documents use. */
export interface SsmCommandDocument {
  readonly schemaVersion: string;
  readonly description: string;
  readonly parameters: Readonly<Record<string, SsmDocumentParameter>>;
  readonly mainSteps: readonly SsmDocumentStep[];
}

export interface LoadedSsmDocument {
  readonly kind: SsmDocumentKind;
  /** Base name the document is created under (a deployment may prefix it). */
  readonly baseName: string;
  readonly path: string;
  /** The file's text exactly as stored. */
  readonly yaml: string;
  readonly content: SsmCommandDocument;
}

export function loadDocument(kind: SsmDocumentKind): LoadedSsmDocument {
  const path = SSM_DOCUMENT_PATHS[kind];
  let yaml: string;
  try {
    yaml = readFileSync(path, "utf8");
  } catch (error) {
    throw new InvalidSsmDocumentError(`cannot read SSM document ${path}`, { cause: error });
  }
  return { kind, baseName: SSM_DOCUMENT_NAMES[kind], path, yaml, content: parseCommandDocument(yaml, path) };
}

export function loadAllDocuments(): Record<SsmDocumentKind, LoadedSsmDocument> {
  return { install: loadDocument("install"), configure: loadDocument("configure"), restart: loadDocument("restart"), uninstall: loadDocument("uninstall") };
}

/** Parses YAML text and checks the Command-document skeleton; content rules live in the tests. */
export function parseCommandDocument(yaml: string, label: string): SsmCommandDocument {
  let parsed: unknown;
  try {
    parsed = parse(yaml);
  } catch (error) {
    throw new InvalidSsmDocumentError(`${label} is not valid YAML`, { cause: error });
  }
  if (!isRecord(parsed)) throw new InvalidSsmDocumentError(`${label}: a document must be a YAML mapping`);
  const { schemaVersion, description, parameters, mainSteps } = parsed;
  if (typeof schemaVersion !== "string") throw new InvalidSsmDocumentError(`${label}: schemaVersion must be a quoted string such as "2.2"`);
  if (typeof description !== "string") throw new InvalidSsmDocumentError(`${label}: description is required`);
  if (!isRecord(parameters)) throw new InvalidSsmDocumentError(`${label}: parameters must be a mapping (use {} for none)`);
  for (const [name, parameter] of Object.entries(parameters)) {
    if (!isRecord(parameter) || typeof parameter.type !== "string") throw new InvalidSsmDocumentError(`${label}: parameter ${name} needs a type`);
  }
  if (!Array.isArray(mainSteps) || mainSteps.length === 0) throw new InvalidSsmDocumentError(`${label}: mainSteps must be a non-empty list`);
  for (const step of mainSteps) {
    if (!isRecord(step) || typeof step.action !== "string" || typeof step.name !== "string" || !isRecord(step.inputs)) {
      throw new InvalidSsmDocumentError(`${label}: every step needs action, name and inputs`);
    }
  }
  return parsed as unknown as SsmCommandDocument;
}

export interface EmbeddedShellScript {
  readonly stepName: string;
  /** The `runCommand` lines joined the way the SSM Agent writes them to `_script.sh`. */
  readonly script: string;
}

/** Every `aws:runShellScript` step's script, in step order. */
export function shellScriptsOf(document: SsmCommandDocument): EmbeddedShellScript[] {
  return document.mainSteps
    .filter((step) => step.action === "aws:runShellScript")
    .map((step) => {
      const runCommand = step.inputs.runCommand;
      if (!Array.isArray(runCommand) || !runCommand.every((line) => typeof line === "string")) {
        throw new InvalidSsmDocumentError(`step ${step.name}: runCommand must be a list of strings`);
      }
      return { stepName: step.name, script: runCommand.join("\n") };
    });
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
