import { describe, expect, it } from "vitest";
import { parseInstanceTags, parseSpecDocument, pidFilePathProblem } from "../src/index.ts";

/**
 * A tag or profile chooses which file the CloudWatch agent (and procwatch's health and restart)
 * opens as a pid file, and the agent logs what it could not parse: `/etc/shadow` would land in its
 * log, `/dev/zero` exhausts memory, a FIFO hangs it. Only `*.pid` files under the conventional run
 * and state directories are accepted, each refusal saying why.
 */
describe("pid file paths", () => {
  it.each(["/run/nginx.pid", "/var/run/mysqld/mysqld.pid", "/run/worker/2.pid", "/var/lib/mysql/db-1.pid", "/opt/orders/run/orders.pid"])(
    "accepts %s",
    (path) => {
      expect(pidFilePathProblem(path)).toBeNull();
    },
  );

  it.each([
    ["/dev/zero", "not under"],
    ["/etc/shadow", "not under"],
    ["/proc/self/environ", "not under"],
    ["/tmp/app.pid", "not under"],
    ["/home/deploy/app.pid", "not under"],
    ["/run/nginx", "end in .pid"],
    ["/var/lib/mysql/my.cnf", "end in .pid"],
    ["/run/secrets/db.pid", "/run/secrets"],
    ["/run/credentials/app.service/x.pid", "/run/credentials"],
    ["/run/user/1000/app.pid", "/run/user"],
    ["/run/.pid", "file name"],
    ["/run", "not under"],
    ["/run/../etc/x.pid", "absolute"],
  ])("refuses %s (%s)", (path, reason) => {
    expect(pidFilePathProblem(path)).toContain(reason);
  });

  it("refuses at validation time in tags and documents, with the reason in the issue", () => {
    const tags = parseInstanceTags({ "procwatch:enabled": "true", "procwatch:processes": "a", "procwatch:process:a": "pidfile=/dev/zero" });
    expect(tags.issues).toHaveLength(1);
    expect(tags.issues[0]).toMatchObject({ code: "bad-path", source: "procwatch:process:a pidfile=", value: "/dev/zero" });
    expect(tags.issues[0]?.message).toContain("not under");
    expect(tags.issues[0]?.expected).toContain("/run/");
    const document = parseSpecDocument({ version: 1, processes: [{ name: "a", pidfile: "/etc/shadow" }] }, "spec.json");
    expect(document.issues.map((found) => [found.code, found.source])).toEqual([["bad-path", "spec.json/processes[0].pidfile"]]);
  });
});
