import { ListTagsForResourceCommand, type SSMClient } from "@aws-sdk/client-ssm";
import type { InstanceInventory } from "@procwatch/aws-adapters";
import type { InstanceSnapshot } from "../core/model.ts";
import { AwsCallError } from "../errors.ts";
import type { InstanceFacts } from "../ports.ts";

/**
 * EC2 instances come from the shared InstanceInventory (DescribeInstances by id filter, any
 * state, opted in or not — the decision needs to *see* an opt-out). SSM managed (on-premises)
 * nodes have no EC2 record; their tags live on the ManagedInstance resource in SSM.
 */
export class FleetInstanceFacts implements InstanceFacts {
  constructor(
    private readonly inventory: Pick<InstanceInventory, "describe">,
    private readonly ssm: SSMClient,
  ) {}

  async describe(instanceId: string): Promise<InstanceSnapshot | null> {
    if (instanceId.startsWith("mi-")) return this.describeManaged(instanceId);
    const [record] = await this.inventory.describe([instanceId]);
    if (record === undefined) return null;
    return {
      instanceId: record.instanceId,
      state: record.state,
      tags: record.tags,
      ...(record.name !== undefined ? { name: record.name } : {}),
      ...(record.imageId !== undefined ? { imageId: record.imageId } : {}),
      ...(record.instanceType !== undefined ? { instanceType: record.instanceType } : {}),
    };
  }

  private async describeManaged(instanceId: string): Promise<InstanceSnapshot | null> {
    try {
      const output = await this.ssm.send(new ListTagsForResourceCommand({ ResourceType: "ManagedInstance", ResourceId: instanceId }));
      const tags: Record<string, string> = {};
      for (const tag of output.TagList ?? []) {
        if (tag.Key !== undefined) tags[tag.Key] = tag.Value ?? "";
      }
      return { instanceId, state: "managed", tags, ...(tags.Name !== undefined && tags.Name !== "" ? { name: tags.Name } : {}) };
    } catch (error) {
      if (error instanceof Error && (error.name === "InvalidResourceId" || error.name === "InvalidResourceType")) return null;
      throw new AwsCallError("ListTagsForResource", error);
    }
  }
}
