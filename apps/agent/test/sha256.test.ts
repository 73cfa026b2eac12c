import { createHash } from "node:crypto";
import { seededRandom } from "@procwatch/testkit";
import { describe, expect, it } from "vitest";
import { sha256Hex } from "../src/core/sha256.ts";

const nodeSha256 = (text: string) => createHash("sha256").update(text, "utf8").digest("hex");

describe("sha256Hex", () => {
  it.each([
    ["", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"],
    ["abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"],
    ["abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"],
  ])("matches the FIPS 180-4 test vector for %j", (input, expected) => {
    expect(sha256Hex(input)).toBe(expected);
  });

  it("agrees with node:crypto on 2,000 random texts of every padding length, including non-ASCII", () => {
    const random = seededRandom(180_4);
    const alphabet = ["a", "Z", "0", "{", "\n", "é", "€", "😀", " "];
    for (let run = 0; run < 2_000; run++) {
      const length = run < 200 ? run : Math.floor(random() * 3_000);
      let text = "";
      for (let index = 0; index < length; index++) text += alphabet[Math.floor(random() * alphabet.length)];
      expect(sha256Hex(text)).toBe(nodeSha256(text));
    }
  });
});
