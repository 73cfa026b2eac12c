import { describe, expect, it } from "vitest";
import {
  alarmDefinitionFor,
  DETECTION_PROFILE_NAMES,
  isProcwatchOwned,
  parseAlarmName,
  parseInstanceTags,
  procstatSelectorFromDimensions,
  renderProcstatFragment,
  resolveHostSpec,
} from "../src/index.ts";

/** Small seeded PRNG so the property test is reproducible. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const NAME_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789._-";

function randomTags(random: () => number): Record<string, string> {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
  const randomName = () => {
    const length = 1 + Math.floor(random() * 20);
    let name = pick([..."abcdefghijklmnopqrstuvwxyz0123456789"]);
    for (let index = 1; index < length; index++) name += pick([...NAME_CHARS]);
    return name;
  };
  const names = [...new Set(Array.from({ length: 1 + Math.floor(random() * 6) }, randomName))];
  const tags: Record<string, string> = { "procwatch:enabled": "true", "procwatch:processes": names.join(" ") };
  for (const name of names) {
    const mode = pick(["exe", "exe-path", "pattern", "pidfile", "default"] as const);
    const detection = pick(DETECTION_PROFILE_NAMES);
    const options = [`detection=${detection}`];
    if (mode === "exe-path") options.push(`exe=/opt/${name}/bin/${name}`);
    if (mode === "pattern") options.push("match=pattern", `pattern=/srv/${name}/app.jar`);
    if (mode === "pidfile") options.push(`pidfile=/run/${name}.pid`);
    if (random() < 0.3) options.push(`unit=${name}@1.service`);
    tags[`procwatch:process:${name}`] = options.join(" ");
  }
  return tags;
}

describe("render → alarm dimensions round-trip (property)", () => {
  it("for 500 random valid specs, every alarm's selector is exactly the rendered procstat selector and its name parses back", () => {
    const random = seededRandom(20261124);
    const instanceId = "i-0abcdef1234567890";
    for (let run = 0; run < 500; run++) {
      const tags = randomTags(random);
      const parsed = parseInstanceTags(tags);
      expect(parsed.issues, JSON.stringify(tags)).toEqual([]);
      const resolved = resolveHostSpec({ tags: parsed.spec! });
      expect(resolved.issues, JSON.stringify(tags)).toEqual([]);
      const spec = resolved.spec!;

      const fragment = renderProcstatFragment(spec, { host: { instanceId, imageId: "ami-0123456789abcdef0", instanceType: "t3.micro" } });
      const rendered = fragment.metrics.metrics_collected.procstat;
      expect(rendered).toHaveLength(spec.processes.length);

      spec.processes.forEach((process, index) => {
        const host = { instanceId, imageId: "ami-0123456789abcdef0", instanceType: "t3.micro" };
        const definition = alarmDefinitionFor(host, process, { actions: { alarmActions: [], okActions: [] } });
        const { measurement, metrics_collection_interval, append_dimensions, ...selector } = rendered[index]!;
        expect(procstatSelectorFromDimensions(definition.Dimensions)).toEqual(selector);
        // Every host dimension the entry pins is on the alarm (the Auto Scaling group only when the instance has one).
        expect(definition.Dimensions.map((dimension) => dimension.Name).sort()).toEqual(
          [...Object.keys(append_dimensions), "pid_finder", "pid_file" in selector ? "pidfile" : Object.keys(selector)[0]!].sort(),
        );
        expect(metrics_collection_interval).toBe(definition.Period);
        expect(parseAlarmName(definition.AlarmName)).toEqual({ instanceId, processName: process.name });
        expect(isProcwatchOwned(definition)).toBe(true);
      });
    }
  });
});
