// Rebundles the restart handler Lambda into the asset directory NodejsFunction staged, with the
// esbuild plugins of the handler's own build (apps/restart-handler/scripts/build.mjs). The stack
// runs it as NodejsFunction's afterBundling hook because the esbuild CLI NodejsFunction drives
// cannot load plugins, and without inlineSdkSchemaKeysPlugin every EC2 schema shape stays in the
// bundle (1170 KiB instead of ~640 KiB, about twice the module init time).
// The handler's build.mjs cannot write into the asset directory itself (it has no --outfile
// flag), so its settings are repeated here; keep the two in step.
//
// Usage: node bundle-restart-handler.mjs --entry <lambda.ts> --outfile <dir/index.mjs> [--sourcemap]
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { build } from "esbuild";
import { inlineSdkSchemaKeysPlugin, sideEffectFreeWorkspacePlugin } from "../../restart-handler/scripts/bundle-plugins.mjs";

/** The same banner as build.mjs: bundled CommonJS dependencies call require() for Node built-ins. */
const ESM_REQUIRE_BANNER = "import { createRequire as __pwCreateRequire } from 'node:module'; const require = __pwCreateRequire(import.meta.url);";

const usage = "usage: node bundle-restart-handler.mjs --entry <lambda.ts> --outfile <dir/index.mjs> [--sourcemap]";

let options;
try {
  options = parseArgs({
    options: { entry: { type: "string" }, outfile: { type: "string" }, sourcemap: { type: "boolean", default: false } },
    strict: true,
  }).values;
} catch (error) {
  console.error(`bundle-restart-handler: ${error instanceof Error ? error.message : String(error)}`);
  console.error(usage);
  process.exit(2);
}
if (options.entry === undefined || options.outfile === undefined || !options.outfile.endsWith(".mjs")) {
  console.error("bundle-restart-handler: --entry and --outfile (ending in .mjs) are required");
  console.error(usage);
  process.exit(2);
}

try {
  await build({
    entryPoints: [options.entry],
    outfile: options.outfile,
    bundle: true,
    minify: true,
    sourcemap: options.sourcemap,
    platform: "node",
    target: "node24",
    format: "esm",
    mainFields: ["module", "main"],
    // The AWS SDK ships in the bundle: the versions the handler was tested with, one file to load.
    external: [],
    plugins: [inlineSdkSchemaKeysPlugin(), sideEffectFreeWorkspacePlugin(fileURLToPath(new URL("../../../packages/aws-adapters", import.meta.url)))],
    banner: { js: ESM_REQUIRE_BANNER },
    legalComments: "none",
    logLevel: "warning",
  });
} catch (error) {
  // esbuild has already printed the build errors.
  console.error(`bundle-restart-handler: bundling ${options.entry} failed: ${error instanceof Error ? error.message.split("\n")[0] : String(error)}`);
  console.error("hint: run `pnpm --filter @procwatch/restart-handler build` to see the handler's own build of the same code");
  process.exit(1);
}
