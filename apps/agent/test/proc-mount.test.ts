import { exeRegexForName } from "@procwatch/contract";
import { describe, expect, it } from "vitest";
import { procMountRestrictionOf, seesOnlyOwnProcesses } from "../src/core/proc-mount.ts";
import { type AgentUser, matchProcesses, type ProcessRecord } from "../src/core/process-matching.ts";

/** Lines in /proc/self/mountinfo's format (proc(5)): ID, parent, major:minor, root, mount point, options, optional fields, "-", type, source, super options. */
const procLine = (superOptions: string, optional = "shared:13") => `24 1 0:22 / /proc rw,nosuid,nodev,noexec,relatime ${optional} - proc proc ${superOptions}`;
const otherLines = [
  "22 1 0:5 / /dev rw,nosuid - devtmpfs udev rw,size=4017000k",
  "25 24 0:23 / /proc/sys/fs/binfmt_misc rw,relatime - binfmt_misc binfmt_misc rw",
];

describe("/proc's hidepid as the kernel reports it in mountinfo (proc(5) mount options)", () => {
  it("numeric and named values, with and without gid=", () => {
    expect(procMountRestrictionOf([...otherLines, procLine("rw")].join("\n"))).toBeNull();
    expect(procMountRestrictionOf(procLine("rw,hidepid=0"))).toBeNull();
    expect(procMountRestrictionOf(procLine("rw,hidepid=off"))).toBeNull();
    // The kernel prints gid= only when it is not 0 (root's group, the default).
    expect(procMountRestrictionOf(procLine("rw,hidepid=1"))).toEqual({ hidepid: "noaccess", option: "hidepid=1", gid: 0 });
    expect(procMountRestrictionOf(procLine("rw,hidepid=2,gid=1500"))).toEqual({ hidepid: "invisible", option: "hidepid=2", gid: 1500 });
    expect(procMountRestrictionOf(procLine("rw,gid=1500,hidepid=invisible", ""))).toEqual({ hidepid: "invisible", option: "hidepid=invisible", gid: 1500 });
    expect(procMountRestrictionOf(procLine("rw,hidepid=ptraceable,subset=pid"))).toEqual({ hidepid: "ptraceable", option: "hidepid=ptraceable", gid: 0 });
  });

  it("only what is mounted on top at /proc counts: followed by parent ids, not line order (mount --move)", () => {
    expect(procMountRestrictionOf("30 1 0:40 / /srv/proc rw - proc proc rw,hidepid=2")).toBeNull();
    expect(procMountRestrictionOf("31 1 0:41 / /proc rw - tmpfs tmpfs rw,hidepid=2")).toBeNull();
    const plain = "24 1 0:22 / /proc rw - proc proc rw";
    const hiddenOnTop = "40 24 0:30 / /proc rw - proc proc rw,hidepid=2";
    expect(procMountRestrictionOf([plain, hiddenOnTop].join("\n"))?.hidepid).toBe("invisible");
    // After `mount --move` the top mount can come first: it is the one nothing else sits on.
    expect(procMountRestrictionOf(["52 53 0:30 / /proc rw - proc proc rw,hidepid=invisible", "53 1 0:22 / /proc rw - proc proc rw"].join("\n"))?.hidepid).toBe(
      "invisible",
    );
    expect(procMountRestrictionOf(["52 53 0:30 / /proc rw - proc proc rw", "53 1 0:22 / /proc rw - proc proc rw,hidepid=2"].join("\n"))).toBeNull();
    // Something else mounted over /proc hides proc itself.
    expect(procMountRestrictionOf([hiddenOnTop, "41 40 0:31 / /proc rw - tmpfs tmpfs rw"].join("\n"))).toBeNull();
  });

  it("a member of the gid= group sees every process: as its primary group or listed in /etc/group as the agent reads it", () => {
    const restriction = { hidepid: "invisible", option: "hidepid=2", gid: 1500 } as const;
    const group = "root:x:0:\nprocview:x:1500:alice,cwagent\nother:x:1600:bob\n";
    expect(seesOnlyOwnProcesses(restriction, { name: "cwagent", primaryGid: 998 }, group)).toBe(false);
    expect(seesOnlyOwnProcesses(restriction, { name: "bob", primaryGid: 1500 }, group)).toBe(false);
    expect(seesOnlyOwnProcesses(restriction, { name: "bob", primaryGid: 1600 }, group)).toBe(true);
    expect(seesOnlyOwnProcesses(restriction, { name: "cwagent", primaryGid: 998 }, null)).toBe(true);
    expect(seesOnlyOwnProcesses(null, { name: "cwagent", primaryGid: 998 }, group)).toBe(false);
    // Lines trimmed (trailing blanks, CRLF), comments skipped, at most four fields (userutil_linux.go getGroupIds).
    expect(seesOnlyOwnProcesses(restriction, { name: "cwagent", primaryGid: 998 }, "procview:x:1500:cwagent \r\n")).toBe(false);
    expect(seesOnlyOwnProcesses(restriction, { name: "cwagent", primaryGid: 998 }, "#procview:x:1500:cwagent\n")).toBe(true);
    expect(seesOnlyOwnProcesses(restriction, { name: "cwagent", primaryGid: 998 }, "procview:x:1500:cwagent:extra\n")).toBe(true);
  });

  it("without gid= the group is root's: its members see everything; ptraceable ignores the group", () => {
    const defaultGroup = { hidepid: "invisible", option: "hidepid=invisible", gid: 0 } as const;
    expect(seesOnlyOwnProcesses(defaultGroup, { name: "cwagent", primaryGid: 998 }, "root:x:0:\n")).toBe(true);
    expect(seesOnlyOwnProcesses(defaultGroup, { name: "cwagent", primaryGid: 0 }, "root:x:0:\n")).toBe(false);
    expect(seesOnlyOwnProcesses(defaultGroup, { name: "cwagent", primaryGid: 998 }, "root:x:0:cwagent\n")).toBe(false);
    const ptraceable = { hidepid: "ptraceable", option: "hidepid=ptraceable", gid: 1500 } as const;
    expect(seesOnlyOwnProcesses(ptraceable, { name: "cwagent", primaryGid: 1500 }, "procview:x:1500:cwagent\n")).toBe(true);
  });
});

describe("what a hidden agent counts (matchProcesses with AgentUser.hiddenBy)", () => {
  const hiddenBy = { hidepid: "invisible", option: "hidepid=2", gid: 0 } as const;
  const agent: AgentUser = { user: "cwagent", uid: 998, gid: 998, path: "/d/file_config.json", hiddenBy };
  const records: ProcessRecord[] = [
    { pid: 10, exePath: "/usr/sbin/nginx", cmdline: "nginx: master process", ownerUid: 0, ownerGid: 0 },
    { pid: 11, exePath: "/usr/sbin/nginx", cmdline: "nginx: worker process", ownerUid: 998, ownerGid: 998 },
    // The agent's uid with another gid (a setgid program): ptrace is refused, so it is hidden too.
    { pid: 12, exePath: "/usr/sbin/nginx", cmdline: "nginx: cache loader", ownerUid: 998, ownerGid: 33 },
  ];

  it("counts only processes with its own uid and gid, and names the hidden ones; without hidepid it counts all", () => {
    const hidden = matchProcesses({ mode: "exe", exe: exeRegexForName("nginx") }, records, undefined, agent);
    expect(hidden).toMatchObject({ pids: [10, 11, 12], agentPidCount: 1, hiddenFromAgent: [10, 12] });
    const pattern = matchProcesses({ mode: "pattern", pattern: "nginx" }, records, undefined, agent);
    expect(pattern).toMatchObject({ pids: [10, 11, 12], agentPidCount: 1, hiddenFromAgent: [10, 12] });
    const { hiddenBy: _hidden, ...visibleAgent } = agent;
    expect(matchProcesses({ mode: "exe", exe: exeRegexForName("nginx") }, records, undefined, visibleAgent)).toEqual({ pids: [10, 11, 12], agentPidCount: 3 });
  });
});
