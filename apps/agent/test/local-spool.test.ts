import { appendFileSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import type { LocalEvent } from "../src/core/local-supervision.ts";
import { appendLocalEvent, markReported, readLocalEvents, SPOOL_FILE_NAME, SPOOL_MAX_BYTES } from "../src/io/local-supervision.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function spoolDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "pw-spool-"));
  dirs.push(dir);
  return dir;
}

function event(index: number): LocalEvent {
  return {
    kind: "local-restart",
    recordedAtMs: 1_000_000 + index,
    process: "web",
    unit: "web.service",
    beforePid: 100 + index,
    afterPid: 101 + index,
    downMs: 120,
    escalated: false,
    nRestarts: index,
    detail: `systemd restarted web.service (restart ${index}) ${"x".repeat(200)}`,
  };
}

describe("the local-event spool", () => {
  it("stays bounded: past its size it rotates to .1, keeping one generation, and reads both in order", () => {
    const dir = spoolDir();
    const count = Math.ceil((SPOOL_MAX_BYTES * 2.5) / JSON.stringify(event(0)).length);
    for (let index = 0; index < count; index += 1) appendLocalEvent(dir, event(index));
    const current = statSync(join(dir, SPOOL_FILE_NAME)).size;
    const previous = statSync(join(dir, `${SPOOL_FILE_NAME}.1`)).size;
    expect(current).toBeLessThanOrEqual(SPOOL_MAX_BYTES);
    expect(previous).toBeLessThanOrEqual(SPOOL_MAX_BYTES);
    const events = readLocalEvents(dir).sinceLastReport;
    expect(events.at(-1)?.nRestarts).toBe(count - 1);
    expect(events.map((entry) => entry.nRestarts)).toEqual([...events.map((entry) => entry.nRestarts)].sort((a, b) => (a ?? 0) - (b ?? 0)));
    expect(events.length).toBeLessThan(count);
  });

  it("skips a torn line (a crash mid-append) and reports only what came after the marked report", () => {
    const dir = spoolDir();
    appendLocalEvent(dir, event(1));
    appendLocalEvent(dir, event(2));
    markReported(dir, event(1).recordedAtMs);
    appendFileSync(join(dir, SPOOL_FILE_NAME), '{"kind":"local-restart","recordedAtMs":');
    appendFileSync(join(dir, SPOOL_FILE_NAME), "\n");
    appendLocalEvent(dir, event(3));
    expect(readLocalEvents(dir).sinceLastReport.map((entry) => entry.nRestarts)).toEqual([2, 3]);
  });
});
