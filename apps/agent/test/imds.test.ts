import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { ImdsClient } from "../src/io/imds.ts";
import { loadSpec } from "../src/io/spec-loader.ts";
import { runAgent } from "./helpers.ts";

/** A local stand-in for the instance metadata service: IMDSv2 only (a GET without a token gets 401). */
interface FakeImds {
  readonly endpoint: string;
  readonly requests: string[];
  close(): Promise<void>;
}

async function fakeImds(tags: Record<string, string> | null): Promise<FakeImds> {
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    requests.push(`${req.method} ${req.url}`);
    if (req.method === "PUT" && req.url === "/latest/api/token") {
      res.end(req.headers["x-aws-ec2-metadata-token-ttl-seconds"] ? "token-123" : "");
      return;
    }
    if (req.headers["x-aws-ec2-metadata-token"] !== "token-123") {
      res.statusCode = 401;
      res.end();
      return;
    }
    if (req.url === "/latest/dynamic/instance-identity/document") {
      res.end(JSON.stringify({ instanceId: "i-0123456789abcdef0", region: "eu-west-1" }));
      return;
    }
    if (tags !== null && req.url === "/latest/meta-data/tags/instance") {
      res.end(Object.keys(tags).join("\n"));
      return;
    }
    const prefix = "/latest/meta-data/tags/instance/";
    if (tags !== null && req.url?.startsWith(prefix)) {
      const value = tags[decodeURIComponent(req.url.slice(prefix.length))];
      if (value !== undefined) {
        res.end(value);
        return;
      }
    }
    res.statusCode = 404;
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return { endpoint: `http://127.0.0.1:${port}`, requests, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

const servers: FakeImds[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await server.close();
});

describe("instance tags via IMDSv2", () => {
  it("render reads procwatch:* tags from instance metadata with a session token, ignoring other keys", async () => {
    const imds = await fakeImds({
      Name: "web-1",
      "procwatch:enabled": "true",
      "procwatch:processes": "nginx sshd",
      "procwatch:process:nginx": "detection=fast",
    });
    servers.push(imds);
    const run = await runAgent(["render", "--json"], { AWS_EC2_METADATA_DISABLED: "false", PROCWATCH_IMDS_ENDPOINT: imds.endpoint });
    expect(run.exitCode).toBe(0);
    expect(run.json()).toMatchObject({ source: "imds-tags", processes: ["nginx", "sshd"] });
    expect(imds.requests[0]).toBe("PUT /latest/api/token");
    expect(imds.requests.filter((line) => line.includes("/Name"))).toEqual([]);
  });

  it("falls back to DescribeTags for this instance when tags are not in metadata", async () => {
    const imds = await fakeImds(null);
    servers.push(imds);
    const asked: string[] = [];
    const stage = await loadSpec(
      { tagPrefix: "procwatch" },
      {
        imds: () => new ImdsClient({ endpoint: imds.endpoint }),
        tagReader: (region) => ({
          tagsOf: async (instanceId) => {
            asked.push(`${region}/${instanceId}`);
            return { "procwatch:enabled": "true", "procwatch:processes": "redis", Owner: "x" };
          },
        }),
        profileReader: () => ({ profile: async () => ({ found: false }) }),
      },
    );
    expect(asked).toEqual(["eu-west-1/i-0123456789abcdef0"]);
    expect(stage).toMatchObject({ kind: "ready", source: "describe-tags" });
  });

  it("says clearly when the host is not on EC2", async () => {
    const run = await runAgent(["render"], { AWS_EC2_METADATA_DISABLED: "false", PROCWATCH_IMDS_ENDPOINT: "http://127.0.0.1:9" });
    expect(run.exitCode).toBe(1);
    expect(run.stderr).toMatch(/^error: this host does not look like an EC2 instance: instance metadata \(IMDSv2\) did not answer/);
    expect(run.stderr).toMatch(/^hint: on-premises hosts pass --spec FILE/m);
  });
});
