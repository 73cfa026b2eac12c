import { spawnSync } from "node:child_process";
import { DEFAULT_DETECTION_PROFILE, DETECTION_PROFILE_NAMES, RESTART_DOCUMENT_PARAMETERS, SSM_DOCUMENT_BASE_NAMES } from "@procwatch/contract";
import { describe, expect, it } from "vitest";
import {
  InvalidSsmDocumentError,
  loadAllDocuments,
  loadDocument,
  parseCommandDocument,
  SSM_DOCUMENT_KINDS,
  SSM_DOCUMENT_NAMES,
  shellScriptsOf,
} from "../index.ts";

const documents = loadAllDocuments();

/**
 * The regex constructs the SSM API (Java), the SSM Agent (Go RE2) and JavaScript all read the same
 * way: anchors, literal characters, simple bracket classes, groups, alternation, greedy quantifiers.
 * Anything else (escapes such as \d, POSIX classes, Java's && class intersection, lazy or possessive
 * quantifiers, lookaround) differs between the engines or is missing from one, so it is refused.
 */
function isPortablePattern(pattern: string): boolean {
  if (!pattern.startsWith("^") || !pattern.endsWith("$")) return false;
  const body = pattern.slice(1, -1);
  const token = /^(?:\[[A-Za-z0-9_.\-/=:@+ ]+\]|[A-Za-z0-9_\-/=:@ ]|\(|\)|\||[.]|\{\d+(?:,\d+)?\}|[?*+])/;
  let rest = body;
  // A quantifier must follow an atom: after another quantifier it is lazy or possessive in Java,
  // after `(` it opens lookaround or a flag group.
  let previousWasAtom = false;
  while (rest.length > 0) {
    const match = token.exec(rest);
    if (match === null) return false;
    const isQuantifier = /^(?:\{|[?*+])/.test(match[0]);
    if (isQuantifier && !previousWasAtom) return false;
    previousWasAtom = !isQuantifier && match[0] !== "(" && match[0] !== "|";
    if (match[0].startsWith("[") && match[0].includes("&&")) return false;
    rest = rest.slice(match[0].length);
  }
  return true;
}

describe("the portable-pattern check itself", () => {
  it("accepts the contract's shapes and refuses engine-specific syntax", () => {
    expect(isPortablePattern(RESTART_DOCUMENT_PARAMETERS.processName.allowedPattern)).toBe(true);
    expect(isPortablePattern("^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$")).toBe(true);
    for (const pattern of ["^\\d+$", "^[[:alpha:]]+$", "^[a-z&&[^x]]+$", "^a*?$", "^a++$", "^(?=a)a$", "[a-z]+", "^a"]) {
      expect(isPortablePattern(pattern), pattern).toBe(false);
    }
  });
});

describe.each(SSM_DOCUMENT_KINDS)("the %s document", (kind) => {
  const { content, yaml, baseName } = documents[kind];

  it("parses as a schemaVersion 2.2 Command document with Linux steps", () => {
    expect(content.schemaVersion).toBe("2.2");
    expect(baseName).toBe(kind === "uninstall" ? "procwatch-uninstall" : SSM_DOCUMENT_BASE_NAMES[kind]);
    expect(content.description.length).toBeGreaterThan(40);
    for (const step of content.mainSteps) {
      expect(step.name).toMatch(/^[A-Za-z0-9_.-]+$/);
      expect(step.precondition).toEqual({ StringEquals: ["platformType", "Linux"] });
    }
    expect(yaml).toMatch(/^schemaVersion: "2\.2"$/m);
  });

  it("declares only String or StringList parameters, each with a portable, anchored allowedPattern", () => {
    for (const [name, parameter] of Object.entries(content.parameters)) {
      expect(["String", "StringList"], name).toContain(parameter.type);
      expect(parameter.allowedPattern, `${name} needs an allowedPattern`).toBeTypeOf("string");
      expect(isPortablePattern(parameter.allowedPattern ?? ""), `${name}: ${parameter.allowedPattern}`).toBe(true);
      expect(parameter.description, `${name} needs a description`).toBeTypeOf("string");
      if (parameter.default !== undefined) expect(String(parameter.default)).toMatch(new RegExp(parameter.allowedPattern ?? ""));
    }
  });

  it("pastes no {{ parameter }} into shell text and reads ENV_VAR parameters only as SSM_ variables", () => {
    const scripts = shellScriptsOf(content);
    expect(scripts.length).toBeGreaterThan(0);
    const envVarNames = Object.entries(content.parameters)
      .filter(([, parameter]) => parameter.interpolationType === "ENV_VAR")
      .map(([name]) => name);
    for (const { script } of scripts) {
      expect(script).not.toMatch(/\{\{/);
      expect(script).not.toMatch(/\}\}/);
      for (const used of script.matchAll(/SSM_([A-Za-z0-9_]+)/g)) {
        // `SSM_${name}` in the install script's loop builds the variable name from the literal list below it.
        if (used[1] === "") continue;
        expect(envVarNames, `script reads SSM_${used[1]}`).toContain(used[1]);
      }
    }
  });

  it("re-checks every ENV_VAR parameter on the host with the identical pattern", () => {
    const script = shellScriptsOf(content)
      .map((entry) => entry.script)
      .join("\n");
    for (const [name, parameter] of Object.entries(content.parameters)) {
      if (parameter.interpolationType !== "ENV_VAR") continue;
      expect(script, `${name} must arrive as $SSM_${name}`).toContain(`SSM_${name}`);
      expect(script, `${name}'s pattern must be re-checked in bash`).toContain(`'${parameter.allowedPattern}'`);
    }
  });

  it("runs its scripts under bash and passes shellcheck", () => {
    for (const { stepName, script } of shellScriptsOf(content)) {
      // The SSM Agent runs `sh -c _script.sh`, so only the shebang line selects bash.
      expect(script.startsWith("#!/bin/bash\n"), stepName).toBe(true);
      const result = spawnSync("shellcheck", ["--shell=bash", "--severity=style", "-"], { input: script, encoding: "utf8" });
      if (result.error !== undefined) throw new Error("shellcheck is not installed: apt-get install -y shellcheck", { cause: result.error });
      expect(result.stdout + result.stderr, `${kind}/${stepName}`).toBe("");
      expect(result.status).toBe(0);
    }
  });
});

describe("the install document", () => {
  const { content } = documents.install;

  it("installs the CloudWatch agent through aws:configurePackage", () => {
    const step = content.mainSteps.find((candidate) => candidate.action === "aws:configurePackage");
    expect(step?.inputs).toMatchObject({ name: "AmazonCloudWatchAgent", action: "Install" });
  });

  it("takes the artifact location and both architectures' sha256 as ENV_VAR parameters", () => {
    for (const name of ["ArtifactBucket", "ArtifactRegion", "ArtifactKeyX64", "ArtifactKeyArm64", "Sha256X64", "Sha256Arm64"]) {
      expect(content.parameters[name]?.interpolationType, name).toBe("ENV_VAR");
    }
    expect(content.parameters.Sha256X64?.allowedPattern).toBe("^[0-9a-f]{64}$");
  });
});

describe("the configure document", () => {
  const { content } = documents.configure;

  it("takes TagPrefix and DefaultDetection as ENV_VAR parameters; DefaultDetection allows exactly the contract's profiles", () => {
    expect(Object.keys(content.parameters)).toEqual(["TagPrefix", "DefaultDetection", "HostReportQueueUrl"]);
    expect(content.parameters.DefaultDetection).toMatchObject({
      type: "String",
      default: DEFAULT_DETECTION_PROFILE,
      allowedPattern: `^(${DETECTION_PROFILE_NAMES.join("|")})$`,
      interpolationType: "ENV_VAR",
    });
  });

  it("takes the host-reports queue URL as an optional ENV_VAR parameter: an SQS URL or nothing", () => {
    const parameter = content.parameters.HostReportQueueUrl;
    expect(parameter).toMatchObject({ type: "String", default: "", interpolationType: "ENV_VAR" });
    const pattern = new RegExp(parameter?.allowedPattern ?? "^$");
    for (const good of [
      "",
      "https://sqs.eu-west-1.amazonaws.com/123456789012/procwatch-HostReportQueue1A2B3C-abc",
      "https://sqs.cn-north-1.amazonaws.com.cn/123456789012/q",
    ])
      expect(good).toMatch(pattern);
    for (const bad of [
      "https://evil.example/123456789012/q",
      "https://sqs.eu-west-1.amazonaws.com/123456789012/q;reboot",
      "$(reboot)",
      "http://sqs.eu-west-1.amazonaws.com/123456789012/q",
    ])
      expect(bad).not.toMatch(pattern);
    // Handed to apply as an environment variable, which an older agent binary ignores.
    expect(shellScriptsOf(content)[0]?.script).toContain('PROCWATCH_HOST_REPORT_QUEUE_URL="$host_report_queue_url" "$agent" apply');
  });

  it("hands both parameters to apply and health as quoted arguments", () => {
    const [script] = shellScriptsOf(content);
    for (const command of ["apply", "health"]) {
      expect(script?.script).toContain(`"$agent" ${command} --tag-prefix "$SSM_TagPrefix" --default-detection "$SSM_DefaultDetection"`);
    }
  });
});

describe("the restart document", () => {
  const { content } = documents.restart;

  it("declares exactly the contract's parameters, with the contract's pattern, passed as ENV_VAR", () => {
    const { name, allowedPattern } = RESTART_DOCUMENT_PARAMETERS.processName;
    expect(Object.keys(content.parameters)).toEqual([name]);
    expect(content.parameters[name]?.allowedPattern).toBe(allowedPattern);
    expect(content.parameters[name]?.interpolationType).toBe("ENV_VAR");
    expect(content.parameters[name]?.default).toBeUndefined();
  });

  it("hands the name to procwatch-agent restart as one quoted argument and refuses when the variable is missing", () => {
    const [script] = shellScriptsOf(content);
    expect(script?.script).toContain('exec "$agent" restart --process "$SSM_ProcessName" --json');
    // biome-ignore lint/suspicious/noTemplateCurlyInString: bash parameter expansion, not a JS template.
    expect(script?.script).toContain('if [ -z "${SSM_ProcessName+x}" ]; then');
  });
});

describe("the uninstall document", () => {
  const { content } = documents.uninstall;

  it("is named procwatch-uninstall next to the contract's three names", () => {
    expect(SSM_DOCUMENT_NAMES).toEqual({ ...SSM_DOCUMENT_BASE_NAMES, uninstall: "procwatch-uninstall" });
  });

  it("takes only RemoveBinary, true or false, default false, as an ENV_VAR parameter", () => {
    expect(content.parameters).toEqual({
      RemoveBinary: {
        type: "String",
        description: expect.any(String),
        default: "false",
        allowedPattern: "^(true|false)$",
        interpolationType: "ENV_VAR",
      },
    });
  });

  it("runs procwatch-agent remove --json only if the binary is there, and deletes the binary only after that succeeded", () => {
    const [script] = shellScriptsOf(content);
    const text = script?.script ?? "";
    expect(text).toContain('if [ -x "$agent" ]; then');
    expect(text).toContain('"$agent" remove --json');
    expect(text.indexOf('"$agent" remove --json')).toBeLessThan(text.indexOf('rm -f -- "$agent"'));
    expect(text).not.toMatch(/fetch-config|amazon-cloudwatch-agent-ctl/);
  });
});

describe("the loader", () => {
  it("returns the raw YAML next to the parsed content", () => {
    const restart = loadDocument("restart");
    expect(restart.path.endsWith("restart.yaml")).toBe(true);
    expect(restart.yaml).toContain("ProcessName:");
  });

  it("refuses documents without the Command-document skeleton", () => {
    expect(() => parseCommandDocument("schemaVersion: 2.2\n", "bad.yaml")).toThrow(InvalidSsmDocumentError);
    expect(() => parseCommandDocument('schemaVersion: "2.2"\ndescription: x\nparameters: {}\nmainSteps: []\n', "bad.yaml")).toThrow(/mainSteps/);
    expect(() => parseCommandDocument("a: [", "bad.yaml")).toThrow(/not valid YAML/);
  });
});
