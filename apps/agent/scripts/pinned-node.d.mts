/** Types for pinned-node.mjs (plain JS, so the build runs under any node without a TS loader). */
export type NodeArch = "x64" | "arm64";

export declare const NODE_VERSION: string;
export declare const NODE_TARBALL_INTEGRITY: Readonly<Record<NodeArch, string>>;
export declare const NODE_BINARY_SHA256: Readonly<Record<NodeArch, string>>;

export declare class PinnedNodeError extends Error {}

export interface PinnedNodeOptions {
  readonly pack?: (spec: string, destination: string) => void;
  readonly log?: (message: string) => void;
}

export declare function packageSpec(arch: NodeArch): string;
export declare function integrityOf(path: string): string;
export declare function sha256Of(path: string): string;
export declare function verifyTarball(path: string, arch: NodeArch, origin: string): void;
export declare function npmPack(spec: string, destination: string): void;
export declare function verifiedTarball(arch: NodeArch, cacheDir: string, options?: PinnedNodeOptions): string;
export declare function pinnedNodeBinary(arch: NodeArch, cacheDir: string, options?: PinnedNodeOptions): { path: string; sha256: string };
