// Bundles the Lambda entry for nodejs24.x into one minified ESM file.
//
// Default (the deployable artifact, as apps/infra deploys it): the AWS SDK is bundled, so the
// function runs the SDK versions it was tested with, and init loads one file instead of the
// runtime's SDK packages from node_modules (EC2's client alone is a 2 MB CommonJS file there).
// `inlineSdkSchemaKeysPlugin` lets esbuild drop the SDK schema shapes the handler never uses;
// without it EC2's schemas alone add ~540 KiB. `--sdk-external` leaves `@aws-sdk/*` to the
// runtime, for comparison; the benchmark reports both.
import { mkdirSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { inlineSdkSchemaKeysPlugin, sideEffectFreeWorkspacePlugin } from "./bundle-plugins.mjs";

const sdkExternal = process.argv.includes("--sdk-external");
const outdir = sdkExternal ? "dist/sdk-external" : "dist";
const outfile = `${outdir}/index.mjs`;

const result = await build({
  entryPoints: ["src/lambda.ts"],
  outfile,
  bundle: true,
  minify: true,
  sourcemap: false,
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
mkdirSync(outdir, { recursive: true });
writeFileSync(`${outdir}/meta.json`, JSON.stringify(result.metafile));
const bytes = result.metafile.outputs[outfile].bytes;
console.log(`${outfile} ${(bytes / 1024).toFixed(1)} KiB${sdkExternal ? " (AWS SDK from the nodejs24.x runtime)" : " (AWS SDK bundled)"}`);
