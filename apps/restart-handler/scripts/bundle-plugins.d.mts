import type { Plugin } from "esbuild";

export declare function inlineSchemaKeys(text: string): { text: string; rewritten: number };
export declare function inlineSdkSchemaKeysPlugin(): Plugin;
export declare function sideEffectFreeWorkspacePlugin(packageDir: string): Plugin;
