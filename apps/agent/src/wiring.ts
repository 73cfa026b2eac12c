import { join } from "node:path";
import type { SpecRequest } from "./core/spec-sources.ts";
import { AUTO_SCALING_GROUP_FILE_NAME, stateDirAutoScalingGroupCache } from "./io/auto-scaling-group-cache.ts";
import { Ec2DescribeTagsReader, SsmProfileReader } from "./io/aws-lookups.ts";
import { type AgentMode, locateCtl } from "./io/cwagent-ctl.ts";
import { ImdsClient } from "./io/imds.ts";
import { type FinalSpecStage, loadSpec, type SpecLoaderDeps } from "./io/spec-loader.ts";
import type { AgentSettings } from "./settings.ts";

/** The one place where the agent builds its clients and adapters from settings. */
export interface Wiring {
  readonly settings: AgentSettings;
  readonly imds: ImdsClient;
  readonly ctl: string | null;
  loadSpec(request: Omit<SpecRequest, "tagPrefix">): Promise<FinalSpecStage>;
  agentMode(requested: "auto" | AgentMode): Promise<AgentMode>;
}

export function wire(settings: AgentSettings): Wiring {
  const imds = new ImdsClient({ disabled: settings.imdsDisabled, ...(settings.imdsEndpoint === undefined ? {} : { endpoint: settings.imdsEndpoint }) });
  let onEc2: boolean | undefined;
  const regionFromMetadata = async (): Promise<string | undefined> => {
    if (settings.region !== undefined) return settings.region;
    try {
      return (await imds.instanceIdentity()).region;
    } catch {
      return undefined;
    }
  };
  const deps: SpecLoaderDeps = {
    imds: () => imds,
    tagReader: (region) => new Ec2DescribeTagsReader(settings.region ?? region),
    profileReader: () => new SsmProfileReader(regionFromMetadata),
    autoScalingGroupCache: stateDirAutoScalingGroupCache(join(settings.stateDir, AUTO_SCALING_GROUP_FILE_NAME)),
  };
  return {
    settings,
    imds,
    ctl: locateCtl(settings.ctlPath, settings.cwagentDir, settings.pathVariable),
    loadSpec: (request) => loadSpec({ ...request, tagPrefix: settings.tagPrefix }, deps),
    async agentMode(requested) {
      if (requested !== "auto") return requested;
      // A metadata service that already answered (tags came from it) settles it, even if its time budget is spent.
      if (onEc2 === undefined && imds.answered) onEc2 = true;
      if (onEc2 === undefined) {
        try {
          await imds.instanceIdentity();
          onEc2 = true;
        } catch {
          onEc2 = false;
        }
      }
      return onEc2 ? "ec2" : "onPremise";
    },
  };
}
