import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { accessSync, constants, existsSync, mkdirSync, readFileSync, renameSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * The Go side of the differential tests (main.go next to this file), built with Debian's golang-go
 * once per source version and cached under the OS temp dir. CGO_ENABLED=0 makes it a static binary,
 * so the systemd rig can copy it into its Debian root and run it there as the CloudWatch agent's
 * user. Never a skip: without Go the caller fails, naming scripts/bootstrap.
 */
export const GO_SOURCE = join(import.meta.dirname, "main.go");
const GO_CANDIDATES = ["/usr/bin/go", "/usr/lib/go/bin/go", "/usr/local/go/bin/go"];

function goTool(): string {
  const found = [...GO_CANDIDATES, ...(process.env.PATH ?? "").split(":").map((dir) => join(dir, "go"))].find((candidate) => {
    try {
      accessSync(candidate, constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
  if (found === undefined) {
    throw new Error("Go is not installed, and these tests compare procwatch with Go's own regexp: run scripts/bootstrap (it installs Debian's golang-go)");
  }
  return found;
}

export function goBinary(): string {
  const source = readFileSync(GO_SOURCE);
  const hash = createHash("sha256").update(source).digest("hex").slice(0, 16);
  const binary = join(tmpdir(), `procwatch-go-regexp-${hash}`);
  if (existsSync(binary)) return binary;
  const cache = join(tmpdir(), "procwatch-go-cache");
  mkdirSync(cache, { recursive: true });
  const building = `${binary}.${process.pid}.tmp`;
  execFileSync(goTool(), ["build", "-o", building, GO_SOURCE], {
    cwd: import.meta.dirname,
    env: {
      PATH: process.env.PATH ?? "",
      HOME: tmpdir(),
      GOCACHE: cache,
      GOPATH: join(cache, "gopath"),
      GOFLAGS: "-mod=mod",
      GO111MODULE: "auto",
      CGO_ENABLED: "0",
    },
    stdio: ["ignore", "ignore", "pipe"],
  });
  renameSync(building, binary);
  return binary;
}

export interface GoAnswer {
  readonly error: string | null;
  readonly matches?: boolean[];
  readonly pids: number[];
}

/** One JSON request per line in, one answer per line out (see main.go). */
export function encodeGoRequests(requests: readonly Record<string, unknown>[]): string {
  return requests.map((request) => JSON.stringify(request)).join("\n");
}

export function decodeGoAnswers(output: string): GoAnswer[] {
  return output
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line) as GoAnswer);
}
