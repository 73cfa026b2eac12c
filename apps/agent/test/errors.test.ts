import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

/**
 * `--json` prints `error.type`, a documented class name; the shipped binary is minified, so a class
 * that relies on `new.target.name` would print "U". Every error class must spell its name out
 * (the binary test checks the built binary itself).
 */
describe("agent error classes", () => {
  it("each declares its own name, equal to the class name", () => {
    const src = join(import.meta.dirname, "..", "src");
    const files = readdirSync(src, { recursive: true, encoding: "utf8" }).filter((file) => file.endsWith(".ts"));
    const classes: string[] = [];
    for (const file of files) {
      const text = readFileSync(join(src, file), "utf8");
      for (const match of text.matchAll(/class (\w+) extends (\w*Error) \{\n(.*)\n/g)) {
        classes.push(match[1] as string);
        expect(match[3]?.trim().startsWith(`override name = "${match[1]}";`), `${file}: class ${match[1]} must start with override name = "${match[1]}";`).toBe(
          true,
        );
      }
    }
    expect(classes).toContain("ApplyLockedError");
  });
});
