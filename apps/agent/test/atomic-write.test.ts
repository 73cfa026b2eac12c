import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync, utimesSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { tempNameFor } from "../src/core/temp-files.ts";
import { FileWriteError } from "../src/errors.ts";
import { writeFileAtomic } from "../src/io/atomic-write.ts";
import { killAndWait, Scratch, writeJson } from "./helpers.ts";

/** Temp clean-up with real processes: a crashed writer's leftovers go, a running writer's temp stays. */
const scratch = new Scratch();
afterEach(() => scratch.cleanup());

const BUNDLE = join(import.meta.dirname, "..", "dist", "procwatch-agent.cjs");

describe("writeFileAtomic removes only abandoned temps", () => {
  it("keeps a fresh temp of a live writer; removes one of a dead writer, one older than a minute, and one without a pid", async () => {
    const dir = scratch.dir();
    const target = join(dir, "procwatch.json");
    const live = scratch.start("/bin/sleep", ["300"]);
    const dead = scratch.start("/bin/sleep", ["300"]);
    await killAndWait(dead);
    const now = Date.now();
    const liveFresh = tempNameFor("procwatch.json", live.pid ?? 0, now);
    const liveOld = tempNameFor("procwatch.json", live.pid ?? 0, now - 120_000);
    const deadFresh = tempNameFor("procwatch.json", dead.pid ?? 0, now);
    const noPidOld = ".procwatch.json.leftover.tmp";
    const noPidFresh = ".procwatch.json.other.tmp";
    const otherTarget = tempNameFor("allow-list.json", dead.pid ?? 0, now);
    for (const name of [liveFresh, liveOld, deadFresh, noPidOld, noPidFresh, otherTarget]) writeFileSync(join(dir, name), "partial");
    const twoMinutesAgo = (now - 120_000) / 1000;
    utimesSync(join(dir, liveOld), twoMinutesAgo, twoMinutesAgo);
    utimesSync(join(dir, noPidOld), twoMinutesAgo, twoMinutesAgo);

    writeFileAtomic(target, "{}\n");

    expect(readFileSync(target, "utf8")).toBe("{}\n");
    expect(readdirSync(dir).sort()).toEqual([liveFresh, noPidFresh, otherTarget, "procwatch.json"].sort());
  });

  it("a second apply running between another writer's write and rename leaves that writer's temp alone", () => {
    const dir = scratch.dir();
    const stateDir = join(dir, "state");
    const target = join(stateDir, "procwatch.json");
    const spec = join(dir, "spec.json");
    writeJson(spec, { version: 1, processes: [{ name: "nginx" }] });
    let concurrentExit: number | null = null;

    // This process is writer one; a real `procwatch-agent apply` (writer two) runs to completion
    // while writer one's temp is written but not yet renamed.
    writeFileAtomic(target, "writer one\n", {
      faultPoint: () => {
        execFileSync(process.execPath, [BUNDLE, "apply", "--spec", spec], {
          env: {
            PATH: process.env.PATH,
            AWS_EC2_METADATA_DISABLED: "true",
            PROCWATCH_STATE_DIR: stateDir,
            PROCWATCH_CWAGENT_DIR: join(dir, "cwagent"),
            PROCWATCH_CWAGENT_CTL: "/bin/true",
          },
          stdio: "ignore",
        });
        concurrentExit = 0;
      },
    });

    expect(concurrentExit).toBe(0);
    expect(readFileSync(target, "utf8")).toBe("writer one\n");
    expect(readdirSync(stateDir).filter((entry) => entry.endsWith(".tmp"))).toEqual([]);
  });
});

describe("writeFileAtomic writes every byte or commits nothing", () => {
  const content = `${JSON.stringify({ version: 1, processes: Array.from({ length: 20 }, (_, index) => ({ name: `svc${index}` })) })}\n`;

  it("loops over short writes until the whole content is written", () => {
    const target = join(scratch.dir(), "allow-list.json");
    const chunks: number[] = [];
    writeFileAtomic(target, content, {
      write: (fd, buffer, offset, length) => {
        // A kernel may write fewer bytes than asked (signals, quotas, some filesystems).
        const written = writeSync(fd, buffer, offset, Math.min(length, 7));
        chunks.push(written);
        return written;
      },
    });
    expect(readFileSync(target, "utf8")).toBe(content);
    expect(chunks.length).toBe(Math.ceil(Buffer.byteLength(content) / 7));
  });

  it("a disk that fills mid-write (short write, then ENOSPC) keeps the old file and leaves no temp", () => {
    const dir = scratch.dir();
    const target = join(dir, "allow-list.json");
    writeFileSync(target, "old complete content\n");
    let calls = 0;
    expect(() =>
      writeFileAtomic(target, content, {
        write: (fd, buffer, offset, length) => {
          calls += 1;
          if (calls === 1) return writeSync(fd, buffer, offset, Math.min(length, 10));
          throw Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
        },
      }),
    ).toThrow(FileWriteError);
    expect(readFileSync(target, "utf8")).toBe("old complete content\n");
    expect(readdirSync(dir)).toEqual(["allow-list.json"]);
  });

  it("a write that makes no progress is an error, not a truncated commit", () => {
    const dir = scratch.dir();
    const target = join(dir, "procwatch.json");
    writeFileSync(target, "old\n");
    expect(() => writeFileAtomic(target, content, { write: (fd, buffer, offset) => (offset === 0 ? writeSync(fd, buffer, 0, 5) : 0) })).toThrow(
      /wrote 5 of \d+ bytes/,
    );
    expect(readFileSync(target, "utf8")).toBe("old\n");
    expect(readdirSync(dir)).toEqual(["procwatch.json"]);
  });
});
