import { Stack, type StackProps } from "aws-cdk-lib";
import type { Construct } from "constructs";
import { ProcWatch, type ProcWatchProps } from "./procwatch.ts";

export interface ProcWatchStackProps extends StackProps {
  readonly procWatch?: ProcWatchProps;
}

/** The ready-made deployment: one stack holding one `ProcWatch`. */
export class ProcWatchStack extends Stack {
  readonly procWatch: ProcWatch;

  constructor(scope: Construct, id: string, props: ProcWatchStackProps = {}) {
    super(scope, id, { description: "procwatch: keeps named processes alive across EC2 fleets", ...props });
    this.procWatch = new ProcWatch(this, "ProcWatch", props.procWatch ?? {});
  }
}
