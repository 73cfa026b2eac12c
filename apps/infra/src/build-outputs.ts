import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { MissingBuildOutputError } from "./errors.ts";

/**
 * Build outputs of other workspace packages that the stack packages: the agent binaries (S3
 * assets the install document downloads) and the Lambda entry files (bundled by esbuild at synth).
 */
const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");

export const DEFAULT_AGENT_ARTIFACTS_DIR = join(REPO_ROOT, "apps/agent/dist");
export const DEPS_LOCK_FILE = join(REPO_ROOT, "pnpm-lock.yaml");
export const PROJECT_ROOT = REPO_ROOT;

export const LAMBDA_ENTRIES = {
  restartHandler: { path: join(REPO_ROOT, "apps/restart-handler/src/lambda.ts"), package: "@procwatch/restart-handler" },
  fleetManager: { path: join(REPO_ROOT, "apps/fleet-manager/src/lambda.ts"), package: "@procwatch/fleet-manager" },
} as const;

/**
 * The restart handler's own build, with its esbuild plugins; the stack runs it as NodejsFunction's
 * afterBundling hook with `--outfile` pointing into the staged asset directory.
 */
export const RESTART_HANDLER_BUNDLER = join(REPO_ROOT, "apps/restart-handler/scripts/build.mjs");

export const AGENT_ARCHITECTURES = ["x64", "arm64"] as const;
export type AgentArchitecture = (typeof AGENT_ARCHITECTURES)[number];

export interface AgentArtifact {
  readonly architecture: AgentArchitecture;
  readonly path: string;
  /** Lower-case hex sha256 of the file, as the install document verifies it. */
  readonly sha256: string;
}

export function agentArtifactFileName(architecture: AgentArchitecture): string {
  return `procwatch-agent-linux-${architecture}`;
}

/**
 * Hashes both binaries. When the build wrote `<binary>.sha256` next to a binary, the two must agree:
 * a stale checksum file means the directory holds a half-finished build.
 */
export function locateAgentArtifacts(dir: string = DEFAULT_AGENT_ARTIFACTS_DIR): Record<AgentArchitecture, AgentArtifact> {
  const artifact = (architecture: AgentArchitecture): AgentArtifact => {
    const path = join(dir, agentArtifactFileName(architecture));
    if (!existsSync(path)) {
      throw new MissingBuildOutputError(
        `procwatch-agent binary ${path} is missing. Build it first: pnpm --filter @procwatch/agent build (or set agentArtifactsDir to a directory holding procwatch-agent-linux-x64 and procwatch-agent-linux-arm64)`,
      );
    }
    const sha256 = createHash("sha256").update(readFileSync(path)).digest("hex");
    const checksumPath = `${path}.sha256`;
    if (existsSync(checksumPath)) {
      const recorded = readFileSync(checksumPath, "utf8").trim().split(/\s+/)[0]?.toLowerCase();
      if (recorded !== sha256) {
        throw new MissingBuildOutputError(
          `${checksumPath} says ${recorded ?? "nothing"} but ${path} hashes to ${sha256}: rebuild with pnpm --filter @procwatch/agent build`,
        );
      }
    }
    return { architecture, path, sha256 };
  };
  return { x64: artifact("x64"), arm64: artifact("arm64") };
}

export function requireLambdaEntry(entry: { readonly path: string; readonly package: string }): string {
  if (!existsSync(entry.path)) {
    throw new MissingBuildOutputError(`Lambda entry ${entry.path} does not exist: ${entry.package} must export its handler from src/lambda.ts`);
  }
  return entry.path;
}
