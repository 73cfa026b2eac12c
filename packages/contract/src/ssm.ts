import { PROCESS_NAME_PATTERN } from "./patterns.ts";

/**
 * The restart document's parameter contract, shared by the restart handler (which sends it),
 * the document YAML (which declares it) and the infra tests (which compare the two).
 */
export const RESTART_DOCUMENT_PARAMETERS = {
  processName: { name: "ProcessName", allowedPattern: PROCESS_NAME_PATTERN },
} as const;

/** Base names of procwatch's SSM Command documents; a deployment may prefix them. */
export const SSM_DOCUMENT_BASE_NAMES = {
  install: "procwatch-install",
  configure: "procwatch-configure",
  restart: "procwatch-restart",
} as const;
