import { GetParametersCommand, SSMClient } from "@aws-sdk/client-ssm";
import { mockClient } from "aws-sdk-client-mock";
import "aws-sdk-client-mock-vitest/extend";
import { beforeEach, describe, expect, it } from "vitest";
import { AdapterError, ThrottledError } from "../src/errors.ts";
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

  describe("a failed call versus a missing parameter", () => {
    const names = Array.from({ length: 12 }, (_, index) => `web-${index}`);
    const throttled = Object.assign(new Error("Rate exceeded"), { name: "ThrottlingException", $metadata: { httpStatusCode: 400 } });
    beforeEach(() => {
      // The first batch of 10 fails even after retries; the second answers, with web-11 missing.
      ssmMock.on(GetParametersCommand).callsFake((input: { Names: string[] }) => {
        if (input.Names.includes("/procwatch/profiles/web-0")) throw throttled;
        return {
          Parameters: input.Names.filter((name) => !name.endsWith("web-11")).map((name) => ({
            Name: name,
            Version: 1,
            Value: JSON.stringify({ version: 1, processes: [{ name: "nginx" }] }),
          })),
          InvalidParameters: input.Names.filter((name) => name.endsWith("web-11")),
        };
      });
    });

    it("lookupProfiles marks only the failed batch unavailable, with the error, and still reads the rest", async () => {
      const profiles = await new ProfileStore(ssm).lookupProfiles(names);
      expect(ssmMock).toHaveReceivedCommandTimes(GetParametersCommand, 2);
      const web0 = profiles.get("web-0");
      expect(web0).toMatchObject({ found: false, reason: "unavailable", message: "GetParameters failed: ThrottlingException: Rate exceeded" });
      expect(web0 !== undefined && "error" in web0 ? web0.error : undefined).toBeInstanceOf(ThrottledError);
      expect(
        names.slice(0, 10).every((name) => profiles.get(name)?.found === false && (profiles.get(name) as { reason: string }).reason === "unavailable"),
      ).toBe(true);
      expect(profiles.get("web-10")).toMatchObject({ found: true });
      expect(profiles.get("web-11")).toEqual({ found: false, reason: "missing" });
    });

    it("getProfiles rejects as a whole, so callers that need every answer never mistake a failure for a missing profile", async () => {
      await expect(new ProfileStore(ssm).getProfiles(names)).rejects.toBeInstanceOf(AdapterError);
    });
  });
});
