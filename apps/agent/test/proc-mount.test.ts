import { describe, expect, it } from "vitest";
import { procMountRestrictionOf, seesOnlyOwnProcesses } from "../src/core/proc-mount.ts";

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
    expect(procMountRestrictionOf(procLine("rw,hidepid=1"))).toEqual({ hidepid: "noaccess", option: "hidepid=1", gid: null });
    expect(procMountRestrictionOf(procLine("rw,hidepid=2,gid=1500"))).toEqual({ hidepid: "invisible", option: "hidepid=2", gid: 1500 });
    expect(procMountRestrictionOf(procLine("rw,hidepid=invisible", ""))).toEqual({ hidepid: "invisible", option: "hidepid=invisible", gid: null });
    expect(procMountRestrictionOf(procLine("rw,hidepid=ptraceable,subset=pid"))).toEqual({ hidepid: "ptraceable", option: "hidepid=ptraceable", gid: null });
  });

  it("only a proc mount at /proc counts, and the last one mounted there wins", () => {
    expect(procMountRestrictionOf("30 1 0:40 / /srv/proc rw - proc proc rw,hidepid=2")).toBeNull();
    expect(procMountRestrictionOf("31 1 0:41 / /proc rw - tmpfs tmpfs rw,hidepid=2")).toBeNull();
    expect(procMountRestrictionOf([procLine("rw,hidepid=2"), procLine("rw")].join("\n"))).toBeNull();
    expect(procMountRestrictionOf([procLine("rw"), procLine("rw,hidepid=2")].join("\n"))?.hidepid).toBe("invisible");
  });

  it("a member of the gid= group sees every process: as its primary group or listed in /etc/group", () => {
    const restriction = { hidepid: "invisible", option: "hidepid=2", gid: 1500 } as const;
    const group = "root:x:0:\nprocview:x:1500:alice,cwagent\nother:x:1600:bob\n";
    expect(seesOnlyOwnProcesses(restriction, { name: "cwagent", primaryGid: 998 }, group)).toBe(false);
    expect(seesOnlyOwnProcesses(restriction, { name: "bob", primaryGid: 1500 }, group)).toBe(false);
    expect(seesOnlyOwnProcesses(restriction, { name: "bob", primaryGid: 1600 }, group)).toBe(true);
    expect(seesOnlyOwnProcesses(restriction, { name: "cwagent", primaryGid: 998 }, null)).toBe(true);
    expect(seesOnlyOwnProcesses({ ...restriction, gid: null }, { name: "cwagent", primaryGid: 1500 }, group)).toBe(true);
    expect(seesOnlyOwnProcesses(null, { name: "cwagent", primaryGid: 998 }, group)).toBe(false);
  });
});
