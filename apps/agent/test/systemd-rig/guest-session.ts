import { expect } from "vitest";
import type { BootedRig, CommandResult } from "./rig.ts";

/**
 * What the local-supervision rig tests do inside the guest, written once: run the agent as a host
 * runs it, run a shell script, ask systemd, read procwatch's spool and the journal. Each test file
 * boots its own rig and hands over an accessor for it.
 */
export const GUEST_AGENT_PATH = "/usr/local/bin/procwatch-agent";
export const GUEST_DAEMONS_DIR = "/usr/local/lib/procwatch-rig";
export const GUEST_SPEC_PATH = "/etc/procwatch/spec.json";
export const GUEST_SPOOL_PATH = "/var/lib/procwatch/local-events.jsonl";
export const GUEST_DROP_IN_FILE = "50-procwatch-local.conf";
/** No IMDS in the guest; plain output for assertions. */
export const GUEST_AGENT_ENV = { AWS_EC2_METADATA_DISABLED: "true", NO_COLOR: "1" };

/** One spool line as the tests read it (the agent's own type is not imported: the file is the contract). */
export interface SpooledLocalEvent {
  readonly kind: string;
  readonly process: string;
  readonly unit: string | null;
  readonly beforePid: number | null;
  readonly afterPid: number | null;
  readonly downMs: number | null;
  readonly escalated: boolean;
  readonly nRestarts: number | null;
  readonly detail: string;
}

export interface GuestSession {
  readonly machine: () => BootedRig;
  readonly agent: (args: readonly string[], timeoutMs?: number) => Promise<CommandResult>;
  /** bash -euc in the guest; a script that hangs fails the test. */
  readonly sh: (script: string) => Promise<CommandResult>;
  readonly show: (unit: string, properties: readonly string[]) => Promise<Record<string, string>>;
  readonly spoolText: () => Promise<string>;
  readonly spool: () => Promise<SpooledLocalEvent[]>;
  readonly journal: (args: readonly string[]) => Promise<string[]>;
  readonly journalCount: (args: readonly string[], text: string) => Promise<number>;
}

export function guestSession(currentRig: () => BootedRig | undefined): GuestSession {
  const machine = (): BootedRig => {
    const rig = currentRig();
    if (rig === undefined) throw new Error("the rig did not boot (see the beforeAll error above)");
    return rig;
  };
  const spoolText = async (): Promise<string> => {
    const read = await machine().exec(["cat", GUEST_SPOOL_PATH]);
    return read.exitCode === 0 ? read.stdout : "";
  };
  const journal = async (args: readonly string[]): Promise<string[]> => {
    const read = await machine().exec(["journalctl", "--no-pager", "-o", "cat", ...args], { timeoutMs: 10_000 });
    return read.stdout.split("\n");
  };
  return {
    machine,
    agent: (args, timeoutMs = 60_000) => machine().exec([GUEST_AGENT_PATH, ...args], { env: GUEST_AGENT_ENV, timeoutMs }),
    sh: async (script) => {
      const result = await machine().exec(["/bin/bash", "-euc", script], { timeoutMs: 30_000 });
      expect(result.timedOut, `hung: ${script}`).toBe(false);
      return result;
    },
    show: (unit, properties) => machine().show(unit, properties),
    spoolText,
    spool: async () =>
      (await spoolText())
        .split("\n")
        .filter(Boolean)
        .map((line) => JSON.parse(line) as SpooledLocalEvent),
    journal,
    journalCount: async (args, text) => (await journal(args)).filter((line) => line.includes(text)).length,
  };
}

/** Polls until probe returns a value; the failure names what was awaited. */
export async function waitUntil<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
