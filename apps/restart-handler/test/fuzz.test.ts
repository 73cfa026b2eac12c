import { seededRandom as seeded } from "@procwatch/testkit";
import { describe, expect, it } from "vitest";
import { ALARM_NAME, fixture, Harness, INSTANCE_ID } from "./support/harness.ts";

type Json = Record<string, unknown>;
type Random = () => number;

const pick = <T>(random: Random, values: readonly T[]): T => values[Math.floor(random() * values.length)] as T;

const HOSTILE_STRINGS = [
  "httpd; rm -rf /",
  "$(reboot)",
  "`id`",
  "httpd\nrm -rf /",
  "../../etc/passwd",
  "--help",
  "",
  " ",
  "ＡＬＡＲＭ",
  "\u0000",
  "<!channel>",
  "x".repeat(70_000),
  "procwatch/i-03e6aec1a93443558/httpd ",
  "procwatch/i-03e6aec1a93443558/httpd/extra",
  "procwatch/I-03E6AEC1A93443558/httpd",
  "procwatch//httpd",
];

function randomValue(random: Random): unknown {
  switch (Math.floor(random() * 8)) {
    case 0:
      return null;
    case 1:
      return Math.floor(random() * 1e6) - 5e5;
    case 2:
      return random() < 0.5;
    case 3:
      return [randomValue(random)];
    case 4:
      return { nested: pick(random, HOSTILE_STRINGS) };
    default:
      return pick(random, HOSTILE_STRINGS);
  }
}

/** Mutations that break what makes an alarm actionable: each must end in zero commands. */
const BREAKING: Record<string, (event: Json, random: Random) => Json> = {
  snsName: (event, random) => editSnsMessage(event, (message) => Object.assign(message, { AlarmName: randomValue(random) })),
  snsAccount: (event, random) =>
    editSnsMessage(event, (message) => Object.assign(message, { AWSAccountId: pick(random, ["999999999999", "12345678901", 123456789012, null]) })),
  snsState: (event, random) =>
    editSnsMessage(event, (message) => Object.assign(message, { NewStateValue: pick(random, ["OK", "INSUFFICIENT_DATA", "alarm", "", 1, null]) })),
  snsDescription: (event, random) =>
    editSnsMessage(event, (message) => Object.assign(message, { AlarmDescription: pick(random, ["procwatch", "[procwatch:managed", null, 7]) })),
  snsDimensions: (event, random) =>
    editSnsMessage(event, (message) => {
      const trigger = message.Trigger as Json;
      trigger.Dimensions = pick(random, [
        [],
        null,
        "exe=httpd",
        [{ name: "InstanceId", value: "i-0123456789abcdef0" }],
        [{ name: "InstanceId" }],
        [{ name: "exe", value: "httpd" }],
      ]);
      return message;
    }),
  snsTruncate: (event, random) => {
    const record = (event.Records as Json[])[0] as { Sns: { Message: string } };
    record.Sns.Message = record.Sns.Message.slice(0, Math.floor(random() * (record.Sns.Message.length - 1)));
    return event;
  },
  snsTime: (event, random) =>
    editSnsMessage(event, (message) => Object.assign(message, { StateChangeTime: pick(random, ["", "tomorrow", "2022-13-45T99:99:99Z", 0, null]) })),
  snsEnvelope: (event, random) => {
    const record = (event.Records as Json[])[0] as Json;
    if (random() < 0.5) delete record.Sns;
    else (record.Sns as Json).Message = randomValue(random);
    return event;
  },
  ebName: (event, random) => Object.assign(event, { detail: { ...(event.detail as Json), alarmName: randomValue(random) } }),
  ebRegion: (event, random) => Object.assign(event, { region: pick(random, ["us-east-1", "", "ap-northeast-2 ", null]) }),
  ebAccount: (event, random) => Object.assign(event, { account: pick(random, ["000000000000", "abc", null]) }),
  ebDetailType: (event, random) => Object.assign(event, { "detail-type": pick(random, ["CloudWatch Alarm State Change ", "Scheduled Event", null]) }),
  ebState: (event, random) => {
    (event.detail as Json).state = pick(random, [null, {}, { value: "OK", timestamp: "2022-06-28T01:57:35.603+0000" }, { value: "ALARM" }, "ALARM"]);
    return event;
  },
  ebDimensions: (event, random) => {
    const metric = (((event.detail as Json).configuration as Json).metrics as Json[])[0] as { metricStat: { metric: Json } };
    metric.metricStat.metric.dimensions = pick(random, [{}, null, { InstanceId: "i-0123456789abcdef0", exe: "httpd", pid_finder: "native" }, { exe: 1 }]);
    return event;
  },
  ebSource: (event) => Object.assign(event, { source: "my.app" }),
  directArn: (event, random) => Object.assign(event, { alarmArn: pick(random, ["arn:aws:cloudwatch:ap-northeast-2:123456789012:alarm:other", "", 5]) }),
  directAlarmData: (event, random) => Object.assign(event, { alarmData: randomValue(random) }),
};

/** Mutations that leave the alarm actionable or not; a command, if sent, must be exactly the expected one. */
const NOISE: Record<string, (event: Json, random: Random) => Json> = {
  snsReason: (event, random) => editSnsMessage(event, (message) => Object.assign(message, { NewStateReason: randomValue(random) })),
  snsExtraField: (event, random) =>
    editSnsMessage(event, (message) => Object.assign(message, { [pick(random, ["Foo", "__proto__", "constructor"])]: randomValue(random) })),
  snsSubject: (event, random) => {
    ((event.Records as Json[])[0] as { Sns: Json }).Sns.Subject = randomValue(random);
    return event;
  },
  ebReasonData: (event, random) => {
    ((event.detail as Json).state as Json).reasonData = randomValue(random);
    return event;
  },
  ebPrevious: (event, random) => {
    (event.detail as Json).previousState = pick(random, [undefined, null, { value: "INSUFFICIENT_DATA" }, { value: "nope" }]);
    return event;
  },
  ebResources: (event, random) => Object.assign(event, { resources: pick(random, [[], null, ["x"], [5]]) }),
};

function editSnsMessage(event: Json, edit: (message: Json) => Json): Json {
  const record = (event.Records as Json[])[0] as { Sns?: { Message: unknown } };
  if (typeof record.Sns?.Message !== "string") return event;
  try {
    record.Sns.Message = JSON.stringify(edit(JSON.parse(record.Sns.Message) as Json));
  } catch {
    // Already broken by an earlier mutation: leave it broken.
  }
  return event;
}

interface FuzzCase {
  readonly label: string;
  readonly event: unknown;
  readonly breaking: boolean;
}

function generate(count: number, seed: number): FuzzCase[] {
  const random = seeded(seed);
  const bases: [string, string][] = [
    ["sns", "sns-alarm-event.json"],
    ["eb", "eventbridge-alarm-state-change.json"],
    ["direct", "lambda-alarm-action.json"],
  ];
  const cases: FuzzCase[] = [];
  for (let index = 0; index < count; index += 1) {
    const [kind, file] = pick(random, bases);
    const applicable = (table: Record<string, unknown>) => Object.keys(table).filter((name) => name.startsWith(kind));
    const breaking = random() < 0.7 && applicable(BREAKING).length > 0;
    const names = breaking ? applicable(BREAKING) : applicable(NOISE);
    if (names.length === 0) {
      cases.push({ label: `${kind}#${index}:unchanged`, event: fixture(file), breaking: false });
      continue;
    }
    const name = pick(random, names);
    let event = fixture(file) as Json;
    event = (breaking ? BREAKING : NOISE)[name]!(event, random);
    // Some cases get a second, noise mutation on top (skipped where the first removed its target).
    const noise = applicable(NOISE);
    if (random() < 0.3 && noise.length > 0) {
      const mutated = structuredClone(event);
      try {
        event = NOISE[pick(random, noise)]!(mutated, random);
      } catch {
        // The structure the noise mutation edits is gone; the breaking mutation stands alone.
      }
    }
    cases.push({ label: `${kind}#${index}:${name}`, event, breaking });
  }
  return cases;
}

describe("fuzz: mutated alarm events", () => {
  const cases = generate(1200, 20240628);

  it("generates at least 1,000 deterministic cases, most of them breaking", () => {
    expect(cases.length).toBeGreaterThanOrEqual(1000);
    expect(cases.filter((fuzzCase) => fuzzCase.breaking).length).toBeGreaterThan(700);
    expect(generate(50, 20240628).map((fuzzCase) => fuzzCase.label)).toEqual(cases.slice(0, 50).map((fuzzCase) => fuzzCase.label));
  });

  it("sends no command for any breaking mutation, never rejects, and only ever sends the exact restart", async () => {
    const harness = new Harness();
    const failures: string[] = [];
    for (const fuzzCase of cases) {
      const before = harness.sentCommands.length;
      try {
        await harness.invoke(fuzzCase.event);
      } catch (error) {
        failures.push(`${fuzzCase.label} rejected: ${String(error)}`);
        continue;
      }
      const sent = harness.sentCommands.slice(before);
      if (fuzzCase.breaking && sent.length > 0) failures.push(`${fuzzCase.label} sent a command`);
      for (const command of sent) {
        const input = command.input as { DocumentName: string; InstanceIds: string[]; Parameters: Record<string, string[]> };
        if (
          input.DocumentName !== "procwatch-restart" ||
          input.InstanceIds.join() !== INSTANCE_ID ||
          JSON.stringify(input.Parameters) !== '{"ProcessName":["httpd"]}'
        ) {
          failures.push(`${fuzzCase.label} sent an unexpected command ${JSON.stringify(input)}`);
        }
      }
    }
    expect(failures).toEqual([]);
    // Every accepted restart was for the one real alarm; the valid fixture transition ran at most once.
    expect(harness.sentCommands.length).toBe(1);
    expect(harness.logs.filter((line) => line.level === "error")).toEqual([]);
    expect(harness.logs.some((line) => String(line.attributes.alarmName ?? "").includes(ALARM_NAME) || line.attributes.outcome === "dropped")).toBe(true);
  });
});
