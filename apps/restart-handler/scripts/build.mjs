// Bundles the Lambda entry for nodejs24.x into one minified ESM file.
//
// Default (the deployable artifact): `@aws-sdk/*` stays external, because the nodejs24.x runtime
// ships AWS SDK v3 and EC2's client alone is ~550 KiB minified (its schema module registers every
// EC2 shape and cannot be tree-shaken). `--self-contained` bundles the SDK too, for a runtime
// without it; the benchmark reports both sizes.
import { mkdirSync, writeFileSync } from "node:fs";
import { build } from "esbuild";

const selfContained = process.argv.includes("--self-contained");
const outdir = selfContained ? "dist/self-contained" : "dist";
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
  external: selfContained ? [] : ["@aws-sdk/*"],
  // Some dependencies are CommonJS and call require() for Node built-ins.
  banner: { js: "import { createRequire as __pwCreateRequire } from 'node:module'; const require = __pwCreateRequire(import.meta.url);" },
  metafile: true,
  legalComments: "none",
  logLevel: "warning",
});
mkdirSync(outdir, { recursive: true });
writeFileSync(`${outdir}/meta.json`, JSON.stringify(result.metafile));
const bytes = result.metafile.outputs[outfile].bytes;
console.log(`${outfile} ${(bytes / 1024).toFixed(1)} KiB${selfContained ? " (AWS SDK bundled)" : " (AWS SDK from the nodejs24.x runtime)"}`);
