import { isAbsoluteSafePath, isProcessName } from "@procwatch/contract";
import { z } from "zod";

/**
 * The optional root-owned local config `/etc/procwatch/agent.json`. It is the ONLY place a start
 * command may come from (hosts without systemd): an argv array run without a shell, written by
 * whoever administers the host, never derived from tags, events or SSM parameters.
 *
 * {
 *   "version": 1,
 *   "startCommands": {
 *     "orders": { "argv": ["/opt/orders/bin/orders", "--port", "8080"], "cwd": "/opt/orders",
 *                 "logFile": "/var/log/orders.log", "env": {"JAVA_OPTS": "-Xmx1g"} }
 *   }
 * }
 */
export interface StartCommand {
  /** Validated non-empty, argv[0] an absolute path. */
  readonly argv: readonly string[];
  readonly cwd?: string;
  readonly logFile?: string;
  readonly env?: Readonly<Record<string, string>>;
  /** How long a forced restart waits after SIGTERM before SIGKILL. */
  readonly stopTimeoutSeconds?: number;
}

export interface LocalConfig {
  readonly version: 1;
  readonly startCommands: Readonly<Record<string, StartCommand>>;
}

const absolutePath = z.string().refine(isAbsoluteSafePath, "must be a plain absolute path (no spaces, no '..')");

const startCommandSchema = z
  .object({
    argv: z
      .array(z.string().min(1).max(4096))
      .min(1)
      .max(256)
      .refine((argv) => argv[0] !== undefined && isAbsoluteSafePath(argv[0]), "argv[0] must be an absolute executable path"),
    cwd: absolutePath.optional(),
    logFile: absolutePath.optional(),
    env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, "environment names are letters, digits and _"), z.string()).optional(),
    stopTimeoutSeconds: z.number().int().min(1).max(600).optional(),
  })
  .strict();

const localConfigSchema = z
  .object({
    version: z.literal(1),
    startCommands: z.record(z.string().refine(isProcessName, "start command keys are process names"), startCommandSchema).default({}),
  })
  .strict();

export function parseLocalConfig(json: unknown): { config: LocalConfig } | { problems: string[] } {
  const parsed = localConfigSchema.safeParse(json);
  if (!parsed.success) return { problems: parsed.error.issues.map((problem) => `${problem.path.join(".") || "(root)"}: ${problem.message}`) };
  return { config: parsed.data };
}

export const EMPTY_LOCAL_CONFIG: LocalConfig = { version: 1, startCommands: {} };
