// esbuild plugins for the Lambda bundle. Both only let esbuild drop code the handler never runs;
// neither changes what the remaining code does.
import { readFile } from "node:fs/promises";
import { resolve } from "node:path";

const SCHEMA_MODULE = /[\\/]@aws-sdk[\\/]client-[a-z0-9-]+[\\/]dist-es[\\/]schemas[\\/]schemas_\d+\.js$/;
const STRING_CONSTANT = /^const (_[A-Za-z0-9_$]+) = ("[^"\\\n]*");$/gm;
const COMPUTED_KEY = /\[(_[A-Za-z0-9_$]+)\]:/g;

/**
 * Rewrites `{ [_eQN]: x }` to `{ "ec2QueryName": x }` where `_eQN` is one of the module's
 * top-level string constants. The SDK's generated schema modules write trait keys as computed
 * keys, which esbuild must assume have side effects, so it keeps every shape of the service
 * (EC2: ~540 KiB minified) although the handler uses one command. With literal keys the unused
 * shapes tree-shake away. Returns the text unchanged when a `?` appears anywhere in it: the
 * rewrite is only exact where `[_x]:` cannot be an array literal in a conditional expression.
 *
 * @param {string} text
 * @returns {{ text: string, rewritten: number }}
 */
export function inlineSchemaKeys(text) {
  if (text.includes("?")) return { text, rewritten: 0 };
  const constants = new Map();
  for (const match of text.matchAll(STRING_CONSTANT)) constants.set(match[1], match[2]);
  let rewritten = 0;
  const result = text.replace(COMPUTED_KEY, (whole, name) => {
    const value = constants.get(name);
    if (value === undefined) return whole;
    rewritten += 1;
    return `${value}:`;
  });
  return { text: result, rewritten };
}

/** @returns {import("esbuild").Plugin} */
export function inlineSdkSchemaKeysPlugin() {
  return {
    name: "inline-sdk-schema-keys",
    setup(build) {
      build.onLoad({ filter: SCHEMA_MODULE }, async (args) => {
        const { text, rewritten } = inlineSchemaKeys(await readFile(args.path, "utf8"));
        const warnings = rewritten === 0 ? [{ text: `left ${args.path} unchanged: every shape of this client stays in the bundle` }] : [];
        return { contents: text, loader: "js", warnings };
      });
    },
  };
}

/**
 * Declares the workspace's `@procwatch/aws-adapters` modules free of side effects (its package.json
 * does not say so). Its barrel re-exports AlarmStore and MetricCatalog, which import
 * `@aws-sdk/client-cloudwatch`; when the SDK stays external, esbuild otherwise keeps that import
 * and the Lambda loads the CloudWatch client at init for nothing.
 *
 * @param {string} packageDir absolute path of packages/aws-adapters
 * @returns {import("esbuild").Plugin}
 */
export function sideEffectFreeWorkspacePlugin(packageDir) {
  const sourceDir = resolve(packageDir, "src");
  return {
    name: "side-effect-free-aws-adapters",
    setup(build) {
      build.onResolve({ filter: /^\.\.?\// }, (args) => {
        if (!args.importer.startsWith(sourceDir)) return undefined;
        return { path: resolve(args.resolveDir, args.path), sideEffects: false };
      });
    },
  };
}
