import { App, Validations } from "aws-cdk-lib";
import { AwsSolutionsChecks } from "cdk-nag";
import { appConfigFrom } from "../src/config.ts";
import { InfraError } from "../src/errors.ts";
import { ProcWatchStack } from "../src/procwatch-stack.ts";

// The app's single error boundary: a config or build problem is one line plus a hint, exit 1.
try {
  const app = new App();
  const config = appConfigFrom({ context: (key) => app.node.tryGetContext(key), env: process.env });
  new ProcWatchStack(app, config.stackName, {
    // Region and account come from the CLI profile at deploy time; synth needs neither.
    env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
    procWatch: { ...config.settings, ...(config.agentArtifactsDir !== undefined ? { agentArtifactsDir: config.agentArtifactsDir } : {}) },
  });
  // Every AwsSolutions finding fails synth unless acknowledged with a reason in the construct.
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  app.synth();
} catch (error) {
  if (error instanceof InfraError) {
    console.error(`procwatch-infra: ${error.message}`);
    console.error("hint: see apps/infra/README.md for the settings (cdk -c name=value or PROCWATCH_* environment variables)");
    process.exit(1);
  }
  throw error;
}
