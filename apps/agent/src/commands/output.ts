import { writeSync } from "node:fs";
import { ANSI_PALETTE, type Palette, PLAIN_PALETTE } from "../core/human-output.ts";

/** Where commands write; injected so the CLI boundary and in-process tests share one implementation. */
export interface Output {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly palette: Palette;
}

export function processOutput(color: boolean): Output {
  return {
    stdout: (text) => writeLine(1, text),
    stderr: (text) => writeLine(2, text),
    palette: color ? ANSI_PALETTE : PLAIN_PALETTE,
  };
}

/**
 * Writes straight to the file descriptor: constructing process.stdout/stderr loads the stream
 * machinery, which costs more than the health check itself. A descriptor someone left
 * non-blocking can refuse with EAGAIN; the stream then takes over, as it would have anyway.
 */
function writeLine(fd: 1 | 2, text: string): void {
  const line = text.endsWith("\n") ? text : `${text}\n`;
  const bytes = Buffer.from(line, "utf8");
  let written = 0;
  try {
    while (written < bytes.length) written += writeSync(fd, bytes, written);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EAGAIN") throw error;
    (fd === 1 ? process.stdout : process.stderr).write(bytes.subarray(written));
  }
}

export function printJson(output: Output, value: unknown): void {
  output.stdout(JSON.stringify(value));
}
