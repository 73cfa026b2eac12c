import type { ProfileStore } from "@procwatch/aws-adapters";
import type { ProfileLookup } from "../core/model.ts";
import type { ProfileSource } from "../ports.ts";

/** One profile at a time through the shared ProfileStore (SSM GetParameters). */
export class StoreProfileSource implements ProfileSource {
  constructor(private readonly store: Pick<ProfileStore, "getProfiles">) {}

  async getProfile(name: string): Promise<ProfileLookup> {
    const lookup = (await this.store.getProfiles([name])).get(name);
    if (lookup === undefined || !lookup.found) return { found: false, ...(lookup !== undefined && "issues" in lookup ? { issues: lookup.issues } : {}) };
    return { found: true, document: lookup.document };
  }
}
