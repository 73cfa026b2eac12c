import { GetParametersCommand, SSMClient } from "@aws-sdk/client-ssm";
import { mockClient } from "aws-sdk-client-mock";
import "aws-sdk-client-mock-vitest/extend";
import { beforeEach, describe, expect, it } from "vitest";
import { ProfileStore } from "../src/profile-store.ts";

const ssm = new SSMClient({ region: "eu-west-1", maxAttempts: 1 });
const ssmMock = mockClient(ssm);

beforeEach(() => ssmMock.reset());

describe("ProfileStore", () => {
  it("fetches in batches of 10 names and tells found, missing and invalid apart", async () => {
    const names = Array.from({ length: 12 }, (_, index) => `web-${index}`);
    ssmMock.on(GetParametersCommand).callsFake((input: { Names: string[] }) => ({
      Parameters: input.Names.filter((name) => name !== "/procwatch/profiles/web-3").map((name) => ({
        Name: name,
        Version: 4,
        Value: name.endsWith("web-5")
          ? "{not json"
          : name.endsWith("web-6")
            ? JSON.stringify({ processes: [] })
            : JSON.stringify({ version: 1, processes: [{ name: "nginx" }] }),
      })),
      InvalidParameters: input.Names.filter((name) => name === "/procwatch/profiles/web-3"),
    }));

    const profiles = await new ProfileStore(ssm).getProfiles([...names, "web-0", "bad name"]);

    expect(ssmMock).toHaveReceivedCommandTimes(GetParametersCommand, 2);
    expect(ssmMock).toHaveReceivedNthCommandWith(GetParametersCommand, 1, {
      Names: names.slice(0, 10).map((name) => `/procwatch/profiles/${name}`),
      WithDecryption: false,
    });
    expect(ssmMock).toHaveReceivedNthCommandWith(GetParametersCommand, 2, {
      Names: names.slice(10).map((name) => `/procwatch/profiles/${name}`),
      WithDecryption: false,
    });
    expect(profiles.size).toBe(13);
    expect(profiles.get("web-0")).toEqual({
      found: true,
      version: 4,
      document: { entries: [{ name: "nginx", options: {}, source: "profile:web-0/processes[0]" }] },
    });
    expect(profiles.get("web-3")).toEqual({ found: false, reason: "missing" });
    expect(profiles.get("bad name")).toEqual({ found: false, reason: "missing" });
    expect(profiles.get("web-5")).toMatchObject({ found: false, reason: "invalid", issues: [{ code: "bad-document" }] });
    expect(profiles.get("web-6")).toMatchObject({ found: false, reason: "invalid", issues: [{ code: "empty-process-list" }] });
  });

  it("makes no call for no names", async () => {
    expect((await new ProfileStore(ssm).getProfiles([])).size).toBe(0);
    expect(ssmMock).not.toHaveReceivedCommand(GetParametersCommand);
  });
});
