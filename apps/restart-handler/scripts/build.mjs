// Bundles the Lambda entry for nodejs24.x into one minified ESM file.
//
// Default (the deployable artifact, as apps/infra deploys it): the AWS SDK is bundled, so the
// function runs the SDK versions it was tested with, and init loads one file instead of the
// runtime's SDK packages from node_modules (EC2's client alone is a 2 MB CommonJS file there).
// `inlineSdkSchemaKeysPlugin` lets esbuild drop the SDK schema shapes the handler never uses;
// without it EC2's schemas alone add ~540 KiB. `--sdk-external` leaves `@aws-sdk/*` to the
// runtime, for comparison; the benchmark reports both.
// `--outfile <path>` writes the bundle elsewhere (the CDK stack points it at the asset directory
// NodejsFunction staged, as its afterBundling hook) and `--sourcemap` adds a source map.
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { build } from "esbuild";
import { inlineSdkSchemaKeysPlugin, sideEffectFreeWorkspacePlugin } from "./bundle-plugins.mjs";

const { values: flags } = parseArgs({
  options: { "sdk-external": { type: "boolean", default: false }, outfile: { type: "string" }, sourcemap: { type: "boolean", default: false } },
  strict: true,
});
const sdkExternal = flags["sdk-external"] === true;
const packageDir = fileURLToPath(new URL("..", import.meta.url));
const outfile = flags.outfile ?? `${packageDir}dist/${sdkExternal ? "sdk-external/" : ""}index.mjs`;
const outdir = dirname(outfile);

const result = await build({
  entryPoints: [`${packageDir}src/lambda.ts`],
  outfile,
  bundle: true,
  minify: true,
  sourcemap: flags.sourcemap === true,
  platform: "node",
  target: "node24",
  format: "esm",
  mainFields: ["module", "main"],
  external: sdkExternal ? ["@aws-sdk/*"] : [],
  plugins: [inlineSdkSchemaKeysPlugin(), sideEffectFreeWorkspacePlugin(fileURLToPath(new URL("../../../packages/aws-adapters", import.meta.url)))],
  // Some dependencies are CommonJS and call require() for Node built-ins.
  banner: { js: "import { createRequire as __pwCreateRequire } from 'node:module'; const require = __pwCreateRequire(import.meta.url);" },
  metafile: true,
  legalComments: "none",
  logLevel: "warning",
});
// The build analysis stays next to the package's own artifact, never inside a deployment asset.
if (flags.outfile === undefined) {
  mkdirSync(outdir, { recursive: true });
  writeFileSync(`${outdir}/meta.json`, JSON.stringify(result.metafile));
}
const bytes = Object.values(result.metafile.outputs).find((output) => output.entryPoint !== undefined)?.bytes ?? 0;
console.log(`${outfile} ${(bytes / 1024).toFixed(1)} KiB${sdkExternal ? " (AWS SDK from the nodejs24.x runtime)" : " (AWS SDK bundled)"}`);
