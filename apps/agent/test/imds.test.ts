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
      res.end(JSON.stringify({ instanceId: "i-0123456789abcdef0", region: "eu-west-1", imageId: "ami-0abc", instanceType: "t3.micro" }));
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

describe("a slow or odd metadata service", () => {
  /** A metadata service that answers every request with a byte every 100 ms for `seconds`: never idle, never done. */
  async function tricklingImds(seconds: number): Promise<FakeImds> {
    const requests: string[] = [];
    const server: Server = createServer((req, res) => {
      requests.push(`${req.method} ${req.url}`);
      res.writeHead(200, { "content-type": "text/plain" });
      let sent = 0;
      const timer = setInterval(() => {
        sent += 1;
        if (sent > seconds * 10) {
          clearInterval(timer);
          res.end("x");
        } else res.write("x");
      }, 100);
      res.on("close", () => clearInterval(timer));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    return {
      endpoint: `http://127.0.0.1:${port}`,
      requests,
      close: () =>
        new Promise((resolve) => {
          server.closeAllConnections();
          server.close(() => resolve());
        }),
    };
  }

  it("the timeout is a deadline for the whole answer, not an idle timeout", async () => {
    const imds = await tricklingImds(20);
    servers.push(imds);
    const started = Date.now();
    const run = await runAgent(["render", "--json"], { AWS_EC2_METADATA_DISABLED: "false", PROCWATCH_IMDS_ENDPOINT: imds.endpoint });
    expect(Date.now() - started).toBeLessThan(3000);
    expect(run.exitCode).toBe(1);
    expect(run.json<{ error: { type: string; message: string; retryable: boolean } }>().error).toMatchObject({ type: "NotOnEc2Error", retryable: true });
    expect(run.stderr).toMatch(/within 1000 ms/);
  }, 30_000);

  it("an identity document that is not JSON is a clear retryable error, not 'a bug'", async () => {
    const requests: string[] = [];
    const server = createServer((req, res) => {
      requests.push(`${req.method} ${req.url}`);
      if (req.method === "PUT") return void res.end("token-123");
      if (req.url === "/latest/dynamic/instance-identity/document") return void res.end("<html>captive portal</html>");
      res.statusCode = 404;
      res.end();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    servers.push({ endpoint: "", requests, close: () => new Promise((resolve) => server.close(() => resolve())) });
    const run = await runAgent(["render", "--json"], { AWS_EC2_METADATA_DISABLED: "false", PROCWATCH_IMDS_ENDPOINT: `http://127.0.0.1:${port}` });
    expect(run.exitCode).toBe(1);
    const error = run.json<{ error: { type: string; message: string; hint: string; retryable: boolean } }>().error;
    expect(error).toMatchObject({ type: "ImdsAnswerError", retryable: true });
    expect(error.message).toContain("not JSON");
    expect(error.message).toContain("<html>captive portal</html>");
    expect(error.hint).not.toContain("bug");
  });
});

describe("the metadata conversation as a whole", () => {
  it("has an overall deadline: many slow-but-timely answers (one per tag) cannot add up past it", async () => {
    const tags: Record<string, string> = { "procwatch:enabled": "true", "procwatch:processes": "a b c d e f g h" };
    for (const name of "abcdefgh") tags[`procwatch:process:${name}`] = "detection=fast";
    const server = createServer((req, res) => {
      if (req.method === "PUT") return void res.end("token-123");
      // Each answer comes just inside the per-request deadline.
      setTimeout(() => {
        if (req.url === "/latest/meta-data/tags/instance") return void res.end(Object.keys(tags).join("\n"));
        const value = tags[decodeURIComponent((req.url ?? "").slice("/latest/meta-data/tags/instance/".length))];
        if (value === undefined) {
          res.statusCode = 404;
          return void res.end();
        }
        res.end(value);
      }, 300);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    servers.push({ endpoint: "", requests: [], close: () => new Promise((resolve) => server.close(() => resolve())) });
    const started = Date.now();
    const client = new ImdsClient({ endpoint: `http://127.0.0.1:${port}`, timeoutMs: 1000, totalTimeoutMs: 1500 });
    await expect(client.instanceTags((key) => key.startsWith("procwatch:"))).rejects.toThrow(/1500 ms in all/);
    expect(Date.now() - started).toBeLessThan(2500);
  });
});
